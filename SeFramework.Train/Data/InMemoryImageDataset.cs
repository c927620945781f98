// A dataset whose images all have one size and live decoded in memory (IDX and CIFAR files): one (N, H, W, C) byte
// array and one label array. Reading a sample is a copy, safe from any number of threads.
namespace SeFramework.Train.Data;

public sealed class InMemoryImageDataset : IImageDataset
{
    readonly byte[] _pixels;
    readonly byte[] _labels;

    /// <param name="pixels">(count, height, width, channels) bytes.</param>
    /// <param name="labels">(count) labels, each below classNames.Count.</param>
    public InMemoryImageDataset(string name, byte[] pixels, byte[] labels, int height, int width, int channels, IReadOnlyList<string> classNames)
    {
        if ((long)labels.Length * height * width * channels != pixels.Length)
            throw new ArgumentException($"{name}: {pixels.Length} pixel bytes do not hold {labels.Length} images of {height}x{width}x{channels}.");
        if (FirstLabelOutOfRange(labels, classNames.Count) is int i and >= 0)
            throw new ArgumentException($"{name}: label {labels[i]} of sample {i} is outside 0..{classNames.Count - 1}.");
        Name = name;
        _pixels = pixels;
        _labels = labels;
        Height = height;
        Width = width;
        Channels = channels;
        ClassNames = classNames;
    }

    public string Name { get; }
    public int Count => _labels.Length;
    public int Channels { get; }
    public int Height { get; }
    public int Width { get; }
    public int NumClasses => ClassNames.Count;
    public IReadOnlyList<string> ClassNames { get; }

    public int GetLabel(int index) => _labels[index];

    public bool TryGetImage(int index, ImageBuffer into)
    {
        if ((uint)index >= (uint)Count)
            throw new ArgumentOutOfRangeException(nameof(index), $"{Name}: sample {index} is outside 0..{Count - 1}.");
        into.Reset(Width, Height, Channels);
        int size = Width * Height * Channels;
        _pixels.AsSpan(index * size, size).CopyTo(into.Pixels);
        return true;
    }

    /// <summary>Throws <see cref="InvalidDataException"/> naming <paramref name="file"/> if a label is ≥ <paramref name="numClasses"/>.</summary>
    internal static void CheckLabels(ReadOnlySpan<byte> labels, int numClasses, string file)
    {
        if (FirstLabelOutOfRange(labels, numClasses) is int i and >= 0)
            throw new InvalidDataException($"'{file}': label {labels[i]} of sample {i} is out of range 0..{numClasses - 1}.");
    }

    /// <summary>The index of the first label ≥ <paramref name="numClasses"/>, or -1 when all are in range.</summary>
    static int FirstLabelOutOfRange(ReadOnlySpan<byte> labels, int numClasses)
    {
        for (int i = 0; i < labels.Length; i++)
            if (labels[i] >= numClasses) return i;
        return -1;
    }
}
