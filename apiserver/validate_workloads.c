/* validate_workloads.c: defaults and validation of the workload kinds
 * (Deployment, ReplicaSet, DaemonSet, StatefulSet, Job, CronJob), Services
 * and HorizontalPodAutoscalers. The rules a user trips over most are here:
 * a selector that is required and must match the template's labels,
 * replicas that cannot be negative, a Job's restartPolicy, rolling-update
 * parameters that cannot both be zero. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver/api_int.h"
#include "apiserver/validate_int.h"
#include "common/cron.h"
#include "common/errors.h"
#include "common/jsonutil.h"
#include "common/selector.h"
#include "common/tz.h"

static int check_selector(struct vctx *v, json_t *spec, json_t *tmpl, const char *path)
{
    json_t *sel = json_object_get(spec, "selector");
    if (!sel) return vfail(v, "%s.selector: Required value", path);
    struct selector s;
    char err[512];
    if (selector_from_json(sel, &s, err, sizeof err))
        return vfail(v, "%s.selector: Invalid value: %s", path, err);
    bool empty = selector_empty(&s);
    bool match = selector_matches(&s, json_path(tmpl, "metadata.labels"));
    selector_free(&s);
    if (empty) return vfail(v, "%s.selector: Invalid value: empty selector is invalid for this kind", path);
    if (!match)
        return vfail(v, "%s.template.metadata.labels: Invalid value: `selector` does not match template `labels`", path);
    if (v->old && !json_equal(sel, json_path(v->old, "spec.selector")))
        return vfail(v, "%s.selector: Invalid value: field is immutable", path);
    return 0;
}

static int check_int_or_percent(struct vctx *v, json_t *obj, const char *key, const char *path,
                                const char *def, long long *n, bool *pct)
{
    json_t *x = json_object_get(obj, key);
    if (!x) { json_object_set_new(obj, key, json_string(def)); x = json_object_get(obj, key); }
    if (json_is_integer(x)) {
        *n = json_integer_value(x);
        *pct = false;
        if (*n < 0) return vfail(v, "%s.%s: Invalid value: must be greater than or equal to 0", path, key);
        return 0;
    }
    const char *s = json_string_value(x);
    char *end;
    if (!s || !isdigit((unsigned char)s[0])) goto bad;
    *n = strtoll(s, &end, 10);
    if (strcmp(end, "%")) goto bad;
    *pct = true;
    if (*n > 100) return vfail(v, "%s.%s: Invalid value: \"%s\": must not be greater than 100%%", path, key, s);
    return 0;
bad:
    return vfail(v, "%s.%s: Invalid value: must be an integer or a percentage (e.g. 25%%)", path, key);
}

static int check_deployment_strategy(struct vctx *v, json_t *spec)
{
    json_t *st = json_object_get(spec, "strategy");
    if (!st) json_object_set_new(spec, "strategy", st = json_pack("{s:s}", "type", "RollingUpdate"));
    if (!json_is_object(st)) return vfail(v, "spec.strategy: Invalid value: must be an object");
    const char *type = json_path_str(st, "type");
    if (!type) json_object_set_new(st, "type", json_string(type = "RollingUpdate"));
    if (!strcmp(type, "Recreate")) {
        if (json_object_get(st, "rollingUpdate"))
            return vfail(v, "spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'");
        return 0;
    }
    if (strcmp(type, "RollingUpdate"))
        return vfail(v, "spec.strategy.type: Unsupported value: \"%s\": supported values: \"Recreate\", \"RollingUpdate\"", type);
    json_t *ru = json_object_get(st, "rollingUpdate");
    if (!ru) json_object_set_new(st, "rollingUpdate", ru = json_object());
    long long surge, unavail;
    bool sp, up;
    int rc = check_int_or_percent(v, ru, "maxSurge", "spec.strategy.rollingUpdate", "25%", &surge, &sp);
    if (rc || (rc = check_int_or_percent(v, ru, "maxUnavailable", "spec.strategy.rollingUpdate", "25%", &unavail, &up)))
        return rc;
    if (surge == 0 && unavail == 0)
        return vfail(v, "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: may not be 0 when `maxSurge` is 0");
    return 0;
}

int validate_apps(struct vctx *v, const char *resource, json_t *obj)
{
    json_t *spec = json_object_get(obj, "spec");
    if (!json_is_object(spec)) return vfail(v, "spec: Required value");
    json_t *tmpl = json_object_get(spec, "template");
    int rc = validate_template(v, tmpl, "spec.template", false);
    if (rc || (rc = check_selector(v, spec, tmpl, "spec"))) return rc;
    const char *rp = json_path_str(tmpl, "spec.restartPolicy");
    if (rp && strcmp(rp, "Always"))
        return vfail(v, "spec.template.spec.restartPolicy: Unsupported value: \"%s\": supported values: \"Always\"", rp);
    if (strcmp(resource, "daemonsets")) {
        if ((rc = int_field(v, spec, "replicas", "spec", 1, 0, 1000000, true, NULL))) return rc;
    }
    if ((rc = int_field(v, spec, "minReadySeconds", "spec", 0, 0, 1 << 30, true, NULL))) return rc;
    if ((rc = int_field(v, spec, "revisionHistoryLimit", "spec", 10, 0, 1 << 30, true, NULL))) return rc;
    if (!strcmp(resource, "deployments")) {
        if ((rc = int_field(v, spec, "progressDeadlineSeconds", "spec", 600, 1, 1 << 30, true, NULL))) return rc;
        return check_deployment_strategy(v, spec);
    }
    if (!strcmp(resource, "statefulsets")) {
        const char *pmp = json_path_str(spec, "podManagementPolicy");
        if (!pmp) json_object_set_new(spec, "podManagementPolicy", json_string("OrderedReady"));
        else if (strcmp(pmp, "OrderedReady") && strcmp(pmp, "Parallel"))
            return vfail(v, "spec.podManagementPolicy: Unsupported value: \"%s\"", pmp);
    }
    return 0;
}

int validate_job(struct vctx *v, json_t *spec, const char *path, json_t *obj)
{
    if (!json_is_object(spec)) return vfail(v, "%s: Required value", path);
    char p[128];
    snprintf(p, sizeof p, "%s.template", path);
    int rc = validate_template(v, json_object_get(spec, "template"), p, true);
    if (rc) return rc;
    long long completions = 1;
    if ((rc = int_field(v, spec, "parallelism", path, 1, 0, 100000, true, NULL))) return rc;
    if ((rc = int_field(v, spec, "completions", path, 1, 0, 100000, true, &completions))) return rc;
    if ((rc = int_field(v, spec, "backoffLimit", path, 6, 0, 1 << 30, true, NULL))) return rc;
    if ((rc = int_field(v, spec, "activeDeadlineSeconds", path, 0, 1, 1LL << 40, false, NULL))) return rc;
    if ((rc = int_field(v, spec, "ttlSecondsAfterFinished", path, 0, 0, 1LL << 40, false, NULL))) return rc;
    json_t *sel = json_object_get(spec, "selector");
    if (sel) {
        struct selector s;
        char err[512];
        if (selector_from_json(sel, &s, err, sizeof err))
            return vfail(v, "%s.selector: Invalid value: %s", path, err);
        bool match = selector_matches(&s, json_path(spec, "template.metadata.labels"));
        selector_free(&s);
        if (!match) return vfail(v, "%s.selector: Invalid value: `selector` does not match template `labels`", path);
    }
    (void)obj;
    return 0;
}

int validate_cronjob(struct vctx *v, json_t *obj)
{
    json_t *spec = json_object_get(obj, "spec");
    if (!json_is_object(spec)) return vfail(v, "spec: Required value");
    const char *sched = json_path_str(spec, "schedule");
    if (!sched || !sched[0]) return vfail(v, "spec.schedule: Required value");
    struct cron_expr ce;
    char cerr[256];
    if (cron_parse(sched, &ce, cerr, sizeof cerr))
        return vfail(v, "spec.schedule: Invalid value: \"%s\": %s", sched, cerr);
    const char *tzn = json_path_str(spec, "timeZone");
    struct tz *tzp = NULL;
    if (tzn && tz_load(tzn, &tzp, cerr, sizeof cerr))
        return vfail(v, "spec.timeZone: Invalid value: \"%s\": %s", tzn, cerr);
    tz_free(tzp);
    const char *cp = json_path_str(spec, "concurrencyPolicy");
    if (!cp) json_object_set_new(spec, "concurrencyPolicy", json_string("Allow"));
    else if (strcmp(cp, "Allow") && strcmp(cp, "Forbid") && strcmp(cp, "Replace"))
        return vfail(v, "spec.concurrencyPolicy: Unsupported value: \"%s\": supported values: \"Allow\", \"Forbid\", \"Replace\"", cp);
    json_t *susp = json_object_get(spec, "suspend");
    if (!susp) json_object_set_new(spec, "suspend", json_false());
    else if (!json_is_boolean(susp)) return vfail(v, "spec.suspend: Invalid value: must be a boolean");
    int rc;
    if ((rc = int_field(v, spec, "successfulJobsHistoryLimit", "spec", 3, 0, 1000, true, NULL))) return rc;
    if ((rc = int_field(v, spec, "failedJobsHistoryLimit", "spec", 1, 0, 1000, true, NULL))) return rc;
    if ((rc = int_field(v, spec, "startingDeadlineSeconds", "spec", 0, 0, 1LL << 40, false, NULL))) return rc;
    json_t *jt = json_object_get(spec, "jobTemplate");
    if (!json_is_object(jt)) return vfail(v, "spec.jobTemplate: Required value");
    return validate_job(v, json_object_get(jt, "spec"), "spec.jobTemplate.spec", obj);
}

int validate_service(struct vctx *v, json_t *obj)
{
    json_t *spec = json_object_get(obj, "spec");
    if (!spec) json_object_set_new(obj, "spec", spec = json_object());
    if (!json_is_object(spec)) return vfail(v, "spec: Invalid value: must be an object");
    const char *type = json_path_str(spec, "type");
    if (!type) json_object_set_new(spec, "type", json_string(type = "ClusterIP"));
    if (strcmp(type, "ClusterIP") && strcmp(type, "NodePort") && strcmp(type, "LoadBalancer") &&
        strcmp(type, "ExternalName"))
        return vfail(v, "spec.type: Unsupported value: \"%s\"", type);
    json_t *ports = json_object_get(spec, "ports");
    if (ports && !json_is_array(ports)) return vfail(v, "spec.ports: Invalid value: must be a list");
    if (!ports && strcmp(type, "ExternalName")) return vfail(v, "spec.ports: Required value");
    size_t i;
    json_t *p;
    json_array_foreach(ports, i, p) {
        char pp[64];
        snprintf(pp, sizeof pp, "spec.ports[%zu]", i);
        if (!json_is_object(p)) return vfail(v, "%s: Invalid value: must be an object", pp);
        long long port;
        int rc = int_field(v, p, "port", pp, 0, 1, 65535, false, &port);
        if (rc) return rc;
        if (!json_object_get(p, "port")) return vfail(v, "%s.port: Required value", pp);
        if (!json_object_get(p, "protocol")) json_object_set_new(p, "protocol", json_string("TCP"));
        json_t *tp = json_object_get(p, "targetPort");
        if (!tp) json_object_set_new(p, "targetPort", json_integer(port));
        else if (json_is_integer(tp) && (json_integer_value(tp) < 1 || json_integer_value(tp) > 65535))
            return vfail(v, "%s.targetPort: Invalid value: must be between 1 and 65535", pp);
        else if (!json_is_integer(tp) && !json_is_string(tp))
            return vfail(v, "%s.targetPort: Invalid value: must be a port number or name", pp);
        if ((rc = int_field(v, p, "nodePort", pp, 0, 30000, 32767, false, NULL))) return rc;
    }
    json_t *sel = json_object_get(spec, "selector");
    if (sel) return check_labels(v, sel, "spec.selector");
    return 0;
}

int validate_hpa(struct vctx *v, json_t *obj)
{
    json_t *spec = json_object_get(obj, "spec");
    if (!json_is_object(spec)) return vfail(v, "spec: Required value");
    json_t *ref = json_object_get(spec, "scaleTargetRef");
    if (!json_path_str(ref, "kind")) return vfail(v, "spec.scaleTargetRef.kind: Required value");
    if (!json_path_str(ref, "name")) return vfail(v, "spec.scaleTargetRef.name: Required value");
    long long minr = 1, maxr = 0;
    int rc = int_field(v, spec, "minReplicas", "spec", 1, 1, 1000000, true, &minr);
    if (rc || (rc = int_field(v, spec, "maxReplicas", "spec", 0, 1, 1000000, false, &maxr))) return rc;
    if (!json_object_get(spec, "maxReplicas")) return vfail(v, "spec.maxReplicas: Required value");
    if (minr > maxr) return vfail(v, "spec.minReplicas: Invalid value: %lld: must be less than or equal to maxReplicas", minr);
    json_t *metrics = json_object_get(spec, "metrics");
    if (metrics && !json_is_array(metrics)) return vfail(v, "spec.metrics: Invalid value: must be a list");
    if (!metrics)
        json_object_set_new(spec, "metrics", json_pack("[{s:s, s:{s:s, s:{s:s, s:i}}}]", "type", "Resource",
                                                       "resource", "name", "cpu", "target", "type",
                                                       "Utilization", "averageUtilization", 80));
    return 0;
}
