/* agent_proxy.c: the agent's Service proxy (see agent_proxy.h): backend
 * pools, NodePort listeners and the byte pipes. The Service and Endpoints
 * watches are in agent_proxy_watch.c; they hand every change to
 * agent_proxy_apply(), which updates the caches and rebuilds the listener
 * table.
 *
 * A connection is two TCP handles (client, backend) and a connect timer.
 * The client is not read until the backend is connected. Each read is
 * written to the other side; when a side's write queue passes HIGH_WATER
 * bytes the side feeding it stops reading until the queue drains below
 * LOW_WATER. EOF on one side shuts down writing on the other (after its
 * queued writes); once both directions are shut, or on any error, both
 * handles close, and the connection is freed when the last close callback
 * has run. Memory is freed only in close callbacks (libuv's rule). */
#define _GNU_SOURCE
#include "agent/agent_proxy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/agent_proxy_int.h"
#include "common/errors.h"
#include "common/jsonutil.h"
#include "common/log.h"

#define READ_CHUNK 65536
#define HIGH_WATER (256 * 1024)
#define LOW_WATER (64 * 1024)
#define CONNECT_TIMEOUT_MS 3000
#define REBIND_MS 5000

/* ---- pools ------------------------------------------------------------- */

static bool same_port_name(const json_t *a, const json_t *b)
{
    const char *x = json_string_value(json_object_get(a, "name"));
    const char *y = json_string_value(json_object_get(b, "name"));
    return !strcmp(x ? x : "", y ? y : "");
}

int proxy_pool_build(struct proxy_pool *out, const json_t *sport, const json_t *endpoints,
                     const struct proxy_pool *old)
{
    memset(out, 0, sizeof *out);
    size_t cap = 0, i, j, k;
    json_t *sub, *port, *addr;
    json_array_foreach(json_object_get(endpoints, "subsets"), i, sub)
        cap += json_array_size(json_object_get(sub, "addresses"));
    if (!cap) return 0;
    if (!(out->v = calloc(cap, sizeof *out->v))) return BE_NOMEM;
    json_array_foreach(json_object_get(endpoints, "subsets"), i, sub) {
        int pnum = 0;
        json_array_foreach(json_object_get(sub, "ports"), j, port)
            if (same_port_name(port, sport)) pnum = (int)json_integer_value(json_object_get(port, "port"));
        if (pnum <= 0 || pnum > 65535) continue;
        json_array_foreach(json_object_get(sub, "addresses"), k, addr) {
            const char *ip = json_string_value(json_object_get(addr, "ip"));
            if (!ip || !ip[0] || strlen(ip) >= sizeof out->v[0].ip) continue;
            struct proxy_backend *b = &out->v[out->n++];
            snprintf(b->ip, sizeof b->ip, "%s", ip);
            b->port = pnum;
            for (size_t o = 0; old && o < old->n; o++)
                if (old->v[o].port == pnum && !strcmp(old->v[o].ip, ip))
                    b->bad_until_ms = old->v[o].bad_until_ms;
        }
    }
    if (old && out->n) out->next = old->next % out->n;
    return 0;
}

void proxy_pool_free(struct proxy_pool *p)
{
    free(p->v);
    memset(p, 0, sizeof *p);
}

int proxy_pool_pick(struct proxy_pool *p, int64_t now, const bool *tried)
{
    int fallback = -1;
    for (size_t k = 0; k < p->n; k++) {
        size_t i = (p->next + k) % p->n;
        if (tried && tried[i]) continue;
        if (p->v[i].bad_until_ms <= now) {
            p->next = (i + 1) % p->n;
            return (int)i;
        }
        if (fallback < 0 || p->v[i].bad_until_ms < p->v[fallback].bad_until_ms) fallback = (int)i;
    }
    if (fallback >= 0) p->next = ((size_t)fallback + 1) % p->n;
    return fallback;
}

void proxy_pool_mark_bad(struct proxy_pool *p, size_t i, int64_t now)
{
    if (i < p->n) p->v[i].bad_until_ms = now + PROXY_BAD_MS;
}

/* ---- the proxy's reference counting ------------------------------------ */

void px_ref(struct agent_proxy *px) { px->refs++; }

