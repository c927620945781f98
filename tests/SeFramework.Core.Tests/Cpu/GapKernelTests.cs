// GapKernelTests: the global-average-pooling kernels (forward plane sums, backward broadcast fill with its streaming-store
// path) against their plain references on awkward shapes, at 1 and 2 threads, with results independent of thread count.
using SeFramework.Backends;
using SeFramework.Cpu;
using Xunit;
using static SeFramework.Core.Tests.Cpu.KernelAssert;

namespace SeFramework.Core.Tests.Cpu;

[Collection(nameof(CpuThreadsCollection))]
public sealed unsafe class GapKernelTests
{
    // (N, C, H, W): H·W = 1, 7, 49, 50, 3136; odd channel counts; batch 1.
    public static TheoryData<int, int, int, int> Shapes => new()
    {
        { 1, 1, 1, 1 },
        { 3, 5, 1, 1 },
        { 1, 3, 1, 7 },
        { 2, 5, 7, 7 },
        { 1, 7, 5, 10 },
        { 1, 9, 56, 56 },
        { 3, 33, 56, 56 }, // 3 · 33 · 3136 = 310 K elements: enough work for the 2-thread path
        { 4, 131, 7, 7 },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Forward_matches_the_reference_and_does_not_depend_on_threads(int n, int c, int h, int w)
    {
        using var scope = TensorScope.Begin();
        var x = Tensor.RandN(new[] { n, c, h, w }, new Rng(21));
        var backend = BackendRegistry.For(Device.Cpu);
        float[] Run()
        {
            var y = Tensor.Empty(new[] { n, c, 1, 1 });
            backend.GlobalAvgPool(x, y);
            return y.ToFloatArray();
        }
        var one = WithThreads(1, Run);
        var two = WithThreads(2, Run);
        AssertBitsEqual(one, two, "GAP 1 vs 2 threads");
        var expected = new float[n * c];
        ReferenceNn.GlobalAvgPool<float>(x.Span<float>(), expected, n * c, h * w);
        // The SIMD plane sum adds in 16 float lanes then in double, the reference sequentially in float: reassociation
        // over at most 3136 terms of N(0, 1) values, whose float32 rounding error stays far below 1e-5 of the mean's scale.
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(one[i] - expected[i]) <= 1e-5 * (1 + Math.Abs(expected[i])), $"GAP plane {i}: {one[i]:R} vs {expected[i]:R}");
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Forward_in_double_matches_the_reference(int n, int c, int h, int w)
    {
        using var scope = TensorScope.Begin();
        var x = Tensor.RandN(new[] { n, c, h, w }, new Rng(22)).To(DType.Float64);
        var y = Tensor.Empty(new[] { n, c, 1, 1 }, DType.Float64);
        BackendRegistry.For(Device.Cpu).GlobalAvgPool(x, y);
        var expected = new double[n * c];
        ReferenceNn.GlobalAvgPool<double>(x.Span<double>(), expected, n * c, h * w);
        var actual = y.Span<double>().ToArray();
        // Lane sums vs the sequential loop: reassociation over at most 3136 float64 terms, ~3136·2⁻⁵³ ≈ 4e-13 relative at
        // worst; 1e-12 is that bound with margin.
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(actual[i] - expected[i]) <= 1e-12 * (1 + Math.Abs(expected[i])), $"GAP f64 plane {i}: {actual[i]:R} vs {expected[i]:R}");
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Backward_equals_the_reference_bit_for_bit_at_1_and_2_threads(int n, int c, int h, int w)
    {
        using var scope = TensorScope.Begin();
        var dy = Tensor.RandN(new[] { n, c, 1, 1 }, new Rng(23));
        var expected = new float[n * c * h * w];
        CpuBackend.GlobalAvgPoolBackwardReference<float>(dy.Span<float>(), expected, n * c, h * w);
        foreach (int threads in new[] { 1, 2 })
        {
            var dx = WithThreads(threads, () =>
            {
                var t = Tensor.Full(new[] { n, c, h, w }, float.NaN); // every element must be overwritten
                BackendRegistry.For(Device.Cpu).GlobalAvgPoolBackward(dy, t);
                return t.ToFloatArray();
            });
            AssertBitsEqual(expected, dx, $"GAP backward, {threads} threads");
        }
    }

    [Fact]
    public void Backward_past_the_streaming_threshold_equals_the_reference()
    {
        // (2, 33, 362, 362) floats = 34.6 MB ≥ SimdKernels.NonTemporalBytes: the streaming-store path, with plane starts
        // off the 64-byte grid (362² = 131044 floats per plane is not a multiple of 16).
        const int n = 2, c = 33, h = 362, w = 362;
        Assert.True((long)n * c * h * w * sizeof(float) >= SimdKernels.NonTemporalBytes, "the shape must reach the streaming path");
        using var scope = TensorScope.Begin();
        var dy = Tensor.RandN(new[] { n, c, 1, 1 }, new Rng(24));
        var expected = new float[n * c * h * w];
        CpuBackend.GlobalAvgPoolBackwardReference<float>(dy.Span<float>(), expected, n * c, h * w);
        foreach (int threads in new[] { 1, 2 })
        {
            var dx = WithThreads(threads, () =>
            {
                var t = Tensor.Full(new[] { n, c, h, w }, float.NaN);
                BackendRegistry.For(Device.Cpu).GlobalAvgPoolBackward(dy, t);
                return t.ToFloatArray();
            });
            AssertBitsEqual(expected, dx, $"GAP backward (streaming), {threads} threads");
        }
    }

    [Theory]
    [MemberData(nameof(KernelAssert.StreamingCases), MemberType = typeof(KernelAssert))]
    public void Streaming_fill_writes_exactly_its_range(int offset, int count)
    {
        // dst starts `offset` floats past a 64-byte boundary (≤ 15 + 15 floats in: the 64 spare floats hold it); the guard
        // cells before and after the range must stay untouched.
        var buffer = new float[count + 64];
        fixed (float* p0 = buffer)
        {
            int start = KernelAssert.Aligned64Start(p0, offset);
            float* dst = p0 + start;
            foreach (bool nonTemporal in new[] { false, true })
            {
                Array.Fill(buffer, -7f);
                SimdKernels.Fill(dst, count, 0.25f, nonTemporal);
                SimdKernels.StoreFence();
                for (int i = 0; i < buffer.Length; i++)
                {
                    float want = i >= start && i < start + count ? 0.25f : -7f;
                    Assert.True(buffer[i] == want, $"nonTemporal={nonTemporal}: cell {i} is {buffer[i]}, expected {want}");
                }
            }
        }
    }
}
