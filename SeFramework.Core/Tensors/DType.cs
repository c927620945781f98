// Element types a tensor can hold. Float32 and Float64 run on the CPU (Float64 is what gradient checks use);
// Float16 and BFloat16 are named so storage, safetensors and the GPU backend can carry them.
namespace SeFramework;

public enum DType
{
    Float32,
    Float64,
    Float16,
    BFloat16,
}

public static class DTypeExtensions
{
    public static int ElementSize(this DType dtype) => dtype switch
    {
        DType.Float32 => 4,
        DType.Float64 => 8,
        DType.Float16 => 2,
        DType.BFloat16 => 2,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "unknown dtype"),
    };

    /// <summary>The safetensors name of the dtype ("F32", "F64", "F16", "BF16").</summary>
    public static string SafeTensorsName(this DType dtype) => dtype switch
    {
        DType.Float32 => "F32",
        DType.Float64 => "F64",
        DType.Float16 => "F16",
        DType.BFloat16 => "BF16",
        _ => throw new ArgumentOutOfRangeException(nameof(dtype)),
    };

    internal static void RequireCpuComputable(this DType dtype, string op)
    {
        if (dtype is not (DType.Float32 or DType.Float64))
            throw new NotSupportedException($"{op}: dtype {dtype} is storage-only on the CPU; convert with .To(DType.Float32) first.");
    }
}
