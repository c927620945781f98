// ConvImplicit: float32 stride-1 convolutions (any padding, dilation, groups) as an implicit GEMM on AVX-512: each image is
// copied once into a zero-padded (C, H+2·pad, W+2·pad) buffer and no im2col matrix is built (forward and backward-filter).
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using SeFramework.Backends;

namespace SeFramework.Cpu;

/// <summary>
/// Implicit-GEMM convolution for stride 1. On the padded image of one group, outputs are computed over the padded
/// width: column j = p·Wp + q (q &lt; Wp; the Wp − Q columns q ≥ Q of each row are garbage and dropped), and im2col row
/// t = (c, r, s) is the contiguous run <c>xPad + Offset[t] + j</c> with Offset[t] = c·Hp·Wp + r·dilation·Wp + s·dilation.
/// Forward: y_g (K/G, cols) = w_g (K/G, C/G·R·S) · B, B's rows read straight from the padded image into the packed
/// panels (the weights are packed once per call for all images). Backward-filter: dw_g += dy_g (K/G, cols) · Bᵀ with
/// dy widened to the padded width (garbage columns zero). Results do not depend on the thread count for forward
/// (every output element is summed in one fixed order); backward-filter sums images per worker chunk like the im2col path.
/// </summary>
internal static unsafe class ConvImplicit
{
    private const int MR = GemmKernels.MR512, NR = GemmKernels.NR512, KC = GemmPacked.KC, NC = GemmPacked.NC;

    /// <summary>Off: every convolution takes the im2col path (tests compare the two; SE_CONV_IMPLICIT=0 turns it off for
    /// A/B timings).</summary>
    internal static bool Enabled = Environment.GetEnvironmentVariable("SE_CONV_IMPLICIT") != "0";

    /// <summary>Stride-1 non-pointwise float convolutions on a CPU with AVX-512 (the kernels are the Vector512 ones).</summary>
    internal static bool Applies(in Conv2dGeometry g) =>
        g.Stride == 1 && !g.IsPointwise && g.P > 0 && g.Q > 0 && Vector512.IsHardwareAccelerated && Avx.IsSupported;

    /// <summary>Sizes of the padded image and the padded-width output grid of one convolution.</summary>
    private readonly struct Layout
    {
        public readonly int Hp, Wp, Plane, Cols;
        public readonly long ImageSize; // C·Hp·Wp + NR floats of zeros (the ragged last panel reads up to NR − 1 past the end)
        public readonly int[] Offsets;  // per im2col row of one group: c·Plane + r·dilation·Wp + s·dilation

        public Layout(in Conv2dGeometry g)
        {
            Hp = g.H + 2 * g.Padding;
            Wp = g.W + 2 * g.Padding;
            Plane = Hp * Wp;
            Cols = (g.P - 1) * Wp + g.Q;
            ImageSize = (long)g.C * Plane + NR;
            Offsets = new int[g.ColRows];
            int t = 0;
            for (int c = 0; c < g.CPerGroup; c++)
                for (int r = 0; r < g.R; r++)
                    for (int s = 0; s < g.S; s++)
                        Offsets[t++] = c * Plane + r * g.Dilation * Wp + s * g.Dilation;
        }
    }

    // Per-thread packed-B block (KC × NC) and edge tile, allocated once per thread.
    [ThreadStatic] private static Workspace? t_workspace;

    private sealed class Workspace
    {
        public readonly float* B, Tile;

        public Workspace()
        {
            B = (float*)System.Runtime.InteropServices.NativeMemory.AlignedAlloc((nuint)(KC * NC * sizeof(float)), 64);
            Tile = (float*)System.Runtime.InteropServices.NativeMemory.AlignedAlloc((nuint)(MR * NR * sizeof(float)), 64);
        }

        ~Workspace()
        {
            System.Runtime.InteropServices.NativeMemory.AlignedFree(B);
            System.Runtime.InteropServices.NativeMemory.AlignedFree(Tile);
        }
    }

