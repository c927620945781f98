// The CUDA backend's registration and core op families: allocation, copy (host<->device, strided device copies with casts), fill,
// elementwise unary/binary with broadcasting, sums over dims, row max and GEMM via cuBLAS. Neural-network ops are in
// CudaBackend.Nn.cs, softmax / cross-entropy / SGD in CudaBackend.Losses.cs.
using System.Collections.Concurrent;
using SeFramework.Backends;
using SeFramework.Cuda.Native;
using SeFramework.Cuda.Runtime;

namespace SeFramework.Cuda.Backend;

/// <summary>
/// <see cref="IBackend"/> on one CUDA device. Obtain through <see cref="BackendRegistry"/> after <see cref="Register"/>. The device
/// is opened lazily on the first op, so a missing GPU surfaces as <see cref="CudaUnavailableException"/> with the reason.
/// All work is queued on the device's stream; copies to the host wait for it.
/// </summary>
public sealed unsafe partial class CudaBackend : IBackend
{
    private static readonly ConcurrentDictionary<int, CudaBackend> Instances = new();
    private readonly Lazy<CudaDevice> _device;
    private readonly Lazy<nint> _cublas;
    private int _cublasMathMode = -1;

    private CudaBackend(int ordinal)
    {
        Ordinal = ordinal;
        _device = new(() => CudaDevice.Get(ordinal));
        _cublas = new(CreateCublas);
        _dnn = new(CreateCudnn);
    }

    /// <summary>Allow TF32 tensor cores for float32 GEMMs (cuBLAS) and convolutions (cuDNN). Default off: full FP32, as on the CPU.</summary>
    public static bool AllowTf32 { get; set; }

    /// <summary>Registers the backend for <see cref="DeviceKind.Cuda"/>. Needs no GPU: ops fail later with the availability reason.</summary>
    public static void Register() => BackendRegistry.Register(DeviceKind.Cuda, ordinal => Instances.GetOrAdd(ordinal, o => new CudaBackend(o)));

    /// <summary>For `--device cuda`: registers the backend and returns true when CUDA is usable; otherwise returns false with the
    /// reason (e.g. "CUDA driver library libcuda.so.1 not found ...") and registers nothing.</summary>
    public static bool TryRegister(out string reason)
    {
        var (ok, why) = CudaAvailability.Check();
        reason = why;
        if (!ok) return false;
        Register();
        return true;
    }

    /// <summary>The backend of one ordinal (also what the registry's factory returns).</summary>
    public static CudaBackend ForOrdinal(int ordinal) => Instances.GetOrAdd(ordinal, o => new CudaBackend(o));

    public int Ordinal { get; }
    public Device Device => Device.Cuda(Ordinal);

    /// <summary>The CUDA device (opened on first use; throws <see cref="CudaUnavailableException"/> without a GPU).</summary>
    public CudaDevice CudaDevice
    {
        get
        {
            var d = _device.Value;
            d.MakeCurrent();
            return d;
        }
    }

    public Storage Allocate(DType dtype, long length, bool zero) => new CudaStorage(CudaDevice, dtype, length, zero);

    // ---- pointers ----

    private static CudaStorage Cuda(Tensor t, string op) => t.Storage as CudaStorage
        ?? throw new ArgumentException($"{op}: expected a CUDA tensor, got one on {t.Device} with shape {t.Layout}.");

    /// <summary>Device pointer of the tensor's first element (storage pointer + offset).</summary>
    internal static ulong Ptr(Tensor t, string op) => Cuda(t, op).Pointer + (ulong)(t.Layout.Offset * t.DType.ElementSize());

    internal static ulong PtrOrZero(Tensor? t, string op) => t == null ? 0 : Ptr(t, op);

    /// <summary>Device pointer of the storage's element 0 (for kernels that take the offset in their stride struct).</summary>
    private static ulong Base(Tensor t, string op) => Cuda(t, op).Pointer;

