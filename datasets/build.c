/* Building a variant: load the source, choose the splits, assign the
 * attributes, render every sample (in parallel, each from its own random
 * stream), and record the build parameters. */
#include "ds_internal.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sc_build_opts_default(sc_build_opts *o)
{
    memset(o, 0, sizeof *o);
    o->source.kind = SC_SOURCE_FASHION_MNIST;
    o->variant = SC_VARIANT_NONE;
    o->rho = 0.95;
    o->severity = 4;
    o->seed = 0;
    o->val_fraction = 0.1;
    o->patch_size = 4;
    o->patch_layout = SC_PATCH_BORDER;
    o->patch_intensity = 1.0;
    o->color_mode = SC_COLOR_FOREGROUND;
    o->color_sigma = -1;
    o->color_patch = 0;
    o->corruptions = SC_CORRUPTIONS_TYPE1;
    o->canvas = 0;
    o->source.mem_limit = SC_DATA_DEFAULT_MEM_LIMIT;
}

sc_status sc_build_opts_check(const sc_build_opts *o)
{
    if (!(o->rho >= 0.0 && o->rho <= 1.0))
        return sc_error_set(SC_ERR_INVALID_ARG, "--rho must be in [0, 1], got %g", o->rho);
    if (o->severity < 1 || o->severity > 5)
        return sc_error_set(SC_ERR_INVALID_ARG, "--severity must be in 1..5, got %d",
                            o->severity);
    if (!(o->val_fraction >= 0.0 && o->val_fraction < 1.0))
        return sc_error_set(SC_ERR_INVALID_ARG, "--val-fraction must be in [0, 1), got %g",
                            o->val_fraction);
    if ((unsigned)o->variant > SC_VARIANT_SPUCO)
        return sc_error_set(SC_ERR_INVALID_ARG, "unknown variant %d", (int)o->variant);
    if ((unsigned)o->spuco_difficulty > SC_SPUCO_VARIANCE_HIGH)
        return sc_error_set(SC_ERR_INVALID_ARG, "unknown spuco difficulty %d",
                            (int)o->spuco_difficulty);
    if (o->patch_size < 1 || o->patch_size > 64)
        return sc_error_set(SC_ERR_INVALID_ARG, "--patch-size must be in 1..64, got %d",
                            o->patch_size);
    if (!(o->patch_intensity > 0.0 && o->patch_intensity <= 1.0))
        return sc_error_set(SC_ERR_INVALID_ARG, "--patch-intensity must be in (0, 1], got %g",
                            o->patch_intensity);
    if (!(o->color_sigma < 0.0 || o->color_sigma <= 1.0))
        return sc_error_set(SC_ERR_INVALID_ARG, "--color-sigma must be in [0, 1], got %g",
                            o->color_sigma);
    if (o->color_patch < 0 || o->color_patch > 64)
        return sc_error_set(SC_ERR_INVALID_ARG, "--color-patch must be in 0..64, got %d",
                            o->color_patch);
    if (o->canvas != 0 && (o->canvas < 8 || o->canvas > 1024))
        return sc_error_set(SC_ERR_INVALID_ARG, "--canvas must be in 8..1024, got %d",
                            o->canvas);
    if (o->threads < 0 || o->threads > 1024)
        return sc_error_set(SC_ERR_INVALID_ARG, "--threads must be in 0..1024, got %d",
                            o->threads);
    if (o->source.max_train < 0 || o->source.max_test < 0)
        return sc_error_set(SC_ERR_INVALID_ARG, "sample limits must be >= 0");
    return SC_OK;
}

/* Parses "0,2,4,6:5,7,9" into map[label] = set index (-1: dropped) and
 * returns the number of sets in *nsets; two sets exactly when `two`. */
