// Fused AdamW kernels for spanscope's optimiser (src/train/schedule.rs), compiled to PTX by
// build.rs when the `cuda` feature is on.

// mv holds m (first n values) then v (next n); g is the raw gradient, scale[0] the clipping
// factor: m = b1·m + (1-b1)·g·s, v = b2·v + (1-b2)·(g·s)².
extern "C" __global__ void adamw_moments(float *mv, const float *g, const float *scale,
                                         float b1, float b2, unsigned int n) {
    unsigned int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        float gs = g[i] * scale[0];
        mv[i] = b1 * mv[i] + (1.0f - b1) * gs;
        mv[n + i] = b2 * mv[n + i] + (1.0f - b2) * gs * gs;
    }
}

// theta = theta·decay - lr_t·m / (√v + eps_t).
extern "C" __global__ void adamw_update(float *theta, const float *mv, float lr_t, float eps_t,
                                        float decay, unsigned int n) {
    unsigned int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        theta[i] = theta[i] * decay - lr_t * mv[i] / (sqrtf(mv[n + i]) + eps_t);
    }
}

// Multi-tensor AdamW: one launch for every weight of the model instead of one per weight.
// The weights, moments and gradients are passed as tables of device addresses; the work is cut
// into chunks of chunk_len elements, chunk c covering [chunk_start[c], chunk_start[c] +
// chunk_len) ∩ [0, sizes[t]) of weight t = chunk_tensor[c]. A null gradient address leaves the
// weight and its moments untouched (a weight the loss does not reach).

#define MT_THREADS 256

__device__ __forceinline__ float block_sum(float v, float *shared) {
    shared[threadIdx.x] = v;
    __syncthreads();
    for (unsigned int o = blockDim.x / 2; o > 0; o >>= 1) {
        if (threadIdx.x < o) shared[threadIdx.x] += shared[threadIdx.x + o];
        __syncthreads();
    }
    return shared[0];
}

// partials[c] = Σ g² over chunk c (summed in a fixed order: the result repeats run to run).
extern "C" __global__ void mt_sumsq(const unsigned long long *grads, const unsigned int *sizes,
                                    const unsigned int *chunk_tensor,
                                    const unsigned int *chunk_start, unsigned int chunk_len,
                                    float *partials) {
    __shared__ float shared[MT_THREADS];
    unsigned int c = blockIdx.x, t = chunk_tensor[c];
    const float *g = (const float *)grads[t];
    unsigned int start = chunk_start[c], end = min(start + chunk_len, sizes[t]);
    float s = 0.0f;
    if (g) {
        for (unsigned int i = start + threadIdx.x; i < end; i += blockDim.x) s += g[i] * g[i];
    }
    s = block_sum(s, shared);
    if (threadIdx.x == 0) partials[c] = s;
}

// One block: out[0] = ‖g‖, out[1] = the clipping factor min(1, max_norm / (‖g‖ + 1e-6)).
extern "C" __global__ void mt_norm(const float *partials, unsigned int count, float max_norm,
                                   float *out) {
    __shared__ float shared[MT_THREADS];
    float s = 0.0f;
    for (unsigned int i = threadIdx.x; i < count; i += blockDim.x) s += partials[i];
    s = block_sum(s, shared);
    if (threadIdx.x == 0) {
        float norm = sqrtf(s);
        out[0] = norm;
        out[1] = fminf(fmaxf(max_norm / (norm + 1e-6f), 0.0f), 1.0f);
    }
}

// adamw_moments then (when update is set) adamw_update, for every chunk; decay applies to the
// weights whose decays[t] is set.
extern "C" __global__ void mt_adamw(const unsigned long long *thetas,
                                    const unsigned long long *mvs,
                                    const unsigned long long *grads, const unsigned int *sizes,
                                    const unsigned int *decays, const unsigned int *chunk_tensor,
                                    const unsigned int *chunk_start, unsigned int chunk_len,
                                    const float *norm, float b1, float b2, float lr_t,
                                    float eps_t, float decay, unsigned int update) {
    unsigned int c = blockIdx.x, t = chunk_tensor[c];
    const float *g = (const float *)grads[t];
    if (!g) return;
    float *theta = (float *)thetas[t];
    float *mv = (float *)mvs[t];
    unsigned int n = sizes[t];
    unsigned int start = chunk_start[c], end = min(start + chunk_len, n);
    float s = norm[1];
    float d = decays[t] ? decay : 1.0f;
    for (unsigned int i = start + threadIdx.x; i < end; i += blockDim.x) {
        float gs = g[i] * s;
        float m = b1 * mv[i] + (1.0f - b1) * gs;
        float v = b2 * mv[n + i] + (1.0f - b2) * gs * gs;
        mv[i] = m;
        mv[n + i] = v;
        if (update) theta[i] = theta[i] * d - lr_t * m / (sqrtf(v) + eps_t);
    }
}
