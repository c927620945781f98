// A typed, owned device allocation from a device's caching allocator, with host copies; handy for tests, tools and RawKernel users.
namespace SeFramework.Cuda.Runtime;

/// <summary>Device memory for <see cref="Length"/> values of <typeparamref name="T"/>; Dispose returns it to the allocator's cache.</summary>
public sealed unsafe class CudaBuffer<T> : IDisposable, IDevicePointer where T : unmanaged
{
    public CudaBuffer(CudaDevice device, long length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        Device = device;
        Length = length;
        Pointer = device.Allocator.Allocate((ulong)length * (ulong)sizeof(T), $"CudaBuffer<{typeof(T).Name}>[{length}]");
    }

    /// <summary>A buffer holding a copy of <paramref name="values"/>.</summary>
    public static CudaBuffer<T> From(CudaDevice device, ReadOnlySpan<T> values)
    {
        var b = new CudaBuffer<T>(device, values.Length);
        b.CopyFrom(values);
        return b;
    }

    public CudaDevice Device { get; }
    public long Length { get; }
    /// <summary>The device pointer (CUdeviceptr).</summary>
    public ulong Pointer { get; private set; }
    public ulong Bytes => (ulong)Length * (ulong)sizeof(T);

    public void CopyFrom(ReadOnlySpan<T> values)
    {
        if (values.Length != Length) throw new ArgumentException($"CudaBuffer.CopyFrom: {values.Length} values given for a buffer of {Length}.", nameof(values));
        if (Length > 0) Device.CopyToDevice(values, Pointer);
    }

    public void CopyTo(Span<T> destination)
    {
        if (destination.Length != Length) throw new ArgumentException($"CudaBuffer.CopyTo: destination holds {destination.Length}, buffer {Length}.", nameof(destination));
        if (Length > 0) Device.CopyToHost(Pointer, destination);
    }

    public T[] ToArray()
    {
        var a = new T[Length];
        CopyTo(a);
        return a;
    }

    public void Dispose()
    {
        if (Pointer == 0) return;
        Device.Allocator.Free(Pointer);
        Pointer = 0;
    }
}
