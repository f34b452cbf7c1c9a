/* cluster.c: membership of the servers (see cluster.h): the members
 * registry, the /cluster endpoints, and the manager that runs every 500 ms.
 *
 * The registry is ordinary store objects of resource "members" (no kind,
 * so /api cannot reach them), named by member name:
 *   {"metadata":{"name":N},"id":ID,"address":"H:P","api":"http://H:P"}
 * Raft's configuration is the truth about who is a member and in which
 * role; the registry only adds names and API URLs to raft ids. A record
 * whose id is not in the configuration is ignored (left over from a
 * removed or restored member).
 *
 * Asynchronous work (peer requests, store proposals, membership changes)
 * holds a reference on the manager, which is freed when the last one and
 * its timer are gone, so nothing runs on freed memory after stop. */
#include "apiserver/cluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apiserver/api_int.h"
#include "common/errors.h"
#include "common/jsonutil.h"
#include "common/log.h"
#include "common/uvhttp.h"

#define TICK_MS 500
#define NO_LEADER_CHECK_MS 3000
#define HEALTHY_MS 3000
#define MAX_PEERS 16
#define MAX_JOIN 8

struct member_rec {
    char name[128];
    uint64_t id;
    char address[128];
    char api[256];
};

struct health {
    uint64_t id;
    uint64_t last_ok;  /* loop ms of the last good /healthz */
    bool inflight;
};

struct api_cluster {
    api_server_t *api;
    uv_timer_t timer;
    int refs;
    bool stopping;
    unsigned voters;
    uint64_t grace_ms;
    char *join[MAX_JOIN];
    size_t njoin, join_next;
    bool join_inflight;
    uint64_t join_sent, join_acked;
    bool was_member, removed, check_inflight;
    uint64_t no_leader_since;
    bool record_inflight;
    struct health health[MAX_PEERS];
    size_t nhealth;
    void (*on_removed)(void *data);
    void *data;
    char *peers_path;    /* DATA_DIR/peers or NULL */
    char *peers_text;    /* what it holds */
};

static void cl_unref(struct api_cluster *cl)
{
    if (--cl->refs == 0) {
        for (size_t i = 0; i < cl->njoin; i++) free(cl->join[i]);
        free(cl->peers_path);
        free(cl->peers_text);
        free(cl);
    }
}

static uint64_t now_ms(struct api_cluster *cl) { return uv_now(cl->api->loop); }

/* ---- registry ---------------------------------------------------------- */

static int rec_parse(const char *json, size_t len, struct member_rec *r)
{
    json_t *o = json_loadb(json, len, 0, NULL);
    const char *name = json_path_str(o, "metadata.name"), *addr = json_path_str(o, "address"),
               *api = json_path_str(o, "api");
    json_t *id = json_object_get(o, "id");
    int rc = name && addr && api && json_is_integer(id) ? 0 : BE_PROTO;
    if (!rc) {
        snprintf(r->name, sizeof r->name, "%s", name);
        snprintf(r->address, sizeof r->address, "%s", addr);
        snprintf(r->api, sizeof r->api, "%s", api);
        r->id = (uint64_t)json_integer_value(id);
    }
    json_decref(o);
    return rc;
}

struct rec_list {
    struct member_rec v[64];
    size_t n;
};

static int on_rec(void *data, const char *ns, const char *name, uint64_t rev, const char *json,
                  size_t len)
{
    struct rec_list *l = data;
    if (l->n < 64 && rec_parse(json, len, &l->v[l->n]) == 0) l->n++;
    return 0;
}

static void recs_load(api_server_t *api, struct rec_list *l)
{
    l->n = 0;
    store_list(api->store, "members", NULL, on_rec, l, NULL);
}

static const struct member_rec *rec_by_id(const struct rec_list *l, uint64_t id)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i].id == id) return &l->v[i];
    return NULL;
}

int api_member_api_url(api_server_t *api, uint64_t id, char *buf, size_t len)
{
    struct rec_list *l = malloc(sizeof *l);
    if (!l) return BE_NOMEM;
    recs_load(api, l);
    const struct member_rec *r = rec_by_id(l, id);
    int rc = r ? 0 : BE_NOTFOUND;
    if (r) snprintf(buf, len, "%s", r->api);
    free(l);
    return rc;
}

