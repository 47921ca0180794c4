/* The in-memory data set: creation, group bookkeeping, and the
 * safetensors file format (save/load with validation). */
#include "ds_internal.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "spurcl/io.h"

sc_status sc_dataset_create(int64_t n, int c, int h, int w, int num_classes, int num_attrs,
                            sc_dataset **out)
{
    *out = NULL;
    if (n < 0 || n > SC_DS_MAX_SAMPLES || c < 1 || c > 4 || h < 1 || w < 1 || h > 65536 ||
        w > 65536 || num_classes < 1 || num_attrs < 1 || num_classes > SC_DS_MAX_VALUES ||
        num_attrs > SC_DS_MAX_VALUES || (int64_t)num_classes * num_attrs > SC_DS_MAX_GROUPS)
        return sc_error_set(SC_ERR_INVALID_ARG,
                            "invalid data set shape: %" PRId64 " x %d x %d x %d, %d classes, "
                            "%d attribute values", n, c, h, w, num_classes, num_attrs);
    uint64_t bytes = (uint64_t)n * c * h * w;
    if (bytes > ((uint64_t)1 << 40))
        return sc_error_set(SC_ERR_INVALID_ARG, "data set of %" PRIu64 " bytes is too large",
                            bytes);
    sc_dataset *d = calloc(1, sizeof *d);
    if (!d)
        return sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of memory");
    d->n = n;
    d->c = c;
    d->h = h;
    d->w = w;
    d->num_classes = num_classes;
    d->num_attrs = num_attrs;
    size_t nn = n ? (size_t)n : 1;
    d->images = calloc(bytes ? (size_t)bytes : 1, 1);
    d->labels = calloc(nn, sizeof(int32_t));
    d->attrs = calloc(nn, sizeof(int32_t));
    d->groups = calloc(nn, sizeof(int32_t));
    d->split = calloc(nn, sizeof(int32_t));
    d->class_names = calloc((size_t)num_classes, sizeof(char *));
    d->attr_names = calloc((size_t)num_attrs, sizeof(char *));
    if (!d->images || !d->labels || !d->attrs || !d->groups || !d->split || !d->class_names ||
        !d->attr_names) {
        sc_dataset_free(d);
        return sc_error_set(SC_ERR_OUT_OF_MEMORY,
                            "out of memory allocating a data set of %" PRIu64 " image bytes",
                            bytes);
    }
    *out = d;
    return SC_OK;
}

void sc_dataset_free(sc_dataset *d)
{
    if (!d)
        return;
    if (d->class_names)
        for (int i = 0; i < d->num_classes; i++)
            free(d->class_names[i]);
    if (d->attr_names)
        for (int i = 0; i < d->num_attrs; i++)
            free(d->attr_names[i]);
    free(d->class_names);
    free(d->attr_names);
    free(d->images);
    free(d->labels);
    free(d->attrs);
    free(d->groups);
    free(d->split);
    free(d->build_json);
    free(d);
}

sc_status sc_dataset_update_groups(sc_dataset *d)
{
    for (int64_t i = 0; i < d->n; i++) {
        if (d->labels[i] < 0 || d->labels[i] >= d->num_classes)
            return sc_error_set(SC_ERR_FORMAT, "sample %" PRId64 ": label %d outside [0, %d)", i,
                                d->labels[i], d->num_classes);
        if (d->attrs[i] < 0 || d->attrs[i] >= d->num_attrs)
            return sc_error_set(SC_ERR_FORMAT, "sample %" PRId64 ": attr %d outside [0, %d)", i,
                                d->attrs[i], d->num_attrs);
        if (d->split[i] < 0 || d->split[i] >= SC_SPLIT_COUNT)
            return sc_error_set(SC_ERR_FORMAT, "sample %" PRId64 ": split code %d outside 0..2",
                                i, d->split[i]);
        d->groups[i] = d->labels[i] * d->num_attrs + d->attrs[i];
    }
    return SC_OK;
}

void sc_dataset_group_counts(const sc_dataset *d, int64_t *counts)
{
    int64_t G = (int64_t)d->num_classes * d->num_attrs;
    memset(counts, 0, sizeof(int64_t) * SC_SPLIT_COUNT * (size_t)G);
    for (int64_t i = 0; i < d->n; i++) {
        int s = d->split[i];
        int g = d->groups[i];
        if (s >= 0 && s < SC_SPLIT_COUNT && g >= 0 && g < G)
            counts[s * G + g]++;
    }
}

