// FeatureShape: the per-sample shape of an activation, (C, H, W) for feature maps or (C) for flat vectors. Shape
// propagation through layer descriptions (ILayerSpec) counts parameters and MACs without allocating a tensor.
namespace SeFramework.Models;

/// <summary>Per-sample activation shape: (Channels, Height, Width), or (Channels) when <see cref="IsFlat"/>.</summary>
public readonly record struct FeatureShape(int Channels, int Height, int Width, bool IsFlat = false)
{
    public static FeatureShape Flat(int features) => new(features, 1, 1, IsFlat: true);

    /// <summary>Elements per sample.</summary>
    public long Elements => (long)Channels * Height * Width;

    /// <summary>The shape as an array: [C, H, W] or [C].</summary>
    public int[] ToArray() => IsFlat ? new[] { Channels } : new[] { Channels, Height, Width };

    public override string ToString() => IsFlat ? $"{Channels}" : $"{Channels}×{Height}×{Width}";

    /// <summary>Throws unless this is a (C, H, W) map with <paramref name="channels"/> channels.</summary>
    internal void RequireMap(int channels, string layer)
    {
        if (IsFlat) throw new ArgumentException($"{layer}: expects a (C, H, W) feature map, got a flat vector of {Channels}");
        if (Channels != channels) throw new ArgumentException($"{layer}: expects {channels} input channels, got {Channels} (input {this})");
    }
}

/// <summary>
/// Description of a layer or block: computes its output shape, parameter count and multiply-accumulates from an input
/// shape alone, and builds the module it describes. Counting never touches tensors, so SENet-154 (115M parameters)
/// can be summarised without allocating it.
/// </summary>
public interface ILayerSpec
{
    /// <summary>Output shape for one sample of <paramref name="input"/>; throws ArgumentException when it does not fit.</summary>
    FeatureShape OutputShape(FeatureShape input);

    /// <summary>Learnable scalars (weights, biases, BN γ/β; running statistics excluded, as PyTorch's parameters()).</summary>
    long ParameterCount { get; }

    /// <summary>Convolution and fully-connected multiply-accumulates for one sample (BN, activations, pooling and the
    /// SE channel scaling are not counted, as in senet.md §3.3).</summary>
    long Macs(FeatureShape input);

    /// <summary>Allocates the described module (weights with the layer defaults; <see cref="ModelInit"/> re-initialises).</summary>
    Nn.Module Build(BuildContext context);
}

/// <summary>What building needs: the random stream for initial values and the element type.</summary>
public sealed class BuildContext(Rng rng, DType dtype)
{
    public Rng Rng { get; } = rng;
    public DType DType { get; } = dtype;
}

/// <summary>Shape propagation through a chain of specs: the final shape and the summed MACs.</summary>
internal static class SpecChain
{
    public static (FeatureShape Output, long Macs) Propagate(FeatureShape input, IEnumerable<ILayerSpec> specs)
    {
        long macs = 0;
        var shape = input;
        foreach (var spec in specs)
        {
            macs += spec.Macs(shape);
            shape = spec.OutputShape(shape);
        }
        return (shape, macs);
    }
}
