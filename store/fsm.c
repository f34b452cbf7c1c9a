/* fsm.c: the sqlite state machine (see fsm.h).
 *
 * One in-memory database: objects(id INTEGER PRIMARY KEY, resource, ns,
 * name, rev, node, owner, json) with UNIQUE(resource, ns, name), an index on
 * (resource, node) for node lists and one on owner; meta(k, v) holds the
 * revision counter and the schema format. All statements of the apply path
 * are prepared once. An entry is one transaction; the counter is kept in
 * memory while it runs and written to meta once at its end.
 *
 * Stored json carries its revision: "resourceVersion":"<rev>", is spliced in
 * right after the leading {"metadata":{ of the proposed json, so the apply
 * path parses nothing. A delete reports the last stored json with that
 * revision rewritten to the delete's own (its position is known because the
 * state machine put it there). */
#include "store/fsm.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/log.h"
#include "store/codec.h"
#include "store/fsm_list.h"
#include "store/snapimg.h"
#include "store/sqlmem.h"

#define FORMAT 1
#define META_PREFIX "{\"metadata\":{"                  /* 13 bytes */
#define RV_PREFIX "{\"metadata\":{\"resourceVersion\":\"" /* 32 bytes */

enum {
    S_BEGIN,
    S_COMMIT,
    S_ROLLBACK,
    S_INSERT,
    S_SEL_META,
    S_SEL_FULL,
    S_UPDATE,
    S_DELETE,
    S_SETREV,
    S_GET,
    S_EXISTS,
    S_N
};

static const char *const sql_text[S_N] = {
    [S_BEGIN] = "BEGIN",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_INSERT] = "INSERT INTO objects(resource,ns,name,rev,node,owner,json) "
                 "VALUES(?1,?2,?3,?4,?5,?6,?7)",
    [S_SEL_META] = "SELECT id,rev,node FROM objects "
                   "WHERE resource=?1 AND ns=?2 AND name=?3",
    [S_SEL_FULL] = "SELECT id,rev,node,json FROM objects "
                   "WHERE resource=?1 AND ns=?2 AND name=?3",
    [S_UPDATE] = "UPDATE objects SET rev=?1,node=?2,owner=?3,json=?4 "
                 "WHERE id=?5",
    [S_DELETE] = "DELETE FROM objects WHERE id=?1",
    [S_SETREV] = "UPDATE meta SET v=?1 WHERE k='rev'",
    [S_GET] = "SELECT json,rev FROM objects "
              "WHERE resource=?1 AND ns=?2 AND name=?3",
    /* answered from the unique index alone: the row is never read */
    [S_EXISTS] = "SELECT 1 FROM objects "
                 "WHERE resource=?1 AND ns=?2 AND name=?3",
};

static const char schema[] =
    "CREATE TABLE meta(k TEXT PRIMARY KEY, v INTEGER NOT NULL);"
    "INSERT INTO meta(k,v) VALUES('rev',0),('format',1);"
    "CREATE TABLE objects(id INTEGER PRIMARY KEY, resource TEXT NOT NULL,"
    " ns TEXT NOT NULL, name TEXT NOT NULL, rev INTEGER NOT NULL, node TEXT,"
    " owner TEXT, json TEXT NOT NULL, UNIQUE(resource,ns,name));"
    "CREATE INDEX objects_node ON objects(resource,node);"
    "CREATE INDEX objects_owner ON objects(owner) WHERE owner IS NOT NULL;";

/* The database may grow to this size: memdb grows its buffer with
 * sqlite3_realloc, which takes an int (memdb's own default is 1 GiB). */
#define MEMDB_MAX_BYTES ((sqlite3_int64)SNAPIMG_MAX_RAW)
/* Above this many bytes in use, creates and updates fail with BE_NOSPACE and
 * deletes go on, as etcd's space quota does (its default is 2 GB): the
 * margin is room for the entries in flight, so the database never fills
 * (a full database would fail an apply on every member alike). */
#define QUOTA_BYTES ((uint64_t)MEMDB_MAX_BYTES - ((uint64_t)256 << 20))
/* Page cache over the memdb buffer: hot b-tree pages stay decoded. */
#define MEMDB_CACHE_KIB "16384"

