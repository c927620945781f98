// Per-channel normalisation constants applied after scaling pixels to [0, 1]: x' = (x - mean[c]) / std[c].
namespace SeFramework.Train.Data;

public sealed class Normalization
{
    public Normalization(float[] mean, float[] std)
    {
        if (mean.Length == 0 || mean.Length != std.Length)
            throw new ArgumentException($"Normalization: mean ({mean.Length}) and std ({std.Length}) need the same, non-zero, channel count.");
        foreach (float s in std)
            if (!(s > 0)) throw new ArgumentException($"Normalization: every std must be positive, got {s}.");
        Mean = mean;
        Std = std;
    }

    public IReadOnlyList<float> Mean { get; }
    public IReadOnlyList<float> Std { get; }
    public int Channels => Mean.Count;

    /// <summary>ImageNet RGB mean/std (the torchvision / timm constants).</summary>
    public static Normalization ImageNet { get; } = new([0.485f, 0.456f, 0.406f], [0.229f, 0.224f, 0.225f]);

    /// <summary>No normalisation for <paramref name="channels"/> channels: output stays in [0, 1].</summary>
    public static Normalization Identity(int channels) => new(Enumerable.Repeat(0f, channels).ToArray(), Enumerable.Repeat(1f, channels).ToArray());
}
