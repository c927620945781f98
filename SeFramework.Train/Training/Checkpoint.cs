// Training checkpoints as one safetensors file: the model's state dict under "model.", SGD momentum buffers under
// "optimizer.momentum.", the RNG state, and epoch/step/best accuracy/settings in the metadata, so a run resumes exactly.
using System.Globalization;
using SeFramework.IO;
using SeFramework.Nn;
using SeFramework.Optim;

namespace SeFramework.Train.Training;

/// <summary>What a checkpoint remembers besides tensors.</summary>
public sealed record TrainState(int CompletedEpochs, long Step, double BestTop1, ulong[] RngState, string Settings);

public static class Checkpoint
{
    public const string Format = "seframework-checkpoint-v1";
    private const string ModelPrefix = "model.";
    private const string MomentumPrefix = "optimizer.momentum.";
    private const string RngKey = "rng.state";

    public static void Save(string path, Module model, Sgd? optimizer, TrainState state)
    {
        var entries = new List<SafeTensorEntry>();
        foreach (var (key, t) in model.StateDict()) entries.Add(StateDictFile.ToEntry(ModelPrefix + key, t));
        if (optimizer != null)
        {
            foreach (var (name, p) in model.NamedParameters())
            {
                var buf = optimizer.MomentumBuffer(p);
                if (buf != null) entries.Add(StateDictFile.ToEntry(MomentumPrefix + name, buf));
            }
        }
        entries.Add(SafeTensors.FromInt64(RngKey, new long[] { state.RngState.Length }, state.RngState.Select(u => unchecked((long)u)).ToArray()));
        var meta = new Dictionary<string, string>
        {
            ["format"] = Format,
            ["epoch"] = state.CompletedEpochs.ToString(CultureInfo.InvariantCulture),
            ["step"] = state.Step.ToString(CultureInfo.InvariantCulture),
            ["best_top1"] = state.BestTop1.ToString("R", CultureInfo.InvariantCulture),
            ["settings"] = state.Settings,
        };
        SafeTensors.Write(path, entries, meta);
    }

    /// <summary>Loads model weights (and, when given, the optimizer's momentum) and returns the training state.
    /// A plain state-dict file (no "model." prefix) is accepted too, for evaluation of exported weights.</summary>
    public static TrainState Load(string path, Module model, Sgd? optimizer)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"checkpoint '{path}' does not exist", path);
        var file = SafeTensors.Read(path);
        bool ours = file.Metadata.TryGetValue("format", out var f) && f == Format;
        var modelState = new Dictionary<string, Tensor>();
        using (TensorScope.Suspend())
        {
            foreach (var e in file.Entries)
            {
                if (ours && e.Name.StartsWith(ModelPrefix, StringComparison.Ordinal)) modelState[e.Name[ModelPrefix.Length..]] = StateDictFile.FromEntry(e);
                else if (!ours) modelState[e.Name] = StateDictFile.FromEntry(e);
            }
        }
        try
        {
            model.LoadStateDict(modelState);
        }
        catch (StateDictException ex)
        {
            throw new StateDictException($"checkpoint '{path}' does not fit the model: {ex.Message}");
        }
        if (!ours) return new TrainState(0, 0, 0, Array.Empty<ulong>(), "");

        if (optimizer != null)
        {
            foreach (var (name, p) in model.NamedParameters())
                if (file.TryGet(MomentumPrefix + name, out var e)) optimizer.SetMomentumBuffer(p, StateDictFile.FromEntry(e).To(p.DType));
        }
        var rng = file.TryGet(RngKey, out var r) ? SafeTensors.ToInt64(r).Select(v => unchecked((ulong)v)).ToArray() : Array.Empty<ulong>();
        return new TrainState(
            int.Parse(file.Metadata["epoch"], CultureInfo.InvariantCulture),
            long.Parse(file.Metadata["step"], CultureInfo.InvariantCulture),
            double.Parse(file.Metadata["best_top1"], CultureInfo.InvariantCulture),
            rng,
            file.Metadata.TryGetValue("settings", out var s) ? s : "");
    }
}
