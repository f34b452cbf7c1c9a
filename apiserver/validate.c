/* validate.c: server-side defaults and validation, before anything reaches
 * the store. Errors name the field as Kubernetes does
 * ("spec.template.spec.containers[0].image: Required value").
 *
 * Generic checks apply to every kind (names, labels, annotations size);
 * kind-specific ones to Pods and pod templates, the workload kinds, Services,
 * HPAs, ConfigMaps and Namespaces. Defaults are the Kubernetes ones a user
 * would see echoed back (restartPolicy Always, replicas 1, strategy
 * RollingUpdate 25%/25%, ...). */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "apiserver/api_int.h"
#include "apiserver/validate_int.h"
#include "common/errors.h"
#include "common/jsonutil.h"
#include "common/quantity.h"
#include "common/selector.h"

int vfail(struct vctx *v, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->err, v->errlen, fmt, ap);
    va_end(ap);
    return BE_INVALID;
}

bool api_valid_dns_label(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 63) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!(islower((unsigned char)c) || isdigit((unsigned char)c) || c == '-')) return false;
    }
    return s[0] != '-' && s[n - 1] != '-';
}

bool api_valid_dns_subdomain(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 253) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!(islower((unsigned char)c) || isdigit((unsigned char)c) || c == '-' || c == '.'))
            return false;
        if (c == '.' && (i == 0 || s[i - 1] == '.' || s[i - 1] == '-' || s[i + 1] == '-'))
            return false;
    }
    return isalnum((unsigned char)s[0]) && isalnum((unsigned char)s[n - 1]);
}

/* Label/annotation key: [prefix/]name, name ≤ 63 of [A-Za-z0-9-_.] with
 * alphanumeric ends, prefix a DNS subdomain. */
bool valid_qualified_name(const char *k)
{
    const char *slash = strchr(k, '/');
    const char *name = slash ? slash + 1 : k;
    if (slash) {
        char prefix[254];
        size_t pl = (size_t)(slash - k);
        if (pl == 0 || pl > 253) return false;
        memcpy(prefix, k, pl);
        prefix[pl] = 0;
        if (!api_valid_dns_subdomain(prefix)) return false;
    }
    size_t n = strlen(name);
    if (n == 0 || n > 63) return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)name[i]) && !strchr("-_.", name[i])) return false;
    return isalnum((unsigned char)name[0]) && isalnum((unsigned char)name[n - 1]);
}

bool valid_label_value(const char *v)
{
    size_t n = strlen(v);
    if (n == 0) return true;
    if (n > 63) return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)v[i]) && !strchr("-_.", v[i])) return false;
    return isalnum((unsigned char)v[0]) && isalnum((unsigned char)v[n - 1]);
}

int check_labels(struct vctx *v, const json_t *labels, const char *path)
{
    if (!labels) return 0;
    if (!json_is_object(labels)) return vfail(v, "%s: Invalid value: must be a map of strings", path);
    const char *k;
    json_t *val;
    json_object_foreach((json_t *)labels, k, val) {
        if (!valid_qualified_name(k))
            return vfail(v, "%s: Invalid value: \"%s\": a label key must be a qualified name "
                         "(alphanumerics, '-', '_' or '.', at most 63 characters, optional DNS prefix)", path, k);
        if (!json_is_string(val) || !valid_label_value(json_string_value(val)))
            return vfail(v, "%s.%s: Invalid value: a label value must be a string of at most 63 "
                         "alphanumerics, '-', '_' or '.'", path, k);
    }
    return 0;
}

static int check_metadata(struct vctx *v, const struct api_route *rt, json_t *obj)
{
    json_t *md = json_object_get(obj, "metadata");
    const char *name = json_path_str(md, "name");
    bool label_name = !strcmp(rt->kind->resource, "namespaces") || !strcmp(rt->kind->resource, "services");
    if (!name) return vfail(v, "metadata.name: Required value");
    if (label_name ? !api_valid_dns_label(name) : !api_valid_dns_subdomain(name))
        return vfail(v, "metadata.name: Invalid value: \"%s\": a lowercase RFC 1123 %s must consist of lower case "
                     "alphanumeric characters, '-'%s, and must start and end with an alphanumeric character",
                     name, label_name ? "label" : "subdomain", label_name ? "" : " or '.'");
    int rc = check_labels(v, json_object_get(md, "labels"), "metadata.labels");
    if (rc) return rc;
    json_t *ann = json_object_get(md, "annotations");
    if (ann) {
        if (!json_is_object(ann)) return vfail(v, "metadata.annotations: Invalid value: must be a map of strings");
        const char *k;
        json_t *val;
        size_t total = 0;
        json_object_foreach(ann, k, val) {
            if (!valid_qualified_name(k)) return vfail(v, "metadata.annotations: Invalid value: \"%s\": invalid key", k);
            if (!json_is_string(val)) return vfail(v, "metadata.annotations.%s: Invalid value: must be a string", k);
            total += strlen(k) + json_string_length(val);
        }
        if (total > 256 * 1024) return vfail(v, "metadata.annotations: Too long: must have at most 262144 bytes");
    }
    json_t *refs = json_object_get(md, "ownerReferences");
    if (refs && !json_is_array(refs)) return vfail(v, "metadata.ownerReferences: Invalid value: must be a list");
    return 0;
}

static int check_configmap(struct vctx *v, json_t *obj)
{
    json_t *data = json_object_get(obj, "data");
    if (!data) return 0;
    if (!json_is_object(data)) return vfail(v, "data: Invalid value: must be a map of strings");
    const char *k;
    json_t *val;
    json_object_foreach(data, k, val) {
        size_t n = strlen(k);
        if (n == 0 || n > 253) return vfail(v, "data: Invalid value: \"%s\": invalid key", k);
        for (size_t i = 0; i < n; i++)
            if (!isalnum((unsigned char)k[i]) && !strchr("-_.", k[i]))
                return vfail(v, "data: Invalid value: \"%s\": a key must consist of alphanumerics, '-', '_' or '.'", k);
        if (!json_is_string(val)) return vfail(v, "data.%s: Invalid value: must be a string", k);
    }
    return 0;
}

int api_validate(const struct api_route *rt, json_t *obj, const json_t *old, char *errbuf, size_t errlen)
{
    struct vctx v = {.err = errbuf, .errlen = errlen, .old = old};
    const char *r = rt->kind->resource;
    int rc = check_metadata(&v, rt, obj);
    if (rc) return rc;
    if (!strcmp(r, "pods")) return validate_pod(&v, obj);
    if (!strcmp(r, "deployments") || !strcmp(r, "replicasets") || !strcmp(r, "daemonsets") ||
        !strcmp(r, "statefulsets"))
        return validate_apps(&v, r, obj);
    if (!strcmp(r, "jobs")) return validate_job(&v, json_object_get(obj, "spec"), "spec", obj);
    if (!strcmp(r, "cronjobs")) return validate_cronjob(&v, obj);
    if (!strcmp(r, "services")) return validate_service(&v, obj);
    if (!strcmp(r, "horizontalpodautoscalers")) return validate_hpa(&v, obj);
    if (!strcmp(r, "configmaps")) return check_configmap(&v, obj);
    if (!strcmp(r, "namespaces") && !old) {
        json_t *st = json_object();
        json_object_set_new(st, "phase", json_string("Active"));
        json_object_set_new(obj, "status", st);
    }
    return 0;
}
