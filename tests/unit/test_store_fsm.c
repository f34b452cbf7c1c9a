/* test_store_fsm.c: the sqlite state machine and the watch hub, driven
 * directly with encoded entries (no raft): preconditions, revisions, the
 * json layout contract, snapshots, lists, and watch dispatch and replay. */
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "store/codec.h"
#include "store/fsm.h"
#include "store/watch.h"
#include "unit.h"

#define J(s) s, sizeof(s) - 1

static struct store_mut mk(enum store_op op, const char *res, const char *ns,
                           const char *name, uint64_t expect,
                           const char *json, size_t json_len, const char *node)
{
    struct store_mut m = {.op = op, .resource = res, .ns = ns, .name = name,
                          .expect_rev = expect, .json = json,
                          .json_len = json_len, .node = node};
    return m;
}

/* Encodes and applies; copies the results out. */
static int apply(struct fsm *f, const struct store_mut *m, size_t n,
                 struct store_result *out)
{
    size_t total = CODEC_HDR_SIZE;
    for (size_t i = 0; i < n; i++)
        total += codec_mut_size(&m[i]);
    char *buf = malloc(total), *p = buf + CODEC_HDR_SIZE;
    codec_write_header(buf, (uint32_t)n);
    for (size_t i = 0; i < n; i++)
        p += codec_write_mut(p, &m[i]);
    const struct store_result *r;
    size_t rn = 0;
    int rc = fsm_apply(f, buf, total, &r, &rn);
    if (rc == 0) {
        CHECK_INT(rn, n);
        memcpy(out, r, n * sizeof *r);
    }
    free(buf);
    return rc;
}

static struct fsm *open_fsm(struct watch_hub *hub)
{
    struct fsm *f = NULL;
    char err[128];
    CHECK_INT(fsm_open(&f, hub, err, sizeof err), 0);
    return f;
}

static void test_preconditions(void)
{
    struct fsm *f = open_fsm(NULL);
    struct store_result r[4];
    struct store_mut m[4];

    m[0] = mk(STORE_CREATE, "pods", "default", "a", 0,
              J("{\"metadata\":{\"name\":\"a\"}}"), "n1");
    CHECK_INT(apply(f, m, 1, r), 0);
    CHECK_INT(r[0].rc, 0);
    CHECK_INT(r[0].rev, 1);

    m[0].op = STORE_CREATE; /* again: exists */
    m[1] = mk(STORE_UPDATE, "pods", "default", "zz", 0,
              J("{\"metadata\":{\"name\":\"zz\"}}"), NULL);
    m[2] = mk(STORE_UPDATE, "pods", "default", "a", 5,
              J("{\"metadata\":{\"name\":\"a\"}}"), NULL);
    m[3] = mk(STORE_DELETE, "pods", "default", "nope", 0, NULL, 0, NULL);
    CHECK_INT(apply(f, m, 4, r), 0);
    CHECK_INT(r[0].rc, BE_EXISTS);
    CHECK_INT(r[1].rc, BE_NOTFOUND);
    CHECK_INT(r[2].rc, BE_CONFLICT);
    CHECK_INT(r[2].cur_rev, 1);
    CHECK_INT(r[3].rc, BE_NOTFOUND);
    CHECK_INT(fsm_revision(f), 1); /* failures take no revision */

    /* successes in one batch take consecutive revisions, in order */
    m[0] = mk(STORE_UPDATE, "pods", "default", "a", 1,
              J("{\"metadata\":{\"name\":\"a\",\"x\":1}}"), "n2");
    m[1] = mk(STORE_CREATE, "pods", "default", "b", 0,
              J("{\"metadata\":{\"name\":\"b\"}}"), NULL);
    m[2] = mk(STORE_UPDATE, "pods", "default", "a", 1, /* stale now */
              J("{\"metadata\":{\"name\":\"a\"}}"), NULL);
    m[3] = mk(STORE_DELETE, "pods", "default", "b", 3, NULL, 0, NULL);
    CHECK_INT(apply(f, m, 4, r), 0);
    CHECK_INT(r[0].rc, 0);
    CHECK_INT(r[0].rev, 2);
    CHECK_INT(r[1].rev, 3);
    CHECK_INT(r[2].rc, BE_CONFLICT);
    CHECK_INT(r[2].cur_rev, 2);
    CHECK_INT(r[3].rc, 0);
    CHECK_INT(r[3].rev, 4);
    CHECK_INT(fsm_revision(f), 4);
    CHECK_INT(fsm_count(f), 1);

    char *json;
    size_t len;
    uint64_t rev;
    CHECK_INT(fsm_get(f, "pods", "default", "a", &json, &len, &rev), 0);
    CHECK_STR(json, "{\"metadata\":{\"resourceVersion\":\"2\",\"name\":\"a\",\"x\":1}}");
    CHECK_INT(len, strlen(json));
    CHECK_INT(rev, 2);
    free(json);
    CHECK_INT(fsm_get(f, "pods", "default", "b", &json, &len, &rev), BE_NOTFOUND);
    fsm_close(f);
}

