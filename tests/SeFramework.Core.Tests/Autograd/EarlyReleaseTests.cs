// Early release of intermediates (Tensor.ReleaseWhenUnused, the saved lists of GradNode.Record, batch-norm recompute):
// a marked storage is freed at once when no node reads it, else right after the backward of its last reader; unmarked
// tensors are never freed early; gradients are bit-identical to keeping everything.
using SeFramework.Autograd;
using Xunit;

namespace SeFramework.Tests;

public class EarlyReleaseTests
{
    /// <summary>Identity op whose backward runs <paramref name="onBackward"/>: shows what is alive at that point.</summary>
    private static Tensor Probe(Tensor t, Action onBackward)
    {
        Tensor y;
        using (Autograd.Autograd.NoGrad()) y = t * 1.0;
        return GradNode.Record("Probe", y, new[] { t }, g =>
        {
            onBackward();
            return new[] { g.Clone() };
        }, saved: Array.Empty<Tensor?>());
    }

    private static Tensor Leaf(ulong seed, params int[] shape) => Tensor.RandN(shape, new Rng(seed), DType.Float64).RequiresGrad_();

    [Fact]
    public void Under_NoGrad_a_released_intermediate_is_freed_at_once_and_cannot_be_read()
    {
        var x = Leaf(1, 2, 3);
        using var _ = Autograd.Autograd.NoGrad();
        var h = x.Relu();
        var y = h * 2.0;
        h.ReleaseWhenUnused();
        Assert.True(h.Storage.IsDisposed);
        Assert.False(x.Storage.IsDisposed);
        Assert.False(y.Storage.IsDisposed);
        Assert.Throws<ObjectDisposedException>(() => h.ToDoubleArray());
    }

    [Fact]
    public void A_saved_intermediate_lives_until_its_last_reader_has_run_backward_then_is_freed()
    {
        var x = Leaf(2, 3, 4);
        var w = Leaf(3, 3, 4);
        Tensor h = null!;
        bool aliveBeforeRelu = false, freedAfterRelu = false;
        // Backward order: probe(h2), relu (the last reader of h), mul, probe(x).
        var xp = Probe(x, () => freedAfterRelu = h.Storage.IsDisposed);
        h = xp * w;           // Mul saves xp and w, not its output h
        var h2 = h.Relu();    // Relu saves h and h2
        var h3 = Probe(h2, () => aliveBeforeRelu = !h.Storage.IsDisposed);
        h.ReleaseWhenUnused();
        Assert.False(h.Storage.IsDisposed); // the Relu node still reads it
        h3.Sum().Backward();
        Assert.True(aliveBeforeRelu, "h was freed before the backward that reads it");
        Assert.True(freedAfterRelu, "h was not freed once its last reader's backward had run");

        // Same values as with nothing released: d/dx = w·[x·w > 0], d/dw = x·[x·w > 0].
        var xs = x.ToDoubleArray();
        var ws = w.ToDoubleArray();
        var gx = x.Grad!.ToDoubleArray();
        var gw = w.Grad!.ToDoubleArray();
        for (int i = 0; i < xs.Length; i++)
        {
            double mask = xs[i] * ws[i] > 0 ? 1 : 0;
            Assert.Equal(ws[i] * mask, gx[i]);
            Assert.Equal(xs[i] * mask, gw[i]);
        }
    }

    [Fact]
    public void Unmarked_intermediates_and_tensors_that_share_their_storage_are_kept()
    {
        var x = Leaf(4, 2, 6);
        var h = x * 3.0;
        var view = h.Reshape(3, 4);
        var y = view.Relu();
        y.Sum().Backward();
        Assert.False(h.Storage.IsDisposed); // never marked: the caller may still read it
        Assert.Equal(12, view.ToDoubleArray().Length);

        // Marked while a second graph still reads it: freed only after that graph's backward too.
        var w1 = Leaf(5, 4);
        var w2 = Leaf(6, 4);
        Tensor shared;
        using (Autograd.Autograd.NoGrad()) shared = Tensor.RandN(new[] { 4 }, new Rng(7), DType.Float64) * 2.0;
        var a = (shared * w1).Sum(); // both products save `shared` (for dw = g·shared)
        var b = (shared * w2).Sum();
        shared.ReleaseWhenUnused();
        a.Backward();
        Assert.False(shared.Storage.IsDisposed);
        b.Backward();
        Assert.True(shared.Storage.IsDisposed);
    }

