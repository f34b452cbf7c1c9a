/* update.c: PUT and merge PATCH of objects and of their status and scale
 * subresources, and the pod binding.
 *
 * All of them are one loop, as Kubernetes' GuaranteedUpdate: read the
 * current object from the local state machine, compute the new object from
 * it and the request (a "mutator" per verb and subresource), carry over what
 * the server owns (uid, creationTimestamp, generation bumped only when spec
 * changed, status unless this is the status subresource), validate, and
 * propose an update conditioned on the revision that was read. If another
 * write got there first the store answers Conflict: with a resourceVersion
 * from the client that is the client's 409; without one the loop runs again
 * on the fresh object (a few times). An update that changes nothing is
 * answered without a write, so no-op applies do not churn revisions.
 *
 * Only the read and the proposal need the loop. The middle of an attempt
 * (parse the body and the stored object, mutate, validate, serialize both
 * to compare) is pure and runs on the API body worker when that pays
 * (api_run_job): a 2.5 MiB PUT kept the loop from everyone else for 150 ms,
 * a small patch to a 2.5 MiB object for 100 ms (docs/benchmarks.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver/api_int.h"
#include "common/errors.h"
#include "common/jsonutil.h"
#include "common/merge.h"

/* Attempts of an update without a resourceVersion. Kubernetes retries such
 * an update until the request times out; a cap bounds the work instead.
 * Each round of writers racing on one object lets one of them through, so
 * with n writers at once the last needs n attempts: 8 was too few for 8
 * concurrent patches (test_api_update_big). */
#define MAX_ATTEMPTS 32

/* Builds the new object from the current one and the request body. Returns
 * 0, or a BE_* code with a message in err. */
typedef int (*mutator_fn)(struct api_call *call, const json_t *cur, json_t **out,
                          char *err, size_t errlen);

static bool has_status_sub(const struct api_route *rt)
{
    return kind_has_subresource(rt->kind, "status");
}

static bool is_patch(const struct api_call *call) { return !strcmp(call->req->method, "PATCH"); }

static int take_status_from(json_t *dst, const json_t *src)
{
    json_t *st = json_object_get(src, "status");
    if (st) return json_object_set_new(dst, "status", json_deep_copy(st));
    json_object_del(dst, "status");
    return 0;
}

static int mutate_main(struct api_call *call, const json_t *cur, json_t **out, char *err, size_t errlen)
{
    json_t *next = is_patch(call) ? merge_patch_apply(cur, call->body) : json_deep_copy(call->body);
    if (!next) { snprintf(err, errlen, "out of memory"); return BE_NOMEM; }
    if (!json_is_object(next) || !json_is_object(json_object_get(next, "metadata"))) {
        json_decref(next);
        snprintf(err, errlen, "the patched object must be an object with metadata");
        return BE_INVAL;
    }
    if (has_status_sub(&call->route)) take_status_from(next, cur);
    *out = next;
    return 0;
}

static int mutate_status(struct api_call *call, const json_t *cur, json_t **out, char *err, size_t errlen)
{
    json_t *src = is_patch(call) ? merge_patch_apply(cur, call->body) : json_incref(call->body);
    json_t *next = json_deep_copy(cur);
    if (!src || !next) {
        json_decref(src);
        json_decref(next);
        snprintf(err, errlen, "out of memory");
        return BE_NOMEM;
    }
    take_status_from(next, src);
    json_decref(src);
    *out = next;
    return 0;
}

