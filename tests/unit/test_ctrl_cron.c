/* test_ctrl_cron.c: cron schedules (common/cron.c: every syntax, invalid
 * expressions and their messages, next and last run times), time zones
 * (common/tz.c: the zoneinfo reader, DST in America/New_York and
 * Europe/Berlin with the documented gap/overlap rule) and the CronJob
 * controller against the fake store and clock: runs at schedule times,
 * one catch-up after downtime, startingDeadlineSeconds, concurrency
 * policies, history limits, suspend, time zones. */
#include "test_ctrl_fake.h"

#include "common/cron.h"
#include "common/errors.h"
#include "common/tz.h"

static int64_t ts(const char *s)
{
    time_t t;
    if (time_parse_rfc3339(s, &t)) abort();
    return (int64_t)t;
}

static struct cron_expr parse_ok(const char *s)
{
    struct cron_expr c;
    char err[256] = "";
    int rc = cron_parse(s, &c, err, sizeof err);
    if (rc) fprintf(stderr, "parse \"%s\": %s\n", s, err);
    CHECK_INT(rc, 0);
    return c;
}

static void check_bad(const char *s, const char *want)
{
    struct cron_expr c;
    char err[256] = "";
    CHECK_INT(cron_parse(s, &c, err, sizeof err), BE_INVAL);
    if (!strstr(err, want)) fprintf(stderr, "\"%s\": message \"%s\" lacks \"%s\"\n", s, err, want);
    CHECK(strstr(err, want) != NULL);
}

