// CpuParallel: the CPU backend's parallel-for over a persistent pool of worker threads (poll for 1 ms, then sleep).
// Chunking depends only on (count, minGrain, MaxThreads), so kernels give bit-identical results run to run.
using System.Diagnostics;

namespace SeFramework.Cpu;

public static class CpuParallel
{
    private static int s_maxThreads = Environment.ProcessorCount;

    /// <summary>Most threads one <see cref="For"/> uses, the caller included (default: processor count; `se --threads`).</summary>
    public static int MaxThreads
    {
        get => Volatile.Read(ref s_maxThreads);
        set
        {
            if (value < 1)
                throw new ArgumentOutOfRangeException(nameof(value), value, "CpuParallel.MaxThreads must be at least 1; use 1 to run everything on the calling thread.");
            Volatile.Write(ref s_maxThreads, value);
        }
    }

    /// <summary>Number of chunks <see cref="For"/> cuts [0, count) into: min(MaxThreads, count / minGrain), at least 1.</summary>
    public static int ChunkCount(int count, int minGrain)
    {
        if (minGrain < 1) minGrain = 1;
        int byGrain = count / minGrain;
        return Math.Max(1, Math.Min(MaxThreads, byGrain));
    }

    /// <summary>
    /// Calls body(start, endExclusive) on consecutive chunks covering [0, count), in parallel when there is enough work:
    /// chunk i is [count*i/chunks, count*(i+1)/chunks) with chunks = <see cref="ChunkCount"/>. Runs inline (one call,
    /// body(0, count)) when count &lt; 2*minGrain or MaxThreads == 1. A nested call (from inside a body) or a call while another
    /// thread owns the pool runs the same chunks one after another on the calling thread. Exceptions propagate to the caller.
    /// </summary>
    public static void For(int count, int minGrain, Action<int, int> body)
    {
        ArgumentNullException.ThrowIfNull(body);
        if (count <= 0) return;
        int chunks = ChunkCount(count, minGrain);
        if (chunks == 1)
        {
            body(0, count);
            return;
        }
        if (t_insideFor || !Monitor.TryEnter(s_poolLock))
        {
            for (int i = 0; i < chunks; i++) body(ChunkStart(count, chunks, i), ChunkStart(count, chunks, i + 1));
            return;
        }
        try
        {
            t_insideFor = true;
            RunOnPool(count, chunks, body);
        }
        finally
        {
            t_insideFor = false;
            Monitor.Exit(s_poolLock);
        }
    }

    private static int ChunkStart(int count, int chunks, int i) => (int)((long)count * i / chunks);

    /// <summary>
    /// body(start, endExclusive) on <paramref name="blocks"/> fixed ranges covering [0, count) (block b is
    /// [count·b/blocks, count·(b+1)/blocks)), which the calling thread and the workers take in turn from a shared counter:
    /// a thread that starts late or runs slower (memory-bound passes sharing the bus) takes fewer blocks instead of
    /// holding up the call. The ranges depend only on (count, blocks), so a body whose ranges write disjoint outputs gives
    /// the same result whoever runs them. Runs the blocks in order on the calling thread when MaxThreads == 1, for one
    /// block, or nested inside a body.
    /// </summary>
    public static void ForBlocks(int count, int blocks, Action<int, int> body)
    {
        ArgumentNullException.ThrowIfNull(body);
        if (count <= 0) return;
        blocks = Math.Clamp(blocks, 1, count);
        int threads = Math.Min(MaxThreads, blocks);
        if (threads == 1 || t_insideFor)
        {
            for (int b = 0; b < blocks; b++) body(ChunkStart(count, blocks, b), ChunkStart(count, blocks, b + 1));
            return;
        }
        int[] next = [0];
        For(threads, 1, (_, _) =>
        {
            for (int b = Interlocked.Increment(ref next[0]) - 1; b < blocks; b = Interlocked.Increment(ref next[0]) - 1)
                body(ChunkStart(count, blocks, b), ChunkStart(count, blocks, b + 1));
        });
    }

    // ---- the pool -------------------------------------------------------------------------------------------------
    // One job at a time (s_poolLock). The caller publishes the job in the static fields, then bumps each needed worker's
    // own signal; a worker only reads the job after its signal moved, and the caller only changes the job after every
    // signalled worker has decremented s_pending, so the fields need no further synchronisation.

    private static readonly object s_poolLock = new();
    private static Worker[] s_workers = [];
    private static Action<int, int>? s_body;
    private static int s_count, s_chunks, s_pending;
    private static long s_postedAt; // when the current job was published (SE_PROFILE: how late workers start)
    private static Exception? s_error;
    [ThreadStatic] private static bool t_insideFor;

