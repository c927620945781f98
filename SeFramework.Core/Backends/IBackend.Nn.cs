// The neural-network op families of the backend contract (conv, pooling, global average pooling, batch norm, Axpy)
// and the geometry records that the dispatcher (F.Nn.cs) computes and checks once and hands to every backend.
namespace SeFramework.Backends;

/// <summary>The sizes of one 2-D convolution: input (N, C, H, W), weight (K, C/Groups, R, S), output (N, K, P, Q).
/// Stride, padding and dilation are the same along both spatial axes.</summary>
public readonly record struct Conv2dGeometry(int N, int C, int H, int W, int K, int R, int S, int P, int Q, int Stride, int Padding, int Dilation, int Groups)
{
    public int CPerGroup => C / Groups;
    public int KPerGroup => K / Groups;

    /// <summary>Rows of one group's im2col matrix: (C/Groups)·R·S.</summary>
    public int ColRows => CPerGroup * R * S;

    /// <summary>A 1×1, stride-1, unpadded convolution is a plain GEMM over the input (no im2col).</summary>
    public bool IsPointwise => R == 1 && S == 1 && Stride == 1 && Padding == 0;

    /// <summary>floor((input + 2·padding − dilation·(kernel − 1) − 1) / stride) + 1 (may be ≤ 0 when the kernel does not fit).</summary>
    public static int OutputSize(int input, int kernel, int stride, int padding, int dilation)
        => (int)Math.Floor((input + 2.0 * padding - dilation * (kernel - 1) - 1) / stride) + 1;
}

/// <summary>Pooling modes, as cuDNN names them. Average divisors follow PyTorch (see <see cref="Pool2dGeometry"/>).</summary>
public enum PoolMode
{
    Max,
    AverageIncludePad,
    AverageExcludePad,
}

/// <summary>The sizes of one 2-D pooling: input (N, C, H, W) → output (N, C, P, Q) with a square window.</summary>
public readonly record struct Pool2dGeometry(int N, int C, int H, int W, int P, int Q, int Kernel, int Stride, int Padding)
{
    /// <summary>PyTorch's pooling_output_shape: floor (or ceil) of (input + 2·padding − kernel) / stride, plus one; in
    /// ceil mode the last window is dropped when it would start beyond the input and its left padding.</summary>
    public static int OutputSize(int input, int kernel, int stride, int padding, bool ceilMode)
    {
        long numerator = input + 2L * padding - kernel + (ceilMode ? stride - 1 : 0);
        int size = (int)Math.Floor((double)numerator / stride) + 1;
        if (ceilMode && (long)(size - 1) * stride >= input + padding) size--;
        return size;
    }

    /// <summary>Window of output index o along an axis of length n: [start, end) clipped to the input, and the
    /// PyTorch average divisor for it. The unclipped window is clipped to n + padding first (so a ceil-mode window
    /// that hangs off the end does not count the part beyond the right padding), as PyTorch's AvgPool2d does.</summary>
    public static (int Start, int End, int PaddedLength) Window(int o, int n, int kernel, int stride, int padding)
    {
        int start = o * stride - padding;
        int end = Math.Min(start + kernel, n + padding);
        int padded = end - start;
        return (Math.Max(start, 0), Math.Min(end, n), padded);
    }
}

public partial interface IBackend
{
    /// <summary>y = conv(x, weight) + bias. x: (N, C, H, W), weight: (K, C/G, R, S), bias: (K) or null → y: (N, K, P, Q).
    /// All contiguous; y is overwritten.</summary>
    void Conv2dForward(Tensor x, Tensor weight, Tensor? bias, Tensor y, in Conv2dGeometry g);

    /// <summary>Conv2d → BatchNorm2d in eval mode (the running statistics) → ReLU when <paramref name="relu"/>, as one op for
    /// inference: y = relu?(v·scale[k] + shift[k]) for v = conv(x, weight) without its bias, where (scale, shift) is the
    /// batch norm's own per-channel affine map (scale = γ/√(var + ε), shift = β − (mean − bias)·scale), applied in the same
    /// pass over y where the backend can. x: (N, C, H, W), weight: (K, C/G, R, S), bias, runningMean, runningVar, bnWeight (γ),
    /// bnBias (β): (K) (bias, γ, β may be null) → y: (N, K, P, Q), overwritten. All contiguous.</summary>
    void Conv2dBatchNormInference(Tensor x, Tensor weight, Tensor? bias, Tensor runningMean, Tensor runningVar, Tensor? bnWeight, Tensor? bnBias,
        double eps, Tensor y, in Conv2dGeometry g, bool relu);

