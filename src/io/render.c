/* Saliency grids (sc_render_saliency_png, include/spurcl/render.h), drawn
 * with the library's renderer: the labelled grid, heat overlay and colour
 * bar of io/image.h. */
#include "spurcl/render.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "io/image.h"

#define MAX_METHODS 16

static const sc_rgb RIGHT = {20, 125, 50}, WRONG = {200, 30, 30};

/* |m| summed over channels, per pixel, into sum[plane]. */
static void abs_channel_sum(const float *m, int c, size_t plane, float *sum)
{
    for (size_t p = 0; p < plane; p++) {
        double s = 0;
        for (int ch = 0; ch < c; ch++)
            s += fabs(m[(size_t)ch * plane + p]);
        sum[p] = (float)s;
    }
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* The panel's scale: the 99th percentile (nearest rank, over the finite
 * values) of v[0..n), or the maximum when that is 0; 0 when every value is
 * 0 or none is finite. tmp has room for n floats. */
static double robust_scale(const float *v, size_t n, float *tmp)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(v[i]))
            tmp[m++] = v[i];
    if (m == 0)
        return 0;
    qsort(tmp, m, sizeof *tmp, cmp_float);
    size_t k = (size_t)ceil(0.99 * (double)m);
    double q = tmp[k > 0 ? k - 1 : 0], mx = tmp[m - 1];
    return q > 0 ? q : mx > 0 ? mx : 0;
}

/* "PREFIX<name of v>" into buf: the name when there is one, else the
 * number; "PREFIX?" for a negative value (none given). */
static const char *named(char *buf, size_t size, const char *prefix, const char *const *names,
                         int count, int32_t v)
{
    if (v < 0)
        snprintf(buf, size, "%s?", prefix);
    else if (names && v < count && names[v])
        snprintf(buf, size, "%s%s", prefix, names[v]);
    else
        snprintf(buf, size, "%s%d", prefix, (int)v);
    return buf;
}

static int max_int(int a, int b)
{
    return a > b ? a : b;
}

static const char *const LEGEND[3] = {
    "colour: |saliency| summed over channels, divided by s and clipped at 1 (inferno map);",
    "s = that panel's 99th percentile of |saliency|, so one extreme pixel cannot turn the rest "
    "black",
    "drawn over the image in grey, opacity rising with the value. y= label, a= attribute, "
    "p= prediction (red frame: wrong)",
};
enum { BAR_W = 160, BAR_H = 12 };

