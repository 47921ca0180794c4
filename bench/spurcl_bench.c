/* spurcl side of the op benchmark (bench/README.md).
 *
 *   spurcl-bench [--shapes bench/shapes.json] [--repeat 20] [--warmup 3] [--only SUBSTR]
 *
 * For each entry of shapes.json: the forward alone (graph not recording) and
 * forward + backward (gradients of every float input and parameter; a fixed
 * random upstream gradient for non-scalar outputs), median of --repeat runs
 * after --warmup, each ending with clFinish. One JSON line per entry. */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "spurcl/device.h"
#include "spurcl/io.h"
#include "spurcl/model.h"
#include "spurcl/nn.h"
#include "spurcl/rng.h"
#include "spurcl/sys.h"
#include "spurcl/ule.h"

#define MAX_IN 8

typedef struct bench {
    sc_context *ctx;
    const cJSON *s;      /* the entry's "shapes" */
    const char *op;
    sc_var *in[MAX_IN];  /* persistent leaves (parameters) */
    int n_in;
    int32_t *labels;
    int64_t nlabels;
    sc_tensor *labels_t; /* on the device once, as torch_bench.py's y */
    sc_var *smap;        /* the ULE student map, a constant made once */
    sc_model *model;
    sc_var *upstream;    /* the fixed upstream gradient of a non-scalar output */
    sc_rng rng;
} bench;

static double now_ms(void) { return 1e3 * sc_time_now(); }

static int geti(const cJSON *s, const char *k, int def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(s, k);
    return cJSON_IsNumber(v) ? v->valueint : def;
}
static double getd(const cJSON *s, const char *k, double def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(s, k);
    return cJSON_IsNumber(v) ? v->valuedouble : def;
}
static const char *gets_(const cJSON *s, const char *k, const char *def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(s, k);
    return cJSON_IsString(v) ? v->valuestring : def;
}
static bool getb(const cJSON *s, const char *k, bool def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(s, k);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : def;
}

static int add_input(bench *b, int ndim, const int64_t *shape, double scale)
{
    char name[16];
    snprintf(name, sizeof name, "in%d", b->n_in);
    sc_var *p;
    if (sc_param_create(b->ctx, name, ndim, shape, &p) != SC_OK)
        return -1;
    int64_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= shape[i];
    float *h = malloc((size_t)n * sizeof *h);
    for (int64_t i = 0; i < n; i++)
        h[i] = (float)(scale * sc_rng_normal(&b->rng));
    sc_status st = sc_tensor_upload(sc_var_tensor(p), h);
    free(h);
    if (st != SC_OK)
        return -1;
    b->in[b->n_in++] = p;
    return 0;
}

/* A graph variable viewing b->labels_t (the graph frees the view, not the
 * labels). */
static sc_var *labels_var(bench *b, sc_graph *g)
{
    sc_tensor *v;
    if (sc_tensor_reshape(b->labels_t, 1, &b->nlabels, &v) != SC_OK)
        return NULL;
    return sc_var_wrap(g, v, false);
}

static void make_labels(bench *b, int64_t n, int classes)
{
    b->nlabels = n;
    b->labels = malloc((size_t)n * sizeof *b->labels);
    for (int64_t i = 0; i < n; i++)
        b->labels[i] = (int32_t)sc_rng_below(&b->rng, (uint64_t)classes);
    if (sc_tensor_from_host(b->ctx, SC_I32, 1, &n, b->labels, &b->labels_t) != SC_OK)
        b->labels_t = NULL;
}

