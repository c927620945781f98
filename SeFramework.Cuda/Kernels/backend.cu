// Generic kernels of the CUDA backend (CudaBackend): strided copy/cast, fill, unary/binary with broadcasting (rank <= 6, any
// strides), sums over dims, row max, softmax rows, softmax cross-entropy with label smoothing, SGD, pooling, batch norm, Axpy,
// channel bias. Each is a template instantiated for float (_f32) and double (_f64); sums accumulate in double like the CPU backend.
// Element counts are < 2^31 (unsigned grid-stride index that must not wrap); offsets and strides are 64-bit (long long).
#include "common.cuh"

#define MAX_RANK 6
#define GRID_STRIDE(i, n) for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += gridDim.x * blockDim.x)

// Shape (row-major, dims beyond rank are 1) and the element strides of up to two operands; passed by value (144 bytes).
struct Strides2 {
    unsigned shape[MAX_RANK];
    long long s0[MAX_RANK];
    long long s1[MAX_RANK];
    long long off0, off1;
    int rank;
    int pad;
};

// Linear row-major index i over st.shape -> element offsets of operand 0 and 1.
__device__ __forceinline__ void offsets2(const Strides2& st, unsigned i, long long& o0, long long& o1) {
    o0 = st.off0; o1 = st.off1;
    for (int d = st.rank - 1; d >= 0; d--) {
        const unsigned n = st.shape[d];
        const unsigned c = i % n;
        i /= n;
        o0 += (long long)c * st.s0[d];
        o1 += (long long)c * st.s1[d];
    }
}

// Double-precision block max (blockDim.x a multiple of 32); scratch: 32 doubles of shared memory; every thread gets the result.
__device__ __forceinline__ double block_max_d(double v, double* scratch) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    #pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmax(v, __shfl_xor_sync(FULL_MASK, v, o));
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    v = lane < warps ? scratch[lane] : -INFINITY;
    #pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmax(v, __shfl_xor_sync(FULL_MASK, v, o));
    __syncthreads();
    return v;
}

// ---- copy / fill ----

// src (strides s1, any layout) -> dst (strides s0, any layout), same shape, n elements; casts TS -> TD.
template <typename TD, typename TS>
__device__ void strided_copy(TD* dst, const TS* src, Strides2 st, unsigned n) {
    GRID_STRIDE(i, n) {
        long long od, os;
        offsets2(st, i, od, os);
        dst[od] = (TD)src[os];
    }
}
extern "C" __global__ void strided_copy_f32_f32(float* d, const float* s, Strides2 st, unsigned n) { strided_copy(d, s, st, n); }
extern "C" __global__ void strided_copy_f64_f64(double* d, const double* s, Strides2 st, unsigned n) { strided_copy(d, s, st, n); }
extern "C" __global__ void strided_copy_f64_f32(double* d, const float* s, Strides2 st, unsigned n) { strided_copy(d, s, st, n); }
extern "C" __global__ void strided_copy_f32_f64(float* d, const double* s, Strides2 st, unsigned n) { strided_copy(d, s, st, n); }

// y: (n) = value
extern "C" __global__ void fill_value_f32(float* y, double value, unsigned n) { GRID_STRIDE(i, n) y[i] = (float)value; }
extern "C" __global__ void fill_value_f64(double* y, double value, unsigned n) { GRID_STRIDE(i, n) y[i] = value; }

// ---- unary (op codes = SeFramework.Backends.UnaryOp) ----

template <typename T> __device__ __forceinline__ T unary_apply(int op, T x, T s) {
    switch (op) {
        case 0: return -x;                                   // Neg
        case 1: return exp(x);                               // Exp
        case 2: return log(x);                               // Log
        case 3: return sqrt(x);                              // Sqrt
        case 4: return x > (T)0 ? x : (T)0;                  // Relu
        case 5: return (T)1 / ((T)1 + exp(-x));              // Sigmoid
        case 6: return tanh(x);                              // Tanh
        case 7: return pow(x, s);                            // Pow
        case 8: return x * s;                                // MulScalar
        case 9: return x + s;                                // AddScalar
        default: return fabs(x);                             // Abs
    }
}
// dx = dy * op'(x), y = op(x)
template <typename T> __device__ __forceinline__ T unary_grad(int op, T x, T y, T dy, T s) {
    switch (op) {
        case 0: return -dy;
        case 1: return dy * y;
        case 2: return dy / x;
        case 3: return dy / ((T)2 * y);
        case 4: return x > (T)0 ? dy : (T)0;
        case 5: return dy * y * ((T)1 - y);
        case 6: return dy * ((T)1 - y * y);
        case 7: return dy * s * pow(x, s - (T)1);
        case 8: return dy * s;
        case 9: return dy;
        default: return x > (T)0 ? dy : (x < (T)0 ? -dy : (T)0);
    }
}

