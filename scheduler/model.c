/* model.c: parses Node and Pod objects into the scheduler's small structs
 * (place.h), once per watch event, keeping only what placement reads.
 *
 * Nodes: allocatable cpu/memory/pods (capacity when allocatable is absent;
 * 110 pods when neither says), labels, taints, the Ready condition and
 * spec.unschedulable. Pods: requests (per resource the sum over containers,
 * a container without a request counting its limit as Kubernetes defaults
 * it, and at least the largest init container's), nodeSelector, required
 * node affinity, tolerations, host ports, the controller owner, nodeName,
 * phase, deletion and the current PodScheduled=False message.
 *
 * Each parse allocates into the struct and frees it all on error, so a
 * struct is either fully built or empty. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/jsonutil.h"
#include "common/dict.h"
#include "common/quantity.h"
#include "scheduler/place.h"

#define DEFAULT_MAX_PODS 110

uint64_t sched_hash(const char *s)
{
    uint64_t h = dict_hash(s);
    return h ? h : 1; /* 0 means "no owner" */
}

int64_t sched_parse_time_ms(const char *s)
{
    time_t t;
    int64_t ms = 0;
    if (!s || time_parse_rfc3339(s, &t))
        return -1;
    const char *dot = strchr(s, '.');
    if (dot) { /* time_parse_rfc3339 drops fractions: keep milliseconds */
        int digits = 0;
        for (const char *d = dot + 1; *d >= '0' && *d <= '9' && digits < 3; d++, digits++)
            ms = ms * 10 + (*d - '0');
        while (digits++ < 3)
            ms *= 10;
    }
    return (int64_t)t * 1000 + ms;
}

static char *dupstr(const char *s)
{
    return strdup(s ? s : "");
}

/* A quantity given as a string or a number; -1 if absent or invalid. */
static int64_t quantity_of(const json_t *v, bool cpu)
{
    char text[64];
    int64_t out;
    if (json_is_string(v))
        snprintf(text, sizeof text, "%s", json_string_value(v));
    else if (json_is_integer(v))
        snprintf(text, sizeof text, "%lld", (long long)json_integer_value(v));
    else
        return -1;
    int rc = cpu ? quantity_cpu_millis(text, &out) : quantity_bytes(text, &out);
    return rc || out < 0 ? -1 : out;
}

static int kv_parse(const json_t *obj, struct sched_kv **out, size_t *n)
{
    const char *k;
    json_t *v;
    *out = NULL;
    *n = 0;
    if (!json_is_object(obj) || json_object_size(obj) == 0)
        return 0;
    *out = calloc(json_object_size(obj), sizeof **out);
    if (!*out)
        return BE_NOMEM;
    json_object_foreach((json_t *)obj, k, v) {
        if (!json_is_string(v))
            continue;
        struct sched_kv *kv = &(*out)[(*n)++];
        kv->key = strdup(k);
        kv->value = strdup(json_string_value(v));
        if (!kv->key || !kv->value)
            return BE_NOMEM;
    }
    return 0;
}

static void kv_free(struct sched_kv *kv, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(kv[i].key);
        free(kv[i].value);
    }
    free(kv);
}

static int effect_of(const char *s)
{
    if (!s || !s[0])
        return 0;
    if (!strcmp(s, "NoSchedule"))
        return EFF_NOSCHEDULE;
    if (!strcmp(s, "PreferNoSchedule"))
        return EFF_PREFER;
    if (!strcmp(s, "NoExecute"))
        return EFF_NOEXECUTE;
    return -1;
}

/* ---- nodes -------------------------------------------------------------- */

static int64_t node_resource(const json_t *obj, const char *name, bool cpu)
{
    json_t *a = json_path(obj, "status.allocatable");
    json_t *v = a ? json_object_get(a, name) : NULL;
    if (!v && (a = json_path(obj, "status.capacity")))
        v = json_object_get(a, name);
    return v ? quantity_of(v, cpu) : -1;
}

