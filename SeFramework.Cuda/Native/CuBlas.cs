// cuBLAS v2 bindings (libcublas.so.13/.12), restated from cublas_api.h / cublas_v2.h. cublas_v2.h #defines the plain names
// to the `_v2` symbols (Create, Destroy, SetStream, Sgemm, Dgemm); SetMathMode, SgemmStridedBatched and GetStatusName have no suffix.
using System.Runtime.InteropServices;

namespace SeFramework.Cuda.Native;

/// <summary>Raw cuBLAS. Matrices are column-major; alpha/beta are host pointers (default pointer mode). Returns cublasStatus_t (0 = success).</summary>
public static unsafe partial class CuBlas
{
    static CuBlas() => NativeLibraryResolver.EnsureRegistered();

    private const string Lib = NativeLibraryResolver.Blas;

    public const int OpN = 0, OpT = 1;
    /// <summary>cublasMath_t: DEFAULT=0, PEDANTIC=2, TF32_TENSOR_OP=3 (TF32 tensor cores for Sgemm).</summary>
    public const int MathDefault = 0, MathPedantic = 2, MathTf32TensorOp = 3;

    [LibraryImport(Lib, EntryPoint = "cublasCreate_v2")] public static partial int Create(out nint handle);
    [LibraryImport(Lib, EntryPoint = "cublasDestroy_v2")] public static partial int Destroy(nint handle);
    [LibraryImport(Lib, EntryPoint = "cublasSetStream_v2")] public static partial int SetStream(nint handle, nint stream);
    [LibraryImport(Lib, EntryPoint = "cublasSetMathMode")] public static partial int SetMathMode(nint handle, int mode);
    [LibraryImport(Lib, EntryPoint = "cublasGetStatusName")] public static partial byte* GetStatusName(int status);
    [LibraryImport(Lib, EntryPoint = "cublasGetStatusString")] public static partial byte* GetStatusString(int status);

    // C(m,n) = alpha * op(A)(m,k) * op(B)(k,n) + beta * C(m,n), column-major.
    [LibraryImport(Lib, EntryPoint = "cublasSgemm_v2")]
    public static partial int Sgemm(nint handle, int transA, int transB, int m, int n, int k, float* alpha,
        ulong a, int lda, ulong b, int ldb, float* beta, ulong c, int ldc);

    [LibraryImport(Lib, EntryPoint = "cublasDgemm_v2")]
    public static partial int Dgemm(nint handle, int transA, int transB, int m, int n, int k, double* alpha,
        ulong a, int lda, ulong b, int ldb, double* beta, ulong c, int ldc);

    // For i in [0, batch): C_i = alpha * op(A_i) * op(B_i) + beta * C_i with X_i = X + i * strideX (elements; stride 0 shares a matrix).
    [LibraryImport(Lib, EntryPoint = "cublasSgemmStridedBatched")]
    public static partial int SgemmStridedBatched(nint handle, int transA, int transB, int m, int n, int k, float* alpha,
        ulong a, int lda, long strideA, ulong b, int ldb, long strideB, float* beta, ulong c, int ldc, long strideC, int batchCount);
}
