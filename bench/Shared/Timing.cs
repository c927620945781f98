// Timing: the warm-up-then-time loop and the median that both sides of the per-shape convolution comparison use,
// compiled into SeFramework.Bench and the TorchSharp peer as one linked file (like ConvShapes.cs), so the two sides time
// alike.
using System.Diagnostics;

namespace SeFramework.Bench.Shared;

public static class Timing
{
    /// <summary>Warm-up (≥ 2 calls and ≥ warmupMs: the JIT tiers our kernels up, oneDNN builds and caches its
    /// primitives), then reps timed calls, in ms.</summary>
    public static List<double> Time(Action f, int reps, int warmupMs)
    {
        var warm = Stopwatch.StartNew();
        for (int i = 0; i < 2 || warm.Elapsed.TotalMilliseconds < warmupMs; i++) f();
        var ms = new List<double>(reps);
        for (int i = 0; i < reps; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            f();
            ms.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
        }
        return ms;
    }

    /// <summary>Median (mean of the middle two for an even count).</summary>
    public static double Median(IEnumerable<double> values)
    {
        var s = values.Order().ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : 0.5 * (s[s.Length / 2 - 1] + s[s.Length / 2]);
    }
}
