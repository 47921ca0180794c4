/* Max over an axis (with the scatter / gather pair that differentiates it
 * to any order) and input-gradient saliency with per-sample normalisation
 * (include/spurcl/nn_loss.h; kernels: src/kernels/saliency.c).
 *
 * max_axis    y[o,i] = x[o, a(o,i), i], a = the first maximal index
 *   backward  scatter: gx[o,j,i] = gy[o,i] where j = a(o,i), else 0
 * scatter     backward: gather (gy at the same indices)
 * gather      backward: scatter
 * The indices are constants of the forward pass, so each rule is linear in
 * its incoming gradient and the pair differentiates to any order. */
#include "nn/ops_internal.h"
#include "spurcl/nn.h"

#include <string.h>

/* ---- scatter to / gather from the argmax ------------------------------------ */

/* Records y's node with the argmax indices (a constant of the forward pass)
 * and the [outer, len, inner] view they index. */
static void record_indexed(sc_graph *g, sc_var *y, const char *name, sc_backward_fn bw,
                           sc_var *in, sc_var *idx, uint32_t len, uint32_t inner)
{
    sc_node *nd = sc__record(g, y, name, bw, 1, &in);
    if (nd) {
        nd->saved[0] = idx;
        nd->ip[0] = len;
        nd->ip[1] = inner;
    }
}

static sc_var *argmax_scatter(sc_graph *g, sc_var *gv, sc_var *idx, int ndim,
                              const int64_t *shape, uint32_t len, uint32_t inner);
static sc_var *argmax_gather(sc_graph *g, sc_var *x, sc_var *idx, uint32_t len, uint32_t inner);

static void scatter_bw(sc_graph *g, sc_node *n, sc_var *gy, sc_var **gin)
{
    gin[0] = argmax_gather(g, gy, n->saved[0], (uint32_t)n->ip[0], (uint32_t)n->ip[1]);
}

static void gather_bw(sc_graph *g, sc_node *n, sc_var *gy, sc_var **gin)
{
    const sc_tensor *x = n->in[0]->t;
    gin[0] = argmax_scatter(g, gy, n->saved[0], x->ndim, x->shape, (uint32_t)n->ip[0],
                            (uint32_t)n->ip[1]);
}

/* A tensor of `shape` (viewed [outer, len, inner]) holding gv[o,i] at
 * [o, idx[o,i], i] and zeros elsewhere. */
static sc_var *argmax_scatter(sc_graph *g, sc_var *gv, sc_var *idx, int ndim,
                              const int64_t *shape, uint32_t len, uint32_t inner)
{
    SC_NN_CHECK(g, 2, gv, idx);
    if (!sc__check_f32(g, "max_axis backward", gv, "gradient"))
        return NULL;
    sc_var *y = sc__out(g, SC_F32, ndim, shape);
    if (!y)
        return NULL;
    if (gv->t->numel != idx->t->numel || (uint64_t)gv->t->numel * len != (uint64_t)y->t->numel)
        return sc__fail(g, sc_error_set(SC_ERR_INVALID_ARG,
                                        "max_axis backward: %lld gradients for %lld indices",
                                        (long long)gv->t->numel, (long long)idx->t->numel));
    SC_NN_TRY(g, sc_k_saliency_scatter(y->t, gv->t, idx->t, len, inner));
    record_indexed(g, y, "argmax_scatter", scatter_bw, gv, idx, len, inner);
    return y;
}

/* x[o, idx[o,i], i], shaped like idx. */
static sc_var *argmax_gather(sc_graph *g, sc_var *x, sc_var *idx, uint32_t len, uint32_t inner)
{
    SC_NN_CHECK(g, 2, x, idx);
    if (!sc__check_f32(g, "max_axis gather", x, "x"))
        return NULL;
    if ((uint64_t)idx->t->numel * len != (uint64_t)x->t->numel)
        return sc__fail(g, sc_error_set(SC_ERR_INVALID_ARG,
                                        "max_axis gather: %lld elements for %lld indices",
                                        (long long)x->t->numel, (long long)idx->t->numel));
    sc_var *y = sc__out_like(g, idx);
    if (!y)
        return NULL;
    SC_NN_TRY(g, sc_k_saliency_gather(y->t, x->t, idx->t, len, inner));
    record_indexed(g, y, "argmax_gather", gather_bw, x, idx, len, inner);
    return y;
}

