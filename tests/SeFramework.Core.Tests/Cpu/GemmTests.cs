// GemmTests: the fast Sgemm/Dgemm (and strided batches) against the naive reference loops on awkward shapes,
// every transpose combination, padded leading dimensions, alpha/beta combinations and thread counts.
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using SeFramework.Cpu;
using Xunit;

namespace SeFramework.Core.Tests.Cpu;

// CpuParallel.MaxThreads is process-wide: tests that change it must not run beside each other.
[CollectionDefinition(nameof(CpuThreadsCollection), DisableParallelization = true)]
public sealed class CpuThreadsCollection;

[Collection(nameof(CpuThreadsCollection))]
public sealed unsafe class GemmTests
{
    private static readonly int[] AwkwardSizes = [1, 2, 7, 17, 31, 33, 64, 65, 127, 129, 300];

    // Native buffer of (rows, ld) filled from a seeded RNG in [-1, 1); the columns past cols are NaN so that reading
    // outside the logical matrix shows up in the result.
    private sealed class Matrix<T> : IDisposable where T : unmanaged
    {
        public readonly T* Data;
        public readonly int Rows, Cols, Ld;
        public long Length => (long)Rows * Ld;

        public Matrix(int rows, int cols, int ld, Random rng, Func<double, T> convert, T pad)
        {
            Rows = rows; Cols = cols; Ld = ld;
            Data = (T*)NativeMemory.AlignedAlloc((nuint)(Math.Max(1, Length) * sizeof(T)), 64);
            for (int i = 0; i < rows; i++)
                for (int j = 0; j < ld; j++)
                    Data[(long)i * ld + j] = j < cols ? convert(rng.NextDouble() * 2 - 1) : pad;
        }

        public T[] ToArray() => new ReadOnlySpan<T>(Data, (int)Length).ToArray();
        public void Fill(T value) => new Span<T>(Data, (int)Length).Fill(value);
        public void Dispose() => NativeMemory.AlignedFree(Data);
    }

    private static Matrix<float> FloatMatrix(int rows, int cols, int extraLd, Random rng) =>
        new(rows, cols, cols + extraLd, rng, v => (float)v, float.NaN);

    private static void CheckSgemm(bool transA, bool transB, int m, int n, int k, float alpha, float beta, int seed, bool nanC = false,
        Gemm.SgemmKernel kernel = Gemm.SgemmKernel.Auto)
    {
        var rng = new Random(seed);
        using var a = transA ? FloatMatrix(k, m, 3, rng) : FloatMatrix(m, k, 5, rng);
        using var b = transB ? FloatMatrix(n, k, 2, rng) : FloatMatrix(k, n, 7, rng);
        using var c = FloatMatrix(m, n, 4, rng);
        if (nanC)
            for (int i = 0; i < m; i++) new Span<float>(c.Data + (long)i * c.Ld, n).Fill(float.NaN);
        float[] c0 = c.ToArray();
        using var cRef = FloatMatrix(m, n, 4, new Random(0));
        new Span<float>(c0).CopyTo(new Span<float>(cRef.Data, (int)cRef.Length));

        Gemm.Sgemm(kernel, transA, transB, m, n, k, alpha, a.Data, a.Ld, b.Data, b.Ld, beta, c.Data, c.Ld);
        Gemm.SgemmReference(transA, transB, m, n, k, alpha, a.Data, a.Ld, b.Data, b.Ld, beta, cRef.Data, cRef.Ld);
        float[] fast = c.ToArray();
        AssertClose(transA, transB, m, n, k, alpha, beta, new(a.Data, a.Ld), new(b.Data, b.Ld), c0, fast, cRef.ToArray(), 0, c.Ld,
            $"Sgemm[{kernel}](transA={transA}, transB={transB}, m={m}, n={n}, k={k}, alpha={alpha}, beta={beta})");
        // Padding columns of C (past n) stay untouched.
        for (int i = 0; i < m; i++)
            for (int j = n; j < c.Ld; j++)
                Assert.Equal(c0[(long)i * c.Ld + j], fast[(long)i * c.Ld + j]);
    }

