// Functional neural-network ops (conv, pooling, batch norm, GAP, Axpy, dropout): the signatures the nn modules and
// models call. Each checks its arguments, calls the backend, and records a closed-form backward.
namespace SeFramework;

public static partial class F
{
    /// <summary>2-D convolution. x: (N, C, H, W), weight: (K, C/groups, R, S), bias: (K) → (N, K, P, Q).</summary>
    public static Tensor Conv2d(Tensor x, Tensor weight, Tensor? bias = null, int stride = 1, int padding = 0, int dilation = 1, int groups = 1)
        => throw new NotImplementedException("Conv2d");

    /// <summary>Max pooling. x: (N, C, H, W) → (N, C, P, Q). stride 0 means stride = kernel.</summary>
    public static Tensor MaxPool2d(Tensor x, int kernel, int stride = 0, int padding = 0, bool ceilMode = false)
        => throw new NotImplementedException("MaxPool2d");

    /// <summary>Average pooling. x: (N, C, H, W) → (N, C, P, Q). stride 0 means stride = kernel.</summary>
    public static Tensor AvgPool2d(Tensor x, int kernel, int stride = 0, int padding = 0, bool ceilMode = false, bool countIncludePad = true)
        => throw new NotImplementedException("AvgPool2d");

    /// <summary>Global average pooling (the SE squeeze). x: (N, C, H, W) → (N, C, 1, 1).</summary>
    public static Tensor GlobalAvgPool(Tensor x) => throw new NotImplementedException("GlobalAvgPool");

    /// <summary>Batch norm over (N, H, W) per channel. x: (N, C, H, W); weight, bias, running stats: (C).
    /// Training: batch statistics, running stats updated in place with momentum (unbiased variance), as PyTorch.</summary>
    public static Tensor BatchNorm2d(Tensor x, Tensor? runningMean, Tensor? runningVar, Tensor? weight, Tensor? bias, bool training, double momentum = 0.1, double eps = 1e-5)
        => throw new NotImplementedException("BatchNorm2d");

    /// <summary>Channel scale: x * a[n, c]. x: (N, C, H, W), a: (N, C) or (N, C, 1, 1) → (N, C, H, W).</summary>
    public static Tensor ChannelScale(Tensor x, Tensor a) => throw new NotImplementedException("ChannelScale");

    /// <summary>Axpy (Caffe SENet layer): a[n, c]·x + y. a: (N, C) or (N, C, 1, 1), x, y: (N, C, H, W).</summary>
    public static Tensor Axpy(Tensor a, Tensor x, Tensor y) => throw new NotImplementedException("Axpy");

    /// <summary>Fused relu(a[n, c]·x + y): the SE scale, the residual sum and the ReLU after it in one pass.</summary>
    public static Tensor AxpyRelu(Tensor a, Tensor x, Tensor y) => throw new NotImplementedException("AxpyRelu");

    /// <summary>Inverted dropout: zeroes each element with probability p and scales the rest by 1/(1-p) in training.</summary>
    public static Tensor Dropout(Tensor x, double p, bool training, Rng? rng = null) => throw new NotImplementedException("Dropout");
}
