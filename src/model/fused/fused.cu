// Fused training kernels for spanscope's encoder and heads (src/model/fused.rs): dropout from
// a counter-based hash, attention probabilities and the softmax gradient, layer norm, erf
// GELU, max over ranges of positions, f_a's per-query statistics and the two losses, each with
// its backward pass; and three for inference: a layer norm of a biased residual sum, a biased
// GELU, and the biased q/k/v product split into heads.
// Compiled to PTX by build.rs when the `cuda` feature is on. The CPU code in fused.rs
// computes the same functions; the dropout masks are bit-identical on both.

#include <stdint.h>

// murmur3's 32-bit finaliser.
__device__ __forceinline__ uint32_t fmix32(uint32_t h) {
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}

// Whether element i survives: the top 24 bits of a hash of (i, key) against p·2²⁴.
__device__ __forceinline__ bool dropout_keep(uint32_t i, uint32_t k0, uint32_t k1,
                                             uint32_t threshold) {
    return (fmix32(fmix32(i ^ k0) + k1) >> 8) >= threshold;
}

extern "C" __global__ void dropout_f32(const float *x, float *y, uint32_t k0, uint32_t k1,
                                       uint32_t threshold, float scale, uint32_t n) {
    for (uint32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) {
        y[i] = dropout_keep(i, k0, k1, threshold) ? x[i] * scale : 0.0f;
    }
}

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// One warp a row (threadIdx.x the lane, threadIdx.y the row within the block).
#define ROW_SETUP                                                  \
    uint32_t row = blockIdx.x * blockDim.y + threadIdx.y;          \
    if (row >= rows) return;                                       \
    uint32_t lane = threadIdx.x;                                   \
    size_t base = (size_t)row * cols;

// dx = scale · y · (dy - Σ dy·y)
extern "C" __global__ void softmax_bwd_f32(const float *y, const float *dy, float *dx,
                                           uint32_t rows, uint32_t cols, float scale) {
    ROW_SETUP
    float dot = 0.0f;
    for (uint32_t j = lane; j < cols; j += 32) dot += y[base + j] * dy[base + j];
    dot = warp_sum(dot);
    for (uint32_t j = lane; j < cols; j += 32) {
        dx[base + j] = scale * y[base + j] * (dy[base + j] - dot);
    }
}

// Attention probabilities from raw scores, in place: s = softmax(s·scale + mask[item]), the
// item of a row being row / rows_per_item and mask [items, cols] additive (0 or a large
// negative for padding keys).
extern "C" __global__ void scaled_masked_softmax_f32(float *s, const float *mask, uint32_t rows,
                                                     uint32_t cols, uint32_t rows_per_item,
                                                     float scale) {
    ROW_SETUP
    float *sr = s + base;
    const float *mr = mask + (size_t)(row / rows_per_item) * cols;
    float m = -INFINITY;
    for (uint32_t j = lane; j < cols; j += 32) {
        float v = sr[j] * scale + mr[j];
        sr[j] = v;
        m = fmaxf(m, v);
    }
    m = warp_max(m);
    float total = 0.0f;
    for (uint32_t j = lane; j < cols; j += 32) {
        float e = expf(sr[j] - m);
        sr[j] = e;
        total += e;
    }
    float inv = 1.0f / warp_sum(total);
    for (uint32_t j = lane; j < cols; j += 32) sr[j] *= inv;
}

__device__ __forceinline__ void row_stats(const float *xr, uint32_t lane, uint32_t cols,
                                          float eps, float *mean, float *rstd) {
    float s = 0.0f;
    for (uint32_t j = lane; j < cols; j += 32) s += xr[j];
    float mu = warp_sum(s) / cols;
    float v = 0.0f;
    for (uint32_t j = lane; j < cols; j += 32) {
        float c = xr[j] - mu;
        v += c * c;
    }
    *mean = mu;
    *rstd = rsqrtf(warp_sum(v) / cols + eps);
}

// Rows of up to 32 · ROW_REGS columns (1024: BERT-large's width) are held in registers, each
// lane's elements loaded at once, instead of a dependent round trip to memory per element and
// pass; the sums run in the same order either way, so the results are the same bits.
#define ROW_REGS 32

// Mean and 1/σ of a row held in registers (v[k] is column lane + 32k, 0 beyond cols).
__device__ __forceinline__ void reg_stats(const float *v, uint32_t lane, uint32_t cols,
                                          float eps, float *mean, float *rstd) {
    float s = 0.0f;
#pragma unroll
    for (int k = 0; k < ROW_REGS; k++) s += v[k];
    float mu = warp_sum(s) / cols;
    float q = 0.0f;
#pragma unroll
    for (int k = 0; k < ROW_REGS; k++) {
        if (lane + 32 * k < cols) {
            float c = v[k] - mu;
            q += c * c;
        }
    }
    *mean = mu;
    *rstd = rsqrtf(warp_sum(q) / cols + eps);
}

