/* Host of cl/norm.cl: the fused normalisation statistics of layer and batch
 * norm, the fused backward of xhat and layer norm's affine gradients. The
 * norm ops are in src/nn/ops_norm.c. */
#include "kernels/kernels.h"

#include <stdlib.h>
#include <string.h>

/* cl/norm.cl's affine flags */
#define NORM_W 1u
#define NORM_B 2u
#define NORM_CH 4u

/* A norm kernel over channels: one work-group per channel when channels are
 * long and too few to fill the device (cl/common.cl's row-reduction
 * prologue), else one work-item per channel; -DNORM_FLAT when a
 * work-group's lanes outnumber the positions of a channel's run (see
 * cl/norm.cl's NORM_FOR). */
static sc_status launch_channels(sc_context *ctx, const char *name, cl_uint outer, cl_uint C,
                                 cl_uint inner, size_t nargs, const sc_karg *args)
{
    bool group = sc_k_use_group(ctx, C, (size_t)outer * inner);
    if (!group)
        return sc_launch_1d(ctx, "norm", NULL, name, C, nargs, args);
    bool flat = outer > 1 && inner < ctx->wg_size;
    return sc_launch_groups(ctx, "norm", flat ? "-DSC_ROW_GROUP -DNORM_FLAT" : "-DSC_ROW_GROUP",
                            name, C, nargs, args);
}

/* Batch norm ([outer > 1, C, inner >= 8]) on a CPU device runs cl/norm.cl's
 * slice kernels: S contiguous slices of each channel, a work-item each (the
 * rule; the device's tuned choice, core/forms.c, comes before it).
 * SPURCL_NORM=channels (ctx->forms) forces the work-group-per-channel kernels (what a
 * GPU runs) so that the tests cover both on a CPU; =slices forces these. */
static const sc_tune_workload tune_workload;

bool sc_k_norm_slices_form(const sc_context *ctx)
{
    sc_form rule = ctx->dev.type == SC_DEVICE_CPU ? SC_FORM_NORM_SLICES : SC_FORM_NORM_CHANNELS;
    return sc_form_pick(ctx, SC_FAMILY_NORM, rule, &tune_workload) == SC_FORM_NORM_SLICES;
}

static cl_uint norm_slices(const sc_context *ctx, cl_uint outer, cl_uint C, cl_uint inner)
{
    bool want = sc_k_norm_slices_form(ctx);
    if (!want || outer < 2 || inner < 8)
        return 0;
    /* enough work-items for every core to take several, and slices small
     * enough (64 KiB) that the second pass over one reads from cache */
    size_t cu = ctx->dev.compute_units ? ctx->dev.compute_units : 1;
    size_t by_cores = (8 * cu + C - 1) / C;
    size_t by_cache = ((size_t)outer * inner * sizeof(float) + 65535) / 65536;
    size_t S = by_cores > by_cache ? by_cores : by_cache;
    return (cl_uint)(S > outer ? outer : S);
}

/* One work-item per slice, in work-groups of one (PoCL spreads work-groups
 * over the cores); defines: the program's build options, or NULL. */
static sc_status launch_slices(sc_context *ctx, const char *defines, const char *name, size_t n,
                               size_t nargs, const sc_karg *args)
{
    cl_kernel k;
    SC_TRY(sc_kernel_get(ctx, "norm", defines, name, &k));
    size_t global = n, local = 1;
    return sc_launch(ctx, k, name, 1, &global, &local, nargs, args);
}

/* A slice-kernel pair: the first pass reduces each of a channel's S slices
 * into `part` ([2, C, S] partial sums), the second reads them back and
 * writes every element. */
typedef struct slices {
    sc_context *ctx;
    cl_uint outer, C, inner, S;
    sc_tensor *part;
    cl_mem pm;
    cl_uint po;
} slices;

static sc_status slices_begin(slices *sl, const sc_tensor *x3, cl_uint S)
{
    *sl = (slices){.ctx = x3->ctx, .outer = (cl_uint)x3->shape[0], .C = (cl_uint)x3->shape[1],
                   .inner = (cl_uint)x3->shape[2], .S = S};
    int64_t ps[1] = {(int64_t)2 * sl->C * S};
    SC_TRY(sc_tensor_create(sl->ctx, SC_F32, 1, ps, &sl->part));
    sl->pm = sl->part->buf->mem;
    sl->po = (cl_uint)sl->part->offset;
    return SC_OK;
}

