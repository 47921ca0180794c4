/* spurcl: data sets with spurious correlations.
 *
 * A data set is a set of images (uint8, N x C x H x W) with, per sample, a
 * label y in [0, num_classes), a spurious attribute a in [0, num_attrs), the
 * group g = y * num_attrs + a and a split code (SC_SPLIT_TRAIN, _VAL,
 * _TEST). Built data sets come from a real source (Fashion-MNIST, MNIST,
 * CIFAR-10, a folder of PNGs with a CSV) and a variant that plants the
 * attribute in the image (a corner mark, a colour, a corruption, a
 * background). Training uses y only; a and g are for evaluation tables.
 *
 * Everything is host C (no device); every random draw comes from sc_rng
 * seeded by the build's seed, per sample, so the same options give the same
 * bytes on any machine and with any number of threads.
 *
 * File format: safetensors with tensors
 *   images  U8  [N, C, H, W]
 *   labels  I32 [N]
 *   attrs   I32 [N]
 *   groups  I32 [N]   (labels * num_attrs + attrs)
 *   split   I32 [N]   (0 train, 1 val, 2 test)
 * and metadata "format" = "spurcl-dataset/1" and "build" = a JSON object of
 * the build parameters (source, variant, rho, severity, seed, ...,
 * num_classes, num_attrs, class_names, attr_names) in a fixed key order. */
#ifndef SPURCL_DATA_H
#define SPURCL_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spurcl/error.h"
#include "spurcl/rng.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SC_DATASET_FORMAT "spurcl-dataset/1"
#define SC_FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"

typedef enum sc_split { SC_SPLIT_TRAIN = 0, SC_SPLIT_VAL = 1, SC_SPLIT_TEST = 2 } sc_split;
#define SC_SPLIT_COUNT 3

/* "train", "val", "test". */
SC_API const char *sc_split_name(sc_split split);
/* Accepts train/val/test (case-insensitive; also valid, validation) and 0/1/2. */
SC_API sc_status sc_split_parse(const char *s, sc_split *out);

/* An in-memory data set. Fields are public and owned by the data set. */
typedef struct sc_dataset {
    int64_t n;              /* samples */
    int c, h, w;            /* image channels, height, width */
    int num_classes;        /* labels in [0, num_classes) */
    int num_attrs;          /* attributes in [0, num_attrs) */
    uint8_t *images;        /* [n, c, h, w] */
    int32_t *labels;        /* [n] */
    int32_t *attrs;         /* [n] */
    int32_t *groups;        /* [n]: labels * num_attrs + attrs */
    int32_t *split;         /* [n]: sc_split codes */
    char *build_json;       /* build parameters (JSON object), may be NULL */
    char **class_names;     /* [num_classes] or NULL */
    char **attr_names;      /* [num_attrs] or NULL */
} sc_dataset;

/* Allocates a data set with zeroed arrays. */
SC_API sc_status sc_dataset_create(int64_t n, int c, int h, int w, int num_classes, int num_attrs,
                                   sc_dataset **out);
SC_API void sc_dataset_free(sc_dataset *d);

/* Recomputes groups from labels and attrs, checking every value's range. */
SC_API sc_status sc_dataset_update_groups(sc_dataset *d);

/* Saves atomically as safetensors (see the top of this file). */
SC_API sc_status sc_dataset_save(const sc_dataset *d, const char *path);
/* Loads and validates a saved data set (shapes, dtypes, value ranges,
 * groups consistent with labels and attrs). */
SC_API sc_status sc_dataset_load(const char *path, sc_dataset **out);

/* counts[s * G + g] = samples of split s in group g, G = num_classes *
 * num_attrs; `counts` holds SC_SPLIT_COUNT * G entries. */
SC_API void sc_dataset_group_counts(const sc_dataset *d, int64_t *counts);
/* Dataset indices of the samples of one split, in order (malloc'd). */
SC_API sc_status sc_dataset_split_indices(const sc_dataset *d, sc_split split, int64_t **indices,
                                          int64_t *count);
/* Per-channel mean and standard deviation of the split's images in [0, 1]
 * (for normalising batches); mean and std hold d->c entries. */
SC_API sc_status sc_dataset_channel_stats(const sc_dataset *d, sc_split split, float *mean,
                                          float *std);

/* ---------------------------------------------------------------------------
 * Sources
 * ------------------------------------------------------------------------ */

