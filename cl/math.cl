/* Elementwise math, one family: the public float32 ops (fill, add, mul,
 * scale, axpy: include/spurcl/ops.h and sc_tensor_fill) and the autodiff
 * ops' broadcasting binary and unary maps, relu's fused backward, sum_to and
 * permute. Host side: src/kernels/math.c (and src/core/tensor.c for fill).
 *
 * Every tensor argument is (buffer, element offset); outputs may alias
 * inputs (each element is read and written by the same work-item). Shapes
 * are collapsed on the host to at most 4 dims; a broadcast input has stride
 * 0 along the dims it is broadcast over. Selected with -D: BOP and UOP, the
 * op codes of sc_ops.h (shared with the host). */
#include "sc_ops.h"

/* erf by Abramowitz & Stegun 7.1.26 (|error| <= 1.5e-7): a polynomial and an
 * exp (sc_exp_neg); PoCL's libm erf is a scalar call (27x slower).
 * sc_erf_e takes e = exp(-x * x) from the caller (GELU's backward shares it
 * with the normal density). */
inline float sc_erf_e(float x, float e)
{
    float ax = fabs(x);
    float t = 1.0f / fma(0.3275911f, ax, 1.0f);
    float p = fma(fma(fma(fma(1.061405429f, t, -1.453152027f), t, 1.421413741f), t,
                      -0.284496736f), t, 0.254829592f) * t;
    float r = 1.0f - p * e;
    return copysign(r, x);
}

inline float sc_erf(float x) { return sc_erf_e(x, sc_exp_neg(-x * x)); }

#define SC_INV_SQRT2 0.70710678118654752440f
#define SC_INV_SQRT2PI 0.39894228040143267794f


__kernel void sc_math_fill(__global float *y, uint yo, uint n, float v)
{
    SC_EACH(i, n) y[yo + i] = v;
}

/* y <- alpha * x + y */
__kernel void sc_math_axpy(__global float *y, uint yo, __global const float *x, uint xo, uint n,
                           float alpha)
{
    SC_EACH(i, n) y[yo + i] = fma(alpha, x[xo + i], y[yo + i]);
}

inline uint sc_bcast_offset(uint i, uint4 shape, uint4 stride)
{
    uint i3 = i % shape.s3; i /= shape.s3;
    uint i2 = i % shape.s2; i /= shape.s2;
    uint i1 = i % shape.s1; i /= shape.s1;
    return i * stride.s0 + i1 * stride.s1 + i2 * stride.s2 + i3 * stride.s3;
}

#ifdef BOP
#if BOP < 0 || BOP >= SC_BOP_COUNT
#error "BOP: not a binary op code of sc_ops.h"
#endif
#if BOP == SC_BOP_COPY
#define SC_BOP_APPLY(va, vb) (va)
#elif BOP == SC_BOP_ADD
#define SC_BOP_APPLY(va, vb) ((va) + (vb))
#elif BOP == SC_BOP_SUB
#define SC_BOP_APPLY(va, vb) ((va) - (vb))
#elif BOP == SC_BOP_MUL
#define SC_BOP_APPLY(va, vb) ((va) * (vb))
#else /* SC_BOP_DIV */
#define SC_BOP_APPLY(va, vb) ((va) / (vb))
#endif

__kernel void sc_math_binary(__global float *y, uint yo, __global const float *a, uint ao,
                             uint4 astride, __global const float *b, uint bo, uint4 bstride,
                             uint4 shape, uint n)
{
    SC_EACH(i, n) {
#ifdef FLAT /* same shapes: no index arithmetic (PoCL vectorises this) */
        float va = a[ao + i];
        float vb = BOP == SC_BOP_COPY ? 0.0f : b[bo + i];
#else
        float va = a[ao + sc_bcast_offset(i, shape, astride)];
        float vb = BOP == SC_BOP_COPY ? 0.0f : b[bo + sc_bcast_offset(i, shape, bstride)];
#endif
        y[yo + i] = SC_BOP_APPLY(va, vb);
    }
}

/* The same over a pattern of at most two collapsed dimensions [rows, cols]
 * (a bias over rows, a per-row scale, a scalar): a 2-D grid, so no index
 * division; ACS and BCS (0 or 1) are the operands' column strides, fixed at
 * build time so the loads along a row are contiguous or uniform (integer
 * division has no vector form: sc_bcast_offset kept the general kernel
 * scalar on PoCL). */
