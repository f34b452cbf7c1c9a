/* sched.h: the scheduler of berthd, and the node lifecycle controller.
 *
 * Runs on the raft leader only. When leadership is gained it lists nodes,
 * leases (namespace kube-node-lease) and pods from the local store into
 * informer-style caches and follows them with store watches; pending pods
 * (no spec.nodeName, not deleting, not Succeeded/Failed) wait in a queue.
 * A scheduling round places queued pods one by one against the cached
 * nodes (place.h: filters, then binpack or spread scores), assuming each
 * placement in the cache so a round never oversubscribes a node, and commits
 * every binding of the round, with the PodScheduled conditions and Events of
 * the pods it could not place, in ONE store_propose batch (one raft entry).
 * Unschedulable pods are retried, with a per-pod back-off, when nodes or pods
 * change. Node lifecycle: a node whose Lease was not renewed within the grace
 * period gets Ready=Unknown and the NoExecute taint
 * node.kubernetes.io/unreachable, and after the toleration period its pods
 * that do not tolerate the taint are deleted so their controllers replace
 * them.
 *
 * Losing leadership stops the watches and drops the caches at once; results
 * of proposals still in flight are then ignored, so a deposed leader never
 * acts on what it had.
 *
 * Like the libuv handles it uses, a scheduler is created once, told about
 * leadership any number of times, and freed in sched_close()'s callback. All
 * calls are on the loop thread. */
#ifndef BERTH_SCHED_H
#define BERTH_SCHED_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "store/store.h"

typedef struct sched sched_t;

enum sched_strategy {
    SCHED_BINPACK = 0, /* most-allocated: fill nodes before using new ones */
    SCHED_SPREAD = 1,  /* least-allocated */
};

struct sched_config {
    enum sched_strategy strategy;      /* default binpack */
    unsigned node_grace_ms;            /* lease older than this: 0 = 40000 */
    unsigned eviction_toleration_ms;   /* unreachable -> delete pods: 0 = 30000 */
    int cpu_weight, mem_weight;        /* score weights: 0, 0 = 1, 1 */
    unsigned max_round_pods;           /* pods per round: 0 = 4096 */
    unsigned max_rounds_inflight;      /* proposals in flight: 0 = 4 */
    /* Wall clock in ms since the epoch (leases carry wall-clock times);
     * NULL: the real clock. Tests pass a fake. */
    int64_t (*now_ms)(void *data);
    void *clock_data;
};

/* Creates a scheduler (idle until sched_leader_changed(s, true)). loop may
 * be NULL for tests over the store's raft fixture: then nothing runs by
 * itself and the test calls sched_run_round()/sched_tick(). cfg may be NULL
 * (defaults). Returns 0, BE_NOMEM or BE_INVAL. */
int sched_new(uv_loop_t *loop, store_t *store, const struct sched_config *cfg,
              sched_t **out);

/* Starts (list + watch, then schedule) or stops (drop everything) the
 * scheduler. Call it from the store's on_leader_change, and once after
 * sched_new() if the store already leads. Idempotent. */
void sched_leader_changed(sched_t *s, bool is_leader);

/* Stops everything and frees s; cb (may be NULL) runs once the timers are
 * closed (at once when loop is NULL). Call it before store_close(). */
void sched_close(sched_t *s, void (*cb)(void *data), void *data);

/* "binpack" or "spread" -> 0, else BE_INVAL. */
int sched_strategy_parse(const char *text, enum sched_strategy *out);

struct sched_stats {
    uint64_t rounds;         /* proposals of scheduling rounds */
    uint64_t bound;          /* bindings committed */
    uint64_t unschedulable;  /* failed placement attempts */
    uint64_t conflicts;      /* bindings refused by the store, requeued */
    uint64_t evicted;        /* pods deleted from unreachable nodes */
    uint64_t nodes_marked;   /* nodes set Ready=Unknown */
    size_t nodes, pods, pending, inflight;
};
void sched_get_stats(sched_t *s, struct sched_stats *st);

/* Test hooks (also what the timers call): one scheduling round now, and one
 * lifecycle tick (stale leases, evictions, retries of unschedulable pods). */
void sched_run_round(sched_t *s);
void sched_tick(sched_t *s);

#endif
