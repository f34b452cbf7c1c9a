/* cronjob.c: the CronJob controller (batch/v1).
 *
 * Keys are "ns/name" of CronJobs; a Job event maps to the CronJob that
 * controls it. Schedules are parsed by common/cron.c and evaluated in
 * spec.timeZone (common/tz.c, zone files cached per leadership term in
 * c->priv; no timeZone: UTC). A zone that cannot be loaded gets a Warning
 * Event (UnknownTimeZone) and the CronJob is not scheduled.
 *
 * One sync:
 *  1. the CronJob's Jobs: unfinished ones make status.active, Complete ones
 *     lastSuccessfulTime; finished Jobs beyond successfulJobsHistoryLimit /
 *     failedJobsHistoryLimit are deleted, oldest first (their pods follow
 *     by garbage collection).
 *  2. unless suspended: the most recent schedule time t with
 *     lastScheduleTime (else creationTimestamp) < t <= now. After any
 *     downtime that is the only catch-up run (older missed times are
 *     dropped, however many: no "too many missed start times" stop), and
 *     it runs only if now - t <= startingDeadlineSeconds when that is set.
 *     The Job is "<cronjob>-<t in minutes since the epoch>": if it already
 *     exists (a failover, a retried sync), the run is done. Otherwise
 *     concurrencyPolicy decides: Allow creates; Forbid waits while a Job is
 *     active (a finishing Job wakes the CronJob, and the run still happens
 *     if within the deadline); Replace deletes the active Jobs and creates.
 *  3. status (active, lastScheduleTime, lastSuccessfulTime) if changed,
 *     and a wake-up at the next schedule time. */
#include <stdlib.h>
#include <string.h>

#include "common/cron.h"
#include "common/errors.h"
#include "common/jsonutil.h"
#include "common/log.h"
#include "common/tz.h"
#include "controllers/ctrl_int.h"

static const char *const cj_resources[] = {"cronjobs", "jobs", NULL};

struct cjobs {
    const struct ctrl_obj **active, **ok, **bad;
    size_t nactive, nok, nbad;
};

static int cj_init(struct ctrl *c)
{
    c->priv = calloc(1, sizeof(struct dict));
    return c->priv ? 0 : BE_NOMEM;
}

static void free_tz(void *p)
{
    tz_free(p);
}

static void cj_fini(struct ctrl *c)
{
    if (!c->priv) return;
    dict_clear(c->priv, free_tz);
    free(c->priv);
}

static const struct tz *zone(struct ctrl *c, const char *name, char *err, size_t len)
{
    struct tz *z = dict_get(c->priv, name);
    if (z) return z;
    if (tz_load(name, &z, err, len)) return NULL;
    if (dict_put(c->priv, name, z)) {
        tz_free(z);
        snprintf(err, len, "out of memory");
        return NULL;
    }
    return z;
}

static const struct ctrl_obj *cj_of(struct ctrl *c, const struct ctrl_obj *job)
{
    const json_t *ref = ctrl_controller_ref(job->obj);
    const char *kind = json_string_value(json_object_get(ref, "kind"));
    const char *name = json_string_value(json_object_get(ref, "name"));
    const char *uid = json_string_value(json_object_get(ref, "uid"));
    if (!kind || strcmp(kind, "CronJob") || !name || !uid) return NULL;
    const struct ctrl_obj *cj = ctrl_get(c, "cronjobs", job->ns, name);
    return cj && cj->uid && !strcmp(cj->uid, uid) ? cj : NULL;
}

static void cj_on_event(struct ctrl *c, enum store_ev_type type, const struct ctrl_obj *old,
                        const struct ctrl_obj *obj)
{
    char key[512];
    const struct ctrl_obj *cj = strcmp(obj->resource, "cronjobs") ? cj_of(c, obj) : obj;
    if (!cj || (cj == obj && type == STORE_EV_DELETED)) return;
    ctrl_key(key, sizeof key, cj->ns, cj->name);
    ctrl_enqueue(c, key);
}

/* ---- the CronJob's Jobs -------------------------------------------------- */

static bool cond_true(const json_t *obj, const char *type)
{
    const char *s = json_string_value(json_object_get(ctrl_condition(obj, type), "status"));
    return s && !strcmp(s, "True");
}

static const char *finished_at(const json_t *job)
{
    const char *t = json_path_str(job, "status.completionTime");
    if (!t) t = json_string_value(json_object_get(ctrl_condition(job, "Failed"), "lastTransitionTime"));
    if (!t) t = json_path_str(job, "metadata.creationTimestamp");
    return t ? t : "";
}

static int by_finish(const void *pa, const void *pb)
{
    const struct ctrl_obj *a = *(const struct ctrl_obj *const *)pa, *b = *(const struct ctrl_obj *const *)pb;
    int r = strcmp(finished_at(a->obj), finished_at(b->obj));
    return r ? r : strcmp(a->name, b->name);
}

