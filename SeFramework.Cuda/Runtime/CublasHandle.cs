// A cuBLAS handle bound to a stream, with row-major GEMM (the transpose trick: row-major C = A.B is column-major Ct = Bt.At).
using SeFramework.Cuda.Native;

namespace SeFramework.Cuda.Runtime;

/// <summary>cuBLAS handle for one device and stream. Creation is slow (tens of ms): create once and reuse.</summary>
public sealed unsafe class CublasHandle : IDisposable
{
    private readonly CudaDevice _device;

    public CublasHandle(CudaDevice device, CudaStream? stream = null, bool allowTf32 = false)
    {
        _device = device;
        device.MakeCurrent();
        CudaCheck.Blas(CuBlas.Create(out var h), "cublasCreate_v2");
        Handle = h;
        CudaCheck.Blas(CuBlas.SetStream(h, (stream ?? device.Stream).Handle), "cublasSetStream_v2");
        // DEFAULT math is plain FP32 for Sgemm; TF32 tensor ops trade ~3 decimal digits of the inputs for tensor-core speed.
        CudaCheck.Blas(CuBlas.SetMathMode(h, allowTf32 ? CuBlas.MathTf32TensorOp : CuBlas.MathDefault), "cublasSetMathMode");
    }

    public nint Handle { get; private set; }

    // Row-major: C (m, n) = alpha * op(A) (m, k) * op(B) (k, n) + beta * C, with A stored (m, k) or, when transA, (k, m); B likewise.
    public void Gemm(bool transA, bool transB, int m, int n, int k, ulong a, ulong b, ulong c, float alpha = 1f, float beta = 0f) =>
        GemmStridedBatched(transA, transB, m, n, k, a, 0, b, 0, c, 0, 1, alpha, beta);

    /// <summary>Row-major batched GEMM: for i &lt; batch, C_i = alpha * op(A_i) * op(B_i) + beta * C_i; X_i = X + i * strideX elements
    /// (stride 0 shares one matrix, e.g. the weight of a 1x1 convolution: Y[n] (Cout, HW) = W (Cout, Cin) * X[n] (Cin, HW)).</summary>
    public void GemmStridedBatched(bool transA, bool transB, int m, int n, int k, ulong a, long strideA, ulong b, long strideB,
        ulong c, long strideC, int batch, float alpha = 1f, float beta = 0f)
    {
        if (m <= 0 || n <= 0 || k <= 0 || batch <= 0)
            throw new ArgumentException($"Gemm: sizes must be positive, got m={m}, n={n}, k={k}, batch={batch}.");
        _device.MakeCurrent();
        int lda = transA ? m : k, ldb = transB ? k : n;
        string ctx = $"row-major C({m}, {n}) = {(transA ? "A^T" : "A")}({m}, {k}) x {(transB ? "B^T" : "B")}({k}, {n}), batch {batch}";
        // Column-major view: C^T (n, m) = op(B)^T (n, k) * op(A)^T (k, m): B goes first.
        if (batch == 1)
            CudaCheck.Blas(CuBlas.Sgemm(Handle, transB ? CuBlas.OpT : CuBlas.OpN, transA ? CuBlas.OpT : CuBlas.OpN, n, m, k, &alpha, b, ldb, a, lda, &beta, c, n),
                "cublasSgemm_v2", ctx);
        else
            CudaCheck.Blas(CuBlas.SgemmStridedBatched(Handle, transB ? CuBlas.OpT : CuBlas.OpN, transA ? CuBlas.OpT : CuBlas.OpN, n, m, k, &alpha,
                b, ldb, strideB, a, lda, strideA, &beta, c, n, strideC, batch), "cublasSgemmStridedBatched", ctx);
    }

    public void Dispose()
    {
        if (Handle == 0) return;
        _device.MakeCurrent();
        CudaCheck.Blas(CuBlas.Destroy(Handle), "cublasDestroy_v2");
        Handle = 0;
    }
}
