/* raftnode.c: raft set-up and tear-down over libuv (see raftnode.h).
 *
 * Order (raft 0.15): raft_uv_tcp_init -> raft_uv_init (dir must exist) ->
 * raft_init -> raft_bootstrap (only effective on an empty dir) -> tuning ->
 * raft_start. Closing is raft_close(cb); the uv I/O and the transport are
 * released after that callback, once the loop has no request in flight
 * (see raftnode_close). */
#include "store/raftnode.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/errors.h"
#include "common/log.h"
#include "store/aiodefer.h"
#include "store/raftheap.h"
#include "store/segfill.h"

uint64_t raftnode_id_from_address(const char *address)
{
    uint64_t h = 1469598103934665603ull;
    for (const char *p = address; *p; p++)
        h = (h ^ (uint8_t)*p) * 1099511628211ull;
    h &= 0x7fffffffffffffffull; /* keep clear of sign issues in tooling */
    return h ? h : 1;
}

/* How often the reaper looks whether raft_uv's memory can go. */
#define REAPER_TICK_MS 10

static void reaper_closed(uv_handle_t *h)
{
    struct raftnode *rn = h->data;
    raft_uv_close(&rn->io);
    aiodefer_stop(); /* raftnode_close called aiodefer_closing */
    raftheap_drain(SIZE_MAX); /* what raft freed after its last snapshot */
    raftnet_close(&rn->transport);
    snapput_free(&rn->snapput);
    segfill_unregister(rn->segfill_slot);
    free(rn);
}

static void note_closing(uv_handle_t *h, void *arg)
{
    if (uv_is_closing(h))
        *(bool *)arg = true;
}

/* Ticks until the loop has no request (thread-pool work, fs, writes) and
 * no handle still closing: a late callback of raft_uv then finds its
 * memory and its closed state, and does nothing. A timer rather than a
 * check handle, so the loop never blocks in poll with nothing to wake it. */
static void reaper_tick(uv_timer_t *t)
{
    struct raftnode *rn = t->data;
    bool closing = false;
    if (rn->loop->active_reqs.count != 0)
        return;
    uv_walk(rn->loop, note_closing, &closing);
    if (closing)
        return;
    uv_timer_stop(t);
    uv_close((uv_handle_t *)t, reaper_closed);
}

static void close_cb(struct raft *r)
{
    struct raftnode *rn = r->data;
    void (*cb)(void *) = rn->closed;
    void *data = rn->closed_data;
    uv_timer_init(rn->loop, &rn->reaper);
    rn->reaper.data = rn;
    uv_timer_start(&rn->reaper, reaper_tick, 0, REAPER_TICK_MS);
    if (cb)
        cb(data);
}

void raftnode_close(struct raftnode *rn, void (*cb)(void *data), void *data)
{
    rn->closed = cb;
    rn->closed_data = data;
    aiodefer_closing(); /* the writes raft cancels must be waited for */
    raft_close(&rn->raft, close_cb);
}

/* io->snapshot_put and io->close, routed through snapput.c */
static struct raftnode *raftnode_of_io(struct raft_io *io)
{
    return (struct raftnode *)((char *)io - offsetof(struct raftnode, io));
}

static int io_snapshot_put(struct raft_io *io, unsigned trailing,
                           struct raft_io_snapshot_put *req,
                           const struct raft_snapshot *snapshot,
                           raft_io_snapshot_put_cb cb)
{
    return snapput_put(&raftnode_of_io(io)->snapput, trailing, req, snapshot, cb);
}

/* raft 0.15's libuv I/O can report its close twice: it checks whether it
 * has finished closing from several callbacks, and two of them can both
 * find it finished (test_api_stop_under_load: raft freed its address twice
 * under ASan). raft must hear it once; the reaper keeps the memory the
 * second report reads. */
static void io_closed_once(struct raft_io *io)
{
    struct raftnode *rn = raftnode_of_io(io);
    if (rn->io_closed)
        return;
    rn->io_closed = true;
    rn->io_close_cb(io);
}

