/* Crash consistency of a run's files (issue #19; the protocol: the header
 * of src/train/loop.h): a run stopped after each of its durable writes in
 * turn, as a kill -9 there would stop it, resumes to the uninterrupted
 * run's checkpoints, bit for bit, and to its metrics.jsonl lines. The
 * windows are driven by the loop's test hook, not by timing. Tiny data and
 * models: each run is a fraction of a second. */
#define _GNU_SOURCE
#include "suite.h"
#include "testutil.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "spurcl/io.h"
#include "spurcl/train.h"
#include "spurcl/ule.h"
#include "train/loop.h"

/* The shared toy: two classes by a faint bar, a corner mark that agrees
 * with the class in train and half the time in val and test. */
static sc_dataset *toy(int64_t ntrain, int64_t nval, int64_t ntest, uint64_t seed)
{
    return tu_toy_bars(ntrain, nval, ntest, seed, 0);
}

/* ---- the hook --------------------------------------------------------------------------- */

typedef struct writes {
    int stop_at;          /* stop after this write (0: never) */
    int n;                /* writes seen */
    char what[64][48];    /* what each was */
} writes;

static sc_status on_write(int n, const char *what, void *ud)
{
    writes *w = ud;
    w->n = n;
    if (n <= 64)
        snprintf(w->what[n - 1], sizeof w->what[0], "%s", what);
    return w->stop_at > 0 && n == w->stop_at ? SC_ERR_IO : SC_OK;
}

/* ---- comparisons --------------------------------------------------------------------------- */

static uint8_t *slurp(const char *dir, const char *name, size_t *size)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    uint8_t *data;
    sc_status st = sc_io_read_file(path, (size_t)1 << 26, &data, size);
    ck_assert_msg(st == SC_OK, "%s", sc_last_error());
    return data;
}

static void assert_same_file(const char *a, const char *b, const char *name, int n)
{
    size_t na, nb;
    uint8_t *da = slurp(a, name, &na), *db = slurp(b, name, &nb);
    ck_assert_msg(na == nb && memcmp(da, db, na) == 0,
                  "stopped after write %d and resumed: %s differs from the uninterrupted run's",
                  n, name);
    free(da);
    free(db);
}

/* A metrics line without its timing keys (epoch_s, images_per_s, ..._s). */
static cJSON *untimed(const char *line)
{
    cJSON *o = cJSON_Parse(line);
    ck_assert_msg(cJSON_IsObject(o), "metrics line is not JSON: %s", line);
    for (cJSON *it = o->child, *next; it; it = next) {
        next = it->next;
        size_t len = strlen(it->string);
        if (len >= 2 && !strcmp(it->string + len - 2, "_s"))
            cJSON_DeleteItemFromObjectCaseSensitive(o, it->string);
    }
    ck_assert_msg(cJSON_GetObjectItemCaseSensitive(o, "step") &&
                      cJSON_GetObjectItemCaseSensitive(o, "epoch"),
                  "metrics line without its epoch and step: %s", line);
    return o;
}

/* metrics.jsonl of b has exactly a's lines, in order, timing aside. */
static void assert_same_lines(const char *a, const char *b, int n)
{
    size_t na, nb;
    char *ta = (char *)slurp(a, "metrics.jsonl", &na), *tb = (char *)slurp(b, "metrics.jsonl", &nb);
    char *sa = NULL, *sb = NULL;
    char *la = strtok_r(ta, "\n", &sa), *lb = strtok_r(tb, "\n", &sb);
    int line = 1;
    for (; la && lb; la = strtok_r(NULL, "\n", &sa), lb = strtok_r(NULL, "\n", &sb), line++) {
        cJSON *oa = untimed(la), *ob = untimed(lb);
        ck_assert_msg(cJSON_Compare(oa, ob, true),
                      "stopped after write %d and resumed: metrics line %d differs:\n%s\n%s", n,
                      line, la, lb);
        cJSON_Delete(oa);
        cJSON_Delete(ob);
    }
    ck_assert_msg(!la && !lb, "stopped after write %d and resumed: metrics.jsonl has %s lines", n,
                  la ? "fewer" : "more");
    free(ta);
    free(tb);
}

