// Max/average pooling and global average pooling: PyTorch's output sizes (ceil mode) and average divisors by hand,
// finite-difference gradients, the fast kernels against the reference loops, and argument errors.
using System.Numerics;
using SeFramework.Backends;
using SeFramework.Cpu;
using Xunit;
using static SeFramework.Tests.Nn.NnTestKit;

namespace SeFramework.Tests.Nn;

public class PoolingTests
{
    // x[i, j] = 6i + j on one 6×6 plane.
    private static Tensor Ramp6x6() => Tensor.FromArray(Enumerable.Range(0, 36).Select(v => (double)v).ToArray(), 1, 1, 6, 6);

    [Theory]
    // input, kernel, stride, padding, ceil → output (PyTorch's pooling_output_shape)
    [InlineData(112, 3, 2, 0, true, 56)]  // SENet stem max pool after the 112×112 conv
    [InlineData(112, 3, 2, 0, false, 55)]
    [InlineData(6, 3, 2, 0, true, 3)]
    [InlineData(6, 3, 2, 0, false, 2)]
    [InlineData(6, 3, 2, 1, true, 4)]
    [InlineData(5, 2, 2, 1, true, 3)]     // ceil would give 4, but the 4th window would start at 6 ≥ 5 + 1: dropped
    [InlineData(1, 1, 1, 0, false, 1)]
    [InlineData(56, 3, 2, 1, false, 28)]
    public void Output_size_follows_pytorch_including_the_ceil_mode_rule(int input, int kernel, int stride, int padding, bool ceil, int expected)
    {
        Assert.Equal(expected, Pool2dGeometry.OutputSize(input, kernel, stride, padding, ceil));
        var y = F.MaxPool2d(Tensor.Zeros(new[] { 1, 1, input, input }), kernel, stride, padding, ceil);
        Assert.Equal(new[] { 1, 1, expected, expected }, y.Shape);
    }

    [Fact]
    public void Max_pool_ceil_mode_takes_the_max_of_clipped_windows()
    {
        // 3×3/s2 ceil on 6×6: row windows [0,3), [2,5), [4,6): the max is the bottom-right cell of each.
        var y = F.MaxPool2d(Ramp6x6(), 3, 2, 0, ceilMode: true);
        Assert.Equal(new double[] { 14, 16, 17, 26, 28, 29, 32, 34, 35 }, y.ToDoubleArray());
    }

    [Fact]
    public void Avg_pool_divisor_counts_padding_but_not_past_the_right_padding()
    {
        // 3×3/s2/p1 ceil on 6×6 → 4×4. Window starts -1, 1, 3, 5; clipped to the padded input [−1, 7): lengths 3, 3, 3, 2.
        // (0, 0): cells 0, 1, 6, 7 (sum 14); include pad: 14/9, exclude pad: 14/4.
        // (3, 3): only cell 35; include pad: 35/(2·2) (the window ends at the right padding), exclude pad: 35/1.
        var include = F.AvgPool2d(Ramp6x6(), 3, 2, 1, ceilMode: true, countIncludePad: true).ToDoubleArray();
        var exclude = F.AvgPool2d(Ramp6x6(), 3, 2, 1, ceilMode: true, countIncludePad: false).ToDoubleArray();
        Assert.Equal(16, include.Length);
        Assert.Equal(14.0 / 9, include[0], 12);
        Assert.Equal(35.0 / 4, include[15], 12);
        Assert.Equal(14.0 / 4, exclude[0], 12);
        Assert.Equal(35.0, exclude[15], 12);
        // (1, 1): a full interior window rows/cols 1..3: mean of 6i + j = 6·2 + 2 = 14 either way.
        Assert.Equal(14.0, include[5], 12);
        Assert.Equal(14.0, exclude[5], 12);
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    [InlineData(true, true)]
    public void Pooling_matches_finite_differences(bool ceil, bool countIncludePad)
    {
        var x = TestData.Input(1, 2, 2, 7, 6);
        TestData.AssertGrad(v => F.AvgPool2d(v[0], 3, 2, 1, ceil, countIncludePad), x);
        if (countIncludePad) TestData.AssertGrad(v => F.MaxPool2d(v[0], 3, 2, 1, ceil), x);
        else TestData.AssertGrad(v => F.MaxPool2d(v[0], 2, 0, 0, ceil), x);
    }

    [Fact]
    public void Global_avg_pool_averages_each_plane_and_matches_finite_differences()
    {
        var x = Tensor.FromArray(new double[] { 1, 2, 3, 4, 10, 20, 30, 40 }, 1, 2, 2, 2);
        var y = F.GlobalAvgPool(x);
        Assert.Equal(new[] { 1, 2, 1, 1 }, y.Shape);
        Assert.Equal(new[] { 2.5, 25.0 }, y.ToDoubleArray());
        TestData.AssertGrad(v => F.GlobalAvgPool(v[0]), TestData.Input(2, 2, 3, 3, 5));
        TestData.AssertGrad(v => F.GlobalAvgPool(v[0]), TestData.Input(3, 1, 2, 1, 1));
    }

    public static TheoryData<int, int, int, int, int, int, int, bool> PoolShapes => new()
    {
        // N, C, H, W, kernel, stride, padding, ceil
        { 1, 2, 7, 5, 3, 2, 1, true },
        { 2, 3, 6, 6, 3, 2, 1, true },
        { 2, 1, 1, 1, 1, 1, 0, false },
        { 1, 2, 9, 8, 2, 3, 0, true },
        { 2, 2, 10, 7, 7, 3, 3, true },
        { 1, 1, 5, 5, 2, 2, 1, true },
        { 2, 3, 12, 11, 3, 3, 0, true },
        { 3, 4, 8, 9, 3, 1, 1, false },
        { 8, 16, 20, 20, 3, 2, 1, true }, // large enough to run planes in parallel
    };

    [Theory]
    [MemberData(nameof(PoolShapes))]
    public void Pool_kernels_match_the_reference(int n, int c, int h, int w, int kernel, int stride, int padding, bool ceil)
    {
        foreach (var mode in new[] { PoolMode.Max, PoolMode.AverageIncludePad, PoolMode.AverageExcludePad })
        {
            ComparePool<float>(DType.Float32, mode, n, c, h, w, kernel, stride, padding, ceil);
            ComparePool<double>(DType.Float64, mode, n, c, h, w, kernel, stride, padding, ceil);
        }
    }

    private static void ComparePool<T>(DType dtype, PoolMode mode, int n, int c, int h, int w, int kernel, int stride, int padding, bool ceil)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int p = Pool2dGeometry.OutputSize(h, kernel, stride, padding, ceil), q = Pool2dGeometry.OutputSize(w, kernel, stride, padding, ceil);
        var g = new Pool2dGeometry(n, c, h, w, p, q, kernel, stride, padding);
        var x = Normal(50, dtype, n, c, h, w).RequiresGrad_();
        var dy = Normal(51, dtype, n, c, p, q);
        var y = mode == PoolMode.Max
            ? F.MaxPool2d(x, kernel, stride, padding, ceil)
            : F.AvgPool2d(x, kernel, stride, padding, ceil, mode == PoolMode.AverageIncludePad);
        var yRef = Tensor.Empty(new[] { n, c, p, q }, dtype);
        ReferenceNn.Pool2dForward<T>(mode, x.Span<T>(), yRef.Span<T>(), g);
        AssertClose(yRef, y, Tolerance(dtype), $"{dtype} {mode} forward");
        y.Backward(dy);
        var dxRef = Tensor.Empty(x.Shape, dtype);
        ReferenceNn.Pool2dBackward<T>(mode, x.Span<T>(), dy.Span<T>(), dxRef.Span<T>(), g);
        AssertClose(dxRef, x.Grad!, Tolerance(dtype), $"{dtype} {mode} backward");
    }