    // ---- forward ------------------------------------------------------------------------------------------------------

    // x: (N, C, H, W), w: (K, C/G, R, S), bias: (K) or null -> y: (N, K, P, Q). Work items are (image, column slice);
    // images are split into column slices only when there are fewer than two per thread.
    internal static void Forward(float* x, float* w, float* bias, float* y, in Conv2dGeometry g)
    {
        var lay = new Layout(g);
        int kg = g.KPerGroup, crs = g.ColRows, mPad = (kg + MR - 1) / MR * MR;
        long aGroup = (long)mPad * crs, chw = (long)g.C * g.H * g.W, kpq = (long)g.K * g.P * g.Q;
        int ldc = lay.Cols % 128 == 0 ? lay.Cols + 16 : lay.Cols;
        long cSize = (long)g.K * ldc;

        // The weights of every group, packed once: per group, per KC block, ceil(K/G / MR) panels of kc × MR.
        float* aPacked = (float*)CpuAllocator.Rent(aGroup * g.Groups * sizeof(float), zero: false);
        for (int gi = 0; gi < g.Groups; gi++)
            for (int pc = 0; pc < crs; pc += KC)
                GemmPacked.PackA(false, w + (long)gi * kg * crs, crs, 0, pc, kg, Math.Min(KC, crs - pc), MR, aPacked + gi * aGroup + (long)mPad * pc);

        int threads = CpuParallel.MaxThreads, panels = (lay.Cols + NR - 1) / NR;
        long macsPerImage = (long)g.K * lay.Cols * crs;
        bool parallel = threads > 1 && g.N * macsPerImage >= 1L << 18;
        int slices = !parallel || g.N >= 2 * threads ? 1
            : (int)Math.Clamp(Math.Min((2 * threads + g.N - 1) / g.N, macsPerImage / (1L << 20)), 1, panels);
        int sliceWidth = (panels + slices - 1) / slices * NR;
        slices = (lay.Cols + sliceWidth - 1) / sliceWidth;
        // With slices, the images are padded up front and each image's C block is shared by its slices.
        float* xPadAll = null, cAll = null;
        nint xAddr = (nint)x, yAddr = (nint)y, biasAddr = (nint)bias, aAddr = (nint)aPacked;
        try
        {
            if (slices > 1)
            {
                xPadAll = (float*)CpuAllocator.Rent(g.N * lay.ImageSize * sizeof(float), zero: false);
                cAll = (float*)CpuAllocator.Rent(g.N * cSize * sizeof(float), zero: false);
                nint padAddr = (nint)xPadAll;
                var gc = g;
                var lc = lay;
                CpuParallel.For(g.N, 1, (start, end) =>
                {
                    for (int n = start; n < end; n++) PadImage((float*)xAddr + n * chw, (float*)padAddr + n * lc.ImageSize, gc, lc);
                });
            }
            nint xPadAllAddr = (nint)xPadAll, cAllAddr = (nint)cAll;
            var gg = g;
            var ll = lay;
            CpuParallel.For(g.N * slices, parallel ? 1 : g.N * slices, (start, end) =>
            {
                for (int item = start; item < end; item++)
                {
                    int n = item / slices, j0 = item % slices * sliceWidth, j1 = Math.Min(ll.Cols, j0 + sliceWidth);
                    bool shared = xPadAllAddr != 0;
                    float* xp = shared ? (float*)xPadAllAddr + n * ll.ImageSize : (float*)CpuAllocator.Rent(ll.ImageSize * sizeof(float), zero: false);
                    float* ct = shared ? (float*)cAllAddr + n * cSize : (float*)CpuAllocator.Rent(cSize * sizeof(float), zero: false);
                    try
                    {
                        if (!shared)
                        {
                            using var _p1 = CpuProfiler.Op("Conv.Pad");
                            PadImage((float*)xAddr + n * chw, xp, gg, ll);
                        }
                        using (CpuProfiler.Op("Conv.ImplicitGemm"))
                            for (int gi = 0; gi < gg.Groups; gi++)
                                GemmOffsetRows(kg, j0, j1, crs, (float*)aAddr + gi * aGroup, mPad,
                                    xp + (long)gi * gg.CPerGroup * ll.Plane, ll.Offsets, ct + (long)gi * kg * ldc, ldc);
                        CompactOutput(ct, ldc, (float*)yAddr + n * kpq, (float*)biasAddr, j0, j1, gg, ll);
                    }
                    finally
                    {
                        if (!shared)
                        {
                            CpuAllocator.Return(xp, ll.ImageSize * sizeof(float));
                            CpuAllocator.Return(ct, cSize * sizeof(float));
                        }
                    }
                }
            });
        }
        finally
        {
            CpuAllocator.Return(aPacked, aGroup * g.Groups * sizeof(float));
            if (xPadAll != null) CpuAllocator.Return(xPadAll, g.N * lay.ImageSize * sizeof(float));
            if (cAll != null) CpuAllocator.Return(cAll, g.N * cSize * sizeof(float));
        }
    }

