// Functional neural-network ops (conv, pooling, batch norm, GAP, Axpy, dropout): the signatures the nn modules and
// models call. Each checks its arguments, calls the backend, and records a closed-form backward.
using SeFramework.Autograd;
using SeFramework.Backends;

namespace SeFramework;

public static partial class F
{
    // ---- memory/speed trade-off ----

    [ThreadStatic] private static int t_recomputeBatchNormDepth;

    /// <summary>Whether batch-norm outputs read by Axpy (the SE block's residual branch) are recomputed in backward
    /// instead of kept from the forward, on this thread. Recomputing saves one activation per SE block (~110 MiB of
    /// se_resnet50's training peak at batch 8) but runs a batch-norm forward again per block in backward (~6 % of that
    /// step on 2 cores); gradients are bit-identical either way. Off unless a <see cref="RecomputeBatchNormOutputs"/>
    /// scope is open.</summary>
    public static bool RecomputesBatchNormOutputs => t_recomputeBatchNormDepth > 0;

    /// <summary>Opens a scope (on this thread) in which batch-norm outputs read by Axpy are recomputed in backward instead
    /// of kept: less memory, more time. Dispose to restore.</summary>
    public static RecomputeScope RecomputeBatchNormOutputs()
    {
        t_recomputeBatchNormDepth++;
        return new RecomputeScope();
    }

    public readonly struct RecomputeScope : IDisposable
    {
        public void Dispose() => t_recomputeBatchNormDepth--;
    }

    // ---- argument checks shared by the ops (they throw before any kernel runs) ----

    private static void RequireRank(string op, string what, Tensor t, int rank, string layout)
    {
        if (t.Rank != rank)
            throw new ArgumentException($"{op}: {what} must have rank {rank} {layout}, but has shape {t.Layout}; reshape it first.");
    }

    private static void RequireMatch(string op, Tensor a, Tensor? b, string bName)
    {
        if (b == null) return;
        if (a.Device != b.Device) throw new ArgumentException($"{op}: {bName} is on {b.Device} but the input is on {a.Device}; move it with .To(device).");
        if (a.DType != b.DType) throw new ArgumentException($"{op}: {bName} is {b.DType} but the input is {a.DType}; convert it with .To(dtype).");
    }

    private static void RequireVector(string op, string what, Tensor? t, int length)
    {
        if (t != null && (t.Rank != 1 || t.Size(0) != length))
            throw new ArgumentException($"{op}: {what} must have shape [{length}] (one value per channel), but has shape {t.Layout}.");
    }

    /// <summary>A contiguous version of t, made without recording (the op records against t itself).</summary>
    private static Tensor Dense(Tensor t)
    {
        if (t.IsContiguous) return t;
        using var _ = Autograd.Autograd.NoGrad();
        return t.Contiguous();
    }

    private static Tensor? DenseOrNull(Tensor? t) => t == null ? null : Dense(t);

    /// <summary>Frees <paramref name="temporary"/> when it is a copy a backward made of <paramref name="source"/>
    /// (Dense, masks): nothing outside the closure sees it, so it need not wait for the scope's end.</summary>
    private static void FreeCopy(Tensor temporary, Tensor source)
    {
        if (!ReferenceEquals(temporary.Storage, source.Storage)) temporary.Storage.Dispose();
    }

    // ---- convolution ----