/* fsm_exists answers without copying; the namespace generation moves with
 * every applied namespace mutation (the API server's namespace cache
 * depends on it) and with nothing else. */
static void test_exists_and_ns_generation(void)
{
    struct fsm *f = open_fsm(NULL);
    struct store_result r[2];
    struct store_mut m[2];

    CHECK_INT(fsm_exists(f, "namespaces", "", "team"), BE_NOTFOUND);
    uint64_t g0 = fsm_ns_generation(f);
    m[0] = mk(STORE_CREATE, "namespaces", "", "team", 0,
              J("{\"metadata\":{\"name\":\"team\"}}"), NULL);
    CHECK_INT(apply(f, m, 1, r), 0);
    CHECK_INT(r[0].rc, 0);
    CHECK_INT(fsm_exists(f, "namespaces", "", "team"), 0);
    CHECK_INT(fsm_exists(f, "namespaces", "", "tea"), BE_NOTFOUND);
    CHECK_INT(fsm_exists(f, "pods", "", "team"), BE_NOTFOUND);
    uint64_t g1 = fsm_ns_generation(f);
    CHECK(g1 != g0);

    m[0] = mk(STORE_CREATE, "configmaps", "team", "c", 0,
              J("{\"metadata\":{\"name\":\"c\"}}"), NULL);
    CHECK_INT(apply(f, m, 1, r), 0);
    CHECK_INT(fsm_exists(f, "configmaps", "team", "c"), 0);
    CHECK_INT(fsm_ns_generation(f), g1); /* not a namespace: unchanged */

    m[0] = mk(STORE_DELETE, "namespaces", "", "team", 0, NULL, 0, NULL);
    CHECK_INT(apply(f, m, 1, r), 0);
    CHECK_INT(r[0].rc, 0);
    CHECK_INT(fsm_exists(f, "namespaces", "", "team"), BE_NOTFOUND);
    CHECK(fsm_ns_generation(f) != g1);
    CHECK_INT(fsm_exists(f, NULL, "", "team"), BE_INVAL);
    fsm_close(f);
}

