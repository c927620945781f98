// The autograd engine's contract: recording only when needed, accumulation, no-grad scopes, detach, freed graphs.
using SeFramework.Autograd;
using Xunit;

namespace SeFramework.Tests;

public class AutogradEngineTests
{
    [Fact]
    public void Nothing_is_recorded_when_no_input_requires_grad()
    {
        var x = Tensor.FromArray(new[] { 1f, 2f, 3f });
        var y = (x * x).Sum();
        Assert.Null(y.GradFn);
        Assert.False(y.RequiresGrad);
        Assert.Throws<InvalidOperationException>(() => y.Backward());
    }

    [Fact]
    public void Gradients_accumulate_across_backward_calls_and_reused_inputs()
    {
        var x = Tensor.FromArray(new[] { 1.0, 2.0, 3.0 }).RequiresGrad_();
        (x * x + x).Sum().Backward(); // d/dx = 2x + 1
        Assert.Equal(new[] { 3.0, 5.0, 7.0 }, x.Grad!.ToDoubleArray());
        (x * 3).Sum().Backward();
        Assert.Equal(new[] { 6.0, 8.0, 10.0 }, x.Grad!.ToDoubleArray());
    }

    [Fact]
    public void NoGrad_scope_and_Detach_stop_recording()
    {
        var x = Tensor.FromArray(new[] { 1.0, 2.0 }).RequiresGrad_();
        using (Autograd.Autograd.NoGrad())
        {
            Assert.Null((x * 2).GradFn);
        }
        Assert.NotNull((x * 2).GradFn);
        var d = (x * 2).Detach();
        Assert.True(d.IsLeaf);
        Assert.False(d.RequiresGrad);
    }

    [Fact]
    public void Backward_with_explicit_gradient_and_second_backward_fails_clearly()
    {
        var x = Tensor.FromArray(new[] { 1.0, 2.0 }).RequiresGrad_();
        var y = x * x;
        y.Backward(Tensor.FromArray(new[] { 1.0, 10.0 }));
        Assert.Equal(new[] { 2.0, 40.0 }, x.Grad!.ToDoubleArray());
        var ex = Assert.Throws<InvalidOperationException>(() => y.Backward(Tensor.FromArray(new[] { 1.0, 1.0 })));
        Assert.Contains("second time", ex.Message);
        Assert.Throws<InvalidOperationException>(() => y.Backward());
    }

    [Fact]
    public void Shape_mismatch_names_op_and_both_shapes()
    {
        var a = Tensor.Zeros(new[] { 2, 3 });
        var b = Tensor.Zeros(new[] { 4, 3 });
        var ex = Assert.Throws<ArgumentException>(() => a + b);
        Assert.Contains("Add", ex.Message);
        Assert.Contains("[2, 3]", ex.Message);
        Assert.Contains("[4, 3]", ex.Message);
        var m = Assert.Throws<ArgumentException>(() => a.MatMul(b));
        Assert.Contains("MatMul", m.Message);
    }

    [Fact]
    public void TensorScope_releases_storage_created_inside_it()
    {
        Tensor a, b, kept;
        using (var scope = TensorScope.Begin())
        {
            a = Tensor.Ones(new[] { 1000 });
            b = a * 2;
            kept = scope.Keep(b + 1);
        }
        Assert.True(a.Storage.IsDisposed);
        Assert.True(b.Storage.IsDisposed);
        Assert.False(kept.Storage.IsDisposed);
        Assert.Equal(3.0, kept.ToDoubleArray()[0]);
    }
}