// x: any layout (strides s1) -> y: contiguous (s0 unused), n elements.
template <typename T> __device__ void unary_k(T* y, const T* x, Strides2 st, unsigned n, int op, double s) {
    GRID_STRIDE(i, n) {
        long long o0, o1;
        offsets2(st, i, o0, o1);
        y[i] = unary_apply<T>(op, x[o1], (T)s);
    }
}
extern "C" __global__ void unary_f32(float* y, const float* x, Strides2 st, unsigned n, int op, double s) { unary_k(y, x, st, n, op, s); }
extern "C" __global__ void unary_f64(double* y, const double* x, Strides2 st, unsigned n, int op, double s) { unary_k(y, x, st, n, op, s); }

// x, y, dy, dx: (n) contiguous.
template <typename T> __device__ void unary_backward_k(T* dx, const T* x, const T* y, const T* dy, unsigned n, int op, double s) {
    GRID_STRIDE(i, n) dx[i] = unary_grad<T>(op, x[i], y[i], dy[i], (T)s);
}
extern "C" __global__ void unary_backward_f32(float* dx, const float* x, const float* y, const float* dy, unsigned n, int op, double s) { unary_backward_k(dx, x, y, dy, n, op, s); }
extern "C" __global__ void unary_backward_f64(double* dx, const double* x, const double* y, const double* dy, unsigned n, int op, double s) { unary_backward_k(dx, x, y, dy, n, op, s); }

// ---- binary (op codes = SeFramework.Backends.BinaryOp): c (contiguous, n) = a (strides s0) op b (strides s1) ----

template <typename T> __device__ void binary_k(T* c, const T* a, const T* b, Strides2 st, unsigned n, int op) {
    GRID_STRIDE(i, n) {
        long long oa, ob;
        offsets2(st, i, oa, ob);
        const T x = a[oa], y = b[ob];
        c[i] = op == 0 ? x + y : op == 1 ? x - y : op == 2 ? x * y : x / y;
    }
}
extern "C" __global__ void binary_f32(float* c, const float* a, const float* b, Strides2 st, unsigned n, int op) { binary_k(c, a, b, st, n, op); }
extern "C" __global__ void binary_f64(double* c, const double* a, const double* b, Strides2 st, unsigned n, int op) { binary_k(c, a, b, st, n, op); }

// ---- sum over dims ----

// x: any layout. kept (s0 = x strides of the kept dims, shape = kept sizes) indexes the outputs; red (s0 = x strides of the
// reduced dims) indexes the summed elements. y: (nOut) contiguous = scale * sum. One block per output (grid-stride).
template <typename T> __device__ void sum_k(T* y, const T* x, Strides2 kept, Strides2 red, unsigned nOut, unsigned nRed, double scale) {
    __shared__ double scratch[32];
    for (unsigned o = blockIdx.x; o < nOut; o += gridDim.x) {
        long long base, unused;
        offsets2(kept, o, base, unused);
        double acc = 0.0;
        for (unsigned r = threadIdx.x; r < nRed; r += blockDim.x) {
            long long off, u2;
            offsets2(red, r, off, u2);
            acc += (double)x[base + off];
        }
        acc = block_sum(acc, scratch);
        if (threadIdx.x == 0) y[o] = (T)(acc * scale);
    }
}
extern "C" __global__ void sum_f32(float* y, const float* x, Strides2 kept, Strides2 red, unsigned nOut, unsigned nRed, double scale) { sum_k(y, x, kept, red, nOut, nRed, scale); }
extern "C" __global__ void sum_f64(double* y, const double* x, Strides2 kept, Strides2 red, unsigned nOut, unsigned nRed, double scale) { sum_k(y, x, kept, red, nOut, nRed, scale); }

// ---- row max: x (rows, cols) contiguous -> values (rows), indices (rows) int32 of the first max; NaN wins (as PyTorch) ----

