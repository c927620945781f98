// On a CUDA GPU: every op family of CudaBackend against the CPU backend through the public Tensor / F API (inputs built on the
// CPU, copied to CUDA, run, copied back), forward and gradients, float32 and float64; the cuDNN algorithm cache; allocator
// statistics over training steps of a small net. Every test skips with CudaAvailability's reason where there is no GPU.
using SeFramework.Cuda.Backend;
using SeFramework.Cuda.Runtime;
using SeFramework.Nn;
using SeFramework.Optim;

namespace SeFramework.Cuda.Tests.Backend;

public class BackendGpuTests
{
    private static readonly Device Gpu = Device.Cuda();

    private static void RequireGpu()
    {
        var (ok, reason) = CudaAvailability.Check();
        if (!ok) Assert.Skip(reason);
        CudaBackend.Register();
    }

    // Tolerances (relative to 1 + |expected|): float32 results differ by summation order (cuDNN / cuBLAS / block reductions).
    private static double Tol(DType t) => t == DType.Float32 ? 2e-4 : 1e-10;

    private static Tensor Rand(int[] shape, ulong seed, DType dtype = DType.Float32) => Tensor.RandN(shape, new Rng(seed), dtype);

    /// <summary>Runs f on the CPU and on CUDA from the same inputs; returns [output, grad of each input] for each device.</summary>
    private static List<double[]> Run(Tensor[] inputs, Func<Tensor[], Tensor> f, Device dev, ulong seed)
    {
        var leaves = inputs.Select(t => t.To(dev).Detach().RequiresGrad_()).ToArray();
        var y = f(leaves);
        Assert.Equal(dev, y.Device);
        var g = Rand(y.Shape, seed, y.DType).To(dev);
        y.Backward(g);
        var result = new List<double[]> { y.ToDoubleArray() };
        result.AddRange(leaves.Select(l => l.Grad?.ToDoubleArray() ?? []));
        return result;
    }

    private static void Compare(string what, Tensor[] inputs, Func<Tensor[], Tensor> f, double? tol = null, ulong seed = 77)
    {
        var cpu = Run(inputs, f, Device.Cpu, seed);
        var gpu = Run(inputs, f, Gpu, seed);
        double t = tol ?? Tol(inputs[0].DType);
        for (int i = 0; i < cpu.Count; i++) Close(cpu[i], gpu[i], t, i == 0 ? $"{what}: output" : $"{what}: grad of input {i - 1}");
    }

    private static void Compare(string what, Tensor input, Func<Tensor, Tensor> f, double? tol = null) => Compare(what, [input], t => f(t[0]), tol);

    private static void Close(double[] expected, double[] actual, double tol, string what)
    {
        Assert.True(expected.Length == actual.Length, $"{what}: {expected.Length} values on the CPU, {actual.Length} on CUDA");
        for (int i = 0; i < expected.Length; i++)
        {
            if (double.IsNaN(expected[i]) && double.IsNaN(actual[i])) continue;
            if (!(Math.Abs(expected[i] - actual[i]) <= tol * (1 + Math.Abs(expected[i]))))
                Assert.Fail($"{what}: element {i}: CPU {expected[i]}, CUDA {actual[i]} (tolerance {tol})");
        }
    }

    public static TheoryData<DType> DTypes => new() { DType.Float32, DType.Float64 };

