/* The comparison's files (include/spurcl/compare.h): results.csv, results.json
 * (the table and every run's selected evaluations) and chart.png. */
#include "io/image.h"
#include "train/train_internal.h"
#include "spurcl/compare.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* errno of the first stdio call that failed, kept in *err. */
#define PUT(err, call)                                                                             \
    do {                                                                                           \
        if ((call) < 0 && !(err))                                                                  \
            (err) = errno ? errno : EIO;                                                           \
    } while (0)

static sc_status write_csv(FILE *f, void *ud)
{
    const sc_compare_result *r = ud;
    int err = 0;
    PUT(err, fprintf(f, "method,group_labels,selection,setting,seeds,val,test_wga_mean,"
                        "test_wga_std,test_avg_mean,test_avg_std\n"));
    for (int i = 0; i < r->nrows; i++)
        for (int rule = 0; rule < 2; rule++) {
            const sc_compare_row *w = &r->rows[i];
            const sc_compare_cell *c = rule == 0 ? &w->no_labels : &w->with_labels;
            PUT(err, fprintf(f, "%s,%s,%s,\"%s\",%d,%.4f,%.4f,%.4f,%.4f,%.4f\n",
                             sc_method_name(w->method), w->group_labels,
                             rule == 0 ? "val_avg" : "val_wga", c->setting, w->seeds, c->val,
                             c->wga_mean, c->wga_std, c->avg_mean, c->avg_std));
        }
    return err ? sc_error_set(SC_ERR_IO, "write failed: %s", strerror(err)) : SC_OK;
}

typedef struct json_out {
    const sc_compare_result *r;
    cJSON *runs;
} json_out;

static cJSON *cell_json(const sc_compare_cell *c)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "setting", c->setting);
    cJSON_AddNumberToObject(o, "val", isfinite(c->val) ? c->val : -1);
    cJSON_AddNumberToObject(o, "test_wga_mean", c->wga_mean);
    cJSON_AddNumberToObject(o, "test_wga_std", c->wga_std);
    cJSON_AddNumberToObject(o, "test_avg_mean", c->avg_mean);
    cJSON_AddNumberToObject(o, "test_avg_std", c->avg_std);
    return o;
}

/* results.json's text (cJSON_free it), or NULL when out of memory. */
static char *json_text(const json_out *j)
{
    cJSON *root = cJSON_CreateObject(), *rows = cJSON_AddArrayToObject(root, "table");
    for (int i = 0; i < j->r->nrows; i++) {
        const sc_compare_row *w = &j->r->rows[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "method", sc_method_name(w->method));
        cJSON_AddStringToObject(o, "group_labels", w->group_labels);
        cJSON_AddNumberToObject(o, "seeds", w->seeds);
        cJSON_AddItemToObject(o, "selected_by_val_avg", cell_json(&w->no_labels));
        cJSON_AddItemToObject(o, "selected_by_val_wga", cell_json(&w->with_labels));
        cJSON_AddItemToArray(rows, o);
    }
    cJSON_AddItemReferenceToObject(root, "runs", j->runs);
    cJSON_AddNumberToObject(root, "seconds", j->r->seconds);
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    return text;
}

/* Two panels (selected without / with group labels), per method a bar of
 * test worst-group and of test average accuracy, error bars of one
 * standard deviation. */
static sc_status write_chart(const sc_compare_result *r, const char *path)
{
    const sc_rgb white = {255, 255, 255}, black = {0, 0, 0};
    const sc_rgb cols[2] = {{200, 50, 50}, {60, 110, 190}};
    int panel_w = 60 + 90 * (r->nrows > 0 ? r->nrows : 1);
    sc_canvas cv;
    SC_TRY(sc_canvas_init(&cv, 2 * panel_w + 120, 380, white));
    static const char *const titles[2] = {"selected by val average (no group labels)",
                                          "selected by val worst-group"};
    static const char *const legend[2] = {"test worst-group", "test average"};
    for (int rule = 0; rule < 2; rule++) {
        sc_plot p = {.x0 = 70 + rule * (panel_w + 40), .y0 = 70, .w = panel_w - 20, .h = 240,
                     .xmin = 0, .xmax = 1, .ymin = 0, .ymax = 1, .scale = 1};
        sc_plot_frame(&cv, &p, titles[rule], NULL, NULL);
        sc_plot_legend(&cv, &p, legend, cols, 2);
        int bin = p.w / (r->nrows > 0 ? r->nrows : 1);
        for (int i = 0; i < r->nrows; i++) {
            const sc_compare_cell *c = rule == 0 ? &r->rows[i].no_labels : &r->rows[i].with_labels;
            double mean[2] = {c->wga_mean, c->avg_mean}, sd[2] = {c->wga_std, c->avg_std};
            for (int k = 0; k < 2; k++) {
                if (!isfinite(mean[k]))
                    continue;
                int x0 = p.x0 + i * bin + 4 + k * (bin - 8) / 2, x1 = x0 + (bin - 8) / 2 - 3;
                sc_canvas_rect(&cv, x0, sc_plot_py(&p, mean[k]), x1, p.y0 + p.h - 1, cols[k]);
                int xm = (x0 + x1) / 2;
                int ylo = sc_plot_py(&p, fmax(0, mean[k] - sd[k]));
                int yhi = sc_plot_py(&p, fmin(1, mean[k] + sd[k]));
                sc_canvas_line(&cv, xm, ylo, xm, yhi, 1, black);
                sc_canvas_line(&cv, xm - 3, ylo, xm + 3, ylo, 1, black);
                sc_canvas_line(&cv, xm - 3, yhi, xm + 3, yhi, 1, black);
            }
            const char *name = sc_method_name(r->rows[i].method);
            sc_canvas_text(&cv, p.x0 + i * bin + (bin - sc_text_width(name, 1)) / 2,
                           p.y0 + p.h + 8, name, 1, black);
        }
    }
    sc_status st = sc_canvas_write_png(&cv, path);
    sc_canvas_free(&cv);
    return st;
}

sc_status sc__compare_write(const char *dir, const sc_compare_result *r, cJSON *runs)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/results.csv", dir);
    sc_status st = sc_io_write_atomic(path, write_csv, (void *)r);
    if (st == SC_OK) {
        json_out j = {r, runs};
        snprintf(path, sizeof path, "%s/results.json", dir);
        char *text = json_text(&j);
        st = sc_io_write_text_atomic(path, text);
        cJSON_free(text);
    }
    if (st == SC_OK) {
        snprintf(path, sizeof path, "%s/chart.png", dir);
        st = write_chart(r, path);
    }
    return sc_io_write_error(st, path);
}
