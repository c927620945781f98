// Elementwise arithmetic with broadcasting, unary functions, reductions and matmul, each with its backward rule.
using SeFramework.Autograd;
using SeFramework.Backends;

namespace SeFramework;

public sealed partial class Tensor
{
    // ---- binary with broadcasting ----

    internal static int[] BroadcastShape(Tensor a, Tensor b, string op)
    {
        int rank = Math.Max(a.Rank, b.Rank);
        var shape = new int[rank];
        for (int i = 0; i < rank; i++)
        {
            int da = i - (rank - a.Rank) >= 0 ? a.Size(i - (rank - a.Rank)) : 1;
            int db = i - (rank - b.Rank) >= 0 ? b.Size(i - (rank - b.Rank)) : 1;
            if (da != db && da != 1 && db != 1)
                throw new ArgumentException($"{op}: shapes {a.Layout} and {b.Layout} cannot be broadcast together (dim {i}: {da} vs {db})");
            shape[i] = da == 1 ? db : da;
        }
        return shape;
    }

    internal static void CheckSameDeviceAndType(Tensor a, Tensor b, string op)
    {
        if (a.Device != b.Device) throw new ArgumentException($"{op}: tensors are on different devices ({a.Device} and {b.Device})");
        if (a.DType != b.DType) throw new ArgumentException($"{op}: dtypes differ ({a.DType} and {b.DType}); convert one with .To(dtype)");
        a.DType.RequireCpuComputable(op);
    }

    private static Tensor BinaryOpCore(BinaryOp op, Tensor a, Tensor b)
    {
        string name = op.ToString();
        CheckSameDeviceAndType(a, b, name);
        var shape = BroadcastShape(a, b, name);
        var c = Empty(shape, a.DType, a.Device);
        Tensor ea, eb;
        using (Autograd.Autograd.NoGrad())
        {
            ea = a.Expand(shape);
            eb = b.Expand(shape);
        }
        a.Backend.Binary(op, ea, eb, c);
        var aShape = a.Shape;
        var bShape = b.Shape;
        bool record = GradNode.WillRecord(a, b);
        return GradNode.Record(name, c, new[] { a, b }, op switch
        {
            BinaryOp.Add => g => new Tensor?[] { g.SumTo(aShape), g.SumTo(bShape) },
            BinaryOp.Sub => g => new Tensor?[] { g.SumTo(aShape), g.Neg().SumTo(bShape) },
            BinaryOp.Mul => g => new Tensor?[]
            {
                a.RequiresGrad ? (g * b).SumTo(aShape) : null,
                b.RequiresGrad ? (g * a).SumTo(bShape) : null,
            },
            BinaryOp.Div => g => new Tensor?[]
            {
                a.RequiresGrad ? (g / b).SumTo(aShape) : null,
                b.RequiresGrad ? (g * a / (b * b)).Neg().SumTo(bShape) : null,
            },
            _ => throw new NotSupportedException(name),
        }, saved: op is BinaryOp.Add or BinaryOp.Sub ? Array.Empty<Tensor?>() : new[] { a, b });
    }

    public Tensor Add(Tensor other) => BinaryOpCore(BinaryOp.Add, this, other);
    public Tensor Sub(Tensor other) => BinaryOpCore(BinaryOp.Sub, this, other);
    public Tensor Mul(Tensor other) => BinaryOpCore(BinaryOp.Mul, this, other);
    public Tensor Div(Tensor other) => BinaryOpCore(BinaryOp.Div, this, other);

    public static Tensor operator +(Tensor a, Tensor b) => a.Add(b);
    public static Tensor operator -(Tensor a, Tensor b) => a.Sub(b);
    public static Tensor operator *(Tensor a, Tensor b) => a.Mul(b);
    public static Tensor operator /(Tensor a, Tensor b) => a.Div(b);
    public static Tensor operator -(Tensor a) => a.Neg();
    public static Tensor operator +(Tensor a, double s) => a.Unary(UnaryOp.AddScalar, s);
    public static Tensor operator +(double s, Tensor a) => a.Unary(UnaryOp.AddScalar, s);
    public static Tensor operator -(Tensor a, double s) => a.Unary(UnaryOp.AddScalar, -s);
    public static Tensor operator -(double s, Tensor a) => a.Neg().Unary(UnaryOp.AddScalar, s);
    public static Tensor operator *(Tensor a, double s) => a.Unary(UnaryOp.MulScalar, s);
    public static Tensor operator *(double s, Tensor a) => a.Unary(UnaryOp.MulScalar, s);
    public static Tensor operator /(Tensor a, double s) => a.Unary(UnaryOp.MulScalar, 1.0 / s);

