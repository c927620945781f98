// ConvImplicit: float32 convolutions with kernels larger than 1×1 (any stride, padding, dilation, groups) as implicit GEMMs on
// AVX-512: each image is copied once into zero-padded phase planes and no im2col matrix is built (forward, backward-filter).
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using SeFramework.Backends;

namespace SeFramework.Cpu;

/// <summary>
/// Implicit-GEMM convolution. Each channel of an image is stored as stride² phase planes of its zero-padded copy
/// (padded pixel (h, w) at phase (h mod stride, w mod stride), row h / stride, column w / stride; one plane of
/// (H + 2·pad) × (W + 2·pad) for stride 1). Then im2col row t = (c, r, s) at output (p, q) is the element
/// <c>xPad + Offsets[t] + p·Pitch + q</c>, Offsets[t] = c·Plane + phase(r·dilation, s·dilation)·PhasePlane +
/// (r·dilation / stride)·Pitch + s·dilation / stride: every output row is a contiguous run of every im2col row.
/// Forward: y_g (K/G, N·P·Q) = w_g · B_g with the weights packed once per call and B's panels copied from those runs
/// (images side by side along N). Backward-filter (where it pays): dw_g += dy_g · B_gᵀ by lane-parallel dot products
/// (Q % 16 == 0, small filters) or by a GEMM over the padded-width columns j = p·Pitch + q with dy zero at q ≥ Q.
/// Stride-1 backward-data is the forward conv of the flipped weights (CpuBackend.ConvBackwardData). Forward results do
/// not depend on the thread count (every output element is summed in one fixed order); backward-filter sums images per
/// worker chunk, like the im2col path.
/// </summary>
internal static unsafe class ConvImplicit
{
    /// <summary>What the forward does to output channel k once its sum is complete: v·Scale[k] (when given) +
    /// Shift[k] (when given), then max(·, 0) when Relu. A bias is a Shift alone (v + b, exactly as an added bias);
    /// an inference batch norm folded into the conv is Scale = γ/√(var + ε), Shift = β − mean·Scale.</summary>
    internal readonly struct Epilogue
    {
        public readonly float* Scale, Shift;
        public readonly bool Relu;

        public Epilogue(float* scale, float* shift, bool relu)
        {
            Scale = scale;
            Shift = shift;
            Relu = relu;
        }

        public bool IsIdentity => Scale == null && Shift == null && !Relu;

        /// <summary>The same epilogue for channels from <paramref name="first"/> on (a group's, a row range's).</summary>
        public Epilogue From(int first) => new(Scale == null ? null : Scale + first, Shift == null ? null : Shift + first, Relu);

        /// <summary>Channel k's scale (1 without one) and shift (0 without one), in every lane.</summary>
        public Vector512<float> ScaleOf(int k) => Vector512.Create(Scale == null ? 1f : Scale[k]);

        public Vector512<float> ShiftOf(int k) => Vector512.Create(Shift == null ? 0f : Shift[k]);

        /// <summary>The epilogue on one vector of channel k's outputs, given <see cref="ScaleOf"/>(k) and
        /// <see cref="ShiftOf"/>(k): v·scale + shift as one fused multiply-add (v + shift exactly when there is no scale),
        /// then ReLU as the elementwise kernels define it (v > 0 ? v : +0, so NaN and −0 give +0), bit for bit.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector512<float> On(Vector512<float> v, Vector512<float> scale, Vector512<float> shift)
        {
            if (Scale != null || Shift != null) v = Vector512.FusedMultiplyAdd(v, scale, shift);
            return Relu ? Vector512.ConditionalSelect(Vector512.GreaterThan(v, Vector512<float>.Zero), v, Vector512<float>.Zero) : v;
        }

        // src, dst: len outputs of channel k (dst may be src).
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Apply(float* src, float* dst, int len, int k)
        {
            var av = ScaleOf(k);
            var bv = ShiftOf(k);
            int i = 0;
            for (; i + 16 <= len; i += 16) On(Vector512.Load(src + i), av, bv).Store(dst + i);
            float a = av.ToScalar(), b = bv.ToScalar();
            for (; i < len; i++)
            {
                float v = Scale == null && Shift == null ? src[i] : MathF.FusedMultiplyAdd(src[i], a, b);
                dst[i] = Relu && !(v > 0f) ? 0f : v;
            }
        }
    }

    private const int MR = GemmKernels.MR512, NR = GemmKernels.NR512, KC = GemmPacked.KC, NC = GemmPacked.NC;
    // The loops below are [AggressiveOptimization]: jitted optimised on first use, not after ~30 calls of tier-0 code
    // (measured: the first conv calls of a process ran at half speed, 18 vs 8 ms for se_resnet20's stage-1 conv).

    /// <summary>Off: every convolution takes the im2col path (tests compare the two; SE_CONV_IMPLICIT=0 turns it off for
    /// A/B timings).</summary>
    internal static bool Enabled = Environment.GetEnvironmentVariable("SE_CONV_IMPLICIT") != "0";

    /// <summary>Off: pointwise convs pack every B block as other convs do (tests compare the two; SE_PW_INPLACE=0 for A/B
    /// timings). On: their full 32-column panels are read straight from x by the micro-kernel (measured at 1 thread:
    /// ResNet-50's 256→64 1×1 forward 10.4–11.1 → 8.8–9.3 ms; the packing had cost as much as a fifth of the multiply-adds
    /// when the conv has few output channels, each packed float feeding only K/16 vector FMAs).</summary>
    internal static bool PointwiseReadsInPlace = Environment.GetEnvironmentVariable("SE_PW_INPLACE") != "0";

    /// <summary>Float convolutions on a CPU with AVX-512 (the kernels are the Vector512 ones). A pointwise convolution
    /// (1×1, stride 1, unpadded) packs its panels from the input itself, a strided 1×1 from the stride² phases of it; either
    /// way the weights are packed once per call instead of once per image (2048×1024 of them in a ResNet-50 projection)
    /// and images share column panels.</summary>
    internal static bool Applies(in Conv2dGeometry g) =>
        g.P > 0 && g.Q > 0 && (long)g.N * g.P * g.Q <= int.MaxValue - NC
        && Vector512.IsHardwareAccelerated && Avx.IsSupported;

