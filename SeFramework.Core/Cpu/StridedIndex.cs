// Row-major walks over strided layouts: the one place that turns an n-d index into storage offsets, shared by
// every CPU kernel that accepts non-contiguous views (copy, broadcast binary ops, reductions).
namespace SeFramework.Cpu;

internal static class StridedIndex
{
    /// <summary>
    /// Calls <paramref name="row"/>(rowIndex, offsets...) for every innermost row of <paramref name="shape"/>: the
    /// offsets are those of the row's first element in each of the given layouts; the innermost stride of layout k is
    /// strides[k][rank-1]. Rank-0 tensors are one row of one element.
    /// </summary>
    public static void ForEachRow(ReadOnlySpan<int> shape, long[][] strides, long[] offsets, Action<long, long[]> row)
    {
        int rank = shape.Length;
        int n = strides.Length;
        var cur = (long[])offsets.Clone();
        if (rank <= 1)
        {
            row(0, cur);
            return;
        }
        long rows = 1;
        for (int d = 0; d < rank - 1; d++) rows *= shape[d];
        if (rows == 0) return;
        var idx = new int[rank - 1];
        for (long r = 0; r < rows; r++)
        {
            row(r, cur);
            for (int d = rank - 2; d >= 0; d--)
            {
                idx[d]++;
                for (int k = 0; k < n; k++) cur[k] += strides[k][d];
                if (idx[d] < shape[d]) break;
                for (int k = 0; k < n; k++) cur[k] -= strides[k][d] * shape[d];
                idx[d] = 0;
            }
        }
    }

    public static int InnerSize(ReadOnlySpan<int> shape) => shape.Length == 0 ? 1 : shape[^1];

    public static long InnerStride(long[] strides) => strides.Length == 0 ? 1 : strides[^1];
}
