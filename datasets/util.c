/* Small helpers of the dataset module: strings, per-sample random streams,
 * a deterministic parallel for, reading possibly-gzipped files. */
#include "ds_internal.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spurcl/io.h"

size_t sc_ds_gunzip_limit = SC_DS_MAX_FILE;

void sc_ds_stream(sc_rng *rng, uint64_t seed, uint64_t purpose, uint64_t index)
{
    sc_rng_seed_stream(rng, seed, (purpose << 48) ^ index);
}

sc_status sc_ds_read_maybe_gz(const char *path, uint8_t **data, size_t *size)
{
    uint8_t *raw;
    size_t n;
    *data = NULL;
    *size = 0;
    sc_status st = sc_io_read_file(path, SC_DS_MAX_FILE, &raw, &n);
    if (st != SC_OK)
        return st;
    if (!sc_io_is_gzip(raw, n)) {
        *data = raw;
        *size = n;
        return SC_OK;
    }
    st = sc_io_gunzip(raw, n, sc_ds_gunzip_limit, path, data, size);
    free(raw);
    return st;
}

typedef struct pf_job {
    sc_ds_range_fn fn;
    void *ctx;
    int64_t begin, end;
    sc_status status;
    char *detail;
    pthread_t thread;
    int started;
} pf_job;

static void *pf_run(void *arg)
{
    pf_job *j = arg;
    j->status = j->fn(j->ctx, j->begin, j->end);
    if (j->status != SC_OK)
        j->detail = strdup(sc_last_error());
    return NULL;
}

sc_status sc_ds_parallel_for(int64_t n, int threads, sc_ds_range_fn fn, void *ctx)
{
    if (n <= 0)
        return SC_OK;
    if (threads <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        threads = c > 0 ? (int)(c > 64 ? 64 : c) : 1;
    }
    if (threads > n)
        threads = (int)n;
    if (threads <= 1)
        return fn(ctx, 0, n);
    pf_job *jobs = calloc((size_t)threads, sizeof *jobs);
    if (!jobs)
        return fn(ctx, 0, n);
    for (int t = 0; t < threads; t++) {
        jobs[t].fn = fn;
        jobs[t].ctx = ctx;
        jobs[t].begin = n * t / threads;
        jobs[t].end = n * (t + 1) / threads;
    }
    /* Job 0 runs on this thread. */
    for (int t = 1; t < threads; t++)
        jobs[t].started = pthread_create(&jobs[t].thread, NULL, pf_run, &jobs[t]) == 0;
    pf_run(&jobs[0]);
    for (int t = 1; t < threads; t++) {
        if (jobs[t].started)
            pthread_join(jobs[t].thread, NULL);
        else
            pf_run(&jobs[t]); /* could not start a thread: run it here */
    }
    sc_status st = SC_OK;
    for (int t = 0; t < threads; t++) {
        if (st == SC_OK && jobs[t].status != SC_OK) {
            st = jobs[t].status;
            sc_error_set(st, "%s", jobs[t].detail ? jobs[t].detail : "unknown error");
        }
        free(jobs[t].detail);
    }
    free(jobs);
    return st;
}
