/* The autodiff graph and the reverse-mode engine. The engine computes with
 * the kernels layer directly (a gradient sum, the seed of a scalar output),
 * not with the ops of src/nn/, so nothing here depends on an op file. */
#include "nn/graph.h"
#include "kernels/kernels.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

sc_status sc_graph_create(sc_context *ctx, sc_graph **out)
{
    sc_graph *g = calloc(1, sizeof *g);
    if (!g)
        return sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of host memory (graph)");
    g->ctx = ctx;
    g->recording = true;
    *out = g;
    return SC_OK;
}

void sc_graph_reset(sc_graph *g)
{
    for (size_t i = 0; i < g->nvars; i++) {
        sc_tensor_free(g->vars[i]->t);
        free(g->vars[i]);
    }
    for (size_t i = 0; i < g->nnodes; i++)
        free(g->nodes[i]);
    g->nvars = g->nnodes = 0;
    g->status = SC_OK;
}

void sc_graph_free(sc_graph *g)
{
    if (!g)
        return;
    sc_graph_reset(g);
    free(g->vars);
    free(g->nodes);
    free(g);
}

sc_status sc_graph_status(const sc_graph *g) { return g->status; }
sc_context *sc_graph_context(const sc_graph *g) { return g->ctx; }
void sc_graph_set_recording(sc_graph *g, bool on) { g->recording = on; }

bool sc_graph_recording(const sc_graph *g) { return g->recording; }

sc_var *sc__fail(sc_graph *g, sc_status st)
{
    if (g->status == SC_OK)
        g->status = st == SC_OK ? SC_ERR_STATE : st;
    return NULL;
}

bool sc__input_f32(sc_graph *g, const char *op, const sc_var *x, const char *name)
{
    return sc__ok(g, 1, x) && sc__check_f32(g, op, x, name);
}

bool sc__check_f32(sc_graph *g, const char *op, const sc_var *v, const char *name)
{
    sc_status st = sc_check_f32(v->t, op, name);
    if (st != SC_OK) {
        sc__fail(g, st);
        return false;
    }
    return true;
}

bool sc__ok(sc_graph *g, int n, ...)
{
    if (!g || g->status != SC_OK)
        return false;
    va_list ap;
    va_start(ap, n);
    bool ok = true;
    for (int i = 0; i < n; i++)
        if (!va_arg(ap, sc_var *))
            ok = false;
    va_end(ap);
    if (!ok)
        sc__fail(g, sc_error_set(SC_ERR_INVALID_ARG, "an op received a NULL variable"));
    return ok;
}

