/* snapimg.c: the form a state machine image takes in a raft snapshot.
 *
 * With raft's own LZ4 compression, the snapshot write of a 450 MB database
 * took 1.2 s on the loop's I/O path (and raft 0.15 held back every append
 * meanwhile; snapput.c now writes beside the log). So the store compresses
 * the image itself, in the forked copier (snapjob.c) before raft sees it,
 * and turns raft's compression off: the file written is ~6% of the
 * database.
 *
 * Format (little endian): "BERTHSZ1", u64 raw length, then chunks of at
 * most CHUNK raw bytes, each u32 raw length, u32 compressed length and an
 * LZ4 block. Chunks keep every block far below LZ4's 2 GiB input limit and
 * let decoding check each one against its stated size. A raw sqlite
 * database (what `cluster snapshot save` writes and `--restore` reads, and
 * snapshots taken before this format) starts "SQLite format 3": decoders
 * tell them apart by the magic. */
#include "store/snapimg.h"

#include <lz4.h>
#include <sqlite3.h>
#include <stdint.h>
#include <string.h>

#include "common/errors.h"
#include "store/le.h"

#define MAGIC "BERTHSZ1"
#define HDR 16
#define CHUNK ((size_t)4 << 20)
#define CHUNK_HDR 8

size_t snapimg_bound(size_t len)
{
    if (len > SNAPIMG_MAX_RAW)
        return 0;
    size_t chunks = (len + CHUNK - 1) / CHUNK;
    return HDR + chunks * (CHUNK_HDR + (size_t)LZ4_compressBound((int)CHUNK));
}

size_t snapimg_state_size(void)
{
    return (size_t)LZ4_sizeofState();
}

size_t snapimg_encode(const void *raw, size_t len, void *out, void *state)
{
    const char *src = raw;
    unsigned char *o = out;
    size_t at = HDR;
    memcpy(o, MAGIC, 8);
    le_put64(o + 8, len);
    for (size_t off = 0; off < len; off += CHUNK) {
        size_t n = len - off < CHUNK ? len - off : CHUNK;
        int cap = LZ4_compressBound((int)n);
        int c = LZ4_compress_fast_extState(state, src + off,
                                           (char *)o + at + CHUNK_HDR, (int)n,
                                           cap, 1);
        /* cannot fail with cap = bound; if it did, store the chunk as is */
        if (c <= 0) {
            memcpy(o + at + CHUNK_HDR, src + off, n);
            c = 0;
        }
        le_put32(o + at, (uint32_t)n);
        le_put32(o + at + 4, (uint32_t)c);
        at += CHUNK_HDR + (c ? (size_t)c : n);
    }
    return at;
}

bool snapimg_is_encoded(const void *img, size_t len)
{
    return len >= HDR && memcmp(img, MAGIC, 8) == 0;
}

int snapimg_decode(const void *img, size_t len, void **raw, size_t *raw_len)
{
    const unsigned char *p = img;
    if (!snapimg_is_encoded(img, len))
        return BE_PROTO;
    uint64_t total = le_get64(p + 8);
    if (total == 0 || total > SNAPIMG_MAX_RAW)
        return BE_PROTO;
    /* Nor more than the chunks that fit can hold, before allocating it: each
     * takes CHUNK_HDR bytes and at least one more and gives at most CHUNK,
     * and an LZ4 block expands at most ~255-fold. (A 20-byte file asking
     * for 2 GiB was allocated before; found by tests/fuzz/fuzz_snapimg.) */
    uint64_t body = len - HDR;
    if (total > body / (CHUNK_HDR + 1) * CHUNK || total > body * 256)
        return BE_PROTO;
    char *out = sqlite3_malloc64(total);
    if (!out)
        return BE_NOMEM;
    size_t at = HDR, done = 0;
    while (done < total) {
        if (len - at < CHUNK_HDR)
            goto bad;
        size_t n = le_get32(p + at), c = le_get32(p + at + 4);
        at += CHUNK_HDR;
        size_t stored = c ? c : n;
        if (n == 0 || n > CHUNK || n > total - done || stored > len - at)
            goto bad;
        if (c == 0)
            memcpy(out + done, p + at, n);
        else if (LZ4_decompress_safe((const char *)p + at, out + done, (int)c,
                                     (int)n) != (int)n)
            goto bad;
        at += stored;
        done += n;
    }
    if (at != len)
        goto bad;
    *raw = out;
    *raw_len = total;
    return 0;
bad:
    sqlite3_free(out);
    return BE_PROTO;
}
