// RawKernel: compile a user's CUDA C source with NVRTC at run time and launch it on device pointers (for kernel research).
// Where NVRTC is newer than the driver, it compiles to a cubin for the device instead of PTX (newer PTX would be rejected, error 222).
using System.Runtime.InteropServices;
using System.Text;
using SeFramework.Cuda.Native;

namespace SeFramework.Cuda.Runtime;

/// <summary>Device memory that can be passed to a kernel as a pointer argument.</summary>
public interface IDevicePointer
{
    ulong Pointer { get; }
}

/// <summary>A user kernel compiled from CUDA C with NVRTC. Mark the kernel <c>extern "C" __global__</c> so its name is not mangled.</summary>
public sealed unsafe class RawKernel : IDisposable
{
    private readonly CudaDevice _device;
    private nint _module;

    /// <summary>Compiles <paramref name="source"/> for <paramref name="device"/> and looks up <paramref name="kernelName"/>.</summary>
    public RawKernel(CudaDevice device, string source, string kernelName, params string[] options)
    {
        _device = device;
        Name = kernelName;
        var (major, minor) = device.ComputeCapability;
        var (rtMajor, rtMinor) = NvrtcVersion();
        CudaCheck.Driver(CuDriver.DriverGetVersion(out int driver), "cuDriverGetVersion");
        bool userArch = options.Any(o => o.StartsWith("--gpu-architecture", StringComparison.Ordinal) || o.StartsWith("-arch", StringComparison.Ordinal));
        bool cubin = rtMajor * 1000 + rtMinor * 10 > driver; // NVRTC newer than the driver: its PTX would not JIT
        var opts = userArch ? options : [.. options, $"--gpu-architecture={(cubin ? "sm" : "compute")}_{major}{minor}"];
        byte[] image = Compile(source, kernelName + ".cu", opts, cubin, out var log);
        Log = log;
        if (cubin)
        {
            device.MakeCurrent();
            fixed (byte* p = image) CudaCheck.Driver(CuDriver.ModuleLoadData(out _module, p), "cuModuleLoadData", $"cubin of RawKernel {kernelName}");
        }
        else
        {
            Ptx = Encoding.UTF8.GetString(image);
            _module = KernelLoader.LoadPtx(device, Ptx, $"RawKernel {kernelName}");
        }
        CudaCheck.Driver(CuDriver.ModuleGetFunction(out var fn, _module, kernelName), "cuModuleGetFunction",
            $"kernel '{kernelName}' (declare it extern \"C\" __global__)");
        Function = fn;
    }

    public string Name { get; }
    /// <summary>The generated PTX (null when a cubin was built).</summary>
    public string? Ptx { get; }
    /// <summary>NVRTC's compile log (warnings).</summary>
    public string Log { get; }
    public nint Function { get; }
    /// <summary>Dynamic shared memory per block for launches.</summary>
    public uint SharedMemoryBytes { get; set; }

    /// <summary>Launches on a 1-D grid. Arguments: ulong/long/int/uint/float/double/short/byte/bool values or <see cref="IDevicePointer"/>s.</summary>
    public void Launch(uint gridX, uint blockX, params object[] args) => Launch((gridX, 1, 1), (blockX, 1, 1), null, args);

    public void Launch((uint X, uint Y, uint Z) grid, (uint X, uint Y, uint Z) block, CudaStream? stream, params object[] args)
    {
        // Every argument occupies an 8-byte aligned slot; kernelParams[i] points at slot i.
        byte* slots = stackalloc byte[Math.Max(1, args.Length) * 8];
        void** ptrs = stackalloc void*[Math.Max(1, args.Length)];
        for (int i = 0; i < args.Length; i++)
        {
            byte* s = slots + i * 8;
            switch (args[i])
            {
                case IDevicePointer b: *(ulong*)s = b.Pointer; break;
                case ulong v: *(ulong*)s = v; break;
                case long v: *(long*)s = v; break;
                case int v: *(int*)s = v; break;
                case uint v: *(uint*)s = v; break;
                case float v: *(float*)s = v; break;
                case double v: *(double*)s = v; break;
                case short v: *(short*)s = v; break;
                case byte v: *s = v; break;
                case bool v: *s = v ? (byte)1 : (byte)0; break;
                default:
                    throw new ArgumentException($"RawKernel {Name}: argument {i} has unsupported type {args[i]?.GetType().Name ?? "null"}; " +
                                                "pass device pointers as ulong or CudaBuffer, scalars as int/uint/long/ulong/float/double.");
            }
            ptrs[i] = s;
        }
        stream ??= _device.Stream;
        _device.MakeCurrent();
        CudaCheck.Driver(CuDriver.LaunchKernel(Function, grid.X, grid.Y, grid.Z, block.X, block.Y, block.Z, SharedMemoryBytes, stream.Handle, ptrs, null),
            "cuLaunchKernel", $"RawKernel {Name} grid ({grid.X}, {grid.Y}, {grid.Z}) block ({block.X}, {block.Y}, {block.Z})");
    }