static sc_status parse_class_split(const char *s, int num_classes, bool two, int *map,
                                   int *nsets)
{
    for (int i = 0; i < num_classes; i++)
        map[i] = -1;
    int side = 0, in_set = 0;
    const char *p = s;
    const char *want = two ? "two non-empty sets separated by ':' (e.g. 0,2,4,6:5,7,9)"
                           : "two or more non-empty sets separated by ':' (e.g. 0,1:2,3:4,5)";
    while (*p) {
        if (*p == ':') {
            if (!in_set || (two && side == 1))
                return sc_error_set(SC_ERR_INVALID_ARG, "--classes '%s': expected %s", s, want);
            side++;
            in_set = 0;
            p++;
            continue;
        }
        if (*p == ',' || *p == ' ') {
            p++;
            continue;
        }
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p)
            return sc_error_set(SC_ERR_INVALID_ARG,
                                "--classes '%s': expected class numbers like 0,2,4:5,7,9", s);
        if (v < 0 || v >= num_classes)
            return sc_error_set(SC_ERR_INVALID_ARG,
                                "--classes '%s': class %ld outside 0..%d", s, v,
                                num_classes - 1);
        if (map[v] != -1)
            return sc_error_set(SC_ERR_INVALID_ARG, "--classes '%s': class %ld listed twice", s,
                                v);
        map[v] = side;
        in_set = 1;
        p = end;
    }
    if (side < 1 || !in_set)
        return sc_error_set(SC_ERR_INVALID_ARG, "--classes '%s': expected %s", s, want);
    *nsets = side + 1;
    return SC_OK;
}

/* The spuco variant's default super-classes: consecutive pairs. */
static char *pairs_split(int num_classes)
{
    if (num_classes < 4)
        return NULL;
    size_t cap = (size_t)num_classes * 24 + 1;
    char *s = calloc(cap, 1);
    for (int i = 0; s && i + 1 < num_classes; i += 2) {
        size_t l = strlen(s);
        snprintf(s + l, cap - l, "%s%d,%d", i ? ":" : "", i, i + 1);
    }
    return s;
}

static const char *default_class_split(sc_source_kind kind, int num_classes)
{
    switch (kind) {
    case SC_SOURCE_FASHION_MNIST: return "0,2,4,6:5,7,9"; /* tops vs. footwear */
    case SC_SOURCE_MNIST: return "0,1,2,3,4:5,6,7,8,9";
    case SC_SOURCE_CIFAR10: return "0,1,8,9:2,3,4,5,6,7"; /* vehicles vs. animals */
    case SC_SOURCE_PNGDIR: return num_classes == 2 ? "0:1" : NULL;
    }
    return NULL;
}

typedef struct render_job {
    const sc_render_ctx *rc;
    const sc_dataset *src;
    const int64_t *src_index;
    sc_dataset *out;
    uint64_t seed;
} render_job;

static sc_status render_range(void *vctx, int64_t begin, int64_t end)
{
    render_job *j = vctx;
    size_t in_bytes = (size_t)j->src->c * j->src->h * j->src->w;
    size_t out_bytes = (size_t)j->out->c * j->out->h * j->out->w;
    for (int64_t i = begin; i < end; i++) {
        sc_rng rng;
        sc_ds_stream(&rng, j->seed, SC_STREAM_RENDER, (uint64_t)i);
        const uint8_t *in = j->src->images + (size_t)j->src_index[i] * in_bytes;
        sc_status st = sc_render_sample(j->rc, in, j->out->images + (size_t)i * out_bytes,
                                        j->out->labels[i], j->out->attrs[i], j->out->split[i],
                                        &rng);
        if (st != SC_OK)
            return st;
    }
    return SC_OK;
}

static void add_u64(cJSON *o, const char *k, uint64_t v)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%" PRIu64, v);
    cJSON_AddRawToObject(o, k, buf);
}

static char *basename_of(const char *p)
{
    const char *s = strrchr(p, '/');
    return strdup(s ? s + 1 : p);
}

