/* The ULE teacher loss (docs/methods.md, section 1). */
#include "base/base.h"
#include "spurcl/nn.h"
#include "spurcl/ule.h"

static const char *const form_names[] = {"additive", "convex"};
SC_ENUM_FUNCS(sc_ule_form, ule_form, "ULE form", form_names, NULL)

static const char *const penalty_names[] = {"mse", "cos2", "overlap"};
SC_ENUM_FUNCS(sc_ule_penalty, ule_penalty, "ULE penalty", penalty_names, NULL)

void sc_ule_loss_config_default(sc_ule_loss_config *cfg)
{
    cfg->lambda = 100.0f;
    cfg->target = SC_SAL_TRUE_LOGIT;
    cfg->norm = SC_NORM_MAXABS;
    cfg->form = SC_ULE_ADDITIVE;
    cfg->penalty = SC_ULE_PENALTY_MSE;
    cfg->eps = 1e-8f;
}

sc_status sc_ule_teacher_loss(sc_graph *g, sc_model *teacher, sc_var *x, sc_var *labels,
                              sc_var *student_map, const sc_ule_loss_config *cfg,
                              sc_ule_loss_parts *out)
{
    *out = (sc_ule_loss_parts){0};
    if (!x || !labels || !student_map)
        return sc_graph_status(g) != SC_OK
                   ? sc_graph_status(g)
                   : sc_error_set(SC_ERR_INVALID_ARG, "ule teacher loss: a NULL input");
    sc_var *xi = sc_var_requires_grad(x) && sc_var_is_leaf(x) ? x : sc_var_detach(g, x, true);
    out->logits = sc_model_forward(teacher, g, xi, true);
    out->ce = sc_nn_cross_entropy(g, out->logits, labels, NULL, SC_LOSS_MEAN);
    /* saliency at the input, or at the hidden layer the model captures */
    sc_var *wrt = sc_model_captured(teacher) ? sc_model_captured(teacher) : xi;
    sc_var *map = sc_nn_saliency(g, wrt, out->logits, labels, cfg->target, true);
    out->map = sc_nn_saliency_normalize(g, map, cfg->norm, cfg->eps);
    if (cfg->penalty == SC_ULE_PENALTY_COS2) {
        int64_t flat[2] = {sc_var_dim(out->map, 0), -1};
        sc_var *c = sc_nn_cosine_rows(g, sc_nn_reshape(g, out->map, 2, flat),
                                      sc_nn_reshape(g, student_map, 2, flat), 1e-8f);
        out->penalty = sc_nn_mean(g, sc_nn_mul(g, c, c));
    } else if (cfg->penalty == SC_ULE_PENALTY_OVERLAP) {
        out->penalty = sc_nn_mean(g, sc_nn_mul(g, sc_nn_abs(g, out->map),
                                               sc_nn_abs(g, student_map)));
    } else {
        out->penalty = sc_nn_mean(g, sc_nn_pow(g, sc_nn_add(g, out->map, student_map), 2.0f));
    }
    if (cfg->form == SC_ULE_CONVEX)
        out->loss = sc_nn_add(g, sc_nn_scale(g, out->ce, cfg->lambda),
                              sc_nn_scale(g, out->penalty, 1.0f - cfg->lambda));
    else
        out->loss = sc_nn_add(g, out->ce, sc_nn_scale(g, out->penalty, cfg->lambda));
    return sc_graph_status(g);
}
