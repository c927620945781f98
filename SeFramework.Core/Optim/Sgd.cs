// SGD with momentum, dampening, Nesterov, weight decay and parameter groups: torch.optim.SGD's update rule exactly.
using SeFramework.Nn;

namespace SeFramework.Optim;

/// <summary>A set of parameters with its own hyper-parameters (PyTorch's param_groups).</summary>
public sealed class ParamGroup
{
    public ParamGroup(IEnumerable<Tensor> parameters, double lr, double momentum = 0, double dampening = 0, double weightDecay = 0, bool nesterov = false)
    {
        Parameters = parameters.ToList();
        (Lr, Momentum, Dampening, WeightDecay, Nesterov) = (lr, momentum, dampening, weightDecay, nesterov);
    }

    public IReadOnlyList<Tensor> Parameters { get; }
    public double Lr { get; set; }
    public double Momentum { get; set; }
    public double Dampening { get; set; }
    public double WeightDecay { get; set; }
    public bool Nesterov { get; set; }

    /// <summary>The learning rate a scheduler scales from (set at construction).</summary>
    public double InitialLr { get; set; }
}

public sealed class Sgd
{
    private readonly Dictionary<Tensor, Tensor> _momentum = new(ReferenceEqualityComparer.Instance);

    public Sgd(IEnumerable<Tensor> parameters, double lr, double momentum = 0, double dampening = 0, double weightDecay = 0, bool nesterov = false)
        : this(new[] { new ParamGroup(parameters, lr, momentum, dampening, weightDecay, nesterov) })
    {
    }

    public Sgd(IEnumerable<ParamGroup> groups)
    {
        Groups = groups.ToList();
        var seen = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        foreach (var g in Groups)
        {
            if (g.Lr < 0) throw new ArgumentException($"SGD: learning rate must be ≥ 0, not {g.Lr}");
            if (g.Momentum < 0) throw new ArgumentException($"SGD: momentum must be ≥ 0, not {g.Momentum}");
            if (g.WeightDecay < 0) throw new ArgumentException($"SGD: weight decay must be ≥ 0, not {g.WeightDecay}");
            if (g.Nesterov && (g.Momentum <= 0 || g.Dampening != 0))
                throw new ArgumentException("SGD: Nesterov momentum needs momentum > 0 and zero dampening (as in PyTorch)");
            g.InitialLr = g.Lr;
            foreach (var p in g.Parameters)
            {
                if (!p.IsLeaf || !p.RequiresGrad) throw new ArgumentException($"SGD: parameter '{p.Name}' must be a leaf that requires grad");
                if (!seen.Add(p)) throw new ArgumentException($"SGD: parameter '{p.Name}' appears in more than one group");
            }
        }
    }

    public IReadOnlyList<ParamGroup> Groups { get; }

    /// <summary>Number of Step() calls so far.</summary>
    public long StepCount { get; private set; }

    /// <summary>Applies one update to every parameter that has a gradient.</summary>
    public void Step()
    {
        using var _ = Autograd.Autograd.NoGrad();
        using var __ = TensorScope.Suspend();
        foreach (var g in Groups)
        {
            foreach (var p in g.Parameters)
            {
                if (p.Grad == null) continue;
                var grad = p.Grad.Contiguous();
                if (!p.IsContiguous) throw new InvalidOperationException($"SGD: parameter '{p.Name}' is not contiguous");
                Tensor? buf = null;
                bool first = false;
                if (g.Momentum != 0)
                {
                    if (!_momentum.TryGetValue(p, out buf))
                    {
                        buf = Tensor.ZerosLike(p);
                        _momentum[p] = buf;
                        first = true;
                    }
                }
                p.Backend.SgdUpdate(p, grad, buf, first, g.Lr, g.Momentum, g.Dampening, g.WeightDecay, g.Nesterov);
            }
        }
        StepCount++;
    }

    /// <summary>Zeroes every parameter's gradient in place, keeping the buffers so the next backward allocates nothing
    /// (PyTorch's zero_grad(set_to_none=False)); with setToNone the gradients are dropped instead.</summary>
    public void ZeroGrad(bool setToNone = false)
    {
        foreach (var g in Groups)
            foreach (var p in g.Parameters) Module.ZeroGradOf(p, setToNone);
    }

    /// <summary>The momentum buffer of a parameter, or null before its first step.</summary>
    public Tensor? MomentumBuffer(Tensor parameter) => _momentum.TryGetValue(parameter, out var b) ? b : null;

    /// <summary>Restores a momentum buffer (from a checkpoint); the value is copied.</summary>
    public void SetMomentumBuffer(Tensor parameter, Tensor value)
    {
        using var _ = TensorScope.Suspend();
        if (!_momentum.TryGetValue(parameter, out var buf)) _momentum[parameter] = buf = Tensor.ZerosLike(parameter);
        buf.CopyFrom(value);
    }

    /// <summary>Parameter groups for a model with weight decay off for biases and BN parameters (rank-1 tensors),
    /// as the `--no-wd-on-bn-bias` option asks.</summary>
    public static IEnumerable<ParamGroup> GroupsWithoutDecayOnBiasAndNorm(Module model, double lr, double momentum, double weightDecay, bool nesterov)
    {
        var decay = model.Parameters().Where(p => p.Rank > 1).ToList();
        var noDecay = model.Parameters().Where(p => p.Rank <= 1).ToList();
        yield return new ParamGroup(decay, lr, momentum, 0, weightDecay, nesterov);
        yield return new ParamGroup(noDecay, lr, momentum, 0, 0, nesterov);
    }
}
