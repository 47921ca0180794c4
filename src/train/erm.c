/* ERM: plain supervised training on the shared loop (src/train/loop.c):
 * cross-entropy (optionally weighted per sample, for JTT), per-group
 * evaluation of val (and test) at each evaluation point, selection by val
 * accuracy or worst-group accuracy. */
#include "train/loop.h"
#include "train/train_internal.h"
#include "base/dist.h"
#include "spurcl/nn.h"
#include "spurcl/train.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sc_train_config_default(sc_train_config *c)
{
    memset(c, 0, sizeof *c);
    sc_model_config_default(&c->model, SC_MODEL_CNN, 0, 0, 0, 0);
    sc_optim_config_default(&c->optim, SC_OPT_ADAMW);
    c->epochs = 5;
    c->batch_size = 128;
    c->select = SC_SELECT_LAST;
    c->log_every = SC_LOG_EVERY_DEFAULT;
}

static const char *const select_names[] = {"last", "val-avg", "val-wga"};
SC_ENUM_FUNCS(sc_select, select, "selection", select_names, NULL)

void sc_train_result_free(sc_train_result *r)
{
    if (!r)
        return;
    sc_model_free(r->model);
    sc_model_free(r->last_model);
    sc_group_metrics_free(&r->val);
    sc_group_metrics_free(&r->test);
    memset(r, 0, sizeof *r);
}

typedef struct erm {
    sc_context *ctx;
    const sc_dataset *d;
    const sc_train_config *cfg;
    sc_model *m;
    sc_optim *opt;
    sc_var **params, **grads;
    size_t np;
    float *logits, *wbuf;
    double *props;
    sc_group_metrics val;       /* the last evaluation's (shown by progress) */
    /* GroupDRO (NULL dro: plain ERM) */
    const sc_dro_config *dro;
    int G;
    double *q;                  /* group weights */
    double *gl;                 /* the batch's group losses */
    double *gsum;               /* [2G]: data-parallel staging of gl and gn */
    int64_t *gn;                /* the batch's group counts */
    double *n_train;            /* training count of each group */
    float *lbuf;                /* per-sample losses of the batch */
    int64_t *order;             /* balanced sampling: the epoch's draws */
    FILE *csv;                  /* run_dir/dro.csv */
    int csv_err;                /* errno of its first failed write */
    sc_checkpoint_tensor extra;
} erm;

/* Data-parallel (src/train/loop.h): a rank whose slice of the global batch
 * is empty still takes part in the gradient exchange and the update. */
static sc_status erm_empty_step(erm *e, sc_graph *g, sc__dp *dp, double *v, int64_t *w)
{
    for (size_t i = 0; i < e->np; i++)
        e->grads[i] = NULL;
    SC_TRY(sc__dp_average_grads(dp, g, e->params, e->grads, e->np, 0));
    SC_TRY(sc_optim_step(e->opt, e->grads, NULL));
    v[0] = v[1] = 0;
    *w = 0;
    return SC_OK;
}

static sc_status erm_step(void *self, sc_graph *g, const sc_batch *bt, sc__dp *dp, double *v,
                         int64_t *w)
{
    erm *e = self;
    int K = e->d->num_classes;
    if (bt->size == 0)
        return erm_empty_step(e, g, dp, v, w);
    int64_t xs[4] = {bt->size, bt->c, bt->h, bt->w}, ls[1] = {bt->size};
    sc_var *x = sc_var_from_host(g, 4, xs, bt->images, false);
    sc_var *y = sc_var_from_host_i32(g, 1, ls, bt->labels);
    sc_var *wt = NULL;
    if (e->cfg->sample_weights) {
        for (int64_t i = 0; i < bt->size; i++)
            e->wbuf[i] = e->cfg->sample_weights[bt->indices[i]];
        wt = sc_var_from_host(g, 1, ls, e->wbuf, false);
    }
    sc_var *lg = sc_model_forward(e->m, g, x, true);
    sc_var *loss = sc_nn_cross_entropy(g, lg, y, wt, SC_LOSS_MEAN);
    float lv = NAN;
    SC_TRY(sc_graph_status(g));
    SC_TRY(sc_grad(g, 1, &loss, NULL, (int)e->np, e->params, false, e->grads));
    SC_TRY(sc_tensor_download(sc_var_tensor(loss), &lv));
    SC_TRY(sc_tensor_download(sc_var_tensor(lg), e->logits));
    v[0] = lv;
    static const char *const names[1] = {"loss"};
    SC_TRY(sc__check_finite("training", v, names, 1));
    /* the loss is the batch mean (JTT's weights included): it stands for
     * bt->size samples of the global batch */
    SC_TRY(sc__dp_average_grads(dp, g, e->params, e->grads, e->np, (double)bt->size));
    SC_TRY(sc_optim_step(e->opt, e->grads, NULL));
    int64_t correct = 0;
    for (int64_t i = 0; i < bt->size; i++)
        correct += sc__argmax(e->logits + i * K, K) == bt->labels[i];
    v[1] = (double)correct / (double)bt->size;
    *w = bt->size;
    return SC_OK;
}

