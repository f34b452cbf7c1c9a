/* describe.c: `berthctl describe KIND [NAME...]`.
 *
 * Prints a readable summary of each object: the common metadata (name,
 * namespace, labels, annotations without the last-applied copy, creation
 * time), then a part per kind: pods show node, phase, IP and each
 * container's image, state, restarts, requests and limits; deployments show
 * replicas, strategy, selector, template and conditions; any other kind
 * shows its spec and status as indented YAML. Last come the object's events
 * (fieldSelector involvedObject.name/kind), oldest first. Without a name
 * every object of the kind in the namespace is described. */
#include "ctl/ctl.h"

#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/jsonutil.h"
#include "common/yamljson.h"

#define LABEL_W 24

static void field(int indent, const char *label, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* "Label:" padded to a column, then the value. */
static void field(int indent, const char *label, const char *fmt, ...)
{
    char l[96];
    int n = snprintf(l, sizeof l, "%s:", label);
    printf("%*s%-*s", indent, "", LABEL_W - indent, l);
    if (n >= LABEL_W - indent) printf(" ");
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
}

static const char *str_or(const json_t *o, const char *path, const char *def)
{
    const char *s = json_path_str(o, path);
    return s && s[0] ? s : def;
}

/* Any JSON scalar as text ("100m", "1", "true"). */
static const char *scalar(const json_t *v, char *buf, size_t len)
{
    if (json_is_string(v)) return json_string_value(v);
    if (json_is_integer(v)) snprintf(buf, len, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v)) snprintf(buf, len, "%g", json_real_value(v));
    else if (json_is_boolean(v)) snprintf(buf, len, "%s", json_is_true(v) ? "true" : "false");
    else snprintf(buf, len, "<none>");
    return buf;
}

/* A map printed one "k<sep>v" per line under its label; sep "=" or ": ". */
static void map_field(int indent, const char *label, const json_t *map, const char *sep, const char *skip)
{
    const char *k;
    json_t *v;
    bool first = true;
    char b[64];
    json_object_foreach((json_t *)map, k, v) {
        if (skip && !strcmp(k, skip)) continue;
        if (first) field(indent, label, "%s%s%s", k, sep, scalar(v, b, sizeof b));
        else printf("%*s%s%s%s\n", LABEL_W, "", k, sep, scalar(v, b, sizeof b));
        first = false;
    }
    if (first) field(indent, label, "<none>");
}

/* Prints v as YAML, every line indented. */
static void yaml_block(const json_t *v, int indent)
{
    char *y = yj_emit_yaml(v);
    if (!y) return;
    for (char *line = strtok(y, "\n"); line; line = strtok(NULL, "\n")) {
        if (!strcmp(line, "---") || !strcmp(line, "...")) continue;
        printf("%*s%s\n", indent, "", line);
    }
    free(y);
}

static void describe_meta(const json_t *o)
{
    field(0, "Name", "%s", str_or(o, "metadata.name", ""));
    if (json_path_str(o, "metadata.namespace")) field(0, "Namespace", "%s", str_or(o, "metadata.namespace", ""));
    map_field(0, "Labels", json_path(o, "metadata.labels"), "=", NULL);
    map_field(0, "Annotations", json_path(o, "metadata.annotations"), ": ", CTL_LAST_APPLIED);
    field(0, "CreationTimestamp", "%s", str_or(o, "metadata.creationTimestamp", "<unset>"));
}

static void describe_resources(const json_t *c, const char *which, const char *label)
{
    json_t *r = json_object_get(json_object_get(c, "resources"), which);
    if (!json_object_size(r)) return;
    printf("    %s:\n", label);
    const char *k;
    json_t *v;
    char b[64];
    json_object_foreach(r, k, v) {
        char key[80];
        snprintf(key, sizeof key, "%s:", k);
        printf("      %-10s%s\n", key, scalar(v, b, sizeof b));
    }
}

static const json_t *status_for(const json_t *pod, const char *name)
{
    size_t i;
    json_t *cs;
    json_array_foreach(json_object_get(json_object_get(pod, "status"), "containerStatuses"), i, cs)
        if (!strcmp(str_or(cs, "name", ""), name)) return cs;
    return NULL;
}

