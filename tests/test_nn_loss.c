/* Contrastive losses, row normalisation, max over an axis and input-gradient
 * saliency: forward vs double host references written from the formulas
 * (shared/spec/methods.md sections 1 and 3), first order vs central
 * differences in double, second order where the op can sit under the ULE
 * teacher loss (tests/gradcheck.c), and the saliency path end to end: the
 * map vs differences of the reference's score, and the parameter gradient
 * of the ULE teacher penalty vs differences of its host reference. */
#include "gradcheck.h"
#include "suite.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- host references ---------------------------------------------------------- */

/* rows of x [n, d] divided by max(||row||, eps) */
static void ref_normalize(const double *x, double *y, int n, int d, double eps)
{
    for (int i = 0; i < n; i++) {
        double s = 0;
        for (int j = 0; j < d; j++)
            s += x[i * d + j] * x[i * d + j];
        double den = fmax(sqrt(s), eps);
        for (int j = 0; j < d; j++)
            y[i * d + j] = x[i * d + j] / den;
    }
}

/* NT-Xent (methods.md 3): 2N views u_k (L2-normalised), for the positive pair
 * (i, j): l(i,j) = -log(exp(u_i.u_j/tau) / sum_{k != i} exp(u_i.u_k/tau)),
 * averaged over the 2N anchors. */
static double ref_nt_xent(const double *z1, const double *z2, int n, int d, double tau)
{
    int r = 2 * n;
    double *u = malloc((size_t)r * d * sizeof *u);
    ref_normalize(z1, u, n, d, 1e-12);
    ref_normalize(z2, u + (size_t)n * d, n, d, 1e-12);
    double total = 0;
    for (int i = 0; i < r; i++) {
        int j = i < n ? i + n : i - n;
        double denom = 0, pos = 0;
        for (int k = 0; k < r; k++) {
            double s = 0;
            for (int q = 0; q < d; q++)
                s += u[i * d + q] * u[k * d + q];
            if (k != i)
                denom += exp(s / tau);
            if (k == j)
                pos = exp(s / tau);
        }
        total += -log(pos / denom);
    }
    free(u);
    return total / r;
}

/* BarlowTwins: BatchNorm1d(affine=False) training statistics (biased
 * variance, eps 1e-5) per dimension, C = Z1^T Z2 / N,
 * sum_d (1 - C_dd)^2 + lambda sum_{d != e} C_de^2. */
static void ref_standardize(const double *z, double *y, int n, int d)
{
    for (int j = 0; j < d; j++) {
        double m = 0, v = 0;
        for (int i = 0; i < n; i++)
            m += z[i * d + j];
        m /= n;
        for (int i = 0; i < n; i++)
            v += (z[i * d + j] - m) * (z[i * d + j] - m);
        v /= n;
        for (int i = 0; i < n; i++)
            y[i * d + j] = (z[i * d + j] - m) / sqrt(v + 1e-5);
    }
}

static double ref_barlow(const double *z1, const double *z2, int n, int d, double lambda)
{
    double *a = malloc((size_t)n * d * sizeof *a), *b = malloc((size_t)n * d * sizeof *b);
    ref_standardize(z1, a, n, d);
    ref_standardize(z2, b, n, d);
    double loss = 0;
    for (int p = 0; p < d; p++)
        for (int q = 0; q < d; q++) {
            double c = 0;
            for (int i = 0; i < n; i++)
                c += a[i * d + p] * b[i * d + q];
            c /= n;
            loss += p == q ? (1 - c) * (1 - c) : lambda * c * c;
        }
    free(a);
    free(b);
    return loss;
}

/* ---- l2_normalize and cosine_rows ------------------------------------------------ */

typedef struct rows_ud {
    int n, d;
    float eps;
} rows_ud;

static sc_var *l2n_dev(sc_graph *g, sc_var **in, void *ud)
{
    const rows_ud *p = ud;
    return sc_nn_l2_normalize(g, in[0], p->eps);
}

static void l2n_ref(double *const *in, double *out, void *ud)
{
    const rows_ud *p = ud;
    ref_normalize(in[0], out, p->n, p->d, p->eps);
}

static sc_var *cos_dev(sc_graph *g, sc_var **in, void *ud)
{
    const rows_ud *p = ud;
    return sc_nn_cosine_rows(g, in[0], in[1], p->eps);
}

static void cos_ref(double *const *in, double *out, void *ud)
{
    const rows_ud *p = ud;
    size_t sz = (size_t)p->n * p->d;
    double *a = malloc(sz * sizeof *a), *b = malloc(sz * sizeof *b);
    ref_normalize(in[0], a, p->n, p->d, p->eps);
    ref_normalize(in[1], b, p->n, p->d, p->eps);
    for (int i = 0; i < p->n; i++) {
        double s = 0;
        for (int j = 0; j < p->d; j++)
            s += a[i * p->d + j] * b[i * p->d + j];
        out[i] = s;
    }
    free(a);
    free(b);
}

static void l2_normalize_and_cosine_once(void)
{
    /* shapes: batch 1, odd sizes, a row longer than the work-group loop's 64 */
    const int shapes[][2] = {{1, 5}, {7, 13}, {13, 16}, {3, 70}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        rows_ud p = {shapes[s][0], shapes[s][1], 1e-12f};
        char name[64];
        snprintf(name, sizeof name, "l2_normalize [%d,%d]", p.n, p.d);
        gc_case c = {.name = name, .n_in = 1, .ndim = {2}, .shape = {{p.n, p.d}},
                     .dev = l2n_dev, .ref = l2n_ref, .ud = &p, .second_order = true};
        gc_check(&c);
        snprintf(name, sizeof name, "cosine_rows [%d,%d]", p.n, p.d);
        p.eps = 1e-8f;
        gc_case c2 = {.name = name, .n_in = 2, .ndim = {2, 2}, .shape = {{p.n, p.d}, {p.n, p.d}},
                      .dev = cos_dev, .ref = cos_ref, .ud = &p, .second_order = true};
        gc_check(&c2);
    }
}

