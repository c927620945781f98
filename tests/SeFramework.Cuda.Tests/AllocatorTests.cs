// The caching allocator's bookkeeping on a fake memory source (no GPU needed): reuse, statistics, rounding, and the
// out-of-memory path (release the cache, retry once, then throw with allocated / cached / free bytes).
using SeFramework.Cuda.Native;
using SeFramework.Cuda.Runtime;

namespace SeFramework.Cuda.Tests;

public class AllocatorTests
{
    private sealed class FakeSource(ulong capacity) : IDeviceMemorySource
    {
        private ulong _next = 0x10000, _used;
        public readonly Dictionary<ulong, ulong> Live = new();
        public int Allocs, Frees, Syncs;
        public int FailWith = 0;

        public int Allocate(ulong bytes, out ulong pointer)
        {
            pointer = 0;
            if (FailWith != 0) return FailWith;
            if (_used + bytes > capacity) return CuResult.OutOfMemory;
            pointer = _next;
            _next += (bytes + 255) / 256 * 256;
            _used += bytes;
            Live.Add(pointer, bytes);
            Allocs++;
            return 0;
        }

        public void Free(ulong pointer)
        {
            _used -= Live[pointer];
            Live.Remove(pointer);
            Frees++;
        }

        public (ulong Free, ulong Total) MemoryInfo() => (capacity - _used, capacity);
        public void Synchronize() => Syncs++;
    }

    [Fact]
    public void Freed_blocks_are_reused_for_same_bucket_requests()
    {
        var src = new FakeSource(1 << 30);
        var a = new CudaCachingAllocator(src);
        ulong p = a.Allocate(1000);
        a.Free(p);
        ulong q = a.Allocate(1020); // same 1024-byte bucket
        Assert.Equal(p, q);
        Assert.Equal(1, src.Allocs);
        var s = a.Stats;
        Assert.Equal(1024UL, s.AllocatedBytes);
        Assert.Equal(0UL, s.CachedBytes);
        Assert.Equal(1, s.CacheHits);
        Assert.Equal(1, s.DriverAllocations);
    }

    [Fact]
    public void Stats_track_allocated_cached_and_peak()
    {
        var a = new CudaCachingAllocator(new FakeSource(1 << 30));
        ulong p1 = a.Allocate(4096), p2 = a.Allocate(8192);
        a.Free(p1);
        var s = a.Stats;
        Assert.Equal(8192UL, s.AllocatedBytes);
        Assert.Equal(4096UL, s.CachedBytes);
        Assert.Equal(12288UL, s.PeakAllocatedBytes);
        Assert.Equal(12288UL, s.ReservedBytes);
        Assert.Equal(1, s.LiveBlocks);
        a.ResetPeak();
        Assert.Equal(8192UL, a.Stats.PeakAllocatedBytes);
        a.Free(p2);
    }

    [Fact]
    public void EmptyCache_synchronizes_then_returns_every_cached_block()
    {
        var src = new FakeSource(1 << 30);
        var a = new CudaCachingAllocator(src);
        var ps = Enumerable.Range(1, 5).Select(i => a.Allocate((ulong)i * 3000)).ToList();
        ulong keep = a.Allocate(777);
        ps.ForEach(a.Free);
        a.EmptyCache();
        Assert.Equal(1, src.Syncs);
        Assert.Equal(5, src.Frees);
        Assert.Single(src.Live);
        Assert.Equal(0UL, a.Stats.CachedBytes);
        Assert.Equal(CudaCachingAllocator.RoundSize(777), a.Stats.AllocatedBytes);
        a.Free(keep);
    }

    [Fact]
    public void Out_of_memory_releases_the_cache_and_retries_once()
    {
        var src = new FakeSource(10UL << 20);
        var a = new CudaCachingAllocator(src);
        ulong big = a.Allocate(6UL << 20);
        a.Free(big);                        // 6 MiB cached
        ulong other = a.Allocate(8UL << 20); // needs the cache released first
        Assert.NotEqual(0UL, other);
        Assert.Equal(1, src.Frees);
        Assert.Equal(0UL, a.Stats.CachedBytes);
    }

    [Fact]
    public void Out_of_memory_after_retry_throws_with_the_numbers()
    {
        var src = new FakeSource(10UL << 20);
        var a = new CudaCachingAllocator(src);
        ulong live = a.Allocate(4UL << 20), cached = a.Allocate(2UL << 20);
        a.Free(cached);
        var e = Assert.Throws<CudaOutOfMemoryException>(() => a.Allocate(7UL << 20, "activations (64, 256, 56, 56)"));
        Assert.Equal(4UL << 20, e.Allocated);
        Assert.Equal(2UL << 20, e.Cached);
        Assert.Equal(6UL << 20, e.Free);   // after the cache was released: 10 - 4 MiB
        Assert.Contains("activations (64, 256, 56, 56)", e.Message);
        Assert.Equal(0UL, a.Stats.CachedBytes);
        a.Free(live);
    }

    [Fact]
    public void Other_driver_errors_are_not_treated_as_out_of_memory()
    {
        var src = new FakeSource(1 << 30) { FailWith = 999 };
        var a = new CudaCachingAllocator(src);
        var e = Assert.Throws<CudaException>(() => a.Allocate(100));
        Assert.IsNotType<CudaOutOfMemoryException>(e);
        Assert.Equal(999, e.Status);
    }

    [Fact]
    public void Double_free_and_foreign_pointers_throw()
    {
        var a = new CudaCachingAllocator(new FakeSource(1 << 30));
        ulong p = a.Allocate(10);
        a.Free(p);
        Assert.Throws<ArgumentException>(() => a.Free(p));
        Assert.Throws<ArgumentException>(() => a.Free(0xdead00));
        a.Free(0); // null is a no-op, like cudaFree(nullptr)
        Assert.Equal(0UL, a.Allocate(0));
    }

    [Theory]
    [InlineData(1UL, 512UL)]
    [InlineData(512UL, 512UL)]
    [InlineData(513UL, 1024UL)]
    [InlineData(1UL << 20, 1UL << 20)]
    [InlineData((1UL << 20) + 1, 5UL << 18)]   // 1.25 MiB
    [InlineData(3UL << 20, 3UL << 20)]         // 1.5 x 2 MiB
    [InlineData((7UL << 20) + 5, 8UL << 20)]   // 1.75 x 4 MiB rounds up to 8 MiB
    public void Sizes_round_to_buckets(ulong request, ulong bucket) => Assert.Equal(bucket, CudaCachingAllocator.RoundSize(request));

    [Fact]
    public void Rounding_wastes_at_most_a_quarter_above_one_MiB()
    {
        var rng = new Random(7);
        for (int i = 0; i < 10000; i++)
        {
            ulong r = (ulong)rng.NextInt64(1, 1L << 34);
            ulong b = CudaCachingAllocator.RoundSize(r);
            Assert.True(b >= r && b % 512 == 0, $"{r} -> {b}");
            if (r > 1 << 20) Assert.True(b - r <= r / 4 + 1, $"{r} -> {b}");
        }
    }
}
