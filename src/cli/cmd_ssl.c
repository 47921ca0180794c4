/* spurcl ssl: self-supervised pre-training (SimCLR, BarlowTwins) with
 * uniform or LA-SSL sampling. */
#define _GNU_SOURCE
#include <stdio.h>

#include "cli.h"
#include "opts.h"
#include "spurcl/dist.h"

static void defaults(sc_cli_args *a)
{
    sc_ssl_config_default(&a->ssl);
    sc_cli_bind(a, &a->ssl.run, &a->ssl.model, "runs/ssl");
}

static int check(sc_cli_args *a)
{
    if (a->ssl.batch_size < 2)
        return sc_cli_usage_error("ssl", "--batch must be at least 2 for contrastive losses");
    /* the projector sizes and epochs the method implies go into config.json */
    sc_ssl_config_resolve(&a->ssl);
    /* LA samples uniformly for its warm-up epochs: a run no longer than
     * that is uniform sampling under another name */
    if (a->ssl.sampler == SC_SAMPLER_LA && a->ssl.epochs <= a->ssl.la.warmup)
        fprintf(stderr, "ssl: warning: --sampler la with --epochs %d <= --la-warmup %d: the LA "
                        "weights never switch on and every epoch samples uniformly\n",
                a->ssl.epochs, a->ssl.la.warmup);
    return SC_CLI_CONTINUE;
}

/* With --probe: the linear probe of the new encoder, with probe's defaults. */
static int probe(const sc_cli_args *a, sc_cli_session *s, sc_model *encoder)
{
    sc_probe_config pc;
    sc_probe_config_default(&pc);
    pc.seed = a->ssl.seed;
    sc_probe_result pr;
    if (sc_probe(s->ctx, encoder, s->d, &pc, &pr) != SC_OK)
        return sc_cli_fail("probe");
    sc_cli_print_probe(&pr, s->d);
    sc_probe_result_free(&pr);
    return SC_EXIT_OK;
}

static int run(const sc_cli_global *g, sc_cli_args *a, sc_cli_session *s)
{
    sc_ssl_config *sc = &a->ssl;
    sc->progress = sc_cli_progress;
    sc->progress_ud = &s->progress;
    const char *method = sc_ssl_method_name(sc->method);
    const char *sampler = sc_ssl_sampler_name(sc->sampler);
    if (!g->quiet)
        fprintf(stderr, "ssl: %s, %s encoder, %s sampling, %d epochs, batch %lld, on %s; run "
                        "directory %s\n",
                method, sc_model_kind_name(sc->model.kind), sampler, sc->epochs,
                (long long)sc->batch_size, sc_context_device(s->ctx)->name, sc->run_dir);
    sc_ssl_result r;
    if (sc_train_ssl(s->ctx, s->d, sc, &r) != SC_OK) {
        if (s->progress.tty && !g->quiet)
            fputs("\n", stderr);
        return sc_cli_fail("ssl");
    }
    if (!sc_dist_writes()) { /* rank 0 reports and writes the files */
        sc_ssl_result_free(&r);
        return SC_EXIT_OK;
    }
    printf("ssl: %s with %s sampling, %d epochs; last loss %.4f\n", method, sampler, r.epochs,
           r.last_loss);
    printf("  mean learning speed: aligned %.4f, conflicting %.4f\n", r.speed_aligned,
           r.speed_conflicting);
    printf("  sampling mass on conflicting samples (last epoch) %.4f\n", r.mass_conflicting);
    printf("  %.2f s per epoch (sampler bookkeeping %.3f s in all)\n", r.epoch_s, r.sampler_s);
    printf("  encoder: %s/last.safetensors; curves: %s/speeds.png\n", sc->run_dir, sc->run_dir);
    int rc = a->probe_after ? probe(a, s, r.encoder) : SC_EXIT_OK;
    sc_ssl_result_free(&r);
    return rc;
}

static const sc_cli_spec spec = {
    "ssl", SC_CLI_SSL, "spurcl [--device SEL] ssl --data FILE [options]",
    "Self-supervised pre-training of an encoder on the training split (labels\n"
    "and attributes are never read for training) with SimCLR (NT-Xent) or\n"
    "BarlowTwins on two augmented views per image (augmented on the device),\n"
    "and uniform or LA-SSL sampling: samples that are learned slowly (low\n"
    "exp(cos(z1, z2) / tau), averaged over time) are drawn more often.\n"
    "Per epoch, DIR/metrics.jsonl gets one JSON line (loss, positive-pair cosine,\n"
    "mean learning speed per group and for aligned / conflicting samples, the\n"
    "sampling distribution's mass on them; attributes used for this logging\n"
    "only) and DIR/last.safetensors the encoder (for 'spurcl probe', 'compare\n"
    "--backbone', 'ule --init'), projector, optimiser and sampler state. Every\n"
    "--knn-every epochs the encoder's weighted k-NN accuracy on the validation\n"
    "split (a labelled training bank votes; labels read for this only) goes\n"
    "into the epoch's line (knn_acc, knn_wga) and the progress line. At the end\n"
    "DIR/speeds.png plots the loss, the k-NN accuracy, the speed and mass curves\n"
    "and the final weight distribution.\n"
    "\n"
    "The defaults (SimCLR, tau 0.2, crops of 50-100 % of the area, jitter, no\n"
    "noise; a resnet of width 8 with batch norm, whose 64 pooled features the\n"
    "probe reads; a projector with batch norm, 512-128 for SimCLR, 1024-1024\n"
    "for BarlowTwins; AdamW 4e-3, 100 warm-up steps, cosine decay; batch 256;\n"
    "2 epochs for SimCLR, 4 for BarlowTwins) come from clean Fashion-MNIST.\n"
    "On its 54,000 training images (9-13 minutes on 2 CPU cores) the probe\n"
    "reaches 0.825 +- 0.003 after SimCLR and 0.808 +- 0.008 after BarlowTwins\n"
    "against 0.743 +- 0.046 for random encoders of the same shape (3 seeds:\n"
    "+8.2 and +6.5 points; against ten random encoders, 0.738 +- 0.034: +8.6\n"
    "and +7.0). --encoder cnn probes higher (0.860 after 5 epochs of SimCLR)\n"
    "but its random features are nearly as good (0.829): pre-training adds 3\n"
    "points there (README, 'spurcl ssl and spurcl probe').\n"
    "\n"
    "LA-SSL (--sampler la) was measured against uniform sampling at these\n"
    "defaults on SpuCo-style Fashion-MNIST (rho 0.95, 54,000 images; 5\n"
    "seeds each) and on corrupted Fashion-MNIST (rho 0.95, 5 seeds each),\n"
    "and at a smaller budget (the cnn for 8 epochs, both data, 5 seeds): the\n"
    "conflicting images are learned at most 6 % more slowly than the\n"
    "aligned ones (under BarlowTwins on SpuCo-style data faster), so LA\n"
    "changed their share of the draws only from 5 % to 4.4-6.3 %; the\n"
    "probe's average moved by +1.0 +- 0.6 (SpuCo-style) and +0.7 +- 0.5\n"
    "points (corrupted) under BarlowTwins, -0.1 +- 0.6 and +0.3 +- 0.5\n"
    "under SimCLR, its worst-group accuracy stayed near 0, and DFR on the\n"
    "frozen SimCLR encoder within the seed spread: short of the 2 points\n"
    "sought (README).\n",
    defaults, check, SC_CLI_OPENS_DATA, run, .flat = false,
};

SC_CLI_COMMAND(sc_cmd_ssl, spec)