    [Theory]
    [MemberData(nameof(DTypes))]
    public void Copies_round_trip_with_casts_and_strided_views(DType dtype)
    {
        RequireGpu();
        var x = Rand(new[] { 3, 4, 5 }, 1, dtype);
        var back = x.To(Gpu).To(Device.Cpu);
        Assert.Equal(x.ToDoubleArray(), back.ToDoubleArray());
        var other = dtype == DType.Float32 ? DType.Float64 : DType.Float32;
        Close(x.To(other).ToDoubleArray(), x.To(Gpu).To(other).To(Device.Cpu).ToDoubleArray(), 0, "cast on device");
        // device strided copies: permute, slice with step, expand
        var g = x.To(Gpu);
        Close(x.Permute(2, 0, 1).Contiguous().ToDoubleArray(), g.Permute(2, 0, 1).Contiguous().ToDoubleArray(), 0, "permute");
        Close(x.Slice(2, 1, 5, 2).Contiguous().ToDoubleArray(), g.Slice(2, 1, 5, 2).Contiguous().ToDoubleArray(), 0, "slice");
        Close(x.Narrow(1, 1, 1).Expand(3, 6, 5).Contiguous().ToDoubleArray(), g.Narrow(1, 1, 1).Expand(3, 6, 5).Contiguous().ToDoubleArray(), 0, "expand");
        // host -> device into a strided destination, and a strided device source straight to the host
        var dst = Tensor.Zeros(new[] { 5, 3, 4 }, dtype, Gpu).Permute(1, 2, 0);
        dst.CopyFrom(x);
        Close(x.ToDoubleArray(), dst.ToDoubleArray(), 0, "CopyFrom into a permuted CUDA view");
        Close(x.Permute(1, 0, 2).To(other).ToDoubleArray(), g.Permute(1, 0, 2).To(other).To(Device.Cpu).ToDoubleArray(), 0, "strided cast");
        Assert.Equal(3.5, Tensor.Full(new[] { 2, 2 }, 3.5, dtype, Gpu).ToDoubleArray()[3]);
        Assert.All(Tensor.Zeros(new[] { 1000 }, dtype, Gpu).ToDoubleArray(), v => Assert.Equal(0, v));
    }

    [Theory]
    [MemberData(nameof(DTypes))]
    public void Unary_ops_and_gradients_match_the_cpu_on_strided_inputs(DType dtype)
    {
        RequireGpu();
        var x = Rand(new[] { 4, 3, 5 }, 2, dtype);
        var pos = x.Abs() + 0.5;
        Compare("neg", x, t => -t.Permute(2, 1, 0));
        Compare("exp", x, t => t.Permute(1, 0, 2).Exp());
        Compare("log", pos, t => t.Log());
        Compare("sqrt", pos, t => t.Sqrt());
        Compare("relu", x, t => t.Relu());
        Compare("sigmoid", x, t => t.Sigmoid());
        Compare("tanh", x, t => t.Tanh());
        Compare("pow", pos, t => t.Pow(2.5));
        Compare("mul scalar", x, t => t * 3.0);
        Compare("add scalar", x, t => t + 1.25);
        Compare("abs", x, t => t.Abs());
    }

    [Theory]
    [MemberData(nameof(DTypes))]
    public void Binary_ops_broadcast_like_the_cpu(DType dtype)
    {
        RequireGpu();
        var a = Rand(new[] { 2, 3, 4 }, 3, dtype);
        var b = Rand(new[] { 3, 1 }, 4, dtype);
        var c = Rand(new[] { 4 }, 5, dtype).Abs() + 0.5;
        Compare("add", [a, b], t => t[0] + t[1]);
        Compare("sub", [a, b], t => t[1] - t[0]);
        Compare("mul", [a, c], t => t[0] * t[1]);
        Compare("div", [a, c], t => t[0] / t[1]);
        Compare("mul of permuted views", [a, a], t => t[0].Permute(2, 1, 0) * t[1].Permute(2, 1, 0));
        // rank 6 with broadcasting
        var big = Rand(new[] { 2, 2, 3, 2, 2, 3 }, 6, dtype);
        var small = Rand(new[] { 2, 1, 3, 1, 2, 1 }, 7, dtype);
        Compare("rank-6 broadcast", [big, small], t => t[0] * t[1] + t[1]);
    }

    [Theory]
    [MemberData(nameof(DTypes))]
    public void Sums_means_and_max_match_the_cpu(DType dtype)
    {
        RequireGpu();
        var x = Rand(new[] { 3, 4, 5, 6 }, 8, dtype);
        Compare("sum all", x, t => t.Sum());
        Compare("sum dim 1", x, t => t.Sum(1));
        Compare("sum dims 0,2 keep", x, t => t.Sum(new[] { 0, 2 }, keepDim: true));
        Compare("sum of permuted", x, t => t.Permute(3, 1, 0, 2).Sum(new[] { 1, 3 }));
        Compare("mean", x, t => t.Mean(new[] { 2, 3 }));
        Compare("max", x, t => t.Max(3));
        var (_, ci) = x.MaxWithIndices(new[] { 1 });
        var (_, gi) = x.To(Gpu).MaxWithIndices(new[] { 1 });
        Assert.Equal(ci, gi);
        var big = Rand(new[] { 1 << 17 }, 9, dtype);
        Compare("large sum", big, t => t.Sum(), tol: dtype == DType.Float32 ? 1e-5 : 1e-12);
    }