/* Runs both passes (the second only if the first was enqueued) and frees
 * the partial sums: the queue is in order, so the kernels read them
 * before the buffer is reused. */
static sc_status slices_run(slices *sl, const char *first, size_t n1, const sc_karg *a1,
                            const char *second, size_t n2, const sc_karg *a2)
{
    size_t items = (size_t)sl->C * sl->S;
    sc_status st = launch_slices(sl->ctx, NULL, first, items, n1, a1);
    if (st == SC_OK)
        st = launch_slices(sl->ctx, NULL, second, items, n2, a2);
    sc_tensor_free(sl->part);
    return st;
}

static sc_status slices_forward(sc_tensor *xh, sc_tensor *rstd, const sc_tensor *x3, float eps,
                                sc_tensor *rm, sc_tensor *rv, float momentum, sc_tensor *y,
                                const sc_tensor *w, const sc_tensor *b, cl_uint S)
{
    slices sl;
    SC_TRY(slices_begin(&sl, x3, S));
    cl_mem xm = x3->buf->mem, xhm = xh->buf->mem, rsm = rstd->buf->mem;
    cl_uint xo = (cl_uint)x3->offset, xho = (cl_uint)xh->offset, rso = (cl_uint)rstd->offset;
    sc_karg a1[] = {SC_ARG(sl.pm),    SC_ARG(sl.po), SC_ARG(xm),       SC_ARG(xo),
                    SC_ARG(sl.outer), SC_ARG(sl.C),  SC_ARG(sl.inner), SC_ARG(sl.S)};
    cl_uint update = rm != NULL;
    cl_mem rmm = rm ? rm->buf->mem : rsm, rvm = rv ? rv->buf->mem : rsm;
    cl_uint rmo = rm ? (cl_uint)rm->offset : 0, rvo = rv ? (cl_uint)rv->offset : 0;
    cl_uint aff = y ? (w ? NORM_W : 0) | (b ? NORM_B : 0) : 0;
    cl_mem ym = y ? y->buf->mem : xhm, wm = w ? w->buf->mem : xm, bm = b ? b->buf->mem : xm;
    cl_uint yo = y ? (cl_uint)y->offset : 0, wo = w ? (cl_uint)w->offset : 0,
            bo = b ? (cl_uint)b->offset : 0;
    sc_karg a2[] = {SC_ARG(xhm),      SC_ARG(xho),    SC_ARG(rsm),      SC_ARG(rso),
                    SC_ARG(sl.pm),    SC_ARG(sl.po),  SC_ARG(xm),       SC_ARG(xo),
                    SC_ARG(sl.outer), SC_ARG(sl.C),   SC_ARG(sl.inner), SC_ARG(sl.S),
                    SC_ARG(eps),      SC_ARG(update), SC_ARG(momentum), SC_ARG(rmm),
                    SC_ARG(rmo),      SC_ARG(rvm),    SC_ARG(rvo),      SC_ARG(ym),
                    SC_ARG(yo),       SC_ARG(wm),     SC_ARG(wo),       SC_ARG(bm),
                    SC_ARG(bo),       SC_ARG(aff)};
    return slices_run(&sl, "sc_bn_stats_part", sizeof a1 / sizeof a1[0], a1,
                      "sc_bn_forward_apply", sizeof a2 / sizeof a2[0], a2);
}

