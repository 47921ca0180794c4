/* The run loop's record of a run (sc_run_record, include/spurcl/train.h):
 * the refusal of a run directory that is not empty, DIR/config.json, and
 * --resume's comparison of the stored settings with the new ones. */
#include "train/loop.h"
#include "train/train_internal.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "spurcl/device.h"

#define CONFIG_FILE "config.json"
#define CONFIG_FORMAT "spurcl-run-config/1"

/* What may change on resume whatever the caller says: the run's length
 * (raised to train on), where it is, how it is resumed, and how often it
 * reports. */
static const char *const always_free[] = {"epochs", "out", "resume", "force", "override",
                                          "log-every"};

/* ---- the directory ------------------------------------------------------------------ */

/* Whether dir exists and holds an entry. */
static sc_status dir_has_files(const char *dir, bool *has)
{
    *has = false;
    DIR *dp = opendir(dir);
    if (!dp)
        return errno == ENOENT ? SC_OK
                               : sc_error_set(SC_ERR_IO, "%s: cannot list: %s", dir,
                                              strerror(errno));
    struct dirent *e;
    while (!*has && (e = readdir(dp)) != NULL)
        *has = strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(dp);
    return SC_OK;
}

/* ---- the new config.json ------------------------------------------------------------ */

static void now_utc(char *buf, size_t n)
{
    time_t t = time(NULL);
    struct tm tm;
    if (!gmtime_r(&t, &tm) || !strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(buf, n, "unknown");
}

/* A float as the shortest decimal that reads back as the same float (0.001,
 * not 0.0010000000474974513); null when not finite. */
static void add_float(cJSON *o, const char *key, float v)
{
    if (!isfinite(v)) {
        cJSON_AddNullToObject(o, key);
        return;
    }
    char buf[64];
    for (int p = 6; p <= 9; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, (double)v);
        if ((float)strtod(buf, NULL) == v)
            break;
    }
    cJSON_AddRawToObject(o, key, buf);
}

/* The run settings every trainer shares, under the tool's option names. */
static cJSON *run_object(const sc_run_config *run)
{
    cJSON *o = cJSON_CreateObject();
    const sc_optim_config *op = &run->optim;
    cJSON_AddNumberToObject(o, "epochs", run->epochs);
    cJSON_AddNumberToObject(o, "batch", (double)run->batch_size);
    cJSON_AddNumberToObject(o, "seed", (double)run->seed);
    cJSON_AddStringToObject(o, "optim", sc_optim_kind_name(op->kind));
    add_float(o, "lr", op->lr);
    add_float(o, "momentum", op->momentum);
    add_float(o, "weight-decay", op->weight_decay);
    add_float(o, "beta1", op->beta1);
    add_float(o, "beta2", op->beta2);
    add_float(o, "eps", op->eps);
    add_float(o, "clip", op->clip_norm);
    cJSON_AddStringToObject(o, "schedule", sc_schedule_name(op->schedule));
    cJSON_AddNumberToObject(o, "warmup", (double)op->warmup_steps);
    cJSON_AddNumberToObject(o, "step-size", (double)op->step_size);
    add_float(o, "gamma", op->gamma);
    cJSON_AddNumberToObject(o, "total-steps", (double)op->total_steps);
    cJSON_AddStringToObject(o, "select", sc_select_name(run->select));
    cJSON_AddNumberToObject(o, "eval-every", (double)run->eval_every);
    cJSON_AddBoolToObject(o, "eval-test", run->eval_test);
    cJSON_AddNumberToObject(o, "log-every", run->log_every);
    cJSON_AddStringToObject(o, "out", run->run_dir);
    cJSON_AddBoolToObject(o, "resume", run->resume);
    cJSON_AddBoolToObject(o, "force", run->force);
    if (run->overrides)
        cJSON_AddStringToObject(o, "override", run->overrides);
    return o;
}

static cJSON *data_object(const sc_dataset *d, const cJSON *path)
{
    cJSON *o = cJSON_CreateObject();
    if (cJSON_IsString(path))
        cJSON_AddStringToObject(o, "path", path->valuestring);
    else
        cJSON_AddNullToObject(o, "path");
    char hex[24];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)sc__data_hash(d));
    cJSON_AddStringToObject(o, "fnv1a", hex);
    cJSON_AddNumberToObject(o, "samples", (double)d->n);
    double shape[3] = {d->c, d->h, d->w};
    cJSON_AddItemToObject(o, "image", cJSON_CreateDoubleArray(shape, 3));
    cJSON_AddNumberToObject(o, "classes", d->num_classes);
    cJSON_AddNumberToObject(o, "attributes", d->num_attrs);
    return o;
}

