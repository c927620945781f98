// A Stopwatch-based per-op profile of the CPU backend, switched on with the environment variable SE_PROFILE=1: every
// backend call adds its wall time to its op kind, and a table (time, calls, share) is printed to stderr at process exit.
// Nested parts (Conv.*) count inside their op too; Parallel.WorkerStart sums how late workers began each parallel job and
// Parallel.CallerWaits how long the calling thread waited for them at its end (2-thread load balance).
using System.Diagnostics;
using System.Globalization;

namespace SeFramework.Cpu;

public static class CpuProfiler
{
    private sealed class Entry
    {
        public long Ticks;
        public long Calls;
    }

    private static readonly Dictionary<string, Entry> s_entries = new(StringComparer.Ordinal);
    private static readonly object s_gate = new();
    private static readonly long s_start = Stopwatch.GetTimestamp();

    /// <summary>True when SE_PROFILE=1 (read once at start-up) or after <see cref="Enable"/>.</summary>
    public static bool Enabled { get; private set; } = Environment.GetEnvironmentVariable("SE_PROFILE") == "1";

    static CpuProfiler()
    {
        if (Enabled) AppDomain.CurrentDomain.ProcessExit += (_, _) => Console.Error.Write(Report());
    }

    /// <summary>Starts recording (tests and tools; the environment variable is the usual switch).</summary>
    public static void Enable() => Enabled = true;

    /// <summary>Forgets every recorded time (e.g. after warm-up steps).</summary>
    public static void Reset()
    {
        lock (s_gate) s_entries.Clear();
    }

    /// <summary>Times the enclosing block as op <paramref name="name"/> when profiling is on (a no-op struct otherwise):
    /// <c>using var _ = CpuProfiler.Op("Conv2dForward");</c></summary>
    public static Scope Op(string? name) => new(Enabled ? name : null);

    /// <summary>The innermost op being timed on this thread (null when none or when profiling is off): where a wait such as
    /// Parallel.CallerWaits is charged.</summary>
    [ThreadStatic] private static string? t_current;

    /// <summary>The innermost timed op of this thread, for naming the waits inside it.</summary>
    internal static string? Current => t_current;

    public readonly struct Scope : IDisposable
    {
        private readonly string? _name, _outer;
        private readonly long _start;

        internal Scope(string? name)
        {
            _name = name;
            _start = name == null ? 0 : Stopwatch.GetTimestamp();
            if (name == null) return;
            _outer = t_current;
            t_current = name;
        }

        public void Dispose()
        {
            if (_name == null) return;
            Add(_name, Stopwatch.GetTimestamp() - _start);
            t_current = _outer;
        }
    }

    /// <summary>Adds <paramref name="ticks"/> (Stopwatch ticks) and one call to op <paramref name="name"/> (for times that
    /// are not a block, such as how long a worker took to start).</summary>
    public static void Add(string name, long ticks)
    {
        lock (s_gate)
        {
            if (!s_entries.TryGetValue(name, out var e)) s_entries[name] = e = new Entry();
            e.Ticks += ticks;
            e.Calls++;
        }
    }

    /// <summary>(op, total ms, calls) of every recorded op kind, slowest first.</summary>
    public static IReadOnlyList<(string Op, double Ms, long Calls)> Snapshot()
    {
        lock (s_gate)
            return s_entries.Select(kv => (kv.Key, kv.Value.Ticks * 1000.0 / Stopwatch.Frequency, kv.Value.Calls))
                .OrderByDescending(t => t.Item2).ToList();
    }

    /// <summary>The profile as a text table (op, ms, calls, % of the backend total, and the process wall time).</summary>
    public static string Report()
    {
        var rows = Snapshot();
        double total = rows.Sum(r => r.Ms);
        double wall = (Stopwatch.GetTimestamp() - s_start) * 1000.0 / Stopwatch.Frequency;
        var sb = new System.Text.StringBuilder();
        sb.AppendLine(string.Create(CultureInfo.InvariantCulture, $"SE_PROFILE: CPU backend ops, {total:F0} ms in kernels of {wall:F0} ms wall, {GC.CollectionCount(0)} gen0 / {GC.CollectionCount(2)} gen2 GCs, tensor memory peak {MemoryStats.PeakBytes / 1048576.0:F0} MiB live, {CpuAllocator.CachedBytes / 1048576.0:F0} MiB cached at exit"));
        sb.AppendLine(string.Create(CultureInfo.InvariantCulture, $"{"op",-32} {"ms",10} {"calls",8} {"%",6}"));
        foreach (var (op, ms, calls) in rows)
            sb.AppendLine(string.Create(CultureInfo.InvariantCulture, $"{op,-32} {ms,10:F1} {calls,8} {100 * ms / Math.Max(total, 1e-9),6:F1}"));
        return sb.ToString();
    }
}
