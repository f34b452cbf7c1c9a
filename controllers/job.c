/* job.c: the Job controller (batch/v1).
 *
 * Keys are "ns/name" of Jobs; a pod event maps to the Job controlling it
 * (by controller ownerReference) and observes that key's expectations.
 *
 * One sync:
 *  1. count the Job's pods: active, succeeded, failed (Failed pods, plus
 *     container restarts under restartPolicy OnFailure). status.succeeded
 *     and .failed never go down (pods may be deleted by hand; we do not
 *     track finished pods with finalizers as Kubernetes does).
 *  2. finish: failures > backoffLimit -> Failed/BackoffLimitExceeded;
 *     active longer than activeDeadlineSeconds -> Failed/DeadlineExceeded
 *     (a wake-up is set for the deadline); succeeded >= completions (or,
 *     with no completions, a success and nothing active) -> Complete. A
 *     finished Job deletes its active pods and creates nothing more.
 *  3. pods, unless writes are unobserved (expectations): at most
 *     min(parallelism, completions - succeeded) active (work-queue Jobs:
 *     parallelism until the first success); extras are deleted (not ready
 *     and newest first). Creates go in slow-start batches and wait out the
 *     back-off after failures: 10 s * 2^(failures since the last success
 *     - 1), capped at 6 minutes, counted from the last failure's finish
 *     time (a wake-up is set for its end).
 *  4. ttlSecondsAfterFinished: the Job is deleted that long after it
 *     finished (its pods go with it, by the garbage collector).
 *  5. status (active, ready, succeeded, failed, startTime, completionTime,
 *     conditions) and the selector (controller-uid=<uid>, set when the API
 *     server left it empty) in one update, if anything changed.
 * Pods: generateName "<job>-", the template's labels plus job-name and
 * controller-uid, a controller ownerReference. */
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/jsonutil.h"
#include "common/log.h"
#include "controllers/ctrl_int.h"

#define BACKOFF_BASE_S 10
#define BACKOFF_MAX_S 360

static const char *const job_resources[] = {"jobs", "pods", NULL};

struct jcount {
    int64_t active, ready, succeeded, failed, restarts;
    int64_t fails_since_success;    /* for the back-off */
    time_t last_fail, last_success;
    const struct ctrl_obj **act;    /* active pods */
};

/* The Job controlling o (by its controller ref), if cached. */
static const struct ctrl_obj *job_of(struct ctrl *c, const struct ctrl_obj *o)
{
    const json_t *ref = ctrl_controller_ref(o->obj);
    const char *kind = json_string_value(json_object_get(ref, "kind"));
    const char *name = json_string_value(json_object_get(ref, "name"));
    const char *uid = json_string_value(json_object_get(ref, "uid"));
    if (!kind || strcmp(kind, "Job") || !name || !uid) return NULL;
    const struct ctrl_obj *j = ctrl_get(c, "jobs", o->ns, name);
    return j && j->uid && !strcmp(j->uid, uid) ? j : NULL;
}

static void job_on_event(struct ctrl *c, enum store_ev_type type, const struct ctrl_obj *old,
                         const struct ctrl_obj *obj)
{
    char key[512];
    if (!strcmp(obj->resource, "jobs")) {
        ctrl_key(key, sizeof key, obj->ns, obj->name);
        if (type == STORE_EV_DELETED) ctrl_expect_drop(c, key);
        else ctrl_enqueue(c, key);
        return;
    }
    const struct ctrl_obj *j = job_of(c, obj);
    if (!j) return;
    ctrl_key(key, sizeof key, j->ns, j->name);
    if (type == STORE_EV_ADDED) ctrl_observed(c, key, 1, 0);
    if (type == STORE_EV_DELETED) ctrl_observed(c, key, 0, 1);
    ctrl_enqueue(c, key);
    (void)old;
}

/* ---- counting ------------------------------------------------------------ */

/* When a finished pod finished: the latest container finishedAt, else its
 * Ready condition's last transition, else its creation. */
static time_t pod_finished_at(const json_t *pod)
{
    time_t best = 0, t;
    size_t i;
    json_t *cs, *st = json_path(pod, "status");
    json_t *all = st ? json_object_get(st, "containerStatuses") : NULL;
    json_array_foreach(all, i, cs) {
        const char *f = json_path_str(cs, "state.terminated.finishedAt");
        if (f && !time_parse_rfc3339(f, &t) && t > best) best = t;
    }
    if (best) return best;
    const char *s = json_string_value(json_object_get(ctrl_condition(pod, "Ready"), "lastTransitionTime"));
    if (!s) s = json_path_str(pod, "metadata.creationTimestamp");
    return s && !time_parse_rfc3339(s, &t) ? t : 0;
}

