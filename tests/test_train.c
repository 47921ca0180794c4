/* Training: exact resume, flat memory, and ULE beating ERM on a tiny
 * synthetic spurious task. Data sets are made here (no files needed). */
#define _GNU_SOURCE
#include "suite.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "core/core.h"
#include "spurcl/io.h"
#include "spurcl/compare.h"
#include "spurcl/sys.h"
#include "train/train_internal.h"
#include "spurcl/nn.h"
#include "spurcl/train.h"
#include "spurcl/ule.h"

/* Two classes on 8x8 images. The core feature is a faint bar (horizontal
 * for class 0, vertical for class 1) under noise; the spurious feature is a
 * bright 2x2 mark in the top-left (attribute 0) or top-right (attribute 1)
 * corner. Train: rho = 1 (mark always agrees); val: half conflicting;
 * test: half conflicting. */
static sc_dataset *toy_conflicting(int64_t ntrain, int64_t nval, int64_t ntest, uint64_t seed,
                                   int every);

static sc_dataset *toy(int64_t ntrain, int64_t nval, int64_t ntest, uint64_t seed)
{
    return toy_conflicting(ntrain, nval, ntest, seed, 0);
}

/* The same with every `every`-th pair of training samples conflicting (0:
 * none). */
static sc_dataset *toy_conflicting(int64_t ntrain, int64_t nval, int64_t ntest, uint64_t seed,
                                   int every)
{
    return tu_toy_bars(ntrain, nval, ntest, seed, every);
}



static void small_cnn(sc_train_config *c)
{
    sc_train_config_default(c);
    c->model.cnn_c1 = 4;
    c->model.cnn_c2 = 8;
    c->model.cnn_fc = 16;
    c->batch_size = 32;
    c->seed = 5;
}

static void tiny_ule(sc_ule_config *u)
{
    sc_ule_config_default(u);
    sc_ule_loss_config_default(&u->loss); /* the paper's mse penalty */
    u->student.cnn_c1 = u->teacher.cnn_c1 = 4;
    u->student.cnn_c2 = u->teacher.cnn_c2 = 8;
    u->student.cnn_fc = u->teacher.cnn_fc = 16;
    u->batch_size = 32;
    u->seed = 5;
    u->loss.lambda = 100;
}

START_TEST(resume_is_bit_identical)
{
    sc_dataset *d = toy(300, 40, 40, 1);
    char *da = tu_tmpdir("train"), *db = tu_tmpdir("train");
    sc_train_config c;
    small_cnn(&c);
    c.epochs = 4;
    c.run_dir = da;
    sc_train_result ra, rb;
    TU_OK(sc_train_erm(tu_ctx(), d, &c, &ra));
    /* interrupted after 2 epochs, then resumed to 4 */
    c.run_dir = db;
    c.epochs = 2;
    TU_OK(sc_train_erm(tu_ctx(), d, &c, &rb));
    sc_train_result_free(&rb);
    c.epochs = 4;
    c.resume = true;
    TU_OK(sc_train_erm(tu_ctx(), d, &c, &rb));
    size_t na, nb;
    float *pa = tu_params_host(ra.model, &na), *pb = tu_params_host(rb.model, &nb);
    ck_assert_uint_eq(na, nb);
    ck_assert_msg(memcmp(pa, pb, na * sizeof(float)) == 0,
                  "resumed weights differ from the uninterrupted run");
    /* and the run did learn something */
    ck_assert_msg(ra.val.accuracy > 0.5, "val accuracy %g", ra.val.accuracy);
    /* resuming from a directory without a checkpoint names the file */
    char *dc = tu_tmpdir("train");
    c.run_dir = dc;
    sc_train_result rc;
    ck_assert_int_ne(sc_train_erm(tu_ctx(), d, &c, &rc), SC_OK);
    ck_assert_msg(strstr(sc_last_error(), "last.safetensors"), "%s", sc_last_error());
    free(pa);
    free(pb);
    sc_train_result_free(&ra);
    sc_train_result_free(&rb);
    sc_dataset_free(d);
    tu_rmtree(da);
    tu_rmtree(db);
    tu_rmtree(dc);
}
END_TEST


/* Every line of DIR/metrics.jsonl: its "step", "epoch_end" and number `key`. */
typedef struct eval_line {
    int64_t step;
    bool epoch_end;
    double value;
} eval_line;

