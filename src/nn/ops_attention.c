/* Concat, slice, scaled dot-product attention and timm-layout multi-head
 * self-attention (include/spurcl/nn_layers.h).
 *
 * concat / slice are strided copies (src/kernels/shape.c) on x seen as
 * [outer, extent * inner]:
 *   concat backward = the two slices of the gradient;
 *   slice  backward = pad (the gradient placed in zeros), whose backward is
 *                     the slice again; so both differentiate to any order.
 * Attention: fused kernels or recorded ops, see its section below. */
#include "nn/ops_internal.h"
#include "spurcl/nn.h"

#include <math.h>
#include <string.h>


int sc__nn_axis(sc_graph *g, const char *op, const sc_var *x, int axis)
{
    int r = x->t->ndim, ax = axis < 0 ? axis + r : axis;
    if (ax < 0 || ax >= r) {
        sc__fail(g, sc_error_set(SC_ERR_INVALID_ARG, "%s: axis %d of a rank-%d tensor", op, axis,
                                 r));
        return -1;
    }
    return ax;
}

/* ---- slice and pad, its adjoint ---------------------------------------------- */

static void pad_bw(sc_graph *g, sc_node *n, sc_var *gy, sc_var **gin);
static void slice_bw(sc_graph *g, sc_node *n, sc_var *gy, sc_var **gin);

/* The slice x[start, start + extent) along axis ax, or (is_pad) its adjoint:
 * x placed at [start, start + len) of an axis of extent `extent`, zeros
 * elsewhere. Each is the other's backward, so both differentiate to any
 * order. */
static sc_var *range_op(sc_graph *g, sc_var *x, int ax, int64_t start, int64_t extent,
                        bool is_pad)
{
    SC_NN_CHECK(g, 1, x);
    int64_t ys[SC_MAX_DIMS];
    memcpy(ys, x->t->shape, sizeof ys);
    ys[ax] = extent;
    sc_var *y = sc__out(g, SC_F32, x->t->ndim, ys);
    if (!y)
        return NULL;
    SC_NN_TRY(g, is_pad ? sc_k_shape_pad(y->t, x->t, ax, start)
                        : sc_k_shape_slice(y->t, x->t, ax, start));
    sc_node *nd = sc__record(g, y, is_pad ? "slice_backward" : "slice",
                             is_pad ? pad_bw : slice_bw, 1, &x);
    if (nd) {
        nd->ip[0] = ax;
        nd->ip[1] = start;
    }
    return y;
}

static void pad_bw(sc_graph *g, sc_node *n, sc_var *gy, sc_var **gin)
{
    gin[0] = sc_nn_slice(g, gy, (int)n->ip[0], n->ip[1], n->in[0]->t->shape[n->ip[0]]);
}

static void slice_bw(sc_graph *g, sc_node *n, sc_var *gy, sc_var **gin)
{
    int ax = (int)n->ip[0];
    gin[0] = range_op(g, gy, ax, n->ip[1], n->in[0]->t->shape[ax], true);
}

sc_var *sc_nn_slice(sc_graph *g, sc_var *x, int axis, int64_t start, int64_t len)
{
        if (!sc__input_f32(g, "slice", x, "x"))
        return NULL;
    int ax = sc__nn_axis(g, "slice", x, axis);
    if (ax < 0)
        return NULL;
    int64_t ext = x->t->shape[ax];
    if (start < 0 || len < 1 || start > ext || len > ext - start) {
        char b[96];
        return sc__fail(g, sc_error_set(SC_ERR_INVALID_ARG,
                                        "slice: [%lld, %lld + %lld) is not a non-empty range of "
                                        "axis %d (extent %lld) of %s",
                                        (long long)start, (long long)start, (long long)len, axis,
                                        (long long)ext, sc__shape(x, b, sizeof b)));
    }
    if (start == 0 && len == ext)
        return x;
    return range_op(g, x, ax, start, len, false);
}

/* ---- concat ------------------------------------------------------------------------- */

static void concat_bw(sc_graph *g, sc_node *n, sc_var *gy, sc_var **gin)
{
    int ax = (int)n->ip[0];
    int64_t la = n->in[0]->t->shape[ax], lb = n->in[1]->t->shape[ax];
    /* an input with no extent along the axis gets no gradient (empty) */
    if (n->need[0] && la > 0)
        gin[0] = sc_nn_slice(g, gy, ax, 0, la);
    if (n->need[1] && lb > 0)
        gin[1] = sc_nn_slice(g, gy, ax, la, lb);
}

