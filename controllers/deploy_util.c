/* deploy_util.c: the pure arithmetic of Deployments: maxSurge and
 * maxUnavailable from numbers or percentages of spec.replicas (surge rounds
 * up, unavailable down, never both zero), the pod-template-hash (FNV-1a of
 * the template's canonical JSON, safe-encoded like Kubernetes' rand
 * .SafeEncodeString so names carry no vowels or look-alike characters),
 * template equality ignoring that label, and revision annotations. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/jsonutil.h"
#include "controllers/ctrl_int.h"

int deploy_surge_unavailable(const json_t *d, int64_t *surge, int64_t *unavail)
{
    int64_t replicas = ctrl_int(d, "spec.replicas", 1);
    const char *type = json_path_str(d, "spec.strategy.type");
    *surge = *unavail = 0;
    if (type && !strcmp(type, "Recreate")) return 0;
    json_t *ru = json_path(d, "spec.strategy.rollingUpdate");
    json_t *ms = ru ? json_object_get(ru, "maxSurge") : NULL;
    json_t *mu = ru ? json_object_get(ru, "maxUnavailable") : NULL;
    json_t *def = json_string("25%");
    int rc = ctrl_int_or_percent(ms ? ms : def, replicas, true, 0, surge);
    if (!rc) rc = ctrl_int_or_percent(mu ? mu : def, replicas, false, 0, unavail);
    json_decref(def);
    if (rc) return rc;
    if (*surge == 0 && *unavail == 0) *unavail = 1;
    if (*unavail > replicas) *unavail = replicas;
    return 0;
}

void deploy_template_hash(const json_t *tmpl, int64_t collisions, char out[16])
{
    static const char safe[] = "bcdfghjklmnpqrstvwxz2456789";
    char *text = json_dumps(tmpl, JSON_COMPACT | JSON_SORT_KEYS);
    uint32_t h = 2166136261u;
    for (const char *p = text ? text : ""; *p; p++) h = (h ^ (unsigned char)*p) * 16777619u;
    free(text);
    if (collisions > 0) {
        uint32_t cc = (uint32_t)collisions;
        for (int i = 0; i < 4; i++) h = (h ^ ((cc >> (8 * i)) & 0xff)) * 16777619u;
    }
    char dec[16];
    snprintf(dec, sizeof dec, "%u", h);
    size_t i = 0;
    for (; dec[i]; i++) out[i] = safe[(unsigned char)dec[i] % (sizeof safe - 1)];
    out[i] = 0;
}

bool deploy_same_template(const json_t *rs_tmpl, const json_t *d_tmpl)
{
    json_t *a = json_deep_copy(rs_tmpl);
    json_t *b = json_deep_copy(d_tmpl);
    if (!a || !b) {
        json_decref(a);
        json_decref(b);
        return false;
    }
    json_t *la = json_path(a, "metadata.labels"), *lb = json_path(b, "metadata.labels");
    if (la) json_object_del(la, DEPLOY_HASH_LABEL);
    if (lb) json_object_del(lb, DEPLOY_HASH_LABEL);
    bool eq = json_equal(a, b);
    json_decref(a);
    json_decref(b);
    return eq;
}

int64_t deploy_revision(const json_t *obj)
{
    json_t *an = json_path(obj, "metadata.annotations");
    const char *v = an ? json_string_value(json_object_get(an, DEPLOY_REVISION)) : NULL;
    return v ? strtoll(v, NULL, 10) : 0;
}
