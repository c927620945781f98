// The one DllImport resolver of this assembly: maps the logical names "cuda", "cublas", "cudnn", "nvrtc" to versioned sonames,
// probing system paths, $CUDA_HOME, LD_LIBRARY_PATH and pip-wheel folders, and preloading dependencies by absolute path.
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Reflection;
using System.Runtime.InteropServices;

namespace SeFramework.Cuda.Native;

/// <summary>
/// Resolves the CUDA libraries for every <c>[LibraryImport]</c> in this assembly. cuDNN 9 and cuBLAS dlopen their siblings
/// by bare soname, so those are preloaded by absolute path first (glibc then matches the soname against loaded objects).
/// Setting LD_LIBRARY_PATH from inside the process has no effect; use <see cref="ExtraDirsVariable"/> instead.
/// </summary>
public static class NativeLibraryResolver
{
    /// <summary>Logical library names used in the bindings' <c>LibraryImport</c> attributes.</summary>
    public const string Driver = "cuda", Blas = "cublas", Dnn = "cudnn", Nvrtc = "nvrtc";

    /// <summary>Colon-separated extra folders searched first (read by this resolver, so it may be set at run time).</summary>
    public const string ExtraDirsVariable = "SEFRAMEWORK_CUDA_LIB_DIRS";

    // Sonames per logical library, newest first. libnvrtc.so.11.2 / libcublas.so.11 are Debian's CUDA 11.8 packages (used by tests here).
    private static readonly Dictionary<string, string[]> Sonames = new()
    {
        [Driver] = ["libcuda.so.1"],
        [Blas] = ["libcublas.so.13", "libcublas.so.12", "libcublas.so.11"],
        [Dnn] = ["libcudnn.so.9"],
        [Nvrtc] = ["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2"],
    };

    // cuDNN 9 sub-libraries in dependency order (graph first; cnn/adv need ops and graph).
    private static readonly string[] CudnnSubLibraries =
    [
        "libcudnn_graph.so.9", "libcudnn_engines_precompiled.so.9", "libcudnn_engines_runtime_compiled.so.9",
        "libcudnn_engines_tensor_ir.so.9", "libcudnn_heuristic.so.9", "libcudnn_ops.so.9", "libcudnn_cnn.so.9", "libcudnn_adv.so.9",
    ];

    private static readonly ConcurrentDictionary<string, Lazy<(IntPtr Handle, string Detail)>> Loaded = new();
    private static readonly object RegisterLock = new();
    private static bool _registered;
    private static IReadOnlyList<string>? _searchDirs;

    /// <summary>Installs the resolver for this assembly (idempotent; binding classes call it from their static constructors).</summary>
    public static void EnsureRegistered()
    {
        lock (RegisterLock)
        {
            if (_registered) return;
            NativeLibrary.SetDllImportResolver(typeof(NativeLibraryResolver).Assembly, Resolve);
            _registered = true;
        }
    }

