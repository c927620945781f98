// Conversions between SafeTensorEntry bytes and .NET arrays: F32/F64/F16/BF16/I64/I32 -> float or double,
// integer dtypes -> long, and float/double/long arrays -> entries. All data is little-endian, row-major.
using System.Numerics;
using System.Runtime.InteropServices;

namespace SeFramework.IO;

public static partial class SafeTensors
{
    /// <summary>Elements as float. Accepts F32, F64 (rounded), F16, BF16, I64, I32 (rounded if beyond 2^24).</summary>
    public static float[] ToFloat32(SafeTensorEntry entry) => ToFloatingPoint<float>(entry, nameof(ToFloat32));

    /// <summary>Elements as double. Accepts F32, F64, F16, BF16, I64 (rounded if beyond 2^53), I32.</summary>
    public static double[] ToFloat64(SafeTensorEntry entry) => ToFloatingPoint<double>(entry, nameof(ToFloat64));

    /// <summary>Elements as long. Accepts I64, I32, I16, I8, U32, U16, U8 and BOOL (0/1).</summary>
    public static long[] ToInt64(SafeTensorEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        CheckEntry(entry, nameof(entry));
        ReadOnlySpan<byte> bytes = entry.Data;
        return entry.DType switch
        {
            "I64" => ReadLittleEndian<long>(bytes),
            "I32" => ConvertElements<int, long>(ReadLittleEndian<int>(bytes)),
            "I16" => ConvertElements<short, long>(ReadLittleEndian<short>(bytes)),
            "I8" => ConvertElements<sbyte, long>(ReadLittleEndian<sbyte>(bytes)),
            "U32" => ConvertElements<uint, long>(ReadLittleEndian<uint>(bytes)),
            "U16" => ConvertElements<ushort, long>(ReadLittleEndian<ushort>(bytes)),
            "U8" => ConvertElements<byte, long>(ReadLittleEndian<byte>(bytes)),
            "BOOL" => ConvertElements<byte, long>(ReadLittleEndian<byte>(bytes)),
            _ => throw Unsupported(entry, nameof(ToInt64), "I64, I32, I16, I8, U32, U16, U8, BOOL"),
        };
    }

    /// <summary>An F32 entry holding <paramref name="values"/>, which must have product(shape) elements.</summary>
    public static SafeTensorEntry FromFloat32(string name, long[] shape, ReadOnlySpan<float> values)
        => FromValues(name, "F32", shape, values);

    /// <summary>An F64 entry holding <paramref name="values"/>, which must have product(shape) elements.</summary>
    public static SafeTensorEntry FromFloat64(string name, long[] shape, ReadOnlySpan<double> values)
        => FromValues(name, "F64", shape, values);

    /// <summary>An I64 entry (step counters, RNG state) holding <paramref name="values"/>.</summary>
    public static SafeTensorEntry FromInt64(string name, long[] shape, ReadOnlySpan<long> values)
        => FromValues(name, "I64", shape, values);

    private static T[] ToFloatingPoint<T>(SafeTensorEntry entry, string method) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(entry);
        CheckEntry(entry, nameof(entry));
        ReadOnlySpan<byte> bytes = entry.Data;
        return entry.DType switch
        {
            "F32" => ConvertElements<float, T>(ReadLittleEndian<float>(bytes)),
            "F64" => ConvertElements<double, T>(ReadLittleEndian<double>(bytes)),
            "F16" => ConvertElements<Half, T>(ReadLittleEndian<Half>(bytes)),
            "BF16" => ConvertElements<float, T>(BFloat16ToSingle(ReadLittleEndian<ushort>(bytes))),
            "I64" => ConvertElements<long, T>(ReadLittleEndian<long>(bytes)),
            "I32" => ConvertElements<int, T>(ReadLittleEndian<int>(bytes)),
            _ => throw Unsupported(entry, method, "F32, F64, F16, BF16, I64, I32"),
        };
    }

    // bfloat16 is the top half of a float32: widening is a 16-bit shift, exact for every value including NaN/inf.
    private static float[] BFloat16ToSingle(ushort[] bits)
    {
        var result = new float[bits.Length];
        for (int i = 0; i < bits.Length; i++) result[i] = BitConverter.UInt32BitsToSingle((uint)bits[i] << 16);
        return result;
    }

    // Element-wise numeric conversion; IEEE rounding to nearest for narrowing float conversions.
    private static TOut[] ConvertElements<TIn, TOut>(TIn[] source) where TIn : INumberBase<TIn> where TOut : INumberBase<TOut>
    {
        if (source is TOut[] same) return same;
        var result = new TOut[source.Length];
        for (int i = 0; i < source.Length; i++) result[i] = TOut.CreateTruncating(source[i]);
        return result;
    }

    // bytes: little-endian elements of T -> T[]; byte-swaps each element on a big-endian host.
    private static unsafe T[] ReadLittleEndian<T>(ReadOnlySpan<byte> bytes) where T : unmanaged
    {
        T[] result = MemoryMarshal.Cast<byte, T>(bytes).ToArray();
        if (!BitConverter.IsLittleEndian) ReverseEachElement(MemoryMarshal.AsBytes(result.AsSpan()), sizeof(T));
        return result;
    }

    private static unsafe SafeTensorEntry FromValues<T>(string name, string dtype, long[] shape, ReadOnlySpan<T> values)
        where T : unmanaged
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(shape);
        foreach (long dim in shape)
            if (dim < 0) throw new ArgumentException($"Tensor '{name}': shape [{string.Join(", ", shape)}] has a negative dimension.", nameof(shape));
        bool fits = TryByteLength(shape, 1, out long count);
        if (!fits || count != values.Length)
            throw new ArgumentException(
                $"Tensor '{name}': shape [{string.Join(", ", shape)}] holds {(fits ? count : "more than 2^63")} " +
                $"elements but {values.Length} values were given.", nameof(values));
        byte[] data = MemoryMarshal.AsBytes(values).ToArray();
        if (!BitConverter.IsLittleEndian) ReverseEachElement(data, sizeof(T));
        return new SafeTensorEntry(name, dtype, (long[])shape.Clone(), data);
    }

    private static void ReverseEachElement(Span<byte> bytes, int elementSize)
    {
        for (int i = 0; i + elementSize <= bytes.Length; i += elementSize) bytes.Slice(i, elementSize).Reverse();
    }

    private static ArgumentException Unsupported(SafeTensorEntry entry, string method, string supported)
        => new($"{method} cannot convert tensor '{entry.Name}' of dtype {entry.DType}; it accepts {supported}.", nameof(entry));
}
