/* The library's one renderer: canvas, shapes, blits, colour map and heat
 * overlay, 5x7 font, labelled grids, plot panels, PNG out
 * (src/io/image.h). */
#include "io/image.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spurcl/io.h"

/* ---- canvas ------------------------------------------------------------- */

sc_status sc_canvas_init(sc_canvas *cv, int w, int h, sc_rgb bg)
{
    memset(cv, 0, sizeof *cv);
    if (w < 1 || h < 1 || w > SC_CANVAS_MAX_DIM || h > SC_CANVAS_MAX_DIM ||
        (int64_t)w * h > SC_CANVAS_MAX_PIXELS)
        return sc_error_set(SC_ERR_INVALID_ARG, "picture of %dx%d pixels: each side must be in "
                            "1..%d and the area at most %lld pixels", w, h, SC_CANVAS_MAX_DIM,
                            (long long)SC_CANVAS_MAX_PIXELS);
    cv->px = malloc((size_t)w * (size_t)h * 3);
    if (!cv->px)
        return sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of host memory (a %dx%d picture)", w, h);
    cv->w = w;
    cv->h = h;
    sc_canvas_fill(cv, bg);
    return SC_OK;
}

void sc_canvas_free(sc_canvas *cv)
{
    free(cv->px);
    memset(cv, 0, sizeof *cv);
}

void sc_canvas_fill(sc_canvas *cv, sc_rgb c)
{
    sc_canvas_rect(cv, 0, 0, cv->w - 1, cv->h - 1, c);
}

static uint8_t *at(const sc_canvas *cv, int x, int y)
{
    return cv->px + 3 * ((size_t)y * (size_t)cv->w + (size_t)x);
}

void sc_canvas_put(sc_canvas *cv, int x, int y, sc_rgb c)
{
    if (x < 0 || y < 0 || x >= cv->w || y >= cv->h)
        return;
    uint8_t *p = at(cv, x, y);
    p[0] = c.r;
    p[1] = c.g;
    p[2] = c.b;
}

sc_rgb sc_canvas_get(const sc_canvas *cv, int x, int y)
{
    if (x < 0 || y < 0 || x >= cv->w || y >= cv->h)
        return (sc_rgb){0, 0, 0};
    const uint8_t *p = at(cv, x, y);
    return (sc_rgb){p[0], p[1], p[2]};
}

void sc_canvas_rect(sc_canvas *cv, int x0, int y0, int x1, int y1, sc_rgb c)
{
    if (x0 > x1) {
        int t = x0;
        x0 = x1;
        x1 = t;
    }
    if (y0 > y1) {
        int t = y0;
        y0 = y1;
        y1 = t;
    }
    x0 = x0 < 0 ? 0 : x0;
    y0 = y0 < 0 ? 0 : y0;
    x1 = x1 >= cv->w ? cv->w - 1 : x1;
    y1 = y1 >= cv->h ? cv->h - 1 : y1;
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++)
            sc_canvas_put(cv, x, y, c);
}

void sc_canvas_line(sc_canvas *cv, int x0, int y0, int x1, int y1, int pen, sc_rgb c)
{
    pen = pen < 1 ? 1 : pen;
    int dx = abs(x1 - x0), sx = x0 < x1 ? 1 : -1, dy = -abs(y1 - y0), sy = y0 < y1 ? 1 : -1;
    int err = dx + dy;
    for (;;) {
        sc_canvas_rect(cv, x0, y0, x0 + pen - 1, y0 + pen - 1, c);
        if (x0 == x1 && y0 == y1)
            break;
        int e2 = 2 * err;
        if (e2 >= dy) {
            err += dy;
            x0 += sx;
        }
        if (e2 <= dx) {
            err += dx;
            y0 += sy;
        }
    }
}

void sc_canvas_blit(sc_canvas *cv, int x, int y, const uint8_t *chw, int c, int h, int w,
                    int scale)
{
    size_t plane = (size_t)h * (size_t)w;
    const uint8_t *r = chw, *g = c >= 3 ? chw + plane : chw, *b = c >= 3 ? chw + 2 * plane : chw;
    for (int i = 0; i < h; i++)
        for (int j = 0; j < w; j++) {
            size_t p = (size_t)i * (size_t)w + (size_t)j;
            sc_canvas_rect(cv, x + j * scale, y + i * scale, x + (j + 1) * scale - 1,
                           y + (i + 1) * scale - 1, (sc_rgb){r[p], g[p], b[p]});
        }
}

