/* Row-wise softmax family: softmax / log-softmax over the last axis, the
 * softmax backward y * (gy - sum(gy * y)) and its derivative with respect
 * to y, per-row cross-entropy against int32 labels, and one-hot rows.
 * Host side: src/nn/ops_softmax.c.
 *
 * A tensor is seen as [rows, len] (len = the last axis). Two layouts, picked
 * by the host with -D:
 *   (default)        one work-item per row, grid-stride over rows;
 *   -DSC_ROW_GROUP   one work-group of SC_WG per row (long rows, few rows):
 *                    lane l visits j = l, l + SC_WG, ... and partial results
 *                    are combined by a fixed tree in local memory.
 * Either way every reduction has a fixed order: no atomics, the same input
 * gives the same bits run to run. Numerically stable: the row maximum is
 * subtracted before exp. */

#ifdef SC_ROW_GROUP
#define LANES SC_WG

inline float sc_row_sum(__local float *buf, uint lane, float v)
{
    buf[lane] = v;
    SC_LOCAL_REDUCE(buf, lane, SC_OP_SUM);
    float r = buf[0];
    barrier(CLK_LOCAL_MEM_FENCE); /* everyone has read buf[0] before it is reused */
    return r;
}

inline float sc_row_max(__local float *buf, uint lane, float v)
{
    buf[lane] = v;
    SC_LOCAL_REDUCE(buf, lane, SC_OP_MAX);
    float r = buf[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}

#define ROW_KERNEL __kernel __attribute__((reqd_work_group_size(SC_WG, 1, 1)))
#define ROW_BEGIN(rows)                                                        \
    __local float sc_buf_[SC_WG];                                              \
    const uint lane = (uint)get_local_id(0);                                   \
    {                                                                          \
        const uint r = (uint)get_group_id(0);
#define ROW_END }
#define RED_SUM(v) sc_row_sum(sc_buf_, lane, (v))
#define RED_MAX(v) sc_row_max(sc_buf_, lane, (v))

#else
#define LANES 1
#define ROW_KERNEL __kernel
#define ROW_BEGIN(rows)                                                        \
    const uint lane = 0;                                                       \
    SC_FOR_EACH(r, rows) {
#define ROW_END }
#define RED_SUM(v) (v)
#define RED_MAX(v) (v)
#endif

#define ROW_LOOP(j, len) for (uint j = lane; j < (len); j += LANES)

/* y = softmax(x) (logmode 0) or log_softmax(x) (logmode 1) per row. */
ROW_KERNEL void sc_softmax_forward(__global float *y, uint yo, __global const float *x, uint xo,
                                   uint rows, uint len, uint logmode)
{
    ROW_BEGIN(rows)
        __global const float *p = x + xo + (size_t)r * len;
        __global float *q = y + yo + (size_t)r * len;
        float m = -INFINITY;
        ROW_LOOP(j, len) m = fmax(m, p[j]);
        m = RED_MAX(m);
        float s = 0.0f;
        ROW_LOOP(j, len) s += exp(p[j] - m);
        s = RED_SUM(s);
        if (logmode) {
            float ls = log(s);
            ROW_LOOP(j, len) q[j] = (p[j] - m) - ls;
        } else {
            ROW_LOOP(j, len) q[j] = exp(p[j] - m) / s;
        }
    ROW_END
}

/* z = y * (gy - sum(gy * y)): the softmax backward, y the softmax output. */
ROW_KERNEL void sc_softmax_backward(__global float *z, uint zo, __global const float *y, uint yo,
                                    __global const float *gy, uint go, uint rows, uint len)
{
    ROW_BEGIN(rows)
        size_t base = (size_t)r * len;
        __global const float *py = y + yo + base, *pg = gy + go + base;
        __global float *pz = z + zo + base;
        float s = 0.0f;
        ROW_LOOP(j, len) s += pg[j] * py[j];
        s = RED_SUM(s);
        ROW_LOOP(j, len) pz[j] = py[j] * (pg[j] - s);
    ROW_END
}

/* z = gg * (gy - sum(gy * y)) - gy * sum(gg * y): the derivative of
 * <gg, softmax_backward(y, gy)> with respect to y. */
ROW_KERNEL void sc_softmax_backward_y(__global float *z, uint zo, __global const float *y, uint yo,
                                      __global const float *gy, uint go, __global const float *gg,
                                      uint ggo, uint rows, uint len)
{
    ROW_BEGIN(rows)
        size_t base = (size_t)r * len;
        __global const float *py = y + yo + base, *pg = gy + go + base, *pgg = gg + ggo + base;
        __global float *pz = z + zo + base;
        float s = 0.0f, t = 0.0f;
        ROW_LOOP(j, len) {
            s += pg[j] * py[j];
            t += pgg[j] * py[j];
        }
        s = RED_SUM(s);
        t = RED_SUM(t);
        ROW_LOOP(j, len) pz[j] = pgg[j] * (pg[j] - s) - pg[j] * t;
    ROW_END
}

/* loss[r] = logsumexp(x[r, :]) - x[r, label[r]] (the host has checked the
 * labels; an out-of-range one gives NaN rather than a stray read). */
ROW_KERNEL void sc_softmax_cross_entropy(__global float *loss, uint lo, __global const float *x,
                                         uint xo, __global const int *labels, uint labo,
                                         uint rows, uint len)
{
    ROW_BEGIN(rows)
        __global const float *p = x + xo + (size_t)r * len;
        float m = -INFINITY;
        ROW_LOOP(j, len) m = fmax(m, p[j]);
        m = RED_MAX(m);
        float s = 0.0f;
        ROW_LOOP(j, len) s += exp(p[j] - m);
        s = RED_SUM(s);
        if (lane == 0) {
            int c = labels[labo + r];
            loss[lo + r] = (c >= 0 && (uint)c < len) ? log(s) - (p[c] - m) : NAN;
        }
    ROW_END
}

/* y[r, j] = (j == labels[r]) ? 1 : 0 over rows * len elements. */
__kernel void sc_softmax_one_hot(__global float *y, uint yo, __global const int *labels, uint labo,
                                 uint rows, uint len)
{
    SC_FOR_EACH(i, rows * len) {
        uint r = i / len, j = i - r * len;
        y[yo + i] = labels[labo + r] == (int)j ? 1.0f : 0.0f;
    }
}