typedef enum sc_source_kind {
    SC_SOURCE_FASHION_MNIST = 0, /* IDX files, default dir SC_FASHION_MNIST_DIR */
    SC_SOURCE_MNIST,             /* IDX files in the user's directory */
    SC_SOURCE_CIFAR10,           /* data_batch_1..5.bin, test_batch.bin */
    SC_SOURCE_PNGDIR             /* PNG files listed in a CSV path,label,attr,split */
} sc_source_kind;

SC_API const char *sc_source_name(sc_source_kind kind);
SC_API sc_status sc_source_parse(const char *s, sc_source_kind *out);

typedef struct sc_source_opts {
    sc_source_kind kind;
    const char *dir;      /* NULL: the default (Fashion-MNIST only) */
    const char *csv;      /* pngdir: the CSV (NULL: <dir>/metadata.csv); paths in it
                           * are relative to the CSV's directory */
    int channels;         /* pngdir: 1 or 3 (0: 3) */
    int resize;           /* pngdir: resize every image to resize x resize (0: keep;
                           * then all images must have the same size) */
    int64_t max_train;    /* > 0: keep only the first max_train samples of the
                           * source's training part (and of its val rows) */
    int64_t max_test;     /* > 0: same for the test part */
    uint64_t mem_limit;   /* the build's memory budget in bytes (0:
                           * SC_DATA_DEFAULT_MEM_LIMIT); see below */
} sc_source_opts;

/* The memory budget of a data-set build. sc_source_load and
 * sc_dataset_build_from (with o->source.mem_limit) count what they hold at
 * once: the files read, the decompressed IDX payloads and CIFAR records, each
 * PNG's decode (by the size its header declares, before decoding), the data
 * sets (the source, and the output with the source it is built from) and the
 * per-thread scratch of the variant. Each is charged before it is allocated;
 * a charge over the budget fails with SC_ERR_OUT_OF_MEMORY and a message that
 * names the file (and CSV line), what it needs, the total it would reach and
 * the budget. Inside parallel loops threads wait for each other's transient
 * buffers rather than fail, so whether a build fits depends neither on the
 * number of threads nor on their timing.
 *
 * The default, 1.5 GiB, keeps the whole process under 2 GB resident on any
 * input (the budget plus the program itself, whatever headers claim), and is
 * about 4x what the largest built-in builds hold: Fashion-MNIST peaks at
 * about 240 MB resident (spuco), CIFAR-10 at about 420 MB. A folder of a few
 * thousand mid-sized PNGs fits too; larger ones (e.g. 11788 Waterbirds images
 * at 224x224, 1.8 GB held twice) need a larger budget (docs/data.md). */
#define SC_DATA_DEFAULT_MEM_LIMIT ((uint64_t)3 << 29)

/* Loads a source as a data set: split codes are the source's own (train and
 * test; pngdir may also have val), attrs are 0 (pngdir: the CSV's), and
 * num_attrs is 1 (pngdir: the largest attr + 1). */
SC_API sc_status sc_source_load(const sc_source_opts *opts, sc_dataset **out);

/* Individual readers, on files or memory (`name` names the data in error
 * details). IDX: the magic gives the type (must be unsigned byte, 0x08) and
 * rank; `dims` receives up to 4 dimensions. The data may be gzip-compressed.
 * *data is malloc'd and holds the product of dims bytes. */
SC_API sc_status sc_idx_read(const char *path, int *ndim, int64_t dims[4], uint8_t **data);
SC_API sc_status sc_idx_parse(const uint8_t *bytes, size_t size, const char *name, int *ndim,
                              int64_t dims[4], uint8_t **data);
/* CIFAR-10 binary: records of 1 label byte + 3072 image bytes (3x32x32). */
SC_API sc_status sc_cifar_parse(const uint8_t *bytes, size_t size, const char *name, int64_t *count,
                                uint8_t **images, int32_t **labels);

/* A parsed metadata CSV (header row with at least path,label,attr,split in
 * any order; RFC 4180 quoting; CRLF or LF). */
typedef struct sc_csv_rows {
    int64_t n;
    char **paths;
    int32_t *labels;
    int32_t *attrs;
    int32_t *splits;
    int64_t *lines;       /* 1-based line of the CSV each row starts on */
} sc_csv_rows;
SC_API sc_status sc_csv_parse(const char *text, size_t size, const char *name, sc_csv_rows *out);
SC_API void sc_csv_rows_free(sc_csv_rows *rows);

/* ---------------------------------------------------------------------------
 * Corruptions (images in [0, 1], clipped, stored back as rounded uint8)
 * ------------------------------------------------------------------------ */

