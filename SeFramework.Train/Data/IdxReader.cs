// Reader for the IDX format of MNIST / Fashion-MNIST (raw or gzip): a 4-byte magic (0, 0, element type, rank),
// big-endian int32 dimensions, then the row-major payload. Every malformation becomes an InvalidDataException
// naming the file and the problem.
using System.Buffers.Binary;

namespace SeFramework.Train.Data;

public enum IdxElementType : byte
{
    UInt8 = 0x08,
    Int8 = 0x09,
    Int16 = 0x0B,
    Int32 = 0x0C,
    Float32 = 0x0D,
    Float64 = 0x0E,
}

/// <summary>One IDX file: its dimensions and its raw payload (big-endian for multi-byte element types).</summary>
public sealed class IdxFile(string path, IdxElementType elementType, int[] dimensions, byte[] data)
{
    public string Path { get; } = path;
    public IdxElementType ElementType { get; } = elementType;
    public IReadOnlyList<int> Dimensions { get; } = dimensions;
    public byte[] Data { get; } = data;
    public int Rank => Dimensions.Count;
}

public static class IdxReader
{
    const int MaxRank = 8;

    public static int ElementSize(IdxElementType type) => type switch
    {
        IdxElementType.UInt8 or IdxElementType.Int8 => 1,
        IdxElementType.Int16 => 2,
        IdxElementType.Int32 or IdxElementType.Float32 => 4,
        IdxElementType.Float64 => 8,
        _ => 0,
    };

    /// <summary>Reads a whole IDX file (gzip detected from its first bytes).</summary>
    public static IdxFile Read(string path)
    {
        using Stream stream = DatasetLocator.OpenMaybeGzip(path);
        return Read(stream, path);
    }

    /// <summary>Reads an IDX file from <paramref name="stream"/>; <paramref name="path"/> names it in errors.</summary>
    public static IdxFile Read(Stream stream, string path)
    {
        Span<byte> header = stackalloc byte[4];
        int got = DatasetLocator.ReadFully(stream, header);
        if (got < 4)
            throw new InvalidDataException($"IDX file '{path}' is truncated: {got} bytes, too short for the 4-byte magic number.");
        if (header[0] != 0 || header[1] != 0)
            throw new InvalidDataException(
                $"IDX file '{path}' has a bad magic number 0x{BinaryPrimitives.ReadUInt32BigEndian(header):X8}: the first two bytes must be 0 " +
                "(is it an IDX file, or a gzip file that was damaged?).");
        var type = (IdxElementType)header[2];
        int elementSize = ElementSize(type);
        if (elementSize == 0)
            throw new InvalidDataException($"IDX file '{path}' has a bad magic number: unknown element type 0x{header[2]:X2}.");
        int rank = header[3];
        if (rank < 1 || rank > MaxRank)
            throw new InvalidDataException($"IDX file '{path}' has a bad magic number: rank {rank} is outside 1..{MaxRank}.");

        Span<byte> dimBytes = stackalloc byte[4 * rank];
        got = DatasetLocator.ReadFully(stream, dimBytes);
        if (got < dimBytes.Length)
            throw new InvalidDataException($"IDX file '{path}' is truncated inside its header: {rank} dimensions need {dimBytes.Length} bytes, found {got}.");
        var dims = new int[rank];
        long count = 1;
        for (int i = 0; i < rank; i++)
        {
            dims[i] = BinaryPrimitives.ReadInt32BigEndian(dimBytes.Slice(4 * i, 4));
            if (dims[i] < 0)
                throw new InvalidDataException($"IDX file '{path}' has a negative dimension {dims[i]} (dimension {i}).");
            count *= dims[i];
            if (count * elementSize > Array.MaxLength)
                throw new InvalidDataException($"IDX file '{path}' declares dimensions [{string.Join(", ", dims[..(i + 1)])}...], too large to load.");
        }

        var data = new byte[count * elementSize];
        got = DatasetLocator.ReadFully(stream, data);
        if (got < data.Length)
            throw new InvalidDataException(
                $"IDX file '{path}' is truncated: dimensions [{string.Join(", ", dims)}] need {data.Length} bytes of data, found {got}.");
        Span<byte> probe = stackalloc byte[1];
        if (stream.Read(probe) != 0)
            throw new InvalidDataException(
                $"IDX file '{path}' has bytes after the {data.Length}-byte payload of dimensions [{string.Join(", ", dims)}]; the header does not match the data.");
        return new IdxFile(path, type, dims, data);
    }
}
