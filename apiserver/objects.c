/* objects.c: verbs on single objects: get, create, and the pod
 * binding subresource. Updates and patches (with their retry loop) are in
 * update.c.
 *
 * Every write follows one path: parse the body, check it against the route,
 * set the server-owned metadata (uid, creationTimestamp, generation),
 * default and validate it (validate.c), serialize it with metadata first
 * (the store's layout contract) and propose one mutation. The answer is
 * written from the store's commit callback, with the revision spliced in,
 * so the response is exactly what is stored. */
#define _GNU_SOURCE /* memmem */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apiserver/api_int.h"
#include "common/errors.h"
#include "common/jsonutil.h"
#include "common/uid.h"

int api_parse_body(struct api_call *call, json_t **out)
{
    json_error_t jerr;
    http_req_t *req = call->req;
    if (req->body_len == 0) {
        api_fail(call, BE_INVAL, "the request body is empty");
        return -1;
    }
    const char *ct = http_req_header(req, "content-type");
    if (ct && (strstr(ct, "yaml") || strstr(ct, "protobuf"))) {
        api_fail(call, BE_UNSUPPORTED, "content type %s is not supported: send JSON", ct);
        return -1;
    }
    json_t *body = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!body) {
        api_fail(call, BE_INVAL, "invalid JSON in the request body: line %d column %d: %s",
                 jerr.line, jerr.column, jerr.text);
        return -1;
    }
    if (!json_is_object(body)) {
        json_decref(body);
        api_fail(call, BE_INVAL, "the request body must be a JSON object");
        return -1;
    }
    *out = body;
    return 0;
}

/* Checks apiVersion/kind/namespace/name of a body against the route and
 * fills in what is missing. name_required: for updates the body's name must
 * equal the route's. */
int api_check_identity(struct api_call *call, json_t *obj, bool is_update)
{
    const struct kind_info *k = call->route.kind;
    char av[96];
    kind_api_version(k, av, sizeof av);
    const char *bav = json_path_str(obj, "apiVersion"), *bkind = json_path_str(obj, "kind");
    if ((bav && strcmp(bav, av)) || (bkind && strcmp(bkind, k->kind))) {
        api_fail(call, BE_INVAL, "the object's apiVersion/kind (%s, %s) does not match the URL (%s, %s)",
                 bav ? bav : "", bkind ? bkind : "", av, k->kind);
        return -1;
    }
    /* set only what differs: a value that is already right stays in place */
    if (!bav) json_object_set_new(obj, "apiVersion", json_string(av));
    if (!bkind) json_object_set_new(obj, "kind", json_string(k->kind));
    json_t *md = json_object_get(obj, "metadata");
    if (!md) json_object_set_new(obj, "metadata", md = json_object());
    if (!json_is_object(md)) {
        api_fail(call, BE_INVAL, "metadata must be an object");
        return -1;
    }
    const char *ns = json_path_str(md, "namespace");
    if (k->namespaced) {
        if (ns && ns[0] && strcmp(ns, call->route.ns)) {
            api_fail(call, BE_INVAL, "the namespace of the object (%s) does not match the namespace on the request (%s)",
                     ns, call->route.ns);
            return -1;
        }
        if (!ns || strcmp(ns, call->route.ns))
            json_object_set_new(md, "namespace", json_string(call->route.ns));
    } else {
        json_object_del(md, "namespace");
    }
    const char *name = json_path_str(md, "name");
    if (is_update) {
        if (name && strcmp(name, call->route.name)) {
            api_fail(call, BE_INVAL, "the name of the object (%s) does not match the name on the URL (%s)",
                     name, call->route.name);
            return -1;
        }
        json_object_set_new(md, "name", json_string(call->route.name));
        return 0;
    }
    const char *gen = json_path_str(md, "generateName");
    if ((!name || !name[0]) && gen && gen[0] && strlen(gen) < 200) {
        static const char alnum[] = "bcdfghjklmnpqrstvwxz2456789";
        char buf[API_NAME_MAX + 1];
        char uid[37];
        uid_new(uid);
        int n = snprintf(buf, sizeof buf, "%s", gen);
        for (int i = 0; i < 5; i++) buf[n + i] = alnum[(unsigned char)uid[i * 4] % (sizeof alnum - 1)];
        buf[n + 5] = 0;
        json_object_set_new(md, "name", json_string(buf));
        name = json_path_str(md, "name");
    }
    if (!name || !name[0]) {
        api_fail(call, BE_INVALID, "%s: metadata.name: Required value: name or generateName is required", k->kind);
        return -1;
    }
    if (strlen(name) > API_NAME_MAX) {
        api_fail(call, BE_INVALID, "%s: metadata.name: Invalid value: must be no more than 253 characters", k->kind);
        return -1;
    }
    snprintf(call->route.name, sizeof call->route.name, "%s", name);
    return 0;
}