    private static string Shapes(params Tensor?[] ts) => string.Join(", ", ts.Where(t => t != null).Select(t => $"{t!.Layout} {t.DType}"));

    // ---- copy / fill ----

    public void Copy(Tensor src, Tensor dst)
    {
        const string op = "Copy";
        if (src.NumElements != dst.NumElements)
            throw new ArgumentException($"{op}: source {src.Layout} and destination {dst.Layout} differ in size.");
        if (src.NumElements == 0) return;
        bool srcCuda = src.Device.Kind == DeviceKind.Cuda, dstCuda = dst.Device.Kind == DeviceKind.Cuda;
        if (srcCuda && dstCuda)
        {
            if (src.Device != dst.Device)
                throw new NotSupportedException($"{op}: copies between CUDA devices ({src.Device} -> {dst.Device}) are not supported; go through the CPU.");
            DeviceCopy(src, dst);
        }
        else if (dstCuda) HostToDevice(src, dst);
        else if (srcCuda) DeviceToHost(src, dst);
        else BackendRegistry.For(Device.Cpu).Copy(src, dst);
    }

    private static bool Dense(Tensor t) => t.IsContiguous;

    private void DeviceCopy(Tensor src, Tensor dst)
    {
        var d = CudaDevice;
        long n = src.NumElements;
        if (src.DType == dst.DType && Dense(src) && Dense(dst))
        {
            CudaCheck.Driver(CuDriver.MemcpyDtoDAsync(Ptr(dst, "Copy"), Ptr(src, "Copy"), (nuint)(n * src.DType.ElementSize()), d.Stream.Handle),
                "cuMemcpyDtoDAsync_v2", $"Copy {Shapes(src, dst)}");
            return;
        }
        if (src.DType is not (DType.Float32 or DType.Float64) || dst.DType is not (DType.Float32 or DType.Float64))
            throw new NotSupportedException($"Copy: strided or casting copies on CUDA support float32/float64 only, got {src.DType} -> {dst.DType}.");
        var st = Strides2.Of("Copy", dst.Layout.Shape, dst.Layout.Strides, dst.Layout.Offset, src.Layout.Strides, src.Layout.Offset);
        ulong dp = Base(dst, "Copy"), sp = Base(src, "Copy");
        uint nu = BackendKernels.Count(n, "Copy");
        void** args = stackalloc void*[] { &dp, &sp, &st, &nu };
        string kernel = $"strided_copy{BackendKernels.Suffix(dst.DType)}{BackendKernels.Suffix(src.DType)}";
        BackendKernels.Launch(d, kernel, BackendKernels.Flat(d, n), args, $"Copy {Shapes(src, dst)}");
    }

    // CPU -> CUDA: contiguous same-dtype data goes straight over; anything else is staged (contiguous on the host, then a device copy).
    private void HostToDevice(Tensor src, Tensor dst)
    {
        var d = CudaDevice;
        if (src.Storage is not CpuStorage) throw new NotSupportedException($"Copy: source on {src.Device} is neither CPU nor CUDA.");
        if (!Dense(src))
        {
            var staged = Tensor.Empty(src.Shape, src.DType, Device.Cpu);
            BackendRegistry.For(Device.Cpu).Copy(src, staged);
            src = staged;
        }
        if (src.DType == dst.DType && Dense(dst))
        {
            Upload(d, src, Ptr(dst, "Copy"));
            return;
        }
        using var tmp = new DeviceTemp(this, src.DType, src.Shape);
        Upload(d, src, Ptr(tmp.Tensor, "Copy"));
        DeviceCopy(tmp.Tensor, dst);
    }