sc_var *sc_nn_concat(sc_graph *g, sc_var *a, sc_var *b, int axis)
{
    SC_NN_CHECK(g, 2, a, b);
    if (!sc__check_f32(g, "concat", a, "a") || !sc__check_f32(g, "concat", b, "b"))
        return NULL;
    int ax = sc__nn_axis(g, "concat", a, axis);
    if (ax < 0)
        return NULL;
    bool ok = a->t->ndim == b->t->ndim;
    for (int d = 0; ok && d < a->t->ndim; d++)
        ok = d == ax || a->t->shape[d] == b->t->shape[d];
    if (!ok) {
        char b1[96], b2[96];
        return sc__fail(g, sc_error_set(SC_ERR_INVALID_ARG,
                                        "concat: %s and %s differ outside axis %d",
                                        sc__shape(a, b1, sizeof b1), sc__shape(b, b2, sizeof b2),
                                        axis));
    }
    int64_t ys[SC_MAX_DIMS];
    memcpy(ys, a->t->shape, sizeof ys);
    ys[ax] = a->t->shape[ax] + b->t->shape[ax];
    sc_var *y = sc__out(g, SC_F32, a->t->ndim, ys);
    if (!y)
        return NULL;
    SC_NN_TRY(g, sc_check_f32(y->t, "concat", "the result"));
    SC_NN_TRY(g, sc_k_shape_concat(y->t, a->t, b->t, ax));
    sc_var *in[2] = {a, b};
    sc_node *nd = sc__record(g, y, "concat", concat_bw, 2, in);
    if (nd)
        nd->ip[0] = ax;
    return y;
}

/* ---- attention ------------------------------------------------------------------------- */

/* Attention runs over heads side by side in the last axis (q, k [B, T|S,
 * H*E], v [B,S,H*F], as the qkv linears make them), in one of two forms:
 *   fused     cl/attention.cl's flash-style kernels (sc_k_attention_*): the
 *             scores never reach memory, the heads are read in place (no
 *             split or merge copies), the backward is two kernels from the
 *             saved output and row log-sum-exp;
 *   composed  recorded ops: heads split, softmax(scale q k^T) v by batched
 *             matmuls and the softmax op, heads merged.
 * The fused node's backward is the fused kernels when the pass does not
 * record; a recording pass (create_graph: the ULE teacher's saliency)
 * recomputes the probabilities with recorded ops and writes the gradient
 * with them, so attention differentiates to any order either way. Both
 * forms give the same values (the tests run each). */

/* [B,T,H*hd] -> [B*H, T, hd] (head h takes features h*hd .. (h+1)*hd - 1) */
static sc_var *split_heads(sc_graph *g, sc_var *t, int64_t H)
{
    if (H == 1 || !t)
        return t;
    int64_t B = t->t->shape[0], T = t->t->shape[1], hd = t->t->shape[2] / H;
    int64_t s4[4] = {B, T, H, hd}, s3[3] = {B * H, T, hd};
    int perm[4] = {0, 2, 1, 3};
    return sc_nn_reshape(g, sc_nn_permute(g, sc_nn_reshape(g, t, 4, s4), perm), 3, s3);
}

/* [B*H, T, hd] -> [B,T,H*hd], heads concatenated in order */
static sc_var *merge_heads(sc_graph *g, sc_var *o, int64_t H)
{
    if (H == 1 || !o)
        return o;
    int64_t B = o->t->shape[0] / H, T = o->t->shape[1], hd = o->t->shape[2];
    int64_t s4[4] = {B, H, T, hd}, s3[3] = {B, T, H * hd};
    int perm[4] = {0, 2, 1, 3};
    return sc_nn_reshape(g, sc_nn_permute(g, sc_nn_reshape(g, o, 4, s4), perm), 3, s3);
}

/* The scores scale q k^T of one head per batch entry (q [N,T,E], k
 * [N,S,E]), recorded; the scale goes on whichever is smaller, q or the
 * scores. */
