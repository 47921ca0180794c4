/* Autodiff engine and the math ops: forward vs double references, first and
 * second order vs central differences (tests/gradcheck.c). */
#include "gradcheck.h"
#include "suite.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- broadcasting binary ops -------------------------------------------- */

typedef struct bin_ud {
    int op; /* 0 add 1 sub 2 mul 3 div */
    int r;
    int64_t as[4], bs[4], ys[4];
} bin_ud;

static sc_var *bin_dev(sc_graph *g, sc_var **in, void *ud)
{
    const bin_ud *b = ud;
    sc_var *(*f[4])(sc_graph *, sc_var *, sc_var *) = {sc_nn_add, sc_nn_sub, sc_nn_mul, sc_nn_div};
    /* squared so that the second order is not trivially zero */
    sc_var *y = f[b->op](g, in[0], in[1]);
    return sc_nn_mul(g, y, y);
}

static size_t bidx(const int64_t *shape, const int64_t *ys, int r, size_t i)
{
    size_t off = 0, stride = 1;
    for (int d = r - 1; d >= 0; d--) {
        size_t c = i % (size_t)ys[d];
        i /= (size_t)ys[d];
        if (shape[d] != 1)
            off += c * stride;
        stride *= (size_t)shape[d];
    }
    return off;
}

static void bin_ref(double *const *in, double *out, void *ud)
{
    const bin_ud *b = ud;
    size_t n = 1;
    for (int d = 0; d < b->r; d++) n *= (size_t)b->ys[d];
    for (size_t i = 0; i < n; i++) {
        double a = in[0][bidx(b->as, b->ys, b->r, i)], c = in[1][bidx(b->bs, b->ys, b->r, i)];
        double y = b->op == 0 ? a + c : b->op == 1 ? a - c : b->op == 2 ? a * c : a / c;
        out[i] = y * y;
    }
}

START_TEST(binary_broadcast)
{
    const char *names[4] = {"add", "sub", "mul", "div"};
    /* a, b shapes (rank 3, right-aligned by hand) */
    const int64_t pairs[][2][3] = {
        {{2, 3, 5}, {2, 3, 5}}, {{7, 1, 13}, {1, 3, 13}}, {{1, 1, 13}, {7, 5, 13}},
        {{2, 3, 1}, {1, 1, 1}},
        /* two collapsed dims (the 2-D kernel): a per-row value, a scalar */
        {{4, 6, 1}, {4, 6, 9}}, {{1, 1, 1}, {3, 5, 7}},
    };
    for (int op = 0; op < 4; op++)
        for (size_t p = 0; p < sizeof pairs / sizeof pairs[0]; p++) {
            bin_ud b = {.op = op, .r = 3};
            for (int d = 0; d < 3; d++) {
                b.as[d] = pairs[p][0][d];
                b.bs[d] = pairs[p][1][d];
                b.ys[d] = b.as[d] > b.bs[d] ? b.as[d] : b.bs[d];
            }
            char name[64];
            snprintf(name, sizeof name, "%s #%zu", names[op], p);
            gc_case c = {.name = name, .n_in = 2, .ndim = {3, 3}, .dev = bin_dev,
                         .ref = bin_ref, .ud = &b, .second_order = true, .lo = 0.5, .hi = 1.5};
            memcpy(c.shape[0], b.as, sizeof b.as);
            memcpy(c.shape[1], b.bs, sizeof b.bs);
            gc_check(&c);
        }
}
END_TEST

/* ---- unary ops ------------------------------------------------------------ */

typedef struct un_ud {
    int op;
    size_t n;
} un_ud;

enum { T_RELU, T_GELU, T_ABS, T_EXP, T_LOG, T_RSQRT, T_POW, T_POW2, T_POW3, T_POWM2, T_SCALE,
       T_ADDS, T_COUNT };
/* pow 2, 3 and -2 take the integer-exponent kernel, 2.5 libm's pow; x^2 and
 * x^3 of signed inputs */
static const char *un_names[T_COUNT] = {"relu", "gelu", "abs", "exp", "log", "rsqrt", "pow 2.5",
                                        "pow 2", "pow 3", "pow -2", "scale", "add_scalar"};