static void test_parse(void)
{
    struct cron_expr c = parse_ok("*/15 0-6,22 1,15 JAN-mar Mon-FRI");
    CHECK(c.minute == (1ULL << 0 | 1ULL << 15 | 1ULL << 30 | 1ULL << 45));
    CHECK_INT(c.hour, 0x7f | 1u << 22);
    CHECK_INT(c.dom, 1u << 1 | 1u << 15);
    CHECK_INT(c.month, 1u << 1 | 1u << 2 | 1u << 3);
    CHECK_INT(c.dow, 0x3e);
    CHECK(!c.dom_star && !c.dow_star);
    c = parse_ok("5/20 * * * 7");
    CHECK(c.minute == (1ULL << 5 | 1ULL << 25 | 1ULL << 45));
    CHECK_INT(c.dow, 1);
    CHECK(c.dom_star && !c.dow_star);
    c = parse_ok("0 0 * * 5-7");
    CHECK_INT(c.dow, 1 | 1 << 5 | 1 << 6);
    c = parse_ok("10-50/20 */6 * * *");
    CHECK(c.minute == (1ULL << 10 | 1ULL << 30 | 1ULL << 50));
    CHECK_INT(c.hour, 1 | 1 << 6 | 1 << 12 | 1 << 18);
    c = parse_ok("  0 0 30 2 1  "); /* never the 30th of February, but every Monday in it */
    struct { const char *macro, *same; } macros[] = {
        {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
        {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
        {"@hourly", "0 * * * *"},
    };
    for (size_t i = 0; i < sizeof macros / sizeof macros[0]; i++) {
        struct cron_expr a = parse_ok(macros[i].macro), b = parse_ok(macros[i].same);
        CHECK(!memcmp(&a, &b, sizeof a));
    }
}

static void test_parse_invalid(void)
{
    check_bad("60 * * * *", "minute field: value 60 out of range 0-59");
    check_bad("* 24 * * *", "hour field: value 24 out of range 0-23");
    check_bad("* * 0 * *", "day-of-month field: value 0 out of range 1-31");
    check_bad("* * * 13 *", "month field: value 13 out of range 1-12");
    check_bad("* * * * 8", "day-of-week field: value 8 out of range 0-7");
    check_bad("* * * *", "expected 5 fields (minute hour day-of-month month day-of-week), got 4");
    check_bad("* * * * * *", "got 6");
    check_bad("", "got 0");
    check_bad("*/0 * * * *", "minute field: step must be a number from 1 to 59");
    check_bad("5-1 * * * *", "minute field: range 5-1 goes backwards");
    check_bad("* * * FOO *", "month field: unknown name \"FOO\"");
    check_bad("* * * * MONDAY", "day-of-week field: unknown name \"MONDAY\"");
    check_bad("1,,2 * * * *", "minute field: empty list item");
    check_bad("1- * * * *", "minute field: expected a number");
    check_bad("*5 * * * *", "minute field: unexpected \"5\"");
    check_bad("@every 1h", "unknown macro \"@every 1h\"");
    check_bad("0 0 30 2 *", "never runs");
    check_bad("0 0 31 4,6,9,11 *", "never runs");
    check_bad("TZ=UTC 0 0 * * *", "use spec.timeZone");
}

static void check_next(const char *expr, const char *zone, const char *after, const char *want)
{
    struct cron_expr c = parse_ok(expr);
    struct tz *z = NULL;
    char err[256];
    if (zone && tz_load(zone, &z, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        CHECK(0);
        return;
    }
    int64_t t = cron_next(&c, z, ts(after));
    char got[32] = "none";
    if (t >= 0) time_format_rfc3339((time_t)t, got, sizeof got);
    if (strcmp(got, want)) fprintf(stderr, "next(\"%s\" in %s after %s)\n", expr, zone ? zone : "UTC", after);
    CHECK_STR(got, want);
    tz_free(z);
}

static void test_next_utc(void)
{
    check_next("* * * * *", NULL, "2025-11-24T16:00:00Z", "2025-11-24T16:01:00Z");
    check_next("* * * * *", NULL, "2025-11-24T16:00:30Z", "2025-11-24T16:01:00Z");
    check_next("@yearly", NULL, "2025-06-01T00:00:00Z", "2026-01-01T00:00:00Z");
    check_next("0 0 29 2 *", NULL, "2025-03-01T00:00:00Z", "2028-02-29T00:00:00Z");
    check_next("*/20 9-10 * * *", NULL, "2025-11-24T10:40:00Z", "2025-11-25T09:00:00Z");
    /* both day fields restricted: the 13th or a Friday (2025-11-28) */
    check_next("0 9 13 * 5", NULL, "2025-11-24T00:00:00Z", "2025-11-28T09:00:00Z");
    check_next("0 9 13 * 5", NULL, "2025-12-12T10:00:00Z", "2025-12-13T09:00:00Z");
    /* day-of-week starting with '*': both must match: a Monday the 1st */
    check_next("0 0 1 * */7", NULL, "2025-11-24T00:00:00Z", "2026-02-01T00:00:00Z");
    check_next("0 0 1 * 1", NULL, "2025-11-24T00:00:00Z", "2025-12-01T00:00:00Z");
    check_next("0 12 * * SUN", NULL, "2025-11-24T00:00:00Z", "2025-11-30T12:00:00Z");
    check_next("0 12 * * 7", NULL, "2025-11-24T00:00:00Z", "2025-11-30T12:00:00Z");
}

/* The rule (cron.h): a skipped wall-clock time runs at the end of the gap;
 * a repeated one at its first occurrence only (unless every hour matches). */
static void test_next_dst(void)
{
    const char *ny = "America/New_York", *be = "Europe/Berlin";
    /* spring forward, New York 2026-03-08 02:00 EST -> 03:00 EDT */
    check_next("30 2 * * *", ny, "2026-03-07T12:00:00Z", "2026-03-08T07:00:00Z"); /* 03:00 EDT */
    check_next("30 2 * * *", ny, "2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z"); /* 02:30 EDT */
    check_next("30 2 * * *", ny, "2026-03-06T12:00:00Z", "2026-03-07T07:30:00Z"); /* 02:30 EST */
    check_next("*/15 2 * * *", ny, "2026-03-08T06:00:00Z", "2026-03-08T07:00:00Z"); /* once */
    check_next("*/15 2 * * *", ny, "2026-03-08T07:00:00Z", "2026-03-09T06:00:00Z");
    /* fall back, New York 2026-11-01 02:00 EDT -> 01:00 EST: 01:xx twice */
    check_next("30 1 * * *", ny, "2026-11-01T00:00:00Z", "2026-11-01T05:30:00Z"); /* 01:30 EDT */
    check_next("30 1 * * *", ny, "2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"); /* not 01:30 EST */
    check_next("30 2 * * *", ny, "2026-11-01T00:00:00Z", "2026-11-01T07:30:00Z"); /* 02:30 EST, once */
    check_next("30 2 * * *", ny, "2026-11-01T07:30:00Z", "2026-11-02T07:30:00Z");
    check_next("*/30 * * * *", ny, "2026-11-01T05:00:00Z", "2026-11-01T05:30:00Z");
    check_next("*/30 * * * *", ny, "2026-11-01T05:30:00Z", "2026-11-01T06:00:00Z"); /* 01:00 EST */
    check_next("*/30 * * * *", ny, "2026-11-01T06:00:00Z", "2026-11-01T06:30:00Z");
    check_next("*/30 * * * *", ny, "2026-11-01T06:30:00Z", "2026-11-01T07:00:00Z");
    /* Berlin: 2026-03-29 02:00 CET -> 03:00 CEST; 2026-10-25 03:00 CEST -> 02:00 CET */
    check_next("30 2 * * *", be, "2026-03-28T12:00:00Z", "2026-03-29T01:00:00Z"); /* 03:00 CEST */
    check_next("30 2 * * *", be, "2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z");
    check_next("30 2 * * *", be, "2026-10-24T12:00:00Z", "2026-10-25T00:30:00Z"); /* 02:30 CEST */
    check_next("30 2 * * *", be, "2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"); /* not 02:30 CET */
    check_next("0 * * * *", be, "2026-10-25T00:00:00Z", "2026-10-25T01:00:00Z"); /* 02:00 CET */
    check_next("0 9 * * *", be, "2025-11-24T00:00:00Z", "2025-11-24T08:00:00Z");
    check_next("0 9 * * *", be, "2026-07-01T00:00:00Z", "2026-07-01T07:00:00Z");
    /* far beyond the file's explicit transitions: the footer rule */
    check_next("30 2 * * *", be, "2090-03-25T12:00:00Z", "2090-03-26T01:00:00Z");
    check_next("0 12 * * *", ny, "2090-07-01T00:00:00Z", "2090-07-01T16:00:00Z");
}

static void test_tz(void)
{
    struct tz *z;
    char err[256];
    CHECK_INT(tz_load("Europe/Berlin", &z, err, sizeof err), 0);
    CHECK_INT(tz_offset(z, ts("2026-01-15T12:00:00Z"), NULL), 3600);
    int64_t start;
    CHECK_INT(tz_offset(z, ts("2026-07-15T12:00:00Z"), &start), 7200);
    CHECK_INT(start, ts("2026-03-29T01:00:00Z"));
    CHECK_STR(tz_name(z), "Europe/Berlin");
    tz_free(z);
    CHECK_INT(tz_load("UTC", &z, err, sizeof err), 0);
    CHECK_INT(tz_offset(z, ts("2026-07-15T12:00:00Z"), NULL), 0);
    tz_free(z);
    CHECK_INT(tz_load("Mars/Olympus_Mons", &z, err, sizeof err), BE_NOTFOUND);
    CHECK(strstr(err, "unknown time zone \"Mars/Olympus_Mons\"") != NULL);
    CHECK_INT(tz_load("../etc/passwd", &z, err, sizeof err), BE_INVAL);
    CHECK_INT(tz_days_from_civil(1970, 1, 1), 0);
    int64_t y;
    int m, d;
    tz_civil_from_days(tz_days_from_civil(2028, 2, 29), &y, &m, &d);
    CHECK(y == 2028 && m == 2 && d == 29);
    CHECK_INT(tz_weekday(tz_days_from_civil(2025, 11, 24)), 1);
}

static void test_last(void)
{
    struct cron_expr c = parse_ok("*/5 * * * *");
    CHECK_INT(cron_last(&c, NULL, ts("2025-11-24T10:00:00Z"), ts("2025-11-24T10:12:00Z")), ts("2025-11-24T10:10:00Z"));
    CHECK_INT(cron_last(&c, NULL, ts("2025-11-24T10:10:00Z"), ts("2025-11-24T10:12:00Z")), -1);
    c = parse_ok("0 0 1 1 *"); /* last New Year long ago: found however far back */
    CHECK_INT(cron_last(&c, NULL, ts("2020-06-01T00:00:00Z"), ts("2025-11-24T10:00:00Z")), ts("2025-01-01T00:00:00Z"));
}

/* ---- the controller ------------------------------------------------------------ */

static json_t *cj_json(const char *sched, const char *policy)
{
    return json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:s}, s:{s:s, s:s, s:b, s:i, s:i, s:{s:{s:i, s:i, s:i, s:{s:{s:s, s:[{s:s, s:s}]}}}}}}",
                     "apiVersion", "batch/v1", "kind", "CronJob", "metadata", "name", "cj",
                     "namespace", "default", "uid", "cj-1", "creationTimestamp",
                     "2025-11-24T16:00:00Z", "spec", "schedule", sched, "concurrencyPolicy", policy,
                     "suspend", 0, "successfulJobsHistoryLimit", 3, "failedJobsHistoryLimit", 1,
                     "jobTemplate", "spec", "completions", 1, "parallelism", 1, "backoffLimit", 6,
                     "template", "spec", "restartPolicy", "Never", "containers", "name", "c",
                     "image", "busybox");
}

