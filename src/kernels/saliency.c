/* Host of cl/saliency.cl: the maximum over an axis with its first index,
 * the scatter / gather pair of its gradient, and one-hot rows. The ops are
 * in src/nn/ops_saliency.c (max_axis, saliency) and src/nn/ops_softmax.c
 * (the cross-entropy gradient). */
#include "kernels/kernels.h"

sc_status sc_k_saliency_max(sc_tensor *y, sc_tensor *idx, const sc_tensor *x, int ax)
{
    sc_k_axis s = sc_k_axis_split(x, ax);
    size_t nout = (size_t)s.outer * s.inner;
    if (nout == 0)
        return SC_OK;
    cl_mem ym = y->buf->mem, im = idx->buf->mem, xm = x->buf->mem;
    cl_uint yo = (cl_uint)y->offset, io = (cl_uint)idx->offset, xo = (cl_uint)x->offset;
    sc_karg args[] = {SC_ARG(ym), SC_ARG(yo), SC_ARG(im),      SC_ARG(io),     SC_ARG(xm),
                      SC_ARG(xo), SC_ARG(s.outer), SC_ARG(s.len), SC_ARG(s.inner)};
    /* a work-group per output for long axes and few outputs; both orders fixed */
    if (sc_k_use_group(y->ctx, nout, s.len))
        return sc_launch_groups(y->ctx, "saliency", NULL, "sc_saliency_max_group", nout, 9,
                                args);
    return sc_launch_1d(y->ctx, "saliency", NULL, "sc_saliency_max_serial", nout, 9, args);
}

/* The scatter / gather pair: y (n elements) from x at idx. */
static sc_status indexed(const char *name, sc_tensor *y, const sc_tensor *x, const sc_tensor *idx,
                         uint32_t len, uint32_t inner)
{
    cl_mem ym = y->buf->mem, xm = x->buf->mem, im = idx->buf->mem;
    cl_uint yo = (cl_uint)y->offset, xo = (cl_uint)x->offset, io = (cl_uint)idx->offset;
    cl_uint n = (cl_uint)y->numel;
    sc_karg args[] = {SC_ARG(ym), SC_ARG(yo), SC_ARG(xm),  SC_ARG(xo),    SC_ARG(im),
                      SC_ARG(io), SC_ARG(len), SC_ARG(inner), SC_ARG(n)};
    return sc_launch_1d(y->ctx, "saliency", NULL, name, n, 9, args);
}

sc_status sc_k_saliency_scatter(sc_tensor *y, const sc_tensor *g, const sc_tensor *idx,
                                uint32_t len, uint32_t inner)
{
    return indexed("sc_saliency_scatter", y, g, idx, len, inner);
}

sc_status sc_k_saliency_gather(sc_tensor *y, const sc_tensor *x, const sc_tensor *idx,
                               uint32_t len, uint32_t inner)
{
    return indexed("sc_saliency_gather", y, x, idx, len, inner);
}

sc_status sc_k_saliency_one_hot(sc_tensor *y, const sc_tensor *labels)
{
    cl_mem ym = y->buf->mem, lm = labels->buf->mem;
    cl_uint yo = (cl_uint)y->offset, lo = (cl_uint)labels->offset;
    cl_uint rows = (cl_uint)y->shape[0], k = (cl_uint)y->shape[1];
    sc_karg args[] = {SC_ARG(ym), SC_ARG(yo), SC_ARG(lm), SC_ARG(lo), SC_ARG(rows), SC_ARG(k)};
    return sc_launch_1d(y->ctx, "saliency", NULL, "sc_saliency_one_hot", (size_t)rows * k, 6,
                        args);
}
