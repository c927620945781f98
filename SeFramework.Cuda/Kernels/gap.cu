// Global average pooling over H*W, forward and backward. Layout NCHW contiguous; planes = N*C rows of hw = H*W elements.
// Small planes (hw <= 1024): one warp per plane; large planes: one block per plane. float4 loads where hw % 4 == 0 and x is 16-byte aligned.
#include "common.cuh"

// Sum of plane p's elements [lane0, hw) step `stride` (in elements, or in float4 when VEC4).
template <bool VEC4>
__device__ __forceinline__ float plane_partial_sum(const float* __restrict__ x, size_t base, unsigned hw, unsigned lane0, unsigned stride) {
    float acc = 0.0f;
    if (VEC4) {
        const float4* x4 = reinterpret_cast<const float4*>(x + base);
        for (unsigned j = lane0; j < hw / 4; j += stride) {
            const float4 v = x4[j];
            acc += (v.x + v.y) + (v.z + v.w);
        }
    } else {
        for (unsigned j = lane0; j < hw; j += stride) acc += x[base + j];
    }
    return acc;
}

// x: (N, C, H, W) -> y: (N, C) = mean over H, W. Warp per plane, blockDim 256 (8 planes per block).
template <bool VEC4>
__device__ void gap_forward_warp(float* __restrict__ y, const float* __restrict__ x, unsigned planes, unsigned hw) {
    const unsigned lane = threadIdx.x & 31, warpsPerBlock = blockDim.x >> 5;
    const float inv = 1.0f / (float)hw;
    for (unsigned p = blockIdx.x * warpsPerBlock + (threadIdx.x >> 5); p < planes; p += gridDim.x * warpsPerBlock) {
        float acc = warp_sum(plane_partial_sum<VEC4>(x, (size_t)p * hw, hw, lane, 32));
        if (lane == 0) y[p] = acc * inv;
    }
}

// x: (N, C, H, W) -> y: (N, C). Block per plane, grid-stride over planes.
template <bool VEC4>
__device__ void gap_forward_block(float* __restrict__ y, const float* __restrict__ x, unsigned planes, unsigned hw) {
    __shared__ float scratch[32];
    const float inv = 1.0f / (float)hw;
    for (unsigned p = blockIdx.x; p < planes; p += gridDim.x) {
        float acc = block_sum(plane_partial_sum<VEC4>(x, (size_t)p * hw, hw, threadIdx.x, blockDim.x), scratch);
        if (threadIdx.x == 0) y[p] = acc * inv;
    }
}

extern "C" __global__ void gap_forward_warp_f32(float* y, const float* x, unsigned planes, unsigned hw) { gap_forward_warp<false>(y, x, planes, hw); }
extern "C" __global__ void gap_forward_warp_vec4_f32(float* y, const float* x, unsigned planes, unsigned hw) { gap_forward_warp<true>(y, x, planes, hw); }
extern "C" __global__ void gap_forward_block_f32(float* y, const float* x, unsigned planes, unsigned hw) { gap_forward_block<false>(y, x, planes, hw); }
extern "C" __global__ void gap_forward_block_vec4_f32(float* y, const float* x, unsigned planes, unsigned hw) { gap_forward_block<true>(y, x, planes, hw); }

// dy: (N, C) -> dx: (N, C, H, W) = dy[n, c] / hw broadcast. Flat grid-stride; total = N*C*H*W.
extern "C" __global__ void gap_backward_f32(float* __restrict__ dx, const float* __restrict__ dy, unsigned total, unsigned hw) {
    const float inv = 1.0f / (float)hw;
    for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < total; i += gridDim.x * blockDim.x) dx[i] = dy[i / hw] * inv;
}

// float4 variant: hw % 4 == 0, dx 16-byte aligned; total4 = total / 4, hw4 = hw / 4.
extern "C" __global__ void gap_backward_vec4_f32(float4* __restrict__ dx, const float* __restrict__ dy, unsigned total4, unsigned hw4) {
    const float inv = 1.0f / (float)(hw4 * 4);
    for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < total4; i += gridDim.x * blockDim.x) {
        const float v = dy[i / hw4] * inv;
        dx[i] = make_float4(v, v, v, v);
    }
}