static int read_evals(const char *dir, const char *key, eval_line *out, int max)
{
    char path[512];
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    uint8_t *txt;
    size_t size;
    TU_OK(sc_io_read_file(path, 1 << 22, &txt, &size));
    int n = 0;
    char *save = NULL;
    for (char *l = strtok_r((char *)txt, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        ck_assert_int_lt(n, max);
        cJSON *o = cJSON_Parse(l);
        ck_assert_msg(o != NULL, "metrics line %d is not JSON: %s", n + 1, l);
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(o, "step");
        const cJSON *ee = cJSON_GetObjectItemCaseSensitive(o, "epoch_end");
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
        ck_assert_msg(cJSON_IsNumber(st) && cJSON_IsBool(ee) && cJSON_IsNumber(v),
                      "metrics line %d lacks step, epoch_end or %s", n + 1, key);
        out[n++] = (eval_line){(int64_t)st->valuedouble, cJSON_IsTrue(ee), v->valuedouble};
        cJSON_Delete(o);
    }
    free(txt);
    return n;
}

/* Checks the evaluation schedule (every `every` steps of each epoch, and at
 * its end) and that selection took the first best line: returns its index. */
static int check_schedule(const eval_line *e, int n, int epochs, int64_t steps, int64_t every)
{
    int want = 0, best = 0;
    for (int ep = 0; ep < epochs; ep++) {
        for (int64_t s = every; s < steps; s += every) {
            ck_assert_int_lt(want, n);
            ck_assert_int_eq(e[want].step, ep * steps + s);
            ck_assert(!e[want].epoch_end);
            want++;
        }
        ck_assert_int_lt(want, n);
        ck_assert_int_eq(e[want].step, (ep + 1) * steps);
        ck_assert(e[want].epoch_end);
        want++;
    }
    ck_assert_int_eq(n, want);
    for (int i = 1; i < n; i++)
        if (e[i].value > e[best].value)
            best = i;
    return best;
}

START_TEST(eval_every_selects_among_all_evaluations)
{
    /* 300 training samples, batch 32: 10 steps an epoch; every 3 steps:
     * evaluations at 3, 6, 9 and 10 of each epoch */
    sc_dataset *d = toy(300, 40, 40, 4);
    char *dir = tu_tmpdir("train");
    sc_train_config c;
    small_cnn(&c);
    c.epochs = 2;
    c.eval_every = 3;
    c.select = SC_SELECT_VAL_AVG;
    c.run_dir = dir;
    eval_line e[32];
    sc_train_result r;
    for (int run = 0; run < 2; run++) { /* the second run starts metrics.jsonl anew */
        c.force = run > 0;                /* over the first one's files */
        TU_OK(sc_train_erm(tu_ctx(), d, &c, &r));
        int n = read_evals(dir, "val_acc", e, 32);
        int best = check_schedule(e, n, 2, 10, 3);
        ck_assert_int_eq(r.selected_step, e[best].step);
        ck_assert_int_eq(r.selected_epoch, (int)((e[best].step - 1) / 10) + 1);
        /* the selected model, reloaded and re-evaluated, is the logged one */
        ck_assert_msg(fabs(r.val.accuracy - e[best].value) < 1e-12, "selected %g, logged %g",
                      r.val.accuracy, e[best].value);
        sc_train_result_free(&r);
    }

    /* ULE: the same schedule, selection by the teacher's val accuracy */
    sc_ule_config u;
    tiny_ule(&u);
    u.epochs = 2;
    u.eval_every = 3;
    u.select = SC_SELECT_VAL_AVG;
    u.run_dir = dir;
    u.force = true;
    sc_ule_result ur;
    TU_OK(sc_train_ule(tu_ctx(), d, &u, &ur));
    int n = read_evals(dir, "teacher_val_acc", e, 32);
    int best = check_schedule(e, n, 2, 10, 3);
    ck_assert_int_eq(ur.selected_step, e[best].step);
    ck_assert_msg(fabs(ur.teacher_val.accuracy - e[best].value) < 1e-12, "selected %g, logged %g",
                  ur.teacher_val.accuracy, e[best].value);
    sc_ule_result_free(&ur);
    sc_dataset_free(d);
    tu_rmtree(dir);
}
END_TEST

START_TEST(ule_resume_is_bit_identical)
{
    /* 4 epochs at once against 2, then --resume to 4; selection by val every
     * 4 steps, so the restored selection state matters too (the selected
     * models may come from before the interruption: the logged losses check
     * the training after it) */
    sc_dataset *d = toy(300, 40, 40, 6);
    char *da = tu_tmpdir("train"), *db = tu_tmpdir("train");
    sc_ule_config u;
    tiny_ule(&u);
    u.select = SC_SELECT_VAL_AVG;
    u.eval_every = 4;
    u.epochs = 4;
    u.run_dir = da;
    sc_ule_result ra, rb;
    TU_OK(sc_train_ule(tu_ctx(), d, &u, &ra));
    u.run_dir = db;
    u.epochs = 2;
    TU_OK(sc_train_ule(tu_ctx(), d, &u, &rb));
    sc_ule_result_free(&rb);
    u.epochs = 4;
    u.resume = true;
    TU_OK(sc_train_ule(tu_ctx(), d, &u, &rb));
    ck_assert_int_eq(ra.selected_step, rb.selected_step);
    sc_model *ma[2] = {ra.student, ra.teacher}, *mb[2] = {rb.student, rb.teacher};
    for (int k = 0; k < 2; k++) {
        size_t na, nb;
        float *pa = tu_params_host(ma[k], &na), *pb = tu_params_host(mb[k], &nb);
        ck_assert_uint_eq(na, nb);
        ck_assert_msg(memcmp(pa, pb, na * sizeof(float)) == 0,
                      "resumed %s weights differ from the uninterrupted run",
                      k ? "teacher" : "student");
        free(pa);
        free(pb);
    }
    /* the same evaluations were logged, in order: the val losses (continuous,
     * unlike the accuracies) of both models, after the interruption too */
    static const char *keys[2] = {"student_val_loss", "teacher_val_loss"};
    for (int k = 0; k < 2; k++) {
        eval_line ea[64], eb[64];
        int na = read_evals(da, keys[k], ea, 64), nb = read_evals(db, keys[k], eb, 64);
        ck_assert_int_eq(na, nb);
        ck_assert_int_eq(na, 4 * 3); /* 10 steps an epoch: after 4, 8 and 10 */
        for (int i = 0; i < na; i++) {
            ck_assert_int_eq(ea[i].step, eb[i].step);
            ck_assert_msg(ea[i].value == eb[i].value, "%s at step %lld: %.9g vs %.9g resumed",
                          keys[k], (long long)ea[i].step, ea[i].value, eb[i].value);
        }
    }
    /* no checkpoint to resume from: the message names the file */
    char *dc = tu_tmpdir("train");
    u.run_dir = dc;
    sc_ule_result rc;
    ck_assert_int_ne(sc_train_ule(tu_ctx(), d, &u, &rc), SC_OK);
    ck_assert_msg(strstr(sc_last_error(), "student.safetensors"), "%s", sc_last_error());
    sc_ule_result_free(&ra);
    sc_ule_result_free(&rb);
    sc_dataset_free(d);
    tu_rmtree(da);
    tu_rmtree(db);
    tu_rmtree(dc);
}
END_TEST

#if defined(__SANITIZE_ADDRESS__)
#define TT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TT_ASAN 1
#endif
#endif

#ifdef TT_ASAN
/* AddressSanitizer keeps freed blocks in quarantine (up to 256 MiB), so the
 * resident size grows however flat the program's use is; its allocator's
 * count of live heap bytes is the measure there (a leak grows it too). */
size_t __sanitizer_get_current_allocated_bytes(void);
#define MEM_WHAT "live heap"
static long rss_kib(void)
{
    return (long)(__sanitizer_get_current_allocated_bytes() / 1024);
}
#else
#define MEM_WHAT "RSS"
static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, res = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &res) != 2)
            res = 0;
        fclose(f);
    }
    return res * (sysconf(_SC_PAGESIZE) / 1024);
}
#endif

typedef struct mem_trace {
    sc_context *ctx;
    uint64_t buffers[16];
    long rss[16];
    int n;
} mem_trace;

static void on_progress(const sc_train_progress *p, void *ud)
{
    mem_trace *t = ud;
    if (!p->epoch_done || t->n >= 16)
        return;
    sc_pool_stats st;
    sc_pool_get_stats(t->ctx, &st);
    t->buffers[t->n] = st.buffers_allocated;
    t->rss[t->n] = rss_kib();
    t->n++;
}

START_TEST(memory_stays_flat)
{
    sc_dataset *d = toy(600, 40, 40, 2);
    char *dir = tu_tmpdir("train");
    sc_train_config c;
    small_cnn(&c);
    c.epochs = 6;
    c.run_dir = dir;
    mem_trace t = {.ctx = tu_ctx()};
    c.progress = on_progress;
    c.progress_ud = &t;
    sc_train_result r;
    TU_OK(sc_train_erm(tu_ctx(), d, &c, &r));
    ck_assert_int_eq(t.n, 6);
    /* the pool stops allocating after the first epoch (its evaluation and
     * checkpoint included) */
    for (int e = 2; e < 6; e++)
        ck_assert_msg(t.buffers[e] == t.buffers[1], "epoch %d: %llu device buffers, epoch 2: %llu",
                      e + 1, (unsigned long long)t.buffers[e], (unsigned long long)t.buffers[1]);
    /* resident size (live heap under ASan): no growth beyond 2 MiB from
     * epoch 2 to epoch 6 */
    ck_assert_msg(t.rss[5] - t.rss[1] < 2048, MEM_WHAT " grew from %ld KiB to %ld KiB", t.rss[1],
                  t.rss[5]);
    printf("  device buffers after epochs 2..6: %llu; " MEM_WHAT " %ld -> %ld KiB\n",
           (unsigned long long)t.buffers[1], t.rss[1], t.rss[5]);
    sc_train_result_free(&r);
    sc_dataset_free(d);
    tu_rmtree(dir);
}
END_TEST