sc_status sc_render_saliency_png(const char *path, const sc_saliency_figure *f)
{
    if (!f || f->n < 1 || f->c < 1 || f->h < 1 || f->w < 1 || f->nmethods < 0 ||
        f->nmethods > MAX_METHODS || f->scale < 1 || f->scale > 32 || !f->images ||
        (f->nmethods > 0 && !f->maps) || f->h > 4096 || f->w > 4096)
        return sc_error_set(SC_ERR_INVALID_ARG, "saliency picture: invalid sizes (%d samples, "
                            "%d methods, scale %d)", f ? f->n : 0, f ? f->nmethods : 0,
                            f ? f->scale : 0);
    for (int k = 0; k < f->nmethods; k++)
        if (!f->maps[k])
            return sc_error_set(SC_ERR_INVALID_ARG, "saliency picture: no maps for method %d", k);
    int big = f->scale >= 3 ? 2 : 1, small = 1;
    int img_w = f->w * f->scale, img_h = f->h * f->scale;
    char buf[160];
    /* captions: as wide as the widest, up to 1.5 images */
    int cap_w = 0;
    for (int i = 0; i < f->n; i++) {
        int32_t y = f->labels ? f->labels[i] : -1;
        cap_w = max_int(cap_w, sc_text_width(named(buf, sizeof buf, "y=", f->class_names,
                                                   f->num_classes, y), small));
        if (f->attrs)
            cap_w = max_int(cap_w, sc_text_width(named(buf, sizeof buf, "a=", f->attr_names,
                                                       f->num_attrs, f->attrs[i]), small));
        for (int k = 0; k < f->nmethods; k++)
            if (f->preds && f->preds[k])
                cap_w = max_int(cap_w, sc_text_width(named(buf, sizeof buf, "p=", f->class_names,
                                                           f->num_classes, f->preds[k][i]),
                                                     small));
    }
    int label_w = sc_text_width("image", big);
    if (f->labels && f->preds) { /* "n/n right" under a method's name */
        snprintf(buf, sizeof buf, "%d/%d right", f->n, f->n);
        label_w = max_int(label_w, sc_text_width(buf, big));
    }
    for (int k = 0; k < f->nmethods; k++)
        if (f->methods && f->methods[k])
            label_w = max_int(label_w, sc_text_width(f->methods[k], big));
    label_w = label_w > 24 * SC_FONT_ADVANCE * big ? 24 * SC_FONT_ADVANCE * big
                                                   : label_w; /* longer names are cut */
    int legend_w = 0;
    for (int i = 0; i < 3; i++)
        legend_w = max_int(legend_w, sc_text_width(LEGEND[i], small));
    int foot_text_h = sc_text_height(small);
    sc_grid g = {
        .rows = 1 + f->nmethods, .cols = f->n,
        .cell_w = img_w, .cell_h = img_h,
        .col_w = cap_w < img_w + img_w / 2 ? cap_w : img_w + img_w / 2, .captions = 2,
        .label_w = label_w, .label_lines = 2, .title_lines = 1,
        .footer_h = 10 + max_int(BAR_H + 5 + foot_text_h, 3 * sc_line_height(small)),
        .title_scale = big, .label_scale = big, .caption_scale = small,
    };
    g.min_w = BAR_W + 24 + legend_w;
    SC_TRY(sc_grid_layout(&g, "saliency picture"));
    size_t plane = (size_t)f->h * (size_t)f->w, per = (size_t)f->c * plane;
    float *sum = malloc(2 * plane * sizeof *sum);
    if (!sum)
        return sc_oom("saliency picture");
    sc_canvas cv;
    sc_status st = sc_canvas_init(&cv, g.width, g.height, SC_FIG_PAPER);
    if (st != SC_OK) {
        free(sum);
        return st;
    }
    sc_grid_title(&cv, &g, 0, f->title ? f->title : "input-gradient saliency", SC_FIG_INK);
    sc_grid_label(&cv, &g, 0, 0, "image", SC_FIG_INK);
    for (int i = 0; i < f->n; i++) {
        int x, y;
        const uint8_t *img = f->images + (size_t)i * per;
        sc_grid_cell(&g, 0, i, &x, &y);
        sc_canvas_blit(&cv, x, y, img, f->c, f->h, f->w, f->scale);
        int32_t label = f->labels ? f->labels[i] : -1;
        sc_grid_caption(&cv, &g, 0, i, 0,
                        named(buf, sizeof buf, "y=", f->class_names, f->num_classes, label),
                        SC_FIG_INK);
        if (f->attrs)
            sc_grid_caption(&cv, &g, 0, i, 1,
                            named(buf, sizeof buf, "a=", f->attr_names, f->num_attrs, f->attrs[i]),
                            SC_FIG_MUTED);
    }
    for (int k = 0; k < f->nmethods; k++) {
        int row = 1 + k, right = 0, known = 0;
        const int32_t *pred = f->preds ? f->preds[k] : NULL;
        for (int i = 0; i < f->n; i++) {
            int x, y;
            sc_grid_cell(&g, row, i, &x, &y);
            abs_channel_sum(f->maps[k] + (size_t)i * per, f->c, plane, sum);
            double s = robust_scale(sum, plane, sum + plane);
            sc_canvas_heat_overlay(&cv, x, y, f->images + (size_t)i * per, f->c, sum, f->h,
                                   f->w, s, f->scale);
            int32_t label = f->labels ? f->labels[i] : -1;
            if (pred) {
                bool ok = label >= 0 && pred[i] == label;
                known += label >= 0;
                right += ok;
                if (label >= 0 && !ok)
                    sc_grid_frame(&cv, &g, row, i, g.gap / 2 > 3 ? 3 : g.gap / 2, WRONG);
                sc_grid_caption(&cv, &g, row, i, 0,
                                named(buf, sizeof buf, "p=", f->class_names, f->num_classes,
                                      pred[i]),
                                label < 0 ? SC_FIG_INK : ok ? RIGHT : WRONG);
            }
            snprintf(buf, sizeof buf, "s=%.2g", s);
            sc_grid_caption(&cv, &g, row, i, 1, buf, SC_FIG_MUTED);
        }
        snprintf(buf, sizeof buf, "method %d", k + 1);
        sc_grid_label(&cv, &g, row, 0, f->methods && f->methods[k] ? f->methods[k] : buf,
                      SC_FIG_INK);
        if (known > 0) {
            snprintf(buf, sizeof buf, "%d/%d right", right, known);
            sc_grid_label(&cv, &g, row, 1, buf, SC_FIG_MUTED);
        }
    }
    /* the footer: colour bar on the left, the legend beside it */
    int fy = g.foot_y + 10, fx = g.margin;
    const char *ticks[3] = {"0", "0.5", "1 = s"};
    sc_canvas_colorbar(&cv, fx + 1, fy + 1, BAR_W, BAR_H, ticks, 3, small, SC_FIG_INK);
    for (int i = 0; i < 3; i++)
        sc_canvas_text(&cv, fx + BAR_W + 24, fy + i * sc_line_height(small), LEGEND[i], small,
                       SC_FIG_MUTED);
    st = sc_canvas_write_png(&cv, path);
    sc_canvas_free(&cv);
    free(sum);
    return st;
}
