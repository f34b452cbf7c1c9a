/* api.c: the API server's front door. Starts the HTTP server, decides for
 * each request which handler answers it (health and info endpoints here,
 * discovery, collections, objects), and creates the bootstrap namespaces
 * when this member becomes the raft leader. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apiserver/api_int.h"
#include "common/errors.h"
#include "common/jsonutil.h"
#include "common/uid.h"
#include "common/log.h"

/* How long a stopping API server waits for the requests in flight. */
#define API_DRAIN_MS 2000

#ifndef BERTH_VERSION
#define BERTH_VERSION "v0.1.0"
#endif

static enum api_verb verb_of(const char *method, const struct api_route *rt, bool watch)
{
    if (!strcmp(method, "GET")) {
        if (rt->type == ROUTE_COLLECTION) return watch ? VERB_WATCH : VERB_LIST;
        return VERB_GET;
    }
    if (!strcmp(method, "POST")) return VERB_CREATE;
    if (!strcmp(method, "PUT")) return VERB_UPDATE;
    if (!strcmp(method, "PATCH")) return VERB_PATCH;
    if (!strcmp(method, "DELETE")) return VERB_DELETE;
    return VERB_OTHER;
}

static void reply_text(struct api_call *call, int status, const char *text)
{
    http_respond(call->req, status, "text/plain; charset=utf-8", text, strlen(text), NULL);
    api_call_finish(call, status);
}

static void handle_version(struct api_call *call)
{
    char *body = NULL;
    json_t *v = json_pack("{s:s, s:s, s:s, s:s, s:s}", "major", "1", "minor", "0",
                          "gitVersion", BERTH_VERSION, "goVersion", "none",
                          "platform", "linux/amd64");
    if (v) body = json_dumps(v, JSON_INDENT(2));
    json_decref(v);
    if (!body) { api_fail(call, BE_NOMEM, "out of memory"); return; }
    api_reply_json(call, 200, body, strlen(body));
}

/* Answers the non-resource endpoints; false if the path is not one. */
static bool handle_info(struct api_call *call)
{
    const char *p = call->req->path;
    api_server_t *api = call->api;
    if (!strcmp(p, "/healthz") || !strcmp(p, "/livez")) { reply_text(call, 200, "ok"); return true; }
    if (!strcmp(p, "/readyz")) {
        if (api_server_ready(api)) reply_text(call, 200, "ok");
        else reply_text(call, 503, "store not ready: no leader or log not applied yet");
        return true;
    }
    if (!strcmp(p, "/version")) { handle_version(call); return true; }
    if (!strcmp(p, "/metrics")) { api_handle_metrics(call); return true; }
    return false;
}

static bool query_is_true(const http_req_t *req, const char *key)
{
    char v[16];
    return http_req_query(req, key, v, sizeof v) && (!strcmp(v, "1") || !strcmp(v, "true"));
}

static void on_request(void *data, http_req_t *req)
{
    api_server_t *api = data;
    struct api_call *call = calloc(1, sizeof *call);
    if (!call) {
        http_respond(req, 500, "text/plain", "out of memory\n", 14, NULL);
        return;
    }
    call->api = api;
    api->calls++;
    call->req = req;
    call->start_ns = api_now_ns();
    call->verb = VERB_OTHER;
    if (api->draining) {
        api_fail(call, BE_UNAVAIL, "berthd is shutting down");
        return;
    }
    if (!strncmp(req->path, "/cluster/", 9)) { api_handle_cluster(call); return; }
    if (api_forward_check(call)) return; /* a follower: the leader answers */
    api_dispatch(call);
}

void api_dispatch(struct api_call *call)
{
    http_req_t *req = call->req;
    /* metrics.k8s.io is served from memory (metrics_api.c); its ingest POST
     * counts as a write for forwarding to the leader in HA. */
    if (api_handle_metrics_api(call)) return;
    if (!strcmp(req->method, "GET") && (handle_info(call) || api_handle_discovery(call)))
        return;
    char err[256];
    if (api_route_parse(req->path, &call->route, err, sizeof err)) {
        memset(&call->route, 0, sizeof call->route);
        api_fail(call, BE_NOTFOUND, "%s", err);
        return;
    }
    bool watch = query_is_true(req, "watch");
    call->verb = verb_of(req->method, &call->route, watch);
    if (call->route.type == ROUTE_COLLECTION) {
        if (call->verb == VERB_LIST) api_handle_list(call);
        else if (call->verb == VERB_WATCH) api_handle_watch(call);
        else if (call->verb == VERB_CREATE) api_handle_object(call);
        else api_fail(call, BE_METHOD, "method %s not allowed on a collection", req->method);
        return;
    }
    api_handle_object(call);
}

/* ---- bootstrap -------------------------------------------------------- */

static void on_bootstrap_commit(void *data, int rc, const struct store_result *res, size_t n)
{
    api_server_t *api = data;
    (void)api;
    if (rc) { log_warn("api", "bootstrap namespaces: %s", be_strerror(rc)); return; }
    for (size_t i = 0; i < n; i++)
        if (res[i].rc == 0) log_info("api", "created bootstrap namespace (revision %llu)",
                                     (unsigned long long)res[i].rev);
}

static char *namespace_json(const char *name, size_t *len)
{
    char ts[32], uid[40];
    time_format_rfc3339(time(NULL), ts, sizeof ts);
    uid_new(uid);
    json_t *o = json_pack("{s:{s:s, s:s, s:s}, s:s, s:s, s:{s:[s]}, s:{s:s}}", "metadata",
                          "name", name, "uid", uid, "creationTimestamp", ts, "apiVersion", "v1",
                          "kind", "Namespace", "spec", "finalizers", "kubernetes", "status",
                          "phase", "Active");
    char *text = o ? json_dump_object(o, len) : NULL;
    json_decref(o);
    return text;
}

