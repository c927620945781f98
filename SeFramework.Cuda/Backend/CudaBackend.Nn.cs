// CUDA pooling (our kernels, PyTorch's windows and divisors), global average pooling and Axpy (the existing PTX kernels for
// float32, generic kernels for float64 and the channel scale), and batch norm (our block-per-channel kernels).
using SeFramework.Backends;
using SeFramework.Cuda.Runtime;

namespace SeFramework.Cuda.Backend;

public sealed unsafe partial class CudaBackend
{
    // ---- pooling ----

    private static PoolGeom Geom(PoolMode mode, in Pool2dGeometry g, string op)
    {
        BackendKernels.Count((long)g.N * g.C * g.H * g.W, op);
        BackendKernels.Count((long)g.N * g.C * g.P * g.Q, op);
        return new PoolGeom
        {
            Planes = (uint)(g.N * g.C), H = (uint)g.H, W = (uint)g.W, P = (uint)g.P, Q = (uint)g.Q,
            Kernel = g.Kernel, Stride = g.Stride, Padding = g.Padding, Mode = (int)mode,
        };
    }

    // x: (N, C, H, W) -> y: (N, C, P, Q)
    public void Pool2dForward(PoolMode mode, Tensor x, Tensor y, in Pool2dGeometry g)
    {
        var d = CudaDevice;
        string ctx = $"Pool2d {mode} {Shapes(x, y)} kernel {g.Kernel} stride {g.Stride} padding {g.Padding}";
        var pg = Geom(mode, g, ctx);
        long n = (long)g.N * g.C * g.P * g.Q;
        if (n == 0) return;
        ulong yp = Ptr(y, ctx), xp = Ptr(x, ctx);
        void** args = stackalloc void*[] { &yp, &xp, &pg };
        BackendKernels.Launch(d, "pool_forward" + BackendKernels.Suffix(x.DType), BackendKernels.Flat(d, n), args, ctx);
    }

    // dy: (N, C, P, Q) -> dx: (N, C, H, W): zeroed, then each output scatters into its window.
    public void Pool2dBackward(PoolMode mode, Tensor x, Tensor y, Tensor dy, Tensor dx, in Pool2dGeometry g)
    {
        var d = CudaDevice;
        string ctx = $"Pool2dBackward {mode} {Shapes(x, dy)} kernel {g.Kernel} stride {g.Stride} padding {g.Padding}";
        var pg = Geom(mode, g, ctx);
        if (dx.NumElements == 0) return;
        Fill(dx, 0);
        long n = (long)g.N * g.C * g.P * g.Q;
        if (n == 0) return;
        ulong dxp = Ptr(dx, ctx), xp = Ptr(x, ctx), dyp = Ptr(dy, ctx);
        void** args = stackalloc void*[] { &dxp, &xp, &dyp, &pg };
        BackendKernels.Launch(d, "pool_backward" + BackendKernels.Suffix(x.DType), BackendKernels.Flat(d, n), args, ctx);
    }

    // ---- global average pooling ----

    // x: (N, C, H, W) -> y: (N, C, 1, 1)
    public void GlobalAvgPool(Tensor x, Tensor y)
    {
        var d = CudaDevice;
        long planes = (long)x.Size(0) * x.Size(1), hw = (long)x.Size(2) * x.Size(3);
        if (planes == 0) return;
        if (hw == 0) { Fill(y, double.NaN); return; } // mean of nothing, as on the CPU (0/0)
        if (x.DType == DType.Float32) CudaKernels.GapForward(d, Ptr(y, "GlobalAvgPool"), Ptr(x, "GlobalAvgPool"), planes, hw);
        else SumCore(x, [false, false, true, true], Ptr(y, "GlobalAvgPool"), planes, 1.0 / hw, "GlobalAvgPool");
    }

