// Kernel arguments as cuLaunchKernel would read them, checked without a GPU: a per-thread interceptor (CudaKernels.InterceptLaunches)
// takes the void** array of every launch, and each slot is read with the type and size of the kernel's parameter in the committed PTX.
// Our fast launchers are checked value by value; every CudaBackend op that needs no host copy, cuBLAS or cuDNN runs on a fake device
// whose allocator hands out recognisable addresses, and each argument must be plausible for its PTX type.
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using SeFramework.Backends;
using SeFramework.Cuda.Backend;
using SeFramework.Cuda.Runtime;

namespace SeFramework.Cuda.Tests;

public unsafe class LaunchArgumentTests
{
    /// <summary>One kernel parameter from the PTX: Kind u64 / u32 / f32 / f64, or b8 for a by-value struct of Size bytes.</summary>
    private sealed record PtxParam(string Kind, int Size);

    private sealed record Recorded(string Module, string Kernel, uint GridX, uint GridY, object[] Values);

    private static readonly Lazy<Dictionary<(string Module, string Kernel), PtxParam[]>> Params = new(ParsePtx);

    private static Dictionary<(string, string), PtxParam[]> ParsePtx()
    {
        var result = new Dictionary<(string, string), PtxParam[]>();
        var param = new Regex(@"^\s*\.param (?:\.align \d+ )?\.(u64|u32|f32|f64|b8) \w+?(?:\[(\d+)\])?,?$");
        foreach (var module in KernelLoader.ModuleNames)
        {
            var lines = KernelLoader.ReadPtx(module).Split('\n');
            for (int i = 0; i < lines.Length; i++)
            {
                var entry = Regex.Match(lines[i], @"^\.visible \.entry (\w+)\($");
                if (!entry.Success) continue;
                var ps = new List<PtxParam>();
                for (i++; lines[i].Trim() != ")"; i++)
                {
                    var m = param.Match(lines[i]);
                    Assert.True(m.Success, $"{module}.ptx: unexpected parameter line '{lines[i]}' in {entry.Groups[1].Value}");
                    string kind = m.Groups[1].Value;
                    ps.Add(new PtxParam(kind, kind == "b8" ? int.Parse(m.Groups[2].Value) : kind is "u64" or "f64" ? 8 : 4));
                }
                result[(module, entry.Groups[1].Value)] = ps.ToArray();
            }
        }
        return result;
    }

    // Runs `act` with launches intercepted; reads every argument slot as the PTX declares it.
    private static List<Recorded> Capture(Action act)
    {
        var launches = new List<Recorded>();
        CudaKernels.InterceptLaunches = (module, kernel, gx, gy, args) =>
        {
            Assert.True(Params.Value.TryGetValue((module, kernel), out var ps), $"launch of {module}.{kernel}, which is not in {module}.ptx");
            var values = new object[ps!.Length];
            for (int i = 0; i < ps.Length; i++)
            {
                void* p = args[i];
                Assert.True(p != null, $"{kernel}: argument slot {i} is null");
                values[i] = ps[i].Kind switch
                {
                    "u64" => *(ulong*)p,
                    "u32" => *(uint*)p,
                    "f32" => *(float*)p,
                    "f64" => *(double*)p,
                    _ => new ReadOnlySpan<byte>(p, ps[i].Size).ToArray(),
                };
            }
            launches.Add(new Recorded(module, kernel, gx, gy, values));
        };
        try { act(); }
        finally { CudaKernels.InterceptLaunches = null; }
        return launches;
    }

    private static Recorded Single(Action act)
    {
        var l = Capture(act);
        Assert.Single(l);
        return l[0];
    }