sc_status sc_canvas_write_png(const sc_canvas *cv, const char *path)
{
    return sc_png_write(path, cv->px, cv->w, cv->h, 3);
}

/* ---- colour map, heat overlay, colour bar ------------------------------- */

/* matplotlib's inferno at t = k/16, k = 0..16, from its 256-entry table
 * (linearly interpolated there, times 255, rounded). */
static const uint8_t inferno[17][3] = {
    {0, 0, 4},       {11, 7, 36},     {33, 12, 74},    {60, 9, 101},   {87, 16, 109},
    {112, 25, 110},  {137, 34, 106},  {163, 43, 97},   {187, 55, 85},  {209, 70, 68},
    {227, 89, 50},   {241, 113, 30},  {249, 141, 10},  {252, 171, 15}, {249, 202, 50},
    {242, 232, 101}, {252, 255, 164},
};

sc_rgb sc_heat_rgb(double t)
{
    t = t > 0 ? (t < 1 ? t : 1) : 0; /* NaN -> 0 */
    double p = t * 16;
    int k = p >= 16 ? 15 : (int)p;
    double f = p - k;
    uint8_t c[3];
    for (int i = 0; i < 3; i++)
        c[i] = (uint8_t)lrint((1 - f) * inferno[k][i] + f * inferno[k + 1][i]);
    return (sc_rgb){c[0], c[1], c[2]};
}

uint8_t sc_image_grey(const uint8_t *chw, int c, size_t plane, size_t p)
{
    if (c < 3)
        return chw[p];
    return (uint8_t)lrint(0.299 * chw[p] + 0.587 * chw[plane + p] + 0.114 * chw[2 * plane + p]);
}

static uint8_t blend(uint8_t under, uint8_t over, double a)
{
    return (uint8_t)lrint((1 - a) * under + a * over);
}

void sc_canvas_heat_overlay(sc_canvas *cv, int x, int y, const uint8_t *chw, int c, const float *v,
                            int h, int w, double vmax, int scale)
{
    bool ok = isfinite(vmax) && vmax > 0;
    size_t plane = (size_t)h * (size_t)w;
    for (int i = 0; i < h; i++)
        for (int j = 0; j < w; j++) {
            size_t p = (size_t)i * (size_t)w + (size_t)j;
            uint8_t g = (uint8_t)lrint(SC_HEAT_BASE * sc_image_grey(chw, c, plane, p));
            double t = ok ? v[p] / vmax : 0;
            t = t > 0 ? (t < 1 ? t : 1) : 0; /* NaN -> 0 */
            double a = SC_HEAT_ALPHA * t;
            sc_rgb hc = sc_heat_rgb(t);
            sc_canvas_rect(cv, x + j * scale, y + i * scale, x + (j + 1) * scale - 1,
                           y + (i + 1) * scale - 1,
                           (sc_rgb){blend(g, hc.r, a), blend(g, hc.g, a), blend(g, hc.b, a)});
        }
}

void sc_canvas_colorbar(sc_canvas *cv, int x, int y, int w, int h, const char *const *ticks,
                        int nticks, int scale, sc_rgb ink)
{
    if (w < 2 || h < 1)
        return;
    for (int i = 0; i < w; i++)
        sc_canvas_rect(cv, x + i, y, x + i, y + h - 1, sc_heat_rgb((double)i / (w - 1)));
    sc_canvas_rect(cv, x - 1, y - 1, x + w, y - 1, ink);
    sc_canvas_rect(cv, x - 1, y + h, x + w, y + h, ink);
    sc_canvas_rect(cv, x - 1, y - 1, x - 1, y + h, ink);
    sc_canvas_rect(cv, x + w, y - 1, x + w, y + h, ink);
    for (int k = 0; k < nticks; k++) {
        int tx = nticks > 1 ? x + (int)lround((double)k * (w - 1) / (nticks - 1)) : x;
        sc_canvas_rect(cv, tx, y + h + 1, tx, y + h + 3, ink);
        if (!ticks || !ticks[k])
            continue;
        int tw = sc_text_width(ticks[k], scale);
        int lx = k == 0 ? x : k == nticks - 1 ? x + w - tw : tx - tw / 2;
        sc_canvas_text(cv, lx, y + h + 5, ticks[k], scale, ink);
    }
}

