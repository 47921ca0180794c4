/* Builds: group counts against rho, unbiased val/test, determinism (same
 * seed -> same bytes, other seed -> different, any thread count), what each
 * variant draws, the file format's validation, and the batching API. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../suite.h"
#include "dtest.h"
#include "spurcl/data.h"
#include "spurcl/io.h"

#define S 16 /* synthetic images are S x S */

/* A synthetic source: class y has 100 + 7y training samples (odd sizes) and
 * 43 test samples; each image a centred square of value 100 + 10y on black. */
static sc_dataset *synthetic(int channels)
{
    int64_t ntr = 0;
    for (int y = 0; y < 10; y++)
        ntr += 100 + 7 * y;
    int64_t n = ntr + 430;
    sc_dataset *d;
    DT_OK(sc_dataset_create(n, channels, S, S, 10, 1, &d));
    int64_t k = 0;
    for (int y = 0; y < 10; y++)
        for (int i = 0; i < 100 + 7 * y; i++, k++) {
            d->labels[k] = y;
            d->split[k] = SC_SPLIT_TRAIN;
        }
    for (int i = 0; i < 430; i++, k++) {
        d->labels[k] = i % 10;
        d->split[k] = SC_SPLIT_TEST;
    }
    for (int64_t i = 0; i < n; i++)
        for (int c = 0; c < channels; c++)
            for (int y = 4; y < 12; y++)
                for (int x = 4; x < 12; x++)
                    d->images[((i * channels + c) * S + y) * S + x] =
                        (uint8_t)(100 + 10 * d->labels[i]);
    for (int y = 0; y < 10; y++) {
        char b[8];
        snprintf(b, sizeof b, "c%d", y);
        d->class_names[y] = strdup(b);
    }
    DT_OK(sc_dataset_update_groups(d));
    return d;
}

static void opts(sc_build_opts *o, sc_variant v, double rho)
{
    sc_build_opts_default(o);
    o->variant = v;
    o->rho = rho;
    o->seed = 7;
}

START_TEST(assign_counts_rule)
{
    int64_t c[10];
    sc_rng rng;
    sc_rng_seed(&rng, 1);
    sc_assign_counts(1000, 0.95, 3, 10, &rng, c);
    ck_assert_int_eq(c[3], 950);
    int64_t rest = 0, mn = 1 << 30, mx = 0;
    for (int a = 0; a < 10; a++)
        if (a != 3) {
            rest += c[a];
            mn = c[a] < mn ? c[a] : mn;
            mx = c[a] > mx ? c[a] : mx;
        }
    ck_assert_int_eq(rest, 50);
    ck_assert_int_le(mx - mn, 1);
    /* Rounding to the nearest sample: 0.5 * 7 = 3.5 -> 4; 0.99 * 101 = 99.99 -> 100. */
    sc_assign_counts(7, 0.5, 0, 2, &rng, c);
    ck_assert_int_eq(c[0], 4);
    ck_assert_int_eq(c[1], 3);
    sc_assign_counts(101, 0.99, 1, 3, &rng, c);
    ck_assert_int_eq(c[1], 100);
    ck_assert_int_eq(c[0] + c[2], 1);
}
END_TEST

START_TEST(group_counts_match_rho)
{
    sc_dataset *src = synthetic(1);
    static const double rhos[5] = {0.0, 0.5, 0.9, 0.95, 1.0};
    for (int r = 0; r < 5; r++) {
        sc_build_opts o;
        opts(&o, SC_VARIANT_CORRUPT, rhos[r]);
        sc_dataset *d;
        DT_OK(sc_dataset_build_from(src, &o, &d));
        ck_assert_int_eq(d->num_attrs, 10);
        int64_t counts[3 * 100];
        sc_dataset_group_counts(d, counts);
        for (int y = 0; y < 10; y++) {
            int64_t m = 100 + 7 * y;
            int64_t nval = (int64_t)floor(0.1 * m + 0.5);
            int64_t ntr = m - nval;
            int64_t row = 0, mn = 1 << 30, mx = -1;
            for (int a = 0; a < 10; a++) {
                int64_t v = counts[0 * 100 + y * 10 + a];
                row += v;
                if (a != y) {
                    mn = v < mn ? v : mn;
                    mx = v > mx ? v : mx;
                }
            }
            ck_assert_int_eq(row, ntr);
            int64_t want = (int64_t)floor(rhos[r] * ntr + 0.5);
            ck_assert_msg(counts[y * 10 + y] == want, "rho %.2f class %d: aligned %lld, want %lld",
                          rhos[r], y, (long long)counts[y * 10 + y], (long long)want);
            ck_assert_msg(mx - mn <= 1, "rho %.2f class %d: others range %lld..%lld", rhos[r], y,
                          (long long)mn, (long long)mx);
            /* val and test: every attribute equally likely (within one). */
            for (int s = 1; s <= 2; s++) {
                int64_t smn = 1 << 30, smx = -1, tot = 0;
                for (int a = 0; a < 10; a++) {
                    int64_t v = counts[s * 100 + y * 10 + a];
                    tot += v;
                    smn = v < smn ? v : smn;
                    smx = v > smx ? v : smx;
                }
                ck_assert_int_eq(tot, s == 1 ? nval : 43);
                ck_assert_int_le(smx - smn, 1);
            }
        }
        sc_dataset_free(d);
    }
    /* Biased val on request. */
    sc_build_opts o;
    opts(&o, SC_VARIANT_PATCH, 1.0);
    o.val_biased = true;
    sc_dataset *d;
    DT_OK(sc_dataset_build_from(src, &o, &d));
    for (int64_t i = 0; i < d->n; i++)
        if (d->split[i] != SC_SPLIT_TEST)
            ck_assert_int_eq(d->attrs[i], d->labels[i]);
    sc_dataset_free(d);
    sc_dataset_free(src);
}
END_TEST