    // The checks every convolution entry point makes, and its geometry. x: (N, C, H, W), weight: (K, C/groups, R, S), bias: (K).
    private static Conv2dGeometry ConvGeometry(string op, Tensor x, Tensor weight, Tensor? bias, int stride, int padding, int dilation, int groups)
    {
        RequireRank(op, "input", x, 4, "(N, C, H, W)");
        RequireRank(op, "weight", weight, 4, "(K, C/groups, R, S)");
        RequireMatch(op, x, weight, "weight");
        RequireMatch(op, x, bias, "bias");
        x.DType.RequireCpuComputable(op);
        if (stride <= 0) throw new ArgumentException($"{op}: stride must be positive, not {stride}.");
        if (dilation <= 0) throw new ArgumentException($"{op}: dilation must be positive, not {dilation}.");
        if (padding < 0) throw new ArgumentException($"{op}: padding must be ≥ 0, not {padding}.");
        if (groups <= 0) throw new ArgumentException($"{op}: groups must be positive, not {groups}.");
        int n = x.Size(0), c = x.Size(1), h = x.Size(2), w = x.Size(3);
        int k = weight.Size(0), cPerGroup = weight.Size(1), r = weight.Size(2), s = weight.Size(3);
        if (k <= 0 || cPerGroup <= 0 || r <= 0 || s <= 0)
            throw new ArgumentException($"{op}: weight {weight.Layout} has an empty dimension; every size of (K, C/groups, R, S) must be positive.");
        if (c % groups != 0)
            throw new ArgumentException($"{op}: input channels {c} (input {x.Layout}) are not divisible by groups {groups}.");
        if (k % groups != 0)
            throw new ArgumentException($"{op}: output channels {k} (weight {weight.Layout}) are not divisible by groups {groups}.");
        if (cPerGroup * groups != c)
            throw new ArgumentException($"{op}: weight {weight.Layout} expects {cPerGroup * groups} input channels ({cPerGroup} per group × {groups} groups), but the input {x.Layout} has {c}; its dim 1 must be C/groups = {c / groups}.");
        RequireVector(op, "bias", bias, k);
        int effR = dilation * (r - 1) + 1, effS = dilation * (s - 1) + 1;
        if (effR > h + 2 * padding || effS > w + 2 * padding)
            throw new ArgumentException($"{op}: kernel {r}×{s} (dilation {dilation}: {effR}×{effS}) is larger than the padded input {h + 2 * padding}×{w + 2 * padding} (input {x.Layout}, padding {padding}); use a larger input or more padding.");
        int p = Conv2dGeometry.OutputSize(h, r, stride, padding, dilation), q = Conv2dGeometry.OutputSize(w, s, stride, padding, dilation);
        return new Conv2dGeometry(n, c, h, w, k, r, s, p, q, stride, padding, dilation, groups);
    }

    /// <summary>2-D convolution. x: (N, C, H, W), weight: (K, C/groups, R, S), bias: (K) → (N, K, P, Q)
    /// with P = floor((H + 2·padding − dilation·(R − 1) − 1)/stride) + 1 (Q likewise).</summary>
    public static Tensor Conv2d(Tensor x, Tensor weight, Tensor? bias = null, int stride = 1, int padding = 0, int dilation = 1, int groups = 1)
    {
        const string op = "Conv2d";
        var g = ConvGeometry(op, x, weight, bias, stride, padding, dilation, groups);
        int n = g.N, k = g.K, p = g.P, q = g.Q;
        var xd = Dense(x);
        var wd = Dense(weight);
        var y = Tensor.Empty(new[] { n, k, p, q }, x.DType, x.Device);
        x.Backend.Conv2dForward(xd, wd, DenseOrNull(bias), y, g);
        return GradNode.Record(op, y, new[] { x, weight, bias }, dy =>
        {
            var dyd = Dense(dy);
            Tensor? dx = null, dw = null, db = null;
            if (x.RequiresGrad)
            {
                dx = Tensor.Empty(x.Shape, x.DType, x.Device);
                x.Backend.Conv2dBackwardData(dyd, wd, dx, g);
            }
            if (weight.RequiresGrad) dw = Tensor.Empty(weight.Shape, weight.DType, weight.Device);
            if (bias is { RequiresGrad: true }) db = Tensor.Empty(bias.Shape, bias.DType, bias.Device);
            if (dw != null || db != null) x.Backend.Conv2dBackwardFilter(xd, dyd, dw, db, g);
            FreeCopy(dyd, dy);
            return new[] { dx, dw, db };
        }, saved: new[] { xd, wd });
    }

