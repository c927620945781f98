// Tensors ↔ safetensors: saves a state dict (name → tensor) atomically and loads one back, converting F16/BF16
// (and integer) entries to float32 so PyTorch- or timm-exported checkpoints load into our modules.
using SeFramework.Nn;

namespace SeFramework.IO;

public static class StateDictFile
{
    /// <summary>Writes every tensor (float32 as F32, float64 as F64) in dictionary order, atomically.</summary>
    public static void Save(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var entries = new List<SafeTensorEntry>();
        foreach (var (name, tensor) in tensors) entries.Add(ToEntry(name, tensor));
        SafeTensors.Write(path, entries, metadata);
    }

    public static SafeTensorEntry ToEntry(string name, Tensor tensor)
    {
        var shape = tensor.Shape.Select(d => (long)d).ToArray();
        return tensor.DType switch
        {
            DType.Float64 => SafeTensors.FromFloat64(name, shape, tensor.ToDoubleArray()),
            DType.Float32 => SafeTensors.FromFloat32(name, shape, tensor.ToFloatArray()),
            _ => throw new NotSupportedException($"saving tensor '{name}' of dtype {tensor.DType}: convert it to Float32 first"),
        };
    }

    /// <summary>Reads every entry as a CPU tensor: F64 stays float64, every other dtype becomes float32.</summary>
    public static OrderedDictionary<string, Tensor> Load(string path, out IReadOnlyDictionary<string, string> metadata)
    {
        var file = SafeTensors.Read(path);
        metadata = file.Metadata;
        var result = new OrderedDictionary<string, Tensor>();
        using var _ = TensorScope.Suspend();
        foreach (var e in file.Entries) result.Add(e.Name, FromEntry(e));
        return result;
    }

    public static OrderedDictionary<string, Tensor> Load(string path) => Load(path, out _);

    public static Tensor FromEntry(SafeTensorEntry e)
    {
        var shape = e.Shape.Select(d => checked((int)d)).ToArray();
        return e.DType == "F64" ? Tensor.FromArray(SafeTensors.ToFloat64(e), shape) : Tensor.FromArray(SafeTensors.ToFloat32(e), shape);
    }

    /// <summary>Saves the module's parameters and buffers.</summary>
    public static void SaveModule(Module module, string path, IReadOnlyDictionary<string, string>? metadata = null)
        => Save(path, module.StateDict(), metadata);

    /// <summary>Loads parameters and buffers from a safetensors file into the module (see Module.LoadStateDict).</summary>
    public static void LoadModule(Module module, string path, bool strict = true)
    {
        var state = Load(path);
        try
        {
            module.LoadStateDict(state, strict);
        }
        catch (StateDictException ex)
        {
            throw new StateDictException($"{path}: {ex.Message}");
        }
    }
}
