/* Softmax, log-softmax, cross-entropy, MSE, layer norm, batch norm, concat,
 * slice, scaled dot-product attention and multi-head attention: forward vs
 * double references, first order vs central differences, second order vs
 * differences of the reference's exact first-order gradient
 * (tests/gradcheck.c), on odd shapes; plus error paths, running statistics
 * and determinism. */
#include "gradcheck.h"
#include "suite.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t prod(int ndim, const int64_t *s)
{
    size_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= (size_t)s[i];
    return n;
}

/* ---- double references ------------------------------------------------------ */

static void ref_softmax_rows(const double *x, double *y, size_t rows, size_t len, bool logm)
{
    for (size_t r = 0; r < rows; r++) {
        const double *p = x + r * len;
        double *q = y + r * len;
        double m = -INFINITY, s = 0;
        for (size_t j = 0; j < len; j++) m = fmax(m, p[j]);
        for (size_t j = 0; j < len; j++) s += exp(p[j] - m);
        for (size_t j = 0; j < len; j++) q[j] = logm ? p[j] - m - log(s) : exp(p[j] - m) / s;
    }
}

/* gx += vjp of softmax (y the softmax) or log-softmax (y the softmax too) */
static void ref_softmax_vjp(const double *y, const double *u, double *gx, size_t rows, size_t len,
                            bool logm)
{
    for (size_t r = 0; r < rows; r++) {
        const double *p = y + r * len, *g = u + r * len;
        double s = 0;
        for (size_t j = 0; j < len; j++) s += logm ? g[j] : g[j] * p[j];
        for (size_t j = 0; j < len; j++)
            gx[r * len + j] += logm ? g[j] - p[j] * s : p[j] * (g[j] - s);
    }
}

/* x [outer, C, inner] normalised per channel: xh, rstd [C] */
static void ref_norm3(const double *x, double *xh, double *rstd, size_t outer, size_t C,
                      size_t inner, double eps)
{
    size_t M = outer * inner;
    for (size_t c = 0; c < C; c++) {
        double s = 0, q = 0;
        for (size_t o = 0; o < outer; o++)
            for (size_t i = 0; i < inner; i++) s += x[(o * C + c) * inner + i];
        double mean = s / (double)M;
        for (size_t o = 0; o < outer; o++)
            for (size_t i = 0; i < inner; i++) {
                double d = x[(o * C + c) * inner + i] - mean;
                q += d * d;
            }
        rstd[c] = 1.0 / sqrt(q / (double)M + eps);
        for (size_t o = 0; o < outer; o++)
            for (size_t i = 0; i < inner; i++) {
                size_t at = (o * C + c) * inner + i;
                xh[at] = (x[at] - mean) * rstd[c];
            }
    }
}

/* gx += d<gxh, xh>/dx */
static void ref_norm3_vjp(const double *xh, const double *rstd, const double *gxh, double *gx,
                          size_t outer, size_t C, size_t inner)
{
    size_t M = outer * inner;
    for (size_t c = 0; c < C; c++) {
        double m1 = 0, m2 = 0;
        for (size_t o = 0; o < outer; o++)
            for (size_t i = 0; i < inner; i++) {
                size_t at = (o * C + c) * inner + i;
                m1 += gxh[at];
                m2 += gxh[at] * xh[at];
            }
        m1 /= (double)M;
        m2 /= (double)M;
        for (size_t o = 0; o < outer; o++)
            for (size_t i = 0; i < inner; i++) {
                size_t at = (o * C + c) * inner + i;
                gx[at] += rstd[c] * (gxh[at] - m1 - xh[at] * m2);
            }
    }
}

/* One attention head: q [T,E], k [S,E], v [S,F] -> o [T,F]. */
static void ref_sdpa1(const double *q, const double *k, const double *v, double *o, int T, int S,
                      int E, int F, double scale)
{
    double *p = malloc((size_t)S * sizeof *p);
    for (int t = 0; t < T; t++) {
        for (int j = 0; j < S; j++) {
            double s = 0;
            for (int e = 0; e < E; e++) s += q[t * E + e] * k[j * E + e];
            p[j] = s * scale;
        }
        ref_softmax_rows(p, p, 1, (size_t)S, false);
        for (int f = 0; f < F; f++) {
            double s = 0;
            for (int j = 0; j < S; j++) s += p[j] * v[j * F + f];
            o[t * F + f] = s;
        }
    }
    free(p);
}

/* gq, gk, gv += vjp of ref_sdpa1 with cotangent u [T,F] */
static void ref_sdpa1_vjp(const double *q, const double *k, const double *v, const double *u,
                          double *gq, double *gk, double *gv, int T, int S, int E, int F,
                          double scale)
{
    double *p = malloc((size_t)S * sizeof *p), *gp = malloc((size_t)S * sizeof *gp);
    for (int t = 0; t < T; t++) {
        for (int j = 0; j < S; j++) {
            double s = 0;
            for (int e = 0; e < E; e++) s += q[t * E + e] * k[j * E + e];
            p[j] = s * scale;
        }
        ref_softmax_rows(p, p, 1, (size_t)S, false);
        double sp = 0;
        for (int j = 0; j < S; j++) {
            double s = 0;
            for (int f = 0; f < F; f++) {
                s += u[t * F + f] * v[j * F + f];
                gv[j * F + f] += p[j] * u[t * F + f];
            }
            gp[j] = s;
            sp += s * p[j];
        }
        for (int j = 0; j < S; j++) {
            double gs = p[j] * (gp[j] - sp) * scale;
            for (int e = 0; e < E; e++) {
                gq[t * E + e] += gs * k[j * E + e];
                gk[j * E + e] += gs * q[t * E + e];
            }
        }
    }
    free(p);
    free(gp);
}

/* ---- softmax and log-softmax ---------------------------------------------------- */

typedef struct sm_ud {
    bool logm;
    int ndim;
    int64_t shape[4];
} sm_ud;

static void sm_dims(const sm_ud *s, size_t *rows, size_t *len)
{
    *len = (size_t)s->shape[s->ndim - 1];
    *rows = prod(s->ndim, s->shape) / *len;
}

static sc_var *sm_dev(sc_graph *g, sc_var **in, void *ud)
{
    const sm_ud *s = ud;
    return s->logm ? sc_nn_log_softmax(g, in[0]) : sc_nn_softmax(g, in[0]);
}

static void sm_ref(double *const *in, double *out, void *ud)
{
    size_t rows, len;
    sm_dims(ud, &rows, &len);
    ref_softmax_rows(in[0], out, rows, len, ((const sm_ud *)ud)->logm);
}

static void sm_vjp(double *const *in, const double *u, double **gin, void *ud)
{
    size_t rows, len;
    sm_dims(ud, &rows, &len);
    double *y = malloc(rows * len * sizeof *y);
    ref_softmax_rows(in[0], y, rows, len, false);
    ref_softmax_vjp(y, u, gin[0], rows, len, ((const sm_ud *)ud)->logm);
    free(y);
}

static void softmax_ops_once(void)
{
    /* [3,300]: long rows, few of them -> the work-group-per-row kernels */
    const int64_t shapes[][3] = {{7, 13, 0}, {1, 5, 0}, {2, 3, 17}, {13, 1, 0}, {3, 300, 0}};
    const int nd[] = {2, 2, 3, 2, 2};
    for (int logm = 0; logm < 2; logm++)
        for (size_t i = 0; i < sizeof nd / sizeof nd[0]; i++) {
            sm_ud s = {.logm = logm, .ndim = nd[i]};
            memcpy(s.shape, shapes[i], sizeof shapes[i]);
            char name[64];
            snprintf(name, sizeof name, "%s [%lld..%lld] r%d", logm ? "log_softmax" : "softmax",
                     (long long)shapes[i][0], (long long)shapes[i][nd[i] - 1], nd[i]);
            gc_case c = {.name = name, .n_in = 1, .ndim = {nd[i]}, .dev = sm_dev, .ref = sm_ref,
                         .ref_vjp = sm_vjp, .ud = &s, .second_order = true, .lo = 0.1, .hi = 3.0};
            memcpy(c.shape[0], shapes[i], sizeof shapes[i]);
            gc_check(&c);
        }
}

/* both forms of the row-reducing kernels (TU_EACH_ROWS_FORM) */
START_TEST(softmax_ops)
{
    TU_EACH_ROWS_FORM(softmax_ops_once());
}
END_TEST

/* Softmax over rows with -inf entries, spreads past exp's range (cl/
 * common.cl's sc_exp_neg is 0 below -87) and a NaN, against double: the
 * finite rows to 1e-6, a NaN row NaN, an all -inf row NaN (0 / 0, as
 * PyTorch). */
static void softmax_extremes_once(void)
{
    enum { R = 6, L = 5 };
    const float I = INFINITY;
    float x[R * L] = {0.0f, -I, 1.0f, 2.0f, -I,             /* -inf entries */
                      -1e30f, 0.0f, 0.0f, 0.0f, -3e38f,     /* huge negative */
                      100.0f, -100.0f, 0.0f, 50.0f, 87.5f,  /* spread > 87 */
                      3e38f, 3e38f, -3e38f, 0.0f, 1.0f,     /* huge positive */
                      NAN, 0.0f, 1.0f, 2.0f, 3.0f,          /* NaN */
                      -I, -I, -I, -I, -I};                  /* nothing finite */
    int64_t shape[2] = {R, L};
    sc_graph *g;
    TU_OK(sc_graph_create(tu_ctx(), &g));
    sc_var *y = sc_nn_softmax(g, sc_var_from_host(g, 2, shape, x, false));
    TU_OK(sc_graph_status(g));
    float *got = tu_download(sc_var_tensor(y));
    for (int r = 0; r < 4; r++) {
        double m = -INFINITY, s = 0, want[L];
        for (int j = 0; j < L; j++)
            m = fmax(m, x[r * L + j]);
        for (int j = 0; j < L; j++)
            s += want[j] = exp((double)x[r * L + j] - m);
        for (int j = 0; j < L; j++)
            ck_assert_msg(fabs(got[r * L + j] - want[j] / s) <= 1e-6,
                          "softmax row %d [%d] = %.9g, want %.9g", r, j, got[r * L + j],
                          want[j] / s);
    }
    for (int j = 0; j < 2 * L; j++)
        ck_assert_msg(isnan(got[4 * L + j]), "softmax row %d [%d] = %g, want NaN", 4 + j / L,
                      j % L, got[4 * L + j]);
    free(got);
    sc_graph_free(g);
}