    /// <summary>NVRTC's version (major, minor).</summary>
    public static (int Major, int Minor) NvrtcVersion()
    {
        CudaCheck.Rtc(Nvrtc.Version(out int major, out int minor), "nvrtcVersion");
        return (major, minor);
    }

    /// <summary>Compiles CUDA C to PTX with NVRTC (needs no GPU). Options as for nvcc, e.g. "--gpu-architecture=compute_70".</summary>
    public static string CompileToPtx(string source, string name = "kernel.cu", params string[] options) =>
        Encoding.UTF8.GetString(Compile(source, name, options, cubin: false, out _));

    private static byte[] Compile(string source, string name, string[] options, bool cubin, out string log)
    {
        byte[] src = Encoding.UTF8.GetBytes(source + "\0"), nm = Encoding.UTF8.GetBytes(name + "\0");
        var optBytes = options.Select(o => Encoding.UTF8.GetBytes(o + "\0")).ToArray();
        var handles = optBytes.Select(b => GCHandle.Alloc(b, GCHandleType.Pinned)).ToArray();
        nint prog = 0;
        try
        {
            byte** optPtrs = stackalloc byte*[Math.Max(1, optBytes.Length)];
            for (int i = 0; i < handles.Length; i++) optPtrs[i] = (byte*)handles[i].AddrOfPinnedObject();
            fixed (byte* s = src, n = nm)
                CudaCheck.Rtc(Nvrtc.CreateProgram(out prog, s, n, 0, null, null), "nvrtcCreateProgram", name);
            int rc = Nvrtc.CompileProgram(prog, optBytes.Length, optPtrs);
            log = ProgramLog(prog);
            CudaCheck.Rtc(rc, "nvrtcCompileProgram", $"{name} with [{string.Join(" ", options)}]{(log.Length > 0 ? ":\n" + log : "")}");
            nuint size;
            if (cubin) CudaCheck.Rtc(Nvrtc.GetCubinSize(prog, out size), "nvrtcGetCUBINSize", name);
            else CudaCheck.Rtc(Nvrtc.GetPtxSize(prog, out size), "nvrtcGetPTXSize", name);
            var result = new byte[(int)size];
            fixed (byte* r = result)
            {
                if (cubin) CudaCheck.Rtc(Nvrtc.GetCubin(prog, r), "nvrtcGetCUBIN", name);
                else CudaCheck.Rtc(Nvrtc.GetPtx(prog, r), "nvrtcGetPTX", name);
            }
            // PTX comes NUL-terminated; drop the terminator so callers get plain text.
            return !cubin && result.Length > 0 && result[^1] == 0 ? result[..^1] : result;
        }
        finally
        {
            if (prog != 0) Nvrtc.DestroyProgram(ref prog);
            foreach (var h in handles) h.Free();
        }
    }

    private static string ProgramLog(nint prog)
    {
        if (Nvrtc.GetProgramLogSize(prog, out var size) != 0 || size <= 1) return "";
        var buf = new byte[(int)size];
        fixed (byte* b = buf) Nvrtc.GetProgramLog(prog, b);
        return Encoding.UTF8.GetString(buf, 0, buf.Length - 1).Trim();
    }

    public void Dispose()
    {
        if (_module == 0) return;
        _device.MakeCurrent();
        CuDriver.ModuleUnload(_module);
        _module = 0;
    }
}
