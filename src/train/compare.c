/* The robustness comparison (include/spurcl/compare.h): methods x seeds x
 * grid settings, post-hoc selection from each run's metrics.jsonl, the
 * table, results.csv, results.json and chart.png. */
#include "train/train_internal.h"
#include "spurcl/compare.h"
#include "spurcl/dist.h"
#include "spurcl/sys.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const method_names[SC_METHOD_COUNT] = {"erm", "jtt", "groupdro", "dfr",
                                                          "ule"};
/* group labels each method reads */
static const char *const method_labels[SC_METHOD_COUNT] = {"none", "none", "train", "val",
                                                           "none"};

SC_ENUM_FUNCS(sc_method, method, "method", method_names, NULL)

void sc_compare_config_default(sc_compare_config *c)
{
    memset(c, 0, sizeof *c);
    c->out = "runs/compare";
    for (int m = 0; m < SC_METHOD_COUNT; m++)
        c->methods[m] = true;
    c->seeds = 5;
    sc_train_config_default(&c->train);
    sc_jtt_config jc;
    sc_jtt_config_default(&jc);
    c->jtt_id_epochs = jc.id_epochs;
    c->jtt_upweight = jc.upweight;
    sc_dro_config dc;
    sc_dro_config_default(&dc);
    c->dro_eta = dc.eta;
    c->dro_balanced = dc.balanced;
    sc_dfr_config_default(&c->dfr);
    sc_ule_loss_config_default(&c->ule_loss);
}

/* ---- the grid ------------------------------------------------------------------ */

enum { K_ULE_LAMBDA, K_JTT_UPWEIGHT, K_JTT_ID_EPOCHS, K_DRO_ETA, K_DRO_ADJ, K_LR, K_WD, K_COUNT };
static const char *const key_names[K_COUNT] = {"ule.lambda", "jtt.upweight", "jtt.id-epochs",
                                               "dro.eta",    "dro.adjustment", "lr",
                                               "weight-decay"};
#define MAX_VALUES 16
#define MAX_SETTINGS 64

typedef struct grid {
    int nvalues[K_COUNT];
    double values[K_COUNT][MAX_VALUES];
} grid;

static bool key_applies(int key, sc_method m)
{
    switch (key) {
    case K_ULE_LAMBDA: return m == SC_METHOD_ULE;
    case K_JTT_UPWEIGHT:
    case K_JTT_ID_EPOCHS: return m == SC_METHOD_JTT;
    case K_DRO_ETA:
    case K_DRO_ADJ: return m == SC_METHOD_GROUPDRO;
    default: return m != SC_METHOD_DFR;
    }
}

static sc_status parse_grid(const char *s, grid *g)
{
    memset(g, 0, sizeof *g);
    if (!s)
        return SC_OK;
    char *copy = strdup(s), *save = NULL;
    if (!copy)
        return sc_oom("grid");
    sc_status st = SC_OK;
    for (char *item = strtok_r(copy, "; ", &save); st == SC_OK && item;
         item = strtok_r(NULL, "; ", &save)) {
        char *eq = strchr(item, '=');
        int v;
        if (!eq) {
            st = sc_error_set(SC_ERR_INVALID_ARG, "grid item '%s': expected KEY=V1,V2,...", item);
            break;
        }
        *eq = '\0';
        if ((st = sc_enum_parse("grid key", key_names, K_COUNT, item, &v)) != SC_OK)
            break;
        if (g->nvalues[v])
            st = sc_error_set(SC_ERR_INVALID_ARG, "grid key '%s' given twice", item);
        for (char *p = eq + 1; st == SC_OK && *p;) {
            char *end;
            double x = strtod(p, &end);
            if (end == p || !isfinite(x) || x < 0 || g->nvalues[v] == MAX_VALUES) {
                st = sc_error_set(SC_ERR_INVALID_ARG, "grid key '%s': bad or too many values "
                                                      "(at most %d numbers >= 0)",
                                  item, MAX_VALUES);
                break;
            }
            g->values[v][g->nvalues[v]++] = x;
            p = *end == ',' ? end + 1 : end;
            if (*end && *end != ',')
                st = sc_error_set(SC_ERR_INVALID_ARG, "grid key '%s': unexpected '%s'", item, end);
        }
    }
    free(copy);
    return st;
}