    // dy: (N, C, 1, 1) -> dx: (N, C, H, W) = dy / (H*W)
    public void GlobalAvgPoolBackward(Tensor dy, Tensor dx)
    {
        var d = CudaDevice;
        long planes = (long)dx.Size(0) * dx.Size(1), hw = (long)dx.Size(2) * dx.Size(3);
        if (planes * hw == 0) return;
        if (dx.DType == DType.Float32) { CudaKernels.GapBackward(d, Ptr(dx, "GlobalAvgPoolBackward"), Ptr(dy, "GlobalAvgPoolBackward"), planes, hw); return; }
        ulong dxp = Ptr(dx, "GlobalAvgPoolBackward"), dyp = Ptr(dy, "GlobalAvgPoolBackward");
        uint p = (uint)planes, h = (uint)hw;
        BackendKernels.Count(planes * hw, "GlobalAvgPoolBackward");
        double scale = 1.0 / hw;
        void** args = stackalloc void*[] { &dxp, &dyp, &p, &h, &scale };
        BackendKernels.Launch(d, "plane_broadcast" + BackendKernels.Suffix(dx.DType), BackendKernels.Flat(d, planes * hw), args, $"GlobalAvgPoolBackward {Shapes(dy, dx)}");
    }

    // ---- Axpy ----

    private static (long Planes, long Area) Planes(Tensor x) { long p = (long)x.Size(0) * x.Size(1); return (p, p == 0 ? 0 : x.NumElements / p); }

    // a: (N, C), x, y, output: (N, C, ...) -> output = a[n, c] * x + y (y null: a * x), then ReLU when relu.
    public void Axpy(Tensor a, Tensor x, Tensor? y, Tensor output, bool relu)
    {
        var d = CudaDevice;
        string ctx = $"{(y == null ? "ChannelScale" : relu ? "AxpyRelu" : "Axpy")} {Shapes(a, x, y, output)}";
        var (planes, area) = Planes(x);
        if (planes * area == 0) return;
        if (x.DType == DType.Float32 && y != null)
        {
            CudaKernels.AxpyForward(d, Ptr(output, ctx), Ptr(a, ctx), Ptr(x, ctx), Ptr(y, ctx), planes, area, relu);
            return;
        }
        ulong op = Ptr(output, ctx), ap = Ptr(a, ctx), xp = Ptr(x, ctx), yp = PtrOrZero(y, ctx);
        uint p = BackendKernels.Count(planes, ctx), hw = BackendKernels.Count(area, ctx);
        BackendKernels.Count(planes * area, ctx);
        int r = relu ? 1 : 0;
        void** args = stackalloc void*[] { &op, &ap, &xp, &yp, &p, &hw, &r };
        BackendKernels.Launch(d, "axpy_generic" + BackendKernels.Suffix(x.DType), BackendKernels.Flat(d, planes * area), args, ctx);
    }

    // g = dOutput (masked by output > 0 when relu): dx = a * g, dy = g, da[n, c] = sum g * x.
    public void AxpyBackward(Tensor a, Tensor x, Tensor output, Tensor dOutput, bool relu, Tensor? da, Tensor? dx, Tensor? dy)
    {
        var d = CudaDevice;
        string ctx = $"AxpyBackward{(relu ? " (ReLU)" : "")} {Shapes(a, x, dOutput)}";
        var (planes, area) = Planes(x);
        if (planes == 0) return;
        if (area == 0) { if (da != null) Fill(da, 0); return; }
        if (x.DType == DType.Float32 && da != null)
        {
            CudaKernels.AxpyBackward(d, PtrOrZero(dx, ctx), PtrOrZero(dy, ctx), Ptr(da, ctx), Ptr(dOutput, ctx), Ptr(a, ctx), Ptr(x, ctx), Ptr(output, ctx),
                planes, area, relu);
            return;
        }
        ulong dap = PtrOrZero(da, ctx), dxp = PtrOrZero(dx, ctx), dyp = PtrOrZero(dy, ctx), ap = Ptr(a, ctx), xp = Ptr(x, ctx), op = Ptr(output, ctx), gp = Ptr(dOutput, ctx);
        uint p = BackendKernels.Count(planes, ctx), hw = BackendKernels.Count(area, ctx);
        BackendKernels.Count(planes * area, ctx);
        int r = relu ? 1 : 0;
        void** args = stackalloc void*[] { &dap, &dxp, &dyp, &ap, &xp, &op, &gp, &p, &hw, &r };
        BackendKernels.Launch(d, "axpy_generic_backward" + BackendKernels.Suffix(x.DType), BackendKernels.Rows(d, planes), args, ctx);
    }

    // ---- batch norm: x, y (N, C, L...) contiguous; per-channel vectors (C) ----

