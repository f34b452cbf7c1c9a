/* metrics_api.c: the resource metrics API (metrics.k8s.io/v1beta1), served
 * from the in-memory cache of common/podmetrics.h rather than the store:
 *
 *   POST /apis/metrics.k8s.io/v1beta1/ingest            an agent's batch
 *   GET  /apis/metrics.k8s.io[/v1beta1]                 discovery
 *   GET  /apis/metrics.k8s.io/v1beta1/nodes[/NAME]      NodeMetrics[List]
 *   GET  /apis/metrics.k8s.io/v1beta1/pods              PodMetricsList, all namespaces
 *   GET  /apis/metrics.k8s.io/v1beta1/namespaces/NS/pods[/NAME]
 *
 * Lists take labelSelector (pods: matched against the pod objects of the
 * store, as metrics-server does). The kinds are not storable, so they are
 * not in the kind table; discovery of the group is added here and in
 * discovery.c's group list (api_metrics_group_entry).
 *
 * HA: the cache lives in the memory of the member that receives the
 * batches, and the HPA controller reads it on the raft leader. So the
 * ingest POST counts as a write, and metric reads as consistent reads:
 * forward.c sends both from a follower to the leader (this handler runs
 * after api_forward_check, in api_dispatch), so agents and `berthctl top`
 * reach the leader's cache whichever member they talk to. After a change of
 * leader the new leader's cache fills within one report interval. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apiserver/api_int.h"
#include "common/errors.h"
#include "common/podmetrics.h"
#include "common/selector.h"

#define MGROUP "metrics.k8s.io"
#define MVERSION "v1beta1"
#define MPREFIX "/apis/" MGROUP

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

json_t *api_metrics_group_entry(void)
{
    const char *gv = MGROUP "/" MVERSION;
    return json_pack("{s:s, s:[{s:s, s:s}], s:{s:s, s:s}}", "name", MGROUP, "versions",
                     "groupVersion", gv, "version", MVERSION, "preferredVersion", "groupVersion",
                     gv, "version", MVERSION);
}

static json_t *resource_list(void)
{
    return json_pack("{s:s, s:s, s:s, s:[{s:s, s:s, s:b, s:s, s:[s,s]}, {s:s, s:s, s:b, s:s, s:[s,s]}]}",
                     "kind", "APIResourceList", "apiVersion", "v1", "groupVersion",
                     MGROUP "/" MVERSION, "resources", "name", "nodes", "singularName", "",
                     "namespaced", 0, "kind", "NodeMetrics", "verbs", "get", "list", "name",
                     "pods", "singularName", "", "namespaced", 1, "kind", "PodMetrics", "verbs",
                     "get", "list");
}

static void reply_doc(struct api_call *call, json_t *doc)
{
    char *body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (!body) {
        api_fail(call, BE_NOMEM, "out of memory");
        return;
    }
    api_reply_json(call, 200, body, strlen(body));
}

static void ingest(struct api_call *call)
{
    podmetrics_t *pm = podmetrics_global();
    char err[256];
    if (!pm) {
        api_fail(call, BE_NOMEM, "out of memory");
        return;
    }
    int rc = podmetrics_ingest(pm, call->req->body, call->req->body_len, wall_ms(), err, sizeof err);
    if (rc) {
        api_fail(call, rc, "metrics batch: %s", err);
        return;
    }
    static const char ok[] = "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Success\"}";
    char *body = strdup(ok);
    if (!body) {
        api_fail(call, BE_NOMEM, "out of memory");
        return;
    }
    api_reply_json(call, 200, body, strlen(body));
}

/* Whether the pod object behind a sample matches sel (the store's copy). */
static bool pod_selected(api_server_t *api, const struct selector *sel, const struct pm_pod *p)
{
    char *json = NULL;
    size_t len = 0;
    if (store_get(api->store, "pods", p->ns, p->name, &json, &len, NULL)) return false;
    json_t *obj = json_loadb(json, len, 0, NULL);
    free(json);
    bool ok = obj && selector_matches(sel, json_object_get(json_object_get(obj, "metadata"), "labels"));
    json_decref(obj);
    return ok;
}

static void serve_pods(struct api_call *call, const char *ns, const char *name)
{
    podmetrics_t *pm = podmetrics_global();
    int64_t now = wall_ms();
    if (!pm) {
        api_fail(call, BE_NOMEM, "out of memory");
        return;
    }
    if (name) {
        const struct pm_pod *p = podmetrics_get_pod(pm, ns, name, now);
        if (!p) {
            api_fail(call, BE_NOTFOUND, "podmetrics.metrics.k8s.io \"%s\" not found", name);
            return;
        }
        reply_doc(call, podmetrics_pod_json(p));
        return;
    }
    char text[1024] = "", err[256];
    struct selector sel;
    bool has_sel = http_req_query(call->req, "labelSelector", text, sizeof text) && text[0];
    if (has_sel && selector_parse(text, &sel, err, sizeof err)) {
        api_fail(call, BE_INVAL, "labelSelector: %s", err);
        return;
    }
    const struct pm_pod **v;
    size_t n = podmetrics_list_pods(pm, ns, now, &v);
    json_t *items = json_array();
    for (size_t i = 0; i < n && n != (size_t)-1; i++)
        if (!has_sel || pod_selected(call->api, &sel, v[i]))
            json_array_append_new(items, podmetrics_pod_json(v[i]));
    free(v);
    if (has_sel) selector_free(&sel);
    reply_doc(call, json_pack("{s:s, s:s, s:{}, s:o}", "kind", "PodMetricsList", "apiVersion",
                              MGROUP "/" MVERSION, "metadata", "items", items));
}

