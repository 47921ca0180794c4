/* Host of cl/math.cl, the elementwise family: broadcasting binary and unary
 * maps, relu's fused backward, sum_to, permute, the tensor GEMM, and the
 * public float32 ops of include/spurcl/ops.h (add, mul, scale, axpy; fill
 * is sc_tensor_fill in core/tensor.c). */
#include "core/gemm.h"
#include "kernels/kernels.h"
#include "spurcl/ops.h"

#include <math.h>
#include <stdio.h>

/* ---- op codes (cl/sc_ops.h) ------------------------------------------------ */

static const char *const bop_names[] = {
    [SC_BOP_ADD] = "add", [SC_BOP_SUB] = "sub", [SC_BOP_MUL] = "mul", [SC_BOP_DIV] = "div",
    [SC_BOP_COPY] = "expand",
};
static const char *const uop_names[] = {
    [SC_UOP_RELU] = "relu",   [SC_UOP_ABS] = "abs",       [SC_UOP_SIGN] = "sign",
    [SC_UOP_EXP] = "exp",     [SC_UOP_LOG] = "log",       [SC_UOP_RSQRT] = "rsqrt",
    [SC_UOP_GELU] = "gelu",   [SC_UOP_GELU2] = "gelu''",
    [SC_UOP_GELU3] = "gelu'''", [SC_UOP_SCALE] = "scale", [SC_UOP_ADDS] = "add_scalar",
    [SC_UOP_POW] = "pow",
};
/* ggml's pin: a new op code changes a count here, so whoever adds one meets
 * this line, the tables above and the #if chains of cl/math.cl together. */
_Static_assert(SC_BOP_COUNT == 5, "binary op codes changed: update bop_names and cl/math.cl");
_Static_assert(SC_UOP_COUNT == 12, "unary op codes changed: update uop_names and cl/math.cl");
_Static_assert(sizeof bop_names / sizeof bop_names[0] == SC_BOP_COUNT, "a binary op has no name");
_Static_assert(sizeof uop_names / sizeof uop_names[0] == SC_UOP_COUNT, "a unary op has no name");

const char *sc_k_math_bop_name(int bop)
{
    return bop >= 0 && bop < SC_BOP_COUNT && bop_names[bop] ? bop_names[bop] : "?";
}

const char *sc_k_math_uop_name(int uop)
{
    return uop >= 0 && uop < SC_UOP_COUNT && uop_names[uop] ? uop_names[uop] : "?";
}

/* The build options of sc_math_binary: the op, and FLAT when no operand is
 * broadcast (no index arithmetic: PoCL vectorises that form). */
static const char *bop_defines(int bop, bool flat, char *buf, size_t n)
{
    snprintf(buf, n, "-DBOP=%d%s", bop, flat ? " -DFLAT" : "");
    return buf;
}

/* ---- broadcasting binary ops -------------------------------------------------- */

/* Collapses dims of y (rank r) where a and b have the same broadcast
 * pattern; fills 4-dim shape and strides (stride 0 = broadcast). */
static bool collapse2(int r, const int64_t *ys, const int64_t *as, const int64_t *bs,
                      cl_uint4 *shape, cl_uint4 *astr, cl_uint4 *bstr)
{
    int64_t cs[SC_MAX_DIMS];
    int ca[SC_MAX_DIMS], cb[SC_MAX_DIMS];
    int m = 0;
    for (int d = 0; d < r; d++) {
        if (ys[d] == 1)
            continue;
        int fa = as[d] == 1, fb = bs[d] == 1;
        if (m > 0 && ca[m - 1] == fa && cb[m - 1] == fb) {
            cs[m - 1] *= ys[d];
        } else {
            cs[m] = ys[d];
            ca[m] = fa;
            cb[m] = fb;
            m++;
        }
    }
    if (m > 4)
        return false;
    uint64_t sa = 1, sb = 1;
    for (int k = 0; k < 4; k++) {
        shape->s[k] = 1;
        astr->s[k] = 0;
        bstr->s[k] = 0;
    }
    for (int d = m - 1, k = 3; d >= 0; d--, k--) {
        shape->s[k] = (cl_uint)cs[d];
        astr->s[k] = ca[d] ? 0 : (cl_uint)sa;
        bstr->s[k] = cb[d] ? 0 : (cl_uint)sb;
        if (!ca[d])
            sa *= (uint64_t)cs[d];
        if (!cb[d])
            sb *= (uint64_t)cs[d];
    }
    return true;
}

