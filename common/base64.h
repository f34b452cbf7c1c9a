/* base64.h: decoding of standard base64 (RFC 4648 §4, padded), as
 * Kubernetes stores Secret data. */
#ifndef BERTH_BASE64_H
#define BERTH_BASE64_H

#include <stddef.h>

/* Decodes len bytes of text into a malloc'd, NUL-terminated buffer and its
 * length. Whitespace is not allowed; padding is required as RFC 4648 says.
 * Returns 0, BE_INVAL on bad input or BE_NOMEM. */
int base64_decode(const char *text, size_t len, char **out, size_t *out_len);

#endif
