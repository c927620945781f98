// The backend contract: one method per op family. The dispatcher (Tensor / F methods) has already checked devices,
// dtypes and shapes and allocated outputs, so implementations only compute. Other op families are declared in
// the partial files beside this one (IBackend.Nn.cs).
namespace SeFramework.Backends;

public enum UnaryOp
{
    Neg,
    Exp,
    Log,
    Sqrt,
    Relu,
    Sigmoid,
    Tanh,
    /// <summary>x^scalar</summary>
    Pow,
    /// <summary>x * scalar</summary>
    MulScalar,
    /// <summary>x + scalar</summary>
    AddScalar,
    Abs,
}

public enum BinaryOp
{
    Add,
    Sub,
    Mul,
    Div,
}

public partial interface IBackend
{
    Device Device { get; }

    Storage Allocate(DType dtype, long length, bool zero);

    /// <summary>dst[i] = src[i] for tensors of the same shape and any layouts; casts between dtypes.</summary>
    void Copy(Tensor src, Tensor dst);

    /// <summary>Every element of contiguous dst = value.</summary>
    void Fill(Tensor dst, double value);

    /// <summary>y = op(x) elementwise. x, y: contiguous, same shape (the dispatcher makes x contiguous).</summary>
    void Unary(UnaryOp op, Tensor x, Tensor y, double scalar);

    /// <summary>dx = dy * op'(x) (using y = op(x) where cheaper). All contiguous, same shape.</summary>
    void UnaryBackward(UnaryOp op, Tensor x, Tensor y, Tensor dy, Tensor dx, double scalar);

    /// <summary>c = a op b. a and b are views already expanded (stride 0 where broadcast) to c's shape; c contiguous.</summary>
    void Binary(BinaryOp op, Tensor a, Tensor b, Tensor c);

    /// <summary>y += x in place (same shape; y contiguous, x any layout).</summary>
    void AddInPlace(Tensor y, Tensor x);

    /// <summary>y = sum of x over the dims where reduce[d] (y has x's rank with size 1 there, contiguous).</summary>
    void Sum(Tensor x, bool[] reduce, Tensor y);

    /// <summary>x: (rows, cols) contiguous → values (rows), indices (rows) of each row's max (first occurrence).</summary>
    void MaxRows(Tensor x, Tensor values, long[] indices);

    /// <summary>c = op(a) · op(b) for 2-D contiguous a, b, c (row-major; op = transpose when the flag is set).
    /// With accumulate, c += op(a)·op(b).</summary>
    void MatMul(Tensor a, bool transA, Tensor b, bool transB, Tensor c, bool accumulate);
}

/// <summary>Maps devices to backends. The CPU backend is built in; SeFramework.Cuda registers itself.</summary>
public static class BackendRegistry
{
    private static readonly Dictionary<DeviceKind, Func<int, IBackend>> Factories = new();
    private static readonly IBackend CpuBackendInstance = new Cpu.CpuBackend();

    public static void Register(DeviceKind kind, Func<int, IBackend> factory)
    {
        lock (Factories) Factories[kind] = factory;
    }

    public static IBackend For(Device device)
    {
        if (device.Kind == DeviceKind.Cpu) return CpuBackendInstance;
        lock (Factories)
        {
            if (Factories.TryGetValue(device.Kind, out var f)) return f(device.Index);
        }
        throw new InvalidOperationException($"no backend for device {device}: reference SeFramework.Cuda and call CudaBackend.Register() first.");
    }
}
