// Evaluation over a loader: mean loss, top-1/top-5 accuracy, per-class accuracy and the confusion matrix.
using SeFramework.Nn;
using SeFramework.Train.Data;

namespace SeFramework.Train.Training;

public sealed record EvalResult(double Loss, double Top1, double Top5, int Count, double[] PerClassAccuracy, int[,] Confusion);

public static class Evaluator
{
    public static EvalResult Evaluate(Module model, DataLoader loader, int numClasses, Device device)
    {
        bool wasTraining = model.Training;
        model.Eval();
        double lossSum = 0;
        long top1 = 0, top5 = 0;
        int count = 0;
        var confusion = new int[numClasses, numClasses];
        using (SeFramework.Autograd.Autograd.NoGrad())
        {
            foreach (var batch in loader.GetEpoch(0))
            {
                using var scope = TensorScope.Begin();
                var labels = batch.LabelSpan.ToArray();
                var x = BatchTensor.Images(batch, device);
                var logits = model.Forward(x);
                lossSum += F.CrossEntropy(logits, labels).Item() * batch.Count;
                var scores = logits.ToFloatArray();
                for (int i = 0; i < batch.Count; i++)
                {
                    var row = scores.AsSpan(i * numClasses, numClasses);
                    int label = labels[i];
                    int predicted = Accuracy.ArgMax(row);
                    int higher = Accuracy.LabelRank(row, label);
                    if (higher == 0) top1++;
                    if (higher < 5) top5++;
                    confusion[label, predicted]++;
                }
                count += batch.Count;
            }
        }
        model.Train(wasTraining);
        var perClass = new double[numClasses];
        for (int c = 0; c < numClasses; c++)
        {
            int total = 0;
            for (int p = 0; p < numClasses; p++) total += confusion[c, p];
            perClass[c] = total == 0 ? double.NaN : (double)confusion[c, c] / total;
        }
        return new EvalResult(count == 0 ? double.NaN : lossSum / count, count == 0 ? 0 : (double)top1 / count, count == 0 ? 0 : (double)top5 / count, count, perClass, confusion);
    }
}

/// <summary>Turns a loader batch into an (N, C, H, W) float32 tensor on the device.</summary>
public static class BatchTensor
{
    public static Tensor Images(Batch batch, Device device)
    {
        var t = Tensor.FromSpan(batch.ImageSpan, batch.Count, batch.Channels, batch.Height, batch.Width);
        return device.Kind == DeviceKind.Cpu ? t : t.To(device);
    }
}
