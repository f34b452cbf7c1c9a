/* test_hpa.c: the HorizontalPodAutoscaler controller (controllers/hpa.c) in
 * the fake world of test_ctrl_fake.h, with its own metrics cache: scale up
 * of a ReplicaSet by cpu utilization, status and Events, scale back down
 * after the stabilization window, memory AverageValue, and bad input (a
 * missing target, pods without requests, no metrics) that only sets
 * conditions. */
#include "test_ctrl_fake.h"

#include "common/errors.h"
#include "common/podmetrics.h"
#include "controllers/hpa.h"

static podmetrics_t *pm;

static json_t *rs_json(const char *name, int replicas, bool requests)
{
    json_t *ctr = json_pack("{s:s, s:s}", "name", "c", "image", "busybox");
    if (requests)
        json_object_set_new(ctr, "resources", json_pack("{s:{s:s, s:s}}", "requests", "cpu", "100m",
                                                        "memory", "64Mi"));
    return json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:i}, s:{s:i, s:{s:{s:s}}, s:{s:{s:{s:s}}, s:{s:[o]}}}}",
                     "apiVersion", "apps/v1", "kind", "ReplicaSet", "metadata", "name", name,
                     "namespace", "default", "uid", name, "generation", 1, "spec", "replicas",
                     replicas, "selector", "matchLabels", "app", name, "template", "metadata",
                     "labels", "app", name, "spec", "containers", ctr);
}

static json_t *hpa_json(const char *name, const char *kind, const char *target, json_t *metric,
                        json_t *behavior)
{
    json_t *h = json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:i}, s:{s:{s:s, s:s, s:s}, s:i, s:i, s:[o]}}",
                          "apiVersion", "autoscaling/v2", "kind", "HorizontalPodAutoscaler",
                          "metadata", "name", name, "namespace", "default", "uid", name,
                          "generation", 1, "spec", "scaleTargetRef", "apiVersion", "apps/v1",
                          "kind", kind, "name", target, "minReplicas", 1, "maxReplicas", 4,
                          "metrics", metric);
    if (behavior) json_object_set_new(json_object_get(h, "spec"), "behavior", behavior);
    return h;
}

static json_t *cpu_util(int pct)
{
    return json_pack("{s:s, s:{s:s, s:{s:s, s:i}}}", "type", "Resource", "resource", "name", "cpu",
                     "target", "type", "Utilization", "averageUtilization", pct);
}

/* Every active pod gets a node, Running, a start time and Ready, all an
 * hour ago (past the cpu initialization period). */
static void run_pods(ctrl_manager_t *m)
{
    const struct ctrl_obj **v;
    size_t n = ctrl_list(&m->ctrls[0], "pods", NULL, &v);
    char ts[32];
    time_format_rfc3339((time_t)(fake_now / 1000 - 3600), ts, sizeof ts);
    for (size_t i = 0; i < n; i++) {
        if (json_path_str(v[i]->obj, "status.startTime") || !ctrl_pod_active(v[i]->obj)) continue;
        json_t *p = json_deep_copy(v[i]->obj);
        json_object_set_new(json_object_get(p, "spec"), "nodeName", json_string("n1"));
        json_object_set_new(p, "status", json_pack("{s:s, s:s, s:[{s:s, s:s, s:s}]}", "phase", "Running",
                                                   "startTime", ts, "conditions", "type", "Ready",
                                                   "status", "True", "lastTransitionTime", ts));
        feed(m, "pods", STORE_EV_MODIFIED, p);
    }
    free(v);
}

/* Every pod reports millicores and bytes, sampled now. */
static void report(ctrl_manager_t *m, int64_t millicores, int64_t bytes)
{
    const struct ctrl_obj **v;
    size_t n = ctrl_list(&m->ctrls[0], "pods", "default", &v);
    for (size_t i = 0; i < n; i++) {
        struct pm_pod p = {.u = {fake_now, 10000, millicores * 1000000, bytes, 0}};
        snprintf(p.ns, sizeof p.ns, "default");
        snprintf(p.name, sizeof p.name, "%s", v[i]->name);
        snprintf(p.container, sizeof p.container, "c");
        snprintf(p.node, sizeof p.node, "n1");
        podmetrics_put_pod(pm, &p, fake_now);
    }
    free(v);
}

/* Reasons of the Events written so far ("|A|B|..."): the fake world does
 * not cache events, so they are read off the writes before each commit. */
static char ev_log[8192];

