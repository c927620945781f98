// State-dict layout of the built models against timm's legacy_seresnet50 key list (senet.md §7.1), parameter counts
// of the real modules against the summaries, initialisation, and load errors that name the offending key.
using SeFramework.Nn;
using Xunit;

namespace SeFramework.Models.Tests;

/// <summary>One se_resnet50 (28M parameters) shared by the tests that need it.</summary>
public sealed class SeResNet50Fixture
{
    public Network Model { get; } = ModelRegistry.Create("se_resnet50");
}

public class StateDictTests(SeResNet50Fixture fixture) : IClassFixture<SeResNet50Fixture>
{
    /// <summary>timm legacy_seresnet50's state_dict keys and shapes, written out from senet.md §7.1.</summary>
    private static List<(string Key, int[] Shape)> TimmSeResNet50Keys()
    {
        var keys = new List<(string, int[])>();
        void Bn(string prefix, int c)
        {
            foreach (var s in new[] { "weight", "bias", "running_mean", "running_var" }) keys.Add(($"{prefix}.{s}", [c]));
        }
        keys.Add(("layer0.conv1.weight", [64, 3, 7, 7]));
        Bn("layer0.bn1", 64);
        int[] blocks = [3, 4, 6, 3];
        int cin = 64;
        for (int k = 1; k <= 4; k++)
        {
            int p = 64 << (k - 1);
            for (int b = 0; b < blocks[k - 1]; b++)
            {
                string pre = $"layer{k}.{b}";
                int inCh = b == 0 ? cin : 4 * p;
                keys.Add(($"{pre}.conv1.weight", [p, inCh, 1, 1])); Bn($"{pre}.bn1", p);
                keys.Add(($"{pre}.conv2.weight", [p, p, 3, 3])); Bn($"{pre}.bn2", p);
                keys.Add(($"{pre}.conv3.weight", [4 * p, p, 1, 1])); Bn($"{pre}.bn3", 4 * p);
                keys.Add(($"{pre}.se_module.fc1.weight", [4 * p / 16, 4 * p, 1, 1]));
                keys.Add(($"{pre}.se_module.fc1.bias", [4 * p / 16]));
                keys.Add(($"{pre}.se_module.fc2.weight", [4 * p, 4 * p / 16, 1, 1]));
                keys.Add(($"{pre}.se_module.fc2.bias", [4 * p]));
                if (b == 0)
                {
                    keys.Add(($"{pre}.downsample.0.weight", [4 * p, inCh, 1, 1]));
                    Bn($"{pre}.downsample.1", 4 * p);
                }
            }
            cin = 4 * p;
        }
        keys.Add(("last_linear.weight", [1000, 2048]));
        keys.Add(("last_linear.bias", [1000]));
        return keys;
    }

    [Fact]
    public void Se_resnet50_state_dict_equals_timm_legacy_keys_in_order()
    {
        var expected = TimmSeResNet50Keys();
        Assert.Equal(331, expected.Count); // senet.md §7.1: 53 BN × 4 + 53 conv + 64 SE + 2 FC
        var actual = fixture.Model.StateDict();
        Assert.Equal(expected.Select(e => e.Key), actual.Keys);
        foreach (var (key, shape) in expected) Assert.True(shape.SequenceEqual(actual[key].Shape), $"{key}: expected [{string.Join(",", shape)}], got {actual[key].Layout}");
        Assert.Equal(225, fixture.Model.Parameters().Count());
    }

    [Fact]
    public void Caffe_layer_names_of_se_resnet50_map_to_existing_keys()
    {
        // Every conv/BN of the SE-ResNet-50 prototxt naming scheme (senet.md §7.2) lands on a key of the built model.
        var keys = fixture.Model.StateDict().Keys.ToHashSet();
        var layers = new List<string> { "conv1/7x7_s2", "conv1/7x7_s2/bn", "conv1/7x7_s2/bn/scale", "classifier" };
        int[] blocks = [3, 4, 6, 3];
        for (int s = 2; s <= 5; s++)
            for (int b = 1; b <= blocks[s - 2]; b++)
                foreach (var part in new[] { "1x1_reduce", "3x3", "1x1_increase" })
                    layers.AddRange([$"conv{s}_{b}_{part}", $"conv{s}_{b}_{part}/bn", $"conv{s}_{b}_{part}/bn/scale"]);
        var mappedTo = new Dictionary<string, string>();
        foreach (var layer in layers)
        {
            var (prefix, kind) = CaffeNames.ToKeyPrefix(layer, inception: false);
            string key = prefix + (kind == CaffeBlobKind.BatchNormStats ? ".running_mean" : ".weight");
            Assert.True(keys.Contains(key), $"{layer} → {key} is not a key of se_resnet50");
            // No two Caffe layers may land on the same tensor (a mix-up of blocks or stages would).
            Assert.True(mappedTo.TryAdd(key, layer), $"{layer} and {(mappedTo.TryGetValue(key, out var other) ? other : "")} both map to {key}");
        }
        Assert.Equal(4 + 3 * 3 * 16, mappedTo.Count);
    }

