/* agent_proxy_int.h: state shared by agent_proxy.c (listeners, pipes) and
 * agent_proxy_watch.c (the Service and Endpoints watches). Not for other
 * modules: they use agent_proxy.h. */
#ifndef BERTH_AGENT_PROXY_INT_H
#define BERTH_AGENT_PROXY_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <uv.h>

#include "agent/agent_proxy.h"
#include "common/uvhttp.h"

struct px_conn;

/* One NodePort: its listening socket and its backends. */
struct px_listener {
    struct px_listener *next;
    struct agent_proxy *px;
    int node_port;
    char key[400];               /* "ns/name" of the Service */
    uv_tcp_t *tcp;               /* NULL until bound (retried every 5 s) */
    bool seen, warned;
    unsigned gen;                /* bumped when the backend list changes */
    struct proxy_pool pool;
};

/* The list + watch of one resource (all namespaces). */
struct px_watch {
    struct agent_proxy *px;
    const char *resource;        /* "services" / "endpoints" */
    char rv[32];
    uvhttp_stream_t *stream;
    char *buf;
    size_t len, cap;
    bool need_relist, list_inflight, timer_open;
    uv_timer_t timer;
    unsigned delay_ms;
};

struct agent_proxy {
    struct agent *a;
    int refs;                    /* handles, requests and streams in flight, +1 until stop */
    bool stopping;
    json_t *services, *endpoints; /* "ns/name" -> object */
    struct px_listener *listeners;
    struct px_conn *conns;
    uv_timer_t rebind;
    struct px_watch watches[2];
    struct {
        unsigned long long accepted, forwarded, connect_failures, no_backend;
    } stats;
};

void px_ref(struct agent_proxy *px);
/* Drops a reference; the last one frees the proxy and releases the agent. */
void px_unref(struct agent_proxy *px);
/* Stores or removes obj in the cache of resource; 1 if anything changed. */
int px_cache_apply(struct agent_proxy *px, const char *resource, const char *type, const json_t *obj);
/* Brings the listeners in line with the caches. */
void px_rebuild(struct agent_proxy *px);

/* agent_proxy_watch.c */
void px_watch_start(struct agent_proxy *px);
void px_watch_stop(struct agent_proxy *px);
/* Frees the watches' buffers (called when the proxy is freed). */
void px_watch_free(struct agent_proxy *px);

#endif
