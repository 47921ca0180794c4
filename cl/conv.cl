/* Convolution as im2col + GEMM (the GEMM runs through the host's sc_gemm).
 * Host side: src/kernels/conv.c.
 *
 * Layouts (all row-major, 32-bit indices checked on the host):
 *   x    [N, C, H, W]              input
 *   col  [C*KH*KW, N*OH*OW]        unfolded patches: row r = (c, kh, kw),
 *                                  column q = (n, oh, ow); the batch is
 *                                  folded into the GEMM's n dimension
 *   yT   [O, N*OH*OW]              GEMM result, channel-major
 *   y    [N, O, OH, OW]            output
 *
 * No atomics: col2im is a gather (each input pixel sums its contributions
 * in a fixed (kh, kw) order), so every result is bit-identical run to run.
 *
 * Each work-item owns one row of its output (OW or W contiguous elements)
 * and loops along it: the index arithmetic (integer divisions) is paid once
 * per row and memory is walked contiguously. The host launches one
 * work-item per row (SC_FOR_EACH then runs once; it still guards).
 *
 * The host builds im2col / col2im specialised to a layer's geometry
 * (-DSC_GEOM -DSC_C=.. -DSC_H=.. -DSC_W=.. -DSC_KH=.. -DSC_KW=.. -DSC_S=..
 * -DSC_P=.. -DSC_OH=.. -DSC_OW=..; the batch stays a run-time argument, so a
 * short last batch reuses the program): constant divisors and trip counts
 * make im2col about twice as fast on PoCL. Without SC_GEOM the kernels read
 * the same values from their arguments. */
#ifdef SC_GEOM
#define C_ SC_C
#define H_ SC_H
#define W_ SC_W
#define KH_ SC_KH
#define KW_ SC_KW
#define S_ SC_S
#define P_ SC_P
#define OH_ SC_OH
#define OW_ SC_OW
#else
#define C_ C
#define H_ H
#define W_ W
#define KH_ KH
#define KW_ KW
#define S_ stride
#define P_ pad
#define OH_ OH
#define OW_ OW
#endif

/* col[r, (n, oh, ow)] = x[n, c, oh*s + kh - pad, ow*s + kw - pad] (0 outside),
 * r = (c, kh, kw); one row (r, n, oh) of OW outputs per work-item. */
__kernel void sc_conv_im2col(__global float *restrict col, __global const float *restrict x,
                             uint xo, uint N, uint C, uint H, uint W, uint KH, uint KW,
                             uint stride, uint pad, uint OH, uint OW)
{
    uint rows = C_ * KH_ * KW_ * N * OH_;
    SC_FOR_EACH(i, rows) {
        uint oh = i % OH_;
        uint t = i / OH_;
        uint n = t % N;
        uint r = t / N;
        uint kw = r % KW_;
        uint t2 = r / KW_;
        uint kh = t2 % KH_;
        uint c = t2 / KH_;
        /* i * OW_ == r*NP + n*P + oh*OW_ */
        __global float *dst = col + i * OW_;
        int ih = (int)(oh * S_ + kh) - (int)P_;
        if (ih < 0 || ih >= (int)H_) {
            for (uint ow = 0; ow < OW_; ow++)
                dst[ow] = 0.0f;
            continue;
        }
        /* ow in [lo, hi) reads inside the row; zeros (padding) around it */
        uint lo = kw >= P_ ? 0u : (P_ - kw + S_ - 1u) / S_;
        uint hi = W_ + P_ <= kw ? 0u : (W_ + P_ - kw + S_ - 1u) / S_;
        hi = hi < OW_ ? hi : OW_;
        lo = lo < hi ? lo : hi;
        __global const float *src = x + xo + ((n * C_ + c) * H_ + (uint)ih) * W_;
        int off = (int)kw - (int)P_;
        for (uint ow = 0; ow < lo; ow++)
            dst[ow] = 0.0f;
        for (uint ow = lo; ow < hi; ow++)
            dst[ow] = src[(int)(ow * S_) + off];
        for (uint ow = hi; ow < OW_; ow++)
            dst[ow] = 0.0f;
    }
}

/* The adjoint of im2col, as a gather: gx[n, c, h, w] = the sum over the
 * (kh, kw) whose window position (oh, ow) lands on (h, w) of
 * col[(c, kh, kw), (n, oh, ow)]. One row (n, c, h) of W outputs per
 * work-item, which owns it: each element adds its terms in increasing kh,
 * then kw (fixed order, no atomics). */
__kernel void sc_conv_col2im(__global float *restrict gx, uint gxo,
                             __global const float *restrict col, uint N, uint C, uint H, uint W,
                             uint KH, uint KW, uint stride, uint pad, uint OH, uint OW)
{
    uint P = OH_ * OW_, NP = N * P, rows = N * C_ * H_;
    SC_FOR_EACH(i, rows) {
        uint h = i % H_;
        uint t = i / H_;
        uint c = t % C_;
        uint n = t / C_;
        __global float *dst = gx + gxo + i * W_;
        for (uint w = 0; w < W_; w++)
            dst[w] = 0.0f;
        for (uint kh = 0; kh < KH_; kh++) {
            int th = (int)(h + P_) - (int)kh;
            if (th < 0)
                break;
            if ((uint)th % S_)
                continue;
            uint oh = (uint)th / S_;
            if (oh >= OH_)
                continue;
            for (uint kw = 0; kw < KW_; kw++) {
                __global const float *src =
                    col + ((c * KH_ + kh) * KW_ + kw) * NP + n * P + oh * OW_;
                /* ow with 0 <= ow*S_ + kw - P_ < W_ */
                uint lo = kw >= P_ ? 0u : (P_ - kw + S_ - 1u) / S_;
                uint hi = (W_ + P_ - kw + S_ - 1u) / S_; /* first ow past the edge */
                if (W_ + P_ <= kw)
                    hi = 0;
                if (hi > OW_)
                    hi = OW_;
                for (uint ow = lo; ow < hi; ow++)
                    dst[ow * S_ + kw - P_] += src[ow];
            }
        }
    }
}