static sc_var *scores(sc_graph *g, sc_var *q, sc_var *k, float scale)
{
    if (!sc__ok(g, 2, q, k))
        return NULL;
    bool scale_q = q->t->shape[2] <= k->t->shape[1];
    sc_var *s = sc_nn_matmul(g, scale_q ? sc_nn_scale(g, q, scale) : q, k, false, true);
    return scale_q ? s : sc_nn_scale(g, s, scale);
}

static sc_var *attention_composed(sc_graph *g, sc_var *q, sc_var *k, sc_var *v, int64_t H,
                                  float scale)
{
    sc_var *p = sc_nn_softmax(g, scores(g, split_heads(g, q, H), split_heads(g, k, H),
                                               scale));
    return merge_heads(g, sc_nn_matmul(g, p, split_heads(g, v, H), false, false), H);
}

static void attention_bw(sc_graph *g, sc_node *n, sc_var *gy, sc_var **gin)
{
    sc_var *q = n->in[0], *k = n->in[1], *v = n->in[2];
    int64_t H = n->ip[0];
    float scale = n->fp[0];
    if (!g->recording) {
        sc_var *dq = sc__out_like(g, q), *dk = sc__out_like(g, k), *dv = sc__out_like(g, v);
        int64_t rows = n->saved[0]->t->numel;
        sc_var *dd = sc__out(g, SC_F32, 1, &rows);
        if (!dq || !dk || !dv || !dd)
            return;
        sc_status st = sc_k_attention_backward(dq->t, dk->t, dv->t, dd->t, q->t, k->t, v->t,
                                               n->out->t, n->saved[0]->t, gy->t, (int)H, scale);
        if (st != SC_OK) {
            sc__fail(g, st);
            return;
        }
        sc_var *d[3] = {dq, dk, dv};
        for (int i = 0; i < 3; i++)
            if (n->need[i])
                gin[i] = d[i];
        return;
    }
    /* recorded: P recomputed, dS = P * (dP - rowsum(dP * P)) (softmax's
     * backward op: one kernel, and one or two more when differentiated
     * again), dP = gy v^T */
    sc_var *qh = split_heads(g, q, H), *kh = split_heads(g, k, H), *gh = split_heads(g, gy, H);
    sc_var *p = sc_nn_softmax(g, scores(g, qh, kh, scale));
    if (n->need[2])
        gin[2] = merge_heads(g, sc_nn_matmul(g, p, gh, true, false), H);
    if (!n->need[0] && !n->need[1])
        return;
    sc_var *dp = sc_nn_matmul(g, gh, split_heads(g, v, H), false, true);
    sc_var *ds = sc__nn_softmax_backward(g, p, dp);
    if (n->need[0])
        gin[0] = merge_heads(g, sc_nn_scale(g, sc_nn_matmul(g, ds, kh, false, false), scale), H);
    if (n->need[1])
        gin[1] = merge_heads(g, sc_nn_scale(g, sc_nn_matmul(g, ds, qh, true, false), scale), H);
}

/* softmax(scale q k^T) v for each of H heads side by side in the last axis;
 * shapes checked by the caller. */
static sc_var *attention_heads(sc_graph *g, sc_var *q, sc_var *k, sc_var *v, int64_t H,
                               float scale)
{
    if (!sc__ok(g, 3, q, k, v))
        return NULL;
    int64_t B = q->t->shape[0], T = q->t->shape[1], S = k->t->shape[1];
    int64_t E = q->t->shape[2] / H, F = v->t->shape[2] / H;
    if (B * T * S == 0 || !sc_k_attention_fused(g->ctx, E, F))
        return attention_composed(g, q, k, v, H, scale);
    int64_t os[3] = {B, T, H * F}, rows = B * H * T;
    sc_var *o = sc__out(g, SC_F32, 3, os), *lse = sc__out(g, SC_F32, 1, &rows);
    if (!o || !lse)
        return NULL;
    SC_NN_TRY(g, sc_k_attention_forward(o->t, lse->t, q->t, k->t, v->t, (int)H, scale));
    sc_var *in[3] = {q, k, v};
    sc_node *nd = sc__record(g, o, "attention", attention_bw, 3, in);
    if (nd) {
        nd->saved[0] = lse;
        nd->ip[0] = H;
        nd->fp[0] = scale;
    }
    return o;
}

