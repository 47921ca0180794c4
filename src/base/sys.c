/* Monotonic clock, mkdir -p and string helpers. */
#include "base/base.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

double sc_time_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void sc_format_duration(char *buf, size_t n, double s)
{
    if (!(s >= 0) || s > 1e12) /* NaN, negative, absurd */
        s = s > 1e12 ? 1e12 : 0;
    long long t = (long long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, n, "%lldh%02lldm", t / 3600, (t / 60) % 60);
    else if (t >= 60)
        snprintf(buf, n, "%lldm%02llds", t / 60, t % 60);
    else
        snprintf(buf, n, "%llds", t);
}

static int is_dir(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static sc_status make_one(const char *path)
{
    if (!is_dir(path) && mkdir(path, 0777) != 0 && errno != EEXIST)
        return sc_error_set(SC_ERR_IO, "cannot create directory %s: %s", path, strerror(errno));
    return SC_OK;
}

sc_status sc_mkdir_p(const char *dir)
{
    char path[4096];
    if (!dir || !*dir || strlen(dir) >= sizeof path)
        return sc_error_set(SC_ERR_INVALID_ARG, "invalid directory name '%s'", dir ? dir : "");
    snprintf(path, sizeof path, "%s", dir);
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        SC_TRY(make_one(path));
        *p = '/';
    }
    SC_TRY(make_one(path));
    if (!is_dir(path))
        return sc_error_set(SC_ERR_IO, "%s exists and is not a directory", path);
    return SC_OK;
}

char *sc_strprintf(const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *p = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (p)
        vsnprintf(p, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    return p;
}

sc_status sc_oom(const char *what)
{
    return sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of host memory (%s)", what);
}

sc_status sc_enum_parse(const char *what, const char *const *names, int n, const char *s,
                        int *out)
{
    for (int i = 0; s && i < n; i++)
        if (names[i] && !strcasecmp(s, names[i])) {
            *out = i;
            return SC_OK;
        }
    char list[512];
    size_t len = 0;
    list[0] = '\0';
    for (int i = 0; i < n && len + 1 < sizeof list; i++)
        len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", names[i],
                                i + 2 < n ? ", " : i + 2 == n ? " or " : "");
    return sc_error_set(SC_ERR_INVALID_ARG, "unknown %s '%s' (expected %s)", what, s ? s : "",
                        list);
}

sc_status sc_enum_parse_alias(const char *what, const char *const *names, int n,
                              const char *const *aliases, const char *s, int *out)
{
    for (int i = 0; s && aliases && aliases[i]; i += 2)
        if (!strcasecmp(s, aliases[i]))
            s = aliases[i + 1];
    return sc_enum_parse(what, names, n, s, out);
}

const char *sc_enum_name(const char *const *names, int n, int v)
{
    return v >= 0 && v < n && names[v] ? names[v] : "?";
}

bool sc_parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end != '\0' || errno != 0 || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

bool sc_parse_f64(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || errno != 0 || !isfinite(v))
        return false;
    *out = v;
    return true;
}
