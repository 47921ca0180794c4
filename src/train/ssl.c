/* Self-supervised pre-training on the shared loop (src/train/loop.c):
 * SimCLR (NT-Xent) or BarlowTwins on two device-augmented views, an encoder
 * from the model module and a projector Linear-ReLU-Linear (sc_mlp),
 * uniform or LA-SSL sampling (src/train/lassl.c).
 *
 * Per step: the batch's images are augmented into 2B views by one kernel,
 * the encoder and projector run once on all 2B, z1 / z2 are the two halves,
 * the loss gives the gradient of encoder + projector; cos(z1_i, z2_i) is
 * downloaded ([B] floats) and fed to the sampler's speeds, in both sampling
 * modes (uniform runs log the same curves). Labels and attributes are read
 * only to log per-group speeds and weight masses.
 *
 * Checkpoints (last.safetensors, written by the loop): the encoder under its
 * model names (a plain sc_checkpoint_load reads it) with its optimiser
 * state (the projector's too), and as extra tensors the projector and the
 * sampler state. */
#include "base/dist.h"
#include "train/loop.h"
#include "train/train_internal.h"
#include "spurcl/nn.h"
#include "spurcl/ssl.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- names and defaults -------------------------------------------------- */

static const char *const method_names[] = {"simclr", "barlow"};
static const char *const method_aliases[] = {"barlowtwins", "barlow", NULL};
SC_ENUM_FUNCS(sc_ssl_method, ssl_method, "method", method_names, method_aliases)

static const char *const sampler_names[] = {"uniform", "la"};
SC_ENUM_FUNCS(sc_ssl_sampler, ssl_sampler, "sampler", sampler_names, NULL)

void sc_ssl_config_default(sc_ssl_config *c)
{
    memset(c, 0, sizeof *c);
    /* A resnet of width 8 (stages of 8, 16, 32, 64 channels, global average
     * pooling, batch norm): on the 54,000 clean Fashion-MNIST images 2
     * epochs of SimCLR probe 8.2 points above the same resnet with random
     * weights, 4 of BarlowTwins 6.5 (3 seeds), where the cnn's random
     * features are so strong that pre-training gains 3.6 at most (README,
     * 'spurcl ssl and spurcl probe'). --encoder cnn keeps its batch norms. */
    sc_model_config_default(&c->model, SC_MODEL_RESNET, 0, 0, 0, 0);
    c->model.resnet_width = 8;
    c->model.cnn_norm = SC_CNN_NORM_BATCH;
    sc_optim_config_default(&c->optim, SC_OPT_ADAMW);
    /* AdamW 4e-3 with 100 warm-up steps and a cosine decay to the end: on
     * the 54,000 images, 5 epochs, seed 0, its probe's val accuracy was
     * 0.872 against 0.863 for 2e-3 and 0.866 for a constant 1e-3 (README) */
    c->optim.lr = 4e-3f;
    c->optim.schedule = SC_SCHED_COSINE;
    c->optim.warmup_steps = 100;
    c->method = SC_SSL_SIMCLR;
    /* Tuned on clean Fashion-MNIST (cnn, 20 epochs on 9,000 images, linear
     * probe; README "Self-supervised pre-training"): tau 0.5 -> 0.2 and crops
     * of 20-100 % -> 50-100 % of the area without pixel noise took the probe
     * from the random encoder's level to 2 points above it; the augmentation
     * module's own defaults stay torchvision's. */
    c->temperature = 0.2f;
    c->offdiag = 0.0051f;
    /* 0: the method's projector (sc_ssl_config_resolve) */
    c->proj_hidden = 0;
    c->proj_dim = 0;
    /* Batch norm in the projector (the SimCLR / BarlowTwins papers'
     * projector): on the cnn, 5 epochs of it probe above 10 epochs without
     * (0.863 against 0.856, seed 0). */
    c->proj_norm = SC_CNN_NORM_BATCH;
    sc_augment_config_default(&c->augment);
    c->augment.scale_min = 0.5f;
    c->augment.noise_std = 0.0f;
    c->sampler = SC_SAMPLER_UNIFORM;
    sc_la_config_default(&c->la);
    c->la.tau = 0; /* the NT-Xent temperature */
    /* the module's warm-up of 10 epochs (every 2) would never end within the
     * 2 default epochs: uniform for 1, then weights every epoch */
    c->la.warmup = 1;
    c->la.every = 1;
    /* 0: the method's (sc_ssl_config_resolve) */
    c->epochs = 0;
    c->batch_size = 256;
    c->log_every = SC_LOG_EVERY_DEFAULT;
    c->knn_every = 1;
    sc_knn_config_default(&c->knn);
}

void sc_ssl_result_free(sc_ssl_result *r)
{
    if (!r)
        return;
    sc_model_free(r->encoder);
    memset(r, 0, sizeof *r);
}

