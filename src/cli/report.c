/* Tables and progress output shared by the training commands. */
#include "cli/report.h"

#include "spurcl/render.h"
#include "spurcl/ule.h"
#include <stdlib.h>

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void fmt_duration(char *buf, size_t n, double s)
{
    if (!isfinite(s) || s < 0)
        s = 0;
    int t = (int)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, n, "%dh%02dm", t / 3600, (t / 60) % 60);
    else if (t >= 60)
        snprintf(buf, n, "%dm%02ds", t / 60, t % 60);
    else
        snprintf(buf, n, "%ds", t);
}

/* " acc 0.1234" or " penalty 0.001234" (ULE's teacher), whichever the run has */
static void fmt_second(char *buf, size_t n, const sc_train_progress *p)
{
    if (p->has_penalty)
        snprintf(buf, n, "penalty %.4g", p->penalty);
    else
        snprintf(buf, n, "acc %.4f", p->accuracy);
}

void sc_cli_progress(const sc_train_progress *p, void *ud)
{
    const sc_cli_progress_state *st = ud;
    if (st->quiet)
        return;
    const char *who = st->label ? st->label : "train";
    if (p->epoch_done) {
        if (st->tty)
            fputs("\r\033[K", stderr);
        char second[48];
        fmt_second(second, sizeof second, p);
        fprintf(stderr, "%s epoch %d/%d  loss %.4f  %s", who, p->epoch, p->epochs, p->loss, second);
        if (p->val)
            fprintf(stderr, "  val acc %.4f  val worst-group %.4f", p->val->accuracy,
                    p->val->worst_group);
        char el[32];
        fmt_duration(el, sizeof el, p->elapsed_s);
        fprintf(stderr, "  (%s)\n", el);
        return;
    }
    if (!st->tty)
        return;
    int width = 24;
    int filled = p->steps_per_epoch ? (int)(width * p->step / p->steps_per_epoch) : 0;
    char bar[64];
    for (int i = 0; i < width; i++)
        bar[i] = i < filled ? '#' : '.';
    bar[width] = '\0';
    char eta[32];
    fmt_duration(eta, sizeof eta, p->eta_s);
    char second[48];
    fmt_second(second, sizeof second, p);
    fprintf(stderr, "\r\033[K%s epoch %d/%d [%s] %lld/%lld  loss %.4f  %s  %.0f img/s  left %s",
            who, p->epoch, p->epochs, bar, (long long)p->step, (long long)p->steps_per_epoch,
            p->loss, second, p->images_per_s, eta);
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

sc_status sc_cli_saliency_picture(sc_context *ctx, const sc_dataset *d, sc_model *const *models,
                              const char *const *titles, int nm, const char *path)
{
    int64_t *idx, count;
    sc_status st = sc_dataset_split_indices(d, SC_SPLIT_VAL, &idx, &count);
    if (st != SC_OK)
        return st;
    int64_t n = count < 8 ? count : 8;
    size_t per = (size_t)d->c * (size_t)d->h * (size_t)d->w;
    float *maps[4] = {0};
    int32_t *preds[4] = {0};
    uint8_t *imgs = malloc((size_t)n * per);
    int32_t *labels = malloc((size_t)n * sizeof *labels);
    if (!imgs || !labels)
        st = sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of memory");
    for (int k = 0; st == SC_OK && k < nm; k++) {
        maps[k] = malloc((size_t)n * per * sizeof(float));
        preds[k] = malloc((size_t)n * sizeof(int32_t));
        st = maps[k] && preds[k]
                 ? sc_saliency_maps(ctx, models[k], d, idx, n, SC_SAL_TRUE_LOGIT, maps[k], preds[k])
                 : sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of memory");
    }
    for (int64_t i = 0; st == SC_OK && i < n; i++) {
        memcpy(imgs + (size_t)i * per, d->images + (size_t)idx[i] * per, per);
        labels[i] = d->labels[idx[i]];
    }
    if (st == SC_OK)
        st = sc_render_saliency_png(path, imgs, (int)n, d->c, d->h, d->w, labels, nm,
                                    (const float *const *)maps, (const int32_t *const *)preds,
                                    titles, 4);
    for (int k = 0; k < nm; k++) {
        free(maps[k]);
        free(preds[k]);
    }
    free(imgs);
    free(labels);
    free(idx);
    return st;
}

