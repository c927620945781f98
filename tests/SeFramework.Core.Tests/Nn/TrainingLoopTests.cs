// End-to-end checks of the core: a 3-layer conv net learns a separable problem, and training steps do not grow memory.
using SeFramework.Nn;
using SeFramework.Optim;
using Xunit;

namespace SeFramework.Tests;

// Live-memory assertions: run outside the parallel test collections so other classes' tensors do not count.
[Collection(nameof(SeFramework.Core.Tests.Cpu.CpuThreadsCollection))]
public class TrainingLoopTests
{
    private sealed class ThreeLayerNet : Module
    {
        private readonly Sequential _body;

        public ThreeLayerNet(Rng rng)
        {
            _body = RegisterModule("body", new Sequential(
                new Conv2d(1, 8, 3, padding: 1, bias: false, rng: rng), new BatchNorm2d(8), new ReLU(),
                new Conv2d(8, 8, 3, stride: 2, padding: 1, rng: rng), new ReLU(),
                new Conv2d(8, 2, 1, rng: rng), new GlobalAvgPool(), new Flatten()));
        }

        public override Tensor Forward(Tensor input) => _body.Forward(input);
    }

    /// <summary>8×8 images: class 0 has horizontal stripes, class 1 vertical ones, both with noise.</summary>
    private static (Tensor X, int[] Y) StripeData(int n, Rng rng)
    {
        var x = new float[n * 64];
        var y = new int[n];
        for (int i = 0; i < n; i++)
        {
            y[i] = i % 2;
            int phase = rng.NextInt(2);
            for (int r = 0; r < 8; r++)
                for (int c = 0; c < 8; c++)
                {
                    int line = y[i] == 0 ? r : c;
                    x[i * 64 + r * 8 + c] = ((line + phase) % 2 == 0 ? 1f : -1f) + 0.3f * (float)rng.NextNormal();
                }
        }
        return (Tensor.FromArray(x, n, 1, 8, 8), y);
    }

    [Fact]
    public void Three_layer_conv_net_learns_stripes_below_loss_0_1()
    {
        var rng = new Rng(11);
        var net = new ThreeLayerNet(rng);
        var opt = new Sgd(net.Parameters(), 0.1, momentum: 0.9);
        var (x, y) = StripeData(64, rng);
        double first = 0, last = 0;
        for (int step = 0; step < 80; step++)
        {
            using var scope = TensorScope.Begin();
            var loss = F.CrossEntropy(net.Forward(x), y);
            if (step == 0) first = loss.Item();
            last = loss.Item();
            loss.Backward();
            opt.Step();
            opt.ZeroGrad();
        }
        Assert.InRange(first, 0.5, 1.5);
        Assert.True(last < 0.1, $"loss after 80 steps is {last} (started at {first}); the bound is 0.1");
        net.Eval();
        var (tx, ty) = StripeData(32, new Rng(99));
        using (SeFramework.Autograd.Autograd.NoGrad())
        {
            var predicted = net.Forward(tx).ArgMax(1);
            Assert.True(predicted.Select((p, i) => p == ty[i]).Count(ok => ok) >= 30);
        }
    }

    [Fact]
    public void Hundred_training_steps_do_not_grow_live_memory()
    {
        var rng = new Rng(5);
        var net = new ThreeLayerNet(rng);
        var opt = new Sgd(net.Parameters(), 0.05, momentum: 0.9, weightDecay: 1e-4);
        var (x, y) = StripeData(16, rng);
        long afterWarmup = 0, afterWarmupStorages = 0;
        for (int step = 0; step < 100; step++)
        {
            using (TensorScope.Begin())
            {
                var loss = F.CrossEntropy(net.Forward(x), y);
                loss.Backward();
                opt.Step();
                opt.ZeroGrad();
            }
            if (step == 4)
            {
                afterWarmup = MemoryStats.LiveBytes;
                afterWarmupStorages = MemoryStats.LiveStorages;
            }
        }
        // Other tests may allocate concurrently, so compare with slack far below one step's activations (~60 KB here × 95 steps).
        Assert.InRange(MemoryStats.LiveBytes - afterWarmup, long.MinValue, 200_000);
        Assert.InRange(MemoryStats.LiveStorages - afterWarmupStorages, long.MinValue, 200);
    }

    [Fact]
    public void Without_a_scope_the_garbage_collector_returns_activations()
    {
        var rng = new Rng(6);
        var net = new ThreeLayerNet(rng);
        var opt = new Sgd(net.Parameters(), 0.05);
        var (x, y) = StripeData(16, rng);
        void Step()
        {
            var loss = F.CrossEntropy(net.Forward(x), y);
            loss.Backward();
            opt.Step();
            opt.ZeroGrad();
        }
        for (int i = 0; i < 5; i++) Step();
        MemoryStats.CollectUnreachable();
        long baseline = MemoryStats.LiveBytes;
        for (int i = 0; i < 50; i++) Step();
        MemoryStats.CollectUnreachable();
        Assert.InRange(MemoryStats.LiveBytes - baseline, long.MinValue, 200_000);
    }
}