int sched_node_parse(const json_t *obj, struct sched_node *n)
{
    memset(n, 0, sizeof *n);
    const char *name = json_path_str(obj, "metadata.name");
    if (!name || !name[0])
        return BE_INVAL;
    if (!(n->name = strdup(name)))
        goto nomem;
    int64_t v;
    n->alloc_cpu = (v = node_resource(obj, "cpu", true)) >= 0 ? v : 0;
    n->alloc_mem = (v = node_resource(obj, "memory", false)) >= 0 ? v : 0;
    v = node_resource(obj, "pods", true); /* a count: "110" -> 110000 milli */
    n->alloc_pods = v >= 0 ? v / 1000 : DEFAULT_MAX_PODS;
    if (kv_parse(json_path(obj, "metadata.labels"), &n->labels, &n->nlabels))
        goto nomem;
    json_t *taints = json_path(obj, "spec.taints"), *t;
    size_t i;
    if (json_is_array(taints) && json_array_size(taints)) {
        n->taints = calloc(json_array_size(taints), sizeof *n->taints);
        if (!n->taints)
            goto nomem;
        json_array_foreach(taints, i, t) {
            const char *key = json_path_str(t, "key");
            int eff = effect_of(json_path_str(t, "effect"));
            if (!key || eff <= 0)
                continue;
            struct sched_taint *x = &n->taints[n->ntaints++];
            x->key = strdup(key);
            x->value = dupstr(json_path_str(t, "value"));
            x->effect = eff;
            int64_t added = sched_parse_time_ms(json_path_str(t, "timeAdded"));
            x->added_ms = added > 0 ? added : 0;
            if (!x->key || !x->value)
                goto nomem;
        }
    }
    json_t *conds = json_path(obj, "status.conditions"), *c;
    json_array_foreach(conds, i, c) {
        const char *type = json_path_str(c, "type");
        const char *status = json_path_str(c, "status");
        if (type && !strcmp(type, "Ready"))
            n->ready = status && !strcmp(status, "True");
    }
    n->unschedulable = json_is_true(json_path(obj, "spec.unschedulable"));
    return 0;
nomem:
    sched_node_free(n);
    return BE_NOMEM;
}

void sched_node_free(struct sched_node *n)
{
    free(n->name);
    kv_free(n->labels, n->nlabels);
    for (size_t i = 0; i < n->ntaints; i++) {
        free(n->taints[i].key);
        free(n->taints[i].value);
    }
    free(n->taints);
    free(n->ports);
    free(n->owners);
    memset(n, 0, sizeof *n);
}

static bool kv_equal(const struct sched_kv *a, size_t na, const struct sched_kv *b, size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (strcmp(a[i].key, b[i].key) || strcmp(a[i].value, b[i].value))
            return false;
    return true;
}

bool sched_node_changed(const struct sched_node *a, const struct sched_node *b)
{
    if (a->alloc_cpu != b->alloc_cpu || a->alloc_mem != b->alloc_mem ||
        a->alloc_pods != b->alloc_pods || a->ready != b->ready ||
        a->unschedulable != b->unschedulable || a->ntaints != b->ntaints ||
        !kv_equal(a->labels, a->nlabels, b->labels, b->nlabels))
        return true;
    for (size_t i = 0; i < a->ntaints; i++)
        if (strcmp(a->taints[i].key, b->taints[i].key) ||
            strcmp(a->taints[i].value, b->taints[i].value) ||
            a->taints[i].effect != b->taints[i].effect)
            return true;
    return false;
}

/* ---- pods --------------------------------------------------------------- */

/* Requests of one container: its request, else its limit, else 0. */
static void container_requests(const json_t *c, int64_t *cpu, int64_t *mem)
{
    json_t *req = json_path(c, "resources.requests");
    json_t *lim = json_path(c, "resources.limits");
    int64_t v;
    *cpu = *mem = 0;
    if ((v = quantity_of(json_object_get(req, "cpu"), true)) >= 0 ||
        (v = quantity_of(json_object_get(lim, "cpu"), true)) >= 0)
        *cpu = v;
    if ((v = quantity_of(json_object_get(req, "memory"), false)) >= 0 ||
        (v = quantity_of(json_object_get(lim, "memory"), false)) >= 0)
        *mem = v;
}

static int parse_expr(const json_t *e, bool field, struct sched_expr *x)
{
    static const struct { const char *name; enum sched_expr_op op; } ops[] = {
        {"In", SX_IN}, {"NotIn", SX_NOTIN}, {"Exists", SX_EXISTS},
        {"DoesNotExist", SX_NOTEXISTS}, {"Gt", SX_GT}, {"Lt", SX_LT},
    };
    const char *op = json_path_str(e, "operator");
    x->field = field;
    x->op = SX_IN;
    x->key = dupstr(json_path_str(e, "key"));
    if (!x->key)
        return BE_NOMEM;
    for (size_t i = 0; op && i < sizeof ops / sizeof ops[0]; i++)
        if (!strcmp(op, ops[i].name))
            x->op = ops[i].op;
    json_t *vals = json_object_get(e, "values"), *v;
    size_t i;
    if (json_is_array(vals) && json_array_size(vals)) {
        if (!(x->values = calloc(json_array_size(vals), sizeof *x->values)))
            return BE_NOMEM;
        json_array_foreach(vals, i, v) {
            if (json_is_string(v) && !(x->values[x->nvalues++] = strdup(json_string_value(v))))
                return BE_NOMEM;
        }
    }
    return 0;
}