/* ---- max over an axis ---------------------------------------------------------- */

static void max_axis_bw(sc_graph *g, sc_node *n, sc_var *gy, sc_var **gin)
{
    const sc_tensor *x = n->in[0]->t;
    gin[0] = argmax_scatter(g, gy, n->saved[0], x->ndim, x->shape, (uint32_t)n->ip[0],
                            (uint32_t)n->ip[1]);
}

sc_var *sc_nn_max_axis(sc_graph *g, sc_var *x, int axis)
{
        if (!sc__input_f32(g, "max_axis", x, "x"))
        return NULL;
    int ax = sc__nn_axis(g, "max_axis", x, axis);
    if (ax < 0)
        return NULL;
    if (x->t->shape[ax] < 1)
        return sc__fail(g, sc_error_set(SC_ERR_INVALID_ARG, "max_axis: axis %d is empty", axis));
    int64_t s[SC_MAX_DIMS];
    memcpy(s, x->t->shape, sizeof s);
    s[ax] = 1;
    sc_var *y = sc__out(g, SC_F32, x->t->ndim, s);
    sc_var *idx = sc__out(g, SC_I32, x->t->ndim, s);
    if (!y || !idx)
        return NULL;
    sc_k_axis sp = sc_k_axis_split(x->t, ax);
    SC_NN_TRY(g, sc_k_saliency_max(y->t, idx->t, x->t, ax));
    record_indexed(g, y, "max_axis", max_axis_bw, x, idx, sp.len, sp.inner);
    return y;
}

/* ---- saliency ------------------------------------------------------------------ */

sc_var *sc__nn_one_hot(sc_graph *g, const sc_tensor *idx, int64_t n, int64_t k)
{
    int64_t s[2] = {n, k};
    sc_var *y = sc__out(g, SC_F32, 2, s);
    if (!y)
        return NULL;
    SC_NN_TRY(g, sc_k_saliency_one_hot(y->t, idx));
    return y;
}

static bool check_labels(sc_graph *g, const sc_var *labels, int64_t n)
{
    if (!labels) {
        sc__fail(g, sc_error_set(SC_ERR_INVALID_ARG,
                                 "saliency: this target needs the labels (int32 [N])"));
        return false;
    }
    if (labels->t->dtype != SC_I32 || labels->t->numel != n) {
        char b[96];
        sc__fail(g, sc_error_set(SC_ERR_INVALID_ARG,
                                 "saliency: labels must be int32 [%lld], not %s %s", (long long)n,
                                 sc_dtype_name(labels->t->dtype),
                                 sc__shape(labels, b, sizeof b)));
        return false;
    }
    return true;
}

