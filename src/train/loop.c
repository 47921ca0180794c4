/* The training loop shared by every trainer (src/train/loop.h). */
#include "train/loop.h"
#include "train/train_internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/dist.h"
#include "spurcl/sys.h"

/* Selection state: the best value so far and where it was seen. */
typedef struct loop_best {
    double value;
    int epoch;        /* 1-based, -1: none yet */
    int64_t step;
} loop_best;

typedef struct loop {
    sc_context *ctx;
    const sc_dataset *d;
    const sc_run_config *run;
    sc_trainer *t;
    /* the run directory, on every rank (run->run_dir is NULL on the ranks
     * that do not write: they read checkpoints from here to resume) */
    const char *dir;
    char last[SC_LOOP_MAX_PARTS][4096], best_path[SC_LOOP_MAX_PARTS][4096];
    loop_best best;
    bool fresh;           /* the next line starts metrics.jsonl anew */
    int64_t step;         /* global steps */
    double t0, eval_s;
    sc__dp *dp;           /* the run's data-parallel exchange (src/train/dp.c) */
    double exchange_s0;   /* dp.seconds at the epoch's start */
    sc__run_state state;  /* run.json and the files it names */
    double last_timed;    /* when the last timed progress line was made */
    bool have_val;        /* the last evaluation's val metrics, for the timed lines */
    double val_acc, val_wga;
    char line[1024];      /* the progress line being reported */
} loop;

static bool files(const loop *L) { return L->run->run_dir != NULL; }

/* ---- checkpoints ------------------------------------------------------------- */

/* Steps taken so far: the first part's optimiser counts them (it survives a
 * resume); a trainer without one counts with the loop. */
static int64_t global_step(const loop *L)
{
    const sc_optim *o = L->t->parts[0].optim;
    return o ? sc_optim_steps(o) : L->step;
}

static cJSON *selection_meta(const loop *L, const sc_loop_part *p)
{
    cJSON *m = cJSON_CreateObject();
    if (p->role)
        cJSON_AddStringToObject(m, "role", p->role);
    cJSON_AddNumberToObject(m, "best_epoch", L->best.epoch);
    cJSON_AddNumberToObject(m, "best_step", (double)L->best.step);
    cJSON_AddNumberToObject(m, "best_value", isfinite(L->best.value) ? L->best.value : -1.0);
    cJSON_AddNumberToObject(m, "step", (double)L->step);
    return m;
}

/* Writes part k's last (or best) checkpoint to its NAME.next (step 2 of the
 * commit, loop.h). */
static sc_status save_part(loop *L, int k, int epoch, bool best)
{
    const sc_loop_part *p = &L->t->parts[k];
    int i = best ? L->t->nparts + k : k;
    char path[4300];
    sc__state_staged_path(&L->state, i, path, sizeof path);
    cJSON *meta = selection_meta(L, p);
    const sc_checkpoint_tensor *ex = NULL;
    size_t nex = 0;
    sc_status st = SC_OK;
    if (!best && k == 0 && L->t->extra)
        st = L->t->extra(L->t->self, false, &ex, &nex, meta);
    char *mj = cJSON_PrintUnformatted(meta);
    cJSON_Delete(meta);
    if (st == SC_OK && !mj)
        st = sc_oom("checkpoint metadata");
    if (st == SC_OK)
        st = sc_checkpoint_save_extra(path, p->model, best ? NULL : p->optim, epoch,
                                      L->run->seed, mj, ex, nex);
    cJSON_free(mj);
    SC_TRY(sc_io_write_error(st, best ? L->best_path[k] : L->last[k]));
    return sc__state_staged(&L->state, i, epoch, L->step);
}

/* Whether every part has a best file (else selection keeps no weights). */
static bool has_best_files(const sc_trainer *t)
{
    for (int k = 0; k < t->nparts; k++)
        if (!t->parts[k].best_file)
            return false;
    return t->nparts > 0;
}

/* One commit (loop.h): the staged checkpoints, then run.json naming them
 * with the resume point and the selection state, then the renames. */
