// Image folders in the ImageNet layout ROOT/{train,val}/<class>/*.{jpg,jpeg,png}, decoded to RGB with ImageSharp.
// Classes are the sub-folder names sorted ordinally; files within a class too. Unreadable files are skipped with one
// warning line each (or, with Strict, throw), and counted in SkippedFiles.
using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace SeFramework.Train.Data;

public sealed record ImageFolderOptions
{
    /// <summary>Throw <see cref="InvalidDataException"/> on an unreadable image instead of skipping it.</summary>
    public bool Strict { get; init; }
    /// <summary>Where skip warnings go, one line per file; null means standard error.</summary>
    public TextWriter? Warnings { get; init; }
    /// <summary>
    /// Read every file's header at load time so files that are not images are dropped before training starts.
    /// Costs a few tens of microseconds a file; truncated bodies are still only found when decoded.
    /// </summary>
    public bool ScanHeaders { get; init; } = true;
    /// <summary>Use this class list (e.g. the train split's) instead of the folder's own, so labels agree across splits.</summary>
    public IReadOnlyList<string>? ClassNames { get; init; }
}

public sealed class ImageFolderDataset : IImageDataset
{
    static readonly string[] Extensions = [".jpg", ".jpeg", ".png"];

    readonly string[] _files;
    readonly int[] _labels;
    readonly ImageFolderOptions _options;
    readonly ConcurrentDictionary<int, bool> _unreadable = new();
    readonly object _warnLock = new();
    int _skipped;

    ImageFolderDataset(string name, string[] files, int[] labels, IReadOnlyList<string> classNames, ImageFolderOptions options)
    {
        Name = name;
        _files = files;
        _labels = labels;
        ClassNames = classNames;
        _options = options;
    }

    /// <summary>Opens ROOT/train (train) or ROOT/val (otherwise).</summary>
    public static ImageFolderDataset Load(string root, bool train, ImageFolderOptions? options = null)
    {
        string split = Path.Combine(root, train ? "train" : "val");
        if (!Directory.Exists(split))
            throw new DatasetNotFoundException($"Image folder '{root}' ({(train ? "train" : "val")} split)", [Path.GetFullPath(split)],
                "Expected the ImageNet layout ROOT/train/<class>/*.jpg and ROOT/val/<class>/*.jpg; pass the ROOT folder with --data.");
        return Open(split, options);
    }

    /// <summary>Opens one split folder whose sub-folders are the classes.</summary>
    public static ImageFolderDataset Open(string splitDirectory, ImageFolderOptions? options = null)
    {
        options ??= new ImageFolderOptions();
        if (!Directory.Exists(splitDirectory))
            throw new DatasetNotFoundException($"Image folder '{splitDirectory}'", [Path.GetFullPath(splitDirectory)],
                "Create it with one sub-folder per class holding .jpg/.jpeg/.png files.");
        string[] found = Directory.GetDirectories(splitDirectory).Select(Path.GetFileName).OfType<string>().ToArray();
        Array.Sort(found, StringComparer.Ordinal);
        IReadOnlyList<string> classNames = options.ClassNames ?? found;
        if (classNames.Count == 0)
            throw new InvalidDataException($"Image folder '{splitDirectory}' has no class sub-folders.");
        var classIndex = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < classNames.Count; i++) classIndex[classNames[i]] = i;

        var dataset = new ImageFolderDataset(Path.GetFileName(Path.TrimEndingDirectorySeparator(splitDirectory)), [], [], classNames, options);
        var files = new List<string>();
        var labels = new List<int>();
        foreach (string cls in found)
        {
            if (!classIndex.TryGetValue(cls, out int label))
                throw new InvalidDataException($"Image folder '{splitDirectory}' has class folder '{cls}', which is not in the given class list.");
            string[] classFiles = Directory.GetFiles(Path.Combine(splitDirectory, cls))
                .Where(f => Extensions.Contains(Path.GetExtension(f).ToLowerInvariant())).ToArray();
            Array.Sort(classFiles, StringComparer.Ordinal);
            foreach (string file in classFiles)
            {
                if (options.ScanHeaders && !dataset.HeaderReadable(file)) continue;
                files.Add(file);
                labels.Add(label);
            }
        }
        if (files.Count == 0)
            throw new InvalidDataException($"Image folder '{splitDirectory}' holds no readable .jpg/.jpeg/.png files.");
        return new ImageFolderDataset(dataset.Name, files.ToArray(), labels.ToArray(), classNames, options) { _skipped = dataset._skipped };
    }

    public string Name { get; }
    public int Count => _files.Length;
    public int Channels => 3;
    public int Height => -1;
    public int Width => -1;
    public int NumClasses => ClassNames.Count;
    public IReadOnlyList<string> ClassNames { get; }
    public IReadOnlyList<string> Files => _files;

    /// <summary>How many files were skipped as unreadable so far (at load time and while decoding).</summary>
    public int SkippedFiles => Volatile.Read(ref _skipped);

    public int GetLabel(int index) => _labels[index];

    public bool TryGetImage(int index, ImageBuffer into)
    {
        if (_unreadable.ContainsKey(index)) return false;
        string file = _files[index];
        try
        {
            using Image<Rgb24> image = Image.Load<Rgb24>(file);
            into.Reset(image.Width, image.Height, 3);
            image.CopyPixelDataTo(MemoryMarshal.Cast<byte, Rgb24>(into.Span));
            return true;
        }
        catch (Exception e) when (IsDecodeFailure(e))
        {
            if (_unreadable.TryAdd(index, true)) Skip(file, e);
            return false;
        }
    }

    bool HeaderReadable(string file)
    {
        try
        {
            if (Image.Identify(file) is { Width: > 0, Height: > 0 }) return true;
            Skip(file, null);
        }
        catch (Exception e) when (IsDecodeFailure(e))
        {
            Skip(file, e);
        }
        return false;
    }

    static bool IsDecodeFailure(Exception e) =>
        e is ImageFormatException or EndOfStreamException or NotSupportedException or InvalidDataException;

    void Skip(string file, Exception? error)
    {
        string reason = error?.Message ?? "not a recognised image";
        if (_options.Strict)
            throw new InvalidDataException($"Unreadable image '{file}': {reason}", error);
        Interlocked.Increment(ref _skipped);
        TextWriter w = _options.Warnings ?? Console.Error;
        lock (_warnLock) w.WriteLine($"warning: skipping unreadable image '{file}': {reason}");
    }
}