/* both forms of the row-reducing kernels (TU_EACH_ROWS_FORM) */
START_TEST(softmax_extremes)
{
    TU_EACH_ROWS_FORM(softmax_extremes_once());
}
END_TEST

/* (d/dx sum(c * y^2))^2, y computed from x on g (the input gradient
 * recorded, so that its square is differentiable again), or NULL. */
static sc_var *input_grad_squared(sc_graph *g, sc_var *y, sc_var *c, sc_var *x)
{
    sc_var *l = sc_nn_sum(g, sc_nn_mul(g, c, sc_nn_mul(g, y, y)));
    sc_var *gx = NULL;
    if (sc_grad(g, 1, &l, NULL, 1, &x, true, &gx) != SC_OK)
        return NULL;
    return sc_nn_mul(g, gx, gx);
}

/* f(x) = (d/dx sum(c * s(x)^2))^2 for s = softmax or log-softmax, checked
 * to second order: derivatives of s up to the third, with every input of
 * the backward ops (y, the incoming gradient, the cotangent) depending on x,
 * so that each branch of the third-order rule is used. */
typedef struct smg_ud {
    bool logm;
    size_t rows, len;
    float *c;
} smg_ud;

static sc_var *smg_dev(sc_graph *g, sc_var **in, void *ud)
{
    const smg_ud *s = ud;
    sc_var *y = s->logm ? sc_nn_log_softmax(g, in[0]) : sc_nn_softmax(g, in[0]);
    sc_var *c = sc_var_from_host(g, sc_var_ndim(in[0]), sc_tensor_shape(sc_var_tensor(in[0])),
                                 s->c, false);
    return input_grad_squared(g, y, c, in[0]);
}

static void smg_ref(double *const *in, double *out, void *ud)
{
    const smg_ud *s = ud;
    size_t n = s->rows * s->len;
    double *y = malloc(n * sizeof *y), *p = malloc(n * sizeof *p), *gy = calloc(n, sizeof *gy);
    ref_softmax_rows(in[0], y, s->rows, s->len, s->logm);
    ref_softmax_rows(in[0], p, s->rows, s->len, false);
    for (size_t i = 0; i < n; i++) {
        gy[i] = 2.0 * s->c[i] * y[i];
        out[i] = 0;
    }
    ref_softmax_vjp(p, gy, out, s->rows, s->len, s->logm);
    for (size_t i = 0; i < n; i++)
        out[i] *= out[i];
    free(y);
    free(p);
    free(gy);
}

START_TEST(softmax_higher_order)
{
    const int64_t shapes[][2] = {{7, 13}, {1, 5}, {3, 7}};
    sc_rng rng;
    sc_rng_seed(&rng, 77);
    for (int logm = 0; logm < 2; logm++)
        for (int i = 0; i < 3; i++) {
            smg_ud s = {.logm = logm, .rows = (size_t)shapes[i][0], .len = (size_t)shapes[i][1]};
            s.c = malloc(s.rows * s.len * sizeof(float));
            tu_normal(&rng, s.c, s.rows * s.len);
            char name[64];
            snprintf(name, sizeof name, "d%s [%lld,%lld]", logm ? "log_softmax" : "softmax",
                     (long long)shapes[i][0], (long long)shapes[i][1]);
            gc_case c = {.name = name, .n_in = 1, .ndim = {2}, .dev = smg_dev, .ref = smg_ref,
                         .ud = &s, .second_order = true, .lo = 0.1, .hi = 2.0};
            memcpy(c.shape[0], shapes[i], sizeof shapes[i]);
            gc_check(&c);
            free(s.c);
        }
}
END_TEST

/* ---- cross-entropy --------------------------------------------------------------- */

typedef struct ce_ud {
    int64_t n, k;
    int32_t labels[1024];
    bool weighted;
    sc_loss_reduction red;
} ce_ud;

static sc_var *ce_dev(sc_graph *g, sc_var **in, void *ud)
{
    const ce_ud *p = ud;
    sc_var *lab = sc_var_from_host_i32(g, 1, &p->n, p->labels);
    return sc_nn_cross_entropy(g, in[0], lab, p->weighted ? in[1] : NULL, p->red);
}

static double ce_sample(const ce_ud *p, const double *x, int64_t i)
{
    const double *r = x + i * p->k;
    double m = -INFINITY, s = 0;
    for (int64_t j = 0; j < p->k; j++) m = fmax(m, r[j]);
    for (int64_t j = 0; j < p->k; j++) s += exp(r[j] - m);
    return m + log(s) - r[p->labels[i]];
}

static void ce_ref(double *const *in, double *out, void *ud)
{
    const ce_ud *p = ud;
    double acc = 0;
    for (int64_t i = 0; i < p->n; i++) {
        double l = ce_sample(p, in[0], i) * (p->weighted ? in[1][i] : 1.0);
        if (p->red == SC_LOSS_NONE)
            out[i] = l;
        acc += l;
    }
    if (p->red != SC_LOSS_NONE)
        out[0] = p->red == SC_LOSS_MEAN ? acc / (double)p->n : acc;
}

static void ce_vjp(double *const *in, const double *u, double **gin, void *ud)
{
    const ce_ud *p = ud;
    double *sm = malloc((size_t)p->k * sizeof *sm);
    for (int64_t i = 0; i < p->n; i++) {
        double ui = p->red == SC_LOSS_NONE ? u[i]
                    : p->red == SC_LOSS_MEAN ? u[0] / (double)p->n : u[0];
        double w = p->weighted ? in[1][i] : 1.0;
        ref_softmax_rows(in[0] + i * p->k, sm, 1, (size_t)p->k, false);
        for (int64_t j = 0; j < p->k; j++)
            gin[0][i * p->k + j] += ui * w * (sm[j] - (j == p->labels[i] ? 1.0 : 0.0));
        if (p->weighted)
            gin[1][i] += ui * ce_sample(p, in[0], i);
    }
    free(sm);
}

static void cross_entropy_cases_once(void)
{
    const int64_t shapes[][2] = {{7, 13}, {1, 5}, {13, 7}, {3, 100}};
    const char *rn[3] = {"mean", "sum", "none"};
    sc_rng rng;
    sc_rng_seed(&rng, 31);
    for (int s = 0; s < 4; s++)
        for (int weighted = 0; weighted < 2; weighted++)
            for (int red = 0; red < 3; red++) {
                ce_ud p = {.n = shapes[s][0], .k = shapes[s][1], .weighted = weighted,
                           .red = (sc_loss_reduction)red};
                for (int64_t i = 0; i < p.n; i++)
                    p.labels[i] = (int32_t)(sc_rng_uniform(&rng) * (double)p.k) % (int32_t)p.k;
                p.labels[0] = (int32_t)p.k - 1; /* the last class is hit */
                char name[64];
                snprintf(name, sizeof name, "ce [%lld,%lld] %s%s", (long long)p.n,
                         (long long)p.k, rn[red], weighted ? " w" : "");
                gc_case c = {.name = name, .n_in = weighted ? 2 : 1, .ndim = {2, 1},
                             .shape = {{p.n, p.k}, {p.n}}, .dev = ce_dev, .ref = ce_ref,
                             .ref_vjp = ce_vjp, .ud = &p, .second_order = true, .lo = 0.1,
                             .hi = 3.0, .seed = 100 + (uint64_t)(s * 6 + weighted * 3 + red)};
                gc_check(&c);
            }
}

/* both forms of the row-reducing kernels (TU_EACH_ROWS_FORM) */
START_TEST(cross_entropy_cases)
{
    TU_EACH_ROWS_FORM(cross_entropy_cases_once());
}
END_TEST

START_TEST(cross_entropy_errors)
{
    sc_graph *g;
    TU_OK(sc_graph_create(tu_ctx(), &g));
    int64_t xs[2] = {3, 4}, n = 3;
    float x[12] = {0};
    const int32_t bad[2][3] = {{0, 4, 1}, {2, 0, -1}};
    const int bad_at[2] = {1, 2};
    const char *want[2] = {"label 4 of sample 1 is outside [0, 4)",
                           "label -1 of sample 2 is outside [0, 4)"};
    for (int i = 0; i < 2; i++) {
        /* checked on the host before the upload: the error names the sample */
        ck_assert_ptr_null(sc_var_labels_from_host(g, n, bad[i], 4));
        ck_assert_int_eq(sc_graph_status(g), SC_ERR_INVALID_ARG);
        ck_assert_msg(strstr(sc_last_error(), want[i]) != NULL, "%s", sc_last_error());
        sc_graph_reset(g);

        /* uploaded unchecked: the loss never reads the labels back; the bad
         * sample's loss and its row of the gradient are NaN, the others are
         * untouched (log K for uniform logits, softmax - onehot) */
        sc_var *lv = sc_var_from_host(g, 2, xs, x, true);
        sc_var *lab = sc_var_from_host_i32(g, 1, &n, bad[i]);
        sc_var *l = sc_nn_cross_entropy(g, lv, lab, NULL, SC_LOSS_NONE);
        ck_assert_ptr_nonnull(l);
        sc_var *gx;
        TU_OK(sc_grad(g, 1, &l, (sc_var *[]){sc_nn_full_like(g, l, 1.0f)}, 1, &lv, false, &gx));
        float lh[3], gh[12];
        TU_OK(sc_tensor_download(sc_var_tensor(l), lh));
        TU_OK(sc_tensor_download(sc_var_tensor(gx), gh));
        for (int r = 0; r < 3; r++) {
            if (r == bad_at[i]) {
                ck_assert_msg(isnan(lh[r]), "loss of sample %d: %g", r, (double)lh[r]);
            } else {
                ck_assert_float_eq_tol(lh[r], logf(4.0f), 1e-6);
            }
            for (int j = 0; j < 4; j++) {
                float gv = gh[r * 4 + j];
                if (r == bad_at[i])
                    ck_assert_msg(isnan(gv), "gradient (%d, %d): %g", r, j, (double)gv);
                else
                    ck_assert_float_eq_tol(gv, 0.25f - (j == bad[i][r] ? 1.0f : 0.0f), 1e-6);
            }
        }
        /* the mean is NaN: what a training loop's finiteness check sees */
        sc_var *m = sc_nn_cross_entropy(g, lv, lab, NULL, SC_LOSS_MEAN);
        float mh;
        TU_OK(sc_tensor_download(sc_var_tensor(m), &mh));
        ck_assert(isnan(mh));
        TU_OK(sc_graph_status(g));
        sc_graph_reset(g);
    }
    /* good labels pass the host check unchanged */
    const int32_t good[3] = {3, 0, 2};
    sc_var *gl = sc_var_labels_from_host(g, n, good, 4);
    ck_assert_ptr_nonnull(gl);
    int32_t back[3];
    TU_OK(sc_tensor_download(sc_var_tensor(gl), back));
    ck_assert_mem_eq(back, good, sizeof good);
    ck_assert_int_eq(sc_var_ndim(gl), 1);
    ck_assert_int_eq(sc_var_dim(gl, 0), 3);
    sc_graph_reset(g);
    /* labels of the wrong count, weights of the wrong shape */
    int64_t two = 2;
    int32_t lab2[2] = {0, 1};
    sc_var *lv = sc_var_from_host(g, 2, xs, x, true);
    ck_assert_ptr_null(sc_nn_cross_entropy(g, lv, sc_var_from_host_i32(g, 1, &two, lab2), NULL,
                                           SC_LOSS_SUM));
    ck_assert_int_eq(sc_graph_status(g), SC_ERR_INVALID_ARG);
    sc_graph_reset(g);
    int32_t lab3[3] = {0, 1, 2};
    float w[2] = {1, 1};
    lv = sc_var_from_host(g, 2, xs, x, true);
    ck_assert_ptr_null(sc_nn_cross_entropy(g, lv, sc_var_from_host_i32(g, 1, &n, lab3),
                                           sc_var_from_host(g, 1, &two, w, false), SC_LOSS_SUM));
    ck_assert_int_eq(sc_graph_status(g), SC_ERR_INVALID_ARG);
    sc_graph_reset(g);
    /* uniform logits: every loss is log K exactly */
    lv = sc_var_from_host(g, 2, xs, x, true);
    sc_var *l = sc_nn_cross_entropy(g, lv, sc_var_from_host_i32(g, 1, &n, lab3), NULL,
                                    SC_LOSS_NONE);
    TU_OK(sc_graph_status(g));
    float got[3];
    TU_OK(sc_tensor_download(sc_var_tensor(l), got));
    for (int i = 0; i < 3; i++)
        ck_assert_float_eq_tol(got[i], logf(4.0f), 1e-6);
    sc_graph_free(g);
}
END_TEST

