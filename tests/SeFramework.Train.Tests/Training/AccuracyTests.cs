// Accuracy.LabelRank / ArgMax / Top1Hits: the shared top-k rule of the training loop and the evaluator, ties included.
using SeFramework.Train.Training;
using Xunit;

namespace SeFramework.Train.Tests.Training;

public class AccuracyTests
{
    [Fact]
    public void Rank_counts_higher_scores_and_earlier_ties()
    {
        float[] scores = [0.1f, 0.7f, 0.7f, 0.2f, 0.9f];
        Assert.Equal(0, Accuracy.LabelRank(scores, 4)); // the maximum
        Assert.Equal(1, Accuracy.LabelRank(scores, 1)); // below 0.9 only; the tie at index 2 comes after it
        Assert.Equal(2, Accuracy.LabelRank(scores, 2)); // below 0.9 and the earlier equal score at index 1
        Assert.Equal(4, Accuracy.LabelRank(scores, 0));
    }

    [Fact]
    public void Top1_hit_means_the_label_is_the_first_argmax()
    {
        // rows: (3 classes) each; row 0 ties classes 0 and 2 (argmax picks 0), row 1 is a clear hit, row 2 a miss.
        float[] logits = [1f, 0f, 1f, /**/ 0f, 3f, 1f, /**/ 5f, 4f, 0f];
        Assert.Equal(1 + 1 + 0, Accuracy.Top1Hits(logits, [0, 1, 1]));
        Assert.Equal(0 + 1 + 0, Accuracy.Top1Hits(logits, [2, 1, 1])); // the tie's later class is not top-1
    }

    [Fact]
    public void ArgMax_is_the_first_maximum_and_has_rank_zero()
    {
        float[] scores = [0.1f, 0.9f, 0.2f, 0.9f];
        Assert.Equal(1, Accuracy.ArgMax(scores)); // the tie at index 3 comes later
        Assert.Equal(0, Accuracy.LabelRank(scores, Accuracy.ArgMax(scores)));
        Assert.Equal(2, Accuracy.ArgMax([0f, 1f, 2f]));
    }

    [Fact]
    public void A_label_outside_the_classes_is_an_error_naming_both()
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => Accuracy.LabelRank([0f, 1f], 2));
        Assert.Contains("label 2", ex.Message);
        Assert.Contains("2 classes", ex.Message);
    }
}
