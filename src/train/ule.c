/* ULE training: student and teacher on the same mini-batches (methods
 * spec, section 1). Per batch:
 *   student  forward once; its input gradient (the map, a constant for the
 *            teacher) and its cross-entropy gradient come from that one graph;
 *            one optimiser step;
 *   teacher  L_T = CE + lambda * mean (n(g_T) + n(g_S))^2, the gradient with
 *            respect to its parameters through the saliency (second order);
 *            one optimiser step.
 * No group labels are read for training or selection (val-wga is refused). */
#include "nn/graph.h"
#include "train/train_internal.h"
#include "spurcl/io.h"
#include "spurcl/nn.h"
#include "spurcl/ule.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sc_ule_config_default(sc_ule_config *c)
{
    memset(c, 0, sizeof *c);
    sc_model_config_default(&c->student, SC_MODEL_CNN, 0, 0, 0, 0);
    c->teacher = c->student;
    sc_optim_config_default(&c->optim, SC_OPT_ADAMW);
    sc_ule_loss_config_default(&c->loss);
    c->epochs = 2;
    c->batch_size = 128;
    c->select = SC_SELECT_LAST;
}

void sc_ule_result_free(sc_ule_result *r)
{
    if (!r)
        return;
    sc_model_free(r->student);
    sc_model_free(r->teacher);
    sc_group_metrics_free(&r->student_val);
    sc_group_metrics_free(&r->student_test);
    sc_group_metrics_free(&r->teacher_val);
    sc_group_metrics_free(&r->teacher_test);
    memset(r, 0, sizeof *r);
}

typedef struct ule_side {
    sc_model *m;
    sc_optim *opt;
    sc_var **train;   /* trainable parameters */
    sc_var **grads;
    size_t ntrain;
} ule_side;

static void side_free(ule_side *s)
{
    sc_model_free(s->m);
    sc_optim_free(s->opt);
    free(s->train);
    free(s->grads);
    memset(s, 0, sizeof *s);
}

static sc_status side_create(sc_context *ctx, const sc_ule_config *cfg, sc_model_config mc,
                             const sc_dataset *d, uint64_t seed, ule_side *s)
{
    mc.in_channels = d->c;
    mc.height = d->h;
    mc.width = d->w;
    mc.num_classes = d->num_classes;
    SC_TRY(sc_model_create(ctx, &mc, &s->m));
    SC_TRY(sc_model_init(s->m, seed));
    if (cfg->init) {
        sc_status st = sc_checkpoint_load(cfg->init, s->m, NULL, NULL);
        if (st != SC_OK)
            return sc_error_wrap(st, "loading the initial weights (--init)");
    }
    if (cfg->saliency_layer)
        SC_TRY(sc_model_set_capture(s->m, cfg->saliency_layer));
    size_t np = sc_model_param_count(s->m);
    s->train = calloc(np, sizeof *s->train);
    s->grads = calloc(np, sizeof *s->grads);
    if (!s->train || !s->grads)
        return sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of host memory (ule)");
    for (size_t i = 0; i < np; i++) {
        sc_var *p = sc_model_param(s->m, i);
        if (!cfg->freeze_backbone || sc_model_is_head_param(s->m, sc_var_name(p)))
            s->train[s->ntrain++] = p;
    }
    return sc_optim_create(ctx, &cfg->optim, s->train, s->ntrain, &s->opt);
}

