// Round trips through files and streams, and byte-exact compatibility with the layout PyTorch's safetensors writes.
using System.Text;
using SeFramework.IO;
using Xunit;

namespace SeFramework.Tests.IO;

public class SafeTensorsRoundTripTests
{
    private static SafeTensorEntry RandomEntry(Random random, string name, string dtype, long[] shape)
    {
        long count = shape.Aggregate(1L, (a, b) => a * b);
        var data = new byte[count * SafeTensors.ItemSize(dtype)];
        random.NextBytes(data);
        return new SafeTensorEntry(name, dtype, shape, data);
    }

    private static void AssertSameEntries(IReadOnlyList<SafeTensorEntry> expected, IReadOnlyList<SafeTensorEntry> actual)
    {
        Assert.Equal(expected.Count, actual.Count);
        for (int i = 0; i < expected.Count; i++)
        {
            Assert.Equal(expected[i].Name, actual[i].Name);
            Assert.Equal(expected[i].DType, actual[i].DType);
            Assert.Equal(expected[i].Shape, actual[i].Shape);
            Assert.Equal(expected[i].Data, actual[i].Data);
        }
    }

    [Fact]
    public void Every_dtype_round_trips_through_a_file_with_names_shapes_bytes_and_order()
    {
        var random = new Random(7);
        var entries = new List<SafeTensorEntry>();
        foreach (string dtype in SafeTensors.KnownDTypes)
            entries.Add(RandomEntry(random, $"t.{dtype.ToLowerInvariant()}", dtype, [2, 3]));
        entries.Add(RandomEntry(random, "scalar", "F32", []));
        entries.Add(RandomEntry(random, "empty", "F64", [0, 5]));
        entries.Add(RandomEntry(random, "layer1.0.se_module.fc1.weight", "F32", [4, 16, 1, 1]));
        Assert.Equal(15, SafeTensors.KnownDTypes.Count);

        using var dir = new TempDirectory();
        string path = dir.File("all.safetensors");
        SafeTensors.Write(path, entries);
        SafeTensorsFile file = SafeTensors.Read(path);

        AssertSameEntries(entries, file.Entries);
        Assert.Empty(file.Metadata);
        Assert.Equal(path, file.Source);
        Assert.Same(file.Entries[^1], file["layer1.0.se_module.fc1.weight"]);
        Assert.True(file.TryGet("scalar", out SafeTensorEntry? scalar));
        Assert.Equal(4, scalar.Data.Length);
        Assert.False(file.TryGet("missing", out _));
        Assert.Equal(["all.safetensors"], dir.FileNames());
    }

    [Fact]
    public void Stream_write_gives_the_same_bytes_as_file_write_and_reads_back_from_seekable_and_forward_only_streams()
    {
        var random = new Random(8);
        SafeTensorEntry[] entries = [RandomEntry(random, "a", "BF16", [3]), RandomEntry(random, "b", "I64", [2, 2])];
        var metadata = new Dictionary<string, string> { ["format"] = "pt" };
        using var dir = new TempDirectory();
        string path = dir.File("x.safetensors");
        SafeTensors.Write(path, entries, metadata);

        using var memory = new MemoryStream();
        SafeTensors.WriteTo(memory, entries, metadata);
        byte[] bytes = memory.ToArray();
        Assert.Equal(File.ReadAllBytes(path), bytes);

        AssertSameEntries(entries, SafeTensors.ReadFrom(new MemoryStream(bytes), "memory").Entries);
        SafeTensorsFile forwardOnly = SafeTensors.ReadFrom(new NonSeekableStream(bytes), "pipe");
        AssertSameEntries(entries, forwardOnly.Entries);
        Assert.Equal("pt", forwardOnly.Metadata["format"]);
    }

    [Fact]
    public void Metadata_round_trips_including_non_ascii_and_characters_json_must_escape()
    {
        var metadata = new Dictionary<string, string>
        {
            ["format"] = "pt",
            ["epoch"] = "12",
            ["note"] = "quote \" backslash \\ newline \n tab \t <html> + ünïcödé 猫 🐈",
            [""] = "empty key is allowed",
        };
        using var memory = new MemoryStream();
        SafeTensors.WriteTo(memory, [SafeTensors.FromInt64("step", [], [42])], metadata);
        SafeTensorsFile file = SafeTensors.ReadFrom(new MemoryStream(memory.ToArray()));

        Assert.Equal(metadata.OrderBy(p => p.Key), file.Metadata.OrderBy(p => p.Key));
        Assert.Equal([42L], SafeTensors.ToInt64(file["step"]));
    }

