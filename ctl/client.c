/* client.c: how berthctl talks to the API server.
 *
 * Builds Kubernetes-style paths from a kind_info row (core group under
 * /api/v1, others under /apis/GROUP/VERSION, namespaced kinds under
 * /namespaces/NS), sends one request over the blocking httpc client, and
 * turns every non-2xx answer into a BE_* code plus the message of the Status
 * object the server sent (kubectl prints exactly that message). Lists are
 * read page by page (limit=500, following metadata.continue). */
#include "ctl/ctl.h"

#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/jsonutil.h"

void ctl_path(struct sbuf *b, const struct kind_info *k, const char *ns,
              const char *name, const char *sub)
{
    if (k->group[0]) sb_printf(b, "/apis/%s/%s", k->group, k->version);
    else sb_printf(b, "/api/%s", k->version);
    if (k->namespaced && ns) {
        sb_add(b, "/namespaces/");
        sb_add_enc(b, ns);
    }
    sb_add(b, "/");
    sb_add(b, k->resource);
    if (name) {
        sb_add(b, "/");
        sb_add_enc(b, name);
    }
    if (sub) {
        sb_add(b, "/");
        sb_add(b, sub);
    }
}

void ctl_kind_ref(const struct kind_info *k, char *buf, size_t len)
{
    if (k->group[0]) snprintf(buf, len, "%s.%s", k->singular, k->group);
    else snprintf(buf, len, "%s", k->singular);
}

void ctl_resource_ref(const struct kind_info *k, char *buf, size_t len)
{
    if (k->group[0]) snprintf(buf, len, "%s.%s", k->resource, k->group);
    else snprintf(buf, len, "%s", k->resource);
}

int ctl_kind(struct ctl *c, const char *name, const struct kind_info **k)
{
    *k = kind_lookup(name);
    if (!*k)
        return ctl_fail(c, BE_NOTFOUND, "the server doesn't have a resource type \"%s\"", name);
    return 0;
}

const char *ctl_ns_for(struct ctl *c, const struct kind_info *k)
{
    if (!k->namespaced || c->all_ns) return NULL;
    return c->ns;
}

static int code_for(int http, const char *reason)
{
    switch (http) {
    case 400: return BE_INVAL;
    case 404: return BE_NOTFOUND;
    case 405: return BE_METHOD;
    case 409: return reason && !strcmp(reason, "AlreadyExists") ? BE_EXISTS : BE_CONFLICT;
    case 410: return BE_GONE;
    case 413: return BE_TOOBIG;
    case 422: return BE_INVALID;
    case 503: return BE_UNAVAIL;
    case 504: return BE_TIMEOUT;
    default: return http >= 500 ? BE_INTERNAL : BE_PROTO;
    }
}

/* The first line of a non-JSON error body, trimmed, for the message. */
static void first_line(const char *body, char *buf, size_t len)
{
    size_t n = 0;
    while (body && body[n] && body[n] != '\n' && body[n] != '\r' && n + 1 < len) n++;
    memcpy(buf, body ? body : "", n);
    buf[n] = '\0';
}

int ctl_status_error(struct ctl *c, int http, const char *body)
{
    json_t *st = body ? json_loads(body, 0, NULL) : NULL;
    const char *msg = st ? json_path_str(st, "message") : NULL;
    const char *reason = st ? json_path_str(st, "reason") : NULL;
    int rc = code_for(http, reason);
    if (msg && msg[0]) {
        ctl_fail(c, rc, "%s", msg);
    } else if (http == 404) {
        ctl_fail(c, rc, "the server could not find the requested resource");
    } else {
        char line[200];
        first_line(body, line, sizeof line);
        if (line[0]) ctl_fail(c, rc, "the server returned HTTP %d: %s", http, line);
        else ctl_fail(c, rc, "the server returned HTTP %d", http);
    }
    json_decref(st);
    return rc;
}

/* The server's Warning headers ("299 - \"text\"" each) as kubectl shows
 * them: "Warning: text" on stderr. */
static void ctl_print_warnings(const char *warnings)
{
    for (const char *p = warnings; p && *p;) {
        const char *end = strchr(p, '\n');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *q = memchr(p, '"', len);
        const char *last = len ? p + len - 1 : p;
        if (q && last > q && *last == '"')
            fprintf(stderr, "Warning: %.*s\n", (int)(last - q - 1), q + 1);
        else
            fprintf(stderr, "Warning: %.*s\n", (int)len, p);
        p = end ? end + 1 : NULL;
    }
}

