// Vector512 building blocks of the fast CPU kernels (float and double): elementwise maps over element ranges split into
// CpuParallel's fixed chunks, and per-plane sums. Elementwise results equal the scalar loops bit for bit (no FMA
// contraction); sums differ from a sequential loop only in rounding order, which is fixed for a given thread count.
// The loops are [AggressiveOptimization]: called once per plane or chunk, they would otherwise run as tier-0 code (no
// Vector512 intrinsics inlined, ~20x slower) for the first steps of a run, until call counting promotes them.
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SeFramework.Cpu;

internal static unsafe class SimdKernels
{
    /// <summary>Elements per parallel block; CpuParallel splits whole blocks so chunk edges stay vector-aligned.</summary>
    public const int Block = 4096;

    /// <summary>Fewest blocks per thread (32 K elements, ~10 µs of streaming) before an elementwise op goes parallel.</summary>
    public const int MinBlocksPerThread = 8;

    /// <summary>True where the kernels take their Vector512 paths (Zen 4+, Ice Lake+); the scalar loops otherwise.</summary>
    public static bool Accelerated => Vector512.IsHardwareAccelerated;

    /// <summary>body(start, end) over [0, n) in fixed, block-aligned chunks, in parallel when n is large.</summary>
    public static void ForRange(long n, Action<long, long> body)
    {
        if (n <= 0) return;
        long blocks = (n + Block - 1) / Block;
        if (blocks < 2 * MinBlocksPerThread || CpuParallel.MaxThreads == 1 || blocks > int.MaxValue)
        {
            body(0, n);
            return;
        }
        CpuParallel.For((int)blocks, MinBlocksPerThread, (b0, b1) => body(b0 * (long)Block, Math.Min(n, b1 * (long)Block)));
    }

    // ---- unary maps: y[i] = f(x[i], s) ----

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Map<T, TFn>(T* x, T* y, long n, T s) where T : unmanaged, IFloatingPointIeee754<T> where TFn : IUnaryFn<T>
    {
        long i = 0;
        if (Accelerated && TFn.Vectorized)
        {
            var vs = Vector512.Create(s);
            int w = Vector512<T>.Count;
            for (; i + 2 * w <= n; i += 2 * w)
            {
                TFn.Apply(Vector512.Load(x + i), vs).Store(y + i);
                TFn.Apply(Vector512.Load(x + i + w), vs).Store(y + i + w);
            }
            for (; i + w <= n; i += w) TFn.Apply(Vector512.Load(x + i), vs).Store(y + i);
        }
        for (; i < n; i++) y[i] = TFn.Apply(x[i], s);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void MapGrad<T, TFn>(T* x, T* y, T* dy, T* dx, long n, T s) where T : unmanaged, IFloatingPointIeee754<T> where TFn : IUnaryFn<T>
    {
        long i = 0;
        if (Accelerated && TFn.Vectorized)
        {
            var vs = Vector512.Create(s);
            int w = Vector512<T>.Count;
            for (; i + w <= n; i += w)
                TFn.Grad(Vector512.Load(x + i), Vector512.Load(y + i), Vector512.Load(dy + i), vs).Store(dx + i);
        }
        for (; i < n; i++) dx[i] = TFn.Grad(x[i], y[i], dy[i], s);
    }

    // ---- binary maps: c[i] = f(a[i], b[i]) (b broadcast as one scalar when bScalar) ----

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Zip<T, TFn>(T* a, T* b, T* c, long n) where T : unmanaged, IFloatingPointIeee754<T> where TFn : IBinaryFn<T>
    {
        long i = 0;
        if (Accelerated)
        {
            int w = Vector512<T>.Count;
            for (; i + 2 * w <= n; i += 2 * w)
            {
                TFn.Apply(Vector512.Load(a + i), Vector512.Load(b + i)).Store(c + i);
                TFn.Apply(Vector512.Load(a + i + w), Vector512.Load(b + i + w)).Store(c + i + w);
            }
            for (; i + w <= n; i += w) TFn.Apply(Vector512.Load(a + i), Vector512.Load(b + i)).Store(c + i);
        }
        for (; i < n; i++) c[i] = TFn.Apply(a[i], b[i]);
    }

    /// <summary>c[i] = f(a[i], b) for one scalar b (a row against a broadcast value).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void ZipScalarB<T, TFn>(T* a, T b, T* c, long n) where T : unmanaged, IFloatingPointIeee754<T> where TFn : IBinaryFn<T>
    {
        long i = 0;
        if (Accelerated)
        {
            int w = Vector512<T>.Count;
            var vb = Vector512.Create(b);
            for (; i + w <= n; i += w) TFn.Apply(Vector512.Load(a + i), vb).Store(c + i);
        }
        for (; i < n; i++) c[i] = TFn.Apply(a[i], b);
    }

    /// <summary>c[i] = f(a, b[i]) for one scalar a.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void ZipScalarA<T, TFn>(T a, T* b, T* c, long n) where T : unmanaged, IFloatingPointIeee754<T> where TFn : IBinaryFn<T>
    {
        long i = 0;
        if (Accelerated)
        {
            int w = Vector512<T>.Count;
            var va = Vector512.Create(a);
            for (; i + w <= n; i += w) TFn.Apply(va, Vector512.Load(b + i)).Store(c + i);
        }
        for (; i < n; i++) c[i] = TFn.Apply(a, b[i]);
    }

    // ---- plane sums ----

    /// <summary>Σ x[i] over one plane: Vector512 partial sums in T (4 accumulators), the total in double.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static double Sum<T>(T* x, int n) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int i = 0;
        double total = 0;
        if (Accelerated)
        {
            int w = Vector512<T>.Count;
            Vector512<T> a0 = Vector512<T>.Zero, a1 = a0, a2 = a0, a3 = a0;
            for (; i + 4 * w <= n; i += 4 * w)
            {
                a0 += Vector512.Load(x + i);
                a1 += Vector512.Load(x + i + w);
                a2 += Vector512.Load(x + i + 2 * w);
                a3 += Vector512.Load(x + i + 3 * w);
            }
            for (; i + w <= n; i += w) a0 += Vector512.Load(x + i);
            total = HorizontalSum((a0 + a1) + (a2 + a3));
        }
        for (; i < n; i++) total += double.CreateTruncating(x[i]);
        return total;
    }

