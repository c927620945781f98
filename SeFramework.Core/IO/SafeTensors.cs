// Reads and writes safetensors files (8-byte LE header length, UTF-8 JSON header, raw LE tensor bytes), the
// format PyTorch/timm checkpoints use. Writes are atomic (temp file + rename); reads bounds-check every header field.
using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Unicode;

namespace SeFramework.IO;

/// <summary>
/// Safetensors I/O. Layout: u64 little-endian N, then N bytes of JSON
/// <c>{"__metadata__":{"k":"v"}, "name":{"dtype":"F32","shape":[2,3],"data_offsets":[begin,end]}, ...}</c>
/// padded with spaces so data starts at a multiple of 8, then the data section; offsets are relative to its start.
/// </summary>
public static partial class SafeTensors
{
    /// <summary>Largest header accepted, the limit of the reference (Rust) implementation.</summary>
    public const int MaxHeaderBytes = 100_000_000;

    private const string MetadataKey = "__metadata__";

    private static readonly Dictionary<string, int> ItemSizes = new(StringComparer.Ordinal)
    {
        ["BOOL"] = 1, ["U8"] = 1, ["I8"] = 1, ["F8_E5M2"] = 1, ["F8_E4M3"] = 1,
        ["I16"] = 2, ["U16"] = 2, ["F16"] = 2, ["BF16"] = 2,
        ["I32"] = 4, ["U32"] = 4, ["F32"] = 4,
        ["I64"] = 8, ["U64"] = 8, ["F64"] = 8,
    };

    /// <summary>The dtype strings this implementation reads and writes.</summary>
    public static IReadOnlyCollection<string> KnownDTypes => ItemSizes.Keys;

    /// <summary>Bytes per element of a safetensors dtype ("F32" -> 4); ArgumentException for an unknown dtype.</summary>
    public static int ItemSize(string dtype)
    {
        ArgumentNullException.ThrowIfNull(dtype);
        return ItemSizes.TryGetValue(dtype, out int size)
            ? size
            : throw new ArgumentException(
                $"Unknown safetensors dtype '{dtype}'; use one of {string.Join(", ", ItemSizes.Keys)}.", nameof(dtype));
    }

    // ---------------------------------------------------------------- writing

    /// <summary>
    /// Writes <paramref name="entries"/> (in the given order) to <paramref name="path"/> atomically: the bytes go to
    /// <c>path + ".tmp-&lt;random&gt;"</c> in the same directory, are flushed to disk, then renamed over
    /// <paramref name="path"/>. On any failure the temp file is deleted and an existing file at path is untouched.
    /// Entries are validated before anything is written (ArgumentException).
    /// </summary>
    public static void Write(string path, IReadOnlyList<SafeTensorEntry> entries,
        IReadOnlyDictionary<string, string>? metadata = null)
        => WriteAtomically(path, entries, metadata, wrapFileStream: null);

    /// <summary>Writes the safetensors bytes to <paramref name="stream"/>; entries are validated first.</summary>
    public static void WriteTo(Stream stream, IReadOnlyList<SafeTensorEntry> entries,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        SafeTensorEntry[] snapshot = Snapshot(entries);
        byte[] header = BuildHeader(snapshot, metadata);
        WriteBody(stream, header, snapshot);
        stream.Flush();
    }

    /// <summary>Write with a hook that wraps the temp file's stream, so tests can make the write fail midway.</summary>
    internal static void WriteAtomically(string path, IReadOnlyList<SafeTensorEntry> entries,
        IReadOnlyDictionary<string, string>? metadata, Func<Stream, Stream>? wrapFileStream)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        SafeTensorEntry[] snapshot = Snapshot(entries);
        byte[] header = BuildHeader(snapshot, metadata);