/* ---- per-epoch statistics (logging only) --------------------------------- */

static bool is_aligned(const sc_dataset *d, int64_t i)
{
    return d->attrs[i] == d->labels[i] % (d->num_attrs > 0 ? d->num_attrs : 1);
}

typedef struct epoch_stats {
    double speed_mean, speed_aligned, speed_conflicting;
    double *speed_group;       /* [G], NaN for groups with no seen sample */
    double mass_aligned, mass_conflicting;        /* the sampling distribution */
    double la_mass_aligned, la_mass_conflicting;  /* LA weights from the current speeds */
    double la_s_star;
    double seen_fraction;
} epoch_stats;

static sc_status compute_stats(const sc_dataset *d, const sc_la_sampler *la, bool weighted,
                               epoch_stats *es)
{
    int G = d->num_classes * d->num_attrs;
    int64_t n = sc_la_sampler_size(la);
    const int64_t *idx = sc_la_sampler_indices(la), *seen = sc_la_sampler_seen(la);
    const double *v = sc_la_sampler_speeds(la), *p = sc_la_sampler_weights(la);
    double *gs = calloc((size_t)G, sizeof *gs);
    int64_t *gc = calloc((size_t)G, sizeof *gc);
    if (!gs || !gc) {
        free(gs);
        free(gc);
        return sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of host memory (ssl statistics)");
    }
    double sa = 0, sc = 0, sall = 0, ma = 0, mc = 0;
    int64_t na = 0, nc = 0, nall = 0;
    for (int64_t k = 0; k < n; k++) {
        int64_t i = idx[k];
        bool al = is_aligned(d, i);
        double pk = weighted ? p[k] : 1.0 / (double)n;
        if (al)
            ma += pk;
        else
            mc += pk;
        if (!seen[k])
            continue;
        sall += v[k];
        nall++;
        if (al) {
            sa += v[k];
            na++;
        } else {
            sc += v[k];
            nc++;
        }
        int g = d->groups[i];
        if (g >= 0 && g < G) {
            gs[g] += v[k];
            gc[g]++;
        }
    }
    for (int g = 0; g < G; g++)
        gs[g] = gc[g] ? gs[g] / (double)gc[g] : NAN;
    free(gc);
    es->speed_group = gs;
    es->speed_mean = nall ? sall / (double)nall : NAN;
    es->speed_aligned = na ? sa / (double)na : NAN;
    es->speed_conflicting = nc ? sc / (double)nc : NAN;
    es->mass_aligned = ma;
    es->mass_conflicting = mc;
    es->seen_fraction = (double)nall / (double)n;
    es->la_mass_aligned = es->la_mass_conflicting = NAN;
    es->la_s_star = NAN;
    return SC_OK;
}

/* ---- the trainer ---------------------------------------------------------------- */

#define PROJ_SALT 0x70726f6a6563746fULL /* "projecto" */
#define MAX_EXTRA 8

typedef struct ssl {
    sc_context *ctx;
    const sc_dataset *d;
    const sc_ssl_config *cfg;
    sc_model *m;
    sc_mlp *pj;
    sc_optim *opt;
    sc_la_sampler *la;
    sc_var **params, **grads;
    size_t nparams, np_model;
    int64_t *order;           /* the epoch's LA draws */
    uint64_t *ids;            /* per batch: stream ids of the samples' views */
    float *cosb;              /* per batch: cos(z1_i, z2_i) */
    double *scratch;          /* LA weights from the current speeds (statistics) */
    int epoch;                /* the current epoch (0-based): the views' streams use it */
    int64_t pos, drawn_conf;  /* this epoch: positions drawn, conflicting among them */
    bool weighted;            /* this epoch was drawn from LA weights */
    double sampler_s;         /* sampler bookkeeping, all epochs of this call */
    epoch_stats es;
    sc_group_metrics knn;     /* the last k-NN evaluation */
    bool has_val;             /* the data set has a validation split */
    char note[160];
    /* checkpoint extras: the projector, its optimiser state, the sampler */
    sc_checkpoint_tensor extra[MAX_EXTRA];
    char extra_names[MAX_EXTRA][128];
    size_t nextra;
    double *load_v, *load_p;
    int64_t *load_c, *load_i;
} ssl;

static sc_status ssl_begin_epoch(void *self, int epoch, const int64_t **order, int64_t *n)
{
    ssl *s = self;
    double ts = sc_time_now();
    bool use_order = false;
    sc_status st = SC_OK;
    if (s->cfg->sampler == SC_SAMPLER_LA)
        st = sc_la_sampler_begin_epoch(s->la, epoch, s->order, &use_order);
    s->sampler_s += sc_time_now() - ts;
    s->weighted = use_order;
    s->epoch = epoch;
    s->pos = s->drawn_conf = 0;
    *order = use_order ? s->order : NULL;
    *n = sc_la_sampler_size(s->la);
    return st;
}

