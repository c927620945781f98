// Deterministic test inputs for reference comparisons: the same seed gives the same values on every machine,
// independent of libtorch's generator, so both frameworks can be fed identical data.
namespace SeFramework.Reference.Tests;

/// <summary>Seeded input generators (System.Random with an explicit seed: stable across runs and platforms).</summary>
public static class TestData
{
    /// <summary>count values uniform in [min, max), reproducible from seed.</summary>
    public static float[] Uniform(int count, int seed, float min = -1f, float max = 1f)
    {
        if (count < 0) throw new ArgumentException($"count must be >= 0, got {count}", nameof(count));
        if (!(max > min)) throw new ArgumentException($"need min < max, got [{min}, {max})", nameof(max));
        var rng = new Random(seed);
        var values = new float[count];
        for (int i = 0; i < count; i++) values[i] = min + (max - min) * (float)rng.NextDouble();
        return values;
    }

    /// <summary>Number of elements of a shape (product of its dimensions).</summary>
    public static int Count(params long[] shape)
    {
        long n = 1;
        foreach (long d in shape) n *= d;
        return checked((int)n);
    }
}
