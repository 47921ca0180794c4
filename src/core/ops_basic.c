/* Host wrappers of cl/elementwise.cl and cl/reduce.cl. */
#include "core/ops_internal.h"
#include "spurcl/ops.h"

#include <inttypes.h>
#include <limits.h>

sc_status sc_check_f32(const sc_tensor *t, const char *op, const char *name)
{
    if (t->dtype != SC_F32)
        return sc_error_set(SC_ERR_INVALID_ARG, "%s: %s must be float32, not %s", op, name,
                            sc_dtype_name(t->dtype));
    if ((uint64_t)t->numel + t->offset > UINT_MAX)
        return sc_error_set(SC_ERR_UNSUPPORTED, "%s: %s has %" PRId64 " elements (limit %u)", op,
                            name, t->numel, UINT_MAX);
    return SC_OK;
}

size_t sc_grid_1d(const sc_context *ctx, size_t n)
{
    /* One work-item per element. The kernels still loop (SC_FOR_EACH) so any
     * grid is correct, but PoCL vectorises across work-items only when each
     * handles one element: capping the grid made relu 26x slower there. */
    return sc_round_up(n ? n : 1, ctx->wg_size);
}

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

static sc_status launch_1d(sc_context *ctx, const char *name, size_t n, size_t nargs,
                           const sc_karg *args)
{
    cl_kernel k;
    SC_TRY(sc_kernel_get(ctx, "elementwise", NULL, name, &k));
    size_t global = sc_grid_1d(ctx, n), local = ctx->wg_size;
    return sc_launch(ctx, k, name, 1, &global, &local, nargs, args);
}

sc_status sc_op_fill_f32(sc_tensor *t, float v)
{
    SC_TRY(sc_check_f32(t, "fill", "the tensor"));
    cl_mem m = sc_tensor_mem(t);
    cl_uint o = (cl_uint)t->offset, n = (cl_uint)t->numel;
    sc_karg args[] = {SC_ARG(m), SC_ARG(o), SC_ARG(n), SC_ARG(v)};
    return launch_1d(t->ctx, "sc_elementwise_fill", n, 4, args);
}

static sc_status binary(const char *op, const char *kname, sc_tensor *y, const sc_tensor *a,
                        const sc_tensor *b)
{
    SC_TRY(sc_check_f32(y, op, "y"));
    SC_TRY(sc_check_f32(a, op, "a"));
    SC_TRY(sc_check_f32(b, op, "b"));
    SC_TRY(same_numel(op, y, a));
    SC_TRY(same_numel(op, y, b));
    cl_mem ym = sc_tensor_mem(y), am = sc_tensor_mem(a), bm = sc_tensor_mem(b);
    cl_uint yo = (cl_uint)y->offset, ao = (cl_uint)a->offset, bo = (cl_uint)b->offset;
    cl_uint n = (cl_uint)y->numel;
    sc_karg args[] = {SC_ARG(ym), SC_ARG(yo), SC_ARG(am), SC_ARG(ao),
                      SC_ARG(bm), SC_ARG(bo), SC_ARG(n)};
    return launch_1d(y->ctx, kname, n, 7, args);
}

sc_status sc_op_add(sc_tensor *y, const sc_tensor *a, const sc_tensor *b)
{
    return binary("add", "sc_elementwise_add", y, a, b);
}

sc_status sc_op_mul(sc_tensor *y, const sc_tensor *a, const sc_tensor *b)
{
    return binary("mul", "sc_elementwise_mul", y, a, b);
}

static sc_status unary_alpha(const char *op, const char *kname, sc_tensor *y,
                             const sc_tensor *x, float alpha)
{
    SC_TRY(sc_check_f32(y, op, "y"));
    SC_TRY(sc_check_f32(x, op, "x"));
    SC_TRY(same_numel(op, y, x));
    cl_mem ym = sc_tensor_mem(y), xm = sc_tensor_mem(x);
    cl_uint yo = (cl_uint)y->offset, xo = (cl_uint)x->offset, n = (cl_uint)y->numel;
    sc_karg args[] = {SC_ARG(ym), SC_ARG(yo), SC_ARG(xm), SC_ARG(xo), SC_ARG(n), SC_ARG(alpha)};
    return launch_1d(y->ctx, kname, n, 6, args);
}

sc_status sc_op_scale(sc_tensor *y, const sc_tensor *a, float alpha)
{
    return unary_alpha("scale", "sc_elementwise_scale", y, a, alpha);
}

sc_status sc_op_axpy(sc_tensor *y, float alpha, const sc_tensor *x)
{
    return unary_alpha("axpy", "sc_elementwise_axpy", y, x, alpha);
}

/* ---- reductions ------------------------------------------------------ */

static const char *reduce_defines(sc_reduce_op op)
{
    return op == SC_REDUCE_MAX ? "-DREDUCE_MAX" : NULL;
}

static sc_status check_reduce(const char *what, const sc_tensor *out, const sc_tensor *x,
                              sc_reduce_op op)
{
    SC_TRY(sc_check_f32(x, what, "x"));
    SC_TRY(sc_check_f32(out, what, "out"));
    if (op != SC_REDUCE_SUM && op != SC_REDUCE_MAX && op != SC_REDUCE_MEAN)
        return sc_error_set(SC_ERR_INVALID_ARG, "%s: unknown reduction %d", what, (int)op);
    if (x->numel == 0 && op != SC_REDUCE_SUM)
        return sc_error_set(SC_ERR_INVALID_ARG, "%s: %s of an empty tensor is undefined", what,
                            op == SC_REDUCE_MAX ? "max" : "mean");
    return SC_OK;
}

