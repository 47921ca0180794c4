/* Host of cl/shape.cl: concat, slice and pad along one axis, as strided
 * copies over tensors seen as [outer, width]. The ops are in
 * src/nn/ops_attention.c. */
#include "kernels/kernels.h"

/* One of the [outer, width] copies (slice, pad): y from x, where the
 * columns [start, start + w) of the wide side are the narrow side's. */
static sc_status launch_copy(const char *name, sc_tensor *y, const sc_tensor *x, cl_uint outer,
                             cl_uint width, cl_uint start, cl_uint w)
{
    if (y->numel == 0)
        return SC_OK;
    SC_TRY(sc_check_distinct(name, y, 1, &x));
    cl_mem ym = y->buf->mem, xm = x->buf->mem;
    cl_uint yo = (cl_uint)y->offset, xo = (cl_uint)x->offset;
    sc_karg args[] = {SC_ARG(ym),    SC_ARG(yo),    SC_ARG(xm),    SC_ARG(xo),
                      SC_ARG(outer), SC_ARG(width), SC_ARG(start), SC_ARG(w)};
    return sc_launch_1d(y->ctx, "shape", NULL, name, (size_t)y->numel, 8, args);
}

sc_status sc_k_shape_slice(sc_tensor *y, const sc_tensor *x, int ax, int64_t start)
{
    sc_k_axis s = sc_k_axis_split(x, ax);
    return launch_copy("sc_shape_slice", y, x, s.outer, s.len * s.inner,
                       (cl_uint)(start * s.inner), (cl_uint)(y->shape[ax] * s.inner));
}

sc_status sc_k_shape_pad(sc_tensor *y, const sc_tensor *x, int ax, int64_t start)
{
    sc_k_axis s = sc_k_axis_split(x, ax);
    return launch_copy("sc_shape_pad", y, x, s.outer, (cl_uint)(y->shape[ax] * s.inner),
                       (cl_uint)(start * s.inner), s.len * s.inner);
}

sc_status sc_k_shape_concat(sc_tensor *y, const sc_tensor *a, const sc_tensor *b, int ax)
{
    if (y->numel == 0)
        return SC_OK;
    SC_TRY(sc_check_distinct("sc_shape_concat", y, 2, (const sc_tensor *const[]){a, b}));
    sc_k_axis s = sc_k_axis_split(a, ax);
    cl_uint outer = s.outer, wa = s.len * s.inner, wb = (cl_uint)(b->shape[ax] * s.inner);
    cl_mem ym = y->buf->mem, am = a->buf->mem, bm = b->buf->mem;
    cl_uint yo = (cl_uint)y->offset, ao = (cl_uint)a->offset, bo = (cl_uint)b->offset;
    sc_karg args[] = {SC_ARG(ym), SC_ARG(yo),    SC_ARG(am), SC_ARG(ao), SC_ARG(bm),
                      SC_ARG(bo), SC_ARG(outer), SC_ARG(wa), SC_ARG(wb)};
    return sc_launch_1d(y->ctx, "shape", NULL, "sc_shape_concat", (size_t)y->numel, 9, args);
}