/* Counts the batch's conflicting draws (for the epoch's statistics) and
 * advances the epoch's position. */
static void note_draws(ssl *s, const sc_batch *bt)
{
    for (int64_t i = 0; i < bt->size; i++)
        s->drawn_conf += !is_aligned(s->d, bt->indices[i]);
    s->pos += bt->size;
}

/* Both augmented views of the batch's B samples (streams keyed by their
 * position in the global batch) through the encoder and the projector:
 * *z = [view 1; view 2] ([2B, D]) on the tape, *cs the positive pairs'
 * cosines ([B]) off it. */
static sc_status project_views(ssl *s, sc_graph *g, const sc_batch *bt, sc_var **z, sc_var **cs)
{
    int64_t B = bt->size;
    for (int64_t i = 0; i < B; i++)
        s->ids[i] = (uint64_t)(bt->offset + i);
    sc_tensor *xt;
    SC_TRY(sc_augment_batch(s->ctx, &s->cfg->augment, bt->images, B, bt->c, bt->h, bt->w,
                            s->cfg->seed, (uint64_t)s->epoch, s->ids, NULL, &xt));
    sc_var *f = sc_model_features(s->m, g, sc_var_wrap(g, xt, false), true);
    *z = sc_mlp_forward(s->pj, g, f);
    sc_graph_set_recording(g, false);
    *cs = sc_nn_cosine_rows(g, sc_nn_slice(g, *z, 0, 0, B), sc_nn_slice(g, *z, 0, B, B), 1e-8f);
    sc_graph_set_recording(g, true);
    return sc_graph_status(g);
}

static sc_var *ssl_loss(const sc_ssl_config *cfg, sc_graph *g, sc_var *z1, sc_var *z2)
{
    return cfg->method == SC_SSL_BARLOW ? sc_nn_barlow_twins(g, z1, z2, cfg->offdiag)
                                        : sc_nn_nt_xent(g, z1, z2, cfg->temperature);
}

/* After the gradients: the loss must be finite, the optimiser steps, and the
 * sampler observes the n samples `idx` with positive-pair cosines `cos`
 * (the whole global batch under mpirun); v = {loss, mean cosine of this
 * rank's B samples}, weight B. */
static sc_status finish_step(ssl *s, float lv, const int64_t *idx, const float *cos, int64_t n,
                             int64_t B, double *v, int64_t *w)
{
    v[0] = lv;
    static const char *const name[1] = {"loss"};
    SC_TRY(sc__check_finite(sc_ssl_method_name(s->cfg->method), v, name, 1));
    SC_TRY(sc_optim_step(s->opt, s->grads, NULL));
    double ts = sc_time_now();
    sc_status st = sc_la_sampler_observe(s->la, idx, cos, n);
    s->sampler_s += sc_time_now() - ts;
    double cos_sum = 0;
    for (int64_t i = 0; i < B; i++)
        cos_sum += s->cosb[i];
    v[1] = B > 0 ? cos_sum / (double)B : 0;
    *w = B;
    return st;
}

static sc_status ssl_step_dp(ssl *s, sc_graph *g, const sc_batch *bt, sc__dp *dp, double *v,
                             int64_t *w);

static sc_status ssl_step(void *self, sc_graph *g, const sc_batch *bt, sc__dp *dp, double *v,
                         int64_t *w)
{
    ssl *s = self;
    if (sc_dist_size() > 1)
        return ssl_step_dp(s, g, bt, dp, v, w);
    int64_t B = bt->size;
    *w = 0;
    note_draws(s, bt);
    if (B < 2) /* BarlowTwins' batch statistics need two samples */
        return SC_OK;
    sc_var *z, *cs;
    SC_TRY(project_views(s, g, bt, &z, &cs));
    sc_var *loss = ssl_loss(s->cfg, g, sc_nn_slice(g, z, 0, 0, B), sc_nn_slice(g, z, 0, B, B));
    SC_TRY(sc_graph_status(g));
    SC_TRY(sc_grad(g, 1, &loss, NULL, (int)s->nparams, s->params, false, s->grads));
    float lv = NAN;
    SC_TRY(sc_tensor_download(sc_var_tensor(loss), &lv));
    SC_TRY(sc_tensor_download(sc_var_tensor(cs), s->cosb));
    return finish_step(s, lv, bt->indices, s->cosb, B, B, v, w);
}