    /// <summary>Inference only: relu?(bn(conv(x))) with the batch norm's running statistics folded into the convolution
    /// (PyTorch's fuse_conv_bn_eval): y = conv(x, weight)·scale + shift per output channel with the batch norm's own
    /// scale = γ/√(var + ε) and shift = β − (mean − bias)·scale, and the ReLU in the same pass (the CPU applies both to each
    /// output tile while it is in cache). Equal to Conv2d → BatchNorm2d (eval) → ReLU up to float rounding (the conv bias
    /// is folded into the shift, and the map is one fused multiply-add). Not differentiable: it throws when autograd would
    /// record (inputs or parameters that require grad, outside Autograd.NoGrad()); train with the three ops.
    /// x: (N, C, H, W), weight: (K, C/groups, R, S), bias, running stats, γ, β: (K) → (N, K, P, Q).</summary>
    public static Tensor Conv2dBatchNormInference(Tensor x, Tensor weight, Tensor? bias, int stride, int padding, int dilation, int groups,
        Tensor runningMean, Tensor runningVar, Tensor? bnWeight, Tensor? bnBias, double eps, bool relu)
    {
        const string op = "Conv2dBatchNormInference";
        var g = ConvGeometry(op, x, weight, bias, stride, padding, dilation, groups);
        foreach (var (t, name) in new[] { (runningMean, "running mean"), (runningVar, "running variance"), (bnWeight, "batch-norm weight"), (bnBias, "batch-norm bias") })
        {
            RequireMatch(op, x, t, name);
            RequireVector(op, name, t, g.K);
        }
        if (!(eps >= 0)) throw new ArgumentException($"{op}: eps must be ≥ 0 (1e-5 is usual), not {eps}.");
        if (GradNode.WillRecord(x, weight, bias, bnWeight, bnBias))
            throw new InvalidOperationException($"{op} is for inference and has no backward: run it under Autograd.NoGrad() (or with parameters that do not require grad), or use Conv2d, BatchNorm2d and Relu to train.");
        var xd = Dense(x);
        var wd = Dense(weight);
        var vectors = new[] { bias, runningMean, runningVar, bnWeight, bnBias };
        var dense = vectors.Select(DenseOrNull).ToArray();
        var y = Tensor.Empty(new[] { g.N, g.K, g.P, g.Q }, x.DType, x.Device);
        x.Backend.Conv2dBatchNormInference(xd, wd, dense[0], dense[1]!, dense[2]!, dense[3], dense[4], eps, y, g, relu);
        FreeCopy(xd, x);
        FreeCopy(wd, weight);
        for (int i = 0; i < vectors.Length; i++)
            if (dense[i] != null) FreeCopy(dense[i]!, vectors[i]!);
        return y;
    }

    // ---- pooling ----

    /// <summary>Max pooling. x: (N, C, H, W) → (N, C, P, Q). stride 0 means stride = kernel.</summary>
    public static Tensor MaxPool2d(Tensor x, int kernel, int stride = 0, int padding = 0, bool ceilMode = false)
        => Pool2d("MaxPool2d", PoolMode.Max, x, kernel, stride, padding, ceilMode);

    /// <summary>Average pooling. x: (N, C, H, W) → (N, C, P, Q). stride 0 means stride = kernel. The divisor is PyTorch's:
    /// with countIncludePad the window clipped to the padded input (a ceil-mode window hanging past the right padding
    /// counts only up to it), otherwise the number of input cells in the window.</summary>
    public static Tensor AvgPool2d(Tensor x, int kernel, int stride = 0, int padding = 0, bool ceilMode = false, bool countIncludePad = true)
        => Pool2d("AvgPool2d", countIncludePad ? PoolMode.AverageIncludePad : PoolMode.AverageExcludePad, x, kernel, stride, padding, ceilMode);

    private static Tensor Pool2d(string op, PoolMode mode, Tensor x, int kernel, int stride, int padding, bool ceilMode)
    {
        RequireRank(op, "input", x, 4, "(N, C, H, W)");
        x.DType.RequireCpuComputable(op);
        if (kernel <= 0) throw new ArgumentException($"{op}: kernel size must be positive, not {kernel}.");
        if (stride == 0) stride = kernel;
        if (stride < 0) throw new ArgumentException($"{op}: stride must be positive (or 0 for stride = kernel), not {stride}.");
        if (padding < 0) throw new ArgumentException($"{op}: padding must be ≥ 0, not {padding}.");
        if (padding > kernel / 2)
            throw new ArgumentException($"{op}: padding {padding} is more than half the kernel size {kernel}; PyTorch requires padding ≤ kernel/2 = {kernel / 2}.");
        int n = x.Size(0), c = x.Size(1), h = x.Size(2), w = x.Size(3);
        int p = Pool2dGeometry.OutputSize(h, kernel, stride, padding, ceilMode), q = Pool2dGeometry.OutputSize(w, kernel, stride, padding, ceilMode);
        if (p <= 0 || q <= 0)
            throw new ArgumentException($"{op}: kernel {kernel} is larger than the padded input {h + 2 * padding}×{w + 2 * padding} (input {x.Layout}, padding {padding}); the output would be {p}×{q}.");
        var g = new Pool2dGeometry(n, c, h, w, p, q, kernel, stride, padding);

        var xd = Dense(x);
        var y = Tensor.Empty(new[] { n, c, p, q }, x.DType, x.Device);
        x.Backend.Pool2dForward(mode, xd, y, g);
        return GradNode.Record(op, y, new[] { x }, dy =>
        {
            var dx = Tensor.Empty(x.Shape, x.DType, x.Device);
            var dyd = Dense(dy);
            x.Backend.Pool2dBackward(mode, xd, y, dyd, dx, g);
            FreeCopy(dyd, dy);
            return new[] { dx };
        }, saved: new[] { xd, y });
    }