static uint8_t *build_bytes(const sc_dataset *src, const sc_build_opts *o, const char *dir,
                            const char *name, size_t *size)
{
    sc_dataset *d;
    DT_OK(sc_dataset_build_from(src, o, &d));
    char *p = dt_path(dir, name);
    DT_OK(sc_dataset_save(d, p));
    sc_dataset_free(d);
    uint8_t *b = dt_read(p, size);
    free(p);
    return b;
}

START_TEST(determinism)
{
    char *dir = dt_mkdtemp();
    sc_dataset *src = synthetic(3);
    static const sc_variant vs[4] = {SC_VARIANT_PATCH, SC_VARIANT_COLOR, SC_VARIANT_CORRUPT,
                                     SC_VARIANT_BACKGROUND};
    for (int v = 0; v < 4; v++) {
        sc_build_opts o;
        opts(&o, vs[v], 0.9);
        if (vs[v] == SC_VARIANT_BACKGROUND)
            o.class_split = "0,1,2:3,4";
        o.threads = 1;
        size_t n1, n2, n3;
        uint8_t *a = build_bytes(src, &o, dir, "a.st", &n1);
        o.threads = 3;
        uint8_t *b = build_bytes(src, &o, dir, "b.st", &n2);
        o.seed = 8;
        uint8_t *c = build_bytes(src, &o, dir, "c.st", &n3);
        ck_assert_uint_eq(n1, n2);
        ck_assert_msg(memcmp(a, b, n1) == 0, "%s: same seed, different bytes",
                      sc_variant_name(vs[v]));
        ck_assert_msg(n1 != n3 || memcmp(a, c, n1) != 0, "%s: another seed, same bytes",
                      sc_variant_name(vs[v]));
        free(a);
        free(b);
        free(c);
    }
    sc_dataset_free(src);
    dt_rmtree(dir);
}
END_TEST

