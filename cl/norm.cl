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

/* NORM_FOR(at, pos) { ... } NORM_END visits this lane's elements of
 * channel c: `at` the element's offset from the channel's first element
 * (NORM_BASE(p): p + p's offset + c * inner) in the [outer, C, inner] layout,
 * `pos` its position in [0, inner) (which indexes layer norm's w and b).
 * By default a loop over o and, inside it, the lanes' positions, which
 * needs no integer division (PoCL cannot vectorise one: layer norm's
 * kernels took 3x the time) and reads contiguous runs. -DNORM_FLAT (the
 * host's, for a work-group per channel with inner < the group's lanes,
 * such as batch norm over [N, C]) instead deals the flat index k < outer *
 * inner to the lanes, so that they all have work. Either way a fixed
 * order: the same bits run to run. Offsets are 32-bit, as the tensors'. */
#ifdef NORM_FLAT
#define NORM_FOR(at, pos)                                                      \
    SC_ROW_LOOP(k_, outer * inner) {                                          \
        const uint pos = k_ % inner;                                           \
        const uint at = (k_ / inner) * C * inner + pos;                        \
        (void)pos;
#else
#define NORM_FOR(at, pos)                                                      \
    for (uint o_ = 0; o_ < outer; o_++)                                        \
        SC_ROW_LOOP(pos, inner) {                                              \
            const uint at = o_ * C * inner + pos;
#endif
#define NORM_END }
#define NORM_BASE(p) ((p) + p##o + c * inner)

/* the affine flags (src/kernels/norm.c): w and b given, and indexed by the
 * channel c (batch norm) instead of the position in [0, inner) (layer norm) */
#define NORM_W 1u
#define NORM_B 2u
#define NORM_CH 4u

/* xh = (x - mean_c) * rstd_c with rstd_c = 1 / sqrt(var_c + eps) (biased
 * variance); rstd [C]. With aff & (NORM_W | NORM_B) also y = xh * w + b,
 * w when aff & NORM_W, b when aff & NORM_B, each indexed by c when aff &
 * NORM_CH (batch norm) else by the position i in [0, inner) (layer norm).
 * With update != 0 also the running statistics (PyTorch's rule, unbiased
 * variance): rm = (1 - momentum) * rm + momentum * mean,
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
        __global const float *xc = NORM_BASE(x);
        __global float *xhc = NORM_BASE(xh), *yc = NORM_BASE(y);
        float s = 0.0f;
        NORM_FOR(at, pos) s += xc[at]; NORM_END
        float mean = SC_ROW_SUM(s) / (float)M;
        float q = 0.0f;
        NORM_FOR(at, pos)
            float d = xc[at] - mean;
            q = fma(d, d, q);
        NORM_END
        float var = SC_ROW_SUM(q) / (float)M;
        float rs = 1.0f / sqrt(var + eps);
        if (aff & NORM_CH) {
            /* y = x * a + shift: one fma per element */
            float a = (aff & NORM_W) ? w[wo + c] : 1.0f;
            float sh = (aff & NORM_B) ? b[bo + c] : 0.0f;
            NORM_FOR(at, pos)
                float v = (xc[at] - mean) * rs;
                xhc[at] = v;
                yc[at] = fma(v, a, sh);
            NORM_END
        } else {
            NORM_FOR(at, pos)
                float v = (xc[at] - mean) * rs;
                xhc[at] = v;
                if (aff) {
                    if (aff & NORM_W)
                        v *= w[wo + pos];
                    if (aff & NORM_B)
                        v += b[bo + pos];
                    yc[at] = v;
                }
            NORM_END
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
 * with g = gy, or g = gy * w: has_w 1 is layer norm's w[i] (i the position
 * in [0, inner)), has_w 2 batch norm's w[c]. With gsum != 0 (batch norm's
 * affine gradients) also gw[c] = sum gy * xh and gb[c] = sum gy over the
 * channel (each written when its flag NORM_W / NORM_B is in gsum), and gx
 * only when want_gx. gy, xh and gx share x's layout. */
