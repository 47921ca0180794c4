/* Self-supervised training: the LA sampler's weights against hand
 * computations, its schedule and reproducibility, the augmentation kernel's
 * properties, and short runs on a tiny synthetic spurious set (conflicting
 * samples measured slower; exact resume; BarlowTwins with LA; the probe). */
#define _GNU_SOURCE
#include "suite.h"
#include "testutil.h"

#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spurcl/io.h"
#include "spurcl/ssl.h"

/* ---- helpers ---------------------------------------------------------------- */


static sc_la_config la_cfg(double r, double gamma)
{
    sc_la_config c;
    sc_la_config_default(&c);
    c.quantile = r;
    c.gamma = gamma;
    return c;
}

/* ---- the sampler's formulas ----------------------------------------------------- */

START_TEST(quantile_is_numpy_linear)
{
    const double x[5] = {5, 1, 4, 2, 3};
    /* numpy.quantile([5,1,4,2,3], r) with the default method="linear" */
    ck_assert_double_eq_tol(sc_la_quantile(x, 5, 0.0), 1.0, 1e-15);
    ck_assert_double_eq_tol(sc_la_quantile(x, 5, 0.1), 1.4, 1e-15);
    ck_assert_double_eq_tol(sc_la_quantile(x, 5, 0.5), 3.0, 1e-15);
    ck_assert_double_eq_tol(sc_la_quantile(x, 5, 0.9), 4.6, 1e-15);
    ck_assert_double_eq_tol(sc_la_quantile(x, 5, 1.0), 5.0, 1e-15);
    const double y[4] = {10, 0, 30, 20};
    ck_assert_double_eq_tol(sc_la_quantile(y, 4, 0.25), 7.5, 1e-13); /* pos 0.75 */
    ck_assert_double_eq(sc_la_quantile(y, 1, 0.3), 10.0);
    /* the input is left unsorted */
    ck_assert_double_eq(x[0], 5);
}
END_TEST

START_TEST(weights_match_hand_computation)
{
    double v[10], p[11];
    uint8_t seen[11];
    for (int i = 0; i < 10; i++) {
        v[i] = i + 1;
        seen[i] = 1;
    }
    /* r = 0.25: pos = 0.25 * 9 = 2.25, s* = 3 + 0.25 (4 - 3) = 3.25.
     * gamma = 2: h = 3.25 - 2 (v - 3.25) = 9.75 - 2 v
     *   -> 7.75, 5.75, 3.75, 1.75, then clipped to 0 (v = 5 gives -0.25). */
    double s;
    TU_OK(sc_la_weights(v, seen, 10, 0.25, 2.0, p, &s));
    ck_assert_double_eq_tol(s, 3.25, 1e-15);
    const double h[10] = {7.75, 5.75, 3.75, 1.75, 0, 0, 0, 0, 0, 0};
    for (int i = 0; i < 10; i++)
        ck_assert_msg(fabs(p[i] - h[i] / 19.0) < 1e-15, "p[%d] = %.17g, want %.17g", i, p[i],
                      h[i] / 19.0);
    ck_assert_double_eq(p[4], 0.0); /* clipped at zero, exactly */
    /* the defaults r 0.1, gamma 10: s* = 1 + 0.9 (2 - 1) = 1.9,
     * h = 1.9 - 10 (v - 1.9) = 20.9 - 10 v -> 10.9, 0.9, then 0; sum 11.8 */
    TU_OK(sc_la_weights(v, seen, 10, 0.1, 10.0, p, &s));
    ck_assert_double_eq_tol(s, 1.9, 1e-15);
    ck_assert_double_eq_tol(p[0], 10.9 / 11.8, 1e-15);
    ck_assert_double_eq_tol(p[1], 0.9 / 11.8, 1e-15);
    for (int i = 2; i < 10; i++)
        ck_assert_double_eq(p[i], 0.0);
    /* an eleventh sample never seen takes the mean h of the seen ones:
     * r 0.25, gamma 2: mean h = 19 / 10 = 1.9, total 20.9 */
    seen[10] = 0;
    double v11[11];
    memcpy(v11, v, sizeof v);
    v11[10] = 123.0; /* ignored: not seen */
    TU_OK(sc_la_weights(v11, seen, 11, 0.25, 2.0, p, &s));
    ck_assert_double_eq_tol(s, 3.25, 1e-15);
    ck_assert_double_eq_tol(p[10], 1.9 / 20.9, 1e-15);
    ck_assert_double_eq_tol(p[0], 7.75 / 20.9, 1e-15);
    double sum = 0;
    for (int i = 0; i < 11; i++)
        sum += p[i];
    ck_assert_double_eq_tol(sum, 1.0, 1e-14);
    /* gamma 0: h = s* for every sample -> uniform */
    TU_OK(sc_la_weights(v, seen, 10, 0.1, 0.0, p, NULL));
    for (int i = 0; i < 10; i++)
        ck_assert_double_eq_tol(p[i], 0.1, 1e-15);
    /* nothing seen -> uniform, s* NaN */
    memset(seen, 0, sizeof seen);
    TU_OK(sc_la_weights(v, seen, 4, 0.1, 10.0, p, &s));
    ck_assert(isnan(s));
    for (int i = 0; i < 4; i++)
        ck_assert_double_eq(p[i], 0.25);
}
END_TEST

