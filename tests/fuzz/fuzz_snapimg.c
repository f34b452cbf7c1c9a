/* fuzz_snapimg.c: libFuzzer harness for store/snapimg.c, the snapshot image
 * format (images come from raft peers installing a snapshot, and from
 * `berthd --restore FILE`: hostile input). Not built by CMake; see
 * tests/fuzz/run.sh.
 *
 * Any input is decoded or rejected with an error and nothing allocated.
 * Round trip: a non-empty input encoded is recognized as encoded and
 * decodes to the input again (an empty database is not an image). */
#include "store/snapimg.h"

#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    void *raw = NULL;
    size_t raw_len = 0;
    if (snapimg_decode(data, size, &raw, &raw_len) == 0)
        sqlite3_free(raw);

    if (size == 0)
        return 0;
    size_t bound = snapimg_bound(size);
    void *enc = malloc(bound ? bound : 1), *state = malloc(snapimg_state_size());
    if (!enc || !state) {
        free(enc);
        free(state);
        return 0;
    }
    size_t n = snapimg_encode(data, size, enc, state);
    if (n == 0 || n > bound || !snapimg_is_encoded(enc, n)) {
        fprintf(stderr, "encoding %zu bytes failed or is not recognized\n", size);
        abort();
    }
    raw = NULL;
    if (snapimg_decode(enc, n, &raw, &raw_len) != 0 || raw_len != size ||
        (size && memcmp(raw, data, size) != 0)) {
        fprintf(stderr, "round trip of %zu bytes changed them\n", size);
        abort();
    }
    sqlite3_free(raw);
    free(enc);
    free(state);
    return 0;
}