static int64_t restart_count(const json_t *pod)
{
    int64_t n = 0;
    size_t i;
    json_t *cs, *st = json_path(pod, "status");
    json_t *all = st ? json_object_get(st, "containerStatuses") : NULL;
    json_array_foreach(all, i, cs) n += ctrl_int(cs, "restartCount", 0);
    return n;
}

static int count_pods(struct ctrl *c, const struct ctrl_obj *job, struct jcount *k)
{
    const struct ctrl_obj **deps;
    size_t n = ctrl_dependents(c, job->uid, &deps);
    memset(k, 0, sizeof *k);
    k->act = calloc(n ? n : 1, sizeof *k->act);
    if (!k->act) {
        free(deps);
        return BE_NOMEM;
    }
    time_t fail_times[n ? n : 1];
    size_t nf = 0;
    for (size_t i = 0; i < n; i++) {
        const struct ctrl_obj *p = deps[i];
        if (strcmp(p->resource, "pods") || job_of(c, p) != job) continue;
        const char *phase = json_path_str(p->obj, "status.phase");
        k->restarts += restart_count(p->obj);
        if (phase && !strcmp(phase, "Succeeded")) {
            k->succeeded++;
            time_t t = pod_finished_at(p->obj);
            if (t > k->last_success) k->last_success = t;
        } else if (phase && !strcmp(phase, "Failed")) {
            k->failed++;
            fail_times[nf++] = pod_finished_at(p->obj);
        } else if (ctrl_pod_active(p->obj)) {
            k->act[k->active++] = p;
            if (ctrl_pod_ready(p->obj)) k->ready++;
        }
    }
    for (size_t i = 0; i < nf; i++) {
        if (fail_times[i] > k->last_fail) k->last_fail = fail_times[i];
        if (fail_times[i] >= k->last_success) k->fails_since_success++;
    }
    free(deps);
    return 0;
}

/* ---- pods ------------------------------------------------------------------- */

static json_t *pod_for(const struct ctrl_obj *job)
{
    json_t *tmpl = json_path(job->obj, "spec.template");
    json_t *spec = json_deep_copy(json_object_get(tmpl, "spec"));
    if (!json_is_object(spec)) {
        json_decref(spec);
        return NULL;
    }
    if (!json_object_get(spec, "restartPolicy"))
        json_object_set_new(spec, "restartPolicy", json_string("Never"));
    if (!json_object_get(spec, "terminationGracePeriodSeconds"))
        json_object_set_new(spec, "terminationGracePeriodSeconds", json_integer(30));
    char gen[80];
    snprintf(gen, sizeof gen, "%.57s-", job->name);
    json_t *labels = json_deep_copy(json_path(tmpl, "metadata.labels"));
    if (!json_is_object(labels)) {
        json_decref(labels);
        labels = json_object();
    }
    json_object_set_new(labels, "job-name", json_string(job->name));
    json_object_set_new(labels, "controller-uid", json_string(job->uid ? job->uid : ""));
    json_t *md = json_pack("{s:s, s:s, s:o, s:[o]}", "namespace", job->ns, "generateName", gen,
                           "labels", labels, "ownerReferences", ctrl_owner_ref("batch/v1", "Job", job));
    json_t *annots = json_path(tmpl, "metadata.annotations");
    if (md && annots) json_object_set(md, "annotations", annots);
    return json_pack("{s:o, s:s, s:s, s:o, s:{s:s}}", "metadata", md, "apiVersion", "v1", "kind",
                     "Pod", "spec", spec, "status", "phase", "Pending");
}

static int create_pods(struct ctrl *c, const char *key, const struct ctrl_obj *job, int64_t n)
{
    int batch = ctrl_batch_size(c, key);
    if (n > batch) n = batch;
    ctrl_expect(c, key, (int)n, 0);
    ctrl_batch_used(c, key, (int)n);
    for (int64_t i = 0; i < n; i++) {
        json_t *pod = pod_for(job);
        char name[320];
        if (!pod) {
            ctrl_observed(c, key, (int)(n - i), 0);
            ctrl_event(c, job, "Warning", "FailedCreate", "Error creating: the pod template has no spec");
            return 0;
        }
        int rc = ctrl_create(c, "pods", pod, key, name, sizeof name);
        if (rc) {
            ctrl_observed(c, key, (int)(n - i), 0);
            return rc;
        }
        ctrl_event(c, job, "Normal", "SuccessfulCreate", "Created pod: %s", name);
    }
    return 0;
}

