/* 2-D convolution (include/spurcl/nn_conv.h) as im2col + GEMM.
 *
 * The batch is folded into the GEMM: with col = im2col(x) [C*KH*KW, N*OH*OW]
 * (cl/conv.cl) and gT the channel-major view [O, N*OH*OW] of an [N, O, OH, OW]
 * tensor,
 *   conv            yT = W @ col                      (+ bias, back to NCHW)
 *   backward data   gx = col2im(W^T @ gyT)            (col2im is a gather)
 *   backward filter gw = gyT @ col^T                  (one GEMM, K = N*OH*OW)
 * so each op is a handful of launches whatever the batch, and nothing uses
 * atomics: results are bit-identical run to run.
 *
 * The three are differentiable ops of one trilinear form
 * T(x, w, gy) = <gy, conv(x, w)>: backward data = dT/dx, backward filter =
 * dT/dw, so
 *   conv(x, w)              d/dx = data(gy, w)      d/dw = filter(x, gy)
 *   data(gy, w)   -> gx     d/dgy = conv(g, w)      d/dw = filter(g, gy)
 *   filter(x, gy) -> gw     d/dx = data(gy, g)      d/dgy = conv(x, g)
 * a set closed under differentiation: gradients of any order are exact.
 *
 * The unfolded input of a conv whose weight needs a gradient is kept on its
 * node (a graph variable, back to the pool at sc_graph_reset) and reused by
 * the backward filter and by that op's own backward; other intermediates are
 * pooled temporaries freed as soon as they are enqueued (the queue is in
 * order, so a buffer reused by a later launch is never overwritten early). */
#include "core/gemm.h"
#include "core/ops_internal.h"
#include "nn/graph.h"
#include "spurcl/nn.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct conv_geom {
    int64_t n, c, h, w;     /* input */
    int64_t o, kh, kw;      /* weight [o, c, kh, kw] */
    int64_t s, p;           /* stride, padding */
    int64_t oh, ow;         /* output */
} conv_geom;

static int64_t ckk(const conv_geom *cg) { return cg->c * cg->kh * cg->kw; }
static int64_t np_(const conv_geom *cg) { return cg->n * cg->oh * cg->ow; }


static bool rank4(sc_graph *g, const char *op, const sc_var *v, const char *name)
{
    if (!sc__check_f32(g, op, v, name))
        return false;
    if (v->t->ndim != 4) {
        char b[96];
        sc__fail(g, sc_error_set(SC_ERR_INVALID_ARG, "%s: %s must have rank 4, got %s", op, name,
                                 sc__shape(v, b, sizeof b)));
        return false;
    }
    return true;
}

/* Output extent of one axis, or -1 when the kernel does not fit. */
static int64_t out_extent(int64_t in, int64_t k, int64_t s, int64_t p)
{
    return in + 2 * p < k ? -1 : (in + 2 * p - k) / s + 1;
}

/* Completes cg (oh, ow) and validates it; `what` describes the operands for
 * the error message. */
static bool geom_finish(sc_graph *g, const char *op, conv_geom *cg, const char *what)
{
    if (cg->s < 1 || cg->p < 0)
        return sc__fail(g, sc_error_set(SC_ERR_INVALID_ARG,
                                        "%s: stride %lld and padding %lld (%s): need stride >= "
                                        "1 and padding >= 0",
                                        op, (long long)cg->s, (long long)cg->p, what)),
               false;
    if (cg->n < 1 || cg->c < 1 || cg->h < 1 || cg->w < 1 || cg->o < 1 || cg->kh < 1 ||
        cg->kw < 1)
        return sc__fail(g, sc_error_set(SC_ERR_INVALID_ARG, "%s: empty operand (%s)", op, what)),
               false;
    cg->oh = out_extent(cg->h, cg->kh, cg->s, cg->p);
    cg->ow = out_extent(cg->w, cg->kw, cg->s, cg->p);
    if (cg->oh < 1 || cg->ow < 1)
        return sc__fail(g, sc_error_set(SC_ERR_INVALID_ARG,
                                        "%s: kernel %lldx%lld does not fit the %lldx%lld input "
                                        "with padding %lld (%s)",
                                        op, (long long)cg->kh, (long long)cg->kw,
                                        (long long)cg->h, (long long)cg->w, (long long)cg->p,
                                        what)),
               false;
    /* every index the kernels form stays below one of these */
    int64_t sizes[4] = {ckk(cg) * np_(cg), cg->n * cg->o * cg->oh * cg->ow,
                        cg->n * cg->c * cg->h * cg->w, cg->o * ckk(cg)};
    for (int i = 0; i < 4; i++)
        if (sizes[i] > (int64_t)UINT_MAX)
            return sc__fail(g, sc_error_set(SC_ERR_UNSUPPORTED,
                                            "%s: %s needs %lld-element buffers (limit %u); use a "
                                            "smaller batch",
                                            op, what, (long long)sizes[i], UINT_MAX)),
                   false;
    return true;
}