/* GroupDRO's update on the host from the batch's per-sample losses, and
 * the per-sample weights that make sum_i w_i l_i = sum_g q_g l_g. */
static sc_status dro_update(erm *e, const sc_batch *bt)
{
    const sc_dro_config *c = e->dro;
    for (int g = 0; g < e->G; g++) {
        e->gl[g] = 0;
        e->gn[g] = 0;
    }
    for (int64_t i = 0; i < bt->size; i++) {
        e->gl[bt->groups[i]] += e->lbuf[i];
        e->gn[bt->groups[i]]++;
    }
    /* data-parallel: the group sums and counts of the global batch (one
     * all-reduce), so every rank updates q the same way */
    if (sc_dist_size() > 1) {
        for (int g = 0; g < e->G; g++)
            e->gsum[e->G + g] = (double)e->gn[g];
        memcpy(e->gsum, e->gl, (size_t)e->G * sizeof *e->gsum);
        SC_TRY(sc__dist_sum_f64(e->gsum, (size_t)(2 * e->G), "GroupDRO's group losses"));
        memcpy(e->gl, e->gsum, (size_t)e->G * sizeof *e->gl);
        for (int g = 0; g < e->G; g++)
            e->gn[g] = (int64_t)e->gsum[e->G + g];
    }
    double sum = 0;
    for (int g = 0; g < e->G; g++) {
        if (e->gn[g])
            e->gl[g] /= (double)e->gn[g];
        double adj = e->n_train[g] > 0 ? c->adjustment / sqrt(e->n_train[g]) : 0;
        e->q[g] *= exp(c->eta * (e->gl[g] + adj));
        sum += e->q[g];
    }
    for (int g = 0; g < e->G; g++)
        e->q[g] /= sum;
    for (int64_t i = 0; i < bt->size; i++)
        e->wbuf[i] = (float)(e->q[bt->groups[i]] / (double)e->gn[bt->groups[i]]);
    return SC_OK;
}

/* errno of the first stdio call on dro.csv that failed, kept in e->csv_err. */
#define CSV_PUT(e, call)                                                                           \
    do {                                                                                           \
        if ((call) < 0 && !(e)->csv_err)                                                           \
            (e)->csv_err = errno ? errno : EIO;                                                    \
    } while (0)

static sc_status csv_status(const erm *e)
{
    return e->csv_err ? sc_error_set(SC_ERR_IO, "writing %s/dro.csv failed: %s",
                                     e->cfg->run_dir, strerror(e->csv_err))
                      : SC_OK;
}

static sc_status dro_log(erm *e)
{
    if (!e->csv)
        return SC_OK;
    CSV_PUT(e, fprintf(e->csv, "%lld", (long long)sc_optim_steps(e->opt)));
    for (int g = 0; g < e->G; g++)
        CSV_PUT(e, fprintf(e->csv, ",%.9g", e->q[g]));
    for (int g = 0; g < e->G; g++)
        if (e->gn[g])
            CSV_PUT(e, fprintf(e->csv, ",%.9g", e->gl[g]));
        else
            CSV_PUT(e, fputc(',', e->csv));
    CSV_PUT(e, fputc('\n', e->csv));
    return csv_status(e);
}

/* Data-parallel: a rank with an empty slice still takes part in the group
 * statistics' all-reduce, the gradient exchange and the update. */