SC_ROW_KERNEL void sc_norm_backward(__global float *gx, uint gxo, __global const float *gy, uint gyo,
                                    __global const float *xh, uint xho,
                                    __global const float *rstd, uint ro, __global const float *w,
                                    uint wo, uint outer, uint C, uint inner, uint has_w,
                                    __global float *gw, uint gwo, __global float *gb, uint gbo,
                                    uint gsum, uint want_gx)
{
    const uint M = outer * inner;
    SC_ROW_BEGIN(c, C)
        __global const float *gyc = NORM_BASE(gy), *xhc = NORM_BASE(xh);
        __global float *gxc = NORM_BASE(gx);
        /* sums of gy and gy * xh; a per-channel w (has_w 2) is a common
         * factor, applied to the means */
        float s1 = 0.0f, s2 = 0.0f;
        NORM_FOR(at, pos)
            float g = gyc[at];
            if (has_w == 1)
                g *= w[wo + pos];
            s1 += g;
            s2 = fma(g, xhc[at], s2);
        NORM_END
        s1 = SC_ROW_SUM(s1);
        s2 = SC_ROW_SUM(s2);
        if (lane == 0) {
            if (gsum & NORM_W)
                gw[gwo + c] = s2;
            if (gsum & NORM_B)
                gb[gbo + c] = s1;
        }
        if (want_gx) {
            float wc = has_w == 2 ? w[wo + c] : 1.0f;
            float m1 = wc * s1 / (float)M, m2 = wc * s2 / (float)M;
            float rs = rstd[ro + c];
            NORM_FOR(at, pos)
                float g = gyc[at];
                if (has_w == 1)
                    g *= w[wo + pos];
                else if (has_w == 2)
                    g *= wc;
                gxc[at] = rs * (g - m1 - xhc[at] * m2);
            NORM_END
        }
    SC_ROW_END
}

/* The backward of that rule, R = rstd_c * (u - mean_c(u) - xh * mean_c(u * xh))
 * (sc_norm_backward without w, u its gy), with respect to each of its
 * inputs, given gr = dL/dR (src/nn/ops_norm.c's norm_rule node; the ULE
 * teacher's double backward runs it once per norm instead of the backward
 * of ~10 composed ops):
 *   gu    = rstd_c * (gr - mean_c(gr) - xh * mean_c(gr * xh))
 *   gxh   = -rstd_c * (gr * mean_c(u * xh) + u * mean_c(gr * xh))
 *   grstd = sum_c gr * (u - mean_c(u) - xh * mean_c(u * xh))      [C]
 * each written when its bit (1, 2, 4) is in want. gr, u, xh, gu and gxh
 * share the [outer, C, inner] layout. */
SC_ROW_KERNEL void sc_norm_rule_backward(__global float *gu, uint guo, __global float *gxh,
                                         uint gxho, __global float *grs, uint grso,
                                         __global const float *gr, uint gro,
                                         __global const float *u, uint uo,
                                         __global const float *xh, uint xho,
                                         __global const float *rstd, uint ro, uint outer,
                                         uint C, uint inner, uint want)
{
    const uint M = outer * inner;
    SC_ROW_BEGIN(c, C)
        __global const float *grc = NORM_BASE(gr), *uc = NORM_BASE(u), *xhc = NORM_BASE(xh);
        __global float *guc = NORM_BASE(gu), *gxhc = NORM_BASE(gxh);
        float sg = 0.0f, sgx = 0.0f, su = 0.0f, sux = 0.0f;
        NORM_FOR(at, pos)
            float gv = grc[at], xv = xhc[at], uv = uc[at];
            sg += gv;
            sgx = fma(gv, xv, sgx);
            su += uv;
            sux = fma(uv, xv, sux);
        NORM_END
        float mg = SC_ROW_SUM(sg) / (float)M, mgx = SC_ROW_SUM(sgx) / (float)M;
        float mu = SC_ROW_SUM(su) / (float)M, mux = SC_ROW_SUM(sux) / (float)M;
        float rs = rstd[ro + c], t = 0.0f;
        NORM_FOR(at, pos)
            float gv = grc[at], xv = xhc[at], uv = uc[at];
            if (want & 1u)
                guc[at] = rs * (gv - mg - xv * mgx);
            if (want & 2u)
                gxhc[at] = -rs * (gv * mux + uv * mgx);
            t = fma(gv, uv - mu - xv * mux, t);
        NORM_END
        t = SC_ROW_SUM(t);
        if (lane == 0 && (want & 4u))
            grs[grso + c] = t;
    SC_ROW_END
}

#define NORM_CAT_(a, b) a##b
#define NORM_CAT(a, b) NORM_CAT_(a, b)

