/* Host of cl/reduce.cl: the public deterministic reductions of
 * include/spurcl/ops.h, and the layer's reduction helpers (axis split,
 * work-group or work-item per output). */
#include "kernels/kernels.h"
#include "spurcl/ops.h"

#include <inttypes.h>

sc_k_axis sc_k_axis_split(const sc_tensor *t, int ax)
{
    uint64_t outer = 1, inner = 1;
    for (int i = 0; i < ax; i++)
        outer *= (uint64_t)t->shape[i];
    for (int i = ax + 1; i < t->ndim; i++)
        inner *= (uint64_t)t->shape[i];
    return (sc_k_axis){(uint32_t)outer, (uint32_t)t->shape[ax], (uint32_t)inner};
}

bool sc_k_use_group(const sc_context *ctx, size_t outputs, size_t len)
{
    if (ctx->forms.rows != SC_FORM_AUTO)
        return ctx->forms.rows == SC_FORM_ROWS_GROUPS;
    size_t cu = ctx->dev.compute_units ? ctx->dev.compute_units : 1;
    if (ctx->dev.type == SC_DEVICE_CPU)
        return len >= 4096 && outputs < cu;
    return len >= 64 && outputs < cu * ctx->wg_size;
}

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

/* sc_reduce_chunks over `groups` groups: out[oo + g] = reduction of the
 * g-th chunk of x[xo .. xo + n) times scale. */
static sc_status launch_chunks(sc_context *ctx, sc_reduce_op op, cl_mem xm, cl_uint xo,
                               cl_uint n, cl_uint chunk, cl_mem om, cl_uint oo, float scale,
                               size_t groups)
{
    sc_karg args[] = {SC_ARG(xm), SC_ARG(xo), SC_ARG(n),    SC_ARG(chunk),
                      SC_ARG(om), SC_ARG(oo), SC_ARG(scale)};
    return sc_launch_groups(ctx, "reduce", reduce_defines(op), "sc_reduce_chunks", groups, 7,
                            args);
}

sc_status sc_op_reduce(sc_tensor *out, const sc_tensor *x, sc_reduce_op op)
{
    SC_TRY(check_reduce("reduce", out, x, op));
    if (out->numel != 1)
        return sc_error_set(SC_ERR_INVALID_ARG, "reduce: the output must have one element");
    sc_context *ctx = x->ctx;

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
    if (groups == 1)
        return launch_chunks(ctx, op, xm, xo, n, chunk, om, oo, scale_last, 1);
    sc_tensor *partial;
    int64_t pshape[1] = {(int64_t)groups};
    SC_TRY(sc_tensor_create(ctx, SC_F32, 1, pshape, &partial));
    cl_mem pm = sc_tensor_mem(partial);
    cl_uint po = (cl_uint)partial->offset, pn = (cl_uint)groups;
    sc_status st = launch_chunks(ctx, op, xm, xo, n, chunk, pm, po, 1.0f, groups);
    if (st == SC_OK) /* stage 2: one group over the partials */
        st = launch_chunks(ctx, op, pm, po, pn, pn, om, oo, scale_last, 1);
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
    size_t nout = (size_t)(outer * inner);
    if (sc_k_use_group(ctx, nout, (size_t)len))
        return sc_launch_groups(ctx, "reduce", reduce_defines(op), "sc_reduce_axis_group", nout,
                                8, args);
    return sc_launch_1d(ctx, "reduce", reduce_defines(op), "sc_reduce_axis_serial", nout, 8,
                        args);
}
