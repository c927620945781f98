// Parameter and MAC counts of every model from shape propagation alone (no forward pass, nothing allocated),
// pinned to senet.md §3.3 (worked out from the Caffe prototxts), §4.4 (Table 10) and §3.3's moskomule CIFAR counts.
using SeFramework.Models;
using Xunit;

namespace SeFramework.Models.Tests;

public class CountingTests
{
    // senet.md §3.3 "params (X)" and "conv+FC GMACs (X)" columns.
    [Theory]
    [InlineData("se_resnet50", 28_088_024, 3.860)]
    [InlineData("se_resnet101", 49_326_872, 7.575)]
    [InlineData("se_resnet152", 66_821_848, 11.289)]
    [InlineData("se_resnext50_32x4d", 27_559_896, 4.233)]
    [InlineData("se_resnext101_32x4d", 48_955_416, 7.975)]
    [InlineData("senet154", 115_088_984, 20.688)]
    [InlineData("se_bn_inception", 11_931_622, 2.033)]
    public void Se_models_match_the_caffe_parameter_and_mac_counts(string name, long parameters, double gmacs)
    {
        var s = ModelRegistry.Summarize(name, height: 224);
        Assert.Equal(parameters, s.Params);
        Assert.InRange(s.Macs / 1e9, gmacs * 0.999, gmacs * 1.001);
        Assert.Equal(parameters, s.Stages.Sum(r => r.Params));
        Assert.Equal(FeatureShape.Flat(1000), s.Output);
    }

    // senet.md §3.3 "backbone w/o SE (X)": the plain twins; resnet18/34 = torchvision's 11,689,512 / 21,797,672
    // (parameter counts do not depend on where the ReLU or the max-pool padding sit).
    [Theory]
    [InlineData("resnet50", 25_557_032)]
    [InlineData("resnet101", 44_549_160)]
    [InlineData("resnet152", 60_192_808)]
    [InlineData("resnext50_32x4d", 25_028_904)]
    [InlineData("resnext101_32x4d", 44_177_704)]
    [InlineData("senet154_plain", 108_459_944)]
    [InlineData("bn_inception", 11_285_224)]
    [InlineData("resnet18", 11_689_512)]
    [InlineData("resnet34", 21_797_672)]
    public void Plain_twins_match_the_backbone_counts(string name, long parameters) =>
        Assert.Equal(parameters, ModelRegistry.Summarize(name).Params);

    // SE weights = (2/r)·Σ N_s·C_s² (paper eq. 5, senet.md §1.1 / §9.3); biases Σ N_s·(C_s/r + C_s).
    [Theory]
    [InlineData("se_resnet50", "resnet50", 2_514_944, 16_048)]
    [InlineData("se_resnext50_32x4d", "resnext50_32x4d", 2_514_944, 16_048)]
    [InlineData("se_resnet101", "resnet101", 4_743_168, 34_544)]
    [InlineData("se_resnet152", "resnet152", 6_578_176, 50_864)]
    [InlineData("senet154", "senet154_plain", 6_578_176, 50_864)]
    [InlineData("se_bn_inception", "bn_inception", 639_360, 7_038)]
    public void Se_overhead_is_the_eq5_weights_plus_biases(string se, string plain, long weights, long biases)
    {
        Assert.Equal(weights + biases, ModelRegistry.Summarize(se).Params - ModelRegistry.Summarize(plain).Params);
        var noBias = new ModelOptions { SeBias = false };
        Assert.Equal(weights, ModelRegistry.Summarize(se, noBias).Params - ModelRegistry.Summarize(plain).Params);
        // The SE FCs add exactly their weight count in MACs (they run on 1×1 maps).
        Assert.Equal(weights, ModelRegistry.Summarize(se).Macs - ModelRegistry.Summarize(plain).Macs);
    }

    // senet.md §4.4 "Param check" (paper Table 10 rows: 45.7M, 35.7M, 30.7M, 28.1M, 26.9M, rounded slightly up).
    [Theory]
    [InlineData(2, 45.70)]
    [InlineData(4, 35.64)]
    [InlineData(8, 30.60)]
    [InlineData(16, 28.09)]
    [InlineData(32, 26.83)]
    public void Reduction_ratio_rows_of_table_10(int r, double millions)
    {
        var s = ModelRegistry.Summarize("se_resnet50", new ModelOptions { Reduction = r });
        Assert.Equal(millions, Math.Round(s.Params / 1e6, 2));
    }