/* A method's settings: the product of the values of the keys that apply;
 * setting k's value index for key j is digit j of k in the mixed radix. */
static int settings_of(const grid *g, sc_method m)
{
    int n = 1;
    for (int k = 0; k < K_COUNT; k++)
        if (g->nvalues[k] && key_applies(k, m))
            n *= g->nvalues[k];
    return n;
}

static double setting_value(const grid *g, sc_method m, int s, int key, bool *set)
{
    *set = false;
    for (int k = 0; k < K_COUNT; k++) {
        if (!g->nvalues[k] || !key_applies(k, m))
            continue;
        int i = s % g->nvalues[k];
        s /= g->nvalues[k];
        if (k == key) {
            *set = true;
            return g->values[k][i];
        }
    }
    return 0;
}

static void setting_label(const grid *g, sc_method m, int s, char *buf, size_t n)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int k = 0; k < K_COUNT; k++) {
        bool set;
        double v = setting_value(g, m, s, k, &set);
        if (set && len + 1 < n)
            len += (size_t)snprintf(buf + len, n - len, "%s%s=%g", len ? "," : "",
                                    strchr(key_names[k], '.') ? strchr(key_names[k], '.') + 1
                                                              : key_names[k],
                                    v);
    }
}

/* ---- data-parallel (mpirun -np N) ------------------------------------------------ *
 *
 * Every rank runs every run (each trainer is data-parallel, DFR included),
 * so all take part in the same collectives in the same order; rank 0 alone
 * reads and writes the comparison's files (done.json, the run's selection
 * from its metrics.jsonl, which rank 0 alone writes, config.json, log.txt,
 * the table's files) and sends what it read to the others (share()). That
 * exchange after each run is also where the others wait until rank 0 has
 * written the run's files: the next run may read them (DFR and ULE load
 * the seed's ERM checkpoint). */


/* Rank 0's status and `bytes` at buf on every rank (collective). A rank
 * other than 0 that failed itself returns at once (main() ends the job);
 * one whose rank 0 failed returns an error naming it (rank 0's message says
 * why), and every rank marks the failure agreed: they all stop here, so
 * they end without MPI_Abort. */
static sc_status share(sc_status st, void *buf, size_t bytes, const char *what)
{
    if (sc_dist_size() == 1 || (!sc_dist_writes() && st != SC_OK))
        return st;
    int32_t s0 = (int32_t)st;
    sc_status bst = sc_dist_bcast(&s0, sizeof s0, what);
    if (bst == SC_OK && s0 == SC_OK && bytes)
        bst = sc_dist_bcast(buf, bytes, what);
    if (bst != SC_OK)
        return bst;
    if (s0 != SC_OK) /* every rank stops here: no rank waits for another */
        sc_dist_failure_mark_agreed();
    if (!sc_dist_writes() && s0 != SC_OK)
        return sc_error_set(SC_ERR_STATE, "rank 0 failed (%s); its message says why",
                            what);
    return st;
}

/* ---- one run ---------------------------------------------------------------------- */

/* The evaluation a rule selects: its val metric and the test metrics there. */
typedef struct pick {
    double val, test_wga, test_avg;
    int64_t step;
    bool ok;
} pick;

typedef struct run_result {
    pick by_avg, by_wga;
} run_result;

