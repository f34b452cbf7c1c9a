/* delete.c: DELETE of one object, with the deletion semantics Kubernetes
 * users rely on:
 *
 *  - Pods stop gracefully. A pod bound to a node and not finished is not
 *    removed but marked: metadata.deletionTimestamp (now + the grace
 *    period) and deletionGracePeriodSeconds, from DeleteOptions'
 *    gracePeriodSeconds or the pod's terminationGracePeriodSeconds (30).
 *    Its agent sends SIGTERM, then SIGKILL when the grace is over, and
 *    deletes the object with gracePeriodSeconds 0 (and preconditions.uid)
 *    once the containers are gone. Endpoints drop the pod at the mark.
 *    Grace 0, an unscheduled pod and a Succeeded/Failed one go at once.
 *  - Foreground and Orphan propagation on objects that own others mark the
 *    owner with a finalizer for the garbage collector (controllers/gc.c).
 *  - A namespace is marked Terminating and emptied by the namespace
 *    controller (controllers/namespace.c); the built-in ones stay.
 *  - preconditions.resourceVersion and preconditions.uid are checked.
 * Everything else is deleted at once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apiserver/api_int.h"
#include "common/errors.h"
#include "common/jsonutil.h"

static void on_delete_commit(void *data, int rc, const struct store_result *res, size_t n)
{
    struct api_call *call = data;
    char desc[320];
    api_object_desc(&call->route, desc, sizeof desc);
    if (!rc && n == 1) rc = res[0].rc;
    if (rc == BE_NOTFOUND) { api_fail(call, rc, "%s not found", desc); return; }
    if (rc == BE_CONFLICT) {
        api_fail(call, rc, "Operation cannot be fulfilled on %s: the precondition resourceVersion does not match", desc);
        return;
    }
    if (rc) { api_fail(call, rc, "%s not deleted: %s", desc, be_strerror(rc)); return; }
    char *out = call->text;
    call->text = NULL;
    api_reply_json(call, 200, out, call->text_len);
}

static void on_mark_commit(void *data, int rc, const struct store_result *res, size_t n)
{
    struct api_call *call = data;
    char desc[320];
    api_object_desc(&call->route, desc, sizeof desc);
    if (!rc && n == 1) rc = res[0].rc;
    if (rc == BE_CONFLICT) {
        api_fail(call, rc, "Operation cannot be fulfilled on %s: the object has been modified; "
                 "please apply your changes to the latest version and try again", desc);
        return;
    }
    if (rc) { api_fail(call, rc, "%s not deleted: %s", desc, be_strerror(rc)); return; }
    api_reply_stored(call, 200, res[0].rev);
}

/* The stored object (call->text) parsed, with its metadata; NULL if the
 * store holds something that is not an object with metadata. */
static json_t *stored_object(struct api_call *call, json_t **md)
{
    json_t *obj = json_loadb(call->text, call->text_len, 0, NULL);
    *md = obj ? json_object_get(obj, "metadata") : NULL;
    if (json_is_object(*md)) return obj;
    json_decref(obj);
    return NULL;
}

/* A delete of an object already marked answers with it as it is. */
static void reply_stored(struct api_call *call)
{
    char *out = call->text;
    call->text = NULL;
    api_reply_json(call, 200, out, call->text_len);
}

/* Stores obj (the marked object; its reference is taken) at rev, answering
 * from the commit. */
static void propose_mark(struct api_call *call, json_t *obj, uint64_t rev)
{
    free(call->text);
    call->text = json_dump_object(obj, &call->text_len);
    int rc = call->text ? api_propose_text(call, STORE_UPDATE, obj, rev, on_mark_commit) : BE_NOMEM;
    json_decref(obj);
    if (rc) api_fail(call, rc, "cannot delete: %s", be_strerror(rc));
}

