// curves.png: training/test loss and accuracy per epoch (lines with markers, so a one-epoch run still shows its
// points), drawn with ScottPlot and moved into place atomically.
using ScottPlot;

namespace SeFramework.Train.Training;

public static class CurvesPlot
{
    public static void Save(string path, IReadOnlyList<EpochMetrics> rows, string title)
    {
        if (rows.Count == 0) return;
        double[] x = rows.Select(r => (double)r.Epoch).ToArray();
        var multi = new Multiplot();
        multi.AddPlots(2);
        var loss = multi.GetPlot(0);
        loss.Title($"{title}: loss");
        loss.Add.Scatter(x, rows.Select(r => r.TrainLoss).ToArray()).LegendText = "train";
        loss.Add.Scatter(x, rows.Select(r => r.TestLoss).ToArray()).LegendText = "test";
        loss.XLabel("epoch");
        loss.ShowLegend();
        var acc = multi.GetPlot(1);
        acc.Title($"{title}: accuracy (%)");
        acc.Add.Scatter(x, rows.Select(r => r.TrainTop1 * 100).ToArray()).LegendText = "train top-1";
        acc.Add.Scatter(x, rows.Select(r => r.TestTop1 * 100).ToArray()).LegendText = "test top-1";
        acc.Add.Scatter(x, rows.Select(r => r.TestTop5 * 100).ToArray()).LegendText = "test top-5";
        acc.XLabel("epoch");
        acc.ShowLegend();
        // ScottPlot writes to a path, so AtomicFile's stream does not fit: same scheme by hand (temp beside, then rename).
        var full = Path.GetFullPath(path);
        var tmp = Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.tmp-{Environment.ProcessId}-{Guid.NewGuid():N}.png");
        try
        {
            multi.SavePng(tmp, 800, 900);
            File.Move(tmp, full, overwrite: true);
        }
        catch
        {
            try { File.Delete(tmp); } catch (IOException) { }
            throw;
        }
    }
}
