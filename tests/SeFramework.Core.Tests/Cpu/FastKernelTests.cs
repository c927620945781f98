// FastKernelTests: the Vector512 / parallel CPU kernels against their plain references on awkward shapes (odd lengths,
// vector tails, 1×1 spatial, batch 1, strides, dilation, many groups), and bit-identical reruns at a fixed thread count.
using SeFramework.Backends;
using SeFramework.Cpu;
using Xunit;
using static SeFramework.Core.Tests.Cpu.KernelAssert;

namespace SeFramework.Core.Tests.Cpu;

[Collection(nameof(CpuThreadsCollection))]
public sealed unsafe class FastKernelTests
{
    private static float[] RandomFloats(int n, ulong seed) => Tensor.RandN(new[] { n }, new Rng(seed)).ToFloatArray();

    [Theory]
    [InlineData(1)]
    [InlineData(15)]
    [InlineData(33)]
    [InlineData(4097)]
    [InlineData(200_003)] // several parallel blocks and a ragged last block
    public void Unary_maps_equal_the_scalar_loops_bit_for_bit(int n)
    {
        using var scope = TensorScope.Begin(); // frees every tensor at the end (memory tests run beside this class)
        var x = RandomFloats(n, 1);
        x[0] = -0f;
        if (n > 2) x[2] = float.NaN;
        var dy = RandomFloats(n, 2);
        foreach (var (op, scalar) in new[] { (UnaryOp.Relu, 0.0), (UnaryOp.MulScalar, 0.37), (UnaryOp.AddScalar, -1.5), (UnaryOp.Sigmoid, 0.0), (UnaryOp.Neg, 0.0) })
        {
            var xt = Tensor.FromArray(x, new[] { n });
            var y = Tensor.Empty(new[] { n });
            BackendRegistry.For(Device.Cpu).Unary(op, xt, y, scalar);
            var yRef = new float[n];
            var dxRef = new float[n];
            var yArr = y.ToFloatArray();
            var dx = Tensor.Empty(new[] { n });
            BackendRegistry.For(Device.Cpu).UnaryBackward(op, xt, y, Tensor.FromArray(dy, new[] { n }), dx, scalar);
            switch (op)
            {
                case UnaryOp.Relu:
                    CpuBackend.ReferenceMap<float, ReluFn<float>>(x, yRef, 0f);
                    CpuBackend.ReferenceMapGrad<float, ReluFn<float>>(x, yArr, dy, dxRef, 0f);
                    break;
                case UnaryOp.MulScalar:
                    CpuBackend.ReferenceMap<float, MulScalarFn<float>>(x, yRef, 0.37f);
                    CpuBackend.ReferenceMapGrad<float, MulScalarFn<float>>(x, yArr, dy, dxRef, 0.37f);
                    break;
                case UnaryOp.AddScalar:
                    CpuBackend.ReferenceMap<float, AddScalarFn<float>>(x, yRef, -1.5f);
                    CpuBackend.ReferenceMapGrad<float, AddScalarFn<float>>(x, yArr, dy, dxRef, -1.5f);
                    break;
                case UnaryOp.Sigmoid:
                    CpuBackend.ReferenceMap<float, SigmoidFn<float>>(x, yRef, 0f);
                    CpuBackend.ReferenceMapGrad<float, SigmoidFn<float>>(x, yArr, dy, dxRef, 0f);
                    break;
                default:
                    CpuBackend.ReferenceMap<float, NegFn<float>>(x, yRef, 0f);
                    CpuBackend.ReferenceMapGrad<float, NegFn<float>>(x, yArr, dy, dxRef, 0f);
                    break;
            }
            AssertBitsEqual(yRef, yArr, $"{op} n={n}");
            AssertBitsEqual(dxRef, dx.ToFloatArray(), $"{op} backward n={n}");
        }
    }

