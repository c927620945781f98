// Opens the datasets `se train` and `se eval` name (fashion-mnist, cifar10, cifar100, folder) with their normalisation.
using SeFramework.Train.Data;

namespace SeFramework.Train.Training;

public static class DatasetCatalog
{
    public static readonly IReadOnlyList<string> Names = ["fashion-mnist", "cifar10", "cifar100", "folder"];

    public static IImageDataset Open(string name, string? data, bool train, bool strict = false, TextWriter? warnings = null) => name.ToLowerInvariant() switch
    {
        "fashion-mnist" => FashionMnist.Load(data, train),
        "cifar10" => Cifar.Load10(data, train),
        "cifar100" => Cifar.Load100(data, train),
        "folder" => ImageFolderDataset.Load(data ?? throw new ArgumentException("--dataset folder needs --data ROOT (a folder with train/<class>/*.jpg and val/<class>/*.jpg)"),
            train, new ImageFolderOptions { Strict = strict, Warnings = warnings ?? Console.Error }),
        _ => throw new ArgumentException($"unknown dataset '{name}': use one of {string.Join(", ", Names)}"),
    };

    public static Normalization NormalizationFor(string name, int channels) => name.ToLowerInvariant() switch
    {
        "fashion-mnist" => FashionMnist.Normalization,
        "cifar10" => Cifar.Cifar10Normalization,
        "cifar100" => Cifar.Cifar100Normalization,
        _ => channels == 3 ? Normalization.ImageNet : Normalization.Identity(channels),
    };

    /// <summary>The model's input size: <paramref name="requested"/> (--input), else the dataset's image size, else 224
    /// (image folders, whose images vary in size).</summary>
    public static int InputSize(int? requested, IImageDataset dataset) => requested ?? (dataset.Height > 0 ? dataset.Height : 224);

    /// <summary>The test-time transform: resize + centre crop (eval) for image folders, the images as they are otherwise.</summary>
    public static ImageTransform TestTransform(string name, IImageDataset test, Normalization normalization, int inputSize) =>
        ImageTransform.Create(name.Equals("folder", StringComparison.OrdinalIgnoreCase) ? "eval" : "none", test, normalization, inputSize);
}