#ifdef ACS
__kernel void sc_math_binary2d(__global float *y, uint yo, __global const float *a, uint ao,
                               uint ars, __global const float *b, uint bo, uint brs, uint rows,
                               uint cols)
{
    const uint c = (uint)get_global_id(0), r = (uint)get_global_id(1);
    if (c < cols && r < rows) {
        float va = a[ao + r * ars + c * ACS];
        float vb = BOP == SC_BOP_COPY ? 0.0f : b[bo + r * brs + c * BCS];
        y[yo + r * cols + c] = SC_BOP_APPLY(va, vb);
    }
}
#endif
#endif

#ifdef UOP
#if UOP < 0 || UOP >= SC_UOP_COUNT
#error "UOP: not a unary op code of sc_ops.h"
#endif
/* erf-form GELU and its derivatives */
__kernel void sc_math_unary(__global float *y, uint yo, __global const float *x, uint xo,
                            uint n, float p)
{
    SC_EACH(i, n) {
        float v = x[xo + i];
        float r;
#if UOP == SC_UOP_RELU
        r = v > 0.0f ? v : 0.0f;
#elif UOP == SC_UOP_ABS
        r = fabs(v);
#elif UOP == SC_UOP_SIGN
        r = v > 0.0f ? 1.0f : (v < 0.0f ? -1.0f : 0.0f);
#elif UOP == SC_UOP_EXP
        r = exp(v);
#elif UOP == SC_UOP_LOG
        r = log(v);
#elif UOP == SC_UOP_RSQRT
        r = rsqrt(v);
#elif UOP == SC_UOP_GELU /* x * Phi(x) */
        r = 0.5f * v * (1.0f + sc_erf(v * SC_INV_SQRT2));
#elif UOP == SC_UOP_GELU2 /* phi(x) * (2 - x^2), as 2 phi - (x phi) x: 0, not 0 * inf, at -3e38 */
        float p2 = SC_INV_SQRT2PI * sc_exp_neg(-0.5f * v * v);
        r = fma(-(v * p2), v, 2.0f * p2);
#elif UOP == SC_UOP_GELU3 /* phi(x) * (x^3 - 4x) */
        r = SC_INV_SQRT2PI * sc_exp_neg(-0.5f * v * v) * (v * v * v - 4.0f * v);
#elif UOP == SC_UOP_SCALE
        r = p * v;
#elif UOP == SC_UOP_ADDS
        r = v + p;
#elif UOP == SC_UOP_POW && defined(POW_INT) /* integer exponent: multiplications (PoCL's
                                                pow is a scalar libm call, 50x slower
                                                than x * x) */
        float b = POW_INT < 0 ? 1.0f / v : v;
        r = 1.0f;
        for (int e = 0; e < (POW_INT < 0 ? -POW_INT : POW_INT); e++)
            r *= b;
#elif UOP == SC_UOP_POW /* another constant exponent */
        r = pow(v, p);
#endif
        y[yo + i] = r;
    }
}
#endif

/* relu's backward, fused: y = gy where x > 0, else 0. Both loads are
 * unconditional: a load under the condition kept PoCL from vectorising
 * (5x slower than relu's forward). */
__kernel void sc_math_relu_mask(__global float *y, uint yo, __global const float *gy, uint go,
                                __global const float *x, uint xo, uint n)
{
    SC_EACH(i, n) {
        float g = gy[go + i];
        y[yo + i] = x[xo + i] > 0.0f ? g : 0.0f;
    }
}

/* GELU's backward, fused: y = gy * gelu'(x), gelu'(x) = Phi(x) + x * phi(x),
 * one exp shared by erf and the density (the composed gelu' then mul: two
 * launches and two exps). */
__kernel void sc_math_gelu_backward(__global float *y, uint yo, __global const float *gy,
                                    uint go, __global const float *x, uint xo, uint n)
{
    SC_EACH(i, n) {
        float v = x[xo + i];
        float e = sc_exp_neg(-0.5f * v * v);
        float d = fma(0.5f, sc_erf_e(v * SC_INV_SQRT2, e), 0.5f) + v * SC_INV_SQRT2PI * e;
        y[yo + i] = gy[go + i] * d;
    }
}

/* The backward of GELU's backward y = gy * gelu'(x) (a recorded op when a
 * backward records: the ULE teacher's saliency), given gg = dL/dy, fused:
 *   dgy = gg * gelu'(x),   dx = gg * gy * gelu''(x),
 * gelu''(x) = phi(x) * (2 - x^2) = 2 phi - (x phi) x (0 where phi is 0,
 * not 0 * inf); one exp for both (the composed rule: a
 * gelu' and a gelu'' launch, three multiplications). Both are written. */
