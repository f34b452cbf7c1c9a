/* status.c: how the API server answers: Kubernetes Status objects for
 * errors, JSON bodies for success, and the bookkeeping (metrics, freeing the
 * per-request context) every answer goes through. */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apiserver/api_int.h"
#include "common/errors.h"

uint64_t api_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void api_object_desc(const struct api_route *rt, char *buf, size_t len)
{
    if (!rt || !rt->kind) { snprintf(buf, len, "object"); return; }
    if (rt->kind->group[0])
        snprintf(buf, len, "%s.%s \"%s\"", rt->kind->resource, rt->kind->group, rt->name);
    else
        snprintf(buf, len, "%s \"%s\"", rt->kind->resource, rt->name);
}

char *api_status_json(int code, const char *reason, const char *message,
                      const struct api_route *rt, size_t *len)
{
    json_t *st = json_pack("{s:s, s:s, s:{}, s:s, s:s, s:s, s:i}", "kind", "Status",
                           "apiVersion", "v1", "metadata", "status",
                           code < 400 ? "Success" : "Failure", "message", message,
                           "reason", reason, "code", code);
    if (!st) return NULL;
    if (rt && rt->kind) {
        json_t *d = json_pack("{s:s, s:s}", "kind", rt->kind->resource, "group", rt->kind->group);
        if (d && rt->name[0]) json_object_set_new(d, "name", json_string(rt->name));
        if (d) json_object_set_new(st, "details", d);
    }
    char *out = json_dumps(st, JSON_COMPACT);
    json_decref(st);
    if (out && len) *len = strlen(out);
    return out;
}

void api_call_finish(struct api_call *call, int status)
{
    api_server_t *api = call->api;
    double secs = (double)(api_now_ns() - call->start_ns) / 1e9;
    api_metrics_observe(api, call->verb, status, secs);
    json_decref(call->body);
    free(call->text);
    free(call->warnings);
    free(call);
    assert(api->calls > 0);
    if (--api->calls == 0 && api->stopped)
        free(api); /* the store failed the last proposal after the API stopped */
    else if (api->draining)
        api_drain_check(api);
}

void api_reply_json(struct api_call *call, int status, char *body, size_t len)
{
    if (call->warnings && status < 300) {
        http_respond(call->req, status, "application/json", body, len, call->warnings);
        free(body);
    } else {
        http_respond_take(call->req, status, "application/json", body, len);
    }
    api_call_finish(call, status);
}

void api_fail(struct api_call *call, int rc, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int code = be_http_code(rc);
    size_t len = 0;
    char *body = api_status_json(code, be_reason(rc), msg, &call->route, &len);
    if (!body) {
        http_respond(call->req, 500, "text/plain", "out of memory\n", 14, NULL);
        api_call_finish(call, 500);
        return;
    }
    api_reply_json(call, code, body, len);
}

#define META_PREFIX "{\"metadata\":{"

void api_reply_stored(struct api_call *call, int status, uint64_t rev)
{
    const size_t plen = sizeof META_PREFIX - 1;
    char rv[48];
    int rvlen = snprintf(rv, sizeof rv, "\"resourceVersion\":\"%llu\",", (unsigned long long)rev);
    if (!call->text || call->text_len < plen || memcmp(call->text, META_PREFIX, plen)) {
        api_fail(call, BE_INTERNAL, "the stored object has an unexpected layout");
        return;
    }
    if (call->warnings) { /* rare: the copying path that carries headers */
        size_t len = 0;
        char *out = api_splice_rv(call->text, call->text_len, rev, &len);
        if (!out) { api_fail(call, BE_NOMEM, "out of memory"); return; }
        api_reply_json(call, status, out, len);
        return;
    }
    char *text = call->text;
    call->text = NULL;
    http_respond_take_ins(call->req, status, "application/json", text, call->text_len,
                          plen, rv, (size_t)rvlen);
    api_call_finish(call, status);
}

char *api_splice_rv(const char *text, size_t len, uint64_t rev, size_t *out_len)
{
    static const char prefix[] = "{\"metadata\":{";
    const size_t plen = sizeof prefix - 1;
    char rv[48];
    int rvlen = snprintf(rv, sizeof rv, "\"resourceVersion\":\"%llu\",", (unsigned long long)rev);
    if (len < plen || memcmp(text, prefix, plen)) return NULL;
    char *out = malloc(len + (size_t)rvlen + 1);
    if (!out) return NULL;
    memcpy(out, text, plen);
    memcpy(out + plen, rv, (size_t)rvlen);
    memcpy(out + plen + rvlen, text + plen, len - plen);
    out[len + (size_t)rvlen] = 0;
    if (out_len) *out_len = len + (size_t)rvlen;
    return out;
}