template <typename T> __device__ void max_rows_k(T* values, int* indices, const T* x, unsigned rows, unsigned cols) {
    GRID_STRIDE(r, rows) {
        const T* row = x + (size_t)r * cols;
        T best = row[0];
        int bi = 0;
        for (unsigned i = 1; i < cols; i++) {
            const T v = row[i];
            if (v > best || (isnan(v) && !isnan(best))) { best = v; bi = (int)i; }
        }
        values[r] = best;
        indices[r] = bi;
    }
}
extern "C" __global__ void max_rows_f32(float* v, int* idx, const float* x, unsigned rows, unsigned cols) { max_rows_k(v, idx, x, rows, cols); }
extern "C" __global__ void max_rows_f64(double* v, int* idx, const double* x, unsigned rows, unsigned cols) { max_rows_k(v, idx, x, rows, cols); }

// ---- softmax rows: one block per row (grid-stride), statistics in double ----

// x, y: (rows, cols) -> y = softmax (or log-softmax) of each row.
template <typename T> __device__ void softmax_rows_k(T* y, const T* x, unsigned rows, unsigned cols, int log_) {
    __shared__ double scratch[32];
    for (unsigned r = blockIdx.x; r < rows; r += gridDim.x) {
        const T* xr = x + (size_t)r * cols;
        T* yr = y + (size_t)r * cols;
        double m = -INFINITY;
        for (unsigned i = threadIdx.x; i < cols; i += blockDim.x) m = fmax(m, (double)xr[i]);
        m = block_max_d(m, scratch);
        double s = 0.0;
        for (unsigned i = threadIdx.x; i < cols; i += blockDim.x) s += exp((double)xr[i] - m);
        s = block_sum(s, scratch);
        const double lse = log(s) + m;
        for (unsigned i = threadIdx.x; i < cols; i += blockDim.x) {
            const double v = (double)xr[i] - lse;
            yr[i] = (T)(log_ ? v : exp(v));
        }
    }
}
extern "C" __global__ void softmax_rows_f32(float* y, const float* x, unsigned rows, unsigned cols, int log_) { softmax_rows_k(y, x, rows, cols, log_); }
extern "C" __global__ void softmax_rows_f64(double* y, const double* x, unsigned rows, unsigned cols, int log_) { softmax_rows_k(y, x, rows, cols, log_); }

// y (forward output), dy -> dx: softmax: y * (dy - sum dy*y); log-softmax: dy - exp(y) * sum dy. (rows, cols).
template <typename T> __device__ void softmax_rows_backward_k(T* dx, const T* y, const T* dy, unsigned rows, unsigned cols, int log_) {
    __shared__ double scratch[32];
    for (unsigned r = blockIdx.x; r < rows; r += gridDim.x) {
        const size_t at = (size_t)r * cols;
        double dot = 0.0;
        for (unsigned i = threadIdx.x; i < cols; i += blockDim.x) dot += log_ ? (double)dy[at + i] : (double)dy[at + i] * (double)y[at + i];
        dot = block_sum(dot, scratch);
        for (unsigned i = threadIdx.x; i < cols; i += blockDim.x) {
            const double g = dy[at + i], v = y[at + i];
            dx[at + i] = (T)(log_ ? g - exp(v) * dot : v * (g - dot));
        }
    }
}
extern "C" __global__ void softmax_rows_backward_f32(float* dx, const float* y, const float* dy, unsigned rows, unsigned cols, int log_) { softmax_rows_backward_k(dx, y, dy, rows, cols, log_); }
extern "C" __global__ void softmax_rows_backward_f64(double* dx, const double* y, const double* dy, unsigned rows, unsigned cols, int log_) { softmax_rows_backward_k(dx, y, dy, rows, cols, log_); }

// ---- softmax cross-entropy with label smoothing eps ----

