// Reference tests of Conv2d (groups, stride, padding, dilation, bias, 7×7 stem, 1×1 stride 2), max/avg pooling
// (ceil mode, count_include_pad, padding) and global average pooling against libtorch: outputs and input gradients.
using TorchSharp;
using TF = TorchSharp.torch.nn.functional;

namespace SeFramework.Reference.Tests;

public class ConvPoolReferenceTests(ITestOutputHelper output)
{
    // name, x (N, C, H, W), weight (K, C/groups, R, S), stride, padding, dilation, groups, bias
    public static readonly TheoryData<string, long[], long[], int, int, int, int, bool> ConvConfigs = new()
    {
        { "3x3 pad 1 bias", [2, 3, 8, 8], [4, 3, 3, 3], 1, 1, 1, 1, true },
        { "3x3 stride 2 pad 1 no bias, odd input", [2, 4, 9, 9], [6, 4, 3, 3], 2, 1, 1, 1, false },
        { "3x3 groups 2 bias", [2, 4, 6, 6], [6, 2, 3, 3], 1, 1, 1, 2, true },
        { "3x3 groups 32 (2 ch/group) stride 2", [2, 64, 6, 6], [64, 2, 3, 3], 2, 1, 1, 32, false },
        { "3x3 depthwise bias", [2, 8, 7, 7], [8, 1, 3, 3], 1, 1, 1, 8, true },
        { "3x3 dilation 2 pad 2", [2, 3, 9, 9], [4, 3, 3, 3], 1, 2, 2, 1, true },
        { "7x7 stride 2 pad 3 stem", [2, 3, 16, 16], [8, 3, 7, 7], 2, 3, 1, 1, false },
        { "1x1 stride 2 projection", [2, 8, 8, 8], [16, 8, 1, 1], 2, 0, 1, 1, false },
        { "1x1 stride 2 odd input bias", [2, 6, 7, 7], [4, 6, 1, 1], 2, 0, 1, 1, true },
        { "3x3 stride 2 no pad, 5x7 input", [1, 3, 5, 7], [2, 3, 3, 3], 2, 0, 1, 1, true },
    };

    [Theory]
    [MemberData(nameof(ConvConfigs))]
    public void Conv2d_matches_libtorch(string config, long[] xShape, long[] wShape, int stride, int padding, int dilation, int groups, bool bias)
    {
        LibTorch.RequireOrSkip();
        using var scope = torch.NewDisposeScope();
        var check = new RefCheck(output, "conv2d");
        var inputs = new List<RefInput> { new(xShape, 61), new(wShape, 62, -0.5f, 0.5f) };
        if (bias) inputs.Add(new([wShape[0]], 63));
        check.ForwardBackward(config, inputs.ToArray(),
            t => F.Conv2d(t[0], t[1], bias ? t[2] : null, stride, padding, dilation, groups),
            t => TF.conv2d(t[0], t[1], bias ? t[2] : null, strides: [stride, stride], padding: [padding, padding], dilation: [dilation, dilation], groups: groups),
            RefTolerances.Conv, RefTolerances.Conv);
        check.Summary();
    }

    // name, x shape, kernel, stride, padding, ceil mode
    public static readonly TheoryData<string, long[], int, int, int, bool> MaxPoolConfigs = new()
    {
        { "2x2 stride 2", [2, 3, 8, 8], 2, 2, 0, false },
        { "3x3 stride 2 pad 1 (ResNet)", [2, 3, 7, 7], 3, 2, 1, false },
        { "3x3 stride 2 pad 1 ceil", [2, 3, 8, 8], 3, 2, 1, true },
        { "3x3 stride 2 ceil (SENet stem)", [2, 3, 8, 8], 3, 2, 0, true },
        { "3x3 stride 2 floor, 8x8", [2, 3, 8, 8], 3, 2, 0, false },
        { "3x3 stride 1 pad 1", [1, 2, 5, 6], 3, 1, 1, false },
        { "2x2 stride 2 ceil, odd 7x9", [1, 2, 7, 9], 2, 2, 0, true },
    };

