/* Small helpers of the dataset module: per-sample random streams, a
 * deterministic parallel for, the memory budget of a build and reading files
 * against it. */
#include "ds_internal.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spurcl/io.h"

size_t sc_ds_gunzip_limit = SC_DS_MAX_FILE;

void sc_ds_stream(sc_rng *rng, uint64_t seed, uint64_t purpose, uint64_t index)
{
    sc_rng_seed_stream(rng, seed, (purpose << 48) ^ index);
}

/* ---- the memory budget ------------------------------------------------- */

void sc_ds_budget_init(sc_ds_budget *b, uint64_t limit)
{
    b->limit = limit ? limit : SC_DATA_DEFAULT_MEM_LIMIT;
    b->used = b->transient = b->peak = 0;
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->cv, NULL);
}

void sc_ds_budget_destroy(sc_ds_budget *b)
{
    pthread_cond_destroy(&b->cv);
    pthread_mutex_destroy(&b->mu);
}

const char *sc_ds_size_text(uint64_t bytes, char buf[32])
{
    static const char *units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    if (bytes < 1024) {
        snprintf(buf, 32, "%" PRIu64 " bytes", bytes);
        return buf;
    }
    double v = (double)bytes / 1024;
    int u = 0;
    while (v >= 1024 && u < 5) {
        v /= 1024;
        u++;
    }
    snprintf(buf, 32, "%.*f", v >= 100 ? 0 : v >= 10 ? 1 : 2, v);
    if (strchr(buf, '.')) { /* 1.50 -> 1.5, 2.00 -> 2 */
        char *e = buf + strlen(buf);
        while (e[-1] == '0')
            *--e = 0;
        if (e[-1] == '.')
            *--e = 0;
    }
    snprintf(buf + strlen(buf), 32 - strlen(buf), " %s", units[u]);
    return buf;
}

