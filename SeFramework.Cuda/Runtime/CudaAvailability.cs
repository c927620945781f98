// Whether CUDA can be used in this process, and if not, why (driver library missing, cuInit failed, no device).
// Used by `--device cuda` error messages, by every CUDA entry point (fail at once with the reason), and by test skips.
using SeFramework.Cuda.Native;

namespace SeFramework.Cuda.Runtime;

/// <summary>Checks once per process whether the CUDA driver loads, initialises and reports a device.</summary>
public static class CudaAvailability
{
    private static readonly Lazy<(bool, string)> Result = new(Probe);

    /// <summary>(true, "device summary") when CUDA is usable; otherwise (false, reason), e.g. "CUDA driver library libcuda.so.1 not found ...".</summary>
    public static (bool Available, string Reason) Check() => Result.Value;

    /// <summary>Throws <see cref="CudaUnavailableException"/> with the reason unless CUDA is usable.</summary>
    public static void ThrowIfUnavailable()
    {
        var (ok, reason) = Result.Value;
        if (!ok) throw new CudaUnavailableException(reason);
    }

    private static (bool, string) Probe()
    {
        if (!NativeLibraryResolver.TryLoad(NativeLibraryResolver.Driver, out _, out var detail)) return (false, detail);
        int rc = CuDriver.Init(0);
        if (rc == CuResult.NoDevice) return (false, "no CUDA device (cuInit returned CUDA_ERROR_NO_DEVICE)");
        if (rc != CuResult.Success)
        {
            var (name, text) = CudaCheck.DriverStatusName(rc);
            return (false, $"cuInit failed with {name} ({rc}): {text}. Is the NVIDIA kernel driver loaded and the device visible?");
        }
        rc = CuDriver.DeviceGetCount(out int count);
        if (rc != CuResult.Success) return (false, $"cuDeviceGetCount failed with {CudaCheck.DriverStatusName(rc).Name}");
        if (count == 0) return (false, "no CUDA device (cuDeviceGetCount returned 0)");
        CuDriver.DriverGetVersion(out int version);
        return (true, $"{count} CUDA device(s), driver API {version / 1000}.{version % 1000 / 10}, library {detail}");
    }
}
