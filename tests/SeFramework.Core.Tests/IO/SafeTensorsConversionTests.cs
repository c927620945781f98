// Decoding of F16/BF16 bit patterns and the float/double/long conversions between entries and arrays.
using System.Buffers.Binary;
using SeFramework.IO;
using Xunit;

namespace SeFramework.Tests.IO;

public class SafeTensorsConversionTests
{
    private static SafeTensorEntry HalfWords(string dtype, params ushort[] words)
    {
        var data = new byte[words.Length * 2];
        for (int i = 0; i < words.Length; i++) BinaryPrimitives.WriteUInt16LittleEndian(data.AsSpan(2 * i), words[i]);
        return new SafeTensorEntry("h", dtype, [words.Length], data);
    }

    // Expected values from the IEEE-754 binary16 definition: value = (-1)^s * 2^(e-15) * 1.m, subnormal 2^-14 * 0.m.
    public static TheoryData<ushort, double> Float16Patterns => new()
    {
        { 0x3C00, 1.0 },
        { 0xC000, -2.0 },
        { 0x7BFF, 65504.0 },                       // largest finite: (2 - 2^-10) * 2^15
        { 0x0400, Math.Pow(2, -14) },              // smallest normal
        { 0x0001, Math.Pow(2, -24) },              // smallest subnormal
        { 0x03FF, 1023 * Math.Pow(2, -24) },       // largest subnormal
        { 0x3555, 0.333251953125 },                // nearest binary16 to 1/3: 1365/4096
        { 0x7C00, double.PositiveInfinity },
        { 0xFC00, double.NegativeInfinity },
        { 0x7E00, double.NaN },
        { 0xFE01, double.NaN },
    };

    // bfloat16 is the top 16 bits of binary32: value = (-1)^s * 2^(e-127) * 1.m with 7 mantissa bits.
    public static TheoryData<ushort, double> BFloat16Patterns => new()
    {
        { 0x3F80, 1.0 },
        { 0xC000, -2.0 },
        { 0x477F, 65280.0 },                              // 65504 is not representable; this is (2 - 2^-7) * 2^15
        { 0x7F7F, (2 - Math.Pow(2, -7)) * Math.Pow(2, 127) }, // largest finite
        { 0x0080, Math.Pow(2, -126) },                    // smallest normal
        { 0x0001, Math.Pow(2, -133) },                    // smallest subnormal
        { 0x7F80, double.PositiveInfinity },
        { 0xFF80, double.NegativeInfinity },
        { 0x7FC0, double.NaN },
    };

    [Theory]
    [MemberData(nameof(Float16Patterns))]
    public void F16_bit_patterns_decode_to_their_ieee_values(ushort bits, double expected)
    {
        SafeTensorEntry entry = HalfWords("F16", bits);
        Assert.Equal(expected, SafeTensors.ToFloat64(entry)[0]);
        Assert.Equal((float)expected, SafeTensors.ToFloat32(entry)[0]);
    }

    [Theory]
    [MemberData(nameof(BFloat16Patterns))]
    public void BF16_bit_patterns_decode_to_their_ieee_values(ushort bits, double expected)
    {
        SafeTensorEntry entry = HalfWords("BF16", bits);
        Assert.Equal(expected, SafeTensors.ToFloat64(entry)[0]);
        Assert.Equal((float)expected, SafeTensors.ToFloat32(entry)[0]);
    }

    [Fact]
    public void Negative_zero_keeps_its_sign_in_F16_and_BF16()
    {
        Assert.True(double.IsNegative(SafeTensors.ToFloat64(HalfWords("F16", 0x8000))[0]));
        Assert.True(float.IsNegative(SafeTensors.ToFloat32(HalfWords("BF16", 0x8000))[0]));
        Assert.Equal(0.0, SafeTensors.ToFloat64(HalfWords("BF16", 0x8000))[0]);
    }

