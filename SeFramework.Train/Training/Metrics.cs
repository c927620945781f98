// Per-epoch metrics: metrics.csv holds only values that repeat bit for bit for the same seed and thread count;
// wall-clock figures (images/s, seconds) go to timing.csv, which cannot repeat by nature.
using System.Globalization;
using System.Text;

namespace SeFramework.Train.Training;

public sealed record EpochMetrics(int Epoch, double Lr, double TrainLoss, double TrainTop1, double TestLoss, double TestTop1, double TestTop5,
    double ImagesPerSecond, double Seconds);

public static class MetricsFiles
{
    public const string MetricsHeader = "epoch,lr,train_loss,train_top1,test_loss,test_top1,test_top5";
    public const string TimingHeader = "epoch,images_per_sec,seconds";

    private static string R(double v) => v.ToString("R", CultureInfo.InvariantCulture);

    public static void Write(string dir, IReadOnlyList<EpochMetrics> rows)
    {
        var m = new StringBuilder(MetricsHeader).Append('\n');
        var t = new StringBuilder(TimingHeader).Append('\n');
        foreach (var r in rows)
        {
            m.Append(string.Join(',', r.Epoch.ToString(CultureInfo.InvariantCulture), R(r.Lr), R(r.TrainLoss), R(r.TrainTop1), R(r.TestLoss), R(r.TestTop1), R(r.TestTop5))).Append('\n');
            t.Append(string.Join(',', r.Epoch.ToString(CultureInfo.InvariantCulture), r.ImagesPerSecond.ToString("F1", CultureInfo.InvariantCulture), r.Seconds.ToString("F2", CultureInfo.InvariantCulture))).Append('\n');
        }
        AtomicFile.WriteAllText(Path.Combine(dir, "metrics.csv"), m.ToString());
        AtomicFile.WriteAllText(Path.Combine(dir, "timing.csv"), t.ToString());
    }

    /// <summary>Reads back the rows of a previous run (for --resume), keeping those up to <paramref name="upToEpoch"/>.</summary>
    public static List<EpochMetrics> Read(string dir, int upToEpoch)
    {
        var rows = new List<EpochMetrics>();
        var mPath = Path.Combine(dir, "metrics.csv");
        if (!File.Exists(mPath)) return rows;
        var timing = new Dictionary<int, (double, double)>();
        var tPath = Path.Combine(dir, "timing.csv");
        if (File.Exists(tPath))
            foreach (var line in File.ReadLines(tPath).Skip(1))
            {
                var p = line.Split(',');
                if (p.Length == 3) timing[int.Parse(p[0], CultureInfo.InvariantCulture)] = (double.Parse(p[1], CultureInfo.InvariantCulture), double.Parse(p[2], CultureInfo.InvariantCulture));
            }
        foreach (var line in File.ReadLines(mPath).Skip(1))
        {
            var p = line.Split(',');
            if (p.Length != 7) continue;
            var v = p.Select(s => double.Parse(s, CultureInfo.InvariantCulture)).ToArray();
            int epoch = (int)v[0];
            if (epoch > upToEpoch) continue;
            var (ips, sec) = timing.TryGetValue(epoch, out var tv) ? tv : (0, 0);
            rows.Add(new EpochMetrics(epoch, v[1], v[2], v[3], v[4], v[5], v[6], ips, sec));
        }
        return rows;
    }
}