/* Creates the entry's inputs; returns 0, or -1 for an unknown op. */
static int setup(bench *b)
{
    const cJSON *s = b->s;
    const char *op = b->op;
    if (!strcmp(op, "conv2d")) {
        int64_t x[4] = {geti(s, "n", 1), geti(s, "c_in", 1), geti(s, "h", 1), geti(s, "w", 1)};
        int64_t w[4] = {geti(s, "c_out", 1), x[1], geti(s, "kh", 1), geti(s, "kw", 1)};
        int64_t bb[1] = {w[0]};
        add_input(b, 4, x, 1.0);
        add_input(b, 4, w, 0.1);
        if (getb(s, "bias", true))
            add_input(b, 1, bb, 0.1);
    } else if (!strcmp(op, "relu") || !strcmp(op, "gelu")) {
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(s, "dims");
        int64_t shape[SC_MAX_DIMS];
        int nd = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, d) if (nd < SC_MAX_DIMS) shape[nd++] = e->valueint;
        add_input(b, nd, shape, 1.0);
    } else if (!strcmp(op, "maxpool2d")) {
        int64_t x[4] = {geti(s, "n", 1), geti(s, "c", 1), geti(s, "h", 1), geti(s, "w", 1)};
        add_input(b, 4, x, 1.0);
    } else if (!strcmp(op, "linear")) {
        int64_t x[2] = {geti(s, "m", 1), geti(s, "k", 1)}, w[2] = {geti(s, "n", 1), x[1]};
        int64_t bb[1] = {w[0]};
        add_input(b, 2, x, 1.0);
        add_input(b, 2, w, 0.1);
        if (getb(s, "bias", true))
            add_input(b, 1, bb, 0.1);
    } else if (!strcmp(op, "layer_norm")) {
        int64_t x[2] = {geti(s, "rows", 1), geti(s, "dim", 1)}, w[1] = {x[1]};
        add_input(b, 2, x, 1.0);
        add_input(b, 1, w, 1.0);
        add_input(b, 1, w, 0.1);
    } else if (!strcmp(op, "batch_norm")) {
        int64_t x[4] = {geti(s, "n", 1), geti(s, "c", 1), geti(s, "h", 0), geti(s, "w", 0)};
        int64_t w[1] = {x[1]};
        add_input(b, x[2] ? 4 : 2, x, 1.0);
        add_input(b, 1, w, 1.0);
        add_input(b, 1, w, 0.1);
    } else if (!strcmp(op, "softmax")) {
        int64_t x[2] = {geti(s, "rows", 1), geti(s, "cols", 1)};
        add_input(b, 2, x, 1.0);
    } else if (!strcmp(op, "attention")) {
        int64_t q[3] = {(int64_t)geti(s, "b", 1) * geti(s, "heads", 1), geti(s, "t", 1),
                        geti(s, "head_dim", 1)};
        for (int i = 0; i < 3; i++)
            add_input(b, 3, q, 1.0);
    } else if (!strcmp(op, "cross_entropy")) {
        int64_t x[2] = {geti(s, "n", 1), geti(s, "classes", 2)};
        add_input(b, 2, x, 1.0);
        make_labels(b, x[0], (int)x[1]);
    } else if (!strcmp(op, "nt_xent") || !strcmp(op, "barlow_twins")) {
        int64_t z[2] = {geti(s, "n", 1), geti(s, "dim", 1)};
        add_input(b, 2, z, 1.0);
        add_input(b, 2, z, 1.0);
    } else if (!strcmp(op, "model_step")) {
        sc_model_config cfg;
        sc_model_kind kind;
        if (sc_model_kind_parse(gets_(s, "model", "cnn"), &kind) != SC_OK)
            return -1;
        sc_model_config_default(&cfg, kind, geti(s, "c", 1), geti(s, "h", 28), geti(s, "w", 28),
                                geti(s, "classes", 10));
        cfg.cnn_c1 = geti(s, "c1", cfg.cnn_c1);
        cfg.cnn_c2 = geti(s, "c2", cfg.cnn_c2);
        cfg.cnn_fc = geti(s, "fc", cfg.cnn_fc);
        cfg.patch = geti(s, "patch", cfg.patch);
        cfg.dim = geti(s, "dim", cfg.dim);
        cfg.depth = geti(s, "depth", cfg.depth);
        cfg.heads = geti(s, "heads", cfg.heads);
        cfg.mlp = geti(s, "mlp", cfg.mlp);
        if (sc_model_create(b->ctx, &cfg, &b->model) != SC_OK || sc_model_init(b->model, 1))
            return -1;
        int64_t x[4] = {geti(s, "n", 1), cfg.in_channels, cfg.height, cfg.width};
        add_input(b, 4, x, 1.0);
        make_labels(b, x[0], cfg.num_classes);
    } else {
        return -1;
    }
    return 0;
}