/* The form each kernel family runs on ctx and how it was decided ("host
 * (tuned)", "composed (rule)"; "by shape (rule)" where each call decides),
 * tuning the tunable families if they are due: results agree across forms
 * within float rounding, and repeat bit for bit within one. Not compared on
 * --resume (a new cache may choose again). */
static cJSON *forms_object(sc_context *ctx)
{
    cJSON *o = cJSON_CreateObject();
    const char *family;
    for (int i = 0; o && (family = sc_kernel_family_name(i)); i++) {
        sc_form_info fi;
        if (sc_context_form(ctx, family, &fi) != SC_OK) {
            sc_error_clear();
            continue;
        }
        char txt[64];
        snprintf(txt, sizeof txt, "%s (%s)", fi.form ? fi.form : "by shape", fi.how);
        cJSON_AddStringToObject(o, family, txt);
    }
    return o;
}

/* The configuration of this run, as config.json will hold it (parsed back
 * from its text, so that numbers compare as the stored file's do). */
static sc_status build_config(sc_context *ctx, const sc_dataset *d, const sc_run_config *run,
                              const char *trainer, cJSON **out)
{
    *out = NULL;
    cJSON *rec = NULL;
    if (run->record) {
        rec = cJSON_Parse(run->record);
        if (!cJSON_IsObject(rec)) {
            cJSON_Delete(rec);
            return sc_error_set(SC_ERR_INVALID_ARG, "%s: the run record is not a JSON object",
                                trainer);
        }
    }
    char when[32];
    now_utc(when, sizeof when);
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "format", CONFIG_FORMAT);
    cJSON_AddStringToObject(c, "spurcl", sc_version());
    cJSON_AddStringToObject(c, "git", sc_version_git());
    cJSON_AddStringToObject(c, "trainer", trainer);
    if (run->label)
        cJSON_AddStringToObject(c, "label", run->label);
    const cJSON *path = NULL;
    for (cJSON *it = rec ? rec->child : NULL; it; it = it->next) {
        if (!strcmp(it->string, "data_path"))
            path = it;
        else if (strcmp(it->string, "free") && !cJSON_GetObjectItemCaseSensitive(c, it->string))
            cJSON_AddItemToObject(c, it->string, cJSON_Duplicate(it, true));
    }
    cJSON_AddItemToObject(c, "run", run_object(run));
    if (d)
        cJSON_AddItemToObject(c, "data", data_object(d, path));
    if (ctx) {
        cJSON_AddStringToObject(c, "device", sc_context_device(ctx)->name);
        cJSON_AddItemToObject(c, "kernel_forms", forms_object(ctx));
    }
    cJSON_AddStringToObject(c, "created", when);
    /* the record's "free" keys travel with the new configuration only */
    const cJSON *fr = rec ? cJSON_GetObjectItemCaseSensitive(rec, "free") : NULL;
    char *txt = cJSON_PrintUnformatted(c);
    cJSON_Delete(c);
    *out = txt ? cJSON_Parse(txt) : NULL;
    cJSON_free(txt);
    if (*out && cJSON_IsArray(fr))
        cJSON_AddItemToObject(*out, "free", cJSON_Duplicate(fr, true));
    cJSON_Delete(rec);
    return *out ? SC_OK : sc_oom("config.json");
}

/* ---- --resume: the comparison ------------------------------------------------------- */

/* A value as a diff shows it: a string without quotes. */
static char *value_text(const cJSON *v)
{
    if (!v)
        return strdup("(absent)");
    if (cJSON_IsString(v))
        return strdup(v->valuestring);
    if (cJSON_IsNull(v))
        return strdup("(none)");
    return cJSON_PrintUnformatted(v);
}

/* Whether `key` is in the comma-separated `list`. */
static bool in_list(const char *list, const char *key)
{
    size_t n = strlen(key);
    for (const char *p = list; p && *p;) {
        size_t len = strcspn(p, ",");
        if (len == n && !strncmp(p, key, n))
            return true;
        p += len + (p[len] == ',');
    }
    return false;
}

static bool is_free(const cJSON *config, const char *key)
{
    for (size_t i = 0; i < sizeof always_free / sizeof always_free[0]; i++)
        if (!strcmp(always_free[i], key))
            return true;
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(config, "free"))
        if (cJSON_IsString(it) && !strcmp(it->valuestring, key))
            return true;
    return false;
}

