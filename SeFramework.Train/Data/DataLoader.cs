// The background-prefetching loader: K worker threads decode + augment whole batches into a ring of reusable
// buffers, and the consumer receives them strictly in order. Order, shuffling and augmentation depend only on
// (seed, epoch, sample index), so the batches are identical for any worker count and any thread timing.
using System.Diagnostics;
using System.Runtime.ExceptionServices;

namespace SeFramework.Train.Data;

public sealed record DataLoaderOptions
{
    public int BatchSize { get; init; } = 64;
    /// <summary>Permute the samples every epoch (by seed and epoch); false keeps index order.</summary>
    public bool Shuffle { get; init; } = true;
    /// <summary>Drop the final partial batch of an epoch.</summary>
    public bool DropLast { get; init; }
    /// <summary>Background threads decoding and augmenting; 0 does the work on the consumer's thread.</summary>
    public int Workers { get; init; } = 2;
    /// <summary>Batches prepared ahead (ring size); at least Workers + 1 keeps every worker busy.</summary>
    public int Prefetch { get; init; } = 4;
    public ulong Seed { get; init; }
    /// <summary>Use only the first N samples of the dataset (indices 0..N-1); null for all.</summary>
    public int? Limit { get; init; }
}

/// <summary>
/// One batch: Images is (Count, Channels, Height, Width) floats, Labels and Indices (dataset indices) have Count
/// entries. The arrays are sized for a full batch and reused: a batch is valid until the enumerator moves on.
/// </summary>
public sealed class Batch
{
    internal Batch(int capacity, int channels, int height, int width)
    {
        Capacity = capacity;
        Channels = channels;
        Height = height;
        Width = width;
        Images = new float[(long)capacity * channels * height * width];
        Labels = new int[capacity];
        Indices = new int[capacity];
    }

    public float[] Images { get; }
    public int[] Labels { get; }
    public int[] Indices { get; }
    public int Count { get; internal set; }
    public int Capacity { get; }
    public int Channels { get; }
    public int Height { get; }
    public int Width { get; }
    public int Epoch { get; internal set; }
    /// <summary>Position of this batch within its epoch.</summary>
    public int BatchIndex { get; internal set; }
    public int ImageSize => Channels * Height * Width;

    /// <summary>The valid part of <see cref="Images"/>: (Count, C, H, W).</summary>
    public Span<float> ImageSpan => Images.AsSpan(0, Count * ImageSize);
    public Span<int> LabelSpan => Labels.AsSpan(0, Count);
}

public sealed class DataLoader : IDisposable
{
    readonly IImageDataset _dataset;
    readonly ImageTransform _transform;
    readonly DataLoaderOptions _options;
    readonly Batch[] _ring;
    readonly TransformWorkspace[] _workspaces;
    readonly ImageBuffer[] _sources;
    EpochRun? _active;
    long _images, _busyTicks;
    bool _disposed;

    public DataLoader(IImageDataset dataset, ImageTransform transform, DataLoaderOptions options)
    {
        if (options.BatchSize <= 0) throw new ArgumentException($"DataLoader: batch size must be positive, got {options.BatchSize}.");
        if (options.Workers < 0) throw new ArgumentException($"DataLoader: worker count must be ≥ 0, got {options.Workers}.");
        if (options.Prefetch <= 0) throw new ArgumentException($"DataLoader: prefetch depth must be positive, got {options.Prefetch}.");
        if (options.Limit is < 0) throw new ArgumentException($"DataLoader: limit must be ≥ 0, got {options.Limit}.");
        if (transform.Channels != dataset.Channels)
            throw new ArgumentException($"DataLoader: {dataset.Name} has {dataset.Channels} channels, the transform expects {transform.Channels}.");
        _dataset = dataset;
        _transform = transform;
        _options = options;
        SampleCount = Math.Min(dataset.Count, options.Limit ?? int.MaxValue);
        BatchesPerEpoch = options.DropLast ? SampleCount / options.BatchSize : (SampleCount + options.BatchSize - 1) / options.BatchSize;
        int batchCapacity = Math.Min(options.BatchSize, Math.Max(1, SampleCount));
        _ring = new Batch[options.Prefetch];
        for (int i = 0; i < _ring.Length; i++)
            _ring[i] = new Batch(batchCapacity, transform.Channels, transform.OutputHeight, transform.OutputWidth);
        int slots = Math.Max(1, options.Workers);
        _workspaces = Enumerable.Range(0, slots).Select(_ => new TransformWorkspace()).ToArray();
        _sources = Enumerable.Range(0, slots).Select(_ => new ImageBuffer()).ToArray();
    }

