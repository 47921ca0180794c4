#define _GNU_SOURCE
#include "train_opts.h"

#include <stdio.h>
#include <string.h>

#include "cli.h"

const char sc_cli_train_help[] =
    "Data and model:\n"
    "  --data FILE          data set built by 'spurcl data build' (required)\n"
    "  --model cnn|vit|resnet\n"
    "                       architecture (default cnn)\n"
    "  --cnn-widths C1,C2,FC  cnn widths (default 32,64,128)\n"
    "  --vit-patch P --vit-dim D --vit-depth L --vit-heads H --vit-mlp M\n"
    "                       vit shape (defaults: patch 7 for 28 px else 4, 64, 4, 4, 128)\n"
    "  --resnet-width W     resnet base width: stages of W, 2W, 4W, 8W channels (default 64)\n"
    "Optimisation:\n"
    "  --epochs N           epochs (default 5; ule 2)\n"
    "  --batch N            batch size (default 128)\n"
    "  --optim sgd|adamw    optimiser (default adamw)\n"
    "  --lr X               learning rate (default 1e-3)\n"
    "  --momentum X         SGD momentum (default 0.9)\n"
    "  --weight-decay X     weight decay (default 0.01 for adamw, 0 for sgd)\n"
    "  --schedule constant|step|cosine   learning-rate schedule (default constant)\n"
    "  --warmup N           linear warm-up steps (default 0)\n"
    "  --clip X             clip the global gradient norm to X (default off)\n"
    "  --seed N             initialisation and shuffling seed (default 0)\n"
    "Run:\n"
    "  --out DIR            run directory (metrics.jsonl, checkpoints)\n"
    "  --resume             continue the run in --out from its last checkpoint\n"
    "  --select last|val-avg|val-wga   model selection (default last; val-wga uses\n"
    "                       group labels of the validation split)\n"
    "  --eval-every N       also evaluate val every N steps, not only at epoch ends;\n"
    "                       --select then picks among all evaluations (default 0: off)\n"
    "  --eval-test          also evaluate the test split at every evaluation (logged,\n"
    "                       never used for selection)\n";

void sc_cli_train_args_default(sc_cli_train_args *a)
{
    memset(a, 0, sizeof *a);
    sc_train_config_default(&a->cfg);
    a->model_name = "cnn";
}

static bool parse_int(const char *cmd, const char *opt, const char *s, long long lo,
                      long long hi, int64_t *out)
{
    long long v;
    if (!sc_cli_parse_int(cmd, opt, s, lo, hi, &v))
        return false;
    *out = v;
    return true;
}

static bool parse_float(const char *cmd, const char *opt, const char *s, double lo, double hi,
                        float *out)
{
    double v;
    if (!sc_cli_parse_double(cmd, opt, s, lo, hi, &v))
        return false;
    *out = (float)v;
    return true;
}

