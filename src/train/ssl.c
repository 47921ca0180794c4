/* Self-supervised pre-training: SimCLR (NT-Xent) or BarlowTwins on two
 * device-augmented views, an encoder from the model module and a projector
 * Linear-ReLU-Linear, uniform or LA-SSL sampling (src/train/lassl.c).
 *
 * Per step: the batch's images are augmented into 2B views by one kernel,
 * the encoder and projector run once on all 2B, z1 / z2 are the two halves,
 * the loss gives the gradient of encoder + projector; cos(z1_i, z2_i) is
 * downloaded ([B] floats) and fed to the sampler's speeds, in both sampling
 * modes (uniform runs log the same curves). Labels and attributes are read
 * only to log per-group speeds and weight masses.
 *
 * Checkpoints: sc_checkpoint_save writes the encoder (its model names, so a
 * plain sc_checkpoint_load reads it) and its optimiser state to a side file;
 * the projector, its optimiser state and the sampler state are added and the
 * whole is written atomically to last.safetensors. */
#include "nn/graph.h"
#include "train/train_internal.h"
#include "spurcl/io.h"
#include "spurcl/nn.h"
#include "spurcl/ssl.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- names and defaults -------------------------------------------------- */

sc_status sc_ssl_method_parse(const char *s, sc_ssl_method *out)
{
    if (!strcmp(s, "simclr"))
        *out = SC_SSL_SIMCLR;
    else if (!strcmp(s, "barlow") || !strcmp(s, "barlowtwins"))
        *out = SC_SSL_BARLOW;
    else
        return sc_error_set(SC_ERR_INVALID_ARG, "unknown method '%s' (expected simclr or barlow)",
                            s);
    return SC_OK;
}

const char *sc_ssl_method_name(sc_ssl_method m) { return m == SC_SSL_BARLOW ? "barlow" : "simclr"; }

sc_status sc_ssl_sampler_parse(const char *s, sc_ssl_sampler *out)
{
    if (!strcmp(s, "uniform"))
        *out = SC_SAMPLER_UNIFORM;
    else if (!strcmp(s, "la"))
        *out = SC_SAMPLER_LA;
    else
        return sc_error_set(SC_ERR_INVALID_ARG, "unknown sampler '%s' (expected uniform or la)", s);
    return SC_OK;
}

const char *sc_ssl_sampler_name(sc_ssl_sampler s) { return s == SC_SAMPLER_LA ? "la" : "uniform"; }

void sc_ssl_config_default(sc_ssl_config *c)
{
    memset(c, 0, sizeof *c);
    sc_model_config_default(&c->model, SC_MODEL_CNN, 0, 0, 0, 0);
    sc_optim_config_default(&c->optim, SC_OPT_ADAMW);
    c->method = SC_SSL_SIMCLR;
    c->temperature = 0.5f;
    c->offdiag = 0.0051f;
    c->proj_hidden = 512;
    c->proj_dim = 128;
    sc_augment_config_default(&c->augment);
    c->sampler = SC_SAMPLER_UNIFORM;
    sc_la_config_default(&c->la);
    c->la.tau = 0; /* the NT-Xent temperature */
    c->epochs = 20;
    c->batch_size = 256;
}

void sc_ssl_result_free(sc_ssl_result *r)
{
    if (!r)
        return;
    sc_model_free(r->encoder);
    memset(r, 0, sizeof *r);
}

/* ---- projector ------------------------------------------------------------- */

#define NPROJ 4
static const char *const proj_names[NPROJ] = {"projector.0.weight", "projector.0.bias",
                                              "projector.2.weight", "projector.2.bias"};

typedef struct projector {
    sc_var *p[NPROJ]; /* w1 [H,F], b1 [H], w2 [P,H], b2 [P] */
} projector;

static void projector_free(projector *pj)
{
    for (int i = 0; i < NPROJ; i++)
        sc_param_free(pj->p[i]);
    memset(pj, 0, sizeof *pj);
}

