/* Normalisation (layer norm, batch norm). Host side: src/kernels/norm.c.
 *
 * Normalisation sees x as [outer, C, inner] and normalises each channel c
 * over its M = outer * inner elements x[o, c, i]:
 *   layer norm  [1, rows, D]      (a channel is a row)
 *   batch norm  [N, C, H*W]       (or [N, C, 1])
 * A channel is a row of common.cl's row-reduction prologue: one work-item
 * per channel, or with -DSC_ROW_GROUP one work-group per channel (many
 * elements per channel, few channels), a fixed tree in local memory.
 * Statistics are two-pass (mean, then the mean of squared deviations) in a
 * fixed order: no atomics, the same bits run to run. */

/* Element k (< outer * inner) of channel c, and its position in [0, inner)
 * (which indexes layer norm's w and b). -DNORM_ROWS (the host's, for outer
 * == 1: layer norm's [1, rows, D]) drops the integer division and modulo,
 * which PoCL cannot vectorise (3x the time of layer norm's kernels). */
#ifdef NORM_ROWS
#define NORM_AT(k) ((size_t)c * inner + (k))
#define NORM_POS(k) (k)
#else
#define NORM_AT(k) ((size_t)((k) / inner) * C * inner + (size_t)c * inner + (k) % inner)
#define NORM_POS(k) ((k) % inner)
#endif

/* the affine flags (src/kernels/norm.c) */
#define NORM_W 1u
#define NORM_B 2u

/* xh = (x - mean_c) * rstd_c with rstd_c = 1 / sqrt(var_c + eps) (biased
 * variance); rstd [C]. With aff != 0 (layer norm's affine part, w and b
 * indexed by the position i in [0, inner)) also y = xh * w + b, w when
 * aff & NORM_W, b when aff & NORM_B. With update != 0 also the running statistics (PyTorch's
 * rule, unbiased variance): rm = (1 - momentum) * rm + momentum * mean,
 * rv = (1 - momentum) * rv + momentum * var * M / (M - 1). */
SC_ROW_KERNEL void sc_norm_forward(__global float *xh, uint xho, __global float *rstd, uint ro,
                                    __global const float *x, uint xo, uint outer, uint C,
                                    uint inner, float eps, uint update, float momentum,
                                    __global float *rmean, uint rmo, __global float *rvar, uint rvo,
                                    __global float *y, uint yo, __global const float *w, uint wo,
                                    __global const float *b, uint bo, uint aff)
{
    const uint M = outer * inner;
    SC_ROW_BEGIN(c, C)
        float s = 0.0f;
        SC_ROW_LOOP(k, M) s += x[xo + NORM_AT(k)];
        float mean = SC_ROW_SUM(s) / (float)M;
        float q = 0.0f;
        SC_ROW_LOOP(k, M) {
            float d = x[xo + NORM_AT(k)] - mean;
            q = fma(d, d, q);
        }
        float var = SC_ROW_SUM(q) / (float)M;
        float rs = 1.0f / sqrt(var + eps);
        SC_ROW_LOOP(k, M) {
            size_t at = NORM_AT(k);
            float v = (x[xo + at] - mean) * rs;
            xh[xho + at] = v;
            if (aff) {
                uint i = NORM_POS(k);
                if (aff & NORM_W)
                    v *= w[wo + i];
                if (aff & NORM_B)
                    v += b[bo + i];
                y[yo + at] = v;
            }
        }
        if (lane == 0) {
            rstd[ro + c] = rs;
            if (update) {
                float unbiased = M > 1 ? var * ((float)M / (float)(M - 1)) : var;
                rmean[rmo + c] = (1.0f - momentum) * rmean[rmo + c] + momentum * mean;
                rvar[rvo + c] = (1.0f - momentum) * rvar[rvo + c] + momentum * unbiased;
            }
        }
    SC_ROW_END
}

/* The backward of xh with respect to x, fused (the composed rule of
 * src/nn/ops_norm.c in one pass per channel):
 *   gx = rstd_c * (g - mean_c(g) - xh * mean_c(g * xh))
 * with g = gy, or g = gy * w[i] (i the position in [0, inner)) when has_w:
 * layer norm's affine weight folded in. gy, xh and gx share x's layout. */
SC_ROW_KERNEL void sc_norm_backward(__global float *gx, uint gxo, __global const float *gy, uint go,
                                    __global const float *xh, uint xho,
                                    __global const float *rstd, uint ro, __global const float *w,
                                    uint wo, uint outer, uint C, uint inner, uint has_w)
{
    const uint M = outer * inner;
    SC_ROW_BEGIN(c, C)
        float s1 = 0.0f, s2 = 0.0f;
        SC_ROW_LOOP(k, M) {
            size_t at = NORM_AT(k);
            float g = gy[go + at];
            if (has_w)
                g *= w[wo + NORM_POS(k)];
            s1 += g;
            s2 = fma(g, xh[xho + at], s2);
        }
        float m1 = SC_ROW_SUM(s1) / (float)M;
        float m2 = SC_ROW_SUM(s2) / (float)M;
        float rs = rstd[ro + c];
        SC_ROW_LOOP(k, M) {
            size_t at = NORM_AT(k);
            float g = gy[go + at];
            if (has_w)
                g *= w[wo + NORM_POS(k)];
            gx[gxo + at] = rs * (g - m1 - xh[xho + at] * m2);
        }
    SC_ROW_END
}

/* Layer norm's affine gradients over [rows, D] in two passes, each over
 * work-items whose neighbours read neighbouring columns (one work-item per
 * column alone leaves the vit's 64 columns on one core; a work-group per
 * column gathers with stride D: both 4-8x slower).
 * Pass 1: part[q, j] = sum_{r = q, q + Q, ...} gy[r, j] * xh[r, j] and
 * part[Q + q, j] = the same sum of gy[r, j], for q < Q. */
__kernel void sc_norm_affine_part(__global float *part, uint po, __global const float *gy, uint go,
                                  __global const float *xh, uint xho, uint rows, uint D, uint Q)
{
    SC_FOR_EACH(t, Q * D) {
        uint q = t / D, j = t % D;
        float sw = 0.0f, sb = 0.0f;
        for (uint r = q; r < rows; r += Q) {
            size_t at = (size_t)r * D + j;
            float g = gy[go + at];
            sw = fma(g, xh[xho + at], sw);
            sb += g;
        }
        part[po + t] = sw;
        part[po + (size_t)Q * D + t] = sb;
    }
}

/* Pass 2: gw[j] = sum_q part[q, j] (aff & NORM_W), gb[j] = sum_q
 * part[Q + q, j] (aff & NORM_B), q in order. */
__kernel void sc_norm_affine_grad(__global float *gw, uint gwo, __global float *gb, uint gbo,
                                  __global const float *part, uint po, uint D, uint Q, uint aff)
{
    SC_FOR_EACH(j, D) {
        float sw = 0.0f, sb = 0.0f;
        for (uint q = 0; q < Q; q++) {
            sw += part[po + (size_t)q * D + j];
            sb += part[po + (size_t)(Q + q) * D + j];
        }
        if (aff & NORM_W)
            gw[gwo + j] = sw;
        if (aff & NORM_B)
            gb[gbo + j] = sb;
    }
}
