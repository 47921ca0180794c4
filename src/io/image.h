/* The library's one renderer (internal, not installed): an RGB canvas with
 * filled rectangles, thick lines, scaled image blits, a perceptual colour
 * map with a heat overlay and a colour bar, text in one 5x7 bitmap font
 * (with descenders), labelled grids of cells, plot panels (frame, tick
 * labels, series, grouped bars, legend) and an atomic PNG writer.
 *
 * Users: the saliency grid (io/render.c), every run's curves.png
 * (train/curves.c), the LA-SSL speeds plot (train/ssl_plot.c, its curve
 * panels through train/curves.c), the comparison chart
 * (train/compare_out.c) and the data preview (datasets/preview.c); the
 * saliency grid and the preview share the labelled grid below.
 * Host only.
 *
 * Coordinates are pixels, x to the right and y down, (0, 0) the top-left
 * corner. Every drawing call clips to the canvas, so a caller may draw
 * partly or wholly outside it. Rectangles are given by two inclusive corners.
 * Only sc_canvas_init, sc_grid_layout and sc_canvas_write_png can fail; they
 * return an sc_status with a detail, like the rest of the library. */
#ifndef SC_IO_IMAGE_H
#define SC_IO_IMAGE_H

#include <stddef.h>
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

/* ---- colour map, heat overlay, colour bar ------------------------------- */

/* The heat colour map: matplotlib's "inferno" (perceptually uniform, black
 * -> purple -> red -> orange -> pale yellow, readable in grey and by
 * colour-blind readers), as 17 knots at t = k/16 sampled from its
 * 256-entry table and joined linearly (within 7/255 of the table). t is
 * clamped to [0, 1]; NaN counts as 0. sc_heat_rgb(0) = (0, 0, 4),
 * sc_heat_rgb(1) = (252, 255, 164). */
sc_rgb sc_heat_rgb(double t);
/* The grey level of pixel p of a planar image with `plane` pixels a
 * channel: c >= 3 takes Rec. 601 luma round(0.299 R + 0.587 G + 0.114 B)
 * of the first three planes, c 1 or 2 plane 0. */
uint8_t sc_image_grey(const uint8_t *chw, int c, size_t plane, size_t p);
/* Opacity of the heat colour over the image at full value, and the
 * brightness of the grey image under it (dimmed so that the light end of
 * the map stands out on light image pixels). */
#define SC_HEAT_ALPHA 0.85
#define SC_HEAT_BASE 0.6
/* Draws image `chw` (uint8 [c, h, w]) in grey, dimmed
 * (base = round(SC_HEAT_BASE * sc_image_grey)), with the h x w map `v`
 * blended on top, each pixel a scale x scale block: with
 * t = clamp(v / vmax, 0, 1) (0 where v is NaN, or vmax <= 0 or not
 * finite) and a = SC_HEAT_ALPHA * t, each channel is
 * round((1 - a) * base + a * sc_heat_rgb(t)). A zero value shows the
 * dimmed grey image unchanged. */
void sc_canvas_heat_overlay(sc_canvas *cv, int x, int y, const uint8_t *chw, int c, const float *v,
                            int h, int w, double vmax, int scale);
/* A horizontal colour bar: a w x h strip with its top-left corner at
 * (x, y), column i coloured sc_heat_rgb(i / (w - 1)), framed one pixel
 * outside in `ink`; under it `nticks` tick marks (3 pixels) and labels
 * spread evenly from the left end (t = 0) to the right end (t = 1), the
 * first label left-aligned, the last right-aligned, the others centred.
 * Everything it draws lies in [x - 1, x + w] x [y - 1, y + h + 5 +
 * sc_text_height(scale)). */
void sc_canvas_colorbar(sc_canvas *cv, int x, int y, int w, int h, const char *const *ticks,
                        int nticks, int scale, sc_rgb ink);

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
/* sc_canvas_text within max_w pixels: a string wider than that is cut to
 * as many characters as fit with ".." after them. Returns the width drawn
 * (<= max_w; 0 when not even ".." fits). */
int sc_canvas_text_fit(sc_canvas *cv, int x, int y, const char *s, int scale, int max_w,
                       sc_rgb c);
/* A line of text with the space under it: (SC_FONT_H + 3) * scale. */
int sc_line_height(int scale);

/* ---- labelled grids ----------------------------------------------------- */

