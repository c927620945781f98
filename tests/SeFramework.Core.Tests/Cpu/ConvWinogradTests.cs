// ConvWinogradTests: the float32 Winograd convolutions, F(2×2, 3×3) and F(4×4, 3×3) (forward, stride-1 backward-data through
// the flipped forward, backward-filter, the inference batch-norm epilogue), against ReferenceNn on awkward shapes, and which
// convolutions they take.
using SeFramework.Backends;
using SeFramework.Cpu;
using Xunit;

namespace SeFramework.Core.Tests.Cpu;

[Collection(nameof(CpuThreadsCollection))]
public sealed class ConvWinogradTests
{
    public static TheoryData<int, int, int, int, int, int> Shapes => new()
    {
        // N, C, H, W, K, padding
        { 1, 8, 7, 5, 8, 1 },       // batch 1, odd output: the last tile row and column hang over by one
        { 3, 9, 9, 11, 13, 1 },     // C = 9, K = 13 (a 12-row panel + 1); 30 tiles per image: segments off the 16-lane grid
        { 2, 8, 1, 1, 8, 1 },       // 1×1 spatial: one tile, only the centre tap sees data
        { 2, 8, 6, 7, 10, 0 },      // padding 0
        { 2, 8, 5, 6, 9, 2 },       // padding 2: output larger than the input
        { 2, 16, 32, 32, 16, 1 },   // se_resnet20 stage 1: 16 tiles per tile row, whole vectors
        { 2, 48, 32, 32, 40, 1 },   // blocks of 64 tiles (4 tile rows of 16): blocks and filter chunks start mid-image
        { 4, 64, 8, 8, 64, 1 },     // se_resnet20 stage 3: 16 tiles per image, 4 tile rows per vector
        { 2, 12, 14, 14, 20, 1 },   // 49 tiles per image (ResNet-50's 14×14 stage): vectors across tile rows, a 1-lane tail
        { 3, 24, 7, 7, 36, 1 },     // 7×7: 4×4 tiles clipped to 7 outputs
        { 2, 300, 4, 6, 24, 1 },    // C = 300: two KC blocks of the GEMM depth, K a multiple of 12
        { 70, 8, 4, 4, 8, 1 },      // 280 tiles: blocks and backward-filter chunks split images, 2 workers
        { 5, 40, 9, 8, 44, 1 },     // K = 44 = 3·12 + 8, C = 40 (neither a multiple of 16), 20 tiles per image
        // Shapes with ≥ 16 4×4 tiles per image, which take F(4×4) when it is on (smaller images keep 2×2 tiles):
        { 1, 8, 13, 15, 9, 1 },     // batch 1, 13×15 outputs: the last tile row and column hang over by 3 and 1
        { 2, 10, 18, 17, 14, 0 },   // padding 0
        { 2, 9, 14, 13, 11, 2 },    // padding 2
        { 2, 300, 16, 16, 20, 1 },  // C = 300: two KC blocks of the GEMM depth
        { 6, 40, 20, 20, 36, 1 },   // 25 tiles per image (partial vectors), blocks of 32 tiles across images, Winograd filter
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Winograd_2x2_tiles_match_the_direct_reference(int n, int c, int h, int w, int k, int pad) =>
        MatchesReference(n, c, h, w, k, pad, tileSize: 2, relTol: 2e-6);

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Winograd_4x4_tiles_match_the_direct_reference(int n, int c, int h, int w, int k, int pad) =>
        MatchesReference(n, c, h, w, k, pad, tileSize: 4, relTol: 2e-5);

    // Forward, backward-data and backward-filter (plus bias) at 1 and 2 threads against ReferenceNn. Each output is a sum
    // of products (C·9 in forward, K·9 in backward-data, N·P·Q·… in backward-filter) that the transforms regroup: its
    // error is bounded by relTol times the sum of the products' magnitudes (the same conv of |x|, |w|, |dy|), plus 1e-6.
    // Measured on these shapes: F(2×2) within 1e-6 of that scale, F(4×4) (coefficients up to 8 and 1/24) within 5e-6: the
    // tolerances leave 2× and 4× margin. A wrong tap or a lost tile is off by a whole product (~1e-2 to 1 of the scale).
    private static void MatchesReference(int n, int c, int h, int w, int k, int pad, int tileSize, double relTol)
    {
        using var scope = TensorScope.Begin();
        int p = h + 2 * pad - 2, q = w + 2 * pad - 2;
        var g = new Conv2dGeometry(n, c, h, w, k, 3, 3, p, q, 1, pad, 1, 1);
        if (!ConvWinograd.Applies(g)) Assert.Skip("no AVX-512 on this CPU (or SE_CONV_WINOGRAD=0): Winograd is not used");
        var be = BackendRegistry.For(Device.Cpu);
        var x = Tensor.RandN(new[] { n, c, h, w }, new Rng(1));
        var weight = Tensor.RandN(new[] { k, c, 3, 3 }, new Rng(2));
        var bias = Tensor.RandN(new[] { k }, new Rng(3));
        var dy = Tensor.RandN(new[] { n, k, p, q }, new Rng(4));
        float[] xs = x.ToFloatArray(), ws = weight.ToFloatArray(), dys = dy.ToFloatArray();
        float[] xAbs = Abs(xs), wAbs = Abs(ws), dyAbs = Abs(dys);
        var yRef = new float[n * k * p * q];
        var yScale = new float[yRef.Length];
        ReferenceNn.Conv2dForward<float>(xs, ws, bias.Span<float>(), yRef, g);
        ReferenceNn.Conv2dForward<float>(xAbs, wAbs, ReadOnlySpan<float>.Empty, yScale, g);
        var dxRef = new float[n * c * h * w];
        var dxScale = new float[dxRef.Length];
        ReferenceNn.Conv2dBackwardData<float>(dys, ws, dxRef, g);
        ReferenceNn.Conv2dBackwardData<float>(dyAbs, wAbs, dxScale, g);
        var dwRef = new float[k * c * 9];
        var dwScale = new float[dwRef.Length];
        var dbRef = new float[k];
        ReferenceNn.Conv2dBackwardFilter<float>(xs, dys, dwRef, dbRef, g);
        ReferenceNn.Conv2dBackwardFilter<float>(xAbs, dyAbs, dwScale, new float[k], g);

        int saved = CpuParallel.MaxThreads, savedTile = ConvWinograd.TileSize;
        ConvWinograd.TileSize = tileSize;
        try
        {
            float[]? y1 = null;
            foreach (int threads in new[] { 1, 2 })
            {
                CpuParallel.MaxThreads = threads;
                var y = Tensor.Empty(new[] { n, k, p, q });
                be.Conv2dForward(x, weight, bias, y, g);
                AssertWithinScale(yRef, yScale, y.ToFloatArray(), relTol, $"forward, {threads} threads");
                // Forward sums every output in one fixed order whatever the thread count.
                if (y1 == null) y1 = y.ToFloatArray();
                else Assert.Equal(y1, y.ToFloatArray());

                var dx = Tensor.Empty(x.Shape);
                be.Conv2dBackwardData(dy, weight, dx, g);
                AssertWithinScale(dxRef, dxScale, dx.ToFloatArray(), relTol, $"backward data, {threads} threads");

                var dw = Tensor.Full(weight.Shape, float.NaN); // overwritten, not accumulated into
                var db = Tensor.Empty(bias.Shape);
                be.Conv2dBackwardFilter(x, dy, dw, db, g);
                AssertWithinScale(dwRef, dwScale, dw.ToFloatArray(), relTol, $"backward filter, {threads} threads");
                KernelAssert.AssertClose(dbRef, db.ToFloatArray(), 1e-4, $"backward bias, {threads} threads");
            }
        }
        finally
        {
            CpuParallel.MaxThreads = saved;
            ConvWinograd.TileSize = savedTile;
        }
    }

    [Theory]
    [InlineData(2, 8, 13, 15, 9, 1, 4)]   // 4×4 tiles, 13×15 rows copied float by float at the tail
    [InlineData(2, 8, 7, 5, 8, 1, 2)]     // 2×2 tiles, 5-float rows
    [InlineData(3, 16, 32, 32, 16, 1, 4)] // 32-float rows, whole vectors
    public unsafe void Never_reads_past_the_end_of_x_w_or_dy(int n, int c, int h, int w, int k, int pad, int tileSize)
    {
        // x, w and dy each end a page followed by a PROT_NONE page: a read past any of them (the transforms copy rows of
        // x and dy, the weight transform reads w) would crash the test process. Forward and backward-filter called
        // straight on those pointers, against the reference, at 1 and 2 threads.
        int p = h + 2 * pad - 2, q = w + 2 * pad - 2;
        var g = new Conv2dGeometry(n, c, h, w, k, 3, 3, p, q, 1, pad, 1, 1);
        if (!ConvWinograd.Applies(g)) Assert.Skip("no AVX-512 on this CPU (or SE_CONV_WINOGRAD=0): Winograd is not used");
        if (!GuardedArray.Supported) Assert.Skip("the guard page is made with Linux mmap/mprotect");
        float[] xs = Tensor.RandN(new[] { n, c, h, w }, new Rng(1)).ToFloatArray(), ws = Tensor.RandN(new[] { k, c, 3, 3 }, new Rng(2)).ToFloatArray();
        float[] dys = Tensor.RandN(new[] { n, k, p, q }, new Rng(4)).ToFloatArray();
        var yRef = new float[n * k * p * q];
        var dwRef = new float[k * c * 9];
        ReferenceNn.Conv2dForward<float>(xs, ws, ReadOnlySpan<float>.Empty, yRef, g);
        ReferenceNn.Conv2dBackwardFilter<float>(xs, dys, dwRef, new float[k], g);
        using var x = new GuardedArray(xs);
        using var weight = new GuardedArray(ws);
        using var dy = new GuardedArray(dys);
        int saved = CpuParallel.MaxThreads, savedTile = ConvWinograd.TileSize;
        ConvWinograd.TileSize = tileSize;
        try
        {
            foreach (int threads in new[] { 1, 2 })
            {
                CpuParallel.MaxThreads = threads;
                var y = new float[yRef.Length];
                var dw = new float[dwRef.Length];
                fixed (float* yp = y, dwp = dw)
                {
                    ConvWinograd.Forward(x.Pointer, weight.Pointer, yp, g, new ConvImplicit.Epilogue(null, null, false));
                    ConvWinograd.BackwardFilter(x.Pointer, dy.Pointer, dwp, g);
                }
                KernelAssert.AssertClose(yRef, y, 1e-4, $"forward against guard pages, {threads} threads");
                KernelAssert.AssertClose(dwRef, dw, 1e-4 * Math.Sqrt(n * p * q), $"backward filter against guard pages, {threads} threads");
            }
        }
        finally
        {
            CpuParallel.MaxThreads = saved;
            ConvWinograd.TileSize = savedTile;
        }
    }

    private static float[] Abs(float[] a) => a.Select(MathF.Abs).ToArray();

    private static void AssertWithinScale(float[] expected, float[] scale, float[] actual, double relTol, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(actual[i] - expected[i]) <= relTol * scale[i] + 1e-6,
                $"{what}: element {i} is {actual[i]:G9}, expected {expected[i]:G9} (products' magnitude {scale[i]:G6})");
    }

