// Flat elementwise and unary kernels for the CUDA backend: every tensor is contiguous with n elements (n < 2^31, so the unsigned grid-stride index cannot wrap).
// Also the copy kernels that serve as the bandwidth baseline in tools/gpu-check.

#define GRID_STRIDE(i, n) for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += gridDim.x * blockDim.x)

// y: (n) = value
extern "C" __global__ void fill_f32(float* __restrict__ y, float value, unsigned n) { GRID_STRIDE(i, n) y[i] = value; }

// x: (n) -> y: (n) = x
extern "C" __global__ void copy_f32(float* __restrict__ y, const float* __restrict__ x, unsigned n) { GRID_STRIDE(i, n) y[i] = x[i]; }

// x: (n4) float4 -> y: (n4); 16-byte aligned, n4 = n / 4
extern "C" __global__ void copy_vec4_f32(float4* __restrict__ y, const float4* __restrict__ x, unsigned n4) { GRID_STRIDE(i, n4) y[i] = x[i]; }

// x: (n) -> y: (n) = alpha * x
extern "C" __global__ void scale_f32(float* __restrict__ y, const float* __restrict__ x, float alpha, unsigned n) { GRID_STRIDE(i, n) y[i] = alpha * x[i]; }

// a, b: (n) -> z: (n) = a + b
extern "C" __global__ void add_f32(float* __restrict__ z, const float* __restrict__ a, const float* __restrict__ b, unsigned n) { GRID_STRIDE(i, n) z[i] = a[i] + b[i]; }

// a, b: (n) -> z: (n) = a - b
extern "C" __global__ void sub_f32(float* __restrict__ z, const float* __restrict__ a, const float* __restrict__ b, unsigned n) { GRID_STRIDE(i, n) z[i] = a[i] - b[i]; }

// a, b: (n) -> z: (n) = a * b
extern "C" __global__ void mul_f32(float* __restrict__ z, const float* __restrict__ a, const float* __restrict__ b, unsigned n) { GRID_STRIDE(i, n) z[i] = a[i] * b[i]; }

// x: (n), y: (n) in place -> y = alpha * x + beta * y (gradient accumulation uses alpha = beta = 1)
extern "C" __global__ void axpby_f32(float* y, const float* __restrict__ x, float alpha, float beta, unsigned n) {
    GRID_STRIDE(i, n) y[i] = fmaf(alpha, x[i], beta * y[i]);
}

// x: (n) -> y: (n) = max(x, 0)
extern "C" __global__ void relu_f32(float* __restrict__ y, const float* __restrict__ x, unsigned n) { GRID_STRIDE(i, n) y[i] = fmaxf(x[i], 0.0f); }

// dy, x: (n) -> dx: (n) = x > 0 ? dy : 0
extern "C" __global__ void relu_backward_f32(float* __restrict__ dx, const float* __restrict__ dy, const float* __restrict__ x, unsigned n) {
    GRID_STRIDE(i, n) dx[i] = x[i] > 0.0f ? dy[i] : 0.0f;
}

// x: (n) -> y: (n) = 1 / (1 + exp(-x))
extern "C" __global__ void sigmoid_f32(float* __restrict__ y, const float* __restrict__ x, unsigned n) {
    GRID_STRIDE(i, n) y[i] = 1.0f / (1.0f + expf(-x[i]));
}

// dy, y (the forward output): (n) -> dx: (n) = dy * y * (1 - y)
extern "C" __global__ void sigmoid_backward_f32(float* __restrict__ dx, const float* __restrict__ dy, const float* __restrict__ y, unsigned n) {
    GRID_STRIDE(i, n) { const float s = y[i]; dx[i] = dy[i] * s * (1.0f - s); }
}