/* No staged (.next) or temporary (.tmp) file is left. */
static void assert_clean(const char *dir, int n)
{
    DIR *dp = opendir(dir);
    ck_assert_ptr_nonnull(dp);
    struct dirent *e;
    while ((e = readdir(dp)) != NULL) {
        size_t len = strlen(e->d_name);
        bool left = (len > 5 && !strcmp(e->d_name + len - 5, ".next")) ||
                    (len > 4 && !strcmp(e->d_name + len - 4, ".tmp"));
        ck_assert_msg(!left, "stopped after write %d and resumed: %s/%s left", n, dir, e->d_name);
    }
    closedir(dp);
}

static void assert_same_params(sc_model *a, sc_model *b, const char *what, int n)
{
    size_t na, nb;
    float *pa = tu_params_host(a, &na), *pb = tu_params_host(b, &nb);
    ck_assert_uint_eq(na, nb);
    ck_assert_msg(memcmp(pa, pb, na * sizeof *pa) == 0,
                  "stopped after write %d and resumed: the %s differs", n, what);
    free(pa);
    free(pb);
}

static bool wrote(const writes *w, int from, const char *what)
{
    for (int i = from; i < w->n && i < 64; i++)
        if (!strcmp(w->what[i], what))
            return true;
    return false;
}

/* ---- ULE: two parts, last and best ----------------------------------------------------------- */

static void tiny_ule(sc_ule_config *u, char *dir)
{
    sc_ule_config_default(u);
    sc_ule_loss_config_default(&u->loss); /* the paper's mse penalty */
    u->student.cnn_c1 = u->teacher.cnn_c1 = 2;
    u->student.cnn_c2 = u->teacher.cnn_c2 = 4;
    u->student.cnn_fc = u->teacher.cnn_fc = 8;
    u->batch_size = 16;
    u->seed = 1;
    u->optim.lr = 0.01f;
    u->loss.lambda = 100;
    u->epochs = 3;
    u->select = SC_SELECT_VAL_AVG;
    u->run_dir = dir;
}

static const char *const ule_files[] = {"student.safetensors", "teacher.safetensors",
                                        "student-best.safetensors", "teacher-best.safetensors",
                                        "run.json"};

START_TEST(ule_stopped_after_any_write_resumes_bit_identically)
{
    sc_dataset *d = toy(64, 32, 16, 2); /* 4 steps an epoch */
    char *da = tu_tmpdir("crash");
    sc_ule_config u;
    tiny_ule(&u, da);
    writes wa = {0};
    sc__loop_set_write_hook(on_write, &wa);
    sc_ule_result ra;
    TU_OK(sc_train_ule(tu_ctx(), d, &u, &ra));
    /* the windows the issue names are there: the last epoch writes both
     * parts' last and best files (selection improves in it) */
    int final = wa.n - 1;
    while (final > 0 && strcmp(wa.what[final], "metrics.jsonl") != 0)
        final--;
    ck_assert_msg(wrote(&wa, final, "student.safetensors") &&
                      wrote(&wa, final, "teacher.safetensors") &&
                      wrote(&wa, final, "student-best.safetensors") &&
                      wrote(&wa, final, "teacher-best.safetensors"),
                  "the last epoch should write last and best files (%d writes)", wa.n);
    ck_assert_int_le(wa.n, 64);
    for (int n = 1; n <= wa.n; n++) {
        char *db = tu_tmpdir("crash");
        sc_ule_config v;
        tiny_ule(&v, db);
        writes wb = {.stop_at = n};
        sc__loop_set_write_hook(on_write, &wb);
        sc_ule_result rb;
        ck_assert_int_ne(sc_train_ule(tu_ctx(), d, &v, &rb), SC_OK);
        ck_assert_msg(strstr(sc_last_error(), "test hook"), "%s", sc_last_error());
        ck_assert_int_eq(wb.n, n);
        sc__loop_set_write_hook(NULL, NULL);
        v.resume = true;
        TU_OK(sc_train_ule(tu_ctx(), d, &v, &rb));
        for (size_t f = 0; f < sizeof ule_files / sizeof *ule_files; f++)
            assert_same_file(da, db, ule_files[f], n);
        assert_same_lines(da, db, n);
        assert_clean(db, n);
        ck_assert_int_eq(ra.selected_step, rb.selected_step);
        assert_same_params(ra.student, rb.student, "student", n);
        assert_same_params(ra.teacher, rb.teacher, "teacher", n);
        ck_assert(ra.teacher_val.accuracy == rb.teacher_val.accuracy);
        sc_ule_result_free(&rb);
        tu_rmtree(db);
    }
    sc_ule_result_free(&ra);
    sc_dataset_free(d);
    tu_rmtree(da);
}
END_TEST