/* The entry's output on graph g. */
static sc_var *build(bench *b, sc_graph *g)
{
    const cJSON *s = b->s;
    const char *op = b->op;
    sc_var **in = b->in;
    if (!strcmp(op, "conv2d"))
        return sc_nn_conv2d(g, in[0], in[1], b->n_in > 2 ? in[2] : NULL, geti(s, "stride", 1),
                            geti(s, "pad", 0));
    if (!strcmp(op, "relu"))
        return sc_nn_relu(g, in[0]);
    if (!strcmp(op, "gelu"))
        return sc_nn_gelu(g, in[0]);
    if (!strcmp(op, "maxpool2d"))
        return sc_nn_maxpool2d(g, in[0], geti(s, "k", 2), geti(s, "stride", 2));
    if (!strcmp(op, "linear"))
        return sc_nn_linear(g, in[0], in[1], b->n_in > 2 ? in[2] : NULL);
    if (!strcmp(op, "layer_norm"))
        return sc_nn_layer_norm(g, in[0], in[1], in[2], (float)getd(s, "eps", 1e-5));
    if (!strcmp(op, "batch_norm")) /* training mode, no running statistics */
        return sc_nn_batch_norm(g, in[0], in[1], in[2], NULL, NULL, true, 0.1f,
                                (float)getd(s, "eps", 1e-5));
    if (!strcmp(op, "softmax"))
        return sc_nn_softmax(g, in[0]);
    if (!strcmp(op, "attention"))
        return sc_nn_sdpa(g, in[0], in[1], in[2], 1.0f / sqrtf((float)geti(s, "head_dim", 1)));
    if (!strcmp(op, "nt_xent"))
        return sc_nn_nt_xent(g, in[0], in[1], (float)getd(s, "tau", 0.5));
    if (!strcmp(op, "barlow_twins"))
        return sc_nn_barlow_twins(g, in[0], in[1], (float)getd(s, "lambda_offdiag", 0.0051));
    /* labels and the student map are made once, outside the timing, as
     * torch_bench.py's y and student_sal */
    if (!strcmp(op, "cross_entropy"))
        return sc_nn_cross_entropy(g, in[0], labels_var(b, g), NULL, SC_LOSS_MEAN);
    if (!strcmp(op, "model_step")) {
        sc_var *y = labels_var(b, g);
        if (!strcmp(gets_(s, "loss", "ce"), "ule")) {
            sc_ule_loss_config lc;
            sc_ule_loss_config_default(&lc);
            lc.lambda = (float)getd(s, "lambda", 100.0);
            if (!b->smap) {
                const sc_tensor *xt = sc_var_tensor(in[0]);
                if (sc_param_create(b->ctx, "student_map", sc_tensor_ndim(xt),
                                    sc_tensor_shape(xt), &b->smap) != SC_OK ||
                    sc_tensor_fill(sc_var_tensor(b->smap), 0.01) != SC_OK)
                    return NULL;
            }
            sc_ule_loss_parts parts;
            sc_ule_teacher_loss(g, b->model, in[0], y, b->smap, &lc, &parts);
            return parts.loss;
        }
        return sc_nn_cross_entropy(g, sc_model_forward(b->model, g, in[0], true), y, NULL,
                                   SC_LOSS_MEAN);
    }
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* b->upstream: normal random values of y's shape (torch_bench.py: randn). */
static int make_upstream(bench *b, const sc_var *y)
{
    const sc_tensor *t = sc_var_tensor(y);
    if (sc_param_create(b->ctx, "upstream", sc_tensor_ndim(t), sc_tensor_shape(t),
                        &b->upstream) != SC_OK)
        return -1;
    int64_t n = sc_var_numel(y);
    float *h = malloc((size_t)n * sizeof *h);
    if (!h)
        return -1;
    for (int64_t i = 0; i < n; i++)
        h[i] = (float)sc_rng_normal(&b->rng);
    sc_status st = sc_tensor_upload(sc_var_tensor(b->upstream), h);
    free(h);
    return st == SC_OK ? 0 : -1;
}

/* One timed run; fwdbwd adds the gradients. Returns ms or -1 on error. */
static double run_once(bench *b, sc_graph *g, bool backward)
{
    double t0 = now_ms();
    /* The ULE loss needs a recorded forward even for its value (the input
     * gradient is built with create_graph), as PyTorch's does. */
    bool ule = b->model && !strcmp(gets_(b->s, "loss", "ce"), "ule");
    sc_graph_set_recording(g, backward || ule);
    sc_var *y = build(b, g);
    if (y && backward) {
        sc_var *targets[MAX_IN + 256];
        int nt = 0;
        if (b->model) {
            for (size_t i = 0; i < sc_model_param_count(b->model); i++)
                targets[nt++] = sc_model_param(b->model, i);
        } else {
            for (int i = 0; i < b->n_in; i++)
                targets[nt++] = b->in[i];
        }
        /* a fixed upstream gradient, made on the first (warm-up) run and
         * kept, as torch_bench.py's grad_outputs is made once outside its
         * timing: a fill per run would time a memset torch does not do */
        sc_var *seed = NULL;
        if (sc_var_numel(y) != 1) {
            if (!b->upstream && make_upstream(b, y) != 0)
                return -1;
            seed = b->upstream;
        }
        sc_var *grads[MAX_IN + 256];
        sc_grad(g, 1, &y, &seed, nt, targets, false, grads);
    }
    sc_status st = sc_graph_status(g);
    if (st == SC_OK)
        st = sc_context_finish(sc_graph_context(g));
    double t = now_ms() - t0;
    sc_graph_reset(g);
    return st == SC_OK && y ? t : -1;
}

/* ---- memory: the pool's peak and the process's resident set --------------
 * On a CPU device the pool's buffers are host memory too, so the resident
 * set is what the step costs the machine; on a GPU the pool's peak is the
 * device memory. Per entry: the peak of both over the timed runs (the
 * kernel's VmHWM, reset through /proc/self/clear_refs, Linux >= 4.0) and
 * their growth from the first timed run to the last (0 when nothing
 * leaks or accumulates across steps). */
typedef struct mem_report {
    double rss_first_kb, rss_last_kb, rss_peak_kb;
    uint64_t pool_first, pool_last, pool_peak;
} mem_report;

static double proc_status_kb(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double v = -1;
    size_t n = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, key, n) && line[n] == ':') {
            v = atof(line + n + 1);
            break;
        }
    if (f)
        fclose(f);
    return v;
}

