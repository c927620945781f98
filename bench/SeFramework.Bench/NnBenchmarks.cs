// BenchmarkDotNet suites for the SE-Net CPU kernels: the convolution shapes of se_resnet50 and se_resnet20 (forward and
// forward+backward), Axpy(+ReLU), global average pooling, batch norm, one SE block and a full se_resnet20 training step.
// Run: dotnet run -c Release --project bench/SeFramework.Bench -- --filter '*ConvBenchmarks*' (or '*' for all;
// add --job dry to only check that every case runs). Threads = CpuParallel.MaxThreads.
using BenchmarkDotNet.Attributes;
using SeFramework.Cpu;
using SeFramework.Models;
using SeFramework.Nn;
using SeFramework.Optim;

using SeFramework.Bench.Shared;

namespace SeFramework.Bench;

/// <summary>Shared set-up: CpuParallel.MaxThreads for the run, restored afterwards.</summary>
public abstract class CpuBenchBase
{
    private int _savedThreads;

    [Params(1, 2)]
    public int Threads { get; set; }

    /// <summary>Frees the leaves' gradients and clears them. Leaf gradients live outside the TensorScope (as a model's
    /// parameter gradients do); torch frees the tensors autograd.grad returns, so we free ours too, or every call would
    /// fault in fresh pages for them (~11–16 µs per 4 KiB on these VMs) and time the kernel page faults.</summary>
    protected static void FreeGrads(params Tensor[] leaves)
    {
        foreach (var leaf in leaves)
        {
            leaf.Grad?.Storage.Dispose();
            leaf.Grad = null;
        }
    }

    protected void UseThreads()
    {
        _savedThreads = CpuParallel.MaxThreads;
        CpuParallel.MaxThreads = Threads;
    }

    [GlobalCleanup]
    public void RestoreThreads() => CpuParallel.MaxThreads = _savedThreads;
}

[MemoryDiagnoser]
public class ConvBenchmarks : CpuBenchBase
{
    public static IEnumerable<ConvShape> Shapes => ConvShapes.All;

    [ParamsSource(nameof(Shapes))]
    public ConvShape Shape { get; set; } = null!;

    private Tensor _x = null!, _w = null!;

    [GlobalSetup]
    public void Setup()
    {
        UseThreads();
        var s = Shape;
        _x = Tensor.RandN(new[] { s.N, s.C, s.H, s.H }, new Rng(1)).RequiresGrad_();
        _w = (Tensor.RandN(new[] { s.K, s.C, s.R, s.R }, new Rng(2)) * 0.05).Detach().RequiresGrad_();
    }

    // x: (N, C, H, H) -> (N, K, P, P)
    [Benchmark]
    public void Forward()
    {
        using var scope = TensorScope.Begin();
        using var _ = Autograd.Autograd.NoGrad();
        F.Conv2d(_x, _w, null, Shape.Stride, Shape.Padding);
    }

    // Forward, then dx and dw (the training cost of one conv).
    [Benchmark]
    public void ForwardBackward()
    {
        using var scope = TensorScope.Begin();
        var y = F.Conv2d(_x, _w, null, Shape.Stride, Shape.Padding);
        y.Sum().Backward();
        FreeGrads(_x, _w);
    }
}

/// <summary>Bandwidth-bound SE kernels on a large activation: relu(a·x + y) forward/backward, GAP, batch norm.
/// Bytes moved per call are in the method comments; GB/s = bytes / mean time.</summary>
[MemoryDiagnoser]
public class SeKernelBenchmarks : CpuBenchBase
{
    // (N, C, H, W): se_resnet50 stage-1 output at batch 8 (8·256·56·56 floats = 25.7 MB) and a CIFAR stage-1 map.
    [Params("8x256x56x56", "128x16x32x32")]
    public string Map { get; set; } = "";

    private Tensor _x = null!, _y = null!, _a = null!, _g = null!, _gamma = null!, _beta = null!;

    [GlobalSetup]
    public void Setup()
    {
        UseThreads();
        var d = Map.Split('x').Select(int.Parse).ToArray();
        _x = Tensor.RandN(d, new Rng(1));
        _y = Tensor.RandN(d, new Rng(2));
        _g = Tensor.RandN(d, new Rng(3));
        _a = Tensor.RandU(new[] { d[0], d[1] }, new Rng(4));
        _gamma = Tensor.Ones(new[] { d[1] }).RequiresGrad_();
        _beta = Tensor.Zeros(new[] { d[1] }).RequiresGrad_();
    }

    // 3 streams: read x, y; write out.
    [Benchmark]
    public void AxpyRelu()
    {
        using var scope = TensorScope.Begin();
        using var _ = Autograd.Autograd.NoGrad();
        F.AxpyRelu(_a, _x, _y);
    }

