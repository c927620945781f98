// Plain CPU loops with the exact semantics of our CUDA kernels (Kernels/*.cu): the oracle for GPU tests and the spec to read first.
namespace SeFramework.Cuda.Kernels;

/// <summary>Reference implementations of every kernel in Kernels/*.cu, on contiguous float arrays (NCHW; planes = N*C, hw = H*W).</summary>
public static class KernelReference
{
    // f, x, y: (N, C, H, W); a: (N, C) -> f = a[n,c] * x + y (then ReLU)
    public static void AxpyForward(float[] f, float[] a, float[] x, float[] y, int planes, int hw, bool relu)
    {
        for (int p = 0; p < planes; p++)
            for (int j = 0; j < hw; j++)
            {
                int i = p * hw + j;
                float v = MathF.FusedMultiplyAdd(a[p], x[i], y[i]);
                f[i] = relu ? MathF.Max(v, 0f) : v;
            }
    }

    // df, x, f: (N, C, H, W); a: (N, C) -> dx = a * g, dy = g, da[p] = sum g * x; g = df masked by f > 0 when relu.
    public static void AxpyBackward(float[] dx, float[] dy, float[] da, float[] df, float[] a, float[] x, float[]? f, int planes, int hw, bool relu)
    {
        for (int p = 0; p < planes; p++)
        {
            double acc = 0;
            for (int j = 0; j < hw; j++)
            {
                int i = p * hw + j;
                float g = relu && !(f![i] > 0f) ? 0f : df[i];
                dx[i] = a[p] * g;
                dy[i] = g;
                acc += (double)g * x[i];
            }
            da[p] = (float)acc;
        }
    }

    // x: (N, C, H, W) -> y: (N, C) = mean over H, W
    public static void GapForward(float[] y, float[] x, int planes, int hw)
    {
        for (int p = 0; p < planes; p++)
        {
            double s = 0;
            for (int j = 0; j < hw; j++) s += x[p * hw + j];
            y[p] = (float)(s / hw);
        }
    }

    // dy: (N, C) -> dx: (N, C, H, W) = dy / hw
    public static void GapBackward(float[] dx, float[] dy, int planes, int hw)
    {
        for (int p = 0; p < planes; p++)
            for (int j = 0; j < hw; j++) dx[p * hw + j] = dy[p] * (1f / hw);
    }

    public static float Sigmoid(float x) => 1f / (1f + MathF.Exp(-x));

    // logits: (rows, k), labels: (rows) -> loss: (rows) = lse - logits[label], lse: (rows); NaN loss for a label outside [0, k)
    public static void SoftmaxCrossEntropyForward(float[] loss, float[] lse, float[] logits, int[] labels, int rows, int k)
    {
        for (int r = 0; r < rows; r++)
        {
            float m = float.NegativeInfinity;
            for (int j = 0; j < k; j++) m = MathF.Max(m, logits[r * k + j]);
            double s = 0;
            for (int j = 0; j < k; j++) s += Math.Exp(logits[r * k + j] - m);
            float l = m + (float)Math.Log(s);
            lse[r] = l;
            loss[r] = labels[r] >= 0 && labels[r] < k ? l - logits[r * k + labels[r]] : float.NaN;
        }
    }

    // -> dlogits: (rows, k) = g[r] * (exp(logits - lse[r]) - [j == label])
    public static void SoftmaxCrossEntropyBackward(float[] dlogits, float[] logits, float[] lse, int[] labels, float[] g, int rows, int k)
    {
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < k; j++)
                dlogits[r * k + j] = g[r] * (MathF.Exp(logits[r * k + j] - lse[r]) - (j == labels[r] ? 1f : 0f));
    }

    // One torch.optim.SGD step on one tensor: p, g, m (momentum buffer, unused when momentum == 0): (n).
    public static void SgdStep(float[] p, float[] g, float[]? m, float lr, float momentum, float dampening, float weightDecay, bool nesterov, bool firstStep)
    {
        for (int i = 0; i < p.Length; i++)
        {
            float d = g[i];
            if (weightDecay != 0f) d = MathF.FusedMultiplyAdd(weightDecay, p[i], d);
            if (momentum != 0f)
            {
                float buf = firstStep ? d : MathF.FusedMultiplyAdd(momentum, m![i], (1f - dampening) * d);
                m![i] = buf;
                d = nesterov ? MathF.FusedMultiplyAdd(momentum, buf, d) : buf;
            }
            p[i] -= lr * d;
        }
    }
}
