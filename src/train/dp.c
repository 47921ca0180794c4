/* Data-parallel training (src/train/loop.h, "data-parallel"): the host side
 * of a step across the ranks of `mpirun -np N`. Gradients are staged
 * through host memory (no MPI accepts OpenCL buffers), fused into one
 * buffer and summed with one MPI_Allreduce (src/base/dist.c). With one
 * process every call here returns at once and touches nothing. */
#include "train/loop.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/dist.h"
#include "spurcl/nn.h"

/* The fused buffer (every gradient, then the step's weight) grows as
 * needed and is freed by sc__dp_release at the end of a run. */
static sc_status reserve(sc__dp *dp, size_t n)
{
    if (n <= dp->cap)
        return SC_OK;
    float *p = realloc(dp->buf, n * sizeof *p);
    if (!p)
        return sc_oom("the fused gradient buffer");
    dp->buf = p;
    dp->cap = n;
    return SC_OK;
}

void sc__dp_release(sc__dp *dp)
{
    free(dp->buf);
    *dp = (sc__dp){0};
}

/* One device tensor from rank 0 to every rank, through host memory. */
static sc_status bcast_tensor(sc__dp *dp, sc_tensor *t, const char *what)
{
    size_t n = (size_t)sc_tensor_numel(t);
    SC_TRY(reserve(dp, n ? n : 1));
    SC_TRY(sc_tensor_download(t, dp->buf));
    SC_TRY(sc_dist_bcast(dp->buf, n * sizeof *dp->buf, what));
    return sc_tensor_upload(t, dp->buf);
}

sc_status sc__dp_broadcast_buffers(sc__dp *dp, sc_model *m, const char *what)
{
    if (sc_dist_size() == 1)
        return SC_OK;
    for (size_t i = 0; i < sc_model_buffer_count(m); i++) {
        const sc_model_buffer *b = sc_model_buffer_at(m, i);
        if (b->tensor)
            SC_TRY(bcast_tensor(dp, b->tensor, what));
        else if (b->count)
            SC_TRY(sc_dist_bcast(b->count, sizeof *b->count, what));
    }
    return SC_OK;
}

sc_status sc__dp_broadcast_model(sc__dp *dp, sc_model *m)
{
    if (sc_dist_size() == 1)
        return SC_OK;
    for (size_t i = 0; i < sc_model_param_count(m); i++)
        SC_TRY(bcast_tensor(dp, sc_var_tensor(sc_model_param(m, i)), "the initial weights"));
    return sc__dp_broadcast_buffers(dp, m, "the initial buffers");
}

/* Test hooks (builds without NDEBUG), as rank RANK enters its STEP-th
 * gradient exchange (1-based): SC_TEST_DIST_KILL=RANK:STEP raises SIGKILL
 * (a rank that dies in the middle of a run); SC_TEST_DIST_HANG=RANK:STEP
 * sleeps for an hour (a rank stuck in a driver call: the others must give
 * up at SPURCL_DIST_TIMEOUT). */
static long hook_step(const char *var)
{
    const char *s = getenv(var);
    int rank = -1;
    long step = 0;
    return s && sscanf(s, "%d:%ld", &rank, &step) == 2 && rank == sc_dist_rank() && step > 0
               ? step
               : 0;
}

static void kill_hook(sc__dp *dp)
{
#ifndef NDEBUG
    if (!dp->hooks_read) { /* once a run, not on every exchange */
        dp->kill_step = hook_step("SC_TEST_DIST_KILL");
        dp->hang_step = hook_step("SC_TEST_DIST_HANG");
        dp->hooks_read = true;
    }
    if (dp->calls == dp->kill_step) {
        fprintf(stderr, "spurcl: rank %d: SC_TEST_DIST_KILL: killing myself at step %ld\n",
                sc_dist_rank(), dp->calls);
        fflush(stderr);
        raise(SIGKILL);
    }
    if (dp->calls == dp->hang_step) {
        fprintf(stderr, "spurcl: rank %d: SC_TEST_DIST_HANG: sleeping at step %ld\n",
                sc_dist_rank(), dp->calls);
        fflush(stderr);
        sleep(3600);
    }
#else
    (void)dp;
#endif
}

static sc_status exchange_timed(sc__dp *dp, sc_graph *g, sc_var *const *params, sc_var **grads,
                                size_t n, double weight, bool mean);

/* The fused exchange: sum_r weight_r grads_r, then divided by sum_r
 * weight_r when `mean` (a rank's weight is 1 when summing). */
static sc_status exchange(sc__dp *dp, sc_graph *g, sc_var *const *params, sc_var **grads,
                          size_t n, double weight, bool mean)
{
    dp->calls++;
    kill_hook(dp);
    double t0 = sc_time_now();
    sc_status st = exchange_timed(dp, g, params, grads, n, weight, mean);
    dp->seconds += sc_time_now() - t0;
    return st;
}

static sc_status exchange_timed(sc__dp *dp, sc_graph *g, sc_var *const *params, sc_var **grads,
                                size_t n, double weight, bool mean)
{
    float *buf;
    size_t total = 1;
    for (size_t i = 0; i < n; i++)
        total += (size_t)sc_tensor_numel(sc_var_tensor(params[i]));
    SC_TRY(reserve(dp, total));
    buf = dp->buf;
    /* each rank's sum over its samples: its batch mean times its weight */
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k = (size_t)sc_tensor_numel(sc_var_tensor(params[i]));
        if (grads[i] && weight > 0) {
            SC_TRY(sc_tensor_download(sc_var_tensor(grads[i]), buf + off));
            for (size_t j = 0; j < k; j++)
                buf[off + j] *= (float)weight;
        } else {
            memset(buf + off, 0, k * sizeof *buf);
        }
        off += k;
    }
    buf[total - 1] = (float)weight;
    SC_TRY(sc__dist_sum_f32(buf, total, "the step's fused gradients"));
    float w = mean ? buf[total - 1] : 1.0f;
    if (!(w > 0))
        return sc_error_set(SC_ERR_STATE, "data-parallel step: the global batch weighs %g", w);
    /* the mean over the global batch, as one process would compute it */
    off = 0;
    for (size_t i = 0; i < n; i++) {
        const sc_tensor *p = sc_var_tensor(params[i]);
        size_t k = (size_t)sc_tensor_numel(p);
        for (size_t j = 0; j < k; j++)
            buf[off + j] /= w;
        grads[i] = sc_var_from_host(g, sc_tensor_ndim(p), sc_tensor_shape(p), buf + off, false);
        off += k;
    }
    return sc_graph_status(g);
}

sc_status sc__dp_average_grads(sc__dp *dp, sc_graph *g, sc_var *const *params, sc_var **grads,
                               size_t n, double weight)
{
    return sc_dist_size() == 1 ? SC_OK : exchange(dp, g, params, grads, n, weight, true);
}

sc_status sc__dp_sum_grads(sc__dp *dp, sc_graph *g, sc_var *const *params, sc_var **grads,
                           size_t n)
{
    return sc_dist_size() == 1 ? SC_OK : exchange(dp, g, params, grads, n, 1.0, false);
}