    public static TheoryData<bool, bool> TransposeCombos => new() { { false, false }, { true, false }, { false, true }, { true, true } };

    [Theory]
    [MemberData(nameof(TransposeCombos))]
    public void Sgemm_matches_reference_on_awkward_square_and_cubic_shapes(bool transA, bool transB)
    {
        int seed = 1;
        foreach (int s in AwkwardSizes)
            CheckSgemm(transA, transB, s, s, s, 1f, 0f, seed++);
    }

    [Theory]
    [MemberData(nameof(TransposeCombos))]
    public void Sgemm_matches_reference_when_m_n_k_differ(bool transA, bool transB)
    {
        // Every size appears in every role; the triples mix tiny, tile-edge (31/33, 127/129) and multi-block (300) sizes.
        int[] s = AwkwardSizes;
        int seed = 100;
        for (int t = 0; t < s.Length; t++)
            CheckSgemm(transA, transB, s[t], s[(t + 4) % s.Length], s[(t + 7) % s.Length], 1f, 0f, seed++);
        CheckSgemm(transA, transB, 300, 129, 65, 1f, 0f, seed++);
        CheckSgemm(transA, transB, 13, 300, 257, 1f, 0f, seed++);   // k crosses the KC=256 block
        CheckSgemm(transA, transB, 1200, 17, 300, 1f, 0f, seed++);  // m crosses MC=1152
        CheckSgemm(transA, transB, 25, 530, 31, 1f, 0f, seed++);    // n crosses NC=512
    }

    // Auto picks one kernel per machine; this runs each implementation this CPU can execute (Vector512 12×32,
    // Vector256 6×16, scalar blocked) so the fallbacks are tested on an AVX-512 machine too.
    [Theory]
    [InlineData("Packed512")]
    [InlineData("Packed256")]
    [InlineData("Blocked")]
    public void Every_float_kernel_matches_reference(string kernelName)
    {
        var kernel = Enum.Parse<Gemm.SgemmKernel>(kernelName);
        if (kernel == Gemm.SgemmKernel.Packed512 && !Vector512.IsHardwareAccelerated) Assert.Skip("Vector512 is not hardware accelerated on this CPU");
        if (kernel == Gemm.SgemmKernel.Packed256 && !Vector256.IsHardwareAccelerated) Assert.Skip("Vector256 is not hardware accelerated on this CPU");
        int seed = 500;
        foreach (var (tA, tB) in new[] { (false, false), (true, false), (false, true), (true, true) })
            foreach (var (m, n, k) in new[] { (33, 65, 17), (29, 70, 40), (300, 31, 7), (13, 530, 257) })
            {
                // Alternate the beta case so each kernel sees both accumulate (beta != 0) and overwrite-NaN (beta = 0).
                bool overwrite = (seed & 1) == 0;
                CheckSgemm(tA, tB, m, n, k, overwrite ? 1f : 1.5f, overwrite ? 0f : -0.5f, seed++, nanC: overwrite, kernel: kernel);
            }
        CheckBatched(false, true, 33, 65, 17, 5, kernel, "forced kernel");
        CheckBatched(true, false, 64, 300, 129, 1, kernel, "forced kernel");
    }

    [Theory]
    [InlineData(1f, 0f)]
    [InlineData(1f, 1f)]
    [InlineData(-0.5f, 2f)]
    [InlineData(2.5f, -1f)]
    [InlineData(0f, 0.5f)]
    public void Sgemm_applies_alpha_and_beta(float alpha, float beta)
    {
        int seed = 200;
        foreach (var (tA, tB) in new[] { (false, false), (true, true), (false, true) })
        {
            CheckSgemm(tA, tB, 65, 33, 129, alpha, beta, seed++);   // packed path with edge tiles
            CheckSgemm(tA, tB, 7, 17, 2, alpha, beta, seed++);      // small-problem path
            CheckSgemm(tA, tB, 31, 100, 300, alpha, beta, seed++);  // two K blocks: beta applied once
        }
    }