static sc_status slices_backward(sc_tensor *gx, const sc_tensor *gy, const sc_tensor *xh,
                                 const sc_tensor *rstd, const sc_tensor *w, sc_tensor *gw,
                                 sc_tensor *gb, cl_uint S)
{
    slices sl;
    SC_TRY(slices_begin(&sl, xh, S));
    cl_mem gm = gy->buf->mem, xhm = xh->buf->mem, rsm = rstd->buf->mem;
    cl_uint go = (cl_uint)gy->offset, xho = (cl_uint)xh->offset, rso = (cl_uint)rstd->offset;
    sc_karg a1[] = {SC_ARG(sl.pm),  SC_ARG(sl.po),    SC_ARG(gm),   SC_ARG(go),
                    SC_ARG(xhm),    SC_ARG(xho),      SC_ARG(sl.outer), SC_ARG(sl.C),
                    SC_ARG(sl.inner), SC_ARG(sl.S)};
    cl_mem gxm = gx ? gx->buf->mem : xhm, wm = w ? w->buf->mem : xhm;
    cl_mem gwm = gw ? gw->buf->mem : rsm, gbm = gb ? gb->buf->mem : rsm;
    cl_uint gxo = gx ? (cl_uint)gx->offset : 0, wo = w ? (cl_uint)w->offset : 0,
            gwo = gw ? (cl_uint)gw->offset : 0, gbo = gb ? (cl_uint)gb->offset : 0;
    cl_uint has_w = w != NULL, gsum = (gw ? NORM_W : 0) | (gb ? NORM_B : 0),
            want_gx = gx != NULL;
    sc_karg a2[] = {SC_ARG(gxm),      SC_ARG(gxo),   SC_ARG(gm),    SC_ARG(go),
                    SC_ARG(xhm),      SC_ARG(xho),   SC_ARG(rsm),   SC_ARG(rso),
                    SC_ARG(sl.pm),    SC_ARG(sl.po), SC_ARG(wm),    SC_ARG(wo),
                    SC_ARG(sl.outer), SC_ARG(sl.C),  SC_ARG(sl.inner), SC_ARG(sl.S),
                    SC_ARG(has_w),    SC_ARG(gwm),   SC_ARG(gwo),   SC_ARG(gbm),
                    SC_ARG(gbo),      SC_ARG(gsum),  SC_ARG(want_gx)};
    return slices_run(&sl, "sc_bn_backward_part", sizeof a1 / sizeof a1[0], a1,
                      "sc_bn_backward_apply", sizeof a2 / sizeof a2[0], a2);
}

/* Layer norm over rows of a multiple of 4 ([1, rows, D], affine by
 * position or none) where a work-item per row would run: cl/norm.cl's rv
 * kernels, the row by vectors of 16, 8 or 4 (the widest D allows: float16
 * halved the vit's [6400, 64] forward kernel on the 2-core EPYC). */
static bool use_rv(const sc_context *ctx, cl_uint outer, cl_uint C, cl_uint inner, bool per_ch)
{
    return !per_ch && outer == 1 && inner % 4 == 0 && inner > 0 && !sc_k_use_group(ctx, C, inner);
}

static const char *rv_defines(cl_uint D)
{
    return D % 16 == 0 ? "-DSC_NORM_RW=16" : D % 8 == 0 ? "-DSC_NORM_RW=8" : NULL;
}

/* Batch norm over [N, C] (inner 1, N > 1, C a multiple of 4, per-channel
 * affine or none) where a work-item per channel would run: cl/norm.cl's
 * cv kernels, several channels per work-item by vector. */
static bool use_cv(const sc_context *ctx, cl_uint outer, cl_uint C, cl_uint inner, bool per_ch)
{
    return per_ch && inner == 1 && outer > 1 && C % 4 == 0 && !sc_k_use_group(ctx, C, outer);
}

/* The vector width of the kernels that take neighbouring columns of C by
 * vector (SC_NORM_CV: the cv kernels, sc_norm_affine_part4), for `lines`
 * independent lines of C columns: 16 when C allows and leaves every
 * compute unit eight work-items or more, else 4. With 4 the SSL
 * projector's [512, 512] batch norm forward took 252 us a call (128
 * work-items, each striding through the rows 16 bytes at a time). */
static const char *cv_defines(const sc_context *ctx, cl_uint C, size_t lines, cl_uint *per_item)
{
    size_t cu = ctx->dev.compute_units ? ctx->dev.compute_units : 1;
    if (C % 16 == 0 && lines * (C / 16) >= 8 * cu) {
        *per_item = 16;
        return "-DSC_NORM_CV=16";
    }
    *per_item = 4;
    return NULL;
}

