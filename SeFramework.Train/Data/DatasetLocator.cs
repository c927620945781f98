// Finds a dataset directory: an explicit --data path, else $SE_DATA_DIR, ./data/<name>, /usr/share/datasets/<name>.
// An explicit path is the only place looked when given: a typo in --data must fail loudly, not fall back silently.
namespace SeFramework.Train.Data;

public static class DatasetLocator
{
    public const string EnvironmentVariable = "SE_DATA_DIR";

    /// <summary>The directories to try, in order, for a dataset whose conventional folder name is <paramref name="folder"/>.</summary>
    public static IReadOnlyList<string> CandidateDirectories(string? explicitDir, string folder)
    {
        var dirs = new List<string>();
        if (!string.IsNullOrEmpty(explicitDir))
        {
            dirs.Add(Path.GetFullPath(explicitDir));
            dirs.Add(Path.GetFullPath(Path.Combine(explicitDir, folder)));
            return dirs;
        }
        string? env = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (!string.IsNullOrEmpty(env))
        {
            dirs.Add(Path.GetFullPath(env));
            dirs.Add(Path.GetFullPath(Path.Combine(env, folder)));
        }
        dirs.Add(Path.GetFullPath(Path.Combine("data", folder)));
        dirs.Add(Path.Combine("/usr/share/datasets", folder));
        return dirs;
    }

    /// <summary>The first of <paramref name="names"/> (each tried as is and with ".gz") present in <paramref name="dir"/>, or null.</summary>
    public static string? FindFile(string dir, params string[] names)
    {
        foreach (string name in names)
        {
            string raw = Path.Combine(dir, name);
            if (File.Exists(raw)) return raw;
            if (File.Exists(raw + ".gz")) return raw + ".gz";
        }
        return null;
    }

    /// <summary>Opens a file for reading, transparently un-gzipping it when it starts with the gzip magic 1f 8b.</summary>
    public static Stream OpenMaybeGzip(string path)
    {
        var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        int b0 = file.ReadByte(), b1 = file.ReadByte();
        file.Position = 0;
        if (b0 == 0x1f && b1 == 0x8b)
            return new BufferedStream(new System.IO.Compression.GZipStream(file, System.IO.Compression.CompressionMode.Decompress), 1 << 16);
        return file;
    }

    /// <summary>Reads exactly <paramref name="buffer"/>.Length bytes or returns how many were available.</summary>
    internal static int ReadFully(Stream stream, Span<byte> buffer)
    {
        int total = 0;
        while (total < buffer.Length)
        {
            int n = stream.Read(buffer[total..]);
            if (n == 0) break;
            total += n;
        }
        return total;
    }
}
