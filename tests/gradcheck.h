/* Checks a differentiable device op against a double-precision host
 * reference of the same function:
 *   forward      device f(x) vs ref f(x);
 *   first order  device d<u, f>/dx_j (random u) vs central differences of
 *                the reference <u, f> in double; a case with second order
 *                checks it twice, from a recording pass and a plain one
 *                (whose rules may be fused kernels);
 *   second order device d<v, d<u,f>/dx_k>/dx_j (random v; the gradient of a
 *                random projection of the first input's gradient, as the
 *                ULE teacher loss needs) vs central differences of the
 *                reference's first-order gradient (itself from ref_vjp when
 *                given, else central differences in double).
 * Inputs are uniform in +-[lo, hi] (away from the kinks of relu/abs/max). */
#ifndef SC_GRADCHECK_H
#define SC_GRADCHECK_H

#include "testutil.h"

#include "spurcl/autograd.h"
#include "spurcl/nn.h"

#define GC_MAX_IN 4

typedef struct gc_case {
    const char *name;
    int n_in;
    int ndim[GC_MAX_IN];
    int64_t shape[GC_MAX_IN][SC_MAX_DIMS];
    /* which inputs are differentiable (default: all, when all false) */
    bool no_grad[GC_MAX_IN];
    sc_var *(*dev)(sc_graph *g, sc_var **in, void *ud);
    /* writes the output (numel = device output's) */
    void (*ref)(double *const *in, double *out, void *ud);
    /* optional exact vjp of the reference: gin[j] += d<u,f>/dx_j */
    void (*ref_vjp)(double *const *in, const double *u, double **gin, void *ud);
    void *ud;
    double lo, hi;         /* input magnitude range (default 0.1 .. 1) */
    double fwd_tol;        /* relative to max |ref| (default 1e-5) */
    double grad_tol;       /* default 2e-3 */
    double grad2_tol;      /* default 5e-3 */
    bool second_order;     /* run the second-order check */
    int second_wrt;        /* the input whose gradient is projected (default 0) */
    uint64_t seed;
} gc_case;

/* Runs the checks with ck_assert; prints the errors reached. */
void gc_check(const gc_case *c);

/* `steps` second-order steps on graph g (with x a leaf of shape xs holding
 * xv: y = f(x, w), gx = dy/dx with create_graph, the gradient of
 * mean(gx^2) with respect to w), resetting the graph after each; asserts
 * that the context's pool allocates no buffer after the second step. */
void gc_assert_no_growth(sc_graph *g, sc_var *w, int ndim, const int64_t *xs, const float *xv,
                         sc_var *(*f)(sc_graph *g, sc_var *x, sc_var *w), int steps);

#endif