/* Data-parallel (src/train/loop.h): each rank projects its slice of the
 * global batch; the embeddings are all-gathered, so every rank computes the
 * loss of the whole batch (NT-Xent with every other sample as a negative,
 * BarlowTwins' statistics and cross-correlation over the whole batch) and
 * its gradient with respect to the gathered embeddings; a rank then
 * back-propagates only its own rows through its encoder and projector, and
 * the ranks' parameter gradients are summed, which is the whole batch's
 * gradient. (Averaging the ranks' losses instead would drop the terms
 * between samples of different ranks.) Batch norm sees the rank's slice. */
/* counts[r] = bytes of rank r's slice of G samples (sc_batcher_next_shard:
 * [G r / N, G (r + 1) / N)) at `unit` bytes a sample */
static void slice_bytes(int64_t G, int N, int64_t unit, int *counts)
{
    for (int r = 0; r < N; r++)
        counts[r] = (int)((G * (r + 1) / N - G * r / N) * unit);
}

static sc_status ssl_step_dp(ssl *s, sc_graph *g, const sc_batch *bt, sc__dp *dp, double *v,
                             int64_t *w)
{
    const sc_ssl_config *cfg = s->cfg;
    int64_t B = bt->size, G = bt->global_size;
    int N = sc_dist_size(), rank = sc_dist_rank();
    *w = 0;
    note_draws(s, bt);
    if (G < 2) /* as one process: BarlowTwins' batch statistics need two samples */
        return SC_OK;
    int D = cfg->proj_dim;
    /* rank r's slice is [G r / N, G (r + 1) / N) (sc_batcher_next_shard) */
    int *counts = malloc((size_t)N * sizeof *counts);
    float *zl = malloc(((size_t)(2 * B) * (size_t)D + 1) * sizeof *zl);
    float *za = malloc((size_t)(2 * G) * (size_t)D * sizeof *za);
    float *zg = malloc((size_t)(2 * G) * (size_t)D * sizeof *zg);
    /* the whole batch's indices and positive-pair cosines, for the speeds */
    int64_t *ia = malloc((size_t)G * sizeof *ia);
    float *ca = malloc((size_t)G * sizeof *ca);
    sc_status st = counts && zl && za && zg && ia && ca ? SC_OK
                                                        : sc_oom("the gathered embeddings");
    int64_t lo = G * rank / N;
    if (st == SC_OK) {
        slice_bytes(G, N, (int64_t)sizeof *ia, counts);
        st = sc__dist_allgather(bt->indices, counts, ia, "the step's sample indices");
    }
    sc_var *z = NULL;
    if (st == SC_OK && B > 0) {
        sc_var *cs;
        st = project_views(s, g, bt, &z, &cs); /* z: [2B, D], view 1 then view 2 */
        if (st == SC_OK)
            st = sc_tensor_download(sc_var_tensor(z), zl);
        if (st == SC_OK)
            st = sc_tensor_download(sc_var_tensor(cs), s->cosb);
    }
    if (st == SC_OK) {
        slice_bytes(G, N, 2 * D * (int64_t)sizeof *zl, counts);
        st = sc__dist_allgather(zl, counts, za, "the step's embeddings");
    }
    if (st == SC_OK) {
        slice_bytes(G, N, (int64_t)sizeof *ca, counts);
        st = sc__dist_allgather(s->cosb, counts, ca, "the step's cosines");
    }
    /* za holds rank 0's [view 1; view 2], rank 1's, ...: reorder into
     * zg = [view 1 of the whole batch; view 2 of the whole batch] */
    for (int r = 0, off = 0; st == SC_OK && r < N; r++) {
        int64_t rlo = G * r / N, rn = G * (r + 1) / N - rlo;
        memcpy(zg + rlo * D, za + off, (size_t)(rn * D) * sizeof *zg);
        memcpy(zg + (G + rlo) * D, za + off + rn * D, (size_t)(rn * D) * sizeof *zg);
        off += (int)(2 * rn * D);
    }
    float lv = NAN;
    if (st == SC_OK) {
        int64_t zs[2] = {G, D};
        sc_var *z1 = sc_var_from_host(g, 2, zs, zg, true);
        sc_var *z2 = sc_var_from_host(g, 2, zs, zg + G * D, true);
        sc_var *loss = ssl_loss(cfg, g, z1, z2);
        sc_var *in[2] = {z1, z2}, *gz[2] = {NULL, NULL};
        st = sc_graph_status(g);
        if (st == SC_OK)
            st = sc_grad(g, 1, &loss, NULL, 2, in, false, gz);
        if (st == SC_OK)
            st = sc_tensor_download(sc_var_tensor(loss), &lv);
        /* this rank's rows of the gradient, in z's order */
        if (st == SC_OK && B > 0 && gz[0] && gz[1]) {
            st = sc_tensor_download(sc_var_tensor(gz[0]), zg);
            if (st == SC_OK)
                st = sc_tensor_download(sc_var_tensor(gz[1]), zg + G * D);
            if (st == SC_OK) {
                memcpy(zl, zg + lo * D, (size_t)(B * D) * sizeof *zl);
                memcpy(zl + B * D, zg + (G + lo) * D, (size_t)(B * D) * sizeof *zl);
            }
        }
    }
    for (size_t i = 0; i < s->nparams; i++)
        s->grads[i] = NULL;
    if (st == SC_OK && B > 0) {
        int64_t ls[2] = {2 * B, D};
        sc_var *seed = sc_var_from_host(g, 2, ls, zl, false);
        st = sc_grad(g, 1, &z, &seed, (int)s->nparams, s->params, false, s->grads);
    }
    free(counts);
    free(zl);
    free(za);
    free(zg);
    /* the summed gradients; every rank observes the whole batch, so the
     * speeds, and the LA weights drawn from them, are the same everywhere */
    if (st == SC_OK)
        st = sc__dp_sum_grads(dp, g, s->params, s->grads, s->nparams);
    if (st == SC_OK)
        st = finish_step(s, lv, ia, ca, G, B, v, w);
    free(ia);
    free(ca);
    return st;
}

