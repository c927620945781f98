// On a CUDA GPU: our kernels against the CPU reference loops on several shapes (small and large planes, float4 and scalar
// paths), the allocator on a real device, the kernel loader and RawKernel. Each test skips with the reason where there is no GPU.
using SeFramework.Cuda.Kernels;
using SeFramework.Cuda.Native;
using SeFramework.Cuda.Runtime;

namespace SeFramework.Cuda.Tests;

public class GpuTests
{
    private static float[] Rand(int seed, int n) { var r = new Random(seed); return Enumerable.Range(0, n).Select(_ => (float)(r.NextDouble() * 2 - 1)).ToArray(); }

    private static void Close(float[] expected, float[] actual, float tol, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            if (!(Math.Abs(expected[i] - actual[i]) <= tol * (1 + Math.Abs(expected[i]))))
                Assert.Fail($"{what}: element {i}: expected {expected[i]}, got {actual[i]}");
    }

    // (planes, hw): 7x7 (warp, scalar), 14x14 (warp, float4), 5 (tiny, odd), 56x56 (block, float4), 1030 (block, scalar)
    public static TheoryData<int, int> Shapes => new() { { 6, 49 }, { 5, 196 }, { 9, 5 }, { 3, 3136 }, { 4, 1030 } };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Axpy_forward_and_backward_match_the_reference(int planes, int hw)
    {
        var d = TestEnvironment.GpuOrSkip();
        int n = planes * hw;
        float[] a = Rand(1, planes), x = Rand(2, n), y = Rand(3, n), df = Rand(4, n);
        using var ba = CudaBuffer<float>.From(d, a);
        using var bx = CudaBuffer<float>.From(d, x);
        using var by = CudaBuffer<float>.From(d, y);
        using var bdf = CudaBuffer<float>.From(d, df);
        using var bf = new CudaBuffer<float>(d, n);
        using var bdx = new CudaBuffer<float>(d, n);
        using var bdy = new CudaBuffer<float>(d, n);
        using var bda = new CudaBuffer<float>(d, planes);
        foreach (bool relu in new[] { false, true })
        {
            CudaKernels.AxpyForward(d, bf.Pointer, ba.Pointer, bx.Pointer, by.Pointer, planes, hw, relu);
            var f = new float[n];
            KernelReference.AxpyForward(f, a, x, y, planes, hw, relu);
            Close(f, bf.ToArray(), 1e-6f, $"Axpy{(relu ? "Relu" : "")} forward ({planes}, {hw})");

            CudaKernels.AxpyBackward(d, bdx.Pointer, bdy.Pointer, bda.Pointer, bdf.Pointer, ba.Pointer, bx.Pointer, relu ? bf.Pointer : 0, planes, hw, relu);
            float[] dx = new float[n], dy = new float[n], da = new float[planes];
            KernelReference.AxpyBackward(dx, dy, da, df, a, x, f, planes, hw, relu);
            Close(dx, bdx.ToArray(), 1e-6f, "dx");
            Close(dy, bdy.ToArray(), 0f, "dy");
            Close(da, bda.ToArray(), 1e-4f, "da");
        }
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Gap_forward_and_backward_match_the_reference(int planes, int hw)
    {
        var d = TestEnvironment.GpuOrSkip();
        int n = planes * hw;
        float[] x = Rand(5, n), dy = Rand(6, planes);
        using var bx = CudaBuffer<float>.From(d, x);
        using var by = new CudaBuffer<float>(d, planes);
        using var bdy = CudaBuffer<float>.From(d, dy);
        using var bdx = new CudaBuffer<float>(d, n);
        CudaKernels.GapForward(d, by.Pointer, bx.Pointer, planes, hw);
        CudaKernels.GapBackward(d, bdx.Pointer, bdy.Pointer, planes, hw);
        float[] y = new float[planes], dx = new float[n];
        KernelReference.GapForward(y, x, planes, hw);
        KernelReference.GapBackward(dx, dy, planes, hw);
        Close(y, by.ToArray(), 1e-5f, $"GAP forward ({planes}, {hw})");
        Close(dx, bdx.ToArray(), 1e-6f, "GAP backward");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(1000)]
    [InlineData(100003)]
    public void Elementwise_ops_match_the_reference(int n)
    {
        var d = TestEnvironment.GpuOrSkip();
        float[] a = Rand(7, n), b = Rand(8, n);
        using var ba = CudaBuffer<float>.From(d, a);
        using var bb = CudaBuffer<float>.From(d, b);
        using var bz = new CudaBuffer<float>(d, n);
        void Check(Func<int, float> expected, string what, float tol = 1e-6f) => Close(Enumerable.Range(0, n).Select(expected).ToArray(), bz.ToArray(), tol, what);
        CudaKernels.Binary(d, CudaKernels.BinaryOp.Add, bz.Pointer, ba.Pointer, bb.Pointer, n); Check(i => a[i] + b[i], "add");
        CudaKernels.Binary(d, CudaKernels.BinaryOp.Sub, bz.Pointer, ba.Pointer, bb.Pointer, n); Check(i => a[i] - b[i], "sub");
        CudaKernels.Binary(d, CudaKernels.BinaryOp.Mul, bz.Pointer, ba.Pointer, bb.Pointer, n); Check(i => a[i] * b[i], "mul");
        CudaKernels.Scale(d, bz.Pointer, ba.Pointer, -2.5f, n); Check(i => -2.5f * a[i], "scale");
        CudaKernels.Unary(d, CudaKernels.UnaryOp.Relu, bz.Pointer, ba.Pointer, n); Check(i => Math.Max(a[i], 0), "relu");
        CudaKernels.UnaryBackward(d, CudaKernels.UnaryOp.Relu, bz.Pointer, bb.Pointer, ba.Pointer, n); Check(i => a[i] > 0 ? b[i] : 0, "relu backward");
        CudaKernels.Unary(d, CudaKernels.UnaryOp.Sigmoid, bz.Pointer, ba.Pointer, n); Check(i => KernelReference.Sigmoid(a[i]), "sigmoid", 1e-5f);
        CudaKernels.UnaryBackward(d, CudaKernels.UnaryOp.Sigmoid, bz.Pointer, bb.Pointer, ba.Pointer, n); Check(i => b[i] * a[i] * (1 - a[i]), "sigmoid backward", 1e-5f);
        CudaKernels.Fill(d, bz.Pointer, 3.25f, n); Check(_ => 3.25f, "fill", 0f);
        CudaKernels.Copy(d, bz.Pointer, bb.Pointer, n); Check(i => b[i], "copy", 0f);
        CudaKernels.Axpby(d, bz.Pointer, ba.Pointer, 2f, 0.5f, n); Check(i => 2f * a[i] + 0.5f * b[i], "axpby");
    }

    [Theory]
    [InlineData(4, 10)]
    [InlineData(33, 1000)]
    public void Softmax_cross_entropy_matches_the_reference(int rows, int k)
    {
        var d = TestEnvironment.GpuOrSkip();
        float[] logits = Rand(9, rows * k).Select(v => v * 5).ToArray(), g = Rand(10, rows);
        int[] labels = Enumerable.Range(0, rows).Select(i => i * 7 % k).ToArray();
        using var bl = CudaBuffer<float>.From(d, logits);
        using var blab = CudaBuffer<int>.From(d, labels);
        using var bg = CudaBuffer<float>.From(d, g);
        using var bloss = new CudaBuffer<float>(d, rows);
        using var blse = new CudaBuffer<float>(d, rows);
        using var bd = new CudaBuffer<float>(d, rows * k);
        CudaKernels.SoftmaxCrossEntropyForward(d, bloss.Pointer, blse.Pointer, bl.Pointer, blab.Pointer, rows, k);
        CudaKernels.SoftmaxCrossEntropyBackward(d, bd.Pointer, bl.Pointer, blse.Pointer, blab.Pointer, bg.Pointer, rows, k);
        float[] loss = new float[rows], lse = new float[rows], dl = new float[rows * k];
        KernelReference.SoftmaxCrossEntropyForward(loss, lse, logits, labels, rows, k);
        KernelReference.SoftmaxCrossEntropyBackward(dl, logits, lse, labels, g, rows, k);
        Close(loss, bloss.ToArray(), 1e-5f, "loss");
        Close(dl, bd.ToArray(), 1e-5f, "dlogits");
    }

    [Theory]
    [InlineData(false, 0f, 0f)]
    [InlineData(false, 0.9f, 0f)]
    [InlineData(true, 0.9f, 0f)]
    [InlineData(false, 0.9f, 0.3f)]
    public void Multi_tensor_sgd_matches_the_reference_over_two_steps(bool nesterov, float momentum, float dampening)
    {
        var d = TestEnvironment.GpuOrSkip();
        const int tensors = 70; // two launches: 64 + 6
        var o = new SgdOptions(0.1f, momentum, dampening, 1e-4f, nesterov);
        var ps = Enumerable.Range(0, tensors).Select(t => Rand(100 + t, 1 + t * 37)).ToArray();
        var gs = ps.Select((p, t) => Rand(200 + t, p.Length)).ToArray();
        var ms = ps.Select(p => new float[p.Length]).ToArray();
        var bp = ps.Select(p => CudaBuffer<float>.From(d, p)).ToArray();
        var bgs = gs.Select(g => CudaBuffer<float>.From(d, g)).ToArray();
        var bm = ms.Select(m => new CudaBuffer<float>(d, m.Length)).ToArray();
        try
        {
            var list = Enumerable.Range(0, tensors).Select(t => new SgdTensor(bp[t].Pointer, bgs[t].Pointer, momentum != 0 ? bm[t].Pointer : 0, ps[t].Length)).ToArray();
            for (int step = 0; step < 2; step++)
            {
                CudaKernels.SgdStep(d, list, o, firstStep: step == 0);
                for (int t = 0; t < tensors; t++) KernelReference.SgdStep(ps[t], gs[t], ms[t], o.LearningRate, momentum, dampening, o.WeightDecay, nesterov, step == 0);
            }
            for (int t = 0; t < tensors; t++) Close(ps[t], bp[t].ToArray(), 1e-6f, $"param {t}");
        }
        finally
        {
            foreach (var b in bp.Concat(bgs).Concat(bm)) b.Dispose();
        }
    }

    [Fact]
    public void Kernel_loader_loads_every_module_and_kernel()
    {
        var d = TestEnvironment.GpuOrSkip();
        foreach (var (m, k) in CudaKernels.AllKernels) Assert.NotEqual(0, d.Kernels.Function(m, k));
        var e = Assert.Throws<CudaException>(() => d.Kernels.Function("gap", "no_such_kernel"));
        Assert.Equal("CUDA_ERROR_NOT_FOUND", e.StatusName);
    }

    [Fact]
    public void Allocator_reuses_device_memory_and_reports_usage()
    {
        var d = TestEnvironment.GpuOrSkip();
        var a = new CudaCachingAllocator(new DriverMemorySource(d));
        ulong p = a.Allocate(3 << 20);
        var data = Rand(11, 1000);
        d.CopyToDevice<float>(data, p);
        var back = new float[1000];
        d.CopyToHost<float>(p, back);
        Assert.Equal(data, back);
        a.Free(p);
        Assert.Equal(p, a.Allocate(3 << 20));
        Assert.Equal(1, a.Stats.DriverAllocations);
        a.Free(p);
        a.EmptyCache();
        Assert.Equal(0UL, a.Stats.ReservedBytes);
        var e = Assert.Throws<CudaOutOfMemoryException>(() => a.Allocate(d.TotalMemory * 2, "too big"));
        Assert.Contains("too big", e.Message);
    }

    [Fact]
    public void Raw_kernel_compiles_and_runs_on_device_pointers()
    {
        var d = TestEnvironment.GpuOrSkip();
        TestEnvironment.NvrtcOrSkip();
        using var k = new RawKernel(d, """
            extern "C" __global__ void saxpy(float* y, const float* x, float a, unsigned n) {
                unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
                if (i < n) y[i] = a * x[i] + y[i];
            }
            """, "saxpy");
        const int n = 1000;
        float[] x = Rand(12, n), y = Rand(13, n);
        using var bx = CudaBuffer<float>.From(d, x);
        using var by = CudaBuffer<float>.From(d, y);
        k.Launch((n + 255) / 256, 256, by, bx, 3f, (uint)n);
        Close(x.Select((v, i) => 3f * v + y[i]).ToArray(), by.ToArray(), 1e-6f, "saxpy");
    }

    [Fact]
    public void Events_time_work_on_the_stream()
    {
        var d = TestEnvironment.GpuOrSkip();
        using var buf = new CudaBuffer<float>(d, 1 << 24);
        using var start = new CudaEvent(d);
        using var end = new CudaEvent(d);
        start.Record(d.Stream);
        for (int i = 0; i < 10; i++) CudaKernels.Fill(d, buf.Pointer, i, buf.Length);
        end.Record(d.Stream);
        float ms = CudaEvent.ElapsedMilliseconds(start, end);
        Assert.InRange(ms, 1e-4f, 1e4f);
    }
}

// cuBLAS through the row-major transpose trick, against a plain CPU matmul (needs a GPU and libcublas).
public class CublasGpuTests
{
    private static float[] Rand(int seed, int n) { var r = new Random(seed); return Enumerable.Range(0, n).Select(_ => (float)(r.NextDouble() * 2 - 1)).ToArray(); }

