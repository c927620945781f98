// Typed launchers for our PTX kernels (Kernels/*.cu): argument checks, float4 / warp / block variant choice, grid from LaunchConfig.
// All tensors are contiguous float32 on the device (raw CUdeviceptr); work is queued on the given stream (default: the device's).
using System.Runtime.InteropServices;
using SeFramework.Cuda.Native;

namespace SeFramework.Cuda.Runtime;

/// <summary>One parameter tensor for <see cref="CudaKernels.SgdStep"/>: param, grad and momentum buffer (0 without momentum) of Count floats.</summary>
public readonly record struct SgdTensor(ulong Param, ulong Grad, ulong MomentumBuffer, long Count);

/// <summary>torch.optim.SGD's hyper-parameters.</summary>
public readonly record struct SgdOptions(float LearningRate, float Momentum = 0f, float Dampening = 0f, float WeightDecay = 0f, bool Nesterov = false);

/// <summary>Launchers for our own kernels. Shapes are given as counts: planes = N*C, hw = H*W.</summary>
public static unsafe class CudaKernels
{
    /// <summary>Every (module, kernel) the launchers below use; tests check each against the embedded PTX.</summary>
    internal static readonly (string Module, string Kernel)[] AllKernels =
    [
        ("axpy", "axpy_forward_f32"), ("axpy", "axpy_relu_forward_f32"), ("axpy", "axpy_forward_vec4_f32"), ("axpy", "axpy_relu_forward_vec4_f32"),
        ("axpy", "axpy_backward_warp_f32"), ("axpy", "axpy_backward_block_f32"), ("axpy", "axpy_relu_backward_warp_f32"), ("axpy", "axpy_relu_backward_block_f32"),
        ("gap", "gap_forward_warp_f32"), ("gap", "gap_forward_warp_vec4_f32"), ("gap", "gap_forward_block_f32"), ("gap", "gap_forward_block_vec4_f32"),
        ("gap", "gap_backward_f32"), ("gap", "gap_backward_vec4_f32"),
        ("elementwise", "fill_f32"), ("elementwise", "copy_f32"), ("elementwise", "copy_vec4_f32"), ("elementwise", "scale_f32"),
        ("elementwise", "add_f32"), ("elementwise", "sub_f32"), ("elementwise", "mul_f32"), ("elementwise", "axpby_f32"),
        ("elementwise", "relu_f32"), ("elementwise", "relu_backward_f32"), ("elementwise", "sigmoid_f32"), ("elementwise", "sigmoid_backward_f32"),
        ("softmax_ce", "softmax_ce_forward_f32"), ("softmax_ce", "softmax_ce_backward_f32"),
        ("sgd", "sgd_multi_tensor_f32"),
        .. Backend.BackendKernels.All,
    ];

    /// <summary>Tensors per SGD launch; must equal SGD_MAX_TENSORS in sgd.cu.</summary>
    public const int SgdMaxTensorsPerLaunch = 64;

    // f, x, y: (N, C, H, W); a: (N, C) -> f = a[n,c] * x + y, then ReLU when relu.
    public static void AxpyForward(CudaDevice d, ulong f, ulong a, ulong x, ulong y, long planes, long hw, bool relu, CudaStream? stream = null)
    {
        uint total = Total(planes, hw, relu ? "AxpyRelu" : "Axpy");
        if (total == 0) return;
        RequirePointers(relu ? "AxpyRelu" : "Axpy", (f, "f"), (a, "a"), (x, "x"), (y, "y"));
        if (LaunchConfig.CanUseVec4(hw, f, x, y))
        {
            uint total4 = total / 4, hw4 = (uint)hw / 4;
            void** args = stackalloc void*[] { &f, &a, &x, &y, &total4, &hw4 };
            Launch(d, "axpy", relu ? "axpy_relu_forward_vec4_f32" : "axpy_forward_vec4_f32", LaunchConfig.FlatBlocks(total4, d.MultiprocessorCount), args, stream);
        }
        else
        {
            uint hwu = (uint)hw;
            void** args = stackalloc void*[] { &f, &a, &x, &y, &total, &hwu };
            Launch(d, "axpy", relu ? "axpy_relu_forward_f32" : "axpy_forward_f32", LaunchConfig.FlatBlocks(total, d.MultiprocessorCount), args, stream);
        }
    }

