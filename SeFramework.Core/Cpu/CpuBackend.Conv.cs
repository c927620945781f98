// CPU convolution. Float32 on AVX-512: stride-1 3×3 convs (one group, ≥ 8 channels) by Winograd (ConvWinograd.cs: forward,
// and backward-filter where it pays), other forwards by the implicit GEMM of ConvImplicit.cs, backward-filter there too
// where it pays (else as below). Otherwise (float64, no AVX-512): forward by im2col + GEMM per image (1×1 stride-1 unpadded
// convs go straight to GEMM over the input), backward-filter by im2col + GEMM. Backward-data: a forward conv with
// flipped weights (stride 1), a scattered pointwise forward conv (float32 1×1 with stride > 1), or GEMM + col2im.
// Groups are a strided batch of GEMMs; images run in parallel when the work is large enough to pay for the threads.
// Im2ColReference / Col2ImReference are the plain loops the fast im2col / col2im are tested against. The loops over whole
// tensors are [AggressiveOptimization] (optimised from their first call, not after ~30 calls of tier-0 code).
using System.Numerics;
using System.Runtime.CompilerServices;
using SeFramework.Backends;

namespace SeFramework.Cpu;

internal sealed unsafe partial class CpuBackend
{
    /// <summary>Below this many multiply-adds in all, an op runs on the calling thread (thread start-up costs ~µs).</summary>
    private const long ParallelGrain = 1 << 18;

    private static bool RunParallel(int items, long workPerItem) => items > 1 && items * workPerItem >= ParallelGrain && CpuParallel.MaxThreads > 1;

    /// <summary>Blocks per thread that <see cref="ForEachItem"/> cuts its items into: enough that a thread which starts late
    /// or shares the memory bus unevenly takes fewer (measured: the caller waited ~0.17 ms per call at the end of
    /// batch-norm and pooling passes split in two static halves, ~22 ms of a 2-thread se_resnet20 step).</summary>
    private const int BlocksPerThread = 8;

    /// <summary>body(i) for i in [0, count), in parallel when the work is large enough: fixed blocks of items taken by the
    /// threads in turn (CpuParallel.ForBlocks), so each item's result does not depend on who ran it.</summary>
    private static void ForEachItem(int count, long workPerItem, Action<int> body)
    {
        if (RunParallel(count, workPerItem))
            CpuParallel.ForBlocks(count, CpuParallel.MaxThreads * BlocksPerThread, (start, end) =>
            {
                for (int i = start; i < end; i++) body(i);
            });
        else for (int i = 0; i < count; i++) body(i);
    }

    public void Conv2dForward(Tensor x, Tensor weight, Tensor? bias, Tensor y, in Conv2dGeometry g)
    {
        using var _profile = CpuProfiler.Op("Conv2dForward");
        if (x.DType == DType.Float32) ConvForward<float>((nint)x.Pointer<float>(), (nint)weight.Pointer<float>(), bias == null ? 0 : (nint)bias.Pointer<float>(), (nint)y.Pointer<float>(), g);
        else ConvForward<double>((nint)x.Pointer<double>(), (nint)weight.Pointer<double>(), bias == null ? 0 : (nint)bias.Pointer<double>(), (nint)y.Pointer<double>(), g);
    }

    // x: (N, C, H, W), w: (K, C/G, R, S), bias and batch-norm vectors: (K) -> y: (N, K, P, Q) = relu?(conv(x, w)·scale + shift),
    // (scale, shift) the batch norm's affine map (BnAffine) with the conv bias folded into the mean. Float32 on AVX-512: in
    // the Winograd or implicit-GEMM epilogue, on each output tile while it is in cache; otherwise one pass after the conv.
    public void Conv2dBatchNormInference(Tensor x, Tensor weight, Tensor? bias, Tensor runningMean, Tensor runningVar, Tensor? bnWeight, Tensor? bnBias,
        double eps, Tensor y, in Conv2dGeometry g, bool relu)
    {
        using var _profile = CpuProfiler.Op("Conv2dBatchNormInference");
        if (x.DType == DType.Float32)
            ConvBatchNormInference<float>(x, weight, bias, runningMean, runningVar, bnWeight, bnBias, eps, y, g, relu);
        else
            ConvBatchNormInference<double>(x, weight, bias, runningMean, runningVar, bnWeight, bnBias, eps, y, g, relu);
    }

