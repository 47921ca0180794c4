/* ERM: plain supervised training on the shared loop (src/train/loop.c):
 * cross-entropy (optionally weighted per sample, for JTT), per-group
 * evaluation of val (and test) at each evaluation point, selection by val
 * accuracy or worst-group accuracy. */
#include "train/loop.h"
#include "train/train_internal.h"
#include "spurcl/nn.h"
#include "spurcl/train.h"

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
}

static const char *const select_names[] = {"last", "val-avg", "val-wga"};

sc_status sc_select_parse(const char *s, sc_select *out)
{
    int v;
    SC_TRY(sc_enum_parse("selection", select_names, 3, s, &v));
    *out = (sc_select)v;
    return SC_OK;
}

const char *sc_select_name(sc_select s) { return sc_enum_name(select_names, 3, (int)s); }

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
} erm;

static sc_status erm_step(void *self, sc_graph *g, const sc_batch *bt, double *v, int64_t *w)
{
    erm *e = self;
    int K = e->d->num_classes;
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
    SC_TRY(sc_optim_step(e->opt, e->grads, NULL));
    int64_t correct = 0;
    for (int64_t i = 0; i < bt->size; i++)
        correct += sc__argmax(e->logits + i * K, K) == bt->labels[i];
    v[1] = (double)correct / (double)bt->size;
    *w = bt->size;
    return SC_OK;
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
    return SC_OK;
}

static void erm_free(erm *e)
{
    sc_optim_free(e->opt);
    free(e->params);
    free(e->grads);
    free(e->logits);
    free(e->wbuf);
    free(e->props);
    sc_group_metrics_free(&e->val);
}

sc_status sc_train_erm(sc_context *ctx, const sc_dataset *d, const sc_train_config *cfg_in,
                       sc_train_result *out)
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
    erm e = {.ctx = ctx, .d = d, .cfg = &cfg};
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
    sc_trainer t = {
        .name = "train",
        .self = &e,
        .nparts = 1,
        .parts = {{.file = "last.safetensors", .best_file = "best.safetensors", .model = e.m,
                   .optim = e.opt}},
        .nvalues = 2,
        .values = {{"train_loss", "loss"}, {"train_acc", "acc"}},
        .step = erm_step,
        .evaluate = erm_evaluate,
    };
    sc_loop_result lr;
    if (st == SC_OK)
        st = sc_loop_run(ctx, d, &cfg.run, &t, &lr);
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
