// CPU kernels for pooling, global average pooling, batch norm and Axpy (the SE scale + residual sum, optionally fused
// with the ReLU after it). Each works plane by plane (one (n, c) image channel) or channel by channel, in parallel
// when the work is large, with Vector512 passes from SimdKernels.cs; ReferenceNn.cs holds the plain loops they are
// tested against.
using System.Buffers;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using SeFramework.Backends;

namespace SeFramework.Cpu;

internal sealed unsafe partial class CpuBackend
{
    // ---- pooling ----

    public void Pool2dForward(PoolMode mode, Tensor x, Tensor y, in Pool2dGeometry g)
    {
        using var _profile = CpuProfiler.Op(CpuProfiler.Enabled ? "Pool2dForward." + mode : null);
        if (x.DType == DType.Float32) PoolForward<float>(mode, (nint)x.Pointer<float>(), (nint)y.Pointer<float>(), g);
        else PoolForward<double>(mode, (nint)x.Pointer<double>(), (nint)y.Pointer<double>(), g);
    }

    public void Pool2dBackward(PoolMode mode, Tensor x, Tensor y, Tensor dy, Tensor dx, in Pool2dGeometry g)
    {
        using var _profile = CpuProfiler.Op(CpuProfiler.Enabled ? "Pool2dBackward." + mode : null);
        if (x.DType == DType.Float32) PoolBackward<float>(mode, (nint)x.Pointer<float>(), (nint)dy.Pointer<float>(), (nint)dx.Pointer<float>(), g);
        else PoolBackward<double>(mode, (nint)x.Pointer<double>(), (nint)dy.Pointer<double>(), (nint)dx.Pointer<double>(), g);
    }

    /// <summary>Clipped window bounds per output row and column (windows are separable), and the PyTorch padded length
    /// of each for the include-pad average divisor.</summary>
    private sealed class PoolWindows
    {
        public readonly int[] H0, H1, HPad, W0, W1, WPad;

        public PoolWindows(in Pool2dGeometry g)
        {
            (H0, H1, HPad) = Axis(g.P, g.H, g);
            (W0, W1, WPad) = Axis(g.Q, g.W, g);
        }

        private static (int[], int[], int[]) Axis(int outputs, int n, in Pool2dGeometry g)
        {
            var s = new int[outputs];
            var e = new int[outputs];
            var padded = new int[outputs];
            for (int o = 0; o < outputs; o++) (s[o], e[o], padded[o]) = Pool2dGeometry.Window(o, n, g.Kernel, g.Stride, g.Padding);
            return (s, e, padded);
        }

        public int Divisor(PoolMode mode, int p, int q) => mode == PoolMode.AverageIncludePad
            ? HPad[p] * WPad[q]
            : (H1[p] - H0[p]) * (W1[q] - W0[q]);
    }