static int parse_affinity(const json_t *pod, struct sched_pod *p)
{
    json_t *terms = json_path(pod, "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution");
    terms = terms ? json_object_get(terms, "nodeSelectorTerms") : NULL;
    if (!json_is_array(terms) || !json_array_size(terms))
        return 0;
    if (!(p->terms = calloc(json_array_size(terms), sizeof *p->terms)))
        return BE_NOMEM;
    size_t i, j;
    json_t *t, *e;
    json_array_foreach(terms, i, t) {
        struct sched_term *term = &p->terms[p->nterms++];
        json_t *me = json_object_get(t, "matchExpressions");
        json_t *mf = json_object_get(t, "matchFields");
        size_t total = json_array_size(me) + json_array_size(mf);
        if (!total)
            continue; /* an empty term matches no node */
        if (!(term->exprs = calloc(total, sizeof *term->exprs)))
            return BE_NOMEM;
        json_array_foreach(me, j, e) {
            if (parse_expr(e, false, &term->exprs[term->n++]))
                return BE_NOMEM;
        }
        json_array_foreach(mf, j, e) {
            if (parse_expr(e, true, &term->exprs[term->n++]))
                return BE_NOMEM;
        }
    }
    return 0;
}

static int parse_tolerations(const json_t *pod, struct sched_pod *p)
{
    json_t *tols = json_path(pod, "spec.tolerations"), *t;
    size_t i;
    if (!json_is_array(tols) || !json_array_size(tols))
        return 0;
    if (!(p->tols = calloc(json_array_size(tols), sizeof *p->tols)))
        return BE_NOMEM;
    json_array_foreach(tols, i, t) {
        int eff = effect_of(json_path_str(t, "effect"));
        if (eff < 0)
            continue;
        struct sched_toleration *x = &p->tols[p->ntols++];
        const char *op = json_path_str(t, "operator");
        x->exists = op && !strcmp(op, "Exists");
        x->key = dupstr(json_path_str(t, "key"));
        x->value = dupstr(json_path_str(t, "value"));
        x->effect = eff;
        int64_t secs;
        x->seconds = json_path_int(t, "tolerationSeconds", &secs) ? -1 : (secs < 0 ? 0 : secs);
        if (!x->key || !x->value)
            return BE_NOMEM;
    }
    return 0;
}

static int add_port(struct sched_pod *p, size_t *cap, uint32_t port)
{
    if (p->nports == *cap) {
        size_t nc = *cap ? *cap * 2 : 4;
        uint32_t *np = realloc(p->ports, nc * sizeof *np);
        if (!np)
            return BE_NOMEM;
        p->ports = np;
        *cap = nc;
    }
    p->ports[p->nports++] = port;
    return 0;
}

static int parse_containers(const json_t *pod, struct sched_pod *p)
{
    json_t *cs = json_path(pod, "spec.containers"), *c, *port;
    size_t i, j, cap = 0;
    int64_t cpu, mem;
    json_array_foreach(cs, i, c) {
        container_requests(c, &cpu, &mem);
        p->cpu += cpu;
        p->mem += mem;
        json_array_foreach(json_object_get(c, "ports"), j, port) {
            int64_t hp;
            if (json_path_int(port, "hostPort", &hp) || hp <= 0 || hp > 65535)
                continue;
            const char *proto = json_path_str(port, "protocol");
            uint32_t pr = !proto || !strcmp(proto, "TCP") ? 0 : !strcmp(proto, "UDP") ? 1 : 2;
            if (add_port(p, &cap, pr << 16 | (uint32_t)hp))
                return BE_NOMEM;
        }
    }
    json_array_foreach(json_path(pod, "spec.initContainers"), i, c) {
        container_requests(c, &cpu, &mem);
        if (cpu > p->cpu)
            p->cpu = cpu;
        if (mem > p->mem)
            p->mem = mem;
    }
    return 0;
}