static void reset_rss_peak(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (f) {
        fputs("5", f);
        fclose(f);
    }
}

static void mem_mark(sc_context *ctx, double *rss_kb, uint64_t *pool_bytes)
{
    sc_pool_stats ps;
    sc_pool_get_stats(ctx, &ps);
    *rss_kb = proc_status_kb("VmRSS");
    *pool_bytes = ps.bytes_in_use;
}

static double median_ms(bench *b, sc_graph *g, bool backward, int warmup, int repeat,
                        mem_report *mem)
{
    for (int i = 0; i < warmup; i++)
        if (run_once(b, g, backward) < 0)
            return -1;
    if (mem) {
        reset_rss_peak();
        sc_pool_reset_peak(b->ctx);
    }
    double *t = malloc((size_t)repeat * sizeof *t);
    for (int i = 0; i < repeat; i++) {
        if ((t[i] = run_once(b, g, backward)) < 0) {
            free(t);
            return -1;
        }
        if (mem && i == 0)
            mem_mark(b->ctx, &mem->rss_first_kb, &mem->pool_first);
    }
    if (mem) {
        sc_pool_stats ps;
        mem_mark(b->ctx, &mem->rss_last_kb, &mem->pool_last);
        sc_pool_get_stats(b->ctx, &ps);
        mem->pool_peak = ps.bytes_peak;
        mem->rss_peak_kb = proc_status_kb("VmHWM");
    }
    qsort(t, (size_t)repeat, sizeof *t, cmp_double);
    double m = repeat % 2 ? t[repeat / 2] : 0.5 * (t[repeat / 2 - 1] + t[repeat / 2]);
    free(t);
    return m;
}

/* What one run asks of the queue (sc_context_queue_stats): counted on a
 * run after the timed ones, so the counts are of a warm run (programs
 * built, pool filled). */
