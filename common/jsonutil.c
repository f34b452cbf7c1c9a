/* jsonutil.c: dotted-path lookups, RFC 3339 times and the canonical object
 * serialization (see jsonutil.h).
 *
 * json_dump_object() relies on jansson (2.14) keeping insertion order: it
 * builds a new top-level object whose first key is metadata (a shallow copy
 * without resourceVersion when it has one), then adds the other keys by
 * reference, and dumps that compactly with json_dumpb straight into a buffer
 * of the right size. Nothing of the input is modified. */
#include "common/jsonutil.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

json_t *json_path(const json_t *obj, const char *path)
{
    json_t *cur = (json_t *)obj;
    char key[256];
    if (!obj || !path) return NULL;
    while (*path) {
        const char *dot = strchr(path, '.');
        size_t n = dot ? (size_t)(dot - path) : strlen(path);
        if (!json_is_object(cur) || n >= sizeof key) return NULL;
        memcpy(key, path, n);
        key[n] = '\0';
        cur = json_object_get(cur, key);
        if (!cur) return NULL;
        path += n + (dot ? 1 : 0);
    }
    return cur;
}

const char *json_path_str(const json_t *obj, const char *path)
{
    return json_string_value(json_path(obj, path)); /* NULL if not a string */
}

int json_same(const json_t *a, const json_t *b)
{
    return (!a && !b) || json_equal(a, b);
}

int json_path_int(const json_t *obj, const char *path, int64_t *out)
{
    json_t *v = json_path(obj, path);
    if (!json_is_integer(v)) return -1;
    *out = (int64_t)json_integer_value(v);
    return 0;
}

/* Dumps obj compactly into a malloc'd buffer sized from the previous
 * object's length (one malloc, no regrowing): json_dumpb reports the size it
 * needs, so a short guess costs one more dump. */
static char *dump_compact(const json_t *obj, size_t *len)
{
    static _Thread_local size_t guess = 1024;
    size_t cap = guess + guess / 4 + 64;
    for (int tries = 0; tries < 2; tries++) {
        char *text = malloc(cap);
        if (!text) return NULL;
        size_t n = json_dumpb(obj, text, cap - 1, JSON_COMPACT);
        if (n == 0) { free(text); return NULL; }
        if (n < cap) {
            text[n] = 0;
            guess = n;
            if (len) *len = n;
            return text;
        }
        free(text);
        cap = n + 1;
    }
    return NULL;
}

char *json_dump_object(const json_t *obj, size_t *len)
{
    json_t *md = json_object_get(obj, "metadata");
    json_t *out = NULL, *mdcopy = NULL;
    const char *key;
    json_t *val;
    char *text = NULL;
    if (!json_is_object(obj) || !json_is_object(md)) return NULL;
    if (json_object_get(md, "resourceVersion")) {
        mdcopy = json_copy(md); /* shallow: only one key of it is dropped */
        if (!mdcopy) return NULL;
        json_object_del(mdcopy, "resourceVersion");
        md = mdcopy;
    }
    if (json_object_size(md) == 0) goto out;
    out = json_object();
    if (!out || json_object_set(out, "metadata", md) < 0) goto out;
    json_object_foreach((json_t *)obj, key, val) {
        if (strcmp(key, "metadata") != 0 && json_object_set(out, key, val) < 0)
            goto out;
    }
    text = dump_compact(out, len);
out:
    json_decref(out);
    json_decref(mdcopy);
    return text;
}

void time_format_rfc3339(time_t t, char *buf, size_t len)
{
    /* the last second formatted, per thread: creates come many a second */
    static _Thread_local time_t last_t = -1;
    static _Thread_local char last[32];
    struct tm tm;
    if (!len) return;
    if (t != last_t) {
        if (!gmtime_r(&t, &tm) || !strftime(last, sizeof last, "%Y-%m-%dT%H:%M:%SZ", &tm)) {
            buf[0] = '\0';
            return;
        }
        last_t = t;
    }
    size_t n = strlen(last);
    if (n >= len) { buf[0] = '\0'; return; }
    memcpy(buf, last, n + 1);
}

/* Reads exactly n digits into *v; returns the rest or NULL. */
static const char *read_digits(const char *s, int n, int *v)
{
    *v = 0;
    for (int i = 0; i < n; i++, s++) {
        if (!isdigit((unsigned char)*s)) return NULL;
        *v = *v * 10 + (*s - '0');
    }
    return s;
}

/* "2026-11-26T01:02:03Z", "...03.123Z", "...03+02:00"; fractions are
 * dropped. */
int time_parse_rfc3339(const char *s, time_t *out)
{
    struct tm tm = {0};
    int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
    if (!s) return -1;
    if (!(s = read_digits(s, 4, &y)) || *s++ != '-' ||
        !(s = read_digits(s, 2, &mo)) || *s++ != '-' ||
        !(s = read_digits(s, 2, &d)) || (*s != 'T' && *s != 't' && *s != ' '))
        return -1;
    s++;
    if (!(s = read_digits(s, 2, &h)) || *s++ != ':' ||
        !(s = read_digits(s, 2, &mi)) || *s++ != ':' ||
        !(s = read_digits(s, 2, &sec)))
        return -1;
    if (*s == '.') {
        if (!isdigit((unsigned char)*++s)) return -1;
        while (isdigit((unsigned char)*s)) s++;
    }
    if (*s == 'Z' || *s == 'z') {
        s++;
    } else if (*s == '+' || *s == '-') {
        sign = *s++ == '-' ? -1 : 1;
        if (!(s = read_digits(s, 2, &oh)) || *s++ != ':' ||
            !(s = read_digits(s, 2, &om)) || oh > 23 || om > 59)
            return -1;
    } else {
        return -1;
    }
    if (*s || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return -1;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    *out = t - (time_t)sign * (oh * 3600 + om * 60);
    return 0;
}
