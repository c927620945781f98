// CIFAR-10 / CIFAR-100 in their binary format: records of label byte(s) then 3072 bytes (1024 red, 1024 green,
// 1024 blue, each row-major 32x32). CIFAR-10: data_batch_1..5.bin / test_batch.bin with one label byte;
// CIFAR-100: train.bin / test.bin with a coarse then a fine label byte (we use the fine one, 100 classes).
namespace SeFramework.Train.Data;

public static class Cifar
{
    public const int Size = 32;
    const int ImageBytes = 3 * Size * Size;

    public static readonly IReadOnlyList<string> Cifar10ClassNames =
        ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];

    /// <summary>The fine labels of CIFAR-100 in label order (fine_label_names.txt of the binary distribution).</summary>
    public static readonly IReadOnlyList<string> Cifar100ClassNames =
    [
        "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle", "bottle",
        "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle", "caterpillar", "cattle",
        "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch", "crab", "crocodile", "cup", "dinosaur",
        "dolphin", "elephant", "flatfish", "forest", "fox", "girl", "hamster", "house", "kangaroo", "keyboard",
        "lamp", "lawn_mower", "leopard", "lion", "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain",
        "mouse", "mushroom", "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree",
        "plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray", "road", "rocket",
        "rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail", "snake", "spider",
        "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank", "telephone", "television", "tiger", "tractor",
        "train", "trout", "tulip", "turtle", "wardrobe", "whale", "willow_tree", "wolf", "woman", "worm",
    ];

    /// <summary>Per-channel mean / std of the CIFAR-10 training pixels in [0, 1] (the true std, not the often-quoted 0.2023...).</summary>
    public static Normalization Cifar10Normalization { get; } = new([0.4914f, 0.4822f, 0.4465f], [0.2470f, 0.2435f, 0.2616f]);
    public static Normalization Cifar100Normalization { get; } = new([0.5071f, 0.4865f, 0.4409f], [0.2673f, 0.2564f, 0.2762f]);

    public static InMemoryImageDataset Load10(string? dataDir, bool train) => Load(dataDir, train, cifar100: false);
    public static InMemoryImageDataset Load100(string? dataDir, bool train) => Load(dataDir, train, cifar100: true);

    static string[] FileNames(bool train, bool cifar100) =>
        cifar100 ? [train ? "train.bin" : "test.bin"]
        : train ? ["data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"]
        : ["test_batch.bin"];

    static InMemoryImageDataset Load(string? dataDir, bool train, bool cifar100)
    {
        string folder = cifar100 ? "cifar-100-binary" : "cifar-10-batches-bin";
        string[] names = FileNames(train, cifar100);
        var candidates = DatasetLocator.CandidateDirectories(dataDir, folder);
        foreach (string dir in candidates)
        {
            string?[] files = names.Select(n => DatasetLocator.FindFile(dir, n)).ToArray();
            if (files.All(f => f is not null))
                return FromFiles(files!, cifar100, $"{(cifar100 ? "cifar100" : "cifar10")}/{(train ? "train" : "test")}");
        }
        string url = cifar100 ? "cifar-100-binary.tar.gz" : "cifar-10-binary.tar.gz";
        throw new DatasetNotFoundException(
            $"CIFAR-{(cifar100 ? 100 : 10)} ({(train ? "train" : "test")} split: {string.Join(", ", names)})", candidates,
            $"Download {url} (binary version) from https://www.cs.toronto.edu/~kriz/cifar.html and unpack it into ./data " +
            $"(giving ./data/{folder}), or pass --data DIR / set $SE_DATA_DIR.");
    }

    /// <summary>Reads CIFAR binary batch files (raw or gzip) in order into one dataset of 32x32x3 images.</summary>
    public static InMemoryImageDataset FromFiles(IReadOnlyList<string> files, bool cifar100, string name)
    {
        int labelBytes = cifar100 ? 2 : 1;
        int record = labelBytes + ImageBytes;
        int numClasses = cifar100 ? 100 : 10;
        var pixels = new List<byte[]>();
        var labels = new List<byte[]>();
        foreach (string file in files)
        {
            byte[] raw;
            using (Stream s = DatasetLocator.OpenMaybeGzip(file))
            using (var ms = new MemoryStream())
            {
                s.CopyTo(ms);
                raw = ms.ToArray();
            }
            if (raw.Length == 0 || raw.Length % record != 0)
                throw new InvalidDataException(
                    $"CIFAR file '{file}' is {raw.Length} bytes, not a positive multiple of the {record}-byte record " +
                    $"({labelBytes} label byte(s) + {ImageBytes} pixel bytes): truncated, or {(cifar100 ? "a CIFAR-10" : "a CIFAR-100")} file?");
            int n = raw.Length / record;
            var fileLabels = new byte[n];
            var filePixels = new byte[n * ImageBytes];
            for (int i = 0; i < n; i++)
            {
                ReadOnlySpan<byte> rec = raw.AsSpan(i * record, record);
                fileLabels[i] = rec[labelBytes - 1]; // CIFAR-100: byte 0 coarse, byte 1 fine
                if (cifar100 && rec[0] >= 20)
                    throw new InvalidDataException($"CIFAR file '{file}': coarse label {rec[0]} of record {i} is out of range 0..19.");
                // rec pixels: (3, 32, 32) planar -> ours: (32, 32, 3) interleaved
                ReadOnlySpan<byte> planes = rec[labelBytes..];
                Span<byte> dst = filePixels.AsSpan(i * ImageBytes, ImageBytes);
                for (int p = 0; p < Size * Size; p++)
                {
                    dst[3 * p] = planes[p];
                    dst[3 * p + 1] = planes[Size * Size + p];
                    dst[3 * p + 2] = planes[2 * Size * Size + p];
                }
            }
            InMemoryImageDataset.CheckLabels(fileLabels, numClasses, file);
            pixels.Add(filePixels);
            labels.Add(fileLabels);
        }
        return new InMemoryImageDataset(name, Concat(pixels), Concat(labels), Size, Size, 3,
            cifar100 ? Cifar100ClassNames : Cifar10ClassNames);
    }

    static byte[] Concat(List<byte[]> parts)
    {
        if (parts.Count == 1) return parts[0];
        var all = new byte[parts.Sum(p => (long)p.Length)];
        long offset = 0;
        foreach (byte[] p in parts)
        {
            p.CopyTo(all, offset);
            offset += p.Length;
        }
        return all;
    }
}
