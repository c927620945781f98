// The committed PTX: embedded as resources, one module per .cu, ISA 7.8 for compute_70, assembled by ptxas for sm_70/80/90,
// identical to what tools/cuda/build-ptx.sh makes from the .cu sources, and holding every kernel the launchers use.
using System.Text.RegularExpressions;
using SeFramework.Cuda.Runtime;

namespace SeFramework.Cuda.Tests;

public class PtxTests
{
    private static string[] CuModules() =>
        Directory.GetFiles(TestEnvironment.KernelsDir, "*.cu").Select(f => Path.GetFileNameWithoutExtension(f)!).Order().ToArray();

    private static HashSet<string> Entries(string ptx) =>
        Regex.Matches(ptx, @"^\.visible \.entry (\w+)\(", RegexOptions.Multiline).Select(m => m.Groups[1].Value).ToHashSet();

    [Fact]
    public void Every_cu_file_has_an_embedded_ptx_module_equal_to_the_committed_file()
    {
        var modules = CuModules();
        Assert.Equal(["axpy", "backend", "elementwise", "gap", "sgd", "softmax_ce"], modules);
        Assert.Equal(modules, KernelLoader.ModuleNames);
        foreach (var m in modules)
        {
            var ptx = KernelLoader.ReadPtx(m);
            Assert.Equal(File.ReadAllText(Path.Combine(TestEnvironment.KernelsDir, m + ".ptx")), ptx);
            Assert.Contains(".version 7.8", ptx);
            Assert.Contains(".target sm_70", ptx);
        }
    }

    [Fact]
    public void Every_extern_C_kernel_in_the_sources_is_in_the_ptx_and_every_launcher_kernel_exists()
    {
        foreach (var m in CuModules())
        {
            var src = File.ReadAllText(Path.Combine(TestEnvironment.KernelsDir, m + ".cu"));
            var declared = Regex.Matches(src, @"extern ""C"" __global__ void (\w+)\(").Select(x => x.Groups[1].Value).ToHashSet();
            Assert.NotEmpty(declared);
            Assert.Equal(declared.Order(), Entries(KernelLoader.ReadPtx(m)).Order());
        }
        var all = CuModules().SelectMany(m => Entries(KernelLoader.ReadPtx(m)).Select(e => (m, e))).ToHashSet();
        foreach (var k in CudaKernels.AllKernels) Assert.Contains(k, all);
        Assert.Equal(all.Count, CudaKernels.AllKernels.Distinct().Count());
    }

    [Fact]
    public void Sgd_parameter_struct_matches_the_kernel_parameter_size()
    {
        // sgd.cu passes struct SgdTensorList (3 x 64 pointers + 64 uints) by value: .param .align 8 .b8 ..._param_0[1792]
        Assert.Contains("sgd_multi_tensor_f32_param_0[1792]", KernelLoader.ReadPtx("sgd"));
        unsafe { Assert.Equal(1792, sizeof(CudaKernels.SgdTensorList)); }
    }

    [Theory]
    [InlineData("sm_70")]
    [InlineData("sm_80")]
    [InlineData("sm_90")]
    public void Ptxas_assembles_every_module(string arch)
    {
        var ptxas = TestEnvironment.Ptxas ?? SkipNull<string>($"ptxas not found ({TestEnvironment.FetchHint})");
        foreach (var m in CuModules())
        {
            var (code, output) = TestEnvironment.Run(ptxas, $"-arch={arch}", Path.Combine(TestEnvironment.KernelsDir, m + ".ptx"), "-o", "/dev/null");
            Assert.True(code == 0, $"ptxas -arch={arch} {m}.ptx failed: {output}");
        }
    }

    [Fact]
    public void Ptxas_rejects_broken_ptx_so_the_check_above_can_fail()
    {
        var ptxas = TestEnvironment.Ptxas ?? SkipNull<string>($"ptxas not found ({TestEnvironment.FetchHint})");
        var broken = Path.Combine(Path.GetTempPath(), $"broken-{Guid.NewGuid():N}.ptx");
        File.WriteAllText(broken, KernelLoader.ReadPtx("elementwise").Replace("ld.global.nc.f32", "ld.global.nc.f99"));
        try { Assert.NotEqual(0, TestEnvironment.Run(ptxas, "-arch=sm_90", broken, "-o", "/dev/null").Code); }
        finally { File.Delete(broken); }
    }

    [Fact]
    public void Committed_ptx_equals_what_build_ptx_sh_makes_from_the_sources()
    {
        var nvcc = Path.Combine(TestEnvironment.ToolkitRoot, "usr", "lib", "nvidia-cuda-toolkit", "bin", "nvcc");
        if (!File.Exists(nvcc)) Assert.Skip($"nvcc 11.8 not found at {nvcc} ({TestEnvironment.FetchHint})");
        if (TestEnvironment.FindTool("/usr/bin/clang-14", "clang-14") is null && TestEnvironment.FindTool("/usr/bin/g++-11", "g++-11") is null)
            Assert.Skip("nvcc 11.8 needs clang-14 or g++-11 as host compiler");
        var outDir = Directory.CreateTempSubdirectory("ptx-").FullName;
        try
        {
            var (code, output) = TestEnvironment.Run("bash", Path.Combine(TestEnvironment.RepoRoot, "tools", "cuda", "build-ptx.sh"), outDir);
            Assert.True(code == 0, "build-ptx.sh failed: " + output);
            foreach (var m in CuModules())
                Assert.True(File.ReadAllText(Path.Combine(outDir, m + ".ptx")) == File.ReadAllText(Path.Combine(TestEnvironment.KernelsDir, m + ".ptx")),
                    $"{m}.ptx is stale: run tools/cuda/build-ptx.sh and commit the result");
        }
        finally { Directory.Delete(outDir, true); }
    }

    private static T SkipNull<T>(string reason)
    {
        Assert.Skip(reason);
        return default!;
    }
}
