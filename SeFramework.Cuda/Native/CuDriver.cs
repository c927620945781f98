// Driver API bindings (libcuda.so.1), restated from cuda.h 12.x. EntryPoint is always the exported symbol: the `_v2` ones where
// cuda.h #defines the plain name to them (the unsuffixed exports keep the legacy 32-bit ABI and would corrupt data).
using System.Runtime.InteropServices;

namespace SeFramework.Cuda.Native;

/// <summary>Raw CUDA driver API. Handles are <c>nint</c> (CUcontext, CUmodule, CUfunction, CUstream, CUevent, CUmemoryPool);
/// device pointers are <c>ulong</c> (CUdeviceptr); size_t is <c>nuint</c>. Every function returns a CUresult (0 = success).</summary>
public static unsafe partial class CuDriver
{
    static CuDriver() => NativeLibraryResolver.EnsureRegistered();

    private const string Lib = NativeLibraryResolver.Driver;

    // Initialisation, version, errors
    [LibraryImport(Lib, EntryPoint = "cuInit")] public static partial int Init(uint flags);
    [LibraryImport(Lib, EntryPoint = "cuDriverGetVersion")] public static partial int DriverGetVersion(out int version);
    [LibraryImport(Lib, EntryPoint = "cuGetErrorName")] public static partial int GetErrorName(int error, out byte* name);
    [LibraryImport(Lib, EntryPoint = "cuGetErrorString")] public static partial int GetErrorString(int error, out byte* text);

    // Devices
    [LibraryImport(Lib, EntryPoint = "cuDeviceGetCount")] public static partial int DeviceGetCount(out int count);
    [LibraryImport(Lib, EntryPoint = "cuDeviceGet")] public static partial int DeviceGet(out int device, int ordinal);
    [LibraryImport(Lib, EntryPoint = "cuDeviceGetName")] public static partial int DeviceGetName(byte* name, int length, int device);
    [LibraryImport(Lib, EntryPoint = "cuDeviceGetAttribute")] public static partial int DeviceGetAttribute(out int value, CuDeviceAttribute attribute, int device);
    [LibraryImport(Lib, EntryPoint = "cuDeviceTotalMem_v2")] public static partial int DeviceTotalMem(out nuint bytes, int device);

    // Primary context (never cuCtxCreate: its signature changed in CUDA 13)
    [LibraryImport(Lib, EntryPoint = "cuDevicePrimaryCtxRetain")] public static partial int DevicePrimaryCtxRetain(out nint context, int device);
    [LibraryImport(Lib, EntryPoint = "cuDevicePrimaryCtxRelease_v2")] public static partial int DevicePrimaryCtxRelease(int device);
    [LibraryImport(Lib, EntryPoint = "cuCtxSetCurrent")] public static partial int CtxSetCurrent(nint context);
    [LibraryImport(Lib, EntryPoint = "cuCtxGetCurrent")] public static partial int CtxGetCurrent(out nint context);
    [LibraryImport(Lib, EntryPoint = "cuCtxSynchronize")] public static partial int CtxSynchronize();

    // Memory
    [LibraryImport(Lib, EntryPoint = "cuMemGetInfo_v2")] public static partial int MemGetInfo(out nuint free, out nuint total);
    [LibraryImport(Lib, EntryPoint = "cuMemAlloc_v2")] public static partial int MemAlloc(out ulong devicePtr, nuint bytes);
    [LibraryImport(Lib, EntryPoint = "cuMemFree_v2")] public static partial int MemFree(ulong devicePtr);
    [LibraryImport(Lib, EntryPoint = "cuMemAllocHost_v2")] public static partial int MemAllocHost(out nint hostPtr, nuint bytes);
    [LibraryImport(Lib, EntryPoint = "cuMemFreeHost")] public static partial int MemFreeHost(nint hostPtr);
    [LibraryImport(Lib, EntryPoint = "cuMemcpyHtoD_v2")] public static partial int MemcpyHtoD(ulong dst, void* src, nuint bytes);
    [LibraryImport(Lib, EntryPoint = "cuMemcpyDtoH_v2")] public static partial int MemcpyDtoH(void* dst, ulong src, nuint bytes);
    [LibraryImport(Lib, EntryPoint = "cuMemcpyDtoD_v2")] public static partial int MemcpyDtoD(ulong dst, ulong src, nuint bytes);
    [LibraryImport(Lib, EntryPoint = "cuMemcpyHtoDAsync_v2")] public static partial int MemcpyHtoDAsync(ulong dst, void* src, nuint bytes, nint stream);
    [LibraryImport(Lib, EntryPoint = "cuMemcpyDtoHAsync_v2")] public static partial int MemcpyDtoHAsync(void* dst, ulong src, nuint bytes, nint stream);
    [LibraryImport(Lib, EntryPoint = "cuMemcpyDtoDAsync_v2")] public static partial int MemcpyDtoDAsync(ulong dst, ulong src, nuint bytes, nint stream);
    [LibraryImport(Lib, EntryPoint = "cuMemsetD8_v2")] public static partial int MemsetD8(ulong dst, byte value, nuint count);
    [LibraryImport(Lib, EntryPoint = "cuMemsetD32_v2")] public static partial int MemsetD32(ulong dst, uint value, nuint count);
    [LibraryImport(Lib, EntryPoint = "cuMemsetD8Async")] public static partial int MemsetD8Async(ulong dst, byte value, nuint count, nint stream);
    [LibraryImport(Lib, EntryPoint = "cuMemsetD32Async")] public static partial int MemsetD32Async(ulong dst, uint value, nuint count, nint stream);

