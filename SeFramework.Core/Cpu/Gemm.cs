// Placeholder GEMM (plain loops) until the packed SIMD GEMM lands. Row-major: C = alpha·op(A)·op(B) + beta·C.
namespace SeFramework.Cpu;

public static unsafe class Gemm
{
    public static void Sgemm(bool transA, bool transB, int m, int n, int k, float alpha, float* a, int lda, float* b, int ldb, float beta, float* c, int ldc)
    {
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = 0;
                for (int p = 0; p < k; p++) s += (transA ? a[p * lda + i] : a[i * lda + p]) * (double)(transB ? b[j * ldb + p] : b[p * ldb + j]);
                c[i * ldc + j] = beta == 0 ? alpha * (float)s : alpha * (float)s + beta * c[i * ldc + j];
            }
    }

    public static void Dgemm(bool transA, bool transB, int m, int n, int k, double alpha, double* a, int lda, double* b, int ldb, double beta, double* c, int ldc)
    {
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = 0;
                for (int p = 0; p < k; p++) s += (transA ? a[p * lda + i] : a[i * lda + p]) * (transB ? b[j * ldb + p] : b[p * ldb + j]);
                c[i * ldc + j] = beta == 0 ? alpha * s : alpha * s + beta * c[i * ldc + j];
            }
    }
}
