// Conv2d: hand-computed forward values, finite-difference gradients (groups, stride, padding, dilation, bias), the
// im2col + GEMM kernels against the direct-loop reference on awkward shapes in float32 and float64, and argument errors.
using System.Numerics;
using SeFramework.Backends;
using SeFramework.Cpu;
using Xunit;
using static SeFramework.Tests.Nn.NnTestKit;

namespace SeFramework.Tests.Nn;

public class Conv2dTests
{
    // x[i, j] = 4i + j + 1 on a 4×4 plane; w = diag(1, 2, 3) as a 3×3 kernel.
    private static Tensor Ramp4x4() => Tensor.FromArray(Enumerable.Range(1, 16).Select(v => (double)v).ToArray(), 1, 1, 4, 4);

    private static Tensor DiagKernel() => Tensor.FromArray(new double[] { 1, 0, 0, 0, 2, 0, 0, 0, 3 }, 1, 1, 3, 3);

    [Fact]
    public void Conv_3x3_of_a_known_4x4_input_matches_hand_computation()
    {
        // Valid conv: y[p, q] = Σ w[r, s]·(4(p + r) + (q + s) + 1) = 6·(4p + q + 1) + Σ w[r, s]·(4r + s) = 6·(4p + q + 1) + 40,
        // plus the bias 0.5: [[46.5, 52.5], [70.5, 76.5]].
        var y = F.Conv2d(Ramp4x4(), DiagKernel(), Tensor.FromArray(new[] { 0.5 }, 1));
        Assert.Equal(new[] { 1, 1, 2, 2 }, y.Shape);
        Assert.Equal(new[] { 46.5, 52.5, 70.5, 76.5 }, y.ToDoubleArray());

        // Padding 1, corner (0, 0): only taps (1, 1) and (2, 2) land inside: 2·x[0, 0] + 3·x[1, 1] = 2·1 + 3·6 = 20.
        // Corner (3, 3): only taps (0, 0) and (1, 1): 1·x[2, 2] + 2·x[3, 3] = 11 + 32 = 43.
        var padded = F.Conv2d(Ramp4x4(), DiagKernel(), padding: 1).ToDoubleArray();
        Assert.Equal(16, padded.Length);
        Assert.Equal(20, padded[0]);
        Assert.Equal(43, padded[15]);

        // Stride 2 with padding 1: outputs (0, 0), (0, 2), (2, 0), (2, 2) of the padded result.
        var strided = F.Conv2d(Ramp4x4(), DiagKernel(), padding: 1, stride: 2).ToDoubleArray();
        Assert.Equal(new[] { padded[0], padded[2], padded[8], padded[10] }, strided);
    }

    [Fact]
    public void Grouped_conv_equals_separate_convs_per_group()
    {
        var x = Normal(1, DType.Float64, 2, 4, 5, 5);
        var w = Normal(2, DType.Float64, 6, 2, 3, 3);
        var y = F.Conv2d(x, w, padding: 1, groups: 2);
        var y0 = F.Conv2d(x.Narrow(1, 0, 2), w.Narrow(0, 0, 3), padding: 1);
        var y1 = F.Conv2d(x.Narrow(1, 2, 2), w.Narrow(0, 3, 3), padding: 1);
        AssertClose(Tensor.Concat(new[] { y0, y1 }, 1), y, 1e-12, "grouped conv");
    }

    [Fact]
    public void Conv_with_groups_stride_padding_dilation_and_bias_matches_finite_differences()
    {
        var x = TestData.Input(3, 2, 4, 5, 6);
        var w = TestData.Input(4, 6, 2, 3, 3);
        var b = TestData.Input(5, 6);
        TestData.AssertGrad(v => F.Conv2d(v[0], v[1], v[2], stride: 2, padding: 1, dilation: 2, groups: 2), x, w, b);
    }

