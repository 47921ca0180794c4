/* Max and average pooling over k x k windows with stride s, no padding,
 * floor mode. Tensors are [planes, H, W] in, [planes, OH, OW] out (planes =
 * N*C). Backward passes are gathers (each input element sums the windows
 * that cover it, in increasing oh, then ow): no atomics, deterministic. */

/* The windows covering input row h: oh in [lo, hi] (empty when lo > hi). */
inline void sc_pool_cover(uint h, uint k, uint s, uint OH, uint *lo, uint *hi)
{
    *lo = h < k ? 0u : (h - k) / s + 1u;
    uint top = h / s;
    *hi = top < OH ? top : OH - 1u;
}

/* y = max over each window; idx = the position h*W + w inside the plane of
 * the first maximal element (row-major scan; a NaN wins and propagates). */
__kernel void sc_pool_max_fwd(__global float *y, uint yo, __global int *idx, uint io,
                              __global const float *x, uint xo, uint planes, uint H, uint W,
                              uint OH, uint OW, uint k, uint s)
{
    uint total = planes * OH * OW;
    SC_FOR_EACH(i, total) {
        uint ow = i % OW;
        uint t = i / OW;
        uint oh = t % OH;
        uint pl = t / OH;
        __global const float *src = x + xo + pl * H * W;
        uint h0 = oh * s, w0 = ow * s;
        uint best_at = h0 * W + w0;
        float best = src[best_at];
        for (uint kh = 0; kh < k; kh++)
            for (uint kw = 0; kw < k; kw++) {
                uint at = (h0 + kh) * W + w0 + kw;
                float v = src[at];
                if (v > best || (isnan(v) && !isnan(best))) {
                    best = v;
                    best_at = at;
                }
            }
        y[yo + i] = best;
        idx[io + i] = (int)best_at;
    }
}

/* The adjoint of the gather below: gx[pl, h, w] = sum of gy over the
 * windows covering (h, w) whose argmax is (h, w). */
__kernel void sc_pool_max_scatter(__global float *gx, uint gxo, __global const float *gy,
                                  uint gyo, __global const int *idx, uint io, uint planes,
                                  uint H, uint W, uint OH, uint OW, uint k, uint s)
{
    uint total = planes * H * W;
    SC_FOR_EACH(i, total) {
        uint w = i % W;
        uint t = i / W;
        uint h = t % H;
        uint pl = t / H;
        uint ohl, ohh, owl, owh;
        sc_pool_cover(h, k, s, OH, &ohl, &ohh);
        sc_pool_cover(w, k, s, OW, &owl, &owh);
        int me = (int)(h * W + w);
        uint base = pl * OH * OW;
        float acc = 0.0f;
        for (uint oh = ohl; oh <= ohh; oh++)
            for (uint ow = owl; ow <= owh; ow++) {
                uint o = base + oh * OW + ow;
                if (idx[io + o] == me)
                    acc += gy[gyo + o];
            }
        gx[gxo + i] = acc;
    }
}

/* y[pl, o] = x[pl, idx[pl, o]]. */
__kernel void sc_pool_max_gather(__global float *y, uint yo, __global const float *x, uint xo,
                                 __global const int *idx, uint io, uint planes, uint HW,
                                 uint OHW)
{
    uint total = planes * OHW;
    SC_FOR_EACH(i, total) {
        uint pl = i / OHW;
        y[yo + i] = x[xo + pl * HW + (uint)idx[io + i]];
    }
}

/* y = mean over each window (sum in row-major order, times 1/k^2). */
__kernel void sc_pool_avg_fwd(__global float *y, uint yo, __global const float *x, uint xo,
                              uint planes, uint H, uint W, uint OH, uint OW, uint k, uint s,
                              float inv)
{
    uint total = planes * OH * OW;
    SC_FOR_EACH(i, total) {
        uint ow = i % OW;
        uint t = i / OW;
        uint oh = t % OH;
        uint pl = t / OH;
        __global const float *src = x + xo + pl * H * W + oh * s * W + ow * s;
        float acc = 0.0f;
        for (uint kh = 0; kh < k; kh++)
            for (uint kw = 0; kw < k; kw++)
                acc += src[kh * W + kw];
        y[yo + i] = acc * inv;
    }
}

/* The adjoint: gx[pl, h, w] = (sum of gy over the windows covering (h, w)) / k^2. */
__kernel void sc_pool_avg_bwd(__global float *gx, uint gxo, __global const float *gy, uint gyo,
                              uint planes, uint H, uint W, uint OH, uint OW, uint k, uint s,
                              float inv)
{
    uint total = planes * H * W;
    SC_FOR_EACH(i, total) {
        uint w = i % W;
        uint t = i / W;
        uint h = t % H;
        uint pl = t / H;
        uint ohl, ohh, owl, owh;
        sc_pool_cover(h, k, s, OH, &ohl, &ohh);
        sc_pool_cover(w, k, s, OW, &owl, &owh);
        __global const float *src = gy + gyo + pl * OH * OW;
        float acc = 0.0f;
        for (uint oh = ohl; oh <= ohh; oh++)
            for (uint ow = owl; ow <= owh; ow++)
                acc += src[oh * OW + ow];
        gx[gxo + i] = acc * inv;
    }
}
