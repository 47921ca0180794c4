/* Softmax, log-softmax (include/spurcl/nn_layers.h), cross-entropy and MSE
 * (include/spurcl/nn_loss.h).
 *
 * Forward passes are fused row kernels (src/kernels/softmax.c: max-
 * subtracted, one work-item or one work-group per row, fixed reduction
 * order).
 *
 * Backward rules, all written with recorded ops so they differentiate again:
 *   softmax      gx = softmax_backward(y, gy) = y * (gy - sum(gy * y)), a
 *                fused op of this file whose own backward is
 *                  w.r.t. gy: softmax_backward(y, gg)
 *                  w.r.t. y:  softmax_backward_y(y, gy, gg)
 *                             = gg * (gy - sum(gy*y)) - gy * sum(gg*y)
 *                (fused too); softmax_backward_y's backward is composed
 *                from sc_nn_* ops, so softmax is differentiable to any
 *                order (third order is tested).
 *   log_softmax  gx = gy - exp(y) * sum(gy), composed.
 *   cross-entropy per sample l_i = logsumexp(x_i) - x_i[y_i], fused; its
 *                backward gy_i * (softmax(x_i) - onehot(y_i)) uses the
 *                softmax op, so it is twice (any times) differentiable.
 * When the backward runs without recording (no create_graph), nothing will
 * differentiate these rules again, and the composed ones (log-softmax,
 * cross-entropy) are one row kernel each instead (sc_k_softmax_log_backward,
 * sc_k_softmax_cross_entropy_backward); the composed rules stay for
 * recording passes. Both give the same values (tested against each other).
 *                The labels stay on the device: an out-of-range label
 *                gives NaN in its row of the loss and of the gradient (the
 *                kernels' rule), never a read outside the row. */
#include "nn/ops_internal.h"
#include "spurcl/nn.h"

#include <string.h>


static bool same_shape(const sc_var *a, const sc_var *b)
{
    if (a->t->ndim != b->t->ndim)
        return false;
    for (int i = 0; i < a->t->ndim; i++)
        if (a->t->shape[i] != b->t->shape[i])
            return false;
    return true;
}

/* True when x has a last axis to work along; else records an error. */
static bool has_rows(sc_graph *g, const char *op, const sc_var *x)
{
    if (x->t->ndim < 1) {
        sc__fail(g, sc_error_set(SC_ERR_INVALID_ARG, "%s: needs a tensor of rank >= 1", op));
        return false;
    }
    return true;
}

/* ---- the softmax backward and its derivatives -------------------------------- */

static sc_var *softmax_backward_y(sc_graph *g, sc_var *y, sc_var *gy, sc_var *gg);

static void softmax_backward_y_bw(sc_graph *g, sc_node *n, sc_var *c, sc_var **gin)
{
    /* z = gg*(gy - s) - gy*t with s = sum(gy*y), t = sum(gg*y); cotangent c:
     *   dy  = -gy*sum(c*gg) - gg*sum(c*gy)
     *   dgy = c*(gg - t) - y*sum(c*gg)
     *   dgg = c*(gy - s) - y*sum(c*gy) */
    sc_var *y = n->in[0], *gy = n->in[1], *gg = n->in[2];
    sc_var *cgg = sc_nn_sum_axis(g, sc_nn_mul(g, c, gg), -1);
    sc_var *cgy = sc_nn_sum_axis(g, sc_nn_mul(g, c, gy), -1);
    if (n->need[0])
        gin[0] = sc_nn_scale(g, sc_nn_add(g, sc_nn_mul(g, gy, cgg), sc_nn_mul(g, gg, cgy)), -1.0f);
    if (n->need[1]) {
        sc_var *t = sc_nn_sum_axis(g, sc_nn_mul(g, gg, y), -1);
        gin[1] = sc_nn_sub(g, sc_nn_mul(g, c, sc_nn_sub(g, gg, t)), sc_nn_mul(g, y, cgg));
    }
    if (n->need[2]) {
        sc_var *s = sc_nn_sum_axis(g, sc_nn_mul(g, gy, y), -1);
        gin[2] = sc_nn_sub(g, sc_nn_mul(g, c, sc_nn_sub(g, gy, s)), sc_nn_mul(g, y, cgy));
    }
}

