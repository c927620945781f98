// BenchmarkDotNet entry point for SeFramework's kernel and model benchmarks.
BenchmarkDotNet.Running.BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
