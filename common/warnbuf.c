/* warnbuf.c: see warnbuf.h. The text always has room for one more byte,
 * so the separator of warnbuf_next never needs an allocation. */
#include "common/warnbuf.h"

#include <stdlib.h>
#include <string.h>

void warnbuf_next(struct warnbuf *w)
{
    if (w->len && w->len < WARNBUF_MAX) {
        w->text[w->len++] = '\n';
        w->text[w->len] = '\0';
    }
}

int warnbuf_append(struct warnbuf *w, const char *at, size_t n)
{
    if (w->len + n > WARNBUF_MAX)
        return 0;
    char *t = realloc(w->text, w->len + n + 2);
    if (!t)
        return -1;
    memcpy(t + w->len, at, n);
    w->len += n;
    t[w->len] = '\0';
    w->text = t;
    return 0;
}

void warnbuf_free(struct warnbuf *w)
{
    free(w->text);
    w->text = NULL;
    w->len = 0;
}
