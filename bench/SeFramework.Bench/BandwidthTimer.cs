// `SeFramework.Bench --bandwidth [--threads T] [--reps R]`: GB/s of the bandwidth-bound SE kernels on a large activation
// (32·256·56·56 floats = 103 MB per tensor, beyond the 32 MiB L3) against this machine's streaming bandwidth, measured
// here with a copy (Buffer.MemoryCopy: read + write) and a read-only sum: Axpy+ReLU (read a·x + y, write out: 3 streams),
// its backward (read x, out, dOut; write dx, dy: 5 streams), GAP (read x: 1 stream), BN training forward (x read twice, y written).
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using SeFramework.Cpu;

namespace SeFramework.Bench;

public static unsafe class BandwidthTimer
{
    public static int Run(string[] args)
    {
        int threads = 2, reps = 7;
        for (int i = 1; i < args.Length; i++)
        {
            if (args[i] == "--threads" && i + 1 < args.Length) threads = int.Parse(args[++i], CultureInfo.InvariantCulture);
            else if (args[i] == "--reps" && i + 1 < args.Length) reps = int.Parse(args[++i], CultureInfo.InvariantCulture);
        }
        CpuParallel.MaxThreads = threads;
        int[] shape = [32, 256, 56, 56]; // 103 MB per tensor: 3× the 32 MiB L3, so every pass streams from DRAM
        var x = Tensor.RandN(shape, new Rng(1));
        var y = Tensor.RandN(shape, new Rng(2));
        var g = Tensor.RandN(shape, new Rng(3));
        var a = Tensor.RandU(new[] { 32, 256 }, new Rng(4));
        var copyDst = Tensor.Empty(shape);
        double bytes = x.NumElements * 4.0;

        // Reference streams over buffers of the same size: a parallel copy (1 read + 1 write) and a parallel Vector512
        // sum (1 read); the better of the two, in GB/s, is "the machine's bandwidth" the kernels are compared with.
        long n = x.NumElements;
        float* xs = (float*)NativeMemory.AlignedAlloc((nuint)(n * 4), 64), ds = (float*)NativeMemory.AlignedAlloc((nuint)(n * 4), 64);
        new Span<float>(xs, (int)n).Fill(1f);
        new Span<float>(ds, (int)n).Fill(0f);
        double copy = Best(reps, () => CpuParallel.For(64, 1, (c0, c1) =>
        {
            long i0 = n * c0 / 64, i1 = n * c1 / 64;
            Buffer.MemoryCopy(xs + i0, ds + i0, (i1 - i0) * 4, (i1 - i0) * 4);
        }));
        var partial = new float[64];
        double read = Best(reps, () => CpuParallel.For(64, 1, (c0, c1) =>
        {
            for (int c = c0; c < c1; c++)
            {
                long i0 = n * c / 64, i1 = n * (c + 1) / 64;
                Vector512<float> acc0 = default, acc1 = default;
                long i = i0;
                for (; i + 32 <= i1; i += 32)
                {
                    acc0 += Vector512.Load(xs + i);
                    acc1 += Vector512.Load(xs + i + 16);
                }
                float t = Vector512.Sum(acc0 + acc1);
                for (; i < i1; i++) t += xs[i];
                partial[c] = t;
            }
        }));
        NativeMemory.AlignedFree(xs);
        NativeMemory.AlignedFree(ds);
        double peak = Math.Max(2 * bytes / copy, bytes / read) / 1e6; // GB/s
        Report("copy (reference, 2 streams)", 2 * bytes, copy, 0);
        Report("read-sum (reference, 1 stream)", bytes, read, 0);

        using (Autograd.Autograd.NoGrad())
        {
            Report("AxpyRelu forward (3 streams)", 3 * bytes, Best(reps, () => { using var s = TensorScope.Begin(); F.AxpyRelu(a, x, y); }), peak);
            Report("GlobalAvgPool (1 stream)", bytes, Best(reps, () => { using var s = TensorScope.Begin(); F.GlobalAvgPool(x); }), peak);
            Report("BatchNorm train forward (3 streams)", 3 * bytes, Best(reps, () => { using var s = TensorScope.Begin(); F.BatchNorm2d(x, null, null, null, null, true); }), peak);
        }
        var backend = Backends.BackendRegistry.For(Device.Cpu);
        var o = Tensor.Empty(shape);
        var dx = Tensor.Empty(shape);
        var dy = Tensor.Empty(shape);
        var da = Tensor.Empty(new[] { 32, 256 });
        backend.Axpy(a, x, y, o, relu: true);
        Report("AxpyRelu backward (5 streams)", 5 * bytes, Best(reps, () => backend.AxpyBackward(a, x, o, g, true, da, dx, dy)), peak);
        return 0;
    }

    private static void Report(string what, double bytes, double ms, double peak)
    {
        double gbs = bytes / (ms / 1000) / 1e9;
        string share = peak > 0 ? string.Create(CultureInfo.InvariantCulture, $"  {100 * gbs / peak:F0} % of the best reference") : "";
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{what,-38} {ms,8:F2} ms {gbs,7:F1} GB/s{share}"));
    }

    private static double Best(int reps, Action f)
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
