// TensorScope: deterministic release of the storages created inside a `using` block (like TorchSharp's DisposeScope),
// so a training step returns its activations to the pool at once instead of waiting for the garbage collector.
namespace SeFramework;

public sealed class TensorScope : IDisposable
{
    [ThreadStatic] private static TensorScope? _current;
    [ThreadStatic] private static int _suspended;

    private readonly TensorScope? _parent;
    private readonly List<Storage> _owned = new();
    private bool _disposed;

    private TensorScope()
    {
        _parent = _current;
        _current = this;
    }

    /// <summary>Starts a scope on this thread: every storage allocated until Dispose is released then, except those
    /// passed to <see cref="Keep"/>.</summary>
    public static TensorScope Begin() => new();

    /// <summary>Allocations made inside the returned block are not tracked by any scope (for long-lived tensors such
    /// as parameter gradients and optimizer state).</summary>
    public static SuspendToken Suspend()
    {
        _suspended++;
        return new SuspendToken();
    }

    public readonly struct SuspendToken : IDisposable
    {
        public void Dispose() => _suspended--;
    }

    internal static void Track(Storage storage)
    {
        if (_suspended == 0) _current?._owned.Add(storage);
    }

    /// <summary>Moves the tensor's storage out of this scope into the enclosing one (or none), so it survives Dispose.</summary>
    public Tensor Keep(Tensor tensor)
    {
        if (_owned.Remove(tensor.Storage)) _parent?._owned.Add(tensor.Storage);
        return tensor;
    }

    public int TrackedCount => _owned.Count;

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (_current != this) throw new InvalidOperationException("TensorScope disposed out of order: dispose inner scopes first.");
        _current = _parent;
        foreach (var s in _owned) s.Dispose();
        _owned.Clear();
    }
}
