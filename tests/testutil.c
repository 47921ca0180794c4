#define _XOPEN_SOURCE 700
#include "testutil.h"
#include "spurcl/io.h"
#include "spurcl/model.h"
#include "spurcl/data.h"

#include <ftw.h>
#include <string.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static sc_context *shared_ctx;

const char *tu_form_family = NULL, *tu_form = NULL;

sc_context *tu_ctx(void)
{
    if (!shared_ctx) {
        sc_status st = sc_context_create(NULL, &shared_ctx);
        ck_assert_msg(st == SC_OK, "cannot open a device: %s", sc_last_error());
    }
    return shared_ctx;
}

void tu_normal(sc_rng *rng, float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)sc_rng_normal(rng);
}

void tu_uniform(sc_rng *rng, float *x, size_t n, float lo, float hi)
{
    for (size_t i = 0; i < n; i++)
        x[i] = lo + (hi - lo) * (float)sc_rng_uniform(rng);
}

void tu_assert_close(const char *what, const float *got, const double *want, size_t n,
                     double rtol, double atol)
{
    size_t worst = 0;
    double worst_excess = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]);
        double excess = d - (atol + rtol * fabs(want[i]));
        if (isnan(got[i]) || excess > worst_excess) {
            worst_excess = isnan(got[i]) ? INFINITY : excess;
            worst = i;
        }
    }
    if (n)
        ck_assert_msg(worst_excess <= 0, "%s: element %zu: got %.9g, want %.9g (rtol %g, atol %g)",
                      what, worst, (double)got[worst], want[worst], rtol, atol);
}

sc_tensor *tu_tensor(int ndim, const int64_t *shape, const float *data)
{
    sc_tensor *t;
    TU_OK(sc_tensor_from_host(tu_ctx(), SC_F32, ndim, shape, data, &t));
    return t;
}

float *tu_download(const sc_tensor *t)
{
    size_t n = (size_t)sc_tensor_numel(t);
    float *h = malloc((n ? n : 1) * sizeof *h);
    ck_assert_ptr_nonnull(h);
    TU_OK(sc_tensor_download(t, h));
    return h;
}

int tu_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    /* No fork: one OpenCL context per process is far cheaper, and a crash is
     * still a failure of the whole executable. */
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    if (shared_ctx) {
        sc_context_free(shared_ctx);
        shared_ctx = NULL;
    }
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

void tu_assert_plot(const char *dir, const char *name, int w, int h, int64_t min_ink,
                    int64_t min_curve)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    uint8_t *px;
    int pw, ph, ch;
    sc_status st = sc_png_read(path, 3, &px, &pw, &ph, &ch);
    ck_assert_msg(st == SC_OK, "%s: %s", path, sc_last_error());
    ck_assert_msg(pw == w && ph == h, "%s is %dx%d, want %dx%d", path, pw, ph, w, h);
    int64_t ink = 0, curve = 0;
    for (int64_t i = 0; i < (int64_t)w * h; i++) {
        const uint8_t *p = px + 3 * i;
        ink += !(p[0] == 255 && p[1] == 255 && p[2] == 255);
        curve += p[0] == 31 && p[1] == 100 && p[2] == 200;
    }
    free(px);
    ck_assert_msg(ink >= min_ink && curve >= min_curve,
                  "%s: %lld pixels inked, %lld of the first curve's colour", path,
                  (long long)ink, (long long)curve);
}

char *tu_tmpdir(const char *prefix)
{
    char buf[256];
    snprintf(buf, sizeof buf, "/tmp/spurcl-%s-XXXXXX", prefix);
    char *t = strdup(buf);
    ck_assert_ptr_nonnull(t);
    ck_assert_ptr_nonnull(mkdtemp(t));
    return t;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void tu_rmtree(char *dir)
{
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}

float *tu_params_host(sc_model *m, size_t *total)
{
    size_t n = 0;
    for (size_t i = 0; i < sc_model_param_count(m); i++)
        n += (size_t)sc_var_numel(sc_model_param(m, i));
    float *h = malloc(n * sizeof *h), *p = h;
    for (size_t i = 0; i < sc_model_param_count(m); i++) {
        TU_OK(sc_tensor_download(sc_var_tensor(sc_model_param(m, i)), p));
        p += sc_var_numel(sc_model_param(m, i));
    }
    *total = n;
    return h;
}

sc_dataset *tu_toy_bars(int64_t ntrain, int64_t nval, int64_t ntest, uint64_t seed, int every)
{
    int64_t n = ntrain + nval + ntest;
    sc_dataset *d;
    TU_OK(sc_dataset_create(n, 1, 8, 8, 2, 2, &d));
    sc_rng rng;
    sc_rng_seed(&rng, seed);
    for (int64_t i = 0; i < n; i++) {
        int split = i < ntrain ? SC_SPLIT_TRAIN : i < ntrain + nval ? SC_SPLIT_VAL : SC_SPLIT_TEST;
        int y = (int)(i % 2);
        int a = split != SC_SPLIT_TRAIN ? (int)((i / 2) % 2)
                : every > 0 && (i / 2) % every == 0 ? 1 - y
                                                    : y;
        uint8_t *img = d->images + i * 64;
        for (int p = 0; p < 64; p++) {
            double v = 60 + 40 * sc_rng_normal(&rng);
            img[p] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
        int off = (int)sc_rng_below(&rng, 4) + 2; /* bar position 2..5 */
        for (int k = 1; k < 7; k++) {
            int p = y == 0 ? off * 8 + k : k * 8 + off;
            img[p] = (uint8_t)(img[p] + 70 > 255 ? 255 : img[p] + 70);
        }
        int mx = a == 0 ? 0 : 6;
        for (int dy = 0; dy < 2; dy++)
            for (int dx = 0; dx < 2; dx++)
                img[dy * 8 + mx + dx] = 255;
        d->labels[i] = y;
        d->attrs[i] = a;
        d->split[i] = split;
    }
    TU_OK(sc_dataset_update_groups(d));
    return d;
}
