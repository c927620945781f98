// Element-wise closeness assertions for comparing SeFramework results with libtorch (numpy.allclose semantics),
// reporting the worst element with its index, both values and both errors so a failure can be diagnosed at once.
using System.Globalization;
using TorchSharp;

namespace SeFramework.Reference.Tests;

/// <summary>
/// <c>|actual - expected| &lt;= atol + rtol * |expected|</c> for every element, as numpy.allclose/torch.allclose.
/// Equal values (including equal infinities) and NaN against NaN count as close; NaN against a number does not.
/// </summary>
public static class Close
{
    /// <summary>Fails the test unless every element is close; <paramref name="shape"/> (optional) turns flat indices into [i, j, ...].</summary>
    public static void AssertClose(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, double rtol, double atol, string what, long[]? shape = null)
    {
        var e = new double[expected.Length];
        var a = new double[actual.Length];
        for (int i = 0; i < e.Length; i++) e[i] = expected[i];
        for (int i = 0; i < a.Length; i++) a[i] = actual[i];
        AssertClose(e, a, rtol, atol, what, shape);
    }

    /// <summary>Fails the test unless every element is close; <paramref name="shape"/> (optional) turns flat indices into [i, j, ...].</summary>
    public static void AssertClose(ReadOnlySpan<double> expected, ReadOnlySpan<double> actual, double rtol, double atol, string what, long[]? shape = null)
    {
        if (Describe(expected, actual, rtol, atol, what, shape) is { } failure)
            Assert.Fail(failure);
    }

    /// <summary>Compares a libtorch result (any dtype/layout) with ours; shapes must match exactly.</summary>
    public static void AssertClose(torch.Tensor expected, ReadOnlySpan<float> actual, long[] actualShape, double rtol, double atol, string what)
    {
        long[] expectedShape = expected.shape;
        if (!expectedShape.SequenceEqual(actualShape))
            Assert.Fail($"{what}: shape mismatch, expected (torch) [{string.Join(", ", expectedShape)}], actual [{string.Join(", ", actualShape)}]");
        AssertClose(Torch.ToDoubleArray(expected), ToDouble(actual), rtol, atol, what, actualShape);
    }

    /// <summary>
    /// The failure message for <see cref="AssertClose(ReadOnlySpan{double}, ReadOnlySpan{double}, double, double, string, long[])"/>,
    /// or null when all elements are close. Public so tests can check the harness itself and callers can log.
    /// </summary>
    public static string? Describe(ReadOnlySpan<double> expected, ReadOnlySpan<double> actual, double rtol, double atol, string what, long[]? shape = null)
    {
        if (rtol < 0 || atol < 0 || double.IsNaN(rtol) || double.IsNaN(atol))
            throw new ArgumentException($"{what}: tolerances must be non-negative numbers, got rtol={rtol}, atol={atol}");
        if (expected.Length != actual.Length)
            return $"{what}: length mismatch, expected {expected.Length} elements, actual {actual.Length}";

        int bad = 0, worst = -1;
        double worstExcess = double.NegativeInfinity; // |diff| / allowed; > 1 means outside tolerance
        for (int i = 0; i < expected.Length; i++)
        {
            double e = expected[i], a = actual[i];
            if (e.Equals(a)) continue; // also NaN == NaN and equal infinities
            double diff = Math.Abs(a - e), allowed = atol + rtol * Math.Abs(e);
            bool close = diff <= allowed; // false for any NaN or infinite difference
            double excess = double.IsNaN(diff) || double.IsInfinity(diff) ? double.PositiveInfinity
                          : allowed > 0 ? diff / allowed : double.PositiveInfinity;
            if (!close) bad++;
            if (!close && (worst < 0 || excess > worstExcess)) { worst = i; worstExcess = excess; }
        }
        if (bad == 0) return null;

        double we = expected[worst], wa = actual[worst], abs = Math.Abs(wa - we);
        double rel = we == 0 ? double.PositiveInfinity : abs / Math.Abs(we);
        return string.Create(CultureInfo.InvariantCulture,
            $"{what}: {bad} of {expected.Length} elements differ beyond atol={atol:G3} + rtol={rtol:G3}*|expected|; " +
            $"worst at index {worst}{MultiIndex(worst, shape)}: expected {we:G9}, actual {wa:G9}, abs err {abs:G3}, rel err {rel:G3}");
    }

    static double[] ToDouble(ReadOnlySpan<float> values)
    {
        var result = new double[values.Length];
        for (int i = 0; i < values.Length; i++) result[i] = values[i];
        return result;
    }

    // flat row-major index -> " [i, j, k]" for the given shape; empty when no (or an inconsistent) shape is given.
    static string MultiIndex(long flat, long[]? shape)
    {
        if (shape is null || shape.Length == 0) return "";
        var index = new long[shape.Length];
        for (int d = shape.Length - 1; d >= 0; d--)
        {
            if (shape[d] <= 0) return "";
            index[d] = flat % shape[d];
            flat /= shape[d];
        }
        return flat == 0 ? $" [{string.Join(", ", index)}]" : "";
    }
}
