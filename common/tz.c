/* tz.c: a reader of compiled IANA zone files (TZif) and the offset lookup
 * of tz.h.
 *
 * A TZif file is a v1 block (32-bit times, skipped), then for version 2+ a
 * second header and block with 64-bit transition times, each transition
 * naming a local time type (UTC offset, isdst), then a footer line holding
 * a POSIX TZ string for instants after the last transition. We keep the
 * transitions and type offsets, and parse the footer into a rule of
 * standard/daylight offsets with two yearly changes ("Mm.w.d/time", "Jn",
 * "n"). Lookups: binary search over the transitions; past the last one the
 * rule's changes of the years around t are computed and the latest one at
 * or before t wins. Before the first transition local time type 0 holds
 * (RFC 8536 section 3.2). */
#include "common/tz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"

#define TZ_MAX_FILE (1 << 20)

struct tz_date {
    char kind;        /* 'M' month/week/day, 'J' julian 1-365 without Feb 29, 'n' 0-365 */
    int m, w, d, n;
    int32_t time;     /* seconds after local midnight (may be negative or > 24 h) */
};

struct tz {
    char name[128];
    size_t n;          /* transitions */
    int64_t *at;
    uint8_t *idx;
    size_t ntypes;
    int32_t *off;
    bool has_rule, rule_dst;
    int32_t std_off, dst_off;
    struct tz_date start, end;
};

/* ---- calendar ------------------------------------------------------------- */

int64_t tz_floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && a < 0) ? q - 1 : q;
}

int64_t tz_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = tz_floor_div(y, 400);
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void tz_civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = tz_floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

int tz_weekday(int64_t days)
{
    return (int)((days % 7 + 11) % 7); /* 1970-01-01 was a Thursday */
}

