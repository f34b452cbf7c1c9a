/* util.c: small pieces every controller uses: a string-keyed hash map
 * (chained, FNV-1a, doubling at load 1), keys "ns/name", ownerReference
 * helpers, pod readiness and availability (the Ready condition and its
 * lastTransitionTime against minReadySeconds), int-or-percent values, and
 * status conditions the Kubernetes way (lastTransitionTime moves only when
 * the status flips). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/jsonutil.h"
#include "common/kinds.h"
#include "controllers/ctrl_int.h"

/* ---- keys and owners ------------------------------------------------------ */

void ctrl_key(char *buf, size_t len, const char *ns, const char *name)
{
    snprintf(buf, len, "%s/%s", ns ? ns : "", name);
}

int ctrl_split_key(const char *key, char *ns, size_t nslen, char *name, size_t namelen)
{
    const char *slash = strchr(key, '/');
    if (!slash || (size_t)(slash - key) >= nslen || strlen(slash + 1) >= namelen) return BE_INVAL;
    memcpy(ns, key, (size_t)(slash - key));
    ns[slash - key] = 0;
    strcpy(name, slash + 1);
    return 0;
}

const json_t *ctrl_controller_ref(const json_t *obj)
{
    json_t *refs = json_object_get(json_object_get(obj, "metadata"), "ownerReferences");
    size_t i;
    json_t *r;
    json_array_foreach(refs, i, r)
        if (json_is_true(json_object_get(r, "controller"))) return r;
    return NULL;
}

bool ctrl_has_owner(const json_t *obj, const char *uid)
{
    json_t *refs = json_object_get(json_object_get(obj, "metadata"), "ownerReferences");
    size_t i;
    json_t *r;
    json_array_foreach(refs, i, r) {
        const char *u = json_string_value(json_object_get(r, "uid"));
        if (u && uid && !strcmp(u, uid)) return true;
    }
    return false;
}

json_t *ctrl_owner_ref(const char *api_version, const char *kind, const struct ctrl_obj *owner)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:b, s:b}", "apiVersion", api_version, "kind", kind,
                     "name", owner->name, "uid", owner->uid ? owner->uid : "", "controller", 1,
                     "blockOwnerDeletion", 1);
}

int64_t ctrl_int(const json_t *obj, const char *path, int64_t def)
{
    int64_t v;
    return json_path_int(obj, path, &v) ? def : v;
}

bool ctrl_deleting(const json_t *obj)
{
    return json_path_str(obj, "metadata.deletionTimestamp") != NULL;
}

/* ---- pods ------------------------------------------------------------------ */

bool ctrl_pod_active(const json_t *pod)
{
    const char *phase = json_path_str(pod, "status.phase");
    if (phase && (!strcmp(phase, "Succeeded") || !strcmp(phase, "Failed"))) return false;
    return !ctrl_deleting(pod);
}

bool ctrl_pod_ready(const json_t *pod)
{
    json_t *c = ctrl_condition(pod, "Ready");
    const char *st = json_string_value(json_object_get(c, "status"));
    return st && !strcmp(st, "True");
}

bool ctrl_pod_available(const json_t *pod, int64_t min_ready, int64_t now_ms, int64_t *wait_ms)
{
    if (wait_ms) *wait_ms = 0;
    if (!ctrl_pod_ready(pod)) return false;
    if (min_ready <= 0) return true;
    json_t *c = ctrl_condition(pod, "Ready");
    const char *lt = json_string_value(json_object_get(c, "lastTransitionTime"));
    time_t t;
    if (!lt || time_parse_rfc3339(lt, &t)) return true; /* defensive: no time known */
    int64_t at = ((int64_t)t + min_ready) * 1000;
    if (now_ms >= at) return true;
    if (wait_ms) *wait_ms = at - now_ms;
    return false;
}

int ctrl_int_or_percent(const json_t *v, int64_t total, bool round_up, int64_t def, int64_t *out)
{
    if (!v) {
        *out = def;
        return 0;
    }
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return *out < 0 ? BE_INVAL : 0;
    }
    const char *s = json_string_value(v);
    char *end;
    if (!s) return BE_INVAL;
    long long p = strtoll(s, &end, 10);
    if (end == s || p < 0) return BE_INVAL;
    if (!*end) { /* "3": an integer written as a string */
        *out = p;
        return 0;
    }
    if (strcmp(end, "%")) return BE_INVAL;
    int64_t prod = (int64_t)p * total;
    *out = round_up ? (prod + 99) / 100 : prod / 100;
    return 0;
}

void ctrl_obj_kind(const struct ctrl_obj *o, const char **api_version, const char **kind)
{
    *api_version = json_string_value(json_object_get(o->obj, "apiVersion"));
    *kind = json_string_value(json_object_get(o->obj, "kind"));
    if (*api_version && *kind) return;
    for (const struct kind_info *k = kind_table; k->resource; k++) {
        if (strcmp(k->resource, o->resource)) continue;
        static char av[64];
        if (!*api_version) *api_version = kind_api_version(k, av, sizeof av);
        if (!*kind) *kind = k->kind;
        return;
    }
    if (!*api_version) *api_version = "v1";
    if (!*kind) *kind = "Unknown";
}

/* ---- conditions -------------------------------------------------------------- */

json_t *ctrl_condition(const json_t *obj, const char *type)
{
    json_t *conds = json_path(obj, "status");
    conds = conds ? json_object_get(conds, "conditions") : NULL;
    size_t i;
    json_t *c;
    json_array_foreach(conds, i, c) {
        const char *t = json_string_value(json_object_get(c, "type"));
        if (t && !strcmp(t, type)) return c;
    }
    return NULL;
}

void ctrl_set_condition(json_t *obj, const char *type, const char *status, const char *reason,
                        const char *message, time_t now, bool with_update)
{
    char ts[32];
    time_format_rfc3339(now, ts, sizeof ts);
    json_t *st = json_object_get(obj, "status");
    if (!json_is_object(st)) json_object_set_new(obj, "status", st = json_object());
    json_t *conds = json_object_get(st, "conditions");
    if (!json_is_array(conds)) json_object_set_new(st, "conditions", conds = json_array());
    json_t *c = ctrl_condition(obj, type);
    if (!c) {
        c = json_object();
        json_object_set_new(c, "type", json_string(type));
        json_array_append_new(conds, c);
    }
    const char *old = json_string_value(json_object_get(c, "status"));
    if (!old || strcmp(old, status)) json_object_set_new(c, "lastTransitionTime", json_string(ts));
    if (with_update || !json_object_get(c, "lastUpdateTime"))
        json_object_set_new(c, "lastUpdateTime", json_string(ts));
    json_object_set_new(c, "status", json_string(status));
    json_object_set_new(c, "reason", json_string(reason));
    json_object_set_new(c, "message", json_string(message));
}

void ctrl_timestamp(struct ctrl *c, char buf[32])
{
    time_format_rfc3339(ctrl_now(c), buf, 32);
}
