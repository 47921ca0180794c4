/* spurcl: data-parallel runs across processes with MPI (Open MPI).
 *
 * A process started by an MPI launcher (`mpirun -np N spurcl ...`) is one
 * rank of N; every rank runs the same command on its own OpenCL device and
 * the trainers that support it (so far ERM: `spurcl train`) split each
 * global batch across the ranks and average the gradients with one
 * MPI_Allreduce per step (src/train/dp.c). All of MPI lives behind these
 * calls (src/base/dist.c); a build without MPI (meson -Dmpi=disabled, or no
 * MPI found) has the same calls for one process: size 1, rank 0, and
 * collectives that copy nothing.
 *
 * sc_dist_init initialises MPI only when a launcher started the process
 * (Open MPI's OMPI_COMM_WORLD_SIZE, or PMI_SIZE / PMIX_RANK of other
 * launchers); a plain `spurcl ...` never initialises MPI: a singleton
 * MPI_Init costs about 0.4 s a process with Open MPI 4.1 (measured), which
 * every command and test would pay for nothing. */
#ifndef SPURCL_DIST_H
#define SPURCL_DIST_H

#include <stdbool.h>
#include <stddef.h>

#include "spurcl/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Initialises MPI when the process was started by an MPI launcher (see
 * above), else does nothing; call once, before anything else. A failure
 * names the MPI call (SC_ERR_DIST). */
SC_API sc_status sc_dist_init(int *argc, char ***argv);
/* Finalises MPI when sc_dist_init initialised it. */
SC_API void sc_dist_finalize(void);
/* Ends every rank of the job (MPI_Abort) with `code`; a process without
 * MPI returns. For a rank that cannot go on while the others wait in a
 * collective. Rank r > 0 first waits r x 0.3 s (at most 3 s), so that two
 * ranks failing together do not abort at once. */
SC_API void sc_dist_abort(int code);

/* Whether the library was built with MPI. */
SC_API bool sc_dist_built(void);
/* This process's rank and the number of ranks (0 and 1 without MPI). */
SC_API int sc_dist_rank(void);
SC_API int sc_dist_size(void);
/* Whether this process is the one that writes the run's files and prints
 * its tables: rank 0 (every process without MPI). */
SC_API bool sc_dist_writes(void);
/* The rank among the ranks on this machine and their number (from
 * MPI_Comm_split_type(MPI_COMM_TYPE_SHARED)): picks the device. */
SC_API int sc_dist_local_rank(void);
SC_API int sc_dist_local_size(void);

/* Rank 0's `bytes` bytes at buf to every rank (collective). */
SC_API sc_status sc_dist_bcast(void *buf, size_t bytes, const char *what);
/* Every rank's `bytes` bytes at send, in rank order, into recv on rank 0
 * (size x bytes there; recv may be NULL on the others). Collective. */
SC_API sc_status sc_dist_gather(const void *send, size_t bytes, void *recv, const char *what);
/* Waits for every rank (collective). */
SC_API sc_status sc_dist_barrier(const char *what);

/* A failure every rank knows of: a collective gave every rank the failing
 * status (rank 0's, broadcast), so every rank stops at the same point and
 * none waits for another; the ranks may then end normally, without
 * sc_dist_abort (two ranks aborting at once can crash Open MPI's mpirun).
 * _mark records it on this rank, _agreed tells. */
SC_API void sc_dist_failure_mark_agreed(void);
SC_API bool sc_dist_failure_agreed(void);

#ifdef __cplusplus
}
#endif
#endif
