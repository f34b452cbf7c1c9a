/* hpa.c: the HorizontalPodAutoscaler controller (autoscaling/v2).
 *
 * Keys are "ns/name" of HPAs. Each HPA is reconciled once per sync period
 * (15 s by default, ctrl_hpa_set_sync_period_ms), plus at once when it is
 * created or its spec changes; its own status writes and changes of pods or
 * targets do not trigger a sync (as kube-controller-manager, which
 * rate-limits HPA updates to the resync period).
 *
 * One sync: find the scale target (Deployment, ReplicaSet or StatefulSet by
 * scaleTargetRef; spec.replicas is its scale, spec.selector picks its pods),
 * then, unless the replicas are outside [min, max] (then they are brought
 * back first), compute a proposal per metric from the pods' latest samples
 * in the metrics cache (common/podmetrics.h) with the arithmetic of
 * hpa_calc.c, take the largest, stabilize it and apply the rate policies of
 * `behavior`. A new count is written to the target's spec.replicas (the
 * equivalent of the scale subresource) with a SuccessfulRescale Event. The
 * status gets currentReplicas, desiredReplicas, currentMetrics,
 * lastScaleTime and the conditions AbleToScale, ScalingActive and
 * ScalingLimited; problems (missing target, pods without requests, no
 * metrics) are told there and in Warning Events, and change nothing else.
 *
 * The recommendation history and the scale events behind `behavior` live in
 * the controller's private state: a new leader starts them afresh, as a
 * restarted kube-controller-manager does. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/jsonutil.h"
#include "common/log.h"
#include "common/quantity.h"
#include "common/selector.h"
#include "controllers/ctrl_int.h"
#include "controllers/hpa.h"
#include "controllers/hpa_calc.h"

#define HPA_DEFAULT_SYNC_MS 15000
#define MAX_METRICS 8

static unsigned g_sync_ms = HPA_DEFAULT_SYNC_MS;
static podmetrics_t *g_metrics;

void ctrl_hpa_set_sync_period_ms(unsigned ms)
{
    g_sync_ms = ms ? ms : HPA_DEFAULT_SYNC_MS;
}

void ctrl_hpa_set_metrics(podmetrics_t *pm)
{
    g_metrics = pm;
}

static podmetrics_t *metrics_cache(void)
{
    return g_metrics ? g_metrics : podmetrics_global();
}

static const char *const hpa_resources[] = {"horizontalpodautoscalers", "deployments", "replicasets",
                                            "statefulsets", "pods", NULL};

struct hpa_state {
    struct hpa_history h;
    int64_t last_sync_ms;
    int64_t last_gen;
};

struct hpa_priv {
    struct dict states;   /* key -> struct hpa_state */
};

static void state_free(void *v)
{
    struct hpa_state *s = v;
    hpa_history_free(&s->h);
    free(s);
}

static int hpa_init(struct ctrl *c)
{
    c->priv = calloc(1, sizeof(struct hpa_priv));
    return c->priv ? 0 : BE_NOMEM;
}

static void hpa_fini(struct ctrl *c)
{
    struct hpa_priv *p = c->priv;
    if (!p) return;
    dict_clear(&p->states, state_free);
    free(p);
    c->priv = NULL;
}

static void hpa_on_event(struct ctrl *c, enum store_ev_type type, const struct ctrl_obj *old,
                         const struct ctrl_obj *obj)
{
    if (strcmp(obj->resource, "horizontalpodautoscalers")) return; /* periodic, not event driven */
    char key[512];
    ctrl_key(key, sizeof key, obj->ns, obj->name);
    if (type == STORE_EV_DELETED) {
        struct hpa_priv *p = c->priv;
        struct hpa_state *s = p ? dict_del(&p->states, key) : NULL;
        if (s) state_free(s);
        return;
    }
    if (type == STORE_EV_ADDED || !old ||
        ctrl_int(old->obj, "metadata.generation", 0) != ctrl_int(obj->obj, "metadata.generation", 0))
        ctrl_enqueue(c, key);
}

/* ---- the spec ------------------------------------------------------------------ */

enum mres { RES_CPU, RES_MEMORY };