/* sc_math_binary over y's n elements with the collapsed pattern. */
static sc_status launch_binary(int bop, bool flat, sc_tensor *y, const sc_tensor *a,
                               cl_uint4 astr, const sc_tensor *b, cl_uint4 bstr, cl_uint4 shape)
{
    char defs[32];
    cl_mem ym = y->buf->mem, am = a->buf->mem, bm = b->buf->mem;
    cl_uint yo = (cl_uint)y->offset, ao = (cl_uint)a->offset, bo = (cl_uint)b->offset;
    cl_uint n = (cl_uint)y->numel;
    sc_karg args[] = {SC_ARG(ym), SC_ARG(yo), SC_ARG(am), SC_ARG(ao), SC_ARG(astr),
                      SC_ARG(bm), SC_ARG(bo), SC_ARG(bstr), SC_ARG(shape), SC_ARG(n)};
    return sc_launch_1d(y->ctx, "math", bop_defines(bop, flat, defs, sizeof defs),
                        "sc_math_binary", n, 10, args);
}

/* sc_math_binary2d over [rows, cols] = (shape.s2, shape.s3). */
static sc_status launch_binary2d(int bop, sc_tensor *y, const sc_tensor *a, cl_uint4 astr,
                                 const sc_tensor *b, cl_uint4 bstr, cl_uint4 shape)
{
    sc_context *ctx = y->ctx;
    char defs[48];
    snprintf(defs, sizeof defs, "-DBOP=%d -DACS=%u -DBCS=%u", bop, astr.s[3], bstr.s[3]);
    cl_kernel k;
    SC_TRY(sc_kernel_get(ctx, "math", defs, "sc_math_binary2d", &k));
    cl_mem ym = y->buf->mem, am = a->buf->mem, bm = b->buf->mem;
    cl_uint yo = (cl_uint)y->offset, ao = (cl_uint)a->offset, bo = (cl_uint)b->offset;
    cl_uint ars = astr.s[2], brs = bstr.s[2], rows = shape.s[2], cols = shape.s[3];
    sc_karg args[] = {SC_ARG(ym), SC_ARG(yo), SC_ARG(am), SC_ARG(ao), SC_ARG(ars),
                      SC_ARG(bm), SC_ARG(bo), SC_ARG(brs), SC_ARG(rows), SC_ARG(cols)};
    size_t local[3], global[2] = {cols, rows};
    sc_row_group(ctx, cols, local);
    return sc_launch(ctx, k, "sc_math_binary2d", 2, global, local, 10, args);
}

sc_status sc_k_math_binary(int bop, sc_tensor *y, const sc_tensor *a, const sc_tensor *b)
{
    int r = y->ndim;
    int64_t as[SC_MAX_DIMS], bs[SC_MAX_DIMS];
    sc_k_align(a, r, as);
    sc_k_align(b ? b : a, r, bs);
    cl_uint4 shape, astr, bstr;
    if (!collapse2(r, y->shape, as, bs, &shape, &astr, &bstr))
        return sc_error_set(SC_ERR_UNSUPPORTED,
                            "broadcast pattern needs more than 4 collapsed dimensions");
    /* no broadcasting at all: one collapsed dim with unit strides */
    bool flat = shape.s[0] == 1 && shape.s[1] == 1 && shape.s[2] == 1 && astr.s[3] == 1 &&
                (bop == SC_BOP_COPY || bstr.s[3] == 1);
    if (!flat && shape.s[0] == 1 && shape.s[1] == 1)
        return launch_binary2d(bop, y, a, astr, b ? b : a, bstr, shape);
    return launch_binary(bop, flat, y, a, astr, b ? b : a, bstr, shape);
}

/* ---- unary ops ----------------------------------------------------------------- */

sc_status sc_k_math_unary(int uop, sc_tensor *y, const sc_tensor *x, float p)
{
    char def[48];
    if (uop == SC_UOP_POW && p == rintf(p) && fabsf(p) <= 8)
        snprintf(def, sizeof def, "-DUOP=%d -DPOW_INT=%d", uop, (int)p);
    else
        snprintf(def, sizeof def, "-DUOP=%d", uop);
    cl_mem ym = y->buf->mem, xm = x->buf->mem;
    cl_uint yo = (cl_uint)y->offset, xo = (cl_uint)x->offset, n = (cl_uint)x->numel;
    sc_karg args[] = {SC_ARG(ym), SC_ARG(yo), SC_ARG(xm), SC_ARG(xo), SC_ARG(n), SC_ARG(p)};
    return sc_launch_1d(y->ctx, "math", def, "sc_math_unary", n, 6, args);
}