static void json_num(cJSON *o, const char *k, double v)
{
    cJSON_AddNumberToObject(o, k, isfinite(v) ? v : -1);
}

/* The epoch's speeds and sampling masses, for metrics.jsonl and progress. */
static sc_status ssl_end_epoch(void *self, int epoch, cJSON *line, const char **note)
{
    (void)epoch;
    ssl *s = self;
    const sc_dataset *d = s->d;
    free(s->es.speed_group);
    s->es.speed_group = NULL;
    SC_TRY(compute_stats(d, s->la, s->weighted, &s->es));
    epoch_stats *es = &s->es;
    /* the weights LA would use now, from the current speeds */
    int64_t n = sc_la_sampler_size(s->la);
    uint8_t *flag = malloc((size_t)n);
    if (!flag)
        return sc_oom("ssl statistics");
    for (int64_t k = 0; k < n; k++)
        flag[k] = sc_la_sampler_seen(s->la)[k] > 0;
    sc_status st = sc_la_weights(sc_la_sampler_speeds(s->la), flag, n, s->cfg->la.quantile,
                                 s->cfg->la.gamma, s->scratch, &es->la_s_star);
    free(flag);
    SC_TRY(st);
    es->la_mass_aligned = es->la_mass_conflicting = 0;
    for (int64_t k = 0; k < n; k++) {
        if (is_aligned(d, sc_la_sampler_indices(s->la)[k]))
            es->la_mass_aligned += s->scratch[k];
        else
            es->la_mass_conflicting += s->scratch[k];
    }
    int G = d->num_classes * d->num_attrs;
    cJSON_AddStringToObject(line, "method", sc_ssl_method_name(s->cfg->method));
    cJSON_AddStringToObject(line, "sampler", sc_ssl_sampler_name(s->cfg->sampler));
    cJSON_AddBoolToObject(line, "weighted", s->weighted);
    json_num(line, "speed_mean", es->speed_mean);
    json_num(line, "speed_aligned", es->speed_aligned);
    json_num(line, "speed_conflicting", es->speed_conflicting);
    cJSON *arr = cJSON_AddArrayToObject(line, "speed_group");
    for (int gi = 0; gi < G; gi++)
        cJSON_AddItemToArray(arr, cJSON_CreateNumber(isfinite(es->speed_group[gi])
                                                         ? es->speed_group[gi]
                                                         : -1));
    json_num(line, "mass_aligned", es->mass_aligned);
    json_num(line, "mass_conflicting", es->mass_conflicting);
    json_num(line, "drawn_conflicting",
             s->pos ? (double)s->drawn_conf / (double)s->pos : NAN);
    json_num(line, "la_mass_aligned", es->la_mass_aligned);
    json_num(line, "la_mass_conflicting", es->la_mass_conflicting);
    json_num(line, "la_s_star", es->la_s_star);
    json_num(line, "seen_fraction", es->seen_fraction);
    json_num(line, "sampler_s", s->sampler_s);
    snprintf(s->note, sizeof s->note,
             "speed aligned %.4f conflicting %.4f  mass on conflicting %.4f%s",
             es->speed_aligned, es->speed_conflicting, es->mass_conflicting,
             s->weighted ? " [LA weights]" : "");
    *note = s->note;
    return SC_OK;
}