/* both forms of the row-reducing kernels (TU_EACH_ROWS_FORM) */
START_TEST(l2_normalize_and_cosine)
{
    TU_EACH_ROWS_FORM(l2_normalize_and_cosine_once());
}
END_TEST

/* A zero row and a row shorter than eps: F.normalize divides by eps there and
 * passes no gradient through the (clamped) norm: d y / d x = I / eps. No NaN. */
START_TEST(l2_normalize_small_rows)
{
    sc_graph *g;
    TU_OK(sc_graph_create(tu_ctx(), &g));
    const float eps = 1e-2f;
    float xv[3][4] = {{0, 0, 0, 0}, {1e-3f, -2e-3f, 0, 4e-3f}, {3, -4, 0, 12}};
    float uv[12];
    for (int i = 0; i < 12; i++)
        uv[i] = (float)(i % 5) - 2.0f;
    int64_t s[2] = {3, 4};
    sc_var *x = sc_var_from_host(g, 2, s, &xv[0][0], true);
    sc_var *u = sc_var_from_host(g, 2, s, uv, false);
    sc_var *y = sc_nn_l2_normalize(g, x, eps);
    sc_var *gx;
    TU_OK(sc_grad(g, 1, &y, &u, 1, &x, false, &gx));
    float yv[12], gv[12];
    TU_OK(sc_tensor_download(sc_var_tensor(y), yv));
    TU_OK(sc_tensor_download(sc_var_tensor(gx), gv));
    double want_y[12], want_g[12];
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 4; j++) {
            want_y[i * 4 + j] = xv[i][j] / (double)eps;
            want_g[i * 4 + j] = uv[i * 4 + j] / (double)eps;
        }
    /* row 2: norm 13, g = (u - y (y.u)) / 13 */
    double yu = 0;
    for (int j = 0; j < 4; j++) {
        want_y[8 + j] = xv[2][j] / 13.0;
        yu += want_y[8 + j] * uv[8 + j];
    }
    for (int j = 0; j < 4; j++)
        want_g[8 + j] = (uv[8 + j] - want_y[8 + j] * yu) / 13.0;
    tu_assert_close("normalize small rows y", yv, want_y, 12, 1e-6, 1e-7);
    tu_assert_close("normalize small rows grad", gv, want_g, 12, 1e-5, 1e-6);
    sc_graph_free(g);
}
END_TEST

/* ---- max_axis ------------------------------------------------------------------------ */

typedef struct max_ud {
    int ndim;
    int64_t shape[4];
    int axis;
} max_ud;

static void max_split(const max_ud *p, size_t *outer, size_t *len, size_t *inner)
{
    *outer = *inner = 1;
    for (int i = 0; i < p->axis; i++)
        *outer *= (size_t)p->shape[i];
    for (int i = p->axis + 1; i < p->ndim; i++)
        *inner *= (size_t)p->shape[i];
    *len = (size_t)p->shape[p->axis];
}

static size_t max_arg(const double *x, size_t o, size_t len, size_t inner, size_t i)
{
    size_t best = 0;
    for (size_t j = 1; j < len; j++)
        if (x[(o * len + j) * inner + i] > x[(o * len + best) * inner + i])
            best = j;
    return best;
}

static sc_var *max_dev(sc_graph *g, sc_var **in, void *ud)
{
    const max_ud *p = ud;
    sc_var *m = sc_nn_max_axis(g, in[0], p->axis);
    return sc_nn_mul(g, m, m); /* squared: the second order is not zero */
}

static void max_ref(double *const *in, double *out, void *ud)
{
    size_t outer, len, inner;
    max_split(ud, &outer, &len, &inner);
    for (size_t o = 0; o < outer; o++)
        for (size_t i = 0; i < inner; i++) {
            double m = in[0][(o * len + max_arg(in[0], o, len, inner, i)) * inner + i];
            out[o * inner + i] = m * m;
        }
}

static void max_vjp(double *const *in, const double *u, double **gin, void *ud)
{
    size_t outer, len, inner;
    max_split(ud, &outer, &len, &inner);
    for (size_t o = 0; o < outer; o++)
        for (size_t i = 0; i < inner; i++) {
            size_t at = (o * len + max_arg(in[0], o, len, inner, i)) * inner + i;
            gin[0][at] += 2 * in[0][at] * u[o * inner + i];
        }
}

static void max_axis_grad_once(void)
{
    /* every axis of an odd 3-d shape; long axes take the work-group kernel */
    const max_ud cases[] = {
        {3, {4, 7, 13}, 0}, {3, {4, 7, 13}, 1}, {3, {4, 7, 13}, 2},
        {2, {1, 13}, 1},    {2, {3, 300}, 1},   {3, {2, 100, 3}, 1},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        max_ud p = cases[k];
        char name[64];
        snprintf(name, sizeof name, "max_axis %zu axis %d", k, p.axis);
        gc_case c = {.name = name, .n_in = 1, .ndim = {p.ndim}, .dev = max_dev,
                     .ref = max_ref, .ref_vjp = max_vjp, .ud = &p, .second_order = true};
        memcpy(c.shape[0], p.shape, sizeof p.shape);
        gc_check(&c);
    }
}

/* both forms of the row-reducing kernels (TU_EACH_ROWS_FORM) */
START_TEST(max_axis_grad)
{
    TU_EACH_ROWS_FORM(max_axis_grad_once());
}
END_TEST

/* Ties go to the first maximal element (forward index and gradient); the
 * negative axis; the third derivative (gather's backward is a scatter). */
