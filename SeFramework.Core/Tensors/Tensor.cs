// Tensor = Storage + Layout + autograd info. The central type of the framework: creation helpers live in
// Tensor.Creation.cs, views in Tensor.Views.cs, arithmetic in Tensor.Math.cs; the backward graph in Autograd/.
using System.Text;
using SeFramework.Autograd;
using SeFramework.Backends;

namespace SeFramework;

public sealed partial class Tensor
{
    private bool _requiresGrad;

    internal Tensor(Storage storage, Layout layout)
    {
        Storage = storage;
        Layout = layout;
    }

    public Storage Storage { get; private set; }
    public Layout Layout { get; private set; }

    /// <summary>Points this tensor at <paramref name="source"/>'s storage and layout (PyTorch's `param.data = ...`):
    /// how Module.To(device) moves parameters while layers and optimizers keep their references. Not recorded.</summary>
    internal void SetData(Tensor source)
    {
        if (!source.Layout.Shape.SequenceEqual(Layout.Shape)) throw new ArgumentException($"SetData: shape {source.Layout} does not match {Layout}");
        Storage = source.Storage;
        Layout = source.Layout;
    }
    public DType DType => Storage.DType;
    public Device Device => Storage.Device;
    internal IBackend Backend => BackendRegistry.For(Storage.Device);

    /// <summary>The shape (a fresh copy; use <see cref="Size"/> in hot loops).</summary>
    public int[] Shape => Layout.Shape.ToArray();
    public int Rank => Layout.Rank;
    public long NumElements => Layout.NumElements;
    public bool IsContiguous => Layout.IsContiguous;

    /// <summary>Size of dimension <paramref name="dim"/> (negative counts from the end).</summary>
    public int Size(int dim) => Layout.Shape[NormalizeDim(dim, Rank, "Size")];

    /// <summary>An optional name, shown in error messages and set by modules on their parameters.</summary>
    public string? Name { get; set; }

    // ---- autograd ----

    /// <summary>Set by ops whose output is cheap to compute again from tensors they save anyway (batch norm): lets a
    /// consumer save those instead of this output. Only the tensor the op returned carries it, not views of it.</summary>
    internal Recompute? Recompute { get; set; }

    /// <summary>The node that produced this tensor, or null for leaves.</summary>
    public GradNode? GradFn { get; internal set; }
    public bool IsLeaf => GradFn == null;

    /// <summary>The accumulated gradient of a leaf that requires grad.</summary>
    public Tensor? Grad { get; set; }

    public bool RequiresGrad
    {
        get => _requiresGrad;
        set
        {
            if (!IsLeaf && !value) throw new InvalidOperationException("RequiresGrad can only be cleared on a leaf tensor; use Detach().");
            if (value && DType is not (DType.Float32 or DType.Float64)) throw new InvalidOperationException($"only floating-point tensors can require grad, not {DType}");
            _requiresGrad = value;
        }
    }

    internal void MarkRequiresGradFromGraph() => _requiresGrad = true;

    /// <summary>Sets RequiresGrad and returns this tensor (fluent, like PyTorch's requires_grad_()).</summary>
    public Tensor RequiresGrad_(bool value = true)
    {
        RequiresGrad = value;
        return this;
    }

    /// <summary>Runs backpropagation from this tensor. With no gradient it must hold a single element (a loss).</summary>
    public void Backward(Tensor? gradient = null) => AutogradEngine.Backward(this, gradient);

    /// <summary>
    /// Declares that no code outside the caller holds this tensor or any view of its storage (a layer's intermediate
    /// result that was only passed on to the next op): the storage goes back to the pool as soon as nothing recorded
    /// needs it, i.e. at once when no graph node saved it (inference, NoGrad) or right after the backward of the last
    /// node that reads it. Using the tensor afterwards throws ObjectDisposedException. Never call it on a tensor that
    /// was handed to you by a caller, or whose storage a returned tensor shares.
    /// </summary>
    public void ReleaseWhenUnused() => Storage.ReleaseWhenUnused();

    /// <summary>A tensor sharing storage with this one, cut from the graph.</summary>
    public Tensor Detach() => new(Storage, Layout);

    // ---- data access ----

    internal static int NormalizeDim(int dim, int rank, string op)
    {
        int d = dim < 0 ? dim + rank : dim;
        if (d < 0 || d >= rank) throw new ArgumentException($"{op}: dimension {dim} is out of range for a tensor of rank {rank}");
        return d;
    }

    private void RequireCpu(string op)
    {
        if (Device.Kind != DeviceKind.Cpu) throw new InvalidOperationException($"{op} needs a CPU tensor; this one is on {Device}: call .To(Device.Cpu) first.");
    }

    /// <summary>A contiguous copy of the elements as float32, in row-major order.</summary>
    public float[] ToFloatArray()
    {
        var t = ToCpuContiguous(DType.Float32);
        return ((CpuStorage)t.Storage).AsSpan<float>().Slice(0, (int)t.NumElements).ToArray();
    }

    /// <summary>A contiguous copy of the elements as float64, in row-major order.</summary>
    public double[] ToDoubleArray()
    {
        var t = ToCpuContiguous(DType.Float64);
        return ((CpuStorage)t.Storage).AsSpan<double>().Slice(0, (int)t.NumElements).ToArray();
    }

    private Tensor ToCpuContiguous(DType dtype)
    {
        var t = Device.Kind == DeviceKind.Cpu ? this : To(Device.Cpu);
        if (t.DType != dtype || !t.IsContiguous || t.Layout.Offset != 0 || t.Storage.Length != t.NumElements) t = t.To(dtype, forceCopy: true);
        return t;
    }

    /// <summary>The value of a one-element tensor.</summary>
    public double Item()
    {
        if (NumElements != 1) throw new InvalidOperationException($"Item() needs a tensor with one element; this one has shape {Layout}");
        return ToDoubleArray()[0];
    }

    /// <summary>Direct span over a contiguous CPU tensor's elements (no copy).</summary>
    internal Span<T> Span<T>() where T : unmanaged
    {
        RequireCpu("Span");
        if (!IsContiguous) throw new InvalidOperationException("Span needs a contiguous tensor; call Contiguous() first.");
        return ((CpuStorage)Storage).AsSpan<T>().Slice((int)Layout.Offset, (int)NumElements);
    }

    internal unsafe T* Pointer<T>() where T : unmanaged => (T*)((CpuStorage)Storage).Pointer + Layout.Offset;

    public override string ToString()
    {
        var sb = new StringBuilder();
        sb.Append("Tensor(shape=").Append(Layout).Append(", dtype=").Append(DType).Append(", device=").Append(Device);
        if (RequiresGrad) sb.Append(", requires_grad");
        if (GradFn != null) sb.Append(", grad_fn=").Append(GradFn.Name);
        if (NumElements <= 16 && DType is DType.Float32 or DType.Float64 && Device.Kind == DeviceKind.Cpu && !Storage.IsDisposed)
            sb.Append(", data=[").Append(string.Join(", ", ToDoubleArray().Select(v => v.ToString("G6")))).Append(']');
        return sb.Append(')').ToString();
    }
}