/* ---- kernel launches on tensors --------------------------------------------- */

/* One work-item per output row (the kernels loop along the row). Not
 * sc_grid_1d: on PoCL a grid capped at a few thousand work-items that each
 * stride over the whole tensor runs ~20x slower than a full grid. */
static sc_status launch(sc_context *ctx, const char *name, const char *defines, size_t rows,
                        size_t nargs, const sc_karg *args)
{
    cl_kernel k;
    SC_TRY(sc_kernel_get(ctx, "conv", defines, name, &k));
    size_t local = ctx->wg_size, global = sc_round_up(rows ? rows : 1, local);
    return sc_launch(ctx, k, name, 1, &global, &local, nargs, args);
}

/* The layout moves (cl/conv.cl): on a CPU a work-item per (n, o) row; else
 * a work-item per element over (P, O, N), the work-group spanning the
 * smallest power of two >= P along p (up to the context's size) and filling
 * the rest with channels. SPURCL_CONV_LAYOUT=rows|elements overrides the
 * choice (tests run both forms on any device). */
static bool layout_rows(const sc_context *ctx)
{
    const char *env = getenv("SPURCL_CONV_LAYOUT");
    if (env && strcmp(env, "rows") == 0)
        return true;
    if (env && strcmp(env, "elements") == 0)
        return false;
    return ctx->dev.type == SC_DEVICE_CPU;
}

static sc_status launch_layout(sc_context *ctx, const char *name, const conv_geom *cg,
                               size_t nargs, const sc_karg *args)
{
    char rows_name[64];
    cl_kernel k;
    if (layout_rows(ctx)) {
        snprintf(rows_name, sizeof rows_name, "%s_rows", name);
        SC_TRY(sc_kernel_get(ctx, "conv", NULL, rows_name, &k));
        size_t local = ctx->wg_size, global = sc_round_up((size_t)(cg->n * cg->o), local);
        return sc_launch(ctx, k, rows_name, 1, &global, &local, nargs, args);
    }
    SC_TRY(sc_kernel_get(ctx, "conv", NULL, name, &k));
    size_t p = (size_t)(cg->oh * cg->ow), l0 = 1;
    while (l0 < p && l0 < ctx->wg_size)
        l0 <<= 1;
    size_t local[3] = {l0, ctx->wg_size / l0, 1};
    size_t global[3] = {p, (size_t)cg->o, (size_t)cg->n};
    return sc_launch(ctx, k, name, 3, global, local, nargs, args);
}

typedef struct geom_args {
    cl_uint n, c, h, w, kh, kw, s, p, oh, ow;
} geom_args;

/* The build options that specialise im2col / col2im to cg (cl/conv.cl). */
static const char *geom_defines(const conv_geom *cg, char *buf, size_t n)
{
    snprintf(buf, n,
             "-DSC_GEOM -DSC_C=%lldu -DSC_H=%lldu -DSC_W=%lldu -DSC_KH=%lldu -DSC_KW=%lldu "
             "-DSC_S=%lldu -DSC_P=%lldu -DSC_OH=%lldu -DSC_OW=%lldu",
             (long long)cg->c, (long long)cg->h, (long long)cg->w, (long long)cg->kh,
             (long long)cg->kw, (long long)cg->s, (long long)cg->p, (long long)cg->oh,
             (long long)cg->ow);
    return buf;
}

