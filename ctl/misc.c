/* misc.c: the small verbs of berthctl: delete, scale, logs and version
 * (the cluster verbs are in cluster.c).
 *
 * Each is one or a few requests: delete sends DELETE with DeleteOptions
 * (propagationPolicy from --cascade); scale merge-patches the scale
 * subresource; logs streams the pod's log subresource to stdout as it
 * arrives; version asks /version. */
#include "ctl/ctl.h"

#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/jsonutil.h"
#include "common/yamljson.h"

/* ---- delete ---- */

static int cascade_policy(struct ctl *c, const char *v, const char **policy)
{
    if (!v || !strcmp(v, "background") || !strcmp(v, "true")) *policy = "Background";
    else if (!strcmp(v, "foreground")) *policy = "Foreground";
    else if (!strcmp(v, "orphan") || !strcmp(v, "false")) *policy = "Orphan";
    else
        return ctl_fail(c, BE_INVAL,
                        "invalid cascade value (%s): must be \"background\", \"foreground\", or \"orphan\"", v);
    return 0;
}

static int delete_one(struct ctl *c, const struct kind_info *k, const char *ns, const char *name,
                      const char *policy, bool ignore_missing)
{
    struct sbuf p = {0};
    ctl_path(&p, k, ns, name, NULL);
    json_t *opts = json_pack("{s:s, s:s, s:s}", "kind", "DeleteOptions", "apiVersion", "v1",
                             "propagationPolicy", policy);
    int http = 0;
    int rc = ctl_call(c, "DELETE", p.s, NULL, opts, NULL, &http);
    json_decref(opts);
    sb_free(&p);
    if (rc && http == 404 && ignore_missing) return 0;
    if (!rc) {
        char ref[160];
        ctl_kind_ref(k, ref, sizeof ref);
        printf("%s \"%s\" deleted\n", ref, name);
        fflush(stdout);
    }
    return rc;
}

int ctl_cmd_delete(struct ctl *c, const struct ctl_args *a)
{
    const char *policy = "Background";
    int rc = cascade_policy(c, a->cascade, &policy);
    if (rc) return rc;
    struct ctl_first first = {0};
    if (a->nfiles) {
        if (a->npos) return ctl_fail(c, BE_INVAL, "resource names may not be given with -f");
        struct ctl_objs objs;
        rc = ctl_read_manifests(c, a->files, a->nfiles, false, &objs);
        if (rc) return rc;
        for (size_t i = 0; i < objs.n; i++)
            ctl_first_note(c, &first, delete_one(c, objs.v[i].kind, objs.v[i].ns, objs.v[i].name,
                                                 policy, a->ignore_not_found));
        ctl_objs_free(&objs);
        return ctl_first_done(c, &first);
    }
    if (a->npos == 0)
        return ctl_fail(c, BE_INVAL, "you must specify the type of resource to delete, or -f FILENAME");
    if (c->all_ns) return ctl_fail(c, BE_INVAL, "a resource cannot be deleted by name across all namespaces");
    const struct kind_info *k;
    struct ctl_ref *refs;
    int n;
    rc = ctl_refs(c, a->pos, a->npos, &k, &refs, &n);
    if (rc) return rc;
    if (n == 0) rc = ctl_fail(c, BE_INVAL, "resource(s) were provided, but no name was specified");
    for (int i = 0; !rc && i < n; i++)
        ctl_first_note(c, &first, delete_one(c, refs[i].kind, ctl_ns_for(c, refs[i].kind), refs[i].name,
                                             policy, a->ignore_not_found));
    free(refs);
    return rc ? rc : ctl_first_done(c, &first);
}

/* ---- scale ---- */

static int parse_count(struct ctl *c, const char *flag, const char *v, long long min, long long *out)
{
    char *end;
    long long n = v && *v ? strtoll(v, &end, 10) : 0;
    if (!v || !*v || *end || n < min || n > 1000000000)
        return ctl_fail(c, BE_INVAL, "invalid value \"%s\" for %s: expected an integer >= %lld",
                        v ? v : "", flag, min);
    *out = n;
    return 0;
}

