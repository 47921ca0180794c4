/* Internal helpers shared by the dataset module (not installed). */
#ifndef SC_DATASETS_INTERNAL_H
#define SC_DATASETS_INTERNAL_H

#include <pthread.h>
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

/* ---- the memory budget of a build -------------------------------------------
 *
 * One budget per sc_source_load and per sc_dataset_build_from (the limit is
 * sc_source_opts.mem_limit, 0: SC_DATA_DEFAULT_MEM_LIMIT). Every large buffer
 * of a build is charged before it is allocated and released when it is freed:
 * the files read, the IDX payloads their headers declare (before inflating),
 * the CIFAR records, each PNG's decode by its declared size (before decoding),
 * the data sets (source and output, images and per-sample tables) and the
 * per-thread scratch of a variant. A charge that would take the total over the
 * limit fails with "<what> would bring the build to X, over the Y budget
 * (--mem-limit)", before anything is allocated.
 *
 * Charges made inside a parallel section (sc_ds_budget_take) wait while other
 * threads hold transient charges and fail only when the charge could not fit
 * even with every transient charge released, so whether a build fits does not
 * depend on the number of threads or on their timing. */
typedef struct sc_ds_budget {
    uint64_t limit;
    uint64_t used;      /* everything charged now */
    uint64_t transient; /* the part of `used` taken by sc_ds_budget_take */
    uint64_t peak;
    pthread_mutex_t mu;
    pthread_cond_t cv;
} sc_ds_budget;

void sc_ds_budget_init(sc_ds_budget *b, uint64_t limit);
void sc_ds_budget_destroy(sc_ds_budget *b);
/* Charges `bytes`, or fails (SC_ERR_OUT_OF_MEMORY) with the message above,
 * `what` formatted from fmt. b may be NULL (nothing is counted). */
sc_status sc_ds_budget_charge(sc_ds_budget *b, uint64_t bytes, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void sc_ds_budget_release(sc_ds_budget *b, uint64_t bytes);
/* A transient charge from a worker thread: waits until it fits beside the
 * other threads' transient charges; fails at once when it exceeds the limit
 * even without them. Released by sc_ds_budget_give. */
sc_status sc_ds_budget_take(sc_ds_budget *b, uint64_t bytes, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void sc_ds_budget_give(sc_ds_budget *b, uint64_t bytes);
/* What the budget has left (0 when it is spent). */
uint64_t sc_ds_budget_left(sc_ds_budget *b);
/* "1.5 GiB", "44.9 MiB", "312 bytes". */
const char *sc_ds_size_text(uint64_t bytes, char buf[32]);
/* The bytes a data set holds: images, the four per-sample I32 tables and the
 * names. */
uint64_t sc_ds_footprint(int64_t n, int c, int h, int w, int num_classes, int num_attrs);
/* sc_dataset_create after charging its footprint ("<what>: the data set of N
 * images CxHxW"); the charge stays with the data set (released by the caller
 * with sc_ds_budget_release(b, sc_ds_footprint(...)) when it frees it). */
sc_status sc_ds_create_charged(sc_ds_budget *b, const char *what, int64_t n, int c, int h, int w,
                               int num_classes, int num_attrs, sc_dataset **out);
/* The number of worker threads a parallel loop of n items uses for `threads`
 * (0: online CPUs). */
int sc_ds_thread_count(int64_t n, int threads);


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

/* Reads a whole regular file after charging its size to `b` (b may be NULL);
 * on success the charge stays (release *size bytes with the buffer). */
sc_status sc_ds_read_file_charged(sc_ds_budget *b, const char *path, size_t max_size,
                                  uint8_t **data, size_t *size);

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

/* Source loaders (idx.c, cifar.c, pngdir.c), charging `b`; the data set they
 * return stays charged (its sc_ds_footprint). */
sc_status sc_ds_load_idx_source(const sc_source_opts *o, sc_ds_budget *b, sc_dataset **out);
sc_status sc_ds_load_cifar_source(const sc_source_opts *o, sc_ds_budget *b, sc_dataset **out);
sc_status sc_ds_load_pngdir_source(const sc_source_opts *o, sc_ds_budget *b, sc_dataset **out);

/* The scratch one worker thread of the variant allocates per sample
 * (corruption buffers, spuco's pixel draws), an upper bound. variants.c. */
uint64_t sc_render_scratch_bytes(const sc_render_ctx *rc);

/* split.c: role[i] is the split of sample i (SC_SPLIT_*, or -1 to drop). */
sc_status sc_ds_carve_val(const int32_t *labels, int32_t *role, int64_t n, int num_classes,
                          double fraction, uint64_t seed);
sc_status sc_ds_assign_attrs(const int32_t *labels, const int32_t *role, int64_t n,
                             int num_classes, int num_attrs, double rho, bool val_biased,
                             uint64_t seed, int32_t *attrs);

/* Colour of attribute a out of n: evenly spaced hues (RGB in [0, 1]). */
void sc_attr_color(int a, int n, float rgb[3]);

#endif