START_TEST(speeds_are_an_ema_of_the_infonce_numerator)
{
    int64_t idx[3] = {7, 2, 9}; /* dataset indices; slots 0, 1, 2 */
    sc_la_config c = la_cfg(0.1, 10);
    c.eta = 0.25;
    c.tau = 0.5;
    sc_la_sampler *s;
    TU_OK(sc_la_sampler_create(&c, idx, 3, 1, &s));
    int64_t ids[2] = {9, 7};
    float cos1[2] = {0.5f, -0.25f}, cos2[2] = {1.0f, 0.0f};
    TU_OK(sc_la_sampler_observe(s, ids, cos1, 2));
    const double *v = sc_la_sampler_speeds(s);
    /* the first observation sets v = exp(cos / tau) */
    ck_assert_double_eq_tol(v[2], exp(1.0), 1e-12);
    ck_assert_double_eq_tol(v[0], exp(-0.5), 1e-12);
    ck_assert_int_eq(sc_la_sampler_seen(s)[1], 0);
    TU_OK(sc_la_sampler_observe(s, ids, cos2, 2));
    ck_assert_double_eq_tol(v[2], 0.75 * exp(1.0) + 0.25 * exp(2.0), 1e-12);
    ck_assert_double_eq_tol(v[0], 0.75 * exp(-0.5) + 0.25 * 1.0, 1e-12);
    ck_assert_int_eq(sc_la_sampler_seen(s)[2], 2);
    /* the never-seen slot keeps the mean weight (r 0.1 of {v0, v2}) */
    TU_OK(sc_la_sampler_recompute(s));
    double lo = v[0] < v[2] ? v[0] : v[2], hi = v[0] < v[2] ? v[2] : v[0];
    double q = lo + 0.1 * (hi - lo);
    double h0 = fmax(0, q - 10 * (v[0] - q)), h2 = fmax(0, q - 10 * (v[2] - q));
    double hm = (h0 + h2) / 2, tot = h0 + h2 + hm;
    const double *p = sc_la_sampler_weights(s);
    ck_assert_double_eq_tol(p[0], h0 / tot, 1e-14);
    ck_assert_double_eq_tol(p[1], hm / tot, 1e-14);
    ck_assert_double_eq_tol(p[2], h2 / tot, 1e-14);
    ck_assert_double_eq_tol(sc_la_sampler_s_star(s), q, 1e-14);
    /* an index outside the set is refused */
    int64_t bad = 3;
    ck_assert_int_eq(sc_la_sampler_observe(s, &bad, cos1, 1), SC_ERR_INVALID_ARG);
    sc_la_sampler_free(s);
}
END_TEST

/* A sampler over n samples whose speeds are 1 + (i % 7) * 0.1. */
static sc_la_sampler *sampler_with_speeds(int64_t n, uint64_t seed, double r, double gamma)
{
    int64_t *idx = malloc((size_t)n * sizeof *idx);
    float *cos = malloc((size_t)n * sizeof *cos);
    for (int64_t i = 0; i < n; i++) {
        idx[i] = 3 * i + 1;
        cos[i] = (float)(0.5 * log(1.0 + (double)(i % 7) * 0.1)); /* tau 0.5 -> v = 1 + ... */
    }
    sc_la_config c = la_cfg(r, gamma);
    c.warmup = 2;
    c.every = 2;
    sc_la_sampler *s;
    TU_OK(sc_la_sampler_create(&c, idx, n, seed, &s));
    TU_OK(sc_la_sampler_observe(s, idx, cos, n));
    free(idx);
    free(cos);
    return s;
}

START_TEST(draws_are_reproducible_and_follow_p)
{
    const int64_t n = 700;
    sc_la_sampler *a = sampler_with_speeds(n, 42, 0.5, 1.0);
    sc_la_sampler *b = sampler_with_speeds(n, 42, 0.5, 1.0);
    sc_la_sampler *c = sampler_with_speeds(n, 43, 0.5, 1.0);
    TU_OK(sc_la_sampler_recompute(a));
    TU_OK(sc_la_sampler_recompute(b));
    TU_OK(sc_la_sampler_recompute(c));
    ck_assert(memcmp(sc_la_sampler_weights(a), sc_la_sampler_weights(b), n * sizeof(double)) == 0);
    int64_t *oa = malloc(n * sizeof *oa), *ob = malloc(n * sizeof *ob), *oc = malloc(n * sizeof *oc);
    TU_OK(sc_la_sampler_draw(a, 5, oa));
    TU_OK(sc_la_sampler_draw(b, 5, ob));
    TU_OK(sc_la_sampler_draw(c, 5, oc));
    ck_assert_msg(memcmp(oa, ob, n * sizeof *oa) == 0, "same seed, different draws");
    ck_assert_msg(memcmp(oa, oc, n * sizeof *oa) != 0, "different seeds, same draws");
    TU_OK(sc_la_sampler_draw(b, 6, ob));
    ck_assert_msg(memcmp(oa, ob, n * sizeof *oa) != 0, "different epochs, same draws");
    /* r 0.5, gamma 1: v = 1.0 .. 1.6 in 7 classes of 100; s* = 1.3,
     * h = 2.6 - v -> 1.6, 1.5, 1.4, 1.3, 1.2, 1.1, 1.0 per class (sum 9.1) */
    const double *p = sc_la_sampler_weights(a);
    for (int k = 0; k < 7; k++)
        ck_assert_double_eq_tol(p[k] * 100, (1.6 - 0.1 * k) / 9.1, 1e-6); /* v via float cos */
    /* empirical class frequencies over 40 epochs of draws: within 4 sigma */
    double cnt[7] = {0};
    const int epochs = 40;
    for (int e = 0; e < epochs; e++) {
        TU_OK(sc_la_sampler_draw(a, (uint64_t)e, oa));
        for (int64_t i = 0; i < n; i++) {
            ck_assert_int_eq((oa[i] - 1) % 3, 0);
            cnt[((oa[i] - 1) / 3) % 7] += 1;
        }
    }
    double total = (double)n * epochs;
    for (int k = 0; k < 7; k++) {
        double want = (1.6 - 0.1 * k) / 9.1, got = cnt[k] / total;
        double sd = sqrt(want * (1 - want) / total);
        ck_assert_msg(fabs(got - want) < 4 * sd, "class %d drawn %.4f, want %.4f (sd %.4f)", k, got,
                      want, sd);
    }
    /* zero weights are never drawn: r 0.1 -> s* = 1.0 (class 0), gamma 20:
     * h = 21 - 20 v is 1 for class 0 and clipped to 0 from v = 1.1 on */
    sc_la_sampler *z = sampler_with_speeds(n, 1, 0.1, 20.0);
    TU_OK(sc_la_sampler_recompute(z));
    TU_OK(sc_la_sampler_draw(z, 0, oa));
    for (int64_t i = 0; i < n; i++)
        ck_assert_msg(((oa[i] - 1) / 3) % 7 == 0, "drew index %lld with zero weight",
                      (long long)oa[i]);
    sc_la_sampler_free(z);
    free(oa);
    free(ob);
    free(oc);
    sc_la_sampler_free(a);
    sc_la_sampler_free(b);
    sc_la_sampler_free(c);
}
END_TEST

