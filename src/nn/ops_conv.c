/* 2-D convolution (include/spurcl/nn_conv.h) as im2col + GEMM.
 *
 * The batch is folded into the GEMM: with col = im2col(x) [C*KH*KW, N*OH*OW]
 * (src/kernels/conv.c) and gT the channel-major view [O, N*OH*OW] of an [N, O, OH, OW]
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
#include "nn/ops_internal.h"
#include "spurcl/nn.h"

#include <limits.h>
#include <stdio.h>

typedef sc_k_conv_geom conv_geom;

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

/* ---- temporaries and GEMMs on tensors ------------------------------------------ */

/* c [m, n] = op(a) @ op(b), one batch member. */
static sc_status gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const sc_tensor *a,
                      int64_t lda, const sc_tensor *b, int64_t ldb, sc_tensor *c, int64_t ldc)
{
    sc_k_mat ma = {a, 0, (size_t)lda, (size_t)(m * k)};
    sc_k_mat mb = {b, 0, (size_t)ldb, (size_t)(k * n)};
    sc_k_mat mc = {c, 0, (size_t)ldc, (size_t)(m * n)};
    return sc_k_gemm(ta, tb, (size_t)m, (size_t)n, (size_t)k, 1.0f, ma, mb, mc, 1);
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
    sc_status st = sc_k_conv_to_cnp(*out, gy, cg);
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
    SC_NN_TRY(g, sc_k_conv_im2col(col->t, x->t, cg));
    return col;
}

/* gx [N, C, H, W] = col2im(W^T @ gT): the backward (data) of a convolution
 * of geometry cg (checked), from gT, its output's gradient in the GEMM's
 * layout. A value: the callers record. */
static sc_var *data_gemm(sc_graph *g, const sc_var *w, const sc_tensor *gT, const conv_geom *cg)
{
    sc_tensor *dcol = NULL;
    sc_status st = temp2(g->ctx, ckk(cg), np_(cg), &dcol);
    if (st == SC_OK) /* dcol [CKK, NP] = W^T [CKK, O] @ gT [O, NP] */
        st = gemm(true, false, ckk(cg), np_(cg), cg->o, w->t, ckk(cg), gT, np_(cg), dcol,
                  np_(cg));
    sc_var *gx = NULL;
    if (st == SC_OK) {
        int64_t xs[4] = {cg->n, cg->c, cg->h, cg->w};
        gx = sc__out(g, SC_F32, 4, xs);
        if (gx)
            st = sc_k_conv_col2im(gx->t, dcol, cg);
    }
    sc_tensor_free(dcol);
    return st == SC_OK ? gx : sc__fail(g, st);
}

/* gw [O, C, KH, KW] = gT @ col^T: the backward (filter) of a convolution of
 * geometry cg (checked) of x, unfolded in col (or NULL: unfolded here), from
 * gT as above. A value: the callers record. */
static sc_var *filter_gemm(sc_graph *g, const sc_var *x, const sc_var *col, const sc_tensor *gT,
                           const conv_geom *cg)
{
    sc_tensor *tcol = NULL;
    sc_status st = SC_OK;
    if (!col) {
        st = temp2(g->ctx, ckk(cg), np_(cg), &tcol);
        if (st == SC_OK)
            st = sc_k_conv_im2col(tcol, x->t, cg);
    }
    sc_var *gw = NULL;
    if (st == SC_OK) {
        int64_t ws[4] = {cg->o, cg->c, cg->kh, cg->kw};
        gw = sc__out(g, SC_F32, 4, ws);
        if (gw) /* gw [O, CKK] = gT [O, NP] @ col^T [NP, CKK] */
            st = gemm(false, true, cg->o, ckk(cg), np_(cg), gT, np_(cg), col ? col->t : tcol,
                      np_(cg), gw->t, ckk(cg));
    }
    sc_tensor_free(tcol);
    return st == SC_OK ? gw : sc__fail(g, st);
}

/* ---- the three ops ------------------------------------------------------------- */

/* A max pooling to fuse into the convolution's layout move (conv_op). */
typedef struct pool_req {
    int k, s;
} pool_req;

static sc_var *conv_op(sc_graph *g, sc_var *x, sc_var *w, sc_var *b, int64_t s, int64_t p,
                       sc_var *col, const pool_req *pool);
static sc_var *data_op(sc_graph *g, sc_var *gy, sc_var *w, int64_t h, int64_t wd, int64_t s,
                       int64_t p, sc_tensor *gT);
static sc_var *filter_op(sc_graph *g, sc_var *x, sc_var *gy, int64_t kh, int64_t kw, int64_t s,
                         int64_t p, sc_var *col, sc_tensor *gT);

/* The geometry of conv(x, w) with stride s and padding p (checked when
 * the op ran). */
