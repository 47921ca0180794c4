/* Max over an axis (with the scatter / gather pair that differentiates it
 * to any order) and input-gradient saliency with per-sample normalisation
 * (include/spurcl/nn_loss.h; kernels in cl/contrastive.cl).
 *
 * max_axis    y[o,i] = x[o, a(o,i), i], a = the first maximal index
 *   backward  scatter: gx[o,j,i] = gy[o,i] where j = a(o,i), else 0
 * scatter     backward: gather (gy at the same indices)
 * gather      backward: scatter
 * The indices are constants of the forward pass, so each rule is linear in
 * its incoming gradient and the pair differentiates to any order. */
#include "core/ops_internal.h"
#include "nn/graph.h"
#include "spurcl/nn.h"

#include <string.h>

/* ops_contrastive.c: sqrt(sum of squares) over the last axis, differentiable */


/* x viewed as [outer, len, inner] around axis ax. */
typedef struct axis_split {
    cl_uint outer, len, inner;
} axis_split;

static axis_split split_at(const sc_tensor *t, int ax)
{
    uint64_t outer = 1, inner = 1;
    for (int i = 0; i < ax; i++)
        outer *= (uint64_t)t->shape[i];
    for (int i = ax + 1; i < t->ndim; i++)
        inner *= (uint64_t)t->shape[i];
    return (axis_split){(cl_uint)outer, (cl_uint)t->shape[ax], (cl_uint)inner};
}

/* ---- scatter to / gather from the argmax ------------------------------------ */

static sc_var *argmax_scatter(sc_graph *g, sc_var *gv, sc_var *idx, int ndim,
                              const int64_t *shape, cl_uint len, cl_uint inner);
static sc_var *argmax_gather(sc_graph *g, sc_var *x, sc_var *idx, cl_uint len, cl_uint inner);

static void scatter_bw(sc_graph *g, sc_node *n, sc_var *gy, sc_var **gin)
{
    gin[0] = argmax_gather(g, gy, n->saved[0], (cl_uint)n->ip[0], (cl_uint)n->ip[1]);
}

static void gather_bw(sc_graph *g, sc_node *n, sc_var *gy, sc_var **gin)
{
    const sc_tensor *x = n->in[0]->t;
    gin[0] = argmax_scatter(g, gy, n->saved[0], x->ndim, x->shape, (cl_uint)n->ip[0],
                            (cl_uint)n->ip[1]);
}

/* A tensor of `shape` (viewed [outer, len, inner]) holding gv[o,i] at
 * [o, idx[o,i], i] and zeros elsewhere. */
static sc_var *argmax_scatter(sc_graph *g, sc_var *gv, sc_var *idx, int ndim,
                              const int64_t *shape, cl_uint len, cl_uint inner)
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
    cl_kernel k;
    SC_NN_TRY(g, sc_kernel_get(g->ctx, "contrastive", NULL, "sc_saliency_scatter", &k));
    cl_mem ym = y->t->buf->mem, gm = gv->t->buf->mem, im = idx->t->buf->mem;
    cl_uint yo = (cl_uint)y->t->offset, go = (cl_uint)gv->t->offset, io = (cl_uint)idx->t->offset;
    cl_uint n = (cl_uint)y->t->numel;
    sc_karg args[] = {SC_ARG(ym), SC_ARG(yo), SC_ARG(gm), SC_ARG(go), SC_ARG(im),
                      SC_ARG(io), SC_ARG(len), SC_ARG(inner), SC_ARG(n)};
    size_t global = sc_grid_1d(g->ctx, n), local = g->ctx->wg_size;
    SC_NN_TRY(g, sc_launch(g->ctx, k, "sc_saliency_scatter", 1, &global, &local, 9, args));
    sc_node *nd = sc__record(g, y, "argmax_scatter", scatter_bw, 1, &gv);
    if (nd) {
        nd->saved[0] = idx;
        nd->ip[0] = len;
        nd->ip[1] = inner;
    }
    return y;
}

