/* Contrastive losses and row normalisation (include/spurcl/nn_loss.h).
 *
 * Row norms, F.normalize and cosine similarity are written with recorded
 * ops (the row norm and its helpers are small ops of this file whose
 * backward rules are recorded ops too), so they differentiate to any order.
 *
 * NT-Xent and BarlowTwins fuse their quadratic part (the 2N x 2N similarity
 * softmax, the D x D cross-correlation penalty) into kernels
 * (src/kernels/contrastive.c); their similarity / correlation matrices go
 * through the GEMM interface (sc_k_gemm). Their backward is correct to first order, which is all
 * self-supervised training needs: the gradient they return is a recorded
 * variable whose own backward fails with SC_ERR_UNSUPPORTED, so asking for
 * a second derivative through them is a clean error, never a silently
 * missing term. */
#include "nn/ops_internal.h"
#include "spurcl/nn.h"
#include "spurcl/ops.h"

#include <math.h>
#include <string.h>

static void second_order_unsupported(sc_graph *g, sc_node *n, sc_var *gy, sc_var **gin)
{
    (void)gy;
    (void)gin;
    sc__fail(g, sc_error_set(SC_ERR_UNSUPPORTED,
                             "%s: the gradient of this loss is first order only; it cannot be "
                             "differentiated again",
                             n->name));
}

/* ---- y = 1/x where x > 0, else 0 ------------------------------------------ */

static sc_var *safe_recip(sc_graph *g, sc_var *x);

static void safe_recip_bw(sc_graph *g, sc_node *n, sc_var *gy, sc_var **gin)
{
    sc_var *r = n->out; /* d/dx 1/x = -1/x^2 = -r^2 (and 0 where r = 0) */
    gin[0] = sc_nn_scale(g, sc_nn_mul(g, gy, sc_nn_mul(g, r, r)), -1.0f);
}

static sc_var *safe_recip(sc_graph *g, sc_var *x)
{
        if (!sc__input_f32(g, "safe_recip", x, "x"))
        return NULL;
    sc_var *y = sc__out_like(g, x);
    if (!y)
        return NULL;
    SC_NN_TRY(g, sc_k_contrastive_safe_recip(y->t, x->t));
    sc__record(g, y, "safe_recip", safe_recip_bw, 1, &x);
    return y;
}

/* ---- y = max(x, lo) (PyTorch clamp_min: gradient 1 where x >= lo) -------- */

static void clamp_min_bw(sc_graph *g, sc_node *n, sc_var *gy, sc_var **gin)
{
    /* the mask is a constant: clamp's second derivative is zero a.e. */
    gin[0] = sc_nn_mul(g, gy, n->saved[0]);
}

/* max(x, lo), exact; the mask (x >= lo) is kept as a constant for the
 * backward. */
static sc_var *clamp_min(sc_graph *g, sc_var *x, float lo)
{
        if (!sc__input_f32(g, "clamp_min", x, "x"))
        return NULL;
    sc_var *y = sc__out_like(g, x);
    sc_var *m = sc__out_like(g, x);
    if (!y || !m)
        return NULL;
    SC_NN_TRY(g, sc_k_contrastive_clamp_min(y->t, m->t, x->t, lo));
    sc_node *nd = sc__record(g, y, "clamp_min", clamp_min_bw, 1, &x);
    if (nd)
        nd->saved[0] = m;
    return y;
}

/* ---- row L2 norm over the last axis (kept with extent 1) ------------------ */

static void row_norm_bw(sc_graph *g, sc_node *n, sc_var *gy, sc_var **gin)
{
    /* d||x||/dx = x / ||x|| (0 for a zero row, as PyTorch) */
    gin[0] = sc_nn_mul(g, n->in[0], sc_nn_mul(g, gy, safe_recip(g, n->out)));
}

