/* The library's one renderer (internal, not installed): an RGB canvas with
 * filled rectangles, thick lines, scaled image blits, a heat-map colour map,
 * text in one 5x7 bitmap font (with descenders), plot panels (frame, tick labels, series,
 * grouped bars, legend) and an atomic PNG writer.
 *
 * Users: the saliency grid (io/render.c), every run's curves.png
 * (train/curves.c), the LA-SSL speeds plot (train/ssl_plot.c, its curve
 * panels through train/curves.c) and the data preview (datasets/preview.c).
 * Host only.
 *
 * Coordinates are pixels, x to the right and y down, (0, 0) the top-left
 * corner. Every drawing call clips to the canvas, so a caller may draw
 * partly or wholly outside it. Rectangles are given by two inclusive corners.
 * Only sc_canvas_init and sc_canvas_write_png can fail; they return an
 * sc_status with a detail, like the rest of the library. */
#ifndef SC_IO_IMAGE_H
#define SC_IO_IMAGE_H

#include <stdint.h>

#include "spurcl/error.h"

typedef struct sc_rgb {
    uint8_t r, g, b;
} sc_rgb;

typedef struct sc_canvas {
    int w, h;
    uint8_t *px; /* w * h RGB triples, row-major */
} sc_canvas;

/* ---- canvas ------------------------------------------------------------- */

/* Largest width or height of a canvas, and largest pixel count. */
#define SC_CANVAS_MAX_DIM 1000000
#define SC_CANVAS_MAX_PIXELS ((int64_t)1 << 30)

/* Allocates a w x h canvas filled with `bg`. SC_ERR_INVALID_ARG when a side
 * is outside 1..SC_CANVAS_MAX_DIM or the area above SC_CANVAS_MAX_PIXELS;
 * SC_ERR_OUT_OF_MEMORY when allocation fails. On failure *cv is zeroed. */
sc_status sc_canvas_init(sc_canvas *cv, int w, int h, sc_rgb bg);
/* Frees the pixels and zeroes *cv; safe on a zeroed canvas. */
void sc_canvas_free(sc_canvas *cv);
void sc_canvas_fill(sc_canvas *cv, sc_rgb c);
/* Pixel (x, y); outside the canvas nothing happens. */
void sc_canvas_put(sc_canvas *cv, int x, int y, sc_rgb c);
/* The colour at (x, y); (0, 0, 0) outside. */
sc_rgb sc_canvas_get(const sc_canvas *cv, int x, int y);
/* Fills the rectangle with corners (x0, y0) and (x1, y1), both inclusive,
 * in either order. */
void sc_canvas_rect(sc_canvas *cv, int x0, int y0, int x1, int y1, sc_rgb c);
/* Bresenham line from (x0, y0) to (x1, y1), both ends included, drawn with
 * a pen x pen square pen whose top-left corner follows the line (pen < 1
 * counts as 1). A pen-1 line sets max(|dx|, |dy|) + 1 pixels. */
void sc_canvas_line(sc_canvas *cv, int x0, int y0, int x1, int y1, int pen, sc_rgb c);
/* Draws image `chw` (uint8 [c, h, w], planar) with its top-left corner at
 * (x, y), each source pixel as a scale x scale block: c >= 3 takes the
 * first three planes as R, G, B; c 1 or 2 shows plane 0 as grey. */
void sc_canvas_blit(sc_canvas *cv, int x, int y, const uint8_t *chw, int c, int h, int w,
                    int scale);

/* Writes the canvas as an 8-bit RGB PNG through sc_png_write (atomic). */
sc_status sc_canvas_write_png(const sc_canvas *cv, const char *path);

/* ---- heat map ----------------------------------------------------------- */

/* black -> red -> yellow -> white as t goes 0 -> 1/3 -> 2/3 -> 1 (t is
 * clamped to [0, 1]; NaN counts as 0): r = min(1, 3t),
 * g = clamp(3t - 1, 0, 1), b = clamp(3t - 2, 0, 1), each times 255,
 * rounded. */