sc_status sc_dataset_split_indices(const sc_dataset *d, sc_split split, int64_t **indices,
                                   int64_t *count)
{
    int64_t n = 0;
    for (int64_t i = 0; i < d->n; i++)
        n += d->split[i] == (int32_t)split;
    int64_t *idx = malloc((size_t)(n ? n : 1) * sizeof *idx);
    if (!idx)
        return sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of memory");
    int64_t k = 0;
    for (int64_t i = 0; i < d->n; i++)
        if (d->split[i] == (int32_t)split)
            idx[k++] = i;
    *indices = idx;
    *count = n;
    return SC_OK;
}

sc_status sc_dataset_channel_stats(const sc_dataset *d, sc_split split, float *mean, float *std)
{
    size_t hw = (size_t)d->h * d->w;
    for (int c = 0; c < d->c; c++) {
        uint64_t hist[256] = {0};
        for (int64_t i = 0; i < d->n; i++) {
            if (d->split[i] != (int32_t)split)
                continue;
            const uint8_t *p = d->images + ((size_t)i * d->c + c) * hw;
            for (size_t k = 0; k < hw; k++)
                hist[p[k]]++;
        }
        double cnt = 0, s = 0, s2 = 0;
        for (int v = 0; v < 256; v++) {
            double x = v / 255.0;
            cnt += (double)hist[v];
            s += (double)hist[v] * x;
            s2 += (double)hist[v] * x * x;
        }
        if (cnt == 0)
            return sc_error_set(SC_ERR_INVALID_ARG, "split %s is empty",
                                sc_split_name(split));
        double m = s / cnt, var = s2 / cnt - m * m;
        mean[c] = (float)m;
        std[c] = (float)sqrt(var > 0 ? var : 0);
    }
    return SC_OK;
}

sc_status sc_source_load(const sc_source_opts *o, sc_dataset **out)
{
    *out = NULL;
    if (o->max_train < 0 || o->max_test < 0)
        return sc_error_set(SC_ERR_INVALID_ARG, "sample limits must be >= 0");
    /* One budget for the whole load; the data set it returns is what stays
     * of it (sc_dataset_build_from charges that again to its own). */
    sc_ds_budget b;
    sc_ds_budget_init(&b, o->mem_limit);
    sc_status st;
    switch (o->kind) {
    case SC_SOURCE_FASHION_MNIST:
    case SC_SOURCE_MNIST:
        st = sc_ds_load_idx_source(o, &b, out);
        break;
    case SC_SOURCE_CIFAR10:
        st = sc_ds_load_cifar_source(o, &b, out);
        break;
    case SC_SOURCE_PNGDIR:
        st = sc_ds_load_pngdir_source(o, &b, out);
        break;
    default:
        st = sc_error_set(SC_ERR_INVALID_ARG, "unknown source kind %d", (int)o->kind);
        break;
    }
    sc_ds_budget_destroy(&b);
    return st;
}

/* ---- file format -------------------------------------------------------- */

static cJSON *names_array(char **names, int n, const char *fallback_fmt)
{
    cJSON *a = cJSON_CreateArray();
    if (!a)
        return NULL;
    for (int i = 0; i < n; i++) {
        char buf[32];
        const char *s = names && names[i] ? names[i] : NULL;
        if (!s) {
            snprintf(buf, sizeof buf, fallback_fmt, i);
            s = buf;
        }
        cJSON *x = cJSON_CreateString(s);
        if (!x) {
            cJSON_Delete(a);
            return NULL;
        }
        cJSON_AddItemToArray(a, x);
    }
    return a;
}

