// The training loop of `se train`: data → model → cross-entropy → backward → SGD → schedule, evaluation every epoch,
// atomic checkpoints (last/best), metrics, curves and settings in --out, exact resume from last.safetensors.
using System.Diagnostics;
using System.Text.Json;
using SeFramework.Models;
using SeFramework.Nn;
using SeFramework.Optim;
using SeFramework.Train.Data;

namespace SeFramework.Train.Training;

/// <summary>The loss became NaN or infinite; the last good checkpoint is kept.</summary>
public sealed class TrainingDivergedException(string message) : Exception(message);

public sealed record TrainResult(IReadOnlyList<EpochMetrics> Epochs, double BestTop1, long Steps, string OutDir);

public sealed class Trainer
{
    private readonly TrainOptions _o;
    private readonly TextWriter _log;

    public Trainer(TrainOptions options, TextWriter log)
    {
        options.Validate();
        _o = options;
        _log = log;
    }

    public static string LastCheckpoint(string outDir) => Path.Combine(outDir, "last.safetensors");
    public static string BestCheckpoint(string outDir) => Path.Combine(outDir, "best.safetensors");

    /// <summary>The settings that must match for --resume to continue a run exactly (not the output or resume flags).</summary>
    private string SettingsJson() => JsonSerializer.Serialize(_o with { Resume = false, Out = "", StopAfterSteps = null, Workers = 0 });

