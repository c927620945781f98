// The geometric and photometric primitives the transforms are made of, on 8-bit (H, W, C) images: random-size crop
// sampling, bilinear resampling of a region (with optional mirror), rotation, zero-pad crop, pixel jitter, and the
// final conversion to normalised float (C, H, W). Bilinear uses 11-bit fixed-point weights like OpenCV's INTER_LINEAR.
namespace SeFramework.Train.Data;

/// <summary>An integer crop rectangle in source pixels.</summary>
public readonly record struct CropBox(int X, int Y, int Width, int Height)
{
    public double AspectRatio => (double)Width / Height;
}

/// <summary>Scratch buffers one worker reuses for every sample (no allocation per sample once grown).</summary>
public sealed class TransformWorkspace
{
    public ImageBuffer A { get; } = new();
    public ImageBuffer B { get; } = new();
    internal int[] X0 = [], X1 = [], Wx = [];

    internal void EnsureColumns(int n)
    {
        if (X0.Length >= n) return;
        X0 = new int[n];
        X1 = new int[n];
        Wx = new int[n];
    }
}

public static class ImageOps
{
    const int WeightBits = 11, One = 1 << WeightBits; // fixed-point 1.0 for bilinear weights

    /// <summary>
    /// torchvision's RandomResizedCrop.get_params: up to 10 tries of an area fraction uniform in [minArea, maxArea] and
    /// an aspect ratio (w/h) log-uniform in [minAspect, maxAspect]; a try fits if the rounded box is inside the image.
    /// Fallback: the largest centred box whose aspect is clamped to the range. Draws: 2 per try, then 2 for the position.
    /// </summary>
    public static CropBox SampleRandomResizedCrop(int width, int height, ref SampleRng rng,
        double minArea = 0.08, double maxArea = 1.0, double minAspect = 3.0 / 4.0, double maxAspect = 4.0 / 3.0)
    {
        double area = (double)width * height;
        double logMin = Math.Log(minAspect), logMax = Math.Log(maxAspect);
        for (int attempt = 0; attempt < 10; attempt++)
        {
            double targetArea = area * rng.NextDouble(minArea, maxArea);
            double aspect = Math.Exp(rng.NextDouble(logMin, logMax));
            int w = (int)Math.Round(Math.Sqrt(targetArea * aspect));
            int h = (int)Math.Round(Math.Sqrt(targetArea / aspect));
            if (w > 0 && h > 0 && w <= width && h <= height)
            {
                int y = rng.NextInt(0, height - h);
                int x = rng.NextInt(0, width - w);
                return new CropBox(x, y, w, h);
            }
        }
        double inRatio = (double)width / height;
        int cw = width, ch = height;
        if (inRatio < minAspect) ch = Math.Max(1, (int)Math.Round(cw / minAspect));
        else if (inRatio > maxAspect) cw = Math.Max(1, (int)Math.Round(ch * maxAspect));
        return new CropBox((width - cw) / 2, (height - ch) / 2, cw, ch);
    }

