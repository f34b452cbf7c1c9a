/* rollout.c: `berthctl rollout status|history|undo|restart deployment/NAME`.
 *
 * status reads the Deployment and then follows a watch on it (fieldSelector
 * metadata.name=NAME, from the read's resourceVersion), printing kubectl's
 * progress lines whenever they change, until the rollout is complete (exit
 * 0), the Progressing condition says ProgressDeadlineExceeded (its message,
 * exit 1) or --timeout passes. A watch that ends early (server timeout,
 * 410) is followed by a fresh read and watch.
 * history lists the Deployment's ReplicaSets (by controller ownerReference)
 * with their deployment.kubernetes.io/revision and kubernetes.io/change-cause.
 * undo merge-patches spec.template to the template of the chosen revision
 * (the previous one by default) without its pod-template-hash label; the
 * controller then re-uses that ReplicaSet as the newest revision.
 * restart merge-patches the kubectl.kubernetes.io/restartedAt annotation
 * of the pod template to now, which rolls every pod like any template
 * change. */
#include "ctl/ctl.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/errors.h"
#include "common/jsonutil.h"
#include "common/merge.h"

#define REVISION "deployment.kubernetes.io/revision"
#define HASH_LABEL "pod-template-hash"

/* The one "deployment/NAME" (or "deployment NAME") argument after the subcommand. */
static int target(struct ctl *c, const struct ctl_args *a, const struct kind_info **k,
                  const char **name)
{
    const struct kind_info *kind = NULL;
    struct ctl_ref *refs = NULL;
    int n = 0;
    if (a->npos < 2) return ctl_fail(c, BE_INVAL, "required resource not specified: rollout %s deployment/NAME",
                                     a->npos ? a->pos[0] : "status");
    int rc = ctl_refs(c, a->pos + 1, a->npos - 1, &kind, &refs, &n);
    if (rc) return rc;
    if (n != 1) {
        free(refs);
        return ctl_fail(c, BE_INVAL, "exactly one deployment/NAME is required");
    }
    *k = refs[0].kind;
    *name = refs[0].name;
    free(refs);
    if (strcmp((*k)->resource, "deployments"))
        return ctl_fail(c, BE_INVAL, "no rollout support for %s: only deployments", (*k)->resource);
    return 0;
}

static int get_deploy(struct ctl *c, const struct kind_info *k, const char *name, json_t **out)
{
    struct sbuf p = {0};
    ctl_path(&p, k, c->ns, name, NULL);
    int rc = ctl_call(c, "GET", p.s, NULL, NULL, out, NULL);
    sb_free(&p);
    return rc;
}

/* ---- status ------------------------------------------------------------------ */

enum st { ST_WAIT, ST_DONE, ST_FAILED };

/* kubectl's DeploymentStatusViewer. */
static enum st status_of(const json_t *d, const char *name, char *msg, size_t len)
{
    int64_t gen = 0, og = 0, want = 1, updated = 0, replicas = 0, avail = 0;
    json_path_int(d, "metadata.generation", &gen);
    json_path_int(d, "status.observedGeneration", &og);
    json_path_int(d, "spec.replicas", &want);
    json_path_int(d, "status.updatedReplicas", &updated);
    json_path_int(d, "status.replicas", &replicas);
    json_path_int(d, "status.availableReplicas", &avail);
    if (gen > og) {
        snprintf(msg, len, "Waiting for deployment spec update to be observed...");
        return ST_WAIT;
    }
    json_t *conds = json_path(d, "status");
    conds = conds ? json_object_get(conds, "conditions") : NULL;
    size_t i;
    json_t *cd;
    json_array_foreach(conds, i, cd) {
        const char *type = json_string_value(json_object_get(cd, "type"));
        const char *reason = json_string_value(json_object_get(cd, "reason"));
        if (type && reason && !strcmp(type, "Progressing") && !strcmp(reason, "ProgressDeadlineExceeded")) {
            const char *m = json_string_value(json_object_get(cd, "message"));
            snprintf(msg, len, "deployment \"%s\" exceeded its progress deadline: %s", name, m ? m : "");
            return ST_FAILED;
        }
    }
    if (updated < want)
        snprintf(msg, len, "Waiting for deployment \"%s\" rollout to finish: %lld out of %lld new replicas have been updated...",
                 name, (long long)updated, (long long)want);
    else if (replicas > updated)
        snprintf(msg, len, "Waiting for deployment \"%s\" rollout to finish: %lld old replicas are pending termination...",
                 name, (long long)(replicas - updated));
    else if (avail < updated)
        snprintf(msg, len, "Waiting for deployment \"%s\" rollout to finish: %lld of %lld updated replicas are available...",
                 name, (long long)avail, (long long)updated);
    else {
        snprintf(msg, len, "deployment \"%s\" successfully rolled out", name);
        return ST_DONE;
    }
    return ST_WAIT;
}

