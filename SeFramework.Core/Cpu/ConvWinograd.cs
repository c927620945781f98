// ConvWinograd: float32 3×3 stride-1 convolutions (forward, and so stride-1 backward-data, and backward-filter) by Winograd's
// minimal filtering on AVX-512: the drivers, the F(2×2, 3×3) transforms (16 GEMMs, 2.25× fewer multiply-adds than the
// direct convolution) and what both tile sizes share; the F(4×4, 3×3) transforms are in ConvWinograd.Tile4.cs.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using SeFramework.Backends;

namespace SeFramework.Cpu;

/// <summary>
/// Winograd F(m×m, 3×3) (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks", 2016), m = 4 where an image
/// has at least 16 4×4 tiles, else 2. The output is cut into m×m tiles, tile (ty, tx) of image n reading the
/// (m + 2)² input patch d at padded rows m·ty.., columns m·tx.. (zeros outside the image). For m = 2, with
/// Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1], G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1] and Aᵀ = [1 1 1 0; 0 1 −1 −1], each output
/// tile is Y = Aᵀ [Σ_c U_kc ⊙ V_c] A with U = G w Gᵀ, V = Bᵀ d B: for each of the (m + 2)² positions ξ of the transformed
/// tiles, M_ξ (K, tiles) = U_ξ (K, C) · V_ξ (C, tiles), a GEMM run by the packed 12×32 micro-kernel. Backward-filter is the
/// transpose: dU_ξ (K, C) = Σ_tiles (A dY Aᵀ)_ξ (K, tiles) · V_ξᵀ and dw = Gᵀ dU G. The transforms are vectorised over 16
/// tiles of one image at a time; tiles are processed in blocks that keep their transformed inputs and products in L2.
/// The result is that of the direct convolution to within float rounding of the regrouped sums (each output within
/// ~1e-6 (m = 2) or ~5e-6 (m = 4) of the sum of its products' magnitudes), not bit for bit. Forward results do not depend
/// on the thread count (each tile's outputs are summed by one thread in a fixed order).
/// </summary>
internal static unsafe partial class ConvWinograd
{
    private const int MR = GemmKernels.MR512, NR = GemmKernels.NR512, KC = GemmPacked.KC;

    /// <summary>Off: 3×3 convolutions take the implicit-GEMM path (tests compare the two; SE_CONV_WINOGRAD=0 turns it off
    /// for A/B timings).</summary>
    internal static bool Enabled = Environment.GetEnvironmentVariable("SE_CONV_WINOGRAD") != "0";

    /// <summary>Float 3×3 convolutions with stride 1, dilation 1, one group and padding ≤ 2, with at least 8 input and 8
    /// output channels, on AVX-512. (The 8 is a chosen floor, not a measured break-even: below it each transformed value
    /// feeds fewer multiply-adds than a micro-kernel row; the smallest convs measured were se_resnet20's 16-channel ones,
    /// 1.2–1.7× faster than the implicit GEMM.)</summary>
    internal static bool Applies(in Conv2dGeometry g) =>
        Enabled && g.R == 3 && g.S == 3 && g.Stride == 1 && g.Dilation == 1 && g.Groups == 1 && g.Padding <= 2
        && g.P > 0 && g.Q > 0 && g.C >= 8 && g.K >= 8 && (long)g.N * Tiling.Of(g, 2).PerImage <= int.MaxValue / 2
        && Vector512.IsHardwareAccelerated && Avx512F.IsSupported;

    /// <summary>Backward-filter by Winograd where it measured faster than the implicit GEMM (1 thread, batch 128 / 8,
    /// `SeFramework.Bench --convparts NAME --dir filter`, against SE_CONV_WINOGRAD=0): C + K ≤ 128, with 2×2 tiles 32 ≤ C, K
    /// (se_resnet20's 8×8 stage 2.1–2.4×; 2×2 tiles with 16 channels 0.85×), with 4×4 tiles 16 ≤ C, K (se_resnet20's 32×32
    /// stage 1.1–1.3×, its 16×16 stage 1.6×, ResNet-50's 56×56 stage 1.7–2.2×). From 128 channels the lane-parallel dot
    /// products over a chunk's few hundred tiles spend too much on their final lane sums (2×2 tiles: 0.5–1.0×).</summary>
    internal static bool FilterApplies(in Conv2dGeometry g) =>
        Applies(g) && g.C + g.K <= 128 && Math.Min(g.C, g.K) >= (TileSizeFor(g) == 4 ? 16 : 32);

    /// <summary>Largest output tile size m of F(m×m, 3×3): 4 (36 GEMMs, 4× fewer multiply-adds) unless SE_WINOGRAD_TILE=2 or a
    /// test sets 2 (16 GEMMs, 2.25×; its transforms have only 0, ±1, ±½ and round less).</summary>
    internal static int TileSize = Environment.GetEnvironmentVariable("SE_WINOGRAD_TILE") == "2" ? 2 : 4;

    /// <summary>The tile size for one convolution: 4×4 tiles where an image has at least 16 of them (a whole vector of
    /// tiles per image plane: the transforms run 16 tiles of one image at a time, and with fewer each plane would take the
    /// lane-by-lane path; measured: se_resnet20's 8×8 stage 4× slower forward with 4×4 tiles), else 2×2.</summary>
    private static int TileSizeFor(in Conv2dGeometry g) => TileSize == 4 && Tiling.Of(g, 4).PerImage >= 16 ? 4 : 2;

    /// <summary>The m×m output tiles: TY × TX per image (the last row / column of tiles may hang over the output), and the
    /// (m + 2)² positions ξ of a transformed tile.</summary>
    private readonly struct Tiling
    {
        public readonly int M, TY, TX, PerImage, Xis;

        private Tiling(int m, int ty, int tx)
        {
            M = m;
            TY = ty;
            TX = tx;
            PerImage = ty * tx;
            Xis = (m + 2) * (m + 2);
        }

        public static Tiling Of(in Conv2dGeometry g, int m) => new(m, (g.P + m - 1) / m, (g.Q + m - 1) / m);
    }