    private static void ConvBatchNormInference<T>(Tensor x, Tensor weight, Tensor? bias, Tensor runningMean, Tensor runningVar, Tensor? bnWeight, Tensor? bnBias,
        double eps, Tensor y, Conv2dGeometry g, bool relu) where T : unmanaged, IFloatingPointIeee754<T>
    {
        // (scale, shift) per output channel: 2·K values of T.
        T* affine = (T*)CpuAllocator.Rent(2L * g.K * sizeof(T), zero: false);
        try
        {
            T* rm = runningMean.Pointer<T>(), rv = runningVar.Pointer<T>();
            T* cb = bias == null ? null : bias.Pointer<T>(), gw = bnWeight == null ? null : bnWeight.Pointer<T>(), gb = bnBias == null ? null : bnBias.Pointer<T>();
            for (int k = 0; k < g.K; k++)
            {
                double mean = double.CreateTruncating(rm[k]) - (cb == null ? 0 : double.CreateTruncating(cb[k]));
                var (_, scale, shift) = BnAffine(mean, double.CreateTruncating(rv[k]), eps,
                    gw == null ? 1 : double.CreateTruncating(gw[k]), gb == null ? 0 : double.CreateTruncating(gb[k]));
                affine[k] = T.CreateTruncating(scale);
                affine[g.K + k] = T.CreateTruncating(shift);
            }
            if (typeof(T) == typeof(float) && FastForward(x.Pointer<float>(), weight.Pointer<float>(), y.Pointer<float>(), g,
                    new ConvImplicit.Epilogue((float*)affine, (float*)affine + g.K, relu)))
                return;
            ConvForward<T>((nint)x.Pointer<T>(), (nint)weight.Pointer<T>(), 0, (nint)y.Pointer<T>(), g);
            ChannelAffine(y.Pointer<T>(), affine, affine + g.K, g.N, g.K, (long)g.P * g.Q, relu);
        }
        finally
        {
            CpuAllocator.Return(affine, 2L * g.K * sizeof(T));
        }
    }

    // The float32 AVX-512 forwards, each applying the epilogue (a bias, or a folded batch norm and ReLU) to its output tiles:
    // Winograd for the stride-1 3×3 convs it takes, else the implicit GEMM. False when neither applies.
    // x: (N, C, H, W), w: (K, C/G, R, S) -> y: (N, K, P, Q) = epilogue(conv(x, w)).
    private static bool FastForward(float* x, float* w, float* y, in Conv2dGeometry g, ConvImplicit.Epilogue epilogue)
    {
        if (ConvWinograd.Applies(g)) ConvWinograd.Forward(x, w, y, g, epilogue);
        else if (ConvImplicit.Enabled && ConvImplicit.Applies(g)) ConvImplicit.Forward(x, w, y, g, epilogue);
        else return false;
        return true;
    }

