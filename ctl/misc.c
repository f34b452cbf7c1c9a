/* misc.c: the small verbs of berthctl: delete, scale, logs and version
 * (the cluster verbs are in cluster.c).
 *
 * Each is one or a few requests: delete sends DELETE with DeleteOptions
 * (propagationPolicy from --cascade, gracePeriodSeconds from
 * --grace-period/--force) and, as kubectl, waits until an object the
 * server only marked for deletion is gone (--wait=false does not); scale merge-patches the scale
 * subresource; logs streams the pod's log subresource to stdout as it
 * arrives; version asks /version. */
#include "ctl/ctl.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

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

struct delete_opts {
    const char *policy;
    long long grace;      /* -1: the object's own */
    bool ignore_missing, wait;
    long timeout_s;       /* 0: the grace period + 60 s */
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* As kubectl does: an object the server only marked (a pod stopping
 * gracefully, finalizers to run) is waited for until it is gone, or a new
 * object of the same name (another uid) has taken its place. */
static int wait_gone(struct ctl *c, const char *path, const char *ref, const char *name,
                     const json_t *marked, long timeout_s)
{
    const char *uid = json_path_str(marked, "metadata.uid");
    json_t *g = json_path(marked, "metadata.deletionGracePeriodSeconds");
    if (!timeout_s) timeout_s = (json_is_integer(g) ? (long)json_integer_value(g) : 30) + 60;
    int64_t deadline = mono_ms() + timeout_s * 1000;
    while (mono_ms() < deadline) {
        struct httpc_response r = {0};
        char eb[256];
        int rc = httpc_request(c->http, "GET", path, NULL, NULL, 0, &r, eb, sizeof eb);
        bool gone = rc == 0 && r.status == 404;
        if (rc == 0 && r.status == 200) {
            json_t *o = json_loadb(r.body, r.body_len, 0, NULL);
            const char *now_uid = json_path_str(o, "metadata.uid");
            gone = uid && now_uid && strcmp(uid, now_uid);
            json_decref(o);
        }
        httpc_response_free(&r);
        if (gone) return 0;
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return ctl_fail(c, BE_TIMEOUT, "timed out waiting for %s \"%s\" to be deleted", ref, name);
}

static int delete_one(struct ctl *c, const struct kind_info *k, const char *ns, const char *name,
                      const struct delete_opts *o)
{
    struct sbuf p = {0};
    ctl_path(&p, k, ns, name, NULL);
    json_t *opts = json_pack("{s:s, s:s, s:s}", "kind", "DeleteOptions", "apiVersion", "v1",
                             "propagationPolicy", o->policy);
    if (o->grace >= 0) json_object_set_new(opts, "gracePeriodSeconds", json_integer(o->grace));
    int http = 0;
    json_t *out = NULL;
    int rc = ctl_call(c, "DELETE", p.s, NULL, opts, &out, &http);
    json_decref(opts);
    char ref[160];
    ctl_kind_ref(k, ref, sizeof ref);
    if (rc && http == 404 && o->ignore_missing) rc = 0;
    else if (!rc) {
        printf("%s \"%s\" deleted\n", ref, name);
        fflush(stdout);
        if (o->wait && json_path_str(out, "metadata.deletionTimestamp"))
            rc = wait_gone(c, p.s, ref, name, out, o->timeout_s);
    }
    json_decref(out);
    sb_free(&p);
    return rc;
}

/* --grace-period and --force as kubectl takes them: 0 needs --force (else
 * it becomes 1), --force alone means 0. */
static int delete_options(struct ctl *c, const struct ctl_args *a, struct delete_opts *o)
{
    int rc = cascade_policy(c, a->cascade, &o->policy);
    if (rc) return rc;
    o->grace = -1;
    if (a->grace_period) {
        char *end;
        o->grace = strtoll(a->grace_period, &end, 10);
        if (!*a->grace_period || *end || o->grace < -1)
            return ctl_fail(c, BE_INVAL, "invalid --grace-period \"%s\": expected an integer >= -1",
                            a->grace_period);
    }
    if (a->force && o->grace < 0) o->grace = 0;
    if (o->grace == 0 && !a->force) o->grace = 1;
    if (a->force && o->grace == 0)
        fprintf(stderr, "Warning: Immediate deletion does not wait for confirmation that the running "
                        "resource has been terminated. The resource may continue to run on the "
                        "cluster indefinitely.\n");
    o->timeout_s = ctl_parse_duration(a->timeout);
    if (o->timeout_s < 0)
        return ctl_fail(c, BE_INVAL, "invalid --timeout \"%s\": use e.g. 90s, 5m, 1h", a->timeout);
    o->ignore_missing = a->ignore_not_found;
    o->wait = !a->no_wait;
    return 0;
}

int ctl_cmd_delete(struct ctl *c, const struct ctl_args *a)
{
    struct delete_opts o = {0};
    int rc = delete_options(c, a, &o);
    if (rc) return rc;
    struct ctl_first first = {0};
    if (a->nfiles) {
        if (a->npos) return ctl_fail(c, BE_INVAL, "resource names may not be given with -f");
        struct ctl_objs objs;
        rc = ctl_read_manifests(c, a->files, a->nfiles, false, &objs);
        if (rc) return rc;
        for (size_t i = 0; i < objs.n; i++)
            ctl_first_note(c, &first, delete_one(c, objs.v[i].kind, objs.v[i].ns, objs.v[i].name, &o));
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
        ctl_first_note(c, &first, delete_one(c, refs[i].kind, ctl_ns_for(c, refs[i].kind), refs[i].name, &o));
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