static char *rec_json(const struct member_rec *r, size_t *len)
{
    json_t *o = json_pack("{s:{s:s}, s:I, s:s, s:s}", "metadata", "name", r->name, "id",
                          (json_int_t)r->id, "address", r->address, "api", r->api);
    char *text = o ? json_dump_object(o, len) : NULL;
    json_decref(o);
    return text;
}

/* Proposes r as the record of its name (create or overwrite). */
static int rec_put(api_server_t *api, const struct member_rec *r, store_commit_cb cb, void *data)
{
    size_t len = 0;
    char *text = rec_json(r, &len);
    if (!text) return BE_NOMEM;
    char *old = NULL;
    bool exists = store_get(api->store, "members", "", r->name, &old, NULL, NULL) == 0;
    free(old);
    struct store_mut m = {.op = exists ? STORE_UPDATE : STORE_CREATE, .resource = "members",
                          .ns = "", .name = r->name, .json = text, .json_len = len};
    int rc = store_propose(api->store, &m, 1, cb, data);
    free(text);
    return rc;
}

static bool rec_same(const struct member_rec *a, const struct member_rec *b)
{
    return a->id == b->id && !strcmp(a->name, b->name) && !strcmp(a->address, b->address) &&
           !strcmp(a->api, b->api);
}

static void self_rec(api_server_t *api, struct member_rec *r)
{
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", api->name);
    r->id = store_id(api->store);
    snprintf(r->address, sizeof r->address, "%s", api->raft_address);
    snprintf(r->api, sizeof r->api, "%s", api->advertise_url);
}

static bool in_conf(const struct store_server *conf, size_t n, uint64_t id, enum store_role *role)
{
    for (size_t i = 0; i < n; i++)
        if (conf[i].id == id) {
            if (role) *role = conf[i].role;
            return true;
        }
    return false;
}

/* ---- small JSON replies -------------------------------------------------- */

static void reply_obj(struct api_call *call, int status, json_t *o)
{
    char *body = o ? json_dumps(o, JSON_INDENT(2)) : NULL;
    json_decref(o);
    if (!body) { api_fail(call, BE_NOMEM, "out of memory"); return; }
    api_reply_json(call, status, body, strlen(body));
}

static const char *state_name(api_server_t *api)
{
    if (store_is_leader(api->store)) return "leader";
    if (!store_in_configuration(api->store)) return "joining";
    return store_has_leader(api->store) ? "follower" : "candidate";
}

/* ---- GET /cluster/self ----------------------------------------------------- */

static void handle_self(struct api_call *call)
{
    api_server_t *api = call->api;
    json_t *o = json_pack("{s:s, s:I, s:s, s:s, s:s, s:I, s:I, s:I}", "name", api->name, "id",
                          (json_int_t)store_id(api->store), "address", api->raft_address, "api",
                          api->advertise_url, "state", state_name(api), "leaderId",
                          (json_int_t)store_leader_id(api->store), "applied",
                          (json_int_t)store_applied_index(api->store), "revision",
                          (json_int_t)store_revision(api->store));
    reply_obj(call, 200, o);
}

/* ---- GET /cluster/members ------------------------------------------------- */

struct listing {
    struct api_call *call;
    json_t *root, *members;
    int pending;
};

struct probe {
    struct listing *ls;
    json_t *entry;  /* borrowed from ls->members */
};

static void listing_done(struct listing *ls)
{
    reply_obj(ls->call, 200, ls->root);
    free(ls);
}

static void on_probe(void *data, int rc, int status, const char *body, size_t len)
{
    struct probe *p = data;
    struct listing *ls = p->ls;
    json_t *self = rc == 0 && status == 200 ? json_loadb(body, len, 0, NULL) : NULL;
    json_t *applied = json_object_get(self, "applied");
    json_object_set_new(p->entry, "reachable", json_boolean(self != NULL));
    json_object_set(p->entry, "applied", json_is_integer(applied) ? applied : json_null());
    json_decref(self);
    free(p);
    if (--ls->pending == 0) listing_done(ls);
}