    // df, x, (f = forward output, ReLU only): (N, C, H, W); a: (N, C) -> dx = a * g, dy = g, da = sum_hw g * x,
    // g = df masked by f > 0 (ReLU) or df. dx or dy may be 0 to skip them (without ReLU dy equals df: alias it instead).
    public static void AxpyBackward(CudaDevice d, ulong dx, ulong dy, ulong da, ulong df, ulong a, ulong x, ulong f, long planes, long hw, bool relu,
        CudaStream? stream = null)
    {
        string op = relu ? "AxpyReluBackward" : "AxpyBackward";
        uint total = Total(planes, hw, op);
        if (total == 0) return;
        RequirePointers(op, (da, "da"), (df, "df"), (a, "a"), (x, "x"));
        if (relu) RequirePointers(op, (f, "f (the forward output)"));
        uint p = (uint)planes, hwu = (uint)hw;
        bool small = hw <= LaunchConfig.SmallPlaneLimit;
        uint blocks = small ? LaunchConfig.WarpPerRowBlocks(planes, d.MultiprocessorCount) : LaunchConfig.BlockPerRowBlocks(planes, d.MultiprocessorCount);
        string kernel = $"axpy_{(relu ? "relu_" : "")}backward_{(small ? "warp" : "block")}_f32";
        if (relu)
        {
            void** args = stackalloc void*[] { &dx, &dy, &da, &df, &a, &x, &f, &p, &hwu };
            Launch(d, "axpy", kernel, blocks, args, stream);
        }
        else
        {
            void** args = stackalloc void*[] { &dx, &dy, &da, &df, &a, &x, &p, &hwu };
            Launch(d, "axpy", kernel, blocks, args, stream);
        }
    }

    // x: (N, C, H, W) -> y: (N, C) = mean over H, W.
    public static void GapForward(CudaDevice d, ulong y, ulong x, long planes, long hw, CudaStream? stream = null)
    {
        if (Total(planes, hw, "GlobalAvgPool") == 0) return;
        RequirePointers("GlobalAvgPool", (y, "y"), (x, "x"));
        uint p = (uint)planes, hwu = (uint)hw;
        bool small = hw <= LaunchConfig.SmallPlaneLimit, vec4 = LaunchConfig.CanUseVec4(hw, x);
        uint blocks = small ? LaunchConfig.WarpPerRowBlocks(planes, d.MultiprocessorCount) : LaunchConfig.BlockPerRowBlocks(planes, d.MultiprocessorCount);
        void** args = stackalloc void*[] { &y, &x, &p, &hwu };
        Launch(d, "gap", $"gap_forward_{(small ? "warp" : "block")}{(vec4 ? "_vec4" : "")}_f32", blocks, args, stream);
    }

    // dy: (N, C) -> dx: (N, C, H, W) = dy / (H*W).
    public static void GapBackward(CudaDevice d, ulong dx, ulong dy, long planes, long hw, CudaStream? stream = null)
    {
        uint total = Total(planes, hw, "GlobalAvgPoolBackward");
        if (total == 0) return;
        RequirePointers("GlobalAvgPoolBackward", (dx, "dx"), (dy, "dy"));
        if (LaunchConfig.CanUseVec4(hw, dx))
        {
            uint total4 = total / 4, hw4 = (uint)hw / 4;
            void** args = stackalloc void*[] { &dx, &dy, &total4, &hw4 };
            Launch(d, "gap", "gap_backward_vec4_f32", LaunchConfig.FlatBlocks(total4, d.MultiprocessorCount), args, stream);
        }
        else
        {
            uint hwu = (uint)hw;
            void** args = stackalloc void*[] { &dx, &dy, &total, &hwu };
            Launch(d, "gap", "gap_backward_f32", LaunchConfig.FlatBlocks(total, d.MultiprocessorCount), args, stream);
        }
    }

    // y: (n) = value
    public static void Fill(CudaDevice d, ulong y, float value, long n, CudaStream? stream = null)
    {
        uint nu = Count(n, "Fill");
        if (nu == 0) return;
        RequirePointers("Fill", (y, "y"));
        void** args = stackalloc void*[] { &y, &value, &nu };
        Launch(d, "elementwise", "fill_f32", LaunchConfig.FlatBlocks(nu, d.MultiprocessorCount), args, stream);
    }