__kernel void sc_math_gelu_backward2(__global float *dgy, uint dgo, __global float *dx, uint dxo,
                                     __global const float *gg, uint ggo,
                                     __global const float *gy, uint go,
                                     __global const float *x, uint xo, uint n)
{
    SC_EACH(i, n) {
        float v = x[xo + i];
        float e = sc_exp_neg(-0.5f * v * v);
        float pdf = SC_INV_SQRT2PI * e;
        float d1 = fma(0.5f, sc_erf_e(v * SC_INV_SQRT2, e), 0.5f) + v * pdf;
        float g = gg[ggo + i];
        dgy[dgo + i] = g * d1;
        dx[dxo + i] = g * gy[go + i] * fma(-(v * pdf), v, 2.0f * pdf);
    }
}

/* sum_to: out = sum of x over the dims flagged in `red` (x collapsed to 4
 * dims `shape`). ext: output extents (1 where reduced); rext: reduced
 * extents (1 where kept); xs: x's strides. */
inline uint sc_sum_to_base(uint o, uint4 ext, uint4 xs)
{
    uint c3 = o % ext.s3; o /= ext.s3;
    uint c2 = o % ext.s2; o /= ext.s2;
    uint c1 = o % ext.s1; o /= ext.s1;
    return o * xs.s0 + c1 * xs.s1 + c2 * xs.s2 + c3 * xs.s3;
}

#define SC_SUM_TO_EXTENTS                                                             \
    uint4 ext = (uint4)(red.s0 ? 1u : shape.s0, red.s1 ? 1u : shape.s1,               \
                        red.s2 ? 1u : shape.s2, red.s3 ? 1u : shape.s3);              \
    uint4 rext = (uint4)(red.s0 ? shape.s0 : 1u, red.s1 ? shape.s1 : 1u,              \
                         red.s2 ? shape.s2 : 1u, red.s3 ? shape.s3 : 1u);             \
    uint4 xs = (uint4)(shape.s1 * shape.s2 * shape.s3, shape.s2 * shape.s3, shape.s3, 1u)

/* One work-item per output, reduced dims visited in order: for many
 * outputs or few reduced elements each. */
__kernel void sc_math_sum_to(__global float *y, uint yo, __global const float *x, uint xo,
                             uint4 shape, uint4 red, uint nout)
{
    SC_SUM_TO_EXTENTS;
    SC_FOR_EACH(o, nout) {
        __global const float *p = x + xo + sc_sum_to_base(o, ext, xs);
        float acc = 0.0f;
        for (uint a = 0; a < rext.s0; a++)
            for (uint b = 0; b < rext.s1; b++)
                for (uint c = 0; c < rext.s2; c++)
                    for (uint d = 0; d < rext.s3; d++)
                        acc += p[a * xs.s0 + b * xs.s1 + c * xs.s2 + d * xs.s3];
        y[yo + o] = acc;
    }
}

/* sum_to over [R, C] -> [C] (the reduced axis outer, C a multiple of 4;
 * a bias gradient): a work-item sums 4 neighbouring columns with vector
 * loads, each column in row order, as sc_math_sum_to does it (the same
 * bits). PoCL keeps a loop's body scalar; the float4 is the vector. */
__kernel void sc_math_sum_cols4(__global float *y, uint yo, __global const float *x, uint xo,
                                uint R, uint C4)
{
    SC_EACH(c, C4) {
        __global const float *p = x + xo;
        float4 acc = (float4)(0.0f);
        for (uint r = 0; r < R; r++)
            acc += vload4((size_t)r * C4 + c, p);
        vstore4(acc, c, y + yo);
    }
}

/* sum_to over [A, C, B] -> [C] with B contiguous and a multiple of 4 (a
 * convolution's bias gradient: [N, O, OH*OW]), in two passes with a fixed
 * order. Pass 1, a work-item per (c, a): part[c * A + a] = the sum of the
 * run x[a, c, 0..B) by float4 (lane k sums b = k mod 4 in order, then
 * (l0 + l1) + (l2 + l3)). Pass 2, a work-item per c: y[c] = the sum of
 * part[c, 0..A) in order. Many work-items over the runs where a work-item
 * per channel left one core with 32 long sums, and vector loads. */
__kernel void sc_math_sum_runs4(__global float *part, uint po, __global const float *x, uint xo,
                                uint A, uint C, uint B4)
{
    SC_EACH(t, A * C) {
        uint c = t / A, a = t % A;
        __global const float *p = x + xo + ((size_t)a * C + c) * B4 * 4;
        float4 acc = (float4)(0.0f);
        for (uint b = 0; b < B4; b++)
            acc += vload4(b, p);
        part[po + t] = (acc.s0 + acc.s1) + (acc.s2 + acc.s3);
    }
}

