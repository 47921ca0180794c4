/* Host of cl/norm.cl: the fused normalisation statistics of layer and batch
 * norm, the fused backward of xhat and layer norm's affine gradients. The
 * norm ops are in src/nn/ops_norm.c. */
#include "kernels/kernels.h"

/* cl/norm.cl's affine flags */
#define NORM_W 1u
#define NORM_B 2u

/* A norm kernel over channels: one work-group per channel when channels are
 * long and too few to fill the device (cl/common.cl's row-reduction
 * prologue), else one work-item per channel; -DNORM_ROWS when outer == 1
 * (layer norm), which makes the indexing division-free. */
static sc_status launch_channels(sc_context *ctx, const char *name, cl_uint outer, cl_uint C,
                                 size_t m, size_t nargs, const sc_karg *args)
{
    bool group = sc_k_use_group(ctx, C, m);
    const char *defs = outer == 1 ? (group ? "-DSC_ROW_GROUP -DNORM_ROWS" : "-DNORM_ROWS")
                                  : (group ? "-DSC_ROW_GROUP" : NULL);
    if (group)
        return sc_launch_groups(ctx, "norm", defs, name, C, nargs, args);
    return sc_launch_1d(ctx, "norm", defs, name, C, nargs, args);
}

sc_status sc_k_norm_forward(sc_tensor *xh, sc_tensor *rstd, const sc_tensor *x3, float eps,
                            sc_tensor *rm, sc_tensor *rv, float momentum, sc_tensor *y,
                            const sc_tensor *w, const sc_tensor *b)
{
    cl_uint outer = (cl_uint)x3->shape[0], C = (cl_uint)x3->shape[1],
            inner = (cl_uint)x3->shape[2];
    size_t m = (size_t)outer * inner;
    if (C == 0 || m == 0)
        return SC_OK;
    cl_mem xhm = xh->buf->mem, rsm = rstd->buf->mem, xm = x3->buf->mem;
    cl_uint xho = (cl_uint)xh->offset, rso = (cl_uint)rstd->offset, xo = (cl_uint)x3->offset;
    cl_uint update = rm != NULL;
    cl_mem rmm = rm ? rm->buf->mem : rsm, rvm = rv ? rv->buf->mem : rsm;
    cl_uint rmo = rm ? (cl_uint)rm->offset : 0, rvo = rv ? (cl_uint)rv->offset : 0;
    cl_uint aff = y ? (w ? NORM_W : 0) | (b ? NORM_B : 0) : 0;
    cl_mem ym = y ? y->buf->mem : xhm, wm = w ? w->buf->mem : xm, bm = b ? b->buf->mem : xm;
    cl_uint yo = y ? (cl_uint)y->offset : 0, wo = w ? (cl_uint)w->offset : 0,
            bo = b ? (cl_uint)b->offset : 0;
    sc_karg args[] = {SC_ARG(xhm),   SC_ARG(xho), SC_ARG(rsm),    SC_ARG(rso),
                      SC_ARG(xm),    SC_ARG(xo),  SC_ARG(outer),  SC_ARG(C),
                      SC_ARG(inner), SC_ARG(eps), SC_ARG(update), SC_ARG(momentum),
                      SC_ARG(rmm),   SC_ARG(rmo), SC_ARG(rvm),    SC_ARG(rvo),
                      SC_ARG(ym),    SC_ARG(yo),  SC_ARG(wm),     SC_ARG(wo),
                      SC_ARG(bm),    SC_ARG(bo),  SC_ARG(aff)};
    return launch_channels(xh->ctx, "sc_norm_forward", outer, C, m, sizeof args / sizeof args[0],
                           args);
}

