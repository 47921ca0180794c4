/* spurcl: differentiable ops on autodiff variables (see autograd.h).
 *
 * Every op returns a new variable of the graph, or NULL after recording an
 * error in the graph (sc_graph_status). Float32, row-major, NCHW images.
 * Binary ops broadcast NumPy-style (right-aligned, extents equal or 1). */
#ifndef SPURCL_NN_H
#define SPURCL_NN_H

#include "spurcl/autograd.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- elementwise and shape ------------------------------------------ */
SC_API sc_var *sc_nn_add(sc_graph *g, sc_var *a, sc_var *b);
SC_API sc_var *sc_nn_sub(sc_graph *g, sc_var *a, sc_var *b);
SC_API sc_var *sc_nn_mul(sc_graph *g, sc_var *a, sc_var *b);
SC_API sc_var *sc_nn_div(sc_graph *g, sc_var *a, sc_var *b);
SC_API sc_var *sc_nn_scale(sc_graph *g, sc_var *x, float alpha);
SC_API sc_var *sc_nn_add_scalar(sc_graph *g, sc_var *x, float c);
SC_API sc_var *sc_nn_pow(sc_graph *g, sc_var *x, float p);    /* x^p, p constant */
SC_API sc_var *sc_nn_relu(sc_graph *g, sc_var *x);
SC_API sc_var *sc_nn_gelu(sc_graph *g, sc_var *x);            /* exact (erf) form */
SC_API sc_var *sc_nn_abs(sc_graph *g, sc_var *x);
SC_API sc_var *sc_nn_exp(sc_graph *g, sc_var *x);
SC_API sc_var *sc_nn_log(sc_graph *g, sc_var *x);
SC_API sc_var *sc_nn_rsqrt(sc_graph *g, sc_var *x);
/* A constant of x's shape filled with `value`. */
SC_API sc_var *sc_nn_full_like(sc_graph *g, sc_var *x, float value);
SC_API sc_var *sc_nn_reshape(sc_graph *g, sc_var *x, int ndim, const int64_t *shape);
/* Broadcast x to `shape` / sum x down to `shape` (the inverse pair). */
SC_API sc_var *sc_nn_expand(sc_graph *g, sc_var *x, int ndim, const int64_t *shape);
SC_API sc_var *sc_nn_sum_to(sc_graph *g, sc_var *x, int ndim, const int64_t *shape);
/* Sum / mean of every element (a one-element result of shape [1]). */
SC_API sc_var *sc_nn_sum(sc_graph *g, sc_var *x);
SC_API sc_var *sc_nn_mean(sc_graph *g, sc_var *x);
/* Sum / mean over one axis, the axis kept with extent 1. */
SC_API sc_var *sc_nn_sum_axis(sc_graph *g, sc_var *x, int axis);
SC_API sc_var *sc_nn_mean_axis(sc_graph *g, sc_var *x, int axis);
/* Axes permuted (rank <= 4): y.shape[i] = x.shape[perm[i]]. */
SC_API sc_var *sc_nn_permute(sc_graph *g, sc_var *x, const int *perm);

/* ---- linear algebra --------------------------------------------------- */
/* op(a) @ op(b) for rank-2 operands, or batched over the leading axis for
 * rank-3 operands; op transposes the last two axes when ta / tb is set. */
SC_API sc_var *sc_nn_matmul(sc_graph *g, sc_var *a, sc_var *b, bool ta, bool tb);
/* x[..., K] @ w[N, K]^T + b[N] (b may be NULL), PyTorch's nn.Linear. */
SC_API sc_var *sc_nn_linear(sc_graph *g, sc_var *x, sc_var *w, sc_var *b);

#ifdef __cplusplus
}
#endif

#include "spurcl/nn_conv.h"
#include "spurcl/nn_layers.h"
#include "spurcl/nn_loss.h"

#endif