static sc_status commit(loop *L, int epoch, bool last, bool best)
{
    sc_trainer *t = L->t;
    for (int k = 0; last && k < t->nparts; k++)
        SC_TRY(save_part(L, k, epoch, false));
    for (int k = 0; best && k < t->nparts; k++)
        SC_TRY(save_part(L, k, epoch, true));
    sc__run_state *s = &L->state;
    if (last) {
        s->epoch = epoch;
        s->step = L->step;
    }
    s->best_epoch = L->best.epoch;
    s->best_step = L->best.step;
    s->best_value = L->best.value;
    return sc__state_commit(s);
}

/* Every part from its last checkpoint (with part 0's extras): *epoch0 the
 * epoch they are at, *config part 0's "config" metadata (caller frees). */
static sc_status load_parts(loop *L, int *epoch0, cJSON **config)
{
    sc_trainer *t = L->t;
    *config = NULL;
    for (int k = 0; k < t->nparts; k++) {
        const sc_loop_part *p = &t->parts[k];
        const sc_checkpoint_tensor *ex = NULL;
        size_t nex = 0;
        if (k == 0 && t->extra)
            SC_TRY(t->extra(t->self, true, &ex, &nex, NULL));
        int ep = 0;
        sc_status st = sc_checkpoint_load_extra(L->last[k], p->model, p->optim, &ep, ex, nex);
        if (st != SC_OK)
            return sc_error_wrap(st, "resuming from %s", L->dir);
        if (k > 0 && ep != *epoch0)
            return sc_error_set(SC_ERR_FORMAT,
                                "resuming from %s: %s is at epoch %d, %s at epoch %d", L->dir,
                                t->parts[0].file, *epoch0, p->file, ep);
        *epoch0 = ep;
    }
    sc_safetensors *ck;
    SC_TRY(sc_safetensors_open(L->last[0], &ck));
    const char *mj = sc_safetensors_meta(ck, "config");
    *config = cJSON_Parse(mj ? mj : "{}");
    sc_safetensors_close(ck);
    return *config ? SC_OK : sc_oom("a checkpoint's config");
}

/* Data-parallel --resume: rank 0 has resumed (resume(), which also repairs
 * and rewrites the run's files); the resume point and the selection state
 * come from it, and every other rank loads the same checkpoints, read-only.
 * The weights are broadcast from rank 0 afterwards as at any start. */
static sc_status follow_resume(loop *L, int *start_epoch)
{
    int64_t hdr[4] = {*start_epoch, L->step, L->best.epoch, L->best.step};
    double best_value = L->best.value;
    SC_TRY(sc_dist_bcast(hdr, sizeof hdr, "the resume point"));
    SC_TRY(sc_dist_bcast(&best_value, sizeof best_value, "the resume point"));
    if (sc_dist_writes())
        return SC_OK;
    *start_epoch = (int)hdr[0];
    L->fresh = false;
    L->step = hdr[1];
    L->best = (loop_best){.value = best_value, .epoch = (int)hdr[2], .step = hdr[3]};
    if (*start_epoch == 0) /* rank 0 starts again: nothing to load */
        return SC_OK;
    int epoch0 = -1;
    cJSON *o = NULL;
    SC_TRY(load_parts(L, &epoch0, &o));
    sc_status st = L->t->resumed ? L->t->resumed(L->t->self, o) : SC_OK;
    cJSON_Delete(o);
    if (st == SC_OK && epoch0 != *start_epoch)
        st = sc_error_set(SC_ERR_STATE, "resuming from %s: rank %d found epoch %d, rank 0 %d",
                          L->dir, sc_dist_rank(), epoch0, *start_epoch);
    return st;
}

/* --resume: every part from its last checkpoint (all at run.json's resume
 * point), part 0's extras, and the selection state; metrics.jsonl is cut at
 * the resume point. Called after sc__state_start has recovered the files. */
