// Reference tests of the tensor primitives against libtorch: broadcasting binary ops, unary math, reductions,
// matmul/linear and the view/copy ops (flatten, reshape, permute, narrow, concat): outputs and input gradients.
using TorchSharp;

namespace SeFramework.Reference.Tests;

public class ElementwiseReferenceTests(ITestOutputHelper output)
{
    // Shape pairs for broadcasting: same shape, trailing broadcast, both sides broadcast, lower rank, one element.
    public static readonly TheoryData<string, long[], long[]> BroadcastShapes = new()
    {
        { "same (2,3,4)", [2, 3, 4], [2, 3, 4] },
        { "(2,3,4) with (3,1)", [2, 3, 4], [3, 1] },
        { "(2,1,4) with (1,3,1)", [2, 1, 4], [1, 3, 1] },
        { "(4) with (2,3,4)", [4], [2, 3, 4] },
        { "(2,3,4) with (1)", [2, 3, 4], [1] },
    };

    [Theory]
    [MemberData(nameof(BroadcastShapes))]
    public void Binary_ops_with_broadcasting_match_libtorch(string config, long[] aShape, long[] bShape)
    {
        LibTorch.RequireOrSkip();
        using var scope = torch.NewDisposeScope();
        var check = new RefCheck(output, "binary");
        // Gradients of a broadcast operand are sums over the broadcast dims: reduction tolerance.
        var grad = aShape.SequenceEqual(bShape) ? RefTolerances.Elementwise : RefTolerances.Reduction;
        RefInput a = new(aShape, 1), b = new(bShape, 2);
        check.ForwardBackward($"add {config}", [a, b], t => t[0] + t[1], t => t[0] + t[1], RefTolerances.Elementwise, grad);
        check.ForwardBackward($"sub {config}", [a, b], t => t[0] - t[1], t => t[0] - t[1], RefTolerances.Elementwise, grad);
        check.ForwardBackward($"mul {config}", [a, b], t => t[0] * t[1], t => t[0] * t[1], RefTolerances.Elementwise, grad);
        // Divisors in [0.5, 2] (away from zero); d/db = −a·g/b² takes two roundings more.
        RefInput denominator = new(bShape, 3, 0.5f, 2f);
        check.ForwardBackward($"div {config}", [a, denominator], t => t[0] / t[1], t => t[0] / t[1], RefTolerances.Elementwise,
            aShape.SequenceEqual(bShape) ? RefTolerances.Transcendental : RefTolerances.Reduction);
        check.Summary();
    }

    public static readonly TheoryData<string, float, float> UnaryOps = new()
    {
        { "neg", -1f, 1f }, { "exp", -3f, 3f }, { "log", 0.05f, 4f }, { "sqrt", 0.05f, 4f },
        { "pow 2", -2f, 2f }, { "pow 3", -2f, 2f }, { "pow 2.5", 0.05f, 3f }, { "pow -1.5", 0.2f, 3f },
        { "relu", -1f, 1f }, { "sigmoid", -6f, 6f }, { "tanh", -3f, 3f },
    };

    [Theory]
    [MemberData(nameof(UnaryOps))]
    public void Unary_ops_match_libtorch(string op, float min, float max)
    {
        LibTorch.RequireOrSkip();
        using var scope = torch.NewDisposeScope();
        var check = new RefCheck(output, "unary");
        Func<Tensor, Tensor> ours = op switch
        {
            "neg" => x => -x, "exp" => x => x.Exp(), "log" => x => x.Log(), "sqrt" => x => x.Sqrt(),
            "relu" => x => x.Relu(), "sigmoid" => x => x.Sigmoid(), "tanh" => x => x.Tanh(),
            _ => x => x.Pow(double.Parse(op[4..], System.Globalization.CultureInfo.InvariantCulture)),
        };
        Func<torch.Tensor, torch.Tensor> theirs = op switch
        {
            "neg" => x => -x, "exp" => x => x.exp(), "log" => x => x.log(), "sqrt" => x => x.sqrt(),
            "relu" => x => x.relu(), "sigmoid" => x => x.sigmoid(), "tanh" => x => x.tanh(),
            _ => x => x.pow(double.Parse(op[4..], System.Globalization.CultureInfo.InvariantCulture)),
        };
        var tol = op is "neg" or "relu" ? RefTolerances.Elementwise : RefTolerances.Transcendental;
        check.ForwardBackward(op, [new RefInput([3, 5, 7], 11, min, max)], t => ours(t[0]), t => theirs(t[0]), tol, tol);
        check.Summary();
    }

    [Fact]
    public void Sum_mean_and_max_over_dims_match_libtorch()
    {
        LibTorch.RequireOrSkip();
        using var scope = torch.NewDisposeScope();
        var check = new RefCheck(output, "reduce");
        RefInput x = new([4, 6, 8], 21);
        var red = RefTolerances.Reduction;
        check.ForwardBackward("sum all", [x], t => t[0].Sum(), t => t[0].sum(), red, red);
        check.ForwardBackward("sum dim 1", [x], t => t[0].Sum(1), t => t[0].sum([1L]), red, red);
        check.ForwardBackward("sum dims (0,2) keepdim", [x], t => t[0].Sum([0, 2], keepDim: true), t => t[0].sum([0L, 2], keepdim: true), red, red);
        check.ForwardBackward("sum dim -1", [x], t => t[0].Sum(-1), t => t[0].sum([-1L]), red, red);
        check.ForwardBackward("mean all", [x], t => t[0].Mean(), t => t[0].mean(), red, red);
        check.ForwardBackward("mean dims (2,3) keepdim", [new RefInput([2, 3, 4, 5], 22)], t => t[0].Mean([2, 3], keepDim: true), t => t[0].mean([2L, 3], keepdim: true), red, red);
        check.ForwardBackward("mean dim 0", [x], t => t[0].Mean(0), t => t[0].mean([0L]), red, red);
        // Max selects one element (distinct random values, no ties): exact forward, gradient routed unchanged.
        var exact = RefTolerances.Elementwise;
        check.ForwardBackward("max all", [x], t => t[0].Max(), t => t[0].max(), exact, exact);
        check.ForwardBackward("max dim 1", [x], t => t[0].Max(1), t => t[0].amax([1L]), exact, exact);
        check.ForwardBackward("max dims (0,2) keepdim", [x], t => t[0].Max([0, 2], keepDim: true), t => t[0].amax([0L, 2], keepdim: true), exact, exact);
        check.Summary();
    }

