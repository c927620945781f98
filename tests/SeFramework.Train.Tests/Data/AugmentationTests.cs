// Geometry and value properties of each augmentation primitive and transform; the fixed-point bilinear resampler is
// compared with a plain double-precision reference.
using SeFramework.Train.Data;
using Xunit;

namespace SeFramework.Train.Tests.Data;

public class AugmentationTests
{
    static ImageBuffer RandomImage(int w, int h, int c, int seed)
    {
        var img = new ImageBuffer(w, h, c);
        new Random(seed).NextBytes(img.Span);
        return img;
    }

    // Plain reference: bilinear, centres at +0.5, coordinates clamped to the edge, computed in double.
    static double ReferenceBilinear(ImageBuffer src, double sx, double sy, int k)
    {
        sx = Math.Clamp(sx, 0, src.Width - 1);
        sy = Math.Clamp(sy, 0, src.Height - 1);
        int x0 = (int)sx, y0 = (int)sy, x1 = Math.Min(x0 + 1, src.Width - 1), y1 = Math.Min(y0 + 1, src.Height - 1);
        double fx = sx - x0, fy = sy - y0;
        return (src[y0, x0, k] * (1 - fx) + src[y0, x1, k] * fx) * (1 - fy) + (src[y1, x0, k] * (1 - fx) + src[y1, x1, k] * fx) * fy;
    }

    [Theory]
    [InlineData(500, 375, 224, 224)]
    [InlineData(20, 30, 64, 48)]
    public void ResizeBilinear_matches_double_reference_within_one_level(int w, int h, int outW, int outH)
    {
        ImageBuffer src = RandomImage(w, h, 3, 1), dst = new();
        double x0 = w * 0.1, y0 = h * 0.2, rw = w * 0.7, rh = h * 0.6;
        ImageOps.ResizeBilinear(src, x0, y0, rw, rh, dst, outW, outH, mirror: false, new TransformWorkspace());
        Assert.Equal((outW, outH, 3), (dst.Width, dst.Height, dst.Channels));
        for (int y = 0; y < outH; y++)
            for (int x = 0; x < outW; x++)
                for (int k = 0; k < 3; k++)
                {
                    double expected = ReferenceBilinear(src, x0 + (x + 0.5) * rw / outW - 0.5, y0 + (y + 0.5) * rh / outH - 0.5, k);
                    Assert.InRange(dst[y, x, k], expected - 1, expected + 1);
                }
    }

    [Fact]
    public void Mirror_flips_left_right_and_identity_resize_copies()
    {
        ImageBuffer src = RandomImage(7, 5, 3, 2), plain = new(), flipped = new();
        var ws = new TransformWorkspace();
        ImageOps.ResizeBilinear(src, 0, 0, 7, 5, plain, 7, 5, mirror: false, ws);
        ImageOps.ResizeBilinear(src, 0, 0, 7, 5, flipped, 7, 5, mirror: true, ws);
        for (int y = 0; y < 5; y++)
            for (int x = 0; x < 7; x++)
                for (int k = 0; k < 3; k++)
                {
                    Assert.Equal(src[y, x, k], plain[y, x, k]);
                    Assert.Equal(src[y, 6 - x, k], flipped[y, x, k]);
                }
    }