sc_status sc_k_norm_backward(sc_tensor *gx, const sc_tensor *gy, const sc_tensor *xh,
                             const sc_tensor *rstd, const sc_tensor *w)
{
    cl_uint outer = (cl_uint)xh->shape[0], C = (cl_uint)xh->shape[1],
            inner = (cl_uint)xh->shape[2];
    size_t m = (size_t)outer * inner;
    if (C == 0 || m == 0)
        return SC_OK;
    cl_mem gxm = gx->buf->mem, gm = gy->buf->mem, xhm = xh->buf->mem, rsm = rstd->buf->mem;
    cl_mem wm = w ? w->buf->mem : xhm;
    cl_uint gxo = (cl_uint)gx->offset, go = (cl_uint)gy->offset, xho = (cl_uint)xh->offset,
            rso = (cl_uint)rstd->offset, wo = w ? (cl_uint)w->offset : 0, has_w = w != NULL;
    sc_karg args[] = {SC_ARG(gxm), SC_ARG(gxo),   SC_ARG(gm),  SC_ARG(go),   SC_ARG(xhm),
                      SC_ARG(xho), SC_ARG(rsm),   SC_ARG(rso), SC_ARG(wm),   SC_ARG(wo),
                      SC_ARG(outer), SC_ARG(C),   SC_ARG(inner), SC_ARG(has_w)};
    return launch_channels(gx->ctx, "sc_norm_backward", outer, C, m, sizeof args / sizeof args[0],
                           args);
}

sc_status sc_k_norm_affine_grad(sc_tensor *gw, sc_tensor *gb, const sc_tensor *gy,
                                const sc_tensor *xh)
{
    sc_tensor *any = gw ? gw : gb;
    if (!any || any->numel == 0)
        return SC_OK;
    sc_context *ctx = any->ctx;
    cl_uint D = (cl_uint)any->numel;
    cl_uint rows = (cl_uint)(xh->numel / D);
    /* Q row classes: enough work-items (Q * D) to fill the device's work-
     * groups, at most one class per row */
    size_t cu = ctx->dev.compute_units ? ctx->dev.compute_units : 1;
    size_t want = cu * ctx->wg_size * 4;
    cl_uint Q = (cl_uint)((want + D - 1) / D);
    if (Q > rows)
        Q = rows ? rows : 1;
    int64_t ps[3] = {2, Q, D};
    sc_tensor *part;
    SC_TRY(sc_tensor_create(ctx, SC_F32, 3, ps, &part));
    cl_mem pm = part->buf->mem, gm = gy->buf->mem, xhm = xh->buf->mem;
    cl_uint po = (cl_uint)part->offset, go = (cl_uint)gy->offset, xho = (cl_uint)xh->offset;
    sc_karg a1[] = {SC_ARG(pm),  SC_ARG(po),   SC_ARG(gm), SC_ARG(go), SC_ARG(xhm),
                    SC_ARG(xho), SC_ARG(rows), SC_ARG(D),  SC_ARG(Q)};
    sc_status st = sc_launch_1d(ctx, "norm", NULL, "sc_norm_affine_part", (size_t)Q * D,
                          sizeof a1 / sizeof a1[0], a1);
    if (st == SC_OK) {
        cl_mem gwm = gw ? gw->buf->mem : any->buf->mem, gbm = gb ? gb->buf->mem : any->buf->mem;
        cl_uint gwo = gw ? (cl_uint)gw->offset : 0, gbo = gb ? (cl_uint)gb->offset : 0;
        cl_uint aff = (gw ? NORM_W : 0) | (gb ? NORM_B : 0);
        sc_karg a2[] = {SC_ARG(gwm), SC_ARG(gwo), SC_ARG(gbm), SC_ARG(gbo),
                        SC_ARG(pm),  SC_ARG(po),  SC_ARG(D),   SC_ARG(Q),  SC_ARG(aff)};
        st = sc_launch_1d(ctx, "norm", NULL, "sc_norm_affine_grad", D, sizeof a2 / sizeof a2[0],
                          a2);
    }
    sc_tensor_free(part); /* in-order queue: the kernels read it before reuse */
    return st;
}