/* ---- text --------------------------------------------------------------- */

/* Printable ASCII from ' ' (32) to '~' (126); one byte a row, top to bottom,
 * bit 4 the leftmost column; rows 7 and 8 hang below the baseline. The
 * digits, most lower case and ".-=" are the glyphs the saliency grid has
 * always used (g j p q y and ", ;" gained descenders); upper case and the
 * rest follow the classic 5x7 LCD character set. */
static const uint8_t font[95][SC_FONT_H] = {
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}, /*   */
    {0x04, 0x04, 0x04, 0x04, 0x04, 0x00, 0x04, 0x00, 0x00}, /* ! */
    {0x0A, 0x0A, 0x0A, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}, /* " */
    {0x0A, 0x0A, 0x1F, 0x0A, 0x1F, 0x0A, 0x0A, 0x00, 0x00}, /* # */
    {0x04, 0x0F, 0x14, 0x0E, 0x05, 0x1E, 0x04, 0x00, 0x00}, /* $ */
    {0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03, 0x00, 0x00}, /* % */
    {0x0C, 0x12, 0x14, 0x08, 0x15, 0x12, 0x0D, 0x00, 0x00}, /* & */
    {0x0C, 0x04, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}, /* ' */
    {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02, 0x00, 0x00}, /* ( */
    {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08, 0x00, 0x00}, /* ) */
    {0x00, 0x04, 0x15, 0x0E, 0x15, 0x04, 0x00, 0x00, 0x00}, /* * */
    {0x00, 0x04, 0x04, 0x1F, 0x04, 0x04, 0x00, 0x00, 0x00}, /* + */
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C, 0x04, 0x08}, /* , */
    {0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00, 0x00, 0x00}, /* - */
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C, 0x00, 0x00}, /* . */
    {0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00, 0x00, 0x00}, /* / */
    {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E, 0x00, 0x00}, /* 0 */
    {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E, 0x00, 0x00}, /* 1 */
    {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F, 0x00, 0x00}, /* 2 */
    {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E, 0x00, 0x00}, /* 3 */
    {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02, 0x00, 0x00}, /* 4 */
    {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E, 0x00, 0x00}, /* 5 */
    {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E, 0x00, 0x00}, /* 6 */
    {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08, 0x00, 0x00}, /* 7 */
    {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E, 0x00, 0x00}, /* 8 */
    {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C, 0x00, 0x00}, /* 9 */
    {0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00, 0x00, 0x00}, /* : */
    {0x00, 0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x04, 0x08}, /* ; */
    {0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02, 0x00, 0x00}, /* < */
    {0x00, 0x00, 0x1F, 0x00, 0x1F, 0x00, 0x00, 0x00, 0x00}, /* = */
    {0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08, 0x00, 0x00}, /* > */
    {0x0E, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04, 0x00, 0x00}, /* ? */
    {0x0E, 0x11, 0x01, 0x0D, 0x15, 0x15, 0x0E, 0x00, 0x00}, /* @ */
    {0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11, 0x00, 0x00}, /* A */
    {0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E, 0x00, 0x00}, /* B */
    {0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E, 0x00, 0x00}, /* C */
    {0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C, 0x00, 0x00}, /* D */
    {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F, 0x00, 0x00}, /* E */
    {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10, 0x00, 0x00}, /* F */
    {0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F, 0x00, 0x00}, /* G */
    {0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11, 0x00, 0x00}, /* H */
    {0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E, 0x00, 0x00}, /* I */
    {0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C, 0x00, 0x00}, /* J */
    {0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11, 0x00, 0x00}, /* K */
    {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F, 0x00, 0x00}, /* L */
    {0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11, 0x00, 0x00}, /* M */
    {0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11, 0x00, 0x00}, /* N */
    {0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E, 0x00, 0x00}, /* O */
    {0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10, 0x00, 0x00}, /* P */
    {0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D, 0x00, 0x00}, /* Q */
    {0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11, 0x00, 0x00}, /* R */
    {0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E, 0x00, 0x00}, /* S */
    {0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x00, 0x00}, /* T */
    {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E, 0x00, 0x00}, /* U */
    {0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04, 0x00, 0x00}, /* V */
    {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A, 0x00, 0x00}, /* W */
    {0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11, 0x00, 0x00}, /* X */
    {0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04, 0x00, 0x00}, /* Y */
    {0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F, 0x00, 0x00}, /* Z */
    {0x0E, 0x08, 0x08, 0x08, 0x08, 0x08, 0x0E, 0x00, 0x00}, /* [ */
    {0x00, 0x10, 0x08, 0x04, 0x02, 0x01, 0x00, 0x00, 0x00}, /* \ */
    {0x0E, 0x02, 0x02, 0x02, 0x02, 0x02, 0x0E, 0x00, 0x00}, /* ] */
    {0x04, 0x0A, 0x11, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}, /* ^ */
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1F, 0x00, 0x00}, /* _ */
    {0x08, 0x04, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}, /* ` */
    {0x00, 0x00, 0x0E, 0x01, 0x0F, 0x11, 0x0F, 0x00, 0x00}, /* a */
    {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x1E, 0x00, 0x00}, /* b */
    {0x00, 0x00, 0x0E, 0x10, 0x10, 0x11, 0x0E, 0x00, 0x00}, /* c */
    {0x01, 0x01, 0x0D, 0x13, 0x11, 0x11, 0x0F, 0x00, 0x00}, /* d */
    {0x00, 0x00, 0x0E, 0x11, 0x1F, 0x10, 0x0E, 0x00, 0x00}, /* e */
    {0x06, 0x09, 0x08, 0x1C, 0x08, 0x08, 0x08, 0x00, 0x00}, /* f */
    {0x00, 0x00, 0x0F, 0x11, 0x11, 0x11, 0x0F, 0x01, 0x0E}, /* g */
    {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x11, 0x00, 0x00}, /* h */
    {0x04, 0x00, 0x0C, 0x04, 0x04, 0x04, 0x0E, 0x00, 0x00}, /* i */
    {0x02, 0x00, 0x06, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C}, /* j */
    {0x10, 0x10, 0x12, 0x14, 0x18, 0x14, 0x12, 0x00, 0x00}, /* k */
    {0x0C, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E, 0x00, 0x00}, /* l */
    {0x00, 0x00, 0x1A, 0x15, 0x15, 0x11, 0x11, 0x00, 0x00}, /* m */
    {0x00, 0x00, 0x16, 0x19, 0x11, 0x11, 0x11, 0x00, 0x00}, /* n */
    {0x00, 0x00, 0x0E, 0x11, 0x11, 0x11, 0x0E, 0x00, 0x00}, /* o */
    {0x00, 0x00, 0x1E, 0x11, 0x11, 0x11, 0x1E, 0x10, 0x10}, /* p */
    {0x00, 0x00, 0x0F, 0x11, 0x11, 0x11, 0x0F, 0x01, 0x01}, /* q */
    {0x00, 0x00, 0x16, 0x19, 0x10, 0x10, 0x10, 0x00, 0x00}, /* r */
    {0x00, 0x00, 0x0E, 0x10, 0x0E, 0x01, 0x1E, 0x00, 0x00}, /* s */
    {0x08, 0x08, 0x1C, 0x08, 0x08, 0x09, 0x06, 0x00, 0x00}, /* t */
    {0x00, 0x00, 0x11, 0x11, 0x11, 0x13, 0x0D, 0x00, 0x00}, /* u */
    {0x00, 0x00, 0x11, 0x11, 0x11, 0x0A, 0x04, 0x00, 0x00}, /* v */
    {0x00, 0x00, 0x11, 0x11, 0x15, 0x15, 0x0A, 0x00, 0x00}, /* w */
    {0x00, 0x00, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x00, 0x00}, /* x */
    {0x00, 0x00, 0x11, 0x11, 0x11, 0x11, 0x0F, 0x01, 0x0E}, /* y */
    {0x00, 0x00, 0x1F, 0x02, 0x04, 0x08, 0x1F, 0x00, 0x00}, /* z */
    {0x02, 0x04, 0x04, 0x08, 0x04, 0x04, 0x02, 0x00, 0x00}, /* { */
    {0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x00, 0x00}, /* | */
    {0x08, 0x04, 0x04, 0x02, 0x04, 0x04, 0x08, 0x00, 0x00}, /* } */
    {0x00, 0x00, 0x08, 0x15, 0x02, 0x00, 0x00, 0x00, 0x00}, /* ~ */
};