/* The settings a configuration is compared by: the caller's when both
 * files have them, else the loop's run settings. */
static const cJSON *settings_of(const cJSON *c, bool callers)
{
    return cJSON_GetObjectItemCaseSensitive(c, callers ? "settings" : "run");
}

static const char *data_sum(const cJSON *c)
{
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(c, "data"),
                                                      "fnv1a");
    return cJSON_IsString(s) ? s->valuestring : NULL;
}

static char *data_text(const cJSON *c)
{
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(c, "data"),
                                                      "path");
    return sc_strprintf("%s (fnv1a %s)", cJSON_IsString(p) ? p->valuestring : "?",
                        data_sum(c));
}

/* Appends "key old -> new" to the diff line, and the key to the list of
 * what needs an override (when it is not overridden). */
typedef struct diff {
    char line[2048], keys[512];
    size_t nline, nkeys;
    int refused;
    cJSON *changed;           /* {key: [old, new]} of every change, free or not */
} diff;

static void add_change(diff *df, const char *key, const cJSON *was, const cJSON *now,
                       const char *was_text, const char *now_text, bool refused)
{
    cJSON *pair = cJSON_CreateArray();
    cJSON_AddItemToArray(pair, was ? cJSON_Duplicate(was, true) : cJSON_CreateNull());
    cJSON_AddItemToArray(pair, now ? cJSON_Duplicate(now, true) : cJSON_CreateNull());
    cJSON_AddItemToObject(df->changed, key, pair);
    if (!refused)
        return;
    if (df->nline < sizeof df->line)
        df->nline += (size_t)snprintf(df->line + df->nline, sizeof df->line - df->nline,
                                      "%s%s %s -> %s", df->refused ? ", " : "", key, was_text,
                                      now_text);
    if (df->nkeys < sizeof df->keys)
        df->nkeys += (size_t)snprintf(df->keys + df->nkeys, sizeof df->keys - df->nkeys, "%s%s",
                                      df->refused ? "," : "", key);
    df->refused++;
}

/* Compares the stored configuration `old` with the new one `now`: a change
 * not overridden is an error naming every one; the changes go to
 * *changed. */
static sc_status compare(const sc_run_config *run, const char *path, const cJSON *old,
                         const cJSON *now, cJSON **changed)
{
    bool callers = settings_of(old, true) && settings_of(now, true);
    const cJSON *so = settings_of(old, callers), *sn = settings_of(now, callers);
    diff df = {.changed = cJSON_CreateObject()};
    *changed = df.changed;
    /* --override names settings (a typo is an error, not a silent no-op) */
    const char *ov = run->overrides;
    for (const char *p = ov; p && *p;) {
        size_t len = strcspn(p, ",");
        char key[128];
        snprintf(key, sizeof key, "%.*s", (int)(len < sizeof key ? len : sizeof key - 1), p);
        if (len && strcmp(key, "data") && !cJSON_GetObjectItemCaseSensitive(sn, key) &&
            !cJSON_GetObjectItemCaseSensitive(so, key))
            return sc_error_set(SC_ERR_INVALID_ARG,
                                "--override %s: no such setting (the settings are the keys of "
                                "\"%s\" in %s)",
                                key, callers ? "settings" : "run", path);
        p += len + (p[len] == ',');
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, sn)
    {
        const cJSON *was = cJSON_GetObjectItemCaseSensitive(so, it->string);
        /* a key only one side has: an option this version added or dropped */
        if (!was || !strcmp(it->string, "data") || cJSON_Compare(was, it, true))
            continue;
        /* how this start was asked for is in the history's argv */
        if (!strcmp(it->string, "resume") || !strcmp(it->string, "force") ||
            !strcmp(it->string, "override"))
            continue;
        bool refused = !is_free(now, it->string) && !in_list(ov, it->string);
        char *a = value_text(was), *b = value_text(it);
        add_change(&df, it->string, was, it, a ? a : "?", b ? b : "?", refused);
        free(a);
        free(b);
    }
    const char *sa = data_sum(old), *sb = data_sum(now);
    if (sa && sb && strcmp(sa, sb)) {
        char *a = data_text(old), *b = data_text(now);
        add_change(&df, "data", cJSON_GetObjectItemCaseSensitive(old, "data"),
                   cJSON_GetObjectItemCaseSensitive(now, "data"), a ? a : "?", b ? b : "?",
                   !in_list(ov, "data"));
        free(a);
        free(b);
    }
    if (!df.refused)
        return SC_OK;
    return sc_error_set(SC_ERR_INVALID_ARG,
                        "--resume: setting%s changed: %s (%s); pass --override %s to accept",
                        df.refused > 1 ? "s" : "", df.line, path, df.keys);
}

