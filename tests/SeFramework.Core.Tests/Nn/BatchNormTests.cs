// BatchNorm2d: running statistics after one step with known numbers (PyTorch's unbiased-variance rule), normalised
// values, finite-difference gradients in training and eval mode, the fast kernel against the reference, and errors.
using SeFramework.Cpu;
using Xunit;
using static SeFramework.Tests.Nn.NnTestKit;

namespace SeFramework.Tests.Nn;

public class BatchNormTests
{
    // x: (N=2, C=2, 1, 2). Channel 0 holds 1, 2, 3, 4; channel 1 holds 10, 10, 10, 14.
    private static Tensor KnownInput() => Tensor.FromArray(new double[] { 1, 2, 10, 10, 3, 4, 10, 14 }, 2, 2, 1, 2);

    [Fact]
    public void Training_step_normalises_with_biased_variance_and_updates_running_stats_with_unbiased_variance()
    {
        var rm = Tensor.FromArray(new double[] { 0, 1 }, 2);
        var rv = Tensor.FromArray(new double[] { 1, 2 }, 2);
        var y = F.BatchNorm2d(KnownInput(), rm, rv, null, null, training: true, momentum: 0.1, eps: 1e-5);
        // Channel 0: mean 2.5, biased var 1.25, unbiased 5/3. Channel 1: mean 11, biased var 3, unbiased 4.
        // running_mean = 0.9·old + 0.1·mean; running_var = 0.9·old + 0.1·unbiased.
        AssertClose(new[] { 0.9 * 0 + 0.25, 0.9 * 1 + 1.1 }, rm.ToDoubleArray(), 1e-14, "running mean");
        AssertClose(new[] { 0.9 * 1 + 0.1 * 5 / 3.0, 0.9 * 2 + 0.4 }, rv.ToDoubleArray(), 1e-14, "running var");
        double s0 = Math.Sqrt(1.25 + 1e-5), s1 = Math.Sqrt(3 + 1e-5);
        AssertClose(new[] { -1.5 / s0, -0.5 / s0, -1 / s1, -1 / s1, 0.5 / s0, 1.5 / s0, -1 / s1, 3 / s1 }, y.ToDoubleArray(), 1e-12, "y");
    }

    [Fact]
    public void Eval_uses_running_stats_weight_and_bias_and_leaves_them_unchanged()
    {
        var rm = Tensor.FromArray(new double[] { 1, 10 }, 2);
        var rv = Tensor.FromArray(new double[] { 4, 0.25 }, 2);
        var gamma = Tensor.FromArray(new double[] { 2, -1 }, 2);
        var beta = Tensor.FromArray(new double[] { 0.5, 3 }, 2);
        var y = F.BatchNorm2d(KnownInput(), rm, rv, gamma, beta, training: false, eps: 0);
        // Channel 0: (x − 1)/2·2 + 0.5 = x − 0.5; channel 1: (x − 10)/0.5·(−1) + 3 = 23 − 2x.
        AssertClose(new double[] { 0.5, 1.5, 3, 3, 2.5, 3.5, 3, -5 }, y.ToDoubleArray(), 1e-9, "eval y");
        Assert.Equal(new double[] { 1, 10 }, rm.ToDoubleArray());
        Assert.Equal(new double[] { 4, 0.25 }, rv.ToDoubleArray());
    }

    [Fact]
    public void Training_mode_matches_finite_differences_for_x_gamma_and_beta()
    {
        var x = TestData.Input(1, 3, 2, 2, 3);
        var gamma = TestData.Input(2, 2);
        var beta = TestData.Input(3, 2);
        var rm = Tensor.Zeros(new[] { 2 }, DType.Float64);
        var rv = Tensor.Ones(new[] { 2 }, DType.Float64);
        TestData.AssertGrad(v => F.BatchNorm2d(v[0], rm, rv, v[1], v[2], training: true), x, gamma, beta);
        TestData.AssertGrad(v => F.BatchNorm2d(v[0], null, null, null, null, training: true), TestData.Input(4, 2, 3, 1, 2));
    }

    [Fact]
    public void Eval_mode_matches_finite_differences_for_x_gamma_and_beta()
    {
        var rm = Tensor.FromArray(new[] { 0.3, -0.2 }, 2);
        var rv = Tensor.FromArray(new[] { 0.5, 2.0 }, 2);
        TestData.AssertGrad(v => F.BatchNorm2d(v[0], rm, rv, v[1], v[2], training: false),
            TestData.Input(5, 2, 2, 3, 2), TestData.Input(6, 2), TestData.Input(7, 2));
    }