    public TrainResult Run(string[]? commandLine = null)
    {
        var device = SeFramework.Device.Parse(_o.Device);
        DeviceCheck.Require(device);
        Cpu.CpuParallel.MaxThreads = _o.Threads;
        Directory.CreateDirectory(_o.Out);

        var train = DatasetCatalog.Open(_o.Dataset, _o.Data, train: true, _o.Strict, _log);
        var test = DatasetCatalog.Open(_o.Dataset, _o.Data, train: false, _o.Strict, _log);
        var norm = DatasetCatalog.NormalizationFor(_o.Dataset, train.Channels);
        int inputSize = DatasetCatalog.InputSize(_o.InputSize, train);
        var trainTransform = ImageTransform.Create(_o.EffectiveAugment, train, norm, inputSize);
        var testTransform = DatasetCatalog.TestTransform(_o.Dataset, test, norm, inputSize);
        using var trainLoader = new DataLoader(train, trainTransform, new DataLoaderOptions
        {
            BatchSize = _o.BatchSize, Shuffle = true, DropLast = false, Workers = _o.Workers, Seed = _o.Seed, Limit = _o.LimitTrain,
        });
        using var testLoader = new DataLoader(test, testTransform, new DataLoaderOptions
        {
            BatchSize = EvalBatchSize(_o.BatchSize), Shuffle = false, Workers = _o.Workers, Seed = _o.Seed, Limit = _o.LimitTest,
        });

        var model = ModelRegistry.Create(_o.Model, new ModelOptions
        {
            NumClasses = train.NumClasses, InChannels = train.Channels, Reduction = _o.Reduction, Seed = _o.Seed,
        });
        model.To(device);
        var groups = _o.NoWdOnBnBias
            ? Sgd.GroupsWithoutDecayOnBiasAndNorm(model, _o.Lr, _o.Momentum, _o.WeightDecay, _o.Nesterov)
            : new[] { new ParamGroup(model.Parameters(), _o.Lr, _o.Momentum, 0, _o.WeightDecay, _o.Nesterov) };
        var optimizer = new Sgd(groups);
        int stepsPerEpoch = trainLoader.BatchesPerEpoch;
        var schedule = new LrSchedule(LrSchedule.ParseKind(_o.Schedule), _o.Lr, _o.Epochs, stepsPerEpoch, _o.WarmupEpochs, _o.Milestones, _o.Gamma, _o.StepSize);

        Rng.ManualSeed(_o.Seed);
        var rows = new List<EpochMetrics>();
        int startEpoch = 0;
        long step = 0;
        double bestTop1 = double.NegativeInfinity;
        var settings = SettingsJson();
        if (_o.Resume)
        {
            var last = LastCheckpoint(_o.Out);
            if (!File.Exists(last)) throw new FileNotFoundException($"--resume: no checkpoint at {last}; start without --resume first", last);
            var state = Checkpoint.Load(last, model, optimizer);
            if (state.Settings != settings)
                throw new ArgumentException($"--resume: the settings differ from those of the run in {_o.Out}; resume with the same options (saved in {Path.Combine(_o.Out, "settings.json")})");
            startEpoch = state.CompletedEpochs;
            step = state.Step;
            bestTop1 = state.BestTop1;
            Rng.Default.SetState(state.RngState);
            rows = MetricsFiles.Read(_o.Out, startEpoch);
            _log.WriteLine($"resuming {_o.Model} from epoch {startEpoch} (step {step}) in {_o.Out}");
        }
        else
        {
            AtomicFile.WriteAllText(Path.Combine(_o.Out, "settings.json"), JsonSerializer.Serialize(new
            {
                command = commandLine == null ? null : "se " + string.Join(' ', commandLine),
                options = _o,
                threads = _o.Threads,
                dotnet = Environment.Version.ToString(),
                machine = Environment.MachineName,
            }, new JsonSerializerOptions { WriteIndented = true }));
        }

        long parameters = model.ParameterCount();
        _log.WriteLine($"training {_o.Model} ({parameters:N0} parameters) on {train.Name}: {trainLoader.SampleCount} train / {testLoader.SampleCount} test images, " +
                       $"{_o.Epochs} epochs × {stepsPerEpoch} steps of {_o.BatchSize}, {_o.Threads} threads, out {_o.Out}");
        var progress = new ProgressLine(_log);
        for (int epoch = startEpoch; epoch < _o.Epochs; epoch++)
        {
            var sw = Stopwatch.StartNew();
            double lossSum = 0;
            long correct = 0, seen = 0;
            double lr = schedule.At(step);
            model.Train();
            int batchIndex = 0;
            foreach (var batch in trainLoader.GetEpoch(epoch))
            {
                if (_o.StopAfterSteps is long stop && step >= stop) return new TrainResult(rows, bestTop1, step, _o.Out);
                lr = schedule.At(step);
                foreach (var g in optimizer.Groups) g.Lr = lr;
                double loss;
                int hits;
                using (TensorScope.Begin())
                {
                    var labels = batch.LabelSpan.ToArray();
                    var logits = model.Forward(BatchTensor.Images(batch, device));
                    var lossTensor = F.CrossEntropy(logits, labels, _o.LabelSmoothing);
                    loss = lossTensor.Item();
                    if (!double.IsFinite(loss))
                        throw new TrainingDivergedException($"loss became {loss} at epoch {epoch + 1}, step {step + 1} (batch {batchIndex + 1}); " +
                                                            $"the last good checkpoint is {LastCheckpoint(_o.Out)}. Lower --lr or add --warmup-epochs.");
                    lossTensor.Backward();
                    optimizer.Step();
                    optimizer.ZeroGrad();
                    hits = CountCorrect(logits, labels);
                }
                lossSum += loss * batch.Count;
                correct += hits;
                seen += batch.Count;
                step++;
                batchIndex++;
                progress.Update(epoch + 1, _o.Epochs, batchIndex, stepsPerEpoch, sw.Elapsed.TotalSeconds, seen / sw.Elapsed.TotalSeconds, lossSum / seen, lr);
            }
            double trainSeconds = sw.Elapsed.TotalSeconds;
            var eval = Evaluator.Evaluate(model, testLoader, train.NumClasses, device);
            // A finite training loss does not prove finite weights (batch norm hides huge activations in training mode):
            // check the state and the test loss before this epoch may overwrite the last good checkpoint.
            string? broken = FirstNonFinite(model);
            if (broken != null || (eval.Count > 0 && !double.IsFinite(eval.Loss)))
                throw new TrainingDivergedException($"the model diverged during epoch {epoch + 1} (by step {step}): " +
                                                    (broken != null ? $"{broken} is not finite" : $"test loss became {eval.Loss}") +
                                                    $"; the last good checkpoint is {LastCheckpoint(_o.Out)}. Lower --lr or add --warmup-epochs.");
            var row = new EpochMetrics(epoch + 1, lr, lossSum / Math.Max(1, seen), (double)correct / Math.Max(1, seen), eval.Loss, eval.Top1, eval.Top5,
                seen / trainSeconds, sw.Elapsed.TotalSeconds);
            rows.Add(row);
            progress.Done($"epoch {row.Epoch}/{_o.Epochs}: train loss {row.TrainLoss:F4} acc {row.TrainTop1 * 100:F2}% | test loss {row.TestLoss:F4} " +
                          $"top-1 {row.TestTop1 * 100:F2}% top-5 {row.TestTop5 * 100:F2}% | {row.ImagesPerSecond:F0} img/s, {row.Seconds:F1} s");

            bool isBest = eval.Top1 > bestTop1;
            if (isBest) bestTop1 = eval.Top1;
            var trainState = new TrainState(epoch + 1, step, bestTop1, Rng.Default.GetState(), settings);
            // Metrics first: a kill before the checkpoint leaves an extra row, which --resume drops (it reads rows up to
            // the checkpoint's epoch); the other order could lose this epoch's row for good.
            MetricsFiles.Write(_o.Out, rows);
            if (isBest) Checkpoint.Save(BestCheckpoint(_o.Out), model, optimizer, trainState);
            Checkpoint.Save(LastCheckpoint(_o.Out), model, optimizer, trainState);
            TryPlot(rows);
        }
        if (rows.Count > 0) _log.WriteLine($"final test top-1 {rows[^1].TestTop1 * 100:F2}% (best {bestTop1 * 100:F2}%), top-5 {rows[^1].TestTop5 * 100:F2}%");
        return new TrainResult(rows, bestTop1, step, _o.Out);
    }

    private void TryPlot(List<EpochMetrics> rows)
    {
        try
        {
            CurvesPlot.Save(Path.Combine(_o.Out, "curves.png"), rows, _o.Model);
        }
        catch (Exception ex) when (ex is TypeInitializationException or DllNotFoundException or IOException)
        {
            _log.WriteLine($"warning: could not draw curves.png ({ex.GetBaseException().Message}); metrics.csv has the numbers");
        }
    }

    /// <summary>The name of the first parameter or buffer holding a NaN or infinity, or null when all are finite.</summary>
    internal static string? FirstNonFinite(Module model)
    {
        foreach (var (name, t) in model.StateDict())
        {
            foreach (float v in t.ToFloatArray())
                if (!float.IsFinite(v)) return name;
        }
        return null;
    }

    /// <summary>Evaluation keeps no activations for backward, so twice the training batch fits in less memory than a
    /// training step; the cap bounds evaluation memory for the large models at 224².</summary>
    internal static int EvalBatchSize(int trainBatch) => Math.Min(trainBatch * 2, MaxEvalBatch);

    private const int MaxEvalBatch = 512;

    // logits: (N, classes) -> top-1 hits, by the same rule as the evaluator's test top-1.
    private static int CountCorrect(Tensor logits, int[] labels) => Accuracy.Top1Hits(logits.ToFloatArray(), labels);
}