START_TEST(schedule_warmup_then_every)
{
    const int64_t n = 50;
    sc_la_sampler *s = sampler_with_speeds(n, 3, 0.5, 1.0); /* warmup 2, every 2 */
    int64_t *order = malloc(n * sizeof *order);
    double *w = malloc(n * sizeof *w);
    bool use;
    for (int e = 0; e < 2; e++) {
        TU_OK(sc_la_sampler_begin_epoch(s, e, order, &use));
        ck_assert(!use);
        ck_assert(!sc_la_sampler_active(s));
    }
    TU_OK(sc_la_sampler_begin_epoch(s, 2, order, &use));
    ck_assert(use && sc_la_sampler_active(s));
    memcpy(w, sc_la_sampler_weights(s), n * sizeof *w);
    /* change the speeds: epoch 3 must keep the weights, epoch 4 recompute */
    int64_t id0 = 1;
    float big = 1.0f;
    TU_OK(sc_la_sampler_observe(s, &id0, &big, 1));
    TU_OK(sc_la_sampler_begin_epoch(s, 3, order, &use));
    ck_assert(use);
    ck_assert(memcmp(w, sc_la_sampler_weights(s), n * sizeof *w) == 0);
    TU_OK(sc_la_sampler_begin_epoch(s, 4, order, &use));
    ck_assert(memcmp(w, sc_la_sampler_weights(s), n * sizeof *w) != 0);
    free(order);
    free(w);
    sc_la_sampler_free(s);
}
END_TEST

/* ---- augmentation ----------------------------------------------------------------- */

static sc_augment_config aug_none(void)
{
    sc_augment_config c;
    sc_augment_config_default(&c);
    c.scale_min = c.scale_max = 1.0f;
    c.ratio_min = c.ratio_max = 1.0f;
    c.flip_prob = 0;
    c.jitter_prob = 0;
    c.noise_std = 0;
    return c;
}

static float *run_batch(const sc_augment_config *c, const float *img, int64_t n, int ch, int h,
                        int w, uint64_t seed, uint64_t epoch, sc_augment_params *params)
{
    uint64_t *ids = malloc(n * sizeof *ids);
    for (int64_t i = 0; i < n; i++)
        ids[i] = (uint64_t)i;
    sc_tensor *t;
    TU_OK(sc_augment_batch(tu_ctx(), c, img, n, ch, h, w, seed, epoch, ids, params, &t));
    ck_assert_int_eq(sc_tensor_dim(t, 0), 2 * n);
    float *o = tu_download(t);
    sc_tensor_free(t);
    free(ids);
    return o;
}

START_TEST(identity_and_flip_are_exact)
{
    const int n = 5, C = 3, H = 9, W = 13;
    size_t per = (size_t)C * H * W;
    float *img = malloc(n * per * sizeof *img);
    sc_rng r;
    sc_rng_seed(&r, 7);
    tu_uniform(&r, img, n * per, 0, 1);
    sc_augment_config c = aug_none();
    /* the whole image is the crop when the ratio range is exactly W / H
     * (torchvision's algorithm centre-crops otherwise) */
    c.ratio_min = c.ratio_max = (float)W / (float)H;
    sc_augment_params p[2 * n];
    float *o = run_batch(&c, img, n, C, H, W, 1, 0, p);
    ck_assert(p[0].ch == H && p[0].cw == W && p[n].y0 == 0 && p[n].x0 == 0);
    for (int v = 0; v < 2; v++)
        ck_assert_msg(memcmp(o + v * n * per, img, n * per * sizeof *o) == 0,
                      "view %d of the identity augmentation differs from the input", v);
    free(o);
    c.flip_prob = 1.0f;
    o = run_batch(&c, img, n, C, H, W, 1, 0, NULL);
    for (int v = 0; v < 2; v++)
        for (int i = 0; i < n; i++)
            for (int k = 0; k < C; k++)
                for (int y = 0; y < H; y++)
                    for (int x = 0; x < W; x++)
                        ck_assert_float_eq(o[((size_t)(v * n + i) * C + k) * H * W + y * W + x],
                                           img[((size_t)i * C + k) * H * W + y * W + (W - 1 - x)]);
    free(o);
    free(img);
}
END_TEST

START_TEST(crop_reads_only_inside_its_box)
{
    const int n = 64, H = 16, W = 12;
    sc_augment_config c = aug_none();
    c.scale_min = 0.05f;
    c.scale_max = 1.0f;
    c.ratio_min = 0.5f;
    c.ratio_max = 2.0f;
    /* draw view-0 boxes, then give view 1 the same box so each source image
     * can be 1 inside its box and 0 outside (and the reverse) */
    sc_augment_params *p = malloc(2 * n * sizeof *p);
    float *img = malloc((size_t)n * H * W * sizeof *img);
    int distinct = 0;
    double area = 0;
    for (int i = 0; i < n; i++) {
        sc_augment_draw(&c, H, W, 11, 3, (uint64_t)i, 0, &p[i]);
        ck_assert(p[i].y0 >= 0 && p[i].x0 >= 0 && p[i].ch >= 1 && p[i].cw >= 1);
        ck_assert(p[i].y0 + p[i].ch <= H && p[i].x0 + p[i].cw <= W);
        area += (double)p[i].ch * p[i].cw / (H * W);
        distinct += i > 0 && (p[i].ch != p[i - 1].ch || p[i].y0 != p[i - 1].y0);
        p[n + i] = p[i];
    }
    ck_assert_msg(distinct > n / 2, "crop boxes barely vary (%d changes)", distinct);
    area /= n;
    ck_assert_msg(area > 0.3 && area < 0.75, "mean crop area fraction %.3f", area);
    for (int inv = 0; inv < 2; inv++) {
        for (int i = 0; i < n; i++)
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++) {
                    bool in = y >= p[i].y0 && y < p[i].y0 + p[i].ch && x >= p[i].x0 &&
                              x < p[i].x0 + p[i].cw;
                    img[((size_t)i * H + y) * W + x] = (in != (inv == 1)) ? 1.0f : 0.0f;
                }
        sc_tensor *t;
        TU_OK(sc_augment_apply(tu_ctx(), img, n, 1, H, W, p, 0.0f, &t));
        float *o = tu_download(t);
        sc_tensor_free(t);
        for (size_t k = 0; k < (size_t)2 * n * H * W; k++)
            ck_assert_msg(o[k] == (inv ? 0.0f : 1.0f), "output %zu = %g: read outside the box", k,
                          (double)o[k]);
        free(o);
    }
    free(img);
    free(p);
}
END_TEST

