/* podmetrics.c: the resource-metrics cache (see podmetrics.h).
 *
 * Two chained hash tables of malloc'd entries: pods keyed by "ns/name",
 * nodes by name. Each pod entry remembers the node that reported it, so a
 * node's new batch can drop the pods it no longer runs (a generation number
 * per ingest marks what the batch listed). Expiry walks both tables; it runs
 * before each read, which costs O(entries) and is cheap next to the JSON a
 * read produces. */
#include "common/podmetrics.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/dict.h"
#include "common/errors.h"
#include "common/jsonutil.h"

struct pm_ent {
    struct pm_ent *next;
    uint64_t gen;           /* ingest that last listed it (pods) */
    bool is_pod;
    union {
        struct pm_pod pod;
        struct pm_node node;
    } v;
    char key[];
};

struct pm_table {
    struct pm_ent **b;
    size_t nb, n;
};

struct podmetrics {
    struct pm_table pods, nodes;
    uint64_t gen;
};

static struct pm_ent **tbl_slot(struct pm_table *t, const char *key)
{
    if (!t->nb) return NULL;
    struct pm_ent **pp = &t->b[dict_hash(key) % t->nb];
    while (*pp && strcmp((*pp)->key, key)) pp = &(*pp)->next;
    return pp;
}

static int tbl_grow(struct pm_table *t)
{
    size_t nb = t->nb ? t->nb * 2 : 64;
    struct pm_ent **b = calloc(nb, sizeof *b);
    if (!b) return BE_NOMEM;
    for (size_t i = 0; i < t->nb; i++)
        for (struct pm_ent *e = t->b[i], *next; e; e = next) {
            next = e->next;
            size_t k = dict_hash(e->key) % nb;
            e->next = b[k];
            b[k] = e;
        }
    free(t->b);
    t->b = b;
    t->nb = nb;
    return 0;
}

/* The entry for key, made (zeroed) if missing. NULL on allocation failure. */
static struct pm_ent *tbl_upsert(struct pm_table *t, const char *key)
{
    struct pm_ent **pp = tbl_slot(t, key);
    if (pp && *pp) return *pp;
    if (t->n + 1 > t->nb && tbl_grow(t)) return NULL;
    size_t klen = strlen(key) + 1;
    struct pm_ent *e = calloc(1, sizeof *e + klen);
    if (!e) return NULL;
    memcpy(e->key, key, klen);
    pp = &t->b[dict_hash(key) % t->nb];
    e->next = *pp;
    *pp = e;
    t->n++;
    return e;
}

static void tbl_clear(struct pm_table *t)
{
    for (size_t i = 0; i < t->nb; i++)
        for (struct pm_ent *e = t->b[i], *next; e; e = next) {
            next = e->next;
            free(e);
        }
    free(t->b);
    memset(t, 0, sizeof *t);
}

/* Removes the entries for which drop() says so. */
static void tbl_filter(struct pm_table *t, bool (*drop)(const struct pm_ent *e, const void *arg),
                       const void *arg)
{
    for (size_t i = 0; i < t->nb; i++) {
        struct pm_ent **pp = &t->b[i];
        while (*pp) {
            struct pm_ent *e = *pp;
            if (drop(e, arg)) {
                *pp = e->next;
                free(e);
                t->n--;
            } else {
                pp = &e->next;
            }
        }
    }
}

int podmetrics_new(podmetrics_t **out)
{
    podmetrics_t *pm = calloc(1, sizeof *pm);
    if (!pm) return BE_NOMEM;
    *out = pm;
    return 0;
}

void podmetrics_free(podmetrics_t *pm)
{
    if (!pm) return;
    tbl_clear(&pm->pods);
    tbl_clear(&pm->nodes);
    free(pm);
}

podmetrics_t *podmetrics_global(void)
{
    static podmetrics_t *g;
    if (!g && podmetrics_new(&g)) g = NULL;
    return g;
}

static void pod_key(char *buf, size_t len, const char *ns, const char *name)
{
    snprintf(buf, len, "%s/%s", ns, name);
}

int podmetrics_put_pod(podmetrics_t *pm, const struct pm_pod *p, int64_t now_ms)
{
    char key[330];
    pod_key(key, sizeof key, p->ns, p->name);
    struct pm_ent *e = tbl_upsert(&pm->pods, key);
    if (!e) return BE_NOMEM;
    e->is_pod = true;
    e->v.pod = *p;
    e->v.pod.u.seen_ms = now_ms;
    e->gen = pm->gen;
    return 0;
}