// logits, probs: (rows, k); targets: (rows) int32 -> loss (rows) = (1-eps)(lse - x[t]) - eps/k * sum_j (x_j - lse); probs = softmax.
template <typename T> __device__ void softmax_xent_k(T* loss, T* probs, const T* logits, const int* targets, unsigned rows, unsigned k, double eps) {
    __shared__ double scratch[32];
    for (unsigned r = blockIdx.x; r < rows; r += gridDim.x) {
        const size_t at = (size_t)r * k;
        double m = -INFINITY;
        for (unsigned i = threadIdx.x; i < k; i += blockDim.x) m = fmax(m, (double)logits[at + i]);
        m = block_max_d(m, scratch);
        double s = 0.0, sx = 0.0;
        for (unsigned i = threadIdx.x; i < k; i += blockDim.x) { const double v = logits[at + i]; s += exp(v - m); sx += v; }
        s = block_sum(s, scratch);
        sx = block_sum(sx, scratch);
        const double lse = log(s) + m;
        for (unsigned i = threadIdx.x; i < k; i += blockDim.x) probs[at + i] = (T)exp((double)logits[at + i] - lse);
        if (threadIdx.x == 0) {
            const double nll = lse - (double)logits[at + targets[r]];
            const double sumLogP = sx - (double)k * lse;
            loss[r] = (T)((1.0 - eps) * nll - eps / k * sumLogP);
        }
    }
}
extern "C" __global__ void softmax_xent_f32(float* loss, float* probs, const float* logits, const int* t, unsigned rows, unsigned k, double eps) { softmax_xent_k(loss, probs, logits, t, rows, k, eps); }
extern "C" __global__ void softmax_xent_f64(double* loss, double* probs, const double* logits, const int* t, unsigned rows, unsigned k, double eps) { softmax_xent_k(loss, probs, logits, t, rows, k, eps); }

// probs: (rows, k), dloss: (rows) -> dlogits = dloss[r] * (probs - q), q = (1-eps)*onehot(t) + eps/k. Flat.
template <typename T> __device__ void softmax_xent_backward_k(T* dlogits, const T* probs, const int* targets, const T* dloss, unsigned rows, unsigned k, double eps) {
    const T off = (T)(eps / k), on = (T)(1.0 - eps + eps / k);
    GRID_STRIDE(i, rows * k) {
        const unsigned r = i / k, j = i - r * k;
        dlogits[i] = dloss[r] * (probs[i] - ((int)j == targets[r] ? on : off));
    }
}
extern "C" __global__ void softmax_xent_backward_f32(float* dl, const float* p, const int* t, const float* g, unsigned rows, unsigned k, double eps) { softmax_xent_backward_k(dl, p, t, g, rows, k, eps); }
extern "C" __global__ void softmax_xent_backward_f64(double* dl, const double* p, const int* t, const double* g, unsigned rows, unsigned k, double eps) { softmax_xent_backward_k(dl, p, t, g, rows, k, eps); }

// ---- SGD (torch.optim.SGD single-tensor order): p, g, buf (null without momentum): (n) ----

template <typename T> __device__ void sgd_k(T* p, const T* g, T* buf, unsigned n, int first, double lr, double momentum, double dampening, double wd, int nesterov) {
    const T lrT = (T)lr, mT = (T)momentum, dT = (T)dampening, wdT = (T)wd;
    GRID_STRIDE(i, n) {
        T d = g[i];
        if (wdT != (T)0) d += wdT * p[i];
        if (buf != nullptr) {
            const T b = first ? d : mT * buf[i] + ((T)1 - dT) * d;
            buf[i] = b;
            d = nesterov ? d + mT * b : b;
        }
        p[i] -= lrT * d;
    }
}
extern "C" __global__ void sgd_f32(float* p, const float* g, float* buf, unsigned n, int first, double lr, double m, double d, double wd, int nes) { sgd_k(p, g, buf, n, first, lr, m, d, wd, nes); }
extern "C" __global__ void sgd_f64(double* p, const double* g, double* buf, unsigned n, int first, double lr, double m, double d, double wd, int nes) { sgd_k(p, g, buf, n, first, lr, m, d, wd, nes); }

// ---- 2-D pooling, NCHW contiguous; window bounds follow Pool2dGeometry.Window (PyTorch divisors) ----

struct PoolGeom { unsigned planes, h, w, p, q; int kernel, stride, padding, mode; }; // mode: 0 max, 1 avg incl. pad, 2 avg excl. pad

__device__ __forceinline__ void pool_window(int o, int n, const PoolGeom& g, int& s, int& e, int& padded) {
    int start = o * g.stride - g.padding;
    int end = min(start + g.kernel, n + g.padding);
    padded = end - start;
    s = max(start, 0);
    e = min(end, n);
}