static sc_var *un_dev(sc_graph *g, sc_var **in, void *ud)
{
    const un_ud *u = ud;
    sc_var *x = in[0], *y = NULL;
    switch (u->op) {
    case T_RELU: y = sc_nn_relu(g, x); break;
    case T_GELU: y = sc_nn_gelu(g, x); break;
    case T_ABS: y = sc_nn_abs(g, x); break;
    case T_EXP: y = sc_nn_exp(g, x); break;
    case T_LOG: y = sc_nn_log(g, sc_nn_abs(g, x)); break;
    case T_RSQRT: y = sc_nn_rsqrt(g, sc_nn_abs(g, x)); break;
    case T_POW: y = sc_nn_pow(g, sc_nn_abs(g, x), 2.5f); break;
    case T_POW2: y = sc_nn_pow(g, x, 2.0f); break;
    case T_POW3: y = sc_nn_pow(g, x, 3.0f); break;
    case T_POWM2: y = sc_nn_pow(g, sc_nn_abs(g, x), -2.0f); break;
    case T_SCALE: y = sc_nn_scale(g, x, -1.5f); break;
    case T_ADDS: y = sc_nn_add_scalar(g, x, 0.25f); break;
    }
    /* times x so that the second order of linear pieces is not zero */
    return sc_nn_mul(g, y, x);
}

static double gelu_d(double v) { return 0.5 * v * (1.0 + erf(v / sqrt(2.0))); }

static void un_ref(double *const *in, double *out, void *ud)
{
    const un_ud *u = ud;
    for (size_t i = 0; i < u->n; i++) {
        double v = in[0][i], y = 0;
        switch (u->op) {
        case T_RELU: y = v > 0 ? v : 0; break;
        case T_GELU: y = gelu_d(v); break;
        case T_ABS: y = fabs(v); break;
        case T_EXP: y = exp(v); break;
        case T_LOG: y = log(fabs(v)); break;
        case T_RSQRT: y = 1.0 / sqrt(fabs(v)); break;
        case T_POW: y = pow(fabs(v), 2.5); break;
        case T_POW2: y = v * v; break;
        case T_POW3: y = v * v * v; break;
        case T_POWM2: y = 1.0 / (v * v); break;
        case T_SCALE: y = -1.5 * v; break;
        case T_ADDS: y = v + 0.25; break;
        }
        out[i] = y * v;
    }
}

START_TEST(unary_ops)
{
    for (int op = 0; op < T_COUNT; op++) {
        un_ud u = {.op = op, .n = 7 * 13};
        gc_case c = {.name = un_names[op], .n_in = 1, .ndim = {2}, .shape = {{7, 13}},
                     .dev = un_dev, .ref = un_ref, .ud = &u, .second_order = true,
                     .lo = 0.2, .hi = 2.0};
        gc_check(&c);
    }
}
END_TEST

/* ---- reductions and shapes --------------------------------------------------- */

typedef struct red_ud {
    int op; /* 0 sum, 1 mean, 2 sum_axis(1), 3 mean_axis(-1), 4 sum_to [1,3,1], 5 permute, 6 expand */
} red_ud;

static sc_var *red_dev(sc_graph *g, sc_var **in, void *ud)
{
    const red_ud *r = ud;
    sc_var *x = sc_nn_mul(g, in[0], in[0]), *y = NULL; /* x^2: nonzero second order */
    int64_t to[3] = {1, 3, 1}, ex[4] = {2, 2, 3, 5};
    int perm[3] = {2, 0, 1};
    switch (r->op) {
    case 0: y = sc_nn_sum(g, x); break;
    case 1: y = sc_nn_mean(g, x); break;
    case 2: y = sc_nn_sum_axis(g, x, 1); break;
    case 3: y = sc_nn_mean_axis(g, x, -1); break;
    case 4: y = sc_nn_sum_to(g, x, 3, to); break;
    case 5: y = sc_nn_permute(g, x, perm); break;
    case 6: y = sc_nn_expand(g, x, 4, ex); break;
    }
    return y;
}

static void red_ref(double *const *in, double *out, void *ud)
{
    const red_ud *r = ud;
    const double *x = in[0]; /* shape [2, 3, 5] */
#define X(a, b, c) (x[((a) * 3 + (b)) * 5 + (c)] * x[((a) * 3 + (b)) * 5 + (c)])
    double s = 0;
    switch (r->op) {
    case 0:
    case 1:
        for (int i = 0; i < 30; i++) s += x[i] * x[i];
        out[0] = r->op == 0 ? s : s / 30;
        break;
    case 2:
        for (int a = 0; a < 2; a++)
            for (int c = 0; c < 5; c++) {
                s = 0;
                for (int b = 0; b < 3; b++) s += X(a, b, c);
                out[a * 5 + c] = s;
            }
        break;
    case 3:
        for (int a = 0; a < 2; a++)
            for (int b = 0; b < 3; b++) {
                s = 0;
                for (int c = 0; c < 5; c++) s += X(a, b, c);
                out[a * 3 + b] = s / 5;
            }
        break;
    case 4:
        for (int b = 0; b < 3; b++) {
            s = 0;
            for (int a = 0; a < 2; a++)
                for (int c = 0; c < 5; c++) s += X(a, b, c);
            out[b] = s;
        }
        break;
    case 5: /* y[c][a][b] */
        for (int c = 0; c < 5; c++)
            for (int a = 0; a < 2; a++)
                for (int b = 0; b < 3; b++) out[(c * 2 + a) * 3 + b] = X(a, b, c);
        break;
    case 6:
        for (int k = 0; k < 2; k++)
            for (int i = 0; i < 30; i++) out[k * 30 + i] = x[i] * x[i];
        break;
    }
#undef X
}