START_TEST(max_axis_ties_and_third_order)
{
    sc_graph *g;
    TU_OK(sc_graph_create(tu_ctx(), &g));
    /* rows of 7 (the serial kernel) and of 70 (the work-group kernel): row 0
     * has its maximum 5 at 3 and at L - 2, row 1 is constant */
    float xv[140];
    for (int variant = 0; variant < 2; variant++) {
        int L = variant ? 70 : 7;
        for (int j = 0; j < L; j++) {
            xv[j] = (float)(j % 7) * 0.25f - 1.0f;
            xv[L + j] = 2.0f;
        }
        xv[3] = 5.0f;
        xv[L - 2] = 5.0f;
        int64_t s[2] = {2, L};
        sc_var *x = sc_var_from_host(g, 2, s, xv, true);
        sc_var *m = sc_nn_max_axis(g, x, -1);
        ck_assert_ptr_nonnull(m);
        ck_assert_int_eq(sc_var_dim(m, 0), 2);
        ck_assert_int_eq(sc_var_dim(m, 1), 1);
        /* f = sum(m^3): g1 = 3 m^2, g2 (v) = 6 m v, g3 (v, w) = 6 v w at the argmax */
        sc_var *f = sc_nn_sum(g, sc_nn_mul(g, m, sc_nn_mul(g, m, m)));
        sc_var *g1;
        TU_OK(sc_grad(g, 1, &f, NULL, 1, &x, true, &g1));
        float vv[140], wv[140];
        for (int j = 0; j < 2 * L; j++) {
            vv[j] = 0.5f + (float)(j % 3);
            wv[j] = 1.0f - 0.25f * (float)(j % 5);
        }
        sc_var *v = sc_var_from_host(g, 2, s, vv, false), *w = sc_var_from_host(g, 2, s, wv, false);
        sc_var *r2 = sc_nn_sum(g, sc_nn_mul(g, g1, v)), *g2;
        TU_OK(sc_grad(g, 1, &r2, NULL, 1, &x, true, &g2));
        sc_var *r3 = sc_nn_sum(g, sc_nn_mul(g, g2, w)), *g3;
        TU_OK(sc_grad(g, 1, &r3, NULL, 1, &x, false, &g3));
        float mv[2], h1[140], h2[140], h3[140];
        int n = 2 * L;
        TU_OK(sc_tensor_download(sc_var_tensor(m), mv));
        TU_OK(sc_tensor_download(sc_var_tensor(g1), h1));
        TU_OK(sc_tensor_download(sc_var_tensor(g2), h2));
        TU_OK(sc_tensor_download(sc_var_tensor(g3), h3));
        ck_assert_float_eq(mv[0], 5.0f);
        ck_assert_float_eq(mv[1], 2.0f);
        double w1[140] = {0}, w2[140] = {0}, w3[140] = {0};
        const int at[2] = {3, L}; /* the first maximal elements */
        for (int r = 0; r < 2; r++) {
            int k = at[r];
            w1[k] = 3.0 * mv[r] * mv[r];
            w2[k] = 6.0 * mv[r] * vv[k];
            w3[k] = 6.0 * vv[k] * wv[k];
        }
        tu_assert_close("max_axis tie grad", h1, w1, n, 1e-6, 0);
        tu_assert_close("max_axis tie grad2", h2, w2, n, 1e-6, 0);
        tu_assert_close("max_axis tie grad3", h3, w3, n, 1e-6, 0);
        sc_graph_reset(g);
    }
    /* a bad axis is an error */
    int64_t s[2] = {2, 70};
    sc_var *x = sc_var_from_host(g, 2, s, xv, true);
    ck_assert_ptr_null(sc_nn_max_axis(g, x, 2));
    ck_assert_int_eq(sc_graph_status(g), SC_ERR_INVALID_ARG);
    sc_graph_free(g);
}
END_TEST

/* ---- NT-Xent and BarlowTwins -------------------------------------------------------------- */

typedef struct pair_ud {
    int n, d;
    double tau, lambda;
} pair_ud;

static sc_var *ntx_dev(sc_graph *g, sc_var **in, void *ud)
{
    const pair_ud *p = ud;
    return sc_nn_nt_xent(g, in[0], in[1], (float)p->tau);
}

static void ntx_ref(double *const *in, double *out, void *ud)
{
    const pair_ud *p = ud;
    out[0] = ref_nt_xent(in[0], in[1], p->n, p->d, p->tau);
}

static sc_var *bt_dev(sc_graph *g, sc_var **in, void *ud)
{
    const pair_ud *p = ud;
    return sc_nn_barlow_twins(g, in[0], in[1], (float)p->lambda);
}

static void bt_ref(double *const *in, double *out, void *ud)
{
    const pair_ud *p = ud;
    out[0] = ref_barlow(in[0], in[1], p->n, p->d, p->lambda);
}

static void nt_xent_grad_once(void)
{
    const int ns[] = {1, 2, 7, 13}, ds[] = {5, 16};
    const double taus[] = {0.5, 0.1};
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < 2; b++)
            for (int t = 0; t < 2; t++) {
                pair_ud p = {.n = ns[a], .d = ds[b], .tau = taus[t]};
                char name[64];
                snprintf(name, sizeof name, "nt_xent N%d D%d tau%.1f", p.n, p.d, p.tau);
                gc_case c = {.name = name, .n_in = 2, .ndim = {2, 2},
                             .shape = {{p.n, p.d}, {p.n, p.d}}, .dev = ntx_dev,
                             .ref = ntx_ref, .ud = &p};
                gc_check(&c);
            }
}

/* both forms of the row kernels (a work-group, a work-item per anchor) */
START_TEST(nt_xent_grad)
{
    TU_EACH_ROWS_FORM(nt_xent_grad_once());
}
END_TEST