/* PyTorch nn.Linear's default initialisation. */
static sc_status projector_create(sc_context *ctx, int in, int hidden, int outd, uint64_t seed,
                                  projector *pj)
{
    memset(pj, 0, sizeof *pj);
    int64_t shapes[NPROJ][2] = {{hidden, in}, {hidden, 0}, {outd, hidden}, {outd, 0}};
    int fan_in[NPROJ] = {in, in, hidden, hidden};
    sc_rng r;
    sc_rng_seed_stream(&r, seed ^ 0x70726f6a6563746fULL /* "projecto" */, 0);
    for (int i = 0; i < NPROJ; i++) {
        int nd = shapes[i][1] ? 2 : 1;
        SC_TRY(sc_param_create(ctx, proj_names[i], nd, shapes[i], &pj->p[i]));
        int64_t n = shapes[i][0] * (nd == 2 ? shapes[i][1] : 1);
        float *h = malloc((size_t)n * sizeof *h);
        if (!h)
            return sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of host memory (projector)");
        double bound = 1.0 / sqrt((double)fan_in[i]);
        for (int64_t k = 0; k < n; k++)
            h[k] = (float)((2.0 * sc_rng_uniform(&r) - 1.0) * bound);
        sc_status st = sc_tensor_upload(sc_var_tensor(pj->p[i]), h);
        free(h);
        SC_TRY(st);
    }
    return SC_OK;
}

static sc_var *projector_forward(sc_graph *g, const projector *pj, sc_var *f)
{
    sc_var *h = sc_nn_relu(g, sc_nn_linear(g, f, pj->p[0], pj->p[1]));
    return sc_nn_linear(g, h, pj->p[2], pj->p[3]);
}

/* ---- checkpoints ----------------------------------------------------------- */

typedef struct extra_tensors {
    sc_st_tensor t[64];
    void *buf[64];
    char *name[64];
    size_t n;
} extra_tensors;

static void extra_free(extra_tensors *e)
{
    for (size_t i = 0; i < e->n; i++) {
        free(e->buf[i]);
        free(e->name[i]);
    }
    e->n = 0;
}

static sc_status extra_add(extra_tensors *e, const char *name, sc_st_dtype dt, int ndim,
                           const int64_t *shape, void *data /* taken */)
{
    if (e->n >= 64 || !data) {
        free(data);
        return sc_error_set(SC_ERR_OUT_OF_MEMORY, "checkpoint: too many or unallocated tensors");
    }
    size_t k = e->n++;
    e->name[k] = strdup(name);
    e->buf[k] = data;
    e->t[k].name = e->name[k];
    e->t[k].dtype = dt;
    e->t[k].ndim = ndim;
    for (int i = 0; i < ndim; i++)
        e->t[k].shape[i] = shape[i];
    e->t[k].data = data;
    return e->name[k] ? SC_OK : sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of host memory");
}

static sc_status extra_add_tensor(extra_tensors *e, const char *name, const sc_tensor *t)
{
    void *h = malloc((size_t)sc_tensor_numel(t) * sizeof(float) + 1);
    if (h && sc_tensor_download(t, h) != SC_OK) {
        free(h);
        return sc_error_wrap(SC_ERR_OPENCL, "checkpoint: downloading %s", name);
    }
    return extra_add(e, name, SC_ST_F32, sc_tensor_ndim(t), sc_tensor_shape(t), h);
}

typedef struct ssl_state {
    sc_model *m;
    projector pj;
    sc_optim *opt;
    size_t np_model;
    sc_la_sampler *la;
} ssl_state;

