/* spurcl: reverse-mode automatic differentiation with gradients of gradients.
 *
 * A graph records, in creation order, every op applied to variables that
 * require gradients. Every op's backward rule is itself written with
 * recorded ops, so a gradient computed with create_graph = true is a
 * variable of the same graph and can be differentiated again (PyTorch's
 * create_graph). This is what the ULE teacher needs: the gradient, with
 * respect to the parameters, of a loss built from an input gradient.
 *
 * Errors are sticky: an op that fails (or receives NULL) records the first
 * error in the graph and returns NULL; check sc_graph_status() once at the
 * end of a forward or backward pass. Variables created on a graph live until
 * sc_graph_reset() or sc_graph_free(); their buffers then go back to the
 * context's pool, so a training step allocates nothing after the first.
 *
 * Parameters are leaf variables that outlive graphs: sc_param_create()
 * makes one (with a name such as "conv1.weight"), and they are used on any
 * graph of the same context. */
#ifndef SPURCL_AUTOGRAD_H
#define SPURCL_AUTOGRAD_H

#include <stdbool.h>
#include <stdint.h>

#include "spurcl/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sc_graph sc_graph;
typedef struct sc_var sc_var;

SC_API sc_status sc_graph_create(sc_context *ctx, sc_graph **out);
SC_API void sc_graph_free(sc_graph *g);
/* Frees every variable created on the graph; parameters are kept. */
SC_API void sc_graph_reset(sc_graph *g);
/* The first error recorded since the last reset (SC_OK if none). */
SC_API sc_status sc_graph_status(const sc_graph *g);
SC_API sc_context *sc_graph_context(const sc_graph *g);
/* Whether ops record nodes (default true). Off: plain inference. */
SC_API void sc_graph_set_recording(sc_graph *g, bool on);
SC_API bool sc_graph_recording(const sc_graph *g);

/* A constant (no gradient) or a differentiable input variable that wraps
 * `t`; the graph takes ownership of t. */
SC_API sc_var *sc_var_wrap(sc_graph *g, sc_tensor *t, bool requires_grad);
/* A new variable with data uploaded from the host (float32). */
SC_API sc_var *sc_var_from_host(sc_graph *g, int ndim, const int64_t *shape, const float *data,
                                bool requires_grad);
/* A new leaf of the graph holding a copy of x's values, cut from x's
 * history (PyTorch's x.detach().clone().requires_grad_(requires_grad)):
 * gradients taken with respect to it stop there. */
SC_API sc_var *sc_var_detach(sc_graph *g, sc_var *x, bool requires_grad);
/* True for leaves: parameters and variables no recorded op produced. */
SC_API bool sc_var_is_leaf(const sc_var *v);
/* Integer labels and the like (int32, never differentiable). */
SC_API sc_var *sc_var_from_host_i32(sc_graph *g, int ndim, const int64_t *shape, const int32_t *data);
/* Class labels [n] (int32) for sc_nn_cross_entropy and sc_nn_saliency,
 * checked on the host before the upload: a label outside [0, num_classes)
 * records SC_ERR_INVALID_ARG in g, naming the sample, the label and the
 * range ("label 4 of sample 1 is outside [0, 4)"), and returns NULL. The
 * losses themselves do not read labels back from the device (that would be
 * a blocking sync per call); they turn a bad label into NaN instead. */
SC_API sc_var *sc_var_labels_from_host(sc_graph *g, int64_t n, const int32_t *labels,
                                       int num_classes);

/* A named parameter (float32 leaf that requires grad), owned by the caller. */
SC_API sc_status sc_param_create(sc_context *ctx, const char *name, int ndim, const int64_t *shape,
                                 sc_var **out);
SC_API void sc_param_free(sc_var *p);
SC_API const char *sc_var_name(const sc_var *v);

SC_API sc_tensor *sc_var_tensor(const sc_var *v);
SC_API bool sc_var_requires_grad(const sc_var *v);
SC_API int sc_var_ndim(const sc_var *v);
SC_API int64_t sc_var_dim(const sc_var *v, int axis);
SC_API int64_t sc_var_numel(const sc_var *v);

/* Gradients of sum_i <seeds[i], outputs[i]> with respect to inputs.
 * seeds[i] may be NULL for a one-element output (seed 1). grads[j] is NULL
 * when inputs[j] does not influence the outputs. With create_graph the
 * gradients are recorded variables of the graph (differentiable again);
 * without it they are constants. */
SC_API sc_status sc_grad(sc_graph *g, int n_out, sc_var *const *outputs, sc_var *const *seeds,
                         int n_in, sc_var *const *inputs, bool create_graph, sc_var **grads);

#ifdef __cplusplus
}
#endif
#endif