    // How long an idle worker polls for the next job before it sleeps (SE_WORKER_SPIN_US, default 1000 µs): long enough to
    // catch the back-to-back kernel calls of a training step, whose gaps are mostly tens to hundreds of µs; a sleeping worker
    // took ~0.15 ms on average to start (SE_PROFILE's Parallel.WorkerStart) while the caller waited for it. Polling is a
    // plain volatile read, not PAUSE: measured on the 2-vCPU guest, a 2 ms PAUSE loop made se_resnet50 inference 2.5×
    // slower (the hypervisor's pause-loop exits), while 1 ms of plain polling started workers 3× sooner and made the
    // se_resnet20 training step ~9 % faster (median of 3: 266 vs 293 ms) and se_resnet50's ~2 % at 2 threads. With more
    // threads than processors (oversubscribed) a worker polls 50 µs with PAUSE instead, so it does not hold a core others need.
    private static readonly long s_spinTicks = Stopwatch.Frequency / 1_000_000 * SpinMicroseconds();
    private static readonly long s_shortSpinTicks = Stopwatch.Frequency / 20_000; // 50 µs

    private static long SpinMicroseconds()
    {
        string? value = Environment.GetEnvironmentVariable("SE_WORKER_SPIN_US");
        if (value == null) return 1000;
        if (!long.TryParse(value, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out long us) || us < 0)
            throw new ArgumentException($"SE_WORKER_SPIN_US must be a whole number of microseconds ≥ 0 (how long idle CPU workers poll before sleeping; default 1000), not '{value}'.");
        return us;
    }

    private static bool Oversubscribed => MaxThreads > Environment.ProcessorCount;

    private sealed class Worker
    {
        public readonly int Index; // runs chunk Index (1-based; the caller runs chunk 0)
        public long Signal;        // bumped by the caller for each job this worker takes part in
        public int Sleeping;       // 1 while the worker is (about to be) blocked on Wake
        public readonly SemaphoreSlim Wake = new(0);

        public Worker(int index)
        {
            Index = index;
            var thread = new Thread(Loop) { IsBackground = true, Name = $"SeFramework CPU worker {index}" };
            thread.Start();
        }

        private void Loop()
        {
            t_insideFor = true; // nested For calls from a body run inline
            long seen = 0;
            while (true)
            {
                long started = Stopwatch.GetTimestamp();
                bool polite = Oversubscribed;
                long spin = polite ? s_shortSpinTicks : s_spinTicks;
                while (Volatile.Read(ref Signal) == seen)
                {
                    if (Stopwatch.GetTimestamp() - started < spin)
                    {
                        if (polite) Thread.SpinWait(20);
                        else for (int k = 0; k < 64 && Volatile.Read(ref Signal) == seen; k++) { }
                        continue;
                    }
                    Interlocked.Exchange(ref Sleeping, 1);
                    if (Volatile.Read(ref Signal) != seen)
                    {
                        // A job arrived meanwhile: take back the sleep flag, or, if the caller already took it, eat its Release.
                        if (Interlocked.Exchange(ref Sleeping, 0) == 0) Wake.Wait();
                        break;
                    }
                    Wake.Wait();
                    started = Stopwatch.GetTimestamp();
                }
                seen = Volatile.Read(ref Signal);
                if (CpuProfiler.Enabled) CpuProfiler.Add("Parallel.WorkerStart", Stopwatch.GetTimestamp() - s_postedAt);
                try
                {
                    s_body!(ChunkStart(s_count, s_chunks, Index), ChunkStart(s_count, s_chunks, Index + 1));
                }
                catch (Exception e)
                {
                    Interlocked.CompareExchange(ref s_error, e, null);
                }
                Interlocked.Decrement(ref s_pending);
            }
        }
    }

    private static void RunOnPool(int count, int chunks, Action<int, int> body)
    {
        int needed = chunks - 1;
        if (s_workers.Length < needed)
        {
            var grown = new Worker[needed];
            Array.Copy(s_workers, grown, s_workers.Length);
            for (int i = s_workers.Length; i < needed; i++) grown[i] = new Worker(i + 1);
            s_workers = grown;
        }
        s_body = body;
        s_count = count;
        s_chunks = chunks;
        s_error = null;
        if (CpuProfiler.Enabled) s_postedAt = Stopwatch.GetTimestamp();
        Volatile.Write(ref s_pending, needed);
        for (int w = 0; w < needed; w++)
        {
            Worker worker = s_workers[w];
            Interlocked.Increment(ref worker.Signal); // full fence: the job fields above are visible first
            if (Interlocked.Exchange(ref worker.Sleeping, 0) == 1) worker.Wake.Release();
        }

        Exception? callerError = null;
        try
        {
            body(0, ChunkStart(count, chunks, 1));
        }
        catch (Exception e)
        {
            callerError = e;
        }

        var spinner = new SpinWait();
        long joinStart = CpuProfiler.Enabled ? Stopwatch.GetTimestamp() : 0;
        while (Volatile.Read(ref s_pending) != 0) spinner.SpinOnce(sleep1Threshold: -1);
        if (CpuProfiler.Enabled) CpuProfiler.Add("Parallel.CallerWaits in " + (CpuProfiler.Current ?? "(no op)"), Stopwatch.GetTimestamp() - joinStart);
        s_body = null;
        Exception? error = callerError ?? s_error;
        s_error = null;
        if (error is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(error);
    }
}
