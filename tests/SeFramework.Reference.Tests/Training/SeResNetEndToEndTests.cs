// End-to-end reference check: the first SGD steps of our se_resnet20 (SeFramework.Models) against the same network
// built module by module in TorchSharp with our initial weights copied in by name: the losses and every weight
// (5 steps in float64, 1 step in float32).
using TorchSharp;
using TorchSharp.Modules;
using SeFramework.Models;
using SeFramework.Optim;
using static TorchSharp.torch;
using TF = TorchSharp.torch.nn.functional;

namespace SeFramework.Reference.Tests;

/// <summary>The smallest |pre-activation| seen at any ReLU during the torch forward passes: when it is below the two
/// frameworks' rounding difference (~1e-6 here) the ReLU may pass a gradient in one and not the other, and the
/// trajectories fork legitimately (a kink, not a bug).</summary>
sealed class ReluMargin
{
    public double Min { get; private set; } = double.PositiveInfinity;

    public torch.Tensor Relu(torch.Tensor preActivation)
    {
        Min = Math.Min(Min, Torch.ToDoubleArray(preActivation.detach().abs().min())[0]);
        return preActivation.relu();
    }
}

/// <summary>
/// SE unit as in SeFramework.Models.SeModule: GAP → 1×1 conv C→max(1, C/16) (+bias) → ReLU → 1×1 conv → sigmoid.
/// x: (N, C, H, W) → gate (N, C, 1, 1).
/// </summary>
sealed class TorchSeModule : nn.Module<torch.Tensor, torch.Tensor>
{
    readonly Conv2d fc1, fc2;
    readonly ReluMargin margin;

    public TorchSeModule(long channels, ReluMargin margin) : base("se_module")
    {
        this.margin = margin;
        long hidden = Math.Max(1, channels / 16);
        fc1 = nn.Conv2d(channels, hidden, 1, bias: true);
        fc2 = nn.Conv2d(hidden, channels, 1, bias: true);
        RegisterComponents();
    }

    public override torch.Tensor forward(torch.Tensor x)
        => fc2.forward(margin.Relu(fc1.forward(TF.adaptive_avg_pool2d(x, [1, 1])))).sigmoid(); // (N, C, 1, 1)
}

/// <summary>CIFAR SE basic block as SeFramework.Models' BasicBlockSpec (ReluBeforeSe false) with standard SE
/// integration: r = bn2(conv2(relu(bn1(conv1(x))))), out = relu(r·se(r) + shortcut(x)) (our AxpyRelu).</summary>
sealed class TorchSeBasicBlock : nn.Module<torch.Tensor, torch.Tensor>
{
    readonly Conv2d conv1, conv2;
    readonly BatchNorm2d bn1, bn2;
    readonly TorchSeModule se_module;
    readonly Sequential? downsample;
    readonly ReluMargin margin;

    public TorchSeBasicBlock(long cin, long cout, long stride, ReluMargin margin) : base("block")
    {
        this.margin = margin;
        conv1 = nn.Conv2d(cin, cout, 3, stride: stride, padding: 1, bias: false);
        bn1 = nn.BatchNorm2d(cout);
        conv2 = nn.Conv2d(cout, cout, 3, stride: 1, padding: 1, bias: false);
        bn2 = nn.BatchNorm2d(cout);
        se_module = new TorchSeModule(cout, margin);
        if (stride != 1 || cin != cout)
            downsample = nn.Sequential(("0", nn.Conv2d(cin, cout, 1, stride: stride, bias: false)), ("1", nn.BatchNorm2d(cout)));
        RegisterComponents();
    }

    // x: (N, Cin, H, W) -> (N, Cout, H/s, W/s)
    public override torch.Tensor forward(torch.Tensor x)
    {
        var r = bn2.forward(conv2.forward(margin.Relu(bn1.forward(conv1.forward(x)))));
        var shortcut = downsample is null ? x : downsample.forward(x);
        return margin.Relu(r * se_module.forward(r) + shortcut);
    }
}

/// <summary>se_resnet20 as SeFramework.Models builds it: layer0 (conv1 3×3 16 + bn1, then relu1, which has no parameters), layer1..3 of 3 SE basic
/// blocks (16/32/64, strides 1/2/2), global_pool (GAP + flatten), last_linear. Parameter names equal ours.</summary>
sealed class TorchSeResNet20 : nn.Module<torch.Tensor, torch.Tensor>
{
    readonly Sequential layer0, layer1, layer2, layer3;
    readonly Linear last_linear;

    public ReluMargin Margin { get; } = new();

