#include "train/train_internal.h"

#include <cjson/cJSON.h>
#include <math.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static int is_dir(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

sc_status sc__ensure_dir(const char *dir)
{
    char path[4096];
    if (!dir || !*dir || strlen(dir) >= sizeof path)
        return sc_error_set(SC_ERR_INVALID_ARG, "invalid run directory '%s'", dir ? dir : "");
    snprintf(path, sizeof path, "%s", dir);
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (!is_dir(path) && mkdir(path, 0777) != 0 && errno != EEXIST)
            return sc_error_set(SC_ERR_IO, "cannot create directory %s: %s", path, strerror(errno));
        *p = '/';
    }
    if (!is_dir(path) && mkdir(path, 0777) != 0 && errno != EEXIST)
        return sc_error_set(SC_ERR_IO, "cannot create directory %s: %s", path, strerror(errno));
    if (!is_dir(path))
        return sc_error_set(SC_ERR_IO, "%s exists and is not a directory", path);
    return SC_OK;
}

double sc__now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void sc__json_add_metrics(cJSON *o, const char *prefix, const sc_group_metrics *m)
{
    char k[64];
#define NUM(key, v)                                                            \
    snprintf(k, sizeof k, "%s_%s", prefix, key);                               \
    cJSON_AddNumberToObject(o, k, isfinite(v) ? (v) : -1)
    NUM("acc", m->accuracy);
    NUM("wga", m->worst_group);
    NUM("mean_group", m->mean_group);
    NUM("weighted", m->weighted);
    NUM("loss", m->loss);
#undef NUM
}

sc_status sc__append_jsonl(const char *dir, cJSON *o, bool truncate)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    char *s = cJSON_PrintUnformatted(o);
    FILE *f = fopen(path, truncate ? "w" : "a");
    if (!f || !s) {
        cJSON_free(s);
        if (f)
            fclose(f);
        return sc_error_set(SC_ERR_IO, "cannot append to %s: %s", path, strerror(errno));
    }
    int bad = fprintf(f, "%s\n", s) < 0;
    bad |= fclose(f) != 0;
    cJSON_free(s);
    return bad ? sc_error_set(SC_ERR_IO, "writing %s failed", path) : SC_OK;
}

