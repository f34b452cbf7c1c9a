/* entry.h: store mutations encoded as one raft entry (store/codec.h), for
 * the harnesses that need real entries (fuzz_codec, fuzz_fsm). */
#ifndef BERTH_FUZZ_ENTRY_H
#define BERTH_FUZZ_ENTRY_H

#include <stdint.h>
#include <stdlib.h>

#include "store/codec.h"

/* A calloc'd entry of the n mutations (which codec_mut_size accepts),
 * zero-padded as the store proposes it; *len its length. NULL: no memory. */
static inline uint8_t *entry_encode(const struct store_mut *m, size_t n, size_t *len)
{
    size_t total = CODEC_HDR_SIZE;
    for (size_t i = 0; i < n; i++)
        total += codec_mut_size(&m[i]);
    uint8_t *buf = calloc(1, codec_padded(total));
    if (!buf)
        return NULL;
    codec_write_header(buf, (uint32_t)n);
    size_t off = CODEC_HDR_SIZE;
    for (size_t i = 0; i < n; i++)
        off += codec_write_mut(buf + off, &m[i]);
    *len = codec_padded(total);
    return buf;
}

#endif
