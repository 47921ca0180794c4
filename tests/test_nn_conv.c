/* Convolution and pooling: forward vs double-precision host references,
 * first order vs central differences, second order (the gradient of a random
 * projection of an input gradient) vs differences of the reference's exact
 * first-order gradient (tests/gradcheck.c); determinism, realistic sizes,
 * pooled memory over steps, and the error messages. */
#include "gradcheck.h"
#include "suite.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- double-precision references ------------------------------------------------- */

typedef struct conv_p {
    int n, c, h, w, o, kh, kw, s, p;
    bool bias;
    int oh, ow;
} conv_p;

static void conv_p_finish(conv_p *p)
{
    p->oh = (p->h + 2 * p->p - p->kh) / p->s + 1;
    p->ow = (p->w + 2 * p->p - p->kw) / p->s + 1;
}

static size_t conv_out_n(const conv_p *p) { return (size_t)p->n * p->o * p->oh * p->ow; }

/* y = conv(x, w) + b */
static void conv_ref_fwd(const conv_p *p, const double *x, const double *w, const double *b,
                         double *y)
{
    for (int n = 0; n < p->n; n++)
        for (int o = 0; o < p->o; o++)
            for (int oh = 0; oh < p->oh; oh++)
                for (int ow = 0; ow < p->ow; ow++) {
                    double acc = b ? b[o] : 0.0;
                    for (int c = 0; c < p->c; c++)
                        for (int kh = 0; kh < p->kh; kh++) {
                            int ih = oh * p->s + kh - p->p;
                            if (ih < 0 || ih >= p->h)
                                continue;
                            for (int kw = 0; kw < p->kw; kw++) {
                                int iw = ow * p->s + kw - p->p;
                                if (iw < 0 || iw >= p->w)
                                    continue;
                                acc += w[((o * p->c + c) * p->kh + kh) * p->kw + kw] *
                                       x[((n * p->c + c) * p->h + ih) * p->w + iw];
                            }
                        }
                    y[((n * p->o + o) * p->oh + oh) * p->ow + ow] = acc;
                }
}

/* gx += d<u,y>/dx, gw += d<u,y>/dw, gb += d<u,y>/db (any may be NULL) */
static void conv_ref_vjp(const conv_p *p, const double *x, const double *w, const double *u,
                         double *gx, double *gw, double *gb)
{
    for (int n = 0; n < p->n; n++)
        for (int o = 0; o < p->o; o++)
            for (int oh = 0; oh < p->oh; oh++)
                for (int ow = 0; ow < p->ow; ow++) {
                    double g = u[((n * p->o + o) * p->oh + oh) * p->ow + ow];
                    if (gb)
                        gb[o] += g;
                    for (int c = 0; c < p->c; c++)
                        for (int kh = 0; kh < p->kh; kh++) {
                            int ih = oh * p->s + kh - p->p;
                            if (ih < 0 || ih >= p->h)
                                continue;
                            for (int kw = 0; kw < p->kw; kw++) {
                                int iw = ow * p->s + kw - p->p;
                                if (iw < 0 || iw >= p->w)
                                    continue;
                                size_t wi = (size_t)((o * p->c + c) * p->kh + kh) * p->kw + kw;
                                size_t xi = (size_t)((n * p->c + c) * p->h + ih) * p->w + iw;
                                if (gx)
                                    gx[xi] += g * w[wi];
                                if (gw)
                                    gw[wi] += g * x[xi];
                            }
                        }
                }
}

/* The checked function is conv(x, w, b)^2 (elementwise), so that second
 * derivatives with respect to x alone are not zero. */
static sc_var *conv_dev(sc_graph *g, sc_var **in, void *ud)
{
    const conv_p *p = ud;
    sc_var *y = sc_nn_conv2d(g, in[0], in[1], p->bias ? in[2] : NULL, p->s, p->p);
    return sc_nn_mul(g, y, y);
}

static void conv_ref(double *const *in, double *out, void *ud)
{
    const conv_p *p = ud;
    conv_ref_fwd(p, in[0], in[1], p->bias ? in[2] : NULL, out);
    for (size_t i = 0; i < conv_out_n(p); i++)
        out[i] *= out[i];
}

static void conv_vjp(double *const *in, const double *u, double **gin, void *ud)
{
    const conv_p *p = ud;
    size_t m = conv_out_n(p);
    double *y = malloc(m * sizeof *y);
    conv_ref_fwd(p, in[0], in[1], p->bias ? in[2] : NULL, y);
    for (size_t i = 0; i < m; i++)
        y[i] = 2.0 * y[i] * u[i];
    conv_ref_vjp(p, in[0], in[1], y, gin[0], gin[1], p->bias ? gin[2] : NULL);
    free(y);
}