static geom_args gargs(const conv_geom *cg)
{
    return (geom_args){(cl_uint)cg->n, (cl_uint)cg->c, (cl_uint)cg->h, (cl_uint)cg->w,
                       (cl_uint)cg->kh, (cl_uint)cg->kw, (cl_uint)cg->s, (cl_uint)cg->p,
                       (cl_uint)cg->oh, (cl_uint)cg->ow};
}

/* col [C*KH*KW, N*OH*OW] <- x [N, C, H, W] */
static sc_status im2col(sc_context *ctx, const sc_tensor *x, const conv_geom *cg,
                        sc_tensor *col)
{
    geom_args a = gargs(cg);
    cl_mem cm = col->buf->mem, xm = x->buf->mem;
    cl_uint xo = (cl_uint)x->offset;
    sc_karg args[] = {SC_ARG(cm), SC_ARG(xm), SC_ARG(xo), SC_ARG(a.n), SC_ARG(a.c),
                      SC_ARG(a.h), SC_ARG(a.w), SC_ARG(a.kh), SC_ARG(a.kw), SC_ARG(a.s),
                      SC_ARG(a.p), SC_ARG(a.oh), SC_ARG(a.ow)};
    /* col's offset is 0: it is always a fresh tensor of this file */
    char defs[256];
    return launch(ctx, "sc_conv_im2col", geom_defines(cg, defs, sizeof defs),
                  (size_t)(ckk(cg) * cg->n * cg->oh), 13, args);
}

/* gx [N, C, H, W] <- the adjoint of im2col applied to col */
static sc_status col2im(sc_context *ctx, const sc_tensor *col, const conv_geom *cg,
                        sc_tensor *gx)
{
    geom_args a = gargs(cg);
    cl_mem gm = gx->buf->mem, cm = col->buf->mem;
    cl_uint go = (cl_uint)gx->offset;
    sc_karg args[] = {SC_ARG(gm), SC_ARG(go), SC_ARG(cm), SC_ARG(a.n), SC_ARG(a.c),
                      SC_ARG(a.h), SC_ARG(a.w), SC_ARG(a.kh), SC_ARG(a.kw), SC_ARG(a.s),
                      SC_ARG(a.p), SC_ARG(a.oh), SC_ARG(a.ow)};
    char defs[256];
    return launch(ctx, "sc_conv_col2im", geom_defines(cg, defs, sizeof defs),
                  (size_t)(cg->n * cg->c * cg->h), 13, args);
}

/* gT [O, N*P] <- gy [N, O, OH, OW] */
static sc_status to_cnp(sc_context *ctx, const sc_tensor *gy, const conv_geom *cg,
                        sc_tensor *gT)
{
    cl_mem tm = gT->buf->mem, gm = gy->buf->mem;
    cl_uint go = (cl_uint)gy->offset, n = (cl_uint)cg->n, o = (cl_uint)cg->o,
            p = (cl_uint)(cg->oh * cg->ow);
    sc_karg args[] = {SC_ARG(tm), SC_ARG(gm), SC_ARG(go), SC_ARG(n), SC_ARG(o), SC_ARG(p)};
    return launch_layout(ctx, "sc_conv_to_cnp", cg, 6, args);
}

/* y [N, O, OH, OW] <- yT [O, N*P] (+ b) */
static sc_status from_cnp(sc_context *ctx, const sc_tensor *yT, const sc_tensor *b,
                          const conv_geom *cg, sc_tensor *y)
{
    cl_mem ym = y->buf->mem, tm = yT->buf->mem, bm = b ? b->buf->mem : yT->buf->mem;
    cl_uint yo = (cl_uint)y->offset, bo = b ? (cl_uint)b->offset : 0, hb = b != NULL,
            n = (cl_uint)cg->n, o = (cl_uint)cg->o, p = (cl_uint)(cg->oh * cg->ow);
    sc_karg args[] = {SC_ARG(ym), SC_ARG(yo), SC_ARG(tm), SC_ARG(bm), SC_ARG(bo),
                      SC_ARG(hb), SC_ARG(n),  SC_ARG(o),  SC_ARG(p)};
    return launch_layout(ctx, "sc_conv_from_cnp", cg, 9, args);
}

