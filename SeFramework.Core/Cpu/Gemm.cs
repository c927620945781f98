// Gemm: row-major matrix multiply C = alpha*op(A)*op(B) + beta*C for float and double, plus strided batches
// (grouped convolutions) and the naive reference loops the fast paths are tested against.
using System.Runtime.Intrinsics;

namespace SeFramework.Cpu;

/// <summary>
/// Row-major GEMM with leading dimensions. op(A) is m×k (A is k×m when <c>transA</c>), op(B) is k×n (B is n×k when
/// <c>transB</c>), C is m×n. beta == 0 overwrites C without reading it (NaN in C does not leak through).
/// Sgemm/Dgemm results depend only on the shapes, never on <see cref="CpuParallel.MaxThreads"/>: every C element is
/// summed in the same order whichever thread computes it (tested). The strided-batch variants split columns by the
/// thread count, and a tiny slice may take the simple loop instead of the packed kernel, so their results are
/// bit-identical for a given MaxThreads (what training determinism needs) but may differ in the last bits across counts.
/// </summary>
public static unsafe class Gemm
{
    // Below this many multiply-adds the packed path's packing and dispatch cost more than they save.
    internal const long SmallProblem = 8 * 8 * 8;

    // Parallel work per thread below this many flops is not worth waking a worker (a wake costs a few µs).
    internal const long MinFlopsPerThread = 1L << 21;

    /// <summary>Which float implementation runs; Auto picks the fastest the CPU accelerates. Tests force the others.</summary>
    internal enum SgemmKernel { Auto, Packed512, Packed256, Blocked }

    private static SgemmKernel Resolve(SgemmKernel kernel) => kernel != SgemmKernel.Auto ? kernel
        : Vector512.IsHardwareAccelerated ? SgemmKernel.Packed512
        : Vector256.IsHardwareAccelerated ? SgemmKernel.Packed256
        : SgemmKernel.Blocked;

    // ---- float ----------------------------------------------------------------------------------------------------

    // a: op(A) (m, k), b: op(B) (k, n), c: (m, n) -> c = alpha*a*b + beta*c
    public static void Sgemm(bool transA, bool transB, int m, int n, int k, float alpha, float* a, int lda,
        float* b, int ldb, float beta, float* c, int ldc) =>
        Sgemm(SgemmKernel.Auto, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);

    internal static void Sgemm(SgemmKernel kernel, bool transA, bool transB, int m, int n, int k, float alpha, float* a, int lda,
        float* b, int ldb, float beta, float* c, int ldc)
    {
        Validate("Sgemm", transA, transB, m, n, k, a, lda, b, ldb, c, ldc);
        if (m == 0 || n == 0) return;
        if (k == 0 || alpha == 0f)
        {
            ScaleC(m, n, beta, c, ldc);
            return;
        }
        long macs = (long)m * n * k;
        if (macs <= SmallProblem)
        {
            SimpleGemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
            return;
        }
        kernel = Resolve(kernel);
        if (kernel == SgemmKernel.Blocked)
            GemmBlocked<float>.Run(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, parallel: true);
        else
            GemmPacked.RunParallel(kernel == SgemmKernel.Packed512, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    }

    // batch × [a_i: op(A) (m, k), b_i: op(B) (k, n), c_i: (m, n)], x_i = x + i*strideX -> c_i = alpha*a_i*b_i + beta*c_i
    public static void SgemmStridedBatched(bool transA, bool transB, int m, int n, int k, float alpha,
        float* a, int lda, long strideA, float* b, int ldb, long strideB, float beta, float* c, int ldc, long strideC, int batch) =>
        SgemmStridedBatched(SgemmKernel.Auto, transA, transB, m, n, k, alpha, a, lda, strideA, b, ldb, strideB, beta, c, ldc, strideC, batch);

    internal static void SgemmStridedBatched(SgemmKernel kernel, bool transA, bool transB, int m, int n, int k, float alpha,
        float* a, int lda, long strideA, float* b, int ldb, long strideB, float beta, float* c, int ldc, long strideC, int batch)
    {
        if (batch < 0) throw new ArgumentOutOfRangeException(nameof(batch), batch, "SgemmStridedBatched: batch must be >= 0.");
        Validate("SgemmStridedBatched", transA, transB, m, n, k, a, lda, b, ldb, c, ldc);
        if (m == 0 || n == 0 || batch == 0) return;
        kernel = Resolve(kernel);
        bool packed = kernel != SgemmKernel.Blocked, use512 = kernel == SgemmKernel.Packed512;
        // One parallel-for over batch × column slices; each item packs its own problem once and runs single-threaded.
        var (slices, sliceWidth) = BatchSlices(m, n, k, batch, packed ? GemmPacked.NR(use512) : 16);
        long flopsPerItem = 2L * m * k * sliceWidth;
        int grain = (int)Math.Clamp(MinFlopsPerThread / Math.Max(1, flopsPerItem), 1, int.MaxValue);
        CpuParallel.For(batch * slices, grain, (start, end) =>
        {
            for (int item = start; item < end; item++)
            {
                int bi = item / slices, j0 = item % slices * sliceWidth, nj = Math.Min(n, j0 + sliceWidth) - j0;
                if (nj <= 0) continue;
                float* ai = a + bi * strideA;
                float* bj = b + bi * strideB + (transB ? (long)j0 * ldb : j0);
                float* cj = c + bi * strideC + j0;
                if (k == 0 || alpha == 0f) ScaleC(m, nj, beta, cj, ldc);
                else if ((long)m * nj * k <= SmallProblem) SimpleGemm(transA, transB, m, nj, k, alpha, ai, lda, bj, ldb, beta, cj, ldc);
                else if (packed) GemmPacked.Run(use512, transA, transB, m, nj, k, alpha, ai, lda, bj, ldb, beta, cj, ldc);
                else GemmBlocked<float>.Run(transA, transB, m, nj, k, alpha, ai, lda, bj, ldb, beta, cj, ldc, parallel: false);
            }
        });
    }

    // Reference: naive triple loop, accumulated in double so the oracle is more accurate than the code under test.
    public static void SgemmReference(bool transA, bool transB, int m, int n, int k, float alpha, float* a, int lda,
        float* b, int ldb, float beta, float* c, int ldc)
    {
        Validate("SgemmReference", transA, transB, m, n, k, a, lda, b, ldb, c, ldc);
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double sum = 0;
                for (int p = 0; p < k; p++)
                    sum += (double)(transA ? a[(long)p * lda + i] : a[(long)i * lda + p]) * (transB ? b[(long)j * ldb + p] : b[(long)p * ldb + j]);
                float* cij = c + (long)i * ldc + j;
                *cij = beta == 0f ? (float)(alpha * sum) : (float)(alpha * sum + (double)beta * *cij);
            }
    }

