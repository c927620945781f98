// BenchmarkDotNet entry point for SeFramework's kernel and model benchmarks, plus `--gemm N`: a plain timed SGEMM
// (C = A·B, N×N floats) whose JSON matches the peer's `run-peer.sh --gemm N --json`, for bench/compare.sh; and
// `--conv NAME|all [--json]`: median-of-R timings of the ConvBenchmarks shapes (ConvTimer.cs; JSON for compare.sh); `--bandwidth`: GB/s of the
// bandwidth-bound SE kernels against a copy / read reference (BandwidthTimer.cs).
if (args.Length > 0 && args[0] == "--gemm")
    return SeFramework.Bench.GemmTimer.Run(args);
if (args.Length > 0 && args[0] == "--bandwidth")
    return SeFramework.Bench.BandwidthTimer.Run(args);
if (args.Length > 0 && args[0] == "--conv")
    return SeFramework.Bench.ConvTimer.Run(args);
if (args.Length > 0 && args[0] == "--convparts")
    return SeFramework.Bench.ConvPartsTimer.Run(args);
BenchmarkDotNet.Running.BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
return 0;