    public IImageDataset Dataset => _dataset;
    public ImageTransform Transform => _transform;
    /// <summary>Samples used per epoch: min(dataset count, limit).</summary>
    public int SampleCount { get; }
    public int BatchesPerEpoch { get; }

    /// <summary>Images decoded and augmented so far, and the worker time they took.</summary>
    public long ImagesProcessed => Interlocked.Read(ref _images);
    public TimeSpan WorkerBusyTime => TimeSpan.FromTicks(Interlocked.Read(ref _busyTicks) * TimeSpan.TicksPerSecond / Stopwatch.Frequency);
    /// <summary>Decode + augment rate of one worker, images per second of its busy time.</summary>
    public double ImagesPerSecondPerWorker => WorkerBusyTime.TotalSeconds > 0 ? ImagesProcessed / WorkerBusyTime.TotalSeconds : 0;
    /// <summary>Decode + augment capacity of all workers together (per-worker rate × worker count).</summary>
    public double ImagesPerSecond => ImagesPerSecondPerWorker * Math.Max(1, _options.Workers);

    /// <summary>The sample order of <paramref name="epoch"/>: a permutation of 0..SampleCount-1 (identity without shuffle).</summary>
    public int[] EpochOrder(int epoch)
    {
        var order = new int[SampleCount];
        for (int i = 0; i < order.Length; i++) order[i] = i;
        if (_options.Shuffle)
        {
            SampleRng rng = SampleRng.For(_options.Seed, SampleRng.Stream.Shuffle, epoch, 0);
            rng.Shuffle(order);
        }
        return order;
    }

