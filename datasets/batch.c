/* Mini-batches for training: float32 images in [0, 1] (optionally
 * normalised per channel), labels, attrs, groups and dataset indices, in
 * host buffers ready to upload. */
#include "ds_internal.h"

#include <stdlib.h>
#include <string.h>

struct sc_batcher {
    const sc_dataset *d;
    sc_batch_opts o;
    int64_t *split_idx;   /* the split's samples */
    int64_t nsplit;
    int64_t *order;       /* current epoch's sequence */
    int64_t norder, cap_order;
    int64_t pos;
    float lut[4][256];    /* uint8 -> float per channel */
    sc_batch batch;
};

void sc_batcher_free(sc_batcher *b)
{
    if (!b)
        return;
    free(b->split_idx);
    free(b->order);
    free(b->batch.images);
    free(b->batch.labels);
    free(b->batch.attrs);
    free(b->batch.groups);
    free(b->batch.indices);
    free(b);
}

sc_status sc_batcher_create(const sc_dataset *d, sc_split split, const sc_batch_opts *o,
                            sc_batcher **out)
{
    *out = NULL;
    if (o->batch_size <= 0 || o->batch_size > (int64_t)1 << 24)
        return sc_error_set(SC_ERR_INVALID_ARG, "batch size must be in [1, 2^24], got %lld",
                            (long long)o->batch_size);
    if ((unsigned)split >= SC_SPLIT_COUNT)
        return sc_error_set(SC_ERR_INVALID_ARG, "invalid split %d", (int)split);
    if (o->normalize)
        for (int c = 0; c < d->c && c < 4; c++)
            if (!(o->std[c] > 0))
                return sc_error_set(SC_ERR_INVALID_ARG,
                                    "normalisation std of channel %d must be > 0", c);
    sc_batcher *b = calloc(1, sizeof *b);
    if (!b)
        return sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of memory");
    b->d = d;
    b->o = *o;
    sc_status st = sc_dataset_split_indices(d, split, &b->split_idx, &b->nsplit);
    if (st != SC_OK) {
        free(b);
        return st;
    }
    size_t B = (size_t)o->batch_size, px = (size_t)d->c * d->h * d->w;
    b->cap_order = b->nsplit;
    b->order = malloc(sizeof(int64_t) * (size_t)(b->nsplit ? b->nsplit : 1));
    b->batch.images = b->o.no_images ? NULL : malloc(sizeof(float) * B * px);
    b->batch.labels = malloc(sizeof(int32_t) * B);
    b->batch.attrs = malloc(sizeof(int32_t) * B);
    b->batch.groups = malloc(sizeof(int32_t) * B);
    b->batch.indices = malloc(sizeof(int64_t) * B);
    if (!b->order || (!b->batch.images && !b->o.no_images) || !b->batch.labels || !b->batch.attrs ||
        !b->batch.groups || !b->batch.indices) {
        sc_batcher_free(b);
        return sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of memory for batches of %zu", B);
    }
    b->batch.c = d->c;
    b->batch.h = d->h;
    b->batch.w = d->w;
    for (int c = 0; c < d->c && c < 4; c++)
        for (int v = 0; v < 256; v++) {
            float x = (float)v / 255.f;
            b->lut[c][v] = o->normalize ? (x - o->mean[c]) / o->std[c] : x;
        }
    sc_batcher_start_epoch(b, 0);
    *out = b;
    return SC_OK;
}

void sc_batcher_start_epoch(sc_batcher *b, uint64_t epoch)
{
    memcpy(b->order, b->split_idx, sizeof(int64_t) * (size_t)b->nsplit);
    b->norder = b->nsplit;
    b->pos = 0;
    if (b->o.shuffle && b->nsplit > 1) {
        sc_rng rng;
        sc_ds_stream(&rng, b->o.seed, SC_STREAM_BATCH, epoch);
        for (int64_t i = b->norder; i > 1; i--) {
            int64_t j = (int64_t)sc_rng_below(&rng, (uint64_t)i);
            int64_t t = b->order[i - 1];
            b->order[i - 1] = b->order[j];
            b->order[j] = t;
        }
    }
}

sc_status sc_batcher_start_order(sc_batcher *b, const int64_t *indices, int64_t count)
{
    if (count < 0)
        return sc_error_set(SC_ERR_INVALID_ARG, "negative index count");
    for (int64_t i = 0; i < count; i++)
        if (indices[i] < 0 || indices[i] >= b->d->n)
            return sc_error_set(SC_ERR_INVALID_ARG,
                                "index %lld at position %lld is outside the data set [0, %lld)",
                                (long long)indices[i], (long long)i, (long long)b->d->n);
    if (count > b->cap_order) {
        int64_t *no = realloc(b->order, sizeof(int64_t) * (size_t)count);
        if (!no)
            return sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of memory");
        b->order = no;
        b->cap_order = count;
    }
    memcpy(b->order, indices, sizeof(int64_t) * (size_t)count);
    b->norder = count;
    b->pos = 0;
    return SC_OK;
}