struct mspec {
    enum mres res;
    bool util;             /* Utilization, else AverageValue */
    int64_t target;        /* percent, or millicores / bytes */
};

struct hspec {
    int32_t min, max;
    const char *kind, *name;
    struct mspec m[MAX_METRICS];
    size_t nm;
    struct hpa_behavior b;
};

static int parse_rules(const json_t *j, struct hpa_rules *r, const char *what, char *err, size_t errlen)
{
    if (!j) return 0;
    json_t *w = json_object_get(j, "stabilizationWindowSeconds");
    if (w) {
        if (!json_is_integer(w) || json_integer_value(w) < 0 || json_integer_value(w) > 3600) {
            snprintf(err, errlen, "spec.behavior.%s.stabilizationWindowSeconds must be 0..3600", what);
            return BE_INVAL;
        }
        r->window_s = json_integer_value(w);
    }
    const char *sel = json_string_value(json_object_get(j, "selectPolicy"));
    if (sel) {
        if (!strcmp(sel, "Max")) r->select = HPA_SELECT_MAX;
        else if (!strcmp(sel, "Min")) r->select = HPA_SELECT_MIN;
        else if (!strcmp(sel, "Disabled")) r->select = HPA_SELECT_DISABLED;
        else {
            snprintf(err, errlen, "spec.behavior.%s.selectPolicy \"%s\": want Max, Min or Disabled", what, sel);
            return BE_INVAL;
        }
    }
    json_t *pols = json_object_get(j, "policies");
    if (!pols) return 0;
    if (!json_is_array(pols) || json_array_size(pols) > HPA_MAX_POLICIES) {
        snprintf(err, errlen, "spec.behavior.%s.policies must be a list of at most %d", what, HPA_MAX_POLICIES);
        return BE_INVAL;
    }
    r->npol = 0;
    size_t i;
    json_t *p;
    json_array_foreach(pols, i, p) {
        const char *type = json_string_value(json_object_get(p, "type"));
        json_t *v = json_object_get(p, "value"), *per = json_object_get(p, "periodSeconds");
        if (!type || (strcmp(type, "Pods") && strcmp(type, "Percent")) || !json_is_integer(v) ||
            json_integer_value(v) <= 0 || json_integer_value(v) > 100000 || !json_is_integer(per) ||
            json_integer_value(per) <= 0 || json_integer_value(per) > 1800) {
            snprintf(err, errlen, "spec.behavior.%s.policies[%zu]: want type Pods or Percent, value > 0 "
                                  "and periodSeconds 1..1800", what, i);
            return BE_INVAL;
        }
        r->pol[r->npol++] = (struct hpa_policy){!strcmp(type, "Pods") ? HPA_POLICY_PODS : HPA_POLICY_PERCENT,
                                                (int32_t)json_integer_value(v),
                                                (int32_t)json_integer_value(per)};
    }
    return 0;
}

static int parse_metric(const json_t *m, size_t i, struct mspec *out, char *err, size_t errlen)
{
    const char *type = json_string_value(json_object_get(m, "type"));
    if (!type || strcmp(type, "Resource")) {
        snprintf(err, errlen, "spec.metrics[%zu]: metric type \"%s\" is not supported: only Resource (cpu, memory)",
                 i, type ? type : "");
        return BE_INVAL;
    }
    const char *name = json_path_str(m, "resource.name");
    if (!name || (strcmp(name, "cpu") && strcmp(name, "memory"))) {
        snprintf(err, errlen, "spec.metrics[%zu].resource.name \"%s\": want cpu or memory", i, name ? name : "");
        return BE_INVAL;
    }
    out->res = !strcmp(name, "cpu") ? RES_CPU : RES_MEMORY;
    const char *tt = json_path_str(m, "resource.target.type");
    json_t *target = json_path(m, "resource.target");
    if (tt && !strcmp(tt, "Utilization")) {
        json_t *u = json_object_get(target, "averageUtilization");
        if (!json_is_integer(u) || json_integer_value(u) <= 0) {
            snprintf(err, errlen, "spec.metrics[%zu].resource.target.averageUtilization must be a positive integer", i);
            return BE_INVAL;
        }
        out->util = true;
        out->target = json_integer_value(u);
        return 0;
    }
    if (tt && !strcmp(tt, "AverageValue")) {
        json_t *v = json_object_get(target, "averageValue");
        int64_t q = 0;
        int rc = BE_INVAL;
        if (json_is_string(v))
            rc = out->res == RES_CPU ? quantity_cpu_millis(json_string_value(v), &q)
                                     : quantity_bytes(json_string_value(v), &q);
        else if (json_is_integer(v)) {
            q = json_integer_value(v) * (out->res == RES_CPU ? 1000 : 1);
            rc = 0;
        }
        if (rc || q <= 0) {
            snprintf(err, errlen, "spec.metrics[%zu].resource.target.averageValue must be a positive quantity", i);
            return BE_INVAL;
        }
        out->util = false;
        out->target = q;
        return 0;
    }
    snprintf(err, errlen, "spec.metrics[%zu].resource.target.type \"%s\": want Utilization or AverageValue", i,
             tt ? tt : "");
    return BE_INVAL;
}