    /// <summary>One image's share of a block of tiles: tiles [First, End) of image N (flat index ty·TX + tx), at block
    /// positions Pos, Pos + 1, ….</summary>
    private readonly record struct Segment(int N, int First, int End, int Pos);

    // The images' tile ranges that the block of tiles [t0, t1) covers -> segs (returns the count).
    private static int Segments(long t0, long t1, int perImage, Segment* segs)
    {
        int count = 0;
        for (long t = t0; t < t1;)
        {
            int n = (int)(t / perImage), first = (int)(t - (long)n * perImage);
            int end = (int)Math.Min(perImage, t1 - (long)n * perImage);
            segs[count++] = new Segment(n, first, end, (int)(t - t0));
            t += end - first;
        }
        return count;
    }

    /// <summary>Tiles per block: a multiple of 32 (a micro-kernel panel) with the block's transformed inputs and products,
    /// ξ·(C + K)·tiles floats, near 512 KiB (half of a Zen 4 core's L2), 32 to 512 tiles.</summary>
    private static int BlockTiles(int c, int k, int xis) => Math.Clamp((512 * 1024 / (4 * xis * (c + k))) / NR * NR, NR, 512);

    // ---- transformed, packed weights ---------------------------------------------------------------------------------

    // w: (K, C, 3, 3) -> u: (16, K, C), u[ξ = 4i + j, k, c] = (G w[k, c] Gᵀ)[i, j]; vectorised over 16 c at a time.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void TransformWeights(float* w, float* u, int k0, int k1, int kTotal, int c)
    {
        long xi = (long)kTotal * c;
        var half = Vector512.Create(0.5f);
        var t = stackalloc Vector512<float>[12];
        var g = stackalloc Vector512<float>[9];
        float* tmp = stackalloc float[16];
        for (int k = k0; k < k1; k++)
            for (int c0 = 0; c0 < c; c0 += 16)
            {
                int lanes = Math.Min(16, c - c0);
                float* src = w + ((long)k * c + c0) * 9;
                GatherTaps(src, lanes, g, tmp);
                // t = G g (4×3): rows g0, ½(g0 + g1 + g2), ½(g0 − g1 + g2), g2.
                for (int s = 0; s < 3; s++)
                {
                    var g0 = g[s]; var g1 = g[3 + s]; var g2 = g[6 + s];
                    t[s] = g0;
                    t[3 + s] = (g0 + g1 + g2) * half;
                    t[6 + s] = (g0 - g1 + g2) * half;
                    t[9 + s] = g2;
                }
                // u = t Gᵀ (4×4), per row i.
                for (int i = 0; i < 4; i++)
                {
                    var a0 = t[3 * i]; var a1 = t[3 * i + 1]; var a2 = t[3 * i + 2];
                    float* dst = u + (long)k * c + c0 + 4 * i * xi;
                    Store(a0, dst, lanes);
                    Store((a0 + a1 + a2) * half, dst + xi, lanes);
                    Store((a0 - a1 + a2) * half, dst + 2 * xi, lanes);
                    Store(a2, dst + 3 * xi, lanes);
                }
            }
    }

