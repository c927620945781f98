// The model registry: names as timm/Cadene spell them (se_resnet50, se_resnext50_32x4d, senet154, se_bn_inception,
// CIFAR se_resnet20 …) plus plain twins for ablation, each mapped to a NetworkSpec factory; options in ModelOptions.
namespace SeFramework.Models;

/// <summary>
/// Options for <see cref="ModelRegistry.Create"/>. Null NumClasses/DropRate take the model's default (1000 classes,
/// 10 for CIFAR models; dropout 0.2 for senet154 as in Caffe/Cadene, 0 otherwise). The SE switches (Reduction,
/// Squeeze, Gate, SeBias, Integration) are ignored by the plain twins; Integration applies to residual blocks only
/// (SE-BN-Inception always scales the module output).
/// </summary>
public sealed record ModelOptions
{
    public int? NumClasses { get; init; }
    public int InChannels { get; init; } = 3;
    public int Reduction { get; init; } = 16;
    public double? DropRate { get; init; }
    public SeSqueeze Squeeze { get; init; } = SeSqueeze.Avg;
    public SeGate Gate { get; init; } = SeGate.Sigmoid;
    public bool SeBias { get; init; } = true;
    public SeIntegration Integration { get; init; } = SeIntegration.Standard;
    /// <summary>Zero γ of the last BN of every residual block (each block starts as the identity).</summary>
    public bool ZeroInitLastBn { get; init; }
    public ulong Seed { get; init; }
    public DType DType { get; init; } = DType.Float32;

    public SeConfig Se => new(Reduction, Squeeze, Gate, SeBias, Integration);

    internal void Validate()
    {
        if (NumClasses is < 1) throw new ArgumentException($"ModelOptions.NumClasses must be ≥ 1, not {NumClasses}");
        if (InChannels < 1) throw new ArgumentException($"ModelOptions.InChannels must be ≥ 1, not {InChannels}");
        if (Reduction < 1) throw new ArgumentException($"ModelOptions.Reduction must be ≥ 1, not {Reduction}");
        if (DropRate is < 0 or >= 1) throw new ArgumentException($"ModelOptions.DropRate must be in [0, 1), not {DropRate}");
        if (DType is not (DType.Float32 or DType.Float64)) throw new ArgumentException($"ModelOptions.DType must be Float32 or Float64 to train, not {DType}");
    }
}

public static class ModelRegistry
{
    private sealed record Entry(string Name, bool Cifar, Func<ModelOptions, int, NetworkSpec> Describe);

    private static readonly Entry[] Entries = BuildEntries();

    private static Entry[] BuildEntries()
    {
        var list = new List<Entry>();
        void ImageNet(string name, BlockKind kind, int[] layers, bool se, int groups = 1, bool senet = false) =>
            list.Add(new Entry(name, false, (o, classes) => Architectures.ImageNetResNet(name, kind, layers, se ? o.Se : null, groups, 4,
                input3x3: senet, downsampleKernel: senet ? 3 : 1, o.InChannels, classes, o.DropRate ?? (senet ? 0.2 : 0))));
        void Cifar(string name, int depth, bool se) =>
            list.Add(new Entry(name, true, (o, classes) => Architectures.CifarResNet(name, (depth - 2) / 6, se ? o.Se : null, o.InChannels, classes)));

        foreach (bool se in new[] { true, false })
        {
            string p = se ? "se_" : "";
            ImageNet(p + "resnet18", BlockKind.Basic, [2, 2, 2, 2], se);
            ImageNet(p + "resnet34", BlockKind.Basic, [3, 4, 6, 3], se);
            ImageNet(p + "resnet50", BlockKind.ResNet, [3, 4, 6, 3], se);
            ImageNet(p + "resnet101", BlockKind.ResNet, [3, 4, 23, 3], se);
            ImageNet(p + "resnet152", BlockKind.ResNet, [3, 8, 36, 3], se);
            ImageNet(p + "resnext50_32x4d", BlockKind.ResNeXt, [3, 4, 6, 3], se, groups: 32);
            ImageNet(p + "resnext101_32x4d", BlockKind.ResNeXt, [3, 4, 23, 3], se, groups: 32);
            ImageNet(se ? "senet154" : "senet154_plain", BlockKind.SeNet, [3, 8, 36, 3], se, groups: 64, senet: true);
            string inception = p + "bn_inception";
            list.Add(new Entry(inception, false, (o, classes) => Architectures.BnInception(inception, se ? o.Se : null, o.InChannels, classes, o.DropRate ?? 0)));
            foreach (int depth in new[] { 20, 32, 56, 110 }) Cifar($"{p}resnet{depth}", depth, se);
        }
        return list.ToArray();
    }

    /// <summary>Every registered name: the SE models first, then their plain twins.</summary>
    public static IReadOnlyList<string> Names { get; } = Entries.Select(e => e.Name).ToArray();

    private static Entry Find(string name) =>
        Entries.FirstOrDefault(e => string.Equals(e.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new ArgumentException($"unknown model '{name}'; known models: {string.Join(", ", Names)}", nameof(name));

    /// <summary>True for the CIFAR-size models (default 10 classes, 32×32 input).</summary>
    public static bool IsCifar(string name) => Find(name).Cifar;

    /// <summary>The input side the model is designed for: 32 for CIFAR models, 224 otherwise.</summary>
    public static int DefaultInputSize(string name) => Find(name).Cifar ? 32 : 224;

    /// <summary>The model's description (no parameters allocated).</summary>
    public static NetworkSpec Describe(string name, ModelOptions? options = null)
    {
        var entry = Find(name);
        options ??= new ModelOptions();
        options.Validate();
        return entry.Describe(options, options.NumClasses ?? (entry.Cifar ? 10 : 1000));
    }

    /// <summary>Builds and initialises the model (He normal fan-out convs, BN 1/0, seeded by options.Seed).</summary>
    public static Network Create(string name, ModelOptions? options = null)
    {
        options ??= new ModelOptions();
        return Describe(name, options).Build(new Rng(options.Seed), options.DType, options.ZeroInitLastBn);
    }

    /// <summary>Parameters and MACs per stage at height×width (default: the model's design size), without building.</summary>
    public static ModelSummary Summarize(string name, ModelOptions? options = null, int? height = null, int? width = null)
    {
        int size = DefaultInputSize(name);
        return Describe(name, options).Summarize(height ?? size, width ?? height ?? size);
    }
}
