/* test_store_fixture.c: three stores over raft's deterministic in-memory
 * fixture: commits through raft, identical revisions on every member, group
 * commit, followers refusing writes, leadership loss, barriers, snapshot
 * install on a member that fell behind, watches fed at apply time, and the
 * previous object of updates for the watches that ask for it. */
#include <raft.h>
#include <raft/fixture.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "store/store.h"
#include "unit.h"

#define N 3

struct cluster {
    struct raft_fixture f;
    store_t *s[N];
};

static void cluster_up_cfg(struct cluster *c, unsigned window, unsigned snapshot_threshold)
{
    struct raft_configuration conf;
    struct store_config cfg = {.watch_window = window, .name = "m",
                               .snapshot_threshold = snapshot_threshold};
    memset(c, 0, sizeof *c);
    CHECK_INT(raft_fixture_initialize(&c->f), 0);
    for (int i = 0; i < N; i++) {
        struct raft_fsm *fsm;
        CHECK_INT(store_open_fixture_cfg(&cfg, &fsm, &c->s[i]), 0);
        CHECK_INT(raft_fixture_grow(&c->f, fsm), 0);
    }
    CHECK_INT(raft_fixture_configuration(&c->f, N, &conf), 0);
    CHECK_INT(raft_fixture_bootstrap(&c->f, &conf), 0);
    raft_configuration_close(&conf);
    CHECK_INT(raft_fixture_start(&c->f), 0);
    for (int i = 0; i < N; i++)
        store_fixture_attach(c->s[i], raft_fixture_get(&c->f, i));
    raft_fixture_elect(&c->f, 0);
    CHECK(store_is_leader(c->s[0]));
    CHECK(!store_is_leader(c->s[1]));
}

static void cluster_up(struct cluster *c, unsigned window)
{
    cluster_up_cfg(c, window, 0);
}

static void cluster_down(struct cluster *c)
{
    raft_fixture_close(&c->f);
    for (int i = 0; i < N; i++)
        store_close(c->s[i], NULL, NULL);
}

/* Sends what s queued and steps until every live member applied it. */
static void commit(struct cluster *c, int leader)
{
    store_fixture_flush(c->s[leader]);
    raft_index idx = raft_last_index(raft_fixture_get(&c->f, leader));
    CHECK(raft_fixture_step_until_applied(&c->f, N, idx, 5000));
}

struct done {
    int calls, rc;
    struct store_result r[8];
    size_t n;
};

static void commit_cb(void *data, int rc, const struct store_result *r,
                      size_t n)
{
    struct done *d = data;
    d->calls++;
    d->rc = rc;
    d->n = n;
    if (r)
        memcpy(d->r, r, (n < 8 ? n : 8) * sizeof *r);
}

static struct store_mut create(const char *name, const char *node)
{
    static const char json[] = "{\"metadata\":{\"name\":\"x\"},\"spec\":{}}";
    struct store_mut m = {.op = STORE_CREATE, .resource = "pods",
                          .ns = "default", .name = name, .json = json,
                          .json_len = sizeof json - 1, .node = node};
    return m;
}

static void test_replicated_revisions(void)
{
    struct cluster c;
    cluster_up(&c, 0);
    struct done d1 = {0}, d2 = {0};
    struct store_mut m[2] = {create("a", "n1"), create("b", NULL)};
    CHECK_INT(store_propose(c.s[0], m, 2, commit_cb, &d1), 0);
    m[0].op = STORE_UPDATE;
    m[0].expect_rev = 99;
    CHECK_INT(store_propose(c.s[0], m, 1, commit_cb, &d2), 0);
    CHECK_INT(d1.calls, 0); /* nothing happens before the flush */
    commit(&c, 0);
    CHECK_INT(d1.calls, 1);
    CHECK_INT(d1.rc, 0);
    CHECK_INT(d1.n, 2);
    CHECK_INT(d1.r[0].rev, 1);
    CHECK_INT(d1.r[1].rev, 2);
    CHECK_INT(d2.calls, 1);
    CHECK_INT(d2.r[0].rc, BE_CONFLICT);
    CHECK_INT(d2.r[0].cur_rev, 1);
    for (int i = 0; i < N; i++) {
        char *json;
        size_t len;
        uint64_t rev;
        CHECK_INT(store_revision(c.s[i]), 2);
        CHECK_INT(store_object_count(c.s[i]), 2);
        CHECK_INT(store_get(c.s[i], "pods", "default", "b", &json, &len, &rev), 0);
        CHECK_INT(rev, 2);
        CHECK_STR(json, "{\"metadata\":{\"resourceVersion\":\"2\",\"name\":\"x\"},\"spec\":{}}");
        free(json);
        CHECK(store_has_leader(c.s[i]));
    }
    /* followers refuse writes and barriers at once */
    struct done d3 = {0};
    CHECK_INT(store_propose(c.s[1], m, 1, commit_cb, &d3), BE_NOTLEADER);
    CHECK_INT(store_barrier(c.s[1], NULL, NULL), BE_INVAL);
    CHECK_INT(d3.calls, 0);
    CHECK_STR(store_leader_name(c.s[0]), "m");
    cluster_down(&c);
}