START_TEST(ule_teacher_beats_student_on_conflicting)
{
    sc_dataset *d = toy(800, 100, 400, 3);
    char *dir = tu_tmpdir("train");
    sc_ule_config c;
    sc_ule_config_default(&c);
    sc_ule_loss_config_default(&c.loss); /* the paper's mse penalty */
    c.student.cnn_c1 = c.teacher.cnn_c1 = 8;
    c.student.cnn_c2 = c.teacher.cnn_c2 = 8;
    c.student.cnn_fc = c.teacher.cnn_fc = 16;
    c.epochs = 6;
    c.batch_size = 32;
    c.seed = 7;
    c.loss.lambda = 100;
    c.run_dir = dir;
    sc_ule_result r;
    TU_OK(sc_train_ule(tu_ctx(), d, &c, &r));
    /* conflicting groups: (y, a) with y != a: groups 1 and 2 */
    double s = 0, t = 0;
    int64_t ns = 0, nt = 0;
    for (int g = 1; g <= 2; g++) {
        s += (double)r.student_test.correct[g];
        ns += r.student_test.total[g];
        t += (double)r.teacher_test.correct[g];
        nt += r.teacher_test.total[g];
    }
    double sacc = s / (double)ns, tacc = t / (double)nt;
    printf("  conflicting test accuracy: student %.3f, teacher %.3f (%lld samples)\n", sacc, tacc,
           (long long)ns);
    ck_assert_msg(tacc >= sacc + 0.2, "teacher %.3f vs student %.3f on conflicting samples", tacc,
                  sacc);
    sc_ule_result_free(&r);
    sc_dataset_free(d);
    tu_rmtree(dir);
}
END_TEST

/* GroupDRO: dro.csv's weights follow q_t = normalise(q_{t-1} exp(eta (l_g +
 * C / sqrt(n_g)))) from uniform, with l_g the logged group losses; the first
 * step's group losses are the initial model's per-group mean cross-entropy
 * on the first shuffled batch, computed here independently. */
START_TEST(group_dro_weights)
{
    sc_dataset *d = toy_conflicting(300, 40, 40, 2, 4);
    char *dir = tu_tmpdir("train");
    sc_dro_config c;
    sc_dro_config_default(&c);
    small_cnn(&c.train);
    c.train.epochs = 1;
    c.train.run_dir = dir;
    c.eta = 0.3;
    c.adjustment = 2.0;
    c.balanced = false; /* the first batch is the batcher's, recomputed below */
    sc_train_result r;
    TU_OK(sc_train_group_dro(tu_ctx(), d, &c, &r));
    double n_train[4] = {0};
    for (int64_t i = 0; i < d->n; i++)
        if (d->split[i] == SC_SPLIT_TRAIN)
            n_train[d->groups[i]]++;
    ck_assert(n_train[1] > 0 && n_train[2] > 0); /* minority groups exist */

    /* the first batch's group losses, from the initial model */
    sc_train_config mc = c.train;
    mc.model.in_channels = 1;
    mc.model.height = mc.model.width = 8;
    mc.model.num_classes = 2;
    sc_model *m;
    TU_OK(sc_model_create(tu_ctx(), &mc.model, &m));
    TU_OK(sc_model_init(m, mc.seed));
    sc_batch_opts bo = {.batch_size = mc.batch_size, .shuffle = true, .seed = mc.seed};
    sc_batcher *b;
    TU_OK(sc_batcher_create(d, SC_SPLIT_TRAIN, &bo, &b));
    sc_batcher_start_epoch(b, 0);
    const sc_batch *bt;
    TU_OK(sc_batcher_next(b, &bt));
    sc_graph *g;
    TU_OK(sc_graph_create(tu_ctx(), &g));
    int64_t xs[4] = {bt->size, 1, 8, 8}, ls[1] = {bt->size};
    sc_var *l = sc_nn_cross_entropy(g, sc_model_forward(m, g, sc_var_from_host(g, 4, xs,
                                                                                 bt->images, false),
                                                        true),
                                    sc_var_from_host_i32(g, 1, ls, bt->labels), NULL,
                                    SC_LOSS_NONE);
    TU_OK(sc_graph_status(g));
    float lv[64];
    TU_OK(sc_tensor_download(sc_var_tensor(l), lv));
    double first[4] = {0}, cnt[4] = {0};
    for (int64_t i = 0; i < bt->size; i++) {
        first[bt->groups[i]] += lv[i];
        cnt[bt->groups[i]]++;
    }

    char path[512];
    snprintf(path, sizeof path, "%s/dro.csv", dir);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    char line[4096];
    ck_assert_ptr_nonnull(fgets(line, sizeof line, f)); /* header */
    ck_assert_str_eq(line, "step,q0,q1,q2,q3,loss0,loss1,loss2,loss3\n");
    double q[4] = {0.25, 0.25, 0.25, 0.25};
    int rows = 0;
    while (fgets(line, sizeof line, f)) {
        double want[4], sum = 0, got[4], loss[4];
        char *p = line;
        long step = strtol(p, &p, 10);
        ck_assert_int_eq(step, rows + 1);
        for (int k = 0; k < 4; k++)
            got[k] = strtod(p + 1, &p);
        for (int k = 0; k < 4; k++) {
            p++; /* the comma */
            loss[k] = (*p == ',' || *p == '\n') ? 0 : strtod(p, &p);
        }
        if (rows == 0)
            for (int k = 0; k < 4; k++)
                ck_assert_msg(fabs(loss[k] - (cnt[k] ? first[k] / cnt[k] : 0)) < 1e-5,
                              "step 1, group %d: loss %.7g, computed %.7g", k, loss[k],
                              cnt[k] ? first[k] / cnt[k] : 0);
        for (int k = 0; k < 4; k++) {
            want[k] = q[k] * exp(c.eta * (loss[k] + c.adjustment / sqrt(n_train[k])));
            sum += want[k];
        }
        for (int k = 0; k < 4; k++) {
            want[k] /= sum;
            ck_assert_msg(fabs(got[k] - want[k]) <= 1e-7 + 1e-6 * want[k],
                          "step %d group %d: q %.9g, want %.9g", rows + 1, k, got[k], want[k]);
            q[k] = got[k];
        }
        rows++;
    }
    fclose(f);
    ck_assert_int_eq(rows, 10); /* 300 samples, batch 32 */
    /* the minority groups gained weight */
    ck_assert(q[1] > 0.25 && q[2] > 0.25);
    printf("  GroupDRO q after 10 steps: %.3f %.3f %.3f %.3f\n", q[0], q[1], q[2], q[3]);

    /* group-balanced draws: every group near 1/4 of 40,000 */
    int64_t *order = malloc(40000 * sizeof *order);
    TU_OK(sc_group_balanced_order(d, SC_SPLIT_TRAIN, 3, 0, 40000, order));
    int64_t per[4] = {0};
    for (int i = 0; i < 40000; i++) {
        ck_assert_int_eq(d->split[order[i]], SC_SPLIT_TRAIN);
        per[d->groups[order[i]]]++;
    }
    for (int k = 0; k < 4; k++)
        ck_assert_msg(llabs(per[k] - 10000) < 4 * 87, "group %d drawn %lld times", k,
                      (long long)per[k]); /* 4 sigma of Binomial(40000, 1/4) */
    free(order);
    sc_graph_free(g);
    sc_batcher_free(b);
    sc_model_free(m);
    sc_train_result_free(&r);
    sc_dataset_free(d);
    tu_rmtree(dir);
}
END_TEST

