/* Per-group evaluation. */
#include "train/train_internal.h"
#include "base/dist.h"
#include "spurcl/nn.h"
#include "spurcl/train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void sc_group_metrics_free(sc_group_metrics *m)
{
    if (!m)
        return;
    free(m->correct);
    free(m->total);
    memset(m, 0, sizeof *m);
}

sc_status sc_group_props(const sc_dataset *d, sc_split split, double **props)
{
    int G = d->num_classes * d->num_attrs;
    double *p = calloc((size_t)G, sizeof *p);
    if (!p)
        return sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of host memory (group proportions)");
    int64_t n = 0;
    for (int64_t i = 0; i < d->n; i++)
        if (d->split[i] == (int32_t)split && d->groups[i] >= 0 && d->groups[i] < G) {
            p[d->groups[i]] += 1;
            n++;
        }
    for (int g = 0; g < G; g++)
        p[g] = n ? p[g] / (double)n : 0;
    *props = p;
    return SC_OK;
}

sc_status sc__group_metrics_init(sc_group_metrics *out, const sc_dataset *d)
{
    memset(out, 0, sizeof *out);
    int G = d->num_classes * d->num_attrs;
    out->num_classes = d->num_classes;
    out->num_attrs = d->num_attrs;
    out->num_groups = G;
    out->correct = calloc((size_t)G, sizeof *out->correct);
    out->total = calloc((size_t)G, sizeof *out->total);
    if (!out->correct || !out->total) {
        sc_group_metrics_free(out);
        return sc_oom("metrics");
    }
    return SC_OK;
}

void sc__group_metrics_summarize(sc_group_metrics *out, const double *train_props)
{
    int64_t n = 0, c = 0;
    int ng = 0;
    double sum_acc = 0, wsum = 0, psum = 0;
    out->worst_group = INFINITY;
    out->worst_group_index = -1;
    for (int k = 0; k < out->num_groups; k++) {
        n += out->total[k];
        c += out->correct[k];
        if (!out->total[k])
            continue;
        double a = (double)out->correct[k] / (double)out->total[k];
        sum_acc += a;
        ng++;
        if (train_props) {
            wsum += train_props[k] * a;
            psum += train_props[k];
        }
        if (a < out->worst_group) {
            out->worst_group = a;
            out->worst_group_index = k;
        }
    }
    out->n = n;
    out->accuracy = n ? (double)c / (double)n : NAN;
    out->mean_group = ng ? sum_acc / ng : NAN;
    /* renormalised over the groups this split has */
    out->weighted = train_props && psum > 0 ? wsum / psum : NAN;
    if (!ng)
        out->worst_group = NAN;
}

