/* ERM: plain supervised training with seeded shuffling, per-epoch group
 * evaluation, JSON-lines metrics, atomic checkpoints and exact resume. */
#include "nn/graph.h"
#include "train/train_internal.h"
#include "spurcl/nn.h"
#include "spurcl/train.h"

#include <cjson/cJSON.h>
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
}

sc_status sc_select_parse(const char *s, sc_select *out)
{
    if (!strcmp(s, "last"))
        *out = SC_SELECT_LAST;
    else if (!strcmp(s, "val-avg"))
        *out = SC_SELECT_VAL_AVG;
    else if (!strcmp(s, "val-wga"))
        *out = SC_SELECT_VAL_WGA;
    else
        return sc_error_set(SC_ERR_INVALID_ARG,
                            "unknown selection '%s' (expected last, val-avg or val-wga)", s);
    return SC_OK;
}

const char *sc_select_name(sc_select s)
{
    return s == SC_SELECT_VAL_AVG ? "val-avg" : s == SC_SELECT_VAL_WGA ? "val-wga" : "last";
}

void sc_train_result_free(sc_train_result *r)
{
    if (!r)
        return;
    sc_model_free(r->model);
    sc_group_metrics_free(&r->val);
    sc_group_metrics_free(&r->test);
    memset(r, 0, sizeof *r);
}

static double select_value(sc_select s, const sc_group_metrics *val)
{
    return s == SC_SELECT_VAL_WGA ? val->worst_group : val->accuracy;
}

/* Selection state and what an evaluation needs. */
typedef struct erm_run {
    sc_context *ctx;
    sc_model *m;
    sc_optim *opt;
    const sc_dataset *d;
    const sc_train_config *cfg;
    const double *props;
    char last_path[4096], best_path[4096];
    int best_epoch;       /* 1-based epoch of the best evaluation, -1: none yet */
    int64_t best_step;    /* optimiser steps at it */
    double best_value;
    bool fresh;           /* the next metrics line starts DIR/metrics.jsonl anew */
} erm_run;

/* One evaluation point (every cfg->eval_every steps and at each epoch's
 * end): val (and test when asked) metrics, selection, the best checkpoint
 * when it improved, and at an epoch's end the last checkpoint. Adds the
 * metrics to `line`; val_out (if given) receives the val metrics. */
static sc_status erm_evaluate(erm_run *r, int epoch, bool epoch_end, cJSON *line,
                              sc_group_metrics *val_out)
{
    const sc_train_config *cfg = r->cfg;
    sc_group_metrics val = {0}, test = {0};
    sc_status st = sc_evaluate(r->ctx, r->m, r->d, SC_SPLIT_VAL, r->props, 512, &val);
    if (st == SC_OK && cfg->eval_test_each_epoch)
        st = sc_evaluate(r->ctx, r->m, r->d, SC_SPLIT_TEST, r->props, 512, &test);
    int64_t steps = sc_optim_steps(r->opt);
    double v = select_value(cfg->select, &val);
    bool improved = st == SC_OK && cfg->select != SC_SELECT_LAST && v > r->best_value;
    if (improved) {
        r->best_value = v;
        r->best_epoch = epoch;
        r->best_step = steps;
    }
    char extra[160];
    snprintf(extra, sizeof extra,
             "{\"best_epoch\": %d, \"best_step\": %lld, \"best_value\": %.17g, \"step\": %lld}",
             r->best_epoch, (long long)r->best_step,
             isfinite(r->best_value) ? r->best_value : -1.0, (long long)steps);
    if (st == SC_OK && epoch_end)
        st = sc_checkpoint_save(r->last_path, r->m, r->opt, epoch, cfg->seed, extra);
    if (st == SC_OK && improved)
        st = sc_checkpoint_save(r->best_path, r->m, r->opt, epoch, cfg->seed, extra);
    if (st == SC_OK) {
        cJSON_AddNumberToObject(line, "epoch", epoch);
        cJSON_AddNumberToObject(line, "step", (double)steps);
        cJSON_AddBoolToObject(line, "epoch_end", epoch_end);
        sc__json_add_metrics(line, "val", &val);
        if (cfg->eval_test_each_epoch)
            sc__json_add_metrics(line, "test", &test);
    }
    sc_group_metrics_free(&test);
    if (st == SC_OK && val_out)
        *val_out = val;
    else
        sc_group_metrics_free(&val);
    return st;
}