static void handle_members(struct api_call *call)
{
    api_server_t *api = call->api;
    struct store_server *conf = NULL;
    size_t n = 0;
    struct rec_list *l = malloc(sizeof *l);
    struct listing *ls = calloc(1, sizeof *ls);
    if (!l || !ls || store_configuration(api->store, &conf, &n)) {
        free(l);
        free(ls);
        api_fail(call, BE_NOMEM, "cannot read the raft configuration");
        return;
    }
    recs_load(api, l);
    char local[8] = "";
    bool no_probe = http_req_query(call->req, "local", local, sizeof local);
    uint64_t lid = store_leader_id(api->store), me = store_id(api->store);
    const struct member_rec *lr = lid ? rec_by_id(l, lid) : NULL;
    ls->call = call;
    ls->members = json_array();
    ls->root = json_pack("{s:s?, s:o}", "leader", lr ? lr->name : NULL, "members", ls->members);
    ls->pending = 1;
    for (size_t i = 0; i < n && ls->root; i++) {
        const struct member_rec *r = rec_by_id(l, conf[i].id);
        json_t *e = json_pack("{s:s, s:I, s:s, s:s, s:s, s:b}", "name", r ? r->name : "", "id",
                              (json_int_t)conf[i].id, "address", conf[i].address, "api",
                              r ? r->api : "", "role", store_role_name(conf[i].role), "leader",
                              conf[i].id == lid);
        if (!e) continue;
        json_array_append_new(ls->members, e);
        if (conf[i].id == me) {
            json_object_set_new(e, "applied", json_integer((json_int_t)store_applied_index(api->store)));
            json_object_set_new(e, "reachable", json_true());
            continue;
        }
        json_object_set_new(e, "applied", json_null());
        uvhttp_t *c = r && !no_probe ? api_peer_client(api, r->api, true) : NULL;
        struct probe *p = c ? calloc(1, sizeof *p) : NULL;
        if (!p) continue;
        p->ls = ls;
        p->entry = e;
        if (uvhttp_request(c, "GET", "/cluster/self", NULL, NULL, 0, on_probe, p)) {
            free(p);
            continue;
        }
        ls->pending++;
    }
    free(conf);
    free(l);
    if (--ls->pending == 0) listing_done(ls);
}

/* ---- POST /cluster/join (leader) ---------------------------------------------- */

struct join_op {
    struct api_call *call;
    struct api_cluster *cl;
    struct member_rec rec;
    bool already;
};

static void manager_tick(struct api_cluster *cl);

static void join_reply(struct join_op *j, int rc, const char *msg)
{
    if (rc) {
        api_fail(j->call, rc, "cannot add %s: %s", j->rec.name, msg);
    } else {
        json_t *o = json_pack("{s:s, s:s, s:I, s:b}", "status", "joined", "name", j->rec.name,
                              "id", (json_int_t)j->rec.id, "already", j->already);
        reply_obj(j->call, 200, o);
    }
    struct api_cluster *cl = j->cl;
    free(j);
    if (!cl->stopping && !rc) manager_tick(cl);
    cl_unref(cl);
}

static void on_join_added(void *data, int rc)
{
    struct join_op *j = data;
    if (rc == 0) log_info("cluster", "added %s (id %llu, %s) as a spare", j->rec.name,
                          (unsigned long long)j->rec.id, j->rec.address);
    join_reply(j, rc, rc == BE_EXISTS ? "its raft id or address is already in the configuration"
                                      : be_strerror(rc));
}

static void on_join_recorded(void *data, int rc, const struct store_result *res, size_t n)
{
    struct join_op *j = data;
    if (!rc && n == 1 && res[0].rc) rc = res[0].rc;
    if (rc) { join_reply(j, rc, "cannot record the member"); return; }
    if (j->already) { join_reply(j, 0, NULL); return; }
    rc = store_change(j->call->api->store, STORE_ADD, j->rec.id, j->rec.address, STORE_SPARE,
                      on_join_added, j);
    if (rc) on_join_added(j, rc);
}

