// CudaStorage: device memory behind CUDA tensors, taken from the device's caching allocator and returned to its cache on Dispose.
// Finalizers never touch the allocator or CUDA: they queue the pointer, and the queue is drained by the next allocation or Dispose
// on a user thread (see DrainFinalized).
using System.Collections.Concurrent;
using SeFramework.Cuda.Runtime;

namespace SeFramework.Cuda.Backend;

/// <summary>Device memory of <see cref="Storage.Length"/> elements on one CUDA device; counted in the allocator's statistics
/// and in <see cref="LiveStorages"/>/<see cref="LiveBytes"/>.</summary>
public sealed class CudaStorage : Storage
{
    // Pointers of storages that were finalized instead of disposed, waiting to go back to their allocator.
    private static readonly ConcurrentQueue<(CudaCachingAllocator Allocator, ulong Pointer)> Finalized = new();
    private static long _liveStorages, _liveBytes;

    private readonly CudaDevice _device;
    private ulong _pointer;
    private int _disposed;

    internal CudaStorage(CudaDevice device, DType dtype, long length, bool zero)
        : base(dtype, length)
    {
        _device = device;
        DrainFinalized();
        _pointer = device.Allocator.Allocate((ulong)Bytes, $"tensor storage of {length} x {dtype}");
        if (zero && Bytes > 0)
        {
            device.MakeCurrent();
            Native.CudaCheck.Driver(Native.CuDriver.MemsetD8Async(_pointer, 0, (nuint)Bytes, device.Stream.Handle), "cuMemsetD8Async", $"zeroing {Bytes} bytes");
        }
        Interlocked.Increment(ref _liveStorages);
        Interlocked.Add(ref _liveBytes, Bytes);
        TensorScope.Track(this);
    }

    public override Device Device => Device.Cuda(_device.Ordinal);
    public override bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    /// <summary>The CUDA device that holds the memory.</summary>
    public CudaDevice CudaDevice => _device;

    /// <summary>The CUdeviceptr of element 0 (0 for an empty storage).</summary>
    public ulong Pointer
    {
        get
        {
            if (IsDisposed) throw new ObjectDisposedException(nameof(CudaStorage), "CUDA tensor storage was disposed");
            return _pointer;
        }
    }

    /// <summary>Live CUDA storages in this process (all devices).</summary>
    public static long LiveStorages => Interlocked.Read(ref _liveStorages);
    /// <summary>Requested bytes of live CUDA storages (the allocator's statistics show the bucket-rounded sizes).</summary>
    public static long LiveBytes => Interlocked.Read(ref _liveBytes);
    /// <summary>Finalized storages whose memory has not been returned yet (returned at the next allocation).</summary>
    public static int PendingFinalizedFrees => Finalized.Count;

    /// <summary>Returns the memory of finalized storages to their allocators. Runs on user threads only (allocation, Dispose).</summary>
    public static void DrainFinalized()
    {
        while (Finalized.TryDequeue(out var f)) f.Allocator.Free(f.Pointer);
    }

    ~CudaStorage()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        // Finalizer thread: no allocator lock, no CUDA call; just hand the pointer over.
        if (_pointer != 0) Finalized.Enqueue((_device.Allocator, _pointer));
        Interlocked.Decrement(ref _liveStorages);
        Interlocked.Add(ref _liveBytes, -Bytes);
    }

    public override void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        GC.SuppressFinalize(this);
        // Stream order makes this safe: work already queued with the block runs before any later work that reuses it.
        _device.Allocator.Free(_pointer);
        _pointer = 0;
        Interlocked.Decrement(ref _liveStorages);
        Interlocked.Add(ref _liveBytes, -Bytes);
        DrainFinalized();
    }
}
