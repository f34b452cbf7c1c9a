/* discovery.c: the discovery documents Kubernetes clients read to learn
 * which groups, versions and resources a server has: /api (APIVersions),
 * /apis (APIGroupList), /apis/GROUP (APIGroup), /api/v1 and
 * /apis/GROUP/VERSION (APIResourceList, with subresources as "pods/log").
 * All generated from the kind table. */
#include <stdio.h>
#include <string.h>

#include "apiserver/api_int.h"
#include "common/errors.h"

static json_t *verbs_for(const struct kind_info *k, const char *sub)
{
    if (!sub)
        return json_pack("[s,s,s,s,s,s,s,s]", "create", "delete", "deletecollection", "get",
                         "list", "patch", "update", "watch");
    if (!strcmp(sub, "log")) return json_pack("[s]", "get");
    if (!strcmp(sub, "binding")) return json_pack("[s]", "create");
    (void)k;
    return json_pack("[s,s,s]", "get", "patch", "update");
}

static json_t *resource_list(const char *group, const char *version)
{
    char gv[96];
    if (group[0]) snprintf(gv, sizeof gv, "%s/%s", group, version);
    else snprintf(gv, sizeof gv, "%s", version);
    json_t *list = json_array();
    bool any = false;
    for (const struct kind_info *k = kind_table; k->resource; k++) {
        if (strcmp(k->group, group) || strcmp(k->version, version)) continue;
        any = true;
        json_t *sn = json_array();
        for (int i = 0; k->short_names[i]; i++) json_array_append_new(sn, json_string(k->short_names[i]));
        json_t *r = json_pack("{s:s, s:s, s:b, s:s, s:o, s:o}", "name", k->resource, "singularName",
                              k->singular, "namespaced", k->namespaced, "kind", k->kind, "verbs",
                              verbs_for(k, NULL), "shortNames", sn);
        if (k->workload) json_object_set_new(r, "categories", json_pack("[s]", "all"));
        json_array_append_new(list, r);
        for (int i = 0; k->subresources[i]; i++) {
            char name[96];
            snprintf(name, sizeof name, "%s/%s", k->resource, k->subresources[i]);
            const char *kind = !strcmp(k->subresources[i], "scale") ? "Scale"
                             : !strcmp(k->subresources[i], "binding") ? "Binding" : k->kind;
            json_array_append_new(list, json_pack("{s:s, s:s, s:b, s:s, s:o}", "name", name,
                                                  "singularName", "", "namespaced", k->namespaced,
                                                  "kind", kind, "verbs", verbs_for(k, k->subresources[i])));
        }
    }
    if (!any) { json_decref(list); return NULL; }
    return json_pack("{s:s, s:s, s:s, s:o}", "kind", "APIResourceList", "apiVersion", "v1",
                     "groupVersion", gv, "resources", list);
}

static json_t *group_entry(const char *group)
{
    const char *version = NULL;
    for (const struct kind_info *k = kind_table; k->resource; k++)
        if (!strcmp(k->group, group)) { version = k->version; break; }
    if (!version) return NULL;
    char gv[96];
    snprintf(gv, sizeof gv, "%s/%s", group, version);
    return json_pack("{s:s, s:[{s:s, s:s}], s:{s:s, s:s}}", "name", group, "versions",
                     "groupVersion", gv, "version", version, "preferredVersion", "groupVersion",
                     gv, "version", version);
}

static json_t *group_list(void)
{
    json_t *groups = json_array();
    for (const struct kind_info *k = kind_table; k->resource; k++) {
        if (!k->group[0]) continue;
        bool seen = false;
        for (const struct kind_info *j = kind_table; j != k; j++)
            if (!strcmp(j->group, k->group)) seen = true;
        if (!seen) json_array_append_new(groups, group_entry(k->group));
    }
    json_array_append_new(groups, api_metrics_group_entry()); /* metrics_api.c */
    return json_pack("{s:s, s:s, s:o}", "kind", "APIGroupList", "apiVersion", "v1", "groups", groups);
}

bool api_handle_discovery(struct api_call *call)
{
    const char *p = call->req->path;
    json_t *doc = NULL;
    char g[64], v[16];
    if (!strcmp(p, "/api") || !strcmp(p, "/api/"))
        doc = json_pack("{s:s, s:[s], s:[]}", "kind", "APIVersions", "versions", "v1",
                        "serverAddressByClientCIDRs");
    else if (!strcmp(p, "/apis") || !strcmp(p, "/apis/"))
        doc = group_list();
    else if (!strcmp(p, "/api/v1"))
        doc = resource_list("", "v1");
    else if (sscanf(p, "/apis/%63[^/]/%15[^/]", g, v) == 2 && strlen(p) == 7 + strlen(g) + strlen(v))
        doc = resource_list(g, v);
    else if (sscanf(p, "/apis/%63[^/]", g) == 1 && strlen(p) == 6 + strlen(g)) {
        doc = group_entry(g);
        if (doc) {
            json_object_set_new(doc, "kind", json_string("APIGroup"));
            json_object_set_new(doc, "apiVersion", json_string("v1"));
        }
    } else
        return false;
    if (!doc) { api_fail(call, BE_NOTFOUND, "the server could not find the requested resource"); return true; }
    char *body = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (!body) { api_fail(call, BE_NOMEM, "out of memory"); return true; }
    api_reply_json(call, 200, body, strlen(body));
    return true;
}