    [Fact]
    public void Sgemm_with_beta_zero_overwrites_NaN_in_C()
    {
        int seed = 300;
        foreach (var (m, n, k) in new[] { (3, 5, 4), (64, 65, 33), (129, 31, 300) })
            foreach (var (tA, tB) in new[] { (false, false), (true, false), (false, true), (true, true) })
                CheckSgemm(tA, tB, m, n, k, 1.5f, 0f, seed++, nanC: true);
    }

    [Fact]
    public void Sgemm_with_k_zero_or_alpha_zero_scales_C_by_beta()
    {
        var rng = new Random(5);
        using var a = FloatMatrix(40, 40, 0, rng);
        using var b = FloatMatrix(40, 40, 0, rng);
        using var c = FloatMatrix(40, 40, 0, rng);
        float[] c0 = c.ToArray();
        Gemm.Sgemm(false, false, 40, 40, 0, 1f, a.Data, 40, b.Data, 40, 0.5f, c.Data, 40);
        Assert.Equal(c0.Select(v => v * 0.5f), c.ToArray());
        Gemm.Sgemm(false, false, 40, 40, 40, 0f, a.Data, 40, b.Data, 40, 0f, c.Data, 40);
        Assert.All(c.ToArray(), v => Assert.Equal(0f, v));
    }

    [Fact]
    public void Sgemm_rejects_leading_dimensions_shorter_than_a_row()
    {
        using var a = FloatMatrix(4, 4, 0, new Random(1));
        var e = Assert.Throws<ArgumentException>(() => Gemm.Sgemm(false, false, 4, 4, 4, 1f, a.Data, 3, a.Data, 4, 0f, a.Data, 4));
        Assert.Contains("lda=3", e.Message);
        Assert.Throws<ArgumentException>(() => Gemm.Sgemm(false, true, 4, 4, 5, 1f, a.Data, 5, a.Data, 4, 0f, a.Data, 4));
        Assert.Throws<ArgumentException>(() => Gemm.Sgemm(false, false, 4, 4, 4, 1f, a.Data, 4, a.Data, 4, 0f, a.Data, 3));
        Assert.Throws<ArgumentException>(() => Gemm.Sgemm(false, false, -1, 4, 4, 1f, a.Data, 4, a.Data, 4, 0f, a.Data, 4));
    }

    [Fact]
    public void Sgemm_gives_bit_identical_results_with_one_and_two_threads()
    {
        int saved = CpuParallel.MaxThreads;
        try
        {
            // (1160, 1200, 270): split over M, three NC column blocks and two KC blocks of the B the threads pack together;
            // (2100, 4200, 264): split over N, two MC row blocks and two KC blocks of the A the threads pack together.
            foreach (var (m, n, k, tA, tB) in new[] { (300, 300, 300, false, false), (129, 520, 257, true, true), (700, 65, 129, false, true),
                (1160, 1200, 270, false, false), (1160, 1200, 270, true, true), (2100, 4200, 264, false, false), (2100, 4200, 264, true, true) })
            {
                var rng = new Random(m + n + k);
                using var a = tA ? FloatMatrix(k, m, 1, rng) : FloatMatrix(m, k, 1, rng);
                using var b = tB ? FloatMatrix(n, k, 1, rng) : FloatMatrix(k, n, 1, rng);
                using var c = FloatMatrix(m, n, 1, rng);
                float[] c0 = c.ToArray();
                var results = new List<float[]>();
                foreach (int threads in new[] { 1, 2, 1, 2 })
                {
                    CpuParallel.MaxThreads = threads;
                    new Span<float>(c0).CopyTo(new Span<float>(c.Data, (int)c.Length));
                    Gemm.Sgemm(tA, tB, m, n, k, 0.75f, a.Data, a.Ld, b.Data, b.Ld, 0.25f, c.Data, c.Ld);
                    results.Add(c.ToArray());
                }
                foreach (float[] r in results.Skip(1))
                    Assert.True(r.AsSpan().SequenceEqual(results[0]), $"Sgemm m={m} n={n} k={k}: results differ between thread counts");
            }
        }
        finally
        {
            CpuParallel.MaxThreads = saved;
        }
    }