sc_status sc_dataset_save(const sc_dataset *d, const char *path)
{
    cJSON *build = d->build_json ? cJSON_Parse(d->build_json) : NULL;
    if (!build || !cJSON_IsObject(build)) {
        cJSON_Delete(build);
        build = cJSON_CreateObject();
    }
    if (!build)
        return sc_error_set(SC_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    /* every copy of a key: a file may repeat one, and the loader reads the
     * first (found by fuzz_dataset_meta: a repeated num_attrs came back) */
    static const char *const ours[4] = {"num_classes", "num_attrs", "class_names", "attr_names"};
    for (int i = 0; i < 4; i++)
        while (cJSON_GetObjectItemCaseSensitive(build, ours[i]))
            cJSON_DeleteItemFromObjectCaseSensitive(build, ours[i]);
    cJSON *cn = names_array(d->class_names, d->num_classes, "%d");
    cJSON *an = names_array(d->attr_names, d->num_attrs, "attr %d");
    char *json = NULL;
    if (cn && an && cJSON_AddNumberToObject(build, "num_classes", d->num_classes) &&
        cJSON_AddNumberToObject(build, "num_attrs", d->num_attrs)) {
        cJSON_AddItemToObject(build, "class_names", cn);
        cJSON_AddItemToObject(build, "attr_names", an);
        cn = an = NULL;
        json = cJSON_PrintUnformatted(build);
    }
    cJSON_Delete(cn);
    cJSON_Delete(an);
    cJSON_Delete(build);
    if (!json)
        return sc_error_set(SC_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    sc_st_tensor t[5];
    memset(t, 0, sizeof t);
    const char *names[5] = {"images", "labels", "attrs", "groups", "split"};
    const void *ptrs[5] = {d->images, d->labels, d->attrs, d->groups, d->split};
    for (int i = 0; i < 5; i++) {
        t[i].name = names[i];
        t[i].data = ptrs[i];
        t[i].dtype = i == 0 ? SC_ST_U8 : SC_ST_I32;
        t[i].ndim = i == 0 ? 4 : 1;
        t[i].shape[0] = d->n;
    }
    t[0].shape[1] = d->c;
    t[0].shape[2] = d->h;
    t[0].shape[3] = d->w;
    sc_st_meta meta[2] = {{"format", SC_DATASET_FORMAT}, {"build", json}};
    sc_status st = sc_safetensors_write(path, t, 5, meta, 2);
    free(json);
    return st;
}

/* A name from an array element (x NULL past the array's end). */
static char *json_name(const cJSON *x)
{
    if (cJSON_IsString(x) && x->valuestring)
        return strdup(x->valuestring);
    return NULL;
}

/* A class or attribute count from the file's metadata: a whole number, at
 * least one more than the largest value present and within what
 * sc_dataset_create accepts; an absent key keeps the count from the data.
 * 10.5 is refused, not truncated to 10 (issue #19). */
static sc_status meta_count(const cJSON *v, const char *key, int32_t largest, const char *path,
                            int *count)
{
    if (!v)
        return SC_OK;
    double x = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    if (!(x == floor(x))) /* not a number, or a fraction */
        return sc_error_set(SC_ERR_FORMAT, "%s: metadata %s is not a whole number", path, key);
    if (!(x > largest && x <= SC_DS_MAX_VALUES))
        return sc_error_set(SC_ERR_FORMAT, "%s: %s %g is inconsistent with the largest value %d "
                            "(at most %d are supported)", path, key, x, largest, SC_DS_MAX_VALUES);
    *count = (int)x;
    return SC_OK;
}

sc_status sc_dataset_load(const char *path, sc_dataset **out)
{
    *out = NULL;
    sc_safetensors *st = NULL;
    sc_status s = sc_safetensors_open(path, &st);
    if (s != SC_OK)
        return s;
    sc_dataset *d = NULL;
    cJSON *build = NULL;
    const char *fmt = sc_safetensors_meta(st, "format");
    if (fmt && strcmp(fmt, SC_DATASET_FORMAT) != 0) {
        s = sc_error_set(SC_ERR_FORMAT, "%s: unsupported data set format '%s' (expected %s)",
                         path, fmt, SC_DATASET_FORMAT);
        goto done;
    }
    const sc_st_tensor *ti, *tl, *ta, *tg, *ts;
    if ((s = sc_safetensors_get(st, "images", SC_ST_U8, 4, &ti)) != SC_OK ||
        (s = sc_safetensors_get(st, "labels", SC_ST_I32, 1, &tl)) != SC_OK ||
        (s = sc_safetensors_get(st, "attrs", SC_ST_I32, 1, &ta)) != SC_OK ||
        (s = sc_safetensors_get(st, "groups", SC_ST_I32, 1, &tg)) != SC_OK ||
        (s = sc_safetensors_get(st, "split", SC_ST_I32, 1, &ts)) != SC_OK) {
        sc_error_wrap(s, "not a spurcl data set");
        goto done;
    }
    int64_t n = ti->shape[0];
    if (tl->shape[0] != n || ta->shape[0] != n || tg->shape[0] != n || ts->shape[0] != n) {
        s = sc_error_set(SC_ERR_FORMAT, "%s: 'images' has %" PRId64 " samples but labels, attrs, "
                         "groups or split have a different length", path, n);
        goto done;
    }
    if (ti->shape[1] < 1 || ti->shape[1] > 4 || ti->shape[2] < 1 || ti->shape[3] < 1 ||
        ti->shape[2] > 65536 || ti->shape[3] > 65536) {
        s = sc_error_set(SC_ERR_FORMAT, "%s: unsupported image shape [%" PRId64 ", %" PRId64
                         ", %" PRId64 ", %" PRId64 "]", path, n, ti->shape[1], ti->shape[2],
                         ti->shape[3]);
        goto done;
    }
    const int32_t *lab = tl->data, *att = ta->data, *grp = tg->data, *spl = ts->data;
    int32_t maxl = 0, maxa = 0;
    for (int64_t i = 0; i < n; i++) {
        if (lab[i] < 0 || att[i] < 0) {
            s = sc_error_set(SC_ERR_FORMAT, "%s: sample %" PRId64 " has a negative label or attr",
                             path, i);
            goto done;
        }
        if (lab[i] >= SC_DS_MAX_VALUES || att[i] >= SC_DS_MAX_VALUES) {
            s = sc_error_set(SC_ERR_FORMAT, "%s: sample %" PRId64 " has label %d, attr %d: "
                             "at most %d values of each are supported", path, i, lab[i], att[i],
                             SC_DS_MAX_VALUES);
            goto done;
        }
        if (lab[i] > maxl)
            maxl = lab[i];
        if (att[i] > maxa)
            maxa = att[i];
    }
    const char *bj = sc_safetensors_meta(st, "build");
    int K = maxl + 1, A = maxa + 1;
    if (bj) {
        build = cJSON_Parse(bj);
        if (!build || !cJSON_IsObject(build)) {
            s = sc_error_set(SC_ERR_FORMAT, "%s: metadata 'build' is not a JSON object", path);
            goto done;
        }
        const cJSON *k = cJSON_GetObjectItemCaseSensitive(build, "num_classes");
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(build, "num_attrs");
        if ((s = meta_count(k, "num_classes", maxl, path, &K)) != SC_OK ||
            (s = meta_count(a, "num_attrs", maxa, path, &A)) != SC_OK)
            goto done;
    }
    s = sc_dataset_create(n, (int)ti->shape[1], (int)ti->shape[2], (int)ti->shape[3], K, A, &d);
    if (s != SC_OK) {
        sc_error_wrap(s, "%s", path);
        goto done;
    }
    memcpy(d->images, ti->data, (size_t)n * d->c * d->h * d->w);
    memcpy(d->labels, lab, (size_t)n * 4);
    memcpy(d->attrs, att, (size_t)n * 4);
    memcpy(d->split, spl, (size_t)n * 4);
    if ((s = sc_dataset_update_groups(d)) != SC_OK) {
        sc_error_wrap(s, "%s", path);
        goto done;
    }
    for (int64_t i = 0; i < n; i++)
        if (d->groups[i] != grp[i]) {
            s = sc_error_set(SC_ERR_FORMAT, "%s: sample %" PRId64 " has group %d but label %d and "
                             "attr %d give %d", path, i, grp[i], lab[i], att[i], d->groups[i]);
            goto done;
        }
    if (build) {
        const cJSON *cn = cJSON_GetObjectItemCaseSensitive(build, "class_names");
        const cJSON *an = cJSON_GetObjectItemCaseSensitive(build, "attr_names");
        /* walked once: cJSON_GetArrayItem(i) in the loop was quadratic, a
         * file of 10^5 names held the loader for seconds (fuzz_dataset_meta) */
        const cJSON *x = cJSON_IsArray(cn) ? cn->child : NULL;
        for (int i = 0; i < K; i++, x = x ? x->next : NULL)
            d->class_names[i] = json_name(x);
        x = cJSON_IsArray(an) ? an->child : NULL;
        for (int i = 0; i < A; i++, x = x ? x->next : NULL)
            d->attr_names[i] = json_name(x);
        d->build_json = strdup(bj);
    }
done:
    cJSON_Delete(build);
    sc_safetensors_close(st);
    return sc_ds_hand_over(s, d, out);
}

sc_status sc_dataset_patch_params(const sc_dataset *d, sc_patch_layout *layout, int *size)
{
    cJSON *o = d->build_json ? cJSON_Parse(d->build_json) : NULL;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "variant");
    const cJSON *ps = cJSON_GetObjectItemCaseSensitive(o, "patch_size");
    const cJSON *pl = cJSON_GetObjectItemCaseSensitive(o, "patch_layout");
    sc_status st = SC_OK;
    if (!cJSON_IsString(v) || strcmp(v->valuestring, "patch") != 0 || !cJSON_IsNumber(ps))
        st = sc_error_set(SC_ERR_INVALID_ARG, "the data set was not built with --variant patch");
    else {
        *size = ps->valueint;
        *layout = cJSON_IsString(pl) && strcmp(pl->valuestring, "pattern") == 0 ? SC_PATCH_PATTERN
                                                                              : SC_PATCH_BORDER;
    }
    cJSON_Delete(o);
    return st;
}
