// Finite-difference gradient checks (float64, SeFramework.Autograd.GradCheck) of the SE blocks and of se_resnet20,
// and the fused block forward against an unfused reference written with broadcasting tensor ops.
using SeFramework.Nn;
using Xunit;

namespace SeFramework.Models.Tests;

public class GradCheckTests
{
    private static ResidualBlock BuildBlock(ResidualBlockSpec spec, ulong seed = 3)
    {
        var block = (ResidualBlock)spec.Build(new BuildContext(new Rng(seed), DType.Float64));
        ModelInit.Apply(block, new Rng(seed), zeroInitLastBn: false);
        // Random BN affine values, so the check does not rest on γ = 1, β = 0.
        using (SeFramework.Autograd.Autograd.NoGrad())
            foreach (var bn in block.NamedModules().Select(m => m.Module).OfType<BatchNorm2d>())
            {
                bn.Weight.CopyFrom(Tensor.RandU(bn.Weight.Shape, new Rng(seed++), DType.Float64, 0.5, 1.5));
                bn.Bias.CopyFrom(Tensor.RandN(bn.Bias.Shape, new Rng(seed++), DType.Float64, 0, 0.3));
            }
        return block;
    }

    private static void CheckBlock(ResidualBlock block, int[] inputShape)
    {
        var x = TestUtil.Input(11, DType.Float64, inputShape).RequiresGrad_();
        var parameters = block.Parameters().ToArray();
        // Training mode: batch statistics, so the BN backward is checked too.
        TestUtil.AssertGradCheck(inputs => block.Forward(inputs[0]), [x, .. parameters]);
    }

    /// <summary>An se_resnet50-shaped bottleneck (first block of a stage: stride 2 on the first 1×1, 1×1 projection)
    /// with small channels: 8 → 4 → 4 → 16, r = 4.</summary>
    private static BottleneckSpec SeResNet50Block(SeConfig? se) =>
        new(In: 8, Reduce: 4, Width: 4, Out: 16, Groups: 1, Stride: 2, StrideOn1x1: true, new ConvSpec(8, 16, 1, 2), se);

    [Theory]
    [InlineData(SeIntegration.Standard)]
    [InlineData(SeIntegration.Pre)]
    [InlineData(SeIntegration.Post)]
    [InlineData(SeIntegration.Identity)]
    public void Se_resnet50_bottleneck_passes_gradient_check(SeIntegration mode) =>
        CheckBlock(BuildBlock(SeResNet50Block(new SeConfig(Reduction: 4, Integration: mode))), [2, 8, 4, 4]);

    [Theory]
    [InlineData(SeSqueeze.Max, SeGate.Sigmoid, true)]
    [InlineData(SeSqueeze.Avg, SeGate.Tanh, false)]
    public void Squeeze_and_gate_variants_pass_gradient_check(SeSqueeze squeeze, SeGate gate, bool bias) =>
        CheckBlock(BuildBlock(SeResNet50Block(new SeConfig(4, squeeze, gate, bias))), [2, 8, 4, 4]);

    [Fact]
    public void Grouped_senet154_style_bottleneck_passes_gradient_check()
    {
        // SENet-154 shape: reduce = half the 3×3 width, groups on the 3×3 with the stride, 3×3/2 projection.
        var spec = new BottleneckSpec(In: 8, Reduce: 4, Width: 8, Out: 8, Groups: 2, Stride: 2, StrideOn1x1: false, new ConvSpec(8, 8, 3, 2, 1), new SeConfig(4));
        CheckBlock(BuildBlock(spec), [2, 8, 5, 5]);
    }

    [Fact]
    public void Timm_basic_block_passes_gradient_check() =>
        CheckBlock(BuildBlock(new BasicBlockSpec(4, 8, 2, new ConvSpec(4, 8, 1, 2), new SeConfig(4), ReluBeforeSe: true)), [2, 4, 4, 4]);

    [Fact]
    public void Plain_bottleneck_passes_gradient_check() => CheckBlock(BuildBlock(SeResNet50Block(null)), [2, 8, 4, 4]);

    [Fact]
    public void Se_resnet20_passes_gradient_check_on_1x1x8x8()
    {
        // se_resnet20's layout (3 stages × 3 SE basic blocks, 1×1 projections, GAP, classifier) narrowed for speed:
        // widths 4/8/16 instead of 16/32/64 and r = 4 (hidden 1/2/4), 1 input channel, float64, training-mode BN.
        // At full width one float64 forward costs ~70 ms here, and each checked element needs two. The check covers
        // the input and parameters spanning the network: stem conv, the first SE unit, a projection, a late BN,
        // the last SE unit's fc2 and the classifier bias.
        var spec = Architectures.CifarResNet("se_resnet20_narrow", 3, new SeConfig(Reduction: 4), inChannels: 1, widths: [4, 8, 16]);
        var model = spec.Build(new Rng(4), DType.Float64);
        var sd = model.StateDict();
        string[] checkedKeys =
        [
            "layer0.conv1.weight", "layer1.0.se_module.fc1.weight", "layer1.0.se_module.fc1.bias", "layer1.0.se_module.fc2.weight",
            "layer1.0.se_module.fc2.bias", "layer2.0.downsample.0.weight", "layer3.2.bn2.weight", "layer3.2.se_module.fc2.weight",
            "last_linear.bias",
        ];
        var x = TestUtil.Input(8, DType.Float64, 1, 1, 8, 8).RequiresGrad_();
        TestUtil.AssertGradCheck(inputs => model.Forward(inputs[0]), [x, .. checkedKeys.Select(k => sd[k])]);
    }

    [Theory]
    [InlineData(SeIntegration.Standard)]
    [InlineData(SeIntegration.Pre)]
    [InlineData(SeIntegration.Post)]
    [InlineData(SeIntegration.Identity)]
    public void Fused_block_forward_matches_an_unfused_reference(SeIntegration mode)
    {
        var block = BuildBlock(SeResNet50Block(new SeConfig(Reduction: 4, Integration: mode)));
        block.Eval();
        var x = TestUtil.Input(12, DType.Float64, 2, 8, 4, 4);
        var children = block.NamedChildren().ToDictionary(c => c.Name, c => c.Module);
        Tensor Residual(Tensor t)
        {
            foreach (var n in new[] { "conv1", "bn1", "relu1", "conv2", "bn2", "relu2", "conv3", "bn3" }) t = children[n].Forward(t);
            return t;
        }
        var se = (SeModule)children["se_module"];
        // a: (N, C) -> (N, C, 1, 1) broadcast over H, W
        Tensor Scale(Tensor t) => t * se.Excite(t).Reshape(t.Size(0), t.Size(1), 1, 1);
        var shortcut = children["downsample"].Forward(x);
        var expected = mode switch
        {
            SeIntegration.Standard => (Scale(Residual(x)) + shortcut).Relu(),
            SeIntegration.Pre => (Residual(Scale(x)) + shortcut).Relu(),
            SeIntegration.Post => Scale((Residual(x) + shortcut).Relu()),
            _ => (Residual(x) + Scale(shortcut)).Relu(),
        };
        var actual = block.Forward(x);
        Assert.Equal(expected.Shape, actual.Shape);
        var e = expected.ToDoubleArray();
        var a = actual.ToDoubleArray();
        for (int i = 0; i < e.Length; i++) Assert.Equal(e[i], a[i], 12);
    }
}
