/* Names of the nn enums (the _parse/_name pairs of include/spurcl/nn_loss.h). */
#include "base/base.h"
#include "spurcl/nn.h"
#include "spurcl/optim.h"

static const char *const target_names[] = {"true-logit", "pred-logit", "loss"};
static const char *const norm_names[] = {"maxabs", "l2", "none"};
#define COUNT(a) ((int)(sizeof(a) / sizeof(a)[0]))

sc_status sc_saliency_target_parse(const char *s, sc_saliency_target *out)
{
    int v;
    SC_TRY(sc_enum_parse("saliency target", target_names, COUNT(target_names), s, &v));
    *out = (sc_saliency_target)v;
    return SC_OK;
}

const char *sc_saliency_target_name(sc_saliency_target t)
{
    return sc_enum_name(target_names, COUNT(target_names), (int)t);
}

sc_status sc_saliency_norm_parse(const char *s, sc_saliency_norm *out)
{
    int v;
    SC_TRY(sc_enum_parse("saliency normalisation", norm_names, COUNT(norm_names), s, &v));
    *out = (sc_saliency_norm)v;
    return SC_OK;
}

const char *sc_saliency_norm_name(sc_saliency_norm n)
{
    return sc_enum_name(norm_names, COUNT(norm_names), (int)n);
}

static const char *const optim_names[] = {"sgd", "adamw"};
static const char *const schedule_names[] = {"constant", "step", "cosine"};

const char *sc_optim_kind_name(sc_optim_kind k)
{
    return sc_enum_name(optim_names, COUNT(optim_names), (int)k);
}

const char *sc_schedule_name(sc_schedule s)
{
    return sc_enum_name(schedule_names, COUNT(schedule_names), (int)s);
}
