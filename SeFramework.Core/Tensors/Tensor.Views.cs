// Views that share storage (reshape/view, permute/transpose, narrow/slice, expand, squeeze/unsqueeze, flatten)
// and the copying joins (concat, split into views). Each records its backward.
using SeFramework.Autograd;

namespace SeFramework;

public sealed partial class Tensor
{
    private Tensor View(Layout layout) => new(Storage, layout);

    /// <summary>Shape with one -1 inferred from the element count.</summary>
    private int[] InferShape(int[] shape, string op)
    {
        var result = (int[])shape.Clone();
        int infer = -1;
        long known = 1;
        for (int i = 0; i < result.Length; i++)
        {
            if (result[i] == -1)
            {
                if (infer >= 0) throw new ArgumentException($"{op}: only one dimension can be -1 in {Layout.ShapeString(shape)}");
                infer = i;
            }
            else if (result[i] < 0) throw new ArgumentException($"{op}: negative size {result[i]} in {Layout.ShapeString(shape)}");
            else known *= result[i];
        }
        if (infer >= 0)
        {
            if (known == 0 || NumElements % known != 0)
                throw new ArgumentException($"{op}: cannot reshape a tensor of shape {Layout} ({NumElements} elements) to {Layout.ShapeString(shape)}");
            result[infer] = (int)(NumElements / known);
        }
        else if (known != NumElements)
        {
            throw new ArgumentException($"{op}: cannot reshape a tensor of shape {Layout} ({NumElements} elements) to {Layout.ShapeString(shape)} ({known} elements)");
        }
        return result;
    }

    /// <summary>Same elements, new shape (one dim may be -1). A view when contiguous, else a copy.</summary>
    public Tensor Reshape(params int[] shape)
    {
        var target = InferShape(shape, "Reshape");
        var src = Contiguous();
        var y = src.View(new Layout(target, Layout.ContiguousStrides(target), src.Layout.Offset));
        var original = Shape;
        return GradNode.Record("Reshape", y, new[] { src }, g => new[] { g.Reshape(original) }, saved: Array.Empty<Tensor?>());
    }

    /// <summary>Like Reshape but never copies: throws when the tensor is not contiguous.</summary>
    public Tensor View(params int[] shape)
    {
        if (!IsContiguous) throw new InvalidOperationException($"View: tensor of shape {Layout} is not contiguous; use Reshape() or Contiguous().View()");
        return Reshape(shape);
    }

    /// <summary>Flattens dims startDim..endDim into one.</summary>
    public Tensor Flatten(int startDim = 0, int endDim = -1)
    {
        if (Rank == 0) return Reshape(1);
        int s = NormalizeDim(startDim, Rank, "Flatten"), e = NormalizeDim(endDim, Rank, "Flatten");
        if (s > e) throw new ArgumentException($"Flatten: startDim {startDim} comes after endDim {endDim}");
        var shape = new List<int>();
        for (int i = 0; i < s; i++) shape.Add(Size(i));
        int merged = 1;
        for (int i = s; i <= e; i++) merged *= Size(i);
        shape.Add(merged);
        for (int i = e + 1; i < Rank; i++) shape.Add(Size(i));
        return Reshape(shape.ToArray());
    }

    /// <summary>Reorders dims: result dim i is this tensor's dim dims[i]. A view.</summary>
    public Tensor Permute(params int[] dims)
    {
        if (dims.Length != Rank) throw new ArgumentException($"Permute: {dims.Length} dims given for a tensor of rank {Rank}");
        var seen = new bool[Rank];
        var shape = new int[Rank];
        var strides = new long[Rank];
        var inverse = new int[Rank];
        for (int i = 0; i < Rank; i++)
        {
            int d = NormalizeDim(dims[i], Rank, "Permute");
            if (seen[d]) throw new ArgumentException($"Permute: dim {d} repeated in [{string.Join(", ", dims)}]");
            seen[d] = true;
            shape[i] = Layout.Shape[d];
            strides[i] = Layout.Strides[d];
            inverse[d] = i;
        }
        var y = View(new Layout(shape, strides, Layout.Offset));
        return GradNode.Record("Permute", y, new[] { this }, g => new[] { g.Permute(inverse) }, saved: Array.Empty<Tensor?>());
    }

