// Caffe layer names of the released prototxts map onto this zoo's state-dict keys (senet.md §7.2).
using Xunit;

namespace SeFramework.Models.Tests;

public class CaffeNamesTests
{
    [Theory] // residual nets map onto the legacy keys, Inception onto the zoo keys
    [InlineData(false, "conv1/7x7_s2", "layer0.conv1", CaffeBlobKind.Weights)]
    [InlineData(false, "conv1/7x7_s2/bn", "layer0.bn1", CaffeBlobKind.BatchNormStats)]
    [InlineData(false, "conv1/7x7_s2/bn/scale", "layer0.bn1", CaffeBlobKind.BatchNormAffine)]
    [InlineData(false, "conv1_3/3x3", "layer0.conv3", CaffeBlobKind.Weights)]
    [InlineData(false, "conv2_1_1x1_reduce", "layer1.0.conv1", CaffeBlobKind.Weights)]
    [InlineData(false, "conv3_1_1x1_reduce/bn", "layer2.0.bn1", CaffeBlobKind.BatchNormStats)]
    [InlineData(false, "conv4_6_3x3/bn/scale", "layer3.5.bn2", CaffeBlobKind.BatchNormAffine)]
    [InlineData(false, "conv5_3_1x1_increase", "layer4.2.conv3", CaffeBlobKind.Weights)]
    [InlineData(false, "conv2_1_1x1_down", "layer1.0.se_module.fc1", CaffeBlobKind.Weights)]
    [InlineData(false, "conv5_3_1x1_up", "layer4.2.se_module.fc2", CaffeBlobKind.Weights)]
    [InlineData(false, "conv4_1_1x1_proj", "layer3.0.downsample.0", CaffeBlobKind.Weights)]
    [InlineData(false, "conv4_1_1x1_proj/bn", "layer3.0.downsample.1", CaffeBlobKind.BatchNormStats)]
    [InlineData(false, "classifier", "last_linear", CaffeBlobKind.Weights)]
    [InlineData(true, "conv1/7x7_s2", "conv1_7x7_s2", CaffeBlobKind.Weights)]
    [InlineData(true, "conv2/3x3_reduce/bn", "conv2_3x3_reduce_bn", CaffeBlobKind.BatchNormStats)]
    [InlineData(true, "inception_3a/1x1", "inception_3a.1x1", CaffeBlobKind.Weights)]
    [InlineData(true, "inception_3c/double_3x3_2/bn/scale", "inception_3c.double_3x3_2_bn", CaffeBlobKind.BatchNormAffine)]
    [InlineData(true, "inception_4e/1x1_up", "inception_4e.se_module.fc2", CaffeBlobKind.Weights)]
    [InlineData(true, "inception_5b/pool_proj", "inception_5b.pool_proj", CaffeBlobKind.Weights)]
    public void Names_map_to_key_prefixes(bool inception, string caffe, string prefix, CaffeBlobKind kind) =>
        Assert.Equal((prefix, kind), CaffeNames.ToKeyPrefix(caffe, inception));

    [Fact]
    public void Unknown_layers_are_rejected_with_their_name()
    {
        var ex = Assert.Throws<ArgumentException>(() => CaffeNames.ToKeyPrefix("conv6_1_1x1_reduce", inception: false));
        Assert.Contains("conv6_1_1x1_reduce", ex.Message);
    }
}