/* ULE in the paper's setting: both models start from a trained backbone
 * (an ERM checkpoint) that stays frozen; only the last layers move. */
START_TEST(ule_frozen_backbone)
{
    sc_dataset *d = toy_conflicting(300, 40, 40, 4, 0);
    char *dir = tu_tmpdir("train");
    sc_train_config c;
    small_cnn(&c);
    c.epochs = 1;
    c.run_dir = dir;
    sc_train_result er;
    TU_OK(sc_train_erm(tu_ctx(), d, &c, &er));
    char ck[512];
    snprintf(ck, sizeof ck, "%s/last.safetensors", dir);
    sc_ule_config u;
    tiny_ule(&u);
    u.epochs = 2;
    u.init = ck;
    u.freeze_backbone = true;
    char udir[600];
    snprintf(udir, sizeof udir, "%s/ule", dir);
    u.run_dir = udir;
    sc_ule_result ur;
    TU_OK(sc_train_ule(tu_ctx(), d, &u, &ur));
    sc_model *models[2] = {ur.student, ur.teacher};
    int moved = 0;
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < sc_model_param_count(er.model); i++) {
            sc_var *p0 = sc_model_param(er.model, i), *p1 = sc_model_param(models[k], i);
            size_t n = (size_t)sc_var_numel(p0);
            float *a = tu_download(sc_var_tensor(p0)), *b = tu_download(sc_var_tensor(p1));
            bool same = memcmp(a, b, n * sizeof *a) == 0;
            if (sc_model_is_head_param(er.model, sc_var_name(p0)))
                moved += !same;
            else
                ck_assert_msg(same, "%s: backbone parameter %s moved", k ? "teacher" : "student",
                              sc_var_name(p0));
            free(a);
            free(b);
        }
    ck_assert_int_eq(moved, 4); /* fc2.weight and fc2.bias of both models */
    /* the optimiser state is saved under the names of what it updates */
    char sp[700];
    snprintf(sp, sizeof sp, "%s/teacher.safetensors", udir);
    sc_safetensors *st;
    TU_OK(sc_safetensors_open(sp, &st));
    ck_assert_ptr_nonnull(sc_safetensors_find(st, "optim.fc2.weight.exp_avg"));
    ck_assert_ptr_null(sc_safetensors_find(st, "optim.conv1.weight.exp_avg"));
    sc_safetensors_close(st);
    /* and a frozen run resumes bit-identically: 1 epoch, then --resume to 2 */
    char rdir[700];
    snprintf(rdir, sizeof rdir, "%s/ule-resumed", dir);
    u.run_dir = rdir;
    u.epochs = 1;
    sc_ule_result r1;
    TU_OK(sc_train_ule(tu_ctx(), d, &u, &r1));
    sc_ule_result_free(&r1);
    u.epochs = 2;
    u.resume = true;
    TU_OK(sc_train_ule(tu_ctx(), d, &u, &r1));
    for (size_t i = 0; i < sc_model_param_count(ur.teacher); i++) {
        sc_var *a = sc_model_param(ur.teacher, i), *b = sc_model_param(r1.teacher, i);
        float *ha = tu_download(sc_var_tensor(a)), *hb = tu_download(sc_var_tensor(b));
        ck_assert_msg(memcmp(ha, hb, (size_t)sc_var_numel(a) * sizeof *ha) == 0,
                      "resumed frozen teacher differs at %s", sc_var_name(a));
        free(ha);
        free(hb);
    }
    sc_ule_result_free(&r1);
    sc_ule_result_free(&ur);
    sc_train_result_free(&er);
    sc_dataset_free(d);
    tu_rmtree(dir);
}
END_TEST

/* The comparison runner: a tiny comparison, then the same again (every run
 * skipped, the same table), then with one run's done.json removed (that run
 * alone trains again, the same table: runs are deterministic). */
