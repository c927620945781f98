// Softmax cross-entropy over the last axis: one warp per row for the forward (row-wise max and log-sum-exp), flat backward.
// logits: (rows, k) contiguous; labels: (rows) int32 in [0, k); a label out of range gives a NaN loss for that row.
#include "common.cuh"

// logits: (rows, k), labels: (rows) -> loss: (rows) = lse - logits[r, label], lse: (rows) = log sum_j exp(logits[r, j]).
// blockDim 256 = 8 rows per block, grid-stride over rows.
extern "C" __global__ void softmax_ce_forward_f32(float* __restrict__ loss, float* __restrict__ lse, const float* __restrict__ logits,
                                                  const int* __restrict__ labels, unsigned rows, unsigned k) {
    const unsigned lane = threadIdx.x & 31, warpsPerBlock = blockDim.x >> 5;
    for (unsigned r = blockIdx.x * warpsPerBlock + (threadIdx.x >> 5); r < rows; r += gridDim.x * warpsPerBlock) {
        const float* row = logits + (size_t)r * k;
        float m = -INFINITY;
        for (unsigned j = lane; j < k; j += 32) m = fmaxf(m, row[j]);
        #pragma unroll
        for (int o = 16; o > 0; o >>= 1) m = fmaxf(m, __shfl_xor_sync(FULL_MASK, m, o));
        float s = 0.0f;
        for (unsigned j = lane; j < k; j += 32) s += expf(row[j] - m);
        s = warp_sum(s);
        if (lane == 0) {
            const float l = m + logf(s);
            const int label = labels[r];
            lse[r] = l;
            loss[r] = (label >= 0 && (unsigned)label < k) ? l - row[label] : __int_as_float(0x7fc00000);
        }
    }
}

// logits: (rows, k), lse: (rows), labels: (rows), g: (rows) = dLoss/dloss_r (1/rows for a mean)
//   -> dlogits: (rows, k) = g[r] * (softmax(logits)[r, j] - [j == label_r]). Flat grid-stride over rows * k.
extern "C" __global__ void softmax_ce_backward_f32(float* __restrict__ dlogits, const float* __restrict__ logits, const float* __restrict__ lse,
                                                   const int* __restrict__ labels, const float* __restrict__ g, unsigned rows, unsigned k) {
    const unsigned total = rows * k;
    for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < total; i += gridDim.x * blockDim.x) {
        const unsigned r = i / k, j = i - r * k;
        const float p = expf(logits[i] - lse[r]);
        dlogits[i] = g[r] * (p - ((int)j == labels[r] ? 1.0f : 0.0f));
    }
}
