/* spurcl train / spurcl eval: ERM training and per-group evaluation. */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "report.h"
#include "train_opts.h"
#include "spurcl/train.h"

static void train_usage(FILE *out)
{
    fprintf(out,
            "usage: spurcl [--device SEL] train --data FILE [options]\n"
            "\n"
            "Plain supervised training (ERM), the floor every robustness table starts\n"
            "from. Training reads labels only. After every epoch (and every --eval-every\n"
            "steps) the validation split is evaluated per group; metrics go to DIR/metrics.jsonl (one JSON object a\n"
            "line) and checkpoints to DIR/last.safetensors (and best.safetensors with a\n"
            "--select other than last). At the end the per-group tables of the selected\n"
            "model on val and test are printed.\n\n%s",
            sc_cli_train_help);
}

static void print_result(const sc_train_result *r, const sc_dataset *d, sc_select sel)
{
    printf("selected model: step %lld, epoch %d (selection: %s%s)\n", (long long)r->selected_step,
           r->selected_epoch, sc_select_name(sel),
           sel == SC_SELECT_VAL_WGA ? "; uses the validation split's group labels" : "");
    sc_cli_print_groups(stdout, "val", &r->val, d);
    sc_cli_print_groups(stdout, "test", &r->test, d);
}

int sc_cmd_train(const sc_cli_global *g, int argc, char **argv)
{
    static const struct option opts[] = {SC_CLI_TRAIN_LONG_OPTIONS,
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    sc_cli_train_args a;
    sc_cli_train_args_default(&a);
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (c == 'h') {
            train_usage(stdout);
            return SC_EXIT_OK;
        }
        if (c == ':')
            return sc_cli_usage_error("train", "option '%s' needs a value", argv[optind - 1]);
        int r = sc_cli_train_opt("train", c, optarg, &a);
        if (r < 0)
            return SC_EXIT_USAGE;
        if (r == 0)
            return sc_cli_usage_error("train", "unknown option '%s'", argv[optind - 1]);
    }
    if (optind < argc)
        return sc_cli_usage_error("train", "unexpected argument '%s'", argv[optind]);
    if (!sc_cli_train_finish("train", &a, "runs/train"))
        return SC_EXIT_USAGE;

    sc_dataset *d;
    if (sc_dataset_load(a.data, &d) != SC_OK)
        return sc_cli_fail("train");
    sc_context *ctx;
    if (sc_context_create(g->device, &ctx) != SC_OK) {
        sc_dataset_free(d);
        return sc_cli_fail("train");
    }
    sc_cli_progress_state ps = {.quiet = g->quiet, .tty = sc_cli_progress_enabled(g)};
    a.cfg.progress = sc_cli_progress;
    a.cfg.progress_ud = &ps;
    if (!g->quiet)
        fprintf(stderr, "train: %s model, %d epochs, batch %lld, on %s; run directory %s\n",
                a.model_name, a.cfg.epochs, (long long)a.cfg.batch_size,
                sc_context_device(ctx)->name, a.out);
    sc_train_result r;
    sc_status st = sc_train_erm(ctx, d, &a.cfg, &r);
    int rc = SC_EXIT_OK;
    if (st != SC_OK) {
        if (ps.tty && !g->quiet)
            fputs("\n", stderr);
        rc = sc_cli_fail("train");
    } else {
        print_result(&r, d, a.cfg.select);
        sc_train_result_free(&r);
    }
    sc_context_free(ctx);
    sc_dataset_free(d);
    return rc;
}

static void eval_usage(FILE *out)
{
    fprintf(out,
            "usage: spurcl [--device SEL] eval --model CKPT --data FILE [--split val|test|both]\n"
            "\n"
            "Per-group accuracy of a checkpoint (written by train, jtt or ule) on a\n"
            "data set: worst-group accuracy, the average over all samples, the mean of\n"
            "group accuracies and the average weighted by the training split's group\n"
            "proportions, then the table label x attribute.\n"
            "  --batch N   evaluation batch size (default 512)\n");
}

int sc_cmd_eval(const sc_cli_global *g, int argc, char **argv)
{
    static const struct option opts[] = {{"model", required_argument, NULL, 'm'},
                                         {"data", required_argument, NULL, 'd'},
                                         {"split", required_argument, NULL, 's'},
                                         {"batch", required_argument, NULL, 'b'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *ckpt = NULL, *data = NULL, *split = "both";
    long long batch = 512;
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'h': eval_usage(stdout); return SC_EXIT_OK;
        case 'm': ckpt = optarg; break;
        case 'd': data = optarg; break;
        case 's': split = optarg; break;
        case 'b':
            if (!sc_cli_parse_int("eval", "--batch", optarg, 1, 1 << 20, &batch))
                return SC_EXIT_USAGE;
            break;
        case ':': return sc_cli_usage_error("eval", "option '%s' needs a value", argv[optind - 1]);
        default: return sc_cli_usage_error("eval", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return sc_cli_usage_error("eval", "unexpected argument '%s'", argv[optind]);
    if (!ckpt || !data)
        return sc_cli_usage_error("eval", "--model CKPT and --data FILE are required");
    if (strcmp(split, "val") && strcmp(split, "test") && strcmp(split, "both"))
        return sc_cli_usage_error("eval", "--split must be val, test or both, not '%s'", split);

    sc_model_config mc;
    if (sc_checkpoint_model_config(ckpt, &mc) != SC_OK)
        return sc_cli_fail("eval");
    sc_dataset *d;
    if (sc_dataset_load(data, &d) != SC_OK)
        return sc_cli_fail("eval");
    sc_context *ctx = NULL;
    sc_model *m = NULL;
    double *props = NULL;
    int rc = SC_EXIT_OK;
    if (sc_context_create(g->device, &ctx) != SC_OK || sc_model_create(ctx, &mc, &m) != SC_OK ||
        sc_checkpoint_load(ckpt, m, NULL, NULL) != SC_OK ||
        sc_group_props(d, SC_SPLIT_TRAIN, &props) != SC_OK) {
        rc = sc_cli_fail("eval");
    } else {
        for (int s = SC_SPLIT_VAL; s <= SC_SPLIT_TEST && rc == SC_EXIT_OK; s++) {
            if (strcmp(split, "both") && strcmp(split, sc_split_name((sc_split)s)))
                continue;
            sc_group_metrics gm;
            if (sc_evaluate(ctx, m, d, (sc_split)s, props, batch, &gm) != SC_OK) {
                rc = sc_cli_fail("eval");
                break;
            }
            sc_cli_print_groups(stdout, sc_split_name((sc_split)s), &gm, d);
            sc_group_metrics_free(&gm);
        }
    }
    free(props);
    sc_model_free(m);
    sc_context_free(ctx);
    sc_dataset_free(d);
    return rc;
}
