// Forward and backward passes of every registered network on a small batch: output shape equals the summary's,
// every parameter gets a finite gradient, and the module's parameter count equals the summary's count.
using Xunit;

namespace SeFramework.Models.Tests;

public class ForwardBackwardTests
{
    // Every network of the registry, SENet-154 included, runs one forward and backward pass here: about 30 s in all
    // in Release on the 2-core machine (mostly random initialisation of up to 115M parameters).
    public static TheoryData<string> AllModels => new(ModelRegistry.Names);

    [Theory]
    [MemberData(nameof(AllModels))]
    public void Forward_and_backward_give_the_summary_shape_and_finite_gradients(string name)
    {
        // Small inputs keep this fast: 32×32 still leaves a 1×1 map after layer4 (Caffe ceil pool: 16 → 8); BN-Inception
        // needs 64 for its 3×3/2 pass-through pools; CIFAR models take 16×16 single-channel images (Fashion-MNIST-like).
        bool cifar = ModelRegistry.IsCifar(name);
        int size = name.Contains("inception") ? 64 : cifar ? 16 : 32;
        var options = new ModelOptions { NumClasses = 10, InChannels = cifar ? 1 : 3 };
        using var scope = TensorScope.Begin();
        var model = ModelRegistry.Create(name, options);
        var summary = model.Summary(size, size);
        Assert.Equal(summary.Params, model.ParameterCount());

        var y = model.Forward(TestUtil.Input(5, DType.Float32, 2, options.InChannels, size, size));
        Assert.Equal([2, 10], y.Shape);
        Assert.Equal(summary.Output.ToArray(), y.Shape[1..]);
        Assert.True(y.ToFloatArray().All(float.IsFinite), $"{name}: non-finite logits");
        TestUtil.ProjectionLoss(y).Backward();
        TestUtil.AssertFiniteGradients(model);
    }

    [Fact]
    public void Every_model_has_the_expected_output_shape_at_64()
    {
        // Shape propagation (no build): the 1×3×64×64 check for every model, CIFAR ones included.
        foreach (var name in ModelRegistry.Names)
            Assert.Equal(FeatureShape.Flat(ModelRegistry.IsCifar(name) ? 10 : 1000), ModelRegistry.Summarize(name, height: 64).Output);
    }

    [Theory]
    [InlineData(SeIntegration.Standard)]
    [InlineData(SeIntegration.Pre)]
    [InlineData(SeIntegration.Post)]
    [InlineData(SeIntegration.Identity)]
    public void Every_integration_variant_trains(SeIntegration mode)
    {
        var model = ModelRegistry.Create("se_resnet20", new ModelOptions { Integration = mode, Squeeze = SeSqueeze.Max, Gate = SeGate.Tanh, SeBias = false });
        var y = model.Forward(TestUtil.Input(1, DType.Float32, 2, 3, 8, 8));
        Assert.Equal([2, 10], y.Shape);
        TestUtil.ProjectionLoss(y).Backward();
        TestUtil.AssertFiniteGradients(model);
    }

    [Fact]
    public void Dropout_is_active_in_training_and_off_in_eval()
    {
        var model = ModelRegistry.Create("se_resnet20", new ModelOptions { DropRate = 0.5 });
        Assert.Contains(model.NamedChildren(), c => c.Name == "dropout");
        var x = TestUtil.Input(2, DType.Float32, 2, 3, 8, 8);
        Assert.NotEqual(model.Forward(x).ToFloatArray(), model.Forward(x).ToFloatArray());
        model.Eval();
        Assert.Equal(model.Forward(x).ToFloatArray(), model.Forward(x).ToFloatArray());
    }
}
