/* The plot of a self-supervised run (sc_ssl_plot, include/spurcl/ssl.h): five
 * panels drawn with the library's renderer (io/image.h). */
#include "base/base.h"
#include "io/image.h"
#include "spurcl/io.h"
#include "spurcl/ssl.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const sc_rgb C_WHITE = {255, 255, 255}, C_BLUE = {31, 100, 200},
                    C_RED = {210, 40, 40}, C_ORANGE = {240, 150, 20}, C_BLACK = {0, 0, 0};

/* The picture: 1260 x 680, two rows of 330 x 230 panels, three to a row;
 * the k-th plot area starts at column PANEL_X + (k % 3) * PANEL_STEP, row
 * PANEL_Y + (k / 3) * ROW_STEP. */
enum { PLOT_W = 1260, PLOT_H = 680, PANEL_X = 70, PANEL_STEP = 420, PANEL_Y = 64,
       ROW_STEP = 340, PANEL_W = 330, PANEL_H = 230, TEXT_SCALE = 2 };

/* The per-epoch curves of metrics.jsonl (one line an epoch), a column per
 * key. */
enum { EPOCH, SPEED_ALIGNED, SPEED_CONFLICTING, MASS_CONFLICTING, LA_MASS_CONFLICTING, LOSS,
       KNN_ACC, KNN_WGA, NCOL };
static const char *const KEYS[NCOL] = {"epoch", "speed_aligned", "speed_conflicting",
                                       "mass_conflicting", "la_mass_conflicting", "loss",
                                       "knn_acc", "knn_wga"};

typedef struct curves {
    int n;
    double *v[NCOL];
} curves;

static void curves_free(curves *c)
{
    for (int k = 0; k < NCOL; k++)
        free(c->v[k]);
}

/* A value of a metrics line; NaN when absent, null or negative (every
 * plotted quantity is >= 0), so the plot skips it. */
static double jnum(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) && v->valuedouble >= 0 ? v->valuedouble : NAN;
}

/* Lines that do not parse, or have no epoch, are skipped. */
static sc_status read_curves(const char *path, curves *c)
{
    memset(c, 0, sizeof *c);
    uint8_t *txt = NULL;
    size_t size = 0;
    SC_TRY(sc_io_read_file(path, (size_t)1 << 28, &txt, &size));
    size_t cap = 1;
    for (size_t i = 0; i < size; i++)
        cap += txt[i] == '\n';
    for (int k = 0; k < NCOL; k++)
        if (!(c->v[k] = calloc(cap, sizeof(double)))) {
            free(txt);
            curves_free(c);
            return sc_oom("plot curves");
        }
    for (char *line = (char *)txt; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        cJSON *o = cJSON_Parse(line);
        if (o && (size_t)c->n < cap) {
            for (int k = 0; k < NCOL; k++)
                c->v[k][c->n] = jnum(o, KEYS[k]);
            if (isfinite(c->v[EPOCH][c->n]))
                c->n++;
        }
        cJSON_Delete(o);
        line = nl ? nl + 1 : NULL;
    }
    free(txt);
    return SC_OK;
}

/* Widens [*lo, *hi] to the finite values of a[0..n). */
static void range_of(const double *a, int n, double *lo, double *hi)
{
    for (int i = 0; i < n; i++)
        if (isfinite(a[i])) {
            *lo = fmin(*lo, a[i]);
            *hi = fmax(*hi, a[i]);
        }
}

/* Panel k (0, 1, 2 on the top row from the left, 3, 4 below) with no data
 * ranges set. */
static sc_plot panel(int k)
{
    return (sc_plot){.x0 = PANEL_X + (k % 3) * PANEL_STEP, .y0 = PANEL_Y + (k / 3) * ROW_STEP,
                     .w = PANEL_W, .h = PANEL_H, .scale = TEXT_SCALE};
}

/* Panel k over the epochs of `c`. */
static sc_plot epoch_panel(const curves *c, int k)
{
    sc_plot p = panel(k);
    p.xmin = c->n ? c->v[EPOCH][0] : 1;
    p.xmax = c->n ? c->v[EPOCH][c->n - 1] : 1;
    return p;
}

/* Panel k over the epochs of `c` with the y range of columns cols[0..n)
 * padded by 5 % ([0, 1] when there is no value). */