static void hsettle(ctrl_manager_t *m)
{
    for (int r = 0; r < 200; r++) {
        for (size_t i = 0; i < m->nctrls; i++) ctrl_queue_promote(&m->ctrls[i], fake_now);
        ctrl_run_ready(m, 100000);
        size_t n;
        struct ctrl_write *w = ctrl_test_writes(m, &n);
        if (!n) break;
        for (size_t i = 0; i < n; i++) {
            if (strcmp(w[i].resource, "events") || !w[i].json) continue;
            json_t *ev = json_loads(w[i].json, 0, NULL);
            const char *reason = json_string_value(json_object_get(ev, "reason"));
            if (reason && ctrl_int(ev, "count", 1) == 1 && strlen(ev_log) + strlen(reason) + 2 < sizeof ev_log)
                strcat(strcat(ev_log, "|"), reason);
            json_decref(ev);
        }
        ctrl_test_commit(m);
    }
}

static void tick(ctrl_manager_t *m, int64_t ms)
{
    fake_now += ms;
    hsettle(m);
    run_pods(m);
    hsettle(m);
}

static const char *cond(ctrl_manager_t *m, const char *hpa, const char *type, const char *field)
{
    const struct ctrl_obj *o = get(m, "horizontalpodautoscalers", hpa);
    return o ? json_string_value(json_object_get(ctrl_condition(o->obj, type), field)) : NULL;
}

static size_t count_events(ctrl_manager_t *m, const char *reason)
{
    (void)m;
    size_t k = 0, len = strlen(reason);
    for (const char *p = ev_log; (p = strstr(p, reason)); p += len)
        if (p[-1] == '|' && (p[len] == '|' || !p[len])) k++;
    return k;
}

static ctrl_manager_t *world(void)
{
    podmetrics_free(pm);
    podmetrics_new(&pm);
    ev_log[0] = 0;
    ctrl_hpa_set_metrics(pm);
    ctrl_hpa_set_sync_period_ms(15000);
    return fake_manager();
}

static void test_scale_up_and_down(void)
{
    ctrl_manager_t *m = world();
    feed(m, "replicasets", STORE_EV_ADDED, rs_json("web", 1, true));
    hsettle(m);
    run_pods(m);
    hsettle(m);
    CHECK_INT(count(m, "pods"), 1);
    report(m, 200, 1 << 20); /* 200% of the 100m request */
    json_t *beh = json_pack("{s:{s:i}}", "scaleDown", "stabilizationWindowSeconds", 30);
    feed(m, "horizontalpodautoscalers", STORE_EV_ADDED, hpa_json("web", "ReplicaSet", "web", cpu_util(50), beh));
    hsettle(m);
    const struct ctrl_obj *rs = get(m, "replicasets", "web");
    CHECK_INT(ctrl_int(rs->obj, "spec.replicas", 0), 4);
    const struct ctrl_obj *h = get(m, "horizontalpodautoscalers", "web");
    CHECK_INT(ctrl_int(h->obj, "status.desiredReplicas", 0), 4);
    CHECK_INT(ctrl_int(h->obj, "status.currentReplicas", 0), 1);
    json_t *cm = json_array_get(json_path(h->obj, "status.currentMetrics"), 0);
    CHECK_INT(ctrl_int(cm, "resource.current.averageUtilization", 0), 200);
    CHECK_STR(json_path_str(cm, "resource.current.averageValue"), "200m");
    CHECK(json_path_str(h->obj, "status.lastScaleTime") != NULL);
    CHECK_STR(cond(m, "web", "AbleToScale", "reason"), "SucceededRescale");
    CHECK_STR(cond(m, "web", "ScalingActive", "status"), "True");
    CHECK_STR(cond(m, "web", "ScalingActive", "reason"), "ValidMetricFound");
    CHECK_STR(cond(m, "web", "ScalingLimited", "status"), "False");
    CHECK_INT(count_events(m, "SuccessfulRescale"), 1);
    run_pods(m);
    hsettle(m);
    CHECK_INT(count(m, "pods"), 4);

    /* Nothing happens before the sync period is over. */
    report(m, 0, 1 << 20);
    tick(m, 5000);
    CHECK_INT(ctrl_int(get(m, "replicasets", "web")->obj, "spec.replicas", 0), 4);
    /* Idle at +15 s: the recommendation of 4 is inside the 30 s window. */
    tick(m, 10000);
    report(m, 0, 1 << 20);
    tick(m, 0);
    CHECK_INT(ctrl_int(get(m, "replicasets", "web")->obj, "spec.replicas", 0), 4);
    CHECK_STR(cond(m, "web", "AbleToScale", "reason"), "ScaleDownStabilized");
    CHECK_INT(ctrl_int(get(m, "horizontalpodautoscalers", "web")->obj, "status.currentReplicas", 0), 4);
    /* +30 s: the 4 has left the window: down to min 1. */
    tick(m, 15000);
    report(m, 0, 1 << 20);
    tick(m, 0);
    report(m, 0, 1 << 20);
    tick(m, 1);
    CHECK_INT(ctrl_int(get(m, "replicasets", "web")->obj, "spec.replicas", 0), 1);
    CHECK_INT(count_events(m, "SuccessfulRescale"), 2);
    fake_close(m);
}

