/* printers.c: the table columns `berthctl get` prints for each kind.
 *
 * One row of the printer table per resource: its column headers, the extra
 * columns of -o wide, and a function that adds one object's cells. Kinds
 * without a row print NAME AGE. The cell logic follows kubectl's printers
 * (pod STATUS from container states, node STATUS from the Ready condition,
 * job DURATION, HPA TARGETS, ...) closely enough that scripts written
 * against kubectl's output read ours. With -A a NAMESPACE column comes
 * first; ctl_print_row adds it. */
#include "ctl/ctl.h"

#include <stdlib.h>
#include <string.h>

#include "common/jsonutil.h"

typedef void (*row_fn)(struct ctl_table *t, const json_t *o, bool wide, time_t now);

struct printer {
    const char *resource;
    const char *cols[8];
    const char *wide[4];
    row_fn row;
};

static long long iget(const json_t *o, const char *path, long long def)
{
    int64_t v;
    return json_path_int(o, path, &v) == 0 ? (long long)v : def;
}

static const char *sget(const json_t *o, const char *path, const char *def)
{
    const char *s = json_path_str(o, path);
    return s && s[0] ? s : def;
}

/* The member key of the object at parent (a dotted path): for arrays,
 * which json_path does not promise to return. */
static json_t *at(const json_t *o, const char *parent, const char *key)
{
    return json_object_get(json_path(o, parent), key);
}

static void cell_age(struct ctl_table *t, const char *ts, time_t now)
{
    char age[32];
    ctl_age(ts, now, age, sizeof age);
    ctl_tbl_cell(t, "%s", age);
}

static void cell_created(struct ctl_table *t, const json_t *o, time_t now)
{
    cell_age(t, json_path_str(o, "metadata.creationTimestamp"), now);
}

/* Joins the string field `key` of each element of an array with commas. */
static void join_field(struct sbuf *b, const json_t *arr, const char *key)
{
    size_t i;
    json_t *it;
    json_array_foreach(arr, i, it) {
        if (i) sb_add(b, ",");
        sb_add(b, sget(it, key, ""));
    }
}

/* CONTAINERS IMAGES SELECTOR of -o wide for workloads with a pod template. */
static void cells_template(struct ctl_table *t, const json_t *o)
{
    json_t *cs = at(o, "spec.template.spec", "containers");
    struct sbuf names = {0}, images = {0}, sel = {0};
    join_field(&names, cs, "name");
    join_field(&images, cs, "image");
    json_t *ml = json_path(o, "spec.selector.matchLabels");
    const char *k;
    json_t *v;
    json_object_foreach(ml, k, v) sb_printf(&sel, "%s%s=%s", sel.len ? "," : "", k,
                                             json_string_value(v) ? json_string_value(v) : "");
    ctl_tbl_cell(t, "%s", names.s ? names.s : "");
    ctl_tbl_cell(t, "%s", images.s ? images.s : "");
    ctl_tbl_cell(t, "%s", sel.s ? sel.s : "<none>");
    sb_free(&names);
    sb_free(&images);
    sb_free(&sel);
}

/* ---- pods ---- */

/* The STATUS column: the most telling of phase, init and container states. */
static void pod_status(const json_t *o, char *buf, size_t len)
{
    snprintf(buf, len, "%s", sget(o, "status.reason", sget(o, "status.phase", "Pending")));
    json_t *inits = at(o, "status", "initContainerStatuses");
    size_t ninit = json_array_size(at(o, "spec", "initContainers"));
    size_t i;
    json_t *cs;
    bool initializing = false;
    json_array_foreach(inits, i, cs) {
        if (json_path(cs, "state.terminated") && iget(cs, "state.terminated.exitCode", 0) == 0) continue;
        initializing = true;
        const char *tr = json_path_str(cs, "state.terminated.reason");
        const char *wr = json_path_str(cs, "state.waiting.reason");
        if (json_path(cs, "state.terminated"))
            snprintf(buf, len, "Init:%s", tr ? tr : "Error");
        else if (wr && wr[0] && strcmp(wr, "PodInitializing"))
            snprintf(buf, len, "Init:%s", wr);
        else
            snprintf(buf, len, "Init:%zu/%zu", i, ninit ? ninit : json_array_size(inits));
        break;
    }
    if (!initializing) {
        json_t *css = at(o, "status", "containerStatuses");
        bool running = false;
        for (size_t j = json_array_size(css); j-- > 0;) {
            cs = json_array_get(css, j);
            const char *wr = json_path_str(cs, "state.waiting.reason");
            const char *tr = json_path_str(cs, "state.terminated.reason");
            if (wr && wr[0]) snprintf(buf, len, "%s", wr);
            else if (tr && tr[0]) snprintf(buf, len, "%s", tr);
            else if (json_path(cs, "state.terminated"))
                snprintf(buf, len, "ExitCode:%lld", iget(cs, "state.terminated.exitCode", 0));
            else if (json_path(cs, "state.running") && json_is_true(json_object_get(cs, "ready")))
                running = true;
        }
        if (!strcmp(buf, "Completed") && running) snprintf(buf, len, "Running");
    }
    if (json_path_str(o, "metadata.deletionTimestamp"))
        snprintf(buf, len, "%s", !strcmp(sget(o, "status.reason", ""), "NodeLost") ? "Unknown" : "Terminating");
}

