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
        var ptx = RawKernel.CompileToPtx(Saxpy, "saxpy.cu", "--gpu-architecture=compute_70");
        Assert.Contains(".visible .entry saxpy(", ptx);
        Assert.Contains(".target sm_70", ptx);
        Assert.DoesNotContain("\0", ptx);
        if (TestEnvironment.Ptxas is { } ptxas)
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
