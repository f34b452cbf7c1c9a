/* place.h: the pure placement core of the scheduler.
 *
 * Like Nomad's scheduler stack: a pod is checked against every node of a
 * snapshot by feasibility filters (feasible.c), the nodes that pass are
 * ranked (rank.c), and the best one wins. Nothing here touches the store, the
 * loop or the clock: a placement is a function of (snapshot, pod), which is
 * what the unit tests drive over static node lists.
 *
 * Nodes and pods are parsed once from their JSON (model.c) into the small
 * structs below that keep only what scheduling needs. A node also carries
 * its usage: the sum of the requests of the pods bound or assumed on it, the
 * host ports they hold and how many pods of each owner it runs (the spreading
 * tie-break). place_assume()/place_forget() move a pod in or out of it.
 *
 * Filters run in a fixed order and a node is counted once, under the first
 * filter that rejects it; place_message() turns the counts into the
 * Kubernetes-style reason `0/3 nodes are available: 2 Insufficient cpu, 1
 * node(s) had untolerated taint {k: v}.` (reasons by count, then by text).
 *
 * Scores are integers 0..100 like kube-scheduler's: binpack (default) is
 * MostAllocated, spread is LeastAllocated, each the weighted mean over cpu
 * and memory of the node's requests after adding the pod. Ties go to the
 * node with fewer pods of the pod's owner, then to the lower node name, so a
 * placement is deterministic.
 *
 * A run (place_run_*) places a sequence of pods of the same shape (same
 * requests, constraints and owner, e.g. the replicas of one ReplicaSet) with
 * one scan of the snapshot and a heap of feasible nodes: placing a pod only
 * changes the chosen node, so only that node is re-checked and re-ranked.
 * Its choices are exactly those of place_one() + place_assume() per pod. */
#ifndef BERTH_SCHED_PLACE_H
#define BERTH_SCHED_PLACE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "scheduler/sched.h" /* enum sched_strategy */

enum sched_expr_op { SX_IN, SX_NOTIN, SX_EXISTS, SX_NOTEXISTS, SX_GT, SX_LT };

/* Taint effects as bits; a toleration with effect 0 matches every effect. */
enum { EFF_NOSCHEDULE = 1, EFF_PREFER = 2, EFF_NOEXECUTE = 4 };

struct sched_kv {
    char *key, *value;
};

struct sched_expr {
    char *key;
    enum sched_expr_op op;
    char **values;
    size_t nvalues;
    bool field; /* matchFields: key metadata.name, matched on the node name */
};

struct sched_term { /* all expressions must hold */
    struct sched_expr *exprs;
    size_t n;
};

struct sched_taint {
    char *key, *value;
    int effect;
    int64_t added_ms; /* timeAdded (ms since the epoch), 0 if unset */
};

struct sched_toleration {
    char *key, *value; /* key "" with exists: tolerates everything */
    bool exists;       /* operator Exists (else Equal) */
    int effect;        /* 0: all effects */
    int64_t seconds;   /* tolerationSeconds, -1: forever */
};

struct sched_owner_count {
    uint64_t owner;
    uint32_t n;
};

struct sched_node {
    char *name;
    int64_t alloc_cpu, alloc_mem, alloc_pods; /* millicores, bytes, count */
    struct sched_kv *labels;
    size_t nlabels;
    struct sched_taint *taints;
    size_t ntaints;
    bool ready;          /* condition Ready=True */
    bool unschedulable;  /* spec.unschedulable */
    int64_t heartbeat_ms; /* last lease renewal seen (ms since the epoch) */
    /* usage, kept by place_assume()/place_forget() */
    int64_t used_cpu, used_mem, used_pods;
    uint32_t *ports; /* (protocol << 16 | port), one per holder */
    size_t nports, cap_ports;
    struct sched_owner_count *owners;
    size_t nowners, cap_owners;
    uint32_t rank; /* position in name order (ties); set by place_rank_names */
};

struct sched_pod {
    char *ns, *name, *uid;
    char *owner_uid; /* controller ownerReference uid, or NULL */
    uint64_t owner;  /* hash of owner_uid, 0 if none */
    int64_t cpu, mem; /* requests: sum of containers, at least each init one */
    struct sched_kv *selector; /* spec.nodeSelector */
    size_t nselector;
    struct sched_term *terms; /* required node affinity: any term */
    size_t nterms;
    struct sched_toleration *tols;
    size_t ntols;
    uint32_t *ports; /* host ports (protocol << 16 | port) */
    size_t nports;
    char *node_name; /* spec.nodeName, "" if unbound */
    bool terminal;   /* phase Succeeded or Failed */
    bool deleting;   /* metadata.deletionTimestamp set */
    char *sched_msg; /* message of a PodScheduled=False condition, or NULL */
};

/* ---- model.c: parsing ------------------------------------------------- */