    // x: (n) -> y: (n) = x (float4 when both pointers are 16-byte aligned and n % 4 == 0)
    public static void Copy(CudaDevice d, ulong y, ulong x, long n, CudaStream? stream = null)
    {
        uint nu = Count(n, "Copy");
        if (nu == 0) return;
        RequirePointers("Copy", (y, "y"), (x, "x"));
        if (LaunchConfig.CanUseVec4(n, y, x))
        {
            uint n4 = nu / 4;
            void** args = stackalloc void*[] { &y, &x, &n4 };
            Launch(d, "elementwise", "copy_vec4_f32", LaunchConfig.FlatBlocks(n4, d.MultiprocessorCount), args, stream);
        }
        else
        {
            void** args = stackalloc void*[] { &y, &x, &nu };
            Launch(d, "elementwise", "copy_f32", LaunchConfig.FlatBlocks(nu, d.MultiprocessorCount), args, stream);
        }
    }

    // x: (n) -> y: (n) = alpha * x
    public static void Scale(CudaDevice d, ulong y, ulong x, float alpha, long n, CudaStream? stream = null)
    {
        uint nu = Count(n, "Scale");
        if (nu == 0) return;
        RequirePointers("Scale", (y, "y"), (x, "x"));
        void** args = stackalloc void*[] { &y, &x, &alpha, &nu };
        Launch(d, "elementwise", "scale_f32", LaunchConfig.FlatBlocks(nu, d.MultiprocessorCount), args, stream);
    }

    /// <summary>Binary elementwise ops of <see cref="Binary"/>.</summary>
    public enum BinaryOp { Add, Sub, Mul }

    // a, b: (n) -> z: (n) = a op b
    public static void Binary(CudaDevice d, BinaryOp op, ulong z, ulong a, ulong b, long n, CudaStream? stream = null)
    {
        uint nu = Count(n, op.ToString());
        if (nu == 0) return;
        RequirePointers(op.ToString(), (z, "z"), (a, "a"), (b, "b"));
        void** args = stackalloc void*[] { &z, &a, &b, &nu };
        Launch(d, "elementwise", op switch { BinaryOp.Add => "add_f32", BinaryOp.Sub => "sub_f32", _ => "mul_f32" },
            LaunchConfig.FlatBlocks(nu, d.MultiprocessorCount), args, stream);
    }

    // x: (n), y: (n) in place -> y = alpha * x + beta * y
    public static void Axpby(CudaDevice d, ulong y, ulong x, float alpha, float beta, long n, CudaStream? stream = null)
    {
        uint nu = Count(n, "Axpby");
        if (nu == 0) return;
        RequirePointers("Axpby", (y, "y"), (x, "x"));
        void** args = stackalloc void*[] { &y, &x, &alpha, &beta, &nu };
        Launch(d, "elementwise", "axpby_f32", LaunchConfig.FlatBlocks(nu, d.MultiprocessorCount), args, stream);
    }

    /// <summary>Unary ops of <see cref="Unary"/>.</summary>
    public enum UnaryOp { Relu, Sigmoid }

    // x: (n) -> y: (n) = relu(x) or sigmoid(x)
    public static void Unary(CudaDevice d, UnaryOp op, ulong y, ulong x, long n, CudaStream? stream = null)
    {
        uint nu = Count(n, op.ToString());
        if (nu == 0) return;
        RequirePointers(op.ToString(), (y, "y"), (x, "x"));
        void** args = stackalloc void*[] { &y, &x, &nu };
        Launch(d, "elementwise", op == UnaryOp.Relu ? "relu_f32" : "sigmoid_f32", LaunchConfig.FlatBlocks(nu, d.MultiprocessorCount), args, stream);
    }