static sc_status save_checkpoint(const char *path, const ssl_state *s, int epoch, uint64_t seed,
                                 const char *config_json)
{
    char side[4200];
    snprintf(side, sizeof side, "%s.encoder.tmp", path);
    SC_TRY(sc_checkpoint_save(side, s->m, s->opt, epoch, seed, config_json));
    sc_safetensors *enc = NULL;
    sc_status st = sc_safetensors_open(side, &enc);
    extra_tensors ex = {.n = 0};
    size_t ns = sc_optim_state_count(s->opt);
    for (int i = 0; st == SC_OK && i < NPROJ; i++) {
        st = extra_add_tensor(&ex, proj_names[i], sc_var_tensor(s->pj.p[i]));
        for (size_t k = 0; st == SC_OK && k < ns; k++) {
            char name[160];
            snprintf(name, sizeof name, "optim.%s.%s", proj_names[i], sc_optim_state_name(s->opt, k));
            st = extra_add_tensor(&ex, name, sc_optim_state(s->opt, s->np_model + (size_t)i, k));
        }
    }
    int64_t n = sc_la_sampler_size(s->la);
    if (st == SC_OK) {
        double *v = malloc((size_t)n * sizeof *v), *p = malloc((size_t)n * sizeof *p);
        int64_t *c = malloc((size_t)n * sizeof *c), *ix = malloc((size_t)n * sizeof *ix);
        if (v) memcpy(v, sc_la_sampler_speeds(s->la), (size_t)n * sizeof *v);
        if (p) memcpy(p, sc_la_sampler_weights(s->la), (size_t)n * sizeof *p);
        if (c) memcpy(c, sc_la_sampler_seen(s->la), (size_t)n * sizeof *c);
        if (ix) memcpy(ix, sc_la_sampler_indices(s->la), (size_t)n * sizeof *ix);
        st = extra_add(&ex, "la.speed", SC_ST_F64, 1, &n, v);
        if (st == SC_OK)
            st = extra_add(&ex, "la.weight", SC_ST_F64, 1, &n, p);
        else
            free(p);
        if (st == SC_OK)
            st = extra_add(&ex, "la.seen", SC_ST_I64, 1, &n, c);
        else
            free(c);
        if (st == SC_OK)
            st = extra_add(&ex, "la.index", SC_ST_I64, 1, &n, ix);
        else
            free(ix);
    }
    if (st == SC_OK) {
        size_t ne = sc_safetensors_count(enc), nm = sc_safetensors_meta_count(enc);
        sc_st_tensor *all = malloc((ne + ex.n) * sizeof *all);
        sc_st_meta *meta = malloc((nm + 1) * sizeof *meta);
        if (!all || !meta) {
            st = sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of host memory (checkpoint)");
        } else {
            for (size_t i = 0; i < ne; i++)
                all[i] = *sc_safetensors_at(enc, i);
            for (size_t i = 0; i < ex.n; i++)
                all[ne + i] = ex.t[i];
            for (size_t i = 0; i < nm; i++)
                meta[i] = sc_safetensors_meta_at(enc, i);
            st = sc_safetensors_write(path, all, ne + ex.n, meta, nm);
        }
        free(all);
        free(meta);
    }
    sc_safetensors_close(enc);
    extra_free(&ex);
    remove(side);
    return st == SC_OK ? st : sc_error_wrap(st, "writing checkpoint %s", path);
}

static sc_status load_f32(const sc_safetensors *ck, const char *name, sc_tensor *t)
{
    const sc_st_tensor *ref;
    SC_TRY(sc_safetensors_get(ck, name, SC_ST_F32, sc_tensor_ndim(t), &ref));
    for (int i = 0; i < ref->ndim; i++)
        if (ref->shape[i] != sc_tensor_dim(t, i))
            return sc_error_set(SC_ERR_FORMAT,
                                "%s: tensor %s has extent %lld on axis %d where this run's "
                                "configuration needs %lld (different --proj-dim / hidden size?)",
                                sc_safetensors_name(ck), name, (long long)ref->shape[i], i,
                                (long long)sc_tensor_dim(t, i));
    return sc_tensor_upload(t, ref->data);
}

