/* agent.h: internals of berth-agent, the node agent (shared by agent_*.c).
 *
 * One struct agent per process, on one libuv loop. Its parts:
 *   agent.c          lifecycle (new/start/stop), the API client with
 *                    fail-over between --server URLs, the clock
 *   agent_node.c     Node registration, Lease heartbeat, Ready condition
 *   agent_pods.c     list + watch of the pods bound to this node, the local
 *                    pod cache, adoption of the runtime's containers
 *   agent_reconcile.c  level-triggered reconcile of one pod: start, restart
 *                    with back-off, stop, remove
 *   agent_status.c   pod status (phase, conditions, containerStatuses),
 *                    batched status writes, Events
 *   agent_probes.c   liveness and readiness probes (exec, httpGet, tcpSocket)
 *   agent_http.c     the agent's endpoint: /healthz, /logs/..., /metrics
 *   agent_metrics.c  pod and node cpu/memory sampling, batches to the API
 *
 * Side effects sit behind function pointers so tests can replace them: the
 * runtime (struct rt_ops), the clock (struct agent_clock) and the API
 * (agent->api). Pod records (struct apod) are keyed by pod uid; a record
 * exists while the API has the pod or the runtime still has containers of it.
 * Cached API objects are never mutated. */
#ifndef BERTH_AGENT_H
#define BERTH_AGENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <uv.h>

#include "common/dict.h"

#include "agent/runtime.h"
#include "apiserver/http.h"
#include "common/uvhttp.h"

struct agent;

#define AGENT_COMP "agent"
#define AGENT_MAX_SERVERS 8

/* Wall-clock milliseconds since the epoch; tests install a fake. */
struct agent_clock {
    int64_t (*now_ms)(void *data);
    void *data;
};

struct agent_config {
    const char *servers[AGENT_MAX_SERVERS];
    int nservers;                 /* 0: offline (unit tests) */
    const char *name;             /* node name */
    const char *data_dir;
    const char *listen_host;      /* NULL: no endpoint */
    int listen_port;
    int64_t cpu_millis, mem_bytes;
    const char *labels;           /* "k=v,k2=v2" or NULL */
    const char *image_dir;
    unsigned status_interval_ms;  /* 0: 1000 */
    unsigned sync_interval_ms;    /* 0: 1000: periodic reconcile of all pods */
    unsigned backoff_base_ms;     /* 0: 10000 */
    unsigned backoff_max_ms;      /* 0: 300000 */
    unsigned heartbeat_s;         /* 0: 10 */
    const char *host_ip;          /* NULL: detected */
    unsigned metrics_interval_ms; /* 0: 10000: resource metrics sampling and report */
};

/* What the agent shows for a container (Kubernetes container state). */
enum acont_view { V_WAITING, V_RUNNING, V_TERMINATED };

struct aprobe {
    const json_t *spec;           /* borrowed from the pod object */
    bool inflight;
    unsigned gen;                 /* bumped when the container changes */
    int successes, failures;
    int64_t next_ms;
    bool ok;                      /* last verdict (readiness: ready) */
};

struct acont {
    char name[64];
    char image[256];
    char id[RT_ID_MAX];           /* current runtime container, "" if none */
    int attempt;                  /* attempt of id; restartCount */
    struct rt_status st;          /* last observed status of id */
    bool exit_seen;               /* st's exit has been handled */
    bool stop_sent;
    int crashes;                  /* exits since the back-off was reset */
    int64_t retry_at_ms;          /* back-off: no start before this */
    int start_failures;
    bool has_last;
    struct rt_status last;        /* lastState.terminated */
    enum acont_view view;
    bool view_changed;            /* set_view changed view or reason (reconcile) */
    char reason[64], message[256];
    bool ready;
    bool event_sent;
    struct aprobe live, readyp;
    bool in_spec;                 /* listed in the pod spec */
};

struct apod {
    struct apod *next;
    char uid[64], ns[64], name[254];
    json_t *obj;                  /* latest API object, NULL if gone */
    bool adopted;                 /* found in the runtime at start */
    int64_t start_ms;             /* status.startTime */
    int64_t ready_change_ms;      /* lastTransitionTime of Ready */
    bool was_ready;
    struct acont *conts;
    int ncont;
    char *sent_status;            /* last status text written */
    bool status_inflight;
    bool deleting;                /* teardown begun */
    bool listed;                  /* seen in the current list */
    int grace;                    /* termination grace of the last spec */
    bool finished;                /* API says Succeeded/Failed and we hold
                                     nothing of it: never run it again */
};

typedef int (*agent_api_fn)(struct agent *a, const char *method, const char *path,
                            const char *ctype, const char *body, size_t len,
                            uvhttp_cb cb, void *data);

struct agent_stats {
    unsigned long long starts, restarts, api_errors, status_writes, events, probe_failures;
};

struct agent {
    uv_loop_t *loop;
    struct agent_config cfg;
    rt_t *rt;
    struct agent_clock clock;
    agent_api_fn api;             /* default: agent_api_uv */
    char host_ip[64], hostname[256];
    json_t *labels;

    uvhttp_t *clients[AGENT_MAX_SERVERS];
    int cur;                      /* server in use */

    /* node */
    uv_timer_t hb_timer;
    bool registered, ready_printed, node_inflight, lease_inflight, ns_done;
    int beats;
    bool beat_failed;

    /* pods */
    struct apod *pods;
    struct final_delete *final_dels; /* agent_reconcile.c: DELETEs to retry */
    bool synced;                  /* first list applied */
    char rv[32];
    uvhttp_stream_t *watch;
    char *wbuf;
    size_t wlen, wcap;
    uv_timer_t watch_timer;
    unsigned watch_delay_ms;
    bool list_inflight, need_relist;
    uv_timer_t sync_timer, status_timer, probe_timer;
    uv_timer_t start_timer;       /* polls containers that are starting */