struct follow {
    struct ctl *c;
    const char *name;
    char last[512];
    enum st st;
    struct sbuf line;
    int rc;
};

/* Prints the status line of d if it changed; returns whether to stop. */
static bool show(struct follow *f, const json_t *d)
{
    char msg[512];
    f->st = status_of(d, f->name, msg, sizeof msg);
    if (f->st == ST_FAILED) {
        f->rc = ctl_fail(f->c, BE_TIMEOUT, "%s", msg);
        return true;
    }
    if (strcmp(msg, f->last)) {
        printf("%s\n", msg);
        fflush(stdout);
        snprintf(f->last, sizeof f->last, "%s", msg);
    }
    return f->st == ST_DONE;
}

static int follow_data(void *data, const char *buf, size_t len)
{
    struct follow *f = data;
    sb_addn(&f->line, buf, len);
    char *start = f->line.s, *nl;
    int stop = 0;
    while (!stop && (nl = memchr(start, '\n', f->line.len - (size_t)(start - f->line.s)))) {
        json_t *ev = json_loadb(start, (size_t)(nl - start), 0, NULL);
        const char *type = json_string_value(json_object_get(ev, "type"));
        json_t *obj = json_object_get(ev, "object");
        if (type && !strcmp(type, "DELETED")) {
            f->rc = ctl_fail(f->c, BE_NOTFOUND, "deployment \"%s\" was deleted", f->name);
            stop = 1;
        } else if (type && !strcmp(type, "ERROR")) {
            stop = 1; /* 410 and friends: read again */
        } else if (type && strcmp(type, "BOOKMARK") && json_is_object(obj)) {
            stop = show(f, obj);
        }
        json_decref(ev);
        start = nl + 1;
    }
    size_t rest = f->line.len - (size_t)(start - f->line.s);
    memmove(f->line.s, start, rest);
    f->line.len = rest;
    f->line.s[rest] = 0;
    return stop;
}

static int rollout_status(struct ctl *c, const struct kind_info *k, const char *name,
                          const struct ctl_args *a)
{
    long timeout = ctl_parse_duration(a->timeout);
    if (timeout < 0) return ctl_fail(c, BE_INVAL, "invalid --timeout \"%s\": use e.g. 90s, 5m, 1h", a->timeout);
    time_t end = timeout ? time(NULL) + timeout : 0;
    struct follow f = {.c = c, .name = name};
    for (;;) {
        json_t *d = NULL;
        int rc = get_deploy(c, k, name, &d);
        if (rc) return rc;
        bool stop = show(&f, d);
        char rv[32];
        snprintf(rv, sizeof rv, "%s", json_path_str(d, "metadata.resourceVersion") ? json_path_str(d, "metadata.resourceVersion") : "0");
        json_decref(d);
        if (stop) return f.rc;
        long left = end ? (long)(end - time(NULL)) : 300;
        if (left <= 0) return ctl_fail(c, BE_TIMEOUT, "timed out waiting for the condition");
        struct sbuf p = {0};
        char sel[320], tmo[24];
        ctl_path(&p, k, c->ns, NULL, NULL);
        snprintf(sel, sizeof sel, "metadata.name=%s", name);
        snprintf(tmo, sizeof tmo, "%ld", left < 300 ? left : 300);
        sb_query(&p, "watch", "1");
        sb_query(&p, "fieldSelector", sel);
        sb_query(&p, "resourceVersion", rv);
        sb_query(&p, "timeoutSeconds", tmo);
        int status = 0;
        char *err_body = NULL, eb[256] = "";
        rc = httpc_stream(c->http, "GET", p.s, follow_data, &f, &status, &err_body, eb, sizeof eb);
        sb_free(&p);
        free(err_body);
        f.line.len = 0;
        if (f.rc) {
            sb_free(&f.line);
            return f.rc;
        }
        if (f.st == ST_DONE) {
            sb_free(&f.line);
            return 0;
        }
        if (rc) {
            sb_free(&f.line);
            return ctl_fail(c, rc, "%s", eb[0] ? eb : be_strerror(rc));
        }
    }
}