START_TEST(save_load_round_trip)
{
    char *dir = dt_mkdtemp();
    char *p = dt_path(dir, "d.safetensors");
    sc_dataset *src = synthetic(1);
    sc_build_opts o;
    opts(&o, SC_VARIANT_COLOR, 0.8);
    sc_dataset *d, *e;
    DT_OK(sc_dataset_build_from(src, &o, &d));
    DT_OK(sc_dataset_save(d, p));
    DT_OK(sc_dataset_load(p, &e));
    ck_assert_int_eq(e->n, d->n);
    ck_assert_int_eq(e->c, 3);
    ck_assert_int_eq(e->num_classes, 10);
    ck_assert_int_eq(e->num_attrs, 10);
    ck_assert_int_eq(memcmp(e->images, d->images, (size_t)d->n * 3 * S * S), 0);
    ck_assert_int_eq(memcmp(e->groups, d->groups, (size_t)d->n * 4), 0);
    ck_assert_int_eq(memcmp(e->split, d->split, (size_t)d->n * 4), 0);
    ck_assert_str_eq(e->class_names[4], "c4");
    ck_assert_ptr_nonnull(strstr(e->build_json, "\"variant\":\"color\""));
    ck_assert_ptr_nonnull(strstr(e->build_json, "\"seed\":7"));
    ck_assert_ptr_nonnull(strstr(e->build_json, "\"rho\":0.8"));
    sc_dataset_free(e);

    /* A file whose groups disagree with labels and attrs is rejected. */
    d->groups[5] += 1;
    sc_st_tensor t[5] = {
        {"images", SC_ST_U8, 4, {d->n, 3, S, S}, d->images},
        {"labels", SC_ST_I32, 1, {d->n}, d->labels},
        {"attrs", SC_ST_I32, 1, {d->n}, d->attrs},
        {"groups", SC_ST_I32, 1, {d->n}, d->groups},
        {"split", SC_ST_I32, 1, {d->n}, d->split},
    };
    DT_OK(sc_safetensors_write(p, t, 5, NULL, 0));
    DT_FAILS(sc_dataset_load(p, &e), SC_ERR_FORMAT, p, "group");
    d->groups[5] -= 1;
    d->split[3] = 7;
    DT_OK(sc_safetensors_write(p, t, 5, NULL, 0));
    DT_FAILS(sc_dataset_load(p, &e), SC_ERR_FORMAT, p, "split code 7");
    d->split[3] = SC_SPLIT_TRAIN;
    /* A label near 2^31 (maxl + 1 overflowed) and metadata that asks for a
     * 10^6 x 10^6 group table are refused with a message, not attempted. */
    int32_t keep = d->labels[2];
    d->labels[2] = INT32_MAX;
    DT_OK(sc_safetensors_write(p, t, 5, NULL, 0));
    DT_FAILS(sc_dataset_load(p, &e), SC_ERR_FORMAT, p, "label 2147483647");
    d->labels[2] = keep;
    sc_st_meta huge = {"build", "{\"num_classes\": 1000000, \"num_attrs\": 1000000}"};
    DT_OK(sc_safetensors_write(p, t, 5, &huge, 1));
    DT_FAILS(sc_dataset_load(p, &e), SC_ERR_INVALID_ARG, p, "1000000 classes");
    /* Counts are whole numbers no smaller than the data needs: 10.5 is not
     * read as 10, a string is not ignored, 3 classes cannot hold label 9. */
    static const struct { const char *json, *msg; } bad_counts[] = {
        {"{\"num_classes\": 10.5}", "num_classes is not a whole number"},
        {"{\"num_attrs\": \"10\"}", "num_attrs is not a whole number"},
        {"{\"num_classes\": 3}", "num_classes 3 is inconsistent with the largest value 9"},
        {"{\"num_attrs\": -1}", "num_attrs -1 is inconsistent"},
    };
    for (size_t i = 0; i < sizeof bad_counts / sizeof *bad_counts; i++) {
        sc_st_meta m = {"build", bad_counts[i].json};
        DT_OK(sc_safetensors_write(p, t, 5, &m, 1));
        DT_FAILS(sc_dataset_load(p, &e), SC_ERR_FORMAT, p, bad_counts[i].msg);
    }
    /* A larger whole count than the data needs is kept (classes absent from a split). */
    sc_st_meta wide = {"build", "{\"num_classes\": 12.0, \"num_attrs\": 10}"};
    DT_OK(sc_safetensors_write(p, t, 5, &wide, 1));
    DT_OK(sc_dataset_load(p, &e));
    ck_assert_int_eq(e->num_classes, 12);
    ck_assert_int_eq(e->num_attrs, 10);
    sc_dataset_free(e);
    d->split[3] = 7;
    /* Missing tensor / wrong dtype. */
    DT_OK(sc_safetensors_write(p, t, 4, NULL, 0));
    DT_FAILS(sc_dataset_load(p, &e), SC_ERR_FORMAT, p, "'split'");
    t[1].dtype = SC_ST_F32;
    DT_OK(sc_safetensors_write(p, t, 5, NULL, 0));
    DT_FAILS(sc_dataset_load(p, &e), SC_ERR_FORMAT, p, "'labels' has dtype F32");
    sc_dataset_free(d);
    sc_dataset_free(src);
    free(p);
    dt_rmtree(dir);
}
END_TEST

START_TEST(bad_options)
{
    sc_dataset *src = synthetic(1), *d;
    sc_build_opts o;
    opts(&o, SC_VARIANT_PATCH, 1.5);
    DT_FAILS(sc_dataset_build_from(src, &o, &d), SC_ERR_INVALID_ARG, "--rho", "1.5");
    opts(&o, SC_VARIANT_CORRUPT, 0.9);
    o.severity = 9;
    DT_FAILS(sc_dataset_build_from(src, &o, &d), SC_ERR_INVALID_ARG, "--severity", "9");
    opts(&o, SC_VARIANT_CORRUPT, 0.9);
    o.val_fraction = 1.0;
    DT_FAILS(sc_dataset_build_from(src, &o, &d), SC_ERR_INVALID_ARG, "--val-fraction", NULL);
    opts(&o, SC_VARIANT_PATCH, 0.9);
    o.patch_size = 20;
    DT_FAILS(sc_dataset_build_from(src, &o, &d), SC_ERR_INVALID_ARG, "--patch-size", NULL);
    opts(&o, SC_VARIANT_BACKGROUND, 0.9);
    o.class_split = "0,1:1,2";
    DT_FAILS(sc_dataset_build_from(src, &o, &d), SC_ERR_INVALID_ARG, "listed twice", NULL);
    o.class_split = "0,1";
    DT_FAILS(sc_dataset_build_from(src, &o, &d), SC_ERR_INVALID_ARG, "two non-empty sets", NULL);
    o.class_split = "0:12";
    DT_FAILS(sc_dataset_build_from(src, &o, &d), SC_ERR_INVALID_ARG, "class 12", NULL);
    o.class_split = "0:1";
    o.canvas = 10;
    DT_FAILS(sc_dataset_build_from(src, &o, &d), SC_ERR_INVALID_ARG, "--canvas", NULL);
    sc_dataset_free(src);
}
END_TEST

