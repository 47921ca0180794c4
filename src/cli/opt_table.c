/* Every option of the spurcl tool, declared once (see opts.h): long name,
 * scope, value, help text, and where and how the value is stored, under
 * the help sections it is listed in. The order here is the order of every
 * command's --help. */
#define _GNU_SOURCE
#include "opts.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the library's enums, as int-valued _parse/_name pairs ------------------- */

#define ENUM(id, type, fn)                                                                         \
    static sc_status id##_parse(const char *s, int *v)                                             \
    {                                                                                              \
        type t;                                                                                    \
        sc_status st = sc_##fn##_parse(s, &t);                                                     \
        if (st == SC_OK)                                                                           \
            *v = (int)t;                                                                           \
        return st;                                                                                 \
    }                                                                                              \
    static const char *id##_name(int v) { return sc_##fn##_name((type)v); }                        \
    static const sc_cli_enum id = {id##_parse, id##_name};

ENUM(e_model, sc_model_kind, model_kind)
ENUM(e_cnn_norm, sc_cnn_norm, cnn_norm)
ENUM(e_optim, sc_optim_kind, optim_kind)
ENUM(e_schedule, sc_schedule, schedule)
ENUM(e_select, sc_select, select)
ENUM(e_target, sc_saliency_target, saliency_target)
ENUM(e_norm, sc_saliency_norm, saliency_norm)
ENUM(e_form, sc_ule_form, ule_form)
ENUM(e_penalty, sc_ule_penalty, ule_penalty)
ENUM(e_method, sc_ssl_method, ssl_method)
ENUM(e_sampler, sc_ssl_sampler, ssl_sampler)
ENUM(e_split, sc_split, split)
ENUM(e_source, sc_source_kind, source)
ENUM(e_variant, sc_variant, variant)
ENUM(e_layout, sc_patch_layout, patch_layout)
ENUM(e_color, sc_color_mode, color_mode)
ENUM(e_corruptions, sc_corruption_list, corruption_list)
ENUM(e_difficulty, sc_spuco_difficulty, spuco_difficulty)

/* ---- values that need more than a type and a range ------------------------------ */

/* A new optimiser brings its own momentum, weight decay and moments unless
 * they were given; the learning rate, schedule and clipping stay. */
static bool set_optim(sc_cli_args *a, const sc_cli_opt *o, const char *arg)
{
    sc_optim_config *c = &a->run->optim;
    sc_optim_kind was = c->kind;
    if (!sc_cli_store(a, o, arg))
        return false;
    if (c->kind == was)
        return true;
    sc_optim_config d;
    sc_optim_config_default(&d, c->kind);
    c->beta1 = d.beta1;
    c->beta2 = d.beta2;
    c->eps = d.eps;
    if (!sc_cli_given(a, "momentum"))
        c->momentum = d.momentum;
    if (!sc_cli_given(a, "weight-decay"))
        c->weight_decay = d.weight_decay;
    return true;
}

static bool set_schedule(sc_cli_args *a, const sc_cli_opt *o, const char *arg)
{
    if (!sc_cli_store(a, o, arg))
        return false;
    if (a->run->optim.schedule == SC_SCHED_STEP && a->run->optim.step_size == 0)
        a->run->optim.step_size = 1000;
    return true;
}

static bool set_cnn_widths(sc_cli_args *a, const sc_cli_opt *o, const char *arg)
{
    double v[3];
    int n;
    if (!sc_cli_parse_list(arg, v, 3, &n) || n != 3 || v[0] != (int)v[0] || v[1] != (int)v[1] ||
        v[2] != (int)v[2] || v[0] < 1 || v[1] < 1 || v[2] < 1 || v[0] > 4096 || v[1] > 4096 ||
        v[2] > 65536)
        return sc_cli_opt_error(a, o, "--%s expects three positive integers C1,C2,FC, got '%s'",
                                o->name, arg);
    int *w = sc_cli_target(a, o, o->off);
    for (int i = 0; i < 3; i++)
        w[i] = (int)v[i];
    return true;
}

static bool set_lambdas(sc_cli_args *a, const sc_cli_opt *o, const char *arg)
{
    bool ok = sc_cli_parse_list(arg, a->lambdas, SC_CLI_MAX_LAMBDAS, &a->nlambdas);
    for (int i = 0; ok && i < a->nlambdas; i++)
        ok = a->lambdas[i] >= 0;
    if (!ok)
        return sc_cli_opt_error(a, o, "--%s expects non-negative numbers separated by commas, "
                                      "got '%s'", o->name, arg);
    return true;
}

static bool set_c_grid(sc_cli_args *a, const sc_cli_opt *o, const char *arg)
{
    bool ok = sc_cli_parse_list(arg, a->dfr.c_grid, SC_DFR_MAX_C, &a->dfr.n_c);
    for (int i = 0; ok && i < a->dfr.n_c; i++)
        ok = a->dfr.c_grid[i] > 0;
    if (!ok)
        return sc_cli_opt_error(a, o, "--%s expects up to %d positive numbers separated by "
                                      "commas, got '%s'", o->name, SC_DFR_MAX_C, arg);
    return true;
}

/* A comma-separated list of methods, each through sc_method_parse. */
static bool set_methods(sc_cli_args *a, const sc_cli_opt *o, const char *arg)
{
    bool *m = a->compare.methods;
    for (int i = 0; i < SC_METHOD_COUNT; i++)
        m[i] = false;
    char name[64];
    for (const char *p = arg; *p;) {
        size_t n = strcspn(p, ",");
        snprintf(name, sizeof name, "%.*s", (int)n, p);
        sc_method v;
        if (n >= sizeof name || sc_method_parse(name, &v) != SC_OK)
            return sc_cli_opt_error(a, o, "--%s: %s", o->name, sc_last_error());
        m[v] = true;
        p += n + (p[n] == ',');
    }
    return true;
}

/* --override KEY, repeatable: the keys joined by commas. */
static bool add_override(sc_cli_args *a, const sc_cli_opt *o, const char *arg)
{
    size_t len = strlen(a->override_buf);
    if (!*arg || strspn(arg, ",") == strlen(arg))
        return sc_cli_opt_error(a, o, "--%s expects a setting's name", o->name);
    if (len + strlen(arg) + 2 > sizeof a->override_buf)
        return sc_cli_opt_error(a, o, "--%s: too many settings", o->name);
    snprintf(a->override_buf + len, sizeof a->override_buf - len, "%s%s", len ? "," : "", arg);
    a->overrides = a->override_buf;
    return true;
}

static bool set_channels(sc_cli_args *a, const sc_cli_opt *o, const char *arg)
{
    if (!sc_cli_store(a, o, arg))
        return false;
    if (a->build.source.channels == 2)
        return sc_cli_opt_error(a, o, "--%s must be 1 or 3, got 2", o->name);
    return true;
}

/* A size in bytes: a number with an optional K, M, G or T (powers of 1024),
 * optionally followed by B or iB: 512M, 1.5G, 4GiB, 1048576. */
static bool set_mem_limit(sc_cli_args *a, const sc_cli_opt *o, const char *arg)
{
    char *end;
    errno = 0;
    double v = strtod(arg, &end);
    bool ok = end != arg && errno == 0 && v > 0;
    double mul = 1;
    if (ok && *end) {
        const char *units = "KMGT";
        const char *u = strchr(units, *end >= 'a' && *end <= 'z' ? *end - 32 : *end);
        if (u && *u) {
            for (const char *q = units; q <= u; q++)
                mul *= 1024;
            end++;
            if (*end == 'i')
                end++;
        }
        if (*end == 'B' || *end == 'b')
            end++;
        ok = *end == '\0';
    }
    v *= mul;
    if (!ok || !(v >= (double)o->lo && v <= (double)o->hi))
        return sc_cli_opt_error(a, o, "--%s expects a size from 1M to 1P, like 512M or 4G "
                                "(K, M, G, T: powers of 1024), got '%s'", o->name, arg);
    *(uint64_t *)sc_cli_target(a, o, o->off) = (uint64_t)v;
    return true;
}

/* ---- the table ----------------------------------------------------------------------- */

enum {
    SUPERVISED = SC_CLI_TRAIN | SC_CLI_JTT | SC_CLI_ULE | SC_CLI_GROUPDRO | SC_CLI_COMPARE,
    TRAINERS = SUPERVISED | SC_CLI_SSL,
    CHECKPOINT = SC_CLI_EVAL | SC_CLI_PROBE | SC_CLI_SALIENCY | SC_CLI_DFR,
    RESUMABLE = TRAINERS & ~SC_CLI_COMPARE,  /* one run in one directory, --resume */
    RUN_DIR = RESUMABLE | SC_CLI_DFR,        /* a new directory per run by default */
};

#define ARG(f) .base = SC_BASE_ARGS, .off = offsetof(sc_cli_args, f)
#define RUN(f) .base = SC_BASE_RUN, .off = offsetof(sc_run_config, f)
#define MODEL(f) .base = SC_BASE_MODEL, .off = offsetof(sc_model_config, f)
#define PAIR(a, b) ARG(a), .off2 = offsetof(sc_cli_args, b), .type = SC_OPT_PAIR
#define INT(l, h) .type = SC_OPT_INT, .lo = (l), .hi = (h)
#define I64(l, h) .type = SC_OPT_I64, .lo = (l), .hi = (h)
#define U64(l, h) .type = SC_OPT_U64, .lo = (l), .hi = (h)
#define FLT(l, h) .type = SC_OPT_FLOAT, .lo = (l), .hi = (h)
#define DBL(l, h) .type = SC_OPT_DOUBLE, .lo = (l), .hi = (h)
#define STR .type = SC_OPT_STR
#define FLAG .type = SC_OPT_FLAG
#define ENUMV(e) .type = SC_OPT_ENUM, .en = &(e)
#define SECTION(heading) {.section = (heading)}

const sc_cli_opt sc_cli_opts[] = {
    SECTION("ULE"),
    {"lambda", SC_CLI_ULE | SC_CLI_COMPARE, "L[,L...]", "penalty weight; a list runs a sweep and selects by "
     "the teacher's val average accuracy", .type = SC_OPT_FLOAT, ARG(ule.loss.lambda),
     .parse = set_lambdas},
    {"saliency", SC_CLI_ULE | SC_CLI_COMPARE, NULL, "scalar whose input gradient is the saliency "
     "(reconstruction)", ENUMV(e_target), ARG(ule.loss.target)},
    {"norm", SC_CLI_ULE | SC_CLI_COMPARE, NULL, "per-sample normalisation of the maps (reconstruction)",
     ENUMV(e_norm), ARG(ule.loss.norm)},
    {"form", SC_CLI_ULE | SC_CLI_COMPARE, NULL, "additive L = CE + lambda*MSE, or convex lambda*CE + "
     "(1-lambda)*MSE with lambda in [0, 1] (reconstruction)", ENUMV(e_form), ARG(ule.loss.form)},
    {"penalty", SC_CLI_ULE | SC_CLI_COMPARE, NULL, "mse: the paper's; not in the paper: cos2 = mean "
     "cos(g_T, g_S)^2, overlap = mean |n(g_T)|*|n(g_S)|", ENUMV(e_penalty), ARG(ule.loss.penalty)},
    {"saliency-layer", SC_CLI_ULE, "input|NAME", "take the saliency at a hidden layer (cnn: "
     "conv1, pool1, conv2, pool2, fc1; vit: patch_embed, blocks.I)", STR,
     ARG(ule.saliency_layer), .def = "input"},
    {"student", SC_CLI_ULE, NULL, "the student's architecture", ENUMV(e_model),
     ARG(student), .def = "--model"},
    {"teacher", SC_CLI_ULE, NULL, "the teacher's architecture", ENUMV(e_model),
     ARG(teacher), .def = "--model"},
    {"freeze-backbone", SC_CLI_ULE, NULL, "train only the last layer of both models", FLAG,
     ARG(ule.freeze_backbone)},
    {"init", SC_CLI_ULE, "CKPT", "start both models from these weights (from train, jtt, ule or "
     "ssl) and their architecture, with the architecture options given on top", STR, ARG(ule.init)},
    SECTION("JTT"),
    {"id-epochs", SC_CLI_JTT | SC_CLI_COMPARE, "T", "epochs of the identification model", INT(1, 10000),
     ARG(jtt.id_epochs)},
    {"upweight", SC_CLI_JTT | SC_CLI_COMPARE, "F", "weight of its training errors when training again",
     FLT(1, 1e6), ARG(jtt.upweight)},
    SECTION("GroupDRO (reads group labels: the oracle)"),
    {"eta", SC_CLI_GROUPDRO | SC_CLI_COMPARE, "X", "step size of the group weights q_g <- q_g "
     "exp(eta (loss_g + C / sqrt(n_g)))", DBL(0, 1e3), ARG(dro.eta)},
    {"adjustment", SC_CLI_GROUPDRO | SC_CLI_COMPARE, "C", "the group adjustment C", DBL(0, 1e3),
     ARG(dro.adjustment)},
    {"shuffled", SC_CLI_GROUPDRO | SC_CLI_COMPARE, NULL, "draw the shuffled training split "
     "(default: group-balanced sampling, every group equally likely, as SpuCo's GroupDRO)",
     .type = SC_OPT_UNFLAG, ARG(dro.balanced)},
    SECTION("DFR (last-layer retraining on balanced val subsets; reads val group labels)"),
    {"c-grid", SC_CLI_DFR | SC_CLI_COMPARE, "C[,C...]", "inverse L1 strengths tried; the one "
     "with the best worst-group accuracy on a held-out half of val is kept",
     .type = SC_OPT_DOUBLE, ARG(dfr.c_grid), .parse = set_c_grid,
     .def = "1,0.7,0.3,0.1,0.07,0.03,0.01"},
    {"fits", SC_CLI_DFR | SC_CLI_COMPARE, "N", "heads averaged, each fitted on a balanced "
     "subset of val", INT(1, 1000), ARG(dfr.fits)},
    {"iterations", SC_CLI_DFR | SC_CLI_COMPARE, "N", "proximal-gradient (FISTA) iterations "
     "per fit", INT(1, 1000000), ARG(dfr.iterations)},
    SECTION("Comparison"),
    {"methods", SC_CLI_COMPARE, "M[,M...]", "which methods: erm, jtt, groupdro, dfr, ule",
     STR, ARG(compare.grid), .parse = set_methods, .def = "all five"},
    {"seeds", SC_CLI_COMPARE, "N", "seeds 0..N-1 of every method and setting", INT(1, 1000),
     ARG(compare.seeds)},
    {"grid", SC_CLI_COMPARE, "SPEC", "hyperparameter grid, e.g. "
     "'ule.lambda=10,100;jtt.upweight=5,20'; keys: ule.lambda, jtt.upweight, jtt.id-epochs, "
     "dro.eta, dro.adjustment, lr, weight-decay", STR, ARG(compare.grid), .def = "none"},
    {"ule-whole-network", SC_CLI_COMPARE, NULL, "ULE trains all of both models (default: "
     "their last layers on the seed's frozen ERM model, the paper's setting)", FLAG,
     ARG(compare.ule_whole_network)},
    {"backbone", SC_CLI_COMPARE, "CKPT", "DFR refits this checkpoint and both ULE models start "
     "from it (an SSL encoder, a PyTorch import) instead of the seed's ERM model; "
     "its architecture, not --model's", STR,
     ARG(compare.backbone), .def = "the seed's ERM model"},
    /* self-supervised */
    SECTION("Method"),
    {"method", SC_CLI_SSL, NULL, "loss", ENUMV(e_method), ARG(ssl.method)},
    {"temperature", SC_CLI_SSL, "X", "NT-Xent temperature, also the tau of the learning "
     "speed exp(cos / tau)", FLT(1e-4, 100), ARG(ssl.temperature)},
    {"offdiag", SC_CLI_SSL, "X", "BarlowTwins off-diagonal weight", FLT(0, 1e3),
     ARG(ssl.offdiag)},
    {"proj-dim", SC_CLI_SSL, "N", "projector output size", INT(1, 65536),
     ARG(ssl.proj_dim), .def = "128 for simclr, 1024 for barlow"},
    {"proj-hidden", SC_CLI_SSL, "N", "projector hidden size", INT(1, 65536),
     ARG(ssl.proj_hidden), .def = "512 for simclr, 1024 for barlow"},
    {"proj-norm", SC_CLI_SSL, NULL, "projector normalisation of the hidden layer: batch "
     "(batch norm without affine parameters, batch statistics) or none", ENUMV(e_cnn_norm),
     ARG(ssl.proj_norm)},
    SECTION("Sampler (LA-SSL; * marks reconstructions: the paper does not give them)"),
    {"sampler", SC_CLI_SSL, NULL, "sampling", ENUMV(e_sampler), ARG(ssl.sampler)},
    {"la-quantile", SC_CLI_SSL, "R", "* r: the threshold s* is the r-quantile of the "
     "speeds, linear interpolation", DBL(0, 1), ARG(ssl.la.quantile)},
    {"la-gamma", SC_CLI_SSL, "G", "* weight h(v) = max(0, s* - G (v - s*))", DBL(0, 1e6),
     ARG(ssl.la.gamma)},
    {"la-ema", SC_CLI_SSL, "ETA", "* speed moving average v <- (1-ETA) v + ETA sim",
     DBL(1e-6, 1), ARG(ssl.la.eta)},
    {"la-warmup", SC_CLI_SSL, "N", "* epochs of uniform sampling first", INT(0, 100000),
     ARG(ssl.la.warmup)},
    {"la-every", SC_CLI_SSL, "N", "* recompute the weights every N epochs",
     INT(1, 100000), ARG(ssl.la.every)},
    SECTION("k-NN monitor (labels of the bank and the queries are read for it only)"),
    {"knn-every", SC_CLI_SSL, "N", "weighted k-NN accuracy of the encoder on the validation "
     "split every N epochs and after the last (0: off)", INT(0, 100000), ARG(ssl.knn_every)},
    {"knn-k", SC_CLI_SSL, "K", "neighbours that vote", INT(1, 10000), ARG(ssl.knn.k)},
    {"knn-bank", SC_CLI_SSL, "N", "the first N training samples are the labelled bank "
     "(0: all)", I64(0, 1e12), ARG(ssl.knn.bank)},
    {"knn-queries", SC_CLI_SSL, "N", "the first N validation samples are queried (0: all)",
     I64(0, 1e12), ARG(ssl.knn.queries)},
    SECTION("Augmentation (per view, seeded per sample)"),
    {"crop-scale", SC_CLI_SSL, "MIN,MAX", "random resized crop area fraction",
     PAIR(ssl.augment.scale_min, ssl.augment.scale_max), .lo = 1e-3, .hi = 1},
    {"crop-ratio", SC_CLI_SSL, "MIN,MAX", "crop aspect ratio",
     PAIR(ssl.augment.ratio_min, ssl.augment.ratio_max), .lo = 1e-2, .hi = 100},
    {"flip", SC_CLI_SSL, "P", "horizontal flip probability; 0 suits digits and "
     "garments", FLT(0, 1), ARG(ssl.augment.flip_prob)},
    {"jitter-prob", SC_CLI_SSL, "P", "probability of brightness/contrast jitter",
     FLT(0, 1), ARG(ssl.augment.jitter_prob)},
    {"brightness", SC_CLI_SSL, "X", "brightness factor in [1-X, 1+X]", FLT(0, 1),
     ARG(ssl.augment.brightness)},
    {"contrast", SC_CLI_SSL, "X", "contrast factor in [1-X, 1+X]", FLT(0, 1),
     ARG(ssl.augment.contrast)},
    {"noise", SC_CLI_SSL, "S", "Gaussian noise std", FLT(0, 10),
     ARG(ssl.augment.noise_std)},
    SECTION("Data and model"),
    {"data", TRAINERS | CHECKPOINT, "FILE", "data set built by 'spurcl data build'", STR,
     ARG(data), .required = TRAINERS | CHECKPOINT},
    {"model", CHECKPOINT, "CKPT", "checkpoint (from train, jtt, ule or ssl)", STR,
     ARG(ckpt), .required = CHECKPOINT, .alias = "encoder", .alias_scope = SC_CLI_PROBE},
    {"model", TRAINERS, NULL, "architecture", ENUMV(e_model), MODEL(kind),
     .alias = "encoder", .alias_scope = SC_CLI_SSL},
    {"cnn-widths", TRAINERS, "C1,C2,FC", "cnn widths; FC is the feature size",
     .type = SC_OPT_INT3, MODEL(cnn_c1), .parse = set_cnn_widths},
    {"cnn-norm", TRAINERS, NULL, "cnn normalisation after each convolution: batch "
     "(BatchNorm2d, convolutions without bias; batch statistics in training, running ones "
     "in evaluation) or none", ENUMV(e_cnn_norm), MODEL(cnn_norm)},
    {"vit-patch", TRAINERS, "P", "vit patch size", INT(1, 64), MODEL(patch),
     .def = "7 for 28-pixel images, else 4"},
    {"vit-dim", TRAINERS, "D", "vit width", INT(1, 4096), MODEL(dim)},
    {"vit-depth", TRAINERS, "L", "vit blocks", INT(1, 64), MODEL(depth)},
    {"vit-heads", TRAINERS, "H", "vit attention heads", INT(1, 64), MODEL(heads)},
    {"vit-mlp", TRAINERS, "M", "vit MLP hidden size", INT(1, 65536), MODEL(mlp)},
    {"resnet-width", TRAINERS, "W", "resnet base width: stages of W, 2W, 4W, 8W channels; "
     "64 is resnet18's and slow on a CPU (28x28 images on 2 cores: about 12 images/s "
     "trained, 16: about 60, the cnn: about 1,000)",
     INT(1, 4096), MODEL(resnet_width)},
    SECTION("Optimisation"),
    {"epochs", TRAINERS | SC_CLI_PROBE | SC_CLI_DEMO, "N", "epochs", INT(1, 100000),
     RUN(epochs)},
    {"batch", TRAINERS | SC_CLI_PROBE | SC_CLI_EVAL, "N", "batch size", I64(1, 1 << 20),
     RUN(batch_size)},
    {"optim", TRAINERS | SC_CLI_PROBE, NULL, "optimiser; another one brings its own "
     "momentum and weight decay unless they are given", ENUMV(e_optim), RUN(optim.kind),
     .parse = set_optim},
    {"lr", TRAINERS | SC_CLI_PROBE, "X", "learning rate", FLT(1e-12, 100), RUN(optim.lr)},
    {"momentum", TRAINERS, "X", "SGD momentum", FLT(0, 0.999999), RUN(optim.momentum)},
    {"weight-decay", TRAINERS | SC_CLI_PROBE, "X", "weight decay; sgd's own default is 0",
     FLT(0, 10), RUN(optim.weight_decay)},
    {"schedule", TRAINERS, NULL, "learning-rate schedule", ENUMV(e_schedule),
     RUN(optim.schedule), .parse = set_schedule},
    {"warmup", TRAINERS, "N", "linear warm-up steps", I64(0, 1LL << 40),
     RUN(optim.warmup_steps)},
    {"clip", TRAINERS, "X", "clip the global gradient norm to X; 0: off", FLT(0, 1e9),
     RUN(optim.clip_norm)},
    {"seed", TRAINERS | SC_CLI_PROBE | SC_CLI_DEMO | SC_CLI_DFR, "N", "seed of every random draw "
     "(initialisation, shuffling, data, augmentation, sampling)", U64(0, 1LL << 53), RUN(seed)},
    SECTION("Run"),
    {"out", RUN_DIR, "DIR", "run directory: config.json (the run's settings, command line, "
     "data checksum, version), metrics.jsonl, log.txt (the progress lines, timestamped), "
     "curves.png (loss and val accuracy over steps), checkpoints, results; one that exists and "
     "is not empty is refused unless --resume or --force", STR, RUN(run_dir)},
    {"out", SC_CLI_COMPARE | SC_CLI_DEMO, "DIR", "the comparison's directory: config.json, "
     "log.txt (a line per run started: runs done of all, elapsed, ETA), every run's directory "
     "(each with its config.json, log.txt and curves.png) and the results. It always resumes: "
     "running "
     "again with the same DIR skips the finished runs and trains the others, so it takes no "
     "--resume or --force", STR, RUN(run_dir)},
    {"resume", RESUMABLE, NULL, "continue the run in --out from its last checkpoint; a setting "
     "that differs from DIR/config.json is refused unless --override names it, except --epochs, "
     "which may be raised to train on (a cosine schedule then stretches to the new end)", FLAG,
     RUN(resume)},
    {"override", RESUMABLE, "KEY", "with --resume: accept a new value of this setting (a key of "
     "config.json's \"settings\": the option's name, or data); repeatable, or KEY,KEY", STR,
     ARG(overrides), .parse = add_override},
    {"force", RUN_DIR, NULL, "start a new run in an --out that is not empty (its files are "
     "replaced as the new run writes them)", FLAG, RUN(force)},
    {"select", SUPERVISED & ~SC_CLI_COMPARE, NULL, "which evaluation's model is kept; a worst-group "
     "selection reads the validation split's group labels", ENUMV(e_select), RUN(select)},
    {"eval-every", TRAINERS | SC_CLI_DEMO, "N", "also evaluate val and log a metrics line "
     "every N steps, not only at epoch ends (0: off); selection picks among all of them",
     I64(0, 1LL << 40), RUN(eval_every)},
    {"log-every", TRAINERS | SC_CLI_PROBE | SC_CLI_DEMO, "SECONDS", "off a terminal, a progress "
     "line on stderr every SECONDS (step of all, images/s, ETA, the last evaluation's val "
     "average and worst-group accuracy; 0: none); evaluations and epoch ends always print one. "
     "A run directory's log.txt gets the same lines, timestamped", DBL(0, 1e7), RUN(log_every)},
    {"eval-test", SUPERVISED & ~SC_CLI_COMPARE, NULL, "also evaluate the test split at every evaluation "
     "(logged, never used for selection)", FLAG, RUN(eval_test)},
    {"probe", SC_CLI_SSL, NULL, "after training, run the linear probe with 'spurcl "
     "probe''s defaults and print its tables", FLAG, ARG(probe_after)},
    SECTION("What to show"),
    {"split", SC_CLI_EVAL | SC_CLI_SALIENCY | SC_CLI_PREVIEW, NULL, "the split to read",
     ENUMV(e_split), ARG(split)},
    {"n", SC_CLI_SALIENCY, "N", "samples in the picture", INT(1, 1024), ARG(n)},
    {"target", SC_CLI_SALIENCY, NULL, "scalar whose input gradient is drawn",
     ENUMV(e_target), ARG(target)},
    {"scale", SC_CLI_SALIENCY | SC_CLI_PREVIEW, "N", "pixel scale factor", INT(1, 32),
     ARG(scale)},
    {"per-group", SC_CLI_PREVIEW, "N", "samples per row (group)", INT(1, 256),
     ARG(per_group)},
    {"csv", SC_CLI_INFO, NULL, "instead print split,label,attr,group,count lines", FLAG,
     ARG(csv)},
    {"forms", SC_CLI_DEVICES, NULL, "also open the selected device and print the form each "
     "kernel family runs there and how it was decided, tuning the tunable ones where due "
     "(SPURCL_TUNE=again measures them again)", FLAG, ARG(forms)},
    {"no-standardize", SC_CLI_PROBE, NULL, "use raw features (default: z-scored with the "
     "train split's mean and std)", .type = SC_OPT_UNFLAG, ARG(probe.standardize)},
    {"random-encoder", SC_CLI_PROBE, NULL, "ignore the checkpoint's weights: a randomly "
     "initialised encoder of the same shape (a baseline)", FLAG, ARG(random_encoder)},
    {"json", SC_CLI_PROBE | SC_CLI_EVAL, "FILE", "also write the results as JSON", STR,
     ARG(json)},
    {"size", SC_CLI_SELFTEST, "N", "numbers to compute on", I64(1, 100000000), ARG(size),
     .short_name = 'n'},
    /* the demo */
    {"seeds", SC_CLI_DEMO, "N", "seeds of every method", INT(1, 1000), ARG(demo.seeds)},
    {"max-train", SC_CLI_DEMO, "N", "use the first N training images of the source; 0: "
     "all", I64(0, 1LL << 40), ARG(demo.max_train)},
    {"max-test", SC_CLI_DEMO, "N", "use the first N test images of the source; 0: all",
     I64(0, 1LL << 40), ARG(demo.max_test)},
    {"rho", SC_CLI_DEMO, "R", "strength of the spurious correlation", DBL(0, 1),
     ARG(demo.rho)},
    {"difficulty", SC_CLI_DEMO, NULL, "where the background colour is painted",
     ENUMV(e_difficulty), ARG(demo.difficulty)},
    {"source-dir", SC_CLI_DEMO, "DIR", "Fashion-MNIST files", STR, ARG(demo.source_dir),
     .def = SC_FASHION_MNIST_DIR},
    /* data build */
    SECTION("Source"),
    {"source", SC_CLI_BUILD, NULL, "where the images come from", ENUMV(e_source),
     ARG(build.source.kind)},
    {"source-dir", SC_CLI_BUILD, "DIR", "where the source's files are: fashion-mnist's "
     "come from the Debian package dataset-fashion-mnist; mnist: the four IDX files (plain or "
     ".gz); cifar10: data_batch_*.bin and test_batch.bin; pngdir: holds metadata.csv", STR,
     ARG(build.source.dir), .def = "for fashion-mnist " SC_FASHION_MNIST_DIR},
    {"csv", SC_CLI_BUILD, "FILE", "pngdir: the CSV path,label,attr,split, paths relative "
     "to the CSV", STR, ARG(build.source.csv), .def = "DIR/metadata.csv"},
    {"channels", SC_CLI_BUILD, "1|3", "pngdir: convert images to grey or RGB",
     INT(1, 3), ARG(build.source.channels), .parse = set_channels, .def = "3"},
    {"resize", SC_CLI_BUILD, "N", "pngdir: resize every image to NxN; without it all "
     "images must have the same size", INT(1, 4096), ARG(build.source.resize), .def = "keep"},
    {"max-train", SC_CLI_BUILD, "N", "use only the first N samples of the source's "
     "training part; 0: all", I64(0, 100000000), ARG(build.source.max_train)},
    {"max-test", SC_CLI_BUILD, "N", "same for the test part", I64(0, 100000000),
     ARG(build.source.max_test)},
    SECTION("Variant and splits"),
    {"variant", SC_CLI_BUILD, NULL, "the spurious attribute planted", ENUMV(e_variant),
     ARG(build.variant)},
    {"rho", SC_CLI_BUILD, "R", "fraction of training samples whose attribute is aligned "
     "with their class; the rest is spread evenly over the other attribute values", DBL(0, 1),
     ARG(build.rho)},
    {"severity", SC_CLI_BUILD, "S", "corruption severity; also picks the colour noise "
     "sigma", INT(1, 5), ARG(build.severity)},
    {"seed", SC_CLI_BUILD, "N", "random seed", U64(0, LLONG_MAX), ARG(build.seed)},
    {"val-fraction", SC_CLI_BUILD, "F", "share of each class of the training part kept "
     "as val, in [0, 1)", DBL(0, 1), ARG(build.val_fraction)},
    {"val-biased", SC_CLI_BUILD, NULL, "val gets the training correlation (default: "
     "unbiased)", FLAG, ARG(build.val_biased)},
    {"test-clean", SC_CLI_BUILD, NULL, "patch/color: test images carry no mark/colour "
     "(the MNIST-SC setting); default: test carries it with a balanced (unbiased) attribute",
     FLAG, ARG(build.test_clean)},
    {"threads", SC_CLI_BUILD, "N", "worker threads, 0: one per CPU; the output does not "
     "depend on it", INT(0, 1024), ARG(build.threads)},
    {"mem-limit", SC_CLI_BUILD, "SIZE", "memory budget of the build: the files read, the "
     "decompressed and decoded images (charged by the size their headers declare, before "
     "decoding) and the data sets held at once; K, M, G, T are powers of 1024 (512M, 4G). A "
     "build over it stops before allocating, naming the file and what it needs", U64(1 << 20,
     1ULL << 50), ARG(build.source.mem_limit), .parse = set_mem_limit, .def = "1.5G"},
    SECTION("patch (a mark revealing the attribute)"),
    {"patch-size", SC_CLI_BUILD, "N", "mark size in pixels", INT(1, 64),
     ARG(build.patch_size)},
    {"patch-layout", SC_CLI_BUILD, NULL, "border: attribute a at the a-th of A positions "
     "spaced evenly clockwise along the border from the top-left corner; pattern: top-left "
     "corner, a distinct binary pattern per attribute", ENUMV(e_layout), ARG(build.patch_layout)},
    {"patch-intensity", SC_CLI_BUILD, "F", "mark brightness in (0, 1]", DBL(0, 1),
     ARG(build.patch_intensity)},
    SECTION("color"),
    {"color-mode", SC_CLI_BUILD, NULL, "foreground: LfF Colored MNIST, colour x grey; "
     "background: SpuCo, the background painted", ENUMV(e_color), ARG(build.color_mode)},
    {"color-sigma", SC_CLI_BUILD, "F", "std of the per-image colour noise", DBL(0, 1),
     ARG(build.color_sigma), .def = "by severity: 0.05, 0.02, 0.01, 0.005, 0.002"},
    {"color-patch", SC_CLI_BUILD, "N", "background mode: paint only an NxN top-left patch; "
     "0: the whole background", INT(0, 64), ARG(build.color_patch)},
    SECTION("corrupt (class c paired with corruption c of the list)"),
    {"corruptions", SC_CLI_BUILD, NULL, "type1: gaussian_noise, shot_noise, "
     "impulse_noise, speckle_noise, gaussian_blur, defocus_blur, glass_blur, motion_blur, "
     "zoom_blur, none; type0: fog, brightness, contrast, elastic, pixelate, saturate",
     ENUMV(e_corruptions), ARG(build.corruptions)},
    SECTION("background (Waterbirds-like binary task) and spuco (SpuCoMNIST)"),
    {"classes", SC_CLI_BUILD, "A:B[:C...]", "the source classes of each output class, e.g. "
     "0,2,4,6:5,7,9 (background: two sets; spuco: two or more); the others are dropped",
     STR, ARG(build.class_split),
     .def = "background: the source's (fashion-mnist: tops vs. footwear); spuco: pairs "
            "0,1:2,3:..."},
    {"difficulty", SC_CLI_BUILD, NULL, "spuco: where the background colour is painted: the "
     "whole image, 4x4 or 2x2 corner, 7x7 corner, 49 random pixels of the 14x14 corner or "
     "of the image", ENUMV(e_difficulty), ARG(build.spuco_difficulty)},
    {"canvas", SC_CLI_BUILD, "N", "output size NxN", INT(8, 1024), ARG(build.canvas),
     .def = "32, or the source size + 4 rounded up to a multiple of 4 when larger"},
    SECTION("Output"),
    {"out", SC_CLI_BUILD | SC_CLI_PREVIEW | SC_CLI_SALIENCY | SC_CLI_REPORT, "FILE", "the file "
     "to write: data build's data set, the PNG of preview and saliency, report's HTML page",
     STR, ARG(out), .required = SC_CLI_BUILD | SC_CLI_PREVIEW | SC_CLI_SALIENCY,
     .def = "DIR/report.html"},
};
const size_t sc_cli_nopts = sizeof sc_cli_opts / sizeof sc_cli_opts[0];
_Static_assert(sizeof sc_cli_opts / sizeof sc_cli_opts[0] <= SC_CLI_MAX_OPTS, "SC_CLI_MAX_OPTS");

static const char NOT_FOR_SSL[] = "does not apply to self-supervised training (evaluate the "
                                  "encoder with 'spurcl probe')";

const sc_cli_exception sc_cli_exceptions[] = {
    {"select", SC_CLI_SSL, .refused = true, .why = NOT_FOR_SSL},
    {"eval-test", SC_CLI_SSL, .refused = true, .why = NOT_FOR_SSL},
    {"resume", SC_CLI_COMPARE, .refused = true,
     .why = "is automatic: a run whose done.json exists is skipped"},
    {"select", SC_CLI_COMPARE, .refused = true,
     .why = "is done twice, by val average and by val worst-group accuracy"},
    {"eval-test", SC_CLI_COMPARE, .refused = true, .why = "is always on (logged, never selects)"},
    {"select", SC_CLI_ULE, .refuse_values = 1u << SC_SELECT_VAL_WGA,
     .why = "uses group labels; ULE selects by last or val-avg"},
    {"split", SC_CLI_EVAL, .all = "both"}, /* both: val and test; train on request */
    {"epochs", SC_CLI_DEMO, .hi = 1000},
    {"epochs", SC_CLI_SSL, .def = "2 for simclr, 4 for barlow"},
    {"scale", SC_CLI_SALIENCY, .hi = 16},
};
const size_t sc_cli_nexceptions = sizeof sc_cli_exceptions / sizeof sc_cli_exceptions[0];
