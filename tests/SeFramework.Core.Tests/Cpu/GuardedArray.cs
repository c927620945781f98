// GuardedArray: a copy of a float array placed so that its last element ends a page and the next page is PROT_NONE (Linux
// mmap/mprotect), for proving that a kernel never reads past its input: a read beyond the end crashes the test process.
using System.Runtime.InteropServices;

namespace SeFramework.Core.Tests.Cpu;

internal sealed unsafe class GuardedArray : IDisposable
{
    private const int ProtNone = 0, ProtRead = 1, ProtWrite = 2, MapPrivate = 0x02, MapAnonymous = 0x20;
    private readonly nint _map;
    private readonly nuint _length;

    /// <summary>The copy's first element; the page after its last element is not readable.</summary>
    public float* Pointer { get; }

    /// <summary>Where the guard page can be made (the test skips elsewhere).</summary>
    public static bool Supported => OperatingSystem.IsLinux();

    public GuardedArray(float[] data)
    {
        long page = Environment.SystemPageSize, dataPages = ((long)data.Length * sizeof(float) + page - 1) / page;
        _length = (nuint)((dataPages + 1) * page);
        _map = Mmap(0, _length, ProtRead | ProtWrite, MapPrivate | MapAnonymous, -1, 0);
        if (_map == -1) throw new InvalidOperationException($"mmap of {_length} bytes failed (errno {Marshal.GetLastPInvokeError()})");
        nint guard = _map + (nint)(dataPages * page);
        if (Mprotect(guard, (nuint)page, ProtNone) != 0)
        {
            Munmap(_map, _length);
            throw new InvalidOperationException($"mprotect of the guard page failed (errno {Marshal.GetLastPInvokeError()})");
        }
        Pointer = (float*)guard - data.Length;
        data.CopyTo(new Span<float>(Pointer, data.Length));
    }

    public void Dispose() => Munmap(_map, _length);

    [DllImport("libc", EntryPoint = "mmap", SetLastError = true)]
    private static extern nint Mmap(nint addr, nuint length, int prot, int flags, int fd, nint offset);

    [DllImport("libc", EntryPoint = "mprotect", SetLastError = true)]
    private static extern int Mprotect(nint addr, nuint length, int prot);

    [DllImport("libc", EntryPoint = "munmap", SetLastError = true)]
    private static extern int Munmap(nint addr, nuint length);
}