/* y = f(gy, x) elementwise, one element per work-item: the backward of a
 * pointwise op from its input x and the incoming gradient gy. */
static sc_status pointwise_backward(sc_tensor *y, const sc_tensor *gy, const sc_tensor *x,
                                    const char *kernel)
{
    cl_mem ym = y->buf->mem, gm = gy->buf->mem, xm = x->buf->mem;
    cl_uint yo = (cl_uint)y->offset, go = (cl_uint)gy->offset, xo = (cl_uint)x->offset;
    cl_uint n = (cl_uint)x->numel;
    sc_karg args[] = {SC_ARG(ym), SC_ARG(yo), SC_ARG(gm), SC_ARG(go),
                      SC_ARG(xm), SC_ARG(xo), SC_ARG(n)};
    return sc_launch_1d(y->ctx, "math", NULL, kernel, n, 7, args);
}

sc_status sc_k_math_relu_mask(sc_tensor *y, const sc_tensor *gy, const sc_tensor *x)
{
    return pointwise_backward(y, gy, x, "sc_math_relu_mask");
}

sc_status sc_k_math_gelu_backward(sc_tensor *y, const sc_tensor *gy, const sc_tensor *x)
{
    return pointwise_backward(y, gy, x, "sc_math_gelu_backward");
}

sc_status sc_k_math_gelu_backward2(sc_tensor *dgy, sc_tensor *dx, const sc_tensor *gg,
                                   const sc_tensor *gy, const sc_tensor *x)
{
    cl_mem am = dgy->buf->mem, bm = dx->buf->mem, ggm = gg->buf->mem, gm = gy->buf->mem,
           xm = x->buf->mem;
    cl_uint ao = (cl_uint)dgy->offset, bo = (cl_uint)dx->offset, ggo = (cl_uint)gg->offset,
            go = (cl_uint)gy->offset, xo = (cl_uint)x->offset, n = (cl_uint)x->numel;
    sc_karg args[] = {SC_ARG(am), SC_ARG(ao), SC_ARG(bm), SC_ARG(bo), SC_ARG(ggm), SC_ARG(ggo),
                      SC_ARG(gm), SC_ARG(go), SC_ARG(xm), SC_ARG(xo), SC_ARG(n)};
    return sc_launch_1d(x->ctx, "math", NULL, "sc_math_gelu_backward2", n, 11, args);
}

/* ---- sum_to and permute ----------------------------------------------------------- */

/* sum_to over [A, C, B] -> [C], B a multiple of 4 (cl/math.cl's
 * sc_math_sum_runs4, then sc_math_sum_parts over a pooled [C, A]). */
static sc_status sum_runs(sc_tensor *y, const sc_tensor *x, int64_t A, int64_t C, int64_t B)
{
    sc_context *ctx = y->ctx;
    int64_t ps[2] = {C, A};
    sc_tensor *part;
    SC_TRY(sc_tensor_create(ctx, SC_F32, 2, ps, &part));
    cl_mem pm = part->buf->mem, xm = x->buf->mem, ym = y->buf->mem;
    cl_uint xo = (cl_uint)x->offset, yo = (cl_uint)y->offset, po = (cl_uint)part->offset;
    cl_uint a = (cl_uint)A, c = (cl_uint)C, b4 = (cl_uint)(B / 4);
    sc_karg a1[] = {SC_ARG(pm), SC_ARG(po), SC_ARG(xm), SC_ARG(xo),
                    SC_ARG(a),  SC_ARG(c),  SC_ARG(b4)};
    sc_status st = sc_launch_1d(ctx, "math", NULL, "sc_math_sum_runs4", (size_t)A * (size_t)C, 7, a1);
    sc_karg a2[] = {SC_ARG(ym), SC_ARG(yo), SC_ARG(pm), SC_ARG(po), SC_ARG(a), SC_ARG(c)};
    if (st == SC_OK)
        st = sc_launch_1d(ctx, "math", NULL, "sc_math_sum_parts", (size_t)C, 6, a2);
    /* in-order queue: the buffer's next user is enqueued after these */
    sc_tensor_free(part);
    return st;
}

