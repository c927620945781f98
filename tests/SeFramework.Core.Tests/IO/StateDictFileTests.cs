// A module's state dict saved as safetensors loads into a fresh module with identical values; bad files fail clearly.
using SeFramework.IO;
using SeFramework.Nn;
using Xunit;

namespace SeFramework.Tests;

public class StateDictFileTests
{
    [Fact]
    public void Saved_module_loads_into_a_fresh_module_with_identical_outputs()
    {
        var dir = Directory.CreateTempSubdirectory("se-sd-");
        try
        {
            var path = Path.Combine(dir.FullName, "m.safetensors");
            var a = new Sequential(new Linear(4, 3, rng: new Rng(1)), new ReLU(), new Linear(3, 2, rng: new Rng(2)));
            var b = new Sequential(new Linear(4, 3, rng: new Rng(3)), new ReLU(), new Linear(3, 2, rng: new Rng(4)));
            StateDictFile.SaveModule(a, path, new Dictionary<string, string> { ["format"] = "pt" });
            StateDictFile.LoadModule(b, path);
            var x = Tensor.RandN(new[] { 5, 4 }, new Rng(9));
            Assert.Equal(a.Forward(x).ToFloatArray(), b.Forward(x).ToFloatArray());
            var loaded = StateDictFile.Load(path, out var meta);
            Assert.Equal("pt", meta["format"]);
            Assert.Equal(new[] { "0.weight", "0.bias", "2.weight", "2.bias" }, loaded.Keys.ToArray());

            var wrong = new Sequential(new Linear(4, 5));
            var ex = Assert.Throws<StateDictException>(() => StateDictFile.LoadModule(wrong, path));
            Assert.Contains(path, ex.Message);
            Assert.Contains("'0.weight'", ex.Message);

            File.WriteAllBytes(path, File.ReadAllBytes(path).AsSpan(0, 20).ToArray());
            Assert.Throws<SafeTensorsFormatException>(() => StateDictFile.LoadModule(b, path));
        }
        finally
        {
            dir.Delete(true);
        }
    }
}
