/* Tables and progress output shared by the training commands. */
#include "report.h"
#include "spurcl/io.h"

#include <cjson/cJSON.h>

#include "spurcl/render.h"
#include "spurcl/sys.h"
#include "spurcl/ule.h"
#include <stdlib.h>

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* "loss 0.1234  acc 0.9000": the trainer's running values */
static void fmt_values(char *buf, size_t n, const sc_train_progress *p)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; i < p->nvalues && len + 1 < n; i++)
        len += (size_t)snprintf(buf + len, n - len, "%s%s %.4g", i ? "  " : "", p->names[i],
                                p->values[i]);
}

void sc_cli_progress(const sc_train_progress *p, void *ud)
{
    const sc_cli_progress_state *st = ud;
    if (st->quiet)
        return;
    /* the lines of the run's log: on a terminal the live bar stands for
     * the timed ones */
    if (p->line) {
        if (p->timed && st->tty)
            return;
        if (st->tty)
            fputs("\r\033[K", stderr);
        fprintf(stderr, "%s\n", p->line);
        fflush(stderr);
        return;
    }
    if (!st->tty || p->epoch_done || p->epochs < 1)
        return;
    const char *who = p->label ? p->label : "train";
    char values[256];
    fmt_values(values, sizeof values, p);
    int width = 24;
    int filled = p->steps_per_epoch ? (int)(width * p->step / p->steps_per_epoch) : 0;
    char bar[64];
    for (int i = 0; i < width; i++)
        bar[i] = i < filled ? '#' : '.';
    bar[width] = '\0';
    char eta[32];
    sc_format_duration(eta, sizeof eta, p->eta_s);
    fprintf(stderr, "\r\033[K%s epoch %d/%d [%s] %lld/%lld  %s  %.0f img/s  left %s", who,
            p->epoch, p->epochs, bar, (long long)p->step, (long long)p->steps_per_epoch, values,
            p->images_per_s, eta);
    fflush(stderr);
}

void sc_cli_print_groups(FILE *out, const char *title, const sc_group_metrics *m,
                         const sc_dataset *d)
{
    char wg[64] = "-";
    if (m->worst_group_index >= 0)
        snprintf(wg, sizeof wg, "%.4f (y=%d, a=%d)", m->worst_group,
                 m->worst_group_index / m->num_attrs, m->worst_group_index % m->num_attrs);
    fprintf(out, "%s: %lld samples\n", title, (long long)m->n);
    fprintf(out, "  worst-group accuracy              %s\n", wg);
    fprintf(out, "  average accuracy (all samples)    %.4f\n", m->accuracy);
    fprintf(out, "  mean of group accuracies          %.4f\n", m->mean_group);
    if (isfinite(m->weighted))
        fprintf(out, "  weighted by train group shares    %.4f\n", m->weighted);
    fprintf(out, "  per-group accuracy (rows: label y, columns: attribute a; '-' = no samples)\n");
    fprintf(out, "  %10s", "");
    for (int a = 0; a < m->num_attrs; a++)
        fprintf(out, " %6s%-2d", "a=", a);
    fputc('\n', out);
    for (int y = 0; y < m->num_classes; y++) {
        char name[16];
        snprintf(name, sizeof name, "y=%d", y);
        fprintf(out, "  %10s", name);
        for (int a = 0; a < m->num_attrs; a++) {
            int g = y * m->num_attrs + a;
            if (m->total[g])
                fprintf(out, " %8.3f", (double)m->correct[g] / (double)m->total[g]);
            else
                fprintf(out, " %8s", "-");
        }
        if (d && d->class_names && d->class_names[y])
            fprintf(out, "   %s", d->class_names[y]);
        fputc('\n', out);
    }
}