void px_unref(struct agent_proxy *px)
{
    if (--px->refs > 0) return;
    struct agent *a = px->a;
    px_watch_free(px);
    json_decref(px->services);
    json_decref(px->endpoints);
    a->proxy = NULL;
    free(px);
    agent_unref(a);
}

static void on_px_handle_closed(uv_handle_t *h) { px_unref(h->data); }

/* ---- connections ------------------------------------------------------- */

struct px_side {
    uv_tcp_t tcp;
    size_t queued;              /* bytes written to this side, not yet done */
    bool reading, eof, shut;
};

struct px_conn {
    struct px_conn *prev, *next;
    struct agent_proxy *px;
    int node_port;
    struct px_side cl, be;
    uv_timer_t timer;
    uv_connect_t creq;
    bool be_open, connected, closing, retrying;
    int open;                   /* handles not yet closed */
    unsigned gen;               /* the pool generation tried[] belongs to */
    bool *tried;
    size_t ntried;
    int cur;                    /* the backend being connected */
    char cur_ip[64];
    int cur_port;
};

struct px_wreq {
    uv_write_t req;
    struct px_conn *c;
    struct px_side *dst;
    char *buf;
    size_t n;
};

static struct px_listener *find_listener(struct agent_proxy *px, int node_port)
{
    for (struct px_listener *l = px->listeners; l; l = l->next)
        if (l->node_port == node_port) return l;
    return NULL;
}

static void conn_unlink_free(struct px_conn *c)
{
    struct agent_proxy *px = c->px;
    if (c->prev) c->prev->next = c->next;
    else px->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    free(c->tried);
    free(c);
    px_unref(px);
}

static void on_conn_handle_closed(uv_handle_t *h)
{
    struct px_conn *c = h->data;
    if (--c->open == 0) conn_unlink_free(c);
}

static void conn_close(struct px_conn *c)
{
    if (c->closing) return;
    c->closing = true;
    uv_close((uv_handle_t *)&c->cl.tcp, on_conn_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
    if (c->be_open && !c->retrying) uv_close((uv_handle_t *)&c->be.tcp, on_conn_handle_closed);
}

static struct px_side *other(struct px_conn *c, struct px_side *s) { return s == &c->cl ? &c->be : &c->cl; }

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    buf->base = malloc(READ_CHUNK);
    buf->len = buf->base ? READ_CHUNK : 0;
}

static void side_read(struct px_conn *c, struct px_side *s)
{
    if (s->reading || s->eof || c->closing) return;
    if (uv_read_start((uv_stream_t *)&s->tcp, alloc_cb, on_read) == 0) s->reading = true;
    else conn_close(c);
}

static void side_pause(struct px_side *s)
{
    if (!s->reading) return;
    uv_read_stop((uv_stream_t *)&s->tcp);
    s->reading = false;
}

static void on_write(uv_write_t *req, int status)
{
    struct px_wreq *w = (struct px_wreq *)req;
    struct px_conn *c = w->c;
    w->dst->queued -= w->n;
    free(w->buf);
    struct px_side *dst = w->dst;
    free(w);
    if (c->closing) return;
    if (status < 0) {
        conn_close(c);
        return;
    }
    if (dst->queued < LOW_WATER) side_read(c, other(c, dst));
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    struct px_conn *c = req->data;
    free(req);
    if (c->closing) return;
    if (status < 0 || (c->cl.shut && c->be.shut)) conn_close(c);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    struct px_conn *c = st->data;
    struct px_side *src = (uv_tcp_t *)st == &c->cl.tcp ? &c->cl : &c->be, *dst = other(c, src);
    if (nread <= 0) free(buf->base);
    if (nread == 0 || c->closing) {
        if (nread > 0) free(buf->base);
        return;
    }
    if (nread == UV_EOF) {
        side_pause(src);
        src->eof = true;
        uv_shutdown_t *sr = malloc(sizeof *sr);
        if (!sr) {
            conn_close(c);
            return;
        }
        sr->data = c;
        dst->shut = true;
        if (uv_shutdown(sr, (uv_stream_t *)&dst->tcp, on_shutdown) < 0) {
            free(sr);
            conn_close(c);
        }
        return;
    }
    if (nread < 0) {
        conn_close(c);
        return;
    }
    struct px_wreq *w = malloc(sizeof *w);
    if (!w) {
        free(buf->base);
        conn_close(c);
        return;
    }
    *w = (struct px_wreq){.c = c, .dst = dst, .buf = buf->base, .n = (size_t)nread};
    uv_buf_t out = uv_buf_init(buf->base, (unsigned)nread);
    if (uv_write(&w->req, (uv_stream_t *)&dst->tcp, &out, 1, on_write) < 0) {
        free(w->buf);
        free(w);
        conn_close(c);
        return;
    }
    dst->queued += (size_t)nread;
    if (dst->queued > HIGH_WATER) side_pause(src);
}

