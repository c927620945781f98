// Shared helpers for the core tests: seeded float64 inputs for gradient checks, kept away from kinks.
namespace SeFramework.Tests;

internal static class TestData
{
    /// <summary>A float64 leaf with normal values (seeded) that requires grad.</summary>
    public static Tensor Input(ulong seed, params int[] shape) => Tensor.RandN(shape, new Rng(seed), DType.Float64).RequiresGrad_();

    /// <summary>Positive values in [0.5, 2) (for log, sqrt, pow, division).</summary>
    public static Tensor Positive(ulong seed, params int[] shape) => Tensor.RandU(shape, new Rng(seed), DType.Float64, 0.5, 2).RequiresGrad_();

    /// <summary>Normal values with |x| ≥ 0.05, so ReLU/max kinks are further than the finite-difference step.</summary>
    public static Tensor AwayFromZero(ulong seed, params int[] shape)
    {
        var v = Tensor.RandN(shape, new Rng(seed), DType.Float64).ToDoubleArray();
        for (int i = 0; i < v.Length; i++) if (Math.Abs(v[i]) < 0.05) v[i] = v[i] < 0 ? -0.05 - v[i] : 0.05 + v[i];
        return Tensor.FromArray(v, shape).RequiresGrad_();
    }

    public static void AssertGrad(Func<Tensor[], Tensor> f, params Tensor[] inputs)
    {
        var bad = SeFramework.Autograd.GradCheck.Check(f, inputs);
        Xunit.Assert.True(bad.Count == 0, "gradient check failed: " + string.Join("; ",
            bad.Select(m => $"input {m.Input}[{m.Element}]: analytic {m.Analytic:G10} vs numeric {m.Numeric:G10}")));
    }
}
