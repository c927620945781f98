// ConvShapes: the convolution shapes both sides of the per-shape comparison time, compiled into SeFramework.Bench and
// the TorchSharp peer as one linked file, so the two lists (names, order, sizes) cannot drift apart.
namespace SeFramework.Bench.Shared;

/// <summary>One convolution: (N, C, H, H) input, K filters of R×R, stride, padding; the name says which network it is from.</summary>
public sealed record ConvShape(string Name, int N, int C, int H, int K, int R, int Stride, int Padding)
{
    /// <summary>Output height (= width): (H + 2·padding − R) / stride + 1.</summary>
    public int P => (H + 2 * Padding - R) / Stride + 1;

    public override string ToString() => Name;
}

public static class ConvShapes
{
    public static readonly ConvShape[] All =
    [
        // se_resnet20 (CIFAR, batch 128): the 3×3 convs of the three stages and the stride-2 entries.
        new("r20_s1_16x32x32_3x3", 128, 16, 32, 16, 3, 1, 1),
        new("r20_s2_32x16x16_3x3", 128, 32, 16, 32, 3, 1, 1),
        new("r20_s3_64x8x8_3x3", 128, 64, 8, 64, 3, 1, 1),
        new("r20_down_16to32_3x3s2", 128, 16, 32, 32, 3, 2, 1),
        // se_resnet50 (ImageNet, batch 8): stem, bottleneck 1×1 / 3×3 convs of each stage, a stride-2 projection.
        new("r50_stem_3x224_7x7s2", 8, 3, 224, 64, 7, 2, 3),
        new("r50_l1_64x56_3x3", 8, 64, 56, 64, 3, 1, 1),
        new("r50_l1_256to64x56_1x1", 8, 256, 56, 64, 1, 1, 0),
        new("r50_l1_64to256x56_1x1", 8, 64, 56, 256, 1, 1, 0),
        new("r50_l2_128x28_3x3", 8, 128, 28, 128, 3, 1, 1),
        new("r50_l3_256x14_3x3", 8, 256, 14, 256, 3, 1, 1),
        new("r50_l4_512x7_3x3", 8, 512, 7, 512, 3, 1, 1),
        new("r50_proj_1024to2048x14_1x1s2", 8, 1024, 14, 2048, 1, 2, 0),
    ];

    /// <summary>"all", one exact name, or a comma list; a name that is not exact picks every shape containing it.
    /// Empty when nothing matches (the caller names the known shapes).</summary>
    public static List<ConvShape> Select(string names)
    {
        if (names == "all") return All.ToList();
        var picked = new List<ConvShape>();
        foreach (string n in names.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var exact = All.Where(s => s.Name == n).ToList();
            picked.AddRange(exact.Count > 0 ? exact : All.Where(s => s.Name.Contains(n, StringComparison.Ordinal)));
        }
        return picked.Distinct().ToList();
    }

    public static string KnownNames => "all, " + string.Join(", ", All.Select(s => s.Name));
}
