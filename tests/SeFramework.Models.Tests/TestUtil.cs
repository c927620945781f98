// Shared helpers for the model tests: seeded inputs, a random-projection loss, and finite-gradient assertions.
using SeFramework.Nn;
using Xunit;

namespace SeFramework.Models.Tests;

internal static class TestUtil
{
    public static Tensor Input(ulong seed, DType dtype, params int[] shape) => Tensor.RandN(shape, new Rng(seed), dtype);

    /// <summary>sum(y ⊙ R) for a fixed random R: every output element gets a different, nonzero gradient.</summary>
    public static Tensor ProjectionLoss(Tensor y, ulong seed = 99) => (y * Tensor.RandN(y.Shape, new Rng(seed), y.DType)).Sum();

    /// <summary>Every parameter received a gradient of its own shape, all finite, not all zero.</summary>
    public static void AssertFiniteGradients(Module model)
    {
        foreach (var (name, p) in model.NamedParameters())
        {
            Assert.True(p.Grad != null, $"parameter {name} got no gradient");
            Assert.Equal(p.Shape, p.Grad!.Shape);
            var g = p.Grad.ToFloatArray();
            Assert.True(g.All(float.IsFinite), $"parameter {name} has a non-finite gradient");
        }
        Assert.Contains(model.NamedParameters(), p => p.Parameter.Grad!.ToFloatArray().Any(v => v != 0));
    }

    public static void AssertGradCheck(Func<Tensor[], Tensor> f, params Tensor[] inputs)
    {
        var bad = SeFramework.Autograd.GradCheck.Check(f, inputs);
        Assert.True(bad.Count == 0, "gradient check failed: " + string.Join("; ",
            bad.Select(m => $"input {m.Input}[{m.Element}]: analytic {m.Analytic:G10} vs numeric {m.Numeric:G10}")));
    }
}