typedef enum sc_corruption {
    /* "type 1" list, in the order of the Corrupted CIFAR-10 protocol */
    SC_CORRUPT_GAUSSIAN_NOISE = 0,
    SC_CORRUPT_SHOT_NOISE,
    SC_CORRUPT_IMPULSE_NOISE,
    SC_CORRUPT_SPECKLE_NOISE,
    SC_CORRUPT_GAUSSIAN_BLUR,
    SC_CORRUPT_DEFOCUS_BLUR,
    SC_CORRUPT_GLASS_BLUR,
    SC_CORRUPT_MOTION_BLUR,
    SC_CORRUPT_ZOOM_BLUR,
    SC_CORRUPT_NONE,
    /* asset-free part of "type 0" */
    SC_CORRUPT_FOG,
    SC_CORRUPT_BRIGHTNESS,
    SC_CORRUPT_CONTRAST,
    SC_CORRUPT_ELASTIC,
    SC_CORRUPT_PIXELATE,
    SC_CORRUPT_SATURATE,
    SC_CORRUPT_COUNT
} sc_corruption;

/* "gaussian_noise", ..., "none", "fog", ... */
SC_API const char *sc_corruption_name(sc_corruption kind);
SC_API sc_status sc_corruption_parse(const char *s, sc_corruption *out);

/* The lists a corrupt build cycles through (attribute a gets list[a % len]). */
typedef enum sc_corruption_list { SC_CORRUPTIONS_TYPE1 = 0, SC_CORRUPTIONS_TYPE0 } sc_corruption_list;
/* Returns the length and sets *items to the list. */
SC_API int sc_corruption_list_items(sc_corruption_list list, const sc_corruption **items);

/* Corrupts one image in place (uint8, C x H x W, C = 1 or 3) at severity 1..5.
 * Colour corruptions (saturate) leave grey images unchanged; brightness on a
 * grey image adds to the value directly. */
SC_API sc_status sc_corrupt_image(sc_corruption kind, int severity, uint8_t *img, int c, int h, int w,
                                  sc_rng *rng);

/* ---------------------------------------------------------------------------
 * Building variants
 * ------------------------------------------------------------------------ */

typedef enum sc_variant {
    SC_VARIANT_NONE = 0,
    SC_VARIANT_PATCH,
    SC_VARIANT_COLOR,
    SC_VARIANT_CORRUPT,
    SC_VARIANT_BACKGROUND,
    SC_VARIANT_SPUCO
} sc_variant;

SC_API const char *sc_variant_name(sc_variant v);
SC_API sc_status sc_variant_parse(const char *s, sc_variant *out);

typedef enum sc_patch_layout {
    SC_PATCH_BORDER = 0, /* attribute a: a solid mark at the a-th of num_attrs positions
                          * spaced evenly clockwise along the border (a grid of
                          * patch-size cells) from the top-left corner; with 4
                          * attributes on a square image these are the 4 corners */
    SC_PATCH_PATTERN     /* top-left corner, a per-attribute binary pattern */
} sc_patch_layout;

typedef enum sc_color_mode {
    SC_COLOR_FOREGROUND = 0, /* LfF Colored MNIST: colour x grey intensity */
    SC_COLOR_BACKGROUND      /* SpuCo: paint the background (or a corner patch) */
} sc_color_mode;

/* How hard the spuco variant's colour is to learn (SpuCo's
 * SpuriousFeatureDifficulty on 28x28 images): the colour is painted where
 * the source pixel is exactly 0, inside
 *   MAGNITUDE_LARGE   the whole image ("magnitude-large")
 *   MAGNITUDE_MEDIUM  the 4x4 top-left corner ("magnitude-medium")
 *   MAGNITUDE_SMALL   the 2x2 top-left corner ("magnitude-small")
 *   VARIANCE_LOW      the 7x7 top-left corner: 49 pixels ("variance-low")
 *   VARIANCE_MEDIUM   49 pixels drawn per image in the 14x14 corner ("variance-medium")
 *   VARIANCE_HIGH     49 pixels drawn per image anywhere ("variance-high")
 * (corner sizes are those of a 28-pixel image, scaled to other sizes). */
typedef enum sc_spuco_difficulty {
    SC_SPUCO_MAGNITUDE_LARGE = 0,
    SC_SPUCO_MAGNITUDE_MEDIUM,
    SC_SPUCO_MAGNITUDE_SMALL,
    SC_SPUCO_VARIANCE_LOW,
    SC_SPUCO_VARIANCE_MEDIUM,
    SC_SPUCO_VARIANCE_HIGH
} sc_spuco_difficulty;

SC_API const char *sc_spuco_difficulty_name(sc_spuco_difficulty d);
SC_API sc_status sc_spuco_difficulty_parse(const char *s, sc_spuco_difficulty *out);

