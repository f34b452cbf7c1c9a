/* forward.c: requests a follower cannot answer itself go to the leader.
 *
 * Writes (POST, PUT, PATCH, DELETE under /api and /apis) and consistent
 * reads (GET without resourceVersion, not a watch, not pods/log) need the
 * raft leader: store_propose and store_barrier refuse on a follower. When
 * this member is not the leader, api_forward_check() takes such a request
 * and proxies it to the leader's API URL (found through the members
 * registry, cluster.c) with the asynchronous client (common/uvhttp.h),
 * relaying the status, body and Warning headers. Watches and resourceVersion reads are
 * served from the local state machine and never come here.
 *
 * With no known leader (an election is running, or this member is cut off)
 * the request waits, polled every FWD_POLL_MS, for at most FWD_WAIT_MS; then it
 * gets 503 with a Status. A forwarded request carries the query parameter
 * berthForwarded=1; a member that receives one and is not the leader answers
 * 503 instead of forwarding again, so two members with stale ideas of the
 * leader cannot bounce a request between them.
 *
 * Clients are kept per peer URL for the life of the server (a cluster has a
 * handful of members), with a large keep-alive pool for forwarding and a
 * short timeout for the control calls of cluster.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver/api_int.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/uvhttp.h"

#define FWD_WAIT_MS 2000
#define FWD_POLL_MS 5 /* a waiting request starts within 5 ms of a leader being known */
#define FWD_TIMEOUT_MS 10000
#define CTL_TIMEOUT_MS 1500
#define HOP_PARAM "berthForwarded"
#define URL_TTL_MS 1000 /* how long a looked-up leader API URL is reused */

struct peer {
    char url[256];
    bool control;
    uvhttp_t *client;
    struct peer *next;
};

struct fwd_wait {
    uv_timer_t timer;
    struct api_call *call;
    struct api_fwd *fwd;
    uint64_t deadline;
    const char *ctype;
    struct fwd_wait *next, **pprev;
};

struct api_fwd {
    api_server_t *api;
    struct peer *peers;
    struct fwd_wait *waits;
    bool stopping;
    int closing;     /* clients and timers still closing */
    /* the leader's API URL, looked up in the members registry (a store
     * list and a JSON parse per member) at most every URL_TTL_MS, on a
     * leader change or after a failed forward, not per request */
    uint64_t url_id, url_at;
    char url[256];
    unsigned long long forwarded, failed;
};

/* One forwarded request in flight. */
struct fwd_req {
    struct api_call *call;
    const char *ctype;
    char url[256];
};

static struct api_fwd *fwd_of(api_server_t *api)
{
    if (!api->fwd) {
        api->fwd = calloc(1, sizeof *api->fwd);
        if (api->fwd) api->fwd->api = api;
    }
    return api->fwd;
}

uvhttp_t *api_peer_client(api_server_t *api, const char *url, bool control)
{
    struct api_fwd *f = fwd_of(api);
    if (!f || f->stopping || !url || !url[0]) return NULL;
    for (struct peer *p = f->peers; p; p = p->next)
        if (p->control == control && !strcmp(p->url, url)) return p->client;
    struct peer *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    struct uvhttp_config cfg = {
        .timeout_ms = control ? CTL_TIMEOUT_MS : FWD_TIMEOUT_MS,
        .connect_timeout_ms = 1000,
        .max_conns = control ? 4 : 128,
        .idle_ms = 30000,
    };
    char err[256];
    if (uvhttp_new(api->loop, url, &cfg, &p->client, err, sizeof err)) {
        log_warn("api", "peer %s: %s", url, err);
        free(p);
        return NULL;
    }
    snprintf(p->url, sizeof p->url, "%s", url);
    p->control = control;
    p->next = f->peers;
    f->peers = p;
    return p->client;
}

static bool is_write(const char *m)
{
    return !strcmp(m, "POST") || !strcmp(m, "PUT") || !strcmp(m, "PATCH") || !strcmp(m, "DELETE");
}

static bool query_true(const http_req_t *req, const char *key)
{
    char v[16];
    return http_req_query(req, key, v, sizeof v) && (!strcmp(v, "1") || !strcmp(v, "true"));
}

