/* The library's own collectives over the ranks of a data-parallel run
 * (include/spurcl/dist.h has the rest); implemented with MPI in dist.c,
 * and for one process without it. */
#ifndef SC_BASE_DIST_H
#define SC_BASE_DIST_H

#include <stddef.h>

#include "spurcl/dist.h"

/* The element-wise sum over the ranks of buf[0..n), in place on every rank
 * (MPI_Allreduce, MPI_SUM; one call for n < 2^31). `what` names the buffer
 * in an error. */
sc_status sc__dist_sum_f32(float *buf, size_t n, const char *what);
sc_status sc__dist_sum_f64(double *buf, size_t n, const char *what);

/* Every rank's send[0..counts[rank]) bytes concatenated in rank order into
 * recv[0..sum counts) on every rank (MPI_Allgatherv); counts[r], the bytes
 * of rank r, known to all. One process: a copy. */
sc_status sc__dist_allgather(const void *send, const int *counts, void *recv, const char *what);

#endif