extern "C" __global__ void layer_norm_f32(const float *__restrict__ x,
                                          const float *__restrict__ w,
                                          const float *__restrict__ b, float *__restrict__ y,
                                          uint32_t rows, uint32_t cols, float eps) {
    ROW_SETUP
    float mean, rstd;
    if (cols <= 32 * ROW_REGS) {
        float v[ROW_REGS];
#pragma unroll
        for (int k = 0; k < ROW_REGS; k++) {
            uint32_t j = lane + 32 * k;
            v[k] = j < cols ? x[base + j] : 0.0f;
        }
        reg_stats(v, lane, cols, eps, &mean, &rstd);
#pragma unroll
        for (int k = 0; k < ROW_REGS; k++) {
            uint32_t j = lane + 32 * k;
            if (j < cols) y[base + j] = (v[k] - mean) * rstd * w[j] + b[j];
        }
        return;
    }
    row_stats(x + base, lane, cols, eps, &mean, &rstd);
    for (uint32_t j = lane; j < cols; j += 32) {
        y[base + j] = (x[base + j] - mean) * rstd * w[j] + b[j];
    }
}

// Inference: y = LN(x + bias + residual), the bias of the matrix product x and the residual
// sum folded into the layer norm. Each lane normalises the elements it summed.
extern "C" __global__ void bias_residual_layer_norm_f32(
    const float *__restrict__ x, const float *__restrict__ bias, const float *__restrict__ res,
    const float *__restrict__ w, const float *__restrict__ b, float *__restrict__ y,
    uint32_t rows, uint32_t cols, float eps) {
    ROW_SETUP
    float *yr = y + base;
    if (cols <= 32 * ROW_REGS) {
        float v[ROW_REGS];
#pragma unroll
        for (int k = 0; k < ROW_REGS; k++) {
            uint32_t j = lane + 32 * k;
            v[k] = j < cols ? (x[base + j] + bias[j]) + res[base + j] : 0.0f;
        }
        float mean, rstd;
        reg_stats(v, lane, cols, eps, &mean, &rstd);
#pragma unroll
        for (int k = 0; k < ROW_REGS; k++) {
            uint32_t j = lane + 32 * k;
            if (j < cols) yr[j] = (v[k] - mean) * rstd * w[j] + b[j];
        }
        return;
    }
    for (uint32_t j = lane; j < cols; j += 32) yr[j] = (x[base + j] + bias[j]) + res[base + j];
    float mean, rstd;
    row_stats(yr, lane, cols, eps, &mean, &rstd);
    for (uint32_t j = lane; j < cols; j += 32) yr[j] = (yr[j] - mean) * rstd * w[j] + b[j];
}

// out holds [2, rows, cols]: dx, then dy·x̂ (summed over rows by the caller into dw).
extern "C" __global__ void layer_norm_bwd_f32(const float *__restrict__ x,
                                              const float *__restrict__ w,
                                              const float *__restrict__ dy,
                                              float *__restrict__ out, uint32_t rows,
                                              uint32_t cols, float eps) {
    ROW_SETUP
    float mean, rstd;
    size_t second = (size_t)rows * cols;
    if (cols <= 32 * ROW_REGS) {
        float v[ROW_REGS], g[ROW_REGS];
#pragma unroll
        for (int k = 0; k < ROW_REGS; k++) {
            uint32_t j = lane + 32 * k;
            v[k] = j < cols ? x[base + j] : 0.0f;
            g[k] = j < cols ? dy[base + j] : 0.0f;
        }
        reg_stats(v, lane, cols, eps, &mean, &rstd);
        float a = 0.0f, c = 0.0f;
#pragma unroll
        for (int k = 0; k < ROW_REGS; k++) {
            uint32_t j = lane + 32 * k;
            if (j < cols) {
                float gw = g[k] * w[j];
                a += gw;
                c += gw * (v[k] - mean) * rstd;
            }
        }
        a = warp_sum(a) / cols;
        c = warp_sum(c) / cols;
#pragma unroll
        for (int k = 0; k < ROW_REGS; k++) {
            uint32_t j = lane + 32 * k;
            if (j < cols) {
                float xhat = (v[k] - mean) * rstd;
                out[base + j] = rstd * (g[k] * w[j] - a - xhat * c);
                out[second + base + j] = g[k] * xhat;
            }
        }
        return;
    }
    row_stats(x + base, lane, cols, eps, &mean, &rstd);
    float a = 0.0f, c = 0.0f;
    for (uint32_t j = lane; j < cols; j += 32) {
        float g = dy[base + j] * w[j];
        a += g;
        c += g * (x[base + j] - mean) * rstd;
    }
    a = warp_sum(a) / cols;
    c = warp_sum(c) / cols;
    for (uint32_t j = lane; j < cols; j += 32) {
        float xhat = (x[base + j] - mean) * rstd;
        out[base + j] = rstd * (dy[base + j] * w[j] - a - xhat * c);
        out[second + base + j] = dy[base + j] * xhat;
    }
}

