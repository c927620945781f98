// Inference with batch norms folded into the convs (NamedSequential runs conv → BN (→ ReLU) as F.Conv2dBatchNormInference
// under NoGrad in eval mode): the logits equal those of the unfused layers (eval mode with autograd recording) to float
// rounding, for networks with every kind of conv → BN chain (bottleneck, basic block, Inception branches, projections).
using SeFramework.Cpu;
using Xunit;

namespace SeFramework.Models.Tests;

public class EvalFoldingTests
{
    [Theory]
    [InlineData("se_resnet20", 16, 1)]
    [InlineData("se_resnet50", 32, 3)]
    [InlineData("se_resnext50_32x4d", 32, 3)]
    [InlineData("se_bn_inception", 64, 3)]
    public void Folded_inference_matches_the_unfused_layers(string name, int size, int inChannels)
    {
        using var scope = TensorScope.Begin();
        var model = ModelRegistry.Create(name, new ModelOptions { NumClasses = 10, InChannels = inChannels });
        // Two training-mode forwards move the running statistics away from (0, 1), so the fold has something to fold.
        for (ulong seed = 1; seed <= 2; seed++) model.Forward(TestUtil.Input(seed, DType.Float32, 4, inChannels, size, size));
        model.Eval();
        var x = TestUtil.Input(7, DType.Float32, 3, inChannels, size, size);

        float[] unfused = model.Forward(x).ToFloatArray(); // parameters require grad: recorded, so nothing is folded
        float[] folded;
        CpuProfiler.Enable();
        long affineCallsBefore = AffineCalls();
        using (SeFramework.Autograd.Autograd.NoGrad())
            folded = model.Forward(x).ToFloatArray();
        Assert.True(AffineCalls() > affineCallsBefore, $"{name}: no conv ran with its batch norm folded in");

        // Logits after dozens of layers: float32 rounding of the fold (the conv bias inside the shift, one fused multiply-add
        // per output) measured at most 7.4e-7 of the largest logit (se_resnet50; 2.5e-7 to 4.4e-7 for the others, with the
        // Winograd convs); 1e-5 leaves 13× margin and still fails on a wrong scale, shift or ReLU (errors of order 1e-1 and up).
        double scale = unfused.Max(Math.Abs);
        for (int i = 0; i < unfused.Length; i++)
            Assert.True(Math.Abs(folded[i] - unfused[i]) <= 1e-5 * scale, $"{name}: logit {i} is {folded[i]:G7} folded, {unfused[i]:G7} unfused");
    }

    private static long AffineCalls() => CpuProfiler.Snapshot().Where(r => r.Op == "Conv2dBatchNormInference").Sum(r => r.Calls);
}