    /// <summary>
    /// The batches of <paramref name="epoch"/> from <paramref name="startBatch"/> on (resume: the same batches as an
    /// uninterrupted run). Each batch stays valid until the next MoveNext; stopping early stops the workers.
    /// One epoch may be enumerated at a time.
    /// </summary>
    public IEnumerable<Batch> GetEpoch(int epoch, int startBatch = 0)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (startBatch < 0 || startBatch > BatchesPerEpoch)
            throw new ArgumentOutOfRangeException(nameof(startBatch), $"DataLoader: start batch {startBatch} is outside 0..{BatchesPerEpoch}.");
        return Run(epoch, startBatch);
    }

    IEnumerable<Batch> Run(int epoch, int startBatch)
    {
        var run = new EpochRun(this, epoch, startBatch);
        if (Interlocked.CompareExchange(ref _active, run, null) is not null)
            throw new InvalidOperationException("DataLoader: an epoch is already being enumerated; finish or dispose it first.");
        try
        {
            if (_options.Workers == 0)
            {
                for (int b = startBatch; b < BatchesPerEpoch; b++)
                {
                    Batch batch = _ring[b % _ring.Length];
                    FillBatch(batch, run, b, 0);
                    yield return batch;
                }
                yield break;
            }
            run.Start();
            for (int b = startBatch; b < BatchesPerEpoch; b++)
            {
                yield return run.WaitFor(b);
                run.Release(b);
            }
        }
        finally
        {
            run.Stop();
            Interlocked.CompareExchange(ref _active, null, run);
        }
    }

    // Decodes, augments and stores samples [b*BatchSize, ...) of the epoch order into batch; worker w's scratch is used.
    void FillBatch(Batch batch, EpochRun run, int b, int worker)
    {
        long start = Stopwatch.GetTimestamp();
        int first = b * _options.BatchSize, count = Math.Min(_options.BatchSize, SampleCount - first);
        int size = batch.ImageSize;
        ImageBuffer source = _sources[worker];
        TransformWorkspace ws = _workspaces[worker];
        for (int i = 0; i < count; i++)
        {
            if (run.Cancelled) return;
            int index = Readable(run.Order[first + i], source);
            SampleRng rng = SampleRng.ForSample(_options.Seed, run.Epoch, index);
            _transform.Apply(source, ref rng, ws, batch.Images.AsSpan(i * size, size));
            batch.Labels[i] = _dataset.GetLabel(index);
            batch.Indices[i] = index;
        }
        batch.Count = count;
        batch.Epoch = run.Epoch;
        batch.BatchIndex = b;
        Interlocked.Add(ref _images, count);
        Interlocked.Add(ref _busyTicks, Stopwatch.GetTimestamp() - start);
    }

    // Decodes sample index into source; an unreadable (skipped) sample is replaced by the next readable index, so the
    // substitute depends only on the data, not on timing.
    int Readable(int index, ImageBuffer source)
    {
        for (int k = 0; k < _dataset.Count; k++)
        {
            int candidate = (int)((index + (long)k) % _dataset.Count);
            if (_dataset.TryGetImage(candidate, source)) return candidate;
        }
        throw new InvalidDataException($"DataLoader: no sample of {_dataset.Name} could be decoded.");
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _active?.Stop();
    }

    // The shared state of one epoch's enumeration. Worker protocol (all under _lock): claim the next batch number b
    // once b < released + ring size (so its ring slot is free), fill it outside the lock, then publish it.
    sealed class EpochRun(DataLoader loader, int epoch, int startBatch)
    {
        readonly object _lock = new();
        readonly int[] _readyBatch = Enumerable.Repeat(-1, loader._ring.Length).ToArray();
        Thread[] _threads = [];
        int _nextToClaim = startBatch, _released = startBatch;
        volatile bool _cancelled;
        int _failedBatch = int.MaxValue;
        ExceptionDispatchInfo? _error;

        public int Epoch { get; } = epoch;
        public int[] Order { get; } = loader.EpochOrder(epoch);
        public bool Cancelled => _cancelled;

        public void Start()
        {
            _threads = new Thread[loader._options.Workers];
            for (int w = 0; w < _threads.Length; w++)
            {
                int worker = w;
                _threads[w] = new Thread(() => Work(worker)) { IsBackground = true, Name = $"se-data-{w}" };
                _threads[w].Start();
            }
        }

        void Work(int worker)
        {
            int b = -1;
            try
            {
                while (true)
                {
                    lock (_lock)
                    {
                        while (!_cancelled && _nextToClaim < loader.BatchesPerEpoch && _nextToClaim < _failedBatch
                               && _nextToClaim >= _released + loader._ring.Length)
                            Monitor.Wait(_lock);
                        if (_cancelled || _nextToClaim >= loader.BatchesPerEpoch || _nextToClaim >= _failedBatch) return;
                        b = _nextToClaim++;
                    }
                    loader.FillBatch(loader._ring[b % loader._ring.Length], this, b, worker);
                    lock (_lock)
                    {
                        _readyBatch[b % loader._ring.Length] = b;
                        Monitor.PulseAll(_lock);
                    }
                }
            }
            catch (Exception e)
            {
                // Batches before the failing one are still finished and delivered; the consumer gets the error
                // exactly when it reaches batch b, as it would without background workers.
                lock (_lock)
                {
                    if (b < _failedBatch)
                    {
                        _failedBatch = b;
                        _error = ExceptionDispatchInfo.Capture(e);
                    }
                    Monitor.PulseAll(_lock);
                }
            }
        }

        public Batch WaitFor(int b)
        {
            int slot = b % loader._ring.Length;
            lock (_lock)
            {
                while (_readyBatch[slot] != b && b < _failedBatch && !_cancelled) Monitor.Wait(_lock);
                if (_readyBatch[slot] != b) _error?.Throw();
                if (_readyBatch[slot] != b) throw new ObjectDisposedException(nameof(DataLoader), "DataLoader was disposed during the epoch.");
            }
            return loader._ring[slot];
        }

        public void Release(int b)
        {
            lock (_lock)
            {
                _readyBatch[b % loader._ring.Length] = -1;
                _released = b + 1;
                Monitor.PulseAll(_lock);
            }
        }

        public void Stop()
        {
            lock (_lock)
            {
                _cancelled = true;
                Monitor.PulseAll(_lock);
            }
            foreach (Thread t in _threads)
                if (t != Thread.CurrentThread) t.Join();
        }
    }
}