extern "C" __global__ void gelu_f32(const float *x, float *y, uint32_t n) {
    for (uint32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) {
        float v = x[i];
        y[i] = 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
    }
}

// Inference: y = gelu(x + bias), bias over the last dimension of cols.
extern "C" __global__ void bias_gelu_f32(const float *x, const float *bias, float *y, uint32_t n,
                                         uint32_t cols) {
    for (uint32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) {
        float v = x[i] + bias[i % cols];
        y[i] = 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
    }
}

// Inference: the biased q/k/v product [B, T, 3, heads, d] laid out as [3, B, heads, T, d] for
// the attention products, y = (x + bias) moved, one kernel instead of a bias add and a copy.
// One thread an element of y (n = B · T · 3 · heads · d), t the sequence length, hd = heads · d.
extern "C" __global__ void bias_split_heads_f32(const float *__restrict__ x,
                                                const float *__restrict__ bias,
                                                float *__restrict__ y, uint32_t n, uint32_t batch,
                                                uint32_t t, uint32_t heads, uint32_t d) {
    uint32_t hd = heads * d;
    for (uint32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) {
        uint32_t e = i % d, r = i / d;
        uint32_t pos = r % t;
        r /= t;
        uint32_t head = r % heads;
        r /= heads;
        uint32_t item = r % batch, part = r / batch;
        uint32_t col = part * hd + head * d + e;
        y[i] = x[((size_t)item * t + pos) * 3 * hd + col] + bias[col];
    }
}

// d/dx gelu(x) = Φ(x) + x·φ(x)
extern "C" __global__ void gelu_bwd_f32(const float *x, const float *dy, float *dx, uint32_t n) {
    for (uint32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) {
        float v = x[i];
        float cdf = 0.5f * (1.0f + erff(v * 0.70710678118654752f));
        float pdf = 0.39894228040143268f * expf(-0.5f * v * v);
        dx[i] = dy[i] * (cdf + v * pdf);
    }
}

// Max over ranges of positions: y[r, d] = max over t in [bounds[2r], bounds[2r+1]) of
// x[b, t, d], b = r / n (n ranges an item); an empty range gives 0.
extern "C" __global__ void range_max_f32(const float *x, const uint32_t *bounds, float *y,
                                         uint32_t rows, uint32_t n, uint32_t len, uint32_t dim) {
    size_t total = (size_t)rows * dim;
    for (size_t i = blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (size_t)blockDim.x * gridDim.x) {
        uint32_t r = i / dim, d = i % dim, b = r / n;
        uint32_t s = bounds[2 * r], e = bounds[2 * r + 1];
        const float *col = x + (size_t)b * len * dim + d;
        float m = 0.0f;
        if (s < e) {
            m = col[(size_t)s * dim];
            for (uint32_t t = s + 1; t < e; t++) m = fmaxf(m, col[(size_t)t * dim]);
        }
        y[i] = m;
    }
}

// dx[b, t, d] = Σ dy[r, d] over the ranges r of item b whose first maximum sits at t. Each
// thread sums in range order: the result repeats exactly (no atomics).
extern "C" __global__ void range_max_bwd_f32(const float *x, const uint32_t *bounds,
                                             const float *dy, float *dx, uint32_t batch,
                                             uint32_t n, uint32_t len, uint32_t dim) {
    size_t total = (size_t)batch * len * dim;
    for (size_t i = blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (size_t)blockDim.x * gridDim.x) {
        uint32_t d = i % dim, t = (i / dim) % len, b = i / ((size_t)dim * len);
        const float *col = x + (size_t)b * len * dim + d;
        float acc = 0.0f;
        for (uint32_t k = 0; k < n; k++) {
            uint32_t r = b * n + k, s = bounds[2 * r], e = bounds[2 * r + 1];
            if (s > t || t >= e) continue;
            uint32_t arg = s;
            float m = col[(size_t)s * dim];
            for (uint32_t u = s + 1; u < e; u++) {
                float v = col[(size_t)u * dim];
                if (v > m) {
                    m = v;
                    arg = u;
                }
            }
            if (arg == t) acc += dy[(size_t)r * dim + d];
        }
        dx[i] = acc;
    }
}