static json_t *scale_of(const json_t *obj)
{
    json_t *md = json_object_get(obj, "metadata");
    json_int_t spec = 0, status = 0;
    json_t *v = json_path(obj, "spec.replicas");
    spec = json_is_integer(v) ? json_integer_value(v) : 1;
    v = json_path(obj, "status.replicas");
    status = json_is_integer(v) ? json_integer_value(v) : 0;
    char sel[1024] = "";
    json_t *ml = json_path(obj, "spec.selector.matchLabels");
    const char *k;
    json_t *val;
    size_t off = 0;
    json_object_foreach(ml, k, val) {
        if (!json_is_string(val) || off >= sizeof sel) continue;
        off += (size_t)snprintf(sel + off, sizeof sel - off, "%s%s=%s", off ? "," : "", k,
                                json_string_value(val));
    }
    json_t *smd = json_object();
    const char *keep[] = {"name", "namespace", "uid", "resourceVersion", "creationTimestamp"};
    for (size_t i = 0; i < 5; i++) {
        json_t *x = json_object_get(md, keep[i]);
        if (x) json_object_set(smd, keep[i], x);
    }
    return json_pack("{s:s, s:s, s:o, s:{s:I}, s:{s:I, s:s}}", "kind", "Scale", "apiVersion",
                     "autoscaling/v1", "metadata", smd, "spec", "replicas", spec, "status",
                     "replicas", status, "selector", sel);
}

static int mutate_scale(struct api_call *call, const json_t *cur, json_t **out, char *err, size_t errlen)
{
    json_t *src = is_patch(call) ? NULL : json_incref(call->body);
    if (!src) {
        json_t *sc = scale_of(cur);
        src = sc ? merge_patch_apply(sc, call->body) : NULL;
        json_decref(sc);
    }
    json_t *r = json_path(src, "spec.replicas");
    if (!json_is_integer(r) || json_integer_value(r) < 0 || json_integer_value(r) > 1000000) {
        json_decref(src);
        snprintf(err, errlen, "spec.replicas: Invalid value: must be an integer between 0 and 1000000");
        return BE_INVALID;
    }
    json_t *next = json_deep_copy(cur);
    json_t *spec = json_object_get(next, "spec");
    if (!json_is_object(spec)) json_object_set_new(next, "spec", spec = json_object());
    json_object_set_new(spec, "replicas", json_integer(json_integer_value(r)));
    json_decref(src);
    *out = next;
    return 0;
}

static int mutate_binding(struct api_call *call, const json_t *cur, json_t **out, char *err, size_t errlen)
{
    const char *node = json_path_str(call->body, "target.name");
    if (!node || !node[0] || !api_valid_dns_subdomain(node)) {
        snprintf(err, errlen, "target.name: Required value: a valid node name");
        return BE_INVALID;
    }
    const char *bound = json_path_str(cur, "spec.nodeName");
    if (bound && bound[0]) {
        snprintf(err, errlen, "pod %s is already assigned to node \"%s\"", call->route.name, bound);
        return BE_CONFLICT;
    }
    json_t *next = json_deep_copy(cur);
    json_t *spec = json_object_get(next, "spec");
    if (!json_is_object(spec)) { json_decref(next); snprintf(err, errlen, "pod has no spec"); return BE_INVALID; }
    json_object_set_new(spec, "nodeName", json_string(node));
    *out = next;
    return 0;
}

static mutator_fn mutator_for(struct api_call *call)
{
    if (!strcmp(call->route.sub, "status")) return mutate_status;
    if (!strcmp(call->route.sub, "scale")) return mutate_scale;
    if (!strcmp(call->route.sub, "binding")) return mutate_binding;
    return mutate_main;
}

/* Server-owned metadata comes from the current object. */
static void carry_over(json_t *next, const json_t *cur)
{
    json_t *nmd = json_object_get(next, "metadata");
    json_t *cmd = json_object_get(cur, "metadata");
    const char *keep[] = {"uid", "creationTimestamp", "namespace", "name", "deletionTimestamp"};
    for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++) {
        json_t *v = json_object_get(cmd, keep[i]);
        if (v) json_object_set(nmd, keep[i], v);
        else json_object_del(nmd, keep[i]);
    }
    json_object_del(nmd, "resourceVersion");
    json_t *gen = json_object_get(cmd, "generation");
    json_int_t g = json_is_integer(gen) ? json_integer_value(gen) : 0;
    if (!json_same(json_object_get(next, "spec"), json_object_get(cur, "spec"))) g++;
    if (g > 0) json_object_set_new(nmd, "generation", json_integer(g));
    else json_object_del(nmd, "generation");
}