/* host reference of one output element (no noise), in double */
static double ref_elem(const float *img, const sc_augment_params *p, int C, int H, int W, int c,
                       int oy, int ox)
{
    (void)C;
    if (p->flip)
        ox = W - 1 - ox;
    double y0 = p->y0, x0 = p->x0, ch = p->ch, cw = p->cw;
    double sy = fmin(fmax(y0 + (oy + 0.5) * (ch / H) - 0.5, y0), y0 + ch - 1);
    double sx = fmin(fmax(x0 + (ox + 0.5) * (cw / W) - 0.5, x0), x0 + cw - 1);
    int iy = (int)floor(sy), ix = (int)floor(sx);
    int iy1 = (int)fmin(iy + 1, y0 + ch - 1), ix1 = (int)fmin(ix + 1, x0 + cw - 1);
    double wy = sy - iy, wx = sx - ix;
    const float *im = img + (size_t)c * H * W;
    double a = im[iy * W + ix], b = im[iy * W + ix1], cc = im[iy1 * W + ix], d = im[iy1 * W + ix1];
    double v = (1 - wy) * ((1 - wx) * a + wx * b) + wy * ((1 - wx) * cc + wx * d);
    v = fmin(fmax(v * p->brightness, 0), 1);
    v = fmin(fmax(p->contrast * v + (1 - p->contrast) * (double)p->mean, 0), 1);
    return v;
}

START_TEST(kernel_matches_host_reference)
{
    const int n = 7, C = 2, H = 11, W = 10;
    size_t per = (size_t)C * H * W;
    float *img = malloc(n * per * sizeof *img);
    sc_rng r;
    sc_rng_seed(&r, 9);
    tu_uniform(&r, img, n * per, 0, 1);
    sc_augment_config c;
    sc_augment_config_default(&c);
    c.noise_std = 0;
    c.flip_prob = 0.5f;
    c.scale_min = 0.1f;
    sc_augment_params p[2 * n];
    float *o = run_batch(&c, img, n, C, H, W, 5, 2, p);
    size_t m = 2 * n * per;
    double *want = malloc(m * sizeof *want);
    int flips = 0;
    for (int v = 0; v < 2 * n; v++) {
        flips += p[v].flip;
        for (int k = 0; k < C; k++)
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++)
                    want[(size_t)v * per + (size_t)k * H * W + y * W + x] =
                        ref_elem(img + (v % n) * per, &p[v], C, H, W, k, y, x);
    }
    ck_assert(flips > 0 && flips < 2 * n);
    tu_assert_close("augmentation vs host reference", o, want, m, 0, 2e-6);
    free(want);
    free(o);
    free(img);
}
END_TEST

START_TEST(jitter_factors_stay_in_range)
{
    sc_augment_config c;
    sc_augment_config_default(&c);
    c.brightness = 0.4f;
    c.contrast = 0.25f;
    c.jitter_prob = 0.8f;
    const int N = 4000;
    int untouched = 0;
    double bmin = 9, bmax = 0, cmin = 9, cmax = 0;
    for (int i = 0; i < N; i++) {
        sc_augment_params p;
        sc_augment_draw(&c, 28, 28, 1, 0, (uint64_t)i, i & 1, &p);
        ck_assert(p.brightness >= 0.6f && p.brightness <= 1.4f);
        ck_assert(p.contrast >= 0.75f && p.contrast <= 1.25f);
        untouched += p.brightness == 1.0f && p.contrast == 1.0f;
        bmin = fmin(bmin, p.brightness);
        bmax = fmax(bmax, p.brightness);
        cmin = fmin(cmin, p.contrast);
        cmax = fmax(cmax, p.contrast);
    }
    /* the ranges are covered, and 20 % of the views skip jitter (sd 0.0063) */
    ck_assert(bmin < 0.61 && bmax > 1.39 && cmin < 0.76 && cmax > 1.24);
    ck_assert_msg(fabs((double)untouched / N - 0.2) < 0.025, "untouched share %.3f",
                  (double)untouched / N);
    /* the kernel applies them: a constant 0.5 image with contrast around its
     * own mean stays at clamp(0.5 b) */
    const int n = 16, H = 6, W = 6;
    float img[16 * 36];
    for (int i = 0; i < n * H * W; i++)
        img[i] = 0.5f;
    sc_augment_config c2 = aug_none();
    c2.jitter_prob = 1.0f;
    c2.brightness = 0.4f;
    c2.contrast = 0.4f;
    sc_augment_params p[32];
    float *o = run_batch(&c2, img, n, 1, H, W, 3, 0, p);
    for (int v = 0; v < 2 * n; v++) {
        ck_assert_float_eq_tol(p[v].mean, 0.5f * p[v].brightness, 1e-6f);
        for (int k = 0; k < H * W; k++)
            ck_assert_float_eq_tol(o[v * H * W + k], 0.5f * p[v].brightness, 1e-6f);
    }
    free(o);
}
END_TEST

