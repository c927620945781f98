// The contract every dataset (IDX, CIFAR binary, image folders) fulfils: a count, labels, and decoding of one sample
// into a caller-owned ImageBuffer, so the loader's workers decode without allocating per sample.
namespace SeFramework.Train.Data;

/// <summary>A labelled image classification dataset. Implementations must be safe to read from several threads.</summary>
public interface IImageDataset
{
    /// <summary>Short name for messages, e.g. "fashion-mnist/train".</summary>
    string Name { get; }
    int Count { get; }
    /// <summary>Channels of the decoded image (1 for grey, 3 for RGB).</summary>
    int Channels { get; }
    /// <summary>Native height, or -1 when images differ in size.</summary>
    int Height { get; }
    /// <summary>Native width, or -1 when images differ in size.</summary>
    int Width { get; }
    int NumClasses { get; }
    IReadOnlyList<string> ClassNames { get; }
    int GetLabel(int index);

    /// <summary>
    /// Decodes sample <paramref name="index"/> into <paramref name="into"/> as (H, W, Channels) bytes. Returns false
    /// when the sample is unreadable and the dataset chose to skip it (it has already warned and counted it).
    /// </summary>
    bool TryGetImage(int index, ImageBuffer into);
}

public static class ImageDatasetExtensions
{
    /// <summary>Decodes sample <paramref name="index"/>; throws <see cref="InvalidDataException"/> if it is unreadable.</summary>
    public static void GetImage(this IImageDataset dataset, int index, ImageBuffer into)
    {
        if (!dataset.TryGetImage(index, into))
            throw new InvalidDataException($"{dataset.Name}: sample {index} could not be decoded.");
    }
}
