// Caching device allocator: freed blocks go to per-size free lists and are reused, so training steps stop calling cuMemAlloc.
// Sizes are rounded to buckets; on out-of-memory the cache is released and the allocation retried once before throwing.
using SeFramework.Cuda.Native;

namespace SeFramework.Cuda.Runtime;

/// <summary>Where the allocator gets memory from: the driver on a GPU, a fake in CPU tests.</summary>
public interface IDeviceMemorySource
{
    /// <summary>Allocates <paramref name="bytes"/>; returns a CUresult (0, or 2 = CUDA_ERROR_OUT_OF_MEMORY, or another error).</summary>
    int Allocate(ulong bytes, out ulong pointer);
    void Free(ulong pointer);
    (ulong Free, ulong Total) MemoryInfo();
    /// <summary>Waits for all device work (called before cached blocks are handed back to the driver).</summary>
    void Synchronize();
}

/// <summary>cuMemAlloc_v2 / cuMemFree_v2 on a device's primary context.</summary>
internal sealed class DriverMemorySource(CudaDevice device) : IDeviceMemorySource
{
    public int Allocate(ulong bytes, out ulong pointer)
    {
        device.MakeCurrent();
        return CuDriver.MemAlloc(out pointer, (nuint)bytes);
    }

    public void Free(ulong pointer)
    {
        device.MakeCurrent();
        CudaCheck.Driver(CuDriver.MemFree(pointer), "cuMemFree_v2");
    }

    public (ulong Free, ulong Total) MemoryInfo() => device.MemoryInfo();
    public void Synchronize() => device.Synchronize();
}

/// <summary>Counters of a <see cref="CudaCachingAllocator"/>. Bytes are bucket-rounded sizes.</summary>
public readonly record struct CudaAllocatorStats(
    ulong AllocatedBytes, ulong CachedBytes, ulong PeakAllocatedBytes, long DriverAllocations, long CacheHits, long LiveBlocks)
{
    /// <summary>Bytes held from the driver: allocated plus cached.</summary>
    public ulong ReservedBytes => AllocatedBytes + CachedBytes;
}

/// <summary>
/// A thread-safe caching allocator with exact-bucket free lists. Blocks are reused in stream order: all backend work runs on the
/// device's one stream, so a block freed after its last use was queued can be handed out for later work on that stream.
/// Work on another stream must synchronise before freeing.
/// </summary>
public sealed class CudaCachingAllocator(IDeviceMemorySource source)
{
    /// <summary>Smallest block, and the granularity of small blocks (also cuMemAlloc's alignment).</summary>
    public const ulong MinBlock = 512;
    private const ulong SmallLimit = 1UL << 20;

    private readonly object _lock = new();
    private readonly Dictionary<ulong, Stack<ulong>> _free = new();
    private readonly Dictionary<ulong, ulong> _live = new();
    private ulong _allocated, _cached, _peak;
    private long _driverAllocs, _hits;

    /// <summary>
    /// Bucket size for a request: up to 1 MiB, multiples of 512 B; above, four buckets per power of two (1, 1.25, 1.5, 1.75 x 2^k),
    /// so at most 25% is wasted while equal-shaped tensors of a training step always share buckets.
    /// </summary>
    public static ulong RoundSize(ulong bytes)
    {
        if (bytes <= MinBlock) return MinBlock;
        if (bytes <= SmallLimit) return (bytes + MinBlock - 1) / MinBlock * MinBlock;
        int log2 = 63 - System.Numerics.BitOperations.LeadingZeroCount(bytes);
        ulong step = 1UL << (log2 - 2);
        return (bytes + step - 1) / step * step;
    }

    /// <summary>Returns a device pointer to at least <paramref name="bytes"/> bytes (0 for an empty request).</summary>
    public ulong Allocate(ulong bytes, string? context = null)
    {
        if (bytes == 0) return 0;
        ulong size = RoundSize(bytes);
        lock (_lock)
        {
            if (_free.TryGetValue(size, out var stack) && stack.Count > 0)
            {
                ulong p = stack.Pop();
                _cached -= size;
                _hits++;
                return Track(p, size);
            }
            int rc = source.Allocate(size, out ulong ptr);
            if (rc == CuResult.OutOfMemory)
            {
                ulong cachedBefore = _cached;
                ReleaseCachedLocked();
                rc = source.Allocate(size, out ptr);
                if (rc == CuResult.OutOfMemory)
                {
                    var (free, total) = source.MemoryInfo();
                    throw new CudaOutOfMemoryException(size, _allocated, cachedBefore, free, total, context);
                }
            }
            if (rc != CuResult.Success) throw CudaCheck.DriverError(rc, "cuMemAlloc_v2", $"{size} bytes{(context is null ? "" : ", " + context)}");
            _driverAllocs++;
            return Track(ptr, size);
        }
    }

    private ulong Track(ulong p, ulong size)
    {
        _live.Add(p, size);
        _allocated += size;
        if (_allocated > _peak) _peak = _allocated;
        return p;
    }

    /// <summary>Returns a block to the cache. Pointer 0 is ignored; an unknown pointer throws.</summary>
    public void Free(ulong pointer)
    {
        if (pointer == 0) return;
        lock (_lock)
        {
            if (!_live.Remove(pointer, out ulong size))
                throw new ArgumentException($"Pointer 0x{pointer:x} was not allocated by this allocator or was already freed.", nameof(pointer));
            _allocated -= size;
            if (!_free.TryGetValue(size, out var stack)) _free[size] = stack = new Stack<ulong>();
            stack.Push(pointer);
            _cached += size;
        }
    }

    /// <summary>Hands every cached (free) block back to the driver, after waiting for device work.</summary>
    public void EmptyCache()
    {
        lock (_lock) ReleaseCachedLocked();
    }

    private void ReleaseCachedLocked()
    {
        if (_cached == 0) return;
        source.Synchronize();
        foreach (var stack in _free.Values)
            while (stack.Count > 0) source.Free(stack.Pop());
        _free.Clear();
        _cached = 0;
    }

    /// <summary>Size of the block behind a live pointer (bucket-rounded).</summary>
    public ulong BlockSize(ulong pointer)
    {
        lock (_lock)
            return _live.TryGetValue(pointer, out var s) ? s : throw new ArgumentException($"Pointer 0x{pointer:x} is not live in this allocator.", nameof(pointer));
    }

    public CudaAllocatorStats Stats
    {
        get { lock (_lock) return new(_allocated, _cached, _peak, _driverAllocs, _hits, _live.Count); }
    }

    /// <summary>Sets the peak to the current allocated bytes (for per-phase peaks).</summary>
    public void ResetPeak()
    {
        lock (_lock) _peak = _allocated;
    }
}