static sc_status resume(loop *L, int *start_epoch)
{
    sc_trainer *t = L->t;
    sc__run_state *s = &L->state;
    L->fresh = false; /* metrics.jsonl goes on */
    *start_epoch = 0;
    if (s->found) {
        /* the selection state is run.json's: what the best files hold */
        if (s->best_epoch > 0)
            L->best = (loop_best){.value = s->best_value, .epoch = s->best_epoch,
                                  .step = s->best_step};
        L->step = s->step;
        if (s->epoch == 0) /* killed before its first epoch's end: start again */
            return sc__metrics_truncate(L->run->run_dir, 0, 0);
    }
    int epoch0 = -1;
    cJSON *o = NULL;
    SC_TRY(load_parts(L, &epoch0, &o));
    const cJSON *be = cJSON_GetObjectItemCaseSensitive(o, "best_epoch");
    const cJSON *bs = cJSON_GetObjectItemCaseSensitive(o, "best_step");
    const cJSON *bv = cJSON_GetObjectItemCaseSensitive(o, "best_value");
    const cJSON *sp = cJSON_GetObjectItemCaseSensitive(o, "step");
    if (!s->found && cJSON_IsNumber(be) && cJSON_IsNumber(bv) && be->valueint > 0)
        L->best = (loop_best){.value = bv->valuedouble, .epoch = be->valueint,
                              .step = cJSON_IsNumber(bs) ? (int64_t)bs->valuedouble : 0};
    if (!s->found && cJSON_IsNumber(sp) && sp->valuedouble >= 0)
        L->step = (int64_t)sp->valuedouble;
    sc_status st = t->resumed ? t->resumed(t->self, o) : SC_OK;
    cJSON_Delete(o);
    *start_epoch = epoch0;
    if (st == SC_OK && s->found && epoch0 != s->epoch)
        st = sc_error_set(SC_ERR_FORMAT, "resuming from %s: %s is at epoch %d, %s names %d",
                          L->run->run_dir, t->parts[0].file, epoch0, SC_RUN_STATE_FILE,
                          s->epoch);
    /* an older spurcl's run: run.json for its files as they are */
    if (st == SC_OK && !s->found) {
        s->best_epoch = L->best.epoch;
        s->best_step = L->best.step;
        s->best_value = L->best.value;
        st = sc__state_adopt(s, epoch0, global_step(L));
    }
    if (st == SC_OK)
        st = sc__metrics_truncate(L->run->run_dir, epoch0, global_step(L));
    return st;
}

/* ---- evaluation points ----------------------------------------------------- */

static void add_values(cJSON *line, const sc_trainer *t, const double *sums, int64_t seen)
{
    for (int i = 0; i < t->nvalues; i++) {
        double v = seen ? sums[i] / (double)seen : NAN;
        cJSON_AddNumberToObject(line, t->values[i].key, isfinite(v) ? v : -1);
    }
}

/* One evaluation point (every eval_every steps and at each epoch's end):
 * the trainer's evaluation, selection, checkpoints, the JSON line. */
static sc_status eval_point(loop *L, int epoch, int64_t epoch_step, bool epoch_end, cJSON *line,
                            const sc_group_metrics **shown)
{
    const sc_run_config *run = L->run;
    sc_trainer *t = L->t;
    double ts = sc_time_now();
    double v = NAN;
    *shown = NULL;
    /* data-parallel: every rank evaluates (sc_evaluate shards the split
     * and sums the counts), so all make the same selection; rank 0 writes,
     * and every rank evaluates with rank 0's running statistics, the ones
     * its checkpoint holds */
    sc_status st = SC_OK;
    for (int k = 0; st == SC_OK && !t->rank_local && k < t->nparts; k++)
        st = sc__dp_broadcast_buffers(L->dp, t->parts[k].model, "rank 0's running statistics");
    bool evaluates = t->evaluate != NULL;
    if (st == SC_OK && evaluates)
        st = t->evaluate(t->self, epoch_end, line, &v, shown);
    L->eval_s += sc_time_now() - ts;
    bool improved = st == SC_OK && evaluates && run->select != SC_SELECT_LAST &&
                    v > L->best.value;
    if (improved)
        L->best = (loop_best){.value = v, .epoch = epoch, .step = L->step};
    if (st == SC_OK) {
        cJSON_AddNumberToObject(line, "epoch", epoch);
        cJSON_AddNumberToObject(line, "step", (double)L->step);
        cJSON_AddNumberToObject(line, "epoch_step", (double)epoch_step);
        cJSON_AddBoolToObject(line, "epoch_end", epoch_end);
        if (t->parts[0].optim)
            cJSON_AddNumberToObject(line, "lr", sc_optim_lr(t->parts[0].optim));
    }
    /* the line first, then the checkpoints it is the evaluation of: a kill
     * between them loses nothing (the resume cuts the line and writes it
     * again) */
    if (st == SC_OK && files(L)) {
        st = sc__append_jsonl(run->run_dir, line, L->fresh);
        L->fresh = false;
        if (st == SC_OK)
            st = sc__state_wrote(&L->state, "metrics.jsonl");
        bool best = improved && has_best_files(t);
        if (st == SC_OK && (epoch_end || best))
            st = commit(L, epoch, epoch_end, best);
    }
    return st;
}