static bool leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int64_t y, int m)
{
    static const int md[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && leap(y) ? 29 : md[m - 1];
}

/* ---- the POSIX TZ footer --------------------------------------------------- */

static const char *skip_name(const char *p)
{
    if (*p == '<') {
        const char *e = strchr(p, '>');
        return e ? e + 1 : NULL;
    }
    const char *s = p;
    while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z')) p++;
    return p - s >= 3 ? p : NULL;
}

/* [+-]hh[:mm[:ss]] into seconds. */
static const char *parse_hms(const char *p, int32_t *out)
{
    int sign = 1, part[3] = {0, 0, 0};
    if (*p == '+' || *p == '-') sign = *p++ == '-' ? -1 : 1;
    for (int i = 0; i < 3; i++) {
        if (*p < '0' || *p > '9') return NULL;
        char *end;
        part[i] = (int)strtol(p, &end, 10);
        p = end;
        if (*p != ':' || i == 2) break;
        p++;
    }
    *out = sign * (part[0] * 3600 + part[1] * 60 + part[2]);
    return p;
}

static const char *parse_date(const char *p, struct tz_date *d)
{
    char *end;
    memset(d, 0, sizeof *d);
    if (*p == 'M') {
        d->kind = 'M';
        d->m = (int)strtol(p + 1, &end, 10);
        if (*end != '.') return NULL;
        d->w = (int)strtol(end + 1, &end, 10);
        if (*end != '.') return NULL;
        d->d = (int)strtol(end + 1, &end, 10);
        if (d->m < 1 || d->m > 12 || d->w < 1 || d->w > 5 || d->d < 0 || d->d > 6) return NULL;
    } else {
        d->kind = *p == 'J' ? 'J' : 'n';
        if (*p == 'J') p++;
        if (*p < '0' || *p > '9') return NULL;
        d->n = (int)strtol(p, &end, 10);
    }
    p = end;
    d->time = 7200;
    if (*p == '/') p = parse_hms(p + 1, &d->time);
    return p;
}

static bool parse_rule(struct tz *z, const char *s)
{
    int32_t off;
    const char *p = skip_name(s);
    if (!p || !(p = parse_hms(p, &off))) return false;
    z->std_off = z->dst_off = -off;
    z->has_rule = true;
    if (!*p) return true;
    if (!(p = skip_name(p))) return false;
    z->dst_off = z->std_off + 3600;
    if (*p && *p != ',') {
        if (!(p = parse_hms(p, &off))) return false;
        z->dst_off = -off;
    }
    if (*p != ',' || !(p = parse_date(p + 1, &z->start))) return false;
    if (*p != ',' || !(p = parse_date(p + 1, &z->end))) return false;
    z->rule_dst = true;
    return *p == 0;
}

/* The local day (days since the epoch) a rule date falls on in year y. */
static int64_t rule_day(const struct tz_date *d, int64_t y)
{
    int64_t jan1 = tz_days_from_civil(y, 1, 1);
    if (d->kind == 'J') return jan1 + d->n - 1 + (leap(y) && d->n >= 60);
    if (d->kind == 'n') return jan1 + d->n;
    int64_t first = tz_days_from_civil(y, d->m, 1);
    int64_t day = first + (d->d - tz_weekday(first) + 7) % 7 + (int64_t)(d->w - 1) * 7;
    while (day - first >= month_days(y, d->m)) day -= 7;
    return day;
}

static int32_t rule_offset(const struct tz *z, int64_t t, int64_t *start)
{
    if (!z->rule_dst) {
        *start = INT64_MIN;
        return z->std_off;
    }
    int64_t y;
    int m, d;
    tz_civil_from_days(tz_floor_div(t + z->std_off, 86400), &y, &m, &d);
    int64_t best = INT64_MIN;
    int32_t off = z->std_off;
    for (int64_t yy = y - 1; yy <= y + 1; yy++) {
        /* the change to DST happens in standard time and back in DST */
        int64_t on = rule_day(&z->start, yy) * 86400 + z->start.time - z->std_off;
        int64_t offt = rule_day(&z->end, yy) * 86400 + z->end.time - z->dst_off;
        if (on <= t && on > best) best = on, off = z->dst_off;
        if (offt <= t && offt > best) best = offt, off = z->std_off;
    }
    *start = best;
    return off;
}

/* ---- lookup ------------------------------------------------------------------ */

int32_t tz_offset(const struct tz *z, int64_t t, int64_t *start)
{
    int64_t s = INT64_MIN;
    int32_t off = 0;
    if (!z) goto out;
    if (!z->n || t < z->at[0]) {
        if (!z->n && z->has_rule) off = rule_offset(z, t, &s);
        else off = z->ntypes ? z->off[0] : 0;
        goto out;
    }
    size_t lo = 0, hi = z->n; /* at[lo] <= t < at[hi] */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (z->at[mid] <= t) lo = mid;
        else hi = mid;
    }
    off = z->off[z->idx[lo]];
    s = z->at[lo];
    if (lo == z->n - 1 && z->has_rule) {
        int64_t rs;
        int32_t ro = rule_offset(z, t, &rs);
        if (rs > s) {
            off = ro;
            s = rs;
        }
    }
out:
    if (start) *start = s;
    return off;
}

/* ---- loading -------------------------------------------------------------------- */

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

struct hdr {
    uint32_t isut, isstd, leap, time, type, chr;
};

static bool read_hdr(const unsigned char *p, size_t len, struct hdr *h)
{
    if (len < 44 || memcmp(p, "TZif", 4)) return false;
    h->isut = be32(p + 20), h->isstd = be32(p + 24), h->leap = be32(p + 28);
    h->time = be32(p + 32), h->type = be32(p + 36), h->chr = be32(p + 40);
    return h->type > 0 && h->time < 100000 && h->type < 256 && h->chr < 65536 && h->leap < 10000;
}

static size_t block_len(const struct hdr *h, size_t tsize)
{
    return h->time * tsize + h->time + h->type * 6 + h->chr + h->leap * (tsize + 4) + h->isstd +
           h->isut;
}

