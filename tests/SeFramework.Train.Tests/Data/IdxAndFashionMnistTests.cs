// IDX parsing (raw and gzip), its error reports, the Fashion-MNIST directory lookup, and the real files when installed.
using SeFramework.Train.Data;
using Xunit;

namespace SeFramework.Train.Tests.Data;

public class IdxAndFashionMnistTests
{
    [Fact]
    public void Idx_reads_raw_and_gzip_files_identically()
    {
        using var dir = new TempDir();
        byte[] payload = Enumerable.Range(0, 2 * 3 * 4).Select(i => (byte)i).ToArray();
        TestFiles.Write(dir.File("a"), TestFiles.Idx([2, 3, 4], payload));
        TestFiles.Write(dir.File("a.gz"), TestFiles.Idx([2, 3, 4], payload), gzip: true);
        foreach (string path in new[] { dir.File("a"), dir.File("a.gz") })
        {
            IdxFile f = IdxReader.Read(path);
            Assert.Equal(IdxElementType.UInt8, f.ElementType);
            Assert.Equal([2, 3, 4], f.Dimensions);
            Assert.Equal(payload, f.Data);
        }
    }

    [Theory]
    [InlineData("bad-magic", "bad magic number")]
    [InlineData("bad-type", "unknown element type")]
    [InlineData("truncated-payload", "truncated")]
    [InlineData("truncated-header", "truncated inside its header")]
    [InlineData("trailing", "bytes after")]
    [InlineData("empty", "truncated")]
    public void Idx_rejects_malformed_files_naming_the_file_and_problem(string kind, string expected)
    {
        using var dir = new TempDir();
        byte[] good = TestFiles.Idx([2, 2], [1, 2, 3, 4]);
        byte[] bytes = kind switch
        {
            "bad-magic" => [0x12, 0x34, .. good[2..]],
            "bad-type" => [0, 0, 0x07, .. good[3..]],
            "truncated-payload" => good[..^1],
            "truncated-header" => good[..6],
            "trailing" => [.. good, 9],
            "empty" => [],
            _ => throw new ArgumentException(kind),
        };
        string path = dir.File(kind);
        TestFiles.Write(path, bytes, gzip: kind == "trailing");
        var e = Assert.Throws<InvalidDataException>(() => IdxReader.Read(path));
        Assert.Contains(expected, e.Message);
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void LoadIdxPair_decodes_images_and_labels()
    {
        using var dir = new TempDir();
        var (images, labels) = TestFiles.WriteIdxPair(dir.Path, "train", n: 5, h: 4, w: 3, classes: 10, gzip: true);
        var ds = FashionMnist.LoadIdxPair(images, labels, FashionMnist.ClassNames, "t");
        Assert.Equal((5, 4, 3, 1, 10), (ds.Count, ds.Height, ds.Width, ds.Channels, ds.NumClasses));
        var buf = new ImageBuffer();
        ds.GetImage(3, buf);
        Assert.Equal(TestFiles.SyntheticPixel(3, 2, 1), buf[2, 1, 0]);
        Assert.Equal(3, ds.GetLabel(3));
    }

    [Fact]
    public void LoadIdxPair_rejects_count_mismatch_wrong_rank_and_labels_out_of_range()
    {
        using var dir = new TempDir();
        string images = dir.File("img"), labels = dir.File("lab");
        TestFiles.Write(images, TestFiles.Idx([3, 2, 2], new byte[12]));
        TestFiles.Write(labels, TestFiles.Idx([2], [0, 1]));
        var e = Assert.Throws<InvalidDataException>(() => FashionMnist.LoadIdxPair(images, labels, FashionMnist.ClassNames, "t"));
        Assert.Contains("3 images", e.Message);
        Assert.Contains("2 labels", e.Message);

        TestFiles.Write(labels, TestFiles.Idx([3], [0, 1, 10]));
        e = Assert.Throws<InvalidDataException>(() => FashionMnist.LoadIdxPair(images, labels, FashionMnist.ClassNames, "t"));
        Assert.Contains("label 10", e.Message);
        Assert.Contains(labels, e.Message);

        TestFiles.Write(images, TestFiles.Idx([3, 4], new byte[12]));
        e = Assert.Throws<InvalidDataException>(() => FashionMnist.LoadIdxPair(images, labels, FashionMnist.ClassNames, "t"));
        Assert.Contains("(count, height, width)", e.Message);
    }

    [Fact]
    public void FashionMnist_Load_finds_files_in_explicit_dir_or_its_fashion_mnist_subfolder()
    {
        using var dir = new TempDir();
        string sub = Path.Combine(dir.Path, "fashion-mnist");
        Directory.CreateDirectory(sub);
        TestFiles.WriteIdxPair(sub, "t10k", n: 4, h: 28, w: 28, classes: 10, gzip: false);
        var ds = FashionMnist.Load(dir.Path, train: false);
        Assert.Equal(4, ds.Count);
        Assert.Equal("Ankle boot", ds.ClassNames[9]);
    }

    [Fact]
    public void FashionMnist_missing_lists_every_place_and_how_to_get_it()
    {
        using var dir = new TempDir();
        var e = Assert.Throws<DatasetNotFoundException>(() => FashionMnist.Load(dir.Path, train: true));
        Assert.Contains(dir.Path, e.Message);
        Assert.Contains(Path.Combine(dir.Path, "fashion-mnist"), e.Message);
        Assert.Contains("apt-get install dataset-fashion-mnist", e.Message);
        Assert.Contains("./data/fashion-mnist", e.Message);
        Assert.Equal(2, e.Searched.Count);
    }

    [Fact]
    public void Default_lookup_order_is_env_then_data_folder_then_usr_share()
    {
        string? saved = Environment.GetEnvironmentVariable(DatasetLocator.EnvironmentVariable);
        try
        {
            Environment.SetEnvironmentVariable(DatasetLocator.EnvironmentVariable, "/x/y");
            var dirs = DatasetLocator.CandidateDirectories(null, "fashion-mnist");
            Assert.Equal(["/x/y", "/x/y/fashion-mnist", Path.GetFullPath("data/fashion-mnist"), "/usr/share/datasets/fashion-mnist"], dirs);
        }
        finally
        {
            Environment.SetEnvironmentVariable(DatasetLocator.EnvironmentVariable, saved);
        }
    }

    [Fact]
    public void Real_FashionMnist_files_load_with_expected_shape_and_balanced_labels()
    {
        const string dir = "/usr/share/datasets/fashion-mnist";
        if (!File.Exists(Path.Combine(dir, "t10k-images-idx3-ubyte.gz")) && !File.Exists(Path.Combine(dir, "t10k-images-idx3-ubyte")))
            Assert.Skip($"Fashion-MNIST is not installed in {dir} (apt-get install dataset-fashion-mnist).");
        var train = FashionMnist.Load(dir, train: true);
        var test = FashionMnist.Load(dir, train: false);
        Assert.Equal((60000, 28, 28, 1), (train.Count, train.Height, train.Width, train.Channels));
        Assert.Equal(10000, test.Count);
        var counts = new int[10];
        for (int i = 0; i < test.Count; i++) counts[test.GetLabel(i)]++;
        Assert.All(counts, c => Assert.Equal(1000, c)); // the test split has 1000 images per class (Zalando README)
        // Mean pixel of the training set matches the published normalisation mean 0.2860.
        var buf = new ImageBuffer();
        double sum = 0;
        for (int i = 0; i < train.Count; i++)
        {
            train.GetImage(i, buf);
            foreach (byte b in buf.Span) sum += b;
        }
        Assert.Equal(0.2860, sum / (255.0 * 60000 * 784), 3);
    }
}