    // y: (N, K, area), in place: y[n, k, :] = relu?(y·scale[k] + shift[k]), with the rounding of a fused multiply-add.
    private static void ChannelAffine<T>(T* y, T* scale, T* shift, int n, int k, long area, bool relu)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (long plane = 0; plane < (long)n * k; plane++)
        {
            T a = scale[plane % k], b = shift[plane % k];
            T* row = y + plane * area;
            for (long i = 0; i < area; i++)
            {
                T v = T.FusedMultiplyAdd(row[i], a, b);
                row[i] = relu && !(v > T.Zero) ? T.Zero : v;
            }
        }
    }

    public void Conv2dBackwardData(Tensor dy, Tensor weight, Tensor dx, in Conv2dGeometry g)
    {
        using var _profile = CpuProfiler.Op("Conv2dBackwardData");
        if (dy.DType == DType.Float32) ConvBackwardData<float>((nint)dy.Pointer<float>(), (nint)weight.Pointer<float>(), (nint)dx.Pointer<float>(), g);
        else ConvBackwardData<double>((nint)dy.Pointer<double>(), (nint)weight.Pointer<double>(), (nint)dx.Pointer<double>(), g);
    }

    public void Conv2dBackwardFilter(Tensor x, Tensor dy, Tensor? dweight, Tensor? dbias, in Conv2dGeometry g)
    {
        using var _profile = CpuProfiler.Op("Conv2dBackwardFilter");
        if (x.DType == DType.Float32)
        {
            if (dweight != null) ConvBackwardFilter<float>((nint)x.Pointer<float>(), (nint)dy.Pointer<float>(), (nint)dweight.Pointer<float>(), g);
            if (dbias != null) ConvBackwardBias(dy.Pointer<float>(), dbias.Pointer<float>(), g);
        }
        else
        {
            if (dweight != null) ConvBackwardFilter<double>((nint)x.Pointer<double>(), (nint)dy.Pointer<double>(), (nint)dweight.Pointer<double>(), g);
            if (dbias != null) ConvBackwardBias(dy.Pointer<double>(), dbias.Pointer<double>(), g);
        }
    }

    // x: (N, C, H, W), w: (K, C/G, R, S), bias: (K) or 0 -> y: (N, K, P, Q).
    // Per image and group: y_g (K/G, P·Q) = w_g (K/G, C/G·R·S) · col_g (C/G·R·S, P·Q).
    private static void ConvForward<T>(nint xAddr, nint wAddr, nint biasAddr, nint yAddr, Conv2dGeometry g)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float) && FastForward((float*)xAddr, (float*)wAddr, (float*)yAddr, g, new ConvImplicit.Epilogue(null, (float*)biasAddr, false)))
            return;
        long pq = (long)g.P * g.Q, chw = (long)g.C * g.H * g.W, ld = ColLd(pq), colSize = (long)g.C * g.R * g.S * ld;
        bool perImage = RunParallel(g.N, g.K * pq * g.ColRows) || CpuParallel.MaxThreads == 1;
        ForEachItem(g.N, g.K * pq * g.ColRows, n =>
        {
            T* x = (T*)xAddr + n * chw;
            T* y = (T*)yAddr + n * g.K * pq;
            T* col = g.IsPointwise ? x : (T*)CpuAllocator.Rent(colSize * sizeof(T), zero: false);
            try
            {
                if (!g.IsPointwise)
                {
                    using var _p1 = CpuProfiler.Op("Conv.Im2Col");
                    Im2Col(x, col, g, ld);
                }
                using var _p2 = CpuProfiler.Op("Conv.FwdGemm");
                GemmBatched(perImage, false, false, g.KPerGroup, (int)pq, g.ColRows,
                    (T*)wAddr, g.ColRows, (long)g.KPerGroup * g.ColRows,
                    col, g.IsPointwise ? (int)pq : (int)ld, g.ColRows * (g.IsPointwise ? pq : ld),
                    0, y, (int)pq, g.KPerGroup * pq, g.Groups);
            }
            finally
            {
                if (!g.IsPointwise) CpuAllocator.Return(col, colSize * sizeof(T));
            }
            if (biasAddr != 0)
            {
                T* bias = (T*)biasAddr;
                for (int k = 0; k < g.K; k++)
                {
                    T b = bias[k];
                    T* row = y + k * pq;
                    for (long i = 0; i < pq; i++) row[i] += b;
                }
            }
        });
    }

    // dy: (N, K, P, Q), w: (K, C/G, R, S) -> dx: (N, C, H, W).
    // Per image and group: dcol_g (C/G·R·S, P·Q) = w_gᵀ · dy_g, then col2im sums the columns back onto dx.
    private static void ConvBackwardData<T>(nint dyAddr, nint wAddr, nint dxAddr, Conv2dGeometry g)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (TransposedAsForward(g, out var gt, pointwise: typeof(T) == typeof(float) && ConvImplicit.Enabled && ConvImplicit.Applies(g)))
        {
            // Stride 1: dx is the forward convolution of dy with the flipped, channel-swapped weights and padding
            // dilation·(R−1) − padding; its GEMM has depth K/G·R·S instead of K/G and needs no col2im.
            long wLen = (long)g.K * g.CPerGroup * g.R * g.S;
            T* wt = (T*)CpuAllocator.Rent(wLen * sizeof(T), zero: false);
            try
            {
                FlipWeights((T*)wAddr, wt, g);
                ConvForward<T>(dyAddr, (nint)wt, 0, dxAddr, gt);
            }
            finally
            {
                CpuAllocator.Return(wt, wLen * sizeof(T));
            }
            return;
        }
        if (typeof(T) == typeof(float) && ConvImplicit.Enabled && g.R == 1 && g.S == 1 && g.Padding == 0 && ConvImplicit.Applies(g))
        {
            StridedPointwiseBackwardData((float*)dyAddr, (float*)wAddr, (float*)dxAddr, g);
            return;
        }
        long pq = (long)g.P * g.Q, chw = (long)g.C * g.H * g.W, ld = ColLd(pq), colSize = (long)g.C * g.R * g.S * ld;
        bool perImage = RunParallel(g.N, g.K * pq * g.ColRows) || CpuParallel.MaxThreads == 1;
        ForEachItem(g.N, g.K * pq * g.ColRows, n =>
        {
            T* dy = (T*)dyAddr + n * g.K * pq;
            T* dx = (T*)dxAddr + n * chw;
            T* dcol = g.IsPointwise ? dx : (T*)CpuAllocator.Rent(colSize * sizeof(T), zero: false);
            try
            {
                using (CpuProfiler.Op("Conv.DataGemm"))
                GemmBatched(perImage, true, false, g.ColRows, (int)pq, g.KPerGroup,
                    (T*)wAddr, g.ColRows, (long)g.KPerGroup * g.ColRows,
                    dy, (int)pq, g.KPerGroup * pq,
                    0, dcol, g.IsPointwise ? (int)pq : (int)ld, g.ColRows * (g.IsPointwise ? pq : ld), g.Groups);
                using var _p3 = CpuProfiler.Op("Conv.Col2Im");
                if (!g.IsPointwise) Col2Im(dcol, dx, g, ld);
            }
            finally
            {
                if (!g.IsPointwise) CpuAllocator.Return(dcol, colSize * sizeof(T));
            }
        });
    }


    // dy: (N, K, P, Q), w: (K, C/G, 1, 1) -> dx: (N, C, H, W) of an unpadded 1×1 convolution with stride > 1: the
    // pointwise forward conv of dy with the transposed weights gives dx at the sampled pixels (p·stride, q·stride); every
    // other pixel is zero. The implicit forward packs the 2048×1024 transposed weights of a ResNet-50 projection once per
    // call, where GEMM + col2im packed them once per image.
    private static void StridedPointwiseBackwardData(float* dy, float* w, float* dx, in Conv2dGeometry g)
    {
        var gt = new Conv2dGeometry(g.N, g.K, g.P, g.Q, g.C, 1, 1, g.P, g.Q, 1, 0, 1, g.Groups);
        long wLen = (long)g.K * g.CPerGroup, tLen = (long)g.N * g.C * g.P * g.Q;
        float* wt = (float*)CpuAllocator.Rent(wLen * sizeof(float), zero: false);
        float* t = (float*)CpuAllocator.Rent(tLen * sizeof(float), zero: false);
        try
        {
            FlipWeights(w, wt, g);
            ConvForward<float>((nint)dy, (nint)wt, 0, (nint)t, gt);
            // t: (N, C, P, Q) -> dx[n, c, p·stride, q·stride], zeros elsewhere.
            // Planes in parallel (1.6 M floats of dx in ResNet-50's projection: memory-bound, ~1 ms on one thread).
            int planes = checked(g.N * g.C);
            nint tAddr = (nint)t, dxAddr = (nint)dx;
            var gg = g;
            CpuParallel.For(planes, Math.Max(1, (1 << 14) / Math.Max(1, g.H * g.W)), (start, end) =>
            {
                for (long i = start; i < end; i++)
                {
                    float* src = (float*)tAddr + i * gg.P * gg.Q, dst = (float*)dxAddr + i * gg.H * gg.W;
                    new Span<float>(dst, gg.H * gg.W).Clear();
                    for (int p = 0; p < gg.P; p++)
                        for (int q = 0; q < gg.Q; q++) dst[(long)p * gg.Stride * gg.W + q * gg.Stride] = src[p * gg.Q + q];
                }
            });
        }
        finally
        {
            CpuAllocator.Return(wt, wLen * sizeof(float));
            CpuAllocator.Return(t, tLen * sizeof(float));
        }
    }

    /// <summary>For a stride-1 convolution whose padding is at most dilation·(R−1) (and likewise for S), the geometry
    /// of the forward convolution that computes its input gradient: input dy (N, K, P, Q), weights (C, K/G, R, S),
    /// output (N, C, H, W), padding dilation·(R−1) − padding. Pointwise convolutions only when <paramref name="pointwise"/>
    /// (the implicit forward then packs the transposed weights once per call instead of once per image).</summary>
    internal static bool TransposedAsForward(in Conv2dGeometry g, out Conv2dGeometry gt, bool pointwise = false)
    {
        int pad = g.Dilation * (g.R - 1) - g.Padding;
        if (g.Stride != 1 || (g.IsPointwise && !pointwise) || g.R != g.S || pad < 0)
        {
            gt = default;
            return false;
        }
        gt = new Conv2dGeometry(g.N, g.K, g.P, g.Q, g.C, g.R, g.S, g.H, g.W, 1, pad, g.Dilation, g.Groups);
        return true;
    }

    // w: (K, C/G, R, S) -> wt: (C, K/G, R, S) with wt[gi·Cg + c, k, r, s] = w[gi·Kg + k, c, R−1−r, S−1−s].
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void FlipWeights<T>(T* w, T* wt, in Conv2dGeometry g) where T : unmanaged
    {
        // Blocks of 16 k: the reads walk 16 weight rows side by side and each write is one contiguous run of 16·R·S
        // (a plain k-then-c loop reads or writes at a stride of C/G·R·S and misses the cache on every element).
        // The (group, 16-k block) tasks write disjoint elements; in parallel from 64 Ki weights (2.4 M in ResNet-50's last
        // 3×3 conv: ~1.5 ms on one thread before its backward-data GEMM could start).
        int cg = g.CPerGroup, kg = g.KPerGroup, rs = g.R * g.S, kBlocks = (kg + 15) / 16, tasks = g.Groups * kBlocks;
        nint wAddr = (nint)w, wtAddr = (nint)wt;
        CpuParallel.For(tasks, (long)g.K * cg * rs >= 1 << 16 ? 1 : tasks, (start, end) =>
        {
            for (int task = start; task < end; task++)
            {
                int gi = task / kBlocks, k0 = task % kBlocks * 16;
                for (int c = 0; c < cg; c++)
                    for (int k = k0; k < Math.Min(kg, k0 + 16); k++)
                    {
                        T* src = (T*)wAddr + ((long)(gi * kg + k) * cg + c) * rs;
                        T* dst = (T*)wtAddr + ((long)(gi * cg + c) * kg + k) * rs;
                        for (int i = 0; i < rs; i++) dst[i] = src[rs - 1 - i];
                    }
            }
        });
    }

    // x: (N, C, H, W), dy: (N, K, P, Q) -> dw: (K, C/G, R, S).
    // dw_g (K/G, C/G·R·S) = Σ_n dy_g (K/G, P·Q) · col_gᵀ. Images are split into one contiguous chunk per worker, each
    // summing into its own buffer; the buffers are added in chunk order, so the result does not depend on scheduling.
    private static void ConvBackwardFilter<T>(nint xAddr, nint dyAddr, nint dwAddr, Conv2dGeometry g)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float) && ConvWinograd.FilterApplies(g))
        {
            ConvWinograd.BackwardFilter((float*)xAddr, (float*)dyAddr, (float*)dwAddr, g);
            return;
        }
        if (typeof(T) == typeof(float) && ConvImplicit.Enabled && ConvImplicit.FilterDotApplies(g))
        {
            ConvImplicit.BackwardFilterDot((float*)xAddr, (float*)dyAddr, (float*)dwAddr, g);
            return;
        }
        if (typeof(T) == typeof(float) && ConvImplicit.Enabled && ConvImplicit.FilterApplies(g))
        {
            ConvImplicit.BackwardFilter((float*)xAddr, (float*)dyAddr, (float*)dwAddr, g);
            return;
        }
        long pq = (long)g.P * g.Q, chw = (long)g.C * g.H * g.W, ld = ColLd(pq), colSize = (long)g.C * g.R * g.S * ld;
        long dwSize = (long)g.K * g.ColRows;
        int chunks = RunParallel(g.N, g.K * pq * g.ColRows) ? Math.Min(g.N, CpuParallel.MaxThreads) : 1;
        var partials = new nint[chunks];
        ForEachItem(chunks, long.MaxValue / chunks, chunk =>
        {
            T* acc = chunk == 0 ? (T*)dwAddr : (T*)CpuAllocator.Rent(dwSize * sizeof(T), zero: false);
            partials[chunk] = (nint)acc;
            T* col = g.IsPointwise ? null : (T*)CpuAllocator.Rent(colSize * sizeof(T), zero: false);
            try
            {
                int first = (int)((long)g.N * chunk / chunks), last = (int)((long)g.N * (chunk + 1) / chunks);
                if (first == last) new Span<T>(acc, checked((int)dwSize)).Clear();
                for (int n = first; n < last; n++)
                {
                    T* x = (T*)xAddr + n * chw;
                    T* src = x;
                    if (!g.IsPointwise)
                    {
                        using var _p4 = CpuProfiler.Op("Conv.Im2Col(filter)");
                        Im2Col(x, col, g, ld);
                        src = col;
                    }
                    using var _p5 = CpuProfiler.Op("Conv.FilterGemm");
                    GemmBatched(chunks > 1 || CpuParallel.MaxThreads == 1, false, true, g.KPerGroup, g.ColRows, (int)pq,
                        (T*)dyAddr + n * g.K * pq, (int)pq, g.KPerGroup * pq,
                        src, g.IsPointwise ? (int)pq : (int)ld, g.ColRows * (g.IsPointwise ? pq : ld),
                        n == first ? 0 : 1, acc, g.ColRows, (long)g.KPerGroup * g.ColRows, g.Groups);
                }
            }
            finally
            {
                if (col != null) CpuAllocator.Return(col, colSize * sizeof(T));
            }
        });
        using (CpuProfiler.Op("Conv.FilterReduce"))
            SumPartials<T>((T*)dwAddr, partials, dwSize);
        for (int chunk = 1; chunk < chunks; chunk++) CpuAllocator.Return((T*)partials[chunk], dwSize * sizeof(T));
    }

    /// <summary>dw[i] = (…(dw[i] + p_1[i]) + p_2[i]) … + p_last[i] for the partial sums p_c = partials[c] (c ≥ 1; partials[0]
    /// is dw): each element adds the chunks in order whatever the split, so the result is that of the serial loop. Spread
    /// over the threads in blocks of 16 Ki elements (ResNet-50's 3×3 filters of 2.4 M floats took ~1.5 ms on one).</summary>
    // dw: (size), partials[1..]: (size) each -> dw += Σ partials in order.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void SumPartials<T>(T* dw, nint[] partials, long size) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (partials.Length < 2) return;
        const int Block = 1 << 14;
        int blocks = checked((int)((size + Block - 1) / Block));
        nint dwAddr = (nint)dw;
        CpuParallel.For(blocks, Math.Max(1, (int)Math.Min(blocks, (1L << 17) / ((long)partials.Length * Block))), (start, end) =>
        {
            long i0 = (long)start * Block, i1 = Math.Min(size, (long)end * Block);
            T* d = (T*)dwAddr;
            int lanes = Vector<T>.Count;
            for (int c = 1; c < partials.Length; c++)
            {
                T* part = (T*)partials[c];
                long i = i0;
                for (; i + lanes <= i1; i += lanes)
                    Unsafe.WriteUnaligned(d + i, Unsafe.ReadUnaligned<Vector<T>>(d + i) + Unsafe.ReadUnaligned<Vector<T>>(part + i));
                for (; i < i1; i++) d[i] += part[i];
            }
        });
    }

    // dy: (N, K, P, Q) -> dbias: (K), summed in double.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ConvBackwardBias<T>(T* dy, T* dbias, Conv2dGeometry g) where T : unmanaged, IFloatingPointIeee754<T>
    {
        long pq = (long)g.P * g.Q;
        for (int k = 0; k < g.K; k++)
        {
            double s = 0;
            for (int n = 0; n < g.N; n++)
            {
                T* row = dy + ((long)n * g.K + k) * pq;
                for (long i = 0; i < pq; i++) s += double.CreateTruncating(row[i]);
            }
            dbias[k] = T.CreateTruncating(s);
        }
    }

    /// <summary>Row stride of an im2col matrix with pq columns: pq, plus 16 floats when pq·4 bytes is a multiple of 512, so
    /// the GEMM walking a column panel down the rows does not hit one L1 set (4 KiB-strided rows alias in an 8-way L1).</summary>
    internal static long ColLd(long pq) => pq % 128 == 0 ? pq + 16 : pq;

    /// <summary>Output columns q whose input column q·stride + offset lies in [0, w): [q0, q1).</summary>
    private static (int Q0, int Q1) ValidRange(int q, int stride, int offset, int w)
    {
        // q·stride + offset >= 0  <=>  q >= ceil(-offset / stride);  q·stride + offset < w  <=>  q <= floor((w - 1 - offset) / stride)
        int q0 = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
        int q1 = w - 1 - offset < 0 ? 0 : (w - 1 - offset) / stride + 1;
        q0 = Math.Min(q0, q);
        q1 = Math.Clamp(q1, q0, q);
        return (q0, q1);
    }

    // x: (C, H, W) of one image -> col: (C·R·S, P·Q), as Im2ColReference: per kernel tap, the valid column range is
    // found once; padding columns are zeroed and the interior copied (stride 1: a block copy; else a strided gather).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Im2Col<T>(T* x, T* col, in Conv2dGeometry g, long ld) where T : unmanaged, INumberBase<T>
    {
        int hw = g.H * g.W;
        for (int c = 0; c < g.C; c++)
        {
            T* plane = x + (long)c * hw;
            for (int r = 0; r < g.R; r++)
            {
                int dh = r * g.Dilation - g.Padding;
                var (p0, p1) = ValidRange(g.P, g.Stride, dh, g.H);
                for (int s = 0; s < g.S; s++)
                {
                    T* dst = col + ((long)(c * g.R + r) * g.S + s) * ld;
                    int dw = s * g.Dilation - g.Padding;
                    var (q0, q1) = ValidRange(g.Q, g.Stride, dw, g.W);
                    if (p0 > 0) new Span<T>(dst, p0 * g.Q).Clear();
                    if (p1 < g.P) new Span<T>(dst + p1 * g.Q, (g.P - p1) * g.Q).Clear();
                    int len = q1 - q0;
                    if (g.Stride == 1 && g.Q == g.W && p1 > p0)
                    {
                        // "Same"-width stride-1 conv: rows p0..p1 of this tap are one shifted run of the input plane.
                        // Copy the run in one block (clipped to the plane), then zero the padding columns of each row.
                        long start = (long)(p0 + dh) * g.W + dw, end = start + (long)(p1 - p0) * g.Q;
                        long from = Math.Max(start, 0), to = Math.Min(end, (long)hw);
                        if (to > from)
                            Buffer.MemoryCopy(plane + from, dst + p0 * g.Q + (from - start), (to - from) * sizeof(T), (to - from) * sizeof(T));
                        if (q0 > 0 || q1 < g.Q)
                            for (int p = p0; p < p1; p++)
                            {
                                T* o = dst + p * g.Q;
                                for (int q = 0; q < q0; q++) o[q] = T.Zero;
                                for (int q = q1; q < g.Q; q++) o[q] = T.Zero;
                            }
                        continue;
                    }
                    for (int p = p0; p < p1; p++)
                    {
                        T* o = dst + p * g.Q;
                        T* src = plane + (p * g.Stride + dh) * g.W + dw;
                        for (int q = 0; q < q0; q++) o[q] = T.Zero;
                        if (g.Stride == 1) Buffer.MemoryCopy(src + q0, o + q0, len * sizeof(T), len * sizeof(T));
                        else if (g.Stride == 2) for (int q = q0; q < q1; q++) o[q] = src[2 * q];
                        else for (int q = q0; q < q1; q++) o[q] = src[q * g.Stride];
                        for (int q = q1; q < g.Q; q++) o[q] = T.Zero;
                    }
                }
            }
        }
    }

    // col: (C·R·S, P·Q) -> dx: (C, H, W) of one image (overwritten), as Col2ImReference: per tap and output row, the
    // valid columns are added back to the input row in one vector pass (stride 1) or a strided scatter.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Col2Im<T>(T* col, T* dx, in Conv2dGeometry g, long ld) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int hw = g.H * g.W;
        new Span<T>(dx, checked(g.C * hw)).Clear();
        for (int c = 0; c < g.C; c++)
        {
            T* plane = dx + (long)c * hw;
            for (int r = 0; r < g.R; r++)
            {
                int dh = r * g.Dilation - g.Padding;
                var (p0, p1) = ValidRange(g.P, g.Stride, dh, g.H);
                for (int s = 0; s < g.S; s++)
                {
                    T* src = col + ((long)(c * g.R + r) * g.S + s) * ld;
                    int dw = s * g.Dilation - g.Padding;
                    var (q0, q1) = ValidRange(g.Q, g.Stride, dw, g.W);
                    for (int p = p0; p < p1; p++)
                    {
                        T* row = src + p * g.Q;
                        T* dst = plane + (p * g.Stride + dh) * g.W + dw;
                        if (g.Stride == 1) SimdKernels.Zip<T, AddFn<T>>(dst + q0, row + q0, dst + q0, q1 - q0);
                        else for (int q = q0; q < q1; q++) dst[q * g.Stride] += row[q];
                    }
                }
            }
        }
    }

    // The plain loops Im2Col and Col2Im are tested against.
    // x: (C, H, W) of one image -> col: (C·R·S, P·Q); row (c, r, s) holds the input pixel each output position sees
    // through kernel tap (r, s), zero where that falls in the padding.
    internal static void Im2ColReference<T>(T* x, T* col, in Conv2dGeometry g) where T : unmanaged, INumberBase<T>
    {
        int pq = g.P * g.Q;
        for (int c = 0; c < g.C; c++)
        {
            T* plane = x + (long)c * g.H * g.W;
            for (int r = 0; r < g.R; r++)
                for (int s = 0; s < g.S; s++)
                {
                    T* dst = col + ((long)(c * g.R + r) * g.S + s) * pq;
                    int dh = r * g.Dilation - g.Padding, dw = s * g.Dilation - g.Padding;
                    for (int p = 0; p < g.P; p++)
                    {
                        T* out_ = dst + p * g.Q;
                        int ih = p * g.Stride + dh;
                        if ((uint)ih >= (uint)g.H)
                        {
                            new Span<T>(out_, g.Q).Clear();
                            continue;
                        }
                        T* src = plane + ih * g.W;
                        for (int q = 0; q < g.Q; q++)
                        {
                            int iw = q * g.Stride + dw;
                            out_[q] = (uint)iw < (uint)g.W ? src[iw] : T.Zero;
                        }
                    }
                }
        }
    }

    // col: (C·R·S, P·Q) -> dx: (C, H, W) of one image (overwritten): each column entry is added back to the pixel
    // Im2Col read it from.
    internal static void Col2ImReference<T>(T* col, T* dx, in Conv2dGeometry g) where T : unmanaged, INumberBase<T>
    {
        int pq = g.P * g.Q;
        new Span<T>(dx, checked(g.C * g.H * g.W)).Clear();
        for (int c = 0; c < g.C; c++)
        {
            T* plane = dx + (long)c * g.H * g.W;
            for (int r = 0; r < g.R; r++)
                for (int s = 0; s < g.S; s++)
                {
                    T* src = col + ((long)(c * g.R + r) * g.S + s) * pq;
                    int dh = r * g.Dilation - g.Padding, dw = s * g.Dilation - g.Padding;
                    for (int p = 0; p < g.P; p++)
                    {
                        int ih = p * g.Stride + dh;
                        if ((uint)ih >= (uint)g.H) continue;
                        T* dst = plane + ih * g.W;
                        T* row = src + p * g.Q;
                        for (int q = 0; q < g.Q; q++)
                        {
                            int iw = q * g.Stride + dw;
                            if ((uint)iw < (uint)g.W) dst[iw] += row[q];
                        }
                    }
                }
        }
    }

    /// <summary>c_i = op(a_i)·op(b_i) + beta·c_i for i in [0, batch), with a_i = a + i·strideA (and so on); row-major.
    /// <paramref name="onThisThread"/>: called from a body that already runs in parallel (one image per call); float32 then
    /// runs the packed driver straight on this thread, one call per group. (Gemm.SgemmStridedBatched would cut a batch
    /// smaller than 2·threads into up to 2·threads column slices, run one after another here as a nested parallel-for,
    /// each packing all of A again: 4 packs of the 2048×196 dy per image in ResNet-50's projection backward-filter at
    /// 2 threads, 2 at 1 thread.) Only where m ≥ n or k fits one KC block (se_resnet20's 8×8 stage backward-filter,
    /// 64 × 576 × 64: 10.5 -> 9.4 ms at 1 thread): with few rows and a long k (64 × 256 × 3136 in ResNet-50's 256→64
    /// 1×1 backward-filter) the column slices measured faster (13.3 against 16.2 ms at 1 thread; their C stays in L1
    /// across the KC blocks). The column split never changed an element's sum, so neither does this.</summary>
    private static void GemmBatched<T>(bool onThisThread, bool transA, bool transB, int m, int n, int k,
        T* a, int lda, long strideA, T* b, int ldb, long strideB, double beta, T* c, int ldc, long strideC, int batch)
        where T : unmanaged
    {
        if (onThisThread && typeof(T) == typeof(float) && k > 0 && (m >= n || k <= GemmPacked.KC) && (long)m * n * k > Gemm.SmallProblem
            && (System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated || System.Runtime.Intrinsics.Vector256.IsHardwareAccelerated))
        {
            bool use512 = System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated;
            for (int i = 0; i < batch; i++)
                GemmPacked.Run(use512, transA, transB, m, n, k, 1f, (float*)a + i * strideA, lda, (float*)b + i * strideB, ldb,
                    (float)beta, (float*)c + i * strideC, ldc);
            return;
        }
        if (typeof(T) == typeof(float))
            Gemm.SgemmStridedBatched(transA, transB, m, n, k, 1f, (float*)a, lda, strideA, (float*)b, ldb, strideB, (float)beta, (float*)c, ldc, strideC, batch);
        else
            Gemm.DgemmStridedBatched(transA, transB, m, n, k, 1.0, (double*)a, lda, strideA, (double*)b, ldb, strideB, beta, (double*)c, ldc, strideC, batch);
    }
}

internal sealed unsafe partial class CpuBackend
{
    // Entry points for the fast-vs-reference tests of the private im2col / col2im kernels.
    internal static void Im2ColForTests(float* x, float* col, in Conv2dGeometry g) => Im2Col(x, col, g, (long)g.P * g.Q);

    internal static void Col2ImForTests(float* col, float* dx, in Conv2dGeometry g) => Col2Im(col, dx, g, (long)g.P * g.Q);
}
