// The CPU backend's core op families (copy, fill, elementwise, reductions, matmul) as generic kernels over float and
// double. Neural-network op families (conv, pooling, batch norm, Axpy, losses, SGD) are in the CpuBackend.*.cs files.
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using SeFramework.Backends;

namespace SeFramework.Cpu;

internal sealed unsafe partial class CpuBackend : IBackend
{
    public Device Device => Device.Cpu;

    public Storage Allocate(DType dtype, long length, bool zero) => new CpuStorage(dtype, length, zero);

    // ---- copy / fill ----

    public void Copy(Tensor src, Tensor dst)
    {
        using var _profile = CpuProfiler.Op(CpuProfiler.Enabled ? $"Copy.{(src.IsContiguous ? "dense" : "strided")}{(src.DType != dst.DType ? ".cast" : "")}.{string.Join("x", src.Shape)}" : null);
        switch (src.DType, dst.DType)
        {
            case (DType.Float32, DType.Float32): CopyKernel<float, float>(src, dst); break;
            case (DType.Float64, DType.Float64): CopyKernel<double, double>(src, dst); break;
            case (DType.Float32, DType.Float64): CopyKernel<float, double>(src, dst); break;
            case (DType.Float64, DType.Float32): CopyKernel<double, float>(src, dst); break;
            default:
                if (src.DType == dst.DType) { CopyRaw(src, dst); break; }
                throw new NotSupportedException($"copy from {src.DType} to {dst.DType} on the CPU");
        }
    }

    private static void CopyKernel<TS, TD>(Tensor src, Tensor dst)
        where TS : unmanaged, INumberBase<TS> where TD : unmanaged, INumberBase<TD>
    {
        TS* s = (TS*)((CpuStorage)src.Storage).Pointer;
        TD* d = (TD*)((CpuStorage)dst.Storage).Pointer;
        var shape = src.Layout.Shape;
        if (src.IsContiguous && dst.IsContiguous)
        {
            TS* sp = s + src.Layout.Offset;
            TD* dp = d + dst.Layout.Offset;
            long n = src.NumElements;
            if (typeof(TS) == typeof(TD)) Buffer.MemoryCopy(sp, dp, n * sizeof(TD), n * sizeof(TS));
            else for (long i = 0; i < n; i++) dp[i] = TD.CreateTruncating(sp[i]);
            return;
        }
        if (dst.IsContiguous)
        {
            // A broadcast over trailing dims (the GAP's (N, C, 1, 1) gradient expanded to (N, C, H, W)): one fill per
            // plane, in parallel over planes.
            var (planes, area) = TrailingBroadcast(src.Layout);
            if (area > 1 && planes <= int.MaxValue && area <= int.MaxValue)
            {
                nint sA = (nint)(s + src.Layout.Offset), dA = (nint)(d + dst.Layout.Offset);
                ForEachItem((int)planes, area, p => new Span<TD>((TD*)dA + p * area, (int)area).Fill(TD.CreateTruncating(((TS*)sA)[p])));
                return;
            }
        }
        int inner = StridedIndex.InnerSize(shape);
        var ss = src.Layout.StridesArray;
        var ds = dst.Layout.StridesArray;
        long si = StridedIndex.InnerStride(ss), di = StridedIndex.InnerStride(ds);
        bool sameType = typeof(TS) == typeof(TD);
        StridedIndex.ForEachRow(shape, new[] { ss, ds }, new[] { src.Layout.Offset, dst.Layout.Offset }, (_, off) =>
        {
            TS* sp = s + off[0];
            TD* dp = d + off[1];
            // Dense destination rows: a broadcast source row (stride 0, e.g. an expanded gradient) is a fill, a dense one
            // a block copy; other strides walk element by element.
            if (di == 1 && si == 0) new Span<TD>(dp, inner).Fill(TD.CreateTruncating(sp[0]));
            else if (di == 1 && si == 1 && sameType) Buffer.MemoryCopy(sp, dp, (long)inner * sizeof(TD), (long)inner * sizeof(TS));
            else for (int i = 0; i < inner; i++) dp[i * di] = TD.CreateTruncating(sp[i * si]);
        });
    }

