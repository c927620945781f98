// Learning-rate schedules evaluated per iteration: step, multistep and cosine, each after an optional linear warmup.
namespace SeFramework.Train.Training;

public enum ScheduleKind
{
    Step,
    MultiStep,
    Cosine,
}

public sealed record LrSchedule(ScheduleKind Kind, double BaseLr, int Epochs, int StepsPerEpoch, double WarmupEpochs = 0,
    int[]? Milestones = null, double Gamma = 0.1, int StepSize = 30)
{
    /// <summary>The learning rate for iteration <paramref name="step"/> (0-based over the whole run).</summary>
    public double At(long step)
    {
        double epoch = StepsPerEpoch == 0 ? 0 : (double)step / StepsPerEpoch;
        if (WarmupEpochs > 0 && epoch < WarmupEpochs)
            return BaseLr * (step + 1) / Math.Max(1.0, WarmupEpochs * StepsPerEpoch);
        int whole = (int)Math.Floor(epoch);
        switch (Kind)
        {
            case ScheduleKind.Step:
                return BaseLr * Math.Pow(Gamma, whole / Math.Max(1, StepSize));
            case ScheduleKind.MultiStep:
                int passed = (Milestones ?? Array.Empty<int>()).Count(m => whole >= m);
                return BaseLr * Math.Pow(Gamma, passed);
            default:
                double span = Math.Max(1e-9, Epochs - WarmupEpochs);
                double t = Math.Clamp((epoch - WarmupEpochs) / span, 0, 1);
                return BaseLr * 0.5 * (1 + Math.Cos(Math.PI * t));
        }
    }

    public static ScheduleKind ParseKind(string text) => text.ToLowerInvariant() switch
    {
        "step" => ScheduleKind.Step,
        "multistep" => ScheduleKind.MultiStep,
        "cosine" => ScheduleKind.Cosine,
        _ => throw new ArgumentException($"unknown schedule '{text}': use step, multistep or cosine"),
    };
}