int ctl_call(struct ctl *c, const char *method, const char *path, const char *ctype,
             const json_t *body, json_t **out, int *http)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    if (body && !text) return ctl_fail(c, BE_NOMEM, "out of memory");
    struct httpc_response resp = {0};
    char eb[512] = "";
    int rc = httpc_request(c->http, method, path, text ? (ctype ? ctype : "application/json") : NULL,
                           text, text ? strlen(text) : 0, &resp, eb, sizeof eb);
    free(text);
    if (out) *out = NULL;
    if (http) *http = rc ? 0 : resp.status;
    if (rc) return ctl_fail(c, rc, "%s", eb[0] ? eb : be_strerror(rc));
    ctl_print_warnings(resp.warnings);
    if (resp.status < 200 || resp.status > 299) {
        rc = ctl_status_error(c, resp.status, resp.body);
    } else if (out && resp.body_len > 0) {
        json_error_t je;
        *out = json_loadb(resp.body, resp.body_len, 0, &je);
        if (!*out)
            rc = ctl_fail(c, BE_PROTO, "invalid JSON from the server on %s %s: %s", method,
                          path, je.text);
    }
    httpc_response_free(&resp);
    return rc;
}

/* Lists carry their items without apiVersion/kind; -o json|yaml wants them,
 * first as kubectl prints them. */
static void add_type(json_t *items, const struct kind_info *k)
{
    char av[96];
    kind_api_version(k, av, sizeof av);
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it) {
        if (!json_is_object(it) || json_object_get(it, "kind")) continue;
        json_t *typed = json_pack("{s:s, s:s}", "apiVersion", av, "kind", k->kind);
        json_object_update_missing(typed, it);
        json_array_set_new(items, i, typed);
    }
}

int ctl_list(struct ctl *c, const struct kind_info *k, const char *ns,
             const char *label_sel, const char *field_sel, json_t **items, char **rv)
{
    json_t *all = json_array();
    char *cont = NULL;
    int rc = 0;
    if (rv) *rv = NULL;
    do {
        struct sbuf p = {0};
        ctl_path(&p, k, ns, NULL, NULL);
        sb_query(&p, "limit", "500");
        if (label_sel) sb_query(&p, "labelSelector", label_sel);
        if (field_sel) sb_query(&p, "fieldSelector", field_sel);
        if (cont) sb_query(&p, "continue", cont);
        json_t *page = NULL;
        rc = ctl_call(c, "GET", p.s, NULL, NULL, &page, NULL);
        sb_free(&p);
        free(cont);
        cont = NULL;
        if (rc) break;
        json_t *its = json_object_get(page, "items");
        if (json_is_array(its)) json_array_extend(all, its);
        const char *next = json_path_str(page, "metadata.continue");
        if (next && next[0]) cont = xstrdup(next);
        const char *r = json_path_str(page, "metadata.resourceVersion");
        if (rv && r) {
            free(*rv);
            *rv = xstrdup(r);
        }
        json_decref(page);
    } while (cont);
    if (rc) {
        json_decref(all);
        if (rv) {
            free(*rv);
            *rv = NULL;
        }
        return rc;
    }
    add_type(all, k);
    *items = all;
    return 0;
}

/* "deploy/web" -> kind row and name. */
static int split_ref(struct ctl *c, const char *arg, struct ctl_ref *r)
{
    const char *slash = strchr(arg, '/');
    char kname[128];
    size_t n = (size_t)(slash - arg);
    if (n == 0 || n >= sizeof kname || !slash[1] || strchr(slash + 1, '/'))
        return ctl_fail(c, BE_INVAL, "invalid resource reference \"%s\": use KIND/NAME", arg);
    memcpy(kname, arg, n);
    kname[n] = '\0';
    r->name = slash + 1;
    return ctl_kind(c, kname, &r->kind);
}

int ctl_refs(struct ctl *c, const char **pos, int npos, const struct kind_info **kind,
             struct ctl_ref **refs, int *n)
{
    *kind = NULL;
    *refs = NULL;
    *n = 0;
    if (npos < 1) return ctl_fail(c, BE_INVAL, "you must specify the type of resource");
    struct ctl_ref *v = xmalloc((size_t)npos * sizeof *v);
    int rc = 0, cnt = 0;
    bool slashed = strchr(pos[0], '/') != NULL;
    if (!slashed) rc = ctl_kind(c, pos[0], kind);
    for (int i = slashed ? 0 : 1; !rc && i < npos; i++) {
        bool has = strchr(pos[i], '/') != NULL;
        if (has && !slashed) {
            rc = ctl_fail(c, BE_INVAL, "there is no need to specify a resource type as a "
                                       "separate argument when passing arguments in "
                                       "resource/name form");
        } else if (!has && slashed) {
            rc = ctl_fail(c, BE_INVAL, "invalid reference \"%s\": use KIND/NAME", pos[i]);
        } else if (slashed) {
            rc = split_ref(c, pos[i], &v[cnt++]);
        } else if (!pos[i][0]) {
            rc = ctl_fail(c, BE_INVAL, "resource name may not be empty");
        } else {
            v[cnt].kind = *kind;
            v[cnt++].name = pos[i];
        }
    }
    if (rc) {
        free(v);
        return rc;
    }
    *refs = v;
    *n = cnt;
    return 0;
}
