/* test_store_snapjob.c: snapshot images. A snapshot copy decodes to the
 * image as it was when the copy started, whatever the process writes into
 * it afterwards; a copy never waited for is stopped and reaped (also by
 * snapjob_free_async, which otherwise unmaps on the thread pool); the copier
 * holds none of the parent's descriptors. The encoding round-trips sizes
 * from one byte to several chunks, and decoding rejects truncated, padded
 * and corrupted images (a few thousand mutations) without reading out of
 * bounds. */
#define _GNU_SOURCE
#include <signal.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/errors.h"
#include "store/snapimg.h"
#include "store/snapjob.h"
#include "unit.h"

static void fill(unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(i * 131u + seed);
}

static int same(const unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != (unsigned char)(i * 131u + seed))
            return 0;
    return 1;
}

/* The copy decodes to the image filled with seed. */
static int copy_is(struct snapjob *j, size_t n, unsigned seed)
{
    void *raw = NULL;
    size_t raw_len = 0;
    if (snapimg_decode(snapjob_data(j), snapjob_len(j), &raw, &raw_len) != 0)
        return 0;
    int ok = raw_len == n && same(raw, n, seed);
    sqlite3_free(raw);
    return ok;
}

static void test_copy_is_frozen_at_start(void)
{
    size_t sizes[] = {1, 4095, 4096, 65537, (size_t)9 << 20};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        size_t n = sizes[k];
        unsigned char *img = malloc(n ? n : 1);
        fill(img, n, 7);
        struct snapjob *j = NULL;
        CHECK_INT(snapjob_start(img, n, &j), 0);
        fill(img, n, 99); /* the parent goes on writing at once */
        CHECK_INT(snapjob_wait(j), 0);
        CHECK(snapjob_len(j) > 0);
        CHECK(copy_is(j, n, 7));
        CHECK_INT(snapjob_wait(j), 0); /* a second wait answers the same */
        snapjob_free(j);
        free(img);
    }
}

static void test_free_without_wait_reaps(void)
{
    size_t n = (size_t)32 << 20;
    unsigned char *img = malloc(n);
    fill(img, n, 3);
    struct snapjob *j = NULL;
    CHECK_INT(snapjob_start(img, n, &j), 0);
    snapjob_free(j);
    /* no child is left behind, not even a zombie */
    CHECK_INT(waitpid(-1, NULL, WNOHANG), -1);
    free(img);
    snapjob_free(NULL);
}

static void test_free_async(void)
{
    uv_loop_t loop;
    CHECK_INT(uv_loop_init(&loop), 0);
    size_t n = (size_t)4 << 20;
    unsigned char *img = malloc(n);
    fill(img, n, 5);
    struct snapjob *j = NULL;
    CHECK_INT(snapjob_start(img, n, &j), 0);
    CHECK_INT(snapjob_wait(j), 0);
    snapjob_free_async(j, &loop);
    CHECK(uv_loop_alive(&loop)); /* the unmapping is queued */
    CHECK_INT(uv_run(&loop, UV_RUN_DEFAULT), 0);
    /* one never waited for: stopped and reaped in place */
    CHECK_INT(snapjob_start(img, n, &j), 0);
    snapjob_free_async(j, &loop);
    CHECK_INT(waitpid(-1, NULL, WNOHANG), -1);
    CHECK(!uv_loop_alive(&loop));
    snapjob_free_async(NULL, &loop);
    CHECK_INT(uv_loop_close(&loop), 0); /* the sanitizers see a leak */
    free(img);
}

static void test_copier_holds_no_descriptors(void)
{
    int p[2];
    CHECK_INT(pipe(p), 0);
    size_t n = (size_t)64 << 20; /* long enough to outlive the close below */
    unsigned char *img = malloc(n);
    fill(img, n, 1);
    struct snapjob *j = NULL;
    CHECK_INT(snapjob_start(img, n, &j), 0);
    close(p[1]);
    /* if the copier still held the write end, this read would block until
     * it exited; with it closed the read sees EOF at once */
    char c;
    CHECK_INT(read(p[0], &c, 1), 0);
    close(p[0]);
    CHECK_INT(snapjob_wait(j), 0);
    CHECK(copy_is(j, n, 1));
    snapjob_free(j);
    free(img);
}

static void test_encoding(void)
{
    size_t n = ((size_t)9 << 20) + 123;
    unsigned char *raw = malloc(n);
    fill(raw, n, 5);
    memset(raw + 1000, 0, 1 << 20); /* something compressible */
    size_t bound = snapimg_bound(n);
    unsigned char *img = malloc(bound);
    void *state = malloc(snapimg_state_size());
    size_t len = snapimg_encode(raw, n, img, state);
    CHECK(len > 16 && len < n);
    CHECK(snapimg_is_encoded(img, len));
    CHECK(!snapimg_is_encoded("SQLite format 3", 16));

    void *out = NULL;
    size_t out_len = 0;
    CHECK_INT(snapimg_decode(img, len, &out, &out_len), 0);
    CHECK_INT(out_len, n);
    CHECK(out && memcmp(out, raw, n) == 0);
    sqlite3_free(out);

    /* truncated anywhere, or with bytes after the end */
    size_t cuts[] = {0, 8, 15, 16, 20, 24, len / 2, len - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++)
        CHECK_INT(snapimg_decode(img, cuts[i], &out, &out_len),
                  BE_PROTO);
    unsigned char *padded = malloc(len + 1);
    memcpy(padded, img, len);
    padded[len] = 0;
    CHECK_INT(snapimg_decode(padded, len + 1, &out, &out_len), BE_PROTO);
    free(padded);

    /* the best case for LZ4 (zeros, ~255:1) is still within what a header
     * may claim for its size; a header claiming more than its chunks could
     * hold is refused (before the allocation, since the fuzzer found it) */
    n = ((size_t)8 << 20) + 5;
    memset(raw, 0, n);
    len = snapimg_encode(raw, n, img, state);
    CHECK(len < n / 200);
    CHECK_INT(snapimg_decode(img, len, &out, &out_len), 0);
    CHECK_INT(out_len, n);
    sqlite3_free(out);
    unsigned char big[40] = "BERTHSZ1";
    uint64_t claim = (uint64_t)1 << 30;
    memcpy(big + 8, &claim, 8); /* little endian, as on every target here */
    CHECK_INT(snapimg_decode(big, sizeof big, &out, &out_len), BE_PROTO);
    fill(raw, n, 5);

    /* random corruption never crashes; what decodes has a sane size
     * (on a one-chunk image: the chunk walk is the same) */
    n = 70000;
    len = snapimg_encode(raw, n, img, state);
    unsigned seed = 1;
    for (int k = 0; k < 3000; k++) {
        seed = seed * 1103515245u + 12345u;
        size_t at = 8 + (seed >> 4) % (k < 1000 ? 40 : len - 8);
        unsigned char was = img[at];
        img[at] ^= (unsigned char)(1u << (seed % 8));
        int rc = snapimg_decode(img, len, &out, &out_len);
        CHECK(rc == 0 || rc == BE_PROTO || rc == BE_NOMEM);
        if (rc == 0) {
            CHECK(out_len > 0 && out_len <= SNAPIMG_MAX_RAW);
            sqlite3_free(out);
        }
        img[at] = was;
    }
    free(state);
    free(img);
    free(raw);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    RUN(test_copy_is_frozen_at_start);
    RUN(test_free_without_wait_reaps);
    RUN(test_free_async);
    RUN(test_copier_holds_no_descriptors);
    RUN(test_encoding);
    return unit_failures ? 1 : 0;
}