static void describe_container(const json_t *pod, const json_t *c)
{
    const char *name = str_or(c, "name", "");
    const json_t *cs = status_for(pod, name);
    printf("  %s:\n", name);
    field(4, "Image", "%s", str_or(c, "image", ""));
    json_t *st = cs ? json_object_get(cs, "state") : NULL;
    if (json_object_get(st, "running")) {
        field(4, "State", "Running");
        field(6, "Started", "%s", str_or(st, "running.startedAt", ""));
    } else if (json_object_get(st, "terminated")) {
        field(4, "State", "Terminated");
        field(6, "Reason", "%s", str_or(st, "terminated.reason", ""));
        int64_t code = 0;
        json_path_int(st, "terminated.exitCode", &code);
        field(6, "Exit Code", "%lld", (long long)code);
    } else if (json_object_get(st, "waiting")) {
        field(4, "State", "Waiting");
        field(6, "Reason", "%s", str_or(st, "waiting.reason", ""));
    } else {
        field(4, "State", "<unknown>");
    }
    field(4, "Ready", "%s", cs && json_is_true(json_object_get(cs, "ready")) ? "True" : "False");
    field(4, "Restart Count", "%lld", cs ? (long long)json_integer_value(json_object_get(cs, "restartCount")) : 0LL);
    describe_resources(c, "limits", "Limits");
    describe_resources(c, "requests", "Requests");
}

static void describe_pod(const json_t *o)
{
    field(0, "Node", "%s", str_or(o, "spec.nodeName", "<none>"));
    field(0, "Status", "%s", str_or(o, "status.phase", "Pending"));
    if (json_path_str(o, "status.reason")) field(0, "Reason", "%s", str_or(o, "status.reason", ""));
    if (json_path_str(o, "status.message")) field(0, "Message", "%s", str_or(o, "status.message", ""));
    field(0, "IP", "%s", str_or(o, "status.podIP", "<none>"));
    printf("Containers:\n");
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(json_object_get(o, "spec"), "containers"), i, c)
        describe_container(o, c);
}

static void describe_conditions(const json_t *o)
{
    json_t *conds = json_object_get(json_object_get(o, "status"), "conditions");
    if (!json_array_size(conds)) {
        field(0, "Conditions", "<none>");
        return;
    }
    printf("Conditions:\n");
    struct ctl_table t;
    ctl_tbl_init(&t, 3);
    t.indent = 2;
    ctl_tbl_cell(&t, "Type");
    ctl_tbl_cell(&t, "Status");
    ctl_tbl_cell(&t, "Reason");
    size_t i;
    json_t *c;
    json_array_foreach(conds, i, c) {
        ctl_tbl_cell(&t, "%s", str_or(c, "type", ""));
        ctl_tbl_cell(&t, "%s", str_or(c, "status", ""));
        ctl_tbl_cell(&t, "%s", str_or(c, "reason", ""));
    }
    ctl_tbl_flush(&t, stdout);
    ctl_tbl_free(&t);
}

static void describe_deployment(const json_t *o)
{
    int64_t want = 1, upd = 0, total = 0, avail = 0, unavail = 0;
    json_path_int(o, "spec.replicas", &want);
    json_path_int(o, "status.updatedReplicas", &upd);
    json_path_int(o, "status.replicas", &total);
    json_path_int(o, "status.availableReplicas", &avail);
    json_path_int(o, "status.unavailableReplicas", &unavail);
    map_field(0, "Selector", json_path(o, "spec.selector.matchLabels"), "=", NULL);
    field(0, "Replicas", "%lld desired | %lld updated | %lld total | %lld available | %lld unavailable",
          (long long)want, (long long)upd, (long long)total, (long long)avail, (long long)unavail);
    const char *type = str_or(o, "spec.strategy.type", "RollingUpdate");
    field(0, "StrategyType", "%s", type);
    if (!strcmp(type, "RollingUpdate")) {
        char a[32], b[32];
        json_t *ru = json_path(o, "spec.strategy.rollingUpdate");
        json_t *mu = json_object_get(ru, "maxUnavailable"), *ms = json_object_get(ru, "maxSurge");
        field(0, "RollingUpdateStrategy", "%s max unavailable, %s max surge",
              mu ? scalar(mu, a, sizeof a) : "25%", ms ? scalar(ms, b, sizeof b) : "25%");
    }
    printf("Pod Template:\n");
    yaml_block(json_path(o, "spec.template"), 2);
    describe_conditions(o);
}