sc_status sc_evaluate(sc_context *ctx, sc_model *model, const sc_dataset *d, sc_split split,
                      const double *train_props, int64_t batch_size, sc_group_metrics *out)
{
    memset(out, 0, sizeof *out);
    const sc_model_config *mc = sc_model_get_config(model);
    if (mc->num_classes != d->num_classes || mc->in_channels != d->c || mc->height != d->h ||
        mc->width != d->w)
        return sc_error_set(SC_ERR_INVALID_ARG,
                            "the model (%d classes, %dx%dx%d) does not fit the data set "
                            "(%d classes, %dx%dx%d)",
                            mc->num_classes, mc->in_channels, mc->height, mc->width,
                            d->num_classes, d->c, d->h, d->w);
    SC_TRY(sc__group_metrics_init(out, d));
    int G = out->num_groups;
    sc_batch_opts bo = {.batch_size = batch_size > 0 ? batch_size : 256};
    sc_batcher *b;
    sc_status st = sc_batcher_create(d, split, &bo, &b);
    if (st != SC_OK) {
        sc_group_metrics_free(out);
        return st;
    }
    sc_graph *g;
    if ((st = sc_graph_create(ctx, &g)) != SC_OK) {
        sc_batcher_free(b);
        sc_group_metrics_free(out);
        return st;
    }
    sc_graph_set_recording(g, false);
    sc_batcher_start_epoch(b, 0);
    float *logits = malloc((size_t)bo.batch_size * (size_t)d->num_classes * sizeof *logits);
    double loss_sum = 0;
    const sc_batch *bt;
    /* data-parallel: every rank takes its slice of each batch */
    int rank = sc_dist_rank(), nranks = sc_dist_size();
    while (st == SC_OK && logits && (st = sc_batcher_next_shard(b, rank, nranks, &bt)) == SC_OK &&
           bt) {
        if (bt->size == 0)
            continue;
        int64_t xs[4] = {bt->size, bt->c, bt->h, bt->w}, ls[1] = {bt->size};
        sc_var *x = sc_var_from_host(g, 4, xs, bt->images, false);
        sc_var *y = sc_var_from_host_i32(g, 1, ls, bt->labels);
        sc_var *lg = sc_model_forward(model, g, x, false);
        sc_var *ce = sc_nn_cross_entropy(g, lg, y, NULL, SC_LOSS_SUM);
        float cev = 0;
        if ((st = sc_graph_status(g)) == SC_OK &&
            (st = sc_tensor_download(sc_var_tensor(lg), logits)) == SC_OK &&
            (st = sc_tensor_download(sc_var_tensor(ce), &cev)) == SC_OK) {
            loss_sum += cev;
            for (int64_t i = 0; i < bt->size; i++) {
                int best = sc__argmax(logits + i * d->num_classes, d->num_classes);
                int grp = bt->groups[i];
                if (grp < 0 || grp >= G)
                    continue;
                out->total[grp]++;
                out->correct[grp] += best == bt->labels[i];
            }
        }
        sc_graph_reset(g);
    }
    if (!logits && st == SC_OK)
        st = sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of host memory (metrics)");
    free(logits);
    sc_graph_free(g);
    sc_batcher_free(b);
    /* the slices' counts (exact in a double) and loss sums, summed over the
     * ranks: every rank ends with the whole split's metrics. A rank that
     * failed above stops here; MPI_Abort (the CLI) ends the others. */
    if (st == SC_OK && nranks > 1) {
        double *buf = malloc(((size_t)(2 * G) + 1) * sizeof *buf);
        if (!buf) {
            st = sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of host memory (metrics)");
        } else {
            for (int k = 0; k < G; k++) {
                buf[k] = (double)out->total[k];
                buf[G + k] = (double)out->correct[k];
            }
            buf[2 * G] = loss_sum;
            st = sc__dist_sum_f64(buf, (size_t)(2 * G + 1), "the evaluation's counts");
            for (int k = 0; st == SC_OK && k < G; k++) {
                out->total[k] = (int64_t)buf[k];
                out->correct[k] = (int64_t)buf[G + k];
            }
            loss_sum = buf[2 * G];
            free(buf);
        }
    }
    if (st != SC_OK) {
        sc_group_metrics_free(out);
        return st;
    }
    sc__group_metrics_summarize(out, train_props);
    out->loss = out->n ? loss_sum / (double)out->n : NAN;
    return SC_OK;
}

sc_status sc_predict(sc_context *ctx, sc_model *model, const sc_dataset *d, sc_split split,
                     int64_t batch_size, int32_t *pred)
{
    sc_batch_opts bo = {.batch_size = batch_size > 0 ? batch_size : 256};
    sc_batcher *b;
    SC_TRY(sc_batcher_create(d, split, &bo, &b));
    sc_graph *g;
    sc_status st = sc_graph_create(ctx, &g);
    float *logits = malloc((size_t)bo.batch_size * (size_t)d->num_classes * sizeof *logits);
    if (st == SC_OK && !logits)
        st = sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of host memory (predict)");
    if (st == SC_OK) {
        sc_graph_set_recording(g, false);
        sc_batcher_start_epoch(b, 0);
    }
    const sc_batch *bt;
    while (st == SC_OK && (st = sc_batcher_next(b, &bt)) == SC_OK && bt) {
        int64_t xs[4] = {bt->size, bt->c, bt->h, bt->w};
        sc_var *lg = sc_model_forward(model, g, sc_var_from_host(g, 4, xs, bt->images, false), false);
        if ((st = sc_graph_status(g)) == SC_OK &&
            (st = sc_tensor_download(sc_var_tensor(lg), logits)) == SC_OK)
            for (int64_t i = 0; i < bt->size; i++)
                pred[bt->indices[i]] = sc__argmax(logits + i * d->num_classes, d->num_classes);
        sc_graph_reset(g);
    }
    free(logits);
    if (g)
        sc_graph_free(g);
    sc_batcher_free(b);
    return st;
}