    [Theory]
    [InlineData(2, false)]
    [InlineData(2, true)]
    [InlineData(4, false)]
    [InlineData(4, true)]
    public void Folded_batch_norm_epilogue_matches_the_unfused_ops(int tileSize, bool relu)
    {
        // Inference conv → BN (→ ReLU) through Winograd's output-transform epilogue against the reference conv, then the
        // batch norm's affine map in float64 and the ReLU. 14×13 outputs: 16 tiles of 4×4 per image (the last row and
        // column of tiles hang over), so tileSize 4 runs F(4×4) and 2 runs F(2×2). The bound is MatchesReference's on the
        // conv, times the channel's |scale|, plus the affine map's own float rounding (1e-5 of the result).
        using var scope = TensorScope.Begin();
        const int n = 3, c = 16, h = 14, w = 13, k = 20;
        var g = new Conv2dGeometry(n, c, h, w, k, 3, 3, h, w, 1, 1, 1, 1);
        if (!ConvWinograd.Applies(g)) Assert.Skip("no AVX-512 on this CPU (or SE_CONV_WINOGRAD=0): Winograd is not used");
        var be = BackendRegistry.For(Device.Cpu);
        var x = Tensor.RandN(new[] { n, c, h, w }, new Rng(1));
        var weight = Tensor.RandN(new[] { k, c, 3, 3 }, new Rng(2));
        var mean = Tensor.RandN(new[] { k }, new Rng(3));
        var variance = Tensor.RandN(new[] { k }, new Rng(4)).Abs() + 0.5f;
        var gamma = Tensor.RandN(new[] { k }, new Rng(5));
        var beta = Tensor.RandN(new[] { k }, new Rng(6));
        var y = Tensor.Empty(new[] { n, k, h, w });
        int savedTile = ConvWinograd.TileSize;
        ConvWinograd.TileSize = tileSize;
        try
        {
            be.Conv2dBatchNormInference(x, weight, null, mean, variance, gamma, beta, 1e-5, y, g, relu);
        }
        finally
        {
            ConvWinograd.TileSize = savedTile;
        }
        float[] xs = x.ToFloatArray(), ws = weight.ToFloatArray();
        var conv = new float[n * k * h * w];
        var convScale = new float[conv.Length];
        ReferenceNn.Conv2dForward<float>(xs, ws, ReadOnlySpan<float>.Empty, conv, g);
        ReferenceNn.Conv2dForward<float>(Abs(xs), Abs(ws), ReadOnlySpan<float>.Empty, convScale, g);
        float[] m = mean.ToFloatArray(), v = variance.ToFloatArray(), ga = gamma.ToFloatArray(), be2 = beta.ToFloatArray();
        float[] got = y.ToFloatArray();
        double relTol = tileSize == 4 ? 2e-5 : 2e-6;
        for (int i = 0; i < conv.Length; i++)
        {
            int ch = i / (h * w) % k;
            double sc = ga[ch] / Math.Sqrt(v[ch] + 1e-5), e = conv[i] * sc + (be2[ch] - m[ch] * sc);
            double expected = relu ? Math.Max(e, 0) : e;
            double bound = relTol * Math.Abs(sc) * convScale[i] + 1e-5 * (1 + Math.Abs(expected));
            Assert.True(Math.Abs(got[i] - expected) <= bound, $"element {i}: {got[i]:G9}, expected {expected:G9} (bound {bound:G3})");
        }
        if (relu) Assert.DoesNotContain(got, f => f < 0 || float.IsNegative(f));
    }

