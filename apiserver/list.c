/* list.c: GET on a collection: list with label and field selectors and
 * limit/continue pagination.
 *
 * Items are copied into the response as the store holds them (their JSON
 * text already carries the resourceVersion), so a list costs one pass over
 * the rows and no re-serialization; an object is parsed only when a selector
 * needs to look inside it. A fieldSelector spec.nodeName=X on pods is served
 * from the store's node index instead of a scan. Watches are in watch.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver/api_int.h"
#include "apiserver/filter.h"
#include "common/errors.h"
#include "common/jsonutil.h"

struct buf {
    char *p;
    size_t len, cap;
    bool oom;
};

static void buf_add(struct buf *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) { b->oom = true; return; }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void buf_str(struct buf *b, const char *s) { buf_add(b, s, strlen(s)); }

struct list_ctx {
    struct api_filter *filter;
    struct buf out;
    size_t matched, limit;
    char cont_ns[API_NAME_MAX + 1], cont_name[API_NAME_MAX + 1];
    bool more;
};

static int on_item(void *data, const char *ns, const char *name, uint64_t rev,
                   const char *json, size_t len)
{
    struct list_ctx *lc = data;
    (void)rev;
    if (!api_filter_match(lc->filter, json, len)) return 0;
    if (lc->limit && lc->matched == lc->limit) { lc->more = true; return 1; }
    if (lc->matched++) buf_add(&lc->out, ",", 1);
    buf_add(&lc->out, json, len);
    snprintf(lc->cont_ns, sizeof lc->cont_ns, "%s", ns);
    snprintf(lc->cont_name, sizeof lc->cont_name, "%s", name);
    return lc->out.oom;
}

static void list_now(struct api_call *call)
{
    struct api_route *rt = &call->route;
    struct api_filter f;
    char err[512], lim[32], cont[2 * API_NAME_MAX + 4];
    if (api_filter_init(&f, call->req, rt, err, sizeof err)) {
        api_fail(call, BE_INVAL, "%s", err);
        return;
    }
    struct list_ctx lc = {.filter = &f};
    if (http_req_query(call->req, "limit", lim, sizeof lim) && lim[0]) {
        char *end;
        long long v = strtoll(lim, &end, 10);
        if (*end || v < 0) { api_filter_free(&f); api_fail(call, BE_INVAL, "invalid limit %s", lim); return; }
        lc.limit = (size_t)v;
    }
    struct store_list_opts opts = {.ns = rt->all_namespaces || !rt->kind->namespaced ? NULL : rt->ns,
                                   .node = f.node};
    char *slash = NULL;
    if (http_req_query(call->req, "continue", cont, sizeof cont) && cont[0]) {
        slash = strchr(cont, '/');
        if (!slash) { api_filter_free(&f); api_fail(call, BE_INVAL, "invalid continue token"); return; }
        *slash = 0;
        opts.after_ns = cont;
        opts.after_name = slash + 1;
    }
    char av[96], head[256];
    kind_api_version(rt->kind, av, sizeof av);
    snprintf(head, sizeof head, "{\"kind\":\"%sList\",\"apiVersion\":\"%s\",\"items\":[", rt->kind->kind, av);
    buf_str(&lc.out, head);
    uint64_t list_rev = 0;
    int rc = store_list(call->api->store, rt->kind->resource, &opts, on_item, &lc, &list_rev);
    api_filter_free(&f);
    if (rc || lc.out.oom) {
        free(lc.out.p);
        api_fail(call, rc ? rc : BE_NOMEM, "list failed: %s", be_strerror(rc ? rc : BE_NOMEM));
        return;
    }
    char tail[2 * API_NAME_MAX + 128];
    if (lc.more)
        snprintf(tail, sizeof tail, "],\"metadata\":{\"resourceVersion\":\"%llu\",\"continue\":\"%s/%s\"}}",
                 (unsigned long long)list_rev, lc.cont_ns, lc.cont_name);
    else
        snprintf(tail, sizeof tail, "],\"metadata\":{\"resourceVersion\":\"%llu\"}}",
                 (unsigned long long)list_rev);
    buf_str(&lc.out, tail);
    if (lc.out.oom) { free(lc.out.p); api_fail(call, BE_NOMEM, "out of memory"); return; }
    api_reply_json(call, 200, lc.out.p, lc.out.len);
}

void api_handle_list(struct api_call *call)
{
    api_consistent_read(call, list_now);
}