START_TEST(variant_pixels)
{
    sc_dataset *src = synthetic(1), *d;
    sc_build_opts o;
    /* patch, border layout, 16x16 with 4x4 marks: 4x4 grid, 12 border
     * positions; attribute a at position floor(a * 12 / 10). */
    opts(&o, SC_VARIANT_PATCH, 1.0);
    DT_OK(sc_dataset_build_from(src, &o, &d));
    static const int pos[12][2] = {{0, 0}, {0, 1}, {0, 2}, {0, 3}, {1, 3}, {2, 3},
                                   {3, 3}, {3, 2}, {3, 1}, {3, 0}, {2, 0}, {1, 0}};
    for (int64_t i = 0; i < d->n; i++) {
        int a = d->attrs[i], k = a * 12 / 10;
        int y0 = pos[k][0] * 4, x0 = pos[k][1] * 4;
        const uint8_t *im = d->images + (size_t)i * S * S;
        for (int y = 0; y < 4; y++)
            for (int x = 0; x < 4; x++)
                ck_assert_uint_eq(im[(y0 + y) * S + x0 + x], 255);
        /* Exactly one mark: 16 white pixels (the object is 100..190). */
        int white = 0;
        for (int p = 0; p < S * S; p++)
            white += im[p] == 255;
        ck_assert_int_eq(white, 16);
    }
    sc_dataset_free(d);
    /* --test-clean: test images equal the source's. */
    o.test_clean = true;
    DT_OK(sc_dataset_build_from(src, &o, &d));
    int64_t ntest = 0;
    for (int64_t i = 0; i < d->n; i++)
        if (d->split[i] == SC_SPLIT_TEST) {
            int64_t j = src->n - 430 + ntest++;
            ck_assert_int_eq(memcmp(d->images + (size_t)i * S * S, src->images + (size_t)j * S * S,
                                    S * S), 0);
        }
    ck_assert_int_eq(ntest, 430);
    sc_dataset_free(d);

    /* color foreground with sigma 0: the object's colour is the attribute's
     * hue times the grey value; the background stays black. */
    opts(&o, SC_VARIANT_COLOR, 0.5);
    o.color_sigma = 0;
    DT_OK(sc_dataset_build_from(src, &o, &d));
    for (int64_t i = 0; i < d->n; i += 37) {
        float rgb[3];
        int a = d->attrs[i];
        /* Hue a/10 at full saturation: evenly spaced. */
        double h6 = a * 0.6;
        int sector = (int)floor(h6);
        double f = h6 - sector;
        double want[3];
        switch (sector) {
        case 0: want[0] = 1; want[1] = f; want[2] = 0; break;
        case 1: want[0] = 1 - f; want[1] = 1; want[2] = 0; break;
        case 2: want[0] = 0; want[1] = 1; want[2] = f; break;
        case 3: want[0] = 0; want[1] = 1 - f; want[2] = 1; break;
        case 4: want[0] = f; want[1] = 0; want[2] = 1; break;
        default: want[0] = 1; want[1] = 0; want[2] = 1 - f; break;
        }
        (void)rgb;
        int g = 100 + 10 * d->labels[i];
        for (int k = 0; k < 3; k++) {
            int v = d->images[((size_t)i * 3 + k) * S * S + 8 * S + 8];
            ck_assert_int_le(abs(v - (int)lround(g * want[k])), 1);
            ck_assert_uint_eq(d->images[((size_t)i * 3 + k) * S * S], 0);
        }
    }
    sc_dataset_free(d);

    /* background: binary labels from the class split, RGB canvas, the
     * object's grey pixels copied, background not black. */
    opts(&o, SC_VARIANT_BACKGROUND, 0.9);
    o.class_split = "0,2:5,7,9";
    o.canvas = 24;
    DT_OK(sc_dataset_build_from(src, &o, &d));
    ck_assert_int_eq(d->num_classes, 2);
    ck_assert_int_eq(d->num_attrs, 2);
    ck_assert_int_eq(d->c, 3);
    ck_assert_int_eq(d->h, 24);
    ck_assert_str_eq(d->class_names[0], "c0+c2");
    ck_assert_str_eq(d->class_names[1], "c5+c7+c9");
    int64_t expect = 0;
    for (int y = 0; y < 10; y++)
        if (y == 0 || y == 2 || y == 5 || y == 7 || y == 9)
            expect += 100 + 7 * y + 43;
    ck_assert_int_eq(d->n, expect);
    for (int64_t i = 0; i < d->n; i++) {
        /* Count pixels equal in all channels to a class grey value. */
        int obj = 0;
        size_t pl = 24 * 24;
        const uint8_t *im = d->images + (size_t)i * 3 * pl;
        for (size_t p = 0; p < pl; p++)
            obj += im[p] == im[pl + p] && im[p] == im[2 * pl + p] && im[p] >= 100 &&
                   im[p] <= 190 && (im[p] - 100) % 10 == 0;
        ck_assert_int_ge(obj, 64);
    }
    sc_dataset_free(d);
    sc_dataset_free(src);
}
END_TEST

