// Tensor creation: empty/zeros/ones/full/arange, from arrays and spans, seeded random normal/uniform, and the
// Kaiming/Xavier initialisers (PyTorch's formulas).
using SeFramework.Backends;

namespace SeFramework;

public sealed partial class Tensor
{
    internal static void CheckShape(ReadOnlySpan<int> shape, string op)
    {
        long n = 1;
        foreach (var d in shape)
        {
            if (d < 0) throw new ArgumentException($"{op}: negative size {d} in shape {Layout.ShapeString(shape)}");
            n *= d;
            if (n > int.MaxValue) throw new ArgumentException($"{op}: shape {Layout.ShapeString(shape)} has more than 2^31-1 elements");
        }
    }

    /// <summary>An uninitialised contiguous tensor (memory comes from the pool; do not read before writing).</summary>
    public static Tensor Empty(int[] shape, DType dtype = DType.Float32, Device? device = null)
    {
        CheckShape(shape, "Empty");
        var layout = Layout.Contiguous((int[])shape.Clone());
        var storage = BackendRegistry.For(device ?? Device.Cpu).Allocate(dtype, layout.NumElements, zero: false);
        return new Tensor(storage, layout);
    }

    public static Tensor Zeros(int[] shape, DType dtype = DType.Float32, Device? device = null)
    {
        CheckShape(shape, "Zeros");
        var layout = Layout.Contiguous((int[])shape.Clone());
        var storage = BackendRegistry.For(device ?? Device.Cpu).Allocate(dtype, layout.NumElements, zero: true);
        return new Tensor(storage, layout);
    }

    public static Tensor Ones(int[] shape, DType dtype = DType.Float32, Device? device = null) => Full(shape, 1.0, dtype, device);

    public static Tensor Full(int[] shape, double value, DType dtype = DType.Float32, Device? device = null)
    {
        var t = Empty(shape, dtype, device);
        t.Backend.Fill(t, value);
        return t;
    }

    public static Tensor ZerosLike(Tensor t) => Zeros(t.Shape, t.DType, t.Device);
    public static Tensor OnesLike(Tensor t) => Ones(t.Shape, t.DType, t.Device);
    internal static Tensor EmptyLike(Tensor t) => Empty(t.Shape, t.DType, t.Device);

    /// <summary>A one-element tensor of rank 0.</summary>
    public static Tensor Scalar(double value, DType dtype = DType.Float32, Device? device = null) => Full(Array.Empty<int>(), value, dtype, device);

    /// <summary>[start, start+step, ...) up to (not including) end, as torch.arange.</summary>
    public static Tensor Arange(double start, double end, double step = 1, DType dtype = DType.Float32)
    {
        if (step == 0) throw new ArgumentException("Arange: step must not be zero");
        int n = Math.Max(0, (int)Math.Ceiling((end - start) / step));
        var values = new double[n];
        for (int i = 0; i < n; i++) values[i] = start + i * step;
        return FromArray(values, new[] { n }).To(dtype);
    }

    public static Tensor FromArray(float[] data, params int[] shape) => FromSpan<float>(data, shape, DType.Float32);
    public static Tensor FromArray(double[] data, params int[] shape) => FromSpan<double>(data, shape, DType.Float64);
    public static Tensor FromSpan(ReadOnlySpan<float> data, params int[] shape) => FromSpan(data, shape, DType.Float32);
    public static Tensor FromSpan(ReadOnlySpan<double> data, params int[] shape) => FromSpan(data, shape, DType.Float64);

    private static Tensor FromSpan<T>(ReadOnlySpan<T> data, int[] shape, DType dtype) where T : unmanaged
    {
        if (shape.Length == 0 && data.Length != 1) shape = new[] { data.Length };
        CheckShape(shape, "FromArray");
        long n = 1;
        foreach (var d in shape) n *= d;
        if (n != data.Length) throw new ArgumentException($"FromArray: {data.Length} values do not fill shape {Layout.ShapeString(shape)} ({n} elements)");
        var t = Empty(shape, dtype);
        data.CopyTo(t.Span<T>());
        return t;
    }

    /// <summary>Samples from N(mean, std²) with <paramref name="rng"/> (default: <see cref="Rng.Default"/>).</summary>
    public static Tensor RandN(int[] shape, Rng? rng = null, DType dtype = DType.Float32, double mean = 0, double std = 1)
    {
        rng ??= Rng.Default;
        return Sample(shape, dtype, rng, r => mean + std * r.NextNormal());
    }

    /// <summary>Samples uniformly from [low, high).</summary>
    public static Tensor RandU(int[] shape, Rng? rng = null, DType dtype = DType.Float32, double low = 0, double high = 1)
    {
        rng ??= Rng.Default;
        return Sample(shape, dtype, rng, r => r.Uniform(low, high));
    }