        string fullPath = Path.GetFullPath(path);
        string tempPath = fullPath + ".tmp-" + Convert.ToHexString(RandomNumberGenerator.GetBytes(6)).ToLowerInvariant();
        try
        {
            using (var file = new FileStream(tempPath, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                Stream target = wrapFileStream?.Invoke(file) ?? file;
                WriteBody(target, header, snapshot);
                target.Flush();
                file.Flush(flushToDisk: true);
            }
            File.Move(tempPath, fullPath, overwrite: true);
        }
        catch
        {
            try { File.Delete(tempPath); }
            catch (IOException) { /* keep the original exception; the temp name is unique so nothing reuses it */ }
            catch (UnauthorizedAccessException) { }
            throw;
        }
    }

    private static SafeTensorEntry[] Snapshot(IReadOnlyList<SafeTensorEntry> entries)
    {
        ArgumentNullException.ThrowIfNull(entries);
        var snapshot = entries.ToArray();
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < snapshot.Length; i++)
        {
            SafeTensorEntry? entry = snapshot[i];
            if (entry is null) throw new ArgumentException($"Entry {i} is null.", nameof(entries));
            if (string.IsNullOrEmpty(entry.Name))
                throw new ArgumentException($"Entry {i} has an empty name; every tensor needs a unique non-empty name.", nameof(entries));
            if (entry.Name == MetadataKey)
                throw new ArgumentException($"Entry {i} is named '{MetadataKey}', which the format reserves for metadata; rename it.", nameof(entries));
            if (!names.Add(entry.Name))
                throw new ArgumentException($"Two entries are named '{entry.Name}'; tensor names in a file must be unique.", nameof(entries));
            CheckEntry(entry, nameof(entries));
        }
        return snapshot;
    }

    /// <summary>Checks dtype, shape and that Data holds exactly product(shape) * itemsize bytes.</summary>
    internal static void CheckEntry(SafeTensorEntry entry, string paramName)
    {
        if (entry.DType is null || !ItemSizes.TryGetValue(entry.DType, out int itemSize))
            throw new ArgumentException(
                $"Tensor '{entry.Name}' has unknown dtype '{entry.DType}'; use one of {string.Join(", ", ItemSizes.Keys)}.", paramName);
        if (entry.Shape is null) throw new ArgumentException($"Tensor '{entry.Name}' has a null shape; use [] for a scalar.", paramName);
        if (entry.Data is null) throw new ArgumentException($"Tensor '{entry.Name}' has null data.", paramName);
        foreach (long dim in entry.Shape)
            if (dim < 0)
                throw new ArgumentException($"Tensor '{entry.Name}' has a negative dimension in shape [{string.Join(", ", entry.Shape)}].", paramName);
        if (!TryByteLength(entry.Shape, itemSize, out long expected))
            throw new ArgumentException($"Tensor '{entry.Name}' shape [{string.Join(", ", entry.Shape)}] is too large to store.", paramName);
        if (entry.Data.Length != expected)
            throw new ArgumentException(
                $"Tensor '{entry.Name}' ({entry.DType}, shape [{string.Join(", ", entry.Shape)}]) needs {expected} bytes " +
                $"but Data holds {entry.Data.Length}.", paramName);
    }

    /// <summary>product(shape) * itemSize, false on overflow. Dimensions must already be non-negative.</summary>
    private static bool TryByteLength(IReadOnlyList<long> shape, int itemSize, out long bytes)
    {
        bytes = itemSize;
        bool zero = false;
        foreach (long dim in shape)
        {
            if (dim == 0) zero = true;
            else if (bytes > long.MaxValue / dim) return false;
            else bytes *= dim;
        }
        if (zero) bytes = 0;
        return true;
    }

    // Header JSON, compact like serde_json, padded with spaces to a multiple of 8 bytes.
    private static byte[] BuildHeader(SafeTensorEntry[] entries, IReadOnlyDictionary<string, string>? metadata)
    {
        var buffer = new ArrayBufferWriter<byte>();
        // Relaxed escaping keeps non-ASCII names readable; the header is never embedded in HTML.
        var options = new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
        using (var json = new Utf8JsonWriter(buffer, options))
        {
            json.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                json.WriteStartObject(MetadataKey);
                // Sorted so the same checkpoint always gives the same bytes.
                foreach (KeyValuePair<string, string> pair in metadata.OrderBy(p => p.Key, StringComparer.Ordinal))
                {
                    if (pair.Key is null || pair.Value is null)
                        throw new ArgumentException($"Metadata key '{pair.Key}' has a null key or value.", nameof(metadata));
                    json.WriteString(pair.Key, pair.Value);
                }
                json.WriteEndObject();
            }
            long offset = 0;
            foreach (SafeTensorEntry entry in entries)
            {
                json.WriteStartObject(entry.Name);
                json.WriteString("dtype", entry.DType);
                json.WriteStartArray("shape");
                foreach (long dim in entry.Shape) json.WriteNumberValue(dim);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                offset += entry.Data.Length;
                json.WriteNumberValue(offset);
                json.WriteEndArray();
                json.WriteEndObject();
            }
            json.WriteEndObject();
        }
        int padded = (buffer.WrittenCount + 7) / 8 * 8;
        if (padded > MaxHeaderBytes)
            throw new ArgumentException($"The header would be {padded} bytes, over the {MaxHeaderBytes}-byte limit readers accept; " +
                "split the tensors over several files or shorten the metadata.", nameof(entries));
        byte[] header = new byte[padded];
        buffer.WrittenSpan.CopyTo(header);
        header.AsSpan(buffer.WrittenCount).Fill((byte)' ');
        return header;
    }

    private static void WriteBody(Stream stream, byte[] header, SafeTensorEntry[] entries)
    {
        Span<byte> prefix = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)header.Length);
        stream.Write(prefix);
        stream.Write(header);
        foreach (SafeTensorEntry entry in entries) stream.Write(entry.Data);
    }

    // ---------------------------------------------------------------- reading

    /// <summary>
    /// Reads a whole safetensors file. A malformed file gives <see cref="SafeTensorsFormatException"/> naming the
    /// file and the problem; a missing or unreadable file gives the usual IOException.
    /// </summary>
    public static SafeTensorsFile Read(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        return ReadCore(file, file.Length, path);
    }

    /// <summary>
    /// Reads safetensors bytes from the current position of <paramref name="stream"/> to its end;
    /// <paramref name="sourceName"/> names the stream in error messages.
    /// </summary>
    public static SafeTensorsFile ReadFrom(Stream stream, string sourceName = "<stream>")
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (stream.CanSeek) return ReadCore(stream, stream.Length - stream.Position, sourceName);
        var copy = new MemoryStream();
        stream.CopyTo(copy);
        copy.Position = 0;
        return ReadCore(copy, copy.Length, sourceName);
    }

    /// <summary>One header entry before its bytes are read.</summary>
    private sealed record HeaderEntry(string Name, string DType, long[] Shape, long Begin, long End);

    private static SafeTensorsFile ReadCore(Stream stream, long length, string source)
    {
        SafeTensorsFormatException Fail(string problem, Exception? inner = null) => new(source, problem, inner);

        if (length < 8)
            throw Fail($"it is {length} bytes long, shorter than the 8-byte header length that starts every safetensors file.");
        Span<byte> prefix = stackalloc byte[8];
        ReadExactly(stream, prefix, source);
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (headerLength > MaxHeaderBytes)
            throw Fail($"the header length is {headerLength} bytes, over the {MaxHeaderBytes}-byte limit; the file is corrupt or not safetensors.");
        if ((long)headerLength > length - 8)
            throw Fail($"the header length is {headerLength} bytes but only {length - 8} bytes follow the length prefix; the file is truncated or not safetensors.");

        byte[] header = new byte[headerLength];
        ReadExactly(stream, header, source);
        long dataLength = length - 8 - (long)headerLength;
        (Dictionary<string, string> metadata, List<HeaderEntry> headerEntries) = ParseHeader(header, source);
        CheckLayout(headerEntries, dataLength, source);

        var entries = new List<SafeTensorEntry>(headerEntries.Count);
        foreach (HeaderEntry h in headerEntries)
        {
            long size = h.End - h.Begin;
            if (size > Array.MaxLength)
                throw Fail($"tensor '{h.Name}' is {size} bytes, more than one .NET array can hold ({Array.MaxLength}).");
            byte[] data = new byte[size];
            ReadExactly(stream, data, source);
            entries.Add(new SafeTensorEntry(h.Name, h.DType, h.Shape, data));
        }
        return new SafeTensorsFile(source, metadata, entries);
    }

    private static void ReadExactly(Stream stream, Span<byte> buffer, string source)
    {
        try
        {
            stream.ReadExactly(buffer);
        }
        catch (EndOfStreamException ex)
        {
            throw new SafeTensorsFormatException(source, "the file ended before its declared size; was it modified while being read?", ex);
        }
    }

    // Parses the JSON header into metadata and entries sorted by data offset (the order of the data section).
    private static (Dictionary<string, string>, List<HeaderEntry>) ParseHeader(byte[] header, string source)
    {
        SafeTensorsFormatException Fail(string problem, Exception? inner = null) => new(source, problem, inner);

        if (!Utf8.IsValid(header)) throw Fail("the header is not valid UTF-8.");
        if (header.Length == 0 || header[0] != (byte)'{')
            throw Fail("the header does not start with '{'; it must be a JSON object.");

        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        var entries = new List<HeaderEntry>();
        try
        {
            using JsonDocument document = JsonDocument.Parse(header);
            JsonElement root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw Fail("the header is not a JSON object.");
            var seen = new HashSet<string>(StringComparer.Ordinal);
            bool hasMetadata = false;
            foreach (JsonProperty property in root.EnumerateObject())
            {
                if (property.Name == MetadataKey)
                {
                    if (hasMetadata) throw Fail($"the header has '{MetadataKey}' twice.");
                    hasMetadata = true;
                    ParseMetadata(property.Value, metadata, source);
                    continue;
                }
                if (!seen.Add(property.Name)) throw Fail($"the header lists tensor '{property.Name}' twice.");
                entries.Add(ParseEntry(property.Name, property.Value, source));
            }
        }
        catch (JsonException ex)
        {
            throw Fail($"the header is not valid JSON: {ex.Message}", ex);
        }
        catch (InvalidOperationException ex)
        {
            // JsonElement accessors throw this for strings that cannot be decoded (e.g. escaped lone surrogates).
            throw Fail($"the header has a string that cannot be decoded: {ex.Message}", ex);
        }
        // Writers may list tensors in any order (name order, alignment order); the data section is in offset order.
        entries.Sort((a, b) => a.Begin != b.Begin ? a.Begin.CompareTo(b.Begin) : a.End.CompareTo(b.End));
        return (metadata, entries);
    }

    private static void ParseMetadata(JsonElement value, Dictionary<string, string> metadata, string source)
    {
        if (value.ValueKind == JsonValueKind.Null) return; // serde writes None as null in some versions
        if (value.ValueKind != JsonValueKind.Object)
            throw new SafeTensorsFormatException(source, $"'{MetadataKey}' is a {Describe(value.ValueKind)}, expected an object of strings.");
        foreach (JsonProperty pair in value.EnumerateObject())
        {
            if (pair.Value.ValueKind != JsonValueKind.String)
                throw new SafeTensorsFormatException(source,
                    $"metadata value '{pair.Name}' is a {Describe(pair.Value.ValueKind)}; safetensors metadata values must be strings.");
            if (!metadata.TryAdd(pair.Name, pair.Value.GetString()!))
                throw new SafeTensorsFormatException(source, $"metadata key '{pair.Name}' appears twice.");
        }
    }

    private static HeaderEntry ParseEntry(string name, JsonElement value, string source)
    {
        SafeTensorsFormatException Fail(string problem) => new(source, $"tensor '{name}': {problem}");

        if (value.ValueKind != JsonValueKind.Object)
            throw Fail($"its entry is a {Describe(value.ValueKind)}, expected an object with dtype, shape and data_offsets.");
        JsonElement? dtypeElement = null, shapeElement = null, offsetsElement = null;
        foreach (JsonProperty field in value.EnumerateObject())
        {
            ref JsonElement? slot = ref dtypeElement;
            switch (field.Name)
            {
                case "dtype": slot = ref dtypeElement; break;
                case "shape": slot = ref shapeElement; break;
                case "data_offsets": slot = ref offsetsElement; break;
                default: continue; // unknown fields are ignored, as the reference reader does
            }
            if (slot is not null) throw Fail($"'{field.Name}' appears twice.");
            slot = field.Value;
        }
        if (dtypeElement is not { } dtypeJson) throw Fail("missing 'dtype'.");
        if (shapeElement is not { } shapeJson) throw Fail("missing 'shape'.");
        if (offsetsElement is not { } offsetsJson) throw Fail("missing 'data_offsets'.");

        if (dtypeJson.ValueKind != JsonValueKind.String) throw Fail($"'dtype' is a {Describe(dtypeJson.ValueKind)}, expected a string such as \"F32\".");
        string dtype = dtypeJson.GetString()!;
        if (!ItemSizes.TryGetValue(dtype, out int itemSize))
            throw Fail($"unknown dtype '{dtype}'; known: {string.Join(", ", ItemSizes.Keys)}.");

        long[] shape = ReadIntegers(shapeJson, "shape", Fail);
        long[] offsets = ReadIntegers(offsetsJson, "data_offsets", Fail);
        if (offsets.Length != 2) throw Fail($"'data_offsets' has {offsets.Length} values, expected [begin, end].");
        long begin = offsets[0], end = offsets[1];
        if (begin > end) throw Fail($"data_offsets [{begin}, {end}] are out of order (begin > end).");
        if (!TryByteLength(shape, itemSize, out long expected))
            throw Fail($"shape [{string.Join(", ", shape)}] overflows a 64-bit byte count.");
        if (end - begin != expected)
            throw Fail($"data_offsets [{begin}, {end}] span {end - begin} bytes but {dtype} shape [{string.Join(", ", shape)}] needs {expected}.");
        return new HeaderEntry(name, dtype, shape, begin, end);
    }

    // A JSON array of non-negative integers (shape dims or offsets).
    private static long[] ReadIntegers(JsonElement array, string field, Func<string, SafeTensorsFormatException> fail)
    {
        if (array.ValueKind != JsonValueKind.Array)
            throw fail($"'{field}' is a {Describe(array.ValueKind)}, expected an array of non-negative integers.");
        var values = new long[array.GetArrayLength()];
        int i = 0;
        foreach (JsonElement item in array.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt64(out long v))
                throw fail($"'{field}'[{i}] is {item.GetRawText()}, expected a non-negative integer.");
            if (v < 0) throw fail($"'{field}'[{i}] is {v}, expected a non-negative integer.");
            values[i++] = v;
        }
        return values;
    }

    // Entries are sorted by offset; they must tile the data section exactly: no gap, no overlap, nothing past the end.
    private static void CheckLayout(List<HeaderEntry> entries, long dataLength, string source)
    {
        long covered = 0;
        string? previous = null;
        foreach (HeaderEntry e in entries)
        {
            if (e.End > dataLength)
                throw new SafeTensorsFormatException(source,
                    $"tensor '{e.Name}': data_offsets [{e.Begin}, {e.End}] reach beyond the {dataLength}-byte data section; the file may be truncated.");
            if (e.Begin < covered)
                throw new SafeTensorsFormatException(source,
                    $"tensor '{e.Name}': data_offsets [{e.Begin}, {e.End}] overlap tensor '{previous}', which ends at {covered}.");
            if (e.Begin > covered)
                throw new SafeTensorsFormatException(source,
                    $"bytes [{covered}, {e.Begin}) of the data section belong to no tensor (gap before '{e.Name}').");
            covered = e.End;
            previous = e.Name;
        }
        if (covered != dataLength)
            throw new SafeTensorsFormatException(source,
                $"the data section is {dataLength} bytes but the tensors cover only the first {covered}; {dataLength - covered} trailing bytes belong to no tensor.");
    }

    private static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "JSON object",
        JsonValueKind.Array => "JSON array",
        JsonValueKind.String => "string",
        JsonValueKind.Number => "number",
        JsonValueKind.True or JsonValueKind.False => "boolean",
        JsonValueKind.Null => "null",
        _ => kind.ToString(),
    };
}