static void barlow_twins_grad_once(void)
{
    const int ns[] = {7, 13}, ds[] = {5, 16};
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 2; b++) {
            pair_ud p = {.n = ns[a], .d = ds[b], .lambda = 0.0051};
            char name[64];
            snprintf(name, sizeof name, "barlow_twins N%d D%d", p.n, p.d);
            gc_case c = {.name = name, .n_in = 2, .ndim = {2, 2},
                         .shape = {{p.n, p.d}, {p.n, p.d}}, .dev = bt_dev, .ref = bt_ref,
                         .ud = &p, .grad_tol = 1e-4};
            gc_check(&c);
        }
    /* a large off-diagonal weight, so that an error in that term shows */
    pair_ud p = {.n = 13, .d = 16, .lambda = 0.5};
    gc_case c = {.name = "barlow_twins N13 D16 lam0.5", .n_in = 2, .ndim = {2, 2},
                 .shape = {{13, 16}, {13, 16}}, .dev = bt_dev, .ref = bt_ref, .ud = &p,
                 .grad_tol = 1e-4};
    gc_check(&c);
}

/* both forms of the row-reducing kernels (TU_EACH_ROWS_FORM) */
START_TEST(barlow_twins_grad)
{
    TU_EACH_ROWS_FORM(barlow_twins_grad_once());
}
END_TEST

/* Sizes past the work-group (2N = 300 > 256 anchors, D = 300 > 256 rows of
 * C): the forward against the reference and the gradient at sampled
 * coordinates against central differences (a full check would take
 * minutes on a CPU). */
static void large_case(bool barlow, int n, int d)
{
    sc_rng rng;
    sc_rng_seed(&rng, 77);
    size_t sz = (size_t)n * d;
    float *h1 = malloc(sz * sizeof *h1), *h2 = malloc(sz * sizeof *h2);
    double *x1 = malloc(sz * sizeof *x1), *x2 = malloc(sz * sizeof *x2);
    tu_normal(&rng, h1, sz);
    tu_normal(&rng, h2, sz);
    for (size_t i = 0; i < sz; i++) {
        x1[i] = h1[i];
        x2[i] = h2[i];
    }
    sc_graph *g;
    TU_OK(sc_graph_create(tu_ctx(), &g));
    int64_t s[2] = {n, d};
    sc_var *in[2] = {sc_var_from_host(g, 2, s, h1, true), sc_var_from_host(g, 2, s, h2, true)};
    sc_var *y = barlow ? sc_nn_barlow_twins(g, in[0], in[1], 0.0051f)
                       : sc_nn_nt_xent(g, in[0], in[1], 0.1f);
    sc_var *gr[2];
    TU_OK(sc_grad(g, 1, &y, NULL, 2, in, false, gr));
    float yv;
    TU_OK(sc_tensor_download(sc_var_tensor(y), &yv));
    double want = barlow ? ref_barlow(x1, x2, n, d, 0.0051) : ref_nt_xent(x1, x2, n, d, 0.1);
    double fe = fabs(yv - want) / fabs(want);
    ck_assert_msg(fe < 1e-5, "%s large: loss %.9g want %.9g", barlow ? "barlow" : "nt_xent",
                  (double)yv, want);
    float *g0 = tu_download(sc_var_tensor(gr[0])), *g1 = tu_download(sc_var_tensor(gr[1]));
    double worst = 0, gmax = 0;
    for (size_t i = 0; i < sz; i++)
        gmax = fmax(gmax, fmax(fabs(g0[i]), fabs(g1[i])));
    for (int k = 0; k < 24; k++) {
        int which = k & 1;
        size_t at = (size_t)(sc_rng_uniform(&rng) * (double)sz) % sz;
        double *x = which ? x2 : x1, keep = x[at], hh = 1e-6 * fmax(1.0, fabs(keep));
        x[at] = keep + hh;
        double fp = barlow ? ref_barlow(x1, x2, n, d, 0.0051) : ref_nt_xent(x1, x2, n, d, 0.1);
        x[at] = keep - hh;
        double fm = barlow ? ref_barlow(x1, x2, n, d, 0.0051) : ref_nt_xent(x1, x2, n, d, 0.1);
        x[at] = keep;
        double fd = (fp - fm) / (2 * hh), got = which ? g1[at] : g0[at];
        worst = fmax(worst, fabs(got - fd));
    }
    printf("  %-28s fwd %.2e  grad %.2e (24 sampled coordinates)\n",
           barlow ? "barlow_twins N40 D300" : "nt_xent N150 D16", fe, worst / gmax);
    ck_assert_msg(worst <= (barlow ? 1e-4 : 2e-3) * gmax,
                  "%s large: gradient error %.3g (max |grad| %.3g)", barlow ? "barlow" : "nt_xent",
                  worst, gmax);
    free(g0);
    free(g1);
    free(h1);
    free(h2);
    free(x1);
    free(x2);
    sc_graph_free(g);
}

START_TEST(large_losses)
{
    /* both forms of the row kernels (NT-Xent's anchors, BarlowTwins' rows of C) */
    TU_EACH_ROWS_FORM({
        large_case(false, 150, 16);
        large_case(true, 40, 300);
    });
}
END_TEST

/* Bit-identical results run to run, and a clean error (never a silently
 * missing term) when a second derivative is asked through the losses. */
