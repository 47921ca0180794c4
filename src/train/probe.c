/* Linear probe: encoder features computed once per split (graph not
 * recording), then a linear layer trained on the device on the training
 * split's features with the shared optimisers, evaluated per group with the
 * same definitions as sc_evaluate (accuracy, worst group, mean of groups,
 * average weighted by the training split's group shares, mean CE). */
#include "train/loop.h"
#include "train/train_internal.h"
#include "spurcl/nn.h"
#include "spurcl/ssl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PROBE_SALT 0x70726f6265212121ULL /* "probe!!!" */

void sc_probe_config_default(sc_probe_config *c)
{
    memset(c, 0, sizeof *c);
    c->label = "probe";
    sc_optim_config_default(&c->optim, SC_OPT_ADAMW);
    c->optim.weight_decay = 0.0f;
    c->optim.lr = 3e-3f;
    /* Features are computed once, so epochs are cheap; 20 epochs at 1e-3
     * left a 128-feature probe on 9,000 Fashion-MNIST images 3 points short
     * of its converged train accuracy (0.816 vs 0.846). */
    c->epochs = 100;
    c->batch_size = 256;
    c->log_every = SC_LOG_EVERY_DEFAULT;
    c->standardize = true;
}

void sc_probe_result_free(sc_probe_result *r)
{
    if (!r)
        return;
    sc_group_metrics_free(&r->val);
    sc_group_metrics_free(&r->test);
    memset(r, 0, sizeof *r);
}

sc_status sc__features_first(sc_context *ctx, sc_model *encoder, const sc_dataset *d,
                             sc_split split, int64_t batch_size, int64_t limit, float **feats,
                             int64_t **idx, int64_t *n)
{
    *feats = NULL;
    *idx = NULL;
    *n = 0;
    const sc_model_config *mc = sc_model_get_config(encoder);
    if (mc->in_channels != d->c || mc->height != d->h || mc->width != d->w)
        return sc_error_set(SC_ERR_INVALID_ARG,
                            "the encoder expects %dx%dx%d images, the data set has %dx%dx%d",
                            mc->in_channels, mc->height, mc->width, d->c, d->h, d->w);
    int F = sc_model_feature_dim(encoder);
    sc_batch_opts bo = {.batch_size = batch_size > 0 ? batch_size : 512};
    sc_batcher *b;
    SC_TRY(sc_batcher_create(d, split, &bo, &b));
    int64_t total = sc_batcher_split_size(b);
    if (limit > 0 && total > limit)
        total = limit;
    float *f = malloc(((size_t)total * (size_t)F + 1) * sizeof *f);
    int64_t *ix = malloc(((size_t)total + 1) * sizeof *ix);
    sc_graph *g = NULL;
    sc_status st = !f || !ix ? sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of host memory (features)")
                             : sc_graph_create(ctx, &g);
    if (st == SC_OK) {
        sc_graph_set_recording(g, false);
        sc_batcher_start_epoch(b, 0);
    }
    int64_t k = 0;
    const sc_batch *bt;
    while (st == SC_OK && k < total && (st = sc_batcher_next(b, &bt)) == SC_OK && bt) {
        int64_t m = bt->size < total - k ? bt->size : total - k;
        int64_t xs[4] = {m, bt->c, bt->h, bt->w};
        sc_var *x = sc_var_from_host(g, 4, xs, bt->images, false);
        sc_var *z = sc_model_features(encoder, g, x, false);
        if ((st = sc_graph_status(g)) == SC_OK)
            st = sc_tensor_download(sc_var_tensor(z), f + (size_t)k * (size_t)F);
        memcpy(ix + k, bt->indices, (size_t)m * sizeof *ix);
        k += m;
        sc_graph_reset(g);
    }
    sc_graph_free(g);
    sc_batcher_free(b);
    if (st != SC_OK) {
        free(f);
        free(ix);
        return sc_error_wrap(st, "computing %s features", sc_split_name(split));
    }
    *feats = f;
    *idx = ix;
    *n = k;
    return SC_OK;
}

sc_status sc_probe_features(sc_context *ctx, sc_model *encoder, const sc_dataset *d,
                            sc_split split, int64_t batch_size, float **feats, int64_t **idx,
                            int64_t *n)
{
    return sc__features_first(ctx, encoder, d, split, batch_size, 0, feats, idx, n);
}

typedef struct split_feats {
    float *f;
    int64_t *idx;
    int64_t n;
} split_feats;

/* Logits of the linear layer for every row, on the device (not recorded). */
static sc_status logits_of(sc_context *ctx, sc_var *w, sc_var *bias, const split_feats *s, int F,
                           int K, float *out)
{
    sc_graph *g;
    SC_TRY(sc_graph_create(ctx, &g));
    sc_graph_set_recording(g, false);
    sc_status st = SC_OK;
    const int64_t chunk = 4096;
    for (int64_t i = 0; st == SC_OK && i < s->n; i += chunk) {
        int64_t m = s->n - i < chunk ? s->n - i : chunk;
        int64_t xs[2] = {m, F};
        sc_var *x = sc_var_from_host(g, 2, xs, s->f + (size_t)i * (size_t)F, false);
        sc_var *lg = sc_nn_linear(g, x, w, bias);
        if ((st = sc_graph_status(g)) == SC_OK)
            st = sc_tensor_download(sc_var_tensor(lg), out + (size_t)i * (size_t)K);
        sc_graph_reset(g);
    }
    sc_graph_free(g);
    return st;
}

