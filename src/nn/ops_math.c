/* Differentiable elementwise, broadcasting, reduction and shape ops. */
#include "nn/ops_internal.h"
#include "spurcl/nn.h"
#include "spurcl/ops.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- shape helpers ------------------------------------------------------ */

static bool same_shape(const sc_tensor *a, int ndim, const int64_t *shape)
{
    if (a->ndim != ndim)
        return false;
    for (int i = 0; i < ndim; i++)
        if (a->shape[i] != shape[i])
            return false;
    return true;
}

static sc_var *shape_error(sc_graph *g, const char *op, const sc_var *a, const sc_var *b)
{
    char x[96], y[96];
    return sc__fail(g, sc_error_set(SC_ERR_INVALID_ARG, "%s: shapes %s and %s do not broadcast",
                                    op, sc__shape(a, x, sizeof x), sc__shape(b, y, sizeof y)));
}


/* ---- binary ops ------------------------------------------------------------ */

static void add_bw(sc_graph *g, sc_node *n, sc_var *gy, sc_var **gin);
static void sub_bw(sc_graph *g, sc_node *n, sc_var *gy, sc_var **gin);
static void mul_bw(sc_graph *g, sc_node *n, sc_var *gy, sc_var **gin);
static void div_bw(sc_graph *g, sc_node *n, sc_var *gy, sc_var **gin);

static sc_var *binary(sc_graph *g, sc_var *a, sc_var *b, int bop, sc_backward_fn bw)
{
    const char *name = sc_k_math_bop_name(bop);
    SC_NN_CHECK(g, 2, a, b);
    if (!sc__check_f32(g, name, a, "input") || !sc__check_f32(g, name, b, "input"))
        return NULL;
    int r = a->t->ndim > b->t->ndim ? a->t->ndim : b->t->ndim;
    int64_t as[SC_MAX_DIMS], bs[SC_MAX_DIMS], ys[SC_MAX_DIMS];
    sc_k_align(a->t, r, as);
    sc_k_align(b->t, r, bs);
    for (int d = 0; d < r; d++) {
        if (as[d] != bs[d] && as[d] != 1 && bs[d] != 1)
            return shape_error(g, name, a, b);
        ys[d] = as[d] == 1 ? bs[d] : as[d];
    }
    sc_var *y = sc__out(g, SC_F32, r, ys);
    if (!y)
        return NULL;
    SC_NN_TRY(g, sc_k_math_binary(bop, y->t, a->t, b->t));
    sc_var *in[2] = {a, b};
    sc__record(g, y, name, bw, 2, in);
    return y;
}

sc_var *sc_nn_add(sc_graph *g, sc_var *a, sc_var *b) { return binary(g, a, b, SC_BOP_ADD, add_bw); }
sc_var *sc_nn_sub(sc_graph *g, sc_var *a, sc_var *b) { return binary(g, a, b, SC_BOP_SUB, sub_bw); }
sc_var *sc_nn_mul(sc_graph *g, sc_var *a, sc_var *b) { return binary(g, a, b, SC_BOP_MUL, mul_bw); }
sc_var *sc_nn_div(sc_graph *g, sc_var *a, sc_var *b) { return binary(g, a, b, SC_BOP_DIV, div_bw); }

static sc_var *to_shape_of(sc_graph *g, sc_var *grad, const sc_var *like)
{
    return sc_nn_sum_to(g, grad, like->t->ndim, like->t->shape);
}

static void add_bw(sc_graph *g, sc_node *n, sc_var *gy, sc_var **gin)
{
    if (n->need[0]) gin[0] = to_shape_of(g, gy, n->in[0]);
    if (n->need[1]) gin[1] = to_shape_of(g, gy, n->in[1]);
}

static void sub_bw(sc_graph *g, sc_node *n, sc_var *gy, sc_var **gin)
{
    if (n->need[0]) gin[0] = to_shape_of(g, gy, n->in[0]);
    if (n->need[1]) gin[1] = sc_nn_scale(g, to_shape_of(g, gy, n->in[1]), -1.0f);
}

