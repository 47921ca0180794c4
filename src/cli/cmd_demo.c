/* spurcl demo: the robustness demo on Fashion-MNIST MNIST-SC, and
 * spurcl saliency: input-gradient pictures of a checkpoint. */
#define _GNU_SOURCE
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "report.h"
#include "spurcl/io.h"
#include "spurcl/render.h"
#include "spurcl/demo.h"

static void demo_usage(FILE *out)
{
    fprintf(out,
            "usage: spurcl [--device SEL] demo [options]\n"
            "\n"
            "The robustness demo (MNIST-SC on Fashion-MNIST): every training image\n"
            "carries a 4x4 mark whose position reveals its class (rho 1.0); test images\n"
            "are clean, validation images are marked with a random (unbiased) position.\n"
            "Trains ERM, JTT and ULE with the same budget: ULE twice, with the paper's\n"
            "penalty (MSE toward the negated student map) and with the overlap penalty\n"
            "(not in the paper; see 'spurcl ule --help'). Every method is evaluated on\n"
            "val every --eval-every steps and the evaluation with the best val average\n"
            "accuracy is kept (no group labels); ERM's last step is shown too (the\n"
            "shortcut learner, which is also ULE's student). Prints the comparison table,\n"
            "writes DIR/results.csv, DIR/results.json and DIR/saliency.png (ERM and the\n"
            "two ULE teachers on the same validation images). A model that learned the\n"
            "shortcut fails on randomly marked images and puts its saliency on the mark.\n"
            "Lambdas and saliency targets are the ones validation sweeps chose (best val\n"
            "average accuracy, seed 0; README): overlap on the full data, mse on a\n"
            "20,000-image subset.\n"
            "\n"
            "  --out DIR          run directory (default runs/demo)\n"
            "  --epochs N         epochs of each method (default 1)\n"
            "  --eval-every N     evaluate val every N steps (default 25; 0: epoch ends)\n"
            "  --lambda L         ULE lambda with the paper's penalty (default 100)\n"
            "  --saliency T       its saliency target: true-logit|pred-logit|loss\n"
            "                     (default pred-logit)\n"
            "  --overlap-lambda L ULE lambda with the overlap penalty (default 3000)\n"
            "  --overlap-saliency T  its saliency target (default pred-logit)\n"
            "  --seed N           data and training seed (default 0)\n"
            "  --max-train N      use the first N training images of the source (default all)\n"
            "  --source-dir DIR   Fashion-MNIST files (default /usr/share/datasets/fashion-mnist)\n");
}

