/* Max, average and global average pooling (include/spurcl/nn_conv.h).
 *
 * Kernels: src/kernels/pool.c; every backward is a gather (no atomics), so results
 * are bit-identical run to run. Differentiable to any order:
 *   maxpool       y = gather(x, idx), idx (int32, saved[0]) = the first
 *                 maximal element of each window;
 *                 gx = max_scatter(gy, idx)    (sum of gy over the windows
 *                                               whose argmax is the element)
 *                 max_scatter and max_gather are each other's adjoints, so
 *                 the pair is closed under differentiation (idx is a
 *                 constant: maxpool is piecewise linear in x).
 *   avgpool       y = A x, gx = A^T gy; A and A^T are each other's backward.
 *   global avg    reshape to [N, C, H*W] + sc_nn_mean_axis. */
#include "nn/ops_internal.h"
#include "spurcl/nn.h"

typedef sc_k_pool_geom pool_geom;

/* Validates the window over an input of shape [N, C, H, W], which the
 * message calls `what` (with the shape, formatted only then); fills geom. */
static bool pool_geom_shape(sc_graph *g, const char *op, const int64_t *shape, const char *what,
                            int k, int s, pool_geom *pg)
{
    if (k < 1 || s < 1 || shape[2] < k || shape[3] < k) {
        sc__fail(g, sc_error_set(SC_ERR_INVALID_ARG,
                                 "%s: window %d stride %d does not fit %s [%lld, %lld, %lld, "
                                 "%lld] (needs k >= 1, stride >= 1, H and W >= k)",
                                 op, k, s, what, (long long)shape[0], (long long)shape[1],
                                 (long long)shape[2], (long long)shape[3]));
        return false;
    }
    *pg = sc_k_pool_geom_of(shape, k, s);
    return true;
}

/* Validates x [N, C, H, W] and the window; fills geom. */
static bool pool_geom_of(sc_graph *g, const char *op, const sc_var *x, int k, int s,
                         pool_geom *pg)
{
    if (!sc__check_f32(g, op, x, "x"))
        return false;
    const sc_tensor *t = x->t;
    if (t->ndim != 4 || t->numel == 0) {
        char b[96];
        sc__fail(g, sc_error_set(SC_ERR_INVALID_ARG,
                                 "%s: x must be a non-empty [N, C, H, W] tensor, got %s", op,
                                 sc__shape(x, b, sizeof b)));
        return false;
    }
    return pool_geom_shape(g, op, t->shape, "x", k, s, pg);
}

/* True when v has shape [N, C, a, b] with N, C those of `like`. */
static bool nc_shape(const sc_var *v, const sc_var *like, int64_t a, int64_t b)
{
    return v->t->ndim == 4 && v->t->shape[0] == like->t->shape[0] &&
           v->t->shape[1] == like->t->shape[1] && v->t->shape[2] == a && v->t->shape[3] == b;
}

/* Validates a backward pass: the window over like_x [N, C, H, W], and the
 * gradient gy (and max pooling's int32 indices idx, else NULL) of shape
 * [N, C, OH, OW]; fills pg. */
static bool grad_geom_of(sc_graph *g, const char *op, const sc_var *gy, const sc_var *idx,
                         const sc_var *like_x, int k, int s, pool_geom *pg)
{
    if (!pool_geom_of(g, op, like_x, k, s, pg) || !sc__check_f32(g, op, gy, "gy"))
        return false;
    if (!nc_shape(gy, like_x, pg->oh, pg->ow) ||
        (idx && (!nc_shape(idx, like_x, pg->oh, pg->ow) || idx->t->dtype != SC_I32))) {
        char b1[96], b2[96];
        sc__fail(g, sc_error_set(SC_ERR_INVALID_ARG,
                                 "%s: gradient %s does not match input %s with k %d stride %d",
                                 op, sc__shape(gy, b1, sizeof b1),
                                 sc__shape(like_x, b2, sizeof b2), k, s));
        return false;
    }
    return true;
}

static sc_var *out_like(sc_graph *g, const sc_var *x, int64_t h, int64_t w)
{
    int64_t s[4] = {x->t->shape[0], x->t->shape[1], h, w};
    return sc__out(g, SC_F32, 4, s);
}

/* Records y's node with the window (k, s) and, for max pooling, the argmax
 * indices (a constant of the forward pass). */
