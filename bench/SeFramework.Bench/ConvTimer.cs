// `SeFramework.Bench --conv [NAME|all] [--threads T] [--reps R]`: quick min-of-R timings (no BenchmarkDotNet start-up)
// of the ConvBenchmarks shapes: forward and forward+backward, with GFLOP/s (2·MACs per multiply-add).
using System.Diagnostics;
using System.Globalization;
using SeFramework.Cpu;

namespace SeFramework.Bench;

public static class ConvTimer
{
    public static int Run(string[] args)
    {
        string name = args.Length > 1 ? args[1] : "all";
        int threads = 1, reps = 5;
        for (int i = 2; i < args.Length; i++)
        {
            if (args[i] == "--threads" && i + 1 < args.Length) threads = int.Parse(args[++i], CultureInfo.InvariantCulture);
            else if (args[i] == "--reps" && i + 1 < args.Length) reps = int.Parse(args[++i], CultureInfo.InvariantCulture);
        }
        CpuParallel.MaxThreads = threads;
        foreach (var s in ConvBenchmarks.Shapes.Where(s => name == "all" || s.Name.Contains(name, StringComparison.Ordinal)))
        {
            var b = new ConvBenchmarks { Shape = s, Threads = threads };
            b.Setup();
            int p = (s.H + 2 * s.Padding - s.R) / s.Stride + 1;
            double macs = (double)s.N * s.K * p * p * s.C * s.R * s.R;
            double fwd = MinMs(b.Forward, reps), fb = MinMs(b.ForwardBackward, reps);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{s.Name,-30} fwd {fwd,8:F2} ms {2 * macs / fwd / 1e6,6:F1} GF/s   fwd+bwd {fb,8:F2} ms {6 * macs / fb / 1e6,6:F1} GF/s"));
        }
        return 0;
    }

    private static double MinMs(Action f, int reps)
    {
        f();
        double best = double.MaxValue;
        for (int i = 0; i < reps; i++)
        {
            var sw = Stopwatch.StartNew();
            f();
            best = Math.Min(best, sw.Elapsed.TotalMilliseconds);
        }
        return best;
    }
}
