// Errors raised by the CUDA layer: every failed driver / cuBLAS / cuDNN / NVRTC call becomes a CudaException naming
// the API, the status name and text, and the operation context (op name, shapes) the caller passed.
namespace SeFramework.Cuda.Native;

/// <summary>A CUDA, cuBLAS, cuDNN or NVRTC call returned an error status.</summary>
public class CudaException : Exception
{
    public CudaException(string api, int status, string statusName, string? statusText, string? context)
        : base(Format(api, status, statusName, statusText, context))
    {
        Api = api;
        Status = status;
        StatusName = statusName;
        Context = context;
    }

    public CudaException(string message) : base(message)
    {
        Api = "";
        StatusName = "";
    }

    /// <summary>The exported function that failed, e.g. <c>cuMemAlloc_v2</c>.</summary>
    public string Api { get; }
    /// <summary>The numeric status (CUresult, cublasStatus_t, cudnnStatus_t or nvrtcResult).</summary>
    public int Status { get; }
    /// <summary>The status name, e.g. <c>CUDA_ERROR_OUT_OF_MEMORY</c>.</summary>
    public string StatusName { get; }
    /// <summary>What the caller was doing (op name and shapes), if given.</summary>
    public string? Context { get; }

    private static string Format(string api, int status, string name, string? text, string? context)
    {
        var msg = $"{api} failed with {name} ({status})";
        if (!string.IsNullOrEmpty(text) && text != name) msg += $": {text}";
        if (!string.IsNullOrEmpty(context)) msg += $" [{context}]";
        return msg;
    }
}

/// <summary>The device ran out of memory even after the allocator released its cache and retried.</summary>
public sealed class CudaOutOfMemoryException : CudaException
{
    public CudaOutOfMemoryException(ulong requested, ulong allocated, ulong cached, ulong free, ulong total, string? context)
        : base($"CUDA out of memory: tried to allocate {Bytes(requested)}; {Bytes(allocated)} allocated by this process, " +
               $"{Bytes(cached)} cached (already released and retried), {Bytes(free)} free of {Bytes(total)} on the device" +
               (context is null ? "" : $" [{context}]") + ". Reduce the batch size or free tensors.")
    {
        Requested = requested;
        Allocated = allocated;
        Cached = cached;
        Free = free;
    }

    public ulong Requested { get; }
    public ulong Allocated { get; }
    public ulong Cached { get; }
    public ulong Free { get; }

    internal static string Bytes(ulong b) => b switch
    {
        >= 1UL << 30 => $"{b / (double)(1UL << 30):0.00} GiB",
        >= 1UL << 20 => $"{b / (double)(1UL << 20):0.00} MiB",
        >= 1UL << 10 => $"{b / 1024.0:0.0} KiB",
        _ => $"{b} B",
    };
}

/// <summary>CUDA is not usable in this process (no driver library, no device, or cuInit failed); the message says which.</summary>
public sealed class CudaUnavailableException(string reason) : CudaException($"CUDA is not available: {reason}");