    /// <summary>
    /// Resamples the region (x0, y0, regionWidth, regionHeight) of <paramref name="src"/> to outWidth x outHeight,
    /// bilinear with pixel centres at +0.5 and edge replication; <paramref name="mirror"/> flips the result left-right.
    /// src: (H, W, C) -> dst: (outHeight, outWidth, C). No anti-aliasing (as OpenCV's INTER_LINEAR, which Caffe used).
    /// </summary>
    public static void ResizeBilinear(ImageBuffer src, double x0, double y0, double regionWidth, double regionHeight,
        ImageBuffer dst, int outWidth, int outHeight, bool mirror, TransformWorkspace ws)
    {
        if (ReferenceEquals(src, dst)) throw new ArgumentException("ImageOps.ResizeBilinear: src and dst must differ.");
        int w = src.Width, h = src.Height, c = src.Channels;
        dst.Reset(outWidth, outHeight, c);
        double scaleX = regionWidth / outWidth, scaleY = regionHeight / outHeight;
        ws.EnsureColumns(outWidth);
        for (int ox = 0; ox < outWidth; ox++)
        {
            int col = mirror ? outWidth - 1 - ox : ox;
            Axis(x0 + (col + 0.5) * scaleX - 0.5, w, out int i0, out int i1, out int weight);
            ws.X0[ox] = i0 * c;
            ws.X1[ox] = i1 * c;
            ws.Wx[ox] = weight;
        }
        byte[] s = src.Pixels, d = dst.Pixels;
        int rowStride = w * c;
        for (int oy = 0; oy < outHeight; oy++)
        {
            Axis(y0 + (oy + 0.5) * scaleY - 0.5, h, out int r0, out int r1, out int wy);
            int row0 = r0 * rowStride, row1 = r1 * rowStride, outRow = oy * outWidth * c;
            for (int ox = 0; ox < outWidth; ox++)
            {
                int a0 = row0 + ws.X0[ox], a1 = row0 + ws.X1[ox], b0 = row1 + ws.X0[ox], b1 = row1 + ws.X1[ox];
                int wx = ws.Wx[ox], o = outRow + ox * c;
                for (int k = 0; k < c; k++)
                {
                    int top = s[a0 + k] * (One - wx) + s[a1 + k] * wx;
                    int bottom = s[b0 + k] * (One - wx) + s[b1 + k] * wx;
                    d[o + k] = (byte)((top * (One - wy) + bottom * wy + (1 << (2 * WeightBits - 1))) >> (2 * WeightBits));
                }
            }
        }
    }

    // A source coordinate -> the two neighbouring indices (clamped to the edge) and the fixed-point weight of the second.
    static void Axis(double coordinate, int size, out int i0, out int i1, out int weight)
    {
        if (coordinate <= 0) { i0 = i1 = 0; weight = 0; return; }
        i0 = (int)coordinate;
        if (i0 >= size - 1) { i0 = i1 = size - 1; weight = 0; return; }
        i1 = i0 + 1;
        weight = (int)Math.Round((coordinate - i0) * One);
    }

    /// <summary>
    /// Rotates <paramref name="src"/> by <paramref name="degrees"/> about its centre, keeping its size; bilinear, and
    /// source samples outside the image count as 0. Positive angles turn the picture anticlockwise as displayed (y down).
    /// src: (H, W, C) -> dst: (H, W, C).
    /// </summary>
    public static void Rotate(ImageBuffer src, ImageBuffer dst, double degrees)
    {
        if (ReferenceEquals(src, dst)) throw new ArgumentException("ImageOps.Rotate: src and dst must differ.");
        int w = src.Width, h = src.Height, c = src.Channels;
        dst.Reset(w, h, c);
        if (degrees == 0)
        {
            src.Span.CopyTo(dst.Span);
            return;
        }
        double theta = degrees * Math.PI / 180, cos = Math.Cos(theta), sin = Math.Sin(theta);
        double cx = (w - 1) / 2.0, cy = (h - 1) / 2.0;
        byte[] s = src.Pixels, d = dst.Pixels;
        for (int oy = 0; oy < h; oy++)
        {
            double dy = oy - cy;
            for (int ox = 0; ox < w; ox++)
            {
                double dx = ox - cx;
                // inverse map: the output pixel shows the source point rotated back by theta
                double sx = cos * dx - sin * dy + cx, sy = sin * dx + cos * dy + cy;
                int o = (oy * w + ox) * c;
                double fx0 = Math.Floor(sx), fy0 = Math.Floor(sy);
                if (fx0 < -1 || fy0 < -1 || fx0 >= w || fy0 >= h)
                {
                    d.AsSpan(o, c).Clear();
                    continue;
                }
                int x0 = (int)fx0, y0 = (int)fy0;
                int wx = (int)Math.Round((sx - fx0) * One), wy = (int)Math.Round((sy - fy0) * One);
                bool inX0 = x0 >= 0, inX1 = x0 + 1 < w, inY0 = y0 >= 0, inY1 = y0 + 1 < h;
                for (int k = 0; k < c; k++)
                {
                    int p00 = inY0 && inX0 ? s[(y0 * w + x0) * c + k] : 0;
                    int p01 = inY0 && inX1 ? s[(y0 * w + x0 + 1) * c + k] : 0;
                    int p10 = inY1 && inX0 ? s[((y0 + 1) * w + x0) * c + k] : 0;
                    int p11 = inY1 && inX1 ? s[((y0 + 1) * w + x0 + 1) * c + k] : 0;
                    int top = p00 * (One - wx) + p01 * wx, bottom = p10 * (One - wx) + p11 * wx;
                    d[o + k] = (byte)((top * (One - wy) + bottom * wy + (1 << (2 * WeightBits - 1))) >> (2 * WeightBits));
                }
            }
        }
    }

