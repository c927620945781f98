// Loads libtorch (TorchSharp-cpu) once for the reference tests: makes sure the GLIBCXX_3.4.32 shim is preloaded
// (tools/torchsharp-debian12/LibTorchShim.cs), then touches torch. Tests start with RequireOrSkip().
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using SeFramework.TorchSharpSupport;
using TorchSharp;

namespace SeFramework.Reference.Tests;

/// <summary>
/// Gatekeeper for every test that calls TorchSharp. Call <see cref="RequireOrSkip"/> (or <see cref="TryLoad"/>)
/// before the first <c>torch.*</c> call of a test. Loading happens once per process and is thread-safe.
/// Libtorch runs single-threaded here (intra-op and inter-op) because xunit runs test classes in parallel on a
/// 2-core machine: oversubscribed OpenMP pools are slower and make timings noisy. A test that needs more threads
/// may call <c>torch.set_num_threads</c> itself, but that setting is process-wide.
/// </summary>
public static class LibTorch
{
    // null on success, else the reason; computed once, on first use, under a lock.
    static readonly Lazy<string?> loadFailure = new(Load, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>
    /// Loads libtorch if it was not yet loaded. Returns false with a human-readable reason when it cannot be loaded
    /// (missing native package, unpatched libLibTorchSharp.so, unsupported OS). The result is cached.
    /// </summary>
    public static bool TryLoad(out string reason)
    {
        reason = loadFailure.Value ?? "";
        return loadFailure.Value is null;
    }

    /// <summary>Skips the calling test (xunit dynamic skip) when libtorch cannot be loaded, naming the reason.</summary>
    public static void RequireOrSkip()
    {
        if (!TryLoad(out var reason))
            Assert.Skip($"libtorch could not be loaded: {reason}");
    }

    static string? Load()
    {
        if (!(OperatingSystem.IsLinux() && RuntimeInformation.ProcessArchitecture == Architecture.X64))
            return $"the reference tests use TorchSharp-cpu for linux-x64; this is {RuntimeInformation.RuntimeIdentifier}";
        if (LibTorchShim.Preload() is { } shimFailure)
            return shimFailure;
        try
        {
            TouchTorch();
            return null;
        }
        catch (Exception ex)
        {
            // TorchSharp's message for an unloadable libLibTorchSharp.so blames a missing package reference; add the usual cause.
            var messages = new List<string>();
            for (Exception? e = ex; e is not null; e = e.InnerException) messages.Add($"{e.GetType().Name}: {e.Message.Trim()}");
            return $"{string.Join(" -> ", messages)} (on Debian 12 this usually means tools/torchsharp-debian12/fix.sh did not run after build; see its README.md)";
        }
    }

    // Separate, never-inlined method: no TorchSharp type is touched before the shim is global.
    [MethodImpl(MethodImplOptions.NoInlining)]
    static void TouchTorch()
    {
        torch.set_num_threads(1);
        try { torch.set_num_interop_threads(1); }
        catch (Exception) { /* only allowed before any inter-op work started; the intra-op setting is what matters */ }
        using var ones = torch.ones(2, 3);
        using var sum = ones.sum();
        float total = sum.item<float>();
        if (total != 6f)
            throw new InvalidOperationException($"libtorch self-check failed: sum of ones(2, 3) gave {total}, expected 6");
    }
}
