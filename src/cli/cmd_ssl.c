/* spurcl ssl / spurcl probe: self-supervised pre-training (SimCLR,
 * BarlowTwins) with uniform or LA-SSL sampling, and the linear probe. */
#define _GNU_SOURCE
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "report.h"
#include "train_opts.h"
#include "spurcl/ssl.h"

static void ssl_usage(FILE *out)
{
    fprintf(out,
            "usage: spurcl [--device SEL] ssl --data FILE [options]\n"
            "\n"
            "Self-supervised pre-training of an encoder on the training split (labels\n"
            "and attributes are never read for training) with SimCLR (NT-Xent) or\n"
            "BarlowTwins on two augmented views per image (augmented on the device),\n"
            "and uniform or LA-SSL sampling: samples that are learned slowly (low\n"
            "exp(cos(z1, z2) / tau), averaged over time) are drawn more often.\n"
            "Per epoch, DIR/metrics.jsonl gets one JSON line (loss, positive-pair cosine,\n"
            "mean learning speed per group and for aligned / conflicting samples, the\n"
            "sampling distribution's mass on them; attributes used for this logging\n"
            "only) and DIR/last.safetensors the encoder (loadable by 'spurcl probe' and\n"
            "'spurcl eval'), projector, optimiser and sampler state. At the end\n"
            "DIR/speeds.png plots the curves and the final weight distribution.\n"
            "\n"
            "Method:\n"
            "  --method simclr|barlow  loss (default simclr)\n"
            "  --temperature X      NT-Xent temperature, also the tau of the learning\n"
            "                       speed exp(cos / tau) (default 0.5)\n"
            "  --offdiag X          BarlowTwins off-diagonal weight (default 0.0051)\n"
            "  --proj-dim N         projector output size (default 128)\n"
            "  --proj-hidden N      projector hidden size (default 512)\n"
            "Sampler (LA-SSL; the defaults marked * are reconstructions: the paper does\n"
            "not give them):\n"
            "  --sampler uniform|la sampling (default uniform)\n"
            "  --la-quantile R      * r: the threshold s* is the r-quantile of the\n"
            "                       speeds, linear interpolation (default 0.1)\n"
            "  --la-gamma G         * weight h(v) = max(0, s* - G (v - s*)) (default 10)\n"
            "  --la-ema ETA         * speed moving average v <- (1-ETA) v + ETA sim\n"
            "                       (default 0.1)\n"
            "  --la-warmup N        * epochs of uniform sampling first (default 10)\n"
            "  --la-every N         * recompute the weights every N epochs (default 2)\n"
            "Augmentation (per view, seeded per sample):\n"
            "  --crop-scale MIN,MAX random resized crop area fraction (default 0.2,1)\n"
            "  --crop-ratio MIN,MAX crop aspect ratio (default 0.75,1.3333)\n"
            "  --flip P             horizontal flip probability (default 0: digits and\n"
            "                       garments)\n"
            "  --jitter-prob P      probability of brightness/contrast jitter (default 0.8)\n"
            "  --brightness X       brightness factor in [1-X, 1+X] (default 0.4)\n"
            "  --contrast X         contrast factor in [1-X, 1+X] (default 0.4)\n"
            "  --noise S            Gaussian noise std (default 0.05)\n"
            "Data and encoder:\n"
            "  --data FILE          data set built by 'spurcl data build' (required)\n"
            "  --encoder cnn|vit|resnet  encoder architecture (default cnn; also --model;\n"
            "                       resnet where the model module provides it)\n"
            "  --cnn-widths C1,C2,FC  cnn widths (default 32,64,128; FC is the feature size)\n"
            "  --vit-patch P --vit-dim D --vit-depth L --vit-heads H --vit-mlp M\n"
            "                       vit shape (defaults: patch 7 for 28 px else 4, 64, 4, 4, 128)\n"
            "  --resnet-width W     resnet base width (see 'spurcl train --help')\n"
            "Optimisation:\n"
            "  --epochs N           epochs (default 20)\n"
            "  --batch N            batch size, >= 2 (default 256)\n"
            "  --optim sgd|adamw    optimiser (default adamw)\n"
            "  --lr X               learning rate (default 1e-3)\n"
            "  --momentum X         SGD momentum (default 0.9)\n"
            "  --weight-decay X     weight decay (default 0.01 for adamw, 0 for sgd)\n"
            "  --schedule constant|step|cosine   learning-rate schedule (default constant)\n"
            "  --warmup N           linear warm-up steps (default 0)\n"
            "  --clip X             clip the global gradient norm to X (default off)\n"
            "  --seed N             initialisation, shuffling, augmentation and sampling\n"
            "                       seed (default 0)\n"
            "Run:\n"
            "  --out DIR            run directory (default runs/ssl)\n"
            "  --resume             continue the run in --out from its last checkpoint\n"
            "  --probe              after training, run the linear probe (defaults of\n"
            "                       'spurcl probe') and print its tables\n");
}

