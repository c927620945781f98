// `SeFramework.Bench --gemm N [--steps S --warmup W --threads T --json]`: the median time of S square SGEMMs after W
// warm-up calls, as GFLOP/s, in the JSON shape of the peer's --gemm mode (gemm_n, threads, gflops, step_ms_median),
// plus gflops_best (the fastest step) and cpu_ms_per_step (process CPU time per step, all threads: on a busy machine
// a steadier measure of the work than wall time).
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using SeFramework.Cpu;

namespace SeFramework.Bench;

public static unsafe class GemmTimer
{
    [DllImport("libc", EntryPoint = "madvise")]
    private static extern int Madvise(void* address, nuint length, int advice);

    private static float* AllocLikeTensor(long bytes)
    {
        const long huge = 2L << 20;
        if (!OperatingSystem.IsLinux() || bytes < 2 * huge || Environment.GetEnvironmentVariable("SE_HUGEPAGES") == "0")
            return (float*)NativeMemory.AlignedAlloc((nuint)bytes, 64);
        long size = (bytes + huge - 1) / huge * huge;
        void* p = NativeMemory.AlignedAlloc((nuint)size, (nuint)huge);
        Madvise(p, (nuint)size, 14); // MADV_HUGEPAGE
        return (float*)p;
    }

    public static int Run(string[] args)
    {
        int n = 0, steps = 10, warmup = 3, threads = Environment.ProcessorCount;
        bool json = false;
        for (int i = 0; i < args.Length; i++)
        {
            int Next() => i + 1 < args.Length && int.TryParse(args[++i], NumberStyles.None, CultureInfo.InvariantCulture, out int v) && v >= 0
                ? v : throw new ArgumentException($"{args[i - 1]} needs a non-negative integer");
            switch (args[i])
            {
                case "--gemm": n = Next(); break;
                case "--steps": steps = Math.Max(1, Next()); break;
                case "--warmup": warmup = Next(); break;
                case "--threads": threads = Math.Max(1, Next()); break;
                case "--json": json = true; break;
                default:
                    Console.Error.WriteLine($"unknown option '{args[i]}'; usage: --gemm N [--steps S] [--warmup W] [--threads T] [--json]");
                    return 2;
            }
        }
        if (n < 1)
        {
            Console.Error.WriteLine("--gemm needs a matrix size N ≥ 1");
            return 2;
        }
        CpuParallel.MaxThreads = threads;
        long elements = (long)n * n;
        // Matrices live where tensors of their size live (Storage: 2 MiB aligned and MADV_HUGEPAGE from 4 MiB up), and
        // where the peer's live (glibc.malloc.hugetlb=1 in run-peer.sh).
        float* a = AllocLikeTensor(elements * 4), b = AllocLikeTensor(elements * 4), c = AllocLikeTensor(elements * 4);
        var rng = new Random(42);
        for (long i = 0; i < elements; i++)
        {
            a[i] = (float)(rng.NextDouble() * 2 - 1);
            b[i] = (float)(rng.NextDouble() * 2 - 1);
        }
        var times = new List<double>();
        TimeSpan cpuStart = TimeSpan.Zero;
        for (int s = 0; s < warmup + steps; s++)
        {
            if (s == warmup) cpuStart = Process.GetCurrentProcess().TotalProcessorTime;
            var sw = Stopwatch.StartNew();
            Gemm.Sgemm(false, false, n, n, n, 1f, a, n, b, n, 0f, c, n);
            if (s >= warmup) times.Add(sw.Elapsed.TotalMilliseconds);
        }
        double cpuMs = (Process.GetCurrentProcess().TotalProcessorTime - cpuStart).TotalMilliseconds / steps;
        NativeMemory.AlignedFree(a);
        NativeMemory.AlignedFree(b);
        NativeMemory.AlignedFree(c);
        times.Sort();
        double median = times.Count % 2 == 1 ? times[times.Count / 2] : (times[times.Count / 2 - 1] + times[times.Count / 2]) / 2;
        double gflops = 2.0 * n * n * n / (median / 1000.0) / 1e9;
        // The fastest step too: on a machine shared with other jobs it shows what the code does when left alone.
        double best = 2.0 * n * n * n / (times[0] / 1000.0) / 1e9;
        if (json)
            Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["gemm_n"] = n, ["threads"] = threads, ["steps"] = steps, ["gflops"] = gflops, ["step_ms_median"] = median, ["gflops_best"] = best, ["cpu_ms_per_step"] = cpuMs,
            }));
        else
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"sgemm {n}: {gflops:F1} GFLOP/s, median {median:F2} ms (best step {best:F1} GFLOP/s), {threads} threads"));
        return 0;
    }
}
