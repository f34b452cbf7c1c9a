/* agent_env.c: a container's command line and environment, as the kubelet
 * builds them.
 *
 * The environment is envFrom (configMapRef / secretRef, each with an
 * optional prefix; later sources win), then env in order: value, or
 * valueFrom fieldRef (metadata.name|namespace|uid, metadata.labels['k'],
 * metadata.annotations['k'], spec.nodeName, spec.serviceAccountName,
 * status.hostIP, status.podIP), resourceFieldRef (limits|requests.cpu in
 * whole cores rounded up, or in millicores with divisor 1m; memory in bytes
 * or divided by the divisor), configMapKeyRef or secretKeyRef (Secret
 * values are base64 in `data`). $(NAME) in values, command and args expands
 * to a variable defined before it ($$ is a literal $); an unknown reference
 * stays as written. HOSTNAME is the pod's name, PATH a default if unset.
 *
 * ConfigMaps and Secrets are read from the API when a start needs them and
 * kept for ENVREF_TTL_MS (a "not found" for 2 s), so a burst of pods that share one costs one GET
 * and a container started later sees a newer version (as the kubelet's TTL
 * cache does). While a GET is out the build answers AGENT_ENV_PENDING and
 * the container stays ContainerCreating; the answer has the pods
 * reconciled again on the next loop iteration. A missing object or key (unless optional) is BE_INVAL with a
 * message: the container waits in CreateContainerConfigError and is retried
 * with back-off, as in Kubernetes. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/runtime_int.h"
#include "common/base64.h"
#include "common/errors.h"
#include "common/jsonutil.h"
#include "common/quantity.h"

#define ENVREF_TTL_MS 10000
#define ENVREF_MISSING_TTL_MS 2000 /* a 404: the object may be created soon */

struct envref {
    json_t *obj;        /* the object, or NULL (not found / not fetched) */
    int64_t fetched_ms; /* when the last answer came; 0: none yet */
    int http;           /* status of the last answer */
    bool inflight;
};

struct envref_fetch {
    struct agent *a;
    char key[600];
};

/* ---- string vectors ------------------------------------------------------ */

void agent_strv_free(char **v)
{
    for (char **p = v; p && *p; p++)
        free(*p);
    free(v);
}

struct strv {
    char **v;
    int n;
};

static void strv_add(struct strv *s, char *str)
{
    if (!str)
        return;
    char **nv = realloc(s->v, (size_t)(s->n + 2) * sizeof *nv);
    if (!nv) {
        free(str);
        return;
    }
    s->v = nv;
    s->v[s->n++] = str;
    s->v[s->n] = NULL;
}

/* Sets NAME=value, replacing an earlier NAME (later sources win). */
static void env_set(struct strv *env, const char *name, const char *value)
{
    char *kv;
    if (asprintf(&kv, "%s=%s", name, value) < 0)
        return;
    size_t nl = strlen(name);
    for (int i = 0; i < env->n; i++) {
        if (!strncmp(env->v[i], name, nl) && env->v[i][nl] == '=') {
            free(env->v[i]);
            env->v[i] = kv;
            return;
        }
    }
    strv_add(env, kv);
}

static const char *env_get(const struct strv *env, const char *name, size_t nl)
{
    for (int i = 0; i < env->n; i++)
        if (!strncmp(env->v[i], name, nl) && env->v[i][nl] == '=')
            return env->v[i] + nl + 1;
    return NULL;
}

/* $(NAME) -> its value in env; $$ -> $; anything else as written. */
static char *expand(const char *s, const struct strv *env)
{
    size_t cap = strlen(s) + 1, n = 0;
    char *out = malloc(cap);
    while (out && *s) {
        const char *val = NULL, *end = NULL;
        size_t vl = 1, skip = 1;
        if (s[0] == '$' && s[1] == '$') {
            val = "$", skip = 2;
        } else if (s[0] == '$' && s[1] == '(' && (end = strchr(s + 2, ')')) &&
                   (val = env_get(env, s + 2, (size_t)(end - s - 2)))) {
            skip = (size_t)(end - s) + 1;
        } else {
            val = s;
        }
        vl = val == s ? 1 : strlen(val);
        if (n + vl + 1 > cap) {
            cap = (n + vl + 1) * 2;
            char *p = realloc(out, cap);
            if (!p) {
                free(out);
                return NULL;
            }
            out = p;
        }
        memcpy(out + n, val, vl);
        n += vl;
        s += skip;
    }
    if (out)
        out[n] = '\0';
    return out;
}

/* ---- ConfigMaps and Secrets from the API ----------------------------------- */

static void envref_free(void *v)
{
    struct envref *r = v;
    json_decref(r->obj);
    free(r);
}

void agent_env_cache_free(struct agent *a)
{
    dict_clear(&a->envrefs, envref_free);
}

