// F.Conv2dBatchNormInference (conv with an eval batch norm folded in, optional ReLU; the CPU's implicit-GEMM or Winograd epilogue)
// against a float64 reference of conv → batch norm → ReLU and against the three unfused ops, on awkward shapes at 1 and 2
// threads, in float32 and float64; and its errors (autograd recording, wrong statistics).
using SeFramework.Autograd;
using SeFramework.Backends;
using SeFramework.Core.Tests.Cpu;
using SeFramework.Cpu;
using Xunit;

namespace SeFramework.Tests.Nn;

[Collection(nameof(CpuThreadsCollection))]
public sealed class ConvBatchNormInferenceTests
{
    public static TheoryData<int, int, int, int, int, int, int, int, int> Shapes => new()
    {
        // N, C, H, W, K, kernel, stride, padding, groups
        { 3, 5, 3, 3, 7, 1, 1, 0, 1 },     // pointwise, P·Q = 9: panels across images (scattered through the epilogue)
        { 4, 16, 23, 23, 24, 1, 1, 0, 1 }, // pointwise, one image per unit: tiles written straight into y, 17-column tails
        { 2, 6, 9, 11, 13, 3, 1, 1, 1 },   // 3×3, K = 13 (a 12-row tile and a 1-row tail)
        { 2, 8, 9, 8, 6, 3, 2, 1, 2 },     // stride 2, groups 2 (the epilogue offset per group)
        { 3, 32, 7, 7, 64, 3, 1, 1, 1 },   // 147 columns at 2 threads: the (panel, row-tile) grid split
        { 2, 3, 11, 10, 5, 7, 2, 3, 1 },   // the stem's 7×7 stride 2
        { 1, 4, 1, 1, 3, 1, 1, 0, 1 },     // 1×1 spatial, batch 1
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Folded_conv_batch_norm_relu_matches_the_float64_reference(int n, int c, int h, int w, int k, int r, int stride, int pad, int groups)
    {
        foreach (var dtype in new[] { DType.Float32, DType.Float64 })
            foreach (bool relu in new[] { false, true })
                foreach (bool convBias in new[] { false, true })
                    foreach (int threads in new[] { 1, 2 })
                        KernelAssert.WithThreads(threads, () =>
                        {
                            Check(n, c, h, w, k, r, stride, pad, groups, dtype, relu, convBias, $"{dtype}, relu {relu}, conv bias {convBias}, {threads} threads");
                            return 0;
                        });
    }

    private static void Check(int n, int c, int h, int w, int k, int r, int stride, int pad, int groups, DType dtype, bool relu, bool convBias, string what)
    {
        using var scope = TensorScope.Begin();
        var x = Tensor.RandN(new[] { n, c, h, w }, new Rng(1), dtype);
        var weight = Tensor.RandN(new[] { k, c / groups, r, r }, new Rng(2), dtype);
        var bias = convBias ? Tensor.RandN(new[] { k }, new Rng(3), dtype) : null;
        var mean = Tensor.RandN(new[] { k }, new Rng(4), dtype);
        var variance = Tensor.RandU(new[] { k }, new Rng(5), dtype, 0.25, 4);
        var gamma = Tensor.RandU(new[] { k }, new Rng(6), dtype, -2, 2);
        var beta = Tensor.RandN(new[] { k }, new Rng(7), dtype);
        const double eps = 1e-3;

        Tensor fused;
        using (Autograd.Autograd.NoGrad())
            fused = F.Conv2dBatchNormInference(x, weight, bias, stride, pad, 1, groups, mean, variance, gamma, beta, eps, relu);
        int p = (h + 2 * pad - r) / stride + 1, q = (w + 2 * pad - r) / stride + 1;
        Assert.Equal(new[] { n, k, p, q }, fused.Shape);

        // The reference: conv in float64 (ReferenceNn), then (v − mean)/√(var + ε)·γ + β, then ReLU.
        var g = new Conv2dGeometry(n, c, h, w, k, r, r, p, q, stride, pad, 1, groups);
        var yRef = new double[n * k * p * q];
        ReferenceNn.Conv2dForward<double>(x.ToDoubleArray(), weight.ToDoubleArray(), bias?.ToDoubleArray() ?? [], yRef, g);
        double[] m = mean.ToDoubleArray(), v = variance.ToDoubleArray(), ga = gamma.ToDoubleArray(), be = beta.ToDoubleArray();
        for (int i = 0; i < yRef.Length; i++)
        {
            int ch = i / (p * q) % k;
            double y = (yRef[i] - m[ch]) / Math.Sqrt(v[ch] + eps) * ga[ch] + be[ch];
            yRef[i] = relu ? Math.Max(y, 0) : y;
        }
        // float32: sums of up to C/G·R·S = 147 products of unit normals, scaled by |γ|/std ≤ 4: a few 1e-6 relative in all;
        // 1e-4·(1 + |expected|) is margin and still catches a wrong channel's scale or shift (differences of order 1).
        double tol = dtype == DType.Float32 ? 1e-4 : 1e-10;
        double[] got = fused.ToDoubleArray();
        for (int i = 0; i < got.Length; i++)
            Assert.True(Math.Abs(got[i] - yRef[i]) <= tol * (1 + Math.Abs(yRef[i])), $"{what}: element {i} is {got[i]:G9}, expected {yRef[i]:G9}");
        if (relu) Assert.All(got, value => Assert.True(value >= 0, $"{what}: ReLU left {value}"));

        // And against the three ops it replaces (eval batch norm), to the same tolerance.
        var unfused = F.BatchNorm2d(F.Conv2d(x, weight, bias, stride, pad, 1, groups), mean, variance, gamma, beta, training: false, eps: eps);
        if (relu) unfused = unfused.Relu();
        double[] u = unfused.ToDoubleArray();
        for (int i = 0; i < got.Length; i++)
            Assert.True(Math.Abs(got[i] - u[i]) <= tol * (1 + Math.Abs(u[i])), $"{what}, against the unfused ops: element {i} is {got[i]:G9}, unfused {u[i]:G9}");
    }

    [Theory]
    [InlineData(2, 6, 9, 11, 13, 3, 1, 1)]  // tiles written straight into y
    [InlineData(3, 5, 3, 3, 7, 1, 1, 0)]    // panels across images, through the scatter
    [InlineData(2, 8, 14, 13, 9, 3, 1, 1)]  // Winograd with 4×4 tiles (16 per image): ReLU in the output transform
    [InlineData(2, 8, 7, 5, 8, 3, 1, 1)]    // Winograd with 2×2 tiles
    public void An_identity_fold_with_relu_equals_conv_then_relu_bit_for_bit_even_for_nan(int n, int c, int h, int w, int k, int r, int stride, int pad)
    {
        // γ = 1, β = 0, mean = 0, var = 1, ε = 0: scale 1 and shift 0, so the epilogue's fused multiply-add returns each sum
        // unchanged and its ReLU must match Tensor.Relu() bit for bit, including the +0 it gives for NaN (an input NaN
        // poisons the sums that read it) and for −0.
        using var scope = TensorScope.Begin();
        var xs = Tensor.RandN(new[] { n, c, h, w }, new Rng(1)).ToFloatArray();
        xs[xs.Length / 2] = float.NaN;
        var x = Tensor.FromArray(xs, n, c, h, w);
        var weight = Tensor.RandN(new[] { k, c, r, r }, new Rng(2));
        Tensor fused;
        using (Autograd.Autograd.NoGrad())
            fused = F.Conv2dBatchNormInference(x, weight, null, stride, pad, 1, 1, Tensor.Zeros(new[] { k }), Tensor.Ones(new[] { k }), null, null, 0, relu: true);
        var expected = F.Conv2d(x, weight, null, stride, pad).Relu().ToFloatArray();
        Assert.Contains(F.Conv2d(x, weight, null, stride, pad).ToFloatArray(), float.IsNaN);
        KernelAssert.AssertBitsEqual(expected, fused.ToFloatArray(), "identity fold + ReLU vs Conv2d().Relu()");
    }

    [Fact]
    public void Without_batch_norm_affine_parameters_the_fold_uses_one_and_zero()
    {
        using var scope = TensorScope.Begin();
        var x = Tensor.RandN(new[] { 2, 3, 5, 5 }, new Rng(1));
        var weight = Tensor.RandN(new[] { 4, 3, 3, 3 }, new Rng(2));
        var mean = Tensor.RandN(new[] { 4 }, new Rng(3));
        var variance = Tensor.RandU(new[] { 4 }, new Rng(4), DType.Float32, 0.5, 2);
        Tensor fused;
        using (Autograd.Autograd.NoGrad())
            fused = F.Conv2dBatchNormInference(x, weight, null, 1, 1, 1, 1, mean, variance, null, null, 1e-5, relu: false);
        var expected = F.BatchNorm2d(F.Conv2d(x, weight, null, 1, 1), mean, variance, null, null, training: false).ToFloatArray();
        float[] got = fused.ToFloatArray();
        for (int i = 0; i < got.Length; i++)
            Assert.True(Math.Abs(got[i] - expected[i]) <= 1e-4 * (1 + Math.Abs(expected[i])), $"element {i}: {got[i]} vs {expected[i]}");
    }

    [Fact]
    public void Recording_for_autograd_is_refused_with_a_way_out()
    {
        using var scope = TensorScope.Begin();
        var x = Tensor.RandN(new[] { 1, 2, 4, 4 }, new Rng(1));
        var weight = Tensor.RandN(new[] { 3, 2, 1, 1 }, new Rng(2));
        weight.RequiresGrad = true;
        var ex = Assert.Throws<InvalidOperationException>(() =>
            F.Conv2dBatchNormInference(x, weight, null, 1, 0, 1, 1, Tensor.Zeros(new[] { 3 }), Tensor.Ones(new[] { 3 }), null, null, 1e-5, relu: true));
        Assert.Contains("NoGrad", ex.Message);
        using (Autograd.Autograd.NoGrad())
            Assert.Equal(new[] { 1, 3, 4, 4 }, F.Conv2dBatchNormInference(x, weight, null, 1, 0, 1, 1, Tensor.Zeros(new[] { 3 }), Tensor.Ones(new[] { 3 }), null, null, 1e-5, relu: true).Shape);
    }

    [Fact]
    public void Statistics_of_the_wrong_length_name_what_is_wrong()
    {
        using var scope = TensorScope.Begin();
        var x = Tensor.RandN(new[] { 1, 2, 4, 4 }, new Rng(1));
        var weight = Tensor.RandN(new[] { 3, 2, 1, 1 }, new Rng(2));
        var ex = Assert.Throws<ArgumentException>(() =>
            F.Conv2dBatchNormInference(x, weight, null, 1, 0, 1, 1, Tensor.Zeros(new[] { 4 }), Tensor.Ones(new[] { 3 }), null, null, 1e-5, relu: false));
        Assert.Contains("running mean", ex.Message);
    }
}
