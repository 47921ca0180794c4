/* A PNG grid of examples: one row per group, the first samples of each,
 * labelled "y=<label> a=<attribute>" on the left; drawn with the library's
 * renderer (io/image.h). */
#include "ds_internal.h"

#include <stdio.h>
#include <stdlib.h>

#include "io/image.h"

static const sc_rgb BACKGROUND = {40, 40, 40}, INK = {230, 230, 230};

static void group_label(const sc_dataset *d, int64_t g, char *buf, size_t size)
{
    snprintf(buf, size, "y=%lld a=%lld", (long long)(g / d->num_attrs),
             (long long)(g % d->num_attrs));
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
    int cw = d->w * scale, ch = d->h * scale, gap = 1;
    /* the row labels: text scale as in the saliency grid (2 from image
     * scale 4 on), none where a row is lower than the font */
    int fs = scale >= 4 ? 2 : 1;
    char label[48];
    int label_w = 0;
    if (ch >= sc_text_height(fs))
        for (int64_t g = 0; g < G; g++) {
            group_label(d, g, label, sizeof label);
            int tw = sc_text_width(label, fs) + 6 * fs;
            label_w = tw > label_w ? tw : label_w;
        }
    int64_t W = label_w + (int64_t)per_group * (cw + gap) + gap, H = G * (ch + gap) + gap;
    if (W > 30000 || H > 300000)
        return sc_error_set(SC_ERR_INVALID_ARG, "preview would be %lldx%lld pixels; lower "
                            "--per-group or --scale", (long long)W, (long long)H);
    int *filled = calloc((size_t)G, sizeof(int));
    if (!filled)
        return sc_oom("preview");
    sc_canvas cv;
    sc_status st = sc_canvas_init(&cv, (int)W, (int)H, BACKGROUND); /* gaps, empty cells */
    if (st != SC_OK) {
        free(filled);
        return st;
    }
    for (int64_t g = 0; label_w > 0 && g < G; g++) {
        group_label(d, g, label, sizeof label);
        int y = gap + (int)g * (ch + gap) + (ch - SC_FONT_CAP * fs) / 2;
        sc_canvas_text(&cv, 3 * fs, y, label, fs, INK);
    }
    size_t plane = (size_t)d->h * d->w;
    for (int64_t i = 0; i < d->n; i++) {
        if (d->split[i] != (int32_t)split)
            continue;
        int g = d->groups[i];
        if (g < 0 || g >= G || filled[g] >= per_group)
            continue;
        int col = filled[g]++;
        sc_canvas_blit(&cv, label_w + gap + col * (cw + gap), gap + g * (ch + gap),
                       d->images + (size_t)i * d->c * plane, d->c, d->h, d->w, scale);
    }
    st = sc_canvas_write_png(&cv, path);
    sc_canvas_free(&cv);
    free(filled);
    return st;
}
