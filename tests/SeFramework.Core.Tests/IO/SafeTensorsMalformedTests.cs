// Malformed files: each defect gives a SafeTensorsFormatException naming the file and the problem, and
// fuzzed files (every truncation, seeded random byte flips) never give any other exception.
using System.Text;
using SeFramework.IO;
using Xunit;

namespace SeFramework.Tests.IO;

public class SafeTensorsMalformedTests
{
    private static byte[] Ascii(string s) => Encoding.UTF8.GetBytes(s);

    private static string Tensor(string name, string dtype, string shape, string offsets)
        => $"\"{name}\":{{\"dtype\":\"{dtype}\",\"shape\":{shape},\"data_offsets\":{offsets}}}";

    // (case, file bytes, text the message must contain)
    public static TheoryData<string, byte[], string> MalformedFiles => new()
    {
        { "empty file", [], "0 bytes long, shorter than the 8-byte" },
        { "5-byte file", [1, 2, 3, 4, 5], "5 bytes long" },
        { "header length beyond file", RawSafeTensors.BuildRaw(Ascii("{}      "), [], declaredHeaderLength: 16), "only 8 bytes follow" },
        { "header length over 100 MB", RawSafeTensors.BuildRaw(Ascii("{}      "), [], declaredHeaderLength: 100_000_001), "over the 100000000-byte limit" },
        { "header length u64 max", RawSafeTensors.BuildRaw(Ascii("{}      "), [], declaredHeaderLength: ulong.MaxValue), "limit" },
        { "invalid UTF-8", RawSafeTensors.BuildRaw([(byte)'{', (byte)'"', 0xFF, 0xFE, (byte)'"', (byte)':', (byte)'1', (byte)'}'], []), "not valid UTF-8" },
        { "empty header", RawSafeTensors.BuildRaw([], []), "does not start with '{'" },
        { "header is an array", RawSafeTensors.Build("[]      ", []), "does not start with '{'" },
        { "truncated JSON", RawSafeTensors.Build("{\"a\":{\"dtype\":", []), "not valid JSON" },
        { "trailing garbage after JSON", RawSafeTensors.Build("{} x", []), "not valid JSON" },
        { "nesting too deep", RawSafeTensors.Build("{\"a\":" + new string('[', 100) + new string(']', 100) + "}", []), "not valid JSON" },
        { "entry not an object", RawSafeTensors.Build("{\"w\":[1,2]}", []), "tensor 'w': its entry is a JSON array" },
        { "missing dtype", RawSafeTensors.Build("{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", new byte[4]), "tensor 'w': missing 'dtype'" },
        { "missing shape", RawSafeTensors.Build("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", new byte[4]), "tensor 'w': missing 'shape'" },
        { "missing data_offsets", RawSafeTensors.Build("{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", new byte[4]), "tensor 'w': missing 'data_offsets'" },
        { "dtype twice", RawSafeTensors.Build("{\"w\":{\"dtype\":\"F32\",\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,4]}}", new byte[4]), "'dtype' appears twice" },
        { "unknown dtype", RawSafeTensors.Build("{" + Tensor("w", "F128", "[1]", "[0,16]") + "}", new byte[16]), "unknown dtype 'F128'" },
        { "lower-case dtype", RawSafeTensors.Build("{" + Tensor("w", "f32", "[1]", "[0,4]") + "}", new byte[4]), "unknown dtype 'f32'" },
        { "dtype not a string", RawSafeTensors.Build("{\"w\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", new byte[4]), "'dtype' is a number" },
        { "negative dimension", RawSafeTensors.Build("{" + Tensor("w", "F32", "[-1]", "[0,4]") + "}", new byte[4]), "'shape'[0] is -1" },
        { "fractional dimension", RawSafeTensors.Build("{" + Tensor("w", "F32", "[1,2.5]", "[0,4]") + "}", new byte[4]), "'shape'[1] is 2.5" },
        { "dimension beyond int64", RawSafeTensors.Build("{" + Tensor("w", "F32", "[99999999999999999999]", "[0,4]") + "}", new byte[4]), "expected a non-negative integer" },
        { "string dimension", RawSafeTensors.Build("{" + Tensor("w", "F32", "[\"1\"]", "[0,4]") + "}", new byte[4]), "'shape'[0] is \"1\"" },
        { "shape not an array", RawSafeTensors.Build("{" + Tensor("w", "F32", "4", "[0,4]") + "}", new byte[4]), "'shape' is a number" },
        { "shape overflows", RawSafeTensors.Build("{" + Tensor("w", "F32", "[4611686018427387904,4]", "[0,4]") + "}", new byte[4]), "overflows" },
        { "one offset", RawSafeTensors.Build("{" + Tensor("w", "F32", "[1]", "[4]") + "}", new byte[4]), "has 1 values, expected [begin, end]" },
        { "negative offset", RawSafeTensors.Build("{" + Tensor("w", "F32", "[1]", "[-4,0]") + "}", new byte[4]), "'data_offsets'[0] is -4" },
        { "offsets out of order", RawSafeTensors.Build("{" + Tensor("w", "F32", "[1]", "[4,0]") + "}", new byte[4]), "out of order" },
        { "offsets disagree with shape", RawSafeTensors.Build("{" + Tensor("w", "F32", "[3]", "[0,8]") + "}", new byte[8]), "span 8 bytes but F32 shape [3] needs 12" },
        { "offsets beyond data", RawSafeTensors.Build("{" + Tensor("w", "F32", "[2]", "[0,8]") + "}", new byte[4]), "beyond the 4-byte data section" },
        { "overlapping tensors", RawSafeTensors.Build("{" + Tensor("a", "F32", "[2]", "[0,8]") + "," + Tensor("b", "F32", "[2]", "[4,12]") + "}", new byte[12]), "overlap tensor 'a'" },
        { "gap between tensors", RawSafeTensors.Build("{" + Tensor("a", "F32", "[2]", "[0,8]") + "," + Tensor("b", "F32", "[2]", "[12,20]") + "}", new byte[20]), "bytes [8, 12) of the data section belong to no tensor" },
        { "gap at start", RawSafeTensors.Build("{" + Tensor("a", "F32", "[1]", "[4,8]") + "}", new byte[8]), "bytes [0, 4)" },
        { "trailing data", RawSafeTensors.Build("{" + Tensor("a", "F32", "[2]", "[0,8]") + "}", new byte[12]), "4 trailing bytes belong to no tensor" },
        { "data without tensors", RawSafeTensors.Build("{}", new byte[3]), "3 trailing bytes" },
        { "duplicate tensor", RawSafeTensors.Build("{" + Tensor("a", "U8", "[1]", "[0,1]") + "," + Tensor("a", "U8", "[1]", "[1,2]") + "}", new byte[2]), "lists tensor 'a' twice" },
        { "metadata twice", RawSafeTensors.Build("{\"__metadata__\":{},\"__metadata__\":{}}", []), "'__metadata__' twice" },
        { "metadata not an object", RawSafeTensors.Build("{\"__metadata__\":[\"pt\"]}", []), "'__metadata__' is a JSON array" },
        { "metadata value not a string", RawSafeTensors.Build("{\"__metadata__\":{\"epoch\":3}}", []), "metadata value 'epoch' is a number" },
        { "metadata key twice", RawSafeTensors.Build("{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", []), "metadata key 'k' appears twice" },
    };

