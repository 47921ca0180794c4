/* Saliency grids with a tiny 5x7 bitmap font for labels and titles. */
#include "spurcl/io.h"
#include "spurcl/render.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 5x7 glyphs, one byte a row, bit 4 = leftmost column. */
typedef struct glyph {
    char c;
    uint8_t rows[7];
} glyph;

static const glyph font[] = {
    {'0', {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E}}, {'1', {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E}},
    {'2', {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F}}, {'3', {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E}},
    {'4', {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02}}, {'5', {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E}},
    {'6', {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E}}, {'7', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08}},
    {'8', {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E}}, {'9', {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C}},
    {'=', {0x00, 0x00, 0x1F, 0x00, 0x1F, 0x00, 0x00}}, {'-', {0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00}},
    {'a', {0x00, 0x00, 0x0E, 0x01, 0x0F, 0x11, 0x0F}}, {'c', {0x00, 0x00, 0x0E, 0x10, 0x10, 0x11, 0x0E}},
    {'d', {0x01, 0x01, 0x0D, 0x13, 0x11, 0x11, 0x0F}}, {'e', {0x00, 0x00, 0x0E, 0x11, 0x1F, 0x10, 0x0E}},
    {'g', {0x00, 0x0F, 0x11, 0x11, 0x0F, 0x01, 0x0E}}, {'h', {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x11}},
    {'i', {0x04, 0x00, 0x0C, 0x04, 0x04, 0x04, 0x0E}}, {'l', {0x0C, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E}},
    {'m', {0x00, 0x00, 0x1A, 0x15, 0x15, 0x11, 0x11}}, {'n', {0x00, 0x00, 0x16, 0x19, 0x11, 0x11, 0x11}},
    {'o', {0x00, 0x00, 0x0E, 0x11, 0x11, 0x11, 0x0E}}, {'p', {0x00, 0x00, 0x1E, 0x11, 0x1E, 0x10, 0x10}},
    {'r', {0x00, 0x00, 0x16, 0x19, 0x10, 0x10, 0x10}}, {'s', {0x00, 0x00, 0x0E, 0x10, 0x0E, 0x01, 0x1E}},
    {'t', {0x08, 0x08, 0x1C, 0x08, 0x08, 0x09, 0x06}}, {'u', {0x00, 0x00, 0x11, 0x11, 0x11, 0x13, 0x0D}},
    {'y', {0x00, 0x00, 0x11, 0x11, 0x0F, 0x01, 0x0E}}, {'x', {0x00, 0x00, 0x11, 0x0A, 0x04, 0x0A, 0x11}},
    {'k', {0x10, 0x10, 0x12, 0x14, 0x18, 0x14, 0x12}}, {'w', {0x00, 0x00, 0x11, 0x11, 0x15, 0x15, 0x0A}},
    {'b', {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x1E}}, {'f', {0x06, 0x09, 0x08, 0x1C, 0x08, 0x08, 0x08}},
    {'v', {0x00, 0x00, 0x11, 0x11, 0x11, 0x0A, 0x04}}, {'j', {0x02, 0x00, 0x06, 0x02, 0x02, 0x12, 0x0C}},
    {'q', {0x00, 0x00, 0x0D, 0x13, 0x0F, 0x01, 0x01}}, {'z', {0x00, 0x00, 0x1F, 0x02, 0x04, 0x08, 0x1F}},
    {'.', {0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C}}, {',', {0x00, 0x00, 0x00, 0x00, 0x0C, 0x04, 0x08}},
};

typedef struct canvas {
    uint8_t *px; /* RGB */
    int w, h;
} canvas;

static void put(canvas *cv, int x, int y, const uint8_t rgb[3])
{
    if (x < 0 || y < 0 || x >= cv->w || y >= cv->h)
        return;
    memcpy(cv->px + 3 * ((size_t)y * (size_t)cv->w + (size_t)x), rgb, 3);
}

static void text(canvas *cv, int x, int y, const char *s, int scale)
{
    static const uint8_t ink[3] = {230, 230, 230};
    for (; *s; s++, x += 6 * scale) {
        const glyph *gl = NULL;
        for (size_t i = 0; i < sizeof font / sizeof font[0]; i++)
            if (font[i].c == *s)
                gl = &font[i];
        if (!gl)
            continue; /* space and unknown characters leave a gap */
        for (int r = 0; r < 7; r++)
            for (int col = 0; col < 5; col++)
                if (gl->rows[r] & (0x10 >> col))
                    for (int dy = 0; dy < scale; dy++)
                        for (int dx = 0; dx < scale; dx++)
                            put(cv, x + col * scale + dx, y + r * scale + dy, ink);
    }
}