static sc_status dro_empty_step(erm *e, sc_graph *g, const sc_batch *bt, sc__dp *dp, double *v,
                                int64_t *w)
{
    SC_TRY(dro_update(e, bt));
    for (size_t i = 0; i < e->np; i++)
        e->grads[i] = NULL;
    SC_TRY(sc__dp_sum_grads(dp, g, e->params, e->grads, e->np));
    SC_TRY(sc_optim_step(e->opt, e->grads, NULL));
    v[0] = v[1] = v[2] = 0;
    *w = 0;
    return dro_log(e);
}

static sc_status dro_step(void *self, sc_graph *g, const sc_batch *bt, sc__dp *dp, double *v,
                         int64_t *w)
{
    erm *e = self;
    int K = e->d->num_classes;
    if (bt->size == 0)
        return dro_empty_step(e, g, bt, dp, v, w);
    int64_t xs[4] = {bt->size, bt->c, bt->h, bt->w}, ls[1] = {bt->size};
    sc_var *x = sc_var_from_host(g, 4, xs, bt->images, false);
    sc_var *y = sc_var_from_host_i32(g, 1, ls, bt->labels);
    sc_var *lg = sc_model_forward(e->m, g, x, true);
    sc_var *l = sc_nn_cross_entropy(g, lg, y, NULL, SC_LOSS_NONE);
    SC_TRY(sc_graph_status(g));
    SC_TRY(sc_tensor_download(sc_var_tensor(l), e->lbuf));
    SC_TRY(sc_tensor_download(sc_var_tensor(lg), e->logits));
    double ce = 0;
    for (int64_t i = 0; i < bt->size; i++)
        ce += e->lbuf[i];
    v[2] = ce / (double)bt->size;
    static const char *const names[1] = {"cross-entropy"};
    SC_TRY(sc__check_finite("training", &v[2], names, 1));
    SC_TRY(dro_update(e, bt));
    sc_var *loss = sc_nn_sum(g, sc_nn_mul(g, l, sc_var_from_host(g, 1, ls, e->wbuf, false)));
    float lv = NAN;
    SC_TRY(sc_graph_status(g));
    SC_TRY(sc_grad(g, 1, &loss, NULL, (int)e->np, e->params, false, e->grads));
    SC_TRY(sc_tensor_download(sc_var_tensor(loss), &lv));
    v[0] = lv;
    if (sc_dist_size() > 1) {
        /* sum_i w_i l_i with w_i = q_g / n_g (global counts): each rank's
         * loss and gradient are its part of the global sum; the loss of
         * the step is sum_g q_g (mean loss of g) */
        SC_TRY(sc__dp_sum_grads(dp, g, e->params, e->grads, e->np));
        v[0] = 0;
        for (int gi = 0; gi < e->G; gi++)
            if (e->gn[gi])
                v[0] += e->q[gi] * e->gl[gi];
    }
    SC_TRY(sc_optim_step(e->opt, e->grads, NULL));
    int64_t correct = 0;
    for (int64_t i = 0; i < bt->size; i++)
        correct += sc__argmax(e->logits + i * K, K) == bt->labels[i];
    v[1] = (double)correct / (double)bt->size;
    *w = bt->size;
    return dro_log(e);
}

/* Group-balanced sampling: as many draws as training samples. */
static sc_status dro_open_csv(erm *e);

static sc_status dro_begin_epoch(void *self, int epoch, const int64_t **order, int64_t *n)
{
    erm *e = self;
    *order = NULL;
    *n = 0;
    if (!e->csv && sc_dist_writes()) /* rank 0 writes the run's files */
        SC_TRY(dro_open_csv(e));
    if (!e->dro->balanced)
        return SC_OK;
    *n = sc__train_count(e->d);
    *order = e->order;
    return sc_group_balanced_order(e->d, SC_SPLIT_TRAIN, e->cfg->seed, (uint64_t)epoch, *n,
                                   e->order);
}

static sc_status erm_evaluate(void *self, bool epoch_end, cJSON *line, double *sel,
                              const sc_group_metrics **shown)
{
    (void)epoch_end;
    erm *e = self;
    sc_group_metrics_free(&e->val);
    SC_TRY(sc_evaluate(e->ctx, e->m, e->d, SC_SPLIT_VAL, e->props, 512, &e->val));
    sc__json_add_metrics(line, "val_", &e->val, false);
    if (e->cfg->eval_test) {
        sc_group_metrics test;
        SC_TRY(sc_evaluate(e->ctx, e->m, e->d, SC_SPLIT_TEST, e->props, 512, &test));
        sc__json_add_metrics(line, "test_", &test, false);
        sc_group_metrics_free(&test);
    }
    *sel = e->cfg->select == SC_SELECT_VAL_WGA ? e->val.worst_group : e->val.accuracy;
    *shown = &e->val;
    if (e->dro) {
        cJSON *q = cJSON_AddArrayToObject(line, "group_weights");
        for (int g = 0; g < e->G; g++)
            cJSON_AddItemToArray(q, cJSON_CreateNumber(e->q[g]));
    }
    return SC_OK;
}