static sc_plot range_panel(const curves *c, int k, const int *cols, int n)
{
    sc_plot p = epoch_panel(c, k);
    p.ymin = INFINITY;
    p.ymax = -INFINITY;
    for (int i = 0; i < n; i++)
        range_of(c->v[cols[i]], c->n, &p.ymin, &p.ymax);
    if (!isfinite(p.ymin)) {
        p.ymin = 0;
        p.ymax = 1;
    }
    double pad = (p.ymax - p.ymin) * 0.05 + 1e-9;
    p.ymin -= pad;
    p.ymax += pad;
    return p;
}

static void draw_loss(sc_canvas *cv, const curves *c, const char *const xlabels[2])
{
    sc_plot p = range_panel(c, 0, (const int[]){LOSS}, 1);
    sc_plot_frame(cv, &p, "Training loss", xlabels[0], xlabels[1]);
    sc_plot_series(cv, &p, c->v[EPOCH], c->v[LOSS], c->n, C_BLACK);
}

/* The k-NN accuracy on the validation split: epochs without one are NaN
 * and skipped. */
static void draw_knn(sc_canvas *cv, const curves *c, const char *const xlabels[2])
{
    sc_plot p = range_panel(c, 1, (const int[]){KNN_ACC, KNN_WGA}, 2);
    sc_plot_frame(cv, &p, "k-NN accuracy (val)", xlabels[0], xlabels[1]);
    sc_plot_series(cv, &p, c->v[EPOCH], c->v[KNN_ACC], c->n, C_BLUE);
    sc_plot_series(cv, &p, c->v[EPOCH], c->v[KNN_WGA], c->n, C_RED);
    sc_plot_legend(cv, &p, (const char *[]){"average", "worst group"},
                   (const sc_rgb[]){C_BLUE, C_RED}, 2);
}

static void draw_speeds(sc_canvas *cv, const curves *c, const char *const xlabels[2])
{
    sc_plot p = range_panel(c, 2, (const int[]){SPEED_ALIGNED, SPEED_CONFLICTING}, 2);
    sc_plot_frame(cv, &p, "Learning speed by epoch", xlabels[0], xlabels[1]);
    sc_plot_series(cv, &p, c->v[EPOCH], c->v[SPEED_ALIGNED], c->n, C_BLUE);
    sc_plot_series(cv, &p, c->v[EPOCH], c->v[SPEED_CONFLICTING], c->n, C_RED);
    sc_plot_legend(cv, &p, (const char *[]){"aligned", "conflicting"},
                   (const sc_rgb[]){C_BLUE, C_RED}, 2);
}

static void draw_mass(sc_canvas *cv, const curves *c, const char *const xlabels[2])
{
    sc_plot p = epoch_panel(c, 3);
    double lo = INFINITY;
    p.ymin = 0;
    p.ymax = -INFINITY;
    range_of(c->v[MASS_CONFLICTING], c->n, &lo, &p.ymax);
    range_of(c->v[LA_MASS_CONFLICTING], c->n, &lo, &p.ymax);
    if (!(p.ymax > 0))
        p.ymax = 1;
    p.ymax *= 1.1;
    sc_plot_frame(cv, &p, "Mass on conflicting samples", xlabels[0], xlabels[1]);
    sc_plot_series(cv, &p, c->v[EPOCH], c->v[MASS_CONFLICTING], c->n, C_RED);
    sc_plot_series(cv, &p, c->v[EPOCH], c->v[LA_MASS_CONFLICTING], c->n, C_ORANGE);
    sc_plot_legend(cv, &p, (const char *[]){"sampled", "LA weights"},
                   (const sc_rgb[]){C_RED, C_ORANGE}, 2);
}

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
    sc_plot p = panel(4);
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
    curves c;
    sc_status st = read_curves(metrics_jsonl, &c);
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
        char first[32], last[32]; /* the x labels of the epoch panels */
        snprintf(first, sizeof first, "epoch %d", c.n ? (int)c.v[EPOCH][0] : 1);
        snprintf(last, sizeof last, "%d", c.n ? (int)c.v[EPOCH][c.n - 1] : 1);
        const char *const xlabels[2] = {first, last};
        draw_loss(&cv, &c, xlabels);
        draw_knn(&cv, &c, xlabels);
        draw_speeds(&cv, &c, xlabels);
        draw_mass(&cv, &c, xlabels);
        draw_weights(&cv, d, s, w, n);
        st = sc_canvas_write_png(&cv, png_path);
    }
    sc_canvas_free(&cv);
    curves_free(&c);
    free(w);
    free(seen);
    return st == SC_OK ? st : sc_error_wrap(st, "plotting %s", metrics_jsonl);
}
