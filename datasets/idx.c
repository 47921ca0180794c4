/* IDX files (MNIST, Fashion-MNIST): big-endian magic 00 00 TT NN, then NN
 * big-endian u32 dimensions, then the data. Plain or gzip-compressed. */
#include "ds_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/gz.h"
#include "spurcl/io.h"

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The header at b (the first `have` bytes of the file, or all of it when
 * have < 20, `complete`): rank, dimensions, header size and payload size. */
static sc_status idx_header(const uint8_t *b, size_t have, const char *name, int *ndim,
                            int64_t dims[4], size_t *head, uint64_t *total)
{
    if (have < 4)
        return sc_error_set(SC_ERR_FORMAT,
                            "%s: not an IDX file: %zu bytes, too short for the 4-byte magic",
                            name, have);
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
    if (have < 4 + 4 * (size_t)nd)
        return sc_error_set(SC_ERR_FORMAT,
                            "%s: truncated IDX file: expected %d dimension sizes, file has "
                            "%zu bytes", name, nd, have);
    uint64_t t = 1;
    for (int i = 0; i < nd; i++) {
        uint32_t d = be32(b + 4 + 4 * i);
        if (d > (uint32_t)SC_DS_MAX_SAMPLES)
            return sc_error_set(SC_ERR_FORMAT, "%s: IDX dimension %d is implausibly large (%"
                                PRIu32 ")", name, i, d);
        dims[i] = d;
        t *= d;
        if (t > SC_DS_MAX_FILE)
            return sc_error_set(SC_ERR_FORMAT, "%s: IDX data would exceed %zu bytes", name,
                                SC_DS_MAX_FILE);
    }
    *ndim = nd;
    *head = 4 + 4 * (size_t)nd;
    *total = t;
    return SC_OK;
}

static void dims_text(int nd, const int64_t dims[4], char *buf, size_t n)
{
    size_t l = 0;
    buf[0] = 0;
    for (int i = 0; i < nd && l < n; i++)
        l += (size_t)snprintf(buf + l, n - l, "%s%" PRId64, i ? "x" : "", dims[i]);
}

/* Charges the payload the header declares, before any of it is inflated or
 * copied. */
static sc_status charge_payload(sc_ds_budget *b, const char *name, int nd, const int64_t dims[4],
                                uint64_t bytes)
{
    char d[96], sz[32];
    dims_text(nd, dims, d, sizeof d);
    return sc_ds_budget_charge(b, bytes, "%s: the %s bytes of IDX data its header declares (%s)",
                               name, d, sc_ds_size_text(bytes, sz));
}

/* Decodes an IDX file held in memory, plain or gzip. `owned`: the caller's
 * malloc'd copy of `bytes`, which a plain file's payload may be moved into
 * (it is then handed over in *data and set to NULL). The payload returned
 * is charged to `b` (*charged bytes; release them with it). */
static sc_status idx_decode(const uint8_t *bytes, size_t size, uint8_t **owned, const char *name,
                            sc_ds_budget *b, int *ndim, int64_t dims[4], uint8_t **data,
                            uint64_t *charged)
{
    *data = NULL;
    *ndim = 0;
    *charged = 0;
    int nd;
    size_t head;
    uint64_t total;
    sc_status st;
    if (!sc_io_is_gzip(bytes, size)) {
        if ((st = idx_header(bytes, size, name, &nd, dims, &head, &total)) != SC_OK)
            return st;
        size_t have = size - head;
        if (have < total)
            return sc_error_set(SC_ERR_FORMAT,
                                "%s: truncated IDX file: expected %" PRIu64
                                " bytes of data, found %zu", name, total, have);
        if (have > total)
            return sc_error_set(SC_ERR_FORMAT,
                                "%s: IDX file has %zu bytes after the %" PRIu64
                                " bytes of data its header announces", name, have - total, total);
        uint8_t *out;
        if (owned && *owned) {
            /* the file's own buffer (already charged as the file) */
            out = *owned;
            *owned = NULL;
            memmove(out, out + head, total);
        } else {
            if ((st = charge_payload(b, name, nd, dims, total + 1)) != SC_OK)
                return st;
            out = malloc(total ? total : 1);
            if (!out) {
                sc_ds_budget_release(b, total + 1);
                return sc_error_set(SC_ERR_OUT_OF_MEMORY, "%s: out of memory", name);
            }
            memcpy(out, bytes + head, total);
            *charged = total + 1;
        }
        *ndim = nd;
        *data = out;
        return SC_OK;
    }
    /* gzip: inflate the header alone, then exactly what it declares. */
    uint8_t hdr[20];
    size_t got = 0;
    if ((st = sc__gunzip_into(bytes, size, name, hdr, sizeof hdr, true, &got, NULL)) != SC_OK)
        return st;
    if ((st = idx_header(hdr, got, name, &nd, dims, &head, &total)) != SC_OK)
        return st;
    if (head + total > sc_ds_gunzip_limit)
        return sc_error_set(SC_ERR_FORMAT, "%s: gzip stream decompresses to more than %zu bytes",
                            name, sc_ds_gunzip_limit);
    uint64_t need = head + total + 1;
    if ((st = charge_payload(b, name, nd, dims, need)) != SC_OK)
        return st;
    uint8_t *out = malloc((size_t)need);
    if (!out) {
        sc_ds_budget_release(b, need);
        return sc_error_set(SC_ERR_OUT_OF_MEMORY, "%s: out of memory", name);
    }
    bool more = false;
    st = sc__gunzip_into(bytes, size, name, out, (size_t)(head + total), false, &got, &more);
    if (st == SC_OK && got < head + total)
        st = sc_error_set(SC_ERR_FORMAT,
                          "%s: truncated IDX file: expected %" PRIu64
                          " bytes of data, found %zu", name, total, got - head);
    if (st == SC_OK && more)
        st = sc_error_set(SC_ERR_FORMAT,
                          "%s: IDX file has more bytes after the %" PRIu64
                          " bytes of data its header announces", name, total);
    if (st != SC_OK) {
        free(out);
        sc_ds_budget_release(b, need);
        return st;
    }
    memmove(out, out + head, total);
    *ndim = nd;
    *data = out;
    *charged = need;
    return SC_OK;
}

