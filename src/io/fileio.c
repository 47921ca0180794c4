/* Atomic writes, whole-file reads and gzip decompression. */
#define _GNU_SOURCE /* realpath */
#include "spurcl/io.h"
#include "io/gz.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static atomic_uint tmp_counter;

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

static void atomic_clear(sc_io_atomic *w)
{
    free(w->path);
    free(w->tmp_path);
    w->fp = NULL;
    w->path = NULL;
    w->tmp_path = NULL;
}

/* Writing straight into an existing non-regular file (tmp_path stays NULL).
 * Opened non-blocking so a FIFO without a reader is an error, not a hang. */
static sc_status direct_begin(sc_io_atomic *w, const char *path)
{
    int fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return sc_error_set(SC_ERR_IO, "writing %s: cannot open: %s", path,
                            e == ENXIO ? "a FIFO with no reader" : strerror(e));
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        (void)fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    w->path = dup_str(path);
    w->fp = w->path ? fdopen(fd, "wb") : NULL;
    if (!w->fp) {
        close(fd);
        atomic_clear(w);
        return sc_error_set(SC_ERR_OUT_OF_MEMORY, "writing %s: out of memory", path);
    }
    return SC_OK;
}

sc_status sc_io_atomic_begin(sc_io_atomic *w, const char *path)
{
    w->fp = NULL;
    w->path = NULL;
    w->tmp_path = NULL;
    if (!path || !*path)
        return sc_error_set(SC_ERR_INVALID_ARG, "empty output path");
    /* What the name already is decides how it is written: a directory is an
     * error; a device, FIFO or socket (/dev/stdout, /dev/full, a pipe) is
     * written in place, never renamed over (as root a rename would replace
     * /dev/full itself with a regular file); a symbolic link to a regular
     * file is followed, so the link stays and its target is replaced. */
    struct stat sb;
    char *real = NULL;
    if (stat(path, &sb) == 0) {
        if (S_ISDIR(sb.st_mode))
            return sc_error_set(SC_ERR_IO, "writing %s: it is a directory, not a file", path);
        if (!S_ISREG(sb.st_mode))
            return direct_begin(w, path);
        struct stat lb;
        if (lstat(path, &lb) == 0 && S_ISLNK(lb.st_mode)) {
            real = realpath(path, NULL);
            if (!real) {
                int e = errno;
                return sc_error_set(SC_ERR_IO, "writing %s: cannot resolve the link: %s", path,
                                    strerror(e));
            }
            path = real;
        }
    }
    size_t len = strlen(path);
    size_t cap = len + 64;
    w->path = dup_str(path);
    w->tmp_path = malloc(cap);
    free(real); /* path is not read past this point except through w->path */
    path = w->path;
    if (!w->path || !w->tmp_path) {
        atomic_clear(w);
        return sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of memory (output path)");
    }
    for (int attempt = 0; attempt < 100; attempt++) {
        unsigned n = atomic_fetch_add(&tmp_counter, 1u);
        snprintf(w->tmp_path, cap, "%s.%ld.%u.tmp", path, (long)getpid(), n);
        int fd = open(w->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0) {
            if (errno == EEXIST)
                continue;
            int e = errno;
            sc_status st = sc_error_set(SC_ERR_IO, "writing %s: cannot create the temporary file %s: %s",
                                        path, w->tmp_path, strerror(e));
            atomic_clear(w);
            return st;
        }
        w->fp = fdopen(fd, "wb");
        if (!w->fp) {
            int e = errno;
            close(fd);
            unlink(w->tmp_path);
            sc_status st = sc_error_set(SC_ERR_IO, "writing %s: %s", path, strerror(e));
            atomic_clear(w);
            return st;
        }
        return SC_OK;
    }
    sc_status st = sc_error_set(SC_ERR_IO, "writing %s: no free temporary name beside it", path);
    atomic_clear(w);
    return st;
}

sc_status sc_io_atomic_commit(sc_io_atomic *w)
{
    if (!w->fp)
        return sc_error_set(SC_ERR_STATE, "atomic write committed without begin");
    sc_status st = SC_OK;
    int e = 0;
    if (ferror(w->fp) || fflush(w->fp) != 0)
        e = errno ? errno : EIO;
    if (!e && fsync(fileno(w->fp)) != 0 && errno != EINVAL && errno != EROFS)
        e = errno;
    if (fclose(w->fp) != 0 && !e)
        e = errno ? errno : EIO;
    w->fp = NULL;
    if (e) {
        st = sc_error_set(SC_ERR_IO, "writing %s: write failed: %s", w->path, strerror(e));
        if (w->tmp_path)
            unlink(w->tmp_path);
    } else if (w->tmp_path && rename(w->tmp_path, w->path) != 0) {
        e = errno;
        st = sc_error_set(SC_ERR_IO, "writing %s: cannot rename %s into place: %s", w->path,
                          w->tmp_path, strerror(e));
        unlink(w->tmp_path);
    }
    atomic_clear(w);
    return st;
}