static void try_backend(struct px_conn *c);

/* The backend being tried failed: mark it bad and try the next one once
 * its handle is closed. */
static void on_be_closed_retry(uv_handle_t *h)
{
    struct px_conn *c = h->data;
    c->be_open = false;
    c->open--;
    c->retrying = false;
    if (c->closing) {
        if (c->open == 0) conn_unlink_free(c);
        return;
    }
    try_backend(c);
}

static void backend_failed(struct px_conn *c, const char *why)
{
    struct agent_proxy *px = c->px;
    struct px_listener *l = find_listener(px, c->node_port);
    log_info(AGENT_COMP, "service proxy :%d: endpoint %s:%d %s; marked bad for %d s", c->node_port,
             c->cur_ip, c->cur_port, why, PROXY_BAD_MS / 1000);
    px->stats.connect_failures++;
    if (l && c->cur >= 0 && (size_t)c->cur < l->pool.n && !strcmp(l->pool.v[c->cur].ip, c->cur_ip) &&
        l->pool.v[c->cur].port == c->cur_port)
        proxy_pool_mark_bad(&l->pool, (size_t)c->cur, agent_now_ms(px->a));
    uv_timer_stop(&c->timer);
    c->retrying = true;
    uv_close((uv_handle_t *)&c->be.tcp, on_be_closed_retry);
}

static void on_connect_timeout(uv_timer_t *t)
{
    struct px_conn *c = t->data;
    if (!c->closing && !c->connected && !c->retrying) backend_failed(c, "did not answer");
}

static void on_connect(uv_connect_t *req, int status)
{
    struct px_conn *c = req->data;
    if (status == UV_ECANCELED || c->closing || c->retrying) return;
    if (status < 0) {
        backend_failed(c, uv_strerror(status));
        return;
    }
    uv_timer_stop(&c->timer);
    c->connected = true;
    c->px->stats.forwarded++;
    uv_tcp_nodelay(&c->be.tcp, 1);
    side_read(c, &c->cl);
    side_read(c, &c->be);
}

static void try_backend(struct px_conn *c)
{
    struct agent_proxy *px = c->px;
    struct px_listener *l = find_listener(px, c->node_port);
    if (!l || !l->pool.n) {
        log_info(AGENT_COMP, "service proxy :%d: no ready endpoint; closing the connection", c->node_port);
        px->stats.no_backend++;
        conn_close(c);
        return;
    }
    if (c->gen != l->gen || c->ntried != l->pool.n) { /* the pool changed: start over */
        free(c->tried);
        c->tried = calloc(l->pool.n, sizeof *c->tried);
        c->ntried = c->tried ? l->pool.n : 0;
        c->gen = l->gen;
        if (!c->tried) {
            conn_close(c);
            return;
        }
    }
    int i = proxy_pool_pick(&l->pool, agent_now_ms(px->a), c->tried);
    if (i < 0) {
        log_info(AGENT_COMP, "service proxy :%d: every endpoint failed; closing the connection", c->node_port);
        px->stats.no_backend++;
        conn_close(c);
        return;
    }
    c->tried[i] = true;
    c->cur = i;
    snprintf(c->cur_ip, sizeof c->cur_ip, "%s", l->pool.v[i].ip);
    c->cur_port = l->pool.v[i].port;
    struct sockaddr_storage ss;
    if (uv_ip4_addr(c->cur_ip, c->cur_port, (struct sockaddr_in *)&ss) &&
        uv_ip6_addr(c->cur_ip, c->cur_port, (struct sockaddr_in6 *)&ss)) {
        proxy_pool_mark_bad(&l->pool, (size_t)i, agent_now_ms(px->a));
        try_backend(c); /* bounded: i is now tried */
        return;
    }
    uv_tcp_init(px->a->loop, &c->be.tcp);
    c->be.tcp.data = c;
    c->be_open = true;
    c->open++;
    c->creq.data = c;
    int rc = uv_tcp_connect(&c->creq, &c->be.tcp, (struct sockaddr *)&ss, on_connect);
    if (rc < 0) {
        backend_failed(c, uv_strerror(rc));
        return;
    }
    uv_timer_start(&c->timer, on_connect_timeout, CONNECT_TIMEOUT_MS, 0);
}

