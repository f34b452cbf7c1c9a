/* fuzz_fsm.c: libFuzzer harness for restoring the store's state machine
 * from a snapshot image (store/fsm.c fsm_restore: the image comes from a raft
 * peer installing a snapshot, or from `berthd --restore FILE`). Not built by
 * CMake; see tests/fuzz/run.sh.
 *
 * The input is restored as an image (raw sqlite database or snapimg-encoded).
 * A rejected image must leave the state machine as it was (its revision and
 * object count unchanged, a known object still readable). An accepted one
 * must then serve reads and lists and apply a batch of writes without
 * crashing, whatever its tables hold.
 *
 * With FUZZ_SEED_OUT=DIR set, LLVMFuzzerInitialize writes seeds there and
 * exits: the image of a small real state machine, raw and encoded, and
 * copies of it whose rows hold what berthd never writes (the schema is
 * right, so they are restored, and the reads and writes must cope). */
#include "store/fsm.h"

#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "store/codec.h"
#include "store/snapimg.h"
#include "entry.h"

static struct fsm *f;
static uint64_t base_rev, base_count;

/* Encodes muts as one raft entry and applies it; fsm_apply's result. */
static int apply_muts(const struct store_mut *m, size_t n)
{
    size_t len;
    uint8_t *buf = entry_encode(m, n, &len);
    if (!buf)
        return BE_NOMEM;
    const struct store_result *res;
    size_t nres;
    int rc = fsm_apply(f, buf, len, &res, &nres);
    free(buf);
    return rc;
}

/* Applies one batch: create, update and delete of a few objects. */
static void apply_batch(void)
{
    static const char json[] = "{\"metadata\":{\"name\":\"x\"},\"data\":{\"k\":\"v\"}}";
    struct store_mut m[4] = {
        {.op = STORE_CREATE, .resource = "configmaps", .ns = "default", .name = "fz",
         .json = json, .json_len = sizeof json - 1},
        {.op = STORE_UPDATE, .resource = "configmaps", .ns = "default", .name = "a",
         .json = json, .json_len = sizeof json - 1},
        {.op = STORE_CREATE, .resource = "pods", .ns = "default", .name = "p",
         .json = json, .json_len = sizeof json - 1, .node = "n1", .owner = "u1"},
        {.op = STORE_DELETE, .resource = "configmaps", .ns = "default", .name = "b"},
    };
    (void)apply_muts(m, 4);
}

static int count_cb(void *data, const char *ns, const char *name, uint64_t rev,
                    const char *json, size_t len)
{
    (void)ns, (void)name, (void)rev;
    size_t *seen = data;
    if (json && len)
        *seen += (unsigned char)json[len - 1];
    return 0;
}

static void exercise(void)
{
    char *json = NULL;
    size_t len, seen = 0;
    uint64_t rev;
    (void)fsm_revision(f);
    (void)fsm_count(f);
    if (fsm_get(f, "configmaps", "default", "a", &json, &len, &rev) == 0)
        free(json);
    (void)fsm_exists(f, "pods", "default", "p");
    struct store_list_opts all = {0}, page = {.ns = "default", .after_ns = "default",
                                              .after_name = "a", .limit = 3},
                           node = {.node = "n1"};
    (void)fsm_list(f, "configmaps", &all, count_cb, &seen);
    (void)fsm_list(f, "configmaps", &page, count_cb, &seen);
    (void)fsm_list(f, "pods", &node, count_cb, &seen);
    apply_batch();
    (void)fsm_db_bytes(f);
}

static void write_file(const char *dir, const char *name, const void *p, size_t n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *o = fopen(path, "wb");
    if (!o || fwrite(p, 1, n, o) != n)
        abort();
    fclose(o);
}