    /// <summary>
    /// Zero-pads <paramref name="src"/> by <paramref name="pad"/> on every side, crops the original size at offset
    /// (offsetX, offsetY) of the padded image (each in 0..2*pad), then optionally mirrors. src: (H, W, C) -> dst: (H, W, C).
    /// </summary>
    public static void PadCrop(ImageBuffer src, ImageBuffer dst, int pad, int offsetX, int offsetY, bool mirror)
    {
        if (ReferenceEquals(src, dst)) throw new ArgumentException("ImageOps.PadCrop: src and dst must differ.");
        int w = src.Width, h = src.Height, c = src.Channels;
        dst.Reset(w, h, c);
        byte[] s = src.Pixels, d = dst.Pixels;
        for (int y = 0; y < h; y++)
        {
            int sy = y + offsetY - pad;
            for (int x = 0; x < w; x++)
            {
                int sx = (mirror ? w - 1 - x : x) + offsetX - pad;
                int o = (y * w + x) * c;
                if ((uint)sy < (uint)h && (uint)sx < (uint)w)
                    s.AsSpan((sy * w + sx) * c, c).CopyTo(d.AsSpan(o, c));
                else
                    d.AsSpan(o, c).Clear();
            }
        }
    }

    /// <summary>
    /// Adds an independent uniform integer in [-amplitude, amplitude] to every value (each channel of each pixel),
    /// clamping to 0..255. Each 64-bit draw gives four 16-bit fractions, each mapped to an offset by multiply-high
    /// (bias at most range / 65536, about 0.06 % for ±20), in memory order; a quarter of the RNG calls of one per value.
    /// </summary>
    public static void Jitter(ImageBuffer image, int amplitude, ref SampleRng rng)
    {
        if (amplitude < 0 || amplitude > 255) throw new ArgumentOutOfRangeException(nameof(amplitude), $"ImageOps.Jitter: amplitude {amplitude} is outside 0..255.");
        Span<byte> p = image.Span;
        int range = 2 * amplitude + 1;
        ulong bits = 0;
        for (int i = 0; i < p.Length; i++)
        {
            if ((i & 3) == 0) bits = rng.NextUInt64();
            int offset = (int)(((bits & 0xFFFF) * (ulong)range) >> 16) - amplitude;
            bits >>= 16;
            p[i] = (byte)Math.Clamp(p[i] + offset, 0, 255);
        }
    }

    /// <summary>
    /// 8-bit (H, W, C) -> float (C, H, W): x / 255, then (x - mean[c]) / std[c].
    /// </summary>
    public static void ToNormalizedChw(ImageBuffer src, Normalization normalization, Span<float> dst)
    {
        int c = src.Channels, plane = src.Width * src.Height;
        if (normalization.Channels != c)
            throw new ArgumentException($"ImageOps.ToNormalizedChw: normalisation has {normalization.Channels} channels, the image {c}.");
        if (dst.Length < c * plane)
            throw new ArgumentException($"ImageOps.ToNormalizedChw: destination holds {dst.Length} floats, needs {c * plane}.");
        byte[] s = src.Pixels;
        for (int k = 0; k < c; k++)
        {
            float scale = 1f / (255f * normalization.Std[k]), bias = -normalization.Mean[k] / normalization.Std[k];
            Span<float> outPlane = dst.Slice(k * plane, plane);
            for (int i = 0; i < plane; i++)
                outPlane[i] = s[i * c + k] * scale + bias;
        }
    }
}
