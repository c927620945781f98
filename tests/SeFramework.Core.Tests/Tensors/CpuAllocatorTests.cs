// The CPU block pool: exact-size reuse, and a request whose bucket is empty taking an idle block of at most FitRatio
// times its size, which goes back to its own bucket. Runs alone: the pool is shared by every test thread, and the
// finalizers of storages earlier tests left to the GC return blocks to it, so each test first lets them run.
using Xunit;

namespace SeFramework.Tests;

[Collection(nameof(SeFramework.Core.Tests.Cpu.CpuThreadsCollection))]
public unsafe class CpuAllocatorTests
{
    // Finalizers of undisposed storages return their blocks to the pool from the finalizer thread: run them all now,
    // then empty the pool, so the cached-byte counts below see only this test's blocks.
    private static void StartWithAnEmptyPool()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        GC.WaitForPendingFinalizers();
        CpuAllocator.EmptyCache();
    }

    [Fact]
    public void An_empty_bucket_borrows_an_idle_block_up_to_twice_its_size_and_the_block_returns_to_its_own_bucket()
    {
        StartWithAnEmptyPool();
        Assert.Equal(2, CpuAllocator.FitRatio);
        var big = CpuAllocator.Rent(1_000_000, zero: false);
        CpuAllocator.Return(big, 1_000_000);

        var tooSmall = CpuAllocator.Rent(400_000, zero: false); // 1 000 000 > 2 × 400 000: not borrowed
        Assert.True(tooSmall != big);
        var half = CpuAllocator.Rent(600_000, zero: true);
        Assert.True(half == big);
        Assert.Equal(0, CpuAllocator.CachedBytes);
        Assert.All(new Span<byte>(half, 600_000).ToArray(), b => Assert.Equal(0, b));
        CpuAllocator.Return(half, 600_000);
        Assert.Equal(1_000_000, CpuAllocator.CachedBytes); // back at its true size (a multiple of 64), not 600 000

        var again = CpuAllocator.Rent(1_000_000, zero: false); // an exact request finds it in its own bucket
        Assert.True(again == big);
        CpuAllocator.Return(again, 1_000_000);
        CpuAllocator.Return(tooSmall, 400_000);
        CpuAllocator.EmptyCache();
    }

    [Fact]
    public void Exact_sizes_only_when_FitRatio_is_one_and_for_small_blocks()
    {
        StartWithAnEmptyPool();
        double saved = CpuAllocator.FitRatio;
        try
        {
            CpuAllocator.FitRatio = 1;
            var big = CpuAllocator.Rent(1_000_000, zero: false);
            CpuAllocator.Return(big, 1_000_000);
            var other = CpuAllocator.Rent(600_000, zero: false);
            Assert.True(other != big);
            CpuAllocator.Return(other, 600_000);
            CpuAllocator.FitRatio = saved;

            var small = CpuAllocator.Rent(40_000, zero: false); // below 64 KiB: exact sizes only
            CpuAllocator.Return(small, 40_000);
            var smaller = CpuAllocator.Rent(30_000, zero: false);
            Assert.True(smaller != small);
            CpuAllocator.Return(smaller, 30_000);
        }
        finally
        {
            CpuAllocator.FitRatio = saved;
            CpuAllocator.EmptyCache();
        }
    }
}