    [Fact]
    public void Sgemm_row_results_do_not_depend_on_how_many_rows_are_computed()
    {
        // Rows 0..r-1 of a 40-row product equal the r-row product of the same A rows, bit for bit: edge tiles, the
        // 4/8-row kernels and reading B in place for short A all keep each element's summation order.
        const int n = 70, k = 300;
        var rng = new Random(11);
        using var a = FloatMatrix(40, k, 0, rng);
        using var b = FloatMatrix(k, n, 0, rng);
        using var full = FloatMatrix(40, n, 0, rng);
        Gemm.Sgemm(false, false, 40, n, k, 1f, a.Data, k, b.Data, n, 0f, full.Data, n);
        foreach (int rows in new[] { 1, 3, 4, 5, 8, 12, 13, 24, 25 })
        {
            using var part = FloatMatrix(rows, n, 0, rng);
            Gemm.Sgemm(false, false, rows, n, k, 1f, a.Data, k, b.Data, n, 0f, part.Data, n);
            Assert.True(new ReadOnlySpan<float>(part.Data, rows * n).SequenceEqual(new ReadOnlySpan<float>(full.Data, rows * n)),
                $"the first {rows} rows differ from the same rows of the 40-row product");
        }
    }

    [Fact]
    public void Sgemm_allocates_nothing_single_threaded_and_only_a_delegate_with_two_threads_in_steady_state()
    {
        int saved = CpuParallel.MaxThreads;
        try
        {
            var rng = new Random(9);
            using var a = FloatMatrix(256, 256, 0, rng);
            using var b = FloatMatrix(256, 256, 0, rng);
            using var c = FloatMatrix(256, 256, 0, rng);
            foreach (int threads in new[] { 1, 2 })
            {
                CpuParallel.MaxThreads = threads;
                for (int warm = 0; warm < 3; warm++) Gemm.Sgemm(false, true, 256, 256, 256, 1f, a.Data, 256, b.Data, 256, 0f, c.Data, 256);
                long before = GC.GetAllocatedBytesForCurrentThread();
                for (int i = 0; i < 10; i++) Gemm.Sgemm(false, true, 256, 256, 256, 1f, a.Data, 256, b.Data, 256, 0f, c.Data, 256);
                long perCall = (GC.GetAllocatedBytesForCurrentThread() - before) / 10;
                // One closure + one delegate (~150 bytes) per parallel call; nothing when the call runs inline.
                Assert.True(threads == 1 ? perCall == 0 : perCall <= 256, $"Sgemm with {threads} thread(s) allocated {perCall} bytes per call");
            }
        }
        finally
        {
            CpuParallel.MaxThreads = saved;
        }
    }

    [Theory]
    [MemberData(nameof(TransposeCombos))]
    public void SgemmStridedBatched_matches_reference_per_batch(bool transA, bool transB)
    {
        int saved = CpuParallel.MaxThreads;
        try
        {
            // (m, n, k, batch): grouped-conv-like tiny problems, few big ones (column slices), one batch.
            foreach (var (m, n, k, batch) in new[] { (4, 49, 36, 32), (33, 65, 17, 5), (64, 300, 129, 1), (7, 2, 1, 3) })
                foreach (int threads in new[] { 1, 2 })
                {
                    CpuParallel.MaxThreads = threads;
                    CheckBatched(transA, transB, m, n, k, batch, Gemm.SgemmKernel.Auto, $"threads={threads}");
                }
        }
        finally
        {
            CpuParallel.MaxThreads = saved;
        }
    }