    // ---- double ---------------------------------------------------------------------------------------------------

    // a: op(A) (m, k), b: op(B) (k, n), c: (m, n) -> c = alpha*a*b + beta*c (cache-blocked, vectorised, parallel over N)
    public static void Dgemm(bool transA, bool transB, int m, int n, int k, double alpha, double* a, int lda,
        double* b, int ldb, double beta, double* c, int ldc)
    {
        Validate("Dgemm", transA, transB, m, n, k, a, lda, b, ldb, c, ldc);
        if (m == 0 || n == 0) return;
        if (k == 0 || alpha == 0d)
        {
            ScaleC(m, n, beta, c, ldc);
            return;
        }
        GemmBlocked<double>.Run(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, parallel: true);
    }

    // batch × [a_i: op(A) (m, k), b_i: op(B) (k, n), c_i: (m, n)], x_i = x + i*strideX -> c_i = alpha*a_i*b_i + beta*c_i
    public static void DgemmStridedBatched(bool transA, bool transB, int m, int n, int k, double alpha,
        double* a, int lda, long strideA, double* b, int ldb, long strideB, double beta, double* c, int ldc, long strideC, int batch)
    {
        if (batch < 0) throw new ArgumentOutOfRangeException(nameof(batch), batch, "DgemmStridedBatched: batch must be >= 0.");
        Validate("DgemmStridedBatched", transA, transB, m, n, k, a, lda, b, ldb, c, ldc);
        if (m == 0 || n == 0 || batch == 0) return;
        long flopsPerItem = 2L * m * n * k;
        int grain = (int)Math.Clamp(MinFlopsPerThread / Math.Max(1, flopsPerItem), 1, int.MaxValue);
        CpuParallel.For(batch, grain, (start, end) =>
        {
            for (int bi = start; bi < end; bi++)
            {
                double* ci = c + bi * strideC;
                if (k == 0 || alpha == 0d) ScaleC(m, n, beta, ci, ldc);
                else GemmBlocked<double>.Run(transA, transB, m, n, k, alpha, a + bi * strideA, lda, b + bi * strideB, ldb, beta, ci, ldc, parallel: false);
            }
        });
    }