START_TEST(losses_deterministic_first_order_only)
{
    sc_rng rng;
    sc_rng_seed(&rng, 3);
    float a[13 * 16], b[13 * 16];
    tu_normal(&rng, a, 13 * 16);
    tu_normal(&rng, b, 13 * 16);
    int64_t s[2] = {13, 16};
    for (int loss = 0; loss < 2; loss++) {
        float out[2][1 + 2 * 13 * 16];
        for (int run = 0; run < 2; run++) {
            sc_graph *g;
            TU_OK(sc_graph_create(tu_ctx(), &g));
            sc_var *in[2] = {sc_var_from_host(g, 2, s, a, true),
                             sc_var_from_host(g, 2, s, b, true)};
            sc_var *y = loss ? sc_nn_barlow_twins(g, in[0], in[1], 0.0051f)
                             : sc_nn_nt_xent(g, in[0], in[1], 0.5f);
            sc_var *gr[2];
            TU_OK(sc_grad(g, 1, &y, NULL, 2, in, true, gr));
            TU_OK(sc_tensor_download(sc_var_tensor(y), out[run]));
            TU_OK(sc_tensor_download(sc_var_tensor(gr[0]), out[run] + 1));
            TU_OK(sc_tensor_download(sc_var_tensor(gr[1]), out[run] + 1 + 13 * 16));
            /* differentiate the gradient again: unsupported, and said so */
            sc_var *r = sc_nn_sum(g, sc_nn_mul(g, gr[0], gr[0])), *g2[2];
            ck_assert_int_eq(sc_grad(g, 1, &r, NULL, 2, in, false, g2), SC_ERR_UNSUPPORTED);
            ck_assert_msg(strstr(sc_last_error(), "first order"), "%s", sc_last_error());
            sc_graph_free(g);
        }
        ck_assert_msg(memcmp(out[0], out[1], sizeof out[0]) == 0, "%s not deterministic",
                      loss ? "barlow_twins" : "nt_xent");
    }
    /* invalid arguments */
    sc_graph *g;
    TU_OK(sc_graph_create(tu_ctx(), &g));
    sc_var *x = sc_var_from_host(g, 2, s, a, true);
    ck_assert_ptr_null(sc_nn_nt_xent(g, x, x, 0.0f));
    ck_assert_int_eq(sc_graph_status(g), SC_ERR_INVALID_ARG);
    sc_graph_reset(g);
    int64_t s2[2] = {12, 16};
    x = sc_var_from_host(g, 2, s, a, true);
    sc_var *x2 = sc_var_from_host(g, 2, s2, b, true);
    ck_assert_ptr_null(sc_nn_barlow_twins(g, x, x2, 0.0051f));
    ck_assert_int_eq(sc_graph_status(g), SC_ERR_INVALID_ARG);
    sc_graph_free(g);
}
END_TEST

/* ---- saliency normalisation ------------------------------------------------------------- */

typedef struct norm_ud {
    int n, m;
    sc_saliency_norm norm;
} norm_ud;

static sc_var *norm_dev(sc_graph *g, sc_var **in, void *ud)
{
    const norm_ud *p = ud;
    return sc_nn_saliency_normalize(g, in[0], p->norm, 1e-8f);
}

static void ref_sal_normalize(const double *x, double *y, int n, int m, sc_saliency_norm norm)
{
    for (int i = 0; i < n; i++) {
        double d = 0;
        for (int j = 0; j < m; j++) {
            double v = x[i * m + j];
            d = norm == SC_NORM_MAXABS ? fmax(d, fabs(v)) : d + v * v;
        }
        if (norm == SC_NORM_L2)
            d = sqrt(d);
        if (norm == SC_NORM_NONE)
            d = 1.0 - 1e-8;
        for (int j = 0; j < m; j++)
            y[i * m + j] = x[i * m + j] / (d + 1e-8);
    }
}

static void norm_ref(double *const *in, double *out, void *ud)
{
    const norm_ud *p = ud;
    ref_sal_normalize(in[0], out, p->n, p->m, p->norm);
}

static void saliency_normalize_grad_once(void)
{
    const char *names[3] = {"maxabs", "l2", "none"};
    for (int k = 0; k < 3; k++) {
        norm_ud p = {3, 2 * 5, (sc_saliency_norm)k};
        char name[64];
        snprintf(name, sizeof name, "saliency_normalize %s", names[k]);
        gc_case c = {.name = name, .n_in = 1, .ndim = {3}, .shape = {{3, 2, 5}},
                     .dev = norm_dev, .ref = norm_ref, .ud = &p, .second_order = k != 2,
                     .seed = 99};
        gc_check(&c);
    }
    /* a zero map stays zero with zero gradients (no NaN through the norms) */
    for (int k = 0; k < 2; k++) {
        sc_graph *g;
        TU_OK(sc_graph_create(tu_ctx(), &g));
        float z[10] = {0}, u[10];
        for (int i = 0; i < 10; i++)
            u[i] = (float)i - 4.5f;
        int64_t s[2] = {2, 5};
        sc_var *x = sc_var_from_host(g, 2, s, z, true), *uv = sc_var_from_host(g, 2, s, u, false);
        sc_var *y = sc_nn_saliency_normalize(g, x, (sc_saliency_norm)k, 1e-8f), *gx;
        TU_OK(sc_grad(g, 1, &y, &uv, 1, &x, false, &gx));
        float yv[10], gv[10];
        double want_g[10], zero[10] = {0};
        TU_OK(sc_tensor_download(sc_var_tensor(y), yv));
        TU_OK(sc_tensor_download(sc_var_tensor(gx), gv));
        for (int i = 0; i < 10; i++)
            want_g[i] = u[i] / 1e-8;
        tu_assert_close("normalize zero map", yv, zero, 10, 0, 0);
        tu_assert_close("normalize zero map grad", gv, want_g, 10, 1e-6, 0);
        sc_graph_free(g);
    }
}

/* both forms of the row-reducing kernels (TU_EACH_ROWS_FORM) */
START_TEST(saliency_normalize_grad)
{
    TU_EACH_ROWS_FORM(saliency_normalize_grad_once());
}
END_TEST

/* ---- saliency end to end --------------------------------------------------------------- */

/* x [3,1,5,5] -> reshape [3,25] -> linear(W1 [6,25], b1) -> act -> linear(W2 [4,6], b2) */
enum { NS = 3, PIX = 25, HID = 6, NK = 4, NPAR = HID * PIX + HID + NK * HID + NK };

typedef struct tiny {
    double p[NPAR]; /* W1, b1, W2, b2 */
    double x[NS * PIX];
    int32_t y[NS];
    double c[NS * PIX]; /* the constant map of the penalty (the student's) */
    bool gelu;
} tiny;

#define W1(t, j, q) ((t)->p[(j) * PIX + (q)])
#define B1(t, j) ((t)->p[HID * PIX + (j)])
#define W2(t, k, j) ((t)->p[HID * PIX + HID + (k) * HID + (j)])
#define B2(t, k) ((t)->p[HID * PIX + HID + NK * HID + (k)])