static sc_status load_checkpoint(const char *path, ssl_state *s, int *epoch)
{
    SC_TRY(sc_checkpoint_load(path, s->m, s->opt, epoch));
    sc_safetensors *ck;
    SC_TRY(sc_safetensors_open(path, &ck));
    sc_status st = SC_OK;
    size_t ns = sc_optim_state_count(s->opt);
    for (int i = 0; st == SC_OK && i < NPROJ; i++) {
        st = load_f32(ck, proj_names[i], sc_var_tensor(s->pj.p[i]));
        for (size_t k = 0; st == SC_OK && k < ns; k++) {
            char name[160];
            snprintf(name, sizeof name, "optim.%s.%s", proj_names[i], sc_optim_state_name(s->opt, k));
            st = load_f32(ck, name, sc_optim_state(s->opt, s->np_model + (size_t)i, k));
        }
    }
    int64_t n = sc_la_sampler_size(s->la);
    const sc_st_tensor *tv = NULL, *tp = NULL, *tc = NULL, *ti = NULL;
    if (st == SC_OK)
        st = sc_safetensors_get(ck, "la.speed", SC_ST_F64, 1, &tv);
    if (st == SC_OK)
        st = sc_safetensors_get(ck, "la.weight", SC_ST_F64, 1, &tp);
    if (st == SC_OK)
        st = sc_safetensors_get(ck, "la.seen", SC_ST_I64, 1, &tc);
    if (st == SC_OK)
        st = sc_safetensors_get(ck, "la.index", SC_ST_I64, 1, &ti);
    if (st == SC_OK && (tv->shape[0] != n || tp->shape[0] != n || tc->shape[0] != n ||
                        ti->shape[0] != n ||
                        memcmp(ti->data, sc_la_sampler_indices(s->la), (size_t)n * sizeof(int64_t))))
        st = sc_error_set(SC_ERR_FORMAT,
                          "%s: the sampler state is for a different training split (not this "
                          "data set?)",
                          path);
    if (st == SC_OK) {
        cJSON *o = cJSON_Parse(sc_safetensors_meta(ck, "config") ? sc_safetensors_meta(ck, "config")
                                                                 : "{}");
        const cJSON *act = cJSON_GetObjectItemCaseSensitive(o, "la_active");
        const cJSON *ss = cJSON_GetObjectItemCaseSensitive(o, "la_s_star");
        bool active = cJSON_IsTrue(act);
        double s_star = cJSON_IsNumber(ss) ? ss->valuedouble : NAN;
        cJSON_Delete(o);
        st = sc_la_sampler_restore(s->la, tv->data, tc->data, active ? tp->data : NULL, s_star);
    }
    sc_safetensors_close(ck);
    return st == SC_OK ? st : sc_error_wrap(st, "resuming from %s", path);
}

static char *config_json(const sc_ssl_config *c, const sc_la_sampler *la)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "kind", "ssl");
    cJSON_AddStringToObject(o, "method", sc_ssl_method_name(c->method));
    cJSON_AddNumberToObject(o, "temperature", c->temperature);
    cJSON_AddNumberToObject(o, "offdiag", c->offdiag);
    cJSON_AddNumberToObject(o, "proj_hidden", c->proj_hidden);
    cJSON_AddNumberToObject(o, "proj_dim", c->proj_dim);
    cJSON_AddStringToObject(o, "sampler", sc_ssl_sampler_name(c->sampler));
    cJSON_AddNumberToObject(o, "la_quantile", c->la.quantile);
    cJSON_AddNumberToObject(o, "la_gamma", c->la.gamma);
    cJSON_AddNumberToObject(o, "la_eta", c->la.eta);
    cJSON_AddNumberToObject(o, "la_warmup", c->la.warmup);
    cJSON_AddNumberToObject(o, "la_every", c->la.every);
    cJSON_AddNumberToObject(o, "la_tau", c->la.tau);
    cJSON_AddBoolToObject(o, "la_active", sc_la_sampler_active(la));
    double ss = sc_la_sampler_s_star(la);
    if (isfinite(ss))
        cJSON_AddNumberToObject(o, "la_s_star", ss);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
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

/* ---- training ---------------------------------------------------------------- */

typedef struct run_ctx {
    sc_context *ctx;
    const sc_dataset *d;
    const sc_ssl_config *cfg;
    ssl_state *s;
    sc_batcher *b;
    sc_graph *g;
    sc_var **params, **grads;
    size_t nparams;
    int64_t *order;
    uint64_t *ids;
    float *cosb;
    double t_start;
} run_ctx;

typedef struct epoch_out {
    double loss, pos_cos, seconds, sampler_s, drawn_conflicting;
    int64_t images;
    bool weighted;
} epoch_out;

