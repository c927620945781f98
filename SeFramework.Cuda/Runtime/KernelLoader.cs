// Loads our embedded PTX modules (SeFramework.Cuda/Kernels/*.ptx) lazily, one module per .cu file, and caches kernel handles.
// PTX goes through cuModuleLoadDataEx with an error-log buffer, so JIT failures come back with ptxas's message.
using System.Collections.Concurrent;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;
using SeFramework.Cuda.Native;

namespace SeFramework.Cuda.Runtime;

/// <summary>Per-device cache of loaded PTX modules and their kernel functions.</summary>
public sealed unsafe class KernelLoader : IDisposable
{
    private const string ResourcePrefix = "SeFramework.Cuda.Kernels.";
    private readonly CudaDevice _device;
    private readonly ConcurrentDictionary<string, Lazy<nint>> _modules = new();
    private readonly ConcurrentDictionary<(string, string), nint> _functions = new();

    internal KernelLoader(CudaDevice device) => _device = device;

    /// <summary>Names of the embedded PTX modules ("axpy", "gap", ...).</summary>
    public static IReadOnlyList<string> ModuleNames { get; } = typeof(KernelLoader).Assembly.GetManifestResourceNames()
        .Where(n => n.StartsWith(ResourcePrefix, StringComparison.Ordinal) && n.EndsWith(".ptx", StringComparison.Ordinal))
        .Select(n => n[ResourcePrefix.Length..^4]).Order().ToArray();

    /// <summary>The PTX text of an embedded module.</summary>
    public static string ReadPtx(string module)
    {
        using var s = typeof(KernelLoader).Assembly.GetManifestResourceStream(ResourcePrefix + module + ".ptx")
            ?? throw new ArgumentException($"No embedded PTX module '{module}'; available: {string.Join(", ", ModuleNames)}.", nameof(module));
        using var r = new StreamReader(s, Encoding.UTF8);
        return r.ReadToEnd();
    }

    /// <summary>The CUfunction for <paramref name="kernel"/> in <paramref name="module"/>, loading the module on first use.</summary>
    public nint Function(string module, string kernel) =>
        _functions.GetOrAdd((module, kernel), key =>
        {
            nint mod = _modules.GetOrAdd(key.Item1, m => new Lazy<nint>(() => LoadPtx(_device, ReadPtx(m), $"embedded module {m}.ptx"))).Value;
            _device.MakeCurrent();
            CudaCheck.Driver(CuDriver.ModuleGetFunction(out var fn, mod, key.Item2), "cuModuleGetFunction", $"kernel {key.Item2} in {key.Item1}.ptx");
            return fn;
        });

    /// <summary>JIT-loads PTX text into a module on the device's context; failures carry the JIT error log.</summary>
    public static nint LoadPtx(CudaDevice device, string ptx, string what)
    {
        device.MakeCurrent();
        byte[] image = Encoding.UTF8.GetBytes(ptx + "\0"); // cuModuleLoadData* needs NUL-terminated PTX text
        const int logSize = 16384;
        byte* log = stackalloc byte[logSize];
        log[0] = 0;
        CuJitOption* opts = stackalloc CuJitOption[2];
        void** vals = stackalloc void*[2];
        opts[0] = CuJitOption.ErrorLogBuffer; vals[0] = log;
        opts[1] = CuJitOption.ErrorLogBufferSizeBytes; vals[1] = (void*)(nint)logSize; // integer options travel in the pointer slot
        int rc;
        nint module;
        fixed (byte* p = image) rc = CuDriver.ModuleLoadDataEx(out module, p, 2, opts, vals);
        if (rc != CuResult.Success)
        {
            var jitLog = Marshal.PtrToStringUTF8((nint)log)?.Trim();
            var hint = rc == CuResult.UnsupportedPtxVersion ? " The PTX is newer than the driver supports; compile for an older ISA or a cubin." : "";
            throw CudaCheck.DriverError(rc, "cuModuleLoadDataEx", $"{what}{hint}{(string.IsNullOrEmpty(jitLog) ? "" : "; JIT log: " + jitLog)}");
        }
        return module;
    }

    public void Dispose()
    {
        foreach (var m in _modules.Values.Where(m => m.IsValueCreated))
        {
            _device.MakeCurrent();
            CuDriver.ModuleUnload(m.Value);
        }
        _modules.Clear();
        _functions.Clear();
    }
}

/// <summary>Grid and block sizes for every kernel, chosen in one place.</summary>
public static class LaunchConfig
{
    /// <summary>Threads per block for all our kernels (8 warps: good occupancy, and 8 planes per block for warp-per-plane kernels).</summary>
    public const int BlockSize = 256;
    public const int WarpsPerBlock = BlockSize / 32;
    /// <summary>Planes of at most this many elements get a warp each; larger ones a block each (as in OneFlow's softmax).</summary>
    public const int SmallPlaneLimit = 1024;
    /// <summary>Grid-stride kernels launch at most this many blocks per SM (8 resident x 4 waves); more only adds scheduling cost.</summary>
    public const int BlocksPerSm = 32;

    /// <summary>Blocks for a flat grid-stride loop over <paramref name="work"/> items.</summary>
    public static uint FlatBlocks(long work, int multiprocessors) =>
        (uint)Math.Max(1, Math.Min((work + BlockSize - 1) / BlockSize, (long)multiprocessors * BlocksPerSm));

    /// <summary>Blocks when each warp takes one row (plane) at a time.</summary>
    public static uint WarpPerRowBlocks(long rows, int multiprocessors) =>
        (uint)Math.Max(1, Math.Min((rows + WarpsPerBlock - 1) / WarpsPerBlock, (long)multiprocessors * BlocksPerSm));

    /// <summary>Blocks when each block takes one row (plane) at a time.</summary>
    public static uint BlockPerRowBlocks(long rows, int multiprocessors) =>
        (uint)Math.Max(1, Math.Min(rows, (long)multiprocessors * BlocksPerSm));

    /// <summary>float4 paths need planes of a multiple of 4 elements and 16-byte aligned pointers (0 = unused pointer).</summary>
    public static bool CanUseVec4(long hw, params ReadOnlySpan<ulong> pointers)
    {
        if (hw % 4 != 0) return false;
        foreach (var p in pointers) if (p % 16 != 0) return false;
        return true;
    }
}
