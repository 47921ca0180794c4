/* Layer norm and batch norm (include/spurcl/nn_layers.h).
 *
 * Both are one internal op on x seen as [outer, C, inner], normalising each
 * channel c over its M = outer * inner elements (layer norm: [1, rows, D];
 * batch norm: [N, C, H*W]). One fused kernel (src/kernels/norm.c) writes
 *   xhat = (x - mean) * rstd   and   rstd = 1 / sqrt(var + eps)  [1, C, 1]
 * and these become two recorded variables of x, each with a backward
 * written with sc_nn_* ops:
 *   xhat:  gx = rstd * (g - mean_c(g) - xhat * mean_c(g * xhat))
 *   rstd:  gx = -(g * rstd^2 / M) * xhat
 * (d rstd / dx = -rstd^3 (x - mean) / M). The xhat rule is one fused
 * kernel (sc_k_norm_backward). When the backward runs without recording
 * (no create_graph: g->recording is false), nothing will differentiate it
 * again and that is all; a recording pass (the ULE teacher's saliency)
 * records it as a node of (g, xhat, rstd), norm_rule, whose backward is
 * again one kernel (sc_k_norm_rule_backward: the teacher's double backward
 * runs it instead of the backward of ~10 composed ops) or, when that
 * backward records too, ops on the recorded xhat and rstd variables, the
 * rule among them: the norms are differentiable to any order. Both forms
 * are tested against double references, to the third derivative
 * (tests/test_nn_norm.c, norm_higher_order).
 *
 * Layer norm's affine part (* w + b) is fused too: the forward kernel also
 * writes y = xhat * w + b, recorded as one node of (x, w, b) that keeps
 * xhat and rstd; its backward is, without recording, one kernel for gx
 * (w folded into the xhat rule) that also sums gw and gb by blocks of rows
 * (a second adds the blocks up), and
 * when recording recorded ops (gxhat = gy * w, the norm_rule node on the
 * recorded xhat and rstd, gw = sum(gy * xhat), gb = sum(gy)). Batch
 * norm's affine part (per channel) is the same node; without recording its
 * backward is a single kernel that also sums gw and gb per channel. */
#include "nn/ops_internal.h"
#include "spurcl/nn.h"

#include <string.h>


/* mean over each channel of a [outer, C, inner] variable, as [1, C, 1] */
static sc_var *channel_mean(sc_graph *g, sc_var *x, int64_t m)
{
    int64_t s[3] = {1, x->t->shape[1], 1};
    return sc_nn_scale(g, sc_nn_sum_to(g, x, 3, s), 1.0f / (float)m);
}

/* True when the incoming gradient gy has xh's element count, else an
 * error naming op ("OP backward: gradient [..] for [..]"). */
static bool grad_fits(sc_graph *g, const char *op, const sc_var *gy, const sc_var *xh)
{
    if (gy->t->numel == xh->t->numel)
        return true;
    char b1[96], b2[96];
    sc__fail(g, sc_error_set(SC_ERR_STATE, "%s backward: gradient %s for %s", op,
                             sc__shape(gy, b1, sizeof b1), sc__shape(xh, b2, sizeof b2)));
    return false;
}

/* A fused backward's three outputs: gin[i] like like[i] where n->need[i],
 * else NULL; false (error recorded) when one cannot be made. */
static bool fused_grads(sc_graph *g, const sc_node *n, sc_var *const like[3], sc_var **gin)
{
    for (int i = 0; i < 3; i++)
        gin[i] = n->need[i] ? sc__out_like(g, like[i]) : NULL;
    if (g->status == SC_OK)
        return true;
    gin[0] = gin[1] = gin[2] = NULL;
    return false;
}

/* The fused kernel's status st: on failure it is recorded and gin cleared. */
static void fused_done(sc_graph *g, sc_status st, sc_var **gin)
{
    if (st == SC_OK)
        return;
    sc__fail(g, st);
    gin[0] = gin[1] = gin[2] = NULL;
}

static sc_tensor *tensor_of(const sc_var *v) { return v ? v->t : NULL; }