    // Stream-ordered allocation and memory pools (CUDA 11.2+)
    [LibraryImport(Lib, EntryPoint = "cuMemAllocAsync")] public static partial int MemAllocAsync(out ulong devicePtr, nuint bytes, nint stream);
    [LibraryImport(Lib, EntryPoint = "cuMemFreeAsync")] public static partial int MemFreeAsync(ulong devicePtr, nint stream);
    [LibraryImport(Lib, EntryPoint = "cuDeviceGetDefaultMemPool")] public static partial int DeviceGetDefaultMemPool(out nint pool, int device);
    [LibraryImport(Lib, EntryPoint = "cuMemPoolSetAttribute")] public static partial int MemPoolSetAttribute(nint pool, CuMemPoolAttribute attribute, void* value);
    [LibraryImport(Lib, EntryPoint = "cuMemPoolGetAttribute")] public static partial int MemPoolGetAttribute(nint pool, CuMemPoolAttribute attribute, void* value);
    [LibraryImport(Lib, EntryPoint = "cuMemPoolTrimTo")] public static partial int MemPoolTrimTo(nint pool, nuint minBytesToKeep);

    // Streams and events
    [LibraryImport(Lib, EntryPoint = "cuStreamCreate")] public static partial int StreamCreate(out nint stream, uint flags);
    [LibraryImport(Lib, EntryPoint = "cuStreamSynchronize")] public static partial int StreamSynchronize(nint stream);
    [LibraryImport(Lib, EntryPoint = "cuStreamWaitEvent")] public static partial int StreamWaitEvent(nint stream, nint ev, uint flags);
    [LibraryImport(Lib, EntryPoint = "cuStreamDestroy_v2")] public static partial int StreamDestroy(nint stream);
    [LibraryImport(Lib, EntryPoint = "cuEventCreate")] public static partial int EventCreate(out nint ev, uint flags);
    [LibraryImport(Lib, EntryPoint = "cuEventRecord")] public static partial int EventRecord(nint ev, nint stream);
    [LibraryImport(Lib, EntryPoint = "cuEventSynchronize")] public static partial int EventSynchronize(nint ev);
    [LibraryImport(Lib, EntryPoint = "cuEventElapsedTime")] public static partial int EventElapsedTime(out float milliseconds, nint start, nint end);
    [LibraryImport(Lib, EntryPoint = "cuEventDestroy_v2")] public static partial int EventDestroy(nint ev);

    // Modules and launches. For PTX, `image` must be NUL-terminated text.
    [LibraryImport(Lib, EntryPoint = "cuModuleLoadData")] public static partial int ModuleLoadData(out nint module, void* image);
    [LibraryImport(Lib, EntryPoint = "cuModuleLoadDataEx")]
    public static partial int ModuleLoadDataEx(out nint module, void* image, uint numOptions, CuJitOption* options, void** optionValues);
    [LibraryImport(Lib, EntryPoint = "cuModuleGetFunction", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int ModuleGetFunction(out nint function, nint module, string name);
    [LibraryImport(Lib, EntryPoint = "cuModuleUnload")] public static partial int ModuleUnload(nint module);
    [LibraryImport(Lib, EntryPoint = "cuLaunchKernel")]
    public static partial int LaunchKernel(nint function, uint gridX, uint gridY, uint gridZ, uint blockX, uint blockY, uint blockZ,
        uint sharedMemBytes, nint stream, void** kernelParams, void** extra);
}

/// <summary>CUdevice_attribute values used here (cuda.h).</summary>
public enum CuDeviceAttribute
{
    MaxThreadsPerBlock = 1,
    WarpSize = 10,
    MultiprocessorCount = 16,
    MemoryClockRate = 36,
    GlobalMemoryBusWidth = 37,
    L2CacheSize = 38,
    MaxThreadsPerMultiprocessor = 39,
    ComputeCapabilityMajor = 75,
    ComputeCapabilityMinor = 76,
    MemoryPoolsSupported = 115,
}

/// <summary>CUmemPool_attribute values (cuda.h).</summary>
public enum CuMemPoolAttribute
{
    ReleaseThreshold = 4,
    ReservedMemCurrent = 5,
    ReservedMemHigh = 6,
    UsedMemCurrent = 7,
    UsedMemHigh = 8,
}

/// <summary>CUjit_option values used for diagnostics when loading PTX.</summary>
public enum CuJitOption
{
    InfoLogBuffer = 3,
    InfoLogBufferSizeBytes = 4,
    ErrorLogBuffer = 5,
    ErrorLogBufferSizeBytes = 6,
    LogVerbose = 12,
}

/// <summary>CUresult values this code reacts to; others are reported by name through cuGetErrorName.</summary>
public static class CuResult
{
    public const int Success = 0;
    public const int OutOfMemory = 2;
    public const int NotInitialized = 3;
    public const int NoDevice = 100;
    public const int InvalidPtx = 218;
    public const int UnsupportedPtxVersion = 222;
    public const int NotFound = 500;
    public const int NotReady = 600;
    public const int IllegalAddress = 700;
    public const int LaunchFailed = 719;
}