static void io_close(struct raft_io *io, raft_io_close_cb cb)
{
    struct raftnode *rn = raftnode_of_io(io);
    rn->io_close_cb = cb;
    snapput_close(&rn->snapput, io_closed_once);
}

int raftnode_open(uv_loop_t *loop, const struct store_config *cfg,
                  struct raft_fsm *fsm, struct raftnode **out, char *errbuf,
                  size_t errlen)
{
    struct raftnode *rn;
    struct raft_configuration conf;
    struct stat st;
    raft_id id;
    int rv;

    if (!cfg->data_dir || !cfg->raft_address) {
        snprintf(errbuf, errlen, "store: data_dir and raft_address are required");
        return BE_INVAL;
    }
    if (stat(cfg->data_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(errbuf, errlen, "store: data dir %s: %s", cfg->data_dir,
                 errno ? strerror(errno) : "not a directory");
        return BE_IO;
    }
    /* a peer that dies must not kill us through a write to its socket */
    signal(SIGPIPE, SIG_IGN);

    rn = calloc(1, sizeof *rn);
    if (!rn)
        return BE_NOMEM;
    id = cfg->raft_id ? cfg->raft_id : raftnode_id_from_address(cfg->raft_address);

    rn->loop = loop;
    rn->segfill_slot = -1;
    /* segment closes must not stall the loop (aiodefer.c says why); every
     * error path below ends at err or in raftnode_close */
    aiodefer_start();
    if ((rv = raftnet_init(&rn->transport, loop)) != 0) {
        snprintf(errbuf, errlen, "raft transport: %s", raft_strerror(rv));
        goto err;
    }
    /* before raft_uv prepares its first segment (segfill.c says why) */
    rn->segfill_slot = segfill_register(cfg->data_dir);
    /* nor the frees after a snapshot (raftheap.c says why) */
    raftheap_install();
    if ((rv = raft_uv_init(&rn->io, loop, cfg->data_dir, &rn->transport.pub)) != 0) {
        snprintf(errbuf, errlen, "raft I/O in %s: %s", cfg->data_dir,
                 rn->io.errmsg[0] ? rn->io.errmsg : raft_strerror(rv));
        goto err_transport;
    }
    /* 64 MiB log segments instead of raft's 8 MiB: opening a new segment
     * stalls appends for tens of ms; at ~20 MB/s of creates that was every
     * 0.4 s and set the p99 (36 ms -> 10 ms at 64 clients, measured). */
    raft_uv_set_segment_size(&rn->io, 64u << 20);
    /* raft 0.15's libuv I/O implements async_work (uv_queue_work) but still
     * says version 1, and raft_init refuses an asynchronous snapshot
     * (fsm version 3, store.c) on an io below version 2. */
    if (rn->io.version < 2 && rn->io.async_work)
        rn->io.version = 2;
    /* The store compresses snapshot images itself, in the forked copier
     * (store/snapimg.c). */
    raft_uv_set_snapshot_compression(&rn->io, false);
    if ((rv = raft_init(&rn->raft, &rn->io, fsm, id, cfg->raft_address)) != 0) {
        snprintf(errbuf, errlen, "raft init: %s", raft_errmsg(&rn->raft));
        goto err_io;
    }
    rn->raft.data = rn;

    raft_configuration_init(&conf);
    rv = raft_configuration_add(&conf, id, cfg->raft_address, RAFT_VOTER);
    if (rv == 0 && cfg->recover) {
        /* lost quorum: this member alone, from its own log (raft appends
         * the configuration to the log on disk) */
        rv = raft_recover(&rn->raft, &conf);
        if (rv == 0)
            log_warn("store", "recovered: the configuration is now this member alone "
                     "(raft id %llu); other members must rejoin with --join", (unsigned long long)id);
        else
            snprintf(errbuf, errlen, "raft recover in %s: %s", cfg->data_dir,
                     raft_errmsg(&rn->raft));
    } else if (rv == 0 && !cfg->join) {
        rv = raft_bootstrap(&rn->raft, &conf);
        if (rv == 0)
            log_info("store", "bootstrapped a new cluster in %s (raft id %llu)",
                     cfg->data_dir, (unsigned long long)id);
        else if (rv != RAFT_CANTBOOTSTRAP)
            snprintf(errbuf, errlen, "raft bootstrap in %s: %s", cfg->data_dir,
                     raft_errmsg(&rn->raft));
        else if (cfg->restore)
            snprintf(errbuf, errlen, "restore needs an empty data dir; %s holds raft state",
                     cfg->data_dir);
        else
            rv = 0;
    }
    raft_configuration_close(&conf);
    if (rv != 0)
        goto err_raft;

    /* The store writes its snapshots itself, beside the log instead of in
     * front of it (store/snapput.c). After bootstrap: the segment it wrote
     * is what lets the writer take the first snapshot already. */
    if ((rv = snapput_init(&rn->snapput, &rn->io, loop, cfg->data_dir)) != 0) {
        snprintf(errbuf, errlen, "raft I/O: out of memory");
        goto err_raft;
    }
    rn->io.snapshot_put = io_snapshot_put;
    rn->io.close = io_close;

    /* Failover time is set by the SLOWER surviving follower: raft 0.15
     * rejects (pre-)votes while it still has a leader (recv_request_vote.c),
     * and it forgets the leader only when its own randomized timeout in
     * [T, 2T] fires, which raft checks once per tick (= heartbeat). With two
     * followers that is about T + 2T/3 + a tick after the last heartbeat:
     * 300/50 gave a 0.55-0.6 s median write gap, 200/25 ~0.39 s. A leader
     * whose loop stalls longer than T steps down; snapshots no longer stall
     * it (a fork: ~10 ms at 700 MB, store/snapjob.c), so the default is
     * 200/25. See docs/architecture.md ("Failover timing"). */
    unsigned et = cfg->election_timeout_ms ? cfg->election_timeout_ms : STORE_ELECTION_MS;
    unsigned hb = cfg->heartbeat_ms ? cfg->heartbeat_ms : STORE_HEARTBEAT_MS;
    if (!cfg->heartbeat_ms && hb >= et) /* a short --election-timeout-ms alone */
        hb = et / 4 ? et / 4 : 1;       /* raft needs heartbeat < election timeout */
    raft_set_election_timeout(&rn->raft, et);
    raft_set_heartbeat_timeout(&rn->raft, hb);
    raft_set_pre_vote(&rn->raft, true);
    /* The store steers the threshold itself (see snapshot_policy in
     * store.c); this is only the value until the first entry is applied. */
    raft_set_snapshot_threshold(&rn->raft, cfg->snapshot_threshold
                                               ? cfg->snapshot_threshold
                                               : 65536);
    raft_set_snapshot_trailing(&rn->raft, cfg->snapshot_trailing
                                              ? cfg->snapshot_trailing
                                              : 256);
    raft_set_install_snapshot_timeout(&rn->raft, 2000);

    if ((rv = raft_start(&rn->raft)) != 0) {
        snprintf(errbuf, errlen, "raft start on %s: %s", cfg->raft_address,
                 raft_errmsg(&rn->raft)[0] ? raft_errmsg(&rn->raft)
                                           : "cannot listen (address in use or not local?)");
        goto err_raft;
    }
    *out = rn;
    return 0;

err_raft:
    /* raft owns io and transport now: they go in close_cb */
    raftnode_close(rn, NULL, NULL);
    return BE_IO;
err_io:
    raft_uv_close(&rn->io);
err_transport:
    raftnet_close(&rn->transport);
err:
    segfill_unregister(rn->segfill_slot);
    aiodefer_closing(); /* raft never started: no context in use */
    aiodefer_stop();
    free(rn);
    return rv == RAFT_NOMEM ? BE_NOMEM : BE_IO;
}
