/* The spurcl side of the PyTorch interop test (tests/interop/interop.py).
 *
 *   export_ckpt export PREFIX KEY=VALUE...
 *       A model made with sc_model_init (seed 11), one SGD (momentum) step
 *       on a random batch (so the checkpoint also holds optimiser state and,
 *       for resnet, once-updated running statistics), then writes
 *         PREFIX.ckpt.safetensors   sc_checkpoint_save (params, buffers,
 *                                   "optim.*", metadata)
 *         PREFIX.after.safetensors  the model after one more train-mode
 *                                   forward (resnet: running statistics and
 *                                   num_batches_tracked moved on)
 *         PREFIX.io.safetensors     input [5,C,H,W], logits.eval (from the
 *                                   checkpointed state), logits.train (that
 *                                   last forward)
 *   export_ckpt import CKPT IO OUT [KEY=VALUE...]
 *       Builds the model from KEY=VALUE, or without them from CKPT's "model"
 *       metadata (sc_checkpoint_model_config); loads CKPT with
 *       sc_checkpoint_load; runs "input" of IO in eval mode, then in train
 *       mode; writes OUT.io.safetensors (logits.eval, logits.train) and
 *       OUT.ckpt.safetensors (sc_checkpoint_save after the train forward).
 *
 * KEY=VALUE: kind=cnn|vit|resnet c= hw= classes= cnn=C1,C2,FC patch= dim=
 * depth= heads= mlp= width= (resnet). Several commands separated by "+"
 * run in one process (one device context, kernels built once). Exit status
 * 0, or 1 with a message. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spurcl/io.h"
#include "spurcl/model.h"
#include "spurcl/nn.h"
#include "spurcl/optim.h"
#include "spurcl/rng.h"
#include "spurcl/train.h"

#define BATCH 5

static int fail(const char *what)
{
    fprintf(stderr, "export_ckpt: %s: %s\n", what, sc_last_error());
    return 1;
}

#define TRY(what, expr)                                                        \
    do {                                                                       \
        if ((expr) != SC_OK)                                                   \
            return fail(what);                                                 \
    } while (0)

static int parse_config(int argc, char **argv, sc_model_config *cfg)
{
    sc_model_kind kind = SC_MODEL_CNN;
    int c = 1, hw = 28, classes = 10;
    for (int i = 0; i < argc; i++)
        if (strncmp(argv[i], "kind=", 5) == 0 && sc_model_kind_parse(argv[i] + 5, &kind) != SC_OK)
            return fail(argv[i]);
    for (int i = 0; i < argc; i++) {
        sscanf(argv[i], "c=%d", &c);
        sscanf(argv[i], "hw=%d", &hw);
        sscanf(argv[i], "classes=%d", &classes);
    }
    sc_model_config_default(cfg, kind, c, hw, hw, classes);
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (sscanf(a, "cnn=%d,%d,%d", &cfg->cnn_c1, &cfg->cnn_c2, &cfg->cnn_fc) == 3 ||
            sscanf(a, "patch=%d", &cfg->patch) == 1 || sscanf(a, "dim=%d", &cfg->dim) == 1 ||
            sscanf(a, "depth=%d", &cfg->depth) == 1 || sscanf(a, "heads=%d", &cfg->heads) == 1 ||
            sscanf(a, "mlp=%d", &cfg->mlp) == 1 || sscanf(a, "width=%d", &cfg->resnet_width) == 1 ||
            strncmp(a, "kind=", 5) == 0 || strncmp(a, "c=", 2) == 0 || strncmp(a, "hw=", 3) == 0 ||
            strncmp(a, "classes=", 8) == 0)
            continue;
        fprintf(stderr, "export_ckpt: unknown setting '%s'\n", a);
        return 1;
    }
    return 0;
}

/* logits of x (eval or train mode) into host memory */
static sc_status logits_of(sc_model *m, sc_graph *g, const int64_t *xs, const float *x,
                           bool training, float *out)
{
    sc_var *lg = sc_model_forward(m, g, sc_var_from_host(g, 4, xs, x, false), training);
    sc_status st = sc_graph_status(g);
    if (st == SC_OK)
        st = sc_tensor_download(sc_var_tensor(lg), out);
    sc_graph_reset(g);
    return st;
}

static sc_status write_io(const char *path, const int64_t *xs, const float *x, int64_t classes,
                          const float *eval, const float *train)
{
    sc_st_tensor t[3] = {{.name = "logits.eval", .dtype = SC_ST_F32, .ndim = 2,
                          .shape = {xs[0], classes}, .data = eval},
                         {.name = "logits.train", .dtype = SC_ST_F32, .ndim = 2,
                          .shape = {xs[0], classes}, .data = train},
                         {.name = "input", .dtype = SC_ST_F32, .ndim = 4,
                          .shape = {xs[0], xs[1], xs[2], xs[3]}, .data = x}};
    return sc_safetensors_write(path, t, x ? 3 : 2, NULL, 0);
}

