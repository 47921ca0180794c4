/* Image folders: PNG files listed in a metadata CSV (path,label,attr,split),
 * as Waterbirds and CelebA exports are laid out. */
#include "ds_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spurcl/io.h"

/* Area-weighted resampling of an interleaved uint8 image (box filter with
 * fractional coverage, separable): each output pixel averages the source
 * rectangle it covers. */
static void resize_area(const uint8_t *in, int iw, int ih, int c, uint8_t *out, int ow, int oh,
                        float *tmp /* oh * iw * c */)
{
    double sy = (double)ih / oh, sx = (double)iw / ow;
    /* vertical pass: tmp[oy][x] */
    for (int oy = 0; oy < oh; oy++) {
        double y0 = oy * sy, y1 = (oy + 1) * sy;
        for (int x = 0; x < iw * c; x++) {
            double acc = 0;
            for (int y = (int)y0; y < ih && y < y1; y++) {
                double lo = y > y0 ? y : y0, hi = y + 1 < y1 ? y + 1 : y1;
                acc += (hi - lo) * in[(size_t)y * iw * c + x];
            }
            tmp[(size_t)oy * iw * c + x] = (float)(acc / sy);
        }
    }
    for (int oy = 0; oy < oh; oy++)
        for (int ox = 0; ox < ow; ox++) {
            double x0 = ox * sx, x1 = (ox + 1) * sx;
            for (int ch = 0; ch < c; ch++) {
                double acc = 0;
                for (int x = (int)x0; x < iw && x < x1; x++) {
                    double lo = x > x0 ? x : x0, hi = x + 1 < x1 ? x + 1 : x1;
                    acc += (hi - lo) * tmp[(size_t)oy * iw * c + (size_t)x * c + ch];
                }
                double v = acc / sx + 0.5;
                out[((size_t)oy * ow + ox) * c + ch] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
        }
}

/* What a PNG's header declares, read before anything is decoded. */
typedef struct png_head {
    uint32_t w, h;
    int nc;          /* channels libpng decodes to (alpha from tRNS included) */
    uint64_t file;   /* bytes of the file */
    uint64_t need;   /* bytes its decode (and resize) holds at its peak */
} png_head;

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Reads the signature and IHDR (33 bytes) of `path`. The messages are
 * those of sc_io_read_file and the PNG decoder for the same faults. */
static sc_status png_peek(const char *path, png_head *ph)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return sc_error_set(SC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        uint8_t *x;
        size_t n;
        sc_status st = sc_io_read_file(path, 1, &x, &n); /* refuses it, with the reason */
        if (st == SC_OK) {
            free(x);
            st = sc_error_set(SC_ERR_IO, "%s: not a regular file", path);
        }
        return st;
    }
    uint8_t b[33];
    ssize_t got = pread(fd, b, sizeof b, 0);
    int e = errno;
    close(fd);
    if (got < 0)
        return sc_error_set(SC_ERR_IO, "%s: read error: %s", path, strerror(e));
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (got < 8 || memcmp(b, sig, 8) != 0)
        return sc_error_set(SC_ERR_FORMAT, "%s: not a PNG file (bad signature)", path);
    if (got < 33 || be32(b + 8) != 13 || memcmp(b + 12, "IHDR", 4) != 0)
        return sc_error_set(SC_ERR_FORMAT, "%s: corrupt or truncated PNG: no IHDR chunk at the "
                            "start", path);
    ph->w = be32(b + 16);
    ph->h = be32(b + 20);
    if (ph->w < 1 || ph->h < 1 || ph->w > SC_PNG_MAX_DIM || ph->h > SC_PNG_MAX_DIM)
        return sc_error_set(SC_ERR_FORMAT, "%s: corrupt or truncated PNG: image of %" PRIu32
                            "x%" PRIu32 " pixels (at most %d a side)", path, ph->w, ph->h,
                            SC_PNG_MAX_DIM);
    /* grey: 1 (2 with tRNS), grey+alpha 2, RGB 3 (4 with tRNS), palette 3 (4
     * with tRNS), RGBA 4; an invalid type is the decoder's to name */
    switch (b[25]) {
    case 0: ph->nc = 2; break;
    case 4: ph->nc = 2; break;
    default: ph->nc = 4; break;
    }
    ph->file = (uint64_t)sb.st_size;
    return SC_OK;
}

/* The most an image's decode holds at once: the file, libpng's rows and
 * the decoded pixels, then the pixels converted to C channels (and, resized
 * to W x H, the resized copy and the float row buffer). */
static uint64_t png_need(const png_head *ph, int C, int W, int H)
{
    uint64_t px = (uint64_t)ph->w * ph->h;
    uint64_t rowbytes = (uint64_t)ph->w * ph->nc;
    uint64_t decode = ph->file + px * ph->nc + 8 * (uint64_t)ph->h + 2 * rowbytes + (64 << 10) +
                      px * C;
    uint64_t resize = 0;
    if (ph->w != (uint32_t)W || ph->h != (uint32_t)H)
        resize = px * C + (uint64_t)W * H * C + (uint64_t)H * ph->w * C * sizeof(float);
    return decode > resize ? decode : resize;
}

