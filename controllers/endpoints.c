/* endpoints.c: the endpoints controller, and NodePort allocation.
 *
 * Keys are "ns/name" of Services. For a Service with a non-empty
 * spec.selector the controller keeps an Endpoints object of the same name:
 * every pod of the namespace that matches the selector, has a status.podIP
 * (host networking: its node's address), is not terminal and is not being
 * deleted becomes an address ({ip, nodeName, targetRef}) in `addresses` when
 * its Ready condition is True (readiness probes set it) and in
 * `notReadyAddresses` otherwise. Each Service port resolves per pod: a
 * numeric targetPort as is, a named one through the pod's containerPorts
 * (a pod without that name gets no entry for that port). Pods with the
 * same resolved port list share one subset, as Kubernetes packs them; the
 * lists are sorted so a sync writes only when something really changed.
 * Services without a selector are left alone (their Endpoints are the
 * user's); when a Service goes, its Endpoints go with it.
 *
 * NodePort allocation lives here too, not in the API server: choosing a
 * free port needs the set of ports in use, which the leader's caches have
 * and the validation path does not. A NodePort or LoadBalancer Service
 * port without nodePort gets one in 30000-32767: the first free port at or
 * after 30000 + FNV-1a("ns/name/index") mod 2768 (deterministic, so a
 * re-apply that drops the field gets the same port back while it is free).
 * "Free" means used by no cached Service and not handed out by this
 * controller in the last minute (a write not yet seen by the watch). The
 * Service is updated first; the Endpoints follow on the resulting event.
 *
 * Events: a Service change enqueues its key; an Endpoints change enqueues
 * the Service of that name (a deleted or edited Endpoints is put back); a
 * pod change enqueues every Service of its namespace that selects its old
 * or its new labels. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/jsonutil.h"
#include "common/log.h"
#include "controllers/ctrl_int.h"

#define NODEPORT_MIN 30000
#define NODEPORT_MAX 32767
#define RECENT_MS 60000

static const char *const ep_resources[] = {"services", "endpoints", "pods", NULL};

/* Ports this controller handed out recently (not yet in the cache). */
struct ep_recent {
    int port;
    int64_t at_ms;
    char key[320];
};

struct ep_priv {
    struct ep_recent *v;
    size_t n, cap;
};

static int ep_init(struct ctrl *c)
{
    c->priv = calloc(1, sizeof(struct ep_priv));
    return c->priv ? 0 : BE_NOMEM;
}

static void ep_fini(struct ctrl *c)
{
    struct ep_priv *p = c->priv;
    if (p) free(p->v);
    free(p);
    c->priv = NULL;
}

/* ---- selection ---------------------------------------------------------------------- */

/* The Service's selector map, or NULL when it has none (or an empty one). */
static const json_t *svc_selector(const json_t *svc)
{
    const json_t *sel = json_path(svc, "spec.selector");
    return json_is_object(sel) && json_object_size(sel) ? sel : NULL;
}

static bool sel_matches(const json_t *sel, const json_t *pod)
{
    const json_t *labels = json_path(pod, "metadata.labels");
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)sel, k, v) {
        const json_t *have = json_object_get(labels, k);
        if (!json_is_string(have) || !json_equal(have, v)) return false;
    }
    return true;
}

static void ep_on_event(struct ctrl *c, enum store_ev_type type, const struct ctrl_obj *old,
                        const struct ctrl_obj *obj)
{
    char key[512];
    if (strcmp(obj->resource, "pods")) { /* services, endpoints: same key */
        ctrl_key(key, sizeof key, obj->ns, obj->name);
        ctrl_enqueue(c, key);
        return;
    }
    const struct ctrl_obj **v;
    size_t n = ctrl_list(c, "services", obj->ns, &v);
    for (size_t i = 0; i < n; i++) {
        const json_t *sel = svc_selector(v[i]->obj);
        if (sel && (sel_matches(sel, obj->obj) || (old && sel_matches(sel, old->obj)))) {
            ctrl_key(key, sizeof key, v[i]->ns, v[i]->name);
            ctrl_enqueue(c, key);
        }
    }
    free(v);
}

/* ---- port resolution ----------------------------------------------------------------- */

