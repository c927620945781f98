// GemmPacked: the fast float GEMM driver: cache blocking, packing of A and B panels (all transpositions handled here,
// never by a materialised transpose), per-thread packing buffers, and the parallel split over N or M panels.
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace SeFramework.Cpu;

internal static unsafe class GemmPacked
{
    // Which micro-kernel runs: Vector512 12×32 where AVX-512 is hardware accelerated, else Vector256 6×16.
    internal static readonly bool Use512 = Vector512.IsHardwareAccelerated;
    internal static bool Available => Vector512.IsHardwareAccelerated || Vector256.IsHardwareAccelerated;
    internal static int MR => Use512 ? GemmKernels.MR512 : GemmKernels.MR256;
    internal static int NR => Use512 ? GemmKernels.NR512 : GemmKernels.NR256;

    // Cache blocking (BLIS order: the small broadcast operand stays in L1, the vector operand streams from L2).
    // KC = 256: the A micro-panel (12×256 floats = 12 KiB) sits in L1 (32 KiB on this Zen 4 guest, 48 KiB on Zen 5)
    //   beside the streaming B rows; a long KC makes the C tile load/store (1.5 KiB per 196 kflop) negligible.
    // NC = 384: the packed B block (256×384 floats = 384 KiB) stays in the 1 MiB L2 while every A micro-panel passes over it.
    // MC = 384: the packed A block (384 KiB) sits in L2/L3 and is reused across all of N; B is repacked only m/MC times.
    internal const int KC = 256, MC = 384, NC = 384;

    // ---- per-thread packing buffers (allocated once per thread, 64-byte aligned) -------------------------------------

    [ThreadStatic] private static Workspace? t_workspace;

    private sealed class Workspace
    {
        public readonly float* A, B, Tile;

        public Workspace()
        {
            // Sized for the largest kernel (MR, NR are at most 12 and 32); A and B panels are zero-padded to MR/NR.
            A = (float*)NativeMemory.AlignedAlloc((nuint)(MC * KC * sizeof(float)), 64);
            B = (float*)NativeMemory.AlignedAlloc((nuint)(KC * NC * sizeof(float)), 64);
            Tile = (float*)NativeMemory.AlignedAlloc((nuint)(GemmKernels.MR512 * GemmKernels.NR512 * sizeof(float)), 64);
        }

        ~Workspace()
        {
            NativeMemory.AlignedFree(A);
            NativeMemory.AlignedFree(B);
            NativeMemory.AlignedFree(Tile);
        }
    }

    // ---- drivers ----------------------------------------------------------------------------------------------------