static int count_run(bench *b, sc_graph *g, bool backward, sc_queue_stats *d)
{
    sc_queue_stats s0, s1;
    sc_context_queue_stats(b->ctx, &s0);
    if (run_once(b, g, backward) < 0)
        return -1;
    sc_context_queue_stats(b->ctx, &s1);
    *d = (sc_queue_stats){s1.kernels - s0.kernels, s1.gemms - s0.gemms,
                          s1.transfers - s0.transfers, s1.host_waits - s0.host_waits,
                          s1.narrow - s0.narrow};
    return 0;
}

static void print_counts(const char *pass, const sc_queue_stats *q)
{
    printf(", \"%s_kernels\": %llu, \"%s_gemms\": %llu, \"%s_transfers\": %llu, "
           "\"%s_waits\": %llu, \"%s_narrow\": %llu",
           pass, (unsigned long long)q->kernels, pass, (unsigned long long)q->gemms, pass,
           (unsigned long long)q->transfers, pass, (unsigned long long)q->host_waits, pass,
           (unsigned long long)q->narrow);
}

/* ---- --launch-cost: what one launch costs, below any op ----------------
 * Each probe runs `n` times in a block; the block is timed 7 times and the
 * median per call printed (microseconds):
 *   finish.empty        sc_context_finish on an empty queue (a round trip)
 *   kernel.queued       a one-element kernel (sc_tensor_fill), n enqueued,
 *                       one finish: the enqueue cost the host pays
 *   kernel.synced       the same kernel with a finish after each: enqueue,
 *                       run and wake-up, what a blocking call on the step
 *                       path costs
 *   graph_op.queued     a one-element op through the graph (sc_nn_scale:
 *                       argument checks, a pool buffer, a node), n queued
 *   gemm.1x1x1          a one-element matmul through the graph: the GEMM
 *                       provider's fixed cost (the host BLAS maps buffers and
 *                       waits for the queue; CLBlast enqueues kernels) */
enum { PROBES = 5, BLOCKS = 7 };

/* A fresh graph with the 1x1 input of the graph probes (the pool's
 * buffers come back at the reset). */
static sc_var *fresh_input(sc_context *ctx, sc_graph *g)
{
    int64_t sh[2] = {1, 1};
    float one = 1.0f;
    sc_context_finish(ctx);
    sc_graph_reset(g);
    return sc_var_from_host(g, 2, sh, &one, false);
}

static double probe_block(sc_context *ctx, sc_graph *g, sc_tensor *t, int probe, int n)
{
    bool graph = probe == 3 || probe == 4;
    sc_var *v = graph ? fresh_input(ctx, g) : NULL;
    double t0 = now_ms();
    for (int i = 0; i < n; i++) {
        sc_status st = SC_OK;
        switch (probe) {
        case 0: st = sc_context_finish(ctx); break;
        case 1: st = sc_tensor_fill(t, (double)i); break;
        case 2:
            st = sc_tensor_fill(t, (double)i);
            if (st == SC_OK)
                st = sc_context_finish(ctx);
            break;
        case 3: sc_nn_scale(g, v, 0.5f); break;
        case 4: sc_nn_matmul(g, v, v, false, false); break;
        }
        if (st != SC_OK)
            return -1;
        if (graph && (i % 64 == 63 || i == n - 1)) { /* bound the graph's size */
            if (sc_graph_status(g) != SC_OK)
                return -1;
            v = fresh_input(ctx, g);
        }
    }
    if (sc_context_finish(ctx) != SC_OK)
        return -1;
    return (now_ms() - t0) * 1e3 / n;
}