__kernel void sc_math_sum_parts(__global float *y, uint yo, __global const float *part, uint po,
                                uint A, uint C)
{
    SC_EACH(c, C) {
        float s = 0.0f;
        for (uint a = 0; a < A; a++)
            s += part[po + (size_t)c * A + a];
        y[yo + c] = s;
    }
}

/* One work-group per output, a fixed-order tree over its reduced elements:
 * for few outputs over many elements (a bias gradient summed over batch and
 * pixels), which one work-item each would leave a GPU nearly idle. The
 * collapsed pattern alternates reduced and kept dims, so at most two are
 * reduced: an outer (ro) and an inner (ri) one. The work-items split the
 * inner one when it is long (neighbouring items read neighbouring addresses
 * where it is contiguous), else the outer one; no divisions per element. */
__kernel __attribute__((reqd_work_group_size(SC_WG, 1, 1)))
void sc_math_sum_to_group(__global float *y, uint yo, __global const float *x, uint xo,
                          uint4 shape, uint4 red, uint nout)
{
    __local float buf[SC_WG];
    SC_SUM_TO_EXTENTS;
    uint lid = (uint)get_local_id(0), o = (uint)get_group_id(0);
    __global const float *p = x + xo + sc_sum_to_base(o, ext, xs);
    uint ro_n = 1, ro_s = 0, ri_n = 1, ri_s = 0;
    uint rn[4] = {rext.s0, rext.s1, rext.s2, rext.s3}, st[4] = {xs.s0, xs.s1, xs.s2, xs.s3};
    for (int d = 0; d < 4; d++) {
        if (rn[d] == 1)
            continue;
        ro_n = ri_n;
        ro_s = ri_s;
        ri_n = rn[d];
        ri_s = st[d];
    }
    float acc = 0.0f;
    if (ri_n >= SC_WG / 4) {
        for (uint a = 0; a < ro_n; a++)
            for (uint i = lid; i < ri_n; i += SC_WG)
                acc += p[a * ro_s + i * ri_s];
    } else {
        for (uint a = lid; a < ro_n; a += SC_WG)
            for (uint i = 0; i < ri_n; i++)
                acc += p[a * ro_s + i * ri_s];
    }
    buf[lid] = acc;
    SC_LOCAL_REDUCE(buf, lid, SC_OP_SUM);
    if (lid == 0 && o < nout)
        y[yo + o] = buf[0];
}

/* y = x permuted: y[j0,j1,j2,j3] = x[i] with i = sum_k j_k * xstride[k]
 * (xstride lists x's strides in y's axis order), on a 3-D grid (y's axes 3,
 * 2, and 0 and 1 together): one division per work-item, by a value the whole
 * row shares, where sc_bcast_offset's three per element kept PoCL scalar
 * (a [B, D, P] -> [B, P, D] transpose, the ViT's patch tokens: 2.1 -> 0.9
 * ms). */
/* PERMUTE_3D(at, to) { ... }: this work-item's element of the 3-D grid,
 * `at` its offset in x, `to` in y (units of the kernel's element). */
#define PERMUTE_3D(at, to)                                                     \
    const uint j3 = (uint)get_global_id(0), j2 = (uint)get_global_id(1);      \
    const uint j01 = (uint)get_global_id(2);                                   \
    const uint at = (j01 / yshape.s1) * xstride.s0 + (j01 % yshape.s1) * xstride.s1 + \
                    j2 * xstride.s2 + j3 * xstride.s3;                         \
    const uint to = (j01 * yshape.s2 + j2) * yshape.s3 + j3;                   \
    if (j3 < yshape.s3 && j2 < yshape.s2)

__kernel void sc_math_permute3d(__global float *y, uint yo, __global const float *x, uint xo,
                                uint4 yshape, uint4 xstride)
{
    PERMUTE_3D(at, to) y[yo + to] = x[xo + at];
}

/* The same when the last axis stays last with an extent that is a multiple
 * of 4 (attention's head split and merge): shape and strides count float4s
 * and a work-item moves 4 contiguous floats with vector loads and stores. */
__kernel void sc_math_permute4(__global float *y, uint yo, __global const float *x, uint xo,
                               uint4 yshape, uint4 xstride)
{
    PERMUTE_3D(at, to) vstore4(vload4(at, x + xo), to, y + yo);
}
