/* raftheap.c: raft's allocator, with frees held back while raft compacts
 * its log after a snapshot.
 *
 * Why: snapshots fork (snapjob.c). The fork write-protects every page of
 * the heap, and the first write to each afterwards takes a page fault,
 * even once the child has exited. When a snapshot is written raft frees
 * every entry it compacted, all written before the fork, in one go on the
 * loop: ~20,000 buffers and as many faults in glibc's free() at a 400 MB
 * database, 20-30 ms in which the loop answered nobody (perf,
 * docs/benchmarks.md "Eighth session"). The log since the last snapshot is
 * up to half the database, so at 1.75 GB that would be ~100 ms, half an
 * election timeout.
 *
 * How: raft allocates through raft_heap_set(); this heap is libc's, except
 * that a free() on the loop thread between raftheap_defer_begin() and _end()
 * (snapput.c brackets raft's snapshot callback with them) only records the
 * pointer, in an array of its own: writing into the block would fault just
 * the same. The store's poll timer frees a few thousand of them per tick
 * (raftheap_drain), and raftnode.c frees the rest when raft has closed.
 * Nothing is lost if recording fails: the block is freed at once. */
#include "store/raftheap.h"

#include <raft.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

static _Thread_local bool deferring;
static _Thread_local void **held;   /* the recorded pointers */
static _Thread_local size_t held_n, held_cap, held_first;
static unsigned long deferred_total; /* loop thread only */

static void *heap_malloc(void *data, size_t size)
{
    (void)data;
    return malloc(size);
}

static bool record(void *ptr)
{
    if (held_n == held_cap) {
        size_t cap = held_cap ? held_cap * 2 : 4096;
        void **p = realloc(held, cap * sizeof *p);
        if (!p)
            return false;
        held = p;
        held_cap = cap;
    }
    held[held_n++] = ptr;
    deferred_total++;
    return true;
}

static void heap_free(void *data, void *ptr)
{
    (void)data;
    if (!ptr)
        return;
    if (deferring && record(ptr))
        return;
    free(ptr);
}

static void *heap_calloc(void *data, size_t nmemb, size_t size)
{
    (void)data;
    return calloc(nmemb, size);
}

static void *heap_realloc(void *data, void *ptr, size_t size)
{
    (void)data;
    return realloc(ptr, size);
}

static void *heap_aligned_alloc(void *data, size_t alignment, size_t size)
{
    (void)data;
    return aligned_alloc(alignment, size);
}

static void heap_aligned_free(void *data, size_t alignment, void *ptr)
{
    (void)data;
    (void)alignment;
    free(ptr);
}

static struct raft_heap heap = {
    .malloc = heap_malloc,
    .free = heap_free,
    .calloc = heap_calloc,
    .realloc = heap_realloc,
    .aligned_alloc = heap_aligned_alloc,
    .aligned_free = heap_aligned_free,
};

void raftheap_install(void)
{
    static bool installed;
    if (!installed) {
        raft_heap_set(&heap); /* the default is libc's too: blocks mix */
        installed = true;
    }
}

void raftheap_defer_begin(void)
{
    deferring = true;
}

void raftheap_defer_end(void)
{
    deferring = false;
}

size_t raftheap_drain(size_t max)
{
    if (!held)
        return 0; /* the usual case: the store's timer asks every tick */
    while (max > 0 && held_first < held_n) {
        free(held[held_first++]);
        max--;
    }
    if (held_first == held_n) {
        free(held);
        held = NULL;
        held_n = held_cap = held_first = 0;
    }
    return held_n - held_first;
}

unsigned long raftheap_deferred_total(void)
{
    return deferred_total;
}
