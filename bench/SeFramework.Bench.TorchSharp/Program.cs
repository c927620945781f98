// Peer benchmark entry point: times TorchSharp training steps / inference passes of the models in Models.cs, or
// torch.mm (--gemm N), or torch conv2d per convolution shape (--conv, ConvPeer.cs), and prints a summary or one JSON
// object. Run through bench/run-peer.sh for fair numbers.
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using SeFramework.Bench.Shared;
using SeFramework.Bench.TorchSharp;
using SeFramework.TorchSharpSupport;
using TorchSharp;

if (LibTorchShim.Preload() is { } shimError)
{
    Console.Error.WriteLine($"error: {shimError}");
    return 1;
}
try
{
    var options = BenchOptions.Parse(args);
    if (options.Conv != null)
    {
        var conv = ConvPeer.Run(options.Conv, options.Threads, options.Reps, options.WarmupMs, options.Subsample);
        if (options.Json)
            Console.WriteLine(JsonSerializer.Serialize(conv));
        else
            foreach (var c in (List<Dictionary<string, object>>)conv["convs"])
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{c["name"],-30} out ({string.Join(",", (long[])c["out"])})  fwd {(double)c["fwd_ms"],8:F2} ms {(double)c["fwd_gflops"],6:F1} GF/s   fwd+bwd {(double)c["fwdbwd_ms"],8:F2} ms {(double)c["fwdbwd_gflops"],6:F1} GF/s  {c["note"]}"));
        return 0;
    }
    var result = options.GemmSize > 0 ? PeerBench.RunGemm(options) : PeerBench.RunModel(options);
    Console.WriteLine(options.Json
        ? JsonSerializer.Serialize(result, new JsonSerializerOptions { WriteIndented = false })
        : string.Join(Environment.NewLine, result.Select(kv => $"{kv.Key,-16} {Format(kv.Value)}")));
    return 0;
}
catch (ArgumentException ex)
{
    Console.Error.WriteLine($"error: {ex.Message}");
    Console.Error.WriteLine(BenchOptions.Usage);
    return 2;
}

static string Format(object value) => value switch
{
    double d => d.ToString("G6", CultureInfo.InvariantCulture),
    _ => Convert.ToString(value, CultureInfo.InvariantCulture) ?? "",
};

/// <summary>Command-line options; see <see cref="Usage"/>.</summary>
sealed record BenchOptions(string Model, int Batch, int Input, string Mode, int Steps, int Warmup, int Threads,
                           bool Json, int GemmSize, SubsampleMode Subsample, string? Conv, int Reps, int WarmupMs)
{
    public const string Usage =
        "usage: SeFramework.Bench.TorchSharp --model se_resnet20|se_resnet50|resnet50 --batch B --input S --mode train|infer\n" +
        "         --steps N --warmup W --threads T [--json] [--subsample-1x1 auto|all|none]\n" +
        "       SeFramework.Bench.TorchSharp --gemm N [--steps N --warmup W --threads T --json]\n" +
        "       SeFramework.Bench.TorchSharp --conv all|NAME[,NAME...] [--threads T --reps R --warmup-ms W --json --subsample-1x1 auto|all|none]";

    public static BenchOptions Parse(string[] args)
    {
        var o = new BenchOptions("se_resnet20", 128, 32, "train", 10, 2, Environment.ProcessorCount, false, 0, SubsampleMode.Auto, null, 5, 200);
        for (int i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            int Int(int min) => int.TryParse(Next(), NumberStyles.None, CultureInfo.InvariantCulture, out int v) && v >= min
                ? v : throw new ArgumentException($"{args[i - 1]} needs an integer >= {min}, got '{args[i]}'");
            o = args[i] switch
            {
                "--model" => o with { Model = Next() },
                "--batch" => o with { Batch = Int(1) },
                "--input" => o with { Input = Int(1) },
                "--mode" => o with { Mode = Next() },
                "--steps" => o with { Steps = Int(1) },
                "--warmup" => o with { Warmup = Int(0) },
                "--threads" => o with { Threads = Int(1) },
                "--gemm" => o with { GemmSize = Int(1) },
                "--json" => o with { Json = true },
                "--conv" => o with { Conv = Next() },
                "--reps" => o with { Reps = Int(1) },
                "--warmup-ms" => o with { WarmupMs = Int(0) },
                "--subsample-1x1" => o with { Subsample = Enum.TryParse<SubsampleMode>(Next(), ignoreCase: true, out var m)
                    ? m : throw new ArgumentException($"--subsample-1x1 must be auto, all or none, got '{args[i]}'") },
                "-h" or "--help" => throw new ArgumentException("help requested"),
                _ => throw new ArgumentException($"unknown option '{args[i]}'"),
            };
        }
        if (!PeerModels.Names.Contains(o.Model))
            throw new ArgumentException($"--model must be one of {string.Join(", ", PeerModels.Names)}, got '{o.Model}'");
        if (o.Mode is not ("train" or "infer"))
            throw new ArgumentException($"--mode must be train or infer, got '{o.Mode}'");
        return o;
    }
}