static double jnum(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* Both selections over the evaluations of DIR/metrics.jsonl (keys with
 * `prefix`: "" or "teacher_"). The first of equal values wins. */
static sc_status select_from_log(const char *dir, const char *prefix, run_result *r)
{
    if (!sc_dist_writes()) /* rank 0 alone reads the log; share() sends its selection */
        return SC_OK;
    char path[4200], k[64];
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    uint8_t *txt;
    size_t size;
    SC_TRY(sc_io_read_file(path, (size_t)1 << 30, &txt, &size));
    memset(r, 0, sizeof *r);
    char *save = NULL;
    for (char *l = strtok_r((char *)txt, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        cJSON *o = cJSON_Parse(l);
        if (!o)
            continue;
        pick p = {.ok = true, .step = (int64_t)jnum(o, "step")};
        snprintf(k, sizeof k, "%stest_wga", prefix);
        p.test_wga = jnum(o, k);
        snprintf(k, sizeof k, "%stest_weighted", prefix);
        p.test_avg = jnum(o, k);
        snprintf(k, sizeof k, "%sval_acc", prefix);
        double va = jnum(o, k);
        snprintf(k, sizeof k, "%sval_wga", prefix);
        double vw = jnum(o, k);
        cJSON_Delete(o);
        if (!isfinite(va) || !isfinite(vw) || !isfinite(p.test_wga))
            continue;
        if (!r->by_avg.ok || va > r->by_avg.val) {
            r->by_avg = p;
            r->by_avg.val = va;
        }
        if (!r->by_wga.ok || vw > r->by_wga.val) {
            r->by_wga = p;
            r->by_wga.val = vw;
        }
    }
    free(txt);
    if (!r->by_avg.ok)
        return sc_error_set(SC_ERR_FORMAT, "%s has no evaluation with val and test metrics",
                            path);
    return SC_OK;
}

static cJSON *pick_json(const pick *p)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "step", (double)p->step);
    cJSON_AddNumberToObject(o, "val", p->val);
    cJSON_AddNumberToObject(o, "test_wga", p->test_wga);
    cJSON_AddNumberToObject(o, "test_avg", p->test_avg);
    return o;
}

static bool pick_from_json(const cJSON *o, pick *p)
{
    p->step = (int64_t)jnum(o, "step");
    p->val = jnum(o, "val");
    p->test_wga = jnum(o, "test_wga");
    p->test_avg = jnum(o, "test_avg");
    p->ok = isfinite(p->val) && isfinite(p->test_wga) && isfinite(p->test_avg);
    return p->ok;
}

typedef struct done_file {
    const run_result *r;
    const char *method, *setting;
    int seed;
    double seconds;
    const char *settings;      /* the run's settings (run_settings) */
} done_file;

/* done.json's text (cJSON_free it), or NULL when out of memory. */
static char *done_text(const done_file *df)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "method", df->method);
    cJSON_AddStringToObject(o, "setting", df->setting);
    cJSON_AddNumberToObject(o, "seed", df->seed);
    cJSON_AddNumberToObject(o, "seconds", df->seconds);
    cJSON_AddItemToObject(o, "by_val_avg", pick_json(&df->r->by_avg));
    cJSON_AddItemToObject(o, "by_val_wga", pick_json(&df->r->by_wga));
    cJSON_AddStringToObject(o, "settings", df->settings);
    char *text = cJSON_Print(o);
    cJSON_Delete(o);
    return text;
}

/* A finished run of dir: *found, and its results when its settings are
 * `settings`; a done.json made with other settings is an error (reusing it
 * would put another experiment's numbers in this table). */
