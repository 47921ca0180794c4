/* DFR: last-layer retraining on group-balanced validation subsets
 * (include/spurcl/train.h). Each fit is a run of the shared loop with the
 * whole subset as its one batch: an epoch is a FISTA iteration whose
 * gradient comes from the device and whose proximal step (soft threshold on
 * the small K x F head) is taken on the host in double.
 *
 * Under mpirun with N > 1 ranks the features are computed sharded and
 * gathered in order (sc_probe_features), so every rank holds them all; the
 * fits are then shared out, not cut: rank r runs the values of C and the
 * final fits whose index is r mod N, each whole, as one process would (a
 * fit is hundreds of tiny FISTA iterations: an all-reduce per iteration
 * would cost more than the iteration), and the tuning scores and the fitted
 * heads are summed over the ranks (each entry comes from one rank, the
 * others add zeros: exact), so every rank averages the same heads in the
 * same order as one process. The evaluations are sharded (sc_evaluate).
 * The caller writes the files, from rank 0. */
#include "base/dist.h"
#include "train/loop.h"
#include "train/train_internal.h"
#include "spurcl/nn.h"
#include "spurcl/ssl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DFR_SALT 0x6466722d73756273ULL /* "dfr-subs" */

void sc_dfr_config_default(sc_dfr_config *c)
{
    memset(c, 0, sizeof *c);
    static const double grid[7] = {1.0, 0.7, 0.3, 0.1, 0.07, 0.03, 0.01};
    memcpy(c->c_grid, grid, sizeof grid);
    c->n_c = 7;
    c->fits = 20;
    c->iterations = 500;
}

void sc_dfr_result_free(sc_dfr_result *r)
{
    if (!r)
        return;
    sc_model_free(r->model);
    sc_group_metrics_free(&r->val);
    sc_group_metrics_free(&r->test);
    memset(r, 0, sizeof *r);
}

/* Standardised features of every sample, at its dataset index. */
typedef struct feats {
    float *z;       /* [d->n, F] (rows of samples outside train/val/test unused) */
    double *mean, *inv_std;
    int F;
} feats;

static sc_status features(sc_context *ctx, sc_model *m, const sc_dataset *d, feats *fs)
{
    int F = fs->F = sc_model_feature_dim(m);
    fs->z = calloc((size_t)d->n * (size_t)F + 1, sizeof *fs->z);
    fs->mean = calloc((size_t)F, sizeof *fs->mean);
    fs->inv_std = calloc((size_t)F, sizeof *fs->inv_std);
    if (!fs->z || !fs->mean || !fs->inv_std)
        return sc_oom("dfr features");
    for (int s = 0; s < SC_SPLIT_COUNT; s++) {
        float *f;
        int64_t *idx, n;
        SC_TRY(sc_probe_features(ctx, m, d, (sc_split)s, 512, &f, &idx, &n));
        for (int64_t i = 0; i < n; i++)
            memcpy(fs->z + (size_t)idx[i] * (size_t)F, f + (size_t)i * (size_t)F,
                   (size_t)F * sizeof *f);
        free(f);
        free(idx);
    }
    int64_t ntr = 0;
    for (int64_t i = 0; i < d->n; i++) {
        if (d->split[i] != SC_SPLIT_TRAIN)
            continue;
        ntr++;
        for (int j = 0; j < F; j++)
            fs->mean[j] += fs->z[(size_t)i * (size_t)F + (size_t)j];
    }
    if (ntr < 2)
        return sc_error_set(SC_ERR_INVALID_ARG, "dfr standardises with the training split's "
                                                "statistics: it has %lld samples",
                            (long long)ntr);
    for (int j = 0; j < F; j++)
        fs->mean[j] /= (double)ntr;
    for (int64_t i = 0; i < d->n; i++)
        if (d->split[i] == SC_SPLIT_TRAIN)
            for (int j = 0; j < F; j++) {
                double v = fs->z[(size_t)i * (size_t)F + (size_t)j] - fs->mean[j];
                fs->inv_std[j] += v * v;
            }
    for (int j = 0; j < F; j++)
        fs->inv_std[j] = 1.0 / sqrt(fs->inv_std[j] / (double)ntr + 1e-6);
    for (int64_t i = 0; i < d->n; i++)
        for (int j = 0; j < F; j++) {
            float *v = &fs->z[(size_t)i * (size_t)F + (size_t)j];
            *v = (float)(((double)*v - fs->mean[j]) * fs->inv_std[j]);
        }
    return SC_OK;
}