static int parse_spec(const json_t *hpa, struct hspec *s, char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    s->min = (int32_t)ctrl_int(hpa, "spec.minReplicas", 1);
    s->max = (int32_t)ctrl_int(hpa, "spec.maxReplicas", 0);
    s->kind = json_path_str(hpa, "spec.scaleTargetRef.kind");
    s->name = json_path_str(hpa, "spec.scaleTargetRef.name");
    if (!s->kind || !s->name) {
        snprintf(err, errlen, "spec.scaleTargetRef needs kind and name");
        return BE_INVAL;
    }
    if (s->max < 1 || s->min < 0 || s->min > s->max) {
        snprintf(err, errlen, "spec.minReplicas %d and spec.maxReplicas %d: want 0 <= min <= max, max >= 1",
                 s->min, s->max);
        return BE_INVAL;
    }
    json_t *metrics = json_path(hpa, "spec.metrics");
    if (!json_array_size(metrics)) {
        /* The API server defaults an HPA without metrics to cpu 80%. */
        s->m[0] = (struct mspec){RES_CPU, true, 80};
        s->nm = 1;
    }
    if (json_array_size(metrics) > MAX_METRICS) {
        snprintf(err, errlen, "spec.metrics: at most %d metrics", MAX_METRICS);
        return BE_INVAL;
    }
    size_t i;
    json_t *m;
    json_array_foreach(metrics, i, m) {
        int rc = parse_metric(m, i, &s->m[s->nm], err, errlen);
        if (rc) return rc;
        s->nm++;
    }
    hpa_behavior_default(&s->b, HPA_DEFAULT_DOWN_WINDOW_S);
    int rc = parse_rules(json_path(hpa, "spec.behavior.scaleUp"), &s->b.up, "scaleUp", err, errlen);
    if (!rc) rc = parse_rules(json_path(hpa, "spec.behavior.scaleDown"), &s->b.down, "scaleDown", err, errlen);
    return rc;
}

static const char *target_resource(const char *kind)
{
    if (!strcmp(kind, "Deployment")) return "deployments";
    if (!strcmp(kind, "ReplicaSet")) return "replicasets";
    if (!strcmp(kind, "StatefulSet")) return "statefulsets";
    return NULL;
}

/* ---- metrics of the target's pods ----------------------------------------------- */

/* Sum of the pod's containers' requests of res (millicores / bytes); 0 and
 * the first container without one in *missing when any lacks it. */
static int64_t pod_request(const json_t *pod, enum mres res, const char **missing)
{
    int64_t sum = 0;
    size_t i;
    json_t *ctr;
    json_array_foreach(json_path(pod, "spec.containers"), i, ctr) {
        const char *q = json_path_str(ctr, res == RES_CPU ? "resources.requests.cpu" : "resources.requests.memory");
        int64_t v = 0;
        if (!q || (res == RES_CPU ? quantity_cpu_millis(q, &v) : quantity_bytes(q, &v)) || v <= 0) {
            *missing = json_string_value(json_object_get(ctr, "name"));
            if (!*missing) *missing = "?";
            return 0;
        }
        sum += v;
    }
    return sum;
}