static sc_status gemm(sc_context *ctx, bool ta, bool tb, int64_t m, int64_t n, int64_t k,
                      const sc_tensor *a, int64_t lda, const sc_tensor *b, int64_t ldb,
                      sc_tensor *c, int64_t ldc)
{
    sc_gemm_args ga = {
        .ta = ta, .tb = tb, .m = (size_t)m, .n = (size_t)n, .k = (size_t)k,
        .alpha = 1.0f, .beta = 0.0f,
        .a = a->buf->mem, .a_off = a->offset, .lda = (size_t)lda, .a_stride = (size_t)(m * k),
        .b = b->buf->mem, .b_off = b->offset, .ldb = (size_t)ldb, .b_stride = (size_t)(k * n),
        .c = c->buf->mem, .c_off = c->offset, .ldc = (size_t)ldc, .c_stride = (size_t)(m * n),
        .batch = 1,
    };
    return sc_gemm(ctx, &ga);
}

static sc_status temp2(sc_context *ctx, int64_t rows, int64_t cols, sc_tensor **out)
{
    int64_t s[2] = {rows, cols};
    return sc_tensor_create(ctx, SC_F32, 2, s, out);
}

/* gT of gy as a pooled temporary (caller frees). */
static sc_status make_gT(sc_context *ctx, const sc_tensor *gy, const conv_geom *cg,
                         sc_tensor **out)
{
    SC_TRY(temp2(ctx, cg->o, np_(cg), out));
    sc_status st = to_cnp(ctx, gy, cg, *out);
    if (st != SC_OK) {
        sc_tensor_free(*out);
        *out = NULL;
    }
    return st;
}

/* The unfolded x as a graph variable (kept until the graph is reset). */
static sc_var *unfold_var(sc_graph *g, sc_var *x, const conv_geom *cg)
{
    int64_t s[2] = {ckk(cg), np_(cg)};
    sc_var *col = sc__out(g, SC_F32, 2, s);
    if (!col)
        return NULL;
    SC_NN_TRY(g, im2col(g->ctx, x->t, cg, col->t));
    return col;
}

/* ---- the three ops ------------------------------------------------------------- */

static sc_var *conv_op(sc_graph *g, sc_var *x, sc_var *w, sc_var *b, int64_t s, int64_t p,
                       sc_var *col);
static sc_var *data_op(sc_graph *g, sc_var *gy, sc_var *w, int64_t h, int64_t wd, int64_t s,
                       int64_t p, sc_tensor *gT);
static sc_var *filter_op(sc_graph *g, sc_var *x, sc_var *gy, int64_t kh, int64_t kw, int64_t s,
                         int64_t p, sc_var *col, sc_tensor *gT);

static void conv_bw(sc_graph *g, sc_node *n, sc_var *gy, sc_var **gin)
{
    sc_var *x = n->in[0], *w = n->in[1];
    int64_t s = n->ip[0], p = n->ip[1];
    sc_tensor *gT = NULL;
    if (n->need[0] && n->need[1]) {
        /* both backward ops read gy in the GEMM's layout: transpose it once */
        conv_geom cg = {.n = x->t->shape[0], .c = x->t->shape[1], .h = x->t->shape[2],
                        .w = x->t->shape[3], .o = w->t->shape[0], .kh = w->t->shape[2],
                        .kw = w->t->shape[3], .s = s, .p = p};
        cg.oh = out_extent(cg.h, cg.kh, s, p);
        cg.ow = out_extent(cg.w, cg.kw, s, p);
        sc_status st = make_gT(g->ctx, gy->t, &cg, &gT);
        if (st != SC_OK) {
            sc__fail(g, st);
            return;
        }
    }
    if (n->need[0])
        gin[0] = data_op(g, gy, w, x->t->shape[2], x->t->shape[3], s, p, gT);
    if (n->need[1])
        gin[1] = filter_op(g, x, gy, w->t->shape[2], w->t->shape[3], s, p, n->saved[0], gT);
    sc_tensor_free(gT);
    if (n->need[2]) {
        int64_t o = w->t->shape[0], s4[4] = {1, o, 1, 1};
        gin[2] = sc_nn_reshape(g, sc_nn_sum_to(g, gy, 4, s4), 1, &o);
    }
}