    [Theory]
    [InlineData(new[] { 3, 5, 7 }, new[] { 3, 5, 7 })]
    [InlineData(new[] { 70_001 }, new[] { 70_001 })]
    [InlineData(new[] { 4, 33 }, new[] { 33 })]      // a row broadcast
    [InlineData(new[] { 4, 33 }, new[] { 4, 1 })]    // a column broadcast (inner stride 0)
    [InlineData(new[] { 1, 17 }, new[] { 3, 1 })]    // both sides broadcast
    [InlineData(new[] { 2, 3, 1, 1 }, new[] { 2, 3, 1, 1 })]
    public void Binary_ops_equal_the_elementwise_definition(int[] aShape, int[] bShape)
    {
        using var scope = TensorScope.Begin(); // frees every tensor at the end (memory tests run beside this class)
        var a = Tensor.RandN(aShape, new Rng(3));
        var b = Tensor.RandU(bShape, new Rng(4), DType.Float32, 0.5, 2);
        var shape = Tensor.BroadcastShape(a, b, "test");
        var ea = a.Expand(shape).Contiguous().ToFloatArray();
        var eb = b.Expand(shape).Contiguous().ToFloatArray();
        foreach (var (name, result, f) in new (string, Tensor, Func<float, float, float>)[]
                 {
                     ("add", a + b, (p, q) => p + q), ("sub", a - b, (p, q) => p - q), ("mul", a * b, (p, q) => p * q), ("div", a / b, (p, q) => p / q),
                 })
        {
            var expected = ea.Select((v, i) => f(v, eb[i])).ToArray();
            AssertBitsEqual(expected, result.ToFloatArray(), name);
        }
    }

    public static TheoryData<int, int, int, int, int, int, int, int> ConvShapes => new()
    {
        // c, h, w, r, stride, padding, dilation, groups
        { 3, 7, 5, 3, 1, 1, 1, 1 },
        { 2, 9, 9, 3, 2, 1, 1, 1 },
        { 4, 8, 6, 1, 2, 0, 1, 1 },   // 1×1 stride 2 (ResNet projection)
        { 3, 5, 5, 3, 1, 2, 2, 1 },   // dilation and wide padding
        { 2, 6, 7, 5, 3, 2, 1, 1 },   // stride 3
        { 8, 4, 4, 3, 1, 1, 1, 8 },   // depthwise
        { 2, 1, 1, 3, 1, 1, 1, 1 },   // 1×1 spatial, padded
        { 1, 3, 3, 3, 1, 0, 1, 1 },   // 1×1 output
    };

    [Theory]
    [MemberData(nameof(ConvShapes))]
    public void Im2col_and_col2im_equal_the_reference_loops(int c, int h, int w, int r, int stride, int padding, int dilation, int groups)
    {
        using var scope = TensorScope.Begin(); // frees every tensor at the end (memory tests run beside this class)
        int p = Conv2dGeometry.OutputSize(h, r, stride, padding, dilation), q = Conv2dGeometry.OutputSize(w, r, stride, padding, dilation);
        var g = new Conv2dGeometry(1, c, h, w, groups, r, r, p, q, stride, padding, dilation, groups);
        var x = RandomFloats(c * h * w, 5);
        int colLen = c * r * r * p * q;
        var col = new float[colLen];
        var colRef = new float[colLen];
        Array.Fill(col, float.NaN); // every entry must be written
        fixed (float* xp = x, cp = col, crp = colRef)
        {
            CpuBackend.Im2ColForTests(xp, cp, g);
            CpuBackend.Im2ColReference(xp, crp, g);
        }
        AssertBitsEqual(colRef, col, "im2col");

        var dcol = RandomFloats(colLen, 6);
        var dx = new float[c * h * w];
        var dxRef = new float[c * h * w];
        Array.Fill(dx, float.NaN);
        fixed (float* dp = dcol, op = dx, orp = dxRef)
        {
            CpuBackend.Col2ImForTests(dp, op, g);
            CpuBackend.Col2ImReference(dp, orp, g);
        }
        // Same additions in the same (r, s, p) order per pixel, so the sums agree exactly.
        AssertBitsEqual(dxRef, dx, "col2im");
    }