START_TEST(compare_resumes)
{
    sc_dataset *d = toy_conflicting(200, 40, 40, 5, 4);
    char *dir = tu_tmpdir("compare");
    sc_compare_config c;
    sc_compare_config_default(&c);
    c.out = dir;
    c.seeds = 2;
    c.methods[SC_METHOD_JTT] = false;
    c.methods[SC_METHOD_GROUPDRO] = false;
    small_cnn(&c.train);
    c.train.epochs = 1;
    c.train.eval_every = 3;
    c.dfr.fits = 2;
    c.dfr.iterations = 50;
    c.grid = "ule.lambda=10,100";
    sc_compare_result a, b;
    TU_OK(sc_compare_run(tu_ctx(), d, &c, &a));
    /* ERM and DFR: 2 runs each; ULE: 2 settings x 2 seeds */
    ck_assert_int_eq(a.runs, 8);
    ck_assert_int_eq(a.skipped, 0);
    ck_assert_int_eq(a.nrows, 3);
    for (int i = 0; i < a.nrows; i++) {
        ck_assert_int_eq(a.rows[i].seeds, 2);
        ck_assert(isfinite(a.rows[i].no_labels.wga_mean) && isfinite(a.rows[i].with_labels.wga_mean));
        /* selecting on val worst-group cannot give a lower val worst-group */
        ck_assert(a.rows[i].with_labels.wga_mean >= 0 && a.rows[i].no_labels.avg_mean > 0.3);
    }
    ck_assert_str_eq(sc_method_name(a.rows[2].method), "ule");
    ck_assert(strstr(a.rows[2].no_labels.setting, "lambda=") == a.rows[2].no_labels.setting);
    TU_OK(sc_compare_run(tu_ctx(), d, &c, &b));
    ck_assert_int_eq(b.runs, 0);
    ck_assert_int_eq(b.skipped, 8);
    char path[600];
    snprintf(path, sizeof path, "%s/ule/lambda=100/seed-1/done.json", dir);
    ck_assert_int_eq(remove(path), 0);
    TU_OK(sc_compare_run(tu_ctx(), d, &c, &b));
    ck_assert_int_eq(b.runs, 1);
    ck_assert_int_eq(b.skipped, 7);
    for (int i = 0; i < a.nrows; i++) {
        ck_assert_str_eq(a.rows[i].no_labels.setting, b.rows[i].no_labels.setting);
        ck_assert(a.rows[i].no_labels.wga_mean == b.rows[i].no_labels.wga_mean);
        ck_assert(a.rows[i].with_labels.avg_mean == b.rows[i].with_labels.avg_mean);
    }
    static const char *const files[3] = {"results.csv", "results.json", "chart.png"};
    for (int k = 0; k < 3; k++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[k]);
        ck_assert_msg(access(path, R_OK) == 0, "%s missing", path);
    }
    /* results.csv: a header and two rules for each of the three methods */
    snprintf(path, sizeof path, "%s/results.csv", dir);
    uint8_t *txt;
    size_t size;
    TU_OK(sc_io_read_file(path, 1 << 20, &txt, &size));
    int lines = 0;
    for (size_t i = 0; i < size; i++)
        lines += txt[i] == '\n';
    ck_assert_int_eq(lines, 7);
    free(txt);
    sc_compare_config bad = c;
    bad.grid = "ule.gamma=1";
    ck_assert_int_eq(sc_compare_run(tu_ctx(), d, &bad, &b), SC_ERR_INVALID_ARG);
    ck_assert_msg(strstr(sc_last_error(), "ule.lambda"), "%s", sc_last_error());
    /* the same directory with another budget, method option or data set is
     * refused, naming the run, instead of reusing the other experiment's runs */
    sc_compare_config other = c;
    other.train.epochs = 2;
    ck_assert_int_eq(sc_compare_run(tu_ctx(), d, &other, &b), SC_ERR_INVALID_ARG);
    ck_assert_msg(strstr(sc_last_error(), "erm/seed-0/done.json was made with other settings"),
                  "%s", sc_last_error());
    other = c;
    other.ule_loss.penalty = SC_ULE_PENALTY_OVERLAP;
    ck_assert_int_eq(sc_compare_run(tu_ctx(), d, &other, &b), SC_ERR_INVALID_ARG);
    ck_assert_msg(strstr(sc_last_error(), "ule/lambda=10/seed-0/done.json"), "%s",
                  sc_last_error());
    d->labels[0] = 1 - d->labels[0];
    ck_assert_int_eq(sc_compare_run(tu_ctx(), d, &c, &b), SC_ERR_INVALID_ARG);
    d->labels[0] = 1 - d->labels[0];
    TU_OK(sc_compare_run(tu_ctx(), d, &c, &b)); /* unchanged: all found */
    ck_assert_int_eq(b.skipped, 8);
    /* another backbone: DFR refits it, both ULE models start from it and no
     * ERM model is trained; the backbone's architecture is used, not the
     * comparison's model option (an SSL encoder is not the default cnn) */
    char *dir2 = tu_tmpdir("compare");
    char backbone[600];
    snprintf(backbone, sizeof backbone, "%s/erm/seed-0/last.safetensors", dir);
    sc_compare_config bb = c;
    bb.out = dir2;
    bb.seeds = 1;
    bb.grid = NULL;
    for (int m = 0; m < SC_METHOD_COUNT; m++)
        bb.methods[m] = m == SC_METHOD_DFR || m == SC_METHOD_ULE;
    bb.backbone = backbone;
    bb.train.model.cnn_c1 = 6;
    bb.train.model.cnn_fc = 24;
    TU_OK(sc_compare_run(tu_ctx(), d, &bb, &b));
    ck_assert_int_eq(b.runs, 2);
    ck_assert_int_eq(b.nrows, 2);
    snprintf(path, sizeof path, "%s/ule/seed-0/teacher.safetensors", dir2);
    sc_model_config tmc;
    TU_OK(sc_checkpoint_model_config(path, &tmc));
    ck_assert_int_eq(tmc.cnn_c1, 4);
    ck_assert_int_eq(tmc.cnn_fc, 16);
    snprintf(path, sizeof path, "%s/erm", dir2);
    ck_assert_int_ne(access(path, F_OK), 0);
    snprintf(path, sizeof path, "%s/dfr/seed-0/dfr.safetensors", dir2);
    ck_assert_int_eq(access(path, R_OK), 0);
    /* the same backbone and seed give DFR the same result as in the first
     * comparison, whose seed-0 ERM model it is */
    snprintf(path, sizeof path, "%s/dfr/seed-0/done.json", dir);
    TU_OK(sc_io_read_file(path, 1 << 20, &txt, &size));
    const char *w = strstr((char *)txt, "\"test_avg\":");
    ck_assert_ptr_nonnull(w);
    double first_avg = strtod(w + strlen("\"test_avg\":"), NULL);
    free(txt);
    ck_assert_double_eq_tol(b.rows[0].no_labels.avg_mean, first_avg, 1e-12);
    tu_rmtree(dir2);
    sc_dataset_free(d);
    tu_rmtree(dir);
}
END_TEST

/* ---- checkpoint metadata ------------------------------------------------------ */

/* Copies the checkpoint `in` to `out` with metadata `key` set to `value`
 * (the model JSON's `field` replaced by `value` when field is not NULL). */
static void rewrite_meta(const char *in, const char *out, const char *key, const char *field,
                         const char *value)
{
    sc_safetensors *st;
    TU_OK(sc_safetensors_open(in, &st));
    size_t nt = sc_safetensors_count(st), nm = sc_safetensors_meta_count(st);
    sc_st_tensor *t = calloc(nt, sizeof *t);
    sc_st_meta *m = calloc(nm, sizeof *m);
    char model[2048];
    for (size_t i = 0; i < nt; i++)
        t[i] = *sc_safetensors_at(st, i);
    for (size_t i = 0; i < nm; i++) {
        m[i] = sc_safetensors_meta_at(st, i);
        if (strcmp(m[i].key, key) != 0)
            continue;
        if (!field) {
            m[i].value = value;
            continue;
        }
        /* "field":<number> -> "field":value */
        char pat[64];
        snprintf(pat, sizeof pat, "\"%s\":", field);
        const char *p = strstr(m[i].value, pat);
        ck_assert_ptr_nonnull(p);
        const char *rest = p + strlen(pat);
        while (*rest && *rest != ',' && *rest != '}')
            rest++;
        snprintf(model, sizeof model, "%.*s%s%s", (int)(p - m[i].value + strlen(pat)),
                 m[i].value, value, rest);
        m[i].value = model;
    }
    TU_OK(sc_safetensors_write(out, t, nt, m, nm));
    free(t);
    free(m);
    sc_safetensors_close(st);
}