sc_rgb sc_heat_rgb(double t);
/* Draws the h x w map `v` (row-major) through sc_heat_rgb(v / vmax), each
 * value as a scale x scale block; vmax <= 0 (or not finite) draws black. */
void sc_canvas_heatmap(sc_canvas *cv, int x, int y, const float *v, int h, int w, double vmax,
                       int scale);

/* ---- text --------------------------------------------------------------- */

/* The font: 5x7 glyphs (capitals and digits 7 rows high) with two rows
 * below the baseline for the descenders of g j p q y , ;, in 6-pixel cells
 * (one column of spacing), for printable ASCII 32..126 (upper and lower
 * case, digits, punctuation). Any other byte, and space, leaves an empty
 * cell. */
#define SC_FONT_W 5
#define SC_FONT_CAP 7 /* rows above the baseline */
#define SC_FONT_H 9   /* all rows, descenders included */
#define SC_FONT_ADVANCE 6

/* The glyph of `ch`: SC_FONT_H rows top to bottom, bit 4 (0x10) of a row is
 * the leftmost column. NULL for bytes outside 32..126. */
const uint8_t *sc_font_glyph(char ch);
/* Ink box of `s` drawn at `scale`: (SC_FONT_ADVANCE * len - 1) * scale wide
 * (0 for ""), SC_FONT_H * scale high (descenders included). Every pixel
 * sc_canvas_text sets lies in [x, x + width) x [y, y + height). */
int sc_text_width(const char *s, int scale);
int sc_text_height(int scale);
/* Draws `s` with its top-left corner at (x, y), each font pixel a
 * scale x scale block (scale < 1 counts as 1). Returns the x at which
 * following text continues the same line: x + SC_FONT_ADVANCE * len * scale. */
int sc_canvas_text(sc_canvas *cv, int x, int y, const char *s, int scale, sc_rgb c);

/* ---- plot panels -------------------------------------------------------- */

/* A plot area (x0, y0, w, h: the pixels inside the frame) and the data
 * ranges it shows; `scale` is the text scale of everything the panel writes
 * (title, tick labels, legend). */
typedef struct sc_plot {
    int x0, y0, w, h;
    double xmin, xmax, ymin, ymax;
    int scale;
} sc_plot;

/* Pixel column of data x (xmin -> x0, xmax -> x0 + w - 1; the middle when
 * the range is empty) and pixel row of data y (ymin -> bottom row,
 * ymax -> top row). */
int sc_plot_px(const sc_plot *p, double x);
int sc_plot_py(const sc_plot *p, double y);
/* The frame one pixel outside the plot area, the title above it (over the
 * legend line), y ticks with labels ("%.3g") at ymin, the middle and ymax
 * with light grid lines, and the two x labels under the left and right ends
 * (either may be NULL). */
void sc_plot_frame(sc_canvas *cv, const sc_plot *p, const char *title, const char *xlabel_lo,
                   const char *xlabel_hi);
/* One line of coloured labels between the title and the frame. */
void sc_plot_legend(sc_canvas *cv, const sc_plot *p, const char *const *labels, const sc_rgb *cols,
                    int n);
/* Points (5x5 squares) at (x[i], y[i]) joined by 2-pixel lines; points
 * whose x or y is not finite are skipped (the line joins their
 * neighbours). */
void sc_plot_series(sc_canvas *cv, const sc_plot *p, const double *x, const double *y, int n,
                    sc_rgb c);
/* Grouped bars: the plot width is cut into `nbins` bins of w / nbins pixels;
 * inside a bin, series s (of `nseries`) gets an equal slot, one pixel of gap
 * at each end of the bin, and a bar from the bottom row up to
 * sc_plot_py(vals[s][b]). Values <= 0 or not finite draw nothing. */
void sc_plot_bars(sc_canvas *cv, const sc_plot *p, const double *const *vals, const sc_rgb *cols,
                  int nseries, int nbins);

#endif
