// Caffe layer name → state-dict key prefix for the released SENet prototxts (senet.md §7.2, inferred from structure:
// shapes match, not checked against a conversion script). A loader of .caffemodel files maps each layer's blobs with it.
using System.Text.RegularExpressions;

namespace SeFramework.Models;

/// <summary>What a Caffe layer's blobs become: conv/FC weight (+bias), BN statistics (mean·f, var·f, f) or BN affine (γ, β).</summary>
public enum CaffeBlobKind { Weights, BatchNormStats, BatchNormAffine }

public static partial class CaffeNames
{
    [GeneratedRegex(@"^conv(?<s>[2-5])_(?<b>\d+)_(?<part>1x1_reduce|3x3|1x1_increase|1x1_down|1x1_up|\dx\d_proj)(?<bn>/bn(?<scale>/scale)?)?$")]
    private static partial Regex ResidualLayer();

    [GeneratedRegex(@"^conv1(?:_(?<i>[1-3]))?/(?:7x7_s2|3x3_s2|3x3)(?<bn>/bn(?<scale>/scale)?)?$")]
    private static partial Regex ResidualStem();

    [GeneratedRegex(@"^(?<module>inception_[345][a-e])/(?<part>[^/]+)(?<bn>/bn(?<scale>/scale)?)?$")]
    private static partial Regex InceptionLayer();

    [GeneratedRegex(@"^(?<part>conv[12]/[^/]+)(?<bn>/bn(?<scale>/scale)?)?$")]
    private static partial Regex InceptionStem();

    /// <summary>
    /// The key prefix (module path) of a Caffe layer: SE-ResNet/SE-ResNeXt/SENet-154 ("conv3_1_1x1_reduce/bn" →
    /// layer2.0.bn1, "conv2_1_1x1_down" → layer1.0.se_module.fc1, "conv4_1_1x1_proj" → layer3.0.downsample.0,
    /// "classifier" → last_linear) or SE-BN-Inception when <paramref name="inception"/> ("inception_3a/1x1/bn" →
    /// inception_3a.1x1_bn, "inception_4e/1x1_up" → inception_4e.se_module.fc2, "conv2/3x3_reduce" → conv2_3x3_reduce).
    /// </summary>
    public static (string Prefix, CaffeBlobKind Kind) ToKeyPrefix(string caffeLayer, bool inception)
    {
        static CaffeBlobKind Kind(Match m) => !m.Groups["bn"].Success ? CaffeBlobKind.Weights
            : m.Groups["scale"].Success ? CaffeBlobKind.BatchNormAffine : CaffeBlobKind.BatchNormStats;

        if (caffeLayer == "classifier") return ("last_linear", CaffeBlobKind.Weights);
        if (inception)
        {
            var m = InceptionLayer().Match(caffeLayer);
            if (m.Success)
            {
                string part = m.Groups["part"].Value;
                string child = part switch { "1x1_down" => "se_module.fc1", "1x1_up" => "se_module.fc2", _ => part + (m.Groups["bn"].Success ? "_bn" : "") };
                return ($"{m.Groups["module"].Value}.{child}", Kind(m));
            }
            m = InceptionStem().Match(caffeLayer);
            if (m.Success) return (m.Groups["part"].Value.Replace('/', '_') + (m.Groups["bn"].Success ? "_bn" : ""), Kind(m));
        }
        else
        {
            var m = ResidualLayer().Match(caffeLayer);
            if (m.Success)
            {
                bool bn = m.Groups["bn"].Success;
                string block = $"layer{int.Parse(m.Groups["s"].Value) - 1}.{int.Parse(m.Groups["b"].Value) - 1}";
                string part = m.Groups["part"].Value;
                string child = part switch
                {
                    "1x1_reduce" => bn ? "bn1" : "conv1",
                    "3x3" => bn ? "bn2" : "conv2",
                    "1x1_increase" => bn ? "bn3" : "conv3",
                    "1x1_down" => "se_module.fc1",
                    "1x1_up" => "se_module.fc2",
                    _ => bn ? "downsample.1" : "downsample.0",
                };
                return ($"{block}.{child}", Kind(m));
            }
            m = ResidualStem().Match(caffeLayer);
            if (m.Success)
            {
                string i = m.Groups["i"].Success ? m.Groups["i"].Value : "1";
                return ($"layer0.{(m.Groups["bn"].Success ? "bn" : "conv")}{i}", Kind(m));
            }
        }
        throw new ArgumentException($"Caffe layer '{caffeLayer}' has no {(inception ? "SE-BN-Inception" : "SE-ResNet/SE-ResNeXt/SENet-154")} counterpart; see senet.md §7.2 for the naming scheme");
    }
}