    /// <summary>dx = the gradient of the convolution with respect to its input. dy: (N, K, P, Q), weight: (K, C/G, R, S)
    /// → dx: (N, C, H, W), overwritten.</summary>
    void Conv2dBackwardData(Tensor dy, Tensor weight, Tensor dx, in Conv2dGeometry g);

    /// <summary>dweight (K, C/G, R, S) and dbias (K) from x: (N, C, H, W) and dy: (N, K, P, Q); each overwritten when
    /// not null.</summary>
    void Conv2dBackwardFilter(Tensor x, Tensor dy, Tensor? dweight, Tensor? dbias, in Conv2dGeometry g);

    /// <summary>Max or average pooling. x: (N, C, H, W) → y: (N, C, P, Q), overwritten. Padding never wins a max.</summary>
    void Pool2dForward(PoolMode mode, Tensor x, Tensor y, in Pool2dGeometry g);

    /// <summary>dx (N, C, H, W), overwritten, from x, y = pool(x) and dy: (N, C, P, Q). A max routes each output's
    /// gradient to the first maximum of its window.</summary>
    void Pool2dBackward(PoolMode mode, Tensor x, Tensor y, Tensor dy, Tensor dx, in Pool2dGeometry g);

    /// <summary>y[n, c] = mean of x[n, c, :, :]. x: (N, C, H, W) → y: (N, C, 1, 1).</summary>
    void GlobalAvgPool(Tensor x, Tensor y);

    /// <summary>dx[n, c, h, w] = dy[n, c] / (H·W). dy: (N, C, 1, 1) → dx: (N, C, H, W).</summary>
    void GlobalAvgPoolBackward(Tensor dy, Tensor dx);

    /// <summary>Training batch norm over (N, spatial) per channel. x, y: (N, C, ...) ; weight, bias, running stats,
    /// saveMean, saveInvStd: (C). Normalises with the batch mean and biased variance, writes the batch mean and
    /// 1/sqrt(var + eps) to the save tensors, and when given updates the running stats in place:
    /// running = (1 − momentum)·running + momentum·batch, with the unbiased variance (PyTorch's rule).
    /// relu: y = max(bn(x), 0) written once, bit-identical to the batch norm followed by <see cref="UnaryOp.Relu"/>.</summary>
    void BatchNormForwardTraining(Tensor x, Tensor? weight, Tensor? bias, Tensor y, Tensor saveMean, Tensor saveInvStd,
        Tensor? runningMean, Tensor? runningVar, double momentum, double eps, bool relu = false);

    /// <summary>Inference batch norm with the running stats: y = (x − mean)/sqrt(var + eps)·weight + bias. When the save
    /// tensors are given they receive the mean and 1/sqrt(var + eps) for the backward pass. relu: y = max(bn(x), 0),
    /// as for <see cref="BatchNormForwardTraining"/>.</summary>
    void BatchNormForwardInference(Tensor x, Tensor? weight, Tensor? bias, Tensor runningMean, Tensor runningVar, Tensor y,
        Tensor? saveMean, Tensor? saveInvStd, double eps, bool relu = false);

    /// <summary>Closed-form batch-norm backward from the saved mean and inverse std. In training mode the statistics
    /// depend on x (the full formula); otherwise they are constants. Outputs are overwritten when not null.
    /// reluOutput (the y of a forward run with relu, same shape as x): the gradient is dy masked by reluOutput > 0 (the
    /// ReLU's backward), applied inside the kernel; results are bit-identical to masking dy first
    /// (<see cref="UnaryBackward"/> of <see cref="UnaryOp.Relu"/> with reluOutput as its input) and passing the mask.</summary>
    void BatchNormBackward(Tensor x, Tensor dy, Tensor? weight, Tensor saveMean, Tensor saveInvStd, bool training,
        Tensor? dx, Tensor? dweight, Tensor? dbias, Tensor? reluOutput = null);

    /// <summary>output = a[n, c]·x + y (y null: the channel scale a·x), then ReLU when relu is set.
    /// a: (N, C) or (N, C, 1, 1); x, y, output: (N, C, H, W). All contiguous.</summary>
    void Axpy(Tensor a, Tensor x, Tensor? y, Tensor output, bool relu);

    /// <summary>The one-pass backward of <see cref="Axpy"/>: with g = dOutput (masked by output > 0 when relu),
    /// dx = a·g, dy = g, da[n, c] = Σ g·x. Outputs are overwritten when not null.</summary>
    void AxpyBackward(Tensor a, Tensor x, Tensor output, Tensor dOutput, bool relu, Tensor? da, Tensor? dx, Tensor? dy);
}
