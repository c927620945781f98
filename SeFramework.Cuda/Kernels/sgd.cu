// Multi-tensor SGD step with PyTorch's rule (torch.optim.SGD): up to SGD_MAX_TENSORS parameter tensors per launch,
// passed by value as one kernel argument (no device-side table to upload). blockIdx.y picks the tensor.
#define SGD_MAX_TENSORS 64

// For tensor t: params p[t], grads g[t], momentum buffers m[t] (unused when momentum == 0), each of n[t] floats.
struct SgdTensorList {
    float* p[SGD_MAX_TENSORS];
    const float* g[SGD_MAX_TENSORS];
    float* m[SGD_MAX_TENSORS];
    unsigned n[SGD_MAX_TENSORS];
};

// Per element:  d = g + weight_decay * p
//   if momentum != 0:  buf = first_step ? d : momentum * buf + (1 - dampening) * d
//                      d = nesterov ? d + momentum * buf : buf
//   p -= lr * d
// grid: (x blocks striding over the largest tensor, count), block 256.
extern "C" __global__ void sgd_multi_tensor_f32(SgdTensorList list, float lr, float momentum, float dampening, float weight_decay,
                                                int nesterov, int first_step) {
    const unsigned t = blockIdx.y;
    float* __restrict__ p = list.p[t];
    const float* __restrict__ g = list.g[t];
    float* __restrict__ m = list.m[t];
    const unsigned n = list.n[t];
    for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
        const float w = p[i];
        float d = g[i];
        if (weight_decay != 0.0f) d = fmaf(weight_decay, w, d);
        if (momentum != 0.0f) {
            const float buf = first_step ? d : fmaf(momentum, m[i], (1.0f - dampening) * d);
            m[i] = buf;
            d = nesterov ? fmaf(momentum, buf, d) : buf;
        }
        p[i] = w - lr * d;
    }
}
