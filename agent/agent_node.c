/* agent_node.c: the agent's Node object and its heartbeat.
 *
 * On start and on every heartbeat tick (--heartbeat-s) the agent walks one
 * step of a small state machine, so a server restart or fail-over is just
 * another tick:
 *   1. namespace kube-node-lease exists (POST, 409 is fine), once;
 *   2. the Node is registered: POST /api/v1/nodes with labels, capacity,
 *      addresses, daemon endpoint, nodeInfo and Ready=True; on 409 the
 *      existing Node gets its labels merged and its status re-asserted;
 *   3. then each tick renews the Lease kube-node-lease/NAME (merge PATCH,
 *      POST on 404) and, every sixth tick or after a failed one, re-asserts
 *      the Ready condition with a merge PATCH of nodes/NAME/status.
 * A 404 on the node status means the Node was deleted: register again.
 * Nothing here ever gives up; failures wait for the next tick. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "agent/agent.h"
#include "common/errors.h"
#include "common/jsonutil.h"
#include "common/log.h"
#include "common/quantity.h"

#define LEASE_NS "kube-node-lease"

int agent_parse_labels(const char *text, json_t *labels)
{
    char *dup = strdup(text), *save = NULL;
    int rc = 0;
    for (char *kv = strtok_r(dup, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');
        if (!eq || eq == kv) {
            rc = BE_INVAL;
            break;
        }
        *eq = '\0';
        json_object_set_new(labels, kv, json_string(eq + 1));
    }
    free(dup);
    return rc;
}

static void now_str(struct agent *a, char *buf, size_t len)
{
    time_format_rfc3339((time_t)(agent_now_ms(a) / 1000), buf, len);
}

static json_t *node_status(struct agent *a)
{
    char cpu[32], mem[32], ts[40];
    quantity_format_cpu(a->cfg.cpu_millis, cpu, sizeof cpu);
    snprintf(mem, sizeof mem, "%lldKi", (long long)(a->cfg.mem_bytes / 1024));
    now_str(a, ts, sizeof ts);
    struct utsname u;
    uname(&u);
    json_t *res = json_pack("{s:s,s:s,s:s}", "cpu", cpu, "memory", mem, "pods", "110");
    json_t *conds = json_array();
    const char *press[] = {"MemoryPressure", "DiskPressure", "PIDPressure"};
    for (int i = 0; i < 3; i++)
        json_array_append_new(conds, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "type", press[i],
                                               "status", "False", "reason", "KubeletHasSufficientResources",
                                               "message", "no pressure", "lastHeartbeatTime", ts,
                                               "lastTransitionTime", ts));
    json_array_append_new(conds, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "type", "Ready", "status",
                                           "True", "reason", "KubeletReady", "message",
                                           "berth-agent is posting ready status",
                                           "lastHeartbeatTime", ts, "lastTransitionTime", ts));
    return json_pack(
        "{s:o,s:O,s:o,s:[{s:s,s:s},{s:s,s:s}],s:{s:{s:i}},s:{s:s,s:s,s:s,s:s,s:s,s:s}}",
        "capacity", res, "allocatable", res, "conditions", conds, "addresses", "type",
        "InternalIP", "address", a->host_ip, "type", "Hostname", "address", a->hostname,
        "daemonEndpoints", "kubeletEndpoint", "Port", a->cfg.listen_port, "nodeInfo",
        "kernelVersion", u.release, "osImage", u.sysname, "operatingSystem", "linux",
        "architecture", strcmp(u.machine, "x86_64") == 0 ? "amd64"
                        : strcmp(u.machine, "aarch64") == 0 ? "arm64" : u.machine,
        "containerRuntimeVersion", "berth://1", "kubeletVersion", "berth-agent");
}

static json_t *node_labels(struct agent *a)
{
    json_t *l = json_deep_copy(a->labels);
    json_object_set_new(l, "kubernetes.io/hostname", json_string(a->cfg.name));
    json_object_set_new(l, "kubernetes.io/os", json_string("linux"));
    return l;
}

json_t *agent_node_object(struct agent *a)
{
    return json_pack("{s:s,s:s,s:{s:s,s:o},s:{},s:o}", "apiVersion", "v1", "kind", "Node",
                     "metadata", "name", a->cfg.name, "labels", node_labels(a), "spec",
                     "status", node_status(a));
}

/* Sends obj (consumed); cb gets the answer. Returns what a->api returned. */
static int send_json(struct agent *a, const char *method, const char *path, const char *ctype,
                     json_t *obj, uvhttp_cb cb)
{
    char *txt = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    if (!txt)
        return BE_NOMEM;
    int rc = a->api(a, method, path, ctype, txt, strlen(txt), cb, a);
    free(txt);
    return rc;
}

static void renew_lease(struct agent *a);

static void mark_ready(struct agent *a)
{
    if (!a->registered && !a->lease_inflight)
        renew_lease(a);
    if (!a->registered)
        log_info(AGENT_COMP, "node %s registered with %s", a->cfg.name, a->cfg.servers[a->cur]);
    a->registered = true;
    if (!a->ready_printed && a->on_ready) {
        a->ready_printed = true;
        a->on_ready(a);
    }
}