static void test_layout_contract(void)
{
    struct fsm *f = open_fsm(NULL);
    struct store_result r[5];
    struct store_mut m[5];
    m[0] = mk(STORE_CREATE, "pods", "d", "a", 0, J("{\"spec\":{}}"), NULL);
    m[1] = mk(STORE_CREATE, "pods", "d", "b", 0, J(" {\"metadata\":{\"n\":1}}"), NULL);
    m[2] = mk(STORE_CREATE, "pods", "d", "c", 0, J("{\"metadata\":{}}"), NULL);
    m[3] = mk(STORE_CREATE, "pods", "d", "e", 0,
              J("{\"metadata\":{\"resourceVersion\":\"9\"}}"), NULL);
    m[4] = mk(STORE_CREATE, "pods", "d", "ok", 0, J("{\"metadata\":{\"n\":1}}"), NULL);
    CHECK_INT(apply(f, m, 5, r), 0);
    for (int i = 0; i < 4; i++)
        CHECK_INT(r[i].rc, BE_INVAL);
    CHECK_INT(r[4].rc, 0);
    CHECK_INT(r[4].rev, 1);
    CHECK_INT(fsm_count(f), 1);
    char *json;
    size_t len;
    CHECK_INT(fsm_get(f, "pods", "d", "a", &json, &len, NULL), BE_NOTFOUND);
    /* an update breaking the contract leaves the object as it was */
    m[0] = mk(STORE_UPDATE, "pods", "d", "ok", 0, J("{\"x\":1}"), NULL);
    CHECK_INT(apply(f, m, 1, r), 0);
    CHECK_INT(r[0].rc, BE_INVAL);
    CHECK_INT(fsm_get(f, "pods", "d", "ok", &json, &len, NULL), 0);
    CHECK_STR(json, "{\"metadata\":{\"resourceVersion\":\"1\",\"n\":1}}");
    free(json);
    CHECK_INT(fsm_revision(f), 1);
    /* a malformed entry changes nothing */
    const struct store_result *rr;
    size_t rn;
    CHECK_INT(fsm_apply(f, "garbage!garbage!", 16, &rr, &rn), BE_PROTO);
    CHECK_INT(fsm_revision(f), 1);
    fsm_close(f);
}

struct lst {
    char keys[16][32];
    uint64_t revs[16];
    int n;
};

static int list_cb(void *data, const char *ns, const char *name, uint64_t rev,
                   const char *json, size_t len)
{
    struct lst *l = data;
    snprintf(l->keys[l->n], sizeof l->keys[0], "%s/%s", ns, name);
    l->revs[l->n++] = rev;
    CHECK(len > 0 && json[len] == 0);
    return l->n == 16;
}

static void test_snapshot_and_list(void)
{
    struct fsm *f = open_fsm(NULL);
    struct store_result r[6];
    struct store_mut m[6] = {
        mk(STORE_CREATE, "pods", "b", "p2", 0, J("{\"metadata\":{\"n\":1}}"), "n1"),
        mk(STORE_CREATE, "pods", "a", "p9", 0, J("{\"metadata\":{\"n\":1}}"), "n2"),
        mk(STORE_CREATE, "pods", "b", "p1", 0, J("{\"metadata\":{\"n\":1}}"), NULL),
        mk(STORE_CREATE, "pods", "a", "p1", 0, J("{\"metadata\":{\"n\":1}}"), "n1"),
        mk(STORE_CREATE, "nodes", "", "n1", 0, J("{\"metadata\":{\"n\":1}}"), NULL),
        mk(STORE_DELETE, "pods", "a", "p9", 0, NULL, 0, NULL),
    };
    CHECK_INT(apply(f, m, 6, r), 0);
    const void *img;
    size_t len;
    CHECK_INT(fsm_image(f, &img, &len), 0);

    struct fsm *g = open_fsm(NULL);
    CHECK_INT(fsm_restore(g, img, len), 0);
    CHECK_INT(fsm_revision(g), 6);
    CHECK_INT(fsm_count(g), 4);

    struct lst l = {0};
    CHECK_INT(fsm_list(g, "pods", NULL, list_cb, &l), 0);
    CHECK_INT(l.n, 3);
    CHECK_STR(l.keys[0], "a/p1");
    CHECK_STR(l.keys[1], "b/p1");
    CHECK_STR(l.keys[2], "b/p2");
    CHECK_INT(l.revs[0], 4);

    struct store_list_opts o = {.node = "n1"};
    memset(&l, 0, sizeof l);
    CHECK_INT(fsm_list(g, "pods", &o, list_cb, &l), 0);
    CHECK_INT(l.n, 2);
    CHECK_STR(l.keys[0], "a/p1");
    CHECK_STR(l.keys[1], "b/p2");

    o = (struct store_list_opts){.node = ""};
    memset(&l, 0, sizeof l);
    CHECK_INT(fsm_list(g, "pods", &o, list_cb, &l), 0);
    CHECK_INT(l.n, 1);
    CHECK_STR(l.keys[0], "b/p1");

    o = (struct store_list_opts){.ns = "b", .limit = 1};
    memset(&l, 0, sizeof l);
    CHECK_INT(fsm_list(g, "pods", &o, list_cb, &l), 0);
    CHECK_INT(l.n, 1);
    CHECK_STR(l.keys[0], "b/p1");

    o = (struct store_list_opts){.after_ns = "a", .after_name = "p1"};
    memset(&l, 0, sizeof l);
    CHECK_INT(fsm_list(g, "pods", &o, list_cb, &l), 0);
    CHECK_INT(l.n, 2);
    CHECK_STR(l.keys[0], "b/p1");

    /* the restored state machine continues the revision sequence */
    m[0] = mk(STORE_UPDATE, "pods", "b", "p1", 3, J("{\"metadata\":{\"n\":2}}"), NULL);
    CHECK_INT(apply(g, m, 1, r), 0);
    CHECK_INT(r[0].rev, 7);

    /* a garbage snapshot is refused and the state machine is unchanged */
    CHECK_INT(fsm_restore(g, "not a database at all, sorry", 28) != 0, 1);
    CHECK_INT(fsm_revision(g), 7);
    CHECK_INT(fsm_count(g), 4);
    fsm_close(f);
    fsm_close(g);
}

