// Memory of a zoo model's steps, from MemoryStats (live tensor bytes, not timing): inference frees every intermediate
// once consumed, training keeps only what backward reads and frees it during backward. The bounds are computed from
// the model's feature-map sizes. Runs alone (MemoryStats counts every thread's tensors).
using SeFramework.Nn;
using Xunit;

namespace SeFramework.Models.Tests;

[CollectionDefinition(nameof(MemoryStatsCollection), DisableParallelization = true)]
public sealed class MemoryStatsCollection;

[Collection(nameof(MemoryStatsCollection))]
public class MemoryTests
{
    private const int Batch = 4, Size = 32;

    /// <summary>Bytes of one float32 feature map of each stage for the test batch (layer0 = stem, layer1…3).</summary>
    private static Dictionary<string, long> MapBytes(Network model) =>
        model.Summary(Size, Size).Stages.ToDictionary(s => s.Name, s => s.Output.Elements * Batch * sizeof(float));

    private static (Network Model, Tensor Input) Setup()
    {
        var model = ModelRegistry.Create("se_resnet20", new ModelOptions { NumClasses = 10, InChannels = 3, Seed = 3 });
        return (model, TestUtil.Input(4, DType.Float32, Batch, 3, Size, Size));
    }

    [Fact]
    public void Inference_frees_each_intermediate_once_the_next_layer_has_consumed_it()
    {
        var (model, x) = Setup();
        model.Eval();
        long stemMap = MapBytes(model)["layer0"]; // the largest feature map (16 × 32 × 32 per image)
        using var scope = TensorScope.Begin();
        using var _ = Autograd.Autograd.NoGrad();
        long before = MemoryStats.LiveBytes;
        MemoryStats.ResetPeak();
        var y = model.Forward(x);
        long peak = MemoryStats.PeakBytes - before, after = MemoryStats.LiveBytes - before;
        // A basic block holds at most its input, two maps of its own and the output at a time (the stem's is largest);
        // keeping every intermediate would need about fifty maps.
        Assert.True(peak <= 5 * stemMap, $"inference peak {peak} B > 5 stem maps ({5 * stemMap} B)");
        // Only the logits and the SE units' small (N, C) vectors remain.
        Assert.True(after <= stemMap / 4, $"{after} B still live after inference (logits {y.NumElements * 4} B)");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Training_keeps_only_what_backward_reads_and_frees_it_during_backward(bool recomputeBatchNorm)
    {
        using var recompute = recomputeBatchNorm ? F.RecomputeBatchNormOutputs() : default(F.RecomputeScope?);
        var (model, x) = Setup();
        var maps = MapBytes(model);
        // First step allocates the parameter gradients, so the measured step below allocates only activations.
        using (TensorScope.Begin()) TestUtil.ProjectionLoss(model.Forward(x)).Backward();

        // What backward must read: the stem's conv and BN+ReLU outputs; per basic block conv1, bn1+relu, conv2 and the
        // block output (its input is the previous block's output), plus the downsample conv's output, and the last BN's
        // output unless Axpy recomputes it. The downsample BN's output (read by nothing) is not kept.
        long saved = 2 * maps["layer0"];
        foreach (var (name, m) in model.NamedModules())
            if (m is ResidualBlock block)
                saved += (4 + (recomputeBatchNorm ? 0 : 1) + (block.Downsample != null ? 1 : 0)) * maps[name.Split('.')[0]];

        using var scope = TensorScope.Begin();
        long before = MemoryStats.LiveBytes;
        var loss = TestUtil.ProjectionLoss(model.Forward(x));
        long afterForward = MemoryStats.LiveBytes - before;
        MemoryStats.ResetPeak();
        loss.Backward();
        long backwardPeak = MemoryStats.PeakBytes - before, afterBackward = MemoryStats.LiveBytes - before;
        long slack = maps["layer0"] / 4; // logits, loss, SE vectors, BN statistics
        Assert.True(afterForward <= saved + slack, $"forward keeps {afterForward} B, more than the {saved} B backward reads (+{slack})");
        // Gradients in flight and one recomputed map at a time: far below keeping the activations during backward.
        Assert.True(backwardPeak <= afterForward + 3 * maps["layer0"], $"backward peak {backwardPeak} B > {afterForward} B saved + 3 stem maps");
        // Every saved activation was freed by its last reader's backward, before the scope ends.
        Assert.True(afterBackward <= slack, $"{afterBackward} B still live after backward");
    }
}