struct fsm {
    sqlite3 *db;
    sqlite3_stmt *st[S_N];
    struct fsm_lists lists;
    struct watch_hub *hub;
    uint64_t rev, count;
    uint64_t ns_gen; /* bumped by every applied namespace mutation */
    struct codec_mut *muts;
    size_t muts_cap;
    struct store_result *res;
    size_t res_cap;
    char *jbuf; /* spliced json of the mutation being applied */
    size_t jcap;
    char *pbuf; /* an update's previous json, when a watcher wants it */
    size_t pcap, plen;
    char prev_node[CODEC_MAX_STR + 1];
    uint64_t quota;  /* bytes in use above which writes fail; 0: none */
    bool over_quota; /* for the entry being applied */
};

/* ---- connection ------------------------------------------------------- */

static void finalize_all(struct fsm *f)
{
    for (int i = 0; i < S_N; i++) {
        sqlite3_finalize(f->st[i]);
        f->st[i] = NULL;
    }
    fsm_lists_finalize(&f->lists);
}

static int db_new(sqlite3 **out, char *errbuf, size_t errlen)
{
    sqlite3 *db = NULL;
    sqlmem_install(); /* the first database in the process installs it */
    int rc = sqlite3_open_v2(":memory:", &db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                                 SQLITE_OPEN_NOMUTEX,
                             NULL);
    if (rc != SQLITE_OK) {
        snprintf(errbuf, errlen, "sqlite open: %s", sqlite3_errstr(rc));
        sqlite3_close(db);
        return BE_NOMEM;
    }
    /* snapshots come from peers: no schema tricks, no writable schema */
    sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
    sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
    *out = db;
    return 0;
}

/* Puts db on sqlite's memdb VFS: the image is one buffer, which
 * sqlite3_serialize(NOCOPY) hands out without a copy (see snapjob.c). img
 * (sqlite3_malloc'd, owned by sqlite from here on, even on failure) is the
 * starting image, NULL for an empty database. */
