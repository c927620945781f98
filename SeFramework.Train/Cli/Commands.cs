// The `se` commands and their options (System.CommandLine); each action calls into Training/ or Models/.
using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using SeFramework.Models;
using SeFramework.Nn;
using SeFramework.Train.Data;
using SeFramework.Train.Training;

namespace SeFramework.Train.Cli;

public static class Commands
{
    public static RootCommand Build()
    {
        var root = new RootCommand("se: train, evaluate, benchmark and inspect Squeeze-and-Excitation networks (SeFramework)");
        root.Subcommands.Add(TrainCommand());
        root.Subcommands.Add(EvalCommand());
        root.Subcommands.Add(BenchCommand());
        root.Subcommands.Add(InfoCommand());
        root.Subcommands.Add(ModelsCommand());
        return root;
    }

    /// <summary>Parses and runs a command line; a parse error (unknown option, bad value, missing argument) prints
    /// one "se: error:" line and returns 2 like every other user error, instead of the help text.</summary>
    public static int Run(string[] args)
    {
        var result = Build().Parse(args);
        if (result.Errors.Count == 0) return result.Invoke();
        string command = result.CommandResult.Command is RootCommand ? "se" : "se " + result.CommandResult.Command.Name;
        Console.Error.WriteLine($"se: error: {OneLine(string.Join("; ", result.Errors.Select(e => e.Message)))} (see `{command} --help`)");
        return 2;
    }

    private static Option<T> Opt<T>(string name, string description, T defaultValue) =>
        new(name) { Description = description, DefaultValueFactory = _ => defaultValue };

    private static Option<T?> OptNull<T>(string name, string description) => new(name) { Description = description };

    /// <summary>Runs an action, turning the errors users can fix into one line and exit code 2.</summary>
    internal static int Guard(Func<int> action)
    {
        try
        {
            return action();
        }
        catch (Exception ex) when (IsUserError(ex))
        {
            Console.Error.WriteLine($"se: error: {OneLine(ex.Message)}");
            return 2;
        }
    }

