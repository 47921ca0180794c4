/* The one place spurcl calls MPI (include/spurcl/dist.h, src/base/dist.h).
 * Built without MPI (no SC_HAVE_MPI), the same calls serve one process. */
#include "base/dist.h"
#include "base/base.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef SC_HAVE_MPI
#include <mpi.h>
#endif

static int g_rank, g_size = 1, g_local_rank, g_local_size = 1;

bool sc_dist_built(void)
{
#ifdef SC_HAVE_MPI
    return true;
#else
    return false;
#endif
}

int sc_dist_rank(void) { return g_rank; }
int sc_dist_size(void) { return g_size; }
bool sc_dist_writes(void) { return g_rank == 0; }
int sc_dist_local_rank(void) { return g_local_rank; }
int sc_dist_local_size(void) { return g_local_size; }

static bool g_failure_agreed;
void sc_dist_failure_mark_agreed(void) { g_failure_agreed = true; }
bool sc_dist_failure_agreed(void) { return g_failure_agreed; }

/* Whether an MPI launcher started this process: Open MPI's mpirun sets
 * OMPI_COMM_WORLD_SIZE, Hydra (MPICH) PMI_SIZE, a PMIx launcher PMIX_RANK;
 * *size is the job's size where the launcher says (else 0). */
static bool launched(long *size)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"};
    bool any = false;
    *size = 0;
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v) {
            any = true;
            if (i < 2 && *size == 0)
                *size = strtol(v, NULL, 10);
        }
    }
    return any;
}

#ifdef SC_HAVE_MPI

static bool g_inited;              /* sc_dist_init called MPI_Init_thread */
static MPI_Comm g_local = MPI_COMM_NULL;

/* SC_ERR_DIST naming the call, the rank and MPI's message. */
static sc_status mpi_fail(int rc, const char *call, const char *what)
{
    char msg[MPI_MAX_ERROR_STRING + 1] = "";
    int len = 0;
    if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS)
        snprintf(msg, sizeof msg, "MPI error %d", rc);
    return sc_error_set(SC_ERR_DIST, "%s (%s) failed on rank %d of %d: %s", call,
                        what ? what : "-", g_rank, g_size, msg);
}

#define MPI_TRY(call, name, what)                                                                  \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        if (rc_ != MPI_SUCCESS)                                                                    \
            return mpi_fail(rc_, name, what);                                                      \
    } while (0)

/* ---- collectives that cannot hang --------------------------------------
 * Every collective is started non-blocking and waited for with a deadline
 * ($SPURCL_DIST_TIMEOUT seconds, default 600): a rank that is gone ends the
 * job through mpirun, but one stuck inside a driver call would hold the
 * others in a blocking collective for ever. Past the deadline the waiting
 * rank fails with a message naming the collective, and the program's
 * failure path (MPI_Abort) ends every rank. */

static double g_timeout = 600.0;

static sc_status read_timeout(void)
{
    const char *v = getenv("SPURCL_DIST_TIMEOUT");
    if (!v || !*v)
        return SC_OK;
    char *end;
    double t = strtod(v, &end);
    if (*end || !(t > 0) || t > 1e7)
        return sc_error_set(SC_ERR_INVALID_ARG,
                            "SPURCL_DIST_TIMEOUT '%s': expected seconds, a number > 0", v);
    g_timeout = t;
    return SC_OK;
}

/* Waits for `req` until the deadline: polls (MPI progresses the collective
 * in MPI_Test), spinning for the first millisecond, then sleeping 0.1 ms
 * between polls so a rank that waits long leaves the cores to the others. */
static sc_status wait_for(MPI_Request *req, const char *call, const char *what)
{
    double start = sc_time_now();
    for (;;) {
        int done = 0;
        int rc = MPI_Test(req, &done, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS)
            return mpi_fail(rc, call, what);
        if (done)
            return SC_OK;
        double waited = sc_time_now() - start;
        if (waited > g_timeout)
            return sc_error_set(SC_ERR_DIST,
                                "%s (%s) on rank %d of %d: waited %.0f s for the other ranks "
                                "(SPURCL_DIST_TIMEOUT); one is stuck or gone",
                                call, what ? what : "-", g_rank, g_size, waited);
        if (waited > 1e-3) {
            struct timespec pause = {0, 100000};
            nanosleep(&pause, NULL);
        }
    }
}