/* ---- the loop's two halves and the public call ------------------------------------- */

sc_status sc__record_begin(sc_context *ctx, const sc_dataset *d, const sc_run_config *run,
                           const char *trainer, cJSON **config)
{
    *config = NULL;
    if (!run->run_dir)
        return SC_OK;
    const char *dir = run->run_dir;
    if (!run->resume && !run->force) {
        bool has;
        SC_TRY(dir_has_files(dir, &has));
        if (has)
            return sc_error_set(SC_ERR_INVALID_ARG,
                                "%s is not empty: pass --resume to continue the run in it, or "
                                "--force to start a new run over it (its files are replaced as "
                                "the new run writes them)",
                                dir);
    }
    SC_TRY(sc_mkdir_p(dir));
    /* a writer killed mid-checkpoint left its temporary file behind */
    SC_TRY(sc_io_remove_stale_tmp(dir, NULL));
    cJSON *now;
    SC_TRY(build_config(ctx, d, run, trainer, &now));
    char *path = sc_strprintf("%s/%s", dir, CONFIG_FILE);
    if (!path) {
        cJSON_Delete(now);
        return sc_oom("config.json");
    }
    sc_status st = SC_OK;
    uint8_t *txt = NULL;
    size_t size;
    if (run->resume && sc_io_read_file(path, (size_t)1 << 24, &txt, &size) == SC_OK) {
        cJSON *old = cJSON_Parse((char *)txt);
        cJSON *changed = NULL;
        if (!cJSON_IsObject(old))
            st = sc_error_set(SC_ERR_FORMAT, "%s is not a JSON object (remove it to resume "
                                             "without comparing the settings)",
                              path);
        else
            st = compare(run, path, old, now, &changed);
        if (st == SC_OK) {
            /* the run's first start and the history of its resumes stay */
            char when[32];
            now_utc(when, sizeof when);
            const cJSON *created = cJSON_GetObjectItemCaseSensitive(old, "created");
            if (cJSON_IsString(created))
                cJSON_ReplaceItemInObjectCaseSensitive(now, "created",
                                                       cJSON_CreateString(created->valuestring));
            cJSON *hist = cJSON_DetachItemFromObjectCaseSensitive(old, "history");
            if (!cJSON_IsArray(hist)) {
                cJSON_Delete(hist);
                hist = cJSON_CreateArray();
            }
            cJSON *h = cJSON_CreateObject();
            cJSON_AddStringToObject(h, "resumed", when);
            const cJSON *argv = cJSON_GetObjectItemCaseSensitive(now, "argv");
            if (argv)
                cJSON_AddItemToObject(h, "argv", cJSON_Duplicate(argv, true));
            cJSON_AddItemToObject(h, "changed", changed);
            changed = NULL;
            cJSON_AddItemToArray(hist, h);
            cJSON_AddItemToObject(now, "history", hist);
        }
        cJSON_Delete(changed);
        cJSON_Delete(old);
    } else {
        sc_error_clear(); /* none stored: a new run, or one an older spurcl made */
    }
    free(txt);
    free(path);
    if (st != SC_OK) {
        cJSON_Delete(now);
        return st;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(now, "free");
    *config = now;
    return SC_OK;
}

sc_status sc__record_write(const sc_run_config *run, cJSON *config)
{
    if (!config)
        return SC_OK;
    char *path = sc_strprintf("%s/%s", run->run_dir, CONFIG_FILE);
    char *text = path ? cJSON_Print(config) : NULL;
    sc_status st = text ? sc_io_write_text_atomic(path, text) : sc_oom("config.json");
    cJSON_free(text);
    st = sc_io_write_error(st, path);
    free(path);
    cJSON_Delete(config);
    return st;
}

sc_status sc_run_record(sc_context *ctx, const sc_dataset *d, const sc_run_config *run,
                        const char *trainer)
{
    cJSON *config;
    SC_TRY(sc__record_begin(ctx, d, run, trainer ? trainer : "run", &config));
    return sc__record_write(run, config);
}
