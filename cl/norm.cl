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

/* Element k (< outer * inner) of channel c. */
#define NORM_AT(k) ((size_t)((k) / inner) * C * inner + (size_t)c * inner + (k) % inner)

/* xh = (x - mean_c) * rstd_c with rstd_c = 1 / sqrt(var_c + eps) (biased
 * variance); rstd [C]. With update != 0 also the running statistics (PyTorch's
 * rule, unbiased variance): rm = (1 - momentum) * rm + momentum * mean,
 * rv = (1 - momentum) * rv + momentum * var * M / (M - 1). */
SC_ROW_KERNEL void sc_norm_forward(__global float *xh, uint xho, __global float *rstd, uint ro,
                                    __global const float *x, uint xo, uint outer, uint C,
                                    uint inner, float eps, uint update, float momentum,
                                    __global float *rmean, uint rmo, __global float *rvar, uint rvo)
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
    SC_ROW_END
}