static int launch_cost(sc_context *ctx, int n)
{
    static const char *names[PROBES] = {"finish.empty", "kernel.queued", "kernel.synced",
                                        "graph_op.queued", "gemm.1x1x1"};
    int64_t one = 1;
    sc_tensor *t;
    sc_graph *g;
    if (sc_tensor_create(ctx, SC_F32, 1, &one, &t) != SC_OK ||
        sc_graph_create(ctx, &g) != SC_OK) {
        fprintf(stderr, "spurcl-bench: %s\n", sc_last_error());
        return 1;
    }
    int failures = 0;
    for (int p = 0; p < PROBES; p++) {
        double us[BLOCKS];
        int ok = 1;
        for (int r = -1; r < BLOCKS && ok; r++) { /* r = -1: warm-up (builds programs) */
            double x = probe_block(ctx, g, t, p, n);
            if (x < 0)
                ok = 0;
            else if (r >= 0)
                us[r] = x;
        }
        if (!ok) {
            fprintf(stderr, "# launch.%s: %s\n", names[p], sc_last_error());
            failures++;
            continue;
        }
        qsort(us, BLOCKS, sizeof *us, cmp_double);
        printf("{\"name\": \"launch.%s\", \"impl\": \"spurcl\", \"us_per_call\": %.2f, "
               "\"calls\": %d, \"device\": \"%s\"}\n",
               names[p], us[BLOCKS / 2], n, sc_context_device(ctx)->name);
        fflush(stdout);
    }
    sc_graph_free(g);
    sc_tensor_free(t);
    return failures ? 1 : 0;
}

static void print_ms(const char *key, double v)
{
    if (v < 0)
        printf("\"%s\": null", key);
    else
        printf("\"%s\": %.3f", key, v);
}

/* A whole-number option value within [lo, hi], or -1 after a message that
 * names the option. */
static int int_option(const char *name, const char *text, int lo, int hi)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < lo || v > hi) {
        fprintf(stderr, "spurcl-bench: --%s '%s': expected a whole number from %d to %d\n", name,
                text, lo, hi);
        return -1;
    }
    return (int)v;
}