void sc_io_atomic_abort(sc_io_atomic *w)
{
    if (!w)
        return;
    if (w->fp) {
        fclose(w->fp);
        w->fp = NULL;
    }
    if (w->tmp_path)
        unlink(w->tmp_path);
    atomic_clear(w);
}

sc_status sc_io_write_atomic(const char *path, sc_io_write_fn write, void *ctx)
{
    sc_io_atomic w;
    sc_status st = sc_io_atomic_begin(&w, path);
    if (st != SC_OK)
        return st;
    st = write(w.fp, ctx);
    if (st != SC_OK) {
        /* A body whose stream write failed and that did not say why: errno
         * is still that write's (nothing since has failed). */
        int e = errno;
        bool stream_failed = ferror(w.fp) != 0;
        sc_io_atomic_abort(&w);
        if (stream_failed && e && !strstr(sc_last_error(), strerror(e))) {
            char *msg = dup_str(sc_last_error());
            if (msg)
                sc_error_set(st, "%s: %s", msg, strerror(e));
            free(msg);
        }
        return sc_io_write_error(st, path);
    }
    return sc_io_atomic_commit(&w);
}

sc_status sc_io_write_error(sc_status st, const char *path)
{
    if (st != SC_OK && path && !strstr(sc_last_error(), path))
        sc_error_wrap(st, "writing %s", path);
    return st;
}

static sc_status write_text(FILE *fp, void *ud)
{
    const char *text = ud;
    size_t n = strlen(text);
    if (fwrite(text, 1, n, fp) != n || ((n == 0 || text[n - 1] != '\n') && fputc('\n', fp) == EOF))
        return sc_error_set(SC_ERR_IO, "write failed");
    return SC_OK;
}

sc_status sc_io_write_text_atomic(const char *path, const char *text)
{
    if (!text)
        return sc_error_set(SC_ERR_OUT_OF_MEMORY, "writing %s: out of host memory", path);
    return sc_io_write_atomic(path, write_text, (void *)text);
}

/* The writer's pid of a name "<name>.<pid>.<n>.tmp", or 0 when the name is
 * not one. */
static long tmp_writer_pid(const char *name)
{
    size_t len = strlen(name);
    if (len < 9 || strcmp(name + len - 4, ".tmp") != 0)
        return 0;
    const char *end = name + len - 4, *p = end;
    while (p > name && p[-1] >= '0' && p[-1] <= '9')
        p--;
    if (p == end || p == name || p[-1] != '.') /* <n> */
        return 0;
    const char *q = --p;
    while (p > name && p[-1] >= '0' && p[-1] <= '9')
        p--;
    if (p == q || p == name || p[-1] != '.') /* <pid> */
        return 0;
    return strtol(p, NULL, 10);
}

sc_status sc_io_remove_stale_tmp(const char *dir, int *removed)
{
    if (removed)
        *removed = 0;
    DIR *dp = opendir(dir);
    if (!dp)
        return errno == ENOENT ? SC_OK
                               : sc_error_set(SC_ERR_IO, "%s: cannot list: %s", dir,
                                              strerror(errno));
    sc_status st = SC_OK;
    struct dirent *e;
    while (st == SC_OK && (e = readdir(dp)) != NULL) {
        long pid = tmp_writer_pid(e->d_name);
        if (pid <= 0 || pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        size_t n = strlen(dir) + strlen(e->d_name) + 2;
        char *path = malloc(n);
        if (!path) {
            st = sc_error_set(SC_ERR_OUT_OF_MEMORY, "%s: out of memory", dir);
            break;
        }
        snprintf(path, n, "%s/%s", dir, e->d_name);
        if (unlink(path) == 0) {
            if (removed)
                ++*removed;
        } else if (errno != ENOENT) {
            st = sc_error_set(SC_ERR_IO, "%s: cannot remove: %s", path, strerror(errno));
        }
        free(path);
    }
    closedir(dp);
    return st;
}

sc_status sc_io_sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return sc_error_set(SC_ERR_IO, "%s: cannot open the directory: %s", dir, strerror(errno));
    int e = fsync(fd) != 0 ? errno : 0;
    close(fd);
    if (e && e != EINVAL && e != EROFS && e != EBADF)
        return sc_error_set(SC_ERR_IO, "%s: cannot sync the directory: %s", dir, strerror(e));
    return SC_OK;
}

