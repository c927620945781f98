// Recompute: how a cheap op's output can be computed again in backward instead of being kept, so an op that would
// save it (Axpy's scaled input) saves the op's own inputs instead and the output's memory is freed after the forward.
namespace SeFramework.Autograd;

/// <summary>
/// Attached by an op to its output (<see cref="Tensor.Recompute"/>): <see cref="Compute"/> returns a fresh tensor with
/// bit-identical values, reading only the storages of <see cref="Reads"/>. A consumer that would save the output
/// may instead list <see cref="Reads"/> as saved and call Compute in its backward (then free the result).
/// </summary>
internal sealed class Recompute
{
    public Recompute(Func<Tensor> compute, Tensor?[] reads)
    {
        Compute = compute;
        Reads = reads;
    }

    public Func<Tensor> Compute { get; }
    public Tensor?[] Reads { get; }
}
