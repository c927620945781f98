// The BN-Inception module (SE-BN-Inception.prototxt, senet.md §6): parallel branches of conv+BN+ReLU layers (and a
// pooling branch) concatenated along channels, then optionally the SE unit as x·a (F.ChannelScale, no residual).
using SeFramework.Nn;

namespace SeFramework.Models;

/// <summary>
/// One Inception module. Each branch is a chain of named layers; child names are Caffe's layer names with the module
/// prefix dropped ("inception_3a/1x1" → inception_3a.1x1, "inception_3a/double_3x3_1/bn" → inception_3a.double_3x3_1_bn),
/// so Cadene's flat bninception keys are these keys with the first '.' replaced by '_'. SE: se_module.fc1/fc2
/// (Caffe inception_3a/1x1_down, inception_3a/1x1_up).
/// </summary>
public sealed record InceptionSpec(int In, IReadOnlyList<IReadOnlyList<(string Name, ILayerSpec Spec)>> Branches, SeConfig? Se) : ILayerSpec
{
    public int Out => Branches.Sum(b => b.Select(l => l.Spec).OfType<ConvSpec>().LastOrDefault()?.Out ?? In);

    public SeSpec? SeUnit => Se == null ? null : new SeSpec(Out, Se);

    private (FeatureShape Output, long Macs) Count(FeatureShape input)
    {
        input.RequireMap(In, "Inception");
        long macs = 0;
        int channels = 0;
        FeatureShape? first = null;
        foreach (var branch in Branches)
        {
            var (o, m) = SpecChain.Propagate(input, branch.Select(l => l.Spec));
            if (first is { } f && (f.Height != o.Height || f.Width != o.Width))
                throw new ArgumentException($"Inception: branch outputs {f} and {o} differ in size for input {input}");
            first ??= o;
            channels += o.Channels;
            macs += m;
        }
        var output = first!.Value with { Channels = channels };
        if (SeUnit != null) macs += SeUnit.Macs(output);
        return (output, macs);
    }

    public FeatureShape OutputShape(FeatureShape input) => Count(input).Output;
    public long Macs(FeatureShape input) => Count(input).Macs;
    public long ParameterCount => Branches.Sum(b => b.Sum(l => l.Spec.ParameterCount)) + (SeUnit?.ParameterCount ?? 0);
    public Module Build(BuildContext context) => new InceptionModule(this, context);

    /// <summary>Conv (no bias) + BN + ReLU named name, name_bn, relu_name (Caffe: name, name/bn, relu_name).</summary>
    public static IEnumerable<(string, ILayerSpec)> ConvBnRelu(string name, int cin, int cout, int kernel, int stride = 1, int padding = 0) =>
    [
        (name, new ConvSpec(cin, cout, kernel, stride, padding)), (name + "_bn", new BatchNormSpec(cout)), ("relu_" + name, new ReluSpec()),
    ];
}

public sealed class InceptionModule : Module
{
    private readonly List<List<Module>> _branches = new();

    public InceptionModule(InceptionSpec spec, BuildContext c)
    {
        Spec = spec;
        foreach (var branch in spec.Branches)
            _branches.Add(branch.Select(l => RegisterModule(l.Name, l.Spec.Build(c))).ToList());
        if (spec.SeUnit is { } se) SeModule = RegisterModule("se_module", new SeModule(se, c));
    }

    public InceptionSpec Spec { get; }
    public SeModule? SeModule { get; }

    // x: (N, In, H, W) -> concat of branches (N, Out, H', W') -> x·a when SE
    public override Tensor Forward(Tensor x)
    {
        var outputs = new List<Tensor>(_branches.Count);
        foreach (var branch in _branches) outputs.Add(NamedSequential.Run(branch, x));
        var cat = Tensor.Concat(outputs, 1);
        // The branch outputs (and, with SE, the concatenation and the scale) are this module's own: release them.
        foreach (var o in outputs) NamedSequential.ReleaseIntermediate(o, x, cat);
        if (SeModule == null) return cat;
        var a = SeModule.Excite(cat);
        var y = F.ChannelScale(cat, a);
        NamedSequential.ReleaseIntermediate(cat, x, y);
        NamedSequential.ReleaseIntermediate(a, x, y);
        return y;
    }
}
