// Shared pieces of the training and CLI tests: a non-parallel collection (the trainer sets process-wide state: thread
// count, default RNG, Console), a learnable synthetic Fashion-MNIST-format dataset, tiny run options and file helpers.
using System.Buffers.Binary;
using SeFramework.Train.Training;
using Xunit;

namespace SeFramework.Train.Tests.Training;

/// <summary>Tests that train, or redirect Console, run one at a time: CpuParallel.MaxThreads, Rng.Default and Console
/// are process-wide.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SerialCollection
{
    public const string Name = "training (serial)";
}

/// <summary>A self-deleting temporary folder.</summary>
sealed class TempFolder : IDisposable
{
    public TempFolder() => Directory.CreateDirectory(Path);
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "se-train-" + Guid.NewGuid().ToString("N"));
    public string Sub(string name) => System.IO.Path.Combine(Path, name);
    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); }
        catch (IOException) { }
    }
}

static class TrainFixtures
{
    public const string RealFashionMnist = "/usr/share/datasets/fashion-mnist";

    /// <summary>
    /// Writes train/t10k IDX pairs in the Fashion-MNIST layout: size x size grey images, label i mod 10, each class a
    /// bright 2x2 patch at its own place over a dim pseudo-random background (learnable in a few steps).
    /// </summary>
    public static string WriteSyntheticFashionMnist(string dir, int trainCount = 64, int testCount = 32, int size = 8)
    {
        Directory.CreateDirectory(dir);
        WriteSplit(dir, "train", trainCount, size, seed: 1);
        WriteSplit(dir, "t10k", testCount, size, seed: 2);
        return dir;
    }

    private static void WriteSplit(string dir, string prefix, int n, int size, int seed)
    {
        var pixels = new byte[n * size * size];
        var labels = new byte[n];
        var rand = new Random(seed);
        for (int i = 0; i < n; i++)
        {
            int label = i % 10;
            labels[i] = (byte)label;
            int py = label / 4 * 2 % (size - 1), px = label % 4 * 2 % (size - 1);
            for (int y = 0; y < size; y++)
                for (int x = 0; x < size; x++)
                {
                    bool patch = y >= py && y < py + 2 && x >= px && x < px + 2;
                    pixels[(i * size + y) * size + x] = (byte)(patch ? 200 + rand.Next(56) : rand.Next(60));
                }
        }
        File.WriteAllBytes(Path.Combine(dir, $"{prefix}-images-idx3-ubyte"), Idx([n, size, size], pixels));
        File.WriteAllBytes(Path.Combine(dir, $"{prefix}-labels-idx1-ubyte"), Idx([n], labels));
    }

    private static byte[] Idx(int[] dims, byte[] payload)
    {
        var bytes = new byte[4 + 4 * dims.Length + payload.Length];
        bytes[2] = 0x08;
        bytes[3] = (byte)dims.Length;
        for (int i = 0; i < dims.Length; i++) BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(4 + 4 * i), dims[i]);
        payload.CopyTo(bytes, 4 + 4 * dims.Length);
        return bytes;
    }

    /// <summary>se_resnet20 on the synthetic 8x8 set: 64 images / batch 16 = 4 steps per epoch, one thread, no workers.</summary>
    public static TrainOptions Tiny(string data, string outDir, int epochs = 3) => new()
    {
        Model = "se_resnet20", Dataset = "fashion-mnist", Data = data, Out = outDir, Epochs = epochs, BatchSize = 16, Lr = 0.05,
        LimitTrain = null, LimitTest = null, Threads = 1, Workers = 0, Seed = 7, Reduction = 4,
    };

    public static TrainResult Train(TrainOptions o, TextWriter? log = null) => new Trainer(o, log ?? TextWriter.Null).Run();

    public static void AssertSameFile(string expected, string actual)
    {
        Assert.True(File.Exists(expected), $"{expected} is missing");
        Assert.True(File.Exists(actual), $"{actual} is missing");
        Assert.True(File.ReadAllBytes(expected).AsSpan().SequenceEqual(File.ReadAllBytes(actual)),
            $"{actual} differs from {expected}");
    }
}
