// BatchNormKernelTests: the plane-order batch-norm kernels (training forward with running stats, training backward)
// against ReferenceNn in double on awkward shapes, bit-identical at 1 and 2 threads; the fused ReLU (relu forward,
// reluOutput backward) bit-identical to the batch norm followed by the separate ReLU / mask kernels.
using SeFramework.Backends;
using SeFramework.Cpu;
using Xunit;
using static SeFramework.Core.Tests.Cpu.KernelAssert;

namespace SeFramework.Core.Tests.Cpu;

[Collection(nameof(CpuThreadsCollection))]
public sealed class BatchNormKernelTests
{
    // (N, C, L): L = 1 (BatchNorm1d on (N, C)), odd lengths, batch 1, one channel, and enough work for 2 threads.
    public static TheoryData<int, int, int> Shapes => new()
    {
        { 2, 3, 1 },
        { 1, 5, 7 },
        { 3, 1, 33 },
        { 7, 4, 49 },
        { 16, 16, 1024 }, // 262 K elements: the parallel path
        { 32, 64, 64 },
    };

    private static void AssertClose(double[] expected, float[] actual, double tolerance, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tolerance * (1 + Math.Abs(expected[i])), $"{what}[{i}]: {actual[i]:R} vs {expected[i]:R}");
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Training_forward_and_backward_match_the_reference_and_do_not_depend_on_threads(int n, int c, int l)
    {
        using var scope = TensorScope.Begin();
        var x = Tensor.RandN(new[] { n, c, l }, new Rng(31)) * 2.0 + 0.5;
        var dy = Tensor.RandN(new[] { n, c, l }, new Rng(32));
        var w = Tensor.RandN(new[] { c }, new Rng(33));
        var b = Tensor.RandN(new[] { c }, new Rng(34));
        var backend = BackendRegistry.For(Device.Cpu);
        float[][] Run()
        {
            var y = Tensor.Empty(new[] { n, c, l });
            var mean = Tensor.Empty(new[] { c });
            var invStd = Tensor.Empty(new[] { c });
            var rm = Tensor.Zeros(new[] { c });
            var rv = Tensor.Ones(new[] { c });
            var dx = Tensor.Empty(new[] { n, c, l });
            var dw = Tensor.Empty(new[] { c });
            var db = Tensor.Empty(new[] { c });
            backend.BatchNormForwardTraining(x, w, b, y, mean, invStd, rm, rv, 0.1, 1e-5);
            backend.BatchNormBackward(x, dy, w, mean, invStd, true, dx, dw, db);
            return new[] { y, mean, invStd, rm, rv, dx, dw, db }.Select(t => t.ToFloatArray()).ToArray();
        }
        var one = WithThreads(1, Run);
        var two = WithThreads(2, Run);
        for (int k = 0; k < one.Length; k++)
            Assert.Equal(one[k].Select(BitConverter.SingleToInt32Bits), two[k].Select(BitConverter.SingleToInt32Bits));

        double[] xs = x.ToDoubleArray(), dys = dy.ToDoubleArray(), ws = w.ToDoubleArray(), bs = b.ToDoubleArray();
        var yRef = new double[xs.Length];
        var meanRef = new double[c];
        var varRef = new double[c];
        ReferenceNn.BatchNormForward(xs, ws, bs, yRef, meanRef, varRef, true, 1e-5, n, c, l);
        var dxRef = new double[xs.Length];
        var dwRef = new double[c];
        var dbRef = new double[c];
        ReferenceNn.BatchNormBackward(xs, dys, ws, meanRef, varRef, true, 1e-5, dxRef, dwRef, dbRef, n, c, l);
        // float32 kernels vs the double reference. Statistics are float sums over n·l ≤ 16 K values per channel (a few
        // 1e-7 relative); y, invStd and the running stats add a handful of float operations per element: 1e-5 / 1e-4
        // leave margin. (A biased instead of unbiased running variance, 1/(n·l − 1) apart, fails on the small shapes.)
        AssertMatchesReference(one, yRef, meanRef, varRef, dxRef, dwRef, dbRef, n * l);
        AssertClose(meanRef.Select(m => 0.1 * m).ToArray(), one[3], 1e-5, "running mean");
        if (n * l > 1) // running variance uses the unbiased variance, undefined for one value per channel
            AssertClose(varRef.Select(v => 0.9 + 0.1 * v * n * l / (n * l - 1)).ToArray(), one[4], 1e-4, "running var");
    }

    // results: (y, mean, invStd, running mean, running var, dx, dweight, dbias) of the float32 kernels; count = n·l values
    // per channel. Tolerances as explained at the call in the first test: y, mean and invStd a handful of float operations
    // (1e-4 / 1e-5); dx of a batch of one value per channel is ~0 against the rounding of large terms (1e-2, else 1e-3);
    // dweight and dbias are sums of n·l float terms each, whose rounding error grows ~sqrt(n·l).
    private static void AssertMatchesReference(float[][] results, double[] yRef, double[] meanRef, double[] varRef, double[] dxRef,
        double[] dwRef, double[] dbRef, int count)
    {
        AssertClose(yRef, results[0], 1e-4, "y");
        AssertClose(meanRef, results[1], 1e-5, "mean");
        AssertClose(varRef.Select(v => 1 / Math.Sqrt(v + 1e-5)).ToArray(), results[2], 1e-4, "invStd");
        AssertClose(dxRef, results[5], count == 1 ? 1e-2 : 1e-3, "dx");
        AssertClose(dwRef, results[6], 1e-4 * Math.Sqrt(count), "dweight");
        AssertClose(dbRef, results[7], 1e-4 * Math.Sqrt(count), "dbias");
    }