/* A group-balanced subset of pool[0..n): every group present cut to the
 * smallest present group's size, members drawn without repetition from the
 * stream (seed, stream). Returns the subset's size. */
static int64_t balanced_subset(const sc_dataset *d, const int64_t *pool, int64_t n,
                               uint64_t seed, uint64_t stream, int64_t *out)
{
    int G = d->num_classes * d->num_attrs;
    int64_t *count = calloc((size_t)G, sizeof *count), *work = malloc(((size_t)n + 1) * sizeof *work);
    if (!count || !work) {
        free(count);
        free(work);
        return -1;
    }
    for (int64_t i = 0; i < n; i++)
        count[d->groups[pool[i]]]++;
    int64_t least = -1;
    for (int g = 0; g < G; g++)
        if (count[g] && (least < 0 || count[g] < least))
            least = count[g];
    sc_rng r;
    sc_rng_seed_stream(&r, seed ^ DFR_SALT, stream);
    int64_t m = 0;
    for (int g = 0; g < G; g++) {
        int64_t k = 0;
        for (int64_t i = 0; i < n; i++)
            if (d->groups[pool[i]] == g)
                work[k++] = pool[i];
        for (int64_t i = 0; i < least && i < k; i++) { /* partial Fisher-Yates */
            int64_t j = i + (int64_t)sc_rng_below(&r, (uint64_t)(k - i));
            int64_t t = work[i];
            work[i] = work[j];
            work[j] = t;
            out[m++] = work[i];
        }
    }
    free(count);
    free(work);
    return m;
}

/* One fit: the trainer state of a FISTA run. */
typedef struct dfr_fit {
    const sc_dataset *d;
    const feats *fs;
    int K, F;
    double lambda, step;     /* ||W||_1 weight and 1 / L */
    double *w, *wprev, *y;   /* [K * (F + 1)]: W row-major, then b */
    double t;
    sc_var *params[2], *grads[2];
    float *xb, *hw, *gw;
    const int64_t *order;
    int64_t n;
} dfr_fit;

static sc_status fit_order(void *self, int epoch, const int64_t **order, int64_t *n)
{
    (void)epoch;
    dfr_fit *f = self;
    *order = f->order;
    *n = f->n;
    return SC_OK;
}

static sc_status fit_step(void *self, sc_graph *g, const sc_batch *bt, sc__dp *dp, double *v,
                         int64_t *w)
{
    (void)dp; /* a fit runs on one rank (rank_local): no exchange */
    dfr_fit *f = self;
    int K = f->K, F = f->F;
    size_t nw = (size_t)K * (size_t)F, np = nw + (size_t)K;
    for (int64_t i = 0; i < bt->size; i++)
        memcpy(f->xb + (size_t)i * (size_t)F, f->fs->z + (size_t)bt->indices[i] * (size_t)F,
               (size_t)F * sizeof *f->xb);
    for (size_t k = 0; k < np; k++)
        f->hw[k] = (float)f->y[k];
    SC_TRY(sc_tensor_upload(sc_var_tensor(f->params[0]), f->hw));
    SC_TRY(sc_tensor_upload(sc_var_tensor(f->params[1]), f->hw + nw));
    int64_t xs[2] = {bt->size, F}, ls[1] = {bt->size};
    sc_var *x = sc_var_from_host(g, 2, xs, f->xb, false);
    sc_var *y = sc_var_from_host_i32(g, 1, ls, bt->labels);
    sc_var *loss = sc_nn_cross_entropy(g, sc_nn_linear(g, x, f->params[0], f->params[1]), y,
                                       NULL, SC_LOSS_MEAN);
    float lv = NAN;
    SC_TRY(sc_graph_status(g));
    SC_TRY(sc_grad(g, 1, &loss, NULL, 2, f->params, false, f->grads));
    SC_TRY(sc_tensor_download(sc_var_tensor(loss), &lv));
    SC_TRY(sc_tensor_download(sc_var_tensor(f->grads[0]), f->gw));
    SC_TRY(sc_tensor_download(sc_var_tensor(f->grads[1]), f->gw + nw));
    v[0] = lv;
    static const char *const names[1] = {"loss"};
    SC_TRY(sc__check_finite("dfr", v, names, 1));
    /* the proximal step at y, then FISTA's momentum */
    double thr = f->lambda * f->step, t1 = (1 + sqrt(1 + 4 * f->t * f->t)) / 2;
    for (size_t k = 0; k < np; k++) {
        double u = f->y[k] - f->step * f->gw[k];
        if (k < nw)
            u = u > thr ? u - thr : u < -thr ? u + thr : 0;
        f->wprev[k] = f->w[k];
        f->w[k] = u;
        f->y[k] = u + (f->t - 1) / t1 * (u - f->wprev[k]);
    }
    f->t = t1;
    *w = bt->size;
    return SC_OK;
}