static void reductions_and_shapes_once(void)
{
    const char *names[] = {"sum", "mean", "sum_axis", "mean_axis", "sum_to", "permute", "expand"};
    for (int op = 0; op < 7; op++) {
        red_ud r = {op};
        gc_case c = {.name = names[op], .n_in = 1, .ndim = {3}, .shape = {{2, 3, 5}},
                     .dev = red_dev, .ref = red_ref, .ud = &r, .second_order = true};
        gc_check(&c);
    }
}

/* both forms of the row-reducing kernels (TU_EACH_ROWS_FORM) */
START_TEST(reductions_and_shapes)
{
    TU_EACH_ROWS_FORM(reductions_and_shapes_once());
}
END_TEST

/* permute keeping the last axis, 8 long: the float4 kernel (attention's
 * head split [B, T, H, D] -> [B, H, T, D]); value and gradients against
 * the index arithmetic in double, the input a view at an odd offset (a
 * slice of a larger variable) in the second case. */
typedef struct perm4_ud {
    int sliced;
} perm4_ud;

static sc_var *perm4_dev(sc_graph *g, sc_var **in, void *ud)
{
    const perm4_ud *u = ud;
    int perm[4] = {0, 2, 1, 3};
    sc_var *x = sc_nn_mul(g, in[0], in[0]);
    if (u->sliced) { /* [2*3*5*8 + 3] -> drop 3 -> [2, 3, 5, 8] */
        int64_t s[4] = {2, 3, 5, 8};
        x = sc_nn_reshape(g, sc_nn_slice(g, x, 0, 3, 240), 4, s);
    }
    return sc_nn_permute(g, x, perm);
}

static void perm4_ref(double *const *in, double *out, void *ud)
{
    const perm4_ud *u = ud;
    const double *x = in[0] + (u->sliced ? 3 : 0);
    for (int a = 0; a < 2; a++)
        for (int c = 0; c < 5; c++)
            for (int b = 0; b < 3; b++)
                for (int d = 0; d < 8; d++) {
                    double v = x[((a * 3 + b) * 5 + c) * 8 + d];
                    out[((a * 5 + c) * 3 + b) * 8 + d] = v * v;
                }
}

START_TEST(permute_last_axis_kept)
{
    for (int sl = 0; sl < 2; sl++) {
        perm4_ud u = {sl};
        gc_case c = {.name = sl ? "permute4 (sliced)" : "permute4", .n_in = 1,
                     .ndim = {sl ? 1 : 4}, .shape = {{2, 3, 5, 8}}, .dev = perm4_dev,
                     .ref = perm4_ref, .ud = &u, .second_order = true};
        if (sl)
            c.shape[0][0] = 243;
        gc_check(&c);
    }
}
END_TEST

/* sum_to at bias-gradient sizes, each case in both forms (a work-group per
 * output, a work-item per output) and in the device's own choice (on a GPU,
 * groups for few outputs over many elements; on a CPU, items), against a
 * double sum. The shapes cover a
 * reduced count that is not a multiple of the work-group, reduced dims on
 * both sides of a kept one, and a kept innermost dim (strided reads). */
