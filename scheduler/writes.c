/* writes.c: the objects the scheduler proposes to the store.
 *
 * The scheduler runs inside berthd, so it writes through the store directly
 * rather than through HTTP; each write does what the API server's own path
 * would: a binding is the current pod (read with store_get) with
 * spec.nodeName set plus a PodScheduled=True condition, proposed as an
 * UPDATE conditioned on the revision read (like POST pods/NAME/binding);
 * status conditions and node updates likewise; Events are created with the
 * server-owned metadata (uid, creationTimestamp) chosen here, before
 * proposing, as the state machine must stay deterministic. Every text is
 * serialized with json_dump_object(): metadata first, no resourceVersion,
 * which is the store's layout contract. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/jsonutil.h"
#include "scheduler/sched_int.h"

void wr_timestamp(int64_t ms, char *buf, size_t len)
{
    time_format_rfc3339((time_t)(ms / 1000), buf, len);
}

static json_t *obj_child(json_t *parent, const char *key)
{
    json_t *c = json_object_get(parent, key);
    if (!json_is_object(c)) {
        c = json_object();
        json_object_set_new(parent, key, c);
    }
    return c;
}

/* Sets condition `type` in obj.status.conditions, keeping its
 * lastTransitionTime when the status does not change. */
static void set_condition(json_t *obj, const char *type, const char *status,
                          const char *reason, const char *msg, const char *ts,
                          bool probe_time)
{
    json_t *st = obj_child(obj, "status");
    json_t *conds = json_object_get(st, "conditions");
    if (!json_is_array(conds)) {
        conds = json_array();
        json_object_set_new(st, "conditions", conds);
    }
    json_t *c = NULL, *x;
    size_t i;
    json_array_foreach(conds, i, x) {
        const char *t = json_path_str(x, "type");
        if (t && !strcmp(t, type)) {
            c = x;
            break;
        }
    }
    const char *old = c ? json_path_str(c, "status") : NULL;
    const char *since = old && !strcmp(old, status) ? json_path_str(c, "lastTransitionTime") : NULL;
    json_t *nc = json_pack("{s:s, s:s}", "type", type, "status", status);
    if (probe_time)
        json_object_set_new(nc, "lastProbeTime", json_null());
    if (c && json_path_str(c, "lastHeartbeatTime"))
        json_object_set(nc, "lastHeartbeatTime", json_object_get(c, "lastHeartbeatTime"));
    json_object_set_new(nc, "lastTransitionTime", json_string(since ? since : ts));
    if (reason)
        json_object_set_new(nc, "reason", json_string(reason));
    if (msg)
        json_object_set_new(nc, "message", json_string(msg));
    if (c)
        json_array_set_new(conds, i, nc);
    else
        json_array_append_new(conds, nc);
}

static char *finish(json_t *obj, size_t *len)
{
    char *text = obj ? json_dump_object(obj, len) : NULL;
    json_decref(obj);
    return text;
}

char *wr_bind(const char *pod_json, const char *node, const char *ts, size_t *len)
{
    json_t *pod = json_loads(pod_json, 0, NULL);
    if (!json_is_object(pod))
        return finish(pod, NULL);
    json_object_set_new(obj_child(pod, "spec"), "nodeName", json_string(node));
    set_condition(pod, "PodScheduled", "True", NULL, NULL, ts, true);
    return finish(pod, len);
}

char *wr_unsched(const char *pod_json, const char *msg, const char *ts, size_t *len)
{
    json_t *pod = json_loads(pod_json, 0, NULL);
    if (!json_is_object(pod))
        return finish(pod, NULL);
    set_condition(pod, "PodScheduled", "False", "Unschedulable", msg, ts, true);
    return finish(pod, len);
}

char *wr_event(const struct sched_pod *p, const char *name, const char *uid, const char *msg,
               uint32_t count, const char *first_ts, const char *last_ts, size_t *len)
{
    json_t *ev = json_pack(
        "{s:{s:s, s:s, s:s, s:s}, s:s, s:s, s:{s:s, s:s, s:s, s:s, s:s}, s:s, s:s, s:s,"
        " s:{s:s}, s:s, s:I, s:s, s:s}",
        "metadata", "name", name, "namespace", p->ns, "uid", uid, "creationTimestamp", first_ts,
        "apiVersion", "v1", "kind", "Event",
        "involvedObject", "kind", "Pod", "apiVersion", "v1", "name", p->name, "namespace", p->ns,
        "uid", p->uid,
        "reason", "FailedScheduling", "message", msg, "type", "Warning",
        "source", "component", "berth-scheduler", "reportingComponent", "berth-scheduler",
        "count", (json_int_t)count, "firstTimestamp", first_ts, "lastTimestamp", last_ts);
    return finish(ev, len);
}

char *wr_node(const char *node_json, bool unknown, const char *ts, int64_t grace_ms,
              size_t *len)
{
    json_t *node = json_loads(node_json, 0, NULL);
    if (!json_is_object(node))
        return finish(node, NULL);
    json_t *spec = obj_child(node, "spec");
    json_t *taints = json_object_get(spec, "taints"), *t;
    size_t i, found = (size_t)-1;
    json_array_foreach(taints, i, t) {
        const char *k = json_path_str(t, "key"), *e = json_path_str(t, "effect");
        if (k && e && !strcmp(k, TAINT_UNREACHABLE) && !strcmp(e, "NoExecute"))
            found = i;
    }
    if (unknown) {
        char msg[128];
        snprintf(msg, sizeof msg, "Node lease not renewed within %llds.",
                 (long long)(grace_ms / 1000));
        set_condition(node, "Ready", "Unknown", "NodeStatusUnknown", msg, ts, false);
        if (found == (size_t)-1) {
            if (!json_is_array(taints)) {
                taints = json_array();
                json_object_set_new(spec, "taints", taints);
            }
            json_array_append_new(taints, json_pack("{s:s, s:s, s:s}", "key", TAINT_UNREACHABLE,
                                                    "effect", "NoExecute", "timeAdded", ts));
        }
    } else {
        if (found != (size_t)-1)
            json_array_remove(taints, found);
        if (json_is_array(taints) && !json_array_size(taints))
            json_object_del(spec, "taints");
        json_t *conds = json_path(node, "status.conditions"), *c;
        json_array_foreach(conds, i, c) { /* undo only our own Unknown */
            const char *type = json_path_str(c, "type"), *r = json_path_str(c, "reason");
            if (type && !strcmp(type, "Ready") && r && !strcmp(r, "NodeStatusUnknown")) {
                set_condition(node, "Ready", "True", "NodeLeaseRenewed",
                              "Node lease renewed again.", ts, false);
                break;
            }
        }
    }
    return finish(node, len);
}
