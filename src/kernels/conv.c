/* Host of cl/conv.cl: the data movement of im2col convolution (unfold, its
 * adjoint, and the channel-major layout moves around the GEMM). The
 * convolution ops themselves are in src/nn/ops_conv.c. */
#include "kernels/kernels.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int64_t ckk(const sc_k_conv_geom *cg) { return cg->c * cg->kh * cg->kw; }

/* One work-item per output row (the kernels loop along the row): a full
 * grid (sc_launch_1d). On PoCL a grid capped at a few thousand work-items that
 * each stride over the whole tensor runs ~20x slower. */
static sc_status launch_rows(sc_context *ctx, const char *name, const char *defines, size_t rows,
                             size_t nargs, const sc_karg *args)
{
    return sc_launch_1d(ctx, "conv", defines, name, rows, nargs, args);
}

/* The layout moves (cl/conv.cl): a work-item per (n, o) row (the CPU
 * rule), or a work-item per element over (P, O, N), the work-group spanning
 * the smallest power of two >= P along p (up to the context's size) and
 * filling the rest with channels (the rule elsewhere); the device's tuned
 * choice (core/forms.c) before the rule. SPURCL_CONV_LAYOUT=rows|elements
 * (ctx->forms) overrides both (tests run both forms on any device). */
static const sc_tune_workload tune_workload;

bool sc_k_conv_layout_rows(const sc_context *ctx)
{
    sc_form rule = ctx->dev.type == SC_DEVICE_CPU ? SC_FORM_CONV_ROWS : SC_FORM_CONV_ELEMENTS;
    return sc_form_pick(ctx, SC_FAMILY_CONV_LAYOUT, rule, &tune_workload) == SC_FORM_CONV_ROWS;
}

static sc_status launch_layout(sc_context *ctx, const char *name, const sc_k_conv_geom *cg,
                               size_t nargs, const sc_karg *args)
{
    if (sc_k_conv_layout_rows(ctx)) {
        char rows_name[64];
        snprintf(rows_name, sizeof rows_name, "%s_rows", name);
        return launch_rows(ctx, rows_name, NULL, (size_t)(cg->n * cg->o), nargs, args);
    }
    cl_kernel k;
    SC_TRY(sc_kernel_get(ctx, "conv", NULL, name, &k));
    size_t p = (size_t)(cg->oh * cg->ow), local[3];
    sc_row_group(ctx, p, local);
    size_t global[3] = {p, (size_t)cg->o, (size_t)cg->n};
    return sc_launch(ctx, k, name, 3, global, local, nargs, args);
}

typedef struct geom_args {
    cl_uint n, c, h, w, kh, kw, s, p, oh, ow;
} geom_args;

/* The build options that specialise im2col / col2im to cg (cl/conv.cl). */
static const char *geom_defines(const sc_k_conv_geom *cg, char *buf, size_t n)
{
    snprintf(buf, n,
             "-DSC_GEOM -DSC_C=%lldu -DSC_H=%lldu -DSC_W=%lldu -DSC_KH=%lldu -DSC_KW=%lldu "
             "-DSC_S=%lldu -DSC_P=%lldu -DSC_OH=%lldu -DSC_OW=%lldu",
             (long long)cg->c, (long long)cg->h, (long long)cg->w, (long long)cg->kh,
             (long long)cg->kw, (long long)cg->s, (long long)cg->p, (long long)cg->oh,
             (long long)cg->ow);
    return buf;
}

static geom_args gargs(const sc_k_conv_geom *cg)
{
    return (geom_args){(cl_uint)cg->n, (cl_uint)cg->c, (cl_uint)cg->h, (cl_uint)cg->w,
                       (cl_uint)cg->kh, (cl_uint)cg->kw, (cl_uint)cg->s, (cl_uint)cg->p,
                       (cl_uint)cg->oh, (cl_uint)cg->ow};
}

/* im2col / col2im: the geometry-specialised programs, between col (no
 * offset: a fresh tensor) and the image tensor img (with its offset);
 * im2col takes (col, x, xo, geometry...), col2im (gx, go, col, geometry...). */
static sc_status unfold_kernel(const char *name, bool to_col, sc_tensor *out, const sc_tensor *in,
                               const sc_k_conv_geom *cg, size_t rows)
{
    const sc_tensor *col = to_col ? out : in, *img = to_col ? in : out;
    SC_TRY(sc_k_whole(col, "conv2d", "unfolded"));
    SC_TRY(sc_check_distinct(name, out, 1, &in));
    geom_args a = gargs(cg);
    cl_mem cm = col->buf->mem, im = img->buf->mem;
    cl_uint io = (cl_uint)img->offset;
    sc_karg args[] = {SC_ARG(cm), SC_ARG(im), SC_ARG(io), SC_ARG(a.n), SC_ARG(a.c),
                      SC_ARG(a.h), SC_ARG(a.w), SC_ARG(a.kh), SC_ARG(a.kw), SC_ARG(a.s),
                      SC_ARG(a.p), SC_ARG(a.oh), SC_ARG(a.ow)};
    if (!to_col) { /* gx, go, col */
        args[0] = SC_ARG(im);
        args[1] = SC_ARG(io);
        args[2] = SC_ARG(cm);
    }
    char defs[256];
    return launch_rows(out->ctx, name, geom_defines(cg, defs, sizeof defs), rows, 13, args);
}