static int64_t ts_ms(const char *ts)
{
    time_t t;
    return ts && !time_parse_rfc3339(ts, &t) ? (int64_t)t * 1000 : 0;
}

static enum hpa_pod_state pod_state(const json_t *pod, enum mres res, const struct pm_pod *pm, int64_t now)
{
    const char *phase = json_path_str(pod, "status.phase");
    if (ctrl_deleting(pod) || (phase && (!strcmp(phase, "Failed") || !strcmp(phase, "Succeeded"))))
        return HPA_POD_IGNORED;
    if (!phase || !strcmp(phase, "Pending")) return HPA_POD_UNREADY;
    if (!pm || res != RES_CPU) return HPA_POD_READY;
    const json_t *cond = ctrl_condition(pod, "Ready");
    const char *st = json_string_value(json_object_get(cond, "status"));
    bool unready = hpa_cpu_pod_unready(ts_ms(json_path_str(pod, "status.startTime")), cond != NULL,
                                       st && !strcmp(st, "True"),
                                       ts_ms(json_string_value(json_object_get(cond, "lastTransitionTime"))),
                                       pm->u.ts_ms, pm->u.window_ms, now);
    return unready ? HPA_POD_UNREADY : HPA_POD_READY;
}

struct mresult {
    bool ok;
    struct hpa_calc_result r;
    char err[512];
    const char *reason;    /* of the failure */
};

static void metric_name(const struct mspec *ms, char *buf, size_t len)
{
    snprintf(buf, len, "%s resource%s", ms->res == RES_CPU ? "cpu" : "memory",
             ms->util ? " utilization (percentage of request)" : "");
}

static void compute_metric(struct ctrl *c, const struct mspec *ms, const struct ctrl_obj **pods,
                           size_t n, int32_t current, struct mresult *out)
{
    const char *rname = ms->res == RES_CPU ? "cpu" : "memory";
    int64_t now = ctrl_now_ms(c);
    podmetrics_t *pm = metrics_cache();
    memset(out, 0, sizeof *out);
    out->reason = "FailedGetResourceMetric";
    if (!n) {
        snprintf(out->err, sizeof out->err, "failed to get %s utilization: no pods returned by selector "
                                            "while calculating replica count", rname);
        return;
    }
    struct hpa_pod_sample *v = calloc(n, sizeof *v);
    if (!v) {
        snprintf(out->err, sizeof out->err, "out of memory");
        return;
    }
    size_t with_metric = 0;
    for (size_t i = 0; i < n; i++) {
        const struct pm_pod *s = pm ? podmetrics_get_pod(pm, pods[i]->ns, pods[i]->name, now) : NULL;
        v[i].state = pod_state(pods[i]->obj, ms->res, s, now);
        v[i].has_metric = s != NULL;
        if (s) with_metric++;
        if (s) v[i].value = ms->res == RES_CPU ? s->u.cpu_nanocores / 1000000 : s->u.mem_bytes;
        if (ms->util && v[i].state != HPA_POD_IGNORED) {
            const char *missing = NULL;
            v[i].request = pod_request(pods[i]->obj, ms->res, &missing);
            if (missing) {
                snprintf(out->err, sizeof out->err, "failed to get %s utilization: missing request for %s "
                         "in container %s of Pod %s", rname, rname, missing, pods[i]->name);
                free(v);
                return;
            }
        }
    }
    int rc = ms->util ? hpa_calc_utilization(v, n, current, ms->target, &out->r)
                      : hpa_calc_average(v, n, current, ms->target, &out->r);
    free(v);
    if (rc == BE_NOMEM) {
        snprintf(out->err, sizeof out->err, "out of memory");
    } else if (rc) {
        snprintf(out->err, sizeof out->err, "failed to get %s utilization: did not receive metrics for "
                 "targeted pods (pods might be unready)%s", rname,
                 with_metric ? "" : ": no metrics reported yet for any of them");
    } else {
        out->ok = true;
    }
}

