/* ctrl_int.h: the framework controllers are written against.
 *
 * A controller is one file defining a `const struct ctrl_def` (listed in the
 * table of manager.c): the resources it needs cached, an event handler that
 * only maps a changed object to keys ("ns/name" of the objects it
 * reconciles) and enqueues them, and a sync function that reconciles one
 * key. The framework supplies:
 *
 *  - informer caches (cache.c): one per resource, objects keyed by
 *    "ns/name", parsed once into json_t and never mutated afterwards:
 *    controllers copy (json_deep_copy) before they change anything. Indexes
 *    by namespace, by uid and by owner uid (ownerReferences).
 *  - a work queue per controller (queue.c): a key is queued at most once;
 *    a failed sync (or a failed write of that sync) requeues it with an
 *    exponential per-key back-off; ctrl_enqueue_after() for time-based
 *    wake-ups (minReadySeconds, progress deadlines).
 *  - expectations (queue.c): how many creates/deletes a key still waits to
 *    see through the watch, so a sync does not act twice on its own
 *    unobserved writes; satisfied when observed, or after a timeout.
 *  - writes (client.c): create/update/delete as the API server would do them
 *    (uid, creationTimestamp, generation, generateName), collected during a
 *    loop iteration and proposed to the store as one batch; a failed write
 *    lowers its expectation and requeues the key with back-off.
 *  - Events (events.c): v1 Event objects for what controllers do.
 *
 * Everything a sync reads comes from the caches and ctrl_now_ms(), and
 * everything it does goes into the write list, so a sync is a function of
 * (cached objects, now) -> writes, and the unit tests drive it through the
 * test hooks at the end of this header without raft or a loop. */
#ifndef BERTH_CTRL_INT_H
#define BERTH_CTRL_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "common/dict.h"
#include "controllers/ctrl.h"

/* ---- cached objects (cache.c) ------------------------------------------ */

struct ctrl_informer;

struct ctrl_obj {
    const char *resource;  /* "pods" */
    char *ns, *name;       /* ns "" for cluster-scoped */
    char *uid;             /* metadata.uid, or NULL */
    uint64_t rev;          /* the store revision of this state */
    json_t *obj;           /* read-only */
    /* cache.c private */
    struct ctrl_informer *inf;
    struct ctrl_obj *ns_prev, *ns_next;
    char **owner_uids;
    size_t nowners;
};

/* ---- controllers ------------------------------------------------------- */

struct ctrl;

struct ctrl_def {
    const char *name;               /* "replicaset-controller": logs, Event source */
    const char *const *resources;   /* NULL-terminated list of what it reads */
    /* An object of one of those resources changed: old is the cached state
     * before (NULL for ADDED), obj the state after (for DELETED the last
     * state). Only enqueue keys and observe expectations here. */
    void (*on_event)(struct ctrl *c, enum store_ev_type type, const struct ctrl_obj *old,
                     const struct ctrl_obj *obj);
    /* Reconciles one key. 0: done (or waiting on a requeue it asked for);
     * a BE_* code: retried with back-off. */
    int (*sync)(struct ctrl *c, const char *key);
    /* Optional private state (c->priv), made when leadership is gained and
     * freed when it is lost. */
    int (*init)(struct ctrl *c);
    void (*fini)(struct ctrl *c);
};

extern const struct ctrl_def ctrl_gc_def;
extern const struct ctrl_def ctrl_replicaset_def;
extern const struct ctrl_def ctrl_deployment_def;
extern const struct ctrl_def ctrl_hpa_def;    /* hpa.c */
extern const struct ctrl_def ctrl_endpoints_def;
extern const struct ctrl_def ctrl_namespace_def; /* namespace.c */

struct ctrl_qitem;

struct ctrl {
    const struct ctrl_def *def;
    struct ctrl_manager *mgr;
    void *priv;
    /* queue.c private */
    struct dict items;                 /* key -> struct ctrl_qitem */
    struct ctrl_qitem *ready_head, *ready_tail;
    struct dict exps;                  /* key -> struct ctrl_exp */
    const char *cur_key;               /* the key being synced */
};

/* ---- queue and expectations (queue.c) ---------------------------------- */