/* Full-saturation colour of hue h in [0, 1) (HSV with S = V = 1). */
static void hue_rgb(double h, double rgb[3])
{
    for (int k = 0; k < 3; k++) {
        /* distance of the hue from the channel's peak (R 0, G 1/3, B 2/3) */
        double d = fabs(fmod(h - k / 3.0 + 1.5, 1.0) - 0.5) * 6;
        rgb[k] = d <= 1 ? 1 : d >= 2 ? 0 : 2 - d;
    }
}

/* spuco: super-classes from pairs, K x K groups, exact aligned counts with
 * equal minorities, balanced val/test, the colour painted exactly on the
 * zero pixels inside each difficulty's mask (S = 16: corners scale from 28). */
START_TEST(spuco_groups_and_masks)
{
    sc_dataset *src = synthetic(1), *d;
    sc_build_opts o;
    opts(&o, SC_VARIANT_SPUCO, 0.9);
    DT_OK(sc_dataset_build_from(src, &o, &d));
    ck_assert_int_eq(d->num_classes, 5);
    ck_assert_int_eq(d->num_attrs, 5);
    ck_assert_int_eq(d->c, 3);
    ck_assert_str_eq(d->class_names[1], "c2+c3");
    int64_t counts[3 * 25];
    sc_dataset_group_counts(d, counts);
    for (int y = 0; y < 5; y++) {
        int64_t m = 0, row = 0, mn = 1 << 30, mx = -1;
        for (int c = 2 * y; c <= 2 * y + 1; c++) /* val is carved per super-class */
            m += 100 + 7 * c;
        int64_t ntr = m - (int64_t)floor(0.1 * m + 0.5);
        for (int a = 0; a < 5; a++) {
            int64_t v = counts[y * 5 + a];
            row += v;
            if (a != y) {
                mn = v < mn ? v : mn;
                mx = v > mx ? v : mx;
            }
            ck_assert_int_gt(counts[2 * 25 + y * 5 + a], 0); /* every test group non-empty */
        }
        ck_assert_int_eq(row, ntr);
        ck_assert_int_eq(counts[y * 5 + y], (int64_t)floor(0.9 * ntr + 0.5));
        ck_assert_int_le(mx - mn, 1);
        for (int s = 1; s <= 2; s++) {
            int64_t smn = 1 << 30, smx = -1;
            for (int a = 0; a < 5; a++) {
                int64_t v = counts[s * 25 + y * 5 + a];
                smn = v < smn ? v : smn;
                smx = v > smx ? v : smx;
            }
            ck_assert_int_le(smx - smn, 1);
        }
    }
    /* magnitude-large: every zero pixel carries the attribute's colour, the
     * object keeps its grey */
    for (int64_t i = 0; i < d->n; i += 37) {
        double rgb[3];
        hue_rgb(d->attrs[i] / 5.0, rgb);
        const uint8_t *im = d->images + (size_t)i * 3 * S * S;
        int g = im[8 * S + 8];
        ck_assert(g == 100 + 20 * d->labels[i] || g == 110 + 20 * d->labels[i]);
        for (int k = 0; k < 3; k++) {
            ck_assert_int_le(abs(im[k * S * S + 0] - (int)lround(rgb[k] * 255)), 1);
            ck_assert_int_eq(im[k * S * S + 8 * S + 8], g);
        }
    }
    sc_dataset_free(d);

    /* the masks: painted pixels per image for each difficulty on 16 x 16
     * (corners 4 -> 2, 2 -> 1, 7 -> 4, 14 -> 8; 49 pixels -> 16) */
    static const struct { sc_spuco_difficulty d; int painted; int region; } want[6] = {
        {SC_SPUCO_MAGNITUDE_LARGE, 16 * 16 - 64, 16}, {SC_SPUCO_MAGNITUDE_MEDIUM, 4, 2},
        {SC_SPUCO_MAGNITUDE_SMALL, 1, 1},             {SC_SPUCO_VARIANCE_LOW, 16, 4},
        {SC_SPUCO_VARIANCE_MEDIUM, -1, 8},            {SC_SPUCO_VARIANCE_HIGH, -1, 16}};
    for (int w = 0; w < 6; w++) {
        opts(&o, SC_VARIANT_SPUCO, 0.9);
        o.spuco_difficulty = want[w].d;
        DT_OK(sc_dataset_build_from(src, &o, &d));
        int64_t total = 0;
        for (int64_t i = 0; i < d->n; i++) {
            const uint8_t *im = d->images + (size_t)i * 3 * S * S;
            int painted = 0;
            for (int y = 0; y < S; y++)
                for (int x = 0; x < S; x++) {
                    size_t p = (size_t)y * S + x;
                    int on = im[p] || im[S * S + p] || im[2 * S * S + p];
                    int object = y >= 4 && y < 12 && x >= 4 && x < 12;
                    if (on && !object) {
                        painted++;
                        ck_assert_msg(y < want[w].region && x < want[w].region,
                                      "%s: pixel (%d, %d) painted outside the mask",
                                      sc_spuco_difficulty_name(want[w].d), y, x);
                    }
                }
            if (want[w].painted >= 0)
                ck_assert_int_eq(painted, want[w].painted);
            total += painted;
        }
        /* variance levels: 16 pixels drawn, those off the object painted */
        if (want[w].painted < 0)
            ck_assert_msg(total > 0 && total <= 16 * d->n, "%s: %lld painted",
                          sc_spuco_difficulty_name(want[w].d), (long long)total);
        sc_dataset_free(d);
    }

    /* the two-class setting (Waterbirds' shape): 4 groups */
    opts(&o, SC_VARIANT_SPUCO, 0.95);
    o.class_split = "0,2,4,6:5,7,9";
    DT_OK(sc_dataset_build_from(src, &o, &d));
    ck_assert_int_eq(d->num_classes, 2);
    ck_assert_int_eq(d->num_attrs, 2);
    sc_dataset_free(d);
    /* refusals: one set, a class twice, an unknown difficulty name */
    o.class_split = "0,1,2";
    DT_FAILS(sc_dataset_build_from(src, &o, &d), SC_ERR_INVALID_ARG, "two or more", NULL);
    o.class_split = "0,1:1,2";
    DT_FAILS(sc_dataset_build_from(src, &o, &d), SC_ERR_INVALID_ARG, "listed twice", NULL);
    sc_spuco_difficulty dd;
    DT_FAILS(sc_spuco_difficulty_parse("huge", &dd), SC_ERR_INVALID_ARG, "variance-high", NULL);
    DT_OK(sc_spuco_difficulty_parse("large", &dd));
    ck_assert_int_eq(dd, SC_SPUCO_MAGNITUDE_LARGE);
    sc_dataset_free(src);
}
END_TEST

