/* sched_int.h: internals shared by the scheduler's files (not public).
 *
 * sched.c     lifecycle of the scheduler: leadership, timers, close
 * cache.c     informer caches of nodes, leases and pods fed by store watches,
 *             usage accounting per node, the pending and unschedulable queues
 * round.c     scheduling rounds and their one-proposal commits
 * lifecycle.c node lease monitoring, taints, evictions, retries
 * writes.c    the JSON the scheduler proposes (bindings, conditions, Events,
 *             node updates), all in the store's layout (json_dump_object)
 * model.c, feasible.c, rank.c: the pure placement core (place.h) */
#ifndef BERTH_SCHED_INT_H
#define BERTH_SCHED_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/dict.h"
#include "scheduler/place.h"
#include "scheduler/sched.h"
#include "store/store.h"

#define SCHED_COMP "sched"
#define LEASE_NS "kube-node-lease"
#define TAINT_UNREACHABLE "node.kubernetes.io/unreachable"

/* ---- intrusive doubly linked list ---------------------------------------- */

struct dlist {
    struct dlist *prev, *next;
};

static inline void dl_init(struct dlist *l) { l->prev = l->next = l; }
static inline bool dl_empty(const struct dlist *l) { return l->next == l; }
static inline bool dl_linked(const struct dlist *e) { return e->next && e->next != e; }
static inline void dl_remove(struct dlist *e)
{
    e->prev->next = e->next;
    e->next->prev = e->prev;
    e->prev = e->next = e;
}
static inline void dl_push_back(struct dlist *l, struct dlist *e)
{
    e->prev = l->prev;
    e->next = l;
    l->prev->next = e;
    l->prev = e;
}
static inline void dl_push_front(struct dlist *l, struct dlist *e)
{
    e->next = l->next;
    e->prev = l;
    l->next->prev = e;
    l->next = e;
}
#define dl_entry(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/* ---- cache entries ------------------------------------------------------- */

enum pod_state {
    PS_IDLE,     /* bound, or not schedulable by us (deleting, finished) */
    PS_ACTIVE,   /* in the active queue */
    PS_UNSCHED,  /* in the unschedulable set, waiting for a change */
    PS_INFLIGHT, /* a binding of ours is being committed */
};

struct node_ent;

struct pod_ent {
    char *key; /* "ns/name" */
    struct sched_pod p;
    uint64_t rev;
    struct node_ent *node; /* where its requests are accounted, or NULL */
    bool assumed;          /* accounted before our binding was applied */
    bool orphan;           /* bound to a node not in the cache */
    bool evicting;         /* our delete is in flight */
    struct dlist on_node;  /* in node->pods */
    enum pod_state state;
    struct dlist q;        /* in the active or unschedulable queue */
    unsigned attempts;
    int64_t next_try_ms;
    uint64_t tried_gen;    /* cluster generation of the last failed attempt */
    char *event_name;      /* our last FailedScheduling Event */
    char event_uid[37];
    uint32_t event_count;
    int64_t event_first_ms, event_write_ms;
};

struct node_ent {
    struct sched_node n; /* first: the snapshot points at it */
    size_t idx;          /* in s->nodes */
    uint64_t rev;
    int64_t seen_ms;     /* when this leader first saw it */
    struct dlist pods;   /* pod_ent.on_node */
    bool writing;        /* a lifecycle update of ours is in flight */
    bool fresh;          /* lease within the grace period at the last tick */
};

/* ---- the scheduler ------------------------------------------------------- */

struct commit;

struct sched {
    uv_loop_t *loop;
    store_t *store;
    struct sched_config cfg;
    bool leader, closing;
    uint64_t epoch; /* bumped on every leadership change */
    int64_t leader_since_ms;
    store_watch_t *w_nodes, *w_pods, *w_leases;
    struct dict nodes_by_name, pods, leases;
    struct sched_node **nodes; /* the snapshot: &node_ent.n */
    size_t nnodes, cap_nodes;
    bool ranks_dirty;
    struct dlist active, unsched;
    size_t nactive, nunsched, orphans;
    uint64_t cluster_gen; /* bumped by changes that may let a pod fit */
    int64_t last_flush_ms;
    struct commit *inflight; /* proposals of this scheduler not yet answered */
    unsigned ninflight;
    uint64_t seq; /* for Event names */
    uv_timer_t round_timer, tick_timer;
    bool round_armed;
    int open_handles;
    void (*close_cb)(void *data);
    void *close_data;
    struct sched_stats st;
};

int64_t sched_now(struct sched *s);

/* cache.c */
int cache_start(struct sched *s);  /* list + watch; BE_* */
void cache_stop(struct sched *s);  /* stop watches, free everything */
struct pod_ent *cache_pod(struct sched *s, const char *key);
struct node_ent *cache_node(struct sched *s, const char *name);
bool pod_pending(const struct sched_pod *p);
void pod_enqueue(struct sched *s, struct pod_ent *e, bool front);
void pod_dequeue(struct sched *s, struct pod_ent *e);
void pod_park(struct sched *s, struct pod_ent *e); /* to unschedulable */
void pod_unaccount(struct sched *s, struct pod_ent *e);
int pod_account(struct sched *s, struct pod_ent *e, struct node_ent *n, bool assumed);
void node_refresh_heartbeat(struct sched *s, struct node_ent *n);
void sched_kick(struct sched *s); /* a round soon, if pods wait */

/* round.c: commits carry what each mutation was for */
enum item_kind { IK_BIND, IK_UNSCHED, IK_EVENT, IK_NODE, IK_EVICT };
struct batch; /* mutations being gathered */
struct batch *batch_new(void);
/* Adds one mutation; json (malloc'd) and key are taken / copied. */
int batch_add(struct batch *b, enum item_kind kind, const char *key,
              const struct store_mut *m, char *json);
size_t batch_len(const struct batch *b);
size_t batch_bytes(const struct batch *b);
/* Proposes the batch (freed either way); on a refusal calls the failure
 * handling of every item as if each had failed with rc. */
void batch_commit(struct sched *s, struct batch *b);
void batch_free(struct batch *b);
void commits_detach(struct sched *s); /* on close: answers go nowhere */

/* lifecycle.c */
void lifecycle_tick(struct sched *s);

/* writes.c: each returns malloc'd JSON in store layout, or NULL */
char *wr_bind(const char *pod_json, const char *node, const char *ts, size_t *len);
char *wr_unsched(const char *pod_json, const char *msg, const char *ts, size_t *len);
char *wr_event(const struct sched_pod *p, const char *name, const char *uid, const char *msg,
               uint32_t count, const char *first_ts, const char *last_ts, size_t *len);
/* Ready=Unknown + unreachable taint (unknown = true) or the reverse. */
char *wr_node(const char *node_json, bool unknown, const char *ts, int64_t grace_ms,
              size_t *len);
void wr_timestamp(int64_t ms, char *buf, size_t len);

#endif