    private static void Upload(CudaDevice d, Tensor contiguousCpu, ulong destination)
    {
        long bytes = contiguousCpu.NumElements * contiguousCpu.DType.ElementSize();
        byte* p = (byte*)((CpuStorage)contiguousCpu.Storage).Pointer + contiguousCpu.Layout.Offset * contiguousCpu.DType.ElementSize();
        CudaCheck.Driver(CuDriver.MemcpyHtoDAsync(destination, p, (nuint)bytes, d.Stream.Handle), "cuMemcpyHtoDAsync_v2",
            $"Copy host -> device {contiguousCpu.Layout} {contiguousCpu.DType}");
        d.Stream.Synchronize(); // the host buffer may be freed or reused as soon as we return
    }

    // CUDA -> CPU: a cast or strided source is first made contiguous in the destination dtype on the device.
    private void DeviceToHost(Tensor src, Tensor dst)
    {
        var d = CudaDevice;
        if (dst.Storage is not CpuStorage) throw new NotSupportedException($"Copy: destination on {dst.Device} is neither CPU nor CUDA.");
        DeviceTemp? tmp = null;
        try
        {
            if (src.DType != dst.DType || !Dense(src))
            {
                tmp = new DeviceTemp(this, dst.DType, src.Shape);
                DeviceCopy(src, tmp.Tensor);
                src = tmp.Tensor;
            }
            var target = Dense(dst) ? dst : Tensor.Empty(dst.Shape, dst.DType, Device.Cpu);
            long bytes = src.NumElements * src.DType.ElementSize();
            byte* p = (byte*)((CpuStorage)target.Storage).Pointer + target.Layout.Offset * target.DType.ElementSize();
            CudaCheck.Driver(CuDriver.MemcpyDtoHAsync(p, Ptr(src, "Copy"), (nuint)bytes, d.Stream.Handle), "cuMemcpyDtoHAsync_v2",
                $"Copy device -> host {src.Layout} {src.DType}");
            d.Stream.Synchronize();
            if (!ReferenceEquals(target, dst)) BackendRegistry.For(Device.Cpu).Copy(target, dst);
        }
        finally { tmp?.Dispose(); }
    }

    public void Fill(Tensor dst, double value)
    {
        var d = CudaDevice;
        uint n = BackendKernels.Count(dst.NumElements, "Fill");
        if (n == 0) return;
        ulong p = Ptr(dst, "Fill");
        void** args = stackalloc void*[] { &p, &value, &n };
        BackendKernels.Launch(d, "fill_value" + BackendKernels.Suffix(dst.DType), BackendKernels.Flat(d, n), args, $"Fill {Shapes(dst)} with {value}");
    }

    // ---- elementwise ----

    public void Unary(UnaryOp op, Tensor x, Tensor y, double scalar)
    {
        var d = CudaDevice;
        uint n = BackendKernels.Count(y.NumElements, op.ToString());
        if (n == 0) return;
        var st = Strides2.Of(op.ToString(), x.Layout.Shape, default, 0, x.Layout.Strides, x.Layout.Offset);
        ulong yp = Ptr(y, op.ToString()), xp = Base(x, op.ToString());
        int code = (int)op;
        void** args = stackalloc void*[] { &yp, &xp, &st, &n, &code, &scalar };
        BackendKernels.Launch(d, "unary" + BackendKernels.Suffix(x.DType), BackendKernels.Flat(d, n), args, $"{op} {Shapes(x, y)}");
    }

    public void UnaryBackward(UnaryOp op, Tensor x, Tensor y, Tensor dy, Tensor dx, double scalar)
    {
        var d = CudaDevice;
        string name = op + "Backward";
        uint n = BackendKernels.Count(dx.NumElements, name);
        if (n == 0) return;
        ulong dxp = Ptr(dx, name), xp = Ptr(x, name), yp = Ptr(y, name), dyp = Ptr(dy, name);
        int code = (int)op;
        void** args = stackalloc void*[] { &dxp, &xp, &yp, &dyp, &n, &code, &scalar };
        BackendKernels.Launch(d, "unary_backward" + BackendKernels.Suffix(x.DType), BackendKernels.Flat(d, n), args, $"{name} {Shapes(x, dy)}");
    }

