// The one exception a malformed safetensors file produces on read; its message names the file and the problem.
namespace SeFramework.IO;

/// <summary>
/// Thrown by <see cref="SafeTensors.Read"/> and <see cref="SafeTensors.ReadFrom"/> when the bytes are not a valid
/// safetensors file. <see cref="FilePath"/> is the path (or the stream name given to ReadFrom).
/// </summary>
public sealed class SafeTensorsFormatException : FormatException
{
    public SafeTensorsFormatException(string filePath, string problem, Exception? innerException = null)
        : base($"Safetensors file '{filePath}' is malformed: {problem}", innerException)
    {
        FilePath = filePath;
        Problem = problem;
    }

    /// <summary>The path of the file, or the name given for a stream.</summary>
    public string FilePath { get; }

    /// <summary>The problem alone, without the file name.</summary>
    public string Problem { get; }
}
