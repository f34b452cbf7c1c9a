/* test_ctrl_job.c: the Job controller against the fake store and clock:
 * completions/parallelism arithmetic, pod shape and the selector, the
 * back-off between retries, backoffLimit with restartPolicy Never (failed
 * pods) and OnFailure (container restarts), activeDeadlineSeconds and
 * ttlSecondsAfterFinished (then garbage collection of the pods). */
#include "test_ctrl_fake.h"

#include "common/errors.h"

static json_t *job_json(int completions, int parallelism, int backoff, const char *restart)
{
    return json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:i}, s:{s:i, s:i, s:i, s:{s:{s:{s:s}}, s:{s:s, s:[{s:s, s:s}]}}}}",
                     "apiVersion", "batch/v1", "kind", "Job", "metadata", "name", "pi",
                     "namespace", "default", "uid", "job-1", "generation", 1, "spec",
                     "completions", completions, "parallelism", parallelism, "backoffLimit",
                     backoff, "template", "metadata", "labels", "app", "pi", "spec",
                     "restartPolicy", restart, "containers", "name", "c", "image", "busybox");
}

/* The Job's pods in phase (NULL: active ones) into v (up to 64). */
static size_t pods_in(ctrl_manager_t *m, const char *phase, const struct ctrl_obj **v)
{
    const struct ctrl_obj **all;
    size_t n = ctrl_list(&m->ctrls[0], "pods", "default", &all), k = 0;
    for (size_t i = 0; i < n && k < 64; i++) {
        const char *p = json_path_str(all[i]->obj, "status.phase");
        if (phase ? (p && !strcmp(p, phase)) : ctrl_pod_active(all[i]->obj)) v[k++] = all[i];
    }
    free(all);
    return k;
}

static size_t nactive(ctrl_manager_t *m)
{
    const struct ctrl_obj *v[64];
    return pods_in(m, NULL, v);
}

/* Sets a pod's phase, its container finishing now with restarts. */
static void set_pod(ctrl_manager_t *m, const struct ctrl_obj *pod, const char *phase, int restarts)
{
    char ts[32];
    time_format_rfc3339((time_t)(fake_now / 1000), ts, sizeof ts);
    json_t *p = json_deep_copy(pod->obj);
    json_t *cs = json_pack("{s:s, s:i, s:{}}", "name", "c", "restartCount", restarts, "state");
    if (strcmp(phase, "Running"))
        json_object_set_new(json_object_get(cs, "state"), "terminated",
                            json_pack("{s:i, s:s}", "exitCode", strcmp(phase, "Failed") ? 0 : 3, "finishedAt", ts));
    json_object_set_new(p, "status", json_pack("{s:s, s:[o]}", "phase", phase, "containerStatuses", cs));
    feed(m, "pods", STORE_EV_MODIFIED, p);
}

/* Finishes the first n active pods with phase. */
static void finish(ctrl_manager_t *m, size_t n, const char *phase)
{
    const struct ctrl_obj *v[64];
    size_t k = pods_in(m, NULL, v);
    for (size_t i = 0; i < n && i < k; i++) set_pod(m, v[i], phase, 0);
    settle(m);
}

static const struct ctrl_obj *job(ctrl_manager_t *m)
{
    return get(m, "jobs", "pi");
}

static const char *cond_reason(ctrl_manager_t *m, const char *type)
{
    json_t *c = job(m) ? ctrl_condition(job(m)->obj, type) : NULL;
    const char *st = json_string_value(json_object_get(c, "status"));
    return st && !strcmp(st, "True") ? json_string_value(json_object_get(c, "reason")) : NULL;
}

static void tick(ctrl_manager_t *m, int64_t secs)
{
    fake_now += secs * 1000;
    settle(m);
}

