/* spurcl: file formats and file helpers.
 *
 * - atomic writes: write to a temporary file in the target's directory, then
 *   rename it over the target, so a reader never sees a half-written file;
 * - whole-file reads and gzip decompression (with size limits);
 * - safetensors (https://github.com/huggingface/safetensors format): a
 *   general writer (named tensors + string metadata) and a validating reader;
 * - PNG read (grey, grey+alpha, RGB, RGBA, palette, 1..16 bit, all converted
 *   to 8-bit grey or RGB) and write.
 *
 * Every function returns an sc_status and, on failure, sets a detail
 * (sc_last_error()) that names the file and what is wrong. */
#ifndef SPURCL_IO_H
#define SPURCL_IO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "spurcl/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------
 * Atomic writes
 * ------------------------------------------------------------------------ */

typedef struct sc_io_atomic {
    FILE *fp;        /* write the content here */
    char *path;      /* final name */
    char *tmp_path;  /* "<path>.<pid>.<n>.tmp", in the same directory; NULL when
                        `path` is a device, FIFO or socket, written in place */
} sc_io_atomic;

/* Creates the temporary file (mode 0666 minus umask, like fopen). A `path`
 * that is a directory is refused; one that is a device, FIFO or socket
 * (/dev/stdout, a pipe) is written in place instead, never replaced (a FIFO
 * with no reader is an error, not a wait); a symbolic link to a regular file
 * is followed, so the link survives and its target is replaced. */
SC_API sc_status sc_io_atomic_begin(sc_io_atomic *w, const char *path);
/* Flushes, fsyncs, closes and renames the temporary file to the final name.
 * On any failure the temporary file is removed. `w` is cleared either way. */
SC_API sc_status sc_io_atomic_commit(sc_io_atomic *w);
/* Closes and removes the temporary file (the target is untouched). Safe on a
 * cleared or never-begun (zeroed) `w`. */
SC_API void sc_io_atomic_abort(sc_io_atomic *w);

/* Callback form: `write` fills `fp`; the file is committed if it returns
 * SC_OK, else aborted and its status returned. */
typedef sc_status (*sc_io_write_fn)(FILE *fp, void *ctx);
SC_API sc_status sc_io_write_atomic(const char *path, sc_io_write_fn write, void *ctx);
/* The same for a text already made (a JSON document, say): `text` is
 * written as is, with a final newline added when it lacks one. A NULL
 * `text` (its maker ran out of memory) is SC_ERR_OUT_OF_MEMORY naming
 * `path`, and nothing is written. */
SC_API sc_status sc_io_write_text_atomic(const char *path, const char *text);
/* The writers above name the file in every error they set ("writing PATH:
 * ..."). A caller whose own step can fail too hands its status here: `st`
 * is returned as is, and a failure whose message does not name `path` yet
 * is wrapped as "writing PATH: <message>", so the file is named once. */
SC_API sc_status sc_io_write_error(sc_status st, const char *path);

/* Removes the temporary files "<name>.<pid>.<n>.tmp" in `dir` whose writer
 * process no longer exists (a writer killed mid-write leaves one); those of
 * live processes and every other file stay. *removed (may be NULL) gets the
 * count. A missing directory is not an error. */
SC_API sc_status sc_io_remove_stale_tmp(const char *dir, int *removed);

/* Makes the renames and creations in `dir` durable (fsync of the directory;
 * a file system that cannot sync a directory is not an error). A protocol
 * that orders several atomic writes calls it between them. */
SC_API sc_status sc_io_sync_dir(const char *dir);

/* The size and CRC-32 (zlib's) of a regular file, read in chunks. A missing
 * file gives SC_ERR_IO with strerror in the detail. */
SC_API sc_status sc_io_file_crc32(const char *path, uint64_t *bytes, uint32_t *crc);

/* ---------------------------------------------------------------------------
 * Reading
 * ------------------------------------------------------------------------ */

/* Reads a whole file into a malloc'd buffer (one extra NUL byte is appended
 * and not counted). Files larger than `max_size` bytes give SC_ERR_FORMAT.
 * A missing file gives SC_ERR_IO with strerror in the detail. */
SC_API sc_status sc_io_read_file(const char *path, size_t max_size, uint8_t **data,
                                 size_t *size);

/* True when `data` starts with the gzip magic bytes 1f 8b. */
SC_API int sc_io_is_gzip(const uint8_t *data, size_t size);

/* Decompresses a gzip stream (concatenated members allowed) into a malloc'd
 * buffer. `name` names the source in error details. A corrupt or truncated
 * stream gives SC_ERR_FORMAT; output larger than `max_out` too. */
SC_API sc_status sc_io_gunzip(const uint8_t *data, size_t size, size_t max_out,
                              const char *name, uint8_t **out, size_t *out_size);

/* ---------------------------------------------------------------------------
 * safetensors
 * ------------------------------------------------------------------------ */

typedef enum sc_st_dtype {
    SC_ST_BOOL = 0,
    SC_ST_U8,
    SC_ST_I8,
    SC_ST_U16,
    SC_ST_I16,
    SC_ST_F16,
    SC_ST_BF16,
    SC_ST_U32,
    SC_ST_I32,
    SC_ST_F32,
    SC_ST_U64,
    SC_ST_I64,
    SC_ST_F64,
    SC_ST_DTYPE_COUNT
} sc_st_dtype;

#define SC_ST_MAX_DIMS 8

/* Bytes per element (1, 2, 4 or 8). */
SC_API size_t sc_st_dtype_size(sc_st_dtype dtype);
/* The format's name: "F32", "I64", "U8", ... */
SC_API const char *sc_st_dtype_name(sc_st_dtype dtype);
/* Parses a format name; SC_ERR_FORMAT when unknown (detail names it). */
SC_API sc_status sc_st_dtype_parse(const char *name, sc_st_dtype *out);