sc_status sc_k_norm_forward(sc_tensor *xh, sc_tensor *rstd, const sc_tensor *x3, float eps,
                            sc_tensor *rm, sc_tensor *rv, float momentum, sc_tensor *y,
                            const sc_tensor *w, const sc_tensor *b, bool per_channel)
{
    cl_uint outer = (cl_uint)x3->shape[0], C = (cl_uint)x3->shape[1],
            inner = (cl_uint)x3->shape[2];
    if (C == 0 || (size_t)outer * inner == 0)
        return SC_OK;
    cl_uint S = per_channel || !y ? norm_slices(xh->ctx, outer, C, inner) : 0;
    if (S)
        return slices_forward(xh, rstd, x3, eps, rm, rv, momentum, y, w, b, S);
    cl_mem xhm = xh->buf->mem, rsm = rstd->buf->mem, xm = x3->buf->mem;
    cl_uint xho = (cl_uint)xh->offset, rso = (cl_uint)rstd->offset, xo = (cl_uint)x3->offset;
    cl_uint update = rm != NULL;
    cl_mem rmm = rm ? rm->buf->mem : rsm, rvm = rv ? rv->buf->mem : rsm;
    cl_uint rmo = rm ? (cl_uint)rm->offset : 0, rvo = rv ? (cl_uint)rv->offset : 0;
    cl_uint aff = y ? (w ? NORM_W : 0) | (b ? NORM_B : 0) | (per_channel ? NORM_CH : 0) : 0;
    cl_mem ym = y ? y->buf->mem : xhm, wm = w ? w->buf->mem : xm, bm = b ? b->buf->mem : xm;
    cl_uint yo = y ? (cl_uint)y->offset : 0, wo = w ? (cl_uint)w->offset : 0,
            bo = b ? (cl_uint)b->offset : 0;
    if (!rm && use_rv(xh->ctx, outer, C, inner, per_channel)) {
        sc_karg a4[] = {SC_ARG(xhm), SC_ARG(xho), SC_ARG(rsm), SC_ARG(rso), SC_ARG(xm),
                        SC_ARG(xo),  SC_ARG(C),   SC_ARG(inner), SC_ARG(eps), SC_ARG(ym),
                        SC_ARG(yo),  SC_ARG(wm),  SC_ARG(wo),  SC_ARG(bm),  SC_ARG(bo),
                        SC_ARG(aff)};
        return sc_launch_1d(xh->ctx, "norm", rv_defines(inner), "sc_norm_forward_rv", C,
                            sizeof a4 / sizeof a4[0], a4);
    }
    if (use_cv(xh->ctx, outer, C, inner, per_channel || !y)) {
        sc_karg a4[] = {SC_ARG(xhm), SC_ARG(xho), SC_ARG(rsm), SC_ARG(rso),    SC_ARG(xm),
                        SC_ARG(xo),  SC_ARG(outer), SC_ARG(C), SC_ARG(eps),    SC_ARG(update),
                        SC_ARG(momentum), SC_ARG(rmm), SC_ARG(rmo), SC_ARG(rvm), SC_ARG(rvo),
                        SC_ARG(ym),  SC_ARG(yo),  SC_ARG(wm),  SC_ARG(wo),     SC_ARG(bm),
                        SC_ARG(bo),  SC_ARG(aff)};
        cl_uint cv;
        const char *defs = cv_defines(xh->ctx, C, 1, &cv);
        return sc_launch_1d(xh->ctx, "norm", defs, "sc_norm_forward_cv", C / cv,
                            sizeof a4 / sizeof a4[0], a4);
    }
    sc_karg args[] = {SC_ARG(xhm),   SC_ARG(xho), SC_ARG(rsm),    SC_ARG(rso),
                      SC_ARG(xm),    SC_ARG(xo),  SC_ARG(outer),  SC_ARG(C),
                      SC_ARG(inner), SC_ARG(eps), SC_ARG(update), SC_ARG(momentum),
                      SC_ARG(rmm),   SC_ARG(rmo), SC_ARG(rvm),    SC_ARG(rvo),
                      SC_ARG(ym),    SC_ARG(yo),  SC_ARG(wm),     SC_ARG(wo),
                      SC_ARG(bm),    SC_ARG(bo),  SC_ARG(aff)};
    return launch_channels(xh->ctx, "sc_norm_forward", outer, C, inner,
                           sizeof args / sizeof args[0], args);
}

