/* snapput.h: write a raft snapshot to disk without holding back appends.
 *
 * Internal to the store. raft 0.15's libuv I/O (raft_uv) puts every
 * snapshot behind a barrier that stops all log appends from closing the
 * open segment to its last fsync: 50-270 ms per snapshot here, the largest
 * part of the store's p99 under load. A snapshot that raft takes itself
 * (trailing > 0) needs no such barrier: the entries it covers are already
 * on disk, and newer canonical raft releases write it without one. So
 * snapput replaces raft_uv's snapshot_put with its own writer for that
 * case, on libuv's thread pool, producing the same files raft_uv does
 * (snapshot-TERM-INDEX-MS.meta and its data file) and removing the same
 * old snapshots and segments, so raft_uv's load and snapshot_get read them
 * unchanged. Installing a snapshot received from a leader (trailing == 0)
 * must reset the log, and still goes to raft_uv. */
#ifndef BERTH_STORE_SNAPPUT_H
#define BERTH_STORE_SNAPPUT_H

#include <raft.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

struct snapput {
    uv_loop_t *loop;
    char *dir;
    struct raft_io *io;
    int (*inner_put)(struct raft_io *io, unsigned trailing,
                     struct raft_io_snapshot_put *req,
                     const struct raft_snapshot *snapshot,
                     raft_io_snapshot_put_cb cb);
    void (*inner_close)(struct raft_io *io, raft_io_close_cb cb);
    bool closing;              /* close was called: no new puts */
    bool anchored;             /* a closed segment numbers the open ones */
    raft_io_close_cb close_cb; /* set while a close waits for the writer */
    /* the one put in flight (raft never has two) */
    bool busy;
    uv_work_t work;
    struct raft_io_snapshot_put *req;
    const struct raft_snapshot *snapshot;
    unsigned trailing;
    uint64_t timestamp;
    struct raft_buffer conf;   /* the encoded configuration */
    int status;
    char errmsg[256];
};

/* Remembers raft_uv's snapshot_put and close of `io`, whose files live in
 * dir. The owner then points io->snapshot_put and io->close at functions
 * that find `sp` from the io (it has no spare pointer: raft owns io->data)
 * and call snapput_put and snapput_close. */
int snapput_init(struct snapput *sp, struct raft_io *io, uv_loop_t *loop,
                 const char *dir);

/* snapshot_put: raft_uv's for trailing == 0, the writer otherwise. */
int snapput_put(struct snapput *sp, unsigned trailing,
                struct raft_io_snapshot_put *req,
                const struct raft_snapshot *snapshot, raft_io_snapshot_put_cb cb);
/* close: raft_uv's, once the writer (if busy) has finished. */
void snapput_close(struct snapput *sp, raft_io_close_cb cb);

/* Frees what init took (after the io is closed). */
void snapput_free(struct snapput *sp);

/* raft_uv's metadata checksum (CRC-32, polynomial 0x04c11db7, most
 * significant bit first, no reflection, no final xor), exposed for tests. */
uint32_t snapput_crc32(const void *buf, size_t len, uint32_t crc);

#endif
