// Measures effective DRAM bandwidth (bytes read + written per second) of our SE kernels against the copy kernel on the GPU,
// at SE-ResNet-50 activation shapes. Prints a markdown table. Usage: CudaBandwidth [iterations]
using SeFramework.Cuda.Runtime;

var (ok, reason) = CudaAvailability.Check();
if (!ok)
{
    Console.Error.WriteLine($"CUDA is not available: {reason}");
    return 2;
}
int iterations = args.Length > 0 ? int.Parse(args[0]) : 50;
var d = CudaDevice.Get();
Console.WriteLine($"device: {d}");
Console.WriteLine($"iterations per measurement: {iterations} (after 3 warm-up launches); GB/s = (bytes read + written) / time");
Console.WriteLine();
Console.WriteLine("| shape (N, C, H, W) | kernel | bytes/elem | time (us) | GB/s | % of copy | % of peak |");
Console.WriteLine("|---|---|---|---|---|---|---|");

// SE-ResNet-50 stage outputs at batch 64: the SE block's Axpy and GAP run on exactly these.
(int N, int C, int H, int W)[] shapes = [(64, 256, 56, 56), (64, 512, 28, 28), (64, 1024, 14, 14), (64, 2048, 7, 7)];
foreach (var (n, c, h, w) in shapes)
{
    long planes = (long)n * c, hw = (long)h * w, total = planes * hw;
    using var x = new CudaBuffer<float>(d, total);
    using var y = new CudaBuffer<float>(d, total);
    using var f = new CudaBuffer<float>(d, total);
    using var dx = new CudaBuffer<float>(d, total);
    using var df = new CudaBuffer<float>(d, total);
    using var a = new CudaBuffer<float>(d, planes);
    using var da = new CudaBuffer<float>(d, planes);
    CudaKernels.Fill(d, x.Pointer, 0.5f, total);
    CudaKernels.Fill(d, y.Pointer, -0.25f, total);
    CudaKernels.Fill(d, df.Pointer, 0.125f, total);
    CudaKernels.Fill(d, a.Pointer, 1.5f, planes);
    string shape = $"({n}, {c}, {h}, {w})";
    double copyGBs = 0;
    void Measure(string name, double bytesPerElement, Action launch)
    {
        for (int i = 0; i < 3; i++) launch();
        using var start = new CudaEvent(d);
        using var end = new CudaEvent(d);
        start.Record(d.Stream);
        for (int i = 0; i < iterations; i++) launch();
        end.Record(d.Stream);
        double us = CudaEvent.ElapsedMilliseconds(start, end) * 1000.0 / iterations;
        double gbs = bytesPerElement * total / (us * 1e-6) / 1e9;
        if (name == "copy") copyGBs = gbs;
        Console.WriteLine($"| {shape} | {name} | {bytesPerElement:0} | {us:0.0} | {gbs:0} | {100 * gbs / copyGBs:0}% | {100 * gbs / d.PeakBandwidthGBs:0}% |");
    }
    Measure("copy", 8, () => CudaKernels.Copy(d, f.Pointer, x.Pointer, total));
    Measure("axpy", 12, () => CudaKernels.AxpyForward(d, f.Pointer, a.Pointer, x.Pointer, y.Pointer, planes, hw, relu: false));
    Measure("axpy+relu", 12, () => CudaKernels.AxpyForward(d, f.Pointer, a.Pointer, x.Pointer, y.Pointer, planes, hw, relu: true));
    // backward reads dF, x (and F for ReLU), writes dx and dy: 16 / 20 bytes per element.
    Measure("axpy bwd", 16, () => CudaKernels.AxpyBackward(d, dx.Pointer, y.Pointer, da.Pointer, df.Pointer, a.Pointer, x.Pointer, 0, planes, hw, relu: false));
    Measure("axpy+relu bwd", 20, () => CudaKernels.AxpyBackward(d, dx.Pointer, y.Pointer, da.Pointer, df.Pointer, a.Pointer, x.Pointer, f.Pointer, planes, hw, relu: true));
    Measure("gap fwd", 4, () => CudaKernels.GapForward(d, da.Pointer, x.Pointer, planes, hw));
    Measure("gap bwd", 4, () => CudaKernels.GapBackward(d, dx.Pointer, da.Pointer, planes, hw));
}
var s = d.Allocator.Stats;
Console.WriteLine();
Console.WriteLine($"allocator: peak {s.PeakAllocatedBytes >> 20} MiB, cached {s.CachedBytes >> 20} MiB, driver allocations {s.DriverAllocations}, cache hits {s.CacheHits}");
return 0;