START_TEST(batches)
{
    sc_dataset *src = synthetic(3), *d;
    sc_build_opts o;
    opts(&o, SC_VARIANT_NONE, 0.9);
    DT_OK(sc_dataset_build_from(src, &o, &d));
    sc_batch_opts bo = {.batch_size = 64, .shuffle = true, .seed = 3};
    sc_batcher *b;
    DT_OK(sc_batcher_create(d, SC_SPLIT_TRAIN, &bo, &b));
    int64_t n = sc_batcher_split_size(b);
    ck_assert_int_eq(sc_batcher_num_batches(b), (n + 63) / 64);
    int *seen = calloc((size_t)d->n, sizeof(int));
    const sc_batch *bt;
    int64_t total = 0, batches = 0, last = 0;
    int64_t first_epoch0 = -1;
    for (;;) {
        DT_OK(sc_batcher_next(b, &bt));
        if (!bt)
            break;
        if (first_epoch0 < 0)
            first_epoch0 = bt->indices[0];
        batches++;
        last = bt->size;
        for (int64_t k = 0; k < bt->size; k++) {
            int64_t i = bt->indices[k];
            ck_assert_int_eq(d->split[i], SC_SPLIT_TRAIN);
            seen[i]++;
            ck_assert_int_eq(bt->labels[k], d->labels[i]);
            ck_assert_int_eq(bt->attrs[k], d->attrs[i]);
            ck_assert_int_eq(bt->groups[k], d->groups[i]);
            /* Images scaled to [0, 1], same layout. */
            size_t px = 3 * S * S;
            for (size_t p = 0; p < px; p += 17)
                ck_assert_float_eq(bt->images[k * px + p], d->images[i * px + p] / 255.f);
        }
        total += bt->size;
    }
    ck_assert_int_eq(total, n);
    ck_assert_int_eq(batches, (n + 63) / 64);
    ck_assert_int_eq(last, n % 64 ? n % 64 : 64);
    for (int64_t i = 0; i < d->n; i++)
        ck_assert_int_eq(seen[i], d->split[i] == SC_SPLIT_TRAIN ? 1 : 0);
    /* Same epoch, same order; next epoch, another order. */
    sc_batcher_start_epoch(b, 0);
    DT_OK(sc_batcher_next(b, &bt));
    ck_assert_int_eq(bt->indices[0], first_epoch0);
    int64_t ep0[64];
    memcpy(ep0, bt->indices, sizeof ep0);
    sc_batcher_start_epoch(b, 1);
    DT_OK(sc_batcher_next(b, &bt));
    ck_assert_int_ne(memcmp(ep0, bt->indices, sizeof ep0), 0);
    sc_batcher_free(b);

    /* drop_last, no shuffle, normalisation, caller-given order. */
    bo.shuffle = false;
    bo.drop_last = true;
    bo.batch_size = 100;
    bo.normalize = true;
    for (int c = 0; c < 3; c++) {
        bo.mean[c] = 0.5f;
        bo.std[c] = 0.25f;
    }
    DT_OK(sc_batcher_create(d, SC_SPLIT_TEST, &bo, &b));
    ck_assert_int_eq(sc_batcher_split_size(b), 430);
    ck_assert_int_eq(sc_batcher_num_batches(b), 4);
    int64_t got = 0;
    for (;;) {
        DT_OK(sc_batcher_next(b, &bt));
        if (!bt)
            break;
        ck_assert_int_eq(bt->size, 100);
        got++;
    }
    ck_assert_int_eq(got, 4);
    int64_t order[5] = {3, 3, 0, (int64_t)d->n - 1, 10};
    DT_OK(sc_batcher_start_order(b, order, 5));
    bo.drop_last = false;
    DT_OK(sc_batcher_next(b, &bt)); /* 5 < 100 and drop_last: nothing */
    ck_assert_ptr_null(bt);
    DT_OK(sc_batcher_gather(b, order, 5, &bt));
    ck_assert_int_eq(bt->size, 5);
    ck_assert_int_eq(bt->indices[1], 3);
    ck_assert_int_eq(bt->indices[3], d->n - 1);
    size_t px = 3 * S * S;
    int64_t i3 = 3;
    size_t p = 8 * S + 8;
    ck_assert_float_eq_tol(bt->images[0 * px + p], (d->images[i3 * px + p] / 255.f - 0.5f) / 0.25f,
                           1e-6);
    int64_t badidx = d->n;
    DT_FAILS(sc_batcher_start_order(b, &badidx, 1), SC_ERR_INVALID_ARG, "outside", NULL);
    sc_batcher_free(b);

    /* Channel statistics: the synthetic test images are black with an 8x8
     * square of 100 + 10y, 43 per class. */
    float mean[3], sd[3];
    DT_OK(sc_dataset_channel_stats(d, SC_SPLIT_TEST, mean, sd));
    double m = 0;
    for (int y = 0; y < 10; y++)
        m += (100 + 10 * y) / 255.0 * 64 / 256 / 10;
    ck_assert_float_eq_tol(mean[0], m, 1e-5);
    free(seen);
    sc_dataset_free(d);
    sc_dataset_free(src);
}
END_TEST