static void mul_bw(sc_graph *g, sc_node *n, sc_var *gy, sc_var **gin)
{
    if (n->need[0]) gin[0] = to_shape_of(g, sc_nn_mul(g, gy, n->in[1]), n->in[0]);
    if (n->need[1]) gin[1] = to_shape_of(g, sc_nn_mul(g, gy, n->in[0]), n->in[1]);
}

static void div_bw(sc_graph *g, sc_node *n, sc_var *gy, sc_var **gin)
{
    /* y = a / b: da = gy / b, db = -gy * y / b */
    if (n->need[0]) gin[0] = to_shape_of(g, sc_nn_div(g, gy, n->in[1]), n->in[0]);
    if (n->need[1])
        gin[1] = sc_nn_scale(g, to_shape_of(g, sc_nn_div(g, sc_nn_mul(g, gy, n->out), n->in[1]),
                                            n->in[1]),
                             -1.0f);
}

/* ---- unary ops -------------------------------------------------------------- */

static sc_var *unary_raw(sc_graph *g, sc_var *x, int uop, float p)
{
        if (!sc__input_f32(g, "unary op", x, "input"))
        return NULL;
    sc_var *y = sc__out_like(g, x);
    if (!y)
        return NULL;
    SC_NN_TRY(g, sc_k_math_unary(uop, y->t, x->t, p));
    return y;
}

static sc_var *unary(sc_graph *g, sc_var *x, int uop, float p, sc_backward_fn bw)
{
    sc_var *y = unary_raw(g, x, uop, p);
    if (y && bw) {
        sc_node *n = sc__record(g, y, sc_k_math_uop_name(uop), bw, 1, &x);
        if (n)
            n->fp[0] = p;
    }
    return y;
}

/* The backward of a pointwise op as an op of its own, (gy, x) -> y by one
 * kernel (relu's mask, GELU's gy * gelu'(x)), recorded as `name` with
 * backward bw when the pass records; op names the checks' messages. */
static sc_var *pointwise_grad(sc_graph *g, const char *op, const char *name, sc_var *gy,
                              sc_var *x,
                              sc_status (*kernel)(sc_tensor *, const sc_tensor *,
                                                  const sc_tensor *),
                              sc_backward_fn bw)
{
    SC_NN_CHECK(g, 2, gy, x);
    if (gy->t->numel != x->t->numel)
        return shape_error(g, op, gy, x);
    sc_var *y = sc__out_like(g, x);
    if (!y)
        return NULL;
    SC_NN_TRY(g, kernel(y->t, gy->t, x->t));
    sc_var *in[2] = {gy, x};
    sc__record(g, y, name, bw, 2, in);
    return y;
}

static sc_var *relu_mask(sc_graph *g, sc_var *gy, sc_var *x);

static void relu_mask_bw(sc_graph *g, sc_node *n, sc_var *gg, sc_var **gin)
{
    /* linear in gy with the same mask; d/dx is zero almost everywhere */
    if (n->need[0])
        gin[0] = relu_mask(g, gg, n->in[1]);
}

/* gy where x > 0, else 0: relu's backward as one differentiable op. */
static sc_var *relu_mask(sc_graph *g, sc_var *gy, sc_var *x)
{
    return pointwise_grad(g, "relu backward", "relu_mask", gy, x, sc_k_math_relu_mask,
                          relu_mask_bw);
}

