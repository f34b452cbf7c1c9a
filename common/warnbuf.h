/* warnbuf.h: the Warning header values of one HTTP response, as both HTTP
 * clients (httpc.c and uvhttp_parse.c) collect them for their callers:
 * '\n'-separated, NUL-terminated, at most WARNBUF_MAX bytes (more is
 * dropped). A zeroed struct is empty. */
#ifndef BERTH_WARNBUF_H
#define BERTH_WARNBUF_H

#include <stddef.h>

#define WARNBUF_MAX 16384

struct warnbuf {
    char *text; /* malloc'd, or NULL while empty */
    size_t len;
};

/* Another Warning header begins (a separator after the previous one). */
void warnbuf_next(struct warnbuf *w);
/* Appends a piece of the current value; 0, or -1 out of memory. */
int warnbuf_append(struct warnbuf *w, const char *at, size_t n);
void warnbuf_free(struct warnbuf *w);

#endif