void sc_cli_print_groups_side(FILE *out, const char *title, const char *const *names,
                              const sc_group_metrics *const *m, int nm, const sc_dataset *d)
{
    fprintf(out, "%s: %lld samples; per group ", title, (long long)m[0]->n);
    for (int k = 0; k < nm; k++)
        fprintf(out, "%s%s", k ? "/" : "", names[k]);
    fprintf(out, " accuracy in %%\n");
    for (int k = 0; k < nm; k++) {
        char wg[64] = "-";
        if (m[k]->worst_group_index >= 0)
            snprintf(wg, sizeof wg, "%.4f (y=%d, a=%d)", m[k]->worst_group,
                     m[k]->worst_group_index / m[k]->num_attrs,
                     m[k]->worst_group_index % m[k]->num_attrs);
        fprintf(out, "  %-8s worst-group %s, average %.4f, mean of groups %.4f\n", names[k], wg,
                m[k]->accuracy, m[k]->mean_group);
    }
    int cw = 4 * nm - 1; /* "100" per model, "/" between */
    fprintf(out, "  %6s", "");
    for (int a = 0; a < m[0]->num_attrs; a++) {
        char h[16];
        snprintf(h, sizeof h, "a=%d", a);
        fprintf(out, " %*s", cw, h);
    }
    fputc('\n', out);
    for (int y = 0; y < m[0]->num_classes; y++) {
        fprintf(out, "  y=%-4d", y);
        for (int a = 0; a < m[0]->num_attrs; a++) {
            int g = y * m[0]->num_attrs + a;
            char cell[96] = "";
            size_t len = 0;
            for (int k = 0; k < nm && len + 8 < sizeof cell; k++) {
                if (m[k]->total[g])
                    len += (size_t)snprintf(cell + len, sizeof cell - len, "%s%.0f", k ? "/" : "",
                                            100.0 * (double)m[k]->correct[g] /
                                                (double)m[k]->total[g]);
                else
                    len += (size_t)snprintf(cell + len, sizeof cell - len, "%s-", k ? "/" : "");
            }
            fprintf(out, " %*s", cw, cell);
        }
        if (d && d->class_names && d->class_names[y])
            fprintf(out, "  %s", d->class_names[y]);
        fputc('\n', out);
    }
}

void sc_cli_print_probe(const sc_probe_result *r, const sc_dataset *d)
{
    printf("linear probe: %d features, train accuracy %.4f (%.1f s)\n", r->feature_dim,
           r->train_acc, r->seconds);
    sc_cli_print_groups(stdout, "val", &r->val, d);
    sc_cli_print_groups(stdout, "test", &r->test, d);
}

typedef struct groups_csv {
    const char *const *names;
    const sc_group_metrics *const *val, *const *test;
    int nm;
} groups_csv;

static sc_status write_groups_csv(FILE *f, void *ud)
{
    const groups_csv *c = ud;
    fprintf(f, "split,y,a,n");
    for (int k = 0; k < c->nm; k++)
        fprintf(f, ",%s_acc", c->names[k]);
    fputc('\n', f);
    for (int s = 0; s < 2; s++) {
        const sc_group_metrics *const *m = s == 0 ? c->val : c->test;
        if (!m)
            continue;
        for (int g = 0; g < m[0]->num_groups; g++) {
            fprintf(f, "%s,%d,%d,%lld", s == 0 ? "val" : "test", g / m[0]->num_attrs,
                    g % m[0]->num_attrs, (long long)m[0]->total[g]);
            for (int k = 0; k < c->nm; k++) {
                if (m[k]->total[g])
                    fprintf(f, ",%.6f", (double)m[k]->correct[g] / (double)m[k]->total[g]);
                else
                    fprintf(f, ",");
            }
            fputc('\n', f);
        }
    }
    return ferror(f) ? sc_error_set(SC_ERR_IO, "writing failed") : SC_OK;
}

sc_status sc_cli_write_groups_csv(const char *path, const char *const *names,
                                  const sc_group_metrics *const *val,
                                  const sc_group_metrics *const *test, int nm)
{
    groups_csv c = {names, val, test, nm};
    sc_status st = sc_io_write_atomic(path, write_groups_csv, &c);
    return sc_io_write_error(st, path);
}