/* ---- watch hub ---------------------------------------------------------- */

struct rec {
    int n;
    int types[64];
    uint64_t revs[64];
    char json[64][96];
    store_watch_t *w, *other;
    int stop_after;
};

static void rec_cb(void *data, const struct store_event *ev)
{
    struct rec *r = data;
    if (r->n < 64) {
        r->types[r->n] = ev->type;
        r->revs[r->n] = ev->rev;
        snprintf(r->json[r->n], sizeof r->json[0], "%.*s", (int)ev->json_len,
                 ev->json ? ev->json : "");
    }
    r->n++;
    if (r->stop_after && r->n == r->stop_after) {
        watch_stop(r->w);
        if (r->other)
            watch_stop(r->other);
    }
}

/* Over the quota, creates and updates fail with BE_NOSPACE, take no
 * revision and change nothing; deletes go on, and the pages they free let
 * writes in again. A restored image keeps the quota of the fsm. */
static void test_space_quota(void)
{
    struct fsm *f = open_fsm(NULL);
    struct store_result r[1];
    static char json[8192];
    char name[32];
    int n = 0;

    static const char head[] = "{\"metadata\":{\"name\":\"x\"},\"data\":\"";
    size_t jlen = sizeof json - 1;
    memcpy(json, head, sizeof head - 1);
    memset(json + sizeof head - 1, 'v', jlen - (sizeof head - 1) - 2);
    memcpy(json + jlen - 2, "\"}", 3);
    fsm_set_quota(f, fsm_db_bytes(f) + (256u << 10));
    for (;; n++) {
        snprintf(name, sizeof name, "c%d", n);
        struct store_mut m = mk(STORE_CREATE, "configmaps", "default", name,
                                0, json, jlen, NULL);
        CHECK_INT(apply(f, &m, 1, r), 0);
        if (r[0].rc != 0)
            break;
        if (n > 1000)
            break;
    }
    CHECK_INT(r[0].rc, BE_NOSPACE);
    CHECK(n > 10 && n < 100);
    uint64_t rev = fsm_revision(f), count = fsm_count(f);
    CHECK_INT(count, (uint64_t)n);
    struct store_mut up = mk(STORE_UPDATE, "configmaps", "default", "c0", 0,
                             json, jlen, NULL);
    CHECK_INT(apply(f, &up, 1, r), 0);
    CHECK_INT(r[0].rc, BE_NOSPACE);
    CHECK_INT(fsm_revision(f), rev);

    for (int i = 0; i < n / 2; i++) {
        snprintf(name, sizeof name, "c%d", i);
        struct store_mut d = mk(STORE_DELETE, "configmaps", "default", name,
                                0, NULL, 0, NULL);
        CHECK_INT(apply(f, &d, 1, r), 0);
        CHECK_INT(r[0].rc, 0);
    }
    CHECK_INT(fsm_count(f), count - (uint64_t)(n / 2));
    struct store_mut m = mk(STORE_CREATE, "configmaps", "default", "again",
                            0, json, jlen, NULL);
    CHECK_INT(apply(f, &m, 1, r), 0);
    CHECK_INT(r[0].rc, 0);
    fsm_close(f);
}

