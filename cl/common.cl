/* Prepended to every spurcl kernel family. OpenCL C 1.2.
 * SC_WG (the host's work-group size for 1-D kernels, a power of two) is
 * passed by the host with -D. */
#ifndef SC_WG
#define SC_WG 256
#endif

/* Grid-stride loop over [0, n). */
#define SC_FOR_EACH(i, n) \
    for (uint i = (uint)get_global_id(0); i < (n); i += (uint)get_global_size(0))

/* One element per work-item, no loop: for kernels launched only through
 * sc_launch_1d (whose grid, sc_grid_1d, covers n). PoCL vectorises the
 * work-items of a work-group only when the body has no loop of its own:
 * the grid-stride loop above kept every math kernel scalar (relu's forward
 * 1.3 -> 0.32 ms, GELU's 12.5 -> 2.7 ms on [6400, 128], 2-core Xeon). */
#define SC_EACH(i, n)                                                  \
    const uint i = (uint)get_global_id(0);                             \
    if (i < (n))

/* Deterministic tree reduction of one value per work-item in local memory
 * `buf` (SC_WG floats), combining with OP(a, b). Result in buf[0]. */
#define SC_LOCAL_REDUCE(buf, lid, OP)                                  \
    do {                                                               \
        barrier(CLK_LOCAL_MEM_FENCE);                                  \
        for (uint s_ = SC_WG / 2; s_ > 0; s_ >>= 1) {                  \
            if ((lid) < s_)                                            \
                (buf)[lid] = OP((buf)[lid], (buf)[(lid) + s_]);        \
            barrier(CLK_LOCAL_MEM_FENCE);                              \
        }                                                              \
    } while (0)

#define SC_OP_SUM(a, b) ((a) + (b))
#define SC_OP_MAX(a, b) fmax((a), (b))

/* ---- the row-reduction prologue (softmax.cl, norm.cl) -------------------
 * A kernel over `rows` independent rows, each reduced in a fixed order (a
 * softmax row of the last axis; a norm channel). Two layouts, picked by the
 * host with -D:
 *   (default)        one work-item per row, grid-stride over rows;
 *   -DSC_ROW_GROUP   one work-group of SC_WG per row (long rows, few rows):
 *                    lane l visits j = l, l + SC_WG, ... and the lanes'
 *                    partial results are combined by a fixed tree in local
 *                    memory.
 * Either way the same input gives the same bits run to run. Use:
 *   SC_ROW_KERNEL void k(..., uint rows, ...)
 *   {
 *       SC_ROW_BEGIN(r, rows)
 *           float s = 0.0f;
 *           SC_ROW_LOOP(j, len) s += ...;
 *           s = SC_ROW_SUM(s);            (the row's total in every lane)
 *           if (lane == 0) ...            (one write per row)
 *       SC_ROW_END
 *   } */
#ifdef SC_ROW_GROUP
#define SC_LANES SC_WG

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

#define SC_ROW_KERNEL __kernel __attribute__((reqd_work_group_size(SC_WG, 1, 1)))
#define SC_ROW_BEGIN(r, rows)                                                  \
    __local float sc_buf_[SC_WG];                                              \
    const uint lane = (uint)get_local_id(0);                                   \
    {                                                                          \
        const uint r = (uint)get_group_id(0);
#define SC_ROW_SUM(v) sc_row_sum(sc_buf_, lane, (v))
#define SC_ROW_MAX(v) sc_row_max(sc_buf_, lane, (v))

#else
#define SC_LANES 1
#define SC_ROW_KERNEL __kernel
#define SC_ROW_BEGIN(r, rows)                                                  \
    const uint lane = 0;                                                       \
    SC_FOR_EACH(r, rows) {
#define SC_ROW_SUM(v) (v)
#define SC_ROW_MAX(v) (v)
#endif

#define SC_ROW_END }
#define SC_ROW_LOOP(j, len) for (uint j = lane; j < (len); j += SC_LANES)

/* exp(x) for x <= 0 (GELU's normal density exp(-x^2 / 2); softmax's
 * exp(x - max)):
 * x = n ln2 + r with n = rint(x / ln2) and ln2 in two parts (Cody and
 * Waite), e^r by its Taylor polynomial of degree 7 (|r| <= ln2 / 2: the
 * truncation is below 1e-8 relative), times 2^n built in the exponent
 * bits. Relative error <= 7.9e-8 (1.3 ulp) over [-87, 0] against a double
 * exp (numpy, 4 million points); below -87 it is 0 (exp(-87) is 1.6e-38;
 * the true value is below the normal floats); NaN gives NaN. PoCL's exp
 * took two thirds of GELU's forward kernel (614-1004 us a call on the
 * vit's [6400, 128], 197-218 with the exp taken out): it is a scalar libm
 * call there. */
inline float sc_exp_neg(float x)
{
    float xc = fmax(x, -87.0f);
    /* n = rint(x / ln2) by the 1.5 * 2^23 shifter, whose low mantissa bits
     * then hold n (with rint the kernel was no faster than with PoCL's exp:
     * rint is a libm call there) */
    float sh = fma(xc, 1.44269504088896341f, 12582912.0f);
    float n = sh - 12582912.0f;
    float r = fma(n, -0.693145751953125f, xc);
    r = fma(n, -1.42860682030941723e-6f, r);
    float p = fma(r, 1.0f / 5040.0f, 1.0f / 720.0f);
    p = fma(p, r, 1.0f / 120.0f);
    p = fma(p, r, 1.0f / 24.0f);
    p = fma(p, r, 1.0f / 6.0f);
    p = fma(p, r, 0.5f);
    p = fma(p, r, 1.0f);
    p = fma(p, r, 1.0f);
    float e = p * as_float((as_int(sh) - 0x4B400000 + 127) << 23);
    return x < -87.0f ? 0.0f : x != x ? x : e; /* below -87: 0 (huge x times it); NaN */
}
