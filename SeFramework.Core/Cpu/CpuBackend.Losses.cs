// CPU kernels for softmax / log-softmax rows, fused softmax cross-entropy with label smoothing, and the SGD update.
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace SeFramework.Cpu;

internal sealed unsafe partial class CpuBackend
{
    public void SoftmaxRows(Tensor x, Tensor y, bool log)
    {
        using var _profile = CpuProfiler.Op("SoftmaxRows");
        int cols = x.Size(-1);
        if (x.DType == DType.Float32) SoftmaxKernel(x.Span<float>(), y.Span<float>(), cols, log);
        else SoftmaxKernel(x.Span<double>(), y.Span<double>(), cols, log);
    }

    // x, y: (rows, cols); max-subtracted so exp never overflows; sums in double.
    private static void SoftmaxKernel<T>(Span<T> x, Span<T> y, int cols, bool log) where T : IFloatingPointIeee754<T>
    {
        int rows = cols == 0 ? 0 : x.Length / cols;
        for (int r = 0; r < rows; r++)
        {
            var xr = x.Slice(r * cols, cols);
            var yr = y.Slice(r * cols, cols);
            double max = double.NegativeInfinity;
            for (int i = 0; i < cols; i++) max = Math.Max(max, double.CreateTruncating(xr[i]));
            double sum = 0;
            for (int i = 0; i < cols; i++) sum += Math.Exp(double.CreateTruncating(xr[i]) - max);
            double logSum = Math.Log(sum) + max;
            for (int i = 0; i < cols; i++)
            {
                double v = double.CreateTruncating(xr[i]) - logSum;
                yr[i] = T.CreateTruncating(log ? v : Math.Exp(v));
            }
        }
    }

    public void SoftmaxRowsBackward(Tensor y, Tensor dy, Tensor dx, bool log)
    {
        using var _profile = CpuProfiler.Op("SoftmaxRowsBackward");
        int cols = y.Size(-1);
        if (y.DType == DType.Float32) SoftmaxBackwardKernel(y.Span<float>(), dy.Span<float>(), dx.Span<float>(), cols, log);
        else SoftmaxBackwardKernel(y.Span<double>(), dy.Span<double>(), dx.Span<double>(), cols, log);
    }

    private static void SoftmaxBackwardKernel<T>(Span<T> y, Span<T> dy, Span<T> dx, int cols, bool log) where T : IFloatingPointIeee754<T>
    {
        int rows = cols == 0 ? 0 : y.Length / cols;
        for (int r = 0; r < rows; r++)
        {
            var yr = y.Slice(r * cols, cols);
            var gr = dy.Slice(r * cols, cols);
            var dr = dx.Slice(r * cols, cols);
            double dot = 0;
            if (log)
            {
                for (int i = 0; i < cols; i++) dot += double.CreateTruncating(gr[i]);
                for (int i = 0; i < cols; i++) dr[i] = T.CreateTruncating(double.CreateTruncating(gr[i]) - Math.Exp(double.CreateTruncating(yr[i])) * dot);
            }
            else
            {
                for (int i = 0; i < cols; i++) dot += double.CreateTruncating(gr[i]) * double.CreateTruncating(yr[i]);
                for (int i = 0; i < cols; i++) dr[i] = T.CreateTruncating(double.CreateTruncating(yr[i]) * (double.CreateTruncating(gr[i]) - dot));
            }
        }
    }

    public void SoftmaxCrossEntropy(Tensor logits, int[] targets, double labelSmoothing, Tensor lossPerRow, Tensor probs)
    {
        using var _profile = CpuProfiler.Op("SoftmaxCrossEntropy");
        if (logits.DType == DType.Float32) CrossEntropyKernel(logits.Span<float>(), targets, labelSmoothing, lossPerRow.Span<float>(), probs.Span<float>(), logits.Size(1));
        else CrossEntropyKernel(logits.Span<double>(), targets, labelSmoothing, lossPerRow.Span<double>(), probs.Span<double>(), logits.Size(1));
    }

    // logits, probs: (N, K); loss: (N). One pass per row: max, log-sum-exp, the loss terms, the probabilities.
    private static void CrossEntropyKernel<T>(Span<T> logits, int[] targets, double eps, Span<T> loss, Span<T> probs, int k) where T : IFloatingPointIeee754<T>
    {
        for (int n = 0; n < targets.Length; n++)
        {
            var row = logits.Slice(n * k, k);
            double max = double.NegativeInfinity;
            for (int i = 0; i < k; i++) max = Math.Max(max, double.CreateTruncating(row[i]));
            double sum = 0;
            for (int i = 0; i < k; i++) sum += Math.Exp(double.CreateTruncating(row[i]) - max);
            double logSum = Math.Log(sum) + max;
            double sumLogP = 0;
            var pr = probs.Slice(n * k, k);
            for (int i = 0; i < k; i++)
            {
                double logp = double.CreateTruncating(row[i]) - logSum;
                sumLogP += logp;
                pr[i] = T.CreateTruncating(Math.Exp(logp));
            }
            double nll = logSum - double.CreateTruncating(row[targets[n]]);
            loss[n] = T.CreateTruncating((1 - eps) * nll - eps / k * sumLogP);
        }
    }

