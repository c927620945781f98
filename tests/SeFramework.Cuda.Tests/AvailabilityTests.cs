// Behaviour without a GPU (this development machine): CudaAvailability gives a clear reason, and every CUDA entry point fails at
// once with it; a missing library names the sonames it looked for.
using SeFramework.Cuda.Native;
using SeFramework.Cuda.Runtime;

namespace SeFramework.Cuda.Tests;

public class AvailabilityTests
{
    [Fact]
    public void Check_gives_a_reason_either_way()
    {
        var (ok, reason) = CudaAvailability.Check();
        Assert.False(string.IsNullOrWhiteSpace(reason));
        if (ok) Assert.Contains("CUDA device", reason);
        else Assert.True(reason.Contains("libcuda.so.1") || reason.Contains("no CUDA device") || reason.Contains("cuInit"), reason);
    }

    [Fact]
    public void Without_a_gpu_every_entry_point_fails_at_once_with_the_reason()
    {
        var (ok, reason) = CudaAvailability.Check();
        if (ok) Assert.Skip("a CUDA GPU is present; this test covers machines without one");
        var e = Assert.Throws<CudaUnavailableException>(() => CudaDevice.Get());
        Assert.Contains(reason, e.Message);
        Assert.StartsWith("CUDA is not available: ", e.Message);
        Assert.Throws<CudaUnavailableException>(CudaAvailability.ThrowIfUnavailable);
    }

    [Fact]
    public void A_missing_library_is_reported_with_the_sonames_it_tried()
    {
        if (NativeLibraryResolver.TryLoad(NativeLibraryResolver.Dnn, out _, out _)) Assert.Skip("cuDNN is installed here");
        var e = Assert.Throws<DllNotFoundException>(() => CuDnn.GetVersion());
        Assert.Contains("libcudnn.so.9", e.Message);
        Assert.Contains(NativeLibraryResolver.ExtraDirsVariable, e.Message);
    }

    [Fact]
    public void Extra_folders_from_the_environment_are_searched_first()
    {
        var extra = Environment.GetEnvironmentVariable(NativeLibraryResolver.ExtraDirsVariable);
        if (string.IsNullOrEmpty(extra) || !Directory.Exists(extra.Split(':')[0])) Assert.Skip($"{NativeLibraryResolver.ExtraDirsVariable} not set ({TestEnvironment.FetchHint})");
        Assert.Equal(extra.Split(':')[0].TrimEnd('/'), NativeLibraryResolver.SearchDirectories[0]);
        // NVRTC is found there and its builtins library was preloaded from the same folder.
        Assert.True(NativeLibraryResolver.TryLoad(NativeLibraryResolver.Nvrtc, out _, out var detail), detail);
        Assert.StartsWith(NativeLibraryResolver.SearchDirectories[0], detail);
    }

    [Fact]
    public void Unknown_library_names_are_rejected()
    {
        Assert.Throws<ArgumentException>(() => NativeLibraryResolver.TryLoad("cufft", out _, out _));
    }

    [Fact]
    public void Exceptions_name_api_status_and_context()
    {
        var e = new CudaException("cuMemAlloc_v2", 2, "CUDA_ERROR_OUT_OF_MEMORY", "out of memory", "x: (8, 64, 56, 56)");
        Assert.Equal("cuMemAlloc_v2 failed with CUDA_ERROR_OUT_OF_MEMORY (2): out of memory [x: (8, 64, 56, 56)]", e.Message);
        var oom = new CudaOutOfMemoryException(3UL << 30, 70UL << 30, 1UL << 30, 512UL << 20, 80UL << 30, "conv1");
        Assert.Contains("tried to allocate 3.00 GiB", oom.Message);
        Assert.Contains("70.00 GiB allocated", oom.Message);
        Assert.Contains("1.00 GiB cached", oom.Message);
        Assert.Contains("512.00 MiB free of 80.00 GiB", oom.Message);
    }

    [Fact]
    public void Launchers_validate_shapes_before_touching_the_device()
    {
        Assert.Equal(12u, CudaKernels.Total(3, 4, "op"));
        Assert.Equal(0u, CudaKernels.Total(0, 0, "op"));
        Assert.Contains("32-bit", Assert.Throws<ArgumentException>(() => CudaKernels.Total(1L << 20, 1L << 13, "Axpy")).Message);
        Assert.Throws<ArgumentException>(() => CudaKernels.Total(-1, 4, "Axpy"));
        Assert.Throws<ArgumentException>(() => CudaKernels.Count(-1, "Fill"));
        // Grid-stride loops use unsigned 32-bit indices: i + stride must not wrap, so the limit is 2^31 - 1, not 2^32 - 1.
        Assert.Equal((uint)int.MaxValue, CudaKernels.Count(int.MaxValue, "Fill"));
        Assert.Throws<ArgumentException>(() => CudaKernels.Count(1L << 31, "Fill"));
        Assert.Throws<ArgumentException>(() => CudaKernels.Total(1L << 16, 1L << 15, "Axpy"));
        Assert.Throws<ArgumentException>(() => CudaKernels.Total(uint.MaxValue, 1, "Axpy"));
    }

    [Fact]
    public void Launch_config_picks_grids_and_vector_paths()
    {
        Assert.Equal(1u, LaunchConfig.FlatBlocks(1, 132));
        Assert.Equal(4u, LaunchConfig.FlatBlocks(1000, 132));
        Assert.Equal((uint)(132 * LaunchConfig.BlocksPerSm), LaunchConfig.FlatBlocks(1L << 30, 132));
        Assert.Equal(2u, LaunchConfig.WarpPerRowBlocks(9, 132));
        Assert.Equal(9u, LaunchConfig.BlockPerRowBlocks(9, 132));
        Assert.True(LaunchConfig.CanUseVec4(196, 0x1000, 0x2010));
        Assert.False(LaunchConfig.CanUseVec4(49, 0x1000));      // 7x7 planes: rows not 16-byte aligned
        Assert.False(LaunchConfig.CanUseVec4(196, 0x1004));     // misaligned pointer (a view)
    }
}
