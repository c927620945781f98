// Residual blocks of the SE-ResNet family with timm legacy_* child names: the bottleneck (SE-ResNet, SE-ResNeXt,
// SENet-154) and the basic block (SE-ResNet-18/34, CIFAR SE-ResNets), each with the SE integration variants.
using SeFramework.Nn;

namespace SeFramework.Models;

/// <summary>What every residual block spec shares: the shortcut projection and the SE unit (null = plain block).</summary>
public abstract record ResidualBlockSpec(int In, int Out, ConvSpec? Downsample, SeConfig? Se) : ILayerSpec
{
    /// <summary>Residual-branch layers in registration order (conv1, bn1, relu, …, last BN).</summary>
    public abstract IReadOnlyList<(string Name, ILayerSpec Spec)> ResidualLayers { get; }

    /// <summary>The SE unit: on the block input for Pre, on the block output otherwise.</summary>
    public SeSpec? SeUnit => Se == null ? null : new SeSpec(Se.Integration == SeIntegration.Pre ? In : Out, Se);

    public FeatureShape OutputShape(FeatureShape input) => Count(input).Output;
    public long Macs(FeatureShape input) => Count(input).Macs;

    public long ParameterCount => ResidualLayers.Sum(l => l.Spec.ParameterCount)
        + (SeUnit?.ParameterCount ?? 0) + (Downsample == null ? 0 : Downsample.ParameterCount + 2L * Downsample.Out);

    private (FeatureShape Output, long Macs) Count(FeatureShape input)
    {
        input.RequireMap(In, GetType().Name);
        var (r, macs) = SpecChain.Propagate(input, ResidualLayers.Select(l => l.Spec));
        var shortcut = input;
        if (Downsample != null)
        {
            macs += Downsample.Macs(input);
            shortcut = Downsample.OutputShape(input);
        }
        if (r != shortcut) throw new ArgumentException($"{GetType().Name}: residual {r} and shortcut {shortcut} differ for input {input}");
        if (SeUnit != null) macs += SeUnit.Macs(SeUnit.Channels == In ? input : r);
        return (r, macs);
    }

    public abstract Module Build(BuildContext context);
}

/// <summary>
/// Bottleneck: conv1 1×1 In→Reduce, conv2 3×3 Reduce→Width (groups), conv3 1×1 Width→Out, each with BN.
/// StrideOn1x1 puts the stride on conv1 (Caffe SE-ResNet, timm SEResNetBottleneck); otherwise on the 3×3 (SE-ResNeXt,
/// SENet-154).
/// </summary>
public sealed record BottleneckSpec(int In, int Reduce, int Width, int Out, int Groups, int Stride, bool StrideOn1x1, ConvSpec? Downsample, SeConfig? Se)
    : ResidualBlockSpec(In, Out, Downsample, Se)
{
    public override IReadOnlyList<(string Name, ILayerSpec Spec)> ResidualLayers =>
    [
        ("conv1", new ConvSpec(In, Reduce, 1, StrideOn1x1 ? Stride : 1)), ("bn1", new BatchNormSpec(Reduce)), ("relu1", new ReluSpec()),
        ("conv2", new ConvSpec(Reduce, Width, 3, StrideOn1x1 ? 1 : Stride, 1, Groups)), ("bn2", new BatchNormSpec(Width)), ("relu2", new ReluSpec()),
        ("conv3", new ConvSpec(Width, Out, 1)), ("bn3", new BatchNormSpec(Out)),
    ];

    public override Module Build(BuildContext context) => new ResidualBlock(this, context);
}

/// <summary>
/// Basic block: conv1 3×3 (stride) + BN + ReLU, conv2 3×3 + BN. ReluBeforeSe mirrors timm's legacy SEResNetBlock
/// (legacy_seresnet18/34), which applies ReLU to bn2's output before the SE unit and again after the sum; the CIFAR
/// SE-ResNets (moskomule) and every plain block have no ReLU there.
/// </summary>
public sealed record BasicBlockSpec(int In, int Out, int Stride, ConvSpec? Downsample, SeConfig? Se, bool ReluBeforeSe)
    : ResidualBlockSpec(In, Out, Downsample, Se)
{
    public override IReadOnlyList<(string Name, ILayerSpec Spec)> ResidualLayers
    {
        get
        {
            var layers = new List<(string, ILayerSpec)>
            {
                ("conv1", new ConvSpec(In, Out, 3, Stride, 1)), ("bn1", new BatchNormSpec(Out)), ("relu1", new ReluSpec()),
                ("conv2", new ConvSpec(Out, Out, 3, 1, 1)), ("bn2", new BatchNormSpec(Out)),
            };
            if (ReluBeforeSe) layers.Add(("relu2", new ReluSpec()));
            return layers;
        }
    }

    public override Module Build(BuildContext context) => new ResidualBlock(this, context);
}