static conv_geom geom_of(const sc_var *x, const sc_var *w, int64_t s, int64_t p)
{
    conv_geom cg = {.n = x->t->shape[0], .c = x->t->shape[1], .h = x->t->shape[2],
                    .w = x->t->shape[3], .o = w->t->shape[0], .kh = w->t->shape[2],
                    .kw = w->t->shape[3], .s = s, .p = p};
    cg.oh = out_extent(cg.h, cg.kh, s, p);
    cg.ow = out_extent(cg.w, cg.kw, s, p);
    return cg;
}

/* The bias's gradient from gy [N, O, ...]: its sum over all but axis 1. */
static sc_var *bias_grad(sc_graph *g, const sc_var *w, sc_var *gy)
{
    int64_t o = w->t->shape[0], s4[4] = {1, o, 1, 1};
    return sc_nn_reshape(g, sc_nn_sum_to(g, gy, 4, s4), 1, &o);
}

/* The gradients of conv(x, w) + b that `need` asks for, given gy (the
 * output's gradient) and, in the GEMM's layout, gT (or NULL: made here
 * when both x and w need it); col: x unfolded, or NULL. */
static void conv_grads(sc_graph *g, sc_var *x, sc_var *w, int64_t s, int64_t p, sc_var *col,
                       const bool *need, sc_var *gy, sc_tensor *gT, sc_var **gin)
{
    sc_tensor *own = NULL;
    if (!gT && need[0] && need[1]) {
        /* both backward ops read gy in the GEMM's layout: transpose it once */
        conv_geom cg = geom_of(x, w, s, p);
        sc_status st = make_gT(g->ctx, gy->t, &cg, &own);
        if (st != SC_OK) {
            sc__fail(g, st);
            return;
        }
        gT = own;
    }
    if (need[0])
        gin[0] = data_op(g, gy, w, x->t->shape[2], x->t->shape[3], s, p, gT);
    if (need[1])
        gin[1] = filter_op(g, x, gy, w->t->shape[2], w->t->shape[3], s, p, col, gT);
    sc_tensor_free(own);
    if (need[2])
        gin[2] = bias_grad(g, w, gy);
}

static void conv_bw(sc_graph *g, sc_node *n, sc_var *gy, sc_var **gin)
{
    conv_grads(g, n->in[0], n->in[1], n->ip[0], n->ip[1], n->saved[0], n->need, gy, NULL, gin);
}

/* gw of conv(x, w) pooled by max pooling (indices idx), from the pooled
 * gradient gp and x unfolded (col): only the terms of gT @ col^T where gT,
 * gp scattered to the convolution's output, is not zero
 * (sc_k_conv_filter_pooled), summed per sample and then over the batch.
 * The GEMM's K is the whole N*OH*OW and its M and N tiny for a first
 * layer (32 x 9): it ran at a tenth of the machine's peak, on a gT that
 * has to be made first. Not recorded (a value, no node). */
static sc_var *filter_pooled(sc_graph *g, const conv_geom *cg, sc_var *gp, sc_var *idx,
                             sc_var *col)
{
    int64_t ps[5] = {cg->n, cg->o, cg->c, cg->kh, cg->kw};
    sc_tensor *part = NULL;
    sc_status st = sc_tensor_create(g->ctx, SC_F32, 5, ps, &part);
    if (st == SC_OK)
        st = sc_k_conv_filter_pooled(part, gp->t, idx->t, col->t, cg);
    sc_var *gw = st == SC_OK ? sc__out(g, SC_F32, 4, ps + 1) : NULL;
    if (gw)
        st = sc_k_math_sum_to(gw->t, part);
    sc_tensor_free(part);
    if (st != SC_OK)
        return sc__fail(g, st);
    return gw;
}

/* maxpool(conv(x, w) + b) (sc_nn_conv2d_maxpool): the pooling's indices in
 * saved[1], its window in ip[2], ip[3]. The GEMMs take gy scattered
 * straight into their layout (sc__nn_maxpool_scatter_cnp), not the
 * [N, O, OH, OW] gradient moved there. A pass that records makes that
 * gradient too, as maxpool2d's recorded backward, and records the
 * convolution's backward ops on it (differentiable to any order); one that
 * does not never makes it: it runs the GEMMs alone, sums the bias's
 * gradient over the pooled gy (the same terms without the zeros, in another
 * order), and a small filter's (a first layer's) from the pooled gy too
 * (filter_pooled). */
