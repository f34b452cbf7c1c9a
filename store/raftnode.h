/* raftnode.h: canonical raft over libuv for one store member.
 *
 * Internal to the store. Owns struct raft, its disk I/O (raft_uv) and its
 * TCP transport (raftnet.h), and knows the start-up order raft 0.15 needs. */
#ifndef BERTH_STORE_RAFTNODE_H
#define BERTH_STORE_RAFTNODE_H

#include <raft.h>
#include <raft/uv.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "store/raftnet.h"
#include "store/snapput.h"
#include "store/store.h"

struct raftnode {
    struct raft raft;
    struct raft_io io;
    struct raftnet transport;    /* raft_uv_tcp with TCP_NODELAY */
    struct snapput snapput;      /* io's snapshot_put without the barrier */
    uv_loop_t *loop;
    raft_io_close_cb io_close_cb; /* raft's, called once (io_closed_once) */
    bool io_closed;
    uv_timer_t reaper;           /* frees the I/O once the loop's requests end */
    int segfill_slot;            /* segfill.h registration of the data dir, or < 0 */
    void (*closed)(void *data);
    void *closed_data;
};

/* A stable non-zero raft id derived from the raft address (FNV-1a). */
uint64_t raftnode_id_from_address(const char *address);

/* Creates the I/O in cfg->data_dir, bootstraps a one-member cluster when the
 * directory holds no raft state (a restarted member gets RAFT_CANTBOOTSTRAP,
 * which is fine), applies the timeouts of cfg and starts raft. On failure
 * returns a BE_* code with a reason in errbuf; if raft was already
 * initialized, it is closed and freed asynchronously on the loop. */
int raftnode_open(uv_loop_t *loop, const struct store_config *cfg,
                  struct raft_fsm *fsm, struct raftnode **out, char *errbuf,
                  size_t errlen);

/* Closes raft (its pending requests fail), then calls cb. The I/O, the
 * transport and rn are freed later, when the loop has no request in flight
 * and no handle closing: raft 0.15's libuv I/O can report its close twice,
 * and the second report reads the I/O's memory (raft hears it once). */
void raftnode_close(struct raftnode *rn, void (*cb)(void *data), void *data);

#endif