    [Theory]
    [MemberData(nameof(DTypes))]
    public void MatMul_via_cublas_matches_the_cpu(DType dtype)
    {
        RequireGpu();
        Compare("(5,7)x(7,3)", [Rand(new[] { 5, 7 }, 10, dtype), Rand(new[] { 7, 3 }, 11, dtype)], t => t[0].MatMul(t[1]));
        Compare("transposed operands", [Rand(new[] { 7, 5 }, 12, dtype), Rand(new[] { 3, 7 }, 13, dtype)], t => t[0].T.MatMul(t[1].T));
        Compare("batched", [Rand(new[] { 4, 6, 9 }, 14, dtype), Rand(new[] { 4, 9, 2 }, 15, dtype)], t => t[0].MatMul(t[1]));
        Compare("linear", [Rand(new[] { 8, 33 }, 16, dtype), Rand(new[] { 17, 33 }, 17, dtype), Rand(new[] { 17 }, 18, dtype)], t => F.Linear(t[0], t[1], t[2]));
        Compare("(64,128)x(128,96)", [Rand(new[] { 64, 128 }, 19, dtype), Rand(new[] { 128, 96 }, 20, dtype)], t => t[0].MatMul(t[1]), tol: dtype == DType.Float32 ? 1e-4 : 1e-10);
    }

    // (N, C, H, W, K, kernel, stride, padding, dilation, groups, bias)
    public static TheoryData<int, int, int, int, int, int, int, int, int, int, bool> ConvCases => new()
    {
        { 2, 3, 9, 9, 4, 3, 1, 1, 1, 1, true },
        { 2, 4, 10, 7, 6, 3, 2, 0, 1, 2, false },
        { 1, 8, 8, 8, 8, 3, 1, 1, 1, 8, true },   // depthwise
        { 3, 5, 11, 11, 2, 3, 1, 2, 2, 1, true }, // dilation 2
        { 2, 16, 7, 7, 32, 1, 1, 0, 1, 1, false }, // pointwise
        { 2, 3, 16, 16, 8, 7, 2, 3, 1, 1, true },  // stem
    };

    [Theory]
    [MemberData(nameof(ConvCases))]
    public void Conv2d_forward_and_gradients_via_cudnn_match_the_cpu(int n, int c, int h, int w, int k, int r, int stride, int pad, int dil, int groups, bool bias)
    {
        RequireGpu();
        foreach (var dtype in new[] { DType.Float32, DType.Float64 })
        {
            var x = Rand(new[] { n, c, h, w }, 21, dtype);
            var wt = Rand(new[] { k, c / groups, r, r }, 22, dtype) * 0.3;
            Tensor[] inputs = bias ? [x, wt, Rand(new[] { k }, 23, dtype)] : [x, wt];
            // Looser than Tol for float32: cuDNN may pick FFT or Winograd algorithms, whose transforms round differently
            // from the CPU's direct im2col sums (errors of ~1e-4 relative are normal there); float64 stays tight.
            Compare($"conv {dtype} x{x.Layout} w{wt.Layout} s{stride} p{pad} d{dil} g{groups}", inputs,
                t => F.Conv2d(t[0], t[1], bias ? t[2] : null, stride, pad, dil, groups), tol: dtype == DType.Float32 ? 1e-3 : 1e-9);
        }
    }

    [Fact]
    public void Conv2d_algorithm_is_chosen_once_per_geometry()
    {
        RequireGpu();
        var backend = CudaBackend.ForOrdinal(0);
        var x = Rand(new[] { 2, 3, 13, 13 }, 24).To(Gpu);
        var w = Rand(new[] { 5, 3, 3, 3 }, 25).To(Gpu);
        F.Conv2d(x, w, null, 1, 1).ToFloatArray();
        var (hits1, misses1) = backend.ConvPlanCacheStats;
        var key = new CudaBackend.ConvPlanKey(CudaBackend.ConvDirection.Forward, new(2, 3, 13, 13, 5, 3, 3, 13, 13, 1, 1, 1, 1), DType.Float32, false);
        Assert.NotNull(backend.ConvAlgorithm(key));
        F.Conv2d(x, w, null, 1, 1).ToFloatArray();
        var (hits2, misses2) = backend.ConvPlanCacheStats;
        Assert.Equal(misses1, misses2);
        Assert.True(hits2 > hits1, $"second call should hit the cache: hits {hits1} -> {hits2}");
    }