sc_status sc_io_file_crc32(const char *path, uint64_t *bytes, uint32_t *crc)
{
    *bytes = 0;
    *crc = 0;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return sc_error_set(SC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        int e = errno;
        close(fd);
        return sc_error_set(SC_ERR_IO, "%s: %s", path,
                            e ? strerror(e) : "not a regular file");
    }
    enum { CHUNK = 1 << 20 };
    unsigned char *buf = malloc(CHUNK);
    if (!buf) {
        close(fd);
        return sc_error_set(SC_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    }
    uLong c = crc32(0L, Z_NULL, 0);
    uint64_t n = 0;
    for (;;) {
        ssize_t got = read(fd, buf, CHUNK);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            int e = errno;
            free(buf);
            close(fd);
            return sc_error_set(SC_ERR_IO, "%s: read error: %s", path, strerror(e));
        }
        if (got == 0)
            break;
        c = crc32(c, buf, (uInt)got);
        n += (uint64_t)got;
    }
    free(buf);
    close(fd);
    *bytes = n;
    *crc = (uint32_t)c;
    return SC_OK;
}

sc_status sc_io_read_file(const char *path, size_t max_size, uint8_t **data, size_t *size)
{
    *data = NULL;
    *size = 0;
    /* Non-blocking open: a FIFO without a writer would block here forever.
     * Only regular files are read (a FIFO, /dev/zero or a socket is refused
     * before a byte is read). */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return sc_error_set(SC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return sc_error_set(SC_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return sc_error_set(SC_ERR_IO, "%s: %s, not a regular file", path,
                            S_ISDIR(sb.st_mode)    ? "is a directory"
                            : S_ISFIFO(sb.st_mode) ? "is a FIFO"
                            : S_ISCHR(sb.st_mode)  ? "is a character device"
                            : S_ISSOCK(sb.st_mode) ? "is a socket"
                                                   : "is a special file");
    }
    /* A file already over the limit is refused before a byte is read. */
    if (sb.st_size > 0 && (uint64_t)sb.st_size > (uint64_t)max_size) {
        close(fd);
        return sc_error_set(SC_ERR_FORMAT, "%s: file of %lld bytes is larger than the limit of "
                            "%zu bytes", path, (long long)sb.st_size, max_size);
    }
    FILE *fp = fdopen(fd, "rb");
    if (!fp) {
        int e = errno;
        close(fd);
        return sc_error_set(SC_ERR_IO, "%s: cannot open: %s", path, strerror(e));
    }
    /* Read in chunks: a file whose size changes while it is read still ends
     * at its end or at the limit. */
    size_t cap = sb.st_size > 0 ? (size_t)sb.st_size + 1 : 65536;
    if (cap > max_size + 1)
        cap = max_size + 1;
    uint8_t *buf = malloc(cap + 1);
    if (!buf) {
        fclose(fp);
        return sc_error_set(SC_ERR_OUT_OF_MEMORY, "%s: out of memory reading %zu bytes", path, cap);
    }
    size_t n = 0;
    for (;;) {
        if (n == cap) {
            if (cap > max_size) {
                free(buf);
                fclose(fp);
                return sc_error_set(SC_ERR_FORMAT, "%s: file larger than the limit of %zu bytes",
                                    path, max_size);
            }
            size_t ncap = cap * 2 > max_size + 1 ? max_size + 1 : cap * 2;
            uint8_t *nb = realloc(buf, ncap + 1);
            if (!nb) {
                free(buf);
                fclose(fp);
                return sc_error_set(SC_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
            }
            buf = nb;
            cap = ncap;
        }
        size_t got = fread(buf + n, 1, cap - n, fp);
        n += got;
        if (got == 0) {
            if (ferror(fp)) {
                int e = errno;
                free(buf);
                fclose(fp);
                return sc_error_set(SC_ERR_IO, "%s: read error: %s", path, strerror(e));
            }
            break;
        }
    }
    fclose(fp);
    if (n > max_size) {
        free(buf);
        return sc_error_set(SC_ERR_FORMAT, "%s: file larger than the limit of %zu bytes", path,
                            max_size);
    }
    buf[n] = 0;
    *data = buf;
    *size = n;
    return SC_OK;
}

int sc_io_is_gzip(const uint8_t *data, size_t size)
{
    return size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
}

sc_status sc_io_gunzip(const uint8_t *data, size_t size, size_t max_out, const char *name,
                       uint8_t **out, size_t *out_size)
{
    *out = NULL;
    *out_size = 0;
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK)
        return sc_error_set(SC_ERR_OUT_OF_MEMORY, "%s: cannot initialise zlib", name);
    size_t cap = size * 2 + 1024;
    if (cap > max_out + 1)
        cap = max_out + 1;
    uint8_t *buf = malloc(cap);
    if (!buf) {
        inflateEnd(&zs);
        return sc_error_set(SC_ERR_OUT_OF_MEMORY, "%s: out of memory", name);
    }
    size_t pos = 0, n = 0;
    sc_status st = SC_OK;
    for (;;) {
        /* One gzip member. */
        int ret = Z_OK;
        while (ret != Z_STREAM_END) {
            if (n == cap) {
                if (cap > max_out) {
                    st = sc_error_set(SC_ERR_FORMAT,
                                      "%s: gzip stream decompresses to more than %zu bytes",
                                      name, max_out);
                    goto done;
                }
                size_t ncap = cap * 2 > max_out + 1 ? max_out + 1 : cap * 2;
                uint8_t *nb = realloc(buf, ncap);
                if (!nb) {
                    st = sc_error_set(SC_ERR_OUT_OF_MEMORY, "%s: out of memory", name);
                    goto done;
                }
                buf = nb;
                cap = ncap;
            }
            size_t in_chunk = size - pos > 1u << 30 ? 1u << 30 : size - pos;
            size_t out_chunk = cap - n > 1u << 30 ? 1u << 30 : cap - n;
            zs.next_in = (Bytef *)(uintptr_t)(data + pos);
            zs.avail_in = (uInt)in_chunk;
            zs.next_out = buf + n;
            zs.avail_out = (uInt)out_chunk;
            ret = inflate(&zs, Z_NO_FLUSH);
            pos += in_chunk - zs.avail_in;
            n += out_chunk - zs.avail_out;
            if (ret == Z_STREAM_END)
                break;
            if (ret == Z_BUF_ERROR && zs.avail_out != 0) {
                /* No progress possible and room left: the input ran out. */
                st = sc_error_set(SC_ERR_FORMAT,
                                  "%s: corrupt gzip stream: unexpected end of data after %zu "
                                  "compressed bytes", name, pos);
                goto done;
            }
            if (ret != Z_OK && ret != Z_BUF_ERROR) {
                st = sc_error_set(SC_ERR_FORMAT, "%s: corrupt gzip stream: %s", name,
                                  zs.msg ? zs.msg : zError(ret));
                goto done;
            }
        }
        /* Another member may follow (as `cat a.gz b.gz` makes); trailing
         * zero padding is ignored like gzip does. */
        while (pos < size && data[pos] == 0)
            pos++;
        if (pos >= size)
            break;
        if (inflateReset(&zs) != Z_OK) {
            st = sc_error_set(SC_ERR_FORMAT, "%s: corrupt gzip stream", name);
            goto done;
        }
    }
done:
    inflateEnd(&zs);
    if (st != SC_OK) {
        free(buf);
        return st;
    }
    *out = buf;
    *out_size = n;
    return SC_OK;
}

sc_status sc__gunzip_into(const uint8_t *data, size_t size, const char *name, uint8_t *out,
                          size_t cap, bool stop_full, size_t *produced, bool *more)
{
    *produced = 0;
    if (more)
        *more = false;
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK)
        return sc_error_set(SC_ERR_OUT_OF_MEMORY, "%s: cannot initialise zlib", name);
    size_t pos = 0, n = 0;
    uint8_t spare; /* where a byte past cap goes, to tell whether there is one */
    sc_status st = SC_OK;
    for (;;) {
        /* One gzip member. */
        int ret = Z_OK;
        while (ret != Z_STREAM_END) {
            bool full = n == cap;
            if (full && stop_full)
                goto done;
            size_t in_chunk = size - pos > 1u << 30 ? 1u << 30 : size - pos;
            size_t out_chunk = full ? 1 : cap - n > 1u << 30 ? 1u << 30 : cap - n;
            zs.next_in = (Bytef *)(uintptr_t)(data + pos);
            zs.avail_in = (uInt)in_chunk;
            zs.next_out = full ? &spare : out + n;
            zs.avail_out = (uInt)out_chunk;
            ret = inflate(&zs, Z_NO_FLUSH);
            pos += in_chunk - zs.avail_in;
            size_t got = out_chunk - zs.avail_out;
            if (full && got) {
                if (more)
                    *more = true;
                goto done;
            }
            if (!full)
                n += got;
            if (ret == Z_STREAM_END)
                break;
            if (ret == Z_BUF_ERROR && zs.avail_out != 0) {
                st = sc_error_set(SC_ERR_FORMAT,
                                  "%s: corrupt gzip stream: unexpected end of data after %zu "
                                  "compressed bytes", name, pos);
                goto done;
            }
            if (ret != Z_OK && ret != Z_BUF_ERROR) {
                st = sc_error_set(SC_ERR_FORMAT, "%s: corrupt gzip stream: %s", name,
                                  zs.msg ? zs.msg : zError(ret));
                goto done;
            }
        }
        while (pos < size && data[pos] == 0)
            pos++;
        if (pos >= size)
            break;
        if (inflateReset(&zs) != Z_OK) {
            st = sc_error_set(SC_ERR_FORMAT, "%s: corrupt gzip stream", name);
            goto done;
        }
    }
done:
    inflateEnd(&zs);
    *produced = n;
    return st;
}
