// The framework's one random number generator: xoshiro256** seeded through SplitMix64, with Box–Muller normals.
// Same seed → same stream on every machine; the state can be saved in checkpoints and restored exactly.
namespace SeFramework;

public sealed class Rng
{
    private ulong _s0, _s1, _s2, _s3;
    private double _spareNormal;
    private bool _hasSpare;

    public Rng(ulong seed)
    {
        ulong x = seed;
        _s0 = SplitMix(ref x);
        _s1 = SplitMix(ref x);
        _s2 = SplitMix(ref x);
        _s3 = SplitMix(ref x);
    }

    /// <summary>The generator used when none is passed: seeded with 0, reseed with <see cref="ManualSeed"/>.</summary>
    public static Rng Default { get; private set; } = new(0);

    public static void ManualSeed(ulong seed) => Default = new Rng(seed);

    private static ulong SplitMix(ref ulong x)
    {
        ulong z = x += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    private static ulong Rotl(ulong x, int k) => (x << k) | (x >> (64 - k));

    public ulong NextUInt64()
    {
        ulong result = Rotl(_s1 * 5, 7) * 9;
        ulong t = _s1 << 17;
        _s2 ^= _s0;
        _s3 ^= _s1;
        _s1 ^= _s2;
        _s0 ^= _s3;
        _s2 ^= t;
        _s3 = Rotl(_s3, 45);
        return result;
    }

    /// <summary>Uniform in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform integer in [0, bound).</summary>
    public int NextInt(int bound)
    {
        if (bound <= 0) throw new ArgumentOutOfRangeException(nameof(bound), "bound must be positive");
        return (int)((NextUInt64() >> 33) * (ulong)bound >> 31);
    }

    public double Uniform(double low, double high) => low + (high - low) * NextDouble();

    /// <summary>Standard normal by the Box–Muller transform (pairs; the second value is kept for the next call).</summary>
    public double NextNormal()
    {
        if (_hasSpare)
        {
            _hasSpare = false;
            return _spareNormal;
        }
        double u1;
        do u1 = NextDouble(); while (u1 <= double.Epsilon);
        double u2 = NextDouble();
        double r = Math.Sqrt(-2.0 * Math.Log(u1));
        _spareNormal = r * Math.Sin(2 * Math.PI * u2);
        _hasSpare = true;
        return r * Math.Cos(2 * Math.PI * u2);
    }

    /// <summary>A new generator whose stream is derived from this one's next output (for per-worker streams).</summary>
    public Rng Fork() => new(NextUInt64());

    /// <summary>The full state (for checkpoints): four words, the spare normal's bits and its flag.</summary>
    public ulong[] GetState() => new[] { _s0, _s1, _s2, _s3, (ulong)BitConverter.DoubleToInt64Bits(_spareNormal), _hasSpare ? 1UL : 0UL };

    public void SetState(ReadOnlySpan<ulong> state)
    {
        if (state.Length != 6) throw new ArgumentException($"an Rng state has 6 words, not {state.Length}");
        (_s0, _s1, _s2, _s3) = (state[0], state[1], state[2], state[3]);
        _spareNormal = BitConverter.Int64BitsToDouble((long)state[4]);
        _hasSpare = state[5] != 0;
    }
}