static void attempt(struct api_call *call);

static int conflict(char *err, size_t errlen, const char *desc)
{
    return api_errf(err, errlen, BE_CONFLICT, "Operation cannot be fulfilled on %s: the object "
                    "has been modified; please apply your changes to the latest version and "
                    "try again", desc);
}

static void on_update_commit(void *data, int rc, const struct store_result *res, size_t n)
{
    struct api_call *call = data;
    char desc[320];
    api_object_desc(&call->route, desc, sizeof desc);
    if (!rc && n == 1) rc = res[0].rc;
    if (rc == BE_CONFLICT && !call->explicit_rev && ++call->attempts < MAX_ATTEMPTS) {
        free(call->text);
        call->text = NULL;
        attempt(call);
        return;
    }
    if (rc == BE_CONFLICT) {
        char err[1280];
        conflict(err, sizeof err, desc);
        api_fail(call, rc, "%s", err);
        return;
    }
    if (rc == BE_NOTFOUND) { api_fail(call, rc, "%s not found", desc); return; }
    if (rc) { api_fail(call, rc, "%s not updated: %s", desc, be_strerror(rc)); return; }
    if (strcmp(call->route.sub, "scale")) {
        api_reply_stored(call, call->expected_status ? call->expected_status : 200, res[0].rev);
        return;
    }
    size_t len = 0;
    char *out = api_splice_rv(call->text, call->text_len, res[0].rev, &len);
    if (!out) { api_fail(call, BE_NOMEM, "out of memory"); return; }
    api_reply_scale(call, out, len);
}

/* The resourceVersion the client gave, if any: 0 none, -1 invalid. */
static long long client_rev(struct api_call *call)
{
    const char *rv = json_path_str(call->body, "metadata.resourceVersion");
    if (!rv || !rv[0]) return 0;
    char *end;
    unsigned long long v = strtoull(rv, &end, 10);
    return (*end || v == 0 || v > (1ull << 62)) ? -1 : (long long)v;
}

/* One attempt: the loop reads the stored object (attempt), update_prepare
 * computes the new one from it and the request, update_finish acts on the
 * outcome. The middle is pure and may run on the body worker. */
struct update_job {
    struct offload_item item;
    struct api_call *call;
    char *cur;          /* the stored object as read, or NULL: not found */
    size_t cur_len;
    uint64_t cur_rev;
    int rc;             /* an error to answer, its message in err */
    char err[1280];
    bool same;          /* the new object is the stored one: write nothing */
    struct api_output out;
};

/* First attempt only: the body, and for a PUT of the object itself its
 * identity against the route. */
static int parse_request(struct api_call *call, char *err, size_t errlen)
{
    json_t *body;
    int rc = api_body_parse(call->req, &body, err, errlen);
    if (rc) return rc;
    call->body = body;
    if (!is_patch(call) && !call->route.sub[0])
        return api_identity_check(&call->route, body, true, err, errlen);
    return 0;
}