static void on_accept(uv_stream_t *srv, int status)
{
    struct px_listener *l = srv->data;
    struct agent_proxy *px = l->px;
    if (status < 0 || px->stopping) return;
    struct px_conn *c = calloc(1, sizeof *c);
    if (!c) return; /* the pending connection waits in the backlog */
    c->px = px;
    c->node_port = l->node_port;
    c->cur = -1;
    uv_tcp_init(px->a->loop, &c->cl.tcp);
    uv_timer_init(px->a->loop, &c->timer);
    c->cl.tcp.data = c->timer.data = c;
    c->open = 2;
    px_ref(px);
    c->next = px->conns;
    if (px->conns) px->conns->prev = c;
    px->conns = c;
    if (uv_accept(srv, (uv_stream_t *)&c->cl.tcp) < 0) {
        conn_close(c);
        return;
    }
    px->stats.accepted++;
    uv_tcp_nodelay(&c->cl.tcp, 1);
    try_backend(c);
}

/* ---- listeners ----------------------------------------------------------- */

static void on_tcp_freed(uv_handle_t *h)
{
    struct agent_proxy *px = h->data;
    free(h);
    px_unref(px);
}

static void listener_bind(struct agent_proxy *px, struct px_listener *l)
{
    const char *host = px->a->cfg.listen_host && px->a->cfg.listen_host[0] ? px->a->cfg.listen_host : "0.0.0.0";
    struct sockaddr_storage ss;
    if (uv_ip4_addr(host, l->node_port, (struct sockaddr_in *)&ss) &&
        uv_ip6_addr(host, l->node_port, (struct sockaddr_in6 *)&ss))
        uv_ip4_addr("0.0.0.0", l->node_port, (struct sockaddr_in *)&ss);
    uv_tcp_t *tcp = malloc(sizeof *tcp);
    if (!tcp) return;
    uv_tcp_init(px->a->loop, tcp);
    px_ref(px);
    tcp->data = l;
    int rc = uv_tcp_bind(tcp, (struct sockaddr *)&ss, 0);
    if (rc == 0) rc = uv_listen((uv_stream_t *)tcp, 511, on_accept);
    if (rc < 0) {
        if (!l->warned)
            log_warn(AGENT_COMP, "service %s: cannot listen on %s:%d: %s (retrying every %d s)", l->key,
                     host, l->node_port, uv_strerror(rc), REBIND_MS / 1000);
        l->warned = true;
        tcp->data = px;
        uv_close((uv_handle_t *)tcp, on_tcp_freed);
        return;
    }
    l->tcp = tcp;
    log_info(AGENT_COMP, "service %s: listening on %s:%d", l->key, host, l->node_port);
}

static void listener_close(struct agent_proxy *px, struct px_listener *l)
{
    for (struct px_listener **pp = &px->listeners; *pp; pp = &(*pp)->next)
        if (*pp == l) {
            *pp = l->next;
            break;
        }
    if (l->tcp) {
        log_info(AGENT_COMP, "service %s: closed node port %d", l->key, l->node_port);
        l->tcp->data = px;
        uv_close((uv_handle_t *)l->tcp, on_tcp_freed);
    }
    proxy_pool_free(&l->pool);
    free(l);
}

static void on_rebind(uv_timer_t *t)
{
    struct agent_proxy *px = t->data;
    for (struct px_listener *l = px->listeners; l; l = l->next)
        if (!l->tcp) listener_bind(px, l);
}

static bool node_port_type(const json_t *svc)
{
    const char *type = json_path_str(svc, "spec.type");
    return type && (!strcmp(type, "NodePort") || !strcmp(type, "LoadBalancer"));
}

