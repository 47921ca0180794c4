/* spurcl probe: a linear probe on a frozen encoder, per-group tables. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "opts.h"
#include "spurcl/dist.h"
#include "spurcl/io.h"

static void defaults(sc_cli_args *a)
{
    sc_probe_config_default(&a->probe);
    a->run = &a->probe.run;
}

/* The results as one JSON object; val and test in sc_group_metrics_json's keys. */
static sc_status write_json(const char *path, const char *ckpt, bool random_encoder,
                            const sc_probe_result *r)
{
    cJSON *o = cJSON_CreateObject();
    char *val = sc_group_metrics_json(&r->val), *test = sc_group_metrics_json(&r->test);
    cJSON_AddStringToObject(o, "model", ckpt);
    cJSON_AddBoolToObject(o, "random_encoder", random_encoder);
    cJSON_AddNumberToObject(o, "feature_dim", r->feature_dim);
    cJSON_AddNumberToObject(o, "train_acc", r->train_acc);
    cJSON_AddItemToObject(o, "val", val ? cJSON_Parse(val) : NULL);
    cJSON_AddItemToObject(o, "test", test ? cJSON_Parse(test) : NULL);
    cJSON_AddNumberToObject(o, "seconds", r->seconds);
    char *text = val && test ? cJSON_Print(o) : NULL;
    sc_status st = sc_io_write_text_atomic(path, text);
    cJSON_free(text);
    cJSON_Delete(o);
    free(val);
    free(test);
    return st;
}

static int run(const sc_cli_global *g, sc_cli_args *a, sc_cli_session *s)
{
    sc_probe_config *pc = &a->probe;
    if (a->random_encoder && sc_model_init(s->model, pc->seed) != SC_OK)
        return sc_cli_fail("probe");
    if (!g->quiet)
        fprintf(stderr, "probe: %s encoder%s from %s, %d epochs, on %s\n",
                sc_model_kind_name(sc_model_get_config(s->model)->kind),
                a->random_encoder ? " (random weights)" : "", a->ckpt, pc->epochs,
                sc_context_device(s->ctx)->name);
    sc_probe_result r;
    if (sc_probe(s->ctx, s->model, s->d, pc, &r) != SC_OK)
        return sc_cli_fail("probe");
    sc_cli_print_probe(&r, s->d);
    /* (under mpirun every rank holds the same results; rank 0 writes) */
    sc_status st = a->json && sc_dist_writes()
                       ? write_json(a->json, a->ckpt, a->random_encoder, &r)
                       : SC_OK;
    sc_probe_result_free(&r);
    if (st != SC_OK) {
        sc_io_write_error(st, a->json);
        return sc_cli_fail("probe");
    }
    return SC_EXIT_OK;
}

static const sc_cli_spec spec = {
    "probe", SC_CLI_PROBE, "spurcl [--device SEL] probe --model CKPT --data FILE [options]",
    "Linear probe of a frozen encoder: its features (cnn: fc1 after ReLU; resnet:\n"
    "the pooled last stage; vit: the class token after the final norm) are\n"
    "computed once per split, a linear classifier is trained on the labelled\n"
    "training split, and val and test are evaluated per group: worst-group\n"
    "accuracy, the average over all samples, the mean of group accuracies and\n"
    "the average weighted by the training split's group proportions, then the\n"
    "table label x attribute.\n",
    defaults, NULL, SC_CLI_OPENS_CHECKPOINT, run, .flat = true,
};

SC_CLI_COMMAND(sc_cmd_probe, spec)
