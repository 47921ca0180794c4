/* Saliency grids (sc_render_saliency_png, include/spurcl/render.h), drawn
 * with the library's renderer (io/image.h). */
#include "spurcl/render.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/base.h"
#include "io/image.h"

static const sc_rgb BACKGROUND = {24, 24, 24}, INK = {230, 230, 230};

/* |m| summed over channels, per pixel, into sum[h * w]; returns the maximum. */
static double abs_channel_sum(const float *m, int c, size_t plane, float *sum)
{
    double mx = 0;
    for (size_t p = 0; p < plane; p++) {
        double s = 0;
        for (int ch = 0; ch < c; ch++)
            s += fabs(m[(size_t)ch * plane + p]);
        sum[p] = (float)s;
        mx = fmax(mx, s);
    }
    return mx;
}

sc_status sc_render_saliency_png(const char *path, const uint8_t *images, int n, int c, int h,
                                 int w, const int32_t *labels, int npanels,
                                 const float *const *maps, const int32_t *const *preds,
                                 const char *const *titles, int scale)
{
    if (n < 1 || c < 1 || h < 1 || w < 1 || npanels < 0 || scale < 1 || scale > 32)
        return sc_error_set(SC_ERR_INVALID_ARG, "saliency picture: invalid sizes");
    int fs = scale >= 4 ? 2 : 1; /* text scale */
    int cell_w = w * scale, cell_h = h * scale, pad = 4 * fs;
    int text_h = sc_text_height(fs); /* a line of text, descenders included */
    /* wide enough for "y=99 p=99" and for each title, so no text runs into
     * the next column */
    int min_cell = sc_text_width("y=99 p=99", fs) + fs;
    for (int k = 0; k < npanels; k++) {
        int tw = titles && titles[k] ? sc_text_width(titles[k], fs) + fs : 0;
        if (tw > min_cell)
            min_cell = tw;
    }
    if (cell_w < min_cell)
        cell_w = min_cell;
    int64_t W = (int64_t)(1 + npanels) * (cell_w + pad) + pad,
            H = text_h + pad + (int64_t)n * (cell_h + text_h + pad) + pad;
    if (W > SC_CANVAS_MAX_DIM || H > SC_CANVAS_MAX_DIM)
        return sc_error_set(SC_ERR_INVALID_ARG, "saliency picture would be %lldx%lld pixels; "
                            "show fewer samples or panels", (long long)W, (long long)H);
    size_t plane = (size_t)h * (size_t)w;
    float *sum = malloc(plane * sizeof *sum);
    if (!sum)
        return sc_oom("saliency picture");
    sc_canvas cv;
    sc_status st = sc_canvas_init(&cv, (int)W, (int)H, BACKGROUND);
    if (st != SC_OK) {
        free(sum);
        return st;
    }
    sc_canvas_text(&cv, pad, pad / 2, "image", fs, INK);
    for (int k = 0; k < npanels; k++)
        if (titles && titles[k])
            sc_canvas_text(&cv, pad + (k + 1) * (cell_w + pad), pad / 2, titles[k], fs, INK);
    for (int i = 0; i < n; i++) {
        int y0 = text_h + pad + i * (cell_h + text_h + pad);
        int label = labels ? labels[i] : -1;
        char buf[32];
        sc_canvas_blit(&cv, pad, y0, images + (size_t)i * (size_t)c * plane, c, h, w, scale);
        snprintf(buf, sizeof buf, "y=%d", label);
        sc_canvas_text(&cv, pad, y0 + cell_h + fs, buf, fs, INK);
        for (int k = 0; k < npanels; k++) {
            int x0 = pad + (k + 1) * (cell_w + pad);
            double mx = abs_channel_sum(maps[k] + (size_t)i * (size_t)c * plane, c, plane, sum);
            sc_canvas_heatmap(&cv, x0, y0, sum, h, w, mx, scale);
            snprintf(buf, sizeof buf, "y=%d p=%d", label, preds && preds[k] ? preds[k][i] : -1);
            sc_canvas_text(&cv, x0, y0 + cell_h + fs, buf, fs, INK);
        }
    }
    st = sc_canvas_write_png(&cv, path);
    sc_canvas_free(&cv);
    free(sum);
    return st;
}