/* ---- train --eval-every: lines inside the epoch, best inside the epoch -------------------- */

static void tiny_train(sc_train_config *c, char *dir)
{
    sc_train_config_default(c);
    c->model.cnn_c1 = 2;
    c->model.cnn_c2 = 4;
    c->model.cnn_fc = 8;
    c->batch_size = 8;
    c->seed = 4;
    c->epochs = 2;
    c->eval_every = 2;
    c->select = SC_SELECT_VAL_AVG;
    c->run_dir = dir;
}

static const char *const train_files[] = {"last.safetensors", "best.safetensors", "run.json"};

START_TEST(train_eval_every_stopped_after_any_write_resumes_bit_identically)
{
    sc_dataset *d = toy(40, 16, 16, 9); /* 5 steps an epoch: evaluations after 2, 4 and 5 */
    char *da = tu_tmpdir("crash");
    sc_train_config c;
    tiny_train(&c, da);
    writes wa = {0};
    sc__loop_set_write_hook(on_write, &wa);
    sc_train_result ra;
    TU_OK(sc_train_erm(tu_ctx(), d, &c, &ra));
    ck_assert_msg(wrote(&wa, 0, "best.safetensors"), "selection should improve");
    ck_assert_int_le(wa.n, 64);
    for (int n = 1; n <= wa.n; n++) {
        char *db = tu_tmpdir("crash");
        sc_train_config v;
        tiny_train(&v, db);
        writes wb = {.stop_at = n};
        sc__loop_set_write_hook(on_write, &wb);
        sc_train_result rb;
        ck_assert_int_ne(sc_train_erm(tu_ctx(), d, &v, &rb), SC_OK);
        ck_assert_int_eq(wb.n, n);
        sc__loop_set_write_hook(NULL, NULL);
        v.resume = true;
        TU_OK(sc_train_erm(tu_ctx(), d, &v, &rb));
        for (size_t f = 0; f < sizeof train_files / sizeof *train_files; f++)
            assert_same_file(da, db, train_files[f], n);
        assert_same_lines(da, db, n);
        assert_clean(db, n);
        ck_assert_int_eq(ra.selected_step, rb.selected_step);
        ck_assert_int_eq(ra.last_step, rb.last_step);
        assert_same_params(ra.model, rb.model, "selected model", n);
        ck_assert(ra.val.accuracy == rb.val.accuracy);
        sc_train_result_free(&rb);
        tu_rmtree(db);
    }
    sc_train_result_free(&ra);
    sc_dataset_free(d);
    tu_rmtree(da);
}
END_TEST

/* ---- what resume trusts ------------------------------------------------------------------------ */

