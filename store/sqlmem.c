/* sqlmem.c: sqlite's allocator, with the big blocks on huge pages.
 *
 * The state machine is one memdb buffer (hundreds of MB) that sqlite grows
 * with sqlite3_realloc. Snapshots fork (snapjob.c), and a fork copies one
 * page-table entry per resident 4 KiB page: 14-22 ms on the loop for
 * 900 MB here, against 0.4 ms when the memory is on 2 MiB transparent huge
 * pages (measured). This host, like most, enables THP only where
 * madvise(MADV_HUGEPAGE) asks for it, so blocks of SQLMEM_BIG bytes and
 * more get their own mapping, advised so, and grow with mremap (no copy);
 * smaller ones come from malloc. Every block carries a header with its size,
 * as sqlite's own allocator does when malloc_usable_size is unavailable. */
#define _GNU_SOURCE
#include "store/sqlmem.h"

#include <assert.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define SQLMEM_BIG ((size_t)4 << 20)
#define HUGE_PAGE ((size_t)2 << 20)

struct hdr {
    size_t size;   /* bytes asked for */
    size_t maplen; /* 0: from malloc; else the mapping's length */
};

static size_t map_len(size_t n)
{
    return (sizeof(struct hdr) + n + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
}

static void *big_alloc(size_t n)
{
    size_t len = map_len(n);
    struct hdr *h = mmap(NULL, len, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (h == MAP_FAILED)
        return NULL;
    madvise(h, len, MADV_HUGEPAGE); /* advice: no THP is not an error */
    h->size = n;
    h->maplen = len;
    return h + 1;
}

static void *m_malloc(int n)
{
    if (n < 0)
        return NULL;
    if ((size_t)n >= SQLMEM_BIG)
        return big_alloc((size_t)n);
    struct hdr *h = malloc(sizeof *h + (size_t)n);
    if (!h)
        return NULL;
    h->size = (size_t)n;
    h->maplen = 0;
    return h + 1;
}

static void m_free(void *p)
{
    if (!p)
        return;
    struct hdr *h = (struct hdr *)p - 1;
    if (h->maplen)
        munmap(h, h->maplen);
    else
        free(h);
}

static int m_size(void *p)
{
    return p ? (int)((struct hdr *)p - 1)->size : 0;
}

static void *m_realloc(void *p, int n)
{
    if (n < 0)
        return NULL;
    assert(p); /* sqlite3Realloc turns realloc(NULL) into malloc */
    struct hdr *h = (struct hdr *)p - 1;
    if (h->maplen && (size_t)n >= SQLMEM_BIG) {
        size_t len = map_len((size_t)n);
        if (len != h->maplen) {
            struct hdr *g = mremap(h, h->maplen, len, MREMAP_MAYMOVE);
            if (g == MAP_FAILED)
                return NULL;
            madvise(g, len, MADV_HUGEPAGE);
            h = g;
            h->maplen = len;
        }
        h->size = (size_t)n;
        return h + 1;
    }
    if (!h->maplen && (size_t)n < SQLMEM_BIG) {
        struct hdr *g = realloc(h, sizeof *g + (size_t)n);
        if (!g)
            return NULL;
        g->size = (size_t)n;
        return g + 1;
    }
    /* crossing the threshold either way: move */
    void *q = m_malloc(n);
    if (!q)
        return NULL;
    memcpy(q, p, h->size < (size_t)n ? h->size : (size_t)n);
    m_free(p);
    return q;
}

static int m_roundup(int n)
{
    return (n + 7) & ~7;
}

static int m_init(void *unused)
{
    (void)unused;
    return SQLITE_OK;
}

static void m_shutdown(void *unused)
{
    (void)unused;
}

static const sqlite3_mem_methods methods = {
    m_malloc, m_free, m_realloc, m_size, m_roundup, m_init, m_shutdown, NULL,
};

int sqlmem_install(void)
{
    static int done, rc;
    if (!done) {
        done = 1;
        rc = sqlite3_config(SQLITE_CONFIG_MALLOC, &methods);
        /* no allocation statistics: nothing reads them, and keeping them
         * takes a global mutex around every sqlite malloc and free */
        if (rc == SQLITE_OK)
            sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    }
    return rc == SQLITE_OK ? 0 : -1;
}