static void relu_bw(sc_graph *g, sc_node *n, sc_var *gy, sc_var **gin)
{
    gin[0] = relu_mask(g, gy, n->in[0]);
}
static void abs_bw(sc_graph *g, sc_node *n, sc_var *gy, sc_var **gin)
{
    gin[0] = sc_nn_mul(g, gy, unary_raw(g, n->in[0], SC_UOP_SIGN, 0));
}
static void exp_bw(sc_graph *g, sc_node *n, sc_var *gy, sc_var **gin)
{
    gin[0] = sc_nn_mul(g, gy, n->out);
}
static void log_bw(sc_graph *g, sc_node *n, sc_var *gy, sc_var **gin)
{
    gin[0] = sc_nn_div(g, gy, n->in[0]);
}
static void rsqrt_bw(sc_graph *g, sc_node *n, sc_var *gy, sc_var **gin)
{
    sc_var *y = n->out; /* d/dx x^-1/2 = -1/2 y^3 */
    gin[0] = sc_nn_scale(g, sc_nn_mul(g, gy, sc_nn_mul(g, y, sc_nn_mul(g, y, y))), -0.5f);
}
static void gelu3_bw(sc_graph *g, sc_node *n, sc_var *gy, sc_var **gin)
{
    (void)gy; (void)gin;
    sc__fail(g, sc_error_set(SC_ERR_UNSUPPORTED,
                             "GELU: derivatives beyond the third order are not implemented"));
    (void)n;
}
static void gelu2_bw(sc_graph *g, sc_node *n, sc_var *gy, sc_var **gin)
{
    gin[0] = sc_nn_mul(g, gy, unary(g, n->in[0], SC_UOP_GELU3, 0, gelu3_bw));
}
static sc_var *gelu_grad(sc_graph *g, sc_var *gy, sc_var *x);

/* gelu_grad's backward, given gg: d/dgy = gelu_grad(gg, x) (linear in gy),
 * d/dx = gg * gy * gelu''(x); one kernel for both when the pass does not
 * record, else recorded ops (differentiable again up to GELU's third
 * derivative). */
static void gelu_grad_bw(sc_graph *g, sc_node *n, sc_var *gg, sc_var **gin)
{
    sc_var *gy = n->in[0], *x = n->in[1];
    if (g->recording) {
        if (n->need[0])
            gin[0] = gelu_grad(g, gg, x);
        if (n->need[1])
            gin[1] = sc_nn_mul(g, sc_nn_mul(g, gg, gy), unary(g, x, SC_UOP_GELU2, 0, gelu2_bw));
        return;
    }
    if (gg->t->numel != x->t->numel) {
        shape_error(g, "gelu backward", gg, x);
        return;
    }
    sc_var *dgy = sc__out_like(g, gy), *dx = sc__out_like(g, x);
    if (!dgy || !dx)
        return;
    sc_status st = sc_k_math_gelu_backward2(dgy->t, dx->t, gg->t, gy->t, x->t);
    if (st != SC_OK) {
        sc__fail(g, st);
        return;
    }
    gin[0] = n->need[0] ? dgy : NULL;
    gin[1] = n->need[1] ? dx : NULL;
}

/* gy * gelu'(x): GELU's backward as one differentiable op (one fused
 * kernel), recorded when the backward records. */
static sc_var *gelu_grad(sc_graph *g, sc_var *gy, sc_var *x)
{
    return pointwise_grad(g, "gelu backward", "gelu_grad", gy, x, sc_k_math_gelu_backward,
                          gelu_grad_bw);
}

static void gelu_bw(sc_graph *g, sc_node *n, sc_var *gy, sc_var **gin)
{
    gin[0] = gelu_grad(g, gy, n->in[0]);
}
static void scale_bw(sc_graph *g, sc_node *n, sc_var *gy, sc_var **gin)
{
    gin[0] = sc_nn_scale(g, gy, n->fp[0]);
}
static void adds_bw(sc_graph *g, sc_node *n, sc_var *gy, sc_var **gin)
{
    (void)g; (void)n;
    gin[0] = gy;
}
static void pow_bw(sc_graph *g, sc_node *n, sc_var *gy, sc_var **gin)
{
    float p = n->fp[0];
    gin[0] = sc_nn_scale(g, sc_nn_mul(g, gy, sc_nn_pow(g, n->in[0], p - 1.0f)), p);
}

