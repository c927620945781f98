// GradNode: one recorded operation of the backward graph. It keeps the inputs that need gradients and a closure
// that maps the output's gradient to theirs; both are dropped as soon as the node's backward has run.
namespace SeFramework.Autograd;

public sealed class GradNode
{
    private Func<Tensor, Tensor?[]>? _backward;

    // Storages the backward closure reads: the saved tensors the op declared, or by default those of every input passed
    // to Record (with or without grad) and of the output. Each holds one graph use per entry until this node is
    // released, so storages marked ReleaseWhenUnused are freed right after the backward of the last node that reads them.
    private Storage[] _uses;

    private GradNode(string name, Tensor?[] inputs, Func<Tensor, Tensor?[]> backward, Tensor output, Storage[] uses)
    {
        Name = name;
        Inputs = inputs;
        _backward = backward;
        OutputShape = output.Shape;
        OutputDType = output.DType;
        _uses = uses;
        foreach (var u in uses) u.AddGraphUse();
    }

    /// <summary>The op's name, as shown in error messages and ToString.</summary>
    public string Name { get; }

    /// <summary>For each input of the op, the tensor if it takes part in autograd, else null.</summary>
    internal Tensor?[] Inputs { get; private set; }

    internal int[] OutputShape { get; }
    internal DType OutputDType { get; }
    internal bool Released => _backward == null;

    /// <summary>
    /// Records <paramref name="output"/> as produced by an op of <paramref name="inputs"/> when grad mode is on and
    /// some input requires grad. <paramref name="backward"/> receives dL/dOutput and returns dL/dInput per input
    /// (null where an input needs none); it captures whatever the op saved, which is released after it runs.
    /// <paramref name="saved"/> lists every tensor whose memory the backward reads (nulls are skipped); tensors the op
    /// allocated for itself need not be listed. Null means "every input and the output" — always safe. Listing fewer
    /// lets intermediates marked <see cref="Tensor.ReleaseWhenUnused"/> be freed earlier, so a list must be complete:
    /// a storage left out may be freed before the backward runs.
    /// </summary>
    public static Tensor Record(string name, Tensor output, Tensor?[] inputs, Func<Tensor, Tensor?[]> backward, Tensor?[]? saved = null)
    {
        if (!Autograd.IsEnabled) return output;
        bool any = false;
        var kept = new Tensor?[inputs.Length];
        for (int i = 0; i < inputs.Length; i++)
        {
            var t = inputs[i];
            if (t != null && t.RequiresGrad)
            {
                kept[i] = t;
                any = true;
            }
        }
        if (!any) return output;
        var uses = new List<Storage>(inputs.Length + 1);
        if (saved == null)
        {
            uses.Add(output.Storage);
            foreach (var t in inputs)
                if (t != null) uses.Add(t.Storage);
        }
        else
        {
            foreach (var t in saved)
                if (t != null) uses.Add(t.Storage);
        }
        output.GradFn = new GradNode(name, kept, backward, output, uses.ToArray());
        output.MarkRequiresGradFromGraph();
        return output;
    }

    /// <summary>True when an op on these inputs will be recorded (lets ops skip saving tensors they won't need).</summary>
    public static bool WillRecord(params Tensor?[] inputs)
    {
        if (!Autograd.IsEnabled) return false;
        foreach (var t in inputs) if (t != null && t.RequiresGrad) return true;
        return false;
    }

    internal Tensor?[] RunBackward(Tensor gradOutput)
    {
        var fn = _backward ?? throw new InvalidOperationException(
            $"backward through '{Name}' a second time: the graph was freed after the first backward. Recompute the forward pass.");
        return fn(gradOutput);
    }

    /// <summary>Drops the closure (and with it the saved tensors) and the inputs; storages marked ReleaseWhenUnused
    /// that no other node reads are freed.</summary>
    internal void Release()
    {
        _backward = null;
        Inputs = Array.Empty<Tensor?>();
        var uses = _uses;
        _uses = Array.Empty<Storage>();
        foreach (var u in uses) u.RemoveGraphUse();
    }

    public override string ToString() => Name;
}
