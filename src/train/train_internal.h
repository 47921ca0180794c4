/* Helpers shared by the trainers (erm, jtt, ule). */
#ifndef SC_TRAIN_INTERNAL_H
#define SC_TRAIN_INTERNAL_H

#include "spurcl/error.h"

/* mkdir -p: creates dir and its missing parents. */
sc_status sc__ensure_dir(const char *dir);
/* Monotonic seconds. */
double sc__now_s(void);

#endif