    /// <summary>The GEMM backward-filter sums over the padded-width columns, Pitch/Q times the real ones (the extra
    /// products are with zeros): it beats im2col + GEMM only while that overhead stays under ~8 % (measured at stride 1:
    /// Q = 32, 56 win; Q = 7, 14, 16 lose; Q = 28 ties). 1×1 filters keep the im2col path's GEMM straight over x.</summary>
    internal static bool FilterApplies(in Conv2dGeometry g) =>
        Applies(g) && (g.R > 1 || g.S > 1) && ((g.P - 1) * ((g.W + 2L * g.Padding + g.Stride - 1) / g.Stride) + g.Q) * 100 <= (long)g.P * g.Q * 108;

    /// <summary>Sizes of the padded phase planes and the padded-width output grid of one convolution.</summary>
    private readonly struct Layout
    {
        public readonly int Hp, Wp;         // the padded image: (H + 2·pad) × (W + 2·pad)
        public readonly int PhaseRows, Pitch; // one phase plane: ceil(Hp / stride) rows of Pitch = ceil(Wp / stride)
        public readonly int PhasePlane, Plane; // PhaseRows·Pitch; a channel is stride² phase planes
        public readonly int Cols;            // padded-width output columns: (P − 1)·Pitch + Q
        public readonly long ImageSize;      // C·Plane + NR floats of zeros (whole-vector copies read up to NR − 1 past the end)
        public readonly int[] Offsets;       // per im2col row t = (c, r, s) of one group, see the class summary
        // In place: a pointwise conv (1×1, stride 1, unpadded) reads its input as it is, images C·H·W apart with no zero
        // tail; ReadEnd is then the end of the input, which whole-vector copies must not pass (null when padded).
        public readonly float* ReadEnd;
        public bool InPlace => ReadEnd != null;

        public Layout(in Conv2dGeometry g) : this(g, null) { }

        /// <summary>The layout of <paramref name="input"/> used in place when the conv is pointwise and it is given,
        /// else of padded copies.</summary>
        public Layout(in Conv2dGeometry g, float* input)
        {
            int st = g.Stride;
            Hp = g.H + 2 * g.Padding;
            Wp = g.W + 2 * g.Padding;
            PhaseRows = (Hp + st - 1) / st;
            Pitch = (Wp + st - 1) / st;
            PhasePlane = PhaseRows * Pitch;
            Plane = checked(st * st * PhasePlane);
            Cols = (g.P - 1) * Pitch + g.Q;
            bool inPlace = input != null && g.IsPointwise;
            ImageSize = inPlace ? (long)g.C * Plane : (long)g.C * Plane + NR;
            ReadEnd = inPlace ? input + (long)g.N * ImageSize : null;
            Offsets = new int[g.ColRows];
            int t = 0;
            for (int c = 0; c < g.CPerGroup; c++)
                for (int r = 0; r < g.R; r++)
                    for (int s = 0; s < g.S; s++)
                    {
                        int dh = r * g.Dilation, dw = s * g.Dilation;
                        Offsets[t++] = c * Plane + (dh % st * st + dw % st) * PhasePlane + dh / st * Pitch + dw / st;
                    }
        }
    }

    // Per-thread packed-B block (KC × NC) and edge tile, allocated once per thread.
    [ThreadStatic] private static Workspace? t_workspace;

    private sealed class Workspace
    {
        public readonly float* B, Tile;

        public Workspace()
        {
            // + NR floats: PackSegments' whole-vector copies may run up to 15 floats past the block.
            B = (float*)System.Runtime.InteropServices.NativeMemory.AlignedAlloc((nuint)((KC * NC + NR) * sizeof(float)), 64);
            Tile = (float*)System.Runtime.InteropServices.NativeMemory.AlignedAlloc((nuint)(MR * NR * sizeof(float)), 64);
        }

        ~Workspace()
        {
            System.Runtime.InteropServices.NativeMemory.AlignedFree(B);
            System.Runtime.InteropServices.NativeMemory.AlignedFree(Tile);
        }
    }

    // ---- forward ------------------------------------------------------------------------------------------------------

    // x: (N, C, H, W), w: (K, C/G, R, S), bias: (K) or null -> y: (N, K, P, Q).
    internal static void Forward(float* x, float* w, float* bias, float* y, in Conv2dGeometry g)
        => Forward(x, w, y, g, new Epilogue(null, bias, false));

