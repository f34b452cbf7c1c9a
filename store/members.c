/* members.c: the raft configuration as the store shows it, and membership
 * changes (store.h, "membership").
 *
 * raft 0.15 runs one configuration change at a time and answers
 * RAFT_CANTCHANGE to a second one, so changes wait in a FIFO here and the
 * next one starts from the callback of the previous. raft fails the change
 * in flight itself when leadership is lost or raft closes; the queued ones
 * are failed by store_changes_fail(), called from the leadership poll and
 * from store_close(). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/log.h"
#include "store/store_int.h"

struct store_change {
    struct raft_change req;
    struct store *s;
    enum store_change_op op;
    uint64_t id;
    char address[128];
    enum store_role role;
    void (*cb)(void *data, int rc);
    void *data;
    struct store_change *next;
};

static int map_change(struct store *s, int rv)
{
    if (s->closing)
        return BE_SHUTDOWN;
    switch (rv) {
    case 0: return 0;
    case RAFT_NOTLEADER:
    case RAFT_LEADERSHIPLOST: return BE_NOTLEADER;
    case RAFT_SHUTDOWN: return BE_SHUTDOWN;
    case RAFT_NOMEM: return BE_NOMEM;
    case RAFT_DUPLICATEID:
    case RAFT_DUPLICATEADDRESS:
    case RAFT_BADROLE: return BE_EXISTS;
    case RAFT_BADID:
    case RAFT_NOTFOUND: return BE_NOTFOUND;
    case RAFT_NOCONNECTION: return BE_UNAVAIL;
    case RAFT_CANTCHANGE: return BE_CONFLICT;
    default: return BE_IO;
    }
}

static int raft_role(enum store_role r)
{
    return r == STORE_VOTER ? RAFT_VOTER : r == STORE_STANDBY ? RAFT_STANDBY : RAFT_SPARE;
}

static enum store_role our_role(int r)
{
    return r == RAFT_VOTER ? STORE_VOTER : r == RAFT_STANDBY ? STORE_STANDBY : STORE_SPARE;
}

const char *store_role_name(enum store_role role)
{
    switch (role) {
    case STORE_VOTER: return "voter";
    case STORE_STANDBY: return "standby";
    case STORE_SPARE: return "spare";
    }
    return "unknown";
}

uint64_t store_id(store_t *s)
{
    return s->raft ? s->raft->id : 0;
}

uint64_t store_leader_id(store_t *s)
{
    raft_id id = 0;
    const char *addr = NULL;
    if (!s->raft || s->closing)
        return 0;
    raft_leader(s->raft, &id, &addr);
    return id;
}

int store_configuration(store_t *s, struct store_server **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!s->raft)
        return BE_SHUTDOWN;
    const struct raft_configuration *c = &s->raft->configuration;
    if (c->n == 0)
        return 0;
    struct store_server *v = calloc(c->n, sizeof *v);
    if (!v)
        return BE_NOMEM;
    for (unsigned i = 0; i < c->n; i++) {
        v[i].id = c->servers[i].id;
        snprintf(v[i].address, sizeof v[i].address, "%s",
                 c->servers[i].address ? c->servers[i].address : "");
        v[i].role = our_role(c->servers[i].role);
    }
    *out = v;
    *n = c->n;
    return 0;
}

bool store_in_configuration(store_t *s)
{
    if (!s->raft)
        return false;
    const struct raft_configuration *c = &s->raft->configuration;
    for (unsigned i = 0; i < c->n; i++)
        if (c->servers[i].id == s->raft->id)
            return true;
    return false;
}

size_t store_changes_pending(store_t *s)
{
    size_t n = s->chg_busy ? 1 : 0;
    for (struct store_change *c = s->chg_head; c; c = c->next)
        n++;
    return n;
}

static void change_next(struct store *s);

static void change_cb(struct raft_change *req, int status)
{
    struct store_change *c = req->data;
    struct store *s = c->s;
    int rc = map_change(s, status);
    s->chg_busy = false;
    if (rc)
        log_warn("store", "membership change (op %d, id %llu) failed: %s", (int)c->op,
                 (unsigned long long)c->id, status ? raft_strerror(status) : be_strerror(rc));
    else
        log_info("store", "membership change (op %d, id %llu) committed", (int)c->op,
                 (unsigned long long)c->id);
    c->cb(c->data, rc);
    free(c);
    if (s->closing)
        store_changes_fail(s, BE_SHUTDOWN);
    else if (rc == BE_NOTLEADER)
        store_changes_fail(s, BE_NOTLEADER);
    else
        change_next(s);
}

/* Hands one change to raft; 0 if raft took it (its callback will come). */
static int change_start(struct store *s, struct store_change *c)
{
    int rv;
    c->req.data = c;
    if (!store_is_leader(s))
        rv = RAFT_NOTLEADER;
    else if (c->op == STORE_ADD)
        rv = raft_add(s->raft, &c->req, c->id, c->address, change_cb);
    else if (c->op == STORE_ASSIGN)
        rv = raft_assign(s->raft, &c->req, c->id, raft_role(c->role), change_cb);
    else
        rv = raft_remove(s->raft, &c->req, c->id, change_cb);
    if (rv == 0)
        s->chg_busy = true;
    return rv;
}

/* Starts queued changes until one is accepted by raft (the rest wait for
 * its callback) or the queue is empty. */
static void change_next(struct store *s)
{
    while (!s->chg_busy && s->chg_head) {
        struct store_change *c = s->chg_head;
        s->chg_head = c->next;
        if (!s->chg_head)
            s->chg_tail = NULL;
        int rv = change_start(s, c);
        if (rv == 0)
            return;
        int rc = map_change(s, rv);
        log_warn("store", "membership change (op %d, id %llu) refused: %s", (int)c->op,
                 (unsigned long long)c->id, raft_strerror(rv));
        c->cb(c->data, rc);
        free(c);
    }
}

int store_change(store_t *s, enum store_change_op op, uint64_t id, const char *address,
                 enum store_role role, void (*cb)(void *data, int rc), void *data)
{
    if (s->closing)
        return BE_SHUTDOWN;
    if (!cb || id == 0 || op < STORE_ADD || op > STORE_REMOVE)
        return BE_INVAL;
    if (op == STORE_ADD && (!address || !address[0] || strlen(address) >= 128))
        return BE_INVAL;
    if (op == STORE_ASSIGN && (role < STORE_VOTER || role > STORE_SPARE))
        return BE_INVAL;
    if (!store_is_leader(s))
        return BE_NOTLEADER;
    struct store_change *c = calloc(1, sizeof *c);
    if (!c)
        return BE_NOMEM;
    c->s = s;
    c->op = op;
    c->id = id;
    c->role = role;
    c->cb = cb;
    c->data = data;
    if (address)
        snprintf(c->address, sizeof c->address, "%s", address);
    if (!s->chg_busy && !s->chg_head) {
        /* nothing ahead of it: a refusal is answered now, without cb */
        int rv = change_start(s, c);
        if (rv != 0) {
            free(c);
            return map_change(s, rv);
        }
        return 0;
    }
    if (s->chg_tail)
        s->chg_tail->next = c;
    else
        s->chg_head = c;
    s->chg_tail = c;
    change_next(s);
    return 0;
}

void store_changes_fail(struct store *s, int rc)
{
    struct store_change *c = s->chg_head;
    s->chg_head = s->chg_tail = NULL;
    while (c) {
        struct store_change *next = c->next;
        c->cb(c->data, rc);
        free(c);
        c = next;
    }
}

unsigned store_snapshots_taken(store_t *s)
{
    return s->snapshots;
}
