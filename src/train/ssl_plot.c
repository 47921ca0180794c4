/* The plot of a self-supervised run (sc_ssl_plot, include/spurcl/ssl.h): five
 * panels drawn with the library's renderer (io/image.h), four of them the
 * run's curves over epochs (train/curves.h). */
#include "base/base.h"
#include "io/image.h"
#include "train/curves.h"
#include "spurcl/io.h"
#include "spurcl/ssl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const sc_rgb C_WHITE = {255, 255, 255}, C_BLUE = {31, 100, 200}, C_RED = {210, 40, 40};

/* The picture: 1260 x 680, two rows of three panels (train/curves.h). */
enum { COLS = 3, PLOT_W = COLS * SC_CURVES_CELL_W, PLOT_H = 2 * SC_CURVES_CELL_H };

/* The per-epoch lines of metrics.jsonl (one an epoch) and the four panels
 * over them; the fifth, the final weights, is drawn here. */
static const char *const KEYS[] = {"epoch", "loss", "knn_acc", "knn_wga", "speed_aligned",
                                   "speed_conflicting", "mass_conflicting",
                                   "la_mass_conflicting"};
static const sc__curves_panel PANELS[4] = {
    {"Training loss", SC_CURVES_Y_FIT, {"loss"}, {NULL}},
    {"k-NN accuracy (val)", SC_CURVES_Y_FIT, {"knn_acc", "knn_wga"},
     {"average", "worst group"}},
    {"Learning speed by epoch", SC_CURVES_Y_FIT, {"speed_aligned", "speed_conflicting"},
     {"aligned", "conflicting"}},
    {"Mass on conflicting samples", SC_CURVES_Y_ZERO,
     {"mass_conflicting", "la_mass_conflicting"}, {"sampled", "LA weights"}},
};

/* The histogram of N p_i (w: the final LA weights of the sampler's n
 * slots), as the share of aligned and of conflicting samples per bin. */
static void draw_weights(sc_canvas *cv, const sc_dataset *d, const sc_la_sampler *s,
                         const double *w, int64_t n)
{
    enum { NB = 24 };
    double wmax = 0, ha[NB] = {0}, hc[NB] = {0};
    int64_t na = 0, nc = 0;
    for (int64_t k = 0; k < n; k++)
        wmax = fmax(wmax, w[k] * (double)n);
    if (!(wmax > 0))
        wmax = 1;
    int A = d->num_attrs > 0 ? d->num_attrs : 1;
    for (int64_t k = 0; k < n; k++) {
        int bi = (int)(w[k] * (double)n / wmax * NB);
        bi = bi >= NB ? NB - 1 : bi;
        int64_t i = sc_la_sampler_indices(s)[k];
        if (d->attrs[i] == d->labels[i] % A) { /* aligned */
            ha[bi]++;
            na++;
        } else {
            hc[bi]++;
            nc++;
        }
    }
    double hmax = 0;
    for (int b = 0; b < NB; b++) {
        ha[b] = na ? ha[b] / (double)na : 0;
        hc[b] = nc ? hc[b] / (double)nc : 0;
        hmax = fmax(hmax, fmax(ha[b], hc[b]));
    }
    sc_plot p = sc__curves_cell(4, COLS);
    p.xmin = 0;
    p.xmax = wmax;
    p.ymin = 0;
    p.ymax = hmax > 0 ? hmax : 1;
    char xr[32];
    snprintf(xr, sizeof xr, "N p = %.3g", wmax);
    sc_plot_frame(cv, &p, "Final LA weights (share)", "0", xr);
    sc_plot_bars(cv, &p, (const double *const[]){ha, hc}, (const sc_rgb[]){C_BLUE, C_RED}, 2,
                 NB);
    sc_plot_legend(cv, &p, (const char *[]){"aligned", "conflicting"},
                   (const sc_rgb[]){C_BLUE, C_RED}, 2);
}

sc_status sc_ssl_plot(const char *metrics_jsonl, const sc_dataset *d, const sc_la_sampler *s,
                      const char *png_path)
{
    sc__curves_data c;
    sc_status st = sc__curves_read(metrics_jsonl, KEYS, (int)(sizeof KEYS / sizeof KEYS[0]), &c);
    if (st != SC_OK)
        return sc_error_wrap(st, "plotting %s", metrics_jsonl);
    int64_t n = sc_la_sampler_size(s);
    double *w = malloc((size_t)n * sizeof *w);
    uint8_t *seen = malloc((size_t)n);
    sc_canvas cv = {0};
    if (!w || !seen)
        st = sc_oom("plot");
    if (st == SC_OK) {
        const sc_la_config *lcfg = sc_la_sampler_config(s);
        for (int64_t k = 0; k < n; k++)
            seen[k] = sc_la_sampler_seen(s)[k] > 0;
        st = sc_la_weights(sc_la_sampler_speeds(s), seen, n, lcfg->quantile, lcfg->gamma, w,
                           NULL);
    }
    if (st == SC_OK)
        st = sc_canvas_init(&cv, PLOT_W, PLOT_H, C_WHITE);
    if (st == SC_OK) {
        for (int k = 0; k < 4; k++)
            sc__curves_draw(&cv, sc__curves_cell(k, COLS), &PANELS[k], &c, "epoch");
        draw_weights(&cv, d, s, w, n);
        st = sc_canvas_write_png(&cv, png_path);
    }
    sc_canvas_free(&cv);
    sc__curves_free(&c);
    free(w);
    free(seen);
    return st == SC_OK ? st : sc_error_wrap(st, "plotting %s", metrics_jsonl);
}