const uint8_t *sc_font_glyph(char ch)
{
    unsigned char u = (unsigned char)ch;
    return u >= 32 && u <= 126 ? font[u - 32] : NULL;
}

int sc_text_width(const char *s, int scale)
{
    size_t n = strlen(s);
    scale = scale < 1 ? 1 : scale;
    return n ? (SC_FONT_ADVANCE * (int)n - 1) * scale : 0;
}

int sc_text_height(int scale)
{
    return SC_FONT_H * (scale < 1 ? 1 : scale);
}

int sc_canvas_text(sc_canvas *cv, int x, int y, const char *s, int scale, sc_rgb c)
{
    scale = scale < 1 ? 1 : scale;
    for (; *s; s++, x += SC_FONT_ADVANCE * scale) {
        const uint8_t *gl = sc_font_glyph(*s);
        if (!gl)
            continue;
        for (int r = 0; r < SC_FONT_H; r++)
            for (int col = 0; col < SC_FONT_W; col++)
                if (gl[r] & (0x10 >> col))
                    sc_canvas_rect(cv, x + col * scale, y + r * scale, x + (col + 1) * scale - 1,
                                   y + (r + 1) * scale - 1, c);
    }
    return x;
}

int sc_canvas_text_fit(sc_canvas *cv, int x, int y, const char *s, int scale, int max_w,
                       sc_rgb c)
{
    scale = scale < 1 ? 1 : scale;
    int w = sc_text_width(s, scale);
    if (w <= max_w) {
        sc_canvas_text(cv, x, y, s, scale, c);
        return w;
    }
    /* n characters and ".." take SC_FONT_ADVANCE * (n + 2) - 1 columns */
    int n = (max_w / scale + 1) / SC_FONT_ADVANCE - 2;
    if (n < 0)
        return 0;
    if ((size_t)n > strlen(s))
        n = (int)strlen(s);
    char buf[256];
    if (n > (int)sizeof buf - 3)
        n = (int)sizeof buf - 3;
    memcpy(buf, s, (size_t)n);
    memcpy(buf + n, "..", 3);
    sc_canvas_text(cv, x, y, buf, scale, c);
    return sc_text_width(buf, scale);
}