static void join_local(struct api_call *call)
{
    api_server_t *api = call->api;
    struct api_cluster *cl = api->cluster;
    json_t *body = NULL;
    if (!cl) { api_fail(call, BE_SHUTDOWN, "the server is shutting down"); return; }
    if (api_parse_body(call, &body)) return;
    const char *name = json_path_str(body, "name"), *addr = json_path_str(body, "address"),
               *url = json_path_str(body, "api");
    json_t *idv = json_object_get(body, "id");
    json_int_t id = json_is_integer(idv) ? json_integer_value(idv) : 0;
    if (!name || !api_valid_dns_subdomain(name) || strlen(name) >= 128 || !addr ||
        !strchr(addr, ':') || strlen(addr) >= 128 || !url || strncmp(url, "http://", 7) ||
        strlen(url) >= 256 || id <= 0) {
        json_decref(body);
        api_fail(call, BE_INVAL, "a join request needs name (a DNS name), id (a positive "
                                 "integer), address (HOST:PORT) and api (http://HOST:PORT)");
        return;
    }
    struct join_op *j = calloc(1, sizeof *j);
    if (!j) { json_decref(body); api_fail(call, BE_NOMEM, "out of memory"); return; }
    j->call = call;
    j->cl = cl;
    cl->refs++;
    snprintf(j->rec.name, sizeof j->rec.name, "%s", name);
    snprintf(j->rec.address, sizeof j->rec.address, "%s", addr);
    snprintf(j->rec.api, sizeof j->rec.api, "%s", url);
    j->rec.id = (uint64_t)id;
    json_decref(body);

    struct store_server *conf = NULL;
    size_t n = 0;
    struct rec_list *l = malloc(sizeof *l);
    if (!l || store_configuration(api->store, &conf, &n)) {
        free(l);
        join_reply(j, BE_NOMEM, "out of memory");
        return;
    }
    recs_load(api, l);
    int rc = 0;
    const char *why = NULL;
    char msg[300];
    for (size_t i = 0; i < n && !rc; i++) {
        if (conf[i].id == j->rec.id) {
            if (strcmp(conf[i].address, j->rec.address)) {
                rc = BE_EXISTS;
                why = "its raft id is in use by a member with another address";
            } else {
                j->already = true;
            }
        } else if (!strcmp(conf[i].address, j->rec.address)) {
            rc = BE_EXISTS;
            why = "its raft address is in use by another member";
        }
    }
    for (size_t i = 0; i < l->n && !rc; i++) {
        if (!strcmp(l->v[i].name, j->rec.name) && l->v[i].id != j->rec.id &&
            in_conf(conf, n, l->v[i].id, NULL)) {
            snprintf(msg, sizeof msg, "the name is in use by member id %llu (remove it first)",
                     (unsigned long long)l->v[i].id);
            rc = BE_EXISTS;
            why = msg;
        }
    }
    const struct member_rec *cur = rec_by_id(l, j->rec.id);
    bool same = cur && rec_same(cur, &j->rec);
    free(conf);
    free(l);
    if (rc) { join_reply(j, rc, why); return; }
    if (same && j->already) { join_reply(j, 0, NULL); return; }
    rc = rec_put(api, &j->rec, on_join_recorded, j);
    if (rc) join_reply(j, rc, be_strerror(rc));
}

/* ---- DELETE /cluster/members/NAME (leader) ------------------------------------- */

struct remove_op {
    struct api_call *call;
    struct api_cluster *cl;
    struct member_rec rec;
};

static void remove_finish(struct remove_op *r, int rc, const char *msg)
{
    if (rc) {
        api_fail(r->call, rc, "cannot remove %s: %s", r->rec.name, msg);
    } else {
        json_t *o = json_pack("{s:s, s:s, s:I}", "status", "removed", "name", r->rec.name, "id",
                              (json_int_t)r->rec.id);
        reply_obj(r->call, 200, o);
    }
    struct api_cluster *cl = r->cl;
    free(r);
    cl_unref(cl);
}

static void on_record_deleted(void *data, int rc, const struct store_result *res, size_t n)
{
    struct remove_op *r = data;
    if (rc) log_warn("cluster", "removed %s but could not delete its record: %s", r->rec.name,
                     be_strerror(rc));
    remove_finish(r, 0, NULL);
}

static void on_removed_change(void *data, int rc)
{
    struct remove_op *r = data;
    if (rc) { remove_finish(r, rc, be_strerror(rc)); return; }
    log_info("cluster", "removed %s (id %llu) from the configuration", r->rec.name,
             (unsigned long long)r->rec.id);
    struct store_mut m = {.op = STORE_DELETE, .resource = "members", .ns = "", .name = r->rec.name};
    if (store_propose(r->call->api->store, &m, 1, on_record_deleted, r))
        remove_finish(r, 0, NULL);
}

