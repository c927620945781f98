// ConvWinograd.Tile4: the transforms of Winograd F(4×4, 3×3): 6×6 input tiles for 4×4 outputs, 36 GEMMs of 4× fewer
// multiply-adds than the direct convolution (F(2×2, 3×3): 2.25×). The drivers in ConvWinograd.cs run both tile sizes.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using SeFramework.Backends;

namespace SeFramework.Cpu;

/// <summary>
/// F(4×4, 3×3) with the interpolation points 0, ±1, ±2 (Lavin and Gray 2016):
/// Bᵀ = [4 0 −5 0 1 0; 0 −4 −4 1 1 0; 0 4 −4 −1 1 0; 0 −2 −1 2 1 0; 0 2 −1 −2 1 0; 0 4 0 −5 0 1],
/// G = [¼ 0 0; −⅙ −⅙ −⅙; −⅙ ⅙ −⅙; 1/24 1/12 ⅙; 1/24 −1/12 ⅙; 0 0 1], Aᵀ = [1 1 1 1 1 0; 0 1 −1 2 −2 0; 0 1 1 4 4 0; 0 1 −1 8 −8 1].
/// Tile (ty, tx) reads padded rows 4ty .. 4ty + 5 and columns 4tx .. 4tx + 5. The transforms follow the F(2×2) ones with
/// stride 4 instead of 2: the padded plane is split by row mod 4, the column pass runs over whole planes, each result is
/// split by column mod 4, and a tile's six columns are phases 0..3 at m = f + ty and phases 0, 1 at m + 1.
/// </summary>
internal static unsafe partial class ConvWinograd
{
    // Bᵀ applied to six vectors (rows or columns of a 6×6 tile) -> six.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void InputTransform6(Vector512<float> d0, Vector512<float> d1, Vector512<float> d2, Vector512<float> d3,
        Vector512<float> d4, Vector512<float> d5, float* dst, long stride)
    {
        var four = Vector512.Create(4f);
        var two = Vector512.Create(2f);
        var five = Vector512.Create(5f);
        // 4d0 − 5d2 + d4; −4(d1 + d2) + d3 + d4; 4(d1 − d2) − d3 + d4; −2(d1 − d3) − d2 + d4; 2(d1 − d3) − d2 + d4; 4d1 − 5d3 + d5
        var s12 = d1 + d2; var t12 = d1 - d2; var t13 = d1 - d3; var d4m2 = d4 - d2; var d34 = d3 + d4;
        Vector512.FusedMultiplyAdd(d0, four, Vector512.FusedMultiplyAdd(d2, -five, d4)).Store(dst);
        Vector512.FusedMultiplyAdd(s12, -four, d34).Store(dst + stride);
        Vector512.FusedMultiplyAdd(t12, four, d4 - d3).Store(dst + 2 * stride);
        Vector512.FusedMultiplyAdd(t13, -two, d4m2).Store(dst + 3 * stride);
        Vector512.FusedMultiplyAdd(t13, two, d4m2).Store(dst + 4 * stride);
        Vector512.FusedMultiplyAdd(d1, four, Vector512.FusedMultiplyAdd(d3, -five, d5)).Store(dst + 5 * stride);
    }

    /// <summary>Per-thread scratch of the F(4×4) transforms of one image plane: the zero-padded plane split by row mod 4
    /// (4 planes of (TY + 2) rows of Pitch = 4·TX + 4), 6 column-transformed arrays, each split into 4 column phases, and the
    /// staging of a partial group (36 ξ × 16 lanes). Borders are written zero once (see Scratch).</summary>
    private sealed class Scratch4 : IDisposable
    {
        public readonly float* Pad, Cols, Phases, Staging;
        public readonly int Pitch, PadPlane, ColsStride, PhaseStride;
        private readonly long _floats;

        public Scratch4(in Tiling t)
        {
            Pitch = 4 * t.TX + 4;
            PadPlane = (t.TY + 2) * Pitch + 32;
            ColsStride = (t.TY + 1) * Pitch + 128;
            PhaseStride = ColsStride / 4 + 48;
            _floats = 4L * PadPlane + 6L * ColsStride + 24L * PhaseStride + 36 * 16;
            Pad = (float*)CpuAllocator.Rent(_floats * sizeof(float), zero: true);
            Cols = Pad + 4 * PadPlane;
            Phases = Cols + 6 * ColsStride;
            Staging = Phases + 24 * PhaseStride;
        }

        public void Dispose() => CpuAllocator.Return(Pad, _floats * sizeof(float));
    }

    // src (count floats) -> phase q (q = 0..3) of src: dst[q·stride + i] = src[4i + q], i < count / 4 (whole vectors).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void SplitPhases4(float* src, int count, float* dst, int stride)
    {
        for (int i = 0; 4 * i < count; i += 16)
        {
            float* s = src + 4 * i;
            var v0 = Vector512.Load(s); var v1 = Vector512.Load(s + 16); var v2 = Vector512.Load(s + 32); var v3 = Vector512.Load(s + 48);
            var e01 = Avx512F.PermuteVar16x32x2(v0, EvenLanes, v1); var o01 = Avx512F.PermuteVar16x32x2(v0, OddLanes, v1);
            var e23 = Avx512F.PermuteVar16x32x2(v2, EvenLanes, v3); var o23 = Avx512F.PermuteVar16x32x2(v2, OddLanes, v3);
            Avx512F.PermuteVar16x32x2(e01, EvenLanes, e23).Store(dst + i);
            Avx512F.PermuteVar16x32x2(o01, EvenLanes, o23).Store(dst + stride + i);
            Avx512F.PermuteVar16x32x2(e01, OddLanes, e23).Store(dst + 2 * stride + i);
            Avx512F.PermuteVar16x32x2(o01, OddLanes, o23).Store(dst + 3 * stride + i);
        }
    }

    // w: (K, C, 3, 3) -> u: (36, K, C), u[ξ = 6i + j, k, c] = (G w[k, c] Gᵀ)[i, j]; vectorised over 16 c at a time.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void TransformWeights4(float* w, float* u, int k0, int k1, int kTotal, int c)
    {
        long xi = (long)kTotal * c;
        var g = stackalloc Vector512<float>[9];
        var t = stackalloc Vector512<float>[18];
        var row = stackalloc Vector512<float>[6];
        float* tmp = stackalloc float[16];
        for (int k = k0; k < k1; k++)
            for (int c0 = 0; c0 < c; c0 += 16)
            {
                int lanes = Math.Min(16, c - c0);
                float* src = w + ((long)k * c + c0) * 9;
                GatherTaps(src, lanes, g, tmp);
                // t = G g (6×3), per column s.
                for (int s = 0; s < 3; s++)
                    FilterTransform6(g[s], g[3 + s], g[6 + s], t + s, 3);
                // u = t Gᵀ (6×6), per row i.
                for (int i = 0; i < 6; i++)
                {
                    FilterTransform6(t[3 * i], t[3 * i + 1], t[3 * i + 2], row, 1);
                    for (int j = 0; j < 6; j++) Store(row[j], u + (6 * i + j) * xi + (long)k * c + c0, lanes);
                }
            }
    }

    // G applied to three vectors -> six at dst[0], dst[stride], …: g0/4; −(g0 + g1 + g2)/6; −(g0 − g1 + g2)/6;
    // g0/24 + g1/12 + g2/6; g0/24 − g1/12 + g2/6; g2.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void FilterTransform6(Vector512<float> g0, Vector512<float> g1, Vector512<float> g2, Vector512<float>* dst, int stride)
    {
        var sixth = Vector512.Create(1f / 6);
        var twelfth = Vector512.Create(1f / 12);
        var twentyFourth = Vector512.Create(1f / 24);
        var g02 = g0 + g2;
        var a = g0 * twentyFourth + g2 * sixth;
        var b = g1 * twelfth;
        dst[0] = g0 * Vector512.Create(0.25f);
        dst[stride] = -(g02 + g1) * sixth;
        dst[2 * stride] = -(g02 - g1) * sixth;
        dst[3 * stride] = a + b;
        dst[4 * stride] = a - b;
        dst[5 * stride] = g2;
    }

    // One input plane x_c (H, W) -> V = Bᵀ d B of tiles [seg.First, seg.End) of its image (36 ξ), row c of the block buffer.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void TransformInput4(float* plane, in Conv2dGeometry g, in Tiling t, in Segment seg, int c, in PanelBuffer v, Scratch4 s)
    {
        int tx = t.TX, ty0 = seg.First / tx, ty1 = (seg.End - 1) / tx, pitch = s.Pitch;
        int h0 = Math.Max(0, 4 * ty0 - g.Padding), h1 = Math.Min(g.H, 4 * ty1 + 6 - g.Padding);
        CopyRowsByPhase(plane, g.W, h0, h1, g.Padding, 4, s.Pad, s.PadPlane, pitch);
        // Column pass over lanes L = (ty − ty0)·pitch + w: rows 4ty + i are plane i mod 4, row ty + i / 4.
        int lanes = (ty1 - ty0 + 1) * pitch;
        float* p0 = s.Pad + ty0 * pitch;
        long pp = s.PadPlane;
        int cs = s.ColsStride;
        for (int l = 0; l < lanes; l += 16)
        {
            float* p = p0 + l;
            InputTransform6(Vector512.Load(p), Vector512.Load(p + pp), Vector512.Load(p + 2 * pp), Vector512.Load(p + 3 * pp),
                Vector512.Load(p + pitch), Vector512.Load(p + pp + pitch), s.Cols + l, cs);
        }
        int ps = s.PhaseStride;
        for (int i = 0; i < 6; i++) SplitPhases4(s.Cols + i * cs, lanes, s.Phases + 4 * i * ps, ps);
        int mBase = ty0 * (tx + 1);
        for (int f = seg.First; f < seg.End; f += 16)
        {
            int count = Math.Min(16, seg.End - f), u = seg.Pos + f - seg.First;
            var idx = GroupPairIndex(f, tx, mBase, out int off);
            var idx1 = idx + Vector512<int>.One;
            bool direct = v.Target(c, u, count, s.Staging, out float* dst, out long ds);
            for (int i = 0; i < 6; i++)
            {
                float* ph = s.Phases + 4 * i * ps + off;
                var q0Lo = Vector512.Load(ph); var q0Hi = Vector512.Load(ph + 16);
                var q1Lo = Vector512.Load(ph + ps); var q1Hi = Vector512.Load(ph + ps + 16);
                var q2Lo = Vector512.Load(ph + 2 * ps); var q2Hi = Vector512.Load(ph + 2 * ps + 16);
                var q3Lo = Vector512.Load(ph + 3 * ps); var q3Hi = Vector512.Load(ph + 3 * ps + 16);
                InputTransform6(
                    Avx512F.PermuteVar16x32x2(q0Lo, idx, q0Hi), Avx512F.PermuteVar16x32x2(q1Lo, idx, q1Hi),
                    Avx512F.PermuteVar16x32x2(q2Lo, idx, q2Hi), Avx512F.PermuteVar16x32x2(q3Lo, idx, q3Hi),
                    Avx512F.PermuteVar16x32x2(q0Lo, idx1, q0Hi), Avx512F.PermuteVar16x32x2(q1Lo, idx1, q1Hi),
                    dst + 6 * i * ds, ds);
            }
            if (!direct) v.Scatter(s.Staging, c, u, count, 36);
        }
    }

    // Aᵀ's row combinations of six vectors -> four: m0 + m1 + m2 + m3 + m4; m1 − m2 + 2(m3 − m4); m1 + m2 + 4(m3 + m4);
    // m1 − m2 + 8(m3 − m4) + m5.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void OutputTransform6(Vector512<float> m0, Vector512<float> m1, Vector512<float> m2, Vector512<float> m3,
        Vector512<float> m4, Vector512<float> m5, out Vector512<float> y0, out Vector512<float> y1, out Vector512<float> y2, out Vector512<float> y3)
    {
        var s12 = m1 + m2; var d12 = m1 - m2; var s34 = m3 + m4; var d34 = m3 - m4;
        y0 = m0 + s12 + s34;
        y1 = Vector512.FusedMultiplyAdd(d34, Vector512.Create(2f), d12);
        y2 = Vector512.FusedMultiplyAdd(s34, Vector512.Create(4f), s12);
        y3 = Vector512.FusedMultiplyAdd(d34, Vector512.Create(8f), d12) + m5;
    }

    // M (36, K, tb) of one block -> y tiles of segment seg: per output channel k and 16 tiles, Y = Aᵀ M A (4×4 per tile),
    // the epilogue, then each tile row's four outputs interleaved into y (clipped at P and Q).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void TransformOutput4(float* mBuf, int tb, in Segment seg, float* y, in Conv2dGeometry g, in Tiling t, ConvImplicit.Epilogue epi)
    {
        long xiStride = XiStrideOf(g.K, tb), pq = (long)g.P * g.Q;
        float* z = stackalloc float[4 * 64];
        var col = stackalloc Vector512<float>[24]; // (Aᵀ M)[a, j] at col[4j + a]
        int groups = (seg.End - seg.First + 15) / 16;
        int* firstRow = stackalloc int[groups], firstCol = stackalloc int[groups];
        GroupStarts(seg, t.TX, firstRow, firstCol);
        bool rowsFit = (t.TX == 4 || t.TX == 8 || t.TX == 16) && g.Q == 4 * t.TX;
        long q1Off = rowsFit ? QuarterOffset(1, t.TX, g.Q) : 0, q2Off = rowsFit ? QuarterOffset(2, t.TX, g.Q) : 0;
        long q3Off = rowsFit ? QuarterOffset(3, t.TX, g.Q) : 0;
        for (int k = 0; k < g.K; k++)
        {
            float* yk = y + ((long)seg.N * g.K + k) * pq;
            var scale = epi.ScaleOf(k);
            var shift = epi.ShiftOf(k);
            for (int f = seg.First, gi = 0; f < seg.End; f += 16, gi++)
            {
                int count = Math.Min(16, seg.End - f);
                // Whole tile rows of an image with no overhang (TX = 4, 8 or 16, Q = 4·TX, the rows inside P): the
                // interleaved quarters go straight to y.
                bool wholeRows = count == 16 && rowsFit && firstCol[gi] == 0 && 4 * (firstRow[gi] + 16 / t.TX) <= g.P;
                float* m = mBuf + (long)k * tb + seg.Pos + f - seg.First;
                for (int j = 0; j < 6; j++)
                    OutputTransform6(Vector512.Load(m + j * xiStride), Vector512.Load(m + (6 + j) * xiStride),
                        Vector512.Load(m + (12 + j) * xiStride), Vector512.Load(m + (18 + j) * xiStride),
                        Vector512.Load(m + (24 + j) * xiStride), Vector512.Load(m + (30 + j) * xiStride),
                        out col[4 * j], out col[4 * j + 1], out col[4 * j + 2], out col[4 * j + 3]);
                for (int a = 0; a < 4; a++)
                {
                    OutputTransform6(col[a], col[4 + a], col[8 + a], col[12 + a], col[16 + a], col[20 + a],
                        out var r0, out var r1, out var r2, out var r3);
                    var y0 = epi.On(r0, scale, shift); var y1 = epi.On(r1, scale, shift);
                    var y2 = epi.On(r2, scale, shift); var y3 = epi.On(r3, scale, shift);
                    // Output row a of the 16 tiles: lane l's four outputs at z[64a + 4l ..]: two rounds of 2-way interleaving.
                    var lo02 = Avx512F.PermuteVar16x32x2(y0, InterleaveLow, y2); var hi02 = Avx512F.PermuteVar16x32x2(y0, InterleaveHigh, y2);
                    var lo13 = Avx512F.PermuteVar16x32x2(y1, InterleaveLow, y3); var hi13 = Avx512F.PermuteVar16x32x2(y1, InterleaveHigh, y3);
                    var q0 = Avx512F.PermuteVar16x32x2(lo02, InterleaveLow, lo13);
                    var q1 = Avx512F.PermuteVar16x32x2(lo02, InterleaveHigh, lo13);
                    var q2 = Avx512F.PermuteVar16x32x2(hi02, InterleaveLow, hi13);
                    var q3 = Avx512F.PermuteVar16x32x2(hi02, InterleaveHigh, hi13);
                    if (wholeRows)
                    {
                        // Tiles 4j .. 4j + 3 of the group are tile row ty + 4j / TX, columns 16·(j mod TX/4) ..: each
                        // quarter is 16 consecutive floats of one output row.
                        int ty = firstRow[gi];
                        float* row = yk + (long)(4 * ty + a) * g.Q;
                        q0.Store(row);
                        q1.Store(row + q1Off);
                        q2.Store(row + q2Off);
                        q3.Store(row + q3Off);
                        continue;
                    }
                    float* za = z + 64 * a;
                    q0.Store(za);
                    q1.Store(za + 16);
                    q2.Store(za + 32);
                    q3.Store(za + 48);
                }
                if (wholeRows) continue;
                // Lanes in runs of one tile row: lane l of the run is tile (ty, tx0 + l), output columns 4(tx0 + l) .. + 3.
                for (int l = 0, ty = firstRow[gi], tx0 = firstCol[gi]; l < count; ty++, tx0 = 0)
                {
                    int run = Math.Min(t.TX - tx0, count - l);
                    int c0 = 4 * tx0, len = Math.Min(4 * run, g.Q - c0);
                    for (int a = 0; a < 4 && 4 * ty + a < g.P; a++)
                        CopyFloats(z + 64 * a + 4 * l, yk + (long)(4 * ty + a) * g.Q + c0, len);
                    l += run;
                }
            }
        }
    }

    // Where quarter j (tiles 4j .. 4j + 3) of a group of 16 whole tile rows starts, from the start of the group's first
    // output row: tile row 4j / TX further down (4 output rows of Q each), column 16·(j mod TX/4).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static long QuarterOffset(int j, int tx, int q) => (long)(4 * j / tx) * 4 * q + 16 * (j % (tx / 4));

    // A applied to four vectors (a dY tile's rows or columns) -> six: g0; g0 + g1 + g2 + g3; g0 − g1 + g2 − g3;
    // g0 + 2g1 + 4g2 + 8g3; g0 − 2g1 + 4g2 − 8g3; g3.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void GradientTransform6(Vector512<float> g0, Vector512<float> g1, Vector512<float> g2, Vector512<float> g3, float* dst, long stride)
    {
        var s02 = g0 + g2; var s13 = g1 + g3;
        var e = Vector512.FusedMultiplyAdd(g2, Vector512.Create(4f), g0);
        var o = Vector512.FusedMultiplyAdd(g3, Vector512.Create(8f), g1 + g1);
        g0.Store(dst);
        (s02 + s13).Store(dst + stride);
        (s02 - s13).Store(dst + 2 * stride);
        (e + o).Store(dst + 3 * stride);
        (e - o).Store(dst + 4 * stride);
        g3.Store(dst + 5 * stride);
    }

    // One output-gradient plane dy_k (P, Q) -> A dY Aᵀ of tiles [seg.First, seg.End) of its image (dY the tile's 4×4
    // gradients, zero past the output), row k of the block buffer. Rows split by row mod 4 (pitch 4·TX), column pass, split
    // by column mod 4 (indexed by the tile f itself: tiles do not overlap), row pass.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void TransformGradient4(float* plane, in Conv2dGeometry g, in Tiling t, in Segment seg, int k, in PanelBuffer d, Scratch4 s)
    {
        int tx = t.TX, ty0 = seg.First / tx, ty1 = (seg.End - 1) / tx, pitch = 4 * tx;
        CopyRowsByPhase(plane, g.Q, 4 * ty0, Math.Min(g.P, 4 * ty1 + 4), 0, 4, s.Pad, s.PadPlane, pitch);
        int lanes = (ty1 - ty0 + 1) * pitch;
        float* p0 = s.Pad + ty0 * pitch;
        long pp = s.PadPlane;
        int cs = s.ColsStride;
        for (int l = 0; l < lanes; l += 16)
        {
            float* p = p0 + l;
            GradientTransform6(Vector512.Load(p), Vector512.Load(p + pp), Vector512.Load(p + 2 * pp), Vector512.Load(p + 3 * pp), s.Cols + l, cs);
        }
        int ps = s.PhaseStride;
        for (int i = 0; i < 6; i++) SplitPhases4(s.Cols + i * cs, lanes, s.Phases + 4 * i * ps, ps);
        int fBase = ty0 * tx;
        for (int f = seg.First; f < seg.End; f += 16)
        {
            int count = Math.Min(16, seg.End - f), u = seg.Pos + f - seg.First;
            bool direct = d.Target(k, u, count, s.Staging, out float* dst, out long ds);
            for (int i = 0; i < 6; i++)
            {
                float* ph = s.Phases + 4 * i * ps + f - fBase;
                GradientTransform6(Vector512.Load(ph), Vector512.Load(ph + ps), Vector512.Load(ph + 2 * ps), Vector512.Load(ph + 3 * ps),
                    dst + 6 * i * ds, ds);
            }
            if (!direct) d.Scatter(s.Staging, k, u, count, 36);
        }
    }

    // dU (36, K, C) -> dw (K, C, 3, 3) = Gᵀ dU G per (k, c): Gᵀ's rows ¼ d0 − ⅙(d1 + d2) + (d3 + d4)/24;
    // ⅙(d2 − d1) + (d3 − d4)/12; −⅙(d1 + d2) + ⅙(d3 + d4) + d5.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void InverseTransformFilter4(float* du, float* dw, int k, int c)
    {
        long xi = (long)k * c;
        float* tr = stackalloc float[18]; // Gᵀ dU: 3 × 6
        for (long kc = 0; kc < xi; kc++)
        {
            float* u = du + kc;
            for (int j = 0; j < 6; j++)
            {
                float d0 = u[j * xi], d1 = u[(6 + j) * xi], d2 = u[(12 + j) * xi], d3 = u[(18 + j) * xi], d4 = u[(24 + j) * xi], d5 = u[(30 + j) * xi];
                var (r0, r1, r2) = FilterGradient6(d0, d1, d2, d3, d4, d5);
                tr[j] = r0;
                tr[6 + j] = r1;
                tr[12 + j] = r2;
            }
            float* o = dw + kc * 9;
            for (int r = 0; r < 3; r++)
            {
                float* row = tr + 6 * r;
                (o[3 * r], o[3 * r + 1], o[3 * r + 2]) = FilterGradient6(row[0], row[1], row[2], row[3], row[4], row[5]);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (float, float, float) FilterGradient6(float d0, float d1, float d2, float d3, float d4, float d5)
    {
        float s12 = d1 + d2, s34 = d3 + d4;
        return (0.25f * d0 - s12 / 6 + s34 / 24, (d2 - d1) / 6 + (d3 - d4) / 12, (s34 - s12) / 6 + d5);
    }
}