static char *make_build_json(const sc_build_opts *o, const sc_dataset *src, int64_t ntr_src,
                             int64_t nte_src, const char *class_split, int canvas)
{
    cJSON *j = cJSON_CreateObject();
    if (!j)
        return NULL;
    cJSON_AddStringToObject(j, "source", sc_source_name(o->source.kind));
    add_u64(j, "source_train", (uint64_t)ntr_src);
    add_u64(j, "source_test", (uint64_t)nte_src);
    if (o->source.kind == SC_SOURCE_PNGDIR) {
        char *b = basename_of(o->source.csv ? o->source.csv : "metadata.csv");
        if (b)
            cJSON_AddStringToObject(j, "csv", b);
        free(b);
        cJSON_AddNumberToObject(j, "channels", src->c);
        cJSON_AddNumberToObject(j, "resize", o->source.resize);
    }
    add_u64(j, "max_train", (uint64_t)o->source.max_train);
    add_u64(j, "max_test", (uint64_t)o->source.max_test);
    cJSON_AddStringToObject(j, "variant", sc_variant_name(o->variant));
    cJSON_AddNumberToObject(j, "rho", o->rho);
    cJSON_AddNumberToObject(j, "severity", o->severity);
    add_u64(j, "seed", o->seed);
    cJSON_AddNumberToObject(j, "val_fraction", o->val_fraction);
    cJSON_AddBoolToObject(j, "val_biased", o->val_biased);
    cJSON_AddBoolToObject(j, "test_clean", o->test_clean);
    switch (o->variant) {
    case SC_VARIANT_PATCH:
        cJSON_AddNumberToObject(j, "patch_size", o->patch_size);
        cJSON_AddStringToObject(j, "patch_layout",
                                o->patch_layout == SC_PATCH_BORDER ? "border" : "pattern");
        cJSON_AddNumberToObject(j, "patch_intensity", o->patch_intensity);
        break;
    case SC_VARIANT_COLOR: {
        static const double sig[5] = {0.05, 0.02, 0.01, 0.005, 0.002};
        cJSON_AddStringToObject(j, "color_mode", o->color_mode == SC_COLOR_FOREGROUND
                                                     ? "foreground" : "background");
        cJSON_AddNumberToObject(j, "color_sigma",
                                o->color_sigma >= 0 ? o->color_sigma : sig[o->severity - 1]);
        cJSON_AddNumberToObject(j, "color_patch", o->color_patch);
        break;
    }
    case SC_VARIANT_CORRUPT:
        cJSON_AddStringToObject(j, "corruptions",
                                o->corruptions == SC_CORRUPTIONS_TYPE0 ? "type0" : "type1");
        break;
    case SC_VARIANT_BACKGROUND:
        cJSON_AddStringToObject(j, "class_split", class_split);
        cJSON_AddNumberToObject(j, "canvas", canvas);
        break;
    case SC_VARIANT_SPUCO:
        cJSON_AddStringToObject(j, "class_split", class_split);
        cJSON_AddStringToObject(j, "spuco_difficulty",
                                sc_spuco_difficulty_name(o->spuco_difficulty));
        break;
    default:
        break;
    }
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return s;
}