    // Row-major reference: C (m, n) = op(A) . op(B); A stored (m, k) or (k, m) when ta.
    private static float[] MatMul(float[] a, float[] b, int m, int n, int k, bool ta, bool tb)
    {
        var c = new float[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = 0;
                for (int p = 0; p < k; p++) s += (double)(ta ? a[p * m + i] : a[i * k + p]) * (tb ? b[j * k + p] : b[p * n + j]);
                c[i * n + j] = (float)s;
            }
        return c;
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    [InlineData(true, true)]
    public void Row_major_gemm_matches_a_cpu_matmul(bool ta, bool tb)
    {
        var d = TestEnvironment.GpuOrSkip();
        if (!NativeLibraryResolver.TryLoad(NativeLibraryResolver.Blas, out _, out var why)) Assert.Skip(why);
        const int m = 5, n = 7, k = 3, batch = 3;
        float[] a = Rand(1, m * k), b = Rand(2, batch * k * n);
        using var blas = new CublasHandle(d);
        using var ba = CudaBuffer<float>.From(d, a);
        using var bb = CudaBuffer<float>.From(d, b);
        using var bc = new CudaBuffer<float>(d, batch * m * n);
        blas.Gemm(ta, tb, m, n, k, ba.Pointer, bb.Pointer, bc.Pointer);
        var got = bc.ToArray();
        var want = MatMul(a, b, m, n, k, ta, tb);
        for (int i = 0; i < m * n; i++) Assert.Equal(want[i], got[i], 1e-5f);
        // Batched with a shared A (stride 0), as a 1x1 convolution uses it.
        blas.GemmStridedBatched(ta, tb, m, n, k, ba.Pointer, 0, bb.Pointer, k * n, bc.Pointer, m * n, batch);
        got = bc.ToArray();
        for (int s = 0; s < batch; s++)
        {
            want = MatMul(a, b[(s * k * n)..((s + 1) * k * n)], m, n, k, ta, tb);
            for (int i = 0; i < m * n; i++) Assert.Equal(want[i], got[s * m * n + i], 1e-5f);
        }
    }
}
