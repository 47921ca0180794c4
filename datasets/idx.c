/* IDX files (MNIST, Fashion-MNIST): big-endian magic 00 00 TT NN, then NN
 * big-endian u32 dimensions, then the data. Plain or gzip-compressed. */
#include "ds_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "spurcl/io.h"

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static sc_status idx_parse_raw(const uint8_t *b, size_t size, const char *name, int *ndim,
                               int64_t dims[4], uint8_t **data)
{
    if (size < 4)
        return sc_error_set(SC_ERR_FORMAT,
                            "%s: not an IDX file: %zu bytes, too short for the 4-byte magic",
                            name, size);
    uint32_t magic = be32(b);
    if (b[0] != 0 || b[1] != 0 || b[3] < 1 || b[3] > 4 ||
        (b[2] != 0x08 && b[2] != 0x09 && b[2] != 0x0B && b[2] != 0x0C && b[2] != 0x0D &&
         b[2] != 0x0E))
        return sc_error_set(SC_ERR_FORMAT,
                            "%s: not an IDX file: bad magic 0x%08" PRIx32
                            " (expected 0x00000801 to 0x00000804 for unsigned bytes)", name,
                            magic);
    if (b[2] != 0x08)
        return sc_error_set(SC_ERR_UNSUPPORTED,
                            "%s: IDX element type 0x%02x is not supported (only unsigned "
                            "bytes, 0x08)", name, b[2]);
    int nd = b[3];
    if (size < 4 + 4 * (size_t)nd)
        return sc_error_set(SC_ERR_FORMAT,
                            "%s: truncated IDX file: expected %d dimension sizes, file has "
                            "%zu bytes", name, nd, size);
    uint64_t total = 1;
    for (int i = 0; i < nd; i++) {
        uint32_t d = be32(b + 4 + 4 * i);
        if (d > (uint32_t)SC_DS_MAX_SAMPLES)
            return sc_error_set(SC_ERR_FORMAT, "%s: IDX dimension %d is implausibly large (%"
                                PRIu32 ")", name, i, d);
        dims[i] = d;
        total *= d;
        if (total > SC_DS_MAX_FILE)
            return sc_error_set(SC_ERR_FORMAT, "%s: IDX data would exceed %zu bytes", name,
                                SC_DS_MAX_FILE);
    }
    size_t head = 4 + 4 * (size_t)nd;
    size_t have = size - head;
    if (have < total)
        return sc_error_set(SC_ERR_FORMAT,
                            "%s: truncated IDX file: expected %" PRIu64
                            " bytes of data, found %zu", name, total, have);
    if (have > total)
        return sc_error_set(SC_ERR_FORMAT,
                            "%s: IDX file has %zu bytes after the %" PRIu64
                            " bytes of data its header announces", name, have - total, total);
    uint8_t *out = malloc(total ? total : 1);
    if (!out)
        return sc_error_set(SC_ERR_OUT_OF_MEMORY, "%s: out of memory", name);
    memcpy(out, b + head, total);
    *ndim = nd;
    *data = out;
    return SC_OK;
}

sc_status sc_idx_parse(const uint8_t *bytes, size_t size, const char *name, int *ndim,
                       int64_t dims[4], uint8_t **data)
{
    *data = NULL;
    *ndim = 0;
    if (!sc_io_is_gzip(bytes, size))
        return idx_parse_raw(bytes, size, name, ndim, dims, data);
    uint8_t *raw;
    size_t n;
    sc_status st = sc_io_gunzip(bytes, size, sc_ds_gunzip_limit, name, &raw, &n);
    if (st != SC_OK)
        return st;
    st = idx_parse_raw(raw, n, name, ndim, dims, data);
    free(raw);
    return st;
}

sc_status sc_idx_read(const char *path, int *ndim, int64_t dims[4], uint8_t **data)
{
    uint8_t *raw;
    size_t n;
    *data = NULL;
    sc_status st = sc_ds_read_maybe_gz(path, &raw, &n);
    if (st != SC_OK)
        return st;
    st = idx_parse_raw(raw, n, path, ndim, dims, data);
    free(raw);
    return st;
}

/* ---- sources ---------------------------------------------------------- */