/* One ULE step on a batch. Losses out: student CE, teacher CE, penalty. */
static sc_status ule_step(sc_graph *g, const sc_ule_config *cfg, ule_side *S, ule_side *T,
                          const sc_batch *bt, float out[3])
{
    int64_t xs[4] = {bt->size, bt->c, bt->h, bt->w}, ls[1] = {bt->size};
    sc_var *x = sc_var_from_host(g, 4, xs, bt->images, true);
    sc_var *y = sc_var_from_host_i32(g, 1, ls, bt->labels);

    /* student: one forward; the map (w.r.t. x or the captured layer), then CE */
    sc_var *slog = sc_model_forward(S->m, g, x, true);
    sc_var *sce = sc_nn_cross_entropy(g, slog, y, NULL, SC_LOSS_MEAN);
    sc_var *wrt = sc_model_captured(S->m) ? sc_model_captured(S->m) : x;
    sc_var *smap = sc_nn_saliency(g, wrt, slog, y, cfg->loss.target, false);
    bool rec = sc_graph_recording(g);
    sc_graph_set_recording(g, false);
    smap = sc_nn_saliency_normalize(g, smap, cfg->loss.norm, cfg->loss.eps);
    sc_graph_set_recording(g, rec);
    SC_TRY(sc_graph_status(g));
    SC_TRY(sc_grad(g, 1, &sce, NULL, (int)S->ntrain, S->train, false, S->grads));

    /* teacher */
    sc_ule_loss_parts parts;
    SC_TRY(sc_ule_teacher_loss(g, T->m, x, y, smap, &cfg->loss, &parts));
    SC_TRY(sc_grad(g, 1, &parts.loss, NULL, (int)T->ntrain, T->train, false, T->grads));

    SC_TRY(sc_tensor_download(sc_var_tensor(sce), &out[0]));
    SC_TRY(sc_tensor_download(sc_var_tensor(parts.ce), &out[1]));
    SC_TRY(sc_tensor_download(sc_var_tensor(parts.penalty), &out[2]));
    for (int i = 0; i < 3; i++)
        if (!isfinite(out[i]))
            return sc_error_set(SC_ERR_NUMERIC, "a ULE loss became %g (student CE %g, teacher CE "
                                                "%g, penalty %g)",
                                (double)out[i], (double)out[0], (double)out[1], (double)out[2]);
    /* both step after both gradients exist: the teacher saw the student's
     * map from the same weights the student's gradient was taken at */
    SC_TRY(sc_optim_step(S->opt, S->grads, NULL));
    SC_TRY(sc_optim_step(T->opt, T->grads, NULL));
    return SC_OK;
}

/* Where selection stands: the best teacher val accuracy so far and when. */
typedef struct ule_best {
    double value;
    int epoch;       /* 1-based epoch the evaluation fell in */
    int64_t step;    /* optimiser steps taken at that evaluation */
} ule_best;

typedef struct ule_run {
    sc_context *ctx;
    const sc_dataset *d;
    const sc_ule_config *cfg;
    ule_side *S, *T;
    const double *props;
    char spath[4096], tpath[4096], sbest[4096], tbest[4096];
    ule_best best;
    bool first_line;
} ule_run;

/* One evaluation point: both models on val (and test when asked), a JSON
 * line, the best checkpoints when the teacher's val accuracy improved
 * (val-avg), and at an epoch's end the last checkpoints. */
