/* spurcl eval: per-group accuracy of a checkpoint on a data set. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "opts.h"
#include "spurcl/dist.h"

static void defaults(sc_cli_args *a)
{
    a->run = &a->run_store;
    a->run->batch_size = 512; /* evaluation only: no library config holds it */
    a->split = -1;            /* val and test */
}

/* --json: {"model": CKPT, "data": FILE, "val": {...}, "test": {...}}, each
 * split in sc_group_metrics_json's keys (only the splits evaluated). */
static sc_status write_json(const char *path, const char *ckpt, const char *data,
                            const cJSON *splits)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model", ckpt);
    cJSON_AddStringToObject(o, "data", data);
    for (cJSON *it = splits->child; it; it = it->next)
        cJSON_AddItemReferenceToObject(o, it->string, it);
    char *text = cJSON_Print(o);
    sc_status st = sc_io_write_text_atomic(path, text);
    cJSON_free(text);
    cJSON_Delete(o);
    return st;
}

static int run(const sc_cli_global *g, sc_cli_args *a, sc_cli_session *s)
{
    (void)g;
    double *props = NULL;
    int rc = sc_cli_refuse_ssl_encoder("eval", a->ckpt);
    if (rc != SC_EXIT_OK)
        return rc;
    cJSON *splits = cJSON_CreateObject();
    if (!splits || sc_group_props(s->d, SC_SPLIT_TRAIN, &props) != SC_OK)
        rc = sc_cli_fail("eval");
    /* the training split only when asked for (its accuracy per group shows
     * what a model memorised); "both" is val and test */
    int first = a->split == SC_SPLIT_TRAIN ? SC_SPLIT_TRAIN : SC_SPLIT_VAL;
    for (int k = first; k <= SC_SPLIT_TEST && rc == SC_EXIT_OK; k++) {
        sc_group_metrics gm;
        if (a->split >= 0 && a->split != k)
            continue;
        if (sc_evaluate(s->ctx, s->model, s->d, (sc_split)k, props, a->run->batch_size, &gm) !=
            SC_OK) {
            rc = sc_cli_fail("eval");
            break;
        }
        sc_cli_print_groups(stdout, sc_split_name((sc_split)k), &gm, s->d);
        char *js = sc_group_metrics_json(&gm);
        cJSON *item = js ? cJSON_Parse(js) : NULL;
        free(js);
        if (!item) {
            sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of host memory");
            rc = sc_cli_fail("eval");
        } else {
            cJSON_AddItemToObject(splits, sc_split_name((sc_split)k), item);
        }
        sc_group_metrics_free(&gm);
    }
    if (rc == SC_EXIT_OK && a->json && sc_dist_writes()) { /* rank 0 writes */
        sc_status st = write_json(a->json, a->ckpt, a->data, splits);
        if (st != SC_OK) {
            sc_io_write_error(st, a->json);
            rc = sc_cli_fail("eval");
        }
    }
    cJSON_Delete(splits);
    free(props);
    return rc;
}

static const sc_cli_spec spec = {
    "eval", SC_CLI_EVAL,
    "spurcl [--device SEL] eval --model CKPT --data FILE [--split train|val|test|both] "
    "[--json FILE]",
    "Per-group accuracy of a checkpoint (written by train, jtt or ule) on a\n"
    "data set: worst-group accuracy, the average over all samples, the mean of\n"
    "group accuracies and the average weighted by the training split's group\n"
    "proportions, then the table label x attribute. --split both (the default)\n"
    "reads val and test; train is read only when asked for.\n",
    defaults, NULL, SC_CLI_OPENS_CHECKPOINT, run, .flat = true,
};

SC_CLI_COMMAND(sc_cmd_eval, spec)