static void record_window(sc_graph *g, sc_var *y, const char *name, sc_backward_fn bw, sc_var *in,
                          sc_var *idx, int k, int s)
{
    sc_node *nd = sc__record(g, y, name, bw, 1, &in);
    if (nd) {
        nd->saved[0] = idx;
        nd->ip[0] = k;
        nd->ip[1] = s;
    }
}

/* ---- max pooling ------------------------------------------------------------ */

static sc_var *max_scatter(sc_graph *g, sc_var *gy, sc_var *idx, const sc_var *like_x, int k,
                           int s);
static sc_var *max_gather(sc_graph *g, sc_var *x, sc_var *idx, int k, int s);

static void max_scatter_bw(sc_graph *g, sc_node *n, sc_var *gg, sc_var **gin)
{
    gin[0] = max_gather(g, gg, n->saved[0], (int)n->ip[0], (int)n->ip[1]);
}

static void max_gather_bw(sc_graph *g, sc_node *n, sc_var *gy, sc_var **gin)
{
    gin[0] = max_scatter(g, gy, n->saved[0], n->in[0], (int)n->ip[0], (int)n->ip[1]);
}

/* y[n, c, o] = x[n, c, idx[n, c, o]]: x [N, C, H, W] -> idx's shape. */
static sc_var *max_gather(sc_graph *g, sc_var *x, sc_var *idx, int k, int s)
{
    SC_NN_CHECK(g, 2, x, idx);
    pool_geom pg;
    if (!pool_geom_of(g, "maxpool2d (gather)", x, k, s, &pg))
        return NULL;
    if (idx->t->dtype != SC_I32 || !nc_shape(idx, x, pg.oh, pg.ow)) {
        char b1[96], b2[96];
        return sc__fail(g, sc_error_set(SC_ERR_INVALID_ARG,
                                        "maxpool2d (gather): indices %s do not match x %s",
                                        sc__shape(idx, b1, sizeof b1),
                                        sc__shape(x, b2, sizeof b2)));
    }
    sc_var *y = out_like(g, x, pg.oh, pg.ow);
    if (!y)
        return NULL;
    SC_NN_TRY(g, sc_k_pool_max_gather(y->t, x->t, idx->t, &pg));
    record_window(g, y, "maxpool2d_gather", max_gather_bw, x, idx, k, s);
    return y;
}

/* gx [N, C, H, W] (like_x's shape) = the adjoint of max_gather applied to gy. */
static sc_var *max_scatter(sc_graph *g, sc_var *gy, sc_var *idx, const sc_var *like_x, int k,
                           int s)
{
    SC_NN_CHECK(g, 3, gy, idx, like_x);
    pool_geom pg;
    if (!grad_geom_of(g, "maxpool2d backward", gy, idx, like_x, k, s, &pg))
        return NULL;
    sc_var *gx = out_like(g, like_x, pg.h, pg.w);
    if (!gx)
        return NULL;
    SC_NN_TRY(g, sc_k_pool_max_scatter(gx->t, gy->t, idx->t, &pg));
    record_window(g, gx, "maxpool2d_backward", max_scatter_bw, gy, idx, k, s);
    return gx;
}

static void maxpool_bw(sc_graph *g, sc_node *n, sc_var *gy, sc_var **gin)
{
    gin[0] = max_scatter(g, gy, n->saved[0], n->in[0], (int)n->ip[0], (int)n->ip[1]);
}

/* The pooled output [N, C, OH, OW] of an input of shape [N, C, H, W] and
 * its int32 indices (*idx). */
static sc_var *pooled_out(sc_graph *g, const int64_t *shape, const pool_geom *pg, sc_var **idx)
{
    int64_t ys[4] = {shape[0], shape[1], pg->oh, pg->ow};
    sc_var *y = sc__out(g, SC_F32, 4, ys);
    *idx = y ? sc__out(g, SC_I32, 4, ys) : NULL;
    return *idx ? y : NULL;
}

sc_var *sc_nn_maxpool2d(sc_graph *g, sc_var *x, int k, int stride)
{
    SC_NN_CHECK(g, 1, x);
    pool_geom pg;
    if (!pool_geom_of(g, "maxpool2d", x, k, stride, &pg))
        return NULL;
    sc_var *idx, *y = pooled_out(g, x->t->shape, &pg, &idx);
    if (!y)
        return NULL;
    SC_NN_TRY(g, sc_k_pool_max_fwd(y->t, idx->t, x->t, &pg));
    record_window(g, y, "maxpool2d", maxpool_bw, x, idx, k, stride);
    return y;
}