/* One tensor: row-major, `data` holds numel * dtype size bytes
 * (numel = product of shape; 1 for ndim 0). */
typedef struct sc_st_tensor {
    const char *name;
    sc_st_dtype dtype;
    int ndim;
    int64_t shape[SC_ST_MAX_DIMS];
    const void *data;
} sc_st_tensor;

typedef struct sc_st_meta {
    const char *key;
    const char *value;
} sc_st_meta;

/* Element count and byte size of a tensor description (SC_ERR_INVALID_ARG on
 * a negative dimension or overflow). */
SC_API sc_status sc_st_tensor_nbytes(const sc_st_tensor *t, uint64_t *numel,
                                     uint64_t *nbytes);

/* Writes a safetensors file atomically. Tensor names must be unique,
 * non-empty and not "__metadata__"; metadata keys unique. The header lists
 * "__metadata__" first (when nmeta > 0) and the tensors in the given order;
 * the data section orders tensors by decreasing dtype size (stable), so each
 * tensor's offset is a multiple of its element size, and the header is padded
 * with spaces to a multiple of 8 bytes, as the reference implementation does.
 * The output depends only on the arguments (byte-identical on any machine). */
SC_API sc_status sc_safetensors_write(const char *path, const sc_st_tensor *tensors,
                                      size_t ntensors, const sc_st_meta *meta,
                                      size_t nmeta);

typedef struct sc_safetensors sc_safetensors;

/* What the reader accepts: a JSON header of at most 100 MB (the reference
 * implementation's bound) and a file of at most 64 GiB (twice a CelebA-sized
 * data set: 202599 images at 224x224, 30 GB); a file over either is refused,
 * with the sizes, before its data is read. Only
 * regular files are read (a FIFO, a device or /dev/zero is refused). */
#define SC_ST_MAX_HEADER ((uint64_t)100 * 1000 * 1000)
#define SC_ST_MAX_FILE ((uint64_t)64 << 30)

/* Opens and validates a file: 8-byte little-endian header length within the
 * file, a JSON object header, every entry with a known dtype, a shape of at
 * most SC_ST_MAX_DIMS non-negative integers and data_offsets [begin, end]
 * with end - begin = numel * dtype size; offsets inside the data section,
 * tensors neither overlapping nor leaving gaps, and the data section ending
 * exactly at the end of the file; "__metadata__" (optional) a string->string
 * object. Any violation gives SC_ERR_FORMAT naming the file. */
SC_API sc_status sc_safetensors_open(const char *path, sc_safetensors **out);
/* Same on a memory image of a file (copied); `name` is used in details. */
SC_API sc_status sc_safetensors_open_memory(const void *data, size_t size,
                                            const char *name, sc_safetensors **out);
/* NULL is allowed. */
SC_API void sc_safetensors_close(sc_safetensors *st);

/* Tensors in header order. Every `data` pointer stays valid until close and
 * is aligned to the element size (an unaligned tensor in a foreign file is
 * copied to aligned memory when opened). */
SC_API size_t sc_safetensors_count(const sc_safetensors *st);
SC_API const sc_st_tensor *sc_safetensors_at(const sc_safetensors *st, size_t i);
/* NULL when no tensor has that name. */
SC_API const sc_st_tensor *sc_safetensors_find(const sc_safetensors *st,
                                               const char *name);
/* Like find, but checks dtype and rank (ndim < 0: any rank) and returns
 * SC_ERR_FORMAT naming the file and the tensor when absent or different. */
SC_API sc_status sc_safetensors_get(const sc_safetensors *st, const char *name,
                                    sc_st_dtype dtype, int ndim,
                                    const sc_st_tensor **out);
/* Metadata value for `key`, or NULL. */
SC_API const char *sc_safetensors_meta(const sc_safetensors *st, const char *key);
SC_API size_t sc_safetensors_meta_count(const sc_safetensors *st);
SC_API sc_st_meta sc_safetensors_meta_at(const sc_safetensors *st, size_t i);
/* The path (or name) the file was opened with. */
SC_API const char *sc_safetensors_name(const sc_safetensors *st);

/* ---------------------------------------------------------------------------
 * PNG
 * ------------------------------------------------------------------------ */

/* Largest width or height accepted when reading. */
#define SC_PNG_MAX_DIM 16384

/* Writes an 8-bit image with `channels` 1 (grey), 2 (grey+alpha), 3 (RGB) or
 * 4 (RGBA); `pixels` interleaved row-major (H x W x channels). No time stamp
 * or other varying chunk: the same pixels give the same bytes. Atomic. */
SC_API sc_status sc_png_write(const char *path, const uint8_t *pixels, int width,
                              int height, int channels);

/* Reads any PNG and converts it to 8-bit interleaved pixels with
 * `want_channels` 1 (luma, ITU-R BT.601 weights) or 3 (RGB), or 0 to keep
 * the colour type (1 for grey, 3 for colour). Alpha is composited over
 * black; palettes are expanded, 16-bit samples scaled to 8 bits, sub-byte
 * grey expanded. *pixels is malloc'd. Corrupt or truncated data gives
 * SC_ERR_FORMAT naming the file and libpng's reason. */
SC_API sc_status sc_png_read(const char *path, int want_channels, uint8_t **pixels,
                             int *width, int *height, int *channels);
SC_API sc_status sc_png_read_memory(const void *data, size_t size, const char *name,
                                    int want_channels, uint8_t **pixels, int *width,
                                    int *height, int *channels);

#ifdef __cplusplus
}
#endif
#endif
