// One named tensor as stored in a safetensors file: dtype string, shape and raw little-endian bytes.
// Independent of Tensor so checkpoints can be read and written without any backend.
namespace SeFramework.IO;

/// <summary>
/// A tensor as safetensors stores it. <paramref name="DType"/> is the safetensors dtype string
/// ("F32", "F64", "F16", "BF16", "I64", "I32", "U8", ...); <paramref name="Data"/> holds product(Shape) elements
/// as little-endian bytes, row-major. A scalar has an empty shape and one element.
/// </summary>
public sealed record SafeTensorEntry(string Name, string DType, long[] Shape, byte[] Data)
{
    /// <summary>Number of elements, product(Shape); 1 for a scalar. Throws OverflowException for absurd shapes.</summary>
    public long ElementCount
    {
        get
        {
            long count = 1;
            foreach (long dim in Shape) count = checked(count * dim);
            return count;
        }
    }

    public override string ToString() => $"{Name}: {DType}[{string.Join(", ", Shape)}] ({Data.Length} bytes)";
}