/* The k-NN monitor: at the end of every knn_every-th epoch and the last. */
static sc_status ssl_evaluate(void *self, bool epoch_end, cJSON *line, double *select_value,
                              const sc_group_metrics **shown)
{
    ssl *s = self;
    const sc_ssl_config *c = s->cfg;
    int done = s->epoch + 1;
    if (!epoch_end || !s->has_val || c->knn_every < 1 ||
        (done % c->knn_every != 0 && done != c->epochs))
        return SC_OK;
    sc_group_metrics_free(&s->knn);
    double t0 = sc_time_now();
    SC_TRY(sc_knn_evaluate(s->ctx, s->m, s->d, SC_SPLIT_VAL, &c->knn, &s->knn));
    cJSON_AddNumberToObject(line, "knn_acc", s->knn.accuracy);
    cJSON_AddNumberToObject(line, "knn_wga", s->knn.worst_group);
    cJSON_AddNumberToObject(line, "knn_s", sc_time_now() - t0);
    *select_value = s->knn.accuracy;
    *shown = &s->knn;
    return SC_OK;
}

static void add_extra(ssl *s, const char *name, sc_tensor *t, sc_st_dtype dt, int64_t n,
                      void *host)
{
    sc_checkpoint_tensor *e = &s->extra[s->nextra];
    snprintf(s->extra_names[s->nextra], sizeof s->extra_names[0], "%s", name);
    *e = (sc_checkpoint_tensor){.name = s->extra_names[s->nextra], .tensor = t, .dtype = dt,
                                .ndim = 1, .shape = {n}, .host = host};
    s->nextra++;
}

/* The projector and the sampler state (the projector's optimiser state is
 * the optimiser's, saved with it); saving reads
 * the sampler's arrays, loading fills buffers that `resumed` hands to it. */
static sc_status ssl_extra(void *self, bool loading, const sc_checkpoint_tensor **tensors,
                           size_t *n, cJSON *meta)
{
    ssl *s = self;
    s->nextra = 0;
    for (size_t i = 0; i < sc_mlp_param_count(s->pj); i++) {
        sc_var *p = sc_mlp_param(s->pj, i);
        add_extra(s, sc_var_name(p), sc_var_tensor(p), SC_ST_F32, 0, NULL);
    }
    int64_t ln = sc_la_sampler_size(s->la);
    const sc_la_sampler *la = s->la;
    add_extra(s, "la.speed", NULL, SC_ST_F64, ln,
              loading ? (void *)s->load_v : (void *)sc_la_sampler_speeds(la));
    add_extra(s, "la.weight", NULL, SC_ST_F64, ln,
              loading ? (void *)s->load_p : (void *)sc_la_sampler_weights(la));
    add_extra(s, "la.seen", NULL, SC_ST_I64, ln,
              loading ? (void *)s->load_c : (void *)sc_la_sampler_seen(la));
    add_extra(s, "la.index", NULL, SC_ST_I64, ln,
              loading ? (void *)s->load_i : (void *)sc_la_sampler_indices(la));
    *tensors = s->extra;
    *n = s->nextra;
    if (meta) {
        const sc_ssl_config *c = s->cfg;
        cJSON_AddStringToObject(meta, "kind", "ssl");
        cJSON_AddStringToObject(meta, "method", sc_ssl_method_name(c->method));
        cJSON_AddNumberToObject(meta, "temperature", c->temperature);
        cJSON_AddNumberToObject(meta, "offdiag", c->offdiag);
        cJSON_AddNumberToObject(meta, "proj_hidden", c->proj_hidden);
        cJSON_AddNumberToObject(meta, "proj_dim", c->proj_dim);
        cJSON_AddStringToObject(meta, "proj_norm", sc_cnn_norm_name(c->proj_norm));
        cJSON_AddStringToObject(meta, "sampler", sc_ssl_sampler_name(c->sampler));
        cJSON_AddNumberToObject(meta, "la_quantile", c->la.quantile);
        cJSON_AddNumberToObject(meta, "la_gamma", c->la.gamma);
        cJSON_AddNumberToObject(meta, "la_eta", c->la.eta);
        cJSON_AddNumberToObject(meta, "la_warmup", c->la.warmup);
        cJSON_AddNumberToObject(meta, "la_every", c->la.every);
        cJSON_AddNumberToObject(meta, "la_tau", c->la.tau);
        cJSON_AddBoolToObject(meta, "la_active", sc_la_sampler_active(la));
        double ss = sc_la_sampler_s_star(la);
        if (isfinite(ss))
            cJSON_AddNumberToObject(meta, "la_s_star", ss);
    }
    return SC_OK;
}

static sc_status ssl_resumed(void *self, const cJSON *meta)
{
    ssl *s = self;
    int64_t n = sc_la_sampler_size(s->la);
    if (memcmp(s->load_i, sc_la_sampler_indices(s->la), (size_t)n * sizeof(int64_t)))
        return sc_error_set(SC_ERR_FORMAT, "%s: the sampler state is for a different training "
                                           "split (not this data set?)",
                            s->cfg->run_dir);
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(meta, "la_active");
    const cJSON *ss = cJSON_GetObjectItemCaseSensitive(meta, "la_s_star");
    return sc_la_sampler_restore(s->la, s->load_v, s->load_c,
                                 cJSON_IsTrue(act) ? s->load_p : NULL,
                                 cJSON_IsNumber(ss) ? ss->valuedouble : NAN);
}

