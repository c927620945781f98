// ChannelScale, Axpy and the fused AxpyRelu (the SE block's excitation + residual + ReLU), and inverted dropout:
// values by hand, finite-difference gradients for every input, the fast kernels against the reference, and errors.
using SeFramework.Cpu;
using Xunit;
using static SeFramework.Tests.Nn.NnTestKit;

namespace SeFramework.Tests.Nn;

public class AxpyDropoutTests
{
    [Fact]
    public void Axpy_and_AxpyRelu_compute_a_times_x_plus_y_per_channel()
    {
        // N = 1, C = 2, 1×2 planes; a = (2, −1).
        var a = Tensor.FromArray(new double[] { 2, -1 }, 1, 2);
        var x = Tensor.FromArray(new double[] { 1, -3, 4, 0.5 }, 1, 2, 1, 2);
        var y = Tensor.FromArray(new double[] { 0.5, 1, 1, -2 }, 1, 2, 1, 2);
        Assert.Equal(new double[] { 2.5, -5, -3, -2.5 }, F.Axpy(a, x, y).ToDoubleArray());
        Assert.Equal(new double[] { 2.5, 0, 0, 0 }, F.AxpyRelu(a.Reshape(1, 2, 1, 1), x, y).ToDoubleArray());
        Assert.Equal(new double[] { 2, -6, -4, -0.5 }, F.ChannelScale(x, a).ToDoubleArray());
    }

    [Fact]
    public void Axpy_AxpyRelu_and_ChannelScale_match_finite_differences_for_all_inputs()
    {
        var a = TestData.Input(1, 2, 3);
        var a4 = TestData.Input(2, 2, 3, 1, 1);
        var x = TestData.Input(3, 2, 3, 3, 4);
        var y = TestData.Input(4, 2, 3, 3, 4);
        TestData.AssertGrad(v => F.Axpy(v[0], v[1], v[2]), a, x, y);
        TestData.AssertGrad(v => F.AxpyRelu(v[0], v[1], v[2]), a, x, y);
        TestData.AssertGrad(v => F.AxpyRelu(v[0], v[1], v[2]), a4, x, y);
        TestData.AssertGrad(v => F.ChannelScale(v[0], v[1]), x, a4);
    }

    [Theory]
    [InlineData(1, 1, 1, 1)]
    [InlineData(2, 3, 5, 7)]
    [InlineData(4, 64, 14, 14)] // parallel
    public void Axpy_kernels_match_the_reference(int n, int c, int h, int w)
    {
        foreach (var relu in new[] { false, true })
            foreach (var dtype in new[] { DType.Float32, DType.Float64 })
            {
                var a = Normal(10, dtype, n, c).RequiresGrad_();
                var x = Normal(11, dtype, n, c, h, w).RequiresGrad_();
                var y = Normal(12, dtype, n, c, h, w).RequiresGrad_();
                var g = Normal(13, dtype, n, c, h, w);
                var o = relu ? F.AxpyRelu(a, x, y) : F.Axpy(a, x, y);
                o.Backward(g);
                var ad = a.ToDoubleArray();
                var xd = x.ToDoubleArray();
                var oRef = new double[xd.Length];
                ReferenceNn.Axpy<double>(ad, xd, y.ToDoubleArray(), oRef, relu, n, c, h * w);
                var da = new double[ad.Length];
                var dx = new double[xd.Length];
                var dy = new double[xd.Length];
                ReferenceNn.AxpyBackward<double>(ad, xd, oRef, g.ToDoubleArray(), relu, da, dx, dy, n, c, h * w);
                double tol = Tolerance(dtype);
                AssertClose(oRef, o.ToDoubleArray(), tol, $"{dtype} relu={relu} out");
                AssertClose(da, a.Grad!.ToDoubleArray(), tol, $"{dtype} relu={relu} da");
                AssertClose(dx, x.Grad!.ToDoubleArray(), tol, $"{dtype} relu={relu} dx");
                AssertClose(dy, y.Grad!.ToDoubleArray(), tol, $"{dtype} relu={relu} dy");
            }
    }

    [Fact]
    public void Axpy_shape_mismatches_throw_with_op_and_shapes()
    {
        var x = Tensor.Zeros(new[] { 2, 3, 4, 4 });
        AssertArgumentError(() => F.Axpy(Tensor.Zeros(new[] { 2, 4 }), x, x), "Axpy", "[2, 4]", "[2, 3, 4, 4]");
        AssertArgumentError(() => F.AxpyRelu(Tensor.Zeros(new[] { 2, 3, 2, 1 }), x, x), "AxpyRelu", "[2, 3, 2, 1]");
        AssertArgumentError(() => F.Axpy(Tensor.Zeros(new[] { 2, 3 }), x, Tensor.Zeros(new[] { 2, 3, 4, 5 })), "Axpy", "[2, 3, 4, 5]");
        AssertArgumentError(() => F.ChannelScale(Tensor.Zeros(new[] { 3, 16 }), Tensor.Zeros(new[] { 3, 16 })), "ChannelScale", "[3, 16]");
    }

    [Fact]
    public void Dropout_with_a_fixed_seed_is_reproducible_scales_kept_values_and_drops_about_p()
    {
        var x = Tensor.Ones(new[] { 100, 100 }, DType.Float64);
        var y1 = F.Dropout(x, 0.3, training: true, new Rng(7)).ToDoubleArray();
        var y2 = F.Dropout(x, 0.3, training: true, new Rng(7)).ToDoubleArray();
        Assert.Equal(y1, y2);
        Assert.All(y1, v => Assert.True(v == 0 || Math.Abs(v - 1 / 0.7) < 1e-15));
        double dropped = y1.Count(v => v == 0) / (double)y1.Length;
        Assert.InRange(dropped, 0.28, 0.32); // 10⁴ draws: σ ≈ 0.0046
        Assert.NotEqual(y1, F.Dropout(x, 0.3, training: true, new Rng(8)).ToDoubleArray());
    }

    [Fact]
    public void Dropout_is_identity_in_eval_or_with_p_zero_and_zeroes_everything_with_p_one()
    {
        var x = Tensor.Ones(new[] { 3, 4 });
        Assert.Same(x, F.Dropout(x, 0.5, training: false));
        Assert.Same(x, F.Dropout(x, 0, training: true));
        Assert.All(F.Dropout(x, 1, training: true, new Rng(1)).ToDoubleArray(), v => Assert.Equal(0, v));
        AssertArgumentError(() => F.Dropout(x, 1.5, true), "Dropout", "1.5");
    }

    [Fact]
    public void Dropout_matches_finite_differences_with_the_mask_fixed_by_the_seed()
    {
        TestData.AssertGrad(v => F.Dropout(v[0], 0.4, training: true, new Rng(3)), TestData.Input(5, 4, 6));
    }
}