/* Fits a head on the samples order[0..n) with regularisation C; w gets
 * [W (K x F), b (K)]. */
static sc_status fit(sc_context *ctx, const sc_dataset *d, const feats *fs,
                     const sc_dfr_config *cfg, double c, const int64_t *order, int64_t n,
                     const char *label, double *w)
{
    int K = d->num_classes, F = fs->F;
    size_t np = (size_t)K * (size_t)(F + 1);
    dfr_fit f = {.d = d, .fs = fs, .K = K, .F = F, .order = order, .n = n, .t = 1};
    /* L of the mean cross-entropy's gradient: 1/2 the mean squared norm of
     * [z, 1] bounds the largest eigenvalue of its Hessian */
    double sq = 0;
    for (int64_t i = 0; i < n; i++) {
        for (int j = 0; j < F; j++) {
            double v = fs->z[(size_t)order[i] * (size_t)F + (size_t)j];
            sq += v * v;
        }
        sq += 1;
    }
    f.step = n ? 1.0 / (0.5 * sq / (double)n) : 0;
    f.lambda = 1.0 / (c * (double)n);
    f.w = calloc(np, sizeof *f.w);
    f.wprev = calloc(np, sizeof *f.wprev);
    f.y = calloc(np, sizeof *f.y);
    f.xb = malloc(((size_t)n * (size_t)F + 1) * sizeof *f.xb);
    f.hw = malloc(np * sizeof *f.hw);
    f.gw = malloc(np * sizeof *f.gw);
    sc_status st = !f.w || !f.wprev || !f.y || !f.xb || !f.hw || !f.gw ? sc_oom("dfr") : SC_OK;
    if (st == SC_OK && n < 1)
        st = sc_error_set(SC_ERR_INVALID_ARG, "dfr: an empty balanced subset");
    int dims[2] = {F, K};
    sc_mlp *head = NULL;
    if (st == SC_OK)
        st = sc_mlp_create(ctx, "dfr", dims, 1, &head);
    if (st == SC_OK) {
        f.params[0] = sc_mlp_param(head, 0);
        f.params[1] = sc_mlp_param(head, 1);
        sc_run_config run = {.epochs = cfg->iterations, .batch_size = n, .seed = cfg->seed,
                             .label = label, .progress = cfg->progress,
                             .progress_ud = cfg->progress_ud};
        sc_optim_config_default(&run.optim, SC_OPT_SGD);
        sc_trainer t = {.name = "dfr", .self = &f, .nvalues = 1,
                        .values = {{"loss", "loss"}}, .no_images = true, .quiet_epochs = true,
                        .rank_local = true, .step = fit_step, .begin_epoch = fit_order};
        sc_loop_result lr;
        st = sc_loop_run(ctx, d, &run, &t, &lr);
    }
    if (st == SC_OK)
        memcpy(w, f.w, np * sizeof *w);
    sc_mlp_free(head);
    free(f.w);
    free(f.wprev);
    free(f.y);
    free(f.xb);
    free(f.hw);
    free(f.gw);
    return st;
}

/* Worst-group accuracy of a head on samples idx[0..n) (host, double). */
static double head_wga(const sc_dataset *d, const feats *fs, const double *w, const int64_t *idx,
                       int64_t n)
{
    int K = d->num_classes, F = fs->F, G = K * d->num_attrs;
    int64_t *ok = calloc((size_t)G, sizeof *ok), *tot = calloc((size_t)G, sizeof *tot);
    double worst = NAN;
    for (int64_t i = 0; ok && tot && i < n; i++) {
        const float *z = fs->z + (size_t)idx[i] * (size_t)F;
        int best = 0;
        double bv = -INFINITY;
        for (int k = 0; k < K; k++) {
            double s = w[(size_t)K * (size_t)F + (size_t)k];
            for (int j = 0; j < F; j++)
                s += w[(size_t)k * (size_t)F + (size_t)j] * z[j];
            if (s > bv) {
                bv = s;
                best = k;
            }
        }
        int g = d->groups[idx[i]];
        tot[g]++;
        ok[g] += best == d->labels[idx[i]];
    }
    for (int g = 0; ok && tot && g < G; g++)
        if (tot[g]) {
            double a = (double)ok[g] / (double)tot[g];
            worst = isnan(worst) || a < worst ? a : worst;
        }
    free(ok);
    free(tot);
    return worst;
}