/* The same rule, fused, with gy * w for gy when w (layer norm's weight
 * [inner], or batch norm's [C] when per_channel) is given; not recorded. */
static sc_var *xhat_rule_fused(sc_graph *g, sc_var *gy, sc_var *w, sc_var *xh, sc_var *rstd,
                               bool per_channel)
{
    SC_NN_CHECK(g, 3, gy, xh, rstd);
    if (!grad_fits(g, "norm", gy, xh))
        return NULL;
    sc_var *gx = sc__out_like(g, xh);
    if (!gx)
        return NULL;
    SC_NN_TRY(g, sc_k_norm_backward(gx->t, gy->t, xh->t, rstd->t, tensor_of(w), per_channel,
                                    NULL, NULL));
    return gx;
}

/* The xhat rule, recorded: R = rstd * (gy - mean_c(gy) - xh * mean_c(gy *
 * xh)), one fused kernel (sc_k_norm_backward without w) recorded as a node
 * of (gy, xh, rstd) whose backward (rule_bw) is one kernel too, or, when
 * that backward records, ops again (this rule among them), so the norms
 * stay differentiable to any order. */
static void rule_bw(sc_graph *g, sc_node *n, sc_var *gr, sc_var **gin);

static sc_var *xhat_rule_recorded(sc_graph *g, sc_var *gy, sc_var *xh, sc_var *rstd, int64_t m)
{
    sc_var *r = xhat_rule_fused(g, gy, NULL, xh, rstd, false);
    if (!r)
        return NULL;
    sc_var *in[3] = {gy, xh, rstd};
    sc_node *nd = sc__record(g, r, "norm_rule", rule_bw, 3, in);
    if (nd)
        nd->ip[0] = m;
    return r;
}

/* The rule's backward, given gr = dL/dR:
 *   gy:   the rule of gr (the projection is symmetric)
 *   xh:   -rstd * (gr * mean_c(gy * xh) + gy * mean_c(gr * xh))
 *   rstd: sum_c gr * (gy - mean_c(gy) - xh * mean_c(gy * xh))
 * one kernel (sc_k_norm_rule_backward) when not recording, else ops. */
static void rule_bw(sc_graph *g, sc_node *n, sc_var *gr, sc_var **gin)
{
    sc_var *gy = n->in[0], *xh = n->in[1], *rstd = n->in[2];
    int64_t m = n->ip[0];
    if (!g->recording) {
        sc_var *like[3] = {gy, xh, rstd};
        if (fused_grads(g, n, like, gin) && (gin[0] || gin[1] || gin[2]))
            fused_done(g,
                       sc_k_norm_rule_backward(tensor_of(gin[0]), tensor_of(gin[1]),
                                               tensor_of(gin[2]), gr->t, gy->t, xh->t, rstd->t),
                       gin);
        return;
    }
    if (n->need[0])
        gin[0] = xhat_rule_recorded(g, gr, xh, rstd, m);
    if (!n->need[1] && !n->need[2])
        return;
    sc_var *myx = channel_mean(g, sc_nn_mul(g, gy, xh), m);
    if (n->need[1]) {
        sc_var *mrx = channel_mean(g, sc_nn_mul(g, gr, xh), m);
        sc_var *t = sc_nn_add(g, sc_nn_mul(g, gr, myx), sc_nn_mul(g, gy, mrx));
        gin[1] = sc_nn_scale(g, sc_nn_mul(g, rstd, t), -1.0f);
    }
    if (n->need[2]) {
        sc_var *p = sc_nn_sub(g, sc_nn_sub(g, gy, channel_mean(g, gy, m)), sc_nn_mul(g, xh, myx));
        gin[2] = sc_nn_sum_to(g, sc_nn_mul(g, gr, p), 3, rstd->t->shape);
    }
}

