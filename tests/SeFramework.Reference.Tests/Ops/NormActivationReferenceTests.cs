// Reference tests against libtorch of batch norm (training with running-stat update, eval), softmax, log-softmax,
// cross-entropy with label smoothing, channel scale, Axpy, AxpyRelu and dropout (identity cases): values and gradients.
using TorchSharp;
using TF = TorchSharp.torch.nn.functional;

namespace SeFramework.Reference.Tests;

public class NormActivationReferenceTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("(4,3,5,5) train", new long[] { 4, 3, 5, 5 }, true)]
    [InlineData("(2,16,4,4) train", new long[] { 2, 16, 4, 4 }, true)]
    [InlineData("(8,6) train (BatchNorm1d-like)", new long[] { 8, 6 }, true)]
    [InlineData("(4,3,5,5) eval", new long[] { 4, 3, 5, 5 }, false)]
    public void BatchNorm2d_matches_libtorch_including_running_stats(string config, long[] xShape, bool training)
    {
        LibTorch.RequireOrSkip();
        using var scope = torch.NewDisposeScope();
        var check = new RefCheck(output, "batchnorm2d");
        long c = xShape[1];
        const double momentum = 0.1, eps = 1e-5;
        // Inputs with a non-zero mean and non-unit spread per channel; running stats start away from 0/1.
        float[] mean0 = TestData.Uniform((int)c, 103, -0.5f, 0.5f), var0 = TestData.Uniform((int)c, 104, 0.5f, 2f);
        var ourMean = Tensor.FromArray((float[])mean0.Clone(), (int)c);
        var ourVar = Tensor.FromArray((float[])var0.Clone(), (int)c);
        var torchMean = Torch.FromArray(mean0, [c]);
        var torchVar = Torch.FromArray(var0, [c]);
        RefInput[] inputs = [new(xShape, 101, -2f, 3f), new([c], 102, 0.5f, 1.5f), new([c], 105)];
        check.ForwardBackward(config, inputs,
            t => F.BatchNorm2d(t[0], ourMean, ourVar, t[1], t[2], training, momentum, eps),
            t => TF.batch_norm(t[0], torchMean, torchVar, t[1], t[2], training, momentum, eps),
            RefTolerances.BatchNorm, RefTolerances.BatchNorm);
        // Training: running_mean ← 0.9·mean + 0.1·batch mean, running_var ← 0.9·var + 0.1·unbiased batch var; eval: unchanged.
        check.Compare(torchMean, ourMean, RefTolerances.BatchNorm, $"{config}: running mean after the step");
        check.Compare(torchVar, ourVar, RefTolerances.BatchNorm, $"{config}: running var after the step");
        if (!training) Assert.Equal(mean0, ourMean.ToFloatArray());
        else Assert.NotEqual(mean0, ourMean.ToFloatArray());
        check.Summary();
    }

    [Fact]
    public void Softmax_and_log_softmax_match_libtorch()
    {
        LibTorch.RequireOrSkip();
        using var scope = torch.NewDisposeScope();
        var check = new RefCheck(output, "softmax");
        var tol = RefTolerances.Softmax;
        RefInput rows = new([4, 10], 111, -4f, 4f), cube = new([3, 4, 5], 112, -4f, 4f);
        check.ForwardBackward("softmax (4,10) dim -1", [rows], t => F.Softmax(t[0], -1), t => TF.softmax(t[0], -1), tol, tol);
        check.ForwardBackward("softmax (3,4,5) dim 1", [cube], t => F.Softmax(t[0], 1), t => TF.softmax(t[0], 1), tol, tol);
        check.ForwardBackward("softmax (3,4,5) dim 0", [cube], t => F.Softmax(t[0], 0), t => TF.softmax(t[0], 0), tol, tol);
        check.ForwardBackward("log_softmax (4,10) dim -1", [rows], t => F.LogSoftmax(t[0], -1), t => TF.log_softmax(t[0], -1), tol, tol);
        check.ForwardBackward("log_softmax (3,4,5) dim 1", [cube], t => F.LogSoftmax(t[0], 1), t => TF.log_softmax(t[0], 1), tol, tol);
        check.ForwardBackward("softmax large logits (4,10)*20", [new([4, 10], 113, -80f, 80f)], t => F.Softmax(t[0], -1), t => TF.softmax(t[0], -1), tol, tol);
        check.Summary();
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(0.1)]
    public void CrossEntropy_with_label_smoothing_matches_libtorch(double smoothing)
    {
        LibTorch.RequireOrSkip();
        using var scope = torch.NewDisposeScope();
        var check = new RefCheck(output, "cross-entropy");
        const int n = 8, k = 10;
        var rng = new Random(121);
        int[] targets = Enumerable.Range(0, n).Select(_ => rng.Next(k)).ToArray();
        using var torchTargets = torch.tensor(targets.Select(t => (long)t).ToArray(), dtype: torch.int64);
        var tol = RefTolerances.Softmax;
        check.ForwardBackward($"(8,10) smoothing {smoothing}", [new([n, k], 122, -3f, 3f)],
            t => F.CrossEntropy(t[0], targets, smoothing),
            t => TF.cross_entropy(t[0], torchTargets, label_smoothing: smoothing), tol, tol);
        // The composed path: NLL of our log-softmax (no smoothing) against torch's nll_loss.
        if (smoothing == 0)
            check.ForwardBackward("nll_loss(log_softmax) (8,10)", [new([n, k], 123, -3f, 3f)],
                t => F.NllLoss(F.LogSoftmax(t[0], 1), targets),
                t => TF.nll_loss(TF.log_softmax(t[0], 1), torchTargets), tol, tol);
        check.Summary();
    }

    [Fact]
    public void ChannelScale_Axpy_and_AxpyRelu_match_libtorch()
    {
        LibTorch.RequireOrSkip();
        using var scope = torch.NewDisposeScope();
        var check = new RefCheck(output, "axpy");
        var tol = RefTolerances.Axpy;
        long[] xShape = [2, 5, 4, 3];
        RefInput a2 = new([2, 5], 131, 0f, 1f), a4 = new([2, 5, 1, 1], 132, 0f, 1f), x = new(xShape, 133), y = new(xShape, 134);
        static torch.Tensor Expand(torch.Tensor a) => a.dim() == 2 ? a.unsqueeze(-1).unsqueeze(-1) : a; // a[:, :, None, None]
        check.ForwardBackward("channel scale a (N,C)", [x, a2], t => F.ChannelScale(t[0], t[1]), t => t[0] * Expand(t[1]), tol, tol);
        check.ForwardBackward("channel scale a (N,C,1,1)", [x, a4], t => F.ChannelScale(t[0], t[1]), t => t[0] * Expand(t[1]), tol, tol);
        check.ForwardBackward("axpy a (N,C)", [a2, x, y], t => F.Axpy(t[0], t[1], t[2]), t => Expand(t[0]) * t[1] + t[2], tol, tol);
        check.ForwardBackward("axpy a (N,C,1,1)", [a4, x, y], t => F.Axpy(t[0], t[1], t[2]), t => Expand(t[0]) * t[1] + t[2], tol, tol);
        check.ForwardBackward("axpy_relu a (N,C)", [a2, x, y], t => F.AxpyRelu(t[0], t[1], t[2]), t => (Expand(t[0]) * t[1] + t[2]).relu(), tol, tol);
        check.ForwardBackward("axpy_relu a (N,C,1,1)", [a4, x, y], t => F.AxpyRelu(t[0], t[1], t[2]), t => (Expand(t[0]) * t[1] + t[2]).relu(), tol, tol);
        check.Summary();
    }

    [Fact]
    public void Dropout_identity_cases_match_libtorch()
    {
        // Masks come from different RNGs, so only the deterministic cases compare: p = 0 in training, and eval mode.
        LibTorch.RequireOrSkip();
        using var scope = torch.NewDisposeScope();
        var check = new RefCheck(output, "dropout");
        var tol = RefTolerances.Elementwise;
        RefInput x = new([4, 6, 3], 141);
        check.ForwardBackward("p=0 training", [x], t => F.Dropout(t[0], 0, training: true), t => TF.dropout(t[0], 0, training: true), tol, tol);
        check.ForwardBackward("p=0.5 eval", [x], t => F.Dropout(t[0], 0.5, training: false), t => TF.dropout(t[0], 0.5, training: false), tol, tol);
        check.ForwardBackward("module p=0.3 after Eval()", [x], t => new Nn.Dropout(0.3).Eval().Forward(t[0]),
            t => { var m = torch.nn.Dropout(0.3); m.eval(); return m.call(t[0]); }, tol, tol);
        check.Summary();
    }
}
