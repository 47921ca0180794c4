/* Internal helpers shared by the op files of src/nn/ (ops_*.c), beside the
 * engine's own header nn/graph.h. An op file checks its inputs, calls the
 * kernels layer (kernels/kernels.h) on the variables' tensors and records
 * its node; it never launches a kernel itself. */
#ifndef SC_NN_OPS_INTERNAL_H
#define SC_NN_OPS_INTERNAL_H

#include "kernels/kernels.h"
#include "nn/graph.h"

/* `axis` of x normalised to [0, rank) (negative counts from the end), or
 * -1 after recording an error naming op (ops_attention.c). */
int sc__nn_axis(sc_graph *g, const char *op, const sc_var *x, int axis);

/* Euclidean norm of each row over the last axis, kept as [..., 1]; its
 * gradient is 0 for a zero row (ops_contrastive.c). */
sc_var *sc__nn_row_norm(sc_graph *g, sc_var *x);

/* A constant [n, k] of the one-hot rows of the int32 indices [n]; a row
 * whose index is outside [0, k) is NaN (ops_saliency.c). */
sc_var *sc__nn_one_hot(sc_graph *g, const sc_tensor *idx, int64_t n, int64_t k);

/* y * (gy - sum(gy * y)) over the last axis (softmax's backward, given its
 * output y), one kernel, recorded and differentiable to any order
 * (ops_softmax.c); y and gy of the same shape. */
sc_var *sc__nn_softmax_backward(sc_graph *g, sc_var *y, sc_var *gy);

/* Max pooling fused with a convolution (ops_conv.c's conv2d_maxpool node),
 * over the convolution's output of shape [N, C, H, W] (`shape`), which is
 * never written (ops_pool.c):
 *  - the forward: the pooled output [N, C, OH, OW] and its int32 indices
 *    (*idx) from xT [C, N*H*W] (the convolution's channel-major result)
 *    plus the bias b [C] (NULL: none); records no node;
 *  - maxpool2d's recorded backward (gy, idx -> the [N, C, H, W] gradient,
 *    shaped as `like`), differentiable to any order;
 *  - the same backward straight into gT [C, N*H*W] (offset 0), for the
 *    convolution's GEMMs; the window was checked by the forward. */
sc_var *sc__nn_maxpool_cnp(sc_graph *g, const int64_t *shape, const sc_tensor *xT,
                           const sc_tensor *b, int k, int stride, sc_var **idx);
sc_var *sc__nn_maxpool_backward(sc_graph *g, sc_var *gy, sc_var *idx, const sc_var *like, int k,
                                int stride);
sc_status sc__nn_maxpool_scatter_cnp(sc_tensor *gT, const sc_var *gy, const sc_var *idx,
                                     const int64_t *shape, int k, int stride);

#endif