    [Theory]
    [InlineData(2, 4, 9, 7, 6, 3, 1, 1, 1)]   // the usual 3×3 "same" conv
    [InlineData(1, 3, 8, 8, 5, 3, 0, 1, 1)]   // no padding: the transposed conv pads by 2
    [InlineData(2, 4, 9, 9, 8, 3, 2, 2, 2)]   // dilation 2, groups 2
    [InlineData(3, 6, 7, 5, 6, 5, 1, 1, 3)]   // kernel 5, less than half padding, groups 3
    [InlineData(2, 8, 6, 6, 8, 3, 1, 1, 8)]   // depthwise
    public void Stride1_input_gradient_as_a_forward_conv_matches_the_reference(int n, int c, int h, int w, int k, int r, int pad, int dil, int groups)
    {
        using var scope = TensorScope.Begin();
        int p = Conv2dGeometry.OutputSize(h, r, 1, pad, dil), q = Conv2dGeometry.OutputSize(w, r, 1, pad, dil);
        var g = new Conv2dGeometry(n, c, h, w, k, r, r, p, q, 1, pad, dil, groups);
        Assert.True(CpuBackend.TransposedAsForward(g, out _));
        var weight = Tensor.RandN(new[] { k, c / groups, r, r }, new Rng(20));
        var dy = Tensor.RandN(new[] { n, k, p, q }, new Rng(21));
        var dx = Tensor.Empty(new[] { n, c, h, w });
        BackendRegistry.For(Device.Cpu).Conv2dBackwardData(dy, weight, dx, g);
        var dxRef = new float[n * c * h * w];
        ReferenceNn.Conv2dBackwardData<float>(dy.Span<float>(), weight.Span<float>(), dxRef, g);
        var got = dx.ToFloatArray();
        // float32 sums of up to K·R·S products in a different order (GEMM blocks vs the direct loop): ~1e-6 relative each, 1e-4 leaves room.
        for (int i = 0; i < got.Length; i++) Assert.True(Math.Abs(got[i] - dxRef[i]) <= 1e-4 * (1 + Math.Abs(dxRef[i])), $"dx {i}: {got[i]} vs {dxRef[i]}");
    }

