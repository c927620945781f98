// KernelAssert: helpers shared by the fast-kernel tests: bit-exact and tolerance float comparisons, running code at a given
// CpuParallel thread count (process-wide, so callers sit in CpuThreadsCollection), and the (offset, count) cases and
// 64-byte-aligned start of the streaming-store tests.
using SeFramework.Cpu;
using Xunit;

namespace SeFramework.Core.Tests.Cpu;

internal static class KernelAssert
{
    /// <summary>Each element within tol·(1 + |expected|) of the expected one (kernels that sum in another order).</summary>
    public static void AssertClose(float[] expected, float[] actual, double tol, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(actual[i] - expected[i]) <= tol * (1 + Math.Abs(expected[i])),
                $"{what}: element {i} is {actual[i]:G9}, expected {expected[i]:G9}");
    }

    /// <summary>Fails at the first element whose bits differ (so −0 vs +0 and NaN payloads count), naming it.</summary>
    public static void AssertBitsEqual(float[] expected, float[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(actual[i]),
                $"{what}: element {i} is {actual[i]:R}, expected {expected[i]:R}");
    }

    /// <summary>Streaming-store cases (offset floats past a 64-byte boundary, count): empty and short heads/tails, a
    /// count of whole cache lines, and large counts with and without a remainder.</summary>
    public static readonly TheoryData<int, int> StreamingCases = new()
    {
        { 0, 1 }, { 1, 7 }, { 3, 16 }, { 5, 49 }, { 15, 50 }, { 0, 3136 }, { 9, 3137 },
    };

    /// <summary>Index of the first float at or after p that sits on a 64-byte boundary, plus offset.</summary>
    public static unsafe int Aligned64Start(float* p, int offset) => (int)((64 - ((nint)p & 63)) & 63) / sizeof(float) + offset;

    /// <summary>f() with CpuParallel.MaxThreads = threads, restored afterwards.</summary>
    public static T WithThreads<T>(int threads, Func<T> f)
    {
        int saved = CpuParallel.MaxThreads;
        try
        {
            CpuParallel.MaxThreads = threads;
            return f();
        }
        finally
        {
            CpuParallel.MaxThreads = saved;
        }
    }
}
