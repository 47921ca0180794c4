/* The LA-SSL sampler (docs/methods.md, section 2; formulas in include/spurcl/ssl.h):
 * per-sample learning speeds as a moving average of exp(cos / tau), weights
 * from the r-quantile of the speeds, draws with replacement. Host C only:
 * the per-step cost is one exp and one multiply-add per drawn sample. */
#include "base/base.h"
#include "spurcl/ssl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct sc_la_sampler {
    sc_la_config cfg;
    uint64_t seed;
    int64_t n;
    int64_t *idx;          /* slot -> dataset index */
    int64_t *slot_of;      /* dataset index -> slot (-1: not in the set) */
    int64_t max_index;     /* size of slot_of */
    double *v;             /* speeds */
    int64_t *seen;         /* times observed */
    uint8_t *seen_flag;    /* seen > 0, for sc_la_weights */
    double *p;             /* weights */
    double *cdf;           /* scratch for draws */
    void *block;           /* one allocation holding the arrays above */
    bool active;
    double s_star;
};

void sc_la_config_default(sc_la_config *c)
{
    c->quantile = 0.1;
    c->gamma = 10.0;
    c->eta = 0.1;
    c->warmup = 10;
    c->every = 2;
    c->tau = 0.5;
}

sc_status sc_la_config_check(const sc_la_config *c)
{
    if (!(c->quantile >= 0 && c->quantile <= 1))
        return sc_error_set(SC_ERR_INVALID_ARG, "LA quantile r = %g is not in [0, 1]", c->quantile);
    if (!(c->gamma >= 0) || !isfinite(c->gamma))
        return sc_error_set(SC_ERR_INVALID_ARG, "LA gamma = %g must be finite and >= 0", c->gamma);
    if (!(c->eta > 0 && c->eta <= 1))
        return sc_error_set(SC_ERR_INVALID_ARG, "LA EMA coefficient eta = %g is not in (0, 1]",
                            c->eta);
    if (c->warmup < 0 || c->every < 1)
        return sc_error_set(SC_ERR_INVALID_ARG,
                            "LA warm-up (%d) must be >= 0 and the period (%d) >= 1", c->warmup,
                            c->every);
    if (!(c->tau > 0) || !isfinite(c->tau))
        return sc_error_set(SC_ERR_INVALID_ARG, "LA temperature tau = %g must be > 0", c->tau);
    return SC_OK;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double quantile_sorted(const double *s, int64_t n, double r)
{
    double pos = r * (double)(n - 1);
    int64_t lo = (int64_t)floor(pos);
    if (lo < 0)
        lo = 0;
    if (lo >= n - 1)
        return s[n - 1];
    double frac = pos - (double)lo;
    return s[lo] + frac * (s[lo + 1] - s[lo]);
}

double sc_la_quantile(const double *x, int64_t n, double r)
{
    if (n < 1)
        return NAN;
    double *s = malloc((size_t)n * sizeof *s);
    if (!s)
        return NAN;
    memcpy(s, x, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    double q = quantile_sorted(s, n, r);
    free(s);
    return q;
}

sc_status sc_la_weights(const double *v, const uint8_t *seen, int64_t n, double r, double gamma,
                        double *p, double *s_star)
{
    if (s_star)
        *s_star = NAN;
    if (n < 1)
        return sc_error_set(SC_ERR_INVALID_ARG, "LA weights of an empty set");
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++)
        m += seen[i] != 0;
    if (m == 0) {
        for (int64_t i = 0; i < n; i++)
            p[i] = 1.0 / (double)n;
        return SC_OK;
    }
    double *s = malloc((size_t)m * sizeof *s);
    if (!s)
        return sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of host memory (LA weights)");
    for (int64_t i = 0, k = 0; i < n; i++)
        if (seen[i]) {
            if (!isfinite(v[i])) {
                free(s);
                return sc_error_set(SC_ERR_NUMERIC, "LA speed of sample slot %lld is %g",
                                    (long long)i, v[i]);
            }
            s[k++] = v[i];
        }
    qsort(s, (size_t)m, sizeof *s, cmp_double);
    double q = quantile_sorted(s, m, r);
    free(s);
    double hsum = 0;
    for (int64_t i = 0; i < n; i++)
        if (seen[i]) {
            double h = q - gamma * (v[i] - q);
            p[i] = h > 0 ? h : 0.0;
            hsum += p[i];
        }
    double hmean = hsum / (double)m, total = hsum + hmean * (double)(n - m);
    if (!(total > 0) || !isfinite(total)) {
        for (int64_t i = 0; i < n; i++)
            p[i] = 1.0 / (double)n;
    } else {
        for (int64_t i = 0; i < n; i++)
            p[i] = (seen[i] ? p[i] : hmean) / total;
    }
    if (s_star)
        *s_star = q;
    return SC_OK;
}

void sc_la_sampler_free(sc_la_sampler *s)
{
    if (!s)
        return;
    free(s->block);
    free(s);
}

sc_status sc_la_sampler_create(const sc_la_config *cfg, const int64_t *idx, int64_t n,
                               uint64_t seed, sc_la_sampler **out)
{
    *out = NULL;
    SC_TRY(sc_la_config_check(cfg));
    if (n < 1)
        return sc_error_set(SC_ERR_INVALID_ARG, "the LA sampler needs at least one sample");
    int64_t mx = -1;
    for (int64_t i = 0; i < n; i++) {
        if (idx[i] < 0)
            return sc_error_set(SC_ERR_INVALID_ARG, "LA sampler: negative dataset index %lld",
                                (long long)idx[i]);
        if (idx[i] > mx)
            mx = idx[i];
    }
    sc_la_sampler *s = calloc(1, sizeof *s);
    if (!s)
        return sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of host memory (LA sampler)");
    s->cfg = *cfg;
    s->seed = seed;
    s->n = n;
    s->max_index = mx + 1;
    /* five arrays of n 8-byte values, slot_of, then the n flags; zeroed */
    size_t words = 5 * (size_t)n + (size_t)s->max_index;
    s->block = calloc(words * 8 + (size_t)n, 1);
    if (!s->block) {
        free(s);
        return sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of host memory (LA sampler)");
    }
    int64_t *w = s->block;
    s->idx = w;
    s->seen = w + n;
    s->v = (double *)(w + 2 * n);
    s->p = (double *)(w + 3 * n);
    s->cdf = (double *)(w + 4 * n);
    s->slot_of = w + 5 * n;
    s->seen_flag = (uint8_t *)(w + words);
    for (int64_t i = 0; i < s->max_index; i++)
        s->slot_of[i] = -1;
    for (int64_t i = 0; i < n; i++) {
        if (s->slot_of[idx[i]] >= 0) {
            int64_t dup = idx[i];
            sc_la_sampler_free(s);
            return sc_error_set(SC_ERR_INVALID_ARG, "LA sampler: dataset index %lld listed twice",
                                (long long)dup);
        }
        s->idx[i] = idx[i];
        s->slot_of[idx[i]] = i;
        s->p[i] = 1.0 / (double)n;
    }
    s->s_star = NAN;
    *out = s;
    return SC_OK;
}

sc_status sc_la_sampler_observe(sc_la_sampler *s, const int64_t *ids, const float *cos,
                                int64_t m)
{
    double eta = s->cfg.eta, inv_tau = 1.0 / s->cfg.tau;
    for (int64_t k = 0; k < m; k++) {
        int64_t j = ids[k] >= 0 && ids[k] < s->max_index ? s->slot_of[ids[k]] : -1;
        if (j < 0)
            return sc_error_set(SC_ERR_INVALID_ARG,
                                "LA sampler: dataset index %lld is not one of its samples",
                                (long long)ids[k]);
        double c = (double)cos[k];
        if (!isfinite(c))
            return sc_error_set(SC_ERR_NUMERIC, "LA sampler: cosine of dataset index %lld is %g",
                                (long long)ids[k], c);
        double sim = exp(c * inv_tau);
        s->v[j] = s->seen[j] ? (1.0 - eta) * s->v[j] + eta * sim : sim;
        s->seen[j]++;
        s->seen_flag[j] = 1;
    }
    return SC_OK;
}

sc_status sc_la_sampler_recompute(sc_la_sampler *s)
{
    SC_TRY(sc_la_weights(s->v, s->seen_flag, s->n, s->cfg.quantile, s->cfg.gamma, s->p,
                         &s->s_star));
    s->active = true;
    return SC_OK;
}

sc_status sc_la_sampler_draw(const sc_la_sampler *s, uint64_t epoch, int64_t *order)
{
    double acc = 0;
    for (int64_t i = 0; i < s->n; i++) {
        acc += s->p[i];
        s->cdf[i] = acc;
    }
    if (!(acc > 0))
        return sc_error_set(SC_ERR_NUMERIC, "LA sampler: the weights sum to %g", acc);
    sc_rng r;
    sc_rng_seed_stream(&r, s->seed ^ 0x6c612d73736c2121ULL /* "la-ssl!!" */, epoch);
    for (int64_t k = 0; k < s->n; k++) {
        double u = sc_rng_uniform(&r) * acc;
        /* first slot with cdf > u (zero-weight slots are never chosen) */
        int64_t lo = 0, hi = s->n - 1;
        while (lo < hi) {
            int64_t mid = lo + (hi - lo) / 2;
            if (s->cdf[mid] > u)
                hi = mid;
            else
                lo = mid + 1;
        }
        while (lo > 0 && s->p[lo] <= 0) /* rounding at the top end */
            lo--;
        order[k] = s->idx[lo];
    }
    return SC_OK;
}

sc_status sc_la_sampler_begin_epoch(sc_la_sampler *s, int epoch, int64_t *order, bool *use_order)
{
    *use_order = false;
    if (epoch < s->cfg.warmup)
        return SC_OK;
    if (!s->active || (epoch - s->cfg.warmup) % s->cfg.every == 0)
        SC_TRY(sc_la_sampler_recompute(s));
    SC_TRY(sc_la_sampler_draw(s, (uint64_t)epoch, order));
    *use_order = true;
    return SC_OK;
}

const sc_la_config *sc_la_sampler_config(const sc_la_sampler *s) { return &s->cfg; }
int64_t sc_la_sampler_size(const sc_la_sampler *s) { return s->n; }
const int64_t *sc_la_sampler_indices(const sc_la_sampler *s) { return s->idx; }
const double *sc_la_sampler_speeds(const sc_la_sampler *s) { return s->v; }
const int64_t *sc_la_sampler_seen(const sc_la_sampler *s) { return s->seen; }
const double *sc_la_sampler_weights(const sc_la_sampler *s) { return s->p; }
bool sc_la_sampler_active(const sc_la_sampler *s) { return s->active; }
double sc_la_sampler_s_star(const sc_la_sampler *s) { return s->s_star; }

sc_status sc_la_sampler_restore(sc_la_sampler *s, const double *speeds, const int64_t *seen,
                                const double *weights, double s_star)
{
    for (int64_t i = 0; i < s->n; i++)
        if (seen[i] < 0 || (seen[i] > 0 && !isfinite(speeds[i])) ||
            (weights && !(weights[i] >= 0 && isfinite(weights[i]))))
            return sc_error_set(SC_ERR_FORMAT, "LA sampler state: invalid entry at slot %lld",
                                (long long)i);
    memcpy(s->v, speeds, (size_t)s->n * sizeof *s->v);
    memcpy(s->seen, seen, (size_t)s->n * sizeof *s->seen);
    for (int64_t i = 0; i < s->n; i++)
        s->seen_flag[i] = seen[i] > 0;
    if (weights) {
        memcpy(s->p, weights, (size_t)s->n * sizeof *s->p);
        s->active = true;
        s->s_star = s_star;
    } else {
        for (int64_t i = 0; i < s->n; i++)
            s->p[i] = 1.0 / (double)s->n;
        s->active = false;
        s->s_star = NAN;
    }
    return SC_OK;
}
