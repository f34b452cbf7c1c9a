/* base64.c: see base64.h. Four characters make three bytes; "=" pads the
 * last group. Any character outside the alphabet, a length that is not a
 * multiple of four, or padding anywhere but at the end is an error. */
#include "common/base64.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "common/errors.h"

static int sextet(unsigned char ch)
{
    if (ch >= 'A' && ch <= 'Z') return ch - 'A';
    if (ch >= 'a' && ch <= 'z') return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9') return ch - '0' + 52;
    if (ch == '+') return 62;
    if (ch == '/') return 63;
    return -1;
}

int base64_decode(const char *text, size_t len, char **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    if (len % 4) return BE_INVAL;
    size_t pad = len && text[len - 1] == '=' ? (text[len - 2] == '=' ? 2 : 1) : 0;
    char *buf = malloc(len / 4 * 3 + 1);
    if (!buf) return BE_NOMEM;
    size_t n = 0;
    for (size_t i = 0; i < len; i += 4) {
        uint32_t v = 0;
        for (size_t j = 0; j < 4; j++) {
            unsigned char ch = (unsigned char)text[i + j];
            int s = sextet(ch);
            bool padding = ch == '=' && i + j >= len - pad;
            if (s < 0 && !padding) {
                free(buf);
                return BE_INVAL;
            }
            v = v << 6 | (uint32_t)(s < 0 ? 0 : s);
        }
        size_t take = i + 4 < len ? 3 : 3 - pad;
        for (size_t j = 0; j < take; j++) buf[n++] = (char)(v >> (16 - 8 * j));
    }
    buf[n] = '\0';
    *out = buf;
    *out_len = n;
    return 0;
}
