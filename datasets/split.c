/* Splits and groups: carving val out of the training part, and assigning
 * attributes per class so that group counts match rho to the nearest
 * sample (train) or are balanced (val, test). */
#include "ds_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Gives `extra` of the listed attribute values one more sample, chosen at
 * random without repetition. */
static void spread_remainder(int64_t *counts, int *vals, int nvals, int64_t extra, sc_rng *rng)
{
    for (int i = nvals; i > 1; i--) {
        int j = (int)sc_rng_below(rng, (uint64_t)i);
        int t = vals[i - 1];
        vals[i - 1] = vals[j];
        vals[j] = t;
    }
    for (int64_t k = 0; k < extra && k < nvals; k++)
        counts[vals[k]]++;
}

void sc_assign_counts(int64_t n, double rho, int aligned, int num_attrs, sc_rng *rng,
                      int64_t *counts)
{
    memset(counts, 0, sizeof(int64_t) * (size_t)num_attrs);
    if (num_attrs <= 1) {
        counts[0] = n;
        return;
    }
    int64_t al = (int64_t)floor(rho * (double)n + 0.5);
    if (al > n)
        al = n;
    if (al < 0)
        al = 0;
    counts[aligned] = al;
    int64_t rest = n - al;
    int others = num_attrs - 1;
    int *vals = malloc(sizeof(int) * (size_t)others);
    int k = 0;
    for (int a = 0; a < num_attrs; a++)
        if (a != aligned) {
            counts[a] += rest / others;
            if (vals)
                vals[k++] = a;
        }
    if (vals)
        spread_remainder(counts, vals, others, rest % others, rng);
    free(vals);
}

/* Balanced: n / A each, the remainder to distinct random values. */
static void balanced_counts(int64_t n, int num_attrs, sc_rng *rng, int64_t *counts)
{
    int *vals = malloc(sizeof(int) * (size_t)num_attrs);
    for (int a = 0; a < num_attrs; a++) {
        counts[a] = n / num_attrs;
        if (vals)
            vals[a] = a;
    }
    if (vals)
        spread_remainder(counts, vals, num_attrs, n % num_attrs, rng);
    free(vals);
}

sc_status sc_ds_carve_val(const int32_t *labels, int32_t *role, int64_t n, int num_classes,
                          double fraction, uint64_t seed)
{
    int64_t *idx = malloc(sizeof(int64_t) * (size_t)(n ? n : 1));
    if (!idx)
        return sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of memory");
    for (int y = 0; y < num_classes; y++) {
        int64_t m = 0;
        for (int64_t i = 0; i < n; i++)
            if (role[i] == SC_SPLIT_TRAIN && labels[i] == y)
                idx[m++] = i;
        int64_t nv = (int64_t)floor(fraction * (double)m + 0.5);
        if (nv <= 0)
            continue;
        sc_rng rng;
        sc_ds_stream(&rng, seed, SC_STREAM_VAL, (uint64_t)y);
        /* Partial Fisher-Yates: the first nv after shuffling become val. */
        for (int64_t i = 0; i < nv; i++) {
            int64_t j = i + (int64_t)sc_rng_below(&rng, (uint64_t)(m - i));
            int64_t t = idx[i];
            idx[i] = idx[j];
            idx[j] = t;
            role[idx[i]] = SC_SPLIT_VAL;
        }
    }
    free(idx);
    return SC_OK;
}

sc_status sc_ds_assign_attrs(const int32_t *labels, const int32_t *role, int64_t n,
                             int num_classes, int num_attrs, double rho, bool val_biased,
                             uint64_t seed, int32_t *attrs)
{
    int64_t *idx = malloc(sizeof(int64_t) * (size_t)(n ? n : 1));
    int64_t *counts = malloc(sizeof(int64_t) * (size_t)num_attrs);
    if (!idx || !counts) {
        free(idx);
        free(counts);
        return sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of memory");
    }
    for (int s = 0; s < SC_SPLIT_COUNT; s++)
        for (int y = 0; y < num_classes; y++) {
            int64_t m = 0;
            for (int64_t i = 0; i < n; i++)
                if (role[i] == s && labels[i] == y)
                    idx[m++] = i;
            if (m == 0)
                continue;
            sc_rng rng;
            sc_ds_stream(&rng, seed, SC_STREAM_ASSIGN, (uint64_t)s << 32 | (uint64_t)y);
            int biased = s == SC_SPLIT_TRAIN || (s == SC_SPLIT_VAL && val_biased);
            if (biased)
                sc_assign_counts(m, rho, y % num_attrs, num_attrs, &rng, counts);
            else
                balanced_counts(m, num_attrs, &rng, counts);
            /* Random order within the class, then attribute blocks. */
            for (int64_t i = m; i > 1; i--) {
                int64_t j = (int64_t)sc_rng_below(&rng, (uint64_t)i);
                int64_t t = idx[i - 1];
                idx[i - 1] = idx[j];
                idx[j] = t;
            }
            int64_t k = 0;
            for (int a = 0; a < num_attrs; a++)
                for (int64_t c = 0; c < counts[a]; c++)
                    attrs[idx[k++]] = a;
        }
    free(idx);
    free(counts);
    return SC_OK;
}
