/* watch.c: GET on a collection with ?watch=1: a chunked stream of
 * newline-delimited {"type":...,"object":...} events.
 *
 * With resourceVersion unset or "0" the stream opens with an ADDED event for
 * every current object, then carries on from the revision of that list; with
 * resourceVersion=R it replays every change after R from the store's window
 * (410 Gone if R has been compacted away) and carries on. Events arrive from
 * the store at apply time; until the 200 header has been written they are
 * held in a small buffer so nothing is lost between the list and the watch.
 * A watcher whose client does not read is cut off by the HTTP layer's
 * pending-bytes limit (never blocking apply); timeoutSeconds ends a watch
 * cleanly; allowWatchBookmarks adds a BOOKMARK with the current revision
 * every few seconds. With a label or field selector, an update that moves an
 * object into the selection arrives as ADDED and out of it as DELETED, as in
 * Kubernetes (the store keeps the previous object of updates while such a
 * watch is open; a change applied before it opened, replayed from the
 * window, is judged by its new state alone). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver/api_int.h"
#include "apiserver/filter.h"
#include "common/errors.h"
#include "common/log.h"

#define BOOKMARK_INTERVAL_MS 5000
#define DEFAULT_TIMEOUT_S 1800

struct api_watch {
    api_server_t *api;
    struct api_call *call;
    store_watch_t *sw;
    struct api_filter filter;
    uv_timer_t timeout_timer, bookmark_timer;
    int open_handles;
    bool streaming;     /* 200 header sent */
    bool ended;
    char *held;         /* events before streaming started */
    size_t held_len, held_cap;
    bool held_oom;
    char kind[64], api_version[96];
    struct api_watch *next, **pprev;
};

static void watch_end(struct api_watch *w);

static void emit(struct api_watch *w, const char *type, const char *json, size_t len)
{
    if (w->ended) return;
    size_t tl = strlen(type);
    size_t need = len + tl + 32;
    if (!w->streaming) {
        if (w->held_len + need > w->held_cap) {
            size_t cap = w->held_cap ? w->held_cap * 2 : 8192;
            while (cap < w->held_len + need) cap *= 2;
            char *p = realloc(w->held, cap);
            if (!p) { w->held_oom = true; return; }
            w->held = p;
            w->held_cap = cap;
        }
        w->held_len += (size_t)sprintf(w->held + w->held_len, "{\"type\":\"%s\",\"object\":", type);
        memcpy(w->held + w->held_len, json, len);
        w->held_len += len;
        memcpy(w->held + w->held_len, "}\n", 2);
        w->held_len += 2;
        return;
    }
    char *line = malloc(need);
    if (!line) { watch_end(w); return; }
    size_t n = (size_t)sprintf(line, "{\"type\":\"%s\",\"object\":", type);
    memcpy(line + n, json, len);
    memcpy(line + n + len, "}\n", 2);
    int rc = http_stream_write(w->call->req, line, n + len + 2);
    free(line);
    if (rc) watch_end(w);
}

static void on_store_event(void *data, const struct store_event *ev)
{
    struct api_watch *w = data;
    static const char *names[] = {"", "ADDED", "MODIFIED", "DELETED"};
    if (ev->type == STORE_EV_CLOSED) { watch_end(w); return; }
    if (ev->type < STORE_EV_ADDED || ev->type > STORE_EV_DELETED) return;
    if (ev->type == STORE_EV_MODIFIED && ev->prev_json) {
        /* as Kubernetes: an update that moves the object into the
         * selection is ADDED, out of it DELETED (sent with the object as
         * it is now, which carries the new resourceVersion) */
        bool was = api_filter_match(&w->filter, ev->prev_json, ev->prev_json_len);
        bool is = api_filter_match(&w->filter, ev->json, ev->json_len);
        if (was || is) emit(w, is ? (was ? "MODIFIED" : "ADDED") : "DELETED", ev->json, ev->json_len);
        return;
    }
    if (!api_filter_match(&w->filter, ev->json, ev->json_len)) return;
    emit(w, names[ev->type], ev->json, ev->json_len);
}

static int on_initial_item(void *data, const char *ns, const char *name, uint64_t rev,
                           const char *json, size_t len)
{
    struct api_watch *w = data;
    (void)ns, (void)name, (void)rev;
    if (api_filter_match(&w->filter, json, len)) emit(w, "ADDED", json, len);
    return w->held_oom;
}

static void on_timer_closed(uv_handle_t *h)
{
    struct api_watch *w = h->data;
    if (--w->open_handles == 0) {
        free(w->held);
        free(w);
    }
}

static void watch_end(struct api_watch *w)
{
    if (w->ended) return;
    w->ended = true;
    if (w->sw) store_watch_stop(w->sw);
    w->sw = NULL;
    api_filter_free(&w->filter);
    if (w->pprev) {
        *w->pprev = w->next;
        if (w->next) w->next->pprev = w->pprev;
        w->api->watchers--;
    }
    struct api_call *call = w->call;
    if (w->streaming) {
        http_stream_end(call->req);
        api_call_finish(call, 200);
    }
    uv_close((uv_handle_t *)&w->timeout_timer, on_timer_closed);
    uv_close((uv_handle_t *)&w->bookmark_timer, on_timer_closed);
}