static void remove_local(struct api_call *call)
{
    api_server_t *api = call->api;
    struct api_cluster *cl = api->cluster;
    const char *name = call->req->path + strlen("/cluster/members/");
    if (!cl) { api_fail(call, BE_SHUTDOWN, "the server is shutting down"); return; }
    struct remove_op *r = calloc(1, sizeof *r);
    struct rec_list *l = malloc(sizeof *l);
    struct store_server *conf = NULL;
    size_t n = 0;
    if (!r || !l || store_configuration(api->store, &conf, &n)) {
        free(r);
        free(l);
        api_fail(call, BE_NOMEM, "out of memory");
        return;
    }
    recs_load(api, l);
    const struct member_rec *found = NULL;
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->v[i].name, name) && in_conf(conf, n, l->v[i].id, NULL)) found = &l->v[i];
    int rc = 0;
    if (!found) rc = BE_NOTFOUND;
    else if (found->id == store_id(api->store)) rc = BE_CONFLICT;
    else r->rec = *found;
    free(conf);
    free(l);
    if (rc) {
        free(r);
        if (rc == BE_NOTFOUND) api_fail(call, rc, "member \"%s\" not found", name);
        else api_fail(call, rc, "member \"%s\" is the raft leader: stop it (another member takes "
                                "over) and remove it from there", name);
        return;
    }
    r->call = call;
    r->cl = cl;
    cl->refs++;
    rc = store_change(api->store, STORE_REMOVE, r->rec.id, NULL, STORE_SPARE, on_removed_change, r);
    if (rc) remove_finish(r, rc, be_strerror(rc));
}

/* ---- GET /cluster/snapshot (leader) --------------------------------------------- */

static void on_snapshot_barrier(void *data, int rc)
{
    struct api_call *call = data;
    void *buf = NULL;
    size_t len = 0;
    if (!rc) rc = store_serialize(call->api->store, &buf, &len);
    if (rc) { api_fail(call, rc, "cannot take a consistent snapshot: %s", be_strerror(rc)); return; }
    log_info("cluster", "serving a snapshot: %zu bytes at revision %llu", len,
             (unsigned long long)store_revision(call->api->store));
    http_respond_take(call->req, 200, "application/octet-stream", buf, len);
    api_call_finish(call, 200);
}

static void snapshot_local(struct api_call *call)
{
    int rc = store_barrier(call->api->store, on_snapshot_barrier, call);
    if (rc) api_fail(call, rc, "cannot take a consistent snapshot: %s", be_strerror(rc));
}

/* ---- dispatch --------------------------------------------------------------------- */

void api_handle_cluster(struct api_call *call)
{
    const char *p = call->req->path, *m = call->req->method;
    bool get = !strcmp(m, "GET");
    if (!strcmp(p, "/cluster/members") && get) { handle_members(call); return; }
    if (!strcmp(p, "/cluster/self") && get) { handle_self(call); return; }
    if (!strcmp(p, "/cluster/snapshot") && get) {
        api_forward_to_leader(call, "application/octet-stream", snapshot_local);
        return;
    }
    if (!strcmp(p, "/cluster/join") && !strcmp(m, "POST")) {
        api_forward_to_leader(call, "application/json", join_local);
        return;
    }
    if (!strncmp(p, "/cluster/members/", 17) && p[17] && !strcmp(m, "DELETE")) {
        api_forward_to_leader(call, "application/json", remove_local);
        return;
    }
    if (!strcmp(p, "/cluster/members") || !strcmp(p, "/cluster/self") ||
        !strcmp(p, "/cluster/snapshot") || !strcmp(p, "/cluster/join") ||
        !strncmp(p, "/cluster/members/", 17)) {
        api_fail(call, BE_METHOD, "method %s is not allowed on %s", m, p);
        return;
    }
    api_fail(call, BE_NOTFOUND, "the server could not find the requested resource %s", p);
}

/* ---- manager ------------------------------------------------------------------------ */

static struct health *health_of(struct api_cluster *cl, uint64_t id)
{
    for (size_t i = 0; i < cl->nhealth; i++)
        if (cl->health[i].id == id) return &cl->health[i];
    if (cl->nhealth == MAX_PEERS) return NULL;
    struct health *h = &cl->health[cl->nhealth++];
    memset(h, 0, sizeof *h);
    h->id = id;
    h->last_ok = now_ms(cl); /* benefit of the doubt from when we first look */
    return h;
}

struct hprobe {
    struct api_cluster *cl;
    uint64_t id;
};

static void on_health(void *data, int rc, int status, const char *body, size_t len)
{
    struct hprobe *p = data;
    struct api_cluster *cl = p->cl;
    if (!cl->stopping) {
        for (size_t i = 0; i < cl->nhealth; i++) {
            if (cl->health[i].id != p->id) continue;
            cl->health[i].inflight = false;
            if (rc == 0 && status == 200) cl->health[i].last_ok = now_ms(cl);
        }
    }
    free(p);
    cl_unref(cl);
}

