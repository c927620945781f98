// GemmCpuParallelTests: CpuParallel.For, the worker pool the GEMM (and the other CPU kernels) split their work with:
// coverage, deterministic chunking, inline thresholds, nesting, concurrent callers and error propagation.
using System.Collections.Concurrent;
using SeFramework.Cpu;
using Xunit;

namespace SeFramework.Core.Tests.Cpu;

[Collection(nameof(CpuThreadsCollection))]
public sealed class GemmCpuParallelTests
{
    private static void WithThreads(int threads, Action action)
    {
        int saved = CpuParallel.MaxThreads;
        try
        {
            CpuParallel.MaxThreads = threads;
            action();
        }
        finally
        {
            CpuParallel.MaxThreads = saved;
        }
    }

    private static List<(int Start, int End)> Chunks(int count, int minGrain)
    {
        var chunks = new ConcurrentBag<(int, int)>();
        CpuParallel.For(count, minGrain, (s, e) => chunks.Add((s, e)));
        return chunks.OrderBy(c => c.Item1).ToList();
    }

    [Theory]
    [InlineData(2, 1000, 1)]
    [InlineData(2, 7, 1)]
    [InlineData(2, 1001, 100)]
    [InlineData(3, 10, 2)]
    [InlineData(4, 17, 3)]
    public void For_cuts_the_range_into_min_threads_and_grain_chunks_covering_it_once(int threads, int count, int minGrain)
    {
        WithThreads(threads, () =>
        {
            int expectedChunks = Math.Min(threads, count / minGrain);
            for (int run = 0; run < 3; run++)
            {
                var chunks = Chunks(count, minGrain);
                Assert.Equal(expectedChunks, chunks.Count);
                // chunk i is [count*i/chunks, count*(i+1)/chunks): depends only on count, minGrain and MaxThreads.
                for (int i = 0; i < chunks.Count; i++)
                    Assert.Equal(((int)((long)count * i / expectedChunks), (int)((long)count * (i + 1) / expectedChunks)), chunks[i]);
            }
        });
    }

    [Fact]
    public void For_runs_inline_as_one_call_when_count_is_below_two_grains_or_one_thread()
    {
        int caller = Environment.CurrentManagedThreadId;
        WithThreads(2, () =>
        {
            var calls = new List<(int, int, int)>();
            CpuParallel.For(19, 10, (s, e) => calls.Add((s, e, Environment.CurrentManagedThreadId)));
            Assert.Equal([(0, 19, caller)], calls);
        });
        WithThreads(1, () =>
        {
            var calls = new List<(int, int, int)>();
            CpuParallel.For(1_000_000, 1, (s, e) => calls.Add((s, e, Environment.CurrentManagedThreadId)));
            Assert.Equal([(0, 1_000_000, caller)], calls);
        });
    }

    [Fact]
    public void For_with_two_threads_runs_the_second_chunk_on_a_pool_worker()
    {
        WithThreads(2, () =>
        {
            var threadsSeen = new ConcurrentDictionary<int, bool>();
            for (int i = 0; i < 20; i++)
                CpuParallel.For(2, 1, (s, e) => threadsSeen[Environment.CurrentManagedThreadId] = true);
            Assert.Equal(2, threadsSeen.Count);
        });
    }

    [Fact]
    public void Nested_For_inside_a_body_runs_inline_and_covers_its_range()
    {
        WithThreads(2, () =>
        {
            var outer = new int[2];
            var inner = new int[2][];
            CpuParallel.For(2, 1, (s, e) =>
            {
                for (int i = s; i < e; i++)
                {
                    outer[i]++;
                    var hits = new int[100];
                    CpuParallel.For(100, 1, (s2, e2) => { for (int j = s2; j < e2; j++) hits[j]++; });
                    inner[i] = hits;
                }
            });
            Assert.Equal([1, 1], outer);
            Assert.All(inner, hits => Assert.All(hits, h => Assert.Equal(1, h)));
        });
    }

