// Storage: the memory behind one or more tensors. CpuStorage owns 64-byte-aligned native memory taken from the
// pooled CpuAllocator and gives it back when disposed or finalized; other devices derive their own storage.
using System.Runtime.InteropServices;

namespace SeFramework;

public abstract class Storage : IDisposable
{
    protected Storage(DType dtype, long length)
    {
        DType = dtype;
        Length = length;
        Serial = Interlocked.Increment(ref s_lastSerial);
    }

    private static long s_lastSerial;

    /// <summary>The serial number of the last storage created (on any thread); later storages have larger ones.</summary>
    internal static long LastSerial => Interlocked.Read(ref s_lastSerial);

    /// <summary>Creation order: each storage gets the next number. The autograd engine uses it to tell the gradient
    /// buffers made during a backward pass (which it may sum into in place) from tensors that existed before.</summary>
    internal long Serial { get; }

    public DType DType { get; }

    /// <summary>Number of elements.</summary>
    public long Length { get; }

    public long Bytes => Length * DType.ElementSize();
    public abstract Device Device { get; }
    public abstract bool IsDisposed { get; }

    public abstract void Dispose();

    // ---- early release (see Tensor.ReleaseWhenUnused) ----

    // Recorded graph nodes that may still read this storage (their op's inputs and output live here, and their backward
    // has not run yet).
    private int _graphUses;
    private bool _releaseWhenUnused;

    /// <summary>True once the code that made this storage declared that nobody else holds it.</summary>
    internal bool ReleasesWhenUnused => _releaseWhenUnused;

    // Interlocked: parameters are read by nodes recorded on several threads at once (they are never marked, but the
    // count must stay exact for storages that are).
    internal void AddGraphUse() => Interlocked.Increment(ref _graphUses);

    /// <summary>A node that read this storage has run its backward (or was dropped): frees the storage when it was the
    /// last one and the storage is marked for early release.</summary>
    internal void RemoveGraphUse()
    {
        if (Interlocked.Decrement(ref _graphUses) == 0 && _releaseWhenUnused) Dispose();
    }

    /// <summary>Frees the storage now when no recorded node still needs it, else when the last such node's backward has run.</summary>
    internal void ReleaseWhenUnused()
    {
        _releaseWhenUnused = true;
        if (Volatile.Read(ref _graphUses) == 0) Dispose();
    }
}

/// <summary>Native, 64-byte aligned CPU memory from <see cref="CpuAllocator"/>. Counted in <see cref="MemoryStats"/>.</summary>
public sealed unsafe class CpuStorage : Storage
{
    private void* _pointer;

    public CpuStorage(DType dtype, long length, bool zero)
        : base(dtype, length)
    {
        _pointer = CpuAllocator.Rent(Bytes, zero);
        MemoryStats.OnAllocate(Bytes);
        TensorScope.Track(this);
    }

    public override Device Device => Device.Cpu;
    public override bool IsDisposed => _pointer == null;

    internal void* Pointer
    {
        get
        {
            if (_pointer == null) throw new ObjectDisposedException(nameof(CpuStorage), "tensor storage was disposed");
            return _pointer;
        }
    }

    internal Span<T> AsSpan<T>() where T : unmanaged => new(Pointer, checked((int)Length));

    ~CpuStorage() => Release();

    public override void Dispose()
    {
        Release();
        GC.SuppressFinalize(this);
    }

    private void Release()
    {
        var p = _pointer;
        if (p == null) return;
        _pointer = null;
        CpuAllocator.Return(p, Bytes);
        MemoryStats.OnFree(Bytes);
    }
}

/// <summary>
/// A size-bucketed pool of aligned native blocks. Training repeats the same shapes every step, so returning a freed
/// block to its exact-size bucket lets the next step reuse it without page faults (~11–16 µs per fresh 4 KiB page on
/// these VMs). Cached bytes are capped; beyond the cap blocks go back to the OS.
/// A request of at least <see cref="FitMinBytes"/> that finds its bucket empty takes the smallest cached block of up
/// to <see cref="FitRatio"/> times its size before asking the OS: a block idle at that moment (say a large gradient
/// buffer of the previous step's backward while the forward runs the later, smaller stages) serves it instead of
/// new memory, so resident memory follows the live peak rather than the sum of every size's own peak. The block
/// goes back to its own bucket when freed.
/// </summary>
public static unsafe class CpuAllocator
{
    private const long Alignment = 64;
    private const long PoolMinBytes = 4096;
    private const long FitMinBytes = 64 * 1024;
    private static readonly Dictionary<long, Stack<IntPtr>> Buckets = new();
    // Sizes whose bucket holds at least one block (for the smallest-larger search), and the true size of every block
    // handed out for a smaller request.
    private static readonly SortedSet<long> NonEmpty = new();
    private static readonly Dictionary<IntPtr, long> Oversized = new();
    private static readonly object Gate = new();
    private static long _cachedBytes;

    /// <summary>The largest cached block a request may take, as a multiple of its size (1 = exact sizes only). 2 lets a
    /// stage's maps use the idle blocks of the stage before (sizes halve from stage to stage); on se_resnet50 training
    /// 2 gave the lowest peak RSS of 1, 1.5, 2, 3, 4 and 8 — larger ratios let small tensors take blocks that the large
    /// ones then miss.</summary>
    public static double FitRatio { get; set; } = 2;

    /// <summary>Upper bound on bytes held in the pool (default 4 GiB).</summary>
    public static long MaxCachedBytes { get; set; } = 4L << 30;

    public static long CachedBytes => Interlocked.Read(ref _cachedBytes);