static sc_status read_done(const char *dir, const char *settings, run_result *r, bool *found)
{
    *found = false;
    char path[4300];
    snprintf(path, sizeof path, "%s/done.json", dir);
    uint8_t *txt;
    size_t size;
    if (sc_io_read_file(path, 1 << 20, &txt, &size) != SC_OK) {
        sc_error_clear();
        return SC_OK; /* not finished: (re)train it */
    }
    cJSON *o = cJSON_Parse((char *)txt);
    free(txt);
    const cJSON *was = cJSON_GetObjectItemCaseSensitive(o, "settings");
    sc_status st = SC_OK;
    if (!cJSON_IsString(was) || strcmp(was->valuestring, settings) != 0)
        st = sc_error_set(SC_ERR_INVALID_ARG,
                          "%s was made with other settings than this comparison's (data, model, "
                          "budget or method options differ); give another --out or remove the "
                          "directory", path);
    else if (pick_from_json(cJSON_GetObjectItemCaseSensitive(o, "by_val_avg"), &r->by_avg) &&
             pick_from_json(cJSON_GetObjectItemCaseSensitive(o, "by_val_wga"), &r->by_wga))
        *found = true;
    cJSON_Delete(o);
    return st;
}

/* A model's val and test metrics as both selections (DFR: nothing to select). */
static void result_of_metrics(const sc_group_metrics *val, const sc_group_metrics *test,
                              run_result *r)
{
    pick p = {.ok = true, .val = val->accuracy, .test_wga = test->worst_group,
              .test_avg = test->weighted};
    r->by_avg = p;
    r->by_wga = p;
    r->by_wga.val = val->worst_group;
}

typedef struct runner {
    sc_context *ctx;
    const sc_dataset *d;
    const sc_compare_config *cfg;
    grid g;
    uint64_t data;             /* sc__data_hash(d) */
} runner;

/* What makes one of method m's runs what it is, beyond its directory's
 * setting and seed: the data, the shared model and budget, the method's
 * own options (compact JSON, malloc'd; NULL when out of memory). */
static char *run_settings(const runner *R, sc_method m)
{
    const sc_compare_config *c = R->cfg;
    const sc_train_config *t = &c->train;
    cJSON *o = cJSON_CreateObject();
    char hex[24];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)R->data);
    cJSON_AddStringToObject(o, "data", hex);
    char *mj = sc__model_config_json(&t->model);
    cJSON_AddItemToObject(o, "model", mj ? cJSON_Parse(mj) : cJSON_CreateNull());
    cJSON_free(mj);
    cJSON_AddNumberToObject(o, "epochs", t->epochs);
    cJSON_AddNumberToObject(o, "batch", (double)t->batch_size);
    cJSON_AddNumberToObject(o, "eval_every", (double)t->eval_every);
    const sc_optim_config *op = &t->optim;
    double opt[10] = {op->kind, op->lr, op->momentum, op->weight_decay, op->beta1, op->beta2,
                      op->eps, op->clip_norm, op->schedule, (double)op->warmup_steps};
    cJSON_AddItemToObject(o, "optim", cJSON_CreateDoubleArray(opt, 10));
    if (m == SC_METHOD_JTT) {
        cJSON_AddNumberToObject(o, "id_epochs", c->jtt_id_epochs);
        cJSON_AddNumberToObject(o, "upweight", c->jtt_upweight);
    } else if (m == SC_METHOD_GROUPDRO) {
        cJSON_AddNumberToObject(o, "eta", c->dro_eta);
        cJSON_AddNumberToObject(o, "adjustment", c->dro_adjustment);
        cJSON_AddBoolToObject(o, "balanced", c->dro_balanced);
    } else if (m == SC_METHOD_DFR) {
        cJSON_AddItemToObject(o, "c_grid", cJSON_CreateDoubleArray(c->dfr.c_grid, c->dfr.n_c));
        cJSON_AddNumberToObject(o, "fits", c->dfr.fits);
        cJSON_AddNumberToObject(o, "iterations", c->dfr.iterations);
        cJSON_AddStringToObject(o, "backbone", c->backbone ? c->backbone : "");
    } else if (m == SC_METHOD_ULE) {
        const sc_ule_loss_config *u = &c->ule_loss;
        double loss[6] = {u->lambda, u->target, u->norm, u->form, u->penalty, u->eps};
        cJSON_AddItemToObject(o, "loss", cJSON_CreateDoubleArray(loss, 6));
        cJSON_AddBoolToObject(o, "whole_network", c->ule_whole_network);
        cJSON_AddStringToObject(o, "backbone", c->backbone ? c->backbone : "");
    }
    char *txt = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return txt;
}

