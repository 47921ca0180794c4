/* Curves of a run's metrics.jsonl (src/train/curves.c), drawn with the
 * library's renderer (io/image.h): DIR/curves.png, which the loop writes for
 * every trainer at every epoch's end, and the epoch panels of LA-SSL's
 * speeds.png (train/ssl_plot.c).
 *
 * A picture is a grid of panels, each a 420 x 340 cell holding a
 * 330 x 230 plot area with its title and legend above it. A panel names
 * the metrics.jsonl keys it draws; lines without a key (or with a negative
 * value, the lines' stand-in for "none") leave a gap that the curve
 * bridges. */
#ifndef SC_TRAIN_CURVES_H
#define SC_TRAIN_CURVES_H

#include "io/image.h"
#include "spurcl/error.h"

#define SC_CURVES_MAX_SERIES 4
#define SC_CURVES_MAX_PANELS 4
#define SC_CURVES_MAX_KEYS 16

enum { SC_CURVES_CELL_W = 420, SC_CURVES_CELL_H = 340 };

/* How a panel's y axis spans its values. */
typedef enum sc__curves_y {
    SC_CURVES_Y_FIT = 0,  /* the values' range, padded by 5 % */
    SC_CURVES_Y_ZERO = 1  /* from 0 to 1.1 x the largest value */
} sc__curves_y;

/* One panel: its title, y axis and up to SC_CURVES_MAX_SERIES curves
 * (keys[i] with legend label labels[i]; the first NULL key ends them; a
 * NULL label list draws no legend). */
typedef struct sc__curves_panel {
    const char *title;
    sc__curves_y y;
    const char *keys[SC_CURVES_MAX_SERIES];
    const char *labels[SC_CURVES_MAX_SERIES];
} sc__curves_panel;

/* Columns of a metrics.jsonl: v[k][i] is key k of kept line i (NaN where
 * absent or negative); a line is kept when key 0 (the x axis) is there. */
typedef struct sc__curves_data {
    int n, nkeys;
    const char *keys[SC_CURVES_MAX_KEYS];
    double *v[SC_CURVES_MAX_KEYS];
} sc__curves_data;

sc_status sc__curves_read(const char *path, const char *const *keys, int nkeys,
                          sc__curves_data *out);
void sc__curves_free(sc__curves_data *c);

/* The plot area of cell k of a grid `cols` cells wide (row-major), with
 * no data ranges and the pictures' text scale. */
sc_plot sc__curves_cell(int k, int cols);

/* Panel `pn` in plot area `p` (its x range is set here, from column 0 of
 * `c`): frame, title, x labels "<xname> <first>" and "<last>", curves,
 * legend. */
void sc__curves_draw(sc_canvas *cv, sc_plot p, const sc__curves_panel *pn,
                     const sc__curves_data *c, const char *xname);

/* DIR/curves.png of a run: its metrics.jsonl over "step", one panel of
 * `panels` per cell, two cells a row (one when there is one panel). */
sc_status sc__curves_plot(const char *metrics_jsonl, const sc__curves_panel *panels, int n,
                          const char *png_path);

#endif