/* x[o, idx[o,i], i], shaped like idx. */
static sc_var *argmax_gather(sc_graph *g, sc_var *x, sc_var *idx, cl_uint len, cl_uint inner)
{
    SC_NN_CHECK(g, 2, x, idx);
    if (!sc__check_f32(g, "max_axis gather", x, "x"))
        return NULL;
    if ((uint64_t)idx->t->numel * len != (uint64_t)x->t->numel)
        return sc__fail(g, sc_error_set(SC_ERR_INVALID_ARG,
                                        "max_axis gather: %lld elements for %lld indices",
                                        (long long)x->t->numel, (long long)idx->t->numel));
    sc_var *y = sc__out(g, SC_F32, idx->t->ndim, idx->t->shape);
    if (!y)
        return NULL;
    cl_kernel k;
    SC_NN_TRY(g, sc_kernel_get(g->ctx, "contrastive", NULL, "sc_saliency_gather", &k));
    cl_mem ym = y->t->buf->mem, xm = x->t->buf->mem, im = idx->t->buf->mem;
    cl_uint yo = (cl_uint)y->t->offset, xo = (cl_uint)x->t->offset, io = (cl_uint)idx->t->offset;
    cl_uint n = (cl_uint)y->t->numel;
    sc_karg args[] = {SC_ARG(ym), SC_ARG(yo), SC_ARG(xm), SC_ARG(xo), SC_ARG(im),
                      SC_ARG(io), SC_ARG(len), SC_ARG(inner), SC_ARG(n)};
    size_t global = sc_grid_1d(g->ctx, n), local = g->ctx->wg_size;
    SC_NN_TRY(g, sc_launch(g->ctx, k, "sc_saliency_gather", 1, &global, &local, 9, args));
    sc_node *nd = sc__record(g, y, "argmax_gather", gather_bw, 1, &x);
    if (nd) {
        nd->saved[0] = idx;
        nd->ip[0] = len;
        nd->ip[1] = inner;
    }
    return y;
}

/* ---- max over an axis ---------------------------------------------------------- */

/* Fills y (float, may be NULL-less) and idx (int32) for x reduced over ax. */
static sc_status launch_max(sc_context *ctx, sc_tensor *y, sc_tensor *idx, const sc_tensor *x,
                            axis_split s)
{
    size_t nout = (size_t)s.outer * s.inner, wg = ctx->wg_size;
    if (nout == 0)
        return SC_OK;
    /* a work-group per output for long axes and few outputs; both orders fixed */
    size_t cu = ctx->dev.compute_units ? ctx->dev.compute_units : 1;
    bool group = s.len >= 64 && nout < cu * wg;
    const char *name = group ? "sc_saliency_max_group" : "sc_saliency_max_serial";
    cl_kernel k;
    SC_TRY(sc_kernel_get(ctx, "contrastive", NULL, name, &k));
    cl_mem ym = y->buf->mem, im = idx->buf->mem, xm = x->buf->mem;
    cl_uint yo = (cl_uint)y->offset, io = (cl_uint)idx->offset, xo = (cl_uint)x->offset;
    sc_karg args[] = {SC_ARG(ym), SC_ARG(yo), SC_ARG(im),    SC_ARG(io),     SC_ARG(xm),
                      SC_ARG(xo), SC_ARG(s.outer), SC_ARG(s.len), SC_ARG(s.inner)};
    size_t global = group ? nout * wg : sc_grid_1d(ctx, nout);
    return sc_launch(ctx, k, name, 1, &global, &wg, 9, args);
}

static void max_axis_bw(sc_graph *g, sc_node *n, sc_var *gy, sc_var **gin)
{
    const sc_tensor *x = n->in[0]->t;
    gin[0] = argmax_scatter(g, gy, n->saved[0], x->ndim, x->shape, (cl_uint)n->ip[0],
                            (cl_uint)n->ip[1]);
}