// x: (planes, h, w) -> y: (planes, p, q). One thread per output.
template <typename T> __device__ void pool_forward_k(T* y, const T* x, PoolGeom g) {
    GRID_STRIDE(i, g.planes * g.p * g.q) {
        const unsigned pq = g.p * g.q, plane = i / pq, rem = i - plane * pq, op = rem / g.q, oq = rem - op * g.q;
        int h0, h1, hp, w0, w1, wp;
        pool_window(op, g.h, g, h0, h1, hp);
        pool_window(oq, g.w, g, w0, w1, wp);
        const T* xp = x + (size_t)plane * g.h * g.w;
        if (g.mode == 0) {
            T best = -INFINITY;
            bool any = false;
            for (int a = h0; a < h1; a++)
                for (int b = w0; b < w1; b++) {
                    const T v = xp[a * g.w + b];
                    if (!any || v > best || (isnan(v) && !isnan(best))) { best = v; any = true; }
                }
            y[i] = best;
        } else {
            double s = 0.0;
            for (int a = h0; a < h1; a++)
                for (int b = w0; b < w1; b++) s += (double)xp[a * g.w + b];
            const int div = g.mode == 1 ? hp * wp : (h1 - h0) * (w1 - w0);
            y[i] = (T)(s / div);
        }
    }
}
extern "C" __global__ void pool_forward_f32(float* y, const float* x, PoolGeom g) { pool_forward_k(y, x, g); }
extern "C" __global__ void pool_forward_f64(double* y, const double* x, PoolGeom g) { pool_forward_k(y, x, g); }

// dy: (planes, p, q) -> dx: (planes, h, w), which must be zeroed first: each output scatters with atomicAdd (max: to the
// first maximum of its window; average: dy / divisor to every element of the clipped window).
template <typename T> __device__ void pool_backward_k(T* dx, const T* x, const T* dy, PoolGeom g) {
    GRID_STRIDE(i, g.planes * g.p * g.q) {
        const unsigned pq = g.p * g.q, plane = i / pq, rem = i - plane * pq, op = rem / g.q, oq = rem - op * g.q;
        int h0, h1, hp, w0, w1, wp;
        pool_window(op, g.h, g, h0, h1, hp);
        pool_window(oq, g.w, g, w0, w1, wp);
        const size_t base = (size_t)plane * g.h * g.w;
        if (g.mode == 0) {
            T best = -INFINITY;
            int at = -1;
            for (int a = h0; a < h1; a++)
                for (int b = w0; b < w1; b++) {
                    const T v = x[base + a * g.w + b];
                    if (at < 0 || v > best || (isnan(v) && !isnan(best))) { best = v; at = a * g.w + b; }
                }
            if (at >= 0) atomicAdd(dx + base + at, dy[i]);
        } else {
            const int div = g.mode == 1 ? hp * wp : (h1 - h0) * (w1 - w0);
            const T v = dy[i] / (T)div;
            for (int a = h0; a < h1; a++)
                for (int b = w0; b < w1; b++) atomicAdd(dx + base + a * g.w + b, v);
        }
    }
}
extern "C" __global__ void pool_backward_f32(float* dx, const float* x, const float* dy, PoolGeom g) { pool_backward_k(dx, x, dy, g); }
extern "C" __global__ void pool_backward_f64(double* dx, const double* x, const double* dy, PoolGeom g) { pool_backward_k(dx, x, dy, g); }

// ---- per-plane broadcast: dx (planes, hw) = dy[plane] * scale (GAP backward) ----

template <typename T> __device__ void plane_broadcast_k(T* dx, const T* dy, unsigned planes, unsigned hw, double scale) {
    GRID_STRIDE(i, planes * hw) dx[i] = (T)((double)dy[i / hw] * scale);
}
extern "C" __global__ void plane_broadcast_f32(float* dx, const float* dy, unsigned planes, unsigned hw, double scale) { plane_broadcast_k(dx, dy, planes, hw, scale); }
extern "C" __global__ void plane_broadcast_f64(double* dx, const double* dy, unsigned planes, unsigned hw, double scale) { plane_broadcast_k(dx, dy, planes, hw, scale); }

// ---- channel bias: y (n, c, l) += bias[c] ----