sc_status sc_k_math_sum_to(sc_tensor *y, const sc_tensor *x)
{
    /* target aligned to x's rank; collapse: runs of equal reduce-flag, dims
     * of extent 1 dropped */
    int r = x->ndim;
    int64_t ts[SC_MAX_DIMS];
    sc_k_align(y, r, ts);
    int64_t cs[SC_MAX_DIMS];
    int cr[SC_MAX_DIMS], m = 0;
    for (int d = 0; d < r; d++) {
        int64_t e = x->shape[d];
        if (e == 1)
            continue;
        int red = ts[d] == 1;
        if (m > 0 && cr[m - 1] == red)
            cs[m - 1] *= e;
        else {
            cs[m] = e;
            cr[m] = red;
            m++;
        }
    }
    if (m > 4)
        return sc_error_set(SC_ERR_UNSUPPORTED,
                            "sum_to: pattern needs more than 4 collapsed dimensions");
    cl_uint4 cshape = {{1, 1, 1, 1}}, cred = {{0, 0, 0, 0}};
    for (int d = m - 1, k = 3; d >= 0; d--, k--) {
        cshape.s[k] = (cl_uint)cs[d];
        cred.s[k] = (cl_uint)cr[d];
    }
    cl_mem ym = y->buf->mem, xm = x->buf->mem;
    cl_uint yo = (cl_uint)y->offset, xo = (cl_uint)x->offset, n = (cl_uint)y->numel;
    sc_karg args[] = {SC_ARG(ym), SC_ARG(yo), SC_ARG(xm), SC_ARG(xo),
                      SC_ARG(cshape), SC_ARG(cred), SC_ARG(n)};
    /* a work-group per output or a work-item per output (sc_k_use_group;
     * on PoCL the work-item form was 1.3-5x faster at every bias-gradient
     * shape measured, 2-core EPYC: [6400, 64] to [64] 0.37 against 1.15 ms;
     * [32, 100352] to [32] 2.7 against 3.6 ms) */
    size_t per_out = (size_t)(x->numel / (n ? n : 1));
    if (sc_k_use_group(y->ctx, n, per_out))
        return sc_launch_groups(y->ctx, "math", NULL, "sc_math_sum_to_group", n, 7, args);
    /* [A, C, B] -> [C] (or [C, B] -> [C]), B contiguous: runs by 4, two passes */
    bool runs = (m == 3 && cr[0] && !cr[1] && cr[2]) || (m == 2 && !cr[0] && cr[1]);
    if (runs && cs[m - 1] % 4 == 0)
        return sum_runs(y, x, m == 3 ? cs[0] : 1, cs[m - 2], cs[m - 1]);
    if (m == 2 && cr[0] && !cr[1] && cs[1] % 4 == 0) { /* [R, C] -> [C]: columns by 4 */
        cl_uint R = (cl_uint)cs[0], C4 = (cl_uint)(cs[1] / 4);
        sc_karg a4[] = {SC_ARG(ym), SC_ARG(yo), SC_ARG(xm), SC_ARG(xo), SC_ARG(R), SC_ARG(C4)};
        return sc_launch_1d(y->ctx, "math", NULL, "sc_math_sum_cols4", C4, 6, a4);
    }
    return sc_launch_1d(y->ctx, "math", NULL, "sc_math_sum_to", n, 7, args);
}

sc_status sc_k_math_permute(sc_tensor *y, const sc_tensor *x, const int *perm)
{
    int r = x->ndim;
    if (r > 4)
        return sc_error_set(SC_ERR_UNSUPPORTED, "permute: rank %d > 4", r);
    int64_t xstr[SC_MAX_DIMS], s = 1;
    for (int i = r - 1; i >= 0; i--) {
        xstr[i] = s;
        s *= x->shape[i];
    }
    /* the last axis kept, a multiple of 4 long: float4 units (every other
     * stride of x is a multiple of that extent) */
    int64_t v = r > 0 && perm[r - 1] == r - 1 && x->shape[r - 1] % 4 == 0 ? 4 : 1;
    cl_uint4 shape = {{1, 1, 1, 1}}, str = {{0, 0, 0, 0}};
    for (int i = 0; i < r; i++) {
        shape.s[4 - r + i] = (cl_uint)(i == r - 1 ? y->shape[i] / v : y->shape[i]);
        str.s[4 - r + i] = (cl_uint)(i == r - 1 ? xstr[perm[i]] : xstr[perm[i]] / v);
    }
    cl_mem ym = y->buf->mem, xm = x->buf->mem;
    cl_uint yo = (cl_uint)y->offset, xo = (cl_uint)x->offset;
    int64_t n = y->numel;
    sc_karg args[] = {SC_ARG(ym), SC_ARG(yo), SC_ARG(xm), SC_ARG(xo), SC_ARG(shape), SC_ARG(str)};
    if (n == 0)
        return SC_OK;
    /* a 3-D grid [y3, y2, y0 * y1], a work-group along y3 (float4s for v 4) */
    sc_context *ctx = y->ctx;
    const char *name = v == 4 ? "sc_math_permute4" : "sc_math_permute3d";
    cl_kernel k;
    SC_TRY(sc_kernel_get(ctx, "math", NULL, name, &k));
    size_t local[3], global[3] = {shape.s[3], shape.s[2], (size_t)shape.s[0] * shape.s[1]};
    sc_row_group(ctx, shape.s[3], local);
    return sc_launch(ctx, k, name, 3, global, local, 6, args);
}

