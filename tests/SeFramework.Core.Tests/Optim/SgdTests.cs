// SGD follows torch.optim.SGD's rule exactly: checked against the rule written out step by step in doubles.
using SeFramework.Optim;
using Xunit;

namespace SeFramework.Tests;

public class SgdTests
{
    // The reference: torch/optim/sgd.py _single_tensor_sgd, written out for one scalar.
    private static double[] Reference(double p, double[] grads, double lr, double momentum, double dampening, double wd, bool nesterov)
    {
        var trace = new double[grads.Length];
        double? buf = null;
        for (int i = 0; i < grads.Length; i++)
        {
            double d = grads[i] + wd * p;
            if (momentum != 0)
            {
                buf = buf == null ? d : momentum * buf.Value + (1 - dampening) * d;
                d = nesterov ? d + momentum * buf.Value : buf.Value;
            }
            p -= lr * d;
            trace[i] = p;
        }
        return trace;
    }

    [Theory]
    [InlineData(0.0, 0.0, 0.0, false)]
    [InlineData(0.9, 0.0, 1e-4, false)]
    [InlineData(0.9, 0.0, 5e-4, true)]
    [InlineData(0.9, 0.5, 1e-2, false)]
    public void Update_matches_pytorch_rule(double momentum, double dampening, double wd, bool nesterov)
    {
        var p = Tensor.FromArray(new[] { 1.5 }).RequiresGrad_();
        var grads = new[] { 0.3, -0.2, 0.7, 0.1, -0.5 };
        var opt = new Sgd(new[] { p }, 0.1, momentum, dampening, wd, nesterov);
        var expected = Reference(1.5, grads, 0.1, momentum, dampening, wd, nesterov);
        for (int i = 0; i < grads.Length; i++)
        {
            p.Grad = Tensor.FromArray(new[] { grads[i] });
            opt.Step();
            Assert.Equal(expected[i], p.Item(), 14);
        }
    }

    [Fact]
    public void Parameter_groups_have_their_own_hyper_parameters_and_skip_params_without_grad()
    {
        var a = Tensor.FromArray(new[] { 1.0 }).RequiresGrad_();
        var b = Tensor.FromArray(new[] { 1.0 }).RequiresGrad_();
        var c = Tensor.FromArray(new[] { 1.0 }).RequiresGrad_();
        var opt = new Sgd(new[] { new ParamGroup(new[] { a }, 0.1), new ParamGroup(new[] { b, c }, 0.01, weightDecay: 1) });
        a.Grad = Tensor.FromArray(new[] { 1.0 });
        b.Grad = Tensor.FromArray(new[] { 1.0 });
        opt.Step();
        Assert.Equal(0.9, a.Item(), 14);
        Assert.Equal(1 - 0.01 * 2, b.Item(), 14);
        Assert.Equal(1.0, c.Item());
    }

    [Fact]
    public void Invalid_settings_are_rejected_with_reasons()
    {
        var p = Tensor.FromArray(new[] { 1.0 }).RequiresGrad_();
        Assert.Contains("Nesterov", Assert.Throws<ArgumentException>(() => new Sgd(new[] { p }, 0.1, momentum: 0, nesterov: true)).Message);
        Assert.Contains("learning rate", Assert.Throws<ArgumentException>(() => new Sgd(new[] { p }, -1)).Message);
    }
}