    [Theory]
    [InlineData(true, DType.Float32)]
    [InlineData(false, DType.Float32)]
    [InlineData(true, DType.Float64)]
    public void Axpy_recomputes_a_batch_norm_output_instead_of_keeping_it_with_bit_identical_gradients(bool training, DType dtype)
    {
        // Path A: Axpy gets the batch-norm output itself; it saves the batch norm's input and recomputes y in backward,
        // so y is freed at the end of the forward. Path B: Axpy gets a view of y (no recompute), which it keeps.
        (double[][] Grads, bool FreedAfterForward) Run(bool viaView)
        {
            var x = Tensor.RandN(new[] { 3, 4, 5, 5 }, new Rng(10), dtype).RequiresGrad_();
            var w = Tensor.RandN(new[] { 4 }, new Rng(11), dtype).RequiresGrad_();
            var b = Tensor.RandN(new[] { 4 }, new Rng(12), dtype).RequiresGrad_();
            var a = Tensor.RandN(new[] { 3, 4 }, new Rng(13), dtype).RequiresGrad_();
            var s = Tensor.RandN(new[] { 3, 4, 5, 5 }, new Rng(14), dtype).RequiresGrad_();
            var rm = Tensor.RandN(new[] { 4 }, new Rng(15), dtype);
            var rv = Tensor.RandU(new[] { 4 }, new Rng(16), dtype, 0.5, 2);
            var y = F.BatchNorm2d(x, rm, rv, w, b, training);
            var input = viaView ? y.Reshape(y.Shape) : y;
            var output = F.AxpyRelu(a, input, s);
            if (!viaView) y.ReleaseWhenUnused();
            bool freed = y.Storage.IsDisposed;
            (output * Tensor.RandN(output.Shape, new Rng(17), dtype)).Sum().Backward();
            return (new[] { x, w, b, a, s }.Select(t => t.Grad!.ToDoubleArray()).ToArray(), freed);
        }

        (double[][] Grads, bool FreedAfterForward) recomputed;
        using (F.RecomputeBatchNormOutputs()) recomputed = Run(viaView: false);
        var kept = Run(viaView: true);
        var keptByDefault = Run(viaView: false);
        Assert.True(recomputed.FreedAfterForward, "the batch-norm output was kept although Axpy recomputes it");
        Assert.False(keptByDefault.FreedAfterForward, "outside a RecomputeBatchNormOutputs scope the output must be kept (no recompute)");
        for (int i = 0; i < kept.Grads.Length; i++) Assert.Equal(kept.Grads[i], keptByDefault.Grads[i]);
        for (int i = 0; i < kept.Grads.Length; i++) Assert.Equal(kept.Grads[i], recomputed.Grads[i]);
    }

    [Fact]
    public void Gradient_check_passes_with_the_batch_norm_output_released_and_recomputed()
    {
        var x = Leaf(20, 2, 3, 3, 3);
        var w = Leaf(21, 3);
        var b = Leaf(22, 3);
        var a = Leaf(23, 2, 3);
        var s = Leaf(24, 2, 3, 3, 3);
        using var recompute = F.RecomputeBatchNormOutputs();
        GradCheck.Assert(t =>
        {
            var y = F.BatchNorm2d(t[0], null, null, t[1], t[2], training: true);
            var o = F.Axpy(t[3], y, t[4]);
            y.ReleaseWhenUnused();
            return o;
        }, x, w, b, a, s);
    }
}
