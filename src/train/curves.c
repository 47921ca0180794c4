/* Curves of a run's metrics.jsonl (src/train/curves.h). */
#include "train/curves.h"

#include "base/base.h"
#include "spurcl/io.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const sc_rgb C_WHITE = {255, 255, 255};
/* the k-th curve of a panel: blue, red, orange, green */
static const sc_rgb PALETTE[SC_CURVES_MAX_SERIES] = {
    {31, 100, 200}, {210, 40, 40}, {240, 150, 20}, {40, 150, 60}};

/* Where the plot area sits in its cell, its size, the text scale. */
/* PLOT_X leaves room for a 7-character tick label ("-0.0943") at TEXT_SCALE */
enum { PLOT_X = 100, PLOT_Y = 64, PLOT_W = 300, PLOT_H = 230, TEXT_SCALE = 2 };

void sc__curves_free(sc__curves_data *c)
{
    for (int k = 0; k < c->nkeys; k++)
        free(c->v[k]);
    memset(c, 0, sizeof *c);
}

/* A value of a metrics line; NaN when absent, null or negative (every
 * plotted quantity is >= 0, and -1 stands for "none"). */
static double jnum(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) && v->valuedouble >= 0 ? v->valuedouble : NAN;
}

sc_status sc__curves_read(const char *path, const char *const *keys, int nkeys,
                          sc__curves_data *c)
{
    memset(c, 0, sizeof *c);
    if (nkeys < 1 || nkeys > SC_CURVES_MAX_KEYS)
        return sc_error_set(SC_ERR_INVALID_ARG, "plotting %s: %d keys", path, nkeys);
    uint8_t *txt = NULL;
    size_t size = 0;
    SC_TRY(sc_io_read_file(path, (size_t)1 << 28, &txt, &size));
    size_t cap = 1;
    for (size_t i = 0; i < size; i++)
        cap += txt[i] == '\n';
    c->nkeys = nkeys;
    for (int k = 0; k < nkeys; k++) {
        c->keys[k] = keys[k];
        if (!(c->v[k] = calloc(cap, sizeof(double)))) {
            free(txt);
            sc__curves_free(c);
            return sc_oom("plot curves");
        }
    }
    for (char *line = (char *)txt; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        cJSON *o = cJSON_Parse(line);
        if (o && (size_t)c->n < cap) {
            for (int k = 0; k < nkeys; k++)
                c->v[k][c->n] = jnum(o, keys[k]);
            if (isfinite(c->v[0][c->n]))
                c->n++;
        }
        cJSON_Delete(o);
        line = nl ? nl + 1 : NULL;
    }
    free(txt);
    return SC_OK;
}

sc_plot sc__curves_cell(int k, int cols)
{
    cols = cols < 1 ? 1 : cols;
    return (sc_plot){.x0 = (k % cols) * SC_CURVES_CELL_W + PLOT_X,
                     .y0 = (k / cols) * SC_CURVES_CELL_H + PLOT_Y, .w = PLOT_W, .h = PLOT_H,
                     .scale = TEXT_SCALE};
}

static const double *column(const sc__curves_data *c, const char *key)
{
    for (int k = 0; k < c->nkeys; k++)
        if (!strcmp(c->keys[k], key))
            return c->v[k];
    return NULL;
}

void sc__curves_draw(sc_canvas *cv, sc_plot p, const sc__curves_panel *pn,
                     const sc__curves_data *c, const char *xname)
{
    const double *x = c->v[0];
    p.xmin = c->n ? x[0] : 0;
    p.xmax = c->n ? x[c->n - 1] : 1;
    const double *ys[SC_CURVES_MAX_SERIES];
    int ns = 0;
    double lo = INFINITY, hi = -INFINITY;
    for (; ns < SC_CURVES_MAX_SERIES && pn->keys[ns]; ns++) {
        ys[ns] = column(c, pn->keys[ns]);
        for (int i = 0; ys[ns] && i < c->n; i++)
            if (isfinite(ys[ns][i])) {
                lo = fmin(lo, ys[ns][i]);
                hi = fmax(hi, ys[ns][i]);
            }
    }
    if (!isfinite(lo)) { /* nothing to draw yet */
        lo = 0;
        hi = 1;
    }
    if (pn->y == SC_CURVES_Y_ZERO) {
        p.ymin = 0;
        p.ymax = hi > 0 ? 1.1 * hi : 1;
    } else {
        double pad = (hi - lo) * 0.05 + 1e-9;
        p.ymin = lo >= 0 && lo - pad < 0 ? 0 : lo - pad; /* no negative tick for >= 0 */
        p.ymax = hi + pad;
    }
    char first[48], last[32];
    snprintf(first, sizeof first, "%s %.0f", xname, p.xmin);
    snprintf(last, sizeof last, "%.0f", p.xmax);
    sc_plot_frame(cv, &p, pn->title, first, last);
    for (int s = 0; s < ns; s++)
        if (ys[s])
            sc_plot_series(cv, &p, x, ys[s], c->n, PALETTE[s]);
    if (pn->labels[0])
        sc_plot_legend(cv, &p, pn->labels, PALETTE, ns);
}

sc_status sc__curves_plot(const char *metrics_jsonl, const sc__curves_panel *panels, int n,
                          const char *png_path)
{
    const char *keys[SC_CURVES_MAX_KEYS] = {"step"};
    int nkeys = 1;
    for (int k = 0; k < n; k++)
        for (int s = 0; s < SC_CURVES_MAX_SERIES && panels[k].keys[s]; s++)
            if (nkeys < SC_CURVES_MAX_KEYS)
                keys[nkeys++] = panels[k].keys[s];
    sc__curves_data c;
    sc_status st = sc__curves_read(metrics_jsonl, keys, nkeys, &c);
    int cols = n > 1 ? 2 : 1, rows = (n + cols - 1) / cols;
    sc_canvas cv = {0};
    if (st == SC_OK)
        st = sc_canvas_init(&cv, cols * SC_CURVES_CELL_W, (rows > 0 ? rows : 1) * SC_CURVES_CELL_H,
                            C_WHITE);
    for (int k = 0; st == SC_OK && k < n; k++)
        sc__curves_draw(&cv, sc__curves_cell(k, cols), &panels[k], &c, "step");
    if (st == SC_OK)
        st = sc_canvas_write_png(&cv, png_path);
    sc_canvas_free(&cv);
    sc__curves_free(&c);
    return st == SC_OK ? st : sc_error_wrap(st, "plotting %s", png_path);
}