static const char *fashion_names[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                        "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

static int file_exists(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && !S_ISDIR(sb.st_mode);
}

/* Finds "<dir>/<part>-<kind>-<suffix>" or the "<part>-<kind>.<suffix>"
 * spelling some mirrors use, plain or .gz. */
static char *find_idx(const char *dir, const char *part, const char *kind, const char *suffix)
{
    const char *seps[2] = {"-", "."};
    const char *exts[2] = {"", ".gz"};
    for (int s = 0; s < 2; s++)
        for (int e = 0; e < 2; e++) {
            char *p = sc_strprintf("%s/%s-%s%s%s%s", dir, part, kind, seps[s], suffix, exts[e]);
            if (!p)
                return NULL;
            if (file_exists(p))
                return p;
            free(p);
        }
    return NULL;
}

static sc_status missing_file(sc_source_kind kind, const char *dir, const char *prefix,
                              const char *suffix)
{
    if (kind == SC_SOURCE_FASHION_MNIST)
        return sc_error_set(SC_ERR_IO,
                            "%s/%s-%s.gz: no such file (nor without .gz): Fashion-MNIST is "
                            "not installed there; install the Debian package "
                            "dataset-fashion-mnist (apt-get install dataset-fashion-mnist) or "
                            "pass --source-dir DIR", dir, prefix, suffix);
    return sc_error_set(SC_ERR_IO,
                        "%s/%s-%s[.gz]: no such file: put the four MNIST IDX files "
                        "(train-images-idx3-ubyte, train-labels-idx1-ubyte, "
                        "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, plain or .gz) in a "
                        "directory and pass --source-dir DIR", dir, prefix, suffix);
}

static sc_status load_part(sc_source_kind kind, const char *dir, const char *part,
                           int64_t limit, int64_t *n, int *h, int *w, uint8_t **images,
                           uint8_t **labels)
{
    *images = NULL;
    *labels = NULL;
    char *ipath = find_idx(dir, part, "images", "idx3-ubyte");
    if (!ipath) {
        char *pre = sc_strprintf("%s-images", part);
        sc_status st = missing_file(kind, dir, pre ? pre : part, "idx3-ubyte");
        free(pre);
        return st;
    }
    char *lpath = find_idx(dir, part, "labels", "idx1-ubyte");
    if (!lpath) {
        free(ipath);
        char *pre = sc_strprintf("%s-labels", part);
        sc_status st = missing_file(kind, dir, pre ? pre : part, "idx1-ubyte");
        free(pre);
        return st;
    }
    int nd_i = 0, nd_l = 0;
    int64_t di[4] = {0}, dl[4] = {0};
    sc_status st = sc_idx_read(ipath, &nd_i, di, images);
    if (st == SC_OK && nd_i != 3)
        st = sc_error_set(SC_ERR_FORMAT, "%s: expected an image IDX file (3 dimensions), found "
                          "%d dimensions", ipath, nd_i);
    if (st == SC_OK)
        st = sc_idx_read(lpath, &nd_l, dl, labels);
    if (st == SC_OK && nd_l != 1)
        st = sc_error_set(SC_ERR_FORMAT, "%s: expected a label IDX file (1 dimension), found "
                          "%d dimensions", lpath, nd_l);
    if (st == SC_OK && dl[0] != di[0])
        st = sc_error_set(SC_ERR_FORMAT, "%s has %" PRId64 " images but %s has %" PRId64
                          " labels", ipath, di[0], lpath, dl[0]);
    if (st == SC_OK && (di[1] == 0 || di[2] == 0))
        st = sc_error_set(SC_ERR_FORMAT, "%s: empty images (%" PRId64 "x%" PRId64 ")", ipath,
                          di[1], di[2]);
    if (st == SC_OK)
        for (int64_t i = 0; i < dl[0]; i++)
            if ((*labels)[i] > 9) {
                st = sc_error_set(SC_ERR_FORMAT, "%s: label %d of sample %" PRId64
                                  " is outside 0..9", lpath, (*labels)[i], i);
                break;
            }
    free(ipath);
    free(lpath);
    if (st != SC_OK) {
        free(*images);
        free(*labels);
        *images = NULL;
        *labels = NULL;
        return st;
    }
    *n = limit > 0 && limit < di[0] ? limit : di[0];
    *h = (int)di[1];
    *w = (int)di[2];
    return SC_OK;
}

sc_status sc_ds_load_idx_source(const sc_source_opts *o, sc_dataset **out)
{
    *out = NULL;
    const char *dir = o->dir;
    if (!dir) {
        if (o->kind != SC_SOURCE_FASHION_MNIST)
            return sc_error_set(SC_ERR_INVALID_ARG,
                                "mnist: no directory given: MNIST is not shipped with the "
                                "system; pass --source-dir DIR holding its four IDX files");
        dir = SC_FASHION_MNIST_DIR;
    }
    int64_t ntr = 0, nte = 0;
    int htr = 0, wtr = 0, hte = 0, wte = 0;
    uint8_t *itr = NULL, *ltr = NULL, *ite = NULL, *lte = NULL;
    sc_status st = load_part(o->kind, dir, "train", o->max_train, &ntr, &htr, &wtr, &itr, &ltr);
    if (st == SC_OK)
        st = load_part(o->kind, dir, "t10k", o->max_test, &nte, &hte, &wte, &ite, &lte);
    if (st == SC_OK && (htr != hte || wtr != wte))
        st = sc_error_set(SC_ERR_FORMAT, "%s: training images are %dx%d but test images %dx%d",
                          dir, htr, wtr, hte, wte);
    sc_dataset *d = NULL;
    if (st == SC_OK)
        st = sc_dataset_create(ntr + nte, 1, htr, wtr, 10, 1, &d);
    if (st == SC_OK) {
        size_t px = (size_t)htr * wtr;
        memcpy(d->images, itr, (size_t)ntr * px);
        memcpy(d->images + (size_t)ntr * px, ite, (size_t)nte * px);
        for (int64_t i = 0; i < ntr + nte; i++) {
            d->labels[i] = i < ntr ? ltr[i] : lte[i - ntr];
            d->split[i] = i < ntr ? SC_SPLIT_TRAIN : SC_SPLIT_TEST;
        }
        for (int k = 0; k < 10; k++) {
            d->class_names[k] = o->kind == SC_SOURCE_FASHION_MNIST
                                    ? strdup(fashion_names[k])
                                    : sc_strprintf("%d", k);
            if (!d->class_names[k])
                st = sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of memory");
        }
        if (st == SC_OK)
            st = sc_dataset_update_groups(d);
    }
    free(itr);
    free(ltr);
    free(ite);
    free(lte);
    return sc_ds_hand_over(st, d, out);
}
