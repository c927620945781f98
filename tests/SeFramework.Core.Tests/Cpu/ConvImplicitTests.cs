// ConvImplicitTests: the float32 implicit-GEMM convolution (forward, stride-1 backward-data through the flipped forward,
// strided 1×1 backward-data through a pointwise forward, backward-filter by padded-width GEMM or lane dot products;
// strides via phase planes) against ReferenceNn on awkward shapes, with Winograd switched off.
using SeFramework.Backends;
using SeFramework.Cpu;
using Xunit;

namespace SeFramework.Core.Tests.Cpu;

[Collection(nameof(CpuThreadsCollection))]
public sealed class ConvImplicitTests
{
    public static TheoryData<int, int, int, int, int, int, int, int, int, int, int> Shapes => new()
    {
        // N, C, H, W, K, R, S, stride, padding, dilation, groups
        { 1, 3, 7, 5, 4, 3, 3, 1, 1, 1, 1 },      // batch 1, odd non-square input
        { 3, 5, 9, 11, 13, 3, 3, 1, 1, 1, 1 },    // K = 13 (a 12-row panel + 1), images straddling column panels
        { 2, 4, 1, 1, 6, 3, 3, 1, 1, 1, 1 },      // 1×1 spatial: one output per image, only the centre tap sees data
        { 2, 6, 8, 8, 6, 3, 3, 1, 2, 2, 3 },      // dilation 2, padding 2, groups 3
        { 2, 4, 6, 7, 5, 3, 3, 1, 0, 1, 1 },      // padding 0
        { 2, 8, 6, 6, 8, 3, 3, 1, 1, 1, 8 },      // depthwise
        { 2, 3, 9, 9, 4, 5, 5, 1, 2, 1, 1 },      // kernel 5
        { 2, 3, 6, 7, 2, 1, 3, 1, 1, 1, 1 },      // 1×3 kernel (padding 1 on both axes)
        { 2, 3, 16, 32, 8, 3, 3, 1, 1, 1, 1 },    // Q = 32: backward-filter by dot products
        { 2, 6, 18, 18, 18, 3, 3, 1, 0, 1, 2 },   // P = Q = 16, groups 2, K/G = 9 and C/G·R·S = 27: dot-product edge tiles
        { 5, 6, 3, 18, 8, 3, 3, 1, 0, 1, 1 },     // P·Q = 16: the dot product over a group of images (all 5 in one pass)
        { 2, 5, 3, 40, 30, 3, 3, 1, 1, 1, 1 },    // Q = 40: backward-filter by the padded-width GEMM, K = 30
        { 9, 32, 6, 10, 28, 3, 3, 1, 1, 1, 1 },   // C·R·S = 288 (two KC blocks), 540 columns (two NC blocks), parallel chunks
        { 2, 4, 9, 8, 6, 3, 3, 2, 1, 1, 2 },    // stride 2, odd height, groups 2 (phase planes)
        { 2, 3, 11, 10, 5, 7, 7, 2, 3, 1, 1 },  // the stem's 7×7 stride 2 padding 3
        { 3, 4, 9, 7, 8, 3, 3, 3, 2, 2, 4 },    // stride 3, dilation 2, groups 4
        { 2, 5, 33, 64, 7, 3, 3, 2, 1, 1, 1 },  // stride 2 with Q = 32: backward-filter by dot products
        { 2, 3, 7, 81, 30, 3, 3, 2, 1, 1, 1 },  // stride 2 with Q = 41: backward-filter by the padded-width GEMM
        { 1, 2, 6, 40, 3, 3, 3, 2, 2, 1, 1 },   // stride 2, padding 2: vector phase split with an even pad, scalar tail
        { 2, 2, 5, 35, 3, 3, 3, 2, 0, 1, 1 },   // stride 2, padding 0: vector phase split, odd width
        { 2, 6, 5, 7, 8, 1, 1, 1, 0, 1, 2 },    // 1×1 stride 1, groups 2: input read in place, segments across output rows
        { 3, 5, 3, 3, 7, 1, 1, 1, 0, 1, 1 },    // pointwise, P·Q = 9: three images in one panel, the last one ends the input
        { 4, 16, 23, 23, 24, 1, 1, 1, 0, 1, 1 }, // pointwise, P·Q = 529 ≥ NC: one image per unit, 17-column tail panels
        { 3, 20, 8, 8, 13, 1, 1, 1, 0, 1, 1 },  // pointwise, P·Q = 64: whole panels inside images, B read in place (no packing)
        { 2, 5, 6, 6, 4, 1, 1, 2, 0, 1, 1 },    // 1×1 stride 2 (a projection shortcut; backward-data scatters a pointwise conv)
        { 2, 6, 7, 5, 4, 1, 1, 3, 0, 1, 2 },    // 1×1 stride 3, groups 2, odd sizes
        // ≥ 64 Ki weights: packed (and flipped for backward-data) by several threads in (group, KC block, 96-row slab)
        // tasks; ≥ 128 Ki weights: the backward-filter partials are added in parallel blocks.
        { 3, 120, 4, 5, 130, 3, 3, 1, 1, 1, 1 },  // K = 130 (slabs of 96 + 34 rows), C·R·S = 1080 (KC blocks 256·4 + 56), im2col filter
        { 2, 120, 2, 40, 130, 3, 3, 1, 1, 1, 1 }, // the same weights, Q = 40: padded-width GEMM filter, parallel partial sums
        { 2, 120, 3, 4, 130, 3, 3, 1, 1, 1, 2 },  // groups 2: K/G = 65, C/G·R·S = 540, tasks over both groups
        { 2, 70, 16, 16, 8, 1, 1, 2, 0, 1, 1 },   // 1×1 stride 2: backward-data's scatter over 140 planes split across threads
        // 147 columns = 5 panels at 2 threads: the (panel, 12-row tile) grid split, 30 tiles = 15 + 15, panel 2 shared at
        // row 36 (the chunk-1 half holds the 4-row tail tile); panels span images (scatter of a row range, plus bias)
        { 3, 32, 7, 7, 64, 3, 3, 1, 1, 1, 1 },
        { 2, 16, 4, 32, 64, 3, 3, 1, 1, 1, 1 },  // dot-product filter with 64·144·16 lane sums: the partials added in parallel blocks
        // im2col paths whose per-image GEMM has m ≥ n: run by the packed driver on the thread that owns the image
        { 4, 32, 12, 12, 96, 1, 1, 1, 0, 1, 1 },  // 1×1 backward-filter: m = K = 96, n = C = 32, k = P·Q = 144
        { 4, 32, 12, 12, 16, 3, 3, 2, 1, 1, 1 },  // stride-2 backward-data: m = C·R·S = 288, n = P·Q = 36, k = K = 16
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Implicit_gemm_matches_the_direct_reference(int n, int c, int h, int w, int k, int r, int s, int stride, int pad, int dil, int groups)
    {
        using var scope = TensorScope.Begin();
        int p = Conv2dGeometry.OutputSize(h, r, stride, pad, dil), q = Conv2dGeometry.OutputSize(w, s, stride, pad, dil);
        var g = new Conv2dGeometry(n, c, h, w, k, r, s, p, q, stride, pad, dil, groups);
        if (!ConvImplicit.Applies(g)) Assert.Skip("no AVX-512 on this CPU: the implicit GEMM is not used");
        var be = BackendRegistry.For(Device.Cpu);
        var x = Tensor.RandN(new[] { n, c, h, w }, new Rng(1));
        var weight = Tensor.RandN(new[] { k, c / groups, r, s }, new Rng(2));
        var bias = Tensor.RandN(new[] { k }, new Rng(3));
        var dy = Tensor.RandN(new[] { n, k, p, q }, new Rng(4));
        // float32 sums of up to N·P·Q = 540 products of unit normals, in GEMM-block or lane order against the reference's
        // float sums in tap order: a few 1e-6 relative apart; 1e-4·(1 + |expected|) leaves margin and still catches a
        // wrong or missing tap (an error of one product, ~1 in size).
        const double tol = 1e-4;

        int saved = CpuParallel.MaxThreads;
        bool winograd = ConvWinograd.Enabled;
        ConvWinograd.Enabled = false; // the 3×3 stride-1 shapes would take Winograd (ConvWinogradTests covers that)
        try
        {
            float[]? y1 = null;
            foreach (int threads in new[] { 1, 2 })
            {
                CpuParallel.MaxThreads = threads;
                var y = Tensor.Empty(new[] { n, k, p, q });
                be.Conv2dForward(x, weight, bias, y, g);
                var yRef = new float[n * k * p * q];
                ReferenceNn.Conv2dForward<float>(x.Span<float>(), weight.Span<float>(), bias.Span<float>(), yRef, g);
                KernelAssert.AssertClose(yRef, y.ToFloatArray(), tol, $"forward, {threads} threads");
                // Forward sums every output in one fixed order whatever the thread count.
                if (y1 == null) y1 = y.ToFloatArray();
                else Assert.Equal(y1, y.ToFloatArray());

                var dx = Tensor.Empty(x.Shape);
                be.Conv2dBackwardData(dy, weight, dx, g);
                var dxRef = new float[n * c * h * w];
                ReferenceNn.Conv2dBackwardData<float>(dy.Span<float>(), weight.Span<float>(), dxRef, g);
                KernelAssert.AssertClose(dxRef, dx.ToFloatArray(), tol, $"backward data, {threads} threads");

                var dw = Tensor.Empty(weight.Shape);
                var db = Tensor.Empty(bias.Shape);
                be.Conv2dBackwardFilter(x, dy, dw, db, g);
                var dwRef = new float[k * (c / groups) * r * s];
                var dbRef = new float[k];
                ReferenceNn.Conv2dBackwardFilter<float>(x.Span<float>(), dy.Span<float>(), dwRef, dbRef, g);
                KernelAssert.AssertClose(dwRef, dw.ToFloatArray(), tol, $"backward filter, {threads} threads");
                KernelAssert.AssertClose(dbRef, db.ToFloatArray(), tol, $"backward bias, {threads} threads");
            }
        }
        finally
        {
            CpuParallel.MaxThreads = saved;
            ConvWinograd.Enabled = winograd;
        }
    }

    [Fact]
    public void Float64_backward_filter_with_parallel_partial_sums_matches_the_reference()
    {
        // x: (2, 120, 4, 5), dy: (2, 130, 4, 5) -> dw: (130, 120, 3, 3) = 140 400 doubles: the im2col path with one partial
        // per thread, added in parallel blocks (SumPartials<double>); against ReferenceNn at 1 and 2 threads.
        using var scope = TensorScope.Begin();
        var g = new Conv2dGeometry(2, 120, 4, 5, 130, 3, 3, 4, 5, 1, 1, 1, 1);
        var be = BackendRegistry.For(Device.Cpu);
        var x = Tensor.RandN(new[] { 2, 120, 4, 5 }, new Rng(1), DType.Float64);
        var dy = Tensor.RandN(new[] { 2, 130, 4, 5 }, new Rng(4), DType.Float64);
        var dwRef = new double[130 * 120 * 9];
        ReferenceNn.Conv2dBackwardFilter<double>(x.Span<double>(), dy.Span<double>(), dwRef, new double[130], g);
        int saved = CpuParallel.MaxThreads;
        try
        {
            foreach (int threads in new[] { 1, 2 })
            {
                CpuParallel.MaxThreads = threads;
                var dw = Tensor.Empty(new[] { 130, 120, 3, 3 }, DType.Float64);
                be.Conv2dBackwardFilter(x, dy, dw, null, g);
                double[] got = dw.Span<double>().ToArray();
                // float64 sums of N·P·Q = 40 products in another order (per-thread partials): ~1e-15 relative; 1e-10 is margin.
                for (int i = 0; i < got.Length; i++)
                    Assert.True(Math.Abs(got[i] - dwRef[i]) <= 1e-10 * (1 + Math.Abs(dwRef[i])),
                        $"{threads} threads: element {i} is {got[i]:G17}, expected {dwRef[i]:G17}");
            }
        }
        finally
        {
            CpuParallel.MaxThreads = saved;
        }
    }

    [Fact]
    public void Each_backward_filter_variant_is_reached_by_the_test_shapes()
    {
        // The shape table above is meant to run all three filter paths; this pins which shape takes which.
        static Conv2dGeometry G(int n, int c, int h, int w, int k, int pad) =>
            new(n, c, h, w, k, 3, 3, h + 2 * pad - 2, w + 2 * pad - 2, 1, pad, 1, 1);
        if (!ConvImplicit.Applies(G(2, 3, 16, 32, 8, 1))) Assert.Skip("no AVX-512 on this CPU: the implicit GEMM is not used");
        Assert.True(ConvImplicit.FilterDotApplies(G(2, 3, 16, 32, 8, 1)));
        Assert.False(ConvImplicit.FilterDotApplies(G(2, 5, 3, 40, 30, 1)));
        Assert.True(ConvImplicit.FilterApplies(G(2, 5, 3, 40, 30, 1)));
        Assert.False(ConvImplicit.FilterApplies(G(1, 3, 7, 5, 4, 1))); // Q = 5: the im2col path
        Assert.True(ConvImplicit.FilterDotApplies(G(2, 6, 18, 18, 18, 0)));
    }

    [Theory]
    [InlineData(3, 5, 3, 3, 7, 1, 0)]     // pointwise, P·Q = 9: the last image's rows end mid-vector
    [InlineData(1, 4, 5, 7, 13, 1, 0)]    // pointwise, one image, P·Q = 35: a 3-column tail segment
    [InlineData(4, 16, 23, 23, 24, 1, 0)] // pointwise, P·Q = 529: one image per unit, a 17-column tail
    [InlineData(2, 3, 8, 8, 5, 1, 0)]     // pointwise, P·Q = 64: B read in place, the last panel ends at the input's end
    [InlineData(2, 3, 7, 7, 5, 3, 1)]     // 3×3 pad 1: the padded copy's last row is a 7-float masked load
    [InlineData(3, 2, 5, 20, 4, 3, 1)]    // 3×3 pad 1, W = 20: a vector and a 4-float masked tail per row
    public unsafe void Forward_never_reads_past_the_end_of_its_input(int n, int c, int h, int w, int k, int r, int pad)
    {
        // x: (N, C, H, W) placed so that its last float ends a page and the next page is PROT_NONE: a whole-vector read
        // past the input (a pointwise conv reads it in place; a padded conv copies its rows with masked tail loads) would
        // crash the test process. Also runs ConvImplicit.Forward straight on those pointers and compares with the
        // reference, at 1 and 2 threads.
        int p = h + 2 * pad - r + 1, q = w + 2 * pad - r + 1;
        var g = new Conv2dGeometry(n, c, h, w, k, r, r, p, q, 1, pad, 1, 1);
        if (!ConvImplicit.Applies(g)) Assert.Skip("no AVX-512 on this CPU: the implicit GEMM is not used");
        if (!GuardedArray.Supported) Assert.Skip("the guard page is made with Linux mmap/mprotect");
        var xs = Tensor.RandN(new[] { n, c, h, w }, new Rng(1)).ToFloatArray();
        var weight = Tensor.RandN(new[] { k, c, r, r }, new Rng(2)).ToFloatArray();
        var yRef = new float[n * k * p * q];
        ReferenceNn.Conv2dForward<float>(xs, weight, ReadOnlySpan<float>.Empty, yRef, g);
        using var x = new GuardedArray(xs);
        int saved = CpuParallel.MaxThreads;
        foreach (int threads in new[] { 1, 2 })
        {
            CpuParallel.MaxThreads = threads;
            var y = new float[yRef.Length];
            fixed (float* wp = weight, yp = y)
                ConvImplicit.Forward(x.Pointer, wp, null, yp, g);
            CpuParallel.MaxThreads = saved;
            KernelAssert.AssertClose(yRef, y, 1e-4, $"forward against a guard page, {threads} threads");
        }
    }
}
