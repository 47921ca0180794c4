/* Host of cl/attention.cl: fused scaled dot-product attention, forward and
 * backward, heads side by side in the last axis. The op, and the composed
 * path it keeps for recorded backward passes, is in src/nn/ops_attention.c. */
#include "kernels/kernels.h"

#include <stdio.h>

bool sc_k_attention_fused(const sc_context *ctx, int64_t e, int64_t f)
{
    if (ctx->forms.attention != SC_FORM_ATTN_TILES && ctx->forms.attention != SC_FORM_ATTN_ROWS)
        return false;
    return e >= 1 && f >= 1 && e <= SC_K_ATTN_MAX_HD && f <= SC_K_ATTN_MAX_HD;
}

/* The shapes of one call: q [B,T,H*E], k [B,S,H*E], v [B,S,H*F]. */
typedef struct attn_dims {
    cl_uint bh, t, s, h;
    int e, f;
    char defines[64];
} attn_dims;

static sc_status dims_of(const sc_tensor *q, const sc_tensor *k, const sc_tensor *v, int heads,
                         attn_dims *d)
{
    if (heads < 1 || q->ndim != 3 || k->ndim != 3 || v->ndim != 3 ||
        q->shape[2] % heads != 0 || v->shape[2] % heads != 0)
        return sc_error_set(SC_ERR_INVALID_ARG, "attention kernels: q, k, v must be [B,T,H*E], "
                                                "[B,S,H*E], [B,S,H*F] for %d heads", heads);
    const sc_tensor *all[3] = {q, k, v};
    for (int i = 0; i < 3; i++)
        SC_TRY(sc_check_f32(all[i], "attention", i == 0 ? "q" : i == 1 ? "k" : "v"));
    if (k->shape[1] == 0)
        return sc_error_set(SC_ERR_INVALID_ARG, "attention: no keys to attend to");
    d->h = (cl_uint)heads;
    d->bh = (cl_uint)(q->shape[0] * heads);
    d->t = (cl_uint)q->shape[1];
    d->s = (cl_uint)k->shape[1];
    d->e = (int)(q->shape[2] / heads);
    d->f = (int)(v->shape[2] / heads);
    /* tiles staged in local memory, or rows read in place (SC_ATTN_STAGE) */
    snprintf(d->defines, sizeof d->defines, "-DSC_ATTN_E=%d -DSC_ATTN_F=%d -DSC_ATTN_STAGE=%d",
             d->e, d->f, q->ctx->forms.attention == SC_FORM_ATTN_TILES ? 1 : 0);
    return SC_OK;
}

/* `name` over (rows rounded up, B*H): a work-item per row, work-groups of
 * up to 64 rows of one head (the rows they share staged tiles between). */
static sc_status launch(sc_context *ctx, const attn_dims *d, const char *name, cl_uint rows,
                        size_t nargs, const sc_karg *args)
{
    if (rows == 0 || d->bh == 0)
        return SC_OK;
    size_t wg = 1;
    while (wg < rows && wg < 64)
        wg <<= 1;
    while (wg > ctx->wg_size || wg > ctx->max_items[0])
        wg >>= 1;
    cl_kernel k;
    SC_TRY(sc_kernel_get(ctx, "attention", d->defines, name, &k));
    size_t global[2] = {sc_round_up(rows, wg), d->bh}, local[2] = {wg, 1};
    return sc_launch(ctx, k, name, 2, global, local, nargs, args);
}

/* Appends (buffer, offset) argument pairs for t[0..n) to args at *na. */
static void tensor_args(int n, const sc_tensor *const *t, cl_mem *m, cl_uint *off, sc_karg *args,
                        size_t *na)
{
    for (int i = 0; i < n; i++) {
        m[i] = t[i]->buf->mem;
        off[i] = (cl_uint)t[i]->offset;
        args[(*na)++] = SC_ARG(m[i]);
        args[(*na)++] = SC_ARG(off[i]);
    }
}

/* Kernel `name` over `rows` rows of each head: its tensor arguments t[0..nt)
 * as (buffer, offset) pairs, then the scalars every attention kernel takes. */
static sc_status run(const attn_dims *d, const char *name, cl_uint rows, int nt,
                     const sc_tensor *const *t, float scale)
{
    cl_mem m[8];
    cl_uint off[8];
    sc_karg args[20];
    size_t n = 0;
    tensor_args(nt, t, m, off, args, &n);
    args[n++] = SC_ARG(d->t);
    args[n++] = SC_ARG(d->s);
    args[n++] = SC_ARG(d->h);
    args[n++] = SC_ARG(scale);
    return launch(t[0]->ctx, d, name, rows, n, args);
}

sc_status sc_k_attention_forward(sc_tensor *o, sc_tensor *lse, const sc_tensor *q,
                                 const sc_tensor *k, const sc_tensor *v, int heads, float scale)
{
    attn_dims d;
    SC_TRY(dims_of(q, k, v, heads, &d));
    const sc_tensor *t[5] = {o, lse, q, k, v};
    return run(&d, "sc_attention_forward", d.t, 5, t, scale);
}

sc_status sc_k_attention_backward(sc_tensor *dq, sc_tensor *dk, sc_tensor *dv, sc_tensor *dd,
                                  const sc_tensor *q, const sc_tensor *k, const sc_tensor *v,
                                  const sc_tensor *o, const sc_tensor *lse, const sc_tensor *go,
                                  int heads, float scale)
{
    attn_dims d;
    SC_TRY(dims_of(q, k, v, heads, &d));
    const sc_tensor *tq[8] = {dq, dd, q, k, v, o, lse, go}, *tk[8] = {dk, dv, q, k, v, lse, dd, go};
    SC_TRY(run(&d, "sc_attention_backward_q", d.t, 8, tq, scale));
    return run(&d, "sc_attention_backward_kv", d.s, 8, tk, scale);
}
