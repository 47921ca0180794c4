/* Helpers for the data suites: status assertions, temporary directories,
 * small files. Header-only so that each suite is one C file. */
#ifndef SC_DTEST_H
#define SC_DTEST_H

#include <check.h>
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spurcl/error.h"
#include "../suite.h"

#ifndef DT_FIXTURE_DIR
#define DT_FIXTURE_DIR "tests/data/fixtures"
#endif

#define DT_OK(expr) TU_OK(expr)

/* Asserts a failure with `status` whose message contains `needle1` (and
 * `needle2` when not NULL). */
static inline int dt_contains(const char *hay, const char *needle)
{
    return needle == NULL || strstr(hay, needle) != NULL;
}

#define DT_FAILS(expr, status, needle1, needle2)                                          \
    do {                                                                                  \
        sc_status dt_st_ = (expr);                                                        \
        ck_assert_msg(dt_st_ == (status), "%s -> %s (want %s): %s", #expr,                \
                      sc_status_name(dt_st_), sc_status_name(status), sc_last_error());   \
        ck_assert_msg(dt_contains(sc_last_error(), (needle1)),                            \
                      "%s: message '%s' lacks '%s'", #expr, sc_last_error(), (needle1));  \
        ck_assert_msg(dt_contains(sc_last_error(), (needle2)),                            \
                      "%s: message '%s' lacks the second needle", #expr, sc_last_error()); \
    } while (0)

static inline char *dt_mkdtemp(void)
{
    char *t = strdup("/tmp/spurcl-data-test-XXXXXX");
    ck_assert_ptr_nonnull(t);
    ck_assert_ptr_nonnull(mkdtemp(t));
    return t;
}

/* Removes the files of a flat directory and the directory. */
static inline void dt_rmtree(char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            char p[4096];
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
    free(dir);
}

static inline char *dt_path(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    ck_assert_ptr_nonnull(p);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static inline void dt_write(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot create %s", path);
    ck_assert_uint_eq(fwrite(data, 1, size, f), size);
    ck_assert_int_eq(fclose(f), 0);
}

static inline uint8_t *dt_read(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *size = (size_t)n;
    return b;
}

static inline int dt_count_files(const char *dir)
{
    int n = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL)
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    if (d)
        closedir(d);
    return n;
}

static inline int dt_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
