// Accuracy: the one definition of a correct top-k prediction, shared by the training loop and the evaluator.
namespace SeFramework.Train.Training;

public static class Accuracy
{
    /// <summary>scores: (classes) of one sample -> how many classes rank above the label: those with a higher score,
    /// and those with an equal score and a smaller index (so rank 0 means the label is the first arg-max, as argmax
    /// picks it). Top-k is correct when the rank is below k.</summary>
    public static int LabelRank(ReadOnlySpan<float> scores, int label)
    {
        if ((uint)label >= (uint)scores.Length)
            throw new ArgumentOutOfRangeException(nameof(label), $"label {label} is outside the {scores.Length} classes of the model's output");
        float target = scores[label];
        int higher = 0;
        for (int k = 0; k < scores.Length; k++)
            if (scores[k] > target || (scores[k] == target && k < label)) higher++;
        return higher;
    }

    /// <summary>scores: (classes) of one sample -> the index of the first maximum (the prediction; rank 0 of LabelRank).</summary>
    public static int ArgMax(ReadOnlySpan<float> scores)
    {
        int best = 0;
        for (int k = 1; k < scores.Length; k++)
            if (scores[k] > scores[best]) best = k;
        return best;
    }

    /// <summary>logits: (N, classes) row-major -> the number of rows whose label has rank 0 (top-1 hits).</summary>
    public static int Top1Hits(ReadOnlySpan<float> logits, ReadOnlySpan<int> labels)
    {
        int classes = logits.Length / Math.Max(1, labels.Length), hits = 0;
        for (int i = 0; i < labels.Length; i++)
            if (LabelRank(logits.Slice(i * classes, classes), labels[i]) == 0) hits++;
        return hits;
    }
}