START_TEST(sum_to_large)
{
    sc_context *ctx = tu_ctx();
    struct {
        int64_t x[3], to[3];
    } cases[] = {
        {{37, 5, 301}, {1, 5, 1}},   /* conv bias: batch and pixels */
        {{37, 5, 304}, {1, 5, 1}},   /* the same, pixels by 4 (CPU: two passes) */
        {{1, 2177, 64}, {1, 1, 64}}, /* linear bias over 2177 rows */
        {{3, 700, 1}, {3, 1, 1}},    /* inner reduction */
        {{4, 3, 2000}, {4, 3, 1}},   /* more outputs, shorter sums */
        {{2, 600, 70}, {1, 600, 1}}, /* per-output kernel on small devices */
        {{500, 4, 9}, {1, 4, 1}},    /* long outer, short inner reduced dim */
    };
    sc_rng rng;
    sc_rng_seed(&rng, 11);
    static const char *forms[] = {"groups", "items", NULL}; /* NULL: the device's choice */
    for (size_t c = 0; c < 3 * (sizeof cases / sizeof cases[0]); c++) {
        const char *form = forms[c % 3];
        TU_OK(sc_context_set_form(ctx, "rows", form));
        const int64_t *xs = cases[c / 3].x, *ts = cases[c / 3].to;
        size_t n = (size_t)(xs[0] * xs[1] * xs[2]), nout = (size_t)(ts[0] * ts[1] * ts[2]);
        float *xv = malloc(n * sizeof *xv);
        double *want = calloc(nout, sizeof *want);
        ck_assert(xv && want);
        tu_normal(&rng, xv, n);
        for (int64_t a = 0; a < xs[0]; a++)
            for (int64_t b = 0; b < xs[1]; b++)
                for (int64_t d = 0; d < xs[2]; d++) {
                    int64_t o = ((ts[0] > 1 ? a : 0) * ts[1] + (ts[1] > 1 ? b : 0)) * ts[2] +
                                (ts[2] > 1 ? d : 0);
                    want[o] += xv[(a * xs[1] + b) * xs[2] + d];
                }
        sc_graph *g;
        TU_OK(sc_graph_create(ctx, &g));
        sc_var *y = sc_nn_sum_to(g, sc_var_from_host(g, 3, xs, xv, false), 3, ts);
        TU_OK(sc_graph_status(g));
        float *got = tu_download(sc_var_tensor(y));
        char what[64];
        snprintf(what, sizeof what, "sum_to case %zu (%s)", c / 3, form ? form : "auto");
        tu_assert_close(what, got, want, nout, 1e-5, 1e-4);
        free(got);
        free(xv);
        free(want);
        sc_graph_free(g);
    }
    TU_OK(sc_context_set_form(ctx, "rows", NULL));
}
END_TEST

/* ---- matmul and linear ------------------------------------------------------- */

typedef struct mm_ud {
    bool ta, tb;
    int batch, m, n, k;
    bool linear; /* x[m,k] w[n,k] b[n] */
} mm_ud;

static sc_var *mm_dev(sc_graph *g, sc_var **in, void *ud)
{
    const mm_ud *p = ud;
    sc_var *y = p->linear ? sc_nn_linear(g, in[0], in[1], in[2])
                          : sc_nn_matmul(g, in[0], in[1], p->ta, p->tb);
    return sc_nn_mul(g, y, y);
}

static void mm_ref(double *const *in, double *out, void *ud)
{
    const mm_ud *p = ud;
    int B = p->batch ? p->batch : 1;
    for (int b = 0; b < B; b++)
        for (int i = 0; i < p->m; i++)
            for (int j = 0; j < p->n; j++) {
                double s = 0;
                for (int q = 0; q < p->k; q++) {
                    double a, c;
                    if (p->linear) {
                        a = in[0][i * p->k + q];
                        c = in[1][j * p->k + q];
                    } else {
                        a = p->ta ? in[0][(size_t)b * p->m * p->k + q * p->m + i]
                                  : in[0][(size_t)b * p->m * p->k + i * p->k + q];
                        c = p->tb ? in[1][(size_t)b * p->n * p->k + j * p->k + q]
                                  : in[1][(size_t)b * p->n * p->k + q * p->n + j];
                    }
                    s += a * c;
                }
                if (p->linear)
                    s += in[2][j];
                out[((size_t)b * p->m + i) * p->n + j] = s * s;
            }
}

START_TEST(matmul_variants)
{
    for (int batch = 0; batch <= 3; batch += 3)
        for (int t = 0; t < 4; t++) {
            mm_ud p = {.ta = t & 1, .tb = t >> 1, .batch = batch, .m = 7, .n = 5, .k = 13};
            gc_case c = {.name = "matmul", .n_in = 2, .dev = mm_dev, .ref = mm_ref, .ud = &p,
                         .second_order = true};
            int r = batch ? 3 : 2, o = batch ? 1 : 0;
            c.ndim[0] = c.ndim[1] = r;
            c.shape[0][0] = c.shape[1][0] = batch;
            c.shape[0][o] = p.ta ? p.k : p.m;
            c.shape[0][o + 1] = p.ta ? p.m : p.k;
            c.shape[1][o] = p.tb ? p.n : p.k;
            c.shape[1][o + 1] = p.tb ? p.k : p.n;
            char name[48];
            snprintf(name, sizeof name, "matmul b%d ta%d tb%d", batch, p.ta, p.tb);
            c.name = name;
            gc_check(&c);
        }
    mm_ud p = {.linear = true, .m = 7, .n = 13, .k = 5};
    gc_case c = {.name = "linear", .n_in = 3, .ndim = {2, 2, 1},
                 .shape = {{7, 5}, {13, 5}, {13}}, .dev = mm_dev, .ref = mm_ref, .ud = &p,
                 .second_order = true};
    gc_check(&c);
}
END_TEST