static sc_var *adopt(sc_graph *g, sc_tensor *t, bool requires_grad)
{
    if (g->nvars == g->vcap) {
        size_t cap = g->vcap ? g->vcap * 2 : 256;
        sc_var **v = realloc(g->vars, cap * sizeof *v);
        if (!v) {
            sc_tensor_free(t);
            return sc__fail(g, sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of host memory (graph)"));
        }
        g->vars = v;
        g->vcap = cap;
    }
    sc_var *v = calloc(1, sizeof *v);
    if (!v) {
        sc_tensor_free(t);
        return sc__fail(g, sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of host memory (graph)"));
    }
    v->t = t;
    v->requires_grad = requires_grad;
    g->vars[g->nvars++] = v;
    return v;
}

sc_var *sc_var_wrap(sc_graph *g, sc_tensor *t, bool requires_grad)
{
    if (!t)
        return sc__fail(g, sc_error_set(SC_ERR_INVALID_ARG, "sc_var_wrap: NULL tensor"));
    return adopt(g, t, requires_grad && t->dtype == SC_F32);
}

sc_var *sc_var_detach(sc_graph *g, sc_var *x, bool requires_grad)
{
    if (g->status != SC_OK)
        return NULL;
    if (!x)
        return sc__fail(g, sc_error_set(SC_ERR_INVALID_ARG, "sc_var_detach: NULL variable"));
    sc_tensor *t;
    sc_status st = sc_tensor_create(g->ctx, x->t->dtype, x->t->ndim, x->t->shape, &t);
    if (st == SC_OK && (st = sc_tensor_copy(t, x->t)) != SC_OK) {
        sc_tensor_free(t);
        return sc__fail(g, st);
    }
    if (st != SC_OK)
        return sc__fail(g, st);
    return adopt(g, t, requires_grad && t->dtype == SC_F32);
}

bool sc_var_is_leaf(const sc_var *v) { return v && !v->node; }

sc_var *sc__out(sc_graph *g, sc_dtype dtype, int ndim, const int64_t *shape)
{
    if (g->status != SC_OK)
        return NULL;
    sc_tensor *t;
    sc_status st = sc_tensor_create(g->ctx, dtype, ndim, shape, &t);
    if (st != SC_OK)
        return sc__fail(g, st);
    return adopt(g, t, false);
}

sc_var *sc_var_from_host(sc_graph *g, int ndim, const int64_t *shape, const float *data,
                         bool requires_grad)
{
    sc_var *v = sc__out(g, SC_F32, ndim, shape);
    if (!v)
        return NULL;
    SC_NN_TRY(g, sc_tensor_upload(v->t, data));
    v->requires_grad = requires_grad;
    return v;
}

sc_var *sc_var_from_host_i32(sc_graph *g, int ndim, const int64_t *shape, const int32_t *data)
{
    sc_var *v = sc__out(g, SC_I32, ndim, shape);
    if (!v)
        return NULL;
    SC_NN_TRY(g, sc_tensor_upload(v->t, data));
    return v;
}

sc_var *sc_var_labels_from_host(sc_graph *g, int64_t n, const int32_t *labels, int num_classes)
{
    if (g->status != SC_OK)
        return NULL;
    if (n < 0 || num_classes < 1 || (n > 0 && !labels))
        return sc__fail(g, sc_error_set(SC_ERR_INVALID_ARG,
                                        "labels: %lld labels of %d classes (need n >= 0, at "
                                        "least one class and the labels)",
                                        (long long)n, num_classes));
    for (int64_t i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= num_classes)
            return sc__fail(g, sc_error_set(SC_ERR_INVALID_ARG,
                                            "labels: label %d of sample %lld is outside [0, %d) "
                                            "(%d classes)",
                                            (int)labels[i], (long long)i, num_classes,
                                            num_classes));
    return sc_var_from_host_i32(g, 1, &n, labels);
}

sc_node *sc__record(sc_graph *g, sc_var *out, const char *name, sc_backward_fn bw, int n_in,
                    sc_var *const *in)
{
    if (!out || !g->recording)
        return NULL;
    bool any = false;
    for (int i = 0; i < n_in; i++)
        any |= in[i] && in[i]->requires_grad;
    if (!any)
        return NULL;
    if (g->nnodes == g->ncap) {
        size_t cap = g->ncap ? g->ncap * 2 : 256;
        sc_node **nn = realloc(g->nodes, cap * sizeof *nn);
        if (!nn) {
            sc__fail(g, sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of host memory (graph)"));
            return NULL;
        }
        g->nodes = nn;
        g->ncap = cap;
    }
    sc_node *n = calloc(1, sizeof *n);
    if (!n) {
        sc__fail(g, sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of host memory (graph)"));
        return NULL;
    }
    n->name = name;
    n->backward = bw;
    n->n_in = n_in;
    for (int i = 0; i < n_in; i++)
        n->in[i] = in[i];
    n->out = out;
    out->node = n;
    out->requires_grad = true;
    g->nodes[g->nnodes++] = n;
    return n;
}

/* ---- parameters ------------------------------------------------------- */

sc_status sc_param_create(sc_context *ctx, const char *name, int ndim, const int64_t *shape,
                          sc_var **out)
{
    *out = NULL;
    sc_var *p = calloc(1, sizeof *p);
    if (!p)
        return sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of host memory (parameter)");
    size_t len = strlen(name ? name : "") + 1;
    p->name = malloc(len);
    if (!p->name) {
        free(p);
        return sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of host memory (parameter)");
    }
    memcpy(p->name, name ? name : "", len);
    sc_status st = sc_tensor_zeros(ctx, SC_F32, ndim, shape, &p->t);
    if (st != SC_OK) {
        free(p->name);
        free(p);
        return sc_error_wrap(st, "parameter %s", name);
    }
    p->requires_grad = true;
    p->is_param = true;
    *out = p;
    return SC_OK;
}

void sc_param_free(sc_var *p)
{
    if (!p)
        return;
    sc_tensor_free(p->t);
    free(p->name);
    free(p);
}

const char *sc_var_name(const sc_var *v) { return v->name ? v->name : ""; }
sc_tensor *sc_var_tensor(const sc_var *v) { return v->t; }
bool sc_var_requires_grad(const sc_var *v) { return v->requires_grad; }
int sc_var_ndim(const sc_var *v) { return v->t->ndim; }
int64_t sc_var_dim(const sc_var *v, int axis) { return sc_tensor_dim(v->t, axis); }
int64_t sc_var_numel(const sc_var *v) { return v->t->numel; }

/* ---- the engine --------------------------------------------------------- */

/* d(a + b) = (gy, gy): the gradient sum is linear, so its backward passes
 * the cotangent on unchanged. */
static void grad_sum_bw(sc_graph *g, sc_node *n, sc_var *gy, sc_var **gin)
{
    (void)g;
    if (n->need[0])
        gin[0] = gy;
    if (n->need[1])
        gin[1] = gy;
}

/* a + b for two gradients of one variable (its shape, or its element
 * count), recorded when the engine runs with create_graph. */
static sc_var *grad_sum(sc_graph *g, sc_var *a, sc_var *b)
{
    if (!a || !b || g->status != SC_OK)
        return NULL;
    if (a->t->numel != b->t->numel) {
        char x[96], y[96];
        return sc__fail(g, sc_error_set(SC_ERR_STATE,
                                        "sc_grad: two gradients of one variable have shapes %s "
                                        "and %s",
                                        sc__shape(a, x, sizeof x), sc__shape(b, y, sizeof y)));
    }
    if (!sc__check_f32(g, "sc_grad", a, "a gradient") ||
        !sc__check_f32(g, "sc_grad", b, "a gradient"))
        return NULL;
    sc_var *y = sc__out_like(g, a);
    if (!y)
        return NULL;
    SC_NN_TRY(g, sc_k_math_binary(SC_BOP_ADD, y->t, a->t, b->t));
    sc_var *in[2] = {a, b};
    sc__record(g, y, "grad_sum", grad_sum_bw, 2, in);
    return y;
}

/* The seed of a scalar output: a constant 1 of its shape. */
static sc_var *ones_like(sc_graph *g, const sc_var *x)
{
    sc_var *y = sc__out_like(g, x);
    if (!y)
        return NULL;
    SC_NN_TRY(g, sc_tensor_fill(y->t, 1.0));
    return y;
}

static void accumulate(sc_graph *g, sc_var *v, sc_var *delta, uint64_t pass)
{
    if (!delta)
        return;
    if (v->grad_pass != pass || !v->grad) {
        v->grad = delta;
        v->grad_pass = pass;
    } else {
        v->grad = grad_sum(g, v->grad, delta);
    }
}

sc_status sc_grad(sc_graph *g, int n_out, sc_var *const *outputs, sc_var *const *seeds,
                  int n_in, sc_var *const *inputs, bool create_graph, sc_var **grads)
{
    for (int j = 0; j < n_in; j++)
        grads[j] = NULL;
    if (g->status != SC_OK)
        return g->status;
    for (int i = 0; i < n_out; i++)
        if (!outputs[i])
            return sc__fail(g, sc_error_set(SC_ERR_INVALID_ARG, "sc_grad: NULL output")), g->status;
    for (int j = 0; j < n_in; j++)
        if (!inputs[j])
            return sc__fail(g, sc_error_set(SC_ERR_INVALID_ARG, "sc_grad: NULL input")), g->status;

    /* One counter for every graph: a model's parameters outlive the graph
     * that last took their gradient, and a per-graph count restarting at 1
     * in the next graph would find a stale grad_pass equal to its own and
     * add to a freed gradient. */
    static _Atomic uint64_t passes;
    uint64_t pass = atomic_fetch_add(&passes, 1) + 1;
    size_t nnodes = g->nnodes; /* nodes made during this pass are not visited */

    /* Forward marking: which variables depend on a requested input. */
    for (int j = 0; j < n_in; j++)
        inputs[j]->mark_pass = pass;
    for (size_t k = 0; k < nnodes; k++) {
        sc_node *n = g->nodes[k];
        for (int i = 0; i < n->n_in; i++)
            if (n->in[i] && n->in[i]->mark_pass == pass) {
                n->out->mark_pass = pass;
                break;
            }
    }

    bool saved_rec = g->recording;
    g->recording = create_graph;

    for (int i = 0; i < n_out; i++) {
        sc_var *seed = seeds ? seeds[i] : NULL;
        if (!seed) {
            if (outputs[i]->t->numel != 1) {
                g->recording = saved_rec;
                char b[64];
                return sc__fail(g, sc_error_set(SC_ERR_INVALID_ARG,
                                                "sc_grad: output %d has shape %s: a seed is "
                                                "needed for a non-scalar output",
                                                i, sc__shape(outputs[i], b, sizeof b))),
                       g->status;
            }
            seed = ones_like(g, outputs[i]);
        } else if (seed->t->numel != outputs[i]->t->numel) {
            g->recording = saved_rec;
            return sc__fail(g, sc_error_set(SC_ERR_INVALID_ARG,
                                            "sc_grad: seed %d has %lld elements, its output %lld",
                                            i, (long long)seed->t->numel,
                                            (long long)outputs[i]->t->numel)),
                   g->status;
        }
        accumulate(g, outputs[i], seed, pass);
    }

    for (size_t k = nnodes; k-- > 0 && g->status == SC_OK;) {
        sc_node *n = g->nodes[k];
        sc_var *gy = n->out->grad_pass == pass ? n->out->grad : NULL;
        if (!gy || n->out->mark_pass != pass)
            continue;
        bool any = false;
        for (int i = 0; i < n->n_in; i++) {
            n->need[i] = n->in[i] && n->in[i]->requires_grad && n->in[i]->mark_pass == pass;
            any |= n->need[i];
        }
        if (!any)
            continue;
        sc_var *gin[SC_MAX_IN] = {0};
        n->backward(g, n, gy, gin);
        for (int i = 0; i < n->n_in; i++)
            if (n->need[i] && gin[i])
                accumulate(g, n->in[i], gin[i], pass);
    }
    g->recording = saved_rec;
    if (g->status != SC_OK)
        return g->status;
    for (int j = 0; j < n_in; j++)
        grads[j] = inputs[j]->grad_pass == pass ? inputs[j]->grad : NULL;
    return SC_OK;
}
