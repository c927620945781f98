// Atomic writes: a failed write, whether rejected up front or failing midway, leaves the old file and no temp files.
using SeFramework.IO;
using Xunit;

namespace SeFramework.Tests.IO;

public class SafeTensorsAtomicWriteTests
{
    private static readonly SafeTensorEntry[] OldContent = [SafeTensors.FromFloat32("w", [2], [1f, 2f])];
    private static readonly SafeTensorEntry[] NewContent =
        [SafeTensors.FromFloat32("w", [3], [4f, 5f, 6f]), SafeTensors.FromInt64("step", [], [10])];

    [Fact]
    public void Overwriting_replaces_the_file_and_leaves_no_temp_files()
    {
        using var dir = new TempDirectory();
        string path = dir.File("ckpt.safetensors");
        SafeTensors.Write(path, OldContent);
        SafeTensors.Write(path, NewContent, new Dictionary<string, string> { ["epoch"] = "2" });

        SafeTensorsFile file = SafeTensors.Read(path);
        Assert.Equal([4f, 5f, 6f], SafeTensors.ToFloat32(file["w"]));
        Assert.Equal("2", file.Metadata["epoch"]);
        Assert.Equal(["ckpt.safetensors"], dir.FileNames());
    }

    public static TheoryData<string, SafeTensorEntry[], string> InvalidEntries => new()
    {
        { "data length wrong", [SafeTensors.FromFloat32("ok", [1], [1f]), new SafeTensorEntry("fc.weight", "F32", [2, 2], new byte[12])], "needs 16 bytes but Data holds 12" },
        { "duplicate names", [SafeTensors.FromFloat32("a", [1], [1f]), SafeTensors.FromFloat32("a", [1], [2f])], "Two entries are named 'a'" },
        { "empty name", [new SafeTensorEntry("", "U8", [1], [1])], "empty name" },
        { "reserved name", [new SafeTensorEntry("__metadata__", "U8", [1], [1])], "reserves" },
        { "unknown dtype", [new SafeTensorEntry("x", "F8", [1], [1])], "unknown dtype 'F8'" },
        { "negative dimension", [new SafeTensorEntry("x", "U8", [-1], [])], "negative dimension" },
        { "null entry", [null!], "Entry 0 is null" },
    };

    [Theory]
    [MemberData(nameof(InvalidEntries))]
    public void Invalid_entries_are_rejected_up_front_and_the_old_file_is_intact(string caseName, SafeTensorEntry[] entries, string problem)
    {
        using var dir = new TempDirectory();
        string path = dir.File("ckpt.safetensors");
        SafeTensors.Write(path, OldContent);
        byte[] before = File.ReadAllBytes(path);

        var ex = Assert.Throws<ArgumentException>(() => SafeTensors.Write(path, entries));

        Assert.Contains(problem, ex.Message);
        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.True(dir.FileNames() is ["ckpt.safetensors"], $"{caseName}: files left: {string.Join(", ", dir.FileNames())}");
        Assert.Throws<ArgumentException>(() => SafeTensors.WriteTo(new MemoryStream(), entries));
    }

    [Theory]
    [InlineData(0)]    // fails on the length prefix
    [InlineData(20)]   // fails inside the header
    [InlineData(-4)]   // fails 4 bytes before the end, inside the data
    public void A_write_that_fails_midway_leaves_the_old_file_intact_and_no_temp_file(int failAt)
    {
        using var dir = new TempDirectory();
        string path = dir.File("ckpt.safetensors");
        SafeTensors.Write(path, OldContent);
        byte[] before = File.ReadAllBytes(path);
        using var probe = new MemoryStream();
        SafeTensors.WriteTo(probe, NewContent);
        long bytesBeforeFailure = failAt >= 0 ? failAt : probe.Length + failAt;

        var ex = Assert.Throws<IOException>(() =>
            SafeTensors.WriteAtomically(path, NewContent, null, file => new FailingStream(file, bytesBeforeFailure)));

        Assert.Contains("Simulated failure", ex.Message);
        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Equal(["ckpt.safetensors"], dir.FileNames());
    }

    [Fact]
    public void A_failed_first_write_leaves_no_file_at_all()
    {
        using var dir = new TempDirectory();
        string path = dir.File("new.safetensors");
        Assert.Throws<IOException>(() => SafeTensors.WriteAtomically(path, NewContent, null, file => new FailingStream(file, 10)));
        Assert.Empty(dir.FileNames());
    }

    [Fact]
    public void Writing_into_a_missing_directory_fails_with_the_io_error_and_creates_nothing()
    {
        using var dir = new TempDirectory();
        string path = Path.Combine(dir.Path, "missing", "ckpt.safetensors");
        Assert.Throws<DirectoryNotFoundException>(() => SafeTensors.Write(path, NewContent));
        Assert.False(Directory.Exists(Path.Combine(dir.Path, "missing")));
    }
}
