// CPU-side checks of the CUDA backend that run without a GPU: registration, TryRegister's reason, ops on CUDA tensors failing with
// CudaUnavailableException (not NullReference / DllNotFound), every IBackend method really implemented (IL and source checks),
// the kernel parameter structs matching the PTX, and the strided-index packing.
using System.Reflection;
using System.Reflection.Emit;
using SeFramework.Backends;
using SeFramework.Cuda.Backend;
using SeFramework.Cuda.Native;
using SeFramework.Cuda.Runtime;

namespace SeFramework.Cuda.Tests.Backend;

public class BackendContractTests
{
    [Fact]
    public void Register_makes_the_registry_return_one_cuda_backend_per_ordinal()
    {
        CudaBackend.Register();
        var b0 = BackendRegistry.For(Device.Cuda(0));
        var b1 = BackendRegistry.For(Device.Cuda(1));
        Assert.IsType<CudaBackend>(b0);
        Assert.Equal(Device.Cuda(0), b0.Device);
        Assert.Equal(Device.Cuda(1), b1.Device);
        Assert.Same(b0, BackendRegistry.For(Device.Cuda(0)));
        Assert.NotSame(b0, b1);
    }

    [Fact]
    public void TryRegister_returns_the_availability_verdict_and_reason()
    {
        var (ok, reason) = CudaAvailability.Check();
        Assert.Equal(ok, CudaBackend.TryRegister(out var why));
        Assert.Equal(reason, why);
    }

    [Fact]
    public void Ops_on_cuda_tensors_fail_with_CudaUnavailableException_and_the_reason_without_a_gpu()
    {
        var (ok, reason) = CudaAvailability.Check();
        if (ok) Assert.Skip("a CUDA GPU is present; this test covers machines without one");
        CudaBackend.Register();
        var cpu = Tensor.FromArray(new float[] { 1, 2, 3, 4 }, 2, 2);
        var actions = new (string Name, Action Act)[]
        {
            ("To(cuda)", () => cpu.To(Device.Cuda())),
            ("Zeros on cuda", () => Tensor.Zeros(new[] { 3 }, device: Device.Cuda())),
            ("Full on cuda", () => Tensor.Full(new[] { 3 }, 2.0, DType.Float64, Device.Cuda())),
            ("backend Fill", () => BackendRegistry.For(Device.Cuda()).Fill(cpu, 1)),
            ("backend MatMul", () => BackendRegistry.For(Device.Cuda()).MatMul(cpu, false, cpu, false, cpu, false)),
        };
        foreach (var (name, act) in actions)
        {
            var e = Record.Exception(act);
            Assert.True(e is CudaUnavailableException, $"{name}: expected CudaUnavailableException, got {e?.GetType().Name ?? "no exception"}: {e?.Message}");
            Assert.Contains(reason, e!.Message);
        }
    }

    [Fact]
    public void Every_IBackend_method_is_implemented_by_CudaBackend_without_a_stub()
    {
        var map = typeof(CudaBackend).GetInterfaceMap(typeof(IBackend));
        var notImplementedCtors = typeof(NotImplementedException).GetConstructors().Select(c => c.MetadataToken).ToHashSet();
        var module = typeof(CudaBackend).Module;
        Assert.Equal(typeof(IBackend).GetMethods().Length, map.TargetMethods.Length);
        foreach (var m in map.TargetMethods)
        {
            Assert.Equal(typeof(CudaBackend), m.DeclaringType);
            var il = m.GetMethodBody()?.GetILAsByteArray() ?? [];
            Assert.True(il.Length > 8, $"{m.Name}: body of {il.Length} IL bytes looks like a stub");
            // newobj (0x73) of NotImplementedException anywhere in the body?
            for (int i = 0; i + 4 < il.Length; i++)
            {
                if (il[i] != OpCodes.Newobj.Value) continue;
                int token = BitConverter.ToInt32(il, i + 1);
                MethodBase? target = null;
                try { target = module.ResolveMethod(token); } catch (ArgumentException) { }
                Assert.False(target?.DeclaringType == typeof(NotImplementedException), $"{m.Name} throws NotImplementedException");
            }
        }
        Assert.NotEmpty(notImplementedCtors);
        // And in the sources: no NotImplementedException or TODO left in the backend folder.
        var dir = Path.Combine(TestEnvironment.RepoRoot, "SeFramework.Cuda", "Backend");
        var files = Directory.GetFiles(dir, "*.cs");
        Assert.NotEmpty(files);
        foreach (var f in files)
        {
            var text = File.ReadAllText(f);
            Assert.DoesNotContain("NotImplementedException", text);
            Assert.DoesNotContain("TODO", text);
        }
    }

