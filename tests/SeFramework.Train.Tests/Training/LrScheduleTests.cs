// Learning-rate schedules at known iterations: step, multistep, cosine, and the linear warmup in front of each.
using SeFramework.Train.Training;
using Xunit;

namespace SeFramework.Train.Tests.Training;

public class LrScheduleTests
{
    private const double Tol = 1e-12;

    [Fact]
    public void Step_divides_by_gamma_every_step_size_epochs()
    {
        var s = new LrSchedule(ScheduleKind.Step, 0.1, Epochs: 90, StepsPerEpoch: 10, StepSize: 30, Gamma: 0.1);
        Assert.Equal(0.1, s.At(0), Tol);
        Assert.Equal(0.1, s.At(299), Tol);   // last step of epoch 30
        Assert.Equal(0.01, s.At(300), Tol);  // first step of epoch 31
        Assert.Equal(0.01, s.At(599), Tol);
        Assert.Equal(0.001, s.At(600), Tol);
    }

    [Fact]
    public void Multistep_drops_at_each_milestone_epoch()
    {
        var s = new LrSchedule(ScheduleKind.MultiStep, 0.2, Epochs: 6, StepsPerEpoch: 5, Milestones: [2, 4], Gamma: 0.5);
        Assert.Equal(0.2, s.At(0), Tol);
        Assert.Equal(0.2, s.At(9), Tol);
        Assert.Equal(0.1, s.At(10), Tol);
        Assert.Equal(0.1, s.At(19), Tol);
        Assert.Equal(0.05, s.At(20), Tol);
        Assert.Equal(0.05, s.At(29), Tol);
    }

    [Fact]
    public void Cosine_goes_from_base_through_half_to_zero()
    {
        var s = new LrSchedule(ScheduleKind.Cosine, 0.1, Epochs: 10, StepsPerEpoch: 10);
        Assert.Equal(0.1, s.At(0), Tol);
        Assert.Equal(0.1 * 0.5 * (1 + Math.Cos(Math.PI * 0.25)), s.At(25), Tol);
        Assert.Equal(0.05, s.At(50), Tol);
        Assert.Equal(0.1 * 0.5 * (1 + Math.Cos(Math.PI * 0.99)), s.At(99), Tol);
        Assert.Equal(0.0, s.At(100), Tol);
        Assert.Equal(0.0, s.At(1000), Tol); // clamped past the end
        for (long i = 1; i < 100; i++) Assert.True(s.At(i) < s.At(i - 1), $"cosine lr must fall at every step (step {i})");
    }

    [Fact]
    public void Warmup_rises_linearly_then_hands_over_to_the_schedule()
    {
        // 2 warmup epochs of 10 steps: lr = base * (step + 1) / 20, then cosine over the remaining 8 epochs.
        var s = new LrSchedule(ScheduleKind.Cosine, 0.1, Epochs: 10, StepsPerEpoch: 10, WarmupEpochs: 2);
        Assert.Equal(0.005, s.At(0), Tol);
        Assert.Equal(0.05, s.At(9), Tol);
        Assert.Equal(0.1, s.At(19), Tol);
        Assert.Equal(0.1, s.At(20), Tol);
        Assert.Equal(0.05, s.At(60), Tol);   // halfway through the 80 cosine steps
        Assert.Equal(0.0, s.At(100), Tol);

        var step = new LrSchedule(ScheduleKind.Step, 0.1, Epochs: 4, StepsPerEpoch: 10, WarmupEpochs: 0.5, StepSize: 2, Gamma: 0.1);
        Assert.Equal(0.02, step.At(0), Tol);  // 0.5 epoch = 5 warmup steps
        Assert.Equal(0.1, step.At(4), Tol);
        Assert.Equal(0.1, step.At(5), Tol);
        Assert.Equal(0.01, step.At(20), Tol);
    }

    [Theory]
    [InlineData("step", ScheduleKind.Step)]
    [InlineData("MultiStep", ScheduleKind.MultiStep)]
    [InlineData("cosine", ScheduleKind.Cosine)]
    public void ParseKind_accepts_names_case_insensitively(string text, ScheduleKind expected) =>
        Assert.Equal(expected, LrSchedule.ParseKind(text));

    [Fact]
    public void ParseKind_rejects_unknown_names_listing_the_choices()
    {
        var e = Assert.Throws<ArgumentException>(() => LrSchedule.ParseKind("linear"));
        Assert.Contains("step, multistep or cosine", e.Message);
    }

    [Theory]
    [InlineData("multistep")]
    [InlineData("MultiStep")]
    public void Multistep_without_milestones_is_rejected(string schedule)
    {
        var e = Assert.Throws<ArgumentException>(() => new TrainOptions { Schedule = schedule }.Validate());
        Assert.Contains("--milestones", e.Message);
    }
}
