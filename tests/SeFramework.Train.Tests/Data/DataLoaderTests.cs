// The loader: every sample once per epoch, same batches for any worker count, exact resume, drop-last and limit,
// buffer reuse, error propagation and clean early stop.
using SeFramework.Train.Data;
using Xunit;

namespace SeFramework.Train.Tests.Data;

public class DataLoaderTests
{
    // n grey images of 6x5 whose every pixel equals the sample index; label = index mod 7.
    static InMemoryImageDataset IndexDataset(int n)
    {
        var pixels = new byte[n * 30];
        for (int i = 0; i < n; i++) pixels.AsSpan(i * 30, 30).Fill((byte)i);
        return new InMemoryImageDataset("idx", pixels, Enumerable.Range(0, n).Select(i => (byte)(i % 7)).ToArray(), 5, 6, 1,
            Enumerable.Range(0, 7).Select(i => $"c{i}").ToArray());
    }

    static InMemoryImageDataset RgbDataset(int n)
    {
        var pixels = new byte[n * 12 * 10 * 3];
        new Random(11).NextBytes(pixels);
        return new InMemoryImageDataset("rgb", pixels, Enumerable.Range(0, n).Select(i => (byte)(i % 3)).ToArray(), 10, 12, 3, ["a", "b", "c"]);
    }