/* ---- history and undo --------------------------------------------------------------- */

static int64_t revision_of(const json_t *o)
{
    json_t *an = json_path(o, "metadata.annotations");
    const char *v = an ? json_string_value(json_object_get(an, REVISION)) : NULL;
    return v ? strtoll(v, NULL, 10) : 0;
}

static int by_rev(const void *a, const void *b)
{
    int64_t x = revision_of(*(json_t *const *)a), y = revision_of(*(json_t *const *)b);
    return x < y ? -1 : x > y;
}

/* The Deployment's ReplicaSets sorted by revision (*v malloc'd, borrowed refs in *items). */
static int owned_rs(struct ctl *c, const json_t *d, json_t **items, json_t ***v, size_t *n)
{
    const struct kind_info *rsk = kind_by_resource("apps", "replicasets");
    const char *uid = json_path_str(d, "metadata.uid");
    int rc = ctl_list(c, rsk, c->ns, NULL, NULL, items, NULL);
    if (rc) return rc;
    *v = xmalloc((json_array_size(*items) + 1) * sizeof **v);
    *n = 0;
    size_t i;
    json_t *rs;
    json_array_foreach(*items, i, rs) {
        json_t *refs = json_path(rs, "metadata");
        refs = refs ? json_object_get(refs, "ownerReferences") : NULL;
        size_t j;
        json_t *r;
        json_array_foreach(refs, j, r) {
            const char *u = json_string_value(json_object_get(r, "uid"));
            if (u && uid && !strcmp(u, uid) && json_is_true(json_object_get(r, "controller"))) {
                (*v)[(*n)++] = rs;
                break;
            }
        }
    }
    qsort(*v, *n, sizeof **v, by_rev);
    return 0;
}

static int rollout_history(struct ctl *c, const struct kind_info *k, const char *name)
{
    json_t *d = NULL, *items = NULL, **v = NULL;
    size_t n = 0;
    int rc = get_deploy(c, k, name, &d);
    if (!rc) rc = owned_rs(c, d, &items, &v, &n);
    if (rc) goto out;
    char ref[128];
    ctl_kind_ref(k, ref, sizeof ref);
    printf("%s/%s \n", ref, name);
    struct ctl_table t;
    ctl_tbl_init(&t, 2);
    ctl_tbl_cell(&t, "REVISION");
    ctl_tbl_cell(&t, "CHANGE-CAUSE");
    for (size_t i = 0; i < n; i++) {
        json_t *an = json_path(v[i], "metadata.annotations");
        const char *cause = an ? json_string_value(json_object_get(an, "kubernetes.io/change-cause")) : NULL;
        if (!revision_of(v[i])) continue;
        ctl_tbl_cell(&t, "%lld", (long long)revision_of(v[i]));
        ctl_tbl_cell(&t, "%s", cause ? cause : "<none>");
    }
    ctl_tbl_flush(&t, stdout);
    ctl_tbl_free(&t);
    printf("\n");
out:
    free(v);
    json_decref(items);
    json_decref(d);
    return rc;
}

static int patch_deploy(struct ctl *c, const struct kind_info *k, const char *name, json_t *patch)
{
    struct sbuf p = {0};
    ctl_path(&p, k, c->ns, name, NULL);
    int rc = ctl_call(c, "PATCH", p.s, "application/merge-patch+json", patch, NULL, NULL);
    sb_free(&p);
    return rc;
}