template <typename T> __device__ void channel_bias_k(T* y, const T* bias, unsigned n, unsigned c, unsigned l) {
    GRID_STRIDE(i, n * c * l) y[i] += bias[(i / l) % c];
}
extern "C" __global__ void channel_bias_f32(float* y, const float* b, unsigned n, unsigned c, unsigned l) { channel_bias_k(y, b, n, c, l); }
extern "C" __global__ void channel_bias_f64(double* y, const double* b, unsigned n, unsigned c, unsigned l) { channel_bias_k(y, b, n, c, l); }

// ---- Axpy (all contiguous): out (planes, hw) = a[plane] * x + y (y may be null: channel scale), then ReLU ----

template <typename T> __device__ void axpy_generic_k(T* out, const T* a, const T* x, const T* y, unsigned planes, unsigned hw, int relu) {
    GRID_STRIDE(i, planes * hw) {
        T v = a[i / hw] * x[i];
        if (y != nullptr) v += y[i];
        out[i] = relu ? (v > (T)0 ? v : (T)0) : v;
    }
}
extern "C" __global__ void axpy_generic_f32(float* o, const float* a, const float* x, const float* y, unsigned p, unsigned hw, int relu) { axpy_generic_k(o, a, x, y, p, hw, relu); }
extern "C" __global__ void axpy_generic_f64(double* o, const double* a, const double* x, const double* y, unsigned p, unsigned hw, int relu) { axpy_generic_k(o, a, x, y, p, hw, relu); }

// One block per plane: g = dout masked by out > 0 (relu); dx = a*g, dy = g, da[plane] = sum g*x (in double). Null outputs skipped.
template <typename T> __device__ void axpy_generic_backward_k(T* da, T* dx, T* dy, const T* a, const T* x, const T* out, const T* dout,
                                                             unsigned planes, unsigned hw, int relu) {
    __shared__ double scratch[32];
    for (unsigned p = blockIdx.x; p < planes; p += gridDim.x) {
        const size_t at = (size_t)p * hw;
        const T s = a[p];
        double acc = 0.0;
        for (unsigned j = threadIdx.x; j < hw; j += blockDim.x) {
            const T g = relu && !(out[at + j] > (T)0) ? (T)0 : dout[at + j];
            if (dx != nullptr) dx[at + j] = s * g;
            if (dy != nullptr) dy[at + j] = g;
            acc += (double)(g * x[at + j]);
        }
        acc = block_sum(acc, scratch);
        if (da != nullptr && threadIdx.x == 0) da[p] = (T)acc;
    }
}
extern "C" __global__ void axpy_generic_backward_f32(float* da, float* dx, float* dy, const float* a, const float* x, const float* o, const float* g, unsigned p, unsigned hw, int relu) { axpy_generic_backward_k(da, dx, dy, a, x, o, g, p, hw, relu); }
extern "C" __global__ void axpy_generic_backward_f64(double* da, double* dx, double* dy, const double* a, const double* x, const double* o, const double* g, unsigned p, unsigned hw, int relu) { axpy_generic_backward_k(da, dx, dy, a, x, o, g, p, hw, relu); }

// ---- batch norm over x: (n, c, l) contiguous; per-channel vectors (c); null pointers = absent. One block per channel. ----

