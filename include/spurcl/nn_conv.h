/* spurcl: convolution and pooling on NCHW float32 variables, differentiable
 * to second order (the backward ops are themselves differentiable ops). */
#ifndef SPURCL_NN_CONV_H
#define SPURCL_NN_CONV_H

#include "spurcl/autograd.h"

#ifdef __cplusplus
extern "C" {
#endif

/* x [N,C,H,W], w [O,C,KH,KW], b [O] or NULL; square stride and zero padding.
 * Output [N,O,(H+2p-KH)/s+1,(W+2p-KW)/s+1]. Also the ViT patch embedding. */
SC_API sc_var *sc_nn_conv2d(sc_graph *g, sc_var *x, sc_var *w, sc_var *b, int stride, int pad);
/* Max / average over k x k windows with the given stride, no padding
 * (floor mode, as PyTorch's default). Max's gradient goes to the first
 * maximal element of each window. */
SC_API sc_var *sc_nn_maxpool2d(sc_graph *g, sc_var *x, int k, int stride);
SC_API sc_var *sc_nn_avgpool2d(sc_graph *g, sc_var *x, int k, int stride);
/* sc_nn_maxpool2d(sc_nn_conv2d(x, w, b, stride, pad), k, pool_stride): the
 * same values and gradients of every order, bit for bit but, in a backward
 * pass that does not record on a CPU device, for the bias's gradient and
 * that of a filter of at most 32 taps (C*KH*KW; a first layer's): the same
 * terms summed in another order. On a CPU device the pooling reads the
 * convolution's product directly, and the full-size output and its
 * gradient are made only where a recording backward needs them. */
SC_API sc_var *sc_nn_conv2d_maxpool(sc_graph *g, sc_var *x, sc_var *w, sc_var *b, int stride,
                                    int pad, int k, int pool_stride);
/* [N,C,H,W] -> [N,C]: mean over H and W. */
SC_API sc_var *sc_nn_global_avgpool(sc_graph *g, sc_var *x);

#ifdef __cplusplus
}
#endif
#endif