static sc_status train_one(runner *R, sc_method m, int s, int seed, const char *dir,
                           const char *label, run_result *r)
{
    const sc_compare_config *cfg = R->cfg;
    sc_train_config tc = cfg->train;
    tc.run_dir = dir;
    tc.seed = (uint64_t)seed;
    tc.resume = false;
    tc.force = true; /* a run without done.json starts again over what it left */
    tc.select = SC_SELECT_LAST;
    tc.eval_test = true;
    tc.label = label;
    tc.progress = cfg->progress;
    tc.progress_ud = cfg->progress_ud;
    bool set;
    double v = setting_value(&R->g, m, s, K_LR, &set);
    if (set)
        tc.optim.lr = (float)v;
    v = setting_value(&R->g, m, s, K_WD, &set);
    if (set)
        tc.optim.weight_decay = (float)v;
    char erm_ckpt[4200];
    snprintf(erm_ckpt, sizeof erm_ckpt, "%s/erm/seed-%d/last.safetensors", cfg->out, seed);
    switch (m) {
    case SC_METHOD_ERM: {
        sc_train_result tr;
        SC_TRY(sc_train_erm(R->ctx, R->d, &tc, &tr));
        sc_train_result_free(&tr);
        return select_from_log(dir, "", r);
    }
    case SC_METHOD_JTT: {
        sc_jtt_config jc = {.train = tc, .id_epochs = cfg->jtt_id_epochs,
                            .upweight = (float)cfg->jtt_upweight};
        v = setting_value(&R->g, m, s, K_JTT_UPWEIGHT, &set);
        if (set)
            jc.upweight = (float)v;
        v = setting_value(&R->g, m, s, K_JTT_ID_EPOCHS, &set);
        if (set)
            jc.id_epochs = (int)v;
        sc_jtt_result jr;
        SC_TRY(sc_train_jtt(R->ctx, R->d, &jc, &jr));
        sc_train_result_free(&jr.final);
        return select_from_log(dir, "", r);
    }
    case SC_METHOD_GROUPDRO: {
        sc_dro_config dc = {.train = tc, .eta = cfg->dro_eta, .adjustment = cfg->dro_adjustment,
                            .balanced = cfg->dro_balanced};
        v = setting_value(&R->g, m, s, K_DRO_ETA, &set);
        if (set)
            dc.eta = v;
        v = setting_value(&R->g, m, s, K_DRO_ADJ, &set);
        if (set)
            dc.adjustment = v;
        sc_train_result tr;
        SC_TRY(sc_train_group_dro(R->ctx, R->d, &dc, &tr));
        sc_train_result_free(&tr);
        return select_from_log(dir, "", r);
    }
    case SC_METHOD_DFR: {
        sc_model *base;
        SC_TRY(sc_checkpoint_load_model(R->ctx, cfg->backbone ? cfg->backbone : erm_ckpt, &base));
        sc_dfr_config fc = cfg->dfr;
        fc.seed = (uint64_t)seed;
        fc.progress = cfg->progress;
        fc.progress_ud = cfg->progress_ud;
        sc_dfr_result dr;
        sc_status st = sc_dist_writes() ? sc_run_record(R->ctx, R->d, &tc.run, "dfr") : SC_OK;
        if (st == SC_OK)
            st = sc_dfr(R->ctx, base, R->d, &fc, &dr);
        sc_model_free(base);
        if (st != SC_OK)
            return st;
        result_of_metrics(&dr.val, &dr.test, r);
        char path[4300];
        snprintf(path, sizeof path, "%s/dfr.safetensors", dir);
        char meta[64];
        snprintf(meta, sizeof meta, "{\"dfr_c\": %g}", dr.c);
        st = sc_dist_writes() ? sc_checkpoint_save(path, dr.model, NULL, 0, (uint64_t)seed, meta) : SC_OK;
        sc_dfr_result_free(&dr);
        return st;
    }
    case SC_METHOD_ULE: {
        sc_ule_config uc;
        sc_ule_config_default(&uc);
        uc.student = uc.teacher = tc.model;
        uc.run = tc.run;
        uc.loss = cfg->ule_loss;
        v = setting_value(&R->g, m, s, K_ULE_LAMBDA, &set);
        if (set)
            uc.loss.lambda = (float)v;
        uc.freeze_backbone = !cfg->ule_whole_network;
        uc.init = cfg->backbone ? cfg->backbone : uc.freeze_backbone ? erm_ckpt : NULL;
        if (cfg->backbone) { /* both models are the backbone's architecture, as DFR's */
            SC_TRY(sc_checkpoint_model_config(cfg->backbone, &uc.student));
            uc.teacher = uc.student;
        }
        sc_ule_result ur;
        SC_TRY(sc_train_ule(R->ctx, R->d, &uc, &ur));
        sc_ule_result_free(&ur);
        return select_from_log(dir, "teacher_", r);
    }
    default: return sc_error_set(SC_ERR_INVALID_ARG, "unknown method %d", (int)m);
    }
}

