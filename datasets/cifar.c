/* CIFAR-10 binary version: data_batch_1.bin ... data_batch_5.bin and
 * test_batch.bin, records of 1 label byte + 3072 pixel bytes (R, G, B planes
 * of 32x32), i.e. already C x H x W. */
#include "ds_internal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "spurcl/io.h"

#define CIFAR_PIXELS 3072
#define CIFAR_RECORD 3073

static const char *cifar_names[10] = {"airplane", "automobile", "bird",  "cat",  "deer",
                                      "dog",      "frog",       "horse", "ship", "truck"};

sc_status sc_cifar_parse(const uint8_t *bytes, size_t size, const char *name, int64_t *count,
                         uint8_t **images, int32_t **labels)
{
    *images = NULL;
    *labels = NULL;
    *count = 0;
    if (size == 0)
        return sc_error_set(SC_ERR_FORMAT, "%s: empty CIFAR-10 batch file", name);
    if (size % CIFAR_RECORD != 0)
        return sc_error_set(SC_ERR_FORMAT,
                            "%s: truncated CIFAR-10 record: file has %zu bytes, not a multiple "
                            "of the %d-byte record (last record has %zu bytes)", name, size,
                            CIFAR_RECORD, size % CIFAR_RECORD);
    size_t n = size / CIFAR_RECORD;
    uint8_t *im = malloc(n * CIFAR_PIXELS);
    int32_t *lb = malloc(n * sizeof *lb);
    if (!im || !lb) {
        free(im);
        free(lb);
        return sc_error_set(SC_ERR_OUT_OF_MEMORY, "%s: out of memory", name);
    }
    for (size_t i = 0; i < n; i++) {
        const uint8_t *r = bytes + i * CIFAR_RECORD;
        if (r[0] > 9) {
            free(im);
            free(lb);
            return sc_error_set(SC_ERR_FORMAT,
                                "%s: record %zu has label %d, outside 0..9 (not a CIFAR-10 "
                                "binary batch?)", name, i, r[0]);
        }
        lb[i] = r[0];
        memcpy(im + i * CIFAR_PIXELS, r + 1, CIFAR_PIXELS);
    }
    *images = im;
    *labels = lb;
    *count = (int64_t)n;
    return SC_OK;
}

static int dir_has(const char *dir, const char *file)
{
    char *p = sc_strprintf("%s/%s", dir, file);
    struct stat sb;
    int ok = p && stat(p, &sb) == 0;
    free(p);
    return ok;
}

sc_status sc_ds_load_cifar_source(const sc_source_opts *o, sc_ds_budget *b, sc_dataset **out)
{
    *out = NULL;
    if (!o->dir)
        return sc_error_set(SC_ERR_INVALID_ARG,
                            "cifar10: no directory given: pass --source-dir DIR holding the "
                            "binary version (data_batch_1.bin ... test_batch.bin)");
    /* The archive unpacks into cifar-10-batches-bin/; accept either level. */
    char *dir = NULL;
    if (!dir_has(o->dir, "data_batch_1.bin") && dir_has(o->dir, "cifar-10-batches-bin"))
        dir = sc_strprintf("%s/cifar-10-batches-bin", o->dir);
    else
        dir = strdup(o->dir);
    if (!dir)
        return sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of memory");
    static const char *files[6] = {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
                                   "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin"};
    uint8_t *ims[6] = {0};
    int32_t *lbs[6] = {0};
    int64_t cnt[6] = {0};
    uint64_t held = 0; /* the records' charge */
    sc_status st = SC_OK;
    for (int f = 0; f < 6 && st == SC_OK; f++) {
        char *path = sc_strprintf("%s/%s", dir, files[f]);
        if (!path) {
            st = sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of memory");
            break;
        }
        uint8_t *raw;
        size_t n;
        st = sc_ds_read_file_charged(b, path, SC_DS_MAX_FILE, &raw, &n);
        if (st != SC_OK && st != SC_ERR_OUT_OF_MEMORY)
            sc_error_wrap(st, "cifar10 (the binary version: data_batch_1.bin ... test_batch.bin "
                          "in --source-dir)");
        else if (st == SC_OK) {
            /* the records the parse keeps: pixels and an I32 label each */
            uint64_t recs = n / CIFAR_RECORD, bytes = recs * (CIFAR_PIXELS + sizeof(int32_t));
            char sz[32];
            st = sc_ds_budget_charge(b, bytes, "%s: its %" PRIu64 " records (%s)", path, recs,
                                     sc_ds_size_text(bytes, sz));
            if (st == SC_OK) {
                st = sc_cifar_parse(raw, n, path, &cnt[f], &ims[f], &lbs[f]);
                if (st == SC_OK)
                    held += bytes;
                else
                    sc_ds_budget_release(b, bytes);
            }
            free(raw);
            sc_ds_budget_release(b, n);
        }
        free(path);
    }
    int64_t ntr = 0, nte = 0;
    if (st == SC_OK) {
        for (int f = 0; f < 5; f++)
            ntr += cnt[f];
        nte = cnt[5];
        if (o->max_train > 0 && o->max_train < ntr)
            ntr = o->max_train;
        if (o->max_test > 0 && o->max_test < nte)
            nte = o->max_test;
    }
    sc_dataset *d = NULL;
    if (st == SC_OK)
        st = sc_ds_create_charged(b, dir, ntr + nte, 3, 32, 32, 10, 1, &d);
    if (st == SC_OK) {
        int64_t k = 0;
        for (int f = 0; f < 6; f++) {
            int64_t take = f < 5 ? (cnt[f] < ntr - k ? cnt[f] : ntr - k) : nte;
            if (take < 0)
                take = 0;
            memcpy(d->images + (size_t)k * CIFAR_PIXELS, ims[f], (size_t)take * CIFAR_PIXELS);
            for (int64_t i = 0; i < take; i++) {
                d->labels[k + i] = lbs[f][i];
                d->split[k + i] = f < 5 ? SC_SPLIT_TRAIN : SC_SPLIT_TEST;
            }
            k += take;
        }
        for (int c = 0; c < 10 && st == SC_OK; c++)
            if (!(d->class_names[c] = strdup(cifar_names[c])))
                st = sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of memory");
        if (st == SC_OK)
            st = sc_dataset_update_groups(d);
    }
    for (int f = 0; f < 6; f++) {
        free(ims[f]);
        free(lbs[f]);
    }
    sc_ds_budget_release(b, held);
    if (st != SC_OK && d)
        sc_ds_budget_release(b, sc_ds_footprint(d->n, d->c, d->h, d->w, d->num_classes,
                                                d->num_attrs));
    free(dir);
    return sc_ds_hand_over(st, d, out);
}