int sc_cli_train_opt(const char *cmd, int code, const char *arg, sc_cli_train_args *a)
{
    sc_train_config *c = &a->cfg;
    int64_t v;
    switch (code) {
    case OPT_DATA: a->data = arg; return 1;
    case OPT_OUT: a->out = arg; return 1;
    case OPT_MODEL:
        if (sc_model_kind_parse(arg, &c->model.kind) != SC_OK) {
            sc_cli_usage_error(cmd, "--model: %s", sc_last_error());
            return -1;
        }
        a->model_name = arg;
        return 1;
    case OPT_EPOCHS:
        if (!parse_int(cmd, "--epochs", arg, 1, 100000, &v)) return -1;
        c->epochs = (int)v;
        return 1;
    case OPT_BATCH:
        if (!parse_int(cmd, "--batch", arg, 1, 1 << 20, &c->batch_size)) return -1;
        return 1;
    case OPT_LR: return parse_float(cmd, "--lr", arg, 1e-12, 100, &c->optim.lr) ? 1 : -1;
    case OPT_MOMENTUM:
        return parse_float(cmd, "--momentum", arg, 0, 0.999999, &c->optim.momentum) ? 1 : -1;
    case OPT_WD: return parse_float(cmd, "--weight-decay", arg, 0, 10, &c->optim.weight_decay) ? 1 : -1;
    case OPT_CLIP: return parse_float(cmd, "--clip", arg, 0, 1e9, &c->optim.clip_norm) ? 1 : -1;
    case OPT_OPTIM: {
        sc_optim_kind k;
        if (sc_optim_kind_parse(arg, &k) != SC_OK) {
            sc_cli_usage_error(cmd, "--optim: %s", sc_last_error());
            return -1;
        }
        float lr = c->optim.lr, clip = c->optim.clip_norm;
        sc_schedule sch = c->optim.schedule;
        int64_t w = c->optim.warmup_steps;
        sc_optim_config_default(&c->optim, k);
        c->optim.lr = lr;
        c->optim.clip_norm = clip;
        c->optim.schedule = sch;
        c->optim.warmup_steps = w;
        return 1;
    }
    case OPT_SCHEDULE:
        if (sc_schedule_parse(arg, &c->optim.schedule) != SC_OK) {
            sc_cli_usage_error(cmd, "--schedule: %s", sc_last_error());
            return -1;
        }
        if (c->optim.schedule == SC_SCHED_STEP && c->optim.step_size == 0)
            c->optim.step_size = 1000;
        return 1;
    case OPT_WARMUP:
        return parse_int(cmd, "--warmup", arg, 0, 1LL << 40, &c->optim.warmup_steps) ? 1 : -1;
    case OPT_SEED:
        if (!parse_int(cmd, "--seed", arg, 0, 1LL << 53, &v)) return -1;
        c->seed = (uint64_t)v;
        return 1;
    case OPT_SELECT:
        if (sc_select_parse(arg, &c->select) != SC_OK) {
            sc_cli_usage_error(cmd, "--select: %s", sc_last_error());
            return -1;
        }
        return 1;
    case OPT_RESUME: c->resume = true; return 1;
    case OPT_EVAL_TEST: c->eval_test = true; return 1;
    case OPT_EVAL_EVERY:
        return parse_int(cmd, "--eval-every", arg, 0, 1LL << 40, &c->eval_every) ? 1 : -1;
    case OPT_CNN_WIDTHS: {
        int c1, c2, fc;
        char tail;
        if (sscanf(arg, "%d,%d,%d%c", &c1, &c2, &fc, &tail) != 3 || c1 < 1 || c2 < 1 || fc < 1 ||
            c1 > 4096 || c2 > 4096 || fc > 65536) {
            sc_cli_usage_error(cmd, "--cnn-widths expects three positive integers C1,C2,FC, got '%s'",
                               arg);
            return -1;
        }
        c->model.cnn_c1 = c1;
        c->model.cnn_c2 = c2;
        c->model.cnn_fc = fc;
        return 1;
    }
    case OPT_VIT_PATCH: if (!parse_int(cmd, "--vit-patch", arg, 1, 64, &v)) return -1; c->model.patch = (int)v; return 1;
    case OPT_VIT_DIM: if (!parse_int(cmd, "--vit-dim", arg, 1, 4096, &v)) return -1; c->model.dim = (int)v; return 1;
    case OPT_VIT_DEPTH: if (!parse_int(cmd, "--vit-depth", arg, 1, 64, &v)) return -1; c->model.depth = (int)v; return 1;
    case OPT_VIT_HEADS: if (!parse_int(cmd, "--vit-heads", arg, 1, 64, &v)) return -1; c->model.heads = (int)v; return 1;
    case OPT_VIT_MLP: if (!parse_int(cmd, "--vit-mlp", arg, 1, 65536, &v)) return -1; c->model.mlp = (int)v; return 1;
    case OPT_RESNET_WIDTH: if (!parse_int(cmd, "--resnet-width", arg, 1, 4096, &v)) return -1; c->model.resnet_width = (int)v; return 1;
    }
    return 0;
}

bool sc_cli_train_finish(const char *cmd, sc_cli_train_args *a, const char *default_out)
{
    if (!a->data) {
        sc_cli_usage_error(cmd, "--data FILE is required (build one with 'spurcl data build')");
        return false;
    }
    if (!a->out)
        a->out = default_out;
    a->cfg.run_dir = a->out;
    return true;
}
