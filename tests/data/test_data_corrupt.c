/* Corruptions: each checked for what it must do. Noise adds the expected
 * variance to a flat image; blurs lower high-frequency energy, more at
 * higher severity, and keep a flat image flat; contrast scales deviations by
 * exactly c; pixelate gives constant blocks; none is the identity. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../suite.h"
#include "dtest.h"
#include "spurcl/data.h"

#define N 256 /* flat images for the noise statistics: N x N */

static uint8_t *flat(int v, size_t n)
{
    uint8_t *b = malloc(n);
    memset(b, v, n);
    return b;
}

static void moments(const uint8_t *b, size_t n, double *mean, double *var)
{
    double s = 0, s2 = 0;
    for (size_t i = 0; i < n; i++) {
        double x = b[i] / 255.0;
        s += x;
        s2 += x * x;
    }
    *mean = s / n;
    *var = s2 / n - *mean * *mean;
}

static const double GAUSS[5] = {0.04, 0.06, 0.08, 0.09, 0.10};
static const double SHOT[5] = {500, 250, 100, 75, 50};
static const double IMPULSE[5] = {0.01, 0.02, 0.03, 0.05, 0.07};
static const double SPECKLE[5] = {0.06, 0.10, 0.12, 0.16, 0.20};

/* Variance of rounding to 1/255 steps. */
#define QVAR (1.0 / (12.0 * 255.0 * 255.0))

START_TEST(noise_variance)
{
    size_t n = (size_t)N * N;
    double x = 128 / 255.0;
    for (int s = 1; s <= 5; s++) {
        double want[4] = {GAUSS[s - 1] * GAUSS[s - 1] + QVAR, x / SHOT[s - 1] + QVAR, 0,
                          x * x * SPECKLE[s - 1] * SPECKLE[s - 1] + QVAR};
        sc_corruption kinds[4] = {SC_CORRUPT_GAUSSIAN_NOISE, SC_CORRUPT_SHOT_NOISE,
                                  SC_CORRUPT_IMPULSE_NOISE, SC_CORRUPT_SPECKLE_NOISE};
        for (int k = 0; k < 4; k++) {
            uint8_t *b = flat(128, n);
            sc_rng rng;
            sc_rng_seed(&rng, 1000 + (uint64_t)s * 10 + (uint64_t)k);
            DT_OK(sc_corrupt_image(kinds[k], s, b, 1, N, N, &rng));
            double m, v;
            moments(b, n, &m, &v);
            if (kinds[k] == SC_CORRUPT_IMPULSE_NOISE) {
                /* A share `amount` of pixels flipped to 0 or 1, half each. */
                size_t salt = 0, pepper = 0, other = 0;
                for (size_t i = 0; i < n; i++) {
                    salt += b[i] == 255;
                    pepper += b[i] == 0;
                    other += b[i] != 128 && b[i] != 0 && b[i] != 255;
                }
                double p = IMPULSE[s - 1], exp_n = p * n;
                double se = sqrt(n * p * (1 - p));
                ck_assert_uint_eq(other, 0);
                ck_assert_msg(fabs((double)(salt + pepper) - exp_n) < 4 * se,
                              "impulse sev %d: %zu flipped, want %.0f +- %.0f", s, salt + pepper,
                              exp_n, 4 * se);
                ck_assert_msg(fabs((double)salt - exp_n / 2) < 4 * sqrt(n * p / 2),
                              "impulse sev %d: %zu salt", s, salt);
            } else {
                /* Relative standard error of a variance estimate: sqrt(2 / n);
                 * allow 5 of them (about 2.8 %). */
                double tol = 5 * sqrt(2.0 / n) * want[k];
                ck_assert_msg(fabs(v - want[k]) < tol,
                              "%s sev %d: variance %.6g, want %.6g +- %.2g",
                              sc_corruption_name(kinds[k]), s, v, want[k], tol);
                ck_assert_msg(fabs(m - x) < 5 * sqrt(want[k] / n) + 1e-4,
                              "%s sev %d: mean %.5f moved from %.5f",
                              sc_corruption_name(kinds[k]), s, m, x);
            }
            free(b);
        }
    }
}
END_TEST

/* Sum of squared differences of neighbouring pixels (over all channels). */
static double hf_energy(const uint8_t *b, int c, int h, int w)
{
    double e = 0;
    for (int k = 0; k < c; k++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                double v = b[(k * h + y) * w + x];
                if (x + 1 < w) {
                    double d = v - b[(k * h + y) * w + x + 1];
                    e += d * d;
                }
                if (y + 1 < h) {
                    double d = v - b[(k * h + y + 1) * w + x];
                    e += d * d;
                }
            }
    return e;
}