    // (N, C, L) for the fused ReLU: every mix of N ∈ {1, 5}, C ∈ {1, 3, 17}, H·W ∈ {1, 7, 49}, plus a shape large enough
    // for the parallel path. Odd lengths put most elements in the scalar tails and the vector/tail seams.
    public static TheoryData<int, int, int, bool, bool> ReluCases
    {
        get
        {
            var data = new TheoryData<int, int, int, bool, bool>();
            foreach (int n in new[] { 1, 5 })
                foreach (int c in new[] { 1, 3, 17 })
                    foreach (int l in new[] { 1, 7, 49 })
                        foreach (bool training in new[] { true, false })
                        {
                            if (training && n * l == 1) continue; // one value per channel has no batch variance (F rejects it)
                            foreach (bool relu in new[] { true, false }) data.Add(n, c, l, training, relu);
                        }
            foreach (bool training in new[] { true, false }) data.Add(8, 16, 4099, training, true); // 524 K: 2 threads
            return data;
        }
    }

    [Theory]
    [MemberData(nameof(ReluCases))]
    public void Fused_relu_matches_the_separate_relu_and_mask_bit_for_bit_and_the_reference(int n, int c, int l, bool training, bool relu)
    {
        using var scope = TensorScope.Begin();
        // Mean near 0 so that about half of the outputs are clipped; dy nonzero everywhere.
        var x = Tensor.RandN(new[] { n, c, l }, new Rng(41)) * 1.5 + 0.2;
        var dy = Tensor.RandN(new[] { n, c, l }, new Rng(42));
        var w = Tensor.RandN(new[] { c }, new Rng(43));
        var b = Tensor.RandN(new[] { c }, new Rng(44)) * 0.5;
        var runMean = Tensor.RandN(new[] { c }, new Rng(45)) * 0.3;
        var runVar = Tensor.RandN(new[] { c }, new Rng(46)).Abs() + 0.5;
        var backend = BackendRegistry.For(Device.Cpu);

        // fused: relu inside the kernels; separate: plain batch norm, then Unary(Relu) in place and UnaryBackward(Relu)
        // into a masked copy (what F.BatchNorm2dRelu did before the fusion). Outputs: y, mean, invStd, rm, rv, dx, dw, db.
        float[][] Run(bool fused)
        {
            var y = Tensor.Full(new[] { n, c, l }, float.NaN);
            var mean = Tensor.Empty(new[] { c });
            var invStd = Tensor.Empty(new[] { c });
            var rm = runMean.Clone();
            var rv = runVar.Clone();
            var dx = Tensor.Full(new[] { n, c, l }, float.NaN);
            var dw = Tensor.Empty(new[] { c });
            var db = Tensor.Empty(new[] { c });
            bool fuse = fused && relu;
            if (training) backend.BatchNormForwardTraining(x, w, b, y, mean, invStd, rm, rv, 0.1, 1e-5, fuse);
            else backend.BatchNormForwardInference(x, w, b, rm, rv, y, mean, invStd, 1e-5, fuse);
            if (relu && !fused) backend.Unary(UnaryOp.Relu, y, y, 0);
            if (relu && !fused)
            {
                var masked = Tensor.Empty(new[] { n, c, l });
                backend.UnaryBackward(UnaryOp.Relu, y, y, dy, masked, 0);
                backend.BatchNormBackward(x, masked, w, mean, invStd, training, dx, dw, db);
            }
            else
            {
                backend.BatchNormBackward(x, dy, w, mean, invStd, training, dx, dw, db, fuse ? y : null);
            }
            return new[] { y, mean, invStd, rm, rv, dx, dw, db }.Select(t => t.ToFloatArray()).ToArray();
        }
        var fused1 = WithThreads(1, () => Run(true));
        var fused2 = WithThreads(2, () => Run(true));
        var separate1 = WithThreads(1, () => Run(false));
        var separate2 = WithThreads(2, () => Run(false));
        string[] names = { "y", "mean", "invStd", "running mean", "running var", "dx", "dweight", "dbias" };
        for (int k = 0; k < names.Length; k++)
        {
            AssertBitsEqual(separate1[k], fused1[k], $"{names[k]}: fused vs separate (1 thread)");
            AssertBitsEqual(fused1[k], fused2[k], $"{names[k]}: fused, 2 threads vs 1");
            AssertBitsEqual(separate1[k], separate2[k], $"{names[k]}: separate, 2 threads vs 1");
        }
        if (relu && fused1[0].Length >= 20)
        {
            int clipped = fused1[0].Count(v => v == 0);
            Assert.True(clipped > 0 && clipped < fused1[0].Length, $"the ReLU clipped {clipped} of {fused1[0].Length} outputs; the test needs both sides");
        }

        // Against the double reference: the mask is taken from the kernel's own y (a value within rounding of 0 may land
        // on either side in float and in double; the gradient must follow the mask the forward actually applied).
        double[] xs = x.ToDoubleArray(), dys = dy.ToDoubleArray(), ws = w.ToDoubleArray(), bs = b.ToDoubleArray();
        var yRef = new double[xs.Length];
        var meanRef = training ? new double[c] : runMean.ToDoubleArray();
        var varRef = training ? new double[c] : runVar.ToDoubleArray();
        ReferenceNn.BatchNormForward(xs, ws, bs, yRef, meanRef, varRef, training, 1e-5, n, c, l, relu);
        var dxRef = new double[xs.Length];
        var dwRef = new double[c];
        var dbRef = new double[c];
        var mask = relu ? fused1[0].Select(v => (double)v).ToArray() : null;
        ReferenceNn.BatchNormBackward(xs, dys, ws, meanRef, varRef, training, 1e-5, dxRef, dwRef, dbRef, n, c, l, mask);
        AssertMatchesReference(fused1, yRef, meanRef, varRef, dxRef, dwRef, dbRef, n * l);
    }
}