typedef struct sc_build_opts {
    sc_source_opts source;
    sc_variant variant;
    double rho;            /* [0, 1]: fraction of training samples aligned (a == y) */
    int severity;          /* 1..5: corruption severity; colour sigma default */
    uint64_t seed;
    double val_fraction;   /* [0, 1): share of each class of the source's training
                            * part carved out as val (ignored when the source has
                            * val rows) */
    bool val_biased;       /* val gets rho like train instead of being unbiased */
    bool test_clean;       /* patch/color: test images get no mark/colour (attrs are
                            * still assigned, balanced, for the tables) */
    int threads;           /* 0: one per online CPU */
    /* patch */
    int patch_size;        /* default 4 */
    sc_patch_layout patch_layout;
    double patch_intensity;/* (0, 1], default 1 (white) */
    /* color */
    sc_color_mode color_mode;
    double color_sigma;    /* < 0: by severity (0.05, 0.02, 0.01, 0.005, 0.002) */
    int color_patch;       /* background mode: 0 whole background, else an NxN
                            * top-left corner patch */
    /* corrupt */
    sc_corruption_list corruptions;
    /* background and spuco */
    const char *class_split; /* which source classes make each output class, sets
                              * separated by ':' ("0,2,4,6:5,7,9": classes of class 0,
                              * then class 1; others dropped). background: two sets
                              * (NULL: the source's default); spuco: two or more (NULL:
                              * consecutive pairs, 0,1:2,3:4,5:6,7:8,9 for 10 classes) */
    /* spuco (SpuCo's SpuCoMNIST on any source: K super-classes, K background
     * colours evenly spaced in hue, class k's colour on round(rho n_k) of its
     * training images and the others round-robin; val and test balanced) */
    sc_spuco_difficulty spuco_difficulty; /* default magnitude-large */
    int canvas;            /* output size (square), default 32; >= source size */
} sc_build_opts;

/* "border" (also "corner"), "pattern"; "foreground", "background";
 * "type1", "type0". */
SC_API const char *sc_patch_layout_name(sc_patch_layout l);
SC_API sc_status sc_patch_layout_parse(const char *s, sc_patch_layout *out);
SC_API const char *sc_color_mode_name(sc_color_mode m);
SC_API sc_status sc_color_mode_parse(const char *s, sc_color_mode *out);
SC_API const char *sc_corruption_list_name(sc_corruption_list l);
SC_API sc_status sc_corruption_list_parse(const char *s, sc_corruption_list *out);

/* Top-left corner of the s x s square where the patch variant draws
 * attribute `attr`'s mark on an H x W image (the pattern layout: 0, 0). */
SC_API void sc_patch_position(sc_patch_layout layout, int s, int H, int W, int num_attrs, int attr,
                              int *y0, int *x0);
/* The patch layout and size a data set was built with (from its build
 * JSON); SC_ERR_INVALID_ARG when it is not a patch variant. */
SC_API sc_status sc_dataset_patch_params(const sc_dataset *d, sc_patch_layout *layout, int *size);

/* Fills the documented defaults (Fashion-MNIST, variant none, rho 0.95,
 * severity 4, seed 0, val 0.1, patch 4 border 1.0, colour foreground,
 * corruptions type1, canvas 32). */
SC_API void sc_build_opts_default(sc_build_opts *o);
/* Checks ranges; SC_ERR_INVALID_ARG naming the option. */
SC_API sc_status sc_build_opts_check(const sc_build_opts *o);

/* Loads the source and builds the variant. */
SC_API sc_status sc_dataset_build(const sc_build_opts *o, sc_dataset **out);
/* Builds a variant from an already loaded source (consumed or not: `src` is
 * left untouched). */
SC_API sc_status sc_dataset_build_from(const sc_dataset *src, const sc_build_opts *o,
                                       sc_dataset **out);

/* Attribute assignment used by the builders (exposed for tests): for the
 * samples of one class (count n), returns per-attribute counts: aligned
 * attribute `aligned` gets round(rho * n) and the rest is spread evenly over
 * the other num_attrs - 1 values, the remainder going to values chosen by
 * `rng`. counts has num_attrs entries. */
SC_API void sc_assign_counts(int64_t n, double rho, int aligned, int num_attrs, sc_rng *rng,
                             int64_t *counts);