static void row_pod(struct ctl_table *t, const json_t *o, bool wide, time_t now)
{
    json_t *css = at(o, "status", "containerStatuses");
    json_t *spec_cs = at(o, "spec", "containers");
    size_t total = json_array_size(spec_cs) ? json_array_size(spec_cs) : json_array_size(css);
    size_t ready = 0, i;
    long long restarts = 0;
    const char *last_restart = NULL;
    json_t *cs;
    json_array_foreach(css, i, cs) {
        if (json_is_true(json_object_get(cs, "ready"))) ready++;
        restarts += iget(cs, "restartCount", 0);
        const char *fin = json_path_str(cs, "lastState.terminated.finishedAt");
        if (fin && (!last_restart || strcmp(fin, last_restart) > 0)) last_restart = fin;
    }
    char status[96], ago[32];
    pod_status(o, status, sizeof status);
    ctl_tbl_cell(t, "%zu/%zu", ready, total);
    ctl_tbl_cell(t, "%s", status);
    if (restarts > 0 && last_restart) {
        ctl_age(last_restart, now, ago, sizeof ago);
        ctl_tbl_cell(t, "%lld (%s ago)", restarts, ago);
    } else {
        ctl_tbl_cell(t, "%lld", restarts);
    }
    cell_created(t, o, now);
    if (wide) {
        ctl_tbl_cell(t, "%s", sget(o, "status.podIP", "<none>"));
        ctl_tbl_cell(t, "%s", sget(o, "spec.nodeName", "<none>"));
    }
}

/* ---- workloads ---- */

static void row_deploy(struct ctl_table *t, const json_t *o, bool wide, time_t now)
{
    ctl_tbl_cell(t, "%lld/%lld", iget(o, "status.readyReplicas", 0), iget(o, "spec.replicas", 1));
    ctl_tbl_cell(t, "%lld", iget(o, "status.updatedReplicas", 0));
    ctl_tbl_cell(t, "%lld", iget(o, "status.availableReplicas", 0));
    cell_created(t, o, now);
    if (wide) cells_template(t, o);
}

static void row_rs(struct ctl_table *t, const json_t *o, bool wide, time_t now)
{
    ctl_tbl_cell(t, "%lld", iget(o, "spec.replicas", 1));
    ctl_tbl_cell(t, "%lld", iget(o, "status.replicas", 0));
    ctl_tbl_cell(t, "%lld", iget(o, "status.readyReplicas", 0));
    cell_created(t, o, now);
    if (wide) cells_template(t, o);
}

static void row_sts(struct ctl_table *t, const json_t *o, bool wide, time_t now)
{
    ctl_tbl_cell(t, "%lld/%lld", iget(o, "status.readyReplicas", 0), iget(o, "spec.replicas", 1));
    cell_created(t, o, now);
    if (wide) cells_template(t, o);
}

static void row_ds(struct ctl_table *t, const json_t *o, bool wide, time_t now)
{
    static const char *f[] = {"desiredNumberScheduled", "currentNumberScheduled", "numberReady",
                              "updatedNumberScheduled", "numberAvailable"};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        char p[64];
        snprintf(p, sizeof p, "status.%s", f[i]);
        ctl_tbl_cell(t, "%lld", iget(o, p, 0));
    }
    cell_created(t, o, now);
    if (wide) cells_template(t, o);
}