int sc_cmd_demo(const sc_cli_global *g, int argc, char **argv)
{
    static const struct option opts[] = {{"out", required_argument, NULL, 'o'},
                                         {"epochs", required_argument, NULL, 'e'},
                                         {"eval-every", required_argument, NULL, 'E'},
                                         {"lambda", required_argument, NULL, 'l'},
                                         {"overlap-lambda", required_argument, NULL, 'L'},
                                         {"saliency", required_argument, NULL, 't'},
                                         {"overlap-saliency", required_argument, NULL, 'T'},
                                         {"seed", required_argument, NULL, 's'},
                                         {"max-train", required_argument, NULL, 'm'},
                                         {"source-dir", required_argument, NULL, 'S'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    sc_demo_config dc;
    sc_demo_config_default(&dc);
    long long epochs = dc.epochs, seed = 0, max_train = 0, eval_every = dc.eval_every;
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'h': demo_usage(stdout); return SC_EXIT_OK;
        case 'o': dc.out = optarg; break;
        case 'S': dc.source_dir = optarg; break;
        case 'e': if (!sc_cli_parse_int("demo", "--epochs", optarg, 1, 1000, &epochs)) return SC_EXIT_USAGE; break;
        case 'E': if (!sc_cli_parse_int("demo", "--eval-every", optarg, 0, 1LL << 40, &eval_every)) return SC_EXIT_USAGE; break;
        case 's': if (!sc_cli_parse_int("demo", "--seed", optarg, 0, 1LL << 53, &seed)) return SC_EXIT_USAGE; break;
        case 'm': if (!sc_cli_parse_int("demo", "--max-train", optarg, 0, 1LL << 40, &max_train)) return SC_EXIT_USAGE; break;
        case 'l': if (!sc_cli_parse_double("demo", "--lambda", optarg, 0, 1e9, &dc.lambda)) return SC_EXIT_USAGE; break;
        case 'L': if (!sc_cli_parse_double("demo", "--overlap-lambda", optarg, 0, 1e9, &dc.overlap_lambda)) return SC_EXIT_USAGE; break;
        case 't': if (!sc_cli_parse_saliency_target("demo", "--saliency", optarg, &dc.target)) return SC_EXIT_USAGE; break;
        case 'T': if (!sc_cli_parse_saliency_target("demo", "--overlap-saliency", optarg, &dc.overlap_target)) return SC_EXIT_USAGE; break;
        case ':': return sc_cli_usage_error("demo", "option '%s' needs a value", argv[optind - 1]);
        default: return sc_cli_usage_error("demo", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return sc_cli_usage_error("demo", "unexpected argument '%s'", argv[optind]);
    dc.epochs = (int)epochs;
    dc.seed = (uint64_t)seed;
    dc.max_train = max_train;
    dc.eval_every = eval_every;

    sc_dataset *d;
    if (sc_demo_build_data(&dc, &d) != SC_OK)
        return sc_cli_fail("demo");
    if (!g->quiet)
        fprintf(stderr, "demo: MNIST-SC built (%s/mnist-sc.safetensors), %lld images; ERM, JTT "
                        "and ULE follow\n",
                dc.out, (long long)d->n);
    sc_context *ctx;
    if (sc_context_create(g->device, &ctx) != SC_OK) {
        sc_dataset_free(d);
        return sc_cli_fail("demo");
    }
    sc_cli_progress_state ps = {.quiet = g->quiet, .tty = sc_cli_progress_enabled(g)};
    dc.progress = sc_cli_progress;
    dc.progress_ud = &ps;
    sc_demo_result r;
    int rc = SC_EXIT_OK;
    if (sc_demo_run(ctx, d, &dc, &r) != SC_OK) {
        rc = sc_cli_fail("demo");
    } else {
        printf("MNIST-SC on Fashion-MNIST: train marked (rho 1.0), val marked at random, "
               "test clean\n");
        printf("cnn, %d epoch(s) each (%lld steps), seed %llu, val every %lld steps; ULE "
               "mse lambda %g (%s saliency) and overlap lambda %g (%s saliency); %.0f s in "
               "all on %s\n\n",
               dc.epochs, (long long)r.last_step, (unsigned long long)dc.seed,
               (long long)dc.eval_every, dc.lambda, sc_saliency_target_name(dc.target),
               dc.overlap_lambda, sc_saliency_target_name(dc.overlap_target), r.seconds,
               sc_context_device(ctx)->name);
        printf("%-20s %6s %10s %10s %10s %10s %10s\n", "method", "step", "val acc", "test acc",
               "test wga", "test mean", "mark sal.");
        printf("%-20s %6s %10s %10s %10s %10s %10s\n", "", "", "(marked)", "(clean)", "(clean)",
               "of groups", "share");
        for (int i = 0; i < SC_DEMO_ROWS; i++)
            printf("%-20s %6lld %10.4f %10.4f %10.4f %10.4f %10.4f\n", r.rows[i].method,
                   (long long)r.rows[i].step, r.rows[i].val_acc, r.rows[i].test_acc,
                   r.rows[i].test_wga, r.rows[i].test_mean, r.rows[i].mark_share);
        printf("\nstep: the evaluation each method kept (best val average accuracy; no group "
               "labels).\nval: marked at a random position (unbiased); test: clean. mark "
               "sal. share: share of\n|input gradient| inside the mark on 1000 validation "
               "images (the mark covers %.1f%%).\nERM's last step is the shortcut learner "
               "(ULE's student with the same seed). JTT\nupweighted %lld training errors "
               "x20.\n",
               100.0 * r.mark_area, (long long)r.jtt_errors);
        printf("files: %s/results.csv, results.json, saliency.png; runs in erm/, jtt/, "
               "ule-mse/, ule-overlap/\n",
               dc.out);
    }
    sc_context_free(ctx);
    sc_dataset_free(d);
    return rc;
}

static void sal_usage(FILE *out)
{
    fprintf(out,
            "usage: spurcl [--device SEL] saliency --model CKPT --data FILE --out PNG\n"
            "                                    [--split val|test|train] [--n N]\n"
            "                                    [--target true-logit|pred-logit|loss] [--scale S]\n"
            "\n"
            "A PNG grid: per sample the image and the heat map of its input gradient\n"
            "(|d s/d x| summed over channels), with label y and prediction p.\n"
            "Defaults: --split test, --n 16, --target true-logit, --scale 4.\n");
}

int sc_cmd_saliency(const sc_cli_global *g, int argc, char **argv)
{
    static const struct option opts[] = {{"model", required_argument, NULL, 'm'},
                                         {"data", required_argument, NULL, 'd'},
                                         {"out", required_argument, NULL, 'o'},
                                         {"split", required_argument, NULL, 's'},
                                         {"n", required_argument, NULL, 'n'},
                                         {"target", required_argument, NULL, 't'},
                                         {"scale", required_argument, NULL, 'S'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *ckpt = NULL, *data = NULL, *outp = NULL, *split_s = "test";
    long long n = 16, scale = 4;
    sc_saliency_target target = SC_SAL_TRUE_LOGIT;
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'h': sal_usage(stdout); return SC_EXIT_OK;
        case 'm': ckpt = optarg; break;
        case 'd': data = optarg; break;
        case 'o': outp = optarg; break;
        case 's': split_s = optarg; break;
        case 'n': if (!sc_cli_parse_int("saliency", "--n", optarg, 1, 1024, &n)) return SC_EXIT_USAGE; break;
        case 'S': if (!sc_cli_parse_int("saliency", "--scale", optarg, 1, 16, &scale)) return SC_EXIT_USAGE; break;
        case 't':
            if (!sc_cli_parse_saliency_target("saliency", "--target", optarg, &target))
                return SC_EXIT_USAGE;
            break;
        case ':': return sc_cli_usage_error("saliency", "option '%s' needs a value", argv[optind - 1]);
        default: return sc_cli_usage_error("saliency", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return sc_cli_usage_error("saliency", "unexpected argument '%s'", argv[optind]);
    if (!ckpt || !data || !outp)
        return sc_cli_usage_error("saliency", "--model CKPT, --data FILE and --out PNG are required");
    sc_split split;
    if (sc_split_parse(split_s, &split) != SC_OK)
        return sc_cli_usage_error("saliency", "--split: %s", sc_last_error());
    sc_model_config mc;
    if (sc_checkpoint_model_config(ckpt, &mc) != SC_OK)
        return sc_cli_fail("saliency");
    sc_dataset *d;
    if (sc_dataset_load(data, &d) != SC_OK)
        return sc_cli_fail("saliency");
    sc_context *ctx = NULL;
    sc_model *m = NULL;
    int64_t *idx = NULL, count = 0;
    int rc = SC_EXIT_OK;
    if (sc_context_create(g->device, &ctx) != SC_OK || sc_model_create(ctx, &mc, &m) != SC_OK ||
        sc_checkpoint_load(ckpt, m, NULL, NULL) != SC_OK ||
        sc_dataset_split_indices(d, split, &idx, &count) != SC_OK) {
        rc = sc_cli_fail("saliency");
    } else if (count == 0) {
        fprintf(stderr, "spurcl: saliency: the %s split of %s is empty\n", split_s, data);
        rc = SC_EXIT_FAIL;
    } else {
        if (n > count)
            n = count;
        size_t per = (size_t)d->c * (size_t)d->h * (size_t)d->w;
        float *maps = malloc((size_t)n * per * sizeof *maps);
        int32_t *preds = malloc((size_t)n * sizeof *preds), *labels = malloc((size_t)n * 4);
        uint8_t *imgs = malloc((size_t)n * per);
        sc_status st = maps && preds && labels && imgs
                           ? sc_saliency_maps(ctx, m, d, idx, n, target, maps, preds)
                           : sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of host memory");
        for (int64_t i = 0; st == SC_OK && i < n; i++) {
            memcpy(imgs + (size_t)i * per, d->images + (size_t)idx[i] * per, per);
            labels[i] = d->labels[idx[i]];
        }
        const char *title = "saliency";
        const float *mp = maps;
        const int32_t *pp = preds;
        if (st == SC_OK)
            st = sc_render_saliency_png(outp, imgs, (int)n, d->c, d->h, d->w, labels, 1, &mp, &pp,
                                        &title, (int)scale);
        if (st != SC_OK)
            rc = sc_cli_fail("saliency");
        else
            printf("wrote %s: %lld %s samples\n", outp, n, split_s);
        free(maps); free(preds); free(labels); free(imgs);
    }
    free(idx);
    sc_model_free(m);
    sc_context_free(ctx);
    sc_dataset_free(d);
    return rc;
}
