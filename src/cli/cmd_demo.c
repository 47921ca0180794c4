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
#include "spurcl/ule.h"
#include "spurcl/sys.h"

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

typedef struct demo_row {
    const char *name;
    int64_t step;
    double val_acc, test_acc, test_wga, test_mean, mark_share;
} demo_row;

static sc_status row_for(sc_context *ctx, sc_model *m, const sc_dataset *d, const char *name,
                         int64_t step, const sc_group_metrics *val, const sc_group_metrics *test,
                         demo_row *r)
{
    r->name = name;
    r->step = step;
    r->val_acc = val->accuracy;
    r->test_acc = test->accuracy;
    r->test_wga = test->worst_group;
    r->test_mean = test->mean_group;
    return sc_saliency_mark_share(ctx, m, d, SC_SPLIT_VAL, 1000, SC_SAL_TRUE_LOGIT,
                                  &r->mark_share);
}

typedef struct demo_results {
    const demo_row *rows;
    int n;
    double seconds;
} demo_results;

static sc_status write_csv(FILE *f, void *ud)
{
    const demo_results *r = ud;
    fprintf(f, "method,step,val_acc_marked,test_acc_clean,test_worst_group,test_mean_group,"
               "val_mark_saliency_share\n");
    for (int i = 0; i < r->n; i++)
        fprintf(f, "\"%s\",%lld,%.4f,%.4f,%.4f,%.4f,%.4f\n", r->rows[i].name, /* names hold commas */
                (long long)r->rows[i].step, r->rows[i].val_acc, r->rows[i].test_acc,
                r->rows[i].test_wga, r->rows[i].test_mean, r->rows[i].mark_share);
    return ferror(f) ? sc_error_set(SC_ERR_IO, "writing failed") : SC_OK;
}

static sc_status write_json(FILE *f, void *ud)
{
    const demo_results *r = ud;
    fprintf(f, "{\"seconds\": %.1f, \"rows\": [", r->seconds);
    for (int i = 0; i < r->n; i++)
        fprintf(f, "%s{\"method\": \"%s\", \"step\": %lld, \"val_acc_marked\": %.4f, "
                   "\"test_acc_clean\": %.4f, \"test_worst_group\": %.4f, "
                   "\"test_mean_group\": %.4f, \"val_mark_saliency_share\": %.4f}",
                i ? ", " : "", r->rows[i].name, (long long)r->rows[i].step, r->rows[i].val_acc,
                r->rows[i].test_acc, r->rows[i].test_wga, r->rows[i].test_mean,
                r->rows[i].mark_share);
    fprintf(f, "]}\n");
    return ferror(f) ? sc_error_set(SC_ERR_IO, "writing failed") : SC_OK;
}

static sc_status write_results(const char *dir, const demo_row *rows, int n, double seconds)
{
    demo_results r = {rows, n, seconds};
    char path[4096];
    snprintf(path, sizeof path, "%s/results.csv", dir);
    sc_status st = sc_io_write_atomic(path, write_csv, &r);
    if (st == SC_OK) {
        snprintf(path, sizeof path, "%s/results.json", dir);
        st = sc_io_write_atomic(path, write_json, &r);
    }
    return st == SC_OK ? st : sc_error_wrap(st, "writing %s", path);
}