    // Relu: dy, x (forward input): (n) -> dx = x > 0 ? dy : 0.  Sigmoid: dy, y (forward output) -> dx = dy * y * (1 - y).
    public static void UnaryBackward(CudaDevice d, UnaryOp op, ulong dx, ulong dy, ulong saved, long n, CudaStream? stream = null)
    {
        string name = op + "Backward";
        uint nu = Count(n, name);
        if (nu == 0) return;
        RequirePointers(name, (dx, "dx"), (dy, "dy"), (saved, op == UnaryOp.Relu ? "x" : "y"));
        void** args = stackalloc void*[] { &dx, &dy, &saved, &nu };
        Launch(d, "elementwise", op == UnaryOp.Relu ? "relu_backward_f32" : "sigmoid_backward_f32", LaunchConfig.FlatBlocks(nu, d.MultiprocessorCount), args, stream);
    }

    // logits: (rows, classes), labels: (rows) int32 -> loss: (rows), lse: (rows) (log-sum-exp, kept for the backward).
    public static void SoftmaxCrossEntropyForward(CudaDevice d, ulong loss, ulong lse, ulong logits, ulong labels, long rows, long classes,
        CudaStream? stream = null)
    {
        if (Total(rows, classes, "SoftmaxCrossEntropy") == 0) return;
        RequirePointers("SoftmaxCrossEntropy", (loss, "loss"), (lse, "lse"), (logits, "logits"), (labels, "labels"));
        uint r = (uint)rows, k = (uint)classes;
        void** args = stackalloc void*[] { &loss, &lse, &logits, &labels, &r, &k };
        Launch(d, "softmax_ce", "softmax_ce_forward_f32", LaunchConfig.WarpPerRowBlocks(rows, d.MultiprocessorCount), args, stream);
    }