    [Fact]
    public void Se_resnet50_module_parameter_count_equals_the_summary()
    {
        Assert.Equal(28_088_024, fixture.Model.ParameterCount());
        Assert.Equal(fixture.Model.Summary().Params, fixture.Model.ParameterCount());
        // With running statistics: +53,120 floats (senet.md §9.1).
        Assert.Equal(28_088_024 + 53_120, fixture.Model.StateDict().Values.Sum(t => t.NumElements));
    }

    [Fact]
    public void Se_resnet50_forward_and_backward_give_finite_gradients()
    {
        var model = fixture.Model;
        model.Train();
        model.ZeroGrad();
        var y = model.Forward(TestUtil.Input(4, DType.Float32, 2, 3, 32, 32));
        Assert.Equal([2, 1000], y.Shape);
        TestUtil.ProjectionLoss(y).Backward();
        TestUtil.AssertFiniteGradients(model);
        model.ZeroGrad();
    }

    [Fact]
    public void Se_resnet50_forward_at_64_matches_the_summary_stage_shapes()
    {
        var model = fixture.Model;
        model.Eval();
        var summary = model.Summary(64, 64);
        Assert.Equal([64, 16, 16], summary.Stage("pool0").Output.ToArray()); // 64 → 32 (conv1) → 16 (ceil pool)
        using var _ = SeFramework.Autograd.Autograd.NoGrad();
        var x = TestUtil.Input(3, DType.Float32, 1, 3, 64, 64);
        foreach (var (childName, child) in model.NamedChildren())
        {
            x = child.Forward(x);
            Assert.Equal(summary.Stage(childName).Output.ToArray(), x.Shape[1..]);
        }
        Assert.Equal([1, 1000], x.Shape);
    }

    [Fact]
    public void Convs_are_he_normal_fan_out_and_bn_is_one_zero()
    {
        var sd = fixture.Model.StateDict();
        var w = sd["layer3.0.conv2.weight"].ToDoubleArray(); // [256, 256, 3, 3]: fan_out = 256·9
        double mean = w.Average(), std = Math.Sqrt(w.Select(v => (v - mean) * (v - mean)).Average());
        Assert.InRange(std, Math.Sqrt(2.0 / (256 * 9)) * 0.98, Math.Sqrt(2.0 / (256 * 9)) * 1.02);
        Assert.InRange(mean, -0.001, 0.001);
        Assert.All(sd["layer2.1.bn3.weight"].ToDoubleArray(), v => Assert.Equal(1.0, v));
        Assert.All(sd["layer2.1.bn3.bias"].ToDoubleArray(), v => Assert.Equal(0.0, v));
    }

    [Fact]
    public void Zero_init_last_bn_zeroes_bn3_and_bn2_gammas_only()
    {
        var model = ModelRegistry.Create("se_resnet20", new ModelOptions { ZeroInitLastBn = true });
        var sd = model.StateDict();
        var blocks = model.NamedModules().Select(m => m.Module).OfType<ResidualBlock>().ToList();
        Assert.Equal(9, blocks.Count);
        Assert.All(blocks, b => Assert.All(b.LastBatchNorm.Weight.ToDoubleArray(), v => Assert.Equal(0.0, v)));
        Assert.All(sd["layer1.0.bn1.weight"].ToDoubleArray(), v => Assert.Equal(1.0, v));
        Assert.All(sd["layer0.bn1.weight"].ToDoubleArray(), v => Assert.Equal(1.0, v));
    }

