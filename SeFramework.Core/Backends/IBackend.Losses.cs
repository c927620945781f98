// Backend op families for the classifier head and the optimizer: row softmax / log-softmax, fused softmax
// cross-entropy with label smoothing, and the SGD update.
namespace SeFramework.Backends;

public partial interface IBackend
{
    /// <summary>x: (rows, cols) contiguous → y: (rows, cols) softmax (or log-softmax) of each row.</summary>
    void SoftmaxRows(Tensor x, Tensor y, bool log);

    /// <summary>dx = y ⊙ (dy − Σ dy⊙y) for softmax, dx = dy − softmax(x)·Σ dy for log-softmax (y its output). Rows.</summary>
    void SoftmaxRowsBackward(Tensor y, Tensor dy, Tensor dx, bool log);

    /// <summary>logits: (N, K) → per-row loss (N) = (1−ε)(−log p[t]) − ε/K Σ_k log p[k], and probabilities (N, K).</summary>
    void SoftmaxCrossEntropy(Tensor logits, int[] targets, double labelSmoothing, Tensor lossPerRow, Tensor probs);

    /// <summary>dlogits = scale · (probs − q), q = (1−ε)·onehot(t) + ε/K, scale per row = dLoss[n].</summary>
    void SoftmaxCrossEntropyBackward(Tensor probs, int[] targets, double labelSmoothing, Tensor dLossPerRow, Tensor dLogits);

    /// <summary>
    /// PyTorch's SGD step for one parameter (all contiguous, same shape): g = grad + wd·p; with momentum,
    /// buf = g on the first step else momentum·buf + (1 − dampening)·g, and g = g + momentum·buf (Nesterov) or buf;
    /// p −= lr·g.
    /// </summary>
    void SgdUpdate(Tensor param, Tensor grad, Tensor? momentumBuffer, bool firstStep, double lr, double momentum, double dampening, double weightDecay, bool nesterov);
}