    /// <summary>Σ (x[i] − shift) and Σ (x[i] − shift)² over one plane (shifted sums keep the one-pass variance stable).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static (double S1, double S2) ShiftedSums<T>(T* x, int n, T shift) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int i = 0;
        double s1 = 0, s2 = 0;
        if (Accelerated)
        {
            int w = Vector512<T>.Count;
            var vk = Vector512.Create(shift);
            Vector512<T> a0 = Vector512<T>.Zero, a1 = a0, q0 = a0, q1 = a0;
            for (; i + 2 * w <= n; i += 2 * w)
            {
                var d0 = Vector512.Load(x + i) - vk;
                var d1 = Vector512.Load(x + i + w) - vk;
                a0 += d0;
                a1 += d1;
                q0 += d0 * d0;
                q1 += d1 * d1;
            }
            for (; i + w <= n; i += w)
            {
                var d0 = Vector512.Load(x + i) - vk;
                a0 += d0;
                q0 += d0 * d0;
            }
            s1 = HorizontalSum(a0 + a1);
            s2 = HorizontalSum(q0 + q1);
        }
        for (; i < n; i++)
        {
            double d = double.CreateTruncating(x[i] - shift);
            s1 += d;
            s2 += d * d;
        }
        return (s1, s2);
    }

    /// <summary>Σ g[i] and Σ g[i]·(x[i] − mean) over one plane (the batch-norm backward sums). reluOutput (not null):
    /// g[i] counts only where reluOutput[i] > 0 (the fused ReLU's backward), exactly as if g had been masked first.</summary>
    public static (double SumG, double SumGX) GradSums<T>(T* g, T* x, int n, T mean, T* reluOutput = null) where T : unmanaged, IFloatingPointIeee754<T>
        => reluOutput == null ? GradSums<T, Unmasked>(g, x, null, n, mean) : GradSums<T, ReluMasked>(g, x, reluOutput, n, mean);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static (double SumG, double SumGX) GradSums<T, TGrad>(T* g, T* x, T* r, int n, T mean)
        where T : unmanaged, IFloatingPointIeee754<T> where TGrad : IGradientRead
    {
        int i = 0;
        double sg = 0, sgx = 0;
        if (Accelerated)
        {
            int w = Vector512<T>.Count;
            var vm = Vector512.Create(mean);
            Vector512<T> a0 = Vector512<T>.Zero, a1 = a0, b0 = a0, b1 = a0;
            for (; i + 2 * w <= n; i += 2 * w)
            {
                var g0 = Gradient<T, TGrad>(g, r, i);
                var g1 = Gradient<T, TGrad>(g, r, i + w);
                a0 += g0;
                a1 += g1;
                b0 += g0 * (Vector512.Load(x + i) - vm);
                b1 += g1 * (Vector512.Load(x + i + w) - vm);
            }
            for (; i + w <= n; i += w)
            {
                var g0 = Gradient<T, TGrad>(g, r, i);
                a0 += g0;
                b0 += g0 * (Vector512.Load(x + i) - vm);
            }
            sg = HorizontalSum(a0 + a1);
            sgx = HorizontalSum(b0 + b1);
        }
        for (; i < n; i++)
        {
            double gi = double.CreateTruncating(GradientAt<T, TGrad>(g, r, i));
            sg += gi;
            sgx += gi * (double.CreateTruncating(x[i]) - double.CreateTruncating(mean));
        }
        return (sg, sgx);
    }

    // How a batch-norm backward kernel reads its incoming gradient g: as it is, or masked by the fused ReLU's output r
    // (g[i] where r[i] > 0, else 0). Struct type arguments, so the JIT compiles each kernel once per reading, no branch.
    internal interface IGradientRead
    {
        static abstract bool Masked { get; }
    }

    internal readonly struct Unmasked : IGradientRead
    {
        public static bool Masked => false;
    }

    internal readonly struct ReluMasked : IGradientRead
    {
        public static bool Masked => true;
    }

    // g[i .. i + 16) (Vector512 lanes), masked by r when TGrad says so.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<T> Gradient<T, TGrad>(T* g, T* r, int i) where T : unmanaged, IFloatingPointIeee754<T> where TGrad : IGradientRead
        => TGrad.Masked
            ? Vector512.ConditionalSelect(Vector512.GreaterThan(Vector512.Load(r + i), Vector512<T>.Zero), Vector512.Load(g + i), Vector512<T>.Zero)
            : Vector512.Load(g + i);

    // g[i], masked by r when TGrad says so.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static T GradientAt<T, TGrad>(T* g, T* r, int i) where T : unmanaged, IFloatingPointIeee754<T> where TGrad : IGradientRead
        => TGrad.Masked && !(r[i] > T.Zero) ? T.Zero : g[i];

    // ---- broadcast fill (the GAP backward) ----

    /// <summary>Outputs at least this large (the 32 MiB L3 of the Zen 4 target) are filled with non-temporal stores: they
    /// cannot stay in cache for the next op anyway, and streaming stores skip the read-for-ownership of each line.</summary>
    public const long NonTemporalBytes = 32L << 20;

    /// <summary>Whether <see cref="Fill{T}"/> can stream (Vector512 and x86 store fences available).</summary>
    public static bool CanStream => Accelerated && Sse.IsSupported;

    /// <summary>dst[i] = v for i in [0, n). nonTemporal (only where <see cref="CanStream"/>): scalar stores up to the
    /// next 64-byte boundary, then aligned streaming stores, then a scalar tail; the caller must call
    /// <see cref="StoreFence"/> before another thread reads dst.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Fill<T>(T* dst, int n, T v, bool nonTemporal) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!nonTemporal || !CanStream)
        {
            new Span<T>(dst, n).Fill(v);
            return;
        }
        int i = 0;
        for (; i < n && ((nint)(dst + i) & 63) != 0; i++) dst[i] = v;
        int w = Vector512<T>.Count;
        var vv = Vector512.Create(v);
        for (; i + 2 * w <= n; i += 2 * w)
        {
            vv.StoreAlignedNonTemporal(dst + i);
            vv.StoreAlignedNonTemporal(dst + i + w);
        }
        for (; i + w <= n; i += w) vv.StoreAlignedNonTemporal(dst + i);
        for (; i < n; i++) dst[i] = v;
    }

    /// <summary>Orders this thread's streaming stores before its later stores (sfence); a no-op where they are not used.</summary>
    public static void StoreFence()
    {
        if (CanStream) Sse.StoreFence();
    }

    /// <summary>The lanes of v added in double, in a fixed order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static double HorizontalSum<T>(Vector512<T> v) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float))
        {
            var f = v.AsSingle();
            var (lo, hi) = Vector512.Widen(f);
            return Vector512.Sum(lo + hi);
        }
        return double.CreateTruncating(Vector512.Sum(v));
    }

    // ---- affine maps ----

    /// <summary>y[i] = x[i]·scale + shift (then max(·, 0) when relu). Unfused multiply and add, as the scalar loop.
    /// stream (where <see cref="CanStream"/>): y is written with aligned non-temporal stores after a scalar head up to the
    /// next 64-byte boundary (the same values); the caller fences (<see cref="StoreFence"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void ScaleShift<T>(T* x, T* y, int n, T scale, T shift, bool relu, bool stream = false) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int i = 0;
        if (Accelerated)
        {
            stream &= CanStream;
            if (stream)
                for (; i < n && ((nint)(y + i) & 63) != 0; i++)
                {
                    T v = x[i] * scale + shift;
                    y[i] = relu && !(v > T.Zero) ? T.Zero : v;
                }
            int w = Vector512<T>.Count;
            var vs = Vector512.Create(scale);
            var vb = Vector512.Create(shift);
            if (relu)
                for (; i + w <= n; i += w)
                {
                    var v = Vector512.Load(x + i) * vs + vb;
                    v = Vector512.ConditionalSelect(Vector512.GreaterThan(v, Vector512<T>.Zero), v, Vector512<T>.Zero);
                    if (stream) v.StoreAlignedNonTemporal(y + i);
                    else v.Store(y + i);
                }
            else if (stream)
                for (; i + w <= n; i += w) (Vector512.Load(x + i) * vs + vb).StoreAlignedNonTemporal(y + i);
            else
                for (; i + w <= n; i += w) (Vector512.Load(x + i) * vs + vb).Store(y + i);
        }
        for (; i < n; i++)
        {
            T v = x[i] * scale + shift;
            y[i] = relu && !(v > T.Zero) ? T.Zero : v;
        }
    }
}

