/* top.c: `berthctl top pods|nodes`, kubectl top's tables over the resource
 * metrics API (metrics.k8s.io/v1beta1, served by berthd from the samples
 * the agents report).
 *
 *   top pods [NAME] [-n NS | -A] [-l SEL]
 *       NAME  CPU(cores)  MEMORY(bytes)  CPU%/REQ
 *   top nodes [NAME]
 *       NAME  CPU(cores)  CPU%  MEMORY(bytes)  MEMORY%
 *
 * CPU is printed in millicores ("250m"), memory in MiB ("12Mi"). CPU%/REQ
 * is the pod's use against the sum of its containers' cpu requests
 * ("<none>" when a container has none); node percentages are of the Node's
 * status.allocatable. No samples yet: "metrics not available yet". */
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/jsonutil.h"
#include "common/quantity.h"
#include "ctl/ctl.h"

#define MAPI "/apis/metrics.k8s.io/v1beta1"

static int64_t cpu_of(const json_t *usage)
{
    int64_t m = 0;
    const char *q = json_string_value(json_object_get(usage, "cpu"));
    return q && !quantity_cpu_millis(q, &m) ? m : 0;
}

static int64_t mem_of(const json_t *usage)
{
    int64_t b = 0;
    const char *q = json_string_value(json_object_get(usage, "memory"));
    return q && !quantity_bytes(q, &b) ? b : 0;
}

/* Metrics of a NAME or list; not-found and empty lists become the one
 * message kubectl prints. */
static int get_metrics(struct ctl *c, const char *path, const char *name, json_t **items)
{
    json_t *out = NULL;
    int http = 0;
    int rc = ctl_call(c, "GET", path, NULL, NULL, &out, &http);
    if (rc == BE_NOTFOUND && name)
        return ctl_fail(c, BE_NOTFOUND, "metrics for \"%s\" not available yet (or no such object)", name);
    if (rc) return rc;
    if (name) {
        *items = json_pack("[o]", out);
    } else {
        *items = json_incref(json_object_get(out, "items"));
        json_decref(out);
    }
    if (!json_array_size(*items)) {
        json_decref(*items);
        *items = NULL;
        return ctl_fail(c, BE_NOTFOUND, "metrics not available yet");
    }
    return 0;
}

/* Sum of the cpu requests of a pod's containers; 0 if any lacks one. */
static int64_t pod_cpu_request(const json_t *pod)
{
    int64_t sum = 0;
    size_t i;
    json_t *ctr;
    json_array_foreach(json_path(pod, "spec.containers"), i, ctr) {
        int64_t v = 0;
        const char *q = json_path_str(ctr, "resources.requests.cpu");
        if (!q || quantity_cpu_millis(q, &v) || v <= 0) return 0;
        sum += v;
    }
    return sum;
}

static const json_t *find_named(const json_t *items, const char *ns, const char *name)
{
    size_t i;
    json_t *o;
    json_array_foreach(items, i, o) {
        const char *n = json_path_str(o, "metadata.name"), *s = json_path_str(o, "metadata.namespace");
        if (n && !strcmp(n, name) && (!ns || (s && !strcmp(s, ns)))) return o;
    }
    return NULL;
}

static int top_pods(struct ctl *c, const struct ctl_args *a)
{
    const char *name = a->npos > 1 ? a->pos[1] : NULL;
    if (a->npos > 2) return ctl_fail(c, BE_INVAL, "top pods takes at most one pod name");
    const struct kind_info *pk = kind_by_resource("", "pods");
    const char *ns = c->all_ns && !name ? NULL : c->ns;
    struct sbuf p = {0};
    if (ns) {
        sb_add(&p, MAPI "/namespaces/");
        sb_add_enc(&p, ns);
        sb_add(&p, "/pods");
    } else {
        sb_add(&p, MAPI "/pods");
    }
    if (name) {
        sb_add(&p, "/");
        sb_add_enc(&p, name);
    } else if (a->selector) {
        sb_query(&p, "labelSelector", a->selector);
    }
    json_t *items = NULL, *pods = NULL;
    int rc = get_metrics(c, p.s, name, &items);
    sb_free(&p);
    if (rc) return rc;
    /* The pod objects, for requests (best effort: without them no CPU%). */
    if (ctl_list(c, pk, ns, a->selector, NULL, &pods, NULL)) pods = NULL;
    bool with_ns = ns == NULL;
    struct ctl_table t;
    ctl_tbl_init(&t, with_ns ? 5 : 4);
    if (with_ns) ctl_tbl_cell(&t, "NAMESPACE");
    ctl_tbl_cell(&t, "NAME");
    ctl_tbl_cell(&t, "CPU(cores)");
    ctl_tbl_cell(&t, "MEMORY(bytes)");
    ctl_tbl_cell(&t, "CPU%%/REQ");
    size_t i;
    json_t *m;
    json_array_foreach(items, i, m) {
        const char *pname = json_path_str(m, "metadata.name"), *pns = json_path_str(m, "metadata.namespace");
        int64_t cpu = 0, mem = 0;
        size_t j;
        json_t *ctr;
        json_array_foreach(json_object_get(m, "containers"), j, ctr) {
            cpu += cpu_of(json_object_get(ctr, "usage"));
            mem += mem_of(json_object_get(ctr, "usage"));
        }
        const json_t *pod = pods && pname ? find_named(pods, pns, pname) : NULL;
        int64_t req = pod ? pod_cpu_request(pod) : 0;
        if (with_ns) ctl_tbl_cell(&t, "%s", pns ? pns : "");
        ctl_tbl_cell(&t, "%s", pname ? pname : "");
        ctl_tbl_cell(&t, "%lldm", (long long)cpu);
        ctl_tbl_cell(&t, "%lldMi", (long long)(mem / (1024 * 1024)));
        if (req > 0) ctl_tbl_cell(&t, "%lld%%", (long long)(cpu * 100 / req));
        else ctl_tbl_cell(&t, "<none>");
    }
    ctl_tbl_flush(&t, stdout);
    ctl_tbl_free(&t);
    json_decref(items);
    json_decref(pods);
    return 0;
}