sc_var *sc_nn_relu(sc_graph *g, sc_var *x) { return unary(g, x, SC_UOP_RELU, 0, relu_bw); }
sc_var *sc_nn_gelu(sc_graph *g, sc_var *x) { return unary(g, x, SC_UOP_GELU, 0, gelu_bw); }
sc_var *sc_nn_abs(sc_graph *g, sc_var *x) { return unary(g, x, SC_UOP_ABS, 0, abs_bw); }
sc_var *sc_nn_exp(sc_graph *g, sc_var *x) { return unary(g, x, SC_UOP_EXP, 0, exp_bw); }
sc_var *sc_nn_log(sc_graph *g, sc_var *x) { return unary(g, x, SC_UOP_LOG, 0, log_bw); }
sc_var *sc_nn_rsqrt(sc_graph *g, sc_var *x) { return unary(g, x, SC_UOP_RSQRT, 0, rsqrt_bw); }
sc_var *sc_nn_scale(sc_graph *g, sc_var *x, float a) { return unary(g, x, SC_UOP_SCALE, a, scale_bw); }
sc_var *sc_nn_add_scalar(sc_graph *g, sc_var *x, float c) { return unary(g, x, SC_UOP_ADDS, c, adds_bw); }
sc_var *sc_nn_pow(sc_graph *g, sc_var *x, float p) { return unary(g, x, SC_UOP_POW, p, pow_bw); }

sc_var *sc_nn_full_like(sc_graph *g, sc_var *x, float value)
{
    SC_NN_CHECK(g, 1, x);
    sc_var *y = sc__out_like(g, x);
    if (!y)
        return NULL;
    SC_NN_TRY(g, sc_tensor_fill(y->t, value));
    return y;
}

/* ---- shapes and reductions ------------------------------------------------ */

static void reshape_bw(sc_graph *g, sc_node *n, sc_var *gy, sc_var **gin)
{
    gin[0] = sc_nn_reshape(g, gy, n->in[0]->t->ndim, n->in[0]->t->shape);
}

sc_var *sc_nn_reshape(sc_graph *g, sc_var *x, int ndim, const int64_t *shape)
{
    SC_NN_CHECK(g, 1, x);
    sc_tensor *view;
    SC_NN_TRY(g, sc_tensor_reshape(x->t, ndim, shape, &view));
    sc_var *y = sc_var_wrap(g, view, false);
    if (!y)
        return NULL;
    sc__record(g, y, "reshape", reshape_bw, 1, &x);
    return y;
}

static void expand_bw(sc_graph *g, sc_node *n, sc_var *gy, sc_var **gin)
{
    gin[0] = to_shape_of(g, gy, n->in[0]);
}

static void sum_to_bw(sc_graph *g, sc_node *n, sc_var *gy, sc_var **gin)
{
    gin[0] = sc_nn_expand(g, gy, n->in[0]->t->ndim, n->in[0]->t->shape);
}

sc_var *sc_nn_expand(sc_graph *g, sc_var *x, int ndim, const int64_t *shape)
{
        if (!sc__input_f32(g, "expand", x, "input"))
        return NULL;
    if (same_shape(x->t, ndim, shape))
        return x;
    int64_t xs[SC_MAX_DIMS];
    if (ndim < x->t->ndim || ndim > SC_MAX_DIMS)
        goto bad;
    sc_k_align(x->t, ndim, xs);
    for (int d = 0; d < ndim; d++)
        if (xs[d] != shape[d] && xs[d] != 1)
            goto bad;
    sc_var *y = sc__out(g, SC_F32, ndim, shape);
    if (!y)
        return NULL;
    SC_NN_TRY(g, sc_k_math_binary(SC_BOP_COPY, y->t, x->t, NULL));
    sc__record(g, y, "expand", expand_bw, 1, &x);
    return y;
bad: {
    char b[96];
    return sc__fail(g, sc_error_set(SC_ERR_INVALID_ARG, "expand: %s cannot broadcast to rank %d",
                                    sc__shape(x, b, sizeof b), ndim));
}
}