/* Layer norm over rows of D floats ([1, rows, D], D a multiple of
 * SC_NORM_RW: 4, or 8 or 16 by -D), forward and backward, a work-item per
 * row on a CPU device: the row is read by vectors of SC_NORM_RW, each sum
 * in SC_NORM_RW partial sums (lane k adds the elements RW j + k in order
 * of j) combined by halves down to 4 lanes, then as (s.x + s.y) + (s.z +
 * s.w). A work-item per row with a scalar loop ran each sum as one
 * dependent chain (PoCL keeps a loop's body scalar): the vit's [6400, 64]
 * forward took 0.5-0.9 ms; by float4 0.38-0.43 ms a call, by float16
 * 0.21-0.25 (SPURCL_PROFILE, 2-core EPYC). Layer norm's affine (w, b by
 * position: aff without NORM_CH, has_w 0 or 1), no running statistics, no
 * affine gradients (gsum 0). */
#ifndef SC_NORM_RW
#define SC_NORM_RW 4
#endif
#define NORM_RT NORM_CAT(float, SC_NORM_RW)
#define NORM_RLOAD NORM_CAT(vload, SC_NORM_RW)
#define NORM_RSTORE NORM_CAT(vstore, SC_NORM_RW)

inline float sc_sum4(float4 s) { return (s.x + s.y) + (s.z + s.w); }
#if SC_NORM_RW == 4
#define NORM_RSUM(s) sc_sum4(s)
#elif SC_NORM_RW == 8
#define NORM_RSUM(s) sc_sum4((s).lo + (s).hi)
#elif SC_NORM_RW == 16
#define NORM_RSUM(s) sc_sum4(((s).lo + (s).hi).lo + ((s).lo + (s).hi).hi)
#else
#error "SC_NORM_RW: 4, 8 or 16"
#endif

__kernel void sc_norm_forward_rv(__global float *xh, uint xho, __global float *rstd, uint ro,
                                 __global const float *x, uint xo, uint rows, uint D, float eps,
                                 __global float *y, uint yo, __global const float *w, uint wo,
                                 __global const float *b, uint bo, uint aff)
{
    const uint DV = D / SC_NORM_RW;
    SC_EACH(r, rows) {
        __global const float *xr = x + xo + (size_t)r * D;
        NORM_RT s = (NORM_RT)(0.0f);
        for (uint j = 0; j < DV; j++)
            s += NORM_RLOAD(j, xr);
        float mean = NORM_RSUM(s) / (float)D;
        NORM_RT q = (NORM_RT)(0.0f);
        for (uint j = 0; j < DV; j++) {
            NORM_RT d = NORM_RLOAD(j, xr) - mean;
            q = fma(d, d, q);
        }
        float rs = 1.0f / sqrt(NORM_RSUM(q) / (float)D + eps);
        __global float *xhr = xh + xho + (size_t)r * D, *yr = y + yo + (size_t)r * D;
        for (uint j = 0; j < DV; j++) {
            NORM_RT v = (NORM_RLOAD(j, xr) - mean) * rs;
            NORM_RSTORE(v, j, xhr);
            if (aff) {
                if (aff & NORM_W)
                    v *= NORM_RLOAD(j, w + wo);
                if (aff & NORM_B)
                    v += NORM_RLOAD(j, b + bo);
                NORM_RSTORE(v, j, yr);
            }
        }
        rstd[ro + r] = rs;
    }
}

/* One row of D = DV * SC_NORM_RW floats of layer norm's backward by
 * vectors: gxr = rs * (g - mean(g) - xh * mean(g * xh)), g = gy * w when
 * has_w; with acc also adds gy * xh and gy (raw gy) into pw and pb. */