static void test_group_commit(void)
{
    struct cluster c;
    cluster_up(&c, 0);
    raft_index before = store_applied_index(c.s[0]);
    struct done d[100];
    char names[100][8];
    memset(d, 0, sizeof d);
    for (int i = 0; i < 100; i++) {
        snprintf(names[i], sizeof names[i], "p%d", i);
        struct store_mut m = create(names[i], NULL);
        CHECK_INT(store_propose(c.s[0], &m, 1, commit_cb, &d[i]), 0);
    }
    commit(&c, 0);
    raft_index after = store_applied_index(c.s[0]);
    CHECK(after - before < 100);
    CHECK_INT(after - before, 1); /* one entry carried all of them */
    for (int i = 0; i < 100; i++) {
        CHECK_INT(d[i].calls, 1);
        CHECK_INT(d[i].r[0].rev, i + 1);
    }
    for (int i = 0; i < N; i++)
        CHECK_INT(store_revision(c.s[i]), 100);
    cluster_down(&c);
}

static int barrier_calls, barrier_rc;
static void barrier_cb(void *data, int rc)
{
    (void)data;
    barrier_calls++;
    barrier_rc = rc;
}

static void test_barrier_and_leadership_loss(void)
{
    struct cluster c;
    cluster_up(&c, 0);
    CHECK_INT(store_barrier(c.s[0], barrier_cb, NULL), 0);
    CHECK_INT(store_barrier(c.s[0], barrier_cb, NULL), 0);
    commit(&c, 0);
    CHECK_INT(barrier_calls, 2);
    CHECK_INT(barrier_rc, 0);

    /* an entry in flight when the leader is deposed fails with NOTLEADER */
    struct done d = {0}, q = {0};
    struct store_mut m = create("lost", NULL);
    CHECK_INT(store_propose(c.s[0], &m, 1, commit_cb, &d), 0);
    store_fixture_flush(c.s[0]);
    m.name = "queued";
    CHECK_INT(store_propose(c.s[0], &m, 1, commit_cb, &q), 0);
    raft_fixture_depose(&c.f);
    store_fixture_flush(c.s[0]);
    CHECK_INT(d.calls, 1);
    CHECK_INT(d.rc, BE_NOTLEADER);
    CHECK_INT(q.calls, 1);
    CHECK_INT(q.rc, BE_NOTLEADER);
    CHECK(!store_is_leader(c.s[0]));

    raft_fixture_elect(&c.f, 1);
    CHECK(store_is_leader(c.s[1]));
    struct done e = {0};
    m.name = "after";
    CHECK_INT(store_propose(c.s[1], &m, 1, commit_cb, &e), 0);
    commit(&c, 1);
    CHECK_INT(e.calls, 1);
    CHECK_INT(e.rc, 0);
    for (int i = 0; i < N; i++)
        CHECK_INT(store_revision(c.s[i]), store_revision(c.s[1]));
    cluster_down(&c);
}

struct evs {
    int n;
    uint64_t last;
    int ordered;
};

static void ev_cb(void *data, const struct store_event *ev)
{
    struct evs *e = data;
    if (ev->type == STORE_EV_CLOSED)
        return;
    if (ev->rev <= e->last)
        e->ordered = 0;
    e->last = ev->rev;
    e->n++;
}

static void test_snapshot_install(void)
{
    struct cluster c;
    cluster_up_cfg(&c, 50, 4); /* the store snapshots every 4 entries */
    for (int i = 0; i < N; i++)
        raft_set_snapshot_trailing(raft_fixture_get(&c.f, i), 1);
    struct evs w2 = {.ordered = 1};
    store_watch_t *w;
    struct store_watch_opts o = {.resource = "pods"};
    CHECK_INT(store_watch_start(c.s[2], &o, ev_cb, &w2, &w), 0);

    raft_fixture_kill(&c.f, 2);
    char names[40][8];
    for (int i = 0; i < 40; i++) {
        struct done d = {0};
        snprintf(names[i], sizeof names[i], "s%d", i);
        struct store_mut m = create(names[i], NULL);
        CHECK_INT(store_propose(c.s[0], &m, 1, commit_cb, &d), 0);
        store_fixture_flush(c.s[0]);
        raft_index idx = raft_last_index(raft_fixture_get(&c.f, 0));
        CHECK(raft_fixture_step_until_applied(&c.f, 0, idx, 5000));
        CHECK_INT(d.rc, 0);
    }
    raft_fixture_revive(&c.f, 2);
    raft_index idx = raft_last_index(raft_fixture_get(&c.f, 0));
    CHECK(raft_fixture_step_until_applied(&c.f, 2, idx, 10000));
    CHECK_INT(store_revision(c.s[2]), 40);
    CHECK_INT(store_object_count(c.s[2]), 40);
    char *json;
    size_t len;
    uint64_t rev;
    CHECK_INT(store_get(c.s[2], "pods", "default", "s7", &json, &len, &rev), 0);
    CHECK_INT(rev, 8);
    free(json);
    CHECK(w2.ordered);
    /* the window restarted at the snapshot: older revisions are gone */
    struct evs w3 = {0};
    o.from_rev = 1;
    CHECK_INT(store_watch_start(c.s[2], &o, ev_cb, &w3, &w), BE_GONE);
    /* and the state keeps converging afterwards */
    struct done d = {0};
    struct store_mut m = create("after", NULL);
    CHECK_INT(store_propose(c.s[0], &m, 1, commit_cb, &d), 0);
    commit(&c, 0);
    CHECK_INT(store_revision(c.s[2]), 41);
    CHECK_INT(w2.last, 41);
    cluster_down(&c);
}