/* ---- MSE ---------------------------------------------------------------------------- */

static sc_var *mse_dev(sc_graph *g, sc_var **in, void *ud)
{
    (void)ud;
    return sc_nn_mse(g, in[0], in[1]);
}

static void mse_ref(double *const *in, double *out, void *ud)
{
    size_t n = *(const size_t *)ud;
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (in[0][i] - in[1][i]) * (in[0][i] - in[1][i]);
    out[0] = s / (double)n;
}

START_TEST(mse_cases)
{
    const int64_t shapes[][3] = {{7, 13, 1}, {1, 5, 1}, {2, 3, 17}};
    for (int i = 0; i < 3; i++) {
        size_t n = prod(3, shapes[i]);
        gc_case c = {.name = "mse", .n_in = 2, .ndim = {3, 3}, .dev = mse_dev, .ref = mse_ref,
                     .ud = &n, .second_order = true};
        memcpy(c.shape[0], shapes[i], sizeof shapes[i]);
        memcpy(c.shape[1], shapes[i], sizeof shapes[i]);
        gc_check(&c);
    }
    sc_graph *g;
    TU_OK(sc_graph_create(tu_ctx(), &g));
    int64_t s1[2] = {2, 3}, s2[2] = {3, 2};
    float z[6] = {0};
    ck_assert_ptr_null(sc_nn_mse(g, sc_var_from_host(g, 2, s1, z, true),
                                 sc_var_from_host(g, 2, s2, z, true)));
    ck_assert_int_eq(sc_graph_status(g), SC_ERR_INVALID_ARG);
    sc_graph_free(g);
}
END_TEST

/* ---- layer norm --------------------------------------------------------------------- */

typedef struct ln_ud {
    int ndim;
    int64_t shape[4];
    bool has_w, has_b;
    double eps;
} ln_ud;

static void ln_dims(const ln_ud *p, size_t *rows, size_t *d)
{
    *d = (size_t)p->shape[p->ndim - 1];
    *rows = prod(p->ndim, p->shape) / *d;
}

static sc_var *ln_dev(sc_graph *g, sc_var **in, void *ud)
{
    const ln_ud *p = ud;
    sc_var *w = p->has_w ? in[1] : NULL, *b = p->has_b ? in[p->has_w ? 2 : 1] : NULL;
    return sc_nn_layer_norm(g, in[0], w, b, (float)p->eps);
}

static void ln_ref(double *const *in, double *out, void *ud)
{
    const ln_ud *p = ud;
    size_t rows, d;
    ln_dims(p, &rows, &d);
    double *rstd = malloc(rows * sizeof *rstd);
    ref_norm3(in[0], out, rstd, 1, rows, d, p->eps);
    const double *w = p->has_w ? in[1] : NULL, *b = p->has_b ? in[p->has_w ? 2 : 1] : NULL;
    for (size_t i = 0; i < rows * d; i++)
        out[i] = out[i] * (w ? w[i % d] : 1.0) + (b ? b[i % d] : 0.0);
    free(rstd);
}

static void ln_vjp(double *const *in, const double *u, double **gin, void *ud)
{
    const ln_ud *p = ud;
    size_t rows, d;
    ln_dims(p, &rows, &d);
    size_t n = rows * d;
    double *rstd = malloc(rows * sizeof *rstd), *xh = malloc(n * sizeof *xh);
    double *gxh = malloc(n * sizeof *gxh);
    ref_norm3(in[0], xh, rstd, 1, rows, d, p->eps);
    const double *w = p->has_w ? in[1] : NULL;
    for (size_t i = 0; i < n; i++) {
        gxh[i] = u[i] * (w ? w[i % d] : 1.0);
        if (p->has_w)
            gin[1][i % d] += u[i] * xh[i];
        if (p->has_b)
            gin[p->has_w ? 2 : 1][i % d] += u[i];
    }
    ref_norm3_vjp(xh, rstd, gxh, gin[0], 1, rows, d);
    free(rstd);
    free(xh);
    free(gxh);
}

static void layer_norm_cases_once(void)
{
    struct {
        int ndim;
        int64_t shape[3];
        bool w, b;
    } cases[] = {
        {2, {7, 13}, true, true},  {3, {2, 5, 17}, false, false}, {2, {13, 7}, true, false},
        {2, {1, 5}, false, true},  {3, {2, 17, 5}, true, true},   {2, {3, 100}, true, true},
        /* D by vectors of 8 and of 16 (two) in the row kernels (D 100: of 4) */
        {2, {9, 24}, true, true},  {2, {5, 32}, true, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ln_ud p = {.ndim = cases[i].ndim, .has_w = cases[i].w, .has_b = cases[i].b, .eps = 1e-5};
        memcpy(p.shape, cases[i].shape, sizeof cases[i].shape);
        int64_t d = p.shape[p.ndim - 1];
        char name[64];
        snprintf(name, sizeof name, "layer_norm [%lld..%lld]%s%s", (long long)p.shape[0],
                 (long long)d, p.has_w ? " w" : "", p.has_b ? " b" : "");
        gc_case c = {.name = name, .n_in = 1 + p.has_w + p.has_b, .ndim = {p.ndim, 1, 1},
                     .dev = ln_dev, .ref = ln_ref, .ref_vjp = ln_vjp, .ud = &p,
                     .second_order = true, .lo = 0.1, .hi = 2.0};
        memcpy(c.shape[0], p.shape, sizeof p.shape);
        c.shape[1][0] = c.shape[2][0] = d;
        gc_check(&c);
    }
}

/* both forms of the row-reducing kernels (TU_EACH_ROWS_FORM) */
START_TEST(layer_norm_cases)
{
    TU_EACH_ROWS_FORM(layer_norm_cases_once());
}
END_TEST

/* f(x, w, b) = (d/dx sum(c * norm(x; w, b)^2))^2, norm a layer norm or a
 * training-mode batch norm, checked to second order: derivatives of the
 * norm up to the third. The inner gradient is recorded, so the norm's
 * rule is a norm_rule node (src/nn/ops_norm.c); the check's recorded first
 * order takes that node's composed backward and its second order the
 * fused one (sc_k_norm_rule_backward), both against the double reference. */
typedef struct nh_ud {
    bool bn;                 /* batch norm [N, C, H, W], else layer norm [rows, D] */
    int ndim;
    int64_t shape[4];
    float *c;
} nh_ud;

static void nh_dims(const nh_ud *s, size_t *outer, size_t *C, size_t *inner)
{
    if (s->bn) {
        *outer = (size_t)s->shape[0];
        *C = (size_t)s->shape[1];
        *inner = (size_t)(s->shape[2] * s->shape[3]);
    } else {
        *outer = 1;
        *C = (size_t)s->shape[0];
        *inner = (size_t)s->shape[1];
    }
}

static sc_var *nh_dev(sc_graph *g, sc_var **in, void *ud)
{
    const nh_ud *s = ud;
    sc_var *y = s->bn ? sc_nn_batch_norm(g, in[0], in[1], in[2], NULL, NULL, true, 0.1f, 1e-5f)
                      : sc_nn_layer_norm(g, in[0], in[1], in[2], 1e-5f);
    return input_grad_squared(g, y, sc_var_from_host(g, s->ndim, s->shape, s->c, false), in[0]);
}

static void nh_ref(double *const *in, double *out, void *ud)
{
    const nh_ud *s = ud;
    size_t outer, C, inner;
    nh_dims(s, &outer, &C, &inner);
    size_t n = outer * C * inner;
    double *xh = malloc(n * sizeof *xh), *rstd = malloc(C * sizeof *rstd);
    double *gxh = calloc(n, sizeof *gxh);
    ref_norm3(in[0], xh, rstd, outer, C, inner, 1e-5);
    for (size_t i = 0; i < n; i++) {
        size_t a = s->bn ? i / inner % C : i % inner; /* w and b by channel or position */
        double y = xh[i] * in[1][a] + in[2][a];
        gxh[i] = 2.0 * s->c[i] * y * in[1][a];
        out[i] = 0;
    }
    ref_norm3_vjp(xh, rstd, gxh, out, outer, C, inner);
    for (size_t i = 0; i < n; i++)
        out[i] *= out[i];
    free(xh);
    free(rstd);
    free(gxh);
}

static void norm_higher_order_once(void)
{
    /* layer norm by the row kernels (D 13) and by vectors (D 24: of 8;
     * D 64: of 16), batch norm over [N, C, H, W] */
    const nh_ud cases[] = {
        {false, 2, {7, 13}, NULL}, {false, 2, {3, 24}, NULL}, {false, 2, {2, 64}, NULL},
        {true, 4, {3, 2, 3, 3}, NULL},
    };
    sc_rng rng;
    sc_rng_seed(&rng, 78);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nh_ud s = cases[i];
        size_t n = prod(s.ndim, s.shape);
        s.c = malloc(n * sizeof(float));
        tu_normal(&rng, s.c, n);
        int64_t a = s.shape[1]; /* w, b: [C] (batch norm) or [D] (layer norm) */
        char name[64];
        snprintf(name, sizeof name, "d%s [%lld,%lld%s]", s.bn ? "batch_norm" : "layer_norm",
                 (long long)s.shape[0], (long long)s.shape[1], s.bn ? ",h,w" : "");
        gc_case c = {.name = name, .n_in = 3, .ndim = {s.ndim, 1, 1}, .dev = nh_dev,
                     .ref = nh_ref, .ud = &s, .second_order = true, .lo = 0.1, .hi = 2.0};
        memcpy(c.shape[0], s.shape, sizeof s.shape);
        c.shape[1][0] = c.shape[2][0] = a;
        gc_check(&c);
        free(s.c);
    }
}