static sc_status dro_extra(void *self, bool loading, const sc_checkpoint_tensor **tensors,
                           size_t *n, cJSON *meta)
{
    (void)loading;
    (void)meta;
    erm *e = self;
    e->extra = (sc_checkpoint_tensor){.name = "dro.q", .dtype = SC_ST_F64, .ndim = 1,
                                      .shape = {e->G}, .host = e->q};
    *tensors = &e->extra;
    *n = 1;
    return SC_OK;
}

/* The GroupDRO state: uniform q, training counts. */
static sc_status dro_init(erm *e)
{
    const sc_dataset *d = e->d;
    int G = e->G = d->num_classes * d->num_attrs;
    int64_t B = e->cfg->batch_size;
    e->q = malloc((size_t)G * sizeof *e->q);
    e->gl = malloc((size_t)G * sizeof *e->gl);
    e->gsum = malloc((size_t)(2 * G) * sizeof *e->gsum);
    e->gn = malloc((size_t)G * sizeof *e->gn);
    e->n_train = calloc((size_t)G, sizeof *e->n_train);
    e->lbuf = malloc((size_t)B * sizeof *e->lbuf);
    e->order = malloc(((size_t)sc__train_count(d) + 1) * sizeof *e->order);
    if (!e->q || !e->gl || !e->gsum || !e->gn || !e->n_train || !e->lbuf || !e->order)
        return sc_oom("GroupDRO");
    for (int g = 0; g < G; g++)
        e->q[g] = 1.0 / G;
    for (int64_t i = 0; i < d->n; i++)
        if (d->split[i] == SC_SPLIT_TRAIN)
            e->n_train[d->groups[i]] += 1;
    if (!(e->dro->eta >= 0) || !(e->dro->adjustment >= 0))
        return sc_error_set(SC_ERR_INVALID_ARG, "GroupDRO needs eta >= 0 and C >= 0");
    return SC_OK;
}

/* DIR/dro.csv, opened at the first epoch's start: after the loop has
 * checked and recorded the run directory (a new run must find it empty). */
