/* Internal helpers shared by the dataset module (not installed). */
#ifndef SC_DATASETS_INTERNAL_H
#define SC_DATASETS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "spurcl/data.h"

/* Limits on what a source file may claim, so that hostile headers cannot ask
 * for absurd allocations. */
#define SC_DS_MAX_SAMPLES ((int64_t)100000000)
/* Class and attribute values each, and their product: the per-group tables
 * (counts, accuracies, names) stay small whatever a file claims. */
#define SC_DS_MAX_VALUES 1000000
#define SC_DS_MAX_GROUPS (1 << 20)
#define SC_DS_MAX_FILE ((size_t)4 << 30)

/* Largest decompressed size accepted from a gzip source (fuzzers lower it). */
extern size_t sc_ds_gunzip_limit;


/* Runs fn(ctx, begin, end) over [0, n) split into contiguous chunks on up to
 * `threads` threads (0: online CPUs). Returns the status of the failing
 * chunk with the lowest start (its error detail is copied to this thread). */
typedef sc_status (*sc_ds_range_fn)(void *ctx, int64_t begin, int64_t end);
sc_status sc_ds_parallel_for(int64_t n, int threads, sc_ds_range_fn fn, void *ctx);

/* Per-sample random streams: purpose tags keep the streams of different
 * uses apart. */
enum {
    SC_STREAM_VAL = 1,     /* carving val out of the training part */
    SC_STREAM_ASSIGN = 2,  /* attribute assignment */
    SC_STREAM_RENDER = 3,  /* per-sample image randomness */
    SC_STREAM_BATCH = 4,   /* batch shuffles */
    SC_STREAM_BALANCED = 5 /* group-balanced draws */
};
void sc_ds_stream(sc_rng *rng, uint64_t seed, uint64_t purpose, uint64_t index);

/* The end of a function that built *d: on success hands it to *out, else
 * frees it; returns st. */
static inline sc_status sc_ds_hand_over(sc_status st, sc_dataset *d, sc_dataset **out)
{
    if (st != SC_OK) {
        sc_dataset_free(d);
        return st;
    }
    *out = d;
    return SC_OK;
}

/* Reads a file that may be gzip-compressed (by content). */
sc_status sc_ds_read_maybe_gz(const char *path, uint8_t **data, size_t *size);

/* Variant rendering of one sample; `out` is the output image (o->... sizes),
 * `in` the source image. Implemented in variants.c. */
typedef struct sc_render_ctx {
    const sc_build_opts *o;
    int in_c, in_h, in_w;
    int out_c, out_h, out_w;
    int num_attrs;
} sc_render_ctx;
sc_status sc_render_sample(const sc_render_ctx *rc, const uint8_t *in, uint8_t *out, int label,
                           int attr, int split, sc_rng *rng);

/* Source loaders (idx.c, cifar.c, pngdir.c). */
sc_status sc_ds_load_idx_source(const sc_source_opts *o, sc_dataset **out);
sc_status sc_ds_load_cifar_source(const sc_source_opts *o, sc_dataset **out);
sc_status sc_ds_load_pngdir_source(const sc_source_opts *o, sc_dataset **out);

/* split.c: role[i] is the split of sample i (SC_SPLIT_*, or -1 to drop). */
sc_status sc_ds_carve_val(const int32_t *labels, int32_t *role, int64_t n, int num_classes,
                          double fraction, uint64_t seed);
sc_status sc_ds_assign_attrs(const int32_t *labels, const int32_t *role, int64_t n,
                             int num_classes, int num_attrs, double rho, bool val_biased,
                             uint64_t seed, int32_t *attrs);

/* Colour of attribute a out of n: evenly spaced hues (RGB in [0, 1]). */
void sc_attr_color(int a, int n, float rgb[3]);

#endif