static sc_status run_epoch(run_ctx *r, int epoch, epoch_out *eo)
{
    const sc_ssl_config *cfg = r->cfg;
    const sc_dataset *d = r->d;
    memset(eo, 0, sizeof *eo);
    double te = sc_time_now(), ts = sc_time_now();
    sc_status st = SC_OK;
    bool use_order = false;
    if (cfg->sampler == SC_SAMPLER_LA)
        st = sc_la_sampler_begin_epoch(r->s->la, epoch, r->order, &use_order);
    eo->sampler_s += sc_time_now() - ts;
    if (st != SC_OK)
        return st;
    eo->weighted = use_order;
    if (use_order)
        SC_TRY(sc_batcher_start_order(r->b, r->order, sc_la_sampler_size(r->s->la)));
    else
        sc_batcher_start_epoch(r->b, (uint64_t)epoch);
    int64_t steps = sc_batcher_num_batches(r->b), step = 0, pos = 0, drawn_conf = 0;
    float tau = cfg->temperature;
    double loss_sum = 0, cos_sum = 0;
    int64_t seen = 0;
    const sc_batch *bt;
    sc_graph *g = r->g;
    while ((st = sc_batcher_next(r->b, &bt)) == SC_OK && bt) {
        int64_t B = bt->size;
        step++;
        for (int64_t i = 0; i < B; i++)
            drawn_conf += !is_aligned(d, bt->indices[i]);
        if (B < 2) { /* BarlowTwins' batch statistics need two samples */
            pos += B;
            continue;
        }
        for (int64_t i = 0; i < B; i++)
            r->ids[i] = (uint64_t)(pos + i);
        pos += B;
        sc_tensor *xt;
        if ((st = sc_augment_batch(r->ctx, &cfg->augment, bt->images, B, bt->c, bt->h, bt->w,
                                   cfg->seed, (uint64_t)epoch, r->ids, NULL, &xt)) != SC_OK)
            break;
        sc_var *x = sc_var_wrap(g, xt, false);
        sc_var *f = sc_model_features(r->s->m, g, x, true);
        sc_var *z = projector_forward(g, &r->s->pj, f);
        sc_var *z1 = sc_nn_slice(g, z, 0, 0, B), *z2 = sc_nn_slice(g, z, 0, B, B);
        sc_var *loss = cfg->method == SC_SSL_BARLOW ? sc_nn_barlow_twins(g, z1, z2, cfg->offdiag)
                                                    : sc_nn_nt_xent(g, z1, z2, tau);
        sc_graph_set_recording(g, false);
        sc_var *cs = sc_nn_cosine_rows(g, z1, z2, 1e-8f);
        sc_graph_set_recording(g, true);
        float lv = NAN;
        if ((st = sc_graph_status(g)) != SC_OK ||
            (st = sc_grad(g, 1, &loss, NULL, (int)r->nparams, r->params, false, r->grads)) !=
                SC_OK ||
            (st = sc_tensor_download(sc_var_tensor(loss), &lv)) != SC_OK ||
            (st = sc_tensor_download(sc_var_tensor(cs), r->cosb)) != SC_OK)
            break;
        if (!isfinite(lv)) {
            st = sc_error_set(SC_ERR_NUMERIC, "the %s loss became %g at epoch %d, step %lld",
                              sc_ssl_method_name(cfg->method), (double)lv, epoch + 1,
                              (long long)step);
            break;
        }
        if ((st = sc_optim_step(r->s->opt, r->grads, NULL)) != SC_OK)
            break;
        ts = sc_time_now();
        st = sc_la_sampler_observe(r->s->la, bt->indices, r->cosb, B);
        eo->sampler_s += sc_time_now() - ts;
        if (st != SC_OK)
            break;
        for (int64_t i = 0; i < B; i++)
            cos_sum += r->cosb[i];
        loss_sum += (double)lv * (double)B;
        seen += B;
        sc_graph_reset(g);
        if (cfg->progress) {
            double el = sc_time_now() - te;
            sc_ssl_progress p = {.epoch = epoch + 1, .epochs = cfg->epochs, .step = step,
                                 .steps_per_epoch = steps, .loss = loss_sum / (double)seen,
                                 .pos_cos = cos_sum / (double)seen,
                                 .images_per_s = el > 0 ? (double)seen / el : 0,
                                 .elapsed_s = sc_time_now() - r->t_start,
                                 .speed_aligned = NAN, .speed_conflicting = NAN,
                                 .mass_conflicting = NAN, .weighted = use_order};
            p.eta_s = el / (double)step * (double)((steps - step) + steps * (cfg->epochs - epoch - 1));
            cfg->progress(&p, cfg->progress_ud);
        }
    }
    sc_graph_reset(g);
    eo->loss = seen ? loss_sum / (double)seen : NAN;
    eo->pos_cos = seen ? cos_sum / (double)seen : NAN;
    eo->images = seen;
    eo->drawn_conflicting = pos ? (double)drawn_conf / (double)pos : NAN;
    eo->seconds = sc_time_now() - te;
    return st;
}

