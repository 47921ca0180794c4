/* The run's files as one unit: DIR/run.json, staged checkpoints, recovery
 * at resume and the cut of metrics.jsonl (the protocol: src/train/loop.h). */
#include "train/loop.h"
#include "train/train_internal.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "spurcl/io.h"

#define STATE_FORMAT "spurcl-run-state/1"
#define STAGED_SUFFIX ".next"

static sc__write_hook write_hook;
static void *write_hook_ud;

void sc__loop_set_write_hook(sc__write_hook hook, void *ud)
{
    write_hook = hook;
    write_hook_ud = ud;
}

sc_status sc__state_wrote(sc__run_state *s, const char *what)
{
    s->writes++;
    if (write_hook) {
        sc_status st = write_hook(s->writes, what, write_hook_ud);
        if (st != SC_OK)
            return sc_error_set(st, "stopped by the test hook after write %d (%s)", s->writes,
                                what);
    }
#ifndef NDEBUG
    if (s->kill_after > 0 && s->writes == s->kill_after)
        raise(SIGKILL);
#endif
    return SC_OK;
}

static void path_of(const sc__run_state *s, int i, char *buf, size_t n)
{
    snprintf(buf, n, "%s/%s", s->dir, s->name[i]);
}

void sc__state_staged_path(const sc__run_state *s, int i, char *buf, size_t n)
{
    snprintf(buf, n, "%s/%s" STAGED_SUFFIX, s->dir, s->name[i]);
}

/* ---- run.json ------------------------------------------------------------------------ */

static cJSON *entry_json(const sc__run_entry *e, bool best)
{
    cJSON *o = cJSON_CreateObject();
    char crc[16];
    snprintf(crc, sizeof crc, "%08x", (unsigned)e->crc);
    cJSON_AddStringToObject(o, "kind", best ? "best" : "last");
    cJSON_AddNumberToObject(o, "epoch", e->epoch);
    cJSON_AddNumberToObject(o, "step", (double)e->step);
    cJSON_AddNumberToObject(o, "bytes", (double)e->bytes);
    cJSON_AddStringToObject(o, "crc32", crc);
    return o;
}

/* run.json's text (cJSON_free it), or NULL when out of memory. */
static char *state_text(const sc__run_state *s)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "format", STATE_FORMAT);
    cJSON *r = cJSON_AddObjectToObject(o, "resume");
    cJSON_AddNumberToObject(r, "epoch", s->epoch);
    cJSON_AddNumberToObject(r, "step", (double)s->step);
    if (s->best_epoch > 0) {
        cJSON *b = cJSON_AddObjectToObject(o, "selection");
        cJSON_AddNumberToObject(b, "epoch", s->best_epoch);
        cJSON_AddNumberToObject(b, "step", (double)s->best_step);
        cJSON_AddNumberToObject(b, "value", isfinite(s->best_value) ? s->best_value : -1.0);
    } else {
        cJSON_AddNullToObject(o, "selection");
    }
    cJSON *files = cJSON_AddObjectToObject(o, "files");
    for (int i = 0; i < SC_LOOP_MAX_FILES; i++)
        if (s->name[i] && s->held[i].set)
            cJSON_AddItemToObject(files, s->name[i], entry_json(&s->held[i], i >= s->nparts));
    char *text = cJSON_Print(o);
    cJSON_Delete(o);
    return text;
}

static sc_status write_state(sc__run_state *s)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/" SC_RUN_STATE_FILE, s->dir);
    char *text = state_text(s);
    sc_status st = sc_io_write_text_atomic(path, text);
    cJSON_free(text);
    SC_TRY(sc_io_write_error(st, path));
    SC_TRY(sc_io_sync_dir(s->dir));
    return sc__state_wrote(s, SC_RUN_STATE_FILE);
}