    [Theory]
    [MemberData(nameof(MalformedFiles))]
    public void Malformed_file_throws_a_format_exception_naming_the_file_and_the_problem(string caseName, byte[] bytes, string problem)
    {
        using var dir = new TempDirectory();
        string path = dir.File(caseName.Replace(' ', '_') + ".safetensors");
        File.WriteAllBytes(path, bytes);

        var ex = Assert.Throws<SafeTensorsFormatException>(() => SafeTensors.Read(path));

        Assert.IsAssignableFrom<FormatException>(ex);
        Assert.Equal(path, ex.FilePath);
        Assert.Contains($"'{path}'", ex.Message);
        Assert.Contains(problem, ex.Message);
    }

    [Fact]
    public void Lone_surrogate_escapes_in_names_and_metadata_are_format_errors()
    {
        // Valid JSON text, but "\ud800" decodes to half a UTF-16 pair, which System.Text.Json refuses to turn into a string.
        byte[] name = RawSafeTensors.Build("{" + Tensor("\\ud800", "U8", "[1]", "[0,1]") + "}", [9]);
        byte[] meta = RawSafeTensors.Build("{\"__metadata__\":{\"k\":\"\\udc00\"}}", []);
        foreach (byte[] bytes in new[] { name, meta })
        {
            var ex = Assert.Throws<SafeTensorsFormatException>(() => SafeTensors.ReadFrom(new MemoryStream(bytes), "surrogate"));
            Assert.Contains("cannot be decoded", ex.Message);
        }
    }