sc_var *sc_nn_sum_to(sc_graph *g, sc_var *x, int ndim, const int64_t *shape)
{
        if (!sc__input_f32(g, "sum_to", x, "input"))
        return NULL;
    if (same_shape(x->t, ndim, shape))
        return x;
    int r = x->t->ndim;
    if (ndim > r)
        goto bad;
    /* target aligned to x's rank */
    int64_t ts[SC_MAX_DIMS];
    for (int i = 0; i < r; i++)
        ts[i] = i < r - ndim ? 1 : shape[i - (r - ndim)];
    for (int d = 0; d < r; d++)
        if (ts[d] != x->t->shape[d] && ts[d] != 1)
            goto bad;
    sc_var *y = sc__out(g, SC_F32, ndim, shape);
    if (!y)
        return NULL;
    SC_NN_TRY(g, sc_k_math_sum_to(y->t, x->t));
    sc__record(g, y, "sum_to", sum_to_bw, 1, &x);
    return y;
bad: {
    char b[96];
    return sc__fail(g, sc_error_set(SC_ERR_INVALID_ARG, "sum_to: %s cannot be summed to rank %d",
                                    sc__shape(x, b, sizeof b), ndim));
}
}

static void sum_bw(sc_graph *g, sc_node *n, sc_var *gy, sc_var **gin)
{
    gin[0] = sc_nn_expand(g, gy, n->in[0]->t->ndim, n->in[0]->t->shape);
}

sc_var *sc_nn_sum(sc_graph *g, sc_var *x)
{
        if (!sc__input_f32(g, "sum", x, "input"))
        return NULL;
    int64_t one = 1;
    sc_var *y = sc__out(g, SC_F32, 1, &one);
    if (!y)
        return NULL;
    SC_NN_TRY(g, sc_op_reduce(y->t, x->t, SC_REDUCE_SUM));
    sc__record(g, y, "sum", sum_bw, 1, &x);
    return y;
}

sc_var *sc_nn_mean(sc_graph *g, sc_var *x)
{
    SC_NN_CHECK(g, 1, x);
    return sc_nn_scale(g, sc_nn_sum(g, x), 1.0f / (float)(x->t->numel ? x->t->numel : 1));
}

sc_var *sc_nn_sum_axis(sc_graph *g, sc_var *x, int axis)
{
    SC_NN_CHECK(g, 1, x);
    int r = x->t->ndim, ax = axis < 0 ? axis + r : axis;
    if (ax < 0 || ax >= r)
        return sc__fail(g, sc_error_set(SC_ERR_INVALID_ARG, "sum_axis: axis %d of a rank-%d tensor",
                                        axis, r));
    int64_t s[SC_MAX_DIMS];
    memcpy(s, x->t->shape, sizeof s);
    s[ax] = 1;
    return sc_nn_sum_to(g, x, r, s);
}

sc_var *sc_nn_mean_axis(sc_graph *g, sc_var *x, int axis)
{
    SC_NN_CHECK(g, 1, x);
    int64_t len = sc_tensor_dim(x->t, axis);
    return sc_nn_scale(g, sc_nn_sum_axis(g, x, axis), 1.0f / (float)(len > 0 ? len : 1));
}

static void permute_bw(sc_graph *g, sc_node *n, sc_var *gy, sc_var **gin)
{
    int inv[4];
    for (int i = 0; i < (int)n->ip[4]; i++)
        inv[n->ip[i]] = i;
    gin[0] = sc_nn_permute(g, gy, inv);
}

sc_var *sc_nn_permute(sc_graph *g, sc_var *x, const int *perm)
{
        if (!sc__input_f32(g, "permute", x, "input"))
        return NULL;
    int r = x->t->ndim;
    if (r > 4)
        return sc__fail(g, sc_error_set(SC_ERR_UNSUPPORTED, "permute: rank %d > 4", r));
    int seen[4] = {0};
    for (int i = 0; i < r; i++) {
        if (perm[i] < 0 || perm[i] >= r || seen[perm[i]]++)
            return sc__fail(g, sc_error_set(SC_ERR_INVALID_ARG, "permute: invalid permutation"));
    }
    int64_t ys[SC_MAX_DIMS];
    for (int i = 0; i < r; i++)
        ys[i] = x->t->shape[perm[i]];
    sc_var *y = sc__out(g, SC_F32, r, ys);
    if (!y)
        return NULL;
    SC_NN_TRY(g, sc_k_math_permute(y->t, x->t, perm));
    sc_node *nd = sc__record(g, y, "permute", permute_bw, 1, &x);
    if (nd) {
        for (int i = 0; i < r; i++)
            nd->ip[i] = perm[i];
        nd->ip[4] = r;
    }
    return y;
}

