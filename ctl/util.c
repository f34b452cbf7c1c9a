/* util.c: small helpers of berthctl: a growable string (sbuf), URL
 * percent-encoding, kubectl-style ages, text tables and reading input files.
 *
 * Tables keep every cell until freed; column widths grow as rows arrive, and
 * ctl_tbl_flush prints only the rows not printed yet, which is what `get -w`
 * needs to append rows under the first listing. */
#define _GNU_SOURCE
#include "ctl/ctl.h"

#include <ctype.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/jsonutil.h"

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fputs("error: out of memory\n", stderr);
        exit(1);
    }
    return p;
}

void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p) {
        fputs("error: out of memory\n", stderr);
        exit(1);
    }
    return p;
}

char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(xmalloc(n), s, n);
}

int ctl_fail(struct ctl *c, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof c->err, fmt, ap);
    va_end(ap);
    return rc;
}

void ctl_first_note(struct ctl *c, struct ctl_first *f, int rc)
{
    if (!rc || f->rc) return;
    f->rc = rc;
    snprintf(f->msg, sizeof f->msg, "%s", c->err);
}

int ctl_first_done(struct ctl *c, struct ctl_first *f)
{
    if (f->rc) snprintf(c->err, sizeof c->err, "%s", f->msg);
    return f->rc;
}

/* "90s", "5m", "1h30m", "2" (seconds); 0 = no timeout. -1 if invalid. */
long ctl_parse_duration(const char *s)
{
    long total = 0;
    if (!s || !*s) return 0;
    while (*s) {
        if (!isdigit((unsigned char)*s)) return -1;
        long n = strtol(s, (char **)&s, 10);
        long mul = 1;
        if (*s == 'h') mul = 3600, s++;
        else if (*s == 'm' && s[1] != 's') mul = 60, s++;
        else if (*s == 's') s++;
        else if (!strncmp(s, "ms", 2)) { mul = 0; s += 2; }
        else if (*s) return -1;
        total += n * mul;
    }
    return total;
}

/* ---- sbuf ---- */

static void sb_grow(struct sbuf *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra + 1) cap *= 2;
    b->s = xrealloc(b->s, cap);
    b->cap = cap;
}

void sb_addn(struct sbuf *b, const char *s, size_t n)
{
    sb_grow(b, n);
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

void sb_add(struct sbuf *b, const char *s) { sb_addn(b, s, strlen(s)); }

void sb_printf(struct sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    sb_grow(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void sb_add_enc(struct sbuf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char ch = *p;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
            (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_' || ch == '~') {
            sb_addn(b, (const char *)p, 1);
        } else {
            char esc[3] = {'%', hex[ch >> 4], hex[ch & 15]};
            sb_addn(b, esc, 3);
        }
    }
}

void sb_query(struct sbuf *b, const char *key, const char *value)
{
    sb_add(b, b->s && strchr(b->s, '?') ? "&" : "?");
    sb_add(b, key);
    sb_add(b, "=");
    sb_add_enc(b, value);
}

void sb_free(struct sbuf *b)
{
    free(b->s);
    memset(b, 0, sizeof *b);
}

/* ---- ages ---- */

void ctl_duration(long s, char *buf, size_t len)
{
    long m = s / 60, h = s / 3600, d = s / 86400;
    if (s < -1) snprintf(buf, len, "<invalid>");
    else if (s < 0) snprintf(buf, len, "0s");
    else if (s < 120) snprintf(buf, len, "%lds", s);
    else if (m < 10 && s % 60) snprintf(buf, len, "%ldm%lds", m, s % 60);
    else if (m < 180) snprintf(buf, len, "%ldm", m);
    else if (h < 8 && m % 60) snprintf(buf, len, "%ldh%ldm", h, m % 60);
    else if (h < 48) snprintf(buf, len, "%ldh", h);
    else if (h < 24 * 8 && h % 24) snprintf(buf, len, "%ldd%ldh", d, h % 24);
    else if (d < 365 * 2) snprintf(buf, len, "%ldd", d);
    else if (d < 365 * 8 && d % 365) snprintf(buf, len, "%ldy%ldd", d / 365, d % 365);
    else snprintf(buf, len, "%ldy", d / 365);
}

void ctl_age(const char *ts, time_t now, char *buf, size_t len)
{
    time_t t;
    if (!ts || time_parse_rfc3339(ts, &t) != 0) {
        snprintf(buf, len, "<unknown>");
        return;
    }
    ctl_duration((long)(now - t), buf, len);
}

/* ---- tables ---- */

void ctl_tbl_init(struct ctl_table *t, size_t ncols)
{
    memset(t, 0, sizeof *t);
    t->ncols = ncols ? ncols : 1;
    t->width = xmalloc(t->ncols * sizeof *t->width);
    memset(t->width, 0, t->ncols * sizeof *t->width);
}

void ctl_tbl_cell(struct ctl_table *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0) s = xstrdup("");
    va_end(ap);
    if (t->ncells == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 64;
        t->cells = xrealloc(t->cells, t->cap * sizeof *t->cells);
    }
    size_t col = t->ncells % t->ncols;
    size_t w = strlen(s);
    if (w > t->width[col]) t->width[col] = w;
    t->cells[t->ncells++] = s;
}

size_t ctl_tbl_rows(const struct ctl_table *t) { return t->ncells / t->ncols; }

void ctl_tbl_flush(struct ctl_table *t, FILE *out)
{
    size_t rows = ctl_tbl_rows(t);
    for (; t->printed < rows; t->printed++) {
        char **row = t->cells + t->printed * t->ncols;
        fprintf(out, "%*s", (int)t->indent, "");
        for (size_t i = 0; i < t->ncols; i++) {
            if (i + 1 == t->ncols) fprintf(out, "%s\n", row[i]);
            else fprintf(out, "%-*s   ", (int)t->width[i], row[i]);
        }
    }
    fflush(out);
}

void ctl_tbl_free(struct ctl_table *t)
{
    for (size_t i = 0; i < t->ncells; i++) free(t->cells[i]);
    free(t->cells);
    free(t->width);
    memset(t, 0, sizeof *t);
}

/* ---- files ---- */

int ctl_read_file(struct ctl *c, const char *path, size_t max, char **out, size_t *len)
{
    bool is_stdin = !strcmp(path, "-");
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    if (!f) return ctl_fail(c, BE_IO, "%s: %s", path, strerror(errno));
    struct sbuf b = {0};
    char chunk[65536];
    size_t n;
    int rc = 0;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (b.len + n > max) {
            rc = ctl_fail(c, BE_TOOBIG, "%s: larger than %zu bytes", path, max);
            break;
        }
        sb_addn(&b, chunk, n);
    }
    if (!rc && ferror(f)) rc = ctl_fail(c, BE_IO, "%s: %s", path, strerror(errno));
    if (!is_stdin) fclose(f);
    if (rc) {
        sb_free(&b);
        return rc;
    }
    if (!b.s) sb_add(&b, "");
    *out = b.s;
    *len = b.len;
    return 0;
}