/* A started collective: `rc` is the code of the call that filled `req`;
 * waits for it with the deadline. */
static sc_status finish(int rc, MPI_Request *req, const char *call, const char *what)
{
    return rc == MPI_SUCCESS ? wait_for(req, call, what) : mpi_fail(rc, call, what);
}

/* Starts a collective (a call that fills req_) and waits for it. */
#define MPI_COLLECTIVE(start, name, what)                                                          \
    do {                                                                                           \
        MPI_Request req_ = MPI_REQUEST_NULL;                                                       \
        sc_status st_ = finish((start), &req_, name, what);                                        \
        if (st_ != SC_OK)                                                                          \
            return st_;                                                                            \
    } while (0)

sc_status sc_dist_init(int *argc, char ***argv)
{
    int flag = 0;
    long size;
    if (g_inited || !launched(&size) || (MPI_Initialized(&flag) == MPI_SUCCESS && flag))
        return SC_OK;
    SC_TRY(read_timeout());
    /* only the main thread calls MPI (the batcher's and PoCL's threads never do) */
    int provided = 0;
    int rc = MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
    if (rc != MPI_SUCCESS)
        return sc_error_set(SC_ERR_DIST, "MPI_Init_thread failed (error %d)", rc);
    g_inited = true;
    /* failures come back as codes and become messages naming the call */
    MPI_TRY(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler",
            "world");
    MPI_TRY(MPI_Comm_rank(MPI_COMM_WORLD, &g_rank), "MPI_Comm_rank", "world");
    MPI_TRY(MPI_Comm_size(MPI_COMM_WORLD, &g_size), "MPI_Comm_size", "world");
    MPI_TRY(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, g_rank, MPI_INFO_NULL,
                                &g_local),
            "MPI_Comm_split_type", "ranks on this machine");
    MPI_TRY(MPI_Comm_rank(g_local, &g_local_rank), "MPI_Comm_rank", "ranks on this machine");
    MPI_TRY(MPI_Comm_size(g_local, &g_local_size), "MPI_Comm_size", "ranks on this machine");
    return SC_OK;
}

void sc_dist_finalize(void)
{
    if (!g_inited)
        return;
    if (g_local != MPI_COMM_NULL)
        MPI_Comm_free(&g_local);
    MPI_Finalize();
    g_inited = false;
}

/* Two ranks in MPI_Abort at once can crash Open MPI's mpirun (exit 139,
 * one rank's message lost; seen when every rank failed the same way): a
 * rank r > 0 waits r x 0.3 s (at most 3 s) first, so when rank 0 fails too
 * its abort ends the job alone, and one that fails alone ends it a moment
 * later. */
void sc_dist_abort(int code)
{
    if (!g_inited || g_size < 2)
        return;
    if (g_rank > 0) {
        long ms = 300L * (g_rank < 10 ? g_rank : 10);
        struct timespec pause = {ms / 1000, (ms % 1000) * 1000000L};
        nanosleep(&pause, NULL);
    }
    MPI_Abort(MPI_COMM_WORLD, code);
}

/* MPI counts are ints: larger buffers go in pieces of at most 2^30 elements. */
#define CHUNK ((size_t)1 << 30)

sc_status sc_dist_bcast(void *buf, size_t bytes, const char *what)
{
    for (size_t off = 0; g_size > 1 && off < bytes; off += CHUNK) {
        size_t n = bytes - off < CHUNK ? bytes - off : CHUNK;
        MPI_COLLECTIVE(MPI_Ibcast((char *)buf + off, (int)n, MPI_BYTE, 0, MPI_COMM_WORLD, &req_),
                       "MPI_Bcast", what);
    }
    return SC_OK;
}

