/* Helpers shared by the trainers: the JSON encoding of group metrics,
 * metrics.jsonl and log.txt lines, argmax, finiteness checks. */
#include "train/train_internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void add_num(cJSON *o, const char *prefix, const char *key, double v)
{
    char k[96];
    snprintf(k, sizeof k, "%s%s", prefix, key);
    cJSON_AddNumberToObject(o, k, isfinite(v) ? v : -1);
}

void sc__json_add_metrics(cJSON *o, const char *prefix, const sc_group_metrics *m, bool groups)
{
    add_num(o, prefix, "acc", m->accuracy);
    add_num(o, prefix, "wga", m->worst_group);
    add_num(o, prefix, "mean_group", m->mean_group);
    add_num(o, prefix, "weighted", m->weighted);
    add_num(o, prefix, "loss", m->loss);
    if (!groups)
        return;
    char k[96];
    snprintf(k, sizeof k, "%sgroup_acc", prefix);
    cJSON *acc = cJSON_AddArrayToObject(o, k);
    snprintf(k, sizeof k, "%sgroup_n", prefix);
    cJSON *cnt = cJSON_AddArrayToObject(o, k);
    for (int g = 0; g < m->num_groups; g++) {
        cJSON_AddItemToArray(acc, cJSON_CreateNumber(
                                      m->total[g] ? (double)m->correct[g] / (double)m->total[g]
                                                  : -1));
        cJSON_AddItemToArray(cnt, cJSON_CreateNumber((double)m->total[g]));
    }
}

sc_status sc__log_append(const char *dir, bool truncate, const char *line)
{
    char path[4096], when[32] = "";
    snprintf(path, sizeof path, "%s/log.txt", dir);
    time_t now = time(NULL);
    struct tm tm;
    if (localtime_r(&now, &tm))
        strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
    FILE *f = fopen(path, truncate ? "w" : "a");
    if (!f)
        return sc_error_set(SC_ERR_IO, "cannot append to %s: %s", path, strerror(errno));
    int bad = fprintf(f, "%s  %s\n", when, line) < 0;
    int e = bad ? errno : 0;
    if (fclose(f) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    return bad ? sc_error_set(SC_ERR_IO, "writing %s failed: %s", path, strerror(e ? e : EIO))
               : SC_OK;
}

char *sc_group_metrics_json(const sc_group_metrics *m)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    sc__json_add_metrics(o, "", m, true);
    char *txt = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    char *s = txt ? strdup(txt) : NULL; /* the caller frees with free() */
    cJSON_free(txt);
    return s;
}

sc_status sc__append_jsonl(const char *dir, cJSON *o, bool truncate)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    char *s = cJSON_PrintUnformatted(o);
    if (!s)
        return sc_oom("metrics.jsonl");
    FILE *f = fopen(path, truncate ? "w" : "a");
    if (!f) {
        int e = errno;
        cJSON_free(s);
        return sc_error_set(SC_ERR_IO, "cannot append to %s: %s", path, strerror(e));
    }
    /* flushed and synced: the run's commit protocol (train/loop.h) writes
     * the line before the checkpoints that follow it */
    int bad = fprintf(f, "%s\n", s) < 0 || fflush(f) != 0;
    int e = bad ? errno : 0;
    if (!bad && fsync(fileno(f)) != 0 && errno != EINVAL && errno != EROFS) {
        bad = 1;
        e = errno;
    }
    if (fclose(f) != 0) {
        if (!bad)
            e = errno;
        bad = 1;
    }
    cJSON_free(s);
    return bad ? sc_error_set(SC_ERR_IO, "writing %s failed: %s", path, strerror(e ? e : EIO))
               : SC_OK;
}

int sc__argmax(const float *row, int k)
{
    int best = 0;
    for (int i = 1; i < k; i++)
        if (row[i] > row[best])
            best = i;
    return best;
}

sc_status sc__check_finite(const char *what, const double *v, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return sc_error_set(SC_ERR_NUMERIC, "the %s %s became %g", what, names[i], v[i]);
    return SC_OK;
}

int64_t sc__train_count(const sc_dataset *d)
{
    int64_t n = 0;
    for (int64_t i = 0; i < d->n; i++)
        n += d->split[i] == SC_SPLIT_TRAIN;
    return n;
}

/* FNV-1a over bytes, continuing from h. */
static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}

uint64_t sc__data_hash(const sc_dataset *d)
{
    size_t n = (size_t)d->n;
    uint64_t h = 0xcbf29ce484222325ULL;
    int64_t shape[6] = {d->n, d->c, d->h, d->w, d->num_classes, d->num_attrs};
    h = fnv1a(h, shape, sizeof shape);
    h = fnv1a(h, d->images, n * (size_t)d->c * (size_t)d->h * (size_t)d->w);
    h = fnv1a(h, d->labels, n * sizeof *d->labels);
    h = fnv1a(h, d->attrs, n * sizeof *d->attrs);
    return fnv1a(h, d->split, n * sizeof *d->split);
}
