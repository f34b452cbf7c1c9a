/* fuzz_codec.c: libFuzzer harness for store/codec.c, the raft entry format
 * (entries come from raft peers: hostile input). Not built by CMake; see
 * tests/fuzz/run.sh.
 *
 * Any input is decoded or rejected with BE_PROTO and no mutations. A decoded
 * entry holds only fields the encoder accepts (codec_mut_size), its strings
 * lie inside the input and end with their NUL, and encoding the mutations
 * again and decoding that gives the same mutations, as the state machine
 * sees them. (Not always the same bytes: the decoder also takes an empty
 * node or owner behind its flag, and a create's ignored expected revision,
 * which the encoder never writes; entries in existing logs may hold them.)
 *
 * With FUZZ_SEED_OUT=DIR set, LLVMFuzzerInitialize writes a seed there (an
 * entry of three mutations, one of each kind) and exits. */
#include "store/codec.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "entry.h"

static void check_str(const uint8_t *in, size_t size, const char *s, uint32_t len)
{
    if (!s)
        return;
    const uint8_t *p = (const uint8_t *)s;
    if (p < in || p + len >= in + size || s[len] != 0 || strlen(s) != len) {
        fprintf(stderr, "a decoded string is not inside the entry or not terminated\n");
        abort();
    }
}

static int same_str(const char *a, uint32_t al, const char *b, uint32_t bl)
{
    if (!a || !b)
        return !a && !b;
    return al == bl && memcmp(a, b, al) == 0;
}

/* Equal as fsm_apply uses them (a create's expect_rev is not looked at). */
static int same_mut(const struct codec_mut *a, const struct codec_mut *b)
{
    return a->op == b->op &&
           (a->op == STORE_CREATE || a->expect_rev == b->expect_rev) &&
           same_str(a->resource, a->resource_len, b->resource, b->resource_len) &&
           same_str(a->ns, a->ns_len, b->ns, b->ns_len) &&
           same_str(a->name, a->name_len, b->name, b->name_len) &&
           same_str(a->node, a->node_len, b->node, b->node_len) &&
           same_str(a->owner, a->owner_len, b->owner, b->owner_len) &&
           same_str(a->json, a->json_len, b->json, b->json_len);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    const char *dir = getenv("FUZZ_SEED_OUT");
    if (!dir)
        return 0;
    static const char json[] = "{\"metadata\":{\"name\":\"a\"}}";
    struct store_mut m[3] = {
        {.op = STORE_CREATE, .resource = "pods", .ns = "default", .name = "a",
         .json = json, .json_len = sizeof json - 1, .node = "n1", .owner = "u1"},
        {.op = STORE_UPDATE, .resource = "configmaps", .ns = "kube-system", .name = "b",
         .json = json, .json_len = sizeof json - 1, .expect_rev = 7},
        {.op = STORE_DELETE, .resource = "namespaces", .ns = "", .name = "c"},
    };
    size_t len;
    uint8_t *buf = entry_encode(m, 3, &len);
    char path[512];
    snprintf(path, sizeof path, "%s/seed-entry", dir);
    FILE *o = fopen(path, "wb");
    if (!buf || !o || fwrite(buf, 1, len, o) != len)
        abort();
    fclose(o);
    free(buf);
    exit(0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct codec_mut *muts;
    static size_t cap;
    size_t n = 99;
    int rc = codec_decode(data, size, &muts, &cap, &n);
    if (rc == BE_NOMEM)
        return 0;
    if (rc) {
        if (rc != BE_PROTO || n != 0)
            abort();
        return 0;
    }
    if (n == 0)
        abort();
    struct store_mut *sm = calloc(n, sizeof *sm);
    if (!sm)
        return 0;
    for (size_t i = 0; i < n; i++) {
        const struct codec_mut *m = &muts[i];
        check_str(data, size, m->resource, m->resource_len);
        check_str(data, size, m->ns, m->ns_len);
        check_str(data, size, m->name, m->name_len);
        check_str(data, size, m->node, m->node_len);
        check_str(data, size, m->owner, m->owner_len);
        if (m->json && ((const uint8_t *)m->json < data ||
                        (const uint8_t *)m->json + m->json_len >= data + size))
            abort();
        sm[i] = (struct store_mut){.op = m->op, .resource = m->resource, .ns = m->ns,
                                   .name = m->name, .expect_rev = m->expect_rev,
                                   .json = m->json, .json_len = m->json_len,
                                   .node = m->node, .owner = m->owner};
        if (codec_mut_size(&sm[i]) == 0) {
            fprintf(stderr, "decoded mutation %zu is one the encoder refuses\n", i);
            abort();
        }
    }
    size_t total;
    uint8_t *out = entry_encode(sm, n, &total);
    if (!out) {
        free(sm);
        return 0;
    }
    static struct codec_mut *again;
    static size_t again_cap;
    size_t n2 = 0;
    if (codec_decode(out, total, &again, &again_cap, &n2) != 0 || n2 != n) {
        fprintf(stderr, "re-encoded entry (%zu bytes) does not decode\n", total);
        abort();
    }
    for (size_t i = 0; i < n; i++)
        if (!same_mut(&muts[i], &again[i])) {
            fprintf(stderr, "mutation %zu changed in a round trip\n", i);
            abort();
        }
    free(out);
    free(sm);
    return 0;
}