/* A whole number in [lo, hi] (false when absent or anything else). */
static bool jnum(const cJSON *o, const char *key, double lo, double hi, double *out)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(j) || !(j->valuedouble >= lo && j->valuedouble <= hi) ||
        j->valuedouble != floor(j->valuedouble))
        return false;
    *out = j->valuedouble;
    return true;
}

#define MAX_EPOCH 1000000.0
#define MAX_STEP 9007199254740992.0 /* 2^53: exact in a JSON number */

static sc_status parse_entry(const cJSON *j, const char *path, const char *name,
                             sc__run_entry *e)
{
    double ep = 0, sp = 0, by = 0;
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(j, "crc32");
    char *end = NULL;
    unsigned long crc = cJSON_IsString(c) ? strtoul(c->valuestring, &end, 16) : 0;
    if (!cJSON_IsObject(j) || !jnum(j, "epoch", 1, MAX_EPOCH, &ep) ||
        !jnum(j, "step", 0, MAX_STEP, &sp) || !jnum(j, "bytes", 0, MAX_STEP, &by) ||
        !end || end == c->valuestring || *end || crc > 0xffffffffUL)
        return sc_error_set(SC_ERR_FORMAT, "%s: the entry of %s needs an epoch, a step, bytes "
                                           "and a crc32",
                            path, name);
    *e = (sc__run_entry){.set = true, .epoch = (int)ep, .step = (int64_t)sp,
                         .bytes = (uint64_t)by, .crc = (uint32_t)crc};
    return SC_OK;
}

/* Reads run.json into s (s->found = false when there is none). */
static sc_status read_state(sc__run_state *s)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/" SC_RUN_STATE_FILE, s->dir);
    if (access(path, F_OK) != 0 && errno == ENOENT)
        return SC_OK;
    uint8_t *txt;
    size_t size;
    SC_TRY(sc_io_read_file(path, (size_t)1 << 20, &txt, &size));
    cJSON *o = cJSON_Parse((const char *)txt);
    free(txt);
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(o, "format");
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(o, "resume");
    const cJSON *sel = cJSON_GetObjectItemCaseSensitive(o, "selection");
    const cJSON *files = cJSON_GetObjectItemCaseSensitive(o, "files");
    double ep = 0, sp = 0;
    sc_status st = SC_OK;
    if (!cJSON_IsObject(o) || !cJSON_IsString(fmt) || strcmp(fmt->valuestring, STATE_FORMAT) ||
        !jnum(r, "epoch", 0, MAX_EPOCH, &ep) || !jnum(r, "step", 0, MAX_STEP, &sp) ||
        !(cJSON_IsObject(files)))
        st = sc_error_set(SC_ERR_FORMAT, "%s: not a %s manifest (format, resume {epoch, step} "
                                         "and files expected)",
                          path, STATE_FORMAT);
    if (st == SC_OK) {
        s->epoch = (int)ep;
        s->step = (int64_t)sp;
    }
    if (st == SC_OK && cJSON_IsObject(sel)) {
        double be = 0, bs = 0;
        const cJSON *bv = cJSON_GetObjectItemCaseSensitive(sel, "value");
        if (!jnum(sel, "epoch", 1, MAX_EPOCH, &be) || !jnum(sel, "step", 0, MAX_STEP, &bs) ||
            !cJSON_IsNumber(bv) || !isfinite(bv->valuedouble))
            st = sc_error_set(SC_ERR_FORMAT, "%s: selection needs an epoch, a step and a "
                                             "finite value",
                              path);
        else {
            s->best_epoch = (int)be;
            s->best_step = (int64_t)bs;
            s->best_value = bv->valuedouble;
        }
    } else if (st == SC_OK && !cJSON_IsNull(sel) && sel) {
        st = sc_error_set(SC_ERR_FORMAT, "%s: selection is neither an object nor null", path);
    }
    /* the files of this trainer; any other name is not this run's */
    for (int i = 0; st == SC_OK && i < SC_LOOP_MAX_FILES; i++) {
        const cJSON *j = s->name[i] ? cJSON_GetObjectItemCaseSensitive(files, s->name[i]) : NULL;
        if (j)
            st = parse_entry(j, path, s->name[i], &s->held[i]);
    }
    for (int k = 0; st == SC_OK && s->epoch > 0 && k < s->nparts; k++)
        if (!s->held[k].set || s->held[k].epoch != s->epoch)
            st = sc_error_set(SC_ERR_FORMAT, "%s: the resume point is epoch %d but %s is %s", path,
                              s->epoch, s->name[k],
                              s->held[k].set ? "at another epoch" : "not named");
    cJSON_Delete(o);
    if (st == SC_OK)
        s->found = true;
    return st;
}

