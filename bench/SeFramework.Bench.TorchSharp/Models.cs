// The peer's networks in TorchSharp: SE-ResNet-20 (CIFAR), and SE-ResNet-50 / ResNet-50 in timm's
// legacy_seresnet50 (Caffe) layout. Module names follow timm so parameters map one-to-one onto ours.
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace SeFramework.Bench.TorchSharp;

/// <summary>Which stride-2 1x1 convolutions to run as subsample-then-1x1 (identical maths, see PointwiseConv).</summary>
public enum SubsampleMode { Auto, All, None }

/// <summary>Builds the benchmark models by name.</summary>
public static class PeerModels
{
    public static readonly string[] Names = ["se_resnet20", "se_resnet50", "resnet50"];

    public static Module<Tensor, Tensor> Create(string name, SubsampleMode subsample) => name switch
    {
        "se_resnet20" => new CifarSeResNet20(numClasses: 10),
        "se_resnet50" => new ResNet50(withSe: true, numClasses: 1000, subsample),
        "resnet50" => new ResNet50(withSe: false, numClasses: 1000, subsample),
        _ => throw new ArgumentException($"unknown model '{name}'; expected one of: {string.Join(", ", Names)}", nameof(name)),
    };

    /// <summary>Number of classes of the model's head (labels are drawn from [0, classes)).</summary>
    public static int Classes(string name) => name == "se_resnet20" ? 10 : 1000;

    internal static Conv2d Conv(long cin, long cout, long k, long stride = 1, long padding = 0)
        => Conv2d(cin, cout, k, stride: stride, padding: padding, bias: false);
}

/// <summary>SE gate: x: (N, C, H, W) -> x * sigmoid(fc2(relu(fc1(avgpool(x))))); fc1/fc2 are 1x1 convs with bias.</summary>
public sealed class SqueezeExcitation : Module<Tensor, Tensor>
{
    readonly Conv2d fc1, fc2;

    public SqueezeExcitation(long channels, long reduction) : base("se_module")
    {
        long hidden = Math.Max(1, channels / reduction);
        fc1 = Conv2d(channels, hidden, 1);
        fc2 = Conv2d(hidden, channels, 1);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        var s = functional.adaptive_avg_pool2d(x, 1);   // (N, C, 1, 1)
        s = functional.relu(fc1.forward(s));           // (N, C/r, 1, 1)
        s = functional.sigmoid(fc2.forward(s));        // (N, C, 1, 1)
        return x * s;                                  // (N, C, H, W)
    }
}

/// <summary>
/// 1x1 convolution with stride s, optionally computed as x[:, :, ::s, ::s] followed by a stride-1 1x1 convolution
/// (the same outputs and gradients). oneDNN 3.7.1 (libtorch 2.10) divides by zero (SIGFPE) in the backward-data of
/// stride-2 1x1 convolutions 512->1024 and 1024->2048 on CPUs without AMX, so those run subsampled.
/// </summary>
public sealed class PointwiseConv : Module<Tensor, Tensor>
{
    readonly Conv2d conv;
    readonly long stride;
    readonly bool subsample;

    public PointwiseConv(long cin, long cout, long stride, SubsampleMode mode) : base("conv")
    {
        this.stride = stride;
        subsample = stride > 1 && mode switch
        {
            SubsampleMode.All => true,
            SubsampleMode.None => false,
            _ => cout >= 1024, // the shapes known to crash (see above)
        };
        conv = PeerModels.Conv(cin, cout, 1, stride: subsample ? 1 : stride);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        if (!subsample) return conv.forward(x);
        // x: (N, C, H, W) -> (N, C, ceil(H/s), ceil(W/s)) -> (N, Cout, ceil(H/s), ceil(W/s))
        var slice = TensorIndex.Slice(null, null, stride);
        return conv.forward(x[TensorIndex.Colon, TensorIndex.Colon, slice, slice]);
    }
}

/// <summary>CIFAR basic block: conv3x3(s)-BN-ReLU-conv3x3-BN-SE, + shortcut (1x1 conv + BN when the shape changes), ReLU.</summary>
public sealed class SeBasicBlock : Module<Tensor, Tensor>
{
    readonly Conv2d conv1, conv2;
    readonly BatchNorm2d bn1, bn2;
    readonly SqueezeExcitation se_module;
    readonly Sequential? downsample;

    public SeBasicBlock(long cin, long cout, long stride) : base("block")
    {
        conv1 = PeerModels.Conv(cin, cout, 3, stride, 1);
        bn1 = BatchNorm2d(cout);
        conv2 = PeerModels.Conv(cout, cout, 3, 1, 1);
        bn2 = BatchNorm2d(cout);
        se_module = new SqueezeExcitation(cout, 16);
        if (stride != 1 || cin != cout)
            downsample = Sequential(("0", PeerModels.Conv(cin, cout, 1, stride)), ("1", BatchNorm2d(cout)));
        RegisterComponents();
    }

    // x: (N, Cin, H, W) -> (N, Cout, H/s, W/s)
    public override Tensor forward(Tensor x)
    {
        var y = bn1.forward(conv1.forward(x)).relu_();
        y = se_module.forward(bn2.forward(conv2.forward(y)));
        var shortcut = downsample is null ? x : downsample.forward(x);
        return y.add_(shortcut).relu_();
    }
}