START_TEST(checkpoint_metadata_is_range_checked)
{
    char *dir = tu_tmpdir("ckpt");
    sc_train_config c;
    small_cnn(&c);
    c.model.in_channels = 1;
    c.model.height = c.model.width = 8;
    c.model.num_classes = 2;
    sc_model *m;
    TU_OK(sc_model_create(tu_ctx(), &c.model, &m));
    TU_OK(sc_model_init(m, 1));
    size_t np = sc_model_param_count(m);
    sc_var **params = calloc(np, sizeof *params);
    for (size_t i = 0; i < np; i++)
        params[i] = sc_model_param(m, i);
    sc_optim *opt;
    TU_OK(sc_optim_create(tu_ctx(), &c.optim, params, np, &opt));
    char good[600], bad[600];
    snprintf(good, sizeof good, "%s/good.safetensors", dir);
    snprintf(bad, sizeof bad, "%s/bad.safetensors", dir);
    TU_OK(sc_checkpoint_save(good, m, opt, 7, 1, NULL));
    int epoch = -1;
    TU_OK(sc_checkpoint_load(good, m, opt, &epoch));
    ck_assert_int_eq(epoch, 7);
    /* epoch and optimiser steps: integers in range, or an error naming them */
    static const struct { const char *key, *value; } ints[] = {
        {"epoch", "abc"}, {"epoch", "-100"}, {"epoch", "7x"}, {"epoch", "99999999999"},
        {"optim_steps", "abc"}, {"optim_steps", "-1"}, {"optim_steps", "9223372036854775807"}};
    for (size_t k = 0; k < sizeof ints / sizeof ints[0]; k++) {
        rewrite_meta(good, bad, ints[k].key, NULL, ints[k].value);
        ck_assert_int_eq(sc_checkpoint_load(bad, m, opt, &epoch), SC_ERR_FORMAT);
        ck_assert_msg(strstr(sc_last_error(), ints[k].key) && strstr(sc_last_error(), bad),
                      "%s", sc_last_error());
    }
    /* the model's sizes: whole numbers, not rounded */
    sc_model_config mc;
    TU_OK(sc_checkpoint_model_config(good, &mc));
    ck_assert_int_eq(mc.num_classes, 2);
    ck_assert_int_eq(mc.cnn_fc, 16);
    static const struct { const char *field, *value; } sizes[] = {
        {"num_classes", "10.5"}, {"cnn_fc", "-16"}, {"height", "1e12"}, {"cnn_c1", "\"4\""},
        {"ln_eps", "0"}};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        rewrite_meta(good, bad, "model", sizes[k].field, sizes[k].value);
        ck_assert_int_eq(sc_checkpoint_model_config(bad, &mc), SC_ERR_FORMAT);
        ck_assert_msg(strstr(sc_last_error(), bad), "%s", sc_last_error());
    }
    /* sizes inside the metadata's range whose products would overflow int64
     * (2^24 channels x 2^24 x 2^24 pixels) are refused by the model itself */
    sc_model_config huge = c.model;
    huge.cnn_c2 = 1 << 24;
    huge.height = huge.width = 1 << 24;
    sc_model *none = NULL;
    ck_assert_int_eq(sc_model_create(tu_ctx(), &huge, &none), SC_ERR_INVALID_ARG);
    ck_assert_ptr_null(none);
    ck_assert_msg(strstr(sc_last_error(), "too large"), "%s", sc_last_error());
    /* a NaN weight is refused with the tensor's name, for resume and for a
     * plain model load (eval, probe, saliency, --init) */
    sc_safetensors *st;
    TU_OK(sc_safetensors_open(good, &st));
    size_t nt = sc_safetensors_count(st);
    sc_st_tensor *t = calloc(nt, sizeof *t);
    sc_st_meta meta[16];
    size_t nm = sc_safetensors_meta_count(st);
    ck_assert(nm <= 16);
    for (size_t i = 0; i < nm; i++)
        meta[i] = sc_safetensors_meta_at(st, i);
    float *copy = NULL;
    const char *poisoned = NULL;
    for (size_t i = 0; i < nt; i++) {
        t[i] = *sc_safetensors_at(st, i);
        if (!poisoned && t[i].dtype == SC_ST_F32 && strstr(t[i].name, "weight") &&
            strncmp(t[i].name, "optim.", 6) != 0) {
            uint64_t numel, nbytes;
            TU_OK(sc_st_tensor_nbytes(&t[i], &numel, &nbytes));
            copy = malloc(nbytes);
            memcpy(copy, t[i].data, nbytes);
            copy[numel / 2] = NAN;
            t[i].data = copy;
            poisoned = t[i].name;
        }
    }
    ck_assert_ptr_nonnull(poisoned);
    TU_OK(sc_safetensors_write(bad, t, nt, meta, nm));
    ck_assert_int_eq(sc_checkpoint_load(bad, m, opt, &epoch), SC_ERR_FORMAT);
    ck_assert_msg(strstr(sc_last_error(), poisoned) && strstr(sc_last_error(), "non-finite"), "%s",
                  sc_last_error());
    sc_model *plain = NULL;
    ck_assert_int_eq(sc_checkpoint_load_model(tu_ctx(), bad, &plain), SC_ERR_FORMAT);
    ck_assert_ptr_null(plain);
    /* an optimiser state of another shape (the audit's shrunk Adam moment,
     * read past its end) is refused with its name */
    const char *shrunk = NULL;
    for (size_t i = 0; i < nt; i++) {
        t[i] = *sc_safetensors_at(st, i);
        if (!shrunk && strncmp(t[i].name, "optim.", 6) == 0 && t[i].ndim >= 1 &&
            t[i].shape[0] > 1) {
            t[i].shape[0] -= 1;
            shrunk = t[i].name;
        }
    }
    ck_assert_ptr_nonnull(shrunk);
    TU_OK(sc_safetensors_write(bad, t, nt, meta, nm));
    ck_assert_int_eq(sc_checkpoint_load(bad, m, opt, &epoch), SC_ERR_FORMAT);
    ck_assert_msg(strstr(sc_last_error(), shrunk) && strstr(sc_last_error(), "needs shape"), "%s",
                  sc_last_error());
    free(copy);
    free(t);
    sc_safetensors_close(st);
    sc_optim_free(opt);
    free(params);
    sc_model_free(m);
    tu_rmtree(dir);
}
END_TEST

/* A data set without training samples is an error, not a model trained on nothing. */
START_TEST(empty_training_split_is_refused)
{
    sc_dataset *d;
    TU_OK(sc_dataset_create(20, 1, 8, 8, 2, 2, &d));
    for (int64_t i = 0; i < d->n; i++) {
        d->labels[i] = (int32_t)(i % 2);
        d->attrs[i] = (int32_t)((i / 2) % 2);
        d->split[i] = i < 10 ? SC_SPLIT_VAL : SC_SPLIT_TEST;
    }
    TU_OK(sc_dataset_update_groups(d));
    sc_train_config c;
    small_cnn(&c);
    c.epochs = 1;
    char *dir = tu_tmpdir("train");
    c.run_dir = dir;
    sc_train_result r;
    ck_assert_int_eq(sc_train_erm(tu_ctx(), d, &c, &r), SC_ERR_INVALID_ARG);
    ck_assert_msg(strstr(sc_last_error(), "training split is empty"), "%s", sc_last_error());
    sc_dataset_free(d);
    tu_rmtree(dir);
}
END_TEST

/* Every run records itself (sc_run_record, which the loop calls): a run
 * directory that is not empty is refused without resume or force;
 * config.json holds the caller's record, the run's settings and the data's
 * checksum; a resume compares the settings and refuses a change with one
 * line, unless overridden; epochs may grow. */
static cJSON *read_config(const char *dir)
{
    char path[600];
    snprintf(path, sizeof path, "%s/config.json", dir);
    uint8_t *txt;
    size_t n;
    TU_OK(sc_io_read_file(path, 1 << 20, &txt, &n));
    cJSON *c = cJSON_Parse((char *)txt);
    free(txt);
    ck_assert_ptr_nonnull(c);
    return c;
}