/* The port a Service port's targetPort means for pod: the number, or the
 * containerPort of that name (with its protocol); 0 when the pod lacks it. */
static int resolve_port(const json_t *sport, const json_t *pod)
{
    const json_t *tp = json_object_get(sport, "targetPort");
    if (!tp) tp = json_object_get(sport, "port");
    if (json_is_integer(tp)) return (int)json_integer_value(tp);
    const char *name = json_string_value(tp);
    if (!name) return 0;
    char *end;
    long num = strtol(name, &end, 10); /* "8080" given as a string */
    if (*name && !*end) return num > 0 && num <= 65535 ? (int)num : 0;
    size_t i, j;
    json_t *cont, *cp;
    json_array_foreach(json_path(pod, "spec.containers"), i, cont)
        json_array_foreach(json_object_get(cont, "ports"), j, cp) {
            const char *n = json_string_value(json_object_get(cp, "name"));
            if (n && !strcmp(n, name)) return (int)json_integer_value(json_object_get(cp, "containerPort"));
        }
    return 0;
}

/* The pod's resolved port list [{name?, port, protocol}] in Service order. */
static json_t *pod_ports(const json_t *svc, const json_t *pod)
{
    json_t *out = json_array();
    size_t i;
    json_t *sp;
    json_array_foreach(json_path(svc, "spec.ports"), i, sp) {
        int port = resolve_port(sp, pod);
        if (port <= 0) continue;
        const char *proto = json_string_value(json_object_get(sp, "protocol"));
        json_t *e = json_pack("{s:i, s:s}", "port", port, "protocol", proto ? proto : "TCP");
        const char *name = json_string_value(json_object_get(sp, "name"));
        if (name && name[0]) json_object_set_new(e, "name", json_string(name));
        json_array_append_new(out, e);
    }
    return out;
}

static json_t *pod_address(const struct ctrl_obj *pod)
{
    json_t *a = json_pack("{s:s, s:{s:s, s:s, s:s, s:s}}", "ip", json_path_str(pod->obj, "status.podIP"),
                          "targetRef", "kind", "Pod", "name", pod->name, "namespace", pod->ns,
                          "uid", pod->uid ? pod->uid : "");
    const char *node = json_path_str(pod->obj, "spec.nodeName");
    if (a && node && node[0]) json_object_set_new(a, "nodeName", json_string(node));
    return a;
}

static int addr_cmp(const void *pa, const void *pb)
{
    const json_t *a = *(json_t *const *)pa, *b = *(json_t *const *)pb;
    int r = strcmp(json_path_str(a, "ip"), json_path_str(b, "ip"));
    return r ? r : strcmp(json_path_str(a, "targetRef.name"), json_path_str(b, "targetRef.name"));
}

/* Sorts the array a in place (by ip, then pod name). */
static void sort_addrs(json_t *a)
{
    size_t n = json_array_size(a);
    if (n < 2) return;
    json_t **v = malloc(n * sizeof *v);
    if (!v) return; /* defensive: unsorted is still correct */
    for (size_t i = 0; i < n; i++) v[i] = json_incref(json_array_get(a, i));
    qsort(v, n, sizeof *v, addr_cmp);
    json_array_clear(a);
    for (size_t i = 0; i < n; i++) json_array_append_new(a, v[i]);
    free(v);
}

static int subset_cmp(const void *pa, const void *pb)
{
    const json_t *a = *(json_t *const *)pa, *b = *(json_t *const *)pb;
    char *ka = json_dumps(json_object_get(a, "ports"), JSON_COMPACT | JSON_SORT_KEYS);
    char *kb = json_dumps(json_object_get(b, "ports"), JSON_COMPACT | JSON_SORT_KEYS);
    int r = strcmp(ka ? ka : "", kb ? kb : "");
    free(ka);
    free(kb);
    return r;
}

