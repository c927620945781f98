// Helpers for the nn op tests: seeded inputs in either dtype, and elementwise comparison with a dtype-dependent tolerance.
using Xunit;

namespace SeFramework.Tests.Nn;

internal static class NnTestKit
{
    /// <summary>Fast-vs-reference tolerance: |a − e| ≤ tol·(1 + |e|). Float32 sums of up to a few hundred products
    /// lose ~1e-6 relative per step; 1e-4 leaves room for different summation orders (GEMM vs direct loops).
    /// Float64 agrees to rounding (1e-10).</summary>
    public static double Tolerance(DType dtype) => dtype == DType.Float32 ? 1e-4 : 1e-10;

    public static Tensor Normal(ulong seed, DType dtype, params int[] shape) => Tensor.RandN(shape, new Rng(seed), dtype);

    public static void AssertClose(double[] expected, double[] actual, double tol, string what)
    {
        Assert.True(expected.Length == actual.Length, $"{what}: {actual.Length} values, expected {expected.Length}");
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(actual[i] - expected[i]) <= tol * (1 + Math.Abs(expected[i])),
                $"{what}: element {i} is {actual[i]:G10}, expected {expected[i]:G10}");
    }

    public static void AssertClose(Tensor expected, Tensor actual, double tol, string what)
    {
        Assert.Equal(expected.Shape, actual.Shape);
        AssertClose(expected.ToDoubleArray(), actual.ToDoubleArray(), tol, what);
    }

    /// <summary>Asserts that f throws an ArgumentException whose message contains every fragment.</summary>
    public static void AssertArgumentError(Action f, params string[] fragments)
    {
        var ex = Assert.Throws<ArgumentException>(f);
        foreach (var s in fragments) Assert.Contains(s, ex.Message);
    }
}