    /// <summary>A multi-line message (e.g. the places a dataset was looked for) joined into one line.</summary>
    internal static string OneLine(string message) =>
        string.Join(' ', message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

    internal static bool IsUserError(Exception ex) => ex is ArgumentException or FileNotFoundException or DirectoryNotFoundException
        or InvalidDataException or FormatException or StateDictException or DatasetNotFoundException or TrainingDivergedException
        or DeviceUnavailableException or NotSupportedException or UnauthorizedAccessException or IOException;

    private static Command TrainCommand()
    {
        var d = new TrainOptions();
        var model = Opt("--model", "model name (see `se models`)", d.Model);
        var dataset = Opt("--dataset", "fashion-mnist | cifar10 | cifar100 | folder", d.Dataset);
        var data = OptNull<string>("--data", "dataset folder (default: $SE_DATA_DIR, ./data/<name>, /usr/share/datasets/<name>)");
        var epochs = Opt("--epochs", "number of epochs", d.Epochs);
        var batch = Opt("--batch-size", "images per step", d.BatchSize);
        var lr = Opt("--lr", "base learning rate", d.Lr);
        var momentum = Opt("--momentum", "SGD momentum", d.Momentum);
        var nesterov = Opt("--nesterov", "Nesterov momentum", false);
        var wd = Opt("--weight-decay", "L2 weight decay", d.WeightDecay);
        var noWdBn = Opt("--no-wd-on-bn-bias", "no weight decay on biases and batch-norm parameters", false);
        var schedule = Opt("--schedule", "step | multistep | cosine", d.Schedule);
        var milestones = new Option<int[]>("--milestones") { Description = "epochs at which multistep multiplies the lr by gamma", AllowMultipleArgumentsPerToken = true, DefaultValueFactory = _ => Array.Empty<int>() };
        var gamma = Opt("--gamma", "lr factor of step/multistep", d.Gamma);
        var stepSize = Opt("--step-size", "epochs between lr drops for --schedule step", d.StepSize);
        var warmup = Opt("--warmup-epochs", "linear warmup length in epochs", d.WarmupEpochs);
        var smoothing = Opt("--label-smoothing", "label smoothing epsilon", d.LabelSmoothing);
        var augment = OptNull<string>("--augment", "none | cifar | senet (default: cifar; senet for --dataset folder)");
        var seed = Opt("--seed", "random seed (same seed + threads → same run)", d.Seed);
        var threads = Opt("--threads", "CPU threads", d.Threads);
        var device = Opt("--device", "cpu | cuda", d.Device);
        var outDir = Opt("--out", "output folder for checkpoints, metrics and curves", d.Out);
        var resume = Opt("--resume", "continue from OUT/last.safetensors", false);
        var limitTrain = Opt<int?>("--limit-train", "use the first N training images (0 = all)", d.LimitTrain);
        var limitTest = OptNull<int?>("--limit-test", "use the first N test images");
        var workers = Opt("--workers", "background data workers", d.Workers);
        var reduction = Opt("--reduction", "SE reduction ratio r", d.Reduction);
        var input = OptNull<int?>("--input", "input size (default: the dataset's image size)");
        var strict = Opt("--strict", "stop on a corrupt image instead of skipping it", false);
        var cmd = new Command("train", "Train a model (with no options: se_resnet20 on Fashion-MNIST, a short run)")
        {
            model, dataset, data, epochs, batch, lr, momentum, nesterov, wd, noWdBn, schedule, milestones, gamma, stepSize, warmup, smoothing,
            augment, seed, threads, device, outDir, resume, limitTrain, limitTest, workers, reduction, input, strict,
        };
        cmd.SetAction(r => Guard(() =>
        {
            int? lt = r.GetValue(limitTrain);
            var options = new TrainOptions
            {
                Model = r.GetValue(model)!, Dataset = r.GetValue(dataset)!, Data = r.GetValue(data), Epochs = r.GetValue(epochs),
                BatchSize = r.GetValue(batch), Lr = r.GetValue(lr), Momentum = r.GetValue(momentum), Nesterov = r.GetValue(nesterov),
                WeightDecay = r.GetValue(wd), NoWdOnBnBias = r.GetValue(noWdBn), Schedule = r.GetValue(schedule)!,
                Milestones = r.GetValue(milestones) ?? Array.Empty<int>(), Gamma = r.GetValue(gamma), StepSize = r.GetValue(stepSize),
                WarmupEpochs = r.GetValue(warmup), LabelSmoothing = r.GetValue(smoothing), Augment = r.GetValue(augment), Seed = r.GetValue(seed),
                Threads = r.GetValue(threads), Device = r.GetValue(device)!, Out = r.GetValue(outDir)!, Resume = r.GetValue(resume),
                LimitTrain = lt is 0 ? null : lt, LimitTest = r.GetValue(limitTest), Workers = r.GetValue(workers), Reduction = r.GetValue(reduction),
                InputSize = r.GetValue(input), Strict = r.GetValue(strict),
            };
            ValidateModelName(options.Model);
            new Trainer(options, Console.Out).Run(Environment.GetCommandLineArgs().Skip(1).ToArray());
            return 0;
        }));
        return cmd;
    }

    private static void ValidateModelName(string name)
    {
        if (!ModelRegistry.Names.Contains(name))
            throw new ArgumentException($"unknown model '{name}'; known models: {string.Join(", ", ModelRegistry.Names)}");
    }

    private static Command EvalCommand()
    {
        var model = Opt("--model", "model name", "se_resnet20");
        var checkpoint = new Option<string>("--checkpoint") { Description = "checkpoint or state-dict safetensors file", Required = true };
        var dataset = Opt("--dataset", "fashion-mnist | cifar10 | cifar100 | folder", "fashion-mnist");
        var data = OptNull<string>("--data", "dataset folder");
        var json = Opt("--json", "print one JSON object", false);
        var limit = OptNull<int?>("--limit-test", "use the first N test images");
        var batch = Opt("--batch-size", "images per forward pass", 256);
        var threads = Opt("--threads", "CPU threads", Environment.ProcessorCount);
        var reduction = Opt("--reduction", "SE reduction ratio the model was trained with", 16);
        var input = OptNull<int?>("--input", "input size (default: the dataset's image size, 224 for folders)");
        var cmd = new Command("eval", "Evaluate a checkpoint: loss, top-1/top-5, per-class accuracy, confusion matrix")
        {
            model, checkpoint, dataset, data, json, limit, batch, threads, reduction, input,
        };
        cmd.SetAction(r => Guard(() =>
        {
            string name = r.GetValue(model)!;
            ValidateModelName(name);
            Cpu.CpuParallel.MaxThreads = Math.Max(1, r.GetValue(threads));
            string datasetName = r.GetValue(dataset)!;
            var test = DatasetCatalog.Open(datasetName, r.GetValue(data), train: false);
            var norm = DatasetCatalog.NormalizationFor(datasetName, test.Channels);
            var transform = DatasetCatalog.TestTransform(datasetName, test, norm, DatasetCatalog.InputSize(r.GetValue(input), test));
            using var loader = new DataLoader(test, transform, new DataLoaderOptions { BatchSize = r.GetValue(batch), Shuffle = false, Workers = 1, Limit = r.GetValue(limit) });
            var net = ModelRegistry.Create(name, new ModelOptions { NumClasses = test.NumClasses, InChannels = test.Channels, Reduction = r.GetValue(reduction) });
            Checkpoint.Load(r.GetValue(checkpoint)!, net, null);
            var result = Evaluator.Evaluate(net, loader, test.NumClasses, Device.Cpu);
            if (r.GetValue(json)) Console.WriteLine(EvalReport.Json(name, test, result));
            else Console.Write(EvalReport.Text(name, test, result));
            return 0;
        }));
        return cmd;
    }

    private static Command BenchCommand()
    {
        var model = Opt("--model", "model name", "se_resnet50");
        var batch = Opt("--batch", "batch size", 8);
        var input = Opt("--input", "input size (square)", 224);
        var inChans = Opt("--in-chans", "input channels", 3);
        var mode = Opt("--mode", "train | infer", "train");
        var steps = Opt("--steps", "timed steps", 10);
        var warmup = Opt("--warmup", "untimed warm-up steps (the first 3-4 steps of a process still run some unoptimised JIT code)", 4);
        var threads = Opt("--threads", "CPU threads", Environment.ProcessorCount);
        var device = Opt("--device", "cpu | cuda", "cpu");
        var json = Opt("--json", "print one JSON object", false);
        var cmd = new Command("bench", "Median images/s, step time and peak memory of training or inference steps")
        {
            model, batch, input, inChans, mode, steps, warmup, threads, device, json,
        };
        cmd.SetAction(r => Guard(() =>
        {
            string name = r.GetValue(model)!;
            ValidateModelName(name);
            bool asJson = r.GetValue(json);
            var result = Benchmark.Run(new BenchOptions(name, r.GetValue(batch), r.GetValue(input), r.GetValue(inChans), r.GetValue(mode)!,
                r.GetValue(steps), r.GetValue(warmup), r.GetValue(threads), r.GetValue(device)!), asJson ? null : Console.Out);
            if (asJson)
            {
                Console.WriteLine(JsonSerializer.Serialize(new
                {
                    model = result.Model, mode = result.Mode, batch = result.Batch, input = result.Input, threads = result.Threads,
                    images_per_sec = result.ImagesPerSec, step_ms_median = result.StepMsMedian, step_ms_min = result.StepMsMin,
                    peak_rss_bytes = result.PeakRssBytes, device = result.Device, peak_device_bytes = result.PeakDeviceBytes, step_ms = result.StepMs,
                }));
            }
            else
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{result.Model} {result.Mode} batch {result.Batch} {result.Input}x{result.Input}, {result.Threads} threads: {result.ImagesPerSec:F1} images/s, median step {result.StepMsMedian:F1} ms, peak RSS {result.PeakRssBytes / 1048576.0:F0} MiB"));
            }
            return 0;
        }));
        return cmd;
    }

