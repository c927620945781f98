// Tensor creation, views, conversion and the RNG: values, sharing of storage, and errors users can act on.
using Xunit;

namespace SeFramework.Tests;

public class TensorBasicsTests
{
    [Fact]
    public void Creation_helpers_fill_the_expected_values()
    {
        Assert.Equal(new[] { 0f, 0f }, Tensor.Zeros(new[] { 2 }).ToFloatArray());
        Assert.Equal(new[] { 1.0, 1.0, 1.0 }, Tensor.Ones(new[] { 3 }, DType.Float64).ToDoubleArray());
        Assert.Equal(new[] { 2.5f, 2.5f }, Tensor.Full(new[] { 1, 2 }, 2.5).ToFloatArray());
        Assert.Equal(new[] { 1f, 1.5f, 2f, 2.5f }, Tensor.Arange(1, 3, 0.5).ToFloatArray());
        Assert.Equal(new[] { 2, 3 }, Tensor.FromArray(new float[6], 2, 3).Shape);
        Assert.Equal(7.0, Tensor.Scalar(7).Item());
    }

    [Fact]
    public void Random_tensors_repeat_with_the_same_seed_and_have_the_right_moments()
    {
        var a = Tensor.RandN(new[] { 20000 }, new Rng(42)).ToFloatArray();
        var b = Tensor.RandN(new[] { 20000 }, new Rng(42)).ToFloatArray();
        Assert.Equal(a, b);
        Assert.InRange(a.Average(), -0.03, 0.03);
        Assert.InRange(Math.Sqrt(a.Select(v => v * (double)v).Average()), 0.97, 1.03);
        var u = Tensor.RandU(new[] { 20000 }, new Rng(1), low: 2, high: 4).ToFloatArray();
        Assert.True(u.All(v => v >= 2 && v < 4));
        Assert.NotEqual(a, Tensor.RandN(new[] { 20000 }, new Rng(43)).ToFloatArray());
    }

    [Fact]
    public void Rng_state_round_trips_exactly()
    {
        var r = new Rng(5);
        r.NextNormal();
        var state = r.GetState();
        var x = new[] { r.NextNormal(), r.NextDouble(), r.NextInt(10) };
        var r2 = new Rng(0);
        r2.SetState(state);
        Assert.Equal(x, new[] { r2.NextNormal(), r2.NextDouble(), r2.NextInt(10) });
    }

    [Fact]
    public void Kaiming_and_xavier_use_pytorch_fans()
    {
        Assert.Equal((3 * 9, 8 * 9), Tensor.Fans(new[] { 8, 3, 3, 3 }));
        var w = Tensor.KaimingNormal(new[] { 256, 64, 3, 3 }, fanOut: true, rng: new Rng(3)).ToFloatArray();
        double std = Math.Sqrt(w.Select(v => v * (double)v).Average());
        Assert.InRange(std, Math.Sqrt(2.0 / (256 * 9)) * 0.97, Math.Sqrt(2.0 / (256 * 9)) * 1.03);
        var x = Tensor.XavierUniform(new[] { 100, 50 }, rng: new Rng(4)).ToFloatArray();
        Assert.True(x.All(v => Math.Abs(v) <= Math.Sqrt(6.0 / 150)));
    }

    [Fact]
    public void Views_share_storage_and_index_correctly()
    {
        var x = Tensor.Arange(0, 24).Reshape(2, 3, 4);
        var p = x.Permute(2, 0, 1);
        Assert.Same(x.Storage, p.Storage);
        Assert.False(p.IsContiguous);
        Assert.Equal(new[] { 4, 2, 3 }, p.Shape);
        // p[1, 1, 2] = x[1, 2, 1] = 1*12 + 2*4 + 1 = 21
        Assert.Equal(21f, p.Contiguous().ToFloatArray()[1 * 6 + 1 * 3 + 2]);
        Assert.Equal(new[] { 5f, 7f, 17f, 19f }, x.Narrow(1, 1, 1).Slice(2, 1, 4, 2).ToFloatArray());
        Assert.Equal(new[] { 0f, 1f, 0f, 1f }, Tensor.Arange(0, 2).Reshape(1, 2).Expand(2, 2).ToFloatArray());
        Assert.Equal(new[] { 2, 1, 12 }, x.Flatten(1).Unsqueeze(1).Shape);
        Assert.Equal(new[] { 24 }, x.Reshape(-1).Shape);
        var parts = x.Split(new[] { 1, 3 }, 2);
        Assert.Equal(new[] { 0f, 4f, 8f, 12f, 16f, 20f }, parts[0].ToFloatArray());
        Assert.Equal(x.ToFloatArray(), Tensor.Concat(parts, 2).ToFloatArray());
    }

    [Fact]
    public void Conversions_between_float32_and_float64_keep_values()
    {
        var x = Tensor.FromArray(new[] { 1.25, -3.5 });
        Assert.Equal(DType.Float32, x.To(DType.Float32).DType);
        Assert.Equal(new[] { 1.25f, -3.5f }, x.To(DType.Float32).ToFloatArray());
        Assert.Same(x, x.To(DType.Float64));
    }

    [Fact]
    public void Invalid_shapes_raise_errors_naming_the_problem()
    {
        Assert.Contains("negative", Assert.Throws<ArgumentException>(() => Tensor.Zeros(new[] { 2, -1 })).Message);
        Assert.Contains("[2, 3]", Assert.Throws<ArgumentException>(() => Tensor.Zeros(new[] { 2, 3 }).Reshape(4, 2)).Message);
        Assert.Contains("Expand", Assert.Throws<ArgumentException>(() => Tensor.Zeros(new[] { 2, 3 }).Expand(4, 3)).Message);
        Assert.Contains("fill", Assert.Throws<ArgumentException>(() => Tensor.FromArray(new float[5], 2, 3)).Message);
        Assert.Throws<ArgumentException>(() => Tensor.Zeros(new[] { 2, 3 }).Sum(2));
    }
}