static void json_num(cJSON *o, const char *k, double v)
{
    cJSON_AddNumberToObject(o, k, isfinite(v) ? v : -1);
}

sc_status sc_train_ssl(sc_context *ctx, const sc_dataset *d, const sc_ssl_config *cfg_in,
                       sc_ssl_result *out)
{
    memset(out, 0, sizeof *out);
    sc_ssl_config cfg = *cfg_in;
    if (cfg.epochs < 1 || cfg.batch_size < 2)
        return sc_error_set(SC_ERR_INVALID_ARG,
                            "self-supervised training needs epochs >= 1 and batch size >= 2");
    if (!cfg.run_dir)
        return sc_error_set(SC_ERR_INVALID_ARG, "self-supervised training needs a run directory");
    if (cfg.proj_hidden < 1 || cfg.proj_dim < 1)
        return sc_error_set(SC_ERR_INVALID_ARG, "projector sizes must be >= 1 (got %d, %d)",
                            cfg.proj_hidden, cfg.proj_dim);
    if (!(cfg.temperature > 0) || !isfinite(cfg.temperature))
        return sc_error_set(SC_ERR_INVALID_ARG, "temperature %g must be > 0",
                            (double)cfg.temperature);
    if (!(cfg.offdiag >= 0) || !isfinite(cfg.offdiag))
        return sc_error_set(SC_ERR_INVALID_ARG, "off-diagonal weight %g must be >= 0",
                            (double)cfg.offdiag);
    if (cfg.la.tau <= 0)
        cfg.la.tau = cfg.temperature;
    SC_TRY(sc_augment_config_check(&cfg.augment));
    SC_TRY(sc_la_config_check(&cfg.la));
    cfg.model.in_channels = d->c;
    cfg.model.height = d->h;
    cfg.model.width = d->w;
    cfg.model.num_classes = d->num_classes;
    SC_TRY(sc_mkdir_p(cfg.run_dir));

    double t_start = sc_time_now();
    char last_path[4096], png_path[4096], jsonl_path[4096];
    snprintf(last_path, sizeof last_path, "%s/last.safetensors", cfg.run_dir);
    snprintf(png_path, sizeof png_path, "%s/speeds.png", cfg.run_dir);
    snprintf(jsonl_path, sizeof jsonl_path, "%s/metrics.jsonl", cfg.run_dir);

    ssl_state s = {0};
    run_ctx r = {.ctx = ctx, .d = d, .cfg = &cfg, .s = &s, .t_start = t_start};
    int64_t *split_idx = NULL, ntrain = 0;
    double *scratch = NULL;
    int start_epoch = 0;
    sc_status st = sc_dataset_split_indices(d, SC_SPLIT_TRAIN, &split_idx, &ntrain);
    if (st == SC_OK && ntrain < 2)
        st = sc_error_set(SC_ERR_INVALID_ARG, "the training split has %lld samples (need >= 2)",
                          (long long)ntrain);
    if (st == SC_OK)
        st = sc_model_create(ctx, &cfg.model, &s.m);
    if (st == SC_OK)
        st = sc_model_init(s.m, cfg.seed);
    if (st == SC_OK)
        st = projector_create(ctx, sc_model_feature_dim(s.m), cfg.proj_hidden, cfg.proj_dim,
                              cfg.seed, &s.pj);
    if (st == SC_OK) {
        s.np_model = sc_model_param_count(s.m);
        r.nparams = s.np_model + NPROJ;
        r.params = calloc(r.nparams, sizeof *r.params);
        r.grads = calloc(r.nparams, sizeof *r.grads);
        r.order = malloc((size_t)ntrain * sizeof *r.order);
        r.ids = malloc((size_t)cfg.batch_size * sizeof *r.ids);
        r.cosb = malloc((size_t)cfg.batch_size * sizeof *r.cosb);
        scratch = malloc((size_t)ntrain * sizeof *scratch);
        if (!r.params || !r.grads || !r.order || !r.ids || !r.cosb || !scratch)
            st = sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of host memory (ssl)");
    }
    if (st == SC_OK) {
        for (size_t i = 0; i < s.np_model; i++)
            r.params[i] = sc_model_param(s.m, i);
        for (int i = 0; i < NPROJ; i++)
            r.params[s.np_model + (size_t)i] = s.pj.p[i];
        sc_optim_config oc = cfg.optim;
        if (oc.schedule == SC_SCHED_COSINE && oc.total_steps <= 0)
            oc.total_steps = (ntrain + cfg.batch_size - 1) / cfg.batch_size * cfg.epochs;
        st = sc_optim_create(ctx, &oc, r.params, r.nparams, &s.opt);
    }
    if (st == SC_OK)
        st = sc_la_sampler_create(&cfg.la, split_idx, ntrain, cfg.seed, &s.la);
    if (st == SC_OK && cfg.resume)
        st = load_checkpoint(last_path, &s, &start_epoch);
    sc_batch_opts bo = {.batch_size = cfg.batch_size, .shuffle = true, .seed = cfg.seed};
    if (st == SC_OK)
        st = sc_batcher_create(d, SC_SPLIT_TRAIN, &bo, &r.b);
    if (st == SC_OK)
        st = sc_graph_create(ctx, &r.g);

    int G = d->num_classes * d->num_attrs;
    double sum_epoch_s = 0, sum_sampler_s = 0;
    int epochs_run = 0;
    bool truncate = !cfg.resume;
    epoch_stats es = {0};
    epoch_out eo = {0};
    for (int epoch = start_epoch; st == SC_OK && epoch < cfg.epochs; epoch++) {
        st = run_epoch(&r, epoch, &eo);
        if (st != SC_OK) {
            if (st == SC_ERR_NUMERIC)
                st = sc_error_wrap(st, "training stopped; the last good checkpoint is %s",
                                   epoch > 0 ? last_path : "(none: first epoch)");
            break;
        }
        epochs_run++;
        sum_epoch_s += eo.seconds;
        sum_sampler_s += eo.sampler_s;
        free(es.speed_group);
        es.speed_group = NULL;
        if ((st = compute_stats(d, s.la, eo.weighted, &es)) != SC_OK)
            break;
        /* the weights LA would use now, from the current speeds */
        {
            int64_t n = sc_la_sampler_size(s.la);
            uint8_t *flag = malloc((size_t)n);
            if (!flag) {
                st = sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of host memory (ssl)");
                break;
            }
            for (int64_t k = 0; k < n; k++)
                flag[k] = sc_la_sampler_seen(s.la)[k] > 0;
            st = sc_la_weights(sc_la_sampler_speeds(s.la), flag, n, cfg.la.quantile, cfg.la.gamma,
                               scratch, &es.la_s_star);
            free(flag);
            if (st != SC_OK)
                break;
            es.la_mass_aligned = es.la_mass_conflicting = 0;
            for (int64_t k = 0; k < n; k++) {
                if (is_aligned(d, sc_la_sampler_indices(s.la)[k]))
                    es.la_mass_aligned += scratch[k];
                else
                    es.la_mass_conflicting += scratch[k];
            }
        }
        char *cj = config_json(&cfg, s.la);
        st = save_checkpoint(last_path, &s, epoch + 1, cfg.seed, cj);
        cJSON_free(cj);
        if (st != SC_OK)
            break;
        cJSON *line = cJSON_CreateObject();
        cJSON_AddNumberToObject(line, "epoch", epoch + 1);
        cJSON_AddNumberToObject(line, "steps", (double)sc_optim_steps(s.opt));
        cJSON_AddNumberToObject(line, "lr", sc_optim_lr(s.opt));
        cJSON_AddStringToObject(line, "method", sc_ssl_method_name(cfg.method));
        cJSON_AddStringToObject(line, "sampler", sc_ssl_sampler_name(cfg.sampler));
        cJSON_AddBoolToObject(line, "weighted", eo.weighted);
        json_num(line, "loss", eo.loss);
        json_num(line, "pos_cos", eo.pos_cos);
        json_num(line, "speed_mean", es.speed_mean);
        json_num(line, "speed_aligned", es.speed_aligned);
        json_num(line, "speed_conflicting", es.speed_conflicting);
        cJSON *arr = cJSON_AddArrayToObject(line, "speed_group");
        for (int gi = 0; gi < G; gi++)
            cJSON_AddItemToArray(arr, cJSON_CreateNumber(isfinite(es.speed_group[gi])
                                                             ? es.speed_group[gi]
                                                             : -1));
        json_num(line, "mass_aligned", es.mass_aligned);
        json_num(line, "mass_conflicting", es.mass_conflicting);
        json_num(line, "drawn_conflicting", eo.drawn_conflicting);
        json_num(line, "la_mass_aligned", es.la_mass_aligned);
        json_num(line, "la_mass_conflicting", es.la_mass_conflicting);
        json_num(line, "la_s_star", es.la_s_star);
        json_num(line, "seen_fraction", es.seen_fraction);
        json_num(line, "epoch_s", eo.seconds);
        json_num(line, "sampler_s", eo.sampler_s);
        json_num(line, "images_per_s", eo.seconds > 0 ? (double)eo.images / eo.seconds : 0);
        st = sc__append_jsonl(cfg.run_dir, line, truncate);
        truncate = false;
        cJSON_Delete(line);
        if (st != SC_OK)
            break;
        if (cfg.progress) {
            sc_ssl_progress p = {.epoch = epoch + 1, .epochs = cfg.epochs, .epoch_done = true,
                                 .loss = eo.loss, .pos_cos = eo.pos_cos,
                                 .elapsed_s = sc_time_now() - t_start,
                                 .speed_aligned = es.speed_aligned,
                                 .speed_conflicting = es.speed_conflicting,
                                 .mass_conflicting = es.mass_conflicting, .weighted = eo.weighted};
            cfg.progress(&p, cfg.progress_ud);
        }
    }
    if (st == SC_OK && s.la)
        st = sc_ssl_plot(jsonl_path, d, s.la, png_path);
    if (st == SC_OK) {
        out->epochs = cfg.epochs;
        out->last_loss = epochs_run ? eo.loss : NAN;
        if (!es.speed_group) {
            st = compute_stats(d, s.la, false, &es);
        }
        out->speed_aligned = es.speed_aligned;
        out->speed_conflicting = es.speed_conflicting;
        out->mass_conflicting = es.mass_conflicting;
        out->epoch_s = epochs_run ? sum_epoch_s / epochs_run : 0;
        out->sampler_s = sum_sampler_s;
    }
    free(es.speed_group);
    free(scratch);
    free(split_idx);
    free(r.params);
    free(r.grads);
    free(r.order);
    free(r.ids);
    free(r.cosb);
    sc_graph_free(r.g);
    sc_batcher_free(r.b);
    sc_optim_free(s.opt);
    projector_free(&s.pj);
    sc_la_sampler_free(s.la);
    out->seconds = sc_time_now() - t_start;
    if (st != SC_OK) {
        sc_model_free(s.m);
        return st;
    }
    out->encoder = s.m;
    return SC_OK;
}