/* ---- progress and the run's log ------------------------------------------------ */

/* What a report is: a step (for a live bar), a timed line, an evaluation
 * inside an epoch, an epoch's end. */
typedef enum report_kind { R_STEP, R_TIMED, R_EVAL, R_EPOCH } report_kind;

static const char *label_of(const loop *L)
{
    return L->run->label ? L->run->label : L->t->name;
}

/* Appends to buf[0..n) at *len (the text is cut at the buffer's end). */
__attribute__((format(printf, 4, 5))) static void cat(char *buf, size_t n, size_t *len,
                                                      const char *fmt, ...)
{
    if (*len + 1 >= n)
        return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(buf + *len, n - *len, fmt, ap);
    va_end(ap);
    *len = k < 0 ? *len : *len + (size_t)k >= n ? n - 1 : *len + (size_t)k;
}

/* The line of a report (sc_train_progress.line) into L->line. */
static void format_line(loop *L, report_kind kind, const sc_train_progress *p)
{
    char *b = L->line;
    size_t n = sizeof L->line, len = 0;
    int64_t total = p->steps_per_epoch * p->epochs;
    if (kind == R_EPOCH)
        cat(b, n, &len, "%s epoch %d/%d", p->label, p->epoch, p->epochs);
    else if (kind == R_EVAL)
        cat(b, n, &len, "%s eval at step %lld/%lld (epoch %d/%d)", p->label,
            (long long)L->step, (long long)total, p->epoch, p->epochs);
    else
        cat(b, n, &len, "%s step %lld/%lld (epoch %d/%d)", p->label, (long long)L->step,
            (long long)total, p->epoch, p->epochs);
    for (int i = 0; i < p->nvalues; i++)
        cat(b, n, &len, "  %s %.4g", p->names[i], p->values[i]);
    char d[32];
    if (kind == R_TIMED) {
        sc_format_duration(d, sizeof d, p->eta_s);
        cat(b, n, &len, "  %.0f img/s  ETA %s", p->images_per_s, d);
        if (L->have_val)
            cat(b, n, &len, "  last eval: val acc %.4f  val worst-group %.4f", L->val_acc,
                L->val_wga);
        else
            cat(b, n, &len, "  no evaluation yet");
        return;
    }
    if (p->val)
        cat(b, n, &len, "  val acc %.4f  val worst-group %.4f", p->val->accuracy,
            p->val->worst_group);
    if (kind == R_EPOCH) {
        if (p->note)
            cat(b, n, &len, "  %s", p->note);
        sc_format_duration(d, sizeof d, p->elapsed_s);
        cat(b, n, &len, "  (%s)", d);
    }
}

/* Reports to the progress callback; a report with a line also goes to
 * DIR/log.txt. */
