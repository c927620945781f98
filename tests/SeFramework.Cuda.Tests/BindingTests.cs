// Our [LibraryImport] bindings against a table of exported symbol names (the `_v2` ones where cuda.h / cublas_v2.h map to them),
// and, where the Debian CUDA 11.8 / driver 535 libraries have been fetched, against the libraries' real export tables.
using System.Reflection;
using System.Runtime.InteropServices;
using SeFramework.Cuda.Native;

namespace SeFramework.Cuda.Tests;

public class BindingTests
{
    // The spec: every symbol we bind, per library. Source: cuda.h 12.x #defines, cublas_v2.h, cudnn 9 headers, nvrtc.h.
    private static readonly Dictionary<string, string[]> Expected = new()
    {
        ["cuda"] =
        [
            "cuInit", "cuDriverGetVersion", "cuGetErrorName", "cuGetErrorString", "cuDeviceGetCount", "cuDeviceGet", "cuDeviceGetName",
            "cuDeviceGetAttribute", "cuDeviceTotalMem_v2", "cuDevicePrimaryCtxRetain", "cuDevicePrimaryCtxRelease_v2", "cuCtxSetCurrent",
            "cuCtxGetCurrent", "cuCtxSynchronize", "cuMemGetInfo_v2", "cuMemAlloc_v2", "cuMemFree_v2", "cuMemAllocHost_v2", "cuMemFreeHost",
            "cuMemcpyHtoD_v2", "cuMemcpyDtoH_v2", "cuMemcpyDtoD_v2", "cuMemcpyHtoDAsync_v2", "cuMemcpyDtoHAsync_v2", "cuMemcpyDtoDAsync_v2",
            "cuMemsetD8_v2", "cuMemsetD32_v2", "cuMemsetD8Async", "cuMemsetD32Async", "cuMemAllocAsync", "cuMemFreeAsync",
            "cuDeviceGetDefaultMemPool", "cuMemPoolSetAttribute", "cuMemPoolGetAttribute", "cuMemPoolTrimTo", "cuStreamCreate",
            "cuStreamSynchronize", "cuStreamWaitEvent", "cuStreamDestroy_v2", "cuEventCreate", "cuEventRecord", "cuEventSynchronize",
            "cuEventElapsedTime", "cuEventDestroy_v2", "cuModuleLoadData", "cuModuleLoadDataEx", "cuModuleGetFunction", "cuModuleUnload",
            "cuLaunchKernel",
        ],
        ["cublas"] =
        [
            "cublasCreate_v2", "cublasDestroy_v2", "cublasSetStream_v2", "cublasSetMathMode", "cublasGetStatusName", "cublasGetStatusString",
            "cublasSgemm_v2", "cublasDgemm_v2", "cublasSgemmStridedBatched",
        ],
        ["cudnn"] =
        [
            "cudnnCreate", "cudnnDestroy", "cudnnSetStream", "cudnnGetVersion", "cudnnGetErrorString", "cudnnGetLastErrorString",
            "cudnnCreateTensorDescriptor", "cudnnSetTensor4dDescriptor", "cudnnSetTensor4dDescriptorEx", "cudnnDestroyTensorDescriptor",
            "cudnnCreateFilterDescriptor", "cudnnSetFilter4dDescriptor", "cudnnDestroyFilterDescriptor",
            "cudnnCreateConvolutionDescriptor", "cudnnSetConvolution2dDescriptor", "cudnnSetConvolutionGroupCount", "cudnnSetConvolutionMathType",
            "cudnnGetConvolution2dForwardOutputDim", "cudnnDestroyConvolutionDescriptor",
            "cudnnGetConvolutionForwardAlgorithmMaxCount", "cudnnGetConvolutionForwardAlgorithm_v7", "cudnnFindConvolutionForwardAlgorithmEx",
            "cudnnGetConvolutionForwardWorkspaceSize", "cudnnConvolutionForward",
            "cudnnGetConvolutionBackwardDataAlgorithmMaxCount", "cudnnGetConvolutionBackwardDataAlgorithm_v7",
            "cudnnFindConvolutionBackwardDataAlgorithmEx", "cudnnGetConvolutionBackwardDataWorkspaceSize", "cudnnConvolutionBackwardData",
            "cudnnGetConvolutionBackwardFilterAlgorithmMaxCount", "cudnnGetConvolutionBackwardFilterAlgorithm_v7",
            "cudnnFindConvolutionBackwardFilterAlgorithmEx", "cudnnGetConvolutionBackwardFilterWorkspaceSize", "cudnnConvolutionBackwardFilter",
            "cudnnDeriveBNTensorDescriptor", "cudnnBatchNormalizationForwardTraining", "cudnnBatchNormalizationForwardInference",
            "cudnnBatchNormalizationBackward", "cudnnCreatePoolingDescriptor", "cudnnSetPooling2dDescriptor", "cudnnPoolingForward",
            "cudnnPoolingBackward", "cudnnDestroyPoolingDescriptor",
        ],
        ["nvrtc"] =
        [
            "nvrtcVersion", "nvrtcGetErrorString", "nvrtcCreateProgram", "nvrtcDestroyProgram", "nvrtcCompileProgram", "nvrtcGetPTXSize",
            "nvrtcGetPTX", "nvrtcGetCUBINSize", "nvrtcGetCUBIN", "nvrtcGetProgramLogSize", "nvrtcGetProgramLog",
        ],
    };