/* A namespace being deleted takes no new objects (the namespace controller
 * is emptying it). The substring test skips the parse for the usual case. */
static bool namespace_terminating(const char *json, size_t len)
{
    if (!memmem(json, len, "\"deletionTimestamp\"", 19)) return false;
    json_t *ns = json_loadb(json, len, 0, NULL);
    bool yes = ns && json_path_str(ns, "metadata.deletionTimestamp") != NULL;
    json_decref(ns);
    return yes;
}

int api_namespace_check(api_server_t *api, const char *ns)
{
    uint64_t gen = store_ns_generation(api->store) + 1;
    if (api->ns_seen_gen == gen && !strcmp(api->ns_seen, ns)) return 0;
    char *json = NULL;
    size_t len = 0;
    if (store_get(api->store, "namespaces", "", ns, &json, &len, NULL)) return BE_NOTFOUND;
    bool terminating = namespace_terminating(json, len);
    free(json);
    if (terminating) return BE_FORBIDDEN;
    snprintf(api->ns_seen, sizeof api->ns_seen, "%s", ns);
    api->ns_seen_gen = gen;
    return 0;
}

/* Index hints the store keeps for hot queries. */
void api_index_hints(const struct api_route *rt, const json_t *obj, struct store_mut *m)
{
    if (!strcmp(rt->kind->resource, "pods")) {
        const char *node = json_path_str(obj, "spec.nodeName");
        m->node = node ? node : "";
    }
    json_t *refs = json_path(obj, "metadata");
    refs = refs ? json_object_get(refs, "ownerReferences") : NULL;
    size_t i;
    json_t *ref;
    json_array_foreach(refs, i, ref) {
        if (json_is_true(json_object_get(ref, "controller"))) {
            m->owner = json_path_str(ref, "uid");
            break;
        }
    }
}

/* ---- get ---------------------------------------------------------------- */

static void get_now(struct api_call *call)
{
    struct api_route *rt = &call->route;
    char *json = NULL;
    size_t len = 0;
    uint64_t rev = 0;
    char desc[320];
    if (store_get(call->api->store, rt->kind->resource, rt->kind->namespaced ? rt->ns : "",
                  rt->name, &json, &len, &rev)) {
        api_object_desc(rt, desc, sizeof desc);
        api_fail(call, BE_NOTFOUND, "%s not found", desc);
        return;
    }
    if (!strcmp(rt->sub, "scale")) {
        api_reply_scale(call, json, len);
        return;
    }
    api_reply_json(call, 200, json, len);
}

static void on_read_barrier(void *data, int rc)
{
    struct api_call *call = data;
    if (rc) { api_fail(call, rc, "cannot serve a consistent read: %s", be_strerror(rc)); return; }
    call->read_fn(call);
}

/* Serves a read after a raft barrier, unless the client asked for a
 * possibly stale read with resourceVersion=0 (as Kubernetes does). */
void api_consistent_read(struct api_call *call, void (*fn)(struct api_call *call))
{
    char rv[32];
    if (http_req_query(call->req, "resourceVersion", rv, sizeof rv) && rv[0]) {
        fn(call);
        return;
    }
    call->read_fn = fn;
    int rc = store_barrier(call->api->store, on_read_barrier, call);
    if (rc) api_fail(call, rc, "cannot serve a consistent read: %s", be_strerror(rc));
}

/* ---- create ------------------------------------------------------------- */

