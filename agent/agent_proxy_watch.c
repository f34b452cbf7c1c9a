/* agent_proxy_watch.c: the Service proxy's view of the cluster: a list and
 * then a watch (from the list's resourceVersion, with bookmarks) of every
 * Service and every Endpoints object, all namespaces. Each change goes to
 * the proxy's caches and the listener table is rebuilt once per received
 * chunk. A 410 Gone (status or ERROR event) means list again; the list
 * replaces the cache, so objects deleted while the watch was down go too.
 * A broken watch resumes from the last revision seen after a back-off (0.5 s
 * doubling to 8 s), on the next API server when this one is unreachable,
 * as the agent's pod watch does. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/agent_proxy_int.h"
#include "common/errors.h"
#include "common/jsonutil.h"
#include "common/log.h"

#define WATCH_IDLE_MS 60000

static void list_objects(struct px_watch *w);
static void watch_open(struct px_watch *w);

static void on_timer(uv_timer_t *t)
{
    struct px_watch *w = t->data;
    if (w->need_relist) list_objects(w);
    else watch_open(w);
}

static void retry_later(struct px_watch *w, bool failover)
{
    struct agent *a = w->px->a;
    if (w->px->stopping) return;
    if (failover && a->cfg.nservers > 1) a->cur = (a->cur + 1) % a->cfg.nservers;
    w->delay_ms = w->delay_ms ? w->delay_ms * 2 : 500;
    if (w->delay_ms > 8000) w->delay_ms = 8000;
    uv_timer_start(&w->timer, on_timer, w->delay_ms, 0);
}

static void note_rv(struct px_watch *w, const json_t *obj)
{
    const char *rv = json_path_str(obj, "metadata.resourceVersion");
    if (rv && rv[0]) snprintf(w->rv, sizeof w->rv, "%s", rv);
}

static void apply_list(struct px_watch *w, json_t *items)
{
    struct agent_proxy *px = w->px;
    json_t *cache = !strcmp(w->resource, "services") ? px->services : px->endpoints;
    json_t *fresh = json_object();
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it) {
        const char *ns = json_path_str(it, "metadata.namespace"), *name = json_path_str(it, "metadata.name");
        if (!ns || !name) continue;
        char key[400];
        snprintf(key, sizeof key, "%s/%s", ns, name);
        json_object_set(fresh, key, it);
    }
    json_object_clear(cache);
    json_object_update(cache, fresh);
    json_decref(fresh);
}

static void on_list(void *data, int rc, int status, const char *body, size_t len)
{
    struct px_watch *w = data;
    struct agent_proxy *px = w->px;
    w->list_inflight = false;
    if (!px->stopping) {
        json_t *doc = rc == 0 && status == 200 ? json_loadb(body, len, 0, NULL) : NULL;
        json_t *items = json_object_get(doc, "items");
        if (!json_is_array(items)) {
            if (rc < 0) log_warn(AGENT_COMP, "service proxy: listing %s: %.*s", w->resource, (int)len, body);
            else log_warn(AGENT_COMP, "service proxy: listing %s: HTTP %d", w->resource, status);
            retry_later(w, false);
        } else {
            apply_list(w, items);
            note_rv(w, doc);
            w->need_relist = false;
            w->delay_ms = 0;
            px_rebuild(px);
            watch_open(w);
        }
        json_decref(doc);
    }
    px_unref(px);
}

static void list_objects(struct px_watch *w)
{
    struct agent_proxy *px = w->px;
    if (w->list_inflight || px->stopping) return;
    char path[128];
    snprintf(path, sizeof path, "/api/v1/%s", w->resource);
    w->list_inflight = true;
    px_ref(px);
    if (px->a->api(px->a, "GET", path, NULL, NULL, 0, on_list, w) < 0) {
        w->list_inflight = false;
        px_unref(px);
        retry_later(w, false);
    }
}

/* Applies one event line; returns whether the cache changed. */
static bool watch_event(struct px_watch *w, const char *line, size_t len)
{
    json_t *ev = json_loadb(line, len, 0, NULL);
    const char *type = json_string_value(json_object_get(ev, "type"));
    json_t *obj = json_object_get(ev, "object");
    bool changed = false;
    if (!type || !json_is_object(obj)) {
        log_warn(AGENT_COMP, "service proxy: bad watch event ignored");
    } else if (!strcmp(type, "ERROR")) {
        log_info(AGENT_COMP, "service proxy: %s watch error %lld: relisting", w->resource,
                 (long long)json_integer_value(json_object_get(obj, "code")));
        w->need_relist = true;
    } else {
        note_rv(w, obj);
        if (!strcmp(type, "ADDED") || !strcmp(type, "MODIFIED") || !strcmp(type, "DELETED"))
            changed = px_cache_apply(w->px, w->resource, type, obj) != 0;
    }
    json_decref(ev);
    return changed;
}