/* The layout moves between [N, O, P] and [O, N*P] (P = OH*OW) move rows of
 * P contiguous floats. Two forms, chosen by device type (ops_conv.c):
 *  - *_rows, for CPUs: a work-item per (n, o) row copies it in a loop; PoCL
 *    runs that as a plain copy (the per-element form measured 1.5-2x slower
 *    there).
 *  - the per-element form over the 3-D range (p, o, n), for GPUs: neighbouring
 *    work-items touch neighbouring addresses on both sides; a work-item per
 *    row left an H100's loads strided by P and ran 20-30x slower. */

/* yT[o, n*P + p] = g[n, o, p] */
__kernel void sc_conv_to_cnp(__global float *restrict yT, __global const float *restrict g,
                             uint go, uint N, uint O, uint P)
{
    uint p = (uint)get_global_id(0), o = (uint)get_global_id(1), n = (uint)get_global_id(2);
    if (p >= P || o >= O || n >= N)
        return;
    yT[(o * N + n) * P + p] = g[go + (n * O + o) * P + p];
}

__kernel void sc_conv_to_cnp_rows(__global float *restrict yT, __global const float *restrict g,
                                  uint go, uint N, uint O, uint P)
{
    SC_FOR_EACH(row, N * O) {
        uint o = row % O, n = row / O;
        __global float *dst = yT + (o * N + n) * P;
        __global const float *src = g + go + row * P;
        for (uint p = 0; p < P; p++)
            dst[p] = src[p];
    }
}

/* y[n, o, p] = yT[o, n*P + p] (+ b[o] when has_bias) */
__kernel void sc_conv_from_cnp(__global float *restrict y, uint yo,
                               __global const float *restrict yT, __global const float *restrict b,
                               uint bo, uint has_bias, uint N, uint O, uint P)
{
    uint p = (uint)get_global_id(0), o = (uint)get_global_id(1), n = (uint)get_global_id(2);
    if (p >= P || o >= O || n >= N)
        return;
    y[yo + (n * O + o) * P + p] = yT[(o * N + n) * P + p] + (has_bias ? b[bo + o] : 0.0f);
}

__kernel void sc_conv_from_cnp_rows(__global float *restrict y, uint yo,
                                    __global const float *restrict yT,
                                    __global const float *restrict b, uint bo, uint has_bias,
                                    uint N, uint O, uint P)
{
    SC_FOR_EACH(row, N * O) {
        uint o = row % O, n = row / O;
        float bias = has_bias ? b[bo + o] : 0.0f;
        __global float *dst = y + yo + row * P;
        __global const float *src = yT + (o * N + n) * P;
        for (uint p = 0; p < P; p++)
            dst[p] = src[p] + bias;
    }
}

/* The filter gradient of a convolution whose output a max pooling reads,
 * from the pooled gradient, for small filters (the host's
 * SC_K_CONV_POOLED_MAX_CKK): of gw [O, CKK] = gT @ col^T, where gT (the
 * pooled gy scattered to the convolution's output) is nonzero only at the
 * windows' argmaxes, only those terms:
 *   part[n, o*CKK + r] = sum over the windows q of plane (n, o), in order,
 *                        of gp[n, o, q] * col[r, n*P + idx[n, o, q]]
 * (gp and idx [N, O, Q], idx the argmax's position in the P = OH*OW plane;
 * a position that is the argmax of several windows gets each one's term, as
 * the scatter sums them). The host sums part over n. One (n, o) plane per
 * work-item; its CKK sums are private (SC_CKK, a build constant: the
 * program built without it has no such kernel). */
#ifdef SC_CKK
__kernel void sc_conv_filter_pooled(__global float *restrict part,
                                    __global const float *restrict gp, uint gpo,
                                    __global const int *restrict idx, uint io,
                                    __global const float *restrict col, uint N, uint O, uint Q,
                                    uint P)
{
    uint planes = N * O, NP = N * P;
    SC_FOR_EACH(i, planes) {
        uint n = i / O;
        __global const float *g = gp + gpo + i * Q;
        __global const int *ix = idx + io + i * Q;
        __global const float *src = col + n * P;
        float acc[SC_CKK];
        for (uint r = 0; r < SC_CKK; r++)
            acc[r] = 0.0f;
        for (uint q = 0; q < Q; q++) {
            float gv = g[q];
            __global const float *at = src + ix[q];
            for (uint r = 0; r < SC_CKK; r++)
                acc[r] += gv * at[r * NP];
        }
        for (uint r = 0; r < SC_CKK; r++)
            part[i * SC_CKK + r] = acc[r];
    }
}
#endif
