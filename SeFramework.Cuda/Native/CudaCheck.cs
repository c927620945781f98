// Turns status codes from the driver, cuBLAS, cuDNN and NVRTC into CudaException (API name, status name and text, op context).
using System.Runtime.InteropServices;

namespace SeFramework.Cuda.Native;

/// <summary>Status checks for every native call: <c>CudaCheck.Driver(CuDriver.MemAlloc(out p, n), "cuMemAlloc_v2", "x: (N,C,H,W)")</c>.</summary>
public static unsafe class CudaCheck
{
    /// <summary>Throws unless a CUresult is CUDA_SUCCESS.</summary>
    public static void Driver(int status, string api, string? context = null)
    {
        if (status != CuResult.Success) throw DriverError(status, api, context);
    }

    public static CudaException DriverError(int status, string api, string? context = null)
    {
        var (name, text) = DriverStatusName(status);
        return new CudaException(api, status, name, text, context);
    }

    /// <summary>Name and description of a CUresult from cuGetErrorName / cuGetErrorString.</summary>
    public static (string Name, string? Text) DriverStatusName(int status)
    {
        string name = $"CUresult {status}";
        string? text = null;
        try
        {
            if (CuDriver.GetErrorName(status, out var n) == 0 && n != null) name = Marshal.PtrToStringUTF8((nint)n) ?? name;
            if (CuDriver.GetErrorString(status, out var s) == 0 && s != null) text = Marshal.PtrToStringUTF8((nint)s);
        }
        catch (DllNotFoundException) { }
        return (name, text);
    }

    /// <summary>Throws unless a cublasStatus_t is CUBLAS_STATUS_SUCCESS.</summary>
    public static void Blas(int status, string api, string? context = null)
    {
        if (status == 0) return;
        string name = BlasStatusFallback(status);
        string? text = null;
        try
        {
            name = Marshal.PtrToStringUTF8((nint)CuBlas.GetStatusName(status)) ?? name;
            text = Marshal.PtrToStringUTF8((nint)CuBlas.GetStatusString(status));
        }
        catch (EntryPointNotFoundException) { }
        throw new CudaException(api, status, name, text, context);
    }

    internal static string BlasStatusFallback(int status) => status switch
    {
        1 => "CUBLAS_STATUS_NOT_INITIALIZED",
        3 => "CUBLAS_STATUS_ALLOC_FAILED",
        7 => "CUBLAS_STATUS_INVALID_VALUE",
        8 => "CUBLAS_STATUS_ARCH_MISMATCH",
        11 => "CUBLAS_STATUS_MAPPING_ERROR",
        13 => "CUBLAS_STATUS_EXECUTION_FAILED",
        14 => "CUBLAS_STATUS_INTERNAL_ERROR",
        15 => "CUBLAS_STATUS_NOT_SUPPORTED",
        16 => "CUBLAS_STATUS_LICENSE_ERROR",
        _ => $"cublasStatus {status}",
    };

    /// <summary>Throws unless a cudnnStatus_t is CUDNN_STATUS_SUCCESS; adds cudnnGetLastErrorString's detail when there is one.</summary>
    public static void Dnn(int status, string api, string? context = null)
    {
        if (status == 0) return;
        string name = $"cudnnStatus {status}";
        string? text = null;
        try
        {
            name = Marshal.PtrToStringUTF8((nint)CuDnn.GetErrorString(status)) ?? name;
            byte* buf = stackalloc byte[1024];
            buf[0] = 0;
            CuDnn.GetLastErrorString(buf, 1024);
            text = Marshal.PtrToStringUTF8((nint)buf);
        }
        catch (EntryPointNotFoundException) { }
        throw new CudaException(api, status, name, string.IsNullOrWhiteSpace(text) ? null : text, context);
    }

    /// <summary>Throws unless an nvrtcResult is NVRTC_SUCCESS.</summary>
    public static void Rtc(int status, string api, string? context = null)
    {
        if (status == 0) return;
        var name = Marshal.PtrToStringUTF8((nint)Nvrtc.GetErrorString(status)) ?? $"nvrtcResult {status}";
        throw new CudaException(api, status, name, null, context);
    }
}
