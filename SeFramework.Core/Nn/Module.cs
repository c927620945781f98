// Module: PyTorch's nn.Module with .NET names. Children, parameters and buffers are registered explicitly (no
// reflection) and enumerated in declaration order with dotted names (layer1.0.conv1.weight), as timm names them.
namespace SeFramework.Nn;

public abstract class Module
{
    private readonly List<(string Name, Module Module)> _children = new();
    private readonly List<(string Name, Tensor Tensor)> _parameters = new();
    private readonly List<(string Name, Tensor Tensor)> _buffers = new();

    /// <summary>True in training mode (batch statistics, dropout on); set by Train()/Eval() on the whole tree.</summary>
    public bool Training { get; private set; } = true;

    public abstract Tensor Forward(Tensor input);

    /// <summary>Forward(input), so a module can be called like a function.</summary>
    public Tensor Call(Tensor input) => Forward(input);

    // ---- registration ----

    private void CheckName(string name, string what)
    {
        if (string.IsNullOrEmpty(name) || name.Contains('.'))
            throw new ArgumentException($"{what} name '{name}' must be non-empty and contain no '.'");
        if (_children.Any(c => c.Name == name) || _parameters.Any(p => p.Name == name) || _buffers.Any(b => b.Name == name))
            throw new ArgumentException($"{GetType().Name} already has a member named '{name}'");
    }

    protected T RegisterModule<T>(string name, T module) where T : Module
    {
        CheckName(name, "module");
        _children.Add((name, module));
        return module;
    }

    /// <summary>Registers a learnable tensor (RequiresGrad is set).</summary>
    protected Tensor RegisterParameter(string name, Tensor tensor)
    {
        CheckName(name, "parameter");
        if (!tensor.IsLeaf) tensor = tensor.Detach();
        tensor.RequiresGrad = true;
        tensor.Name = name;
        _parameters.Add((name, tensor));
        return tensor;
    }

    /// <summary>Registers state that is saved but not learned (batch-norm running statistics).</summary>
    protected Tensor RegisterBuffer(string name, Tensor tensor)
    {
        CheckName(name, "buffer");
        tensor.Name = name;
        _buffers.Add((name, tensor));
        return tensor;
    }

    // ---- enumeration ----

    public IEnumerable<(string Name, Module Module)> NamedChildren() => _children;

    /// <summary>This module ("" name) and every descendant, depth first in declaration order.</summary>
    public IEnumerable<(string Name, Module Module)> NamedModules(string prefix = "")
    {
        yield return (prefix, this);
        foreach (var (name, child) in _children)
            foreach (var m in child.NamedModules(prefix.Length == 0 ? name : prefix + "." + name))
                yield return m;
    }

    public IEnumerable<(string Name, Tensor Parameter)> NamedParameters()
    {
        foreach (var (prefix, module) in NamedModules())
            foreach (var (name, p) in module._parameters)
                yield return (prefix.Length == 0 ? name : prefix + "." + name, p);
    }

    public IEnumerable<Tensor> Parameters() => NamedParameters().Select(p => p.Parameter);

    public IEnumerable<(string Name, Tensor Buffer)> NamedBuffers()
    {
        foreach (var (prefix, module) in NamedModules())
            foreach (var (name, b) in module._buffers)
                yield return (prefix.Length == 0 ? name : prefix + "." + name, b);
    }

    /// <summary>Number of learnable scalars.</summary>
    public long ParameterCount() => Parameters().Sum(p => p.NumElements);

    // ---- modes ----

    public Module Train(bool mode = true)
    {
        foreach (var (_, m) in NamedModules()) m.Training = mode;
        return this;
    }

    public Module Eval() => Train(false);

    /// <summary>Moves every parameter and buffer to <paramref name="device"/> in place (gradients are dropped), so layers
    /// and optimizers created before keep working. Create the optimizer after moving, as in PyTorch.</summary>
    public Module To(Device device)
    {
        using var _ = Autograd.Autograd.NoGrad();
        using var __ = TensorScope.Suspend();
        foreach (var (_, t) in NamedParameters().Concat(NamedBuffers()))
        {
            if (t.Device == device) continue;
            t.SetData(t.To(device));
            t.Grad = null;
        }
        return this;
    }

    /// <summary>Zeroes the gradients of every parameter in place (or drops them with setToNone).</summary>
    public void ZeroGrad(bool setToNone = false)
    {
        foreach (var p in Parameters()) ZeroGradOf(p, setToNone);
    }

    internal static void ZeroGradOf(Tensor p, bool setToNone)
    {
        if (p.Grad == null) return;
        if (setToNone) p.Grad = null;
        else p.Grad.Fill_(0);
    }

    // ---- state dict ----

    /// <summary>Parameters and buffers by dotted name: per module its parameters, then its buffers, then its children
    /// (PyTorch's order). The tensors are the live ones, not copies.</summary>
    public OrderedDictionary<string, Tensor> StateDict()
    {
        var dict = new OrderedDictionary<string, Tensor>();
        foreach (var (prefix, module) in NamedModules())
        {
            foreach (var (name, p) in module._parameters) dict.Add(Join(prefix, name), p);
            foreach (var (name, b) in module._buffers) dict.Add(Join(prefix, name), b);
        }
        return dict;
    }

    private static string Join(string prefix, string name) => prefix.Length == 0 ? name : prefix + "." + name;

    /// <summary>
    /// Copies values from <paramref name="state"/> into this module's parameters and buffers (in place, so optimizers
    /// keep their references). With strict, a missing or unexpected key is an error; a shape mismatch always is.
    /// Keys ending in ".num_batches_tracked" (PyTorch BN counters we do not keep) are ignored.
    /// </summary>
    public void LoadStateDict(IReadOnlyDictionary<string, Tensor> state, bool strict = true)
    {
        var own = StateDict();
        var missing = own.Keys.Where(k => !state.ContainsKey(k)).ToList();
        var unexpected = state.Keys.Where(k => !own.ContainsKey(k) && !k.EndsWith(".num_batches_tracked", StringComparison.Ordinal)).ToList();
        var problems = new List<string>();
        foreach (var (key, target) in own)
        {
            if (!state.TryGetValue(key, out var src)) continue;
            if (!src.Layout.Shape.SequenceEqual(target.Layout.Shape))
                problems.Add($"size mismatch for '{key}': checkpoint has {src.Layout}, the model has {target.Layout}");
        }
        if (strict)
        {
            if (missing.Count > 0) problems.Add("missing keys: " + string.Join(", ", missing.Select(k => $"'{k}'")));
            if (unexpected.Count > 0) problems.Add("unexpected keys: " + string.Join(", ", unexpected.Select(k => $"'{k}'")));
        }
        if (problems.Count > 0)
            throw new StateDictException($"LoadStateDict into {GetType().Name} failed: " + string.Join("; ", problems));
        using var _ = Autograd.Autograd.NoGrad();
        foreach (var (key, target) in own)
            if (state.TryGetValue(key, out var src)) target.CopyFrom(src.To(target.DType));
    }
}

/// <summary>A state dict does not fit a module: missing/unexpected keys or shape mismatches, named in the message.</summary>
public sealed class StateDictException(string message) : Exception(message);