START_TEST(run_record_refuses_and_compares)
{
    sc_dataset *d = toy(60, 20, 20, 9), *other = toy(60, 20, 20, 10);
    char *dir = tu_tmpdir("train");
    sc_train_config c;
    small_cnn(&c);
    c.run_dir = dir;
    c.record = "{\"command\": \"test\", \"argv\": [\"a\", \"b\"], \"data_path\": \"toy.st\"}";
    TU_OK(sc_run_record(tu_ctx(), d, &c.run, "train")); /* an empty directory is fine */
    cJSON *cf = read_config(dir);
    ck_assert_str_eq(cJSON_GetObjectItem(cf, "command")->valuestring, "test");
    ck_assert_str_eq(cJSON_GetObjectItem(cf, "trainer")->valuestring, "train");
    ck_assert_str_eq(cJSON_GetObjectItem(cf, "spurcl")->valuestring, sc_version());
    ck_assert_str_eq(cJSON_GetObjectItem(cf, "git")->valuestring, sc_version_git());
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(cf, "argv")), 2);
    ck_assert_ptr_nonnull(cJSON_GetObjectItem(cf, "device"));
    /* the kernels' forms as sc_context_form says (the suite: the rules) */
    const cJSON *kf = cJSON_GetObjectItem(cf, "kernel_forms");
    ck_assert_int_eq(cJSON_GetArraySize(kf), 6);
    sc_form_info fi;
    TU_OK(sc_context_form(tu_ctx(), "norm", &fi));
    char form[64];
    snprintf(form, sizeof form, "%s (%s)", fi.form, fi.how);
    ck_assert_str_eq(cJSON_GetObjectItem(kf, "norm")->valuestring, form);
    ck_assert_str_eq(cJSON_GetObjectItem(kf, "attention")->valuestring, "composed (rule)");
    const cJSON *data = cJSON_GetObjectItem(cf, "data"), *run = cJSON_GetObjectItem(cf, "run");
    char hex[24];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)sc__data_hash(d));
    ck_assert_str_eq(cJSON_GetObjectItem(data, "fnv1a")->valuestring, hex);
    ck_assert_str_eq(cJSON_GetObjectItem(data, "path")->valuestring, "toy.st");
    ck_assert_double_eq(cJSON_GetObjectItem(run, "lr")->valuedouble, 0.001); /* not 0.0010000000474 */
    ck_assert_int_eq(cJSON_GetObjectItem(run, "batch")->valueint, 32);
    ck_assert_ptr_null(cJSON_GetObjectItem(cf, "free"));
    cJSON_Delete(cf);

    /* not empty: refused, naming the directory and both ways on */
    ck_assert_int_eq(sc_run_record(tu_ctx(), d, &c.run, "train"), SC_ERR_INVALID_ARG);
    ck_assert_msg(strstr(sc_last_error(), dir) && strstr(sc_last_error(), "is not empty") &&
                      strstr(sc_last_error(), "--resume") && strstr(sc_last_error(), "--force"),
                  "%s", sc_last_error());
    c.force = true;
    TU_OK(sc_run_record(tu_ctx(), d, &c.run, "train"));
    c.force = false;

    /* resume: the same settings and more epochs go on; another lr does not */
    c.resume = true;
    c.epochs += 3;
    TU_OK(sc_run_record(tu_ctx(), d, &c.run, "train"));
    c.optim.lr = 0.1f;
    c.batch_size = 16;
    ck_assert_int_eq(sc_run_record(tu_ctx(), d, &c.run, "train"), SC_ERR_INVALID_ARG);
    char want[700];
    snprintf(want, sizeof want, "--resume: settings changed: batch 32 -> 16, lr 0.001 -> 0.1 "
                                "(%s/config.json); pass --override batch,lr to accept", dir);
    ck_assert_str_eq(sc_last_error(), want);
    c.overrides = "lr";
    ck_assert_int_eq(sc_run_record(tu_ctx(), d, &c.run, "train"), SC_ERR_INVALID_ARG);
    ck_assert_msg(strstr(sc_last_error(), "setting changed: batch 32 -> 16") &&
                      !strstr(sc_last_error(), "lr 0.001"), "%s", sc_last_error());
    c.overrides = "batch,lr";
    TU_OK(sc_run_record(tu_ctx(), d, &c.run, "train"));
    cf = read_config(dir);
    ck_assert_double_eq_tol(cJSON_GetObjectItem(cJSON_GetObjectItem(cf, "run"), "lr")->valuedouble,
                            0.1, 1e-9);
    const cJSON *h = cJSON_GetArrayItem(cJSON_GetObjectItem(cf, "history"), 1);
    ck_assert_ptr_nonnull(cJSON_GetObjectItem(cJSON_GetObjectItem(h, "changed"), "lr"));
    cJSON_Delete(cf);
    /* an override of no setting is a typo, not a no-op */
    c.overrides = "learning-rate";
    ck_assert_int_eq(sc_run_record(tu_ctx(), d, &c.run, "train"), SC_ERR_INVALID_ARG);
    ck_assert_msg(strstr(sc_last_error(), "--override learning-rate: no such setting"), "%s",
                  sc_last_error());
    /* other data: its checksum differs */
    c.overrides = NULL;
    ck_assert_int_eq(sc_run_record(tu_ctx(), other, &c.run, "train"), SC_ERR_INVALID_ARG);
    ck_assert_msg(strstr(sc_last_error(), "setting changed: data toy.st (fnv1a ") &&
                      strstr(sc_last_error(), "pass --override data"), "%s", sc_last_error());
    c.overrides = "data";
    TU_OK(sc_run_record(tu_ctx(), other, &c.run, "train"));

    /* the caller's settings are what is compared when both files have them */
    c.overrides = NULL;
    c.force = true;
    c.resume = false;
    c.record = "{\"settings\": {\"lambda\": \"10,100\", \"json\": \"a.json\"}, "
               "\"free\": [\"json\"]}";
    TU_OK(sc_run_record(tu_ctx(), d, &c.run, "ule"));
    c.force = false;
    c.resume = true;
    c.optim.lr = 0.5f; /* in "run" only: not compared */
    c.record = "{\"settings\": {\"lambda\": \"10,100\", \"json\": \"b.json\"}, "
               "\"free\": [\"json\"]}";
    TU_OK(sc_run_record(tu_ctx(), d, &c.run, "ule"));
    c.record = "{\"settings\": {\"lambda\": \"10\", \"json\": \"b.json\"}}";
    ck_assert_int_eq(sc_run_record(tu_ctx(), d, &c.run, "ule"), SC_ERR_INVALID_ARG);
    ck_assert_msg(strstr(sc_last_error(), "setting changed: lambda 10,100 -> 10 "), "%s",
                  sc_last_error());
    sc_dataset_free(d);
    sc_dataset_free(other);
    tu_rmtree(dir);
}
END_TEST

/* The loop records the run and refuses a changed setting before it loads or
 * trains anything; GroupDRO's dro.csv does not make a new directory look
 * used. */