sc_status sc_k_norm_backward(sc_tensor *gx, const sc_tensor *gy, const sc_tensor *xh,
                             const sc_tensor *rstd, const sc_tensor *w, bool per_channel,
                             sc_tensor *gw, sc_tensor *gb)
{
    cl_uint outer = (cl_uint)xh->shape[0], C = (cl_uint)xh->shape[1],
            inner = (cl_uint)xh->shape[2];
    if (C == 0 || (size_t)outer * inner == 0)
        return SC_OK;
    cl_uint S = per_channel || !w ? norm_slices(xh->ctx, outer, C, inner) : 0;
    if (S)
        return slices_backward(gx, gy, xh, rstd, w, gw, gb, S);
    cl_mem xhm = xh->buf->mem, gm = gy->buf->mem, rsm = rstd->buf->mem;
    cl_mem gxm = gx ? gx->buf->mem : xhm, wm = w ? w->buf->mem : xhm;
    cl_mem gwm = gw ? gw->buf->mem : rsm, gbm = gb ? gb->buf->mem : rsm;
    cl_uint gxo = gx ? (cl_uint)gx->offset : 0, go = (cl_uint)gy->offset,
            xho = (cl_uint)xh->offset, rso = (cl_uint)rstd->offset,
            wo = w ? (cl_uint)w->offset : 0, gwo = gw ? (cl_uint)gw->offset : 0,
            gbo = gb ? (cl_uint)gb->offset : 0;
    cl_uint has_w = w ? (per_channel ? 2u : 1u) : 0u;
    cl_uint gsum = per_channel ? (gw ? NORM_W : 0) | (gb ? NORM_B : 0) : 0;
    cl_uint want_gx = gx != NULL;
    if (want_gx && use_rv(xh->ctx, outer, C, inner, per_channel)) { /* has_w 0 or 1, gsum 0 */
        sc_karg a4[] = {SC_ARG(gxm), SC_ARG(gxo), SC_ARG(gm),  SC_ARG(go),  SC_ARG(xhm),
                        SC_ARG(xho), SC_ARG(rsm), SC_ARG(rso), SC_ARG(wm),  SC_ARG(wo),
                        SC_ARG(C),   SC_ARG(inner), SC_ARG(has_w)};
        return sc_launch_1d(xh->ctx, "norm", rv_defines(inner), "sc_norm_backward_rv", C,
                            sizeof a4 / sizeof a4[0], a4);
    }
    if (use_cv(xh->ctx, outer, C, inner, per_channel || !w)) {
        sc_karg a4[] = {SC_ARG(gxm), SC_ARG(gxo), SC_ARG(gm),    SC_ARG(go),  SC_ARG(xhm),
                        SC_ARG(xho), SC_ARG(rsm), SC_ARG(rso),   SC_ARG(wm),  SC_ARG(wo),
                        SC_ARG(outer), SC_ARG(C), SC_ARG(has_w), SC_ARG(gwm), SC_ARG(gwo),
                        SC_ARG(gbm), SC_ARG(gbo), SC_ARG(gsum),  SC_ARG(want_gx)};
        cl_uint cv;
        const char *defs = cv_defines(xh->ctx, C, 1, &cv);
        return sc_launch_1d(xh->ctx, "norm", defs, "sc_norm_backward_cv", C / cv,
                            sizeof a4 / sizeof a4[0], a4);
    }
    sc_karg args[] = {SC_ARG(gxm),   SC_ARG(gxo), SC_ARG(gm),      SC_ARG(go),  SC_ARG(xhm),
                      SC_ARG(xho),   SC_ARG(rsm), SC_ARG(rso),     SC_ARG(wm),  SC_ARG(wo),
                      SC_ARG(outer), SC_ARG(C),   SC_ARG(inner),   SC_ARG(has_w),
                      SC_ARG(gwm),   SC_ARG(gwo), SC_ARG(gbm),     SC_ARG(gbo), SC_ARG(gsum),
                      SC_ARG(want_gx)};
    return launch_channels(xh->ctx, "sc_norm_backward", outer, C, inner,
                           sizeof args / sizeof args[0], args);
}

