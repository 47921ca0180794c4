/* A growing HTML text (internal, not installed) for the report page
 * (train/report.c): markup appended as is, text escaped, PNG files
 * embedded as base64 data: URIs, so that the page needs nothing beside it.
 *
 * Markup goes through sc_html_raw / sc_html_printf, whose arguments must
 * be numbers or constant markup; anything read from a file or a command
 * line goes through sc_html_text / sc_html_textf, which escape & < > " '
 * (so the same call serves element content and attribute values) and
 * replace control characters and invalid UTF-8 by U+FFFD.
 *
 * Appending never fails on the spot: the first allocation failure is
 * remembered and sc_html_status reports it. Host only. */
#ifndef SC_IO_HTML_H
#define SC_IO_HTML_H

#include <stdbool.h>
#include <stddef.h>

#include "spurcl/error.h"

typedef struct sc_html {
    char *buf;      /* NUL-terminated while not failed */
    size_t len, cap;
    bool failed;    /* out of memory: the text is incomplete */
} sc_html;

void sc_html_init(sc_html *h);
void sc_html_free(sc_html *h);
/* SC_OK, or SC_ERR_OUT_OF_MEMORY when an append failed. */
sc_status sc_html_status(const sc_html *h);

/* Markup, as is. */
void sc_html_raw(sc_html *h, const char *s);
void sc_html_printf(sc_html *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Text, escaped; NULL appends nothing. */
void sc_html_text(sc_html *h, const char *s);
void sc_html_textn(sc_html *h, const char *s, size_t n);
/* Formatted text, escaped as a whole. */
void sc_html_textf(sc_html *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* <img> of the PNG file `path` as a data:image/png;base64 URI, with the
 * escaped `alt` text and the pixel size from its IHDR chunk (so the page
 * keeps its layout while it loads). A file that cannot be read, is larger
 * than max_bytes or is not a PNG gives an error naming it, and nothing is
 * appended. */
sc_status sc_html_png(sc_html *h, const char *path, const char *alt, size_t max_bytes);

#endif