/* ---- aggregation and outputs ------------------------------------------------------ */

static void mean_std(const double *x, int n, double *mean, double *sd)
{
    double s = 0, q = 0;
    for (int i = 0; i < n; i++)
        s += x[i];
    *mean = n ? s / n : NAN;
    for (int i = 0; i < n; i++)
        q += (x[i] - *mean) * (x[i] - *mean);
    *sd = n > 1 ? sqrt(q / (n - 1)) : 0;
}

/* results[setting * seeds + seed] of one method: per rule the setting with
 * the best mean val metric, and its test metrics over seeds. */
static void aggregate(const runner *R, sc_method m, const run_result *res, const bool *have,
                      int nset, sc_compare_row *row)
{
    int S = R->cfg->seeds;
    row->method = m;
    row->group_labels = method_labels[m];
    double *w = malloc((size_t)S * sizeof *w), *a = malloc((size_t)S * sizeof *a);
    for (int rule = 0; w && a && rule < 2; rule++) {
        sc_compare_cell *cell = rule == 0 ? &row->no_labels : &row->with_labels;
        double best = -INFINITY;
        int best_s = -1, best_n = 0;
        for (int s = 0; s < nset; s++) {
            double v = 0;
            int n = 0;
            for (int k = 0; k < S; k++)
                if (have[s * S + k]) {
                    const pick *p = rule == 0 ? &res[s * S + k].by_avg : &res[s * S + k].by_wga;
                    v += p->val;
                    n++;
                }
            if (n && v / n > best) {
                best = v / n;
                best_s = s;
                best_n = n;
            }
        }
        cell->val = best;
        if (best_s < 0)
            continue;
        setting_label(&R->g, m, best_s, cell->setting, sizeof cell->setting);
        int n = 0;
        for (int k = 0; k < S; k++)
            if (have[best_s * S + k]) {
                const pick *p = rule == 0 ? &res[best_s * S + k].by_avg : &res[best_s * S + k].by_wga;
                w[n] = p->test_wga;
                a[n] = p->test_avg;
                n++;
            }
        mean_std(w, n, &cell->wga_mean, &cell->wga_std);
        mean_std(a, n, &cell->avg_mean, &cell->avg_std);
        row->seeds = best_n;
    }
    free(w);
    free(a);
}

/* The comparison's overall progress: runs done of all, the time so far, and
 * an ETA from the mean time of the runs trained so far. */
typedef struct overall {
    int total, done, trained;
    double t0, trained_s;
} overall;

/* A line before each run trained (next: its label) and one at the end
 * (next NULL), to the progress callback (a line alone) and DIR/log.txt. */