    public void Binary(BinaryOp op, Tensor a, Tensor b, Tensor c) => BinaryCore(op, a, b, c, op.ToString());

    public void AddInPlace(Tensor y, Tensor x) => BinaryCore(BinaryOp.Add, y, x, y, "AddInPlace");

    // c (contiguous) = a op b; a and b any layout with c's shape (stride 0 on broadcast dims). c may alias a elementwise.
    private void BinaryCore(BinaryOp op, Tensor a, Tensor b, Tensor c, string name)
    {
        var d = CudaDevice;
        uint n = BackendKernels.Count(c.NumElements, name);
        if (n == 0) return;
        var st = Strides2.Of(name, c.Layout.Shape, a.Layout.Strides, a.Layout.Offset, b.Layout.Strides, b.Layout.Offset);
        ulong cp = Ptr(c, name), ap = Base(a, name), bp = Base(b, name);
        int code = (int)op;
        void** args = stackalloc void*[] { &cp, &ap, &bp, &st, &n, &code };
        BackendKernels.Launch(d, "binary" + BackendKernels.Suffix(c.DType), BackendKernels.Flat(d, n), args, $"{name} {Shapes(a, b, c)}");
    }

    // ---- reductions ----

    public void Sum(Tensor x, bool[] reduce, Tensor y) => SumCore(x, reduce, Ptr(y, "Sum"), y.NumElements, 1.0, "Sum");

    // x: any layout; reduce marks summed dims; output (count = product of kept dims, row-major) = scale * sum, accumulated in double.
    internal void SumCore(Tensor x, bool[] reduce, ulong output, long outputCount, double scale, string op)
    {
        var d = CudaDevice;
        var shape = x.Layout.Shape;
        var strides = x.Layout.Strides;
        int rank = shape.Length;
        var keptShape = new List<int>();
        var keptStrides = new List<long>();
        var redShape = new List<int>();
        var redStrides = new List<long>();
        long nRed = 1;
        for (int i = 0; i < rank; i++)
        {
            if (reduce[i]) { redShape.Add(shape[i]); redStrides.Add(strides[i]); nRed *= shape[i]; }
            else { keptShape.Add(shape[i]); keptStrides.Add(strides[i]); }
        }
        uint nOut = BackendKernels.Count(outputCount, op), nr = BackendKernels.Count(nRed, op);
        if (nOut == 0) return;
        var kept = Strides2.Of(op, keptShape.ToArray(), keptStrides.ToArray(), x.Layout.Offset, default, 0);
        var red = Strides2.Of(op, redShape.ToArray(), redStrides.ToArray(), 0, default, 0);
        ulong yp = output, xp = Base(x, op);
        void** args = stackalloc void*[] { &yp, &xp, &kept, &red, &nOut, &nr, &scale };
        BackendKernels.Launch(d, "sum" + BackendKernels.Suffix(x.DType), BackendKernels.Rows(d, nOut), args,
            $"{op} of {Shapes(x)} over dims [{string.Join(", ", Enumerable.Range(0, rank).Where(i => reduce[i]))}]");
    }

    public void MaxRows(Tensor x, Tensor values, long[] indices)
    {
        var d = CudaDevice;
        long rowsL = values.NumElements;
        if (rowsL == 0) return;
        uint rows = BackendKernels.Count(rowsL, "MaxRows"), cols = BackendKernels.Count(x.NumElements / rowsL, "MaxRows");
        using var idx = new CudaBuffer<int>(d, rows);
        ulong vp = Ptr(values, "MaxRows"), ip = idx.Pointer, xp = Ptr(x, "MaxRows");
        void** args = stackalloc void*[] { &vp, &ip, &xp, &rows, &cols };
        BackendKernels.Launch(d, "max_rows" + BackendKernels.Suffix(x.DType), BackendKernels.Flat(d, rows), args, $"MaxRows {Shapes(x)}");
        var host = idx.ToArray();
        for (int i = 0; i < host.Length; i++) indices[i] = host[i];
    }

