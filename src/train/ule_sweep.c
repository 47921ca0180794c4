/* ULE's lambda sweep: one run per lambda, the best teacher val average
 * accuracy selected (no group labels), DIR/results.json. */
#include "train/train_internal.h"
#include "spurcl/dist.h"
#include "spurcl/io.h"
#include "spurcl/ule.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct sweep_summary {
    const sc_ule_config *cfg;
    const double *lambdas;
    const sc_ule_result *res;
    int n, best;
} sweep_summary;

static cJSON *metrics_object(const sc_group_metrics *m)
{
    cJSON *o = cJSON_CreateObject();
    sc__json_add_metrics(o, "", m, false);
    return o;
}

/* results.json's text (cJSON_free it), or NULL when out of memory. */
static char *summary_text(const sweep_summary *u)
{
    cJSON *root = cJSON_CreateObject(), *runs = cJSON_AddArrayToObject(root, "runs");
    cJSON_AddStringToObject(root, "select", sc_select_name(u->cfg->select));
    cJSON_AddStringToObject(root, "sweep_select", "teacher val accuracy");
    cJSON_AddNumberToObject(root, "selected_lambda", u->lambdas[u->best]);
    for (int i = 0; i < u->n; i++) {
        const sc_ule_result *r = &u->res[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "lambda", u->lambdas[i]);
        cJSON_AddNumberToObject(o, "selected_step", (double)r->selected_step);
        cJSON_AddNumberToObject(o, "selected_epoch", r->selected_epoch);
        cJSON_AddNumberToObject(o, "step_ms", r->step_ms);
        cJSON_AddNumberToObject(o, "seconds", r->seconds);
        cJSON_AddItemToObject(o, "student_val", metrics_object(&r->student_val));
        cJSON_AddItemToObject(o, "student_test", metrics_object(&r->student_test));
        cJSON_AddItemToObject(o, "teacher_val", metrics_object(&r->teacher_val));
        cJSON_AddItemToObject(o, "teacher_test", metrics_object(&r->teacher_test));
        if (isfinite(r->student_mark_share)) {
            cJSON_AddNumberToObject(o, "student_mark_share", r->student_mark_share);
            cJSON_AddNumberToObject(o, "teacher_mark_share", r->teacher_mark_share);
        }
        cJSON_AddItemToArray(runs, o);
    }
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    return text;
}

sc_status sc_train_ule_sweep(sc_context *ctx, const sc_dataset *d, const sc_ule_config *cfg,
                             const double *lambdas, int n, sc_ule_result *results, int *best)
{
    *best = -1;
    if (n < 1 || !cfg->run_dir)
        return sc_error_set(SC_ERR_INVALID_ARG, "a ule sweep needs lambdas and a run directory");
    memset(results, 0, (size_t)n * sizeof *results);
    /* a sweep's directory is checked and recorded here, each lambda's run
     * in its lambda-L/ by the loop (one lambda: the loop, in DIR itself) */
    /* (rank 0 alone under mpirun: the one that writes) */
    bool writes = sc_dist_writes();
    sc_status st = n > 1 && writes ? sc_run_record(ctx, d, &cfg->run, "ule sweep") : SC_OK;
    double best_val = -INFINITY;
    char dir[4096];
    for (int i = 0; st == SC_OK && i < n; i++) {
        sc_ule_config c = *cfg;
        c.loss.lambda = (float)lambdas[i];
        if (n > 1)
            snprintf(dir, sizeof dir, "%s/lambda-%g", cfg->run_dir, lambdas[i]);
        else
            snprintf(dir, sizeof dir, "%s", cfg->run_dir);
        c.run_dir = dir;
        /* a sweep resumes the lambdas it reached and starts the others */
        char ck[4200], state[4200];
        snprintf(ck, sizeof ck, "%s/teacher.safetensors", dir);
        snprintf(state, sizeof state, "%s/run.json", dir);
        c.resume = cfg->resume &&
                   (n == 1 || access(ck, F_OK) == 0 || access(state, F_OK) == 0);
        c.force = cfg->force || n > 1; /* a lambda's run that did not reach a checkpoint restarts */
        char label[96];
        snprintf(label, sizeof label, "%s lambda %g", cfg->label ? cfg->label : "ule", lambdas[i]);
        c.label = label;
        st = sc_train_ule(ctx, d, &c, &results[i]);
        if (st == SC_OK && results[i].teacher_val.accuracy > best_val) {
            best_val = results[i].teacher_val.accuracy;
            *best = i;
        }
    }
    if (st != SC_OK)
        return st;
    sweep_summary sum = {.cfg = cfg, .lambdas = lambdas, .res = results, .n = n, .best = *best};
    sc_ule_result *r = &results[*best];
    sc_patch_layout layout;
    int psz;
    if (writes && sc_dataset_patch_params(d, &layout, &psz) == SC_OK) {
        st = sc_saliency_mark_share(ctx, r->student, d, SC_SPLIT_VAL, 1000, cfg->loss.target,
                                    &r->student_mark_share);
        if (st == SC_OK)
            st = sc_saliency_mark_share(ctx, r->teacher, d, SC_SPLIT_VAL, 1000, cfg->loss.target,
                                        &r->teacher_mark_share);
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/results.json", cfg->run_dir);
    if (st == SC_OK && writes) {
        char *text = summary_text(&sum);
        st = sc_io_write_error(sc_io_write_text_atomic(path, text), path);
        cJSON_free(text);
    }
    return st;
}