/// <summary>SE-ResNet-20 for 32x32 inputs: 3x3 stem (16), stages 16/32/64 of 3 blocks (strides 1/2/2), GAP, Linear(64, classes).</summary>
public sealed class CifarSeResNet20 : Module<Tensor, Tensor>
{
    readonly Conv2d conv1;
    readonly BatchNorm2d bn1;
    readonly Sequential layer1, layer2, layer3;
    readonly Linear fc;

    public CifarSeResNet20(long numClasses) : base("se_resnet20")
    {
        conv1 = PeerModels.Conv(3, 16, 3, 1, 1);
        bn1 = BatchNorm2d(16);
        layer1 = Stage(16, 16, 1);
        layer2 = Stage(16, 32, 2);
        layer3 = Stage(32, 64, 2);
        fc = Linear(64, numClasses);
        RegisterComponents();
    }

    static Sequential Stage(long cin, long cout, long stride) => Sequential(
        ("0", new SeBasicBlock(cin, cout, stride)), ("1", new SeBasicBlock(cout, cout, 1)), ("2", new SeBasicBlock(cout, cout, 1)));

    // x: (N, 3, 32, 32) -> (N, classes)
    public override Tensor forward(Tensor x)
    {
        var y = bn1.forward(conv1.forward(x)).relu_();
        y = layer3.forward(layer2.forward(layer1.forward(y)));  // (N, 64, 8, 8)
        y = functional.adaptive_avg_pool2d(y, 1).flatten(1);     // (N, 64)
        return fc.forward(y);
    }
}

/// <summary>
/// Caffe-layout bottleneck (timm legacy SEResNetBottleneck): conv1 1x1 with the stride, conv2 3x3, conv3 1x1 (x4),
/// optional SE after bn3, projection 1x1(stride)+BN when the shape changes, then out = x*s + residual, ReLU.
/// </summary>
public sealed class Bottleneck : Module<Tensor, Tensor>
{
    readonly PointwiseConv conv1;
    readonly Conv2d conv2, conv3;
    readonly BatchNorm2d bn1, bn2, bn3;
    readonly SqueezeExcitation? se_module;
    readonly Sequential? downsample;

    public Bottleneck(long cin, long planes, long stride, bool withSe, SubsampleMode subsample) : base("bottleneck")
    {
        long cout = planes * 4;
        conv1 = new PointwiseConv(cin, planes, stride, subsample);
        bn1 = BatchNorm2d(planes);
        conv2 = PeerModels.Conv(planes, planes, 3, 1, 1);
        bn2 = BatchNorm2d(planes);
        conv3 = PeerModels.Conv(planes, cout, 1);
        bn3 = BatchNorm2d(cout);
        if (withSe) se_module = new SqueezeExcitation(cout, 16);
        if (stride != 1 || cin != cout)
            downsample = Sequential(("0", new PointwiseConv(cin, cout, stride, subsample)), ("1", BatchNorm2d(cout)));
        RegisterComponents();
    }

    // x: (N, Cin, H, W) -> (N, 4*planes, H/s, W/s)
    public override Tensor forward(Tensor x)
    {
        var y = bn1.forward(conv1.forward(x)).relu_();
        y = bn2.forward(conv2.forward(y)).relu_();
        y = bn3.forward(conv3.forward(y));
        if (se_module is not null) y = se_module.forward(y);
        var shortcut = downsample is null ? x : downsample.forward(x);
        return y.add_(shortcut).relu_();
    }
}

/// <summary>(SE-)ResNet-50: 7x7/2 stem (64), 3x3/2 max-pool (ceil_mode), stages [3, 4, 6, 3] of planes 64..512, GAP, Linear(2048, classes).</summary>
public sealed class ResNet50 : Module<Tensor, Tensor>
{
    readonly Conv2d conv1;
    readonly BatchNorm2d bn1;
    readonly MaxPool2d pool;
    readonly Sequential layer1, layer2, layer3, layer4;
    readonly Linear last_linear;

    public ResNet50(bool withSe, long numClasses, SubsampleMode subsample) : base(withSe ? "se_resnet50" : "resnet50")
    {
        conv1 = PeerModels.Conv(3, 64, 7, 2, 3);
        bn1 = BatchNorm2d(64);
        pool = MaxPool2d(3, 2, ceil_mode: true);
        layer1 = Stage(64, 64, 3, 1, withSe, subsample);
        layer2 = Stage(256, 128, 4, 2, withSe, subsample);
        layer3 = Stage(512, 256, 6, 2, withSe, subsample);
        layer4 = Stage(1024, 512, 3, 2, withSe, subsample);
        last_linear = Linear(2048, numClasses);
        RegisterComponents();
    }

    static Sequential Stage(long cin, long planes, int blocks, long stride, bool withSe, SubsampleMode subsample)
    {
        var list = new List<(string, Module<Tensor, Tensor>)>();
        for (int i = 0; i < blocks; i++)
            list.Add(($"{i}", new Bottleneck(i == 0 ? cin : planes * 4, planes, i == 0 ? stride : 1, withSe, subsample)));
        return Sequential(list);
    }

    // x: (N, 3, S, S) -> (N, classes)
    public override Tensor forward(Tensor x)
    {
        var y = pool.forward(bn1.forward(conv1.forward(x)).relu_());                    // (N, 64, S/4, S/4)
        y = layer4.forward(layer3.forward(layer2.forward(layer1.forward(y))));       // (N, 2048, S/32, S/32)
        y = functional.adaptive_avg_pool2d(y, 1).flatten(1);                          // (N, 2048)
        return last_linear.forward(y);
    }
}