/* Touches only the job, the call's request, route and body. */
static void update_prepare(struct update_job *j)
{
    struct api_call *call = j->call;
    struct api_route *rt = &call->route;
    char desc[320], err[1024];
    json_t *cur = NULL, *next = NULL;
    api_object_desc(rt, desc, sizeof desc);
    if (!call->body && (j->rc = parse_request(call, j->err, sizeof j->err)))
        return;
    if (!j->cur) {
        j->rc = api_errf(j->err, sizeof j->err, BE_NOTFOUND, "%s not found", desc);
        return;
    }
    cur = json_loadb(j->cur, j->cur_len, 0, NULL);
    free(j->cur);
    j->cur = NULL;
    if (!cur) {
        j->rc = api_errf(j->err, sizeof j->err, BE_INTERNAL, "stored object is not JSON");
        return;
    }
    long long want = client_rev(call);
    call->explicit_rev = want > 0;
    if (want > 0 && (uint64_t)want != j->cur_rev) {
        j->rc = conflict(j->err, sizeof j->err, desc);
        goto out;
    }
    int rc = mutator_for(call)(call, cur, &next, err, sizeof err);
    if (!rc) {
        carry_over(next, cur);
        rc = api_validate(rt, next, cur, err, sizeof err);
    }
    if (rc == BE_INVALID)
        j->rc = api_errf(j->err, sizeof j->err, rc, "%s.%s \"%s\" is invalid: %s",
                         rt->kind->kind, rt->kind->group, rt->name, err);
    else if (rc)
        j->rc = api_errf(j->err, sizeof j->err, rc, "%s", err);
    if (rc) goto out;
    if (!rt->sub[0]) j->out.warnings = api_field_warnings(rt->kind, next);
    if (api_output_set(&j->out, rt, next)) {
        j->rc = api_errf(j->err, sizeof j->err, BE_NOMEM, "cannot serialize the object");
        goto out;
    }
    size_t oldlen = 0;
    char *oldtext = json_dump_object(cur, &oldlen);
    j->same = oldtext && oldlen == j->out.text_len && !memcmp(oldtext, j->out.text, oldlen);
    free(oldtext);
out:
    json_decref(cur); /* here, while they are hot, and off the loop */
    json_decref(next);
}

static void update_finish(struct update_job *j)
{
    struct api_call *call = j->call;
    if (j->rc) {
        api_fail(call, j->rc, "%s", j->err);
        goto out;
    }
    api_output_take(call, &j->out);
    if (j->same) {
        /* Nothing changed: answer with the stored object, write nothing. */
        struct store_result r = {.rc = 0, .rev = j->cur_rev};
        on_update_commit(call, 0, &r, 1);
        goto out;
    }
    int rc = api_propose_hinted(call, STORE_UPDATE, j->out.node, j->out.owner, j->cur_rev,
                                on_update_commit);
    if (rc) {
        char desc[320];
        api_object_desc(&call->route, desc, sizeof desc);
        api_fail(call, rc, "cannot update %s: %s", desc, be_strerror(rc));
    }
out:
    free(j->cur);
    api_output_free(&j->out);
    free(j);
}

static void job_work(struct offload_item *it)
{
    update_prepare((struct update_job *)it);
}

static void job_done(struct offload_item *it)
{
    update_finish((struct update_job *)it);
}

/* A missing object is answered after the body's own errors, as before the
 * body was parsed off the loop. */
static void attempt(struct api_call *call)
{
    struct api_route *rt = &call->route;
    struct update_job *j = calloc(1, sizeof *j);
    if (!j) {
        api_fail(call, BE_NOMEM, "out of memory");
        return;
    }
    j->call = call;
    j->item.work = job_work;
    j->item.done = job_done;
    if (store_get(call->api->store, rt->kind->resource, rt->kind->namespaced ? rt->ns : "",
                  rt->name, &j->cur, &j->cur_len, &j->cur_rev)) {
        j->cur = NULL;
        j->cur_len = 0;
    }
    api_run_job(call, &j->item, j->cur_len);
}

void api_update_object(struct api_call *call)
{
    if (is_patch(call)) {
        const char *ct = http_req_header(call->req, "content-type");
        if (ct && strstr(ct, "json-patch")) {
            api_fail(call, BE_UNSUPPORTED, "JSON patch is not supported: use application/merge-patch+json");
            return;
        }
    }
    attempt(call);
}

void api_bind_pod(struct api_call *call)
{
    call->expected_status = 201;
    attempt(call);
}

void api_reply_scale(struct api_call *call, char *json, size_t len)
{
    json_t *obj = json_loadb(json, len, 0, NULL);
    free(json);
    json_t *sc = obj ? scale_of(obj) : NULL;
    json_decref(obj);
    char *out = sc ? json_dumps(sc, JSON_COMPACT) : NULL;
    json_decref(sc);
    if (!out) { api_fail(call, BE_NOMEM, "out of memory"); return; }
    api_reply_json(call, 200, out, strlen(out));
}