static void row_job(struct ctl_table *t, const json_t *o, bool wide, time_t now)
{
    long long ok = iget(o, "status.succeeded", 0);
    long long par = iget(o, "spec.parallelism", 1);
    if (json_is_integer(at(o, "spec", "completions")))
        ctl_tbl_cell(t, "%lld/%lld", ok, iget(o, "spec.completions", 1));
    else if (par > 1) ctl_tbl_cell(t, "%lld/1 of %lld", ok, par);
    else ctl_tbl_cell(t, "%lld/1", ok);
    time_t start, end = now;
    const char *done = json_path_str(o, "status.completionTime");
    if (time_parse_rfc3339(sget(o, "status.startTime", ""), &start) == 0) {
        if (done) time_parse_rfc3339(done, &end);
        char d[32];
        ctl_duration((long)(end - start), d, sizeof d);
        ctl_tbl_cell(t, "%s", d);
    } else {
        ctl_tbl_cell(t, "%s", "");
    }
    cell_created(t, o, now);
    if (wide) cells_template(t, o);
}

static void row_cronjob(struct ctl_table *t, const json_t *o, bool wide, time_t now)
{
    json_t *spec = json_object_get(o, "spec");
    ctl_tbl_cell(t, "%s", sget(o, "spec.schedule", ""));
    ctl_tbl_cell(t, "%s", json_is_true(json_object_get(spec, "suspend")) ? "True" : "False");
    ctl_tbl_cell(t, "%zu", json_array_size(at(o, "status", "active")));
    const char *last = json_path_str(o, "status.lastScheduleTime");
    if (last) cell_age(t, last, now);
    else ctl_tbl_cell(t, "<none>");
    cell_created(t, o, now);
}

static void row_hpa(struct ctl_table *t, const json_t *o, bool wide, time_t now)
{
    ctl_tbl_cell(t, "%s/%s", sget(o, "spec.scaleTargetRef.kind", ""), sget(o, "spec.scaleTargetRef.name", ""));
    struct sbuf b = {0};
    json_t *metrics = at(o, "spec", "metrics");
    json_t *cur = at(o, "status", "currentMetrics");
    size_t i, j;
    json_t *m, *c;
    json_array_foreach(metrics, i, m) {
        const char *res = json_path_str(m, "resource.name");
        if (!res) continue;
        long long want = iget(m, "resource.target.averageUtilization", -1);
        long long have = -1;
        json_array_foreach(cur, j, c) {
            const char *cres = json_path_str(c, "resource.name");
            if (cres && !strcmp(cres, res)) have = iget(c, "resource.current.averageUtilization", -1);
        }
        if (b.len) sb_add(&b, ", ");
        if (have >= 0) sb_printf(&b, "%s: %lld%%/", res, have);
        else sb_printf(&b, "%s: <unknown>/", res);
        if (want >= 0) sb_printf(&b, "%lld%%", want);
        else sb_add(&b, sget(m, "resource.target.averageValue", "?"));
    }
    ctl_tbl_cell(t, "%s", b.s ? b.s : "<none>");
    sb_free(&b);
    ctl_tbl_cell(t, "%lld", iget(o, "spec.minReplicas", 1));
    ctl_tbl_cell(t, "%lld", iget(o, "spec.maxReplicas", 0));
    ctl_tbl_cell(t, "%lld", iget(o, "status.currentReplicas", 0));
    cell_created(t, o, now);
}

/* ---- services, nodes, config ---- */

static void row_svc(struct ctl_table *t, const json_t *o, bool wide, time_t now)
{
    ctl_tbl_cell(t, "%s", sget(o, "spec.type", "ClusterIP"));
    ctl_tbl_cell(t, "%s", sget(o, "spec.clusterIP", "<none>"));
    struct sbuf b = {0};
    size_t i;
    json_t *p;
    json_array_foreach(at(o, "spec", "ports"), i, p) {
        if (b.len) sb_add(&b, ",");
        long long np = iget(p, "nodePort", 0);
        if (np) sb_printf(&b, "%lld:%lld/%s", iget(p, "port", 0), np, sget(p, "protocol", "TCP"));
        else sb_printf(&b, "%lld/%s", iget(p, "port", 0), sget(p, "protocol", "TCP"));
    }
    ctl_tbl_cell(t, "%s", b.s ? b.s : "<none>");
    sb_free(&b);
    cell_created(t, o, now);
}

