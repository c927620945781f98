// Layout = (shape, strides, offset) in elements: an immutable description of how a tensor's elements sit in its
// storage. Views (reshape, permute, narrow, expand) make a new Layout over the same storage.
namespace SeFramework;

public sealed class Layout
{
    private readonly int[] _shape;
    private readonly long[] _strides;

    public Layout(int[] shape, long[] strides, long offset)
    {
        if (shape.Length != strides.Length) throw new ArgumentException("shape and strides must have the same rank");
        _shape = shape;
        _strides = strides;
        Offset = offset;
        long n = 1;
        foreach (var d in shape)
        {
            if (d < 0) throw new ArgumentException($"negative size {d} in shape {ShapeString(shape)}");
            n *= d;
        }
        NumElements = n;
    }

    public static Layout Contiguous(int[] shape) => new(shape, ContiguousStrides(shape), 0);

    public ReadOnlySpan<int> Shape => _shape;
    public ReadOnlySpan<long> Strides => _strides;
    public long Offset { get; }
    public int Rank => _shape.Length;
    public long NumElements { get; }

    internal int[] ShapeArray => _shape;
    internal long[] StridesArray => _strides;

    public bool IsContiguous
    {
        get
        {
            long expected = 1;
            for (int i = _shape.Length - 1; i >= 0; i--)
            {
                if (_shape[i] != 1 && _strides[i] != expected) return false;
                expected *= _shape[i];
            }
            return true;
        }
    }

    public static long[] ContiguousStrides(ReadOnlySpan<int> shape)
    {
        var s = new long[shape.Length];
        long acc = 1;
        for (int i = shape.Length - 1; i >= 0; i--)
        {
            s[i] = acc;
            acc *= shape[i];
        }
        return s;
    }

    public static string ShapeString(ReadOnlySpan<int> shape)
    {
        var sb = new System.Text.StringBuilder("[");
        for (int i = 0; i < shape.Length; i++)
        {
            if (i > 0) sb.Append(", ");
            sb.Append(shape[i]);
        }
        return sb.Append(']').ToString();
    }

    public override string ToString() => ShapeString(_shape);
}
