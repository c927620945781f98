// GemmBlocked: plain cache-blocked GEMM generic over the element type: serves Dgemm (float64 gradient checks) and the
// float path on CPUs without Vector256/Vector512 acceleration. Packs op(B) blocks, then row-wise vector axpys into C.
using System.Numerics;
using System.Runtime.InteropServices;

namespace SeFramework.Cpu;

internal static unsafe class GemmBlocked<T> where T : unmanaged, INumber<T>
{
    // KC×NC block of op(B) = 256×256 elements (512 KiB for double) stays in L2; one C row slice (≤ 2 KiB) stays in L1.
    private const int KC = 256, NC = 256;

    [ThreadStatic] private static Buffer? t_buffer;

    private sealed class Buffer
    {
        public readonly T* Data = (T*)NativeMemory.AlignedAlloc((nuint)(KC * NC * sizeof(T)), 64);
        ~Buffer() => NativeMemory.AlignedFree(Data);
    }

    // a: op(A) (m, k), b: op(B) (k, n), c: (m, n) -> c = alpha*a*b + beta*c; parallel over column ranges when asked.
    public static void Run(bool transA, bool transB, int m, int n, int k, T alpha, T* a, int lda, T* b, int ldb, T beta, T* c, int ldc, bool parallel)
    {
        const int unit = 64;
        int panels = (n + unit - 1) / unit;
        long flopsPerPanel = 2L * m * k * unit;
        int grain = (int)Math.Clamp((Gemm.MinFlopsPerThread + flopsPerPanel - 1) / flopsPerPanel, 1, int.MaxValue);
        if (!parallel || CpuParallel.ChunkCount(panels, grain) == 1)
            RunSerial(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        else
            RunSplit(unit, panels, grain, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    }

    // The parallel half of Run, kept apart so the single-threaded call allocates no closure.
    private static void RunSplit(int unit, int panels, int grain, bool transA, bool transB, int m, int n, int k, T alpha, T* a, int lda,
        T* b, int ldb, T beta, T* c, int ldc)
    {
        CpuParallel.For(panels, grain, (start, end) =>
        {
            int lo = start * unit, hi = Math.Min(end * unit, n);
            RunSerial(transA, transB, m, hi - lo, k, alpha, a, lda, transB ? b + (long)lo * ldb : b + lo, ldb, beta, c + lo, ldc);
        });
    }

    private static void RunSerial(bool transA, bool transB, int m, int n, int k, T alpha, T* a, int lda, T* b, int ldb, T beta, T* c, int ldc)
    {
        Gemm.ScaleC(m, n, beta, c, ldc);
        T* packed = (t_buffer ??= new Buffer()).Data;
        long sai = transA ? 1 : lda, sap = transA ? lda : 1;
        for (int jc = 0; jc < n; jc += NC)
        {
            int nc = Math.Min(NC, n - jc);
            for (int pc = 0; pc < k; pc += KC)
            {
                int kc = Math.Min(KC, k - pc);
                // op(B)[pc:pc+kc, jc:jc+nc] -> packed (kc, nc), row-major.
                for (int p = 0; p < kc; p++)
                {
                    T* dst = packed + p * nc;
                    if (transB)
                        for (int j = 0; j < nc; j++) dst[j] = b[(long)(jc + j) * ldb + pc + p];
                    else
                        new ReadOnlySpan<T>(b + (long)(pc + p) * ldb + jc, nc).CopyTo(new Span<T>(dst, nc));
                }
                for (int i = 0; i < m; i++)
                {
                    T* ai = a + i * sai + pc * sap;
                    Span<T> cRow = new(c + (long)i * ldc + jc, nc);
                    for (int p = 0; p < kc; p++)
                        Axpy(alpha * ai[p * sap], new ReadOnlySpan<T>(packed + p * nc, nc), cRow);
                }
            }
        }
    }

    // y += s * x
    private static void Axpy(T s, ReadOnlySpan<T> x, Span<T> y)
    {
        int j = 0;
        if (Vector.IsHardwareAccelerated && x.Length >= Vector<T>.Count)
        {
            var sv = new Vector<T>(s);
            for (; j <= x.Length - Vector<T>.Count; j += Vector<T>.Count)
                (new Vector<T>(y[j..]) + sv * new Vector<T>(x[j..])).CopyTo(y[j..]);
        }
        for (; j < x.Length; j++) y[j] += s * x[j];
    }
}