sc_status sc_k_conv_im2col(sc_tensor *col, const sc_tensor *x, const sc_k_conv_geom *cg)
{
    return unfold_kernel("sc_conv_im2col", true, col, x, cg, (size_t)(ckk(cg) * cg->n * cg->oh));
}

sc_status sc_k_conv_col2im(sc_tensor *gx, const sc_tensor *col, const sc_k_conv_geom *cg)
{
    return unfold_kernel("sc_conv_col2im", false, gx, col, cg, (size_t)(cg->n * cg->c * cg->h));
}

sc_status sc_k_conv_to_cnp(sc_tensor *gT, const sc_tensor *gy, const sc_k_conv_geom *cg)
{
    SC_TRY(sc_k_whole(gT, "conv2d", "channel-major"));
    SC_TRY(sc_check_distinct("sc_conv_to_cnp", gT, 1, &gy));
    cl_mem tm = gT->buf->mem, gm = gy->buf->mem;
    cl_uint go = (cl_uint)gy->offset, n = (cl_uint)cg->n, o = (cl_uint)cg->o,
            p = (cl_uint)(cg->oh * cg->ow);
    sc_karg args[] = {SC_ARG(tm), SC_ARG(gm), SC_ARG(go), SC_ARG(n), SC_ARG(o), SC_ARG(p)};
    return launch_layout(gT->ctx, "sc_conv_to_cnp", cg, 6, args);
}

sc_status sc_k_conv_from_cnp(sc_tensor *y, const sc_tensor *yT, const sc_tensor *b,
                             const sc_k_conv_geom *cg)
{
    SC_TRY(sc_k_whole(yT, "conv2d", "channel-major"));
    SC_TRY(sc_check_distinct("sc_conv_from_cnp", y, 2, (const sc_tensor *const[]){yT, b}));
    cl_mem ym = y->buf->mem, tm = yT->buf->mem, bm = b ? b->buf->mem : yT->buf->mem;
    cl_uint yo = (cl_uint)y->offset, bo = b ? (cl_uint)b->offset : 0, hb = b != NULL,
            n = (cl_uint)cg->n, o = (cl_uint)cg->o, p = (cl_uint)(cg->oh * cg->ow);
    sc_karg args[] = {SC_ARG(ym), SC_ARG(yo), SC_ARG(tm), SC_ARG(bm), SC_ARG(bo),
                      SC_ARG(hb), SC_ARG(n),  SC_ARG(o),  SC_ARG(p)};
    return launch_layout(y->ctx, "sc_conv_from_cnp", cg, 9, args);
}

sc_status sc_k_conv_filter_pooled(sc_tensor *part, const sc_tensor *gp, const sc_tensor *idx,
                                  const sc_tensor *col, const sc_k_conv_geom *cg)
{
    const char *name = "sc_conv_filter_pooled";
    int64_t r = ckk(cg);
    if (r > SC_K_CONV_POOLED_MAX_CKK || idx->dtype != SC_I32 ||
        sc_tensor_numel(part) != cg->n * cg->o * r || sc_tensor_numel(idx) != sc_tensor_numel(gp) ||
        sc_tensor_numel(gp) % (cg->n * cg->o))
        return sc_error_set(SC_ERR_INVALID_ARG,
                            "%s: %lld filter taps (at most %d), or the partial sums, pooled "
                            "gradient and indices do not fit [N=%lld, O=%lld]",
                            name, (long long)r, SC_K_CONV_POOLED_MAX_CKK, (long long)cg->n,
                            (long long)cg->o);
    SC_TRY(sc_k_whole(col, "conv2d", "unfolded"));
    SC_TRY(sc_k_whole(part, "conv2d", "partial sums"));
    SC_TRY(sc_check_distinct(name, part, 3, (const sc_tensor *const[]){gp, idx, col}));
    cl_mem pm = part->buf->mem, gm = gp->buf->mem, im = idx->buf->mem, cm = col->buf->mem;
    cl_uint go = (cl_uint)gp->offset, io = (cl_uint)idx->offset, n = (cl_uint)cg->n,
            o = (cl_uint)cg->o, q = (cl_uint)(sc_tensor_numel(gp) / (cg->n * cg->o)),
            p = (cl_uint)(cg->oh * cg->ow);
    sc_karg args[] = {SC_ARG(pm), SC_ARG(gm), SC_ARG(go), SC_ARG(im), SC_ARG(io),
                      SC_ARG(cm), SC_ARG(n),  SC_ARG(o),  SC_ARG(q),  SC_ARG(p)};
    char defs[32];
    snprintf(defs, sizeof defs, "-DSC_CKK=%lldu", (long long)r);
    return launch_rows(part->ctx, name, defs, (size_t)(cg->n * cg->o), 10, args);
}

/* The conv_layout family's tuning workload (sc_form_pick): both layout
 * moves of the cnn's second convolution at batch 32 ([32, 64, 14, 14]). */
static const sc_k_conv_geom tune_geom = {.n = 32, .c = 32, .h = 14, .w = 14, .o = 64,
                                         .kh = 3, .kw = 3, .s = 1, .p = 1, .oh = 14, .ow = 14};

static sc_status tune_run(sc_context *ctx, sc_tensor *const *t)
{
    (void)ctx;
    SC_TRY(sc_k_conv_to_cnp(t[1], t[0], &tune_geom));
    return sc_k_conv_from_cnp(t[0], t[1], NULL, &tune_geom);
}

static const sc_tune_workload tune_workload = {
    2, {{4, {32, 64, 14, 14}}, {2, {64, 32 * 14 * 14}}}, tune_run,
};
