/* spurcl saliency: input-gradient pictures of a checkpoint. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "opts.h"
#include "spurcl/render.h"
#include "spurcl/ule.h"

static void defaults(sc_cli_args *a)
{
    a->split = SC_SPLIT_TEST; /* no library config holds these */
    a->n = 16;
    a->target = SC_SAL_TRUE_LOGIT;
    a->scale = 4;
}

/* Maps and predictions of the first n samples of idx, drawn into path. */
static sc_status draw(const sc_cli_session *s, const sc_cli_args *a, const int64_t *idx, int64_t n)
{
    const sc_dataset *d = s->d;
    size_t per = (size_t)d->c * (size_t)d->h * (size_t)d->w;
    float *maps = malloc((size_t)n * per * sizeof *maps);
    int32_t *preds = malloc((size_t)n * sizeof *preds), *labels = malloc((size_t)n * 4),
            *attrs = malloc((size_t)n * 4);
    uint8_t *imgs = malloc((size_t)n * per);
    sc_status st = maps && preds && labels && attrs && imgs
                       ? sc_saliency_maps(s->ctx, s->model, d, idx, n,
                                          (sc_saliency_target)a->target, maps, preds)
                       : sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of host memory");
    for (int64_t i = 0; st == SC_OK && i < n; i++) {
        memcpy(imgs + (size_t)i * per, d->images + (size_t)idx[i] * per, per);
        labels[i] = d->labels[idx[i]];
        attrs[i] = d->attrs[idx[i]];
    }
    char title[512];
    snprintf(title, sizeof title, "saliency (%s) of %s, first %lld %s images",
             sc_saliency_target_name((sc_saliency_target)a->target), a->ckpt, (long long)n,
             sc_split_name((sc_split)a->split));
    const char *method = "model";
    const float *mp = maps;
    const int32_t *pp = preds;
    sc_saliency_figure fig = {
        .title = title, .n = (int)n, .c = d->c, .h = d->h, .w = d->w, .images = imgs,
        .labels = labels, .attrs = attrs,
        .class_names = (const char *const *)d->class_names, .num_classes = d->num_classes,
        .attr_names = (const char *const *)d->attr_names, .num_attrs = d->num_attrs,
        .nmethods = 1, .methods = &method, .maps = &mp, .preds = &pp, .scale = a->scale,
    };
    if (st == SC_OK)
        st = sc_render_saliency_png(a->out, &fig);
    free(maps); free(preds); free(labels); free(attrs); free(imgs);
    return st;
}

static int run(const sc_cli_global *g, sc_cli_args *a, sc_cli_session *s)
{
    (void)g;
    const char *split = sc_split_name((sc_split)a->split);
    int64_t *idx = NULL, count = 0;
    int rc = sc_cli_refuse_ssl_encoder("saliency", a->ckpt);
    if (rc != SC_EXIT_OK)
        return rc;
    if (sc_dataset_split_indices(s->d, (sc_split)a->split, &idx, &count) != SC_OK) {
        rc = sc_cli_fail("saliency");
    } else if (count == 0) {
        fprintf(stderr, "spurcl: saliency: the %s split of %s is empty\n", split, a->data);
        rc = SC_EXIT_FAIL;
    } else {
        int64_t n = a->n < count ? a->n : count;
        if (draw(s, a, idx, n) != SC_OK)
            rc = sc_cli_fail("saliency");
        else
            printf("wrote %s: %lld %s samples\n", a->out, (long long)n, split);
    }
    free(idx);
    return rc;
}

static const sc_cli_spec spec = {
    "saliency", SC_CLI_SALIENCY,
    "spurcl [--device SEL] saliency --model CKPT --data FILE --out PNG [options]",
    "A PNG grid, one column per sample: the images with their class (y=) and\n"
    "attribute (a=) names, and under them the model's input gradient |d s/d x|\n"
    "(summed over channels) as an inferno heat overlay on the image in grey,\n"
    "each panel scaled to its 99th percentile (s=), with the prediction (p=);\n"
    "a colour bar and a legend at the bottom.\n",
    defaults, NULL, SC_CLI_OPENS_CHECKPOINT, run, .flat = true,
};

SC_CLI_COMMAND(sc_cmd_saliency, spec)
