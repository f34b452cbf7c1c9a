/* daemonset_nodes.c: which nodes a DaemonSet's pod belongs on.
 *
 * A node is eligible when it matches the pod template's nodeSelector and
 * required node affinity (nodeSelectorTerms are OR'd, the expressions of a
 * term AND'd; operators In, NotIn, Exists, DoesNotExist, Gt, Lt; matchFields
 * on metadata.name) and every NoSchedule/NoExecute taint of the node is
 * tolerated, by the template's tolerations or the ones Kubernetes gives
 * every daemon pod (node.kubernetes.io/not-ready and unreachable NoExecute;
 * disk-, memory-, pid-pressure and unschedulable NoSchedule). A pod already
 * on a node may stay while only NoSchedule taints are untolerated (taints
 * do not evict, NoExecute ones do). Cordoning (spec.unschedulable) is
 * ignored, as Kubernetes does for DaemonSets. This is deliberately its own
 * small check, not the scheduler's (a separate component). */
#include <stdlib.h>
#include <string.h>

#include "common/jsonutil.h"
#include "controllers/ctrl_int.h"

static const char *const default_tols[][2] = {
    {"node.kubernetes.io/not-ready", "NoExecute"},
    {"node.kubernetes.io/unreachable", "NoExecute"},
    {"node.kubernetes.io/disk-pressure", "NoSchedule"},
    {"node.kubernetes.io/memory-pressure", "NoSchedule"},
    {"node.kubernetes.io/pid-pressure", "NoSchedule"},
    {"node.kubernetes.io/unschedulable", "NoSchedule"},
};

static const char *str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static bool in_values(const json_t *values, const char *v)
{
    size_t i;
    json_t *x;
    json_array_foreach(values, i, x)
        if (v && json_string_value(x) && !strcmp(json_string_value(x), v)) return true;
    return false;
}

/* One node selector requirement against a value (NULL: absent). */
static bool req_ok(const json_t *req, const char *v)
{
    const char *op = str(req, "operator");
    const json_t *values = json_object_get(req, "values");
    if (!op) return false;
    if (!strcmp(op, "In")) return in_values(values, v);
    if (!strcmp(op, "NotIn")) return !in_values(values, v);
    if (!strcmp(op, "Exists")) return v != NULL;
    if (!strcmp(op, "DoesNotExist")) return v == NULL;
    const char *lim = json_string_value(json_array_get(values, 0));
    if (!v || !lim) return false;
    char *e1, *e2;
    long long a = strtoll(v, &e1, 10), b = strtoll(lim, &e2, 10);
    if (*e1 || *e2) return false;
    if (!strcmp(op, "Gt")) return a > b;
    if (!strcmp(op, "Lt")) return a < b;
    return false;
}

static bool term_ok(const json_t *term, const json_t *node)
{
    const json_t *labels = json_path(node, "metadata.labels");
    const json_t *exprs = json_object_get(term, "matchExpressions");
    const json_t *fields = json_object_get(term, "matchFields");
    if (!json_array_size(exprs) && !json_array_size(fields)) return false; /* an empty term matches nothing */
    size_t i;
    json_t *r;
    json_array_foreach(exprs, i, r)
        if (!req_ok(r, str(labels, str(r, "key") ? str(r, "key") : ""))) return false;
    json_array_foreach(fields, i, r) {
        const char *k = str(r, "key");
        if (!k || strcmp(k, "metadata.name") || !req_ok(r, json_path_str(node, "metadata.name")))
            return false;
    }
    return true;
}

static bool selects(const json_t *pspec, const json_t *node)
{
    const json_t *labels = json_path(node, "metadata.labels");
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)json_object_get(pspec, "nodeSelector"), k, v) {
        const char *have = str(labels, k);
        if (!have || !json_string_value(v) || strcmp(have, json_string_value(v))) return false;
    }
    const json_t *terms = json_path(pspec, "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution");
    terms = terms ? json_object_get(terms, "nodeSelectorTerms") : NULL;
    if (!json_array_size(terms)) return true;
    size_t i;
    json_array_foreach(terms, i, v)
        if (term_ok(v, node)) return true;
    return false;
}

static bool tol_ok(const json_t *tol, const json_t *taint)
{
    const char *eff = str(tol, "effect"), *teff = str(taint, "effect");
    if (eff && eff[0] && (!teff || strcmp(eff, teff))) return false;
    const char *key = str(tol, "key"), *tkey = str(taint, "key");
    const char *op = str(tol, "operator");
    if (op && !strcmp(op, "Exists")) return !key || !key[0] || (tkey && !strcmp(key, tkey));
    if (!key || !tkey || strcmp(key, tkey)) return false;
    const char *val = str(tol, "value"), *tval = str(taint, "value");
    return !strcmp(val ? val : "", tval ? tval : "");
}

static bool tolerated(const json_t *pspec, const json_t *taint)
{
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(pspec, "tolerations"), i, t)
        if (tol_ok(t, taint)) return true;
    const char *key = str(taint, "key"), *eff = str(taint, "effect");
    for (size_t d = 0; key && eff && d < sizeof default_tols / sizeof default_tols[0]; d++)
        if (!strcmp(key, default_tols[d][0]) && !strcmp(eff, default_tols[d][1])) return true;
    return false;
}

void ds_node_eligible(const json_t *ds, const json_t *node, bool *schedule, bool *keep)
{
    const json_t *pspec = json_path(ds, "spec.template.spec");
    *schedule = *keep = selects(pspec, node);
    size_t i;
    json_t *taint;
    const json_t *nspec = json_path(node, "spec");
    const json_t *taints = nspec ? json_object_get(nspec, "taints") : NULL;
    json_array_foreach(taints, i, taint) {
        const char *eff = str(taint, "effect");
        if (!eff || tolerated(pspec, taint)) continue;
        if (!strcmp(eff, "NoSchedule")) *schedule = false;
        if (!strcmp(eff, "NoExecute")) *schedule = *keep = false;
    }
}

/* Adds the default daemon tolerations missing from a pod spec. */
void ds_add_tolerations(json_t *pspec)
{
    json_t *tols = json_object_get(pspec, "tolerations");
    if (!json_is_array(tols)) json_object_set_new(pspec, "tolerations", tols = json_array());
    for (size_t d = 0; d < sizeof default_tols / sizeof default_tols[0]; d++) {
        bool have = false;
        size_t i;
        json_t *t;
        json_array_foreach(tols, i, t)
            if (str(t, "key") && !strcmp(str(t, "key"), default_tols[d][0])) have = true;
        if (!have)
            json_array_append_new(tols, json_pack("{s:s, s:s, s:s}", "key", default_tols[d][0],
                                                  "operator", "Exists", "effect", default_tols[d][1]));
    }
}
