// The training loop on a tiny synthetic set: bit-identical reruns, kill-and-resume equality, divergence detection with
// a readable last checkpoint, the files a run leaves, and the progress lines written when the output is not a terminal.
using System.Text.RegularExpressions;
using SeFramework.Models;
using SeFramework.Train.Training;
using Xunit;

namespace SeFramework.Train.Tests.Training;

[Collection(SerialCollection.Name)]
public class TrainerTests
{
    [Fact]
    public void Same_seed_and_threads_give_bit_identical_metrics_and_weights()
    {
        using var tmp = new TempFolder();
        string data = TrainFixtures.WriteSyntheticFashionMnist(tmp.Sub("data"));
        // Workers only move decoding to another thread; they must not change a single bit.
        var a = TrainFixtures.Train(TrainFixtures.Tiny(data, tmp.Sub("a")) with { Workers = 0 });
        var b = TrainFixtures.Train(TrainFixtures.Tiny(data, tmp.Sub("b")) with { Workers = 1 });
        Assert.Equal(3, a.Epochs.Count);
        Assert.Equal(12, a.Steps);
        TrainFixtures.AssertSameFile(tmp.Sub("a/metrics.csv"), tmp.Sub("b/metrics.csv"));
        TrainFixtures.AssertSameFile(tmp.Sub("a/last.safetensors"), tmp.Sub("b/last.safetensors"));
        TrainFixtures.AssertSameFile(tmp.Sub("a/best.safetensors"), tmp.Sub("b/best.safetensors"));

        // A different seed must change the run, or the comparison above proves nothing.
        TrainFixtures.Train(TrainFixtures.Tiny(data, tmp.Sub("c")) with { Seed = 8 });
        Assert.NotEqual(File.ReadAllText(tmp.Sub("a/metrics.csv")), File.ReadAllText(tmp.Sub("c/metrics.csv")));
    }

    [Fact]
    public void Metrics_csv_holds_the_deterministic_columns_and_timing_csv_the_clock()
    {
        using var tmp = new TempFolder();
        string data = TrainFixtures.WriteSyntheticFashionMnist(tmp.Sub("data"));
        var r = TrainFixtures.Train(TrainFixtures.Tiny(data, tmp.Sub("out"), epochs: 2));
        var metrics = File.ReadAllLines(tmp.Sub("out/metrics.csv"));
        Assert.Equal(MetricsFiles.MetricsHeader, metrics[0]);
        Assert.Equal(3, metrics.Length);
        Assert.StartsWith("2,", metrics[2]);
        var timing = File.ReadAllLines(tmp.Sub("out/timing.csv"));
        Assert.Equal(MetricsFiles.TimingHeader, timing[0]);
        Assert.Equal(3, timing.Length);
        foreach (string f in new[] { "settings.json", "last.safetensors", "best.safetensors", "curves.png" })
            Assert.True(File.Exists(tmp.Sub("out/" + f)), $"a run leaves {f}");
        Assert.Empty(Directory.GetFiles(tmp.Sub("out"), "*tmp*"));
        // The rows read back are the rows written (what --resume relies on).
        var back = MetricsFiles.Read(tmp.Sub("out"), 2);
        Assert.Equal(r.Epochs.Select(e => (e.Epoch, e.Lr, e.TrainLoss, e.TrainTop1, e.TestLoss, e.TestTop1, e.TestTop5)),
            back.Select(e => (e.Epoch, e.Lr, e.TrainLoss, e.TrainTop1, e.TestLoss, e.TestTop1, e.TestTop5)));
    }

    [Fact]
    public void A_run_stopped_mid_epoch_then_resumed_ends_exactly_like_an_uninterrupted_run()
    {
        using var tmp = new TempFolder();
        string data = TrainFixtures.WriteSyntheticFashionMnist(tmp.Sub("data"));
        TrainFixtures.Train(TrainFixtures.Tiny(data, tmp.Sub("full")));

        // 4 steps per epoch: stopping after 6 steps is the middle of epoch 2 of 3; the checkpoint holds epoch 1.
        var stopped = TrainFixtures.Train(TrainFixtures.Tiny(data, tmp.Sub("cut")) with { StopAfterSteps = 6 });
        Assert.Equal(6, stopped.Steps);
        var state = Checkpoint.Load(Trainer.LastCheckpoint(tmp.Sub("cut")), NewTinyModel(), null);
        Assert.Equal(1, state.CompletedEpochs);
        Assert.Equal(4, state.Step);

        // As if killed between writing metrics.csv and the checkpoint of epoch 2: resume must drop the extra row.
        File.AppendAllText(tmp.Sub("cut/metrics.csv"), "2,0.1,9,0,9,0,0\n");

        var log = new StringWriter();
        var resumed = TrainFixtures.Train(TrainFixtures.Tiny(data, tmp.Sub("cut")) with { Resume = true, Workers = 1 }, log);
        Assert.Contains("resuming se_resnet20 from epoch 1 (step 4)", log.ToString());
        Assert.Equal(12, resumed.Steps);
        Assert.Equal(3, resumed.Epochs.Count);
        TrainFixtures.AssertSameFile(tmp.Sub("full/metrics.csv"), tmp.Sub("cut/metrics.csv"));
        TrainFixtures.AssertSameFile(tmp.Sub("full/last.safetensors"), tmp.Sub("cut/last.safetensors"));
        TrainFixtures.AssertSameFile(tmp.Sub("full/best.safetensors"), tmp.Sub("cut/best.safetensors"));
    }