static int parse_tzif(struct tz *z, const unsigned char *buf, size_t len)
{
    struct hdr h;
    if (!read_hdr(buf, len, &h) || buf[4] < '2') return BE_INVAL;
    size_t off = 44 + block_len(&h, 4);
    if (off > len || !read_hdr(buf + off, len - off, &h)) return BE_INVAL;
    const unsigned char *p = buf + off + 44;
    if (44 + block_len(&h, 8) > len - off) return BE_INVAL;
    z->n = h.time;
    z->ntypes = h.type;
    z->at = calloc(z->n ? z->n : 1, sizeof *z->at);
    z->idx = calloc(z->n ? z->n : 1, 1);
    z->off = calloc(z->ntypes, sizeof *z->off);
    if (!z->at || !z->idx || !z->off) return BE_NOMEM;
    for (size_t i = 0; i < z->n; i++) z->at[i] = be64(p + 8 * i);
    p += 8 * z->n;
    for (size_t i = 0; i < z->n; i++)
        if ((z->idx[i] = p[i]) >= z->ntypes) return BE_INVAL;
    p += z->n;
    for (size_t i = 0; i < z->ntypes; i++) z->off[i] = (int32_t)be32(p + 6 * i);
    const unsigned char *foot = buf + off + 44 + block_len(&h, 8);
    size_t flen = (size_t)(buf + len - foot);
    if (flen >= 2 && foot[0] == '\n') {
        char rule[256];
        size_t k = 0;
        for (size_t i = 1; i < flen && foot[i] != '\n' && k < sizeof rule - 1; i++) rule[k++] = (char)foot[i];
        rule[k] = 0;
        if (k && !parse_rule(z, rule)) z->has_rule = z->rule_dst = false;
    }
    return 0;
}

static bool valid_name(const char *name)
{
    if (!name[0] || name[0] == '/' || strlen(name) >= 120 || strstr(name, "..")) return false;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              strchr("/_+-", *p)))
            return false;
    return true;
}

static int read_file(const char *path, unsigned char **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return BE_NOTFOUND;
    unsigned char *buf = malloc(TZ_MAX_FILE);
    size_t n = buf ? fread(buf, 1, TZ_MAX_FILE, f) : 0;
    fclose(f);
    if (!buf) return BE_NOMEM;
    *out = buf;
    *len = n;
    return 0;
}

void tz_free(struct tz *z)
{
    if (!z) return;
    free(z->at);
    free(z->idx);
    free(z->off);
    free(z);
}

const char *tz_name(const struct tz *z)
{
    return z ? z->name : "UTC";
}

int tz_load(const char *name, struct tz **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!name || !valid_name(name)) {
        snprintf(err, errlen, "invalid time zone name \"%s\"", name ? name : "");
        return BE_INVAL;
    }
    struct tz *z = calloc(1, sizeof *z);
    if (!z) return BE_NOMEM;
    snprintf(z->name, sizeof z->name, "%s", name);
    if (!strcmp(name, "UTC") || !strcmp(name, "Etc/UTC")) {
        *out = z; /* no transitions, no rule: offset 0 */
        return 0;
    }
    const char *dir = getenv("TZDIR");
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir && dir[0] ? dir : "/usr/share/zoneinfo", name);
    unsigned char *buf = NULL;
    size_t len = 0;
    int rc = read_file(path, &buf, &len);
    if (rc == BE_NOTFOUND)
        snprintf(err, errlen, "unknown time zone \"%s\" (no file %s)", name, path);
    if (!rc && (rc = parse_tzif(z, buf, len)) == BE_INVAL)
        snprintf(err, errlen, "%s is not a TZif (version 2 or later) zone file", path);
    free(buf);
    if (rc) {
        if (rc == BE_NOMEM) snprintf(err, errlen, "out of memory");
        tz_free(z);
        return rc;
    }
    *out = z;
    return 0;
}
