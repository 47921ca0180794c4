/* Weighted k-NN accuracy of encoder features (include/spurcl/ssl.h): the
 * query x bank cosine similarities come from the device in chunks, the
 * top k of each row and the votes are taken on the host. */
#include "train/train_internal.h"
#include "spurcl/nn.h"
#include "spurcl/ssl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void sc_knn_config_default(sc_knn_config *c)
{
    c->k = 20;
    c->temperature = 0.07f;
    c->bank = 10000;
    c->queries = 2000;
}

/* Rows of f [n, F] scaled to unit norm (zero rows stay zero). */
static void normalize_rows(float *f, int64_t n, int F)
{
    for (int64_t i = 0; i < n; i++) {
        double s = 0;
        float *r = f + (size_t)i * (size_t)F;
        for (int j = 0; j < F; j++)
            s += (double)r[j] * r[j];
        double inv = s > 0 ? 1.0 / sqrt(s) : 0;
        for (int j = 0; j < F; j++)
            r[j] = (float)(r[j] * inv);
    }
}

/* The k largest of sim[0..n) (indices into top, values into val), largest
 * first; ties keep the lower index. */
static int top_k(const float *sim, int64_t n, int k, int64_t *top, float *val)
{
    int m = 0;
    for (int64_t j = 0; j < n; j++) {
        float v = sim[j];
        if (m == k && !(v > val[m - 1]))
            continue;
        int p = m < k ? m++ : k - 1;
        while (p > 0 && v > val[p - 1]) {
            val[p] = val[p - 1];
            top[p] = top[p - 1];
            p--;
        }
        val[p] = v;
        top[p] = j;
    }
    return m;
}

sc_status sc_knn_evaluate(sc_context *ctx, sc_model *encoder, const sc_dataset *d,
                          sc_split split, const sc_knn_config *cfg, sc_group_metrics *out)
{
    memset(out, 0, sizeof *out);
    if (cfg->k < 1 || !(cfg->temperature > 0) || cfg->bank < 0 || cfg->queries < 0)
        return sc_error_set(SC_ERR_INVALID_ARG, "k-NN needs k >= 1, a temperature > 0 and "
                                                "sample limits >= 0");
    int F = sc_model_feature_dim(encoder), K = d->num_classes;
    float *fb = NULL, *fq = NULL, *sim = NULL, *val = NULL;
    int64_t *ib = NULL, *iq = NULL, *top = NULL, nb = 0, nq = 0;
    double *score = NULL;
    sc_graph *g = NULL;
    sc_status st = sc__features_first(ctx, encoder, d, SC_SPLIT_TRAIN, 512, cfg->bank, &fb, &ib,
                                      &nb);
    if (st == SC_OK)
        st = sc__features_first(ctx, encoder, d, split, 512, cfg->queries, &fq, &iq, &nq);
    if (st == SC_OK) {
        if (nb < 1)
            st = sc_error_set(SC_ERR_INVALID_ARG, "k-NN: the training split is empty");
    }
    const int64_t chunk = 256;
    int k = cfg->k < nb ? cfg->k : (int)nb;
    if (st == SC_OK) {
        normalize_rows(fb, nb, F);
        normalize_rows(fq, nq, F);
        sim = malloc((size_t)chunk * (size_t)nb * sizeof *sim);
        top = malloc((size_t)k * sizeof *top);
        val = malloc((size_t)k * sizeof *val);
        score = malloc((size_t)K * sizeof *score);
        if (!sim || !top || !val || !score)
            st = sc_oom("k-NN");
    }
    if (st == SC_OK)
        st = sc__group_metrics_init(out, d);
    if (st == SC_OK && (st = sc_graph_create(ctx, &g)) == SC_OK)
        sc_graph_set_recording(g, false);
    int64_t bs[2] = {nb, F};
    for (int64_t q0 = 0; st == SC_OK && q0 < nq; q0 += chunk) {
        int64_t m = nq - q0 < chunk ? nq - q0 : chunk;
        int64_t qs[2] = {m, F};
        sc_var *b = sc_var_from_host(g, 2, bs, fb, false);
        sc_var *q = sc_var_from_host(g, 2, qs, fq + (size_t)q0 * (size_t)F, false);
        sc_var *s = sc_nn_matmul(g, q, b, false, true);
        if ((st = sc_graph_status(g)) == SC_OK)
            st = sc_tensor_download(sc_var_tensor(s), sim);
        sc_graph_reset(g);
        for (int64_t i = 0; st == SC_OK && i < m; i++) {
            int got = top_k(sim + (size_t)i * (size_t)nb, nb, k, top, val);
            for (int c = 0; c < K; c++)
                score[c] = 0;
            for (int t = 0; t < got; t++)
                score[d->labels[ib[top[t]]]] += exp(val[t] / cfg->temperature);
            int pred = 0;
            for (int c = 1; c < K; c++)
                if (score[c] > score[pred])
                    pred = c;
            int64_t di = iq[q0 + i];
            out->total[d->groups[di]]++;
            out->correct[d->groups[di]] += pred == d->labels[di];
        }
    }
    sc_graph_free(g);
    free(fb);
    free(fq);
    free(ib);
    free(iq);
    free(sim);
    free(top);
    free(val);
    free(score);
    if (st != SC_OK) {
        sc_group_metrics_free(out);
        return sc_error_wrap(st, "k-NN evaluation");
    }
    sc__group_metrics_summarize(out, NULL);
    out->loss = NAN;
    return SC_OK;
}