static void on_node_status(void *data, int rc, int status, const char *body, size_t len)
{
    struct agent *a = data;
    a->node_inflight = false;
    if (rc == 0 && status == 404) {
        a->registered = false; /* deleted meanwhile: register again */
        return;
    }
    a->beat_failed = rc < 0 || status >= 300;
    if (!a->beat_failed)
        mark_ready(a);
}

static void patch_node_status(struct agent *a)
{
    char path[400];
    snprintf(path, sizeof path, "/api/v1/nodes/%s/status", a->cfg.name);
    a->node_inflight = true;
    if (send_json(a, "PATCH", path, "application/merge-patch+json",
                  json_pack("{s:o}", "status", node_status(a)), on_node_status) < 0)
        a->node_inflight = false;
}

static void on_node_labels(void *data, int rc, int status, const char *body, size_t len) {}

static void on_node_created(void *data, int rc, int status, const char *body, size_t len)
{
    struct agent *a = data;
    a->node_inflight = false;
    if (rc < 0 || (status >= 300 && status != 409)) {
        if (!a->stopping)
            log_warn(AGENT_COMP, "register node %s: %s", a->cfg.name,
                     rc < 0 ? body : be_strerror(status == 422 ? BE_INVALID : BE_IO));
        return;
    }
    if (status == 409) { /* known already: merge labels, assert status */
        char path[400];
        snprintf(path, sizeof path, "/api/v1/nodes/%s", a->cfg.name);
        send_json(a, "PATCH", path, "application/merge-patch+json",
                  json_pack("{s:{s:o}}", "metadata", "labels", node_labels(a)), on_node_labels);
        patch_node_status(a);
        return;
    }
    mark_ready(a);
}

static void on_ns(void *data, int rc, int status, const char *body, size_t len)
{
    struct agent *a = data;
    if (rc == 0 && (status < 300 || status == 409))
        a->ns_done = true;
}

static void on_lease(void *data, int rc, int status, const char *body, size_t len);

static json_t *lease_spec(struct agent *a)
{
    char ts[40];
    int64_t now = agent_now_ms(a);
    time_format_rfc3339((time_t)(now / 1000), ts, sizeof ts);
    /* MicroTime: add the microseconds Kubernetes shows */
    char micro[48];
    snprintf(micro, sizeof micro, "%.19s.%06dZ", ts, (int)(now % 1000) * 1000);
    return json_pack("{s:s,s:i,s:s}", "holderIdentity", a->cfg.name, "leaseDurationSeconds", 40,
                     "renewTime", micro);
}

static void create_lease(struct agent *a)
{
    char path[200];
    snprintf(path, sizeof path, "/apis/coordination.k8s.io/v1/namespaces/%s/leases", LEASE_NS);
    json_t *obj = json_pack("{s:s,s:s,s:{s:s,s:s},s:o}", "apiVersion", "coordination.k8s.io/v1",
                            "kind", "Lease", "metadata", "name", a->cfg.name, "namespace",
                            LEASE_NS, "spec", lease_spec(a));
    a->lease_inflight = true;
    if (send_json(a, "POST", path, "application/json", obj, on_lease) < 0)
        a->lease_inflight = false;
}

static void on_lease(void *data, int rc, int status, const char *body, size_t len)
{
    struct agent *a = data;
    a->lease_inflight = false;
    if (rc == 0 && status == 404 && !a->stopping) {
        create_lease(a);
        return;
    }
    if (rc < 0 || status >= 300) {
        if (!a->beat_failed && !a->stopping)
            log_warn(AGENT_COMP, "lease renewal failed: %.*s", rc < 0 ? (int)len : 0, body);
        a->beat_failed = true;
    }
}

static void renew_lease(struct agent *a)
{
    char path[400];
    snprintf(path, sizeof path, "/apis/coordination.k8s.io/v1/namespaces/%s/leases/%s", LEASE_NS,
             a->cfg.name);
    a->lease_inflight = true;
    if (send_json(a, "PATCH", path, "application/merge-patch+json",
                  json_pack("{s:o}", "spec", lease_spec(a)), on_lease) < 0)
        a->lease_inflight = false;
}

static void beat(struct agent *a)
{
    if (a->stopping)
        return;
    if (!a->ns_done)
        send_json(a, "POST", "/api/v1/namespaces", "application/json",
                  json_pack("{s:s,s:s,s:{s:s}}", "apiVersion", "v1", "kind", "Namespace",
                            "metadata", "name", LEASE_NS),
                  on_ns);
    if (!a->registered) {
        if (!a->node_inflight) {
            a->node_inflight = true;
            if (send_json(a, "POST", "/api/v1/nodes", "application/json", agent_node_object(a),
                          on_node_created) < 0)
                a->node_inflight = false;
        }
        return;
    }
    bool failed = a->beat_failed;
    if (!a->lease_inflight)
        renew_lease(a);
    if (!a->node_inflight && (failed || ++a->beats % 6 == 0))
        patch_node_status(a);
}

static void on_hb(uv_timer_t *t)
{
    struct agent *a = t->data;
    beat(a);
    /* until registered, try every second; then every heartbeat */
    uint64_t next = a->registered ? a->cfg.heartbeat_s * 1000ull : 1000;
    uv_timer_start(&a->hb_timer, on_hb, next, 0);
}

void agent_node_start(struct agent *a)
{
    uv_timer_start(&a->hb_timer, on_hb, 0, 0);
}