static double act(const tiny *t, double h)
{
    return t->gelu ? 0.5 * h * (1 + erf(h / sqrt(2.0))) : (h > 0 ? h : 0);
}

static double act_d(const tiny *t, double h)
{
    if (!t->gelu)
        return h > 0 ? 1 : 0;
    return 0.5 * (1 + erf(h / sqrt(2.0))) + h * exp(-0.5 * h * h) * 0.39894228040143267794;
}

static void tiny_forward(const tiny *t, const double *x, double *h, double *logits)
{
    for (int i = 0; i < NS; i++) {
        for (int j = 0; j < HID; j++) {
            double s = B1(t, j);
            for (int q = 0; q < PIX; q++)
                s += W1(t, j, q) * x[i * PIX + q];
            h[i * HID + j] = s;
        }
        for (int k = 0; k < NK; k++) {
            double s = B2(t, k);
            for (int j = 0; j < HID; j++)
                s += W2(t, k, j) * act(t, h[i * HID + j]);
            logits[i * NK + k] = s;
        }
    }
}

static int argmax_row(const double *l)
{
    int best = 0;
    for (int k = 1; k < NK; k++)
        if (l[k] > l[best])
            best = k;
    return best;
}

/* d s_i / d logits_i for the target (sample i only) */
static void seed_of(const tiny *t, const double *l, int i, sc_saliency_target target, double *s)
{
    for (int k = 0; k < NK; k++)
        s[k] = 0;
    if (target == SC_SAL_TRUE_LOGIT) {
        s[t->y[i]] = 1;
    } else if (target == SC_SAL_PRED_LOGIT) {
        s[argmax_row(l)] = 1;
    } else {
        double m = l[0], z = 0;
        for (int k = 1; k < NK; k++) m = fmax(m, l[k]);
        for (int k = 0; k < NK; k++) z += exp(l[k] - m);
        for (int k = 0; k < NK; k++) s[k] = exp(l[k] - m) / z;
        s[t->y[i]] -= 1;
    }
}

/* the score s_i(x) itself */
static double score_of(const tiny *t, const double *l, int i, sc_saliency_target target, int pred)
{
    if (target == SC_SAL_TRUE_LOGIT)
        return l[t->y[i]];
    if (target == SC_SAL_PRED_LOGIT)
        return l[pred];
    double m = l[0], z = 0;
    for (int k = 1; k < NK; k++) m = fmax(m, l[k]);
    for (int k = 0; k < NK; k++) z += exp(l[k] - m);
    return m + log(z) - l[t->y[i]];
}

/* the map d s_i / d x_i, analytically: W1^T (act'(h) * (W2^T s)) */
static void tiny_map(const tiny *t, sc_saliency_target target, double *map)
{
    double h[NS * HID], l[NS * NK];
    tiny_forward(t, t->x, h, l);
    for (int i = 0; i < NS; i++) {
        double s[NK], back[HID];
        seed_of(t, l + i * NK, i, target, s);
        for (int j = 0; j < HID; j++) {
            double v = 0;
            for (int k = 0; k < NK; k++) v += W2(t, k, j) * s[k];
            back[j] = v * act_d(t, h[i * HID + j]);
        }
        for (int q = 0; q < PIX; q++) {
            double v = 0;
            for (int j = 0; j < HID; j++) v += W1(t, j, q) * back[j];
            map[i * PIX + q] = v;
        }
    }
}

/* the ULE teacher penalty mean((n(map) + c)^2) */
static double tiny_penalty(const tiny *t, sc_saliency_target target, sc_saliency_norm norm)
{
    double map[NS * PIX], nm[NS * PIX];
    tiny_map(t, target, map);
    ref_sal_normalize(map, nm, NS, PIX, norm);
    double acc = 0;
    for (int i = 0; i < NS * PIX; i++)
        acc += (nm[i] + t->c[i]) * (nm[i] + t->c[i]);
    return acc / (NS * PIX);
}

static void tiny_init(tiny *t, bool gelu)
{
    sc_rng rng;
    sc_rng_seed(&rng, 2024);
    t->gelu = gelu;
    for (int i = 0; i < NPAR; i++)
        t->p[i] = (float)(0.4 * sc_rng_normal(&rng));
    for (int i = 0; i < NS * PIX; i++) {
        t->x[i] = (float)(2 * sc_rng_uniform(&rng) - 1);
        t->c[i] = (float)(2 * sc_rng_uniform(&rng) - 1);
    }
    for (int i = 0; i < NS; i++)
        t->y[i] = (int32_t)((i * 3 + 1) % NK);
}

static double rel_max_err(const float *got, const double *want, size_t n)
{
    double m = 0, e = 0;
    for (size_t i = 0; i < n; i++) {
        m = fmax(m, fabs(want[i]));
        e = fmax(e, isnan(got[i]) ? INFINITY : fabs(got[i] - want[i]));
    }
    return e / (m + 1e-30);
}

static void to_float(const double *d, float *f, size_t n)
{
    for (size_t i = 0; i < n; i++)
        f[i] = (float)d[i];
}

