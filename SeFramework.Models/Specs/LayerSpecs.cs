// Descriptions of the standard layers (conv, batch norm, ReLU, pooling, global pooling, dropout, linear) and of a
// named sequence of them: each counts its parameters/MACs from shapes alone and builds the matching Core module.
using SeFramework.Nn;

namespace SeFramework.Models;

/// <summary>Conv2d description. Output size uses floor, as Caffe and PyTorch convolutions do.</summary>
public sealed record ConvSpec(int In, int Out, int Kernel, int Stride = 1, int Padding = 0, int Groups = 1, bool Bias = false) : ILayerSpec
{
    public static int OutputSize(int size, int kernel, int stride, int padding, string layer)
    {
        int span = size + 2 * padding - kernel;
        if (span < 0) throw new ArgumentException($"{layer}: input size {size} (padding {padding}) is smaller than the kernel {kernel}; use a larger input");
        return span / stride + 1;
    }

    public FeatureShape OutputShape(FeatureShape input)
    {
        input.RequireMap(In, $"Conv2d({In}→{Out}, {Kernel}×{Kernel})");
        return new(Out, OutputSize(input.Height, Kernel, Stride, Padding, "Conv2d"), OutputSize(input.Width, Kernel, Stride, Padding, "Conv2d"));
    }

    public long ParameterCount => (long)Out * (In / Groups) * Kernel * Kernel + (Bias ? Out : 0);

    // (N, In, H, W) -> (N, Out, P, Q): each output element takes (In/Groups)·K² multiply-adds.
    public long Macs(FeatureShape input)
    {
        var o = OutputShape(input);
        return (long)Out * (In / Groups) * Kernel * Kernel * o.Height * o.Width;
    }

    public Module Build(BuildContext c) => new Conv2d(In, Out, Kernel, Stride, Padding, groups: Groups, bias: Bias, rng: c.Rng, dtype: c.DType);
}

/// <summary>BatchNorm2d description: γ and β are learnable (2·C), running mean/var are buffers.</summary>
public sealed record BatchNormSpec(int Channels) : ILayerSpec
{
    public FeatureShape OutputShape(FeatureShape input)
    {
        input.RequireMap(Channels, $"BatchNorm2d({Channels})");
        return input;
    }

    public long ParameterCount => 2L * Channels;
    public long Macs(FeatureShape input) => 0;
    public Module Build(BuildContext c) => new BatchNorm2d(Channels, dtype: c.DType);
}

public sealed record ReluSpec : ILayerSpec
{
    public FeatureShape OutputShape(FeatureShape input) => input;
    public long ParameterCount => 0;
    public long Macs(FeatureShape input) => 0;
    public Module Build(BuildContext c) => new ReLU();
}

public enum PoolKind { Max, Avg }

/// <summary>Max/average pooling. CeilMode reproduces Caffe's ceil output size (PyTorch's rule: the last window must
/// start inside the input or its left padding); CountIncludePad divides averages by the padded window (Caffe).</summary>
public sealed record PoolSpec(PoolKind Kind, int Kernel, int Stride, int Padding = 0, bool CeilMode = true, bool CountIncludePad = true) : ILayerSpec
{
    public static int OutputSize(int size, int kernel, int stride, int padding, bool ceilMode)
    {
        int span = size + 2 * padding - kernel;
        if (span < 0) throw new ArgumentException($"Pool{kernel}×{kernel}: input size {size} (padding {padding}) is smaller than the window; use a larger input");
        int o = (ceilMode ? (span + stride - 1) / stride : span / stride) + 1;
        if (ceilMode && (o - 1) * stride >= size + padding) o--;
        return o;
    }

    public FeatureShape OutputShape(FeatureShape input)
    {
        if (input.IsFlat) throw new ArgumentException($"{Kind}Pool2d: expects a (C, H, W) feature map, got a flat vector");
        return input with { Height = OutputSize(input.Height, Kernel, Stride, Padding, CeilMode), Width = OutputSize(input.Width, Kernel, Stride, Padding, CeilMode) };
    }

    public long ParameterCount => 0;
    public long Macs(FeatureShape input) => 0;

    public Module Build(BuildContext c) => Kind == PoolKind.Max
        ? new MaxPool2d(Kernel, Stride, Padding, CeilMode)
        : new AvgPool2d(Kernel, Stride, Padding, CeilMode, CountIncludePad);
}

/// <summary>Global average pooling and flatten: (C, H, W) → (C). Replaces Caffe's pool5 7×7 average (same result at
/// 224) so any input size works.</summary>
public sealed record GlobalPoolSpec : ILayerSpec
{
    public FeatureShape OutputShape(FeatureShape input)
    {
        if (input.IsFlat) throw new ArgumentException("GlobalAvgPool: expects a (C, H, W) feature map, got a flat vector");
        return FeatureShape.Flat(input.Channels);
    }

    public long ParameterCount => 0;
    public long Macs(FeatureShape input) => 0;
    public Module Build(BuildContext c) => new GlobalPoolFlatten();
}

public sealed record DropoutSpec(double P) : ILayerSpec
{
    public FeatureShape OutputShape(FeatureShape input) => input;
    public long ParameterCount => 0;
    public long Macs(FeatureShape input) => 0;
    public Module Build(BuildContext c) => new Dropout(P, c.Rng.Fork());
}

