/* aiodefer.h: raft_uv's kernel AIO contexts destroyed off the loop (see
 * aiodefer.c for why and how). Internal to the store.
 *
 * The calls count, so several raft instances in one process (tests) work:
 * contexts are destroyed on a helper thread while at least one instance
 * has started and none is closing. */
#ifndef BERTH_STORE_AIODEFER_H
#define BERTH_STORE_AIODEFER_H

/* A raft_uv instance is about to start. */
void aiodefer_start(void);

/* One is about to close: until its aiodefer_stop(), every io_destroy runs
 * where it is called, as libc's would (a close may cancel writes still in
 * flight, and only a synchronous io_destroy waits for them). */
void aiodefer_closing(void);

/* That one is closed (after aiodefer_closing). */
void aiodefer_stop(void);

/* For tests: contexts handed to a helper thread so far, and how many of
 * those are not destroyed yet. */
unsigned long aiodefer_count(void);
unsigned aiodefer_pending(void);

#endif
