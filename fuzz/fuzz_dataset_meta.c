/* libFuzzer target: a data set file's metadata and the per-sample values it
 * is checked against, through the real loader (sc_dataset_load).
 *
 * The input describes a small data set file that this target writes as
 * valid safetensors, so that the mutations go into what the loader
 * validates rather than into the container (fuzz_safetensors covers that):
 *
 *   byte 0   flags: 1 "build" metadata present, 2 "format" present,
 *            4 the format is a wrong one, 8 a fifth I32 tensor is appended
 *   byte 1   samples n = byte % 9
 *   byte 2-4 images c, h, w = byte % 6, % 9, % 9 (0 and 5 are invalid)
 *   then     n x 16 bytes: label, attr, group, split (int32 little-endian)
 *   rest     the "build" metadata, a JSON text up to the first NUL
 *            (num_classes, num_attrs, class_names, attr_names, variant, ...)
 *
 * On a data set the loader accepts, the target checks what the library
 * relies on afterwards (counts within the group limit, every value in
 * range, the group tables), reads the patch parameters, saves it and loads
 * it back: the second load must give the same counts, values and names. */
#include "fuzz_util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ds_internal.h"
#include "spurcl/data.h"
#include "spurcl/io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char save_dir[64], save_path[128]; /* sc_dataset_save's output */

static void remove_save_dir(void)
{
    unlink(save_path);
    rmdir(save_dir);
}