int podmetrics_put_node(podmetrics_t *pm, const struct pm_node *n, int64_t now_ms)
{
    struct pm_ent *e = tbl_upsert(&pm->nodes, n->name);
    if (!e) return BE_NOMEM;
    e->v.node = *n;
    e->v.node.u.seen_ms = now_ms;
    return 0;
}

static bool stale(const struct pm_usage *u, int64_t now_ms)
{
    int64_t w = u->window_ms > 0 && u->window_ms <= PM_MAX_WINDOW_MS ? u->window_ms : 10000;
    return now_ms - u->seen_ms > 3 * w;
}

static bool drop_stale(const struct pm_ent *e, const void *arg)
{
    int64_t now = *(const int64_t *)arg;
    return stale(e->is_pod ? &e->v.pod.u : &e->v.node.u, now);
}

void podmetrics_expire(podmetrics_t *pm, int64_t now_ms)
{
    tbl_filter(&pm->pods, drop_stale, &now_ms);
    tbl_filter(&pm->nodes, drop_stale, &now_ms);
}

/* ---- ingest ------------------------------------------------------------------- */

struct node_gen {
    const char *node;
    uint64_t gen;
};

static bool drop_unlisted(const struct pm_ent *e, const void *arg)
{
    const struct node_gen *ng = arg;
    return !strcmp(e->v.pod.node, ng->node) && e->gen != ng->gen;
}

static bool get_i64(const json_t *o, const char *key, int64_t def, int64_t *out)
{
    json_t *v = json_object_get(o, key);
    if (!v) {
        *out = def;
        return true;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0) return false;
    *out = json_integer_value(v);
    return true;
}

static bool copy_str(char *dst, size_t len, const json_t *v)
{
    const char *s = json_string_value(v);
    if (!s || !s[0] || strlen(s) >= len) return false;
    memcpy(dst, s, strlen(s) + 1);
    return true;
}

/* Checks the whole batch into a vector of samples before anything changes. */
static int parse_batch(const json_t *root, struct pm_node *node, bool *has_node,
                       struct pm_pod **pods, size_t *npods, char *err, size_t errlen)
{
    memset(node, 0, sizeof *node);
    if (!json_is_object(root)) {
        snprintf(err, errlen, "the body must be a JSON object");
        return BE_INVAL;
    }
    int64_t ts, win;
    if (!copy_str(node->name, sizeof node->name, json_object_get(root, "node")) ||
        !get_i64(root, "timestampMs", -1, &ts) || ts < 0 || !get_i64(root, "windowMs", 10000, &win) ||
        win <= 0 || win > PM_MAX_WINDOW_MS) {
        snprintf(err, errlen, "a batch needs node (string), timestampMs and windowMs (positive "
                              "integers, windowMs at most an hour)");
        return BE_INVAL;
    }
    json_t *usage = json_object_get(root, "usage");
    *has_node = json_is_object(usage);
    node->u.ts_ms = ts;
    node->u.window_ms = win;
    if (*has_node && (!get_i64(usage, "cpuNanocores", 0, &node->u.cpu_nanocores) ||
                      !get_i64(usage, "memoryBytes", 0, &node->u.mem_bytes))) {
        snprintf(err, errlen, "usage.cpuNanocores and usage.memoryBytes must be non-negative integers");
        return BE_INVAL;
    }
    json_t *list = json_object_get(root, "pods");
    if (list && !json_is_array(list)) {
        snprintf(err, errlen, "pods must be a list");
        return BE_INVAL;
    }
    size_t n = json_array_size(list), i;
    *pods = calloc(n ? n : 1, sizeof **pods);
    if (!*pods) return BE_NOMEM;
    json_t *e;
    json_array_foreach(list, i, e) {
        struct pm_pod *p = &(*pods)[i];
        snprintf(p->node, sizeof p->node, "%s", node->name);
        bool ok = json_is_object(e) && copy_str(p->ns, sizeof p->ns, json_object_get(e, "namespace")) &&
                  copy_str(p->name, sizeof p->name, json_object_get(e, "name")) &&
                  get_i64(e, "timestampMs", ts, &p->u.ts_ms) &&
                  get_i64(e, "windowMs", win, &p->u.window_ms) && p->u.window_ms > 0 &&
                  p->u.window_ms <= PM_MAX_WINDOW_MS &&
                  get_i64(e, "cpuNanocores", 0, &p->u.cpu_nanocores) &&
                  get_i64(e, "memoryBytes", 0, &p->u.mem_bytes);
        if (ok && json_object_get(e, "container"))
            ok = copy_str(p->container, sizeof p->container, json_object_get(e, "container"));
        else if (ok)
            snprintf(p->container, sizeof p->container, "pod");
        if (!ok) {
            snprintf(err, errlen, "pods[%zu]: want namespace, name, container (strings), "
                                  "cpuNanocores, memoryBytes (non-negative integers) and a "
                                  "windowMs of at most an hour", i);
            free(*pods);
            *pods = NULL;
            return BE_INVAL;
        }
    }
    *npods = n;
    return 0;
}