/* both forms of the row-reducing kernels (TU_EACH_ROWS_FORM) */
START_TEST(norm_higher_order)
{
    TU_EACH_ROWS_FORM(norm_higher_order_once());
}
END_TEST

/* ---- batch norm ------------------------------------------------------------------------ */

typedef struct bn_ud {
    int ndim;
    int64_t shape[4];
    bool training;
    bool has_affine;
    sc_tensor *rm, *rv;      /* running statistics (eval mode) */
    double *rm_h, *rv_h;
    double eps;
} bn_ud;

static void bn_dims(const bn_ud *p, size_t *n, size_t *c, size_t *inner)
{
    *n = (size_t)p->shape[0];
    *c = (size_t)p->shape[1];
    *inner = p->ndim == 4 ? (size_t)(p->shape[2] * p->shape[3]) : 1;
}

static sc_var *bn_dev(sc_graph *g, sc_var **in, void *ud)
{
    const bn_ud *p = ud;
    return sc_nn_batch_norm(g, in[0], p->has_affine ? in[1] : NULL, p->has_affine ? in[2] : NULL,
                            p->training ? NULL : p->rm, p->training ? NULL : p->rv, p->training,
                            0.1f, (float)p->eps);
}

static void bn_ref(double *const *in, double *out, void *ud)
{
    const bn_ud *p = ud;
    size_t n, c, inner;
    bn_dims(p, &n, &c, &inner);
    double *rstd = malloc(c * sizeof *rstd);
    if (p->training) {
        ref_norm3(in[0], out, rstd, n, c, inner, p->eps);
    } else {
        for (size_t i = 0; i < n * c * inner; i++) {
            size_t ch = i / inner % c;
            out[i] = (in[0][i] - p->rm_h[ch]) / sqrt(p->rv_h[ch] + p->eps);
        }
    }
    if (p->has_affine)
        for (size_t i = 0; i < n * c * inner; i++) {
            size_t ch = i / inner % c;
            out[i] = out[i] * in[1][ch] + in[2][ch];
        }
    free(rstd);
}

static void bn_vjp(double *const *in, const double *u, double **gin, void *ud)
{
    const bn_ud *p = ud;
    size_t n, c, inner;
    bn_dims(p, &n, &c, &inner);
    size_t tot = n * c * inner;
    double *rstd = malloc(c * sizeof *rstd), *xh = malloc(tot * sizeof *xh);
    double *gxh = malloc(tot * sizeof *gxh);
    ref_norm3(in[0], xh, rstd, n, c, inner, p->eps); /* training mode only */
    for (size_t i = 0; i < tot; i++) {
        size_t ch = i / inner % c;
        gxh[i] = u[i] * (p->has_affine ? in[1][ch] : 1.0);
        if (p->has_affine) {
            gin[1][ch] += u[i] * xh[i];
            gin[2][ch] += u[i];
        }
    }
    ref_norm3_vjp(xh, rstd, gxh, gin[0], n, c, inner);
    free(rstd);
    free(xh);
    free(gxh);
}

static void bn_eval_vjp(double *const *in, const double *u, double **gin, void *ud)
{
    const bn_ud *p = ud;
    size_t n, c, inner;
    bn_dims(p, &n, &c, &inner);
    for (size_t i = 0; i < n * c * inner; i++) {
        size_t ch = i / inner % c;
        double r = 1.0 / sqrt(p->rv_h[ch] + p->eps);
        gin[0][i] += u[i] * in[1][ch] * r;
        gin[1][ch] += u[i] * (in[0][i] - p->rm_h[ch]) * r;
        gin[2][ch] += u[i];
    }
}

static void batch_norm_training_once(void)
{
    struct {
        int ndim;
        int64_t shape[4];
        bool affine;
    } cases[] = {
        {2, {7, 3}, true},        {2, {13, 2}, false},        {4, {1, 3, 5, 5}, true},
        {4, {2, 3, 5, 7}, true},  {4, {5, 2, 3, 3}, false},   {2, {100, 3}, true},
        /* inner >= 8: the CPU's slice kernels; 81 = 10 x 8 + 1, 8 slices
         * of 37 rows (uneven), one slice per row */
        {4, {4, 3, 9, 9}, true},  {4, {37, 2, 4, 2}, true},   {4, {9, 1, 3, 3}, false},
        /* [N, C] with C a multiple of 4: 4 channels per work-item (CPU);
         * 16 per work-item with C = 256 on up to 2 compute units */
        {2, {6, 8}, true},        {2, {5, 12}, false},        {2, {3, 256}, true},
    };
    /* both batch-norm kernels of a CPU device (src/kernels/norm.c) */
    for (int mode = 0; mode < 2; mode++)
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        TU_OK(sc_context_set_form(tu_ctx(), "norm", mode ? "channels" : "slices"));
        bn_ud p = {.ndim = cases[i].ndim, .training = true, .has_affine = cases[i].affine,
                   .eps = 1e-5};
        memcpy(p.shape, cases[i].shape, sizeof cases[i].shape);
        char name[64];
        snprintf(name, sizeof name, "batch_norm train [%lld,%lld%s]%s", (long long)p.shape[0],
                 (long long)p.shape[1], p.ndim == 4 ? ",h,w" : "", p.has_affine ? " wb" : "");
        gc_case c = {.name = name, .n_in = p.has_affine ? 3 : 1, .ndim = {p.ndim, 1, 1},
                     .dev = bn_dev, .ref = bn_ref, .ref_vjp = bn_vjp, .ud = &p,
                     .second_order = true, .lo = 0.1, .hi = 2.0};
        memcpy(c.shape[0], p.shape, sizeof p.shape);
        c.shape[1][0] = c.shape[2][0] = p.shape[1];
        gc_check(&c);
    }
    TU_OK(sc_context_set_form(tu_ctx(), "norm", NULL));
}

/* both forms of the row-reducing kernels (TU_EACH_ROWS_FORM) */
START_TEST(batch_norm_training)
{
    TU_EACH_ROWS_FORM(batch_norm_training_once());
}
END_TEST

START_TEST(batch_norm_eval)
{
    struct {
        int ndim;
        int64_t shape[4];
    } cases[] = {{2, {7, 3}}, {4, {2, 3, 5, 7}}, {4, {1, 2, 3, 3}}};
    sc_rng rng;
    sc_rng_seed(&rng, 9);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bn_ud p = {.ndim = cases[i].ndim, .training = false, .has_affine = true, .eps = 1e-5};
        memcpy(p.shape, cases[i].shape, sizeof cases[i].shape);
        int64_t c = p.shape[1];
        float rm[8], rv[8];
        double rmh[8], rvh[8];
        for (int64_t j = 0; j < c; j++) {
            rm[j] = (float)sc_rng_normal(&rng);
            rv[j] = 0.2f + (float)sc_rng_uniform(&rng);
            rmh[j] = rm[j];
            rvh[j] = rv[j];
        }
        p.rm = tu_tensor(1, &c, rm);
        p.rv = tu_tensor(1, &c, rv);
        p.rm_h = rmh;
        p.rv_h = rvh;
        char name[64];
        snprintf(name, sizeof name, "batch_norm eval [%lld,%lld%s]", (long long)p.shape[0],
                 (long long)c, p.ndim == 4 ? ",h,w" : "");
        gc_case cs = {.name = name, .n_in = 3, .ndim = {p.ndim, 1, 1}, .dev = bn_dev,
                      .ref = bn_ref, .ref_vjp = bn_eval_vjp, .ud = &p, .second_order = true,
                      .lo = 0.1, .hi = 2.0};
        memcpy(cs.shape[0], p.shape, sizeof p.shape);
        cs.shape[1][0] = cs.shape[2][0] = c;
        gc_check(&cs);
        /* eval mode leaves the running statistics alone */
        float got[8];
        TU_OK(sc_tensor_download(p.rm, got));
        ck_assert_mem_eq(got, rm, (size_t)c * sizeof(float));
        TU_OK(sc_tensor_download(p.rv, got));
        ck_assert_mem_eq(got, rv, (size_t)c * sizeof(float));
        sc_tensor_free(p.rm);
        sc_tensor_free(p.rv);
    }
}
END_TEST

/* The running statistics follow PyTorch's update (unbiased variance,
 * momentum), step after step; eval mode then uses them. */
