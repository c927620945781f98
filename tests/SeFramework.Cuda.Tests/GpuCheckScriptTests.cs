// The GPU-check scripts without a GPU: both parse, and run.sh's dry run lists every stage with a timeout inside its 450 s budget
// and still prints the summary table (which the GPU session reads) when nothing produced results.
using System.Text.RegularExpressions;

namespace SeFramework.Cuda.Tests;

public class GpuCheckScriptTests
{
    private static string Script(string name) => Path.Combine(TestEnvironment.RepoRoot, "tools", "gpu-check", name);

    private static (int Code, string Output) Bash(IDictionary<string, string> env, params string[] args)
    {
        var bash = TestEnvironment.FindTool("/bin/bash", "bash");
        if (bash is null) Assert.Skip("bash not found");
        var psi = new System.Diagnostics.ProcessStartInfo(bash, args) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var (k, v) in env) psi.Environment[k] = v;
        using var p = System.Diagnostics.Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        var output = p.StandardOutput.ReadToEnd();
        Assert.True(p.WaitForExit(60_000), "script did not finish in 60 s");
        return (p.ExitCode, output + err.Result);
    }

    [Theory]
    [InlineData("run.sh")]
    [InlineData("make-bundle.sh")]
    public void Script_parses(string name)
    {
        var (code, output) = Bash(new Dictionary<string, string>(), "-n", Script(name));
        Assert.True(code == 0, output);
    }

    [Fact]
    public void Run_sh_dry_run_covers_every_stage_within_the_budget_and_prints_the_summary()
    {
        var outDir = Directory.CreateTempSubdirectory("gpu-check-").FullName;
        try
        {
            var (code, output) = Bash(new Dictionary<string, string> { ["SE_GPU_DRY_RUN"] = "1", ["OUT"] = outDir }, Script("run.sh"));
            Assert.True(code == 0, output);
            var stages = Regex.Matches(output, @"^== (\w+) \(timeout (\d+)s", RegexOptions.Multiline);
            Assert.Equal(["tests", "bandwidth", "ours_se", "torch_se", "ours_resnet"], stages.Select(m => m.Groups[1].Value));
            Assert.All(stages, m => Assert.InRange(int.Parse(m.Groups[2].Value), 15, 450));
            Assert.Contains("dotnet " + Path.Combine(TestEnvironment.RepoRoot, "tools", "bundle", "tests", "SeFramework.Cuda.Tests.dll") + " -parallel none", output);
            Assert.Contains("--model se_resnet50", output);
            Assert.Contains("torch_peer.py --model legacy_seresnet50 --batch 64", output);
            Assert.Contains("| check | result |", output);
            Assert.Contains("| se_resnet50 train img/s: ours / PyTorch", output);
            Assert.Contains("| SE overhead: se_resnet50 / resnet50 step ms", output);
        }
        finally { Directory.Delete(outDir, true); }
    }
}