/* ---- GEMM ------------------------------------------------------------------------------ */

sc_status sc_k_gemm(bool ta, bool tb, size_t m, size_t n, size_t k, float alpha, sc_k_mat a,
                    sc_k_mat b, sc_k_mat c, size_t batch)
{
    sc_gemm_args ga = {
        .ta = ta, .tb = tb, .m = m, .n = n, .k = k, .alpha = alpha, .beta = 0.0f,
        .a = a.t->buf->mem, .a_off = a.t->offset + a.off, .lda = a.ld, .a_stride = a.stride,
        .b = b.t->buf->mem, .b_off = b.t->offset + b.off, .ldb = b.ld, .b_stride = b.stride,
        .c = c.t->buf->mem, .c_off = c.t->offset + c.off, .ldc = c.ld, .c_stride = c.stride,
        .batch = batch,
    };
    return sc_gemm(c.t->ctx, &ga);
}

/* ---- the public float32 ops (include/spurcl/ops.h) ------------------------------------ */

static sc_status same_numel(const char *op, const sc_tensor *y, const sc_tensor *a)
{
    if (y->numel != a->numel) {
        char b1[96], b2[96];
        return sc_error_set(SC_ERR_INVALID_ARG, "%s: element counts differ (%s vs %s)", op,
                            sc_tensor_shape_str(y, b1, sizeof b1),
                            sc_tensor_shape_str(a, b2, sizeof b2));
    }
    return SC_OK;
}

/* y = a (bop) b elementwise over equal element counts, any shapes. */
static sc_status flat_binary(const char *op, int bop, sc_tensor *y, const sc_tensor *a,
                             const sc_tensor *b)
{
    SC_TRY(sc_check_f32(y, op, "y"));
    SC_TRY(sc_check_f32(a, op, "a"));
    SC_TRY(sc_check_f32(b, op, "b"));
    SC_TRY(same_numel(op, y, a));
    SC_TRY(same_numel(op, y, b));
    cl_uint4 shape = {{1, 1, 1, (cl_uint)y->numel}}, unit = {{0, 0, 0, 1}};
    return launch_binary(bop, true, y, a, unit, b, unit, shape);
}

sc_status sc_op_add(sc_tensor *y, const sc_tensor *a, const sc_tensor *b)
{
    return flat_binary("add", SC_BOP_ADD, y, a, b);
}

sc_status sc_op_mul(sc_tensor *y, const sc_tensor *a, const sc_tensor *b)
{
    return flat_binary("mul", SC_BOP_MUL, y, a, b);
}

sc_status sc_op_scale(sc_tensor *y, const sc_tensor *a, float alpha)
{
    SC_TRY(sc_check_f32(y, "scale", "y"));
    SC_TRY(sc_check_f32(a, "scale", "x"));
    SC_TRY(same_numel("scale", y, a));
    return sc_k_math_unary(SC_UOP_SCALE, y, a, alpha);
}

sc_status sc_op_axpy(sc_tensor *y, float alpha, const sc_tensor *x)
{
    SC_TRY(sc_check_f32(y, "axpy", "y"));
    SC_TRY(sc_check_f32(x, "axpy", "x"));
    SC_TRY(same_numel("axpy", y, x));
    cl_mem ym = y->buf->mem, xm = x->buf->mem;
    cl_uint yo = (cl_uint)y->offset, xo = (cl_uint)x->offset, n = (cl_uint)y->numel;
    sc_karg args[] = {SC_ARG(ym), SC_ARG(yo), SC_ARG(xm), SC_ARG(xo), SC_ARG(n), SC_ARG(alpha)};
    return sc_launch_1d(y->ctx, "math", NULL, "sc_math_axpy", n, 6, args);
}