sc_var *sc_nn_sdpa(sc_graph *g, sc_var *q, sc_var *k, sc_var *v, float scale)
{
    SC_NN_CHECK(g, 3, q, k, v);
    const sc_tensor *qt = q->t, *kt = k->t, *vt = v->t;
    if (qt->ndim != 3 || kt->ndim != 3 || vt->ndim != 3 || kt->shape[0] != qt->shape[0] ||
        vt->shape[0] != qt->shape[0] || kt->shape[2] != qt->shape[2] ||
        vt->shape[1] != kt->shape[1]) {
        char b1[96], b2[96], b3[96];
        return sc__fail(g, sc_error_set(SC_ERR_INVALID_ARG,
                                        "sdpa: q %s, k %s, v %s must be [B,T,E], [B,S,E], [B,S,F]",
                                        sc__shape(q, b1, sizeof b1), sc__shape(k, b2, sizeof b2),
                                        sc__shape(v, b3, sizeof b3)));
    }
    if (!sc__check_f32(g, "sdpa", q, "q") || !sc__check_f32(g, "sdpa", k, "k") ||
        !sc__check_f32(g, "sdpa", v, "v"))
        return NULL;
    return attention_heads(g, q, k, v, 1, scale);
}

static bool check_param(sc_graph *g, const sc_var *p, const char *name, int ndim, int64_t d0,
                        int64_t d1)
{
    if (!p)
        return true;
    if (!sc__check_f32(g, "attention", p, name))
        return false;
    if (p->t->ndim != ndim || p->t->shape[0] != d0 || (ndim == 2 && p->t->shape[1] != d1)) {
        char b[96];
        if (ndim == 2)
            sc__fail(g, sc_error_set(SC_ERR_INVALID_ARG, "attention: %s is %s, expected [%lld, %lld]",
                                     name, sc__shape(p, b, sizeof b), (long long)d0,
                                     (long long)d1));
        else
            sc__fail(g, sc_error_set(SC_ERR_INVALID_ARG, "attention: %s is %s, expected [%lld]",
                                     name, sc__shape(p, b, sizeof b), (long long)d0));
        return false;
    }
    return true;
}

sc_var *sc_nn_attention(sc_graph *g, sc_var *x, sc_var *qkv_w, sc_var *qkv_b, sc_var *proj_w,
                        sc_var *proj_b, int heads)
{
    SC_NN_CHECK(g, 3, x, qkv_w, proj_w);
    if (!sc__check_f32(g, "attention", x, "x"))
        return NULL;
    char b1[96];
    if (x->t->ndim != 3 || x->t->shape[2] < 1)
        return sc__fail(g, sc_error_set(SC_ERR_INVALID_ARG, "attention: x must be [B,T,D], not %s",
                                        sc__shape(x, b1, sizeof b1)));
    int64_t D = x->t->shape[2];
    if (heads < 1 || D % heads != 0)
        return sc__fail(g, sc_error_set(SC_ERR_INVALID_ARG,
                                        "attention: %d heads do not divide the width %lld", heads,
                                        (long long)D));
    if (!check_param(g, qkv_w, "qkv weight", 2, 3 * D, D) ||
        !check_param(g, qkv_b, "qkv bias", 1, 3 * D, 0) ||
        !check_param(g, proj_w, "proj weight", 2, D, D) ||
        !check_param(g, proj_b, "proj bias", 1, D, 0))
        return NULL;
    int64_t H = heads, hd = D / heads;
    /* qkv = x W^T + b with W's rows ordered (q|k|v, head, feature), as timm's
     * reshape(B, T, 3, H, hd): one linear per third of W, each [B,T,D] with
     * the heads side by side, as attention_heads takes them. */
    sc_var *qkv[3];
    for (int i = 0; i < 3; i++) {
        sc_var *w = sc_nn_slice(g, qkv_w, 0, i * D, D);
        sc_var *b = qkv_b ? sc_nn_slice(g, qkv_b, 0, i * D, D) : NULL;
        qkv[i] = sc_nn_linear(g, x, w, b);
    }
    sc_var *o = attention_heads(g, qkv[0], qkv[1], qkv[2], H, 1.0f / sqrtf((float)hd));
    return sc_nn_linear(g, o, proj_w, proj_b);
}