static bool event_pending(ctrl_manager_t *m, const char *reason)
{
    size_t n;
    struct ctrl_write *w = ctrl_test_writes(m, &n);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(w[i].resource, "events") && w[i].json && strstr(w[i].json, reason)) return true;
    return false;
}

/* Moves the clock and runs the CronJob (and the others) until quiet;
 * returns whether reason appeared among the Events on the first round. */
static bool advance(ctrl_manager_t *m, int64_t secs, const char *reason)
{
    fake_now += secs * 1000;
    for (size_t i = 0; i < m->nctrls; i++) ctrl_queue_promote(&m->ctrls[i], fake_now);
    ctrl_run_ready(m, 100000);
    bool seen = reason && event_pending(m, reason);
    ctrl_test_commit(m);
    settle(m);
    return seen;
}

static size_t njobs(ctrl_manager_t *m)
{
    return count(m, "jobs");
}

static void finish_job(ctrl_manager_t *m, const char *name, const char *type)
{
    json_t *j = json_deep_copy(get(m, "jobs", name)->obj);
    json_t *st = json_object_get(j, "status");
    if (!json_is_object(st)) json_object_set_new(j, "status", st = json_object());
    json_object_set_new(st, "conditions", json_pack("[{s:s, s:s, s:s}]", "type", type, "status", "True",
                                                    "lastTransitionTime", "2025-11-24T16:00:00Z"));
    char t[32];
    time_format_rfc3339((time_t)(fake_now / 1000), t, sizeof t);
    if (!strcmp(type, "Complete")) json_object_set_new(st, "completionTime", json_string(t));
    json_object_set_new(json_object_get(j, "spec"), "suspend", json_true()); /* no pods */
    feed(m, "jobs", STORE_EV_MODIFIED, j);
    settle(m);
}