static void saliency_case(bool gelu, sc_saliency_target target, sc_saliency_norm norm)
{
    static const char *tn[3] = {"true", "pred", "loss"}, *nn[3] = {"maxabs", "l2", "none"};
    char name[64];
    snprintf(name, sizeof name, "saliency %s %s %s", gelu ? "gelu" : "relu", tn[target],
             nn[norm]);
    tiny t;
    tiny_init(&t, gelu);

    /* the data keeps the finite differences away from kinks */
    double h[NS * HID], l[NS * NK];
    tiny_forward(&t, t.x, h, l);
    for (int i = 0; i < NS * HID; i++)
        ck_assert_msg(fabs(h[i]) > 1e-4, "%s: a pre-activation is %.3g (change the seed)", name,
                      h[i]);
    int pred[NS];
    for (int i = 0; i < NS; i++) {
        pred[i] = argmax_row(l + i * NK);
        for (int k = 0; k < NK; k++)
            ck_assert_msg(k == pred[i] || l[i * NK + pred[i]] - l[i * NK + k] > 1e-3,
                          "%s: near-tied logits (change the seed)", name);
    }

    /* device model */
    sc_context *ctx = tu_ctx();
    const int64_t shp[4][2] = {{HID, PIX}, {HID, 0}, {NK, HID}, {NK, 0}};
    const char *pn[4] = {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"};
    const int off[5] = {0, HID * PIX, HID * PIX + HID, HID * PIX + HID + NK * HID, NPAR};
    sc_var *par[4];
    float pf[NPAR];
    to_float(t.p, pf, NPAR);
    for (int k = 0; k < 4; k++) {
        TU_OK(sc_param_create(ctx, pn[k], shp[k][1] ? 2 : 1, shp[k], &par[k]));
        TU_OK(sc_tensor_upload(sc_var_tensor(par[k]), pf + off[k]));
    }
    sc_graph *g;
    TU_OK(sc_graph_create(ctx, &g));
    float xf[NS * PIX], cf[NS * PIX];
    to_float(t.x, xf, NS * PIX);
    to_float(t.c, cf, NS * PIX);
    int64_t xs[4] = {NS, 1, 5, 5}, fs[2] = {NS, PIX}, ls = NS;
    sc_var *x = sc_var_from_host(g, 4, xs, xf, true);
    sc_var *hv = sc_nn_linear(g, sc_nn_reshape(g, x, 2, fs), par[0], par[1]);
    sc_var *logits = sc_nn_linear(g, gelu ? sc_nn_gelu(g, hv) : sc_nn_relu(g, hv), par[2], par[3]);
    sc_var *labels = sc_var_from_host_i32(g, 1, &ls, t.y);
    sc_var *map = sc_nn_saliency(g, x, logits, labels, target, true);
    ck_assert_msg(map && sc_graph_status(g) == SC_OK, "%s: %s", name, sc_last_error());
    ck_assert_int_eq(sc_var_ndim(map), 4);
    sc_var *cv = sc_var_from_host(g, 4, xs, cf, false);
    sc_var *dlt = sc_nn_add(g, sc_nn_saliency_normalize(g, map, norm, 1e-8f), cv);
    sc_var *pen = sc_nn_mean(g, sc_nn_mul(g, dlt, dlt));
    sc_var *gp[4];
    TU_OK(sc_grad(g, 1, &pen, NULL, 4, par, false, gp));

    /* 1. the map vs central differences of the reference's score */
    double want_map[NS * PIX], ana_map[NS * PIX], xd[NS * PIX];
    memcpy(xd, t.x, sizeof xd);
    for (int i = 0; i < NS; i++)
        for (int q = 0; q < PIX; q++) {
            double *v = &xd[i * PIX + q], keep = *v, hh = 1e-6;
            double hp[NS * HID], lp[NS * NK];
            *v = keep + hh;
            tiny_forward(&t, xd, hp, lp);
            double sp = score_of(&t, lp + i * NK, i, target, pred[i]);
            *v = keep - hh;
            tiny_forward(&t, xd, hp, lp);
            double sm = score_of(&t, lp + i * NK, i, target, pred[i]);
            *v = keep;
            want_map[i * PIX + q] = (sp - sm) / (2 * hh);
        }
    tiny_map(&t, target, ana_map);
    float *mf = tu_download(sc_var_tensor(map));
    double e_map = rel_max_err(mf, want_map, NS * PIX);
    /* the host reference's analytic map agrees with its own differences */
    double e_ana = 0, m_ana = 0;
    for (int i = 0; i < NS * PIX; i++) {
        e_ana = fmax(e_ana, fabs(ana_map[i] - want_map[i]));
        m_ana = fmax(m_ana, fabs(want_map[i]));
    }
    ck_assert_msg(e_ana <= 1e-7 * m_ana, "%s: host reference map off by %.3g", name, e_ana);
    ck_assert_msg(e_map <= 1e-5, "%s: map rel. error %.3g", name, e_map);

    /* 2. the penalty and its parameter gradient vs differences of the reference */
    float pv;
    TU_OK(sc_tensor_download(sc_var_tensor(pen), &pv));
    double pw = tiny_penalty(&t, target, norm);
    double e_pen = fabs(pv - pw) / fabs(pw);
    ck_assert_msg(e_pen <= 1e-5, "%s: penalty %.9g want %.9g", name, (double)pv, pw);
    double want[NPAR];
    for (int i = 0; i < NPAR; i++) {
        double keep = t.p[i], hh = 1e-6 * fmax(1.0, fabs(keep));
        t.p[i] = keep + hh;
        double fp = tiny_penalty(&t, target, norm);
        t.p[i] = keep - hh;
        double fm = tiny_penalty(&t, target, norm);
        t.p[i] = keep;
        want[i] = (fp - fm) / (2 * hh);
    }
    double gmax = 0;
    for (int i = 0; i < NPAR; i++)
        gmax = fmax(gmax, fabs(want[i]));
    double e_g = 0;
    for (int k = 0; k < 4; k++) {
        size_t n = (size_t)(off[k + 1] - off[k]);
        if (!gp[k]) {
            /* no path (e.g. relu with a logit target: the map ignores the biases) */
            for (size_t i = 0; i < n; i++)
                ck_assert_msg(fabs(want[off[k] + i]) <= 1e-6 * gmax,
                              "%s: no gradient for %s but the reference has %.3g", name, pn[k],
                              want[off[k] + i]);
            continue;
        }
        float *gf = tu_download(sc_var_tensor(gp[k]));
        for (size_t i = 0; i < n; i++)
            e_g = fmax(e_g, fabs(gf[i] - want[off[k] + i]));
        free(gf);
    }
    e_g /= gmax;
    printf("  %-28s map %.2e  penalty %.2e  d/dparams %.2e\n", name, e_map, e_pen, e_g);
    ck_assert_msg(gmax > 0, "%s: the reference gradient is zero", name);
    ck_assert_msg(e_g <= 1e-4, "%s: parameter gradient rel. error %.3g", name, e_g);
    free(mf);
    sc_graph_free(g);
    for (int k = 0; k < 4; k++)
        sc_param_free(par[k]);
}

START_TEST(saliency_logit_targets)
{
    for (int gelu = 0; gelu < 2; gelu++)
        for (int target = 0; target < 2; target++)
            for (int norm = 0; norm < 2; norm++)
                saliency_case(gelu, (sc_saliency_target)target, (sc_saliency_norm)norm);
}
END_TEST

START_TEST(saliency_loss_target)
{
    for (int gelu = 0; gelu < 2; gelu++)
        for (int norm = 0; norm < 2; norm++)
            saliency_case(gelu, SC_SAL_LOSS, (sc_saliency_norm)norm);
}
END_TEST

/* The predicted class is the device argmax of the logits, ties to the first;
 * the true-class map follows the labels. Logits = x itself: the map is the
 * one-hot seed. */
START_TEST(saliency_seed_choice)
{
    sc_graph *g;
    TU_OK(sc_graph_create(tu_ctx(), &g));
    float xv[3][4] = {{1, 3, 3, 0}, {-1, -2, -0.5f, -0.5f}, {7, 7, 7, 7}};
    int32_t yv[3] = {3, 0, 2};
    int64_t s[2] = {3, 4}, ls = 3;
    sc_var *x = sc_var_from_host(g, 2, s, &xv[0][0], true);
    sc_var *logits = sc_nn_scale(g, x, 1.0f);
    sc_var *lab = sc_var_from_host_i32(g, 1, &ls, yv);
    sc_var *mp = sc_nn_saliency(g, x, logits, lab, SC_SAL_PRED_LOGIT, false);
    sc_var *mt = sc_nn_saliency(g, x, logits, NULL, SC_SAL_PRED_LOGIT, false);
    sc_var *my = sc_nn_saliency(g, x, logits, lab, SC_SAL_TRUE_LOGIT, false);
    TU_OK(sc_graph_status(g));
    float got[12];
    double want_p[12] = {0}, want_y[12] = {0};
    want_p[0 * 4 + 1] = want_p[1 * 4 + 2] = want_p[2 * 4 + 0] = 1;
    for (int i = 0; i < 3; i++)
        want_y[i * 4 + yv[i]] = 1;
    TU_OK(sc_tensor_download(sc_var_tensor(mp), got));
    tu_assert_close("pred-logit map", got, want_p, 12, 0, 0);
    TU_OK(sc_tensor_download(sc_var_tensor(mt), got));
    tu_assert_close("pred-logit map without labels", got, want_p, 12, 0, 0);
    TU_OK(sc_tensor_download(sc_var_tensor(my), got));
    tu_assert_close("true-logit map", got, want_y, 12, 0, 0);
    /* the true-logit target needs labels; x must require gradients */
    ck_assert_ptr_null(sc_nn_saliency(g, x, logits, NULL, SC_SAL_TRUE_LOGIT, false));
    ck_assert_int_eq(sc_graph_status(g), SC_ERR_INVALID_ARG);
    sc_graph_reset(g);
    sc_var *xc = sc_var_from_host(g, 2, s, &xv[0][0], false);
    lab = sc_var_from_host_i32(g, 1, &ls, yv);
    ck_assert_ptr_null(sc_nn_saliency(g, xc, xc, lab, SC_SAL_TRUE_LOGIT, false));
    ck_assert_int_eq(sc_graph_status(g), SC_ERR_INVALID_ARG);
    /* logits that were not recorded from x are an error, not a zero map */
    sc_graph_reset(g);
    x = sc_var_from_host(g, 2, s, &xv[0][0], true);
    sc_graph_set_recording(g, false);
    logits = sc_nn_scale(g, x, 1.0f);
    sc_graph_set_recording(g, true);
    lab = sc_var_from_host_i32(g, 1, &ls, yv);
    ck_assert_ptr_null(sc_nn_saliency(g, x, logits, lab, SC_SAL_TRUE_LOGIT, false));
    ck_assert_int_eq(sc_graph_status(g), SC_ERR_INVALID_ARG);
    ck_assert_msg(strstr(sc_last_error(), "recorded"), "%s", sc_last_error());
    /* a label outside [0, K) is not read back: its sample's true-logit map
     * is NaN, the others are the one-hot seed as above */
    sc_graph_reset(g);
    x = sc_var_from_host(g, 2, s, &xv[0][0], true);
    logits = sc_nn_scale(g, x, 1.0f);
    int32_t ybad[3] = {3, 4, 2};
    lab = sc_var_from_host_i32(g, 1, &ls, ybad);
    my = sc_nn_saliency(g, x, logits, lab, SC_SAL_TRUE_LOGIT, false);
    TU_OK(sc_graph_status(g));
    TU_OK(sc_tensor_download(sc_var_tensor(my), got));
    for (int i = 0; i < 12; i++) {
        if (i / 4 == 1)
            ck_assert_msg(isnan(got[i]), "map element %d: %g", i, (double)got[i]);
        else
            ck_assert_float_eq(got[i], (float)want_y[i]);
    }
    sc_graph_free(g);
}
END_TEST

int main(void)
{
    const tu_case cases[] = {
        {"ops", 0, {l2_normalize_and_cosine, l2_normalize_small_rows, max_axis_grad,
                max_axis_ties_and_third_order, nt_xent_grad, barlow_twins_grad, large_losses,
                losses_deterministic_first_order_only}},
        {"saliency", 0, {saliency_normalize_grad, saliency_seed_choice, saliency_logit_targets,
                saliency_loss_target}},
    };
    return tu_run(TU_SUITE("nn_loss", cases));
}