/* A larger GEMM through both providers agrees with double precision. */
START_TEST(gemm_providers)
{
    const int M = 129, N = 67, K = 300;
    sc_rng rng;
    sc_rng_seed(&rng, 5);
    float *a = malloc(M * K * 4), *b = malloc(K * N * 4);
    tu_normal(&rng, a, M * K);
    tu_normal(&rng, b, K * N);
    double *want = malloc(M * N * sizeof(double));
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int q = 0; q < K; q++) s += (double)a[i * K + q] * b[q * N + j];
            want[i * N + j] = s;
        }
    const char *prov[3] = {"clblast", "native", "host"};
    for (int p = 0; p < 3; p++) {
        TU_OK(sc_context_set_form(tu_ctx(), "gemm", prov[p]));
        sc_graph *g;
        TU_OK(sc_graph_create(tu_ctx(), &g));
        int64_t as[2] = {M, K}, bs[2] = {K, N};
        sc_var *y = sc_nn_matmul(g, sc_var_from_host(g, 2, as, a, false),
                                 sc_var_from_host(g, 2, bs, b, false), false, false);
        TU_OK(sc_graph_status(g));
        float *got = tu_download(sc_var_tensor(y));
        tu_assert_close(prov[p], got, want, (size_t)M * N, 1e-4, 1e-4);
        free(got);
        sc_graph_free(g);
    }
    TU_OK(sc_context_set_form(tu_ctx(), "gemm", NULL));
    free(a); free(b); free(want);

    /* Long K, small output (a conv weight gradient's shape): CLBlast's path
     * splits K into chunks (gemm.c); K = 9001 leaves a longer last chunk.
     * Every transpose combination against a double product. */
    const int M2 = 8, N2 = 5, K2 = 9001;
    float *a2 = malloc((size_t)M2 * K2 * 4), *b2 = malloc((size_t)K2 * N2 * 4);
    double *want2 = malloc((size_t)M2 * N2 * sizeof(double));
    tu_normal(&rng, a2, (size_t)M2 * K2);
    tu_normal(&rng, b2, (size_t)K2 * N2);
    TU_OK(sc_context_set_form(tu_ctx(), "gemm", "clblast"));
    for (int t = 0; t < 4; t++) {
        bool ta = t & 1, tb = t & 2;
        /* stored A is [K, M] when transposed, B is [N, K] when transposed */
        for (int i = 0; i < M2; i++)
            for (int j = 0; j < N2; j++) {
                double s = 0;
                for (int q = 0; q < K2; q++)
                    s += (double)(ta ? a2[q * M2 + i] : a2[i * K2 + q]) *
                         (tb ? b2[j * K2 + q] : b2[q * N2 + j]);
                want2[i * N2 + j] = s;
            }
        sc_graph *g;
        TU_OK(sc_graph_create(tu_ctx(), &g));
        int64_t as[2] = {ta ? K2 : M2, ta ? M2 : K2}, bs[2] = {tb ? N2 : K2, tb ? K2 : N2};
        sc_var *y = sc_nn_matmul(g, sc_var_from_host(g, 2, as, a2, false),
                                 sc_var_from_host(g, 2, bs, b2, false), ta, tb);
        TU_OK(sc_graph_status(g));
        float *got = tu_download(sc_var_tensor(y));
        char what[48];
        snprintf(what, sizeof what, "split-K ta%d tb%d", ta, tb);
        tu_assert_close(what, got, want2, (size_t)M2 * N2, 1e-4, 1e-3);
        free(got);
        sc_graph_free(g);
    }
    TU_OK(sc_context_set_form(tu_ctx(), "gemm", NULL));
    free(a2); free(b2); free(want2);
}
END_TEST

/* ---- the engine ---------------------------------------------------------------- */