    // ---- matmul (cuBLAS, row-major via C^T = op(B)^T op(A)^T in column-major) ----

    public void MatMul(Tensor a, bool transA, Tensor b, bool transB, Tensor c, bool accumulate)
    {
        var d = CudaDevice;
        int m = c.Size(0), n = c.Size(1);
        int k = transA ? a.Size(0) : a.Size(1);
        int lda = a.Size(1), ldb = b.Size(1);
        string ctx = $"MatMul C({m}, {n}) = {(transA ? "A^T" : "A")} x {(transB ? "B^T" : "B")}, A {a.Layout}, B {b.Layout}, {c.DType}";
        if (m == 0 || n == 0) return;
        if (k == 0)
        {
            if (!accumulate) Fill(c, 0);
            return;
        }
        nint h = Cublas(c.DType == DType.Float32 && AllowTf32);
        // Leading dimensions must be >= 1 even for degenerate shapes.
        lda = Math.Max(lda, 1); ldb = Math.Max(ldb, 1);
        int opA = transA ? CuBlas.OpT : CuBlas.OpN, opB = transB ? CuBlas.OpT : CuBlas.OpN;
        ulong ap = Ptr(a, "MatMul"), bp = Ptr(b, "MatMul"), cp = Ptr(c, "MatMul");
        if (c.DType == DType.Float32)
        {
            float alpha = 1f, beta = accumulate ? 1f : 0f;
            CudaCheck.Blas(CuBlas.Sgemm(h, opB, opA, n, m, k, &alpha, bp, ldb, ap, lda, &beta, cp, n), "cublasSgemm_v2", ctx);
        }
        else if (c.DType == DType.Float64)
        {
            double alpha = 1, beta = accumulate ? 1 : 0;
            CudaCheck.Blas(CuBlas.Dgemm(h, opB, opA, n, m, k, &alpha, bp, ldb, ap, lda, &beta, cp, n), "cublasDgemm_v2", ctx);
        }
        else throw new NotSupportedException($"MatMul on CUDA supports float32 and float64, not {c.DType}.");
    }

    private nint CreateCublas()
    {
        var d = CudaDevice;
        CudaCheck.Blas(CuBlas.Create(out var h), "cublasCreate_v2", $"device {d.Ordinal}");
        CudaCheck.Blas(CuBlas.SetStream(h, d.Stream.Handle), "cublasSetStream_v2");
        return h;
    }

    // The shared handle with the math mode for this call (TF32 tensor ops only when allowed and float32).
    private nint Cublas(bool tf32)
    {
        nint h = _cublas.Value;
        int mode = tf32 ? CuBlas.MathTf32TensorOp : CuBlas.MathDefault;
        if (_cublasMathMode != mode)
        {
            CudaCheck.Blas(CuBlas.SetMathMode(h, mode), "cublasSetMathMode", tf32 ? "TF32" : "default");
            _cublasMathMode = mode;
        }
        return h;
    }

    /// <summary>A contiguous scratch tensor on this backend's device, disposed (returned to the allocator's cache) after use.</summary>
    internal sealed class DeviceTemp : IDisposable
    {
        public DeviceTemp(CudaBackend backend, DType dtype, int[] shape)
        {
            Tensor = new Tensor(backend.AllocateUntracked(dtype, Layout.Contiguous(shape).NumElements), Layout.Contiguous(shape));
        }

        public Tensor Tensor { get; }
        public void Dispose() => Tensor.Storage.Dispose();
    }

    private Storage AllocateUntracked(DType dtype, long length)
    {
        using (TensorScope.Suspend()) return new CudaStorage(CudaDevice, dtype, length, zero: false);
    }
}
