/* Options shared by the training commands (train, jtt, ule, ssl). */
#ifndef SC_CLI_TRAIN_OPTS_H
#define SC_CLI_TRAIN_OPTS_H

#include <getopt.h>

#include "spurcl/train.h"

typedef struct sc_cli_train_args {
    const char *data;
    const char *out;
    const char *model_name;
    sc_train_config cfg;
} sc_cli_train_args;

/* Option codes >= 1000 are the shared ones. */
enum {
    OPT_DATA = 1000, OPT_MODEL, OPT_EPOCHS, OPT_BATCH, OPT_LR, OPT_OPTIM, OPT_MOMENTUM, OPT_WD,
    OPT_SCHEDULE, OPT_WARMUP, OPT_CLIP, OPT_SEED, OPT_OUT, OPT_SELECT, OPT_RESUME,
    OPT_CNN_WIDTHS, OPT_VIT_PATCH, OPT_VIT_DIM, OPT_VIT_DEPTH, OPT_VIT_HEADS, OPT_VIT_MLP,
    OPT_RESNET_WIDTH, OPT_EVAL_TEST, OPT_EVAL_EVERY, OPT_SHARED_END
};

#define SC_CLI_TRAIN_LONG_OPTIONS                                              \
    {"data", required_argument, NULL, OPT_DATA},                               \
    {"model", required_argument, NULL, OPT_MODEL},                             \
    {"epochs", required_argument, NULL, OPT_EPOCHS},                           \
    {"batch", required_argument, NULL, OPT_BATCH},                             \
    {"lr", required_argument, NULL, OPT_LR},                                   \
    {"optim", required_argument, NULL, OPT_OPTIM},                             \
    {"momentum", required_argument, NULL, OPT_MOMENTUM},                       \
    {"weight-decay", required_argument, NULL, OPT_WD},                         \
    {"schedule", required_argument, NULL, OPT_SCHEDULE},                       \
    {"warmup", required_argument, NULL, OPT_WARMUP},                           \
    {"clip", required_argument, NULL, OPT_CLIP},                               \
    {"seed", required_argument, NULL, OPT_SEED},                               \
    {"out", required_argument, NULL, OPT_OUT},                                 \
    {"select", required_argument, NULL, OPT_SELECT},                           \
    {"resume", no_argument, NULL, OPT_RESUME},                                 \
    {"cnn-widths", required_argument, NULL, OPT_CNN_WIDTHS},                   \
    {"vit-patch", required_argument, NULL, OPT_VIT_PATCH},                     \
    {"vit-dim", required_argument, NULL, OPT_VIT_DIM},                         \
    {"vit-depth", required_argument, NULL, OPT_VIT_DEPTH},                     \
    {"vit-heads", required_argument, NULL, OPT_VIT_HEADS},                     \
    {"vit-mlp", required_argument, NULL, OPT_VIT_MLP},                         \
    {"resnet-width", required_argument, NULL, OPT_RESNET_WIDTH},               \
    {"eval-test", no_argument, NULL, OPT_EVAL_TEST},                           \
    {"eval-every", required_argument, NULL, OPT_EVAL_EVERY}

/* The help text of the shared options. */
extern const char sc_cli_train_help[];

void sc_cli_train_args_default(sc_cli_train_args *a);
/* Handles a shared option: 1 handled, 0 not a shared option, -1 bad value
 * (a usage error was printed). */
int sc_cli_train_opt(const char *cmd, int code, const char *arg, sc_cli_train_args *a);
/* Checks required options after parsing; prints a usage error and returns
 * false when --data is missing. Fills the default run directory. */
bool sc_cli_train_finish(const char *cmd, sc_cli_train_args *a, const char *default_out);

#endif
