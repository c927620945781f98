// The parsed content of a safetensors file: metadata and the entries in data-section order, with lookup by name.
using System.Collections.ObjectModel;
using System.Diagnostics.CodeAnalysis;

namespace SeFramework.IO;

/// <summary>What <see cref="SafeTensors.Read"/> returns: the header's metadata and every tensor with its bytes.</summary>
public sealed class SafeTensorsFile
{
    private readonly Dictionary<string, SafeTensorEntry> byName;

    internal SafeTensorsFile(string source, Dictionary<string, string> metadata, List<SafeTensorEntry> entries)
    {
        Source = source;
        Metadata = new ReadOnlyDictionary<string, string>(metadata);
        Entries = entries.AsReadOnly();
        byName = new Dictionary<string, SafeTensorEntry>(entries.Count, StringComparer.Ordinal);
        foreach (SafeTensorEntry entry in entries) byName.Add(entry.Name, entry);
    }

    /// <summary>The path read, or the name given for a stream.</summary>
    public string Source { get; }

    /// <summary>The header's "__metadata__" map; empty when the file has none.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>All tensors, in the order their bytes appear in the file.</summary>
    public IReadOnlyList<SafeTensorEntry> Entries { get; }

    public int Count => Entries.Count;

    public IEnumerable<string> Names => Entries.Select(e => e.Name);

    /// <summary>The tensor called <paramref name="name"/>; KeyNotFoundException listing some names if absent.</summary>
    public SafeTensorEntry this[string name]
    {
        get
        {
            if (TryGet(name, out SafeTensorEntry? entry)) return entry;
            const int shown = 10;
            string names = string.Join(", ", Entries.Take(shown).Select(e => $"'{e.Name}'"));
            string more = Entries.Count > shown ? $", ... ({Entries.Count - shown} more)" : "";
            throw new KeyNotFoundException(
                $"Safetensors file '{Source}' has no tensor named '{name}'; it holds {Entries.Count}: {names}{more}. " +
                "Check the name (PyTorch style, e.g. 'layer1.0.conv1.weight') or use TryGet.");
        }
    }

    public bool TryGet(string name, [MaybeNullWhen(false)] out SafeTensorEntry entry) => byName.TryGetValue(name, out entry);

    public bool Contains(string name) => byName.ContainsKey(name);
}
