/* store.h: the replicated object store of berthd.
 *
 * Objects are JSON documents keyed by (resource, namespace, name), e.g.
 * ("pods", "default", "web-1"); cluster-scoped objects use namespace "".
 * Writes are proposed as batches of mutations, each with a precondition; a
 * batch travels as one raft entry (canonical raft, libuv I/O) and is applied
 * by every member to an in-memory sqlite database, the state machine. Each
 * mutation that succeeds takes the next value of a revision counter that is
 * part of the replicated state, so every member agrees on every revision.
 *
 * Group commit: store_propose() never writes to raft itself. Proposals made
 * while earlier entries are in flight are queued and sent together as one
 * entry at the end of the loop iteration (up to a bounded number of entries
 * in flight). This is where write throughput comes from.
 *
 * JSON layout contract: the json of a mutation is a JSON object whose first
 * key is "metadata", whose value is an object without "resourceVersion", i.e.
 * the text starts with `{"metadata":{"` (no whitespace). The state machine
 * splices `"resourceVersion":"<rev>",` in right after `{"metadata":{` when it
 * stores the object, so stored and returned JSON always carries its revision
 * and nothing is parsed on the apply path. A mutation whose json breaks this
 * contract fails with BE_INVAL (deterministically, on every member).
 *
 * Watch: every applied change is put in an in-memory ring (the window) and
 * dispatched to watchers at apply time. Watchers filter by resource,
 * namespace and node (the `node` index hint, for pods spec.nodeName); a node
 * watch is found through a hash by node, so an event costs O(its watchers).
 * Starting a watch from a revision older than the window gives BE_GONE.
 *
 * All functions run on the loop thread. Strings passed in are copied unless
 * a comment says otherwise. */
#ifndef BERTH_STORE_H
#define BERTH_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct raft;
struct raft_fsm;
struct raft_fixture;

typedef struct store store_t;

/* Default raft timing (berthd --election-timeout-ms, --heartbeat-ms); why
 * these values: store/raftnode.c and docs/architecture.md. */
#define STORE_ELECTION_MS 200
#define STORE_HEARTBEAT_MS 25

struct store_config {
    const char *name;          /* member name (e.g. hostname) */
    const char *data_dir;      /* raft log and snapshots; must exist */
    const char *raft_address;  /* "127.0.0.1:7071" */
    uint64_t raft_id;          /* 0: derived from the address */
    unsigned election_timeout_ms; /* 0: STORE_ELECTION_MS */
    unsigned heartbeat_ms;        /* 0: STORE_HEARTBEAT_MS (also raft's tick) */
    unsigned snapshot_threshold;  /* 0: 65536 entries; snapshots also come
                                     when the log since the last one holds
                                     as many bytes as the database (≥16 MiB) */
    unsigned snapshot_trailing;   /* 0: 256 entries kept after a snapshot */
    unsigned watch_window;        /* 0: 20000 events kept for watch resume */
    unsigned max_inflight;        /* 0: 8 raft entries in flight */
    /* Called on the loop thread whenever this member gains or loses
     * leadership (after the new state is visible through store_is_leader). */
    void (*on_leader_change)(void *data, bool is_leader);
    void *data;
    /* Start modes (berthd --join, --recover, --restore). At most one. */
    bool join;            /* never bootstrap: an empty data dir waits to be
                             added by a leader (store_change STORE_ADD) */
    bool recover;         /* before starting, force the raft configuration
                             to this member alone (raft_recover): for a lost
                             quorum; needs existing raft state */
    const void *restore;  /* a store_image() image (or a raw sqlite one): bootstrap a new
                             one-member cluster (data_dir must be empty),
                             load the image into the state machine, and take
                             a raft snapshot at the first applied entry so it
                             is durable (see store_snapshots_taken) */
    size_t restore_len;
};

/* Opens the store: creates the raft I/O in data_dir, bootstraps a one-member
 * cluster if data_dir holds no raft state, and starts raft. On failure returns
 * a BE_* code and writes a human-readable reason to errbuf; nothing is left
 * open. */
int store_open(uv_loop_t *loop, const struct store_config *cfg, store_t **out,
               char *errbuf, size_t errlen);

/* Test hooks: a store driven by one server of a raft in-memory fixture
 * (raft/fixture.h). store_open_fixture() makes the store and gives the fsm
 * to pass to raft_fixture_grow(); once the fixture has started, attach the
 * server's raft (raft_fixture_get()). The fixture owns raft and its I/O and
 * the caller drives it with raft_fixture_step() and friends. There is no
 * loop: store_fixture_flush() sends the queued proposals and barriers (what
 * the loop does at the end of each iteration) and polls leadership. Close
 * the fixture before the stores (raft fails what is in flight); a fixture
 * store closes at once. store_open_fixture_cfg() takes a config (NULL: the
 * defaults) of which only watch_window, max_inflight, name and
 * on_leader_change matter. */
int store_open_fixture(struct raft_fsm **fsm_out, store_t **out);
int store_open_fixture_cfg(const struct store_config *cfg,
                           struct raft_fsm **fsm_out, store_t **out);