    [Fact]
    public void Resume_refuses_other_settings_and_a_missing_checkpoint()
    {
        using var tmp = new TempFolder();
        string data = TrainFixtures.WriteSyntheticFashionMnist(tmp.Sub("data"));
        var missing = Assert.Throws<FileNotFoundException>(() => TrainFixtures.Train(TrainFixtures.Tiny(data, tmp.Sub("none")) with { Resume = true }));
        Assert.Contains("--resume", missing.Message);

        TrainFixtures.Train(TrainFixtures.Tiny(data, tmp.Sub("run"), epochs: 2) with { StopAfterSteps = 4 });
        var e = Assert.Throws<ArgumentException>(() => TrainFixtures.Train(TrainFixtures.Tiny(data, tmp.Sub("run"), epochs: 2) with { Resume = true, Lr = 0.01 }));
        Assert.Contains("settings differ", e.Message);
    }

    [Fact]
    public void A_diverging_run_stops_naming_the_step_and_keeps_the_last_good_checkpoint()
    {
        using var tmp = new TempFolder();
        string data = TrainFixtures.WriteSyntheticFashionMnist(tmp.Sub("data"));
        // Step schedule with gamma 1e8 every epoch: epoch 1 trains at lr 0.01, epoch 2 at 1e6, which must blow up.
        var o = TrainFixtures.Tiny(data, tmp.Sub("out"), epochs: 4) with { Lr = 0.01, Schedule = "step", StepSize = 1, Gamma = 1e8 };
        var e = Assert.Throws<TrainingDivergedException>(() => TrainFixtures.Train(o));
        var m = Regex.Match(e.Message, @"step (\d+)");
        Assert.True(m.Success, $"the message names the step: {e.Message}");
        long failedStep = long.Parse(m.Groups[1].Value);
        Assert.InRange(failedStep, 5, 16);
        Assert.Contains(Trainer.LastCheckpoint(tmp.Sub("out")), e.Message);

        var model = NewTinyModel();
        var state = Checkpoint.Load(Trainer.LastCheckpoint(tmp.Sub("out")), model, null);
        Assert.InRange(state.CompletedEpochs, 1, 3);
        Assert.True(state.Step < failedStep, $"the checkpoint (step {state.Step}) predates the failure (step {failedStep})");
        foreach (var (name, t) in model.StateDict())
            Assert.True(t.ToFloatArray().All(float.IsFinite), $"{name} in the last good checkpoint is finite");
        Assert.Equal(state.CompletedEpochs, File.ReadAllLines(tmp.Sub("out/metrics.csv")).Length - 1);
    }

    [Fact]
    public void Redirected_progress_is_plain_lines_about_every_tenth_of_an_epoch()
    {
        using var tmp = new TempFolder();
        string data = TrainFixtures.WriteSyntheticFashionMnist(tmp.Sub("data"), trainCount: 160);
        var log = new StringWriter();
        // 160 / 16 = 10 steps per epoch: one progress line per step but the last, which the epoch summary replaces.
        TrainFixtures.Train(TrainFixtures.Tiny(data, tmp.Sub("out"), epochs: 1), log);
        string text = log.ToString();
        Assert.DoesNotContain('\r', text);
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith("training se_resnet20", lines[0]);
        Assert.Equal(9, lines.Count(l => l.StartsWith("epoch 1/1 [", StringComparison.Ordinal)));
        Assert.Contains(lines, l => l.StartsWith("epoch 1/1: train loss", StringComparison.Ordinal));
        Assert.StartsWith("final test top-1", lines[^1]);
    }

    [Fact]
    public void Progress_prints_at_most_eleven_lines_for_a_long_epoch()
    {
        var log = new StringWriter();
        var p = new ProgressLine(log);
        for (int b = 1; b <= 1000; b++) p.Update(1, 1, b, 1000, b * 0.01, 100, 1.0, 0.1);
        p.Done("done");
        var lines = log.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.InRange(lines.Length, 10, 11);
        Assert.DoesNotContain('\r', log.ToString());
    }

    [Fact]
    public void Training_learns_the_synthetic_patches()
    {
        using var tmp = new TempFolder();
        string data = TrainFixtures.WriteSyntheticFashionMnist(tmp.Sub("data"), trainCount: 320, testCount: 100);
        var r = TrainFixtures.Train(TrainFixtures.Tiny(data, tmp.Sub("out"), epochs: 3) with { Lr = 0.1, Augment = "none" });
        Assert.True(r.Epochs[^1].TrainLoss < r.Epochs[0].TrainLoss, "train loss falls");
        Assert.True(r.Epochs[^1].TestTop1 >= 0.9, $"test top-1 {r.Epochs[^1].TestTop1} on a trivially separable set");
    }

    internal static SeFramework.Nn.Module NewTinyModel(ulong seed = 123) =>
        ModelRegistry.Create("se_resnet20", new ModelOptions { NumClasses = 10, InChannels = 1, Reduction = 4, Seed = seed });
}