static sc_status ule_evaluate(ule_run *r, int epoch, int64_t step, int64_t total_steps,
                              bool epoch_end, const double sums[3], int64_t seen, double epoch_s,
                              sc_group_metrics *tv_out)
{
    const sc_ule_config *cfg = r->cfg;
    sc_group_metrics sv = {0}, tv = {0}, st_ = {0}, tt = {0};
    sc_status st = sc_evaluate(r->ctx, r->S->m, r->d, SC_SPLIT_VAL, r->props, 512, &sv);
    if (st == SC_OK)
        st = sc_evaluate(r->ctx, r->T->m, r->d, SC_SPLIT_VAL, r->props, 512, &tv);
    if (st == SC_OK && cfg->eval_test) {
        st = sc_evaluate(r->ctx, r->S->m, r->d, SC_SPLIT_TEST, r->props, 512, &st_);
        if (st == SC_OK)
            st = sc_evaluate(r->ctx, r->T->m, r->d, SC_SPLIT_TEST, r->props, 512, &tt);
    }
    bool improved = st == SC_OK && cfg->select == SC_SELECT_VAL_AVG && tv.accuracy > r->best.value;
    if (improved)
        r->best = (ule_best){.value = tv.accuracy, .epoch = epoch, .step = total_steps};
    if (st == SC_OK && epoch_end) {
        /* the teacher's metadata carries the selection state for --resume */
        char tm[192];
        snprintf(tm, sizeof tm,
                 "{\"role\": \"teacher\", \"best_epoch\": %d, \"best_step\": %lld, "
                 "\"best_value\": %.17g}",
                 r->best.epoch, (long long)r->best.step,
                 isfinite(r->best.value) ? r->best.value : -1.0);
        st = sc_checkpoint_save(r->spath, r->S->m, r->S->opt, epoch, cfg->seed, "{\"role\": \"student\"}");
        if (st == SC_OK)
            st = sc_checkpoint_save(r->tpath, r->T->m, r->T->opt, epoch, cfg->seed, tm);
    }
    if (improved) {
        char sm[96], tm[96];
        snprintf(sm, sizeof sm, "{\"role\": \"student\", \"step\": %lld}", (long long)total_steps);
        snprintf(tm, sizeof tm, "{\"role\": \"teacher\", \"step\": %lld}", (long long)total_steps);
        st = sc_checkpoint_save(r->sbest, r->S->m, NULL, epoch, cfg->seed, sm);
        if (st == SC_OK)
            st = sc_checkpoint_save(r->tbest, r->T->m, NULL, epoch, cfg->seed, tm);
    }
    if (st == SC_OK) {
        cJSON *line = cJSON_CreateObject();
        cJSON_AddNumberToObject(line, "epoch", epoch);
        cJSON_AddNumberToObject(line, "step", (double)total_steps);
        cJSON_AddNumberToObject(line, "epoch_step", (double)step);
        cJSON_AddBoolToObject(line, "epoch_end", epoch_end);
        cJSON_AddNumberToObject(line, "lambda", cfg->loss.lambda);
        cJSON_AddNumberToObject(line, "student_train_ce", sums[0] / (double)seen);
        cJSON_AddNumberToObject(line, "teacher_train_ce", sums[1] / (double)seen);
        cJSON_AddNumberToObject(line, "teacher_penalty", sums[2] / (double)seen);
        sc__json_add_metrics(line, "student_val", &sv);
        sc__json_add_metrics(line, "teacher_val", &tv);
        if (cfg->eval_test) {
            sc__json_add_metrics(line, "student_test", &st_);
            sc__json_add_metrics(line, "teacher_test", &tt);
        }
        if (epoch_end)
            cJSON_AddNumberToObject(line, "epoch_s", epoch_s);
        st = sc__append_jsonl(cfg->run_dir, line, r->first_line);
        r->first_line = false;
        cJSON_Delete(line);
    }
    sc_group_metrics_free(&sv);
    sc_group_metrics_free(&st_);
    sc_group_metrics_free(&tt);
    if (st == SC_OK && tv_out)
        *tv_out = tv;
    else
        sc_group_metrics_free(&tv);
    return st;
}

/* --resume: both models and optimisers from the run directory's last
 * checkpoints (the same epoch), the selection state from the teacher's. */
static sc_status ule_resume(ule_run *r, int *start_epoch)
{
    int es = 0, et = 0;
    sc_status st = sc_checkpoint_load(r->spath, r->S->m, r->S->opt, &es);
    if (st == SC_OK)
        st = sc_checkpoint_load(r->tpath, r->T->m, r->T->opt, &et);
    if (st != SC_OK)
        return sc_error_wrap(st, "resuming ule from %s", r->cfg->run_dir);
    if (es != et)
        return sc_error_set(SC_ERR_FORMAT, "resuming ule from %s: the student checkpoint is at "
                                           "epoch %d, the teacher's at %d", r->cfg->run_dir, es, et);
    sc_safetensors *ck;
    if ((st = sc_safetensors_open(r->tpath, &ck)) != SC_OK)
        return st;
    const char *meta = sc_safetensors_meta(ck, "config");
    cJSON *o = cJSON_Parse(meta ? meta : "{}");
    const cJSON *be = cJSON_GetObjectItemCaseSensitive(o, "best_epoch");
    const cJSON *bs = cJSON_GetObjectItemCaseSensitive(o, "best_step");
    const cJSON *bv = cJSON_GetObjectItemCaseSensitive(o, "best_value");
    if (cJSON_IsNumber(be) && cJSON_IsNumber(bs) && cJSON_IsNumber(bv) && be->valueint > 0)
        r->best = (ule_best){.value = bv->valuedouble, .epoch = be->valueint,
                             .step = (int64_t)bs->valuedouble};
    cJSON_Delete(o);
    sc_safetensors_close(ck);
    *start_epoch = et;
    r->first_line = false; /* metrics.jsonl goes on */
    return SC_OK;
}

