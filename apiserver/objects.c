/* objects.c: verbs on single objects: get, and the checks every write
 * shares. Creates are in create.c, updates and patches (with their retry
 * loop) in update.c.
 *
 * Every write follows one path: parse the body, check it against the route,
 * set the server-owned metadata (uid, creationTimestamp, generation),
 * default and validate it (validate.c), serialize it with metadata first
 * (the store's layout contract) and propose one mutation. The answer is
 * written from the store's commit callback, with the revision spliced in,
 * so the response is exactly what is stored. */
#define _GNU_SOURCE /* memmem */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apiserver/api_int.h"
#include "common/errors.h"
#include "common/jsonutil.h"
#include "common/uid.h"

int api_body_parse(const http_req_t *req, json_t **out, char *err, size_t errlen)
{
    json_error_t jerr;
    if (req->body_len == 0) {
        snprintf(err, errlen, "the request body is empty");
        return BE_INVAL;
    }
    const char *ct = http_req_header(req, "content-type");
    if (ct && (strstr(ct, "yaml") || strstr(ct, "protobuf"))) {
        snprintf(err, errlen, "content type %s is not supported: send JSON", ct);
        return BE_UNSUPPORTED;
    }
    json_t *body = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!body) {
        snprintf(err, errlen, "invalid JSON in the request body: line %d column %d: %s",
                 jerr.line, jerr.column, jerr.text);
        return BE_INVAL;
    }
    if (!json_is_object(body)) {
        json_decref(body);
        snprintf(err, errlen, "the request body must be a JSON object");
        return BE_INVAL;
    }
    *out = body;
    return 0;
}

/* The bodies parsed here, on the loop, are options and small requests
 * (DeleteOptions, a cluster join); objects are parsed on the body worker.
 * Refusing a big one keeps a hostile client from stalling the loop with it. */
#define SMALL_BODY_MAX ((size_t)64 << 10)

int api_parse_body(struct api_call *call, json_t **out)
{
    char err[1024];
    if (call->req->body_len > SMALL_BODY_MAX) {
        api_fail(call, BE_TOOBIG, "the request body is larger than %zu KiB", SMALL_BODY_MAX >> 10);
        return -1;
    }
    int rc = api_body_parse(call->req, out, err, sizeof err);
    if (rc) api_fail(call, rc, "%s", err);
    return rc ? -1 : 0;
}

/* Handing work to the body worker and back costs two thread wake-ups (50-100
 * us here when both sides sleep), more than parsing a small body. It pays
 * when other requests are waiting for the loop, or when there is JSON big
 * enough to stall it (about 1 ms of parsing per 64 KiB). */
#define OFFLOAD_MIN_BYTES ((size_t)64 << 10)

void api_run_job(struct api_call *call, struct offload_item *it, size_t stored_len)
{
    bool big = call->req->body_len + stored_len >= OFFLOAD_MIN_BYTES;
    bool pays = call->api->offload && (big || api_requests_in_flight(call->api) > 1);
    it->loop_may_run = !big; /* a big one never runs on the loop while it waits */
    if (pays && offload_submit(call->api->offload, it) == 0)
        return;
    it->work(it);
    it->done(it);
}

/* Formats a message into err and returns rc (for the checks that run off
 * the loop and cannot answer the call themselves). */
int api_errf(char *err, size_t errlen, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return rc;
}

/* Checks apiVersion/kind/namespace/name of a body against the route and
 * fills in what is missing. is_update: the body's name must equal the
 * route's; for a create the route takes the body's name. */