    static List<(int[] Indices, int[] Labels, float[] Images)> Collect(DataLoader loader, int epoch, int start = 0) =>
        loader.GetEpoch(epoch, start).Select(b => (b.Indices[..b.Count], b.LabelSpan.ToArray(), b.ImageSpan.ToArray())).ToList();

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(3)]
    public void Every_sample_is_delivered_exactly_once_per_epoch_with_its_label_and_pixels(int workers)
    {
        var ds = IndexDataset(50);
        using var loader = new DataLoader(ds, ImageTransform.Create("none", ds, Normalization.Identity(1)),
            new DataLoaderOptions { BatchSize = 8, Workers = workers, Prefetch = 3, Seed = 5 });
        Assert.Equal(7, loader.BatchesPerEpoch);
        for (int epoch = 0; epoch < 2; epoch++)
        {
            var seen = new List<int>();
            foreach (Batch b in loader.GetEpoch(epoch))
            {
                Assert.Equal((1, 5, 6), (b.Channels, b.Height, b.Width));
                for (int i = 0; i < b.Count; i++)
                {
                    int index = b.Indices[i];
                    seen.Add(index);
                    Assert.Equal(index % 7, b.Labels[i]);
                    Assert.Equal(index / 255f, b.Images[i * 30 + 17], 6);
                }
            }
            Assert.Equal(Enumerable.Range(0, 50), seen.Order());
            Assert.NotEqual(Enumerable.Range(0, 50), seen); // shuffled
        }
        Assert.Equal(100, loader.ImagesProcessed);
        Assert.True(loader.ImagesPerSecond > 0);
    }

    [Fact]
    public void Same_seed_gives_identical_augmented_batches_with_1_and_3_workers()
    {
        var ds = RgbDataset(30);
        var t = ImageTransform.Create("senet", ds, Normalization.ImageNet, 8);
        List<(int[], int[], float[])> Run(int workers, ulong seed)
        {
            using var loader = new DataLoader(ds, t, new DataLoaderOptions { BatchSize = 4, Workers = workers, Prefetch = 2, Seed = seed });
            return Collect(loader, 3);
        }
        var one = Run(1, 42);
        var three = Run(3, 42);
        Assert.Equal(one.Count, three.Count);
        for (int b = 0; b < one.Count; b++)
        {
            Assert.Equal(one[b].Item1, three[b].Item1);
            Assert.Equal(one[b].Item2, three[b].Item2);
            Assert.Equal(one[b].Item3, three[b].Item3);
        }
        Assert.NotEqual(one[0].Item3, Run(1, 43)[0].Item3);
    }

    [Fact]
    public void Starting_at_a_batch_reproduces_the_rest_of_the_epoch_exactly()
    {
        var ds = RgbDataset(30);
        var t = ImageTransform.Create("senet", ds, Normalization.ImageNet, 8);
        using var loader = new DataLoader(ds, t, new DataLoaderOptions { BatchSize = 4, Workers = 2, Seed = 9 });
        var full = Collect(loader, 2);
        var resumed = Collect(loader, 2, start: 3);
        Assert.Equal(full.Count - 3, resumed.Count);
        for (int b = 0; b < resumed.Count; b++)
        {
            Assert.Equal(full[b + 3].Indices, resumed[b].Indices);
            Assert.Equal(full[b + 3].Images, resumed[b].Images);
        }
    }

    [Fact]
    public void Limit_and_drop_last_shape_the_epoch()
    {
        var ds = IndexDataset(23);
        var t = ImageTransform.Create("none", ds, Normalization.Identity(1));
        using var keep = new DataLoader(ds, t, new DataLoaderOptions { BatchSize = 6, Limit = 20, Workers = 2 });
        var batches = Collect(keep, 0);
        Assert.Equal([6, 6, 6, 2], batches.Select(b => b.Indices.Length));
        Assert.Equal(Enumerable.Range(0, 20), batches.SelectMany(b => b.Indices).Order());
        using var drop = new DataLoader(ds, t, new DataLoaderOptions { BatchSize = 6, Limit = 20, DropLast = true, Shuffle = false });
        batches = Collect(drop, 0);
        Assert.Equal(3, batches.Count);
        Assert.Equal(Enumerable.Range(0, 18), batches.SelectMany(b => b.Indices)); // no shuffle: index order
    }

    [Fact]
    public void Batch_buffers_are_recycled_from_a_ring_of_prefetch_size()
    {
        var ds = IndexDataset(40);
        using var loader = new DataLoader(ds, ImageTransform.Create("none", ds, Normalization.Identity(1)),
            new DataLoaderOptions { BatchSize = 4, Workers = 2, Prefetch = 3 });
        var distinct = new HashSet<Batch>(ReferenceEqualityComparer.Instance);
        for (int epoch = 0; epoch < 2; epoch++)
            foreach (Batch b in loader.GetEpoch(epoch)) distinct.Add(b);
        Assert.Equal(3, distinct.Count);
    }

    sealed class FailingDataset(IImageDataset inner, int failAt) : IImageDataset
    {
        public string Name => "failing";
        public int Count => inner.Count;
        public int Channels => inner.Channels;
        public int Height => inner.Height;
        public int Width => inner.Width;
        public int NumClasses => inner.NumClasses;
        public IReadOnlyList<string> ClassNames => inner.ClassNames;
        public int GetLabel(int index) => inner.GetLabel(index);
        public bool TryGetImage(int index, ImageBuffer into) =>
            index == failAt ? throw new InvalidDataException($"sample {index} is broken") : inner.TryGetImage(index, into);
    }

    [Fact]
    public void A_worker_error_reaches_the_consumer_and_early_stop_allows_a_new_epoch()
    {
        var ds = new FailingDataset(IndexDataset(40), failAt: 13);
        var t = new ImageTransform(AugmentationKind.None, 1, 5, 6, Normalization.Identity(1));
        using var loader = new DataLoader(ds, t, new DataLoaderOptions { BatchSize = 4, Workers = 2, Shuffle = false });
        var e = Assert.Throws<InvalidDataException>(() => loader.GetEpoch(0).ToList());
        Assert.Contains("sample 13", e.Message);
        Assert.Equal(2, loader.GetEpoch(0).Take(2).Count()); // stop early: workers end, the loader can start again
        Assert.Equal(3, loader.GetEpoch(1).Take(3).Count());
        Assert.Equal([0, 1, 2, 3], loader.GetEpoch(1).First().Indices);
    }
}
