// Image folders written by the test with ImageSharp (PNG and JPEG), including a corrupt and a truncated file.
using SeFramework.Train.Data;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using Xunit;

namespace SeFramework.Train.Tests.Data;

public class ImageFolderTests
{
    static void WriteImage(string path, int w, int h, Rgb24 colour)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using var img = new Image<Rgb24>(w, h, colour);
        img[1, 0] = new Rgb24(1, 2, 3);
        img.Save(path);
    }

    static TempDir MakeFolder()
    {
        var dir = new TempDir();
        WriteImage(Path.Combine(dir.Path, "train", "dog", "b.png"), 5, 4, new Rgb24(200, 10, 20));
        WriteImage(Path.Combine(dir.Path, "train", "dog", "a.png"), 6, 3, new Rgb24(0, 255, 0));
        WriteImage(Path.Combine(dir.Path, "train", "Cat", "x.jpg"), 16, 16, new Rgb24(128, 128, 128));
        File.WriteAllText(Path.Combine(dir.Path, "train", "Cat", "notes.txt"), "ignored: not an image extension");
        return dir;
    }

    [Fact]
    public void Classes_are_sorted_ordinally_and_images_decode_to_rgb()
    {
        using var dir = MakeFolder();
        var ds = ImageFolderDataset.Load(dir.Path, train: true);
        Assert.Equal(["Cat", "dog"], ds.ClassNames); // ordinal: upper case first
        Assert.Equal(3, ds.Count);
        Assert.Equal([0, 1, 1], Enumerable.Range(0, 3).Select(ds.GetLabel));
        Assert.EndsWith("a.png", ds.Files[1]);
        var buf = new ImageBuffer();
        ds.GetImage(1, buf);
        Assert.Equal((6, 3, 3), (buf.Width, buf.Height, buf.Channels));
        Assert.Equal([0, 255, 0], new[] { buf[2, 2, 0], buf[2, 2, 1], buf[2, 2, 2] });
        Assert.Equal([1, 2, 3], new[] { buf[0, 1, 0], buf[0, 1, 1], buf[0, 1, 2] });
        ds.GetImage(0, buf);
        Assert.InRange(buf[8, 8, 0], 120, 136); // JPEG is lossy
        Assert.Equal(0, ds.SkippedFiles);
    }

    [Fact]
    public void Corrupt_file_is_skipped_with_one_warning_and_strict_throws()
    {
        using var dir = MakeFolder();
        string bad = Path.Combine(dir.Path, "train", "dog", "c.jpg");
        File.WriteAllBytes(bad, [1, 2, 3, 4, 5, 6, 7, 8, 9]);
        var warnings = new StringWriter();
        var ds = ImageFolderDataset.Load(dir.Path, train: true, new ImageFolderOptions { Warnings = warnings });
        Assert.Equal(3, ds.Count);
        Assert.Equal(1, ds.SkippedFiles);
        string[] lines = warnings.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.Contains(bad, lines[0]);

        var e = Assert.Throws<InvalidDataException>(() => ImageFolderDataset.Load(dir.Path, train: true, new ImageFolderOptions { Strict = true }));
        Assert.Contains(bad, e.Message);
    }

    [Fact]
    public void Truncated_file_found_while_decoding_is_skipped_once_and_replaced_by_the_loader()
    {
        using var dir = MakeFolder();
        string good = Path.Combine(dir.Path, "train", "dog", "a.png");
        string cut = Path.Combine(dir.Path, "train", "dog", "aa.png"); // sorts right after a.png: index 2
        byte[] bytes = File.ReadAllBytes(good);
        File.WriteAllBytes(cut, bytes[..(bytes.Length / 2)]);
        var warnings = new StringWriter();
        var ds = ImageFolderDataset.Load(dir.Path, train: true, new ImageFolderOptions { Warnings = warnings });
        Assert.Equal(4, ds.Count);
        var buf = new ImageBuffer();
        Assert.False(ds.TryGetImage(2, buf));
        Assert.False(ds.TryGetImage(2, buf));
        Assert.Equal(1, ds.SkippedFiles);
        Assert.Single(warnings.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains(cut, warnings.ToString());

        var transform = new ImageTransform(AugmentationKind.Eval, 3, 8, 8, Normalization.Identity(3));
        using var loader = new DataLoader(ds, transform, new DataLoaderOptions { BatchSize = 4, Shuffle = false, Workers = 1 });
        Batch batch = loader.GetEpoch(0).Single();
        Assert.Equal([0, 1, 3, 3], batch.Indices); // index 2 replaced by the next readable one
        Assert.Equal(ds.GetLabel(3), batch.Labels[2]);

        var strict = ImageFolderDataset.Load(dir.Path, train: true, new ImageFolderOptions { Strict = true });
        Assert.Throws<InvalidDataException>(() => strict.TryGetImage(2, buf));
    }

    [Fact]
    public void Val_split_can_reuse_train_class_list_and_missing_split_is_reported()
    {
        using var dir = MakeFolder();
        WriteImage(Path.Combine(dir.Path, "val", "dog", "v.png"), 4, 4, new Rgb24(9, 9, 9));
        var train = ImageFolderDataset.Load(dir.Path, train: true);
        var val = ImageFolderDataset.Load(dir.Path, train: false, new ImageFolderOptions { ClassNames = train.ClassNames });
        Assert.Equal(1, val.GetLabel(0));
        Directory.Delete(Path.Combine(dir.Path, "val"), true);
        var e = Assert.Throws<DatasetNotFoundException>(() => ImageFolderDataset.Load(dir.Path, train: false));
        Assert.Contains(Path.Combine(dir.Path, "val"), e.Message);
    }
}