    // senet.md §3.3: moskomule's CIFAR models (bias-free SE FCs): se_resnet20 r=16/8/4, resnet20, se_resnet56.
    [Theory]
    [InlineData("se_resnet20", 16, 274_490)]
    [InlineData("se_resnet20", 8, 276_506)]
    [InlineData("se_resnet20", 4, 280_538)]
    [InlineData("resnet20", 16, 272_474)]
    [InlineData("se_resnet56", 16, 861_818)]
    public void Cifar_models_match_moskomule_counts(string name, int r, long parameters) =>
        Assert.Equal(parameters, ModelRegistry.Summarize(name, new ModelOptions { Reduction = r, SeBias = false }).Params);

    [Fact]
    public void Se_resnet50_stage_shapes_follow_caffe_ceil_mode()
    {
        var s = ModelRegistry.Summarize("se_resnet50");
        Assert.Equal(new FeatureShape(3, 224, 224), s.Input);
        Assert.Equal(new FeatureShape(64, 112, 112), s.Stage("layer0").Output);
        Assert.Equal(new FeatureShape(64, 56, 56), s.Stage("pool0").Output);
        Assert.Equal(new FeatureShape(256, 56, 56), s.Stage("layer1").Output);
        Assert.Equal(new FeatureShape(512, 28, 28), s.Stage("layer2").Output);
        Assert.Equal(new FeatureShape(1024, 14, 14), s.Stage("layer3").Output);
        Assert.Equal(new FeatureShape(2048, 7, 7), s.Stage("layer4").Output);
        Assert.Equal(FeatureShape.Flat(2048), s.Stage("global_pool").Output);
        // layer0: 7×7×3×64 conv at 112² = 118,013,952 MACs; conv + BN = 9,408 + 128 parameters.
        Assert.Equal(118_013_952, s.Stage("layer0").Macs);
        Assert.Equal(9_536, s.Stage("layer0").Params);
        Assert.Equal(2048L * 1000, s.Stage("last_linear").Macs);
    }

    [Fact]
    public void Senet154_has_a_128_channel_three_conv_stem_and_dropout()
    {
        var s = ModelRegistry.Summarize("senet154");
        Assert.Equal(new FeatureShape(128, 112, 112), s.Stage("layer0").Output);
        Assert.Equal(new FeatureShape(128, 56, 56), s.Stage("pool0").Output);
        Assert.Contains(s.Stages, r => r.Name == "dropout");
        Assert.DoesNotContain(ModelRegistry.Summarize("se_resnet50").Stages, r => r.Name == "dropout");
    }

    [Fact]
    public void Se_bn_inception_stage_shapes_follow_the_prototxt()
    {
        var s = ModelRegistry.Summarize("se_bn_inception");
        Assert.Equal(new FeatureShape(64, 112, 112), s.Stage("conv1").Output);
        Assert.Equal(new FeatureShape(64, 56, 56), s.Stage("pool1_3x3_s2").Output);
        Assert.Equal(new FeatureShape(192, 28, 28), s.Stage("pool2_3x3_s2").Output);
        (string, int, int)[] expected =
        [
            ("3a", 256, 28), ("3b", 320, 28), ("3c", 576, 14), ("4a", 576, 14), ("4b", 576, 14),
            ("4c", 608, 14), ("4d", 608, 14), ("4e", 1056, 7), ("5a", 1024, 7), ("5b", 1024, 7),
        ];
        foreach (var (m, c, hw) in expected) Assert.Equal(new FeatureShape(c, hw, hw), s.Stage("inception_" + m).Output);
    }

    [Fact]
    public void Se_bn_inception_se_hidden_widths_are_c_over_16()
    {
        // senet.md §1.3: 16 (3a), 20 (3b), 36 (3c/4a/4b), 38 (4c/4d), 66 (4e), 64 (5a/5b).
        var spec = ModelRegistry.Describe("se_bn_inception");
        var hidden = spec.Layers.Select(l => l.Spec).OfType<InceptionSpec>().Select(i => i.SeUnit!.Hidden).ToArray();
        Assert.Equal(new[] { 16, 20, 36, 36, 36, 38, 38, 66, 64, 64 }, hidden);
    }

    [Fact]
    public void Cifar_models_accept_any_channel_count_and_inputs_down_to_8x8()
    {
        var s = ModelRegistry.Summarize("se_resnet20", new ModelOptions { InChannels = 1 }, height: 8);
        Assert.Equal(new FeatureShape(1, 8, 8), s.Input);
        Assert.Equal(new FeatureShape(64, 2, 2), s.Stage("layer3").Output);
        Assert.Equal(FeatureShape.Flat(10), s.Output);
        Assert.Equal(new FeatureShape(64, 8, 8), ModelRegistry.Summarize("se_resnet110", height: 32).Stage("layer3").Output);
    }