    [Theory]
    [InlineData(1, 3, 1, 2, true)]
    [InlineData(2, 1, 1, 1, true)]
    [InlineData(3, 5, 7, 3, true)]
    [InlineData(3, 5, 7, 3, false)]
    [InlineData(1, 4, 5, 5, false)]
    [InlineData(8, 32, 16, 16, true)] // channels in parallel
    public void Fast_kernel_matches_the_textbook_reference(int n, int c, int h, int w, bool training)
    {
        foreach (var dtype in new[] { DType.Float32, DType.Float64 })
        {
            int l = h * w;
            var x = (Normal(10, dtype, n, c, h, w) * 3 + 1).Detach().RequiresGrad_();
            var gamma = Normal(11, dtype, c).RequiresGrad_();
            var beta = Normal(12, dtype, c).RequiresGrad_();
            var rm = Normal(13, dtype, c);
            var rv = Tensor.RandU(new[] { c }, new Rng(14), dtype, 0.5, 2);
            var rm0 = rm.ToDoubleArray();
            var rv0 = rv.ToDoubleArray();
            var dy = Normal(15, dtype, n, c, h, w);
            var y = F.BatchNorm2d(x, rm, rv, gamma, beta, training, 0.1, 1e-5);
            y.Backward(dy);

            var xs = x.ToDoubleArray();
            var mean = training ? new double[c] : rm0;
            var var = training ? new double[c] : rv0;
            var yRef = new double[xs.Length];
            ReferenceNn.BatchNormForward(xs, gamma.ToDoubleArray(), beta.ToDoubleArray(), yRef, mean, var, training, 1e-5, n, c, l);
            var dxRef = new double[xs.Length];
            var dgRef = new double[c];
            var dbRef = new double[c];
            ReferenceNn.BatchNormBackward(xs, dy.ToDoubleArray(), gamma.ToDoubleArray(), mean, var, training, 1e-5, dxRef, dgRef, dbRef, n, c, l);
            double tol = Tolerance(dtype) * (dtype == DType.Float32 ? 1 : 100); // the two backward formulas round differently
            AssertClose(yRef, y.ToDoubleArray(), tol, $"{dtype} y");
            AssertClose(dxRef, x.Grad!.ToDoubleArray(), tol, $"{dtype} dx");
            AssertClose(dgRef, gamma.Grad!.ToDoubleArray(), tol, $"{dtype} dgamma");
            AssertClose(dbRef, beta.Grad!.ToDoubleArray(), tol, $"{dtype} dbeta");
            var rmExpected = training ? rm0.Select((v, i) => 0.9 * v + 0.1 * mean[i]).ToArray() : rm0;
            var rvExpected = training ? rv0.Select((v, i) => 0.9 * v + 0.1 * var[i] * (n * l) / (n * l - 1)).ToArray() : rv0;
            AssertClose(rmExpected, rm.ToDoubleArray(), tol, $"{dtype} running mean");
            AssertClose(rvExpected, rv.ToDoubleArray(), tol, $"{dtype} running var");
        }
    }

    [Fact]
    public void BatchNorm2d_module_trains_then_evaluates_with_its_running_stats()
    {
        var bn = new SeFramework.Nn.BatchNorm2d(2, dtype: DType.Float64);
        bn.Forward(KnownInput());
        AssertClose(new[] { 0.25, 1.1 }, bn.RunningMean.ToDoubleArray(), 1e-14, "module running mean");
        bn.Eval();
        var y = bn.Forward(KnownInput());
        AssertClose(F.BatchNorm2d(KnownInput(), bn.RunningMean, bn.RunningVar, bn.Weight, bn.Bias, false), y, 0, "module eval");
        AssertClose(new[] { 0.25, 1.1 }, bn.RunningMean.ToDoubleArray(), 0, "eval leaves running mean");
    }

    [Fact]
    public void Invalid_batch_norm_arguments_throw_with_op_and_shapes()
    {
        var x = Tensor.Zeros(new[] { 2, 3, 4, 4 });
        var c3 = Tensor.Zeros(new[] { 3 });
        AssertArgumentError(() => F.BatchNorm2d(x, c3, c3, Tensor.Zeros(new[] { 4 }), null, true), "BatchNorm2d", "weight", "[4]");
        AssertArgumentError(() => F.BatchNorm2d(x, Tensor.Zeros(new[] { 3, 1 }), c3, null, null, true), "BatchNorm2d", "running mean", "[3, 1]");
        AssertArgumentError(() => F.BatchNorm2d(x, c3, null, null, null, true), "BatchNorm2d", "both");
        AssertArgumentError(() => F.BatchNorm2d(Tensor.Zeros(new[] { 6 }), null, null, null, null, true), "BatchNorm2d", "[6]");
        AssertArgumentError(() => F.BatchNorm2d(Tensor.Zeros(new[] { 1, 3, 1, 1 }), c3, c3, null, null, true), "BatchNorm2d", "more than one value");
        AssertArgumentError(() => F.BatchNorm2d(x, c3, c3, Tensor.Zeros(new[] { 3 }, DType.Float64), null, true), "BatchNorm2d", "Float64");
        AssertArgumentError(() => F.BatchNorm2d(x, c3, c3, null, null, true, eps: -1), "BatchNorm2d", "eps");
        AssertArgumentError(() => F.BatchNorm2d(x, c3, c3, null, null, true, momentum: 1.5), "BatchNorm2d", "momentum");
    }
}