sc_var *sc__nn_row_norm(sc_graph *g, sc_var *x)
{
        if (!sc__input_f32(g, "row_norm", x, "x"))
        return NULL;
    int r = x->t->ndim;
    if (r < 1 || x->t->shape[r - 1] < 1)
        return sc__fail(g, sc_error_set(SC_ERR_INVALID_ARG,
                                        "row norm: the input needs a non-empty last axis"));
    int64_t s[SC_MAX_DIMS];
    memcpy(s, x->t->shape, sizeof s);
    s[r - 1] = 1;
    sc_var *y = sc__out(g, SC_F32, r, s);
    if (!y)
        return NULL;
    if (y->t->numel == 0)
        return y;
    SC_NN_TRY(g, sc_k_contrastive_row_norm(y->t, x->t));
    sc__record(g, y, "row_norm", row_norm_bw, 1, &x);
    return y;
}

/* ---- public: normalisation and cosine --------------------------------------- */

sc_var *sc_nn_l2_normalize(sc_graph *g, sc_var *x, float eps)
{
    SC_NN_CHECK(g, 1, x);
    if (!(eps >= 0.0f))
        return sc__fail(g, sc_error_set(SC_ERR_INVALID_ARG, "l2_normalize: eps %g < 0",
                                        (double)eps));
    /* x / max(||x||, eps) over the last axis, F.normalize(x, dim=-1) */
    return sc_nn_div(g, x, clamp_min(g, sc__nn_row_norm(g, x), eps));
}

sc_var *sc_nn_cosine_rows(sc_graph *g, sc_var *a, sc_var *b, float eps)
{
    SC_NN_CHECK(g, 2, a, b);
    if (a->t->ndim != 2 || b->t->ndim != 2 || a->t->shape[0] != b->t->shape[0] ||
        a->t->shape[1] != b->t->shape[1]) {
        char x[96], y[96];
        return sc__fail(g, sc_error_set(SC_ERR_INVALID_ARG,
                                        "cosine_rows: a %s and b %s must both be [N,D]",
                                        sc__shape(a, x, sizeof x), sc__shape(b, y, sizeof y)));
    }
    /* PyTorch's cosine_similarity: sum((a / max(||a||, eps)) * (b / max(||b||, eps))) */
    sc_var *c = sc_nn_sum_axis(g, sc_nn_mul(g, sc_nn_l2_normalize(g, a, eps),
                                            sc_nn_l2_normalize(g, b, eps)),
                               1);
    int64_t n = a->t->shape[0];
    return sc_nn_reshape(g, c, 1, &n);
}

/* ---- NT-Xent ----------------------------------------------------------------- */

static bool same_nd(sc_graph *g, const char *op, const sc_var *a, const sc_var *b)
{
    if (a->t->ndim == 2 && b->t->ndim == 2 && a->t->shape[0] == b->t->shape[0] &&
        a->t->shape[1] == b->t->shape[1] && a->t->shape[0] >= 1 && a->t->shape[1] >= 1)
        return sc__check_f32(g, op, a, "z1") && sc__check_f32(g, op, b, "z2");
    char x[96], y[96];
    sc__fail(g, sc_error_set(SC_ERR_INVALID_ARG,
                             "%s: z1 %s and z2 %s must both be [N,D] with N, D >= 1", op,
                             sc__shape(a, x, sizeof x), sc__shape(b, y, sizeof y)));
    return false;
}

/* dL/du1, dL/du2 = rows of W U (W from the saved softmax P). */
static void ntxent_bw(sc_graph *g, sc_node *n, sc_var *gy, sc_var **gin)
{
    sc_var *u1 = n->in[0], *u2 = n->in[1], *p = n->saved[0], *u = n->saved[1];
    int64_t N = u1->t->shape[0], D = u1->t->shape[1], R = 2 * N;
    float tau = n->fp[0];
    sc_var *g1 = sc__out(g, SC_F32, 2, u1->t->shape);
    sc_var *g2 = sc__out(g, SC_F32, 2, u2->t->shape);
    if (!g1 || !g2)
        return;
    sc_tensor *w;
    int64_t ws[2] = {R, R};
    sc_status st = sc_tensor_create(g->ctx, SC_F32, 2, ws, &w);
    if (st != SC_OK) {
        sc__fail(g, st);
        return;
    }
    st = sc_k_contrastive_ntxent_w(w, p->t, gy->t, (float)(1.0 / (2.0 * (double)N * (double)tau)));
    for (int h = 0; h < 2 && st == SC_OK; h++) {
        /* rows h*N .. h*N + N - 1 of W times u */
        sc_k_mat wh = {w, (size_t)(h * N * R), (size_t)R, (size_t)(N * R)};
        sc_k_mat um = {u->t, 0, (size_t)D, (size_t)(R * D)};
        sc_k_mat om = {(h ? g2 : g1)->t, 0, (size_t)D, (size_t)(N * D)};
        st = sc_k_gemm(false, false, (size_t)N, (size_t)D, (size_t)R, 1.0f, wh, um, om, 1);
    }
    sc_tensor_free(w);
    if (st != SC_OK) {
        sc__fail(g, st);
        return;
    }
    sc_var *in[3] = {gy, u1, u2};
    sc__record(g, g1, "nt_xent backward", second_order_unsupported, 3, in);
    sc__record(g, g2, "nt_xent backward", second_order_unsupported, 3, in);
    if (n->need[0])
        gin[0] = g1;
    if (n->need[1])
        gin[1] = g2;
}