static int db_use_memdb(sqlite3 *db, unsigned char *img, size_t len,
                        char *errbuf, size_t errlen)
{
    sqlite3_int64 limit = MEMDB_MAX_BYTES;
    if (sqlite3_deserialize(db, "main", img, (sqlite3_int64)len,
                            (sqlite3_int64)len,
                            SQLITE_DESERIALIZE_FREEONCLOSE |
                                SQLITE_DESERIALIZE_RESIZEABLE) != SQLITE_OK) {
        snprintf(errbuf, errlen, "sqlite deserialize: %s", sqlite3_errmsg(db));
        return BE_PROTO;
    }
    /* memdb caps a database at 1 GiB unless told otherwise */
    sqlite3_file_control(db, "main", SQLITE_FCNTL_SIZE_LIMIT, &limit);
    if (sqlite3_exec(db, "PRAGMA journal_mode=MEMORY; PRAGMA cache_size=-"
                     MEMDB_CACHE_KIB, NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(errbuf, errlen, "sqlite pragma: %s", sqlite3_errmsg(db));
        return BE_INTERNAL;
    }
    return 0;
}

/* Prepares the fixed statements on db and reads the counters; the image
 * must look like ours (also checks a restored snapshot). */
static int db_load(sqlite3 *db, sqlite3_stmt **st, uint64_t *rev,
                   uint64_t *count, char *errbuf, size_t errlen)
{
    sqlite3_stmt *q = NULL;
    int rc = BE_PROTO;
    int64_t v;

    for (int i = 0; i < S_N; i++) {
        if (sqlite3_prepare_v3(db, sql_text[i], -1, SQLITE_PREPARE_PERSISTENT,
                               &st[i], NULL) != SQLITE_OK) {
            snprintf(errbuf, errlen, "sqlite prepare: %s", sqlite3_errmsg(db));
            goto out;
        }
    }
    if (sqlite3_prepare_v2(db,
                           "SELECT (SELECT v FROM meta WHERE k='rev'),"
                           " (SELECT v FROM meta WHERE k='format'),"
                           " (SELECT count(*) FROM objects),"
                           " (SELECT count(*) FROM sqlite_master"
                           "  WHERE type IN ('trigger','view'))",
                           -1, &q, NULL) != SQLITE_OK ||
        sqlite3_step(q) != SQLITE_ROW) {
        snprintf(errbuf, errlen, "sqlite meta: %s", sqlite3_errmsg(db));
        goto out;
    }
    v = sqlite3_column_int64(q, 0);
    if (sqlite3_column_type(q, 0) != SQLITE_INTEGER || v < 0 ||
        sqlite3_column_int64(q, 1) != FORMAT ||
        sqlite3_column_int64(q, 3) != 0) {
        snprintf(errbuf, errlen, "state machine image has a foreign format");
        goto out;
    }
    *rev = (uint64_t)v;
    *count = (uint64_t)sqlite3_column_int64(q, 2);
    rc = 0;
out:
    sqlite3_finalize(q);
    if (rc)
        for (int i = 0; i < S_N; i++) {
            sqlite3_finalize(st[i]);
            st[i] = NULL;
        }
    return rc;
}

int fsm_open(struct fsm **out, struct watch_hub *hub, char *errbuf,
             size_t errlen)
{
    struct fsm *f = calloc(1, sizeof *f);
    char *msg = NULL;
    int rc;

    if (!f)
        return BE_NOMEM;
    f->hub = hub;
    if ((rc = db_new(&f->db, errbuf, errlen)) != 0)
        goto err;
    if ((rc = db_use_memdb(f->db, NULL, 0, errbuf, errlen)) != 0)
        goto err_db;
    if (sqlite3_exec(f->db, schema, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(errbuf, errlen, "sqlite schema: %s", msg ? msg : "?");
        sqlite3_free(msg);
        rc = BE_INTERNAL;
        goto err_db;
    }
    if ((rc = db_load(f->db, f->st, &f->rev, &f->count, errbuf, errlen)))
        goto err_db;
    f->quota = QUOTA_BYTES;
    *out = f;
    return 0;

err_db:
    sqlite3_close(f->db);
err:
    free(f);
    return rc;
}

void fsm_close(struct fsm *f)
{
    if (!f)
        return;
    finalize_all(f);
    sqlite3_close(f->db);
    free(f->muts);
    free(f->res);
    free(f->jbuf);
    free(f->pbuf);
    free(f);
}

void fsm_set_hub(struct fsm *f, struct watch_hub *hub)
{
    f->hub = hub;
}

uint64_t fsm_revision(struct fsm *f)
{
    return f->rev;
}

uint64_t fsm_count(struct fsm *f)
{
    return f->count;
}

uint64_t fsm_ns_generation(struct fsm *f)
{
    return f->ns_gen;
}

/* ---- apply ------------------------------------------------------------ */

static int jbuf_reserve(struct fsm *f, size_t n)
{
    if (n <= f->jcap)
        return 0;
    size_t cap = f->jcap ? f->jcap : 1024;
    while (cap < n)
        cap *= 2;
    char *p = realloc(f->jbuf, cap);
    if (!p)
        return BE_NOMEM;
    f->jbuf = p;
    f->jcap = cap;
    return 0;
}

static size_t u64_dec(char *out, uint64_t v)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

static bool layout_ok(const struct codec_mut *m)
{
    static const char rv_key[] = "\"resourceVersion\"";
    if (m->json_len < 14 || memcmp(m->json, META_PREFIX "\"", 14) != 0)
        return false;
    if (m->json_len >= 13 + sizeof rv_key - 1 &&
        memcmp(m->json + 13, rv_key, sizeof rv_key - 1) == 0)
        return false;
    return true;
}

/* jbuf = {"metadata":{"resourceVersion":"<rev>", followed by rest, which
 * starts with the next key of metadata. */
static int splice(struct fsm *f, uint64_t rev, const char *rest,
                  size_t rest_len, size_t *out_len)
{
    if (jbuf_reserve(f, sizeof RV_PREFIX + 24 + rest_len) != 0)
        return BE_NOMEM;
    char *p = f->jbuf;
    memcpy(p, RV_PREFIX, sizeof RV_PREFIX - 1);
    p += sizeof RV_PREFIX - 1;
    p += u64_dec(p, rev);
    *p++ = '"';
    *p++ = ',';
    memcpy(p, rest, rest_len);
    p += rest_len;
    *p = 0;
    *out_len = (size_t)(p - f->jbuf);
    return 0;
}

static void bind_key(sqlite3_stmt *st, const struct codec_mut *m)
{
    sqlite3_bind_text(st, 1, m->resource, (int)m->resource_len, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, m->ns, (int)m->ns_len, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, m->name, (int)m->name_len, SQLITE_STATIC);
}

static void bind_opt(sqlite3_stmt *st, int i, const char *s, uint32_t len)
{
    if (s)
        sqlite3_bind_text(st, i, s, (int)len, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

/* Runs a write statement; returns the sqlite code and resets it. */
static int run(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc;
}

/* with_prev: the change carries pbuf (keep_prev) as its previous object */
static void emit(struct fsm *f, enum store_ev_type type, uint64_t rev,
                 const struct codec_mut *m, const char *node,
                 const char *prev_node, size_t json_len, bool with_prev)
{
    if (!f->hub)
        return;
    struct watch_change c = {
        .type = type,
        .rev = rev,
        .resource = m->resource,
        .ns = m->ns,
        .name = m->name,
        .node = node,
        .prev_node = prev_node,
        .json = f->jbuf,
        .json_len = json_len,
        .prev_json = with_prev ? f->pbuf : NULL,
        .prev_json_len = with_prev ? f->plen : 0,
    };
    watch_append(f->hub, &c);
}

/* Copies the json column of the row sel stands on into pbuf, for a
 * watcher that must see what an update changed (watch_wants_prev). */
static int keep_prev(struct fsm *f, sqlite3_stmt *sel)
{
    const char *old = (const char *)sqlite3_column_text(sel, 3);
    size_t n = old ? (size_t)sqlite3_column_bytes(sel, 3) : 0;
    if (n + 1 > f->pcap) {
        char *p = realloc(f->pbuf, n + 1);
        if (!p)
            return BE_NOMEM;
        f->pbuf = p;
        f->pcap = n + 1;
    }
    memcpy(f->pbuf, old ? old : "", n);
    f->pbuf[n] = 0;
    f->plen = n;
    return 0;
}

/* Looks the object up by key: 1 found (id, rev and a copy of its node in
 * prev_node; the statement stays on the row and the caller resets it),
 * 0 absent, <0 sqlite failure. */
static int lookup(struct fsm *f, sqlite3_stmt *st, const struct codec_mut *m,
                  int64_t *id, uint64_t *rev, const char **node)
{
    bind_key(st, m);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        sqlite3_reset(st);
        return 0;
    }
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        return BE_INTERNAL;
    }
    *id = sqlite3_column_int64(st, 0);
    *rev = (uint64_t)sqlite3_column_int64(st, 1);
    *node = NULL;
    if (sqlite3_column_type(st, 2) != SQLITE_NULL) {
        const char *n = (const char *)sqlite3_column_text(st, 2);
        snprintf(f->prev_node, sizeof f->prev_node, "%s", n ? n : "");
        *node = f->prev_node;
    }
    return 1; /* statement left on the row: caller resets */
}

/* One mutation. Returns its BE_* result, or BE_INTERNAL via *fatal. */
static int apply_one(struct fsm *f, const struct codec_mut *m, uint64_t *rev,
                     uint64_t *cur_rev, bool *fatal)
{
    uint64_t next = *rev + 1, cur = 0;
    int64_t id = 0;
    const char *prev = NULL;
    size_t jlen;
    int rc;

    if (m->op != STORE_DELETE && !layout_ok(m))
        return BE_INVAL;
    if (m->op != STORE_DELETE && f->over_quota)
        return BE_NOSPACE;

    if (m->op == STORE_CREATE) {
        if (splice(f, next, m->json + 13, m->json_len - 13, &jlen))
            goto fail;
        sqlite3_stmt *st = f->st[S_INSERT];
        bind_key(st, m);
        sqlite3_bind_int64(st, 4, (int64_t)next);
        bind_opt(st, 5, m->node, m->node_len);
        bind_opt(st, 6, m->owner, m->owner_len);
        sqlite3_bind_text(st, 7, f->jbuf, (int)jlen, SQLITE_STATIC);
        rc = run(st);
        if (rc == SQLITE_CONSTRAINT)
            return BE_EXISTS;
        if (rc != SQLITE_DONE)
            goto fail;
        f->count++;
        *rev = next;
        emit(f, STORE_EV_ADDED, next, m, m->node, NULL, jlen, false);
        return 0;
    }

    bool want_prev = m->op == STORE_UPDATE && f->hub && watch_wants_prev(f->hub, m->resource);
    sqlite3_stmt *sel = f->st[m->op == STORE_DELETE || want_prev ? S_SEL_FULL : S_SEL_META];
    rc = lookup(f, sel, m, &id, &cur, &prev);
    if (rc < 0)
        goto fail;
    if (rc == 0)
        return BE_NOTFOUND;
    if (m->expect_rev && m->expect_rev != cur) {
        sqlite3_reset(sel);
        *cur_rev = cur;
        return BE_CONFLICT;
    }

    if (m->op == STORE_UPDATE) {
        if (want_prev && keep_prev(f, sel))
            goto fail_reset;
        sqlite3_reset(sel);
        if (splice(f, next, m->json + 13, m->json_len - 13, &jlen))
            goto fail;
        sqlite3_stmt *st = f->st[S_UPDATE];
        sqlite3_bind_int64(st, 1, (int64_t)next);
        bind_opt(st, 2, m->node, m->node_len);
        bind_opt(st, 3, m->owner, m->owner_len);
        sqlite3_bind_text(st, 4, f->jbuf, (int)jlen, SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, id);
        if (run(st) != SQLITE_DONE)
            goto fail;
        *rev = next;
        emit(f, STORE_EV_MODIFIED, next, m, m->node, prev, jlen, want_prev);
        return 0;
    }

    /* DELETE: last state, with the delete's revision in it */
    const char *old = (const char *)sqlite3_column_text(sel, 3);
    size_t olen = (size_t)sqlite3_column_bytes(sel, 3);
    const char *rest = old ? old : "";
    size_t rest_len = old ? olen : 0;
    if (old && olen > sizeof RV_PREFIX - 1 &&
        memcmp(old, RV_PREFIX, sizeof RV_PREFIX - 1) == 0) {
        const char *q = memchr(old + sizeof RV_PREFIX - 1, '"',
                               olen - (sizeof RV_PREFIX - 1));
        if (q && q + 1 < old + olen && q[1] == ',') {
            rest = q + 2; /* splice() puts the quote and comma back */
            rest_len = olen - (size_t)(rest - old);
        }
    }
    if (rest == old || !old) {
        /* not written by us (defensive): report it unchanged */
        if (jbuf_reserve(f, rest_len + 1))
            goto fail_reset;
        memcpy(f->jbuf, rest, rest_len);
        f->jbuf[rest_len] = 0;
        jlen = rest_len;
    } else if (splice(f, next, rest, rest_len, &jlen)) {
        goto fail_reset;
    }
    sqlite3_reset(sel);
    sqlite3_bind_int64(f->st[S_DELETE], 1, id);
    if (run(f->st[S_DELETE]) != SQLITE_DONE)
        goto fail;
    f->count--;
    *rev = next;
    emit(f, STORE_EV_DELETED, next, m, prev, prev, jlen, false);
    return 0;

fail_reset:
    sqlite3_reset(sel);
fail:
    *fatal = true;
    return BE_INTERNAL;
}

/* Whether the pages in use exceed the quota. The same on every member at
 * the same index: the image is a function of the applied entries. The
 * file size (free) is checked first; pages freed by deletes are reused, so
 * past it the free list decides. */
static bool over_quota(struct fsm *f)
{
    const void *img;
    size_t len;
    if (f->quota == 0 || fsm_image(f, &img, &len) != 0 || len <= f->quota)
        return false;
    return fsm_db_bytes(f) > f->quota;
}

int fsm_apply(struct fsm *f, const void *buf, size_t len,
              const struct store_result **results, size_t *n)
{
    size_t count = 0;
    bool fatal = false;
    int rc = codec_decode(buf, len, &f->muts, &f->muts_cap, &count);
    if (rc)
        return rc;
    if (f->res_cap < count) {
        struct store_result *r = realloc(f->res, count * sizeof *r);
        if (!r)
            return BE_NOMEM;
        f->res = r;
        f->res_cap = count;
    }
    if (run(f->st[S_BEGIN]) != SQLITE_DONE)
        goto fatal;
    f->over_quota = over_quota(f);
    uint64_t rev = f->rev, count0 = f->count;
    for (size_t i = 0; i < count && !fatal; i++) {
        struct store_result *r = &f->res[i];
        r->cur_rev = 0;
        r->rc = apply_one(f, &f->muts[i], &rev, &r->cur_rev, &fatal);
        if (f->muts[i].resource_len == 10 && !memcmp(f->muts[i].resource, "namespaces", 10))
            f->ns_gen++;
        r->rev = r->rc == 0 ? rev : 0;
    }
    if (!fatal && rev != f->rev) {
        sqlite3_bind_int64(f->st[S_SETREV], 1, (int64_t)rev);
        if (run(f->st[S_SETREV]) != SQLITE_DONE)
            fatal = true;
    }
    if (fatal || run(f->st[S_COMMIT]) != SQLITE_DONE) {
        run(f->st[S_ROLLBACK]);
        f->count = count0;
        if (f->hub)
            watch_reset(f->hub, f->rev);
        goto fatal;
    }
    f->rev = rev;
    *results = f->res;
    *n = count;
    return 0;

fatal:
    log_error("store", "state machine: sqlite failed: %s",
              sqlite3_errmsg(f->db));
    return BE_INTERNAL;
}

/* ---- snapshots -------------------------------------------------------- */

uint64_t fsm_db_bytes(struct fsm *f)
{
    sqlite3_int64 v[3] = {0, 0, 0};
    static const char *const q[3] = {"PRAGMA page_count", "PRAGMA freelist_count",
                                     "PRAGMA page_size"};
    for (int i = 0; i < 3; i++) {
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(f->db, q[i], -1, &st, NULL) != SQLITE_OK)
            return 0;
        if (sqlite3_step(st) == SQLITE_ROW)
            v[i] = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    return (uint64_t)((v[0] - v[1]) * v[2]);
}

int fsm_image(struct fsm *f, const void **buf, size_t *len)
{
    sqlite3_int64 sz = 0;
    unsigned char *p = sqlite3_serialize(f->db, "main", &sz,
                                         SQLITE_SERIALIZE_NOCOPY);
    if (!p) /* only a database not on memdb has no buffer to hand out */
        return BE_INTERNAL;
    *buf = p;
    *len = (size_t)sz;
    return 0;
}

int fsm_restore(struct fsm *f, const void *buf, size_t len)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st[S_N] = {0};
    uint64_t rev = 0, count = 0;
    char err[256];
    int rc;

    if (len == 0)
        return BE_PROTO;
    void *copy;
    size_t copy_len = len;
    if (snapimg_is_encoded(buf, len)) {
        if ((rc = snapimg_decode(buf, len, &copy, &copy_len)) != 0)
            return rc;
    } else {
        if (len > SNAPIMG_MAX_RAW)
            return BE_PROTO;
        if (!(copy = sqlite3_malloc64(len)))
            return BE_NOMEM;
        memcpy(copy, buf, len);
    }
    if ((rc = db_new(&db, err, sizeof err)) != 0) {
        sqlite3_free(copy);
        return rc;
    }
    if ((rc = db_use_memdb(db, copy, copy_len, err, sizeof err)) != 0) {
        log_error("store", "snapshot restore: %s", err);
        sqlite3_close(db);
        return rc;
    }
    if ((rc = db_load(db, st, &rev, &count, err, sizeof err)) != 0) {
        log_error("store", "snapshot restore: %s", err);
        sqlite3_close(db);
        return rc;
    }
    finalize_all(f);
    sqlite3_close(f->db);
    f->db = db;
    memcpy(f->st, st, sizeof st);
    f->rev = rev;
    f->count = count;
    f->ns_gen++;
    return 0;
}

/* ---- reads ------------------------------------------------------------ */

int fsm_get(struct fsm *f, const char *resource, const char *ns,
            const char *name, char **json, size_t *len, uint64_t *rev)
{
    sqlite3_stmt *st = f->st[S_GET];
    int rc;

    if (!resource || !ns || !name || !json)
        return BE_INVAL;
    sqlite3_bind_text(st, 1, resource, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, ns, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *j = (const char *)sqlite3_column_text(st, 0);
        size_t n = (size_t)sqlite3_column_bytes(st, 0);
        char *out = malloc(n + 1);
        if (!out) {
            rc = BE_NOMEM;
        } else {
            memcpy(out, j ? j : "", n);
            out[n] = 0;
            *json = out;
            if (len)
                *len = n;
            if (rev)
                *rev = (uint64_t)sqlite3_column_int64(st, 1);
            rc = 0;
        }
    } else {
        rc = rc == SQLITE_DONE ? BE_NOTFOUND : BE_INTERNAL;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

int fsm_exists(struct fsm *f, const char *resource, const char *ns,
               const char *name)
{
    sqlite3_stmt *st = f->st[S_EXISTS];
    if (!resource || !ns || !name)
        return BE_INVAL;
    sqlite3_bind_text(st, 1, resource, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, ns, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    rc = rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? BE_NOTFOUND : BE_INTERNAL;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

int fsm_list(struct fsm *f, const char *resource,
             const struct store_list_opts *opts, store_list_cb cb, void *data)
{
    return fsm_lists_run(&f->lists, f->db, resource, opts, cb, data);
}

void fsm_set_quota(struct fsm *f, uint64_t bytes)
{
    f->quota = bytes;
}
