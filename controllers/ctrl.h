/* ctrl.h: the workload controllers of berthd (ReplicaSet, Deployment, the
 * garbage collector, ...), run by one manager on the raft leader only.
 *
 * The manager lives next to the API server inside berthd and works on the
 * replicated store directly: it lists the resources its controllers need
 * into informer caches, follows them with store watches from the list's
 * revision, and writes through store_propose (setting what the API server
 * would set on create). When this member gains leadership the caches are
 * built and the controllers start; when it loses it they stop at once,
 * caches are dropped and commit callbacks that arrive late are ignored. A
 * new leader rebuilds everything from the store and carries on: all state
 * that matters is in the objects (level-triggered reconcile).
 *
 * All functions run on the loop thread. The public surface is just the
 * lifecycle below; controllers are written against controllers/ctrl_int.h. */
#ifndef BERTH_CTRL_H
#define BERTH_CTRL_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "store/store.h"

typedef struct ctrl_manager ctrl_manager_t;

struct ctrl_config {
    /* Wall clock in milliseconds since the epoch; NULL: the real clock.
     * Everything time-based (back-off, minReadySeconds, progress deadlines,
     * timestamps written into objects) reads it, so tests can fake time. */
    int64_t (*now_ms)(void *data);
    /* Fills buf with random bytes (uids, generated names); NULL: uv_random. */
    void (*random)(void *data, void *buf, size_t n);
    void *data;
    unsigned syncs_per_tick;       /* keys reconciled per loop iteration (0: 64) */
    unsigned expectation_timeout_ms; /* 0: 5 minutes */
    unsigned backoff_base_ms;      /* first retry delay (0: 50 ms) */
    unsigned backoff_max_ms;       /* cap of the exponential back-off (0: 60 s) */
};

/* Makes a manager that does nothing until it is told it leads. cfg may be
 * NULL (defaults) and is copied. Returns 0 or BE_NOMEM. (loop and store may
 * both be NULL only for the unit tests' hooks in ctrl_int.h.) */
int ctrl_manager_new(uv_loop_t *loop, store_t *store, const struct ctrl_config *cfg,
                     ctrl_manager_t **out);

/* Call from the store's on_leader_change (and once after store_open if the
 * store already leads). Gaining lists and watches, then starts the work
 * loop; losing stops everything at once and drops the caches. */
void ctrl_manager_leader_changed(ctrl_manager_t *m, bool is_leader);

/* Stops (as on losing leadership), closes the manager's handles and calls
 * cb once they are closed and the manager is freed. Call before
 * store_close: proposals still in flight are detached and freed when the
 * store answers them. */
void ctrl_manager_close(ctrl_manager_t *m, void (*cb)(void *data), void *data);

#endif