sc_var *sc_nn_saliency(sc_graph *g, sc_var *x, sc_var *logits, sc_var *labels,
                       sc_saliency_target target, bool create_graph)
{
    SC_NN_CHECK(g, 2, x, logits);
    if (!sc__check_f32(g, "saliency", logits, "logits") || !sc__check_f32(g, "saliency", x, "x"))
        return NULL;
    char b1[96], b2[96];
    if (logits->t->ndim != 2 || x->t->ndim < 1 || x->t->shape[0] != logits->t->shape[0] ||
        logits->t->shape[1] < 1)
        return sc__fail(g, sc_error_set(SC_ERR_INVALID_ARG,
                                        "saliency: logits %s must be [N,K] for x %s of N samples",
                                        sc__shape(logits, b1, sizeof b1),
                                        sc__shape(x, b2, sizeof b2)));
    if (!x->requires_grad)
        return sc__fail(g, sc_error_set(SC_ERR_INVALID_ARG,
                                        "saliency: x must require gradients and the forward "
                                        "pass must have been recorded from it"));
    if (logits != x && !logits->node)
        return sc__fail(g, sc_error_set(SC_ERR_INVALID_ARG,
                                        "saliency: the logits carry no recorded history; record "
                                        "the forward pass from an x that requires gradients"));
    int64_t n = logits->t->shape[0], k = logits->t->shape[1];
    sc_var *out = logits, *seed = NULL;
    switch (target) {
    case SC_SAL_TRUE_LOGIT:
        if (!check_labels(g, labels, n))
            return NULL;
        seed = sc__nn_one_hot(g, labels->t, n, k);
        break;
    case SC_SAL_PRED_LOGIT: {
        /* argmax on the device, ties to the first index */
        int64_t s[2] = {n, 1};
        sc_tensor *val, *idx;
        SC_NN_TRY(g, sc_tensor_create(g->ctx, SC_F32, 2, s, &val));
        sc_status st = sc_tensor_create(g->ctx, SC_I32, 2, s, &idx);
        if (st == SC_OK) {
            st = sc_k_saliency_max(val, idx, logits->t, 1);
            if (st == SC_OK)
                seed = sc__nn_one_hot(g, idx, n, k);
            sc_tensor_free(idx);
        }
        sc_tensor_free(val);
        SC_NN_TRY(g, st);
        break;
    }
    case SC_SAL_LOSS:
        if (!check_labels(g, labels, n))
            return NULL;
        /* per-sample cross-entropy summed: sample i's map is d l_i / d x_i */
        {
            bool rec = g->recording; /* the loss must be recorded to be differentiated */
            g->recording = true;
            out = sc_nn_cross_entropy(g, logits, labels, NULL, SC_LOSS_SUM);
            g->recording = rec;
        }
        break;
    default:
        return sc__fail(g, sc_error_set(SC_ERR_INVALID_ARG, "saliency: unknown target %d",
                                        (int)target));
    }
    if (!out || (target != SC_SAL_LOSS && !seed))
        return sc__fail(g, SC_OK); /* the failing op recorded the error */
    sc_var *map = NULL;
    sc_status st = sc_grad(g, 1, &out, target == SC_SAL_LOSS ? NULL : &seed, 1, &x, create_graph,
                           &map);
    if (st != SC_OK)
        return sc__fail(g, st);
    /* the logits do not depend on x: the map is zero */
    return map ? map : sc_nn_full_like(g, x, 0.0f);
}

sc_var *sc_nn_saliency_normalize(sc_graph *g, sc_var *map, sc_saliency_norm norm, float eps)
{
        if (!sc__input_f32(g, "saliency_normalize", map, "map"))
        return NULL;
    if (norm == SC_NORM_NONE)
        return map;
    if (norm != SC_NORM_MAXABS && norm != SC_NORM_L2)
        return sc__fail(g, sc_error_set(SC_ERR_INVALID_ARG,
                                        "saliency_normalize: unknown normalisation %d", (int)norm));
    const sc_tensor *t = map->t;
    if (t->ndim < 1 || t->shape[0] < 1 || t->numel == 0) {
        char b[96];
        return sc__fail(g, sc_error_set(SC_ERR_INVALID_ARG,
                                        "saliency_normalize: map %s must be [N,...], non-empty",
                                        sc__shape(map, b, sizeof b)));
    }
    int64_t fs[2] = {t->shape[0], t->numel / t->shape[0]};
    sc_var *flat = sc_nn_reshape(g, map, 2, fs);
    sc_var *den = norm == SC_NORM_MAXABS ? sc_nn_max_axis(g, sc_nn_abs(g, flat), 1)
                                         : sc__nn_row_norm(g, flat);
    sc_var *y = sc_nn_div(g, flat, sc_nn_add_scalar(g, den, eps));
    return sc_nn_reshape(g, y, t->ndim, t->shape);
}
