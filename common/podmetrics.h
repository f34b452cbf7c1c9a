/* podmetrics.h: the in-memory cache of resource metrics (what metrics-server
 * keeps): the latest CPU and memory sample of every pod and node, as the
 * agents report them in batches (one POST per node and interval).
 *
 * Metrics are ephemeral: they live only in the memory of the berthd that
 * received them (the raft leader, where the HPA controller runs), never in
 * the store. A sample is forgotten when it is older than three of its own
 * windows (measured against the time it was received, so agent clock skew
 * does not matter), or when a newer batch of the same node no longer lists
 * the pod.
 *
 * The API server fills it (apiserver/metrics_api.c: the ingest endpoint) and
 * serves it (PodMetrics/NodeMetrics, Prometheus); the HPA controller reads
 * it (controllers/hpa.c). Both run on berthd's loop thread, so the cache has
 * no locking: every function must be called from one thread.
 *
 * The batch format (Berth-internal; JSON):
 *   {"node": "n1", "timestampMs": 1764000000000, "windowMs": 10000,
 *    "usage": {"cpuNanocores": 123456789, "memoryBytes": 1048576},   (optional)
 *    "pods": [{"namespace": "default", "name": "web-1", "container": "web",
 *              "cpuNanocores": 5000000, "memoryBytes": 4096}, ...]}
 * A pod entry may carry its own "timestampMs"/"windowMs" (default: the
 * batch's). A window is at most PM_MAX_WINDOW_MS (an hour; metrics-server's
 * are seconds, and three windows must be computable). "container" names the
 * pod's only container; a pod with several is measured as a whole (one
 * cgroup per pod) and reported as container "pod". */
#ifndef BERTH_PODMETRICS_H
#define BERTH_PODMETRICS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct podmetrics podmetrics_t;

#define PM_MAX_WINDOW_MS ((int64_t)3600 * 1000)

struct pm_usage {
    int64_t ts_ms;          /* when the sample was taken (agent clock) */
    int64_t window_ms;      /* the interval the cpu rate covers */
    int64_t cpu_nanocores;  /* cpu rate over the window, 1e9 = one core */
    int64_t mem_bytes;      /* working set at ts_ms */
    int64_t seen_ms;        /* when the server received it (its own clock) */
};

struct pm_pod {
    char ns[64];
    char name[254];
    char container[64];
    char node[254];
    struct pm_usage u;
};

struct pm_node {
    char name[254];
    struct pm_usage u;
};

/* Makes an empty cache. Returns 0 or BE_NOMEM. */
int podmetrics_new(podmetrics_t **out);
void podmetrics_free(podmetrics_t *pm);

/* The cache of this process, made on first use (berthd's API server and HPA
 * controller share it; tests make their own with podmetrics_new). NULL only
 * if that allocation failed. */
podmetrics_t *podmetrics_global(void);

/* Applies one batch (the JSON text above) received at now_ms: every pod of
 * the batch is stored (replacing its older sample), pods the same node had
 * reported before and no longer lists are dropped, the node's own usage is
 * stored if present. Returns 0, or BE_INVAL with a message in err (nothing
 * changed), or BE_NOMEM (the cache may hold part of the batch). */
int podmetrics_ingest(podmetrics_t *pm, const char *body, size_t len, int64_t now_ms,
                      char *err, size_t errlen);

/* Stores one sample (copied; u.seen_ms is set to now_ms). 0 or BE_NOMEM. */
int podmetrics_put_pod(podmetrics_t *pm, const struct pm_pod *p, int64_t now_ms);
int podmetrics_put_node(podmetrics_t *pm, const struct pm_node *n, int64_t now_ms);

/* Drops every sample older than three of its windows at now_ms. The readers
 * below call it first. */
void podmetrics_expire(podmetrics_t *pm, int64_t now_ms);

/* The current sample of a pod / node, or NULL (pointer valid until the next
 * call that changes the cache). */
const struct pm_pod *podmetrics_get_pod(podmetrics_t *pm, const char *ns, const char *name,
                                        int64_t now_ms);
const struct pm_node *podmetrics_get_node(podmetrics_t *pm, const char *name, int64_t now_ms);

/* Every current pod sample of namespace ns (NULL: all), sorted by namespace
 * then name, into *out (malloc'd, free it; NULL when none). Returns the count
 * or (size_t)-1 on allocation failure. Same for nodes, sorted by name. */
size_t podmetrics_list_pods(podmetrics_t *pm, const char *ns, int64_t now_ms,
                            const struct pm_pod ***out);
size_t podmetrics_list_nodes(podmetrics_t *pm, int64_t now_ms, const struct pm_node ***out);

/* The metrics.k8s.io/v1beta1 objects, as metrics-server serves them: cpu as
 * nanocores ("123456n"), memory in KiB ("1024Ki"), window "10s". */
json_t *podmetrics_pod_json(const struct pm_pod *p);
json_t *podmetrics_node_json(const struct pm_node *n);

/* Prometheus text of every current sample: berth_pod_cpu_usage_millicores,
 * berth_pod_memory_bytes {namespace, pod}, berth_node_cpu_usage_millicores,
 * berth_node_memory_bytes {node}. */
void podmetrics_prometheus(podmetrics_t *pm, FILE *f, int64_t now_ms);

/* "10s", "1.5s" from milliseconds. */
void podmetrics_window(int64_t window_ms, char *buf, size_t len);

#endif