static int cmp_cstr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void row_node(struct ctl_table *t, const json_t *o, bool wide, time_t now)
{
    const char *ready = "Unknown";
    size_t i;
    json_t *cond;
    json_array_foreach(at(o, "status", "conditions"), i, cond) {
        if (strcmp(sget(cond, "type", ""), "Ready")) continue;
        const char *s = sget(cond, "status", "");
        ready = !strcmp(s, "True") ? "Ready" : "NotReady"; /* kubectl: False and Unknown */
    }
    bool cordoned = json_is_true(at(o, "spec", "unschedulable"));
    ctl_tbl_cell(t, "%s%s", ready, cordoned ? ",SchedulingDisabled" : "");
    const char *roles[32], *k;
    size_t n = 0;
    json_t *v;
    static const char pfx[] = "node-role.kubernetes.io/";
    json_object_foreach(json_path(o, "metadata.labels"), k, v) {
        if (n < 32 && !strncmp(k, pfx, sizeof pfx - 1) && k[sizeof pfx - 1]) roles[n++] = k + sizeof pfx - 1;
    }
    qsort(roles, n, sizeof *roles, cmp_cstr);
    struct sbuf b = {0};
    for (i = 0; i < n; i++) sb_printf(&b, "%s%s", i ? "," : "", roles[i]);
    ctl_tbl_cell(t, "%s", b.s ? b.s : "<none>");
    sb_free(&b);
    cell_created(t, o, now);
    ctl_tbl_cell(t, "%s", sget(o, "status.nodeInfo.kubeletVersion", ""));
    if (wide) {
        const char *ip = "<none>";
        json_array_foreach(at(o, "status", "addresses"), i, v)
            if (!strcmp(sget(v, "type", ""), "InternalIP")) ip = sget(v, "address", "<none>");
        ctl_tbl_cell(t, "%s", ip);
    }
}

static void row_ns(struct ctl_table *t, const json_t *o, bool wide, time_t now)
{
    ctl_tbl_cell(t, "%s", sget(o, "status.phase", "Active"));
    cell_created(t, o, now);
}

static void row_cm(struct ctl_table *t, const json_t *o, bool wide, time_t now)
{
    ctl_tbl_cell(t, "%zu", json_object_size(json_object_get(o, "data")) +
                               json_object_size(json_object_get(o, "binaryData")));
    cell_created(t, o, now);
}

static void row_secret(struct ctl_table *t, const json_t *o, bool wide, time_t now)
{
    ctl_tbl_cell(t, "%s", sget(o, "type", "Opaque"));
    row_cm(t, o, wide, now);
}

static void row_lease(struct ctl_table *t, const json_t *o, bool wide, time_t now)
{
    ctl_tbl_cell(t, "%s", sget(o, "spec.holderIdentity", ""));
    cell_created(t, o, now);
}

/* The timestamp an event was last seen at, by kubectl's preference. */
static const char *event_time(const json_t *e)
{
    const char *s = json_path_str(e, "lastTimestamp");
    if (!s || !s[0]) s = json_path_str(e, "eventTime");
    if (!s || !s[0]) s = json_path_str(e, "firstTimestamp");
    if (!s || !s[0]) s = json_path_str(e, "metadata.creationTimestamp");
    return s;
}

static void row_event(struct ctl_table *t, const json_t *o, bool wide, time_t now)
{
    cell_age(t, event_time(o), now);
    ctl_tbl_cell(t, "%s", sget(o, "type", ""));
    ctl_tbl_cell(t, "%s", sget(o, "reason", ""));
    char kind[64];
    snprintf(kind, sizeof kind, "%s", sget(o, "involvedObject.kind", ""));
    for (char *p = kind; *p; p++) *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
    ctl_tbl_cell(t, "%s/%s", kind, sget(o, "involvedObject.name", ""));
    ctl_tbl_cell(t, "%s", sget(o, "message", ""));
}

