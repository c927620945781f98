// CUDA streams (ordered queues of device work) and events (markers for ordering and timing).
using SeFramework.Cuda.Native;

namespace SeFramework.Cuda.Runtime;

/// <summary>A CUDA stream on one device. Non-blocking by default: no implicit ordering with the legacy default stream.</summary>
public sealed class CudaStream : IDisposable
{
    private readonly CudaDevice _device;

    public CudaStream(CudaDevice device, bool nonBlocking = true)
    {
        _device = device;
        device.MakeCurrent();
        CudaCheck.Driver(CuDriver.StreamCreate(out var s, nonBlocking ? 1u : 0u), "cuStreamCreate");
        Handle = s;
    }

    /// <summary>The CUstream (also usable as a cudaStream_t for cuBLAS and cuDNN).</summary>
    public nint Handle { get; private set; }

    public void Synchronize()
    {
        _device.MakeCurrent();
        CudaCheck.Driver(CuDriver.StreamSynchronize(Handle), "cuStreamSynchronize");
    }

    /// <summary>Makes later work on this stream wait until <paramref name="ev"/> has completed.</summary>
    public void Wait(CudaEvent ev)
    {
        _device.MakeCurrent();
        CudaCheck.Driver(CuDriver.StreamWaitEvent(Handle, ev.Handle, 0), "cuStreamWaitEvent");
    }

    public void Dispose()
    {
        if (Handle == 0) return;
        _device.MakeCurrent();
        CudaCheck.Driver(CuDriver.StreamDestroy(Handle), "cuStreamDestroy_v2");
        Handle = 0;
    }
}

/// <summary>A CUDA event; with timing enabled, <see cref="ElapsedMilliseconds"/> measures device time between two recorded events.</summary>
public sealed class CudaEvent : IDisposable
{
    private const uint DisableTiming = 2;
    private readonly CudaDevice _device;

    public CudaEvent(CudaDevice device, bool timing = true)
    {
        _device = device;
        device.MakeCurrent();
        CudaCheck.Driver(CuDriver.EventCreate(out var e, timing ? 0u : DisableTiming), "cuEventCreate");
        Handle = e;
    }

    public nint Handle { get; private set; }

    public void Record(CudaStream stream)
    {
        _device.MakeCurrent();
        CudaCheck.Driver(CuDriver.EventRecord(Handle, stream.Handle), "cuEventRecord");
    }

    public void Synchronize()
    {
        _device.MakeCurrent();
        CudaCheck.Driver(CuDriver.EventSynchronize(Handle), "cuEventSynchronize");
    }

    /// <summary>Milliseconds between two recorded (and completed) events.</summary>
    public static float ElapsedMilliseconds(CudaEvent start, CudaEvent end)
    {
        end.Synchronize();
        CudaCheck.Driver(CuDriver.EventElapsedTime(out float ms, start.Handle, end.Handle), "cuEventElapsedTime");
        return ms;
    }

    public void Dispose()
    {
        if (Handle == 0) return;
        _device.MakeCurrent();
        CudaCheck.Driver(CuDriver.EventDestroy(Handle), "cuEventDestroy_v2");
        Handle = 0;
    }
}
