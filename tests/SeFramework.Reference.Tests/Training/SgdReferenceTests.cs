// Reference test of SeFramework's SGD against torch.optim.SGD: the same parameters and the same gradients (set by
// backpropagating sum(p * G_t)) for 5 steps, with momentum, Nesterov, weight decay and dampening in combination.
using TorchSharp;
using TorchSharp.Modules;
using SeFramework.Optim;

namespace SeFramework.Reference.Tests;

public class SgdReferenceTests(ITestOutputHelper output)
{
    static readonly long[][] Shapes = [[4, 3, 3, 3], [16], [10, 8]];

    [Theory]
    [InlineData(0.1, 0.9, 0.0, 0.0, false)]
    [InlineData(0.1, 0.9, 0.0, 0.0, true)]
    [InlineData(0.1, 0.9, 0.01, 0.0, true)]
    [InlineData(0.05, 0.9, 5e-4, 0.1, false)]
    [InlineData(0.1, 0.5, 0.01, 0.5, false)]
    [InlineData(0.1, 0.0, 0.01, 0.0, false)]
    public void Five_sgd_steps_match_torch_optim_sgd(double lr, double momentum, double weightDecay, double dampening, bool nesterov)
    {
        LibTorch.RequireOrSkip();
        using var scope = torch.NewDisposeScope();
        var check = new RefCheck(output, "sgd");
        string config = $"lr {lr} momentum {momentum} wd {weightDecay} dampening {dampening} nesterov {nesterov}";

        var ours = Shapes.Select((s, i) => RefCheck.Ours(new RefInput(s, 151 + i))).ToArray();
        var theirs = Shapes.Select((s, i) => new Parameter(RefCheck.Theirs(new RefInput(s, 151 + i, Grad: false)), requires_grad: true)).ToArray();
        var sgd = new Sgd(ours, lr, momentum, dampening, weightDecay, nesterov);
        var torchSgd = torch.optim.SGD(theirs, lr, momentum, dampening, weightDecay, nesterov);

        for (int step = 0; step < 5; step++)
        {
            // Gradients G_t (different each step, some large so weight decay and momentum both matter).
            var grads = Shapes.Select((s, i) => new RefInput(s, 1000 * (step + 1) + i, -2f, 2f)).ToArray();
            sgd.ZeroGrad();
            torchSgd.zero_grad();
            Tensor? loss = null;
            for (int i = 0; i < ours.Length; i++)
            {
                var term = (ours[i] * RefCheck.Ours(grads[i] with { Grad = false })).Sum();
                loss = loss is null ? term : loss + term;
            }
            loss!.Backward();
            torch.Tensor? torchLoss = null;
            for (int i = 0; i < theirs.Length; i++)
            {
                var term = (theirs[i] * RefCheck.Theirs(grads[i] with { Grad = false })).sum();
                torchLoss = torchLoss is null ? term : torchLoss + term;
            }
            torchLoss!.backward();
            sgd.Step();
            torchSgd.step();
            for (int i = 0; i < ours.Length; i++)
                check.Compare(theirs[i], ours[i], RefTolerances.Sgd, $"{config}: param {i} after step {step + 1}");
        }
        check.Summary();
    }
}
