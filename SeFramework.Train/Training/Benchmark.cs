// `se bench`: times training or inference steps of a zoo model on synthetic data and reports the median images/s,
// the median step time and the process's peak resident memory (VmHWM).
using System.Diagnostics;
using SeFramework.Cuda.Backend;
using SeFramework.Models;
using SeFramework.Optim;

namespace SeFramework.Train.Training;

public sealed record BenchOptions(string Model, int Batch, int Input, int InChannels, string Mode, int Steps, int Warmup, int Threads, string Device, int NumClasses = 1000);

public sealed record BenchResult(string Model, string Mode, int Batch, int Input, int Threads, double ImagesPerSec, double StepMsMedian, double StepMsMin, long PeakRssBytes, double[] StepMs,
    string Device = "cpu", long PeakDeviceBytes = 0);

public static class Benchmark
{
    public static BenchResult Run(BenchOptions o, TextWriter? log = null)
    {
        if (o.Batch < 1 || o.Input < 8 || o.Steps < 1 || o.Warmup < 0 || o.Threads < 1 || o.InChannels < 1)
            throw new ArgumentException($"se bench: batch ≥ 1, input ≥ 8, steps ≥ 1, warmup ≥ 0, threads ≥ 1 and in-chans ≥ 1 are required (got batch {o.Batch}, input {o.Input}, steps {o.Steps}, warmup {o.Warmup}, threads {o.Threads})");
        if (o.Mode is not ("train" or "infer")) throw new ArgumentException($"se bench: --mode must be train or infer, not '{o.Mode}'");
        var device = SeFramework.Device.Parse(o.Device);
        DeviceCheck.Require(device);
        Cpu.CpuParallel.MaxThreads = o.Threads;
        int classes = ModelRegistry.IsCifar(o.Model) ? 10 : o.NumClasses;
        var model = ModelRegistry.Create(o.Model, new ModelOptions { NumClasses = classes, InChannels = o.InChannels, Seed = 1 });
        model.To(device);
        var x = Tensor.RandN(new[] { o.Batch, o.InChannels, o.Input, o.Input }, new Rng(2)).To(device);
        var labels = Enumerable.Range(0, o.Batch).Select(i => i % classes).ToArray();
        var opt = new Sgd(model.Parameters(), 0.01, momentum: 0.9, weightDecay: 1e-4);
        if (o.Mode == "infer") model.Eval();
        var times = new List<double>();
        for (int i = 0; i < o.Warmup + o.Steps; i++)
        {
            var sw = Stopwatch.StartNew();
            using (TensorScope.Begin())
            {
                if (o.Mode == "train")
                {
                    var loss = F.CrossEntropy(model.Forward(x), labels);
                    loss.Backward();
                    opt.Step();
                    opt.ZeroGrad();
                    // On an asynchronous device the step is only queued: wait for it before stopping the clock.
                    if (device.Kind == DeviceKind.Cuda) CudaBackend.ForOrdinal(device.Index).CudaDevice.Synchronize();
                }
                else
                {
                    using var _ = SeFramework.Autograd.Autograd.NoGrad();
                    model.Forward(x).ToFloatArray();
                }
            }
            double ms = sw.Elapsed.TotalMilliseconds;
            if (i >= o.Warmup) times.Add(ms);
            log?.WriteLine($"{(i < o.Warmup ? "warmup" : "step")} {i + 1}: {ms:F1} ms");
        }
        var sorted = times.OrderBy(t => t).ToArray();
        double median = sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
        long peakDevice = device.Kind == DeviceKind.Cuda
            ? (long)CudaBackend.ForOrdinal(device.Index).CudaDevice.Allocator.Stats.PeakAllocatedBytes
            : 0;
        return new BenchResult(o.Model, o.Mode, o.Batch, o.Input, o.Threads, o.Batch / (median / 1000), median, sorted[0], PeakRss(), times.ToArray(),
            device.ToString(), peakDevice);
    }

    /// <summary>The process's resident-set high-water mark from /proc/self/status (0 where unavailable).</summary>
    public static long PeakRss()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                    return long.Parse(line[6..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture) * 1024;
        }
        catch (IOException)
        {
        }
        return 0;
    }
}