inline void norm_rv_backward_row(__global float *gxr, __global const float *gyr,
                                 __global const float *xhr, __global const float *wv,
                                 uint has_w, uint DV, uint D, float rs, uint acc,
                                 __global float *pw, __global float *pb)
{
    NORM_RT s1 = (NORM_RT)(0.0f), s2 = (NORM_RT)(0.0f);
    for (uint j = 0; j < DV; j++) {
        NORM_RT g0 = NORM_RLOAD(j, gyr), x = NORM_RLOAD(j, xhr), g = g0;
        if (has_w)
            g *= NORM_RLOAD(j, wv);
        s1 += g;
        s2 = fma(g, x, s2);
        if (acc) {
            NORM_RSTORE(fma(g0, x, NORM_RLOAD(j, pw)), j, pw);
            NORM_RSTORE(NORM_RLOAD(j, pb) + g0, j, pb);
        }
    }
    float m1 = NORM_RSUM(s1) / (float)D, m2 = NORM_RSUM(s2) / (float)D;
    for (uint j = 0; j < DV; j++) {
        NORM_RT g = NORM_RLOAD(j, gyr);
        if (has_w)
            g *= NORM_RLOAD(j, wv);
        NORM_RSTORE(rs * (g - m1 - NORM_RLOAD(j, xhr) * m2), j, gxr);
    }
}

__kernel void sc_norm_backward_rv(__global float *gx, uint gxo, __global const float *gy, uint gyo,
                                  __global const float *xh, uint xho, __global const float *rstd,
                                  uint ro, __global const float *w, uint wo, uint rows, uint D,
                                  uint has_w)
{
    SC_EACH(r, rows) {
        size_t at = (size_t)r * D;
        norm_rv_backward_row(gx + gxo + at, gy + gyo + at, xh + xho + at, w + wo, has_w,
                             D / SC_NORM_RW, D, rstd[ro + r], 0u, gx, gx);
    }
}

/* sc_norm_rule_backward over rows of D floats ([1, rows, D]) by vectors,
 * as sc_norm_backward_rv. */
__kernel void sc_norm_rule_backward_rv(__global float *gu, uint guo, __global float *gxh,
                                       uint gxho, __global float *grs, uint grso,
                                       __global const float *gr, uint gro,
                                       __global const float *u, uint uo,
                                       __global const float *xh, uint xho,
                                       __global const float *rstd, uint ro, uint rows, uint D,
                                       uint want)
{
    const uint DV = D / SC_NORM_RW;
    SC_EACH(r, rows) {
        size_t base = (size_t)r * D;
        __global const float *grr = gr + gro + base, *ur = u + uo + base, *xhr = xh + xho + base;
        NORM_RT sg = (NORM_RT)(0.0f), sgx = (NORM_RT)(0.0f), su = (NORM_RT)(0.0f),
                sux = (NORM_RT)(0.0f);
        for (uint j = 0; j < DV; j++) {
            NORM_RT gv = NORM_RLOAD(j, grr), xv = NORM_RLOAD(j, xhr), uv = NORM_RLOAD(j, ur);
            sg += gv;
            sgx = fma(gv, xv, sgx);
            su += uv;
            sux = fma(uv, xv, sux);
        }
        float mg = NORM_RSUM(sg) / (float)D, mgx = NORM_RSUM(sgx) / (float)D;
        float mu = NORM_RSUM(su) / (float)D, mux = NORM_RSUM(sux) / (float)D;
        float rs = rstd[ro + r];
        NORM_RT t = (NORM_RT)(0.0f);
        __global float *gur = gu + guo + base, *gxhr = gxh + gxho + base;
        for (uint j = 0; j < DV; j++) {
            NORM_RT gv = NORM_RLOAD(j, grr), xv = NORM_RLOAD(j, xhr), uv = NORM_RLOAD(j, ur);
            if (want & 1u)
                NORM_RSTORE(rs * (gv - mg - xv * mgx), j, gur);
            if (want & 2u)
                NORM_RSTORE(-rs * (gv * mux + uv * mgx), j, gxhr);
            t = fma(gv, uv - mu - xv * mux, t);
        }
        if (want & 4u)
            grs[grso + r] = NORM_RSUM(t);
    }
}

/* sc_norm_backward_rv with layer norm's affine gradients in the same
 * pass: work-item q takes the rows [q * rows / Q, (q + 1) * rows / Q) in
 * order, writes their gx, and sums gy * xh and gy (raw gy, without w) down
 * its rows into part [2, Q, D] (rows q of the gw and of the gb half), which
 * sc_norm_affine_grad then adds up over q. gy and xh are read once instead
 * of twice (sc_norm_affine_part4 read them again). */
