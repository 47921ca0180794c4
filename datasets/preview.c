/* A PNG grid of examples: one row per group, the first samples of each. */
#include "ds_internal.h"

#include <stdlib.h>
#include <string.h>

#include "spurcl/io.h"

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
    int64_t W = (int64_t)per_group * (cw + gap) + gap, H = G * (ch + gap) + gap;
    if (W > 30000 || H > 300000)
        return sc_error_set(SC_ERR_INVALID_ARG, "preview would be %lldx%lld pixels; lower "
                            "--per-group or --scale", (long long)W, (long long)H);
    uint8_t *img = malloc((size_t)W * H * 3);
    int *filled = calloc((size_t)G, sizeof(int));
    if (!img || !filled) {
        free(img);
        free(filled);
        return sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of memory");
    }
    memset(img, 40, (size_t)W * H * 3); /* dark grey: gaps and empty cells */
    size_t plane = (size_t)d->h * d->w;
    for (int64_t i = 0; i < d->n; i++) {
        if (d->split[i] != (int32_t)split)
            continue;
        int g = d->groups[i];
        if (g < 0 || g >= G || filled[g] >= per_group)
            continue;
        int col = filled[g]++;
        const uint8_t *src = d->images + (size_t)i * d->c * plane;
        int64_t y0 = gap + (int64_t)g * (ch + gap), x0 = gap + (int64_t)col * (cw + gap);
        for (int y = 0; y < ch; y++)
            for (int x = 0; x < cw; x++) {
                size_t p = (size_t)(y / scale) * d->w + (size_t)(x / scale);
                uint8_t *dst = img + ((size_t)(y0 + y) * W + (size_t)(x0 + x)) * 3;
                for (int k = 0; k < 3; k++)
                    dst[k] = src[(d->c >= 3 ? k : 0) * plane + p];
            }
    }
    sc_status st = sc_png_write(path, img, (int)W, (int)H, 3);
    free(img);
    free(filled);
    return st;
}