static int rollout_undo(struct ctl *c, const struct kind_info *k, const char *name,
                        const struct ctl_args *a)
{
    json_t *d = NULL, *items = NULL, **v = NULL, *patch = NULL, *tmpl = NULL;
    size_t n = 0;
    long long to = 0;
    if (a->to_revision) {
        char *end;
        to = strtoll(a->to_revision, &end, 10);
        if (*end || to < 0) return ctl_fail(c, BE_INVAL, "invalid --to-revision \"%s\"", a->to_revision);
    }
    int rc = get_deploy(c, k, name, &d);
    if (!rc) rc = owned_rs(c, d, &items, &v, &n);
    if (rc) goto out;
    int64_t cur = revision_of(d);
    json_t *pick = NULL;
    for (size_t i = 0; i < n; i++) {
        int64_t r = revision_of(v[i]);
        if (to ? r == to : (r != cur && r > 0)) pick = v[i]; /* sorted: the last one below is the previous */
        if (!to && r >= cur) break;
    }
    if (!n) { rc = ctl_fail(c, BE_NOTFOUND, "no rollout history found for deployment \"%s\"", name); goto out; }
    if (!pick && to) { rc = ctl_fail(c, BE_NOTFOUND, "unable to find specified revision %lld in history", to); goto out; }
    if (!pick) { rc = ctl_fail(c, BE_NOTFOUND, "no revision found for deployment \"%s\"", name); goto out; }
    tmpl = json_deep_copy(json_path(pick, "spec.template"));
    json_t *labels = json_path(tmpl, "metadata.labels");
    if (labels) json_object_del(labels, HASH_LABEL);
    char ref[128];
    ctl_kind_ref(k, ref, sizeof ref);
    json_t *curt = json_path(d, "spec.template");
    if (json_equal(curt, tmpl)) {
        printf("%s/%s skipped rollback (current template already matches revision %lld)\n", ref,
               name, (long long)revision_of(pick));
        goto out;
    }
    json_t *diff = merge_three_way(curt, tmpl, curt);
    patch = json_pack("{s:{s:o}}", "spec", "template", diff);
    rc = patch_deploy(c, k, name, patch);
    if (!rc) printf("%s/%s rolled back\n", ref, name);
out:
    json_decref(patch);
    json_decref(tmpl);
    free(v);
    json_decref(items);
    json_decref(d);
    return rc;
}

static int rollout_restart(struct ctl *c, const struct kind_info *k, const char *name)
{
    char ts[32], ref[128];
    time_format_rfc3339(time(NULL), ts, sizeof ts);
    json_t *patch = json_pack("{s:{s:{s:{s:{s:s}}}}}", "spec", "template", "metadata",
                              "annotations", "kubectl.kubernetes.io/restartedAt", ts);
    int rc = patch_deploy(c, k, name, patch);
    json_decref(patch);
    ctl_kind_ref(k, ref, sizeof ref);
    if (!rc) printf("%s/%s restarted\n", ref, name);
    return rc;
}

int ctl_cmd_rollout(struct ctl *c, const struct ctl_args *a)
{
    const struct kind_info *k = NULL;
    const char *name = NULL;
    if (a->npos < 1)
        return ctl_fail(c, BE_INVAL, "rollout needs a subcommand: status, history, undo or restart");
    const char *sub = a->pos[0];
    if (strcmp(sub, "status") && strcmp(sub, "history") && strcmp(sub, "undo") && strcmp(sub, "restart"))
        return ctl_fail(c, BE_INVAL, "unknown rollout subcommand \"%s\": status, history, undo or restart", sub);
    int rc = target(c, a, &k, &name);
    if (rc) return rc;
    if (a->to_revision && strcmp(sub, "undo")) return ctl_fail(c, BE_INVAL, "--to-revision applies to rollout undo only");
    if (a->timeout && strcmp(sub, "status")) return ctl_fail(c, BE_INVAL, "--timeout applies to rollout status only");
    if (!strcmp(sub, "status")) return rollout_status(c, k, name, a);
    if (!strcmp(sub, "history")) return rollout_history(c, k, name);
    if (!strcmp(sub, "undo")) return rollout_undo(c, k, name, a);
    return rollout_restart(c, k, name);
}