/* Foreground and Orphan deletion of an object that can own others follow
 * the Kubernetes convention: the object is not deleted here but marked with
 * deletionTimestamp and the "foregroundDeletion" or "orphan" finalizer; the
 * garbage collector (controllers/gc.c) deletes or releases the dependents,
 * drops the finalizer and then deletes the object. */
static bool mark_for_deletion(struct api_call *call, const char *policy, uint64_t rev)
{
    static const char *const owners[] = {"deployments", "replicasets", "daemonsets",
                                         "statefulsets", "jobs", "cronjobs", NULL};
    bool owner_kind = false;
    for (int i = 0; owners[i]; i++) owner_kind |= !strcmp(owners[i], call->route.kind->resource);
    if (!policy || !owner_kind || !strcmp(policy, "Background")) return false;
    json_t *md, *obj = stored_object(call, &md);
    if (!obj) return false;
    if (json_object_get(md, "deletionTimestamp")) {
        json_decref(obj);
        reply_stored(call);
        return true;
    }
    char ts[32];
    time_format_rfc3339(time(NULL), ts, sizeof ts);
    json_object_set_new(md, "deletionTimestamp", json_string(ts));
    json_t *fins = json_object_get(md, "finalizers");
    if (!json_is_array(fins)) json_object_set_new(md, "finalizers", fins = json_array());
    json_array_append_new(fins, json_string(!strcmp(policy, "Orphan") ? "orphan" : "foregroundDeletion"));
    propose_mark(call, obj, rev);
    return true;
}

static bool uid_matches(const char *json, size_t len, const char *uid)
{
    json_t *obj = json_loadb(json, len, 0, NULL);
    const char *have = obj ? json_path_str(obj, "metadata.uid") : NULL;
    bool same = have && !strcmp(have, uid);
    json_decref(obj);
    return same;
}

/* Deleting a namespace marks it as Kubernetes does: deletionTimestamp,
 * status.phase Terminating and the "kubernetes" finalizer. The namespace
 * controller (controllers/namespace.c) deletes its contents, then it. */
static void mark_namespace_terminating(struct api_call *call, uint64_t rev)
{
    json_t *md, *obj = stored_object(call, &md);
    if (!obj) {
        api_fail(call, BE_INTERNAL, "stored namespace is not an object");
        return;
    }
    if (json_object_get(md, "deletionTimestamp")) { /* already terminating */
        json_decref(obj);
        reply_stored(call);
        return;
    }
    char ts[32];
    time_format_rfc3339(time(NULL), ts, sizeof ts);
    json_object_set_new(md, "deletionTimestamp", json_string(ts));
    json_t *spec = json_object_get(obj, "spec"), *status = json_object_get(obj, "status");
    if (!json_is_object(spec)) json_object_set_new(obj, "spec", spec = json_object());
    if (!json_is_object(status)) json_object_set_new(obj, "status", status = json_object());
    json_object_set_new(spec, "finalizers", json_pack("[s]", "kubernetes"));
    json_object_set_new(status, "phase", json_string("Terminating"));
    propose_mark(call, obj, rev);
}

/* The grace period of a pod delete: -1 for "delete now". */
static long long pod_grace(struct api_call *call, const json_t *pod)
{
    const char *phase = json_path_str(pod, "status.phase");
    if (!json_path_str(pod, "spec.nodeName") || (phase && (!strcmp(phase, "Succeeded") ||
                                                           !strcmp(phase, "Failed"))))
        return -1;
    json_t *g = call->body ? json_object_get(call->body, "gracePeriodSeconds") : NULL;
    char q[32];
    long long grace = 30;
    if (json_is_integer(g))
        grace = json_integer_value(g);
    else if (http_req_query(call->req, "gracePeriodSeconds", q, sizeof q) && q[0])
        grace = strtoll(q, NULL, 10);
    else if (json_is_integer(json_path(pod, "spec.terminationGracePeriodSeconds")))
        grace = json_integer_value(json_path(pod, "spec.terminationGracePeriodSeconds"));
    return grace > 0 ? grace : -1;
}