/* Writes a preview PNG, a labelled grid (sc_grid of src/io/image.h, whose
 * geometry is documented there): a title ("<split> split: first N images
 * per group", scale 2), then one row per group in group order
 * (class-major, num_classes * num_attrs rows), labelled on the left
 * "y=<class name>" over "a=<attribute name>, n=<images of the group in the
 * split>", with its first `per_group` images of the split as columns, each
 * image scaled up by `scale`; cells a group has no image for are light
 * grey; under the grid a legend line (a footer 6 + sc_text_height(1)
 * pixels high). Labels are text scale 2 where an image is at least two
 * such lines high (h * scale >= 2 * sc_line_height(2)), else 1. A grid
 * taller than 2000 pixels wraps into side-by-side blocks of whole classes
 * (num_attrs rows each; of single rows when one class is taller), the
 * split that fits with the smallest picture. */
SC_API sc_status sc_dataset_preview(const sc_dataset *d, sc_split split, int per_group, int scale,
                                    const char *path);

/* ---------------------------------------------------------------------------
 * Batching (host buffers ready to upload)
 * ------------------------------------------------------------------------ */

typedef struct sc_batch_opts {
    int64_t batch_size;   /* > 0 */
    bool shuffle;         /* seeded reshuffle every epoch */
    bool drop_last;       /* drop the last short batch */
    uint64_t seed;
    bool normalize;       /* (x - mean[c]) / std[c] after scaling to [0, 1] */
    float mean[4], std[4];
    bool no_images;       /* batches carry labels, attributes, groups and indices only
                           * (images NULL): for trainers that read other inputs */
} sc_batch_opts;

typedef struct sc_batch {
    int64_t size;         /* samples in this batch (<= batch_size) */
    int c, h, w;
    float *images;        /* [size, c, h, w] */
    int32_t *labels;      /* [size] */
    int32_t *attrs;       /* [size] */
    int32_t *groups;      /* [size] */
    int64_t *indices;     /* [size]: dataset indices */
    int64_t offset;       /* the position of its first sample in the epoch's sequence */
    int64_t global_size;  /* samples of the whole batch: size, or under data-parallel
                             sharding the global batch this one is a slice of */
} sc_batch;

typedef struct sc_batcher sc_batcher;

/* Iterates the samples of `split` (the data set must outlive the batcher). */
SC_API sc_status sc_batcher_create(const sc_dataset *d, sc_split split, const sc_batch_opts *o,
                                   sc_batcher **out);
SC_API void sc_batcher_free(sc_batcher *b);
/* Starts epoch `epoch`: order = the split's samples, shuffled with a stream
 * derived from (seed, epoch) when shuffle is on. */
SC_API void sc_batcher_start_epoch(sc_batcher *b, uint64_t epoch);
/* Starts an epoch over a caller-given sequence of dataset indices (any
 * order, repeats allowed, e.g. from a weighted sampler). */
SC_API sc_status sc_batcher_start_order(sc_batcher *b, const int64_t *indices, int64_t count);
/* The next batch, or *out = NULL at the end of the epoch. The batch's
 * buffers belong to the batcher and stay valid until the next call. */
SC_API sc_status sc_batcher_next(sc_batcher *b, const sc_batch **out);
/* Rank `rank`'s slice of the next batch when `nranks` processes share it
 * (data-parallel training): the batch sc_batcher_next would give, of b
 * samples, cut into nranks contiguous slices, rank r getting positions
 * [floor(b r / nranks), floor(b (r + 1) / nranks)). The slice may be empty
 * (size 0, *out not NULL) when b < nranks; *out = NULL at the end of the
 * epoch. Every rank sees the same number of batches; nranks 1 is
 * sc_batcher_next. */
SC_API sc_status sc_batcher_next_shard(sc_batcher *b, int rank, int nranks, const sc_batch **out);
/* Gathers arbitrary dataset indices into a batch (count <= batch_size). */
SC_API sc_status sc_batcher_gather(sc_batcher *b, const int64_t *indices, int64_t count,
                                   const sc_batch **out);
/* n dataset indices of `split` drawn with replacement so that every
 * non-empty group is equally likely (a group, then a member, uniformly),
 * from the stream (seed, epoch): group-balanced sampling. */
SC_API sc_status sc_group_balanced_order(const sc_dataset *d, sc_split split, uint64_t seed,
                                         uint64_t epoch, int64_t n, int64_t *order);
/* Batches in the current epoch, and samples of the split. */
SC_API int64_t sc_batcher_num_batches(const sc_batcher *b);
SC_API int64_t sc_batcher_split_size(const sc_batcher *b);
/* Dataset indices of the split's samples (split_size entries). */
SC_API const int64_t *sc_batcher_split_indices(const sc_batcher *b);

#ifdef __cplusplus
}
#endif
#endif
