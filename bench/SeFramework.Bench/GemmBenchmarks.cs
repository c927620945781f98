// GemmBenchmarks: square float GEMM (C = A·B, row-major, no transposes) at 1 and 2 threads.
// Run: dotnet run -c Release --project bench/SeFramework.Bench -- --filter '*GemmBenchmarks*'
// GFLOP/s = 2·Size³ / mean time. Compare against the FMA peak of the machine (2 FMA/cycle × 16 floats × 2 flops × clock
// on Zen 5; Zen 4 executes a 512-bit FMA as two 256-bit halves, so half of that).
using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using SeFramework.Cpu;

namespace SeFramework.Bench;

[MemoryDiagnoser]
public unsafe class GemmBenchmarks
{
    private float* _a, _b, _c;
    private int _savedThreads;

    [Params(256, 1024, 2048)]
    public int Size { get; set; }

    [Params(1, 2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        long elements = (long)Size * Size;
        _a = (float*)NativeMemory.AlignedAlloc((nuint)(elements * sizeof(float)), 64);
        _b = (float*)NativeMemory.AlignedAlloc((nuint)(elements * sizeof(float)), 64);
        _c = (float*)NativeMemory.AlignedAlloc((nuint)(elements * sizeof(float)), 64);
        var rng = new Random(42);
        for (long i = 0; i < elements; i++)
        {
            _a[i] = (float)(rng.NextDouble() * 2 - 1);
            _b[i] = (float)(rng.NextDouble() * 2 - 1);
            _c[i] = 0f;
        }
        _savedThreads = CpuParallel.MaxThreads;
        CpuParallel.MaxThreads = Threads;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        CpuParallel.MaxThreads = _savedThreads;
        NativeMemory.AlignedFree(_a);
        NativeMemory.AlignedFree(_b);
        NativeMemory.AlignedFree(_c);
    }

    // a: (Size, Size), b: (Size, Size) -> c: (Size, Size)
    [Benchmark]
    public void Sgemm() => Gemm.Sgemm(false, false, Size, Size, Size, 1f, _a, Size, _b, Size, 0f, _c, Size);

    // Same product with B transposed in memory (the Linear layer's x·Wᵀ).
    [Benchmark]
    public void SgemmTransB() => Gemm.Sgemm(false, true, Size, Size, Size, 1f, _a, Size, _b, Size, 0f, _c, Size);
}
