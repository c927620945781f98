// A whole classification network: its description (NetworkSpec: named stages of layer specs, counted without
// allocating) and the module built from it (Network), whose children are the stages' layers in order.
using SeFramework.Nn;

namespace SeFramework.Models;

/// <summary>One summary row: a stage (layer0, pool0, layer1 …, last_linear) and the top-level children it consists of.</summary>
public sealed record StageSpec(string Name, IReadOnlyList<(string Name, ILayerSpec Spec)> Layers)
{
    public StageSpec(string name, ILayerSpec spec) : this(name, [(name, spec)]) { }
}

/// <summary>Description of a network: its registry name, input channels and stages. Counting needs no tensors.</summary>
public sealed record NetworkSpec(string Name, int InChannels, IReadOnlyList<StageSpec> Stages)
{
    public IEnumerable<(string Name, ILayerSpec Spec)> Layers => Stages.SelectMany(s => s.Layers);

    public long ParameterCount => Layers.Sum(l => l.Spec.ParameterCount);

    /// <summary>Output shape, parameters and MACs per stage for one input image of size height×width.</summary>
    public ModelSummary Summarize(int height, int width)
    {
        if (height <= 0 || width <= 0) throw new ArgumentException($"{Name}: input size must be positive, not {height}×{width}");
        var input = new FeatureShape(InChannels, height, width);
        var shape = input;
        var rows = new List<StageSummary>();
        foreach (var stage in Stages)
        {
            var (output, macs) = SpecChain.Propagate(shape, stage.Layers.Select(l => l.Spec));
            rows.Add(new StageSummary(stage.Name, output, stage.Layers.Sum(l => l.Spec.ParameterCount), macs));
            shape = output;
        }
        return new ModelSummary(Name, input, shape, rows.Sum(r => r.Params), rows.Sum(r => r.Macs), rows);
    }

    /// <summary>Allocates the network and initialises it (<see cref="ModelInit"/>).</summary>
    public Network Build(Rng rng, DType dtype = DType.Float32, bool zeroInitLastBn = false)
    {
        var network = new Network(this, new BuildContext(rng, dtype));
        ModelInit.Apply(network, rng, zeroInitLastBn);
        return network;
    }
}

/// <summary>The module of a <see cref="NetworkSpec"/>: x (N, C, H, W) → logits (N, classes).</summary>
public sealed class Network : Module
{
    private readonly List<Module> _layers = new();

    internal Network(NetworkSpec spec, BuildContext context)
    {
        Spec = spec;
        foreach (var (name, layer) in spec.Layers) _layers.Add(RegisterModule(name, layer.Build(context)));
    }

    public NetworkSpec Spec { get; }
    public string Name => Spec.Name;

    /// <summary>Per-stage shapes, parameters and MACs at the given input size (no forward pass).</summary>
    public ModelSummary Summary(int height = 224, int width = 224) => Spec.Summarize(height, width);

    public override Tensor Forward(Tensor input)
    {
        if (input.Rank != 4 || input.Size(1) != Spec.InChannels)
            throw new ArgumentException($"{Name}: expects input (N, {Spec.InChannels}, H, W), got {input.Layout}");
        return NamedSequential.Run(_layers, input);
    }
}

/// <summary>
/// Initialisation as timm's legacy SENet: every conv weight (SE fc1/fc2 included) He normal with fan-out and ReLU gain,
/// BN γ = 1 and β = 0, Linear and conv biases keep PyTorch's default uniform. Optionally the last BN γ of every
/// residual block is zeroed, so each block starts as the identity (Goyal et al.).
/// </summary>
public static class ModelInit
{
    public static void Apply(Module model, Rng rng, bool zeroInitLastBn)
    {
        using var _ = Autograd.Autograd.NoGrad();
        foreach (var (_, m) in model.NamedModules())
        {
            switch (m)
            {
                case Conv2d conv:
                    var init = Tensor.KaimingNormal(conv.Weight.Shape, fanOut: true, rng, conv.Weight.DType);
                    conv.Weight.CopyFrom(init);
                    init.Storage.Dispose(); // a temporary: return it to the pool now, not when a GC finalizes it
                    break;
                case BatchNorm2d bn:
                    bn.Weight.Fill_(1);
                    bn.Bias.Fill_(0);
                    break;
            }
        }
        if (zeroInitLastBn)
            foreach (var block in model.NamedModules().Select(m => m.Module).OfType<ResidualBlock>())
                block.LastBatchNorm.Weight.Fill_(0);
    }
}