void ctrl_enqueue(struct ctrl *c, const char *key);
/* Enqueues after ms (a sooner plain enqueue wins). */
void ctrl_enqueue_after(struct ctrl *c, const char *key, int64_t ms);
/* Requeue after the key's next back-off delay (1, 2, 4, ... x base). */
void ctrl_requeue_backoff(struct ctrl *c, const char *key);
/* Resets the key's back-off. */
void ctrl_forget(struct ctrl *c, const char *key);
/* Whether key has writes in flight (then it is marked to run again when
 * they are answered). */
bool ctrl_busy(struct ctrl *c, const char *key);
/* Counts writes in flight of key (client.c: +1 queued, -1 answered). */
void ctrl_inflight(struct ctrl *c, const char *key, int delta);

/* Expect adds creates and dels deletes for key (added to what is pending). */
void ctrl_expect(struct ctrl *c, const char *key, int adds, int dels);
/* The watch showed (or a failed write cancels) adds creates / dels deletes. */
void ctrl_observed(struct ctrl *c, const char *key, int adds, int dels);
/* No pending expectations, or they are older than the timeout. */
bool ctrl_satisfied(struct ctrl *c, const char *key);
void ctrl_expect_drop(struct ctrl *c, const char *key);
/* Slow start: the size of the next create batch for key (1, 2, 4, ...,
 * reset to 1 when a create fails). ctrl_batch_used() doubles it. */
int ctrl_batch_size(struct ctrl *c, const char *key);
void ctrl_batch_used(struct ctrl *c, const char *key, int n);
void ctrl_batch_reset(struct ctrl *c, const char *key);

/* ---- cache reads (cache.c) --------------------------------------------- */

const struct ctrl_obj *ctrl_get(struct ctrl *c, const char *resource, const char *ns,
                                const char *name);
/* key "ns/name" */
const struct ctrl_obj *ctrl_get_key(struct ctrl *c, const char *resource, const char *key);
/* Any cached object with this uid. */
const struct ctrl_obj *ctrl_by_uid(struct ctrl *c, const char *uid);
/* Objects of resource in namespace ns (NULL: all) into *out (malloc'd array,
 * free it; NULL when empty), sorted by name. Returns the count. */
size_t ctrl_list(struct ctrl *c, const char *resource, const char *ns,
                 const struct ctrl_obj ***out);
/* Cached objects (of any resource) with an ownerReference to uid. */
size_t ctrl_dependents(struct ctrl *c, const char *uid, const struct ctrl_obj ***out);

/* ---- time, randomness ---------------------------------------------------- */

int64_t ctrl_now_ms(struct ctrl *c);
time_t ctrl_now(struct ctrl *c);
void ctrl_random(struct ctrl *c, void *buf, size_t n);

/* ---- writes (client.c) --------------------------------------------------
 * Controllers write through store_propose directly (they run inside berthd
 * next to the API server, on the leader), so these functions do what the
 * API server's write path does for them. Each takes obj (stolen, even on
 * error). exp_key (may be NULL): on failure, lower that key's expectation
 * (one add for a create, one delete for a delete). Every failed write
 * requeues the key being synced with back-off. */

/* Create: sets metadata.uid (random v4), creationTimestamp, generation 1 if
 * the object has a spec, namespace, and name from generateName + 5 random
 * chars if it has none. name_out (may be NULL) gets the name. */
int ctrl_create(struct ctrl *c, const char *resource, json_t *obj, const char *exp_key,
                char *name_out, size_t name_len);
/* Update conditioned on cur->rev; bumps generation if spec changed. */
int ctrl_update(struct ctrl *c, const struct ctrl_obj *cur, json_t *obj);
/* Delete conditioned on cur->rev. */
int ctrl_delete(struct ctrl *c, const struct ctrl_obj *cur, const char *exp_key);
/* Delete of an object no informer caches, conditioned on rev. resource
 * must outlive the write (a kind table or informer string). */
int ctrl_delete_rev(struct ctrl *c, const char *resource, const char *ns, const char *name,
                    uint64_t rev);

/* Records a v1 Event about obj: type "Normal"/"Warning", reason, message.
 * Repeats of the same (object, reason, message) bump count/lastTimestamp. */