static void fill(sc_batcher *b, const int64_t *idx, int64_t count)
{
    const sc_dataset *d = b->d;
    size_t plane = (size_t)d->h * d->w, px = (size_t)d->c * plane;
    for (int64_t k = 0; k < count; k++) {
        int64_t i = idx[k];
        const uint8_t *src = d->images + (size_t)i * px;
        float *dst = b->batch.images ? b->batch.images + (size_t)k * px : NULL;
        for (int c = 0; dst && c < d->c; c++) {
            const float *lut = b->lut[c < 4 ? c : 3];
            for (size_t p = 0; p < plane; p++)
                dst[c * plane + p] = lut[src[c * plane + p]];
        }
        b->batch.labels[k] = d->labels[i];
        b->batch.attrs[k] = d->attrs[i];
        b->batch.groups[k] = d->groups[i];
        b->batch.indices[k] = i;
    }
    b->batch.size = count;
}

sc_status sc_batcher_next(sc_batcher *b, const sc_batch **out)
{
    *out = NULL;
    int64_t left = b->norder - b->pos;
    if (left <= 0 || (b->o.drop_last && left < b->o.batch_size))
        return SC_OK;
    int64_t count = left < b->o.batch_size ? left : b->o.batch_size;
    fill(b, b->order + b->pos, count);
    b->batch.offset = b->pos;
    b->batch.global_size = count;
    b->pos += count;
    *out = &b->batch;
    return SC_OK;
}

sc_status sc_batcher_next_shard(sc_batcher *b, int rank, int nranks, const sc_batch **out)
{
    *out = NULL;
    if (nranks < 1 || rank < 0 || rank >= nranks)
        return sc_error_set(SC_ERR_INVALID_ARG, "shard %d of %d ranks", rank, nranks);
    int64_t left = b->norder - b->pos;
    if (left <= 0 || (b->o.drop_last && left < b->o.batch_size))
        return SC_OK;
    int64_t count = left < b->o.batch_size ? left : b->o.batch_size;
    int64_t lo = count * rank / nranks, hi = count * (rank + 1) / nranks;
    fill(b, b->order + b->pos + lo, hi - lo);
    b->batch.offset = b->pos + lo;
    b->batch.global_size = count;
    b->pos += count;
    *out = &b->batch;
    return SC_OK;
}

sc_status sc_batcher_gather(sc_batcher *b, const int64_t *indices, int64_t count,
                            const sc_batch **out)
{
    *out = NULL;
    if (count < 0 || count > b->o.batch_size)
        return sc_error_set(SC_ERR_INVALID_ARG, "gather of %lld samples exceeds the batch size %lld",
                            (long long)count, (long long)b->o.batch_size);
    for (int64_t i = 0; i < count; i++)
        if (indices[i] < 0 || indices[i] >= b->d->n)
            return sc_error_set(SC_ERR_INVALID_ARG, "index %lld is outside the data set [0, %lld)",
                                (long long)indices[i], (long long)b->d->n);
    fill(b, indices, count);
    b->batch.offset = 0;
    b->batch.global_size = count;
    *out = &b->batch;
    return SC_OK;
}

int64_t sc_batcher_num_batches(const sc_batcher *b)
{
    int64_t B = b->o.batch_size;
    return b->o.drop_last ? b->norder / B : (b->norder + B - 1) / B;
}

int64_t sc_batcher_split_size(const sc_batcher *b) { return b->nsplit; }

const int64_t *sc_batcher_split_indices(const sc_batcher *b) { return b->split_idx; }

sc_status sc_group_balanced_order(const sc_dataset *d, sc_split split, uint64_t seed,
                                  uint64_t epoch, int64_t n, int64_t *order)
{
    int G = d->num_classes * d->num_attrs;
    int64_t *count = calloc((size_t)G + 1, sizeof *count);
    int64_t *start = calloc((size_t)G + 1, sizeof *start);
    int64_t m = 0;
    for (int64_t i = 0; count && i < d->n; i++)
        if (d->split[i] == (int32_t)split) {
            count[d->groups[i]]++;
            m++;
        }
    int64_t *members = malloc(((size_t)m + 1) * sizeof *members);
    int *nonempty = malloc(((size_t)G + 1) * sizeof *nonempty);
    if (!count || !start || !members || !nonempty) {
        free(count);
        free(start);
        free(members);
        free(nonempty);
        return sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of memory (balanced order)");
    }
    /* members grouped: group g's indices at members[start[g] ..] */
    int ng = 0;
    for (int g = 0; g < G; g++) {
        start[g + 1] = start[g] + count[g];
        if (count[g])
            nonempty[ng++] = g;
    }
    int64_t *fill = calloc((size_t)G + 1, sizeof *fill);
    for (int64_t i = 0; fill && i < d->n; i++)
        if (d->split[i] == (int32_t)split) {
            int g = d->groups[i];
            members[start[g] + fill[g]++] = i;
        }
    sc_status st = SC_OK;
    if (!fill)
        st = sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of memory (balanced order)");
    else if (ng == 0 && n > 0)
        st = sc_error_set(SC_ERR_INVALID_ARG, "the %s split is empty", sc_split_name(split));
    sc_rng rng;
    sc_ds_stream(&rng, seed, SC_STREAM_BALANCED, epoch);
    for (int64_t k = 0; st == SC_OK && k < n; k++) {
        int g = nonempty[sc_rng_below(&rng, (uint64_t)ng)];
        order[k] = members[start[g] + (int64_t)sc_rng_below(&rng, (uint64_t)count[g])];
    }
    free(fill);
    free(count);
    free(start);
    free(members);
    free(nonempty);
    return st;
}
