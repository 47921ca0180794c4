#include "train/train_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static int is_dir(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

sc_status sc__ensure_dir(const char *dir)
{
    char path[4096];
    if (!dir || !*dir || strlen(dir) >= sizeof path)
        return sc_error_set(SC_ERR_INVALID_ARG, "invalid run directory '%s'", dir ? dir : "");
    snprintf(path, sizeof path, "%s", dir);
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (!is_dir(path) && mkdir(path, 0777) != 0 && errno != EEXIST)
            return sc_error_set(SC_ERR_IO, "cannot create directory %s: %s", path, strerror(errno));
        *p = '/';
    }
    if (!is_dir(path) && mkdir(path, 0777) != 0 && errno != EEXIST)
        return sc_error_set(SC_ERR_IO, "cannot create directory %s: %s", path, strerror(errno));
    if (!is_dir(path))
        return sc_error_set(SC_ERR_IO, "%s exists and is not a directory", path);
    return SC_OK;
}

double sc__now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
