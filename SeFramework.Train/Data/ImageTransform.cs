// The per-sample pipelines selected by `--augment`: none, cifar, senet (the SENet authors' recipe) and eval
// (resize-256 / centre-224), each ending in float (C, H, W) normalised output. Randomness comes only from the
// SampleRng passed in, drawn in a fixed order, so a sample's result depends on (seed, epoch, index) alone.
namespace SeFramework.Train.Data;

public enum AugmentationKind
{
    /// <summary>The image as is (resized to the output size, aspect not kept, when it differs).</summary>
    None,
    /// <summary>Zero-pad 4, random crop back to the original size, random horizontal mirror (He et al. CIFAR recipe).</summary>
    Cifar,
    /// <summary>Random mirror, random-size crop (8–100 % area, aspect 3/4–4/3) resized, rotation ±10°, pixel jitter ±20.</summary>
    Senet,
    /// <summary>Resize the shorter side to Output/0.875 (256 for 224), then centre-crop the output size.</summary>
    Eval,
}

/// <summary>Parameters of the senet augmentation (defaults: the SENet repository's "Augmentation" table).</summary>
public sealed record SenetAugmentOptions
{
    public double MinArea { get; init; } = 0.08;
    public double MaxArea { get; init; } = 1.0;
    public double MinAspect { get; init; } = 3.0 / 4.0;
    public double MaxAspect { get; init; } = 4.0 / 3.0;
    public double MaxRotationDegrees { get; init; } = 10;
    public int PixelJitter { get; init; } = 20;
}

public sealed class ImageTransform
{
    public const int CifarPad = 4;
    /// <summary>Eval resizes the shorter side to output / 0.875 (224 -> 256), the usual ImageNet centre-crop ratio.</summary>
    public const double EvalCropFraction = 0.875;

    public ImageTransform(AugmentationKind kind, int channels, int outputHeight, int outputWidth, Normalization normalization,
        SenetAugmentOptions? senet = null)
    {
        if (outputHeight <= 0 || outputWidth <= 0)
            throw new ArgumentException($"ImageTransform: output size must be positive, got {outputHeight}x{outputWidth}.");
        if (normalization.Channels != channels)
            throw new ArgumentException($"ImageTransform: normalisation has {normalization.Channels} channels but the images have {channels}.");
        Kind = kind;
        Channels = channels;
        OutputHeight = outputHeight;
        OutputWidth = outputWidth;
        Normalization = normalization;
        Senet = senet ?? new SenetAugmentOptions();
    }

    public AugmentationKind Kind { get; }
    public int Channels { get; }
    public int OutputHeight { get; }
    public int OutputWidth { get; }
    public int OutputSize => Channels * OutputHeight * OutputWidth;
    public Normalization Normalization { get; }
    public SenetAugmentOptions Senet { get; }

    public static readonly IReadOnlyList<string> Names = ["none", "cifar", "senet", "eval"];

    /// <summary>
    /// Builds the transform named <paramref name="name"/> for <paramref name="dataset"/>. Output size: the dataset's native
    /// size for none/cifar (required for cifar), <paramref name="outputSize"/> (default 224) square for senet/eval.
    /// </summary>
    public static ImageTransform Create(string name, IImageDataset dataset, Normalization normalization, int? outputSize = null)
    {
        AugmentationKind kind = name.ToLowerInvariant() switch
        {
            "none" => AugmentationKind.None,
            "cifar" => AugmentationKind.Cifar,
            "senet" => AugmentationKind.Senet,
            "eval" => AugmentationKind.Eval,
            _ => throw new ArgumentException($"Unknown augmentation '{name}'; choose one of: {string.Join(", ", Names)}."),
        };
        bool fixedSize = dataset.Height > 0 && dataset.Width > 0;
        int h, w;
        switch (kind)
        {
            case AugmentationKind.Cifar:
                if (!fixedSize)
                    throw new ArgumentException($"Augmentation 'cifar' keeps the native size, but {dataset.Name} has images of varying size; use senet or eval.");
                if (outputSize is int s && (s != dataset.Height || s != dataset.Width))
                    throw new ArgumentException($"Augmentation 'cifar' keeps the native size {dataset.Height}x{dataset.Width}; an output size of {s} is not possible.");
                (h, w) = (dataset.Height, dataset.Width);
                break;
            case AugmentationKind.None when outputSize is null:
                if (!fixedSize)
                    throw new ArgumentException($"Augmentation 'none' needs an output size for {dataset.Name}, whose images vary in size.");
                (h, w) = (dataset.Height, dataset.Width);
                break;
            default:
                h = w = outputSize ?? 224;
                break;
        }
        return new ImageTransform(kind, dataset.Channels, h, w, normalization);
    }