static sc_status dro_open_csv(erm *e)
{
    int G = e->G;
    char path[4096];
    snprintf(path, sizeof path, "%s/dro.csv", e->cfg->run_dir);
    e->csv = fopen(path, e->cfg->resume ? "a" : "w");
    if (!e->csv)
        return sc_error_set(SC_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    if (!e->cfg->resume) {
        CSV_PUT(e, fprintf(e->csv, "step"));
        for (int g = 0; g < G; g++)
            CSV_PUT(e, fprintf(e->csv, ",q%d", g));
        for (int g = 0; g < G; g++)
            CSV_PUT(e, fprintf(e->csv, ",loss%d", g));
        CSV_PUT(e, fputc('\n', e->csv));
    }
    return csv_status(e);
}

/* The end of a run: dro.csv's last lines reach the file (or say why not). */
static sc_status dro_close_csv(erm *e)
{
    if (!e->csv)
        return SC_OK;
    if (fclose(e->csv) != 0 && !e->csv_err)
        e->csv_err = errno ? errno : EIO;
    e->csv = NULL;
    return csv_status(e);
}

static void erm_free(erm *e)
{
    if (e->csv)
        fclose(e->csv);
    free(e->q);
    free(e->gl);
    free(e->gsum);
    free(e->gn);
    free(e->n_train);
    free(e->lbuf);
    free(e->order);
    sc_optim_free(e->opt);
    free(e->params);
    free(e->grads);
    free(e->logits);
    free(e->wbuf);
    free(e->props);
    sc_group_metrics_free(&e->val);
}

static sc_status train_run(sc_context *ctx, const sc_dataset *d, const sc_train_config *cfg_in,
                           const sc_dro_config *dro, sc_train_result *out)
{
    memset(out, 0, sizeof *out);
    sc_train_config cfg = *cfg_in;
    if (!cfg.run_dir)
        return sc_error_set(SC_ERR_INVALID_ARG, "training needs a run directory");
    cfg.model.in_channels = d->c;
    cfg.model.height = d->h;
    cfg.model.width = d->w;
    cfg.model.num_classes = d->num_classes;
    double t0 = sc_time_now();
    erm e = {.ctx = ctx, .d = d, .cfg = &cfg, .dro = dro};
    sc_status st = sc_model_create(ctx, &cfg.model, &e.m);
    if (st == SC_OK)
        st = sc_model_init(e.m, cfg.seed);
    if (st == SC_OK) {
        e.np = sc_model_param_count(e.m);
        e.params = calloc(e.np, sizeof *e.params);
        e.grads = calloc(e.np, sizeof *e.grads);
        e.logits = malloc((size_t)cfg.batch_size * (size_t)d->num_classes * sizeof *e.logits);
        e.wbuf = malloc((size_t)cfg.batch_size * sizeof *e.wbuf);
        if (!e.params || !e.grads || !e.logits || !e.wbuf)
            st = sc_oom("training");
    }
    for (size_t i = 0; st == SC_OK && i < e.np; i++)
        e.params[i] = sc_model_param(e.m, i);
    if (st == SC_OK)
        st = sc_loop_optim_create(ctx, d, &cfg.run, e.params, e.np, &e.opt);
    if (st == SC_OK)
        st = sc_group_props(d, SC_SPLIT_TRAIN, &e.props);
    if (st == SC_OK && dro)
        st = dro_init(&e);
    sc_trainer t = {
        .name = dro ? "groupdro" : "train",
        .self = &e,
        .nparts = 1,
        .parts = {{.file = "last.safetensors", .best_file = "best.safetensors", .model = e.m,
                   .optim = e.opt}},
        .nvalues = 2,
        .values = {{"train_loss", "loss"}, {"train_acc", "acc"}},
        .step = erm_step,
        .evaluate = erm_evaluate,
        .data_parallel = true,
    };
    if (dro) {
        t.nvalues = 3;
        t.values[0] = (sc_loop_value){"train_loss", "robust loss"};
        t.values[2] = (sc_loop_value){"train_ce", "ce"};
        t.step = dro_step;
        t.begin_epoch = dro_begin_epoch;
        t.extra = dro_extra;
    }
    sc_loop_result lr;
    if (st == SC_OK)
        st = sc_loop_run(ctx, d, &cfg.run, &t, &lr);
    if (st == SC_OK)
        st = dro_close_csv(&e);
    if (st == SC_OK) {
        out->selected_epoch = lr.selected_epoch;
        out->selected_step = lr.selected_step;
        out->last_step = lr.steps;
        out->model = e.m;
        if (lr.selected_best) {
            /* the selected model from its checkpoint; the trained one is kept */
            out->last_model = e.m;
            out->model = NULL;
            st = sc_model_create(ctx, &cfg.model, &out->model);
            if (st == SC_OK)
                st = sc_loop_load_best(&cfg.run, &t.parts[0], out->model);
        }
        e.m = NULL;
    }
    /* (data-parallel: every rank, each on its slices; sc_evaluate) */
    if (st == SC_OK)
        st = sc_evaluate(ctx, out->model, d, SC_SPLIT_VAL, e.props, 512, &out->val);
    if (st == SC_OK)
        st = sc_evaluate(ctx, out->model, d, SC_SPLIT_TEST, e.props, 512, &out->test);
    sc_model_free(e.m);
    erm_free(&e);
    out->seconds = sc_time_now() - t0;
    if (st != SC_OK)
        sc_train_result_free(out);
    return st;
}

sc_status sc_train_erm(sc_context *ctx, const sc_dataset *d, const sc_train_config *cfg,
                       sc_train_result *out)
{
    return train_run(ctx, d, cfg, NULL, out);
}

void sc_dro_config_default(sc_dro_config *c)
{
    memset(c, 0, sizeof *c);
    sc_train_config_default(&c->train);
    c->eta = 0.01;
    c->balanced = true;
}

sc_status sc_train_group_dro(sc_context *ctx, const sc_dataset *d, const sc_dro_config *cfg,
                             sc_train_result *out)
{
    sc_dro_config c = *cfg;
    c.train.sample_weights = NULL;
    return train_run(ctx, d, &c.train, &c, out);
}