    /// <summary>Global average pooling (the SE squeeze). x: (N, C, H, W) → (N, C, 1, 1).
    /// Its gradient is dy/(H·W) as an (N, C, 1, 1) tensor expanded (stride 0 over H, W) to x's shape, not a full
    /// (N, C, H, W) tensor: the autograd engine adds it into x's other gradient in one pass (the SE block's batch-norm
    /// output is read by this and by Axpy), and a backward that needs it dense materialises it (Dense, Contiguous).</summary>
    public static Tensor GlobalAvgPool(Tensor x)
    {
        const string op = "GlobalAvgPool";
        RequireRank(op, "input", x, 4, "(N, C, H, W)");
        x.DType.RequireCpuComputable(op);
        if (x.Size(2) * x.Size(3) == 0) throw new ArgumentException($"{op}: input {x.Layout} has an empty spatial plane; there is nothing to average.");
        var y = Tensor.Empty(new[] { x.Size(0), x.Size(1), 1, 1 }, x.DType, x.Device);
        x.Backend.GlobalAvgPool(Dense(x), y);
        // The backward needs only x's shape.
        var xShape = x.Shape;
        int area = x.Size(2) * x.Size(3);
        // 1/(H·W) rounded in x's dtype, as the GAP backward kernels compute it (T.One / area), so dy·inv has their bits.
        double inv = x.DType == DType.Float32 ? 1f / area : 1.0 / area;
        return GradNode.Record(op, y, new[] { x }, dy =>
        {
            // dy: (N, C, 1, 1) -> dy·(1/(H·W)) (N, C, 1, 1), viewed as (N, C, H, W) with stride 0 over H and W.
            var dyd = Dense(dy);
            var share = dyd * inv;
            FreeCopy(dyd, dy);
            return new[] { share.Expand(xShape) };
        }, saved: Array.Empty<Tensor?>());
    }

    // ---- batch norm ----

    /// <summary>Batch norm over (N, H, W) per channel. x: (N, C, H, W) (also (N, C) or (N, C, L)); weight, bias, running
    /// stats: (C). Training, or no running stats given: batch mean and biased variance normalise, and the running stats
    /// (when given, in training) are updated in place with momentum and the unbiased variance, as PyTorch does.
    /// Eval: the running stats normalise.</summary>
    public static Tensor BatchNorm2d(Tensor x, Tensor? runningMean, Tensor? runningVar, Tensor? weight, Tensor? bias, bool training, double momentum = 0.1, double eps = 1e-5)
        => BatchNormCore("BatchNorm2d", x, runningMean, runningVar, weight, bias, training, momentum, eps, relu: false);

    /// <summary>relu(BatchNorm2d(x, ...)) as one op: the batch-norm kernel writes max(bn(x), 0) once, and its backward
    /// masks the gradient by that output inside its own passes, so the pair keeps one activation for backward instead
    /// of two (the memory of PyTorch's in-place ReLU) and costs no pass of its own in either direction. Same arguments
    /// and bit-identical results as the two ops in sequence.</summary>
    public static Tensor BatchNorm2dRelu(Tensor x, Tensor? runningMean, Tensor? runningVar, Tensor? weight, Tensor? bias, bool training, double momentum = 0.1, double eps = 1e-5)
        => BatchNormCore("BatchNorm2dRelu", x, runningMean, runningVar, weight, bias, training, momentum, eps, relu: true);

