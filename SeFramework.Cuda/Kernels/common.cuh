// Shared helpers for our kernels: warp and block sum reductions. Included by the .cu files; never compiled on its own.
#pragma once

#define FULL_MASK 0xffffffffu

// Sum of v over the 32 lanes of a warp; every lane gets the result. T: float or double.
template <typename T>
__device__ __forceinline__ T warp_sum(T v) {
    #pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(FULL_MASK, v, o);
    return v;
}

// Sum of v over the whole block (blockDim.x a multiple of 32, <= 1024); every thread gets the result.
// `scratch` is 32 elements of shared memory; the function ends with a barrier so it can be reused.
template <typename T>
__device__ __forceinline__ T block_sum(T v, T* scratch) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    v = warp_sum(v);
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    v = lane < warps ? scratch[lane] : T(0);
    v = warp_sum(v);
    __syncthreads();
    return v;
}