static void test_completions_parallelism(void)
{
    ctrl_manager_t *m = fake_manager();
    feed(m, "jobs", STORE_EV_ADDED, job_json(3, 2, 6, "Never"));
    settle(m);
    CHECK_INT(nactive(m), 2);
    const json_t *j = job(m)->obj;
    CHECK_INT(ctrl_int(j, "status.active", -1), 2);
    CHECK(json_path_str(j, "status.startTime") != NULL);
    CHECK_STR(json_path_str(j, "spec.selector.matchLabels.controller-uid"), "job-1");
    const struct ctrl_obj *v[64];
    pods_in(m, NULL, v);
    CHECK(!strncmp(v[0]->name, "pi-", 3));
    CHECK_STR(json_path_str(v[0]->obj, "metadata.labels.job-name"), "pi");
    CHECK_STR(json_path_str(v[0]->obj, "metadata.labels.controller-uid"), "job-1");
    CHECK_STR(json_path_str(v[0]->obj, "metadata.labels.app"), "pi");
    CHECK_STR(json_path_str(v[0]->obj, "spec.restartPolicy"), "Never");
    const json_t *ref = ctrl_controller_ref(v[0]->obj);
    CHECK_STR(json_string_value(json_object_get(ref, "kind")), "Job");
    CHECK(json_is_true(json_object_get(ref, "controller")));
    finish(m, 1, "Succeeded"); /* 1 done, 2 to go: 2 active */
    CHECK_INT(nactive(m), 2);
    finish(m, 1, "Succeeded"); /* 2 done, 1 to go: never more than that */
    CHECK_INT(nactive(m), 1);
    CHECK_INT(ctrl_int(job(m)->obj, "status.succeeded", -1), 2);
    CHECK(cond_reason(m, "Complete") == NULL);
    finish(m, 1, "Succeeded");
    CHECK_INT(nactive(m), 0);
    CHECK_STR(cond_reason(m, "Complete"), "Completed");
    CHECK_INT(ctrl_int(job(m)->obj, "status.succeeded", -1), 3);
    CHECK_INT(ctrl_int(job(m)->obj, "status.active", -1), 0);
    CHECK(json_path_str(job(m)->obj, "status.completionTime") != NULL);
    tick(m, 3600); /* finished: nothing more happens */
    CHECK_INT(count(m, "pods"), 3);
    fake_close(m);

    m = fake_manager();
    feed(m, "jobs", STORE_EV_ADDED, job_json(5, 10, 6, "Never"));
    settle(m);
    CHECK_INT(nactive(m), 5);
    /* parallelism lowered: extras go */
    json_t *lower = json_deep_copy(job(m)->obj);
    json_object_set_new(json_object_get(lower, "spec"), "parallelism", json_integer(2));
    feed(m, "jobs", STORE_EV_MODIFIED, lower);
    settle(m);
    CHECK_INT(nactive(m), 2);
    fake_close(m);
}

static void test_backoff_timing(void)
{
    CHECK_INT(job_backoff_wait_ms(0, 100, 100000), 0);
    CHECK_INT(job_backoff_wait_ms(1, 100, 100000), 10000);
    CHECK_INT(job_backoff_wait_ms(2, 100, 100000), 20000);
    CHECK_INT(job_backoff_wait_ms(3, 100, 105000), 35000);
    CHECK_INT(job_backoff_wait_ms(6, 100, 100000), 320000);
    CHECK_INT(job_backoff_wait_ms(7, 100, 100000), 360000);
    CHECK_INT(job_backoff_wait_ms(40, 100, 100000), 360000);
    CHECK_INT(job_backoff_wait_ms(1, 100, 110000), 0);
}