void ctrl_event(struct ctrl *c, const struct ctrl_obj *about, const char *type,
                const char *reason, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* ---- helpers (util.c) --------------------------------------------------- */

/* "ns/name" into buf. */
void ctrl_key(char *buf, size_t len, const char *ns, const char *name);
/* Splits "ns/name"; 0 or BE_INVAL. */
int ctrl_split_key(const char *key, char *ns, size_t nslen, char *name, size_t namelen);
/* The ownerReference with controller: true, or NULL. */
const json_t *ctrl_controller_ref(const json_t *obj);
/* Whether obj has an ownerReference to uid. */
bool ctrl_has_owner(const json_t *obj, const char *uid);
/* {apiVersion, kind, name, uid, controller: true, blockOwnerDeletion: true} */
json_t *ctrl_owner_ref(const char *api_version, const char *kind, const struct ctrl_obj *owner);
/* Integer at path, or def. */
int64_t ctrl_int(const json_t *obj, const char *path, int64_t def);
bool ctrl_deleting(const json_t *obj);      /* has metadata.deletionTimestamp */
/* Pod helpers. Active: not Succeeded/Failed and not being deleted. */
bool ctrl_pod_active(const json_t *pod);
bool ctrl_pod_ready(const json_t *pod);
/* Ready for at least min_ready seconds at now (ms). If ready but not yet
 * available, *wait_ms (may be NULL) gets how long until it is. */
bool ctrl_pod_available(const json_t *pod, int64_t min_ready, int64_t now_ms, int64_t *wait_ms);
/* An int-or-percent ("25%" or 3) of total, rounded up or down; def when
 * missing. BE_INVAL on a bad value. */
int ctrl_int_or_percent(const json_t *v, int64_t total, bool round_up, int64_t def, int64_t *out);
/* The apiVersion/kind of a cached object (its own fields, else the kind table). */
void ctrl_obj_kind(const struct ctrl_obj *o, const char **api_version, const char **kind);
/* A condition of status.conditions by type, or NULL. */
json_t *ctrl_condition(const json_t *obj, const char *type);
/* Sets (copying into status) a condition; lastTransitionTime changes only if
 * status changes; lastUpdateTime is set when with_update. */
void ctrl_set_condition(json_t *obj, const char *type, const char *status, const char *reason,
                        const char *message, time_t now, bool with_update);
/* RFC 3339 timestamp of now. */
void ctrl_timestamp(struct ctrl *c, char buf[32]);

/* ---- deployment arithmetic (deploy_util.c), exposed for tests ----------- */

#define DEPLOY_HASH_LABEL "pod-template-hash"
#define DEPLOY_REVISION "deployment.kubernetes.io/revision"

/* maxSurge (rounded up) and maxUnavailable (rounded down) of a Deployment
 * against spec.replicas; both 0 makes maxUnavailable 1 (as Kubernetes).
 * Recreate: 0 and 0. BE_INVAL on a bad value. */
int deploy_surge_unavailable(const json_t *d, int64_t *surge, int64_t *unavail);
/* pod-template-hash of a template: FNV-1a over its canonical JSON (sorted
 * keys) and the collision count, as up to 10 safe lower-case characters. */
void deploy_template_hash(const json_t *tmpl, int64_t collisions, char out[16]);
/* Whether a ReplicaSet's template equals the Deployment's, ignoring the
 * pod-template-hash label. */
bool deploy_same_template(const json_t *rs_tmpl, const json_t *d_tmpl);
/* deployment.kubernetes.io/revision of an object, 0 if none. */
int64_t deploy_revision(const json_t *obj);

/* ---- manager internals shared by the framework files ------------------- */

struct ctrl_write;

struct ctrl_informer {
    char *resource;
    struct ctrl_manager *mgr;
    struct dict objs;        /* "ns/name" -> struct ctrl_obj */
    struct dict by_ns;       /* ns -> struct ctrl_obj * (list head) */
    store_watch_t *watch;
};

struct ctrl_manager {
    uv_loop_t *loop;
    store_t *store;
    struct ctrl_config cfg;
    bool leading, closing;
    uint64_t epoch;          /* bumped on every loss of leadership */
    struct ctrl *ctrls;
    size_t nctrls;
    struct ctrl_informer *infs;
    size_t ninfs;
    struct dict by_uid;      /* uid -> struct ctrl_obj */
    struct dict by_owner;    /* owner uid -> struct ctrl_objvec */
    struct ctrl_write *writes;  /* pending, proposed at the end of the tick */
    size_t nwrites, capwrites;
    struct dict events;      /* event aggregation: "uid|reason|msg" -> struct ctrl_evrec */
    struct ctrl_batch *inflight;  /* proposals waiting for their commit */
    uv_idle_t work;
    uv_timer_t tick;
    bool handles_open;
    void (*close_cb)(void *data);
    void *close_data;
    int closing_handles;
    uint64_t test_rev;       /* fake store revision (test hooks) */
};

struct ctrl_objvec {
    struct ctrl_obj **v;
    size_t n, cap;
};

struct ctrl_write {
    enum store_op op;
    const char *resource;
    char *ns, *name, *json, *node, *owner;
    size_t json_len;
    uint64_t expect_rev;
    struct ctrl *c;          /* who wrote it */
    char *key;               /* the key being synced (requeued on failure) */
    char *exp_key;           /* expectation to lower on failure */
    bool event;              /* an Event write (failures drop the aggregation) */
};

/* cache.c */
struct ctrl_informer *ctrl_informer_find(struct ctrl_manager *m, const char *resource);
/* Applies a change to the cache and dispatches it to the controllers.
 * json: the object text (with resourceVersion). */
void ctrl_cache_apply(struct ctrl_informer *inf, enum store_ev_type type, const char *ns,
                      const char *name, uint64_t rev, const char *json, size_t len);
void ctrl_cache_clear(struct ctrl_informer *inf);

/* queue.c */
void ctrl_queue_clear(struct ctrl *c);
/* Moves due delayed keys to ready; returns whether any key is ready. */
bool ctrl_queue_promote(struct ctrl *c, int64_t now);
/* Pops the next ready key (malloc'd) or NULL. */
char *ctrl_queue_pop(struct ctrl *c);

/* client.c */
void ctrl_write_free(struct ctrl_write *w);
/* What a commit (or its failure) means for the writer: requeue and lower
 * expectations on failure. */
void ctrl_write_result(struct ctrl_write *w, int rc);
void ctrl_events_clear(struct ctrl_manager *m);

/* manager.c: runs the ready keys of every controller (at most budget syncs). */
size_t ctrl_run_ready(struct ctrl_manager *m, size_t budget);
struct ctrl *ctrl_find(struct ctrl_manager *m, const char *name);

/* ---- test hooks (manager made with loop == store == NULL) --------------- */

/* Feeds a store event (ADDED/MODIFIED/DELETED) with the object's JSON; the
 * revision is the fake store's next one. */
void ctrl_test_event(struct ctrl_manager *m, const char *resource, enum store_ev_type type,
                     const char *json);
/* The writes made so far and not committed. */
struct ctrl_write *ctrl_test_writes(struct ctrl_manager *m, size_t *n);
/* Applies the pending writes to the caches as the store would (precondition
 * checks, revisions), reports results and dispatches the events. */
void ctrl_test_commit(struct ctrl_manager *m);
/* Drops the pending writes as if the proposal failed with rc. */
void ctrl_test_fail(struct ctrl_manager *m, int rc);

/* ---- workload controllers of issue 4 (job.c, cronjob.c, daemonset*.c,
 * statefulset.c) and their pure helpers, exposed for the unit tests ------ */

extern const struct ctrl_def ctrl_job_def;
extern const struct ctrl_def ctrl_cronjob_def;
extern const struct ctrl_def ctrl_daemonset_def;
extern const struct ctrl_def ctrl_statefulset_def;

/* Job back-off: ms still to wait before a replacement pod after fails
 * failures (10 s doubling per failure, capped at 6 min) counted from
 * last_fail (seconds); 0: none. */
int64_t job_backoff_wait_ms(int64_t fails, time_t last_fail, int64_t now_ms);
/* DaemonSet placement: whether a daemon pod of ds should be scheduled on
 * node (nodeSelector, required node affinity, NoSchedule/NoExecute taints
 * against the pod's and the default daemon tolerations), and whether one
 * already there may keep running (NoExecute taints only). */
void ds_node_eligible(const json_t *ds, const json_t *node, bool *schedule, bool *keep);
/* Adds the default daemon tolerations a pod spec lacks (daemonset_nodes.c). */
void ds_add_tolerations(json_t *pspec);

#endif
