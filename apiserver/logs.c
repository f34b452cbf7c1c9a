/* logs.c: GET /api/v1/namespaces/NS/pods/NAME/log, proxied to the agent of
 * the pod's node.
 *
 * The pod names its node (spec.nodeName); the Node names the agent's
 * endpoint (status.addresses InternalIP, daemonEndpoints.kubeletEndpoint.Port).
 * The request goes there as GET /logs/NS/POD/CONTAINER?follow=&tailLines=
 * through the asynchronous client (common/uvhttp.h), and the agent's body is
 * streamed back to the client chunk by chunk as it arrives, so `logs -f`
 * follows for as long as either side wants. An agent error before the first
 * byte is passed on with its status; an unreachable agent is a 503. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver/api_int.h"
#include "common/errors.h"
#include "common/jsonutil.h"
#include "common/uvhttp.h"

struct log_proxy {
    struct api_call *call;   /* freed once answered: do not use after */
    uv_loop_t *loop;
    uvhttp_t *client;
    uvhttp_stream_t *stream;
    uv_timer_t defer;   /* closes the client outside its own callbacks */
    bool started, ended;
};

static void proxy_free(void *data) { free(data); }

static void on_defer_closed(uv_handle_t *h)
{
    struct log_proxy *p = h->data;
    uvhttp_close(p->client, proxy_free, p);
}

static void on_defer(uv_timer_t *t) { uv_close((uv_handle_t *)t, on_defer_closed); }

/* The client is closed on the next loop turn: on_end runs inside the
 * client's own bookkeeping, where closing it is not safe. */
static void proxy_done(struct log_proxy *p)
{
    if (p->ended) return;
    p->ended = true;
    uv_timer_init(p->loop, &p->defer);
    p->defer.data = p;
    uv_timer_start(&p->defer, on_defer, 0, 0);
}

static void on_client_gone(void *data)
{
    struct log_proxy *p = data;
    if (p->stream) uvhttp_stream_cancel(p->stream);
}

static int on_data(void *data, const char *buf, size_t len)
{
    struct log_proxy *p = data;
    if (!p->started) {
        p->started = true;
        http_stream_begin(p->call->req, 200, "text/plain; charset=utf-8", on_client_gone, p);
    }
    return http_stream_write(p->call->req, buf, len) ? 1 : 0;
}

static void on_end(void *data, int rc, int status, const char *body, size_t len)
{
    struct log_proxy *p = data;
    struct api_call *call = p->call;
    p->stream = NULL;
    if (p->ended) return;
    if (p->started) {
        http_stream_end(call->req);
        api_call_finish(call, 200);
    } else if (rc) {
        api_fail(call, BE_UNAVAIL, "cannot reach the node agent for pod %s: %s", call->route.name, body);
    } else if (status >= 200 && status < 300) {
        http_respond(call->req, 200, "text/plain; charset=utf-8", "", 0, NULL);
        api_call_finish(call, 200);
    } else {
        http_respond(call->req, status, "application/json", body, len, NULL);
        api_call_finish(call, status);
    }
    proxy_done(p);
}

/* Finds http://IP:PORT of the node's agent into buf. */
static int agent_url(store_t *store, const char *node, char *buf, size_t len)
{
    char *text = NULL;
    size_t tlen = 0;
    if (store_get(store, "nodes", "", node, &text, &tlen, NULL)) return BE_NOTFOUND;
    json_t *n = json_loadb(text, tlen, 0, NULL);
    free(text);
    const char *ip = NULL;
    int64_t port = 0;
    json_t *addrs = json_path(n, "status.addresses"), *a;
    size_t i;
    json_array_foreach(addrs, i, a) {
        const char *type = json_path_str(a, "type");
        if (type && !strcmp(type, "InternalIP")) ip = json_path_str(a, "address");
    }
    json_path_int(n, "status.daemonEndpoints.kubeletEndpoint.Port", &port);
    int rc = ip && port > 0 && port < 65536 ? 0 : BE_UNAVAIL;
    if (!rc) snprintf(buf, len, "http://%s:%lld", ip, (long long)port);
    json_decref(n);
    return rc;
}

static void pod_log_now(struct api_call *call)
{
    struct api_route *rt = &call->route;
    char *text = NULL, container[128] = "", follow[8] = "", tail[24] = "", url[300], path[1024];
    size_t tlen = 0;
    if (store_get(call->api->store, "pods", rt->ns, rt->name, &text, &tlen, NULL)) {
        api_fail(call, BE_NOTFOUND, "pods \"%s\" not found", rt->name);
        return;
    }
    json_t *pod = json_loadb(text, tlen, 0, NULL);
    free(text);
    const char *node = json_path_str(pod, "spec.nodeName");
    http_req_query(call->req, "container", container, sizeof container);
    if (!container[0]) {
        const char *first = json_path_str(json_array_get(json_path(pod, "spec.containers"), 0), "name");
        snprintf(container, sizeof container, "%s", first ? first : "");
    }
    bool known = false;
    size_t i;
    json_t *c;
    json_array_foreach(json_path(pod, "spec.containers"), i, c) {
        const char *name = json_path_str(c, "name");
        if (name && !strcmp(name, container)) known = true;
    }
    char nodebuf[API_NAME_MAX + 1];
    snprintf(nodebuf, sizeof nodebuf, "%s", node ? node : "");
    json_decref(pod);
    if (!known) {
        api_fail(call, BE_INVAL, "container %s is not valid for pod %s", container, rt->name);
        return;
    }
    if (!nodebuf[0]) {
        api_fail(call, BE_INVAL, "pod %s has not been scheduled to a node yet", rt->name);
        return;
    }
    if (agent_url(call->api->store, nodebuf, url, sizeof url)) {
        api_fail(call, BE_UNAVAIL, "node %s has no reachable agent endpoint", nodebuf);
        return;
    }
    http_req_query(call->req, "follow", follow, sizeof follow);
    http_req_query(call->req, "tailLines", tail, sizeof tail);
    for (char *t = tail; *t; t++)
        if (*t < '0' || *t > '9') { api_fail(call, BE_INVAL, "invalid tailLines"); return; }
    snprintf(path, sizeof path, "/logs/%s/%s/%s?follow=%s%s%s", rt->ns, rt->name, container,
             !strcmp(follow, "true") || !strcmp(follow, "1") ? "true" : "false",
             tail[0] ? "&tailLines=" : "", tail);
    struct log_proxy *p = calloc(1, sizeof *p);
    char err[256];
    if (!p || uvhttp_new(call->api->loop, url, NULL, &p->client, err, sizeof err)) {
        free(p);
        api_fail(call, BE_UNAVAIL, "cannot reach the node agent at %s", url);
        return;
    }
    p->call = call;
    p->loop = call->api->loop;
    struct uvhttp_stream_opts so = {.path = path, .on_data = on_data, .on_end = on_end, .data = p};
    if (uvhttp_stream(p->client, &so, &p->stream)) {
        uvhttp_close(p->client, proxy_free, p);
        api_fail(call, BE_UNAVAIL, "cannot reach the node agent at %s", url);
    }
}

void api_handle_pod_log(struct api_call *call)
{
    if (strcmp(call->req->method, "GET")) {
        api_fail(call, BE_METHOD, "method %s is not allowed on pods/log", call->req->method);
        return;
    }
    pod_log_now(call);
}