/* Brings the listeners in line with the cached Services and Endpoints. */
void px_rebuild(struct agent_proxy *px)
{
    if (px->stopping) return;
    for (struct px_listener *l = px->listeners; l; l = l->next) l->seen = false;
    const char *key;
    json_t *svc;
    json_object_foreach(px->services, key, svc) {
        if (!node_port_type(svc)) continue;
        const json_t *ep = json_object_get(px->endpoints, key);
        size_t i;
        json_t *sp;
        json_array_foreach(json_path(svc, "spec.ports"), i, sp) {
            int np = (int)json_integer_value(json_object_get(sp, "nodePort"));
            const char *proto = json_string_value(json_object_get(sp, "protocol"));
            if (np <= 0 || np > 65535 || (proto && strcmp(proto, "TCP"))) continue;
            struct px_listener *l = find_listener(px, np);
            if (l && l->seen) {
                log_warn(AGENT_COMP, "service %s: node port %d is already used by %s", key, np, l->key);
                continue;
            }
            if (!l) {
                if (!(l = calloc(1, sizeof *l))) continue;
                l->px = px;
                l->node_port = np;
                l->next = px->listeners;
                px->listeners = l;
            }
            l->seen = true;
            snprintf(l->key, sizeof l->key, "%s", key);
            struct proxy_pool np_pool;
            if (proxy_pool_build(&np_pool, sp, ep, &l->pool) == 0) {
                bool changed = np_pool.n != l->pool.n;
                for (size_t b = 0; !changed && b < np_pool.n; b++)
                    changed = strcmp(np_pool.v[b].ip, l->pool.v[b].ip) || np_pool.v[b].port != l->pool.v[b].port;
                if (changed) l->gen++;
                proxy_pool_free(&l->pool);
                l->pool = np_pool;
            }
            if (!l->tcp) listener_bind(px, l);
        }
    }
    struct px_listener *l = px->listeners;
    while (l) {
        struct px_listener *next = l->next;
        if (!l->seen) listener_close(px, l);
        l = next;
    }
}

/* ---- the public surface -------------------------------------------------- */

void agent_proxy_apply(struct agent *a, const char *resource, const char *type, const json_t *obj)
{
    struct agent_proxy *px = a->proxy;
    if (!px || px->stopping) return;
    if (px_cache_apply(px, resource, type, obj)) px_rebuild(px);
}

int px_cache_apply(struct agent_proxy *px, const char *resource, const char *type, const json_t *obj)
{
    json_t *cache = !strcmp(resource, "services") ? px->services : px->endpoints;
    const char *ns = json_path_str(obj, "metadata.namespace"), *name = json_path_str(obj, "metadata.name");
    if (!ns || !name) return 0;
    char key[400];
    snprintf(key, sizeof key, "%s/%s", ns, name);
    if (!strcmp(type, "DELETED")) return json_object_del(cache, key) == 0;
    json_object_set_new(cache, key, json_deep_copy(obj));
    return 1;
}

int agent_proxy_backends(struct agent *a, int node_port)
{
    struct px_listener *l = a->proxy ? find_listener(a->proxy, node_port) : NULL;
    return l && l->tcp ? (int)l->pool.n : -1;
}

int agent_proxy_start(struct agent *a)
{
    if (a->proxy) return 0;
    struct agent_proxy *px = calloc(1, sizeof *px);
    if (!px) return BE_NOMEM;
    px->a = a;
    px->services = json_object();
    px->endpoints = json_object();
    if (!px->services || !px->endpoints) {
        json_decref(px->services);
        json_decref(px->endpoints);
        free(px);
        return BE_NOMEM;
    }
    agent_ref(a);
    a->proxy = px;
    px->refs = 1; /* released by agent_proxy_stop */
    uv_timer_init(a->loop, &px->rebind);
    px->rebind.data = px;
    px_ref(px);
    uv_timer_start(&px->rebind, on_rebind, REBIND_MS, REBIND_MS);
    px_watch_start(px);
    return 0;
}

void agent_proxy_stop(struct agent *a)
{
    struct agent_proxy *px = a->proxy;
    if (!px || px->stopping) return;
    px->stopping = true;
    px_watch_stop(px);
    uv_close((uv_handle_t *)&px->rebind, on_px_handle_closed);
    while (px->listeners) listener_close(px, px->listeners);
    for (struct px_conn *c = px->conns; c; c = c->next) conn_close(c);
    px_unref(px);
}