static void ssl_free(ssl *s)
{
    sc_mlp_free(s->pj);
    sc_optim_free(s->opt);
    sc_la_sampler_free(s->la);
    free(s->params);
    free(s->grads);
    free(s->order);
    free(s->ids);
    free(s->cosb);
    free(s->scratch);
    free(s->es.speed_group);
    sc_group_metrics_free(&s->knn);
    free(s->load_v);
    free(s->load_p);
    free(s->load_c);
    free(s->load_i);
}

void sc_ssl_config_resolve(sc_ssl_config *c)
{
    /* SimCLR: the paper's 2-layer projector to 128. BarlowTwins wants a wide
     * one (its paper: 8192-8192-8192): on the cnn at lr 1e-3, 1024-1024
     * probes 0.839 against 0.805 for 512-128 (0.833 at 4e-3), and it is the
     * one measured with the resnet (README). */
    bool barlow = c->method == SC_SSL_BARLOW;
    if (c->proj_hidden == 0)
        c->proj_hidden = barlow ? 1024 : 512;
    if (c->proj_dim == 0)
        c->proj_dim = barlow ? 1024 : 128;
    /* With the resnet, on the 54,000 clean Fashion-MNIST training images on
     * 2 CPU cores: SimCLR's k-NN accuracy is flat after 2 epochs; Barlow
     * Twins, slower to learn, gains 1.8 points of probe from 2 more (3
     * seeds), and both fit the 20 minutes a default run may take (README) */
    if (c->epochs == 0)
        c->epochs = barlow ? 4 : 2;
    if (c->la.tau <= 0)
        c->la.tau = c->temperature;
}

static sc_status ssl_check(const sc_ssl_config *c)
{
    if (c->batch_size < 2)
        return sc_error_set(SC_ERR_INVALID_ARG,
                            "self-supervised training needs a batch size >= 2");
    if (!c->run_dir)
        return sc_error_set(SC_ERR_INVALID_ARG, "self-supervised training needs a run directory");
    if (c->proj_hidden < 1 || c->proj_dim < 1)
        return sc_error_set(SC_ERR_INVALID_ARG, "projector sizes must be >= 1 (got %d, %d)",
                            c->proj_hidden, c->proj_dim);
    if (!(c->temperature > 0) || !isfinite(c->temperature))
        return sc_error_set(SC_ERR_INVALID_ARG, "temperature %g must be > 0",
                            (double)c->temperature);
    if (c->knn_every < 0 || c->knn.k < 1 || !(c->knn.temperature > 0) || c->knn.bank < 0 ||
        c->knn.queries < 0)
        return sc_error_set(SC_ERR_INVALID_ARG, "k-NN monitor: every %d epochs, k %d, "
                                                "temperature %g: need every >= 0, k >= 1 and "
                                                "a temperature > 0",
                            c->knn_every, c->knn.k, (double)c->knn.temperature);
    if (!(c->offdiag >= 0) || !isfinite(c->offdiag))
        return sc_error_set(SC_ERR_INVALID_ARG, "off-diagonal weight %g must be >= 0",
                            (double)c->offdiag);
    SC_TRY(sc_augment_config_check(&c->augment));
    return sc_la_config_check(&c->la);
}