/* Does this request need the leader? */
static bool needs_leader(const http_req_t *req)
{
    const char *p = req->path;
    if (strncmp(p, "/api/", 5) && strncmp(p, "/apis/", 6)) return false;
    if (is_write(req->method)) return true;
    if (strcmp(req->method, "GET")) return false;
    if (query_true(req, "watch")) return false;
    char rv[32];
    if (http_req_query(req, "resourceVersion", rv, sizeof rv) && rv[0]) return false;
    size_t n = strlen(p);
    if (n >= 4 && !strcmp(p + n - 4, "/log")) return false; /* pod logs: read locally */
    /* discovery documents (/api, /apis/G/V) are static */
    int slashes = 0;
    for (const char *q = p; *q; q++) slashes += *q == '/';
    if (!strncmp(p, "/apis/", 6) ? slashes <= 3 : slashes <= 2) return false;
    return true;
}

/* Appends s percent-encoded, keeping '/' and RFC 3986 unreserved bytes. */
static size_t enc_path(char *out, size_t cap, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        bool keep = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                    (*p >= '0' && *p <= '9') || strchr("-._~/:", *p);
        if (o + 4 >= cap) return 0;
        if (keep) out[o++] = (char)*p;
        else { out[o++] = '%'; out[o++] = hex[*p >> 4]; out[o++] = hex[*p & 15]; }
    }
    out[o] = 0;
    return o;
}

/* The leader's Warning headers (warnings.c), passed on to the client:
 * "Warning: VALUE\r\n" per value, or NULL. */
static char *warning_headers(const char *values)
{
    if (!values) return NULL;
    size_t n = 1;
    for (const char *p = values; *p; p++) n += *p == '\n';
    char *out = malloc(strlen(values) + n * 12 + 1), *o = out;
    for (const char *p = values; out && *p;) {
        const char *end = strchr(p, '\n');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        o += sprintf(o, "Warning: %.*s\r\n", (int)len, p);
        p = end ? end + 1 : p + len;
    }
    return out;
}

static void on_forwarded(void *data, int rc, int status, const char *body, size_t len)
{
    struct fwd_req *r = data;
    struct api_call *call = r->call;
    if (rc) {
        if (call->api->fwd) {
            call->api->fwd->failed++;
            call->api->fwd->url_id = 0;
        }
        api_fail(call, rc == BE_TIMEOUT ? BE_TIMEOUT : BE_UNAVAIL,
                 "the raft leader at %s did not answer: %s", r->url, body ? body : be_strerror(rc));
    } else {
        const char *ct = r->ctype;
        if (!ct) ct = len && (body[0] == '{' || body[0] == '[') ? "application/json" : "text/plain; charset=utf-8";
        char *hdrs = warning_headers(uvhttp_response_warnings());
        http_respond(call->req, status, ct, body, len, hdrs);
        free(hdrs);
        api_call_finish(call, status);
    }
    free(r);
}

/* Sends call to url now. */
static void send_to(struct api_call *call, const char *url, const char *ctype)
{
    http_req_t *req = call->req;
    char *path = malloc(strlen(req->path) * 3 + strlen(req->query) + 64);
    uvhttp_t *c = api_peer_client(call->api, url, false);
    struct fwd_req *r = calloc(1, sizeof *r);
    if (!path || !c || !r) {
        free(path);
        free(r);
        api_fail(call, BE_UNAVAIL, "cannot forward the request to the raft leader at %s", url);
        return;
    }
    size_t n = enc_path(path, strlen(req->path) * 3 + 1, req->path);
    sprintf(path + n, "?%s%s" HOP_PARAM "=1", req->query, req->query[0] ? "&" : "");
    r->call = call;
    r->ctype = ctype;
    snprintf(r->url, sizeof r->url, "%s", url);
    int rc = uvhttp_request(c, req->method, path, http_req_header(req, "content-type"),
                            req->body_len ? req->body : NULL, req->body_len, on_forwarded, r);
    free(path);
    if (rc) {
        free(r);
        api_fail(call, BE_UNAVAIL, "cannot forward the request to the raft leader at %s: %s", url,
                 be_strerror(rc));
        return;
    }
    call->api->fwd->forwarded++;
}