/* Group metrics from logits (definitions of sc_evaluate). */
static sc_status metrics_of(const sc_dataset *d, const split_feats *s, const float *logits,
                            const double *props, sc_group_metrics *out)
{
    SC_TRY(sc__group_metrics_init(out, d));
    int K = d->num_classes, G = out->num_groups;
    double loss = 0;
    for (int64_t i = 0; i < s->n; i++) {
        const float *row = logits + (size_t)i * (size_t)K;
        int best = sc__argmax(row, K);
        double mx = row[best];
        double se = 0;
        for (int k = 0; k < K; k++)
            se += exp((double)row[k] - mx);
        int y = d->labels[s->idx[i]], grp = d->groups[s->idx[i]];
        loss += mx + log(se) - (double)row[y];
        if (grp < 0 || grp >= G)
            continue;
        out->total[grp]++;
        out->correct[grp] += best == y;
    }
    sc__group_metrics_summarize(out, props);
    out->loss = s->n ? loss / (double)s->n : NAN;
    return SC_OK;
}

typedef struct probe {
    const sc_dataset *d;
    const sc_probe_config *cfg;
    split_feats *tr;
    int F;
    int64_t *row_of;      /* dataset index -> row of the training features */
    int64_t *order;       /* the epoch's order (dataset indices) */
    uint32_t *perm;
    float *xb;
    sc_mlp *head;
    sc_optim *opt;
    sc_var *params[2], *grads[2];
} probe;

/* The probe's own shuffle of the training rows (a stream of its seed). */
static sc_status probe_begin_epoch(void *self, int epoch, const int64_t **order, int64_t *n)
{
    probe *p = self;
    int64_t ntr = p->tr->n;
    sc_rng r;
    sc_rng_seed_stream(&r, p->cfg->seed ^ PROBE_SALT, (uint64_t)epoch + 1);
    for (int64_t i = 0; i < ntr; i++)
        p->perm[i] = (uint32_t)i;
    sc_rng_shuffle_u32(&r, p->perm, (uint64_t)ntr);
    for (int64_t i = 0; i < ntr; i++)
        p->order[i] = p->tr->idx[p->perm[i]];
    *order = p->order;
    *n = ntr;
    return SC_OK;
}

static sc_status probe_step(void *self, sc_graph *g, const sc_batch *bt, double *v, int64_t *w)
{
    probe *p = self;
    int64_t m = bt->size;
    for (int64_t i = 0; i < m; i++)
        memcpy(p->xb + (size_t)i * (size_t)p->F,
               p->tr->f + (size_t)p->row_of[bt->indices[i]] * (size_t)p->F,
               (size_t)p->F * sizeof *p->xb);
    int64_t xs[2] = {m, p->F}, ls[1] = {m};
    sc_var *x = sc_var_from_host(g, 2, xs, p->xb, false);
    sc_var *y = sc_var_from_host_i32(g, 1, ls, bt->labels);
    sc_var *loss = sc_nn_cross_entropy(g, sc_mlp_forward(p->head, g, x), y, NULL, SC_LOSS_MEAN);
    float lv = NAN;
    SC_TRY(sc_graph_status(g));
    SC_TRY(sc_grad(g, 1, &loss, NULL, 2, p->params, false, p->grads));
    SC_TRY(sc_tensor_download(sc_var_tensor(loss), &lv));
    v[0] = lv;
    static const char *const names[1] = {"loss"};
    SC_TRY(sc__check_finite("probe", v, names, 1));
    SC_TRY(sc_optim_step(p->opt, p->grads, NULL));
    *w = m;
    return SC_OK;
}

/* z-scores every feature with the training split's mean and std. */
static void standardize(split_feats *sp, int F)
{
    const split_feats *tr = &sp[SC_SPLIT_TRAIN];
    for (int j = 0; j < F; j++) {
        double s1 = 0, s2 = 0;
        for (int64_t i = 0; i < tr->n; i++) {
            double v = tr->f[(size_t)i * (size_t)F + (size_t)j];
            s1 += v;
            s2 += v * v;
        }
        double mean = s1 / (double)tr->n, var = s2 / (double)tr->n - mean * mean;
        double inv = 1.0 / sqrt((var > 0 ? var : 0) + 1e-6);
        for (int s = 0; s < SC_SPLIT_COUNT; s++)
            for (int64_t i = 0; i < sp[s].n; i++) {
                float *v = &sp[s].f[(size_t)i * (size_t)F + (size_t)j];
                *v = (float)(((double)*v - mean) * inv);
            }
    }
}

