// Functional ops that compose from tensor primitives or have small closed-form backwards: linear, softmax,
// log-softmax and cross-entropy with label smoothing.
using SeFramework.Autograd;

namespace SeFramework;

public static partial class F
{
    /// <summary>x·Wᵀ + b. x: (N, in), weight: (out, in), bias: (out) → (N, out).</summary>
    public static Tensor Linear(Tensor x, Tensor weight, Tensor? bias = null)
    {
        if (x.Rank != 2 || weight.Rank != 2 || x.Size(1) != weight.Size(1))
            throw new ArgumentException($"Linear: input {x.Layout} and weight {weight.Layout} do not match ((N, in) and (out, in))");
        if (bias != null && (bias.Rank != 1 || bias.Size(0) != weight.Size(0)))
            throw new ArgumentException($"Linear: bias {bias.Layout} must be ({weight.Size(0)})");
        var y = x.MatMul(weight.T);
        return bias == null ? y : y + bias;
    }
}
