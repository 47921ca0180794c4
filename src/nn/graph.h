/* Internal autodiff machinery shared by the op files (src/nn/ops_*.c).
 *
 * Writing an op:
 *   1. sc_var *sc_nn_foo(sc_graph *g, sc_var *x, ...) checks inputs with
 *      SC_NN_CHECK, makes its output with sc__out(), computes it with the
 *      kernels layer (kernels/kernels.h, through nn/ops_internal.h), and
 *      calls sc__record(g, out, "foo", foo_backward, n, inputs) (which only
 *      records when the graph is recording and an input requires grad).
 *   2. foo_backward(g, node, gy, gin) sets gin[i] for each i with
 *      node->need[i], using only sc_nn_* ops, so the backward is recorded
 *      when the engine runs with create_graph and can be differentiated.
 *   3. Errors: return sc__fail(g, sc_error_set(...)) (sticky, returns NULL). */
#ifndef SC_NN_GRAPH_H
#define SC_NN_GRAPH_H

#include "core/core.h"
#include "spurcl/autograd.h"

#define SC_MAX_IN 4

typedef struct sc_node sc_node;
typedef void (*sc_backward_fn)(sc_graph *g, sc_node *n, sc_var *gy, sc_var **gin);

struct sc_node {
    const char *name;
    sc_backward_fn backward;
    int n_in;
    sc_var *in[SC_MAX_IN];
    bool need[SC_MAX_IN];       /* set by the engine before backward */
    sc_var *out;
    sc_var *saved[2];           /* extra variables an op keeps (indices, outputs) */
    int64_t ip[8];              /* integer parameters */
    float fp[4];                /* float parameters */
};

struct sc_var {
    sc_tensor *t;
    sc_node *node;              /* creator; NULL for leaves */
    bool requires_grad;
    bool is_param;
    char *name;                 /* parameters only */
    /* scratch of the backward engine: valid in the pass they name (pass
     * numbers are unique in the process, so a parameter used by several
     * graphs never takes another graph's, perhaps freed, gradient) */
    sc_var *grad;
    uint64_t grad_pass;
    uint64_t mark_pass;
};

struct sc_graph {
    sc_context *ctx;
    sc_status status;
    bool recording;
    sc_var **vars;
    size_t nvars, vcap;
    sc_node **nodes;
    size_t nnodes, ncap;
};

/* Records status (first error wins) and returns NULL. */
sc_var *sc__fail(sc_graph *g, sc_status st);
/* A new graph variable with an uninitialised tensor of the given shape. */
sc_var *sc__out(sc_graph *g, sc_dtype dtype, int ndim, const int64_t *shape);
/* Records a node producing `out` if recording and any input requires grad;
 * returns the node (NULL when not recorded) so the op can save extras. */
sc_node *sc__record(sc_graph *g, sc_var *out, const char *name, sc_backward_fn bw, int n_in,
                    sc_var *const *in);
/* True when v is float32 and 32-bit addressable; else records the error
 * (naming op and the input) in the graph and returns false. */
bool sc__check_f32(sc_graph *g, const char *op, const sc_var *v, const char *name);

/* True when the graph is healthy, x non-NULL, float32 and 32-bit
 * addressable; else records the error (naming op and the input) and
 * returns false: the op's first line. */
bool sc__input_f32(sc_graph *g, const char *op, const sc_var *x, const char *name);
/* A new float32 output with x's shape (NULL after recording an error). */
static inline sc_var *sc__out_like(sc_graph *g, const sc_var *x)
{
    return sc__out(g, SC_F32, x->t->ndim, x->t->shape);
}

/* True when the graph is healthy and every given variable is non-NULL. */
bool sc__ok(sc_graph *g, int n, ...);

#define SC_NN_CHECK(g, n, ...)                                                 \
    do {                                                                       \
        if (!sc__ok((g), (n), __VA_ARGS__))                                    \
            return NULL;                                                       \
    } while (0)

/* A failing status (of a kernels-layer call) -> sticky graph error. */
#define SC_NN_TRY(g, expr)                                                     \
    do {                                                                       \
        sc_status sc_nn_st_ = (expr);                                          \
        if (sc_nn_st_ != SC_OK)                                                \
            return sc__fail((g), sc_nn_st_);                                   \
    } while (0)

static inline const char *sc__shape(const sc_var *v, char *buf, size_t n)
{
    return sc_tensor_shape_str(v->t, buf, n);
}

#endif
