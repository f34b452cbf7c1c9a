/* validate_pod.c: defaults and validation of Pods and pod templates:
 * containers (names, images, ports, env, resources whose quantities must
 * parse and whose requests may not exceed limits), restartPolicy, grace
 * period, nodeSelector. */
#include <stdio.h>
#include <string.h>

#include "apiserver/api_int.h"
#include "apiserver/validate_int.h"
#include "common/errors.h"
#include "common/jsonutil.h"
#include "common/quantity.h"

int int_field(struct vctx *v, json_t *obj, const char *key, const char *path,
              long long def, long long min, long long max, bool set_default, long long *out)
{
    json_t *x = json_object_get(obj, key);
    if (!x || json_is_null(x)) {
        if (set_default) json_object_set_new(obj, key, json_integer(def));
        if (out) *out = def;
        return 0;
    }
    if (!json_is_integer(x)) return vfail(v, "%s.%s: Invalid value: must be an integer", path, key);
    long long n = json_integer_value(x);
    if (n < min || n > max)
        return vfail(v, "%s.%s: Invalid value: %lld: must be between %lld and %lld", path, key, n, min, max);
    if (out) *out = n;
    return 0;
}

static int check_resources(struct vctx *v, json_t *res, const char *path)
{
    if (!res) return 0;
    if (!json_is_object(res)) return vfail(v, "%s: Invalid value: must be an object", path);
    static const char *groups[] = {"requests", "limits"};
    int64_t vals[2][2] = {{-1, -1}, {-1, -1}};
    for (int g = 0; g < 2; g++) {
        json_t *m = json_object_get(res, groups[g]);
        if (!m) continue;
        if (!json_is_object(m)) return vfail(v, "%s.%s: Invalid value: must be a map", path, groups[g]);
        const char *k;
        json_t *q;
        json_object_foreach(m, k, q) {
            char text[64];
            if (json_is_integer(q)) snprintf(text, sizeof text, "%lld", (long long)json_integer_value(q));
            else if (json_is_string(q)) snprintf(text, sizeof text, "%s", json_string_value(q));
            else return vfail(v, "%s.%s.%s: Invalid value: must be a quantity", path, groups[g], k);
            int64_t x;
            if (quantity_parse(text, &x) || x < 0)
                return vfail(v, "%s.%s.%s: Invalid value: \"%s\": quantities must match the regular expression "
                             "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$' and be non-negative",
                             path, groups[g], k, text);
            if (!strcmp(k, "cpu")) vals[g][0] = x;
            if (!strcmp(k, "memory")) vals[g][1] = x;
        }
    }
    if (vals[0][0] >= 0 && vals[1][0] >= 0 && vals[0][0] > vals[1][0])
        return vfail(v, "%s.requests: Invalid value: cpu request must be less than or equal to cpu limit", path);
    if (vals[0][1] >= 0 && vals[1][1] >= 0 && vals[0][1] > vals[1][1])
        return vfail(v, "%s.requests: Invalid value: memory request must be less than or equal to memory limit", path);
    return 0;
}

static int check_container(struct vctx *v, json_t *c, const char *path)
{
    if (!json_is_object(c)) return vfail(v, "%s: Invalid value: must be an object", path);
    const char *name = json_path_str(c, "name");
    if (!name) return vfail(v, "%s.name: Required value", path);
    if (!api_valid_dns_label(name))
        return vfail(v, "%s.name: Invalid value: \"%s\": must be a lowercase RFC 1123 label", path, name);
    const char *image = json_path_str(c, "image");
    if (!image || !image[0]) return vfail(v, "%s.image: Required value", path);
    json_t *cmd = json_object_get(c, "command"), *args = json_object_get(c, "args");
    if (cmd && !json_is_array(cmd)) return vfail(v, "%s.command: Invalid value: must be a list of strings", path);
    if (args && !json_is_array(args)) return vfail(v, "%s.args: Invalid value: must be a list of strings", path);
    json_t *ports = json_object_get(c, "ports");
    if (ports && !json_is_array(ports)) return vfail(v, "%s.ports: Invalid value: must be a list", path);
    size_t i;
    json_t *p;
    json_array_foreach(ports, i, p) {
        char pp[256];
        snprintf(pp, sizeof pp, "%s.ports[%zu]", path, i);
        if (!json_is_object(p)) return vfail(v, "%s: Invalid value: must be an object", pp);
        int rc = int_field(v, p, "containerPort", pp, 0, 1, 65535, false, NULL);
        if (rc) return rc;
        if (!json_object_get(p, "containerPort")) return vfail(v, "%s.containerPort: Required value", pp);
        if ((rc = int_field(v, p, "hostPort", pp, 0, 0, 65535, false, NULL))) return rc;
        if (!json_object_get(p, "protocol")) json_object_set_new(p, "protocol", json_string("TCP"));
    }
    json_t *env = json_object_get(c, "env");
    if (env && !json_is_array(env)) return vfail(v, "%s.env: Invalid value: must be a list", path);
    json_array_foreach(env, i, p) {
        if (!json_path_str(p, "name")) return vfail(v, "%s.env[%zu].name: Required value", path, i);
    }
    char rp[256];
    snprintf(rp, sizeof rp, "%s.resources", path);
    return check_resources(v, json_object_get(c, "resources"), rp);
}