static void run_conv_case(const char *name, conv_p p, int second_wrt)
{
    conv_p_finish(&p);
    gc_case c = {.name = name, .n_in = p.bias ? 3 : 2, .ndim = {4, 4, 1},
                 .shape = {{p.n, p.c, p.h, p.w}, {p.o, p.c, p.kh, p.kw}, {p.o}},
                 .dev = conv_dev, .ref = conv_ref, .ref_vjp = conv_vjp, .ud = &p,
                 .second_order = second_wrt >= 0, .second_wrt = second_wrt > 0 ? second_wrt : 0,
                 /* the references are exact in double: well below gradcheck's defaults */
                 .grad_tol = 1e-4, .grad2_tol = 1e-4,
                 .seed = 1000 + (uint64_t)strlen(name) * 7 + (uint64_t)p.h};
    gc_check(&c);
}

static const char *const layout_forms[2] = {"rows", "elements"};

START_TEST(conv2d_cases)
{
    struct {
        const char *name;
        conv_p p;
    } cases[] = {
        {"conv b1 c1 7x7 k3 p1", {1, 1, 7, 7, 2, 3, 3, 1, 1, true, 0, 0}},
        {"conv b3 c3 13x13 k3 p1", {3, 3, 13, 13, 4, 3, 3, 1, 1, true, 0, 0}},
        {"conv b3 c3 13x13 k3 s2 nob", {3, 3, 13, 13, 4, 3, 3, 2, 0, false, 0, 0}},
        {"conv b1 c3 7x7 k3 s2 p1", {1, 3, 7, 7, 5, 3, 3, 2, 1, true, 0, 0}},
        {"conv b3 c3 12x12 k4 s4", {3, 3, 12, 12, 5, 4, 4, 4, 0, true, 0, 0}},
        {"conv b1 c1 13x13 k4 s4 nob", {1, 1, 13, 13, 6, 4, 4, 4, 0, false, 0, 0}},
        {"conv b2 c2 7x6 k3x2 p1", {2, 2, 7, 6, 3, 3, 2, 1, 1, true, 0, 0}},
    };
    /* both forms of the layout kernels (a CPU picks rows, a GPU elements) */
    for (int f = 0; f < 2; f++) {
        TU_OK(sc_context_set_form(tu_ctx(), "conv_layout", layout_forms[f]));
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            char nm[64];
            /* second order through the input gradient (the saliency path)... */
            snprintf(nm, sizeof nm, "%s d2x %s", cases[i].name, layout_forms[f]);
            run_conv_case(nm, cases[i].p, 0);
            /* ...and through the weight gradient */
            snprintf(nm, sizeof nm, "%s d2w %s", cases[i].name, layout_forms[f]);
            run_conv_case(nm, cases[i].p, 1);
        }
    }
    TU_OK(sc_context_set_form(tu_ctx(), "conv_layout", NULL));
}
END_TEST

/* ---- pooling references ----------------------------------------------------------------- */

typedef struct pool_p {
    int kind; /* 0 max, 1 avg, 2 global avg */
    int n, c, h, w, k, s;
    int oh, ow;
} pool_p;

static void pool_p_finish(pool_p *p)
{
    if (p->kind == 2) {
        p->oh = p->ow = 1;
        return;
    }
    p->oh = (p->h - p->k) / p->s + 1;
    p->ow = (p->w - p->k) / p->s + 1;
}

/* y and, for max, the argmax (flat index into x) of each output */
static void pool_ref_fwd(const pool_p *p, const double *x, double *y, size_t *arg)
{
    int planes = p->n * p->c;
    for (int pl = 0; pl < planes; pl++) {
        const double *src = x + (size_t)pl * p->h * p->w;
        if (p->kind == 2) {
            double acc = 0;
            for (int i = 0; i < p->h * p->w; i++)
                acc += src[i];
            y[pl] = acc / (p->h * p->w);
            continue;
        }
        for (int oh = 0; oh < p->oh; oh++)
            for (int ow = 0; ow < p->ow; ow++) {
                double best = -INFINITY, acc = 0;
                size_t at = 0;
                for (int kh = 0; kh < p->k; kh++)
                    for (int kw = 0; kw < p->k; kw++) {
                        size_t i = (size_t)(oh * p->s + kh) * p->w + ow * p->s + kw;
                        acc += src[i];
                        if (src[i] > best) {
                            best = src[i];
                            at = i;
                        }
                    }
                size_t o = ((size_t)pl * p->oh + oh) * p->ow + ow;
                y[o] = p->kind == 0 ? best : acc / (p->k * p->k);
                if (arg)
                    arg[o] = (size_t)pl * p->h * p->w + at;
            }
    }
}

static size_t pool_out_n(const pool_p *p) { return (size_t)p->n * p->c * p->oh * p->ow; }

static sc_var *pool_dev(sc_graph *g, sc_var **in, void *ud)
{
    const pool_p *p = ud;
    sc_var *y = p->kind == 0   ? sc_nn_maxpool2d(g, in[0], p->k, p->s)
                : p->kind == 1 ? sc_nn_avgpool2d(g, in[0], p->k, p->s)
                               : sc_nn_global_avgpool(g, in[0]);
    return sc_nn_mul(g, y, y);
}

static void pool_ref(double *const *in, double *out, void *ud)
{
    const pool_p *p = ud;
    pool_ref_fwd(p, in[0], out, NULL);
    for (size_t i = 0; i < pool_out_n(p); i++)
        out[i] *= out[i];
}

