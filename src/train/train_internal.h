/* Helpers shared by the trainers (erm, jtt, ule). */
#ifndef SC_TRAIN_INTERNAL_H
#define SC_TRAIN_INTERNAL_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "base/base.h"
#include "spurcl/train.h"

/* mkdir -p: creates dir and its missing parents. */
sc_status sc_mkdir_p(const char *dir);
/* Monotonic seconds. */
double sc__now_s(void);

/* Adds <prefix>_acc, _wga, _mean_group, _weighted, _loss (-1 for NaN). */
void sc__json_add_metrics(cJSON *o, const char *prefix, const sc_group_metrics *m);
/* Appends one JSON object as a line to DIR/metrics.jsonl (truncate: start
 * the file anew). */
sc_status sc__append_jsonl(const char *dir, cJSON *o, bool truncate);

/* Fills n, accuracy, mean_group, worst_group(_index) and weighted (by the
 * training split's group proportions, renormalised over the groups present;
 * NAN without them) from out->total / out->correct. */
void sc__group_metrics_summarize(sc_group_metrics *out, const double *train_props);

#endif
