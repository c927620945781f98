// MaxPoolKernelTests: the float32 Vector512 max-pool path (forward value, backward first-argmax scatter) against
// ReferenceNn.Pool2dForward/Backward on awkward shapes, with ties, signed zeros, infinities and NaNs, at 1 and 2 threads.
using SeFramework.Backends;
using SeFramework.Cpu;
using Xunit;
using static SeFramework.Core.Tests.Cpu.KernelAssert;

namespace SeFramework.Core.Tests.Cpu;

[Collection(nameof(CpuThreadsCollection))]
public sealed class MaxPoolKernelTests
{
    // (N, C, H, W, kernel, stride, padding, ceilMode)
    public static TheoryData<int, int, int, int, int, int, int, bool> Shapes => new()
    {
        { 1, 1, 1, 1, 1, 1, 0, false },    // 1×1 plane, 1×1 kernel
        { 1, 1, 1, 1, 3, 2, 1, false },    // plane smaller than the kernel
        { 1, 2, 2, 3, 3, 2, 1, true },
        { 1, 2, 2, 2, 3, 2, 0, true },     // plane smaller than the kernel, no padding: one clipped window
        { 3, 5, 2, 2, 3, 1, 1, false },
        { 1, 3, 7, 9, 3, 2, 1, true },     // odd H/W, ceil mode
        { 2, 2, 33, 35, 3, 2, 0, true },   // padding 0, ceil mode
        { 2, 2, 33, 35, 3, 2, 0, false },
        { 1, 2, 40, 70, 2, 2, 0, false },
        { 1, 4, 64, 64, 2, 2, 0, true },
        { 1, 2, 50, 67, 3, 1, 1, false },  // stride 1
        { 1, 2, 19, 53, 4, 1, 0, true },
        { 1, 1, 20, 100, 5, 2, 2, true },  // kernel 5
        { 1, 3, 5, 40, 3, 2, 0, true },
        { 2, 3, 13, 13, 3, 3, 1, false },  // stride 3: the generic path
        { 1, 2, 112, 112, 3, 2, 1, false }, // the se_resnet50 stem pool, fewer channels
        { 4, 16, 56, 56, 3, 2, 1, false },  // enough work for the 2-thread path
    };

    // Values on a coarse grid (many ties), with signed zeros, ±infinity and NaNs of two payloads sprinkled in.
    private static float[] AwkwardValues(int n, ulong seed, bool nans)
    {
        float[] v = Tensor.RandN(new[] { n }, new Rng(seed)).ToFloatArray();
        var pick = new Random((int)seed);
        for (int i = 0; i < n; i++)
        {
            v[i] = MathF.Round(v[i] * 2) / 2;
            int r = pick.Next(100);
            if (r == 0) v[i] = -0.0f;
            else if (r == 1) v[i] = 0.0f;
            else if (r == 2) v[i] = float.NegativeInfinity;
            else if (r == 3) v[i] = float.PositiveInfinity;
            else if (nans && r == 4) v[i] = float.NaN;
            else if (nans && r == 5) v[i] = BitConverter.Int32BitsToSingle(0x7FC0_1234); // another NaN payload
        }
        return v;
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Forward_and_backward_match_the_reference_bit_for_bit(int n, int c, int h, int w, int kernel, int stride, int padding, bool ceil)
    {
        int p = Pool2dGeometry.OutputSize(h, kernel, stride, padding, ceil), q = Pool2dGeometry.OutputSize(w, kernel, stride, padding, ceil);
        var g = new Pool2dGeometry(n, c, h, w, p, q, kernel, stride, padding);
        if (stride <= 2) Assert.True(CpuBackend.MaxPoolFastApplies(g) || !System.Runtime.Intrinsics.X86.Avx512F.IsSupported);
        foreach (bool nans in new[] { false, true })
        {
            using var scope = TensorScope.Begin();
            float[] xs = AwkwardValues(n * c * h * w, (ulong)(h * 131 + w + (nans ? 7 : 0)), nans);
            float[] dys = Tensor.RandN(new[] { n * c * p * q }, new Rng(5)).ToFloatArray();
            var x = Tensor.FromArray(xs, n, c, h, w);
            var dy = Tensor.FromArray(dys, n, c, p, q);
            var yRef = new float[n * c * p * q];
            var dxRef = new float[n * c * h * w];
            ReferenceNn.Pool2dForward<float>(PoolMode.Max, xs, yRef, g);
            ReferenceNn.Pool2dBackward<float>(PoolMode.Max, xs, dys, dxRef, g);
            var backend = BackendRegistry.For(Device.Cpu);
            foreach (int threads in new[] { 1, 2 })
            {
                var (yFast, dxFast) = WithThreads(threads, () =>
                {
                    var y = Tensor.Empty(new[] { n, c, p, q });
                    var dx = Tensor.Full(new[] { n, c, h, w }, 3f); // stale contents: the kernel overwrites dx
                    backend.Pool2dForward(PoolMode.Max, x, y, g);
                    backend.Pool2dBackward(PoolMode.Max, x, y, dy, dx, g);
                    return (y.ToFloatArray(), dx.ToFloatArray());
                });
                AssertBitsEqual(yRef, yFast, $"forward, {threads} thread(s), NaNs {nans}");
                AssertBitsEqual(dxRef, dxFast, $"backward, {threads} thread(s), NaNs {nans}");
            }
        }
    }

    [Fact]
    public void Ties_give_the_gradient_to_the_first_cell_in_scan_order()
    {
        // One 3×3 window over a constant plane with -0 below +0: the first cell (top-left) wins every window.
        using var scope = TensorScope.Begin();
        const int h = 5, w = 37;
        var xs = new float[h * w];
        for (int i = 0; i < xs.Length; i++) xs[i] = i % 2 == 0 ? 0.0f : -0.0f;
        var g = new Pool2dGeometry(1, 1, h, w, 2, 18, 3, 2, 0);
        var x = Tensor.FromArray(xs, 1, 1, h, w);
        var y = Tensor.Empty(new[] { 1, 1, 2, 18 });
        var dy = Tensor.Full(new[] { 1, 1, 2, 18 }, 1f);
        var dx = Tensor.Empty(new[] { 1, 1, h, w });
        var backend = BackendRegistry.For(Device.Cpu);
        backend.Pool2dForward(PoolMode.Max, x, y, g);
        backend.Pool2dBackward(PoolMode.Max, x, y, dy, dx, g);
        float[] ys = y.ToFloatArray(), dxs = dx.ToFloatArray();
        for (int pp = 0; pp < 2; pp++)
            for (int qq = 0; qq < 18; qq++)
            {
                int first = pp * 2 * w + qq * 2;
                Assert.Equal(BitConverter.SingleToInt32Bits(xs[first]), BitConverter.SingleToInt32Bits(ys[pp * 18 + qq]));
                Assert.True(dxs[first] >= 1f, $"window ({pp}, {qq}): its first cell got no gradient");
            }
        Assert.Equal(36f, dxs.Sum());
    }
}
