// Gradient checks (float64, central differences) for elementwise, broadcasting, reduction, view and matmul ops.
using SeFramework.Tests;
using Xunit;

namespace SeFramework.Tests;

public class ElementwiseGradTests
{
    [Fact]
    public void Broadcast_add_sub_mul_div_match_finite_differences()
    {
        var a = TestData.Input(1, 2, 3, 4);
        var b = TestData.Positive(2, 3, 1);
        TestData.AssertGrad(x => x[0] + x[1], a, b);
        TestData.AssertGrad(x => x[0] - x[1], a, b);
        TestData.AssertGrad(x => x[0] * x[1], a, b);
        TestData.AssertGrad(x => x[0] / x[1], a, b);
    }

    [Theory]
    [InlineData("neg")]
    [InlineData("exp")]
    [InlineData("log")]
    [InlineData("sqrt")]
    [InlineData("pow")]
    [InlineData("relu")]
    [InlineData("sigmoid")]
    [InlineData("tanh")]
    [InlineData("abs")]
    [InlineData("scalar")]
    public void Unary_ops_match_finite_differences(string op)
    {
        var x = op is "log" or "sqrt" or "pow" ? TestData.Positive(3, 3, 5) : TestData.AwayFromZero(3, 3, 5);
        Func<Tensor, Tensor> f = op switch
        {
            "neg" => t => -t,
            "exp" => t => t.Exp(),
            "log" => t => t.Log(),
            "sqrt" => t => t.Sqrt(),
            "pow" => t => t.Pow(2.5),
            "relu" => t => t.Relu(),
            "sigmoid" => t => t.Sigmoid(),
            "tanh" => t => t.Tanh(),
            "abs" => t => t.Abs(),
            _ => t => 3 - t * 2 + 1.5,
        };
        TestData.AssertGrad(v => f(v[0]), x);
    }

    [Fact]
    public void Sum_mean_max_over_dims_match_finite_differences()
    {
        var x = TestData.Input(4, 2, 3, 4);
        TestData.AssertGrad(v => v[0].Sum(), x);
        TestData.AssertGrad(v => v[0].Sum(new[] { 0, 2 }), x);
        TestData.AssertGrad(v => v[0].Mean(1, keepDim: true), x);
        TestData.AssertGrad(v => v[0].Max(2), x);
        TestData.AssertGrad(v => v[0].Max(new[] { 0, 1 }, keepDim: true), x);
    }

    [Fact]
    public void Views_match_finite_differences()
    {
        var x = TestData.Input(5, 2, 3, 4);
        TestData.AssertGrad(v => v[0].Permute(2, 0, 1).Reshape(4, 6), x);
        TestData.AssertGrad(v => v[0].Slice(2, 1, 4, 2), x);
        TestData.AssertGrad(v => v[0].Narrow(1, 1, 2).Transpose(0, 2), x);
        TestData.AssertGrad(v => v[0].Narrow(0, 1, 1).Expand(3, 3, 4), x);
        TestData.AssertGrad(v => v[0].Unsqueeze(1).Squeeze(1).Flatten(1), x);
        var y = TestData.Input(6, 2, 2, 4);
        TestData.AssertGrad(v => Tensor.Concat(new[] { v[0], v[1] }, 1), x, y);
        TestData.AssertGrad(v => v[0].Split(new[] { 1, 2 }, 1)[1] * 2, x);
    }

    [Fact]
    public void MatMul_and_linear_match_finite_differences()
    {
        var a = TestData.Input(7, 3, 5);
        var b = TestData.Input(8, 5, 4);
        TestData.AssertGrad(v => v[0].MatMul(v[1]), a, b);
        var w = TestData.Input(9, 4, 5);
        var bias = TestData.Input(10, 4);
        TestData.AssertGrad(v => F.Linear(v[0], v[1], v[2]), a, w, bias);
        var batched = TestData.Input(11, 2, 3, 5);
        var rhs = TestData.Input(12, 2, 5, 2);
        TestData.AssertGrad(v => v[0].MatMul(v[1]), batched, rhs);
    }
}
