/* agent_proxy.h: the Service proxy of berth-agent.
 *
 * Every agent follows all Services and Endpoints (list + watch, all
 * namespaces) and, for each TCP port of a NodePort (or LoadBalancer)
 * Service, listens on HOST:nodePort, where HOST is the agent's --listen
 * host (so several agents on one machine can each take their own loopback
 * address, e.g. 127.0.0.2 and 127.0.0.3; --listen 0.0.0.0:PORT listens on
 * every address). Each accepted connection is forwarded to the next ready
 * endpoint of that port (round-robin over the addresses of the Endpoints
 * object, on any node) and bytes are piped both ways with back-pressure,
 * all on the agent's loop. An endpoint that refuses or does not answer the
 * connect within 3 s is marked bad for PROXY_BAD_MS and the next one is
 * tried; when every endpoint has failed the client's connection is closed.
 * Service and Endpoints changes take effect at once: listeners open and
 * close, backend lists are replaced (open connections are left alone).
 *
 * The backend pool below is pure (no I/O) so the selection rules are unit
 * tested on their own. */
#ifndef BERTH_AGENT_PROXY_H
#define BERTH_AGENT_PROXY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct agent;

#define PROXY_BAD_MS 5000

/* ---- backend pools ---------------------------------------------------- */

struct proxy_backend {
    char ip[64];
    int port;
    int64_t bad_until_ms;         /* skipped before this (0: good) */
};

struct proxy_pool {
    struct proxy_backend *v;
    size_t n;
    size_t next;                  /* round-robin position */
};

/* Fills out (zeroed by the caller or freed before) with the ready
 * addresses of endpoints (an Endpoints object; NULL: none) for sport (one
 * element of the Service's spec.ports): in each subset, the port whose
 * name equals sport's name (absent and "" are equal). Backends also in
 * old (may be NULL) keep their bad marks, and the round-robin position is
 * carried over. Returns 0 or BE_NOMEM (out is then empty). */
int proxy_pool_build(struct proxy_pool *out, const json_t *sport, const json_t *endpoints,
                     const struct proxy_pool *old);
void proxy_pool_free(struct proxy_pool *p);

/* The next backend round-robin, skipping those whose tried[i] is set
 * (tried may be NULL) and those marked bad at now; when every untried one
 * is marked bad, the untried one whose mark ends first (a last resort
 * rather than a refusal). Advances the position past it. -1: nothing left
 * to try. */
int proxy_pool_pick(struct proxy_pool *p, int64_t now, const bool *tried);

/* Marks backend i bad until now + PROXY_BAD_MS. */
void proxy_pool_mark_bad(struct proxy_pool *p, size_t i, int64_t now);

/* ---- the proxy of an agent ------------------------------------------- */

/* Starts the proxy: with API servers configured, the list + watch of
 * Services and Endpoints; listeners open as Services appear. Returns 0 or
 * BE_NOMEM. Holds a reference on the agent until stopped. */
int agent_proxy_start(struct agent *a);

/* Closes the listeners, open connections and watches; the agent reference
 * is dropped once every handle is closed. Safe when not started. */
void agent_proxy_stop(struct agent *a);

/* Applies one change ("ADDED", "MODIFIED", "DELETED") of a Service or an
 * Endpoints object (resource "services" / "endpoints"): the watch's sink,
 * and the unit tests' way in. obj is not stolen. */
void agent_proxy_apply(struct agent *a, const char *resource, const char *type,
                       const json_t *obj);

/* Whether the proxy listens on nodePort, and its backend count there
 * (tests, /metrics). -1: no listener. */
int agent_proxy_backends(struct agent *a, int node_port);

#endif