/* black -> red -> yellow -> white */
static void heat(double t, uint8_t rgb[3])
{
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    double r = fmin(1.0, 3 * t), g = fmin(1.0, fmax(0.0, 3 * t - 1)), b = fmax(0.0, 3 * t - 2);
    rgb[0] = (uint8_t)lrint(255 * r);
    rgb[1] = (uint8_t)lrint(255 * g);
    rgb[2] = (uint8_t)lrint(255 * b);
}

sc_status sc_render_saliency_png(const char *path, const uint8_t *images, int n, int c, int h,
                                 int w, const int32_t *labels, int npanels,
                                 const float *const *maps, const int32_t *const *preds,
                                 const char *const *titles, int scale)
{
    if (n < 1 || c < 1 || h < 1 || w < 1 || npanels < 0 || scale < 1 || scale > 32)
        return sc_error_set(SC_ERR_INVALID_ARG, "saliency picture: invalid sizes");
    int fs = scale >= 4 ? 2 : 1;        /* font scale */
    int cell_w = w * scale, cell_h = h * scale, pad = 4 * fs, text_h = 9 * fs;
    int min_cell = 6 * fs * 9;          /* room for "y=9 p=9" */
    for (int k = 0; k < npanels; k++) {
        int tw = titles && titles[k] ? 6 * fs * (int)strlen(titles[k]) : 0;
        if (tw > min_cell)
            min_cell = tw; /* titles must not run into the next panel */
    }
    if (cell_w < min_cell)
        cell_w = min_cell;
    int cols = 1 + npanels;
    canvas cv = {.w = cols * (cell_w + pad) + pad, .h = text_h + pad + n * (cell_h + text_h + pad) + pad};
    cv.px = calloc((size_t)cv.w * (size_t)cv.h * 3, 1);
    if (!cv.px)
        return sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of host memory (picture)");
    memset(cv.px, 24, (size_t)cv.w * (size_t)cv.h * 3);
    text(&cv, pad, pad / 2, "image", fs);
    for (int k = 0; k < npanels; k++)
        text(&cv, pad + (k + 1) * (cell_w + pad), pad / 2, titles && titles[k] ? titles[k] : "", fs);
    size_t plane = (size_t)h * (size_t)w;
    for (int i = 0; i < n; i++) {
        int y0 = text_h + pad + i * (cell_h + text_h + pad);
        const uint8_t *img = images + (size_t)i * (size_t)c * plane;
        for (int y = 0; y < cell_h; y++)
            for (int x = 0; x < w * scale; x++) {
                size_t p = (size_t)(y / scale) * (size_t)w + (size_t)(x / scale);
                uint8_t rgb[3];
                for (int ch = 0; ch < 3; ch++)
                    rgb[ch] = img[(size_t)(c == 3 ? ch : 0) * plane + p];
                put(&cv, pad + x, y0 + y, rgb);
            }
        char buf[32];
        snprintf(buf, sizeof buf, "y=%d", labels ? labels[i] : -1);
        text(&cv, pad, y0 + cell_h + fs, buf, fs);
        for (int k = 0; k < npanels; k++) {
            const float *m = maps[k] + (size_t)i * (size_t)c * plane;
            double mx = 0;
            for (size_t p = 0; p < plane; p++) {
                double s = 0;
                for (int ch = 0; ch < c; ch++)
                    s += fabs(m[(size_t)ch * plane + p]);
                mx = fmax(mx, s);
            }
            int x0 = pad + (k + 1) * (cell_w + pad);
            for (int y = 0; y < cell_h; y++)
                for (int x = 0; x < w * scale; x++) {
                    size_t p = (size_t)(y / scale) * (size_t)w + (size_t)(x / scale);
                    double s = 0;
                    for (int ch = 0; ch < c; ch++)
                        s += fabs(m[(size_t)ch * plane + p]);
                    uint8_t rgb[3];
                    heat(mx > 0 ? s / mx : 0, rgb);
                    put(&cv, x0 + x, y0 + y, rgb);
                }
            snprintf(buf, sizeof buf, "y=%d p=%d", labels ? labels[i] : -1,
                     preds && preds[k] ? preds[k][i] : -1);
            text(&cv, x0, y0 + cell_h + fs, buf, fs);
        }
    }
    sc_status st = sc_png_write(path, cv.px, cv.w, cv.h, 3);
    free(cv.px);
    return st;
}