static void test_watch_events(void)
{
    struct watch_hub *h;
    CHECK_INT(watch_hub_new(&h, 100, 0), 0);
    struct fsm *f = open_fsm(h);
    struct rec all = {0}, n1 = {0}, n2 = {0}, ns = {0}, unbound = {0};
    struct store_watch_opts o = {.resource = "pods"};
    CHECK_INT(watch_start(h, &o, rec_cb, &all, &all.w), 0);
    o.node = "n1";
    CHECK_INT(watch_start(h, &o, rec_cb, &n1, &n1.w), 0);
    o.node = "n2";
    CHECK_INT(watch_start(h, &o, rec_cb, &n2, &n2.w), 0);
    o.node = "";
    CHECK_INT(watch_start(h, &o, rec_cb, &unbound, &unbound.w), 0);
    o = (struct store_watch_opts){.resource = "pods", .ns = "other"};
    CHECK_INT(watch_start(h, &o, rec_cb, &ns, &ns.w), 0);
    CHECK_INT(watch_count(h), 5);

    struct store_result r[4];
    struct store_mut m[4] = {
        mk(STORE_CREATE, "pods", "d", "p", 0, J("{\"metadata\":{\"n\":1}}"), NULL),
        mk(STORE_UPDATE, "pods", "d", "p", 0, J("{\"metadata\":{\"n\":2}}"), "n1"),
        mk(STORE_UPDATE, "pods", "d", "p", 0, J("{\"metadata\":{\"n\":3}}"), "n2"),
        mk(STORE_DELETE, "pods", "d", "p", 0, NULL, 0, NULL),
    };
    CHECK_INT(apply(f, m, 4, r), 0);
    CHECK_INT(all.n, 0); /* nothing before dispatch */
    watch_dispatch(h);

    CHECK_INT(all.n, 4);
    CHECK_INT(all.types[0], STORE_EV_ADDED);
    CHECK_INT(all.types[1], STORE_EV_MODIFIED);
    CHECK_INT(all.types[3], STORE_EV_DELETED);
    for (int i = 0; i < 4; i++)
        CHECK_INT(all.revs[i], i + 1);
    CHECK_STR(all.json[3], "{\"metadata\":{\"resourceVersion\":\"4\",\"n\":3}}");

    CHECK_INT(unbound.n, 2); /* created unbound, then moved onto n1 */
    CHECK_INT(unbound.types[0], STORE_EV_ADDED);
    CHECK_INT(unbound.types[1], STORE_EV_DELETED);
    CHECK_INT(n1.n, 2); /* moved on, then off */
    CHECK_INT(n1.types[0], STORE_EV_ADDED);
    CHECK_INT(n1.revs[0], 2);
    CHECK_INT(n1.types[1], STORE_EV_DELETED);
    CHECK_INT(n1.revs[1], 3);
    CHECK_INT(n2.n, 2); /* moved on, then deleted */
    CHECK_INT(n2.types[0], STORE_EV_ADDED);
    CHECK_INT(n2.types[1], STORE_EV_DELETED);
    CHECK_STR(n2.json[1], "{\"metadata\":{\"resourceVersion\":\"4\",\"n\":3}}");
    CHECK_INT(ns.n, 0);

    /* replay: a watch from revision 2 sees 3 and 4 at once */
    struct rec late = {0};
    o = (struct store_watch_opts){.resource = "pods", .from_rev = 2};
    CHECK_INT(watch_start(h, &o, rec_cb, &late, &late.w), 0);
    CHECK_INT(late.n, 2);
    CHECK_INT(late.revs[0], 3);
    /* a node watch replays transitions too */
    struct rec late2 = {0};
    o = (struct store_watch_opts){.resource = "pods", .node = "n1", .from_rev = 0};
    CHECK_INT(watch_start(h, &o, rec_cb, &late2, &late2.w), 0);
    CHECK_INT(late2.n, 2);
    CHECK_INT(late2.types[0], STORE_EV_ADDED);
    /* from the future: delivers later changes only */
    struct rec fut = {0};
    o = (struct store_watch_opts){.resource = "pods", .from_rev = 5};
    CHECK_INT(watch_start(h, &o, rec_cb, &fut, &fut.w), 0);
    m[0].name = "q";
    m[1].name = "q";
    CHECK_INT(apply(f, m, 2, r), 0); /* revs 5, 6 */
    watch_dispatch(h);
    CHECK_INT(fut.n, 1);
    CHECK_INT(fut.revs[0], 6);
    CHECK_INT(late.n, 4);

    CHECK_INT(watch_count(h), 8);
    watch_hub_free(h); /* each gets CLOSED */
    CHECK_INT(all.types[all.n - 1], STORE_EV_CLOSED);
    CHECK_INT(n1.types[n1.n - 1], STORE_EV_CLOSED);
    fsm_close(f);
}

