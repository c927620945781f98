// The Squeeze-and-Excitation unit (Hu et al. §3): squeeze (global pool) → 1×1 conv C→C/r (+bias) → ReLU →
// 1×1 conv C/r→C (+bias) → gate, with the paper's ablation switches (squeeze, gate, bias, integration, ratio).
using SeFramework.Nn;

namespace SeFramework.Models;

/// <summary>Squeeze operator (paper Table 11): global average (default) or global max pooling.</summary>
public enum SeSqueeze { Avg, Max }

/// <summary>Excitation gate (paper Table 12): sigmoid (default), tanh or ReLU.</summary>
public enum SeGate { Sigmoid, Tanh, Relu }

/// <summary>Where the SE unit sits in a residual block (paper Table 14, Fig. 5).</summary>
public enum SeIntegration
{
    /// <summary>On the residual branch after its last BN, before the sum: relu(a·r + shortcut) (fused AxpyRelu).</summary>
    Standard,
    /// <summary>On the block input, before the residual unit: relu(residual(x·a(x)) + shortcut(x)).</summary>
    Pre,
    /// <summary>After the sum and its ReLU: y·a(y) with y = relu(r + shortcut).</summary>
    Post,
    /// <summary>In parallel, on the identity branch: relu(r + a(s)·s) with s = shortcut(x).</summary>
    Identity,
}

/// <summary>SE configuration. Hidden width = max(1, C / Reduction) (exactly C/16 in every released model).</summary>
public sealed record SeConfig(int Reduction = 16, SeSqueeze Squeeze = SeSqueeze.Avg, SeGate Gate = SeGate.Sigmoid, bool Bias = true,
    SeIntegration Integration = SeIntegration.Standard)
{
    public int Hidden(int channels) => Math.Max(1, channels / Reduction);
}

/// <summary>The SE unit on <paramref name="Channels"/> channels: 2·C·h weights (+ h + C biases), 2·C·h MACs.</summary>
public sealed record SeSpec(int Channels, SeConfig Config) : ILayerSpec
{
    public int Hidden => Config.Hidden(Channels);

    public FeatureShape OutputShape(FeatureShape input)
    {
        input.RequireMap(Channels, $"SE({Channels})");
        return input;
    }

    public long ParameterCount => 2L * Channels * Hidden + (Config.Bias ? Hidden + Channels : 0);
    public long Macs(FeatureShape input) => 2L * Channels * Hidden;
    public Module Build(BuildContext c) => new SeModule(this, c);
}

/// <summary>
/// SE module with timm/Cadene parameter names: fc1 (weight [C/r, C, 1, 1], bias [C/r]) and fc2 ([C, C/r, 1, 1], [C]),
/// stored as 1×1 convolutions like the Caffe release. On the squeezed (N, C) vector a 1×1 conv is a matrix product,
/// so the excitation runs as F.Linear on the weights viewed as (out, in).
/// </summary>
public sealed class SeModule : Module
{
    public SeModule(SeSpec spec, BuildContext c)
    {
        Spec = spec;
        Fc1 = RegisterModule("fc1", new Conv2d(spec.Channels, spec.Hidden, 1, bias: spec.Config.Bias, rng: c.Rng, dtype: c.DType));
        Fc2 = RegisterModule("fc2", new Conv2d(spec.Hidden, spec.Channels, 1, bias: spec.Config.Bias, rng: c.Rng, dtype: c.DType));
    }

    public SeSpec Spec { get; }
    public Conv2d Fc1 { get; }
    public Conv2d Fc2 { get; }

    /// <summary>The channel weights. x: (N, C, H, W) → a: (N, C).</summary>
    public Tensor Excite(Tensor x)
    {
        if (x.Rank != 4 || x.Size(1) != Spec.Channels)
            throw new ArgumentException($"SE({Spec.Channels}): expects input (N, {Spec.Channels}, H, W), got {x.Layout}");
        int c = Spec.Channels, h = Spec.Hidden;
        // squeeze: (N, C, H, W) -> (N, C)
        var z = Spec.Config.Squeeze == SeSqueeze.Avg ? F.GlobalAvgPool(x).Reshape(x.Size(0), c) : x.Max(new[] { 2, 3 });
        // excitation: (N, C) -> (N, C/r) -> ReLU -> (N, C)
        var hidden = F.Linear(z, Fc1.Weight.Reshape(h, c), Fc1.Bias).Relu();
        var s = F.Linear(hidden, Fc2.Weight.Reshape(c, h), Fc2.Bias);
        return Spec.Config.Gate switch
        {
            SeGate.Sigmoid => s.Sigmoid(),
            SeGate.Tanh => s.Tanh(),
            _ => s.Relu(),
        };
    }

    /// <summary>x·a: (N, C, H, W) → (N, C, H, W) (F.ChannelScale, the Caffe Scale layer of SE-BN-Inception).</summary>
    public override Tensor Forward(Tensor input) => F.ChannelScale(input, Excite(input));
}