static void xhat_bw(sc_graph *g, sc_node *n, sc_var *gy, sc_var **gin)
{
    sc_var *xh = n->out, *rstd = n->saved[0];
    if (g->recording)
        gin[0] = xhat_rule_recorded(g, gy, xh, rstd, n->ip[0]);
    else
        gin[0] = xhat_rule_fused(g, gy, NULL, xh, rstd, false);
}

static void rstd_bw(sc_graph *g, sc_node *n, sc_var *gy, sc_var **gin)
{
    sc_var *rstd = n->out, *xh = n->saved[0];
    int64_t m = n->ip[0];
    sc_var *f = sc_nn_scale(g, sc_nn_mul(g, gy, sc_nn_mul(g, rstd, rstd)), -1.0f / (float)m);
    gin[0] = sc_nn_mul(g, xh, f);
}

/* Batch norm's affine gradients without recording: gx (when needed), gw
 * and gb from one kernel. */
static void bn_affine_fused(sc_graph *g, sc_node *n, sc_var *gy, sc_var **gin)
{
    sc_var *w = n->in[1], *xh = n->saved[0], *rstd = n->saved[1];
    sc_var *like[3] = {xh, w, n->in[2]};
    if (fused_grads(g, n, like, gin))
        fused_done(g,
                   sc_k_norm_backward(tensor_of(gin[0]), gy->t, xh->t, rstd->t, tensor_of(w),
                                      true, tensor_of(gin[1]), tensor_of(gin[2])),
                   gin);
}

/* v [C] as [C, 1], which broadcasts against [outer, C, inner] */
static sc_var *as_column(sc_graph *g, sc_var *v)
{
    int64_t s[2] = {v->t->shape[0], 1};
    return sc_nn_reshape(g, v, 2, s);
}

/* The affine node y = xhat * w + b of (x3, w, b): layer norm's (w and b
 * [inner]; ip[1] = 0) or batch norm's (w and b [C]; ip[1] = 1); saved
 * xhat and rstd (recorded variables of x3), ip[0] = M. */
static void affine_bw(sc_graph *g, sc_node *n, sc_var *gy, sc_var **gin)
{
    sc_var *w = n->in[1], *b = n->in[2], *xh = n->saved[0], *rstd = n->saved[1];
    bool per_channel = n->ip[1] != 0;
    if (!g->recording && per_channel) {
        bn_affine_fused(g, n, gy, gin);
        return;
    }
    if (!g->recording) {
        /* layer norm: gx (w folded into the xhat rule), gw and gb, in one
         * pass over gy and xh where the row kernels run */
        sc_var *like[3] = {xh, w, b};
        if (grad_fits(g, "layer_norm", gy, xh) && fused_grads(g, n, like, gin))
            fused_done(g,
                       sc_k_norm_backward_affine(tensor_of(gin[0]), tensor_of(gin[1]),
                                                 tensor_of(gin[2]), gy->t, xh->t, rstd->t,
                                                 tensor_of(w)),
                       gin);
        return;
    }
    /* recorded: ops, differentiable again */
    sc_var *wb = w && per_channel ? as_column(g, w) : w;
    if (n->need[0])
        gin[0] = xhat_rule_recorded(g, wb ? sc_nn_mul(g, gy, wb) : gy, xh, rstd, n->ip[0]);
    for (int i = 1; i < 3; i++) {
        if (!n->need[i])
            continue;
        sc_var *v = n->in[i], *t = i == 1 ? sc_nn_mul(g, gy, xh) : gy;
        if (per_channel) {
            int64_t s[3] = {1, v->t->shape[0], 1};
            gin[i] = sc_nn_reshape(g, sc_nn_sum_to(g, t, 3, s), 1, v->t->shape);
        } else {
            gin[i] = sc_nn_sum_to(g, t, v->t->ndim, v->t->shape);
        }
    }
}

/* xhat of x3 [outer, C, inner]; updates the running statistics when given.
 * With w or b returns y = xhat * w + b instead, from the same kernel,
 * recorded as one node: w and b [C] when per_channel (batch norm), else
 * [inner] (layer norm: x3 [1, rows, D]). */
