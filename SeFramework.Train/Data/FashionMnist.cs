// Fashion-MNIST (and MNIST) from the four IDX files, raw or gzipped. The Debian package dataset-fashion-mnist installs
// them as /usr/share/datasets/fashion-mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz.
namespace SeFramework.Train.Data;

public static class FashionMnist
{
    public const string FolderName = "fashion-mnist";

    /// <summary>The ten classes, in label order (Zalando's README).</summary>
    public static readonly IReadOnlyList<string> ClassNames =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    /// <summary>Mean and std of the training pixels in [0, 1] (computed over the 60 000 training images).</summary>
    public static Normalization Normalization { get; } = new([0.2860f], [0.3530f]);

    const string HowToGet =
        "Get it with `apt-get install dataset-fashion-mnist` (installs /usr/share/datasets/fashion-mnist), or download\n" +
        "train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz from\n" +
        "https://github.com/zalandoresearch/fashion-mnist into ./data/fashion-mnist, or pass --data DIR / set $SE_DATA_DIR.";

    /// <summary>The directory holding the split's files, or throws <see cref="DatasetNotFoundException"/>.</summary>
    public static string Locate(string? dataDir, bool train)
    {
        var candidates = DatasetLocator.CandidateDirectories(dataDir, FolderName);
        foreach (string dir in candidates)
            if (FindFiles(dir, train) is not null) return dir;
        throw new DatasetNotFoundException($"Fashion-MNIST ({(train ? "train" : "test")} split)", candidates, HowToGet);
    }

    /// <summary>Loads the train (60 000) or test (10 000) split of 28x28 grey images.</summary>
    public static InMemoryImageDataset Load(string? dataDir, bool train)
    {
        string dir = Locate(dataDir, train);
        var (images, labels) = FindFiles(dir, train)!.Value;
        return LoadIdxPair(images, labels, ClassNames, $"fashion-mnist/{(train ? "train" : "test")}");
    }

    static (string Images, string Labels)? FindFiles(string dir, bool train)
    {
        string prefix = train ? "train" : "t10k";
        // The canonical names, and the "dot" variant some unpackers produce (train-images.idx3-ubyte).
        string? images = DatasetLocator.FindFile(dir, $"{prefix}-images-idx3-ubyte", $"{prefix}-images.idx3-ubyte");
        string? labels = DatasetLocator.FindFile(dir, $"{prefix}-labels-idx1-ubyte", $"{prefix}-labels.idx1-ubyte");
        return images is null || labels is null ? null : (images, labels);
    }

    /// <summary>
    /// Loads an MNIST-style pair: images (N, H, W) of uint8 and labels (N) of uint8. Usable for MNIST as is.
    /// Throws <see cref="InvalidDataException"/> for wrong types or ranks, count mismatch or labels out of range.
    /// </summary>
    public static InMemoryImageDataset LoadIdxPair(string imagesPath, string labelsPath, IReadOnlyList<string> classNames, string name)
    {
        IdxFile images = IdxReader.Read(imagesPath);
        IdxFile labels = IdxReader.Read(labelsPath);
        if (images.ElementType != IdxElementType.UInt8 || images.Rank != 3)
            throw new InvalidDataException(
                $"'{imagesPath}': expected uint8 images of dimensions (count, height, width), found {images.ElementType} [{string.Join(", ", images.Dimensions)}].");
        if (labels.ElementType != IdxElementType.UInt8 || labels.Rank != 1)
            throw new InvalidDataException(
                $"'{labelsPath}': expected uint8 labels of dimensions (count), found {labels.ElementType} [{string.Join(", ", labels.Dimensions)}].");
        if (images.Dimensions[1] == 0 || images.Dimensions[2] == 0)
            throw new InvalidDataException($"'{imagesPath}': images of size {images.Dimensions[1]}x{images.Dimensions[2]} are empty.");
        if (images.Dimensions[0] != labels.Dimensions[0])
            throw new InvalidDataException(
                $"'{imagesPath}' holds {images.Dimensions[0]} images but '{labelsPath}' holds {labels.Dimensions[0]} labels; the counts must match.");
        InMemoryImageDataset.CheckLabels(labels.Data, classNames.Count, labelsPath);
        return new InMemoryImageDataset(name, images.Data, labels.Data, images.Dimensions[1], images.Dimensions[2], 1, classNames);
    }
}
