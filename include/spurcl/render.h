/* spurcl: saliency pictures. */
#ifndef SPURCL_RENDER_H
#define SPURCL_RENDER_H

#include <stdint.h>

#include "spurcl/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A PNG grid, one row per sample: the image, then one heat map per panel
 * (|saliency| summed over channels, scaled to the sample's maximum,
 * black-red-yellow-white), each with "y=LABEL p=PRED" under it; panel
 * titles on top. images: uint8 [n,c,h,w] (c >= 3: planes 0-2 as RGB,
 * else plane 0 as grey); maps[k]: float [n,c,h,w]; preds[k]: int32 [n].
 * Each image pixel becomes a scale x scale block (scale 1..32); text is a
 * 5x7 bitmap font, doubled from scale 4 on. Written atomically. */
SC_API sc_status sc_render_saliency_png(const char *path, const uint8_t *images, int n, int c, int h,
                                        int w, const int32_t *labels, int npanels,
                                        const float *const *maps, const int32_t *const *preds,
                                        const char *const *titles, int scale);

#ifdef __cplusplus
}
#endif
#endif