    [Fact]
    public void Depthwise_pointwise_and_strided_non_square_convs_match_finite_differences()
    {
        var x = TestData.Input(6, 1, 3, 5, 4);
        TestData.AssertGrad(v => F.Conv2d(v[0], v[1], padding: 1, groups: 3), x, TestData.Input(7, 3, 1, 3, 3));
        TestData.AssertGrad(v => F.Conv2d(v[0], v[1], v[2]), x, TestData.Input(8, 4, 3, 1, 1), TestData.Input(9, 4));
        TestData.AssertGrad(v => F.Conv2d(v[0], v[1], stride: 3), TestData.Input(10, 2, 2, 7, 8), TestData.Input(11, 3, 2, 2, 3));
    }

    public static TheoryData<int, int, int, int, int, int, int, int, int, int, int> AwkwardShapes => new()
    {
        // N, C, H, W, K, R, S, stride, padding, dilation, groups
        { 1, 3, 7, 5, 4, 3, 3, 1, 1, 1, 1 },     // batch 1, odd non-square input
        { 2, 4, 6, 9, 4, 3, 3, 2, 1, 1, 2 },     // groups 2, stride 2
        { 2, 8, 5, 5, 8, 3, 3, 1, 1, 1, 8 },     // depthwise
        { 3, 4, 9, 7, 8, 3, 3, 3, 2, 2, 4 },     // stride 3, dilation 2, groups 4
        { 2, 3, 11, 10, 5, 7, 7, 2, 3, 1, 1 },   // kernel 7 (the ResNet stem's shape)
        { 2, 6, 1, 1, 4, 1, 1, 1, 0, 1, 2 },     // 1×1 spatial, pointwise, grouped
        { 2, 6, 5, 4, 6, 1, 1, 1, 0, 1, 1 },     // pointwise straight to GEMM
        { 2, 4, 6, 6, 6, 1, 1, 2, 0, 1, 1 },     // 1×1 stride 2 (needs im2col)
        { 1, 2, 3, 3, 3, 3, 3, 1, 0, 1, 1 },     // 1×1 output
        { 2, 3, 6, 7, 2, 1, 3, 1, 1, 1, 1 },     // non-square kernel
        { 4, 16, 12, 12, 16, 3, 3, 1, 1, 1, 2 }, // large enough to run images in parallel
    };

    [Theory]
    [MemberData(nameof(AwkwardShapes))]
    public void Im2col_gemm_kernels_match_the_direct_reference(int n, int c, int h, int w, int k, int r, int s, int stride, int padding, int dilation, int groups)
    {
        Compare<float>(DType.Float32, n, c, h, w, k, r, s, stride, padding, dilation, groups);
        Compare<double>(DType.Float64, n, c, h, w, k, r, s, stride, padding, dilation, groups);
    }

    private static void Compare<T>(DType dtype, int n, int c, int h, int w, int k, int r, int s, int stride, int padding, int dilation, int groups)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int p = Conv2dGeometry.OutputSize(h, r, stride, padding, dilation), q = Conv2dGeometry.OutputSize(w, s, stride, padding, dilation);
        var g = new Conv2dGeometry(n, c, h, w, k, r, s, p, q, stride, padding, dilation, groups);
        var x = Normal(20, dtype, n, c, h, w).RequiresGrad_();
        var weight = Normal(21, dtype, k, c / groups, r, s).RequiresGrad_();
        var bias = Normal(22, dtype, k).RequiresGrad_();
        var dy = Normal(23, dtype, n, k, p, q);
        double tol = Tolerance(dtype);

        var y = F.Conv2d(x, weight, bias, stride, padding, dilation, groups);
        var yRef = Tensor.Empty(new[] { n, k, p, q }, dtype);
        ReferenceNn.Conv2dForward<T>(x.Span<T>(), weight.Span<T>(), bias.Span<T>(), yRef.Span<T>(), g);
        AssertClose(yRef, y, tol, $"{dtype} forward");

