// Text and JSON renderings of an evaluation: loss, top-1/top-5 accuracy and error, per-class accuracy, confusion matrix.
using System.Globalization;
using System.Text;
using System.Text.Json;
using SeFramework.Train.Data;

namespace SeFramework.Train.Training;

public static class EvalReport
{
    public static string Json(string model, IImageDataset data, EvalResult r) => JsonSerializer.Serialize(new
    {
        model,
        dataset = data.Name,
        count = r.Count,
        loss = r.Loss,
        top1 = r.Top1,
        top5 = r.Top5,
        top1_error = 1 - r.Top1,
        top5_error = 1 - r.Top5,
        per_class = data.ClassNames.Select((c, i) => new { name = c, accuracy = double.IsNaN(r.PerClassAccuracy[i]) ? (double?)null : r.PerClassAccuracy[i] }),
        confusion = Enumerable.Range(0, data.NumClasses).Select(i => Enumerable.Range(0, data.NumClasses).Select(j => r.Confusion[i, j]).ToArray()),
    });

    public static string Text(string model, IImageDataset data, EvalResult r)
    {
        var sb = new StringBuilder();
        var inv = CultureInfo.InvariantCulture;
        sb.AppendLine(string.Create(inv, $"{model} on {data.Name}: {r.Count} images"));
        sb.AppendLine(string.Create(inv, $"loss {r.Loss:F4}  top-1 {r.Top1 * 100:F2}% (error {(1 - r.Top1) * 100:F2}%)  top-5 {r.Top5 * 100:F2}% (error {(1 - r.Top5) * 100:F2}%)"));
        sb.AppendLine("per-class accuracy:");
        for (int i = 0; i < data.NumClasses; i++)
            sb.AppendLine(string.Create(inv, $"  {data.ClassNames[i],-16} {r.PerClassAccuracy[i] * 100,7:F2}%"));
        if (data.NumClasses <= 20)
        {
            sb.AppendLine("confusion matrix (rows: true class, columns: predicted):");
            for (int i = 0; i < data.NumClasses; i++)
            {
                sb.Append("  ");
                for (int j = 0; j < data.NumClasses; j++) sb.Append(r.Confusion[i, j].ToString(inv).PadLeft(6));
                sb.AppendLine();
            }
        }
        return sb.ToString();
    }
}