START_TEST(batch_norm_running_stats)
{
    const int64_t shapes[2][4] = {{5, 3, 4, 3}, {7, 4, 1, 1}};
    const int nds[2] = {4, 2};
    sc_rng rng;
    sc_rng_seed(&rng, 21);
    for (int sidx = 0; sidx < 2; sidx++) {
        int nd = nds[sidx];
        const int64_t *s = shapes[sidx];
        int64_t N = s[0], C = s[1], inner = s[2] * s[3];
        size_t tot = (size_t)(N * C * inner);
        float *x = malloc(tot * sizeof *x), w[4], b[4], rm[4], rv[4];
        double rmd[4], rvd[4];
        for (int64_t c = 0; c < C; c++) {
            rm[c] = (float)sc_rng_normal(&rng);
            rv[c] = 0.5f + (float)sc_rng_uniform(&rng);
            w[c] = (float)sc_rng_normal(&rng);
            b[c] = (float)sc_rng_normal(&rng);
            rmd[c] = rm[c];
            rvd[c] = rv[c];
        }
        sc_tensor *trm = tu_tensor(1, &C, rm), *trv = tu_tensor(1, &C, rv);
        sc_graph *g;
        TU_OK(sc_graph_create(tu_ctx(), &g));
        const float mom = 0.1f;
        for (int step = 0; step < 3; step++) {
            tu_uniform(&rng, x, tot, -2.0f, 3.0f);
            sc_var *xv = sc_var_from_host(g, nd, s, x, true);
            sc_var *y = sc_nn_batch_norm(g, xv, sc_var_from_host(g, 1, &C, w, true),
                                         sc_var_from_host(g, 1, &C, b, true), trm, trv, true,
                                         mom, 1e-5f);
            ck_assert_ptr_nonnull(y);
            TU_OK(sc_graph_status(g));
            for (int64_t c = 0; c < C; c++) {
                double m = 0, q = 0;
                for (int64_t n = 0; n < N; n++)
                    for (int64_t i = 0; i < inner; i++) m += x[(n * C + c) * inner + i];
                m /= (double)(N * inner);
                for (int64_t n = 0; n < N; n++)
                    for (int64_t i = 0; i < inner; i++) {
                        double d = x[(n * C + c) * inner + i] - m;
                        q += d * d;
                    }
                double unbiased = q / (double)(N * inner - 1);
                rmd[c] = (1 - mom) * rmd[c] + mom * m;
                rvd[c] = (1 - mom) * rvd[c] + mom * unbiased;
            }
            float got[4];
            TU_OK(sc_tensor_download(trm, got));
            tu_assert_close("running_mean", got, rmd, (size_t)C, 1e-5, 1e-6);
            TU_OK(sc_tensor_download(trv, got));
            tu_assert_close("running_var", got, rvd, (size_t)C, 1e-5, 1e-6);
            sc_graph_reset(g);
        }
        /* eval with the updated statistics */
        sc_var *xv = sc_var_from_host(g, nd, s, x, false);
        sc_var *y = sc_nn_batch_norm(g, xv, sc_var_from_host(g, 1, &C, w, false),
                                     sc_var_from_host(g, 1, &C, b, false), trm, trv, false, mom,
                                     1e-5f);
        TU_OK(sc_graph_status(g));
        float *got = tu_download(sc_var_tensor(y));
        float rmf[4], rvf[4];
        TU_OK(sc_tensor_download(trm, rmf));
        TU_OK(sc_tensor_download(trv, rvf));
        double *want = malloc(tot * sizeof *want);
        for (size_t i = 0; i < tot; i++) {
            size_t c = i / (size_t)inner % (size_t)C;
            want[i] = (x[i] - (double)rmf[c]) / sqrt((double)rvf[c] + 1e-5) * w[c] + b[c];
        }
        tu_assert_close("batch_norm eval", got, want, tot, 1e-5, 1e-5);
        printf("  batch_norm running stats %s: 3 steps + eval ok\n", nd == 4 ? "NCHW" : "NC");
        free(got);
        free(want);
        free(x);
        sc_graph_free(g);
        sc_tensor_free(trm);
        sc_tensor_free(trv);
    }
}
END_TEST

START_TEST(norm_errors)
{
    sc_graph *g;
    TU_OK(sc_graph_create(tu_ctx(), &g));
    float z[64] = {0};
    /* one value per channel cannot be normalised by batch statistics */
    int64_t s1[2] = {1, 3}, c3 = 3;
    ck_assert_ptr_null(sc_nn_batch_norm(g, sc_var_from_host(g, 2, s1, z, true), NULL, NULL, NULL,
                                        NULL, true, 0.1f, 1e-5f));
    ck_assert_int_eq(sc_graph_status(g), SC_ERR_INVALID_ARG);
    ck_assert_msg(strstr(sc_last_error(), "more than 1 value") != NULL, "%s", sc_last_error());
    sc_graph_reset(g);
    /* rank 3 is not a batch-norm layout */
    int64_t s3[3] = {2, 3, 4};
    ck_assert_ptr_null(sc_nn_batch_norm(g, sc_var_from_host(g, 3, s3, z, true), NULL, NULL, NULL,
                                        NULL, true, 0.1f, 1e-5f));
    ck_assert_int_eq(sc_graph_status(g), SC_ERR_INVALID_ARG);
    sc_graph_reset(g);
    /* layer-norm weight of the wrong width */
    ck_assert_ptr_null(sc_nn_layer_norm(g, sc_var_from_host(g, 3, s3, z, true),
                                        sc_var_from_host(g, 1, &c3, z, true), NULL, 1e-5f));
    ck_assert_int_eq(sc_graph_status(g), SC_ERR_INVALID_ARG);
    ck_assert_msg(strstr(sc_last_error(), "[4]") != NULL, "%s", sc_last_error());
    sc_graph_free(g);
}
END_TEST

/* ---- concat and slice --------------------------------------------------------------------- */

typedef struct cs_ud {
    int ndim;
    int64_t as[4], bs[4];
    int axis;
    int64_t start, len;
    bool slice;
} cs_ud;

static sc_var *cs_dev(sc_graph *g, sc_var **in, void *ud)
{
    const cs_ud *p = ud;
    sc_var *y = p->slice ? sc_nn_slice(g, in[0], p->axis, p->start, p->len)
                         : sc_nn_concat(g, in[0], in[1], p->axis);
    return sc_nn_mul(g, y, y); /* squared: a nonzero second order */
}

static void cs_ref(double *const *in, double *out, void *ud)
{
    const cs_ud *p = ud;
    int ax = p->axis < 0 ? p->axis + p->ndim : p->axis;
    size_t outer = prod(ax, p->as), inner = prod(p->ndim - ax - 1, p->as + ax + 1);
    size_t la = (size_t)p->as[ax], lb = p->slice ? 0 : (size_t)p->bs[ax];
    size_t k = 0;
    for (size_t o = 0; o < outer; o++) {
        if (p->slice) {
            for (size_t j = 0; j < (size_t)p->len * inner; j++, k++) {
                double v = in[0][o * la * inner + (size_t)p->start * inner + j];
                out[k] = v * v;
            }
        } else {
            for (size_t j = 0; j < la * inner; j++, k++)
                out[k] = in[0][o * la * inner + j] * in[0][o * la * inner + j];
            for (size_t j = 0; j < lb * inner; j++, k++)
                out[k] = in[1][o * lb * inner + j] * in[1][o * lb * inner + j];
        }
    }
}

/* exact vjp (the nested differences of the default would leave noise where
 * the true second derivative is exactly zero) */
static void cs_vjp(double *const *in, const double *u, double **gin, void *ud)
{
    const cs_ud *p = ud;
    int ax = p->axis < 0 ? p->axis + p->ndim : p->axis;
    size_t outer = prod(ax, p->as), inner = prod(p->ndim - ax - 1, p->as + ax + 1);
    size_t la = (size_t)p->as[ax], lb = p->slice ? 0 : (size_t)p->bs[ax];
    size_t k = 0;
    for (size_t o = 0; o < outer; o++) {
        if (p->slice) {
            for (size_t j = 0; j < (size_t)p->len * inner; j++, k++) {
                size_t at = o * la * inner + (size_t)p->start * inner + j;
                gin[0][at] += 2 * u[k] * in[0][at];
            }
        } else {
            for (size_t j = 0; j < la * inner; j++, k++)
                gin[0][o * la * inner + j] += 2 * u[k] * in[0][o * la * inner + j];
            for (size_t j = 0; j < lb * inner; j++, k++)
                gin[1][o * lb * inner + j] += 2 * u[k] * in[1][o * lb * inner + j];
        }
    }
}

