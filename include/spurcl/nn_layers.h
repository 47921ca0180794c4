/* spurcl: softmax, normalisation, concat / slice and attention,
 * differentiable to second order where they can sit in a ULE model (the
 * losses: nn_loss.h). */
#ifndef SPURCL_NN_LAYERS_H
#define SPURCL_NN_LAYERS_H

#include "spurcl/autograd.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Softmax / log-softmax over the last axis. */
SC_API sc_var *sc_nn_softmax(sc_graph *g, sc_var *x);
SC_API sc_var *sc_nn_log_softmax(sc_graph *g, sc_var *x);

/* Layer norm over the last axis with affine w, b [D] (either may be NULL). */
SC_API sc_var *sc_nn_layer_norm(sc_graph *g, sc_var *x, sc_var *w, sc_var *b, float eps);
/* Batch norm per channel of x [N,C] or [N,C,H,W] (statistics over N,H,W).
 * training: batch statistics (biased variance), and running_mean /
 * running_var [C] (may be NULL) updated as PyTorch does (unbiased variance,
 * new = (1 - momentum) * old + momentum * batch). Otherwise the running
 * statistics are used. */
SC_API sc_var *sc_nn_batch_norm(sc_graph *g, sc_var *x, sc_var *w, sc_var *b, sc_tensor *running_mean,
                                sc_tensor *running_var, bool training, float momentum, float eps);

/* Concatenation along `axis`, and the slice [start, start + len) of `axis`. */
SC_API sc_var *sc_nn_concat(sc_graph *g, sc_var *a, sc_var *b, int axis);
SC_API sc_var *sc_nn_slice(sc_graph *g, sc_var *x, int axis, int64_t start, int64_t len);

/* Scaled dot-product attention on q [B,T,E], k [B,S,E], v [B,S,F]:
 * softmax(q k^T * scale) v. Runs as recorded ops, or with
 * SPURCL_ATTENTION=tiles|rows (sc_context_set_form "attention") as fused
 * flash-style kernels (head widths up to 128) whose plain backward is two
 * kernels and whose recorded backward is composed again; every form
 * differentiates to any order and agrees within float rounding. */
SC_API sc_var *sc_nn_sdpa(sc_graph *g, sc_var *q, sc_var *k, sc_var *v, float scale);
/* Multi-head self-attention on x [B,T,D] with timm's layout: qkv = x W^T + b
 * (W [3D,D]) split into q, k, v of [B,heads,T,D/heads], attention with scale
 * (D/heads)^-1/2, heads concatenated, then the projection proj_w [D,D],
 * proj_b [D]. Biases may be NULL. The fused forms read the heads in place
 * (no split or merge copies). */
SC_API sc_var *sc_nn_attention(sc_graph *g, sc_var *x, sc_var *qkv_w, sc_var *qkv_b, sc_var *proj_w,
                               sc_var *proj_b, int heads);

#ifdef __cplusplus
}
#endif
#endif