    private static void Expect(Recorded r, string kernel, params object[] expected)
    {
        Assert.Equal(kernel, r.Kernel);
        Assert.Equal(expected.Length, r.Values.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(expected[i].Equals(r.Values[i]), $"{kernel} argument {i}: expected {expected[i]} ({expected[i].GetType().Name}), the launch passes {r.Values[i]} ({r.Values[i].GetType().Name})");
    }

    // A CudaDevice that never touches the driver: the launchers only read its SM count (launches are intercepted), and its
    // allocator hands out addresses no real argument slot could mistake: (0x5E00 + k) << 32 | 0x8000_0000.
    private sealed class FakeMemory : IDeviceMemorySource
    {
        public readonly List<(ulong Start, ulong End)> Blocks = new();
        public int Allocate(ulong bytes, out ulong pointer)
        {
            pointer = ((0x5E00UL + (ulong)Blocks.Count) << 32) | 0x8000_0000UL;
            Blocks.Add((pointer, pointer + bytes));
            return 0;
        }
        public void Free(ulong pointer) { }
        public (ulong Free, ulong Total) MemoryInfo() => (1UL << 30, 1UL << 30);
        public void Synchronize() { }
        public bool Holds(ulong p) => Blocks.Any(b => p >= b.Start && p < b.End);
    }

    private static void SetField(object o, string name, object? value) =>
        (o.GetType().GetField(name, BindingFlags.Instance | BindingFlags.NonPublic)
         ?? throw new MissingFieldException(o.GetType().Name, name)).SetValue(o, value);

    private static CudaDevice FakeDevice(FakeMemory memory)
    {
        var d = (CudaDevice)RuntimeHelpers.GetUninitializedObject(typeof(CudaDevice));
        SetField(d, "<MultiprocessorCount>k__BackingField", 132);
        SetField(d, "_allocator", new Lazy<CudaCachingAllocator>(() => new CudaCachingAllocator(memory)));
        return d;
    }

    private static CudaBackend FakeBackend(CudaDevice device)
    {
        var backend = (CudaBackend)typeof(CudaBackend).GetConstructor(BindingFlags.Instance | BindingFlags.NonPublic, [typeof(int)])!.Invoke([0]);
        SetField(backend, "_device", new Lazy<CudaDevice>(() => device));
        return backend;
    }

    // 16-byte aligned stand-ins for device pointers (the vec4 paths need alignment).
    private const ulong F = 0x7F00_0000_1000, A = 0x7F00_0001_0000, X = 0x7F00_0002_0000, Y = 0x7F00_0003_0000, G = 0x7F00_0004_0000;

    [Fact]
    public void Axpy_launchers_pass_pointers_then_counts_in_the_kernels_order()
    {
        var d = FakeDevice(new FakeMemory());
        // 7x7 planes: scalar path, total and hw; 14x14: float4 path, total/4 and hw/4.
        Expect(Single(() => CudaKernels.AxpyForward(d, F, A, X, Y, 6, 49, relu: false)), "axpy_forward_f32", F, A, X, Y, 294u, 49u);
        Expect(Single(() => CudaKernels.AxpyForward(d, F, A, X, Y, 6, 196, relu: true)), "axpy_relu_forward_vec4_f32", F, A, X, Y, 294u, 49u);
        Expect(Single(() => CudaKernels.AxpyForward(d, F + 4, A, X, Y, 6, 196, relu: false)), "axpy_forward_f32", F + 4, A, X, Y, 1176u, 196u);
        // backward: dx, dy, da, df, a, x, [f,] planes, hw; warp per plane up to 1024 elements, block per plane above.
        Expect(Single(() => CudaKernels.AxpyBackward(d, X + 16, 0, A + 16, G, A, X, 0, 6, 49, relu: false)),
            "axpy_backward_warp_f32", X + 16, 0UL, A + 16, G, A, X, 6u, 49u);
        var r = Single(() => CudaKernels.AxpyBackward(d, X + 16, Y, A + 16, G, A, X, F, 3, 3136, relu: true));
        Expect(r, "axpy_relu_backward_block_f32", X + 16, Y, A + 16, G, A, X, F, 3u, 3136u);
        Assert.Equal(3u, r.GridX); // one block per plane
    }

    [Fact]
    public void Gap_and_elementwise_launchers_pass_arguments_in_the_kernels_order()
    {
        var d = FakeDevice(new FakeMemory());
        Expect(Single(() => CudaKernels.GapForward(d, Y, X, 10, 49)), "gap_forward_warp_f32", Y, X, 10u, 49u);
        Expect(Single(() => CudaKernels.GapForward(d, Y, X, 10, 3136)), "gap_forward_block_vec4_f32", Y, X, 10u, 3136u);
        Expect(Single(() => CudaKernels.GapBackward(d, X, Y, 10, 196)), "gap_backward_vec4_f32", X, Y, 490u, 49u);
        Expect(Single(() => CudaKernels.GapBackward(d, X, Y, 10, 49)), "gap_backward_f32", X, Y, 490u, 49u);
        Expect(Single(() => CudaKernels.Fill(d, Y, 2.5f, 7)), "fill_f32", Y, 2.5f, 7u);
        Expect(Single(() => CudaKernels.Copy(d, Y, X, 8)), "copy_vec4_f32", Y, X, 2u);
        Expect(Single(() => CudaKernels.Copy(d, Y, X, 7)), "copy_f32", Y, X, 7u);
        Expect(Single(() => CudaKernels.Scale(d, Y, X, -3f, 9)), "scale_f32", Y, X, -3f, 9u);
        Expect(Single(() => CudaKernels.Binary(d, CudaKernels.BinaryOp.Sub, G, A, X, 9)), "sub_f32", G, A, X, 9u);
        Expect(Single(() => CudaKernels.Axpby(d, Y, X, 2f, 0.5f, 9)), "axpby_f32", Y, X, 2f, 0.5f, 9u);
        Expect(Single(() => CudaKernels.Unary(d, CudaKernels.UnaryOp.Sigmoid, Y, X, 9)), "sigmoid_f32", Y, X, 9u);
        Expect(Single(() => CudaKernels.UnaryBackward(d, CudaKernels.UnaryOp.Relu, G, Y, X, 9)), "relu_backward_f32", G, Y, X, 9u);
        Expect(Single(() => CudaKernels.SoftmaxCrossEntropyForward(d, F, A, X, Y, 4, 10)), "softmax_ce_forward_f32", F, A, X, Y, 4u, 10u);
        Expect(Single(() => CudaKernels.SoftmaxCrossEntropyBackward(d, F, X, A, Y, G, 4, 10)), "softmax_ce_backward_f32", F, X, A, Y, G, 4u, 10u);
    }

    [Fact]
    public void Sgd_launcher_passes_the_tensor_list_by_value_then_the_hyper_parameters()
    {
        var d = FakeDevice(new FakeMemory());
        var tensors = Enumerable.Range(0, 70).Select(t => new SgdTensor(F + (ulong)t * 0x100, G + (ulong)t * 0x100, Y + (ulong)t * 0x100, t + 1)).ToArray();
        var launches = Capture(() => CudaKernels.SgdStep(d, tensors, new SgdOptions(0.1f, 0.9f, 0.25f, 1e-4f, Nesterov: false), firstStep: true));
        Assert.Equal(2, launches.Count); // 64 + 6 tensors
        Assert.Equal(new[] { 64u, 6u }, launches.Select(l => l.GridY));
        for (int l = 0; l < 2; l++)
        {
            var v = launches[l].Values;
            Assert.Equal(7, v.Length);
            Assert.Equal(new object[] { 0.1f, 0.9f, 0.25f, 1e-4f }, v[1..5]);
            Assert.Equal(new object[] { 0u, 1u }, v[5..7]); // nesterov, first step
            var list = (byte[])v[0];
            Assert.Equal(1792, list.Length);
            int count = l == 0 ? 64 : 6;
            for (int i = 0; i < count; i++)
            {
                var t = tensors[l * 64 + i];
                Assert.Equal(t.Param, BitConverter.ToUInt64(list, 8 * i));
                Assert.Equal(t.Grad, BitConverter.ToUInt64(list, 512 + 8 * i));
                Assert.Equal(t.MomentumBuffer, BitConverter.ToUInt64(list, 1024 + 8 * i));
                Assert.Equal((uint)t.Count, BitConverter.ToUInt32(list, 1536 + 4 * i));
            }
        }
    }

    // Plausibility of each argument for its PTX type: device pointers are null or inside a block of the fake allocator; u32
    // (counts, op codes, flags) below 2^31 (a pointer read as u32 is >= 0x8000_0000 by construction); floats finite and not
    // subnormal (a pointer read as f64 is); the by-value structs have sane fields.
    private static void CheckPlausible(Recorded r, FakeMemory memory, string op)
    {
        var ps = Params.Value[(r.Module, r.Kernel)];
        Assert.True(r.GridX >= 1 && r.GridY >= 1, $"{op}: {r.Kernel} grid ({r.GridX}, {r.GridY})");
        for (int i = 0; i < ps.Length; i++)
        {
            string where = $"{op}: {r.Kernel} argument {i} ({ps[i].Kind})";
            switch (r.Values[i])
            {
                case ulong p: Assert.True(p == 0 || memory.Holds(p), $"{where} = 0x{p:x} is not a device pointer of this test"); break;
                case uint u: Assert.True(u <= int.MaxValue, $"{where} = {u} (0x{u:x}) is no count, code or flag"); break;
                case float f: Assert.True(float.IsFinite(f) && (f == 0 || !float.IsSubnormal(f)), $"{where} = {f}"); break;
                case double v: Assert.True(double.IsFinite(v) && (v == 0 || !double.IsSubnormal(v)), $"{where} = {v}"); break;
                case byte[] s when s.Length == 144: // Strides2: shape[6] (u32), s0[6], s1[6], off0, off1, rank
                    int rank = BitConverter.ToInt32(s, 136);
                    Assert.InRange(rank, 0, 6);
                    for (int k = 0; k < 6; k++)
                    {
                        uint n = BitConverter.ToUInt32(s, 4 * k);
                        Assert.True(k < rank ? n >= 2 : n == 0, $"{where}: Strides2 rank {rank}, shape[{k}] = {n}");
                    }
                    Assert.True(BitConverter.ToInt64(s, 120) >= 0 && BitConverter.ToInt64(s, 128) >= 0, $"{where}: negative Strides2 offset");
                    break;
                case byte[] s when s.Length == 36: // PoolGeom: planes, h, w, p, q (u32), kernel, stride, padding, mode (s32)
                    for (int k = 0; k < 7; k++) Assert.True(BitConverter.ToInt32(s, 4 * k) >= 1, $"{where}: PoolGeom field {k}");
                    Assert.InRange(BitConverter.ToInt32(s, 28), 0, 64);
                    Assert.InRange(BitConverter.ToInt32(s, 32), 0, 2);
                    break;
                default: Assert.Fail($"{where}: unexpected by-value struct of {((byte[])r.Values[i]).Length} bytes"); break;
            }
        }
    }

    [Theory]
    [InlineData(DType.Float32)]
    [InlineData(DType.Float64)]
    public void Every_backend_launch_passes_plausible_arguments_for_the_ptx_parameter_types(DType dtype)
    {
        var memory = new FakeMemory();
        var b = FakeBackend(FakeDevice(memory));
        Tensor T(params int[] shape) => new CudaBackend.DeviceTemp(b, dtype, shape).Tensor;
        var other = dtype == DType.Float32 ? DType.Float64 : DType.Float32;
        var x4 = T(2, 3, 8, 8); var y4 = T(2, 3, 8, 8); var dx4 = T(2, 3, 8, 8); var dy4 = T(2, 3, 8, 8);
        var pooled = T(2, 3, 4, 4); var dpooled = T(2, 3, 4, 4);
        var nc = T(2, 3); var nc11 = T(2, 3, 1, 1); var c = T(3); var c2 = T(3); var c3 = T(3); var c4 = T(3); var c5 = T(3); var c6 = T(3);
        var rows = T(4, 10); var rows2 = T(4, 10); var rows3 = T(4, 10);
        var pool = new Pool2dGeometry(2, 3, 8, 8, 4, 4, 3, 2, 1);
        var ops = new (string Name, Action Run)[]
        {
            ("Fill", () => b.Fill(x4, 1.5)),
            ("Copy strided", () => b.Copy(x4.Permute(0, 2, 3, 1), T(2, 8, 8, 3))),
            ("Copy cast", () => b.Copy(x4, new CudaBackend.DeviceTemp(b, other, [2, 3, 8, 8]).Tensor)),
            ("Unary Pow", () => b.Unary(UnaryOp.Pow, x4, y4, 2.5)),
            ("Unary Relu of a view", () => b.Unary(UnaryOp.Relu, x4.Permute(0, 1, 3, 2), y4, 0)),
            ("UnaryBackward Tanh", () => b.UnaryBackward(UnaryOp.Tanh, x4, y4, dy4, dx4, 0)),
            ("Binary broadcast", () => b.Binary(BinaryOp.Div, x4, c.Reshape(1, 3, 1, 1).Expand(2, 3, 8, 8), y4)),
            ("AddInPlace", () => b.AddInPlace(y4, x4.Permute(0, 1, 3, 2))),
            ("Sum", () => b.Sum(x4, [true, false, true, true], T(1, 3, 1, 1))),
            ("Pool2dForward max", () => b.Pool2dForward(PoolMode.Max, x4, pooled, pool)),
            ("Pool2dBackward avg", () => b.Pool2dBackward(PoolMode.AverageExcludePad, x4, pooled, dpooled, dx4, pool)),
            ("GlobalAvgPool", () => b.GlobalAvgPool(x4, nc11)),
            ("GlobalAvgPoolBackward", () => b.GlobalAvgPoolBackward(nc11, dx4)),
            ("Axpy", () => b.Axpy(nc, x4, y4, dx4, relu: true)),
            ("ChannelScale", () => b.Axpy(nc, x4, null, dx4, relu: false)),
            ("AxpyBackward", () => b.AxpyBackward(nc, x4, y4, dy4, relu: true, T(2, 3), dx4, T(2, 3, 8, 8))),
            ("AxpyBackward without da", () => b.AxpyBackward(nc, x4, y4, dy4, relu: false, null, dx4, null)),
            ("BatchNormForwardTraining", () => b.BatchNormForwardTraining(x4, c, c2, y4, c3, c4, c5, c6, 0.1, 1e-5)),
            ("BatchNormForwardInference", () => b.BatchNormForwardInference(x4, null, null, c5, c6, y4, c3, c4, 1e-5)),
            ("BatchNormBackward", () => b.BatchNormBackward(x4, dy4, c, c3, c4, training: true, dx4, c5, c6)),
            ("SoftmaxRows", () => b.SoftmaxRows(rows, rows2, log: true)),
            ("SoftmaxRowsBackward", () => b.SoftmaxRowsBackward(rows2, rows3, rows, log: false)),
            ("SgdUpdate momentum", () => b.SgdUpdate(c, c2, c3, firstStep: false, 0.1, 0.9, 0.0, 1e-4, nesterov: true)),
            ("SgdUpdate plain", () => b.SgdUpdate(c, c2, null, firstStep: true, 0.1, 0, 0, 0, nesterov: false)),
        };
        var launched = new HashSet<string>();
        foreach (var (name, run) in ops)
        {
            var launches = Capture(run);
            Assert.True(launches.Count > 0, $"{name} launched nothing");
            foreach (var l in launches)
            {
                CheckPlausible(l, memory, name);
                launched.Add(l.Kernel);
            }
        }
        // The launch sites above cover every kernel family of backend.cu except those behind host copies (max_rows and
        // softmax_xent upload or download int32 buffers) and the cuDNN convolution's bias kernel.
        string sfx = BackendKernels.Suffix(dtype);
        var expected = new[] { "fill_value", "unary", "unary_backward", "binary", "sum", "softmax_rows", "softmax_rows_backward", "sgd",
            "pool_forward", "pool_backward", "axpy_generic", "axpy_generic_backward", "bn_forward", "bn_backward" }.Select(k => k + sfx).ToList();
        expected.Add("strided_copy" + sfx + sfx);
        expected.Add("strided_copy" + BackendKernels.Suffix(other) + sfx);
        if (dtype == DType.Float32) expected.AddRange(["gap_forward_warp_vec4_f32", "gap_backward_vec4_f32", "axpy_relu_forward_vec4_f32", "axpy_relu_backward_warp_f32"]);
        else expected.Add("plane_broadcast_f64");
        foreach (var k in expected) Assert.Contains(k, launched);
    }

    [Fact]
    public void Backend_scalars_reach_the_kernels_with_their_values()
    {
        var memory = new FakeMemory();
        var b = FakeBackend(FakeDevice(memory));
        Tensor T(params int[] shape) => new CudaBackend.DeviceTemp(b, DType.Float64, shape).Tensor;
        ulong P(Tensor t) => CudaBackend.Ptr(t, "test");
        var p = T(5); var g = T(5); var m = T(5);
        Expect(Single(() => b.SgdUpdate(p, g, m, firstStep: true, 0.1, 0.9, 0.25, 1e-4, nesterov: true)),
            "sgd_f64", P(p), P(g), P(m), 5u, 1u, 0.1, 0.9, 0.25, 1e-4, 1u);
        var x = T(4, 3, 2, 5); var y = T(4, 3, 2, 5); var w = T(3); var bias = T(3); var sm = T(3); var si = T(3); var rm = T(3); var rv = T(3);
        var r = Single(() => b.BatchNormForwardTraining(x, w, bias, y, sm, si, rm, rv, 0.1, 1e-5));
        Expect(r, "bn_forward_f64", P(y), P(sm), P(si), P(rm), P(rv), P(x), P(w), P(bias), 4u, 3u, 10u, 1u, 0.1, 1e-5);
        Expect(Single(() => b.Fill(x, -2.5)), "fill_value_f64", P(x), -2.5, 120u);
        var dx = T(4, 3, 2, 5); var dy = T(4, 3, 2, 5); var dw = T(3); var db = T(3);
        Expect(Single(() => b.BatchNormBackward(x, dy, null, sm, si, training: false, dx, dw, db)),
            "bn_backward_f64", P(dx), P(dw), P(db), P(x), P(dy), 0UL, P(sm), P(si), 4u, 3u, 10u, 0u);
    }
}