sc_status sc_train_ule(sc_context *ctx, const sc_dataset *d, const sc_ule_config *cfg,
                       sc_ule_result *out)
{
    memset(out, 0, sizeof *out);
    if (cfg->epochs < 1 || cfg->batch_size < 1 || !cfg->run_dir || cfg->eval_every < 0)
        return sc_error_set(SC_ERR_INVALID_ARG, "ule needs epochs >= 1, batch >= 1, "
                                                "eval_every >= 0 and a run directory");
    if (cfg->select == SC_SELECT_VAL_WGA)
        return sc_error_set(SC_ERR_INVALID_ARG,
                            "ule selects without group labels: use --select last or val-avg");
    if (cfg->saliency_layer && strcmp(cfg->saliency_layer, "input") &&
        cfg->student.kind != cfg->teacher.kind)
        return sc_error_set(SC_ERR_INVALID_ARG, "saliency at a hidden layer needs the same "
                                                "architecture for student and teacher");
    SC_TRY(sc_mkdir_p(cfg->run_dir));
    double t0 = sc_time_now();
    ule_side S = {0}, T = {0};
    sc_batcher *b = NULL;
    sc_graph *g = NULL;
    double *props = NULL;
    ule_run run = {.ctx = ctx, .d = d, .cfg = cfg, .S = &S, .T = &T,
                   .best = {.value = -INFINITY}, .first_line = true};
    snprintf(run.spath, sizeof run.spath, "%s/student.safetensors", cfg->run_dir);
    snprintf(run.tpath, sizeof run.tpath, "%s/teacher.safetensors", cfg->run_dir);
    snprintf(run.sbest, sizeof run.sbest, "%s/student-best.safetensors", cfg->run_dir);
    snprintf(run.tbest, sizeof run.tbest, "%s/teacher-best.safetensors", cfg->run_dir);
    sc_status st = side_create(ctx, cfg, cfg->student, d, cfg->seed, &S);
    if (st == SC_OK)
        st = side_create(ctx, cfg, cfg->teacher, d, cfg->seed + 1, &T);
    sc_batch_opts bo = {.batch_size = cfg->batch_size, .shuffle = true, .seed = cfg->seed};
    if (st == SC_OK)
        st = sc_batcher_create(d, SC_SPLIT_TRAIN, &bo, &b);
    if (st == SC_OK)
        st = sc_graph_create(ctx, &g);
    if (st == SC_OK)
        st = sc_group_props(d, SC_SPLIT_TRAIN, &props);
    run.props = props;
    int start_epoch = 0;
    if (st == SC_OK && cfg->resume)
        st = ule_resume(&run, &start_epoch);
    int64_t ntrain = 0;
    for (int64_t i = 0; i < d->n; i++)
        ntrain += d->split[i] == SC_SPLIT_TRAIN;
    int64_t steps = (ntrain + cfg->batch_size - 1) / cfg->batch_size;
    int64_t total_steps = steps * start_epoch;
    double step_time = 0, eval_time = 0;
    for (int epoch = start_epoch; st == SC_OK && epoch < cfg->epochs; epoch++) {
        sc_batcher_start_epoch(b, (uint64_t)epoch);
        double sums[3] = {0}, te = sc_time_now();
        int64_t seen = 0, step = 0;
        const sc_batch *bt;
        while (st == SC_OK && (st = sc_batcher_next(b, &bt)) == SC_OK && bt) {
            float l[3];
            double ts = sc_time_now();
            st = ule_step(g, cfg, &S, &T, bt, l);
            step_time += sc_time_now() - ts;
            sc_graph_reset(g);
            if (st != SC_OK) {
                st = sc_error_wrap(st, "ule epoch %d, step %lld", epoch + 1, (long long)step + 1);
                break;
            }
            for (int k = 0; k < 3; k++)
                sums[k] += (double)l[k] * (double)bt->size;
            seen += bt->size;
            step++;
            total_steps++;
            if (cfg->eval_every > 0 && step % cfg->eval_every == 0 && step < steps) {
                double tv0 = sc_time_now();
                st = ule_evaluate(&run, epoch + 1, step, total_steps, false, sums, seen, 0, NULL);
                eval_time += sc_time_now() - tv0;
            }
            if (cfg->progress && st == SC_OK) {
                double el = sc_time_now() - te;
                sc_train_progress p = {.epoch = epoch + 1, .epochs = cfg->epochs, .step = step,
                                       .steps_per_epoch = steps, .loss = sums[1] / (double)seen,
                                       .accuracy = NAN, .penalty = sums[2] / (double)seen,
                                       .has_penalty = true,
                                       .images_per_s = el > 0 ? (double)seen / el : 0,
                                       .elapsed_s = sc_time_now() - t0};
                p.eta_s = el / (double)step *
                          (double)((steps - step) + steps * (cfg->epochs - epoch - 1));
                cfg->progress(&p, cfg->progress_ud);
            }
        }
        if (st != SC_OK)
            break;
        double epoch_s = sc_time_now() - te;
        sc_group_metrics tv;
        double tv0 = sc_time_now();
        st = ule_evaluate(&run, epoch + 1, step, total_steps, true, sums, seen, epoch_s,
                          &tv);
        eval_time += sc_time_now() - tv0;
        if (st != SC_OK)
            break;
        if (cfg->progress) {
            sc_train_progress p = {.epoch = epoch + 1, .epochs = cfg->epochs, .epoch_done = true,
                                   .loss = sums[1] / (double)seen, .accuracy = NAN,
                                   .penalty = sums[2] / (double)seen, .has_penalty = true,
                                   .val = &tv, .elapsed_s = sc_time_now() - t0};
            cfg->progress(&p, cfg->progress_ud);
        }
        sc_group_metrics_free(&tv);
    }
    out->selected_epoch = cfg->epochs;
    out->selected_step = total_steps;
    if (st == SC_OK && cfg->select == SC_SELECT_VAL_AVG && run.best.epoch > 0) {
        out->selected_epoch = run.best.epoch;
        out->selected_step = run.best.step;
        if ((st = sc_checkpoint_load(run.sbest, S.m, NULL, NULL)) == SC_OK)
            st = sc_checkpoint_load(run.tbest, T.m, NULL, NULL);
    }
    if (st == SC_OK) st = sc_evaluate(ctx, S.m, d, SC_SPLIT_VAL, props, 512, &out->student_val);
    if (st == SC_OK) st = sc_evaluate(ctx, S.m, d, SC_SPLIT_TEST, props, 512, &out->student_test);
    if (st == SC_OK) st = sc_evaluate(ctx, T.m, d, SC_SPLIT_VAL, props, 512, &out->teacher_val);
    if (st == SC_OK) st = sc_evaluate(ctx, T.m, d, SC_SPLIT_TEST, props, 512, &out->teacher_test);
    sc_graph_free(g);
    sc_batcher_free(b);
    free(props);
    out->seconds = sc_time_now() - t0;
    out->eval_seconds = eval_time;
    out->step_ms = total_steps ? 1e3 * step_time / (double)total_steps : 0;
    if (st != SC_OK) {
        side_free(&S);
        side_free(&T);
        sc_ule_result_free(out);
        return st;
    }
    out->student = S.m;
    out->teacher = T.m;
    S.m = T.m = NULL;
    side_free(&S);
    side_free(&T);
    return SC_OK;
}