static void on_record_written(void *data, int rc, const struct store_result *res, size_t n)
{
    struct api_cluster *cl = data;
    cl->record_inflight = false;
    if (rc || (n == 1 && res[0].rc))
        log_warn("cluster", "cannot record this member: %s", be_strerror(rc ? rc : res[0].rc));
    cl_unref(cl);
}

static void on_role_changed(void *data, int rc)
{
    cl_unref(data);
}

/* Leader: one role change toward the wanted shape, if none is running. */
static void reconcile_roles(struct api_cluster *cl, const struct store_server *conf, size_t n)
{
    api_server_t *api = cl->api;
    uint64_t now = now_ms(cl), me = store_id(api->store);
    size_t voters = 0, alive = 0;
    const struct store_server *spare = NULL, *standby = NULL, *lost = NULL;
    for (size_t i = 0; i < n; i++) {
        struct health *h = conf[i].id == me ? NULL : health_of(cl, conf[i].id);
        bool is_alive = conf[i].id == me || (h && now - h->last_ok < cl->grace_ms);
        bool healthy = conf[i].id == me || (h && now - h->last_ok < HEALTHY_MS);
        if (conf[i].role == STORE_VOTER) {
            voters++;
            if (is_alive) alive++;
            else if (!lost) lost = &conf[i];
        } else if (conf[i].role == STORE_STANDBY && healthy && !standby) {
            standby = &conf[i];
        } else if (conf[i].role == STORE_SPARE && (!spare || healthy)) {
            spare = &conf[i]; /* a healthy one if there is one */
        }
    }
    const struct store_server *target = NULL;
    enum store_role role = STORE_VOTER;
    struct health *sh = spare ? health_of(cl, spare->id) : NULL;
    bool spare_healthy = sh && now - sh->last_ok < HEALTHY_MS;
    if ((voters < cl->voters || alive < cl->voters) && (standby || spare_healthy)) {
        target = standby ? standby : spare;   /* promote */
    } else if (voters > cl->voters && lost) {
        target = lost;                        /* a standby took its place */
        role = STORE_STANDBY;
    } else if (spare) {
        target = spare;                       /* enough voters: replicate */
        role = STORE_STANDBY;
    }
    if (!target) return;
    log_info("cluster", "making member %llu a %s (voters %zu, alive %zu, wanted %u)",
             (unsigned long long)target->id, store_role_name(role), voters, alive, cl->voters);
    cl->refs++;
    if (store_change(api->store, STORE_ASSIGN, target->id, NULL, role, on_role_changed, cl))
        cl_unref(cl);
}

static void leader_duties(struct api_cluster *cl)
{
    api_server_t *api = cl->api;
    struct member_rec me, cur;
    self_rec(api, &me);
    char *json = NULL;
    size_t len = 0;
    bool fresh = false;
    if (store_get(api->store, "members", "", me.name, &json, &len, NULL) == 0)
        fresh = rec_parse(json, len, &cur) == 0 && rec_same(&cur, &me);
    free(json);
    if (!fresh && !cl->record_inflight) {
        cl->refs++;
        cl->record_inflight = true;
        if (rec_put(api, &me, on_record_written, cl)) {
            cl->record_inflight = false;
            cl_unref(cl);
        }
    }

    struct store_server *conf = NULL;
    size_t n = 0;
    struct rec_list *l = malloc(sizeof *l);
    if (!l || store_configuration(api->store, &conf, &n)) { free(l); return; }
    recs_load(api, l);
    for (size_t i = 0; i < n; i++) {
        if (conf[i].id == me.id) continue;
        struct health *h = health_of(cl, conf[i].id);
        const struct member_rec *r = rec_by_id(l, conf[i].id);
        uvhttp_t *c = r ? api_peer_client(api, r->api, true) : NULL;
        if (!h || h->inflight || !c) continue;
        struct hprobe *p = calloc(1, sizeof *p);
        if (!p) continue;
        p->cl = cl;
        p->id = conf[i].id;
        cl->refs++;
        if (uvhttp_request(c, "GET", "/healthz", NULL, NULL, 0, on_health, p)) {
            free(p);
            cl->refs--;
            continue;
        }
        h->inflight = true;
    }
    if (store_changes_pending(api->store) == 0) reconcile_roles(cl, conf, n);
    free(conf);
    free(l);
}

/* ---- joining and leaving ------------------------------------------------------------- */

