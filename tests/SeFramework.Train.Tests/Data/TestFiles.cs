// Helpers for the data tests: a self-deleting temporary folder and writers of IDX / CIFAR files in their formats.
using System.Buffers.Binary;
using System.IO.Compression;

namespace SeFramework.Train.Tests.Data;

sealed class TempDir : IDisposable
{
    public TempDir() => Directory.CreateDirectory(Path);
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "se-data-" + Guid.NewGuid().ToString("N"));
    public string File(string name) => System.IO.Path.Combine(Path, name);
    public void Dispose() => Directory.Delete(Path, recursive: true);
}

static class TestFiles
{
    /// <summary>IDX bytes: magic (0, 0, 0x08, rank), big-endian dims, payload.</summary>
    public static byte[] Idx(int[] dims, byte[] payload, byte type = 0x08)
    {
        var bytes = new byte[4 + 4 * dims.Length + payload.Length];
        bytes[2] = type;
        bytes[3] = (byte)dims.Length;
        for (int i = 0; i < dims.Length; i++) BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(4 + 4 * i), dims[i]);
        payload.CopyTo(bytes, 4 + 4 * dims.Length);
        return bytes;
    }

    public static void Write(string path, byte[] bytes, bool gzip = false)
    {
        if (!gzip)
        {
            System.IO.File.WriteAllBytes(path, bytes);
            return;
        }
        using var file = System.IO.File.Create(path);
        using var gz = new GZipStream(file, CompressionLevel.Fastest);
        gz.Write(bytes);
    }

    /// <summary>Image i of the synthetic set: pixel (y, x) = (i * 7 + y * 3 + x) mod 256.</summary>
    public static byte SyntheticPixel(int i, int y, int x) => (byte)((i * 7 + y * 3 + x) % 256);

    /// <summary>Writes an MNIST-like pair of n images of h x w with labels i mod classes.</summary>
    public static (string Images, string Labels) WriteIdxPair(string dir, string prefix, int n, int h, int w, int classes, bool gzip)
    {
        var pixels = new byte[n * h * w];
        var labels = new byte[n];
        for (int i = 0; i < n; i++)
        {
            labels[i] = (byte)(i % classes);
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++) pixels[(i * h + y) * w + x] = SyntheticPixel(i, y, x);
        }
        string ext = gzip ? ".gz" : "";
        string images = System.IO.Path.Combine(dir, $"{prefix}-images-idx3-ubyte{ext}");
        string labelsPath = System.IO.Path.Combine(dir, $"{prefix}-labels-idx1-ubyte{ext}");
        Write(images, Idx([n, h, w], pixels), gzip);
        Write(labelsPath, Idx([n], labels), gzip);
        return (images, labelsPath);
    }

    /// <summary>CIFAR records: label byte(s), then planes R, G, B of 32x32; R=(i+p)%256, G=p%256, B=(255-i)%256.</summary>
    public static byte[] CifarRecords(int n, int firstIndex, bool cifar100, Func<int, int> label)
    {
        int labelBytes = cifar100 ? 2 : 1, record = labelBytes + 3072;
        var bytes = new byte[n * record];
        for (int k = 0; k < n; k++)
        {
            int i = firstIndex + k;
            Span<byte> r = bytes.AsSpan(k * record, record);
            if (cifar100) { r[0] = (byte)(label(i) / 5); r[1] = (byte)label(i); }
            else r[0] = (byte)label(i);
            for (int p = 0; p < 1024; p++)
            {
                r[labelBytes + p] = (byte)((i + p) % 256);
                r[labelBytes + 1024 + p] = (byte)(p % 256);
                r[labelBytes + 2048 + p] = (byte)((255 - i) & 255);
            }
        }
        return bytes;
    }
}
