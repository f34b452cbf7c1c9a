/* api_int.h: what the files of the API server share (not for other
 * components). The server state, a parsed route, Status responses, and the
 * entry points of each handler file. */
#ifndef BERTH_API_INT_H
#define BERTH_API_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "apiserver/api.h"
#include "apiserver/http.h"
#include "common/kinds.h"
#include "common/offload.h"

#define API_NAME_MAX 253

/* Latency histogram buckets in seconds, Prometheus style (le). */
#define API_LAT_BUCKETS 12

enum api_verb {
    VERB_GET, VERB_LIST, VERB_WATCH, VERB_CREATE, VERB_UPDATE, VERB_PATCH,
    VERB_DELETE, VERB_OTHER, VERB_COUNT
};

struct api_metrics {
    unsigned long long requests[VERB_COUNT][6]; /* by verb and code class 1xx..5xx (index 1..5) */
    unsigned long long lat_buckets[API_LAT_BUCKETS];
    unsigned long long lat_count;
    double lat_sum;
};

struct api_server {
    uv_loop_t *loop;
    store_t *store;
    http_server_t *http;
    char name[128];
    char raft_address[128];
    char advertise_url[256];
    bool is_leader;
    bool stopping;
    bool draining;              /* stopping: new requests get 503, calls in flight finish */
    bool drained;               /* ... and they have (or the drain timed out) */
    uv_timer_t drain_timer;     /* bounds the drain (API_DRAIN_MS) */
    bool stopped;               /* stop_cb was called: the last call frees api */
    unsigned calls;             /* api_calls not yet finished */
    unsigned watchers;          /* open watch streams */
    struct api_watch *watches;  /* list of open watch streams */
    struct api_metrics metrics;
    struct api_cluster *cluster; /* cluster.c */
    struct api_fwd *fwd;         /* forward.c */
    char ns_seen[API_NAME_MAX + 1]; /* a namespace known to exist ... */
    uint64_t ns_seen_gen;        /* ... at this store_ns_generation() + 1 */
    offload_t *offload;          /* the body worker (api_run_job); NULL: all on the loop */
    void (*stop_cb)(void *data);
    void *stop_data;
};

/* A request path, parsed against the kind table. */
enum route_type {
    ROUTE_COLLECTION,   /* .../pods */
    ROUTE_OBJECT,       /* .../pods/web-1 */
};

struct api_route {
    const struct kind_info *kind;
    enum route_type type;
    bool all_namespaces;     /* namespaced kind listed across namespaces */
    char ns[API_NAME_MAX + 1];
    char name[API_NAME_MAX + 1];
    char sub[32];            /* "", "status", "scale", "log", "binding" */
};

/* Per-request context: carried through async store callbacks. */
struct api_call {
    api_server_t *api;
    http_req_t *req;
    struct api_route route;
    enum api_verb verb;
    uint64_t start_ns;
    int attempts;             /* conflict retries of unconditional updates */
    json_t *body;             /* parsed request body, owned */
    char *text;               /* serialized object proposed, owned */
    size_t text_len;
    int expected_status;      /* success status when not 200 */
    bool explicit_rev;        /* the client gave a resourceVersion precondition */
    void (*read_fn)(struct api_call *call); /* read to serve after a barrier */
    void (*fwd_local)(struct api_call *call); /* forward.c: serve here if leader */
    char *warnings;           /* "Warning: 299 ..." header lines, owned, or NULL */
};

/* route.c: returns 0, or BE_NOTFOUND for a path that names no resource
 * (message in errbuf). Paths outside /api and /apis are not routes. */
int api_route_parse(const char *path, struct api_route *rt, char *errbuf, size_t errlen);