/* Reads and decodes an IDX file, charging `b`; the payload's charge
 * (*charged) stays with it. */
static sc_status idx_read_charged(const char *path, sc_ds_budget *b, int *ndim, int64_t dims[4],
                                  uint8_t **data, uint64_t *charged)
{
    uint8_t *raw;
    size_t n;
    *data = NULL;
    *charged = 0;
    sc_status st = sc_ds_read_file_charged(b, path, SC_DS_MAX_FILE, &raw, &n);
    if (st != SC_OK)
        return st;
    uint8_t *owned = raw;
    st = idx_decode(raw, n, &owned, path, b, ndim, dims, data, charged);
    if (owned) {
        free(owned);
        sc_ds_budget_release(b, n);
    } else {
        *charged = n; /* the payload lives in the file's buffer and charge */
    }
    return st;
}

sc_status sc_idx_parse(const uint8_t *bytes, size_t size, const char *name, int *ndim,
                       int64_t dims[4], uint8_t **data)
{
    sc_ds_budget b;
    sc_ds_budget_init(&b, 0);
    uint64_t charged;
    sc_status st = idx_decode(bytes, size, NULL, name, &b, ndim, dims, data, &charged);
    sc_ds_budget_destroy(&b);
    return st;
}

sc_status sc_idx_read(const char *path, int *ndim, int64_t dims[4], uint8_t **data)
{
    sc_ds_budget b;
    sc_ds_budget_init(&b, 0);
    uint64_t charged;
    sc_status st = idx_read_charged(path, &b, ndim, dims, data, &charged);
    sc_ds_budget_destroy(&b);
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

/* One part (train or t10k): its images and labels, charged to `b`
 * (charged[0] and charged[1] bytes, released by the caller with them). */
static sc_status load_part(sc_source_kind kind, const char *dir, const char *part,
                           int64_t limit, sc_ds_budget *b, int64_t *n, int *h, int *w,
                           uint8_t **images, uint8_t **labels, uint64_t charged[2])
{
    *images = NULL;
    *labels = NULL;
    charged[0] = charged[1] = 0;
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
    sc_status st = idx_read_charged(ipath, b, &nd_i, di, images, &charged[0]);
    if (st == SC_OK && nd_i != 3)
        st = sc_error_set(SC_ERR_FORMAT, "%s: expected an image IDX file (3 dimensions), found "
                          "%d dimensions", ipath, nd_i);
    if (st == SC_OK)
        st = idx_read_charged(lpath, b, &nd_l, dl, labels, &charged[1]);
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
        sc_ds_budget_release(b, charged[0] + charged[1]);
        charged[0] = charged[1] = 0;
        return st;
    }
    *n = limit > 0 && limit < di[0] ? limit : di[0];
    *h = (int)di[1];
    *w = (int)di[2];
    return SC_OK;
}

sc_status sc_ds_load_idx_source(const sc_source_opts *o, sc_ds_budget *b, sc_dataset **out)
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
    uint64_t ctr[2] = {0, 0}, cte[2] = {0, 0};
    sc_status st = load_part(o->kind, dir, "train", o->max_train, b, &ntr, &htr, &wtr, &itr,
                             &ltr, ctr);
    if (st == SC_OK)
        st = load_part(o->kind, dir, "t10k", o->max_test, b, &nte, &hte, &wte, &ite, &lte, cte);
    if (st == SC_OK && (htr != hte || wtr != wte))
        st = sc_error_set(SC_ERR_FORMAT, "%s: training images are %dx%d but test images %dx%d",
                          dir, htr, wtr, hte, wte);
    sc_dataset *d = NULL;
    if (st == SC_OK)
        st = sc_ds_create_charged(b, dir, ntr + nte, 1, htr, wtr, 10, 1, &d);
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
    sc_ds_budget_release(b, ctr[0] + ctr[1] + cte[0] + cte[1]);
    if (st != SC_OK && d)
        sc_ds_budget_release(b, sc_ds_footprint(d->n, d->c, d->h, d->w, d->num_classes,
                                                d->num_attrs));
    return sc_ds_hand_over(st, d, out);
}
