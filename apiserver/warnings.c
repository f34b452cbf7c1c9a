/* warnings.c: fields of a written object that Berth stores but does not act
 * on, reported as Kubernetes reports deprecated or ignored fields: one
 * `Warning: 299 - "..."` response header each, which berthctl (and kubectl)
 * print. The object is stored unchanged; the warning is the difference
 * between "kept" and "silently ignored" (brief §4).
 *
 * The table lists paths relative to a pod spec, a container, or the object
 * itself, each with what happens instead. Pod specs are found where each
 * workload kind keeps its template; containers are every entry of
 * containers (initContainers are reported as a whole). Only fields that are
 * present and not empty are reported, at most MAX_WARNINGS per write. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver/api_int.h"
#include "common/jsonutil.h"

#define MAX_WARNINGS 16

struct unhonoured {
    const char *path; /* dotted, relative to its scope */
    const char *what; /* what Berth does instead */
};

static const struct unhonoured pod_fields[] = {
    {"volumes", "volumes are not supported; containers see only their image's filesystem"},
    {"initContainers", "init containers are not run"},
    {"ephemeralContainers", "ignored"},
    {"securityContext", "ignored: containers run as the agent's user with its capabilities"},
    {"hostPID", "ignored: every container has its own PID namespace"},
    {"hostIPC", "ignored: every container has its own IPC namespace"},
    {"shareProcessNamespace", "ignored"},
    {"dnsConfig", "ignored: containers use the node's network and resolver"},
    {"hostAliases", "ignored"},
    {"topologySpreadConstraints", "ignored by the scheduler"},
    {"affinity.podAffinity", "ignored by the scheduler"},
    {"affinity.podAntiAffinity", "ignored by the scheduler"},
    {"affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution",
     "ignored by the scheduler (required node affinity is honoured)"},
    {"priorityClassName", "ignored: no priorities or preemption"},
    {"runtimeClassName", "ignored"},
    {"readinessGates", "ignored"},
    {"activeDeadlineSeconds", "ignored"},
    {"resourceClaims", "ignored"},
    {NULL, NULL},
};

static const struct unhonoured container_fields[] = {
    {"volumeMounts", "ignored: volumes are not supported"},
    {"volumeDevices", "ignored"},
    {"lifecycle", "lifecycle hooks are not run"},
    {"startupProbe", "ignored"},
    {"securityContext", "ignored"},
    {"livenessProbe.grpc", "gRPC probes are not supported"},
    {"readinessProbe.grpc", "gRPC probes are not supported"},
    {NULL, NULL},
};

static const struct {
    const char *resource;
    struct unhonoured field; /* relative to the object */
} object_fields[] = {
    {"statefulsets", {"spec.volumeClaimTemplates", "no persistent volumes; ignored"}},
    {"jobs", {"spec.podFailurePolicy", "ignored: failures count against backoffLimit"}},
    {"daemonsets", {"spec.updateStrategy.rollingUpdate.maxSurge", "ignored: maxUnavailable is honoured"}},
};

struct warn_buf {
    char *text;
    size_t len, cap;
    int n;
};

static void warn(struct warn_buf *b, const char *where, const char *what)
{
    if (b->n >= MAX_WARNINGS)
        return;
    char line[512];
    int n = snprintf(line, sizeof line, "Warning: 299 - \"%s: %s\"\r\n", where, what);
    if (n <= 0 || (size_t)n >= sizeof line)
        return;
    /* where may hold a user's map key: nothing in it may end the quoted
     * text or the header line. */
    for (char *p = line + 16; p < line + n - 3; p++) /* between the quotes */
        if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == '"' || *p == '\\')
            *p = '?';
    if (b->len + (size_t)n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 1024;
        while (cap < b->len + (size_t)n + 1)
            cap *= 2;
        char *p = realloc(b->text, cap);
        if (!p)
            return;
        b->text = p;
        b->cap = cap;
    }
    memcpy(b->text + b->len, line, (size_t)n + 1);
    b->len += (size_t)n;
    b->n++;
}