static sc_status report(loop *L, report_kind kind, int epoch, int64_t step, int64_t steps,
                        const double *sums, int64_t seen, double epoch_t0,
                        const sc_group_metrics *val, const char *note)
{
    const sc_run_config *run = L->run;
    const sc_trainer *t = L->t;
    if (val) {
        L->have_val = true;
        L->val_acc = val->accuracy;
        L->val_wga = val->worst_group;
    }
    if (kind == R_EVAL && !val) /* an evaluation that measured nothing (SSL's k-NN off) */
        kind = R_STEP;
    bool lined = kind != R_STEP && !(kind == R_EPOCH && t->quiet_epochs);
    if (!run->progress && !(lined && files(L)))
        return SC_OK;
    sc_train_progress p;
    memset(&p, 0, sizeof p);
    p.label = label_of(L);
    p.epoch = epoch + 1;
    p.epochs = run->epochs;
    p.step = step;
    p.steps_per_epoch = steps;
    p.nvalues = t->nvalues;
    for (int i = 0; i < t->nvalues; i++) {
        p.names[i] = t->values[i].label;
        p.values[i] = seen ? sums[i] / (double)seen : NAN;
    }
    double now = sc_time_now(), el = now - epoch_t0;
    p.images_per_s = el > 0 ? (double)seen / el : 0;
    p.elapsed_s = now - L->t0;
    bool done = kind == R_EPOCH;
    if (step > 0 && !done)
        p.eta_s = el / (double)step * (double)((steps - step) + steps * (run->epochs - epoch - 1));
    p.epoch_done = done;
    p.evaluated = val != NULL;
    p.val = val;
    p.note = note;
    if (lined) {
        format_line(L, kind, &p);
        p.line = L->line;
        p.timed = kind == R_TIMED;
        if (files(L))
            SC_TRY(sc__log_append(run->run_dir, false, L->line));
    }
    if (run->progress)
        run->progress(&p, run->progress_ud);
    return SC_OK;
}

/* Whether a timed line is due (and then it is made now). */
static bool timed_due(loop *L)
{
    if (!(L->run->log_every > 0))
        return false;
    double now = sc_time_now();
    if (now - L->last_timed < L->run->log_every)
        return false;
    L->last_timed = now;
    return true;
}

/* DIR/curves.png from metrics.jsonl: the trainer's panels, else its loss
 * and the val average and worst-group accuracy. */
static sc_status write_curves(const loop *L)
{
    const sc_trainer *t = L->t;
    sc__curves_panel def[2] = {
        {"Training loss", SC_CURVES_Y_FIT, {t->nvalues ? t->values[0].key : NULL},
         {t->nvalues ? t->values[0].label : NULL}},
        {"Accuracy (val)", SC_CURVES_Y_FIT, {"val_acc", "val_wga"}, {"average", "worst group"}},
    };
    const sc__curves_panel *panels = t->npanels ? t->panels : t->nvalues ? def : def + 1;
    int n = t->npanels ? t->npanels : t->nvalues ? 2 : 1;
    char jsonl[4200], png[4200];
    snprintf(jsonl, sizeof jsonl, "%s/metrics.jsonl", L->run->run_dir);
    snprintf(png, sizeof png, "%s/curves.png", L->run->run_dir);
    return sc__curves_plot(jsonl, panels, n, png);
}

/* The run's first line in DIR/log.txt: a fresh run starts the file anew. */
static sc_status log_start(const loop *L, int start_epoch)
{
    const sc_run_config *run = L->run;
    char b[512];
    if (run->resume)
        snprintf(b, sizeof b, "%s: resumed at epoch %d of %d (step %lld)", label_of(L),
                 start_epoch, run->epochs, (long long)L->step);
    else
        snprintf(b, sizeof b, "%s: new run of %d epochs, %lld steps each (batch %lld) in %s",
                 label_of(L), run->epochs, (long long)sc_loop_steps_per_epoch(L->d, run->batch_size),
                 (long long)run->batch_size, run->run_dir);
    return sc__log_append(run->run_dir, !run->resume, b);
}

/* The run's last line: how it ended. The status and its message stay the
 * run's, whatever the log does. */
static sc_status log_end(const loop *L, sc_status st, const sc_loop_result *out)
{
    char b[1400], d[32];
    sc_format_duration(d, sizeof d, sc_time_now() - L->t0);
    if (st != SC_OK) {
        snprintf(b, sizeof b, "%s: stopped after %s: %s", label_of(L), d, sc_last_error());
        char msg[1200];
        snprintf(msg, sizeof msg, "%s", sc_last_error());
        if (sc__log_append(L->run->run_dir, false, b) != SC_OK)
            sc_error_set(st, "%s", msg);
        return st;
    }
    snprintf(b, sizeof b, "%s: finished: %d epochs trained in %s; selected epoch %d (step %lld)",
             label_of(L), out->epochs_run, d, out->selected_epoch,
             (long long)out->selected_step);
    return sc__log_append(L->run->run_dir, false, b);
}

