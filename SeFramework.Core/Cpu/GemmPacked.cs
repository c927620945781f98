// GemmPacked: the fast float GEMM driver: cache blocking, packing of A and B panels (all transpositions handled here,
// never by a materialised transpose), per-thread packing buffers, and the parallel split over N or M panels.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SeFramework.Cpu;

internal static unsafe class GemmPacked
{
    // use512 picks the micro-kernel: Vector512 12×32 (AVX-512) or Vector256 6×16 (see Gemm.SgemmKernel).
    internal static int MR(bool use512) => use512 ? GemmKernels.MR512 : GemmKernels.MR256;
    internal static int NR(bool use512) => use512 ? GemmKernels.NR512 : GemmKernels.NR256;

    // Cache blocking (BLIS order: the small broadcast operand stays in L1, the vector operand streams from L2).
    // KC = 256: the A micro-panel (12×256 floats = 12 KiB) sits in L1 (32 KiB on this Zen 4 guest, 48 KiB on Zen 5)
    //   beside the streaming B rows; a long KC makes the C tile load/store (3 KiB per 196 kflop) negligible.
    // NC = 512: the packed B block (256×512 floats = 512 KiB, half of the 1 MiB L2) stays in L2 while every A micro-panel
    //   passes over it (each A micro-panel is reused for 16 B micro-panels).
    // MC = 2064 (172 × 12): the packed A block (2 MiB) lives in L3 and streams through once per NC block; a tall MC means
    //   B is packed only ceil(m/2064) times (2048² on 1 thread: +0.6 % over MC = 1152, which packed B twice).
    //   KC 192..512 and NC 256..768 measured within ±1 % (1024², quiet machine).
    internal const int KC = 256, MC = 2064, NC = 512;

    // ---- per-thread packing buffers (allocated once per thread, 64-byte aligned) -------------------------------------

    [ThreadStatic] private static Workspace? t_workspace;

    private sealed class Workspace
    {
        public readonly float* A, B, Tile;
        private readonly void* _block;

        public Workspace()
        {
            // Sized for the largest kernel (MR, NR are at most 12 and 32); A and B panels are zero-padded to MR/NR.
            // A (2 MiB) and B (512 KiB) share huge pages: the A block streams from L3 and the B block from L2
            // through a few TLB entries.
            long aBytes = (long)MC * KC * sizeof(float), bBytes = (long)KC * NC * sizeof(float);
            _block = AllocHuge(aBytes + bBytes);
            A = (float*)_block;
            B = (float*)((byte*)_block + aBytes);
            Tile = (float*)NativeMemory.AlignedAlloc((nuint)(GemmKernels.MR512 * GemmKernels.NR512 * sizeof(float)), 64);
        }

        ~Workspace()
        {
            NativeMemory.AlignedFree(_block);
            NativeMemory.AlignedFree(Tile);
        }
    }

    // ---- huge pages for the packing buffers -------------------------------------------------------------------------
    // CpuAllocator's huge-page allocation (as tensor storage), rounded up to whole 2 MiB pages; SE_HUGEPAGES=0 turns it
    // off. Free with NativeMemory.AlignedFree.
    private static void* AllocHuge(long bytes)
    {
        if (!CpuAllocator.UseHugePages) return NativeMemory.AlignedAlloc((nuint)bytes, 64);
        const long page = CpuAllocator.HugePageBytes;
        return CpuAllocator.AllocHugePages((bytes + page - 1) / page * page);
    }

    // ---- drivers ----------------------------------------------------------------------------------------------------

