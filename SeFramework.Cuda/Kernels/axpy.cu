// Axpy, the SE block's fused "scale and add the shortcut": F = a[n,c] * x + y, optionally followed by ReLU, and its backward.
// Layout NCHW, contiguous; a plane is one (n, c) pair of H*W elements; planes = N*C; hw = H*W; total = N*C*H*W (< 2^31).
#include "common.cuh"

template <bool RELU>
__device__ __forceinline__ float axpy_out(float a, float x, float y) {
    float v = fmaf(a, x, y);
    return RELU ? fmaxf(v, 0.0f) : v;
}

// Scalar path: f, x, y: (N, C, H, W); a: (N, C) -> f = a[i / hw] * x + y (then ReLU). Flat grid-stride loop.
template <bool RELU>
__device__ void axpy_forward(float* __restrict__ f, const float* __restrict__ a, const float* __restrict__ x,
                             const float* __restrict__ y, unsigned total, unsigned hw) {
    for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < total; i += gridDim.x * blockDim.x)
        f[i] = axpy_out<RELU>(a[i / hw], x[i], y[i]);
}

// float4 path: same shapes, requires hw % 4 == 0 and 16-byte aligned f, x, y (so a float4 never straddles two planes).
// total4 = total / 4; hw4 = hw / 4.
template <bool RELU>
__device__ void axpy_forward_vec4(float4* __restrict__ f, const float* __restrict__ a, const float4* __restrict__ x,
                                  const float4* __restrict__ y, unsigned total4, unsigned hw4) {
    for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < total4; i += gridDim.x * blockDim.x) {
        const float s = a[i / hw4];
        const float4 xv = x[i], yv = y[i];
        float4 r;
        r.x = axpy_out<RELU>(s, xv.x, yv.x);
        r.y = axpy_out<RELU>(s, xv.y, yv.y);
        r.z = axpy_out<RELU>(s, xv.z, yv.z);
        r.w = axpy_out<RELU>(s, xv.w, yv.w);
        f[i] = r;
    }
}

extern "C" __global__ void axpy_forward_f32(float* f, const float* a, const float* x, const float* y, unsigned total, unsigned hw) {
    axpy_forward<false>(f, a, x, y, total, hw);
}
extern "C" __global__ void axpy_relu_forward_f32(float* f, const float* a, const float* x, const float* y, unsigned total, unsigned hw) {
    axpy_forward<true>(f, a, x, y, total, hw);
}
extern "C" __global__ void axpy_forward_vec4_f32(float4* f, const float* a, const float4* x, const float4* y, unsigned total4, unsigned hw4) {
    axpy_forward_vec4<false>(f, a, x, y, total4, hw4);
}
extern "C" __global__ void axpy_relu_forward_vec4_f32(float4* f, const float* a, const float4* x, const float4* y, unsigned total4, unsigned hw4) {
    axpy_forward_vec4<true>(f, a, x, y, total4, hw4);
}

// Backward of one plane p, shared by the warp and block variants. Inputs df, x (and f, the forward output, for the ReLU
// variant): (N, C, H, W); a: (N, C). Outputs dx = a * g, dy = g (skipped when dy == 0, since without ReLU dy is df itself),
// and the plane's partial sum of g * x, where g = df masked by f > 0 for the ReLU variant, g = df otherwise.
// Threads [lane0, lane0 + stride) of the group cover the plane; the caller reduces the returned partial sums.
template <bool RELU>
__device__ __forceinline__ float axpy_backward_plane(float* __restrict__ dx, float* __restrict__ dy, const float* __restrict__ df,
                                                     const float* __restrict__ x, const float* __restrict__ f, float s,
                                                     size_t base, unsigned hw, unsigned lane0, unsigned stride) {
    float acc = 0.0f;
    for (unsigned j = lane0; j < hw; j += stride) {
        const size_t i = base + j;
        float g = df[i];
        if (RELU && !(f[i] > 0.0f)) g = 0.0f;
        if (dx) dx[i] = s * g;
        if (dy) dy[i] = g;
        acc = fmaf(g, x[i], acc);
    }
    return acc;
}

// Warp per plane (small H*W, e.g. 7x7, 14x14): blockDim 256 = 8 planes per block, grid-stride over planes.
// df, x, f: (N, C, H, W); a: (N, C) -> dx, dy: (N, C, H, W); da: (N, C) = sum_hw g * x.
template <bool RELU>
__device__ void axpy_backward_warp(float* dx, float* dy, float* __restrict__ da, const float* df, const float* __restrict__ a,
                                   const float* x, const float* f, unsigned planes, unsigned hw) {
    const unsigned lane = threadIdx.x & 31, warpsPerBlock = blockDim.x >> 5;
    for (unsigned p = blockIdx.x * warpsPerBlock + (threadIdx.x >> 5); p < planes; p += gridDim.x * warpsPerBlock) {
        float acc = axpy_backward_plane<RELU>(dx, dy, df, x, f, a[p], (size_t)p * hw, hw, lane, 32);
        acc = warp_sum(acc);
        if (lane == 0) da[p] = acc;
    }
}

// Block per plane (large H*W, e.g. 56x56, 112x112): same shapes as the warp variant; grid-stride over planes.
template <bool RELU>
__device__ void axpy_backward_block(float* dx, float* dy, float* __restrict__ da, const float* df, const float* __restrict__ a,
                                    const float* x, const float* f, unsigned planes, unsigned hw) {
    __shared__ float scratch[32];
    for (unsigned p = blockIdx.x; p < planes; p += gridDim.x) {
        float acc = axpy_backward_plane<RELU>(dx, dy, df, x, f, a[p], (size_t)p * hw, hw, threadIdx.x, blockDim.x);
        acc = block_sum(acc, scratch);
        if (threadIdx.x == 0) da[p] = acc;
    }
}

extern "C" __global__ void axpy_backward_warp_f32(float* dx, float* dy, float* da, const float* df, const float* a, const float* x,
                                                  unsigned planes, unsigned hw) {
    axpy_backward_warp<false>(dx, dy, da, df, a, x, nullptr, planes, hw);
}
extern "C" __global__ void axpy_backward_block_f32(float* dx, float* dy, float* da, const float* df, const float* a, const float* x,
                                                   unsigned planes, unsigned hw) {
    axpy_backward_block<false>(dx, dy, da, df, a, x, nullptr, planes, hw);
}
extern "C" __global__ void axpy_relu_backward_warp_f32(float* dx, float* dy, float* da, const float* df, const float* a, const float* x,
                                                       const float* f, unsigned planes, unsigned hw) {
    axpy_backward_warp<true>(dx, dy, da, df, a, x, f, planes, hw);
}
extern "C" __global__ void axpy_relu_backward_block_f32(float* dx, float* dy, float* da, const float* df, const float* a, const float* x,
                                                        const float* f, unsigned planes, unsigned hw) {
    axpy_backward_block<true>(dx, dy, da, df, a, x, f, planes, hw);
}