static void test_memory_average_value(void)
{
    ctrl_manager_t *m = world();
    feed(m, "replicasets", STORE_EV_ADDED, rs_json("mem", 2, false));
    hsettle(m);
    run_pods(m);
    hsettle(m);
    report(m, 0, 300 << 20); /* 300Mi each against 100Mi */
    json_t *metric = json_pack("{s:s, s:{s:s, s:{s:s, s:s}}}", "type", "Resource", "resource", "name",
                               "memory", "target", "type", "AverageValue", "averageValue", "100Mi");
    json_t *h = hpa_json("mem", "ReplicaSet", "mem", metric, NULL);
    json_object_set_new(json_object_get(h, "spec"), "maxReplicas", json_integer(10));
    feed(m, "horizontalpodautoscalers", STORE_EV_ADDED, h);
    hsettle(m);
    /* 2 * 3 = 6 (the default rate allows max(2 + 4, 4)) */
    CHECK_INT(ctrl_int(get(m, "replicasets", "mem")->obj, "spec.replicas", 0), 6);
    fake_close(m);
}

static void test_missing_target(void)
{
    ctrl_manager_t *m = world();
    feed(m, "horizontalpodautoscalers", STORE_EV_ADDED, hpa_json("lost", "Deployment", "nope", cpu_util(50), NULL));
    hsettle(m);
    CHECK_STR(cond(m, "lost", "AbleToScale", "status"), "False");
    CHECK_STR(cond(m, "lost", "AbleToScale", "reason"), "FailedGetScale");
    CHECK_STR(cond(m, "lost", "ScalingActive", "status"), "False");
    const char *msg = cond(m, "lost", "AbleToScale", "message");
    CHECK(msg && strstr(msg, "deployments.apps \"nope\" not found"));
    CHECK_INT(count_events(m, "FailedGetScale"), 1);
    CHECK_INT(count(m, "pods"), 0);
    /* a kind that cannot be scaled */
    feed(m, "horizontalpodautoscalers", STORE_EV_ADDED, hpa_json("ds", "DaemonSet", "x", cpu_util(50), NULL));
    hsettle(m);
    msg = cond(m, "ds", "AbleToScale", "message");
    CHECK(msg && strstr(msg, "cannot be scaled"));
    fake_close(m);
}

static void test_no_requests_no_metrics(void)
{
    ctrl_manager_t *m = world();
    feed(m, "replicasets", STORE_EV_ADDED, rs_json("bare", 2, false));
    hsettle(m);
    run_pods(m);
    hsettle(m);
    report(m, 500, 1 << 20);
    feed(m, "horizontalpodautoscalers", STORE_EV_ADDED, hpa_json("bare", "ReplicaSet", "bare", cpu_util(50), NULL));
    hsettle(m);
    CHECK_INT(ctrl_int(get(m, "replicasets", "bare")->obj, "spec.replicas", 0), 2);
    CHECK_STR(cond(m, "bare", "ScalingActive", "status"), "False");
    CHECK_STR(cond(m, "bare", "ScalingActive", "reason"), "FailedGetResourceMetric");
    const char *msg = cond(m, "bare", "ScalingActive", "message");
    CHECK(msg && strstr(msg, "missing request for cpu in container c"));
    CHECK_STR(cond(m, "bare", "AbleToScale", "status"), "True");

    /* requests but no metrics reported yet */
    feed(m, "replicasets", STORE_EV_ADDED, rs_json("quiet", 2, true));
    hsettle(m);
    run_pods(m);
    hsettle(m);
    feed(m, "horizontalpodautoscalers", STORE_EV_ADDED, hpa_json("quiet", "ReplicaSet", "quiet", cpu_util(50), NULL));
    hsettle(m);
    CHECK_INT(ctrl_int(get(m, "replicasets", "quiet")->obj, "spec.replicas", 0), 2);
    msg = cond(m, "quiet", "ScalingActive", "message");
    CHECK(msg && strstr(msg, "did not receive metrics"));
    /* the replicas outside [min, max] are brought back without metrics */
    json_t *rs = json_deep_copy(get(m, "replicasets", "quiet")->obj);
    json_object_set_new(json_object_get(rs, "spec"), "replicas", json_integer(9));
    feed(m, "replicasets", STORE_EV_MODIFIED, rs);
    tick(m, 15000);
    CHECK_INT(ctrl_int(get(m, "replicasets", "quiet")->obj, "spec.replicas", 0), 4);
    fake_close(m);
}

int main(void)
{
    RUN(test_scale_up_and_down);
    RUN(test_memory_average_value);
    RUN(test_missing_target);
    RUN(test_no_requests_no_metrics);
    podmetrics_free(pm);
    UNIT_EXIT();
}
