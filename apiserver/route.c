/* route.c: turns a request path into a (kind, namespace, name, subresource)
 * route using the kind table.
 *
 * Accepted shapes, as Kubernetes serves them:
 *   /api/v1/RES[/NAME[/SUB]]                       cluster-scoped, or a
 *                                                  namespaced kind across
 *                                                  all namespaces (list only)
 *   /api/v1/namespaces/NS/RES[/NAME[/SUB]]         namespaced
 *   /apis/GROUP/VERSION/... the same with a group
 * "namespaces/NS" followed by nothing or by "status" is the Namespace object
 * itself. Segment lengths are bounded; anything else is NotFound. */
#include <stdio.h>
#include <string.h>

#include "apiserver/api_int.h"
#include "common/errors.h"

#define MAX_SEGS 10

static int split_path(char *p, char **segs)
{
    int n = 0;
    for (char *tok = strtok(p, "/"); tok; tok = strtok(NULL, "/")) {
        if (n == MAX_SEGS) return -1;
        segs[n++] = tok;
    }
    return n;
}

static int copy_seg(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n == 0 || n >= cap) return -1;
    memcpy(dst, src, n + 1);
    return 0;
}

/* Fills rt from the segments after the group/version prefix. */
static int route_rest(const char *group, const char *version, char **s, int n,
                      struct api_route *rt, char *errbuf, size_t errlen)
{
    int i = 0;
    if (n >= 3 && !strcmp(s[0], "namespaces") &&
        !(n == 3 && !strcmp(s[2], "status")) && !(n == 3 && !strcmp(s[2], "finalize"))) {
        if (copy_seg(rt->ns, sizeof rt->ns, s[1])) goto notfound;
        i = 2;
    }
    if (i >= n) goto notfound;
    const struct kind_info *k = kind_by_resource(group, s[i]);
    if (!k || strcmp(k->version, version)) {
        snprintf(errbuf, errlen, "the server could not find the requested resource %s", s[i]);
        return BE_NOTFOUND;
    }
    rt->kind = k;
    if (k->namespaced && i == 0) {
        /* across all namespaces: only the collection */
        if (n - i != 1) goto notfound;
        rt->all_namespaces = true;
        rt->type = ROUTE_COLLECTION;
        return 0;
    }
    if (!k->namespaced && i == 2) goto notfound;
    if (n - i == 1) { rt->type = ROUTE_COLLECTION; return 0; }
    if (copy_seg(rt->name, sizeof rt->name, s[i + 1])) goto notfound;
    rt->type = ROUTE_OBJECT;
    if (n - i == 2) return 0;
    if (n - i == 3 && kind_has_subresource(k, s[i + 2]) &&
        !copy_seg(rt->sub, sizeof rt->sub, s[i + 2]))
        return 0;
notfound:
    snprintf(errbuf, errlen, "the server could not find the requested resource");
    return BE_NOTFOUND;
}

int api_route_parse(const char *path, struct api_route *rt, char *errbuf, size_t errlen)
{
    memset(rt, 0, sizeof *rt);
    char buf[1024];
    if (strlen(path) >= sizeof buf) {
        snprintf(errbuf, errlen, "path too long");
        return BE_NOTFOUND;
    }
    strcpy(buf, path);
    char *s[MAX_SEGS];
    int n = split_path(buf, s);
    if (n < 2) goto notfound;
    if (!strcmp(s[0], "api") && !strcmp(s[1], "v1"))
        return route_rest("", "v1", s + 2, n - 2, rt, errbuf, errlen);
    if (!strcmp(s[0], "apis") && n >= 3)
        return route_rest(s[1], s[2], s + 3, n - 3, rt, errbuf, errlen);
notfound:
    snprintf(errbuf, errlen, "the server could not find the requested resource");
    return BE_NOTFOUND;
}
