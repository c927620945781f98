// NVRTC bindings (libnvrtc.so.13/.12; Debian's .11.2 too), restated from nvrtc.h: compile CUDA C source to PTX or cubin at run time.
using System.Runtime.InteropServices;

namespace SeFramework.Cuda.Native;

/// <summary>Raw NVRTC. Returns nvrtcResult (0 = success).</summary>
public static unsafe partial class Nvrtc
{
    static Nvrtc() => NativeLibraryResolver.EnsureRegistered();

    private const string Lib = NativeLibraryResolver.Nvrtc;

    public const int CompilationError = 6;

    [LibraryImport(Lib, EntryPoint = "nvrtcVersion")] public static partial int Version(out int major, out int minor);
    [LibraryImport(Lib, EntryPoint = "nvrtcGetErrorString")] public static partial byte* GetErrorString(int result);
    [LibraryImport(Lib, EntryPoint = "nvrtcCreateProgram")]
    public static partial int CreateProgram(out nint program, byte* source, byte* name, int numHeaders, byte** headers, byte** includeNames);
    [LibraryImport(Lib, EntryPoint = "nvrtcDestroyProgram")] public static partial int DestroyProgram(ref nint program);
    [LibraryImport(Lib, EntryPoint = "nvrtcCompileProgram")] public static partial int CompileProgram(nint program, int numOptions, byte** options);
    [LibraryImport(Lib, EntryPoint = "nvrtcGetPTXSize")] public static partial int GetPtxSize(nint program, out nuint size);
    [LibraryImport(Lib, EntryPoint = "nvrtcGetPTX")] public static partial int GetPtx(nint program, byte* ptx);
    [LibraryImport(Lib, EntryPoint = "nvrtcGetCUBINSize")] public static partial int GetCubinSize(nint program, out nuint size);
    [LibraryImport(Lib, EntryPoint = "nvrtcGetCUBIN")] public static partial int GetCubin(nint program, byte* cubin);
    [LibraryImport(Lib, EntryPoint = "nvrtcGetProgramLogSize")] public static partial int GetProgramLogSize(nint program, out nuint size);
    [LibraryImport(Lib, EntryPoint = "nvrtcGetProgramLog")] public static partial int GetProgramLog(nint program, byte* log);
}