internal static unsafe partial class SimdNn
{
    /// <summary>dx[i] = (k·dy[i] + a·x[i]) + b: the batch-norm backward's one multiply-add pass (same order as the scalar loop).
    /// stream: dx written with aligned non-temporal stores after a scalar head (as SimdKernels.ScaleShift; the caller fences).
    /// reluOutput (not null): dy[i] is taken as (reluOutput[i] > 0 ? dy[i] : 0), the fused ReLU's backward.</summary>
    public static void BnBackwardPass<T>(T* dy, T* x, T* dx, int n, T k, T a, T b, bool stream = false, T* reluOutput = null) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (reluOutput == null) BnBackwardPass<T, SimdKernels.Unmasked>(dy, x, null, dx, n, k, a, b, stream);
        else BnBackwardPass<T, SimdKernels.ReluMasked>(dy, x, reluOutput, dx, n, k, a, b, stream);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void BnBackwardPass<T, TGrad>(T* dy, T* x, T* r, T* dx, int n, T k, T a, T b, bool stream)
        where T : unmanaged, IFloatingPointIeee754<T> where TGrad : SimdKernels.IGradientRead
    {
        int i = 0;
        if (SimdKernels.Accelerated)
        {
            int w = Vector512<T>.Count;
            var vk = Vector512.Create(k);
            var va = Vector512.Create(a);
            var vb = Vector512.Create(b);
            if (stream && SimdKernels.CanStream)
            {
                for (; i < n && ((nint)(dx + i) & 63) != 0; i++) dx[i] = k * SimdKernels.GradientAt<T, TGrad>(dy, r, i) + a * x[i] + b;
                for (; i + w <= n; i += w)
                    (vk * SimdKernels.Gradient<T, TGrad>(dy, r, i) + va * Vector512.Load(x + i) + vb).StoreAlignedNonTemporal(dx + i);
            }
            for (; i + w <= n; i += w) (vk * SimdKernels.Gradient<T, TGrad>(dy, r, i) + va * Vector512.Load(x + i) + vb).Store(dx + i);
        }
        for (; i < n; i++) dx[i] = k * SimdKernels.GradientAt<T, TGrad>(dy, r, i) + a * x[i] + b;
    }