    // x: (N, C, H, W), w: (K, C/G, R, S) -> y: (N, K, P, Q) = epilogue(conv(x, w)) per output channel.
    // Per group: y_g (K/G, N·P·Q) = w_g (K/G, C/G·R·S) · B_g, the columns of all images side by side (column j' is image
    // j' / PQ, output (p, q) of j' % PQ), so no image wastes the tail of its last panel. B panels are packed from runs of
    // the padded images: the NR columns of a panel split into segments that stay in one output row of one image, and each
    // segment of row t is a contiguous copy from xPad + Offsets[t] + p·Pitch + q.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Forward(float* x, float* w, float* y, in Conv2dGeometry g, Epilogue epilogue)
    {
        var lay = new Layout(g, x);
        int kg = g.KPerGroup, crs = g.ColRows, mPad = (kg + MR - 1) / MR * MR, pq = g.P * g.Q;
        long aGroup = (long)mPad * crs, chw = (long)g.C * g.H * g.W, kpq = (long)g.K * pq;
        int total = checked(g.N * pq), panels = (total + NR - 1) / NR;

        // The weights of every group, packed once: per group, per KC block, ceil(K/G / MR) panels of kc × MR.
        float* aPacked = (float*)CpuAllocator.Rent(aGroup * g.Groups * sizeof(float), zero: false);
        try
        {
            using (CpuProfiler.Op("Conv.PackWeights"))
                PackWeights(w, aPacked, mPad, g);
            long macs = (long)g.K * total * crs;
            int threads = CpuParallel.MaxThreads;
            bool parallel = threads > 1 && macs >= 1L << 18;
            nint xAddr = (nint)x, aAddr = (nint)aPacked, yAddr = (nint)y;
            var epi = epilogue;
            var gg = g;
            var ll = lay;
            // Units of consecutive images with at least NC columns between them. With enough units to keep every thread
            // busy, each unit pads its images into a per-call buffer and runs right away (the padded images are still in
            // L2); otherwise all images are padded first and the threads split the columns of the whole batch.
            int unitImages = Math.Min(g.N, (NC + pq - 1) / pq), units = (g.N + unitImages - 1) / unitImages;
            if (!parallel || units >= 2 * threads)
            {
                // Units are taken from a shared counter, not in static chunks: a worker that wakes late (or loses its core
                // for a while) takes fewer units instead of holding up the call. Each unit's outputs are summed by one
                // thread in a fixed order, so the results still do not depend on who ran which unit.
                int[] nextUnit = [0];
                CpuParallel.For(parallel ? threads : 1, 1, (start, end) =>
                {
                    long bufSize = ll.InPlace ? 0 : unitImages * ll.ImageSize;
                    float* buf = ll.InPlace ? null : (float*)CpuAllocator.Rent(bufSize * sizeof(float), zero: false);
                    try
                    {
                        for (int u = Interlocked.Increment(ref nextUnit[0]) - 1; u < units; u = Interlocked.Increment(ref nextUnit[0]) - 1)
                        {
                            int n0 = u * unitImages, n1 = Math.Min(gg.N, n0 + unitImages);
                            float* src = ll.InPlace ? (float*)xAddr + n0 * chw : buf;
                            if (!ll.InPlace)
                                using (CpuProfiler.Op("Conv.Pad"))
                                    for (int n = n0; n < n1; n++) PadImage((float*)xAddr + n * chw, buf + (n - n0) * ll.ImageSize, gg, ll);
                            using var _g = CpuProfiler.Op("Conv.ImplicitGemm");
                            ForwardColumns(0, (n1 - n0) * pq, (float*)aAddr, mPad, src, (float*)yAddr + n0 * kpq, epi, gg, ll);
                        }
                    }
                    finally
                    {
                        if (buf != null) CpuAllocator.Return(buf, bufSize * sizeof(float));
                    }
                });
                return;
            }
            float* xPad = lay.InPlace ? x : (float*)CpuAllocator.Rent(g.N * lay.ImageSize * sizeof(float), zero: false);
            try
            {
                nint padAddr = (nint)xPad;
                if (!lay.InPlace)
                    using (CpuProfiler.Op("Conv.Pad"))
                        CpuParallel.For(g.N, 1, (start, end) =>
                        {
                            for (int n = start; n < end; n++) PadImage((float*)xAddr + n * chw, (float*)padAddr + n * ll.ImageSize, gg, ll);
                        });
                using var _p = CpuProfiler.Op("Conv.ImplicitGemm");
                // Chunks of at least 2 Mflop each (a worker wake-up costs microseconds).
                int grain = (int)Math.Clamp((1L << 20) / Math.Max(1L, (long)g.K * NR * crs), 1, panels);
                int mTiles = (kg + MR - 1) / MR;
                if (g.Groups == 1 && panels % threads != 0 && CpuParallel.ChunkCount(panels, grain) == threads && (long)panels * mTiles < int.MaxValue)
                {
                    // Panels that do not split evenly (13 column panels of 32 at 2 threads in ResNet-50's 7×7 stage: 7 + 6,
                    // 8 % idle): split the (panel, MR-row tile) grid instead, chunk c taking tiles [T·c/threads,
                    // T·(c+1)/threads) in panel-major order, so a boundary panel's rows are shared (its B panel packed twice).
                    int tilesTotal = panels * mTiles;
                    CpuParallel.For(threads, 1, (start, end) =>
                    {
                        for (int c = start; c < end; c++)
                        {
                            int t0 = (int)((long)tilesTotal * c / threads), t1 = (int)((long)tilesTotal * (c + 1) / threads);
                            int p0 = t0 / mTiles, p1 = t1 / mTiles; // first panel touched, first panel not fully reached
                            int r0 = t0 % mTiles * MR, r1 = t1 % mTiles * MR;
                            float* a = (float*)aAddr, xpd = (float*)padAddr, yy = (float*)yAddr;
                            if (p0 == p1)
                            {
                                if (r1 > r0) ForwardColumns(p0 * NR, Math.Min((p0 + 1) * NR, total), a, mPad, xpd, yy, epi, gg, ll, r0, r1);
                                continue;
                            }
                            int full0 = p0;
                            if (r0 > 0)
                            {
                                ForwardColumns(p0 * NR, Math.Min((p0 + 1) * NR, total), a, mPad, xpd, yy, epi, gg, ll, r0, gg.KPerGroup);
                                full0 = p0 + 1;
                            }
                            if (p1 > full0) ForwardColumns(full0 * NR, Math.Min(p1 * NR, total), a, mPad, xpd, yy, epi, gg, ll, 0, gg.KPerGroup);
                            if (r1 > 0) ForwardColumns(p1 * NR, Math.Min((p1 + 1) * NR, total), a, mPad, xpd, yy, epi, gg, ll, 0, r1);
                        }
                    });
                }
                else
                    CpuParallel.For(panels, grain, (start, end) =>
                        ForwardColumns(start * NR, Math.Min(end * NR, total), (float*)aAddr, mPad, (float*)padAddr, (float*)yAddr, epi, gg, ll));
            }
            finally
            {
                if (!lay.InPlace) CpuAllocator.Return(xPad, g.N * lay.ImageSize * sizeof(float));
            }
        }
        finally
        {
            CpuAllocator.Return(aPacked, aGroup * g.Groups * sizeof(float));
        }
    }