static void on_join_answer(void *data, int rc, int status, const char *body, size_t len)
{
    struct api_cluster *cl = data;
    cl->join_inflight = false;
    if (!cl->stopping) {
        if (rc == 0 && status == 200) {
            if (!cl->join_acked) log_info("cluster", "join accepted; catching up with the leader");
            cl->join_acked = now_ms(cl);
        } else {
            log_warn("cluster", "join request to %s: %s%.*s", cl->join[(cl->join_next + cl->njoin - 1) % cl->njoin],
                     rc ? "" : "refused: ", (int)(len > 300 ? 300 : len), body ? body : "");
        }
    }
    cl_unref(cl);
}

static void send_join(struct api_cluster *cl, const char *url)
{
    api_server_t *api = cl->api;
    uvhttp_t *c = api_peer_client(api, url, true);
    if (!c) return;
    json_t *o = json_pack("{s:s, s:I, s:s, s:s}", "name", api->name, "id",
                          (json_int_t)store_id(api->store), "address", api->raft_address, "api",
                          api->advertise_url);
    char *body = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!body) return;
    cl->refs++;
    if (uvhttp_request(c, "POST", "/cluster/join", "application/json", body, strlen(body),
                       on_join_answer, cl) == 0) {
        cl->join_inflight = true;
        cl->join_sent = now_ms(cl);
    } else {
        cl->refs--;
    }
    free(body);
}

static void removed_now(struct api_cluster *cl, const char *how)
{
    if (cl->removed) return;
    cl->removed = true;
    log_warn("cluster", "this member (%s) is no longer in the raft configuration (%s)",
             cl->api->name, how);
    if (cl->on_removed) cl->on_removed(cl->data);
}

static void on_membership_check(void *data, int rc, int status, const char *body, size_t len)
{
    struct api_cluster *cl = data;
    cl->check_inflight = false;
    if (!cl->stopping && rc == 0 && status == 200) {
        json_t *o = json_loadb(body, len, 0, NULL), *m;
        size_t i;
        bool listed = false;
        uint64_t me = store_id(cl->api->store);
        json_array_foreach(json_object_get(o, "members"), i, m) {
            json_t *id = json_object_get(m, "id");
            if (json_is_integer(id) && (uint64_t)json_integer_value(id) == me) listed = true;
        }
        if (json_is_string(json_object_get(o, "leader")) && json_array_size(json_object_get(o, "members")) &&
            !listed)
            removed_now(cl, "a member with a leader does not list it");
        json_decref(o);
    }
    cl_unref(cl);
}

/* The registry as "ID URL" lines, kept in DATA_DIR/peers (written through
 * a temporary file and rename when it changes). */
static void peers_save(struct api_cluster *cl, const struct rec_list *l)
{
    if (!cl->peers_path || l->n == 0) return;
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    if (!m) return;
    for (size_t i = 0; i < l->n; i++)
        fprintf(m, "%llu %s %s\n", (unsigned long long)l->v[i].id, l->v[i].api, l->v[i].name);
    fclose(m);
    if (cl->peers_text && !strcmp(cl->peers_text, text)) { free(text); return; }
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", cl->peers_path);
    FILE *f = fopen(tmp, "w");
    if (f && fputs(text, f) >= 0 && fclose(f) == 0 && rename(tmp, cl->peers_path) == 0) {
        free(cl->peers_text);
        cl->peers_text = text;
        return;
    }
    if (f) unlink(tmp);
    free(text);
}

static void peers_load(struct api_cluster *cl, struct rec_list *l)
{
    FILE *f = cl->peers_path ? fopen(cl->peers_path, "r") : NULL;
    if (!f) return;
    char line[600];
    while (l->n < 64 && fgets(line, sizeof line, f)) {
        struct member_rec *r = &l->v[l->n];
        unsigned long long id;
        memset(r, 0, sizeof *r);
        if (sscanf(line, "%llu %255s %127s", &id, r->api, r->name) >= 2) {
            r->id = id;
            l->n++;
        }
    }
    fclose(f);
}

/* No leader for a while: ask another member whether we are still in. */
static void check_membership(struct api_cluster *cl)
{
    api_server_t *api = cl->api;
    struct rec_list *l = malloc(sizeof *l);
    if (!l) return;
    recs_load(api, l);
    if (l->n <= 1) { l->n = 0; peers_load(cl, l); }
    uint64_t me = store_id(api->store);
    size_t others = 0;
    for (size_t i = 0; i < l->n; i++) others += l->v[i].id != me;
    if (others) {
        size_t pick = (size_t)(now_ms(cl) / TICK_MS) % others;
        for (size_t i = 0; i < l->n; i++) {
            if (l->v[i].id == me || pick--) continue;
            uvhttp_t *c = api_peer_client(api, l->v[i].api, true);
            cl->refs++;
            if (c && uvhttp_request(c, "GET", "/cluster/members?local=1", NULL, NULL, 0,
                                    on_membership_check, cl) == 0)
                cl->check_inflight = true;
            else
                cl->refs--;
            break;
        }
    }
    free(l);
}