START_TEST(fashion_mnist_patch)
{
    if (access(SC_FASHION_MNIST_DIR "/train-images-idx3-ubyte.gz", R_OK) != 0) {
        fprintf(stderr, "SKIP fashion_mnist_patch: %s not installed "
                        "(apt-get install dataset-fashion-mnist)\n", SC_FASHION_MNIST_DIR);
        return;
    }
    sc_build_opts o;
    opts(&o, SC_VARIANT_PATCH, 1.0);
    o.source.max_train = 3000;
    o.source.max_test = 1000;
    sc_dataset *d;
    DT_OK(sc_dataset_build(&o, &d));
    int64_t counts[300];
    sc_dataset_group_counts(d, counts);
    int64_t tr = 0, te_aligned = 0, te = 0;
    for (int g = 0; g < 100; g++) {
        tr += counts[g];
        te += counts[200 + g];
        if (g / 10 == g % 10) {
            te_aligned += counts[200 + g];
        } else {
            ck_assert_int_eq(counts[g], 0); /* every training sample aligned */
        }
    }
    ck_assert_int_eq(tr, 2700);
    ck_assert_int_eq(te, 1000);
    /* Unbiased test: about a tenth aligned (each class spread evenly). */
    ck_assert_int_le(te_aligned, 110);
    ck_assert_int_ge(te_aligned, 90);
    sc_dataset_free(d);
}
END_TEST

/* Data-parallel sharding (sc_batcher_next_shard): for 1, 2 and 3 ranks,
 * odd split sizes and batch sizes, each rank's batcher gives a contiguous
 * slice of the batch one process gets, the slices (in rank order) are that
 * batch, their sizes are within one of each other, every rank sees the
 * same number of batches, and every training index is used exactly once per
 * epoch across the ranks, in two epochs. */