static void conv_pool_bw(sc_graph *g, sc_node *n, sc_var *gy, sc_var **gin)
{
    sc_var *x = n->in[0], *w = n->in[1], *col = n->saved[0], *idx = n->saved[1];
    int64_t s = n->ip[0], p = n->ip[1];
    int k = (int)n->ip[2], ps = (int)n->ip[3];
    conv_geom cg = geom_of(x, w, s, p);
    int64_t ys[4] = {cg.n, cg.o, cg.oh, cg.ow};
    /* a small filter's gradient, unrecorded, from the pooled gy alone */
    bool pooled = !g->recording && n->need[1] && col && ckk(&cg) <= SC_K_CONV_POOLED_MAX_CKK;
    bool need[3] = {n->need[0], n->need[1] && !pooled, n->need[2]};
    if (pooled)
        gin[1] = filter_pooled(g, &cg, gy, idx, col);
    /* the GEMMs' gy, scattered from the pooled one either way */
    sc_tensor *gT = NULL;
    if (need[0] || need[1]) {
        sc_status st = temp2(g->ctx, cg.o, np_(&cg), &gT);
        if (st == SC_OK)
            st = sc__nn_maxpool_scatter_cnp(gT, gy, idx, ys, k, ps);
        if (st != SC_OK) {
            sc_tensor_free(gT);
            sc__fail(g, st);
            return;
        }
    }
    if (g->recording) {
        /* `like`: the convolution's output shape for maxpool2d's backward, a
         * variable that is never written */
        sc_var *like = sc__out(g, SC_F32, 4, ys);
        sc_var *full = like ? sc__nn_maxpool_backward(g, gy, idx, like, k, ps) : NULL;
        if (full)
            conv_grads(g, x, w, s, p, col, need, full, gT, gin);
    } else {
        if (need[0])
            gin[0] = data_gemm(g, w, gT, &cg);
        if (need[1])
            gin[1] = filter_gemm(g, x, col, gT, &cg);
        if (need[2])
            gin[2] = bias_grad(g, w, gy);
    }
    sc_tensor_free(gT);
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
        gin[0] = conv_op(g, gg, w, NULL, s, p, col, NULL);
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
        gin[1] = conv_op(g, x, gg, NULL, s, p, n->saved[0], NULL);
}

/* y = conv(x, w) + b. col: x already unfolded (a graph variable), or NULL.
 * pool: a max pooling of y to return instead, read from the GEMM's
 * channel-major result (sc__nn_maxpool_cnp), so y itself is never made;
 * one node for the pair (conv_pool_bw); or NULL. */
static sc_var *conv_op(sc_graph *g, sc_var *x, sc_var *w, sc_var *b, int64_t s, int64_t p,
                       sc_var *col, const pool_req *pool)
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
            st = sc_k_conv_im2col(tcol, x->t, &cg);
    }
    const sc_tensor *ct = col ? col->t : tcol;
    sc_var *y = NULL;
    if (st == SC_OK)
        st = temp2(ctx, cg.o, np_(&cg), &yT);
    if (st == SC_OK)
        st = gemm(false, false, cg.o, np_(&cg), ckk(&cg), w->t, ckk(&cg), ct, np_(&cg), yT,
                  np_(&cg));
    sc_tensor_free(tcol);
    sc_var *idx = NULL;
    if (st == SC_OK) {
        int64_t ys[4] = {cg.n, cg.o, cg.oh, cg.ow};
        if (pool) {
            y = sc__nn_maxpool_cnp(g, ys, yT, b ? b->t : NULL, pool->k, pool->s, &idx);
        } else {
            y = sc__out(g, SC_F32, 4, ys);
            if (y)
                st = sc_k_conv_from_cnp(y->t, yT, b ? b->t : NULL, &cg);
        }
    }
    sc_tensor_free(yT);
    if (st != SC_OK)
        return sc__fail(g, st);
    if (!y)
        return NULL;
    sc_var *in[3] = {x, w, b};
    sc_node *nd = sc__record(g, y, pool ? "conv2d_maxpool" : "conv2d",
                             pool ? conv_pool_bw : conv_bw, 3, in);
    if (nd) {
        nd->ip[0] = s;
        nd->ip[1] = p;
        nd->saved[0] = col;
        if (pool) {
            nd->saved[1] = idx;
            nd->ip[2] = pool->k;
            nd->ip[3] = pool->s;
        }
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

    sc_tensor *own = NULL;
    if (!gT) {
        sc_status st = make_gT(g->ctx, gy->t, &cg, &own);
        if (st != SC_OK)
            return sc__fail(g, st);
        gT = own;
    }
    sc_var *gx = data_gemm(g, w, gT, &cg);
    sc_tensor_free(own);
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

    sc_tensor *own = NULL;
    if (!gT) {
        sc_status st = make_gT(g->ctx, gy->t, &cg, &own);
        if (st != SC_OK)
            return sc__fail(g, st);
        gT = own;
    }
    sc_var *gw = filter_gemm(g, x, col, gT, &cg);
    sc_tensor_free(own);
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
    return conv_op(g, x, w, b, stride, pad, NULL, NULL);
}

/* The pooling reads the GEMM's channel-major result where the layout moves
 * run a work-item per row (CPUs: the pooling's rows then read neighbouring
 * rows of it); elsewhere the two ops as they are. */
sc_var *sc_nn_conv2d_maxpool(sc_graph *g, sc_var *x, sc_var *w, sc_var *b, int stride, int pad,
                             int k, int pool_stride)
{
    if (!g || g->status != SC_OK || !sc_k_conv_layout_rows(g->ctx))
        return sc_nn_maxpool2d(g, sc_nn_conv2d(g, x, w, b, stride, pad), k, pool_stride);
    pool_req pool = {k, pool_stride};
    return conv_op(g, x, w, b, stride, pad, NULL, &pool);
}