/* The model with its head replaced: W z + b on z = (f - mean) * inv_std is
 * (W inv_std) f + (b - W (mean inv_std)). */
static sc_status fold_head(sc_context *ctx, sc_model *src, const feats *fs, const double *w,
                           int K, sc_model **out)
{
    sc_model *m;
    SC_TRY(sc_model_create(ctx, sc_model_get_config(src), &m));
    sc_status st = SC_OK;
    for (size_t i = 0; st == SC_OK && i < sc_model_param_count(src); i++)
        st = sc_tensor_copy(sc_var_tensor(sc_model_param(m, i)),
                            sc_var_tensor(sc_model_param(src, i)));
    for (size_t i = 0; st == SC_OK && i < sc_model_buffer_count(src); i++) {
        const sc_model_buffer *a = sc_model_buffer_at(src, i), *b = sc_model_buffer_at(m, i);
        if (a->tensor)
            st = sc_tensor_copy(b->tensor, a->tensor);
        else
            *b->count = *a->count;
    }
    int F = fs->F;
    float *hw = malloc(((size_t)K * (size_t)F + (size_t)K) * sizeof *hw);
    if (st == SC_OK && !hw)
        st = sc_oom("dfr");
    for (int k = 0; st == SC_OK && k < K; k++) {
        double bias = w[(size_t)K * (size_t)F + (size_t)k];
        for (int j = 0; j < F; j++) {
            double wk = w[(size_t)k * (size_t)F + (size_t)j] * fs->inv_std[j];
            hw[(size_t)k * (size_t)F + (size_t)j] = (float)wk;
            bias -= wk * fs->mean[j];
        }
        hw[(size_t)K * (size_t)F + (size_t)k] = (float)bias;
    }
    /* the head's weight and bias: the last two parameters named as the head */
    int set = 0;
    for (size_t i = 0; st == SC_OK && i < sc_model_param_count(m); i++) {
        sc_var *p = sc_model_param(m, i);
        if (!sc_model_is_head_param(m, sc_var_name(p)))
            continue;
        bool weight = sc_var_ndim(p) == 2;
        if (sc_var_numel(p) != (weight ? (int64_t)K * F : K))
            st = sc_error_set(SC_ERR_UNSUPPORTED, "dfr: the head %s does not read the %d "
                                                  "features",
                              sc_var_name(p), F);
        else
            st = sc_tensor_upload(sc_var_tensor(p), weight ? hw : hw + (size_t)K * (size_t)F);
        set++;
    }
    if (st == SC_OK && set != 2)
        st = sc_error_set(SC_ERR_UNSUPPORTED, "dfr: the model's head is not one linear layer");
    free(hw);
    if (st != SC_OK) {
        sc_model_free(m);
        return st;
    }
    *out = m;
    return SC_OK;
}

