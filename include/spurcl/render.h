/* spurcl: saliency pictures. */
#ifndef SPURCL_RENDER_H
#define SPURCL_RENDER_H

#include <stdint.h>

#include "spurcl/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What a saliency picture shows: n samples (the columns) and, for each of
 * `nmethods` methods, their saliency maps and predictions. Names may be
 * NULL (then numbers are shown). */
typedef struct sc_saliency_figure {
    const char *title;          /* top line; NULL: "input-gradient saliency" */
    int n, c, h, w;             /* samples and their shape */
    const uint8_t *images;      /* uint8 [n, c, h, w]; c >= 3: planes 0-2 are RGB */
    const int32_t *labels;      /* [n] true classes, or NULL */
    const int32_t *attrs;       /* [n] spurious attributes (with the label: the group), or NULL */
    const char *const *class_names; /* [num_classes], or NULL */
    int num_classes;
    const char *const *attr_names;  /* [num_attrs], or NULL */
    int num_attrs;
    int nmethods;               /* 0..16 */
    const char *const *methods; /* [nmethods] row names, or NULL */
    const float *const *maps;   /* maps[k]: float [n, c, h, w] */
    const int32_t *const *preds; /* preds[k]: int32 [n] predictions; preds or preds[k] may be NULL */
    int scale;                  /* each image pixel a scale x scale block, 1..32 */
} sc_saliency_figure;

/* Writes the figure as a PNG (atomically): a title, then one row per
 * method under a first row of the plain images, one column per sample.
 *
 * Image row: each image as it is, "y=<class name>" and "a=<attribute
 * name>" under it. Method rows (labelled with the method's name and how
 * many of the n predictions are right): each panel the sample's image in
 * grey (dimmed to 0.6) with the method's |saliency| (summed over channels)
 * over it in the inferno colour map, opacity rising with the value
 * (sc_canvas_heat_overlay in src/io/image.h); under it "p=<predicted class name>" (green when
 * right; red, and the panel framed in red, when wrong) and "s=<scale>".
 *
 * Normalisation: per panel (method and sample), value / s clipped at 1,
 * with s the panel's 99th percentile of |saliency| (nearest rank over its
 * h * w pixels; its maximum when that percentile is 0). A single extreme
 * pixel thus saturates instead of scaling the rest of the map to black,
 * and maps of different methods, whose gradients differ in size, are each
 * readable; s shows their sizes. A legend under the grid says this, next
 * to a colour bar 0 ... 1.
 *
 * Layout: the labelled grid of src/io/image.h (sc_grid, its geometry
 * documented there) with rows 1 + nmethods, cols n, image areas
 * w * scale x h * scale in columns widened to fit the captions (to at
 * most 1.5 images; longer names are cut with ".."), two caption lines and
 * two label lines. Text is scale 2 for the title and the row labels from
 * scale 3 on (1 below), 1 for captions and the legend. The footer is
 * 10 + 3 * sc_line_height(1) = 46 pixels high: the colour bar, 160 x 12
 * pixels (t = 0 at its left, 1 at its right), has its top-left corner at
 * (margin + 1, height - margin - 35), ticks "0", "0.5" and "1 = s" under
 * it and the legend to its right. */
SC_API sc_status sc_render_saliency_png(const char *path, const sc_saliency_figure *f);

#ifdef __cplusplus
}
#endif
#endif