int podmetrics_ingest(podmetrics_t *pm, const char *body, size_t len, int64_t now_ms,
                      char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *root = json_loadb(body, len, 0, &jerr);
    if (!root) {
        snprintf(err, errlen, "the body is not JSON: %s", jerr.text);
        return BE_INVAL;
    }
    struct pm_node node;
    struct pm_pod *pods = NULL;
    size_t n = 0;
    bool has_node = false;
    int rc = parse_batch(root, &node, &has_node, &pods, &n, err, errlen);
    json_decref(root);
    if (rc) return rc;
    pm->gen++;
    for (size_t i = 0; i < n && !rc; i++) rc = podmetrics_put_pod(pm, &pods[i], now_ms);
    if (!rc && has_node) rc = podmetrics_put_node(pm, &node, now_ms);
    if (!rc) {
        struct node_gen ng = {node.name, pm->gen};
        tbl_filter(&pm->pods, drop_unlisted, &ng);
    }
    free(pods);
    if (rc) snprintf(err, errlen, "out of memory");
    return rc;
}

/* ---- reads -------------------------------------------------------------------- */

const struct pm_pod *podmetrics_get_pod(podmetrics_t *pm, const char *ns, const char *name,
                                        int64_t now_ms)
{
    char key[330];
    pod_key(key, sizeof key, ns, name);
    struct pm_ent **pp = tbl_slot(&pm->pods, key);
    if (!pp || !*pp) return NULL;
    return stale(&(*pp)->v.pod.u, now_ms) ? NULL : &(*pp)->v.pod;
}

const struct pm_node *podmetrics_get_node(podmetrics_t *pm, const char *name, int64_t now_ms)
{
    struct pm_ent **pp = tbl_slot(&pm->nodes, name);
    if (!pp || !*pp) return NULL;
    return stale(&(*pp)->v.node.u, now_ms) ? NULL : &(*pp)->v.node;
}

static int cmp_pod(const void *a, const void *b)
{
    const struct pm_pod *x = *(const struct pm_pod *const *)a, *y = *(const struct pm_pod *const *)b;
    int r = strcmp(x->ns, y->ns);
    return r ? r : strcmp(x->name, y->name);
}

static int cmp_node(const void *a, const void *b)
{
    const struct pm_node *x = *(const struct pm_node *const *)a, *y = *(const struct pm_node *const *)b;
    return strcmp(x->name, y->name);
}

size_t podmetrics_list_pods(podmetrics_t *pm, const char *ns, int64_t now_ms,
                            const struct pm_pod ***out)
{
    podmetrics_expire(pm, now_ms);
    *out = NULL;
    if (!pm->pods.n) return 0;
    const struct pm_pod **v = malloc(pm->pods.n * sizeof *v);
    if (!v) return (size_t)-1;
    size_t k = 0;
    for (size_t i = 0; i < pm->pods.nb; i++)
        for (struct pm_ent *e = pm->pods.b[i]; e; e = e->next)
            if (!ns || !strcmp(ns, e->v.pod.ns)) v[k++] = &e->v.pod;
    if (!k) {
        free(v);
        return 0;
    }
    qsort(v, k, sizeof *v, cmp_pod);
    *out = v;
    return k;
}

size_t podmetrics_list_nodes(podmetrics_t *pm, int64_t now_ms, const struct pm_node ***out)
{
    podmetrics_expire(pm, now_ms);
    *out = NULL;
    if (!pm->nodes.n) return 0;
    const struct pm_node **v = malloc(pm->nodes.n * sizeof *v);
    if (!v) return (size_t)-1;
    size_t k = 0;
    for (size_t i = 0; i < pm->nodes.nb; i++)
        for (struct pm_ent *e = pm->nodes.b[i]; e; e = e->next) v[k++] = &e->v.node;
    qsort(v, k, sizeof *v, cmp_node);
    *out = v;
    return k;
}