    struct agent_metrics *metrics; /* agent_metrics.c */
    struct dict envrefs;          /* agent_env.c: ConfigMaps/Secrets by "res/ns/name" */

    /* endpoint */
    http_server_t *srv;
    struct agent_proxy *proxy;    /* Service proxy (agent_proxy.c), NULL if off */
    int nlogs;                    /* open log sessions */

    int pending;                  /* in-flight callbacks that hold a */
    int open_handles;
    bool stopping;
    void (*stop_cb)(void *data);
    void *stop_data;
    void (*on_ready)(struct agent *a);   /* once, after first registration */
    struct agent_stats stats;
};

/* agent.c */
int agent_new(uv_loop_t *loop, const struct agent_config *cfg, rt_t *rt,
              struct agent **out, char *err, size_t errlen);
/* Adopts the runtime's containers, starts the endpoint, registration, the
 * watch and the timers. */
int agent_start(struct agent *a, char *err, size_t errlen);
/* Stops everything of the agent's own (containers keep running) and calls
 * cb from the loop when every handle is closed; then a can be freed. */
void agent_stop(struct agent *a, void (*cb)(void *data), void *data);
void agent_free(struct agent *a);
int64_t agent_now_ms(struct agent *a);
int agent_api_uv(struct agent *a, const char *method, const char *path,
                 const char *ctype, const char *body, size_t len, uvhttp_cb cb, void *data);
void agent_ref(struct agent *a);
void agent_unref(struct agent *a);

/* agent_node.c */
void agent_node_start(struct agent *a);
json_t *agent_node_object(struct agent *a);
int agent_parse_labels(const char *text, json_t *labels);

/* agent_pods.c */
struct apod *agent_pod_find(struct agent *a, const char *uid);
struct apod *agent_pod_by_name(struct agent *a, const char *ns, const char *name);
struct acont *agent_cont_find(struct apod *p, const char *name);
/* Stores obj (a reference is taken) as the pod's latest state; reconciles. */
void agent_pod_upsert(struct agent *a, json_t *obj);
/* The pod is gone from the API: tear it down. */
void agent_pod_gone(struct agent *a, const char *uid);
/* After the first list: every record without an API object is torn down. */
void agent_pods_synced(struct agent *a);
void agent_pod_free(struct agent *a, struct apod *p);
/* Unlinks p from the cache and frees it. */
void agent_pod_remove(struct agent *a, struct apod *p);
void agent_adopt(struct agent *a);
void agent_watch_start(struct agent *a);

/* agent.c: after a container start, poll the starting containers every
 * 10 ms until they run, then reconcile their pods and report at once. */
void agent_sync_soon(struct agent *a);
/* Runs the periodic reconcile of every pod on the next loop iteration
 * (never from inside the caller: safe from any callback). */
void agent_reconcile_soon(struct agent *a);

/* agent_reconcile.c */
void agent_reconcile(struct agent *a, struct apod *p);
void agent_reconcile_all(struct agent *a);
/* Sends again the final DELETEs of gracefully deleted pods that failed and
 * whose delay has passed (agent_reconcile_all does it on every sync). */
void agent_final_deletes_retry(struct agent *a);
void agent_final_deletes_free(struct agent *a);
/* Delay before the next start after `crashes` exits (kubelet-style: 0,
 * base, 2*base, ... capped at max). */
int64_t agent_backoff_ms(const struct agent *a, int crashes);
void agent_cont_kill(struct agent *a, struct apod *p, struct acont *c, const char *why);

/* agent_status.c */
const char *agent_pod_phase(const struct apod *p);
json_t *agent_pod_status(struct agent *a, struct apod *p);
void agent_status_flush(struct agent *a);
/* Writes one pod's status now if it changed (after its container started). */
void agent_status_flush_pod(struct agent *a, struct apod *p);
void agent_event(struct agent *a, const struct apod *p, const char *cname,
                 const char *type, const char *reason, const char *message);

/* agent_env.c: argv and environment of container spec cs (NULL-terminated,
 * malloc'd: free with agent_strv_free). 0; AGENT_ENV_PENDING while the
 * ConfigMaps/Secrets it reads are fetched (the pods are reconciled again
 * when they arrive); BE_INVAL with err when a reference cannot be met. */
#define AGENT_ENV_PENDING 1
int agent_env_build(struct agent *a, const struct apod *p, const json_t *cs, char ***argv,
                    char ***env, char *err, size_t errlen);
void agent_strv_free(char **v);
void agent_env_cache_free(struct agent *a);

/* agent_probes.c */
void agent_probes_tick(struct agent *a);
void agent_probes_reset(struct acont *c, const json_t *cspec, int64_t now);

/* agent_metrics.c: the sampler (started by agent_start, stopped by
 * agent_stop; agent_free frees what a never-started sampler holds). */
int agent_metrics_start(struct agent *a);
void agent_metrics_stop(struct agent *a);
/* Takes one sample at now_ms and returns the batch to send (new reference;
 * pods reported from their second sample on), or NULL when out of memory. */
json_t *agent_metrics_sample(struct agent *a, int64_t now_ms);
/* berth_pod_cpu_usage_millicores, berth_node_cpu_usage_millicores,
 * berth_node_memory_bytes of the latest sample. */
void agent_metrics_prometheus(struct agent *a, FILE *f);

/* agent_http.c */
int agent_http_start(struct agent *a, char *err, size_t errlen);
void agent_http_stop(struct agent *a);

#endif
