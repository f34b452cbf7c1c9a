/* cron.h: five-field cron schedules and their run times, for CronJobs.
 *
 * cron_parse() takes "minute hour day-of-month month day-of-week" with
 * lists (1,5), ranges (1-5), steps (*\/15, 10-50/20, 5/15 = 5-max/15),
 * names (JAN-DEC, SUN-SAT, any case), 0 or 7 for Sunday, and the macros
 * @yearly @annually @monthly @weekly @daily @midnight @hourly. As in Vixie
 * cron, when both day fields are restricted (neither starts with '*') a day
 * matches if either does; otherwise both must. A schedule that can never
 * fire ("0 0 30 2 *") is rejected. Used by the API server (validation) and
 * the CronJob controller, so it depends on nothing but tz.h.
 *
 * cron_next() gives the first run time strictly after an instant, in a time
 * zone (tz.h; NULL = UTC). Times are matched on the local wall clock; the
 * DST rule (what users of a "30 2 * * *" job expect: one run per day):
 *  - a wall-clock time skipped by a spring-forward gap runs at the end of
 *    the gap (02:30 on a 02:00->03:00 day runs at 03:00), once;
 *  - a wall-clock time that occurs twice (fall-back) runs at its first
 *    occurrence only, unless the schedule fires in every hour (hour field
 *    matching 0-23): then it runs at both, keeping its real-time rhythm.
 * (Vixie cron behaves the same way for fixed-time and wildcard jobs.) */
#ifndef BERTH_CRON_H
#define BERTH_CRON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/tz.h"

struct cron_expr {
    uint64_t minute;   /* bit i: minute i (0-59) */
    uint32_t hour;     /* bits 0-23 */
    uint32_t dom;      /* bits 1-31 */
    uint32_t month;    /* bits 1-12 */
    uint32_t dow;      /* bits 0-6, 0 = Sunday */
    bool dom_star, dow_star;   /* the field starts with '*' */
};

/* Returns 0, or BE_INVAL with a message naming the field and the problem. */
int cron_parse(const char *text, struct cron_expr *c, char *err, size_t errlen);

/* The first run time > after (seconds since the epoch, UTC), or -1 if there
 * is none in the next nine years. */
int64_t cron_next(const struct cron_expr *c, const struct tz *z, int64_t after);

/* The latest run time t with since < t <= now, or -1. */
int64_t cron_last(const struct cron_expr *c, const struct tz *z, int64_t since, int64_t now);

#endif
