// Paired SeFramework/libtorch evaluation for the op reference tests: identical seeded inputs, forward in both, the
// random projection loss sum(out * R) backpropagated in both, and every output/gradient compared and its error logged.
using System.Collections.Concurrent;
using System.Globalization;
using TorchSharp;

namespace SeFramework.Reference.Tests;

/// <summary>An input of a paired check: shape, seed and value range; Grad says whether its gradient is compared.</summary>
public sealed record RefInput(long[] Shape, int Seed, float Min = -1f, float Max = 1f, bool Grad = true)
{
    public int[] IntShape => Shape.Select(d => checked((int)d)).ToArray();
}

/// <summary>The errors of one comparison: max |a − e|, max |a − e|/|e| over |e| ≥ <see cref="RefCheck.RelFloor"/>,
/// and the largest fraction of the allowed error (atol + rtol·|e|) used by any element (≤ 1 passes).</summary>
public readonly record struct RefError(double MaxAbs, double MaxRel, double Used)
{
    public RefError Max(RefError o) => new(Math.Max(MaxAbs, o.MaxAbs), Math.Max(MaxRel, o.MaxRel), Math.Max(Used, o.Used));
}

/// <summary>
/// Compares our results with libtorch's for one op family and logs every comparison (max abs/rel error and the share
/// of the tolerance used) to the test output, so the worst cases can be read off a test run.
/// </summary>
public sealed class RefCheck(ITestOutputHelper output, string family)
{
    /// <summary>Relative errors are reported only where |expected| ≥ this (near zero they say nothing).</summary>
    public const double RelFloor = 1e-3;

    /// <summary>Worst errors per family (and per tolerance) seen in this process, for the summary line.</summary>
    public static readonly ConcurrentDictionary<string, RefError> Worst = new();

    /// <summary>The worst error of this family seen by this checker.</summary>
    public RefError WorstHere { get; private set; }

    /// <summary>Measures the errors of actual against expected (same length).</summary>
    public static RefError Measure(ReadOnlySpan<double> expected, ReadOnlySpan<double> actual, Tol tol)
    {
        double maxAbs = 0, maxRel = 0, used = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            double e = expected[i], a = actual[i];
            if (e.Equals(a)) continue;
            double abs = Math.Abs(a - e);
            if (double.IsNaN(abs)) return new(double.NaN, double.NaN, double.PositiveInfinity);
            maxAbs = Math.Max(maxAbs, abs);
            if (Math.Abs(e) >= RelFloor) maxRel = Math.Max(maxRel, abs / Math.Abs(e));
            used = Math.Max(used, abs / (tol.Atol + tol.Rtol * Math.Abs(e)));
        }
        return new(maxAbs, maxRel, used);
    }

    /// <summary>Asserts ours (values in row-major order, shape) is close to torch's tensor, and logs the errors.</summary>
    public void Compare(torch.Tensor expected, float[] actual, long[] actualShape, Tol tol, string what)
        => Compare(expected, actual.Select(v => (double)v).ToArray(), actualShape, tol, what);

    /// <summary>As the float overload, for values held in double (float64 runs compare at full precision).</summary>
    public void Compare(torch.Tensor expected, double[] actual, long[] actualShape, Tol tol, string what)
    {
        if (!expected.shape.SequenceEqual(actualShape))
            Assert.Fail($"{family} {what}: shape mismatch, torch [{string.Join(", ", expected.shape)}], ours [{string.Join(", ", actualShape)}]");
        var e = Torch.ToDoubleArray(expected);
        Record(what, Measure(e, actual, tol), tol);
        Close.AssertClose(e, actual, tol.Rtol, tol.Atol, $"{family} {what}", actualShape);
    }

    /// <summary>Asserts our tensor (float32 or float64, compared in double) is close to torch's tensor (shapes must
    /// match), and logs the errors.</summary>
    public void Compare(torch.Tensor expected, Tensor actual, Tol tol, string what)
        => Compare(expected, actual.Contiguous().To(DType.Float64).ToDoubleArray(), actual.Shape.Select(d => (long)d).ToArray(), tol, what);

    /// <summary>Asserts two plain arrays are close (e.g. losses), and logs the errors.</summary>
    public void Compare(double[] expected, double[] actual, Tol tol, string what)
    {
        Record(what, Measure(expected, actual, tol), tol);
        Close.AssertClose(expected, actual, tol.Rtol, tol.Atol, $"{family} {what}");
    }

    void Record(string what, RefError err, Tol tol)
    {
        WorstHere = WorstHere.Max(err);
        Worst.AddOrUpdate($"{family} ({tol})", err, (_, old) => old.Max(err));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"[ref] {family,-16} {what,-52} max abs {err.MaxAbs,9:E2}  max rel {err.MaxRel,9:E2}  used {err.Used,7:P1} of {tol}"));
    }

    /// <summary>Writes this checker's worst case as one line (call at the end of a test).</summary>
    public void Summary() => output.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"[ref-worst] {family,-16} max abs {WorstHere.MaxAbs:E2}  max rel {WorstHere.MaxRel:E2}  used {WorstHere.Used:P1}"));

    /// <summary>Our leaf tensor for an input (requires grad when the input's Grad is set).</summary>
    public static Tensor Ours(RefInput input)
    {
        var t = Tensor.FromArray(TestData.Uniform(TestData.Count(input.Shape), input.Seed, input.Min, input.Max), input.IntShape);
        if (input.Grad) t.RequiresGrad_();
        return t;
    }

    /// <summary>Torch's leaf tensor for the same input (same values).</summary>
    public static torch.Tensor Theirs(RefInput input)
        => Torch.FromArray(TestData.Uniform(TestData.Count(input.Shape), input.Seed, input.Min, input.Max), input.Shape, input.Grad);

    /// <summary>
    /// Runs the op in both frameworks on the same inputs, compares the outputs (forward tolerance), then
    /// backpropagates sum(out * R) with the same seeded R in both and compares the gradient of every input with
    /// Grad set (gradient tolerance). Must be called inside a torch dispose scope.
    /// </summary>
    public void ForwardBackward(string config, RefInput[] inputs, Func<Tensor[], Tensor> ours, Func<torch.Tensor[], torch.Tensor> theirs,
        Tol forward, Tol gradient, int projectionSeed = 9001)
    {
        var a = inputs.Select(Ours).ToArray();
        var b = inputs.Select(Theirs).ToArray();
        var ya = ours(a);
        var yb = theirs(b);
        Compare(yb, ya, forward, $"{config}: out");

        long[] outShape = yb.shape;
        var r = TestData.Uniform(TestData.Count(outShape), projectionSeed);
        (ya * Tensor.FromArray(r, ya.Shape)).Sum().Backward();
        (yb * Torch.FromArray(r, outShape)).sum().backward();
        for (int i = 0; i < inputs.Length; i++)
        {
            if (!inputs[i].Grad) continue;
            if (a[i].Grad is null) Assert.Fail($"{family} {config}: our input {i} got no gradient");
            using var gb = b[i].grad ?? throw new InvalidOperationException($"{family} {config}: torch input {i} got no gradient");
            Compare(gb, a[i].Grad!, gradient, $"{config}: d input{i}");
        }
    }
}