/* The look the grid pictures share: white paper, near-black ink, grey for
 * secondary text, light grey for empty cells. */
#define SC_FIG_PAPER ((sc_rgb){255, 255, 255})
#define SC_FIG_INK ((sc_rgb){25, 25, 25})
#define SC_FIG_MUTED ((sc_rgb){105, 105, 105})
#define SC_FIG_EMPTY ((sc_rgb){232, 232, 232})

/* A figure of labelled rows of cells (the saliency grid, the data
 * preview). From the top: a margin, `title_lines` lines at title_scale,
 * then the grid: `rows` rows of `cols` cells, each cell an image area
 * cell_w x cell_h centred in a column col_w wide (0: cell_w) with
 * `captions` lines at caption_scale under it, and left of every row its
 * label (label_lines lines at label_scale in a column label_w wide; a row
 * is at least that high); under the grid
 * footer_h pixels for a legend, then the margin. Rows wrap into
 * side-by-side blocks of block_rows rows (0: one block), each block with
 * its own label column. The figure is at least min_w + 2 * margin wide.
 *
 * Geometry (sc_grid_layout fills the outputs; col_w is set to
 * max(col_w, cell_w)):
 *   margin = 8 + 4 * title_scale            gap = 2 + cell_w / 20
 *   pitch_x = col_w + gap
 *   pitch_y = max(cell_h + (captions ? 2 + captions * sc_line_height(caption_scale) : 0),
 *                 label_lines * sc_line_height(label_scale)) + gap
 *   label_gap = 8 * label_scale + gap       (0 when label_w is 0)
 *   block_w = label_w + label_gap + cols * pitch_x - gap
 *   blocks = ceil(rows / block_rows), block_gap = 3 * margin
 *   x0 = margin + label_w + label_gap      (column 0's left edge)
 *   y0 = margin + title_lines * sc_line_height(title_scale)
 *        + (title_lines ? margin / 2 : 0)  (row 0's top)
 *   width = 2 * margin + max(blocks * block_w + (blocks - 1) * block_gap, min_w)
 *   height = y0 + min(rows, block_rows) * pitch_y - gap + footer_h + margin
 *   foot_y = height - margin - footer_h     (the footer's top)
 * Cell (row, col) of block b = row / block_rows has its image at
 *   x = x0 + b * (block_w + block_gap) + col * pitch_x + (col_w - cell_w) / 2
 *   y = y0 + (row % block_rows) * pitch_y. */
typedef struct sc_grid {
    /* inputs */
    int rows, cols, block_rows;
    int cell_w, cell_h, col_w, captions;
    int label_w, label_lines;
    int title_lines, footer_h, min_w;
    int title_scale, label_scale, caption_scale;
    /* outputs */
    int margin, gap, pitch_x, pitch_y, label_gap, block_w, block_gap, blocks;
    int x0, y0, width, height, foot_y;
} sc_grid;

/* Fills the outputs of `g` from its inputs. SC_ERR_INVALID_ARG (naming
 * `what`, e.g. "saliency picture", and the size) when an input is out of range or the figure would exceed
 * SC_CANVAS_MAX_DIM / SC_CANVAS_MAX_PIXELS. */
sc_status sc_grid_layout(sc_grid *g, const char *what);
/* Top-left corner of the image area of cell (row, col). */
void sc_grid_cell(const sc_grid *g, int row, int col, int *x, int *y);
/* Title line `line` (left-aligned over the whole figure, cut to fit). */
void sc_grid_title(sc_canvas *cv, const sc_grid *g, int line, const char *s, sc_rgb c);
/* Line `line` of row `row`'s label, left-aligned in the label column from
 * the top of the row's image area, cut to label_w. */
void sc_grid_label(sc_canvas *cv, const sc_grid *g, int row, int line, const char *s, sc_rgb c);
/* Caption line `line` under cell (row, col), centred on its column, cut
 * to col_w. */
void sc_grid_caption(sc_canvas *cv, const sc_grid *g, int row, int col, int line, const char *s,
                     sc_rgb c);
/* A frame `pen` pixels thick just outside cell (row, col)'s image area
 * (pen <= gap / 2 keeps it off the neighbours and the captions). */
void sc_grid_frame(sc_canvas *cv, const sc_grid *g, int row, int col, int pen, sc_rgb c);

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