    [Fact]
    public void Float32_and_float64_round_trip_exactly_including_special_values()
    {
        float[] floats = [0f, -0f, 1.5f, float.Epsilon, float.MaxValue, float.NegativeInfinity, float.NaN, 0.1f];
        SafeTensorEntry f32 = SafeTensors.FromFloat32("f", [2, 4], floats);
        Assert.Equal("F32", f32.DType);
        Assert.Equal(32, f32.Data.Length);
        Assert.Equal(BitConverter.SingleToInt32Bits(1.5f), BinaryPrimitives.ReadInt32LittleEndian(f32.Data.AsSpan(8)));
        Assert.Equal(floats, SafeTensors.ToFloat32(f32));
        Assert.Equal(floats.Select(f => (double)f), SafeTensors.ToFloat64(f32));

        double[] doubles = [0.1, -1e300, double.Epsilon, double.PositiveInfinity];
        SafeTensorEntry f64 = SafeTensors.FromFloat64("d", [4], doubles);
        Assert.Equal(doubles, SafeTensors.ToFloat64(f64));
        Assert.Equal(doubles.Select(d => (float)d), SafeTensors.ToFloat32(f64)); // rounded to nearest float, -1e300 -> -inf
    }

    [Fact]
    public void Integer_entries_convert_to_float_double_and_long()
    {
        SafeTensorEntry i64 = SafeTensors.FromInt64("step", [3], [0, -5, 1L << 40]);
        Assert.Equal("I64", i64.DType);
        Assert.Equal([0L, -5L, 1L << 40], SafeTensors.ToInt64(i64));
        Assert.Equal([0f, -5f, 1099511627776f], SafeTensors.ToFloat32(i64));
        Assert.Equal([0.0, -5.0, 1099511627776.0], SafeTensors.ToFloat64(i64));

        var i32 = new SafeTensorEntry("i", "I32", [2], [0xFF, 0xFF, 0xFF, 0xFF, 0x02, 0x00, 0x00, 0x00]); // -1, 2
        Assert.Equal([-1f, 2f], SafeTensors.ToFloat32(i32));
        Assert.Equal([-1L, 2L], SafeTensors.ToInt64(i32));
        Assert.Equal([255L, 1L], SafeTensors.ToInt64(new SafeTensorEntry("u", "U8", [2], [255, 1])));
        Assert.Equal([-1L], SafeTensors.ToInt64(new SafeTensorEntry("s", "I8", [], [0xFF])));
    }

    [Fact]
    public void From_methods_copy_the_shape_and_handle_scalars_and_empty_tensors()
    {
        long[] shape = [2];
        SafeTensorEntry entry = SafeTensors.FromFloat32("x", shape, [1f, 2f]);
        shape[0] = 99;
        Assert.Equal([2L], entry.Shape);
        Assert.Equal([3.5], SafeTensors.ToFloat64(SafeTensors.FromFloat64("s", [], [3.5])));
        Assert.Empty(SafeTensors.ToFloat32(SafeTensors.FromFloat32("e", [3, 0], [])));
    }

    [Fact]
    public void From_methods_reject_a_value_count_that_does_not_match_the_shape()
    {
        var ex = Assert.Throws<ArgumentException>(() => SafeTensors.FromFloat32("fc.weight", [2, 3], new float[5]));
        Assert.Contains("fc.weight", ex.Message);
        Assert.Contains("6", ex.Message);
        Assert.Contains("5", ex.Message);
        Assert.Throws<ArgumentException>(() => SafeTensors.FromInt64("s", [-1], []));
        Assert.Throws<ArgumentException>(() => SafeTensors.FromFloat64("", [1], [1.0]));
    }

    [Fact]
    public void Conversions_name_the_tensor_when_the_dtype_is_unsupported_or_the_data_length_is_wrong()
    {
        var u64 = new SafeTensorEntry("counter", "U64", [1], new byte[8]);
        var ex = Assert.Throws<ArgumentException>(() => SafeTensors.ToFloat32(u64));
        Assert.Contains("counter", ex.Message);
        Assert.Contains("U64", ex.Message);
        Assert.Throws<ArgumentException>(() => SafeTensors.ToInt64(new SafeTensorEntry("w", "F32", [1], new byte[4])));

        var shortData = new SafeTensorEntry("w", "F32", [3], new byte[8]);
        ex = Assert.Throws<ArgumentException>(() => SafeTensors.ToFloat32(shortData));
        Assert.Contains("needs 12 bytes", ex.Message);
    }

    [Fact]
    public void Item_sizes_follow_the_spec_and_unknown_dtypes_are_rejected()
    {
        Assert.Equal(4, SafeTensors.ItemSize("F32"));
        Assert.Equal(2, SafeTensors.ItemSize("BF16"));
        Assert.Equal(8, SafeTensors.ItemSize("I64"));
        Assert.Equal(1, SafeTensors.ItemSize("BOOL"));
        Assert.Throws<ArgumentException>(() => SafeTensors.ItemSize("f32"));
    }
}