static void data_bw(sc_graph *g, sc_node *n, sc_var *gg, sc_var **gin)
{
    /* gx = data(gy, w); cotangent gg has x's shape */
    sc_var *gy = n->in[0], *w = n->in[1];
    int64_t s = n->ip[0], p = n->ip[1];
    sc_var *col = NULL;
    if (n->need[0] && n->need[1]) {
        /* conv(gg, w) and filter(gg, gy) both unfold gg: do it once */
        conv_geom cg = {.n = gg->t->shape[0], .c = gg->t->shape[1], .h = gg->t->shape[2],
                        .w = gg->t->shape[3], .o = w->t->shape[0], .kh = w->t->shape[2],
                        .kw = w->t->shape[3], .s = s, .p = p};
        if (!geom_finish(g, "conv2d backward (data), second order", &cg, "cotangent"))
            return;
        col = unfold_var(g, gg, &cg);
        if (!col)
            return;
    }
    if (n->need[0])
        gin[0] = conv_op(g, gg, w, NULL, s, p, col);
    if (n->need[1])
        gin[1] = filter_op(g, gg, gy, w->t->shape[2], w->t->shape[3], s, p, col, NULL);
}

static void filter_bw(sc_graph *g, sc_node *n, sc_var *gg, sc_var **gin)
{
    /* gw = filter(x, gy); cotangent gg has w's shape */
    sc_var *x = n->in[0], *gy = n->in[1];
    int64_t s = n->ip[0], p = n->ip[1];
    if (n->need[0])
        gin[0] = data_op(g, gy, gg, x->t->shape[2], x->t->shape[3], s, p, NULL);
    if (n->need[1])
        gin[1] = conv_op(g, x, gg, NULL, s, p, n->saved[0]);
}

/* y = conv(x, w) + b. col: x already unfolded (a graph variable), or NULL. */
static sc_var *conv_op(sc_graph *g, sc_var *x, sc_var *w, sc_var *b, int64_t s, int64_t p,
                       sc_var *col)
{
    const char *op = "conv2d";
    SC_NN_CHECK(g, 2, x, w);
    if (!rank4(g, op, x, "x") || !rank4(g, op, w, "w") || (b && !sc__check_f32(g, op, b, "b")))
        return NULL;
    char bx[96], bw[96], bb[96], what[320];
    snprintf(what, sizeof what, "x %s, w %s, b %s, stride %lld, padding %lld",
             sc__shape(x, bx, sizeof bx), sc__shape(w, bw, sizeof bw),
             b ? sc__shape(b, bb, sizeof bb) : "none", (long long)s, (long long)p);
    conv_geom cg = {.n = x->t->shape[0], .c = x->t->shape[1], .h = x->t->shape[2],
                    .w = x->t->shape[3], .o = w->t->shape[0], .kh = w->t->shape[2],
                    .kw = w->t->shape[3], .s = s, .p = p};
    if (w->t->shape[1] != cg.c || (b && (b->t->ndim != 1 || b->t->shape[0] != cg.o)))
        return sc__fail(g, sc_error_set(SC_ERR_INVALID_ARG,
                                        "conv2d: shapes do not agree (%s): need x [N,C,H,W], "
                                        "w [O,C,KH,KW], b [O]",
                                        what));
    if (!geom_finish(g, op, &cg, what))
        return NULL;

    sc_context *ctx = g->ctx;
    bool keep = !col && g->recording && w->requires_grad;
    sc_tensor *tcol = NULL, *yT = NULL;
    sc_status st = SC_OK;
    if (keep) {
        col = unfold_var(g, x, &cg);
        if (!col)
            return NULL;
    }
    if (!col) {
        st = temp2(ctx, ckk(&cg), np_(&cg), &tcol);
        if (st == SC_OK)
            st = im2col(ctx, x->t, &cg, tcol);
    }
    const sc_tensor *ct = col ? col->t : tcol;
    sc_var *y = NULL;
    if (st == SC_OK)
        st = temp2(ctx, cg.o, np_(&cg), &yT);
    if (st == SC_OK)
        st = gemm(ctx, false, false, cg.o, np_(&cg), ckk(&cg), w->t, ckk(&cg), ct, np_(&cg), yT,
                  np_(&cg));
    sc_tensor_free(tcol);
    if (st == SC_OK) {
        int64_t ys[4] = {cg.n, cg.o, cg.oh, cg.ow};
        y = sc__out(g, SC_F32, 4, ys);
        if (y)
            st = from_cnp(ctx, yT, b ? b->t : NULL, &cg, y->t);
    }
    sc_tensor_free(yT);
    if (st != SC_OK)
        return sc__fail(g, st);
    if (!y)
        return NULL;
    sc_var *in[3] = {x, w, b};
    sc_node *nd = sc__record(g, y, "conv2d", conv_bw, 3, in);
    if (nd) {
        nd->ip[0] = s;
        nd->ip[1] = p;
        nd->saved[0] = col;
    }
    return y;
}

