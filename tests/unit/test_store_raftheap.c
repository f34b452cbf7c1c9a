/* test_store_raftheap.c: raft's allocator (store/raftheap.c). Outside a
 * deferral window raft_free frees at once; inside one it records the
 * pointer, and raftheap_drain frees the recorded ones in batches, oldest
 * first, each exactly once (the sanitizers see a leak or a double free).
 * A real store's snapshot defers raft's frees (test_store_disk). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <raft.h>

#include "store/raftheap.h"
#include "unit.h"

static void test_immediate(void)
{
    raftheap_install();
    raftheap_install(); /* idempotent */
    unsigned long n = raftheap_deferred_total();
    char *p = raft_malloc(100);
    CHECK(p != NULL);
    memset(p, 1, 100);
    raft_free(p);
    p = raft_calloc(10, 10);
    CHECK(p && p[99] == 0);
    p = raft_realloc(p, 1000);
    CHECK(p != NULL);
    raft_free(p);
    void *a = raft_aligned_alloc(4096, 8192);
    CHECK(a && ((uintptr_t)a & 4095) == 0);
    raft_aligned_free(4096, a);
    CHECK_INT(raftheap_deferred_total(), n);
    CHECK_INT(raftheap_drain(SIZE_MAX), 0);
}

static void test_deferred(void)
{
    unsigned long n = raftheap_deferred_total();
    enum { N = 10000 };
    raftheap_defer_begin();
    for (int i = 0; i < N; i++) {
        char *p = raft_malloc(1500);
        CHECK(p != NULL);
        p[0] = (char)i;
        raft_free(p);
    }
    raft_free(NULL); /* not recorded */
    raftheap_defer_end();
    CHECK_INT(raftheap_deferred_total(), n + N);
    CHECK_INT(raftheap_drain(4096), N - 4096);
    CHECK_INT(raftheap_drain(4096), N - 8192);
    /* frees after the window are immediate again, while some still wait */
    raft_free(raft_malloc(10));
    CHECK_INT(raftheap_deferred_total(), n + N);
    CHECK_INT(raftheap_drain(SIZE_MAX), 0);
    CHECK_INT(raftheap_drain(SIZE_MAX), 0);
}

int main(void)
{
    RUN(test_immediate);
    RUN(test_deferred);
    UNIT_EXIT();
}