int api_identity_check(struct api_route *rt, json_t *obj, bool is_update, char *err, size_t errlen)
{
    const struct kind_info *k = rt->kind;
    char av[96];
    kind_api_version(k, av, sizeof av);
    const char *bav = json_path_str(obj, "apiVersion"), *bkind = json_path_str(obj, "kind");
    if ((bav && strcmp(bav, av)) || (bkind && strcmp(bkind, k->kind)))
        return api_errf(err, errlen, BE_INVAL,
                        "the object's apiVersion/kind (%s, %s) does not match the URL (%s, %s)",
                        bav ? bav : "", bkind ? bkind : "", av, k->kind);
    /* set only what differs: a value that is already right stays in place */
    if (!bav) json_object_set_new(obj, "apiVersion", json_string(av));
    if (!bkind) json_object_set_new(obj, "kind", json_string(k->kind));
    json_t *md = json_object_get(obj, "metadata");
    if (!md) json_object_set_new(obj, "metadata", md = json_object());
    if (!json_is_object(md))
        return api_errf(err, errlen, BE_INVAL, "metadata must be an object");
    const char *ns = json_path_str(md, "namespace");
    if (k->namespaced) {
        if (ns && ns[0] && strcmp(ns, rt->ns))
            return api_errf(err, errlen, BE_INVAL,
                            "the namespace of the object (%s) does not match the namespace "
                            "on the request (%s)", ns, rt->ns);
        if (!ns || strcmp(ns, rt->ns))
            json_object_set_new(md, "namespace", json_string(rt->ns));
    } else {
        json_object_del(md, "namespace");
    }
    const char *name = json_path_str(md, "name");
    if (is_update) {
        if (name && strcmp(name, rt->name))
            return api_errf(err, errlen, BE_INVAL,
                            "the name of the object (%s) does not match the name on the URL (%s)",
                            name, rt->name);
        json_object_set_new(md, "name", json_string(rt->name));
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
    if (!name || !name[0])
        return api_errf(err, errlen, BE_INVALID, "%s: metadata.name: Required value: "
                        "name or generateName is required", k->kind);
    if (strlen(name) > API_NAME_MAX)
        return api_errf(err, errlen, BE_INVALID, "%s: metadata.name: Invalid value: "
                        "must be no more than 253 characters", k->kind);
    snprintf(rt->name, sizeof rt->name, "%s", name);
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

/* ---- proposals ------------------------------------------------------- */

int api_propose_hinted(struct api_call *call, enum store_op op, const char *node,
                       const char *owner, uint64_t expect_rev, store_commit_cb cb)
{
    struct api_route *rt = &call->route;
    struct store_mut m = {.op = op, .resource = rt->kind->resource,
                          .ns = rt->kind->namespaced ? rt->ns : "", .name = rt->name,
                          .expect_rev = expect_rev, .json = call->text, .json_len = call->text_len,
                          .node = node, .owner = owner};
    return store_propose(call->api->store, &m, 1, cb, call);
}

int api_propose_text(struct api_call *call, enum store_op op, const json_t *obj,
                     uint64_t expect_rev, store_commit_cb cb)
{
    struct store_mut hints = {0};
    if (obj) api_index_hints(&call->route, obj, &hints);
    return api_propose_hinted(call, op, hints.node, hints.owner, expect_rev, cb);
}

int api_output_set(struct api_output *o, const struct api_route *rt, const json_t *obj)
{
    struct store_mut hints = {0};
    o->text = json_dump_object(obj, &o->text_len);
    api_index_hints(rt, obj, &hints);
    o->node = hints.node ? strdup(hints.node) : NULL;
    o->owner = hints.owner ? strdup(hints.owner) : NULL;
    bool ok = o->text && (!hints.node || o->node) && (!hints.owner || o->owner);
    return ok ? 0 : BE_NOMEM;
}

void api_output_take(struct api_call *call, struct api_output *o)
{
    free(call->warnings);
    call->warnings = o->warnings;
    o->warnings = NULL;
    free(call->text);
    call->text = o->text;
    call->text_len = o->text_len;
    o->text = NULL;
}

void api_output_free(struct api_output *o)
{
    free(o->text);
    free(o->warnings);
    free(o->node);
    free(o->owner);
}

/* ---- dispatch ----------------------------------------------------------- */

void api_handle_object(struct api_call *call)
{
    struct api_route *rt = &call->route;
    const char *m = call->req->method;
    if (rt->type == ROUTE_COLLECTION) { api_create_object(call); return; }
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
