// CUDA softmax / log-softmax rows and their backward, fused softmax cross-entropy with label smoothing (targets uploaded from the
// host per call), and the SGD update (PyTorch's order), all with our kernels from backend.cu.
using SeFramework.Cuda.Runtime;

namespace SeFramework.Cuda.Backend;

public sealed unsafe partial class CudaBackend
{
    private static (uint Rows, uint Cols) RowsCols(Tensor t, string op)
    {
        long cols = t.Rank == 0 ? 1 : t.Size(-1);
        long rows = cols == 0 ? 0 : t.NumElements / cols;
        return (BackendKernels.Count(rows, op), BackendKernels.Count(cols, op));
    }

    // x, y: (rows, cols) -> softmax (log-softmax) per row
    public void SoftmaxRows(Tensor x, Tensor y, bool log)
    {
        var d = CudaDevice;
        string ctx = $"{(log ? "LogSoftmax" : "Softmax")} {Shapes(x)}";
        var (rows, cols) = RowsCols(x, ctx);
        if (rows == 0 || cols == 0) return;
        ulong yp = Ptr(y, ctx), xp = Ptr(x, ctx);
        int lg = log ? 1 : 0;
        void** args = stackalloc void*[] { &yp, &xp, &rows, &cols, &lg };
        BackendKernels.Launch(d, "softmax_rows" + BackendKernels.Suffix(x.DType), BackendKernels.Rows(d, rows), args, ctx);
    }

    public void SoftmaxRowsBackward(Tensor y, Tensor dy, Tensor dx, bool log)
    {
        var d = CudaDevice;
        string ctx = $"{(log ? "LogSoftmax" : "Softmax")}Backward {Shapes(y)}";
        var (rows, cols) = RowsCols(y, ctx);
        if (rows == 0 || cols == 0) return;
        ulong dxp = Ptr(dx, ctx), yp = Ptr(y, ctx), dyp = Ptr(dy, ctx);
        int lg = log ? 1 : 0;
        void** args = stackalloc void*[] { &dxp, &yp, &dyp, &rows, &cols, &lg };
        BackendKernels.Launch(d, "softmax_rows_backward" + BackendKernels.Suffix(y.DType), BackendKernels.Rows(d, rows), args, ctx);
    }

    private static void CheckTargets(int[] targets, uint rows, uint k, string ctx)
    {
        if (targets.Length != rows) throw new ArgumentException($"{ctx}: {targets.Length} targets for {rows} rows.");
        for (int i = 0; i < targets.Length; i++)
            if ((uint)targets[i] >= k) throw new ArgumentException($"{ctx}: target {targets[i]} at row {i} is outside [0, {k}).");
    }

    // logits, probs: (N, K); loss: (N)
    public void SoftmaxCrossEntropy(Tensor logits, int[] targets, double labelSmoothing, Tensor lossPerRow, Tensor probs)
    {
        var d = CudaDevice;
        string ctx = $"SoftmaxCrossEntropy {Shapes(logits)} smoothing {labelSmoothing}";
        var (rows, k) = RowsCols(logits, ctx);
        if (rows == 0) return;
        CheckTargets(targets, rows, k, ctx);
        using var t = CudaBuffer<int>.From(d, targets);
        ulong lp = Ptr(lossPerRow, ctx), pp = Ptr(probs, ctx), xp = Ptr(logits, ctx), tp = t.Pointer;
        void** args = stackalloc void*[] { &lp, &pp, &xp, &tp, &rows, &k, &labelSmoothing };
        BackendKernels.Launch(d, "softmax_xent" + BackendKernels.Suffix(logits.DType), BackendKernels.Rows(d, rows), args, ctx);
    }

    // probs: (N, K), dLoss: (N) -> dLogits: (N, K)
    public void SoftmaxCrossEntropyBackward(Tensor probs, int[] targets, double labelSmoothing, Tensor dLossPerRow, Tensor dLogits)
    {
        var d = CudaDevice;
        string ctx = $"SoftmaxCrossEntropyBackward {Shapes(probs)} smoothing {labelSmoothing}";
        var (rows, k) = RowsCols(probs, ctx);
        if (rows == 0) return;
        CheckTargets(targets, rows, k, ctx);
        BackendKernels.Count((long)rows * k, ctx);
        using var t = CudaBuffer<int>.From(d, targets);
        ulong gp = Ptr(dLogits, ctx), pp = Ptr(probs, ctx), tp = t.Pointer, dp = Ptr(dLossPerRow, ctx);
        void** args = stackalloc void*[] { &gp, &pp, &tp, &dp, &rows, &k, &labelSmoothing };
        BackendKernels.Launch(d, "softmax_xent_backward" + BackendKernels.Suffix(probs.DType), BackendKernels.Flat(d, (long)rows * k), args, ctx);
    }

    public void SgdUpdate(Tensor param, Tensor grad, Tensor? momentumBuffer, bool firstStep, double lr, double momentum, double dampening, double weightDecay, bool nesterov)
    {
        var d = CudaDevice;
        string ctx = $"SgdUpdate {Shapes(param)}{(param.Name is { } n ? " '" + n + "'" : "")}";
        uint count = BackendKernels.Count(param.NumElements, ctx);
        if (count == 0) return;
        ulong pp = Ptr(param, ctx), gp = Ptr(grad, ctx), bp = PtrOrZero(momentumBuffer, ctx);
        int first = firstStep ? 1 : 0, nes = nesterov ? 1 : 0;
        void** args = stackalloc void*[] { &pp, &gp, &bp, &count, &first, &lr, &momentum, &dampening, &weightDecay, &nes };
        BackendKernels.Launch(d, "sgd" + BackendKernels.Suffix(param.DType), BackendKernels.Flat(d, count), args, ctx);
    }
}
