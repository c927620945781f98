// BnStreamingTests: the batch-norm passes with streaming (non-temporal) stores, used for outputs past the L3, give the
// same bits as the cached-store passes, and a batch norm big enough to take that path matches the textbook reference.
using SeFramework.Backends;
using SeFramework.Cpu;
using Xunit;
using static SeFramework.Core.Tests.Cpu.KernelAssert;

namespace SeFramework.Core.Tests.Cpu;

[Collection(nameof(CpuThreadsCollection))]
public sealed unsafe class BnStreamingTests
{
    [Theory]
    [MemberData(nameof(KernelAssert.StreamingCases), MemberType = typeof(KernelAssert))]
    public void Streaming_passes_equal_the_cached_passes_bit_for_bit(int offset, int count)
    {
        // Outputs start `offset` floats past a 64-byte boundary (the 64 spare floats hold offset + alignment ≤ 30).
        var x = Tensor.RandN(new[] { count }, new Rng(31)).ToFloatArray();
        var g = Tensor.RandN(new[] { count }, new Rng(32)).ToFloatArray();
        var cached = new float[count + 64];
        var streamed = new float[count + 64];
        fixed (float* px = x, pg = g, pc = cached, ps = streamed)
        {
            int startC = KernelAssert.Aligned64Start(pc, offset);
            int startS = KernelAssert.Aligned64Start(ps, offset);
            foreach (bool relu in new[] { false, true })
            {
                Array.Fill(cached, -3f);
                Array.Fill(streamed, -3f);
                SimdKernels.ScaleShift(px, pc + startC, count, 0.7f, -0.2f, relu, stream: false);
                SimdKernels.ScaleShift(px, ps + startS, count, 0.7f, -0.2f, relu, stream: true);
                SimdKernels.StoreFence();
                AssertRangeEqual(cached, startC, streamed, startS, count, $"ScaleShift relu={relu}");
            }
            Array.Fill(cached, -3f);
            Array.Fill(streamed, -3f);
            SimdNn.BnBackwardPass(pg, px, pc + startC, count, 1.3f, -0.4f, 0.05f, stream: false);
            SimdNn.BnBackwardPass(pg, px, ps + startS, count, 1.3f, -0.4f, 0.05f, stream: true);
            SimdKernels.StoreFence();
            AssertRangeEqual(cached, startC, streamed, startS, count, "BnBackwardPass");
        }
    }

    private static void AssertRangeEqual(float[] a, int startA, float[] b, int startB, int count, string what)
    {
        for (int i = 0; i < a.Length; i++)
            if (i < startA || i >= startA + count) Assert.True(a[i] == -3f, $"{what}: cached pass wrote outside its range at {i}");
        for (int i = 0; i < b.Length; i++)
            if (i < startB || i >= startB + count) Assert.True(b[i] == -3f, $"{what}: streaming pass wrote outside its range at {i}");
        for (int i = 0; i < count; i++)
            Assert.True(BitConverter.SingleToInt32Bits(a[startA + i]) == BitConverter.SingleToInt32Bits(b[startB + i]),
                $"{what}: element {i} is {b[startB + i]:R} streamed, {a[startA + i]:R} cached");
    }

    [Fact]
    public void Batch_norm_past_the_streaming_threshold_matches_the_reference_at_1_and_2_threads()
    {
        // (2, 33, 362, 362) floats = 34.6 MB ≥ SimdKernels.NonTemporalBytes: y and dx take the streaming path, with plane
        // starts off the 64-byte grid. Checked against the double reference on a few channels (statistics are per channel).
        const int n = 2, c = 33, h = 362, w = 362, l = h * w;
        Assert.True((long)n * c * l * sizeof(float) >= SimdKernels.NonTemporalBytes, "the shape must reach the streaming path");
        using var scope = TensorScope.Begin();
        var x = Tensor.RandN(new[] { n, c, h, w }, new Rng(33));
        var dy = Tensor.RandN(new[] { n, c, h, w }, new Rng(34));
        var gamma = Tensor.RandN(new[] { c }, new Rng(35));
        var beta = Tensor.RandN(new[] { c }, new Rng(36));
        var backend = BackendRegistry.For(Device.Cpu);
        float[]? first = null;
        foreach (int threads in new[] { 1, 2 })
        {
            var result = WithThreads(threads, () =>
            {
                var y = Tensor.Full(new[] { n, c, h, w }, float.NaN);
                var dx = Tensor.Full(new[] { n, c, h, w }, float.NaN);
                var mean = Tensor.Empty(new[] { c });
                var invStd = Tensor.Empty(new[] { c });
                backend.BatchNormForwardTraining(x, gamma, beta, y, mean, invStd, null, null, 0.1, 1e-5);
                backend.BatchNormBackward(x, dy, gamma, mean, invStd, true, dx, null, null);
                return y.ToFloatArray().Concat(dx.ToFloatArray()).ToArray();
            });
            if (first == null) first = result;
            else AssertBitsEqual(first, result, "batch norm y / dx, 2 threads vs 1");
        }

        int unwritten = Array.FindIndex(first!, float.IsNaN);
        Assert.True(unwritten < 0, $"element {unwritten} of y / dx was never written");
        var xs = x.ToFloatArray();
        var dys = dy.ToFloatArray();
        var gs = gamma.ToFloatArray();
        var bs = beta.ToFloatArray();
        foreach (int ch in new[] { 0, 17, c - 1 })
        {
            // Channel ch alone as (N, 1, L): the reference's statistics for it are the same as in the full tensor.
            var xc = new double[n * l];
            var dyc = new double[n * l];
            for (int b = 0; b < n; b++)
                for (int i = 0; i < l; i++)
                {
                    xc[b * l + i] = xs[((long)b * c + ch) * l + i];
                    dyc[b * l + i] = dys[((long)b * c + ch) * l + i];
                }
            var yRef = new double[n * l];
            var dxRef = new double[n * l];
            var mean = new double[1];
            var var = new double[1];
            ReferenceNn.BatchNormForward(xc, [gs[ch]], [bs[ch]], yRef, mean, var, true, 1e-5, n, 1, l);
            ReferenceNn.BatchNormBackward(xc, dyc, [gs[ch]], mean, var, true, 1e-5, dxRef, new double[1], new double[1], n, 1, l);
            for (int b = 0; b < n; b++)
                for (int i = 0; i < l; i += 97) // a spread of elements, plane starts and ends included via the stride
                {
                    long at = ((long)b * c + ch) * l + i;
                    // float32 kernels vs a double reference over 262 K elements per channel: 1e-4 relative to O(1) values.
                    Assert.True(Math.Abs(first![at] - yRef[b * l + i]) <= 1e-4 * (1 + Math.Abs(yRef[b * l + i])), $"y channel {ch} [{b}, {i}]");
                    long dAt = (long)n * c * l + at;
                    Assert.True(Math.Abs(first[dAt] - dxRef[b * l + i]) <= 1e-4 * (1 + Math.Abs(dxRef[b * l + i])), $"dx channel {ch} [{b}, {i}]");
                }
            long lastY = ((long)(n - 1) * c + ch) * l + l - 1; // each plane's last element (the scalar tail of a streamed plane)
            Assert.True(Math.Abs(first![lastY] - yRef[n * l - 1]) <= 1e-4 * (1 + Math.Abs(yRef[n * l - 1])), $"y channel {ch} last");
        }
    }
}
