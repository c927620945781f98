// KernelAssert: helpers shared by the fast-kernel tests: bit-exact float comparison and running code at a given
// CpuParallel thread count (process-wide, so callers sit in CpuThreadsCollection).
using SeFramework.Cpu;
using Xunit;

namespace SeFramework.Core.Tests.Cpu;

internal static class KernelAssert
{
    /// <summary>Fails at the first element whose bits differ (so −0 vs +0 and NaN payloads count), naming it.</summary>
    public static void AssertBitsEqual(float[] expected, float[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(actual[i]),
                $"{what}: element {i} is {actual[i]:R}, expected {expected[i]:R}");
    }

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