static void probe_usage(FILE *out)
{
    fprintf(out,
            "usage: spurcl [--device SEL] probe --model CKPT --data FILE [options]\n"
            "\n"
            "Linear probe of a frozen encoder: its features (cnn: fc1 after ReLU; resnet:\n"
            "the pooled last stage; vit: the class token after the final norm) are\n"
            "computed once per split, a linear classifier is trained on the labelled\n"
            "training split, and val and test are evaluated per group: worst-group\n"
            "accuracy, the average over all samples, the mean of group accuracies and\n"
            "the average weighted by the training split's group proportions, then the\n"
            "table label x attribute.\n"
            "\n"
            "  --model CKPT         encoder checkpoint (from ssl, train, jtt or ule)\n"
            "  --data FILE          data set (required)\n"
            "  --epochs N           probe epochs (default 100: the probe converges; 20\n"
            "                       epochs at 1e-3 left it under-fitted by 3 points)\n"
            "  --batch N            batch size (default 256)\n"
            "  --optim sgd|adamw    optimiser (default adamw)\n"
            "  --lr X               learning rate (default 3e-3)\n"
            "  --weight-decay X     weight decay (default 0)\n"
            "  --seed N             initialisation and shuffling seed (default 0)\n"
            "  --no-standardize     use raw features (default: z-scored with the train\n"
            "                       split's mean and std)\n"
            "  --random-encoder     ignore the checkpoint's weights: a randomly\n"
            "                       initialised encoder of the same shape (a baseline)\n"
            "  --json FILE          also write the results as JSON\n");
}

/* ssl-only option codes */
enum {
    OPT_METHOD = OPT_SHARED_END + 1, OPT_ENCODER, OPT_TEMP, OPT_OFFDIAG, OPT_PROJ_DIM,
    OPT_PROJ_HIDDEN, OPT_SAMPLER, OPT_LA_Q, OPT_LA_GAMMA, OPT_LA_EMA, OPT_LA_WARMUP,
    OPT_LA_EVERY, OPT_CROP_SCALE, OPT_CROP_RATIO, OPT_FLIP, OPT_JITTER_P, OPT_BRIGHT,
    OPT_CONTRAST, OPT_NOISE, OPT_PROBE
};

static bool parse_pair(const char *cmd, const char *opt, const char *s, double lo, double hi,
                       float *a, float *b)
{
    double x, y;
    char tail;
    if (sscanf(s, "%lf,%lf%c", &x, &y, &tail) != 2 || !(x >= lo && y <= hi && x <= y)) {
        sc_cli_usage_error(cmd, "%s expects MIN,MAX with %g <= MIN <= MAX <= %g, got '%s'", opt,
                           lo, hi, s);
        return false;
    }
    *a = (float)x;
    *b = (float)y;
    return true;
}

static bool parse_f(const char *cmd, const char *opt, const char *s, double lo, double hi,
                    float *out)
{
    double v;
    if (!sc_cli_parse_double(cmd, opt, s, lo, hi, &v))
        return false;
    *out = (float)v;
    return true;
}

static void print_probe(const sc_probe_result *r, const sc_dataset *d)
{
    printf("linear probe: %d features, train accuracy %.4f (%.1f s)\n", r->feature_dim,
           r->train_acc, r->seconds);
    sc_cli_print_groups(stdout, "val", &r->val, d);
    sc_cli_print_groups(stdout, "test", &r->test, d);
}