/* One training epoch. Returns SC_ERR_NUMERIC on a non-finite loss. */
static sc_status run_epoch(erm_run *r, sc_batcher *b, int epoch, double t_start,
                           double *loss_out, double *acc_out, int64_t *images)
{
    sc_context *ctx = r->ctx;
    sc_model *m = r->m;
    sc_optim *opt = r->opt;
    const sc_dataset *d = r->d;
    const sc_train_config *cfg = r->cfg;
    size_t np = sc_model_param_count(m);
    sc_var **params = malloc(np * sizeof *params), **grads = malloc(np * sizeof *grads);
    float *logits = malloc((size_t)cfg->batch_size * (size_t)d->num_classes * sizeof(float));
    float *wbuf = malloc((size_t)cfg->batch_size * sizeof(float));
    sc_graph *g = NULL;
    sc_status st = (!params || !grads || !logits || !wbuf)
                       ? sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of host memory (training)")
                       : sc_graph_create(ctx, &g);
    for (size_t i = 0; st == SC_OK && i < np; i++)
        params[i] = sc_model_param(m, i);
    int64_t ntrain = 0;
    for (int64_t i = 0; i < d->n; i++)
        ntrain += d->split[i] == SC_SPLIT_TRAIN;
    int64_t steps = (ntrain + cfg->batch_size - 1) / cfg->batch_size, step = 0;
    double loss_sum = 0, t0 = sc_time_now();
    int64_t correct = 0, seen = 0;
    sc_batcher_start_epoch(b, (uint64_t)epoch);
    const sc_batch *bt;
    while (st == SC_OK && (st = sc_batcher_next(b, &bt)) == SC_OK && bt) {
        int64_t xs[4] = {bt->size, bt->c, bt->h, bt->w}, ls[1] = {bt->size};
        sc_var *x = sc_var_from_host(g, 4, xs, bt->images, false);
        sc_var *y = sc_var_from_host_i32(g, 1, ls, bt->labels);
        sc_var *w = NULL;
        if (cfg->sample_weights) {
            for (int64_t i = 0; i < bt->size; i++)
                wbuf[i] = cfg->sample_weights[bt->indices[i]];
            w = sc_var_from_host(g, 1, ls, wbuf, false);
        }
        sc_var *lg = sc_model_forward(m, g, x, true);
        sc_var *loss = sc_nn_cross_entropy(g, lg, y, w, SC_LOSS_MEAN);
        float lv = NAN;
        if ((st = sc_graph_status(g)) != SC_OK ||
            (st = sc_grad(g, 1, &loss, NULL, (int)np, params, false, grads)) != SC_OK ||
            (st = sc_tensor_download(sc_var_tensor(loss), &lv)) != SC_OK ||
            (st = sc_tensor_download(sc_var_tensor(lg), logits)) != SC_OK)
            break;
        if (!isfinite(lv)) {
            st = sc_error_set(SC_ERR_NUMERIC, "the training loss became %g at epoch %d, step %lld",
                              (double)lv, epoch + 1, (long long)step + 1);
            break;
        }
        if ((st = sc_optim_step(opt, grads, NULL)) != SC_OK)
            break;
        for (int64_t i = 0; i < bt->size; i++) {
            const float *row = logits + i * d->num_classes;
            int best = 0;
            for (int k = 1; k < d->num_classes; k++)
                if (row[k] > row[best])
                    best = k;
            correct += best == bt->labels[i];
        }
        seen += bt->size;
        loss_sum += (double)lv * (double)bt->size;
        step++;
        sc_graph_reset(g);
        if (cfg->eval_every > 0 && step % cfg->eval_every == 0 && step < steps) {
            cJSON *line = cJSON_CreateObject();
            cJSON_AddNumberToObject(line, "train_loss", loss_sum / (double)seen);
            cJSON_AddNumberToObject(line, "train_acc", (double)correct / (double)seen);
            if ((st = erm_evaluate(r, epoch + 1, false, line, NULL)) == SC_OK)
                st = sc__append_jsonl(cfg->run_dir, line, r->fresh);
            r->fresh = false;
            cJSON_Delete(line);
            if (st != SC_OK)
                break;
        }
        if (cfg->progress) {
            double el = sc_time_now() - t0;
            sc_train_progress p = {.epoch = epoch + 1, .epochs = cfg->epochs, .step = step,
                                   .steps_per_epoch = steps, .loss = loss_sum / (double)seen,
                                   .accuracy = (double)correct / (double)seen,
                                   .images_per_s = el > 0 ? (double)seen / el : 0,
                                   .elapsed_s = sc_time_now() - t_start};
            double per_step = el / (double)step;
            p.eta_s = per_step * (double)((steps - step) + steps * (cfg->epochs - epoch - 1));
            cfg->progress(&p, cfg->progress_ud);
        }
    }
    sc_graph_free(g);
    free(params);
    free(grads);
    free(logits);
    free(wbuf);
    *loss_out = seen ? loss_sum / (double)seen : NAN;
    *acc_out = seen ? (double)correct / (double)seen : NAN;
    *images = seen;
    return st;
}