    // Reference: naive triple loop in double.
    public static void DgemmReference(bool transA, bool transB, int m, int n, int k, double alpha, double* a, int lda,
        double* b, int ldb, double beta, double* c, int ldc)
    {
        Validate("DgemmReference", transA, transB, m, n, k, a, lda, b, ldb, c, ldc);
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double sum = 0;
                for (int p = 0; p < k; p++)
                    sum += (transA ? a[(long)p * lda + i] : a[(long)i * lda + p]) * (transB ? b[(long)j * ldb + p] : b[(long)p * ldb + j]);
                double* cij = c + (long)i * ldc + j;
                *cij = beta == 0d ? alpha * sum : alpha * sum + beta * *cij;
            }
    }

    // ---- shared helpers -------------------------------------------------------------------------------------------

    // How many column slices (and how wide, in whole nr panels) each batch item is cut into so that batch × slices
    // keeps every thread busy without slices too small to be worth a thread.
    private static (int Slices, int Width) BatchSlices(int m, int n, int k, int batch, int nr)
    {
        int threads = CpuParallel.MaxThreads;
        if (batch >= 2 * threads) return (1, n);
        int panels = (n + nr - 1) / nr;
        int wanted = (2 * threads + batch - 1) / batch;
        long flopsPerPanel = 2L * m * k * nr;
        int byWork = (int)Math.Max(1, Math.Min(panels, (long)panels * flopsPerPanel / MinFlopsPerThread));
        int slices = Math.Max(1, Math.Min(wanted, byWork));
        int width = (panels + slices - 1) / slices * nr;
        return ((n + width - 1) / width, width);
    }

    // c: (m, n) -> beta*c, or zeros when beta == 0 (NaN in c is overwritten)
    internal static void ScaleC<T>(int m, int n, T beta, T* c, int ldc) where T : unmanaged, System.Numerics.INumber<T>
    {
        for (int i = 0; i < m; i++)
        {
            Span<T> row = new(c + (long)i * ldc, n);
            if (beta == T.Zero) row.Clear();
            else if (beta != T.One)
                for (int j = 0; j < n; j++) row[j] *= beta;
        }
    }

    // Plain loop for tiny problems: a: op(A) (m, k), b: op(B) (k, n), c: (m, n). Fused multiply-adds in p order.
    internal static void SimpleGemm(bool transA, bool transB, int m, int n, int k, float alpha, float* a, int lda,
        float* b, int ldb, float beta, float* c, int ldc)
    {
        long sai = transA ? 1 : lda, sap = transA ? lda : 1, sbp = transB ? 1 : ldb, sbj = transB ? ldb : 1;
        for (int i = 0; i < m; i++)
        {
            float* ai = a + i * sai;
            float* ci = c + (long)i * ldc;
            for (int j = 0; j < n; j++)
            {
                float* bj = b + j * sbj;
                float sum = 0f;
                for (int p = 0; p < k; p++) sum = MathF.FusedMultiplyAdd(ai[p * sap], bj[p * sbp], sum);
                ci[j] = beta == 0f ? alpha * sum : MathF.FusedMultiplyAdd(alpha, sum, beta * ci[j]);
            }
        }
    }

    private static void Validate<T>(string op, bool transA, bool transB, int m, int n, int k, T* a, int lda, T* b, int ldb, T* c, int ldc)
        where T : unmanaged
    {
        if (m < 0 || n < 0 || k < 0)
            throw new ArgumentException($"{op}: m, n, k must be >= 0, got m={m}, n={n}, k={k}.");
        int minLda = Math.Max(1, transA ? m : k), minLdb = Math.Max(1, transB ? k : n), minLdc = Math.Max(1, n);
        if (lda < minLda)
            throw new ArgumentException($"{op}: lda={lda} is smaller than the row length of A ({(transA ? "A is k×m, transA" : "A is m×k")}, m={m}, k={k}); pass lda >= {minLda}.", nameof(lda));
        if (ldb < minLdb)
            throw new ArgumentException($"{op}: ldb={ldb} is smaller than the row length of B ({(transB ? "B is n×k, transB" : "B is k×n")}, k={k}, n={n}); pass ldb >= {minLdb}.", nameof(ldb));
        if (ldc < minLdc)
            throw new ArgumentException($"{op}: ldc={ldc} is smaller than n={n}; pass ldc >= {minLdc}.", nameof(ldc));
        if (m > 0 && n > 0 && c == null) throw new ArgumentNullException(nameof(c), $"{op}: C is null for an {m}×{n} result.");
        if (m > 0 && n > 0 && k > 0 && (a == null || b == null))
            throw new ArgumentNullException(a == null ? nameof(a) : nameof(b), $"{op}: A or B is null for m={m}, n={n}, k={k}.");
    }
}