static void manager_tick(struct api_cluster *cl)
{
    api_server_t *api = cl->api;
    if (cl->stopping || cl->removed) return;
    uint64_t now = now_ms(cl);
    bool in = store_in_configuration(api->store);
    if (in) cl->was_member = true;
    if (in && store_has_leader(api->store) && cl->peers_path) {
        struct rec_list *l = malloc(sizeof *l);
        if (l) { recs_load(api, l); peers_save(cl, l); free(l); }
    }

    if (!in && cl->njoin && !cl->join_inflight &&
        (!cl->join_acked || now - cl->join_acked > 10000) && now - cl->join_sent >= 1000) {
        send_join(cl, cl->join[cl->join_next++ % cl->njoin]);
    }
    if (cl->was_member && !in) {
        struct store_server *conf = NULL;
        size_t n = 0;
        store_configuration(api->store, &conf, &n);
        free(conf);
        if (n) { removed_now(cl, "its own configuration no longer lists it"); return; }
    }
    if (store_has_leader(api->store)) {
        cl->no_leader_since = 0;
    } else if (!cl->no_leader_since) {
        cl->no_leader_since = now;
    } else if (cl->was_member && !cl->check_inflight && now - cl->no_leader_since > NO_LEADER_CHECK_MS) {
        check_membership(cl);
    }
    if (store_is_leader(api->store)) leader_duties(cl);
}

static void on_tick(uv_timer_t *t) { manager_tick(t->data); }

void api_cluster_leader_changed(api_server_t *api, bool is_leader)
{
    struct api_cluster *cl = api->cluster;
    if (!cl || cl->stopping) return;
    cl->nhealth = 0; /* a new term: give every member the grace period again */
    if (is_leader) manager_tick(cl);
}

int api_cluster_start(api_server_t *api, const struct api_cluster_config *cfg, char *errbuf,
                      size_t errlen)
{
    struct api_cluster *cl = calloc(1, sizeof *cl);
    if (!cl) { snprintf(errbuf, errlen, "out of memory"); return BE_NOMEM; }
    cl->api = api;
    cl->refs = 1;
    cl->voters = cfg && cfg->voters ? cfg->voters : 3;
    cl->grace_ms = cfg && cfg->voter_grace_ms ? cfg->voter_grace_ms : 30000;
    cl->on_removed = cfg ? cfg->on_removed : NULL;
    cl->data = cfg ? cfg->data : NULL;
    if (cfg && cfg->data_dir) {
        size_t n = strlen(cfg->data_dir) + 7;
        if ((cl->peers_path = malloc(n))) snprintf(cl->peers_path, n, "%s/peers", cfg->data_dir);
    }
    if (cfg && cfg->join) {
        const char *p = cfg->join;
        while (*p) {
            size_t n = strcspn(p, ",");
            if (n) {
                char url[256];
                snprintf(url, sizeof url, "%.*s", (int)n, p);
                char host[200];
                int port;
                if (n >= sizeof url || uvhttp_parse_url(url, host, sizeof host, &port) ||
                    cl->njoin == MAX_JOIN) {
                    snprintf(errbuf, errlen, "--join: bad or too many URLs at \"%.*s\"", (int)n, p);
                    cl_unref(cl);
                    return BE_INVAL;
                }
                cl->join[cl->njoin++] = strdup(url);
            }
            p += n;
            if (*p == ',') p++;
        }
    }
    uv_timer_init(api->loop, &cl->timer);
    cl->timer.data = cl;
    uv_timer_start(&cl->timer, on_tick, 50, TICK_MS);
    api->cluster = cl;
    return 0;
}

static void timer_closed(uv_handle_t *h) { cl_unref(h->data); }

void api_cluster_stop(api_server_t *api)
{
    struct api_cluster *cl = api->cluster;
    if (!cl) return;
    api->cluster = NULL;
    cl->stopping = true;
    uv_timer_stop(&cl->timer);
    uv_close((uv_handle_t *)&cl->timer, timer_closed);
}