/* Fill *n / *p from an object (zeroed first). Return 0 or BE_INVAL when the
 * object lacks a name; BE_NOMEM. On error nothing is left allocated. Usage
 * fields of the node start at zero. */
int sched_node_parse(const json_t *obj, struct sched_node *n);
int sched_pod_parse(const json_t *obj, struct sched_pod *p);
void sched_node_free(struct sched_node *n);
void sched_pod_free(struct sched_pod *p);
/* Whether two parsed nodes differ in anything a filter or score reads
 * (allocatable, labels, taints, Ready, unschedulable): a change that may
 * make an unschedulable pod fit. */
bool sched_node_changed(const struct sched_node *a, const struct sched_node *b);
/* Whether two pods have the same shape (requests, constraints, ports,
 * owner): the same placement problem, so they may share a run. */
bool sched_pod_same_shape(const struct sched_pod *a, const struct sched_pod *b);
uint64_t sched_hash(const char *s); /* FNV-1a, never 0 for non-NULL s */
/* RFC 3339 with optional fraction -> ms since the epoch; -1 if invalid. */
int64_t sched_parse_time_ms(const char *s);

/* ---- feasible.c: filters ---------------------------------------------- */

enum place_reason {
    PR_OK = 0,
    PR_NOT_READY,     /* Ready condition not True, or lease stale */
    PR_UNSCHEDULABLE, /* spec.unschedulable */
    PR_TAINT,         /* an untolerated NoSchedule/NoExecute taint */
    PR_AFFINITY,      /* nodeSelector or required node affinity */
    PR_CPU,
    PR_MEM,
    PR_PODS,
    PR_PORTS,
    PR__COUNT
};

struct place_snapshot {
    struct sched_node **nodes;
    size_t n;
    int64_t now_ms;
    int64_t grace_ms; /* a lease older than this: not ready */
    enum sched_strategy strategy;
    int cpu_weight, mem_weight; /* 0, 0: 1, 1 */
};

/* The first filter that rejects the node, or PR_OK. For PR_TAINT *taint
 * (may be NULL) gets the index of the first untolerated taint. */
enum place_reason place_check(const struct place_snapshot *s,
                              const struct sched_node *n,
                              const struct sched_pod *p, size_t *taint);
/* Whether the pod tolerates the taint (any of its tolerations matches). If
 * seconds is not NULL it gets the smallest tolerationSeconds of the matching
 * tolerations, -1 if one of them tolerates forever. */
bool place_tolerates(const struct sched_pod *p, const struct sched_taint *t,
                     int64_t *seconds);
bool place_node_fresh(const struct place_snapshot *s, const struct sched_node *n);
const char *place_reason_text(enum place_reason r);

/* Usage bookkeeping. BE_NOMEM from assume leaves the node unchanged. */
int place_assume(struct sched_node *n, const struct sched_pod *p);
void place_forget(struct sched_node *n, const struct sched_pod *p);
uint32_t place_owner_count(const struct sched_node *n, uint64_t owner);

/* ---- rank.c: scores, choice, reasons ------------------------------------ */

struct place_taint_count {
    const char *key, *value; /* point into a node of the snapshot */
    uint32_t n;
};

struct place_result {
    int node; /* index in the snapshot, or -1 */
    uint32_t counts[PR__COUNT];
    struct place_taint_count *taints; /* PR_TAINT broken down by taint */
    size_t ntaints, cap_taints;
    size_t total; /* nodes in the snapshot */
};

int place_score(const struct place_snapshot *s, const struct sched_node *n,
                const struct sched_pod *p);
/* Sets rank of every node of the snapshot by name. */
void place_rank_names(struct place_snapshot *s);
/* Picks the best node for p (res->node, or -1 with the counts filled). Does
 * not change the snapshot. Returns 0 or BE_NOMEM. */
int place_one(const struct place_snapshot *s, const struct sched_pod *p,
              struct place_result *res);
/* `0/3 nodes are available: 2 Insufficient cpu.` into buf. */
void place_message(const struct place_result *res, char *buf, size_t len);
void place_result_free(struct place_result *res);

struct place_heap_ent {
    int score;
    uint32_t owners, rank, idx;
};

struct place_run {
    struct place_snapshot *s;
    const struct sched_pod *shape;
    struct place_heap_ent *heap;
    size_t n;
    struct place_result res;
};

/* Begins a run for pods shaped like p (p must outlive the run): scans every
 * node once. Returns 0 or BE_NOMEM. */
int place_run_begin(struct place_run *r, struct place_snapshot *s,
                    const struct sched_pod *p);
/* Places the next pod of the run (same shape as the first): picks the best
 * node, assumes p on it and re-ranks that node. *node gets the node's index,
 * or -1 if none fits (r->res then has the counts). Returns 0 or BE_NOMEM
 * (then nothing was assumed). */
int place_run_next(struct place_run *r, const struct sched_pod *p, int *node);
void place_run_end(struct place_run *r);

#endif
