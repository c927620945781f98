// The `se` command line end to end, in process: output of models/info/eval/bench, --help of every command, one-line
// "se: error:" reports with exit code 2 for the mistakes a user can fix, and training on a generated image folder.
using System.Text.Json;
using SeFramework.Train.Cli;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using Xunit;

namespace SeFramework.Train.Tests.Training;

[Collection(SerialCollection.Name)]
public class CliTests
{
    /// <summary>Runs `se args` as Program.cs would via Commands.Build().Parse(args).Invoke(), capturing stdout and stderr.</summary>
    internal static (int Code, string Out, string Err) Se(params string[] args) => Capture(() => Commands.Build().Parse(args).Invoke());

    /// <summary>Runs `se args` through Commands.Run, the entry point Program.cs uses (it also reports parse errors).</summary>
    internal static (int Code, string Out, string Err) SeMain(params string[] args) => Capture(() => Commands.Run(args));

    private static (int Code, string Out, string Err) Capture(Func<int> run)
    {
        var (oldOut, oldErr) = (Console.Out, Console.Error);
        var (o, e) = (new StringWriter(), new StringWriter());
        Console.SetOut(o);
        Console.SetError(e);
        try
        {
            int code = run();
            return (code, o.ToString(), e.ToString());
        }
        finally
        {
            Console.SetOut(oldOut);
            Console.SetError(oldErr);
        }
    }

