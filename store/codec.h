/* codec.h: the binary form of a batch of store mutations (one raft entry).
 *
 * Internal to the store. An entry is a header (format version, mutation
 * count) followed by one record per mutation: fixed-size fields, then the
 * strings, each followed by a NUL so decoded fields can point into the entry
 * buffer without copying. All integers are little endian.
 *
 * Entries come from raft peers and are hostile input: codec_decode() checks
 * every length against the buffer and rejects anything malformed. Since every
 * member decodes the same bytes, accepting or rejecting is deterministic. */
#ifndef BERTH_STORE_CODEC_H
#define BERTH_STORE_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

#define CODEC_VERSION 1
#define CODEC_HDR_SIZE 8      /* version, 3 zero bytes, u32 count */
#define CODEC_MUT_FIXED 36    /* op, flags, u16 zero, 6 x u32 len, u64 rev */
#define CODEC_MAX_STR 4096    /* resource, ns, name, node, owner */
#define CODEC_ALIGN 8         /* entries are zero-padded to a multiple */

/* A decoded mutation. Strings point into the entry buffer and are
 * NUL-terminated; node and owner are NULL when absent (an empty node or owner
 * decodes as absent). json is NULL for DELETE. */
struct codec_mut {
    uint8_t op;
    uint64_t expect_rev;
    const char *resource, *ns, *name, *node, *owner, *json;
    uint32_t resource_len, ns_len, name_len, node_len, owner_len, json_len;
};

/* Bytes one mutation takes in an entry. Returns 0 (and the mutation must be
 * refused with BE_INVAL) if a field is missing or too long, or the op is
 * unknown. */
size_t codec_mut_size(const struct store_mut *m);

/* Writes the entry header for `count` mutations to dst (CODEC_HDR_SIZE). */
void codec_write_header(void *dst, uint32_t count);

/* Writes one mutation, which codec_mut_size() accepted, to dst; returns the
 * bytes written (== codec_mut_size(m)). */
size_t codec_write_mut(void *dst, const struct store_mut *m);

/* Rounds an entry length up to CODEC_ALIGN (raft 0.15's libuv log corrupts
 * its segments on restart when entry lengths are not multiples of 8). */
static inline size_t codec_padded(size_t len)
{
    return (len + CODEC_ALIGN - 1) & ~(size_t)(CODEC_ALIGN - 1);
}

/* Decodes an entry (trailing zero padding below CODEC_ALIGN is allowed). *muts and *cap are a caller-owned array grown with realloc as
 * needed (it survives calls, so steady state allocates nothing). Returns 0
 * and sets *n, BE_PROTO if the entry is malformed (then *n is 0), or BE_NOMEM. */
int codec_decode(const void *buf, size_t len, struct codec_mut **muts,
                 size_t *cap, size_t *n);

#endif