    [Fact]
    public void Mac_count_tells_the_stride_placement_apart()
    {
        // Caffe layout (stride on the first 1×1) has 3.860 GMACs; the conv1 of layer2.0 runs at 56², its 3×3 at 28².
        var spec = ModelRegistry.Describe("se_resnet50");
        var block = (BottleneckSpec)((SequenceSpec)spec.Stages.Single(s => s.Name == "layer2").Layers[0].Spec).Items[0].Spec;
        Assert.True(block.StrideOn1x1);
        Assert.Equal(2, block.Stride);
        var resnext = (BottleneckSpec)((SequenceSpec)ModelRegistry.Describe("se_resnext50_32x4d").Stages.Single(s => s.Name == "layer2").Layers[0].Spec).Items[0].Spec;
        Assert.False(resnext.StrideOn1x1);
        Assert.Equal(32, resnext.Groups);
    }

    [Theory]
    [InlineData(SeIntegration.Pre)]
    [InlineData(SeIntegration.Post)]
    [InlineData(SeIntegration.Identity)]
    public void Integration_variants_put_se_on_the_documented_width(SeIntegration mode)
    {
        var standard = ModelRegistry.Summarize("se_resnet50").Params;
        var variant = ModelRegistry.Summarize("se_resnet50", new ModelOptions { Integration = mode }).Params;
        if (mode == SeIntegration.Pre)
            Assert.True(variant < standard); // SE on the block input: 64/256/512/1024 wide for the first blocks instead of 4P
        else
            Assert.Equal(standard, variant); // post and identity see the block's output width
    }

    [Fact]
    public void Small_inputs_give_small_maps_and_too_small_ones_are_rejected()
    {
        var s = ModelRegistry.Summarize("senet154", height: 64);
        Assert.Equal(new FeatureShape(2048, 2, 2), s.Stage("layer4").Output);
        var ex = Assert.Throws<ArgumentException>(() => ModelRegistry.Summarize("se_resnet50", height: 2));
        Assert.Contains("smaller than", ex.Message);
    }

    [Fact]
    public void Unknown_name_lists_the_known_models()
    {
        var ex = Assert.Throws<ArgumentException>(() => ModelRegistry.Describe("se_resnet51"));
        Assert.Contains("se_resnet51", ex.Message);
        Assert.Contains("se_resnext101_32x4d", ex.Message);
        Assert.Contains("se_resnet20", ex.Message);
    }

    [Fact]
    public void Registry_holds_every_issue_name()
    {
        string[] required =
        [
            "se_resnet18", "se_resnet34", "se_resnet50", "se_resnet101", "se_resnet152", "se_resnext50_32x4d", "se_resnext101_32x4d",
            "senet154", "se_bn_inception", "se_resnet20", "se_resnet32", "se_resnet56", "se_resnet110",
            "resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnext50_32x4d", "resnext101_32x4d", "bn_inception",
            "resnet20", "resnet32", "resnet56", "resnet110", "senet154_plain",
        ];
        Assert.Equal(required.Order(), ModelRegistry.Names.Order());
    }

    [Fact]
    public void Summary_renders_as_table_and_json()
    {
        var s = ModelRegistry.Summarize("se_resnet50");
        var table = s.ToTable();
        Assert.Contains("28,088,024", table);
        Assert.Contains("64×56×56", table);
        using var doc = System.Text.Json.JsonDocument.Parse(s.ToJson());
        var root = doc.RootElement;
        Assert.Equal("se_resnet50", root.GetProperty("model").GetString());
        Assert.Equal(28_088_024, root.GetProperty("params").GetInt64());
        Assert.Equal(s.Macs, root.GetProperty("macs").GetInt64());
        Assert.Equal(new[] { 3, 224, 224 }, root.GetProperty("input").EnumerateArray().Select(e => e.GetInt32()));
        var stages = root.GetProperty("stages").EnumerateArray().ToList();
        Assert.Equal(s.Stages.Count, stages.Count);
        Assert.Equal("pool0", stages[1].GetProperty("name").GetString());
        Assert.Equal(new[] { 64, 56, 56 }, stages[1].GetProperty("output").EnumerateArray().Select(e => e.GetInt32()));
    }

    [Fact]
    public void Options_are_validated()
    {
        Assert.Throws<ArgumentException>(() => ModelRegistry.Describe("se_resnet20", new ModelOptions { Reduction = 0 }));
        Assert.Throws<ArgumentException>(() => ModelRegistry.Describe("se_resnet20", new ModelOptions { DropRate = 1 }));
        Assert.Throws<ArgumentException>(() => ModelRegistry.Describe("se_resnet20", new ModelOptions { NumClasses = 0 }));
        Assert.Equal(FeatureShape.Flat(100), ModelRegistry.Summarize("se_resnet20", new ModelOptions { NumClasses = 100 }).Output);
    }
}