    /// <summary>this += other in place (other broadcasts to this shape). Not recorded; for gradient/optimizer buffers.</summary>
    public void AddInPlace(Tensor other)
    {
        CheckSameDeviceAndType(this, other, "AddInPlace");
        if (!IsContiguous) throw new InvalidOperationException("AddInPlace needs a contiguous destination");
        Tensor e;
        using (Autograd.Autograd.NoGrad()) e = other.Expand(Shape);
        Backend.AddInPlace(this, e);
    }

    // ---- unary ----

    internal Tensor Unary(UnaryOp op, double scalar = 0)
    {
        DType.RequireCpuComputable(op.ToString());
        var x = Contiguous();
        var y = EmptyLike(x);
        Backend.Unary(op, x, y, scalar);
        return GradNode.Record(op.ToString(), y, new[] { this }, g =>
        {
            var gc = g.Contiguous();
            var dx = EmptyLike(x);
            x.Backend.UnaryBackward(op, x, y, gc, dx, scalar);
            if (!ReferenceEquals(gc.Storage, g.Storage)) gc.Storage.Dispose();
            return new[] { dx };
        }, saved: new[] { x, y });
    }

    public Tensor Neg() => Unary(UnaryOp.Neg);
    public Tensor Exp() => Unary(UnaryOp.Exp);
    public Tensor Log() => Unary(UnaryOp.Log);
    public Tensor Sqrt() => Unary(UnaryOp.Sqrt);
    public Tensor Relu() => Unary(UnaryOp.Relu);
    public Tensor Sigmoid() => Unary(UnaryOp.Sigmoid);
    public Tensor Tanh() => Unary(UnaryOp.Tanh);
    public Tensor Abs() => Unary(UnaryOp.Abs);
    public Tensor Pow(double exponent) => Unary(UnaryOp.Pow, exponent);

    // ---- reductions ----

    private bool[] ReduceMask(int[]? dims, string op)
    {
        var mask = new bool[Rank];
        if (dims == null || dims.Length == 0)
        {
            Array.Fill(mask, true);
            return mask;
        }
        foreach (var dim in dims)
        {
            int d = NormalizeDim(dim, Rank, op);
            if (mask[d]) throw new ArgumentException($"{op}: dim {dim} listed twice");
            mask[d] = true;
        }
        return mask;
    }

    private static int[] ReducedShape(ReadOnlySpan<int> shape, bool[] mask, bool keepDim)
    {
        var list = new List<int>();
        for (int i = 0; i < shape.Length; i++)
        {
            if (!mask[i]) list.Add(shape[i]);
            else if (keepDim) list.Add(1);
        }
        return list.ToArray();
    }

    /// <summary>Sum over dims (all when none given).</summary>
    public Tensor Sum(int[]? dims = null, bool keepDim = false)
    {
        DType.RequireCpuComputable("Sum");
        var mask = ReduceMask(dims, "Sum");
        var keptShape = ReducedShape(Layout.Shape, mask, keepDim: true);
        var y = Empty(keptShape, DType, Device);
        Backend.Sum(this, mask, y);
        Tensor result;
        using (Autograd.Autograd.NoGrad()) result = keepDim ? y : y.Reshape(ReducedShape(Layout.Shape, mask, false));
        var inputShape = Shape;
        return GradNode.Record("Sum", result, new[] { this }, g => new[] { g.Reshape(keptShape).Expand(inputShape).Contiguous() }, saved: Array.Empty<Tensor?>());
    }

    public Tensor Sum(int dim, bool keepDim = false) => Sum(new[] { dim }, keepDim);

    /// <summary>Mean over dims (all when none given).</summary>
    public Tensor Mean(int[]? dims = null, bool keepDim = false)
    {
        var mask = ReduceMask(dims, "Mean");
        long count = 1;
        for (int i = 0; i < Rank; i++) if (mask[i]) count *= Size(i);
        if (count == 0) throw new ArgumentException($"Mean over an empty range of shape {Layout}");
        return Sum(dims, keepDim) * (1.0 / count);
    }

    public Tensor Mean(int dim, bool keepDim = false) => Mean(new[] { dim }, keepDim);