START_TEST(engine_semantics)
{
    sc_graph *g;
    TU_OK(sc_graph_create(tu_ctx(), &g));
    int64_t s[1] = {3};
    float xv[3] = {1, 2, 3}, wv[3] = {0.5f, -1, 2};
    sc_var *x = sc_var_from_host(g, 1, s, xv, true);
    sc_var *w = sc_var_from_host(g, 1, s, wv, true);
    sc_var *c = sc_var_from_host(g, 1, s, wv, false);
    /* y = sum(x*w) + sum(x*x*c); x used twice: gradients accumulate */
    sc_var *y = sc_nn_add(g, sc_nn_sum(g, sc_nn_mul(g, x, w)),
                          sc_nn_sum(g, sc_nn_mul(g, sc_nn_mul(g, x, x), c)));
    sc_var *in[3] = {x, w, c}, *gr[3];
    TU_OK(sc_grad(g, 1, &y, NULL, 3, in, true, gr));
    ck_assert_ptr_null(gr[2]); /* constants get no gradient */
    float gx[3], gw[3];
    TU_OK(sc_tensor_download(sc_var_tensor(gr[0]), gx));
    TU_OK(sc_tensor_download(sc_var_tensor(gr[1]), gw));
    for (int i = 0; i < 3; i++) {
        ck_assert_float_eq_tol(gx[i], wv[i] + 2 * xv[i] * wv[i], 1e-6);
        ck_assert_float_eq_tol(gw[i], xv[i], 1e-6);
    }
    /* gradient of the gradient: d/dx sum(gx) = sum_i (2 c_i) per element */
    sc_var *r = sc_nn_sum(g, gr[0]);
    sc_var *g2[3];
    TU_OK(sc_grad(g, 1, &r, NULL, 3, in, false, g2));
    float h[3];
    TU_OK(sc_tensor_download(sc_var_tensor(g2[0]), h));
    for (int i = 0; i < 3; i++)
        ck_assert_float_eq_tol(h[i], 2 * wv[i], 1e-6);
    /* d/dw sum(w + 2xc) = 1: c holds w's values but is a constant */
    TU_OK(sc_tensor_download(sc_var_tensor(g2[1]), h));
    for (int i = 0; i < 3; i++)
        ck_assert_float_eq_tol(h[i], 1.0f, 1e-6);

    /* a non-scalar output needs a seed */
    ck_assert_int_eq(sc_grad(g, 1, &x, NULL, 1, in, false, gr), SC_ERR_INVALID_ARG);
    sc_graph_reset(g);
    TU_OK(sc_graph_status(g));

    /* sticky errors: a bad op poisons the graph, later ops return NULL */
    int64_t s2[1] = {4};
    sc_var *a = sc_var_from_host(g, 1, s, xv, true);
    float z[4] = {0};
    sc_var *b = sc_var_from_host(g, 1, s2, z, true);
    ck_assert_ptr_null(sc_nn_add(g, a, b));
    ck_assert_int_eq(sc_graph_status(g), SC_ERR_INVALID_ARG);
    ck_assert_msg(strstr(sc_last_error(), "[3]") && strstr(sc_last_error(), "[4]"), "%s",
                  sc_last_error());
    ck_assert_ptr_null(sc_nn_relu(g, a));
    sc_graph_free(g);
}
END_TEST

/* A parameter outlives the graphs that take its gradient: each graph's
 * passes must ignore what another graph (freed since) left on it. The first
 * graph takes d/dw sum(w*w) = 2w in its second pass (its first is a
 * gradient with respect to x alone); the second graph's second pass takes
 * d/dw sum(3w) = 3, which a pass number counted per graph confused with
 * the first graph's and added to that freed gradient. */
START_TEST(engine_param_across_graphs)
{
    sc_context *ctx = tu_ctx();
    sc_var *w;
    int64_t ws[1] = {4};
    TU_OK(sc_param_create(ctx, "w", 1, ws, &w));
    TU_OK(sc_tensor_fill(sc_var_tensor(w), 0.5));
    float xv[4] = {1, -2, 3, 4};
    for (int round = 0; round < 2; round++) {
        sc_graph *g;
        TU_OK(sc_graph_create(ctx, &g));
        sc_var *x = sc_var_from_host(g, 1, ws, xv, true);
        sc_var *gx;
        sc_var *fx = sc_nn_sum(g, sc_nn_mul(g, x, w));
        TU_OK(sc_grad(g, 1, &fx, NULL, 1, &x, false, &gx));
        sc_var *f = round ? sc_nn_sum(g, sc_nn_scale(g, w, 3.0f))
                          : sc_nn_sum(g, sc_nn_mul(g, w, w));
        sc_var *gw;
        TU_OK(sc_grad(g, 1, &f, NULL, 1, &w, false, &gw));
        float h[4];
        TU_OK(sc_tensor_download(sc_var_tensor(gw), h));
        for (int i = 0; i < 4; i++)
            ck_assert_float_eq_tol(h[i], round ? 3.0f : 1.0f, 1e-6);
        sc_graph_free(g);
    }
    sc_param_free(w);
}
END_TEST

static sc_var *linear_gelu_sum(sc_graph *g, sc_var *x, sc_var *w)
{
    return sc_nn_sum(g, sc_nn_gelu(g, sc_nn_linear(g, x, w, NULL)));
}

START_TEST(engine_no_leak_over_steps)
{
    /* A step of forward + double backward, repeated: the pool stops growing. */
    sc_context *ctx = tu_ctx();
    sc_var *w;
    int64_t ws[2] = {13, 7};
    TU_OK(sc_param_create(ctx, "fc.weight", 2, ws, &w));
    TU_OK(sc_tensor_fill(sc_var_tensor(w), 0.1));
    ck_assert_str_eq(sc_var_name(w), "fc.weight");
    sc_graph *g;
    TU_OK(sc_graph_create(ctx, &g));
    float xv[5 * 7];
    for (int i = 0; i < 35; i++) xv[i] = (float)(i % 5) - 2.0f;
    int64_t xs[2] = {5, 7};
    gc_assert_no_growth(g, w, 2, xs, xv, linear_gelu_sum, 20);
    sc_graph_free(g);
    sc_param_free(w);
}
END_TEST