/* ---- recovery ---------------------------------------------------------------------------- */

static bool matches(const sc__run_entry *e, uint64_t bytes, uint32_t crc)
{
    return e->set && e->bytes == bytes && e->crc == crc;
}

/* Rolls a committed NAME.next forward, removes an uncommitted one, and
 * checks NAME is what run.json names. */
static sc_status recover_file(sc__run_state *s, int i)
{
    char path[4200], next[4300];
    path_of(s, i, path, sizeof path);
    sc__state_staged_path(s, i, next, sizeof next);
    uint64_t bytes;
    uint32_t crc;
    if (access(next, F_OK) == 0) {
        if (sc_io_file_crc32(next, &bytes, &crc) == SC_OK && matches(&s->held[i], bytes, crc)) {
            if (rename(next, path) != 0)
                return sc_error_set(SC_ERR_IO, "%s: cannot rename %s into place: %s", path, next,
                                    strerror(errno));
        } else if (unlink(next) != 0 && errno != ENOENT) {
            return sc_error_set(SC_ERR_IO, "%s: cannot remove: %s", next, strerror(errno));
        }
        sc_error_clear();
    }
    if (!s->held[i].set)
        return SC_OK;
    sc_status st = sc_io_file_crc32(path, &bytes, &crc);
    if (st != SC_OK)
        return sc_error_wrap(st, "%s names %s (epoch %d, step %lld)", SC_RUN_STATE_FILE,
                             s->name[i], s->held[i].epoch, (long long)s->held[i].step);
    if (!matches(&s->held[i], bytes, crc))
        return sc_error_set(SC_ERR_FORMAT,
                            "%s is not the file %s/%s names (epoch %d, step %lld, %llu bytes, "
                            "crc32 %08x; it has %llu bytes, crc32 %08x): it was changed after "
                            "the run wrote it",
                            path, s->dir, SC_RUN_STATE_FILE, s->held[i].epoch,
                            (long long)s->held[i].step, (unsigned long long)s->held[i].bytes,
                            (unsigned)s->held[i].crc, (unsigned long long)bytes, (unsigned)crc);
    return SC_OK;
}

sc_status sc__state_start(sc__run_state *s, const char *dir, const sc_trainer *t, bool resume)
{
    memset(s, 0, sizeof *s);
    s->dir = dir;
    s->nparts = t->nparts;
    for (int k = 0; k < t->nparts; k++) {
        s->name[k] = t->parts[k].file;
        s->name[t->nparts + k] = t->parts[k].best_file;
    }
#ifndef NDEBUG
    const char *kill_env = getenv("SC_TEST_KILL_AFTER_WRITES");
    s->kill_after = kill_env ? strtol(kill_env, NULL, 10) : 0;
#endif
    if (resume) {
        SC_TRY(read_state(s));
        if (!s->found)
            return SC_OK; /* an older spurcl's run: sc__state_adopt after the loads */
    }
    for (int i = 0; i < SC_LOOP_MAX_FILES; i++)
        if (s->name[i]) {
            if (resume) {
                SC_TRY(recover_file(s, i));
            } else {
                char next[4300];
                sc__state_staged_path(s, i, next, sizeof next);
                if (unlink(next) != 0 && errno != ENOENT)
                    return sc_error_set(SC_ERR_IO, "%s: cannot remove: %s", next,
                                        strerror(errno));
            }
        }
    if (resume)
        return sc_io_sync_dir(dir);
    return write_state(s);
}