    [Fact]
    public void Same_seed_same_weights_other_seed_other_weights()
    {
        var a = ModelRegistry.Create("se_resnet20", new ModelOptions { Seed = 7 }).StateDict();
        var b = ModelRegistry.Create("se_resnet20", new ModelOptions { Seed = 7 }).StateDict();
        var c = ModelRegistry.Create("se_resnet20", new ModelOptions { Seed = 8 }).StateDict();
        Assert.Equal(a["layer2.1.conv1.weight"].ToFloatArray(), b["layer2.1.conv1.weight"].ToFloatArray());
        Assert.Equal(a["last_linear.weight"].ToFloatArray(), b["last_linear.weight"].ToFloatArray());
        Assert.NotEqual(a["layer2.1.conv1.weight"].ToFloatArray(), c["layer2.1.conv1.weight"].ToFloatArray());
    }

    [Fact]
    public void Cifar_keys_use_the_legacy_scheme()
    {
        var model = ModelRegistry.Create("se_resnet20", new ModelOptions { InChannels = 1 });
        var sd = model.StateDict();
        Assert.Equal([16, 1, 3, 3], sd["layer0.conv1.weight"].Shape);
        Assert.Equal([1, 16, 1, 1], sd["layer1.0.se_module.fc1.weight"].Shape);
        Assert.Equal([32, 16, 1, 1], sd["layer2.0.downsample.0.weight"].Shape);
        Assert.False(sd.ContainsKey("layer1.0.downsample.0.weight"));
        Assert.Equal([10, 64], sd["last_linear.weight"].Shape);
        Assert.Equal(model.Summary(32, 32).Params, model.ParameterCount());
    }

    [Fact]
    public void Bn_inception_keys_follow_caffe_names()
    {
        var model = ModelRegistry.Create("se_bn_inception", new ModelOptions { NumClasses = 10 });
        var sd = model.StateDict();
        Assert.Equal([64, 3, 7, 7], sd["conv1_7x7_s2.weight"].Shape);
        Assert.Equal([64], sd["conv1_7x7_s2_bn.running_var"].Shape);
        Assert.Equal([192, 64, 3, 3], sd["conv2_3x3.weight"].Shape);
        Assert.Equal([32, 192, 1, 1], sd["inception_3a.pool_proj.weight"].Shape);
        Assert.Equal([96, 96, 3, 3], sd["inception_3c.double_3x3_2.weight"].Shape);
        Assert.Equal([16, 256, 1, 1], sd["inception_3a.se_module.fc1.weight"].Shape);
        Assert.Equal([66], sd["inception_4e.se_module.fc1.bias"].Shape);
        Assert.False(sd.ContainsKey("inception_3c.1x1.weight"));
        Assert.Equal(model.Summary().Params, model.ParameterCount());
    }

    private static Dictionary<string, Tensor> CopyOf(Module m) => m.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value.Clone());

    [Fact]
    public void Loading_a_state_dict_round_trips()
    {
        var source = ModelRegistry.Create("se_resnet20", new ModelOptions { Seed = 1 });
        var target = ModelRegistry.Create("se_resnet20", new ModelOptions { Seed = 2 });
        target.LoadStateDict(CopyOf(source));
        Assert.Equal(source.StateDict()["layer3.2.se_module.fc2.weight"].ToFloatArray(), target.StateDict()["layer3.2.se_module.fc2.weight"].ToFloatArray());
    }

    /// <summary>Loads se_resnet20's own state dict, edited, back into it; returns the load error's message.</summary>
    private static string LoadErrorAfter(Action<Dictionary<string, Tensor>> edit)
    {
        var model = ModelRegistry.Create("se_resnet20");
        var state = CopyOf(model);
        edit(state);
        return Assert.Throws<StateDictException>(() => model.LoadStateDict(state)).Message;
    }

    [Fact]
    public void Loading_with_a_missing_key_names_it()
    {
        var message = LoadErrorAfter(state => state.Remove("layer2.0.se_module.fc1.bias"));
        Assert.Contains("layer2.0.se_module.fc1.bias", message);
        Assert.Contains("missing", message);
    }

    [Fact]
    public void Loading_with_an_extra_key_names_it()
    {
        var message = LoadErrorAfter(state => state["layer1.0.se_module.fc3.weight"] = Tensor.Zeros([1, 16, 1, 1]));
        Assert.Contains("layer1.0.se_module.fc3.weight", message);
        Assert.Contains("unexpected", message);
    }

    [Fact]
    public void Loading_a_wrong_shape_names_the_key()
    {
        var message = LoadErrorAfter(state => state["layer3.1.conv2.weight"] = Tensor.Zeros([64, 32, 3, 3]));
        Assert.Contains("layer3.1.conv2.weight", message);
    }
}