static void test_watch_gone_and_self_stop(void)
{
    struct watch_hub *h;
    CHECK_INT(watch_hub_new(&h, 4, 0), 0);
    struct fsm *f = open_fsm(h);
    struct rec a = {.stop_after = 2}, b = {0}, c = {0};
    struct store_watch_opts o = {.resource = "pods"};
    CHECK_INT(watch_start(h, &o, rec_cb, &a, &a.w), 0);
    CHECK_INT(watch_start(h, &o, rec_cb, &b, &b.w), 0);
    CHECK_INT(watch_start(h, &o, rec_cb, &c, &c.w), 0);
    /* a stops itself and c (linked before it) during its second event */
    a.other = c.w;
    struct store_result r[10];
    struct store_mut m[10];
    char names[10][8];
    for (int i = 0; i < 10; i++) {
        snprintf(names[i], sizeof names[i], "p%d", i);
        m[i] = mk(STORE_CREATE, "pods", "d", names[i], 0,
                  J("{\"metadata\":{\"n\":1}}"), NULL);
    }
    CHECK_INT(apply(f, m, 10, r), 0); /* more changes than the window */
    watch_dispatch(h);
    CHECK_INT(a.n, 2);
    CHECK_INT(b.n, 10);
    CHECK(c.n <= 2);
    CHECK_INT(watch_count(h), 1);
    /* window now holds 7..10 */
    CHECK_INT(watch_base_rev(h), 6);
    struct rec d = {0};
    o.from_rev = 5;
    CHECK_INT(watch_start(h, &o, rec_cb, &d, &d.w), BE_GONE);
    o.from_rev = 6;
    CHECK_INT(watch_start(h, &o, rec_cb, &d, &d.w), 0);
    CHECK_INT(d.n, 4);
    CHECK_INT(d.revs[0], 7);
    /* stopping during replay */
    struct rec e = {.stop_after = 1};
    o.from_rev = 6;
    CHECK_INT(watch_start(h, &o, rec_cb, &e, &e.w), 0);
    CHECK_INT(e.n, 1);
    CHECK_INT(watch_count(h), 2);
    /* after a restore the window restarts at the snapshot */
    watch_reset(h, 10);
    o.from_rev = 9;
    CHECK_INT(watch_start(h, &o, rec_cb, &e, &e.w), BE_GONE);
    watch_hub_free(h);
    fsm_close(f);
}

int main(void)
{
    RUN(test_preconditions);
    RUN(test_exists_and_ns_generation);
    RUN(test_layout_contract);
    RUN(test_snapshot_and_list);
    RUN(test_space_quota);
    RUN(test_watch_events);
    RUN(test_watch_gone_and_self_stop);
    UNIT_EXIT();
}
