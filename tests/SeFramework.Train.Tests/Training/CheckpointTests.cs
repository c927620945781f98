// Checkpoints round-trip model weights and buffers, SGD momentum, RNG state and epoch/step/best; AtomicFile keeps the
// old file when a write fails and leaves no temporary files.
using SeFramework.IO;
using SeFramework.Optim;
using SeFramework.Train.Training;
using Xunit;

namespace SeFramework.Train.Tests.Training;

[Collection(SerialCollection.Name)]
public class CheckpointTests
{
    [Fact]
    public void Checkpoint_round_trips_model_momentum_rng_and_progress()
    {
        using var tmp = new TempFolder();
        var model = TrainerTests.NewTinyModel(seed: 1);
        var opt = new Sgd(model.Parameters(), 0.1, momentum: 0.9, weightDecay: 1e-4);
        // One training step: momentum buffers and batch-norm running statistics become non-trivial.
        // x: (4, 1, 8, 8) -> logits (4, 10)
        using (TensorScope.Begin())
        {
            var x = Tensor.RandN([4, 1, 8, 8], new Rng(3));
            F.CrossEntropy(model.Forward(x), [0, 1, 2, 3]).Backward();
            opt.Step();
            opt.ZeroGrad();
        }
        var rng = new Rng(99);
        rng.NextNormal(); // leaves a spare normal in the state
        var state = new TrainState(3, 123, 0.625, rng.GetState(), "{\"seed\":99}");
        string path = tmp.Sub("ck.safetensors");
        Checkpoint.Save(path, model, opt, state);

        var fresh = TrainerTests.NewTinyModel(seed: 2);
        var freshOpt = new Sgd(fresh.Parameters(), 0.1, momentum: 0.9, weightDecay: 1e-4);
        var before = model.StateDict();
        Assert.Contains(fresh.StateDict(), kv => !kv.Value.ToFloatArray().SequenceEqual(before[kv.Key].ToFloatArray()));

        var loaded = Checkpoint.Load(path, fresh, freshOpt);
        Assert.Equal(3, loaded.CompletedEpochs);
        Assert.Equal(123, loaded.Step);
        Assert.Equal(0.625, loaded.BestTop1);
        Assert.Equal("{\"seed\":99}", loaded.Settings);
        Assert.Equal(state.RngState, loaded.RngState);
        var restored = new Rng(0);
        restored.SetState(loaded.RngState);
        Assert.Equal(rng.NextNormal(), restored.NextNormal());
        Assert.Equal(rng.NextUInt64(), restored.NextUInt64());

        var after = fresh.StateDict();
        Assert.Equal(before.Keys, after.Keys);
        foreach (var (key, t) in before) Assert.Equal(t.ToFloatArray(), after[key].ToFloatArray());
        var oldParams = model.NamedParameters().ToList();
        var newParams = fresh.NamedParameters().ToList();
        for (int i = 0; i < oldParams.Count; i++)
        {
            var m = opt.MomentumBuffer(oldParams[i].Parameter);
            Assert.NotNull(m);
            var restoredMomentum = freshOpt.MomentumBuffer(newParams[i].Parameter);
            Assert.NotNull(restoredMomentum);
            Assert.Equal(m.ToFloatArray(), restoredMomentum.ToFloatArray());
        }
    }

    [Fact]
    public void A_plain_state_dict_file_loads_for_evaluation()
    {
        using var tmp = new TempFolder();
        var model = TrainerTests.NewTinyModel(seed: 5);
        string path = tmp.Sub("weights.safetensors");
        SafeTensors.Write(path, model.StateDict().Select(kv => StateDictFile.ToEntry(kv.Key, kv.Value)).ToList());
        var fresh = TrainerTests.NewTinyModel(seed: 6);
        var state = Checkpoint.Load(path, fresh, null);
        Assert.Equal(0, state.CompletedEpochs);
        foreach (var (key, t) in model.StateDict()) Assert.Equal(t.ToFloatArray(), fresh.StateDict()[key].ToFloatArray());
    }

    [Fact]
    public void A_checkpoint_of_another_model_is_rejected_naming_the_file()
    {
        using var tmp = new TempFolder();
        string path = tmp.Sub("ck.safetensors");
        Checkpoint.Save(path, TrainerTests.NewTinyModel(), null, new TrainState(1, 1, 0, [], ""));
        var other = SeFramework.Models.ModelRegistry.Create("se_resnet32", new SeFramework.Models.ModelOptions { NumClasses = 10, InChannels = 1, Reduction = 4 });
        var e = Assert.Throws<SeFramework.Nn.StateDictException>(() => Checkpoint.Load(path, other, null));
        Assert.Contains(path, e.Message);
        Assert.Throws<FileNotFoundException>(() => Checkpoint.Load(tmp.Sub("none.safetensors"), other, null));
    }

    [Fact]
    public void AtomicFile_keeps_the_old_file_when_the_writer_throws_and_leaves_no_temp_files()
    {
        using var tmp = new TempFolder();
        string path = tmp.Sub("metrics.csv");
        AtomicFile.WriteAllText(path, "old\n");
        var e = Assert.Throws<InvalidOperationException>(() => AtomicFile.Write(path, s =>
        {
            s.Write("new, half written"u8);
            throw new InvalidOperationException("disk on fire");
        }));
        Assert.Equal("disk on fire", e.Message);
        Assert.Equal("old\n", File.ReadAllText(path));
        Assert.Equal([path], Directory.GetFiles(tmp.Path));

        AtomicFile.WriteAllText(path, "new\n");
        Assert.Equal("new\n", File.ReadAllText(path));
        Assert.Equal([path], Directory.GetFiles(tmp.Path));

        // A first write that fails leaves nothing at all.
        string other = tmp.Sub("sub/other.txt");
        Assert.Throws<InvalidOperationException>(() => AtomicFile.Write(other, _ => throw new InvalidOperationException("x")));
        Assert.False(File.Exists(other));
        Assert.Empty(Directory.GetFiles(tmp.Sub("sub")));
    }
}