// training != 0: batch mean and biased variance (two passes, double), running stats updated with the unbiased variance;
// else the running stats normalise. Writes save_mean / save_invstd when given, then y = x * scale + shift.
template <typename T> __device__ void bn_forward_k(T* y, T* save_mean, T* save_invstd, T* run_mean, T* run_var, const T* x, const T* w, const T* b,
                                                  unsigned n, unsigned c, unsigned l, int training, double momentum, double eps) {
    __shared__ double scratch[32];
    const unsigned m = n * l;
    for (unsigned ch = blockIdx.x; ch < c; ch += gridDim.x) {
        double mean, var;
        if (training) {
            double s = 0.0;
            for (unsigned i = threadIdx.x; i < m; i += blockDim.x) s += (double)x[((size_t)(i / l) * c + ch) * l + i % l];
            mean = block_sum(s, scratch) / m;
            double sq = 0.0;
            for (unsigned i = threadIdx.x; i < m; i += blockDim.x) { const double v = (double)x[((size_t)(i / l) * c + ch) * l + i % l] - mean; sq += v * v; }
            sq = block_sum(sq, scratch);
            var = sq / m;
            if (run_mean != nullptr && threadIdx.x == 0) {
                run_mean[ch] = (T)((1.0 - momentum) * (double)run_mean[ch] + momentum * mean);
                run_var[ch] = (T)((1.0 - momentum) * (double)run_var[ch] + momentum * (sq / (m - 1)));
            }
        } else {
            mean = (double)run_mean[ch];
            var = (double)run_var[ch];
        }
        const double invstd = 1.0 / sqrt(var + eps);
        if (threadIdx.x == 0) {
            if (save_mean != nullptr) save_mean[ch] = (T)mean;
            if (save_invstd != nullptr) save_invstd[ch] = (T)invstd;
        }
        const double gamma = w == nullptr ? 1.0 : (double)w[ch], beta = b == nullptr ? 0.0 : (double)b[ch];
        const T scale = (T)(gamma * invstd), shift = (T)(beta - mean * gamma * invstd);
        for (unsigned i = threadIdx.x; i < m; i += blockDim.x) {
            const size_t at = ((size_t)(i / l) * c + ch) * l + i % l;
            y[at] = x[at] * scale + shift;
        }
        __syncthreads();
    }
}
extern "C" __global__ void bn_forward_f32(float* y, float* sm, float* si, float* rm, float* rv, const float* x, const float* w, const float* b,
                                          unsigned n, unsigned c, unsigned l, int training, double momentum, double eps) { bn_forward_k(y, sm, si, rm, rv, x, w, b, n, c, l, training, momentum, eps); }
extern "C" __global__ void bn_forward_f64(double* y, double* sm, double* si, double* rm, double* rv, const double* x, const double* w, const double* b,
                                          unsigned n, unsigned c, unsigned l, int training, double momentum, double eps) { bn_forward_k(y, sm, si, rm, rv, x, w, b, n, c, l, training, momentum, eps); }

// Sums dy and dy*xhat per channel; dw = sum dy*xhat, db = sum dy;
// training: dx = k*(dy - sum dy/m - xhat * sum dy*xhat / m), eval: dx = k*dy, k = gamma*invstd.
template <typename T> __device__ void bn_backward_k(T* dx, T* dw, T* db, const T* x, const T* dy, const T* w, const T* mean_, const T* invstd_,
                                                   unsigned n, unsigned c, unsigned l, int training) {
    __shared__ double scratch[32];
    const unsigned m = n * l;
    for (unsigned ch = blockIdx.x; ch < c; ch += gridDim.x) {
        const double mean = mean_[ch], invstd = invstd_[ch];
        double sdy = 0.0, sdyx = 0.0;
        for (unsigned i = threadIdx.x; i < m; i += blockDim.x) {
            const size_t at = ((size_t)(i / l) * c + ch) * l + i % l;
            const double g = dy[at];
            sdy += g;
            sdyx += g * ((double)x[at] - mean);
        }
        sdy = block_sum(sdy, scratch);
        sdyx = block_sum(sdyx, scratch) * invstd;
        if (threadIdx.x == 0) {
            if (dw != nullptr) dw[ch] = (T)sdyx;
            if (db != nullptr) db[ch] = (T)sdy;
        }
        if (dx != nullptr) {
            const double k = (w == nullptr ? 1.0 : (double)w[ch]) * invstd;
            const double a = training ? -k * invstd * sdyx / m : 0.0;
            const double bb = training ? -k * sdy / m - a * mean : 0.0;
            const T kT = (T)k, aT = (T)a, bT = (T)bb;
            for (unsigned i = threadIdx.x; i < m; i += blockDim.x) {
                const size_t at = ((size_t)(i / l) * c + ch) * l + i % l;
                dx[at] = kT * dy[at] + aT * x[at] + bT;
            }
        }
    }
}
extern "C" __global__ void bn_backward_f32(float* dx, float* dw, float* db, const float* x, const float* dy, const float* w, const float* mean, const float* invstd,
                                           unsigned n, unsigned c, unsigned l, int training) { bn_backward_k(dx, dw, db, x, dy, w, mean, invstd, n, c, l, training); }
extern "C" __global__ void bn_backward_f64(double* dx, double* dw, double* db, const double* x, const double* dy, const double* w, const double* mean, const double* invstd,
                                           unsigned n, unsigned c, unsigned l, int training) { bn_backward_k(dx, dw, db, x, dy, w, mean, invstd, n, c, l, training); }
