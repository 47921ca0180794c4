/* The LA-SSL speeds plot of a run (sc_ssl_plot, include/spurcl/ssl.h). */
#include "base/base.h"
#include "spurcl/io.h"
#include "spurcl/ssl.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool is_aligned(const sc_dataset *d, int64_t i)
{
    return d->attrs[i] == d->labels[i] % (d->num_attrs > 0 ? d->num_attrs : 1);
}

/* ---- the speeds plot: a tiny line-plot renderer -------------------------- */

/* 3x5 glyphs, rows top to bottom, 3 bits a row (bit 2 = left column). */
typedef struct glyph3 {
    char c;
    uint8_t rows[5];
} glyph3;

static const glyph3 font3[] = {
    {'0', {7, 5, 5, 5, 7}}, {'1', {2, 6, 2, 2, 7}}, {'2', {7, 1, 7, 4, 7}},
    {'3', {7, 1, 7, 1, 7}}, {'4', {5, 5, 7, 1, 1}}, {'5', {7, 4, 7, 1, 7}},
    {'6', {7, 4, 7, 5, 7}}, {'7', {7, 1, 1, 2, 2}}, {'8', {7, 5, 7, 5, 7}},
    {'9', {7, 5, 7, 1, 7}}, {'.', {0, 0, 0, 0, 2}}, {'-', {0, 0, 7, 0, 0}},
    {'+', {0, 2, 7, 2, 0}}, {'/', {1, 1, 2, 4, 4}}, {':', {0, 2, 0, 2, 0}},
    {'=', {0, 7, 0, 7, 0}}, {'(', {1, 2, 2, 2, 1}}, {')', {4, 2, 2, 2, 4}},
    {'A', {2, 5, 7, 5, 5}}, {'B', {6, 5, 6, 5, 6}}, {'C', {3, 4, 4, 4, 3}},
    {'D', {6, 5, 5, 5, 6}}, {'E', {7, 4, 6, 4, 7}}, {'F', {7, 4, 6, 4, 4}},
    {'G', {3, 4, 5, 5, 3}}, {'H', {5, 5, 7, 5, 5}}, {'I', {7, 2, 2, 2, 7}},
    {'J', {1, 1, 1, 5, 2}}, {'K', {5, 5, 6, 5, 5}}, {'L', {4, 4, 4, 4, 7}},
    {'M', {5, 7, 7, 5, 5}}, {'N', {6, 5, 5, 5, 5}}, {'O', {2, 5, 5, 5, 2}},
    {'P', {6, 5, 6, 4, 4}}, {'Q', {2, 5, 5, 6, 3}}, {'R', {6, 5, 6, 5, 5}},
    {'S', {3, 4, 2, 1, 6}}, {'T', {7, 2, 2, 2, 2}}, {'U', {5, 5, 5, 5, 7}},
    {'V', {5, 5, 5, 5, 2}}, {'W', {5, 5, 7, 7, 5}}, {'X', {5, 5, 2, 5, 5}},
    {'Y', {5, 5, 2, 2, 2}}, {'Z', {7, 1, 2, 4, 7}},
};

typedef struct canvas {
    int w, h;
    uint8_t *px; /* RGB */
} canvas;

static void put(canvas *cv, int x, int y, const uint8_t *col)
{
    if (x < 0 || y < 0 || x >= cv->w || y >= cv->h)
        return;
    memcpy(cv->px + 3 * ((size_t)y * (size_t)cv->w + (size_t)x), col, 3);
}

static void rect(canvas *cv, int x0, int y0, int x1, int y1, const uint8_t *col)
{
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++)
            put(cv, x, y, col);
}

