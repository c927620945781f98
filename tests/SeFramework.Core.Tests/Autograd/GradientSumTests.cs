// GradientSumTests: the autograd engine sums two gradients of one tensor in place into a buffer it owns (dense + dense,
// dense + the GAP's broadcast view) without a third tensor, never writes into tensors it does not own, and the ops
// that now rely on it (GlobalAvgPool's expanded gradient, the fused BatchNorm2dRelu, an SE block) pass GradCheck.
using SeFramework.Autograd;
using SeFramework.Core.Tests.Cpu;
using Xunit;

namespace SeFramework.Tests;

// In CpuThreadsCollection: it runs alone, so MemoryStats.PeakBytes sees only this test's tensors.
[Collection(nameof(CpuThreadsCollection))]
public sealed class GradientSumTests
{
    private static readonly int[] Shape = { 4, 8, 16, 16 }; // 8192 floats = 32 KiB per full gradient
    private const long FullBytes = 4 * 8 * 16 * 16 * sizeof(float);

    /// <summary>t (made from a leaf) read by two custom ops whose backwards return makeA() and makeB(); the root returns
    /// tiny broadcast views, so the full-size gradients are exactly those two (and any sum the engine makes). Returns
    /// the gradient t's backward received and the peak of live bytes above the start of Backward up to that moment.</summary>
    private static (Tensor Received, long Peak) SumOfTwo(Func<Tensor> makeA, Func<Tensor> makeB, bool aFirst)
    {
        var x = Tensor.Zeros(Shape).RequiresGrad_();
        Tensor? received = null;
        long peak = 0, before = 0;
        var t = GradNode.Record("T", Tensor.Zeros(Shape), new[] { x }, g =>
        {
            peak = MemoryStats.PeakBytes - before;
            received = g.Clone(); // the values (a copy: the engine frees g after this node)
            Assert.True(g.IsContiguous, "the sum reached t's backward as a dense tensor");
            _receivedTensor = g;
            SameAsReturned = ReferenceEquals(g, _lastA) || ReferenceEquals(g, _lastB);
            return new Tensor?[] { null };
        });
        var a = GradNode.Record("A", Tensor.Zeros(Shape), new[] { t }, _ => new[] { _lastA = makeA() });
        var b = GradNode.Record("B", Tensor.Zeros(Shape), new[] { t }, _ => new[] { _lastB = makeB() });
        var tiny = Tensor.Zeros(new[] { 1, 1, 1, 1 });
        var inputs = aFirst ? new[] { a, b } : new[] { b, a };
        var root = GradNode.Record("Root", Tensor.Zeros(new[] { 1 }), inputs, _ => new[] { tiny.Expand(Shape), tiny.Expand(Shape) });
        before = MemoryStats.LiveBytes;
        MemoryStats.ResetPeak();
        root.Backward(Tensor.Ones(new[] { 1 }));
        return (received!, peak);
    }

    [ThreadStatic] private static Tensor? _lastA, _lastB, _receivedTensor;
    [ThreadStatic] private static bool SameAsReturned;

