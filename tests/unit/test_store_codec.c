/* test_store_codec.c: the raft entry codec round-trips batches and rejects
 * truncated, padded and garbage entries without reading out of bounds. */
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "store/codec.h"
#include "unit.h"

static const struct store_mut sample[] = {
    {.op = STORE_CREATE, .resource = "pods", .ns = "default", .name = "web-1",
     .json = "{\"metadata\":{\"name\":\"web-1\"}}", .json_len = 28,
     .node = "n1", .owner = "uid-1"},
    {.op = STORE_UPDATE, .resource = "pods", .ns = "default", .name = "web-2",
     .expect_rev = 42, .json = "{\"metadata\":{\"a\":1}}", .json_len = 20},
    {.op = STORE_DELETE, .resource = "nodes", .ns = "", .name = "n1",
     .expect_rev = 7, .node = ""},
};

static size_t encode(const struct store_mut *m, size_t n, uint8_t **out)
{
    size_t total = CODEC_HDR_SIZE;
    for (size_t i = 0; i < n; i++)
        total += codec_mut_size(&m[i]);
    uint8_t *buf = malloc(total), *p = buf + CODEC_HDR_SIZE;
    codec_write_header(buf, (uint32_t)n);
    for (size_t i = 0; i < n; i++)
        p += codec_write_mut(p, &m[i]);
    CHECK_INT(p - buf, total);
    *out = buf;
    return total;
}

static void test_round_trip(void)
{
    uint8_t *buf;
    size_t len = encode(sample, 3, &buf);
    struct codec_mut *m = NULL;
    size_t cap = 0, n = 0;
    CHECK_INT(codec_decode(buf, len, &m, &cap, &n), 0);
    CHECK_INT(n, 3);
    CHECK_INT(m[0].op, STORE_CREATE);
    CHECK_STR(m[0].resource, "pods");
    CHECK_STR(m[0].ns, "default");
    CHECK_STR(m[0].name, "web-1");
    CHECK_STR(m[0].node, "n1");
    CHECK_STR(m[0].owner, "uid-1");
    CHECK_INT(m[0].json_len, 28);
    CHECK(memcmp(m[0].json, sample[0].json, 28) == 0);
    CHECK_INT(m[0].expect_rev, 0);
    CHECK_INT(m[1].expect_rev, 42);
    CHECK(m[1].node == NULL && m[1].owner == NULL);
    CHECK_INT(m[2].op, STORE_DELETE);
    CHECK_STR(m[2].ns, "");
    CHECK(m[2].json == NULL);
    CHECK(m[2].node == NULL); /* "" travels as absent */
    free(m);
    free(buf);
}

static void test_refuses_bad_mutations(void)
{
    struct store_mut m = sample[0];
    m.op = 9;
    CHECK_INT(codec_mut_size(&m), 0);
    m = sample[0];
    m.name = "";
    CHECK_INT(codec_mut_size(&m), 0);
    m = sample[0];
    m.resource = NULL;
    CHECK_INT(codec_mut_size(&m), 0);
    m = sample[0];
    m.json = NULL;
    CHECK_INT(codec_mut_size(&m), 0);
}

static void test_truncated_and_padded(void)
{
    uint8_t *buf;
    size_t len = encode(sample, 3, &buf);
    struct codec_mut *m = NULL;
    size_t cap = 0, n = 0;
    for (size_t cut = 0; cut < len; cut++) {
        /* a fresh copy of exactly `cut` bytes so ASan sees any over-read */
        uint8_t *t = malloc(cut ? cut : 1);
        memcpy(t, buf, cut);
        CHECK_INT(codec_decode(t, cut, &m, &cap, &n), BE_PROTO);
        CHECK_INT(n, 0);
        free(t);
    }
    /* up to 7 zero bytes of padding pass; more, or non-zero, do not */
    uint8_t *pad = calloc(1, len + 8);
    memcpy(pad, buf, len);
    CHECK_INT(codec_decode(pad, len + 7, &m, &cap, &n), 0);
    CHECK_INT(n, 3);
    CHECK_INT(codec_decode(pad, len + 8, &m, &cap, &n), BE_PROTO);
    pad[len + 1] = 1;
    CHECK_INT(codec_decode(pad, len + 7, &m, &cap, &n), BE_PROTO);
    buf[0] = 2; /* unknown format version */
    CHECK_INT(codec_decode(buf, len, &m, &cap, &n), BE_PROTO);
    buf[0] = CODEC_VERSION;
    buf[4] = 4; /* count larger than the records */
    CHECK_INT(codec_decode(buf, len, &m, &cap, &n), BE_PROTO);
    buf[4] = 3;
    CHECK_INT(codec_decode(buf, len, &m, &cap, &n), 0);
    CHECK_INT(codec_decode(NULL, 0, &m, &cap, &n), BE_PROTO);
    free(pad);
    free(m);
    free(buf);
}

static void test_field_corruption(void)
{
    uint8_t *buf;
    size_t len = encode(sample, 1, &buf);
    struct codec_mut *m = NULL;
    size_t cap = 0, n = 0;
    /* every single-byte change in the record header either still decodes
     * to something consistent or is rejected; none may crash */
    for (size_t i = 0; i < len; i++) {
        for (int v = 0; v < 256; v += 17) {
            uint8_t *t = malloc(len);
            memcpy(t, buf, len);
            t[i] = (uint8_t)v;
            int rc = codec_decode(t, len, &m, &cap, &n);
            CHECK(rc == 0 || rc == BE_PROTO);
            if (rc == 0)
                CHECK_INT(n, 1);
            free(t);
        }
    }
    /* an embedded NUL in a name is rejected */
    uint8_t *t = malloc(len);
    memcpy(t, buf, len);
    t[CODEC_HDR_SIZE + CODEC_MUT_FIXED + 1] = 0; /* "p\0ds" */
    CHECK_INT(codec_decode(t, len, &m, &cap, &n), BE_PROTO);
    free(t);
    free(buf);
    free(m);
}

static void test_garbage(void)
{
    struct codec_mut *m = NULL;
    size_t cap = 0, n = 0;
    unsigned seed = 12345;
    for (int round = 0; round < 20000; round++) {
        size_t len = (size_t)(rand_r(&seed) % 200);
        uint8_t *t = malloc(len ? len : 1);
        for (size_t i = 0; i < len; i++)
            t[i] = (uint8_t)rand_r(&seed);
        if (len > 8 && round % 2) { /* plausible header, random body */
            t[0] = CODEC_VERSION;
            t[1] = t[2] = t[3] = 0;
            t[4] = (uint8_t)(1 + round % 3);
            t[5] = t[6] = t[7] = 0;
        }
        int rc = codec_decode(t, len, &m, &cap, &n);
        CHECK(rc == 0 || rc == BE_PROTO);
        free(t);
    }
    free(m);
}

int main(void)
{
    RUN(test_round_trip);
    RUN(test_refuses_bad_mutations);
    RUN(test_truncated_and_padded);
    RUN(test_field_corruption);
    RUN(test_garbage);
    UNIT_EXIT();
}
