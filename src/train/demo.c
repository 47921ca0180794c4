/* The robustness demo (include/spurcl/demo.h): MNIST-SC, ERM, JTT and two
 * ULE teachers, one table, results.csv, results.json and saliency.png. */
#include "train/loop.h"
#include "train/train_internal.h"
#include "spurcl/demo.h"
#include "spurcl/io.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sc_demo_config_default(sc_demo_config *c)
{
    memset(c, 0, sizeof *c);
    c->out = "runs/demo";
    c->epochs = 1;
    c->eval_every = 25;
    /* the validation sweeps' picks (best val average accuracy, seed 0; README):
     * overlap on the full data, mse on a 20,000-image subset */
    c->lambda = 100;
    c->target = SC_SAL_PRED_LOGIT;
    c->overlap_lambda = 3000;
    c->overlap_target = SC_SAL_PRED_LOGIT;
}

sc_status sc_demo_build_data(const sc_demo_config *cfg, sc_dataset **out)
{
    *out = NULL;
    SC_TRY(sc_mkdir_p(cfg->out));
    sc_build_opts bo;
    sc_build_opts_default(&bo);
    bo.variant = SC_VARIANT_PATCH;
    bo.rho = 1.0;
    bo.test_clean = true;
    bo.seed = cfg->seed;
    bo.source.max_train = cfg->max_train;
    if (cfg->source_dir)
        bo.source.dir = cfg->source_dir;
    sc_dataset *d;
    sc_status st = sc_dataset_build(&bo, &d);
    if (st != SC_OK)
        return sc_error_wrap(st, "building the MNIST-SC data set");
    char path[4096];
    snprintf(path, sizeof path, "%s/mnist-sc.safetensors", cfg->out);
    if ((st = sc_dataset_save(d, path)) != SC_OK) {
        sc_dataset_free(d);
        return st;
    }
    *out = d;
    return SC_OK;
}

static sc_status row_for(sc_context *ctx, sc_model *m, const sc_dataset *d, const char *name,
                         int64_t step, const sc_group_metrics *val, const sc_group_metrics *test,
                         sc_demo_row *r)
{
    snprintf(r->method, sizeof r->method, "%s", name);
    r->step = step;
    r->val_acc = val->accuracy;
    r->test_acc = test->accuracy;
    r->test_wga = test->worst_group;
    r->test_mean = test->mean_group;
    return sc_saliency_mark_share(ctx, m, d, SC_SPLIT_VAL, 1000, SC_SAL_TRUE_LOGIT,
                                  &r->mark_share);
}

static sc_status write_csv(FILE *f, void *ud)
{
    const sc_demo_result *r = ud;
    fprintf(f, "method,step,val_acc_marked,test_acc_clean,test_worst_group,test_mean_group,"
               "val_mark_saliency_share\n");
    for (int i = 0; i < SC_DEMO_ROWS; i++) {
        const sc_demo_row *w = &r->rows[i];
        fprintf(f, "\"%s\",%lld,%.4f,%.4f,%.4f,%.4f,%.4f\n", w->method, /* names hold commas */
                (long long)w->step, w->val_acc, w->test_acc, w->test_wga, w->test_mean,
                w->mark_share);
    }
    return ferror(f) ? sc_error_set(SC_ERR_IO, "writing failed") : SC_OK;
}

static void json_num(cJSON *o, const char *k, double v)
{
    cJSON_AddNumberToObject(o, k, isfinite(v) ? v : -1);
}

static sc_status write_json(FILE *f, void *ud)
{
    const sc_demo_result *r = ud;
    cJSON *root = cJSON_CreateObject(), *rows = cJSON_AddArrayToObject(root, "rows");
    json_num(root, "seconds", r->seconds);
    json_num(root, "steps", (double)r->last_step);
    json_num(root, "jtt_upweighted", (double)r->jtt_errors);
    for (int i = 0; i < SC_DEMO_ROWS; i++) {
        const sc_demo_row *w = &r->rows[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "method", w->method);
        json_num(o, "step", (double)w->step);
        json_num(o, "val_acc_marked", w->val_acc);
        json_num(o, "test_acc_clean", w->test_acc);
        json_num(o, "test_worst_group", w->test_wga);
        json_num(o, "test_mean_group", w->test_mean);
        json_num(o, "val_mark_saliency_share", w->mark_share);
        cJSON_AddItemToArray(rows, o);
    }
    char *txt = cJSON_Print(root);
    cJSON_Delete(root);
    if (!txt)
        return sc_oom("results.json");
    int bad = fprintf(f, "%s\n", txt) < 0;
    cJSON_free(txt);
    return bad ? sc_error_set(SC_ERR_IO, "writing failed") : SC_OK;
}

static sc_status write_results(const char *dir, const sc_demo_result *r)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/results.csv", dir);
    sc_status st = sc_io_write_atomic(path, write_csv, (void *)r);
    if (st == SC_OK) {
        snprintf(path, sizeof path, "%s/results.json", dir);
        st = sc_io_write_atomic(path, write_json, (void *)r);
    }
    return st == SC_OK ? st : sc_error_wrap(st, "writing %s", path);
}