/* Marks a running pod for graceful deletion; false when it goes at once. */
static bool mark_pod_terminating(struct api_call *call, uint64_t rev)
{
    json_t *md, *pod = stored_object(call, &md);
    long long grace = pod ? pod_grace(call, pod) : -1;
    if (grace < 0) {
        json_decref(pod);
        return false;
    }
    if (json_object_get(md, "deletionTimestamp")) { /* already terminating */
        json_decref(pod);
        reply_stored(call);
        return true;
    }
    char ts[32];
    time_format_rfc3339(time(NULL) + (time_t)grace, ts, sizeof ts);
    json_object_set_new(md, "deletionTimestamp", json_string(ts));
    json_object_set_new(md, "deletionGracePeriodSeconds", json_integer(grace));
    propose_mark(call, pod, rev);
    return true;
}

void api_delete_object(struct api_call *call)
{
    struct api_route *rt = &call->route;
    char desc[320];
    uint64_t rev = 0, expect = 0;
    api_object_desc(rt, desc, sizeof desc);
    if (!strcmp(rt->kind->resource, "namespaces") &&
        (!strcmp(rt->name, "default") || !strcmp(rt->name, "kube-system") ||
         !strcmp(rt->name, "kube-public") || !strcmp(rt->name, "kube-node-lease"))) {
        api_fail(call, BE_FORBIDDEN, "namespace %s may not be deleted", rt->name);
        return;
    }
    if (call->req->body_len) {
        json_t *opts;
        if (api_parse_body(call, &opts)) return;
        call->body = opts;
        const char *pol = json_path_str(opts, "propagationPolicy");
        if (pol && strcmp(pol, "Background") && strcmp(pol, "Foreground") && strcmp(pol, "Orphan")) {
            api_fail(call, BE_INVAL, "propagationPolicy must be Background, Foreground or Orphan, not %s", pol);
            return;
        }
        const char *prv = json_path_str(opts, "preconditions.resourceVersion");
        if (prv && (expect = strtoull(prv, NULL, 10)) == 0) {
            api_fail(call, BE_INVAL, "invalid preconditions.resourceVersion %s", prv);
            return;
        }
    }
    if (store_get(call->api->store, rt->kind->resource, rt->kind->namespaced ? rt->ns : "",
                  rt->name, &call->text, &call->text_len, &rev)) {
        api_fail(call, BE_NOTFOUND, "%s not found", desc);
        return;
    }
    if (expect && expect != rev) {
        api_fail(call, BE_CONFLICT, "Operation cannot be fulfilled on %s: the precondition resourceVersion does not match", desc);
        return;
    }
    const char *want_uid = call->body ? json_path_str(call->body, "preconditions.uid") : NULL;
    if (want_uid && !uid_matches(call->text, call->text_len, want_uid)) {
        api_fail(call, BE_CONFLICT, "Operation cannot be fulfilled on %s: the precondition uid does not match", desc);
        return;
    }
    json_t *g = call->body ? json_object_get(call->body, "gracePeriodSeconds") : NULL;
    if (g && (!json_is_integer(g) || json_integer_value(g) < 0)) {
        api_fail(call, BE_INVAL, "gracePeriodSeconds must be a non-negative integer");
        return;
    }
    if (!strcmp(rt->kind->resource, "pods") && mark_pod_terminating(call, rev))
        return;
    if (!strcmp(rt->kind->resource, "namespaces")) {
        mark_namespace_terminating(call, rev);
        return;
    }
    if (mark_for_deletion(call, call->body ? json_path_str(call->body, "propagationPolicy") : NULL, rev))
        return;
    int rc = api_propose_text(call, STORE_DELETE, NULL, expect, on_delete_commit);
    if (rc) api_fail(call, rc, "cannot delete: %s", be_strerror(rc));
}

