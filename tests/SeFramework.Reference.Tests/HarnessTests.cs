// Tests of the comparison harness itself (conversions and AssertClose), so op-comparison tests can trust it.
using TorchSharp;

namespace SeFramework.Reference.Tests;

public class HarnessTests
{
    [Fact]
    public void FromArray_rejects_data_that_does_not_fill_the_shape()
    {
        var ex = Assert.Throws<ArgumentException>(() => Torch.FromArray(new float[5], [2, 3]));
        Assert.Contains("5 elements", ex.Message);
        Assert.Contains("[2, 3]", ex.Message);
    }

    [Fact]
    public void FromArray_copies_the_data_and_keeps_the_shape()
    {
        LibTorch.RequireOrSkip();
        float[] data = [1f, 2, 3, 4, 5, 6];
        using var t = Torch.FromArray(data, [2, 3], requiresGrad: true);
        data[0] = 100f;
        Assert.Equal([2L, 3], t.shape);
        Assert.True(t.requires_grad);
        Assert.Equal([1f, 2, 3, 4, 5, 6], Torch.ToFloatArray(t));
    }

    [Fact]
    public void ToFloatArray_reads_a_non_contiguous_tensor_in_row_major_order()
    {
        LibTorch.RequireOrSkip();
        // (2, 3) transposed -> (3, 2): rows are the columns of the original.
        using var t = Torch.FromArray([1.0, 2, 3, 4, 5, 6], [2, 3]);
        using var tt = t.t();
        Assert.False(tt.is_contiguous());
        Assert.Equal([1f, 4, 2, 5, 3, 6], Torch.ToFloatArray(tt));
    }

    [Fact]
    public void AssertClose_accepts_values_within_tolerance()
    {
        Close.AssertClose([1f, -2f, 1000f, float.NaN], [1f + 1e-6f, -2f, 1000.05f, float.NaN], rtol: 1e-4, atol: 1e-5, "within");
    }

    [Fact]
    public void AssertClose_reports_the_worst_element_with_its_index_and_errors()
    {
        // allowed = 0.01 + 0.1*|expected|. Index 1: off by 0.5, allowed 0.11 (4.5x over: the worst);
        // index 3: off by 3 on 100, allowed 10.01 (inside); index 4: off by 1, allowed 0.51 (2x over).
        double[] expected = [0, 1, 2, 100, 5, 6];
        double[] actual = [0, 1.5, 2, 103, 6, 6];
        string? message = Close.Describe(expected, actual, rtol: 0.1, atol: 0.01, "conv out", shape: [2, 3]);
        Assert.NotNull(message);
        Assert.StartsWith("conv out: 2 of 6 elements", message);
        Assert.Contains("worst at index 1 [0, 1]", message);
        Assert.Contains("expected 1, actual 1.5, abs err 0.5, rel err 0.5", message);
        Assert.Throws<Xunit.Sdk.FailException>(() => Close.AssertClose(expected, actual, 0.1, 0.01, "conv out"));
    }

    [Fact]
    public void AssertClose_treats_nan_against_a_number_and_length_mismatch_as_failures()
    {
        Assert.Contains("expected 1, actual NaN", Close.Describe([1.0], [double.NaN], 1, 1, "nan"));
        Assert.Contains("length mismatch", Close.Describe([1.0, 2], [1.0], 0, 0, "len"));
    }

    [Fact]
    public void AssertClose_with_a_torch_tensor_checks_the_shape()
    {
        LibTorch.RequireOrSkip();
        using var expected = Torch.FromArray([1f, 2, 3, 4], [2, 2]);
        var ex = Assert.Throws<Xunit.Sdk.FailException>(() => Close.AssertClose(expected, [1f, 2, 3, 4], [4], 0, 0, "reshape"));
        Assert.Contains("shape mismatch", ex.Message);
        Close.AssertClose(expected, [1f, 2, 3, 4.0000005f], [2, 2], rtol: 1e-6, atol: 0, "same");
    }
}
