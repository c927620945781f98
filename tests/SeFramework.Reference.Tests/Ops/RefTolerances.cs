// The tolerances of every SeFramework-vs-libtorch comparison, in one place, each with the reason for its size.
// Comparisons are float32 on both sides unless named ...64 (float64): eps32 = 2^-23 ≈ 1.19e-7; |ours − torch| ≤ atol + rtol·|torch|.
namespace SeFramework.Reference.Tests;

/// <summary>An allclose tolerance: <c>|actual − expected| ≤ Atol + Rtol·|expected|</c>.</summary>
public readonly record struct Tol(double Rtol, double Atol)
{
    public override string ToString() => FormattableString.Invariant($"rtol {Rtol:G2}, atol {Atol:G2}");
}

/// <summary>Tolerances of the reference comparisons (float32 in both frameworks).</summary>
public static class RefTolerances
{
    /// <summary>Single IEEE operations (+ − × ÷, neg, relu, copies, views): correctly rounded on both sides, so equal up
    /// to 1 ulp (a kernel may compute a/b as a·(1/b) or in double and round once): 2 ulp relative, tiny absolute.</summary>
    public static readonly Tol Elementwise = new(2.5e-7, 1e-12);

    /// <summary>exp, log, sqrt, pow, sigmoid, tanh and their derivatives: libm/.NET and libtorch's SLEEF vector kernels are
    /// each within ~1-4 ulp of the true value, and the backward multiplies one or two such values: ~10 ulp.</summary>
    public static readonly Tol Transcendental = new(2e-6, 1e-7);

    /// <summary>Sums and means over up to a few hundred elements (also the gradients of broadcast binary ops, which sum
    /// over the broadcast dims): pairwise vs. blocked summation order differ by ~log2(n)·eps·Σ|x|; inputs are in
    /// [−1, 1], so an absolute floor covers sums that cancel to near zero.</summary>
    public static readonly Tol Reduction = new(1e-5, 1e-6);

    /// <summary>Matrix products and Linear with K ≤ 64: sums of K products, accumulated in different orders (our blocked
    /// GEMM vs. MKL/oneDNN); the error is ~sqrt(K)·eps·Σ|a·b| ≲ 1e-6 for our inputs, checked with margin.</summary>
    public static readonly Tol MatMul = new(1e-5, 2e-6);

    /// <summary>Conv2d output and input gradient: sums of (C/groups)·R·S ≤ 3·49 products; weight gradient: sums over
    /// N·P·Q ≤ 512 positions. Our im2col or implicit GEMM vs. oneDNN's direct/winograd kernels sum in different orders (and winograd
    /// transforms round differently): rtol 1e-4 / atol 1e-5 as is usual for float32 convolutions.</summary>
    public static readonly Tol Conv = new(1e-4, 1e-5);

    /// <summary>Pooling: max pooling selects an element (exact, the backward routes the gradient unchanged; inputs are
    /// distinct random values so there are no ties); average pooling sums ≤ 9 values and divides once.</summary>
    public static readonly Tol Pool = new(1e-6, 1e-7);

    /// <summary>Global average pooling: a mean over H·W ≤ 64 values; its backward is one multiply.</summary>
    public static readonly Tol GlobalAvgPool = new(2e-6, 1e-7);

    /// <summary>Batch norm: mean and variance over N·H·W ≤ 100 values, an rsqrt, and a backward that subtracts means
    /// of dy and dy·x̂ that nearly cancel: error ~ log2(N·H·W)·eps relative to the largest term, ~1e-6 on O(1)
    /// values, checked with 20× margin. Running stats: one multiply-add per element on top of the mean/variance.</summary>
    public static readonly Tol BatchNorm = new(2e-5, 2e-6);

    /// <summary>Softmax, log-softmax, cross-entropy (K ≤ 10 classes): one exp per element, a sum of K terms, a log;
    /// libtorch and we both subtract the row max first. ~10 ulp on O(1) values.</summary>
    public static readonly Tol Softmax = new(5e-6, 5e-7);

    /// <summary>Channel scale, Axpy, AxpyRelu: one multiply (and add) per element: 1-2 ulp; the gradient of the scale
    /// a sums dy·x over H·W ≤ 64 positions (a reduction).</summary>
    public static readonly Tol Axpy = new(1e-5, 1e-6);

    /// <summary>SGD over 5 steps (momentum, Nesterov, weight decay, dampening): a handful of multiply-adds per element
    /// per step, possibly fused differently (torch uses addcmul/fma-like foreach kernels): a few ulp per step, 5 steps.</summary>
    public static readonly Tol Sgd = new(5e-6, 1e-7);

    /// <summary>End-to-end: the 5 training losses of se_resnet20 on one batch. Each step runs 22 float32 convs and 22
    /// batch norms whose rounding differences (~1e-7 relative, Conv/BatchNorm above) compound through the layers and,
    /// via the updated weights, through the steps; observed ≤ 2e-7 relative, checked with 50× margin. (A ReLU input
    /// within ~1e-6 of zero can flip between frameworks and fork the runs by ~1e-3: the test's input avoids that and
    /// logs the margin.)</summary>
    public static readonly Tol EndToEndLoss = new(1e-5, 1e-6);

    /// <summary>End-to-end: every weight, bias and BN running statistic after 5 SGD steps (lr 0.1, momentum 0.9,
    /// weight decay 1e-4), and the step-1 gradients. Weights are O(0.1-1) and move by up to ~0.5 over the steps;
    /// observed differences ≤ 3e-7 absolute; 1e-4 relative / 1e-5 absolute leaves ~40× margin for other CPUs' kernel
    /// choices while any real error in a gradient or the update rule (≥ 1e-3 of a step) fails.</summary>
    public static readonly Tol EndToEndWeights = new(1e-4, 1e-5);

    /// <summary>End-to-end in float64, 5 steps: the same compounding as <see cref="EndToEndLoss"/> from a unit roundoff of
    /// 1.1e-16 instead of 6e-8; observed ≤ 5e-16 relative, checked at 1e-12 (2000× margin for other summation orders)
    /// while any real error in a kernel or the update (≥ 1e-9 of a value) fails.</summary>
    public static readonly Tol EndToEndLoss64 = new(1e-12, 1e-14);

    /// <summary>End-to-end in float64: every weight, bias, BN statistic and step-1 gradient (values O(0.01–1)); observed
    /// ≤ 4.5e-16 absolute after 5 steps, so 1e-13 absolute leaves ~200× margin (and 1e-11 relative more for the large
    /// values) while an error of 1e-9 in any value fails.</summary>
    public static readonly Tol EndToEndWeights64 = new(1e-11, 1e-13);
}
