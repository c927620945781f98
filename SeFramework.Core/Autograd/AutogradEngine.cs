// The backward pass: orders the recorded nodes topologically from the root, runs each node's backward once with all
// of its output gradient accumulated (summed in place into a buffer the pass owns where it can), frees the node's
// saved tensors, and accumulates leaf gradients into .Grad.
namespace SeFramework.Autograd;

internal static class AutogradEngine
{
    public static void Backward(Tensor root, Tensor? gradient)
    {
        if (!root.RequiresGrad)
            throw new InvalidOperationException("Backward() on a tensor that does not require grad: no input of the computation had RequiresGrad = true.");
        if (gradient == null)
        {
            if (root.NumElements != 1)
                throw new InvalidOperationException($"Backward() without a gradient needs a one-element tensor (a loss); this one has shape {root.Layout}. Pass the gradient explicitly.");
            gradient = Tensor.Ones(root.Shape, root.DType, root.Device);
        }
        else if (!gradient.Layout.Shape.SequenceEqual(root.Layout.Shape))
        {
            throw new ArgumentException($"Backward(): gradient shape {gradient.Layout} does not match the tensor's shape {root.Layout}");
        }

        // Storages created from here on (by this pass's backward closures) are gradient buffers nobody else has seen.
        long firstOwnSerial = Storage.LastSerial + 1;
        using var _ = Autograd.NoGrad();
        if (root.GradFn == null)
        {
            AccumulateLeaf(root, gradient);
            return;
        }

        var order = TopologicalOrder(root.GradFn);
        var pending = new Dictionary<GradNode, Tensor>(ReferenceEqualityComparer.Instance);
        // Gradient buffers are freed as soon as the last pending use of their storage is consumed (PyTorch frees them by
        // refcount), so a backward pass holds only the gradients in flight instead of every one until the step ends.
        // Counts are per storage (a gradient may be a view of another); the root gradient is never freed here.
        var holds = new Dictionary<Storage, int>(ReferenceEqualityComparer.Instance);
        var rootStorage = gradient.Storage;
        var temporaries = new List<Tensor>();
        void Hold(Tensor t) => holds[t.Storage] = holds.GetValueOrDefault(t.Storage) + 1;
        void Free(Tensor t)
        {
            if (!ReferenceEquals(t.Storage, rootStorage) && !holds.ContainsKey(t.Storage)) t.Storage.Dispose();
        }
        void Drop(Tensor t)
        {
            if (holds.TryGetValue(t.Storage, out int n) && n > 1) holds[t.Storage] = n - 1;
            else
            {
                holds.Remove(t.Storage);
                Free(t);
            }
        }
        // Whether the pass may add into gradient t in place: a dense buffer made by this pass's backward closures (not the
        // root gradient, not a forward tensor, parameter or user tensor: those are older), which no other pending gradient
        // shares (uses = the pending entries holding its storage, counting the one it is about to fill) and no other output
        // of the node that returned grads[i] shares either (that one may still go to a leaf or another input).
        bool Writable(Tensor t, int uses, Tensor?[] nodeGrads, int i)
        {
            if (uses != 1 || !t.IsContiguous || t.Storage.Serial < firstOwnSerial || ReferenceEquals(t.Storage, rootStorage)) return false;
            for (int j = 0; j < nodeGrads.Length; j++)
                if (j != i && nodeGrads[j] is { } other && ReferenceEquals(other.Storage, t.Storage)) return false;
            return true;
        }
        pending[root.GradFn] = gradient;
        Hold(gradient);
        foreach (var node in order)
        {
            if (!pending.Remove(node, out var gradOut)) continue;
            var inputs = node.Inputs;
            var grads = node.RunBackward(gradOut);
            if (grads.Length != inputs.Length)
                throw new InvalidOperationException($"backward of '{node.Name}' returned {grads.Length} gradients for {inputs.Length} inputs");
            temporaries.Clear();
            for (int i = 0; i < inputs.Length; i++)
            {
                var input = inputs[i];
                var g = grads[i];
                if (input == null || g == null) continue;
                // A gradient must not live in a forward intermediate that is about to be freed (no op returns one; a
                // custom backward that did would otherwise lose its gradient when the node is released below).
                if (g.Storage.ReleasesWhenUnused) g = g.Clone();
                if (!g.Layout.Shape.SequenceEqual(input.Layout.Shape))
                    throw new InvalidOperationException($"backward of '{node.Name}' produced a gradient of shape {g.Layout} for input {i} of shape {input.Layout}");
                if (input.GradFn != null)
                {
                    if (pending.TryGetValue(input.GradFn, out var acc))
                    {
                        // Two gradients of one tensor: sum into one of them in place when the pass owns it alone (one
                        // read-modify-write pass, no third tensor); otherwise into a new tensor. Either order gives
                        // the same bits (IEEE addition commutes).
                        bool distinct = !ReferenceEquals(acc.Storage, g.Storage);
                        if (distinct && Writable(acc, holds.GetValueOrDefault(acc.Storage), grads, i))
                        {
                            acc.AddInPlace(g);
                        }
                        else if (distinct && Writable(g, holds.GetValueOrDefault(g.Storage) + 1, grads, i))
                        {
                            g.AddInPlace(acc);
                            pending[input.GradFn] = g;
                            Hold(g);
                            Drop(acc);
                            continue;
                        }
                        else
                        {
                            var sum = acc.Add(g);
                            pending[input.GradFn] = sum;
                            Hold(sum);
                            Drop(acc);
                        }
                        temporaries.Add(g);
                    }
                    else
                    {
                        pending[input.GradFn] = g;
                        Hold(g);
                    }
                }
                else
                {
                    if (input.RequiresGrad) AccumulateLeaf(input, g);
                    temporaries.Add(g);
                }
            }
            // Now that the gradients are consumed, release the node: its saved tensors go back to the pool when they
            // were intermediates nobody else reads.
            node.Release();
            Drop(gradOut);
            foreach (var t in temporaries) Free(t);
        }
    }

    private static void AccumulateLeaf(Tensor leaf, Tensor g)
    {
        using var _ = TensorScope.Suspend();
        if (leaf.Grad == null)
        {
            leaf.Grad = g.To(leaf.DType, forceCopy: true);
        }
        else
        {
            leaf.Grad.AddInPlace(g);
        }
    }

    /// <summary>Nodes in an order where every node comes before the nodes of its inputs (reverse post-order).</summary>
    private static List<GradNode> TopologicalOrder(GradNode root)
    {
        var visited = new HashSet<GradNode>(ReferenceEqualityComparer.Instance);
        var post = new List<GradNode>();
        var stack = new Stack<(GradNode Node, int Next)>();
        stack.Push((root, 0));
        visited.Add(root);
        while (stack.Count > 0)
        {
            var (node, next) = stack.Pop();
            var inputs = node.Inputs;
            if (node.Released)
                throw new InvalidOperationException($"backward through '{node.Name}' a second time: the graph was freed after the first backward. Recompute the forward pass.");
            bool descended = false;
            for (int i = next; i < inputs.Length; i++)
            {
                var child = inputs[i]?.GradFn;
                if (child != null && visited.Add(child))
                {
                    stack.Push((node, i + 1));
                    stack.Push((child, 0));
                    descended = true;
                    break;
                }
            }
            if (!descended) post.Add(node);
        }
        post.Reverse();
        return post;
    }
}