sc_status sc_dist_gather(const void *send, size_t bytes, void *recv, const char *what)
{
    if (g_size == 1) {
        if (recv && bytes)
            memmove(recv, send, bytes);
        return SC_OK;
    }
    if (bytes > (size_t)INT_MAX)
        return sc_error_set(SC_ERR_INVALID_ARG, "MPI_Gather (%s): %zu bytes a rank is too many",
                            what ? what : "-", bytes);
    MPI_COLLECTIVE(MPI_Igather(send, (int)bytes, MPI_BYTE, recv, (int)bytes, MPI_BYTE, 0,
                               MPI_COMM_WORLD, &req_),
                   "MPI_Gather", what);
    return SC_OK;
}

sc_status sc_dist_barrier(const char *what)
{
    if (g_size > 1)
        MPI_COLLECTIVE(MPI_Ibarrier(MPI_COMM_WORLD, &req_), "MPI_Barrier", what);
    return SC_OK;
}

static sc_status sum(void *buf, size_t n, size_t elem, MPI_Datatype type, const char *what)
{
    for (size_t off = 0; g_size > 1 && off < n; off += CHUNK) {
        size_t k = n - off < CHUNK ? n - off : CHUNK;
        MPI_COLLECTIVE(MPI_Iallreduce(MPI_IN_PLACE, (char *)buf + off * elem, (int)k, type,
                                      MPI_SUM, MPI_COMM_WORLD, &req_),
                       "MPI_Allreduce", what);
    }
    return SC_OK;
}

sc_status sc__dist_sum_f32(float *buf, size_t n, const char *what)
{
    return sum(buf, n, sizeof *buf, MPI_FLOAT, what);
}

sc_status sc__dist_sum_f64(double *buf, size_t n, const char *what)
{
    return sum(buf, n, sizeof *buf, MPI_DOUBLE, what);
}

sc_status sc__dist_allgather(const void *send, const int *counts, void *recv, const char *what)
{
    if (g_size == 1) {
        if (counts[0])
            memmove(recv, send, (size_t)counts[0]);
        return SC_OK;
    }
    int *displs = malloc((size_t)g_size * sizeof *displs);
    if (!displs)
        return sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of host memory (MPI_Allgatherv)");
    long total = 0;
    for (int r = 0; r < g_size; r++) {
        displs[r] = (int)total;
        total += counts[r];
    }
    MPI_Request req = MPI_REQUEST_NULL;
    sc_status st = finish(total > INT_MAX ? MPI_ERR_COUNT
                                          : MPI_Iallgatherv(send, counts[g_rank], MPI_BYTE, recv,
                                                            counts, displs, MPI_BYTE,
                                                            MPI_COMM_WORLD, &req),
                          &req, "MPI_Allgatherv", what);
    free(displs); /* the displacements must live until the collective ends */
    return st;
}

#else /* one process */

sc_status sc_dist_init(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* N copies that each think they are alone would write the same files */
    long size;
    if (launched(&size) && size > 1)
        return sc_error_set(SC_ERR_UNSUPPORTED,
                            "started by mpirun with %ld processes, but this spurcl was built "
                            "without MPI: install libopenmpi-dev and rebuild (meson setup "
                            "--reconfigure build -Dmpi=enabled), or run one process",
                            size);
    return SC_OK;
}

void sc_dist_finalize(void) {}

void sc_dist_abort(int code) { (void)code; }

sc_status sc_dist_bcast(void *buf, size_t bytes, const char *what)
{
    (void)buf;
    (void)bytes;
    (void)what;
    return SC_OK;
}

sc_status sc_dist_gather(const void *send, size_t bytes, void *recv, const char *what)
{
    (void)what;
    if (recv && bytes)
        memmove(recv, send, bytes);
    return SC_OK;
}

sc_status sc_dist_barrier(const char *what)
{
    (void)what;
    return SC_OK;
}

sc_status sc__dist_sum_f32(float *buf, size_t n, const char *what)
{
    (void)buf;
    (void)n;
    (void)what;
    return SC_OK;
}

sc_status sc__dist_sum_f64(double *buf, size_t n, const char *what)
{
    (void)buf;
    (void)n;
    (void)what;
    return SC_OK;
}

sc_status sc__dist_allgather(const void *send, const int *counts, void *recv, const char *what)
{
    (void)what;
    if (counts[0])
        memmove(recv, send, (size_t)counts[0]);
    return SC_OK;
}

#endif