sc_status sc_op_reduce(sc_tensor *out, const sc_tensor *x, sc_reduce_op op)
{
    SC_TRY(check_reduce("reduce", out, x, op));
    if (out->numel != 1)
        return sc_error_set(SC_ERR_INVALID_ARG, "reduce: the output must have one element");
    sc_context *ctx = x->ctx;
    cl_kernel k;
    SC_TRY(sc_kernel_get(ctx, "reduce", reduce_defines(op), "sc_reduce_chunks", &k));

    /* Stage 1: G groups, each a contiguous chunk; G depends only on n and the
     * device's work-group size, so the summation order is fixed. */
    cl_uint n = (cl_uint)x->numel;
    size_t wg = ctx->wg_size;
    size_t groups = (n + wg * 8 - 1) / (wg * 8);
    if (groups > wg)
        groups = wg;
    if (groups < 1)
        groups = 1;
    cl_uint chunk = (cl_uint)((n + groups - 1) / groups);
    float scale_last = op == SC_REDUCE_MEAN ? (float)(1.0 / (double)n) : 1.0f;
    cl_mem om = sc_tensor_mem(out), xm = sc_tensor_mem(x);
    cl_uint oo = (cl_uint)out->offset, xo = (cl_uint)x->offset;
    if (groups == 1) {
        size_t global = wg;
        sc_karg args[] = {SC_ARG(xm), SC_ARG(xo), SC_ARG(n), SC_ARG(chunk),
                          SC_ARG(om), SC_ARG(oo), SC_ARG(scale_last)};
        return sc_launch(ctx, k, "sc_reduce_chunks", 1, &global, &wg, 7, args);
    }
    sc_tensor *partial;
    int64_t pshape[1] = {(int64_t)groups};
    SC_TRY(sc_tensor_create(ctx, SC_F32, 1, pshape, &partial));
    cl_mem pm = sc_tensor_mem(partial);
    cl_uint po = (cl_uint)partial->offset, pn = (cl_uint)groups, pchunk = pn;
    float one = 1.0f;
    size_t global = groups * wg;
    sc_karg a1[] = {SC_ARG(xm), SC_ARG(xo), SC_ARG(n), SC_ARG(chunk),
                    SC_ARG(pm), SC_ARG(po), SC_ARG(one)};
    sc_status st = sc_launch(ctx, k, "sc_reduce_chunks", 1, &global, &wg, 7, a1);
    if (st == SC_OK) {
        global = wg;
        sc_karg a2[] = {SC_ARG(pm), SC_ARG(po), SC_ARG(pn), SC_ARG(pchunk),
                        SC_ARG(om), SC_ARG(oo), SC_ARG(scale_last)};
        st = sc_launch(ctx, k, "sc_reduce_chunks", 1, &global, &wg, 7, a2);
    }
    sc_tensor_free(partial);
    return st;
}

sc_status sc_op_reduce_axis(sc_tensor *out, const sc_tensor *x, int axis, sc_reduce_op op)
{
    SC_TRY(check_reduce("reduce_axis", out, x, op));
    int ax = axis < 0 ? axis + x->ndim : axis;
    if (ax < 0 || ax >= x->ndim)
        return sc_error_set(SC_ERR_INVALID_ARG, "reduce_axis: axis %d is outside a rank-%d tensor",
                            axis, x->ndim);
    uint64_t outer = 1, inner = 1, len = (uint64_t)x->shape[ax];
    for (int i = 0; i < ax; i++)
        outer *= (uint64_t)x->shape[i];
    for (int i = ax + 1; i < x->ndim; i++)
        inner *= (uint64_t)x->shape[i];
    if ((uint64_t)out->numel != outer * inner)
        return sc_error_set(SC_ERR_INVALID_ARG,
                            "reduce_axis: output has %" PRId64 " elements, expected %" PRIu64,
                            out->numel, outer * inner);
    if (len == 0 && op != SC_REDUCE_SUM)
        return sc_error_set(SC_ERR_INVALID_ARG, "reduce_axis: axis %d is empty", axis);
    if (outer * inner == 0)
        return SC_OK;
    if (len == 0)
        return sc_tensor_fill(out, 0.0);

    sc_context *ctx = x->ctx;
    float scale = op == SC_REDUCE_MEAN ? (float)(1.0 / (double)len) : 1.0f;
    cl_mem xm = sc_tensor_mem(x), om = sc_tensor_mem(out);
    cl_uint xo = (cl_uint)x->offset, oo = (cl_uint)out->offset;
    cl_uint o32 = (cl_uint)outer, l32 = (cl_uint)len, i32 = (cl_uint)inner;
    sc_karg args[] = {SC_ARG(xm), SC_ARG(xo), SC_ARG(o32), SC_ARG(l32), SC_ARG(i32),
                      SC_ARG(om), SC_ARG(oo), SC_ARG(scale)};
    size_t nout = (size_t)(outer * inner), wg = ctx->wg_size;
    /* A group per output when outputs are too few to fill the device and the
     * axis is long; else one work-item per output. Both orders are fixed. */
    bool group = len >= 64 && nout < (size_t)ctx->dev.compute_units * wg;
    const char *name = group ? "sc_reduce_axis_group" : "sc_reduce_axis_serial";
    cl_kernel k;
    SC_TRY(sc_kernel_get(ctx, "reduce", reduce_defines(op), name, &k));
    size_t global = group ? nout * wg : sc_grid_1d(ctx, nout);
    return sc_launch(ctx, k, name, 1, &global, &wg, 8, args);
}