    // x: (N, C, ...) -> y (same shape); relu: y = max(bn(x), 0), written once by the kernel.
    private static Tensor BatchNormCore(string op, Tensor x, Tensor? runningMean, Tensor? runningVar, Tensor? weight, Tensor? bias, bool training, double momentum, double eps, bool relu)
    {
        if (x.Rank < 2 || x.Rank > 4)
            throw new ArgumentException($"{op}: input must be (N, C, H, W) (or (N, C) / (N, C, L)), but has shape {x.Layout}.");
        x.DType.RequireCpuComputable(op);
        int c = x.Size(1);
        foreach (var (t, name) in new[] { (runningMean, "running mean"), (runningVar, "running variance"), (weight, "weight"), (bias, "bias") })
        {
            RequireMatch(op, x, t, name);
            RequireVector(op, name, t, c);
        }
        if ((runningMean == null) != (runningVar == null))
            throw new ArgumentException($"{op}: pass both running mean and running variance, or neither (got only the {(runningMean == null ? "variance" : "mean")}).");
        if (!(eps >= 0)) throw new ArgumentException($"{op}: eps must be ≥ 0 (1e-5 is usual), not {eps}.");
        if (!(momentum >= 0 && momentum <= 1)) throw new ArgumentException($"{op}: momentum must be in [0, 1], not {momentum}.");
        foreach (var (t, name) in new[] { (runningMean, "running mean"), (runningVar, "running variance") })
            if (t != null && !t.IsContiguous) throw new ArgumentException($"{op}: the {name} is updated in place and must be contiguous.");
        long perChannel = x.NumElements / Math.Max(1, c);
        bool batchStats = training || runningMean == null;
        if (batchStats && perChannel <= 1)
            throw new ArgumentException($"{op}: training needs more than one value per channel to compute a variance, but the input is {x.Layout}; use a larger batch or eval mode.");

        var xd = Dense(x);
        var wd = DenseOrNull(weight);
        var bd = DenseOrNull(bias);
        var y = Tensor.Empty(x.Shape, x.DType, x.Device);
        bool record = GradNode.WillRecord(x, weight, bias);
        // Saved statistics: (C) batch mean and 1/sqrt(var + eps) (training) or the same from the running stats (eval).
        var mean = batchStats || record ? Tensor.Empty(new[] { c }, x.DType, x.Device) : null;
        var invStd = batchStats || record ? Tensor.Empty(new[] { c }, x.DType, x.Device) : null;
        if (batchStats)
            x.Backend.BatchNormForwardTraining(xd, wd, bd, y, mean!, invStd!, training ? runningMean : null, training ? runningVar : null, momentum, eps, relu);
        else
            x.Backend.BatchNormForwardInference(xd, wd, bd, runningMean!, runningVar!, y, mean, invStd, eps, relu);
        if (!record) return y;
        if (!relu && RecomputesBatchNormOutputs)
        {
            // y = bn(x) is recomputable from what the node saves anyway (x, γ, β; the batch statistics come out the
            // same because the kernel is deterministic), so a consumer such as Axpy need not keep y. Running stats are
            // not passed again: training updates them once, in the forward above; eval reads them unchanged.
            var rm = batchStats ? null : runningMean;
            var rv = batchStats ? null : runningVar;
            y.Recompute = new Recompute(() =>
            {
                var again = Tensor.Empty(xd.Shape, xd.DType, xd.Device);
                if (batchStats)
                {
                    var m = Tensor.Empty(new[] { c }, xd.DType, xd.Device);
                    var s = Tensor.Empty(new[] { c }, xd.DType, xd.Device);
                    xd.Backend.BatchNormForwardTraining(xd, wd, bd, again, m, s, null, null, momentum, eps);
                    m.Storage.Dispose();
                    s.Storage.Dispose();
                }
                else
                {
                    xd.Backend.BatchNormForwardInference(xd, wd, bd, rm!, rv!, again, null, null, eps);
                }
                return again;
            }, new[] { xd, wd, bd, rm, rv });
        }
        return GradNode.Record(op, y, new[] { x, weight, bias }, dy =>
        {
            var dx = x.RequiresGrad ? Tensor.Empty(x.Shape, x.DType, x.Device) : null;
            var dw = weight is { RequiresGrad: true } ? Tensor.Empty(weight.Shape, weight.DType, weight.Device) : null;
            var db = bias is { RequiresGrad: true } ? Tensor.Empty(bias.Shape, bias.DType, bias.Device) : null;
            var g = Dense(dy);
            // relu'(bn(x)) = [y > 0]: the kernel masks the gradient by the output as it reads it.
            x.Backend.BatchNormBackward(xd, g, wd, mean!, invStd!, batchStats, dx, dw, db, relu ? y : null);
            FreeCopy(g, dy);
            return new[] { dx, dw, db };
        }, saved: new[] { xd, wd, mean, invStd, relu ? y : null });
    }

    // ---- channel scale and Axpy ----

    /// <summary>Channel scale: x * a[n, c]. x: (N, C, H, W), a: (N, C) or (N, C, 1, 1) → (N, C, H, W).</summary>
    public static Tensor ChannelScale(Tensor x, Tensor a) => AxpyCore("ChannelScale", a, x, null, relu: false);