/* GELU over the whole float range its exp sees (cl/math.cl's sc_exp_neg:
 * exp(-x^2 / 2) below -87 is clamped): a grid over [-30, 30] in steps of
 * 0.05 plus +-0, subnormal and huge inputs, forward, first derivative and
 * second derivative (by the fused double-backward kernel and by the
 * composed gelu'' op) against double; +inf maps to +inf, NaN to NaN. */
START_TEST(gelu_extremes)
{
    enum { GRID = 1201, N = GRID + 6 };
    float x[N];
    for (int i = 0; i < GRID; i++)
        x[i] = -30.0f + 0.05f * (float)i;
    x[GRID] = 0.0f;
    x[GRID + 1] = -0.0f;
    x[GRID + 2] = 1e-40f;
    x[GRID + 3] = -3e38f;
    x[GRID + 4] = INFINITY;
    x[GRID + 5] = NAN;
    int64_t n = N;
    float ones[N];
    for (int i = 0; i < N; i++)
        ones[i] = 1.0f;
    float *y = NULL, *gx = NULL, *g2[2] = {NULL, NULL};
    for (int rec = 0; rec < 2; rec++) {
        sc_graph *g;
        TU_OK(sc_graph_create(tu_ctx(), &g));
        sc_var *xv = sc_var_from_host(g, 1, &n, x, true);
        sc_var *yv = sc_nn_gelu(g, xv);
        sc_var *seed = sc_var_from_host(g, 1, &n, ones, false), *gv = NULL, *gg = NULL;
        TU_OK(sc_grad(g, 1, &yv, &seed, 1, &xv, true, &gv));
        sc_var *r = sc_nn_sum(g, gv);
        TU_OK(sc_grad(g, 1, &r, NULL, 1, &xv, rec == 1, &gg));
        if (!rec) {
            y = tu_download(sc_var_tensor(yv));
            gx = tu_download(sc_var_tensor(gv));
        }
        g2[rec] = tu_download(sc_var_tensor(gg));
        sc_graph_free(g);
    }
    for (int i = 0; i < N - 2; i++) { /* the finite inputs */
        double v = x[i], pdf = exp(-0.5 * v * v) * 0.39894228040143267794;
        double want_y = i == GRID + 3 ? 0.0 : gelu_d(v);
        double want_d = i == GRID + 3 ? 0.0 : 0.5 * (1.0 + erf(v / sqrt(2.0))) + v * pdf;
        double want_d2 = i == GRID + 3 ? 0.0 : pdf * (2.0 - v * v);
        /* A&S erf's absolute error 1.5e-7 bounds the absolute error: 1e-6
         * x max(1, |x|) for y (x * Phi(x)), 1e-6 for gelu' and gelu'' */
        ck_assert_msg(fabs(y[i] - want_y) <= 1e-6 * fmax(1.0, fabs(v)) + 1e-5 * fabs(want_y),
                      "gelu(%g) = %.9g, want %.9g", v, y[i], want_y);
        ck_assert_msg(fabs(gx[i] - want_d) <= 1e-6 + 1e-5 * fabs(want_d),
                      "gelu'(%g) = %.9g, want %.9g", v, gx[i], want_d);
        for (int k = 0; k < 2; k++)
            ck_assert_msg(fabs(g2[k][i] - want_d2) <= 1e-6 + 1e-5 * fabs(want_d2),
                          "gelu''(%g) (%s) = %.9g, want %.9g", v, k ? "composed" : "fused",
                          g2[k][i], want_d2);
    }
    ck_assert(isinf(y[GRID + 4]) && y[GRID + 4] > 0);
    ck_assert(isnan(y[GRID + 5]));
    ck_assert(isnan(gx[GRID + 5]) && isnan(g2[0][GRID + 5]) && isnan(g2[1][GRID + 5]));
    free(y);
    free(gx);
    free(g2[0]);
    free(g2[1]);
}
END_TEST

/* GELU's backward gy * gelu'(x) is one kernel, recorded as an op when the
 * backward records; that op's own backward (dgy = gg * gelu'(x), dx = gg *
 * gy * gelu''(x)) is one fused kernel when the second pass does not
 * record and the composed gelu'' op and multiplications when it does. The
 * first derivative, and the second by both paths (odd sizes, x over [-6,
 * 6] and exact 0), against each other and against Phi(x) + x phi(x) and
 * phi(x) (2 - x^2) in double. */