static bool present(const json_t *v)
{
    if (!v || json_is_null(v) || json_is_false(v))
        return false;
    if (json_is_array(v))
        return json_array_size(v) > 0;
    if (json_is_object(v))
        return json_object_size(v) > 0;
    return true;
}

static void check_table(struct warn_buf *b, const json_t *scope, const char *prefix,
                        const struct unhonoured *t)
{
    char where[300];
    for (; t->path; t++) {
        if (!present(json_path(scope, t->path)))
            continue;
        snprintf(where, sizeof where, "%s%s", prefix, t->path);
        warn(b, where, t->what);
    }
}

static void check_container(struct warn_buf *b, const json_t *c, const char *prefix)
{
    char where[300];
    check_table(b, c, prefix, container_fields);
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(c, "env"), i, e) {
        const json_t *from = json_object_get(e, "valueFrom");
        if (present(from) && !json_object_get(from, "fieldRef") &&
            !json_object_get(from, "resourceFieldRef") && !json_object_get(from, "configMapKeyRef") &&
            !json_object_get(from, "secretKeyRef")) {
            snprintf(where, sizeof where, "%senv[%zu].valueFrom", prefix, i);
            warn(b, where, "not supported; the container will not start");
        }
    }
    const char *k;
    json_t *v;
    json_object_foreach(json_path(c, "resources.limits"), k, v) {
        if (strcmp(k, "cpu") && strcmp(k, "memory")) {
            snprintf(where, sizeof where, "%sresources.limits.%s", prefix, k);
            warn(b, where, "only cpu and memory are enforced");
        }
    }
}

static void check_pod_spec(struct warn_buf *b, const json_t *spec, const char *prefix)
{
    char where[300];
    if (!json_is_object(spec))
        return;
    check_table(b, spec, prefix, pod_fields);
    const char *sched = json_string_value(json_object_get(spec, "schedulerName"));
    if (sched && strcmp(sched, "default-scheduler")) {
        snprintf(where, sizeof where, "%sschedulerName", prefix);
        warn(b, where, "ignored: Berth's scheduler places every pod");
    }
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(spec, "containers"), i, c) {
        snprintf(where, sizeof where, "%scontainers[%zu].", prefix, i);
        check_container(b, c, where);
    }
}

static void check_service(struct warn_buf *b, const json_t *obj)
{
    char where[64];
    const char *type = json_string_value(json_path(obj, "spec.type"));
    if (type && !strcmp(type, "LoadBalancer"))
        warn(b, "spec.type", "LoadBalancer gets a NodePort on every node, no external load balancer");
    if (type && !strcmp(type, "ExternalName"))
        warn(b, "spec.type", "ExternalName is not supported");
    size_t i;
    json_t *p;
    json_array_foreach(json_path(obj, "spec.ports"), i, p) {
        const char *proto = json_string_value(json_object_get(p, "protocol"));
        if (proto && strcmp(proto, "TCP")) {
            snprintf(where, sizeof where, "spec.ports[%zu].protocol", i);
            warn(b, where, "only TCP is proxied");
        }
    }
}

char *api_field_warnings(const struct kind_info *k, const json_t *obj)
{
    struct warn_buf b = {0};
    const char *r = k->resource;
    if (!strcmp(r, "pods"))
        check_pod_spec(&b, json_object_get(obj, "spec"), "spec.");
    else if (!strcmp(r, "deployments") || !strcmp(r, "replicasets") || !strcmp(r, "daemonsets") ||
             !strcmp(r, "statefulsets") || !strcmp(r, "jobs"))
        check_pod_spec(&b, json_path(obj, "spec.template.spec"), "spec.template.spec.");
    else if (!strcmp(r, "cronjobs"))
        check_pod_spec(&b, json_path(obj, "spec.jobTemplate.spec.template.spec"),
                       "spec.jobTemplate.spec.template.spec.");
    else if (!strcmp(r, "services"))
        check_service(&b, obj);
    for (size_t i = 0; i < sizeof object_fields / sizeof object_fields[0]; i++) {
        const struct unhonoured *f = &object_fields[i].field;
        if (!strcmp(object_fields[i].resource, r) && present(json_path(obj, f->path)))
            warn(&b, f->path, f->what);
    }
    return b.text;
}
