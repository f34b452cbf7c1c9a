/* quantity.c: Kubernetes resource quantities (see quantity.h).
 *
 * Grammar: [+-] (digits [. digits] | . digits) [suffix], where the suffix is
 * a decimal SI one (n u m k M G T P E), a binary one (Ki .. Ei) or a decimal
 * exponent (e3, E-3). "1E" is one exa; "1E3" is a thousand.
 *
 * To be exact whatever the input, the significant digits are kept as a
 * decimal digit string (at most QTY_MAX_LEN of them), multiplied by 2^b for
 * binary suffixes by repeated doubling, then shifted by the decimal
 * exponent; whatever falls below one milli-unit rounds the magnitude up.
 * Only the final integer must fit in int64. */
#include "common/quantity.h"

#include "common/errors.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define QTY_MAX_LEN 128          /* longer inputs are rejected */
#define QTY_DIGITS (QTY_MAX_LEN + 32) /* room for doubling up to 2^60 */

/* Digits of the number, most significant first, value = d * 10^-scale. */
struct qty_num {
    char d[QTY_DIGITS];
    int n;
    int scale;
    bool neg;
};

static int parse_number(const char **sp, struct qty_num *q)
{
    const char *s = *sp;
    bool any = false;
    q->n = 0;
    q->scale = 0;
    q->neg = false;
    if (*s == '+' || *s == '-') q->neg = *s++ == '-';
    for (; isdigit((unsigned char)*s); s++, any = true)
        if (q->n > 0 || *s != '0') q->d[q->n++] = (char)(*s - '0');
    if (*s == '.') {
        s++;
        for (; isdigit((unsigned char)*s); s++, any = true) {
            q->d[q->n++] = (char)(*s - '0');
            q->scale++;
        }
    }
    *sp = s;
    int lead = 0; /* fraction digits of "0.05" bring leading zeros */
    while (lead < q->n && q->d[lead] == 0) lead++;
    memmove(q->d, q->d + lead, (size_t)(q->n - lead));
    q->n -= lead;
    return any ? 0 : BE_INVAL;
}

/* Suffix to (power of ten, power of two); 0 if valid. */
static int parse_suffix(const char *s, int *e10, int *e2)
{
    static const char dec[] = "num\0kMGTPE";
    static const int decexp[] = {-9, -6, -3, 0, 3, 6, 9, 12, 15, 18};
    static const char bin[] = "KMGTPE";
    *e10 = 0;
    *e2 = 0;
    if (!*s) return 0;
    if ((s[0] == 'e' || s[0] == 'E') &&
        (isdigit((unsigned char)s[1]) ||
         ((s[1] == '+' || s[1] == '-') && isdigit((unsigned char)s[2])))) {
        int sign = s[1] == '-' ? -1 : 1, v = 0;
        s += (s[1] == '+' || s[1] == '-') ? 2 : 1;
        for (; isdigit((unsigned char)*s); s++)
            if (v < 100000) v = v * 10 + (*s - '0');
        if (*s) return BE_INVAL;
        *e10 = sign * v;
        return 0;
    }
    if (s[1] == 'i' && s[2] == '\0') {
        const char *p = strchr(bin, s[0]);
        if (!p || !s[0]) return BE_INVAL;
        *e2 = 10 * (int)(p - bin + 1);
        return 0;
    }
    if (s[1] != '\0') return BE_INVAL;
    for (size_t i = 0; i < sizeof decexp / sizeof decexp[0]; i++)
        if (dec[i] == s[0]) {
            *e10 = decexp[i];
            return 0;
        }
    return BE_INVAL;
}

/* d *= 2, in place. */
static void double_digits(struct qty_num *q)
{
    int carry = 0;
    for (int i = q->n - 1; i >= 0; i--) {
        int v = q->d[i] * 2 + carry;
        q->d[i] = (char)(v % 10);
        carry = v / 10;
    }
    if (carry) {
        memmove(q->d + 1, q->d, (size_t)q->n);
        q->d[0] = (char)carry;
        q->n++;
    }
}

/* The integer part of d * 10^shift, rounded up, into *out. */
static int digits_to_int(const struct qty_num *q, int shift, int64_t *out)
{
    int intlen = q->n + shift; /* digits left of the decimal point */
    bool frac = false;
    uint64_t v = 0;
    if (q->n == 0) {
        *out = 0;
        return 0;
    }
    if (intlen > 19) return BE_INVAL; /* d has no leading zeros */
    for (int i = (intlen < 0 ? 0 : intlen); i < q->n; i++)
        if (q->d[i]) frac = true;
    for (int i = 0; i < intlen; i++) {
        int dig = i < q->n ? q->d[i] : 0;
        if (v > (UINT64_MAX - (uint64_t)dig) / 10) return BE_INVAL;
        v = v * 10 + (uint64_t)dig;
    }
    if (frac) v++;
    if (v > (uint64_t)INT64_MAX) return BE_INVAL;
    *out = q->neg ? -(int64_t)v : (int64_t)v;
    return 0;
}

int quantity_parse(const char *s, int64_t *milli)
{
    struct qty_num q;
    int e10, e2;
    if (!s || strlen(s) > QTY_MAX_LEN) return BE_INVAL;
    if (parse_number(&s, &q) < 0) return BE_INVAL;
    if (parse_suffix(s, &e10, &e2) < 0) return BE_INVAL;
    for (int i = 0; i < e2 && q.n > 0; i++) double_digits(&q);
    /* Clamp so the int arithmetic cannot overflow; the result is the same. */
    int shift = 3 + e10 - q.scale;
    if (shift > 100) shift = 100;
    if (shift < -1000) shift = -1000;
    return digits_to_int(&q, shift, milli);
}

int quantity_cpu_millis(const char *s, int64_t *millicores)
{
    int64_t v;
    int rc = quantity_parse(s, &v);
    if (rc < 0) return rc;
    if (v < 0) return BE_INVAL;
    *millicores = v;
    return 0;
}

int quantity_bytes(const char *s, int64_t *bytes)
{
    int64_t v;
    int rc = quantity_parse(s, &v);
    if (rc < 0) return rc;
    if (v < 0) return BE_INVAL;
    *bytes = v / 1000 + (v % 1000 != 0);
    return 0;
}

void quantity_format_cpu(int64_t millicores, char *buf, int len)
{
    if (len <= 0) return;
    if (millicores % 1000 == 0)
        snprintf(buf, (size_t)len, "%" PRId64, millicores / 1000);
    else
        snprintf(buf, (size_t)len, "%" PRId64 "m", millicores);
}

void quantity_format_bytes(int64_t bytes, char *buf, int len)
{
    static const char *suf[] = {"Ei", "Pi", "Ti", "Gi", "Mi", "Ki"};
    if (len <= 0) return;
    if (bytes != 0) {
        for (int i = 0; i < 6; i++) {
            int64_t unit = (int64_t)1 << (10 * (6 - i));
            if (bytes % unit == 0) {
                snprintf(buf, (size_t)len, "%" PRId64 "%s", bytes / unit, suf[i]);
                return;
            }
        }
    }
    snprintf(buf, (size_t)len, "%" PRId64, bytes);
}