    [Theory]
    [InlineData(500, 375)]
    [InlineData(1000, 100)] // extreme aspect: also exercises the centre-crop fallback
    [InlineData(32, 32)]
    public void Senet_crop_covers_8_to_100_percent_with_aspect_three_quarters_to_four_thirds(int w, int h)
    {
        double minArea = 1, maxArea = 0, minAspect = 10, maxAspect = 0;
        for (int i = 0; i < 3000; i++)
        {
            var rng = SampleRng.ForSample(7, 0, i);
            CropBox box = ImageOps.SampleRandomResizedCrop(w, h, ref rng);
            Assert.InRange(box.X, 0, w - box.Width);
            Assert.InRange(box.Y, 0, h - box.Height);
            double area = (double)box.Width * box.Height / (w * h);
            // rounding w and h to whole pixels moves area and aspect by up to ~1/side; allow that
            double slack = 1.0 / Math.Min(box.Width, box.Height);
            Assert.InRange(area, 0.08 * (1 - 2 * slack), 1.0);
            Assert.InRange(box.AspectRatio, 0.75 * (1 - slack), 4.0 / 3.0 * (1 + slack));
            (minArea, maxArea) = (Math.Min(minArea, area), Math.Max(maxArea, area));
            (minAspect, maxAspect) = (Math.Min(minAspect, box.AspectRatio), Math.Max(maxAspect, box.AspectRatio));
        }
        // the draws really span the range (not a constant crop)
        Assert.True(minArea < 0.12 && maxArea > 0.12, $"area range {minArea}..{maxArea}");
        Assert.True(minAspect < 0.85 && maxAspect > 1.2, $"aspect range {minAspect}..{maxAspect}");
    }

    [Fact]
    public void Rotation_keeps_size_zero_is_identity_and_ninety_turns_anticlockwise()
    {
        ImageBuffer src = RandomImage(9, 9, 3, 3), dst = new();
        ImageOps.Rotate(src, dst, 0);
        Assert.Equal(src.Span.ToArray(), dst.Span.ToArray());
        ImageOps.Rotate(src, dst, 90);
        Assert.Equal((9, 9, 3), (dst.Width, dst.Height, dst.Channels));
        for (int y = 0; y < 9; y++)
            for (int x = 0; x < 9; x++)
                Assert.Equal(src[x, 8 - y, 1], dst[y, x, 1]); // the top-right corner moves to the top-left
        ImageBuffer rect = RandomImage(40, 30, 1, 4);
        ImageOps.Rotate(rect, dst, 10);
        Assert.Equal((40, 30, 1), (dst.Width, dst.Height, dst.Channels));
        ImageOps.Rotate(rect, dst, 45);
        Assert.Equal(0, dst[0, 0, 0]); // corners come from outside the source: zero fill
        Assert.Equal(0, dst[29, 39, 0]);
    }

    [Fact]
    public void Cifar_pad_crop_keeps_size_and_shifts_with_zero_fill()
    {
        ImageBuffer src = RandomImage(32, 32, 3, 5), dst = new();
        ImageOps.PadCrop(src, dst, 4, 4, 4, mirror: false);
        Assert.Equal(src.Span.ToArray(), dst.Span.ToArray()); // centre offset = identity
        ImageOps.PadCrop(src, dst, 4, 0, 8, mirror: false);    // window 4 left of and 4 below the original
        Assert.Equal((32, 32, 3), (dst.Width, dst.Height, dst.Channels));
        Assert.Equal(0, dst[0, 3, 0]);
        Assert.Equal(src[4, 0, 2], dst[0, 4, 2]);
        Assert.Equal(0, dst[28, 10, 1]);
        ImageOps.PadCrop(src, dst, 4, 4, 4, mirror: true);
        Assert.Equal(src[3, 31, 0], dst[3, 0, 0]);

        var ds = new InMemoryImageDataset("c", src.Span.ToArray(), [0], 32, 32, 3, ["a"]);
        var t = ImageTransform.Create("cifar", ds, Cifar.Cifar10Normalization);
        Assert.Equal((3, 32, 32), (t.Channels, t.OutputHeight, t.OutputWidth));
    }

    [Fact]
    public void Jitter_adds_integers_in_minus_20_to_20_per_value_and_clamps()
    {
        var img = new ImageBuffer(64, 64, 3);
        img.Span.Fill(128);
        img.Span[..100].Fill(5);
        img.Span[100..200].Fill(250);
        byte[] before = img.Span.ToArray();
        var rng = SampleRng.ForSample(1, 0, 0);
        ImageOps.Jitter(img, 20, ref rng);
        var seen = new HashSet<int>();
        for (int i = 200; i < before.Length; i++)
        {
            int d = img.Span[i] - before[i];
            Assert.InRange(d, -20, 20);
            seen.Add(d);
        }
        Assert.Equal(41, seen.Count); // every offset occurs: independent per value
        for (int i = 0; i < 100; i++) Assert.InRange(img.Span[i], 0, 25);
        for (int i = 100; i < 200; i++) Assert.InRange(img.Span[i], 230, 255);
    }

