/* cron.c: parsing of cron schedules into bit sets, and run times (cron.h).
 *
 * Parsing: a macro is expanded to its five fields; each field is a comma
 * list of items "*", "a", "a-b", each with an optional "/step", values as
 * numbers or (month, day-of-week) three-letter names; every bit an item
 * covers is set. Day-of-week 7 is folded onto 0 (Sunday).
 *
 * Next run: we walk the local calendar (days, then matching hours and
 * minutes of a matching day) from the wall-clock time of `after`, map each
 * matching wall-clock time L to UTC, and keep the smallest instant after
 * `after`. Mapping: the offsets a day before and after L are the
 * candidates (zones do not change twice within two days); a candidate u =
 * L - off is real if the offset at u is off. None real: L is in a gap, and
 * maps to the gap's end; two real: L is repeated (see cron.h for which
 * occurrences run). Because a fall-back can make a wall-clock time slightly
 * before local(after) map to an instant after it, the walk then starts
 * three hours early; once a run is found it goes on four hours of wall
 * clock further, as a repeated hour can reorder instants. */
#include "common/cron.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/errors.h"

#define HORIZON_DAYS (366 * 9)

struct field {
    const char *name;
    int lo, hi;
    const char *const *names;   /* names[i] is value lo + i (NULL: none) */
};