int sc_cmd_ssl(const sc_cli_global *g, int argc, char **argv)
{
    static const struct option opts[] = {
        SC_CLI_TRAIN_LONG_OPTIONS,
        {"method", required_argument, NULL, OPT_METHOD},
        {"encoder", required_argument, NULL, OPT_ENCODER},
        {"temperature", required_argument, NULL, OPT_TEMP},
        {"offdiag", required_argument, NULL, OPT_OFFDIAG},
        {"proj-dim", required_argument, NULL, OPT_PROJ_DIM},
        {"proj-hidden", required_argument, NULL, OPT_PROJ_HIDDEN},
        {"sampler", required_argument, NULL, OPT_SAMPLER},
        {"la-quantile", required_argument, NULL, OPT_LA_Q},
        {"la-gamma", required_argument, NULL, OPT_LA_GAMMA},
        {"la-ema", required_argument, NULL, OPT_LA_EMA},
        {"la-warmup", required_argument, NULL, OPT_LA_WARMUP},
        {"la-every", required_argument, NULL, OPT_LA_EVERY},
        {"crop-scale", required_argument, NULL, OPT_CROP_SCALE},
        {"crop-ratio", required_argument, NULL, OPT_CROP_RATIO},
        {"flip", required_argument, NULL, OPT_FLIP},
        {"jitter-prob", required_argument, NULL, OPT_JITTER_P},
        {"brightness", required_argument, NULL, OPT_BRIGHT},
        {"contrast", required_argument, NULL, OPT_CONTRAST},
        {"noise", required_argument, NULL, OPT_NOISE},
        {"probe", no_argument, NULL, OPT_PROBE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *cmd = "ssl";
    sc_cli_train_args a;
    sc_cli_train_args_default(&a);
    a.cfg.epochs = 20;
    a.cfg.batch_size = 256;
    sc_ssl_config sc;
    sc_ssl_config_default(&sc);
    bool probe = false;
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        double v;
        long long iv;
        switch (c) {
        case 'h': ssl_usage(stdout); return SC_EXIT_OK;
        case ':': return sc_cli_usage_error(cmd, "option '%s' needs a value", argv[optind - 1]);
        case '?': return sc_cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
        case OPT_SELECT:
        case OPT_EVAL_TEST:
            return sc_cli_usage_error(cmd, "%s does not apply to self-supervised training "
                                      "(evaluate the encoder with 'spurcl probe')",
                                      c == OPT_SELECT ? "--select" : "--eval-test");
        case OPT_METHOD:
            if (sc_ssl_method_parse(optarg, &sc.method) != SC_OK)
                return sc_cli_usage_error(cmd, "--method: %s", sc_last_error());
            break;
        case OPT_ENCODER: /* --model under the name */
            if (sc_cli_train_opt(cmd, OPT_MODEL, optarg, &a) < 0)
                return SC_EXIT_USAGE;
            break;
        case OPT_TEMP:
            if (!parse_f(cmd, "--temperature", optarg, 1e-4, 100, &sc.temperature))
                return SC_EXIT_USAGE;
            break;
        case OPT_OFFDIAG:
            if (!parse_f(cmd, "--offdiag", optarg, 0, 1e3, &sc.offdiag))
                return SC_EXIT_USAGE;
            break;
        case OPT_PROJ_DIM:
            if (!sc_cli_parse_int(cmd, "--proj-dim", optarg, 1, 65536, &iv))
                return SC_EXIT_USAGE;
            sc.proj_dim = (int)iv;
            break;
        case OPT_PROJ_HIDDEN:
            if (!sc_cli_parse_int(cmd, "--proj-hidden", optarg, 1, 65536, &iv))
                return SC_EXIT_USAGE;
            sc.proj_hidden = (int)iv;
            break;
        case OPT_SAMPLER:
            if (sc_ssl_sampler_parse(optarg, &sc.sampler) != SC_OK)
                return sc_cli_usage_error(cmd, "--sampler: %s", sc_last_error());
            break;
        case OPT_LA_Q:
            if (!sc_cli_parse_double(cmd, "--la-quantile", optarg, 0, 1, &v))
                return SC_EXIT_USAGE;
            sc.la.quantile = v;
            break;
        case OPT_LA_GAMMA:
            if (!sc_cli_parse_double(cmd, "--la-gamma", optarg, 0, 1e6, &v))
                return SC_EXIT_USAGE;
            sc.la.gamma = v;
            break;
        case OPT_LA_EMA:
            if (!sc_cli_parse_double(cmd, "--la-ema", optarg, 1e-6, 1, &v))
                return SC_EXIT_USAGE;
            sc.la.eta = v;
            break;
        case OPT_LA_WARMUP:
            if (!sc_cli_parse_int(cmd, "--la-warmup", optarg, 0, 100000, &iv))
                return SC_EXIT_USAGE;
            sc.la.warmup = (int)iv;
            break;
        case OPT_LA_EVERY:
            if (!sc_cli_parse_int(cmd, "--la-every", optarg, 1, 100000, &iv))
                return SC_EXIT_USAGE;
            sc.la.every = (int)iv;
            break;
        case OPT_CROP_SCALE:
            if (!parse_pair(cmd, "--crop-scale", optarg, 1e-3, 1, &sc.augment.scale_min,
                            &sc.augment.scale_max))
                return SC_EXIT_USAGE;
            break;
        case OPT_CROP_RATIO:
            if (!parse_pair(cmd, "--crop-ratio", optarg, 1e-2, 100, &sc.augment.ratio_min,
                            &sc.augment.ratio_max))
                return SC_EXIT_USAGE;
            break;
        case OPT_FLIP:
            if (!parse_f(cmd, "--flip", optarg, 0, 1, &sc.augment.flip_prob))
                return SC_EXIT_USAGE;
            break;
        case OPT_JITTER_P:
            if (!parse_f(cmd, "--jitter-prob", optarg, 0, 1, &sc.augment.jitter_prob))
                return SC_EXIT_USAGE;
            break;
        case OPT_BRIGHT:
            if (!parse_f(cmd, "--brightness", optarg, 0, 1, &sc.augment.brightness))
                return SC_EXIT_USAGE;
            break;
        case OPT_CONTRAST:
            if (!parse_f(cmd, "--contrast", optarg, 0, 1, &sc.augment.contrast))
                return SC_EXIT_USAGE;
            break;
        case OPT_NOISE:
            if (!parse_f(cmd, "--noise", optarg, 0, 10, &sc.augment.noise_std))
                return SC_EXIT_USAGE;
            break;
        case OPT_PROBE: probe = true; break;
        default: {
            int r = sc_cli_train_opt(cmd, c, optarg, &a);
            if (r < 0)
                return SC_EXIT_USAGE;
            if (r == 0)
                return sc_cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
        }
        }
    }
    if (optind < argc)
        return sc_cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (!sc_cli_train_finish(cmd, &a, "runs/ssl"))
        return SC_EXIT_USAGE;
    if (a.cfg.batch_size < 2)
        return sc_cli_usage_error(cmd, "--batch must be at least 2 for contrastive losses");
    sc.model = a.cfg.model;
    sc.run = a.cfg.run;

    sc_dataset *d;
    if (sc_dataset_load(a.data, &d) != SC_OK)
        return sc_cli_fail(cmd);
    sc_context *ctx;
    if (sc_context_create(g->device, &ctx) != SC_OK) {
        sc_dataset_free(d);
        return sc_cli_fail(cmd);
    }
    sc_cli_progress_state ps = {.quiet = g->quiet, .tty = sc_cli_progress_enabled(g)};
    sc.progress = sc_cli_progress;
    sc.progress_ud = &ps;
    if (!g->quiet)
        fprintf(stderr, "ssl: %s, %s encoder, %s sampling, %d epochs, batch %lld, on %s; run "
                        "directory %s\n",
                sc_ssl_method_name(sc.method), a.model_name, sc_ssl_sampler_name(sc.sampler),
                sc.epochs, (long long)sc.batch_size, sc_context_device(ctx)->name, a.out);
    sc_ssl_result r;
    int rc = SC_EXIT_OK;
    if (sc_train_ssl(ctx, d, &sc, &r) != SC_OK) {
        if (ps.tty && !g->quiet)
            fputs("\n", stderr);
        rc = sc_cli_fail(cmd);
    } else {
        printf("ssl: %s with %s sampling, %d epochs; last loss %.4f\n",
               sc_ssl_method_name(sc.method), sc_ssl_sampler_name(sc.sampler), r.epochs,
               r.last_loss);
        printf("  mean learning speed: aligned %.4f, conflicting %.4f\n", r.speed_aligned,
               r.speed_conflicting);
        printf("  sampling mass on conflicting samples (last epoch) %.4f\n", r.mass_conflicting);
        printf("  %.2f s per epoch (sampler bookkeeping %.3f s in all)\n", r.epoch_s, r.sampler_s);
        printf("  encoder: %s/last.safetensors; curves: %s/speeds.png\n", a.out, a.out);
        if (probe) {
            sc_probe_config pc;
            sc_probe_config_default(&pc);
            pc.seed = sc.seed;
            sc_probe_result pr;
            if (sc_probe(ctx, r.encoder, d, &pc, &pr) != SC_OK) {
                rc = sc_cli_fail("probe");
            } else {
                print_probe(&pr, d);
                sc_probe_result_free(&pr);
            }
        }
        sc_ssl_result_free(&r);
    }
    sc_context_free(ctx);
    sc_dataset_free(d);
    return rc;
}

static cJSON *metrics_json(const sc_group_metrics *m)
{
    cJSON *o = cJSON_CreateObject();
#define NUM(k, v) cJSON_AddNumberToObject(o, k, isfinite(v) ? (v) : -1)
    NUM("acc", m->accuracy);
    NUM("wga", m->worst_group);
    NUM("mean_group", m->mean_group);
    NUM("weighted", m->weighted);
    NUM("loss", m->loss);
#undef NUM
    cJSON *arr = cJSON_AddArrayToObject(o, "group_acc");
    for (int k = 0; k < m->num_groups; k++)
        cJSON_AddItemToArray(arr, cJSON_CreateNumber(
                                      m->total[k] ? (double)m->correct[k] / (double)m->total[k]
                                                  : -1));
    return o;
}

int sc_cmd_probe(const sc_cli_global *g, int argc, char **argv)
{
    enum { P_MODEL = 1, P_DATA, P_EPOCHS, P_BATCH, P_OPTIM, P_LR, P_WD, P_SEED, P_NOSTD,
           P_RANDOM, P_JSON };
    static const struct option opts[] = {{"model", required_argument, NULL, P_MODEL},
                                         {"encoder", required_argument, NULL, P_MODEL},
                                         {"data", required_argument, NULL, P_DATA},
                                         {"epochs", required_argument, NULL, P_EPOCHS},
                                         {"batch", required_argument, NULL, P_BATCH},
                                         {"optim", required_argument, NULL, P_OPTIM},
                                         {"lr", required_argument, NULL, P_LR},
                                         {"weight-decay", required_argument, NULL, P_WD},
                                         {"seed", required_argument, NULL, P_SEED},
                                         {"no-standardize", no_argument, NULL, P_NOSTD},
                                         {"random-encoder", no_argument, NULL, P_RANDOM},
                                         {"json", required_argument, NULL, P_JSON},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *cmd = "probe", *ckpt = NULL, *data = NULL, *json = NULL;
    sc_probe_config pc;
    sc_probe_config_default(&pc);
    bool random_enc = false;
    float lr = pc.optim.lr, wd = pc.optim.weight_decay;
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        long long iv;
        switch (c) {
        case 'h': probe_usage(stdout); return SC_EXIT_OK;
        case P_MODEL: ckpt = optarg; break;
        case P_DATA: data = optarg; break;
        case P_JSON: json = optarg; break;
        case P_NOSTD: pc.standardize = false; break;
        case P_RANDOM: random_enc = true; break;
        case P_EPOCHS:
            if (!sc_cli_parse_int(cmd, "--epochs", optarg, 1, 100000, &iv))
                return SC_EXIT_USAGE;
            pc.epochs = (int)iv;
            break;
        case P_BATCH:
            if (!sc_cli_parse_int(cmd, "--batch", optarg, 1, 1 << 20, &iv))
                return SC_EXIT_USAGE;
            pc.batch_size = iv;
            break;
        case P_SEED:
            if (!sc_cli_parse_int(cmd, "--seed", optarg, 0, 1LL << 53, &iv))
                return SC_EXIT_USAGE;
            pc.seed = (uint64_t)iv;
            break;
        case P_OPTIM: {
            sc_optim_kind k;
            if (sc_optim_kind_parse(optarg, &k) != SC_OK)
                return sc_cli_usage_error(cmd, "--optim: %s", sc_last_error());
            sc_optim_config_default(&pc.optim, k);
            break;
        }
        case P_LR:
            if (!parse_f(cmd, "--lr", optarg, 1e-12, 100, &lr))
                return SC_EXIT_USAGE;
            break;
        case P_WD:
            if (!parse_f(cmd, "--weight-decay", optarg, 0, 10, &wd))
                return SC_EXIT_USAGE;
            break;
        case ':': return sc_cli_usage_error(cmd, "option '%s' needs a value", argv[optind - 1]);
        default: return sc_cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
        }
    }
    pc.optim.lr = lr;
    pc.optim.weight_decay = wd;
    if (optind < argc)
        return sc_cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (!ckpt || !data)
        return sc_cli_usage_error(cmd, "--model CKPT and --data FILE are required");

    sc_model_config mc;
    if (sc_checkpoint_model_config(ckpt, &mc) != SC_OK)
        return sc_cli_fail(cmd);
    sc_dataset *d;
    if (sc_dataset_load(data, &d) != SC_OK)
        return sc_cli_fail(cmd);
    sc_context *ctx = NULL;
    sc_model *m = NULL;
    int rc = SC_EXIT_OK;
    sc_probe_result r;
    if (sc_context_create(g->device, &ctx) != SC_OK || sc_model_create(ctx, &mc, &m) != SC_OK ||
        (random_enc ? sc_model_init(m, pc.seed) : sc_checkpoint_load(ckpt, m, NULL, NULL)) !=
            SC_OK) {
        rc = sc_cli_fail(cmd);
    } else {
        if (!g->quiet)
            fprintf(stderr, "probe: %s encoder%s from %s, %d epochs, on %s\n",
                    sc_model_kind_name(mc.kind), random_enc ? " (random weights)" : "", ckpt,
                    pc.epochs, sc_context_device(ctx)->name);
        if (sc_probe(ctx, m, d, &pc, &r) != SC_OK) {
            rc = sc_cli_fail(cmd);
        } else {
            print_probe(&r, d);
            if (json) {
                cJSON *o = cJSON_CreateObject();
                cJSON_AddStringToObject(o, "model", ckpt);
                cJSON_AddBoolToObject(o, "random_encoder", random_enc);
                cJSON_AddNumberToObject(o, "feature_dim", r.feature_dim);
                cJSON_AddNumberToObject(o, "train_acc", r.train_acc);
                cJSON_AddItemToObject(o, "val", metrics_json(&r.val));
                cJSON_AddItemToObject(o, "test", metrics_json(&r.test));
                cJSON_AddNumberToObject(o, "seconds", r.seconds);
                char *s = cJSON_Print(o);
                FILE *f = fopen(json, "w");
                if (!f || !s || fprintf(f, "%s\n", s) < 0) {
                    fprintf(stderr, "spurcl: probe: cannot write %s\n", json);
                    rc = SC_EXIT_FAIL;
                }
                if (f && fclose(f) != 0)
                    rc = SC_EXIT_FAIL;
                cJSON_free(s);
                cJSON_Delete(o);
            }
            sc_probe_result_free(&r);
        }
    }
    sc_model_free(m);
    sc_context_free(ctx);
    sc_dataset_free(d);
    return rc;
}
