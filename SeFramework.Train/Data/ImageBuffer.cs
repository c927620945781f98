// A reusable 8-bit image in interleaved HWC layout (row-major, channels last), the currency between decoding and
// augmentation. It grows on demand and never shrinks, so one buffer per worker serves every sample without allocation.
namespace SeFramework.Train.Data;

/// <summary>An 8-bit image (H, W, C) stored interleaved; <see cref="Pixels"/> may be longer than the image.</summary>
public sealed class ImageBuffer
{
    public ImageBuffer() { }

    public ImageBuffer(int width, int height, int channels) => Reset(width, height, channels);

    /// <summary>Backing array; the image occupies the first <c>Height*Width*Channels</c> bytes.</summary>
    public byte[] Pixels { get; private set; } = [];
    public int Width { get; private set; }
    public int Height { get; private set; }
    public int Channels { get; private set; }
    public int Length => Width * Height * Channels;

    /// <summary>The image bytes: (H, W, C) interleaved.</summary>
    public Span<byte> Span => Pixels.AsSpan(0, Length);

    /// <summary>Sets the size, growing the backing array if needed. Contents are unspecified afterwards.</summary>
    public void Reset(int width, int height, int channels)
    {
        if (width <= 0 || height <= 0 || channels <= 0)
            throw new ArgumentException($"ImageBuffer.Reset: size must be positive, got {width}x{height}x{channels}.");
        long length = (long)width * height * channels;
        if (length > Array.MaxLength)
            throw new ArgumentException($"ImageBuffer.Reset: {width}x{height}x{channels} is too large for one array.");
        if (Pixels.Length < length) Pixels = new byte[length];
        Width = width;
        Height = height;
        Channels = channels;
    }

    public byte this[int y, int x, int c]
    {
        get => Pixels[(y * Width + x) * Channels + c];
        set => Pixels[(y * Width + x) * Channels + c] = value;
    }

    /// <summary>Makes this buffer a copy of <paramref name="source"/>.</summary>
    public void CopyFrom(ImageBuffer source)
    {
        Reset(source.Width, source.Height, source.Channels);
        source.Span.CopyTo(Pixels);
    }
}
