/* Streaming gzip decompression into a caller's buffer (internal, not
 * installed): the data-set loaders read a header first and allocate what it
 * declares, instead of growing a buffer to whatever the stream holds. */
#ifndef SC_IO_GZ_H
#define SC_IO_GZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spurcl/error.h"

/* Inflates gzip `data` (one or more members, trailing zero padding ignored,
 * as sc_io_gunzip) into out[0, cap). With `stop_full` it returns as soon as
 * cap bytes are out (a header); otherwise it inflates to the end and sets
 * *more when the stream holds more than cap bytes (it stops at the first
 * byte past cap). *produced gets the bytes written, also on failure (a
 * corrupt or truncated stream: SC_ERR_FORMAT naming `name`). */
sc_status sc__gunzip_into(const uint8_t *data, size_t size, const char *name, uint8_t *out,
                          size_t cap, bool stop_full, size_t *produced, bool *more);

#endif
