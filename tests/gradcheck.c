#include "gradcheck.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct gc_state {
    const gc_case *c;
    double *x[GC_MAX_IN];
    size_t n[GC_MAX_IN];
    size_t nout;
    double *u, *v;         /* projections of the output and of the gradient */
    double *tmp_out;
    double *tmp_g[GC_MAX_IN];
} gc_state;

static size_t numel(int ndim, const int64_t *shape)
{
    size_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= (size_t)shape[i];
    return n;
}

static bool differentiable(const gc_case *c, int j) { return !c->no_grad[j]; }

/* <u, f(x)> in double */
static double ref_proj(gc_state *s)
{
    s->c->ref(s->x, s->tmp_out, s->c->ud);
    double acc = 0;
    for (size_t i = 0; i < s->nout; i++)
        acc += s->u[i] * s->tmp_out[i];
    return acc;
}

/* d<u,f>/dx_k into out (n[k] doubles) */
static void ref_grad_of(gc_state *s, int k, double *out)
{
    if (s->c->ref_vjp) {
        double *gin[GC_MAX_IN];
        for (int j = 0; j < s->c->n_in; j++) {
            gin[j] = s->tmp_g[j];
            memset(gin[j], 0, s->n[j] * sizeof(double));
        }
        s->c->ref_vjp(s->x, s->u, gin, s->c->ud);
        memcpy(out, gin[k], s->n[k] * sizeof(double));
        return;
    }
    for (size_t i = 0; i < s->n[k]; i++) {
        double keep = s->x[k][i], h = 1e-5 * fmax(1.0, fabs(keep));
        s->x[k][i] = keep + h;
        double fp = ref_proj(s);
        s->x[k][i] = keep - h;
        double fm = ref_proj(s);
        s->x[k][i] = keep;
        out[i] = (fp - fm) / (2 * h);
    }
}

static double max_abs(const double *a, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs(a[i]));
    return m;
}

/* max |got - want| / max(max |want|, floor), with got in float */
static double rel_err_floor(const float *got, const double *want, size_t n, double floor,
                            size_t *where)
{
    double m = fmax(max_abs(want, n), floor), worst = 0;
    *where = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - want[i]);
        if (isnan(got[i]))
            e = INFINITY;
        if (e > worst) {
            worst = e;
            *where = i;
        }
    }
    return worst / (m + 1e-12);
}

static double rel_err(const float *got, const double *want, size_t n, size_t *where)
{
    return rel_err_floor(got, want, n, 0.0, where);
}

