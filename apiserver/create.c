/* create.c: POST to a collection.
 *
 * A create is two halves. create_prepare() is pure: it parses the body,
 * checks it against the route, sets the server-owned metadata (uid,
 * creationTimestamp, generation), defaults and validates it, collects the
 * field warnings and serializes it (metadata first: the store's layout
 * contract). It touches only the call's request and route and the job, so
 * it runs on the API server's worker thread (common/offload.h) while the
 * loop goes on. create_finish() runs on the loop: it answers a bad body,
 * checks the namespace against the store, answers a validation error, and
 * proposes the mutation. The commit callback answers with the revision
 * spliced in, so the response is exactly what is stored.
 *
 * Parsing and serializing were 38% of the loop's time in the create
 * benchmark (docs/benchmarks.md), which is why they move. The errors are
 * the ones a synchronous create gives, in the same order: a bad body, then
 * the namespace, then validation. On an otherwise idle server (see
 * api_run_job), without a worker, or while it stops, the two halves run
 * back to back on the loop. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apiserver/api_int.h"
#include "common/errors.h"
#include "common/jsonutil.h"
#include "common/uid.h"

struct create_job {
    struct offload_item item;
    struct api_call *call;
    int rc;            /* bad body: answered before anything else */
    int vrc;           /* invalid object: answered after the namespace check */
    char err[2048];    /* the message of rc or vrc */
    struct api_output out;
};

static void create_prepare(struct create_job *j)
{
    struct api_call *call = j->call;
    struct api_route *rt = &call->route;
    json_t *obj = NULL;
    char verr[1024];
    j->rc = api_body_parse(call->req, &obj, j->err, sizeof j->err);
    if (!j->rc)
        j->rc = api_identity_check(rt, obj, false, j->err, sizeof j->err);
    if (j->rc)
        goto out;
    json_t *md = json_object_get(obj, "metadata");
    char uid[UID_LEN], ts[32];
    uid_new(uid);
    time_format_rfc3339(time(NULL), ts, sizeof ts);
    json_object_set_new(md, "uid", json_string(uid));
    json_object_set_new(md, "creationTimestamp", json_string(ts));
    json_object_del(md, "deletionTimestamp");
    json_object_del(md, "managedFields");
    if (json_object_get(obj, "spec")) json_object_set_new(md, "generation", json_integer(1));
    int rc = api_validate(rt, obj, NULL, verr, sizeof verr);
    if (rc) {
        j->vrc = api_errf(j->err, sizeof j->err, rc, "%s.%s \"%s\" is invalid: %s",
                          rt->kind->kind, rt->kind->group, rt->name, verr);
        goto out;
    }
    j->out.warnings = api_field_warnings(rt->kind, obj);
    if (api_output_set(&j->out, rt, obj))
        j->vrc = api_errf(j->err, sizeof j->err, BE_NOMEM, "cannot serialize the object");
out:
    json_decref(obj); /* here, while it is hot, and off the loop */

}

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

static void create_finish(struct create_job *j)
{
    struct api_call *call = j->call;
    struct api_route *rt = &call->route;
    if (j->rc) {
        api_fail(call, j->rc, "%s", j->err);
        goto out;
    }
    int nsrc = rt->kind->namespaced ? api_namespace_check(call->api, rt->ns) : 0;
    if (nsrc == BE_NOTFOUND) {
        api_fail(call, BE_NOTFOUND, "namespaces \"%s\" not found", rt->ns);
        goto out;
    }
    if (nsrc) {
        api_fail(call, BE_FORBIDDEN, "%s \"%s\" is forbidden: unable to create new content in "
                 "namespace %s because it is being terminated", rt->kind->resource, rt->name,
                 rt->ns);
        goto out;
    }
    if (j->vrc) {
        api_fail(call, j->vrc, "%s", j->err);
        goto out;
    }
    api_output_take(call, &j->out);
    int rc = api_propose_hinted(call, STORE_CREATE, j->out.node, j->out.owner, 0, on_create_commit);
    if (rc) api_fail(call, rc, "cannot create: %s", be_strerror(rc));
out:
    api_output_free(&j->out);
    free(j);
}

static void job_work(struct offload_item *it)
{
    create_prepare((struct create_job *)it);
}

static void job_done(struct offload_item *it)
{
    create_finish((struct create_job *)it);
}

void api_create_object(struct api_call *call)
{
    struct create_job *j = calloc(1, sizeof *j);
    if (!j) {
        api_fail(call, BE_NOMEM, "out of memory");
        return;
    }
    j->call = call;
    j->item.work = job_work;
    j->item.done = job_done;
    api_run_job(call, &j->item, 0);
}