    /// <summary>Axpy (Caffe SENet layer): a[n, c]·x + y. a: (N, C) or (N, C, 1, 1), x, y: (N, C, H, W).</summary>
    public static Tensor Axpy(Tensor a, Tensor x, Tensor y) => AxpyCore("Axpy", a, x, y, relu: false);

    /// <summary>Fused relu(a[n, c]·x + y): the SE scale, the residual sum and the ReLU after it in one pass.</summary>
    public static Tensor AxpyRelu(Tensor a, Tensor x, Tensor y) => AxpyCore("AxpyRelu", a, x, y, relu: true);

    // a: (N, C) or (N, C, 1, 1), x, y: (N, C, H, W) -> (N, C, H, W)
    private static Tensor AxpyCore(string op, Tensor a, Tensor x, Tensor? y, bool relu)
    {
        RequireRank(op, "x", x, 4, "(N, C, H, W)");
        RequireMatch(op, x, a, "the scale a");
        RequireMatch(op, x, y, "y");
        x.DType.RequireCpuComputable(op);
        int n = x.Size(0), c = x.Size(1);
        bool aOk = (a.Rank == 2 && a.Size(0) == n && a.Size(1) == c) || (a.Rank == 4 && a.Size(0) == n && a.Size(1) == c && a.Size(2) == 1 && a.Size(3) == 1);
        if (!aOk)
            throw new ArgumentException($"{op}: the scale a {a.Layout} must be (N, C) = [{n}, {c}] or (N, C, 1, 1) = [{n}, {c}, 1, 1] for x {x.Layout}.");
        if (y != null && !y.Layout.Shape.SequenceEqual(x.Layout.Shape))
            throw new ArgumentException($"{op}: x {x.Layout} and y {y.Layout} must have the same shape.");

        var ad = Dense(a);
        var xd = Dense(x);
        var output = Tensor.Empty(x.Shape, x.DType, x.Device);
        x.Backend.Axpy(ad, xd, DenseOrNull(y), output, relu);
        if (!GradNode.WillRecord(a, x, y)) return output;
        // The backward reads x only for da = Σ g·x. When x is a batch-norm output (the SE block's residual), it is
        // computed again there from the batch norm's saved input instead of being kept from the forward to the backward.
        var recompute = ReferenceEquals(xd, x) ? x.Recompute : null;
        var saved = new List<Tensor?> { ad, output };
        if (recompute != null) saved.AddRange(recompute.Reads);
        else saved.Add(xd);
        return GradNode.Record(op, output, new[] { a, x, y }, g =>
        {
            var da = a.RequiresGrad ? Tensor.Empty(a.Shape, a.DType, a.Device) : null;
            var dx = x.RequiresGrad ? Tensor.Empty(x.Shape, x.DType, x.Device) : null;
            var dy = y is { RequiresGrad: true } ? Tensor.Empty(y.Shape, y.DType, y.Device) : null;
            var gd = Dense(g);
            var xs = recompute != null ? recompute.Compute() : xd;
            x.Backend.AxpyBackward(ad, xs, output, gd, relu, da, dx, dy);
            if (recompute != null) xs.Storage.Dispose();
            FreeCopy(gd, g);
            return new[] { da, dx, dy };
        }, saved.ToArray());
    }

    // ---- dropout ----

    /// <summary>Inverted dropout: zeroes each element with probability p and scales the rest by 1/(1-p) in training.
    /// The mask is drawn element by element in row-major order from <paramref name="rng"/> (default
    /// <see cref="Rng.Default"/>): an element is kept when NextDouble() ≥ p. p = 0 or eval returns x itself.</summary>
    public static Tensor Dropout(Tensor x, double p, bool training, Rng? rng = null)
    {
        if (double.IsNaN(p) || p < 0 || p > 1) throw new ArgumentException($"Dropout: probability must be in [0, 1], not {p}.");
        if (!training || p == 0) return x;
        x.DType.RequireCpuComputable("Dropout");
        rng ??= Rng.Default;
        var values = new double[x.NumElements];
        double scale = p == 1 ? 0 : 1 / (1 - p);
        for (int i = 0; i < values.Length; i++) values[i] = rng.NextDouble() >= p ? scale : 0;
        Tensor mask, y;
        using (Autograd.Autograd.NoGrad())
        {
            mask = Tensor.FromArray(values, x.Shape).To(x.DType).To(x.Device);
            y = x * mask;
        }
        return GradNode.Record("Dropout", y, new[] { x }, g => new[] { g * mask }, saved: new Tensor?[] { mask });
    }
}