/* Not ready first, then newest. */
static int extra_order(const void *pa, const void *pb)
{
    const struct ctrl_obj *a = *(const struct ctrl_obj *const *)pa, *b = *(const struct ctrl_obj *const *)pb;
    int ra = ctrl_pod_ready(a->obj), rb = ctrl_pod_ready(b->obj);
    if (ra != rb) return ra - rb;
    const char *ca = json_path_str(a->obj, "metadata.creationTimestamp");
    const char *cb = json_path_str(b->obj, "metadata.creationTimestamp");
    int r = strcmp(cb ? cb : "", ca ? ca : "");
    return r ? r : strcmp(b->name, a->name);
}

static void delete_pods(struct ctrl *c, const char *key, const struct ctrl_obj *job,
                        const struct ctrl_obj **pods, int64_t n)
{
    ctrl_expect(c, key, 0, (int)n);
    for (int64_t i = 0; i < n; i++) {
        if (ctrl_delete(c, pods[i], key)) ctrl_observed(c, key, 0, 1);
        else ctrl_event(c, job, "Normal", "SuccessfulDelete", "Deleted pod: %s", pods[i]->name);
    }
}

/* The back-off still to wait before creating a replacement, in ms (0: none). */
int64_t job_backoff_wait_ms(int64_t fails, time_t last_fail, int64_t now_ms)
{
    if (fails <= 0 || !last_fail) return 0;
    int64_t delay = BACKOFF_BASE_S;
    for (int64_t i = 1; i < fails && delay < BACKOFF_MAX_S; i++) delay *= 2;
    if (delay > BACKOFF_MAX_S) delay = BACKOFF_MAX_S;
    int64_t until = ((int64_t)last_fail + delay) * 1000;
    return until > now_ms ? until - now_ms : 0;
}

/* ---- finishing --------------------------------------------------------------- */

static bool cond_true(const json_t *obj, const char *type)
{
    const char *s = json_string_value(json_object_get(ctrl_condition(obj, type), "status"));
    return s && !strcmp(s, "True");
}

/* Why the Job fails now (NULL: it does not); message into msg. */
static const char *failure(struct ctrl *c, const char *key, const json_t *job, const struct jcount *k,
                           int64_t failures, char *msg, size_t len)
{
    int64_t limit = ctrl_int(job, "spec.backoffLimit", 6);
    if (failures > limit) {
        snprintf(msg, len, "Job has reached the specified backoff limit");
        return "BackoffLimitExceeded";
    }
    int64_t ads = ctrl_int(job, "spec.activeDeadlineSeconds", 0);
    const char *st = json_path_str(job, "status.startTime");
    time_t start;
    if (ads > 0 && st && !time_parse_rfc3339(st, &start)) {
        int64_t due = ((int64_t)start + ads) * 1000, now = ctrl_now_ms(c);
        if (now >= due) {
            snprintf(msg, len, "Job was active longer than specified deadline");
            return "DeadlineExceeded";
        }
        ctrl_enqueue_after(c, key, due - now);
    }
    return NULL;
}

static bool complete(const json_t *job, const struct jcount *k, int64_t succeeded)
{
    int64_t comp;
    if (!json_path_int(job, "spec.completions", &comp)) return succeeded >= comp;
    return succeeded > 0 && k->active == 0;
}

/* Deletes the finished Job ttlSecondsAfterFinished after it finished. */
static int ttl(struct ctrl *c, const char *key, const struct ctrl_obj *job, const json_t *cur,
               bool *deleted)
{
    int64_t ttl_s;
    if (json_path_int(job->obj, "spec.ttlSecondsAfterFinished", &ttl_s)) return 0;
    json_t *cond = ctrl_condition(cur, "Complete");
    if (!cond_true(cur, "Complete")) cond = ctrl_condition(cur, "Failed");
    const char *at = json_string_value(json_object_get(cond, "lastTransitionTime"));
    time_t t;
    if (!at || time_parse_rfc3339(at, &t)) return 0;
    int64_t due = ((int64_t)t + ttl_s) * 1000, now = ctrl_now_ms(c);
    if (now < due) {
        ctrl_enqueue_after(c, key, due - now);
        return 0;
    }
    ctrl_event(c, job, "Normal", "TTLExpired", "Job finished more than %lld s ago: deleted",
               (long long)ttl_s);
    *deleted = true;
    return ctrl_delete(c, job, NULL);
}

/* ---- sync ---------------------------------------------------------------------- */

static void set_status(struct ctrl *c, json_t *copy, const struct ctrl_obj *job,
                       const struct jcount *k, int64_t succeeded, int64_t failed)
{
    json_t *st = json_object_get(copy, "status");
    if (!json_is_object(st)) json_object_set_new(copy, "status", st = json_object());
    json_object_set_new(st, "active", json_integer(k->active));
    json_object_set_new(st, "ready", json_integer(k->ready));
    json_object_set_new(st, "succeeded", json_integer(succeeded));
    json_object_set_new(st, "failed", json_integer(failed));
    json_t *spec = json_object_get(copy, "spec");
    if (json_is_object(spec) && !json_object_get(spec, "selector") && job->uid)
        json_object_set_new(spec, "selector",
                            json_pack("{s:{s:s}}", "matchLabels", "controller-uid", job->uid));
    (void)c;
}