    [Theory]
    [InlineData(1, 1, 1, 1)]
    [InlineData(1, 3, 7, 5)]
    [InlineData(4, 64, 14, 14)] // parallel
    public void Global_avg_pool_kernel_matches_the_reference(int n, int c, int h, int w)
    {
        foreach (var dtype in new[] { DType.Float32, DType.Float64 })
        {
            var x = Normal(60, dtype, n, c, h, w).RequiresGrad_();
            var y = F.GlobalAvgPool(x);
            var yRef = Tensor.Empty(new[] { n, c, 1, 1 }, DType.Float64);
            ReferenceNn.GlobalAvgPool<double>(x.To(DType.Float64).Span<double>(), yRef.Span<double>(), n * c, h * w);
            AssertClose(yRef, y, Tolerance(dtype), $"{dtype} GAP");
            var dy = Normal(61, dtype, n, c, 1, 1);
            y.Backward(dy);
            var expected = dy.ToDoubleArray().SelectMany(v => Enumerable.Repeat(v / (h * w), h * w)).ToArray();
            AssertClose(expected, x.Grad!.ToDoubleArray(), Tolerance(dtype), $"{dtype} GAP backward");
        }
    }

    [Fact]
    public void Invalid_pooling_arguments_throw_with_op_and_values()
    {
        var x = Tensor.Zeros(new[] { 1, 2, 5, 5 });
        AssertArgumentError(() => F.MaxPool2d(x, 3, 2, 2), "MaxPool2d", "padding 2", "half the kernel");
        AssertArgumentError(() => F.AvgPool2d(x, 2, 1, 2), "AvgPool2d", "padding 2");
        AssertArgumentError(() => F.MaxPool2d(x, 3, -1), "MaxPool2d", "stride");
        AssertArgumentError(() => F.MaxPool2d(x, 0), "MaxPool2d", "kernel");
        AssertArgumentError(() => F.MaxPool2d(x, 7), "MaxPool2d", "kernel 7", "larger");
        AssertArgumentError(() => F.AvgPool2d(Tensor.Zeros(new[] { 2, 5, 5 }), 2), "AvgPool2d", "rank 4", "[2, 5, 5]");
        AssertArgumentError(() => F.GlobalAvgPool(Tensor.Zeros(new[] { 2, 5 })), "GlobalAvgPool", "[2, 5]");
        AssertArgumentError(() => F.GlobalAvgPool(Tensor.Zeros(new[] { 2, 5, 0, 3 })), "GlobalAvgPool", "empty");
    }

    [Fact]
    public void Stride_zero_means_stride_equal_to_kernel_as_in_the_modules()
    {
        var x = Ramp6x6();
        Assert.Equal(F.MaxPool2d(x, 2, 2).ToDoubleArray(), new SeFramework.Nn.MaxPool2d(2).Forward(x).ToDoubleArray());
        Assert.Equal(new double[] { 7, 9, 11, 19, 21, 23, 31, 33, 35 }, F.MaxPool2d(x, 2).ToDoubleArray());
    }
}