START_TEST(noise_is_gaussian_and_reproducible)
{
    const int n = 32, C = 1, H = 28, W = 28;
    size_t per = (size_t)C * H * W, m = 2 * n * per;
    float *img = malloc(n * per * sizeof *img);
    for (size_t i = 0; i < n * per; i++)
        img[i] = 0.5f;
    sc_augment_config c = aug_none();
    c.noise_std = 0.05f;
    float *o = run_batch(&c, img, n, C, H, W, 17, 4, NULL);
    double s1 = 0, s2 = 0, within = 0, cross = 0;
    for (size_t k = 0; k < m; k++) {
        double z = (o[k] - 0.5) / 0.05;
        s1 += z;
        s2 += z * z;
        within += fabs(z) < 1.0;
        if (k < m / 2)
            cross += z * ((o[k + m / 2] - 0.5) / 0.05);
    }
    double mean = s1 / m, sd = sqrt(s2 / m - mean * mean);
    printf("  noise: %zu values, mean %.4f sd %.4f (in units of sigma), P(|z|<1) %.4f, "
           "view correlation %.4f\n",
           m, mean, sd, within / m, cross / (m / 2));
    ck_assert_msg(fabs(mean) < 4.0 / sqrt((double)m), "noise mean %.4f sigma", mean);
    ck_assert_msg(fabs(sd - 1.0) < 0.02, "noise sd %.4f sigma", sd);
    ck_assert_msg(fabs(within / m - 0.6827) < 0.01, "P(|z| < 1) = %.4f", within / m);
    ck_assert_msg(fabs(cross / (m / 2)) < 0.02, "views correlated: %.4f", cross / (m / 2));
    /* same seed and epoch: the same bits; another epoch: other noise */
    float *o2 = run_batch(&c, img, n, C, H, W, 17, 4, NULL);
    ck_assert(memcmp(o, o2, m * sizeof *o) == 0);
    free(o2);
    o2 = run_batch(&c, img, n, C, H, W, 17, 5, NULL);
    ck_assert(memcmp(o, o2, m * sizeof *o) != 0);
    free(o2);
    /* the full default pipeline is reproducible too */
    sc_augment_config d;
    sc_augment_config_default(&d);
    sc_rng r;
    sc_rng_seed(&r, 2);
    tu_uniform(&r, img, n * per, 0, 1);
    float *a = run_batch(&d, img, n, C, H, W, 99, 1, NULL), *b = run_batch(&d, img, n, C, H, W, 99, 1, NULL);
    ck_assert(memcmp(a, b, m * sizeof *a) == 0);
    for (size_t k = 0; k < m; k++)
        ck_assert(a[k] >= 0.0f && a[k] <= 1.0f);
    free(a);
    free(b);
    free(o);
    free(img);
}
END_TEST

/* ---- short runs on a synthetic spurious set --------------------------------------- */

/* Two classes on 12x12 images: class 0 a horizontal bar, class 1 a vertical
 * bar (position varies); attribute a: a bright 3x3 block in the top-left
 * (a = 0) or bottom-right (a = 1) corner. Train: aligned (a == y) with
 * probability rho; val / test half conflicting. */