    private static void CopyRaw(Tensor src, Tensor dst)
    {
        if (!src.IsContiguous || !dst.IsContiguous) throw new NotSupportedException($"strided copy of {src.DType} tensors on the CPU");
        int es = src.DType.ElementSize();
        byte* s = (byte*)((CpuStorage)src.Storage).Pointer + src.Layout.Offset * es;
        byte* d = (byte*)((CpuStorage)dst.Storage).Pointer + dst.Layout.Offset * es;
        Buffer.MemoryCopy(s, d, src.NumElements * es, src.NumElements * es);
    }

    public void Fill(Tensor dst, double value)
    {
        using var _profile = CpuProfiler.Op("Fill");
        if (dst.DType == DType.Float32) dst.Span<float>().Fill((float)value);
        else if (dst.DType == DType.Float64) dst.Span<double>().Fill(value);
        else throw new NotSupportedException($"fill of {dst.DType} on the CPU");
    }

    // ---- elementwise ----

    public void Unary(UnaryOp op, Tensor x, Tensor y, double scalar)
    {
        using var _profile = CpuProfiler.Op(CpuProfiler.Enabled ? "Unary." + op : null);
        if (x.DType == DType.Float32) UnaryDispatch<float>(op, x, y, (float)scalar);
        else UnaryDispatch<double>(op, x, y, scalar);
    }