int sched_pod_parse(const json_t *obj, struct sched_pod *p)
{
    memset(p, 0, sizeof *p);
    const char *name = json_path_str(obj, "metadata.name");
    if (!name || !name[0])
        return BE_INVAL;
    p->name = strdup(name);
    p->ns = dupstr(json_path_str(obj, "metadata.namespace"));
    p->uid = dupstr(json_path_str(obj, "metadata.uid"));
    p->node_name = dupstr(json_path_str(obj, "spec.nodeName"));
    if (!p->name || !p->ns || !p->uid || !p->node_name)
        goto nomem;
    json_t *refs = json_path(obj, "metadata.ownerReferences"), *ref;
    size_t i;
    json_array_foreach(refs, i, ref) {
        const char *uid = json_path_str(ref, "uid");
        if (json_is_true(json_object_get(ref, "controller")) && uid && uid[0]) {
            if (!(p->owner_uid = strdup(uid)))
                goto nomem;
            p->owner = sched_hash(uid);
            break;
        }
    }
    const char *phase = json_path_str(obj, "status.phase");
    p->terminal = phase && (!strcmp(phase, "Succeeded") || !strcmp(phase, "Failed"));
    p->deleting = json_path(obj, "metadata.deletionTimestamp") != NULL &&
                  !json_is_null(json_path(obj, "metadata.deletionTimestamp"));
    if (parse_containers(obj, p) || parse_affinity(obj, p) || parse_tolerations(obj, p) ||
        kv_parse(json_path(obj, "spec.nodeSelector"), &p->selector, &p->nselector))
        goto nomem;
    json_t *conds = json_path(obj, "status.conditions"), *c;
    json_array_foreach(conds, i, c) {
        const char *type = json_path_str(c, "type"), *st = json_path_str(c, "status");
        if (type && !strcmp(type, "PodScheduled") && st && !strcmp(st, "False") &&
            !(p->sched_msg = dupstr(json_path_str(c, "message"))))
            goto nomem;
    }
    return 0;
nomem:
    sched_pod_free(p);
    return BE_NOMEM;
}

void sched_pod_free(struct sched_pod *p)
{
    free(p->ns);
    free(p->name);
    free(p->uid);
    free(p->owner_uid);
    free(p->node_name);
    free(p->sched_msg);
    kv_free(p->selector, p->nselector);
    for (size_t i = 0; i < p->nterms; i++) {
        for (size_t j = 0; j < p->terms[i].n; j++) {
            struct sched_expr *x = &p->terms[i].exprs[j];
            free(x->key);
            for (size_t k = 0; k < x->nvalues; k++)
                free(x->values[k]);
            free(x->values);
        }
        free(p->terms[i].exprs);
    }
    free(p->terms);
    for (size_t i = 0; i < p->ntols; i++) {
        free(p->tols[i].key);
        free(p->tols[i].value);
    }
    free(p->tols);
    free(p->ports);
    memset(p, 0, sizeof *p);
}

static bool exprs_equal(const struct sched_term *a, const struct sched_term *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++) {
        const struct sched_expr *x = &a->exprs[i], *y = &b->exprs[i];
        if (x->op != y->op || x->field != y->field || x->nvalues != y->nvalues ||
            strcmp(x->key, y->key))
            return false;
        for (size_t k = 0; k < x->nvalues; k++)
            if (strcmp(x->values[k], y->values[k]))
                return false;
    }
    return true;
}

bool sched_pod_same_shape(const struct sched_pod *a, const struct sched_pod *b)
{
    if (a->cpu != b->cpu || a->mem != b->mem || a->owner != b->owner ||
        a->nports != b->nports || a->nterms != b->nterms || a->ntols != b->ntols ||
        !kv_equal(a->selector, a->nselector, b->selector, b->nselector))
        return false;
    if (a->nports && memcmp(a->ports, b->ports, a->nports * sizeof *a->ports))
        return false;
    for (size_t i = 0; i < a->nterms; i++)
        if (!exprs_equal(&a->terms[i], &b->terms[i]))
            return false;
    for (size_t i = 0; i < a->ntols; i++) {
        const struct sched_toleration *x = &a->tols[i], *y = &b->tols[i];
        if (x->exists != y->exists || x->effect != y->effect || x->seconds != y->seconds ||
            strcmp(x->key, y->key) || strcmp(x->value, y->value))
            return false;
    }
    return true;
}
