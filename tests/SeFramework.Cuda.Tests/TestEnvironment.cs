// Where the tests find the repository, the extracted CUDA 11.8 toolkit (tools/cuda/fetch-toolkit.sh) and a GPU; sets the
// resolver's extra library folder to the toolkit's, so NVRTC tests run on machines without a GPU.
global using Xunit;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using SeFramework.Cuda.Native;
using SeFramework.Cuda.Runtime;

namespace SeFramework.Cuda.Tests;

internal static class TestEnvironment
{
    [ModuleInitializer]
    internal static void Init()
    {
        // Before any binding resolves: let the resolver also look in the extracted toolkit (Debian's libnvrtc.so.11.2, libcublas.so.11).
        if (ToolkitLibDir is { } dir && Environment.GetEnvironmentVariable(NativeLibraryResolver.ExtraDirsVariable) is null)
            Environment.SetEnvironmentVariable(NativeLibraryResolver.ExtraDirsVariable, dir);
    }

    public static string RepoRoot { get; } = FindRepoRoot();

    private static string FindRepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d != null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "SeFramework.sln"))) return d.FullName;
        return Environment.GetEnvironmentVariable("SEFRAMEWORK_REPO") ?? Directory.GetCurrentDirectory();
    }

    public static string KernelsDir => Path.Combine(RepoRoot, "SeFramework.Cuda", "Kernels");

    public static string ToolkitRoot =>
        Environment.GetEnvironmentVariable("CUDA_TOOLKIT_ROOT") ?? Path.Combine(RepoRoot, "tools", "cuda", "toolkit", "root");

    public static string? ToolkitLibDir
    {
        get
        {
            var d = Path.Combine(ToolkitRoot, "usr", "lib", "x86_64-linux-gnu");
            return Directory.Exists(d) ? d : null;
        }
    }

    /// <summary>ptxas from the extracted toolkit or PATH, or null.</summary>
    public static string? Ptxas => FindTool(Path.Combine(ToolkitRoot, "usr", "bin", "ptxas"), "ptxas");

    public static string? FindTool(string preferred, string name)
    {
        if (File.Exists(preferred)) return preferred;
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
            if (File.Exists(Path.Combine(dir, name))) return Path.Combine(dir, name);
        return null;
    }

    public const string FetchHint = "run tools/cuda/fetch-toolkit.sh to get it";

    /// <summary>Runs a program; returns exit code and stdout+stderr.</summary>
    public static (int Code, string Output) Run(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        var stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, stdout + stderr.Result);
    }

    /// <summary>The GPU, or a skipped test with CudaAvailability's reason.</summary>
    public static CudaDevice GpuOrSkip()
    {
        var (ok, reason) = CudaAvailability.Check();
        if (!ok) Assert.Skip($"needs a CUDA GPU: {reason}");
        return CudaDevice.Get();
    }

    /// <summary>NVRTC loads (Debian's 11.8 from the toolkit folder here, or a pip wheel), or a skipped test.</summary>
    public static void NvrtcOrSkip()
    {
        if (!NativeLibraryResolver.TryLoad(NativeLibraryResolver.Nvrtc, out _, out var detail)) Assert.Skip($"needs NVRTC: {detail}; {FetchHint}");
    }
}