    private static Command InfoCommand()
    {
        var model = Opt("--model", "model name", "se_resnet50");
        var input = Opt("--input", "input size (square)", 224);
        var inChans = Opt("--in-chans", "input channels", 3);
        var classes = OptNull<int?>("--num-classes", "classes (default 1000; 10 for CIFAR models)");
        var reduction = Opt("--reduction", "SE reduction ratio r", 16);
        var json = Opt("--json", "print one JSON object", false);
        var cmd = new Command("info", "Per-stage output shapes, parameters and multiply-adds of a model") { model, input, inChans, classes, reduction, json };
        cmd.SetAction(r => Guard(() =>
        {
            string name = r.GetValue(model)!;
            ValidateModelName(name);
            var summary = ModelRegistry.Summarize(name, new ModelOptions { NumClasses = r.GetValue(classes), InChannels = r.GetValue(inChans), Reduction = r.GetValue(reduction) },
                r.GetValue(input), r.GetValue(input));
            Console.WriteLine(r.GetValue(json) ? summary.ToJson() : summary.ToTable());
            return 0;
        }));
        return cmd;
    }

    private static Command ModelsCommand()
    {
        var cmd = new Command("models", "List the model zoo");
        cmd.SetAction(_ =>
        {
            foreach (var name in ModelRegistry.Names) Console.WriteLine(name);
            return 0;
        });
        return cmd;
    }
}
