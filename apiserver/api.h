/* api.h: the Kubernetes-style API server of berthd.
 *
 * Serves /api and /apis paths for every kind in common/kinds.h over the HTTP
 * server (http.h), backed by the replicated store (store/store.h): get, list
 * with label and field selectors and limit/continue, watch (chunked
 * newline-delimited events, resumable by resourceVersion), create, update,
 * merge patch, delete, the status, scale and binding subresources,
 * discovery, and /healthz, /readyz, /metrics, /version. Server-side defaults
 * and validation happen here, before anything is proposed to the store, so
 * the state machine only ever sees complete, valid objects. */
#ifndef BERTH_API_H
#define BERTH_API_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "store/store.h"

typedef struct api_server api_server_t;

struct api_config {
    const char *host;          /* listen address, e.g. "127.0.0.1" */
    int port;                  /* e.g. 7070 */
    const char *name;          /* member name, for /cluster/members */
    const char *raft_address;  /* for /cluster/members */
    const char *advertise_url; /* "http://host:port" of this API */
    store_t *store;            /* not owned */
    size_t max_body;           /* 0: 3 MiB */
    unsigned max_conns;        /* 0: 10000 */
    unsigned request_timeout_ms, idle_timeout_ms; /* 0: defaults of http.h */
    /* The objects of creates and updates are parsed, validated and
     * serialized on a worker thread beside the loop (create.c, update.c)
     * unless this is set: then on the loop. */
    bool no_body_worker;
};

/* Starts listening. Returns 0, or a BE_* code and a message in errbuf. */
int api_server_start(uv_loop_t *loop, const struct api_config *cfg,
                     api_server_t **out, char *errbuf, size_t errlen);

/* Tell the API server this member gained or lost raft leadership. On gaining
 * it, the bootstrap objects (namespaces default, kube-system, kube-public, kube-node-lease)
 * are created if they are missing. */
void api_server_leader_changed(api_server_t *api, bool is_leader);

/* Ready to serve: the store has a leader and has applied its log, and the
 * bootstrap namespaces exist. /readyz answers this. */
bool api_server_ready(api_server_t *api);

/* Stops listening, ends every watch and connection, then calls cb. */
void api_server_stop(api_server_t *api, void (*cb)(void *data), void *data);

#endif