void gc_check(const gc_case *c)
{
    gc_case labelled; /* the name with the forced kernel form, if any */
    char label[192];
    if (tu_form) {
        labelled = *c;
        snprintf(label, sizeof label, "%s [%s %s]", c->name, tu_form_family, tu_form);
        labelled.name = label;
        c = &labelled;
    }
    gc_state s = {.c = c};
    sc_rng rng;
    sc_rng_seed(&rng, c->seed ? c->seed : 12345);
    double lo = c->lo > 0 ? c->lo : 0.1, hi = c->hi > 0 ? c->hi : 1.0;
    double fwd_tol = c->fwd_tol > 0 ? c->fwd_tol : 1e-5;
    double grad_tol = c->grad_tol > 0 ? c->grad_tol : 2e-3;
    double grad2_tol = c->grad2_tol > 0 ? c->grad2_tol : 5e-3;

    sc_graph *g;
    TU_OK(sc_graph_create(tu_ctx(), &g));
    sc_var *in[GC_MAX_IN];
    float *hf[GC_MAX_IN];
    for (int j = 0; j < c->n_in; j++) {
        s.n[j] = numel(c->ndim[j], c->shape[j]);
        s.x[j] = malloc(s.n[j] * sizeof(double));
        s.tmp_g[j] = malloc(s.n[j] * sizeof(double));
        hf[j] = malloc(s.n[j] * sizeof(float));
        for (size_t i = 0; i < s.n[j]; i++) {
            double mag = lo + (hi - lo) * sc_rng_uniform(&rng);
            float f = (float)(sc_rng_uniform(&rng) < 0.5 ? -mag : mag);
            hf[j][i] = f;
            s.x[j][i] = f; /* the reference sees exactly the device's inputs */
        }
        in[j] = sc_var_from_host(g, c->ndim[j], c->shape[j], hf[j], differentiable(c, j));
    }
    sc_var *y = c->dev(g, in, c->ud);
    ck_assert_msg(y && sc_graph_status(g) == SC_OK, "%s: forward failed: %s", c->name,
                  sc_last_error());
    s.nout = (size_t)sc_var_numel(y);
    s.tmp_out = malloc(s.nout * sizeof(double));
    s.u = malloc(s.nout * sizeof(double));
    float *u_f = malloc(s.nout * sizeof(float));
    for (size_t i = 0; i < s.nout; i++) {
        u_f[i] = (float)sc_rng_normal(&rng);
        s.u[i] = u_f[i];
    }

    /* forward */
    float *yf = tu_download(sc_var_tensor(y));
    c->ref(s.x, s.tmp_out, c->ud);
    size_t where;
    double e = rel_err(yf, s.tmp_out, s.nout, &where);
    ck_assert_msg(e <= fwd_tol, "%s: forward rel. error %.3g at %zu (got %.9g want %.9g)",
                  c->name, e, where, (double)yf[where], s.tmp_out[where]);
    double worst_fwd = e, worst_g1 = 0, worst_g2 = 0;

    /* first order */
    sc_var *seed = sc_var_from_host(g, sc_var_ndim(y), sc_tensor_shape(sc_var_tensor(y)), u_f,
                                    false);
    sc_var *grads[GC_MAX_IN];
    TU_OK(sc_grad(g, 1, &y, &seed, c->n_in, in, c->second_order, grads));
    /* a recording pass may take other rules than a plain one (the fused
     * backward kernels run only in plain passes): check both */
    sc_var *plain[GC_MAX_IN] = {0};
    if (c->second_order)
        TU_OK(sc_grad(g, 1, &y, &seed, c->n_in, in, false, plain));
    double *want = NULL, g1_scale[GC_MAX_IN] = {0};
    for (int j = 0; j < c->n_in; j++) {
        if (!differentiable(c, j))
            continue;
        want = realloc(want, s.n[j] * sizeof(double));
        for (size_t i = 0; i < s.n[j]; i++) {
            double keep = s.x[j][i], h = 1e-6 * fmax(1.0, fabs(keep));
            s.x[j][i] = keep + h;
            double fp = ref_proj(&s);
            s.x[j][i] = keep - h;
            double fm = ref_proj(&s);
            s.x[j][i] = keep;
            want[i] = (fp - fm) / (2 * h);
        }
        g1_scale[j] = max_abs(want, s.n[j]);
        ck_assert_msg(grads[j] != NULL || max_abs(want, s.n[j]) == 0,
                      "%s: no gradient for input %d", c->name, j);
        if (!grads[j])
            continue;
        float *gf = tu_download(sc_var_tensor(grads[j]));
        e = rel_err(gf, want, s.n[j], &where);
        ck_assert_msg(e <= grad_tol, "%s: d/dx%d rel. error %.3g at %zu (got %.9g want %.9g)",
                      c->name, j, e, where, (double)gf[where], want[where]);
        worst_g1 = fmax(worst_g1, e);
        free(gf);
        if (!plain[j])
            continue;
        gf = tu_download(sc_var_tensor(plain[j]));
        e = rel_err(gf, want, s.n[j], &where);
        ck_assert_msg(e <= grad_tol,
                      "%s: d/dx%d (not recorded) rel. error %.3g at %zu (got %.9g want %.9g)",
                      c->name, j, e, where, (double)gf[where], want[where]);
        worst_g1 = fmax(worst_g1, e);
        free(gf);
    }

    /* second order: r = <v, d<u,f>/dx_k> */
    if (c->second_order) {
        int k = c->second_wrt;
        ck_assert_ptr_nonnull(grads[k]);
        s.v = malloc(s.n[k] * sizeof(double));
        float *v_f = malloc(s.n[k] * sizeof(float));
        for (size_t i = 0; i < s.n[k]; i++) {
            v_f[i] = (float)sc_rng_normal(&rng);
            s.v[i] = v_f[i];
        }
        sc_var *vv = sc_var_from_host(g, c->ndim[k], c->shape[k], v_f, false);
        sc_var *r = sc_nn_sum(g, sc_nn_mul(g, grads[k], vv));
        sc_var *g2[GC_MAX_IN];
        TU_OK(sc_grad(g, 1, &r, NULL, c->n_in, in, false, g2));
        double *gk = malloc(s.n[k] * sizeof(double));
        /* Nested differences carry noise of about 1e-7 x |L| (inner step
         * 1e-5, outer 1e-4); a true second derivative of 0 must not be
         * judged relative to that noise, so errors are measured against at
         * least 1e-3 of the first-order gradient's scale. */
        double floor2 = 1e-3 * fmax(g1_scale[k], 1e-12);
        for (int j = 0; j < c->n_in; j++) {
            if (!differentiable(c, j))
                continue;
            want = realloc(want, s.n[j] * sizeof(double));
            for (size_t i = 0; i < s.n[j]; i++) {
                double keep = s.x[j][i], h = 1e-4 * fmax(1.0, fabs(keep));
                double rp = 0, rm = 0;
                s.x[j][i] = keep + h;
                ref_grad_of(&s, k, gk);
                for (size_t q = 0; q < s.n[k]; q++) rp += s.v[q] * gk[q];
                s.x[j][i] = keep - h;
                ref_grad_of(&s, k, gk);
                for (size_t q = 0; q < s.n[k]; q++) rm += s.v[q] * gk[q];
                s.x[j][i] = keep;
                want[i] = (rp - rm) / (2 * h);
            }
            if (!g2[j]) {
                ck_assert_msg(max_abs(want, s.n[j]) < fmax(1e-6, floor2),
                              "%s: second-order gradient for input %d missing (ref max %.3g)",
                              c->name, j, max_abs(want, s.n[j]));
                continue;
            }
            float *gf = tu_download(sc_var_tensor(g2[j]));
            e = rel_err_floor(gf, want, s.n[j], floor2, &where);
            ck_assert_msg(e <= grad2_tol,
                          "%s: second order d/dx%d rel. error %.3g at %zu (got %.9g want %.9g)",
                          c->name, j, e, where, (double)gf[where], want[where]);
            worst_g2 = fmax(worst_g2, e);
            free(gf);
        }
        free(gk);
        free(v_f);
        free(s.v);
    }
    printf("  %-28s fwd %.2e  grad %.2e  grad2 %s%.2e\n", c->name, worst_fwd, worst_g1,
           c->second_order ? "" : "(n/a) ", worst_g2);

    free(want);
    free(yf);
    free(u_f);
    free(s.u);
    free(s.tmp_out);
    for (int j = 0; j < c->n_in; j++) {
        free(s.x[j]);
        free(s.tmp_g[j]);
        free(hf[j]);
    }
    sc_graph_free(g);
}

void gc_assert_no_growth(sc_graph *g, sc_var *w, int ndim, const int64_t *xs, const float *xv,
                         sc_var *(*f)(sc_graph *g, sc_var *x, sc_var *w), int steps)
{
    sc_context *ctx = sc_graph_context(g);
    sc_pool_stats st1, st;
    for (int step = 0; step < steps; step++) {
        sc_var *x = sc_var_from_host(g, ndim, xs, xv, true);
        sc_var *y = f(g, x, w);
        sc_var *gx, *gw;
        TU_OK(sc_grad(g, 1, &y, NULL, 1, &x, true, &gx));
        sc_var *pen = sc_nn_mean(g, sc_nn_mul(g, gx, gx));
        TU_OK(sc_grad(g, 1, &pen, NULL, 1, &w, false, &gw));
        ck_assert_ptr_nonnull(gw);
        sc_graph_reset(g);
        if (step == 1)
            sc_pool_get_stats(ctx, &st1);
    }
    sc_pool_get_stats(ctx, &st);
    ck_assert_uint_eq(st.buffers_allocated, st1.buffers_allocated);
}
