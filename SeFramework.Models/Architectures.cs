// Network descriptions of the zoo, after timm's legacy SENet class (senet.md §3, §6, §7): ImageNet SE-ResNet /
// SE-ResNeXt / SENet-154 / basic-block SE-ResNet-18/34, CIFAR-size SE-ResNet-20…110, and SE-BN-Inception.
namespace SeFramework.Models;

/// <summary>Which bottleneck (timm legacy class) a residual network stacks.</summary>
public enum BlockKind
{
    /// <summary>SEResNetBlock: two 3×3 convs, expansion 1 (SE-ResNet-18/34).</summary>
    Basic,
    /// <summary>SEResNetBottleneck: 1×1 P → 3×3 P → 1×1 4P, stride on the first 1×1 (Caffe SE-ResNet).</summary>
    ResNet,
    /// <summary>SEResNeXtBottleneck: 1×1 W → 3×3 W (groups, stride) → 1×1 4P, W = ⌊P·baseWidth/64⌋·groups.</summary>
    ResNeXt,
    /// <summary>SEBottleneck (SENet-154): 1×1 2P → 3×3 4P (groups, stride) → 1×1 4P (first 1×1 halved).</summary>
    SeNet,
}

public static class Architectures
{
    private static readonly int[] Planes = [64, 128, 256, 512];

    /// <summary>
    /// An ImageNet residual network as timm's legacy SENet(block, layers, groups, reduction, dropout, inplanes,
    /// input_3x3, downsample_kernel_size, downsample_padding). Stem: 7×7/2 conv (or three 3×3 convs when input3x3),
    /// then max-pool 3×3/2 with Caffe ceil mode (112 → 56). se == null gives the plain twin.
    /// </summary>
    public static NetworkSpec ImageNetResNet(string name, BlockKind kind, int[] layers, SeConfig? se, int groups = 1, int baseWidth = 4,
        bool input3x3 = false, int downsampleKernel = 1, int inChannels = 3, int numClasses = 1000, double dropRate = 0)
    {
        if (layers.Length != 4) throw new ArgumentException($"{name}: an ImageNet residual network has 4 stages, got {layers.Length}");
        int inplanes = input3x3 ? 128 : 64;
        var stem = input3x3
            ? ConvBnRelu(inChannels, 64, 3, 2, 1, "1").Concat(ConvBnRelu(64, 64, 3, 1, 1, "2")).Concat(ConvBnRelu(64, inplanes, 3, 1, 1, "3")).ToList()
            : ConvBnRelu(inChannels, inplanes, 7, 2, 3, "1").ToList();
        var stages = new List<StageSpec>
        {
            new("layer0", new SequenceSpec(stem)),
            new("pool0", new PoolSpec(PoolKind.Max, 3, 2, 0, CeilMode: true)),
        };
        int expansion = kind == BlockKind.Basic ? 1 : 4;
        int channels = inplanes;
        for (int s = 0; s < 4; s++)
        {
            int planes = Planes[s], stride = s == 0 ? 1 : 2;
            // timm: layer1's projection is always 1×1/pad 0; SENet-154 uses 3×3/pad 1 projections for layer2–4.
            int dsKernel = s == 0 ? 1 : downsampleKernel;
            var blocks = new List<(string, ILayerSpec)>();
            for (int b = 0; b < layers[s]; b++)
            {
                int st = b == 0 ? stride : 1;
                ConvSpec? ds = b == 0 && (st != 1 || channels != planes * expansion)
                    ? new ConvSpec(channels, planes * expansion, dsKernel, st, dsKernel / 2) : null;
                blocks.Add((b.ToString(System.Globalization.CultureInfo.InvariantCulture), Block(kind, channels, planes, groups, baseWidth, st, ds, se)));
                channels = planes * expansion;
            }
            stages.Add(new($"layer{s + 1}", new SequenceSpec(blocks)));
        }
        AddHead(stages, channels, numClasses, dropRate);
        return new NetworkSpec(name, inChannels, stages);
    }