// The maximum m of a row of cols values and the sum of exp(x - m) over it, in every lane of
// the row's warp (logsumexp = m + log(sum)).
__device__ __forceinline__ void row_max_sum_exp(const float *xr, uint32_t lane, uint32_t cols,
                                                float *max, float *sum) {
    float m = -INFINITY;
    for (uint32_t j = lane; j < cols; j += 32) m = fmaxf(m, xr[j]);
    m = warp_max(m);
    float s = 0.0f;
    for (uint32_t j = lane; j < cols; j += 32) s += expf(xr[j] - m);
    *max = m;
    *sum = warp_sum(s);
}

// Cross-entropy of each row of logits [rows, cols] against labels: logsumexp(x) - x[label].
extern "C" __global__ void cross_entropy_f32(const float *x, const uint32_t *labels, float *loss,
                                             uint32_t rows, uint32_t cols) {
    ROW_SETUP
    const float *xr = x + base;
    float m, s;
    row_max_sum_exp(xr, lane, cols, &m, &s);
    // A label out of range gives NaN (the caller's finiteness check reports it), never a read
    // out of bounds.
    uint32_t label = labels[row];
    if (lane == 0) loss[row] = label < cols ? m + logf(s) - xr[label] : NAN;
}

// dx[r, c] = g[r] · (softmax(x_r)[c] - 1[c = label_r])
extern "C" __global__ void cross_entropy_bwd_f32(const float *x, const uint32_t *labels,
                                                 const float *g, float *dx, uint32_t rows,
                                                 uint32_t cols) {
    ROW_SETUP
    const float *xr = x + base;
    float m, s;
    row_max_sum_exp(xr, lane, cols, &m, &s);
    float inv = 1.0f / s;
    uint32_t label = labels[row];  // out of range: no one-hot term (the loss was NaN)
    for (uint32_t j = lane; j < cols; j += 32) {
        dx[base + j] = g[row] * (expf(xr[j] - m) * inv - (j == label ? 1.0f : 0.0f));
    }
}

// Binary cross-entropy with logits, elementwise: max(x, 0) - x·t + log(1 + e^-|x|).
extern "C" __global__ void bce_f32(const float *x, const float *t, float *y, uint32_t n) {
    for (uint32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) {
        float v = x[i];
        y[i] = fmaxf(v, 0.0f) - v * t[i] + log1pf(expf(-fabsf(v)));
    }
}

// dx = g · (σ(x) - t)
extern "C" __global__ void bce_bwd_f32(const float *x, const float *t, const float *g, float *dx,
                                       uint32_t n) {
    for (uint32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) {
        dx[i] = g[i] * (1.0f / (1.0f + expf(-x[i])) - t[i]);
    }
}

// f_a's per-query statistics (src/explain/contribution.rs): a [B, LH, T, T] block of attention
// probabilities (LH = layers · heads), key mask [B, T] (1 real, 0 padding) and threshold θ give
// out [B, T, LH], out[b, t, lh] = Σ_k (or max_k) A[b, lh, t, k] · 1[A > θ] · mask[b, k]. One
// warp a row of keys.
extern "C" __global__ void query_stats_f32(const float *a, const float *mask, float *out,
                                           uint32_t rows, uint32_t cols, uint32_t lh,
                                           float theta, uint32_t use_max) {
    ROW_SETUP
    uint32_t t = row % cols, q = row / cols, h = q % lh, b = q / lh;
    const float *mr = mask + (size_t)b * cols;
    float acc = 0.0f;
    for (uint32_t j = lane; j < cols; j += 32) {
        float v = a[base + j];
        float x = v * (v > theta ? mr[j] : 0.0f);
        acc = use_max ? fmaxf(acc, x) : acc + x;
    }
    acc = use_max ? warp_max(acc) : warp_sum(acc);
    if (lane == 0) out[((size_t)b * cols + t) * lh + h] = acc;
}

// The gradient of query_stats_f32 for dout [B, T, LH]: dA = dout · kept, and for max only where
// the kept value equals the row's maximum (every tie, as candle's max does).
extern "C" __global__ void query_stats_bwd_f32(const float *a, const float *mask,
                                               const float *dout, const float *stats, float *da,
                                               uint32_t rows, uint32_t cols, uint32_t lh,
                                               float theta, uint32_t use_max) {
    ROW_SETUP
    uint32_t t = row % cols, q = row / cols, h = q % lh, b = q / lh;
    const float *mr = mask + (size_t)b * cols;
    size_t at = ((size_t)b * cols + t) * lh + h;
    float g = dout[at], top = stats[at];
    for (uint32_t j = lane; j < cols; j += 32) {
        float v = a[base + j];
        float kept = v > theta ? mr[j] : 0.0f;
        float on = use_max ? (v * kept == top ? 1.0f : 0.0f) : 1.0f;
        da[base + j] = g * kept * on;
    }
}

