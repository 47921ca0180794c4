/* Normalisation (layer norm, batch norm) and the strided copies of concat /
 * slice. Host side: src/nn/ops_norm.c (norms) and src/nn/ops_attention.c
 * (concat, slice and its zero-padded adjoint).
 *
 * Normalisation sees x as [outer, C, inner] and normalises each channel c
 * over its M = outer * inner elements x[o, c, i]:
 *   layer norm  [1, rows, D]      (a channel is a row)
 *   batch norm  [N, C, H*W]       (or [N, C, 1])
 * Two layouts, picked by the host with -D:
 *   (default)        one work-item per channel, grid-stride over channels;
 *   -DSC_ROW_GROUP   one work-group of SC_WG per channel (many elements per
 *                    channel, few channels), tree reduction in local memory.
 * Statistics are two-pass (mean, then the mean of squared deviations) in a
 * fixed order: no atomics, the same bits run to run. */

#ifdef SC_ROW_GROUP
#define LANES SC_WG

inline float sc_norm_group_sum(__local float *buf, uint lane, float v)
{
    buf[lane] = v;
    SC_LOCAL_REDUCE(buf, lane, SC_OP_SUM);
    float r = buf[0];
    barrier(CLK_LOCAL_MEM_FENCE); /* everyone has read buf[0] before it is reused */
    return r;
}

#define NORM_KERNEL __kernel __attribute__((reqd_work_group_size(SC_WG, 1, 1)))
#define CH_BEGIN(channels)                                                     \
    __local float sc_buf_[SC_WG];                                              \
    const uint lane = (uint)get_local_id(0);                                   \
    {                                                                          \
        const uint c = (uint)get_group_id(0);
#define CH_END }
#define RED_SUM(v) sc_norm_group_sum(sc_buf_, lane, (v))

#else
#define LANES 1
#define NORM_KERNEL __kernel
#define CH_BEGIN(channels)                                                     \
    const uint lane = 0;                                                       \
    SC_FOR_EACH(c, channels) {
#define CH_END }
#define RED_SUM(v) (v)
#endif

/* Element k (< outer * inner) of channel c. */
#define NORM_AT(k) ((size_t)((k) / inner) * C * inner + (size_t)c * inner + (k) % inner)

/* xh = (x - mean_c) * rstd_c with rstd_c = 1 / sqrt(var_c + eps) (biased
 * variance); rstd [C]. With update != 0 also the running statistics (PyTorch's
 * rule, unbiased variance): rm = (1 - momentum) * rm + momentum * mean,
 * rv = (1 - momentum) * rv + momentum * var * M / (M - 1). */
NORM_KERNEL void sc_norm_forward(__global float *xh, uint xho, __global float *rstd, uint ro,
                                 __global const float *x, uint xo, uint outer, uint C, uint inner,
                                 float eps, uint update, float momentum, __global float *rmean,
                                 uint rmo, __global float *rvar, uint rvo)
{
    const uint M = outer * inner;
    CH_BEGIN(C)
        float s = 0.0f;
        for (uint k = lane; k < M; k += LANES) s += x[xo + NORM_AT(k)];
        float mean = RED_SUM(s) / (float)M;
        float q = 0.0f;
        for (uint k = lane; k < M; k += LANES) {
            float d = x[xo + NORM_AT(k)] - mean;
            q = fma(d, d, q);
        }
        float var = RED_SUM(q) / (float)M;
        float rs = 1.0f / sqrt(var + eps);
        for (uint k = lane; k < M; k += LANES) {
            size_t at = NORM_AT(k);
            xh[xho + at] = (x[xo + at] - mean) * rs;
        }
        if (lane == 0) {
            rstd[ro + c] = rs;
            if (update) {
                float unbiased = M > 1 ? var * ((float)M / (float)(M - 1)) : var;
                rmean[rmo + c] = (1.0f - momentum) * rmean[rmo + c] + momentum * mean;
                rvar[rvo + c] = (1.0f - momentum) * rvar[rvo + c] + momentum * unbiased;
            }
        }
    CH_END
}

/* ---- concat / slice: x seen as [outer, width] ----------------------------- */

/* y[o, :] = [a[o, 0:wa], b[o, 0:wb]] */
__kernel void sc_norm_concat(__global float *y, uint yo, __global const float *a, uint ao,
                             __global const float *b, uint bo, uint outer, uint wa, uint wb)
{
    uint w = wa + wb;
    SC_FOR_EACH(i, outer * w) {
        uint o = i / w, j = i - o * w;
        y[yo + i] = j < wa ? a[ao + o * wa + j] : b[bo + o * wb + (j - wa)];
    }
}

/* y[o, 0:w] = x[o, start:start + w] of x [outer, width] */
__kernel void sc_norm_slice(__global float *y, uint yo, __global const float *x, uint xo,
                            uint outer, uint width, uint start, uint w)
{
    SC_FOR_EACH(i, outer * w) {
        uint o = i / w, j = i - o * w;
        y[yo + i] = x[xo + o * width + start + j];
    }
}

/* y [outer, width] = x [outer, w] placed at columns start:start + w, zeros
 * elsewhere (the adjoint of sc_norm_slice). */
__kernel void sc_norm_pad(__global float *y, uint yo, __global const float *x, uint xo,
                          uint outer, uint width, uint start, uint w)
{
    SC_FOR_EACH(i, outer * width) {
        uint o = i / width, j = i - o * width;
        y[yo + i] = (j >= start && j - start < w) ? x[xo + o * w + (j - start)] : 0.0f;
    }
}
