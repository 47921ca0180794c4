/* spurcl: the robustness demo (`spurcl demo`, the README's first command)
 * as a library call: the comparison of include/spurcl/compare.h (ERM, JTT,
 * GroupDRO, DFR and ULE on the paper's frozen backbone, several seeds, each
 * selected on validation data) on the SpuCo-style default data set built
 * from Fashion-MNIST, at a budget that finishes in about ten minutes on a
 * 2-core CPU. */
#ifndef SPURCL_DEMO_H
#define SPURCL_DEMO_H

#include "spurcl/compare.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sc_demo_config {
    const char *out;                   /* directory (default "runs/demo") */
    int seeds;                         /* per method (see sc_demo_config_default) */
    int epochs;                        /* per method */
    int64_t eval_every;                /* val (and test, logged) every N steps */
    double log_every;                  /* seconds between timed progress lines (every run's) */
    int64_t max_train;                 /* first N training images of the source (0: all) */
    int64_t max_test;                  /* first N test images (0: all) */
    double rho;                        /* the spurious correlation's strength */
    sc_spuco_difficulty difficulty;
    uint64_t seed;                     /* the data set's seed (runs use seeds 0..seeds-1) */
    const char *source_dir;            /* Fashion-MNIST files (NULL: the Debian package's) */
    const char *record;                /* the caller's JSON object for every run's config.json
                                          (sc_run_record), or NULL */
    void (*progress)(const sc_train_progress *p, void *ud);
    void *progress_ud;
} sc_demo_config;

SC_API void sc_demo_config_default(sc_demo_config *cfg);

/* Builds the demo's data set (spuco on Fashion-MNIST) and saves it as
 * out/spuco.safetensors. */
SC_API sc_status sc_demo_build_data(const sc_demo_config *cfg, sc_dataset **out);

/* The comparison's settings the demo uses (the model, the budget, the
 * methods' options), for `d`; run it with sc_compare_run, or call sc_demo_run. */
SC_API void sc_demo_compare_config(const sc_demo_config *cfg, sc_compare_config *out);

/* Runs (or resumes) the demo's comparison on `d`: cfg->out/results.csv,
 * results.json and chart.png, every run in cfg->out/<method>/seed-<s>. */
SC_API sc_status sc_demo_run(sc_context *ctx, const sc_dataset *d, const sc_demo_config *cfg,
                             sc_compare_result *out);

#ifdef __cplusplus
}
#endif
#endif