/* The axis index normalised, or -1 after recording an error. */
static int checked_axis(sc_graph *g, const char *op, const sc_var *x, int axis)
{
    int r = x->t->ndim, ax = axis < 0 ? axis + r : axis;
    if (ax < 0 || ax >= r) {
        sc__fail(g, sc_error_set(SC_ERR_INVALID_ARG, "%s: axis %d of a rank-%d tensor", op, axis,
                                 r));
        return -1;
    }
    if (x->t->shape[ax] < 1) {
        sc__fail(g, sc_error_set(SC_ERR_INVALID_ARG, "%s: axis %d is empty", op, axis));
        return -1;
    }
    return ax;
}

sc_var *sc_nn_max_axis(sc_graph *g, sc_var *x, int axis)
{
    SC_NN_CHECK(g, 1, x);
    if (!sc__check_f32(g, "max_axis", x, "x"))
        return NULL;
    int ax = checked_axis(g, "max_axis", x, axis);
    if (ax < 0)
        return NULL;
    int64_t s[SC_MAX_DIMS];
    memcpy(s, x->t->shape, sizeof s);
    s[ax] = 1;
    sc_var *y = sc__out(g, SC_F32, x->t->ndim, s);
    sc_var *idx = sc__out(g, SC_I32, x->t->ndim, s);
    if (!y || !idx)
        return NULL;
    axis_split sp = split_at(x->t, ax);
    SC_NN_TRY(g, launch_max(g->ctx, y->t, idx->t, x->t, sp));
    sc_node *nd = sc__record(g, y, "max_axis", max_axis_bw, 1, &x);
    if (nd) {
        nd->saved[0] = idx;
        nd->ip[0] = sp.len;
        nd->ip[1] = sp.inner;
    }
    return y;
}

/* ---- saliency ------------------------------------------------------------------ */

/* A constant [N,K] one-hot of the int32 indices idx [N]. */
static sc_var *one_hot(sc_graph *g, const sc_tensor *idx, int64_t n, int64_t k)
{
    int64_t s[2] = {n, k};
    sc_var *y = sc__out(g, SC_F32, 2, s);
    if (!y)
        return NULL;
    cl_kernel kern;
    SC_NN_TRY(g, sc_kernel_get(g->ctx, "contrastive", NULL, "sc_saliency_onehot", &kern));
    cl_mem ym = y->t->buf->mem, lm = idx->buf->mem;
    cl_uint yo = (cl_uint)y->t->offset, lo = (cl_uint)idx->offset, kk = (cl_uint)k;
    cl_uint total = (cl_uint)y->t->numel;
    sc_karg args[] = {SC_ARG(ym), SC_ARG(yo), SC_ARG(lm), SC_ARG(lo), SC_ARG(kk), SC_ARG(total)};
    size_t global = sc_grid_1d(g->ctx, total), local = g->ctx->wg_size;
    SC_NN_TRY(g, sc_launch(g->ctx, kern, "sc_saliency_onehot", 1, &global, &local, 6, args));
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
        seed = one_hot(g, labels->t, n, k);
        break;
    case SC_SAL_PRED_LOGIT: {
        /* argmax on the device, ties to the first index */
        int64_t s[2] = {n, 1};
        sc_tensor *val, *idx;
        SC_NN_TRY(g, sc_tensor_create(g->ctx, SC_F32, 2, s, &val));
        sc_status st = sc_tensor_create(g->ctx, SC_I32, 2, s, &idx);
        if (st == SC_OK) {
            st = launch_max(g->ctx, val, idx, logits->t, split_at(logits->t, 1));
            if (st == SC_OK)
                seed = one_hot(g, idx, n, k);
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
    SC_NN_CHECK(g, 1, map);
    if (!sc__check_f32(g, "saliency_normalize", map, "map"))
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