void store_fixture_attach(store_t *s, struct raft *raft);
void store_fixture_flush(store_t *s);

/* Fails every proposal not yet handed to raft and every pending barrier with
 * BE_SHUTDOWN, ends every watch (its callback gets an event of type
 * STORE_EV_CLOSED), waits up to 2 s for the entries raft already has to be
 * applied (their proposers get their results), stops raft, then calls cb
 * once everything is closed and freed, except raft's libuv I/O: that is
 * freed once the loop has no request left (raftnode.h), so run the loop to
 * its end after closing. Not to be called from a watch callback. */
void store_close(store_t *s, void (*cb)(void *data), void *data);

/* ---- writes ---------------------------------------------------------- */

enum store_op {
    STORE_CREATE = 1, /* precondition: absent (else BE_EXISTS) */
    STORE_UPDATE = 2, /* precondition: present (else BE_NOTFOUND) and, if
                         expect_rev != 0, at revision expect_rev (else
                         BE_CONFLICT) */
    STORE_DELETE = 3, /* same preconditions as UPDATE; json ignored */
};

struct store_mut {
    enum store_op op;
    const char *resource;
    const char *ns;       /* "" for cluster-scoped */
    const char *name;
    uint64_t expect_rev;  /* UPDATE/DELETE: 0 = any revision */
    const char *json;     /* CREATE/UPDATE: see the layout contract above */
    size_t json_len;
    const char *node;     /* index hint: spec.nodeName of pods, or NULL */
    const char *owner;    /* index hint: controller owner uid, or NULL */
};

struct store_result {
    int rc;               /* 0 or BE_EXISTS/BE_NOTFOUND/BE_CONFLICT/BE_INVAL */
    uint64_t rev;         /* revision this mutation took (rc == 0) */
    uint64_t cur_rev;     /* on BE_CONFLICT: the object's current revision */
};

/* rc != 0 means the whole batch failed before it was applied (BE_NOTLEADER,
 * BE_SHUTDOWN, BE_IO); then results is NULL. Otherwise results[i] is the
 * outcome of muts[i]. results is valid only during the callback. */
typedef void (*store_commit_cb)(void *data, int rc,
                                const struct store_result *results, size_t n);

/* Queues a batch (copied) for the next raft entry. Returns 0 and later calls
 * cb exactly once; or returns BE_NOTLEADER/BE_SHUTDOWN/BE_INVAL/BE_TOOBIG at
 * once and never calls cb. Mutations of one batch are applied in order, each
 * all-or-nothing, each with its own result. */
int store_propose(store_t *s, const struct store_mut *muts, size_t n,
                  store_commit_cb cb, void *data);

/* Linearizable read point: cb(data, 0) once this leader has applied every
 * entry committed before the call (raft barrier; concurrent barriers share
 * one). Returns BE_NOTLEADER at once on a follower. */
int store_barrier(store_t *s, void (*cb)(void *data, int rc), void *data);

/* ---- reads (local state machine) -------------------------------------- */

/* Copies out one object. Returns BE_NOTFOUND if absent. *json is malloc'd,
 * NUL-terminated; the caller frees it. rev_out may be NULL. */
int store_get(store_t *s, const char *resource, const char *ns,
              const char *name, char **json, size_t *len, uint64_t *rev_out);

/* 0 if the object exists, BE_NOTFOUND if not. Copies nothing: cheaper
 * than store_get when only existence matters (a create's namespace). */
int store_exists(store_t *s, const char *resource, const char *ns,
                 const char *name);

/* Changes whenever a namespace may have been created or deleted: a cached
 * "namespace X exists" is good while this stays the same. */
uint64_t store_ns_generation(store_t *s);

struct store_list_opts {
    const char *ns;          /* NULL: all namespaces */
    const char *node;        /* NULL: any; otherwise only objects whose node
                                hint equals it ("" = unbound) */
    const char *after_ns;    /* continue after this key (both NULL: start) */
    const char *after_name;
    size_t limit;            /* 0: no limit */
};

/* Called per object in (ns, name) order; return non-zero to stop early.
 * json is valid only during the call. */
typedef int (*store_list_cb)(void *data, const char *ns, const char *name,
                             uint64_t rev, const char *json, size_t len);

/* Lists objects of one resource. *list_rev (may be NULL) gets the store's
 * revision at the time of the list, which a watch can resume from. */
int store_list(store_t *s, const char *resource,
               const struct store_list_opts *opts, store_list_cb cb,
               void *data, uint64_t *list_rev);

uint64_t store_revision(store_t *s);   /* last revision applied here */
uint64_t store_applied_index(store_t *s);  /* raft last applied index */
bool store_is_leader(store_t *s);
bool store_has_leader(store_t *s);     /* knows a leader (itself or another) */
bool store_ready(store_t *s);          /* has a leader and applied its log */
uint64_t store_object_count(store_t *s);
/* NULL if unknown; cfg->name when this member leads, else the leader's raft
 * address (valid until the next call). */
