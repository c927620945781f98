// The CPU reference kernels (the GPU tests' oracle) checked against finite differences, adjointness and hand-derived values.
using SeFramework.Cuda.Kernels;

namespace SeFramework.Cuda.Tests;

public class ReferenceTests
{
    private static float[] Rand(Random r, int n, float scale = 1f) => Enumerable.Range(0, n).Select(_ => (float)(r.NextDouble() * 2 - 1) * scale).ToArray();

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Axpy_backward_matches_finite_differences(bool relu)
    {
        const int planes = 3, hw = 5;
        var r = new Random(1);
        float[] a = Rand(r, planes), x = Rand(r, planes * hw), y = Rand(r, planes * hw), w = Rand(r, planes * hw);
        // L = sum w * F(a, x, y); dF = w.
        double Loss(float[] aa, float[] xx, float[] yy)
        {
            var f = new float[planes * hw];
            KernelReference.AxpyForward(f, aa, xx, yy, planes, hw, relu);
            return f.Select((v, i) => (double)v * w[i]).Sum();
        }
        var fwd = new float[planes * hw];
        KernelReference.AxpyForward(fwd, a, x, y, planes, hw, relu);
        float[] dx = new float[planes * hw], dy = new float[planes * hw], da = new float[planes];
        KernelReference.AxpyBackward(dx, dy, da, w, a, x, fwd, planes, hw, relu);
        const float h = 1e-3f;
        void CheckGrad(float[] v, float[] grad)
        {
            for (int i = 0; i < v.Length; i++)
            {
                float old = v[i];
                v[i] = old + h; double lp = Loss(a, x, y);
                v[i] = old - h; double lm = Loss(a, x, y);
                v[i] = old;
                Assert.Equal((lp - lm) / (2 * h), grad[i], 2e-3);
            }
        }
        CheckGrad(a, da);
        CheckGrad(x, dx);
        CheckGrad(y, dy);
    }

    [Fact]
    public void Gap_backward_is_the_adjoint_of_gap_forward()
    {
        const int planes = 4, hw = 49;
        var r = new Random(2);
        float[] x = Rand(r, planes * hw), dy = Rand(r, planes), y = new float[planes], dx = new float[planes * hw];
        KernelReference.GapForward(y, x, planes, hw);
        KernelReference.GapBackward(dx, dy, planes, hw);
        double lhs = y.Select((v, i) => (double)v * dy[i]).Sum(), rhs = x.Select((v, i) => (double)v * dx[i]).Sum();
        Assert.Equal(lhs, rhs, 1e-5);
        Assert.Equal(x.Take(hw).Average(), y[0], 1e-5);
    }

    [Fact]
    public void Softmax_cross_entropy_backward_matches_finite_differences()
    {
        const int rows = 3, k = 7;
        var r = new Random(3);
        float[] logits = Rand(r, rows * k, 3f), g = [0.5f, -1f, 2f];
        int[] labels = [0, 6, 3];
        float[] loss = new float[rows], lse = new float[rows], d = new float[rows * k];
        KernelReference.SoftmaxCrossEntropyForward(loss, lse, logits, labels, rows, k);
        KernelReference.SoftmaxCrossEntropyBackward(d, logits, lse, labels, g, rows, k);
        double L()
        {
            float[] l2 = new float[rows], s2 = new float[rows];
            KernelReference.SoftmaxCrossEntropyForward(l2, s2, logits, labels, rows, k);
            return l2.Select((v, i) => (double)v * g[i]).Sum();
        }
        for (int i = 0; i < logits.Length; i++)
        {
            float old = logits[i];
            logits[i] = old + 1e-3f; double lp = L();
            logits[i] = old - 1e-3f; double lm = L();
            logits[i] = old;
            Assert.Equal((lp - lm) / 2e-3, d[i], 3e-3);
        }
        // loss of uniform logits = log k
        float[] u = new float[k], ul = new float[1], us = new float[1];
        KernelReference.SoftmaxCrossEntropyForward(ul, us, u, [2], 1, k);
        Assert.Equal(Math.Log(k), ul[0], 1e-6);
        KernelReference.SoftmaxCrossEntropyForward(ul, us, u, [k], 1, k);
        Assert.True(float.IsNaN(ul[0]));
    }

    [Fact]
    public void Sgd_follows_the_pytorch_rule_step_by_step()
    {
        // p=1, g=0.5, lr=0.1, momentum=0.9, dampening=0, wd=0.01. Step 1: d = 0.5 + 0.01 = 0.51; buf = 0.51; p = 1 - 0.051 = 0.949.
        // Step 2 (same g): d = 0.5 + 0.00949 = 0.50949; buf = 0.9*0.51 + 0.50949 = 0.96849; p = 0.949 - 0.096849 = 0.852151.
        float[] p = [1f], g = [0.5f], m = [0f];
        KernelReference.SgdStep(p, g, m, 0.1f, 0.9f, 0f, 0.01f, nesterov: false, firstStep: true);
        Assert.Equal(0.949f, p[0], 1e-6f);
        Assert.Equal(0.51f, m[0], 1e-6f);
        KernelReference.SgdStep(p, g, m, 0.1f, 0.9f, 0f, 0.01f, nesterov: false, firstStep: false);
        Assert.Equal(0.852151f, p[0], 1e-6f);
        // Nesterov, step 1: d = 0.5, buf = 0.5, d = 0.5 + 0.9 * 0.5 = 0.95; p = 1 - 0.095.
        float[] pn = [1f], mn = [0f];
        KernelReference.SgdStep(pn, g, mn, 0.1f, 0.9f, 0f, 0f, nesterov: true, firstStep: true);
        Assert.Equal(0.905f, pn[0], 1e-6f);
        // Dampening 0.5, step 2: buf = 0.9 * 0.5 + 0.5 * 0.5 = 0.7.
        float[] pd = [1f], md = [0f];
        KernelReference.SgdStep(pd, g, md, 0.1f, 0.9f, 0.5f, 0f, false, true);
        KernelReference.SgdStep(pd, g, md, 0.1f, 0.9f, 0.5f, 0f, false, false);
        Assert.Equal(0.7f, md[0], 1e-6f);
    }
}
