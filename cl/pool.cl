/* Max and average pooling over k x k windows with stride s, no padding,
 * floor mode. Tensors are [planes, H, W] in, [planes, OH, OW] out (planes =
 * N*C). Backward passes are gathers: each work-item owns one row of the
 * input gradient and adds, for each element, the windows that cover it in
 * increasing oh, then ow: no atomics, bit-identical run to run. Host side:
 * src/kernels/pool.c.
 *
 * Each work-item handles one row (OW or W contiguous elements) and loops
 * along it, so the index divisions are paid once per row; the host
 * launches one work-item per row (SC_FOR_EACH runs once; it still guards).
 *
 * The host specialises the programs to the geometry (-DSC_GEOM -DSC_H=..
 * -DSC_W=.. -DSC_OH=.. -DSC_OW=.. -DSC_K=.. -DSC_S=..; the number of planes
 * stays a run-time argument): constant divisors and trip counts. Without
 * SC_GEOM the kernels read the same values from their arguments. */
#ifdef SC_GEOM
#define H_ SC_H
#define W_ SC_W
#define OH_ SC_OH
#define OW_ SC_OW
#define K_ SC_K
#define S_ SC_S
#else
#define H_ H
#define W_ W
#define OH_ OH
#define OW_ OW
#define K_ k
#define S_ s
#endif

/* The windows covering input row h: oh in [lo, hi) (empty when lo >= hi). */
inline void sc_pool_cover(uint h, uint k, uint s, uint OH, uint *lo, uint *hi)
{
    *lo = h < k ? 0u : (h - k) / s + 1u;
    uint top = h / s + 1u;
    *hi = top < OH ? top : OH;
}

/* The start of a backward kernel's row i = (plane pl, row h) of its
 * output: dst = that row, at `row` (an expression of i), zeroed, and
 * [lo, hi) = the window rows that cover it. */
#define GX_ROW_AT(i, row)                                                      \
    uint h = (i) % H_;                                                         \
    uint pl = (i) / H_;                                                        \
    __global float *dst = (row);                                               \
    for (uint w = 0; w < W_; w++)                                              \
        dst[w] = 0.0f;                                                         \
    uint lo, hi;                                                               \
    sc_pool_cover(h, K_, S_, OH_, &lo, &hi)
/* ... of gx */
#define GX_ROW_BEGIN(i) GX_ROW_AT(i, gx + gxo + (i) * W_)

/* The first maximal element of the k x k window at (h0, w0) of plane src
 * (rows of `row` elements), each element plus bias: its value and its
 * position h*row + w in the plane (row-major scan; the first NaN, if any,
 * wins and propagates, as PyTorch's max pooling). The kernels pass W_ and
 * K_, constants in the specialised programs. A bias of -0.0f adds nothing
 * (x + -0 is x for every x, -0 included), so the plain pooling keeps its
 * input's bits. */
inline void sc_pool_window_max(__global const float *restrict src, uint h0, uint w0, float bias,
                               uint row, uint k, float *best_v, uint *best_i)
{
    uint best_at = h0 * row + w0;
    float best = src[best_at] + bias, sum = 0.0f;
    /* branch-free scan (a NaN test in this loop costs PoCL its
     * vectorisation, 5x); sum is NaN iff the window holds a NaN or both
     * infinities, and only then is the window scanned again */
    for (uint kh = 0; kh < k; kh++)
        for (uint kw = 0; kw < k; kw++) {
            uint at = (h0 + kh) * row + w0 + kw;
            float v = src[at] + bias;
            bool take = v > best;
            best = take ? v : best;
            best_at = take ? at : best_at;
            sum += v;
        }
    if (isnan(sum)) {
        for (uint kh = 0; kh < k; kh++)
            for (uint kw = 0; kw < k; kw++) {
                uint at = (h0 + kh) * row + w0 + kw;
                if (isnan(src[at] + bias)) {
                    best = src[at] + bias;
                    best_at = at;
                    kh = k;
                    break;
                }
            }
    }
    *best_v = best;
    *best_i = best_at;
}

