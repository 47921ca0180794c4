/* Training: exact resume, flat memory, and ULE beating ERM on a tiny
 * synthetic spurious task. Data sets are made here (no files needed). */
#define _GNU_SOURCE
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <unistd.h>

#include "core/core.h"
#include "spurcl/train.h"
#include "spurcl/ule.h"

/* Two classes on 8x8 images. The core feature is a faint bar (horizontal
 * for class 0, vertical for class 1) under noise; the spurious feature is a
 * bright 2x2 mark in the top-left (attribute 0) or top-right (attribute 1)
 * corner. Train: rho = 1 (mark always agrees); val: half conflicting;
 * test: half conflicting. */
static sc_dataset *toy(int64_t ntrain, int64_t nval, int64_t ntest, uint64_t seed)
{
    int64_t n = ntrain + nval + ntest;
    sc_dataset *d;
    TU_OK(sc_dataset_create(n, 1, 8, 8, 2, 2, &d));
    sc_rng rng;
    sc_rng_seed(&rng, seed);
    for (int64_t i = 0; i < n; i++) {
        int split = i < ntrain ? SC_SPLIT_TRAIN : i < ntrain + nval ? SC_SPLIT_VAL : SC_SPLIT_TEST;
        int y = (int)(i % 2);
        int a = split == SC_SPLIT_TRAIN ? y : (int)((i / 2) % 2);
        uint8_t *img = d->images + i * 64;
        for (int p = 0; p < 64; p++) {
            double v = 60 + 40 * sc_rng_normal(&rng);
            img[p] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
        int off = (int)sc_rng_below(&rng, 4) + 2; /* bar position 2..5 */
        for (int k = 1; k < 7; k++) {
            int p = y == 0 ? off * 8 + k : k * 8 + off;
            img[p] = (uint8_t)(img[p] + 70 > 255 ? 255 : img[p] + 70);
        }
        int mx = a == 0 ? 0 : 6;
        for (int dy = 0; dy < 2; dy++)
            for (int dx = 0; dx < 2; dx++)
                img[dy * 8 + mx + dx] = 255;
        d->labels[i] = y;
        d->attrs[i] = a;
        d->split[i] = split;
    }
    TU_OK(sc_dataset_update_groups(d));
    return d;
}


static float *params_host(sc_model *m, size_t *total)
{
    size_t n = 0;
    for (size_t i = 0; i < sc_model_param_count(m); i++)
        n += (size_t)sc_var_numel(sc_model_param(m, i));
    float *h = malloc(n * sizeof *h), *p = h;
    for (size_t i = 0; i < sc_model_param_count(m); i++) {
        TU_OK(sc_tensor_download(sc_var_tensor(sc_model_param(m, i)), p));
        p += sc_var_numel(sc_model_param(m, i));
    }
    *total = n;
    return h;
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
    float *pa = params_host(ra.model, &na), *pb = params_host(rb.model, &nb);
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
    /* resident size: no growth beyond 2 MiB from epoch 2 to epoch 6 */
    ck_assert_msg(t.rss[5] - t.rss[1] < 2048, "RSS grew from %ld KiB to %ld KiB", t.rss[1],
                  t.rss[5]);
    printf("  device buffers after epochs 2..6: %llu; RSS %ld -> %ld KiB\n",
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

int main(void)
{
    Suite *s = suite_create("train");
    TCase *tc = tcase_create("train");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, resume_is_bit_identical);
    tcase_add_test(tc, memory_stays_flat);
    tcase_add_test(tc, ule_teacher_beats_student_on_conflicting);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