/* The mean over the 2N anchors of the NT-Xent of unit rows u1, u2 [N,D]. */
static sc_var *ntxent_core(sc_graph *g, sc_var *u1, sc_var *u2, float tau)
{
    int64_t N = u1->t->shape[0], D = u1->t->shape[1], R = 2 * N;
    int64_t us[2] = {R, D}, ss[2] = {R, R}, one = 1;
    sc_var *u = sc__out(g, SC_F32, 2, us);   /* [u1; u2], kept for the backward */
    sc_var *s = sc__out(g, SC_F32, 2, ss);   /* similarities, then P in place */
    sc_var *y = sc__out(g, SC_F32, 1, &one);
    if (!u || !s || !y)
        return NULL;
    for (int h = 0; h < 2; h++) {
        sc_tensor *view;
        SC_NN_TRY(g, sc_tensor_slice(u->t, h * N, N, &view));
        sc_status st = sc_tensor_copy(view, (h ? u2 : u1)->t);
        sc_tensor_free(view);
        SC_NN_TRY(g, st);
    }
    sc_k_mat um = {u->t, 0, (size_t)D, (size_t)(R * D)};
    sc_k_mat sm = {s->t, 0, (size_t)R, (size_t)(R * R)};
    SC_NN_TRY(g, sc_k_gemm(false, true, (size_t)R, (size_t)R, (size_t)D, 1.0f, um, um, sm, 1));

    sc_tensor *rows_loss;
    SC_NN_TRY(g, sc_tensor_create(g->ctx, SC_F32, 1, &R, &rows_loss));
    sc_status st = sc_k_contrastive_ntxent_rows(rows_loss, s->t, 1.0f / tau);
    if (st == SC_OK)
        st = sc_op_reduce(y->t, rows_loss, SC_REDUCE_MEAN);
    sc_tensor_free(rows_loss);
    SC_NN_TRY(g, st);
    sc_var *in[2] = {u1, u2};
    sc_node *nd = sc__record(g, y, "nt_xent", ntxent_bw, 2, in);
    if (nd) {
        nd->saved[0] = s;
        nd->saved[1] = u;
        nd->fp[0] = tau;
    }
    return y;
}

sc_var *sc_nn_nt_xent(sc_graph *g, sc_var *z1, sc_var *z2, float tau)
{
    SC_NN_CHECK(g, 2, z1, z2);
    if (!same_nd(g, "nt_xent", z1, z2))
        return NULL;
    if (!(tau > 0.0f) || isinf(tau))
        return sc__fail(g, sc_error_set(SC_ERR_INVALID_ARG,
                                        "nt_xent: the temperature must be > 0 (got %g)",
                                        (double)tau));
    /* F.normalize's default eps */
    sc_var *u1 = sc_nn_l2_normalize(g, z1, 1e-12f);
    sc_var *u2 = sc_nn_l2_normalize(g, z2, 1e-12f);
    SC_NN_CHECK(g, 2, u1, u2);
    return ntxent_core(g, u1, u2, tau);
}

/* ---- BarlowTwins ----------------------------------------------------------- */