int main(int argc, char **argv)
{
    sc_host_blas_fit(argv); /* OpenBLAS on the kernels the CPU can run, as spurcl does */
    const char *shapes = "bench/shapes.json", *only = NULL, *device = NULL;
    int repeat = 20, warmup = 3, c, fwdbwd_only = 0, launch_calls = 0;
    static const struct option opts[] = {
        {"shapes", required_argument, NULL, 's'}, {"repeat", required_argument, NULL, 'r'},
        {"warmup", required_argument, NULL, 'w'}, {"only", required_argument, NULL, 'o'},
        {"device", required_argument, NULL, 'd'}, {"help", no_argument, NULL, 'h'},
        {"fwdbwd-only", no_argument, NULL, 'F'}, {"launch-cost", optional_argument, NULL, 'L'},
        {NULL, 0, NULL, 0}};
    while ((c = getopt_long(argc, argv, "s:r:w:o:d:hFL::", opts, NULL)) != -1) {
        switch (c) {
        case 's': shapes = optarg; break;
        case 'r':
            if ((repeat = int_option("repeat", optarg, 1, 1000000)) < 0)
                return 2;
            break;
        case 'w':
            if ((warmup = int_option("warmup", optarg, 0, 1000000)) < 0)
                return 2;
            break;
        case 'o': only = optarg; break;
        case 'd': device = optarg; break;
        case 'F': fwdbwd_only = 1; break;
        case 'L':
            if ((launch_calls = optarg ? int_option("launch-cost", optarg, 1, 100000000) : 2000) < 0)
                return 2;
            break;
        case 'h':
            printf("usage: spurcl-bench [--shapes FILE] [--repeat N] [--warmup N] [--only SUBSTR] "
                   "[--device SEL] [--fwdbwd-only]\n"
                   "  --fwdbwd-only  time forward+backward only (fwd_ms null), e.g. for a\n"
                   "                 SPURCL_PROFILE of just the training step\n"
                   "  --launch-cost[=N] instead of the entries, the cost of one launch, N calls\n"
                   "                 per block (default 2000): an empty finish, a tiny kernel\n"
                   "                 queued and synced, a tiny graph op, a 1x1x1 GEMM\n");
            return 0;
        default: fprintf(stderr, "spurcl-bench: bad option; see --help\n"); return 2;
        }
    }
    if (launch_calls > 0) {
        sc_context *lc;
        if (sc_context_create(device, &lc) != SC_OK) {
            fprintf(stderr, "spurcl-bench: %s\n", sc_last_error());
            return 1;
        }
        fprintf(stderr, "# spurcl-bench --launch-cost on %s, %d calls per block\n",
                sc_context_device(lc)->name, launch_calls);
        int rc = launch_cost(lc, launch_calls);
        sc_context_free(lc);
        return rc;
    }
    uint8_t *text;
    size_t len;
    if (sc_io_read_file(shapes, 1 << 24, &text, &len) != SC_OK) {
        fprintf(stderr, "spurcl-bench: %s\n", sc_last_error());
        return 1;
    }
    cJSON *root = cJSON_ParseWithLength((const char *)text, len);
    free(text);
    const cJSON *entries = cJSON_GetObjectItemCaseSensitive(root, "entries");
    if (!cJSON_IsArray(entries)) {
        fprintf(stderr, "spurcl-bench: %s: no 'entries' array\n", shapes);
        cJSON_Delete(root);
        return 1;
    }
    sc_context *ctx;
    if (sc_context_create(device, &ctx) != SC_OK) {
        fprintf(stderr, "spurcl-bench: %s\n", sc_last_error());
        cJSON_Delete(root);
        return 1;
    }
    fprintf(stderr, "# spurcl-bench on %s, repeat %d, warmup %d\n", sc_context_device(ctx)->name,
            repeat, warmup);
    sc_graph *g;
    sc_graph_create(ctx, &g);
    const cJSON *e;
    int failures = 0;
    cJSON_ArrayForEach(e, entries)
    {
        const char *name = gets_(e, "name", "?");
        if (only && !strstr(name, only))
            continue;
        bench b = {.ctx = ctx, .s = cJSON_GetObjectItemCaseSensitive(e, "shapes"),
                   .op = gets_(e, "op", "")};
        sc_rng_seed(&b.rng, 7);
        double fwd = -1, fb = -1;
        sc_queue_stats qf = {0}, qb = {0};
        mem_report mem = {0};
        bool counted_f = false, counted_b = false;
        if (setup(&b) == 0) {
            if (!fwdbwd_only) {
                fwd = median_ms(&b, g, false, warmup, repeat, NULL);
                if (fwd < 0)
                    fprintf(stderr, "# %s: %s\n", name, sc_last_error());
                else
                    counted_f = count_run(&b, g, false, &qf) == 0;
            }
            fb = median_ms(&b, g, true, warmup, repeat, &mem);
            if (fb < 0)
                fprintf(stderr, "# %s (backward): %s\n", name, sc_last_error());
            else
                counted_b = count_run(&b, g, true, &qb) == 0;
        } else {
            fprintf(stderr, "# %s: op '%s' not set up: %s\n", name, b.op, sc_last_error());
        }
        failures += (!fwdbwd_only && fwd < 0) || fb < 0;
        printf("{\"name\": \"%s\", \"impl\": \"spurcl\", ", name);
        print_ms("fwd_ms", fwd);
        printf(", ");
        print_ms("fwdbwd_ms", fb);
        if (counted_f)
            print_counts("fwd", &qf);
        if (counted_b)
            print_counts("fwdbwd", &qb);
        if (fb >= 0)
            printf(", \"pool_peak_mb\": %.2f, \"pool_growth_kb\": %.1f, \"rss_peak_mb\": %.1f, "
                   "\"rss_growth_kb\": %.0f",
                   (double)mem.pool_peak / 1048576.0,
                   ((double)mem.pool_last - (double)mem.pool_first) / 1024.0,
                   mem.rss_peak_kb / 1024.0, mem.rss_last_kb - mem.rss_first_kb);
        printf(", \"device\": \"%s\"}\n", sc_context_device(ctx)->name);
        fflush(stdout);
        for (int i = 0; i < b.n_in; i++)
            sc_param_free(b.in[i]);
        sc_param_free(b.upstream);
        sc_param_free(b.smap);
        sc_tensor_free(b.labels_t);
        sc_model_free(b.model);
        free(b.labels);
        sc_graph_reset(g);
        sc_pool_trim(ctx); /* each entry's resident set starts without the last one's buffers */
    }
    sc_graph_free(g);
    sc_context_free(ctx);
    cJSON_Delete(root);
    return failures ? 1 : 0;
}