static void on_fetched(void *data, int rc, int status, const char *body, size_t len)
{
    struct envref_fetch *f = data;
    struct agent *a = f->a;
    struct envref *r = dict_get(&a->envrefs, f->key);
    if (r) {
        r->inflight = false;
        r->fetched_ms = agent_now_ms(a);
        r->http = rc ? 0 : status;
        json_decref(r->obj);
        r->obj = rc == 0 && status == 200 ? json_loadb(body, len, 0, NULL) : NULL;
    }
    free(f);
    agent_reconcile_soon(a);
}

/* The cached object; *pending when a GET is out (started here if due). */
static const json_t *envref_get(struct agent *a, const char *resource, const char *ns,
                                const char *name, bool *pending)
{
    char key[sizeof ((struct envref_fetch *)0)->key];
    snprintf(key, sizeof key, "%s/%s/%s", resource, ns, name);
    struct envref *r = dict_get(&a->envrefs, key);
    if (!r && (!(r = calloc(1, sizeof *r)) || dict_put(&a->envrefs, key, r) != 0)) {
        free(r);
        return NULL;
    }
    int64_t age = agent_now_ms(a) - r->fetched_ms;
    if (r->fetched_ms && r->http != 0 && age < (r->obj ? ENVREF_TTL_MS : ENVREF_MISSING_TTL_MS))
        return r->obj; /* fresh */
    *pending = true;
    /* No server answered: wait a second (the periodic sync comes back). */
    if (r->inflight || (r->fetched_ms && r->http == 0 && age < 1000))
        return NULL;
    struct envref_fetch *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    char path[700];
    snprintf(path, sizeof path, "/api/v1/namespaces/%s/%s/%s", ns, resource, name);
    snprintf(f->key, sizeof f->key, "%s", key);
    f->a = a;
    r->inflight = true;
    if (a->api(a, "GET", path, NULL, NULL, 0, on_fetched, f) != 0) {
        r->inflight = false;
        free(f);
    }
    return NULL;
}

/* A value of a ConfigMap's data (or binaryData) or a Secret's data
 * (base64) or stringData; malloc'd, or NULL. */
static char *ref_value(const json_t *obj, bool secret, const char *key)
{
    const char *v = json_string_value(json_object_get(json_object_get(obj, "data"), key));
    if (secret && v) {
        char *out;
        size_t n;
        return base64_decode(v, strlen(v), &out, &n) == 0 ? out : NULL;
    }
    if (!v)
        v = json_string_value(json_object_get(json_object_get(obj, secret ? "stringData" : "binaryData"), key));
    return v ? strdup(v) : NULL;
}

/* ---- building ------------------------------------------------------------- */

struct build {
    struct agent *a;
    const struct apod *p;
    const json_t *cs;
    struct strv env;
    bool pending;
    char *err;
    size_t errlen;
};

static int from_source(struct build *b, const json_t *src)
{
    bool secret = json_object_get(src, "secretRef") != NULL;
    const json_t *ref = json_object_get(src, secret ? "secretRef" : "configMapRef");
    const char *name = json_string_value(json_object_get(ref, "name"));
    const char *prefix = json_string_value(json_object_get(src, "prefix"));
    if (!name)
        return 0;
    const json_t *obj = envref_get(b->a, secret ? "secrets" : "configmaps", b->p->ns, name, &b->pending);
    if (b->pending)
        return 0;
    if (!obj) {
        if (json_is_true(json_object_get(ref, "optional")))
            return 0;
        snprintf(b->err, b->errlen, "%s \"%s\" not found", secret ? "secret" : "configmap", name);
        return BE_INVAL;
    }
    const char *maps[] = {"data", secret ? "stringData" : "binaryData"};
    for (int m = 0; m < 2; m++) {
        const char *key;
        json_t *v;
        json_object_foreach(json_object_get(obj, maps[m]), key, v) {
            char *val = m == 0 ? ref_value(obj, secret, key) : strdup(json_string_value(v) ?: "");
            char *full;
            if (val && asprintf(&full, "%s%s", prefix ? prefix : "", key) >= 0) {
                env_set(&b->env, full, val);
                free(full);
            }
            free(val);
        }
    }
    return 0;
}

static int key_ref(struct build *b, const json_t *ref, bool secret, char **out)
{
    const char *name = json_string_value(json_object_get(ref, "name"));
    const char *key = json_string_value(json_object_get(ref, "key"));
    bool optional = json_is_true(json_object_get(ref, "optional"));
    const char *what = secret ? "secret" : "configmap";
    if (!name || !key) {
        snprintf(b->err, b->errlen, "%sKeyRef needs name and key", secret ? "secret" : "configMap");
        return BE_INVAL;
    }
    const json_t *obj = envref_get(b->a, secret ? "secrets" : "configmaps", b->p->ns, name, &b->pending);
    if (b->pending)
        return 0;
    if (obj && (*out = ref_value(obj, secret, key)))
        return 0;
    if (optional)
        return 0;
    if (!obj)
        snprintf(b->err, b->errlen, "%s \"%s\" not found", what, name);
    else
        snprintf(b->err, b->errlen, "couldn't find key %s in %s %s/%s", key, what, b->p->ns, name);
    return BE_INVAL;
}

