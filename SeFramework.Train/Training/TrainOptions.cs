// Every setting of `se train`, with the defaults of the README's short run (se_resnet20 on Fashion-MNIST).
namespace SeFramework.Train.Training;

public sealed record TrainOptions
{
    public string Model { get; init; } = "se_resnet20";
    public string Dataset { get; init; } = "fashion-mnist";
    public string? Data { get; init; }
    public int Epochs { get; init; } = 2;
    public int BatchSize { get; init; } = 128;
    public double Lr { get; init; } = 0.1;
    public double Momentum { get; init; } = 0.9;
    public bool Nesterov { get; init; }
    public double WeightDecay { get; init; } = 1e-4;
    public bool NoWdOnBnBias { get; init; }
    public string Schedule { get; init; } = "cosine";
    public int[] Milestones { get; init; } = Array.Empty<int>();
    public double Gamma { get; init; } = 0.1;
    public int StepSize { get; init; } = 30;
    public double WarmupEpochs { get; init; }
    public double LabelSmoothing { get; init; }
    /// <summary>none | cifar | senet; null picks the dataset's usual one: senet for image folders, cifar otherwise.</summary>
    public string? Augment { get; init; }
    public ulong Seed { get; init; } = 42;
    public int Threads { get; init; } = Environment.ProcessorCount;
    public string Device { get; init; } = "cpu";
    public string Out { get; init; } = "runs/latest";
    public bool Resume { get; init; }
    public int? LimitTrain { get; init; } = 20000;
    public int? LimitTest { get; init; }
    public int Workers { get; init; } = 1;
    public int Reduction { get; init; } = 16;
    public int? InputSize { get; init; }
    public bool Strict { get; init; }

    /// <summary>Stop after this many optimizer steps in total (for tests that interrupt a run); null runs to the end.</summary>
    public long? StopAfterSteps { get; init; }

    /// <summary>The augmentation actually used: <see cref="Augment"/>, or the dataset's usual one when it is null.</summary>
    public string EffectiveAugment => Augment ?? (Dataset.Equals("folder", StringComparison.OrdinalIgnoreCase) ? "senet" : "cifar");

    public void Validate()
    {
        if (Epochs < 1) throw new ArgumentException($"--epochs must be ≥ 1, not {Epochs}");
        if (BatchSize < 1) throw new ArgumentException($"--batch-size must be ≥ 1, not {BatchSize}");
        if (BatchSize > 65536) throw new ArgumentException($"--batch-size {BatchSize} is impossibly large for this machine; use at most 65536");
        if (Lr <= 0 || double.IsNaN(Lr)) throw new ArgumentException($"--lr must be positive, not {Lr}");
        if (Momentum < 0) throw new ArgumentException($"--momentum must be ≥ 0, not {Momentum}");
        if (WeightDecay < 0) throw new ArgumentException($"--weight-decay must be ≥ 0, not {WeightDecay}");
        if (LabelSmoothing is < 0 or >= 1) throw new ArgumentException($"--label-smoothing must be in [0, 1), not {LabelSmoothing}");
        if (WarmupEpochs < 0 || WarmupEpochs > Epochs) throw new ArgumentException($"--warmup-epochs must be in [0, epochs], not {WarmupEpochs}");
        if (Threads < 1) throw new ArgumentException($"--threads must be ≥ 1, not {Threads}");
        if (Workers < 0) throw new ArgumentException($"--workers must be ≥ 0, not {Workers}");
        if (LimitTrain is < 1) throw new ArgumentException($"--limit-train must be ≥ 1, not {LimitTrain}");
        if (LimitTest is < 1) throw new ArgumentException($"--limit-test must be ≥ 1, not {LimitTest}");
        if (LrSchedule.ParseKind(Schedule) == ScheduleKind.MultiStep && Milestones.Length == 0) throw new ArgumentException("--schedule multistep needs --milestones, e.g. --milestones 15 25");
    }
}
