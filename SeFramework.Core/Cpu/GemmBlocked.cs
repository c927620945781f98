// GemmBlocked: plain cache-blocked GEMM generic over the element type: serves Dgemm (float64 gradient checks) and the
// float path on CPUs without Vector256/Vector512 acceleration. Packs op(B) blocks and alpha·op(A) 4-row strips, then
// updates 4 rows of C at a time with register accumulators (Vector<T>, no FMA: generic math has no fused vector op).
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
        public readonly T* A = (T*)NativeMemory.AlignedAlloc((nuint)(KC * Rows * sizeof(T)), 64);

        ~Buffer()
        {
            NativeMemory.AlignedFree(Data);
            NativeMemory.AlignedFree(A);
        }
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
        Buffer buffer = t_buffer ??= new Buffer();
        T* packedB = buffer.Data, packedA = buffer.A;
        long sai = transA ? 1 : lda, sap = transA ? lda : 1;
        for (int jc = 0; jc < n; jc += NC)
        {
            int nc = Math.Min(NC, n - jc);
            for (int pc = 0; pc < k; pc += KC)
            {
                int kc = Math.Min(KC, k - pc);
                // op(B)[pc:pc+kc, jc:jc+nc] -> packedB (kc, nc), row-major.
                for (int p = 0; p < kc; p++)
                {
                    T* dst = packedB + p * nc;
                    if (transB)
                        for (int j = 0; j < nc; j++) dst[j] = b[(long)(jc + j) * ldb + pc + p];
                    else
                        new ReadOnlySpan<T>(b + (long)(pc + p) * ldb + jc, nc).CopyTo(new Span<T>(dst, nc));
                }
                for (int i0 = 0; i0 < m; i0 += Rows)
                {
                    int rows = Math.Min(Rows, m - i0);
                    // alpha·op(A)[i0:i0+rows, pc:pc+kc] -> packedA (kc, Rows), rows past m zeroed.
                    for (int p = 0; p < kc; p++)
                        for (int r = 0; r < Rows; r++)
                            packedA[p * Rows + r] = r < rows ? alpha * a[(i0 + r) * sai + (pc + p) * sap] : T.Zero;
                    UpdateRows(kc, nc, rows, packedA, packedB, c + (long)i0 * ldc + jc, ldc);
                }
            }
        }
    }

    private const int Rows = 4;

    // c (rows ≤ 4, nc) += packedA (kc, 4)ᵀ · packedB (kc, nc): 4 rows × 2 vectors of accumulators kept in registers,
    // summed in p order (the same order as the scalar tail, so a column's bits do not depend on where it falls).
    private static void UpdateRows(int kc, int nc, int rows, T* packedA, T* packedB, T* c, int ldc)
    {
        int w = Vector<T>.Count, j = 0;
        T* c0 = c, c1 = c + (rows > 1 ? ldc : 0), c2 = c + (rows > 2 ? 2L * ldc : 0), c3 = c + (rows > 3 ? 3L * ldc : 0);
        if (Vector.IsHardwareAccelerated)
        {
            for (; j + 2 * w <= nc; j += 2 * w)
            {
                // Rows past `rows` alias row 0 and are never stored.
                Vector<T> a0 = Vector.Load(c0 + j), b0 = Vector.Load(c0 + j + w), a1 = Vector.Load(c1 + j), b1 = Vector.Load(c1 + j + w),
                    a2 = Vector.Load(c2 + j), b2 = Vector.Load(c2 + j + w), a3 = Vector.Load(c3 + j), b3 = Vector.Load(c3 + j + w);
                T* ap = packedA, bp = packedB + j;
                for (int p = 0; p < kc; p++, ap += Rows, bp += nc)
                {
                    Vector<T> x = Vector.Load(bp), y = Vector.Load(bp + w);
                    var s0 = new Vector<T>(ap[0]); a0 += s0 * x; b0 += s0 * y;
                    var s1 = new Vector<T>(ap[1]); a1 += s1 * x; b1 += s1 * y;
                    var s2 = new Vector<T>(ap[2]); a2 += s2 * x; b2 += s2 * y;
                    var s3 = new Vector<T>(ap[3]); a3 += s3 * x; b3 += s3 * y;
                }
                a0.Store(c0 + j); b0.Store(c0 + j + w);
                if (rows > 1) { a1.Store(c1 + j); b1.Store(c1 + j + w); }
                if (rows > 2) { a2.Store(c2 + j); b2.Store(c2 + j + w); }
                if (rows > 3) { a3.Store(c3 + j); b3.Store(c3 + j + w); }
            }
        }
        for (; j < nc; j++)
            for (int r = 0; r < rows; r++)
            {
                T sum = c[(long)r * ldc + j];
                for (int p = 0; p < kc; p++) sum += packedA[p * Rows + r] * packedB[p * nc + j];
                c[(long)r * ldc + j] = sum;
            }
    }
}