/* ---- matmul ----------------------------------------------------------------- */

static void matmul_bw(sc_graph *g, sc_node *n, sc_var *gy, sc_var **gin)
{
    sc_var *a = n->in[0], *b = n->in[1];
    bool ta = n->ip[0], tb = n->ip[1];
    if (n->need[0]) {
        if (!ta)
            gin[0] = sc_nn_matmul(g, gy, b, false, !tb);  /* gC op(B)^T */
        else
            gin[0] = sc_nn_matmul(g, b, gy, tb, true);    /* op(B) gC^T */
    }
    if (n->need[1]) {
        if (!tb)
            gin[1] = sc_nn_matmul(g, a, gy, !ta, false);  /* op(A)^T gC */
        else
            gin[1] = sc_nn_matmul(g, gy, a, true, ta);    /* gC^T op(A) */
    }
}

sc_var *sc_nn_matmul(sc_graph *g, sc_var *a, sc_var *b, bool ta, bool tb)
{
    SC_NN_CHECK(g, 2, a, b);
    if (!sc__check_f32(g, "matmul", a, "input") || !sc__check_f32(g, "matmul", b, "input"))
        return NULL;
    int r = a->t->ndim;
    if ((r != 2 && r != 3) || b->t->ndim != r ||
        (r == 3 && a->t->shape[0] != b->t->shape[0]))
        return shape_error(g, "matmul", a, b);
    const int64_t *as = a->t->shape + (r - 2), *bs = b->t->shape + (r - 2);
    size_t m = (size_t)(ta ? as[1] : as[0]), k = (size_t)(ta ? as[0] : as[1]);
    size_t kb = (size_t)(tb ? bs[1] : bs[0]), nn = (size_t)(tb ? bs[0] : bs[1]);
    if (k != kb)
        return shape_error(g, "matmul", a, b);
    size_t batch = r == 3 ? (size_t)a->t->shape[0] : 1;
    int64_t ys[3] = {(int64_t)batch, (int64_t)m, (int64_t)nn};
    sc_var *y = sc__out(g, SC_F32, r, r == 3 ? ys : ys + 1);
    if (!y)
        return NULL;
    sc_k_mat ma = {a->t, 0, (size_t)as[1], (size_t)(as[0] * as[1])};
    sc_k_mat mb = {b->t, 0, (size_t)bs[1], (size_t)(bs[0] * bs[1])};
    sc_k_mat mc = {y->t, 0, nn, m * nn};
    SC_NN_TRY(g, sc_k_gemm(ta, tb, m, nn, k, 1.0f, ma, mb, mc, batch));
    sc_var *in[2] = {a, b};
    sc_node *nd = sc__record(g, y, "matmul", matmul_bw, 2, in);
    if (nd) {
        nd->ip[0] = ta;
        nd->ip[1] = tb;
    }
    return y;
}

sc_var *sc_nn_linear(sc_graph *g, sc_var *x, sc_var *w, sc_var *b)
{
    SC_NN_CHECK(g, 2, x, w);
    int r = x->t->ndim;
    if (r < 1 || w->t->ndim != 2 || x->t->shape[r - 1] != w->t->shape[1])
        return shape_error(g, "linear", x, w);
    int64_t k = x->t->shape[r - 1], nout = w->t->shape[0];
    int64_t m = x->t->numel / (k ? k : 1);
    int64_t s2[2] = {m, k};
    sc_var *x2 = r == 2 ? x : sc_nn_reshape(g, x, 2, s2);
    sc_var *y = sc_nn_matmul(g, x2, w, false, true);
    if (b)
        y = sc_nn_add(g, y, b);
    if (r == 2 || !y)
        return y;
    int64_t ys[SC_MAX_DIMS];
    memcpy(ys, x->t->shape, sizeof ys);
    ys[r - 1] = nout;
    return sc_nn_reshape(g, y, r, ys);
}