        y.Backward(dy);
        var dxRef = Tensor.Empty(x.Shape, dtype);
        var dwRef = Tensor.Empty(weight.Shape, dtype);
        var dbRef = Tensor.Empty(bias.Shape, dtype);
        ReferenceNn.Conv2dBackwardData<T>(dy.Span<T>(), weight.Span<T>(), dxRef.Span<T>(), g);
        ReferenceNn.Conv2dBackwardFilter<T>(x.Span<T>(), dy.Span<T>(), dwRef.Span<T>(), dbRef.Span<T>(), g);
        AssertClose(dxRef, x.Grad!, tol, $"{dtype} backward data");
        AssertClose(dwRef, weight.Grad!, tol, $"{dtype} backward filter");
        AssertClose(dbRef, bias.Grad!, tol, $"{dtype} backward bias");
    }

    [Fact]
    public void Non_contiguous_input_gives_the_same_result_and_gradient()
    {
        var x = TestData.Input(30, 2, 3, 6, 5);
        var w = Normal(31, DType.Float64, 4, 3, 3, 3);
        var xt = x.Transpose(2, 3); // (2, 3, 5, 6), strided
        var y = F.Conv2d(xt, w, padding: 1);
        AssertClose(F.Conv2d(xt.Contiguous(), w, padding: 1), y, 1e-12, "strided input");
        TestData.AssertGrad(v => F.Conv2d(v[0].Transpose(2, 3), w, padding: 1), x);
    }

    [Fact]
    public void Invalid_arguments_throw_before_any_kernel_with_op_and_shapes()
    {
        var x = Tensor.Zeros(new[] { 2, 6, 5, 5 });
        AssertArgumentError(() => F.Conv2d(x, Tensor.Zeros(new[] { 4, 2, 3, 3 }), groups: 4), "Conv2d", "6", "groups 4");
        AssertArgumentError(() => F.Conv2d(x, Tensor.Zeros(new[] { 4, 4, 3, 3 })), "Conv2d", "[4, 4, 3, 3]", "[2, 6, 5, 5]");
        AssertArgumentError(() => F.Conv2d(x, Tensor.Zeros(new[] { 3, 3, 3, 3 }), groups: 2), "Conv2d", "output channels 3");
        AssertArgumentError(() => F.Conv2d(x, Tensor.Zeros(new[] { 4, 6, 7, 7 })), "Conv2d", "larger than the padded input");
        AssertArgumentError(() => F.Conv2d(x, Tensor.Zeros(new[] { 4, 6, 3, 3 }), dilation: 3), "Conv2d", "dilation 3");
        AssertArgumentError(() => F.Conv2d(x, Tensor.Zeros(new[] { 4, 6, 3, 3 }), stride: 0), "Conv2d", "stride");
        AssertArgumentError(() => F.Conv2d(x, Tensor.Zeros(new[] { 4, 6, 3, 3 }), padding: -1), "Conv2d", "padding");
        AssertArgumentError(() => F.Conv2d(x, Tensor.Zeros(new[] { 4, 6, 3, 3 }), Tensor.Zeros(new[] { 5 })), "Conv2d", "bias", "[5]");
        AssertArgumentError(() => F.Conv2d(Tensor.Zeros(new[] { 6, 5, 5 }), Tensor.Zeros(new[] { 4, 6, 3, 3 })), "Conv2d", "rank 4", "[6, 5, 5]");
        AssertArgumentError(() => F.Conv2d(x, Tensor.Zeros(new[] { 4, 6, 3 })), "Conv2d", "weight", "[4, 6, 3]");
        AssertArgumentError(() => F.Conv2d(x, Tensor.Zeros(new[] { 4, 6, 3, 3 }, DType.Float64)), "Conv2d", "Float64");
    }

    [Fact]
    public void Conv2d_module_runs_the_functional_op_with_its_parameters()
    {
        var conv = new SeFramework.Nn.Conv2d(4, 8, 3, stride: 2, padding: 1, groups: 2, rng: new Rng(3), dtype: DType.Float64);
        var x = Normal(40, DType.Float64, 2, 4, 7, 7);
        var y = conv.Forward(x);
        Assert.Equal(new[] { 2, 8, 4, 4 }, y.Shape);
        AssertClose(F.Conv2d(x, conv.Weight, conv.Bias, 2, 1, 1, 2), y, 0, "module");
        y.Sum().Backward();
        Assert.NotNull(conv.Weight.Grad);
        Assert.NotNull(conv.Bias!.Grad);
    }
}