    private static void UnaryDispatch<T>(UnaryOp op, Tensor x, Tensor y, T s) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var xs = x.Span<T>();
        var ys = y.Span<T>();
        switch (op)
        {
            case UnaryOp.Neg: Map<T, NegFn<T>>(xs, ys, s); break;
            case UnaryOp.Exp: Map<T, ExpFn<T>>(xs, ys, s); break;
            case UnaryOp.Log: Map<T, LogFn<T>>(xs, ys, s); break;
            case UnaryOp.Sqrt: Map<T, SqrtFn<T>>(xs, ys, s); break;
            case UnaryOp.Relu: Map<T, ReluFn<T>>(xs, ys, s); break;
            case UnaryOp.Sigmoid: Map<T, SigmoidFn<T>>(xs, ys, s); break;
            case UnaryOp.Tanh: Map<T, TanhFn<T>>(xs, ys, s); break;
            case UnaryOp.Pow: Map<T, PowFn<T>>(xs, ys, s); break;
            case UnaryOp.MulScalar: Map<T, MulScalarFn<T>>(xs, ys, s); break;
            case UnaryOp.AddScalar: Map<T, AddScalarFn<T>>(xs, ys, s); break;
            case UnaryOp.Abs: Map<T, AbsFn<T>>(xs, ys, s); break;
            default: throw new NotSupportedException(op.ToString());
        }
    }

    // x, y: contiguous, same length. Vector512 where the op has a vector form, in parallel chunks when large.
    private static void Map<T, TFn>(Span<T> x, Span<T> y, T s) where T : unmanaged, IFloatingPointIeee754<T> where TFn : IUnaryFn<T>
    {
        nint xa = Addr(x), ya = Addr(y);
        SimdKernels.ForRange(x.Length, (i0, i1) => SimdKernels.Map<T, TFn>((T*)xa + i0, (T*)ya + i0, i1 - i0, s));
    }

    /// <summary>The plain loop <see cref="Map{T, TFn}"/> is tested against.</summary>
    internal static void ReferenceMap<T, TFn>(ReadOnlySpan<T> x, Span<T> y, T s) where TFn : IUnaryFn<T>
    {
        for (int i = 0; i < x.Length; i++) y[i] = TFn.Apply(x[i], s);
    }

    public void UnaryBackward(UnaryOp op, Tensor x, Tensor y, Tensor dy, Tensor dx, double scalar)
    {
        using var _profile = CpuProfiler.Op(CpuProfiler.Enabled ? "UnaryBackward." + op : null);
        if (x.DType == DType.Float32) UnaryGradDispatch<float>(op, x, y, dy, dx, (float)scalar);
        else UnaryGradDispatch<double>(op, x, y, dy, dx, scalar);
    }

    private static void UnaryGradDispatch<T>(UnaryOp op, Tensor x, Tensor y, Tensor dy, Tensor dx, T s) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var xs = x.Span<T>();
        var ys = y.Span<T>();
        var gs = dy.Span<T>();
        var os = dx.Span<T>();
        switch (op)
        {
            case UnaryOp.Neg: MapGrad<T, NegFn<T>>(xs, ys, gs, os, s); break;
            case UnaryOp.Exp: MapGrad<T, ExpFn<T>>(xs, ys, gs, os, s); break;
            case UnaryOp.Log: MapGrad<T, LogFn<T>>(xs, ys, gs, os, s); break;
            case UnaryOp.Sqrt: MapGrad<T, SqrtFn<T>>(xs, ys, gs, os, s); break;
            case UnaryOp.Relu: MapGrad<T, ReluFn<T>>(xs, ys, gs, os, s); break;
            case UnaryOp.Sigmoid: MapGrad<T, SigmoidFn<T>>(xs, ys, gs, os, s); break;
            case UnaryOp.Tanh: MapGrad<T, TanhFn<T>>(xs, ys, gs, os, s); break;
            case UnaryOp.Pow: MapGrad<T, PowFn<T>>(xs, ys, gs, os, s); break;
            case UnaryOp.MulScalar: MapGrad<T, MulScalarFn<T>>(xs, ys, gs, os, s); break;
            case UnaryOp.AddScalar: MapGrad<T, AddScalarFn<T>>(xs, ys, gs, os, s); break;
            case UnaryOp.Abs: MapGrad<T, AbsFn<T>>(xs, ys, gs, os, s); break;
            default: throw new NotSupportedException(op.ToString());
        }
    }

    private static void MapGrad<T, TFn>(Span<T> x, Span<T> y, Span<T> dy, Span<T> dx, T s) where T : unmanaged, IFloatingPointIeee754<T> where TFn : IUnaryFn<T>
    {
        nint xa = Addr(x), ya = Addr(y), ga = Addr(dy), da = Addr(dx);
        SimdKernels.ForRange(x.Length, (i0, i1) => SimdKernels.MapGrad<T, TFn>((T*)xa + i0, (T*)ya + i0, (T*)ga + i0, (T*)da + i0, i1 - i0, s));
    }

    /// <summary>The plain loop <see cref="MapGrad{T, TFn}"/> is tested against.</summary>
    internal static void ReferenceMapGrad<T, TFn>(ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> dx, T s) where TFn : IUnaryFn<T>
    {
        for (int i = 0; i < x.Length; i++) dx[i] = TFn.Grad(x[i], y[i], dy[i], s);
    }

    private static nint Addr<T>(Span<T> s) where T : unmanaged => (nint)Unsafe.AsPointer(ref MemoryMarshal.GetReference(s));

    public void Binary(BinaryOp op, Tensor a, Tensor b, Tensor c)
    {
        using var _profile = CpuProfiler.Op(CpuProfiler.Enabled ? "Binary." + op : null);
        if (c.DType == DType.Float32) BinaryDispatch<float>(op, a, b, c);
        else BinaryDispatch<double>(op, a, b, c);
    }

    private static void BinaryDispatch<T>(BinaryOp op, Tensor a, Tensor b, Tensor c) where T : unmanaged, IFloatingPointIeee754<T>
    {
        switch (op)
        {
            case BinaryOp.Add: BinaryKernel<T, AddFn<T>>(a, b, c); break;
            case BinaryOp.Sub: BinaryKernel<T, SubFn<T>>(a, b, c); break;
            case BinaryOp.Mul: BinaryKernel<T, MulFn<T>>(a, b, c); break;
            case BinaryOp.Div: BinaryKernel<T, DivFn<T>>(a, b, c); break;
            default: throw new NotSupportedException(op.ToString());
        }
    }

    // a, b: views expanded to c's shape (stride 0 on broadcast dims); c: contiguous.
    // Same-layout operands: one Vector512 zip over parallel chunks. Broadcast rows: a zip, or a zip against a scalar
    // when one side has inner stride 0 (a bias or scale broadcast along the last dim), else the strided loop.
    private static void BinaryKernel<T, TFn>(Tensor a, Tensor b, Tensor c) where T : unmanaged, IFloatingPointIeee754<T> where TFn : IBinaryFn<T>
    {
        T* ap = (T*)((CpuStorage)a.Storage).Pointer;
        T* bp = (T*)((CpuStorage)b.Storage).Pointer;
        T* cp = c.Pointer<T>();
        if (a.IsContiguous && b.IsContiguous)
        {
            nint x = (nint)(ap + a.Layout.Offset), y = (nint)(bp + b.Layout.Offset), z = (nint)cp;
            SimdKernels.ForRange(c.NumElements, (i0, i1) => SimdKernels.Zip<T, TFn>((T*)x + i0, (T*)y + i0, (T*)z + i0, i1 - i0));
            return;
        }
        var shape = c.Layout.Shape;
        int inner = StridedIndex.InnerSize(shape);
        var sa = a.Layout.StridesArray;
        var sb = b.Layout.StridesArray;
        long ia = StridedIndex.InnerStride(sa), ib = StridedIndex.InnerStride(sb);
        StridedIndex.ForEachRow(shape, new[] { sa, sb }, new[] { a.Layout.Offset, b.Layout.Offset }, (row, off) =>
        {
            T* x = ap + off[0];
            T* y = bp + off[1];
            T* z = cp + row * inner;
            if (ia == 1 && ib == 1) SimdKernels.Zip<T, TFn>(x, y, z, inner);
            else if (ia == 1 && ib == 0) SimdKernels.ZipScalarB<T, TFn>(x, *y, z, inner);
            else if (ia == 0 && ib == 1) SimdKernels.ZipScalarA<T, TFn>(*x, y, z, inner);
            else for (int i = 0; i < inner; i++) z[i] = TFn.Apply(x[i * ia], y[i * ib]);
        });
    }

    // y (contiguous) += x (y's shape; dense or a broadcast view). Dense x: one parallel Vector512 zip. x dense over its
    // leading dims and stride 0 over the trailing ones (a (N, C, 1, 1) gradient expanded to (N, C, H, W), as the GAP
    // backward returns): each plane of y gets its one value added, in parallel over planes. Else the strided loop. The
    // values are those of y[i] + x[i] in every case (the autograd engine sums gradients with this).
    public void AddInPlace(Tensor y, Tensor x)
    {
        var (planes, area) = x.IsContiguous ? (0L, 0L) : TrailingBroadcast(x.Layout);
        using var _profile = CpuProfiler.Op(area > 1 ? "AddInPlace.broadcast" : "AddInPlace");
        if (area > 1 && planes <= int.MaxValue)
        {
            if (y.DType == DType.Float32) AddPlaneScalars<float>((nint)y.Pointer<float>(), (nint)((float*)((CpuStorage)x.Storage).Pointer + x.Layout.Offset), (int)planes, area);
            else AddPlaneScalars<double>((nint)y.Pointer<double>(), (nint)((double*)((CpuStorage)x.Storage).Pointer + x.Layout.Offset), (int)planes, area);
            return;
        }
        if (y.DType == DType.Float32) BinaryKernel<float, AddFn<float>>(y, x, y);
        else BinaryKernel<double, AddFn<double>>(y, x, y);
    }

    /// <summary>(planes, area) when the view x is dense (row-major, no gaps) over its leading dims and has stride 0 over
    /// its trailing dims (size-1 dims count as either), so element (p, j) of its (planes, area) flattening is x[p];
    /// (0, 0) otherwise.</summary>
    internal static (long Planes, long Area) TrailingBroadcast(Layout x)
    {
        var shape = x.Shape;
        var strides = x.Strides;
        int k = shape.Length;
        while (k > 0 && (strides[k - 1] == 0 || shape[k - 1] == 1)) k--;
        long area = 1, planes = 1;
        for (int d = k; d < shape.Length; d++) area *= shape[d];
        for (int d = k - 1; d >= 0; d--)
        {
            if (shape[d] != 1 && strides[d] != planes) return (0, 0);
            planes *= shape[d];
        }
        return (planes, area);
    }

    // y: (planes, area) contiguous, x: (planes): y[p, j] += x[p].
    private static void AddPlaneScalars<T>(nint yA, nint xA, int planes, long area) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ForEachItem(planes, area, p =>
        {
            T* row = (T*)yA + p * area;
            SimdKernels.ZipScalarB<T, AddFn<T>>(row, ((T*)xA)[p], row, area);
        });
    }

    // ---- reductions ----

    // x: (n) -> Σ x: blocks of SumBlock elements summed by SimdKernels.Sum (64 lanes, ≤ 64 values each in T), the block
    // totals added in double, so a float sum of millions of values keeps the accuracy of double accumulation.
    private const int SumBlock = 4096;

    private static double BlockedSum<T>(T* x, int n) where T : unmanaged, IFloatingPointIeee754<T>
    {
        double total = 0;
        for (int i = 0; i < n; i += SumBlock) total += SimdKernels.Sum(x + i, Math.Min(SumBlock, n - i));
        return total;
    }

    // x: any layout; reduce[d] marks summed dims; y: contiguous with size 1 on reduced dims.
    // Accumulates in double so float32 sums over large planes keep their precision.
    public void Sum(Tensor x, bool[] reduce, Tensor y)
    {
        using var _profile = CpuProfiler.Op("Sum");
        if (y.NumElements == 1 && x.IsContiguous && x.NumElements <= int.MaxValue)
        {
            // Sum of a whole dense tensor (a loss, or a benchmark's y.Sum()): one Vector512 pass.
            if (x.DType == DType.Float32) y.Span<float>()[0] = (float)BlockedSum((float*)((CpuStorage)x.Storage).Pointer + x.Layout.Offset, (int)x.NumElements);
            else y.Span<double>()[0] = BlockedSum((double*)((CpuStorage)x.Storage).Pointer + x.Layout.Offset, (int)x.NumElements);
            return;
        }
        var acc = new double[y.NumElements];
        var shape = x.Layout.Shape;
        int rank = shape.Length;
        var ys = new long[rank];
        var yc = Layout.ContiguousStrides(y.Layout.Shape);
        for (int d = 0; d < rank; d++) ys[d] = reduce[d] ? 0 : yc[d];
        int inner = StridedIndex.InnerSize(shape);
        var xs = x.Layout.StridesArray;
        long ix = StridedIndex.InnerStride(xs), iy = StridedIndex.InnerStride(ys);
        if (x.DType == DType.Float32)
        {
            float* xp = (float*)((CpuStorage)x.Storage).Pointer;
            StridedIndex.ForEachRow(shape, new[] { xs, ys }, new[] { x.Layout.Offset, 0L }, (_, off) =>
            {
                float* p = xp + off[0];
                long o = off[1];
                if (iy == 0)
                {
                    double s = 0;
                    for (int i = 0; i < inner; i++) s += p[i * ix];
                    acc[o] += s;
                }
                else for (int i = 0; i < inner; i++) acc[o + i * iy] += p[i * ix];
            });
            var dst = y.Span<float>();
            for (int i = 0; i < acc.Length; i++) dst[i] = (float)acc[i];
        }
        else
        {
            double* xp = (double*)((CpuStorage)x.Storage).Pointer;
            StridedIndex.ForEachRow(shape, new[] { xs, ys }, new[] { x.Layout.Offset, 0L }, (_, off) =>
            {
                double* p = xp + off[0];
                long o = off[1];
                for (int i = 0; i < inner; i++) acc[o + i * iy] += p[i * ix];
            });
            acc.AsSpan().CopyTo(y.Span<double>());
        }
    }

    public void MaxRows(Tensor x, Tensor values, long[] indices)
    {
        using var _profile = CpuProfiler.Op("MaxRows");
        int rows = (int)values.NumElements;
        int cols = rows == 0 ? 0 : (int)(x.NumElements / rows);
        if (x.DType == DType.Float32) MaxRowsKernel(x.Span<float>(), values.Span<float>(), indices, rows, cols);
        else MaxRowsKernel(x.Span<double>(), values.Span<double>(), indices, rows, cols);
    }

    private static void MaxRowsKernel<T>(Span<T> x, Span<T> v, long[] idx, int rows, int cols) where T : IFloatingPointIeee754<T>
    {
        for (int r = 0; r < rows; r++)
        {
            var row = x.Slice(r * cols, cols);
            int best = 0;
            T bv = row[0];
            for (int i = 1; i < cols; i++)
            {
                // NaN propagates as the max, like PyTorch.
                if (row[i] > bv || (T.IsNaN(row[i]) && !T.IsNaN(bv)))
                {
                    bv = row[i];
                    best = i;
                }
            }
            v[r] = bv;
            idx[r] = best;
        }
    }

    // ---- matmul ----

    public void MatMul(Tensor a, bool transA, Tensor b, bool transB, Tensor c, bool accumulate)
    {
        using var _profile = CpuProfiler.Op("MatMul");
        int m = c.Size(0), n = c.Size(1);
        int k = transA ? a.Size(0) : a.Size(1);
        int lda = a.Size(1), ldb = b.Size(1);
        if (c.DType == DType.Float32)
            Gemm.Sgemm(transA, transB, m, n, k, 1f, a.Pointer<float>(), lda, b.Pointer<float>(), ldb, accumulate ? 1f : 0f, c.Pointer<float>(), n);
        else
            Gemm.Dgemm(transA, transB, m, n, k, 1.0, a.Pointer<double>(), lda, b.Pointer<double>(), ldb, accumulate ? 1.0 : 0.0, c.Pointer<double>(), n);
    }
}