/* Mean high-frequency energy ratio out/in over several noise images. */
static double blur_ratio(sc_corruption kind, int sev, int c)
{
    const int h = 28, w = 28, reps = 6;
    double ein = 0, eout = 0;
    for (int r = 0; r < reps; r++) {
        size_t n = (size_t)c * h * w;
        uint8_t *b = malloc(n);
        sc_rng rng;
        sc_rng_seed(&rng, 77 + (uint64_t)r);
        for (size_t i = 0; i < n; i++)
            b[i] = (uint8_t)(64 + sc_rng_below(&rng, 128));
        ein += hf_energy(b, c, h, w);
        sc_rng_seed(&rng, 900 + (uint64_t)r);
        DT_OK(sc_corrupt_image(kind, sev, b, c, h, w, &rng));
        eout += hf_energy(b, c, h, w);
        free(b);
    }
    return eout / ein;
}

START_TEST(blurs_lower_high_frequencies)
{
    static const sc_corruption blurs[5] = {SC_CORRUPT_GAUSSIAN_BLUR, SC_CORRUPT_DEFOCUS_BLUR,
                                           SC_CORRUPT_GLASS_BLUR, SC_CORRUPT_MOTION_BLUR,
                                           SC_CORRUPT_ZOOM_BLUR};
    for (int b = 0; b < 5; b++) {
        double r[6];
        r[0] = 1.0;
        for (int s = 1; s <= 5; s++)
            r[s] = blur_ratio(blurs[b], s, 1);
        fprintf(stderr, "%-13s HF energy ratio by severity: %.3f %.3f %.3f %.3f %.3f\n",
                sc_corruption_name(blurs[b]), r[1], r[2], r[3], r[4], r[5]);
        /* Strongest severity removes most of the white noise's energy. */
        ck_assert_msg(r[5] < 0.5, "%s sev 5 ratio %.3f", sc_corruption_name(blurs[b]), r[5]);
        ck_assert_msg(r[5] < r[1], "%s: sev 5 (%.3f) not below sev 1 (%.3f)",
                      sc_corruption_name(blurs[b]), r[5], r[1]);
        if (blurs[b] == SC_CORRUPT_GLASS_BLUR) {
            /* (sigma, iterations): (0.05,1) (0.25,1) (0.4,1) (0.25,2) (0.4,2): the
             * ratio falls as sigma grows at equal iterations. */
            ck_assert(r[2] < r[1]);
            ck_assert(r[3] < r[2]);
            ck_assert(r[5] < r[4]);
            ck_assert(r[1] <= 1.02);
        } else if (blurs[b] == SC_CORRUPT_MOTION_BLUR) {
            /* Radius 6 vs. 8 at sigma 2 (sev 3, 4) differ only by the random
             * angle: allow a small tolerance there. */
            for (int s = 1; s < 5; s++)
                ck_assert_msg(r[s + 1] < r[s] * 1.1, "motion sev %d -> %d: %.3f -> %.3f", s,
                              s + 1, r[s], r[s + 1]);
            ck_assert(r[1] < 0.9);
        } else {
            for (int s = 0; s < 5; s++)
                ck_assert_msg(r[s + 1] < r[s], "%s: sev %d ratio %.3f not below sev %d %.3f",
                              sc_corruption_name(blurs[b]), s + 1, r[s + 1], s, r[s]);
        }
    }
}
END_TEST

START_TEST(blurs_keep_flat_images_flat)
{
    static const sc_corruption kinds[7] = {SC_CORRUPT_GAUSSIAN_BLUR, SC_CORRUPT_DEFOCUS_BLUR,
                                           SC_CORRUPT_GLASS_BLUR,    SC_CORRUPT_MOTION_BLUR,
                                           SC_CORRUPT_ZOOM_BLUR,     SC_CORRUPT_ELASTIC,
                                           SC_CORRUPT_PIXELATE};
    for (int k = 0; k < 7; k++)
        for (int s = 1; s <= 5; s++) {
            uint8_t *b = flat(90, 3 * 28 * 28);
            sc_rng rng;
            sc_rng_seed(&rng, 5);
            DT_OK(sc_corrupt_image(kinds[k], s, b, 3, 28, 28, &rng));
            for (int i = 0; i < 3 * 28 * 28; i++)
                ck_assert_msg(b[i] == 90, "%s sev %d: pixel %d became %d",
                              sc_corruption_name(kinds[k]), s, i, b[i]);
            free(b);
        }
}
END_TEST