    /// <summary>o[i] = s·x[i] + y[i] (y null: s·x[i]), then ReLU when relu; one (n, c) plane of Axpy.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void AxpyPlane<T>(T s, T* x, T* y, T* o, int n, bool relu) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int i = 0;
        if (SimdKernels.Accelerated)
        {
            int w = Vector512<T>.Count;
            var vs = Vector512.Create(s);
            var zero = Vector512<T>.Zero;
            if (y == null)
            {
                for (; i + w <= n; i += w)
                {
                    var v = vs * Vector512.Load(x + i);
                    (relu ? Vector512.ConditionalSelect(Vector512.GreaterThan(v, zero), v, zero) : v).Store(o + i);
                }
            }
            else if (relu)
            {
                for (; i + 2 * w <= n; i += 2 * w)
                {
                    var v0 = vs * Vector512.Load(x + i) + Vector512.Load(y + i);
                    var v1 = vs * Vector512.Load(x + i + w) + Vector512.Load(y + i + w);
                    Vector512.ConditionalSelect(Vector512.GreaterThan(v0, zero), v0, zero).Store(o + i);
                    Vector512.ConditionalSelect(Vector512.GreaterThan(v1, zero), v1, zero).Store(o + i + w);
                }
                for (; i + w <= n; i += w)
                {
                    var v = vs * Vector512.Load(x + i) + Vector512.Load(y + i);
                    Vector512.ConditionalSelect(Vector512.GreaterThan(v, zero), v, zero).Store(o + i);
                }
            }
            else
            {
                for (; i + w <= n; i += w) (vs * Vector512.Load(x + i) + Vector512.Load(y + i)).Store(o + i);
            }
        }
        for (; i < n; i++)
        {
            T v = y == null ? s * x[i] : s * x[i] + y[i];
            o[i] = relu && !(v > T.Zero) ? T.Zero : v;
        }
    }

    /// <summary>One plane of the Axpy backward: g = dOut (masked by o > 0 when relu), dx = s·g, dy = g (each when not
    /// null); returns Σ g·x (Vector512 partial sums in T, the total in double).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static double AxpyBackwardPlane<T>(T s, T* x, T* o, T* gOut, T* dx, T* dy, int n, bool relu) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int i = 0;
        double total = 0;
        if (SimdKernels.Accelerated)
        {
            int w = Vector512<T>.Count;
            var vs = Vector512.Create(s);
            var zero = Vector512<T>.Zero;
            Vector512<T> acc0 = zero, acc1 = zero;
            for (; i + 2 * w <= n; i += 2 * w)
            {
                var g0 = Vector512.Load(gOut + i);
                var g1 = Vector512.Load(gOut + i + w);
                if (relu)
                {
                    g0 = Vector512.ConditionalSelect(Vector512.GreaterThan(Vector512.Load(o + i), zero), g0, zero);
                    g1 = Vector512.ConditionalSelect(Vector512.GreaterThan(Vector512.Load(o + i + w), zero), g1, zero);
                }
                if (dx != null)
                {
                    (vs * g0).Store(dx + i);
                    (vs * g1).Store(dx + i + w);
                }
                if (dy != null)
                {
                    g0.Store(dy + i);
                    g1.Store(dy + i + w);
                }
                acc0 += g0 * Vector512.Load(x + i);
                acc1 += g1 * Vector512.Load(x + i + w);
            }
            for (; i + w <= n; i += w)
            {
                var g0 = Vector512.Load(gOut + i);
                if (relu) g0 = Vector512.ConditionalSelect(Vector512.GreaterThan(Vector512.Load(o + i), zero), g0, zero);
                if (dx != null) (vs * g0).Store(dx + i);
                if (dy != null) g0.Store(dy + i);
                acc0 += g0 * Vector512.Load(x + i);
            }
            total = SimdKernels.HorizontalSum(acc0 + acc1);
        }
        for (; i < n; i++)
        {
            T g = relu && !(o[i] > T.Zero) ? T.Zero : gOut[i];
            if (dx != null) dx[i] = s * g;
            if (dy != null) dy[i] = g;
            total += double.CreateTruncating(g * x[i]);
        }
        return total;
    }
}
