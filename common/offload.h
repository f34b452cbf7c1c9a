/* offload.h: one worker thread beside a libuv loop, for CPU-bound work that
 * needs neither the loop nor shared state (berthd parses, validates and
 * serializes request bodies on it; see docs/architecture.md).
 *
 * Why not uv_queue_work: libuv's pool wakes a thread and writes an eventfd
 * per item, and under load that hop cost more than the parse it moved
 * (measured: docs/benchmarks.md). Here the loop appends to a queue under a
 * mutex and signals only when the worker sleeps; the worker hands each
 * finished item back through one uv_async_t, which libuv coalesces. Under
 * load the worker rarely sleeps, so most items cost two short critical
 * sections and no system call.
 *
 * Work sharing: while short items (loop_may_run) wait in the queue, the
 * loop takes one per iteration and runs it itself. On two cores the worker
 * alone left the loop idle a third of the time while creates queued for
 * the worker; sharing raised 64-client creates/s by ~14%
 * (docs/benchmarks.md). Big bodies stay off the loop: the caller leaves
 * loop_may_run false for them.
 *
 * Contract: work() runs on the worker thread, or on the loop for a
 * loop_may_run item, and may touch only what the item owns; done() runs on
 * the loop once for every item submitted, in the order the items were
 * finished. The item is the caller's memory; it must stay valid until
 * done() and may be freed by done(). */
#ifndef BERTH_OFFLOAD_H
#define BERTH_OFFLOAD_H

#include <stdbool.h>
#include <uv.h>

typedef struct offload offload_t;

struct offload_item {
    void (*work)(struct offload_item *it); /* worker thread (or loop) */
    void (*done)(struct offload_item *it); /* loop thread, after work */
    bool loop_may_run;                     /* short: the loop may run it too */
    struct offload_item *next;             /* private */
};

/* Starts the worker. Returns 0 or a BE_* code. */
int offload_start(uv_loop_t *loop, offload_t **out);

/* Queues it (work and done set). Returns 0, or BE_UNAVAIL once
 * offload_stop() was called (then done() is never called). */
int offload_submit(offload_t *o, struct offload_item *it);

/* Items submitted and not yet done (loop thread). */
unsigned offload_pending(const offload_t *o);

/* Finishes every queued item (their done() still runs), joins the thread,
 * closes the handle, frees o, then calls cb (may be NULL). */
void offload_stop(offload_t *o, void (*cb)(void *data), void *data);

#endif
