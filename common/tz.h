/* tz.h: IANA time zones without touching the process's TZ.
 *
 * tz_load() reads a compiled zone file (TZif, RFC 8536, version 2 or later:
 * the 64-bit section and its POSIX-TZ footer) from $TZDIR or
 * /usr/share/zoneinfo and keeps its transitions; tz_offset() answers the UTC
 * offset in effect at a UTC instant, and the start of that offset's period
 * (the last transition at or before it), so callers can convert local
 * wall-clock times to UTC themselves, DST gaps and overlaps included.
 * Instants after the file's last transition follow the footer's rule
 * ("CET-1CEST,M3.5.0,M10.5.0/3"), so slim zone files work too. Nothing here
 * keeps global state: a struct tz is immutable after load and may be shared.
 *
 * The civil-calendar helpers (days since 1970-01-01 <-> year/month/day)
 * are proleptic Gregorian and exact for any int64 day count in range. */
#ifndef BERTH_TZ_H
#define BERTH_TZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tz;

/* Loads zone name ("Europe/Berlin"; "UTC" and "Etc/UTC" always work, even
 * without a zone database). Returns 0 and *out (free with tz_free), or
 * BE_NOTFOUND (no such zone file), BE_INVAL (a bad name or a file that is
 * not TZif v2+), BE_NOMEM; err gets a message a user can act on. */
int tz_load(const char *name, struct tz **out, char *err, size_t errlen);
void tz_free(struct tz *z);
const char *tz_name(const struct tz *z);

/* The UTC offset (seconds east) at UTC instant t; *start (may be NULL) gets
 * the instant that offset took effect (INT64_MIN if always). z NULL: UTC. */
int32_t tz_offset(const struct tz *z, int64_t t, int64_t *start);

/* Days since 1970-01-01 of a proleptic Gregorian date (month 1-12) and back. */
int64_t tz_days_from_civil(int64_t y, int m, int d);
void tz_civil_from_days(int64_t days, int64_t *y, int *m, int *d);
/* Day of the week of a day number: 0 Sunday ... 6 Saturday. */
int tz_weekday(int64_t days);
/* floor(a / b) for b > 0. */
int64_t tz_floor_div(int64_t a, int64_t b);

#endif
