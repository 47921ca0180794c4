/* Multi-layer perceptrons: the SSL projector and the linear probe. */
#include "base/base.h"
#include "spurcl/model.h"
#include "spurcl/nn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sc_mlp {
    int nlayers;
    int *dims;      /* nlayers + 1 */
    sc_var **p;     /* 2 * nlayers: weight [out, in], bias [out] */
    bool hidden_bn; /* batch norm (no affine, batch statistics) before each hidden ReLU */
};

/* PyTorch's BatchNorm1d eps; the momentum is unused (no running statistics) */
#define MLP_BN_EPS 1e-5f

void sc_mlp_free(sc_mlp *m)
{
    if (!m)
        return;
    for (int i = 0; m->p && i < 2 * m->nlayers; i++)
        sc_param_free(m->p[i]);
    free(m->p);
    free(m->dims);
    free(m);
}

sc_status sc_mlp_create(sc_context *ctx, const char *prefix, const int *dims, int nlayers,
                        sc_mlp **out)
{
    *out = NULL;
    if (!prefix || nlayers < 1)
        return sc_error_set(SC_ERR_INVALID_ARG, "an MLP needs a name and at least one layer");
    for (int i = 0; i <= nlayers; i++)
        if (dims[i] < 1)
            return sc_error_set(SC_ERR_INVALID_ARG, "MLP %s: size %d of layer %d must be >= 1",
                                prefix, dims[i], i);
    sc_mlp *m = calloc(1, sizeof *m);
    if (!m)
        return sc_oom("mlp");
    m->nlayers = nlayers;
    m->dims = malloc((size_t)(nlayers + 1) * sizeof *m->dims);
    m->p = calloc((size_t)(2 * nlayers), sizeof *m->p);
    if (!m->dims || !m->p) {
        sc_mlp_free(m);
        return sc_oom("mlp");
    }
    memcpy(m->dims, dims, (size_t)(nlayers + 1) * sizeof *dims);
    sc_status st = SC_OK;
    for (int i = 0; st == SC_OK && i < nlayers; i++) {
        char name[256];
        int64_t ws[2] = {dims[i + 1], dims[i]}, bs[1] = {dims[i + 1]};
        if (nlayers == 1)
            snprintf(name, sizeof name, "%s.weight", prefix);
        else
            snprintf(name, sizeof name, "%s.%d.weight", prefix, 2 * i);
        st = sc_param_create(ctx, name, 2, ws, &m->p[2 * i]);
        if (nlayers == 1)
            snprintf(name, sizeof name, "%s.bias", prefix);
        else
            snprintf(name, sizeof name, "%s.%d.bias", prefix, 2 * i);
        if (st == SC_OK)
            st = sc_param_create(ctx, name, 1, bs, &m->p[2 * i + 1]);
    }
    if (st != SC_OK) {
        sc_mlp_free(m);
        return st;
    }
    *out = m;
    return SC_OK;
}

sc_status sc_mlp_init(sc_mlp *m, uint64_t seed)
{
    sc_rng r;
    sc_rng_seed_stream(&r, seed, 0);
    for (int i = 0; i < 2 * m->nlayers; i++) {
        sc_tensor *t = sc_var_tensor(m->p[i]);
        int64_t n = sc_tensor_numel(t);
        float *h = malloc((size_t)n * sizeof *h);
        if (!h)
            return sc_oom("mlp");
        double bound = 1.0 / sqrt((double)m->dims[i / 2]);
        for (int64_t k = 0; k < n; k++)
            h[k] = (float)((2.0 * sc_rng_uniform(&r) - 1.0) * bound);
        sc_status st = sc_tensor_upload(t, h);
        free(h);
        SC_TRY(st);
    }
    return SC_OK;
}

sc_var *sc_mlp_forward(const sc_mlp *m, sc_graph *g, sc_var *x)
{
    for (int i = 0; i < m->nlayers; i++) {
        if (i > 0) {
            if (m->hidden_bn)
                x = sc_nn_batch_norm(g, x, NULL, NULL, NULL, NULL, true, 0.1f, MLP_BN_EPS);
            x = sc_nn_relu(g, x);
        }
        x = sc_nn_linear(g, x, m->p[2 * i], m->p[2 * i + 1]);
    }
    return x;
}

void sc_mlp_set_hidden_batch_norm(sc_mlp *m, bool on) { m->hidden_bn = on; }

size_t sc_mlp_param_count(const sc_mlp *m) { return (size_t)(2 * m->nlayers); }

sc_var *sc_mlp_param(const sc_mlp *m, size_t i)
{
    return i < (size_t)(2 * m->nlayers) ? m->p[i] : NULL;
}