static int64_t alloc_of(const json_t *node, const char *res)
{
    int64_t v = 0;
    char path[64];
    snprintf(path, sizeof path, "status.allocatable.%s", res);
    const char *q = json_path_str(node, path);
    if (!q) return 0;
    if (!strcmp(res, "cpu")) return quantity_cpu_millis(q, &v) ? 0 : v;
    return quantity_bytes(q, &v) ? 0 : v;
}

static int top_nodes(struct ctl *c, const struct ctl_args *a)
{
    const char *name = a->npos > 1 ? a->pos[1] : NULL;
    if (a->npos > 2) return ctl_fail(c, BE_INVAL, "top nodes takes at most one node name");
    struct sbuf p = {0};
    sb_add(&p, MAPI "/nodes");
    if (name) {
        sb_add(&p, "/");
        sb_add_enc(&p, name);
    }
    json_t *items = NULL, *nodes = NULL;
    int rc = get_metrics(c, p.s, name, &items);
    sb_free(&p);
    if (rc) return rc;
    if (ctl_list(c, kind_by_resource("", "nodes"), NULL, a->selector, NULL, &nodes, NULL)) nodes = NULL;
    struct ctl_table t;
    ctl_tbl_init(&t, 5);
    ctl_tbl_cell(&t, "NAME");
    ctl_tbl_cell(&t, "CPU(cores)");
    ctl_tbl_cell(&t, "CPU%%");
    ctl_tbl_cell(&t, "MEMORY(bytes)");
    ctl_tbl_cell(&t, "MEMORY%%");
    size_t i;
    json_t *m;
    json_array_foreach(items, i, m) {
        const char *nname = json_path_str(m, "metadata.name");
        const json_t *node = nodes && nname ? find_named(nodes, NULL, nname) : NULL;
        if (a->selector && !node) continue; /* filtered out by -l */
        int64_t cpu = cpu_of(json_object_get(m, "usage")), mem = mem_of(json_object_get(m, "usage"));
        int64_t acpu = alloc_of(node, "cpu"), amem = alloc_of(node, "memory");
        ctl_tbl_cell(&t, "%s", nname ? nname : "");
        ctl_tbl_cell(&t, "%lldm", (long long)cpu);
        if (acpu > 0) ctl_tbl_cell(&t, "%lld%%", (long long)(cpu * 100 / acpu));
        else ctl_tbl_cell(&t, "<unknown>");
        ctl_tbl_cell(&t, "%lldMi", (long long)(mem / (1024 * 1024)));
        if (amem > 0) ctl_tbl_cell(&t, "%lld%%", (long long)(mem * 100 / amem));
        else ctl_tbl_cell(&t, "<unknown>");
    }
    ctl_tbl_flush(&t, stdout);
    ctl_tbl_free(&t);
    json_decref(items);
    json_decref(nodes);
    return 0;
}

int ctl_cmd_top(struct ctl *c, const struct ctl_args *a)
{
    const char *what = a->npos > 0 ? a->pos[0] : NULL;
    if (!what) return ctl_fail(c, BE_INVAL, "top: want \"pods\" or \"nodes\" (berthctl top pods|nodes)");
    if (!strcmp(what, "pods") || !strcmp(what, "pod") || !strcmp(what, "po")) return top_pods(c, a);
    if (!strcmp(what, "nodes") || !strcmp(what, "node") || !strcmp(what, "no")) return top_nodes(c, a);
    return ctl_fail(c, BE_INVAL, "top: unknown resource \"%s\": want pods or nodes", what);
}