static void test_cronjob_runs(void)
{
    fake_now = ts("2025-11-24T16:00:00Z") * 1000;
    ctrl_manager_t *m = fake_manager();
    feed(m, "cronjobs", STORE_EV_ADDED, cj_json("*/5 * * * *", "Allow"));
    settle(m);
    CHECK_INT(njobs(m), 0);
    advance(m, 299, NULL);
    CHECK_INT(njobs(m), 0);
    CHECK(advance(m, 1, "SuccessfulCreate"));
    CHECK_INT(njobs(m), 1);
    const struct ctrl_obj *j = get(m, "jobs", "cj-29400005"); /* 16:05 in minutes */
    CHECK(j != NULL);
    if (j) {
        CHECK_STR(json_string_value(json_object_get(ctrl_controller_ref(j->obj), "uid")), "cj-1");
        CHECK_INT(ctrl_int(j->obj, "spec.completions", 0), 1);
    }
    const struct ctrl_obj *cj = get(m, "cronjobs", "cj");
    CHECK_STR(json_path_str(cj->obj, "status.lastScheduleTime"), "2025-11-24T16:05:00Z");
    CHECK_INT(json_array_size(json_path(cj->obj, "status") ? json_object_get(json_path(cj->obj, "status"), "active") : NULL), 1);
    /* the Job controller made its pod */
    CHECK_INT(count(m, "pods"), 1);
    /* downtime of an hour: one catch-up run, for 17:05 */
    fake_now += 3600 * 1000;
    fake_close(m); /* berthd is down; a new leader starts from the stored CronJob */
    m = fake_manager();
    json_t *c2 = cj_json("*/5 * * * *", "Allow");
    json_object_set_new(c2, "status", json_pack("{s:s}", "lastScheduleTime", "2025-11-24T16:05:00Z"));
    feed(m, "cronjobs", STORE_EV_ADDED, c2);
    advance(m, 0, NULL);
    CHECK_INT(njobs(m), 1);
    CHECK(get(m, "jobs", "cj-29400065") != NULL); /* 17:05 */
    CHECK_STR(json_path_str(get(m, "cronjobs", "cj")->obj, "status.lastScheduleTime"), "2025-11-24T17:05:00Z");
    /* the same run seen again (another leader made it): nothing new */
    advance(m, 60, NULL);
    CHECK_INT(njobs(m), 1);
    fake_close(m);
}