static const char *const month_names[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                          "JUL", "AUG", "SEP", "OCT", "NOV", "DEC", NULL};
static const char *const dow_names[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", NULL};

static const struct field fields[5] = {
    {"minute", 0, 59, NULL},
    {"hour", 0, 23, NULL},
    {"day-of-month", 1, 31, NULL},
    {"month", 1, 12, month_names},
    {"day-of-week", 0, 7, dow_names},
};

/* ---- parsing --------------------------------------------------------------- */

/* A number or a name at *p (advanced); -1 with a message on error. */
static int parse_value(const char **p, const struct field *f, char *err, size_t errlen)
{
    const char *s = *p;
    if (isdigit((unsigned char)*s)) {
        long v = 0;
        while (isdigit((unsigned char)*s) && v < 1000) v = v * 10 + (*s++ - '0');
        *p = s;
        if (v < f->lo || v > f->hi) {
            snprintf(err, errlen, "%s field: value %ld out of range %d-%d", f->name, v, f->lo, f->hi);
            return -1;
        }
        return (int)v;
    }
    size_t n = 0;
    while (isalpha((unsigned char)s[n])) n++;
    for (int i = 0; f->names && n == 3 && f->names[i]; i++) {
        if (!strncasecmp(s, f->names[i], 3)) {
            *p = s + 3;
            return f->lo + i;
        }
    }
    if (n) snprintf(err, errlen, "%s field: unknown name \"%.*s\"", f->name, (int)(n > 20 ? 20 : n), s);
    else snprintf(err, errlen, "%s field: expected a number at \"%.20s\"", f->name, s);
    return -1;
}

/* One comma-separated item into *bits. */
static int parse_item(const char *s, const char *end, const struct field *f, uint64_t *bits,
                      char *err, size_t errlen)
{
    int lo = f->lo, hi = f->hi, step = 1;
    const char *p = s;
    bool range = false;
    if (*p == '*') {
        p++;
        range = true;
    } else {
        if ((lo = parse_value(&p, f, err, errlen)) < 0) return BE_INVAL;
        hi = lo;
        if (*p == '-') {
            p++;
            if ((hi = parse_value(&p, f, err, errlen)) < 0) return BE_INVAL;
            if (hi < lo) {
                snprintf(err, errlen, "%s field: range %d-%d goes backwards", f->name, lo, hi);
                return BE_INVAL;
            }
            range = true;
        }
    }
    if (p < end && *p == '/') {
        p++;
        long v = 0;
        const char *ds = p;
        while (p < end && isdigit((unsigned char)*p) && v < 1000) v = v * 10 + (*p++ - '0');
        if (p == ds || v < 1 || v > f->hi) {
            snprintf(err, errlen, "%s field: step must be a number from 1 to %d", f->name, f->hi);
            return BE_INVAL;
        }
        step = (int)v;
        if (!range) hi = f->hi; /* "5/15": from 5 to the end */
    }
    if (p != end) {
        snprintf(err, errlen, "%s field: unexpected \"%.*s\"", f->name, (int)(end - p > 20 ? 20 : end - p), p);
        return BE_INVAL;
    }
    for (int v = lo; v <= hi; v += step) *bits |= 1ULL << v;
    return 0;
}

static int parse_field(const char *s, size_t len, const struct field *f, uint64_t *bits,
                       char *err, size_t errlen)
{
    const char *end = s + len;
    *bits = 0;
    while (s <= end) {
        const char *comma = memchr(s, ',', (size_t)(end - s));
        const char *e = comma ? comma : end;
        if (e == s) {
            snprintf(err, errlen, "%s field: empty list item", f->name);
            return BE_INVAL;
        }
        if (parse_item(s, e, f, bits, err, errlen)) return BE_INVAL;
        s = e + 1;
    }
    return 0;
}

static const char *expand_macro(const char *m)
{
    static const char *const macros[][2] = {
        {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
        {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
        {"@hourly", "0 * * * *"},
    };
    for (size_t i = 0; i < sizeof macros / sizeof macros[0]; i++)
        if (!strcasecmp(m, macros[i][0])) return macros[i][1];
    return NULL;
}

/* Rejects day-of-month/month combinations that never occur. */
static int check_possible(const struct cron_expr *c, char *err, size_t errlen)
{
    static const int maxd[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (!c->dow_star && !c->dom_star) return 0; /* either day field may match */
    if (c->dom_star) return 0;
    for (int m = 1; m <= 12; m++) {
        if (!(c->month & (1u << m))) continue;
        for (int d = 1; d <= maxd[m - 1]; d++)
            if (c->dom & (1u << d)) return 0;
    }
    snprintf(err, errlen, "the schedule never runs: no selected month has the selected day-of-month");
    return BE_INVAL;
}

int cron_parse(const char *text, struct cron_expr *c, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    if (!text) text = "";
    while (isspace((unsigned char)*text)) text++;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", text);
    for (size_t n = strlen(buf); n && isspace((unsigned char)buf[n - 1]);) buf[--n] = 0;
    if (buf[0] == '@') {
        const char *m = expand_macro(buf);
        if (!m) {
            snprintf(err, errlen, "unknown macro \"%.40s\": use @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly", buf);
            return BE_INVAL;
        }
        snprintf(buf, sizeof buf, "%s", m);
    }
    const char *start[6];
    size_t len[6], n = 0;
    for (const char *p = buf; *p;) {
        while (isspace((unsigned char)*p)) p++;
        if (!*p) break;
        const char *s = p;
        while (*p && !isspace((unsigned char)*p)) p++;
        if (n < 6) start[n] = s, len[n] = (size_t)(p - s);
        n++;
    }
    if (n != 5) {
        if (n && strchr(buf, '=') && strchr(start[0], '=') < start[0] + len[0])
            snprintf(err, errlen, "TZ= or CRON_TZ= prefixes are not supported: use spec.timeZone");
        else
            snprintf(err, errlen, "expected 5 fields (minute hour day-of-month month day-of-week), got %zu", n);
        return BE_INVAL;
    }
    uint64_t bits[5];
    for (int i = 0; i < 5; i++)
        if (parse_field(start[i], len[i], &fields[i], &bits[i], err, errlen)) return BE_INVAL;
    c->minute = bits[0];
    c->hour = (uint32_t)bits[1];
    c->dom = (uint32_t)bits[2];
    c->month = (uint32_t)bits[3];
    c->dow = (uint32_t)((bits[4] | (bits[4] >> 7)) & 0x7f);
    c->dom_star = start[2][0] == '*';
    c->dow_star = start[4][0] == '*';
    return check_possible(c, err, errlen);
}

/* ---- run times ----------------------------------------------------------------- */

static bool day_matches(const struct cron_expr *c, int64_t day)
{
    int64_t y;
    int m, d;
    tz_civil_from_days(day, &y, &m, &d);
    if (!(c->month & (1u << m))) return false;
    bool dm = c->dom & (1u << d), wm = c->dow & (1u << tz_weekday(day));
    return (c->dom_star || c->dow_star) ? dm && wm : dm || wm;
}

/* Instants of wall-clock time L (local seconds); returns how many (1-2). */
static int map_local(const struct tz *z, int64_t L, bool both, int64_t out[2])
{
    if (!z) {
        out[0] = L;
        return 1;
    }
    int32_t oa = tz_offset(z, L - 86400, NULL), ob = tz_offset(z, L + 86400, NULL);
    int n = 0;
    if (tz_offset(z, L - oa, NULL) == oa) out[n++] = L - oa;
    if (ob != oa && tz_offset(z, L - ob, NULL) == ob) out[n++] = L - ob;
    if (!n) { /* in a gap: the gap's end */
        int64_t start;
        tz_offset(z, L - oa, &start);
        out[n++] = start;
    }
    if (n == 2 && out[1] < out[0]) {
        int64_t t = out[0];
        out[0] = out[1];
        out[1] = t;
    }
    return both ? n : 1;
}

int64_t cron_next(const struct cron_expr *c, const struct tz *z, int64_t after)
{
    int32_t off = tz_offset(z, after, NULL);
    int64_t L = tz_floor_div(after + off, 60) * 60;
    if (z && tz_offset(z, after + 86400, NULL) < off) L -= 3 * 3600; /* a fall-back ahead */
    bool every_hour = (c->hour & 0xffffff) == 0xffffff;
    int64_t best = -1, stop = INT64_MAX;
    int64_t day = tz_floor_div(L, 86400);
    int sod = (int)(L - day * 86400);
    for (int i = 0; i < HORIZON_DAYS; i++, day++, sod = 0) {
        if (!day_matches(c, day)) continue;
        for (int h = sod / 3600; h < 24; h++) {
            if (!(c->hour & (1u << h))) continue;
            for (int mi = h == sod / 3600 ? (sod % 3600) / 60 : 0; mi < 60; mi++) {
                if (!(c->minute & (1ULL << mi))) continue;
                int64_t lc = day * 86400 + h * 3600 + mi * 60, u[2];
                if (lc > stop) return best;
                int n = map_local(z, lc, every_hour, u);
                for (int k = 0; k < n; k++)
                    if (u[k] > after && (best < 0 || u[k] < best)) best = u[k];
                if (best >= 0 && stop == INT64_MAX) stop = z ? lc + 4 * 3600 : lc;
            }
        }
    }
    return best;
}

int64_t cron_last(const struct cron_expr *c, const struct tz *z, int64_t since, int64_t now)
{
    static const int64_t windows[] = {2 * 3600, 2 * 86400, 40 * 86400, 400 * 86400,
                                      9 * 366 * 86400LL};
    if (now <= since) return -1;
    for (size_t w = 0; w < sizeof windows / sizeof windows[0]; w++) {
        int64_t s = now - windows[w] > since ? now - windows[w] : since, last = -1;
        for (int64_t t = s; (t = cron_next(c, z, t)) >= 0 && t <= now;) last = t;
        if (last >= 0 || s == since) return last;
    }
    return -1;
}