static json_t *metric_status(const struct mspec *ms, const struct mresult *r)
{
    char avg[40];
    if (ms->res == RES_CPU) snprintf(avg, sizeof avg, "%lldm", (long long)r->r.average);
    else snprintf(avg, sizeof avg, "%lld", (long long)r->r.average);
    json_t *cur = json_pack("{s:s}", "averageValue", avg);
    if (ms->util) json_object_set_new(cur, "averageUtilization", json_integer(r->r.utilization));
    return json_pack("{s:s, s:{s:s, s:o}}", "type", "Resource", "resource", "name",
                     ms->res == RES_CPU ? "cpu" : "memory", "current", cur);
}

/* ---- status ---------------------------------------------------------------------- */

struct outcome {
    int32_t current, desired;
    json_t *metrics;          /* currentMetrics, owned (may be NULL) */
    bool rescaled;
    /* conditions; NULL type fields are left as they are */
    const char *able, *able_reason;
    char able_msg[512];
    const char *active, *active_reason;
    char active_msg[600];
    const char *limited, *limited_reason;
    char limited_msg[256];
};

static int write_status(struct ctrl *c, const struct ctrl_obj *hpa, struct outcome *o)
{
    json_t *copy = json_deep_copy(hpa->obj);
    if (!copy) {
        json_decref(o->metrics);
        return BE_NOMEM;
    }
    json_t *st = json_object_get(copy, "status");
    if (!json_is_object(st)) json_object_set_new(copy, "status", st = json_object());
    json_object_set_new(st, "observedGeneration", json_integer(ctrl_int(hpa->obj, "metadata.generation", 1)));
    json_object_set_new(st, "currentReplicas", json_integer(o->current));
    json_object_set_new(st, "desiredReplicas", json_integer(o->desired));
    if (o->metrics) json_object_set_new(st, "currentMetrics", o->metrics);
    else json_object_del(st, "currentMetrics");
    o->metrics = NULL;
    if (o->rescaled) {
        char ts[32];
        ctrl_timestamp(c, ts);
        json_object_set_new(st, "lastScaleTime", json_string(ts));
    }
    time_t now = ctrl_now(c);
    if (o->able) ctrl_set_condition(copy, "AbleToScale", o->able, o->able_reason, o->able_msg, now, false);
    if (o->active) ctrl_set_condition(copy, "ScalingActive", o->active, o->active_reason, o->active_msg, now, false);
    if (o->limited) ctrl_set_condition(copy, "ScalingLimited", o->limited, o->limited_reason, o->limited_msg, now, false);
    if (json_equal(json_object_get(copy, "status"), json_object_get(hpa->obj, "status"))) {
        json_decref(copy);
        return 0;
    }
    return ctrl_update(c, hpa, copy);
}

/* A problem that stops this sync: conditions and a Warning Event, nothing else. */
static int fail_sync(struct ctrl *c, const struct ctrl_obj *hpa, struct outcome *o, bool able,
                     const char *reason, const char *msg)
{
    if (able) {
        o->able = "False";
        o->able_reason = reason;
        snprintf(o->able_msg, sizeof o->able_msg, "%s", msg);
    }
    o->active = "False";
    o->active_reason = reason;
    snprintf(o->active_msg, sizeof o->active_msg, "%s", msg);
    ctrl_event(c, hpa, "Warning", reason, "%s", msg);
    return write_status(c, hpa, o);
}

/* ---- sync -------------------------------------------------------------------------- */

static struct hpa_state *state_of(struct ctrl *c, const char *key)
{
    struct hpa_priv *p = c->priv;
    if (!p) return NULL;
    struct hpa_state *s = dict_get(&p->states, key);
    if (s) return s;
    s = calloc(1, sizeof *s);
    if (!s || dict_put(&p->states, key, s)) {
        free(s);
        return NULL;
    }
    return s;
}