/* gx [N, C, h, wd] = dT/dx for T = <gy, conv(x, w)>. gT: gy already in the
 * GEMM's layout (a temporary the caller frees), or NULL. */
static sc_var *data_op(sc_graph *g, sc_var *gy, sc_var *w, int64_t h, int64_t wd, int64_t s,
                       int64_t p, sc_tensor *gT)
{
    const char *op = "conv2d backward (data)";
    SC_NN_CHECK(g, 2, gy, w);
    if (!rank4(g, op, gy, "gy") || !rank4(g, op, w, "w"))
        return NULL;
    char by[96], bw[96], what[320];
    snprintf(what, sizeof what, "gy %s, w %s, input %lldx%lld, stride %lld, padding %lld",
             sc__shape(gy, by, sizeof by), sc__shape(w, bw, sizeof bw), (long long)h,
             (long long)wd, (long long)s, (long long)p);
    conv_geom cg = {.n = gy->t->shape[0], .c = w->t->shape[1], .h = h, .w = wd,
                    .o = w->t->shape[0], .kh = w->t->shape[2], .kw = w->t->shape[3],
                    .s = s, .p = p};
    if (!geom_finish(g, op, &cg, what))
        return NULL;
    if (gy->t->shape[1] != cg.o || gy->t->shape[2] != cg.oh || gy->t->shape[3] != cg.ow)
        return sc__fail(g, sc_error_set(SC_ERR_INVALID_ARG,
                                        "%s: shapes do not agree (%s): gy must be [N, %lld, "
                                        "%lld, %lld]",
                                        op, what, (long long)cg.o, (long long)cg.oh,
                                        (long long)cg.ow));

    sc_context *ctx = g->ctx;
    sc_tensor *own = NULL, *dcol = NULL;
    sc_status st = SC_OK;
    if (!gT) {
        st = make_gT(ctx, gy->t, &cg, &own);
        gT = own;
    }
    if (st == SC_OK)
        st = temp2(ctx, ckk(&cg), np_(&cg), &dcol);
    if (st == SC_OK) /* dcol [CKK, NP] = W^T [CKK, O] @ gT [O, NP] */
        st = gemm(ctx, true, false, ckk(&cg), np_(&cg), cg.o, w->t, ckk(&cg), gT, np_(&cg),
                  dcol, np_(&cg));
    sc_tensor_free(own);
    sc_var *gx = NULL;
    if (st == SC_OK) {
        int64_t xs[4] = {cg.n, cg.c, cg.h, cg.w};
        gx = sc__out(g, SC_F32, 4, xs);
        if (gx)
            st = col2im(ctx, dcol, &cg, gx->t);
    }
    sc_tensor_free(dcol);
    if (st != SC_OK)
        return sc__fail(g, st);
    if (!gx)
        return NULL;
    sc_var *in[2] = {gy, w};
    sc_node *nd = sc__record(g, gx, "conv2d_backward_data", data_bw, 2, in);
    if (nd) {
        nd->ip[0] = s;
        nd->ip[1] = p;
    }
    return gx;
}