    private static long RoundUp(long bytes) => bytes <= 0 ? Alignment : (bytes + Alignment - 1) / Alignment * Alignment;

    internal static void* Rent(long bytes, bool zero)
    {
        long size = RoundUp(bytes);
        void* p = null;
        if (size >= PoolMinBytes)
        {
            lock (Gate)
            {
                if (Buckets.TryGetValue(size, out var stack) && stack.Count > 0)
                {
                    p = Pop(size, stack);
                }
                else if (size >= FitMinBytes && FitRatio > 1 && NonEmpty.Count > 0)
                {
                    long limit = (long)Math.Min(long.MaxValue / 2, size * FitRatio);
                    var view = NonEmpty.GetViewBetween(size + 1, Math.Max(size + 1, limit));
                    if (view.Count > 0)
                    {
                        long fit = view.Min;
                        p = Pop(fit, Buckets[fit]);
                        Oversized[(IntPtr)p] = fit;
                    }
                }
            }
        }
        if (p == null) p = AllocateFresh(size);
        if (p == null) throw new OutOfMemoryException($"CPU allocation of {bytes} bytes failed ({MemoryStats.LiveBytes} bytes live)");
        if (zero) NativeMemory.Clear(p, (nuint)size);
        return p;
    }

    // ---- fresh blocks: transparent huge pages for large ones ---------------------------------------------------------
    // Large tensors are streamed end to end by every kernel; on 4 KiB pages a 100 MB map spans 25,000 TLB entries and
    // faults in page by page. Blocks of at least HugePageMinBytes are aligned to 2 MiB and marked MADV_HUGEPAGE (the
    // kernel here runs THP in "madvise" mode, so nothing is huge unless asked). SE_HUGEPAGES=0 turns it off.

    internal const long HugePageBytes = 2L << 20;
    private const long HugePageMinBytes = 4L << 20;
    private const int MadvHugePage = 14;
    internal static readonly bool UseHugePages = OperatingSystem.IsLinux() && Environment.GetEnvironmentVariable("SE_HUGEPAGES") != "0";

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "madvise")]
    private static extern int Madvise(void* address, nuint length, int advice);

    private static void* AllocateFresh(long size)
    {
        if (!UseHugePages || size < HugePageMinBytes) return NativeMemory.AlignedAlloc((nuint)size, (nuint)Alignment);
        return AllocHugePages(size);
    }

    /// <summary>size bytes, 2 MiB aligned and marked MADV_HUGEPAGE (whether or not <see cref="UseHugePages"/>; callers
    /// check it). Free with NativeMemory.AlignedFree. Also used by GemmPacked for its packing buffers.</summary>
    internal static void* AllocHugePages(long size)
    {
        void* p = NativeMemory.AlignedAlloc((nuint)size, (nuint)HugePageBytes);
        if (p != null) Madvise(p, (nuint)size, MadvHugePage); // advice only: a refusal leaves ordinary pages
        return p;
    }

    // Under Gate: takes a block of the bucket of `size`.
    private static void* Pop(long size, Stack<IntPtr> stack)
    {
        var p = (void*)stack.Pop();
        if (stack.Count == 0) NonEmpty.Remove(size);
        _cachedBytes -= size;
        return p;
    }

    internal static void Return(void* p, long bytes)
    {
        long size = RoundUp(bytes);
        if (size >= PoolMinBytes)
        {
            lock (Gate)
            {
                if (size >= FitMinBytes && Oversized.Remove((IntPtr)p, out long trueSize)) size = trueSize;
                if (_cachedBytes + size <= MaxCachedBytes)
                {
                    if (!Buckets.TryGetValue(size, out var stack)) Buckets[size] = stack = new Stack<IntPtr>();
                    stack.Push((IntPtr)p);
                    if (stack.Count == 1) NonEmpty.Add(size);
                    _cachedBytes += size;
                    return;
                }
            }
        }
        NativeMemory.AlignedFree(p);
    }

    /// <summary>Frees every cached block.</summary>
    public static void EmptyCache()
    {
        lock (Gate)
        {
            foreach (var stack in Buckets.Values)
                while (stack.Count > 0) NativeMemory.AlignedFree((void*)stack.Pop());
            Buckets.Clear();
            NonEmpty.Clear();
            _cachedBytes = 0;
        }
    }
}

/// <summary>Live storage counters, so tests can prove that training does not grow memory.</summary>
public static class MemoryStats
{
    private static long _liveStorages;
    private static long _liveBytes;
    private static long _peakBytes;

    public static long LiveStorages => Interlocked.Read(ref _liveStorages);
    public static long LiveBytes => Interlocked.Read(ref _liveBytes);
    public static long PeakBytes => Interlocked.Read(ref _peakBytes);

    public static void ResetPeak() => Interlocked.Exchange(ref _peakBytes, LiveBytes);

    internal static void OnAllocate(long bytes)
    {
        Interlocked.Increment(ref _liveStorages);
        long now = Interlocked.Add(ref _liveBytes, bytes);
        long peak;
        while (now > (peak = Interlocked.Read(ref _peakBytes)) && Interlocked.CompareExchange(ref _peakBytes, now, peak) != peak) { }
    }

    internal static void OnFree(long bytes)
    {
        Interlocked.Decrement(ref _liveStorages);
        Interlocked.Add(ref _liveBytes, -bytes);
    }

    /// <summary>Runs the garbage collector until finalizers have returned every unreachable storage.</summary>
    public static void CollectUnreachable()
    {
        for (int i = 0; i < 3; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
    }
}