static void finish(struct ctrl *c, json_t *copy, const struct ctrl_obj *job, const char *type,
                   const char *reason, const char *msg)
{
    char ts[32];
    ctrl_timestamp(c, ts);
    ctrl_set_condition(copy, type, "True", reason, msg, ctrl_now(c), true);
    if (!strcmp(type, "Complete"))
        json_object_set_new(json_object_get(copy, "status"), "completionTime", json_string(ts));
    ctrl_event(c, job, strcmp(type, "Complete") ? "Warning" : "Normal", reason, "%s", msg);
}

static int manage(struct ctrl *c, const char *key, const struct ctrl_obj *job,
                  const struct jcount *k, int64_t succeeded)
{
    int64_t par = ctrl_int(job->obj, "spec.parallelism", 1), comp, want = par;
    if (!json_path_int(job->obj, "spec.completions", &comp)) {
        if (comp - succeeded < want) want = comp - succeeded;
    } else if (succeeded > 0) {
        want = 0; /* work queue: no new pods after a success */
    }
    bool drain = want == 0 && succeeded > 0; /* work queue: the rest finish by themselves */
    if (json_is_true(json_path(job->obj, "spec.suspend"))) want = 0, drain = false;
    if (want < 0) want = 0;
    if (k->active > want) {
        qsort(k->act, (size_t)k->active, sizeof *k->act, extra_order);
        if (!drain) delete_pods(c, key, job, k->act, k->active - want);
        return 0;
    }
    if (k->active == want) return 0;
    int64_t wait = job_backoff_wait_ms(k->fails_since_success, k->last_fail, ctrl_now_ms(c));
    if (wait > 0) {
        ctrl_enqueue_after(c, key, wait);
        return 0;
    }
    return create_pods(c, key, job, want - k->active);
}

static int job_step(struct ctrl *c, const char *key, const struct ctrl_obj *job, json_t *copy,
                    struct jcount *k, bool *deleted)
{
    int64_t succeeded = ctrl_int(job->obj, "status.succeeded", 0);
    int64_t failed = ctrl_int(job->obj, "status.failed", 0);
    if (k->succeeded > succeeded) succeeded = k->succeeded;
    if (k->failed > failed) failed = k->failed;
    const char *rp = json_path_str(job->obj, "spec.template.spec.restartPolicy");
    int64_t failures = failed + (rp && !strcmp(rp, "OnFailure") ? k->restarts : 0);
    bool done = cond_true(job->obj, "Complete") || cond_true(job->obj, "Failed");
    bool suspended = json_is_true(json_path(job->obj, "spec.suspend"));
    set_status(c, copy, job, k, succeeded, failed);
    if (!done && !suspended && !json_path_str(job->obj, "status.startTime")) {
        char ts[32];
        ctrl_timestamp(c, ts);
        json_object_set_new(json_object_get(copy, "status"), "startTime", json_string(ts));
    }
    char msg[256];
    const char *why = done ? NULL : failure(c, key, copy, k, failures, msg, sizeof msg);
    if (why) finish(c, copy, job, "Failed", why, msg);
    else if (!done && complete(job->obj, k, succeeded)) finish(c, copy, job, "Complete", "Completed", "Job completed");
    done = cond_true(copy, "Complete") || cond_true(copy, "Failed");
    if (!ctrl_satisfied(c, key)) return 0;
    if (done) {
        if (k->active) delete_pods(c, key, job, k->act, k->active);
        return ttl(c, key, job, copy, deleted);
    }
    return manage(c, key, job, k, succeeded);
}

static int job_sync(struct ctrl *c, const char *key)
{
    const struct ctrl_obj *job = ctrl_get_key(c, "jobs", key);
    if (!job) {
        ctrl_expect_drop(c, key);
        return 0;
    }
    if (ctrl_deleting(job->obj) || !job->uid) return 0;
    struct jcount k;
    int rc = count_pods(c, job, &k);
    if (rc) return rc;
    json_t *copy = json_deep_copy(job->obj);
    if (!copy) {
        free(k.act);
        return BE_NOMEM;
    }
    bool deleted = false;
    rc = job_step(c, key, job, copy, &k, &deleted);
    free(k.act);
    if (!rc && !deleted && !json_equal(copy, job->obj)) return ctrl_update(c, job, copy);
    json_decref(copy);
    return rc;
}

const struct ctrl_def ctrl_job_def = {
    .name = "job-controller",
    .resources = job_resources,
    .on_event = job_on_event,
    .sync = job_sync,
};