    [Theory]
    [InlineData(1, 3, 1, 1)]
    [InlineData(1, 5, 7, 9)]
    [InlineData(5, 17, 1, 1)]     // 1×1 spatial (SE-style)
    [InlineData(3, 2, 13, 11)]    // vector tails
    [InlineData(16, 40, 8, 8)]    // planes in parallel
    public void Gap_and_axpy_match_the_reference(int n, int c, int h, int w)
    {
        using var scope = TensorScope.Begin(); // frees every tensor at the end (memory tests run beside this class)
        var x = Tensor.RandN(new[] { n, c, h, w }, new Rng(7));
        var y = Tensor.RandN(new[] { n, c, h, w }, new Rng(8));
        var a = Tensor.RandN(new[] { n, c }, new Rng(9));
        var g = Tensor.RandN(new[] { n, c, h, w }, new Rng(10));
        var gap = F.GlobalAvgPool(x);
        var gapRef = new float[n * c];
        ReferenceNn.GlobalAvgPool<float>(x.Span<float>(), gapRef, n * c, h * w);
        var gapArr = gap.ToFloatArray();
        // The SIMD plane sum adds in 16 lanes, the reference sequentially: float32 reassociation over H·W ≤ 3136 terms.
        for (int i = 0; i < gapRef.Length; i++) Assert.True(Math.Abs(gapArr[i] - gapRef[i]) <= 1e-5 * (1 + Math.Abs(gapRef[i])), $"GAP {i}");

        var backend = BackendRegistry.For(Device.Cpu);
        foreach (bool relu in new[] { false, true })
            foreach (bool withY in new[] { false, true })
            {
                var o = Tensor.Empty(x.Shape);
                backend.Axpy(a, x, withY ? y : null, o, relu);
                var oRef = new float[x.NumElements];
                ReferenceNn.Axpy<float>(a.Span<float>(), x.Span<float>(), withY ? y.Span<float>() : default, oRef, relu, n, c, h * w);
                AssertBitsEqual(oRef, o.ToFloatArray(), $"axpy relu={relu} y={withY}");

                var da = Tensor.Empty(new[] { n, c });
                var dx = Tensor.Empty(x.Shape);
                var dy = Tensor.Empty(x.Shape);
                backend.AxpyBackward(a, x, o, g, relu, da, dx, dy);
                var daRef = new float[n * c];
                var dxRef = new float[x.NumElements];
                var dyRef = new float[x.NumElements];
                ReferenceNn.AxpyBackward<float>(a.Span<float>(), x.Span<float>(), oRef, g.Span<float>(), relu, daRef, dxRef, dyRef, n, c, h * w);
                AssertBitsEqual(dxRef, dx.ToFloatArray(), "axpy dx");
                AssertBitsEqual(dyRef, dy.ToFloatArray(), "axpy dy");
                var daArr = da.ToFloatArray();
                // da sums dF·X over the plane in SIMD lanes vs sequentially in the reference: float32 reassociation, not bit-equal.
                for (int i = 0; i < daRef.Length; i++) Assert.True(Math.Abs(daArr[i] - daRef[i]) <= 1e-4 * (1 + Math.Abs(daRef[i])), $"axpy da {i}: {daArr[i]} vs {daRef[i]}");
            }
    }