    [Theory]
    [MemberData(nameof(MaxPoolConfigs))]
    public void MaxPool2d_matches_libtorch(string config, long[] xShape, int kernel, int stride, int padding, bool ceil)
    {
        LibTorch.RequireOrSkip();
        using var scope = torch.NewDisposeScope();
        var check = new RefCheck(output, "maxpool2d");
        check.ForwardBackward(config, [new(xShape, 71)],
            t => F.MaxPool2d(t[0], kernel, stride, padding, ceil),
            t => TF.max_pool2d(t[0], [kernel, kernel], [stride, stride], [padding, padding], ceil_mode: ceil),
            RefTolerances.Pool, RefTolerances.Pool);
        check.Summary();
    }

    // name, x shape, kernel, stride, padding, ceil mode, count_include_pad
    public static readonly TheoryData<string, long[], int, int, int, bool, bool> AvgPoolConfigs = new()
    {
        { "2x2 stride 2", [2, 3, 8, 8], 2, 2, 0, false, true },
        { "3x3 stride 2 pad 1 include pad", [2, 3, 7, 7], 3, 2, 1, false, true },
        { "3x3 stride 2 pad 1 exclude pad", [2, 3, 7, 7], 3, 2, 1, false, false },
        { "3x3 stride 2 pad 1 ceil include pad", [2, 3, 8, 8], 3, 2, 1, true, true },
        { "3x3 stride 2 pad 1 ceil exclude pad", [2, 3, 8, 8], 3, 2, 1, true, false },
        { "3x3 stride 2 ceil no pad (window past the edge)", [2, 3, 8, 8], 3, 2, 0, true, true },
        { "3x3 stride 2 ceil no pad exclude pad", [2, 3, 8, 8], 3, 2, 0, true, false },
        { "2x2 stride 2 ceil odd 7x9 include pad", [1, 2, 7, 9], 2, 2, 0, true, true },
        { "3x3 stride 1 pad 1 include pad", [1, 2, 5, 6], 3, 1, 1, false, true },
        { "3x3 stride 1 pad 1 exclude pad", [1, 2, 5, 6], 3, 1, 1, false, false },
    };

    [Theory]
    [MemberData(nameof(AvgPoolConfigs))]
    public void AvgPool2d_matches_libtorch(string config, long[] xShape, int kernel, int stride, int padding, bool ceil, bool includePad)
    {
        LibTorch.RequireOrSkip();
        using var scope = torch.NewDisposeScope();
        var check = new RefCheck(output, "avgpool2d");
        check.ForwardBackward(config, [new(xShape, 81)],
            t => F.AvgPool2d(t[0], kernel, stride, padding, ceil, includePad),
            t => TF.avg_pool2d(t[0], [kernel, kernel], [stride, stride], [padding, padding], ceil_mode: ceil, count_include_pad: includePad),
            RefTolerances.Pool, RefTolerances.Pool);
        check.Summary();
    }

    [Fact]
    public void GlobalAvgPool_matches_libtorch_mean_and_adaptive_avg_pool()
    {
        LibTorch.RequireOrSkip();
        using var scope = torch.NewDisposeScope();
        var check = new RefCheck(output, "globalavgpool");
        var tol = RefTolerances.GlobalAvgPool;
        check.ForwardBackward("(2,5,4,4) vs mean((2,3), keepdim)", [new([2, 5, 4, 4], 91)],
            t => F.GlobalAvgPool(t[0]), t => t[0].mean([2L, 3], keepdim: true), tol, tol);
        check.ForwardBackward("(2,3,7,5) vs adaptive_avg_pool2d(1)", [new([2, 3, 7, 5], 92)],
            t => F.GlobalAvgPool(t[0]), t => TF.adaptive_avg_pool2d(t[0], [1, 1]), tol, tol);
        check.ForwardBackward("(3,16,8,8) vs adaptive_avg_pool2d(1)", [new([3, 16, 8, 8], 93)],
            t => F.GlobalAvgPool(t[0]), t => TF.adaptive_avg_pool2d(t[0], [1, 1]), tol, tol);
        check.Summary();
    }
}