    private static (uint N, uint C, uint L) BnDims(Tensor x, string op)
    {
        long l = 1;
        for (int i = 2; i < x.Rank; i++) l *= x.Size(i);
        BackendKernels.Count(x.NumElements, op);
        return ((uint)x.Size(0), (uint)x.Size(1), (uint)l);
    }

    public void BatchNormForwardTraining(Tensor x, Tensor? weight, Tensor? bias, Tensor y, Tensor saveMean, Tensor saveInvStd,
        Tensor? runningMean, Tensor? runningVar, double momentum, double eps, bool relu = false)
    {
        BnForward(true, x, weight, bias, y, saveMean, saveInvStd, runningMean, runningVar, momentum, eps);
        if (relu) Unary(UnaryOp.Relu, y, y, 0); // composed: the ReLU kernel in place over y (elementwise, may alias)
    }

    public void BatchNormForwardInference(Tensor x, Tensor? weight, Tensor? bias, Tensor runningMean, Tensor runningVar, Tensor y,
        Tensor? saveMean, Tensor? saveInvStd, double eps, bool relu = false)
    {
        BnForward(false, x, weight, bias, y, saveMean, saveInvStd, runningMean, runningVar, 0, eps);
        if (relu) Unary(UnaryOp.Relu, y, y, 0);
    }

    private void BnForward(bool training, Tensor x, Tensor? weight, Tensor? bias, Tensor y, Tensor? saveMean, Tensor? saveInvStd,
        Tensor? runningMean, Tensor? runningVar, double momentum, double eps)
    {
        var d = CudaDevice;
        string ctx = $"BatchNorm{(training ? "Training" : "Inference")} {Shapes(x)} eps {eps} momentum {momentum}";
        var (n, c, l) = BnDims(x, ctx);
        if (c == 0) return;
        ulong yp = Ptr(y, ctx), smp = PtrOrZero(saveMean, ctx), sip = PtrOrZero(saveInvStd, ctx), rmp = PtrOrZero(runningMean, ctx), rvp = PtrOrZero(runningVar, ctx);
        ulong xp = Ptr(x, ctx), wp = PtrOrZero(weight, ctx), bp = PtrOrZero(bias, ctx);
        int tr = training ? 1 : 0;
        void** args = stackalloc void*[] { &yp, &smp, &sip, &rmp, &rvp, &xp, &wp, &bp, &n, &c, &l, &tr, &momentum, &eps };
        BackendKernels.Launch(d, "bn_forward" + BackendKernels.Suffix(x.DType), BackendKernels.Rows(d, c), args, ctx);
    }

    public void BatchNormBackward(Tensor x, Tensor dy, Tensor? weight, Tensor saveMean, Tensor saveInvStd, bool training,
        Tensor? dx, Tensor? dweight, Tensor? dbias, Tensor? reluOutput = null)
    {
        if (reluOutput != null)
        {
            // Composed: dy masked by reluOutput > 0 (the ReLU backward kernel, reluOutput in its x slot) into a temporary,
            // then the plain batch-norm backward on it.
            var masked = Tensor.Empty(x.Shape, x.DType, x.Device);
            try
            {
                UnaryBackward(UnaryOp.Relu, reluOutput, reluOutput, dy, masked, 0);
                BatchNormBackward(x, masked, weight, saveMean, saveInvStd, training, dx, dweight, dbias);
            }
            finally
            {
                masked.Storage.Dispose();
            }
            return;
        }
        var d = CudaDevice;
        string ctx = $"BatchNormBackward {Shapes(x)} training {training}";
        var (n, c, l) = BnDims(x, ctx);
        if (c == 0) return;
        ulong dxp = PtrOrZero(dx, ctx), dwp = PtrOrZero(dweight, ctx), dbp = PtrOrZero(dbias, ctx);
        ulong xp = Ptr(x, ctx), dyp = Ptr(dy, ctx), wp = PtrOrZero(weight, ctx), mp = Ptr(saveMean, ctx), ip = Ptr(saveInvStd, ctx);
        int tr = training ? 1 : 0;
        void** args = stackalloc void*[] { &dxp, &dwp, &dbp, &xp, &dyp, &wp, &mp, &ip, &n, &c, &l, &tr };
        BackendKernels.Launch(d, "bn_backward" + BackendKernels.Suffix(x.DType), BackendKernels.Rows(d, c), args, ctx);
    }
}