static int list_jobs(struct ctrl *c, const struct ctrl_obj *cj, struct cjobs *j)
{
    const struct ctrl_obj **deps;
    size_t n = ctrl_dependents(c, cj->uid, &deps);
    memset(j, 0, sizeof *j);
    size_t sz = (n ? n : 1) * sizeof(void *);
    j->active = malloc(sz), j->ok = malloc(sz), j->bad = malloc(sz);
    if (!j->active || !j->ok || !j->bad) {
        free(deps);
        return BE_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        const struct ctrl_obj *o = deps[i];
        if (strcmp(o->resource, "jobs") || cj_of(c, o) != cj || ctrl_deleting(o->obj)) continue;
        if (cond_true(o->obj, "Complete")) j->ok[j->nok++] = o;
        else if (cond_true(o->obj, "Failed")) j->bad[j->nbad++] = o;
        else j->active[j->nactive++] = o;
    }
    free(deps);
    qsort(j->ok, j->nok, sizeof *j->ok, by_finish);
    qsort(j->bad, j->nbad, sizeof *j->bad, by_finish);
    return 0;
}

static void free_jobs(struct cjobs *j)
{
    free(j->active);
    free(j->ok);
    free(j->bad);
}

static json_t *job_ref(const struct ctrl_obj *job)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s}", "apiVersion", "batch/v1", "kind", "Job", "name",
                     job->name, "namespace", job->ns, "uid", job->uid ? job->uid : "");
}

static void prune(struct ctrl *c, const struct ctrl_obj *cj, const struct ctrl_obj **v, size_t n,
                  const char *limit_field, int64_t def)
{
    int64_t limit = ctrl_int(cj->obj, limit_field, def);
    for (size_t i = 0; limit >= 0 && (int64_t)i + limit < (int64_t)n; i++) {
        if (ctrl_delete(c, v[i], NULL)) continue;
        ctrl_event(c, cj, "Normal", "SuccessfulDelete", "Deleted job %s", v[i]->name);
    }
}

/* status.active from the unfinished Jobs, lastSuccessfulTime; then prune. */
static void observe(struct ctrl *c, const struct ctrl_obj *cj, json_t *st, const struct cjobs *j)
{
    json_t *active = json_array();
    for (size_t i = 0; i < j->nactive; i++) json_array_append_new(active, job_ref(j->active[i]));
    if (json_array_size(active)) json_object_set_new(st, "active", active);
    else {
        json_decref(active);
        json_object_del(st, "active");
    }
    const char *last = json_string_value(json_object_get(st, "lastSuccessfulTime"));
    for (size_t i = 0; i < j->nok; i++) {
        const char *t = json_path_str(j->ok[i]->obj, "status.completionTime");
        if (t && (!last || strcmp(t, last) > 0)) last = t;
    }
    if (last) json_object_set_new(st, "lastSuccessfulTime", json_string(last));
    prune(c, cj, j->ok, j->nok, "spec.successfulJobsHistoryLimit", 3);
    prune(c, cj, j->bad, j->nbad, "spec.failedJobsHistoryLimit", 1);
}

/* ---- running ----------------------------------------------------------------- */

static json_t *job_for(const struct ctrl_obj *cj, const char *name, int64_t t)
{
    json_t *jt = json_path(cj->obj, "spec.jobTemplate");
    json_t *spec = json_deep_copy(json_object_get(jt, "spec"));
    if (!json_is_object(spec)) {
        json_decref(spec);
        return NULL;
    }
    char ts[32];
    time_format_rfc3339((time_t)t, ts, sizeof ts);
    json_t *annots = json_deep_copy(json_path(jt, "metadata.annotations"));
    if (!json_is_object(annots)) {
        json_decref(annots);
        annots = json_object();
    }
    json_object_set_new(annots, "batch.kubernetes.io/cronjob-scheduled-timestamp", json_string(ts));
    json_t *md = json_pack("{s:s, s:s, s:o, s:[o]}", "name", name, "namespace", cj->ns,
                           "annotations", annots, "ownerReferences",
                           ctrl_owner_ref("batch/v1", "CronJob", cj));
    json_t *labels = json_path(jt, "metadata.labels");
    if (md && labels) json_object_set(md, "labels", labels);
    return json_pack("{s:o, s:s, s:s, s:o}", "metadata", md, "apiVersion", "batch/v1", "kind",
                     "Job", "spec", spec);
}

