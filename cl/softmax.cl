/* Row-wise softmax family: softmax / log-softmax over the last axis, the
 * softmax backward y * (gy - sum(gy * y)) and its derivative with respect
 * to y, and per-row cross-entropy against int32 labels.
 * Host side: src/kernels/softmax.c.
 *
 * A tensor is seen as [rows, len] (len = the last axis), one row a unit of
 * common.cl's row-reduction prologue: one work-item per row, or with
 * -DSC_ROW_GROUP one work-group per row (long rows, few rows). Either way
 * every reduction has a fixed order: no atomics, the same input gives the
 * same bits run to run. Numerically stable: the row maximum is subtracted
 * before exp. */

/* Declares m = the maximum of the row p[0, len) and s = sum_j exp(p[j] - m),
 * both the row's in every lane. */
#define ROW_MAX_SUMEXP(p, len, m, s)                                           \
    float m = -INFINITY;                                                       \
    SC_ROW_LOOP(j, len) m = fmax(m, (p)[j]);                                   \
    m = SC_ROW_MAX(m);                                                         \
    float s = 0.0f;                                                            \
    SC_ROW_LOOP(j, len) s += exp((p)[j] - m);                                  \
    s = SC_ROW_SUM(s)

/* y = softmax(x) (logmode 0) or log_softmax(x) (logmode 1) per row. */
SC_ROW_KERNEL void sc_softmax_forward(__global float *y, uint yo, __global const float *x, uint xo,
                                      uint rows, uint len, uint logmode)
{
    SC_ROW_BEGIN(r, rows)
        __global const float *p = x + xo + (size_t)r * len;
        __global float *q = y + yo + (size_t)r * len;
        if (logmode) {
            ROW_MAX_SUMEXP(p, len, m, s);
            float ls = log(s);
            SC_ROW_LOOP(j, len) q[j] = (p[j] - m) - ls;
        } else {
            /* one exp per element, in a loop of its own: the row keeps
             * exp(x - m), then sums it and divides by s (the same bits as
             * exp(x - m) / s with the exp computed twice; x may be y). An
             * ordered float sum is never vectorised, a map is: with the exp
             * inside the sum's loop (as ROW_MAX_SUMEXP has it) every exp
             * ran scalar on PoCL. */
            float m = -INFINITY;
            SC_ROW_LOOP(j, len) m = fmax(m, p[j]);
            m = SC_ROW_MAX(m);
            SC_ROW_LOOP(j, len) q[j] = sc_exp_neg(p[j] - m);
            float s = 0.0f;
            SC_ROW_LOOP(j, len) s += q[j];
            s = SC_ROW_SUM(s);
            SC_ROW_LOOP(j, len) q[j] = q[j] / s;
        }
    SC_ROW_END
}

/* z = y * (gy - sum(gy * y)): the softmax backward, y the softmax output. */
SC_ROW_KERNEL void sc_softmax_backward(__global float *z, uint zo, __global const float *y, uint yo,
                                       __global const float *gy, uint go, uint rows, uint len)
{
    SC_ROW_BEGIN(r, rows)
        size_t base = (size_t)r * len;
        __global const float *py = y + yo + base, *pg = gy + go + base;
        __global float *pz = z + zo + base;
        float s = 0.0f;
        SC_ROW_LOOP(j, len) s += pg[j] * py[j];
        s = SC_ROW_SUM(s);
        SC_ROW_LOOP(j, len) pz[j] = py[j] * (pg[j] - s);
    SC_ROW_END
}

/* z = gg * (gy - sum(gy * y)) - gy * sum(gg * y): the derivative of
 * <gg, softmax_backward(y, gy)> with respect to y. */
SC_ROW_KERNEL void sc_softmax_backward_y(__global float *z, uint zo, __global const float *y,
                                         uint yo, __global const float *gy, uint go,
                                         __global const float *gg, uint ggo, uint rows, uint len)
{
    SC_ROW_BEGIN(r, rows)
        size_t base = (size_t)r * len;
        __global const float *py = y + yo + base, *pg = gy + go + base, *pgg = gg + ggo + base;
        __global float *pz = z + zo + base;
        float s = 0.0f, t = 0.0f;
        SC_ROW_LOOP(j, len) {
            s += pg[j] * py[j];
            t += pgg[j] * py[j];
        }
        s = SC_ROW_SUM(s);
        t = SC_ROW_SUM(t);
        SC_ROW_LOOP(j, len) pz[j] = pgg[j] * (pg[j] - s) - pg[j] * t;
    SC_ROW_END
}

/* loss[r] = logsumexp(x[r, :]) - x[r, label[r]]; a label outside [0, len)
 * gives NaN for its row, never a read outside the row. */
SC_ROW_KERNEL void sc_softmax_cross_entropy(__global float *loss, uint lo, __global const float *x,
                                            uint xo, __global const int *labels, uint labo,
                                            uint rows, uint len)
{
    SC_ROW_BEGIN(r, rows)
        __global const float *p = x + xo + (size_t)r * len;
        ROW_MAX_SUMEXP(p, len, m, s);
        if (lane == 0) {
            int c = labels[labo + r];
            loss[lo + r] = (c >= 0 && (uint)c < len) ? log(s) - (p[c] - m) : NAN;
        }
    SC_ROW_END
}

/* The backward of log-softmax, fused: gx = gy - exp(y) * sum(gy), y the
 * log-softmax output (the composed rule: exp, sum, mul, sub). */
SC_ROW_KERNEL void sc_softmax_log_backward(__global float *gx, uint gxo, __global const float *y,
                                           uint yo, __global const float *gy, uint go, uint rows,
                                           uint len)
{
    SC_ROW_BEGIN(r, rows)
        size_t base = (size_t)r * len;
        __global const float *py = y + yo + base, *pg = gy + go + base;
        __global float *pz = gx + gxo + base;
        float s = 0.0f;
        SC_ROW_LOOP(j, len) s += pg[j];
        s = SC_ROW_SUM(s);
        SC_ROW_LOOP(j, len) pz[j] = pg[j] - exp(py[j]) * s;
    SC_ROW_END
}

/* The backward of the per-row cross-entropy, fused: gx[r, j] = gy[r] *
 * (softmax(x[r, :])[j] - [j == label[r]]) (the composed rule: softmax,
 * one-hot, sub, mul). A label outside [0, len) makes the row NaN, as the
 * composed one-hot does. */
SC_ROW_KERNEL void sc_softmax_cross_entropy_backward(__global float *gx, uint gxo,
                                                     __global const float *x, uint xo,
                                                     __global const int *labels, uint labo,
                                                     __global const float *gy, uint go,
                                                     uint rows, uint len)
{
    SC_ROW_BEGIN(r, rows)
        __global const float *p = x + xo + (size_t)r * len;
        __global float *q = gx + gxo + (size_t)r * len;
        ROW_MAX_SUMEXP(p, len, m, s);
        int c = labels[labo + r];
        float g = (c >= 0 && (uint)c < len) ? gy[go + r] : NAN;
        SC_ROW_LOOP(j, len) q[j] = g * (exp(p[j] - m) / s - ((int)j == c ? 1.0f : 0.0f));
    SC_ROW_END
}
