/* raftnet.h: raft's TCP transport with TCP_NODELAY on every connection.
 *
 * Internal to the store. canonical raft 0.15's raft_uv_tcp never disables
 * Nagle's algorithm, so a small message (an append-entries result, the tail
 * of an append request) can wait for the ACK of the previous segment, which
 * the peer's delayed-ACK timer may hold for up to 40 ms: that set the p99 of
 * writes. struct raftnet is a raft_uv_transport that wraps the TCP one and
 * sets TCP_NODELAY on each stream it accepts or connects before handing it
 * to raft; everything else is passed through. */
#ifndef BERTH_STORE_RAFTNET_H
#define BERTH_STORE_RAFTNET_H

#include <raft.h>
#include <raft/uv.h>
#include <uv.h>

struct raftnet {
    struct raft_uv_transport pub;   /* what raft_uv_init gets */
    struct raft_uv_transport tcp;   /* raft_uv_tcp, does the work */
    raft_uv_accept_cb accept_cb;
    raft_uv_transport_close_cb close_cb;
};

/* Initializes the wrapper and the TCP transport inside it. Returns a raft
 * error code (0 on success); on failure nothing needs closing. */
int raftnet_init(struct raftnet *n, uv_loop_t *loop);

/* Releases the TCP transport's memory; call after raft has closed the
 * transport (the same point where raft_uv_tcp_close would be called). */
void raftnet_close(struct raftnet *n);

#endif
