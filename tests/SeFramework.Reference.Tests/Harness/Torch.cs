// Conversions between plain arrays (row-major data + shape) and TorchSharp tensors, for comparing SeFramework
// results with libtorch. Every call first makes sure libtorch is loaded (skipping the test if it cannot be).
using TorchSharp;

namespace SeFramework.Reference.Tests;

/// <summary>Array/tensor conversions. Tensors are CPU tensors; the arrays are always copied, never shared.</summary>
public static class Torch
{
    /// <summary>data (row-major, length = product of shape) -> float32 tensor of that shape, a leaf when requiresGrad.</summary>
    public static torch.Tensor FromArray(float[] data, long[] shape, bool requiresGrad = false)
    {
        CheckLength(data.Length, shape, nameof(data));
        LibTorch.RequireOrSkip();
        using var scope = torch.NewDisposeScope();
        return Own(torch.tensor(data, shape, dtype: torch.float32), requiresGrad);
    }

    /// <summary>data (row-major, length = product of shape) -> float64 tensor of that shape, a leaf when requiresGrad.</summary>
    public static torch.Tensor FromArray(double[] data, long[] shape, bool requiresGrad = false)
    {
        CheckLength(data.Length, shape, nameof(data));
        LibTorch.RequireOrSkip();
        using var scope = torch.NewDisposeScope();
        return Own(torch.tensor(data, shape, dtype: torch.float64), requiresGrad);
    }

    /// <summary>Any tensor (any dtype, strides, grad state) -> its values in row-major order as float32.</summary>
    public static float[] ToFloatArray(torch.Tensor tensor)
    {
        using var scope = torch.NewDisposeScope();
        var flat = tensor.detach().cpu().to_type(torch.float32).contiguous().reshape(-1);
        return flat.data<float>().ToArray();
    }

    /// <summary>Any tensor (any dtype, strides, grad state) -> its values in row-major order as float64.</summary>
    public static double[] ToDoubleArray(torch.Tensor tensor)
    {
        using var scope = torch.NewDisposeScope();
        var flat = tensor.detach().cpu().to_type(torch.float64).contiguous().reshape(-1);
        return flat.data<double>().ToArray();
    }

    /// <summary>The gradient accumulated in a leaf tensor, as float32 row-major; fails the test when there is none.</summary>
    public static float[] GradToFloatArray(torch.Tensor leaf)
    {
        using var grad = leaf.grad;
        if (grad is null)
            Assert.Fail("the tensor has no .grad: was it created with requiresGrad: true, and was backward() called?");
        return ToFloatArray(grad);
    }

    // clone(): own libtorch storage, independent of the managed array whatever torch.tensor() does with it
    // (the harness tests check this); the result survives the caller's dispose scope.
    static torch.Tensor Own(torch.Tensor fromArray, bool requiresGrad)
    {
        var owned = fromArray.clone();
        if (requiresGrad) owned.requires_grad_(true);
        return owned.MoveToOuterDisposeScope();
    }

    static void CheckLength(int length, long[] shape, string paramName)
    {
        long count = 1;
        foreach (long d in shape)
        {
            if (d < 0) throw new ArgumentException($"shape [{string.Join(", ", shape)}] has a negative dimension", nameof(shape));
            count *= d;
        }
        if (count != length)
            throw new ArgumentException(
                $"{paramName} has {length} elements but shape [{string.Join(", ", shape)}] needs {count}; pass data in row-major order with exactly that many", paramName);
    }
}