static sc_dataset *toy(int64_t ntrain, int64_t nval, int64_t ntest, double rho, uint64_t seed)
{
    int64_t n = ntrain + nval + ntest;
    const int S = 12;
    sc_dataset *d;
    TU_OK(sc_dataset_create(n, 1, S, S, 2, 2, &d));
    sc_rng rng;
    sc_rng_seed(&rng, seed);
    for (int64_t i = 0; i < n; i++) {
        int split = i < ntrain ? SC_SPLIT_TRAIN : i < ntrain + nval ? SC_SPLIT_VAL : SC_SPLIT_TEST;
        int y = (int)(i % 2);
        int a = split == SC_SPLIT_TRAIN ? (sc_rng_uniform(&rng) < rho ? y : 1 - y)
                                        : (int)((i / 2) % 2);
        uint8_t *img = d->images + i * S * S;
        for (int p = 0; p < S * S; p++) {
            double v = 40 + 20 * sc_rng_normal(&rng);
            img[p] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
        int off = (int)sc_rng_below(&rng, 6) + 3;
        for (int k = 2; k < S - 2; k++)
            for (int t = 0; t < 2; t++) {
                int p = y == 0 ? (off + t) * S + k : k * S + off + t;
                img[p] = 170;
            }
        int o = a == 0 ? 0 : S - 3;
        for (int dy = 0; dy < 3; dy++)
            for (int dx = 0; dx < 3; dx++)
                img[(o + dy) * S + o + dx] = 255;
        d->labels[i] = y;
        d->attrs[i] = a;
        d->split[i] = split;
    }
    TU_OK(sc_dataset_update_groups(d));
    return d;
}

static void small_ssl(sc_ssl_config *c)
{
    sc_ssl_config_default(c);
    c->model.kind = SC_MODEL_CNN;
    c->model.cnn_c1 = 4;
    c->model.cnn_c2 = 8;
    c->model.cnn_fc = 32;
    c->proj_hidden = 32;
    c->proj_dim = 16;
    c->batch_size = 64;
    c->seed = 3;
    c->optim.lr = 3e-3f;
}


/* Welch's t of mean speed (aligned - conflicting) over the training
 * samples, from the run's checkpoint (la.speed, la.index). */
static double speed_t(const char *dir, const sc_dataset *d, double *ma, double *mc)
{
    char path[512];
    snprintf(path, sizeof path, "%s/last.safetensors", dir);
    sc_safetensors *ck;
    TU_OK(sc_safetensors_open(path, &ck));
    const sc_st_tensor *tv, *ti;
    TU_OK(sc_safetensors_get(ck, "la.speed", SC_ST_F64, 1, &tv));
    TU_OK(sc_safetensors_get(ck, "la.index", SC_ST_I64, 1, &ti));
    const double *v = tv->data;
    const int64_t *ix = ti->data;
    double s[2] = {0}, q[2] = {0};
    int64_t n[2] = {0};
    for (int64_t k = 0; k < tv->shape[0]; k++) {
        int al = d->attrs[ix[k]] == d->labels[ix[k]];
        s[al] += v[k];
        q[al] += v[k] * v[k];
        n[al]++;
    }
    sc_safetensors_close(ck);
    ck_assert(n[0] > 1 && n[1] > 1);
    double m0 = s[0] / n[0], m1 = s[1] / n[1];
    double v0 = q[0] / n[0] - m0 * m0, v1 = q[1] / n[1] - m1 * m1;
    *ma = m1;
    *mc = m0;
    return (m1 - m0) / sqrt(v0 / n[0] + v1 / n[1]);
}

/* the last line of DIR/metrics.jsonl holds "key": value */
static double last_json_number(const char *dir, const char *key, int *lines)
{
    char path[512];
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    uint8_t *txt;
    size_t size;
    TU_OK(sc_io_read_file(path, 1 << 22, &txt, &size));
    *lines = 0;
    const char *last = (char *)txt;
    for (size_t i = 0; i < size; i++)
        if (txt[i] == '\n') {
            ++*lines;
            if (i + 1 < size)
                last = (char *)txt + i + 1;
        }
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(last, pat);
    ck_assert_msg(p != NULL, "no %s in the last metrics line", key);
    double v = strtod(p + strlen(pat), NULL);
    free(txt);
    return v;
}

START_TEST(conflicting_samples_learn_slower)
{
    /* rho 0.95: conflicting samples slower (uniform SimCLR, 8 epochs);
     * rho 0.5 (no correlation) as the control: no significant gap */
    const double rhos[2] = {0.95, 0.5};
    for (int k = 0; k < 2; k++) {
        sc_dataset *d = toy(1200, 40, 40, rhos[k], 1);
        char *dir = tu_tmpdir("ssl");
        sc_ssl_config c;
        small_ssl(&c);
        c.epochs = 8;
        c.run_dir = dir;
        sc_ssl_result r;
        TU_OK(sc_train_ssl(tu_ctx(), d, &c, &r));
        double ma, mc, t = speed_t(dir, d, &ma, &mc);
        int lines;
        double la_mass = last_json_number(dir, "la_mass_conflicting", &lines);
        double share = last_json_number(dir, "mass_conflicting", &lines);
        printf("  rho %.2f, simclr uniform, 8 epochs: speed aligned %.4f, conflicting %.4f "
               "(Welch t %.2f); conflicting share %.4f, LA weight mass on them %.4f; "
               "%.2f s/epoch\n",
               rhos[k], r.speed_aligned, r.speed_conflicting, t, share, la_mass, r.epoch_s);
        ck_assert_int_eq(lines, 8);
        ck_assert_double_eq_tol(ma, r.speed_aligned, 1e-9);
        ck_assert_double_eq_tol(mc, r.speed_conflicting, 1e-9);
        if (k == 0) {
            ck_assert_msg(r.speed_conflicting < r.speed_aligned && t > 3.0,
                          "conflicting %.4f not slower than aligned %.4f (t %.2f)",
                          r.speed_conflicting, r.speed_aligned, t);
            /* LA's weights put more than their share on the slow samples */
            ck_assert_msg(la_mass > 1.5 * share, "LA mass %.4f vs share %.4f", la_mass, share);
            /* speeds.png by epoch; curves.png, as every trainer's, over
             * steps: the loss and the k-NN monitor */
            tu_assert_plot(dir, "speeds.png", 1260, 680, 10000, 100);
            tu_assert_plot(dir, "curves.png", 840, 340, 5000, 100);
            char path[512];
            /* the encoder loads into a plain model; the probe evaluates it */
            snprintf(path, sizeof path, "%s/last.safetensors", dir);
            sc_model_config mc2;
            TU_OK(sc_checkpoint_model_config(path, &mc2));
            sc_model *m;
            TU_OK(sc_model_create(tu_ctx(), &mc2, &m));
            TU_OK(sc_checkpoint_load(path, m, NULL, NULL));
            size_t na, nb;
            float *pa = tu_params_host(m, &na), *pb = tu_params_host(r.encoder, &nb);
            ck_assert_uint_eq(na, nb);
            ck_assert(memcmp(pa, pb, na * sizeof *pa) == 0);
            free(pa);
            free(pb);
            sc_model_free(m);
            sc_probe_config pc;
            sc_probe_config_default(&pc);
            sc_probe_result pr;
            TU_OK(sc_probe(tu_ctx(), r.encoder, d, &pc, &pr));
            printf("  probe: train %.3f, val acc %.3f wga %.3f, test acc %.3f wga %.3f\n",
                   pr.train_acc, pr.val.accuracy, pr.val.worst_group, pr.test.accuracy,
                   pr.test.worst_group);
            ck_assert_int_eq(pr.feature_dim, 32);
            ck_assert_int_eq(pr.test.n, 40);
            int64_t cor = 0, tot = 0;
            double lo = 1, mean = 0;
            for (int g = 0; g < 4; g++) {
                cor += pr.test.correct[g];
                tot += pr.test.total[g];
                double a = (double)pr.test.correct[g] / (double)pr.test.total[g];
                lo = fmin(lo, a);
                mean += a / 4;
            }
            ck_assert_int_eq(tot, 40);
            ck_assert_double_eq_tol(pr.test.accuracy, (double)cor / 40, 1e-12);
            ck_assert_double_eq_tol(pr.test.worst_group, lo, 1e-12);
            ck_assert_double_eq_tol(pr.test.mean_group, mean, 1e-12);
            ck_assert_msg(pr.train_acc > 0.85, "probe train accuracy %.3f", pr.train_acc);
            sc_probe_result_free(&pr);
        } else {
            ck_assert_msg(fabs(t) < 3.0, "control (rho 0.5): t = %.2f", t);
        }
        sc_ssl_result_free(&r);
        sc_dataset_free(d);
        tu_rmtree(dir);
    }
}
END_TEST

START_TEST(resume_is_bit_identical_with_la)
{
    sc_dataset *d = toy(300, 20, 20, 0.9, 2);
    char *da = tu_tmpdir("ssl"), *db = tu_tmpdir("ssl");
    sc_ssl_config c;
    small_ssl(&c);
    c.batch_size = 48;
    c.sampler = SC_SAMPLER_LA;
    c.la.warmup = 1;
    c.la.every = 2;
    c.epochs = 4;
    c.run_dir = da;
    sc_ssl_result ra, rb;
    TU_OK(sc_train_ssl(tu_ctx(), d, &c, &ra));
    c.run_dir = db;
    c.epochs = 3; /* stopped after epoch 3: weights from epoch 2 must be restored */
    TU_OK(sc_train_ssl(tu_ctx(), d, &c, &rb));
    sc_ssl_result_free(&rb);
    c.epochs = 4;
    c.resume = true;
    TU_OK(sc_train_ssl(tu_ctx(), d, &c, &rb));
    size_t na, nb;
    float *pa = tu_params_host(ra.encoder, &na), *pb = tu_params_host(rb.encoder, &nb);
    ck_assert_uint_eq(na, nb);
    ck_assert_msg(memcmp(pa, pb, na * sizeof *pa) == 0, "resumed encoder differs");
    const char *names[5] = {"la.speed", "la.weight", "la.seen", "projector.2.weight",
                            "optim.projector.0.weight.exp_avg"};
    char path[512];
    sc_safetensors *ka, *kb;
    snprintf(path, sizeof path, "%s/last.safetensors", da);
    TU_OK(sc_safetensors_open(path, &ka));
    snprintf(path, sizeof path, "%s/last.safetensors", db);
    TU_OK(sc_safetensors_open(path, &kb));
    for (int i = 0; i < 5; i++) {
        const sc_st_tensor *a = sc_safetensors_find(ka, names[i]), *b = sc_safetensors_find(kb, names[i]);
        ck_assert_msg(a && b, "%s missing", names[i]);
        uint64_t n, bytes;
        TU_OK(sc_st_tensor_nbytes(a, &n, &bytes));
        ck_assert_msg(memcmp(a->data, b->data, bytes) == 0, "%s differs after resume", names[i]);
    }
    /* the weights are LA's (not uniform) and sum to 1 */
    const sc_st_tensor *w = sc_safetensors_find(ka, "la.weight");
    const double *wp = w->data;
    double sum = 0, mx = 0;
    for (int64_t k = 0; k < w->shape[0]; k++) {
        sum += wp[k];
        mx = fmax(mx, wp[k]);
    }
    ck_assert_double_eq_tol(sum, 1.0, 1e-12);
    ck_assert(mx > 2.0 / (double)w->shape[0]);
    sc_safetensors_close(ka);
    sc_safetensors_close(kb);
    free(pa);
    free(pb);
    sc_ssl_result_free(&ra);
    sc_ssl_result_free(&rb);
    sc_dataset_free(d);
    tu_rmtree(da);
    tu_rmtree(db);
}
END_TEST

START_TEST(barlow_twins_with_la)
{
    sc_dataset *d = toy(300, 20, 20, 0.9, 3);
    char *dir = tu_tmpdir("ssl");
    sc_ssl_config c;
    small_ssl(&c);
    c.method = SC_SSL_BARLOW;
    c.sampler = SC_SAMPLER_LA;
    c.la.warmup = 1;
    c.la.every = 1;
    c.epochs = 3;
    c.batch_size = 50;
    c.run_dir = dir;
    sc_ssl_result r;
    TU_OK(sc_train_ssl(tu_ctx(), d, &c, &r));
    int lines;
    double weighted_mass = last_json_number(dir, "mass_conflicting", &lines);
    double drawn = last_json_number(dir, "drawn_conflicting", &lines);
    printf("  barlow + LA, 3 epochs: loss %.4f, speeds %.4f / %.4f, sampling mass on "
           "conflicting %.4f, drawn %.4f\n",
           r.last_loss, r.speed_aligned, r.speed_conflicting, weighted_mass, drawn);
    ck_assert_int_eq(lines, 3);
    ck_assert(isfinite(r.last_loss) && r.last_loss > 0);
    /* the last epoch was drawn from LA weights: the reported mass is theirs */
    ck_assert_double_eq_tol(weighted_mass, r.mass_conflicting, 1e-9);
    char path[512];
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    uint8_t *txt;
    size_t size;
    TU_OK(sc_io_read_file(path, 1 << 20, &txt, &size));
    ck_assert_ptr_nonnull(strstr((char *)txt, "\"weighted\":false"));
    ck_assert_ptr_nonnull(strstr((char *)txt, "\"weighted\":true"));
    ck_assert_ptr_nonnull(strstr((char *)txt, "\"method\":\"barlow\""));
    free(txt);
    /* the k-NN monitor ran after every epoch (default every 1) */
    double knn = last_json_number(dir, "knn_acc", &lines);
    ck_assert(knn >= 0 && knn <= 1);
    sc_ssl_result_free(&r);
    sc_dataset_free(d);
    tu_rmtree(dir);
}
END_TEST

/* ---- the k-NN monitor --------------------------------------------------------------- */

/* Weighted k-NN in double precision on the features sc_probe_features
 * gives: cosine similarity, the k most similar bank samples (ties to the
 * lower index) vote exp(sim / T) for their class; per group correct and
 * total into ok[] and tot[]. */
static void knn_reference(const sc_dataset *d, const float *fb, const int64_t *ib, int64_t nb,
                          const float *fq, const int64_t *iq, int64_t nq, int F, int k, double T,
                          int64_t *ok, int64_t *tot)
{
    double *sim = malloc((size_t)nb * sizeof *sim);
    char *used = malloc((size_t)nb);
    for (int64_t q = 0; q < nq; q++) {
        const float *a = fq + q * F;
        double na = 0;
        for (int j = 0; j < F; j++)
            na += (double)a[j] * a[j];
        for (int64_t b = 0; b < nb; b++) {
            const float *x = fb + b * F;
            double dot = 0, nx = 0;
            for (int j = 0; j < F; j++) {
                dot += (double)a[j] * x[j];
                nx += (double)x[j] * x[j];
            }
            sim[b] = na > 0 && nx > 0 ? dot / sqrt(na * nx) : 0;
            used[b] = 0;
        }
        double score[2] = {0, 0};
        for (int t = 0; t < k; t++) {
            int64_t best = -1;
            for (int64_t b = 0; b < nb; b++)
                if (!used[b] && (best < 0 || sim[b] > sim[best]))
                    best = b;
            used[best] = 1;
            score[d->labels[ib[best]]] += exp(sim[best] / T);
        }
        int pred = score[1] > score[0];
        int g = d->groups[iq[q]];
        tot[g]++;
        ok[g] += pred == d->labels[iq[q]];
    }
    free(sim);
    free(used);
}

START_TEST(knn_matches_double_reference)
{
    sc_dataset *d = toy(300, 120, 0, 0.9, 5);
    sc_ssl_config c;
    small_ssl(&c);
    c.model.in_channels = 1;
    c.model.height = c.model.width = 12;
    c.model.num_classes = 2;
    sc_model *m;
    TU_OK(sc_model_create(tu_ctx(), &c.model, &m));
    TU_OK(sc_model_init(m, 11));
    int F = sc_model_feature_dim(m);
    float *fb, *fq;
    int64_t *ib, *iq, nb, nq;
    TU_OK(sc_probe_features(tu_ctx(), m, d, SC_SPLIT_TRAIN, 64, &fb, &ib, &nb));
    TU_OK(sc_probe_features(tu_ctx(), m, d, SC_SPLIT_VAL, 64, &fq, &iq, &nq));
    ck_assert_int_eq(nb, 300);
    ck_assert_int_eq(nq, 120);
    sc_knn_config kc;
    sc_knn_config_default(&kc);
    kc.k = 7;
    kc.temperature = 0.1f;
    kc.bank = 250;     /* the first 250 of 300 (limits cut the split in order) */
    kc.queries = 100;  /* the first 100 of 120 */
    sc_group_metrics got;
    TU_OK(sc_knn_evaluate(tu_ctx(), m, d, SC_SPLIT_VAL, &kc, &got));
    int64_t ok[4] = {0}, tot[4] = {0}, want_ok = 0, got_ok = 0;
    knn_reference(d, fb, ib, 250, fq, iq, 100, F, 7, 0.1, ok, tot);
    for (int g = 0; g < 4; g++) {
        ck_assert_int_eq(got.total[g], tot[g]);
        want_ok += ok[g];
        got_ok += got.correct[g];
    }
    printf("  k-NN (k 7, T 0.1, bank 250, 100 queries, random encoder): %lld / 100 correct, "
           "reference %lld; worst group %.3f\n",
           (long long)got_ok, (long long)want_ok, got.worst_group);
    /* float32 similarities on the device may reorder a near tie at the
     * k-th neighbour: at most one prediction may differ */
    ck_assert_int_le(llabs(got_ok - want_ok), 1);
    ck_assert_double_eq_tol(got.accuracy, (double)got_ok / 100.0, 1e-12);
    /* the bars are visible in raw pixels: even random features separate them */
    ck_assert(got.accuracy > 0.75);
    sc_group_metrics_free(&got);
    /* bad settings are refused with a message */
    kc.k = 0;
    ck_assert_int_eq(sc_knn_evaluate(tu_ctx(), m, d, SC_SPLIT_VAL, &kc, &got), SC_ERR_INVALID_ARG);
    free(fb);
    free(fq);
    free(ib);
    free(iq);
    sc_model_free(m);
    sc_dataset_free(d);
}
END_TEST

/* The defaults leave the projector to the method; resolving fills it and
 * keeps what a caller set. */
START_TEST(projector_follows_the_method)
{
    sc_ssl_config c;
    sc_ssl_config_default(&c);
    ck_assert_int_eq(c.model.kind, SC_MODEL_RESNET);
    ck_assert_int_eq(c.model.resnet_width, 8);
    ck_assert_int_eq(c.epochs, 0);
    ck_assert_int_eq(c.proj_hidden, 0);
    sc_ssl_config s = c;
    sc_ssl_config_resolve(&s);
    ck_assert_int_eq(s.epochs, 2);
    ck_assert_int_lt(s.la.warmup, s.epochs); /* LA switches on within the default run */
    ck_assert_int_eq(s.proj_hidden, 512);
    ck_assert_int_eq(s.proj_dim, 128);
    ck_assert_float_eq(s.la.tau, c.temperature);
    sc_ssl_config b = c;
    b.method = SC_SSL_BARLOW;
    b.proj_dim = 256;
    b.la.tau = 0.7f;
    sc_ssl_config_resolve(&b);
    ck_assert_int_eq(b.epochs, 4);
    ck_assert_int_eq(b.proj_hidden, 1024);
    ck_assert_int_eq(b.proj_dim, 256);
    ck_assert_float_eq(b.la.tau, 0.7f);
    b.epochs = 3; /* given: kept */
    sc_ssl_config_resolve(&b);
    ck_assert_int_eq(b.epochs, 3);
}
END_TEST

int main(void)
{
    const tu_case cases[] = {
        {"ssl", 600, {quantile_is_numpy_linear, weights_match_hand_computation,
                speeds_are_an_ema_of_the_infonce_numerator, draws_are_reproducible_and_follow_p,
                schedule_warmup_then_every, identity_and_flip_are_exact,
                crop_reads_only_inside_its_box, kernel_matches_host_reference,
                jitter_factors_stay_in_range, noise_is_gaussian_and_reproducible,
                conflicting_samples_learn_slower, resume_is_bit_identical_with_la,
                barlow_twins_with_la, knn_matches_double_reference,
                projector_follows_the_method}},
    };
    return tu_run(TU_SUITE("ssl", cases));
}