    public void SoftmaxCrossEntropyBackward(Tensor probs, int[] targets, double labelSmoothing, Tensor dLossPerRow, Tensor dLogits)
    {
        using var _profile = CpuProfiler.Op("SoftmaxCrossEntropyBackward");
        if (probs.DType == DType.Float32) CrossEntropyBackwardKernel(probs.Span<float>(), targets, labelSmoothing, dLossPerRow.Span<float>(), dLogits.Span<float>(), probs.Size(1));
        else CrossEntropyBackwardKernel(probs.Span<double>(), targets, labelSmoothing, dLossPerRow.Span<double>(), dLogits.Span<double>(), probs.Size(1));
    }

    private static void CrossEntropyBackwardKernel<T>(Span<T> probs, int[] targets, double eps, Span<T> dLoss, Span<T> dLogits, int k) where T : IFloatingPointIeee754<T>
    {
        T off = T.CreateTruncating(eps / k);
        T on = T.CreateTruncating(1 - eps + eps / k);
        for (int n = 0; n < targets.Length; n++)
        {
            T scale = dLoss[n];
            var pr = probs.Slice(n * k, k);
            var dr = dLogits.Slice(n * k, k);
            for (int i = 0; i < k; i++) dr[i] = scale * (pr[i] - (i == targets[n] ? on : off));
        }
    }

    public void SgdUpdate(Tensor param, Tensor grad, Tensor? momentumBuffer, bool firstStep, double lr, double momentum, double dampening, double weightDecay, bool nesterov)
    {
        using var _profile = CpuProfiler.Op("SgdUpdate");
        if (param.DType == DType.Float32)
            SgdFast(param.Pointer<float>(), grad.Pointer<float>(), momentumBuffer == null ? null : momentumBuffer.Pointer<float>(), param.NumElements, firstStep,
                (float)lr, (float)momentum, (float)dampening, (float)weightDecay, nesterov);
        else
            SgdKernel(param.Span<double>(), grad.Span<double>(), momentumBuffer == null ? default : momentumBuffer.Span<double>(), momentumBuffer != null, firstStep,
                lr, momentum, dampening, weightDecay, nesterov);
    }

    // p, g, buf (null: no momentum): n floats. One Vector512 pass over parallel chunks; the same operations in the same
    // order as SgdKernel (no FMA contraction), so the result equals it bit for bit.
    private static void SgdFast(float* p, float* g, float* buf, long n, bool first, float lr, float momentum, float dampening, float wd, bool nesterov)
    {
        nint pa = (nint)p, ga = (nint)g, ba = (nint)buf;
        SimdKernels.ForRange(n, (i0, i1) => SgdChunk((float*)pa + i0, (float*)ga + i0, ba == 0 ? null : (float*)ba + i0, i1 - i0,
            first, lr, momentum, dampening, wd, nesterov));
    }

    // One chunk of SgdFast: p, g, buf (null: no momentum): len floats. [AggressiveOptimization]: called a few times per
    // parameter per step, it would otherwise run as tier-0 code (Vector512 ops not inlined) for the first steps.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void SgdChunk(float* pp, float* gg, float* bb, long len, bool first, float lr, float momentum, float dampening, float wd, bool nesterov)
    {
        long i = 0;
        if (SimdKernels.Accelerated)
        {
            var vlr = Vector512.Create(lr);
            var vm = Vector512.Create(momentum);
            var vdamp = Vector512.Create(1f - dampening);
            var vwd = Vector512.Create(wd);
            for (; i + 16 <= len; i += 16)
            {
                var d = Vector512.Load(gg + i);
                var pv = Vector512.Load(pp + i);
                if (wd != 0f) d += vwd * pv;
                if (bb != null)
                {
                    var b = first ? d : vm * Vector512.Load(bb + i) + vdamp * d;
                    b.Store(bb + i);
                    d = nesterov ? d + vm * b : b;
                }
                (pv - vlr * d).Store(pp + i);
            }
        }
        if (i < len)
            SgdKernel(new Span<float>(pp + i, (int)(len - i)), new Span<float>(gg + i, (int)(len - i)),
                bb == null ? default : new Span<float>(bb + i, (int)(len - i)), bb != null, first, lr, momentum, dampening, wd, nesterov);
    }

    // p, g, buf: same length. The operation order follows torch.optim.SGD's single-tensor path exactly.
    internal static void SgdKernel<T>(Span<T> p, Span<T> g, Span<T> buf, bool hasBuf, bool first, T lr, T momentum, T dampening, T wd, bool nesterov)
        where T : IFloatingPointIeee754<T>
    {
        for (int i = 0; i < p.Length; i++)
        {
            T d = g[i];
            if (wd != T.Zero) d += wd * p[i];
            if (hasBuf)
            {
                T b = first ? d : momentum * buf[i] + (T.One - dampening) * d;
                buf[i] = b;
                d = nesterov ? d + momentum * b : b;
            }
            p[i] -= lr * d;
        }
    }
}