int ctl_cmd_scale(struct ctl *c, const struct ctl_args *a)
{
    if (!a->replicas) return ctl_fail(c, BE_INVAL, "--replicas=COUNT is required");
    long long replicas = 0;
    int rc = parse_count(c, "--replicas", a->replicas, 0, &replicas);
    if (rc) return rc;
    const struct kind_info *k;
    struct ctl_ref *refs;
    int n;
    rc = ctl_refs(c, a->pos, a->npos, &k, &refs, &n);
    if (rc) return rc;
    if (n == 0) rc = ctl_fail(c, BE_INVAL, "resource(s) were provided, but no name was specified");
    json_t *patch = json_pack("{s:{s:I}}", "spec", "replicas", (json_int_t)replicas);
    struct ctl_first first = {0};
    for (int i = 0; !rc && i < n; i++) {
        char ref[160];
        ctl_kind_ref(refs[i].kind, ref, sizeof ref);
        if (!kind_has_subresource(refs[i].kind, "scale")) {
            ctl_first_note(c, &first, ctl_fail(c, BE_INVAL, "%s/%s cannot be scaled: the kind has no scale subresource",
                                               ref, refs[i].name));
            continue;
        }
        struct sbuf p = {0};
        ctl_path(&p, refs[i].kind, ctl_ns_for(c, refs[i].kind), refs[i].name, "scale");
        int r = ctl_call(c, "PATCH", p.s, "application/merge-patch+json", patch, NULL, NULL);
        sb_free(&p);
        if (!r) printf("%s/%s scaled\n", ref, refs[i].name);
        ctl_first_note(c, &first, r);
    }
    json_decref(patch);
    free(refs);
    return rc ? rc : ctl_first_done(c, &first);
}

/* ---- logs ---- */

static int write_out(void *data, const char *buf, size_t len)
{
    (void)data;
    if (fwrite(buf, 1, len, stdout) != len) return 1;
    fflush(stdout);
    return 0;
}

int ctl_cmd_logs(struct ctl *c, const struct ctl_args *a)
{
    if (a->npos < 1 || a->npos > 2)
        return ctl_fail(c, BE_INVAL, "expected POD [CONTAINER] (logs POD [-c CONTAINER] [-f] [--tail N])");
    const char *pod = a->pos[0];
    if (!strncmp(pod, "pod/", 4)) pod += 4;
    else if (!strncmp(pod, "pods/", 5)) pod += 5;
    if (!*pod || strchr(pod, '/')) return ctl_fail(c, BE_INVAL, "logs takes a pod name, not \"%s\"", a->pos[0]);
    const char *container = a->container ? a->container : a->npos == 2 ? a->pos[1] : NULL;
    long long tail = -1;
    if (a->tail) {
        int rc = parse_count(c, "--tail", a->tail, -1, &tail);
        if (rc) return rc;
    }
    struct sbuf p = {0};
    ctl_path(&p, kind_by_resource("", "pods"), c->ns, pod, "log");
    if (container) sb_query(&p, "container", container);
    if (a->follow) sb_query(&p, "follow", "true");
    if (tail >= 0) sb_printf(&p, "%stailLines=%lld", strchr(p.s, '?') ? "&" : "?", tail);
    int status = 0;
    char *err_body = NULL, eb[512] = "";
    int rc = httpc_stream(c->http, "GET", p.s, write_out, NULL, &status, &err_body, eb, sizeof eb);
    sb_free(&p);
    if (status && (status < 200 || status > 299)) rc = ctl_status_error(c, status, err_body);
    else if (rc) rc = ctl_fail(c, rc, "%s", eb[0] ? eb : be_strerror(rc));
    free(err_body);
    return rc;
}

/* ---- version ---- */

int ctl_cmd_version(struct ctl *c, const struct ctl_args *a)
{
    printf("Client Version: %s\n", BERTH_VERSION);
    fflush(stdout);
    json_t *v = NULL;
    int rc = ctl_call(c, "GET", "/version", NULL, NULL, &v, NULL);
    if (rc) return rc;
    const char *gv = json_path_str(v, "gitVersion");
    printf("Server Version: %s\n", gv ? gv : "<unknown>");
    json_decref(v);
    return 0;
}