static sc_status over_budget(const sc_ds_budget *b, uint64_t total, const char *fmt, va_list ap)
{
    char what[1024], t[32], l[32];
    vsnprintf(what, sizeof what, fmt, ap);
    return sc_error_set(SC_ERR_OUT_OF_MEMORY,
                        "%s would bring the build to %s, over the %s budget (--mem-limit)", what,
                        sc_ds_size_text(total, t), sc_ds_size_text(b->limit, l));
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

sc_status sc_ds_budget_charge(sc_ds_budget *b, uint64_t bytes, const char *fmt, ...)
{
    if (!b)
        return SC_OK;
    pthread_mutex_lock(&b->mu);
    uint64_t total = sat_add(b->used, bytes);
    if (total > b->limit) {
        pthread_mutex_unlock(&b->mu);
        va_list ap;
        va_start(ap, fmt);
        sc_status st = over_budget(b, total, fmt, ap);
        va_end(ap);
        return st;
    }
    b->used = total;
    if (total > b->peak)
        b->peak = total;
    pthread_mutex_unlock(&b->mu);
    return SC_OK;
}

void sc_ds_budget_release(sc_ds_budget *b, uint64_t bytes)
{
    if (!b)
        return;
    pthread_mutex_lock(&b->mu);
    b->used -= bytes < b->used ? bytes : b->used;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

sc_status sc_ds_budget_take(sc_ds_budget *b, uint64_t bytes, const char *fmt, ...)
{
    if (!b)
        return SC_OK;
    pthread_mutex_lock(&b->mu);
    /* What no other thread will give back: fitting beside it is the test. */
    uint64_t settled = b->used - b->transient;
    uint64_t alone = sat_add(settled, bytes);
    if (alone > b->limit) {
        pthread_mutex_unlock(&b->mu);
        va_list ap;
        va_start(ap, fmt);
        sc_status st = over_budget(b, alone, fmt, ap);
        va_end(ap);
        return st;
    }
    while (b->used + bytes > b->limit)
        pthread_cond_wait(&b->cv, &b->mu);
    b->used += bytes;
    b->transient += bytes;
    if (b->used > b->peak)
        b->peak = b->used;
    pthread_mutex_unlock(&b->mu);
    return SC_OK;
}

void sc_ds_budget_give(sc_ds_budget *b, uint64_t bytes)
{
    if (!b)
        return;
    pthread_mutex_lock(&b->mu);
    b->transient -= bytes < b->transient ? bytes : b->transient;
    b->used -= bytes < b->used ? bytes : b->used;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

uint64_t sc_ds_budget_left(sc_ds_budget *b)
{
    if (!b)
        return UINT64_MAX;
    pthread_mutex_lock(&b->mu);
    uint64_t left = b->used < b->limit ? b->limit - b->used : 0;
    pthread_mutex_unlock(&b->mu);
    return left;
}

uint64_t sc_ds_footprint(int64_t n, int c, int h, int w, int num_classes, int num_attrs)
{
    uint64_t un = n > 0 ? (uint64_t)n : 0;
    /* images, labels/attrs/groups/split, and a name of up to ~48 bytes with
     * its pointer per class and attribute value */
    return un * (uint64_t)(c > 0 ? c : 0) * (uint64_t)(h > 0 ? h : 0) *
               (uint64_t)(w > 0 ? w : 0) +
           16 * un + 56 * ((uint64_t)(num_classes > 0 ? num_classes : 0) +
                           (uint64_t)(num_attrs > 0 ? num_attrs : 0));
}

sc_status sc_ds_create_charged(sc_ds_budget *b, const char *what, int64_t n, int c, int h, int w,
                               int num_classes, int num_attrs, sc_dataset **out)
{
    *out = NULL;
    /* the shape checks of sc_dataset_create come first: an invalid shape is
     * named as such, not as a budget overrun */
    if (n < 0 || n > SC_DS_MAX_SAMPLES || c < 1 || c > 4 || h < 1 || w < 1 || h > 65536 ||
        w > 65536)
        return sc_dataset_create(n, c, h, w, num_classes, num_attrs, out);
    uint64_t bytes = sc_ds_footprint(n, c, h, w, num_classes, num_attrs);
    char sz[32];
    sc_status st = sc_ds_budget_charge(b, bytes, "%s: the data set of %" PRId64
                                       " images %dx%dx%d (%s)", what, n, c, h, w,
                                       sc_ds_size_text(bytes, sz));
    if (st != SC_OK)
        return st;
    st = sc_dataset_create(n, c, h, w, num_classes, num_attrs, out);
    if (st != SC_OK)
        sc_ds_budget_release(b, bytes);
    return st;
}

sc_status sc_ds_read_file_charged(sc_ds_budget *b, const char *path, size_t max_size,
                                  uint8_t **data, size_t *size)
{
    *data = NULL;
    *size = 0;
    /* The size to charge: the file's now; sc_io_read_file reads no more
     * than that (a file that grew in between is an error, not a surprise). */
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size < 0)
        return sc_io_read_file(path, max_size, data, size); /* its message */
    uint64_t fsize = (uint64_t)sb.st_size;
    if (fsize > max_size)
        return sc_io_read_file(path, max_size, data, size);
    char sz[32];
    sc_status st = sc_ds_budget_charge(b, fsize, "%s: reading the file (%s)", path,
                                       sc_ds_size_text(fsize, sz));
    if (st != SC_OK)
        return st;
    st = sc_io_read_file(path, (size_t)fsize, data, size);
    /* the charge follows what was read (a file may shrink in between) */
    sc_ds_budget_release(b, st == SC_OK ? fsize - *size : fsize);
    return st;
}

int sc_ds_thread_count(int64_t n, int threads)
{
    if (threads <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        threads = c > 0 ? (int)(c > 64 ? 64 : c) : 1;
    }
    if (threads > n)
        threads = n > 0 ? (int)n : 1;
    return threads;
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
    threads = sc_ds_thread_count(n, threads);
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
