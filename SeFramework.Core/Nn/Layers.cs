// The standard layers: Conv2d, BatchNorm2d, Linear, activations, pooling, dropout, flatten and Sequential, each a thin
// module over the functional op of the same name with PyTorch's parameter names and default initialisation.
namespace SeFramework.Nn;

public sealed class Conv2d : Module
{
    public Conv2d(int inChannels, int outChannels, int kernelSize, int stride = 1, int padding = 0, int dilation = 1, int groups = 1, bool bias = true, Rng? rng = null, DType dtype = DType.Float32)
    {
        if (inChannels <= 0 || outChannels <= 0 || kernelSize <= 0)
            throw new ArgumentException($"Conv2d: channels and kernel size must be positive (in {inChannels}, out {outChannels}, kernel {kernelSize})");
        if (groups <= 0 || inChannels % groups != 0 || outChannels % groups != 0)
            throw new ArgumentException($"Conv2d: in ({inChannels}) and out ({outChannels}) channels must both be divisible by groups ({groups})");
        (InChannels, OutChannels, KernelSize, Stride, Padding, Dilation, Groups) = (inChannels, outChannels, kernelSize, stride, padding, dilation, groups);
        Weight = RegisterParameter("weight", Tensor.KaimingUniform(new[] { outChannels, inChannels / groups, kernelSize, kernelSize }, rng, dtype));
        if (bias)
        {
            double bound = 1.0 / Math.Sqrt(inChannels / groups * kernelSize * kernelSize);
            Bias = RegisterParameter("bias", Tensor.RandU(new[] { outChannels }, rng, dtype, -bound, bound));
        }
    }

    public int InChannels { get; }
    public int OutChannels { get; }
    public int KernelSize { get; }
    public int Stride { get; }
    public int Padding { get; }
    public int Dilation { get; }
    public int Groups { get; }
    public Tensor Weight { get; }
    public Tensor? Bias { get; }

    public override Tensor Forward(Tensor input) => F.Conv2d(input, Weight, Bias, Stride, Padding, Dilation, Groups);
}

public sealed class BatchNorm2d : Module
{
    public BatchNorm2d(int channels, double eps = 1e-5, double momentum = 0.1, DType dtype = DType.Float32)
    {
        if (channels <= 0) throw new ArgumentException($"BatchNorm2d: channels must be positive, not {channels}");
        (Channels, Eps, Momentum) = (channels, eps, momentum);
        Weight = RegisterParameter("weight", Tensor.Ones(new[] { channels }, dtype));
        Bias = RegisterParameter("bias", Tensor.Zeros(new[] { channels }, dtype));
        RunningMean = RegisterBuffer("running_mean", Tensor.Zeros(new[] { channels }, dtype));
        RunningVar = RegisterBuffer("running_var", Tensor.Ones(new[] { channels }, dtype));
    }

    public int Channels { get; }
    public double Eps { get; }
    public double Momentum { get; }
    public Tensor Weight { get; }
    public Tensor Bias { get; }
    public Tensor RunningMean { get; }
    public Tensor RunningVar { get; }

    public override Tensor Forward(Tensor input) => F.BatchNorm2d(input, RunningMean, RunningVar, Weight, Bias, Training, Momentum, Eps);
}

public sealed class Linear : Module
{
    public Linear(int inFeatures, int outFeatures, bool bias = true, Rng? rng = null, DType dtype = DType.Float32)
    {
        if (inFeatures <= 0 || outFeatures <= 0) throw new ArgumentException($"Linear: feature counts must be positive (in {inFeatures}, out {outFeatures})");
        (InFeatures, OutFeatures) = (inFeatures, outFeatures);
        Weight = RegisterParameter("weight", Tensor.KaimingUniform(new[] { outFeatures, inFeatures }, rng, dtype));
        if (bias)
        {
            double bound = 1.0 / Math.Sqrt(inFeatures);
            Bias = RegisterParameter("bias", Tensor.RandU(new[] { outFeatures }, rng, dtype, -bound, bound));
        }
    }

    public int InFeatures { get; }
    public int OutFeatures { get; }
    public Tensor Weight { get; }
    public Tensor? Bias { get; }

    public override Tensor Forward(Tensor input) => F.Linear(input, Weight, Bias);
}

public sealed class ReLU : Module
{
    public override Tensor Forward(Tensor input) => input.Relu();
}

public sealed class Sigmoid : Module
{
    public override Tensor Forward(Tensor input) => input.Sigmoid();
}

public sealed class Tanh : Module
{
    public override Tensor Forward(Tensor input) => input.Tanh();
}

public sealed class MaxPool2d(int kernelSize, int stride = 0, int padding = 0, bool ceilMode = false) : Module
{
    public override Tensor Forward(Tensor input) => F.MaxPool2d(input, kernelSize, stride, padding, ceilMode);
}

public sealed class AvgPool2d(int kernelSize, int stride = 0, int padding = 0, bool ceilMode = false, bool countIncludePad = true) : Module
{
    public override Tensor Forward(Tensor input) => F.AvgPool2d(input, kernelSize, stride, padding, ceilMode, countIncludePad);
}

/// <summary>AdaptiveAvgPool2d(1): (N, C, H, W) → (N, C, 1, 1).</summary>
public sealed class GlobalAvgPool : Module
{
    public override Tensor Forward(Tensor input) => F.GlobalAvgPool(input);
}

public sealed class Dropout : Module
{
    private readonly Rng? _rng;

    public Dropout(double p = 0.5, Rng? rng = null)
    {
        if (p < 0 || p >= 1) throw new ArgumentException($"Dropout: probability must be in [0, 1), not {p}");
        P = p;
        _rng = rng;
    }

    public double P { get; }

    public override Tensor Forward(Tensor input) => F.Dropout(input, P, Training, _rng);
}

public sealed class Flatten(int startDim = 1, int endDim = -1) : Module
{
    public override Tensor Forward(Tensor input) => input.Flatten(startDim, endDim);
}

/// <summary>Runs its children in order; they are named "0", "1", ... as in PyTorch.</summary>
public sealed class Sequential : Module
{
    private readonly List<Module> _layers = new();

    public Sequential(params Module[] layers)
    {
        foreach (var layer in layers) Add(layer);
    }

    public Sequential Add(Module layer)
    {
        RegisterModule(_layers.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), layer);
        _layers.Add(layer);
        return this;
    }

    public int Count => _layers.Count;
    public Module this[int index] => _layers[index];

    public override Tensor Forward(Tensor input)
    {
        var x = input;
        foreach (var layer in _layers) x = layer.Forward(x);
        return x;
    }
}