static void append(const char *dir, const char *name, const char *text)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "ab");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static void copy_file(const char *from_dir, const char *from, const char *to_dir, const char *to)
{
    size_t n;
    uint8_t *data = slurp(from_dir, from, &n);
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", to_dir, to);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, n, f), n);
    fclose(f);
    free(data);
}

START_TEST(resume_checks_what_run_json_names)
{
    sc_dataset *d = toy(40, 16, 16, 9);
    char *da = tu_tmpdir("crash"), *db = tu_tmpdir("crash");
    sc_train_config c;
    tiny_train(&c, da);
    sc_train_result r;
    TU_OK(sc_train_erm(tu_ctx(), d, &c, &r));
    sc_train_result_free(&r);
    /* run.json names each file's epoch, step, size and checksum, and the
     * resume point */
    size_t n;
    char *txt = (char *)slurp(da, "run.json", &n);
    cJSON *o = cJSON_Parse(txt);
    free(txt);
    const cJSON *last = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(o, "files"), "last.safetensors");
    ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(last, "epoch")->valueint, 2);
    ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(last, "step")->valueint, 10);
    ck_assert(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(last, "crc32")));
    const cJSON *rp = cJSON_GetObjectItemCaseSensitive(o, "resume");
    ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(rp, "epoch")->valueint, 2);
    ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(rp, "step")->valueint, 10);
    cJSON_Delete(o);

    /* a line past the resume point and a half-written last line (a kill
     * mid-append) are cut; to more epochs the run goes on from there */
    tiny_train(&c, db);
    c.epochs = 1;
    TU_OK(sc_train_erm(tu_ctx(), d, &c, &r));
    sc_train_result_free(&r);
    append(db, "metrics.jsonl", "{\"epoch\":2,\"step\":7}\n{\"epoch\":2,\"st");
    c.epochs = 2;
    c.resume = true;
    TU_OK(sc_train_erm(tu_ctx(), d, &c, &r));
    sc_train_result_free(&r);
    assert_same_lines(da, db, 0);
    for (size_t f = 0; f < sizeof train_files / sizeof *train_files; f++)
        assert_same_file(da, db, train_files[f], 0);

    /* a staged file that run.json does not name is a commit that did not
     * happen: removed, not used */
    copy_file(db, "best.safetensors", db, "last.safetensors.next");
    TU_OK(sc_train_erm(tu_ctx(), d, &c, &r));
    sc_train_result_free(&r);
    assert_clean(db, 0);
    assert_same_file(da, db, "last.safetensors", 0);

    /* a checkpoint replaced behind the run's back is refused, named */
    copy_file(db, "best.safetensors", db, "last.safetensors");
    ck_assert_int_ne(sc_train_erm(tu_ctx(), d, &c, &r), SC_OK);
    ck_assert_msg(strstr(sc_last_error(), "last.safetensors") &&
                      strstr(sc_last_error(), "changed after the run wrote it"),
                  "%s", sc_last_error());

    /* a run directory without run.json (an older spurcl's) resumes from its
     * last files and gets the same run.json */
    copy_file(da, "last.safetensors", db, "last.safetensors");
    char path[1024];
    snprintf(path, sizeof path, "%s/run.json", db);
    ck_assert_int_eq(unlink(path), 0);
    TU_OK(sc_train_erm(tu_ctx(), d, &c, &r));
    sc_train_result_free(&r);
    for (size_t f = 0; f < sizeof train_files / sizeof *train_files; f++)
        assert_same_file(da, db, train_files[f], 0);
    sc_dataset_free(d);
    tu_rmtree(da);
    tu_rmtree(db);
}
END_TEST

int main(void)
{
    const tu_case cases[] = {
        {"crash", 600, {ule_stopped_after_any_write_resumes_bit_identically,
                        train_eval_every_stopped_after_any_write_resumes_bit_identically,
                        resume_checks_what_run_json_names}},
    };
    return tu_run(TU_SUITE("crash", cases));
}