static int on_data(void *data, const char *buf, size_t len)
{
    struct px_watch *w = data;
    if (w->len + len > w->cap) {
        size_t cap = w->cap ? w->cap : 8192;
        while (cap < w->len + len) cap *= 2;
        char *nb = realloc(w->buf, cap);
        if (!nb) return 1;
        w->buf = nb;
        w->cap = cap;
    }
    memcpy(w->buf + w->len, buf, len);
    w->len += len;
    size_t start = 0;
    bool changed = false;
    for (size_t i = 0; i < w->len && !w->need_relist; i++) {
        if (w->buf[i] != '\n') continue;
        if (i > start && watch_event(w, w->buf + start, i - start)) changed = true;
        start = i + 1;
    }
    memmove(w->buf, w->buf + start, w->len - start);
    w->len -= start;
    w->delay_ms = 0;
    if (changed) px_rebuild(w->px);
    return w->need_relist ? 1 : 0;
}

static void on_end(void *data, int rc, int status, const char *body, size_t len)
{
    struct px_watch *w = data;
    struct agent_proxy *px = w->px;
    w->stream = NULL;
    w->len = 0;
    if (!px->stopping) {
        if (rc == 0 && status == 410) w->need_relist = true;
        if (w->need_relist) list_objects(w);
        else if (rc == 0 && status == 200) uv_timer_start(&w->timer, on_timer, 100, 0);
        else {
            if (rc != BE_SHUTDOWN)
                log_warn(AGENT_COMP, "service proxy: %s watch ended: %s", w->resource,
                         rc < 0 ? body : status >= 500 ? "server error" : "rejected");
            retry_later(w, rc == BE_UNAVAIL || rc == BE_TIMEOUT);
        }
    }
    px_unref(px);
}

static void watch_open(struct px_watch *w)
{
    struct agent_proxy *px = w->px;
    struct agent *a = px->a;
    if (px->stopping || w->stream) return;
    char path[256];
    snprintf(path, sizeof path, "/api/v1/%s?watch=1&resourceVersion=%s&allowWatchBookmarks=true",
             w->resource, w->rv[0] ? w->rv : "0");
    struct uvhttp_stream_opts o = {.path = path, .idle_timeout_ms = WATCH_IDLE_MS, .on_data = on_data,
                                   .on_end = on_end, .data = w};
    px_ref(px);
    if (uvhttp_stream(a->clients[a->cur], &o, &w->stream) < 0) {
        w->stream = NULL;
        px_unref(px);
        retry_later(w, false);
    }
}

static void on_timer_closed(uv_handle_t *h)
{
    struct px_watch *w = h->data;
    px_unref(w->px);
}

void px_watch_start(struct agent_proxy *px)
{
    static const char *const res[2] = {"services", "endpoints"};
    for (int i = 0; i < 2; i++) {
        struct px_watch *w = &px->watches[i];
        w->px = px;
        w->resource = res[i];
        if (px->a->cfg.nservers == 0) continue;
        uv_timer_init(px->a->loop, &w->timer);
        w->timer.data = w;
        w->timer_open = true;
        px_ref(px);
        list_objects(w);
    }
}

void px_watch_stop(struct agent_proxy *px)
{
    for (int i = 0; i < 2; i++) {
        struct px_watch *w = &px->watches[i];
        if (w->stream) {
            uvhttp_stream_t *s = w->stream;
            w->stream = NULL;
            uvhttp_stream_cancel(s);
        }
        if (w->timer_open) {
            w->timer_open = false;
            uv_close((uv_handle_t *)&w->timer, on_timer_closed);
        }
    }
}

void px_watch_free(struct agent_proxy *px)
{
    for (int i = 0; i < 2; i++) {
        free(px->watches[i].buf);
        px->watches[i].buf = NULL;
    }
}