/// <summary>
/// A residual block module. Children in timm's order: the residual layers (conv1, bn1, …, bn3), se_module, then
/// downsample (Sequential: "0" conv, "1" BN), so the state-dict keys are layer1.0.conv1.weight …
/// layer1.0.se_module.fc1.bias, layer1.0.downsample.0.weight.
/// </summary>
public sealed class ResidualBlock : Module
{
    private readonly List<Module> _residual = new();

    public ResidualBlock(ResidualBlockSpec spec, BuildContext c)
    {
        Spec = spec;
        foreach (var (name, layer) in spec.ResidualLayers)
        {
            var m = RegisterModule(name, layer.Build(c));
            _residual.Add(m);
            if (m is BatchNorm2d bn) LastBatchNorm = bn;
        }
        if (LastBatchNorm == null) throw new ArgumentException("a residual block needs a BatchNorm in its residual branch");
        if (spec.SeUnit is { } se) SeModule = RegisterModule("se_module", new SeModule(se, c));
        if (spec.Downsample is { } ds)
        {
            Downsample = RegisterModule("downsample", new Sequential(ds.Build(c), new BatchNormSpec(ds.Out).Build(c)));
        }
    }

    public ResidualBlockSpec Spec { get; }
    public SeModule? SeModule { get; }
    public Sequential? Downsample { get; }

    /// <summary>The last BN of the residual branch (bn3 / bn2): its γ is zeroed by ZeroInitLastBn.</summary>
    public BatchNorm2d LastBatchNorm { get; } = null!;

    private Tensor Residual(Tensor x) => NamedSequential.Run(_residual, x);

    // The downsample Sequential's children run as a chain, so its conv output is released like the residual's.
    private Tensor Shortcut(Tensor x)
    {
        if (Downsample == null) return x;
        var layers = new Module[Downsample.Count];
        for (int i = 0; i < layers.Length; i++) layers[i] = Downsample[i];
        return NamedSequential.Run(layers, x);
    }

    // x: (N, In, H, W) -> (N, Out, H/s, W/s). Every tensor made here except the result is released once consumed
    // (freed at once under NoGrad, after its last backward in training).
    public override Tensor Forward(Tensor x)
    {
        Tensor y;
        if (SeModule == null)
        {
            var r = Residual(x);
            var s = Shortcut(x);
            var sum = r + s;
            y = sum.Relu();
            Release(x, y, r, s, sum);
            return y;
        }
        switch (Spec.Se!.Integration)
        {
            case SeIntegration.Standard:
            {
                var r = Residual(x);
                var a = SeModule.Excite(r);
                var s = Shortcut(x);
                y = F.AxpyRelu(a, r, s);
                Release(x, y, r, a, s);
                return y;
            }
            case SeIntegration.Pre:
            {
                var a = SeModule.Excite(x);
                var scaled = F.ChannelScale(x, a);
                var r = Residual(scaled);
                var s = Shortcut(x);
                var sum = r + s;
                y = sum.Relu();
                Release(x, y, a, scaled, r, s, sum);
                return y;
            }
            case SeIntegration.Post:
            {
                var r = Residual(x);
                var s = Shortcut(x);
                var sum = r + s;
                var z = sum.Relu();
                var a = SeModule.Excite(z);
                y = F.ChannelScale(z, a);
                Release(x, y, r, s, sum, z, a);
                return y;
            }
            default:
            {
                var s = Shortcut(x);
                var a = SeModule.Excite(s);
                var r = Residual(x);
                y = F.AxpyRelu(a, s, r);
                Release(x, y, s, a, r);
                return y;
            }
        }
    }

    private static void Release(Tensor input, Tensor output, params Tensor[] intermediates)
    {
        foreach (var t in intermediates) NamedSequential.ReleaseIntermediate(t, input, output);
    }
}