/* y = max over each window; idx = the position h*W + w inside the plane of
 * the window's first maximal element (sc_pool_window_max).
 * One (plane, oh) row per work-item. */
__kernel void sc_pool_max_fwd(__global float *restrict y, uint yo, __global int *restrict idx,
                              uint io, __global const float *restrict x, uint xo, uint planes,
                              uint H, uint W, uint OH, uint OW, uint k, uint s)
{
    uint rows = planes * OH_;
    SC_FOR_EACH(i, rows) {
        uint oh = i % OH_;
        uint pl = i / OH_;
        __global const float *src = x + xo + pl * H_ * W_;
        for (uint ow = 0; ow < OW_; ow++) {
            float best;
            uint best_at;
            sc_pool_window_max(src, oh * S_, ow * S_, -0.0f, W_, K_, &best, &best_at);
            y[yo + i * OW_ + ow] = best;
            idx[io + i * OW_ + ow] = (int)best_at;
        }
    }
}

/* The same over a convolution's channel-major result before its layout move
 * (cl/conv.cl): the plane of (n, c) is xT's [c*N + n] (xT [C, N, H, W]),
 * each element plus b[c] (0 without a bias, as the layout move adds it);
 * y and idx [N, C, OH, OW] as above,
 * so the convolution's [N, C, H, W] output is never written. One (c, n, oh)
 * row per work-item: neighbours read neighbouring rows of xT. */
__kernel void sc_pool_max_fwd_cnp(__global float *restrict y, uint yo,
                                  __global int *restrict idx, uint io,
                                  __global const float *restrict xT,
                                  __global const float *restrict b, uint bo, uint has_bias,
                                  uint N, uint C, uint H, uint W, uint OH, uint OW, uint k,
                                  uint s)
{
    uint rows = C * N * OH_;
    SC_FOR_EACH(i, rows) {
        uint oh = i % OH_;
        uint t = i / OH_;
        uint n = t % N, c = t / N;
        __global const float *src = xT + t * H_ * W_;
        float bias = has_bias ? b[bo + c] : 0.0f;
        uint out = ((n * C + c) * OH_ + oh) * OW_;
        for (uint ow = 0; ow < OW_; ow++) {
            float best;
            uint best_at;
            sc_pool_window_max(src, oh * S_, ow * S_, bias, W_, K_, &best, &best_at);
            y[yo + out + ow] = best;
            idx[io + out + ow] = (int)best_at;
        }
    }
}

/* Row h of the adjoint of the gather below, into dst (zeroed, W elements):
 * for each element, the sum of gy over the windows of rows [lo, hi) that
 * cover it and whose argmax (idx) it is; g and ix are the plane's gy and
 * idx, [OH, OW]. The kernels pass W_, OW_, K_, S_. */
inline void sc_pool_max_scatter_row(__global float *restrict dst,
                                    __global const float *restrict g,
                                    __global const int *restrict ix, uint h, uint lo, uint hi,
                                    uint row, uint ow_n, uint k, uint s)
{
    uint row0 = h * row;
    for (uint oh = lo; oh < hi; oh++)
        for (uint ow = 0; ow < ow_n; ow++) {
            /* the window's k columns; only its argmax gets g (branch-free) */
            int at = ix[oh * ow_n + ow] - (int)row0;
            float gv = g[oh * ow_n + ow];
            for (uint kw = 0; kw < k; kw++) {
                uint w = ow * s + kw;
                dst[w] += at == (int)w ? gv : 0.0f;
            }
        }
}

/* The adjoint of the gather below: gx[pl, h, w] = the sum of gy over the
 * windows covering (h, w) whose argmax is (h, w). One (plane, h) row of gx
 * per work-item: it visits the windows of the covering window rows and adds
 * each window's gradient to the element that is its argmax. */