sc_status sc_k_norm_rule_backward(sc_tensor *gu, sc_tensor *gxh, sc_tensor *grstd,
                                  const sc_tensor *gr, const sc_tensor *u, const sc_tensor *xh,
                                  const sc_tensor *rstd)
{
    cl_uint outer = (cl_uint)xh->shape[0], C = (cl_uint)xh->shape[1],
            inner = (cl_uint)xh->shape[2];
    const sc_tensor *ins[4] = {gr, u, xh, rstd};
    sc_tensor *outs[3] = {gu, gxh, grstd};
    for (int i = 0; i < 3; i++)
        if (outs[i])
            SC_TRY(sc_check_distinct("sc_norm_rule_backward", outs[i], 4, ins));
    if (C == 0 || (size_t)outer * inner == 0)
        return SC_OK;
    cl_mem grm = gr->buf->mem, um = u->buf->mem, xhm = xh->buf->mem, rsm = rstd->buf->mem;
    cl_mem gum = gu ? gu->buf->mem : xhm, gxm = gxh ? gxh->buf->mem : xhm,
           gsm = grstd ? grstd->buf->mem : rsm;
    cl_uint guo = gu ? (cl_uint)gu->offset : 0, gxo = gxh ? (cl_uint)gxh->offset : 0,
            gso = grstd ? (cl_uint)grstd->offset : 0, gro = (cl_uint)gr->offset,
            uo = (cl_uint)u->offset, xho = (cl_uint)xh->offset, rso = (cl_uint)rstd->offset;
    cl_uint want = (gu ? 1u : 0u) | (gxh ? 2u : 0u) | (grstd ? 4u : 0u);
    if (use_rv(xh->ctx, outer, C, inner, false)) {
        sc_karg a4[] = {SC_ARG(gum), SC_ARG(guo), SC_ARG(gxm), SC_ARG(gxo), SC_ARG(gsm),
                        SC_ARG(gso), SC_ARG(grm), SC_ARG(gro), SC_ARG(um),  SC_ARG(uo),
                        SC_ARG(xhm), SC_ARG(xho), SC_ARG(rsm), SC_ARG(rso), SC_ARG(C),
                        SC_ARG(inner), SC_ARG(want)};
        return sc_launch_1d(xh->ctx, "norm", rv_defines(inner), "sc_norm_rule_backward_rv", C,
                            sizeof a4 / sizeof a4[0], a4);
    }
    sc_karg args[] = {SC_ARG(gum), SC_ARG(guo), SC_ARG(gxm), SC_ARG(gxo),   SC_ARG(gsm),
                      SC_ARG(gso), SC_ARG(grm), SC_ARG(gro), SC_ARG(um),    SC_ARG(uo),
                      SC_ARG(xhm), SC_ARG(xho), SC_ARG(rsm), SC_ARG(rso),   SC_ARG(outer),
                      SC_ARG(C),   SC_ARG(inner), SC_ARG(want)};
    return launch_channels(xh->ctx, "sc_norm_rule_backward", outer, C, inner,
                           sizeof args / sizeof args[0], args);
}

/* Layer norm's gw and gb [D] (either may be NULL, not both) as the sums
 * over q of part [2, Q, D] (the gw half, then the gb half). */
static sc_status affine_sum_parts(sc_tensor *gw, sc_tensor *gb, const sc_tensor *part, cl_uint D,
                                  cl_uint Q)
{
    sc_tensor *any = gw ? gw : gb;
    cl_mem gwm = gw ? gw->buf->mem : any->buf->mem, gbm = gb ? gb->buf->mem : any->buf->mem,
           pm = part->buf->mem;
    cl_uint gwo = gw ? (cl_uint)gw->offset : 0, gbo = gb ? (cl_uint)gb->offset : 0,
            po = (cl_uint)part->offset;
    cl_uint aff = (gw ? NORM_W : 0) | (gb ? NORM_B : 0);
    sc_karg args[] = {SC_ARG(gwm), SC_ARG(gwo), SC_ARG(gbm), SC_ARG(gbo),
                      SC_ARG(pm),  SC_ARG(po),  SC_ARG(D),   SC_ARG(Q),  SC_ARG(aff)};
    return sc_launch_1d(any->ctx, "norm", NULL, "sc_norm_affine_grad", D,
                        sizeof args / sizeof args[0], args);
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
    sc_status st;
    if (D % 4 == 0) {
        cl_uint cv;
        const char *defs = cv_defines(ctx, D, Q, &cv);
        st = sc_launch_1d(ctx, "norm", defs, "sc_norm_affine_part4", (size_t)Q * (D / cv),
                          sizeof a1 / sizeof a1[0], a1);
    } else {
        st = sc_launch_1d(ctx, "norm", NULL, "sc_norm_affine_part", (size_t)Q * D,
                          sizeof a1 / sizeof a1[0], a1);
    }
    if (st == SC_OK)
        st = affine_sum_parts(gw, gb, part, D, Q);
    sc_tensor_free(part); /* in-order queue: the kernels read it before reuse */
    return st;
}

