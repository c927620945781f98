// Compiled into every project that imports TorchSharpFix.targets: before any TorchSharp call, dlopens the
// GLIBCXX_3.4.32 shim that fix.sh built next to the assembly (RTLD_NOW | RTLD_GLOBAL), so libLibTorchSharp.so loads.
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace SeFramework.TorchSharpSupport;

/// <summary>Preloads libglibcxx_3_4_32_shim.so once per process; see tools/torchsharp-debian12/README.md.</summary>
internal static class LibTorchShim
{
    /// <summary>File name of the shim built by fix.sh next to the assembly (absent where the system does not need it).</summary>
    public const string FileName = "libglibcxx_3_4_32_shim.so";

    const int RtldNow = 2, RtldGlobal = 0x100;

    [DllImport("libc.so.6", EntryPoint = "dlopen")]
    static extern IntPtr DlOpen(string file, int mode);

    [DllImport("libc.so.6", EntryPoint = "dlerror")]
    static extern IntPtr DlError();

    static readonly object gate = new();
    static bool tried;
    static string? error;

    /// <summary>
    /// Runs when the assembly is loaded, before any of its code can touch TorchSharp (whose first call loads
    /// libLibTorchSharp.so and, if that fails, remembers the failure). Only dlopens; never touches torch.
    /// </summary>
    [ModuleInitializer]
    [SuppressMessage("Usage", "CA2255", Justification = "The shim must be global before TorchSharp's first native call.")]
    internal static void PreloadAtStartup() => Preload();

    /// <summary>dlopens the shim if fix.sh built one; returns null on success (or when none is needed), else the error.</summary>
    public static string? Preload()
    {
        lock (gate)
        {
            if (tried) return error;
            tried = true;
            if (!OperatingSystem.IsLinux()) return error = null;
            string path = Path.Combine(AppContext.BaseDirectory, FileName);
            if (!File.Exists(path)) return error = null; // the system libstdc++ already has GLIBCXX_3.4.32
            if (DlOpen(path, RtldNow | RtldGlobal) == IntPtr.Zero)
            {
                IntPtr err = DlError();
                error = $"dlopen({path}) failed: {(err == IntPtr.Zero ? "unknown error" : Marshal.PtrToStringAnsi(err))}";
            }
            return error;
        }
    }
}
