/* Image folders: PNG files listed in a metadata CSV (path,label,attr,split),
 * as Waterbirds and CelebA exports are laid out. */
#include "ds_internal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

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

typedef struct png_job {
    const sc_source_opts *o;
    const sc_csv_rows *rows;
    const int64_t *keep;   /* row index of each output sample */
    char **paths;          /* resolved paths */
    sc_dataset *d;
} png_job;

static sc_status load_range(void *vctx, int64_t begin, int64_t end)
{
    png_job *j = vctx;
    sc_dataset *d = j->d;
    int C = d->c, H = d->h, W = d->w;
    for (int64_t i = begin; i < end; i++) {
        const char *path = j->paths[i];
        uint8_t *px = NULL;
        int w, h, c;
        sc_status st = sc_png_read(path, C, &px, &w, &h, &c);
        if (st != SC_OK)
            return st;
        uint8_t *src = px, *rs = NULL;
        if (w != W || h != H) {
            if (!j->o->resize) {
                free(px);
                return sc_error_set(SC_ERR_FORMAT,
                                    "%s: image is %dx%d but the first image is %dx%d; pass "
                                    "--resize N to bring all images to NxN", path, w, h, W, H);
            }
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

sc_status sc_ds_load_pngdir_source(const sc_source_opts *o, sc_dataset **out)
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
    sc_dataset *d = NULL;
    int64_t n = 0;
    sc_status st = SC_OK;
    if (!csv || !base) {
        st = sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of memory");
        goto done;
    }
    st = sc_io_read_file(csv, (size_t)1 << 30, &text, &size);
    if (st != SC_OK)
        goto done;
    st = sc_csv_parse((const char *)text, size, csv, &rows);
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
    paths = calloc((size_t)n, sizeof *paths);
    if (!paths) {
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
    int H = o->resize, W = o->resize;
    if (!o->resize) {
        uint8_t *px;
        int c;
        st = sc_png_read(paths[0], C, &px, &W, &H, &c);
        if (st != SC_OK)
            goto done;
        free(px);
    }
    st = sc_dataset_create(n, C, H, W, max_label + 1, max_attr + 1, &d);
    if (st != SC_OK)
        goto done;
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
    png_job job = {o, &rows, keep, paths, d};
    st = sc_ds_parallel_for(n, 0, load_range, &job);
    if (st == SC_OK)
        st = sc_dataset_update_groups(d);
done:
    if (paths)
        for (int64_t i = 0; i < n; i++)
            free(paths[i]);
    free(paths);
    free(keep);
    sc_csv_rows_free(&rows);
    free(text);
    free(base);
    free(csv);
    return sc_ds_hand_over(st, d, out);
}