static void create_bootstrap_namespaces(api_server_t *api)
{
    static const char *names[] = {"default", "kube-system", "kube-public", "kube-node-lease"};
    enum { NBOOT = sizeof names / sizeof names[0] };
    struct store_mut muts[NBOOT];
    char *texts[NBOOT] = {0};
    size_t n = 0;
    for (size_t i = 0; i < NBOOT; i++) {
        char *existing = NULL;
        if (store_get(api->store, "namespaces", "", names[i], &existing, NULL, NULL) == 0) {
            free(existing);
            continue;
        }
        size_t len = 0;
        texts[n] = namespace_json(names[i], &len);
        if (!texts[n]) break;
        muts[n] = (struct store_mut){.op = STORE_CREATE, .resource = "namespaces", .ns = "",
                                     .name = names[i], .json = texts[n], .json_len = len};
        n++;
    }
    if (n && store_propose(api->store, muts, n, on_bootstrap_commit, api))
        log_warn("api", "could not propose bootstrap namespaces");
    for (size_t i = 0; i < n; i++) free(texts[i]);
}

bool api_server_ready(api_server_t *api)
{
    char *json = NULL;
    if (!store_ready(api->store)) return false;
    if (store_get(api->store, "namespaces", "", "default", &json, NULL, NULL)) return false;
    free(json);
    return true;
}

void api_server_leader_changed(api_server_t *api, bool is_leader)
{
    api->is_leader = is_leader;
    if (is_leader && !api->stopping) create_bootstrap_namespaces(api);
    api_cluster_leader_changed(api, is_leader);
}

/* ---- lifecycle -------------------------------------------------------- */

int api_server_start(uv_loop_t *loop, const struct api_config *cfg, api_server_t **out,
                     char *errbuf, size_t errlen)
{
    api_server_t *api = calloc(1, sizeof *api);
    if (!api) { snprintf(errbuf, errlen, "out of memory"); return BE_NOMEM; }
    api->loop = loop;
    api->store = cfg->store;
    snprintf(api->name, sizeof api->name, "%s", cfg->name ? cfg->name : "berthd");
    snprintf(api->raft_address, sizeof api->raft_address, "%s", cfg->raft_address ? cfg->raft_address : "");
    snprintf(api->advertise_url, sizeof api->advertise_url, "%s", cfg->advertise_url ? cfg->advertise_url : "");
    struct http_server_config hc = {
        .host = cfg->host, .port = cfg->port, .max_body = cfg->max_body,
        .max_conns = cfg->max_conns, .request_timeout_ms = cfg->request_timeout_ms,
        .idle_timeout_ms = cfg->idle_timeout_ms,
    };
    int rc = 0;
    if (!cfg->no_body_worker && (rc = offload_start(loop, &api->offload)) != 0) {
        snprintf(errbuf, errlen, "cannot start the request worker thread: %s", be_strerror(rc));
        free(api);
        return rc;
    }
    rc = http_server_start(loop, &hc, on_request, api, &api->http, errbuf, errlen);
    if (rc) {
        if (api->offload) offload_stop(api->offload, free, api); /* frees api when closed */
        else free(api);
        return rc;
    }
    *out = api;
    return 0;
}

static void on_http_stopped(void *data)
{
    api_server_t *api = data;
    void (*cb)(void *) = api->stop_cb;
    void *cb_data = api->stop_data;
    /* Calls whose proposals are still in the store are failed when it
     * closes, after this: api stays until the last one finishes. */
    api->stopped = true;
    if (api->calls == 0) free(api);
    if (cb) cb(cb_data);
}

static void on_drain_timer_closed(uv_handle_t *h)
{
    api_server_t *api = h->data;
    api_cluster_stop(api);
    api_forward_stop(api);
    http_server_stop(api->http, on_http_stopped, api);
}

static void drain_end(api_server_t *api)
{
    api->drained = true; /* new requests still get 503 until the close */
    uv_timer_stop(&api->drain_timer);
    uv_close((uv_handle_t *)&api->drain_timer, on_drain_timer_closed);
}

/* The drain ends once no request but a watch is in flight (watches were
 * told to end and finish on their own), or when the timer fires. */
void api_drain_check(api_server_t *api)
{
    if (api->draining && !api->drained && api_requests_in_flight(api) == 0)
        drain_end(api);
}

static void on_drain_deadline(uv_timer_t *t)
{
    api_server_t *api = t->data;
    log_warn("api", "stopping with %u requests still in flight after %d ms",
             api_requests_in_flight(api), API_DRAIN_MS);
    drain_end(api); /* what is left is answered into the void */
}

/* Once the worker has finished every create on it (they are still
 * proposed: the store closes after the API server), watches end, and the
 * requests in flight are answered before the connections close: a write
 * that commits during shutdown reaches its client (through a follower
 * too), instead of an error for a write that happened. New requests get
 * 503 meanwhile. */
static void on_offload_stopped(void *data)
{
    api_server_t *api = data;
    api->offload = NULL;
    api_watch_abort_all(api);
    api->draining = true;
    uv_timer_init(api->loop, &api->drain_timer);
    api->drain_timer.data = api;
    uv_timer_start(&api->drain_timer, on_drain_deadline, API_DRAIN_MS, 0);
    api_drain_check(api);
}

void api_server_stop(api_server_t *api, void (*cb)(void *data), void *data)
{
    api->stopping = true;
    api->stop_cb = cb;
    api->stop_data = data;
    if (api->offload) offload_stop(api->offload, on_offload_stopped, api);
    else on_offload_stopped(api);
}
