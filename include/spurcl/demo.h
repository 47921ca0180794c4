/* spurcl: the robustness demo (`spurcl demo`) as a library call.
 *
 * MNIST-SC on Fashion-MNIST: every training image carries a 4x4 mark whose
 * position reveals its class (rho 1.0); validation images are marked at a
 * random position (unbiased), test images are clean. ERM, JTT and ULE (the
 * paper's mse penalty and the overlap penalty) train with the same budget;
 * each is evaluated on val every eval_every steps and the evaluation with
 * the best val average accuracy is kept (no group labels); ERM's last step,
 * the shortcut learner, is reported too. */
#ifndef SPURCL_DEMO_H
#define SPURCL_DEMO_H

#include "spurcl/ule.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sc_demo_config {
    const char *out;                    /* run directory (default "runs/demo") */
    int epochs;                         /* per method (default 1) */
    int64_t eval_every;                 /* val every N steps (default 25; 0: epoch ends) */
    double lambda;                      /* ULE mse penalty (default 100) */
    sc_saliency_target target;          /* its saliency (default pred-logit) */
    double overlap_lambda;              /* ULE overlap penalty (default 3000) */
    sc_saliency_target overlap_target;  /* its saliency (default pred-logit) */
    uint64_t seed;                      /* data and training (default 0) */
    int64_t max_train;                  /* first N training images of the source (0: all) */
    const char *source_dir;             /* Fashion-MNIST files (NULL: the Debian package's) */
    void (*progress)(const sc_train_progress *p, void *ud);
    void *progress_ud;
} sc_demo_config;

SC_API void sc_demo_config_default(sc_demo_config *cfg);

/* Builds the demo's data set (MNIST-SC) and saves it as out/mnist-sc.safetensors. */
SC_API sc_status sc_demo_build_data(const sc_demo_config *cfg, sc_dataset **out);

#define SC_DEMO_ROWS 5

typedef struct sc_demo_row {
    char method[32];       /* "ERM, last step", "ERM", "JTT", "ULE teacher, mse", ... */
    int64_t step;          /* the kept evaluation's step */
    double val_acc;        /* val (marked at random) accuracy */
    double test_acc;       /* test (clean) accuracy */
    double test_wga;       /* test worst-group accuracy */
    double test_mean;      /* test mean of group accuracies */
    double mark_share;     /* share of |input gradient| inside the mark (1000 val images) */
} sc_demo_row;

typedef struct sc_demo_result {
    sc_demo_row rows[SC_DEMO_ROWS];
    int64_t last_step;     /* steps of each method's run */
    int64_t jtt_errors;    /* training samples JTT upweighted */
    double mark_area;      /* the mark's share of the image */
    double seconds;
} sc_demo_result;

/* Trains the four methods on `d` in cfg->out/{erm,jtt,ule-mse,ule-overlap},
 * and writes cfg->out/results.csv, results.json and saliency.png (ERM's
 * last step and the two ULE teachers on the same validation images). */
SC_API sc_status sc_demo_run(sc_context *ctx, const sc_dataset *d, const sc_demo_config *cfg,
                             sc_demo_result *out);

#ifdef __cplusplus
}
#endif
#endif
