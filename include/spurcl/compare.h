/* spurcl: a robustness comparison (`spurcl compare`, and `spurcl demo` at
 * its default budget): methods x seeds (x an optional hyperparameter grid)
 * on one data set, each run's model selected on validation data, a table of
 * mean and standard deviation over seeds.
 *
 * Selection, per run, among its evaluations (every eval_every steps and at
 * each epoch's end; test metrics are logged at each and never select):
 *   without group labels   the evaluation with the best val average accuracy
 *   with group labels      the one with the best val worst-group accuracy
 * and per method, among the grid's settings, the one whose mean over seeds
 * of that same val metric is best. Reported: test worst-group accuracy and
 * test average accuracy weighted by the training split's group proportions
 * (as SpuCo, GroupDRO and DFR report it).
 *
 * Methods: erm; jtt (no group labels); groupdro (trains with group labels:
 * the oracle); dfr (the last layer of the seed's ERM model refitted on
 * group-balanced validation subsets: uses val group labels by design, so
 * both columns show its one result); ule (no group labels; by default the
 * paper's setting: student and teacher start from the seed's ERM model and
 * train their last layers on the frozen backbone).
 *
 * Runs live in out/<method>[/<setting>]/seed-<s>; a run whose done.json
 * exists is skipped, so an interrupted comparison resumes where it stopped.
 * done.json records the run's settings (a hash of the data set, the model,
 * the budget, the method's options); one made with other settings is an
 * error that names it, never reused. Every run's directory gets its
 * config.json (sc_run_record; a run without done.json starts again over what
 * it left), and out/config.json records the latest invocation.
 * The ERM run of a seed is the backbone of that seed's dfr and ule runs, and
 * runs first. */
#ifndef SPURCL_COMPARE_H
#define SPURCL_COMPARE_H

#include "spurcl/ule.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sc_method {
    SC_METHOD_ERM = 0,
    SC_METHOD_JTT,
    SC_METHOD_GROUPDRO,
    SC_METHOD_DFR,
    SC_METHOD_ULE,
    SC_METHOD_COUNT
} sc_method;

/* "erm", "jtt", "groupdro", "dfr", "ule". */
SC_API const char *sc_method_name(sc_method m);
SC_API sc_status sc_method_parse(const char *s, sc_method *out);

typedef struct sc_compare_config {
    const char *out;                   /* the comparison's directory */
    bool methods[SC_METHOD_COUNT];     /* which to run (default all) */
    int seeds;                         /* seeds 0 .. seeds-1 (default 5) */
    sc_train_config train;             /* the model and run settings every method shares
                                          (epochs, batch, optimiser, eval_every...);
                                          run_dir, seed, select, resume, force are set per
                                          run; its `record` goes to every run's config.json */
    int jtt_id_epochs;                 /* default 1 */
    double jtt_upweight;               /* default 20 */
    double dro_eta, dro_adjustment;    /* default 0.01, 0 */
    bool dro_balanced;                 /* group-balanced sampling (default on) */
    sc_dfr_config dfr;
    sc_ule_loss_config ule_loss;
    bool ule_whole_network;            /* train all of both models (default: the last layers
                                          on the seed's frozen ERM backbone) */
    const char *backbone;              /* a checkpoint that DFR refits and both ULE models
                                          start from, instead of the seed's ERM model (an SSL
                                          encoder, a PyTorch import) */
    /* Optional grid, e.g. "ule.lambda=10,100,1000;jtt.upweight=5,20". Keys:
     * ule.lambda, jtt.upweight, jtt.id-epochs, dro.eta, dro.adjustment,
     * lr, weight-decay (the last two for every trained method). */
    const char *grid;
    void (*progress)(const sc_train_progress *p, void *ud);
    void *progress_ud;
} sc_compare_config;

SC_API void sc_compare_config_default(sc_compare_config *cfg);

/* One method's line: per selection rule the chosen setting and the test
 * metrics over seeds. */
typedef struct sc_compare_cell {
    char setting[96];                  /* the grid setting ("" without a grid) */
    double val;                        /* mean over seeds of the val metric that selected */
    double wga_mean, wga_std;          /* test worst-group accuracy */
    double avg_mean, avg_std;          /* test average accuracy, train-group weighted */
} sc_compare_cell;

typedef struct sc_compare_row {
    sc_method method;
    const char *group_labels;          /* what the method reads: "none", "val", "train" */
    int seeds;                         /* finished runs per setting */
    sc_compare_cell no_labels;         /* selected by val average accuracy */
    sc_compare_cell with_labels;       /* selected by val worst-group accuracy */
} sc_compare_row;

typedef struct sc_compare_result {
    sc_compare_row rows[SC_METHOD_COUNT];
    int nrows;
    int runs, skipped;                 /* runs trained now, runs found finished */
    double seconds;
} sc_compare_result;

/* Runs (or resumes) the comparison on `d` and writes cfg->out/results.csv,
 * results.json (every run's selected evaluations, and the table) and
 * chart.png (per method, worst-group and average test accuracy with error
 * bars of one standard deviation, for both selection rules). */
SC_API sc_status sc_compare_run(sc_context *ctx, const sc_dataset *d,
                                const sc_compare_config *cfg, sc_compare_result *out);

#ifdef __cplusplus
}
#endif
#endif