static sc_var *softmax_backward_y(sc_graph *g, sc_var *y, sc_var *gy, sc_var *gg)
{
    SC_NN_CHECK(g, 3, y, gy, gg);
    if (!has_rows(g, "softmax backward", y))
        return NULL;
    sc_var *z = sc__out_like(g, y);
    if (!z)
        return NULL;
    SC_NN_TRY(g, sc_k_softmax_backward_y(z->t, y->t, gy->t, gg->t));
    sc_var *in[3] = {y, gy, gg};
    sc__record(g, z, "softmax_backward_y", softmax_backward_y_bw, 3, in);
    return z;
}

static void softmax_backward_bw(sc_graph *g, sc_node *n, sc_var *gg, sc_var **gin)
{
    if (n->need[0])
        gin[0] = softmax_backward_y(g, n->in[0], n->in[1], gg);
    if (n->need[1])
        gin[1] = sc__nn_softmax_backward(g, n->in[0], gg);
}

/* y * (gy - sum(gy * y)) over the last axis; y and gy of the same shape. */
sc_var *sc__nn_softmax_backward(sc_graph *g, sc_var *y, sc_var *gy)
{
    SC_NN_CHECK(g, 2, y, gy);
    if (!same_shape(y, gy)) {
        char b1[96], b2[96];
        return sc__fail(g, sc_error_set(SC_ERR_INVALID_ARG,
                                        "softmax backward: gradient %s for an output %s",
                                        sc__shape(gy, b1, sizeof b1), sc__shape(y, b2, sizeof b2)));
    }
    if (!has_rows(g, "softmax backward", y))
        return NULL;
    sc_var *z = sc__out_like(g, y);
    if (!z)
        return NULL;
    SC_NN_TRY(g, sc_k_softmax_backward(z->t, y->t, gy->t));
    sc_var *in[2] = {y, gy};
    sc__record(g, z, "softmax_backward", softmax_backward_bw, 2, in);
    return z;
}

/* ---- softmax / log-softmax ------------------------------------------------------ */

static void softmax_bw(sc_graph *g, sc_node *n, sc_var *gy, sc_var **gin)
{
    gin[0] = sc__nn_softmax_backward(g, n->out, gy);
}

/* A row-kernel backward's output like `like`, or NULL (error recorded) when
 * gy does not have like's element count. */
static sc_var *fused_grad_out(sc_graph *g, const char *op, sc_var *gy, int64_t want, sc_var *like)
{
    if (gy->t->numel != want) {
        char b1[96], b2[96];
        return sc__fail(g, sc_error_set(SC_ERR_STATE, "%s backward: gradient %s for %s", op,
                                        sc__shape(gy, b1, sizeof b1),
                                        sc__shape(like, b2, sizeof b2)));
    }
    return sc__out_like(g, like);
}

static void log_softmax_bw(sc_graph *g, sc_node *n, sc_var *gy, sc_var **gin)
{
    /* y = x - logsumexp(x): gx = gy - softmax(x) * sum(gy), softmax = exp(y) */
    if (g->recording) {
        gin[0] = sc_nn_sub(g, gy, sc_nn_mul(g, sc_nn_exp(g, n->out), sc_nn_sum_axis(g, gy, -1)));
        return;
    }
    sc_var *gx = fused_grad_out(g, "log_softmax", gy, n->out->t->numel, n->out);
    if (!gx)
        return;
    sc_status st = sc_k_softmax_log_backward(gx->t, n->out->t, gy->t);
    if (st != SC_OK) {
        sc__fail(g, st);
        return;
    }
    gin[0] = gx;
}

static sc_var *softmax_impl(sc_graph *g, sc_var *x, bool logmode)
{
    const char *op = logmode ? "log_softmax" : "softmax";
    SC_NN_CHECK(g, 1, x);
    if (!sc__check_f32(g, op, x, "x"))
        return NULL;
    if (!has_rows(g, op, x))
        return NULL;
    sc_var *y = sc__out_like(g, x);
    if (!y)
        return NULL;
    SC_NN_TRY(g, sc_k_softmax_forward(y->t, x->t, logmode));
    sc__record(g, y, op, logmode ? log_softmax_bw : softmax_bw, 1, &x);
    return y;
}

sc_var *sc_nn_softmax(sc_graph *g, sc_var *x) { return softmax_impl(g, x, false); }
sc_var *sc_nn_log_softmax(sc_graph *g, sc_var *x) { return softmax_impl(g, x, true); }

/* ---- cross-entropy ------------------------------------------------------------------- */