    [Theory]
    [InlineData(3, 2, 1, false)]
    [InlineData(3, 2, 1, true)]
    [InlineData(2, 2, 0, false)]
    [InlineData(3, 3, 1, true)]
    public void Pooling_matches_the_cpu(int kernel, int stride, int padding, bool ceil)
    {
        RequireGpu();
        foreach (var dtype in new[] { DType.Float32, DType.Float64 })
        {
            var x = Rand(new[] { 2, 3, 10, 11 }, 26, dtype);
            Compare($"max {kernel}/{stride}/{padding} ceil {ceil}", [x], t => F.MaxPool2d(t[0], kernel, stride, padding, ceil));
            Compare($"avg incl {kernel}/{stride}/{padding} ceil {ceil}", [x], t => F.AvgPool2d(t[0], kernel, stride, padding, ceil, countIncludePad: true));
            Compare($"avg excl {kernel}/{stride}/{padding} ceil {ceil}", [x], t => F.AvgPool2d(t[0], kernel, stride, padding, ceil, countIncludePad: false));
        }
    }

    [Theory]
    [MemberData(nameof(DTypes))]
    public void Gap_channel_scale_and_axpy_match_the_cpu(DType dtype)
    {
        RequireGpu();
        foreach (var (h, w) in new[] { (7, 7), (14, 14), (3, 5), (40, 40) })
        {
            var x = Rand(new[] { 2, 6, h, w }, 27, dtype);
            var y = Rand(new[] { 2, 6, h, w }, 28, dtype);
            var a = Rand(new[] { 2, 6 }, 29, dtype);
            Compare($"gap {h}x{w}", [x], t => F.GlobalAvgPool(t[0]));
            Compare($"channel scale {h}x{w}", [x, a], t => F.ChannelScale(t[0], t[1]));
            Compare($"axpy {h}x{w}", [a, x, y], t => F.Axpy(t[0], t[1], t[2]));
            Compare($"axpy relu {h}x{w}", [a, x, y], t => F.AxpyRelu(t[0], t[1], t[2]));
        }
    }

    [Theory]
    [MemberData(nameof(DTypes))]
    public void Batch_norm_training_eval_and_running_stats_match_the_cpu(DType dtype)
    {
        RequireGpu();
        var x = Rand(new[] { 4, 3, 6, 5 }, 30, dtype) * 2 + 1;
        var w = Rand(new[] { 3 }, 31, dtype);
        var b = Rand(new[] { 3 }, 32, dtype);
        foreach (bool affine in new[] { true, false })
        {
            var rmC = Tensor.Zeros(new[] { 3 }, dtype); var rvC = Tensor.Ones(new[] { 3 }, dtype);
            var rmG = rmC.To(Gpu); var rvG = rvC.To(Gpu);
            bool first = true;
            Compare($"bn train affine {affine}", affine ? [x, w, b] : [x], t =>
            {
                bool onGpu = t[0].Device == Gpu;
                var y = F.BatchNorm2d(t[0], onGpu ? rmG : rmC, onGpu ? rvG : rvC, affine ? t[1] : null, affine ? t[2] : null, training: true, momentum: 0.1);
                first = false;
                return y;
            });
            Assert.False(first);
            Close(rmC.ToDoubleArray(), rmG.ToDoubleArray(), Tol(dtype), "running mean");
            Close(rvC.ToDoubleArray(), rvG.ToDoubleArray(), Tol(dtype), "running variance (unbiased)");
            var rm = Rand(new[] { 3 }, 33, dtype); var rv = Rand(new[] { 3 }, 34, dtype).Abs() + 0.5;
            Compare($"bn eval affine {affine}", affine ? [x, w, b] : [x], t =>
                F.BatchNorm2d(t[0], rm.To(t[0].Device), rv.To(t[0].Device), affine ? t[1] : null, affine ? t[2] : null, training: false));
        }
        Compare("bn (N, C)", [Rand(new[] { 8, 5 }, 35, dtype)], t => F.BatchNorm2d(t[0], null, null, null, null, training: true));
    }