static void test_cronjob_deadline_and_suspend(void)
{
    fake_now = ts("2025-11-24T17:07:00Z") * 1000;
    ctrl_manager_t *m = fake_manager();
    json_t *c = cj_json("*/5 * * * *", "Allow");
    json_object_set_new(json_object_get(c, "spec"), "startingDeadlineSeconds", json_integer(60));
    json_object_set_new(c, "status", json_pack("{s:s}", "lastScheduleTime", "2025-11-24T16:05:00Z"));
    feed(m, "cronjobs", STORE_EV_ADDED, c);
    CHECK(advance(m, 0, "MissedSchedule")); /* 17:05 was 120 s ago */
    CHECK_INT(njobs(m), 0);
    CHECK(advance(m, 180, "SuccessfulCreate")); /* 17:10 */
    CHECK_INT(njobs(m), 1);
    /* suspended: nothing runs */
    json_t *s = json_deep_copy(get(m, "cronjobs", "cj")->obj);
    json_object_set_new(json_object_get(s, "spec"), "suspend", json_true());
    feed(m, "cronjobs", STORE_EV_MODIFIED, s);
    advance(m, 600, NULL);
    CHECK_INT(njobs(m), 1);
    fake_close(m);
}

static void test_cronjob_concurrency(void)
{
    fake_now = ts("2025-11-24T16:00:00Z") * 1000;
    ctrl_manager_t *m = fake_manager();
    feed(m, "cronjobs", STORE_EV_ADDED, cj_json("*/5 * * * *", "Forbid"));
    advance(m, 300, NULL);
    CHECK_INT(njobs(m), 1);
    advance(m, 300, NULL); /* 16:10: the 16:05 Job still runs */
    CHECK_INT(njobs(m), 1);
    fake_now += 60 * 1000;
    finish_job(m, "cj-29400005", "Complete"); /* finishing wakes it: 16:10 runs late */
    CHECK_INT(njobs(m), 2);
    CHECK(get(m, "jobs", "cj-29400010") != NULL);
    CHECK_STR(json_path_str(get(m, "cronjobs", "cj")->obj, "status.lastSuccessfulTime"), "2025-11-24T16:11:00Z");
    fake_close(m);

    fake_now = ts("2025-11-24T16:00:00Z") * 1000;
    m = fake_manager();
    feed(m, "cronjobs", STORE_EV_ADDED, cj_json("*/5 * * * *", "Replace"));
    advance(m, 300, NULL);
    CHECK(advance(m, 300, "SuccessfulDelete"));
    CHECK(get(m, "jobs", "cj-29400005") == NULL);
    CHECK(get(m, "jobs", "cj-29400010") != NULL);
    const struct ctrl_obj *cj = get(m, "cronjobs", "cj");
    json_t *act = json_object_get(json_object_get(cj->obj, "status"), "active");
    CHECK_INT(json_array_size(act), 1);
    CHECK_STR(json_string_value(json_object_get(json_array_get(act, 0), "name")), "cj-29400010");
    fake_close(m);

    fake_now = ts("2025-11-24T16:00:00Z") * 1000;
    m = fake_manager();
    feed(m, "cronjobs", STORE_EV_ADDED, cj_json("*/5 * * * *", "Allow"));
    advance(m, 300, NULL);
    advance(m, 300, NULL);
    CHECK_INT(njobs(m), 2);
    fake_close(m);
}