sc_status sc_k_norm_backward_affine(sc_tensor *gx, sc_tensor *gw, sc_tensor *gb,
                                    const sc_tensor *gy, const sc_tensor *xh,
                                    const sc_tensor *rstd, const sc_tensor *w)
{
    sc_context *ctx = xh->ctx;
    cl_uint rows = (cl_uint)xh->shape[1], D = (cl_uint)xh->shape[2];
    /* a CPU's few long work-items; a GPU keeps a work-item per row */
    if (!gx || (!gw && !gb) || xh->shape[0] != 1 || rows == 0 ||
        ctx->dev.type != SC_DEVICE_CPU || !use_rv(ctx, 1, rows, D, false)) {
        if (gx)
            SC_TRY(sc_k_norm_backward(gx, gy, xh, rstd, w, false, NULL, NULL));
        return sc_k_norm_affine_grad(gw, gb, gy, xh);
    }
    /* four blocks of rows per compute unit, each a work-item */
    size_t cu = ctx->dev.compute_units ? ctx->dev.compute_units : 1;
    cl_uint Q = (cl_uint)(4 * cu < rows ? 4 * cu : rows);
    int64_t ps[3] = {2, Q, D};
    sc_tensor *part;
    SC_TRY(sc_tensor_create(ctx, SC_F32, 3, ps, &part));
    cl_mem gxm = gx->buf->mem, gm = gy->buf->mem, xhm = xh->buf->mem, rsm = rstd->buf->mem,
           wm = w ? w->buf->mem : xhm, pm = part->buf->mem;
    cl_uint gxo = (cl_uint)gx->offset, go = (cl_uint)gy->offset, xho = (cl_uint)xh->offset,
            rso = (cl_uint)rstd->offset, wo = w ? (cl_uint)w->offset : 0,
            po = (cl_uint)part->offset, has_w = w != NULL;
    sc_karg a1[] = {SC_ARG(gxm), SC_ARG(gxo), SC_ARG(gm),  SC_ARG(go),   SC_ARG(xhm),
                    SC_ARG(xho), SC_ARG(rsm), SC_ARG(rso), SC_ARG(wm),   SC_ARG(wo),
                    SC_ARG(rows), SC_ARG(D),  SC_ARG(has_w), SC_ARG(pm), SC_ARG(po),
                    SC_ARG(Q)};
    sc_status st = launch_slices(ctx, rv_defines(D), "sc_norm_backward_rv_aff", Q,
                                 sizeof a1 / sizeof a1[0], a1);
    if (st == SC_OK)
        st = affine_sum_parts(gw, gb, part, D, Q);
    sc_tensor_free(part); /* in-order queue: the kernels read it before reuse */
    return st;
}

/* The norm family's tuning workload (sc_form_pick): batch norm's statistics
 * and normalisation, then its backward, at the resnet's first stage at
 * batch 32 ([32, 16, 28, 28]); t: x, xh, rstd, gy, gx. */
static sc_status tune_run(sc_context *ctx, sc_tensor *const *t)
{
    (void)ctx;
    SC_TRY(sc_k_norm_forward(t[1], t[2], t[0], 1e-5f, NULL, NULL, 0.0f, NULL, NULL, NULL, true));
    return sc_k_norm_backward(t[4], t[3], t[1], t[2], NULL, true, NULL, NULL);
}

static const sc_tune_workload tune_workload = {
    5,
    {{3, {32, 16, 784}}, {3, {32, 16, 784}}, {3, {1, 16, 1}}, {3, {32, 16, 784}},
     {3, {32, 16, 784}}},
    tune_run,
};