/* The build proper, charging `b` (which holds the source already). */
static sc_status build_from(const sc_dataset *src, const sc_build_opts *o, sc_ds_budget *b,
                            sc_dataset **out)
{
    *out = NULL;
    sc_status st = SC_OK;
    int64_t n = src->n;
    int K = src->num_classes;
    char sz[32];
    /* labels, roles, attributes, the output order and split.c's index
     * tables, per source sample */
    uint64_t tables = 40 * (uint64_t)(n > 0 ? n : 1) + 8 * (uint64_t)K;
    if ((st = sc_ds_budget_charge(b, tables, "the per-sample tables of %" PRId64 " samples (%s)",
                                  n, sc_ds_size_text(tables, sz))) != SC_OK)
        return st;
    int *map = malloc(sizeof(int) * (size_t)K);
    int32_t *labels = malloc(sizeof(int32_t) * (size_t)(n ? n : 1));
    int32_t *role = malloc(sizeof(int32_t) * (size_t)(n ? n : 1));
    int32_t *attrs = calloc((size_t)(n ? n : 1), sizeof(int32_t));
    int64_t *src_index = malloc(sizeof(int64_t) * (size_t)(n ? n : 1));
    sc_dataset *d = NULL;
    char *class_split = NULL;
    if (!map || !labels || !role || !attrs || !src_index) {
        st = sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of memory");
        goto done;
    }
    /* Classes. */
    int out_classes = K;
    for (int i = 0; i < K; i++)
        map[i] = i;
    int canvas = 0;
    if (o->variant == SC_VARIANT_BACKGROUND) {
        const char *cs = o->class_split ? o->class_split : default_class_split(o->source.kind, K);
        if (!cs) {
            st = sc_error_set(SC_ERR_INVALID_ARG,
                              "background: the source has %d classes; pass --classes "
                              "A:B (e.g. 0,1:2,3) to split them into two", K);
            goto done;
        }
        class_split = strdup(cs);
        if ((st = parse_class_split(cs, K, true, map, &out_classes)) != SC_OK)
            goto done;
        int side = src->h > src->w ? src->h : src->w;
        canvas = o->canvas ? o->canvas : (side + 4 > 32 ? (side + 4 + 3) / 4 * 4 : 32);
        if (canvas < side) {
            st = sc_error_set(SC_ERR_INVALID_ARG,
                              "--canvas %d is smaller than the source images (%dx%d)", canvas,
                              src->h, src->w);
            goto done;
        }
    }
    if (o->variant == SC_VARIANT_SPUCO) {
        class_split = o->class_split ? strdup(o->class_split) : pairs_split(K);
        if (!class_split) {
            st = sc_error_set(SC_ERR_INVALID_ARG,
                              "spuco: the source has %d classes; pass --classes A:B[:C...] "
                              "(e.g. 0,1:2,3) to group them into super-classes", K);
            goto done;
        }
        if ((st = parse_class_split(class_split, K, false, map, &out_classes)) != SC_OK)
            goto done;
    }
    if (o->variant == SC_VARIANT_PATCH && (o->patch_size > src->h || o->patch_size > src->w)) {
        st = sc_error_set(SC_ERR_INVALID_ARG, "--patch-size %d is larger than the images (%dx%d)",
                          o->patch_size, src->h, src->w);
        goto done;
    }
    int A;
    switch (o->variant) {
    case SC_VARIANT_NONE: A = src->num_attrs; break;
    case SC_VARIANT_BACKGROUND: A = 2; break;
    default: A = out_classes; break;
    }
    /* Splits. */
    int has_val = 0;
    int64_t ntr_src = 0, nte_src = 0;
    for (int64_t i = 0; i < n; i++) {
        labels[i] = map[src->labels[i]];
        role[i] = labels[i] < 0 ? -1 : src->split[i];
        has_val |= src->split[i] == SC_SPLIT_VAL;
        ntr_src += src->split[i] != SC_SPLIT_TEST;
        nte_src += src->split[i] == SC_SPLIT_TEST;
    }
    if (!has_val && (st = sc_ds_carve_val(labels, role, n, out_classes, o->val_fraction,
                                          o->seed)) != SC_OK)
        goto done;
    if (o->variant == SC_VARIANT_NONE) {
        memcpy(attrs, src->attrs, sizeof(int32_t) * (size_t)n);
    } else if ((st = sc_ds_assign_attrs(labels, role, n, out_classes, A, o->rho, o->val_biased,
                                        o->seed, attrs)) != SC_OK) {
        goto done;
    }
    /* Output order: train, val, test, each in source order. */
    int64_t m = 0;
    for (int s = 0; s < SC_SPLIT_COUNT; s++)
        for (int64_t i = 0; i < n; i++)
            if (role[i] == s)
                src_index[m++] = i;
    int oc = src->c, oh = src->h, ow = src->w;
    if (o->variant == SC_VARIANT_COLOR || o->variant == SC_VARIANT_SPUCO)
        oc = 3;
    if (o->variant == SC_VARIANT_BACKGROUND) {
        oc = 3;
        oh = ow = canvas;
    }
    char what[64];
    snprintf(what, sizeof what, "the output (variant %s)", sc_variant_name(o->variant));
    if ((st = sc_ds_create_charged(b, what, m, oc, oh, ow, out_classes, A, &d)) != SC_OK)
        goto done;
    for (int64_t i = 0; i < m; i++) {
        int64_t k = src_index[i];
        d->labels[i] = labels[k];
        d->attrs[i] = attrs[k];
        d->split[i] = role[k];
    }
    if ((st = sc_dataset_update_groups(d)) != SC_OK)
        goto done;
    sc_render_ctx rc = {o, src->c, src->h, src->w, oc, oh, ow, A};
    render_job job = {&rc, src, src_index, d, o->seed};
    /* Each worker's scratch: as many workers as the budget holds (the
     * output does not depend on their number); one must fit. */
    int threads = sc_ds_thread_count(m, o->threads);
    uint64_t scratch = sc_render_scratch_bytes(&rc);
    if (scratch) {
        uint64_t fit = sc_ds_budget_left(b) / scratch;
        if (fit < (uint64_t)threads)
            threads = fit > 0 ? (int)fit : 1;
        if ((st = sc_ds_budget_charge(b, scratch * (uint64_t)threads,
                                      "the %s variant's scratch for %d thread%s on %dx%dx%d "
                                      "images (%s)", sc_variant_name(o->variant), threads,
                                      threads > 1 ? "s" : "", oc, oh, ow,
                                      sc_ds_size_text(scratch * (uint64_t)threads, sz))) != SC_OK)
            goto done;
    }
    st = sc_ds_parallel_for(m, threads, render_range, &job);
    sc_ds_budget_release(b, scratch * (uint64_t)threads);
    if (st != SC_OK)
        goto done;
    /* Names. */
    for (int y = 0; y < out_classes; y++) {
        if (o->variant != SC_VARIANT_BACKGROUND && o->variant != SC_VARIANT_SPUCO) {
            const char *nm = src->class_names ? src->class_names[y] : NULL;
            d->class_names[y] = nm ? strdup(nm) : sc_strprintf("%d", y);
            continue;
        }
        size_t len = 1;
        for (int i = 0; i < K; i++)
            if (map[i] == y)
                len += strlen(src->class_names && src->class_names[i] ? src->class_names[i]
                                                                      : "") + 16;
        char *nm = calloc(len, 1);
        if (nm)
            for (int i = 0; i < K; i++) {
                if (map[i] != y)
                    continue;
                size_t l = strlen(nm);
                if (src->class_names && src->class_names[i])
                    snprintf(nm + l, len - l, "%s%s", l ? "+" : "", src->class_names[i]);
                else
                    snprintf(nm + l, len - l, "%s%d", l ? "+" : "", i);
            }
        d->class_names[y] = nm;
    }
    for (int a = 0; a < A; a++) {
        char *nm = NULL;
        switch (o->variant) {
        case SC_VARIANT_NONE:
            nm = src->attr_names && src->attr_names[a] ? strdup(src->attr_names[a])
                                                       : sc_strprintf(A == 1 ? "none" : "attr %d", a);
            break;
        case SC_VARIANT_PATCH: nm = sc_strprintf("mark %d", a); break;
        case SC_VARIANT_COLOR:
        case SC_VARIANT_SPUCO: {
            float rgb[3];
            sc_attr_color(a, A, rgb);
            nm = sc_strprintf("#%02x%02x%02x", (int)lrintf(rgb[0] * 255),
                              (int)lrintf(rgb[1] * 255), (int)lrintf(rgb[2] * 255));
            break;
        }
        case SC_VARIANT_CORRUPT: {
            const sc_corruption *items;
            int len = sc_corruption_list_items(o->corruptions, &items);
            nm = strdup(sc_corruption_name(items[a % len]));
            break;
        }
        case SC_VARIANT_BACKGROUND: nm = strdup(a == 0 ? "smooth" : "stripes"); break;
        }
        d->attr_names[a] = nm;
    }
    d->build_json = make_build_json(o, d, ntr_src, nte_src, class_split, canvas);
    if (!d->build_json)
        st = sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of memory");
done:
    free(map);
    free(labels);
    free(role);
    free(attrs);
    free(src_index);
    free(class_split);
    return sc_ds_hand_over(st, d, out);
}