    public TorchSeResNet20(long inChannels, long numClasses) : base("se_resnet20")
    {
        layer0 = nn.Sequential(("conv1", nn.Conv2d(inChannels, 16, 3, stride: 1, padding: 1, bias: false)), ("bn1", nn.BatchNorm2d(16)));
        layer1 = Stage(16, 16, 1, Margin);
        layer2 = Stage(16, 32, 2, Margin);
        layer3 = Stage(32, 64, 2, Margin);
        last_linear = nn.Linear(64, numClasses);
        RegisterComponents();
    }

    static Sequential Stage(long cin, long cout, long stride, ReluMargin m) => nn.Sequential(
        ("0", new TorchSeBasicBlock(cin, cout, stride, m)), ("1", new TorchSeBasicBlock(cout, cout, 1, m)), ("2", new TorchSeBasicBlock(cout, cout, 1, m)));

    // x: (N, C, H, W) -> (N, classes)
    public override torch.Tensor forward(torch.Tensor x)
    {
        var y = layer3.forward(layer2.forward(layer1.forward(Margin.Relu(layer0.forward(x))))); // layer0: conv1, bn1, relu1
        return last_linear.forward(TF.adaptive_avg_pool2d(y, [1, 1]).flatten(1));
    }
}

public class SeResNetEndToEndTests(ITestOutputHelper output)
{
    // float64: the 5-step trajectory at full precision, where rounding differences (~1e-16) are far too small to flip a
    // ReLU, so the comparison can be tight and no input seed is special. float32: one step (forward, every gradient, the
    // update) of the float32 kernels; a multi-step float32 trajectory can legitimately fork at a ReLU kink (see below).
    [Theory]
    [InlineData("float64", 5)]
    [InlineData("float32", 1)]
    public void Sgd_steps_of_se_resnet20_match_libtorch(string precision, int steps)
    {
        LibTorch.RequireOrSkip();
        using var scope = torch.NewDisposeScope();
        bool f64 = precision == "float64";
        var check = new RefCheck(output, $"se_resnet20 e2e {precision}");
        var lossTol = f64 ? RefTolerances.EndToEndLoss64 : RefTolerances.EndToEndLoss;
        var weightTol = f64 ? RefTolerances.EndToEndWeights64 : RefTolerances.EndToEndWeights;
        const int batch = 8, side = 16, classes = 10;
        const double lr = 0.1, momentum = 0.9, weightDecay = 1e-4;

        var ours = ModelRegistry.Create("se_resnet20", new ModelOptions
        {
            NumClasses = classes, InChannels = 1, Seed = 1, DType = f64 ? DType.Float64 : DType.Float32,
        });
        ours.Train();
        var theirs = new TorchSeResNet20(1, classes);
        if (f64) theirs.to(torch.float64);
        theirs.train();

        // Same layout: identical key sets (torch's BN counters aside) and shapes; then our initial weights into torch.
        var ourState = ours.StateDict();
        var torchState = theirs.state_dict().Where(kv => !kv.Key.EndsWith(".num_batches_tracked", StringComparison.Ordinal))
            .ToDictionary(kv => kv.Key, kv => kv.Value);
        Assert.Equal(ourState.Keys.Order(), torchState.Keys.Order());
        using (torch.no_grad())
            foreach (var (key, value) in ourState)
            {
                Assert.Equal(value.Shape.Select(d => (long)d), torchState[key].shape);
                torchState[key].copy_(Torch.FromArray(value.Contiguous().ToDoubleArray(), torchState[key].shape));
            }
        Assert.Contains("layer1.0.se_module.fc1.weight", ourState.Keys);
        Assert.Equal([1, 16, 1, 1], ourState["layer1.0.se_module.fc1.weight"].Shape); // C/16 = 1 at 16 channels

        // One fixed batch: x (8, 1, 16, 16) in [-1, 1), labels in [0, 10). About 380k ReLU inputs per step: with some
        // input seeds one lands within the frameworks' ~1e-6 rounding difference of 0 during the 5 steps, the ReLU passes
        // a gradient in one framework only, and the trajectories fork by ~1e-3 (seen with input seed 161: every ReLU
        // margin of the torch run was checked, the fork came from a pre-activation of 9e-7). Input seed 11 had the widest
        // margin of seeds 1–16 after the SIMD kernels changed our rounding (every |pre-ReLU| ≥ 2.5e-6, logged below), so
        // the comparison measures rounding, not a coin flip; in float32 it runs one step only, the trajectory in float64.
        long[] xShape = [batch, 1, side, side];
        int[] xIntShape = xShape.Select(d => (int)d).ToArray();
        var xData = TestData.Uniform(TestData.Count(xShape), seed: 11);
        var xData64 = xData.Select(v => (double)v).ToArray();
        var rng = new Random(162);
        int[] labels = Enumerable.Range(0, batch).Select(_ => rng.Next(classes)).ToArray();
        var x = f64 ? Tensor.FromArray(xData64, xIntShape) : Tensor.FromArray(xData, xIntShape);
        var tx = f64 ? Torch.FromArray(xData64, xShape) : Torch.FromArray(xData, xShape);
        var tLabels = torch.tensor(labels.Select(l => (long)l).ToArray(), dtype: torch.int64);

        var sgd = new Sgd(ours.Parameters(), lr, momentum, weightDecay: weightDecay);
        var torchSgd = torch.optim.SGD(theirs.parameters(), lr, momentum, weight_decay: weightDecay);
        var ourLosses = new double[steps];
        var torchLosses = new double[steps];
        var torchParams = theirs.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        for (int step = 0; step < steps; step++)
        {
            sgd.ZeroGrad();
            var loss = F.CrossEntropy(ours.Forward(x), labels);
            loss.Backward();
            ourLosses[step] = loss.Item();

            torchSgd.zero_grad();
            using var torchLoss = TF.cross_entropy(theirs.forward(tx), tLabels);
            torchLoss.backward();
            torchLosses[step] = Torch.ToDoubleArray(torchLoss)[0];

            if (step == 0) // diagnostics: the first gradients, before any update
                foreach (var (name, p) in ours.NamedParameters())
                    check.Compare(torchParams[name].grad!, p.Grad!, weightTol, $"grad {name} at step 1");
            sgd.Step();
            torchSgd.step();
            // How far the two trajectories are apart after this step (largest weight difference), for the log.
            double drift = 0;
            string worstName = "";
            foreach (var (name, p) in ours.NamedParameters())
            {
                var e = Torch.ToDoubleArray(torchParams[name]);
                var a = p.Contiguous().ToDoubleArray();
                for (int i = 0; i < e.Length; i++)
                    if (Math.Abs(e[i] - a[i]) > drift) (drift, worstName) = (Math.Abs(e[i] - a[i]), name);
            }
            output.WriteLine($"[ref] after step {step + 1}: loss ours {ourLosses[step]:R}, torch {torchLosses[step]:R}; largest weight difference {drift:E2} ({worstName}); smallest |pre-ReLU| so far {theirs.Margin.Min:E1}");
        }
        output.WriteLine("[ref] losses ours:  " + string.Join(", ", ourLosses.Select(l => l.ToString("R", System.Globalization.CultureInfo.InvariantCulture))));
        output.WriteLine("[ref] losses torch: " + string.Join(", ", torchLosses.Select(l => l.ToString("R", System.Globalization.CultureInfo.InvariantCulture))));
        output.WriteLine($"[ref] smallest |pre-ReLU| in the torch run: {theirs.Margin.Min:E2}");
        string kinkNote = $" (smallest |pre-ReLU| in the torch run: {theirs.Margin.Min:E2}; below ~1e-6 a ReLU can flip between frameworks, see the comment on the input seed)";
        try { check.Compare(torchLosses, ourLosses, lossTol, $"{steps} losses"); }
        catch (Xunit.Sdk.FailException ex) { Assert.Fail(ex.Message + kinkNote); }
        if (steps > 1) Assert.True(ourLosses[^1] < ourLosses[0], $"the loss should fall on a fixed batch: {string.Join(", ", ourLosses)}");

        // Every parameter and BN running statistic after step 5.
        var finalState = theirs.named_parameters().Select(p => (p.name, t: (torch.Tensor)p.parameter)).Concat(theirs.named_buffers().Select(b => (b.name, t: b.buffer)))
            .ToDictionary(p => p.name, p => p.t);
        foreach (var (key, value) in ours.StateDict())
        {
            try { check.Compare(finalState[key], value, weightTol, $"{key} after {steps} steps"); }
            catch (Xunit.Sdk.FailException ex) { Assert.Fail(ex.Message + kinkNote); }
        }
        check.Summary();
        // The torch module's finalizer disposes its parameters and buffers: keep it alive until every comparison
        // (in Release the JIT may otherwise collect it after its last use, mid-loop: "Tensor invalid -- empty handle").
        GC.KeepAlive(theirs);
        GC.KeepAlive(torchSgd);
        theirs.Dispose();
    }
}
