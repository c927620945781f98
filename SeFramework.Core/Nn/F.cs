// Functional ops that compose from tensor primitives or have small closed-form backwards: linear, softmax,
// log-softmax and cross-entropy with label smoothing.
using SeFramework.Autograd;

namespace SeFramework;

public static partial class F
{
    /// <summary>x·Wᵀ + b. x: (N, in), weight: (out, in), bias: (out) → (N, out).</summary>
    public static Tensor Linear(Tensor x, Tensor weight, Tensor? bias = null)
    {
        if (x.Rank != 2 || weight.Rank != 2 || x.Size(1) != weight.Size(1))
            throw new ArgumentException($"Linear: input {x.Layout} and weight {weight.Layout} do not match ((N, in) and (out, in))");
        if (bias != null && (bias.Rank != 1 || bias.Size(0) != weight.Size(0)))
            throw new ArgumentException($"Linear: bias {bias.Layout} must be ({weight.Size(0)})");
        var y = x.MatMul(weight.T);
        return bias == null ? y : y + bias;
    }
}

public static partial class F
{
    /// <summary>Softmax along dim. x: any shape → same shape.</summary>
    public static Tensor Softmax(Tensor x, int dim = -1) => SoftmaxCore(x, dim, log: false);

    /// <summary>Log-softmax along dim (computed stably, not as log(softmax)).</summary>
    public static Tensor LogSoftmax(Tensor x, int dim = -1) => SoftmaxCore(x, dim, log: true);

    private static Tensor SoftmaxCore(Tensor x, int dim, bool log)
    {
        string op = log ? "LogSoftmax" : "Softmax";
        x.DType.RequireCpuComputable(op);
        if (x.Rank == 0) throw new ArgumentException($"{op} needs a tensor of rank ≥ 1");
        int d = Tensor.NormalizeDim(dim, x.Rank, op);
        // Move dim last so rows are contiguous, run the row kernel, move it back.
        var order = Enumerable.Range(0, x.Rank).Where(i => i != d).Append(d).ToArray();
        var inverse = new int[x.Rank];
        for (int i = 0; i < order.Length; i++) inverse[order[i]] = i;
        Tensor rows;
        using (Autograd.Autograd.NoGrad()) rows = x.Permute(order).Contiguous();
        var y = Tensor.EmptyLike(rows);
        x.Backend.SoftmaxRows(rows, y, log);
        Tensor result;
        using (Autograd.Autograd.NoGrad()) result = y.Permute(inverse);
        return GradNode.Record(op, result, new[] { x }, g =>
        {
            var gr = g.Permute(order).Contiguous();
            var dx = Tensor.EmptyLike(y);
            y.Backend.SoftmaxRowsBackward(y, gr, dx, log);
            return new[] { dx.Permute(inverse).Contiguous() };
        }, saved: new[] { y });
    }

    /// <summary>
    /// Mean cross-entropy of logits (N, K) against class indices (N), with optional label smoothing ε as in PyTorch:
    /// loss = mean_n[(1−ε)(−log p[n, t_n]) + ε·mean_k(−log p[n, k])]. Fused softmax + loss + closed-form backward.
    /// </summary>
    public static Tensor CrossEntropy(Tensor logits, int[] targets, double labelSmoothing = 0)
    {
        if (logits.Rank != 2) throw new ArgumentException($"CrossEntropy: logits must be (N, K), not {logits.Layout}");
        int n = logits.Size(0), k = logits.Size(1);
        if (targets.Length != n) throw new ArgumentException($"CrossEntropy: {targets.Length} targets for {n} rows of logits {logits.Layout}");
        if (labelSmoothing < 0 || labelSmoothing > 1) throw new ArgumentException($"CrossEntropy: label smoothing must be in [0, 1], not {labelSmoothing}");
        for (int i = 0; i < n; i++)
            if ((uint)targets[i] >= (uint)k)
                throw new ArgumentException($"CrossEntropy: target {targets[i]} at row {i} is outside [0, {k}) for logits {logits.Layout}");
        logits.DType.RequireCpuComputable("CrossEntropy");
        var x = logits.Contiguous();
        var lossRows = Tensor.Empty(new[] { n }, x.DType, x.Device);
        var probs = Tensor.EmptyLike(x);
        x.Backend.SoftmaxCrossEntropy(x, targets, labelSmoothing, lossRows, probs);
        Tensor loss;
        using (Autograd.Autograd.NoGrad()) loss = n == 0 ? Tensor.Scalar(0, x.DType, x.Device) : lossRows.Mean();
        var t = (int[])targets.Clone();
        return GradNode.Record("CrossEntropy", loss, new[] { logits }, g =>
        {
            var perRow = (g * (1.0 / n)).Reshape(1).Expand(n).Contiguous();
            var dx = Tensor.EmptyLike(probs);
            probs.Backend.SoftmaxCrossEntropyBackward(probs, t, labelSmoothing, perRow, dx);
            return new[] { dx };
        }, saved: new[] { probs });
    }

    /// <summary>Negative log-likelihood of log-probabilities (N, K) against targets, averaged over N.</summary>
    public static Tensor NllLoss(Tensor logProbs, int[] targets)
    {
        if (logProbs.Rank != 2 || targets.Length != logProbs.Size(0))
            throw new ArgumentException($"NllLoss: log-probabilities {logProbs.Layout} and {targets.Length} targets do not match ((N, K) and N)");
        int k = logProbs.Size(1);
        var onehot = new double[logProbs.NumElements];
        for (int i = 0; i < targets.Length; i++)
        {
            if ((uint)targets[i] >= (uint)k) throw new ArgumentException($"NllLoss: target {targets[i]} at row {i} is outside [0, {k})");
            onehot[i * k + targets[i]] = -1.0 / targets.Length;
        }
        var w = Tensor.FromArray(onehot, logProbs.Shape).To(logProbs.DType);
        return (logProbs * w).Sum();
    }
}