static void on_abort(void *data) { watch_end(data); }

static void on_timeout(uv_timer_t *t) { watch_end(t->data); }

static void on_bookmark(uv_timer_t *t)
{
    struct api_watch *w = t->data;
    char obj[256];
    int n = snprintf(obj, sizeof obj, "{\"kind\":\"%s\",\"apiVersion\":\"%s\",\"metadata\":{\"resourceVersion\":\"%llu\"}}",
                     w->kind, w->api_version, (unsigned long long)store_revision(w->api->store));
    emit(w, "BOOKMARK", obj, (size_t)n);
}

static bool parse_rv(struct api_call *call, uint64_t *rv, bool *initial)
{
    char text[32];
    *initial = true;
    *rv = 0;
    if (!http_req_query(call->req, "resourceVersion", text, sizeof text) || !text[0] ||
        !strcmp(text, "0"))
        return true;
    char *end;
    unsigned long long v = strtoull(text, &end, 10);
    if (*end) return false;
    *rv = v;
    *initial = false;
    return true;
}

void api_handle_watch(struct api_call *call)
{
    struct api_route *rt = &call->route;
    char err[512], text[32];
    uint64_t from = 0;
    bool initial;
    if (!parse_rv(call, &from, &initial)) { api_fail(call, BE_INVAL, "invalid resourceVersion"); return; }
    long timeout_s = DEFAULT_TIMEOUT_S;
    if (http_req_query(call->req, "timeoutSeconds", text, sizeof text) && text[0]) {
        char *end;
        timeout_s = strtol(text, &end, 10);
        if (*end || timeout_s < 0) { api_fail(call, BE_INVAL, "invalid timeoutSeconds"); return; }
        if (timeout_s == 0) timeout_s = DEFAULT_TIMEOUT_S;
    }
    struct api_watch *w = calloc(1, sizeof *w);
    if (!w) { api_fail(call, BE_NOMEM, "out of memory"); return; }
    w->api = call->api;
    w->call = call;
    snprintf(w->kind, sizeof w->kind, "%s", rt->kind->kind);
    kind_api_version(rt->kind, w->api_version, sizeof w->api_version);
    if (api_filter_init(&w->filter, call->req, rt, err, sizeof err)) {
        free(w);
        api_fail(call, BE_INVAL, "%s", err);
        return;
    }
    const char *ns = rt->all_namespaces || !rt->kind->namespaced ? NULL : rt->ns;
    if (initial) {
        struct store_list_opts lo = {.ns = ns, .node = w->filter.node};
        store_list(call->api->store, rt->kind->resource, &lo, on_initial_item, w, &from);
    }
    struct store_watch_opts wo = {.resource = rt->kind->resource, .ns = ns,
                                  .node = w->filter.node, .from_rev = from,
                                  .want_prev = api_filter_needs_prev(&w->filter)};
    int rc = w->held_oom ? BE_NOMEM : store_watch_start(call->api->store, &wo, on_store_event, w, &w->sw);
    if (rc || w->held_oom) {
        if (w->sw) store_watch_stop(w->sw);
        api_filter_free(&w->filter);
        free(w->held);
        free(w);
        if (rc == BE_GONE)
            api_fail(call, rc, "too old resource version: %llu (compacted)", (unsigned long long)from);
        else
            api_fail(call, rc ? rc : BE_NOMEM, "cannot watch: %s", be_strerror(rc ? rc : BE_NOMEM));
        return;
    }
    uv_timer_init(call->api->loop, &w->timeout_timer);
    uv_timer_init(call->api->loop, &w->bookmark_timer);
    w->timeout_timer.data = w->bookmark_timer.data = w;
    w->open_handles = 2;
    uv_timer_start(&w->timeout_timer, on_timeout, (uint64_t)timeout_s * 1000, 0);
    if (http_req_query(call->req, "allowWatchBookmarks", text, sizeof text) &&
        (!strcmp(text, "true") || !strcmp(text, "1")))
        uv_timer_start(&w->bookmark_timer, on_bookmark, BOOKMARK_INTERVAL_MS, BOOKMARK_INTERVAL_MS);
    w->next = call->api->watches;
    if (w->next) w->next->pprev = &w->next;
    w->pprev = &call->api->watches;
    call->api->watches = w;
    call->api->watchers++;
    http_stream_begin(call->req, 200, "application/json", on_abort, w);
    w->streaming = true;
    if (w->held_len && http_stream_write(call->req, w->held, w->held_len)) watch_end(w);
    free(w->held);
    w->held = NULL;
    w->held_len = w->held_cap = 0;
}

void api_watch_abort_all(api_server_t *api)
{
    while (api->watches) watch_end(api->watches);
}