/* Bresenham with a 2x2 pen. */
static void line(canvas *cv, int x0, int y0, int x1, int y1, const uint8_t *col)
{
    int dx = abs(x1 - x0), sx = x0 < x1 ? 1 : -1, dy = -abs(y1 - y0), sy = y0 < y1 ? 1 : -1;
    int err = dx + dy;
    for (;;) {
        rect(cv, x0, y0, x0 + 1, y0 + 1, col);
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

/* Text at (x, y) (top-left), glyphs scaled by 2; returns the width. */
static int text(canvas *cv, int x, int y, const char *s, const uint8_t *col)
{
    int x0 = x;
    for (; *s; s++) {
        char c = *s >= 'a' && *s <= 'z' ? (char)(*s - 'a' + 'A') : *s;
        const glyph3 *gl = NULL;
        for (size_t i = 0; i < sizeof font3 / sizeof font3[0]; i++)
            if (font3[i].c == c)
                gl = &font3[i];
        if (gl)
            for (int r = 0; r < 5; r++)
                for (int b = 0; b < 3; b++)
                    if (gl->rows[r] & (4 >> b))
                        rect(cv, x + 2 * b, y + 2 * r, x + 2 * b + 1, y + 2 * r + 1, col);
        x += 8;
    }
    return x - x0;
}

static const uint8_t C_BLACK[3] = {0, 0, 0}, C_GREY[3] = {200, 200, 200},
                     C_BLUE[3] = {31, 100, 200}, C_RED[3] = {210, 40, 40},
                     C_ORANGE[3] = {240, 150, 20}, C_WHITE[3] = {255, 255, 255};

typedef struct panel {
    int x0, y0, w, h;      /* plot area */
    double xmin, xmax, ymin, ymax;
} panel;

static int px_x(const panel *p, double x)
{
    double f = p->xmax > p->xmin ? (x - p->xmin) / (p->xmax - p->xmin) : 0.5;
    return p->x0 + (int)lround(f * (p->w - 1));
}

static int px_y(const panel *p, double y)
{
    double f = p->ymax > p->ymin ? (y - p->ymin) / (p->ymax - p->ymin) : 0.5;
    return p->y0 + p->h - 1 - (int)lround(f * (p->h - 1));
}

static void frame(canvas *cv, const panel *p, const char *title, const char *xl0, const char *xl1)
{
    rect(cv, p->x0 - 1, p->y0 - 1, p->x0 + p->w, p->y0 - 1, C_GREY);
    rect(cv, p->x0 - 1, p->y0 + p->h, p->x0 + p->w, p->y0 + p->h, C_BLACK);
    rect(cv, p->x0 - 1, p->y0 - 1, p->x0 - 1, p->y0 + p->h, C_BLACK);
    rect(cv, p->x0 + p->w, p->y0 - 1, p->x0 + p->w, p->y0 + p->h, C_GREY);
    text(cv, p->x0, p->y0 - 44, title, C_BLACK);
    char b[32];
    snprintf(b, sizeof b, "%.3g", p->ymax);
    text(cv, p->x0 - 4 - 8 * (int)strlen(b), p->y0, b, C_BLACK);
    snprintf(b, sizeof b, "%.3g", p->ymin);
    text(cv, p->x0 - 4 - 8 * (int)strlen(b), p->y0 + p->h - 10, b, C_BLACK);
    text(cv, p->x0, p->y0 + p->h + 6, xl0, C_BLACK);
    text(cv, p->x0 + p->w - 8 * (int)strlen(xl1), p->y0 + p->h + 6, xl1, C_BLACK);
}

static void series(canvas *cv, const panel *p, const double *x, const double *y, int n,
                   const uint8_t *col)
{
    int prev = -1;
    for (int i = 0; i < n; i++) {
        if (!isfinite(y[i]) || y[i] < 0)
            continue;
        int X = px_x(p, x[i]), Y = px_y(p, y[i]);
        rect(cv, X - 2, Y - 2, X + 2, Y + 2, col);
        if (prev >= 0)
            line(cv, px_x(p, x[prev]), px_y(p, y[prev]), X, Y, col);
        prev = i;
    }
}

static void range_of(const double *a, int n, double *lo, double *hi)
{
    for (int i = 0; i < n; i++)
        if (isfinite(a[i]) && a[i] >= 0) {
            if (a[i] < *lo)
                *lo = a[i];
            if (a[i] > *hi)
                *hi = a[i];
        }
}

static double jnum(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

sc_status sc_ssl_plot(const char *metrics_jsonl, const sc_dataset *d, const sc_la_sampler *s,
                      const char *png_path)
{
    uint8_t *txt = NULL;
    size_t size = 0;
    SC_TRY(sc_io_read_file(metrics_jsonl, (size_t)1 << 28, &txt, &size));
    int cap = 1;
    for (size_t i = 0; i < size; i++)
        cap += txt[i] == '\n';
    double *ep = calloc((size_t)cap, sizeof *ep), *sa = calloc((size_t)cap, sizeof *sa),
           *sc = calloc((size_t)cap, sizeof *sc), *mc = calloc((size_t)cap, sizeof *mc),
           *lc = calloc((size_t)cap, sizeof *lc);
    int64_t n = sc_la_sampler_size(s);
    double *w = malloc((size_t)n * sizeof *w);
    uint8_t *flag = malloc((size_t)n);
    canvas cv = {.w = 1260, .h = 340};
    cv.px = malloc((size_t)cv.w * (size_t)cv.h * 3);
    sc_status st = SC_OK;
    if (!ep || !sa || !sc || !mc || !lc || !w || !flag || !cv.px)
        st = sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of host memory (plot)");
    int ne = 0;
    for (char *line_s = (char *)txt; st == SC_OK && line_s && *line_s;) {
        char *nl = strchr(line_s, '\n');
        if (nl)
            *nl = '\0';
        cJSON *o = cJSON_Parse(line_s);
        if (o && ne < cap) {
            ep[ne] = jnum(o, "epoch");
            sa[ne] = jnum(o, "speed_aligned");
            sc[ne] = jnum(o, "speed_conflicting");
            mc[ne] = jnum(o, "mass_conflicting");
            lc[ne] = jnum(o, "la_mass_conflicting");
            if (isfinite(ep[ne]))
                ne++;
        }
        cJSON_Delete(o);
        line_s = nl ? nl + 1 : NULL;
    }
    if (st == SC_OK) {
        const sc_la_config *lcfg = sc_la_sampler_config(s);
        for (int64_t k = 0; k < n; k++)
            flag[k] = sc_la_sampler_seen(s)[k] > 0;
        st = sc_la_weights(sc_la_sampler_speeds(s), flag, n, lcfg->quantile, lcfg->gamma, w, NULL);
    }
    if (st == SC_OK) {
        memset(cv.px, 255, (size_t)cv.w * (size_t)cv.h * 3);
        char x1[32];
        snprintf(x1, sizeof x1, "%d", ne ? (int)ep[ne - 1] : 1);
        /* 1: learning speeds */
        panel p1 = {.x0 = 70, .y0 = 64, .w = 330, .h = 230, .xmin = ne ? ep[0] : 1,
                    .xmax = ne ? ep[ne - 1] : 1, .ymin = INFINITY, .ymax = -INFINITY};
        range_of(sa, ne, &p1.ymin, &p1.ymax);
        range_of(sc, ne, &p1.ymin, &p1.ymax);
        if (!isfinite(p1.ymin)) {
            p1.ymin = 0;
            p1.ymax = 1;
        }
        double pad = (p1.ymax - p1.ymin) * 0.05 + 1e-9;
        p1.ymin -= pad;
        p1.ymax += pad;
        frame(&cv, &p1, "LEARNING SPEED BY EPOCH", "EPOCH 1", x1);
        series(&cv, &p1, ep, sa, ne, C_BLUE);
        series(&cv, &p1, ep, sc, ne, C_RED);
        int lx = p1.x0 + text(&cv, p1.x0, p1.y0 - 24, "ALIGNED ", C_BLUE);
        text(&cv, lx, p1.y0 - 24, "CONFLICTING", C_RED);
        /* 2: mass on conflicting samples */
        panel p2 = p1;
        p2.x0 = 490;
        p2.ymin = 0;
        p2.ymax = -INFINITY;
        double lo = INFINITY;
        range_of(mc, ne, &lo, &p2.ymax);
        range_of(lc, ne, &lo, &p2.ymax);
        if (!(p2.ymax > 0))
            p2.ymax = 1;
        p2.ymax *= 1.1;
        frame(&cv, &p2, "MASS ON CONFLICTING SAMPLES", "EPOCH 1", x1);
        series(&cv, &p2, ep, mc, ne, C_RED);
        series(&cv, &p2, ep, lc, ne, C_ORANGE);
        lx = p2.x0 + text(&cv, p2.x0, p2.y0 - 24, "SAMPLED ", C_RED);
        text(&cv, lx, p2.y0 - 24, "LA WEIGHTS", C_ORANGE);
        /* 3: histogram of N p_i */
        enum { NB = 24 };
        double wmax = 0, ha[NB] = {0}, hc[NB] = {0};
        int64_t na = 0, nc = 0;
        for (int64_t k = 0; k < n; k++)
            if (w[k] * (double)n > wmax)
                wmax = w[k] * (double)n;
        if (!(wmax > 0))
            wmax = 1;
        for (int64_t k = 0; k < n; k++) {
            int bi = (int)(w[k] * (double)n / wmax * NB);
            if (bi >= NB)
                bi = NB - 1;
            if (is_aligned(d, sc_la_sampler_indices(s)[k])) {
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
        panel p3 = {.x0 = 910, .y0 = 64, .w = 330, .h = 230, .xmin = 0, .xmax = wmax, .ymin = 0,
                    .ymax = hmax > 0 ? hmax : 1};
        char xr[32];
        snprintf(xr, sizeof xr, "N P = %.3g", wmax);
        frame(&cv, &p3, "FINAL LA WEIGHTS (SHARE)", "0", xr);
        int bw = p3.w / NB;
        for (int b = 0; b < NB; b++) {
            int bx = p3.x0 + b * bw;
            if (ha[b] > 0)
                rect(&cv, bx + 1, px_y(&p3, ha[b]), bx + bw / 2 - 1, p3.y0 + p3.h - 1, C_BLUE);
            if (hc[b] > 0)
                rect(&cv, bx + bw / 2, px_y(&p3, hc[b]), bx + bw - 2, p3.y0 + p3.h - 1, C_RED);
        }
        lx = p3.x0 + text(&cv, p3.x0, p3.y0 - 24, "ALIGNED ", C_BLUE);
        text(&cv, lx, p3.y0 - 24, "CONFLICTING", C_RED);
        (void)C_WHITE;
        st = sc_png_write(png_path, cv.px, cv.w, cv.h, 3);
    }
    free(txt);
    free(ep);
    free(sa);
    free(sc);
    free(mc);
    free(lc);
    free(w);
    free(flag);
    free(cv.px);
    return st == SC_OK ? st : sc_error_wrap(st, "plotting %s", metrics_jsonl);
}