static void pool_vjp(double *const *in, const double *u, double **gin, void *ud)
{
    const pool_p *p = ud;
    size_t m = pool_out_n(p);
    double *y = malloc(m * sizeof *y);
    size_t *arg = malloc(m * sizeof *arg);
    pool_ref_fwd(p, in[0], y, arg);
    int planes = p->n * p->c;
    for (int pl = 0; pl < planes; pl++)
        for (int oh = 0; oh < p->oh; oh++)
            for (int ow = 0; ow < p->ow; ow++) {
                size_t o = ((size_t)pl * p->oh + oh) * p->ow + ow;
                double g = 2.0 * y[o] * u[o];
                double *gx = gin[0] + (size_t)pl * p->h * p->w;
                if (p->kind == 0) {
                    gin[0][arg[o]] += g;
                } else if (p->kind == 2) {
                    for (int i = 0; i < p->h * p->w; i++)
                        gx[i] += g / (p->h * p->w);
                } else {
                    for (int kh = 0; kh < p->k; kh++)
                        for (int kw = 0; kw < p->k; kw++)
                            gx[(size_t)(oh * p->s + kh) * p->w + ow * p->s + kw] +=
                                g / (p->k * p->k);
                }
            }
    free(y);
    free(arg);
}

static void run_pool_case(const char *name, pool_p p, bool second)
{
    pool_p_finish(&p);
    gc_case c = {.name = name, .n_in = 1, .ndim = {4}, .shape = {{p.n, p.c, p.h, p.w}},
                 .dev = pool_dev, .ref = pool_ref, .ref_vjp = pool_vjp, .ud = &p,
                 .second_order = second, .grad_tol = 1e-4, .grad2_tol = 1e-4,
                 .seed = 77 + (uint64_t)p.h * 3 + (uint64_t)p.k};
    gc_check(&c);
}