/* The API URL of leader lid into url; nonzero if it is not registered. */
static int leader_url(struct api_fwd *f, uint64_t lid, char *url, size_t len)
{
    uint64_t now = uv_now(f->api->loop);
    if (f->url_id != lid || now - f->url_at >= URL_TTL_MS) {
        f->url_id = 0;
        if (api_member_api_url(f->api, lid, f->url, sizeof f->url)) return 1;
        f->url_id = lid;
        f->url_at = now;
    }
    snprintf(url, len, "%s", f->url);
    return 0;
}

/* 0: forwarded or answered; 1: no leader known yet (caller may wait). */
static int try_route(struct api_call *call, const char *ctype, void (*local)(struct api_call *))
{
    api_server_t *api = call->api;
    if (store_is_leader(api->store)) {
        local(call);
        return 0;
    }
    uint64_t lid = store_leader_id(api->store);
    if (!lid) return 1;
    char url[256];
    if (!api->fwd || leader_url(api->fwd, lid, url, sizeof url)) return 1;
    send_to(call, url, ctype);
    return 0;
}

static void wait_closed(uv_handle_t *h) { free(h->data); }

static void wait_done(struct fwd_wait *w)
{
    *w->pprev = w->next;
    if (w->next) w->next->pprev = w->pprev;
    uv_timer_stop(&w->timer);
    uv_close((uv_handle_t *)&w->timer, wait_closed);
}

static void on_wait_tick(uv_timer_t *t)
{
    struct fwd_wait *w = t->data;
    struct api_call *call = w->call;
    void (*local)(struct api_call *) = call->fwd_local;
    if (try_route(call, w->ctype, local) == 0) {
        wait_done(w);
        return;
    }
    if (uv_now(t->loop) >= w->deadline) {
        wait_done(w);
        api_fail(call, BE_UNAVAIL, "no raft leader is known to this member (election in progress "
                                   "or this member is cut off from the majority); retry");
    }
}

void api_forward_to_leader(struct api_call *call, const char *ctype,
                           void (*local)(struct api_call *call))
{
    api_server_t *api = call->api;
    struct api_fwd *f = fwd_of(api);
    if (!f || f->stopping) { api_fail(call, BE_SHUTDOWN, "the server is shutting down"); return; }
    if (!store_is_leader(api->store) && query_true(call->req, HOP_PARAM)) {
        api_fail(call, BE_UNAVAIL, "forwarded to a member that is not the raft leader (leadership "
                                   "changed); retry");
        return;
    }
    if (try_route(call, ctype, local) == 0) return;
    struct fwd_wait *w = calloc(1, sizeof *w);
    if (!w) { api_fail(call, BE_NOMEM, "out of memory"); return; }
    w->call = call;
    w->fwd = f;
    w->ctype = ctype;
    call->fwd_local = local;
    w->deadline = uv_now(api->loop) + FWD_WAIT_MS;
    uv_timer_init(api->loop, &w->timer);
    w->timer.data = w;
    w->next = f->waits;
    w->pprev = &f->waits;
    if (f->waits) f->waits->pprev = &w->next;
    f->waits = w;
    uv_timer_start(&w->timer, on_wait_tick, FWD_POLL_MS, FWD_POLL_MS);
}

bool api_forward_check(struct api_call *call)
{
    if (store_is_leader(call->api->store) || !needs_leader(call->req)) return false;
    api_forward_to_leader(call, NULL, api_dispatch);
    return true;
}

void api_forward_stats(api_server_t *api, unsigned long long *forwarded, unsigned long long *failed)
{
    *forwarded = api->fwd ? api->fwd->forwarded : 0;
    *failed = api->fwd ? api->fwd->failed : 0;
}

static void peer_closed(void *data)
{
    struct api_fwd *f = data;
    if (--f->closing == 0) free(f);
}

void api_forward_stop(api_server_t *api)
{
    struct api_fwd *f = api->fwd;
    if (!f || f->stopping) return;
    f->stopping = true;
    while (f->waits) {
        struct fwd_wait *w = f->waits;
        struct api_call *call = w->call;
        wait_done(w);
        api_fail(call, BE_SHUTDOWN, "the server is shutting down");
    }
    api->fwd = NULL;
    f->closing = 1;
    struct peer *p = f->peers;
    f->peers = NULL;
    while (p) {
        struct peer *next = p->next;
        f->closing++;
        uvhttp_close(p->client, peer_closed, f);
        free(p);
        p = next;
    }
    peer_closed(f);
}
