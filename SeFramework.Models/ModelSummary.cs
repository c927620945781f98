// ModelSummary: parameters and conv+FC multiply-accumulates of a model at an input size, in total and per stage,
// from shape propagation through the model's layer descriptions; rendered as a text table or JSON for `se info`.
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace SeFramework.Models;

/// <summary>One stage: its output shape per sample, learnable parameters and MACs per sample.</summary>
public sealed record StageSummary(string Name, FeatureShape Output, long Params, long Macs);

/// <summary>A model's counts for one input image of shape <see cref="Input"/> (MACs per image).</summary>
public sealed record ModelSummary(string Model, FeatureShape Input, FeatureShape Output, long Params, long Macs, IReadOnlyList<StageSummary> Stages)
{
    public StageSummary Stage(string name) => Stages.FirstOrDefault(s => s.Name == name)
        ?? throw new ArgumentException($"{Model} has no stage '{name}'; stages: {string.Join(", ", Stages.Select(s => s.Name))}");

    /// <summary>A fixed-width table: stage, output shape, parameters, MACs, then the totals.</summary>
    public string ToTable()
    {
        var inv = CultureInfo.InvariantCulture;
        int nameWidth = Math.Max(5, Stages.Max(s => s.Name.Length));
        var sb = new StringBuilder();
        sb.Append(inv, $"{Model}  input {Input}  output {Output}\n");
        sb.Append("stage".PadRight(nameWidth)).Append("  ").Append("output".PadRight(14)).Append("params".PadLeft(14)).Append("MACs".PadLeft(18)).Append('\n');
        foreach (var s in Stages)
            sb.Append(s.Name.PadRight(nameWidth)).Append("  ").Append(s.Output.ToString().PadRight(14))
              .Append(s.Params.ToString("N0", inv).PadLeft(14)).Append(s.Macs.ToString("N0", inv).PadLeft(18)).Append('\n');
        sb.Append("total".PadRight(nameWidth)).Append("  ").Append(new string(' ', 14))
          .Append(Params.ToString("N0", inv).PadLeft(14)).Append(Macs.ToString("N0", inv).PadLeft(18)).Append('\n');
        sb.Append(inv, $"{Params / 1e6:F2} M parameters, {Macs / 1e9:F3} GMACs per image\n");
        return sb.ToString();
    }

    /// <summary>{"model", "params", "macs", "input": [C,H,W], "output", "stages": [{"name","output","params","macs"}]}.</summary>
    public string ToJson(bool indented = false)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = indented }))
        {
            w.WriteStartObject();
            w.WriteString("model", Model);
            w.WriteNumber("params", Params);
            w.WriteNumber("macs", Macs);
            WriteShape(w, "input", Input);
            WriteShape(w, "output", Output);
            w.WriteStartArray("stages");
            foreach (var s in Stages)
            {
                w.WriteStartObject();
                w.WriteString("name", s.Name);
                WriteShape(w, "output", s.Output);
                w.WriteNumber("params", s.Params);
                w.WriteNumber("macs", s.Macs);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    private static void WriteShape(Utf8JsonWriter w, string name, FeatureShape shape)
    {
        w.WriteStartArray(name);
        foreach (var d in shape.ToArray()) w.WriteNumberValue(d);
        w.WriteEndArray();
    }
}