    private static byte[] ValidFile()
    {
        var random = new Random(3);
        var floats = new float[6];
        for (int i = 0; i < floats.Length; i++) floats[i] = (float)random.NextDouble();
        using var memory = new MemoryStream();
        SafeTensors.WriteTo(memory,
        [
            SafeTensors.FromFloat32("conv1.weight", [2, 3], floats),
            new SafeTensorEntry("bn1.weight", "BF16", [3], [0x80, 0x3F, 0x00, 0xC0, 0x80, 0x7F]),
            SafeTensors.FromInt64("step", [], [12345]),
            new SafeTensorEntry("mask", "BOOL", [0], []),
        ], new Dictionary<string, string> { ["format"] = "pt", ["epoch"] = "3" });
        return memory.ToArray();
    }

    [Fact]
    public void Every_truncation_of_a_valid_file_throws_only_the_format_exception()
    {
        byte[] valid = ValidFile();
        Assert.Equal(4, SafeTensors.ReadFrom(new MemoryStream(valid)).Count);
        for (int length = 0; length < valid.Length; length++)
        {
            var stream = new MemoryStream(valid, 0, length);
            var ex = Assert.Throws<SafeTensorsFormatException>(() => SafeTensors.ReadFrom(stream, $"truncated-{length}"));
            Assert.Equal($"truncated-{length}", ex.FilePath);
        }
    }

    private const string JsonAlphabet = "{}[]\":,0123456789-.e \\";

    [Fact]
    public void Random_byte_flips_in_the_prefix_and_header_throw_only_the_format_exception()
    {
        byte[] valid = ValidFile();
        int headerEnd = 8 + (int)BitConverter.ToUInt64(valid, 0);
        var random = new Random(20240601);
        int failures = 0;
        for (int trial = 0; trial < 4000; trial++)
        {
            byte[] corrupt = (byte[])valid.Clone();
            int flips = 1 + random.Next(3);
            for (int f = 0; f < flips; f++)
            {
                int at = random.Next(headerEnd);
                // Half the time a single bit flip, half the time a byte from the JSON alphabet, which reaches deeper checks.
                corrupt[at] = random.Next(2) == 0
                    ? (byte)(corrupt[at] ^ (1 << random.Next(8)))
                    : (byte)JsonAlphabet[random.Next(JsonAlphabet.Length)];
            }
            Exception? ex = Record.Exception(() => SafeTensors.ReadFrom(new MemoryStream(corrupt), "fuzz"));
            if (ex is null) continue;
            Assert.True(ex is SafeTensorsFormatException,
                $"trial {trial}: {ex.GetType().Name}: {ex.Message}\nheader: {Encoding.UTF8.GetString(corrupt, 8, Math.Min(headerEnd - 8, corrupt.Length - 8))}");
            failures++;
        }
        Assert.True(failures > 3000, $"only {failures} of 4000 corruptions were detected; the fuzzer is not reaching the checks");
    }
}