static sc_status overall_line(const sc_compare_config *cfg, const overall *o, const char *next)
{
    char el[32], eta[48] = "ETA after the first run", b[512];
    double now = sc_time_now(), left = NAN;
    sc_format_duration(el, sizeof el, now - o->t0);
    if (o->trained > 0) {
        left = o->trained_s / o->trained * (o->total - o->done);
        char d[32];
        sc_format_duration(d, sizeof d, left);
        snprintf(eta, sizeof eta, "ETA %s", d);
    }
    if (!sc_dist_writes())
        return SC_OK;
    if (next)
        snprintf(b, sizeof b, "overall: run %d/%d (%s); %d done (%d trained, %d found finished), "
                              "%s elapsed, %s",
                 o->done + 1, o->total, next, o->done, o->trained, o->done - o->trained, el,
                 eta);
    else
        snprintf(b, sizeof b, "overall: %d/%d runs done (%d trained, %d found finished) in %s",
                 o->done, o->total, o->trained, o->done - o->trained, el);
    if (cfg->progress) {
        sc_train_progress p = {.label = "overall", .elapsed_s = now - o->t0,
                               .eta_s = isfinite(left) ? left : 0, .line = b};
        cfg->progress(&p, cfg->progress_ud);
    }
    return sc__log_append(cfg->out, false, b);
}