sc_status sc_dataset_build_from(const sc_dataset *src, const sc_build_opts *o, sc_dataset **out)
{
    *out = NULL;
    sc_status st = sc_build_opts_check(o);
    if (st != SC_OK)
        return st;
    /* The source is held throughout: it is the first charge. */
    sc_ds_budget b;
    sc_ds_budget_init(&b, o->source.mem_limit);
    uint64_t held = sc_ds_footprint(src->n, src->c, src->h, src->w, src->num_classes,
                                    src->num_attrs);
    char sz[32];
    st = sc_ds_budget_charge(&b, held, "the loaded source (%" PRId64 " images %dx%dx%d, %s)",
                             src->n, src->c, src->h, src->w, sc_ds_size_text(held, sz));
    if (st == SC_OK)
        st = build_from(src, o, &b, out);
    sc_ds_budget_destroy(&b);
    return st;
}

sc_status sc_dataset_build(const sc_build_opts *o, sc_dataset **out)
{
    *out = NULL;
    sc_status st = sc_build_opts_check(o);
    if (st != SC_OK)
        return st;
    sc_dataset *src = NULL;
    if ((st = sc_source_load(&o->source, &src)) != SC_OK)
        return st;
    st = sc_dataset_build_from(src, o, out);
    sc_dataset_free(src);
    return st;
}