static sc_var *normalize(sc_graph *g, sc_var *x3, float eps, sc_tensor *rm, sc_tensor *rv,
                         float momentum, sc_var *w, sc_var *b, bool per_channel)
{
    SC_NN_CHECK(g, 1, x3);
    int64_t m = x3->t->shape[0] * x3->t->shape[2];
    int64_t rs[3] = {1, x3->t->shape[1], 1};
    sc_var *xh = sc__out(g, SC_F32, 3, x3->t->shape);
    sc_var *rstd = sc__out(g, SC_F32, 3, rs);
    sc_var *y = w || b ? sc__out(g, SC_F32, 3, x3->t->shape) : NULL;
    if (!xh || !rstd || ((w || b) && !y))
        return NULL;
    SC_NN_TRY(g, sc_k_norm_forward(xh->t, rstd->t, x3->t, eps, rm, rv, momentum,
                                   y ? y->t : NULL, w ? w->t : NULL, b ? b->t : NULL,
                                   per_channel));
    sc_node *nx = sc__record(g, xh, "norm_xhat", xhat_bw, 1, &x3);
    sc_node *nr = sc__record(g, rstd, "norm_rstd", rstd_bw, 1, &x3);
    if (nx) {
        nx->saved[0] = rstd;
        nx->ip[0] = m;
    }
    if (nr) {
        nr->saved[0] = xh;
        nr->ip[0] = m;
    }
    if (!y)
        return xh;
    sc_var *in[3] = {x3, w, b};
    sc_node *na = sc__record(g, y, per_channel ? "batch_norm_affine" : "layer_norm_affine",
                             affine_bw, 3, in);
    if (na) {
        na->saved[0] = xh;
        na->saved[1] = rstd;
        na->ip[0] = m;
        na->ip[1] = per_channel;
    }
    return y;
}

sc_var *sc_nn_layer_norm(sc_graph *g, sc_var *x, sc_var *w, sc_var *b, float eps)
{
        if (!sc__input_f32(g, "layer_norm", x, "x"))
        return NULL;
    char b1[96], b2[96];
    int r = x->t->ndim;
    if (r < 1)
        return sc__fail(g, sc_error_set(SC_ERR_INVALID_ARG, "layer_norm: x must have rank >= 1"));
    int64_t d = x->t->shape[r - 1];
    sc_var *aff[2] = {w, b};
    const char *names[2] = {"weight", "bias"};
    for (int i = 0; i < 2; i++) {
        if (!aff[i])
            continue;
        if (!sc__check_f32(g, "layer_norm", aff[i], names[i]))
            return NULL;
        if (aff[i]->t->ndim != 1 || aff[i]->t->shape[0] != d)
            return sc__fail(g, sc_error_set(SC_ERR_INVALID_ARG,
                                            "layer_norm: %s %s does not match x %s (want [%lld])",
                                            names[i], sc__shape(aff[i], b1, sizeof b1),
                                            sc__shape(x, b2, sizeof b2), (long long)d));
    }
    if (!(eps >= 0.0f))
        return sc__fail(g, sc_error_set(SC_ERR_INVALID_ARG, "layer_norm: eps %g < 0", (double)eps));
    int64_t s3[3] = {1, d > 0 ? x->t->numel / d : 0, d};
    sc_var *y = normalize(g, sc_nn_reshape(g, x, 3, s3), eps, NULL, NULL, 0.0f, w, b, false);
    return y ? sc_nn_reshape(g, y, r, x->t->shape) : NULL;
}

static bool check_running(sc_graph *g, const sc_tensor *t, const char *name, int64_t c)
{
    if (!t)
        return true;
    sc_status st = sc_check_f32(t, "batch_norm", name);
    if (st == SC_OK && t->numel != c) {
        char b[96];
        st = sc_error_set(SC_ERR_INVALID_ARG, "batch_norm: %s %s does not have %lld elements",
                          name, sc_tensor_shape_str(t, b, sizeof b), (long long)c);
    }
    if (st != SC_OK) {
        sc__fail(g, st);
        return false;
    }
    return true;
}