    private static void CheckBatched(bool transA, bool transB, int m, int n, int k, int batch, Gemm.SgemmKernel kernel, string what)
    {
        var rng = new Random(m * 1000 + batch);
        int lda = (transA ? m : k) + 3, ldb = (transB ? k : n) + 1, ldc = n + 2;
        int rowsA = transA ? k : m, rowsB = transB ? n : k;
        long strideA = (long)rowsA * lda + 5, strideB = (long)rowsB * ldb + 3, strideC = (long)m * ldc + 1;
        using var a = new Matrix<float>(batch, (int)strideA, (int)strideA, rng, v => (float)v, 0f);
        using var b = new Matrix<float>(batch, (int)strideB, (int)strideB, rng, v => (float)v, 0f);
        using var c = new Matrix<float>(batch, (int)strideC, (int)strideC, rng, v => (float)v, 0f);
        float[] c0 = c.ToArray();
        using var cRef = new Matrix<float>(batch, (int)strideC, (int)strideC, rng, v => (float)v, 0f);
        new Span<float>(c0).CopyTo(new Span<float>(cRef.Data, (int)cRef.Length));

        Gemm.SgemmStridedBatched(kernel, transA, transB, m, n, k, 1.25f, a.Data, lda, strideA, b.Data, ldb, strideB, -0.5f, c.Data, ldc, strideC, batch);
        for (int i = 0; i < batch; i++)
            Gemm.SgemmReference(transA, transB, m, n, k, 1.25f, a.Data + i * strideA, lda, b.Data + i * strideB, ldb, -0.5f, cRef.Data + i * strideC, ldc);

        float[] fast = c.ToArray(), reference = cRef.ToArray();
        for (int i = 0; i < batch; i++)
        {
            // View each batch item as its own matrices to reuse the per-element tolerance.
            var ai = new MatrixView(a.Data + i * strideA, lda);
            var bi = new MatrixView(b.Data + i * strideB, ldb);
            AssertClose(transA, transB, m, n, k, 1.25f, -0.5f, ai, bi, c0, fast, reference, i * strideC, ldc,
                $"SgemmStridedBatched[{kernel}] item {i}/{batch} (transA={transA}, transB={transB}, m={m}, n={n}, k={k}, {what})");
        }
        // Gaps between batch items (the +1 of strideC) stay untouched.
        for (int i = 0; i < batch; i++)
            Assert.Equal(c0[i * strideC + strideC - 1], fast[i * strideC + strideC - 1]);
    }

    private readonly struct MatrixView(float* data, int ld)
    {
        public readonly float* Data = data;
        public readonly int Ld = ld;
    }