    // w: (K, C/G·R·S) -> aPacked: per group (mPad·crs floats), per KC block, ceil(K/G / MR) panels of kc × MR. Tasks of
    // (group, KC block, slab of up to 8 MR panels) run in parallel when there are ≥ 64 Ki weights (2.4 M in ResNet-50's
    // last 3×3 conv: ~1 ms packed on one thread before the GEMM could start).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackWeights(float* w, float* aPacked, int mPad, in Conv2dGeometry g)
    {
        int kg = g.KPerGroup, crs = g.ColRows, kBlocks = (crs + KC - 1) / KC, slabRows = 8 * MR, slabs = (kg + slabRows - 1) / slabRows;
        long aGroup = (long)mPad * crs;
        int tasks = g.Groups * kBlocks * slabs;
        nint wAddr = (nint)w, aAddr = (nint)aPacked;
        var gg = g;
        CpuParallel.For(tasks, (long)g.K * crs >= 1 << 16 ? 1 : tasks, (start, end) =>
        {
            for (int task = start; task < end; task++)
            {
                int slab = task % slabs, pb = task / slabs % kBlocks, gi = task / slabs / kBlocks;
                int pc = pb * KC, kc = Math.Min(KC, crs - pc), i0 = slab * slabRows, mc = Math.Min(slabRows, kg - i0);
                GemmPacked.PackA(false, (float*)wAddr + (long)gi * kg * crs, crs, i0, pc, mc, kc, MR,
                    (float*)aAddr + gi * aGroup + (long)mPad * pc + (long)i0 * kc);
            }
        });
    }

    // Columns [j0, j1) of every group's y_g = w_g · B_g, in blocks of NC columns; a panel's C goes straight to y or to a
    // scratch (mPad, NC + 16) that is then scattered into y; then the epilogue. Each element sums its KC blocks in order,
    // whatever j0, j1 and the destination are.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ForwardColumns(int j0, int j1, float* aPacked, int mPad, float* xPad, float* y, Epilogue epi, in Conv2dGeometry g, in Layout lay)
        => ForwardColumns(j0, j1, aPacked, mPad, xPad, y, epi, g, lay, 0, g.KPerGroup);