__kernel void sc_pool_max_scatter(__global float *restrict gx, uint gxo,
                                  __global const float *restrict gy, uint gyo,
                                  __global const int *restrict idx, uint io, uint planes, uint H,
                                  uint W, uint OH, uint OW, uint k, uint s)
{
    uint rows = planes * H_;
    SC_FOR_EACH(i, rows) {
        GX_ROW_BEGIN(i);
        uint o = pl * OH_ * OW_;
        sc_pool_max_scatter_row(dst, gy + gyo + o, idx + io + o, h, lo, hi, W_, OW_, K_, S_);
    }
}

/* The same into a convolution's channel-major layout (cl/conv.cl): gT
 * [C, N, H, W] (offset 0) from gy and idx [N, C, OH, OW], for the
 * convolution's backward GEMMs; one (c, n, h) row of gT per work-item. */
__kernel void sc_pool_max_scatter_cnp(__global float *restrict gT,
                                      __global const float *restrict gy, uint gyo,
                                      __global const int *restrict idx, uint io, uint N, uint C,
                                      uint H, uint W, uint OH, uint OW, uint k, uint s)
{
    uint rows = C * N * H_;
    SC_FOR_EACH(i, rows) {
        GX_ROW_AT(i, gT + i * W_); /* pl: gT's plane (c, n) */
        uint n = pl % N, c = pl / N;
        uint o = (n * C + c) * OH_ * OW_;
        sc_pool_max_scatter_row(dst, gy + gyo + o, idx + io + o, h, lo, hi, W_, OW_, K_, S_);
    }
}

/* y[pl, o] = x[pl, idx[pl, o]]; one (plane, oh) row per work-item. */
__kernel void sc_pool_max_gather(__global float *restrict y, uint yo,
                                 __global const float *restrict x, uint xo,
                                 __global const int *restrict idx, uint io, uint planes, uint HW,
                                 uint OH, uint OW)
{
    uint rows = planes * OH_;
    SC_FOR_EACH(i, rows) {
        uint pl = i / OH_;
        __global const float *src = x + xo + pl * HW;
        for (uint ow = 0; ow < OW_; ow++)
            y[yo + i * OW_ + ow] = src[idx[io + i * OW_ + ow]];
    }
}

/* y = mean over each window (sum in row-major order, times 1/k^2); one
 * (plane, oh) row per work-item. */
__kernel void sc_pool_avg_fwd(__global float *restrict y, uint yo,
                              __global const float *restrict x, uint xo, uint planes, uint H,
                              uint W, uint OH, uint OW, uint k, uint s, float inv)
{
    uint rows = planes * OH_;
    SC_FOR_EACH(i, rows) {
        uint oh = i % OH_;
        uint pl = i / OH_;
        __global const float *src = x + xo + pl * H_ * W_ + oh * S_ * W_;
        for (uint ow = 0; ow < OW_; ow++) {
            float acc = 0.0f;
            for (uint kh = 0; kh < K_; kh++)
                for (uint kw = 0; kw < K_; kw++)
                    acc += src[kh * W_ + ow * S_ + kw];
            y[yo + i * OW_ + ow] = acc * inv;
        }
    }
}

/* The adjoint: gx[pl, h, w] = (the sum of gy over the windows covering
 * (h, w)) / k^2; one (plane, h) row per work-item, terms added in
 * increasing oh, then ow. */
__kernel void sc_pool_avg_bwd(__global float *restrict gx, uint gxo,
                              __global const float *restrict gy, uint gyo, uint planes, uint H,
                              uint W, uint OH, uint OW, uint k, uint s, float inv)
{
    uint rows = planes * H_;
    SC_FOR_EACH(i, rows) {
        GX_ROW_BEGIN(i);
        for (uint oh = lo; oh < hi; oh++) {
            __global const float *g = gy + gyo + (pl * OH_ + oh) * OW_;
            for (uint ow = 0; ow < OW_; ow++)
                for (uint kw = 0; kw < K_; kw++)
                    dst[ow * S_ + kw] += g[ow];
        }
        for (uint w = 0; w < W_; w++)
            dst[w] *= inv;
    }
}