/* ---- the loop ---------------------------------------------------------------- */

int64_t sc_loop_steps_per_epoch(const sc_dataset *d, int64_t batch)
{
    return batch > 0 ? (sc__train_count(d) + batch - 1) / batch : 0;
}

sc_status sc_loop_optim_create(sc_context *ctx, const sc_dataset *d, const sc_run_config *run,
                               sc_var *const *params, size_t n, sc_optim **out)
{
    sc_optim_config oc = run->optim;
    if (oc.schedule == SC_SCHED_COSINE && oc.total_steps <= 0)
        oc.total_steps = sc_loop_steps_per_epoch(d, run->batch_size) * run->epochs;
    return sc_optim_create(ctx, &oc, params, n, out);
}

static sc_status part_paths(loop *L)
{
    for (int k = 0; k < L->t->nparts; k++) {
        const sc_loop_part *p = &L->t->parts[k];
        if (!p->file || !p->model)
            return sc_error_set(SC_ERR_INVALID_ARG, "%s: part %d has no file or model",
                                L->t->name, k);
        snprintf(L->last[k], sizeof L->last[k], "%s/%s", L->dir, p->file);
        snprintf(L->best_path[k], sizeof L->best_path[k], "%s/%s", L->dir,
                 p->best_file ? p->best_file : p->file);
    }
    return SC_OK;
}

sc_status sc_loop_load_best(const sc_run_config *run, const sc_loop_part *part, sc_model *into)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", run->run_dir, part->best_file);
    return sc_checkpoint_load(path, into, NULL, NULL);
}

/* The step values' sums and their weight over every rank (data-parallel;
 * one process: a copy). */
static sc_status global_values(const sc_trainer *t, const double *sums, int64_t seen,
                               double *gsums, int64_t *gseen)
{
    double buf[SC_LOOP_MAX_VALUES + 1];
    for (int i = 0; i < t->nvalues; i++)
        buf[i] = sums[i];
    buf[t->nvalues] = (double)seen;
    if (!t->rank_local)
        SC_TRY(sc__dist_sum_f64(buf, (size_t)t->nvalues + 1, "the step values"));
    for (int i = 0; i < t->nvalues; i++)
        gsums[i] = buf[i];
    *gseen = (int64_t)buf[t->nvalues];
    return SC_OK;
}