    // x: (N, C, H, W) -> y: (N, C, P, Q). Average modes here; Max in MaxPoolForward.
    private static void PoolForward<T>(PoolMode mode, nint xAddr, nint yAddr, Pool2dGeometry g) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (mode == PoolMode.Max)
        {
            MaxPoolForward<T>(xAddr, yAddr, g);
            return;
        }
        var win = new PoolWindows(g);
        long hw = (long)g.H * g.W, pq = (long)g.P * g.Q;
        ForEachItem(g.N * g.C, pq * g.Kernel * g.Kernel, plane =>
        {
            T* x = (T*)xAddr + plane * hw;
            T* y = (T*)yAddr + plane * pq;
            for (int p = 0; p < g.P; p++)
                for (int q = 0; q < g.Q; q++)
                {
                    int h0 = win.H0[p], h1 = win.H1[p], w0 = win.W0[q], w1 = win.W1[q];
                    T sum = T.Zero;
                    for (int ih = h0; ih < h1; ih++)
                        for (int iw = w0; iw < w1; iw++) sum += x[ih * g.W + iw];
                    y[p * g.Q + q] = h1 <= h0 || w1 <= w0 ? T.Zero : sum / T.CreateTruncating(win.Divisor(mode, p, q));
                }
        });
    }

    // dy: (N, C, P, Q) -> dx: (N, C, H, W). Average modes here; Max in MaxPoolBackward.
    private static void PoolBackward<T>(PoolMode mode, nint xAddr, nint dyAddr, nint dxAddr, Pool2dGeometry g) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (mode == PoolMode.Max)
        {
            MaxPoolBackward<T>(xAddr, dyAddr, dxAddr, g);
            return;
        }
        var win = new PoolWindows(g);
        long hw = (long)g.H * g.W, pq = (long)g.P * g.Q;
        ForEachItem(g.N * g.C, pq * g.Kernel * g.Kernel, plane =>
        {
            T* dy = (T*)dyAddr + plane * pq;
            T* dx = (T*)dxAddr + plane * hw;
            new Span<T>(dx, checked((int)hw)).Clear();
            for (int p = 0; p < g.P; p++)
                for (int q = 0; q < g.Q; q++)
                {
                    int h0 = win.H0[p], h1 = win.H1[p], w0 = win.W0[q], w1 = win.W1[q];
                    if (h1 <= h0 || w1 <= w0) continue;
                    T share = dy[p * g.Q + q] / T.CreateTruncating(win.Divisor(mode, p, q));
                    for (int ih = h0; ih < h1; ih++)
                        for (int iw = w0; iw < w1; iw++) dx[ih * g.W + iw] += share;
                }
        });
    }

    // Max pooling with the window bounds and sizes in locals (the JIT keeps them in registers) and one plane per item.
    // Same scan order and NaN rule as ReferenceNn.Pool2dForward: the first maximum (or first NaN) of each window wins.
    // x: (N, C, H, W) -> y: (N, C, P, Q)
    private static void MaxPoolForward<T>(nint xAddr, nint yAddr, Pool2dGeometry g) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float) && MaxPoolFastApplies(g))
        {
            MaxPoolFast((float*)xAddr, (float*)yAddr, null, null, g);
            return;
        }
        MaxPoolForwardGeneric<T>(xAddr, yAddr, g);
    }

    // The generic max-pool forward (any dtype, kernel, stride): the scalar loop the fast path falls back to.
    // x: (N, C, H, W) -> y: (N, C, P, Q)
    internal static void MaxPoolForwardGeneric<T>(nint xAddr, nint yAddr, Pool2dGeometry g) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var win = new PoolWindows(g);
        int[] h0s = win.H0, h1s = win.H1, w0s = win.W0, w1s = win.W1;
        int width = g.W, pOut = g.P, qOut = g.Q;
        long hw = (long)g.H * g.W, pq = (long)g.P * g.Q;
        ForEachItem(g.N * g.C, pq * g.Kernel * g.Kernel, plane =>
        {
            T* x = (T*)xAddr + plane * hw;
            T* y = (T*)yAddr + plane * pq;
            for (int p = 0; p < pOut; p++)
            {
                int h0 = h0s[p], h1 = h1s[p];
                for (int q = 0; q < qOut; q++)
                {
                    int w0 = w0s[q], w1 = w1s[q];
                    T v = T.NegativeInfinity;
                    bool first = true;
                    for (int ih = h0; ih < h1; ih++)
                    {
                        T* row = x + ih * width;
                        for (int iw = w0; iw < w1; iw++)
                        {
                            T c = row[iw];
                            if (first || c > v || (T.IsNaN(c) && !T.IsNaN(v))) v = c;
                            first = false;
                        }
                    }
                    y[p * qOut + q] = v;
                }
            }
        });
    }

    // dy: (N, C, P, Q) -> dx: (N, C, H, W); each window's gradient goes to its first maximum (recomputed from x, so no
    // index tensor is kept between forward and backward).
    private static void MaxPoolBackward<T>(nint xAddr, nint dyAddr, nint dxAddr, Pool2dGeometry g) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float) && MaxPoolFastApplies(g))
        {
            MaxPoolFast((float*)xAddr, null, (float*)dyAddr, (float*)dxAddr, g);
            return;
        }
        MaxPoolBackwardGeneric<T>(xAddr, dyAddr, dxAddr, g);
    }

    // The generic max-pool backward (any dtype, kernel, stride): the scalar loop the fast path falls back to.
    // dy: (N, C, P, Q) -> dx: (N, C, H, W)
    internal static void MaxPoolBackwardGeneric<T>(nint xAddr, nint dyAddr, nint dxAddr, Pool2dGeometry g) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var win = new PoolWindows(g);
        int[] h0s = win.H0, h1s = win.H1, w0s = win.W0, w1s = win.W1;
        int width = g.W, pOut = g.P, qOut = g.Q;
        long hw = (long)g.H * g.W, pq = (long)g.P * g.Q;
        ForEachItem(g.N * g.C, pq * g.Kernel * g.Kernel, plane =>
        {
            T* x = (T*)xAddr + plane * hw;
            T* dy = (T*)dyAddr + plane * pq;
            T* dx = (T*)dxAddr + plane * hw;
            new Span<T>(dx, checked((int)hw)).Clear();
            for (int p = 0; p < pOut; p++)
            {
                int h0 = h0s[p], h1 = h1s[p];
                for (int q = 0; q < qOut; q++)
                {
                    int w0 = w0s[q], w1 = w1s[q];
                    int best = -1;
                    T v = T.NegativeInfinity;
                    for (int ih = h0; ih < h1; ih++)
                    {
                        T* row = x + ih * width;
                        for (int iw = w0; iw < w1; iw++)
                        {
                            T c = row[iw];
                            if (best < 0 || c > v || (T.IsNaN(c) && !T.IsNaN(v)))
                            {
                                v = c;
                                best = ih * width + iw;
                            }
                        }
                    }
                    if (best >= 0) dx[best] += dy[p * qOut + q];
                }
            }
        });
    }

    // ---- max pooling, float32 Vector512 path ----
    // Per plane, two passes. Row pass: each input row h is reduced over every output column's window into
    // (rowMax[h, q], rowArg[h, q] = winning column). Column pass: output row p reduces rowMax over its window rows in
    // order. Both keep the first maximum under the reference's rule (a NaN beats any number, the first NaN stays; ties
    // keep the earlier cell), which is a "first best under a total preorder", so reducing each row and then the rows in
    // order yields exactly the reference's first maximum in row-major scan order: same value bits (NaN payloads, ±0
    // included) and the same argmax cell. Backward recomputes that argmax and adds dy to it in (p, q) order, as the
    // reference does. Interior columns (window inside the row, loads inside the row) go 16 outputs per Vector512;
    // clipped edge columns and the tail use the scalar rule.

    /// <summary>Whether the float32 Vector512 max-pool path handles geometry g (stride 1 or 2, AVX-512 present, planes
    /// of sane size); other strides and float64 take the generic loops.</summary>
    internal static bool MaxPoolFastApplies(in Pool2dGeometry g) =>
        Avx512F.IsSupported && (g.Stride == 1 || g.Stride == 2) && g.Kernel >= 1 && g.P > 0 && g.Q > 0
        && (long)g.H * ((g.Q + 15) & ~15) <= 1 << 26; // the per-thread row buffers stay under 256 MiB

    // Forward when y != null (x: (N, C, H, W) -> y: (N, C, P, Q)); backward when dx != null (dy: (N, C, P, Q) ->
    // dx: (N, C, H, W), overwritten).
    internal static void MaxPoolFast(float* x, float* y, float* dy, float* dx, Pool2dGeometry g)
    {
        var win = new PoolWindows(g);
        int planes = g.N * g.C;
        int qp = (g.Q + 15) & ~15; // buffer row stride: whole vectors in the column pass
        // Columns [qLo, qHi) have their window inside the row and (stride 2) one spare element for the 32-wide loads.
        int qLo = Math.Min(g.Q, (g.Padding + g.Stride - 1) / g.Stride);
        int spare = g.Stride == 2 ? 1 : 0;
        long lastOk = (long)g.W - g.Kernel - spare + g.Padding; // q·S ≤ lastOk
        int qHi = lastOk < 0 ? 0 : (int)Math.Min(g.Q, lastOk / g.Stride + 1);
        if (qHi < qLo) qHi = qLo;
        bool backward = dx != null;
        nint xA = (nint)x, yA = (nint)y, dyA = (nint)dy, dxA = (nint)dx;
        Action<int, int> chunk = (start, end) =>
        {
            long bufferCells = (long)g.H * qp;
            float* rowMax = (float*)NativeMemory.AlignedAlloc((nuint)(bufferCells * sizeof(float) + 64), 64);
            int* rowArg = backward ? (int*)NativeMemory.AlignedAlloc((nuint)(bufferCells * sizeof(int) + 64), 64) : null;
            float* outRow = (float*)NativeMemory.AlignedAlloc((nuint)(qp * sizeof(float)), 64);
            int* argRow = (int*)NativeMemory.AlignedAlloc((nuint)(qp * sizeof(int)), 64);
            try
            {
                new Span<float>(rowMax, (int)bufferCells).Clear();
                if (backward) new Span<int>(rowArg, (int)bufferCells).Clear();
                for (int plane = start; plane < end; plane++)
                    MaxPoolFastPlane(plane, (float*)xA, (float*)yA, (float*)dyA, (float*)dxA, g, win, qp, qLo, qHi, rowMax, rowArg, outRow, argRow);
            }
            finally
            {
                NativeMemory.AlignedFree(rowMax);
                if (rowArg != null) NativeMemory.AlignedFree(rowArg);
                NativeMemory.AlignedFree(outRow);
                NativeMemory.AlignedFree(argRow);
            }
        };
        if (RunParallel(planes, (long)g.P * g.Q * g.Kernel * g.Kernel)) CpuParallel.For(planes, 1, chunk);
        else chunk(0, planes);
    }

    // One plane of MaxPoolFast. rowMax/rowArg: (H, qp) scratch; outRow/argRow: (qp) scratch.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MaxPoolFastPlane(int plane, float* xBase, float* yBase, float* dyBase, float* dxBase, in Pool2dGeometry g,
        PoolWindows win, int qp, int qLo, int qHi, float* rowMax, int* rowArg, float* outRow, int* argRow)
    {
        int width = g.W, k = g.Kernel, stride = g.Stride, pad = g.Padding;
        bool backward = dxBase != null;
        long hw = (long)g.H * g.W, pq = (long)g.P * g.Q;
        float* x = xBase + plane * hw;
        int[] w0s = win.W0, w1s = win.W1, h0s = win.H0, h1s = win.H1;
        var evens = Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        var lanes = Vector512.Create(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);

        // Row pass: rowMax[h, q] = first max of x[h, W0[q] .. W1[q]), rowArg[h, q] its column (-1 for an empty window).
        for (int h = 0; h < g.H; h++)
        {
            float* row = x + (long)h * width;
            float* rm = rowMax + (long)h * qp;
            int* ra = backward ? rowArg + (long)h * qp : null;
            int q = 0;
            for (; q < qLo; q++) MaxPoolScalarRow(row, w0s[q], w1s[q], rm, ra, q);
            for (; q < qHi; q += 16)
            {
                // The last block ends at qHi, overlapping the one before it (recomputing the same values); a range
                // narrower than one vector is left to the scalar loop.
                if (q + 16 > qHi)
                {
                    if (qHi - qLo < 16) break;
                    q = qHi - 16;
                }
                int c0 = q * stride - pad; // first column of output q's window
                Vector512<float> v;
                Vector512<int> colBase = backward ? (Vector512.Create(q) + lanes) * stride - Vector512.Create(pad) : default;
                Vector512<int> arg = colBase;
                v = MaxPoolLoad(row + c0, stride, evens);
                for (int j = 1; j < k; j++)
                {
                    Vector512<float> c = MaxPoolLoad(row + c0 + j, stride, evens);
                    Vector512<float> better = Vector512.GreaterThan(c, v) | (~Vector512.Equals(c, c) & Vector512.Equals(v, v));
                    v = Vector512.ConditionalSelect(better, c, v);
                    if (backward) arg = Vector512.ConditionalSelect(better.AsInt32(), colBase + Vector512.Create(j), arg);
                }
                v.Store(rm + q);
                if (backward) arg.Store(ra + q);
            }
            for (; q < g.Q; q++) MaxPoolScalarRow(row, w0s[q], w1s[q], rm, ra, q);
        }

        // Column pass: output row p takes the first best of its window rows, in order.
        for (int p = 0; p < g.P; p++)
        {
            int h0 = h0s[p], h1 = h1s[p];
            if (h1 <= h0)
            {
                new Span<float>(outRow, qp).Fill(float.NegativeInfinity);
                new Span<int>(argRow, qp).Fill(-1);
            }
            else
            {
                for (int q = 0; q < qp; q += 16)
                {
                    var v = Vector512.Load(rowMax + (long)h0 * qp + q);
                    var arg = backward ? Vector512.Load(rowArg + (long)h0 * qp + q) + Vector512.Create(h0 * width) : default;
                    for (int h = h0 + 1; h < h1; h++)
                    {
                        var c = Vector512.Load(rowMax + (long)h * qp + q);
                        Vector512<float> better = Vector512.GreaterThan(c, v) | (~Vector512.Equals(c, c) & Vector512.Equals(v, v));
                        v = Vector512.ConditionalSelect(better, c, v);
                        if (backward)
                            arg = Vector512.ConditionalSelect(better.AsInt32(), Vector512.Load(rowArg + (long)h * qp + q) + Vector512.Create(h * width), arg);
                    }
                    v.Store(outRow + q);
                    if (backward) arg.Store(argRow + q);
                }
                // Columns with an empty window (possible only off the edge): no cell, -inf, no gradient.
                for (int q = 0; q < g.Q; q++)
                    if (w1s[q] <= w0s[q])
                    {
                        outRow[q] = float.NegativeInfinity;
                        argRow[q] = -1;
                    }
            }
            if (!backward)
            {
                new ReadOnlySpan<float>(outRow, g.Q).CopyTo(new Span<float>(yBase + plane * pq + (long)p * g.Q, g.Q));
            }
            else
            {
                float* dx = dxBase + plane * hw;
                float* dy = dyBase + plane * pq + (long)p * g.Q;
                if (p == 0) new Span<float>(dx, checked((int)hw)).Clear();
                for (int q = 0; q < g.Q; q++)
                {
                    int a = argRow[q];
                    if (a >= 0) dx[a] += dy[q];
                }
            }
        }
    }

    // The 16 window cells at offset j of outputs q .. q+15 (stride 1: contiguous; stride 2: every other of 32).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> MaxPoolLoad(float* at, int stride, Vector512<int> evens) => stride == 1
        ? Vector512.Load(at)
        : Avx512F.PermuteVar16x32x2(Vector512.Load(at), evens, Vector512.Load(at + 16));

    // rowMax[q] (and rowArg[q] when not null) for one clipped window [w0, w1) of one row, by the scalar rule.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void MaxPoolScalarRow(float* row, int w0, int w1, float* rowMax, int* rowArg, int q)
    {
        float v = float.NegativeInfinity;
        int best = -1;
        for (int iw = w0; iw < w1; iw++)
        {
            float c = row[iw];
            if (best < 0 || c > v || (float.IsNaN(c) && !float.IsNaN(v)))
            {
                v = c;
                best = iw;
            }
        }
        rowMax[q] = v;
        if (rowArg != null) rowArg[q] = best;
    }

    // ---- global average pooling ----

    // x: (N, C, H, W) -> y: (N, C, 1, 1), each plane summed in double. Bandwidth-bound: `SeFramework.Bench --bandwidth`
    // measures it at ~100 % of a plain Vector512 read-sum over the same input once the JIT has tiered it up.
    public void GlobalAvgPool(Tensor x, Tensor y)
    {
        using var _profile = CpuProfiler.Op("GlobalAvgPool");
        int planes = x.Size(0) * x.Size(1), area = x.Size(2) * x.Size(3);
        if (x.DType == DType.Float32) GapForward<float>((nint)x.Pointer<float>(), (nint)y.Pointer<float>(), planes, area);
        else GapForward<double>((nint)x.Pointer<double>(), (nint)y.Pointer<double>(), planes, area);
    }

    private static void GapForward<T>(nint xAddr, nint yAddr, int planes, int area) where T : unmanaged, IFloatingPointIeee754<T>
    {
        double inv = 1.0 / area;
        ForEachItem(planes, area, i => ((T*)yAddr)[i] = T.CreateTruncating(SimdKernels.Sum((T*)xAddr + (long)i * area, area) * inv));
    }

    // dy: (N, C, 1, 1) -> dx: (N, C, H, W)
    public void GlobalAvgPoolBackward(Tensor dy, Tensor dx)
    {
        using var _profile = CpuProfiler.Op("GlobalAvgPoolBackward");
        int planes = dx.Size(0) * dx.Size(1), area = dx.Size(2) * dx.Size(3);
        if (dx.DType == DType.Float32) GapBackward<float>((nint)dy.Pointer<float>(), (nint)dx.Pointer<float>(), planes, area);
        else GapBackward<double>((nint)dy.Pointer<double>(), (nint)dx.Pointer<double>(), planes, area);
    }

    // Each plane gets dy·(1/area), broadcast. Outputs past the L3 (SimdKernels.NonTemporalBytes) are written with streaming
    // stores, fenced at the end of each thread's chunk; the values do not depend on the path or the thread count.
    private static void GapBackward<T>(nint dyAddr, nint dxAddr, int planes, int area) where T : unmanaged, IFloatingPointIeee754<T>
    {
        T inv = T.One / T.CreateTruncating(area);
        bool stream = Streams((long)planes * area * sizeof(T));
        ForEachItemFenced(planes, area, stream, i => SimdKernels.Fill((T*)dxAddr + (long)i * area, area, ((T*)dyAddr)[i] * inv, stream));
    }

    /// <summary>Whether an op writing outputBytes uses streaming (non-temporal) stores: only past the L3, where the
    /// output cannot stay cached for the next op anyway.</summary>
    private static bool Streams(long outputBytes) => SimdKernels.CanStream && outputBytes >= SimdKernels.NonTemporalBytes;

    /// <summary>As ForEachItem (same blocks, same parallel rule), with a store fence at the end of each block when the
    /// body streams, so every non-temporal store is globally visible before the op returns.</summary>
    private static void ForEachItemFenced(int count, long workPerItem, bool stream, Action<int> body)
    {
        if (!stream)
        {
            ForEachItem(count, workPerItem, body);
            return;
        }
        Action<int, int> chunk = (start, end) =>
        {
            for (int i = start; i < end; i++) body(i);
            SimdKernels.StoreFence();
        };
        if (RunParallel(count, workPerItem)) CpuParallel.ForBlocks(count, CpuParallel.MaxThreads * BlocksPerThread, chunk);
        else chunk(0, count);
    }

    /// <summary>The plain loop the GAP backward is tested against. dy: (N·C) -> dx: (N·C, area), dx = dy / area.</summary>
    internal static void GlobalAvgPoolBackwardReference<T>(ReadOnlySpan<T> dy, Span<T> dx, int planes, int area) where T : IFloatingPointIeee754<T>
    {
        T inv = T.One / T.CreateTruncating(area);
        for (int i = 0; i < planes; i++)
            for (int j = 0; j < area; j++) dx[i * area + j] = dy[i] * inv;
    }

    // ---- batch norm ----

    // x: (N, C, L...) viewed as (N, C, L): the per-channel reduction runs over N·L elements.
    private static (int N, int C, int L) BnDims(Tensor x)
    {
        int l = 1;
        for (int d = 2; d < x.Rank; d++) l *= x.Size(d);
        return (x.Size(0), x.Size(1), l);
    }

    private static nint Addr<T>(Tensor? t) where T : unmanaged => t == null ? 0 : (nint)t.Pointer<T>();

    public void BatchNormForwardTraining(Tensor x, Tensor? weight, Tensor? bias, Tensor y, Tensor saveMean, Tensor saveInvStd,
        Tensor? runningMean, Tensor? runningVar, double momentum, double eps, bool relu = false)
    {
        using var _profile = CpuProfiler.Op(relu ? "BatchNormReluForwardTraining" : "BatchNormForwardTraining");
        var dims = BnDims(x);
        if (x.DType == DType.Float32)
            BnForward<float>(true, dims, Addr<float>(x), Addr<float>(weight), Addr<float>(bias), Addr<float>(y), Addr<float>(saveMean), Addr<float>(saveInvStd), Addr<float>(runningMean), Addr<float>(runningVar), momentum, eps, relu);
        else
            BnForward<double>(true, dims, Addr<double>(x), Addr<double>(weight), Addr<double>(bias), Addr<double>(y), Addr<double>(saveMean), Addr<double>(saveInvStd), Addr<double>(runningMean), Addr<double>(runningVar), momentum, eps, relu);
    }

    public void BatchNormForwardInference(Tensor x, Tensor? weight, Tensor? bias, Tensor runningMean, Tensor runningVar, Tensor y,
        Tensor? saveMean, Tensor? saveInvStd, double eps, bool relu = false)
    {
        using var _profile = CpuProfiler.Op(relu ? "BatchNormReluForwardInference" : "BatchNormForwardInference");
        var dims = BnDims(x);
        if (x.DType == DType.Float32)
            BnForward<float>(false, dims, Addr<float>(x), Addr<float>(weight), Addr<float>(bias), Addr<float>(y), Addr<float>(saveMean), Addr<float>(saveInvStd), Addr<float>(runningMean), Addr<float>(runningVar), 0, eps, relu);
        else
            BnForward<double>(false, dims, Addr<double>(x), Addr<double>(weight), Addr<double>(bias), Addr<double>(y), Addr<double>(saveMean), Addr<double>(saveInvStd), Addr<double>(runningMean), Addr<double>(runningVar), 0, eps, relu);
    }

    // x, y: (N, C, L); weight, bias, save*, running*: (C) (0 = absent). Training: one pass of per-plane sums for the
    // batch mean and biased variance (in double), then y = x·scale + shift with scale = γ/σ, shift = β − μ·scale
    // (relu: max(·, 0) in the same pass, the values of ReluFn applied afterwards).
    // Both passes walk the (n, c) planes in memory order, in parallel over planes: a channel's planes lie C·L apart
    // (64 KiB in se_resnet20), and walking them channel by channel defeated the prefetchers (~20 ns per cache line).
    // Each plane's sums are kept and added per channel in image order, as the channel-by-channel loop did, so the
    // results are bit-identical to it and do not depend on the thread count.
    private static void BnForward<T>(bool training, (int N, int C, int L) d, nint xA, nint wA, nint bA, nint yA, nint meanA, nint invStdA,
        nint rmA, nint rvA, double momentum, double eps, bool relu) where T : unmanaged, IFloatingPointIeee754<T>
    {
        long m = (long)d.N * d.L;
        int planes = d.N * d.C, channels = d.C, length = d.L;
        bool stream = Streams((long)d.C * m * sizeof(T)); // y past the L3: streaming stores (same values)
        double[] partial = ArrayPool<double>.Shared.Rent(training ? 2 * planes : 1);
        double[] affine = ArrayPool<double>.Shared.Rent(2 * channels); // (scale, shift) per channel
        try
        {
            if (training)
                ForEachItem(planes, length, plane =>
                {
                    // Sums shifted by the channel's first value (stable one-pass variance: the shift is near the mean).
                    T pivot = ((T*)xA)[(long)(plane % channels) * length];
                    var (a1, a2) = SimdKernels.ShiftedSums((T*)xA + (long)plane * length, length, pivot);
                    partial[2 * plane] = a1;
                    partial[2 * plane + 1] = a2;
                });
            for (int c = 0; c < channels; c++)
            {
                double mean, var;
                if (training)
                {
                    T pivot = ((T*)xA)[(long)c * length];
                    double s1 = 0, s2 = 0;
                    for (int n = 0; n < d.N; n++)
                    {
                        s1 += partial[2 * (n * channels + c)];
                        s2 += partial[2 * (n * channels + c) + 1];
                    }
                    double mShift = s1 / m;
                    mean = double.CreateTruncating(pivot) + mShift;
                    var = Math.Max(0, s2 / m - mShift * mShift);
                    if (rmA != 0)
                    {
                        T* rm = (T*)rmA;
                        T* rv = (T*)rvA;
                        rm[c] = T.CreateTruncating((1 - momentum) * double.CreateTruncating(rm[c]) + momentum * mean);
                        rv[c] = T.CreateTruncating((1 - momentum) * double.CreateTruncating(rv[c]) + momentum * (var * m / (m - 1)));
                    }
                }
                else
                {
                    mean = double.CreateTruncating(((T*)rmA)[c]);
                    var = double.CreateTruncating(((T*)rvA)[c]);
                }
                double gamma = wA == 0 ? 1 : double.CreateTruncating(((T*)wA)[c]);
                double beta = bA == 0 ? 0 : double.CreateTruncating(((T*)bA)[c]);
                var (invStd, scale, shift) = BnAffine(mean, var, eps, gamma, beta);
                if (meanA != 0) ((T*)meanA)[c] = T.CreateTruncating(mean);
                if (invStdA != 0) ((T*)invStdA)[c] = T.CreateTruncating(invStd);
                affine[2 * c] = scale;
                affine[2 * c + 1] = shift;
            }
            ForEachItemFenced(planes, length, stream, plane =>
            {
                int c = plane % channels;
                long at = (long)plane * length;
                SimdKernels.ScaleShift((T*)xA + at, (T*)yA + at, length, T.CreateTruncating(affine[2 * c]), T.CreateTruncating(affine[2 * c + 1]), relu, stream);
            });
        }
        finally
        {
            ArrayPool<double>.Shared.Return(partial);
            ArrayPool<double>.Shared.Return(affine);
        }
    }

    /// <summary>A batch norm as the per-channel affine map its kernels apply, y = x·scale + shift, in double:
    /// invStd = 1/√(var + ε), scale = γ·invStd, shift = β − mean·γ·invStd (also the inference fold into a conv).</summary>
    internal static (double InvStd, double Scale, double Shift) BnAffine(double mean, double var, double eps, double gamma, double beta)
    {
        double invStd = 1.0 / Math.Sqrt(var + eps);
        return (invStd, gamma * invStd, beta - mean * gamma * invStd);
    }

    public void BatchNormBackward(Tensor x, Tensor dy, Tensor? weight, Tensor saveMean, Tensor saveInvStd, bool training,
        Tensor? dx, Tensor? dweight, Tensor? dbias, Tensor? reluOutput = null)
    {
        using var _profile = CpuProfiler.Op(reluOutput != null ? "BatchNormReluBackward" : "BatchNormBackward");
        var dims = BnDims(x);
        if (x.DType == DType.Float32)
            BnBackward<float>(training, dims, Addr<float>(x), Addr<float>(dy), Addr<float>(weight), Addr<float>(saveMean), Addr<float>(saveInvStd), Addr<float>(dx), Addr<float>(dweight), Addr<float>(dbias), Addr<float>(reluOutput));
        else
            BnBackward<double>(training, dims, Addr<double>(x), Addr<double>(dy), Addr<double>(weight), Addr<double>(saveMean), Addr<double>(saveInvStd), Addr<double>(dx), Addr<double>(dweight), Addr<double>(dbias), Addr<double>(reluOutput));
    }

    // One pass for Σdy and Σdy·x̂ per channel (in double), one pass for
    //   training: dx = γ/σ · (dy − Σdy/M − x̂·Σdy·x̂/M);  eval: dx = γ/σ · dy;  dγ = Σdy·x̂;  dβ = Σdy.
    // reluA (not 0): dy is read as (relu output > 0 ? dy : 0) in both passes, so the fused ReLU's mask costs no pass
    // of its own and no masked copy.
    // As BnForward: both passes walk the planes in memory order in parallel, and the per-plane sums are added per
    // channel in image order (bit-identical to the channel-by-channel loop, independent of the thread count).
    private static void BnBackward<T>(bool training, (int N, int C, int L) d, nint xA, nint dyA, nint wA, nint meanA, nint invStdA,
        nint dxA, nint dwA, nint dbA, nint reluA) where T : unmanaged, IFloatingPointIeee754<T>
    {
        long m = (long)d.N * d.L;
        int planes = d.N * d.C, channels = d.C, length = d.L;
        bool stream = dxA != 0 && Streams((long)d.C * m * sizeof(T)); // dx past the L3: streaming stores (same values)
        double[] partial = ArrayPool<double>.Shared.Rent(2 * planes);
        double[] coefficients = ArrayPool<double>.Shared.Rent(3 * channels); // (k, a, b) per channel
        try
        {
            ForEachItem(planes, length, plane =>
            {
                long at = (long)plane * length;
                var (sg, sgx) = SimdKernels.GradSums((T*)dyA + at, (T*)xA + at, length, ((T*)meanA)[plane % channels], reluA == 0 ? null : (T*)reluA + at);
                partial[2 * plane] = sg;
                partial[2 * plane + 1] = sgx;
            });
            for (int c = 0; c < channels; c++)
            {
                double mean = double.CreateTruncating(((T*)meanA)[c]), invStd = double.CreateTruncating(((T*)invStdA)[c]);
                double sumDy = 0, sumDyXhat = 0;
                for (int n = 0; n < d.N; n++)
                {
                    sumDy += partial[2 * (n * channels + c)];
                    sumDyXhat += partial[2 * (n * channels + c) + 1];
                }
                sumDyXhat *= invStd;
                if (dwA != 0) ((T*)dwA)[c] = T.CreateTruncating(sumDyXhat);
                if (dbA != 0) ((T*)dbA)[c] = T.CreateTruncating(sumDy);
                double gamma = wA == 0 ? 1 : double.CreateTruncating(((T*)wA)[c]);
                double k = gamma * invStd;
                // dx = k·dy + (a·x + b): a and b fold the mean terms so the pass is one multiply-add per element.
                double a = training ? -k * invStd * sumDyXhat / m : 0;
                double b = training ? -k * sumDy / m - a * mean : 0;
                coefficients[3 * c] = k;
                coefficients[3 * c + 1] = a;
                coefficients[3 * c + 2] = b;
            }
            if (dxA == 0) return;
            ForEachItemFenced(planes, length, stream, plane =>
            {
                int c = plane % channels;
                long at = (long)plane * length;
                SimdNn.BnBackwardPass((T*)dyA + at, (T*)xA + at, (T*)dxA + at, length, T.CreateTruncating(coefficients[3 * c]),
                    T.CreateTruncating(coefficients[3 * c + 1]), T.CreateTruncating(coefficients[3 * c + 2]), stream, reluA == 0 ? null : (T*)reluA + at);
            });
        }
        finally
        {
            ArrayPool<double>.Shared.Return(partial);
            ArrayPool<double>.Shared.Return(coefficients);
        }
    }

    // ---- Axpy ----

    // a: (N, C), x, y, output: (N, C, L). One pass: output = a·x + y, then ReLU when relu.
    public void Axpy(Tensor a, Tensor x, Tensor? y, Tensor output, bool relu)
    {
        using var _profile = CpuProfiler.Op(relu ? "AxpyRelu" : y == null ? "ChannelScale" : "Axpy");
        int planes = x.Size(0) * x.Size(1), area = (int)(x.NumElements / Math.Max(1, planes));
        if (x.DType == DType.Float32) AxpyForward<float>(Addr<float>(a), Addr<float>(x), Addr<float>(y), Addr<float>(output), relu, planes, area);
        else AxpyForward<double>(Addr<double>(a), Addr<double>(x), Addr<double>(y), Addr<double>(output), relu, planes, area);
    }

    private static void AxpyForward<T>(nint aA, nint xA, nint yA, nint oA, bool relu, int planes, int area) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ForEachItem(planes, area, i =>
        {
            long at = (long)i * area;
            SimdNn.AxpyPlane(((T*)aA)[i], (T*)xA + at, yA == 0 ? null : (T*)yA + at, (T*)oA + at, area, relu);
        });
    }

    public void AxpyBackward(Tensor a, Tensor x, Tensor output, Tensor dOutput, bool relu, Tensor? da, Tensor? dx, Tensor? dy)
    {
        using var _profile = CpuProfiler.Op(relu ? "AxpyReluBackward" : "AxpyBackward");
        int planes = x.Size(0) * x.Size(1), area = (int)(x.NumElements / Math.Max(1, planes));
        if (x.DType == DType.Float32)
            AxpyBack<float>(Addr<float>(a), Addr<float>(x), Addr<float>(output), Addr<float>(dOutput), relu, Addr<float>(da), Addr<float>(dx), Addr<float>(dy), planes, area);
        else
            AxpyBack<double>(Addr<double>(a), Addr<double>(x), Addr<double>(output), Addr<double>(dOutput), relu, Addr<double>(da), Addr<double>(dx), Addr<double>(dy), planes, area);
    }

    // One pass per plane: g = dOut masked by output > 0 (relu), dx = a·g, dy = g, da = Σ g·x (in double).
    private static void AxpyBack<T>(nint aA, nint xA, nint oA, nint gA, bool relu, nint daA, nint dxA, nint dyA, int planes, int area)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ForEachItem(planes, area, i =>
        {
            T s = ((T*)aA)[i];
            long at = (long)i * area;
            T* x = (T*)xA + at;
            T* o = (T*)oA + at;
            T* gOut = (T*)gA + at;
            T* dx = dxA == 0 ? null : (T*)dxA + at;
            T* dy = dyA == 0 ? null : (T*)dyA + at;
            double acc = SimdNn.AxpyBackwardPlane(s, x, o, gOut, dx, dy, area, relu);
            if (daA != 0) ((T*)daA)[i] = T.CreateTruncating(acc);
        });
    }
}