    [Fact]
    public void Concurrent_callers_each_get_their_whole_range()
    {
        WithThreads(2, () =>
        {
            var failures = new ConcurrentBag<string>();
            var callers = Enumerable.Range(0, 4).Select(t => new Thread(() =>
            {
                for (int run = 0; run < 200; run++)
                {
                    var hits = new int[64];
                    CpuParallel.For(64, 1, (s, e) => { for (int j = s; j < e; j++) Interlocked.Increment(ref hits[j]); });
                    if (hits.Any(h => h != 1)) failures.Add($"caller {t} run {run}: an element ran {hits.First(h => h != 1)} times");
                }
            })).ToList();
            foreach (var t in callers) t.Start();
            foreach (var t in callers) Assert.True(t.Join(TimeSpan.FromSeconds(30)), "a concurrent CpuParallel.For caller did not finish (deadlock?)");
            Assert.Empty(failures);
        });
    }

    [Fact]
    public void An_exception_in_a_worker_chunk_reaches_the_caller_and_the_pool_keeps_working()
    {
        WithThreads(2, () =>
        {
            var e = Assert.Throws<InvalidOperationException>(() =>
                CpuParallel.For(2, 1, (s, _) => { if (s == 1) throw new InvalidOperationException("chunk 1 failed"); }));
            Assert.Equal("chunk 1 failed", e.Message);
            var hits = new int[2];
            CpuParallel.For(2, 1, (s, _) => hits[s]++);
            Assert.Equal([1, 1], hits);
        });
    }

    [Theory]
    [InlineData(1, 100, 16)]
    [InlineData(2, 100, 16)]
    [InlineData(2, 5, 16)]   // more blocks than items: one item per block
    [InlineData(2, 2048, 16)]
    [InlineData(3, 37, 24)]
    public void ForBlocks_runs_each_fixed_block_exactly_once_whoever_takes_it(int threads, int count, int blocks)
    {
        WithThreads(threads, () =>
        {
            var calls = new ConcurrentBag<(int Start, int End, int Thread)>();
            CpuParallel.ForBlocks(count, blocks, (start, end) => calls.Add((start, end, Environment.CurrentManagedThreadId)));
            int expectedBlocks = Math.Min(blocks, count);
            var ranges = calls.Select(c => (c.Start, c.End)).OrderBy(r => r.Start).ToList();
            // Block b is [count·b/blocks, count·(b+1)/blocks): the same boundaries at any thread count.
            var expected = Enumerable.Range(0, expectedBlocks)
                .Select(b => ((int)((long)count * b / expectedBlocks), (int)((long)count * (b + 1) / expectedBlocks))).ToList();
            Assert.Equal(expected, ranges);
            if (threads == 1) Assert.Single(calls.Select(c => c.Thread).Distinct());
        });
    }

    [Fact]
    public void ForBlocks_lets_the_caller_take_the_blocks_of_a_worker_that_is_busy()
    {
        // The first block sleeps 200 ms on whichever thread takes it; the other thread (caller or worker) meanwhile takes
        // every remaining block, so the call lasts about one slow block, not half the blocks plus the slow one.
        WithThreads(2, () =>
        {
            var perThread = new ConcurrentDictionary<int, int>();
            int slowTaken = 0;
            CpuParallel.ForBlocks(16, 16, (start, end) =>
            {
                if (Interlocked.Exchange(ref slowTaken, 1) == 0) Thread.Sleep(200);
                perThread.AddOrUpdate(Environment.CurrentManagedThreadId, 1, (_, n) => n + 1);
            });
            Assert.Equal(16, perThread.Values.Sum());
            Assert.Equal(2, perThread.Count);
            Assert.Contains(15, perThread.Values); // the thread without the slow block ran all the others
        });
    }

    [Fact]
    public void ForBlocks_nested_in_a_body_runs_its_blocks_inline()
    {
        WithThreads(2, () =>
        {
            var inner = new ConcurrentBag<(int, int)>();
            CpuParallel.For(2, 1, (s, e) =>
            {
                if (s == 0) CpuParallel.ForBlocks(10, 4, (a, b) => inner.Add((a, b)));
            });
            Assert.Equal(new[] { (0, 2), (2, 5), (5, 7), (7, 10) }, inner.OrderBy(r => r.Item1).ToArray());
        });
    }

    [Fact]
    public void MaxThreads_rejects_values_below_one()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => CpuParallel.MaxThreads = 0);
    }
}
