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