    // logits: (rows, classes), lse, g (dLoss/dloss per row): (rows), labels: (rows) -> dlogits = g * (softmax - onehot).
    public static void SoftmaxCrossEntropyBackward(CudaDevice d, ulong dlogits, ulong logits, ulong lse, ulong labels, ulong g, long rows, long classes,
        CudaStream? stream = null)
    {
        uint total = Total(rows, classes, "SoftmaxCrossEntropyBackward");
        if (total == 0) return;
        RequirePointers("SoftmaxCrossEntropyBackward", (dlogits, "dlogits"), (logits, "logits"), (lse, "lse"), (labels, "labels"), (g, "g"));
        uint r = (uint)rows, k = (uint)classes;
        void** args = stackalloc void*[] { &dlogits, &logits, &lse, &labels, &g, &r, &k };
        Launch(d, "softmax_ce", "softmax_ce_backward_f32", LaunchConfig.FlatBlocks(total, d.MultiprocessorCount), args, stream);
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct SgdTensorList // mirrors struct SgdTensorList in sgd.cu (1792 bytes, passed by value)
    {
        public fixed ulong P[SgdMaxTensorsPerLaunch];
        public fixed ulong G[SgdMaxTensorsPerLaunch];
        public fixed ulong M[SgdMaxTensorsPerLaunch];
        public fixed uint N[SgdMaxTensorsPerLaunch];
    }

    /// <summary>One SGD step over many parameter tensors, 64 per launch. <paramref name="firstStep"/>: momentum buffers start as the gradient.</summary>
    public static void SgdStep(CudaDevice d, ReadOnlySpan<SgdTensor> tensors, SgdOptions o, bool firstStep, CudaStream? stream = null)
    {
        if (o.Nesterov && (o.Momentum <= 0 || o.Dampening != 0))
            throw new ArgumentException("SGD: Nesterov momentum requires momentum > 0 and dampening = 0 (as in torch.optim.SGD).", nameof(o));
        for (int start = 0; start < tensors.Length; start += SgdMaxTensorsPerLaunch)
        {
            var chunk = tensors.Slice(start, Math.Min(SgdMaxTensorsPerLaunch, tensors.Length - start));
            SgdTensorList list = default;
            long maxCount = 0;
            for (int i = 0; i < chunk.Length; i++)
            {
                var t = chunk[i];
                uint n = Count(t.Count, $"SgdStep tensor {start + i}");
                if (n > 0) RequirePointers($"SgdStep tensor {start + i}", (t.Param, "param"), (t.Grad, "grad"));
                if (n > 0 && o.Momentum != 0) RequirePointers($"SgdStep tensor {start + i}", (t.MomentumBuffer, "momentum buffer"));
                list.P[i] = t.Param; list.G[i] = t.Grad; list.M[i] = t.MomentumBuffer; list.N[i] = n;
                maxCount = Math.Max(maxCount, n);
            }
            if (maxCount > 0) LaunchSgd(d, ref list, chunk.Length, maxCount, o, firstStep, stream);
        }
    }

    private static void LaunchSgd(CudaDevice d, ref SgdTensorList list, int count, long maxCount, SgdOptions o, bool firstStep, CudaStream? stream)
    {
        float lr = o.LearningRate, mom = o.Momentum, damp = o.Dampening, wd = o.WeightDecay;
        int nesterov = o.Nesterov ? 1 : 0, first = firstStep ? 1 : 0;
        fixed (SgdTensorList* l = &list)
        {
            void** args = stackalloc void*[] { l, &lr, &mom, &damp, &wd, &nesterov, &first };
            // Each tensor gets a row of up to 4 blocks per SM: large tensors still fill the GPU, small ones cost little.
            uint bx = (uint)Math.Max(1, Math.Min((maxCount + LaunchConfig.BlockSize - 1) / LaunchConfig.BlockSize, d.MultiprocessorCount * 4L));
            Launch(d, "sgd", "sgd_multi_tensor_f32", bx, args, stream, gridY: (uint)count);
        }
    }

    /// <summary>Most elements one launch may cover. The kernels index with 32-bit unsigned grid-stride loops
    /// (i += gridDim.x * blockDim.x); staying below 2^31 keeps i + stride from wrapping past 2^32, which would loop forever.</summary>
    public const long MaxElements = int.MaxValue;

    internal static uint Total(long rows, long cols, string op)
    {
        if (rows < 0 || cols <= 0 && rows > 0)
            throw new ArgumentException($"{op}: invalid shape ({rows} rows/planes x {cols} elements each); both must be positive.");
        long total = rows * cols;
        if (total > MaxElements || (cols != 0 && total / cols != rows))
            throw new ArgumentException($"{op}: {rows} x {cols} = {total} elements exceeds the kernels' 32-bit index range ({MaxElements}); split the tensor.");
        return (uint)total;
    }

    internal static uint Count(long n, string op)
    {
        if (n < 0 || n > MaxElements)
            throw new ArgumentException($"{op}: element count {n} is outside [0, {MaxElements}] (32-bit kernel index).");
        return (uint)n;
    }

    private static void RequirePointers(string op, params ReadOnlySpan<(ulong Ptr, string Name)> ptrs)
    {
        foreach (var (p, name) in ptrs)
            if (p == 0) throw new ArgumentException($"{op}: device pointer '{name}' is null.");
    }

    /// <summary>Receives a launch instead of the driver (see <see cref="InterceptLaunches"/>).</summary>
    internal delegate void LaunchInterceptor(string module, string kernel, uint gridX, uint gridY, void** args);

    /// <summary>Test seam, per thread: while set, launches from this thread go to it and never reach the device, so tests without
    /// a GPU can read back the kernel arguments (against the PTX parameter lists) that a real launch would pass.</summary>
    [ThreadStatic] internal static LaunchInterceptor? InterceptLaunches;

    /// <summary>Launches <paramref name="module"/>.<paramref name="kernel"/> with 256 threads per block on <paramref name="stream"/>
    /// (default: the device's); <paramref name="context"/> (the op and shapes) goes into the error message.</summary>
    internal static void Launch(CudaDevice d, string module, string kernel, uint gridX, void** args, CudaStream? stream, uint gridY = 1, string? context = null)
    {
        if (InterceptLaunches is { } intercept)
        {
            intercept(module, kernel, gridX, gridY, args);
            return;
        }
        nint fn = d.Kernels.Function(module, kernel);
        stream ??= d.Stream;
        d.MakeCurrent();
        // SAFETY: args holds the addresses of locals of the calling launcher, in the kernel's parameter order; the driver copies
        // the values during cuLaunchKernel, so they need not outlive this call.
        CudaCheck.Driver(CuDriver.LaunchKernel(fn, gridX, gridY, 1, LaunchConfig.BlockSize, 1, 1, 0, stream.Handle, args, null),
            "cuLaunchKernel", $"{module}.{kernel} grid ({gridX}, {gridY}) block {LaunchConfig.BlockSize}{(context is null ? "" : ": " + context)}");
    }
}