START_TEST(contrast_scales_deviations)
{
    static const double C[5] = {0.75, 0.5, 0.4, 0.3, 0.15};
    for (int s = 1; s <= 5; s++) {
        uint8_t b[2 * 28 * 28], o[2 * 28 * 28];
        sc_rng rng;
        sc_rng_seed(&rng, 3);
        for (int i = 0; i < 2 * 28 * 28; i++)
            o[i] = b[i] = (uint8_t)sc_rng_below(&rng, 256);
        DT_OK(sc_corrupt_image(SC_CORRUPT_CONTRAST, s, b, 2, 28, 28, &rng));
        for (int c = 0; c < 2; c++) {
            double m = 0;
            for (int i = 0; i < 784; i++)
                m += o[c * 784 + i];
            m /= 784;
            for (int i = 0; i < 784; i++) {
                double want = (o[c * 784 + i] - m) * C[s - 1] + m;
                ck_assert_msg(fabs(b[c * 784 + i] - want) <= 0.5 + 1e-3,
                              "contrast sev %d: %d -> %d, want %.3f", s, o[c * 784 + i],
                              b[c * 784 + i], want);
            }
        }
    }
}
END_TEST

START_TEST(pixelate_constant_blocks)
{
    static const double C[5] = {0.95, 0.9, 0.85, 0.75, 0.65};
    const int H = 28, W = 28;
    for (int s = 1; s <= 5; s++) {
        uint8_t b[28 * 28], o[28 * 28];
        sc_rng rng;
        sc_rng_seed(&rng, 11);
        for (int i = 0; i < H * W; i++)
            o[i] = b[i] = (uint8_t)sc_rng_below(&rng, 256);
        DT_OK(sc_corrupt_image(SC_CORRUPT_PIXELATE, s, b, 1, H, W, &rng));
        int L = (int)floor(W * C[s - 1]);
        /* Pixels mapped to the same low-resolution cell are equal; each cell's
         * value lies within the range of the source area it averages. */
        int seen[28 * 28];
        int val[28 * 28];
        memset(seen, 0, sizeof seen);
        int cells = 0;
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                int ly = (int)((y + 0.5) * L / H), lx = (int)((x + 0.5) * L / W);
                int cell = ly * L + lx;
                if (!seen[cell]) {
                    seen[cell] = 1;
                    val[cell] = b[y * W + x];
                    cells++;
                    double y0 = ly * (double)H / L, y1 = (ly + 1) * (double)H / L;
                    double x0 = lx * (double)W / L, x1 = (lx + 1) * (double)W / L;
                    int mn = 255, mx = 0;
                    for (int yy = (int)y0; yy < y1 && yy < H; yy++)
                        for (int xx = (int)x0; xx < x1 && xx < W; xx++) {
                            int v = o[yy * W + xx];
                            mn = v < mn ? v : mn;
                            mx = v > mx ? v : mx;
                        }
                    ck_assert_int_ge(val[cell], mn);
                    ck_assert_int_le(val[cell], mx);
                } else {
                    ck_assert_msg(b[y * W + x] == val[cell], "pixelate sev %d: block not constant",
                                  s);
                }
            }
        ck_assert_int_eq(cells, L * L);
    }
}
END_TEST

START_TEST(none_is_identity)
{
    uint8_t b[3 * 10 * 9], o[3 * 10 * 9];
    for (int i = 0; i < 270; i++)
        o[i] = b[i] = (uint8_t)(i * 13);
    sc_rng rng, before;
    sc_rng_seed(&rng, 1);
    before = rng;
    for (int s = 1; s <= 5; s++)
        DT_OK(sc_corrupt_image(SC_CORRUPT_NONE, s, b, 3, 10, 9, &rng));
    ck_assert_int_eq(memcmp(b, o, sizeof b), 0);
    ck_assert_int_eq(memcmp(&rng, &before, sizeof rng), 0);
}
END_TEST

