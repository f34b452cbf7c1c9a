/* apply.c: `berthctl apply -f` and `berthctl create -f`.
 *
 * apply is kubectl's client-side apply with merge-patch semantics. All
 * manifests are read and validated first (manifest.c), so a bad document
 * means nothing is sent. Then for each object: GET it; if absent, POST it
 * carrying the annotation kubectl.kubernetes.io/last-applied-configuration
 * (the manifest as compact JSON, without that annotation); if present,
 * merge_three_way(last applied, new manifest + annotation, live) gives a
 * merge patch, sent with PATCH unless it is empty. A 409 (someone changed
 * or created the object meanwhile) restarts the GET, a few times.
 *
 * create POSTs each object; an existing object is an error. Both send
 * Namespaces before everything else, so one manifest may create a namespace
 * and its contents in any order; both go on after a failed object and
 * report the first error at the end. */
#include "ctl/ctl.h"

#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/jsonutil.h"
#include "common/merge.h"

#define APPLY_TRIES 5

/* The manifest with the new last-applied annotation, as apply sends it. */
static json_t *with_last_applied(const json_t *obj)
{
    json_t *src = json_deep_copy(obj);
    json_t *ann = json_path(src, "metadata.annotations");
    if (ann && json_object_get(ann, CTL_LAST_APPLIED)) {
        json_object_del(ann, CTL_LAST_APPLIED);
        if (json_object_size(ann) == 0) json_object_del(json_object_get(src, "metadata"), "annotations");
    }
    char *text = json_dumps(src, JSON_COMPACT);
    json_t *meta = json_object_get(src, "metadata");
    ann = json_object_get(meta, "annotations");
    if (!json_is_object(ann)) {
        ann = json_object();
        json_object_set_new(meta, "annotations", ann);
    }
    json_object_set_new(ann, CTL_LAST_APPLIED, json_string(text ? text : "{}"));
    free(text);
    return src;
}

/* Namespaces go first (pass 0), so a manifest may create the namespace its
 * other objects live in, in any order; everything else in pass 1. */
static bool namespace_first(const struct ctl_obj *o, int pass)
{
    return (strcmp(o->kind->resource, "namespaces") == 0) == (pass == 0);
}

static void say(const struct ctl_obj *o, const char *name, const char *what)
{
    char ref[160];
    ctl_kind_ref(o->kind, ref, sizeof ref);
    printf("%s/%s %s\n", ref, name, what);
    fflush(stdout);
}

/* After a failed request: the error names the manifest it came from,
 * "FILE: document N: <the server's message>", as manifest errors do. */
static int note_where(struct ctl *c, const struct ctl_obj *o, int rc)
{
    if (rc && o->where[0]) {
        char msg[sizeof c->err];
        snprintf(msg, sizeof msg, "%s", c->err);
        ctl_fail(c, rc, "%s: %s", o->where, msg);
    }
    return rc;
}

/* Object exists: patch it. Returns 0 or an error; *http is 409 when the
 * caller should retry. */
static int apply_patch(struct ctl *c, const struct ctl_obj *o, const char *path,
                       const json_t *modified, const json_t *live, int *http)
{
    /* Not json_path: the annotation key itself contains dots. */
    json_t *ann = json_path(live, "metadata.annotations");
    const char *la = json_string_value(json_object_get(ann, CTL_LAST_APPLIED));
    json_t *last = la ? json_loads(la, 0, NULL) : NULL;
    if (last && !json_is_object(last)) {
        json_decref(last);
        last = NULL;
    }
    json_t *patch = merge_three_way(last, modified, live);
    json_decref(last);
    if (!patch) return ctl_fail(c, BE_NOMEM, "out of memory");
    int rc = 0;
    if (json_object_size(patch) == 0) {
        say(o, o->name, "unchanged");
    } else {
        rc = ctl_call(c, "PATCH", path, "application/merge-patch+json", patch, NULL, http);
        if (!rc) say(o, o->name, "configured");
    }
    json_decref(patch);
    return rc;
}

static int apply_one(struct ctl *c, const struct ctl_obj *o)
{
    json_t *modified = with_last_applied(o->obj);
    struct sbuf path = {0}, coll = {0};
    ctl_path(&path, o->kind, o->ns, o->name, NULL);
    ctl_path(&coll, o->kind, o->ns, NULL, NULL);
    int rc = 0;
    for (int attempt = 0; attempt < APPLY_TRIES; attempt++) {
        json_t *live = NULL;
        int http = 0;
        rc = ctl_call(c, "GET", path.s, NULL, NULL, &live, &http);
        if (rc && http == 404) {
            rc = ctl_call(c, "POST", coll.s, NULL, modified, NULL, &http);
            if (!rc) say(o, o->name, "created");
        } else if (!rc) {
            rc = apply_patch(c, o, path.s, modified, live, &http);
        }
        json_decref(live);
        if (!(rc && http == 409)) break;
    }
    sb_free(&path);
    sb_free(&coll);
    json_decref(modified);
    return note_where(c, o, rc);
}

int ctl_cmd_apply(struct ctl *c, const struct ctl_args *a)
{
    struct ctl_objs objs;
    int rc = ctl_read_manifests(c, a->files, a->nfiles, false, &objs);
    if (rc) return rc;
    if (objs.n == 0) {
        ctl_objs_free(&objs);
        return ctl_fail(c, BE_INVAL, "no objects passed to apply");
    }
    struct ctl_first first = {0};
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < objs.n; i++)
            if (namespace_first(&objs.v[i], pass)) ctl_first_note(c, &first, apply_one(c, &objs.v[i]));
    ctl_objs_free(&objs);
    return ctl_first_done(c, &first);
}

int ctl_cmd_create(struct ctl *c, const struct ctl_args *a)
{
    struct ctl_objs objs;
    int rc = ctl_read_manifests(c, a->files, a->nfiles, true, &objs);
    if (rc) return rc;
    if (objs.n == 0) {
        ctl_objs_free(&objs);
        return ctl_fail(c, BE_INVAL, "no objects passed to create");
    }
    struct ctl_first first = {0};
    for (size_t j = 0; j < 2 * objs.n; j++) {
        const struct ctl_obj *o = &objs.v[j % objs.n];
        if (!namespace_first(o, (int)(j / objs.n))) continue;
        struct sbuf coll = {0};
        ctl_path(&coll, o->kind, o->ns, NULL, NULL);
        json_t *made = NULL;
        rc = ctl_call(c, "POST", coll.s, NULL, o->obj, &made, NULL);
        if (!rc) {
            const char *name = json_path_str(made, "metadata.name");
            say(o, name ? name : o->name ? o->name : "", "created");
        }
        json_decref(made);
        sb_free(&coll);
        ctl_first_note(c, &first, note_where(c, o, rc));
    }
    ctl_objs_free(&objs);
    return ctl_first_done(c, &first);
}
