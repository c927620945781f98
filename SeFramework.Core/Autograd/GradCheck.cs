// Finite-difference gradient checking (Caffe's checker, in float64): compares the gradients backward() computes with
// central differences of a random projection of the output. Used by every op and module test.
namespace SeFramework.Autograd;

public static class GradCheck
{
    /// <summary>Tolerances of every gradient check, stated once. Central differences in float64 with step 1e-6 have
    /// truncation error O(h²)·f''' and rounding error O(ε/h) ≈ 1e-10 relative; 1e-5 leaves room for kinks near
    /// ReLU/max boundaries that inputs are kept away from.</summary>
    public const double Step = 1e-6;
    public const double RelativeTolerance = 1e-5;
    public const double AbsoluteTolerance = 1e-7;

    public sealed record Mismatch(int Input, int Element, double Analytic, double Numeric);

    /// <summary>
    /// Checks d(sum(f(inputs) ⊙ R))/d(inputs) for a fixed random R. Inputs must be float64 leaves with RequiresGrad;
    /// f must be deterministic. Returns the worst mismatches (empty when all agree).
    /// </summary>
    public static IReadOnlyList<Mismatch> Check(Func<Tensor[], Tensor> f, Tensor[] inputs, ulong seed = 1, double step = Step,
        double rtol = RelativeTolerance, double atol = AbsoluteTolerance)
    {
        foreach (var t in inputs)
            if (t.DType != DType.Float64 || !t.IsLeaf)
                throw new ArgumentException("GradCheck needs float64 leaf inputs");

        Tensor projection;
        using (Autograd.NoGrad())
        {
            var y0 = f(inputs);
            projection = Tensor.RandN(y0.Shape, new Rng(seed), DType.Float64);
        }

        foreach (var t in inputs) t.Grad = null;
        var loss = (f(inputs) * projection).Sum();
        loss.Backward();
        var analytic = inputs.Select(t => t.RequiresGrad ? (t.Grad?.ToDoubleArray() ?? new double[t.NumElements]) : null).ToArray();

        var mismatches = new List<Mismatch>();
        using (Autograd.NoGrad())
        {
            for (int i = 0; i < inputs.Length; i++)
            {
                if (analytic[i] == null) continue;
                if (!inputs[i].IsContiguous) throw new ArgumentException("GradCheck inputs must be contiguous");
                var span = inputs[i].Span<double>();
                for (int e = 0; e < span.Length; e++)
                {
                    double orig = span[e];
                    span[e] = orig + step;
                    double plus = (f(inputs) * projection).Sum().Item();
                    span[e] = orig - step;
                    double minus = (f(inputs) * projection).Sum().Item();
                    span[e] = orig;
                    double numeric = (plus - minus) / (2 * step);
                    double a = analytic[i]![e];
                    if (Math.Abs(a - numeric) > atol + rtol * Math.Max(Math.Abs(a), Math.Abs(numeric)) || double.IsNaN(a))
                        mismatches.Add(new Mismatch(i, e, a, numeric));
                }
            }
        }
        return mismatches.OrderByDescending(m => Math.Abs(m.Analytic - m.Numeric)).Take(10).ToList();
    }

    /// <summary>Throws with the worst mismatches when the check fails.</summary>
    public static void Assert(Func<Tensor[], Tensor> f, params Tensor[] inputs)
    {
        var bad = Check(f, inputs);
        if (bad.Count > 0)
            throw new InvalidOperationException("gradient check failed: " + string.Join("; ",
                bad.Select(m => $"input {m.Input} element {m.Element}: analytic {m.Analytic:G10} vs numeric {m.Numeric:G10}")));
    }
}