int sc_line_height(int scale)
{
    return (SC_FONT_H + 3) * (scale < 1 ? 1 : scale);
}

/* ---- labelled grids ----------------------------------------------------- */

static int max_int(int a, int b)
{
    return a > b ? a : b;
}

sc_status sc_grid_layout(sc_grid *g, const char *what)
{
    if (g->rows < 1 || g->cols < 1 || g->cell_w < 1 || g->cell_h < 1 || g->captions < 0 ||
        g->label_w < 0 || g->label_lines < 0 || g->label_lines > 64 || g->title_lines < 0 || g->footer_h < 0 || g->min_w < 0 ||
        g->block_rows < 0 || g->col_w < 0 || g->title_scale < 1 || g->label_scale < 1 || g->caption_scale < 1 ||
        g->rows > SC_CANVAS_MAX_DIM || g->cols > SC_CANVAS_MAX_DIM ||
        g->cell_w > SC_CANVAS_MAX_DIM || g->cell_h > SC_CANVAS_MAX_DIM ||
        g->col_w > SC_CANVAS_MAX_DIM ||
        g->label_w > SC_CANVAS_MAX_DIM || g->footer_h > SC_CANVAS_MAX_DIM ||
        g->min_w > SC_CANVAS_MAX_DIM || g->captions > 64 || g->title_lines > 64 ||
        g->title_scale > 64 || g->label_scale > 64 || g->caption_scale > 64)
        return sc_error_set(SC_ERR_INVALID_ARG, "%s: invalid grid (%d x %d cells of %dx%d)", what,
                            g->rows, g->cols, g->cell_w, g->cell_h);
    int block_rows = g->block_rows > 0 && g->block_rows < g->rows ? g->block_rows : g->rows;
    g->col_w = max_int(g->col_w, g->cell_w);
    g->margin = 8 + 4 * g->title_scale;
    g->gap = 2 + g->cell_w / 20;
    g->pitch_x = g->col_w + g->gap;
    g->pitch_y = max_int(g->cell_h + (g->captions ? 2 + g->captions * sc_line_height(g->caption_scale)
                                                   : 0),
                         g->label_lines * sc_line_height(g->label_scale)) +
                 g->gap;
    g->label_gap = g->label_w > 0 ? 8 * g->label_scale + g->gap : 0;
    g->blocks = (g->rows + block_rows - 1) / block_rows;
    g->block_gap = 3 * g->margin;
    int64_t block_w = g->label_w + g->label_gap + (int64_t)g->cols * g->pitch_x - g->gap;
    int64_t grid_w = g->blocks * block_w + (int64_t)(g->blocks - 1) * g->block_gap;
    int64_t y0 = g->margin + (int64_t)g->title_lines * sc_line_height(g->title_scale) +
                 (g->title_lines ? g->margin / 2 : 0);
    int64_t W = 2 * (int64_t)g->margin + (grid_w > g->min_w ? grid_w : g->min_w);
    int64_t H = y0 + (int64_t)block_rows * g->pitch_y - g->gap + g->footer_h + g->margin;
    if (W > SC_CANVAS_MAX_DIM || H > SC_CANVAS_MAX_DIM || W * H > SC_CANVAS_MAX_PIXELS)
        return sc_error_set(SC_ERR_INVALID_ARG, "%s would be %lldx%lld pixels; show fewer "
                            "samples or a smaller scale", what, (long long)W, (long long)H);
    g->block_rows = block_rows;
    g->block_w = (int)block_w;
    g->x0 = g->margin + g->label_w + g->label_gap;
    g->y0 = (int)y0;
    g->width = (int)W;
    g->height = (int)H;
    g->foot_y = g->height - g->margin - g->footer_h;
    return SC_OK;
}

