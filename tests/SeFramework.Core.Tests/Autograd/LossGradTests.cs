// Softmax, log-softmax and cross-entropy (with label smoothing): gradient checks and values against formulas.
using Xunit;

namespace SeFramework.Tests;

public class LossGradTests
{
    [Fact]
    public void Softmax_and_log_softmax_match_finite_differences_on_every_dim()
    {
        var x = TestData.Input(21, 2, 3, 4);
        for (int d = 0; d < 3; d++)
        {
            int dim = d;
            TestData.AssertGrad(v => F.Softmax(v[0], dim), x);
            TestData.AssertGrad(v => F.LogSoftmax(v[0], dim), x);
        }
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(0.1)]
    [InlineData(1.0)]
    public void CrossEntropy_matches_finite_differences(double smoothing)
    {
        var logits = TestData.Input(22, 4, 5);
        var targets = new[] { 0, 3, 4, 1 };
        TestData.AssertGrad(v => F.CrossEntropy(v[0], targets, smoothing), logits);
    }

    [Fact]
    public void CrossEntropy_equals_the_label_smoothing_formula()
    {
        // logits of one row (1, 2, 3), target 2, ε = 0.1; log-sum-exp = 3.40760596444438.
        var logits = Tensor.FromArray(new[] { 1.0, 2.0, 3.0 }, 1, 3);
        double lse = Math.Log(Math.Exp(1) + Math.Exp(2) + Math.Exp(3));
        double nll = lse - 3;
        double meanNegLogP = (3 * lse - 6) / 3;
        double expected = 0.9 * nll + 0.1 * meanNegLogP;
        Assert.Equal(expected, F.CrossEntropy(logits, new[] { 2 }, 0.1).Item(), 12);
        Assert.Equal(nll, F.NllLoss(F.LogSoftmax(logits), new[] { 2 }).Item(), 12);
    }

    [Fact]
    public void Softmax_is_stable_for_large_logits()
    {
        var p = F.Softmax(Tensor.FromArray(new[] { 1000f, 1000f, -1000f })).ToFloatArray();
        Assert.Equal(0.5f, p[0], 6);
        Assert.Equal(0f, p[2]);
    }

    [Fact]
    public void CrossEntropy_rejects_targets_out_of_range()
    {
        var ex = Assert.Throws<ArgumentException>(() => F.CrossEntropy(Tensor.Zeros(new[] { 2, 3 }), new[] { 0, 3 }));
        Assert.Contains("target 3", ex.Message);
    }
}
