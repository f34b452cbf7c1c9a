/* uvhttp_url.c: parsing of the http://HOST[:PORT] base URLs the HTTP client
 * (uvhttp.h) takes; separate from uvhttp.c because it needs no loop. */
#include "common/uvhttp.h"

#include "common/errors.h"

#include <stdlib.h>
#include <string.h>

int uvhttp_parse_url(const char *url, char *host, size_t hostlen, int *port)
{
    if (!url || strncmp(url, "http://", 7) != 0)
        return BE_INVAL;
    const char *h = url + 7, *end = h + strcspn(h, "/?#");
    const char *hs = h, *he, *colon;
    if (*h == '[') {
        hs = h + 1;
        he = memchr(hs, ']', (size_t)(end - hs));
        if (!he)
            return BE_INVAL;
        colon = he + 1 < end && he[1] == ':' ? he + 1 : NULL;
    } else {
        colon = memchr(h, ':', (size_t)(end - h));
        he = colon ? colon : end;
    }
    if (he == hs || (size_t)(he - hs) >= hostlen)
        return BE_INVAL;
    memcpy(host, hs, (size_t)(he - hs));
    host[he - hs] = '\0';
    *port = 80;
    if (colon) {
        char *e;
        long p = strtol(colon + 1, &e, 10);
        if (e != end || p <= 0 || p > 65535)
            return BE_INVAL;
        *port = (int)p;
    }
    return 0;
}