    // a: op(A) (m, k), b: op(B) (k, n), c: (m, n). Splits the larger of N and M into panel ranges, one per thread;
    // panel boundaries never change an element's summation order, so results do not depend on the thread count.
    internal static void RunParallel(bool transA, bool transB, int m, int n, int k, float alpha, float* a, int lda,
        float* b, int ldb, float beta, float* c, int ldc)
    {
        int mr = MR, nr = NR;
        bool splitN = n >= m;
        int unit = splitN ? nr : mr;
        int panels = ((splitN ? n : m) + unit - 1) / unit;
        long flopsPerPanel = 2L * k * unit * (splitN ? m : n);
        int grain = (int)Math.Clamp((Gemm.MinFlopsPerThread + flopsPerPanel - 1) / flopsPerPanel, 1, int.MaxValue);
        if (CpuParallel.ChunkCount(panels, grain) == 1 || panels < 2 * grain)
        {
            Run(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
            return;
        }
        CpuParallel.For(panels, grain, (start, end) =>
        {
            int lo = start * unit, hi = Math.Min(end * unit, splitN ? n : m);
            if (splitN)
                Run(transA, transB, m, hi - lo, k, alpha, a, lda, transB ? b + (long)lo * ldb : b + lo, ldb, beta, c + lo, ldc);
            else
                Run(transA, transB, hi - lo, n, k, alpha, transA ? a + lo : a + (long)lo * lda, lda, b, ldb, beta, c + (long)lo * ldc, ldc);
        });
    }

    // Single-threaded blocked driver. a: op(A) (m, k), b: op(B) (k, n), c: (m, n) -> c = alpha*a*b + beta*c
    internal static void Run(bool transA, bool transB, int m, int n, int k, float alpha, float* a, int lda,
        float* b, int ldb, float beta, float* c, int ldc)
    {
        Workspace ws = t_workspace ??= new Workspace();
        int mr = MR, nr = NR;
        for (int ic = 0; ic < m; ic += MC)
        {
            int mc = Math.Min(MC, m - ic);
            for (int pc = 0; pc < k; pc += KC)
            {
                int kc = Math.Min(KC, k - pc);
                PackA(transA, a, lda, ic, pc, mc, kc, mr, ws.A);
                // The first K block applies the caller's beta; later blocks accumulate into what the first wrote.
                float betaBlock = pc == 0 ? beta : 1f;
                for (int jc = 0; jc < n; jc += NC)
                {
                    int nc = Math.Min(NC, n - jc);
                    PackB(transB, b, ldb, pc, jc, kc, nc, nr, ws.B);
                    for (int ir = 0; ir < mc; ir += mr)
                    {
                        int rows = Math.Min(mr, mc - ir);
                        float* aPanel = ws.A + (long)ir * kc;
                        float* cRow = c + (long)(ic + ir) * ldc + jc;
                        for (int jr = 0; jr < nc; jr += nr)
                        {
                            int cols = Math.Min(nr, nc - jr);
                            if (Use512)
                                GemmKernels.Kernel12x32(kc, aPanel, ws.B + (long)jr * kc, cRow + jr, ldc, alpha, betaBlock, rows, cols, ws.Tile);
                            else
                                GemmKernels.Kernel6x16(kc, aPanel, ws.B + (long)jr * kc, cRow + jr, ldc, alpha, betaBlock, rows, cols, ws.Tile);
                        }
                    }
                }
            }
        }
    }

    // ---- packing ----------------------------------------------------------------------------------------------------

    // op(A)[i0:i0+mc, p0:p0+kc] -> ceil(mc/mr) panels, each kc×mr (for every p the mr row values, rows past mc zeroed).
    internal static void PackA(bool transA, float* a, int lda, int i0, int p0, int mc, int kc, int mr, float* dst)
    {
        for (int ir = 0; ir < mc; ir += mr, dst += (long)mr * kc)
        {
            int rows = Math.Min(mr, mc - ir);
            if (transA)
            {
                // A is k×m: op(A)[i, p] = a[p*lda + i]; the panel's rows are contiguous for each p.
                float* src = a + (long)p0 * lda + i0 + ir;
                for (int p = 0; p < kc; p++, src += lda)
                {
                    float* d = dst + p * mr;
                    int r = 0;
                    for (; r < rows; r++) d[r] = src[r];
                    for (; r < mr; r++) d[r] = 0f;
                }
            }
            else
            {
                // A is m×k: op(A)[i, p] = a[i*lda + p]; read each row contiguously, write with stride mr.
                for (int r = 0; r < rows; r++)
                {
                    float* src = a + (long)(i0 + ir + r) * lda + p0;
                    float* d = dst + r;
                    for (int p = 0; p < kc; p++) d[p * mr] = src[p];
                }
                for (int r = rows; r < mr; r++)
                    for (int p = 0; p < kc; p++) dst[p * mr + r] = 0f;
            }
        }
    }

    // op(B)[p0:p0+kc, j0:j0+nc] -> ceil(nc/nr) panels, each kc×nr (for every p the nr column values, columns past nc zeroed).
    internal static void PackB(bool transB, float* b, int ldb, int p0, int j0, int kc, int nc, int nr, float* dst)
    {
        for (int jr = 0; jr < nc; jr += nr, dst += (long)nr * kc)
        {
            int cols = Math.Min(nr, nc - jr);
            if (!transB)
            {
                // B is k×n: op(B)[p, j] = b[p*ldb + j]; each panel row is a contiguous copy.
                float* src = b + (long)p0 * ldb + j0 + jr;
                if (cols == nr)
                {
                    for (int p = 0; p < kc; p++, src += ldb) new ReadOnlySpan<float>(src, nr).CopyTo(new Span<float>(dst + p * nr, nr));
                }
                else
                {
                    for (int p = 0; p < kc; p++, src += ldb)
                    {
                        float* d = dst + p * nr;
                        int j = 0;
                        for (; j < cols; j++) d[j] = src[j];
                        for (; j < nr; j++) d[j] = 0f;
                    }
                }
            }
            else
            {
                // B is n×k: op(B)[p, j] = b[j*ldb + p]; read each B row contiguously, write with stride nr.
                for (int j = 0; j < cols; j++)
                {
                    float* src = b + (long)(j0 + jr + j) * ldb + p0;
                    float* d = dst + j;
                    for (int p = 0; p < kc; p++) d[p * nr] = src[p];
                }
                for (int j = cols; j < nr; j++)
                    for (int p = 0; p < kc; p++) dst[p * nr + j] = 0f;
            }
        }
    }
}