sc_status sc__dfr_head(sc_context *ctx, const sc_dataset *d, const float *z, int F,
                       const sc_dfr_config *cfg, double *avg, double *chosen, double *tune_wga,
                       int64_t *subset)
{
    if (cfg->n_c < 1 || cfg->n_c > SC_DFR_MAX_C || cfg->fits < 1 || cfg->iterations < 1)
        return sc_error_set(SC_ERR_INVALID_ARG, "dfr needs 1..%d values of C, fits >= 1 and "
                                                "iterations >= 1",
                            SC_DFR_MAX_C);
    for (int i = 0; i < cfg->n_c; i++)
        if (!(cfg->c_grid[i] > 0))
            return sc_error_set(SC_ERR_INVALID_ARG, "dfr: C must be > 0, got %g", cfg->c_grid[i]);
    int K = d->num_classes;
    feats fs = {.z = (float *)z, .F = F};
    int64_t *val = NULL, nval = 0;
    sc_status st = sc_dataset_split_indices(d, SC_SPLIT_VAL, &val, &nval);
    if (st == SC_OK && nval < 4)
        st = sc_error_set(SC_ERR_INVALID_ARG, "dfr fits on the validation split: it has %lld "
                                              "samples",
                          (long long)nval);
    size_t np = (size_t)K * (size_t)(F + 1);
    int rank = sc_dist_rank(), N = sc_dist_size();
    int64_t *sub = malloc(((size_t)nval + 1) * sizeof *sub);
    double *w = calloc(np, sizeof *w);
    /* every final fit's head, at [k * np] (the ranks' fits summed) */
    double *heads = calloc(np * (size_t)cfg->fits, sizeof *heads);
    if (st == SC_OK && (!sub || !w || !heads))
        st = sc_oom("dfr");
    memset(avg, 0, np * sizeof *avg);
    /* tuning: one random half to fit, the other to score */
    if (st == SC_OK) {
        sc_rng r;
        sc_rng_seed_stream(&r, cfg->seed ^ DFR_SALT, 0);
        for (int64_t i = nval - 1; i > 0; i--) {
            int64_t j = (int64_t)sc_rng_below(&r, (uint64_t)i + 1);
            int64_t t = val[i];
            val[i] = val[j];
            val[j] = t;
        }
    }
    int64_t half = nval / 2;
    double best = -1;
    /* tuning: rank r scores the values of C with c = r mod N (the others
     * give 0 for them), then every rank has every score */
    for (int c = 0; st == SC_OK && c < cfg->n_c; c++) {
        tune_wga[c] = 0;
        if (c % N != rank)
            continue;
        int64_t m = balanced_subset(d, val, half, cfg->seed, 1, sub);
        char label[64];
        snprintf(label, sizeof label, "dfr tune C=%g", cfg->c_grid[c]);
        st = m < 0 ? sc_oom("dfr") : fit(ctx, d, &fs, cfg, cfg->c_grid[c], sub, m, label, w);
        if (st == SC_OK)
            tune_wga[c] = head_wga(d, &fs, w, val + half, nval - half);
    }
    if (st == SC_OK && N > 1)
        st = sc__dist_sum_f64(tune_wga, (size_t)cfg->n_c, "dfr's tuning scores");
    for (int c = 0; st == SC_OK && c < cfg->n_c; c++)
        if (tune_wga[c] > best) {
            best = tune_wga[c];
            *chosen = cfg->c_grid[c];
        }
    /* the final head: the average of fits on balanced subsets of all of val
     * (rank r fits k = r mod N, drawing only its own subsets, each from its
     * own stream, and the first for the size every subset has) */
    for (int k = 0; st == SC_OK && k < cfg->fits; k++) {
        if (k % N != rank && k > 0)
            continue;
        int64_t m = balanced_subset(d, val, nval, cfg->seed, 2 + (uint64_t)k, sub);
        if (m < 0) {
            st = sc_oom("dfr");
            break;
        }
        *subset = m;
        if (k % N != rank)
            continue;
        char label[64];
        snprintf(label, sizeof label, "dfr fit %d/%d", k + 1, cfg->fits);
        st = fit(ctx, d, &fs, cfg, *chosen, sub, m, label, heads + (size_t)k * np);
    }
    if (st == SC_OK && N > 1)
        st = sc__dist_sum_f64(heads, np * (size_t)cfg->fits, "dfr's fitted heads");
    for (int k = 0; st == SC_OK && k < cfg->fits; k++)
        for (size_t i = 0; i < np; i++)
            avg[i] += heads[(size_t)k * np + i] / cfg->fits;
    free(val);
    free(sub);
    free(w);
    free(heads);
    return st;
}

sc_status sc_dfr(sc_context *ctx, sc_model *model, const sc_dataset *d,
                 const sc_dfr_config *cfg, sc_dfr_result *out)
{
    memset(out, 0, sizeof *out);
    double t0 = sc_time_now();
    int K = d->num_classes;
    feats fs = {0};
    sc_status st = features(ctx, model, d, &fs);
    double *avg = calloc((size_t)K * (size_t)(fs.F + 1), sizeof *avg);
    if (st == SC_OK && !avg)
        st = sc_oom("dfr");
    if (st == SC_OK)
        st = sc__dfr_head(ctx, d, fs.z, fs.F, cfg, avg, &out->c, out->tune_wga, &out->subset);
    double *props = NULL;
    if (st == SC_OK)
        st = fold_head(ctx, model, &fs, avg, K, &out->model);
    if (st == SC_OK)
        st = sc_group_props(d, SC_SPLIT_TRAIN, &props);
    if (st == SC_OK)
        st = sc_evaluate(ctx, out->model, d, SC_SPLIT_VAL, props, 512, &out->val);
    if (st == SC_OK)
        st = sc_evaluate(ctx, out->model, d, SC_SPLIT_TEST, props, 512, &out->test);
    free(props);
    free(fs.z);
    free(fs.mean);
    free(fs.inv_std);
    free(avg);
    out->seconds = sc_time_now() - t0;
    if (st != SC_OK) {
        sc_dfr_result_free(out);
        return sc_error_wrap(st, "dfr");
    }
    return SC_OK;
}
