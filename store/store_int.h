/* store_int.h: the store's own state, shared by its files (store.c: group
 * commit, raft glue, reads; members.c: membership changes). Internal to the
 * store. */
#ifndef BERTH_STORE_INT_H
#define BERTH_STORE_INT_H

#include <raft.h>
#include <stdbool.h>

#include "store/fsm.h"
#include "store/raftnode.h"
#include "store/store.h"
#include "store/watch.h"

#define MAX_ENTRY (8u << 20) /* bytes of one raft entry */
#define POLL_MS 20

struct prop {
    store_commit_cb cb;
    void *data;
    uint32_t n;
};

struct entry {
    struct raft_apply req;
    struct store *s;
    char *buf; /* raft_malloc'd; raft's once raft_apply succeeded */
    size_t len, cap;
    uint32_t nmuts;
    struct prop *props;
    size_t nprops, props_cap;
    struct entry *next;
};

struct bwait {
    void (*cb)(void *data, int rc);
    void *data;
    struct bwait *next;
};

struct bgroup {
    struct raft_barrier req;
    struct store *s;
    struct bwait *waiters;
};

/* What the state machine hands to the apply callback through raft. */
struct apply_out {
    int rc;
    const struct store_result *res;
    size_t n;
};

struct store {
    uv_loop_t *loop; /* NULL for a fixture store */
    struct store_config cfg;
    char *name, *data_dir, *address;
    struct raft *raft;
    struct raftnode *rn;
    struct raft_fsm rfsm;
    struct fsm *fsm;
    struct watch_hub *hub;

    struct entry *pend_head, *pend_tail, *spare;
    unsigned inflight;
    struct bwait *bar_head, *bar_tail;

    uv_timer_t timer;
    uv_check_t check;
    uv_idle_t idle;
    bool armed, closing, was_leader, ready;
    bool raft_closing;           /* raftnode_close called (after the drain) */
    int open_handles;
    raft_index start_index;
    uint64_t next_unready_log;  /* uv_now() of the next "not ready yet" line */
    uint64_t log_bytes;      /* raft entry bytes applied since the last snapshot */
    raft_index log_entries;  /* entries applied since the last snapshot */
    uint64_t db_bytes_seen;  /* database size when last measured (snapshot policy) */
    struct apply_out out;
    char leader[64];
    struct store_change *chg_head, *chg_tail; /* membership changes, one in raft at a time */
    bool chg_busy;
    bool snapshot_asap;   /* restore: snapshot at the next applied entry */
    unsigned snapshots;   /* snapshots finalized since open */
    struct snapjob *snap; /* the snapshot being taken (snapjob.c) */
    struct raft_buffer snap_buf;
    size_t snap_len;
    uint64_t snap_t0, snap_fork_ns, snap_copied_ns;
    uint64_t snap_retry_ms; /* after a failed snapshot: not before (uv_now) */
    bool trim_due;        /* a snapshot freed log entries: malloc_trim when idle */
    uint64_t last_apply_ms;

    void (*close_cb)(void *data);
    void *close_data;
};

/* rfsm.c: fills s->rfsm, the store as raft's state machine. */
void store_rfsm_init(struct store *s);

/* members.c: fails queued membership changes (leadership lost, close). */
void store_changes_fail(struct store *s, int rc);

#endif