sc_status sc_probe(sc_context *ctx, sc_model *encoder, const sc_dataset *d,
                   const sc_probe_config *cfg_in, sc_probe_result *out)
{
    memset(out, 0, sizeof *out);
    sc_probe_config cfg = *cfg_in;
    cfg.run_dir = NULL; /* the probe writes no files */
    cfg.resume = false;
    cfg.select = SC_SELECT_LAST;
    if (cfg.epochs < 1 || cfg.batch_size < 1)
        return sc_error_set(SC_ERR_INVALID_ARG, "the probe needs epochs >= 1 and batch size >= 1");
    double t0 = sc_time_now();
    int F = sc_model_feature_dim(encoder), K = d->num_classes;
    split_feats sp[SC_SPLIT_COUNT] = {{0}};
    probe p = {.d = d, .cfg = &cfg, .tr = &sp[SC_SPLIT_TRAIN], .F = F};
    sc_status st = SC_OK;
    for (int s = 0; st == SC_OK && s < SC_SPLIT_COUNT; s++)
        st = sc_probe_features(ctx, encoder, d, (sc_split)s, 512, &sp[s].f, &sp[s].idx, &sp[s].n);
    if (st == SC_OK && sp[SC_SPLIT_TRAIN].n < 1)
        st = sc_error_set(SC_ERR_INVALID_ARG, "the probe needs a non-empty training split");
    if (st == SC_OK && cfg.standardize)
        standardize(sp, F);
    int64_t ntr = sp[SC_SPLIT_TRAIN].n;
    double *props = NULL;
    if (st == SC_OK) {
        p.xb = malloc((size_t)cfg.batch_size * (size_t)F * sizeof *p.xb);
        p.perm = malloc(((size_t)ntr + 1) * sizeof *p.perm);
        p.order = malloc(((size_t)ntr + 1) * sizeof *p.order);
        p.row_of = malloc(((size_t)d->n + 1) * sizeof *p.row_of);
        if (!p.xb || !p.perm || !p.order || !p.row_of)
            st = sc_oom("probe");
    }
    for (int64_t i = 0; st == SC_OK && i < ntr; i++)
        p.row_of[sp[SC_SPLIT_TRAIN].idx[i]] = i;
    if (st == SC_OK) {
        int dims[2] = {F, K};
        st = sc_mlp_create(ctx, "probe", dims, 1, &p.head);
    }
    if (st == SC_OK)
        st = sc_mlp_init(p.head, cfg.seed ^ PROBE_SALT);
    if (st == SC_OK) {
        p.params[0] = sc_mlp_param(p.head, 0);
        p.params[1] = sc_mlp_param(p.head, 1);
        st = sc_loop_optim_create(ctx, d, &cfg.run, p.params, 2, &p.opt);
    }
    sc_trainer t = {
        .name = "probe",
        .self = &p,
        .nvalues = 1,
        .values = {{"train_loss", "loss"}},
        .no_images = true,
        .step = probe_step,
        .begin_epoch = probe_begin_epoch,
    };
    sc_loop_result lr;
    if (st == SC_OK)
        st = sc_loop_run(ctx, d, &cfg.run, &t, &lr);
    if (st == SC_OK)
        st = sc_group_props(d, SC_SPLIT_TRAIN, &props);
    float *lg = NULL;
    if (st == SC_OK) {
        int64_t mx = 1;
        for (int s = 0; s < SC_SPLIT_COUNT; s++)
            mx = sp[s].n > mx ? sp[s].n : mx;
        lg = malloc((size_t)mx * (size_t)K * sizeof *lg);
        if (!lg)
            st = sc_oom("probe");
    }
    if (st == SC_OK && (st = logits_of(ctx, p.params[0], p.params[1], p.tr, F, K, lg)) == SC_OK) {
        sc_group_metrics tm;
        if ((st = metrics_of(d, p.tr, lg, props, &tm)) == SC_OK) {
            out->train_acc = tm.accuracy;
            sc_group_metrics_free(&tm);
        }
    }
    if (st == SC_OK &&
        (st = logits_of(ctx, p.params[0], p.params[1], &sp[SC_SPLIT_VAL], F, K, lg)) == SC_OK)
        st = metrics_of(d, &sp[SC_SPLIT_VAL], lg, props, &out->val);
    if (st == SC_OK &&
        (st = logits_of(ctx, p.params[0], p.params[1], &sp[SC_SPLIT_TEST], F, K, lg)) == SC_OK)
        st = metrics_of(d, &sp[SC_SPLIT_TEST], lg, props, &out->test);
    free(lg);
    free(props);
    sc_optim_free(p.opt);
    sc_mlp_free(p.head);
    free(p.xb);
    free(p.perm);
    free(p.order);
    free(p.row_of);
    for (int s = 0; s < SC_SPLIT_COUNT; s++) {
        free(sp[s].f);
        free(sp[s].idx);
    }
    out->feature_dim = F;
    out->seconds = sc_time_now() - t0;
    if (st != SC_OK) {
        sc_probe_result_free(out);
        return sc_error_wrap(st, "linear probe");
    }
    return SC_OK;
}