    private static ResidualBlockSpec Block(BlockKind kind, int cin, int planes, int groups, int baseWidth, int stride, ConvSpec? ds, SeConfig? se) => kind switch
    {
        BlockKind.Basic => new BasicBlockSpec(cin, planes, stride, ds, se, ReluBeforeSe: se != null),
        BlockKind.ResNet => new BottleneckSpec(cin, planes, planes, planes * 4, 1, stride, StrideOn1x1: true, ds, se),
        BlockKind.ResNeXt => new BottleneckSpec(cin, planes * baseWidth / 64 * groups, planes * baseWidth / 64 * groups, planes * 4, groups, stride, false, ds, se),
        _ => new BottleneckSpec(cin, planes * 2, planes * 4, planes * 4, groups, stride, false, ds, se),
    };

    /// <summary>
    /// CIFAR-size residual network (He et al. §4.2; moskomule's CifarSEResNet): 3×3 stem with widths[0] channels,
    /// three stages of <paramref name="blocksPerStage"/> basic blocks (strides 1/2/2), 1×1 conv + BN projection where
    /// the width or size changes, SE after bn2 before the sum. Any input ≥ 8×8 (3 → 2 downsamplings by stride 2).
    /// Depth = 6·blocksPerStage + 2 (20, 32, 56, 110 for 3, 5, 9, 18).
    /// </summary>
    public static NetworkSpec CifarResNet(string name, int blocksPerStage, SeConfig? se, int inChannels = 3, int numClasses = 10, int[]? widths = null)
    {
        widths ??= [16, 32, 64];
        if (widths.Length != 3 || blocksPerStage < 1) throw new ArgumentException($"{name}: needs 3 stage widths and ≥ 1 block per stage");
        var stages = new List<StageSpec> { new("layer0", new SequenceSpec(ConvBnRelu(inChannels, widths[0], 3, 1, 1, "1").ToList())) };
        int channels = widths[0];
        for (int s = 0; s < 3; s++)
        {
            var blocks = new List<(string, ILayerSpec)>();
            for (int b = 0; b < blocksPerStage; b++)
            {
                int stride = b == 0 && s > 0 ? 2 : 1;
                ConvSpec? ds = stride != 1 || channels != widths[s] ? new ConvSpec(channels, widths[s], 1, stride) : null;
                blocks.Add((b.ToString(System.Globalization.CultureInfo.InvariantCulture), new BasicBlockSpec(channels, widths[s], stride, ds, se, ReluBeforeSe: false)));
                channels = widths[s];
            }
            stages.Add(new($"layer{s + 1}", new SequenceSpec(blocks)));
        }
        AddHead(stages, channels, numClasses, 0);
        return new NetworkSpec(name, inChannels, stages);
    }

