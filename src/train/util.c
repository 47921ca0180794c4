#include "train/train_internal.h"

#include <cjson/cJSON.h>
#include <math.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

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