static int field_ref(struct build *b, const char *path, char **out)
{
    const json_t *pod = b->p->obj;
    char key[256];
    const char *v = NULL;
    if (sscanf(path, "metadata.labels['%255[^']']", key) == 1)
        v = json_string_value(json_object_get(json_path(pod, "metadata.labels"), key));
    else if (sscanf(path, "metadata.annotations['%255[^']']", key) == 1)
        v = json_string_value(json_object_get(json_path(pod, "metadata.annotations"), key));
    else if (!strcmp(path, "status.hostIP") || !strcmp(path, "status.podIP"))
        v = b->a->host_ip; /* host networking */
    else if (!strcmp(path, "metadata.name") || !strcmp(path, "metadata.namespace") ||
             !strcmp(path, "metadata.uid") || !strcmp(path, "spec.nodeName") ||
             !strcmp(path, "spec.serviceAccountName"))
        v = json_path_str(pod, path);
    else {
        snprintf(b->err, b->errlen, "unsupported fieldRef fieldPath %s", path);
        return BE_INVAL;
    }
    *out = strdup(v ? v : "");
    return 0;
}

static int resource_ref(struct build *b, const json_t *ref, char **out)
{
    const char *res = json_string_value(json_object_get(ref, "resource"));
    const char *div = json_string_value(json_object_get(ref, "divisor"));
    char kind[16], name[16];
    if (!res || sscanf(res, "%15[a-z].%15s", kind, name) != 2 ||
        (strcmp(kind, "limits") && strcmp(kind, "requests")) ||
        (strcmp(name, "cpu") && strcmp(name, "memory"))) {
        snprintf(b->err, b->errlen, "unsupported resourceFieldRef resource %s", res ? res : "");
        return BE_INVAL;
    }
    const char *q = json_string_value(json_path(json_object_get(json_object_get(b->cs, "resources"), kind), name));
    int64_t v = 0, d = 1;
    if (!strcmp(name, "cpu")) {
        if (q) quantity_cpu_millis(q, &v);
        if (quantity_cpu_millis(div ? div : "1", &d) != 0 || d <= 0) d = 1000;
    } else {
        if (q) quantity_bytes(q, &v);
        if (quantity_bytes(div ? div : "1", &d) != 0 || d <= 0) d = 1;
    }
    return asprintf(out, "%lld", (long long)((v + d - 1) / d)) < 0 ? BE_NOMEM : 0;
}

static int one_var(struct build *b, const json_t *e)
{
    const char *n = json_string_value(json_object_get(e, "name"));
    const json_t *from = json_object_get(e, "valueFrom");
    char *v = NULL;
    int rc = 0;
    if (!n)
        return 0;
    if (!from) {
        const char *raw = json_string_value(json_object_get(e, "value"));
        v = expand(raw ? raw : "", &b->env);
    } else if (json_object_get(from, "fieldRef")) {
        rc = field_ref(b, json_string_value(json_path(from, "fieldRef.fieldPath")) ?: "", &v);
    } else if (json_object_get(from, "resourceFieldRef")) {
        rc = resource_ref(b, json_object_get(from, "resourceFieldRef"), &v);
    } else if (json_object_get(from, "configMapKeyRef")) {
        rc = key_ref(b, json_object_get(from, "configMapKeyRef"), false, &v);
    } else if (json_object_get(from, "secretKeyRef")) {
        rc = key_ref(b, json_object_get(from, "secretKeyRef"), true, &v);
    } else {
        snprintf(b->err, b->errlen, "env %s: unsupported valueFrom", n);
        rc = BE_INVAL;
    }
    if (rc == 0 && v)
        env_set(&b->env, n, v);
    free(v);
    return rc;
}

int agent_env_build(struct agent *a, const struct apod *p, const json_t *cs, char ***argv_out,
                    char ***env_out, char *err, size_t errlen)
{
    struct build b = {.a = a, .p = p, .cs = cs, .err = err, .errlen = errlen};
    struct strv argv = {0};
    int rc = 0;
    size_t i;
    json_t *e;
    *argv_out = *env_out = NULL;
    json_array_foreach(json_object_get(cs, "envFrom"), i, e)
        if (!rc) rc = from_source(&b, e);
    json_array_foreach(json_object_get(cs, "env"), i, e)
        if (!rc) rc = one_var(&b, e);
    if (!rc && b.pending)
        rc = AGENT_ENV_PENDING;
    if (!rc) {
        env_set(&b.env, "HOSTNAME", p->name);
        if (!env_get(&b.env, "PATH", 4))
            env_set(&b.env, "PATH", RT_DEFAULT_PATH);
        const char *lists[] = {"command", "args"};
        for (int l = 0; l < 2; l++)
            json_array_foreach(json_object_get(cs, lists[l]), i, e)
                if (json_is_string(e)) strv_add(&argv, expand(json_string_value(e), &b.env));
    }
    if (rc) {
        agent_strv_free(b.env.v);
        agent_strv_free(argv.v);
        return rc;
    }
    *argv_out = argv.v;
    *env_out = b.env.v;
    return 0;
}