    private static Tensor Ramp(float scale)
    {
        var v = new float[Shape.Aggregate(1, (p, s) => p * s)];
        for (int i = 0; i < v.Length; i++) v[i] = scale * ((i % 97) - 48);
        return Tensor.FromArray(v, Shape);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Dense_plus_dense_is_summed_in_place_without_a_third_tensor(bool aFirst)
    {
        using var scope = TensorScope.Begin();
        var (received, peak) = SumOfTwo(() => Ramp(0.5f), () => Ramp(-0.25f), aFirst);
        var expected = Ramp(0.5f).ToFloatArray().Zip(Ramp(-0.25f).ToFloatArray(), (p, q) => p + q).ToArray();
        KernelAssert.AssertBitsEqual(expected, received.ToFloatArray(), "sum of the two gradients");
        Assert.True(SameAsReturned, "t's backward got a new tensor instead of one of the two gradients summed in place");
        // Two full gradients live at once (a sum into a new tensor would make three); the rest is small.
        Assert.True(peak < 2 * FullBytes + FullBytes / 2, $"backward peak {peak} B: more than the two gradients ({2 * FullBytes} B)");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Dense_plus_broadcast_view_is_one_pass_into_the_dense_gradient(bool aFirst)
    {
        using var scope = TensorScope.Begin();
        // B's gradient: one value per (n, c) plane, expanded over (H, W) with stride 0, as GlobalAvgPool's backward returns.
        var planeValues = Enumerable.Range(0, 32).Select(i => 0.125f * i - 1).ToArray();
        Tensor Broadcast() => Tensor.FromArray(planeValues, 4, 8, 1, 1).Expand(Shape);
        var (received, peak) = SumOfTwo(() => Ramp(0.5f), Broadcast, aFirst);
        var dense = Ramp(0.5f).ToFloatArray();
        var expected = dense.Select((v, i) => v + planeValues[i / 256]).ToArray();
        KernelAssert.AssertBitsEqual(expected, received.ToFloatArray(), "dense + broadcast");
        Assert.True(SameAsReturned, "the broadcast view was not added into the dense gradient in place");
        Assert.True(peak < FullBytes + FullBytes / 2, $"backward peak {peak} B: more than the one dense gradient ({FullBytes} B)");
    }

    [Fact]
    public void Tensors_the_pass_did_not_create_are_never_summed_into()
    {
        using var scope = TensorScope.Begin();
        // A's backward returns a tensor that existed before Backward (a user's or a forward tensor): the engine adds
        // into B's fresh gradient instead; with both old it makes a new tensor. (The engine still frees a returned
        // gradient once consumed, as before, so the old tensors' values cannot be read afterwards.)
        var (received, _) = SumOfTwo(() => Ramp(0.5f), () => Ramp(-0.25f), aFirst: true); // warm-up: both fresh
        var userA = Ramp(0.5f);
        (received, _) = SumOfTwo(() => userA, () => Ramp(-0.25f), aFirst: true);
        var expected = Ramp(0.5f).ToFloatArray().Zip(Ramp(-0.25f).ToFloatArray(), (p, q) => p + q).ToArray();
        KernelAssert.AssertBitsEqual(expected, received.ToFloatArray(), "sum with one old gradient");
        Assert.True(ReferenceEquals(_receivedTensor, _lastB), "the sum did not go into B's fresh gradient");

        userA = Ramp(0.5f);
        var userB = Ramp(2f);
        var (both, _) = SumOfTwo(() => userA, () => userB, aFirst: false);
        Assert.False(SameAsReturned, "a pre-existing tensor was used as the sum's buffer");
        KernelAssert.AssertBitsEqual(Ramp(0.5f).ToFloatArray().Zip(Ramp(2f).ToFloatArray(), (p, q) => p + q).ToArray(), both.ToFloatArray(), "sum of two old gradients");
    }

    [Fact]
    public void A_gradient_shared_by_two_inputs_is_not_summed_into()
    {
        using var scope = TensorScope.Begin();
        // One node returns the same fresh tensor for t and for a leaf: adding t's other gradient into it would change
        // the leaf's gradient.
        var x = Tensor.Zeros(Shape).RequiresGrad_();
        var leaf = Tensor.Zeros(Shape).RequiresGrad_();
        Tensor? received = null;
        var t = GradNode.Record("T", Tensor.Zeros(Shape), new[] { x }, g =>
        {
            received = g.Clone();
            return new Tensor?[] { null };
        });
        var a = GradNode.Record("A", Tensor.Zeros(Shape), new[] { t }, _ => new[] { Ramp(0.5f) });
        var both = GradNode.Record("Both", Tensor.Zeros(Shape), new[] { t, leaf }, _ =>
        {
            var shared = Ramp(3f);
            return new[] { shared, shared };
        });
        var tiny = Tensor.Zeros(new[] { 1, 1, 1, 1 });
        var root = GradNode.Record("Root", Tensor.Zeros(new[] { 1 }), new[] { a, both }, _ => new[] { tiny.Expand(Shape), tiny.Expand(Shape) });
        root.Backward(Tensor.Ones(new[] { 1 }));
        KernelAssert.AssertBitsEqual(Ramp(3f).ToFloatArray(), leaf.Grad!.ToFloatArray(), "the leaf's gradient");
        KernelAssert.AssertBitsEqual(Ramp(0.5f).ToFloatArray().Zip(Ramp(3f).ToFloatArray(), (p, q) => p + q).ToArray(), received!.ToFloatArray(), "t's gradient");
    }

    [Fact]
    public void Global_avg_pool_gradient_is_a_broadcast_view_with_the_kernel_values()
    {
        using var scope = TensorScope.Begin();
        var x = Tensor.RandN(new[] { 2, 3, 5, 7 }, new Rng(5)).RequiresGrad_();
        var dy = Tensor.RandN(new[] { 2, 3, 1, 1 }, new Rng(6));
        F.GlobalAvgPool(x).Backward(dy);
        // The leaf's gradient is a dense copy of the view; its values are the GAP backward kernel's (dy · (1/35)).
        var kernel = Tensor.Empty(new[] { 2, 3, 5, 7 });
        Backends.BackendRegistry.For(Device.Cpu).GlobalAvgPoolBackward(dy, kernel);
        KernelAssert.AssertBitsEqual(kernel.ToFloatArray(), x.Grad!.ToFloatArray(), "GAP gradient");
    }

    [Fact]
    public void Batch_norm_relu_and_an_se_block_pass_gradcheck()
    {
        using var scope = TensorScope.Begin();
        // BatchNorm2dRelu in training and eval (running stats given), float64.
        var x = TestData.Input(11, 3, 2, 3, 3);
        var gamma = TestData.Input(12, 2);
        var beta = TestData.Input(13, 2);
        var rm = Tensor.Zeros(new[] { 2 }, DType.Float64);
        var rv = Tensor.Ones(new[] { 2 }, DType.Float64);
        TestData.AssertGrad(v => F.BatchNorm2dRelu(v[0], rm, rv, v[1], v[2], training: true), x, gamma, beta);
        TestData.AssertGrad(v => F.BatchNorm2dRelu(v[0], rm, rv, v[1], v[2], training: false), x, gamma, beta);

        // A small SE block: r = bn(x) is read by the squeeze (GAP: its broadcast gradient) and by AxpyRelu (a dense
        // one), so r's two gradients meet in the engine; the excitation is fc → relu → fc → sigmoid.
        var input = TestData.Input(14, 2, 4, 3, 3);
        var w1 = TestData.Input(15, 4, 2);
        var w2 = TestData.Input(16, 2, 4);
        var g = TestData.Input(17, 4);
        var b = TestData.Input(18, 4);
        TestData.AssertGrad(v =>
        {
            var r = F.BatchNorm2d(v[0], null, null, v[3], v[4], training: true);
            var s = F.GlobalAvgPool(r).Reshape(2, 4);
            var a = s.MatMul(v[1]).Relu().MatMul(v[2]).Sigmoid();
            return F.AxpyRelu(a, r, v[0]);
        }, input, w1, w2, g, b);
    }

    // (dense shape, the small shape expanded to it): trailing broadcasts (the fast plane path), a scalar, and broadcasts
    // elsewhere (the strided loop), large enough for 2 threads in one case.
    public static TheoryData<int[], int[]> BroadcastCases => new()
    {
        { new[] { 2, 3, 5, 7 }, new[] { 2, 3, 1, 1 } },
        { new[] { 1, 17, 1, 1 }, new[] { 1, 17, 1, 1 } },
        { new[] { 5, 17, 7, 1 }, new[] { 5, 17, 1, 1 } },
        { new[] { 3, 4, 9 }, new[] { 1, 1, 1 } },
        { new[] { 2, 3, 5, 7 }, new[] { 1, 3, 5, 7 } },
        { new[] { 2, 3, 5, 7 }, new[] { 2, 1, 5, 1 } },
        { new[] { 16, 64, 32, 32 }, new[] { 16, 64, 1, 1 } },
    };

    [Theory]
    [MemberData(nameof(BroadcastCases))]
    public void AddInPlace_and_Contiguous_of_a_broadcast_view_match_the_strided_kernels_at_1_and_2_threads(int[] shape, int[] small)
    {
        using var scope = TensorScope.Begin();
        var y = Tensor.RandN(shape, new Rng(21));
        var x = Tensor.RandN(small, new Rng(22));
        var expected = (y + x).ToFloatArray(); // Add: the strided broadcast kernel
        foreach (int threads in new[] { 1, 2 })
        {
            var acc = y.Clone();
            KernelAssert.WithThreads(threads, () =>
            {
                acc.AddInPlace(x.Expand(shape));
                return 0;
            });
            KernelAssert.AssertBitsEqual(expected, acc.ToFloatArray(), $"AddInPlace at {threads} threads");
            // Materialising the view (Dense/Contiguous, the copy's per-plane fill path) gives x's values everywhere.
            var dense = KernelAssert.WithThreads(threads, () => x.Expand(shape).Contiguous());
            KernelAssert.AssertBitsEqual((Tensor.Zeros(shape) + x).ToFloatArray(), dense.ToFloatArray(), $"Contiguous at {threads} threads");
        }
        var (planes, area) = Cpu.CpuBackend.TrailingBroadcast(x.Expand(shape).Layout);
        bool trailing = small.Select((s, i) => (s, i)).SkipWhile(p => p.s == shape[p.i]).All(p => p.s == 1);
        Assert.Equal(trailing, planes * area == shape.Aggregate(1L, (p, q) => p * q));
    }
}
