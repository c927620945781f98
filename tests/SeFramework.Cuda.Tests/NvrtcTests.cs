// NVRTC through our bindings, without a GPU: CUDA C source compiles to PTX that ptxas accepts; compile errors carry the log.
using SeFramework.Cuda.Native;
using SeFramework.Cuda.Runtime;

namespace SeFramework.Cuda.Tests;

public class NvrtcTests
{
    private const string Saxpy = """
        extern "C" __global__ void saxpy(float* __restrict__ y, const float* __restrict__ x, float a, unsigned n) {
            unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
            if (i < n) y[i] = a * x[i] + y[i];
        }
        """;

    [Fact]
    public void Compiles_cuda_c_to_ptx_that_ptxas_accepts()
    {
        TestEnvironment.NvrtcOrSkip();
        var (major, _) = RawKernel.NvrtcVersion();
        Assert.True(major >= 11);
        // NVRTC 13 (CUDA 13, e.g. the GPU machine's pip wheels) dropped compute_70 and below: ask for the oldest arch it takes.
        string arch = major >= 13 ? "75" : "70";
        var ptx = RawKernel.CompileToPtx(Saxpy, "saxpy.cu", $"--gpu-architecture=compute_{arch}");
        Assert.Contains(".visible .entry saxpy(", ptx);
        Assert.Contains($".target sm_{arch}", ptx);
        Assert.DoesNotContain("\0", ptx);
        // ptxas here is 11.8 (PTX ISA <= 7.8): only NVRTC 11.x output is for it.
        if (major == 11 && TestEnvironment.Ptxas is { } ptxas)
        {
            var file = Path.Combine(Path.GetTempPath(), $"saxpy-{Guid.NewGuid():N}.ptx");
            File.WriteAllText(file, ptx);
            try { Assert.Equal(0, TestEnvironment.Run(ptxas, "-arch=sm_90", file, "-o", "/dev/null").Code); }
            finally { File.Delete(file); }
        }
    }

    [Fact]
    public void Compile_errors_name_the_api_and_carry_the_log()
    {
        TestEnvironment.NvrtcOrSkip();
        var e = Assert.Throws<CudaException>(() => RawKernel.CompileToPtx("extern \"C\" __global__ void k() { undeclared_thing = 1; }", "bad.cu"));
        Assert.Equal("nvrtcCompileProgram", e.Api);
        Assert.Equal("NVRTC_ERROR_COMPILATION", e.StatusName);
        Assert.Contains("undeclared_thing", e.Message);
        Assert.Contains("bad.cu", e.Message);
    }
}