    [Fact]
    public void File_with_no_tensors_round_trips()
    {
        using var memory = new MemoryStream();
        SafeTensors.WriteTo(memory, [], new Dictionary<string, string> { ["k"] = "v" });
        SafeTensorsFile file = SafeTensors.ReadFrom(new MemoryStream(memory.ToArray()));
        Assert.Empty(file.Entries);
        Assert.Equal("v", file.Metadata["k"]);
    }

    // The header as the reference (Rust/PyTorch) writer lays it out: compact JSON, metadata first, spaces to a multiple of 8.
    private const string PyTorchStyleHeader =
        "{\"__metadata__\":{\"format\":\"pt\"}," +
        "\"weight\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}," +
        "\"step\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[16,24]}}";

    // 1.0f, 2.0f, 3.0f, 4.0f as IEEE-754 little-endian words (0x3F800000, 0x40000000, 0x40400000, 0x40800000), then 7L.
    private static readonly byte[] PyTorchStyleData =
    [
        0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x40, 0x40, 0x00, 0x00, 0x80, 0x40,
        0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    ];

    [Fact]
    public void Hand_written_bytes_matching_the_spec_are_read_correctly()
    {
        string header = RawSafeTensors.Pad(PyTorchStyleHeader);
        Assert.Equal(0, Encoding.UTF8.GetByteCount(header) % 8);
        byte[] bytes = RawSafeTensors.Build(header, PyTorchStyleData);

        SafeTensorsFile file = SafeTensors.ReadFrom(new MemoryStream(bytes), "handwritten");

        Assert.Equal(["weight", "step"], file.Names);
        Assert.Equal("pt", file.Metadata["format"]);
        Assert.Equal([2L, 2L], file["weight"].Shape);
        Assert.Equal([1f, 2f, 3f, 4f], SafeTensors.ToFloat32(file["weight"]));
        Assert.Empty(file["step"].Shape);
        Assert.Equal([7L], SafeTensors.ToInt64(file["step"]));
    }

    [Fact]
    public void Writer_output_is_byte_identical_to_the_hand_written_spec_file()
    {
        byte[] expected = RawSafeTensors.Build(RawSafeTensors.Pad(PyTorchStyleHeader), PyTorchStyleData);
        using var memory = new MemoryStream();
        SafeTensors.WriteTo(memory,
            [SafeTensors.FromFloat32("weight", [2, 2], [1f, 2f, 3f, 4f]), SafeTensors.FromInt64("step", [], [7])],
            new Dictionary<string, string> { ["format"] = "pt" });
        Assert.Equal(expected, memory.ToArray());
    }

    [Fact]
    public void The_reference_implementations_own_unpadded_example_is_read()
    {
        // From the safetensors crate docs: header length 0x3C = 60, no padding, a 2x2 I32 tensor of zeros.
        const string header = "{\"test\":{\"dtype\":\"I32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}";
        Assert.Equal(60, header.Length);
        SafeTensorsFile file = SafeTensors.ReadFrom(new MemoryStream(RawSafeTensors.Build(header, new byte[16])));
        Assert.Equal([0f, 0f, 0f, 0f], SafeTensors.ToFloat32(file["test"]));
    }

    [Fact]
    public void Entries_come_back_in_data_order_when_the_header_lists_them_in_another_order()
    {
        // Older writers list tensors by name; the data section is still laid out by offset. Unknown fields are ignored.
        const string header =
            "{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[3,5],\"extra\":1}," +
            "\"b\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[0,3]}," +
            "\"c\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[5,5]}}";
        SafeTensorsFile file = SafeTensors.ReadFrom(new MemoryStream(RawSafeTensors.Build(header, [1, 2, 3, 4, 5])));
        Assert.Equal(["b", "a", "c"], file.Names);
        Assert.Equal([4, 5], file["a"].Data);
        Assert.Equal([1, 2, 3], file["b"].Data);
        Assert.Empty(file["c"].Data);
    }

    [Fact]
    public void Missing_name_lookup_names_the_file_and_what_it_holds()
    {
        using var memory = new MemoryStream();
        SafeTensors.WriteTo(memory, [SafeTensors.FromFloat32("conv1.weight", [1], [1f])]);
        SafeTensorsFile file = SafeTensors.ReadFrom(new MemoryStream(memory.ToArray()), "model.safetensors");
        var ex = Assert.Throws<KeyNotFoundException>(() => file["fc.weight"]);
        Assert.Contains("model.safetensors", ex.Message);
        Assert.Contains("'fc.weight'", ex.Message);
        Assert.Contains("'conv1.weight'", ex.Message);
    }
}