START_TEST(gelu_fused_backward)
{
    const int64_t sizes[] = {1, 7, 65, 257, 1000};
    sc_rng rng;
    sc_rng_seed(&rng, 77);
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        int64_t n = sizes[si];
        float *x = malloc((size_t)n * sizeof *x), *u = malloc((size_t)n * sizeof *u);
        float *v = malloc((size_t)n * sizeof *v);
        tu_uniform(&rng, x, (size_t)n, -6.0f, 6.0f);
        tu_uniform(&rng, u, (size_t)n, -1.0f, 1.0f);
        tu_uniform(&rng, v, (size_t)n, -1.0f, 1.0f);
        x[0] = n > 1 ? 0.0f : x[0];
        float *g1 = NULL, *g2[2], *gu[2];
        for (int rec = 0; rec < 2; rec++) {
            sc_graph *g;
            TU_OK(sc_graph_create(tu_ctx(), &g));
            sc_var *xv = sc_var_from_host(g, 1, &n, x, true);
            sc_var *uv = sc_var_from_host(g, 1, &n, u, true);
            sc_var *y = sc_nn_gelu(g, xv), *gx = NULL;
            TU_OK(sc_grad(g, 1, &y, &uv, 1, &xv, true, &gx));
            ck_assert_ptr_nonnull(gx);
            if (!rec)
                g1 = tu_download(sc_var_tensor(gx));
            /* r = <v, u * gelu'(x)>: dr/dx = v u gelu''(x), dr/du = v gelu'(x) */
            sc_var *r = sc_nn_sum(g, sc_nn_mul(g, gx, sc_var_from_host(g, 1, &n, v, false)));
            sc_var *in[2] = {xv, uv}, *out[2] = {NULL, NULL};
            TU_OK(sc_grad(g, 1, &r, NULL, 2, in, rec == 1, out));
            ck_assert_ptr_nonnull(out[0]);
            ck_assert_ptr_nonnull(out[1]);
            g2[rec] = tu_download(sc_var_tensor(out[0]));
            gu[rec] = tu_download(sc_var_tensor(out[1]));
            sc_graph_free(g);
        }
        double *w1 = malloc((size_t)n * sizeof *w1), *w2 = malloc((size_t)n * sizeof *w2);
        double *wu = malloc((size_t)n * sizeof *wu), *c2 = malloc((size_t)n * sizeof *c2);
        double *cu = malloc((size_t)n * sizeof *cu);
        double worst = 0;
        for (int64_t i = 0; i < n; i++) {
            double t = x[i], pdf = exp(-0.5 * t * t) * 0.39894228040143267794;
            double d1 = 0.5 * (1.0 + erf(t / sqrt(2.0))) + t * pdf, d2 = pdf * (2.0 - t * t);
            w1[i] = u[i] * d1;
            w2[i] = (double)v[i] * u[i] * d2;
            wu[i] = v[i] * d1;
            c2[i] = g2[1][i];
            cu[i] = gu[1][i];
            worst = fmax(worst, fabs(g2[0][i] - g2[1][i]));
        }
        tu_assert_close("gelu' vs double", g1, w1, (size_t)n, 1e-5, 1e-6);
        for (int k = 0; k < 2; k++) {
            tu_assert_close(k ? "gelu'' composed vs double" : "gelu'' fused vs double", g2[k], w2,
                            (size_t)n, 1e-5, 1e-6);
            tu_assert_close(k ? "d/du composed vs double" : "d/du fused vs double", gu[k], wu,
                            (size_t)n, 1e-5, 1e-6);
        }
        tu_assert_close("gelu'' fused vs composed", g2[0], c2, (size_t)n, 1e-5, 1e-6);
        tu_assert_close("d/du fused vs composed", gu[0], cu, (size_t)n, 1e-5, 1e-6);
        printf("  gelu double backward [%lld]: max |fused - composed| %.2e\n", (long long)n, worst);
        free(x);
        free(u);
        free(v);
        free(g1);
        for (int k = 0; k < 2; k++) {
            free(g2[k]);
            free(gu[k]);
        }
        free(w1);
        free(w2);
        free(wu);
        free(c2);
        free(cu);
    }
}
END_TEST

int main(void)
{
    const tu_case cases[] = {
        {"ops", 0, {binary_broadcast, unary_ops, reductions_and_shapes, permute_last_axis_kept,
                sum_to_large, matmul_variants, gemm_providers, gelu_fused_backward,
                gelu_extremes}},
        {"engine", 0, {engine_semantics, engine_param_across_graphs, engine_no_leak_over_steps}},
    };
    return tu_run(TU_SUITE("nn_math", cases));
}