START_TEST(shards)
{
    static const int64_t sizes[] = {1, 2, 7, 13, 538, 601};
    static const int64_t batches[] = {1, 2, 5, 64, 1000};
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        int64_t n = sizes[si];
        sc_dataset *d;
        DT_OK(sc_dataset_create(n + 3, 1, 2, 2, 2, 1, &d));
        for (int64_t i = 0; i < n + 3; i++) {
            d->labels[i] = (int32_t)(i % 2);
            d->split[i] = i < n ? SC_SPLIT_TRAIN : SC_SPLIT_TEST; /* 3 others, never drawn */
        }
        DT_OK(sc_dataset_update_groups(d));
        int *seen = calloc((size_t)(n + 3), sizeof *seen);
        ck_assert_ptr_nonnull(seen);
        for (size_t bi = 0; bi < sizeof batches / sizeof batches[0]; bi++)
            for (int R = 1; R <= 3; R++) {
                sc_batch_opts bo = {.batch_size = batches[bi], .shuffle = true, .seed = 11,
                                    .no_images = true};
                sc_batcher *ref, *b[3];
                DT_OK(sc_batcher_create(d, SC_SPLIT_TRAIN, &bo, &ref));
                for (int r = 0; r < R; r++)
                    DT_OK(sc_batcher_create(d, SC_SPLIT_TRAIN, &bo, &b[r]));
                for (uint64_t epoch = 0; epoch < 2; epoch++) {
                    memset(seen, 0, (size_t)(n + 3) * sizeof *seen);
                    sc_batcher_start_epoch(ref, epoch);
                    for (int r = 0; r < R; r++)
                        sc_batcher_start_epoch(b[r], epoch);
                    int64_t steps = 0;
                    for (;;) {
                        const sc_batch *whole, *part;
                        DT_OK(sc_batcher_next(ref, &whole));
                        /* copy: each batcher owns its buffers */
                        int64_t want[1000], wn = whole ? whole->size : 0, pos = 0, lo = -1,
                                hi = -1;
                        if (whole)
                            memcpy(want, whole->indices, (size_t)wn * sizeof *want);
                        for (int r = 0; r < R; r++) {
                            DT_OK(sc_batcher_next_shard(b[r], r, R, &part));
                            ck_assert_msg(!part == !whole, "n %lld B %lld R %d rank %d step "
                                          "%lld: batch count differs", (long long)n,
                                          (long long)batches[bi], R, r, (long long)steps);
                            if (!part)
                                continue;
                            lo = lo < 0 || part->size < lo ? part->size : lo;
                            hi = part->size > hi ? part->size : hi;
                            for (int64_t k = 0; k < part->size; k++, pos++) {
                                ck_assert_int_lt(pos, wn);
                                ck_assert_int_eq(part->indices[k], want[pos]);
                                ck_assert_int_eq(part->labels[k], d->labels[want[pos]]);
                                seen[part->indices[k]]++;
                            }
                        }
                        if (!whole)
                            break;
                        ck_assert_int_eq(pos, wn);
                        ck_assert_int_le(hi - lo, 1);
                        steps++;
                    }
                    ck_assert_int_eq(steps, (n + batches[bi] - 1) / batches[bi]);
                    for (int64_t i = 0; i < n + 3; i++)
                        ck_assert_msg(seen[i] == (i < n ? 1 : 0),
                                      "n %lld B %lld R %d epoch %d: index %lld used %d times",
                                      (long long)n, (long long)batches[bi], R, (int)epoch,
                                      (long long)i, seen[i]);
                }
                sc_batcher_free(ref);
                for (int r = 0; r < R; r++)
                    sc_batcher_free(b[r]);
            }
        free(seen);
        sc_dataset_free(d);
    }
    /* a rank outside [0, nranks) */
    sc_dataset *d;
    DT_OK(sc_dataset_create(4, 1, 2, 2, 2, 1, &d));
    DT_OK(sc_dataset_update_groups(d));
    sc_batch_opts bo = {.batch_size = 2};
    sc_batcher *b;
    const sc_batch *bt;
    DT_OK(sc_batcher_create(d, SC_SPLIT_TRAIN, &bo, &b));
    DT_FAILS(sc_batcher_next_shard(b, 2, 2, &bt), SC_ERR_INVALID_ARG, "shard 2 of 2", NULL);
    DT_FAILS(sc_batcher_next_shard(b, 0, 0, &bt), SC_ERR_INVALID_ARG, "of 0 ranks", NULL);
    sc_batcher_free(b);
    sc_dataset_free(d);
}
END_TEST

int main(void)
{
    const tu_case cases[] = {
        {"build", 120, {assign_counts_rule, group_counts_match_rho, determinism,
                save_load_round_trip, bad_options, variant_pixels, spuco_groups_and_masks, batches,
                shards, fashion_mnist_patch}},
    };
    return dt_run(TU_SUITE("data_build", cases));
}