    // Draws every element in row-major order as a double and stores it rounded to dtype. Float32 and Float64 are
    // written in place (the same values as a float64 draw followed by To(dtype): one cast per element) so
    // initialising a model leaves no float64 copy of each weight behind.
    private static Tensor Sample(int[] shape, DType dtype, Rng rng, Func<Rng, double> draw)
    {
        if (dtype == DType.Float32)
        {
            var f = Empty(shape, DType.Float32);
            var fs = f.Span<float>();
            for (int i = 0; i < fs.Length; i++) fs[i] = (float)draw(rng);
            return f;
        }
        var t = Empty(shape, DType.Float64);
        var s = t.Span<double>();
        for (int i = 0; i < s.Length; i++) s[i] = draw(rng);
        if (dtype == DType.Float64) return t;
        var converted = t.To(dtype);
        t.Storage.Dispose();
        return converted;
    }

    /// <summary>(fan_in, fan_out) of a weight [out, in, k...] as PyTorch computes them.</summary>
    public static (int FanIn, int FanOut) Fans(int[] shape)
    {
        if (shape.Length < 2) throw new ArgumentException($"fan in/out need a weight of rank ≥ 2, not {Layout.ShapeString(shape)}");
        int receptive = 1;
        for (int i = 2; i < shape.Length; i++) receptive *= shape[i];
        return (shape[1] * receptive, shape[0] * receptive);
    }

    /// <summary>He/Kaiming normal: std = gain / sqrt(fan), gain = sqrt(2) for ReLU.</summary>
    public static Tensor KaimingNormal(int[] shape, bool fanOut = false, Rng? rng = null, DType dtype = DType.Float32)
    {
        var (fi, fo) = Fans(shape);
        return RandN(shape, rng, dtype, 0, Math.Sqrt(2.0) / Math.Sqrt(fanOut ? fo : fi));
    }

    /// <summary>Kaiming uniform with a = sqrt(5), PyTorch's default for Conv2d/Linear weights: bound = 1/sqrt(fan_in).</summary>
    public static Tensor KaimingUniform(int[] shape, Rng? rng = null, DType dtype = DType.Float32)
    {
        var (fi, _) = Fans(shape);
        double bound = 1.0 / Math.Sqrt(fi);
        return RandU(shape, rng, dtype, -bound, bound);
    }

    /// <summary>Xavier/Glorot uniform: bound = gain·sqrt(6 / (fan_in + fan_out)).</summary>
    public static Tensor XavierUniform(int[] shape, double gain = 1, Rng? rng = null, DType dtype = DType.Float32)
    {
        var (fi, fo) = Fans(shape);
        double bound = gain * Math.Sqrt(6.0 / (fi + fo));
        return RandU(shape, rng, dtype, -bound, bound);
    }

    /// <summary>Xavier/Glorot normal: std = gain·sqrt(2 / (fan_in + fan_out)).</summary>
    public static Tensor XavierNormal(int[] shape, double gain = 1, Rng? rng = null, DType dtype = DType.Float32)
    {
        var (fi, fo) = Fans(shape);
        return RandN(shape, rng, dtype, 0, gain * Math.Sqrt(2.0 / (fi + fo)));
    }

    // ---- conversion ----

    /// <summary>This tensor as <paramref name="dtype"/> (itself when it already is, unless forceCopy). Differentiable.</summary>
    public Tensor To(DType dtype, bool forceCopy = false)
    {
        if (dtype == DType && !forceCopy) return this;
        var y = Empty(Shape, dtype, Device);
        Backend.Copy(this, y);
        var srcDType = DType;
        return Autograd.GradNode.Record("To", y, new[] { this }, g => new[] { g.To(srcDType) }, saved: Array.Empty<Tensor?>());
    }

    /// <summary>This tensor on <paramref name="device"/> (itself when already there).</summary>
    public Tensor To(Device device)
    {
        if (device == Device) return this;
        var src = IsContiguous ? this : Contiguous();
        var y = Empty(Shape, DType, device);
        if (device.Kind == DeviceKind.Cpu) src.Backend.Copy(src, y);
        else y.Backend.Copy(src, y);
        var from = Device;
        return Autograd.GradNode.Record("ToDevice", y, new[] { this }, g => new[] { g.To(from) }, saved: Array.Empty<Tensor?>());
    }

    /// <summary>A contiguous tensor with the same values (itself when already contiguous). Differentiable.</summary>
    public Tensor Contiguous() => IsContiguous ? this : Clone();

    /// <summary>A contiguous copy. Differentiable.</summary>
    public Tensor Clone()
    {
        var y = EmptyLike(this);
        Backend.Copy(this, y);
        return Autograd.GradNode.Record("Clone", y, new[] { this }, g => new[] { g }, saved: Array.Empty<Tensor?>());
    }

    /// <summary>Copies <paramref name="src"/>'s values into this tensor in place (shapes must match). Not recorded.</summary>
    public void CopyFrom(Tensor src)
    {
        if (!src.Layout.Shape.SequenceEqual(Layout.Shape)) throw new ArgumentException($"CopyFrom: source shape {src.Layout} does not match {Layout}");
        var s = src.Device == Device ? src : src.To(Device);
        Backend.Copy(s, this);
        if (!ReferenceEquals(s, src)) s.Storage.Dispose();
    }

    /// <summary>Sets every element to <paramref name="value"/> in place. Not recorded.</summary>
    public void Fill_(double value)
    {
        if (IsContiguous) Backend.Fill(this, value);
        else
        {
            var full = Full(Shape, value, DType, Device);
            CopyFrom(full);
            full.Storage.Dispose();
        }
    }
}
