// One CUDA device and its primary context (retained once per process, made current on every calling thread), its properties,
// its caching allocator and its default compute stream. Every CUDA entry point goes through CudaDevice.Get, which fails at once
// with CudaAvailability's reason where there is no usable GPU.
using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using SeFramework.Cuda.Native;

namespace SeFramework.Cuda.Runtime;

/// <summary>A CUDA device with its retained primary context. Obtain with <see cref="Get"/>; shared by the whole process.</summary>
public sealed unsafe class CudaDevice : IDisposable
{
    private static readonly ConcurrentDictionary<int, Lazy<CudaDevice>> Devices = new();
    [ThreadStatic] private static nint _currentContext;

    private readonly Lazy<CudaCachingAllocator> _allocator;
    private readonly Lazy<CudaStream> _stream;
    private readonly Lazy<KernelLoader> _kernels;
    private bool _disposed;

    private CudaDevice(int ordinal)
    {
        Ordinal = ordinal;
        CudaCheck.Driver(CuDriver.DeviceGet(out int dev, ordinal), "cuDeviceGet", $"ordinal {ordinal}");
        Handle = dev;
        CudaCheck.Driver(CuDriver.DevicePrimaryCtxRetain(out var ctx, dev), "cuDevicePrimaryCtxRetain", $"device {ordinal}");
        Context = ctx;
        MakeCurrent();
        byte* name = stackalloc byte[256];
        CudaCheck.Driver(CuDriver.DeviceGetName(name, 256, dev), "cuDeviceGetName");
        Name = Marshal.PtrToStringUTF8((nint)name) ?? "?";
        ComputeCapability = (Attribute(CuDeviceAttribute.ComputeCapabilityMajor), Attribute(CuDeviceAttribute.ComputeCapabilityMinor));
        MultiprocessorCount = Attribute(CuDeviceAttribute.MultiprocessorCount);
        CudaCheck.Driver(CuDriver.DeviceTotalMem(out var total, dev), "cuDeviceTotalMem_v2");
        TotalMemory = total;
        // Peak DRAM bandwidth = 2 (DDR) * memory clock (kHz) * bus width (bits) / 8.
        PeakBandwidthGBs = 2.0 * Attribute(CuDeviceAttribute.MemoryClockRate) * 1e3 * (Attribute(CuDeviceAttribute.GlobalMemoryBusWidth) / 8.0) / 1e9;
        _allocator = new(() => new CudaCachingAllocator(new DriverMemorySource(this)));
        _stream = new(() => new CudaStream(this));
        _kernels = new(() => new KernelLoader(this));
    }

    /// <summary>The device with this ordinal; throws <see cref="CudaUnavailableException"/> with the reason when CUDA is unusable.</summary>
    public static CudaDevice Get(int ordinal = 0)
    {
        CudaAvailability.ThrowIfUnavailable();
        CuDriver.DeviceGetCount(out int count);
        if (ordinal < 0 || ordinal >= count)
            throw new ArgumentOutOfRangeException(nameof(ordinal), $"CUDA device {ordinal} does not exist; this machine has {count} (0..{count - 1}).");
        var device = Devices.GetOrAdd(ordinal, o => new Lazy<CudaDevice>(() => new CudaDevice(o))).Value;
        device.MakeCurrent();
        return device;
    }

    public int Ordinal { get; }
    /// <summary>CUdevice handle.</summary>
    public int Handle { get; }
    /// <summary>The retained primary context (the one the CUDA runtime, cuBLAS and cuDNN use too).</summary>
    public nint Context { get; }
    public string Name { get; }
    public (int Major, int Minor) ComputeCapability { get; }
    public int MultiprocessorCount { get; }
    public ulong TotalMemory { get; }
    public double PeakBandwidthGBs { get; }

    /// <summary>The caching allocator for this device.</summary>
    public CudaCachingAllocator Allocator => _allocator.Value;
    /// <summary>The stream all backend work is ordered on (non-blocking with respect to the legacy default stream).</summary>
    public CudaStream Stream => _stream.Value;
    /// <summary>Our embedded PTX modules, loaded lazily.</summary>
    public KernelLoader Kernels => _kernels.Value;

    /// <summary>Makes the primary context current on the calling thread (cheap after the first call on a thread).</summary>
    public void MakeCurrent()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_currentContext == Context) return;
        CudaCheck.Driver(CuDriver.CtxSetCurrent(Context), "cuCtxSetCurrent", $"device {Ordinal}");
        _currentContext = Context;
    }

    public int Attribute(CuDeviceAttribute attribute)
    {
        CudaCheck.Driver(CuDriver.DeviceGetAttribute(out int v, attribute, Handle), "cuDeviceGetAttribute", attribute.ToString());
        return v;
    }

    /// <summary>Waits for all work on the device's context.</summary>
    public void Synchronize()
    {
        MakeCurrent();
        CudaCheck.Driver(CuDriver.CtxSynchronize(), "cuCtxSynchronize");
    }

    /// <summary>Free and total device memory as the driver reports them.</summary>
    public (ulong Free, ulong Total) MemoryInfo()
    {
        MakeCurrent();
        CudaCheck.Driver(CuDriver.MemGetInfo(out var free, out var total), "cuMemGetInfo_v2");
        return (free, total);
    }

    /// <summary>Copies host data to device memory, ordered on <paramref name="stream"/> (default: <see cref="Stream"/>); returns when done.</summary>
    public void CopyToDevice<T>(ReadOnlySpan<T> source, ulong destination, CudaStream? stream = null) where T : unmanaged
    {
        MakeCurrent();
        stream ??= Stream;
        fixed (T* p = source)
        {
            CudaCheck.Driver(CuDriver.MemcpyHtoDAsync(destination, p, (nuint)(source.Length * sizeof(T)), stream.Handle),
                "cuMemcpyHtoDAsync_v2", $"{source.Length} x {typeof(T).Name}");
            stream.Synchronize();
        }
    }

    /// <summary>Copies device memory to host after the work already queued on <paramref name="stream"/> (default: <see cref="Stream"/>).</summary>
    public void CopyToHost<T>(ulong source, Span<T> destination, CudaStream? stream = null) where T : unmanaged
    {
        MakeCurrent();
        stream ??= Stream;
        fixed (T* p = destination)
        {
            CudaCheck.Driver(CuDriver.MemcpyDtoHAsync(p, source, (nuint)(destination.Length * sizeof(T)), stream.Handle),
                "cuMemcpyDtoHAsync_v2", $"{destination.Length} x {typeof(T).Name}");
            stream.Synchronize();
        }
    }

    public override string ToString() =>
        $"cuda:{Ordinal} {Name} (sm_{ComputeCapability.Major}{ComputeCapability.Minor}, {MultiprocessorCount} SMs, " +
        $"{TotalMemory / (double)(1UL << 30):0.0} GiB, peak {PeakBandwidthGBs:0} GB/s)";

    /// <summary>Releases this device's kernels, cache and stream and the primary-context reference. Get() afterwards makes a fresh one.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        MakeCurrent();
        if (_kernels.IsValueCreated) _kernels.Value.Dispose();
        if (_allocator.IsValueCreated) _allocator.Value.EmptyCache();
        if (_stream.IsValueCreated) _stream.Value.Dispose();
        _disposed = true;
        Devices.TryRemove(Ordinal, out _);
        _currentContext = 0;
        CudaCheck.Driver(CuDriver.DevicePrimaryCtxRelease(Handle), "cuDevicePrimaryCtxRelease_v2");
    }
}
