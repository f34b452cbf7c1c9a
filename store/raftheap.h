/* raftheap.h: raft's allocator, with frees held back while raft compacts
 * its log after a snapshot (see raftheap.c for why). Internal to the store.
 * Everything here runs on the loop thread, except the allocator itself,
 * which raft may call from any thread. */
#ifndef BERTH_STORE_RAFTHEAP_H
#define BERTH_STORE_RAFTHEAP_H

#include <stddef.h>

/* Makes raft allocate through this module (raft_heap_set). Idempotent;
 * call before raft allocates. */
void raftheap_install(void);

/* Between begin and end, raft_free() on this thread only records the
 * pointer; raftheap_drain() frees it later. */
void raftheap_defer_begin(void);
void raftheap_defer_end(void);

/* Frees up to max recorded pointers, oldest first; returns how many are
 * still recorded. raftheap_drain(SIZE_MAX) frees them all. */
size_t raftheap_drain(size_t max);

/* For tests: pointers recorded so far in all. */
unsigned long raftheap_deferred_total(void);

#endif