/// <summary>Fully connected layer on a flat vector: (In) → (Out), with bias.</summary>
public sealed record LinearSpec(int In, int Out) : ILayerSpec
{
    public FeatureShape OutputShape(FeatureShape input)
    {
        if (!input.IsFlat || input.Channels != In) throw new ArgumentException($"Linear({In}→{Out}): expects a flat vector of {In}, got {input}");
        return FeatureShape.Flat(Out);
    }

    public long ParameterCount => (long)Out * In + Out;
    public long Macs(FeatureShape input) => (long)Out * In;
    public Module Build(BuildContext c) => new Linear(In, Out, rng: c.Rng, dtype: c.DType);
}

/// <summary>Layers run in order under the given child names (e.g. layer0 = conv1, bn1, relu1).</summary>
public sealed record SequenceSpec(IReadOnlyList<(string Name, ILayerSpec Spec)> Items) : ILayerSpec
{
    public FeatureShape OutputShape(FeatureShape input) => SpecChain.Propagate(input, Items.Select(i => i.Spec)).Output;
    public long ParameterCount => Items.Sum(i => i.Spec.ParameterCount);
    public long Macs(FeatureShape input) => SpecChain.Propagate(input, Items.Select(i => i.Spec)).Macs;
    public Module Build(BuildContext c) => new NamedSequential(Items.Select(i => (i.Name, i.Spec.Build(c))));
}

/// <summary>Runs its children in order; unlike Core's Sequential the children keep the names given (conv1, bn1 …).</summary>
public sealed class NamedSequential : Module
{
    private readonly List<Module> _layers = new();

    public NamedSequential(IEnumerable<(string Name, Module Module)> layers)
    {
        foreach (var (name, module) in layers) _layers.Add(RegisterModule(name, module));
    }

    public override Tensor Forward(Tensor input) => Run(_layers, input);

    /// <summary>Runs the layers in order; a BatchNorm2d directly followed by a ReLU runs as one fused
    /// F.BatchNorm2dRelu (bit-identical values and gradients, one pass and one saved activation instead of two).
    /// In inference (the batch norm in eval mode and nothing to record for autograd), a Conv2d followed by a BatchNorm2d
    /// (and a ReLU) runs as one F.Conv2dBatchNormInference: the batch norm folded into the conv's output tiles, no pass of
    /// its own (equal up to float rounding).
    /// Every layer chain of the zoo (sequences, residual branches, Inception branches, the network) runs through here.
    /// The results between layers are the chain's own: each is released (<see cref="Tensor.ReleaseWhenUnused"/>) once the
    /// next layer has consumed it, so inference frees it at once and training right after the backward that reads it
    /// last. Layers must therefore not keep their input or output beyond the call (no zoo layer does).</summary>
    internal static Tensor Run(IReadOnlyList<Module> layers, Tensor input)
    {
        var x = input;
        for (int i = 0; i < layers.Count; i++)
        {
            var previous = x;
            if (layers[i] is Conv2d conv && i + 1 < layers.Count && layers[i + 1] is BatchNorm2d ebn && FoldsIntoConv(x, conv, ebn))
            {
                bool relu = i + 2 < layers.Count && layers[i + 2] is ReLU;
                x = F.Conv2dBatchNormInference(x, conv.Weight, conv.Bias, conv.Stride, conv.Padding, conv.Dilation, conv.Groups,
                    ebn.RunningMean, ebn.RunningVar, ebn.Weight, ebn.Bias, ebn.Eps, relu);
                i += relu ? 2 : 1;
            }
            else if (layers[i] is BatchNorm2d bn && i + 1 < layers.Count && layers[i + 1] is ReLU)
            {
                x = F.BatchNorm2dRelu(x, bn.RunningMean, bn.RunningVar, bn.Weight, bn.Bias, bn.Training, bn.Momentum, bn.Eps);
                i++;
            }
            else
            {
                x = layers[i].Forward(x);
            }
            ReleaseIntermediate(previous, input, x);
        }
        return x;
    }

    // An eval-mode batch norm after a conv, with nothing for autograd to record: the pair can run folded.
    private static bool FoldsIntoConv(Tensor x, Conv2d conv, BatchNorm2d bn) =>
        !bn.Training && !SeFramework.Autograd.GradNode.WillRecord(x, conv.Weight, conv.Bias, bn.Weight, bn.Bias);

    /// <summary>Releases <paramref name="intermediate"/>, a tensor a block computed and passed on, unless it shares
    /// storage with the block's <paramref name="input"/> (the caller's) or the <paramref name="output"/> it returns
    /// (views such as Flatten, or layers that return their input).</summary>
    internal static void ReleaseIntermediate(Tensor intermediate, Tensor input, Tensor output)
    {
        var s = intermediate.Storage;
        if (ReferenceEquals(s, input.Storage) || ReferenceEquals(s, output.Storage)) return;
        intermediate.ReleaseWhenUnused();
    }
}

/// <summary>(N, C, H, W) → (N, C): global average pool (F.GlobalAvgPool) then flatten.</summary>
public sealed class GlobalPoolFlatten : Module
{
    public override Tensor Forward(Tensor input) => F.GlobalAvgPool(input).Flatten(1);
}