    [Theory]
    [InlineData(7, 0.0, 0.0, false)]
    [InlineData(100_003, 0.9, 0.0, false)]   // parallel chunks and a vector tail
    [InlineData(45, 0.9, 0.1, true)]
    [InlineData(33, 0.9, 0.0, true)]
    public void Sgd_update_equals_the_scalar_rule_bit_for_bit(int n, double momentum, double dampening, bool nesterov)
    {
        using var scope = TensorScope.Begin();
        var p = RandomFloats(n, 30);
        var g = RandomFloats(n, 31);
        var buf = RandomFloats(n, 32);
        var backend = BackendRegistry.For(Device.Cpu);
        foreach (bool first in new[] { true, false })
        {
            var pt = Tensor.FromArray(p, new[] { n });
            var bt = Tensor.FromArray(buf, new[] { n });
            backend.SgdUpdate(pt, Tensor.FromArray(g, new[] { n }), momentum == 0 ? null : bt, first, 0.1, momentum, dampening, 1e-4, nesterov);
            var pRef = (float[])p.Clone();
            var bRef = (float[])buf.Clone();
            CpuBackend.SgdKernel<float>(pRef, g, momentum == 0 ? default : bRef, momentum != 0, first, 0.1f, (float)momentum, (float)dampening, 1e-4f, nesterov);
            AssertBitsEqual(pRef, pt.ToFloatArray(), $"param first={first}");
            if (momentum != 0) AssertBitsEqual(bRef, bt.ToFloatArray(), $"momentum first={first}");
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Fused_batch_norm_relu_equals_the_two_ops(bool training)
    {
        using var scope = TensorScope.Begin();
        int n = 3, c = 5, h = 7, w = 6;
        var x = Tensor.RandN(new[] { n, c, h, w }, new Rng(40)).RequiresGrad_();
        var gamma = Tensor.RandN(new[] { c }, new Rng(41)).RequiresGrad_();
        var beta = Tensor.RandN(new[] { c }, new Rng(42)).RequiresGrad_();
        var dy = Tensor.RandN(new[] { n, c, h, w }, new Rng(43));
        Tensor rm1 = Tensor.Zeros(new[] { c }), rv1 = Tensor.Ones(new[] { c }), rm2 = Tensor.Zeros(new[] { c }), rv2 = Tensor.Ones(new[] { c });
        var fused = F.BatchNorm2dRelu(x, rm1, rv1, gamma, beta, training);
        fused.Backward(dy);
        var (gx, gg, gb) = (x.Grad!.ToFloatArray(), gamma.Grad!.ToFloatArray(), beta.Grad!.ToFloatArray());
        x.Grad = gamma.Grad = beta.Grad = null;
        var seq = F.BatchNorm2d(x, rm2, rv2, gamma, beta, training).Relu();
        seq.Backward(dy);
        AssertBitsEqual(seq.ToFloatArray(), fused.ToFloatArray(), "y");
        AssertBitsEqual(x.Grad!.ToFloatArray(), gx, "dx");
        AssertBitsEqual(gamma.Grad!.ToFloatArray(), gg, "dgamma");
        AssertBitsEqual(beta.Grad!.ToFloatArray(), gb, "dbeta");
        AssertBitsEqual(rv2.ToFloatArray(), rv1.ToFloatArray(), "running var");
    }

    [Fact]
    public void Batch_norm_stats_stay_accurate_for_a_large_offset()
    {
        using var scope = TensorScope.Begin(); // frees every tensor at the end (memory tests run beside this class)
        // x = 1000 + small noise: a naive one-pass E[x²] − E[x]² in float would lose the variance entirely.
        int n = 4, c = 3, l = 37;
        var x = Tensor.RandN(new[] { n, c, l }, new Rng(11)) * 0.01 + 1000.0;
        // momentum 1: the running stats become the batch mean and the unbiased batch variance.
        var rm = Tensor.Zeros(new[] { c });
        var rv = Tensor.Ones(new[] { c });
        F.BatchNorm2d(x, rm, rv, null, null, training: true, momentum: 1.0);
        var xs = x.ToDoubleArray();
        var mean = new double[c];
        var var = new double[c];
        ReferenceNn.BatchNormForward(xs, null, null, new double[xs.Length], mean, var, true, 1e-5, n, c, l);
        var rma = rm.ToDoubleArray();
        var rva = rv.ToDoubleArray();
        for (int ch = 0; ch < c; ch++)
        {
            // Running stats are float32 and the batch statistics come from one-pass sums; mean within 1e-4, unbiased variance within 0.1 %.
            Assert.True(Math.Abs(rma[ch] - mean[ch]) <= 1e-4, $"mean {ch}: {rma[ch]} vs {mean[ch]}");
            double unbiased = var[ch] * n * l / (n * l - 1);
            Assert.True(Math.Abs(rva[ch] - unbiased) <= 1e-3 * unbiased, $"var {ch}: {rva[ch]} vs {unbiased}");
        }
    }

    [Fact]
    public void Kernels_are_bit_identical_across_runs_at_a_fixed_thread_count()
    {
        using var scope = TensorScope.Begin(); // frees every tensor at the end (memory tests run beside this class)
        float[] Run()
        {
            var x = Tensor.RandN(new[] { 6, 24, 17, 17 }, new Rng(12)).RequiresGrad_();
            var w = Tensor.RandN(new[] { 24, 24, 3, 3 }, new Rng(13)).RequiresGrad_();
            var gamma = Tensor.Ones(new[] { 24 }).RequiresGrad_();
            var y = F.BatchNorm2d(F.Conv2d(x, w, padding: 1), null, null, gamma, null, training: true).Relu();
            var s = F.GlobalAvgPool(y).Sigmoid();
            var o = F.AxpyRelu(s, y, x);
            (o * o).Sum().Backward();
            return o.ToFloatArray().Concat(x.Grad!.ToFloatArray()).Concat(w.Grad!.ToFloatArray()).Concat(gamma.Grad!.ToFloatArray()).ToArray();
        }
        AssertBitsEqual(WithThreads(2, Run), WithThreads(2, Run), "rerun at 2 threads");
    }
}