/* dL/dC / N, a recorded variable whose own backward is unsupported. */
static sc_var *barlow_dc(sc_graph *g, sc_node *n, sc_var *gy)
{
    sc_var *c = n->saved[0];
    sc_var *gc = sc__out(g, SC_F32, 2, c->t->shape);
    if (!gc)
        return NULL;
    SC_NN_TRY(g, sc_k_contrastive_barlow_grad(gc->t, c->t, gy->t, n->fp[0],
                                              (float)(1.0 / (double)n->ip[0])));
    sc_var *in[3] = {gy, n->in[0], n->in[1]};
    sc__record(g, gc, "barlow_twins backward", second_order_unsupported, 3, in);
    return gc;
}

static void barlow_bw(sc_graph *g, sc_node *n, sc_var *gy, sc_var **gin)
{
    sc_var *a = n->in[0], *b = n->in[1];
    sc_var *gc = barlow_dc(g, n, gy); /* C = a^T b / N: da = b G^T / N, db = a G / N */
    if (n->need[0])
        gin[0] = sc_nn_matmul(g, b, gc, false, true);
    if (n->need[1])
        gin[1] = sc_nn_matmul(g, a, gc, false, false);
}

/* sum_d (1 - C_dd)^2 + lambda sum_{d != e} C_de^2 with C = a^T b / N. */
static sc_var *barlow_core(sc_graph *g, sc_var *a, sc_var *b, float lambda)
{
    int64_t N = a->t->shape[0], D = a->t->shape[1], one = 1;
    int64_t cs[2] = {D, D};
    sc_var *c = sc__out(g, SC_F32, 2, cs);
    sc_var *y = sc__out(g, SC_F32, 1, &one);
    if (!c || !y)
        return NULL;
    sc_k_mat am = {a->t, 0, (size_t)D, (size_t)(N * D)};
    sc_k_mat bm = {b->t, 0, (size_t)D, (size_t)(N * D)};
    sc_k_mat cm = {c->t, 0, (size_t)D, (size_t)(D * D)};
    SC_NN_TRY(g, sc_k_gemm(true, false, (size_t)D, (size_t)D, (size_t)N, (float)(1.0 / (double)N),
                           am, bm, cm, 1));
    sc_tensor *part;
    SC_NN_TRY(g, sc_tensor_create(g->ctx, SC_F32, 1, &D, &part));
    sc_status st = sc_k_contrastive_barlow_rows(part, c->t, lambda);
    if (st == SC_OK)
        st = sc_op_reduce(y->t, part, SC_REDUCE_SUM);
    sc_tensor_free(part);
    SC_NN_TRY(g, st);
    sc_var *in[2] = {a, b};
    sc_node *nd = sc__record(g, y, "barlow_twins", barlow_bw, 2, in);
    if (nd) {
        nd->saved[0] = c;
        nd->fp[0] = lambda;
        nd->ip[0] = N;
    }
    return y;
}

/* Per-dimension standardisation over the batch exactly as torch's
 * BatchNorm1d(affine=False) in training mode (what the official BarlowTwins
 * code applies): biased variance (divide by N), eps 1e-5 inside the root. */
static sc_var *standardize(sc_graph *g, sc_var *z)
{
    sc_var *zc = sc_nn_sub(g, z, sc_nn_mean_axis(g, z, 0));
    sc_var *var = sc_nn_mean_axis(g, sc_nn_mul(g, zc, zc), 0);
    return sc_nn_mul(g, zc, sc_nn_rsqrt(g, sc_nn_add_scalar(g, var, 1e-5f)));
}

sc_var *sc_nn_barlow_twins(sc_graph *g, sc_var *z1, sc_var *z2, float lambda_offdiag)
{
    SC_NN_CHECK(g, 2, z1, z2);
    if (!same_nd(g, "barlow_twins", z1, z2))
        return NULL;
    if (!isfinite(lambda_offdiag))
        return sc__fail(g, sc_error_set(SC_ERR_INVALID_ARG,
                                        "barlow_twins: lambda_offdiag must be finite"));
    sc_var *a = standardize(g, z1), *b = standardize(g, z2);
    SC_NN_CHECK(g, 2, a, b);
    return barlow_core(g, a, b, lambda_offdiag);
}