    [Theory]
    [MemberData(nameof(DTypes))]
    public void Softmax_and_cross_entropy_match_the_cpu(DType dtype)
    {
        RequireGpu();
        foreach (int k in new[] { 10, 1000 })
        {
            var logits = Rand(new[] { 6, k }, 36, dtype) * 3;
            var targets = new[] { 0, k - 1, 3, 5, 1, 2 };
            Compare($"softmax {k}", [logits], t => F.Softmax(t[0]));
            Compare($"log-softmax {k}", [logits], t => F.LogSoftmax(t[0]));
            Compare($"cross-entropy {k}", [logits], t => F.CrossEntropy(t[0], targets));
            Compare($"cross-entropy smoothed {k}", [logits], t => F.CrossEntropy(t[0], targets, labelSmoothing: 0.1));
        }
    }

    [Theory]
    [InlineData(0.0, 0.0, false)]
    [InlineData(0.9, 0.0, false)]
    [InlineData(0.9, 1e-4, true)]
    public void Sgd_steps_match_the_cpu(double momentum, double weightDecay, bool nesterov)
    {
        RequireGpu();
        foreach (var dtype in new[] { DType.Float32, DType.Float64 })
        {
            var p0 = Rand(new[] { 37, 5 }, 37, dtype);
            double[] Train(Device dev)
            {
                var p = p0.To(dev).Detach().RequiresGrad_();
                var opt = new Sgd(new[] { p }, lr: 0.05, momentum: momentum, weightDecay: weightDecay, nesterov: nesterov);
                for (int step = 0; step < 3; step++)
                {
                    opt.ZeroGrad();
                    (p * p).Sum().Backward();
                    opt.Step();
                }
                return p.ToDoubleArray();
            }
            Close(Train(Device.Cpu), Train(Gpu), Tol(dtype), $"SGD momentum {momentum} wd {weightDecay} nesterov {nesterov} {dtype}");
        }
    }

    [Fact]
    public void Training_steps_of_a_small_net_reuse_cached_device_memory()
    {
        RequireGpu();
        var dev = CudaDevice.Get();
        var rng = new Rng(5);
        var conv = Tensor.KaimingNormal(new[] { 8, 3, 3, 3 }, rng: rng).To(Gpu).Detach().RequiresGrad_();
        var gamma = Tensor.Ones(new[] { 8 }, device: Gpu).RequiresGrad_();
        var beta = Tensor.Zeros(new[] { 8 }, device: Gpu).RequiresGrad_();
        var rm = Tensor.Zeros(new[] { 8 }, device: Gpu);
        var rv = Tensor.Ones(new[] { 8 }, device: Gpu);
        var fc = (Tensor.RandN(new[] { 4, 8 }, rng) * 0.1).To(Gpu).Detach().RequiresGrad_();
        var opt = new Sgd(new[] { conv, gamma, beta, fc }, lr: 0.1, momentum: 0.9);
        var x = Tensor.RandN(new[] { 8, 3, 12, 12 }, rng).To(Gpu);
        var targets = new[] { 0, 1, 2, 3, 0, 1, 2, 3 };
        double Step()
        {
            using var scope = TensorScope.Begin();
            opt.ZeroGrad();
            var h = F.Conv2d(x, conv, null, 1, 1);
            h = F.BatchNorm2d(h, rm, rv, gamma, beta, training: true).Relu();
            h = F.MaxPool2d(h, 2, 2);
            var logits = F.Linear(F.GlobalAvgPool(h).Flatten(1), fc);
            var loss = F.CrossEntropy(logits, targets);
            loss.Backward();
            opt.Step();
            return loss.Item();
        }
        double first = Step();
        Step();
        MemoryStats.CollectUnreachable(); // finalize stray storages now, so their queued frees do not land inside the measured steps
        CudaStorage.DrainFinalized();
        var before = dev.Allocator.Stats;
        long storagesBefore = CudaStorage.LiveStorages;
        double last = 0;
        for (int i = 0; i < 5; i++) last = Step();
        var after = dev.Allocator.Stats;
        Assert.True(last < first, $"loss should fall: {first} -> {last}");
        Assert.Equal(storagesBefore, CudaStorage.LiveStorages);
        Assert.Equal(before.AllocatedBytes, after.AllocatedBytes);
        Assert.Equal(before.DriverAllocations, after.DriverAllocations); // every block of later steps came from the cache
        Assert.True(after.CacheHits > before.CacheHits);
    }
}