START_TEST(concat_and_slice)
{
    cs_ud cases[] = {
        {.ndim = 3, .as = {2, 3, 5}, .bs = {2, 4, 5}, .axis = 1},
        {.ndim = 3, .as = {2, 3, 5}, .bs = {1, 3, 5}, .axis = 0},
        {.ndim = 3, .as = {2, 3, 5}, .bs = {2, 3, 2}, .axis = -1},
        {.ndim = 1, .as = {7}, .bs = {13}, .axis = 0},
        {.ndim = 4, .as = {2, 1, 3, 5}, .bs = {2, 4, 3, 5}, .axis = 1},
        {.ndim = 3, .as = {2, 7, 5}, .axis = 1, .start = 2, .len = 3, .slice = true},
        {.ndim = 3, .as = {2, 7, 5}, .axis = 0, .start = 1, .len = 1, .slice = true},
        {.ndim = 3, .as = {2, 7, 5}, .axis = -1, .start = 4, .len = 1, .slice = true},
        {.ndim = 1, .as = {13}, .axis = 0, .start = 3, .len = 7, .slice = true},
        {.ndim = 3, .as = {1, 17, 8}, .axis = 1, .start = 0, .len = 1, .slice = true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cs_ud *p = &cases[i];
        char name[64];
        snprintf(name, sizeof name, "%s #%zu axis %d", p->slice ? "slice" : "concat", i, p->axis);
        gc_case c = {.name = name, .n_in = p->slice ? 1 : 2, .ndim = {p->ndim, p->ndim},
                     .dev = cs_dev, .ref = cs_ref, .ref_vjp = cs_vjp, .ud = p, .second_order = true};
        memcpy(c.shape[0], p->as, sizeof p->as);
        memcpy(c.shape[1], p->bs, sizeof p->bs);
        gc_check(&c);
    }
    /* errors */
    sc_graph *g;
    TU_OK(sc_graph_create(tu_ctx(), &g));
    float z[64] = {0};
    int64_t a[3] = {2, 3, 5}, b[3] = {2, 4, 4};
    ck_assert_ptr_null(sc_nn_concat(g, sc_var_from_host(g, 3, a, z, true),
                                    sc_var_from_host(g, 3, b, z, true), 1));
    ck_assert_int_eq(sc_graph_status(g), SC_ERR_INVALID_ARG);
    sc_graph_reset(g);
    ck_assert_ptr_null(sc_nn_slice(g, sc_var_from_host(g, 3, a, z, true), 1, 2, 2));
    ck_assert_int_eq(sc_graph_status(g), SC_ERR_INVALID_ARG);
    ck_assert_msg(strstr(sc_last_error(), "extent 3") != NULL, "%s", sc_last_error());
    sc_graph_reset(g);
    ck_assert_ptr_null(sc_nn_slice(g, sc_var_from_host(g, 3, a, z, true), 3, 0, 1));
    ck_assert_int_eq(sc_graph_status(g), SC_ERR_INVALID_ARG);
    sc_graph_free(g);
}
END_TEST

/* ---- scaled dot-product attention ----------------------------------------------------------- */

typedef struct sdpa_ud {
    int B, T, S, E, F;
    double scale;
} sdpa_ud;

static sc_var *sdpa_dev(sc_graph *g, sc_var **in, void *ud)
{
    const sdpa_ud *p = ud;
    return sc_nn_sdpa(g, in[0], in[1], in[2], (float)p->scale);
}

static void sdpa_ref(double *const *in, double *out, void *ud)
{
    const sdpa_ud *p = ud;
    for (int b = 0; b < p->B; b++)
        ref_sdpa1(in[0] + (size_t)b * p->T * p->E, in[1] + (size_t)b * p->S * p->E,
                  in[2] + (size_t)b * p->S * p->F, out + (size_t)b * p->T * p->F, p->T, p->S,
                  p->E, p->F, p->scale);
}

static void sdpa_vjp(double *const *in, const double *u, double **gin, void *ud)
{
    const sdpa_ud *p = ud;
    for (int b = 0; b < p->B; b++) {
        size_t qo = (size_t)b * p->T * p->E, ko = (size_t)b * p->S * p->E,
               vo = (size_t)b * p->S * p->F, uo = (size_t)b * p->T * p->F;
        ref_sdpa1_vjp(in[0] + qo, in[1] + ko, in[2] + vo, u + uo, gin[0] + qo, gin[1] + ko,
                      gin[2] + vo, p->T, p->S, p->E, p->F, p->scale);
    }
}

START_TEST(sdpa_cases)
{
    sdpa_ud cases[] = {
        {1, 5, 5, 4, 4, 0.5},  {2, 17, 17, 8, 8, 0.35355339},
        {3, 5, 7, 3, 6, 0.7},  /* cross attention, S != T, F != E */
        {2, 5, 3, 8, 2, 0.4},  /* E > S: the scores are scaled, not q */
        {1, 40, 70, 3, 5, 0.6}, /* more rows than a work-group's tile, both sides */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sdpa_ud *p = &cases[i];
        char name[64];
        snprintf(name, sizeof name, "sdpa B%d T%d S%d E%d F%d", p->B, p->T, p->S, p->E, p->F);
        gc_case c = {.name = name, .n_in = 3, .ndim = {3, 3, 3},
                     .shape = {{p->B, p->T, p->E}, {p->B, p->S, p->E}, {p->B, p->S, p->F}},
                     .dev = sdpa_dev, .ref = sdpa_ref, .ref_vjp = sdpa_vjp, .ud = p,
                     .second_order = true, .lo = 0.1, .hi = 1.5};
        TU_EACH_FORM("attention", gc_check(&c), "tiles", "rows", "composed");
    }
}
END_TEST

/* ---- multi-head attention (timm layout) ------------------------------------------------------ */

typedef struct att_ud {
    int B, T, D, H;
    bool bias;   /* in[2] = [qkv_b (3D) | proj_b (D)], packed: gradcheck takes 4 inputs */
} att_ud;

static sc_var *att_dev(sc_graph *g, sc_var **in, void *ud)
{
    const att_ud *p = ud;
    sc_var *qb = NULL, *pb = NULL, *pw = p->bias ? in[3] : in[2];
    if (p->bias) {
        qb = sc_nn_slice(g, in[2], 0, 0, 3 * p->D);
        pb = sc_nn_slice(g, in[2], 0, 3 * p->D, p->D);
    }
    return sc_nn_attention(g, in[0], in[1], qb, pw, pb, p->H);
}

typedef struct att_work {
    double *qkv, *o, *q, *k, *v, *oh;
} att_work;

/* Forward of the whole block in double; keeps qkv [B,T,3D] and o [B,T,D]. */
static void att_forward(const att_ud *p, double *const *in, double *out, att_work *w)
{
    int B = p->B, T = p->T, D = p->D, H = p->H, hd = D / H;
    const double *x = in[0], *W = in[1], *bias = p->bias ? in[2] : NULL;
    const double *Wp = p->bias ? in[3] : in[2];
    double scale = 1.0 / sqrt((double)hd);
    for (int bt = 0; bt < B * T; bt++)
        for (int o = 0; o < 3 * D; o++) {
            double s = bias ? bias[o] : 0.0;
            for (int d = 0; d < D; d++) s += x[bt * D + d] * W[o * D + d];
            w->qkv[bt * 3 * D + o] = s;
        }
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            for (int t = 0; t < T; t++)
                for (int e = 0; e < hd; e++) {
                    const double *row = w->qkv + ((size_t)b * T + t) * 3 * D;
                    w->q[t * hd + e] = row[0 * D + h * hd + e];
                    w->k[t * hd + e] = row[1 * D + h * hd + e];
                    w->v[t * hd + e] = row[2 * D + h * hd + e];
                }
            ref_sdpa1(w->q, w->k, w->v, w->oh, T, T, hd, hd, scale);
            for (int t = 0; t < T; t++)
                for (int e = 0; e < hd; e++)
                    w->o[((size_t)b * T + t) * D + h * hd + e] = w->oh[t * hd + e];
        }
    for (int bt = 0; bt < B * T; bt++)
        for (int j = 0; j < D; j++) {
            double s = bias ? bias[3 * D + j] : 0.0;
            for (int i = 0; i < D; i++) s += w->o[bt * D + i] * Wp[j * D + i];
            out[bt * D + j] = s;
        }
}

static void att_alloc(const att_ud *p, att_work *w)
{
    size_t n = (size_t)p->B * p->T * p->D, th = (size_t)p->T * (p->D / p->H);
    w->qkv = malloc(3 * n * sizeof(double));
    w->o = malloc(n * sizeof(double));
    w->q = malloc(th * sizeof(double));
    w->k = malloc(th * sizeof(double));
    w->v = malloc(th * sizeof(double));
    w->oh = malloc(th * sizeof(double));
}

static void att_free(att_work *w)
{
    free(w->qkv);
    free(w->o);
    free(w->q);
    free(w->k);
    free(w->v);
    free(w->oh);
}

static void att_ref(double *const *in, double *out, void *ud)
{
    att_work w;
    att_alloc(ud, &w);
    att_forward(ud, in, out, &w);
    att_free(&w);
}

static void att_vjp(double *const *in, const double *u, double **gin, void *ud)
{
    const att_ud *p = ud;
    int B = p->B, T = p->T, D = p->D, H = p->H, hd = D / H;
    size_t n = (size_t)B * T * D, th = (size_t)T * hd;
    att_work w;
    att_alloc(p, &w);
    double *out = malloc(n * sizeof *out);
    att_forward(p, in, out, &w);
    const double *x = in[0], *W = in[1], *Wp = p->bias ? in[3] : in[2];
    double *gx = gin[0], *gW = gin[1], *gb = p->bias ? gin[2] : NULL;
    double *gWp = p->bias ? gin[3] : gin[2];
    double *go = calloc(n, sizeof *go), *gqkv = calloc(3 * n, sizeof *gqkv);
    double *gq = malloc(th * sizeof *gq), *gk = malloc(th * sizeof *gk);
    double *gv = malloc(th * sizeof *gv), *uh = malloc(th * sizeof *uh);
    /* projection */
    for (int bt = 0; bt < B * T; bt++)
        for (int j = 0; j < D; j++) {
            double g = u[bt * D + j];
            if (gb)
                gb[3 * D + j] += g;
            for (int i = 0; i < D; i++) {
                gWp[j * D + i] += g * w.o[bt * D + i];
                go[bt * D + i] += g * Wp[j * D + i];
            }
        }
    /* heads */
    double scale = 1.0 / sqrt((double)hd);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            for (int t = 0; t < T; t++)
                for (int e = 0; e < hd; e++) {
                    const double *row = w.qkv + ((size_t)b * T + t) * 3 * D;
                    w.q[t * hd + e] = row[0 * D + h * hd + e];
                    w.k[t * hd + e] = row[1 * D + h * hd + e];
                    w.v[t * hd + e] = row[2 * D + h * hd + e];
                    uh[t * hd + e] = go[((size_t)b * T + t) * D + h * hd + e];
                }
            memset(gq, 0, th * sizeof *gq);
            memset(gk, 0, th * sizeof *gk);
            memset(gv, 0, th * sizeof *gv);
            ref_sdpa1_vjp(w.q, w.k, w.v, uh, gq, gk, gv, T, T, hd, hd, scale);
            for (int t = 0; t < T; t++)
                for (int e = 0; e < hd; e++) {
                    double *row = gqkv + ((size_t)b * T + t) * 3 * D;
                    row[0 * D + h * hd + e] += gq[t * hd + e];
                    row[1 * D + h * hd + e] += gk[t * hd + e];
                    row[2 * D + h * hd + e] += gv[t * hd + e];
                }
        }
    /* qkv linear */
    for (int bt = 0; bt < B * T; bt++)
        for (int o = 0; o < 3 * D; o++) {
            double g = gqkv[bt * 3 * D + o];
            if (gb)
                gb[o] += g;
            for (int d = 0; d < D; d++) {
                gW[o * D + d] += g * x[bt * D + d];
                gx[bt * D + d] += g * W[o * D + d];
            }
        }
    free(go);
    free(gqkv);
    free(gq);
    free(gk);
    free(gv);
    free(uh);
    free(out);
    att_free(&w);
}

