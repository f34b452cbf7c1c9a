/* test_store_members.c: membership changes and leadership loss of the store
 * over raft's deterministic fixture: a fourth server added as a spare,
 * promoted to voter (after catching up), demoted, removed; duplicate ids and
 * roles refused; changes queued behind one another run in order; a deposed
 * leader is told at once (on_leader_change false, so the scheduler and
 * controllers stop) and its queued proposals and changes fail instead of
 * being committed. */
#include <raft.h>
#include <raft/fixture.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "store/store.h"
#include "unit.h"

#define N 3

struct cluster {
    struct raft_fixture f;
    store_t *s[N + 1];
    int lead_changes[N + 1];
    bool leading[N + 1];
};

static struct cluster *cur;

static void on_lead(void *data, bool is_leader)
{
    int i = (int)(intptr_t)data;
    cur->lead_changes[i]++;
    cur->leading[i] = is_leader;
}

static void up(struct cluster *c)
{
    struct raft_configuration conf;
    memset(c, 0, sizeof *c);
    cur = c;
    CHECK_INT(raft_fixture_initialize(&c->f), 0);
    for (int i = 0; i < N; i++) {
        struct store_config cfg = {.name = "m", .on_leader_change = on_lead, .data = (void *)(intptr_t)i};
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
    store_fixture_flush(c->s[0]);
    CHECK(store_is_leader(c->s[0]));
}

static void down(struct cluster *c)
{
    raft_fixture_close(&c->f);
    for (int i = 0; i <= N; i++)
        if (c->s[i]) store_close(c->s[i], NULL, NULL);
}

struct done {
    int calls, rc, order;
};
static int seq;

static void change_cb(void *data, int rc)
{
    struct done *d = data;
    d->calls++;
    d->rc = rc;
    d->order = ++seq;
}

static enum store_role role_of(store_t *s, uint64_t id)
{
    struct store_server *v;
    size_t n;
    enum store_role r = 0;
    CHECK_INT(store_configuration(s, &v, &n), 0);
    for (size_t i = 0; i < n; i++)
        if (v[i].id == id) r = v[i].role;
    free(v);
    return r;
}

static size_t conf_size(store_t *s)
{
    struct store_server *v;
    size_t n;
    CHECK_INT(store_configuration(s, &v, &n), 0);
    free(v);
    return n;
}

static void step_until_done(struct cluster *c, struct done *d)
{
    for (int i = 0; i < 20000 && d->calls == 0; i++)
        raft_fixture_step(&c->f);
    CHECK_INT(d->calls, 1);
}

static void test_add_promote_remove(void)
{
    struct cluster c;
    up(&c);
    CHECK_INT(store_id(c.s[0]), 1);
    CHECK_INT(store_leader_id(c.s[1]) == 1 || store_leader_id(c.s[1]) == 0, 1);
    CHECK_INT(conf_size(c.s[0]), 3);
    CHECK(store_in_configuration(c.s[2]));

    /* a fourth server: added as a spare */
    struct store_config cfg = {.name = "m4"};
    struct raft_fsm *fsm;
    CHECK_INT(store_open_fixture_cfg(&cfg, &fsm, &c.s[N]), 0);
    CHECK_INT(raft_fixture_grow(&c.f, fsm), 0);
    store_fixture_attach(c.s[N], raft_fixture_get(&c.f, N));
    CHECK_INT(raft_start(raft_fixture_get(&c.f, N)), 0); /* grow does not start it */
    CHECK(!store_in_configuration(c.s[N]));
    struct done d = {0};
    CHECK_INT(store_change(c.s[0], STORE_ADD, 4, "4", 0, change_cb, &d), 0);
    step_until_done(&c, &d);
    CHECK_INT(d.rc, 0);
    CHECK_INT(role_of(c.s[0], 4), STORE_SPARE);
    CHECK_STR(store_role_name(role_of(c.s[0], 4)), "spare");

    /* refused at once, without a callback */
    struct done bad = {0};
    CHECK_INT(store_change(c.s[0], STORE_ADD, 4, "4", 0, change_cb, &bad), BE_EXISTS);
    CHECK_INT(store_change(c.s[0], STORE_ASSIGN, 4, NULL, STORE_SPARE, change_cb, &bad), BE_EXISTS);
    CHECK_INT(store_change(c.s[0], STORE_REMOVE, 99, NULL, 0, change_cb, &bad), BE_NOTFOUND);
    CHECK_INT(store_change(c.s[1], STORE_ADD, 5, "5", 0, change_cb, &bad), BE_NOTLEADER);
    CHECK_INT(store_change(c.s[0], STORE_ADD, 5, "", 0, change_cb, &bad), BE_INVAL);
    CHECK_INT(bad.calls, 0);

    /* promote (raft catches it up first), then a queued demotion */
    struct done p = {0}, q = {0};
    seq = 0;
    CHECK_INT(store_change(c.s[0], STORE_ASSIGN, 4, NULL, STORE_VOTER, change_cb, &p), 0);
    CHECK_INT(store_change(c.s[0], STORE_ASSIGN, 4, NULL, STORE_STANDBY, change_cb, &q), 0);
    CHECK_INT(store_changes_pending(c.s[0]), 2);
    step_until_done(&c, &p);
    CHECK_INT(p.rc, 0);
    step_until_done(&c, &q);
    CHECK_INT(q.rc, 0);
    CHECK_INT(p.order, 1);
    CHECK_INT(q.order, 2);
    CHECK_INT(role_of(c.s[0], 4), STORE_STANDBY);
    CHECK_INT(store_changes_pending(c.s[0]), 0);
    /* the new member replicates: it sees itself in the configuration */
    for (int i = 0; i < 5000 && !store_in_configuration(c.s[N]); i++)
        raft_fixture_step(&c.f);
    CHECK(store_in_configuration(c.s[N]));

    struct done r = {0};
    CHECK_INT(store_change(c.s[0], STORE_REMOVE, 4, NULL, 0, change_cb, &r), 0);
    step_until_done(&c, &r);
    CHECK_INT(r.rc, 0);
    CHECK_INT(conf_size(c.s[0]), 3);
    down(&c);
}

struct pdone {
    int calls, rc;
};

static void prop_cb(void *data, int rc, const struct store_result *res, size_t n)
{
    struct pdone *d = data;
    d->calls++;
    d->rc = rc ? rc : (n == 1 ? res[0].rc : BE_INTERNAL);
}

static void test_deposed_leader(void)
{
    struct cluster c;
    up(&c);
    CHECK(c.leading[0]);
    int before = c.lead_changes[0];
    /* cut the leader off */
    for (int j = 1; j < N; j++) {
        raft_fixture_disconnect(&c.f, 0, j);
        raft_fixture_disconnect(&c.f, j, 0);
    }
    static const char json[] = "{\"metadata\":{\"name\":\"x\"}}";
    struct store_mut m = {.op = STORE_CREATE, .resource = "pods", .ns = "default", .name = "stale",
                          .json = json, .json_len = sizeof json - 1};
    struct pdone pd = {0};
    struct done cd = {0}, cq = {0};
    CHECK_INT(store_propose(c.s[0], &m, 1, prop_cb, &pd), 0);
    store_fixture_flush(c.s[0]); /* the entry is in raft, never committed */
    CHECK_INT(store_change(c.s[0], STORE_ADD, 7, "7", 0, change_cb, &cd), 0);
    CHECK_INT(store_change(c.s[0], STORE_ADD, 8, "8", 0, change_cb, &cq), 0);
    /* the others elect a new leader; the old one steps down on its own */
    CHECK(raft_fixture_step_until_state_is(&c.f, 0, RAFT_FOLLOWER, 10000));
    store_fixture_flush(c.s[0]);
    CHECK(!store_is_leader(c.s[0]));
    CHECK(!c.leading[0]);
    CHECK_INT(c.lead_changes[0], before + 1);
    CHECK_INT(pd.calls, 1);
    CHECK_INT(pd.rc, BE_NOTLEADER);
    CHECK_INT(cd.calls, 1);
    CHECK_INT(cd.rc, BE_NOTLEADER);
    CHECK_INT(cq.calls, 1);
    CHECK_INT(cq.rc, BE_NOTLEADER);
    CHECK_INT(store_propose(c.s[0], &m, 1, prop_cb, &pd), BE_NOTLEADER);
    unsigned l = 0;
    for (int i = 0; i < 100000 && !l; i++) {
        raft_fixture_step(&c.f);
        for (unsigned j = 1; j < N; j++)
            if (raft_state(raft_fixture_get(&c.f, j)) == RAFT_LEADER) l = j;
    }
    CHECK(l == 1 || l == 2);
    /* the majority commits a write of its own */
    struct pdone nd = {0};
    m.name = "fresh";
    store_fixture_flush(c.s[l]);
    CHECK_INT(store_propose(c.s[l], &m, 1, prop_cb, &nd), 0);
    store_fixture_flush(c.s[l]);
    for (int i = 0; i < 100000 && !nd.calls; i++)
        raft_fixture_step(&c.f);
    CHECK_INT(nd.rc, 0);
    /* heal: the stale write never appears anywhere */
    for (int j = 1; j < N; j++) {
        raft_fixture_reconnect(&c.f, 0, j);
        raft_fixture_reconnect(&c.f, j, 0);
    }
    raft_fixture_step_until_elapsed(&c.f, 2000);
    for (int i = 0; i < N; i++) {
        char *out = NULL;
        CHECK_INT(store_get(c.s[i], "pods", "default", "stale", &out, NULL, NULL), BE_NOTFOUND);
        free(out);
    }
    down(&c);
}

int main(void)
{
    RUN(test_add_promote_remove);
    RUN(test_deposed_leader);
    UNIT_EXIT();
}