    private static void AssertOneLineError((int Code, string Out, string Err) r, string? mentions = null)
    {
        Assert.True(r.Code == 2, $"exit code {r.Code}, stderr: {r.Err}, stdout: {r.Out}");
        var lines = r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, $"one stderr line expected, got:\n{r.Err}");
        Assert.StartsWith("se: error:", lines[0]);
        Assert.DoesNotContain("   at ", r.Err);
        Assert.DoesNotContain("Exception", r.Err);
        if (mentions != null) Assert.Contains(mentions, lines[0]);
    }

    [Fact]
    public void Models_lists_the_zoo()
    {
        var r = Se("models");
        Assert.Equal(0, r.Code);
        var names = r.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Contains("se_resnet50", names);
        Assert.Contains("se_resnet20", names);
    }

    [Fact]
    public void Info_json_is_one_object_with_the_se_resnet50_parameter_count()
    {
        var r = Se("info", "--model", "se_resnet50", "--json");
        Assert.Equal(0, r.Code);
        Assert.Single(r.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        using var doc = JsonDocument.Parse(r.Out);
        Assert.Equal(JsonValueKind.Object, doc.RootElement.ValueKind);
        Assert.Equal(28088024, doc.RootElement.GetProperty("params").GetInt64());
        // SENet paper, table 2: SE-ResNet-50 costs 3.87 GFLOPs (multiply-adds) at 224x224.
        Assert.InRange(doc.RootElement.GetProperty("macs").GetInt64(), 3_800_000_000L, 3_950_000_000L);
        var table = Se("info", "--model", "se_resnet50");
        Assert.Equal(0, table.Code);
        Assert.Contains("28,088,024", table.Out);
    }

    [Theory]
    [InlineData("train")]
    [InlineData("eval")]
    [InlineData("bench")]
    [InlineData("info")]
    [InlineData("models")]
    public void Help_of_every_command_prints_usage(string command)
    {
        var r = Se(command, "--help");
        Assert.Equal(0, r.Code);
        // The usage line starts with the executable's name: "se" for the CLI, the test host's name here.
        Assert.Contains($" {command} [options]", r.Out);
        Assert.Equal("", r.Err);
        if (command == "train") Assert.Contains("--limit-train", r.Out);
    }

    [Fact]
    public void Help_of_the_root_lists_the_commands()
    {
        var r = Se("--help");
        Assert.Equal(0, r.Code);
        foreach (string c in new[] { "train", "eval", "bench", "info", "models" }) Assert.Contains(c, r.Out);
    }

    [Fact]
    public void User_errors_exit_2_with_one_line()
    {
        using var tmp = new TempFolder();
        string data = TrainFixtures.WriteSyntheticFashionMnist(tmp.Sub("data"));
        Directory.CreateDirectory(tmp.Sub("empty"));
        string[] tiny = ["--data", data, "--epochs", "1", "--threads", "1", "--workers", "0", "--limit-train", "0"];

        AssertOneLineError(Se(["train", "--model", "se_resnet_nope", .. tiny]), "se_resnet_nope");
        AssertOneLineError(Se(["train", .. tiny, "--device", "tpu"]), "tpu");
        AssertOneLineError(Se("train", "--data", tmp.Sub("empty"), "--out", tmp.Sub("o1")), tmp.Sub("empty"));
        AssertOneLineError(Se(["train", .. tiny, "--batch-size", "1000000", "--out", tmp.Sub("o2")]), "--batch-size");
        AssertOneLineError(Se(["train", .. tiny, "--batch-size", "0", "--out", tmp.Sub("o2")]), "--batch-size");
        AssertOneLineError(Se(["train", .. tiny, "--resume", "--out", tmp.Sub("o3")]), "--resume");
        AssertOneLineError(Se(["train", .. tiny, "--device", "cuda", "--out", tmp.Sub("o4")]), "cuda");
        AssertOneLineError(Se(["train", .. tiny, "--schedule", "linear", "--out", tmp.Sub("o5")]), "linear");
        AssertOneLineError(Se("eval", "--checkpoint", tmp.Sub("missing.safetensors"), "--data", data), "missing.safetensors");
        AssertOneLineError(Se("eval", "--model", "nope", "--checkpoint", tmp.Sub("missing.safetensors"), "--data", data), "nope");
        AssertOneLineError(Se("info", "--model", "nope"), "nope");
        AssertOneLineError(Se("bench", "--model", "se_resnet20", "--device", "cuda", "--steps", "1"), "cuda");
        AssertOneLineError(Se("bench", "--model", "se_resnet20", "--batch", "0"), "batch");
        Assert.False(Directory.Exists(tmp.Sub("o3")) && Directory.GetFiles(tmp.Sub("o3")).Length > 0, "a failed --resume writes nothing");
    }

    [Fact]
    public void Parse_errors_exit_2_with_one_line_through_the_entry_point()
    {
        AssertOneLineError(SeMain("train", "--epochs", "abc"), "--epochs");
        AssertOneLineError(SeMain("train", "--no-such-option"), "--no-such-option");
        AssertOneLineError(SeMain("eval"), "--checkpoint");
        AssertOneLineError(SeMain("frobnicate"), "frobnicate");
        Assert.Equal(0, SeMain("models").Code);
    }

    [Fact]
    public void Eval_of_the_trained_checkpoint_repeats_the_trainers_last_evaluation()
    {
        using var tmp = new TempFolder();
        string data = TrainFixtures.WriteSyntheticFashionMnist(tmp.Sub("data"), trainCount: 64, testCount: 40);
        var run = SeMain("train", "--data", data, "--epochs", "2", "--batch-size", "16", "--lr", "0.1", "--threads", "1", "--workers", "0",
            "--reduction", "4", "--limit-train", "0", "--out", tmp.Sub("out"));
        Assert.True(run.Code == 0, run.Err);
        Assert.Contains("final test top-1", run.Out);
        var metrics = File.ReadAllLines(tmp.Sub("out/metrics.csv"));
        var last = metrics[^1].Split(',');
        double trainerTop1 = double.Parse(last[5], System.Globalization.CultureInfo.InvariantCulture);
        double trainerLoss = double.Parse(last[4], System.Globalization.CultureInfo.InvariantCulture);

        var r = Se("eval", "--checkpoint", tmp.Sub("out/last.safetensors"), "--data", data, "--reduction", "4", "--threads", "1", "--json");
        Assert.True(r.Code == 0, r.Err);
        using var doc = JsonDocument.Parse(r.Out);
        var root = doc.RootElement;
        Assert.Equal(40, root.GetProperty("count").GetInt32());
        Assert.Equal(trainerTop1, root.GetProperty("top1").GetDouble());
        Assert.InRange(root.GetProperty("top5").GetDouble(), trainerTop1, 1.0);
        // 1e-4: the trainer evaluates in batches of 32, eval in batches of 256, so the loss is summed in another order.
        Assert.Equal(trainerLoss, root.GetProperty("loss").GetDouble(), 1e-4);
        Assert.Equal(10, root.GetProperty("per_class").GetArrayLength());

        var text = Se("eval", "--checkpoint", tmp.Sub("out/last.safetensors"), "--data", data, "--reduction", "4", "--threads", "1");
        Assert.Equal(0, text.Code);
        Assert.Contains("confusion matrix", text.Out);
        Assert.Contains($"top-1 {trainerTop1 * 100:F2}%", text.Out);
    }

    [Fact]
    public void Bench_json_reports_speed_and_memory()
    {
        var r = Se("bench", "--steps", "1", "--warmup", "0", "--model", "se_resnet20", "--batch", "2", "--input", "16", "--threads", "1", "--json");
        Assert.True(r.Code == 0, r.Err);
        Assert.Single(r.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        using var doc = JsonDocument.Parse(r.Out);
        Assert.True(doc.RootElement.GetProperty("images_per_sec").GetDouble() > 0);
        Assert.True(doc.RootElement.GetProperty("step_ms_median").GetDouble() > 0);
        Assert.True(doc.RootElement.GetProperty("peak_rss_bytes").GetInt64() > 1 << 20);
        Assert.Equal(1, doc.RootElement.GetProperty("step_ms").GetArrayLength());
    }

    [Fact]
    public void Train_on_a_generated_image_folder()
    {
        using var tmp = new TempFolder();
        string root = tmp.Sub("images");
        // Two classes, red and blue with a pattern, 12 train and 4 val images each, of varying sizes.
        for (int c = 0; c < 2; c++)
            foreach (var (split, n) in new[] { ("train", 12), ("val", 4) })
            {
                string dir = Path.Combine(root, split, c == 0 ? "red" : "blue");
                Directory.CreateDirectory(dir);
                for (int i = 0; i < n; i++)
                {
                    using var img = new Image<Rgb24>(20 + i, 18 + 2 * i);
                    img.ProcessPixelRows(a =>
                    {
                        // A strong colour plus a pattern in x and y, so resize and centre crop give different pixels.
                        for (int y = 0; y < a.Height; y++)
                        {
                            var row = a.GetRowSpan(y);
                            for (int x = 0; x < row.Length; x++)
                            {
                                byte pattern = (byte)((x * 37 + y * 23 + i * 5) % 256);
                                row[x] = c == 0 ? new Rgb24(220, pattern, 40) : new Rgb24(40, pattern, 220);
                            }
                        }
                    });
                    img.SaveAsPng(Path.Combine(dir, $"{i}.png"));
                }
            }
        var r = SeMain("train", "--dataset", "folder", "--data", root, "--input", "16", "--epochs", "1", "--batch-size", "8",
            "--threads", "1", "--workers", "0", "--limit-train", "0", "--out", tmp.Sub("out"));
        Assert.True(r.Code == 0, r.Err + r.Out);
        Assert.Contains("24 train / 8 test images", r.Out);
        Assert.Equal(2, File.ReadAllLines(tmp.Sub("out/metrics.csv")).Length);

        var eval = Se("eval", "--dataset", "Folder", "--data", root, "--input", "16", "--checkpoint", tmp.Sub("out/last.safetensors"), "--threads", "1", "--json");
        Assert.True(eval.Code == 0, eval.Err);
        using var doc = JsonDocument.Parse(eval.Out);
        Assert.Equal(8, doc.RootElement.GetProperty("count").GetInt32());
        // The same eval pipeline (resize + centre crop) as the trainer's, whatever the case of the dataset name.
        double trainerLoss = double.Parse(File.ReadAllLines(tmp.Sub("out/metrics.csv"))[1].Split(',')[4], System.Globalization.CultureInfo.InvariantCulture);
        // 1e-4: the trainer evaluates in batches of 16, eval in batches of 256, so the loss is summed in another order.
        Assert.Equal(trainerLoss, doc.RootElement.GetProperty("loss").GetDouble(), 1e-4);
    }
}