START_TEST(colour_and_fog)
{
    /* Brightness on grey adds c to the value. */
    static const double BR[5] = {0.05, 0.1, 0.15, 0.2, 0.3};
    for (int s = 1; s <= 5; s++) {
        uint8_t b[4] = {0, 100, 200, 250};
        sc_rng rng;
        sc_rng_seed(&rng, 1);
        DT_OK(sc_corrupt_image(SC_CORRUPT_BRIGHTNESS, s, b, 1, 2, 2, &rng));
        const int in[4] = {0, 100, 200, 250};
        for (int i = 0; i < 4; i++) {
            double want = fmin(1.0, in[i] / 255.0 + BR[s - 1]) * 255;
            ck_assert_msg(fabs(b[i] - want) <= 0.5 + 1e-3, "brightness %d -> %d", in[i], b[i]);
        }
    }
    /* Saturate on RGB: (200,100,100) has S = 0.5, V = 200; sev 1 scales S by
     * 0.3 -> min = 200 * (1 - 0.15) = 170; hue and value kept. */
    uint8_t px[3] = {200, 100, 100};
    sc_rng rng;
    sc_rng_seed(&rng, 1);
    DT_OK(sc_corrupt_image(SC_CORRUPT_SATURATE, 1, px, 3, 1, 1, &rng));
    ck_assert_uint_eq(px[0], 200);
    ck_assert_uint_eq(px[1], 170);
    ck_assert_uint_eq(px[2], 170);
    /* Saturate leaves grey images alone. */
    uint8_t g[4] = {1, 2, 3, 4};
    DT_OK(sc_corrupt_image(SC_CORRUPT_SATURATE, 5, g, 1, 2, 2, &rng));
    ck_assert_uint_eq(g[3], 4);
    /* Fog: x * max / (max + c) + c * plasma * max / (max + c) <= max. */
    for (int s = 1; s <= 5; s++) {
        uint8_t b[28 * 28];
        for (int i = 0; i < 784; i++)
            b[i] = (uint8_t)(i % 200);
        sc_rng_seed(&rng, 40 + (uint64_t)s);
        DT_OK(sc_corrupt_image(SC_CORRUPT_FOG, s, b, 1, 28, 28, &rng));
        int changed = 0;
        for (int i = 0; i < 784; i++) {
            ck_assert_int_le(b[i], 199);
            changed += b[i] != (uint8_t)(i % 200);
        }
        ck_assert_int_gt(changed, 400);
    }
}
END_TEST

START_TEST(deterministic_streams)
{
    for (int k = 0; k < SC_CORRUPT_COUNT; k++) {
        uint8_t a[3 * 28 * 28], b[3 * 28 * 28], c[3 * 28 * 28];
        for (int i = 0; i < 3 * 784; i++)
            a[i] = b[i] = c[i] = (uint8_t)((i * 31) % 251);
        sc_rng r1, r2, r3;
        sc_rng_seed(&r1, 42);
        sc_rng_seed(&r2, 42);
        sc_rng_seed(&r3, 43);
        DT_OK(sc_corrupt_image((sc_corruption)k, 3, a, 3, 28, 28, &r1));
        DT_OK(sc_corrupt_image((sc_corruption)k, 3, b, 3, 28, 28, &r2));
        DT_OK(sc_corrupt_image((sc_corruption)k, 3, c, 3, 28, 28, &r3));
        ck_assert_msg(memcmp(a, b, sizeof a) == 0, "%s not deterministic",
                      sc_corruption_name((sc_corruption)k));
        int random = k <= SC_CORRUPT_SPECKLE_NOISE || k == SC_CORRUPT_GLASS_BLUR ||
                     k == SC_CORRUPT_MOTION_BLUR || k == SC_CORRUPT_FOG ||
                     k == SC_CORRUPT_ELASTIC;
        if (random)
            ck_assert_msg(memcmp(a, c, sizeof a) != 0, "%s ignores its seed",
                          sc_corruption_name((sc_corruption)k));
    }
    uint8_t x[4] = {0};
    sc_rng r;
    sc_rng_seed(&r, 1);
    DT_FAILS(sc_corrupt_image(SC_CORRUPT_FOG, 9, x, 1, 2, 2, &r), SC_ERR_INVALID_ARG, "severity",
             NULL);
}
END_TEST

int main(void)
{
    const tu_case cases[] = {
        {"corrupt", 120, {noise_variance, blurs_lower_high_frequencies,
                blurs_keep_flat_images_flat, contrast_scales_deviations, pixelate_constant_blocks,
                none_is_identity, colour_and_fog, deterministic_streams}},
    };
    return dt_run(TU_SUITE("data_corrupt", cases));
}
