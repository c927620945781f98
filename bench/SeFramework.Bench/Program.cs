// BenchmarkDotNet entry point for SeFramework's kernel and model benchmarks, plus `--gemm N`: a plain timed SGEMM
// (C = A·B, N×N floats) whose JSON matches the peer's `run-peer.sh --gemm N --json`, for bench/compare.sh.
if (args.Length > 0 && args[0] == "--gemm")
    return SeFramework.Bench.GemmTimer.Run(args);
BenchmarkDotNet.Running.BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
return 0;