sc_status sc_compare_run(sc_context *ctx, const sc_dataset *d, const sc_compare_config *cfg,
                         sc_compare_result *out)
{
    memset(out, 0, sizeof *out);
    double t0 = sc_time_now();
    if (cfg->seeds < 1 || cfg->seeds > 1000 || !cfg->out)
        return sc_error_set(SC_ERR_INVALID_ARG, "compare needs 1..1000 seeds and a directory");
    runner R = {.ctx = ctx, .d = d, .cfg = cfg, .data = sc__data_hash(d)};
    SC_TRY(parse_grid(cfg->grid, &R.g));
    /* the comparison's own directory always resumes: config.json records
     * the latest invocation, each run's directory its own */
    sc_run_config top = cfg->train.run;
    top.run_dir = cfg->out;
    top.resume = false;
    top.force = true;
    SC_TRY(share(sc_dist_writes() ? sc_run_record(ctx, d, &top, "compare") : SC_OK, NULL, 0,
                 "the comparison's config.json"));
    bool need_erm = cfg->methods[SC_METHOD_ERM] ||
                    (!cfg->backbone && (cfg->methods[SC_METHOD_DFR] ||
                                        (cfg->methods[SC_METHOD_ULE] && !cfg->ule_whole_network)));
    run_result *res[SC_METHOD_COUNT] = {0};
    bool *have[SC_METHOD_COUNT] = {0};
    int nset[SC_METHOD_COUNT];
    sc_status st = SC_OK;
    for (int m = 0; m < SC_METHOD_COUNT; m++) {
        nset[m] = settings_of(&R.g, (sc_method)m);
        if (nset[m] > MAX_SETTINGS)
            st = sc_error_set(SC_ERR_INVALID_ARG, "the grid gives %s %d settings (at most %d)",
                              method_names[m], nset[m], MAX_SETTINGS);
        res[m] = calloc((size_t)(nset[m] * cfg->seeds), sizeof *res[m]);
        have[m] = calloc((size_t)(nset[m] * cfg->seeds), sizeof *have[m]);
        if (st == SC_OK && (!res[m] || !have[m]))
            st = sc_oom("compare");
    }
    overall ov = {.t0 = t0};
    for (int m = 0; m < SC_METHOD_COUNT; m++)
        if (cfg->methods[m])
            ov.total += nset[m] * cfg->seeds;
        else if (m == SC_METHOD_ERM && need_erm) /* the backbone: ERM's first setting */
            ov.total += cfg->seeds;
    cJSON *runs = cJSON_CreateArray();
    for (int seed = 0; st == SC_OK && seed < cfg->seeds; seed++)
        for (int m = 0; st == SC_OK && m < SC_METHOD_COUNT; m++) {
            bool wanted = cfg->methods[m] || (m == SC_METHOD_ERM && need_erm);
            for (int s = 0; st == SC_OK && wanted && s < nset[m]; s++) {
                /* the backbone of dfr and ule is ERM's first setting */
                if (m == SC_METHOD_ERM && !cfg->methods[m] && s > 0)
                    break;
                char setting[96], dir[4200], label[160];
                setting_label(&R.g, (sc_method)m, s, setting, sizeof setting);
                if (setting[0])
                    snprintf(dir, sizeof dir, "%s/%s/%s/seed-%d", cfg->out, method_names[m],
                             setting, seed);
                else
                    snprintf(dir, sizeof dir, "%s/%s/seed-%d", cfg->out, method_names[m], seed);
                snprintf(label, sizeof label, "%s%s%s seed %d", method_names[m],
                         setting[0] ? " " : "", setting, seed);
                run_result *r = &res[m][s * cfg->seeds + seed];
                char *settings = run_settings(&R, (sc_method)m);
                /* rank 0 reads done.json and tells the others */
                struct {
                    run_result r;
                    bool found;
                } seen = {0};
                if (!settings)
                    st = sc_oom("compare settings");
                else if (sc_dist_writes())
                    st = read_done(dir, settings, &seen.r, &seen.found);
                st = share(st, &seen, sizeof seen, "a run's done.json");
                bool found = st == SC_OK && seen.found;
                if (found)
                    *r = seen.r;
                if (st == SC_OK && found) {
                    out->skipped++;
                    ov.done++;
                } else if (st == SC_OK && (st = overall_line(cfg, &ov, label)) == SC_OK) {
                    double ts = sc_time_now();
                    st = train_one(&R, (sc_method)m, s, seed, dir, label, r);
                    ov.done++;
                    ov.trained++;
                    ov.trained_s += sc_time_now() - ts;
                    done_file df = {r, method_names[m], setting, seed, sc_time_now() - ts,
                                    settings};
                    char path[4300];
                    snprintf(path, sizeof path, "%s/done.json", dir);
                    if (st == SC_OK && sc_dist_writes()) {
                        char *text = done_text(&df);
                        st = sc_io_write_text_atomic(path, text);
                        cJSON_free(text);
                    }
                    /* rank 0's selection, once its files are written */
                    st = share(st, r, sizeof *r, "a run's results");
                    if (st != SC_OK)
                        st = sc_error_wrap(st, "compare: %s", label);
                    out->runs++;
                }
                cJSON_free(settings);
                have[m][s * cfg->seeds + seed] = st == SC_OK;
                if (st == SC_OK) {
                    cJSON *o = cJSON_CreateObject();
                    cJSON_AddStringToObject(o, "method", method_names[m]);
                    cJSON_AddStringToObject(o, "setting", setting);
                    cJSON_AddNumberToObject(o, "seed", seed);
                    cJSON_AddItemToObject(o, "by_val_avg", pick_json(&r->by_avg));
                    cJSON_AddItemToObject(o, "by_val_wga", pick_json(&r->by_wga));
                    cJSON_AddItemToArray(runs, o);
                }
            }
        }
    for (int m = 0; st == SC_OK && m < SC_METHOD_COUNT; m++)
        if (cfg->methods[m])
            aggregate(&R, (sc_method)m, res[m], have[m], nset[m], &out->rows[out->nrows++]);
    out->seconds = sc_time_now() - t0;
    if (st == SC_OK)
        st = overall_line(cfg, &ov, NULL);
    if (st == SC_OK && sc_dist_writes())
        st = sc__compare_write(cfg->out, out, runs);
    cJSON_Delete(runs);
    for (int m = 0; m < SC_METHOD_COUNT; m++) {
        free(res[m]);
        free(have[m]);
    }
    return st;
}
