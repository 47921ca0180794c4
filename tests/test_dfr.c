/* DFR: balanced subsets, the choice of C, the L1 head's optimality
 * conditions checked in double precision on the host, and the fitted head
 * ignoring a spurious feature that balancing decorrelates. Features are
 * made here; the data set only carries labels, groups and splits. */
#include "suite.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spurcl/train.h"
#include "train/train_internal.h"

#define F 3

/* Val groups (y, a) of the given sizes (g = 2y + a), then as many train and
 * test samples; z[i] = (core, spurious, noise): core = +-1 by class,
 * spurious = +-1 by attribute, plus noise. */
static sc_dataset *make(const int64_t val_sizes[4], float **z_out, uint64_t seed)
{
    int64_t nval = 0;
    for (int g = 0; g < 4; g++)
        nval += val_sizes[g];
    int64_t n = 3 * nval;
    sc_dataset *d;
    TU_OK(sc_dataset_create(n, 1, 1, 1, 2, 2, &d));
    float *z = malloc((size_t)n * F * sizeof *z);
    sc_rng r;
    sc_rng_seed(&r, seed);
    int64_t i = 0;
    for (int s = 0; s < 3; s++)
        for (int g = 0; g < 4; g++)
            for (int64_t k = 0; k < val_sizes[g]; k++, i++) {
                int y = g / 2, a = g % 2;
                d->labels[i] = y;
                d->attrs[i] = a;
                d->split[i] = s == 0 ? SC_SPLIT_VAL : s == 1 ? SC_SPLIT_TRAIN : SC_SPLIT_TEST;
                z[i * F + 0] = (float)((2 * y - 1) + 0.7 * sc_rng_normal(&r));
                z[i * F + 1] = (float)((2 * a - 1) + 0.1 * sc_rng_normal(&r));
                z[i * F + 2] = (float)sc_rng_normal(&r);
            }
    TU_OK(sc_dataset_update_groups(d));
    *z_out = z;
    return d;
}

START_TEST(dfr_subsets_and_choice_of_c)
{
    /* the majority groups (y == a) dominate val */
    static const int64_t sizes[4] = {300, 40, 50, 280};
    float *z;
    sc_dataset *d = make(sizes, &z, 1);
    sc_dfr_config c;
    sc_dfr_config_default(&c);
    c.n_c = 2;
    c.c_grid[0] = 1e-4; /* so strong that every weight is 0 */
    c.c_grid[1] = 1.0;
    c.fits = 5;
    c.seed = 3;
    double w[2 * F + 2], chosen = 0, tune[SC_DFR_MAX_C];
    int64_t subset = 0;
    TU_OK(sc__dfr_head(tu_ctx(), d, z, F, &c, w, &chosen, tune, &subset));
    printf("  dfr: held-out worst-group %.3f (C 1e-4), %.3f (C 1); chosen C %g; subset %lld; "
           "W = [%.3f %.3f %.3f; %.3f %.3f %.3f]\n",
           tune[0], tune[1], chosen, (long long)subset, w[0], w[1], w[2], w[3], w[4], w[5]);
    ck_assert_int_eq(subset, 4 * 40); /* every group cut to the smallest, 40 */
    ck_assert(tune[0] <= 0.5);        /* a constant head gets one class wrong */
    ck_assert(tune[1] > 0.9);
    ck_assert(chosen == 1.0);
    /* balancing decorrelates the attribute: the head reads the core feature */
    for (int k = 0; k < 2; k++)
        ck_assert_msg(fabs(w[k * F + 1]) < 0.2 * fabs(w[k * F + 0]),
                      "row %d: spurious weight %.4f, core %.4f", k, w[k * F + 1], w[k * F + 0]);
    sc_dataset_free(d);
    free(z);
}
END_TEST

START_TEST(dfr_head_is_the_l1_optimum)
{
    /* equal groups: the balanced subset is the whole val, so the optimality
     * conditions can be checked on it: for mean CE + lambda ||W||_1,
     * |dL/dW + lambda sign(W)| ~ 0 where W != 0, |dL/dW| <= lambda where
     * W = 0, and dL/db ~ 0 */
    static const int64_t sizes[4] = {60, 60, 60, 60};
    float *z;
    sc_dataset *d = make(sizes, &z, 2);
    sc_dfr_config c;
    sc_dfr_config_default(&c);
    c.n_c = 1;
    c.c_grid[0] = 0.05;
    c.fits = 1;
    c.iterations = 3000;
    double w[2 * F + 2], chosen, tune[SC_DFR_MAX_C];
    int64_t subset;
    TU_OK(sc__dfr_head(tu_ctx(), d, z, F, &c, w, &chosen, tune, &subset));
    ck_assert_int_eq(subset, 240);
    double lambda = 1.0 / (0.05 * 240), gw[2 * F] = {0}, gb[2] = {0};
    int zeros = 0;
    for (int64_t i = 0; i < d->n; i++) {
        if (d->split[i] != SC_SPLIT_VAL)
            continue;
        double s[2], mx = -INFINITY, se = 0;
        for (int k = 0; k < 2; k++) {
            s[k] = w[2 * F + k];
            for (int j = 0; j < F; j++)
                s[k] += w[k * F + j] * z[i * F + j];
            mx = fmax(mx, s[k]);
        }
        for (int k = 0; k < 2; k++)
            se += exp(s[k] - mx);
        for (int k = 0; k < 2; k++) {
            double p = exp(s[k] - mx) / se - (k == d->labels[i]);
            for (int j = 0; j < F; j++)
                gw[k * F + j] += p * z[i * F + j] / 240.0;
            gb[k] += p / 240.0;
        }
    }
    for (int k = 0; k < 2; k++) {
        ck_assert_msg(fabs(gb[k]) < 1e-4, "bias %d: gradient %.3g", k, gb[k]);
        for (int j = 0; j < F; j++) {
            double wk = w[k * F + j], g = gw[k * F + j];
            if (wk == 0) {
                zeros++;
                ck_assert_msg(fabs(g) <= lambda + 1e-4, "W[%d][%d] = 0 with |grad| %.4g > %.4g",
                              k, j, fabs(g), lambda);
            } else {
                ck_assert_msg(fabs(g + lambda * (wk > 0 ? 1 : -1)) < 1e-4,
                              "W[%d][%d] = %.4g: grad %.4g + lambda sign %.4g", k, j, wk, g,
                              lambda * (wk > 0 ? 1 : -1));
            }
        }
    }
    /* the L1 penalty zeroes the uninformative features */
    ck_assert_int_ge(zeros, 2);
    printf("  dfr optimum: W = [%.4f %.4f %.4f; %.4f %.4f %.4f], %d zeros, lambda %.4f\n", w[0],
           w[1], w[2], w[3], w[4], w[5], zeros, lambda);
    sc_dataset_free(d);
    free(z);
}
END_TEST

int main(void)
{
    const tu_case cases[] = {
        {"dfr", 600, {dfr_subsets_and_choice_of_c, dfr_head_is_the_l1_optimum}},
    };
    return tu_run(TU_SUITE("dfr", cases));
}
