// Smoke tests of the reference itself: libtorch loads on this platform, and two ops the reference tests lean on
// (conv2d, mm) give values computed by hand. If these fail, every comparison against torch is meaningless.
using System.Runtime.InteropServices;
using TorchSharp;

namespace SeFramework.Reference.Tests;

public class LibTorchSmokeTests
{
    [Fact]
    public void Libtorch_loads_on_linux_x64()
    {
        if (!(OperatingSystem.IsLinux() && RuntimeInformation.ProcessArchitecture == Architecture.X64))
            Assert.Skip($"TorchSharp-cpu is only wired up for linux-x64; this is {RuntimeInformation.RuntimeIdentifier}");
        // On linux-x64 the build patches libtorch (tools/torchsharp-debian12), so failing to load is a bug, not a skip.
        Assert.True(LibTorch.TryLoad(out string reason), $"libtorch could not be loaded: {reason}");
        Assert.Equal(1, torch.get_num_threads());
    }

    [Fact]
    public void Conv2d_3x3_input_2x2_kernel_matches_hand_computed_values()
    {
        LibTorch.RequireOrSkip();
        // x: (1, 1, 3, 3) = 1..9, w: (1, 1, 2, 2) = [[1, 2], [3, 4]], bias 0.5 -> (1, 1, 2, 2)
        // out[i, j] = sum_{p,q} x[i+p, j+q] w[p, q] + b: 1+4+12+20 = 37, 2+6+15+24 = 47, 4+10+21+32 = 67, 5+12+24+36 = 77.
        using var x = Torch.FromArray([1f, 2, 3, 4, 5, 6, 7, 8, 9], [1, 1, 3, 3]);
        using var w = Torch.FromArray([1f, 2, 3, 4], [1, 1, 2, 2], requiresGrad: true);
        using var b = Torch.FromArray([0.5f], [1]);
        using var y = torch.nn.functional.conv2d(x, w, b);

        Assert.Equal([1L, 1, 2, 2], y.shape);
        Assert.Equal([37.5f, 47.5f, 67.5f, 77.5f], Torch.ToFloatArray(y));

        // d(sum y)/dw[p, q] = sum over output positions of x[i+p, j+q]: 1+2+4+5 = 12, 2+3+5+6 = 16, 4+5+7+8 = 24, 5+6+8+9 = 28.
        using var loss = y.sum();
        loss.backward();
        Assert.Equal([12f, 16f, 24f, 28f], Torch.GradToFloatArray(w));
    }

    [Fact]
    public void Conv2d_stride2_padding1_matches_hand_computed_values()
    {
        LibTorch.RequireOrSkip();
        // x: (1, 1, 3, 3) = 1..9 zero-padded to 5x5, w = [[1, 2], [3, 4]], stride 2 -> (1, 1, 2, 2):
        // (0,0) sees only x[0,0]*w[1,1] = 4; (0,1): x[0,1]*w[1,0] + x[0,2]*w[1,1] = 6+12 = 18;
        // (1,0): x[1,0]*w[0,1] + x[2,0]*w[1,1] = 8+28 = 36; (1,1): 5*1 + 6*2 + 8*3 + 9*4 = 77.
        using var x = Torch.FromArray([1f, 2, 3, 4, 5, 6, 7, 8, 9], [1, 1, 3, 3]);
        using var w = Torch.FromArray([1f, 2, 3, 4], [1, 1, 2, 2]);
        using var y = torch.nn.functional.conv2d(x, w, strides: [2, 2], padding: [1, 1]);
        Assert.Equal([4f, 18f, 36f, 77f], Torch.ToFloatArray(y));
    }

    [Fact]
    public void Mm_matches_hand_computed_product()
    {
        LibTorch.RequireOrSkip();
        // a: (2, 3), b: (3, 2) -> (2, 2): [[1*7+2*9+3*11, 1*8+2*10+3*12], [4*7+5*9+6*11, 4*8+5*10+6*12]].
        using var a = Torch.FromArray([1.0, 2, 3, 4, 5, 6], [2, 3]);
        using var b = Torch.FromArray([7.0, 8, 9, 10, 11, 12], [3, 2]);
        using var c = torch.mm(a, b);
        Assert.Equal(torch.float64, c.dtype);
        Assert.Equal([58.0, 64, 139, 154], Torch.ToDoubleArray(c));
    }
}