    [Fact]
    public void Matmul_and_linear_match_libtorch()
    {
        LibTorch.RequireOrSkip();
        using var scope = torch.NewDisposeScope();
        var check = new RefCheck(output, "matmul/linear");
        var tol = RefTolerances.MatMul;
        check.ForwardBackward("matmul (5,7)x(7,3)", [new([5, 7], 31), new([7, 3], 32)], t => t[0].MatMul(t[1]), t => t[0].matmul(t[1]), tol, tol);
        check.ForwardBackward("matmul (33,64)x(64,17)", [new([33, 64], 33), new([64, 17], 34)], t => t[0].MatMul(t[1]), t => t[0].matmul(t[1]), tol, tol);
        check.ForwardBackward("matmul batched (2,4,6)x(2,6,3)", [new([2, 4, 6], 35), new([2, 6, 3], 36)], t => t[0].MatMul(t[1]), t => t[0].matmul(t[1]), tol, tol);
        check.ForwardBackward("matmul (2,4,6)x(6,3)", [new([2, 4, 6], 37), new([6, 3], 38)], t => t[0].MatMul(t[1]), t => t[0].matmul(t[1]), tol, tol);
        check.ForwardBackward("matmul transposed view (7,5)^T x (7,3)", [new([7, 5], 39), new([7, 3], 40)], t => t[0].T.MatMul(t[1]), t => t[0].t().matmul(t[1]), tol, tol);
        check.ForwardBackward("linear (8,24)->(8,10) bias", [new([8, 24], 41), new([10, 24], 42), new([10], 43)],
            t => F.Linear(t[0], t[1], t[2]), t => torch.nn.functional.linear(t[0], t[1], t[2]), tol, tol);
        check.ForwardBackward("linear (8,24)->(8,10) no bias", [new([8, 24], 44), new([10, 24], 45)],
            t => F.Linear(t[0], t[1]), t => torch.nn.functional.linear(t[0], t[1]), tol, tol);
        check.Summary();
    }

    [Fact]
    public void Flatten_reshape_permute_narrow_and_concat_match_libtorch()
    {
        LibTorch.RequireOrSkip();
        using var scope = torch.NewDisposeScope();
        var check = new RefCheck(output, "views");
        var tol = RefTolerances.Elementwise;
        RefInput x = new([2, 3, 4, 5], 51), y = new([2, 2, 4, 5], 52);
        check.ForwardBackward("flatten(1)", [x], t => t[0].Flatten(1), t => t[0].flatten(1), tol, tol);
        check.ForwardBackward("flatten(1,2)", [x], t => t[0].Flatten(1, 2), t => t[0].flatten(1, 2), tol, tol);
        check.ForwardBackward("reshape (6,-1)", [x], t => t[0].Reshape(6, -1), t => t[0].reshape(6, -1), tol, tol);
        check.ForwardBackward("permute (0,2,3,1)", [x], t => t[0].Permute(0, 2, 3, 1), t => t[0].permute(0, 2, 3, 1), tol, tol);
        check.ForwardBackward("permute then reshape (4,-1)", [x], t => t[0].Permute(3, 1, 0, 2).Reshape(4, -1), t => t[0].permute(3, 1, 0, 2).reshape(4, -1), tol, tol);
        check.ForwardBackward("narrow(2, 1, 2)", [x], t => t[0].Narrow(2, 1, 2), t => t[0].narrow(2, 1, 2), tol, tol);
        check.ForwardBackward("narrow(1,1,2) of permute", [x], t => t[0].Permute(0, 3, 1, 2).Narrow(1, 1, 2), t => t[0].permute(0, 3, 1, 2).narrow(1, 1, 2), tol, tol);
        check.ForwardBackward("concat dim 1", [x, y], t => Tensor.Concat([t[0], t[1]], 1), t => torch.cat([t[0], t[1]], 1), tol, tol);
        check.ForwardBackward("concat dim 3 of narrow and permuted views", [x, y],
            t => Tensor.Concat([t[0].Narrow(1, 0, 2), t[1].Permute(0, 1, 3, 2).Reshape(2, 2, 4, 5), t[0].Narrow(1, 1, 2)], 3),
            t => torch.cat([t[0].narrow(1, 0, 2), t[1].permute(0, 1, 3, 2).reshape(2, 2, 4, 5), t[0].narrow(1, 1, 2)], 3), tol, tol);
        check.ForwardBackward("unsqueeze/squeeze/transpose", [new([3, 1, 4], 53)], t => t[0].Squeeze(1).Transpose(0, 1).Unsqueeze(0), t => t[0].squeeze(1).transpose(0, 1).unsqueeze(0), tol, tol);
        check.Summary();
    }
}