static int do_export(sc_context *ctx, const char *prefix, int argc, char **argv)
{
    sc_model_config cfg;
    if (parse_config(argc, argv, &cfg))
        return 1;
    sc_model *m;
    TRY("model", sc_model_create(ctx, &cfg, &m));
    TRY("init", sc_model_init(m, 11));
    int64_t xs[4] = {BATCH, cfg.in_channels, cfg.height, cfg.width}, ls[1] = {BATCH};
    size_t nx = (size_t)(xs[0] * xs[1] * xs[2] * xs[3]);
    float *x = malloc(nx * sizeof *x), *x2 = malloc(nx * sizeof *x2);
    float *eval = malloc(BATCH * (size_t)cfg.num_classes * sizeof *eval);
    float *train = malloc(BATCH * (size_t)cfg.num_classes * sizeof *train);
    int32_t labels[BATCH];
    sc_rng rng;
    sc_rng_seed(&rng, 12);
    for (size_t i = 0; i < nx; i++) {
        x[i] = (float)sc_rng_uniform(&rng);
        x2[i] = (float)sc_rng_uniform(&rng);
    }
    for (int i = 0; i < BATCH; i++)
        labels[i] = (int32_t)sc_rng_below(&rng, (uint64_t)cfg.num_classes);

    /* one SGD step on x2 */
    size_t np = sc_model_param_count(m);
    sc_var **params = malloc(np * sizeof *params), **grads = malloc(np * sizeof *grads);
    for (size_t i = 0; i < np; i++)
        params[i] = sc_model_param(m, i);
    sc_optim_config oc;
    sc_optim_config_default(&oc, SC_OPT_SGD);
    oc.lr = 0.05f;
    sc_optim *opt;
    sc_graph *g;
    TRY("optimiser", sc_optim_create(ctx, &oc, params, np, &opt));
    TRY("graph", sc_graph_create(ctx, &g));
    sc_var *lg = sc_model_forward(m, g, sc_var_from_host(g, 4, xs, x2, false), true);
    sc_var *loss = sc_nn_cross_entropy(g, lg, sc_var_from_host_i32(g, 1, ls, labels), NULL,
                                       SC_LOSS_MEAN);
    TRY("forward", sc_graph_status(g));
    TRY("backward", sc_grad(g, 1, &loss, NULL, (int)np, params, false, grads));
    TRY("step", sc_optim_step(opt, grads, NULL));
    sc_graph_reset(g);

    char path[4096];
    TRY("eval forward", logits_of(m, g, xs, x, false, eval));
    snprintf(path, sizeof path, "%s.ckpt.safetensors", prefix);
    TRY("checkpoint", sc_checkpoint_save(path, m, opt, 1, 11, "{\"test\": \"interop\"}"));
    TRY("train forward", logits_of(m, g, xs, x, true, train));
    snprintf(path, sizeof path, "%s.after.safetensors", prefix);
    TRY("checkpoint after", sc_checkpoint_save(path, m, NULL, 1, 11, NULL));
    snprintf(path, sizeof path, "%s.io.safetensors", prefix);
    TRY("io", write_io(path, xs, x, cfg.num_classes, eval, train));

    sc_graph_free(g);
    sc_optim_free(opt);
    sc_model_free(m);
    free(params);
    free(grads);
    free(x);
    free(x2);
    free(eval);
    free(train);
    return 0;
}

static int do_import(sc_context *ctx, const char *ckpt, const char *io, const char *out, int argc,
                     char **argv)
{
    sc_model_config cfg;
    if (argc > 0) {
        if (parse_config(argc, argv, &cfg))
            return 1;
    } else {
        TRY("model config", sc_checkpoint_model_config(ckpt, &cfg));
    }
    sc_model *m;
    TRY("model", sc_model_create(ctx, &cfg, &m));
    TRY("load", sc_checkpoint_load(ckpt, m, NULL, NULL));
    sc_safetensors *st;
    const sc_st_tensor *in;
    TRY("io", sc_safetensors_open(io, &st));
    TRY("io", sc_safetensors_get(st, "input", SC_ST_F32, 4, &in));
    int64_t n = in->shape[0];
    float *eval = malloc((size_t)(n * cfg.num_classes) * sizeof *eval);
    float *train = malloc((size_t)(n * cfg.num_classes) * sizeof *train);
    sc_graph *g;
    TRY("graph", sc_graph_create(ctx, &g));
    TRY("eval forward", logits_of(m, g, in->shape, in->data, false, eval));
    TRY("train forward", logits_of(m, g, in->shape, in->data, true, train));
    char path[4096];
    snprintf(path, sizeof path, "%s.io.safetensors", out);
    TRY("io", write_io(path, in->shape, NULL, cfg.num_classes, eval, train));
    snprintf(path, sizeof path, "%s.ckpt.safetensors", out);
    TRY("checkpoint", sc_checkpoint_save(path, m, NULL, 0, 0, NULL));
    sc_graph_free(g);
    sc_safetensors_close(st);
    sc_model_free(m);
    free(eval);
    free(train);
    return 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: export_ckpt export PREFIX KEY=VALUE... [+ COMMAND...]\n"
                    "       export_ckpt import CKPT IO OUT [KEY=VALUE...] [+ COMMAND...]\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return usage();
    sc_context *ctx;
    TRY("device", sc_context_create(NULL, &ctx));
    int rc = 0;
    for (int i = 1; rc == 0 && i < argc;) {
        int n = 0; /* words of this command */
        while (i + n < argc && strcmp(argv[i + n], "+") != 0)
            n++;
        if (n >= 2 && strcmp(argv[i], "export") == 0)
            rc = do_export(ctx, argv[i + 1], n - 2, argv + i + 2);
        else if (n >= 4 && strcmp(argv[i], "import") == 0)
            rc = do_import(ctx, argv[i + 1], argv[i + 2], argv[i + 3], n - 4, argv + i + 4);
        else
            rc = usage();
        i += n + 1;
    }
    sc_context_free(ctx);
    return rc;
}
