// SumCopyFastPathTests: the CPU backend's whole-tensor Sum fast path (blocked Vector512, block totals in double) and the
// strided copy's (broadcast rows as fills, dense rows as block copies), against plain double loops.
using Xunit;

namespace SeFramework.Core.Tests.Cpu;

public sealed class SumCopyFastPathTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(63)]
    [InlineData(4096)]
    [InlineData(4097)]
    [InlineData(2_000_003)]
    public void Whole_tensor_float_sum_keeps_double_accuracy(int n)
    {
        // Values around 1 with a large common offset: a float running sum of 2M such values would be off by ~1e-3
        // relative; blocks of 4096 summed in 64 lanes and added in double stay near double accuracy.
        var data = new float[n];
        var rng = new Random(n);
        for (int i = 0; i < n; i++) data[i] = 100f + (float)rng.NextDouble();
        double expected = 0;
        foreach (var v in data) expected += v;
        float got = (float)Tensor.FromArray(data, n).Sum().Item();
        Assert.True(Math.Abs(got - expected) <= 1e-6 * Math.Abs(expected) + 1e-6, $"n={n}: sum {got}, double reference {expected}");
    }

    [Fact]
    public void Whole_tensor_sum_of_a_view_uses_its_offset()
    {
        var x = Tensor.FromArray(Enumerable.Range(0, 100).Select(i => (double)i).ToArray(), 100);
        var tail = x.Narrow(0, 10, 90); // dense, offset 10
        Assert.Equal(Enumerable.Range(10, 90).Sum(), tail.Sum().Item());
    }

    [Fact]
    public void Contiguous_of_an_expanded_tensor_fills_broadcast_rows_and_copies_dense_ones()
    {
        // (3, 1, 1) expanded to (3, 4, 5): stride 0 in the last dims (fills); (3, 4, 1) -> (3, 4, 5): rows of one value;
        // a (3, 4, 5) permuted then made contiguous: other strides (element walk).
        var col = Tensor.FromArray(new float[] { 1, 2, 3 }, 3, 1, 1);
        var a = col.Expand(new[] { 3, 4, 5 }).Contiguous().ToFloatArray();
        for (int i = 0; i < a.Length; i++) Assert.Equal(i / 20 + 1, a[i]);
        var grid = Tensor.FromArray(Enumerable.Range(0, 12).Select(i => (float)i).ToArray(), 3, 4, 1);
        var b = grid.Expand(new[] { 3, 4, 5 }).Contiguous().ToFloatArray();
        for (int i = 0; i < b.Length; i++) Assert.Equal(i / 5, b[i]);
        var cube = Tensor.FromArray(Enumerable.Range(0, 60).Select(i => (float)i).ToArray(), 3, 4, 5);
        var c = cube.Permute(2, 0, 1).Contiguous().ToFloatArray(); // (5, 3, 4): c[s, i, j] = cube[i, j, s]
        for (int s = 0; s < 5; s++)
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 4; j++) Assert.Equal(i * 20 + j * 5 + s, c[(s * 3 + i) * 4 + j]);
        var sliced = cube.Narrow(2, 1, 3).Contiguous().ToFloatArray(); // dense rows of 3 at stride 5: block copies
        for (int i = 0; i < 12; i++)
            for (int k = 0; k < 3; k++) Assert.Equal(i * 5 + 1 + k, sliced[i * 3 + k]);
    }
}