static int check_containers(struct vctx *v, json_t *spec, const char *key, const char *path, bool required)
{
    json_t *cs = json_object_get(spec, key);
    if (!cs) return required ? vfail(v, "%s.%s: Required value", path, key) : 0;
    if (!json_is_array(cs) || (required && json_array_size(cs) == 0))
        return vfail(v, "%s.%s: Required value: at least one container", path, key);
    size_t i, j;
    json_t *c;
    json_array_foreach(cs, i, c) {
        char cp[256];
        snprintf(cp, sizeof cp, "%s.%s[%zu]", path, key, i);
        int rc = check_container(v, c, cp);
        if (rc) return rc;
        for (j = 0; j < i; j++)
            if (!strcmp(json_path_str(json_array_get(cs, j), "name"), json_path_str(c, "name")))
                return vfail(v, "%s.name: Duplicate value: \"%s\"", cp, json_path_str(c, "name"));
    }
    return 0;
}

int validate_pod_spec(struct vctx *v, json_t *spec, const char *path, bool in_job)
{
    if (!json_is_object(spec)) return vfail(v, "%s: Required value", path);
    int rc = check_containers(v, spec, "containers", path, true);
    if (rc || (rc = check_containers(v, spec, "initContainers", path, false))) return rc;
    const char *rp = json_path_str(spec, "restartPolicy");
    if (!rp) {
        if (in_job) return vfail(v, "%s.restartPolicy: Required value: Never or OnFailure for a Job", path);
        json_object_set_new(spec, "restartPolicy", json_string("Always"));
    } else if (strcmp(rp, "Always") && strcmp(rp, "OnFailure") && strcmp(rp, "Never")) {
        return vfail(v, "%s.restartPolicy: Unsupported value: \"%s\": supported values: \"Always\", \"OnFailure\", \"Never\"", path, rp);
    } else if (in_job && !strcmp(rp, "Always")) {
        return vfail(v, "%s.restartPolicy: Unsupported value: \"Always\": supported values: \"OnFailure\", \"Never\"", path);
    }
    if ((rc = int_field(v, spec, "terminationGracePeriodSeconds", path, 30, 0, 86400 * 7, true, NULL))) return rc;
    if ((rc = int_field(v, spec, "activeDeadlineSeconds", path, 0, 1, 1LL << 40, false, NULL))) return rc;
    json_t *ns = json_object_get(spec, "nodeSelector");
    if (ns && !json_is_object(ns)) return vfail(v, "%s.nodeSelector: Invalid value: must be a map", path);
    json_t *tol = json_object_get(spec, "tolerations");
    if (tol && !json_is_array(tol)) return vfail(v, "%s.tolerations: Invalid value: must be a list", path);
    const char *node = json_path_str(spec, "nodeName");
    if (node && node[0] && !api_valid_dns_subdomain(node))
        return vfail(v, "%s.nodeName: Invalid value: \"%s\"", path, node);
    return 0;
}

int validate_template(struct vctx *v, json_t *tmpl, const char *path, bool in_job)
{
    if (!json_is_object(tmpl)) return vfail(v, "%s: Required value", path);
    char p[256];
    snprintf(p, sizeof p, "%s.metadata.labels", path);
    int rc = check_labels(v, json_path(tmpl, "metadata.labels"), p);
    if (rc) return rc;
    snprintf(p, sizeof p, "%s.spec", path);
    return validate_pod_spec(v, json_object_get(tmpl, "spec"), p, in_job);
}

int validate_pod(struct vctx *v, json_t *pod)
{
    int rc = validate_pod_spec(v, json_object_get(pod, "spec"), "spec", false);
    if (rc) return rc;
    if (v->old) {
        /* Pod specs are immutable but for a few fields Berth does not use yet;
         * nodeName may be set once (the binding). */
        json_t *a = json_deep_copy(json_object_get(pod, "spec"));
        json_t *b = json_deep_copy(json_object_get(v->old, "spec"));
        const char *old_node = json_path_str(b, "nodeName");
        if (!old_node || !old_node[0]) { json_object_del(a, "nodeName"); json_object_del(b, "nodeName"); }
        json_object_del(a, "activeDeadlineSeconds");
        json_object_del(b, "activeDeadlineSeconds");
        bool same = json_equal(a, b);
        json_decref(a);
        json_decref(b);
        if (!same) return vfail(v, "spec: Forbidden: pod updates may not change fields other than activeDeadlineSeconds "
                                "and a first spec.nodeName");
        return 0;
    }
    json_t *st = json_object_get(pod, "status");
    if (!json_is_object(st) || !json_object_get(st, "phase")) {
        json_object_set_new(pod, "status", json_pack("{s:s}", "phase", "Pending"));
    }
    return 0;
}