const char *store_leader_name(store_t *s);

/* ---- watch ------------------------------------------------------------ */

enum store_ev_type {
    STORE_EV_ADDED = 1,
    STORE_EV_MODIFIED = 2,
    STORE_EV_DELETED = 3,
    STORE_EV_CLOSED = 4, /* the store is closing; no more events */
};

struct store_event {
    enum store_ev_type type;
    uint64_t rev;
    const char *resource, *ns, *name;
    const char *node;        /* node hint after the change (NULL if none) */
    const char *json;        /* object after the change; for DELETED the last
                                state with resourceVersion = the delete's rev */
    size_t json_len;
    const char *prev_json;   /* MODIFIED: the object before the change, if a
                                watcher of the resource had want_prev when it
                                was applied; else NULL */
    size_t prev_json_len;
};

/* Called at apply time for each matching event, in revision order. It may
 * call store_watch_stop() on its own watch (or any other). */
typedef void (*store_watch_cb)(void *data, const struct store_event *ev);
/* When a member installs a snapshot from the leader (it fell behind the
 * leader's log), the watch window restarts at the snapshot's revision:
 * existing watches stay open but do not see the changes the snapshot folded
 * in, and starting a watch from an older revision gives BE_GONE. */

typedef struct store_watch store_watch_t;

struct store_watch_opts {
    const char *resource;    /* required */
    const char *ns;          /* NULL: all namespaces */
    const char *node;        /* NULL: any. Otherwise events whose node hint is
                                this node; a change moving an object onto the
                                node arrives as ADDED, off it as DELETED. */
    uint64_t from_rev;       /* deliver events with rev > from_rev, replayed
                                from the window before store_watch_start
                                returns; must be >= the oldest revision still
                                in the window minus one, else BE_GONE */
    bool want_prev;          /* updates keep the previous object for events
                                (a selector watch must see an object stop
                                matching); costs a copy per update */
};

int store_watch_start(store_t *s, const struct store_watch_opts *opts,
                      store_watch_cb cb, void *data, store_watch_t **out);
void store_watch_stop(store_watch_t *w);
size_t store_watch_count(store_t *s);

/* ---- membership --------------------------------------------------------- */

/* Roles of raft 0.15: a voter counts for quorum; a standby replicates the
 * log without voting (promotion is quick); a spare only sits in the
 * configuration (raft_add puts a new server there). */
enum store_role { STORE_VOTER = 1, STORE_STANDBY = 2, STORE_SPARE = 3 };

struct store_server {
    uint64_t id;
    char address[128];    /* raft address */
    enum store_role role;
};

const char *store_role_name(enum store_role role); /* "voter", ... */
uint64_t store_id(store_t *s);            /* this member's raft id */
/* The raft id of the leader this member knows of (0: none). */
uint64_t store_leader_id(store_t *s);
/* Copies the newest configuration this member knows (it may be
 * uncommitted; an empty one on a member that has not been added yet).
 * *out is malloc'd (NULL when *n == 0). */
int store_configuration(store_t *s, struct store_server **out, size_t *n);
/* This member appears in its own configuration. */
bool store_in_configuration(store_t *s);

enum store_change_op {
    STORE_ADD = 1,        /* add id/address as a spare */
    STORE_ASSIGN = 2,     /* give id a role; promotion to voter first brings
                             its log up to date (about 5 s, then BE_UNAVAIL,
                             if it does not answer) */
    STORE_REMOVE = 3,     /* take id out of the configuration */
};

/* Queues a membership change on the leader; raft runs one at a time, so
 * changes run in the order queued. Returns BE_NOTLEADER/BE_SHUTDOWN/BE_INVAL
 * at once (cb never called), else 0 and later cb(data, rc) exactly once with
 * 0 (the new configuration is committed), BE_EXISTS (duplicate id or
 * address, or the role is already that), BE_NOTFOUND (unknown id),
 * BE_UNAVAIL (promotee unreachable), BE_NOTLEADER (leadership lost) or
 * BE_SHUTDOWN. address is used by STORE_ADD only, role by STORE_ASSIGN. */
int store_change(store_t *s, enum store_change_op op, uint64_t id,
                 const char *address, enum store_role role,
                 void (*cb)(void *data, int rc), void *data);
/* Changes queued or in raft. */
size_t store_changes_pending(store_t *s);

/* Raft snapshots this member has written since it opened (a --restore is
 * durable once this is non-zero). */
unsigned store_snapshots_taken(store_t *s);

/* ---- snapshots (also used by backup) ------------------------------------ */

/* The state machine as it is now, for a backup (berthd --restore takes it),
 * without stopping the loop for the copy: a forked copier encodes it
 * (snapimg.h: LZ4 blocks) while the store goes on. cb runs on the loop
 * once, with the image valid during the call. 0, or BE_* without calling
 * cb. */
typedef void (*store_image_cb)(void *data, int rc, const void *buf, size_t len);
int store_image(store_t *s, store_image_cb cb, void *data);

#endif