static void test_backoff_limit_never(void)
{
    ctrl_manager_t *m = fake_manager();
    feed(m, "jobs", STORE_EV_ADDED, job_json(1, 1, 2, "Never"));
    settle(m);
    CHECK_INT(nactive(m), 1);
    finish(m, 1, "Failed"); /* failure 1: 10 s back-off */
    CHECK_INT(nactive(m), 0);
    CHECK_INT(ctrl_int(job(m)->obj, "status.failed", -1), 1);
    tick(m, 9);
    CHECK_INT(nactive(m), 0);
    tick(m, 1);
    CHECK_INT(nactive(m), 1);
    finish(m, 1, "Failed"); /* failure 2: 20 s */
    tick(m, 19);
    CHECK_INT(nactive(m), 0);
    tick(m, 1);
    CHECK_INT(nactive(m), 1);
    CHECK(cond_reason(m, "Failed") == NULL);
    finish(m, 1, "Failed"); /* failure 3 > backoffLimit 2 */
    CHECK_STR(cond_reason(m, "Failed"), "BackoffLimitExceeded");
    CHECK_INT(ctrl_int(job(m)->obj, "status.failed", -1), 3);
    tick(m, 600);
    CHECK_INT(nactive(m), 0);
    CHECK_INT(count(m, "pods"), 3);
    fake_close(m);

    /* backoffLimit 0: the first failure fails the Job */
    m = fake_manager();
    feed(m, "jobs", STORE_EV_ADDED, job_json(1, 1, 0, "Never"));
    settle(m);
    finish(m, 1, "Failed");
    CHECK_STR(cond_reason(m, "Failed"), "BackoffLimitExceeded");
    fake_close(m);
}

static void test_backoff_limit_onfailure(void)
{
    ctrl_manager_t *m = fake_manager();
    feed(m, "jobs", STORE_EV_ADDED, job_json(1, 1, 2, "OnFailure"));
    settle(m);
    const struct ctrl_obj *v[64];
    CHECK_INT(pods_in(m, NULL, v), 1);
    set_pod(m, v[0], "Running", 2); /* two restarts: within the limit */
    settle(m);
    CHECK(cond_reason(m, "Failed") == NULL);
    CHECK_INT(nactive(m), 1);
    pods_in(m, NULL, v);
    set_pod(m, v[0], "Running", 3); /* three: over it; the pod is deleted */
    settle(m);
    CHECK_STR(cond_reason(m, "Failed"), "BackoffLimitExceeded");
    CHECK_INT(count(m, "pods"), 0);
    fake_close(m);
}

static void test_deadline(void)
{
    ctrl_manager_t *m = fake_manager();
    json_t *j = job_json(4, 2, 6, "Never");
    json_object_set_new(json_object_get(j, "spec"), "activeDeadlineSeconds", json_integer(30));
    feed(m, "jobs", STORE_EV_ADDED, j);
    settle(m);
    CHECK_INT(nactive(m), 2);
    tick(m, 29);
    CHECK(cond_reason(m, "Failed") == NULL);
    tick(m, 1);
    CHECK_STR(cond_reason(m, "Failed"), "DeadlineExceeded");
    CHECK_INT(count(m, "pods"), 0);
    CHECK_INT(ctrl_int(job(m)->obj, "status.active", -1), 0);
    fake_close(m);
}

static void test_ttl(void)
{
    ctrl_manager_t *m = fake_manager();
    json_t *j = job_json(1, 1, 6, "Never");
    json_object_set_new(json_object_get(j, "spec"), "ttlSecondsAfterFinished", json_integer(60));
    feed(m, "jobs", STORE_EV_ADDED, j);
    settle(m);
    finish(m, 1, "Succeeded");
    CHECK_STR(cond_reason(m, "Complete"), "Completed");
    tick(m, 59);
    CHECK(job(m) != NULL);
    tick(m, 1);
    CHECK(job(m) == NULL);
    CHECK_INT(count(m, "pods"), 0); /* garbage-collected */
    fake_close(m);
}

int main(void)
{
    RUN(test_completions_parallelism);
    RUN(test_backoff_timing);
    RUN(test_backoff_limit_never);
    RUN(test_backoff_limit_onfailure);
    RUN(test_deadline);
    RUN(test_ttl);
    UNIT_EXIT();
}