static const struct printer printers[] = {
    {"pods", {"NAME", "READY", "STATUS", "RESTARTS", "AGE"}, {"IP", "NODE"}, row_pod},
    {"deployments", {"NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"}, {"CONTAINERS", "IMAGES", "SELECTOR"}, row_deploy},
    {"replicasets", {"NAME", "DESIRED", "CURRENT", "READY", "AGE"}, {"CONTAINERS", "IMAGES", "SELECTOR"}, row_rs},
    {"statefulsets", {"NAME", "READY", "AGE"}, {"CONTAINERS", "IMAGES", "SELECTOR"}, row_sts},
    {"daemonsets", {"NAME", "DESIRED", "CURRENT", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"}, {"CONTAINERS", "IMAGES", "SELECTOR"}, row_ds},
    {"jobs", {"NAME", "COMPLETIONS", "DURATION", "AGE"}, {"CONTAINERS", "IMAGES", "SELECTOR"}, row_job},
    {"cronjobs", {"NAME", "SCHEDULE", "SUSPEND", "ACTIVE", "LAST SCHEDULE", "AGE"}, {NULL}, row_cronjob},
    {"services", {"NAME", "TYPE", "CLUSTER-IP", "PORT(S)", "AGE"}, {NULL}, row_svc},
    {"nodes", {"NAME", "STATUS", "ROLES", "AGE", "VERSION"}, {"INTERNAL-IP"}, row_node},
    {"namespaces", {"NAME", "STATUS", "AGE"}, {NULL}, row_ns},
    {"configmaps", {"NAME", "DATA", "AGE"}, {NULL}, row_cm},
    {"secrets", {"NAME", "TYPE", "DATA", "AGE"}, {NULL}, row_secret},
    {"leases", {"NAME", "HOLDER", "AGE"}, {NULL}, row_lease},
    {"events", {"LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"}, {NULL}, row_event},
    {"horizontalpodautoscalers", {"NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS", "AGE"}, {NULL}, row_hpa},
};

static const struct printer generic = {NULL, {"NAME", "AGE"}, {NULL}, NULL};

static const struct printer *printer_for(const struct kind_info *k)
{
    for (size_t i = 0; i < sizeof printers / sizeof printers[0]; i++)
        if (!strcmp(printers[i].resource, k->resource)) return &printers[i];
    return &generic;
}

static size_t count(const char *const *v, size_t max)
{
    size_t n = 0;
    while (n < max && v[n]) n++;
    return n;
}

size_t ctl_print_ncols(const struct kind_info *k, bool wide, bool with_ns)
{
    const struct printer *p = printer_for(k);
    return (with_ns ? 1 : 0) + count(p->cols, 8) + (wide ? count(p->wide, 4) : 0);
}

void ctl_print_header(struct ctl_table *t, const struct kind_info *k, bool wide, bool with_ns)
{
    const struct printer *p = printer_for(k);
    if (with_ns) ctl_tbl_cell(t, "NAMESPACE");
    for (size_t i = 0; i < count(p->cols, 8); i++) ctl_tbl_cell(t, "%s", p->cols[i]);
    for (size_t i = 0; wide && i < count(p->wide, 4); i++) ctl_tbl_cell(t, "%s", p->wide[i]);
}

void ctl_print_row(struct ctl_table *t, const struct kind_info *k, const json_t *obj,
                   bool wide, bool with_ns, time_t now)
{
    const struct printer *p = printer_for(k);
    if (with_ns) ctl_tbl_cell(t, "%s", sget(obj, "metadata.namespace", ""));
    /* Events have no NAME column; every other kind starts with it. */
    if (strcmp(p->cols[0], "NAME") == 0) ctl_tbl_cell(t, "%s", sget(obj, "metadata.name", ""));
    if (p->row) p->row(t, obj, wide, now);
    else cell_created(t, obj, now);
}

static int cmp_event(const void *a, const void *b)
{
    const char *x = event_time(*(json_t *const *)a), *y = event_time(*(json_t *const *)b);
    return strcmp(x ? x : "", y ? y : "");
}

void ctl_sort_events(json_t *events)
{
    size_t n = json_array_size(events);
    if (n < 2) return;
    json_t **v = xmalloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++) v[i] = json_incref(json_array_get(events, i));
    qsort(v, n, sizeof *v, cmp_event);
    json_array_clear(events);
    for (size_t i = 0; i < n; i++) json_array_append_new(events, v[i]);
    free(v);
}

void ctl_print_events_short(struct ctl_table *t, const json_t *events, time_t now)
{
    const char *hdr[] = {"TYPE", "REASON", "AGE", "FROM", "MESSAGE"};
    for (size_t i = 0; i < 5; i++) ctl_tbl_cell(t, "%s", hdr[i]);
    size_t i;
    json_t *e;
    json_array_foreach(events, i, e) {
        char last[32], first[32];
        ctl_age(event_time(e), now, last, sizeof last);
        ctl_age(sget(e, "firstTimestamp", event_time(e)), now, first, sizeof first);
        long long n = iget(e, "count", 1);
        ctl_tbl_cell(t, "%s", sget(e, "type", ""));
        ctl_tbl_cell(t, "%s", sget(e, "reason", ""));
        if (n > 1) ctl_tbl_cell(t, "%s (x%lld over %s)", last, n, first);
        else ctl_tbl_cell(t, "%s", last);
        ctl_tbl_cell(t, "%s", sget(e, "source.component", sget(e, "reportingController", "")));
        ctl_tbl_cell(t, "%s", sget(e, "message", ""));
    }
}