    /// <summary>Max over dims (all when none given) and, flattened over the reduced dims, the index of the max.</summary>
    public (Tensor Values, long[] Indices) MaxWithIndices(int[]? dims = null, bool keepDim = false)
    {
        DType.RequireCpuComputable("Max");
        var mask = ReduceMask(dims, "Max");
        var kept = Enumerable.Range(0, Rank).Where(i => !mask[i]).ToArray();
        var reduced = Enumerable.Range(0, Rank).Where(i => mask[i]).ToArray();
        long cols = 1;
        foreach (var d in reduced) cols *= Size(d);
        if (cols == 0) throw new ArgumentException($"Max over an empty range of shape {Layout}");
        Tensor rows;
        using (Autograd.Autograd.NoGrad()) rows = Permute(kept.Concat(reduced).ToArray()).Contiguous();
        var keptShape = ReducedShape(Layout.Shape, mask, keepDim: true);
        var values = Empty(keptShape, DType, Device);
        var indices = new long[values.NumElements];
        Backend.MaxRows(rows, values, indices);
        Tensor result;
        using (Autograd.Autograd.NoGrad()) result = keepDim ? values : values.Reshape(ReducedShape(Layout.Shape, mask, false));
        var permutedShape = rows.Shape;
        var inverse = new int[Rank];
        var order = kept.Concat(reduced).ToArray();
        for (int i = 0; i < Rank; i++) inverse[order[i]] = i;
        var recorded = GradNode.Record("Max", result, new[] { this }, g =>
        {
            // Scatter each row's gradient to the position of its max (first occurrence), then undo the permutation.
            var gd = g.Contiguous().To(DType.Float64).ToDoubleArray();
            var dx = new double[rows.NumElements];
            for (int r = 0; r < gd.Length; r++) dx[r * cols + indices[r]] = gd[r];
            var t = FromArray(dx, permutedShape).To(g.DType).Permute(inverse).Contiguous();
            return new[] { t.Device == g.Device ? t : t.To(g.Device) };
        });
        return (recorded, indices);
    }

    public Tensor Max(int[]? dims = null, bool keepDim = false) => MaxWithIndices(dims, keepDim).Values;

    public Tensor Max(int dim, bool keepDim = false) => Max(new[] { dim }, keepDim);

    /// <summary>Index of the max along dim (first occurrence), as a long array in the row-major order of the other dims.</summary>
    public long[] ArgMax(int dim)
    {
        using var _ = Autograd.Autograd.NoGrad();
        return MaxWithIndices(new[] { dim }).Indices;
    }

    // ---- matmul ----

    /// <summary>Matrix product: (m,k)·(k,n) → (m,n); batched (b,m,k)·(b,k,n) → (b,m,n); a 3-D by 2-D product
    /// multiplies every batch by the same matrix.</summary>
    public Tensor MatMul(Tensor other)
    {
        CheckSameDeviceAndType(this, other, "MatMul");
        if (Rank == 2 && other.Rank == 2) return MatMul2D(this, other);
        if (Rank == 3 && other.Rank == 2) return MatMul2D(Reshape(-1, Size(2)), other).Reshape(Size(0), Size(1), other.Size(1));
        if (Rank == 3 && other.Rank == 3)
        {
            if (Size(0) != other.Size(0) || Size(2) != other.Size(1))
                throw new ArgumentException($"MatMul: shapes {Layout} and {other.Layout} do not match for a batched product (b,m,k)·(b,k,n)");
            var outs = new Tensor[Size(0)];
            for (int i = 0; i < outs.Length; i++) outs[i] = MatMul2D(Narrow(0, i, 1).Squeeze(0), other.Narrow(0, i, 1).Squeeze(0)).Unsqueeze(0);
            return Concat(outs, 0);
        }
        throw new ArgumentException($"MatMul: unsupported ranks {Rank} and {other.Rank} (shapes {Layout} and {other.Layout}); use 2-D or 3-D tensors");
    }

    /// <summary>A 2-D operand for the backend GEMM without a copy: t itself when contiguous, or the contiguous tensor
    /// it is the transpose of (e.g. Linear's weight.T) with the transpose flag; otherwise a contiguous copy.</summary>
    private static (Tensor Store, bool Trans) GemmOperand(Tensor t)
    {
        if (t.IsContiguous) return (t, false);
        using var _ = Autograd.Autograd.NoGrad();
        var tt = t.Transpose(0, 1);
        return tt.IsContiguous ? (tt, true) : (t.Contiguous(), false);
    }

    // a: (m, k), b: (k, n) -> (m, n). Transposed views go to the GEMM as transpose flags (no copies).
    private static Tensor MatMul2D(Tensor a, Tensor b)
    {
        if (a.Size(1) != b.Size(0)) throw new ArgumentException($"MatMul: shapes {a.Layout} and {b.Layout} do not match ((m,k)·(k,n) needs equal k)");
        var (ac, aT) = GemmOperand(a);
        var (bc, bT) = GemmOperand(b);
        var c = Empty(new[] { a.Size(0), b.Size(1) }, a.DType, a.Device);
        a.Backend.MatMul(ac, aT, bc, bT, c, accumulate: false);
        return GradNode.Record("MatMul", c, new[] { a, b }, g =>
        {
            var gc = g.Contiguous();
            Tensor? da = null, db = null;
            if (a.RequiresGrad)
            {
                da = Empty(a.Shape, a.DType, a.Device);
                a.Backend.MatMul(gc, false, bc, !bT, da, false); // dA = dC · op(B)ᵀ
            }
            if (b.RequiresGrad)
            {
                db = Empty(b.Shape, b.DType, b.Device);
                a.Backend.MatMul(ac, !aT, gc, false, db, false); // dB = op(A)ᵀ · dC
            }
            return new[] { da, db };
        }, saved: new[] { ac, bc });
    }
}