    // Unsuffixed exports that keep the legacy 32-bit ABI (or old semantics); binding them corrupts data silently.
    private static readonly string[] LegacyAbi =
    [
        "cuMemAlloc", "cuMemFree", "cuMemGetInfo", "cuMemAllocHost", "cuMemcpyHtoD", "cuMemcpyDtoH", "cuMemcpyDtoD", "cuMemcpyHtoDAsync",
        "cuMemcpyDtoHAsync", "cuMemcpyDtoDAsync", "cuMemsetD8", "cuMemsetD32", "cuDeviceTotalMem", "cuDevicePrimaryCtxRelease",
        "cuStreamDestroy", "cuEventDestroy", "cuCtxCreate", "cublasCreate", "cublasDestroy", "cublasSetStream", "cublasSgemm", "cublasDgemm",
        "cudnnGetConvolutionForwardAlgorithm", "cudnnGetConvolutionBackwardDataAlgorithm", "cudnnGetConvolutionBackwardFilterAlgorithm",
    ];

    private static List<(string Library, string EntryPoint, MethodInfo Method)> Bound() =>
        new[] { typeof(CuDriver), typeof(CuBlas), typeof(CuDnn), typeof(Nvrtc) }
            .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.Static | BindingFlags.DeclaredOnly))
            .Select(m => (m, a: m.GetCustomAttribute<LibraryImportAttribute>()))
            .Where(x => x.a != null)
            .Select(x => (x.a!.LibraryName, x.a.EntryPoint ?? x.m.Name, x.m))
            .ToList();

    [Fact]
    public void Bound_entry_points_equal_the_table_per_library()
    {
        var bound = Bound();
        foreach (var (lib, names) in Expected)
            Assert.Equal(names.Order(), bound.Where(b => b.Library == lib).Select(b => b.EntryPoint).Order());
        Assert.Equal(Expected.Values.Sum(v => v.Length), bound.Count);
    }

    [Fact]
    public void No_binding_uses_a_legacy_abi_symbol()
    {
        var entryPoints = Bound().Select(b => b.EntryPoint).ToHashSet();
        foreach (var legacy in LegacyAbi) Assert.DoesNotContain(legacy, entryPoints);
    }

    [Fact]
    public void Generated_pinvoke_stubs_carry_the_same_entry_points()
    {
        // The LibraryImport generator emits [DllImport] externs (on the method itself or a nested local function); read those back.
        var dllImports = new[] { typeof(CuDriver), typeof(CuBlas), typeof(CuDnn), typeof(Nvrtc) }
            .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static))
            .Select(m => m.GetCustomAttribute<DllImportAttribute>())
            .Where(a => a != null)
            .Select(a => a!.EntryPoint!)
            .ToHashSet();
        Assert.Equal(Expected.Values.SelectMany(v => v).ToHashSet().Order(), dllImports.Order());
    }

    [Fact]
    public void Cudnn_perf_struct_has_the_C_layout()
    {
        Assert.Equal(48, Marshal.SizeOf<CudnnConvolutionPerf>());
        Assert.Equal(16, (int)Marshal.OffsetOf<CudnnConvolutionPerf>(nameof(CudnnConvolutionPerf.Memory)));
    }

    [Theory]
    [InlineData("cuda", "usr/lib/x86_64-linux-gnu/nvidia/current/libcuda.so.1")]
    [InlineData("cublas", "usr/lib/x86_64-linux-gnu/libcublas.so.11")]
    [InlineData("nvrtc", "usr/lib/x86_64-linux-gnu/libnvrtc.so.11.2")]
    public void Every_bound_symbol_is_exported_by_the_real_library(string library, string relativePath)
    {
        var path = Path.Combine(TestEnvironment.ToolkitRoot, relativePath);
        if (!File.Exists(path)) Assert.Skip($"{path} not fetched ({TestEnvironment.FetchHint})");
        var nm = TestEnvironment.FindTool("/usr/bin/nm", "nm");
        if (nm is null) Assert.Skip("nm (binutils) not found");
        var (code, output) = TestEnvironment.Run(nm, "-D", "--defined-only", path);
        Assert.Equal(0, code);
        var exported = output.Split('\n').Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)).Where(p => p.Length == 3).Select(p => p[2].Split('@')[0]).ToHashSet(); // strip symbol versions (name@@libnvrtc.so.11.2)
        var missing = Expected[library].Where(s => !exported.Contains(s)).ToList();
        // The driver 535 / cuBLAS 11 / NVRTC 11.8 libraries predate nothing we bind except cudnnGetLastErrorString (cuDNN only).
        Assert.Empty(missing);
    }
}