static void on_create_commit(void *data, int rc, const struct store_result *res, size_t n)
{
    struct api_call *call = data;
    char desc[320];
    if (rc || n != 1 || res[0].rc) {
        api_object_desc(&call->route, desc, sizeof desc);
        if (rc) { api_fail(call, rc, "%s not created: %s", desc, be_strerror(rc)); return; }
        int r = n == 1 ? res[0].rc : BE_INTERNAL;
        if (r == BE_EXISTS) api_fail(call, r, "%s already exists", desc);
        else api_fail(call, r, "%s not created: %s", desc, be_strerror(r));
        return;
    }
    api_reply_stored(call, 201, res[0].rev);
}

/* Propose one mutation of call->text; cb answers. */
int api_propose_text(struct api_call *call, enum store_op op, const json_t *obj,
                     uint64_t expect_rev, store_commit_cb cb)
{
    struct api_route *rt = &call->route;
    struct store_mut m = {.op = op, .resource = rt->kind->resource,
                          .ns = rt->kind->namespaced ? rt->ns : "", .name = rt->name,
                          .expect_rev = expect_rev, .json = call->text, .json_len = call->text_len};
    if (obj) api_index_hints(rt, obj, &m);
    return store_propose(call->api->store, &m, 1, cb, call);
}

static void create(struct api_call *call)
{
    struct api_route *rt = &call->route;
    json_t *obj;
    char err[1024];
    if (api_parse_body(call, &obj)) return;
    call->body = obj;
    if (api_check_identity(call, obj, false)) return;
    int nsrc = rt->kind->namespaced ? api_namespace_check(call->api, rt->ns) : 0;
    if (nsrc == BE_NOTFOUND) {
        api_fail(call, BE_NOTFOUND, "namespaces \"%s\" not found", rt->ns);
        return;
    }
    if (nsrc) {
        api_fail(call, BE_FORBIDDEN, "%s \"%s\" is forbidden: unable to create new content in "
                 "namespace %s because it is being terminated", rt->kind->resource, rt->name,
                 rt->ns);
        return;
    }
    json_t *md = json_object_get(obj, "metadata");
    char uid[37], ts[32];
    uid_new(uid);
    time_format_rfc3339(time(NULL), ts, sizeof ts);
    json_object_set_new(md, "uid", json_string(uid));
    json_object_set_new(md, "creationTimestamp", json_string(ts));
    json_object_del(md, "deletionTimestamp");
    json_object_del(md, "managedFields");
    if (json_object_get(obj, "spec")) json_object_set_new(md, "generation", json_integer(1));
    int rc = api_validate(rt, obj, NULL, err, sizeof err);
    if (rc) {
        api_fail(call, rc, "%s.%s \"%s\" is invalid: %s", rt->kind->kind, rt->kind->group,
                 rt->name, err);
        return;
    }
    call->warnings = api_field_warnings(rt->kind, obj);
    call->text = json_dump_object(obj, &call->text_len);
    if (!call->text) { api_fail(call, BE_NOMEM, "cannot serialize the object"); return; }
    rc = api_propose_text(call, STORE_CREATE, obj, 0, on_create_commit);
    if (rc) { api_fail(call, rc, "cannot create: %s", be_strerror(rc)); return; }
    /* the store copied what it needs: free the tree now, while it is hot */
    json_decref(call->body);
    call->body = NULL;
}

/* ---- dispatch ----------------------------------------------------------- */

void api_handle_object(struct api_call *call)
{
    struct api_route *rt = &call->route;
    const char *m = call->req->method;
    if (rt->type == ROUTE_COLLECTION) { create(call); return; }
    if (!strcmp(rt->sub, "log")) { api_handle_pod_log(call); return; }
    if (!strcmp(m, "GET")) { api_consistent_read(call, get_now); return; }
    if (!strcmp(m, "DELETE") && !rt->sub[0]) { api_delete_object(call); return; }
    if (!strcmp(m, "POST") && !strcmp(rt->sub, "binding")) { api_bind_pod(call); return; }
    if ((!strcmp(m, "PUT") || !strcmp(m, "PATCH")) && strcmp(rt->sub, "binding")) {
        api_update_object(call);
        return;
    }
    api_fail(call, BE_METHOD, "method %s is not allowed here", m);
}