typedef struct png_job {
    const sc_source_opts *o;
    const sc_csv_rows *rows;
    const int64_t *keep;   /* row index of each output sample */
    char **paths;          /* resolved paths */
    const png_head *heads; /* what each header declared */
    const char *csv;
    sc_ds_budget *b;
    sc_dataset *d;
} png_job;

static sc_status take_image(png_job *j, int64_t i)
{
    const png_head *ph = &j->heads[i];
    char sz[32];
    return sc_ds_budget_take(j->b, ph->need, "%s line %" PRId64 " (%s): decoding its %" PRIu32
                             "x%" PRIu32 "x%d image (%s)", j->csv, j->rows->lines[j->keep[i]],
                             j->rows->paths[j->keep[i]], ph->w, ph->h, ph->nc,
                             sc_ds_size_text(ph->need, sz));
}

static sc_status load_one(png_job *j, int64_t i)
{
    sc_dataset *d = j->d;
    int C = d->c, H = d->h, W = d->w;
    const char *path = j->paths[i];
    const png_head *ph = &j->heads[i];
    uint8_t *file = NULL, *px = NULL;
    size_t fsize;
    int w, h, c;
    /* no more than was charged: a file that grew since it was looked at is
     * refused */
    sc_status st = sc_io_read_file(path, (size_t)ph->file, &file, &fsize);
    if (st != SC_OK)
        return st;
    if (fsize < 33 || be32(file + 16) != ph->w || be32(file + 20) != ph->h) {
        free(file);
        return sc_error_set(SC_ERR_IO, "%s: the file changed while the data set was built",
                            path);
    }
    st = sc_png_read_memory(file, fsize, path, C, &px, &w, &h, &c);
    free(file);
    if (st != SC_OK)
        return st;
    uint8_t *src = px, *rs = NULL;
    if (w != W || h != H) {
        rs = malloc((size_t)W * H * C);
        float *tmp = malloc((size_t)H * w * C * sizeof *tmp);
        if (!rs || !tmp) {
            free(rs);
            free(tmp);
            free(px);
            return sc_error_set(SC_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
        }
        resize_area(px, w, h, C, rs, W, H, tmp);
        free(tmp);
        src = rs;
    }
    uint8_t *dst = d->images + (size_t)i * C * H * W;
    for (int ch = 0; ch < C; ch++)
        for (int p = 0; p < H * W; p++)
            dst[(size_t)ch * H * W + p] = src[(size_t)p * C + ch];
    free(rs);
    free(px);
    return SC_OK;
}

static sc_status load_range(void *vctx, int64_t begin, int64_t end)
{
    png_job *j = vctx;
    for (int64_t i = begin; i < end; i++) {
        /* waits while other threads decode, if their images and this one do
         * not fit in the budget together */
        sc_status st = take_image(j, i);
        if (st != SC_OK)
            return st;
        st = load_one(j, i);
        sc_ds_budget_give(j->b, j->heads[i].need);
        if (st != SC_OK)
            return st;
    }
    return SC_OK;
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    char *d = malloc((size_t)(slash - path) + 1);
    if (d) {
        memcpy(d, path, (size_t)(slash - path));
        d[slash - path] = 0;
    }
    return d;
}

sc_status sc_ds_load_pngdir_source(const sc_source_opts *o, sc_ds_budget *b, sc_dataset **out)
{
    *out = NULL;
    if (!o->csv && !o->dir)
        return sc_error_set(SC_ERR_INVALID_ARG,
                            "pngdir: pass --source-dir DIR (with DIR/metadata.csv) or --csv FILE");
    int C = o->channels ? o->channels : 3;
    if (C != 1 && C != 3)
        return sc_error_set(SC_ERR_INVALID_ARG, "pngdir: channels must be 1 or 3, not %d", C);
    if (o->resize < 0 || o->resize > 4096)
        return sc_error_set(SC_ERR_INVALID_ARG, "pngdir: --resize must be in [1, 4096]");
    char *csv = o->csv ? strdup(o->csv) : sc_strprintf("%s/metadata.csv", o->dir);
    char *base = csv ? dir_of(csv) : NULL;
    uint8_t *text = NULL;
    size_t size = 0;
    sc_csv_rows rows = {0};
    int64_t *keep = NULL;
    char **paths = NULL;
    png_head *heads = NULL;
    sc_dataset *d = NULL;
    int64_t n = 0;
    uint64_t held = 0; /* charged here: the rows, the paths, the headers */
    sc_status st = SC_OK;
    char sz[32];
    if (!csv || !base) {
        st = sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of memory");
        goto done;
    }
    st = sc_ds_read_file_charged(b, csv, (size_t)1 << 30, &text, &size);
    if (st != SC_OK)
        goto done;
    /* the parsed rows: a few pointers and numbers and the path each */
    uint64_t rows_bytes = 2 * (uint64_t)size + 64 * ((uint64_t)size / 8 + 1);
    st = sc_ds_budget_charge(b, rows_bytes, "%s: its rows (%s)", csv,
                             sc_ds_size_text(rows_bytes, sz));
    if (st == SC_OK) {
        held += rows_bytes;
        st = sc_csv_parse((const char *)text, size, csv, &rows);
    }
    free(text);
    text = NULL;
    sc_ds_budget_release(b, size);
    if (st != SC_OK)
        goto done;
    keep = malloc((size_t)rows.n * sizeof *keep);
    if (!keep) {
        st = sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of memory");
        goto done;
    }
    int64_t seen[SC_SPLIT_COUNT] = {0};
    int max_label = 0, max_attr = 0;
    for (int64_t i = 0; i < rows.n; i++) {
        int s = rows.splits[i];
        int64_t lim = s == SC_SPLIT_TEST ? o->max_test : o->max_train;
        if (lim > 0 && seen[s] >= lim)
            continue;
        seen[s]++;
        keep[n++] = i;
        if (rows.labels[i] > max_label)
            max_label = rows.labels[i];
        if (rows.attrs[i] > max_attr)
            max_attr = rows.attrs[i];
    }
    uint64_t tables = (uint64_t)n * (sizeof *paths + sizeof *heads + strlen(base) + 34) + size;
    if ((st = sc_ds_budget_charge(b, tables, "%s: the paths and headers of its %" PRId64
                                  " images (%s)", csv, n, sc_ds_size_text(tables, sz))) != SC_OK)
        goto done;
    held += tables;
    paths = calloc((size_t)n, sizeof *paths);
    heads = calloc((size_t)n, sizeof *heads);
    if (!paths || !heads) {
        st = sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of memory");
        goto done;
    }
    for (int64_t i = 0; i < n; i++) {
        const char *p = rows.paths[keep[i]];
        paths[i] = p[0] == '/' ? strdup(p) : sc_strprintf("%s/%s", base, p);
        if (!paths[i]) {
            st = sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of memory");
            goto done;
        }
    }
    /* Every header before any image is decoded: the sizes they declare
     * decide the data set's shape (without --resize, the first image's) and
     * what each decode holds. */
    for (int64_t i = 0; i < n; i++)
        if ((st = png_peek(paths[i], &heads[i])) != SC_OK)
            goto done;
    int H = o->resize, W = o->resize;
    if (!o->resize) {
        W = (int)heads[0].w;
        H = (int)heads[0].h;
        for (int64_t i = 1; i < n; i++)
            if (heads[i].w != (uint32_t)W || heads[i].h != (uint32_t)H) {
                st = sc_error_set(SC_ERR_FORMAT,
                                  "%s: image is %" PRIu32 "x%" PRIu32 " but the first image is "
                                  "%dx%d; pass --resize N to bring all images to NxN", paths[i],
                                  heads[i].w, heads[i].h, W, H);
                goto done;
            }
    }
    for (int64_t i = 0; i < n; i++)
        heads[i].need = png_need(&heads[i], C, W, H);
    st = sc_ds_create_charged(b, csv, n, C, H, W, max_label + 1, max_attr + 1, &d);
    if (st != SC_OK)
        goto done;
    png_job job = {o, &rows, keep, paths, heads, csv, b, NULL};
    /* Fail fast: the first image (in CSV order) whose decode cannot fit
     * beside the data set is named before anything is decoded. */
    for (int64_t i = 0; i < n; i++) {
        if ((st = take_image(&job, i)) != SC_OK)
            goto done;
        sc_ds_budget_give(b, heads[i].need);
    }
    for (int64_t i = 0; i < n; i++) {
        d->labels[i] = rows.labels[keep[i]];
        d->attrs[i] = rows.attrs[keep[i]];
        d->split[i] = rows.splits[keep[i]];
    }
    for (int k = 0; k <= max_label && st == SC_OK; k++)
        if (!(d->class_names[k] = sc_strprintf("%d", k)))
            st = sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of memory");
    for (int k = 0; k <= max_attr && st == SC_OK; k++)
        if (!(d->attr_names[k] = sc_strprintf("attr %d", k)))
            st = sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of memory");
    if (st != SC_OK)
        goto done;
    job.d = d;
    st = sc_ds_parallel_for(n, 0, load_range, &job);
    if (st == SC_OK)
        st = sc_dataset_update_groups(d);
done:
    if (paths)
        for (int64_t i = 0; i < n; i++)
            free(paths[i]);
    free(paths);
    free(heads);
    free(keep);
    sc_csv_rows_free(&rows);
    free(text);
    free(base);
    free(csv);
    sc_ds_budget_release(b, held);
    if (st != SC_OK && d)
        sc_ds_budget_release(b, sc_ds_footprint(d->n, d->c, d->h, d->w, d->num_classes,
                                                d->num_attrs));
    return sc_ds_hand_over(st, d, out);
}