    [Fact]
    public void Convolutions_fall_back_only_on_cudnn_not_supported_codes()
    {
        // cuDNN 9 renumbered its statuses: NOT_SUPPORTED is 3000 with 3xxx sub-codes (cuDNN 8: 9); BAD_PARAM 2000, EXECUTION_FAILED 5000.
        foreach (int s in new[] { 9, 3000, 3001, 3007 }) Assert.True(CudaBackend.IsNotSupported(s), $"{s}");
        foreach (int s in new[] { 0, 3, 1008, 2000, 2002, 4000, 5000 }) Assert.False(CudaBackend.IsNotSupported(s), $"{s}");
    }

    [Fact]
    public void Kernel_parameter_structs_match_the_ptx_parameter_sizes()
    {
        var ptx = KernelLoader.ReadPtx(BackendKernels.Module);
        unsafe
        {
            Assert.Equal(144, sizeof(Strides2));
            Assert.Equal(36, sizeof(PoolGeom));
        }
        Assert.Contains("strided_copy_f32_f32_param_2[144]", ptx);
        Assert.Contains("binary_f64_param_3[144]", ptx);
        Assert.Contains("sum_f32_param_2[144]", ptx);
        Assert.Contains("pool_forward_f32_param_2[36]", ptx);
        foreach (var (module, kernel) in BackendKernels.All)
        {
            Assert.Equal(BackendKernels.Module, module);
            Assert.Contains($".entry {kernel}(", ptx);
        }
    }

    [Fact]
    public unsafe void Strides2_drops_size_one_dims_and_rejects_rank_above_six()
    {
        var st = Strides2.Of("t", new[] { 2, 1, 3 }, new long[] { 3, 99, 1 }, 5, new long[] { 0, 7, 2 }, 11);
        Assert.Equal(2, st.Rank);
        Assert.Equal(2u, st.Shape[0]);
        Assert.Equal(3u, st.Shape[1]);
        Assert.Equal(3, st.S0[0]);
        Assert.Equal(1, st.S0[1]);
        Assert.Equal(0, st.S1[0]);
        Assert.Equal(2, st.S1[1]);
        Assert.Equal(5, st.Off0);
        Assert.Equal(11, st.Off1);
        var shape = Enumerable.Repeat(2, 7).ToArray();
        var strides = Layout.ContiguousStrides(shape);
        var e = Assert.Throws<NotSupportedException>(() => Strides2.Of("Binary", shape, strides, 0, strides, 0));
        Assert.Contains("rank <= 6", e.Message);
        Assert.Contains("Binary", e.Message);
    }

    [Fact]
    public void Strides2_offsets_reproduce_the_layout_of_a_permuted_broadcast_view()
    {
        // The kernel's index decomposition (offsets2 in backend.cu) restated in C#, checked against Layout arithmetic.
        var t = Tensor.FromArray(Enumerable.Range(0, 24).Select(i => (float)i).ToArray(), 2, 3, 4).Permute(2, 0, 1).Slice(0, 1, 4);
        var shape = t.Shape;
        var st = Strides2.Of("t", shape, t.Layout.Strides, t.Layout.Offset, default, 0);
        var expected = t.ToFloatArray();
        for (int i = 0; i < expected.Length; i++)
            Assert.Equal(expected[i], OffsetOf(st, (uint)i) is var o ? (float)o : -1);
    }

    private static unsafe long OffsetOf(Strides2 st, uint i)
    {
        long o = st.Off0;
        for (int d = st.Rank - 1; d >= 0; d--)
        {
            uint n = st.Shape[d], c = i % n;
            i /= n;
            o += c * st.S0[d];
        }
        return o;
    }
}
