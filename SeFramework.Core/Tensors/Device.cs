// Where a tensor's storage lives: the CPU or a CUDA device (by ordinal).
namespace SeFramework;

public enum DeviceKind
{
    Cpu,
    Cuda,
}

public readonly record struct Device(DeviceKind Kind, int Index = 0)
{
    public static readonly Device Cpu = new(DeviceKind.Cpu);
    public static Device Cuda(int index = 0) => new(DeviceKind.Cuda, index);

    /// <summary>Parses "cpu", "cuda" or "cuda:N".</summary>
    public static Device Parse(string text)
    {
        var t = text.Trim().ToLowerInvariant();
        if (t == "cpu") return Cpu;
        if (t == "cuda") return Cuda();
        if (t.StartsWith("cuda:", StringComparison.Ordinal) && int.TryParse(t.AsSpan(5), out var i) && i >= 0) return Cuda(i);
        throw new ArgumentException($"unknown device '{text}': use cpu, cuda or cuda:N");
    }

    public override string ToString() => Kind == DeviceKind.Cpu ? "cpu" : $"cuda:{Index}";
}