    private static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? path)
    {
        if (!Sonames.ContainsKey(name)) return IntPtr.Zero;
        if (TryLoad(name, out var handle, out var detail)) return handle;
        // Thrown from the resolver, this reaches the caller of the binding with an actionable message.
        throw new DllNotFoundException(detail);
    }

    /// <summary>Loads a logical library ("cuda", "cublas", "cudnn", "nvrtc") once; on failure <paramref name="detail"/> says what was tried.</summary>
    public static bool TryLoad(string logicalName, out IntPtr handle, out string detail)
    {
        if (!Sonames.ContainsKey(logicalName))
            throw new ArgumentException($"Unknown CUDA library '{logicalName}'; expected one of {string.Join(", ", Sonames.Keys)}.", nameof(logicalName));
        var result = Loaded.GetOrAdd(logicalName, n => new Lazy<(IntPtr, string)>(() => LoadUncached(n))).Value;
        handle = result.Handle;
        detail = result.Detail;
        return handle != IntPtr.Zero;
    }

    /// <summary>The folders probed after the default dlopen search, in order.</summary>
    public static IReadOnlyList<string> SearchDirectories => _searchDirs ??= BuildSearchDirectories();

    private static (IntPtr, string) LoadUncached(string logical)
    {
        // cuDNN's legacy convolution API dlopens libcublasLt and libnvrtc; have them loaded first where they exist.
        if (logical == Dnn)
        {
            TryLoad(Blas, out _, out _);
            TryLoad(Nvrtc, out _, out _);
        }
        var sonames = Sonames[logical];
        foreach (var dir in SearchDirectories)
            foreach (var so in sonames)
            {
                var full = Path.Combine(dir, so);
                if (!File.Exists(full)) continue;
                PreloadSiblings(logical, dir, so);
                if (NativeLibrary.TryLoad(full, out var h)) return (h, full);
            }
        foreach (var so in sonames)
            if (NativeLibrary.TryLoad(so, out var h)) return (h, so + " (default search path)");
        var what = logical == Driver ? "CUDA driver library" : $"CUDA library '{logical}'";
        return (IntPtr.Zero,
            $"{what} {string.Join(" / ", sonames)} not found (searched the default loader path and {SearchDirectories.Count} folders: " +
            $"{string.Join(", ", SearchDirectories.Take(8))}{(SearchDirectories.Count > 8 ? ", ..." : "")}). " +
            (logical == Driver
                ? "Install the NVIDIA driver (or run inside a container with GPU access)."
                : $"Install the NVIDIA wheels (pip install nvidia-cublas-cu12 nvidia-cudnn-cu12 nvidia-cuda-nvrtc-cu12) or set {ExtraDirsVariable}."));
    }

    // Loads the libraries that `so` dlopens by soname, from the same folder, retrying until no more progress (dependency order).
    private static void PreloadSiblings(string logical, string dir, string so)
    {
        var siblings = new List<string>();
        if (logical == Blas) siblings.Add(so.Replace("libcublas.", "libcublasLt.", StringComparison.Ordinal));
        if (logical == Nvrtc)
            siblings.AddRange(Directory.EnumerateFiles(dir, "libnvrtc-builtins.so.*").Select(Path.GetFileName).OfType<string>()
                .Where(f => f.Count(c => c == '.') <= 3));
        if (logical == Dnn) siblings.AddRange(CudnnSubLibraries);
        var pending = siblings.Select(s => Path.Combine(dir, s)).Where(File.Exists).ToList();
        bool progress = true;
        while (pending.Count > 0 && progress)
        {
            progress = false;
            foreach (var p in pending.ToArray())
                if (NativeLibrary.TryLoad(p, out _)) { pending.Remove(p); progress = true; }
        }
    }

    private static List<string> BuildSearchDirectories()
    {
        var dirs = new List<string>();
        void Add(string? d)
        {
            if (string.IsNullOrWhiteSpace(d)) return;
            d = d.TrimEnd('/');
            if (d.Length > 0 && Directory.Exists(d) && !dirs.Contains(d)) dirs.Add(d);
        }
        foreach (var d in (Environment.GetEnvironmentVariable(ExtraDirsVariable) ?? "").Split(':')) Add(d);
        foreach (var v in new[] { "CUDA_HOME", "CUDA_PATH", "CUDNN_HOME" })
            if (Environment.GetEnvironmentVariable(v) is { Length: > 0 } root) { Add(Path.Combine(root, "lib64")); Add(Path.Combine(root, "lib")); }
        foreach (var d in (Environment.GetEnvironmentVariable("LD_LIBRARY_PATH") ?? "").Split(':')) Add(d);
        foreach (var sp in SitePackagesDirectories())
            foreach (var sub in new[] { "cu13/lib", "cublas/lib", "cuda_nvrtc/lib", "cudnn/lib", "cuda_runtime/lib" })
                Add(Path.Combine(sp, "nvidia", sub));
        Add("/usr/local/cuda/lib64");
        Add("/usr/lib/x86_64-linux-gnu");
        Add("/usr/lib/x86_64-linux-gnu/nvidia/current");
        Add("/usr/local/nvidia/lib64");
        Add("/usr/lib64");
        return dirs;
    }

    // site-packages folders: common globs first, then ask python3 only if none of them holds an nvidia/ folder.
    private static List<string> SitePackagesDirectories()
    {
        var found = new List<string>();
        var home = Environment.GetEnvironmentVariable("HOME") ?? "/root";
        var patterns = new List<(string Root, string Sub)>
        {
            ("/usr/local/lib", "dist-packages"), ("/usr/local/lib", "site-packages"), ("/usr/lib", "dist-packages"),
            (Path.Combine(home, ".local/lib"), "site-packages"), ("/opt/conda/lib", "site-packages"),
        };
        if (Environment.GetEnvironmentVariable("VIRTUAL_ENV") is { Length: > 0 } venv) patterns.Insert(0, (Path.Combine(venv, "lib"), "site-packages"));
        if (Environment.GetEnvironmentVariable("CONDA_PREFIX") is { Length: > 0 } conda) patterns.Insert(0, (Path.Combine(conda, "lib"), "site-packages"));
        foreach (var (root, sub) in patterns)
        {
            if (!Directory.Exists(root)) continue;
            foreach (var py in Directory.EnumerateDirectories(root, "python3*").Order())
                if (Directory.Exists(Path.Combine(py, sub))) found.Add(Path.Combine(py, sub));
        }
        if (!found.Any(f => Directory.Exists(Path.Combine(f, "nvidia")))) found.AddRange(AskPython());
        return found;
    }

    private static IEnumerable<string> AskPython()
    {
        try
        {
            var psi = new ProcessStartInfo("python3", ["-c", "import site,sys;print('\\n'.join(site.getsitepackages()+[site.getusersitepackages()]+sys.path))"])
            { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            using var p = Process.Start(psi);
            if (p is null) return [];
            var output = p.StandardOutput.ReadToEnd();
            if (!p.WaitForExit(5000)) { p.Kill(); return []; }
            return output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Where(d => Directory.Exists(Path.Combine(d, "nvidia"))).ToList();
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return []; // no python3 on this machine
        }
    }
}