    /// <summary>
    /// (SE-)BN-Inception as SE-BN-Inception.prototxt (senet.md §6): stem conv1 7×7/2, pool1, conv2 (1×1, 3×3), pool2,
    /// ten Inception modules 3a…5b with SE after each (x·a), average-pool branches counting padding, ceil-mode max-pools.
    /// Keys: conv1_7x7_s2, conv1_7x7_s2_bn, conv2_3x3_reduce(_bn), conv2_3x3(_bn), inception_3a.1x1, inception_3a.1x1_bn,
    /// inception_3a.3x3_reduce, …, inception_3a.double_3x3_2_bn, inception_3a.pool_proj(_bn), inception_3a.se_module.fc1,
    /// last_linear (Caffe "conv1/7x7_s2/bn" → conv1_7x7_s2_bn, "inception_3a/1x1_down" → inception_3a.se_module.fc1).
    /// </summary>
    public static NetworkSpec BnInception(string name, SeConfig? se, int inChannels = 3, int numClasses = 1000, double dropRate = 0)
    {
        var stages = new List<StageSpec>
        {
            new("conv1", InceptionSpec.ConvBnRelu("conv1_7x7_s2", inChannels, 64, 7, 2, 3).ToList()),
            new("pool1_3x3_s2", new PoolSpec(PoolKind.Max, 3, 2, 0, CeilMode: true)),
            new("conv2", InceptionSpec.ConvBnRelu("conv2_3x3_reduce", 64, 64, 1).Concat(InceptionSpec.ConvBnRelu("conv2_3x3", 64, 192, 3, 1, 1)).ToList()),
            new("pool2_3x3_s2", new PoolSpec(PoolKind.Max, 3, 2, 0, CeilMode: true)),
        };
        (string Name, int In, int C1, int R3, int C3, int Rd, int D, int PoolProj, PoolKind Pool)[] modules =
        [
            ("3a", 192, 64, 64, 64, 64, 96, 32, PoolKind.Avg),
            ("3b", 256, 64, 64, 96, 64, 96, 64, PoolKind.Avg),
            ("3c", 320, 0, 128, 160, 64, 96, 0, PoolKind.Max),
            ("4a", 576, 224, 64, 96, 96, 128, 128, PoolKind.Avg),
            ("4b", 576, 192, 96, 128, 96, 128, 128, PoolKind.Avg),
            ("4c", 576, 160, 128, 160, 128, 160, 128, PoolKind.Avg),
            ("4d", 608, 96, 128, 192, 160, 192, 128, PoolKind.Avg),
            ("4e", 608, 0, 128, 192, 192, 256, 0, PoolKind.Max),
            ("5a", 1056, 352, 192, 320, 160, 224, 128, PoolKind.Avg),
            ("5b", 1024, 352, 192, 320, 192, 224, 128, PoolKind.Max),
        ];
        int channels = 192;
        foreach (var m in modules)
        {
            // C1 == 0 marks the stride-2 reduction modules 3c/4e: no 1×1 branch, stride 2 on the last 3×3 of each
            // conv branch, pass-through max-pool 3×3/2 (pad 0, ceil).
            bool reduction = m.C1 == 0;
            int s = reduction ? 2 : 1;
            var branches = new List<IReadOnlyList<(string, ILayerSpec)>>();
            if (!reduction) branches.Add(InceptionSpec.ConvBnRelu("1x1", m.In, m.C1, 1).ToList());
            branches.Add(InceptionSpec.ConvBnRelu("3x3_reduce", m.In, m.R3, 1).Concat(InceptionSpec.ConvBnRelu("3x3", m.R3, m.C3, 3, s, 1)).ToList());
            branches.Add(InceptionSpec.ConvBnRelu("double_3x3_reduce", m.In, m.Rd, 1)
                .Concat(InceptionSpec.ConvBnRelu("double_3x3_1", m.Rd, m.D, 3, 1, 1))
                .Concat(InceptionSpec.ConvBnRelu("double_3x3_2", m.D, m.D, 3, s, 1)).ToList());
            branches.Add(reduction
                ? [("pool", new PoolSpec(PoolKind.Max, 3, 2, 0, CeilMode: true))]
                : new (string, ILayerSpec)[] { ("pool", new PoolSpec(m.Pool, 3, 1, 1, CeilMode: true, CountIncludePad: true)) }
                    .Concat(InceptionSpec.ConvBnRelu("pool_proj", m.In, m.PoolProj, 1)).ToList());
            var spec = new InceptionSpec(m.In, branches, se);
            if (m.In != channels) throw new InvalidOperationException($"BN-Inception table error at {m.Name}: input {m.In}, previous output {channels}");
            channels = spec.Out;
            stages.Add(new($"inception_{m.Name}", spec));
        }
        AddHead(stages, channels, numClasses, dropRate);
        return new NetworkSpec(name, inChannels, stages);
    }

    /// <summary>conv{i} (no bias) + bn{i} + relu{i}, the timm layer0 names.</summary>
    private static IEnumerable<(string, ILayerSpec)> ConvBnRelu(int cin, int cout, int kernel, int stride, int padding, string index) =>
    [
        ($"conv{index}", new ConvSpec(cin, cout, kernel, stride, padding)), ($"bn{index}", new BatchNormSpec(cout)), ($"relu{index}", new ReluSpec()),
    ];

    /// <summary>global_pool (GAP + flatten), dropout when p &gt; 0, last_linear.</summary>
    private static void AddHead(List<StageSpec> stages, int features, int numClasses, double dropRate)
    {
        stages.Add(new("global_pool", new GlobalPoolSpec()));
        if (dropRate > 0) stages.Add(new("dropout", new DropoutSpec(dropRate)));
        stages.Add(new("last_linear", new LinearSpec(features, numClasses)));
    }
}
