// `SeFramework.Bench --convparts [all|NAME[,NAME...]] [--threads T] [--reps R] [--batch N] [--dir fwd|data|filter]`: min-of-R timings of the three CPU conv kernels
// (forward, backward-data, backward-filter) of the bench/Shared/ConvShapes.cs shapes (ConvShapes.Select, as --conv), called straight on the backend (no autograd);
// --dir times one direction only (0 for the others); --batch overrides the shapes' batch size (short calls + many reps: a min that survives a loaded machine).
// SE_CONV_IMPLICIT=0 in the environment times the im2col path instead of the implicit GEMM.
using System.Diagnostics;
using System.Globalization;
using SeFramework.Backends;
using SeFramework.Cpu;
using SeFramework.Bench.Shared;

namespace SeFramework.Bench;

public static class ConvPartsTimer
{
    public static int Run(string[] args)
    {
        string name = args.Length > 1 ? args[1] : "all";
        int threads = 1, reps = 5, batch = 0;
        string dir = "all";
        for (int i = 2; i < args.Length; i++)
        {
            if (args[i] == "--threads" && i + 1 < args.Length) threads = int.Parse(args[++i], CultureInfo.InvariantCulture);
            else if (args[i] == "--reps" && i + 1 < args.Length) reps = int.Parse(args[++i], CultureInfo.InvariantCulture);
            else if (args[i] == "--batch" && i + 1 < args.Length) batch = int.Parse(args[++i], CultureInfo.InvariantCulture);
            else if (args[i] == "--dir" && i + 1 < args.Length) dir = args[++i];
        }
        CpuParallel.MaxThreads = threads;
        var be = BackendRegistry.For(Device.Cpu);
        foreach (var shape in ConvShapes.Select(name))
        {
            var s = batch > 0 ? shape with { N = batch } : shape;
            using var scope = TensorScope.Begin();
            int p = Conv2dGeometry.OutputSize(s.H, s.R, s.Stride, s.Padding, 1);
            var g = new Conv2dGeometry(s.N, s.C, s.H, s.H, s.K, s.R, s.R, p, p, s.Stride, s.Padding, 1, 1);
            // x: (N, C, H, H), w: (K, C, R, R), y / dy: (N, K, P, P)
            var x = Tensor.RandN(new[] { s.N, s.C, s.H, s.H }, new Rng(1));
            var w = Tensor.RandN(new[] { s.K, s.C, s.R, s.R }, new Rng(2));
            var y = Tensor.Empty(new[] { s.N, s.K, p, p });
            var dy = Tensor.RandN(new[] { s.N, s.K, p, p }, new Rng(3));
            var dx = Tensor.Empty(x.Shape);
            var dw = Tensor.Empty(w.Shape);
            double gflop = 2.0 * s.N * s.K * p * p * s.C * s.R * s.R / 1e9;
            double fwd = dir is "all" or "fwd" ? MinMs(() => be.Conv2dForward(x, w, null, y, g), reps) : 0;
            double data = dir is "all" or "data" ? MinMs(() => be.Conv2dBackwardData(dy, w, dx, g), reps) : 0;
            double filt = dir is "all" or "filter" ? MinMs(() => be.Conv2dBackwardFilter(x, dy, dw, null, g), reps) : 0;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{s.Name,-30} fwd {fwd,7:F2} ms {gflop / fwd * 1e3,6:F1}   data {data,7:F2} ms {gflop / data * 1e3,6:F1}   filter {filt,7:F2} ms {gflop / filt * 1e3,6:F1} GF/s"));
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