static void test_cronjob_history(void)
{
    fake_now = ts("2025-11-24T16:00:00Z") * 1000;
    ctrl_manager_t *m = fake_manager();
    json_t *c = cj_json("* * * * *", "Allow");
    json_object_set_new(json_object_get(c, "spec"), "successfulJobsHistoryLimit", json_integer(2));
    feed(m, "cronjobs", STORE_EV_ADDED, c);
    const char *names[] = {"cj-29400001", "cj-29400002", "cj-29400003", "cj-29400004", "cj-29400005"};
    for (int i = 0; i < 5; i++) {
        advance(m, 60, NULL);
        finish_job(m, names[i], i == 1 || i == 3 ? "Failed" : "Complete");
    }
    /* successes 1, 3, 5 (limit 2: the first goes); failures 2, 4 (limit 1) */
    CHECK(get(m, "jobs", names[0]) == NULL);
    CHECK(get(m, "jobs", names[1]) == NULL);
    CHECK(get(m, "jobs", names[2]) != NULL);
    CHECK(get(m, "jobs", names[3]) != NULL);
    CHECK(get(m, "jobs", names[4]) != NULL);
    fake_close(m);
}

static void test_cronjob_timezone(void)
{
    fake_now = ts("2025-11-24T00:00:00Z") * 1000;
    ctrl_manager_t *m = fake_manager();
    json_t *c = cj_json("0 9 * * *", "Allow");
    json_object_set_new(json_path(c, "metadata"), "creationTimestamp", json_string("2025-11-24T00:00:00Z"));
    json_object_set_new(json_object_get(c, "spec"), "timeZone", json_string("Europe/Berlin"));
    feed(m, "cronjobs", STORE_EV_ADDED, c);
    settle(m);
    advance(m, 8 * 3600 - 1, NULL);
    CHECK_INT(njobs(m), 0);
    advance(m, 1, NULL); /* 08:00Z = 09:00 CET */
    CHECK_INT(njobs(m), 1);
    fake_close(m);

    m = fake_manager();
    c = cj_json("* * * * *", "Allow");
    json_object_set_new(json_object_get(c, "spec"), "timeZone", json_string("Mars/Olympus_Mons"));
    feed(m, "cronjobs", STORE_EV_ADDED, c);
    CHECK(advance(m, 120, "UnknownTimeZone"));
    CHECK_INT(njobs(m), 0);
    fake_close(m);
}

int main(void)
{
    RUN(test_parse);
    RUN(test_parse_invalid);
    RUN(test_next_utc);
    RUN(test_next_dst);
    RUN(test_tz);
    RUN(test_last);
    RUN(test_cronjob_runs);
    RUN(test_cronjob_deadline_and_suspend);
    RUN(test_cronjob_concurrency);
    RUN(test_cronjob_history);
    RUN(test_cronjob_timezone);
    UNIT_EXIT();
}