START_TEST(loop_records_the_run)
{
    sc_dataset *d = toy(60, 20, 20, 11);
    char *dir = tu_tmpdir("train");
    sc_dro_config c;
    sc_dro_config_default(&c);
    small_cnn(&c.train);
    c.train.epochs = 1;
    c.train.run_dir = dir;
    sc_train_result r;
    TU_OK(sc_train_group_dro(tu_ctx(), d, &c, &r));
    sc_train_result_free(&r);
    cJSON *cf = read_config(dir);
    ck_assert_str_eq(cJSON_GetObjectItem(cf, "trainer")->valuestring, "groupdro");
    cJSON_Delete(cf);
    ck_assert_int_eq(sc_train_group_dro(tu_ctx(), d, &c, &r), SC_ERR_INVALID_ARG);
    c.train.resume = true;
    c.train.epochs = 2;
    uint64_t seed = c.train.seed;
    c.train.seed = seed + 1;
    ck_assert_int_eq(sc_train_group_dro(tu_ctx(), d, &c, &r), SC_ERR_INVALID_ARG);
    char want[64];
    snprintf(want, sizeof want, "setting changed: seed %llu -> %llu", (unsigned long long)seed,
             (unsigned long long)seed + 1);
    ck_assert_msg(strstr(sc_last_error(), want), "%s", sc_last_error());
    c.train.seed = seed;
    TU_OK(sc_train_group_dro(tu_ctx(), d, &c, &r));
    ck_assert_int_eq(r.selected_epoch, 2);
    sc_train_result_free(&r);
    sc_dataset_free(d);
    tu_rmtree(dir);
}
END_TEST

/* What the progress callback got: the lines by kind, the last timed one. */
typedef struct progress_lines {
    int timed, evals, epochs, other;
    char last_timed[1024];
} progress_lines;

static void count_lines(const sc_train_progress *p, void *ud)
{
    progress_lines *c = ud;
    if (!p->line)
        return;
    if (p->timed) {
        c->timed++;
        snprintf(c->last_timed, sizeof c->last_timed, "%s", p->line);
    } else if (p->epoch_done) {
        c->epochs++;
    } else if (p->evaluated) {
        c->evals++;
    } else {
        c->other++;
    }
}

/* DIR/log.txt's lines after their timestamps, each checked (they point
 * into *txt, which the caller frees); returns the count. */
static int read_log(const char *dir, char **lines, int max, uint8_t **txt)
{
    char path[512];
    snprintf(path, sizeof path, "%s/log.txt", dir);
    size_t size;
    TU_OK(sc_io_read_file(path, 1 << 20, txt, &size));
    int n = 0;
    char *save = NULL;
    for (char *l = strtok_r((char *)*txt, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        ck_assert_int_lt(n, max);
        int y, mo, dd, h, mi, s, used = 0;
        ck_assert_msg(sscanf(l, "%4d-%2d-%2d %2d:%2d:%2d  %n", &y, &mo, &dd, &h, &mi, &s, &used) ==
                              6 && used == 21,
                      "log line %d has no timestamp: %s", n + 1, l);
        lines[n++] = l + used;
    }
    return n;
}

/* Every run with a directory keeps DIR/log.txt (its start, every line the
 * progress callback gets, its end; appended on resume) and DIR/curves.png
 * (ERM: loss and val accuracy, 840 x 340; ULE: four panels, 840 x 680). */
START_TEST(runs_keep_a_log_and_curves)
{
    sc_dataset *d = toy(300, 40, 40, 3);
    char *dir = tu_tmpdir("train");
    sc_train_config c;
    small_cnn(&c);
    ck_assert_double_eq(c.log_every, SC_LOG_EVERY_DEFAULT);
    c.epochs = 2;
    c.eval_every = 4;
    c.run_dir = dir;
    c.log_every = 1e-9; /* a timed line at every step without an evaluation */
    progress_lines pl = {0};
    c.progress = count_lines;
    c.progress_ud = &pl;
    sc_train_result r;
    TU_OK(sc_train_erm(tu_ctx(), d, &c, &r));
    sc_train_result_free(&r);
    /* 10 steps an epoch, evaluations after 4 and 8: 8 timed lines an epoch */
    ck_assert_int_eq(pl.evals, 4);
    ck_assert_int_eq(pl.epochs, 2);
    ck_assert_int_eq(pl.timed, 16);
    ck_assert_int_eq(pl.other, 0);
    ck_assert_msg(strstr(pl.last_timed, "train step 20/20 (epoch 2/2)") &&
                      strstr(pl.last_timed, " img/s  ETA 0s  last eval: val acc 0."),
                  "%s", pl.last_timed);
    char *lines[64];
    uint8_t *txt;
    int n = read_log(dir, lines, 64, &txt);
    ck_assert_int_eq(n, 1 + 4 + 2 + 16 + 1);
    ck_assert_msg(strstr(lines[0], "train: new run of 2 epochs, 10 steps each (batch 32)"), "%s",
                  lines[0]);
    /* start; steps 1-3 timed, 4 evaluated, 5-7 timed, 8 evaluated, 9-10
     * timed; the epoch's line */
    ck_assert_msg(strstr(lines[8], "train eval at step 8/20 (epoch 1/2)  loss ") &&
                      strstr(lines[8], "  val acc "),
                  "%s", lines[8]);
    ck_assert_msg(!strncmp(lines[11], "train epoch 1/2  loss ", 22), "%s", lines[11]);
    ck_assert_msg(strstr(lines[n - 1], "train: finished: 2 epochs trained in "), "%s",
                  lines[n - 1]);
    free(txt);
    tu_assert_plot(dir, "curves.png", 840, 340, 5000, 100);
    /* resumed to 3 epochs: the log goes on */
    c.epochs = 3;
    c.resume = true;
    c.log_every = 0;
    TU_OK(sc_train_erm(tu_ctx(), d, &c, &r));
    sc_train_result_free(&r);
    n = read_log(dir, lines, 64, &txt);
    ck_assert_int_eq(n, 24 + 1 + 2 + 1 + 1);
    ck_assert_msg(strstr(lines[24], "train: resumed at epoch 2 of 3 (step 20)"), "%s", lines[24]);
    ck_assert_msg(!strncmp(lines[27], "train epoch 3/3  loss ", 22), "%s", lines[27]);
    free(txt);
    tu_assert_plot(dir, "curves.png", 840, 340, 5000, 100);
    /* ULE: student and teacher */
    char *du = tu_tmpdir("train");
    sc_ule_config u;
    tiny_ule(&u);
    u.epochs = 1;
    u.eval_every = 3;
    u.run_dir = du;
    sc_ule_result ur;
    TU_OK(sc_train_ule(tu_ctx(), d, &u, &ur));
    sc_ule_result_free(&ur);
    n = read_log(du, lines, 64, &txt);
    ck_assert_int_eq(n, 1 + 3 + 1 + 1);
    ck_assert_msg(strstr(lines[4], "ule epoch 1/1  student ce "), "%s", lines[4]);
    free(txt);
    tu_assert_plot(du, "curves.png", 840, 680, 10000, 200);
    sc_dataset_free(d);
    tu_rmtree(dir);
    tu_rmtree(du);
}
END_TEST

int main(void)
{
    const tu_case cases[] = {
        {"train", 600, {resume_is_bit_identical, memory_stays_flat,
                eval_every_selects_among_all_evaluations, ule_resume_is_bit_identical,
                ule_teacher_beats_student_on_conflicting, group_dro_weights, ule_frozen_backbone,
                compare_resumes, checkpoint_metadata_is_range_checked,
                empty_training_split_is_refused, run_record_refuses_and_compares,
                loop_records_the_run, runs_keep_a_log_and_curves}},
    };
    return tu_run(TU_SUITE("train", cases));
}