/* status.c: answers a request with a Kubernetes Status error and counts it. */
void api_fail(struct api_call *call, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void api_reply_json(struct api_call *call, int status, char *body, size_t len);
void api_call_finish(struct api_call *call, int status);
char *api_status_json(int code, const char *reason, const char *message,
                      const struct api_route *rt, size_t *len);
/* '"pods \"web\" not found"' prefix helper: "deployments.apps \"web\"" */
void api_object_desc(const struct api_route *rt, char *buf, size_t len);

/* warnings.c: Warning header lines for the fields of obj that Berth keeps
 * but does not act on; NULL when there are none. The caller frees it. */
char *api_field_warnings(const struct kind_info *k, const json_t *obj);

/* delete.c: DELETE of one object (graceful for pods, finalizers for
 * Foreground/Orphan, Terminating for namespaces). */
void api_delete_object(struct api_call *call);

/* objects.c: get, create, update, patch, delete, subresources. */
void api_handle_object(struct api_call *call);
/* objects.c helpers shared with create.c, update.c and list.c.
 * api_body_parse and api_identity_check put a message in err and return a
 * BE_* code (they run off the loop); api_parse_body answers the call. */
int api_body_parse(const http_req_t *req, json_t **out, char *err, size_t errlen);
int api_identity_check(struct api_route *rt, json_t *obj, bool is_update, char *err,
                       size_t errlen);
/* On the loop: for bodies of at most 64 KiB (larger: 413). */
int api_parse_body(struct api_call *call, json_t **out);
int api_errf(char *err, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Runs it->work then it->done: on the body worker when that pays (there is
 * a worker, and the request body plus stored_len, the stored object the
 * work parses, is big, or other requests are waiting for the loop),
 * otherwise here, on the loop, before returning. */
void api_run_job(struct api_call *call, struct offload_item *it, size_t stored_len);
/* create.c: POST to a collection (prepared on api->offload when there is one). */
void api_create_object(struct api_call *call);
void api_index_hints(const struct api_route *rt, const json_t *obj, struct store_mut *m);
void api_consistent_read(struct api_call *call, void (*fn)(struct api_call *call));
/* Propose one mutation of call->text (index hints from obj, or given); cb
 * answers. */
int api_propose_text(struct api_call *call, enum store_op op, const json_t *obj,
                     uint64_t expect_rev, store_commit_cb cb);
int api_propose_hinted(struct api_call *call, enum store_op op, const char *node,
                       const char *owner, uint64_t expect_rev, store_commit_cb cb);
/* What a write computes off the loop and the proposal takes: the object as
 * the store keeps it and its index hints copied out of the tree. */
struct api_output {
    char *text;
    size_t text_len;
    char *warnings;     /* Warning header lines, or NULL */
    char *node, *owner; /* index hints (store_mut) */
};
/* Serializes obj into o and copies its hints (pure); 0 or BE_NOMEM. */
int api_output_set(struct api_output *o, const struct api_route *rt, const json_t *obj);
/* The call takes o's text (its answer sends it) and warnings. */
void api_output_take(struct api_call *call, struct api_output *o);
void api_output_free(struct api_output *o);
/* update.c: PUT and PATCH of objects and their status/scale subresources,
 * and POST pods/NAME/binding. Retries on conflict when the client gave no
 * resourceVersion, as Kubernetes' GuaranteedUpdate does. */
void api_update_object(struct api_call *call);
void api_bind_pod(struct api_call *call);
/* Answers with the autoscaling/v1 Scale of an object (takes json). */
void api_reply_scale(struct api_call *call, char *json, size_t len);

/* logs.c: pods/NAME/log, proxied to the node's agent. */
void api_handle_pod_log(struct api_call *call);

/* list.c: list and watch of a collection. */
void api_handle_list(struct api_call *call);
void api_handle_watch(struct api_call *call);
void api_watch_abort_all(api_server_t *api);
/* validate.c: defaults and validation for a create or update. old is the
 * current object for updates, NULL for creates. Returns 0 or BE_INVALID /
 * BE_INVAL with a message. */
int api_validate(const struct api_route *rt, json_t *obj, const json_t *old,
                 char *errbuf, size_t errlen);
bool api_valid_dns_subdomain(const char *s);
bool api_valid_dns_label(const char *s);
/* discovery.c: /api, /apis, /api/v1, /apis/G/V; true if it answered. */
bool api_handle_discovery(struct api_call *call);
/* metrics.c */
void api_metrics_observe(api_server_t *api, enum api_verb verb, int status, double seconds);
void api_handle_metrics(struct api_call *call);

/* metrics_api.c: metrics.k8s.io/v1beta1 (PodMetrics, NodeMetrics, the
 * agents' ingest POST) from the in-memory cache; true if it answered. */
bool api_handle_metrics_api(struct api_call *call);
json_t *api_metrics_group_entry(void);
/* Appends the cached metrics in Prometheus text to out (grown as needed). */
char *api_metrics_api_prometheus(char *out, size_t *len, size_t *cap);

/* api.c: serves a request on this member (routes it to its handler). */
void api_dispatch(struct api_call *call);

/* forward.c: writes and consistent reads on a follower go to the leader.
 * api_forward_check() takes the request (true) if it must be forwarded.
 * api_forward_to_leader() serves it with local() if this member leads,
 * else proxies it to the leader (response content type ctype; NULL: JSON
 * or text by its first byte), waiting up to 2 s for a leader, then 503. */
bool api_forward_check(struct api_call *call);
void api_forward_to_leader(struct api_call *call, const char *ctype,
                           void (*local)(struct api_call *call));
struct uvhttp;
/* A client for a peer's API (kept until stop); control: short timeouts. */
struct uvhttp *api_peer_client(api_server_t *api, const char *url, bool control);
void api_forward_stats(api_server_t *api, unsigned long long *forwarded,
                       unsigned long long *failed);
void api_forward_stop(api_server_t *api);
/* cluster.c */
void api_handle_cluster(struct api_call *call);
/* The API URL of the member with raft id id (registry); 0 or BE_NOTFOUND. */
int api_member_api_url(api_server_t *api, uint64_t id, char *buf, size_t len);
void api_cluster_leader_changed(api_server_t *api, bool is_leader);
void api_cluster_stop(api_server_t *api);

/* 0 if namespace ns exists and takes new objects, BE_NOTFOUND, or
 * BE_FORBIDDEN while it is being deleted (the last namespace found usable
 * is remembered until a namespace changes). */
int api_namespace_check(api_server_t *api, const char *ns);
/* Splices "resourceVersion":"rev" into text that obeys the store's layout
 * contract; returns malloc'd text. */
char *api_splice_rv(const char *text, size_t len, uint64_t rev, size_t *out_len);
/* Answers with call->text (taken) as the store keeps it: rev spliced in the
 * way api_splice_rv does, but by the response's iovecs, without a copy. */
void api_reply_stored(struct api_call *call, int status, uint64_t rev);

uint64_t api_now_ns(void);

/* Requests being served, watches aside (they last until the client goes). */
static inline unsigned api_requests_in_flight(const api_server_t *api)
{
    return api->calls - api->watchers;
}

/* api.c: called when a call finishes; ends a drain that waits for it. */
void api_drain_check(api_server_t *api);

#endif