sc_status sc_train_ssl(sc_context *ctx, const sc_dataset *d, const sc_ssl_config *cfg_in,
                       sc_ssl_result *out)
{
    memset(out, 0, sizeof *out);
    sc_ssl_config cfg = *cfg_in;
    sc_ssl_config_resolve(&cfg);
    SC_TRY(ssl_check(&cfg));
    cfg.model.in_channels = d->c;
    cfg.model.height = d->h;
    cfg.model.width = d->w;
    cfg.model.num_classes = d->num_classes;
    double t0 = sc_time_now();
    ssl s = {.ctx = ctx, .d = d, .cfg = &cfg};
    int64_t *split_idx = NULL, ntrain = 0, *val_idx = NULL, nval = 0;
    sc_status st = sc_dataset_split_indices(d, SC_SPLIT_VAL, &val_idx, &nval);
    free(val_idx);
    s.has_val = nval > 0;
    if (st == SC_OK)
        st = sc_dataset_split_indices(d, SC_SPLIT_TRAIN, &split_idx, &ntrain);
    if (st == SC_OK && ntrain < 2)
        st = sc_error_set(SC_ERR_INVALID_ARG, "the training split has %lld samples (need >= 2)",
                          (long long)ntrain);
    if (st == SC_OK)
        st = sc_model_create(ctx, &cfg.model, &s.m);
    if (st == SC_OK)
        st = sc_model_init(s.m, cfg.seed);
    if (st == SC_OK) {
        int dims[3] = {sc_model_feature_dim(s.m), cfg.proj_hidden, cfg.proj_dim};
        st = sc_mlp_create(ctx, "projector", dims, 2, &s.pj);
        if (st == SC_OK)
            sc_mlp_set_hidden_batch_norm(s.pj, cfg.proj_norm == SC_CNN_NORM_BATCH);
    }
    if (st == SC_OK)
        st = sc_mlp_init(s.pj, cfg.seed ^ PROJ_SALT);
    if (st == SC_OK) {
        s.np_model = sc_model_param_count(s.m);
        s.nparams = s.np_model + sc_mlp_param_count(s.pj);
        s.params = calloc(s.nparams, sizeof *s.params);
        s.grads = calloc(s.nparams, sizeof *s.grads);
        s.order = malloc((size_t)ntrain * sizeof *s.order);
        s.ids = malloc((size_t)cfg.batch_size * sizeof *s.ids);
        s.cosb = malloc((size_t)cfg.batch_size * sizeof *s.cosb);
        s.scratch = malloc((size_t)ntrain * sizeof *s.scratch);
        s.load_v = malloc((size_t)ntrain * sizeof *s.load_v);
        s.load_p = malloc((size_t)ntrain * sizeof *s.load_p);
        s.load_c = malloc((size_t)ntrain * sizeof *s.load_c);
        s.load_i = malloc((size_t)ntrain * sizeof *s.load_i);
        if (!s.params || !s.grads || !s.order || !s.ids || !s.cosb || !s.scratch || !s.load_v ||
            !s.load_p || !s.load_c || !s.load_i)
            st = sc_oom("ssl");
    }
    if (st == SC_OK) {
        for (size_t i = 0; i < s.np_model; i++)
            s.params[i] = sc_model_param(s.m, i);
        for (size_t i = 0; i < sc_mlp_param_count(s.pj); i++)
            s.params[s.np_model + i] = sc_mlp_param(s.pj, i);
        st = sc_loop_optim_create(ctx, d, &cfg.run, s.params, s.nparams, &s.opt);
    }
    if (st == SC_OK)
        st = sc_la_sampler_create(&cfg.la, split_idx, ntrain, cfg.seed, &s.la);
    sc_trainer t = {
        .name = "ssl",
        .self = &s,
        .nparts = 1,
        .parts = {{.file = "last.safetensors", .model = s.m, .optim = s.opt}},
        .nvalues = 2,
        .values = {{"loss", "loss"}, {"pos_cos", "pos-cos"}},
        .step = ssl_step,
        .data_parallel = true,
        .begin_epoch = ssl_begin_epoch,
        .end_epoch = ssl_end_epoch,
        .evaluate = ssl_evaluate,
        .extra = ssl_extra,
        .resumed = ssl_resumed,
        /* curves.png over steps; speeds.png (sc_ssl_plot) has them by epoch
         * with the speeds and the sampler's masses */
        .npanels = 2,
        .panels = {{"Training loss", SC_CURVES_Y_FIT, {"loss"}, {NULL}},
                   {"k-NN accuracy (val)", SC_CURVES_Y_FIT, {"knn_acc", "knn_wga"},
                    {"average", "worst group"}}},
    };
    sc_loop_result lr = {0};
    if (st == SC_OK)
        st = sc_loop_run(ctx, d, &cfg.run, &t, &lr);
    if (st == SC_OK && sc_dist_writes()) {
        char jsonl[4096], png[4096];
        snprintf(jsonl, sizeof jsonl, "%s/metrics.jsonl", cfg.run_dir);
        snprintf(png, sizeof png, "%s/speeds.png", cfg.run_dir);
        st = sc_ssl_plot(jsonl, d, s.la, png);
    }
    if (st == SC_OK && !s.es.speed_group)
        st = compute_stats(d, s.la, false, &s.es);
    if (st == SC_OK) {
        out->epochs = cfg.epochs;
        out->last_loss = lr.values[0];
        out->speed_aligned = s.es.speed_aligned;
        out->speed_conflicting = s.es.speed_conflicting;
        out->mass_conflicting = s.es.mass_conflicting;
        out->epoch_s = lr.epochs_run ? lr.epoch_seconds / lr.epochs_run : 0;
        out->sampler_s = s.sampler_s;
        out->encoder = s.m;
        s.m = NULL;
    }
    sc_model_free(s.m);
    ssl_free(&s);
    free(split_idx);
    out->seconds = sc_time_now() - t0;
    return st;
}