START_TEST(attention_cases)
{
    att_ud cases[] = {
        {1, 5, 8, 2, true},   /* batch 1, T = 5, 2 heads */
        {2, 17, 8, 1, true},  /* T = 17, 1 head */
        {2, 5, 12, 2, false}, /* no biases */
        {3, 7, 6, 3, true},   /* B = 3, 3 heads of width 2 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        att_ud *p = &cases[i];
        int64_t D = p->D;
        char name[64];
        snprintf(name, sizeof name, "attention B%d T%d D%d H%d%s", p->B, p->T, p->D, p->H,
                 p->bias ? "" : " nobias");
        gc_case c = {.name = name, .n_in = p->bias ? 4 : 3, .dev = att_dev, .ref = att_ref,
                     .ref_vjp = att_vjp, .ud = p, .second_order = true, .lo = 0.05, .hi = 0.8};
        c.ndim[0] = 3;
        c.shape[0][0] = p->B;
        c.shape[0][1] = p->T;
        c.shape[0][2] = D;
        c.ndim[1] = 2;
        c.shape[1][0] = 3 * D;
        c.shape[1][1] = D;
        int pw = p->bias ? 3 : 2;
        if (p->bias) {
            c.ndim[2] = 1;
            c.shape[2][0] = 4 * D;
        }
        c.ndim[pw] = 2;
        c.shape[pw][0] = D;
        c.shape[pw][1] = D;
        TU_EACH_FORM("attention", gc_check(&c), "tiles", "rows", "composed");
    }
}
END_TEST

/* The ViT shape: T = 50 (49 patches + class token), D = 64, 4 heads. */
static void vit_shape_forward(void)
{
    att_ud p = {2, 50, 64, 4, true};
    int64_t D = p.D, n = (int64_t)p.B * p.T * D;
    sc_rng rng;
    sc_rng_seed(&rng, 4242);
    float bound = 1.0f / sqrtf((float)D); /* nn.Linear's init scale */
    float *h[4];
    int64_t sizes[4] = {n, 3 * D * D, 4 * D, D * D};
    double *dd[4];
    for (int i = 0; i < 4; i++) {
        h[i] = malloc((size_t)sizes[i] * sizeof(float));
        if (i == 0)
            tu_normal(&rng, h[i], (size_t)sizes[i]);
        else
            tu_uniform(&rng, h[i], (size_t)sizes[i], -bound, bound);
        dd[i] = malloc((size_t)sizes[i] * sizeof(double));
        for (int64_t j = 0; j < sizes[i]; j++) dd[i][j] = h[i][j];
    }
    sc_graph *g;
    TU_OK(sc_graph_create(tu_ctx(), &g));
    int64_t xs[3] = {p.B, p.T, D}, ws[2] = {3 * D, D}, bs = 4 * D, ps[2] = {D, D};
    sc_var *in[4] = {sc_var_from_host(g, 3, xs, h[0], true), sc_var_from_host(g, 2, ws, h[1], true),
                     sc_var_from_host(g, 1, &bs, h[2], true), sc_var_from_host(g, 2, ps, h[3], true)};
    sc_var *y = att_dev(g, in, &p);
    TU_OK(sc_graph_status(g));
    float *got = tu_download(sc_var_tensor(y));
    double *want = malloc((size_t)n * sizeof *want);
    att_ref(dd, want, &p);
    double m = 0, e = 0;
    for (int64_t i = 0; i < n; i++) {
        m = fmax(m, fabs(want[i]));
        e = fmax(e, fabs(got[i] - want[i]));
    }
    printf("  attention B2 T50 D64 H4 fwd [%s] max|err| %.2e, max|ref| %.2e, rel %.2e\n", tu_form,
           e, m, e / m);
    ck_assert_msg(e <= 1e-5 * m + 1e-6, "attention T=50 [%s]: max error %g (max |ref| %g)", tu_form,
                  e, m);
    free(got);
    free(want);
    for (int i = 0; i < 4; i++) {
        free(h[i]);
        free(dd[i]);
    }
    sc_graph_free(g);
}

START_TEST(attention_vit_shape_forward)
{
    TU_EACH_FORM("attention", vit_shape_forward(), "tiles", "rows", "composed");
}
END_TEST

/* Output and first-order gradients of sdpa at the bench's ViT shape
 * (B*H = 32, T = 50, head width 16) in one form, with the cotangent u. */
static void sdpa_form(const char *form, float *const *h, const float *u, float **out)
{
    TU_OK(sc_context_set_form(tu_ctx(), "attention", form));
    sc_graph *g;
    TU_OK(sc_graph_create(tu_ctx(), &g));
    int64_t s[3] = {32, 50, 16};
    sc_var *in[3];
    for (int i = 0; i < 3; i++)
        in[i] = sc_var_from_host(g, 3, s, h[i], true);
    sc_var *y = sc_nn_sdpa(g, in[0], in[1], in[2], 0.25f);
    sc_var *uv = sc_var_from_host(g, 3, s, u, false), *gin[3];
    TU_OK(sc_grad(g, 1, &y, &uv, 3, in, false, gin));
    out[0] = tu_download(sc_var_tensor(y));
    for (int i = 0; i < 3; i++)
        out[1 + i] = tu_download(sc_var_tensor(gin[i]));
    sc_graph_free(g);
    TU_OK(sc_context_set_form(tu_ctx(), "attention", NULL));
}

/* The fused kernels (both forms) and the recorded ops agree (output, dq,
 * dk, dv) within float rounding, and the kernels repeat bit for bit. */
START_TEST(attention_forms_agree)
{
    const size_t n = 32 * 50 * 16;
    sc_rng rng;
    sc_rng_seed(&rng, 77);
    float *h[3], *u = malloc(n * sizeof *u);
    for (int i = 0; i < 3; i++) {
        h[i] = malloc(n * sizeof *h[i]);
        tu_normal(&rng, h[i], n);
    }
    tu_normal(&rng, u, n);
    float *co[4];
    sdpa_form("composed", h, u, co);
    const char *what[4] = {"output", "dq", "dk", "dv"}, *forms[2] = {"tiles", "rows"};
    for (int f = 0; f < 2; f++) {
        float *fu[4], *fu2[4];
        sdpa_form(forms[f], h, u, fu);
        sdpa_form(forms[f], h, u, fu2);
        for (int j = 0; j < 4; j++) {
            double m = 0, e = 0;
            for (size_t i = 0; i < n; i++) {
                m = fmax(m, fabs(co[j][i]));
                e = fmax(e, fabs((double)fu[j][i] - co[j][i]));
            }
            printf("  sdpa [32,50,16] %s - composed, %s: max|diff| %.2e, max|composed| %.2e\n",
                   forms[f], what[j], e, m);
            ck_assert_msg(e <= 2e-6 * m + 1e-7, "%s, %s: differs from composed by %g (max %g)",
                          forms[f], what[j], e, m);
            ck_assert_msg(memcmp(fu[j], fu2[j], n * sizeof(float)) == 0,
                          "%s, %s: other bits on a second run", forms[f], what[j]);
            free(fu[j]);
            free(fu2[j]);
        }
    }
    for (int j = 0; j < 4; j++)
        free(co[j]);
    for (int i = 0; i < 3; i++)
        free(h[i]);
    free(u);
}
END_TEST

/* ---- determinism --------------------------------------------------------------------------------- */

/* Forward and first + second order gradients of a chain of these ops, twice:
 * identical bits. Shapes take both the per-row and the per-group kernels. */
static void det_run(float **out, size_t *nout)
{
    sc_rng rng;
    sc_rng_seed(&rng, 5);
    static float x[4 * 3 * 9 * 9], w[81];
    tu_uniform(&rng, x, sizeof x / sizeof x[0], -2.0f, 2.0f);
    tu_uniform(&rng, w, 81, -1.0f, 1.0f);
    sc_graph *g;
    TU_OK(sc_graph_create(tu_ctx(), &g));
    int64_t xs[4] = {4, 3, 9, 9}, ws = 81, r2[2] = {12, 81};
    sc_var *xv = sc_var_from_host(g, 4, xs, x, true);
    sc_var *wv = sc_var_from_host(g, 1, &ws, w, true);
    sc_var *h = sc_nn_batch_norm(g, xv, NULL, NULL, NULL, NULL, true, 0.1f, 1e-5f);
    h = sc_nn_layer_norm(g, sc_nn_reshape(g, h, 2, r2), wv, NULL, 1e-5f);
    sc_var *l = sc_nn_sum(g, sc_nn_mul(g, sc_nn_softmax(g, h), sc_nn_log_softmax(g, h)));
    sc_var *gx;
    TU_OK(sc_grad(g, 1, &l, NULL, 1, &xv, true, &gx));
    sc_var *pen = sc_nn_sum(g, sc_nn_mul(g, gx, gx));
    sc_var *gw;
    TU_OK(sc_grad(g, 1, &pen, NULL, 1, &wv, false, &gw));
    float *a = tu_download(sc_var_tensor(l)), *b = tu_download(sc_var_tensor(gx)),
          *c = tu_download(sc_var_tensor(gw));
    size_t nx = sizeof x / sizeof x[0];
    *nout = 1 + nx + 81;
    *out = malloc(*nout * sizeof(float));
    (*out)[0] = a[0];
    memcpy(*out + 1, b, nx * sizeof(float));
    memcpy(*out + 1 + nx, c, 81 * sizeof(float));
    free(a);
    free(b);
    free(c);
    sc_graph_free(g);
}

START_TEST(deterministic)
{
    float *a, *b;
    size_t na, nb;
    det_run(&a, &na);
    det_run(&b, &nb);
    ck_assert_uint_eq(na, nb);
    ck_assert_mem_eq(a, b, na * sizeof(float));
    bool nonzero = false;
    for (size_t i = 1; i < na; i++) nonzero |= a[i] != 0.0f;
    ck_assert(nonzero);
    free(a);
    free(b);
}
END_TEST

/* ---- fused backward = composed backward ------------------------------------------- */

/* The gradients of <u, f(in)> computed twice on the same inputs: without
 * recording (create_graph false: the fused backward kernels) and with it
 * (the composed rules that stay for double backward). Asserts that the two
 * agree within float32 rounding and that both match the double reference
 * vjp; inputs with no_grad[j] are constants. */
typedef struct fc_case {
    const char *name;
    int n_in;
    int ndim[3];
    int64_t shape[3][4];
    bool no_grad[3];
    sc_var *(*dev)(sc_graph *g, sc_var **in, void *ud);
    void (*ref_vjp)(double *const *in, const double *u, double **gin, void *ud);
    void *ud;
} fc_case;

static void fused_vs_composed(const fc_case *c, uint64_t seed)
{
    sc_rng rng;
    sc_rng_seed(&rng, seed);
    size_t n[3];
    float *x[3];
    double *xd[3], *gref[3];
    for (int j = 0; j < c->n_in; j++) {
        n[j] = prod(c->ndim[j], c->shape[j]);
        x[j] = malloc(n[j] * sizeof *x[j]);
        xd[j] = malloc(n[j] * sizeof *xd[j]);
        gref[j] = calloc(n[j], sizeof *gref[j]);
        tu_uniform(&rng, x[j], n[j], -2.0f, 2.0f);
        for (size_t i = 0; i < n[j]; i++)
            xd[j][i] = x[j][i];
    }
    float *got[2][3] = {{NULL}};
    size_t ny = 0;
    float *u = NULL;
    double *ud = NULL;
    for (int rec = 0; rec < 2; rec++) {
        sc_graph *g;
        TU_OK(sc_graph_create(tu_ctx(), &g));
        sc_var *in[3];
        for (int j = 0; j < c->n_in; j++)
            in[j] = sc_var_from_host(g, c->ndim[j], c->shape[j], x[j], !c->no_grad[j]);
        sc_var *y = c->dev(g, in, c->ud);
        TU_OK(sc_graph_status(g));
        if (!u) {
            ny = (size_t)sc_var_numel(y);
            u = malloc(ny * sizeof *u);
            ud = malloc(ny * sizeof *ud);
            tu_uniform(&rng, u, ny, -1.0f, 1.0f);
            for (size_t i = 0; i < ny; i++)
                ud[i] = u[i];
        }
        int64_t ys[SC_MAX_DIMS];
        for (int d = 0; d < sc_var_ndim(y); d++)
            ys[d] = sc_var_dim(y, d);
        sc_var *seedv = sc_var_from_host(g, sc_var_ndim(y), ys, u, false);
        sc_var *gr[3] = {NULL};
        TU_OK(sc_grad(g, 1, &y, &seedv, c->n_in, in, rec == 1, gr));
        for (int j = 0; j < c->n_in; j++) {
            if (c->no_grad[j]) {
                ck_assert_ptr_null(gr[j]);
                continue;
            }
            ck_assert_ptr_nonnull(gr[j]);
            got[rec][j] = tu_download(sc_var_tensor(gr[j]));
        }
        sc_graph_free(g);
    }
    c->ref_vjp(xd, ud, gref, c->ud);
    double worst = 0;
    for (int j = 0; j < c->n_in; j++) {
        if (c->no_grad[j])
            continue;
        double scale = 0, *comp = malloc(n[j] * sizeof *comp);
        for (size_t i = 0; i < n[j]; i++) {
            scale = fmax(scale, fabs(gref[j][i]));
            comp[i] = got[1][j][i];
        }
        /* an all-zero gradient (D = 1) is zero on both paths to the bit */
        double atol = 1e-5 * scale + 1e-7;
        /* the two paths differ by float rounding only (seen: <= 7e-7 of
         * max |grad|); a 1e-4 relative slip in either must fail */
        tu_assert_close("fused vs composed", got[0][j], comp, n[j], 2e-5, 2e-6 * scale + 1e-7);
        tu_assert_close("fused vs double", got[0][j], gref[j], n[j], 1e-4, atol);
        tu_assert_close("composed vs double", got[1][j], gref[j], n[j], 1e-4, atol);
        for (size_t i = 0; i < n[j]; i++)
            worst = fmax(worst, fabs(got[0][j][i] - comp[i]) / (scale > 0 ? scale : 1.0));
        free(comp);
        free(got[0][j]);
        free(got[1][j]);
    }
    printf("  %-40s fused - composed: %.2e of max |grad|\n", c->name, worst);
    for (int j = 0; j < c->n_in; j++) {
        free(x[j]);
        free(xd[j]);
        free(gref[j]);
    }
    free(u);
    free(ud);
}

static void layer_norm_fused_backward_once(void)
{
    /* D = 1, odd D, D = 64 (the vit's), D = 65, D read by vectors of 8, 16
     * and 4 (24, 32, 100); rows that are no multiple of the work-group size,
     * on both sides of the per-work-group threshold */
    struct {
        int64_t rows, d;
        bool w, b, x_const;
    } cases[] = {
        {5, 1, true, true, false},    {3, 7, true, true, false},   {300, 7, false, false, false},
        {13, 64, true, true, false},  {600, 64, true, true, false}, {3, 65, true, false, false},
        {601, 65, false, true, false}, {1, 65, true, true, false},  {37, 13, true, true, true},
        {700, 5, true, true, false},  {70, 24, true, true, false}, {70, 32, false, true, false},
        {70, 100, true, false, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ln_ud p = {.ndim = 2, .shape = {cases[i].rows, cases[i].d}, .has_w = cases[i].w,
                   .has_b = cases[i].b, .eps = 1e-5};
        char name[96];
        snprintf(name, sizeof name, "layer_norm [%lld,%lld]%s%s%s", (long long)cases[i].rows,
                 (long long)cases[i].d, p.has_w ? " w" : "", p.has_b ? " b" : "",
                 cases[i].x_const ? " (x constant)" : "");
        fc_case c = {.name = name, .n_in = 1 + p.has_w + p.has_b, .ndim = {2, 1, 1},
                     .shape = {{cases[i].rows, cases[i].d}, {cases[i].d}, {cases[i].d}},
                     .no_grad = {cases[i].x_const}, .dev = ln_dev, .ref_vjp = ln_vjp, .ud = &p};
        fused_vs_composed(&c, 100 + i);
    }
}

/* both forms of the row-reducing kernels (TU_EACH_ROWS_FORM) */
START_TEST(layer_norm_fused_backward)
{
    TU_EACH_ROWS_FORM(layer_norm_fused_backward_once());
}
END_TEST

START_TEST(batch_norm_fused_backward)
{
    struct {
        int ndim;
        int64_t shape[4];
        bool affine;
    } cases[] = {
        {4, {3, 5, 7, 7}, true}, {2, {600, 3}, false}, {2, {2, 600}, true}, {4, {3, 7, 1, 1}, false},
        {4, {64, 3, 6, 6}, true}, {4, {5, 2, 17, 3}, false},
    };
    for (int mode = 0; mode < 2; mode++)
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        TU_OK(sc_context_set_form(tu_ctx(), "norm", mode ? "channels" : "slices"));
        bn_ud p = {.ndim = cases[i].ndim, .training = true, .has_affine = cases[i].affine,
                   .eps = 1e-5};
        memcpy(p.shape, cases[i].shape, sizeof p.shape);
        char name[96];
        snprintf(name, sizeof name, "batch_norm [%lld,%lld%s]%s", (long long)p.shape[0],
                 (long long)p.shape[1], p.ndim == 4 ? ",h,w" : "", p.has_affine ? " wb" : "");
        int64_t C = p.shape[1];
        fc_case c = {.name = name, .n_in = p.has_affine ? 3 : 1, .ndim = {p.ndim, 1, 1},
                     .shape = {{0}, {C}, {C}}, .dev = bn_dev, .ref_vjp = bn_vjp, .ud = &p};
        memcpy(c.shape[0], p.shape, sizeof p.shape);
        fused_vs_composed(&c, 200 + i);
    }
    TU_OK(sc_context_set_form(tu_ctx(), "norm", NULL));
}
END_TEST

static void softmax_fused_backward_once(void)
{
    /* rows on both sides of the work-group-per-row threshold (512 rows,
     * 64 columns), odd sizes, one column */
    const int64_t shapes[][3] = {{1, 1, 0}, {5, 7, 0},   {300, 65, 0}, {601, 65, 0},
                                 {3, 13, 7}, {700, 1, 0}, {128, 10, 0}};
    const int nd[] = {2, 2, 2, 2, 3, 2, 2};
    for (int logm = 0; logm < 2; logm++)
        for (size_t i = 0; i < sizeof nd / sizeof nd[0]; i++) {
            sm_ud sm = {.logm = logm, .ndim = nd[i]};
            memcpy(sm.shape, shapes[i], sizeof shapes[i]);
            char name[96];
            snprintf(name, sizeof name, "%s [%lld,%lld%s]", logm ? "log_softmax" : "softmax",
                     (long long)shapes[i][0], (long long)shapes[i][1], nd[i] == 3 ? ",.." : "");
            fc_case c = {.name = name, .n_in = 1, .ndim = {nd[i]}, .dev = sm_dev,
                         .ref_vjp = sm_vjp, .ud = &sm};
            memcpy(c.shape[0], shapes[i], sizeof shapes[i]);
            fused_vs_composed(&c, 300 + i + 10 * (uint64_t)logm);
        }
}

/* both forms of the row-reducing kernels (TU_EACH_ROWS_FORM) */
START_TEST(softmax_fused_backward)
{
    TU_EACH_ROWS_FORM(softmax_fused_backward_once());
}
END_TEST

START_TEST(cross_entropy_fused_backward)
{
    const int64_t shapes[][2] = {{1, 1}, {5, 7}, {128, 10}, {601, 65}, {3, 100}, {513, 3}};
    sc_rng rng;
    sc_rng_seed(&rng, 41);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int red = 0; red < 3; red += 2) { /* mean, none */
            ce_ud p = {.n = shapes[s][0], .k = shapes[s][1], .red = (sc_loss_reduction)red};
            for (int64_t i = 0; i < p.n; i++)
                p.labels[i] = (int32_t)(sc_rng_uniform(&rng) * (double)p.k) % (int32_t)p.k;
            p.labels[0] = (int32_t)p.k - 1;
            char name[96];
            snprintf(name, sizeof name, "cross_entropy [%lld,%lld] %s", (long long)p.n,
                     (long long)p.k, red == SC_LOSS_MEAN ? "mean" : "none");
            fc_case c = {.name = name, .n_in = 1, .ndim = {2}, .shape = {{p.n, p.k}},
                         .dev = ce_dev, .ref_vjp = ce_vjp, .ud = &p};
            fused_vs_composed(&c, 400 + s * 3 + (uint64_t)red);
        }
    /* a label outside [0, K): its row of the gradient is NaN on both paths,
     * the other rows are not */
    int64_t xs[2] = {3, 4}, n = 3;
    float x[12];
    for (int i = 0; i < 12; i++)
        x[i] = 0.1f * (float)i;
    int32_t lab[3] = {1, 7, 0};
    for (int rec = 0; rec < 2; rec++) {
        sc_graph *g;
        TU_OK(sc_graph_create(tu_ctx(), &g));
        sc_var *xv = sc_var_from_host(g, 2, xs, x, true), *gx = NULL;
        sc_var *l = sc_nn_cross_entropy(g, xv, sc_var_from_host_i32(g, 1, &n, lab), NULL,
                                        SC_LOSS_NONE);
        float ones[3] = {1, 1, 1};
        sc_var *seed = sc_var_from_host(g, 1, &n, ones, false);
        TU_OK(sc_grad(g, 1, &l, &seed, 1, &xv, rec == 1, &gx));
        float *h = tu_download(sc_var_tensor(gx));
        for (int i = 0; i < 12; i++)
            ck_assert_msg((i / 4 == 1) == isnan(h[i]), "%s path, element %d: %g",
                          rec ? "composed" : "fused", i, (double)h[i]);
        free(h);
        sc_graph_free(g);
    }
}
END_TEST

int main(void)
{
    const tu_case cases[] = {
        {"softmax", 0, {softmax_ops, softmax_higher_order, softmax_extremes, cross_entropy_cases,
                cross_entropy_errors, mse_cases, softmax_fused_backward,
                cross_entropy_fused_backward}},
        {"norm", 0, {layer_norm_cases, batch_norm_training, batch_norm_eval,
                batch_norm_running_stats, norm_errors, layer_norm_fused_backward,
                batch_norm_fused_backward, norm_higher_order}},
        {"attention", 0, {concat_and_slice, sdpa_cases, attention_cases, attention_forms_agree,
                attention_vit_shape_forward, deterministic}},
    };
    return tu_run(TU_SUITE("nn_norm", cases));
}