/* gw [O, C, kh, kw] = dT/dw for T = <gy, conv(x, w)>. col: x unfolded (a
 * graph variable) or NULL; gT: gy in the GEMM's layout or NULL. */
static sc_var *filter_op(sc_graph *g, sc_var *x, sc_var *gy, int64_t kh, int64_t kw, int64_t s,
                         int64_t p, sc_var *col, sc_tensor *gT)
{
    const char *op = "conv2d backward (filter)";
    SC_NN_CHECK(g, 2, x, gy);
    if (!rank4(g, op, x, "x") || !rank4(g, op, gy, "gy"))
        return NULL;
    char bx[96], by[96], what[320];
    snprintf(what, sizeof what, "x %s, gy %s, kernel %lldx%lld, stride %lld, padding %lld",
             sc__shape(x, bx, sizeof bx), sc__shape(gy, by, sizeof by), (long long)kh,
             (long long)kw, (long long)s, (long long)p);
    conv_geom cg = {.n = x->t->shape[0], .c = x->t->shape[1], .h = x->t->shape[2],
                    .w = x->t->shape[3], .o = gy->t->shape[1], .kh = kh, .kw = kw,
                    .s = s, .p = p};
    if (!geom_finish(g, op, &cg, what))
        return NULL;
    if (gy->t->shape[0] != cg.n || gy->t->shape[2] != cg.oh || gy->t->shape[3] != cg.ow)
        return sc__fail(g, sc_error_set(SC_ERR_INVALID_ARG,
                                        "%s: shapes do not agree (%s): gy must be [%lld, O, "
                                        "%lld, %lld]",
                                        op, what, (long long)cg.n, (long long)cg.oh,
                                        (long long)cg.ow));

    sc_context *ctx = g->ctx;
    sc_tensor *own_gT = NULL, *tcol = NULL;
    sc_status st = SC_OK;
    if (!gT) {
        st = make_gT(ctx, gy->t, &cg, &own_gT);
        gT = own_gT;
    }
    if (st == SC_OK && !col) {
        st = temp2(ctx, ckk(&cg), np_(&cg), &tcol);
        if (st == SC_OK)
            st = im2col(ctx, x->t, &cg, tcol);
    }
    sc_var *gw = NULL;
    if (st == SC_OK) {
        int64_t ws[4] = {cg.o, cg.c, cg.kh, cg.kw};
        gw = sc__out(g, SC_F32, 4, ws);
        if (gw) /* gw [O, CKK] = gT [O, NP] @ col^T [NP, CKK] */
            st = gemm(ctx, false, true, cg.o, ckk(&cg), np_(&cg), gT, np_(&cg),
                      col ? col->t : tcol, np_(&cg), gw->t, ckk(&cg));
    }
    sc_tensor_free(own_gT);
    sc_tensor_free(tcol);
    if (st != SC_OK)
        return sc__fail(g, st);
    if (!gw)
        return NULL;
    sc_var *in[2] = {x, gy};
    sc_node *nd = sc__record(g, gw, "conv2d_backward_filter", filter_bw, 2, in);
    if (nd) {
        nd->ip[0] = s;
        nd->ip[1] = p;
        nd->saved[0] = col;
    }
    return gw;
}

sc_var *sc_nn_conv2d(sc_graph *g, sc_var *x, sc_var *w, sc_var *b, int stride, int pad)
{
    return conv_op(g, x, w, b, stride, pad, NULL);
}