/* Starts the run of scheduled time t (seconds) if policy allows; updates st. */
static int run(struct ctrl *c, const struct ctrl_obj *cj, json_t *st, const struct cjobs *j, int64_t t)
{
    char name[320], ts[32];
    snprintf(name, sizeof name, "%.240s-%lld", cj->name, (long long)(t / 60));
    time_format_rfc3339((time_t)t, ts, sizeof ts);
    if (ctrl_get(c, "jobs", cj->ns, name)) { /* done already (failover, retried sync) */
        json_object_set_new(st, "lastScheduleTime", json_string(ts));
        return 0;
    }
    const char *policy = json_path_str(cj->obj, "spec.concurrencyPolicy");
    if (j->nactive && policy && !strcmp(policy, "Forbid")) return 0; /* a finishing Job wakes us */
    if (j->nactive && policy && !strcmp(policy, "Replace")) {
        for (size_t i = 0; i < j->nactive; i++)
            if (!ctrl_delete(c, j->active[i], NULL))
                ctrl_event(c, cj, "Normal", "SuccessfulDelete", "Deleted job %s", j->active[i]->name);
        json_object_del(st, "active");
    }
    json_t *job = job_for(cj, name, t);
    if (!job) {
        ctrl_event(c, cj, "Warning", "FailedCreate", "Error creating job: the job template has no spec");
        return 0;
    }
    int rc = ctrl_create(c, "jobs", job, NULL, NULL, 0);
    if (rc) return rc;
    ctrl_event(c, cj, "Normal", "SuccessfulCreate", "Created job %s", name);
    json_t *active = json_object_get(st, "active");
    if (!json_is_array(active)) json_object_set_new(st, "active", active = json_array());
    json_array_append_new(active, json_pack("{s:s, s:s, s:s, s:s}", "apiVersion", "batch/v1",
                                            "kind", "Job", "name", name, "namespace", cj->ns));
    json_object_set_new(st, "lastScheduleTime", json_string(ts));
    return 0;
}

static int schedule(struct ctrl *c, const char *key, const struct ctrl_obj *cj, json_t *st,
                    const struct cjobs *j)
{
    struct cron_expr ce;
    char err[256];
    const char *sched = json_path_str(cj->obj, "spec.schedule");
    if (cron_parse(sched, &ce, err, sizeof err)) {
        ctrl_event(c, cj, "Warning", "InvalidSchedule", "invalid schedule \"%s\": %s", sched ? sched : "", err);
        return 0;
    }
    const struct tz *z = NULL;
    const char *tzn = json_path_str(cj->obj, "spec.timeZone");
    if (tzn && !(z = zone(c, tzn, err, sizeof err))) {
        ctrl_event(c, cj, "Warning", "UnknownTimeZone", "not scheduled: %s", err);
        return 0;
    }
    int64_t now_ms = ctrl_now_ms(c), now = tz_floor_div(now_ms, 1000);
    const char *last = json_string_value(json_object_get(st, "lastScheduleTime"));
    if (!last) last = json_path_str(cj->obj, "metadata.creationTimestamp");
    time_t since = 0;
    if (last && time_parse_rfc3339(last, &since)) since = 0;
    int64_t t = cron_last(&ce, z, since ? (int64_t)since : now - 60, now);
    int rc = 0;
    if (t >= 0) {
        int64_t sds;
        char ts[32];
        time_format_rfc3339((time_t)t, ts, sizeof ts);
        if (!json_path_int(cj->obj, "spec.startingDeadlineSeconds", &sds) && now - t > sds)
            ctrl_event(c, cj, "Warning", "MissedSchedule",
                       "missed the run of %s: more than startingDeadlineSeconds (%lld s) ago", ts,
                       (long long)sds);
        else
            rc = run(c, cj, st, j, t);
    }
    int64_t next = cron_next(&ce, z, now);
    if (next >= 0) ctrl_enqueue_after(c, key, next * 1000 - now_ms);
    return rc;
}

static int cj_sync(struct ctrl *c, const char *key)
{
    const struct ctrl_obj *cj = ctrl_get_key(c, "cronjobs", key);
    if (!cj || ctrl_deleting(cj->obj) || !cj->uid) return 0;
    struct cjobs j;
    int rc = list_jobs(c, cj, &j);
    json_t *copy = rc ? NULL : json_deep_copy(cj->obj);
    if (!copy) {
        free_jobs(&j);
        return BE_NOMEM;
    }
    json_t *st = json_object_get(copy, "status");
    if (!json_is_object(st)) json_object_set_new(copy, "status", st = json_object());
    observe(c, cj, st, &j);
    if (!json_is_true(json_path(cj->obj, "spec.suspend"))) rc = schedule(c, key, cj, st, &j);
    free_jobs(&j);
    if (!rc && !json_equal(copy, cj->obj)) return ctrl_update(c, cj, copy);
    json_decref(copy);
    return rc;
}

const struct ctrl_def ctrl_cronjob_def = {
    .name = "cronjob-controller",
    .resources = cj_resources,
    .on_event = cj_on_event,
    .sync = cj_sync,
    .init = cj_init,
    .fini = cj_fini,
};