/* One epoch: its steps, the evaluations inside it and at its end. */
static sc_status run_epoch(loop *L, sc_batcher *b, sc_graph *g, int epoch, sc_loop_result *out)
{
    const sc_run_config *run = L->run;
    sc_trainer *t = L->t;
    const int64_t *order = NULL;
    int64_t norder = 0;
    if (t->begin_epoch)
        SC_TRY(t->begin_epoch(t->self, epoch, &order, &norder));
    if (order)
        SC_TRY(sc_batcher_start_order(b, order, norder));
    else
        sc_batcher_start_epoch(b, (uint64_t)epoch);
    int64_t steps = sc_batcher_num_batches(b), step = 0, seen = 0;
    if (steps < 1)
        return sc_error_set(SC_ERR_INVALID_ARG, "%s: epoch %d has no sample to train on (%s)",
                            t->name, epoch + 1,
                            order ? "the trainer's draw is empty"
                                  : "the data set's training split is empty");
    double sums[SC_LOOP_MAX_VALUES] = {0}, te = sc_time_now();
    const sc_group_metrics *shown = NULL;
    const sc_batch *bt;
    sc_status st;
    /* a rank-local run takes whole batches, as one process */
    int rank = t->rank_local ? 0 : sc_dist_rank(), nranks = t->rank_local ? 1 : sc_dist_size();
    while ((st = sc_batcher_next_shard(b, rank, nranks, &bt)) == SC_OK && bt) {
        double v[SC_LOOP_MAX_VALUES];
        int64_t w = 0;
        double ts = sc_time_now();
        st = t->step(t->self, g, bt, L->dp, v, &w);
        out->step_seconds += sc_time_now() - ts;
        sc_graph_reset(g);
        step++;
        if (st != SC_OK)
            return sc_error_wrap(st, "%s epoch %d, step %lld", t->name, epoch + 1,
                                 (long long)step);
        if (w > 0) {
            for (int i = 0; i < t->nvalues; i++)
                sums[i] += v[i] * (double)w;
            seen += w;
            out->steps_run++;
        }
        L->step = t->parts[0].optim ? sc_optim_steps(t->parts[0].optim) : L->step + (w > 0);
        if (run->eval_every > 0 && step % run->eval_every == 0 && step < steps) {
            double gsums[SC_LOOP_MAX_VALUES];
            int64_t gseen;
            st = global_values(t, sums, seen, gsums, &gseen);
            cJSON *line = cJSON_CreateObject();
            add_values(line, t, gsums, gseen);
            if (st == SC_OK)
                st = eval_point(L, epoch + 1, step, false, line, &shown);
            cJSON_Delete(line);
            if (st == SC_OK)
                st = report(L, R_EVAL, epoch, step, steps, gsums, gseen, te, shown, NULL);
        } else {
            st = report(L, timed_due(L) ? R_TIMED : R_STEP, epoch, step, steps, sums, seen, te,
                        NULL, NULL);
        }
        if (st != SC_OK)
            return st;
    }
    if (st != SC_OK)
        return st;
    double epoch_s = sc_time_now() - te;
    out->epoch_seconds += epoch_s;
    SC_TRY(global_values(t, sums, seen, sums, &seen));
    cJSON *line = cJSON_CreateObject();
    add_values(line, t, sums, seen);
    cJSON_AddNumberToObject(line, "epoch_s", epoch_s);
    cJSON_AddNumberToObject(line, "images_per_s", epoch_s > 0 ? (double)seen / epoch_s : 0);
    if (sc_dist_size() > 1 && !t->rank_local) { /* rank 0's time in the gradient exchanges */
        cJSON_AddNumberToObject(line, "ranks", sc_dist_size());
        cJSON_AddNumberToObject(line, "exchange_s", L->dp->seconds - L->exchange_s0);
    }
    L->exchange_s0 = L->dp->seconds;
    const char *note = NULL;
    if (t->end_epoch)
        st = t->end_epoch(t->self, epoch, line, &note);
    if (st == SC_OK)
        st = eval_point(L, epoch + 1, step, true, line, &shown);
    cJSON_Delete(line);
    if (st != SC_OK)
        return st;
    for (int i = 0; i < t->nvalues; i++)
        out->values[i] = seen ? sums[i] / (double)seen : NAN;
    SC_TRY(report(L, R_EPOCH, epoch, step, steps, sums, seen, te, shown, note));
    return files(L) ? write_curves(L) : SC_OK;
}

static sc_status loop_run(sc_context *ctx, const sc_dataset *d, const sc_run_config *run,
                          const char *dir, sc_trainer *t, sc__dp *dp, sc_loop_result *out);

sc_status sc_loop_run(sc_context *ctx, const sc_dataset *d, const sc_run_config *run_in,
                      sc_trainer *t, sc_loop_result *out)
{
    /* data-parallel: rank 0 writes the run's files and reports progress,
     * the other ranks neither */
    sc_run_config run = *run_in;
    if (!sc_dist_writes()) {
        run.run_dir = NULL;
        run.progress = NULL;
    }
    if (sc_dist_size() > 1 && !t->data_parallel && !t->rank_local) {
        memset(out, 0, sizeof *out);
        return sc_error_set(SC_ERR_UNSUPPORTED, "%s does not run data-parallel yet (issue #15): "
                                                "run it as one process, without mpirun",
                            t->name);
    }
    sc__dp dp = {0};
    sc_status st = loop_run(ctx, d, &run, run_in->run_dir, t, &dp, out);
    sc__dp_release(&dp);
    return st;
}

