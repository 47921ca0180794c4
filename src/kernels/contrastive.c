/* Host of cl/contrastive.cl: row norms and the fused parts of the NT-Xent
 * and BarlowTwins losses. The losses are in src/nn/ops_contrastive.c. */
#include "kernels/kernels.h"

sc_status sc_k_contrastive_safe_recip(sc_tensor *y, const sc_tensor *x)
{
    cl_mem ym = y->buf->mem, xm = x->buf->mem;
    cl_uint yo = (cl_uint)y->offset, xo = (cl_uint)x->offset, n = (cl_uint)x->numel;
    sc_karg args[] = {SC_ARG(ym), SC_ARG(yo), SC_ARG(xm), SC_ARG(xo), SC_ARG(n)};
    return sc_launch_1d(y->ctx, "contrastive", NULL, "sc_contrastive_safe_recip", n, 5, args);
}

sc_status sc_k_contrastive_clamp_min(sc_tensor *y, sc_tensor *mask, const sc_tensor *x, float lo)
{
    cl_mem ym = y->buf->mem, mm = mask->buf->mem, xm = x->buf->mem;
    cl_uint yo = (cl_uint)y->offset, mo = (cl_uint)mask->offset, xo = (cl_uint)x->offset;
    cl_uint n = (cl_uint)x->numel;
    sc_karg args[] = {SC_ARG(ym), SC_ARG(yo), SC_ARG(mm), SC_ARG(mo),
                      SC_ARG(xm), SC_ARG(xo), SC_ARG(n),  SC_ARG(lo)};
    return sc_launch_1d(y->ctx, "contrastive", NULL, "sc_contrastive_clamp_min", n, 8, args);
}

sc_status sc_k_contrastive_row_norm(sc_tensor *y, const sc_tensor *x)
{
    cl_uint len = (cl_uint)x->shape[x->ndim - 1], rows = len ? (cl_uint)(x->numel / len) : 0;
    if (rows == 0)
        return SC_OK;
    cl_mem ym = y->buf->mem, xm = x->buf->mem;
    cl_uint yo = (cl_uint)y->offset, xo = (cl_uint)x->offset;
    sc_karg args[] = {SC_ARG(ym), SC_ARG(yo), SC_ARG(xm), SC_ARG(xo), SC_ARG(rows), SC_ARG(len)};
    /* a work-group per row when rows are long and too few to fill the device */
    if (sc_k_use_group(y->ctx, rows, len))
        return sc_launch_groups(y->ctx, "contrastive", NULL, "sc_contrastive_row_norm_group",
                                rows, 6, args);
    return sc_launch_1d(y->ctx, "contrastive", NULL, "sc_contrastive_row_norm_serial", rows, 6,
                        args);
}

sc_status sc_k_contrastive_ntxent_rows(sc_tensor *loss, sc_tensor *s, float inv_tau)
{
    cl_mem sm = s->buf->mem, lm = loss->buf->mem;
    cl_uint so = (cl_uint)s->offset, lo = (cl_uint)loss->offset;
    cl_uint rows = (cl_uint)s->shape[0], half = rows / 2;
    sc_karg args[] = {SC_ARG(sm), SC_ARG(so), SC_ARG(rows), SC_ARG(half),
                      SC_ARG(inv_tau), SC_ARG(lm), SC_ARG(lo)};
    /* a work-item or a work-group per anchor, each reducing its row of
     * `rows` similarities (sc_k_use_group; cl/contrastive.cl) */
    if (!sc_k_use_group(s->ctx, rows, rows))
        return sc_launch_1d(s->ctx, "contrastive", NULL, "sc_contrastive_ntxent_rows_serial", rows,
                            7, args);
    return sc_launch_groups(s->ctx, "contrastive", NULL, "sc_contrastive_ntxent_rows", rows, 7,
                            args);
}

sc_status sc_k_contrastive_ntxent_w(sc_tensor *w, const sc_tensor *p, const sc_tensor *gy,
                                    float scale)
{
    cl_mem wm = w->buf->mem, pm = p->buf->mem, gm = gy->buf->mem;
    cl_uint wo = (cl_uint)w->offset, po = (cl_uint)p->offset, go = (cl_uint)gy->offset;
    cl_uint rows = (cl_uint)p->shape[0], half = rows / 2;
    sc_karg args[] = {SC_ARG(wm), SC_ARG(wo), SC_ARG(pm), SC_ARG(po), SC_ARG(rows),
                      SC_ARG(half), SC_ARG(gm), SC_ARG(go), SC_ARG(scale)};
    return sc_launch_1d(w->ctx, "contrastive", NULL, "sc_contrastive_ntxent_w",
                        (size_t)rows * rows, 9, args);
}

sc_status sc_k_contrastive_barlow_rows(sc_tensor *part, const sc_tensor *c, float lambda)
{
    cl_mem cm = c->buf->mem, pm = part->buf->mem;
    cl_uint co = (cl_uint)c->offset, po = (cl_uint)part->offset, d = (cl_uint)c->shape[0];
    sc_karg args[] = {SC_ARG(cm), SC_ARG(co), SC_ARG(d), SC_ARG(lambda), SC_ARG(pm), SC_ARG(po)};
    if (sc_k_use_group(c->ctx, d, d))
        return sc_launch_groups(c->ctx, "contrastive", NULL, "sc_contrastive_barlow_rows", d, 6,
                                args);
    return sc_launch_1d(c->ctx, "contrastive", NULL, "sc_contrastive_barlow_rows_serial", d, 6,
                        args);
}

sc_status sc_k_contrastive_barlow_grad(sc_tensor *gc, const sc_tensor *c, const sc_tensor *gy,
                                       float lambda, float scale)
{
    cl_mem gm = gc->buf->mem, cm = c->buf->mem, ym = gy->buf->mem;
    cl_uint go = (cl_uint)gc->offset, co = (cl_uint)c->offset, yo = (cl_uint)gy->offset;
    cl_uint d = (cl_uint)c->shape[0];
    sc_karg args[] = {SC_ARG(gm), SC_ARG(go), SC_ARG(cm), SC_ARG(co), SC_ARG(d),
                      SC_ARG(lambda), SC_ARG(ym), SC_ARG(yo), SC_ARG(scale)};
    return sc_launch_1d(gc->ctx, "contrastive", NULL, "sc_contrastive_barlow_grad",
                        (size_t)d * d, 9, args);
}