/* Copies of the image img with one statement run on each. */
static void write_hostile_seeds(const char *dir, const void *img, size_t len)
{
    static const char *const sql[] = {
        "UPDATE objects SET json='x' WHERE name='a'",
        "UPDATE objects SET json='' WHERE name='a'",
        "UPDATE objects SET json='{\"metadata\":{\"resourceVersion\":\"' WHERE name='b'",
        "UPDATE objects SET json='{\"metadata\":{\"resourceVersion\":\"7\"' WHERE name='a'",
        "UPDATE objects SET rev=-1 WHERE name='a'",
        "UPDATE objects SET rev=9223372036854775807 WHERE name='b'",
        "UPDATE objects SET node='', owner='' WHERE name='a'",
        "UPDATE objects SET resource='pods', node='n1' WHERE name='b'",
        "UPDATE objects SET json=zeroblob(100) WHERE name='a'",
        "UPDATE objects SET json=CAST(x'00ff' AS TEXT) WHERE name='b'",
        "UPDATE meta SET v=9223372036854775807 WHERE k='rev'",
        "INSERT INTO objects(resource,ns,name,rev,json) VALUES('configmaps','default',"
        "printf('%.300c','n'),3,'{}')",
    };
    for (size_t i = 0; i < sizeof sql / sizeof *sql; i++) {
        sqlite3 *db;
        unsigned char *copy = sqlite3_malloc64(len);
        if (!copy || sqlite3_open(":memory:", &db) != SQLITE_OK)
            abort();
        memcpy(copy, img, len);
        sqlite3_int64 n = 0;
        unsigned char *out = NULL;
        if (sqlite3_deserialize(db, "main", copy, (sqlite3_int64)len, (sqlite3_int64)len,
                                SQLITE_DESERIALIZE_FREEONCLOSE | SQLITE_DESERIALIZE_RESIZEABLE) ==
                SQLITE_OK &&
            sqlite3_exec(db, sql[i], NULL, NULL, NULL) == SQLITE_OK)
            out = sqlite3_serialize(db, "main", &n, 0);
        if (!out) {
            fprintf(stderr, "seed %zu: %s\n", i, sqlite3_errmsg(db));
            abort();
        }
        char name[32];
        snprintf(name, sizeof name, "seed-hostile-%zu", i);
        write_file(dir, name, out, (size_t)n);
        sqlite3_free(out);
        sqlite3_close(db);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    char err[256];
    if (fsm_open(&f, NULL, err, sizeof err) != 0) {
        fprintf(stderr, "fsm_open: %s\n", err);
        abort();
    }
    fsm_set_quota(f, 64u << 20);
    /* a known state: a, b and the objects of one batch */
    static const char json[] = "{\"metadata\":{\"name\":\"a\"}}";
    struct store_mut m[2] = {
        {.op = STORE_CREATE, .resource = "configmaps", .ns = "default", .name = "a",
         .json = json, .json_len = sizeof json - 1},
        {.op = STORE_CREATE, .resource = "configmaps", .ns = "default", .name = "b",
         .json = json, .json_len = sizeof json - 1},
    };
    if (apply_muts(m, 2) != 0)
        abort();
    base_rev = fsm_revision(f);
    base_count = fsm_count(f);
    const char *dir = getenv("FUZZ_SEED_OUT");
    if (dir) {
        const void *img;
        size_t len;
        if (fsm_image(f, &img, &len) != 0)
            abort();
        write_file(dir, "seed-raw", img, len);
        void *enc = malloc(snapimg_bound(len)), *state = malloc(snapimg_state_size());
        size_t elen = snapimg_encode(img, len, enc, state);
        write_file(dir, "seed-encoded", enc, elen);
        write_hostile_seeds(dir, img, len);
        free(enc);
        free(state);
        fsm_close(f);
        exit(0);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > (1u << 20))
        return 0;
    if (fsm_restore(f, data, size) != 0) {
        char *json = NULL;
        size_t len;
        if (fsm_revision(f) != base_rev || fsm_count(f) != base_count ||
            fsm_get(f, "configmaps", "default", "a", &json, &len, NULL) != 0) {
            fprintf(stderr, "a rejected image changed the state machine\n");
            abort();
        }
        free(json);
        return 0;
    }
    exercise();
    /* back to the known state for the next input */
    fsm_close(f);
    LLVMFuzzerInitialize(NULL, NULL);
    return 0;
}