__kernel void sc_norm_backward_rv_aff(__global float *gx, uint gxo, __global const float *gy,
                                      uint gyo, __global const float *xh, uint xho,
                                      __global const float *rstd, uint ro,
                                      __global const float *w, uint wo, uint rows, uint D,
                                      uint has_w, __global float *part, uint po, uint Q)
{
    const uint DV = D / SC_NORM_RW;
    SC_FOR_EACH(q, Q) {
        uint r0 = (uint)(((ulong)q * rows) / Q), r1 = (uint)(((ulong)(q + 1) * rows) / Q);
        __global float *pw = part + po + (size_t)q * D, *pb = part + po + (size_t)(Q + q) * D;
        for (uint j = 0; j < DV; j++) {
            NORM_RSTORE((NORM_RT)(0.0f), j, pw);
            NORM_RSTORE((NORM_RT)(0.0f), j, pb);
        }
        for (uint r = r0; r < r1; r++) {
            size_t at = (size_t)r * D;
            norm_rv_backward_row(gx + gxo + at, gy + gyo + at, xh + xho + at, w + wo, has_w, DV,
                                 D, rstd[ro + r], 1u, pw, pb);
        }
    }
}

#ifndef SC_NORM_CV
#define SC_NORM_CV 4
#endif
#define NORM_VT NORM_CAT(float, SC_NORM_CV)
#define NORM_VLOAD NORM_CAT(vload, SC_NORM_CV)
#define NORM_VSTORE NORM_CAT(vstore, SC_NORM_CV)

/* Batch norm over [N, C] (inner 1) with C a multiple of SC_NORM_CV (4, or
 * 8 or 16 by -D), forward and backward: a work-item takes SC_NORM_CV
 * neighbouring channels with vector loads along the row, each channel's
 * sums in the order of sc_norm_forward / sc_norm_backward. A work-item
 * per channel read one float per row, strided, and PoCL keeps a loop's
 * body scalar (the SSL projector's [512, 512] batch norm). Per-channel
 * affine only (aff & NORM_CH, or no affine); has_w 0 or 2. */
__kernel void sc_norm_forward_cv(__global float *xh, uint xho, __global float *rstd, uint ro,
                                 __global const float *x, uint xo, uint N, uint C, float eps,
                                 uint update, float momentum, __global float *rmean, uint rmo,
                                 __global float *rvar, uint rvo, __global float *y, uint yo,
                                 __global const float *w, uint wo, __global const float *b,
                                 uint bo, uint aff)
{
    const uint CV = C / SC_NORM_CV;
    SC_EACH(c, CV) {
        NORM_VT s = (NORM_VT)(0.0f);
        for (uint o = 0; o < N; o++)
            s += NORM_VLOAD((size_t)o * CV + c, x + xo);
        NORM_VT mean = s / (float)N;
        NORM_VT q = (NORM_VT)(0.0f);
        for (uint o = 0; o < N; o++) {
            NORM_VT d = NORM_VLOAD((size_t)o * CV + c, x + xo) - mean;
            q = fma(d, d, q);
        }
        NORM_VT var = q / (float)N;
        NORM_VT rs = 1.0f / sqrt(var + eps);
        NORM_VT a = (aff & NORM_W) ? NORM_VLOAD(c, w + wo) : (NORM_VT)(1.0f);
        NORM_VT sh = (aff & NORM_B) ? NORM_VLOAD(c, b + bo) : (NORM_VT)(0.0f);
        for (uint o = 0; o < N; o++) {
            size_t at = (size_t)o * CV + c;
            NORM_VT v = (NORM_VLOAD(at, x + xo) - mean) * rs;
            NORM_VSTORE(v, at, xh + xho);
            if (aff)
                NORM_VSTORE(fma(v, a, sh), at, y + yo);
        }
        NORM_VSTORE(rs, c, rstd + ro);
        if (update) {
            NORM_VT unbiased = N > 1 ? var * ((float)N / (float)(N - 1)) : var;
            NORM_VSTORE((1.0f - momentum) * NORM_VLOAD(c, rmean + rmo) + momentum * mean, c,
                        rmean + rmo);
            NORM_VSTORE((1.0f - momentum) * NORM_VLOAD(c, rvar + rvo) + momentum * unbiased, c,
                        rvar + rvo);
        }
    }
}