    [Fact]
    public void Eval_equals_resize_shorter_side_to_256_then_centre_crop_224()
    {
        ImageBuffer src = RandomImage(50, 37, 3, 6);
        var ds = new InMemoryImageDataset("e", src.Span.ToArray(), [0], 37, 50, 3, ["a"]);
        var t = ImageTransform.Create("eval", ds, Normalization.Identity(3), 28); // shorter side -> 32, crop 28
        var output = new float[3 * 28 * 28];
        var rng = new SampleRng(0);
        t.Apply(src, ref rng, new TransformWorkspace(), output);
        // Reference: full resize to 43x32 (50*32/37 = 43.2), then crop at left = round(7.5) = 8 (banker's), top = 2.
        ImageBuffer full = new();
        ImageOps.ResizeBilinear(src, 0, 0, 50, 37, full, 43, 32, false, new TransformWorkspace());
        // The transform resamples only the crop's source region, so its sample coordinates (left·sx + i·sx) differ from
        // the full resize's in the last bits, and an interpolated value within rounding of .5 can land on the neighbouring
        // grey level: allow ±1 level (1.01 for the float scale), but require nearly all values to be exact, so a
        // systematic shift (a wrong crop offset or scale) still fails.
        int exact = 0;
        for (int k = 0; k < 3; k++)
            for (int y = 0; y < 28; y++)
                for (int x = 0; x < 28; x++)
                {
                    double got = output[(k * 28 + y) * 28 + x] * 255, want = full[y + 2, x + 8, k];
                    Assert.InRange(got, want - 1.01, want + 1.01);
                    if (Math.Abs(got - want) < 0.01) exact++;
                }
        Assert.True(exact >= 0.95 * 3 * 28 * 28, $"only {exact} of {3 * 28 * 28} values equal the full-resize reference exactly");
    }

    [Fact]
    public void Normalisation_scales_to_unit_then_subtracts_mean_and_divides_std()
    {
        var img = new ImageBuffer(2, 1, 2);
        img.Span[0] = 0; img.Span[1] = 255; img.Span[2] = 51; img.Span[3] = 102;
        var output = new float[4];
        ImageOps.ToNormalizedChw(img, new Normalization([0.5f, 0.25f], [0.5f, 0.25f]), output);
        // CHW: channel 0 = pixels (0, 51), channel 1 = (255, 102)
        Assert.Equal([-1f, -0.6f, 3f, 0.6f], output.Select(v => MathF.Round(v, 5)));
    }

    [Fact]
    public void Senet_transform_outputs_224_and_depends_only_on_the_rng()
    {
        ImageBuffer src = RandomImage(100, 75, 3, 8);
        var ds = new InMemoryImageDataset("s", src.Span.ToArray(), [0], 75, 100, 3, ["a"]);
        var t = ImageTransform.Create("senet", ds, Normalization.ImageNet);
        Assert.Equal((224, 224), (t.OutputHeight, t.OutputWidth));
        float[] a = new float[t.OutputSize], b = new float[t.OutputSize], c = new float[t.OutputSize];
        var r1 = SampleRng.ForSample(3, 1, 0); t.Apply(src, ref r1, new TransformWorkspace(), a);
        var r2 = SampleRng.ForSample(3, 1, 0); t.Apply(src, ref r2, new TransformWorkspace(), b);
        var r3 = SampleRng.ForSample(3, 2, 0); t.Apply(src, ref r3, new TransformWorkspace(), c);
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
        Assert.Throws<ArgumentException>(() => ImageTransform.Create("cifar", ds, Normalization.ImageNet, 224));
        Assert.Throws<ArgumentException>(() => ImageTransform.Create("autoaugment", ds, Normalization.ImageNet));
    }
}