/// <summary>The timed loops. Every step runs in its own dispose scope, so no tensor outlives its step.</summary>
static class PeerBench
{
    public static Dictionary<string, object> RunModel(BenchOptions o)
    {
        Configure(o.Threads);
        var model = PeerModels.Create(o.Model, o.Subsample);
        var x = torch.randn(o.Batch, 3, o.Input, o.Input);                               // (B, 3, S, S)
        var y = torch.randint(0, PeerModels.Classes(o.Model), [o.Batch], dtype: torch.int64); // (B,)
        bool train = o.Mode == "train";
        var sgd = torch.optim.SGD(model.parameters(), 0.01, momentum: 0.9, weight_decay: 1e-4);
        if (train) model.train(); else model.eval();

        double lastLoss = double.NaN;
        var stepMs = Time(o.Warmup, o.Steps, () =>
        {
            using var scope = torch.NewDisposeScope();
            if (train)
            {
                sgd.zero_grad();
                var loss = torch.nn.functional.cross_entropy(model.forward(x), y);
                loss.backward();
                sgd.step();
                lastLoss = loss.item<float>();
            }
            else
            {
                using var noGrad = torch.no_grad();
                lastLoss = model.forward(x).sum().item<float>(); // forces the whole forward to run
            }
        });

        double median = Timing.Median(stepMs);
        return new Dictionary<string, object>
        {
            ["peer"] = $"TorchSharp {typeof(torch).Assembly.GetName().Version} / libtorch {torch.__version__}",
            ["model"] = o.Model, ["mode"] = o.Mode, ["batch"] = o.Batch, ["input"] = o.Input,
            ["threads"] = torch.get_num_threads(), ["steps"] = o.Steps, ["warmup"] = o.Warmup,
            ["subsample_1x1"] = o.Subsample.ToString().ToLowerInvariant(),
            ["parameters"] = model.parameters().Sum(p => p.numel()),
            ["images_per_sec"] = o.Batch / (median / 1000.0),
            ["step_ms_median"] = median,
            ["step_ms_min"] = stepMs.Min(),
            ["step_ms_max"] = stepMs.Max(),
            [train ? "last_loss" : "last_output_sum"] = lastLoss,
            ["peak_rss_bytes"] = PeakRssBytes(),
        };
    }

    public static Dictionary<string, object> RunGemm(BenchOptions o)
    {
        Configure(o.Threads);
        long n = o.GemmSize;
        var a = torch.randn(n, n);  // (N, N)
        var b = torch.randn(n, n);  // (N, N)
        var c = torch.zeros(n, n);  // (N, N)
        // c = 0*c + a @ b in place: the same MKL SGEMM as torch.mm, without allocating an output per step.
        var stepMs = Time(o.Warmup, o.Steps, () => { _ = c.addmm_(a, b, beta: 0, alpha: 1); });
        double median = Timing.Median(stepMs);
        return new Dictionary<string, object>
        {
            ["peer"] = $"TorchSharp {typeof(torch).Assembly.GetName().Version} / libtorch {torch.__version__}",
            ["gemm_n"] = n, ["threads"] = torch.get_num_threads(), ["steps"] = o.Steps,
            ["gflops"] = 2.0 * n * n * n / (median / 1000.0) / 1e9,
            ["step_ms_median"] = median,
            ["peak_rss_bytes"] = PeakRssBytes(),
        };
    }

    static void Configure(int threads)
    {
        torch.set_num_threads(threads);
        torch.random.manual_seed(0);
    }

    static List<double> Time(int warmup, int steps, Action step)
    {
        for (int i = 0; i < warmup; i++) step();
        var ms = new List<double>(steps);
        for (int i = 0; i < steps; i++)
        {
            long start = Stopwatch.GetTimestamp();
            step();
            ms.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
        }
        return ms;
    }

    /// <summary>VmHWM (peak resident set) from /proc/self/status, in bytes; -1 where /proc is unavailable.</summary>
    static long PeakRssBytes()
    {
        const string path = "/proc/self/status";
        if (!File.Exists(path)) return -1;
        foreach (string line in File.ReadLines(path))
            if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                return long.Parse(line["VmHWM:".Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
        return -1;
    }
}
