// Plain direct-loop reference kernels for the neural-network ops (conv, pooling, GAP, batch norm, Axpy): the oracle the
// tests compare the fast CPU kernels (and other backends) against. Written for clarity, not speed; never on a hot path.
using System.Numerics;
using SeFramework.Backends;

namespace SeFramework.Cpu;

internal static class ReferenceNn
{
    // ---- convolution ----

    // Every (output, input, weight) index triple of the convolution that does not fall in the padding, in (n, k, p, q,
    // c, r, s) order: y[Y] = Σ x[X]·w[Wt] over the triples with that Y.
    private static IEnumerable<(int Y, int X, int Wt)> ConvTaps(Conv2dGeometry g)
    {
        int cg = g.CPerGroup, kg = g.KPerGroup;
        for (int n = 0; n < g.N; n++)
            for (int k = 0; k < g.K; k++)
                for (int p = 0; p < g.P; p++)
                    for (int q = 0; q < g.Q; q++)
                    {
                        int yi = ((n * g.K + k) * g.P + p) * g.Q + q;
                        for (int c = 0; c < cg; c++)
                        {
                            int ci = k / kg * cg + c;
                            for (int r = 0; r < g.R; r++)
                                for (int s = 0; s < g.S; s++)
                                {
                                    int ih = p * g.Stride - g.Padding + r * g.Dilation;
                                    int iw = q * g.Stride - g.Padding + s * g.Dilation;
                                    if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) continue;
                                    yield return (yi, ((n * g.C + ci) * g.H + ih) * g.W + iw, ((k * cg + c) * g.R + r) * g.S + s);
                                }
                        }
                    }
    }

    // x: (N, C, H, W), w: (K, C/G, R, S), bias: (K) or empty -> y: (N, K, P, Q)
    public static void Conv2dForward<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> w, ReadOnlySpan<T> bias, Span<T> y, Conv2dGeometry g)
        where T : IFloatingPointIeee754<T>
    {
        int pq = g.P * g.Q;
        for (int i = 0; i < y.Length; i++) y[i] = bias.IsEmpty ? T.Zero : bias[i / pq % g.K];
        foreach (var (yi, xi, wi) in ConvTaps(g)) y[yi] += x[xi] * w[wi];
    }

    // dy: (N, K, P, Q), w: (K, C/G, R, S) -> dx: (N, C, H, W)
    public static void Conv2dBackwardData<T>(ReadOnlySpan<T> dy, ReadOnlySpan<T> w, Span<T> dx, Conv2dGeometry g)
        where T : IFloatingPointIeee754<T>
    {
        dx.Clear();
        foreach (var (yi, xi, wi) in ConvTaps(g)) dx[xi] += dy[yi] * w[wi];
    }

    // x: (N, C, H, W), dy: (N, K, P, Q) -> dw: (K, C/G, R, S), dbias: (K) (skipped when empty)
    public static void Conv2dBackwardFilter<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> dy, Span<T> dw, Span<T> dbias, Conv2dGeometry g)
        where T : IFloatingPointIeee754<T>
    {
        dw.Clear();
        dbias.Clear();
        int pq = g.P * g.Q;
        if (!dbias.IsEmpty)
            for (int i = 0; i < g.N * g.K * pq; i++) dbias[i / pq % g.K] += dy[i];
        foreach (var (yi, xi, wi) in ConvTaps(g)) dw[wi] += dy[yi] * x[xi];
    }

    // ---- pooling ----

    // x: (N, C, H, W) -> y: (N, C, P, Q). Each window is scanned cell by cell with a bounds test per cell.
    public static void Pool2dForward<T>(PoolMode mode, ReadOnlySpan<T> x, Span<T> y, Pool2dGeometry g) where T : IFloatingPointIeee754<T>
    {
        for (int plane = 0; plane < g.N * g.C; plane++)
            for (int p = 0; p < g.P; p++)
                for (int q = 0; q < g.Q; q++)
                {
                    var (cells, divisor, best) = ScanWindow(mode, x, plane, p, q, g);
                    T value;
                    if (mode == PoolMode.Max) value = best < 0 ? T.NegativeInfinity : x[best];
                    else
                    {
                        T sum = T.Zero;
                        foreach (int i in cells) sum += x[i];
                        value = cells.Count == 0 ? T.Zero : sum / T.CreateTruncating(divisor);
                    }
                    y[(plane * g.P + p) * g.Q + q] = value;
                }
    }

    // dy: (N, C, P, Q) -> dx: (N, C, H, W)
    public static void Pool2dBackward<T>(PoolMode mode, ReadOnlySpan<T> x, ReadOnlySpan<T> dy, Span<T> dx, Pool2dGeometry g) where T : IFloatingPointIeee754<T>
    {
        dx.Clear();
        for (int plane = 0; plane < g.N * g.C; plane++)
            for (int p = 0; p < g.P; p++)
                for (int q = 0; q < g.Q; q++)
                {
                    var (cells, divisor, best) = ScanWindow(mode, x, plane, p, q, g);
                    T d = dy[(plane * g.P + p) * g.Q + q];
                    if (mode == PoolMode.Max)
                    {
                        if (best >= 0) dx[best] += d;
                    }
                    else
                    {
                        foreach (int i in cells) dx[i] += d / T.CreateTruncating(divisor);
                    }
                }
    }

    // The input cells of window (p, q) of one plane, the PyTorch average divisor, and the first max cell (-1 if none).
    private static (List<int> Cells, int Divisor, int Best) ScanWindow<T>(PoolMode mode, ReadOnlySpan<T> x, int plane, int p, int q, Pool2dGeometry g)
        where T : IFloatingPointIeee754<T>
    {
        var cells = new List<int>();
        int h0 = p * g.Stride - g.Padding, w0 = q * g.Stride - g.Padding;
        // PyTorch counts the padded window, but never past the right/bottom padding.
        int paddedH = Math.Min(h0 + g.Kernel, g.H + g.Padding) - h0;
        int paddedW = Math.Min(w0 + g.Kernel, g.W + g.Padding) - w0;
        int best = -1;
        for (int i = 0; i < g.Kernel; i++)
            for (int j = 0; j < g.Kernel; j++)
            {
                int ih = h0 + i, iw = w0 + j;
                if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) continue;
                int idx = (plane * g.H + ih) * g.W + iw;
                cells.Add(idx);
                if (best < 0 || x[idx] > x[best] || (T.IsNaN(x[idx]) && !T.IsNaN(x[best]))) best = idx;
            }
        int divisor = mode == PoolMode.AverageIncludePad ? paddedH * paddedW : cells.Count;
        return (cells, divisor, best);
    }

    // ---- global average pooling ----

    // x: (N, C, H, W) -> y: (N, C)
    public static void GlobalAvgPool<T>(ReadOnlySpan<T> x, Span<T> y, int planes, int area) where T : IFloatingPointIeee754<T>
    {
        for (int i = 0; i < planes; i++)
        {
            T sum = T.Zero;
            for (int j = 0; j < area; j++) sum += x[i * area + j];
            y[i] = sum / T.CreateTruncating(area);
        }
    }

    // ---- batch norm ----

    // x: (N, C, L) -> y (same), with the batch statistics (training) or the given mean/var (eval); relu: y = max(y, 0).
    // mean/var: (C) in: used when !training; out: the batch mean and biased variance when training.
    public static void BatchNormForward(double[] x, double[]? weight, double[]? bias, double[] y, double[] mean, double[] var,
        bool training, double eps, int n, int c, int l, bool relu = false)
    {
        int m = n * l;
        for (int ch = 0; ch < c; ch++)
        {
            if (training)
            {
                double s = 0;
                for (int b = 0; b < n; b++) for (int i = 0; i < l; i++) s += x[(b * c + ch) * l + i];
                mean[ch] = s / m;
                double v = 0;
                for (int b = 0; b < n; b++) for (int i = 0; i < l; i++) v += Math.Pow(x[(b * c + ch) * l + i] - mean[ch], 2);
                var[ch] = v / m;
            }
            for (int b = 0; b < n; b++)
                for (int i = 0; i < l; i++)
                {
                    int at = (b * c + ch) * l + i;
                    y[at] = (x[at] - mean[ch]) / Math.Sqrt(var[ch] + eps) * (weight?[ch] ?? 1) + (bias?[ch] ?? 0);
                    if (relu && !(y[at] > 0)) y[at] = 0;
                }
        }
    }

    // Textbook chain rule through x̂ = (x − μ)/σ, σ² and μ (Ioffe & Szegedy 2015, Algorithm 1's backward), not the
    // collapsed formula the fast kernel uses. mean/var: batch stats (training) or running stats (eval).
    // reluOutput (the forward's y with relu): dy is first masked by reluOutput > 0 (the ReLU's backward).
    public static void BatchNormBackward(double[] x, double[] dy, double[]? weight, double[] mean, double[] var, bool training, double eps,
        double[] dx, double[] dweight, double[] dbias, int n, int c, int l, double[]? reluOutput = null)
    {
        int m = n * l;
        if (reluOutput != null)
        {
            var masked = new double[dy.Length];
            for (int i = 0; i < dy.Length; i++) masked[i] = reluOutput[i] > 0 ? dy[i] : 0;
            dy = masked;
        }
        for (int ch = 0; ch < c; ch++)
        {
            double gamma = weight?[ch] ?? 1, sd = Math.Sqrt(var[ch] + eps);
            double dGamma = 0, dBeta = 0, dVar = 0, dMean = 0, sumCentered = 0;
            for (int b = 0; b < n; b++)
                for (int i = 0; i < l; i++)
                {
                    int at = (b * c + ch) * l + i;
                    double xhat = (x[at] - mean[ch]) / sd;
                    dGamma += dy[at] * xhat;
                    dBeta += dy[at];
                    double dxhat = dy[at] * gamma;
                    dVar += dxhat * (x[at] - mean[ch]) * -0.5 * Math.Pow(var[ch] + eps, -1.5);
                    dMean += -dxhat / sd;
                    sumCentered += x[at] - mean[ch];
                }
            dMean += dVar * -2.0 * sumCentered / m;
            dweight[ch] = dGamma;
            dbias[ch] = dBeta;
            for (int b = 0; b < n; b++)
                for (int i = 0; i < l; i++)
                {
                    int at = (b * c + ch) * l + i;
                    double dxhat = dy[at] * gamma;
                    dx[at] = training ? dxhat / sd + dVar * 2.0 * (x[at] - mean[ch]) / m + dMean / m : dxhat / sd;
                }
        }
    }

    // ---- Axpy ----

    // a: (N, C), x, y: (N, C, H, W) (y empty: channel scale) -> o = a·x + y, then ReLU if relu.
    public static void Axpy<T>(ReadOnlySpan<T> a, ReadOnlySpan<T> x, ReadOnlySpan<T> y, Span<T> o, bool relu, int n, int c, int area)
        where T : IFloatingPointIeee754<T>
    {
        for (int b = 0; b < n; b++)
            for (int ch = 0; ch < c; ch++)
                for (int i = 0; i < area; i++)
                {
                    int at = (b * c + ch) * area + i;
                    T v = a[b * c + ch] * x[at] + (y.IsEmpty ? T.Zero : y[at]);
                    o[at] = relu && !(v > T.Zero) ? T.Zero : v;
                }
    }

    // The gradients of Axpy for all three inputs, from the output's gradient and the output (for the ReLU mask).
    public static void AxpyBackward<T>(ReadOnlySpan<T> a, ReadOnlySpan<T> x, ReadOnlySpan<T> o, ReadOnlySpan<T> dout, bool relu,
        Span<T> da, Span<T> dx, Span<T> dy, int n, int c, int area) where T : IFloatingPointIeee754<T>
    {
        for (int b = 0; b < n; b++)
            for (int ch = 0; ch < c; ch++)
            {
                T acc = T.Zero;
                for (int i = 0; i < area; i++)
                {
                    int at = (b * c + ch) * area + i;
                    T g = relu && !(o[at] > T.Zero) ? T.Zero : dout[at];
                    dx[at] = a[b * c + ch] * g;
                    dy[at] = g;
                    acc += g * x[at];
                }
                da[b * c + ch] = acc;
            }
    }
}