sc_status sc__state_staged(sc__run_state *s, int i, int epoch, int64_t step)
{
    char next[4300];
    sc__state_staged_path(s, i, next, sizeof next);
    sc__run_entry *e = &s->staged[i];
    *e = (sc__run_entry){.set = true, .epoch = epoch, .step = step};
    SC_TRY(sc_io_file_crc32(next, &e->bytes, &e->crc));
    return sc__state_wrote(s, s->name[i]);
}

sc_status sc__state_commit(sc__run_state *s)
{
    sc__run_entry old[SC_LOOP_MAX_FILES];
    memcpy(old, s->held, sizeof old);
    for (int i = 0; i < SC_LOOP_MAX_FILES; i++)
        if (s->staged[i].set)
            s->held[i] = s->staged[i];
    /* the staged files are durable under their .next names before run.json
     * names them */
    sc_status st = sc_io_sync_dir(s->dir);
    if (st == SC_OK)
        st = write_state(s);
    if (st != SC_OK) {
        memcpy(s->held, old, sizeof old);
        return st;
    }
    for (int i = 0; i < SC_LOOP_MAX_FILES; i++) {
        if (!s->staged[i].set)
            continue;
        s->staged[i].set = false;
        char path[4200], next[4300];
        path_of(s, i, path, sizeof path);
        sc__state_staged_path(s, i, next, sizeof next);
        if (rename(next, path) != 0)
            return sc_error_set(SC_ERR_IO, "%s: cannot rename %s into place: %s", path, next,
                                strerror(errno));
        SC_TRY(sc__state_wrote(s, s->name[i]));
    }
    return sc_io_sync_dir(s->dir);
}

sc_status sc__state_adopt(sc__run_state *s, int epoch, int64_t step)
{
    s->epoch = epoch;
    s->step = step;
    for (int i = 0; i < SC_LOOP_MAX_FILES; i++) {
        if (!s->name[i])
            continue;
        bool best = i >= s->nparts;
        if (best && s->best_epoch < 1)
            continue;
        char path[4200];
        path_of(s, i, path, sizeof path);
        if (best && access(path, F_OK) != 0)
            continue;
        sc__run_entry *e = &s->held[i];
        *e = (sc__run_entry){.set = true, .epoch = best ? s->best_epoch : epoch,
                             .step = best ? s->best_step : step};
        SC_TRY(sc_io_file_crc32(path, &e->bytes, &e->crc));
    }
    s->found = true;
    return write_state(s);
}

/* ---- metrics.jsonl ------------------------------------------------------------------------- */

sc_status sc__metrics_truncate(const char *dir, int epoch, int64_t step)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    FILE *f = fopen(path, "rb");
    if (!f)
        return errno == ENOENT ? SC_OK
                               : sc_error_set(SC_ERR_IO, "%s: cannot open: %s", path,
                                              strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long long keep = 0;
    bool cut = false;
    while ((n = getline(&line, &cap, f)) > 0) {
        cJSON *o = line[n - 1] == '\n' ? cJSON_Parse(line) : NULL;
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "epoch");
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, "step");
        bool ok = cJSON_IsNumber(e) && cJSON_IsNumber(s) && e->valuedouble <= epoch &&
                  s->valuedouble <= (double)step;
        cJSON_Delete(o);
        if (!ok) {
            cut = true;
            break;
        }
        keep += n;
    }
    bool bad = ferror(f);
    free(line);
    fclose(f);
    if (bad)
        return sc_error_set(SC_ERR_IO, "%s: read error", path);
    if (cut && truncate(path, (off_t)keep) != 0)
        return sc_error_set(SC_ERR_IO, "%s: cannot cut it after the resume point: %s", path,
                            strerror(errno));
    return SC_OK;
}