static void describe_generic(const json_t *o)
{
    json_t *spec = json_object_get(o, "spec"), *status = json_object_get(o, "status");
    if (spec) {
        printf("Spec:\n");
        yaml_block(spec, 2);
    }
    if (status) {
        printf("Status:\n");
        yaml_block(status, 2);
    }
    if (!spec && !status) {
        json_t *rest = json_deep_copy(o);
        json_object_del(rest, "metadata");
        json_object_del(rest, "apiVersion");
        json_object_del(rest, "kind");
        if (json_object_size(rest)) yaml_block(rest, 0);
        json_decref(rest);
    }
}

static int describe_events(struct ctl *c, const struct kind_info *k, const json_t *o)
{
    const struct kind_info *ek = kind_by_resource("", "events");
    const char *ns = k->namespaced ? json_path_str(o, "metadata.namespace") : NULL;
    struct sbuf fs = {0};
    sb_printf(&fs, "involvedObject.name=%s,involvedObject.kind=%s", str_or(o, "metadata.name", ""), k->kind);
    json_t *items = NULL;
    int rc = ek ? ctl_list(c, ek, ns, NULL, fs.s, &items, NULL) : 0;
    sb_free(&fs);
    if (rc) return rc;
    if (!json_array_size(items)) {
        field(0, "Events", "<none>");
    } else {
        printf("Events:\n");
        ctl_sort_events(items);
        struct ctl_table t;
        ctl_tbl_init(&t, 5);
        t.indent = 2;
        ctl_print_events_short(&t, items, time(NULL));
        ctl_tbl_flush(&t, stdout);
        ctl_tbl_free(&t);
    }
    json_decref(items);
    return 0;
}

static int describe_one(struct ctl *c, const struct kind_info *k, const json_t *o)
{
    describe_meta(o);
    if (!strcmp(k->resource, "pods")) describe_pod(o);
    else if (!strcmp(k->resource, "deployments")) describe_deployment(o);
    else describe_generic(o);
    int rc = describe_events(c, k, o);
    fflush(stdout);
    return rc;
}

int ctl_cmd_describe(struct ctl *c, const struct ctl_args *a)
{
    const struct kind_info *k;
    struct ctl_ref *refs;
    int n;
    int rc = ctl_refs(c, a->pos, a->npos, &k, &refs, &n);
    if (rc) return rc;
    json_t *objs = NULL;
    if (n > 0) {
        objs = json_array();
    } else {
        rc = ctl_list(c, k, ctl_ns_for(c, k), a->selector, NULL, &objs, NULL);
        if (!rc && json_array_size(objs) == 0)
            rc = ctl_fail(c, BE_NOTFOUND, "no %s found", k->resource);
    }
    struct ctl_first first = {0};
    for (int i = 0; !rc && i < n; i++) {
        struct sbuf p = {0};
        ctl_path(&p, refs[i].kind, ctl_ns_for(c, refs[i].kind), refs[i].name, NULL);
        json_t *o = NULL;
        int r = ctl_call(c, "GET", p.s, NULL, NULL, &o, NULL);
        sb_free(&p);
        ctl_first_note(c, &first, r);
        if (r || !o) continue;
        if (json_array_size(objs)) printf("\n\n");
        r = describe_one(c, refs[i].kind, o);
        ctl_first_note(c, &first, r);
        json_array_append_new(objs, o);
    }
    for (size_t i = 0; n == 0 && !rc && i < json_array_size(objs); i++) {
        if (i) printf("\n\n");
        ctl_first_note(c, &first, describe_one(c, k, json_array_get(objs, i)));
    }
    if (!rc) rc = ctl_first_done(c, &first);
    free(refs);
    json_decref(objs);
    return rc;
}