    [Fact]
    public void Takes_stride_1_3x3_single_group_convs_with_enough_channels()
    {
        static Conv2dGeometry G(int c, int k, int stride = 1, int pad = 1, int groups = 1, int r = 3, int dil = 1) =>
            new(2, c, 16, 16, k, r, r, Conv2dGeometry.OutputSize(16, r, stride, pad, dil), Conv2dGeometry.OutputSize(16, r, stride, pad, dil), stride, pad, dil, groups);
        if (!ConvWinograd.Applies(G(16, 16))) Assert.Skip("no AVX-512 on this CPU (or SE_CONV_WINOGRAD=0): Winograd is not used");
        Assert.True(ConvWinograd.Applies(G(8, 8, pad: 0)));
        Assert.False(ConvWinograd.Applies(G(3, 16)));            // the stem's 3 input channels
        Assert.False(ConvWinograd.Applies(G(16, 4)));            // SE-sized outputs
        Assert.False(ConvWinograd.Applies(G(16, 32, stride: 2))); // a downsampling conv
        Assert.False(ConvWinograd.Applies(G(32, 32, groups: 4))); // grouped (ResNeXt)
        Assert.False(ConvWinograd.Applies(G(16, 16, r: 1, pad: 0)));
        Assert.False(ConvWinograd.Applies(G(16, 16, pad: 2, dil: 2)));
        Assert.False(ConvWinograd.Applies(G(16, 16, pad: 3)));
    }
}
