/* Progress bar and per-group tables for the training commands. */
#ifndef SC_CLI_REPORT_H
#define SC_CLI_REPORT_H

#include <stdbool.h>
#include <stdio.h>

#include "spurcl/ssl.h"
#include "spurcl/compare.h"
#include "spurcl/train.h"

typedef struct sc_cli_progress_state {
    bool quiet;     /* no progress at all */
    bool tty;       /* live bar on stderr */
} sc_cli_progress_state;

/* A sc_train_config progress callback; ud is a sc_cli_progress_state. */
void sc_cli_progress(const sc_train_progress *p, void *ud);

/* The per-group table: worst-group first, then the averages (each named). */
void sc_cli_print_groups(FILE *out, const char *title, const sc_group_metrics *m,
                         const sc_dataset *d);

/* Per-group accuracies of several models side by side (rows: label y,
 * columns: attribute a; each cell "acc1/acc2/..." in the order of `names`),
 * after one summary line per model. */
void sc_cli_print_groups_side(FILE *out, const char *title, const char *const *names,
                              const sc_group_metrics *const *m, int nm, const sc_dataset *d);

/* The linear probe's summary line and its val and test tables. */
void sc_cli_print_probe(const sc_probe_result *r, const sc_dataset *d);

/* DIR-style CSV of per-group results, written atomically: one row per split
 * and group, split,y,a,n,<name>_acc... for the models in `names`; val[k] and
 * test[k] are model k's metrics (either array may be NULL). */
sc_status sc_cli_write_groups_csv(const char *path, const char *const *names,
                                  const sc_group_metrics *const *val,
                                  const sc_group_metrics *const *test, int nm);

/* DIR/eval.json, written atomically: the selected model's val and test
 * metrics in `spurcl eval --json`'s keys (sc_group_metrics_json's, per
 * split), with "model" (`name`), "selected_step" and "selected_epoch"
 * (left out for step < 0), and the data's "num_classes", "num_attrs",
 * "class_names" and "attr_names", so that `spurcl report` draws the
 * per-group tables from the run directory alone. */
sc_status sc_cli_write_eval_json(const char *dir, const char *name, int64_t step, int epoch,
                                 const sc_group_metrics *val, const sc_group_metrics *test,
                                 const sc_dataset *d);

/* A supervised run's result: the per-group tables of val and test,
 * DIR/groups.csv with the column `name` and DIR/eval.json. Returns an exit
 * code. */
int sc_cli_report_run(const char *cmd, const char *name, const sc_train_result *r,
                      const sc_dataset *d, const char *dir);

/* The comparison table: per method, for each selection rule, mean +- sd
 * over seeds of test worst-group and train-weighted average accuracy. */
void sc_cli_print_comparison(FILE *out, const sc_compare_result *r, int seeds);

#endif