    public Tensor Transpose(int dim0, int dim1)
    {
        var dims = Enumerable.Range(0, Rank).ToArray();
        int a = NormalizeDim(dim0, Rank, "Transpose"), b = NormalizeDim(dim1, Rank, "Transpose");
        (dims[a], dims[b]) = (dims[b], dims[a]);
        return Permute(dims);
    }

    /// <summary>The transpose of a 2-D tensor.</summary>
    public Tensor T
    {
        get
        {
            if (Rank != 2) throw new InvalidOperationException($"T needs a 2-D tensor, not shape {Layout}; use Transpose or Permute");
            return Transpose(0, 1);
        }
    }

    /// <summary>Elements start..start+length-1 of dim. A view.</summary>
    public Tensor Narrow(int dim, int start, int length) => Slice(dim, start, start + length, 1);

    /// <summary>Elements start, start+step, ... (before end) of dim, like x[..., start:end:step]. A view.</summary>
    public Tensor Slice(int dim, int start, int end, int step = 1)
    {
        int d = NormalizeDim(dim, Rank, "Slice");
        int size = Layout.Shape[d];
        if (step <= 0) throw new ArgumentException($"Slice: step must be positive, not {step}");
        if (start < 0) start += size;
        if (end < 0) end += size;
        if (start < 0 || start > size || end < start || end > size)
            throw new ArgumentException($"Slice: range [{start}, {end}) is outside dim {d} of size {size} (shape {Layout})");
        var shape = Shape;
        var strides = Layout.Strides.ToArray();
        shape[d] = (end - start + step - 1) / step;
        long offset = Layout.Offset + start * strides[d];
        strides[d] *= step;
        var y = View(new Layout(shape, strides, offset));
        var inputShape = Shape;
        return GradNode.Record("Slice", y, new[] { this }, g =>
        {
            var dx = Zeros(inputShape, g.DType, g.Device);
            dx.Slice(d, start, end, step).CopyFrom(g);
            return new[] { dx };
        }, saved: Array.Empty<Tensor?>());
    }

    /// <summary>Broadcasts size-1 dims (and new leading dims) to <paramref name="shape"/> without copying; -1 keeps a size.</summary>
    public Tensor Expand(params int[] shape)
    {
        if (shape.Length < Rank) throw new ArgumentException($"Expand: target {Layout.ShapeString(shape)} has fewer dims than {Layout}");
        var target = (int[])shape.Clone();
        var strides = new long[target.Length];
        int lead = target.Length - Rank;
        for (int i = 0; i < target.Length; i++)
        {
            if (i < lead)
            {
                if (target[i] < 0) throw new ArgumentException($"Expand: size -1 not allowed for the new leading dim {i}");
                strides[i] = 0;
                continue;
            }
            int src = Layout.Shape[i - lead];
            if (target[i] == -1) target[i] = src;
            if (src == target[i]) strides[i] = Layout.Strides[i - lead];
            else if (src == 1) strides[i] = 0;
            else throw new ArgumentException($"Expand: cannot expand shape {Layout} to {Layout.ShapeString(shape)} (dim {i}: {src} is not 1)");
        }
        var y = View(new Layout(target, strides, Layout.Offset));
        var original = Shape;
        return GradNode.Record("Expand", y, new[] { this }, g => new[] { g.SumTo(original) }, saved: Array.Empty<Tensor?>());
    }

    public Tensor BroadcastTo(params int[] shape) => Expand(shape);

    /// <summary>Sums a gradient over broadcast dims down to <paramref name="shape"/> (the inverse of Expand).</summary>
    public Tensor SumTo(int[] shape)
    {
        if (Layout.Shape.SequenceEqual(shape)) return this;
        int lead = Rank - shape.Length;
        if (lead < 0) throw new ArgumentException($"SumTo: cannot sum shape {Layout} to the larger rank {Layout.ShapeString(shape)}");
        var dims = new List<int>();
        for (int i = 0; i < Rank; i++)
        {
            if (i < lead) dims.Add(i);
            else if (shape[i - lead] == 1 && Layout.Shape[i] != 1) dims.Add(i);
            else if (shape[i - lead] != Layout.Shape[i]) throw new ArgumentException($"SumTo: shape {Layout} does not broadcast from {Layout.ShapeString(shape)}");
        }
        return Sum(dims.ToArray(), keepDim: true).Reshape(shape);
    }