/* A checkpoint's model and its val/test metrics (ERM's last step). */
static sc_status eval_checkpoint(sc_context *ctx, const sc_dataset *d, const char *path,
                                 sc_model **m, sc_group_metrics *val, sc_group_metrics *test)
{
    sc_model_config mc;
    double *props = NULL;
    sc_status st = sc_checkpoint_model_config(path, &mc);
    if (st == SC_OK)
        st = sc_model_create(ctx, &mc, m);
    if (st == SC_OK)
        st = sc_checkpoint_load(path, *m, NULL, NULL);
    if (st == SC_OK)
        st = sc_group_props(d, SC_SPLIT_TRAIN, &props);
    if (st == SC_OK)
        st = sc_evaluate(ctx, *m, d, SC_SPLIT_VAL, props, 512, val);
    if (st == SC_OK)
        st = sc_evaluate(ctx, *m, d, SC_SPLIT_TEST, props, 512, test);
    free(props);
    return st;
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
    const char *out = "runs/demo", *source_dir = NULL;
    long long epochs = 1, seed = 0, max_train = 0, eval_every = 25;
    double lambda = 100, overlap_lambda = 3000;
    sc_saliency_target target = SC_SAL_PRED_LOGIT, overlap_target = SC_SAL_PRED_LOGIT;
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'h': demo_usage(stdout); return SC_EXIT_OK;
        case 'o': out = optarg; break;
        case 'S': source_dir = optarg; break;
        case 'e': if (!sc_cli_parse_int("demo", "--epochs", optarg, 1, 1000, &epochs)) return SC_EXIT_USAGE; break;
        case 'E': if (!sc_cli_parse_int("demo", "--eval-every", optarg, 0, 1LL << 40, &eval_every)) return SC_EXIT_USAGE; break;
        case 's': if (!sc_cli_parse_int("demo", "--seed", optarg, 0, 1LL << 53, &seed)) return SC_EXIT_USAGE; break;
        case 'm': if (!sc_cli_parse_int("demo", "--max-train", optarg, 0, 1LL << 40, &max_train)) return SC_EXIT_USAGE; break;
        case 'l': if (!sc_cli_parse_double("demo", "--lambda", optarg, 0, 1e9, &lambda)) return SC_EXIT_USAGE; break;
        case 'L': if (!sc_cli_parse_double("demo", "--overlap-lambda", optarg, 0, 1e9, &overlap_lambda)) return SC_EXIT_USAGE; break;
        case 't': if (!sc_cli_parse_saliency_target("demo", "--saliency", optarg, &target)) return SC_EXIT_USAGE; break;
        case 'T': if (!sc_cli_parse_saliency_target("demo", "--overlap-saliency", optarg, &overlap_target)) return SC_EXIT_USAGE; break;
        case ':': return sc_cli_usage_error("demo", "option '%s' needs a value", argv[optind - 1]);
        default: return sc_cli_usage_error("demo", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return sc_cli_usage_error("demo", "unexpected argument '%s'", argv[optind]);

    double t0 = sc_time_now();
    if (sc_mkdir_p(out) != SC_OK)
        return sc_cli_fail("demo");
    sc_build_opts bo;
    sc_build_opts_default(&bo);
    bo.variant = SC_VARIANT_PATCH;
    bo.rho = 1.0;
    bo.test_clean = true;
    bo.seed = (uint64_t)seed;
    bo.source.max_train = max_train;
    if (source_dir)
        bo.source.dir = source_dir;
    sc_dataset *d;
    if (sc_dataset_build(&bo, &d) != SC_OK)
        return sc_cli_fail("demo: building the MNIST-SC data set");
    char path[4096];
    snprintf(path, sizeof path, "%s/mnist-sc.safetensors", out);
    if (sc_dataset_save(d, path) != SC_OK) {
        sc_dataset_free(d);
        return sc_cli_fail("demo");
    }
    if (!g->quiet)
        fprintf(stderr, "demo: MNIST-SC built (%s), %lld images; ERM, JTT and ULE follow\n", path,
                (long long)d->n);
    sc_context *ctx;
    if (sc_context_create(g->device, &ctx) != SC_OK) {
        sc_dataset_free(d);
        return sc_cli_fail("demo");
    }
    sc_cli_progress_state ps = {.quiet = g->quiet, .tty = sc_cli_progress_enabled(g)};
    sc_train_config tc;
    sc_train_config_default(&tc);
    tc.epochs = (int)epochs;
    tc.seed = (uint64_t)seed;
    tc.select = SC_SELECT_VAL_AVG;
    tc.eval_every = eval_every;
    tc.progress = sc_cli_progress;
    tc.progress_ud = &ps;
    char erm_dir[4096], jtt_dir[4096], ule_dir[4096], ulo_dir[4096];
    snprintf(erm_dir, sizeof erm_dir, "%s/erm", out);
    snprintf(jtt_dir, sizeof jtt_dir, "%s/jtt", out);
    snprintf(ule_dir, sizeof ule_dir, "%s/ule-mse", out);
    snprintf(ulo_dir, sizeof ulo_dir, "%s/ule-overlap", out);

    enum { NROWS = 5 };
    demo_row rows[NROWS];
    sc_train_result erm = {0};
    sc_model *erm_last = NULL;
    sc_group_metrics last_val = {0}, last_test = {0};
    sc_jtt_result jtt = {0};
    sc_ule_result ule = {0}, ulo = {0};
    int rc = SC_EXIT_OK;
    int64_t ntrain = 0;
    for (int64_t i = 0; i < d->n; i++)
        ntrain += d->split[i] == SC_SPLIT_TRAIN;
    int64_t last_step = (ntrain + tc.batch_size - 1) / tc.batch_size * tc.epochs;
    tc.run_dir = erm_dir;
    ps.label = "erm";
    char last_path[4096 + 32];
    snprintf(last_path, sizeof last_path, "%s/last.safetensors", erm_dir);
    if (sc_train_erm(ctx, d, &tc, &erm) != SC_OK ||
        eval_checkpoint(ctx, d, last_path, &erm_last, &last_val, &last_test) != SC_OK ||
        row_for(ctx, erm_last, d, "ERM, last step", last_step, &last_val, &last_test,
                &rows[0]) != SC_OK ||
        row_for(ctx, erm.model, d, "ERM", erm.selected_step, &erm.val, &erm.test, &rows[1]) != SC_OK)
        rc = sc_cli_fail("demo: ERM");
    sc_jtt_config jc = {.train = tc, .id_epochs = 1, .upweight = 20};
    jc.train.run_dir = jtt_dir;
    ps.label = "jtt";
    if (rc == SC_EXIT_OK &&
        (sc_train_jtt(ctx, d, &jc, &jtt) != SC_OK ||
         row_for(ctx, jtt.final.model, d, "JTT", jtt.final.selected_step, &jtt.final.val,
                 &jtt.final.test, &rows[2]) != SC_OK))
        rc = sc_cli_fail("demo: JTT");
    sc_ule_config uc;
    sc_ule_config_default(&uc);
    uc.epochs = (int)epochs;
    uc.seed = (uint64_t)seed;
    uc.select = SC_SELECT_VAL_AVG;
    uc.eval_every = eval_every;
    uc.loss.lambda = (float)lambda;
    uc.loss.target = target;
    uc.run_dir = ule_dir;
    uc.progress = sc_cli_progress;
    uc.progress_ud = &ps;
    ps.label = "ule (mse)";
    if (rc == SC_EXIT_OK &&
        (sc_train_ule(ctx, d, &uc, &ule) != SC_OK ||
         row_for(ctx, ule.teacher, d, "ULE teacher, mse", ule.selected_step, &ule.teacher_val,
                 &ule.teacher_test, &rows[3]) != SC_OK))
        rc = sc_cli_fail("demo: ULE");
    uc.loss.penalty = SC_ULE_PENALTY_OVERLAP;
    uc.loss.lambda = (float)overlap_lambda;
    uc.loss.target = overlap_target;
    uc.run_dir = ulo_dir;
    ps.label = "ule (overlap)";
    if (rc == SC_EXIT_OK &&
        (sc_train_ule(ctx, d, &uc, &ulo) != SC_OK ||
         row_for(ctx, ulo.teacher, d, "ULE teacher, overlap", ulo.selected_step,
                 &ulo.teacher_val, &ulo.teacher_test, &rows[4]) != SC_OK))
        rc = sc_cli_fail("demo: ULE (overlap)");
    if (rc == SC_EXIT_OK) {
        snprintf(path, sizeof path, "%s/saliency.png", out);
        sc_model *models[3] = {erm_last, ule.teacher, ulo.teacher};
        const char *titles[3] = {"erm last", "ule mse", "ule overlap"};
        double secs = sc_time_now() - t0;
        if (sc_cli_saliency_picture(ctx, d, models, titles, 3, path) != SC_OK ||
            write_results(out, rows, NROWS, secs) != SC_OK) {
            rc = sc_cli_fail("demo");
        } else {
            printf("MNIST-SC on Fashion-MNIST: train marked (rho 1.0), val marked at random, "
                   "test clean\n");
            static const char *const tnames[] = {"true-logit", "pred-logit", "loss"};
            printf("cnn, %lld epoch(s) each (%lld steps), seed %lld, val every %lld steps; ULE "
                   "mse lambda %g (%s saliency) and overlap lambda %g (%s saliency); %.0f s in "
                   "all on %s\n\n",
                   epochs, (long long)last_step, seed, eval_every, lambda, tnames[target],
                   overlap_lambda, tnames[overlap_target], secs, sc_context_device(ctx)->name);
            printf("%-20s %6s %10s %10s %10s %10s %10s\n", "method", "step", "val acc",
                   "test acc", "test wga", "test mean", "mark sal.");
            printf("%-20s %6s %10s %10s %10s %10s %10s\n", "", "", "(marked)", "(clean)",
                   "(clean)", "of groups", "share");
            for (int i = 0; i < NROWS; i++)
                printf("%-20s %6lld %10.4f %10.4f %10.4f %10.4f %10.4f\n", rows[i].name,
                       (long long)rows[i].step, rows[i].val_acc, rows[i].test_acc,
                       rows[i].test_wga, rows[i].test_mean, rows[i].mark_share);
            printf("\nstep: the evaluation each method kept (best val average accuracy; no group "
                   "labels).\nval: marked at a random position (unbiased); test: clean. mark "
                   "sal. share: share of\n|input gradient| inside the mark on 1000 validation "
                   "images (the mark covers %.1f%%).\nERM's last step is the shortcut learner "
                   "(ULE's student with the same seed). JTT\nupweighted %lld training errors "
                   "x20.\n",
                   100.0 * 16 / (d->h * d->w), (long long)jtt.errors);
            printf("files: %s/results.csv, results.json, saliency.png; runs in erm/, jtt/, "
                   "ule-mse/, ule-overlap/\n",
                   out);
        }
    }
    sc_train_result_free(&erm);
    sc_model_free(erm_last);
    sc_group_metrics_free(&last_val);
    sc_group_metrics_free(&last_test);
    sc_train_result_free(&jtt.final);
    sc_ule_result_free(&ule);
    sc_ule_result_free(&ulo);
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