    /// <summary>
    /// src: (H, W, Channels) bytes -> dst: (Channels, OutputHeight, OutputWidth) floats, normalised.
    /// Draw order — cifar: offsetX, offsetY, mirror; senet: mirror, crop, angle, jitter (one per value).
    /// </summary>
    public void Apply(ImageBuffer src, ref SampleRng rng, TransformWorkspace ws, Span<float> dst)
    {
        if (src.Channels != Channels)
            throw new ArgumentException($"ImageTransform.Apply: image has {src.Channels} channels, the transform expects {Channels}.");
        ImageBuffer result;
        switch (Kind)
        {
            case AugmentationKind.None:
                if (src.Width == OutputWidth && src.Height == OutputHeight) result = src;
                else
                {
                    ImageOps.ResizeBilinear(src, 0, 0, src.Width, src.Height, ws.A, OutputWidth, OutputHeight, mirror: false, ws);
                    result = ws.A;
                }
                break;
            case AugmentationKind.Cifar:
                if (src.Width != OutputWidth || src.Height != OutputHeight)
                    throw new ArgumentException($"ImageTransform 'cifar': image is {src.Height}x{src.Width}, expected {OutputHeight}x{OutputWidth}.");
                int offsetX = rng.NextInt(0, 2 * CifarPad), offsetY = rng.NextInt(0, 2 * CifarPad);
                ImageOps.PadCrop(src, ws.A, CifarPad, offsetX, offsetY, mirror: rng.NextBool());
                result = ws.A;
                break;
            case AugmentationKind.Senet:
                bool mirror = rng.NextBool();
                CropBox box = ImageOps.SampleRandomResizedCrop(src.Width, src.Height, ref rng,
                    Senet.MinArea, Senet.MaxArea, Senet.MinAspect, Senet.MaxAspect);
                ImageOps.ResizeBilinear(src, box.X, box.Y, box.Width, box.Height, ws.A, OutputWidth, OutputHeight, mirror, ws);
                ImageOps.Rotate(ws.A, ws.B, rng.NextDouble(-Senet.MaxRotationDegrees, Senet.MaxRotationDegrees));
                ImageOps.Jitter(ws.B, Senet.PixelJitter, ref rng);
                result = ws.B;
                break;
            case AugmentationKind.Eval:
                EvalResize(src, ws);
                result = ws.A;
                break;
            default:
                throw new InvalidOperationException($"ImageTransform: unhandled kind {Kind}.");
        }
        ImageOps.ToNormalizedChw(result, Normalization, dst);
    }

    // Resize so the shorter side is OutputSize / 0.875, then take the centre crop; done as one resampling of the
    // source region that the crop covers, which gives the same pixels as resizing the whole image first.
    void EvalResize(ImageBuffer src, TransformWorkspace ws)
    {
        int shorter = (int)Math.Round(Math.Max(OutputWidth, OutputHeight) / EvalCropFraction);
        double scale = (double)shorter / Math.Min(src.Width, src.Height);
        int resizedW = Math.Max(OutputWidth, (int)Math.Round(src.Width * scale));
        int resizedH = Math.Max(OutputHeight, (int)Math.Round(src.Height * scale));
        int left = (int)Math.Round((resizedW - OutputWidth) / 2.0), top = (int)Math.Round((resizedH - OutputHeight) / 2.0);
        double sx = (double)src.Width / resizedW, sy = (double)src.Height / resizedH;
        ImageOps.ResizeBilinear(src, left * sx, top * sy, OutputWidth * sx, OutputHeight * sy, ws.A, OutputWidth, OutputHeight, mirror: false, ws);
    }
}
