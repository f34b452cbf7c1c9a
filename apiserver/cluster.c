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
 * its timer are gone, so nothing runs on freed memory after stop. The
 * manager itself is in cluster_manager.c. */
#include "apiserver/cluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apiserver/api_int.h"
#include "apiserver/cluster_int.h"
#include "common/errors.h"
#include "common/jsonutil.h"
#include "common/log.h"
#include "common/uvhttp.h"





void cl_unref(struct api_cluster *cl)
{
    if (--cl->refs == 0) {
        for (size_t i = 0; i < cl->njoin; i++) free(cl->join[i]);
        free(cl->peers_path);
        free(cl->peers_text);
        free(cl);
    }
}


/* ---- registry ---------------------------------------------------------- */

int cl_rec_parse(const char *json, size_t len, struct member_rec *r)
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


static int on_rec(void *data, const char *ns, const char *name, uint64_t rev, const char *json,
                  size_t len)
{
    struct rec_list *l = data;
    if (l->n < 64 && cl_rec_parse(json, len, &l->v[l->n]) == 0) l->n++;
    return 0;
}

void cl_recs_load(api_server_t *api, struct rec_list *l)
{
    l->n = 0;
    store_list(api->store, "members", NULL, on_rec, l, NULL);
}

const struct member_rec *cl_rec_by_id(const struct rec_list *l, uint64_t id)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i].id == id) return &l->v[i];
    return NULL;
}

int api_member_api_url(api_server_t *api, uint64_t id, char *buf, size_t len)
{
    struct rec_list *l = malloc(sizeof *l);
    if (!l) return BE_NOMEM;
    cl_recs_load(api, l);
    const struct member_rec *r = cl_rec_by_id(l, id);
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
int cl_rec_put(api_server_t *api, const struct member_rec *r, store_commit_cb cb, void *data)
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

bool cl_rec_same(const struct member_rec *a, const struct member_rec *b)
{
    return a->id == b->id && !strcmp(a->name, b->name) && !strcmp(a->address, b->address) &&
           !strcmp(a->api, b->api);
}

void cl_self_rec(api_server_t *api, struct member_rec *r)
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
    cl_recs_load(api, l);
    char local[8] = "";
    bool no_probe = http_req_query(call->req, "local", local, sizeof local);
    uint64_t lid = store_leader_id(api->store), me = store_id(api->store);
    const struct member_rec *lr = lid ? cl_rec_by_id(l, lid) : NULL;
    ls->call = call;
    ls->members = json_array();
    ls->root = json_pack("{s:s?, s:o}", "leader", lr ? lr->name : NULL, "members", ls->members);
    ls->pending = 1;
    for (size_t i = 0; i < n && ls->root; i++) {
        const struct member_rec *r = cl_rec_by_id(l, conf[i].id);
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
    if (!cl->stopping && !rc) cl_manager_tick(cl);
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
    cl_recs_load(api, l);
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
    const struct member_rec *cur = cl_rec_by_id(l, j->rec.id);
    bool same = cur && cl_rec_same(cur, &j->rec);
    free(conf);
    free(l);
    if (rc) { join_reply(j, rc, why); return; }
    if (same && j->already) { join_reply(j, 0, NULL); return; }
    rc = cl_rec_put(api, &j->rec, on_join_recorded, j);
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
    cl_recs_load(api, l);
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

static void on_snapshot_image(void *data, int rc, const void *buf, size_t len)
{
    struct api_call *call = data;
    if (rc) { api_fail(call, rc, "cannot take a consistent snapshot: %s", be_strerror(rc)); return; }
    log_info("cluster", "serving a snapshot: %zu bytes (LZ4)", len);
    http_respond(call->req, 200, "application/octet-stream", buf, len, NULL);
    api_call_finish(call, 200);
}

/* After the barrier every acknowledged write is applied here; the image is
 * taken at once (a fork) and encoded off the loop. */
static void on_snapshot_barrier(void *data, int rc)
{
    struct api_call *call = data;
    if (!rc) {
        log_info("cluster", "taking a snapshot at revision %llu",
                 (unsigned long long)store_revision(call->api->store));
        rc = store_image(call->api->store, on_snapshot_image, call);
    }
    if (rc) api_fail(call, rc, "cannot take a consistent snapshot: %s", be_strerror(rc));
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
