/* snapimg.h: the on-disk form of a state machine image (see snapimg.c).
 * Internal to store/. */
#ifndef BERTH_STORE_SNAPIMG_H
#define BERTH_STORE_SNAPIMG_H

#include <stdbool.h>
#include <stddef.h>

/* Largest image that can be encoded (bytes of database). */
#define SNAPIMG_MAX_RAW ((size_t)0x7ff00000)

/* Bytes an encoding of len raw bytes may take (0 if len is too big). */
size_t snapimg_bound(size_t len);
/* Bytes of scratch state snapimg_encode needs. */
size_t snapimg_state_size(void);

/* Encodes [raw, raw+len) into out (snapimg_bound(len) bytes) with the
 * caller's state buffer; returns the encoded length. Calls no allocator
 * and takes no lock: safe in a child forked from a threaded process. */
size_t snapimg_encode(const void *raw, size_t len, void *out, void *state);

/* Whether img is an encoded image (else it is a raw sqlite database). */
bool snapimg_is_encoded(const void *img, size_t len);

/* Decodes an encoded image into *raw (sqlite3_malloc'd, len *raw_len).
 * 0, or BE_PROTO for anything malformed, BE_NOMEM. */
int snapimg_decode(const void *img, size_t len, void **raw, size_t *raw_len);

#endif