    // Forward (3 streams) + backward (read x, out, dOut; write dx, dy: 5 streams).
    [Benchmark]
    public void AxpyReluForwardBackward()
    {
        using var scope = TensorScope.Begin();
        var a = _a.Detach().RequiresGrad_();
        var x = _x.Detach().RequiresGrad_();
        var y = _y.Detach().RequiresGrad_();
        F.AxpyRelu(a, x, y).Backward(_g);
        FreeGrads(a, x, y);
    }

    // 1 stream: read x.
    [Benchmark]
    public void GlobalAvgPool()
    {
        using var scope = TensorScope.Begin();
        using var _ = Autograd.Autograd.NoGrad();
        F.GlobalAvgPool(_x);
    }

    // Training forward: read x twice (stats, normalise), write y.
    [Benchmark]
    public void BatchNormTrainForward()
    {
        using var scope = TensorScope.Begin();
        using var _ = Autograd.Autograd.NoGrad();
        F.BatchNorm2d(_x, null, null, _gamma, _beta, training: true);
    }

    // Training forward + backward (read x, dy twice; write dx).
    [Benchmark]
    public void BatchNormTrainForwardBackward()
    {
        using var scope = TensorScope.Begin();
        var x = _x.Detach().RequiresGrad_();
        F.BatchNorm2d(x, null, null, _gamma, _beta, training: true).Backward(_g);
        FreeGrads(x, _gamma, _beta);
    }
}

/// <summary>One SE block (squeeze, excitation MLP with reduction 16, sigmoid gate, scale + residual + ReLU) on the
/// se_resnet50 stage-1 and se_resnet20 stage-1 maps, forward and forward+backward.</summary>
[MemoryDiagnoser]
public class SeBlockBenchmarks : CpuBenchBase
{
    [Params("8x256x56x56", "128x16x32x32")]
    public string Map { get; set; } = "";

    private Tensor _x = null!, _res = null!, _w1 = null!, _b1 = null!, _w2 = null!, _b2 = null!;

    [GlobalSetup]
    public void Setup()
    {
        UseThreads();
        var d = Map.Split('x').Select(int.Parse).ToArray();
        int c = d[1], hidden = Math.Max(1, c / 16);
        _x = Tensor.RandN(d, new Rng(1)).RequiresGrad_();
        _res = Tensor.RandN(d, new Rng(2)).RequiresGrad_();
        _w1 = (Tensor.RandN(new[] { hidden, c }, new Rng(3)) * 0.1).Detach().RequiresGrad_();
        _b1 = Tensor.Zeros(new[] { hidden }).RequiresGrad_();
        _w2 = (Tensor.RandN(new[] { c, hidden }, new Rng(4)) * 0.1).Detach().RequiresGrad_();
        _b2 = Tensor.Zeros(new[] { c }).RequiresGrad_();
    }

    // x, residual: (N, C, H, W) -> relu(sigmoid(fc2(relu(fc1(gap(x))))) · x + residual)
    private Tensor Block()
    {
        int n = _x.Size(0), c = _x.Size(1);
        var z = F.GlobalAvgPool(_x).Reshape(n, c);
        var s = F.Linear(F.Linear(z, _w1, _b1).Relu(), _w2, _b2).Sigmoid();
        return F.AxpyRelu(s, _x, _res);
    }

    [Benchmark]
    public void Forward()
    {
        using var scope = TensorScope.Begin();
        using var _ = Autograd.Autograd.NoGrad();
        Block();
    }

    [Benchmark]
    public void ForwardBackward()
    {
        using var scope = TensorScope.Begin();
        Block().Sum().Backward();
        FreeGrads(_x, _res, _w1, _b1, _w2, _b2);
    }
}

/// <summary>A full SGD training step (forward, cross-entropy, backward, momentum update) of se_resnet20 at batch 32
/// (batch 128 is `se bench`'s job; BenchmarkDotNet repeats the step many times).</summary>
[MemoryDiagnoser]
public class TrainStepBenchmarks : CpuBenchBase
{
    private Module _model = null!;
    private Sgd _opt = null!;
    private Tensor _x = null!;
    private int[] _labels = [];

    [GlobalSetup]
    public void Setup()
    {
        UseThreads();
        _model = ModelRegistry.Create("se_resnet20", new ModelOptions { NumClasses = 10, Seed = 1 });
        _opt = new Sgd(_model.Parameters(), 0.01, momentum: 0.9, weightDecay: 1e-4);
        _x = Tensor.RandN(new[] { 32, 3, 32, 32 }, new Rng(2));
        _labels = Enumerable.Range(0, 32).Select(i => i % 10).ToArray();
    }

    [Benchmark]
    public void SeResNet20Step()
    {
        using var scope = TensorScope.Begin();
        F.CrossEntropy(_model.Forward(_x), _labels).Backward();
        _opt.Step();
        _opt.ZeroGrad();
    }
}