__kernel void sc_norm_backward_cv(__global float *gx, uint gxo, __global const float *gy,
                                  uint gyo, __global const float *xh, uint xho,
                                  __global const float *rstd, uint ro, __global const float *w,
                                  uint wo, uint N, uint C, uint has_w, __global float *gw,
                                  uint gwo, __global float *gb, uint gbo, uint gsum, uint want_gx)
{
    const uint CV = C / SC_NORM_CV;
    SC_EACH(c, CV) {
        NORM_VT s1 = (NORM_VT)(0.0f), s2 = (NORM_VT)(0.0f);
        for (uint o = 0; o < N; o++) {
            size_t at = (size_t)o * CV + c;
            NORM_VT g = NORM_VLOAD(at, gy + gyo);
            s1 += g;
            s2 = fma(g, NORM_VLOAD(at, xh + xho), s2);
        }
        if (gsum & NORM_W)
            NORM_VSTORE(s2, c, gw + gwo);
        if (gsum & NORM_B)
            NORM_VSTORE(s1, c, gb + gbo);
        if (want_gx) {
            NORM_VT wc = has_w == 2 ? NORM_VLOAD(c, w + wo) : (NORM_VT)(1.0f);
            NORM_VT m1 = wc * s1 / (float)N, m2 = wc * s2 / (float)N;
            NORM_VT rs = NORM_VLOAD(c, rstd + ro);
            for (uint o = 0; o < N; o++) {
                size_t at = (size_t)o * CV + c;
                NORM_VT g = NORM_VLOAD(at, gy + gyo);
                if (has_w == 2)
                    g *= wc;
                NORM_VSTORE(rs * (g - m1 - NORM_VLOAD(at, xh + xho) * m2), at, gx + gxo);
            }
        }
    }
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

/* Pass 1 for D a multiple of SC_NORM_CV (4, or 8 or 16 by -D): a work-item
 * takes SC_NORM_CV neighbouring columns of one row class with vector loads
 * (t over Q * D / SC_NORM_CV), each column summed in the order above (the
 * same bits). */
__kernel void sc_norm_affine_part4(__global float *part, uint po, __global const float *gy,
                                   uint go, __global const float *xh, uint xho, uint rows, uint D,
                                   uint Q)
{
    const uint DV = D / SC_NORM_CV;
    SC_EACH(t, Q * DV) {
        uint q = t / DV, j = t % DV;
        NORM_VT sw = (NORM_VT)(0.0f), sb = (NORM_VT)(0.0f);
        for (uint r = q; r < rows; r += Q) {
            size_t at = (size_t)r * DV + j;
            NORM_VT g = NORM_VLOAD(at, gy + go);
            sw = fma(g, NORM_VLOAD(at, xh + xho), sw);
            sb += g;
        }
        NORM_VSTORE(sw, (size_t)q * DV + j, part + po);
        NORM_VSTORE(sb, (size_t)(Q + q) * DV + j, part + po);
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

/* ---- batch norm on CPU devices: slices -----------------------------------------
 *
 * The kernels above give a channel to a work-group whose lanes interleave
 * along it: right for a GPU (neighbouring lanes read neighbouring words),
 * slow on a CPU, where PoCL runs each lane's loops as scalar code and the
 * lanes' interleaved reads come from L2 (batch norm over [128, 32, 784]
 * was 5x PyTorch). Here a work-item streams a contiguous slice of one
 * channel, o in [o0, o1) of its [outer, inner] elements, with eight
 * independent accumulators (a float8), and the host launches C * S of them
 * (S slices per channel) in work-groups of one, so both cores have work.
 * Statistics combine the slices' (count, mean, M2) in slice order (Chan et
 * al.'s pairwise update): two passes within a slice, no atomics, the same
 * bits run to run. */

/* Sum of a contiguous run of n floats from p. */
inline float norm_run_sum(__global const float *p, uint n)
{
    float8 a = (float8)(0.0f);
    uint i = 0;
    for (; i + 8 <= n; i += 8)
        a += vload8(0, p + i);
    float s = ((a.s0 + a.s1) + (a.s2 + a.s3)) + ((a.s4 + a.s5) + (a.s6 + a.s7));
    for (; i < n; i++)
        s += p[i];
    return s;
}

/* Sum of (p[i] - m)^2 over a contiguous run. */
inline float norm_run_sqdev(__global const float *p, uint n, float m)
{
    float8 a = (float8)(0.0f);
    uint i = 0;
    for (; i + 8 <= n; i += 8) {
        float8 d = vload8(0, p + i) - m;
        a = fma(d, d, a);
    }
    float s = ((a.s0 + a.s1) + (a.s2 + a.s3)) + ((a.s4 + a.s5) + (a.s6 + a.s7));
    for (; i < n; i++) {
        float d = p[i] - m;
        s = fma(d, d, s);
    }
    return s;
}

/* The o range of slice s of S over outer. */
#define NORM_SLICE(s, S, o0, o1)                                               \
    const uint o0 = (uint)(((ulong)(s) * outer) / (S));                        \
    const uint o1 = (uint)(((ulong)((s) + 1) * outer) / (S))

/* Pass 1: part[(c * S + s) * 2 + {0, 1}] = the mean and M2 (sum of squared
 * deviations from that mean) of slice s of channel c. */
__kernel void sc_bn_stats_part(__global float *part, uint po, __global const float *x, uint xo,
                               uint outer, uint C, uint inner, uint S)
{
    const uint t = (uint)get_global_id(0);
    if (t >= C * S)
        return;
    const uint c = t / S, s = t % S;
    NORM_SLICE(s, S, o0, o1);
    __global const float *xc = x + xo + c * inner;
    const uint step = C * inner;
    float sum = 0.0f;
    for (uint o = o0; o < o1; o++)
        sum += norm_run_sum(xc + o * step, inner);
    const float n = (float)((o1 - o0) * inner);
    const float mean = n > 0.0f ? sum / n : 0.0f;
    float m2 = 0.0f;
    for (uint o = o0; o < o1; o++)
        m2 += norm_run_sqdev(xc + o * step, inner, mean);
    part[po + 2 * t] = mean;
    part[po + 2 * t + 1] = m2;
}

/* Pass 2: every work-item of channel c combines the channel's slices the
 * same way (so all see the same mean and rstd); slice 0 writes rstd and
 * updates the running statistics (PyTorch's rule, as sc_norm_forward).
 * Then xh = (x - mean) * rstd over the slice and, with aff, y = xh * w[c]
 * + b[c] (aff & NORM_W, aff & NORM_B). */
__kernel void sc_bn_forward_apply(__global float *xh, uint xho, __global float *rstd, uint ro,
                                  __global const float *part, uint po,
                                  __global const float *x, uint xo, uint outer, uint C,
                                  uint inner, uint S, float eps, uint update, float momentum,
                                  __global float *rmean, uint rmo, __global float *rvar, uint rvo,
                                  __global float *y, uint yo, __global const float *w, uint wo,
                                  __global const float *b, uint bo, uint aff)
{
    const uint t = (uint)get_global_id(0);
    if (t >= C * S)
        return;
    const uint c = t / S, s = t % S;
    float cnt = 0.0f, mean = 0.0f, m2 = 0.0f;
    for (uint k = 0; k < S; k++) {
        NORM_SLICE(k, S, k0, k1);
        float nb = (float)((k1 - k0) * inner);
        if (nb == 0.0f)
            continue;
        float mb = part[po + 2 * (c * S + k)], qb = part[po + 2 * (c * S + k) + 1];
        float n = cnt + nb, d = mb - mean;
        mean += d * (nb / n);
        m2 += qb + d * d * (cnt * nb / n);
        cnt = n;
    }
    const uint M = outer * inner;
    const float var = m2 / (float)M;
    const float rs = 1.0f / sqrt(var + eps);
    if (s == 0) {
        rstd[ro + c] = rs;
        if (update) {
            float unbiased = M > 1 ? var * ((float)M / (float)(M - 1)) : var;
            rmean[rmo + c] = (1.0f - momentum) * rmean[rmo + c] + momentum * mean;
            rvar[rvo + c] = (1.0f - momentum) * rvar[rvo + c] + momentum * unbiased;
        }
    }
    const float a = (aff & NORM_W) ? w[wo + c] : 1.0f, sh = (aff & NORM_B) ? b[bo + c] : 0.0f;
    NORM_SLICE(s, S, o0, o1);
    const uint step = C * inner;
    for (uint o = o0; o < o1; o++) {
        const uint base = o * step + c * inner;
        __global const float *xr = x + xo + base;
        __global float *hr = xh + xho + base;
        __global float *yr = y + yo + base;
        uint i = 0;
        for (; i + 8 <= inner; i += 8) {
            float8 v = (vload8(0, xr + i) - mean) * rs;
            vstore8(v, 0, hr + i);
            if (aff)
                vstore8(fma(v, a, sh), 0, yr + i);
        }
        for (; i < inner; i++) {
            float v = (xr[i] - mean) * rs;
            hr[i] = v;
            if (aff)
                yr[i] = fma(v, a, sh);
        }
    }
}

/* Backward pass 1: part[(c * S + s) * 2 + {0, 1}] = sum gy and sum gy * xh
 * over slice s of channel c. */
__kernel void sc_bn_backward_part(__global float *part, uint po, __global const float *gy,
                                  uint gyo, __global const float *xh, uint xho, uint outer,
                                  uint C, uint inner, uint S)
{
    const uint t = (uint)get_global_id(0);
    if (t >= C * S)
        return;
    const uint c = t / S, s = t % S;
    NORM_SLICE(s, S, o0, o1);
    const uint step = C * inner;
    float s1 = 0.0f, s2 = 0.0f;
    for (uint o = o0; o < o1; o++) {
        const uint base = o * step + c * inner;
        __global const float *g = gy + gyo + base, *h = xh + xho + base;
        float8 a1 = (float8)(0.0f), a2 = (float8)(0.0f);
        uint i = 0;
        for (; i + 8 <= inner; i += 8) {
            float8 gv = vload8(0, g + i);
            a1 += gv;
            a2 = fma(gv, vload8(0, h + i), a2);
        }
        float r1 = ((a1.s0 + a1.s1) + (a1.s2 + a1.s3)) + ((a1.s4 + a1.s5) + (a1.s6 + a1.s7));
        float r2 = ((a2.s0 + a2.s1) + (a2.s2 + a2.s3)) + ((a2.s4 + a2.s5) + (a2.s6 + a2.s7));
        for (; i < inner; i++) {
            r1 += g[i];
            r2 = fma(g[i], h[i], r2);
        }
        s1 += r1;
        s2 += r2;
    }
    part[po + 2 * t] = s1;
    part[po + 2 * t + 1] = s2;
}

/* Backward pass 2: the channel's sums (slices in order); slice 0 writes
 * gw[c] = sum gy * xh and gb[c] = sum gy (flags in gsum); with want_gx,
 * gx = rstd * (g - mean(g) - xh * mean(g * xh)) over the slice, g = gy *
 * w[c] when has_w (w[c] factors out of the sums). */
__kernel void sc_bn_backward_apply(__global float *gx, uint gxo, __global const float *gy,
                                   uint gyo, __global const float *xh, uint xho,
                                   __global const float *rstd, uint ro,
                                   __global const float *part, uint po,
                                   __global const float *w, uint wo, uint outer, uint C,
                                   uint inner, uint S, uint has_w, __global float *gw, uint gwo,
                                   __global float *gb, uint gbo, uint gsum, uint want_gx)
{
    const uint t = (uint)get_global_id(0);
    if (t >= C * S)
        return;
    const uint c = t / S, s = t % S;
    float s1 = 0.0f, s2 = 0.0f;
    for (uint k = 0; k < S; k++) {
        s1 += part[po + 2 * (c * S + k)];
        s2 += part[po + 2 * (c * S + k) + 1];
    }
    if (s == 0) {
        if (gsum & NORM_W)
            gw[gwo + c] = s2;
        if (gsum & NORM_B)
            gb[gbo + c] = s1;
    }
    if (!want_gx)
        return;
    const uint M = outer * inner;
    const float wc = has_w ? w[wo + c] : 1.0f;
    const float m1 = wc * s1 / (float)M, m2 = wc * s2 / (float)M, rs = rstd[ro + c];
    const float k1 = rs * wc, k0 = -rs * m1, kh = -rs * m2;
    NORM_SLICE(s, S, o0, o1);
    const uint step = C * inner;
    for (uint o = o0; o < o1; o++) {
        const uint base = o * step + c * inner;
        __global const float *g = gy + gyo + base, *h = xh + xho + base;
        __global float *r = gx + gxo + base;
        uint i = 0;
        /* rs * (g * wc - m1 - h * m2) */
        for (; i + 8 <= inner; i += 8)
            vstore8(fma(vload8(0, g + i), k1, fma(vload8(0, h + i), kh, k0)), 0, r + i);
        for (; i < inner; i++)
            r[i] = fma(g[i], k1, fma(h[i], kh, k0));
    }
}