/* ---- serialization ---------------------------------------------------------------- */

void podmetrics_window(int64_t window_ms, char *buf, size_t len)
{
    if (window_ms % 1000 == 0) snprintf(buf, len, "%llds", (long long)(window_ms / 1000));
    else snprintf(buf, len, "%.3gs", (double)window_ms / 1000.0);
}

static void usage_strings(const struct pm_usage *u, char *ts, char *win, char *cpu, char *mem)
{
    time_format_rfc3339((time_t)(u->ts_ms / 1000), ts, 32);
    podmetrics_window(u->window_ms, win, 32);
    snprintf(cpu, 32, "%lldn", (long long)u->cpu_nanocores);
    snprintf(mem, 32, "%lldKi", (long long)(u->mem_bytes / 1024));
}

json_t *podmetrics_pod_json(const struct pm_pod *p)
{
    char ts[32], win[32], cpu[32], mem[32];
    usage_strings(&p->u, ts, win, cpu, mem);
    /* metrics-server stamps creationTimestamp with the time of the read. */
    char now[32];
    time_format_rfc3339(time(NULL), now, sizeof now);
    return json_pack("{s:s, s:s, s:{s:s, s:s, s:s}, s:s, s:s, s:[{s:s, s:{s:s, s:s}}]}",
                     "kind", "PodMetrics", "apiVersion", "metrics.k8s.io/v1beta1", "metadata",
                     "name", p->name, "namespace", p->ns, "creationTimestamp", now,
                     "timestamp", ts, "window", win, "containers",
                     "name", p->container, "usage", "cpu", cpu, "memory", mem);
}

json_t *podmetrics_node_json(const struct pm_node *n)
{
    char ts[32], win[32], cpu[32], mem[32];
    usage_strings(&n->u, ts, win, cpu, mem);
    char now[32];
    time_format_rfc3339(time(NULL), now, sizeof now);
    return json_pack("{s:s, s:s, s:{s:s, s:s}, s:s, s:s, s:{s:s, s:s}}", "kind", "NodeMetrics",
                     "apiVersion", "metrics.k8s.io/v1beta1", "metadata", "name", n->name,
                     "creationTimestamp", now, "timestamp", ts, "window", win, "usage", "cpu", cpu,
                     "memory", mem);
}

void podmetrics_prometheus(podmetrics_t *pm, FILE *f, int64_t now_ms)
{
    const struct pm_pod **pods;
    const struct pm_node **nodes;
    size_t np = podmetrics_list_pods(pm, NULL, now_ms, &pods);
    size_t nn = podmetrics_list_nodes(pm, now_ms, &nodes);
    if (np == (size_t)-1) np = 0;
    if (nn == (size_t)-1) nn = 0;
    fprintf(f, "# HELP berth_pod_cpu_usage_millicores CPU use of a pod over the last window.\n"
               "# TYPE berth_pod_cpu_usage_millicores gauge\n");
    for (size_t i = 0; i < np; i++)
        fprintf(f, "berth_pod_cpu_usage_millicores{namespace=\"%s\",pod=\"%s\"} %.3f\n", pods[i]->ns,
                pods[i]->name, (double)pods[i]->u.cpu_nanocores / 1e6);
    fprintf(f, "# HELP berth_pod_memory_bytes Working set of a pod.\n"
               "# TYPE berth_pod_memory_bytes gauge\n");
    for (size_t i = 0; i < np; i++)
        fprintf(f, "berth_pod_memory_bytes{namespace=\"%s\",pod=\"%s\"} %lld\n", pods[i]->ns,
                pods[i]->name, (long long)pods[i]->u.mem_bytes);
    fprintf(f, "# HELP berth_node_cpu_usage_millicores CPU use of a node over the last window.\n"
               "# TYPE berth_node_cpu_usage_millicores gauge\n");
    for (size_t i = 0; i < nn; i++)
        fprintf(f, "berth_node_cpu_usage_millicores{node=\"%s\"} %.3f\n", nodes[i]->name,
                (double)nodes[i]->u.cpu_nanocores / 1e6);
    fprintf(f, "# HELP berth_node_memory_bytes Memory in use on a node.\n"
               "# TYPE berth_node_memory_bytes gauge\n");
    for (size_t i = 0; i < nn; i++)
        fprintf(f, "berth_node_memory_bytes{node=\"%s\"} %lld\n", nodes[i]->name,
                (long long)nodes[i]->u.mem_bytes);
    free(pods);
    free(nodes);
}