static sc_status loop_run(sc_context *ctx, const sc_dataset *d, const sc_run_config *run,
                          const char *dir, sc_trainer *t, sc__dp *dp, sc_loop_result *out)
{
    memset(out, 0, sizeof *out);
    for (int i = 0; i < SC_LOOP_MAX_VALUES; i++)
        out->values[i] = NAN;
    if (run->epochs < 1 || run->batch_size < 1 || run->eval_every < 0)
        return sc_error_set(SC_ERR_INVALID_ARG, "%s needs epochs >= 1, batch size >= 1 and "
                                                "eval_every >= 0",
                            t->name);
    if (!t->step || t->nparts < 0 || t->nparts > SC_LOOP_MAX_PARTS ||
        (t->nparts == 0 && run->run_dir) || t->nvalues > SC_LOOP_MAX_VALUES)
        return sc_error_set(SC_ERR_INVALID_ARG, "%s: incomplete trainer", t->name);
    if (t->rank_local && (t->data_parallel || t->evaluate))
        return sc_error_set(SC_ERR_INVALID_ARG, "%s: a rank-local run neither exchanges "
                                                "gradients nor evaluates (both are collective)",
                            t->name);
    if (run->resume && !dir)
        return sc_error_set(SC_ERR_INVALID_ARG, "%s: resuming needs a run directory", t->name);
    loop L = {.ctx = ctx, .d = d, .run = run, .dir = dir, .t = t, .dp = dp, .fresh = !run->resume,
              .best = {.value = -INFINITY, .epoch = -1}, .t0 = sc_time_now()};
    /* the directory is checked and the settings compared before anything
     * is loaded; config.json is written once a resume has succeeded */
    cJSON *record = NULL;
    sc_status st = sc__record_begin(ctx, d, run, t->name, &record);
    if (st == SC_OK && (files(&L) || run->resume))
        st = part_paths(&L);
    /* run.json: recovered on resume, written anew (before config.json)
     * otherwise */
    if (st == SC_OK && files(&L))
        st = sc__state_start(&L.state, run->run_dir, t, run->resume);
    int start_epoch = 0;
    if (st == SC_OK && run->resume && files(&L))
        st = resume(&L, &start_epoch);
    if (st == SC_OK && run->resume && sc_dist_size() > 1 && !t->rank_local)
        st = follow_resume(&L, &start_epoch);
    if (st != SC_OK) {
        cJSON_Delete(record);
        return st;
    }
    SC_TRY(sc__record_write(run, record));
    for (int k = 0; !t->rank_local && k < t->nparts; k++)
        SC_TRY(sc__dp_broadcast_model(dp, t->parts[k].model));
    L.step = global_step(&L);
    L.last_timed = L.t0;
    if (files(&L))
        SC_TRY(log_start(&L, start_epoch));
    sc_batcher *b = NULL;
    sc_graph *g = NULL;
    sc_batch_opts bo = {.batch_size = run->batch_size, .shuffle = true, .seed = run->seed,
                        .no_images = t->no_images};
    st = sc_batcher_create(d, SC_SPLIT_TRAIN, &bo, &b);
    if (st == SC_OK)
        st = sc_graph_create(ctx, &g);
    const char *last_good = files(&L) ? L.last[0] : "(none: the run writes no checkpoints)";
    for (int epoch = start_epoch; st == SC_OK && epoch < run->epochs; epoch++) {
        st = run_epoch(&L, b, g, epoch, out);
        if (st == SC_ERR_NUMERIC)
            st = sc_error_wrap(st, "training stopped; the last good checkpoint is %s",
                               epoch > 0 ? last_good : "(none: first epoch)");
        if (st == SC_OK)
            out->epochs_run++;
    }
    sc_graph_free(g);
    sc_batcher_free(b);
    out->steps = L.step;
    out->selected_epoch = run->epochs;
    out->selected_step = L.step;
    if (st == SC_OK && run->select != SC_SELECT_LAST && L.best.epoch > 0 && t->evaluate) {
        out->selected_best = files(&L) && has_best_files(t);
        out->selected_epoch = L.best.epoch;
        out->selected_step = L.best.step;
    }
    /* a run with nothing left to train still gets its picture */
    if (st == SC_OK && files(&L) && out->epochs_run == 0)
        st = write_curves(&L);
    out->eval_seconds = L.eval_s;
    out->seconds = sc_time_now() - L.t0;
    return files(&L) ? log_end(&L, st, out) : st;
}