    // aPacked: one group's weights packed per KC block (mPad·pc floats before block pc), B row t = xb + offsets[t]
    // (cols [j0, j1)), c: (m, ldc) -> c[:, j0:j1] = A·B. Each element sums its KC blocks in order, whatever j0/j1 are.
    private static void GemmOffsetRows(int m, int j0, int j1, int k, float* aPacked, int mPad, float* xb, int[] offsets, float* c, int ldc)
    {
        Workspace ws = t_workspace ??= new Workspace();
        fixed (int* off = offsets)
            for (int jc = j0; jc < j1; jc += NC)
            {
                int nc = Math.Min(NC, j1 - jc);
                for (int pc = 0; pc < k; pc += KC)
                {
                    int kc = Math.Min(KC, k - pc);
                    // B block: panels of NR columns, each kc rows of NR contiguous floats from the padded image (a ragged
                    // last panel reads into the next columns or the zero tail; those lanes never reach C).
                    for (int jr = 0; jr < nc; jr += NR)
                    {
                        float* dst = ws.B + (long)jr * kc;
                        float* src = xb + jc + jr;
                        for (int p = 0; p < kc; p++)
                        {
                            float* s = src + off[pc + p];
                            Vector512.Store(Vector512.Load(s), dst + p * NR);
                            Vector512.Store(Vector512.Load(s + 16), dst + p * NR + 16);
                        }
                    }
                    float beta = pc == 0 ? 0f : 1f;
                    for (int ir = 0; ir < m; ir += MR)
                    {
                        int rows = Math.Min(MR, m - ir);
                        float* aPanel = aPacked + (long)mPad * pc + (long)ir * kc;
                        float* cRow = c + (long)ir * ldc + jc;
                        for (int jr = 0; jr < nc; jr += NR)
                            Kernel(rows, kc, aPanel, ws.B + (long)jr * kc, cRow + jr, ldc, beta, Math.Min(NR, nc - jr), ws.Tile);
                    }
                }
            }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Kernel(int rows, int kc, float* aPanel, float* bPanel, float* c, int ldc, float beta, int cols, float* tile)
    {
        if (rows <= 4) GemmKernels.Kernel4x32(kc, aPanel, bPanel, NR, c, ldc, 1f, beta, rows, cols, tile);
        else if (rows <= 8) GemmKernels.Kernel8x32(kc, aPanel, bPanel, NR, c, ldc, 1f, beta, rows, cols, tile);
        else GemmKernels.Kernel12x32(kc, aPanel, bPanel, NR, c, ldc, 1f, beta, rows, cols, tile);
    }

    // x: (C, H, W) of one image -> xp: (C, Hp, Wp) with the image at (pad, pad), zeros around it, then NR zeros.
    private static void PadImage(float* x, float* xp, in Conv2dGeometry g, in Layout lay)
    {
        int pad = g.Padding;
        long pos = 0; // everything in xp before pos is written
        for (int c = 0; c < g.C; c++)
            for (int h = 0; h < g.H; h++)
            {
                long start = (long)c * lay.Plane + (long)(h + pad) * lay.Wp + pad;
                if (start > pos) new Span<float>(xp + pos, (int)(start - pos)).Clear();
                Buffer.MemoryCopy(x + ((long)c * g.H + h) * g.W, xp + start, g.W * sizeof(float), g.W * sizeof(float));
                pos = start + g.W;
            }
        if (lay.ImageSize > pos) new Span<float>(xp + pos, (int)(lay.ImageSize - pos)).Clear();
    }

    // ct: (K, ldc) over padded-width columns -> y: (K, P, Q) of one image for the columns [j0, j1), plus bias.
    private static void CompactOutput(float* ct, int ldc, float* y, float* bias, int j0, int j1, in Conv2dGeometry g, in Layout lay)
    {
        int pq = g.P * g.Q;
        for (int k = 0; k < g.K; k++)
        {
            float* src = ct + (long)k * ldc;
            float* dst = y + (long)k * pq;
            float b = bias == null ? 0f : bias[k];
            for (int p = j0 / lay.Wp; p < g.P && p * lay.Wp < j1; p++)
            {
                int q0 = Math.Max(0, j0 - p * lay.Wp), q1 = Math.Min(g.Q, j1 - p * lay.Wp);
                if (q1 <= q0) continue;
                float* s = src + p * lay.Wp, d = dst + p * g.Q;
                if (bias == null) Buffer.MemoryCopy(s + q0, d + q0, (q1 - q0) * sizeof(float), (q1 - q0) * sizeof(float));
                else for (int q = q0; q < q1; q++) d[q] = s[q] + b;
            }
        }
    }

    // ---- backward filter ----------------------------------------------------------------------------------------------

    // x: (N, C, H, W), dy: (N, K, P, Q) -> dw: (K, C/G, R, S) = Σ_n dy_n · im2col(x_n)ᵀ. Images are split into one
    // contiguous chunk per worker (chunks = min(N, threads) when parallel), each summing into its own buffer; the buffers
    // are added in chunk order (as the im2col path does).
    internal static void BackwardFilter(float* x, float* dy, float* dw, in Conv2dGeometry g)
    {
        var lay = new Layout(g);
        int kg = g.KPerGroup, crs = g.ColRows;
        long chw = (long)g.C * g.H * g.W, kpq = (long)g.K * g.P * g.Q, dwSize = (long)g.K * crs;
        int lda = lay.Cols % 128 == 0 ? lay.Cols + 16 : lay.Cols;
        long dySize = (long)g.K * lda;
        long macsPerImage = (long)g.K * lay.Cols * crs;
        int chunks = CpuParallel.MaxThreads > 1 && g.N > 1 && g.N * macsPerImage >= 1L << 18 ? Math.Min(g.N, CpuParallel.MaxThreads) : 1;
        var partials = new nint[chunks];
        nint xAddr = (nint)x, dyAddr = (nint)dy, dwAddr = (nint)dw;
        var gg = g;
        CpuParallel.For(chunks, 1, (start, end) =>
        {
            for (int chunk = start; chunk < end; chunk++)
            {
                float* acc = chunk == 0 ? (float*)dwAddr : (float*)CpuAllocator.Rent(dwSize * sizeof(float), zero: false);
                partials[chunk] = (nint)acc;
                float* xp = (float*)CpuAllocator.Rent(lay.ImageSize * sizeof(float), zero: false);
                float* dyp = (float*)CpuAllocator.Rent(dySize * sizeof(float), zero: false);
                float* aPack = (float*)CpuAllocator.Rent((long)((kg + MR - 1) / MR * MR) * KC * sizeof(float), zero: false);
                try
                {
                    int first = (int)((long)gg.N * chunk / chunks), last = (int)((long)gg.N * (chunk + 1) / chunks);
                    if (first == last) new Span<float>(acc, checked((int)dwSize)).Clear();
                    for (int n = first; n < last; n++)
                    {
                        using (CpuProfiler.Op("Conv.Pad(filter)"))
                        {
                            PadImage((float*)xAddr + n * chw, xp, gg, lay);
                            WidenOutput((float*)dyAddr + n * kpq, dyp, lda, gg, lay);
                        }
                        using var _p = CpuProfiler.Op("Conv.ImplicitFilterGemm");
                        for (int gi = 0; gi < gg.Groups; gi++)
                            GemmTransOffsetRows(kg, crs, lay.Cols, dyp + (long)gi * kg * lda, lda,
                                xp + (long)gi * gg.CPerGroup * lay.Plane, lay.Offsets, n == first ? 0f : 1f, acc + (long)gi * kg * crs, crs, aPack);
                    }
                }
                finally
                {
                    CpuAllocator.Return(xp, lay.ImageSize * sizeof(float));
                    CpuAllocator.Return(dyp, dySize * sizeof(float));
                    CpuAllocator.Return(aPack, (long)((kg + MR - 1) / MR * MR) * KC * sizeof(float));
                }
            }
        });
        for (int chunk = 1; chunk < chunks; chunk++)
        {
            float* part = (float*)partials[chunk];
            for (long i = 0; i < dwSize; i++) dw[i] += part[i];
            CpuAllocator.Return(part, dwSize * sizeof(float));
        }
    }

    // dy: (K, P, Q) of one image -> dyp: (K, lda) over the padded-width columns, zero where q >= Q.
    private static void WidenOutput(float* dy, float* dyp, int lda, in Conv2dGeometry g, in Layout lay)
    {
        for (int k = 0; k < g.K; k++)
        {
            float* d = dyp + (long)k * lda;
            float* s = dy + (long)k * g.P * g.Q;
            for (int p = 0; p < g.P; p++)
            {
                Buffer.MemoryCopy(s + p * g.Q, d + p * lay.Wp, g.Q * sizeof(float), g.Q * sizeof(float));
                int gap = Math.Min(lay.Wp, lay.Cols - p * lay.Wp) - g.Q;
                if (gap > 0) new Span<float>(d + p * lay.Wp + g.Q, gap).Clear();
            }
        }
    }

    // a: (m, lda) (dy over padded-width columns, k = cols of them), B row t = xb + offsets[t] (k floats),
    // c: (m, n = offsets.Length) -> c = a·Bᵀ + beta·c. aPack holds one KC block of A (ceil(m/MR)·MR × KC).
    private static void GemmTransOffsetRows(int m, int n, int k, float* a, int lda, float* xb, int[] offsets, float beta, float* c, int ldc, float* aPack)
    {
        Workspace ws = t_workspace ??= new Workspace();
        float** rows = stackalloc float*[NR];
        fixed (int* off = offsets)
            for (int pc = 0; pc < k; pc += KC)
            {
                int kc = Math.Min(KC, k - pc);
                GemmPacked.PackA(false, a, lda, 0, pc, m, kc, MR, aPack);
                float betaBlock = pc == 0 ? beta : 1f;
                for (int jc = 0; jc < n; jc += NC)
                {
                    int nc = Math.Min(NC, n - jc);
                    for (int jr = 0; jr < nc; jr += NR)
                    {
                        int cols = Math.Min(NR, nc - jr);
                        for (int j = 0; j < cols; j++) rows[j] = xb + off[jc + jr + j] + pc;
                        PackTransposed(rows, cols, kc, ws.B + (long)jr * kc);
                    }
                    for (int ir = 0; ir < m; ir += MR)
                    {
                        int rowsA = Math.Min(MR, m - ir);
                        float* aPanel = aPack + (long)ir * kc;
                        float* cRow = c + (long)ir * ldc + jc;
                        for (int jr = 0; jr < nc; jr += NR)
                            Kernel(rowsA, kc, aPanel, ws.B + (long)jr * kc, cRow + jr, ldc, betaBlock, Math.Min(NR, nc - jr), ws.Tile);
                    }
                }
            }
    }

    // rows[j] (j < cols): kc floats each -> dst: kc × NR panel with dst[p·NR + j] = rows[j][p], columns j >= cols zero.
    private static void PackTransposed(float** rows, int cols, int kc, float* dst)
    {
        int pTail = 0;
        int fullGroups = cols / 8;
        for (; pTail + 8 <= kc; pTail += 8)
            for (int jb = 0; jb < fullGroups; jb++)
                Transpose8x8(rows + jb * 8, pTail, dst + pTail * NR + jb * 8);
        for (int p = 0; p < kc; p++)
        {
            float* d = dst + p * NR;
            int j = p < pTail ? fullGroups * 8 : 0;
            for (; j < cols; j++) d[j] = rows[j][p];
            for (; j < NR; j++) d[j] = 0f;
        }
    }

    // rows[0..8][p0..p0+8] -> dst: 8 rows of 8 (row stride NR), transposed.
    private static void Transpose8x8(float** rows, int p0, float* dst)
    {
        Vector256<float> r0 = Avx.LoadVector256(rows[0] + p0), r1 = Avx.LoadVector256(rows[1] + p0),
            r2 = Avx.LoadVector256(rows[2] + p0), r3 = Avx.LoadVector256(rows[3] + p0),
            r4 = Avx.LoadVector256(rows[4] + p0), r5 = Avx.LoadVector256(rows[5] + p0),
            r6 = Avx.LoadVector256(rows[6] + p0), r7 = Avx.LoadVector256(rows[7] + p0);
        Vector256<float> t0 = Avx.UnpackLow(r0, r1), t1 = Avx.UnpackHigh(r0, r1), t2 = Avx.UnpackLow(r2, r3), t3 = Avx.UnpackHigh(r2, r3),
            t4 = Avx.UnpackLow(r4, r5), t5 = Avx.UnpackHigh(r4, r5), t6 = Avx.UnpackLow(r6, r7), t7 = Avx.UnpackHigh(r6, r7);
        Vector256<float> u0 = Avx.Shuffle(t0, t2, 0x44), u1 = Avx.Shuffle(t0, t2, 0xEE), u2 = Avx.Shuffle(t1, t3, 0x44), u3 = Avx.Shuffle(t1, t3, 0xEE),
            u4 = Avx.Shuffle(t4, t6, 0x44), u5 = Avx.Shuffle(t4, t6, 0xEE), u6 = Avx.Shuffle(t5, t7, 0x44), u7 = Avx.Shuffle(t5, t7, 0xEE);
        Avx.Store(dst, Avx.Permute2x128(u0, u4, 0x20));
        Avx.Store(dst + NR, Avx.Permute2x128(u1, u5, 0x20));
        Avx.Store(dst + 2 * NR, Avx.Permute2x128(u2, u6, 0x20));
        Avx.Store(dst + 3 * NR, Avx.Permute2x128(u3, u7, 0x20));
        Avx.Store(dst + 4 * NR, Avx.Permute2x128(u0, u4, 0x31));
        Avx.Store(dst + 5 * NR, Avx.Permute2x128(u1, u5, 0x31));
        Avx.Store(dst + 6 * NR, Avx.Permute2x128(u2, u6, 0x31));
        Avx.Store(dst + 7 * NR, Avx.Permute2x128(u3, u7, 0x31));
    }
}