/* The subsets for svc from the namespace's pods. NULL on allocation failure. */
static json_t *build_subsets(struct ctrl *c, const struct ctrl_obj *svc)
{
    const json_t *sel = svc_selector(svc->obj);
    const struct ctrl_obj **pods;
    size_t n = ctrl_list(c, "pods", svc->ns, &pods);
    json_t *groups = json_object(); /* ports JSON -> subset */
    for (size_t i = 0; i < n && groups; i++) {
        const json_t *p = pods[i]->obj;
        const char *ip = json_path_str(p, "status.podIP");
        if (!ip || !ip[0] || !ctrl_pod_active(p) || !sel_matches(sel, p)) continue;
        json_t *ports = pod_ports(svc->obj, p);
        char *k = json_dumps(ports, JSON_COMPACT | JSON_SORT_KEYS);
        if (!k || !json_array_size(ports)) {
            free(k);
            json_decref(ports);
            continue;
        }
        json_t *sub = json_object_get(groups, k);
        if (!sub) {
            sub = json_pack("{s:[], s:[], s:O}", "addresses", "notReadyAddresses", "ports", ports);
            json_object_set_new(groups, k, sub);
        }
        free(k);
        json_decref(ports);
        const char *list = ctrl_pod_ready(p) ? "addresses" : "notReadyAddresses";
        json_array_append_new(json_object_get(sub, list), pod_address(pods[i]));
    }
    free(pods);
    if (!groups) return NULL;
    size_t ng = json_object_size(groups), k = 0;
    json_t **v = calloc(ng ? ng : 1, sizeof *v);
    json_t *out = json_array();
    if (!v || !out) {
        free(v);
        json_decref(out);
        json_decref(groups);
        return NULL;
    }
    const char *gk;
    json_t *sub;
    json_object_foreach(groups, gk, sub) v[k++] = sub;
    qsort(v, ng, sizeof *v, subset_cmp);
    for (size_t i = 0; i < ng; i++) {
        sort_addrs(json_object_get(v[i], "addresses"));
        sort_addrs(json_object_get(v[i], "notReadyAddresses"));
        if (!json_array_size(json_object_get(v[i], "addresses"))) json_object_del(v[i], "addresses");
        if (!json_array_size(json_object_get(v[i], "notReadyAddresses")))
            json_object_del(v[i], "notReadyAddresses");
        json_array_append(out, v[i]);
    }
    free(v);
    json_decref(groups);
    return out;
}

/* ---- NodePort allocation --------------------------------------------------------------- */

static bool wants_node_ports(const json_t *svc)
{
    const char *type = json_path_str(svc, "spec.type");
    return type && (!strcmp(type, "NodePort") || !strcmp(type, "LoadBalancer"));
}

static bool port_used(struct ctrl *c, const char *key, int port, const json_t *self_ports)
{
    struct ep_priv *pv = c->priv;
    int64_t now = ctrl_now_ms(c);
    for (size_t i = 0; i < pv->n; i++)
        if (pv->v[i].port == port && now - pv->v[i].at_ms < RECENT_MS && strcmp(pv->v[i].key, key))
            return true;
    size_t i;
    json_t *p;
    json_array_foreach((json_t *)self_ports, i, p)
        if (json_integer_value(json_object_get(p, "nodePort")) == port) return true;
    const struct ctrl_obj **v;
    size_t n = ctrl_list(c, "services", NULL, &v);
    bool used = false;
    for (size_t s = 0; s < n && !used; s++) {
        char k[512];
        ctrl_key(k, sizeof k, v[s]->ns, v[s]->name);
        if (!strcmp(k, key)) continue;
        json_array_foreach(json_path(v[s]->obj, "spec.ports"), i, p)
            if (json_integer_value(json_object_get(p, "nodePort")) == port) used = true;
    }
    free(v);
    return used;
}

static void remember(struct ctrl *c, const char *key, int port)
{
    struct ep_priv *pv = c->priv;
    int64_t now = ctrl_now_ms(c);
    size_t k = 0;
    for (size_t i = 0; i < pv->n; i++) /* drop the stale ones */
        if (now - pv->v[i].at_ms < RECENT_MS) pv->v[k++] = pv->v[i];
    pv->n = k;
    if (pv->n == pv->cap) {
        size_t cap = pv->cap ? pv->cap * 2 : 8;
        struct ep_recent *nv = realloc(pv->v, cap * sizeof *nv);
        if (!nv) return; /* defensive: only the race guard is lost */
        pv->v = nv;
        pv->cap = cap;
    }
    struct ep_recent *r = &pv->v[pv->n++];
    r->port = port;
    r->at_ms = now;
    snprintf(r->key, sizeof r->key, "%s", key);
}