/* Records the MODIFIED events' previous objects. */
struct prevs {
    int modified, with_prev;
    char prev[256];
};

static void prev_cb(void *data, const struct store_event *ev)
{
    struct prevs *p = data;
    if (ev->type != STORE_EV_MODIFIED)
        return;
    p->modified++;
    if (ev->prev_json) {
        p->with_prev++;
        snprintf(p->prev, sizeof p->prev, "%.*s", (int)ev->prev_json_len, ev->prev_json);
    }
}

static struct store_mut update_labels(const char *name, const char *json, uint64_t rev)
{
    struct store_mut m = {.op = STORE_UPDATE, .resource = "configmaps", .ns = "default",
                          .name = name, .json = json, .json_len = strlen(json),
                          .expect_rev = rev};
    return m;
}

/* A watch with want_prev gets the object before each update, on every
 * member (the followers apply the same entries); without one on the
 * resource, updates keep nothing. */
static void test_watch_prev_object(void)
{
    struct cluster c;
    cluster_up(&c, 50);
    static const char v1[] = "{\"metadata\":{\"name\":\"cm\",\"labels\":{\"a\":\"1\"}}}";
    static const char v2[] = "{\"metadata\":{\"name\":\"cm\",\"labels\":{\"a\":\"2\"}}}";
    static const char v3[] = "{\"metadata\":{\"name\":\"cm\",\"labels\":{\"a\":\"3\"}}}";
    struct done d = {0};
    struct store_mut m = {.op = STORE_CREATE, .resource = "configmaps", .ns = "default",
                          .name = "cm", .json = v1, .json_len = sizeof v1 - 1};
    CHECK_INT(store_propose(c.s[0], &m, 1, commit_cb, &d), 0);
    commit(&c, 0);

    struct prevs plain = {0}, sel = {0};
    store_watch_t *w1, *w2;
    struct store_watch_opts o = {.resource = "configmaps", .from_rev = 1};
    CHECK_INT(store_watch_start(c.s[1], &o, prev_cb, &plain, &w1), 0);
    m = update_labels("cm", v2, 1);
    CHECK_INT(store_propose(c.s[0], &m, 1, commit_cb, &d), 0);
    commit(&c, 0);
    CHECK_INT(plain.modified, 1);
    CHECK_INT(plain.with_prev, 0); /* nobody asked */

    o.want_prev = true;
    o.from_rev = 2;
    CHECK_INT(store_watch_start(c.s[1], &o, prev_cb, &sel, &w2), 0);
    m = update_labels("cm", v3, 2);
    CHECK_INT(store_propose(c.s[0], &m, 1, commit_cb, &d), 0);
    commit(&c, 0);
    CHECK_INT(sel.modified, 1);
    CHECK_INT(sel.with_prev, 1);
    CHECK(strstr(sel.prev, "\"a\":\"2\"") != NULL); /* the state before */
    CHECK(strstr(sel.prev, "\"resourceVersion\":\"2\"") != NULL);
    CHECK_INT(plain.with_prev, 1); /* every watcher of the resource sees it */

    store_watch_stop(w2); /* the last one that asked: updates keep nothing again */
    m = update_labels("cm", v1, 3);
    CHECK_INT(store_propose(c.s[0], &m, 1, commit_cb, &d), 0);
    commit(&c, 0);
    CHECK_INT(plain.modified, 3);
    CHECK_INT(plain.with_prev, 1);
    store_watch_stop(w1);
    cluster_down(&c);
}

int main(void)
{
    RUN(test_replicated_revisions);
    RUN(test_group_commit);
    RUN(test_barrier_and_leadership_loss);
    RUN(test_snapshot_install);
    RUN(test_watch_prev_object);
    UNIT_EXIT();
}
