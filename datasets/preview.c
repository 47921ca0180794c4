/* A PNG grid of examples (sc_dataset_preview, include/spurcl/data.h): one
 * row per group, labelled with its class and attribute names and its count,
 * the first samples of the group as columns; drawn with the labelled grid
 * of the library's renderer (io/image.h), as the saliency picture is. */
#include "ds_internal.h"

#include <stdio.h>
#include <stdlib.h>

#include "io/image.h"

/* The figure wraps into side-by-side blocks of rows once it would be
 * taller than this. */
#define PREVIEW_MAX_H 2000

static const char *name_of(char *const *names, int64_t i, char *buf, size_t size)
{
    if (names && names[i])
        return names[i];
    snprintf(buf, size, "%lld", (long long)i);
    return buf;
}

/* Row g's label: "y=<class>" over "a=<attribute>, n=<count>". */
static void group_label(const sc_dataset *d, int64_t g, int line, int64_t count, char *buf,
                        size_t size)
{
    char b[24];
    if (line == 0)
        snprintf(buf, size, "y=%s", name_of(d->class_names, g / d->num_attrs, b, sizeof b));
    else
        snprintf(buf, size, "a=%s, n=%lld", name_of(d->attr_names, g % d->num_attrs, b, sizeof b),
                 (long long)count);
}

/* Rows per block: 0 (one block) when the grid is at most PREVIEW_MAX_H
 * tall; else, of the splits into blocks of whole classes (num_attrs rows
 * each; of single rows when one class is taller) that fit, the one with
 * the smallest picture, fewer blocks on a tie; one block when no split
 * fits. */
static int block_rows(const sc_grid *g0, int G, int A)
{
    sc_grid g = *g0;
    g.block_rows = 0;
    if (sc_grid_layout(&g, "preview") != SC_OK || g.height <= PREVIEW_MAX_H)
        return 0;
    int step = A, best = 0;
    int64_t best_area = -1;
    g.block_rows = A;
    if (sc_grid_layout(&g, "preview") != SC_OK || g.height > PREVIEW_MAX_H)
        step = 1;
    for (int r = step; r < G; r += step) {
        g.block_rows = r;
        if (sc_grid_layout(&g, "preview") != SC_OK || g.height > PREVIEW_MAX_H)
            break;
        int64_t area = (int64_t)g.width * g.height;
        if (best_area < 0 || area <= best_area) {
            best_area = area;
            best = r;
        }
    }
    return best;
}

sc_status sc_dataset_preview(const sc_dataset *d, sc_split split, int per_group, int scale,
                             const char *path)
{
    if (per_group < 1 || per_group > 256)
        return sc_error_set(SC_ERR_INVALID_ARG, "samples per group must be in 1..256, got %d",
                            per_group);
    if (scale < 1 || scale > 32)
        return sc_error_set(SC_ERR_INVALID_ARG, "scale must be in 1..32, got %d", scale);
    int64_t G = (int64_t)d->num_classes * d->num_attrs;
    if (G > 4096)
        return sc_error_set(SC_ERR_INVALID_ARG, "too many groups (%lld) for a preview",
                            (long long)G);
    int64_t *count = calloc((size_t)G, sizeof *count);
    int *filled = calloc((size_t)G, sizeof *filled);
    if (!count || !filled) {
        free(count);
        free(filled);
        return sc_oom("preview");
    }
    for (int64_t i = 0; i < d->n; i++)
        if (d->split[i] == (int32_t)split && d->groups[i] >= 0 && d->groups[i] < G)
            count[d->groups[i]]++;
    /* text: the labels at scale 2 where a row is two such lines high, else
     * 1; the title 2 */
    int fs = d->h * scale >= 2 * sc_line_height(2) ? 2 : 1;
    char label[96], title[160], foot[160];
    int label_w = 0;
    for (int64_t g = 0; g < G; g++)
        for (int line = 0; line < 2; line++) {
            group_label(d, g, line, count[g], label, sizeof label);
            int tw = sc_text_width(label, fs);
            label_w = tw > label_w ? tw : label_w;
        }
    label_w = label_w > 24 * SC_FONT_ADVANCE * fs ? 24 * SC_FONT_ADVANCE * fs : label_w;
    snprintf(title, sizeof title, "%s split: first %d images per group", sc_split_name(split),
             per_group);
    snprintf(foot, sizeof foot, "rows: the %lld groups (class y x attribute a: %d x %d), n = the "
             "group's images in the split; grey cells: no more images", (long long)G,
             d->num_classes, d->num_attrs);
    sc_grid g = {
        .rows = (int)G, .cols = per_group, .cell_w = d->w * scale, .cell_h = d->h * scale,
        .label_w = label_w, .label_lines = 2, .title_lines = 1, .footer_h = 6 + sc_text_height(1),
        .min_w = sc_text_width(title, 2) > sc_text_width(foot, 1) ? sc_text_width(title, 2)
                                                                   : sc_text_width(foot, 1),
        .title_scale = 2, .label_scale = fs,
        .caption_scale = 1,
    };
    g.block_rows = block_rows(&g, (int)G, d->num_attrs);
    sc_status st = sc_grid_layout(&g, "preview");
    sc_canvas cv = {0};
    if (st == SC_OK)
        st = sc_canvas_init(&cv, g.width, g.height, SC_FIG_PAPER);
    if (st != SC_OK) {
        free(count);
        free(filled);
        return st;
    }
    sc_grid_title(&cv, &g, 0, title, SC_FIG_INK);
    for (int64_t r = 0; r < G; r++) {
        for (int line = 0; line < 2; line++) {
            group_label(d, r, line, count[r], label, sizeof label);
            sc_grid_label(&cv, &g, (int)r, line, label, SC_FIG_INK);
        }
        for (int col = (int)(count[r] < per_group ? count[r] : per_group); col < per_group;
             col++) {
            int x, y;
            sc_grid_cell(&g, (int)r, col, &x, &y);
            sc_canvas_rect(&cv, x, y, x + g.cell_w - 1, y + g.cell_h - 1, SC_FIG_EMPTY);
        }
    }
    size_t plane = (size_t)d->h * d->w;
    for (int64_t i = 0; i < d->n; i++) {
        if (d->split[i] != (int32_t)split)
            continue;
        int grp = d->groups[i];
        if (grp < 0 || grp >= G || filled[grp] >= per_group)
            continue;
        int x, y;
        sc_grid_cell(&g, grp, filled[grp]++, &x, &y);
        sc_canvas_blit(&cv, x, y, d->images + (size_t)i * d->c * plane, d->c, d->h, d->w, scale);
    }
    sc_canvas_text(&cv, g.margin, g.foot_y + 6, foot, 1, SC_FIG_MUTED);
    st = sc_canvas_write_png(&cv, path);
    sc_canvas_free(&cv);
    free(count);
    free(filled);
    return st;
}