void sc_grid_cell(const sc_grid *g, int row, int col, int *x, int *y)
{
    int b = row / g->block_rows, r = row % g->block_rows;
    *x = g->x0 + b * (g->block_w + g->block_gap) + col * g->pitch_x + (g->col_w - g->cell_w) / 2;
    *y = g->y0 + r * g->pitch_y;
}

void sc_grid_title(sc_canvas *cv, const sc_grid *g, int line, const char *s, sc_rgb c)
{
    sc_canvas_text_fit(cv, g->margin, g->margin + line * sc_line_height(g->title_scale), s,
                       g->title_scale, g->width - 2 * g->margin, c);
}

void sc_grid_label(sc_canvas *cv, const sc_grid *g, int row, int line, const char *s, sc_rgb c)
{
    int x, y;
    sc_grid_cell(g, row, 0, &x, &y);
    x -= (g->col_w - g->cell_w) / 2;
    sc_canvas_text_fit(cv, x - g->label_gap - g->label_w, y + line * sc_line_height(g->label_scale),
                       s, g->label_scale, g->label_w, c);
}

void sc_grid_caption(sc_canvas *cv, const sc_grid *g, int row, int col, int line, const char *s,
                     sc_rgb c)
{
    int x, y, tw = sc_text_width(s, g->caption_scale);
    sc_grid_cell(g, row, col, &x, &y);
    x -= (g->col_w - g->cell_w) / 2; /* the column's left edge */
    int dx = tw < g->col_w ? (g->col_w - tw) / 2 : 0;
    sc_canvas_text_fit(cv, x + dx, y + g->cell_h + 2 + line * sc_line_height(g->caption_scale), s,
                       g->caption_scale, g->col_w, c);
}

void sc_grid_frame(sc_canvas *cv, const sc_grid *g, int row, int col, int pen, sc_rgb c)
{
    int x, y;
    sc_grid_cell(g, row, col, &x, &y);
    int x1 = x + g->cell_w - 1, y1 = y + g->cell_h - 1;
    pen = max_int(pen, 1);
    sc_canvas_rect(cv, x - pen, y - pen, x1 + pen, y - 1, c);
    sc_canvas_rect(cv, x - pen, y1 + 1, x1 + pen, y1 + pen, c);
    sc_canvas_rect(cv, x - pen, y, x - 1, y1, c);
    sc_canvas_rect(cv, x1 + 1, y, x1 + pen, y1, c);
}

/* ---- plot panels -------------------------------------------------------- */

static const sc_rgb INK = {0, 0, 0}, EDGE = {170, 170, 170}, GRID = {228, 228, 228};