START_TEST(pool_cases)
{
    static const struct {
        const char *name;
        pool_p p;
    } cases[] = {
        {"maxpool b2 c3 7x7 k2 s2", {0, 2, 3, 7, 7, 2, 2, 0, 0}},
        {"maxpool b1 c3 8x8 k2 s2", {0, 1, 3, 8, 8, 2, 2, 0, 0}},
        {"maxpool b3 c2 7x7 k3 s2", {0, 3, 2, 7, 7, 3, 2, 0, 0}},
        {"maxpool b2 c1 8x13 k3 s2", {0, 2, 1, 8, 13, 3, 2, 0, 0}},
        {"maxpool b1 c2 7x7 k3 s1", {0, 1, 2, 7, 7, 3, 1, 0, 0}},
        {"avgpool b2 c3 7x7 k2 s2", {1, 2, 3, 7, 7, 2, 2, 0, 0}},
        {"avgpool b1 c3 8x8 k2 s2", {1, 1, 3, 8, 8, 2, 2, 0, 0}},
        {"avgpool b3 c2 8x8 k3 s2", {1, 3, 2, 8, 8, 3, 2, 0, 0}},
        {"avgpool b1 c2 7x13 k3 s1", {1, 1, 2, 7, 13, 3, 1, 0, 0}},
        {"global_avgpool b3 c5 7x7", {2, 3, 5, 7, 7, 0, 0, 0, 0}},
        {"global_avgpool b1 c2 13x8", {2, 1, 2, 13, 8, 0, 0, 0, 0}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_pool_case(cases[i].name, cases[i].p, true);
}
END_TEST

/* The maxpool gradient goes to the first maximal element of a window: on
 * ties (constant input) exactly one element per window gets it. */
START_TEST(maxpool_ties)
{
    sc_graph *g;
    TU_OK(sc_graph_create(tu_ctx(), &g));
    int64_t xs[4] = {1, 1, 4, 5};
    float xv[20];
    for (int i = 0; i < 20; i++)
        xv[i] = 1.0f;
    sc_var *x = sc_var_from_host(g, 4, xs, xv, true);
    sc_var *y = sc_nn_sum(g, sc_nn_maxpool2d(g, x, 2, 2)); /* 2x2 windows, last column unused */
    sc_var *gx;
    TU_OK(sc_grad(g, 1, &y, NULL, 1, &x, false, &gx));
    float got[20];
    TU_OK(sc_tensor_download(sc_var_tensor(gx), got));
    for (int h = 0; h < 4; h++)
        for (int w = 0; w < 5; w++) {
            float want = (h % 2 == 0 && w % 2 == 0 && w < 4) ? 1.0f : 0.0f;
            ck_assert_msg(got[h * 5 + w] == want, "gx[%d,%d] = %g, want %g", h, w,
                          (double)got[h * 5 + w], (double)want);
        }

    /* a NaN in a window wins (PyTorch propagates it); +inf and -inf together
     * are not a NaN */
    sc_graph_reset(g);
    int64_t s2[4] = {1, 1, 2, 4};
    float v2[8] = {1.0f, NAN, INFINITY, 2.0f, 3.0f, 0.5f, -INFINITY, 4.0f};
    x = sc_var_from_host(g, 4, s2, v2, true);
    sc_var *m = sc_nn_maxpool2d(g, x, 2, 2);
    y = sc_nn_sum(g, m);
    TU_OK(sc_grad(g, 1, &y, NULL, 1, &x, false, &gx));
    float mv[2], gv[8];
    TU_OK(sc_tensor_download(sc_var_tensor(m), mv));
    TU_OK(sc_tensor_download(sc_var_tensor(gx), gv));
    ck_assert_msg(isnan(mv[0]) && mv[1] == INFINITY, "max %g %g", (double)mv[0], (double)mv[1]);
    const float gwant[8] = {0, 1, 1, 0, 0, 0, 0, 0};
    for (int i = 0; i < 8; i++)
        ck_assert_msg(gv[i] == gwant[i], "gx[%d] = %g, want %g", i, (double)gv[i],
                      (double)gwant[i]);

    /* a window of negative zeros pools to a negative zero, bit for bit */
    sc_graph_reset(g);
    float v3[8] = {-0.0f, -0.0f, 1.0f, -0.0f, -0.0f, -0.0f, 0.0f, -0.0f};
    m = sc_nn_maxpool2d(g, sc_var_from_host(g, 4, s2, v3, false), 2, 2);
    TU_OK(sc_tensor_download(sc_var_tensor(m), mv));
    ck_assert_msg(mv[0] == 0.0f && signbit(mv[0]) && mv[1] == 1.0f, "max %g (sign %d) %g",
                  (double)mv[0], signbit(mv[0]) != 0, (double)mv[1]);
    sc_graph_free(g);
}
END_TEST

/* ---- convolution with its max pooling fused -------------------------------------------- */

typedef struct fused_p {
    int n, c, h, w, o, k, s, p;
    bool bias;
    int pk, ps;
} fused_p;

/* Pooled output, first-order gradients and the second-order gradient
 * with respect to w of the input gradient's squared norm, of
 * maxpool(conv(x, w, b)), fused or composed. */
static void fused_run(const fused_p *q, bool fused, bool second, const float *xf,
                      const float *wf, const float *bf, const float *uf, float **out,
                      size_t *cnt, uint64_t *gemms)
{
    sc_graph *g;
    TU_OK(sc_graph_create(tu_ctx(), &g));
    int64_t xs[4] = {q->n, q->c, q->h, q->w}, ws[4] = {q->o, q->c, q->k, q->k}, bs[1] = {q->o};
    sc_var *x = sc_var_from_host(g, 4, xs, xf, true);
    sc_var *w = sc_var_from_host(g, 4, ws, wf, true);
    sc_var *b = q->bias ? sc_var_from_host(g, 1, bs, bf, true) : NULL;
    sc_var *y = fused ? sc_nn_conv2d_maxpool(g, x, w, b, q->s, q->p, q->pk, q->ps)
                      : sc_nn_maxpool2d(g, sc_nn_conv2d(g, x, w, b, q->s, q->p), q->pk, q->ps);
    TU_OK(sc_graph_status(g));
    sc_var *u = sc_var_from_host(g, 4, sc_tensor_shape(sc_var_tensor(y)), uf, false);
    sc_var *f = sc_nn_sum(g, sc_nn_mul(g, y, u));
    sc_var *in[3] = {x, w, b}, *g1[3], *g2[3];
    int nin = q->bias ? 3 : 2;
    sc_queue_stats s0, s1;
    sc_context_queue_stats(tu_ctx(), &s0);
    TU_OK(sc_grad(g, 1, &f, NULL, nin, in, second, g1));
    sc_context_queue_stats(tu_ctx(), &s1);
    *gemms = s1.gemms - s0.gemms;
    g2[1] = NULL;
    if (second) {
        sc_var *pen = sc_nn_sum(g, sc_nn_mul(g, g1[0], g1[0]));
        TU_OK(sc_grad(g, 1, &pen, NULL, 2, in, false, g2));
        /* d2x is none: the input gradient of conv and pooling is linear in
         * gy and does not depend on x (the pooling's indices are constants) */
        ck_assert_ptr_null(g2[0]);
    }
    const sc_tensor *ts[6] = {sc_var_tensor(y), sc_var_tensor(g1[0]), sc_var_tensor(g1[1]), NULL,
                              second ? sc_var_tensor(g2[1]) : NULL,
                              q->bias ? sc_var_tensor(g1[2]) : NULL};
    for (int i = 0; i < 6; i++) {
        out[i] = ts[i] ? tu_download(ts[i]) : NULL;
        cnt[i] = ts[i] ? (size_t)sc_tensor_numel(ts[i]) : 0;
    }
    sc_graph_free(g);
}

/* sc_nn_conv2d_maxpool against the two ops it fuses, bit for bit: the
 * pooled values, the first-order gradients and the second order through
 * the input gradient (as ULE's teacher takes it), in both layout forms
 * (rows fuses, elements composes); windows that overlap, that leave
 * columns unused, a padded and a strided convolution, no bias. A first
 * order that does not record takes the fused backward: bit for bit again
 * but for the bias, whose gradient sums the pooled gy (the same terms in
 * another order): within 1e-6 of its largest; and, in the rows form, for a
 * filter of at most SC_K_CONV_POOLED_MAX_CKK taps (cases 0 and 3 to 6, the
 * last an RGB first layer's 27), the filter's, summed from the pooled gy
 * without a GEMM (the GEMM's nonzero terms, in another order): within 2e-6
 * of its largest (seen: at most 3.6e-7, at batch 59), and one GEMM fewer.
 * Then a NaN channel: it pools to NaN in both. */
START_TEST(conv_maxpool_fused)
{
    const fused_p cases[] = {
        {4, 1, 12, 12, 6, 3, 1, 1, true, 2, 2}, {3, 5, 9, 11, 4, 3, 1, 1, true, 3, 2},
        {2, 3, 13, 13, 5, 4, 2, 0, false, 2, 2}, {2, 2, 10, 7, 3, 3, 1, 0, true, 2, 1},
        {59, 1, 28, 28, 8, 3, 1, 1, true, 2, 2}, {7, 1, 28, 28, 8, 3, 1, 1, true, 2, 2},
        {9, 3, 32, 32, 16, 3, 1, 1, true, 2, 2},
    };
    const char *names[6] = {"y", "gx", "gw", "-", "d2w", "gb"};
    for (int f = 0; f < 2; f++) {
        TU_OK(sc_context_set_form(tu_ctx(), "conv_layout", layout_forms[f]));
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
            const fused_p *q = &cases[c];
            int oh = (q->h + 2 * q->p - q->k) / q->s + 1, ow = (q->w + 2 * q->p - q->k) / q->s + 1;
            size_t nx = (size_t)q->n * q->c * q->h * q->w, nw = (size_t)q->o * q->c * q->k * q->k,
                   ny = (size_t)q->n * q->o * ((oh - q->pk) / q->ps + 1) * ((ow - q->pk) / q->ps + 1);
            float *xf = malloc(nx * 4), *wf = malloc(nw * 4), *bf = malloc((size_t)q->o * 4),
                  *uf = malloc(ny * 4);
            sc_rng rng;
            sc_rng_seed(&rng, 70 + c);
            tu_normal(&rng, xf, nx);
            tu_normal(&rng, wf, nw);
            tu_normal(&rng, bf, (size_t)q->o);
            tu_normal(&rng, uf, ny);
            /* the filter gradient from the pooled gy: rows form, small filter */
            bool pooled = f == 0 && q->c * q->k * q->k <= 32;
            for (int second = 1; second >= 0; second--) {
                float *want[6], *got[6];
                size_t cw[6], cg[6];
                uint64_t gw_, gg_;
                fused_run(q, false, second, xf, wf, bf, uf, want, cw, &gw_);
                fused_run(q, true, second, xf, wf, bf, uf, got, cg, &gg_);
                if (!second)
                    ck_assert_msg(gg_ + (pooled ? 1 : 0) == gw_,
                                  "case %zu %s: %llu GEMMs in the fused backward, %llu composed",
                                  c, layout_forms[f], (unsigned long long)gg_,
                                  (unsigned long long)gw_);
                for (int i = 0; i < 6; i++) {
                    ck_assert_uint_eq(cg[i], cw[i]);
                    ck_assert(!got[i] == !want[i]);
                    if (!want[i])
                        continue;
                    double mx = 0, e = 0;
                    for (size_t k = 0; k < cw[i]; k++) {
                        mx = fmax(mx, fabs(want[i][k]));
                        e = fmax(e, fabs((double)got[i][k] - want[i][k]));
                    }
                    ck_assert_msg(mx > 0, "case %zu %s: %s is all zeros", c, layout_forms[f],
                                  names[i]);
                    if (i == 5 && !second)
                        ck_assert_msg(e <= 1e-6 * mx, "case %zu %s: gb off by %g of %g", c,
                                      layout_forms[f], e, mx);
                    else if (i == 2 && !second && pooled)
                        ck_assert_msg(e <= 2e-6 * mx, "case %zu: gw off by %g of %g", c, e, mx);
                    else
                        ck_assert_msg(memcmp(got[i], want[i], cw[i] * 4) == 0,
                                      "case %zu %s%s: %s differs from the composed ops", c,
                                      layout_forms[f], second ? "" : " (not recorded)",
                                      names[i]);
                    free(got[i]);
                    free(want[i]);
                }
            }
            free(xf); free(wf); free(bf); free(uf);
        }
    }
    /* a NaN bias: its channel pools to NaN, the others as composed */
    sc_graph *g;
    TU_OK(sc_graph_create(tu_ctx(), &g));
    TU_OK(sc_context_set_form(tu_ctx(), "conv_layout", "rows"));
    int64_t xs[4] = {1, 1, 4, 4}, ws[4] = {2, 1, 1, 1}, bs[1] = {2};
    float xv[16], wv[2] = {1.0f, -2.0f}, bv[2] = {NAN, 0.5f}, yv[8];
    for (int i = 0; i < 16; i++)
        xv[i] = (float)((i * 7) % 5) - 2.0f;
    sc_var *y = sc_nn_conv2d_maxpool(g, sc_var_from_host(g, 4, xs, xv, false),
                                     sc_var_from_host(g, 4, ws, wv, false),
                                     sc_var_from_host(g, 1, bs, bv, false), 1, 0, 2, 2);
    TU_OK(sc_graph_status(g));
    TU_OK(sc_tensor_download(sc_var_tensor(y), yv));
    for (int i = 0; i < 4; i++) {
        ck_assert_msg(isnan(yv[i]), "channel 0, window %d: %g, want NaN", i, (double)yv[i]);
        int h0 = (i / 2) * 2, w0 = (i % 2) * 2;
        float m = -INFINITY;
        for (int kh = 0; kh < 2; kh++)
            for (int kw = 0; kw < 2; kw++)
                m = fmaxf(m, -2.0f * xv[(h0 + kh) * 4 + w0 + kw] + 0.5f);
        ck_assert_msg(yv[4 + i] == m, "channel 1, window %d: %g, want %g", i,
                      (double)yv[4 + i], (double)m);
    }
    TU_OK(sc_context_set_form(tu_ctx(), "conv_layout", NULL));
    sc_graph_free(g);
}
END_TEST

/* ---- realistic sizes --------------------------------------------------------------------- */

static double *to_double(const float *f, size_t n)
{
    double *d = malloc(n * sizeof *d);
    for (size_t i = 0; i < n; i++)
        d[i] = f[i];
    return d;
}

/* Forward and first-order gradients of one conv layer at a training size
 * against the double reference (relative to the largest reference value). */
static void check_layer(conv_p p, uint64_t seed)
{
    conv_p_finish(&p);
    sc_rng rng;
    sc_rng_seed(&rng, seed);
    size_t nx = (size_t)p.n * p.c * p.h * p.w, nw = (size_t)p.o * p.c * p.kh * p.kw,
           ny = conv_out_n(&p);
    float *xf = malloc(nx * 4), *wf = malloc(nw * 4), *bf = malloc((size_t)p.o * 4),
          *uf = malloc(ny * 4);
    tu_normal(&rng, xf, nx);
    tu_normal(&rng, wf, nw);
    tu_normal(&rng, bf, (size_t)p.o);
    tu_normal(&rng, uf, ny);
    double *xd = to_double(xf, nx), *wd = to_double(wf, nw), *bd = to_double(bf, (size_t)p.o),
           *ud = to_double(uf, ny);
    double *yd = malloc(ny * sizeof *yd), *gxd = calloc(nx, sizeof *gxd),
           *gwd = calloc(nw, sizeof *gwd), *gbd = calloc((size_t)p.o, sizeof *gbd);
    conv_ref_fwd(&p, xd, wd, bd, yd);
    conv_ref_vjp(&p, xd, wd, ud, gxd, gwd, gbd);

    sc_graph *g;
    TU_OK(sc_graph_create(tu_ctx(), &g));
    int64_t xs[4] = {p.n, p.c, p.h, p.w}, ws[4] = {p.o, p.c, p.kh, p.kw}, bs[1] = {p.o},
            ys[4] = {p.n, p.o, p.oh, p.ow};
    sc_var *in[3] = {sc_var_from_host(g, 4, xs, xf, true), sc_var_from_host(g, 4, ws, wf, true),
                     sc_var_from_host(g, 1, bs, bf, true)};
    sc_var *y = sc_nn_conv2d(g, in[0], in[1], in[2], p.s, p.p);
    TU_OK(sc_graph_status(g));
    ck_assert_int_eq(sc_var_dim(y, 2), p.oh);
    sc_var *seed_v = sc_var_from_host(g, 4, ys, uf, false), *gr[3];
    TU_OK(sc_grad(g, 1, &y, &seed_v, 3, in, false, gr));

    const double *want[4] = {yd, gxd, gwd, gbd};
    sc_var *got_v[4] = {y, gr[0], gr[1], gr[2]};
    size_t cnt[4] = {ny, nx, nw, (size_t)p.o};
    const char *what[4] = {"y", "gx", "gw", "gb"};
    printf("  conv n%d %dx%dx%d -> %d k%d p%d s%d:", p.n, p.c, p.h, p.w, p.o, p.kh, p.p, p.s);
    for (int t = 0; t < 4; t++) {
        float *got = tu_download(sc_var_tensor(got_v[t]));
        double m = 0, e = 0;
        for (size_t i = 0; i < cnt[t]; i++) {
            m = fmax(m, fabs(want[t][i]));
            e = fmax(e, fabs((double)got[i] - want[t][i]));
        }
        printf(" %s %.2e", what[t], e / m);
        ck_assert_msg(e <= 1e-5 * m, "%s: max error %.3g, max |ref| %.3g", what[t], e, m);
        free(got);
    }
    printf("\n");
    sc_graph_free(g);
    free(xf); free(wf); free(bf); free(uf);
    free(xd); free(wd); free(bd); free(ud);
    free(yd); free(gxd); free(gwd); free(gbd);
}

START_TEST(realistic_sizes)
{
    /* the CNN's first layer at N = 16, then its second layer, then the ViT
     * patch embedding; both forms of the layout kernels */
    for (int f = 0; f < 2; f++) {
        TU_OK(sc_context_set_form(tu_ctx(), "conv_layout", layout_forms[f]));
        check_layer((conv_p){16, 1, 28, 28, 32, 3, 3, 1, 1, true, 0, 0}, 11);
        check_layer((conv_p){8, 32, 14, 14, 64, 3, 3, 1, 1, true, 0, 0}, 12);
        check_layer((conv_p){16, 3, 28, 28, 64, 4, 4, 4, 0, true, 0, 0}, 13);
    }
    TU_OK(sc_context_set_form(tu_ctx(), "conv_layout", NULL));
}
END_TEST

/* ---- determinism ----------------------------------------------------------------------------- */

/* A small CNN block with the ULE-style second order: returns the host copies
 * of the output, the input gradient and the weight's second-order gradient. */
static void block_run(const float *xf, const float *wf, const float *bf, float **out)
{
    sc_graph *g;
    TU_OK(sc_graph_create(tu_ctx(), &g));
    int64_t xs[4] = {5, 3, 13, 13}, ws[4] = {8, 3, 3, 3}, bs[1] = {8};
    sc_var *x = sc_var_from_host(g, 4, xs, xf, true);
    sc_var *w = sc_var_from_host(g, 4, ws, wf, true);
    sc_var *b = sc_var_from_host(g, 1, bs, bf, true);
    sc_var *h = sc_nn_relu(g, sc_nn_conv2d(g, x, w, b, 1, 1));
    sc_var *y = sc_nn_maxpool2d(g, h, 2, 2);
    sc_var *z = sc_nn_avgpool2d(g, sc_nn_mul(g, y, y), 3, 1);
    sc_var *s = sc_nn_sum(g, sc_nn_global_avgpool(g, z));
    sc_var *gx;
    TU_OK(sc_grad(g, 1, &s, NULL, 1, &x, true, &gx));
    sc_var *pen = sc_nn_sum(g, sc_nn_mul(g, gx, gx));
    sc_var *in[2] = {w, b}, *g2[2];
    TU_OK(sc_grad(g, 1, &pen, NULL, 2, in, false, g2));
    ck_assert_ptr_nonnull(g2[0]);
    ck_assert_ptr_nonnull(g2[1]);
    out[0] = tu_download(sc_var_tensor(z));
    out[1] = tu_download(sc_var_tensor(gx));
    out[2] = tu_download(sc_var_tensor(g2[0]));
    out[3] = tu_download(sc_var_tensor(g2[1]));
    sc_graph_free(g);
}

START_TEST(determinism)
{
    sc_rng rng;
    sc_rng_seed(&rng, 99);
    float xf[5 * 3 * 13 * 13], wf[8 * 27], bf[8];
    tu_normal(&rng, xf, sizeof xf / 4);
    tu_normal(&rng, wf, sizeof wf / 4);
    tu_normal(&rng, bf, 8);
    float *a[4], *b[4];
    size_t n[4] = {5 * 8 * 4 * 4, sizeof xf / 4, sizeof wf / 4, 8};
    block_run(xf, wf, bf, a);
    block_run(xf, wf, bf, b);
    for (int t = 0; t < 4; t++) {
        double m = 0;
        for (size_t i = 0; i < n[t]; i++)
            m = fmax(m, fabs(a[t][i]));
        ck_assert_msg(m > 0, "result %d is all zeros", t);
        ck_assert_msg(memcmp(a[t], b[t], n[t] * 4) == 0, "result %d differs between runs", t);
        free(a[t]);
        free(b[t]);
    }
}
END_TEST

/* ---- memory over steps and errors -------------------------------------------------------- */

static sc_var *conv_pool_energy(sc_graph *g, sc_var *x, sc_var *w)
{
    sc_var *h = sc_nn_maxpool2d(g, sc_nn_conv2d(g, x, w, NULL, 1, 1), 2, 2);
    return sc_nn_sum(g, sc_nn_mul(g, h, h));
}

START_TEST(no_growth_over_steps)
{
    sc_context *ctx = tu_ctx();
    sc_var *w;
    int64_t ws[4] = {6, 2, 3, 3};
    TU_OK(sc_param_create(ctx, "conv.weight", 4, ws, &w));
    TU_OK(sc_tensor_fill(sc_var_tensor(w), 0.05));
    sc_graph *g;
    TU_OK(sc_graph_create(ctx, &g));
    float xv[3 * 2 * 9 * 9];
    for (size_t i = 0; i < sizeof xv / 4; i++)
        xv[i] = (float)((i * 37) % 11) - 5.0f;
    int64_t xs[4] = {3, 2, 9, 9};
    gc_assert_no_growth(g, w, 4, xs, xv, conv_pool_energy, 10);
    sc_graph_free(g);
    sc_param_free(w);
}
END_TEST

START_TEST(shape_errors)
{
    sc_graph *g;
    TU_OK(sc_graph_create(tu_ctx(), &g));
    int64_t xs[4] = {2, 3, 7, 7}, ws[4] = {4, 2, 3, 3}, bs[1] = {5};
    /* host data for every tensor below: the largest is ws2's 4x3x9x9 */
    float z[4 * 3 * 9 * 9] = {0};
    sc_var *x = sc_var_from_host(g, 4, xs, z, true);
    sc_var *w = sc_var_from_host(g, 4, ws, z, true);
    ck_assert_ptr_null(sc_nn_conv2d(g, x, w, NULL, 1, 1));
    ck_assert_int_eq(sc_graph_status(g), SC_ERR_INVALID_ARG);
    ck_assert_msg(strstr(sc_last_error(), "[2, 3, 7, 7]") &&
                      strstr(sc_last_error(), "[4, 2, 3, 3]"),
                  "%s", sc_last_error());
    sc_graph_reset(g);

    int64_t ws2[4] = {4, 3, 9, 9};
    x = sc_var_from_host(g, 4, xs, z, true);
    w = sc_var_from_host(g, 4, ws2, z, true);
    ck_assert_ptr_null(sc_nn_conv2d(g, x, w, NULL, 1, 0));
    ck_assert_msg(strstr(sc_last_error(), "9x9") && strstr(sc_last_error(), "7x7"), "%s",
                  sc_last_error());
    sc_graph_reset(g);

    int64_t ws3[4] = {4, 3, 3, 3};
    x = sc_var_from_host(g, 4, xs, z, true);
    w = sc_var_from_host(g, 4, ws3, z, true);
    sc_var *b = sc_var_from_host(g, 1, bs, z, true);
    ck_assert_ptr_null(sc_nn_conv2d(g, x, w, b, 1, 1));
    ck_assert_msg(strstr(sc_last_error(), "[5]"), "%s", sc_last_error());
    sc_graph_reset(g);

    x = sc_var_from_host(g, 4, xs, z, true);
    w = sc_var_from_host(g, 4, ws3, z, true);
    ck_assert_ptr_null(sc_nn_conv2d(g, x, w, NULL, 0, 1));
    ck_assert_msg(strstr(sc_last_error(), "stride 0"), "%s", sc_last_error());
    sc_graph_reset(g);

    x = sc_var_from_host(g, 4, xs, z, true);
    ck_assert_ptr_null(sc_nn_maxpool2d(g, x, 8, 2));
    ck_assert_msg(strstr(sc_last_error(), "[2, 3, 7, 7]") && strstr(sc_last_error(), "window 8"),
                  "%s", sc_last_error());
    sc_graph_reset(g);

    /* the fused op names itself, the window and the convolution's output,
     * in either layout form (rows fuses, elements composes), and a bad
     * convolution as conv2d does */
    for (int f = 0; f < 2; f++) {
        TU_OK(sc_context_set_form(tu_ctx(), "conv_layout", layout_forms[f]));
        x = sc_var_from_host(g, 4, xs, z, true);
        w = sc_var_from_host(g, 4, ws3, z, true);
        ck_assert_ptr_null(sc_nn_conv2d_maxpool(g, x, w, NULL, 1, 1, 8, 2));
        ck_assert_int_eq(sc_graph_status(g), SC_ERR_INVALID_ARG);
        ck_assert_msg(strstr(sc_last_error(), "[2, 4, 7, 7]") &&
                          strstr(sc_last_error(), "window 8"),
                      "%s", sc_last_error());
        sc_graph_reset(g);
        x = sc_var_from_host(g, 4, xs, z, true);
        w = sc_var_from_host(g, 4, ws, z, true);
        ck_assert_ptr_null(sc_nn_conv2d_maxpool(g, x, w, NULL, 1, 1, 2, 2));
        ck_assert_msg(strstr(sc_last_error(), "conv2d") &&
                          strstr(sc_last_error(), "[4, 2, 3, 3]"),
                      "%s", sc_last_error());
        sc_graph_reset(g);
    }
    TU_OK(sc_context_set_form(tu_ctx(), "conv_layout", NULL));

    int64_t s3[3] = {2, 3, 49};
    x = sc_var_from_host(g, 3, s3, z, true);
    ck_assert_ptr_null(sc_nn_avgpool2d(g, x, 2, 2));
    ck_assert_msg(strstr(sc_last_error(), "[2, 3, 49]"), "%s", sc_last_error());
    sc_graph_reset(g);
    x = sc_var_from_host(g, 3, s3, z, true);
    ck_assert_ptr_null(sc_nn_global_avgpool(g, x));
    ck_assert_int_eq(sc_graph_status(g), SC_ERR_INVALID_ARG);
    sc_graph_free(g);
}
END_TEST

int main(void)
{
    const tu_case cases[] = {
        {"ops", 0, {conv2d_cases, pool_cases, maxpool_ties, conv_maxpool_fused}},
        {"layers", 0, {realistic_sizes, determinism, no_growth_over_steps, shape_errors}},
    };
    return tu_run(TU_SUITE("nn_conv", cases));
}
