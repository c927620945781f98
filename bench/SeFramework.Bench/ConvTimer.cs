// `SeFramework.Bench --conv all|NAME[,NAME...] [--threads T] [--reps R] [--warmup-ms W] [--json]`: quick timings (no
// BenchmarkDotNet start-up) of the ConvBenchmarks shapes, forward and forward+backward (dx and dw), median of R reps
// after a warm-up of at least 2 calls and W ms (the JIT tiers the kernels up meanwhile), with GFLOP/s (2 FLOPs per
// multiply-add; fwd+bwd = 3 convolutions' worth). --json prints one line: the JSON that bench/compare.sh reads and that
// the peer's `run-peer.sh --conv ... --json` also prints (same field names).
using System.Globalization;
using System.Text.Json;
using SeFramework.Cpu;

using SeFramework.Bench.Shared;

namespace SeFramework.Bench;

public static class ConvTimer
{
    private const string Usage = "usage: SeFramework.Bench --conv all|NAME[,NAME...] [--threads T] [--reps R] [--warmup-ms W] [--json]";

    public static int Run(string[] args)
    {
        try
        {
            return RunCore(args);
        }
        catch (ArgumentException ex)
        {
            Console.Error.WriteLine(ex.Message);
            return 2;
        }
    }

    private static int RunCore(string[] args)
    {
        string names = "all";
        int threads = 1, reps = 5, warmupMs = 200;
        bool json = false;
        for (int i = 0; i < args.Length; i++)
        {
            int Next() => i + 1 < args.Length && int.TryParse(args[++i], NumberStyles.None, CultureInfo.InvariantCulture, out int v) && v >= 0
                ? v : throw new ArgumentException($"{args[i - 1]} needs a non-negative integer; {Usage}");
            switch (args[i])
            {
                case "--conv":
                    if (i + 1 < args.Length && !args[i + 1].StartsWith("--", StringComparison.Ordinal)) names = args[++i];
                    break;
                case "--threads": threads = Math.Max(1, Next()); break;
                case "--reps": reps = Math.Max(1, Next()); break;
                case "--warmup-ms": warmupMs = Next(); break;
                case "--json": json = true; break;
                default:
                    Console.Error.WriteLine($"unknown option '{args[i]}'; {Usage}");
                    return 2;
            }
        }
        var shapes = ConvShapes.Select(names);
        if (shapes.Count == 0)
        {
            Console.Error.WriteLine($"--conv {names}: no such shape; known: {ConvShapes.KnownNames}");
            return 2;
        }
        CpuParallel.MaxThreads = threads;
        var results = new List<Dictionary<string, object>>();
        foreach (var s in shapes)
        {
            var b = new ConvBenchmarks { Shape = s, Threads = threads };
            b.Setup();
            int p = (s.H + 2 * s.Padding - s.R) / s.Stride + 1;
            double macs = (double)s.N * s.K * p * p * s.C * s.R * s.R;
            var fwd = Timing.Time(b.Forward, reps, warmupMs);
            var fb = Timing.Time(b.ForwardBackward, reps, warmupMs);
            b.RestoreThreads();
            CpuParallel.MaxThreads = threads;
            double fwdMs = Timing.Median(fwd), fbMs = Timing.Median(fb);
            results.Add(new Dictionary<string, object>
            {
                ["name"] = s.Name, ["n"] = s.N, ["c"] = s.C, ["h"] = s.H, ["w"] = s.H, ["k"] = s.K, ["r"] = s.R,
                ["stride"] = s.Stride, ["padding"] = s.Padding, ["groups"] = 1,
                ["out"] = new[] { s.N, s.K, p, p }, // (N, K, P, Q): the peer prints its own; compare.sh checks they agree
                ["fwd_ms"] = fwdMs, ["fwd_ms_min"] = fwd.Min(), ["fwdbwd_ms"] = fbMs, ["fwdbwd_ms_min"] = fb.Min(),
                ["fwd_gflops"] = 2 * macs / fwdMs / 1e6, ["fwdbwd_gflops"] = 6 * macs / fbMs / 1e6,
            });
            if (!json)
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{s.Name,-30} out ({s.N},{s.K},{p},{p})  fwd {fwdMs,8:F2} ms {2 * macs / fwdMs / 1e6,6:F1} GF/s   fwd+bwd {fbMs,8:F2} ms {6 * macs / fbMs / 1e6,6:F1} GF/s"));
        }
        if (json)
            Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["side"] = "ours", ["threads"] = threads, ["reps"] = reps, ["warmup_ms"] = warmupMs, ["convs"] = results,
            }));
        return 0;
    }
}