    // Tolerance (per element): |fast - ref| <= 4·sqrt(k)·eps·(|alpha|·sum_p |a_ip||b_pj| + |beta|·|c_ij|) + 4·eps·|ref|.
    // Rounding errors of a k-term dot product grow like sqrt(k)·eps·sum|terms| for random data (k·eps worst case);
    // the reference sums in double, so nearly all of the difference is the fast path's own rounding.
    private static void AssertClose(bool transA, bool transB, int m, int n, int k, float alpha, float beta,
        MatrixView a, MatrixView b, float[] c0, float[] fast, float[] reference, long offset, int ldc, string what)
    {
        double eps = 1.0 / (1 << 23);
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double absSum = 0;
                for (int p = 0; p < k; p++)
                    absSum += Math.Abs(transA ? a.Data[(long)p * a.Ld + i] : a.Data[(long)i * a.Ld + p]) *
                              Math.Abs(transB ? b.Data[(long)j * b.Ld + p] : b.Data[(long)p * b.Ld + j]);
                long idx = offset + (long)i * ldc + j;
                double tol = 4 * Math.Sqrt(k) * eps * (Math.Abs(alpha) * absSum + (beta == 0 ? 0 : Math.Abs(beta) * Math.Abs(c0[idx]))) + 4 * eps * Math.Abs(reference[idx]) + 1e-30;
                double err = Math.Abs((double)fast[idx] - reference[idx]);
                if (!(err <= tol))
                    Assert.Fail($"{what}: C[{i},{j}] = {fast[idx]}, reference {reference[idx]}, |diff| {err:E3} > tolerance {tol:E3}");
            }
    }

    // ---- double ----------------------------------------------------------------------------------------------------

    [Theory]
    [MemberData(nameof(TransposeCombos))]
    public void Dgemm_matches_reference_on_awkward_shapes(bool transA, bool transB)
    {
        // Both sides sum in double; tolerance 4·sqrt(k)·eps64·(|alpha|·sum|a||b| + |beta||c|) per element.
        int seed = 400;
        foreach (var (m, n, k, alpha, beta) in new[] { (1, 1, 1, 1.0, 0.0), (17, 31, 33, 1.0, 0.0), (65, 129, 7, -2.0, 0.5), (300, 64, 300, 0.5, 1.0), (2, 300, 127, 1.0, 0.0) })
        {
            var rng = new Random(seed++);
            using var a = transA ? new Matrix<double>(k, m, m + 2, rng, v => v, double.NaN) : new Matrix<double>(m, k, k + 3, rng, v => v, double.NaN);
            using var b = transB ? new Matrix<double>(n, k, k + 1, rng, v => v, double.NaN) : new Matrix<double>(k, n, n + 4, rng, v => v, double.NaN);
            using var c = new Matrix<double>(m, n, n + 2, rng, v => v, double.NaN);
            if (beta == 0) c.Fill(double.NaN);
            double[] c0 = c.ToArray();
            using var cRef = new Matrix<double>(m, n, n + 2, rng, v => v, double.NaN);
            new Span<double>(c0).CopyTo(new Span<double>(cRef.Data, (int)cRef.Length));

            Gemm.Dgemm(transA, transB, m, n, k, alpha, a.Data, a.Ld, b.Data, b.Ld, beta, c.Data, c.Ld);
            Gemm.DgemmReference(transA, transB, m, n, k, alpha, a.Data, a.Ld, b.Data, b.Ld, beta, cRef.Data, cRef.Ld);
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++)
                {
                    double absSum = 0;
                    for (int p = 0; p < k; p++)
                        absSum += Math.Abs(transA ? a.Data[(long)p * a.Ld + i] : a.Data[(long)i * a.Ld + p]) *
                                  Math.Abs(transB ? b.Data[(long)j * b.Ld + p] : b.Data[(long)p * b.Ld + j]);
                    long idx = (long)i * c.Ld + j;
                    double cOld = beta == 0 ? 0 : Math.Abs(c0[idx]);
                    double tol = 4 * Math.Sqrt(k) * Math.Pow(2, -52) * (Math.Abs(alpha) * absSum + Math.Abs(beta) * cOld) + 1e-300;
                    double err = Math.Abs(c.Data[idx] - cRef.Data[idx]);
                    Assert.True(err <= tol, $"Dgemm(transA={transA}, transB={transB}, m={m}, n={n}, k={k}): C[{i},{j}] = {c.Data[idx]}, reference {cRef.Data[idx]}, |diff| {err:E3} > {tol:E3}");
                }
        }
    }

    [Fact]
    public void DgemmStridedBatched_matches_reference_per_batch()
    {
        const int m = 5, n = 37, k = 19, batch = 6;
        var rng = new Random(77);
        long strideA = m * k + 1, strideB = k * n + 2, strideC = m * n + 3;
        using var a = new Matrix<double>(batch, (int)strideA, (int)strideA, rng, v => v, 0);
        using var b = new Matrix<double>(batch, (int)strideB, (int)strideB, rng, v => v, 0);
        using var c = new Matrix<double>(batch, (int)strideC, (int)strideC, rng, v => v, 0);
        using var cRef = new Matrix<double>(batch, (int)strideC, (int)strideC, rng, v => v, 0);
        new Span<double>(c.Data, (int)c.Length).CopyTo(new Span<double>(cRef.Data, (int)cRef.Length));
        Gemm.DgemmStridedBatched(false, true, m, n, k, 2.0, a.Data, k, strideA, b.Data, k, strideB, 0.5, c.Data, n, strideC, batch);
        for (int i = 0; i < batch; i++)
            Gemm.DgemmReference(false, true, m, n, k, 2.0, a.Data + i * strideA, k, b.Data + i * strideB, k, 0.5, cRef.Data + i * strideC, n);
        for (long i = 0; i < c.Length; i++)
            Assert.True(Math.Abs(c.Data[i] - cRef.Data[i]) <= 1e-13, $"DgemmStridedBatched element {i}: {c.Data[i]} vs {cRef.Data[i]}");
    }
}
