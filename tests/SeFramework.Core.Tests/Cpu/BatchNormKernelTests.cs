// BatchNormKernelTests: the plane-order batch-norm kernels (training forward with running stats, training backward)
// against ReferenceNn in double on awkward shapes, bit-identical at 1 and 2 threads.
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
        AssertClose(yRef, one[0], 1e-4, "y");
        AssertClose(meanRef, one[1], 1e-5, "mean");
        AssertClose(varRef.Select(v => 1 / Math.Sqrt(v + 1e-5)).ToArray(), one[2], 1e-4, "invStd");
        AssertClose(meanRef.Select(m => 0.1 * m).ToArray(), one[3], 1e-5, "running mean");
        if (n * l > 1) // running variance uses the unbiased variance, undefined for one value per channel
            AssertClose(varRef.Select(v => 0.9 + 0.1 * v * n * l / (n * l - 1)).ToArray(), one[4], 1e-4, "running var");
        // dx of a batch of one value per channel is ~0 against the rounding of large terms: scale its tolerance.
        AssertClose(dxRef, one[5], n * l == 1 ? 1e-2 : 1e-3, "dx");
        // dweight and dbias are sums of n·l float terms each: their rounding error grows ~sqrt(n·l).
        AssertClose(dwRef, one[6], 1e-4 * Math.Sqrt(n * l), "dweight");
        AssertClose(dbRef, one[7], 1e-4 * Math.Sqrt(n * l), "dbias");
    }
}