/* Proposal from the metrics; -1 when none could be computed (o explains). */
static int32_t from_metrics(struct ctrl *c, const struct hspec *s, const struct ctrl_obj **pods,
                            size_t n, int32_t current, struct outcome *o, const char **fail_reason,
                            char *rescale_metric, size_t rmlen)
{
    int32_t best = -1;
    size_t invalid = 0;
    char last_err[512] = "";
    o->metrics = json_array();
    for (size_t i = 0; i < s->nm; i++) {
        struct mresult r;
        compute_metric(c, &s->m[i], pods, n, current, &r);
        if (!r.ok) {
            invalid++;
            *fail_reason = r.reason;
            snprintf(last_err, sizeof last_err, "%s", r.err);
            continue;
        }
        json_array_append_new(o->metrics, metric_status(&s->m[i], &r));
        if (r.r.replicas > best) {
            best = r.r.replicas;
            metric_name(&s->m[i], rescale_metric, rmlen);
        }
    }
    if (invalid == s->nm) {
        snprintf(o->active_msg, sizeof o->active_msg, "the HPA was unable to compute the replica count: %s", last_err);
        return -1;
    }
    /* Some metrics failed: scale up on the others, but never down. */
    if (invalid && best < current) best = current;
    o->active = "True";
    o->active_reason = "ValidMetricFound";
    snprintf(o->active_msg, sizeof o->active_msg, "the HPA was able to successfully calculate a replica count from %s",
             rescale_metric);
    return best;
}