    // The 3×3 filters of `lanes` consecutive input channels (src: lanes × 9 floats) -> g[r·3 + s]: tap (r, s) of each
    // channel in its lane (lanes past `lanes` zero), a 16 × 9 transpose through tmp (16 floats).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void GatherTaps(float* src, int lanes, Vector512<float>* g, float* tmp)
    {
        for (int tap = 0; tap < 9; tap++)
        {
            for (int l = 0; l < 16; l++) tmp[l] = l < lanes ? src[l * 9 + tap] : 0f;
            g[tap] = Vector512.Load(tmp);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(Vector512<float> v, float* dst, int lanes)
    {
        if (lanes == 16) v.Store(dst);
        else for (int l = 0; l < lanes; l++) dst[l] = v[l];
    }

    // w: (K, C, 3, 3) -> per ξ, per KC block of C, ceil(K / MR) packed A panels of kc × MR (the layout Kernel512 reads):
    // ξ's panels start at packed + ξ·mPad·C, its KC block at + mPad·pc, its panel of rows ir at + ir·kc.
    private static float* PackTransformedWeights(float* w, in Conv2dGeometry g, int tileSize, out int mPad, out long packedFloats)
    {
        int k = g.K, c = g.C, m = tileSize, xis = (m + 2) * (m + 2);
        int mp = (k + MR - 1) / MR * MR;
        mPad = mp;
        long xi = (long)k * c;
        float* u = (float*)CpuAllocator.Rent(xis * xi * sizeof(float), zero: false);
        packedFloats = (long)xis * mp * c;
        float* packed = (float*)CpuAllocator.Rent(packedFloats * sizeof(float), zero: false);
        try
        {
            nint wAddr = (nint)w, uAddr = (nint)u, pAddr = (nint)packed;
            // Weight transforms in blocks of 8 output channels, then packing in (ξ, KC block) tasks.
            CpuParallel.For((k + 7) / 8, xi >= 1 << 14 ? 1 : (k + 7) / 8, (start, end) =>
            {
                if (m == 4) TransformWeights4((float*)wAddr, (float*)uAddr, start * 8, Math.Min(k, end * 8), k, c);
                else TransformWeights((float*)wAddr, (float*)uAddr, start * 8, Math.Min(k, end * 8), k, c);
            });
            int kBlocks = (c + KC - 1) / KC;
            CpuParallel.For(xis * kBlocks, xi >= 1 << 14 ? 1 : xis * kBlocks, (start, end) =>
            {
                for (int task = start; task < end; task++)
                {
                    int x = task / kBlocks, pc = task % kBlocks * KC, kc = Math.Min(KC, c - pc);
                    GemmPacked.PackA(false, (float*)uAddr + x * xi, c, 0, pc, k, kc, MR, (float*)pAddr + (long)x * mp * c + (long)mp * pc);
                }
            });
        }
        finally
        {
            CpuAllocator.Return(u, xis * xi * sizeof(float));
        }
        return packed;
    }

    // ---- input and gradient transforms ---------------------------------------------------------------------------------

    private static readonly Vector512<int> EvenLanes = Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    private static readonly Vector512<int> OddLanes = Vector512.Create(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    private static readonly Vector512<int> InterleaveLow = Vector512.Create(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    private static readonly Vector512<int> InterleaveHigh = Vector512.Create(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);

    /// <summary>Per-thread scratch of the transforms of one image plane. Pad: the zero-padded plane stored as two planes of
    /// its even and odd padded rows, (TY + 2) rows of Pitch = 2·TX + 2 floats each (the borders are written zero once and
    /// never again: every plane writes the same interior positions). Cols: 4 column-transformed arrays over those rows.
    /// Even, Odd: the even and odd columns of each of them. Staging: 16 ξ vectors of a partial group of tiles.</summary>
    private sealed class Scratch : IDisposable
    {
        public readonly float* Pad, Cols, Even, Odd, Staging;
        public readonly int Pitch, PadPlane, ColsStride, HalfStride;
        private readonly long _floats;

        public Scratch(in Tiling t)
        {
            Pitch = 2 * t.TX + 2;
            PadPlane = (t.TY + 2) * Pitch + 32;
            ColsStride = (t.TY + 1) * Pitch + 64;
            HalfStride = ColsStride / 2 + 32;
            _floats = 2L * PadPlane + 4L * ColsStride + 8L * HalfStride + 16 * 16;
            Pad = (float*)CpuAllocator.Rent(_floats * sizeof(float), zero: true);
            Cols = Pad + 2 * PadPlane;
            Even = Cols + 4 * ColsStride;
            Odd = Even + 4 * HalfStride;
            Staging = Odd + 4 * HalfStride;
        }

        public void Dispose() => CpuAllocator.Return(Pad, _floats * sizeof(float));
    }

    /// <summary>The scratch of the tile size in use, and the transforms that go with it.</summary>
    private sealed class Scratches : IDisposable
    {
        private readonly Scratch? _s2;
        private readonly Scratch4? _s4;

        public Scratches(in Tiling t)
        {
            if (t.M == 4) _s4 = new Scratch4(t);
            else _s2 = new Scratch(t);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Input(float* plane, in Conv2dGeometry g, in Tiling t, in Segment seg, int c, in PanelBuffer v)
        {
            if (_s4 != null) TransformInput4(plane, g, t, seg, c, v, _s4);
            else TransformInput(plane, g, t, seg, c, v, _s2!);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Gradient(float* plane, in Conv2dGeometry g, in Tiling t, in Segment seg, int k, in PanelBuffer d)
        {
            if (_s4 != null) TransformGradient4(plane, g, t, seg, k, d, _s4);
            else TransformGradient(plane, g, t, seg, k, d, _s2!);
        }

        public void Dispose()
        {
            _s2?.Dispose();
            _s4?.Dispose();
        }
    }

    // src (count floats, count ≤ 2·16·n) -> even[i] = src[2i], odd[i] = src[2i + 1] for i < count / 2 (whole vectors).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Deinterleave(float* src, int count, float* even, float* odd)
    {
        for (int i = 0; 2 * i < count; i += 16)
        {
            var lo = Vector512.Load(src + 2 * i);
            var hi = Vector512.Load(src + 2 * i + 16);
            Avx512F.PermuteVar16x32x2(lo, EvenLanes, hi).Store(even + i);
            Avx512F.PermuteVar16x32x2(lo, OddLanes, hi).Store(odd + i);
        }
    }

    /// <summary>Floats between the 16 matrices of a block: rows·tiles plus one cache line, so that the 16 streams of a
    /// transform (rows·tiles is often a multiple of 1024 floats, the L1 set period) do not all land in one 8-way L1 set.</summary>
    private static long XiStrideOf(int rows, int tiles) => (long)rows * tiles + 16;

    /// <summary>Where a block's transformed tiles go: element (ξ, row, position u) at Base + ξ·XiStride + (u / 32)·Rows·32 +
    /// row·32 + u % 32, i.e. per ξ the block is a run of micro-kernel B panels of Rows × 32 (rows: channels C for inputs,
    /// K for output gradients).</summary>
    private readonly struct PanelBuffer
    {
        public readonly float* Base;
        public readonly long XiStride;
        public readonly int Rows;

        public PanelBuffer(float* b, int rows, int blockTiles)
        {
            Base = b;
            Rows = rows;
            XiStride = XiStrideOf(rows, blockTiles);
        }

        public float* Panel(int xi, int u) => Base + xi * XiStride + (long)(u >> 5) * Rows * NR;

        /// <summary>Where a transform writes the 16 ξ vectors of tiles u … u + count − 1 of one row: straight into the
        /// panels (ξ at dst + ξ·stride) when they are 16 lanes inside one panel, else into <paramref name="staging"/> (ξ at
        /// staging + 16·ξ), which <see cref="Scatter"/> then copies lane by lane.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public bool Target(int row, int u, int count, float* staging, out float* dst, out long stride)
        {
            bool direct = count == 16 && (u & 31) <= 16;
            dst = direct ? Base + (long)(u >> 5) * Rows * NR + row * NR + (u & 31) : staging;
            stride = direct ? XiStride : 16;
            return direct;
        }

        // staging (16 ξ × 16 lanes) -> lanes [0, count) of each ξ at positions u … u + count − 1 of row. Out of line (it is
        // the rare case) but optimised from its first call: images whose tile count is not a multiple of 16 (ResNet-50's
        // 28×28 and 14×14 stages) call it once per plane, and its tier-0 code made their forward 1.5× slower in a short run.
        [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
        public void Scatter(float* staging, int row, int u, int count, int xis)
        {
            for (int xi = 0; xi < xis; xi++)
                for (int l = 0; l < count; l++)
                    Panel(xi, u + l)[row * NR + ((u + l) & 31)] = staging[16 * xi + l];
        }
    }

    // One input plane x_c (H, W) -> V = Bᵀ d B of tiles [seg.First, seg.End) of its image, row c of the block buffer.
    // 1. The plane's rows that the tile rows ty0..ty1 read go into the zero-padded copy, split by padded-row parity.
    // 2. Column pass, over all (ty, padded column w) at once (contiguous thanks to the split): for rows r0..r3 = padded rows
    //    2ty..2ty+3, Bᵀ gives C0 = r0 − r2, C1 = r1 + r2, C2 = r2 − r1, C3 = r1 − r3.
    // 3. Each C_i split into its even and odd columns: index m = ty·(TX + 1) + w / 2.
    // 4. Row pass per 16 tiles: e0, o0, e1, o1 = columns 2tx .. 2tx + 3 of tile (ty, tx) are E[m], O[m], E[m + 1], O[m + 1]
    //    at m = f + ty (f = ty·TX + tx: one extra pair per tile row), gathered by a two-vector permute; then
    //    V_i0 = e0 − e1, V_i1 = o0 + e1, V_i2 = e1 − o0, V_i3 = o0 − o1.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void TransformInput(float* plane, in Conv2dGeometry g, in Tiling t, in Segment seg, int c, in PanelBuffer v, Scratch s)
    {
        int tx = t.TX, ty0 = seg.First / tx, ty1 = (seg.End - 1) / tx, pitch = s.Pitch;
        int h0 = Math.Max(0, 2 * ty0 - g.Padding), h1 = Math.Min(g.H, 2 * ty1 + 4 - g.Padding);
        CopyRowsByPhase(plane, g.W, h0, h1, g.Padding, 2, s.Pad, s.PadPlane, pitch);
        // Column pass over lanes L = (ty − ty0)·pitch + w.
        int lanes = (ty1 - ty0 + 1) * pitch;
        float* p0 = s.Pad + ty0 * pitch, p1 = p0 + s.PadPlane;
        float* cols = s.Cols;
        int cs = s.ColsStride;
        for (int l = 0; l < lanes; l += 16)
        {
            var r0 = Vector512.Load(p0 + l); var r1 = Vector512.Load(p1 + l);
            var r2 = Vector512.Load(p0 + pitch + l); var r3 = Vector512.Load(p1 + pitch + l);
            (r0 - r2).Store(cols + l);
            (r1 + r2).Store(cols + cs + l);
            (r2 - r1).Store(cols + 2 * cs + l);
            (r1 - r3).Store(cols + 3 * cs + l);
        }
        int hs = s.HalfStride;
        for (int i = 0; i < 4; i++) Deinterleave(cols + i * cs, lanes, s.Even + i * hs, s.Odd + i * hs);
        int mBase = ty0 * (tx + 1);
        for (int f = seg.First; f < seg.End; f += 16)
        {
            int count = Math.Min(16, seg.End - f), u = seg.Pos + f - seg.First;
            var idx = GroupPairIndex(f, tx, mBase, out int off);
            var idx1 = idx + Vector512<int>.One;
            bool direct = v.Target(c, u, count, s.Staging, out float* dst, out long ds);
            for (int i = 0; i < 4; i++)
            {
                float* ev = s.Even + i * hs + off, od = s.Odd + i * hs + off;
                var eLo = Vector512.Load(ev); var eHi = Vector512.Load(ev + 16);
                var oLo = Vector512.Load(od); var oHi = Vector512.Load(od + 16);
                var e0 = Avx512F.PermuteVar16x32x2(eLo, idx, eHi); var e1 = Avx512F.PermuteVar16x32x2(eLo, idx1, eHi);
                var o0 = Avx512F.PermuteVar16x32x2(oLo, idx, oHi); var o1 = Avx512F.PermuteVar16x32x2(oLo, idx1, oHi);
                float* d = dst + 4 * i * ds;
                (e0 - e1).Store(d);
                (o0 + e1).Store(d + ds);
                (e1 - o0).Store(d + 2 * ds);
                (o0 - o1).Store(d + 3 * ds);
            }
            if (!direct) v.Scatter(s.Staging, c, u, count, 16);
        }
    }

    // One output-gradient plane dy_k (P, Q) -> A dY Aᵀ of tiles [seg.First, seg.End) of its image, row k of the block buffer
    // (dY the tile's 2×2 gradients, zero past the output), A = [1 0; 1 1; 1 −1; 0 −1]. The plane's rows go into the
    // zero-padded copy (TY rows of 2·TX per row parity); column pass D0 = g0, D1 = g0 + g1, D2 = g0 − g1, D3 = −g1 (g0, g1
    // the tile's two rows); each D_i split into even and odd columns, which are then indexed by the tile f itself; row pass
    // per 16 tiles: e, e + o, e − o, −o.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void TransformGradient(float* plane, in Conv2dGeometry g, in Tiling t, in Segment seg, int k, in PanelBuffer d, Scratch s)
    {
        int tx = t.TX, ty0 = seg.First / tx, ty1 = (seg.End - 1) / tx, pitch = 2 * tx;
        CopyRowsByPhase(plane, g.Q, 2 * ty0, Math.Min(g.P, 2 * ty1 + 2), 0, 2, s.Pad, s.PadPlane, pitch);
        int lanes = (ty1 - ty0 + 1) * pitch;
        float* g0 = s.Pad + ty0 * pitch, g1 = g0 + s.PadPlane;
        float* cols = s.Cols;
        int cs = s.ColsStride;
        for (int l = 0; l < lanes; l += 16)
        {
            var a = Vector512.Load(g0 + l); var b = Vector512.Load(g1 + l);
            a.Store(cols + l);
            (a + b).Store(cols + cs + l);
            (a - b).Store(cols + 2 * cs + l);
            (-b).Store(cols + 3 * cs + l);
        }
        int hs = s.HalfStride;
        for (int i = 0; i < 4; i++) Deinterleave(cols + i * cs, lanes, s.Even + i * hs, s.Odd + i * hs);
        int fBase = ty0 * tx;
        for (int f = seg.First; f < seg.End; f += 16)
        {
            int count = Math.Min(16, seg.End - f), u = seg.Pos + f - seg.First;
            bool direct = d.Target(k, u, count, s.Staging, out float* dst, out long ds);
            for (int i = 0; i < 4; i++)
            {
                var e = Vector512.Load(s.Even + i * hs + f - fBase);
                var o = Vector512.Load(s.Odd + i * hs + f - fBase);
                float* p = dst + 4 * i * ds;
                e.Store(p);
                (e + o).Store(p + ds);
                (e - o).Store(p + 2 * ds);
                (-o).Store(p + 3 * ds);
            }
            if (!direct) d.Scatter(s.Staging, k, u, count, 16);
        }
    }

    // ---- forward ------------------------------------------------------------------------------------------------------

    // x: (N, C, H, W), w: (K, C, 3, 3) -> y: (N, K, P, Q) = epilogue(conv(x, w)) per output channel.
    // Per block of tiles: V (ξ, C, tiles) = input transforms; M_ξ (K, tiles) = U_ξ · V_ξ by the 12×32 micro-kernel;
    // y tiles = Aᵀ M A, then the epilogue, written to y (ξ: 16 positions for 2×2 tiles, 36 for 4×4).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Forward(float* x, float* w, float* y, in Conv2dGeometry g, ConvImplicit.Epilogue epilogue)
    {
        var t = Tiling.Of(g, TileSizeFor(g));
        long tiles = (long)g.N * t.PerImage;
        int xis = t.Xis, tb = BlockTiles(g.C, g.K, xis), blocks = (int)((tiles + tb - 1) / tb);
        float* packed;
        int mPad;
        long packedFloats;
        using (CpuProfiler.Op("Conv.WinogradWeights"))
            packed = PackTransformedWeights(w, g, t.M, out mPad, out packedFloats);
        try
        {
            var gg = g;
            var epi = epilogue;
            int mp = mPad;
            nint xAddr = (nint)x, yAddr = (nint)y, aAddr = (nint)packed;
            int threads = Math.Min(CpuParallel.MaxThreads, blocks);
            long macs = tiles * xis * g.C * g.K;
            int[] next = [0];
            CpuParallel.For(macs >= 1L << 18 ? threads : 1, 1, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (_, _) =>
            {
                long vFloats = xis * XiStrideOf(gg.C, tb) + 64, mFloats = xis * XiStrideOf(gg.K, tb) + 64;
                float* vBuf = (float*)CpuAllocator.Rent(vFloats * sizeof(float), zero: false);
                float* mBuf = (float*)CpuAllocator.Rent(mFloats * sizeof(float), zero: false);
                float* tile = stackalloc float[MR * NR];
                var segs = stackalloc Segment[tb + 2];
                using var scratch = new Scratches(t);
                try
                {
                    for (int b = Interlocked.Increment(ref next[0]) - 1; b < blocks; b = Interlocked.Increment(ref next[0]) - 1)
                    {
                        long t0 = (long)b * tb, t1 = Math.Min(tiles, t0 + tb);
                        int nb = (int)(t1 - t0), segCount = Segments(t0, t1, t.PerImage, segs);
                        var v = new PanelBuffer(vBuf, gg.C, tb);
                        using (CpuProfiler.Op("Conv.WinogradInput"))
                            for (int si = 0; si < segCount; si++)
                            {
                                float* image = (float*)xAddr + (long)segs[si].N * gg.C * gg.H * gg.W;
                                for (int c = 0; c < gg.C; c++)
                                    scratch.Input(image + (long)c * gg.H * gg.W, gg, t, segs[si], c, v);
                            }
                        using (CpuProfiler.Op("Conv.WinogradGemm"))
                            BlockGemm((float*)aAddr, mp, v, mBuf, tb, nb, gg.K, gg.C, xis, tile);
                        using (CpuProfiler.Op("Conv.WinogradOutput"))
                            for (int si = 0; si < segCount; si++)
                                if (t.M == 4) TransformOutput4(mBuf, tb, segs[si], (float*)yAddr, gg, t, epi);
                                else TransformOutput(mBuf, tb, segs[si], (float*)yAddr, gg, t, epi);
                    }
                }
                finally
                {
                    CpuAllocator.Return(vBuf, vFloats * sizeof(float));
                    CpuAllocator.Return(mBuf, mFloats * sizeof(float));
                }
            });
        }
        finally
        {
            CpuAllocator.Return(packed, packedFloats * sizeof(float));
        }
    }

    // M_ξ (K, nb) with row stride tb at mBuf + ξ·XiStrideOf(K, tb) = U_ξ (packed A panels) · V_ξ (C, nb) (B panels of the block), per ξ
    // and KC block of C: each element sums its C products in KC-block order.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void BlockGemm(float* packed, int mPad, in PanelBuffer v, float* mBuf, int tb, int nb, int k, int c, int xis, float* tile)
    {
        for (int xi = 0; xi < xis; xi++)
        {
            float* aXi = packed + (long)xi * mPad * c;
            float* mXi = mBuf + xi * XiStrideOf(k, tb);
            for (int pc = 0; pc < c; pc += KC)
            {
                int kc = Math.Min(KC, c - pc);
                float beta = pc == 0 ? 0f : 1f;
                for (int ir = 0; ir < k; ir += MR)
                {
                    int rows = Math.Min(MR, k - ir);
                    float* aPanel = aXi + (long)mPad * pc + (long)ir * kc;
                    for (int u = 0; u < nb; u += NR)
                        GemmKernels.Kernel512(kc, aPanel, v.Panel(xi, u) + pc * NR, NR, mXi + (long)ir * tb + u, tb, 1f, beta, rows, Math.Min(NR, nb - u), tile);
                }
            }
        }
    }

    // M (16, K, tb) of one block -> y tiles of segment seg: per output channel k and 16 tiles, Y = Aᵀ M A (2×2 per tile),
    // the epilogue, then the tiles' rows interleaved into y (clipped at P and Q).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void TransformOutput(float* mBuf, int tb, in Segment seg, float* y, in Conv2dGeometry g, in Tiling t, ConvImplicit.Epilogue epi)
    {
        long xiStride = XiStrideOf(g.K, tb), pq = (long)g.P * g.Q;
        float* z = stackalloc float[64];
        // The tile (ty, tx) of each group of 16 tiles' first lane (no divisions in the per-channel loop).
        int groups = (seg.End - seg.First + 15) / 16;
        int* firstRow = stackalloc int[groups], firstCol = stackalloc int[groups];
        GroupStarts(seg, t.TX, firstRow, firstCol);
        for (int k = 0; k < g.K; k++)
        {
            float* yk = y + ((long)seg.N * g.K + k) * pq;
            var scale = epi.ScaleOf(k);
            var shift = epi.ShiftOf(k);
            for (int f = seg.First, gi = 0; f < seg.End; f += 16, gi++)
            {
                int count = Math.Min(16, seg.End - f);
                float* m = mBuf + (long)k * tb + seg.Pos + f - seg.First;
                // s0_j = m0j + m1j + m2j, s1_j = m1j − m2j − m3j; Y = [s0_0 + s0_1 + s0_2, s0_1 − s0_2 − s0_3; same of s1].
                var s00 = Vector512.Load(m) + Vector512.Load(m + 4 * xiStride) + Vector512.Load(m + 8 * xiStride);
                var s01 = Vector512.Load(m + xiStride) + Vector512.Load(m + 5 * xiStride) + Vector512.Load(m + 9 * xiStride);
                var s02 = Vector512.Load(m + 2 * xiStride) + Vector512.Load(m + 6 * xiStride) + Vector512.Load(m + 10 * xiStride);
                var s03 = Vector512.Load(m + 3 * xiStride) + Vector512.Load(m + 7 * xiStride) + Vector512.Load(m + 11 * xiStride);
                var s10 = Vector512.Load(m + 4 * xiStride) - Vector512.Load(m + 8 * xiStride) - Vector512.Load(m + 12 * xiStride);
                var s11 = Vector512.Load(m + 5 * xiStride) - Vector512.Load(m + 9 * xiStride) - Vector512.Load(m + 13 * xiStride);
                var s12 = Vector512.Load(m + 6 * xiStride) - Vector512.Load(m + 10 * xiStride) - Vector512.Load(m + 14 * xiStride);
                var s13 = Vector512.Load(m + 7 * xiStride) - Vector512.Load(m + 11 * xiStride) - Vector512.Load(m + 15 * xiStride);
                var y00 = epi.On(s00 + s01 + s02, scale, shift); var y01 = epi.On(s01 - s02 - s03, scale, shift);
                var y10 = epi.On(s10 + s11 + s12, scale, shift); var y11 = epi.On(s11 - s12 - s13, scale, shift);
                Avx512F.PermuteVar16x32x2(y00, InterleaveLow, y01).Store(z);
                Avx512F.PermuteVar16x32x2(y00, InterleaveHigh, y01).Store(z + 16);
                Avx512F.PermuteVar16x32x2(y10, InterleaveLow, y11).Store(z + 32);
                Avx512F.PermuteVar16x32x2(y10, InterleaveHigh, y11).Store(z + 48);
                // Lanes in runs of one tile row: lane l of the run is tile (ty, tx0 + l), output columns 2(tx0 + l), +1.
                for (int l = 0, ty = firstRow[gi], tx0 = firstCol[gi]; l < count; ty++, tx0 = 0)
                {
                    int run = Math.Min(t.TX - tx0, count - l);
                    int col = 2 * tx0, len = Math.Min(2 * run, g.Q - col), row = 2 * ty;
                    CopyFloats(z + 2 * l, yk + (long)row * g.Q + col, len);
                    if (row + 1 < g.P) CopyFloats(z + 32 + 2 * l, yk + (long)(row + 1) * g.Q + col, len);
                    l += run;
                }
            }
        }
    }

    // Segment seg's groups of 16 tiles -> the tile row and column of each group's first tile (no divisions per channel).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void GroupStarts(in Segment seg, int tx, int* firstRow, int* firstCol)
    {
        for (int gi = 0, f = seg.First; f < seg.End; gi++, f += 16)
        {
            firstRow[gi] = f / tx;
            firstCol[gi] = f - firstRow[gi] * tx;
        }
    }

    // The 16 tiles f … f + 15 of an image (tile rows of TX) -> for each, its column pair m(f') = f' + f' / TX (one extra pair
    // per tile row: a tile reads the pair after its own) relative to m(f), a span of at most 31, for a two-vector permute;
    // off = m(f) − mBase.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> GroupPairIndex(int f, int tx, int mBase, out int off)
    {
        var fv = Vector512.Create(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15) + Vector512.Create(f);
        var rowOf = Vector512.ConvertToInt32(Vector512.Floor((Vector512.ConvertToSingle(fv) + Vector512.Create(0.5f)) * Vector512.Create(1f / tx)));
        int m0 = f + rowOf.ToScalar();
        off = m0 - mBase;
        return fv + rowOf - Vector512.Create(m0);
    }

    // Rows [from, to) of a plane (rowLength floats each) -> the zero-padded copy split by row phase: row h is padded row
    // r = h + lead, stored in phase plane r mod phases (planes padPlane apart) at row r / phases (rows pitch apart), from
    // column lead (lead: the conv's padding for inputs, 0 for output gradients; phases: the tile size m).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void CopyRowsByPhase(float* plane, int rowLength, int from, int to, int lead, int phases, float* pad, long padPlane, int pitch)
    {
        for (int h = from; h < to; h++)
        {
            int r = h + lead;
            CopyFloats(plane + (long)h * rowLength, pad + r % phases * padPlane + (long)(r / phases) * pitch + lead, rowLength);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void CopyFloats(float* src, float* dst, int len)
    {
        int i = 0;
        for (; i + 16 <= len; i += 16) Vector512.Load(src + i).Store(dst + i);
        if (i + 8 <= len)
        {
            Vector256.Load(src + i).Store(dst + i);
            i += 8;
        }
        for (; i < len; i++) dst[i] = src[i];
    }

    // ---- backward-filter ------------------------------------------------------------------------------------------------

    // x: (N, C, H, W), dy: (N, K, P, Q) -> dw: (K, C, 3, 3) (overwritten).
    // Chunks of tiles, in contiguous groups of chunks that the threads take in turn: per chunk, V (ξ, C, tiles) and D = A dY Aᵀ
    // (ξ, K, tiles), then dU_ξ (K, C) += D_ξ · V_ξᵀ by lane-parallel dot products over the tiles. The groups' dU are
    // added in group order, then dw = Gᵀ dU G.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void BackwardFilter(float* x, float* dy, float* dw, in Conv2dGeometry g)
    {
        var t = Tiling.Of(g, TileSizeFor(g));
        long tiles = (long)g.N * t.PerImage;
        int xis = t.Xis;
        // Chunks of ~2 MiB of transformed tiles.
        int ct = Math.Clamp((2 * 1024 * 1024 / (4 * xis * (g.C + g.K))) / NR * NR, NR, 4096);
        int chunks = (int)((tiles + ct - 1) / ct);
        long macs = tiles * xis * g.C * g.K;
        // Partial sums per fixed group of chunks (several per thread, taken in turn: a late worker takes fewer), added in
        // group order.
        int workers = macs >= 1L << 18 && CpuParallel.MaxThreads > 1 ? Math.Min(CpuParallel.MaxThreads * ConvImplicit.FilterChunksPerThread, chunks) : 1;
        long uFloats = (long)xis * g.K * g.C;
        var partials = new nint[workers];
        var gg = g;
        nint xAddr = (nint)x, dyAddr = (nint)dy;
        try
        {
            CpuParallel.ForBlocks(workers, workers, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (start, end) =>
            {
                var segs = stackalloc Segment[ct + 2];
                for (int wk = start; wk < end; wk++)
                {
                    float* acc = (float*)CpuAllocator.Rent(uFloats * sizeof(float), zero: true);
                    partials[wk] = (nint)acc;
                    long vFloats = xis * XiStrideOf(gg.C, ct) + 64, dFloats = xis * XiStrideOf(gg.K, ct) + 64;
                    float* vBuf = (float*)CpuAllocator.Rent(vFloats * sizeof(float), zero: false);
                    float* dBuf = (float*)CpuAllocator.Rent(dFloats * sizeof(float), zero: false);
                    // Separate scratches: each keeps its own zero borders (the two copies have different pitches).
                    using var scratch = new Scratches(t);
                    using var gradScratch = new Scratches(t);
                    try
                    {
                        int c0 = (int)((long)chunks * wk / workers), c1 = (int)((long)chunks * (wk + 1) / workers);
                        for (int ch = c0; ch < c1; ch++)
                        {
                            long t0 = (long)ch * ct, t1 = Math.Min(tiles, t0 + ct);
                            int nb = (int)(t1 - t0), segCount = Segments(t0, t1, t.PerImage, segs);
                            var v = new PanelBuffer(vBuf, gg.C, ct);
                            var d = new PanelBuffer(dBuf, gg.K, ct);
                            if (nb % NR != 0)
                                for (int xi = 0; xi < xis; xi++)
                                {
                                    // Zero lanes past the last tile in the last panel (the dot products run over whole panels).
                                    new Span<float>(v.Panel(xi, nb), gg.C * NR).Clear();
                                    new Span<float>(d.Panel(xi, nb), gg.K * NR).Clear();
                                }
                            using (CpuProfiler.Op("Conv.WinogradInput"))
                                for (int si = 0; si < segCount; si++)
                                {
                                    float* image = (float*)xAddr + (long)segs[si].N * gg.C * gg.H * gg.W;
                                    for (int c = 0; c < gg.C; c++)
                                        scratch.Input(image + (long)c * gg.H * gg.W, gg, t, segs[si], c, v);
                                    float* grad = (float*)dyAddr + (long)segs[si].N * gg.K * gg.P * gg.Q;
                                    for (int k = 0; k < gg.K; k++)
                                        gradScratch.Gradient(grad + (long)k * gg.P * gg.Q, gg, t, segs[si], k, d);
                                }
                            using (CpuProfiler.Op("Conv.WinogradFilterDot"))
                                for (int xi = 0; xi < xis; xi++)
                                    FilterDots(d, v, xi, (nb + NR - 1) / NR, gg.K, gg.C, acc + xi * (long)gg.K * gg.C);
                        }
                    }
                    finally
                    {
                        CpuAllocator.Return(vBuf, vFloats * sizeof(float));
                        CpuAllocator.Return(dBuf, dFloats * sizeof(float));
                    }
                }
            });
            float* total = (float*)partials[0];
            CpuBackend.SumPartials(total, partials, uFloats);
            if (t.M == 4) InverseTransformFilter4(total, dw, g.K, g.C);
            else InverseTransformFilter(total, dw, g.K, g.C);
        }
        finally
        {
            foreach (nint p in partials)
                if (p != 0) CpuAllocator.Return((void*)p, uFloats * sizeof(float));
        }
    }

    // acc (K, C) += D_ξ (K, panels·32) · V_ξᵀ (panels·32, C), both as runs of 32-tile panels: 4×4 output blocks, 16 vector
    // accumulators over the tiles, summed across lanes at the end; edge rows/columns one output at a time.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void FilterDots(in PanelBuffer d, in PanelBuffer v, int xi, int panels, int k, int c, float* acc)
    {
        float* dXi = d.Base + xi * d.XiStride, vXi = v.Base + xi * v.XiStride;
        long dPanel = (long)k * NR, vPanel = (long)c * NR;
        float* sums = stackalloc float[16];
        int k4 = k / 4 * 4, c4 = c / 4 * 4;
        for (int k0 = 0; k0 < k4; k0 += 4)
            for (int c0 = 0; c0 < c4; c0 += 4)
            {
                Vector512<float> a00 = default, a01 = default, a02 = default, a03 = default;
                Vector512<float> a10 = default, a11 = default, a12 = default, a13 = default;
                Vector512<float> a20 = default, a21 = default, a22 = default, a23 = default;
                Vector512<float> a30 = default, a31 = default, a32 = default, a33 = default;
                float* dp = dXi + k0 * NR, vp = vXi + c0 * NR;
                for (int pi = 0; pi < panels; pi++, dp += dPanel, vp += vPanel)
                    for (int h = 0; h < NR; h += 16)
                    {
                        var d0 = Vector512.Load(dp + h); var d1 = Vector512.Load(dp + NR + h);
                        var d2 = Vector512.Load(dp + 2 * NR + h); var d3 = Vector512.Load(dp + 3 * NR + h);
                        var v0 = Vector512.Load(vp + h); var v1 = Vector512.Load(vp + NR + h);
                        var v2 = Vector512.Load(vp + 2 * NR + h); var v3 = Vector512.Load(vp + 3 * NR + h);
                        a00 = Vector512.FusedMultiplyAdd(d0, v0, a00); a01 = Vector512.FusedMultiplyAdd(d0, v1, a01);
                        a02 = Vector512.FusedMultiplyAdd(d0, v2, a02); a03 = Vector512.FusedMultiplyAdd(d0, v3, a03);
                        a10 = Vector512.FusedMultiplyAdd(d1, v0, a10); a11 = Vector512.FusedMultiplyAdd(d1, v1, a11);
                        a12 = Vector512.FusedMultiplyAdd(d1, v2, a12); a13 = Vector512.FusedMultiplyAdd(d1, v3, a13);
                        a20 = Vector512.FusedMultiplyAdd(d2, v0, a20); a21 = Vector512.FusedMultiplyAdd(d2, v1, a21);
                        a22 = Vector512.FusedMultiplyAdd(d2, v2, a22); a23 = Vector512.FusedMultiplyAdd(d2, v3, a23);
                        a30 = Vector512.FusedMultiplyAdd(d3, v0, a30); a31 = Vector512.FusedMultiplyAdd(d3, v1, a31);
                        a32 = Vector512.FusedMultiplyAdd(d3, v2, a32); a33 = Vector512.FusedMultiplyAdd(d3, v3, a33);
                    }
                SumLanes16(a00, a01, a02, a03, a10, a11, a12, a13, a20, a21, a22, a23, a30, a31, a32, a33).Store(sums);
                for (int i = 0; i < 4; i++)
                {
                    float* row = acc + (long)(k0 + i) * c + c0;
                    (Vector128.Load(row) + Vector128.Load(sums + 4 * i)).Store(row);
                }
            }
        // Edges: rows k4.. for all columns, columns c4.. for the first k4 rows.
        for (int kk = 0; kk < k; kk++)
            for (int cc = kk < k4 ? c4 : 0; cc < c; cc++)
            {
                var s = Vector512<float>.Zero;
                float* dp = dXi + kk * NR, vp = vXi + cc * NR;
                for (int pi = 0; pi < panels; pi++, dp += dPanel, vp += vPanel)
                    s = Vector512.FusedMultiplyAdd(Vector512.Load(dp), Vector512.Load(vp),
                        Vector512.FusedMultiplyAdd(Vector512.Load(dp + 16), Vector512.Load(vp + 16), s));
                acc[(long)kk * c + cc] += Vector512.Sum(s);
            }
    }

    // 16 vectors -> one whose lane i is the sum of vector i's lanes (a transpose-and-add tree: 8 + 4 + 2 + 1 pairs).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> SumLanes16(Vector512<float> x0, Vector512<float> x1, Vector512<float> x2, Vector512<float> x3,
        Vector512<float> x4, Vector512<float> x5, Vector512<float> x6, Vector512<float> x7,
        Vector512<float> x8, Vector512<float> x9, Vector512<float> x10, Vector512<float> x11,
        Vector512<float> x12, Vector512<float> x13, Vector512<float> x14, Vector512<float> x15)
    {
        // Stage 1: lanes 0..7 ← partial sums of a, 8..15 ← of b.
        var i1a = Vector512.Create(0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
        var i1b = Vector512.Create(8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
        var p0 = Pair(x0, x1, i1a, i1b); var p1 = Pair(x2, x3, i1a, i1b); var p2 = Pair(x4, x5, i1a, i1b); var p3 = Pair(x6, x7, i1a, i1b);
        var p4 = Pair(x8, x9, i1a, i1b); var p5 = Pair(x10, x11, i1a, i1b); var p6 = Pair(x12, x13, i1a, i1b); var p7 = Pair(x14, x15, i1a, i1b);
        // Stage 2: lanes 4m..4m+3 ← source m of 4.
        var i2a = Vector512.Create(0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27);
        var i2b = Vector512.Create(4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31);
        var q0 = Pair(p0, p1, i2a, i2b); var q1 = Pair(p2, p3, i2a, i2b); var q2 = Pair(p4, p5, i2a, i2b); var q3 = Pair(p6, p7, i2a, i2b);
        // Stage 3: lanes 2m, 2m+1 ← source m of 8.
        var i3a = Vector512.Create(0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29);
        var i3b = Vector512.Create(2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31);
        var r0 = Pair(q0, q1, i3a, i3b); var r1 = Pair(q2, q3, i3a, i3b);
        // Stage 4: lane m ← source m of 16.
        return Pair(r0, r1, EvenLanes, OddLanes);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Pair(Vector512<float> a, Vector512<float> b, Vector512<int> ia, Vector512<int> ib) =>
        Avx512F.PermuteVar16x32x2(a, ia, b) + Avx512F.PermuteVar16x32x2(a, ib, b);

    // dU (16, K, C) -> dw (K, C, 3, 3) = Gᵀ dU G per (k, c); Gᵀ = [1 ½ ½ 0; 0 ½ −½ 0; 0 ½ ½ 1].
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void InverseTransformFilter(float* du, float* dw, int k, int c)
    {
        long xi = (long)k * c;
        float* tr = stackalloc float[12]; // Gᵀ dU: 3 × 4
        for (long kc = 0; kc < xi; kc++)
        {
            float* u = du + kc;
            for (int j = 0; j < 4; j++)
            {
                float u0 = u[j * xi], u1 = u[(4 + j) * xi], u2 = u[(8 + j) * xi], u3 = u[(12 + j) * xi];
                float sum = 0.5f * (u1 + u2);
                tr[j] = u0 + sum;
                tr[4 + j] = 0.5f * (u1 - u2);
                tr[8 + j] = sum + u3;
            }
            float* o = dw + kc * 9;
            for (int r = 0; r < 3; r++)
            {
                float t0 = tr[r * 4], t1 = tr[r * 4 + 1], t2 = tr[r * 4 + 2], t3 = tr[r * 4 + 3];
                float sum = 0.5f * (t1 + t2);
                o[r * 3] = t0 + sum;
                o[r * 3 + 1] = 0.5f * (t1 - t2);
                o[r * 3 + 2] = sum + t3;
            }
        }
    }
}