sc_status sc_demo_run(sc_context *ctx, const sc_dataset *d, const sc_demo_config *cfg,
                      sc_demo_result *out)
{
    memset(out, 0, sizeof *out);
    double t0 = sc_time_now();
    SC_TRY(sc_mkdir_p(cfg->out));
    char erm_dir[4096], jtt_dir[4096], ule_dir[4096], ulo_dir[4096];
    snprintf(erm_dir, sizeof erm_dir, "%s/erm", cfg->out);
    snprintf(jtt_dir, sizeof jtt_dir, "%s/jtt", cfg->out);
    snprintf(ule_dir, sizeof ule_dir, "%s/ule-mse", cfg->out);
    snprintf(ulo_dir, sizeof ulo_dir, "%s/ule-overlap", cfg->out);

    /* one run configuration for every method */
    sc_train_config tc;
    sc_train_config_default(&tc);
    tc.epochs = cfg->epochs;
    tc.seed = cfg->seed;
    tc.select = SC_SELECT_VAL_AVG;
    tc.eval_every = cfg->eval_every;
    tc.progress = cfg->progress;
    tc.progress_ud = cfg->progress_ud;
    out->last_step = sc_loop_steps_per_epoch(d, tc.batch_size) * tc.epochs;
    out->mark_area = 16.0 / (double)(d->h * d->w);

    sc_train_result erm = {0};
    sc_jtt_result jtt = {0};
    sc_ule_result ule = {0}, ulo = {0};
    tc.run_dir = erm_dir;
    tc.label = "erm";
    sc_status st = sc_train_erm(ctx, d, &tc, &erm);
    sc_model *erm_last = erm.last_model ? erm.last_model : erm.model;
    if (st == SC_OK) {
        /* ERM's last step: the shortcut learner (ULE's student with this seed) */
        sc_group_metrics lv = {0}, lt = {0};
        double *props = NULL;
        st = sc_group_props(d, SC_SPLIT_TRAIN, &props);
        if (st == SC_OK)
            st = sc_evaluate(ctx, erm_last, d, SC_SPLIT_VAL, props, 512, &lv);
        if (st == SC_OK)
            st = sc_evaluate(ctx, erm_last, d, SC_SPLIT_TEST, props, 512, &lt);
        if (st == SC_OK)
            st = row_for(ctx, erm_last, d, "ERM, last step", erm.last_step, &lv, &lt,
                         &out->rows[0]);
        sc_group_metrics_free(&lv);
        sc_group_metrics_free(&lt);
        free(props);
    }
    if (st == SC_OK)
        st = row_for(ctx, erm.model, d, "ERM", erm.selected_step, &erm.val, &erm.test,
                     &out->rows[1]);
    if (st != SC_OK)
        st = sc_error_wrap(st, "demo: ERM");

    sc_jtt_config jc;
    sc_jtt_config_default(&jc);
    jc.train = tc;
    jc.train.run_dir = jtt_dir;
    jc.train.label = "jtt";
    if (st == SC_OK) {
        if ((st = sc_train_jtt(ctx, d, &jc, &jtt)) == SC_OK)
            st = row_for(ctx, jtt.final.model, d, "JTT", jtt.final.selected_step,
                         &jtt.final.val, &jtt.final.test, &out->rows[2]);
        if (st != SC_OK)
            st = sc_error_wrap(st, "demo: JTT");
    }
    out->jtt_errors = jtt.errors;

    sc_ule_config uc;
    sc_ule_config_default(&uc);
    uc.run = tc.run;
    uc.run_dir = ule_dir;
    uc.label = "ule (mse)";
    uc.loss.lambda = (float)cfg->lambda;
    uc.loss.target = cfg->target;
    if (st == SC_OK) {
        if ((st = sc_train_ule(ctx, d, &uc, &ule)) == SC_OK)
            st = row_for(ctx, ule.teacher, d, "ULE teacher, mse", ule.selected_step,
                         &ule.teacher_val, &ule.teacher_test, &out->rows[3]);
        if (st != SC_OK)
            st = sc_error_wrap(st, "demo: ULE (mse)");
    }
    uc.loss.penalty = SC_ULE_PENALTY_OVERLAP;
    uc.loss.lambda = (float)cfg->overlap_lambda;
    uc.loss.target = cfg->overlap_target;
    uc.run_dir = ulo_dir;
    uc.label = "ule (overlap)";
    if (st == SC_OK) {
        if ((st = sc_train_ule(ctx, d, &uc, &ulo)) == SC_OK)
            st = row_for(ctx, ulo.teacher, d, "ULE teacher, overlap", ulo.selected_step,
                         &ulo.teacher_val, &ulo.teacher_test, &out->rows[4]);
        if (st != SC_OK)
            st = sc_error_wrap(st, "demo: ULE (overlap)");
    }
    if (st == SC_OK) {
        char path[4096];
        snprintf(path, sizeof path, "%s/saliency.png", cfg->out);
        sc_model *models[3] = {erm_last, ule.teacher, ulo.teacher};
        const char *titles[3] = {"erm last", "ule mse", "ule overlap"};
        st = sc_saliency_picture(ctx, d, models, titles, 3, path);
    }
    out->seconds = sc_time_now() - t0;
    if (st == SC_OK)
        st = write_results(cfg->out, out);
    sc_train_result_free(&erm);
    sc_train_result_free(&jtt.final);
    sc_ule_result_free(&ule);
    sc_ule_result_free(&ulo);
    return st;
}