sc_status sc_train_erm(sc_context *ctx, const sc_dataset *d, const sc_train_config *cfg_in,
                       sc_train_result *out)
{
    memset(out, 0, sizeof *out);
    sc_train_config cfg = *cfg_in;
    if (cfg.epochs < 1 || cfg.batch_size < 1 || cfg.eval_every < 0)
        return sc_error_set(SC_ERR_INVALID_ARG,
                            "training needs epochs >= 1, batch size >= 1 and eval_every >= 0");
    if (!cfg.run_dir)
        return sc_error_set(SC_ERR_INVALID_ARG, "training needs a run directory");
    cfg.model.in_channels = d->c;
    cfg.model.height = d->h;
    cfg.model.width = d->w;
    cfg.model.num_classes = d->num_classes;
    SC_TRY(sc_mkdir_p(cfg.run_dir));

    double t_start = sc_time_now();
    erm_run run = {.ctx = ctx, .d = d, .cfg = &cfg, .best_epoch = -1, .best_value = -INFINITY,
                   .fresh = !cfg.resume};
    snprintf(run.last_path, sizeof run.last_path, "%s/last.safetensors", cfg.run_dir);
    snprintf(run.best_path, sizeof run.best_path, "%s/best.safetensors", cfg.run_dir);

    sc_model *m = NULL;
    sc_optim *opt = NULL;
    sc_batcher *b = NULL;
    double *props = NULL;
    sc_group_metrics val = {0};
    int start_epoch = 0;
    sc_status st = sc_model_create(ctx, &cfg.model, &m);
    if (st == SC_OK)
        st = sc_model_init(m, cfg.seed);
    size_t np = m ? sc_model_param_count(m) : 0;
    sc_var **params = calloc(np ? np : 1, sizeof *params);
    for (size_t i = 0; i < np; i++)
        params[i] = sc_model_param(m, i);
    if (st == SC_OK) {
        sc_optim_config oc = cfg.optim;
        if (oc.schedule == SC_SCHED_COSINE && oc.total_steps <= 0) {
            int64_t ntrain = 0;
            for (int64_t i = 0; i < d->n; i++)
                ntrain += d->split[i] == SC_SPLIT_TRAIN;
            oc.total_steps = (ntrain + cfg.batch_size - 1) / cfg.batch_size * cfg.epochs;
        }
        st = sc_optim_create(ctx, &oc, params, np, &opt);
    }
    if (st == SC_OK && cfg.resume) {
        st = sc_checkpoint_load(run.last_path, m, opt, &start_epoch);
        if (st == SC_OK) {
            sc_safetensors *ck;
            if (sc_safetensors_open(run.last_path, &ck) == SC_OK) {
                cJSON *o = cJSON_Parse(sc_safetensors_meta(ck, "config") ? sc_safetensors_meta(ck, "config") : "{}");
                const cJSON *be = cJSON_GetObjectItemCaseSensitive(o, "best_epoch");
                const cJSON *bs = cJSON_GetObjectItemCaseSensitive(o, "best_step");
                const cJSON *bv = cJSON_GetObjectItemCaseSensitive(o, "best_value");
                if (cJSON_IsNumber(be) && cJSON_IsNumber(bv) && be->valueint > 0) {
                    run.best_epoch = be->valueint;
                    run.best_value = bv->valuedouble;
                    run.best_step = cJSON_IsNumber(bs) ? (int64_t)bs->valuedouble : 0;
                }
                cJSON_Delete(o);
                sc_safetensors_close(ck);
            }
        } else {
            st = sc_error_wrap(st, "resuming from %s", cfg.run_dir);
        }
    }
    run.m = m;
    run.opt = opt;
    sc_batch_opts bo = {.batch_size = cfg.batch_size, .shuffle = true, .seed = cfg.seed};
    if (st == SC_OK)
        st = sc_batcher_create(d, SC_SPLIT_TRAIN, &bo, &b);
    if (st == SC_OK)
        st = sc_group_props(d, SC_SPLIT_TRAIN, &props);

    run.props = props;

    for (int epoch = start_epoch; st == SC_OK && epoch < cfg.epochs; epoch++) {
        double loss, acc, te = sc_time_now();
        int64_t imgs;
        st = run_epoch(&run, b, epoch, t_start, &loss, &acc, &imgs);
        if (st != SC_OK) {
            if (st == SC_ERR_NUMERIC)
                st = sc_error_wrap(st, "training stopped; the last good checkpoint is %s",
                                   epoch > 0 ? run.last_path : "(none: first epoch)");
            break;
        }
        double train_s = sc_time_now() - te;
        sc_group_metrics_free(&val);
        cJSON *line = cJSON_CreateObject();
        cJSON_AddNumberToObject(line, "steps", (double)sc_optim_steps(opt));
        cJSON_AddNumberToObject(line, "lr", sc_optim_lr(opt));
        cJSON_AddNumberToObject(line, "train_loss", loss);
        cJSON_AddNumberToObject(line, "train_acc", acc);
        cJSON_AddNumberToObject(line, "epoch_s", train_s);
        cJSON_AddNumberToObject(line, "images_per_s", train_s > 0 ? (double)imgs / train_s : 0);
        if ((st = erm_evaluate(&run, epoch + 1, true, line, &val)) == SC_OK)
            st = sc__append_jsonl(cfg.run_dir, line, run.fresh);
        run.fresh = false;
        cJSON_Delete(line);
        if (st == SC_OK && cfg.progress) {
            sc_train_progress p = {.epoch = epoch + 1, .epochs = cfg.epochs, .epoch_done = true,
                                   .loss = loss, .accuracy = acc, .val = &val,
                                   .elapsed_s = sc_time_now() - t_start};
            cfg.progress(&p, cfg.progress_ud);
        }
    }
    if (st == SC_OK) {
        out->selected_epoch = cfg.epochs;
        out->selected_step = sc_optim_steps(opt);
        if (cfg.select != SC_SELECT_LAST && run.best_epoch > 0) {
            st = sc_checkpoint_load(run.best_path, m, NULL, NULL);
            out->selected_epoch = run.best_epoch;
            out->selected_step = run.best_step;
        }
    }
    if (st == SC_OK)
        st = sc_evaluate(ctx, m, d, SC_SPLIT_VAL, props, 512, &out->val);
    if (st == SC_OK)
        st = sc_evaluate(ctx, m, d, SC_SPLIT_TEST, props, 512, &out->test);
    sc_group_metrics_free(&val);
    sc_batcher_free(b);
    sc_optim_free(opt);
    free(params);
    free(props);
    out->seconds = sc_time_now() - t_start;
    if (st != SC_OK) {
        sc_model_free(m);
        sc_group_metrics_free(&out->val);
        sc_group_metrics_free(&out->test);
        return st;
    }
    out->model = m;
    return SC_OK;
}