sc_var *sc__nn_maxpool_cnp(sc_graph *g, const int64_t *shape, const sc_tensor *xT,
                           const sc_tensor *b, int k, int stride, sc_var **idx)
{
    *idx = NULL;
    pool_geom pg;
    if (!pool_geom_shape(g, "conv2d_maxpool", shape, "the convolution's output", k, stride, &pg))
        return NULL;
    sc_var *y = pooled_out(g, shape, &pg, idx);
    if (!y)
        return NULL;
    SC_NN_TRY(g, sc_k_pool_max_fwd_cnp(y->t, (*idx)->t, xT, b, (uint32_t)shape[0], &pg));
    return y;
}

sc_var *sc__nn_maxpool_backward(sc_graph *g, sc_var *gy, sc_var *idx, const sc_var *like, int k,
                                int stride)
{
    return max_scatter(g, gy, idx, like, k, stride);
}

sc_status sc__nn_maxpool_scatter_cnp(sc_tensor *gT, const sc_var *gy, const sc_var *idx,
                                     const int64_t *shape, int k, int stride)
{
    /* the window fits: sc__nn_maxpool_cnp checked it */
    pool_geom pg = sc_k_pool_geom_of(shape, k, stride);
    return sc_k_pool_max_scatter_cnp(gT, gy->t, idx->t, (uint32_t)shape[0], &pg);
}

/* ---- average pooling ----------------------------------------------------------- */

static sc_var *avg_fwd(sc_graph *g, sc_var *x, int k, int s);
static sc_var *avg_bwd(sc_graph *g, sc_var *gy, const sc_var *like_x, int k, int s);

static void avg_fwd_bw(sc_graph *g, sc_node *n, sc_var *gy, sc_var **gin)
{
    gin[0] = avg_bwd(g, gy, n->in[0], (int)n->ip[0], (int)n->ip[1]);
}

static void avg_bwd_bw(sc_graph *g, sc_node *n, sc_var *gg, sc_var **gin)
{
    gin[0] = avg_fwd(g, gg, (int)n->ip[0], (int)n->ip[1]);
}

static sc_var *avg_fwd(sc_graph *g, sc_var *x, int k, int s)
{
    SC_NN_CHECK(g, 1, x);
    pool_geom pg;
    if (!pool_geom_of(g, "avgpool2d", x, k, s, &pg))
        return NULL;
    sc_var *y = out_like(g, x, pg.oh, pg.ow);
    if (!y)
        return NULL;
    SC_NN_TRY(g, sc_k_pool_avg_fwd(y->t, x->t, &pg));
    record_window(g, y, "avgpool2d", avg_fwd_bw, x, NULL, k, s);
    return y;
}

static sc_var *avg_bwd(sc_graph *g, sc_var *gy, const sc_var *like_x, int k, int s)
{
    SC_NN_CHECK(g, 2, gy, like_x);
    pool_geom pg;
    if (!grad_geom_of(g, "avgpool2d backward", gy, NULL, like_x, k, s, &pg))
        return NULL;
    sc_var *gx = out_like(g, like_x, pg.h, pg.w);
    if (!gx)
        return NULL;
    SC_NN_TRY(g, sc_k_pool_avg_bwd(gx->t, gy->t, &pg));
    record_window(g, gx, "avgpool2d_backward", avg_bwd_bw, gy, NULL, k, s);
    return gx;
}

sc_var *sc_nn_avgpool2d(sc_graph *g, sc_var *x, int k, int stride)
{
    return avg_fwd(g, x, k, stride);
}

/* ---- global average pooling ------------------------------------------------------ */

sc_var *sc_nn_global_avgpool(sc_graph *g, sc_var *x)
{
        if (!sc__input_f32(g, "global_avgpool", x, "x"))
        return NULL;
    if (x->t->ndim != 4 || x->t->numel == 0) {
        char b[96];
        return sc__fail(g, sc_error_set(SC_ERR_INVALID_ARG,
                                        "global_avgpool: x must be a non-empty [N, C, H, W] "
                                        "tensor, got %s",
                                        sc__shape(x, b, sizeof b)));
    }
    int64_t n = x->t->shape[0], c = x->t->shape[1];
    int64_t s3[3] = {n, c, x->t->shape[2] * x->t->shape[3]}, s2[2] = {n, c};
    return sc_nn_reshape(g, sc_nn_mean_axis(g, sc_nn_reshape(g, x, 3, s3), -1), 2, s2);
}
