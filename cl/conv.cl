/* Convolution as im2col + GEMM (the GEMM runs through the host's sc_gemm).
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
 * in a fixed (kh, kw) order), so every result is bit-identical run to run. */

/* col[r, n, oh, :] for one (r, n, oh) per work-item: the divisions are paid
 * once per output row, the inner loop runs along ow. */
__kernel void sc_conv_im2col(__global float *col, __global const float *x, uint xo,
                             uint N, uint C, uint H, uint W, uint KH, uint KW, uint stride,
                             uint pad, uint OH, uint OW)
{
    uint P = OH * OW, NP = N * P, rows = C * KH * KW * N * OH;
    SC_FOR_EACH(i, rows) {
        uint oh = i % OH;
        uint t = i / OH;
        uint n = t % N;
        uint r = t / N;
        uint kw = r % KW;
        uint t2 = r / KW;
        uint kh = t2 % KH;
        uint c = t2 / KH;
        __global float *dst = col + r * NP + n * P + oh * OW;
        int ih = (int)(oh * stride + kh) - (int)pad;
        if (ih < 0 || ih >= (int)H) {
            for (uint ow = 0; ow < OW; ow++)
                dst[ow] = 0.0f;
            continue;
        }
        __global const float *src = x + xo + ((n * C + c) * H + (uint)ih) * W;
        int iw = (int)kw - (int)pad;
        for (uint ow = 0; ow < OW; ow++, iw += (int)stride)
            dst[ow] = (iw >= 0 && iw < (int)W) ? src[iw] : 0.0f;
    }
}

/* The adjoint of im2col, as a gather: gx[n, c, h, w] = sum over the (kh, kw)
 * whose window position (oh, ow) lands on (h, w) of col[(c,kh,kw), (n,oh,ow)],
 * visited in increasing kh, then kw. */
__kernel void sc_conv_col2im(__global float *gx, uint gxo, __global const float *col,
                             uint N, uint C, uint H, uint W, uint KH, uint KW, uint stride,
                             uint pad, uint OH, uint OW)
{
    uint P = OH * OW, NP = N * P, total = N * C * H * W;
    SC_FOR_EACH(i, total) {
        uint w = i % W;
        uint t = i / W;
        uint h = t % H;
        t /= H;
        uint c = t % C;
        uint n = t / C;
        float acc = 0.0f;
        for (uint kh = 0; kh < KH; kh++) {
            int th = (int)(h + pad) - (int)kh;
            if (th < 0)
                break;
            if ((uint)th % stride)
                continue;
            uint oh = (uint)th / stride;
            if (oh >= OH)
                continue;
            __global const float *row = col + ((c * KH + kh) * KW) * NP + n * P + oh * OW;
            for (uint kw = 0; kw < KW; kw++) {
                int tw = (int)(w + pad) - (int)kw;
                if (tw < 0)
                    break;
                if ((uint)tw % stride)
                    continue;
                uint ow = (uint)tw / stride;
                if (ow < OW)
                    acc += row[kw * NP + ow];
            }
        }
        gx[gxo + i] = acc;
    }
}

/* yT[o, n*P + p] = g[n, o, p]: an NCHW gradient to the GEMM's layout. */
__kernel void sc_conv_to_cnp(__global float *yT, __global const float *g, uint go, uint N,
                             uint O, uint P)
{
    uint total = N * O * P, NP = N * P;
    SC_FOR_EACH(i, total) {
        uint p = i % P;
        uint t = i / P;
        uint o = t % O;
        uint n = t / O;
        yT[o * NP + n * P + p] = g[go + i];
    }
}

/* y[n, o, p] = yT[o, n*P + p] (+ b[o] when has_bias). */
__kernel void sc_conv_from_cnp(__global float *y, uint yo, __global const float *yT,
                               __global const float *b, uint bo, uint has_bias, uint N,
                               uint O, uint P)
{
    uint total = N * O * P, NP = N * P;
    SC_FOR_EACH(i, total) {
        uint p = i % P;
        uint t = i / P;
        uint o = t % O;
        uint n = t / O;
        float v = yT[o * NP + n * P + p];
        if (has_bias)
            v += b[bo + o];
        y[yo + i] = v;
    }
}
