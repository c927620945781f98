// CIFAR-10 / CIFAR-100 binary parsing on files the test writes: planar -> interleaved pixels, fine labels, errors.
using SeFramework.Train.Data;
using Xunit;

namespace SeFramework.Train.Tests.Data;

public class CifarTests
{
    [Fact]
    public void Cifar10_reads_five_train_batches_in_order_with_planar_pixels_interleaved()
    {
        using var dir = new TempDir();
        string sub = Path.Combine(dir.Path, "cifar-10-batches-bin");
        Directory.CreateDirectory(sub);
        for (int f = 0; f < 5; f++)
            TestFiles.Write(Path.Combine(sub, $"data_batch_{f + 1}.bin"), TestFiles.CifarRecords(2, 2 * f, false, i => i % 10));
        var ds = Cifar.Load10(dir.Path, train: true);
        Assert.Equal((10, 32, 32, 3, 10), (ds.Count, ds.Height, ds.Width, ds.Channels, ds.NumClasses));
        var buf = new ImageBuffer();
        ds.GetImage(7, buf);
        int p = 5 * 32 + 9; // pixel (y=5, x=9)
        Assert.Equal((byte)((7 + p) % 256), buf[5, 9, 0]);
        Assert.Equal((byte)(p % 256), buf[5, 9, 1]);
        Assert.Equal((byte)(255 - 7), buf[5, 9, 2]);
        Assert.Equal(7, ds.GetLabel(7));
        Assert.Equal("horse", ds.ClassNames[7]);
    }

    [Fact]
    public void Cifar100_uses_the_fine_label_byte()
    {
        using var dir = new TempDir();
        TestFiles.Write(dir.File("test.bin"), TestFiles.CifarRecords(3, 0, true, i => 40 + i), gzip: true);
        File.Move(dir.File("test.bin"), dir.File("test.bin.gz"));
        var ds = Cifar.Load100(dir.Path, train: false);
        Assert.Equal(100, ds.NumClasses);
        Assert.Equal([40, 41, 42], Enumerable.Range(0, 3).Select(ds.GetLabel));
        Assert.Equal("lamp", ds.ClassNames[40]);
    }

    [Fact]
    public void Cifar_rejects_truncated_files_and_labels_out_of_range()
    {
        using var dir = new TempDir();
        TestFiles.Write(dir.File("test_batch.bin"), TestFiles.CifarRecords(2, 0, false, i => i)[..^10]);
        var e = Assert.Throws<InvalidDataException>(() => Cifar.Load10(dir.Path, train: false));
        Assert.Contains("test_batch.bin", e.Message);
        Assert.Contains("3073-byte record", e.Message);

        TestFiles.Write(dir.File("test_batch.bin"), TestFiles.CifarRecords(2, 0, false, i => 10 + i));
        e = Assert.Throws<InvalidDataException>(() => Cifar.Load10(dir.Path, train: false));
        Assert.Contains("label 10", e.Message);
    }

    [Fact]
    public void Cifar_missing_lists_places_and_how_to_get_it()
    {
        using var dir = new TempDir();
        var e = Assert.Throws<DatasetNotFoundException>(() => Cifar.Load10(dir.Path, train: true));
        Assert.Contains(Path.Combine(dir.Path, "cifar-10-batches-bin"), e.Message);
        Assert.Contains("cifar-10-binary.tar.gz", e.Message);
    }
}