static uint32_t fnv1a(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* Gives every port of a NodePort Service without nodePort one. 1: the
 * Service was updated (the sync ends there), 0: nothing to do, or an error. */
static int allocate_node_ports(struct ctrl *c, const char *key, const struct ctrl_obj *svc)
{
    if (!wants_node_ports(svc->obj)) return 0;
    json_t *copy = NULL, *ports = NULL;
    size_t i;
    json_t *p;
    const int span = NODEPORT_MAX - NODEPORT_MIN + 1;
    json_array_foreach(json_path(svc->obj, "spec.ports"), i, p) {
        if (json_object_get(p, "nodePort")) continue;
        if (!copy) {
            if (!(copy = json_deep_copy(svc->obj))) return BE_NOMEM;
            ports = json_path(copy, "spec.ports");
        }
        char seed[600];
        snprintf(seed, sizeof seed, "%s/%zu", key, i);
        int start = (int)(fnv1a(seed) % (uint32_t)span), port = 0;
        for (int k = 0; k < span && !port; k++) {
            int cand = NODEPORT_MIN + (start + k) % span;
            if (!port_used(c, key, cand, ports)) port = cand;
        }
        if (!port) {
            json_decref(copy);
            ctrl_event(c, svc, "Warning", "NodePortAllocationFailed",
                       "no free node port in %d-%d", NODEPORT_MIN, NODEPORT_MAX);
            return 0;
        }
        json_object_set_new(json_array_get(ports, i), "nodePort", json_integer(port));
        remember(c, key, port);
    }
    if (!copy) return 0;
    int rc = ctrl_update(c, svc, copy);
    return rc ? rc : 1;
}

/* ---- sync ------------------------------------------------------------------------------ */

static int ep_sync(struct ctrl *c, const char *key)
{
    const struct ctrl_obj *svc = ctrl_get_key(c, "services", key);
    const struct ctrl_obj *ep = ctrl_get_key(c, "endpoints", key);
    if (!svc) {
        /* Endpoints without a Service are deleted (as Kubernetes does). */
        return ep && !ctrl_deleting(ep->obj) ? ctrl_delete(c, ep, NULL) : 0;
    }
    if (ctrl_deleting(svc->obj)) return 0;
    int rc = allocate_node_ports(c, key, svc);
    if (rc) return rc < 0 || rc > 1 ? rc : 0;
    if (!svc_selector(svc->obj)) return 0;
    json_t *subsets = build_subsets(c, svc);
    if (!subsets) return BE_NOMEM;
    json_t *labels = json_path(svc->obj, "metadata.labels");
    if (ep) {
        const json_t *old_labels = json_path(ep->obj, "metadata.labels");
        const json_t *old_subsets = json_object_get(ep->obj, "subsets");
        bool same_labels = labels ? json_equal(labels, old_labels) : !old_labels;
        bool same_subsets = old_subsets ? json_equal(subsets, old_subsets) : !json_array_size(subsets);
        if (same_labels && same_subsets) {
            json_decref(subsets);
            return 0;
        }
        json_t *copy = json_deep_copy(ep->obj);
        if (!copy) {
            json_decref(subsets);
            return BE_NOMEM;
        }
        json_object_set_new(copy, "subsets", subsets);
        json_t *md = json_object_get(copy, "metadata");
        if (labels) json_object_set(md, "labels", labels);
        else json_object_del(md, "labels");
        return ctrl_update(c, ep, copy);
    }
    json_t *obj = json_pack("{s:s, s:s, s:{s:s, s:s}, s:o}", "apiVersion", "v1", "kind", "Endpoints",
                            "metadata", "name", svc->name, "namespace", svc->ns, "subsets", subsets);
    if (!obj) return BE_NOMEM;
    if (labels) json_object_set(json_object_get(obj, "metadata"), "labels", labels);
    return ctrl_create(c, "endpoints", obj, NULL, NULL, 0);
}

const struct ctrl_def ctrl_endpoints_def = {
    .name = "endpoints-controller",
    .resources = ep_resources,
    .on_event = ep_on_event,
    .sync = ep_sync,
    .init = ep_init,
    .fini = ep_fini,
};