static int same_name(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* What the library relies on in a data set it has accepted. */
static void check_dataset(const sc_dataset *d)
{
    if (d->num_classes < 1 || d->num_attrs < 1 || d->n < 0 ||
        (int64_t)d->num_classes * d->num_attrs > SC_DS_MAX_GROUPS)
        FZ_FAIL("a data set was accepted with counts out of range");
    int64_t G = (int64_t)d->num_classes * d->num_attrs;
    for (int64_t i = 0; i < d->n; i++)
        if (d->labels[i] < 0 || d->labels[i] >= d->num_classes || d->attrs[i] < 0 ||
            d->attrs[i] >= d->num_attrs || d->groups[i] != d->labels[i] * d->num_attrs + d->attrs[i] ||
            d->split[i] < 0 || d->split[i] >= SC_SPLIT_COUNT)
            FZ_FAIL("an accepted sample has a value out of range");
    volatile size_t sink = 0;
    for (int i = 0; i < d->num_classes; i++)
        sink += d->class_names[i] ? strlen(d->class_names[i]) : 0;
    for (int i = 0; i < d->num_attrs; i++)
        sink += d->attr_names[i] ? strlen(d->attr_names[i]) : 0;
    int64_t *counts = calloc((size_t)(SC_SPLIT_COUNT * G), sizeof *counts);
    if (!counts)
        abort();
    sc_dataset_group_counts(d, counts);
    int64_t total = 0;
    for (int64_t i = 0; i < SC_SPLIT_COUNT * G; i++)
        total += counts[i];
    if (total != d->n)
        FZ_FAIL("group counts do not add up to the samples");
    free(counts);
    for (int s = 0; s < SC_SPLIT_COUNT; s++) {
        int64_t *idx = NULL, k = 0;
        if (sc_dataset_split_indices(d, (sc_split)s, &idx, &k) == SC_OK)
            for (int64_t i = 0; i < k; i++)
                if (idx[i] < 0 || idx[i] >= d->n || d->split[idx[i]] != s)
                    FZ_FAIL("a split's indices are wrong");
        free(idx);
    }
    sc_patch_layout layout;
    int psize = 0;
    (void)sc_dataset_patch_params(d, &layout, &psize);
    (void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!save_dir[0]) {
        snprintf(save_dir, sizeof save_dir, "/tmp/fuzz_dataset_meta.XXXXXX");
        if (!mkdtemp(save_dir))
            abort();
        snprintf(save_path, sizeof save_path, "%s/saved.safetensors", save_dir);
        atexit(remove_save_dir);
    }
    if (size < 5)
        return 0;
    uint8_t flags = data[0];
    int64_t n = data[1] % 9;
    int c = data[2] % 6, h = data[3] % 9, w = data[4] % 9;
    data += 5;
    size -= 5;
    int32_t tab[4][8] = {{0}};
    for (int64_t i = 0; i < n; i++)
        for (int k = 0; k < 4; k++) {
            uint32_t v = 0;
            for (int b = 0; b < 4; b++) {
                size_t at = (size_t)i * 16 + (size_t)k * 4 + (size_t)b;
                v |= (uint32_t)(at < size ? data[at] : 0) << (8 * b);
            }
            memcpy(&tab[k][i], &v, sizeof v);
        }
    size_t used = (size_t)n * 16 < size ? (size_t)n * 16 : size;
    data += used;
    size -= used;
    size_t jl = strnlen((const char *)data, size);
    char *build = malloc(jl + 1);
    if (!build)
        abort();
    memcpy(build, data, jl);
    build[jl] = '\0';

    uint8_t images[8 * 5 * 8 * 8];
    for (size_t i = 0; i < sizeof images; i++)
        images[i] = (uint8_t)(i * 37);
    static const char *const names[5] = {"images", "labels", "attrs", "groups", "split"};
    sc_st_tensor t[6];
    memset(t, 0, sizeof t);
    for (int i = 0; i < 5; i++) {
        t[i].name = names[i];
        t[i].dtype = i == 0 ? SC_ST_U8 : SC_ST_I32;
        t[i].ndim = i == 0 ? 4 : 1;
        t[i].shape[0] = n;
        t[i].data = i == 0 ? (const void *)images : (const void *)tab[i - 1];
    }
    t[0].shape[1] = c;
    t[0].shape[2] = h;
    t[0].shape[3] = w;
    int nt = 5;
    if (flags & 8) {
        t[5] = t[1];
        t[5].name = "extra";
        nt = 6;
    }
    const char *meta[4];
    int nmeta = 0;
    if (flags & 2) {
        meta[2 * nmeta] = "format";
        meta[2 * nmeta + 1] = (flags & 4) ? "spurcl-dataset/0" : SC_DATASET_FORMAT;
        nmeta++;
    }
    if (flags & 1) {
        meta[2 * nmeta] = "build";
        meta[2 * nmeta + 1] = build;
        nmeta++;
    }
    size_t fsize;
    uint8_t *file = fz_safetensors(t, nt, meta, nmeta, &fsize);
    fz_memfile_set(file, fsize);
    free(file);
    free(build);

    sc_dataset *d = NULL;
    if (sc_dataset_load(fz_memfile_path(), &d) != SC_OK) {
        FZ_REFUSED("sc_dataset_load");
        if (d)
            FZ_FAIL("a failed load handed a data set over");
        return 0;
    }
    check_dataset(d);

    /* saved and loaded again, the data set is the same */
    if (sc_dataset_save(d, save_path) != SC_OK)
        FZ_FAIL("an accepted data set cannot be saved");
    sc_dataset *e = NULL;
    if (sc_dataset_load(save_path, &e) != SC_OK)
        FZ_FAIL("a saved data set does not load again");
    check_dataset(e);
    if (e->n != d->n || e->num_classes != d->num_classes || e->num_attrs != d->num_attrs ||
        e->c != d->c || e->h != d->h || e->w != d->w ||
        memcmp(e->labels, d->labels, (size_t)d->n * 4) != 0 ||
        memcmp(e->attrs, d->attrs, (size_t)d->n * 4) != 0 ||
        memcmp(e->split, d->split, (size_t)d->n * 4) != 0 ||
        memcmp(e->images, d->images, (size_t)d->n * d->c * d->h * d->w) != 0)
        FZ_FAIL("a reloaded data set differs");
    for (int i = 0; i < d->num_classes; i++)
        if (d->class_names[i] && !same_name(d->class_names[i], e->class_names[i]))
            FZ_FAIL("a class name changed on save and reload");
    for (int i = 0; i < d->num_attrs; i++)
        if (d->attr_names[i] && !same_name(d->attr_names[i], e->attr_names[i]))
            FZ_FAIL("an attribute name changed on save and reload");
    sc_dataset_free(e);
    sc_dataset_free(d);
    unlink(save_path);
    return 0;
}