    // As above for output channels [row0, row1) of each group only (row0 a multiple of MR; row1 one too, or K/G).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ForwardColumns(int j0, int j1, float* aPacked, int mPad, float* xPad, float* y, Epilogue epi, in Conv2dGeometry g, in Layout lay,
        int row0, int row1)
    {
        row1 = Math.Min(row1, g.KPerGroup);
        Workspace ws = t_workspace ??= new Workspace();
        int kg = g.KPerGroup, crs = g.ColRows, pq = g.P * g.Q, ldc = NC + 16;
        long aGroup = (long)mPad * crs, kpq = (long)g.K * pq;
        float* cBlock = (float*)CpuAllocator.Rent((long)mPad * ldc * sizeof(float), zero: false);
        // Segments of the current block: source offset (from xPad), destination column in its panel, length (1..NR);
        // panel i owns segments [segEnd[i − 1], segEnd[i]).
        int* segSrc = stackalloc int[NC];
        int* segDst = stackalloc int[NC];
        int* segLen = stackalloc int[NC];
        int* segEnd = stackalloc int[NC / NR];
        // Per panel of the block: where its C tile goes (y or cBlock) and that destination's row stride.
        float** panelC = stackalloc float*[NC / NR];
        int* panelLd = stackalloc int[NC / NR];
        // Per panel, when the block's B is read in place: the offset of its first column in x (image and position).
        long* panelSrc = stackalloc long[NC / NR];
        try
        {
            fixed (int* off = lay.Offsets)
                for (int jc = j0; jc < j1; jc += NC)
                {
                    int nc = Math.Min(NC, j1 - jc), segs = 0;
                    for (int jj = 0; jj < nc;)
                    {
                        int col = jc + jj, n = col / pq, r = col % pq, p = r / g.Q, q = r % g.Q;
                        // Output rows are contiguous in the planes when Pitch == Q (1×1 stride 1, unpadded): a segment
                        // then runs on to the end of the image.
                        int rowLeft = lay.Pitch == g.Q ? pq - r : g.Q - q;
                        int len = Math.Min(Math.Min(rowLeft, nc - jj), (jj / NR + 1) * NR - jj);
                        segSrc[segs] = checked((int)(n * lay.ImageSize)) + p * lay.Pitch + q;
                        segDst[segs] = jj % NR;
                        segLen[segs] = len;
                        segs++;
                        jj += len;
                        if (jj % NR == 0 || jj == nc) segEnd[(jj - 1) / NR] = segs;
                    }
                    for (int gi = 0; gi < g.Groups; gi++)
                    {
                        float* xb = xPad + (long)gi * g.CPerGroup * lay.Plane;
                        float* aG = aPacked + gi * aGroup;
                        float* yG = y + (long)gi * kg * pq;
                        // A panel inside one image writes its C tile straight into y (row stride P·Q; measured faster
                        // than the scratch even at P·Q = 1024, 4 KiB-strided rows); a panel across images goes to cBlock.
                        // B read in place (pointwise convs): when every panel is 32 columns of one image, the micro-kernel
                        // reads its rows straight from x (row stride = the plane), with no packing; a plane of a multiple of
                        // 1024 floats would put the rows in one L1 set, so those pack.
                        bool readInPlace = PointwiseReadsInPlace && lay.InPlace && nc % NR == 0 && lay.Plane % 1024 != 0;
                        for (int pi = 0; pi * NR < nc; pi++)
                        {
                            int col0 = jc + pi * NR, cols = Math.Min(NR, nc - pi * NR), r0 = col0 % pq;
                            bool direct = r0 + cols <= pq;
                            panelC[pi] = direct ? yG + col0 / pq * kpq + r0 : cBlock + pi * NR;
                            panelLd[pi] = direct ? pq : ldc;
                            panelSrc[pi] = col0 / pq * lay.ImageSize + r0;
                            readInPlace &= direct;
                        }
                        for (int pc = 0; pc < crs; pc += KC)
                        {
                            int kc = Math.Min(KC, crs - pc);
                            if (!readInPlace) PackSegments(xb, off + pc, kc, nc, segSrc, segDst, segLen, segEnd, ws.B, lay.ReadEnd);
                            float beta = pc == 0 ? 0f : 1f;
                            for (int ir = row0; ir < row1; ir += MR)
                            {
                                int rows = Math.Min(MR, row1 - ir);
                                float* aPanel = aG + (long)mPad * pc + (long)ir * kc;
                                for (int jr = 0, pi = 0; jr < nc; jr += NR, pi++)
                                {
                                    float* bPanel = readInPlace ? xb + (long)pc * lay.Plane + panelSrc[pi] : ws.B + (long)jr * kc;
                                    GemmKernels.Kernel512(kc, aPanel, bPanel, readInPlace ? lay.Plane : NR, panelC[pi] + (long)ir * panelLd[pi], panelLd[pi], 1f, beta, rows, Math.Min(NR, nc - jr), ws.Tile);
                                }
                            }
                        }
                        var epiG = epi.From(gi * kg + row0);
                        for (int pi = 0; pi * NR < nc; pi++)
                        {
                            int col0 = jc + pi * NR, cols = Math.Min(NR, nc - pi * NR);
                            if (panelLd[pi] == ldc)
                                ScatterBlock(cBlock + (long)row0 * ldc + pi * NR, ldc, col0, cols, yG + (long)row0 * pq, epiG, row1 - row0, pq, kpq);
                            else if (!epiG.IsIdentity)
                                for (int k = row0; k < row1; k++)
                                {
                                    // The tile was just written: the epilogue reads it from L1/L2, not memory.
                                    float* row = panelC[pi] + (long)k * pq;
                                    epiG.Apply(row, row, cols, k - row0);
                                }
                        }
                    }
                }
        }
        finally
        {
            CpuAllocator.Return(cBlock, (long)mPad * ldc * sizeof(float));
        }
    }

    // B block rows t < kc (row t of the group's im2col matrix starts at xb + off[t]) -> panels of kc × NR at dst: panel i's
    // row t gets, for each of its segments, len floats from xb + off[t] + src at column dst. Copies are whole 16-float
    // vectors: the excess (< 16 floats) lands on columns written next (the next segment, the next row, the next panel,
    // or the workspace's slack), or on lanes past the block's last column, which never reach C. With readEnd (an input
    // used in place), a segment whose whole-vector read would pass it (the end of the last image) is copied float by float.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackSegments(float* xb, int* off, int kc, int nc, int* segSrc, int* segDst, int* segLen, int* segEnd, float* dst, float* readEnd)
    {
        int panelCount = (nc + NR - 1) / NR;
        for (int pi = 0, s0 = 0; pi < panelCount; s0 = segEnd[pi], pi++)
        {
            int s1 = segEnd[pi];
            float* panel = dst + (long)pi * NR * kc;
            if (s1 - s0 == 1 && segLen[s0] == NR)
            {
                // One run of NR columns (rows of width >= NR): two vector copies per row.
                float* src = xb + segSrc[s0];
                for (int t = 0; t < kc; t++)
                {
                    float* sp = src + off[t];
                    Vector512.Store(Vector512.Load(sp), panel + t * NR);
                    Vector512.Store(Vector512.Load(sp + 16), panel + t * NR + 16);
                }
                continue;
            }
            for (int t = 0; t < kc; t++)
            {
                float* row = xb + off[t];
                float* d = panel + t * NR;
                for (int s = s0; s < s1; s++)
                {
                    float* sp = row + segSrc[s];
                    int len = segLen[s];
                    if (readEnd != null && sp + (len > 16 ? 32 : 16) > readEnd)
                    {
                        for (int i = 0; i < len; i++) d[segDst[s] + i] = sp[i];
                        continue;
                    }
                    Vector512.Store(Vector512.Load(sp), d + segDst[s]);
                    if (len > 16) Vector512.Store(Vector512.Load(sp + 16), d + segDst[s] + 16);
                }
            }
        }
    }

    // cBlock: (m, ldc), columns [jc, jc + nc) of all images -> y: (N, K, P, Q) rows of one group (y points at its first
    // channel), through the epilogue (channel k of the block is the epilogue's k).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ScatterBlock(float* cBlock, int ldc, int jc, int nc, float* y, Epilogue epi, int m, int pq, long kpq)
    {
        for (int col = jc; col < jc + nc;)
        {
            int n = col / pq, r = col % pq, len = Math.Min(pq - r, jc + nc - col);
            for (int k = 0; k < m; k++)
            {
                float* src = cBlock + (long)k * ldc + (col - jc);
                float* dst = y + n * kpq + (long)k * pq + r;
                if (epi.IsIdentity) Buffer.MemoryCopy(src, dst, len * sizeof(float), len * sizeof(float));
                else epi.Apply(src, dst, len, k);
            }
            col += len;
        }
    }

    // x: (C, H, W) of one image -> xp: per channel the stride² phase planes of the zero-padded image (padded pixel
    // (h, w) at phase (h mod stride, w mod stride), row h / stride, column w / stride), then NR zeros. Stride 1: one
    // plane, the image at (pad, pad), zeros around it.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PadImage(float* x, float* xp, in Conv2dGeometry g, in Layout lay)
    {
        int pad = g.Padding, st = g.Stride;
        if (st != 1)
        {
            new Span<float>(xp, checked((int)lay.ImageSize)).Clear();
            for (int c = 0; c < g.C; c++)
                for (int h = 0; h < g.H; h++)
                {
                    int hp = h + pad;
                    float* src = x + ((long)c * g.H + h) * g.W;
                    float* rowBase = xp + (long)c * lay.Plane + (hp % st) * st * lay.PhasePlane + (long)(hp / st) * lay.Pitch;
                    int w0 = 0;
                    if (st == 2 && Avx512F.IsSupported)
                    {
                        // Input columns 2u go to phase pad mod 2 at pad / 2 + u, columns 2u + 1 to phase (pad + 1) mod 2
                        // at (pad + 1) / 2 + u: 32 columns at a time, split into their even and odd halves.
                        float* even = rowBase + pad % 2 * lay.PhasePlane + pad / 2, odd = rowBase + (pad + 1) % 2 * lay.PhasePlane + (pad + 1) / 2;
                        var evenIdx = Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
                        var oddIdx = evenIdx + Vector512<int>.One;
                        for (; w0 + 32 <= g.W; w0 += 32)
                        {
                            var lo = Vector512.Load(src + w0);
                            var hi = Vector512.Load(src + w0 + 16);
                            Avx512F.PermuteVar16x32x2(lo, evenIdx, hi).Store(even + w0 / 2);
                            Avx512F.PermuteVar16x32x2(lo, oddIdx, hi).Store(odd + w0 / 2);
                        }
                    }
                    // Phase column b holds the padded columns wp = b, b + stride, ... at 0, 1, ... (from input column w0 on).
                    for (int b = 0; b < st; b++)
                    {
                        float* dst = rowBase + b * lay.PhasePlane;
                        int i = 0;
                        for (int wp = b; wp < pad + g.W; wp += st, i++)
                            if (wp >= pad + w0) dst[i] = src[wp - pad];
                    }
                }
            return;
        }
        // Rows are short (32 floats in se_resnet20): inline vector copies and gap fills, no per-row calls.
        long pos = 0; // everything in xp before pos is written
        int w16 = g.W & ~15;
        for (int c = 0; c < g.C; c++)
            for (int h = 0; h < g.H; h++)
            {
                long start = (long)c * lay.Plane + (long)(h + pad) * lay.Wp + pad;
                long gap = start - pos;
                if (gap > 16) new Span<float>(xp + pos, (int)gap).Clear();
                else for (long i = pos; i < start; i++) xp[i] = 0f;
                float* src = x + ((long)c * g.H + h) * g.W, dst = xp + start;
                int j = 0;
                for (; j < w16; j += 16) Vector512.Store(Vector512.Load(src + j), dst + j);
                for (; j < g.W; j++) dst[j] = src[j];
                pos = start + g.W;
            }
        if (lay.ImageSize > pos) new Span<float>(xp + pos, (int)(lay.ImageSize - pos)).Clear();
    }

    // ---- backward filter ----------------------------------------------------------------------------------------------

    // x: (N, C, H, W), dy: (N, K, P, Q) -> dw: (K, C/G, R, S) = Σ_n dy_n · im2col(x_n)ᵀ. Images are split into one
    // contiguous chunk per worker (chunks = min(N, threads) when parallel), each summing into its own buffer; the buffers
    // are added in chunk order (as the im2col path does).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void BackwardFilter(float* x, float* dy, float* dw, in Conv2dGeometry g)
    {
        var lay = new Layout(g);
        int kg = g.KPerGroup, crs = g.ColRows;
        long chw = (long)g.C * g.H * g.W, kpq = (long)g.K * g.P * g.Q, dwSize = (long)g.K * crs;
        int lda = (int)CpuBackend.ColLd(lay.Cols); // the im2col row stride, for the same L1-aliasing reason
        long dySize = (long)g.K * lda, aPackSize = (long)((kg + MR - 1) / MR * MR) * KC;
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
                float* aPack = (float*)CpuAllocator.Rent(aPackSize * sizeof(float), zero: false);
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
                    CpuAllocator.Return(aPack, aPackSize * sizeof(float));
                }
            }
        });
        using (CpuProfiler.Op("Conv.FilterReduce"))
            CpuBackend.SumPartials<float>(dw, partials, dwSize);
        for (int chunk = 1; chunk < chunks; chunk++) CpuAllocator.Return((float*)partials[chunk], dwSize * sizeof(float));
    }

    // ---- backward filter for few output channels: lane-parallel dot products --------------------------------------------

    /// <summary>Backward-filter by dot products (no packing): for output widths that are whole vectors (Q % 16 == 0) and
    /// a filter small enough that one 16-lane partial sum per weight fits in cache (K·C/G·R·S ≤ 64 Ki), where packing
    /// the im2col matrix for a GEMM with few rows (K/G = 16 in se_resnet20) costs as much as the multiply-adds; not 1×1.
    /// Each 4×6 tile loads and stores its 24 lane sums once per group of images with ~1024 output positions. (A Q = 8
    /// variant, a vector over two output rows from two 8-float loads, measured 60..80 GF/s against 85 for im2col.)</summary>
    internal static bool FilterDotApplies(in Conv2dGeometry g) =>
        Applies(g) && (g.R > 1 || g.S > 1) && g.Q % 16 == 0 && (long)g.K * g.ColRows <= 1 << 16;

    /// <summary>Chunks of images per thread in the dot-product backward-filter: with one chunk per thread, the caller waited
    /// for a late or slowed worker at the end of every call (~10 ms per se_resnet20 step at 2 threads, with Winograd's).</summary>
    internal const int FilterChunksPerThread = 4;

    // x: (N, C, H, W), dy: (N, K, P, Q) -> dw: (K, C/G, R, S). dw[k, t] = Σ_n Σ_p Σ_q dy[n, k, p, q]·xPad_n[Offsets[t] +
    // p·pitch + q]: each weight keeps 16 lane sums (q mod 16) over its images in order, reduced to one value at the end.
    // Images are split into contiguous chunks, FilterChunksPerThread per thread, which the threads take in turn; the chunks'
    // lane sums are added in chunk order, so the result does not depend on which thread ran which chunk.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void BackwardFilterDot(float* x, float* dy, float* dw, in Conv2dGeometry g)
    {
        var lay = new Layout(g);
        int kg = g.KPerGroup, crs = g.ColRows;
        long chw = (long)g.C * g.H * g.W, pq = (long)g.P * g.Q, kpq = g.K * pq, accSize = (long)g.K * crs * 16;
        long macsPerImage = (long)g.K * pq * crs;
        int chunks = CpuParallel.MaxThreads > 1 && g.N > 1 && g.N * macsPerImage >= 1L << 18
            ? Math.Min(g.N, CpuParallel.MaxThreads * FilterChunksPerThread) : 1;
        var partials = new nint[chunks];
        nint xAddr = (nint)x, dyAddr = (nint)dy;
        var gg = g;
        // Images per pass over the tiles: enough for ~1024 output positions (64 vector steps per lane-sum round trip).
        int nb = (int)Math.Clamp((1024 + pq - 1) / pq, 1, 16);
        CpuParallel.ForBlocks(chunks, chunks, (start, end) =>
        {
            for (int chunk = start; chunk < end; chunk++)
            {
                float* acc = (float*)CpuAllocator.Rent(accSize * sizeof(float), zero: true);
                partials[chunk] = (nint)acc;
                float* xp = (float*)CpuAllocator.Rent(nb * lay.ImageSize * sizeof(float), zero: false);
                try
                {
                    int first = (int)((long)gg.N * chunk / chunks), last = (int)((long)gg.N * (chunk + 1) / chunks);
                    fixed (int* off = lay.Offsets)
                        for (int n = first; n < last; n += nb)
                        {
                            int count = Math.Min(nb, last - n);
                            using (CpuProfiler.Op("Conv.Pad(filter)"))
                                for (int i = 0; i < count; i++) PadImage((float*)xAddr + (n + i) * chw, xp + i * lay.ImageSize, gg, lay);
                            using var _p = CpuProfiler.Op("Conv.FilterDot");
                            for (int gi = 0; gi < gg.Groups; gi++)
                                FilterDotImages((float*)dyAddr + n * kpq + gi * kg * pq, kpq, xp + (long)gi * gg.CPerGroup * lay.Plane, lay.ImageSize,
                                    count, kg, (int)pq, off, crs, gg.P, gg.Q, lay.Pitch, acc + (long)gi * kg * crs * 16);
                        }
                }
                finally
                {
                    CpuAllocator.Return(xp, nb * lay.ImageSize * sizeof(float));
                }
            }
        });
        float* total = (float*)partials[0];
        using (CpuProfiler.Op("Conv.FilterReduce"))
            CpuBackend.SumPartials<float>(total, partials, accSize);
        for (int chunk = 1; chunk < chunks; chunk++) CpuAllocator.Return((float*)partials[chunk], accSize * sizeof(float));
        for (long i = 0; i < (long)g.K * crs; i++) dw[i] = Vector512.Sum(Vector512.Load(total + i * 16));
        CpuAllocator.Return(total, accSize * sizeof(float));
    }

    // For images i < count: dy_i = dy + i·dyStride: (m, P, Q) (row stride pq), im2col row t of image i = xb + i·xStride +
    // off[t] over padded-width columns -> acc: (m, n, 16) lane sums += dy_i[k, p, q]·row_t[p·pitch + q] for lane q mod 16,
    // images in order. Tiles of 4 k × 6 t (24 accumulators, loaded and stored once per call); edges one pair at a time.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void FilterDotImages(float* dy, long dyStride, float* xb, long xStride, int count, int m, int pq, int* off, int n,
        int P, int Q, int pitch, float* acc)
    {
        int m4 = m - m % 4, n6 = n - n % 6;
        for (int k0 = 0; k0 < m4; k0 += 4)
            for (int t0 = 0; t0 < n6; t0 += 6)
                DotTile4x6(dy + (long)k0 * pq, dyStride, pq, xb, xStride, count, off + t0, P, Q, pitch, acc + ((long)k0 * n + t0) * 16, n);
        for (int k = 0; k < m; k++)
            for (int t = k < m4 ? n6 : 0; t < n; t++)
            {
                float* a = acc + ((long)k * n + t) * 16;
                var s = Vector512.Load(a);
                for (int i = 0; i < count; i++)
                {
                    float* d = dy + i * dyStride + (long)k * pq, xr = xb + i * xStride + off[t];
                    for (int p = 0; p < P; p++)
                        for (int q = 0; q < Q; q += 16)
                            s = Vector512.FusedMultiplyAdd(Vector512.Load(d + p * Q + q), Vector512.Load(xr + p * pitch + q), s);
                }
                s.Store(a);
            }
    }

    // 4 dy rows (stride pq) × 6 im2col rows (xb + off[0..6]) of each of count images (strides dyStride, xStride) -> acc
    // (row stride n·16 per k, 16 per t) += lane products.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void DotTile4x6(float* dy, long dyStride, int pq, float* xb, long xStride, int count, int* off, int P, int Q, int pitch, float* acc, int n)
    {
        long r1 = (long)n * 16, r2 = 2 * r1, r3 = 3 * r1;
        var a00 = Vector512.Load(acc); var a01 = Vector512.Load(acc + 16); var a02 = Vector512.Load(acc + 32);
        var a03 = Vector512.Load(acc + 48); var a04 = Vector512.Load(acc + 64); var a05 = Vector512.Load(acc + 80);
        var a10 = Vector512.Load(acc + r1); var a11 = Vector512.Load(acc + r1 + 16); var a12 = Vector512.Load(acc + r1 + 32);
        var a13 = Vector512.Load(acc + r1 + 48); var a14 = Vector512.Load(acc + r1 + 64); var a15 = Vector512.Load(acc + r1 + 80);
        var a20 = Vector512.Load(acc + r2); var a21 = Vector512.Load(acc + r2 + 16); var a22 = Vector512.Load(acc + r2 + 32);
        var a23 = Vector512.Load(acc + r2 + 48); var a24 = Vector512.Load(acc + r2 + 64); var a25 = Vector512.Load(acc + r2 + 80);
        var a30 = Vector512.Load(acc + r3); var a31 = Vector512.Load(acc + r3 + 16); var a32 = Vector512.Load(acc + r3 + 32);
        var a33 = Vector512.Load(acc + r3 + 48); var a34 = Vector512.Load(acc + r3 + 64); var a35 = Vector512.Load(acc + r3 + 80);
        for (int i = 0; i < count; i++)
        {
            float* d0 = dy + i * dyStride, d1 = d0 + pq, d2 = d1 + pq, d3 = d2 + pq;
            float* xi = xb + i * xStride;
            float* x0 = xi + off[0], x1 = xi + off[1], x2 = xi + off[2], x3 = xi + off[3], x4 = xi + off[4], x5 = xi + off[5];
            for (int p = 0; p < P; p++)
            {
                int jd = p * Q, jx = p * pitch;
                for (int q = 0; q < Q; q += 16, jd += 16, jx += 16)
                {
                    var v0 = Vector512.Load(d0 + jd); var v1 = Vector512.Load(d1 + jd); var v2 = Vector512.Load(d2 + jd); var v3 = Vector512.Load(d3 + jd);
                    var u = Vector512.Load(x0 + jx);
                    a00 = Vector512.FusedMultiplyAdd(v0, u, a00); a10 = Vector512.FusedMultiplyAdd(v1, u, a10); a20 = Vector512.FusedMultiplyAdd(v2, u, a20); a30 = Vector512.FusedMultiplyAdd(v3, u, a30);
                    u = Vector512.Load(x1 + jx);
                    a01 = Vector512.FusedMultiplyAdd(v0, u, a01); a11 = Vector512.FusedMultiplyAdd(v1, u, a11); a21 = Vector512.FusedMultiplyAdd(v2, u, a21); a31 = Vector512.FusedMultiplyAdd(v3, u, a31);
                    u = Vector512.Load(x2 + jx);
                    a02 = Vector512.FusedMultiplyAdd(v0, u, a02); a12 = Vector512.FusedMultiplyAdd(v1, u, a12); a22 = Vector512.FusedMultiplyAdd(v2, u, a22); a32 = Vector512.FusedMultiplyAdd(v3, u, a32);
                    u = Vector512.Load(x3 + jx);
                    a03 = Vector512.FusedMultiplyAdd(v0, u, a03); a13 = Vector512.FusedMultiplyAdd(v1, u, a13); a23 = Vector512.FusedMultiplyAdd(v2, u, a23); a33 = Vector512.FusedMultiplyAdd(v3, u, a33);
                    u = Vector512.Load(x4 + jx);
                    a04 = Vector512.FusedMultiplyAdd(v0, u, a04); a14 = Vector512.FusedMultiplyAdd(v1, u, a14); a24 = Vector512.FusedMultiplyAdd(v2, u, a24); a34 = Vector512.FusedMultiplyAdd(v3, u, a34);
                    u = Vector512.Load(x5 + jx);
                    a05 = Vector512.FusedMultiplyAdd(v0, u, a05); a15 = Vector512.FusedMultiplyAdd(v1, u, a15); a25 = Vector512.FusedMultiplyAdd(v2, u, a25); a35 = Vector512.FusedMultiplyAdd(v3, u, a35);
                }
            }
        }
        a00.Store(acc); a01.Store(acc + 16); a02.Store(acc + 32); a03.Store(acc + 48); a04.Store(acc + 64); a05.Store(acc + 80);
        a10.Store(acc + r1); a11.Store(acc + r1 + 16); a12.Store(acc + r1 + 32); a13.Store(acc + r1 + 48); a14.Store(acc + r1 + 64); a15.Store(acc + r1 + 80);
        a20.Store(acc + r2); a21.Store(acc + r2 + 16); a22.Store(acc + r2 + 32); a23.Store(acc + r2 + 48); a24.Store(acc + r2 + 64); a25.Store(acc + r2 + 80);
        a30.Store(acc + r3); a31.Store(acc + r3 + 16); a32.Store(acc + r3 + 32); a33.Store(acc + r3 + 48); a34.Store(acc + r3 + 64); a35.Store(acc + r3 + 80);
    }

    // dy: (K, P, Q) of one image -> dyp: (K, lda) over the padded-width columns, zero where q >= Q.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void WidenOutput(float* dy, float* dyp, int lda, in Conv2dGeometry g, in Layout lay)
    {
        for (int k = 0; k < g.K; k++)
        {
            float* d = dyp + (long)k * lda;
            float* s = dy + (long)k * g.P * g.Q;
            for (int p = 0; p < g.P; p++)
            {
                Buffer.MemoryCopy(s + p * g.Q, d + p * lay.Pitch, g.Q * sizeof(float), g.Q * sizeof(float));
                int gap = Math.Min(lay.Pitch, lay.Cols - p * lay.Pitch) - g.Q;
                if (gap > 0) new Span<float>(d + p * lay.Pitch + g.Q, gap).Clear();
            }
        }
    }

    // a: (m, lda) (dy over padded-width columns, k = cols of them), B row t = xb + offsets[t] (k floats),
    // c: (m, n = offsets.Length) -> c = a·Bᵀ + beta·c. aPack holds one KC block of A (ceil(m/MR)·MR × KC).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
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
                            GemmKernels.Kernel512(kc, aPanel, ws.B + (long)jr * kc, NR, cRow + jr, ldc, 1f, betaBlock, rowsA, Math.Min(NR, nc - jr), ws.Tile);
                    }
                }
            }
    }

    // rows[j] (j < cols): kc floats each -> dst: kc × NR panel with dst[p·NR + j] = rows[j][p], columns j >= cols zero.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
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
        => GemmPacked.Transpose8x8(Avx.LoadVector256(rows[0] + p0), Avx.LoadVector256(rows[1] + p0),
            Avx.LoadVector256(rows[2] + p0), Avx.LoadVector256(rows[3] + p0), Avx.LoadVector256(rows[4] + p0),
            Avx.LoadVector256(rows[5] + p0), Avx.LoadVector256(rows[6] + p0), Avx.LoadVector256(rows[7] + p0), dst, NR);
}