static int hpa_sync(struct ctrl *c, const char *key)
{
    const struct ctrl_obj *hpa = ctrl_get_key(c, "horizontalpodautoscalers", key);
    struct hpa_priv *priv = c->priv;
    if (!hpa) {
        struct hpa_state *s = priv ? dict_del(&priv->states, key) : NULL;
        if (s) state_free(s);
        return 0;
    }
    struct hpa_state *st = state_of(c, key);
    if (!st) return BE_NOMEM;
    int64_t now = ctrl_now_ms(c), gen = ctrl_int(hpa->obj, "metadata.generation", 0);
    if (st->last_sync_ms && gen == st->last_gen && now >= st->last_sync_ms &&
        now - st->last_sync_ms < (int64_t)g_sync_ms) {
        ctrl_enqueue_after(c, key, st->last_sync_ms + g_sync_ms - now);
        return 0;
    }
    st->last_sync_ms = now;
    st->last_gen = gen;
    ctrl_enqueue_after(c, key, g_sync_ms);
    if (ctrl_deleting(hpa->obj)) return 0;

    struct outcome o = {0};
    o.current = (int32_t)ctrl_int(hpa->obj, "status.currentReplicas", 0);
    o.desired = (int32_t)ctrl_int(hpa->obj, "status.desiredReplicas", 0);
    struct hspec s;
    char err[512], msg[768];
    if (parse_spec(hpa->obj, &s, err, sizeof err)) return fail_sync(c, hpa, &o, false, "InvalidSpec", err);

    const char *res = target_resource(s.kind);
    const struct ctrl_obj *target = res ? ctrl_get(c, res, hpa->ns, s.name) : NULL;
    if (!target) {
        if (res) snprintf(msg, sizeof msg, "the HPA controller was unable to get the target's current scale: "
                          "%s.apps \"%s\" not found", res, s.name);
        else snprintf(msg, sizeof msg, "the HPA controller was unable to get the target's current scale: "
                      "kind %s cannot be scaled (want Deployment, ReplicaSet or StatefulSet)", s.kind);
        return fail_sync(c, hpa, &o, true, "FailedGetScale", msg);
    }
    int32_t current = (int32_t)ctrl_int(target->obj, "spec.replicas", 1);
    o.current = current;
    o.able = "True";
    o.able_reason = "SucceededGetScale";
    snprintf(o.able_msg, sizeof o.able_msg, "the HPA controller was able to get the target's current scale");

    struct selector sel;
    err[0] = 0;
    int src = selector_from_json(json_path(target->obj, "spec.selector"), &sel, err, sizeof err);
    if (src || selector_empty(&sel)) {
        if (!src) selector_free(&sel);
        if (!err[0]) snprintf(err, sizeof err, "the target has an empty selector");
        snprintf(msg, sizeof msg, "the HPA target's selector is invalid: %s", err);
        return fail_sync(c, hpa, &o, false, "InvalidSelector", msg);
    }
    const struct ctrl_obj **all, **pods;
    size_t nall = ctrl_list(c, "pods", hpa->ns, &all), n = 0;
    pods = calloc(nall ? nall : 1, sizeof *pods);
    if (!pods) {
        free(all);
        selector_free(&sel);
        return BE_NOMEM;
    }
    for (size_t i = 0; i < nall; i++)
        if (selector_matches(&sel, json_path(all[i]->obj, "metadata.labels"))) pods[n++] = all[i];
    free(all);
    selector_free(&sel);

    int32_t desired = current;
    bool rescale = false;
    char reason[300] = "";
    int rc = 0;
    if (current == 0 && s.min != 0) {
        o.active = "False";
        o.active_reason = "ScalingDisabled";
        snprintf(o.active_msg, sizeof o.active_msg, "scaling is disabled since the replica count of the target is zero");
        desired = 0;
    } else if (current > s.max) {
        snprintf(reason, sizeof reason, "Current number of replicas above Spec.MaxReplicas");
        desired = s.max;
    } else if (current < s.min) {
        snprintf(reason, sizeof reason, "Current number of replicas below Spec.MinReplicas");
        desired = s.min;
    } else {
        const char *fail_reason = "FailedGetResourceMetric";
        char metric[128] = "";
        int32_t proposal = from_metrics(c, &s, pods, n, current, &o, &fail_reason, metric, sizeof metric);
        if (proposal < 0) {
            free(pods);
            json_decref(o.metrics);
            o.metrics = NULL;
            o.desired = current;
            snprintf(msg, sizeof msg, "%s", o.active_msg);
            return fail_sync(c, hpa, &o, false, fail_reason, msg);
        }
        struct hpa_decision d;
        if (hpa_decide(&st->h, &s.b, s.min, s.max, current, proposal, now, &d)) {
            free(pods);
            json_decref(o.metrics);
            return BE_NOMEM;
        }
        desired = d.replicas;
        if (desired > current) snprintf(reason, sizeof reason, "%s above target", metric);
        else if (desired < current) snprintf(reason, sizeof reason, "All metrics below target");
        o.able_reason = d.able_reason;
        snprintf(o.able_msg, sizeof o.able_msg, "%s", d.able_message);
        o.limited = d.limited ? "True" : "False";
        o.limited_reason = d.limit_reason;
        snprintf(o.limited_msg, sizeof o.limited_msg, "%s", d.limit_message);
    }
    free(pods);
    rescale = desired != current;
    if (rescale) {
        json_t *copy = json_deep_copy(target->obj);
        json_t *spec = json_object_get(copy, "spec");
        if (json_is_object(spec)) {
            json_object_set_new(spec, "replicas", json_integer(desired));
            rc = ctrl_update(c, target, copy); /* takes copy */
        } else {
            json_decref(copy);
            rc = BE_NOMEM;
        }
        if (rc) {
            o.able = "False";
            o.able_reason = "FailedUpdateScale";
            snprintf(o.able_msg, sizeof o.able_msg, "the HPA controller was unable to update the target scale: %s",
                     be_strerror(rc));
            ctrl_event(c, hpa, "Warning", "FailedRescale", "New size: %d; reason: %s; error: %s", desired,
                       reason, be_strerror(rc));
            desired = current;
            rescale = false;
        } else {
            o.able_reason = "SucceededRescale";
            snprintf(o.able_msg, sizeof o.able_msg, "the HPA controller was able to update the target scale to %d",
                     desired);
            ctrl_event(c, hpa, "Normal", "SuccessfulRescale", "New size: %d; reason: %s", desired, reason);
            hpa_record_scale(&st->h, &s.b, current, desired, now);
        }
    }
    o.desired = desired;
    o.rescaled = rescale;
    int wrc = write_status(c, hpa, &o);
    return rc ? rc : wrc;
}

const struct ctrl_def ctrl_hpa_def = {
    .name = "horizontal-pod-autoscaler",
    .resources = hpa_resources,
    .on_event = hpa_on_event,
    .sync = hpa_sync,
    .init = hpa_init,
    .fini = hpa_fini,
};
