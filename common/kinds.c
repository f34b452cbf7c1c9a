/* kinds.c: the table of known kinds (see kinds.h) and lookups over it.
 * A linear scan is fine: the table has a few dozen rows. */
#include "common/kinds.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define SN(...) {__VA_ARGS__, NULL}

const struct kind_info kind_table[] = {
    {"", "v1", "namespaces", "namespace", "Namespace", false, false, SN("ns"), SN("status")},
    {"", "v1", "nodes", "node", "Node", false, false, SN("no"), SN("status")},
    {"", "v1", "pods", "pod", "Pod", true, true, SN("po"), SN("status", "log", "binding")},
    {"", "v1", "services", "service", "Service", true, true, SN("svc"), SN("status")},
    {"", "v1", "endpoints", "endpoints", "Endpoints", true, false, SN("ep"), SN(NULL)},
    {"", "v1", "configmaps", "configmap", "ConfigMap", true, false, SN("cm"), SN(NULL)},
    {"", "v1", "secrets", "secret", "Secret", true, false, SN(NULL), SN(NULL)},
    {"", "v1", "events", "event", "Event", true, false, SN("ev"), SN(NULL)},
    {"", "v1", "serviceaccounts", "serviceaccount", "ServiceAccount", true, false, SN("sa"), SN(NULL)},
    {"apps", "v1", "deployments", "deployment", "Deployment", true, true, SN("deploy"), SN("status", "scale")},
    {"apps", "v1", "replicasets", "replicaset", "ReplicaSet", true, true, SN("rs"), SN("status", "scale")},
    {"apps", "v1", "daemonsets", "daemonset", "DaemonSet", true, true, SN("ds"), SN("status")},
    {"apps", "v1", "statefulsets", "statefulset", "StatefulSet", true, true, SN("sts"), SN("status", "scale")},
    {"apps", "v1", "controllerrevisions", "controllerrevision", "ControllerRevision", true, false, SN(NULL), SN(NULL)},
    {"batch", "v1", "jobs", "job", "Job", true, true, SN(NULL), SN("status")},
    {"batch", "v1", "cronjobs", "cronjob", "CronJob", true, true, SN("cj"), SN("status")},
    {"autoscaling", "v2", "horizontalpodautoscalers", "horizontalpodautoscaler", "HorizontalPodAutoscaler", true, true, SN("hpa"), SN("status")},
    {"coordination.k8s.io", "v1", "leases", "lease", "Lease", true, false, SN(NULL), SN(NULL)},
    {NULL, NULL, NULL, NULL, NULL, false, false, SN(NULL), SN(NULL)},
};

const struct kind_info *kind_by_resource(const char *group, const char *resource)
{
    for (const struct kind_info *k = kind_table; k->resource; k++)
        if (!strcmp(k->group, group) && !strcmp(k->resource, resource)) return k;
    return NULL;
}

const char *kind_api_version(const struct kind_info *k, char *buf, int len)
{
    if (k->group[0]) snprintf(buf, len, "%s/%s", k->group, k->version);
    else snprintf(buf, len, "%s", k->version);
    return buf;
}

const struct kind_info *kind_by_api_kind(const char *api_version, const char *kind)
{
    char av[96];
    for (const struct kind_info *k = kind_table; k->resource; k++)
        if (!strcmp(k->kind, kind) &&
            !strcmp(kind_api_version(k, av, sizeof av), api_version))
            return k;
    return NULL;
}

static bool matches_name(const struct kind_info *k, const char *name)
{
    if (!strcasecmp(k->resource, name) || !strcasecmp(k->singular, name) ||
        !strcasecmp(k->kind, name))
        return true;
    for (int i = 0; k->short_names[i]; i++)
        if (!strcasecmp(k->short_names[i], name)) return true;
    return false;
}

const struct kind_info *kind_lookup(const char *name)
{
    const char *dot = strchr(name, '.');
    for (const struct kind_info *k = kind_table; k->resource; k++) {
        if (dot) {
            size_t n = (size_t)(dot - name);
            if (strlen(k->resource) == n && !strncasecmp(k->resource, name, n) &&
                !strcasecmp(k->group, dot + 1))
                return k;
        } else if (matches_name(k, name)) {
            return k;
        }
    }
    return NULL;
}

bool kind_has_subresource(const struct kind_info *k, const char *sub)
{
    for (int i = 0; k->subresources[i]; i++)
        if (!strcmp(k->subresources[i], sub)) return true;
    return false;
}
