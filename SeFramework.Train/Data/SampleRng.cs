// The random generator of the data pipeline: SplitMix64 (Steele, Lea, Flood 2014), seeded by hashing
// (seed, stream, epoch, index). Each sample of each epoch gets its own generator, so augmentation and shuffling depend
// only on those numbers, never on which worker thread ran first; the same seed gives the same bits on every machine.
namespace SeFramework.Train.Data;

/// <summary>
/// A small deterministic generator: state += 0x9E3779B97F4A7C15, output = the SplitMix64 finaliser of the state.
/// Period 2^64 per stream, passes BigCrush; ample for augmentation. Not cryptographic.
/// </summary>
public struct SampleRng
{
    const ulong Golden = 0x9E3779B97F4A7C15UL;
    ulong _state;

    public SampleRng(ulong state) => _state = state;

    /// <summary>Streams keep shuffling and augmentation draws independent for the same (seed, epoch, index).</summary>
    public enum Stream : ulong { Augment = 1, Shuffle = 2 }

    /// <summary>The generator of (seed, stream, epoch, index): each value is folded in through the finaliser.</summary>
    public static SampleRng For(ulong seed, Stream stream, long epoch, long index)
    {
        ulong h = Mix(seed + Golden);
        h = Mix(h ^ ((ulong)stream * Golden));
        h = Mix(h ^ ((ulong)epoch + 0x632BE59BD9B4E019UL));
        h = Mix(h ^ ((ulong)index + 0xD1B54A32D192ED03UL));
        return new SampleRng(h);
    }

    /// <summary>The generator that augments dataset sample <paramref name="index"/> in <paramref name="epoch"/>.</summary>
    public static SampleRng ForSample(ulong seed, long epoch, long index) => For(seed, Stream.Augment, epoch, index);

    static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    public ulong NextUInt64()
    {
        _state += Golden;
        return Mix(_state);
    }

    /// <summary>Uniform in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform in [a, b).</summary>
    public double NextDouble(double a, double b) => a + (b - a) * NextDouble();

    /// <summary>
    /// Uniform integer in [0, n) by the multiply-high method (Lemire); the bias is at most n / 2^64, negligible here.
    /// </summary>
    public int NextInt(int n)
    {
        if (n <= 0) throw new ArgumentOutOfRangeException(nameof(n), $"SampleRng.NextInt: n must be positive, got {n}.");
        return (int)(((UInt128)NextUInt64() * (ulong)n) >> 64);
    }

    /// <summary>Uniform integer in [lo, hi], both inclusive.</summary>
    public int NextInt(int lo, int hi) => lo + NextInt(hi - lo + 1);

    public bool NextBool() => (NextUInt64() >> 63) != 0;

    /// <summary>Fisher–Yates shuffle of <paramref name="items"/>.</summary>
    public void Shuffle(Span<int> items)
    {
        for (int i = items.Length - 1; i > 0; i--)
        {
            int j = NextInt(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }
}