/* A constant [C, 1] view of a running statistic. */
static sc_var *running_var(sc_graph *g, sc_tensor *t, int64_t c)
{
    int64_t s[2] = {c, 1};
    sc_tensor *view;
    SC_NN_TRY(g, sc_tensor_reshape(t, 2, s, &view));
    return sc_var_wrap(g, view, false);
}

sc_var *sc_nn_batch_norm(sc_graph *g, sc_var *x, sc_var *w, sc_var *b, sc_tensor *running_mean,
                         sc_tensor *running_var_t, bool training, float momentum, float eps)
{
        if (!sc__input_f32(g, "batch_norm", x, "x"))
        return NULL;
    char b1[96], b2[96];
    int r = x->t->ndim;
    if (r != 2 && r != 4)
        return sc__fail(g, sc_error_set(SC_ERR_INVALID_ARG,
                                        "batch_norm: x must be [N,C] or [N,C,H,W], not %s",
                                        sc__shape(x, b1, sizeof b1)));
    int64_t n = x->t->shape[0], c = x->t->shape[1];
    int64_t inner = r == 4 ? x->t->shape[2] * x->t->shape[3] : 1;
    sc_var *aff[2] = {w, b};
    const char *names[2] = {"weight", "bias"};
    for (int i = 0; i < 2; i++) {
        if (!aff[i])
            continue;
        if (!sc__check_f32(g, "batch_norm", aff[i], names[i]))
            return NULL;
        if (aff[i]->t->ndim != 1 || aff[i]->t->shape[0] != c)
            return sc__fail(g, sc_error_set(SC_ERR_INVALID_ARG,
                                            "batch_norm: %s %s does not match x %s (want [%lld])",
                                            names[i], sc__shape(aff[i], b1, sizeof b1),
                                            sc__shape(x, b2, sizeof b2), (long long)c));
    }
    if (!check_running(g, running_mean, "running_mean", c) ||
        !check_running(g, running_var_t, "running_var", c))
        return NULL;
    if ((running_mean == NULL) != (running_var_t == NULL))
        return sc__fail(g, sc_error_set(SC_ERR_INVALID_ARG,
                                        "batch_norm: give both running_mean and running_var, or "
                                        "neither"));
    if (!(eps >= 0.0f))
        return sc__fail(g, sc_error_set(SC_ERR_INVALID_ARG, "batch_norm: eps %g < 0", (double)eps));
    int64_t s3[3] = {n, c, inner}, ws[2] = {c, 1};
    sc_var *x3 = sc_nn_reshape(g, x, 3, s3);
    sc_var *w2 = w ? sc_nn_reshape(g, w, 2, ws) : NULL;
    sc_var *b2v = b ? sc_nn_reshape(g, b, 2, ws) : NULL;
    sc_var *y;
    if (training || !running_mean) {
        /* batch statistics (also in eval mode without running statistics,
         * as PyTorch's track_running_stats=False) */
        if (n * inner <= 1)
            return sc__fail(g, sc_error_set(SC_ERR_INVALID_ARG,
                                            "batch_norm: expected more than 1 value per channel "
                                            "when using batch statistics (x %s)",
                                            sc__shape(x, b1, sizeof b1)));
        y = normalize(g, x3, eps, training ? running_mean : NULL,
                      training ? running_var_t : NULL, momentum, w, b, true);
    } else {
        /* y = x * a + (b - mean * a) with a = w / sqrt(var + eps), all [C, 1] */
        sc_var *a = sc_nn_rsqrt(g, sc_nn_add_scalar(g, running_var(g, running_var_t, c), eps));
        if (w2)
            a = sc_nn_mul(g, a, w2);
        sc_var *shift = sc_nn_scale(g, sc_nn_mul(g, running_var(g, running_mean, c), a), -1.0f);
        if (b2v)
            shift = sc_nn_add(g, shift, b2v);
        y = sc_nn_add(g, sc_nn_mul(g, x3, a), shift);
    }
    return y ? sc_nn_reshape(g, y, r, x->t->shape) : NULL;
}