void sc_cli_print_comparison(FILE *out, const sc_compare_result *r, int seeds)
{
    fprintf(out, "test accuracy, mean +- sd over %d seed%s (average: weighted by the training "
                 "split's group shares)\n", seeds, seeds == 1 ? "" : "s");
    fprintf(out, "%-9s %-6s | %-35s | %-35s\n", "", "group", "selected by val average",
            "selected by val worst-group");
    fprintf(out, "%-9s %-6s | %-35s | %-35s\n", "", "labels", "(no group labels)",
            "(val group labels)");
    fprintf(out, "%-9s %-6s | %-17s %-17s | %-17s %-17s\n", "method", "used", "worst-group",
            "average", "worst-group", "average");
    for (int i = 0; i < r->nrows; i++) {
        const sc_compare_row *w = &r->rows[i];
        char cells[4][32];
        const sc_compare_cell *c[2] = {&w->no_labels, &w->with_labels};
        for (int k = 0; k < 2; k++) {
            snprintf(cells[2 * k], sizeof cells[0], "%.3f +- %.3f", c[k]->wga_mean,
                     c[k]->wga_std);
            snprintf(cells[2 * k + 1], sizeof cells[0], "%.3f +- %.3f", c[k]->avg_mean,
                     c[k]->avg_std);
        }
        fprintf(out, "%-9s %-6s | %-17s %-17s | %-17s %-17s\n", sc_method_name(w->method),
                w->group_labels, cells[0], cells[1], cells[2], cells[3]);
    }
    bool grid = false;
    for (int i = 0; i < r->nrows; i++)
        grid |= r->rows[i].no_labels.setting[0] || r->rows[i].with_labels.setting[0];
    if (!grid)
        return;
    fprintf(out, "settings chosen:");
    for (int i = 0; i < r->nrows; i++)
        if (r->rows[i].no_labels.setting[0])
            fprintf(out, "  %s %s / %s", sc_method_name(r->rows[i].method),
                    r->rows[i].no_labels.setting, r->rows[i].with_labels.setting);
    fputc('\n', out);
}

static cJSON *names_json(char *const *names, int n)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++)
        cJSON_AddItemToArray(a, names && names[i] ? cJSON_CreateString(names[i])
                                                  : cJSON_CreateNull());
    return a;
}

sc_status sc_cli_write_eval_json(const char *dir, const char *name, int64_t step, int epoch,
                                 const sc_group_metrics *val, const sc_group_metrics *test,
                                 const sc_dataset *d)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "format", "spurcl-eval/1");
    cJSON_AddStringToObject(o, "model", name);
    if (step >= 0) {
        cJSON_AddNumberToObject(o, "selected_step", (double)step);
        cJSON_AddNumberToObject(o, "selected_epoch", epoch);
    }
    cJSON_AddNumberToObject(o, "num_classes", d->num_classes);
    cJSON_AddNumberToObject(o, "num_attrs", d->num_attrs);
    cJSON_AddItemToObject(o, "class_names", names_json(d->class_names, d->num_classes));
    cJSON_AddItemToObject(o, "attr_names", names_json(d->attr_names, d->num_attrs));
    const sc_group_metrics *m[2] = {val, test};
    static const char *const splits[2] = {"val", "test"};
    bool ok = o != NULL;
    for (int k = 0; k < 2 && ok; k++) {
        char *js = sc_group_metrics_json(m[k]);
        cJSON *item = js ? cJSON_Parse(js) : NULL;
        free(js);
        ok = item && cJSON_AddItemToObject(o, splits[k], item);
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/eval.json", dir);
    char *text = ok ? cJSON_Print(o) : NULL;
    sc_status st = sc_io_write_text_atomic(path, text);
    cJSON_free(text);
    cJSON_Delete(o);
    return sc_io_write_error(st, path);
}

int sc_cli_report_run(const char *cmd, const char *name, const sc_train_result *r,
                      const sc_dataset *d, const char *dir)
{
    sc_cli_print_groups(stdout, "val", &r->val, d);
    sc_cli_print_groups(stdout, "test", &r->test, d);
    char path[4096];
    snprintf(path, sizeof path, "%s/groups.csv", dir);
    const char *names[1] = {name};
    const sc_group_metrics *val[1] = {&r->val}, *test[1] = {&r->test};
    if (sc_cli_write_groups_csv(path, names, val, test, 1) != SC_OK ||
        sc_cli_write_eval_json(dir, name, r->selected_step, r->selected_epoch, &r->val, &r->test,
                               d) != SC_OK) {
        fprintf(stderr, "spurcl: %s: %s\n", cmd, sc_last_error());
        return 1;
    }
    return 0;
}