int sc_plot_px(const sc_plot *p, double x)
{
    double f = p->xmax > p->xmin ? (x - p->xmin) / (p->xmax - p->xmin) : 0.5;
    return p->x0 + (int)lround(f * (p->w - 1));
}

int sc_plot_py(const sc_plot *p, double y)
{
    double f = p->ymax > p->ymin ? (y - p->ymin) / (p->ymax - p->ymin) : 0.5;
    return p->y0 + p->h - 1 - (int)lround(f * (p->h - 1));
}

/* Top rows of the legend line and of the title above it (descenders hang
 * into the gaps below them). */
static int legend_y(const sc_plot *p)
{
    return p->y0 - 10 - SC_FONT_CAP * p->scale;
}

static int title_y(const sc_plot *p)
{
    return legend_y(p) - 8 - SC_FONT_CAP * p->scale;
}

void sc_plot_frame(sc_canvas *cv, const sc_plot *p, const char *title, const char *xlabel_lo,
                   const char *xlabel_hi)
{
    int s = p->scale, cap = SC_FONT_CAP * s;
    int left = p->x0 - 1, right = p->x0 + p->w, top = p->y0 - 1, bottom = p->y0 + p->h;
    double ticks[3] = {p->ymin, 0.5 * (p->ymin + p->ymax), p->ymax};
    for (int k = 0; k < 3; k++) {
        int ty = sc_plot_py(p, ticks[k]);
        if (k == 1)
            sc_canvas_rect(cv, p->x0, ty, p->x0 + p->w - 1, ty, GRID);
        sc_canvas_rect(cv, left - 4, ty, left - 1, ty, INK);
        char b[32];
        snprintf(b, sizeof b, "%.3g", ticks[k]);
        sc_canvas_text(cv, left - 6 - sc_text_width(b, s), ty - cap / 2, b, s, INK);
    }
    sc_canvas_rect(cv, left, top, right, top, EDGE);
    sc_canvas_rect(cv, right, top, right, bottom, EDGE);
    sc_canvas_rect(cv, left, bottom, right, bottom, INK);
    sc_canvas_rect(cv, left, top, left, bottom, INK);
    if (title)
        sc_canvas_text(cv, p->x0, title_y(p), title, s, INK);
    if (xlabel_lo)
        sc_canvas_text(cv, p->x0, bottom + 6, xlabel_lo, s, INK);
    if (xlabel_hi)
        sc_canvas_text(cv, right - sc_text_width(xlabel_hi, s), bottom + 6, xlabel_hi, s, INK);
}

void sc_plot_legend(sc_canvas *cv, const sc_plot *p, const char *const *labels, const sc_rgb *cols,
                    int n)
{
    int x = p->x0, y = legend_y(p);
    for (int i = 0; i < n; i++) {
        x = sc_canvas_text(cv, x, y, labels[i], p->scale, cols[i]);
        x += SC_FONT_ADVANCE * p->scale; /* a space between entries */
    }
}

void sc_plot_series(sc_canvas *cv, const sc_plot *p, const double *x, const double *y, int n,
                    sc_rgb c)
{
    int prev = -1;
    for (int i = 0; i < n; i++) {
        if (!isfinite(x[i]) || !isfinite(y[i]))
            continue;
        int X = sc_plot_px(p, x[i]), Y = sc_plot_py(p, y[i]);
        sc_canvas_rect(cv, X - 2, Y - 2, X + 2, Y + 2, c);
        if (prev >= 0)
            sc_canvas_line(cv, sc_plot_px(p, x[prev]), sc_plot_py(p, y[prev]), X, Y, 2, c);
        prev = i;
    }
}

void sc_plot_bars(sc_canvas *cv, const sc_plot *p, const double *const *vals, const sc_rgb *cols,
                  int nseries, int nbins)
{
    if (nseries < 1 || nbins < 1)
        return;
    int bw = p->w / nbins, slot = (bw - 2) / nseries, base = p->y0 + p->h - 1;
    if (slot < 1)
        slot = 1;
    for (int b = 0; b < nbins; b++)
        for (int s = 0; s < nseries; s++) {
            double v = vals[s][b];
            if (!(isfinite(v) && v > 0))
                continue;
            int bx = p->x0 + b * bw + 1 + s * slot;
            sc_canvas_rect(cv, bx, sc_plot_py(p, v), bx + slot - 1, base, cols[s]);
        }
}