    // a: op(A) (m, k), b: op(B) (k, n), c: (m, n). Splits M (or N when n >= 2m) into panel ranges, one per thread;
    // panel boundaries never change an element's summation order, so results do not depend on the thread count.
    internal static void RunParallel(bool use512, bool transA, bool transB, int m, int n, int k, float alpha, float* a, int lda,
        float* b, int ldb, float beta, float* c, int ldc)
    {
        int mr = MR(use512), nr = NR(use512);
        // Split M unless op(C) is much wider than tall: the threads then share the packed B block (in L3, read into both
        // L2s) and each keeps its own half-height A block; at 1024² and 2048² on 2 threads this measured 2-4 % faster than
        // splitting N with a shared A.
        bool splitN = n >= 2 * m;
        int unit = splitN ? nr : mr;
        int panels = ((splitN ? n : m) + unit - 1) / unit;
        long flopsPerPanel = 2L * k * unit * (splitN ? m : n);
        int grain = (int)Math.Clamp((Gemm.MinFlopsPerThread + flopsPerPanel - 1) / flopsPerPanel, 1, int.MaxValue);
        if (CpuParallel.ChunkCount(panels, grain) == 1)
            Run(use512, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        else
            RunSplit(use512, splitN, unit, panels, grain, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    }

    // The parallel half of RunParallel, kept apart so the single-threaded call allocates no closure.
    // The operand every thread needs whole (op(A) when splitting N, op(B) when splitting M) is packed once into a
    // SharedPack that the threads fill together, so no block is packed twice; each thread packs the other operand's
    // blocks for its own range.
    private static void RunSplit(bool use512, bool splitN, int unit, int panels, int grain, bool transA, bool transB, int m, int n, int k,
        float alpha, float* a, int lda, float* b, int ldb, float beta, float* c, int ldc)
    {
        // A shared operand over MaxSharedBytes (the buffer stays cached for the next call) falls back to per-thread packing.
        long sharedBytes = (long)(splitN ? m + GemmKernels.MR512 : n + GemmKernels.NR512) * k * sizeof(float);
        SharedPack? shared = sharedBytes > MaxSharedBytes ? null
            : splitN ? SharedPack.Rent(false, transA, a, lda, m, k, MR(use512)) : SharedPack.Rent(true, transB, b, ldb, n, k, NR(use512));
        try
        {
            CpuParallel.For(panels, grain, (start, end) =>
            {
                int lo = start * unit, hi = Math.Min(end * unit, splitN ? n : m);
                if (splitN)
                    Run(use512, transA, transB, m, hi - lo, k, alpha, a, lda, transB ? b + (long)lo * ldb : b + lo, ldb, beta, c + lo, ldc, shared, null);
                else
                    Run(use512, transA, transB, hi - lo, n, k, alpha, transA ? a + lo : a + (long)lo * lda, lda, b, ldb, beta, c + (long)lo * ldc, ldc, null, shared);
            });
        }
        finally
        {
            shared?.Return();
        }
    }

    // All of op(A) (m, k) or op(B) (k, n) packed once for a parallel call. The block of rows (A) or columns (B)
    // [i0, i0+ext) × [pc, pc+kc), ext padded to the micro-tile, lies at Data + i0*k + pc*extPad in PackA's / PackB's
    // layout. Each block is cut into groups of micro-panels; a thread that needs a block claims and packs every group
    // nobody claimed yet, then packs again any group another thread is still packing: no thread ever waits for another
    // (no deadlock when the pool runs the chunks one after another, no stall when the other thread is descheduled).
    private const long MaxSharedBytes = 64L << 20;

    private sealed class SharedPack
    {
        private const int PanelsPerGroup = 4;
        private static SharedPack? s_cachedA, s_cachedB;
        private float* _data;
        private long _capacity;
        private int[] _state = [];
        private bool _isB, _trans;
        private float* _src;
        private int _ld, _k, _unit, _groupsPerBlock, _pcBlocks;

        // Takes the cached instance (or a new one when another call holds it) and sizes it for op(A) (ext = m) or op(B) (ext = n).
        public static SharedPack Rent(bool isB, bool trans, float* src, int ld, int ext, int k, int unit)
        {
            SharedPack s = Interlocked.Exchange(ref isB ? ref s_cachedB : ref s_cachedA, null) ?? new SharedPack();
            long need = (long)((ext + unit - 1) / unit) * unit * k;
            if (s._capacity < need)
            {
                if (s._data != null) NativeMemory.AlignedFree(s._data);
                s._data = (float*)AllocHuge(need * sizeof(float));
                s._capacity = need;
            }
            int blockExt = isB ? NC : MC;
            s._isB = isB; s._trans = trans; s._src = src; s._ld = ld; s._k = k; s._unit = unit;
            s._groupsPerBlock = (blockExt / unit + PanelsPerGroup - 1) / PanelsPerGroup;
            s._pcBlocks = (k + KC - 1) / KC;
            int states = ((ext + blockExt - 1) / blockExt) * s._pcBlocks * s._groupsPerBlock;
            if (s._state.Length < states) s._state = new int[states];
            else Array.Clear(s._state, 0, states);
            return s;
        }

        public void Return() => Interlocked.Exchange(ref _isB ? ref s_cachedB : ref s_cachedA, this);

        ~SharedPack()
        {
            if (_data != null) NativeMemory.AlignedFree(_data);
        }

        // The packed block of rows/columns [i0, i0+ext) and k range [pc, pc+kc), packed (by this thread or another) before it returns.
        public float* Block(int i0, int pc, int ext, int kc)
        {
            int extPad = (ext + _unit - 1) / _unit * _unit;
            float* block = _data + (long)i0 * _k + (long)pc * extPad;
            int panels = extPad / _unit, groups = (panels + PanelsPerGroup - 1) / PanelsPerGroup;
            int baseState = (i0 / (_isB ? NC : MC) * _pcBlocks + pc / KC) * _groupsPerBlock;
            for (int g = 0; g < groups; g++)
                if (Interlocked.CompareExchange(ref _state[baseState + g], 1, 0) == 0) PackGroup(block, i0, pc, ext, kc, baseState, g);
            // Groups another thread claimed but has not finished: pack them again rather than wait (that thread may be
            // descheduled on a busy machine). Both write the same bytes, so the readers never see anything else.
            for (int g = 0; g < groups; g++)
                if (Volatile.Read(ref _state[baseState + g]) != 2) PackGroup(block, i0, pc, ext, kc, baseState, g);
            return block;
        }

        private void PackGroup(float* block, int i0, int pc, int ext, int kc, int baseState, int g)
        {
            int ir = g * PanelsPerGroup * _unit, width = Math.Min(PanelsPerGroup * _unit, ext - ir);
            if (_isB) PackB(_trans, _src, _ld, pc, i0 + ir, kc, width, _unit, block + (long)ir * kc);
            else PackA(_trans, _src, _ld, i0 + ir, pc, width, kc, _unit, block + (long)ir * kc);
            Volatile.Write(ref _state[baseState + g], 2);
        }
    }

    // Single-threaded blocked driver. a: op(A) (m, k), b: op(B) (k, n), c: (m, n) -> c = alpha*a*b + beta*c
    internal static void Run(bool use512, bool transA, bool transB, int m, int n, int k, float alpha, float* a, int lda,
        float* b, int ldb, float beta, float* c, int ldc) =>
        Run(use512, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, null, null);

    // sharedA / sharedB: when set, that operand's blocks come from it (packed once for all threads, indexed by the
    // caller's whole m or n) instead of this thread's workspace.
    private static void Run(bool use512, bool transA, bool transB, int m, int n, int k, float alpha, float* a, int lda,
        float* b, int ldb, float beta, float* c, int ldc, SharedPack? sharedA, SharedPack? sharedB)
    {
        Workspace ws = t_workspace ??= new Workspace();
        int mr = MR(use512), nr = NR(use512);
        // With few rows (m <= 2·mr) each B panel would serve at most two A panels, so packing B costs more than it
        // saves: read a k×n B in place (full-width panels only; the ragged last panel is packed, so the kernel never
        // reads past the end of a row).
        bool directB = !transB && m <= 2 * mr && sharedB == null;
        for (int ic = 0; ic < m; ic += MC)
        {
            int mc = Math.Min(MC, m - ic);
            for (int pc = 0; pc < k; pc += KC)
            {
                int kc = Math.Min(KC, k - pc);
                float* aBlock = sharedA != null ? sharedA.Block(ic, pc, mc, kc) : ws.A;
                if (sharedA == null) PackA(transA, a, lda, ic, pc, mc, kc, mr, ws.A);
                // The first K block applies the caller's beta; later blocks accumulate into what the first wrote.
                float betaBlock = pc == 0 ? beta : 1f;
                for (int jc = 0; jc < n; jc += NC)
                {
                    int nc = Math.Min(NC, n - jc);
                    int fullPanelsEnd = directB ? nc - nc % nr : 0;
                    float* bBlock = sharedB != null ? sharedB.Block(jc, pc, nc, kc) : ws.B;
                    if (sharedB == null && fullPanelsEnd < nc)
                        PackB(transB, b, ldb, pc, jc + fullPanelsEnd, kc, nc - fullPanelsEnd, nr, ws.B + (long)fullPanelsEnd * kc);
                    for (int ir = 0; ir < mc; ir += mr)
                    {
                        int rows = Math.Min(mr, mc - ir);
                        float* aPanel = aBlock + (long)ir * kc;
                        float* cRow = c + (long)(ic + ir) * ldc + jc;
                        for (int jr = 0; jr < nc; jr += nr)
                        {
                            int cols = Math.Min(nr, nc - jr);
                            bool inPlace = jr < fullPanelsEnd;
                            float* bPanel = inPlace ? b + (long)pc * ldb + jc + jr : bBlock + (long)jr * kc;
                            long ldbp = inPlace ? ldb : nr;
                            if (use512)
                                GemmKernels.Kernel512(kc, aPanel, bPanel, ldbp, cRow + jr, ldc, alpha, betaBlock, rows, cols, ws.Tile);
                            else
                                GemmKernels.Kernel6x16(kc, aPanel, bPanel, ldbp, cRow + jr, ldc, alpha, betaBlock, rows, cols, ws.Tile);
                        }
                    }
                }
            }
        }
    }

    // ---- packing ----------------------------------------------------------------------------------------------------

    // op(A)[i0:i0+mc, p0:p0+kc] -> ceil(mc/mr) panels, each kc×mr (for every p the mr row values, rows past mc zeroed).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void PackA(bool transA, float* a, int lda, int i0, int p0, int mc, int kc, int mr, float* dst)
    {
        float** rowPtr = stackalloc float*[mr];
        for (int ir = 0; ir < mc; ir += mr, dst += (long)mr * kc)
        {
            int rows = Math.Min(mr, mc - ir);
            if (transA)
            {
                // A is k×m: op(A)[i, p] = a[p*lda + i]; the panel's rows are contiguous for each p.
                float* src = a + (long)p0 * lda + i0 + ir;
                if (rows == 12)
                {
                    for (int p = 0; p < kc; p++, src += lda)
                    {
                        Vector256.Store(Vector256.Load(src), dst + p * 12);
                        Vector128.Store(Vector128.Load(src + 8), dst + p * 12 + 8);
                    }
                    continue;
                }
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
                // A is m×k: op(A)[i, p] = a[i*lda + p]. Full 12-row panels: in-register 8×8 + 4×4 transposes, 8 p at a time;
                // otherwise (and for the tail) walk the mr rows side by side so the writes stay contiguous.
                float* rowsSrc = a + (long)(i0 + ir) * lda + p0;
                int p0Tail = 0;
                if (rows == 12 && Avx.IsSupported)
                {
                    // 16 p per step, so each source row's 64-byte line is read once: with lda a multiple of 1024 floats
                    // the 12 rows share one L1 set (8 ways), and a line left for the next step would be evicted.
                    for (; p0Tail + 16 <= kc; p0Tail += 16)
                    {
                        float* s0 = rowsSrc + p0Tail, d0 = dst + p0Tail * 12;
                        Transpose8x8(s0, lda, d0, 12);
                        Transpose8x8(s0 + 8, lda, d0 + 8 * 12, 12);
                        float* s8 = s0 + 8L * lda;
                        Transpose4x4(s8, lda, d0 + 8, 12);
                        Transpose4x4(s8 + 4, lda, d0 + 4 * 12 + 8, 12);
                        Transpose4x4(s8 + 8, lda, d0 + 8 * 12 + 8, 12);
                        Transpose4x4(s8 + 12, lda, d0 + 12 * 12 + 8, 12);
                    }
                    for (; p0Tail + 8 <= kc; p0Tail += 8)
                    {
                        float* s0 = rowsSrc + p0Tail, d0 = dst + p0Tail * 12;
                        Transpose8x8(s0, lda, d0, 12);
                        Transpose4x4(s0 + 8L * lda, lda, d0 + 8, 12);
                        Transpose4x4(s0 + 8L * lda + 4, lda, d0 + 4 * 12 + 8, 12);
                    }
                }
                for (int r = 0; r < rows; r++) rowPtr[r] = rowsSrc + (long)r * lda;
                for (int p = p0Tail; p < kc; p++)
                {
                    float* d = dst + p * mr;
                    int r = 0;
                    for (; r < rows; r++) d[r] = rowPtr[r][p];
                    for (; r < mr; r++) d[r] = 0f;
                }
            }
        }
    }

    // op(B)[p0:p0+kc, j0:j0+nc] -> ceil(nc/nr) panels, each kc×nr (for every p the nr column values, columns past nc zeroed).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void PackB(bool transB, float* b, int ldb, int p0, int j0, int kc, int nc, int nr, float* dst)
    {
        if (!transB && nr == 32)
        {
            // B is k×n: one pass over each source row (sequential reads the hardware prefetcher follows), scattering its
            // 32-column pieces to the full panels; the ragged last panel is left to the loop below.
            int full = nc / 32;
            float* src = b + (long)p0 * ldb + j0;
            for (int p = 0; p < kc; p++, src += ldb)
            {
                float* d = dst + p * 32;
                for (int jp = 0; jp < full; jp++, d += 32L * kc)
                {
                    Vector512.Store(Vector512.Load(src + jp * 32), d);
                    Vector512.Store(Vector512.Load(src + jp * 32 + 16), d + 16);
                }
            }
            if (full * 32 == nc) return;
            dst += (long)full * 32 * kc;
            j0 += full * 32;
            nc -= full * 32;
        }
        for (int jr = 0; jr < nc; jr += nr, dst += (long)nr * kc)
        {
            int cols = Math.Min(nr, nc - jr);
            if (!transB)
            {
                // B is k×n: op(B)[p, j] = b[p*ldb + j]; each panel row is a contiguous copy.
                float* src = b + (long)p0 * ldb + j0 + jr;
                if (cols == 32)
                {
                    for (int p = 0; p < kc; p++, src += ldb)
                    {
                        Vector512.Store(Vector512.Load(src), dst + p * 32);
                        Vector512.Store(Vector512.Load(src + 16), dst + p * 32 + 16);
                    }
                    continue;
                }
                for (int p = 0; p < kc; p++, src += ldb)
                {
                    float* d = dst + p * nr;
                    int j = 0;
                    for (; j < cols; j++) d[j] = src[j];
                    for (; j < nr; j++) d[j] = 0f;
                }
            }
            else
            {
                // B is n×k: op(B)[p, j] = b[j*ldb + p]. Panels of whole 8-column groups: in-register 8×8 transposes,
                // 8 p at a time; the tail and odd widths copy element by element.
                float* src = b + (long)(j0 + jr) * ldb + p0;
                int pTail = 0;
                if (cols == nr && nr % 8 == 0 && Avx.IsSupported)
                {
                    for (; pTail + 8 <= kc; pTail += 8)
                        for (int jb = 0; jb < nr; jb += 8)
                            Transpose8x8(src + (long)jb * ldb + pTail, ldb, dst + pTail * nr + jb, nr);
                }
                for (int p = pTail; p < kc; p++)
                {
                    float* d = dst + p * nr;
                    int j = 0;
                    for (; j < cols; j++) d[j] = src[(long)j * ldb + p];
                    for (; j < nr; j++) d[j] = 0f;
                }
            }
        }
    }

    // src: 8 rows of 8 floats (row stride srcStride) -> dst: their transpose, 8 rows of 8 (row stride dstStride).
    private static void Transpose8x8(float* src, long srcStride, float* dst, long dstStride)
        => Transpose8x8(Avx.LoadVector256(src), Avx.LoadVector256(src + srcStride),
            Avx.LoadVector256(src + 2 * srcStride), Avx.LoadVector256(src + 3 * srcStride),
            Avx.LoadVector256(src + 4 * srcStride), Avx.LoadVector256(src + 5 * srcStride),
            Avx.LoadVector256(src + 6 * srcStride), Avx.LoadVector256(src + 7 * srcStride), dst, dstStride);

    // r0..r7: 8 rows of 8 floats (already loaded) -> dst: their transpose, 8 rows of 8 (row stride dstStride).
    // Shared by the strided packing above and ConvImplicit's row-pointer packing; inlined so the rows stay in registers.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Transpose8x8(Vector256<float> r0, Vector256<float> r1, Vector256<float> r2, Vector256<float> r3,
        Vector256<float> r4, Vector256<float> r5, Vector256<float> r6, Vector256<float> r7, float* dst, long dstStride)
    {
        Vector256<float> t0 = Avx.UnpackLow(r0, r1), t1 = Avx.UnpackHigh(r0, r1), t2 = Avx.UnpackLow(r2, r3), t3 = Avx.UnpackHigh(r2, r3),
            t4 = Avx.UnpackLow(r4, r5), t5 = Avx.UnpackHigh(r4, r5), t6 = Avx.UnpackLow(r6, r7), t7 = Avx.UnpackHigh(r6, r7);
        Vector256<float> u0 = Avx.Shuffle(t0, t2, 0x44), u1 = Avx.Shuffle(t0, t2, 0xEE), u2 = Avx.Shuffle(t1, t3, 0x44), u3 = Avx.Shuffle(t1, t3, 0xEE),
            u4 = Avx.Shuffle(t4, t6, 0x44), u5 = Avx.Shuffle(t4, t6, 0xEE), u6 = Avx.Shuffle(t5, t7, 0x44), u7 = Avx.Shuffle(t5, t7, 0xEE);
        Avx.Store(dst, Avx.Permute2x128(u0, u4, 0x20));
        Avx.Store(dst + dstStride, Avx.Permute2x128(u1, u5, 0x20));
        Avx.Store(dst + 2 * dstStride, Avx.Permute2x128(u2, u6, 0x20));
        Avx.Store(dst + 3 * dstStride, Avx.Permute2x128(u3, u7, 0x20));
        Avx.Store(dst + 4 * dstStride, Avx.Permute2x128(u0, u4, 0x31));
        Avx.Store(dst + 5 * dstStride, Avx.Permute2x128(u1, u5, 0x31));
        Avx.Store(dst + 6 * dstStride, Avx.Permute2x128(u2, u6, 0x31));
        Avx.Store(dst + 7 * dstStride, Avx.Permute2x128(u3, u7, 0x31));
    }

    // src: 4 rows of 4 floats -> dst: their transpose, 4 rows of 4.
    private static void Transpose4x4(float* src, long srcStride, float* dst, long dstStride)
    {
        Vector128<float> r0 = Sse.LoadVector128(src), r1 = Sse.LoadVector128(src + srcStride),
            r2 = Sse.LoadVector128(src + 2 * srcStride), r3 = Sse.LoadVector128(src + 3 * srcStride);
        Vector128<float> t0 = Sse.UnpackLow(r0, r1), t1 = Sse.UnpackLow(r2, r3), t2 = Sse.UnpackHigh(r0, r1), t3 = Sse.UnpackHigh(r2, r3);
        Sse.Store(dst, Sse.MoveLowToHigh(t0, t1));
        Sse.Store(dst + dstStride, Sse.MoveHighToLow(t1, t0));
        Sse.Store(dst + 2 * dstStride, Sse.MoveLowToHigh(t2, t3));
        Sse.Store(dst + 3 * dstStride, Sse.MoveHighToLow(t3, t2));
    }
}