static void serve_nodes(struct api_call *call, const char *name)
{
    podmetrics_t *pm = podmetrics_global();
    int64_t now = wall_ms();
    if (!pm) {
        api_fail(call, BE_NOMEM, "out of memory");
        return;
    }
    if (name) {
        const struct pm_node *nd = podmetrics_get_node(pm, name, now);
        if (!nd) {
            api_fail(call, BE_NOTFOUND, "nodemetrics.metrics.k8s.io \"%s\" not found", name);
            return;
        }
        reply_doc(call, podmetrics_node_json(nd));
        return;
    }
    const struct pm_node **v;
    size_t n = podmetrics_list_nodes(pm, now, &v);
    json_t *items = json_array();
    for (size_t i = 0; i < n && n != (size_t)-1; i++) json_array_append_new(items, podmetrics_node_json(v[i]));
    free(v);
    reply_doc(call, json_pack("{s:s, s:s, s:{}, s:o}", "kind", "NodeMetricsList", "apiVersion",
                              MGROUP "/" MVERSION, "metadata", "items", items));
}

bool api_handle_metrics_api(struct api_call *call)
{
    const char *p = call->req->path;
    size_t plen = strlen(MPREFIX);
    if (strncmp(p, MPREFIX, plen) || (p[plen] && p[plen] != '/')) return false;
    const char *rest = p + plen;
    bool get = !strcmp(call->req->method, "GET");
    call->verb = get ? VERB_GET : VERB_OTHER;
    if (!strcmp(rest, "") || !strcmp(rest, "/")) {
        if (!get) { api_fail(call, BE_METHOD, "only GET is served here"); return true; }
        json_t *doc = api_metrics_group_entry();
        if (doc) {
            json_object_set_new(doc, "kind", json_string("APIGroup"));
            json_object_set_new(doc, "apiVersion", json_string("v1"));
        }
        reply_doc(call, doc);
        return true;
    }
    if (strncmp(rest, "/" MVERSION, strlen("/" MVERSION))) {
        api_fail(call, BE_NOTFOUND, "the server could not find the requested resource");
        return true;
    }
    rest += strlen("/" MVERSION);
    if (!strcmp(rest, "/ingest")) {
        call->verb = VERB_CREATE;
        if (strcmp(call->req->method, "POST")) api_fail(call, BE_METHOD, "ingest takes POST");
        else ingest(call);
        return true;
    }
    if (!get) {
        api_fail(call, BE_METHOD, "method %s not allowed: metrics are read-only", call->req->method);
        return true;
    }
    char ns[API_NAME_MAX + 1], name[API_NAME_MAX + 1], extra[8];
    if (!strcmp(rest, "") || !strcmp(rest, "/")) {
        reply_doc(call, resource_list());
    } else if (!strcmp(rest, "/pods")) {
        call->verb = VERB_LIST;
        serve_pods(call, NULL, NULL);
    } else if (!strcmp(rest, "/nodes")) {
        call->verb = VERB_LIST;
        serve_nodes(call, NULL);
    } else if (sscanf(rest, "/nodes/%253[^/]%7s", name, extra) == 1) {
        serve_nodes(call, name);
    } else if (sscanf(rest, "/namespaces/%253[^/]/pods/%253[^/]%7s", ns, name, extra) == 2) {
        serve_pods(call, ns, name);
    } else if (sscanf(rest, "/namespaces/%253[^/]/pods%7s", ns, extra) == 1) {
        call->verb = VERB_LIST;
        serve_pods(call, ns, NULL);
    } else {
        api_fail(call, BE_NOTFOUND, "the server could not find the requested resource");
    }
    return true;
}

char *api_metrics_api_prometheus(char *out, size_t *len, size_t *cap)
{
    podmetrics_t *pm = podmetrics_global();
    if (!pm) return out;
    char *text = NULL;
    size_t tlen = 0;
    FILE *f = open_memstream(&text, &tlen);
    if (!f) return out;
    podmetrics_prometheus(pm, f, wall_ms());
    fclose(f);
    if (*len + tlen + 1 > *cap) {
        char *grown = realloc(out, *len + tlen + 1);
        if (!grown) {
            free(text);
            return out;
        }
        out = grown;
        *cap = *len + tlen + 1;
    }
    memcpy(out + *len, text, tlen);
    *len += tlen;
    out[*len] = 0;
    free(text);
    return out;
}