static void ce_rows_bw(sc_graph *g, sc_node *n, sc_var *gy, sc_var **gin)
{
    /* dl_i/dx_i = softmax(x_i) - onehot(y_i) */
    sc_var *x = n->in[0];
    int64_t rows = x->t->shape[0], len = x->t->shape[1], col[2] = {rows, 1};
    if (!g->recording) {
        sc_var *gx = fused_grad_out(g, "cross_entropy", gy, rows, x);
        if (!gx)
            return;
        sc_status st = sc_k_softmax_cross_entropy_backward(gx->t, x->t, n->in[1]->t, gy->t);
        if (st != SC_OK) {
            sc__fail(g, st);
            return;
        }
        gin[0] = gx;
        return;
    }
    sc_var *d = sc_nn_sub(g, sc_nn_softmax(g, x), sc__nn_one_hot(g, n->in[1]->t, rows, len));
    gin[0] = sc_nn_mul(g, sc_nn_reshape(g, gy, 2, col), d);
}

/* Per-sample logsumexp(x_i) - x_i[y_i], [N] (NaN for a label outside
 * [0, K)). */
static sc_var *ce_rows(sc_graph *g, sc_var *x, sc_var *labels)
{
    int64_t s = x->t->shape[0];
    sc_var *l = sc__out(g, SC_F32, 1, &s);
    if (!l)
        return NULL;
    SC_NN_TRY(g, sc_k_softmax_cross_entropy(l->t, x->t, labels->t));
    sc_var *in[2] = {x, labels};
    sc__record(g, l, "cross_entropy", ce_rows_bw, 2, in);
    return l;
}

sc_var *sc_nn_cross_entropy(sc_graph *g, sc_var *logits, sc_var *labels, sc_var *weights,
                            sc_loss_reduction reduction)
{
    SC_NN_CHECK(g, 2, logits, labels);
    if (!sc__check_f32(g, "cross_entropy", logits, "logits"))
        return NULL;
    char b1[96], b2[96];
    if (logits->t->ndim != 2 || logits->t->shape[0] < 1 || logits->t->shape[1] < 1)
        return sc__fail(g, sc_error_set(SC_ERR_INVALID_ARG,
                                        "cross_entropy: logits must be [N,K] with N, K >= 1, "
                                        "not %s",
                                        sc__shape(logits, b1, sizeof b1)));
    int64_t n = logits->t->shape[0];
    if (labels->t->dtype != SC_I32 || labels->t->ndim != 1 || labels->t->shape[0] != n)
        return sc__fail(g, sc_error_set(SC_ERR_INVALID_ARG,
                                        "cross_entropy: labels must be int32 [%lld] for logits "
                                        "%s, not %s %s",
                                        (long long)n, sc__shape(logits, b1, sizeof b1),
                                        sc_dtype_name(labels->t->dtype),
                                        sc__shape(labels, b2, sizeof b2)));
    if (weights) {
        if (!sc__check_f32(g, "cross_entropy", weights, "weights"))
            return NULL;
        if (weights->t->ndim != 1 || weights->t->shape[0] != n)
            return sc__fail(g, sc_error_set(SC_ERR_INVALID_ARG,
                                            "cross_entropy: weights must be [%lld], not %s",
                                            (long long)n, sc__shape(weights, b1, sizeof b1)));
    }
    if (reduction != SC_LOSS_MEAN && reduction != SC_LOSS_SUM && reduction != SC_LOSS_NONE)
        return sc__fail(g, sc_error_set(SC_ERR_INVALID_ARG, "cross_entropy: unknown reduction %d",
                                        (int)reduction));
    sc_var *l = ce_rows(g, logits, labels);
    if (weights)
        l = sc_nn_mul(g, l, weights);
    if (reduction == SC_LOSS_NONE)
        return l;
    l = sc_nn_sum(g, l);
    return reduction == SC_LOSS_MEAN ? sc_nn_scale(g, l, 1.0f / (float)n) : l;
}

/* ---- MSE ------------------------------------------------------------------------------- */

sc_var *sc_nn_mse(sc_graph *g, sc_var *a, sc_var *b)
{
    SC_NN_CHECK(g, 2, a, b);
    if (!sc__check_f32(g, "mse", a, "a") || !sc__check_f32(g, "mse", b, "b"))
        return NULL;
    if (!same_shape(a, b) || a->t->numel < 1) {
        char b1[96], b2[96];
        return sc__fail(g, sc_error_set(SC_ERR_INVALID_ARG,
                                        "mse: shapes %s and %s differ (or are empty)",
                                        sc__shape(a, b1, sizeof b1), sc__shape(b, b2, sizeof b2)));
    }
    sc_var *d = sc_nn_sub(g, a, b);
    return sc_nn_mean(g, sc_nn_mul(g, d, d));
}