    /// <summary>Removes dim (which must have size 1), or every size-1 dim when dim is null.</summary>
    public Tensor Squeeze(int? dim = null)
    {
        var shape = new List<int>();
        if (dim is int dd)
        {
            int d = NormalizeDim(dd, Rank, "Squeeze");
            for (int i = 0; i < Rank; i++) if (i != d || Size(i) != 1) shape.Add(Size(i));
        }
        else
        {
            for (int i = 0; i < Rank; i++) if (Size(i) != 1) shape.Add(Size(i));
        }
        return Reshape(shape.ToArray());
    }

    /// <summary>Inserts a size-1 dim at position dim (0..Rank; negative counts from the end as in PyTorch).</summary>
    public Tensor Unsqueeze(int dim)
    {
        int d = dim < 0 ? dim + Rank + 1 : dim;
        if (d < 0 || d > Rank) throw new ArgumentException($"Unsqueeze: dim {dim} out of range for rank {Rank}");
        var shape = Shape.ToList();
        shape.Insert(d, 1);
        return Reshape(shape.ToArray());
    }

    /// <summary>Joins tensors along dim; all other dims must match.</summary>
    public static Tensor Concat(IReadOnlyList<Tensor> tensors, int dim = 0)
    {
        if (tensors.Count == 0) throw new ArgumentException("Concat: no tensors given");
        var first = tensors[0];
        int d = NormalizeDim(dim, first.Rank, "Concat");
        var shape = first.Shape;
        int total = 0;
        foreach (var t in tensors)
        {
            if (t.Rank != first.Rank || t.DType != first.DType || t.Device != first.Device)
                throw new ArgumentException($"Concat: tensors must share rank, dtype and device; got {first.Layout} {first.DType} and {t.Layout} {t.DType}");
            for (int i = 0; i < first.Rank; i++)
                if (i != d && t.Size(i) != first.Size(i))
                    throw new ArgumentException($"Concat: shapes {first.Layout} and {t.Layout} differ outside dim {d}");
            total += t.Size(d);
        }
        shape[d] = total;
        var y = Empty(shape, first.DType, first.Device);
        int at = 0;
        var sizes = new int[tensors.Count];
        for (int i = 0; i < tensors.Count; i++)
        {
            using (Autograd.Autograd.NoGrad()) y.Narrow(d, at, tensors[i].Size(d)).CopyFrom(tensors[i]);
            sizes[i] = tensors[i].Size(d);
            at += sizes[i];
        }
        return GradNode.Record("Concat", y, tensors.ToArray(), g =>
        {
            var grads = new Tensor?[sizes.Length];
            int p = 0;
            for (int i = 0; i < sizes.Length; i++)
            {
                grads[i] = g.Narrow(d, p, sizes[i]).Contiguous();
                p += sizes[i];
            }
            return grads;
        }, saved: Array.Empty<Tensor?>());
    }

    /// <summary>Splits dim into consecutive pieces of the given sizes (views).</summary>
    public Tensor[] Split(int[] sizes, int dim = 0)
    {
        int d = NormalizeDim(dim, Rank, "Split");
        if (sizes.Sum() != Size(d)) throw new ArgumentException($"Split: sizes [{string.Join(", ", sizes)}] do not add up to dim {d} of size {Size(d)}");
        var result = new Tensor[sizes.Length];
        int at = 0;
        for (int i = 0; i < sizes.Length; i++)
        {
            result[i] = Narrow(d, at, sizes[i]);
            at += sizes[i];
        }
        return result;
    }

    /// <summary>Splits dim into pieces of splitSize (the last may be smaller).</summary>
    public Tensor[] Split(int splitSize, int dim = 0)
    {
        if (splitSize <= 0) throw new ArgumentException($"Split: split size must be positive, not {splitSize}");
        int n = Size(dim);
        var sizes = new List<int>();
        for (int at = 0; at < n; at += splitSize) sizes.Add(Math.Min(splitSize, n - at));
        return Split(sizes.ToArray(), dim);
    }
}
