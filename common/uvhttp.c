/* uvhttp.c: the asynchronous HTTP/1.1 client (see uvhttp.h).
 *
 * A request (struct uvh_req, also the stream handle) holds its serialized
 * bytes and its callback. pump() hands queued requests to idle pooled
 * connections, or opens a new one while the pool has room. A connection
 * (struct uvh_conn) owns a TCP handle and one timer used for whatever
 * deadline applies to its state: connect, the request's deadline, a stream's
 * idle timeout, or the keep-alive idle expiry. Responses are parsed by
 * llhttp (callbacks in uvhttp_parse.c); on_message_complete pauses the parser so the request is finished
 * outside llhttp_execute, where callbacks may freely start new requests or
 * close the client. A connection is freed when all of its handles (and a
 * pending getaddrinfo) are closed: conn->refs counts them; the client is
 * freed on close when its queue timer and every connection are gone.
 * Errors discovered synchronously while starting a request (a failed
 * uv_write, getaddrinfo, connect) are deferred through the queue timer so a
 * callback never runs inside uvhttp_request(). */
#include "common/uvhttp.h"

#include "common/errors.h"

#include <llhttp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/uvhttp_int.h"

static void pump(uvhttp_t *c);
static void conn_close(struct uvh_conn *k);
static void arm_qtimer(uvhttp_t *c);
static void on_qtimer(uv_timer_t *t);

/* ---- requests --------------------------------------------------------- */


static void req_free(struct uvh_req *r)
{
    if (r->wr) { /* its bytes are still being written: the write frees them */
        r->wr->own = r->wbuf;
        r->wr->r = NULL;
    } else {
        free(r->wbuf);
    }
    free(r->body);
    warnbuf_free(&r->warnings);
    free(r);
}

static const char *cur_warnings; /* of the response whose callback runs */

/* Calls the request's callback once and frees it. */
static void finish(struct uvh_req *r, int rc, int status, const char *body, size_t len)
{
    if (rc < 0 && !body) {
        body = r->msg[0] ? r->msg : be_strerror(rc);
        len = strlen(body);
    }
    if (!body) {
        body = "";
        len = 0;
    }
    cur_warnings = rc < 0 ? NULL : r->warnings.text;
    r->cb(r->data, rc, rc < 0 ? 0 : status, body, len);
    cur_warnings = NULL;
    req_free(r);
}

const char *uvhttp_response_warnings(void) { return cur_warnings; }

static void set_msg(struct uvh_req *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_msg(struct uvh_req *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->msg, sizeof r->msg, fmt, ap);
    va_end(ap);
}

/* Fails r later, from the queue timer (never inside the caller's call). */
static void defer_fail(struct uvh_req *r, int rc)
{
    r->fail_rc = rc;
    r->conn = NULL;
    r->next = r->c->dead;
    r->c->dead = r;
    if (!r->c->closing)
        uv_timer_start(&r->c->qtimer, on_qtimer, 0, 0);
}

static void enqueue(uvhttp_t *c, struct uvh_req *r, bool front)
{
    r->conn = NULL;
    if (front) {
        r->next = c->qhead;
        c->qhead = r;
        if (!c->qtail)
            c->qtail = r;
    } else {
        r->next = NULL;
        if (c->qtail)
            c->qtail->next = r;
        else
            c->qhead = r;
        c->qtail = r;
    }
}

/* ---- connections ------------------------------------------------------ */

static void client_unref(uvhttp_t *c)
{
    if (--c->live == 0 && c->closing) {
        if (c->close_cb)
            c->close_cb(c->close_data);
        free(c);
    }
}

static void on_qtimer_closed(uv_handle_t *h) { client_unref(h->data); }

static void conn_unref(struct uvh_conn *k)
{
    if (--k->refs > 0)
        return;
    uvhttp_t *c = k->c;
    free(k);
    client_unref(c);
}

static void on_handle_closed(uv_handle_t *h) { conn_unref(h->data); }

static void conn_close(struct uvh_conn *k)
{
    if (k->state == C_CLOSING)
        return;
    uvhttp_t *c = k->c;
    if (k->state == C_IDLE)
        c->nidle--;
    k->state = C_CLOSING;
    for (struct uvh_conn **pp = &c->conns; *pp; pp = &(*pp)->next)
        if (*pp == k) {
            *pp = k->next;
            break;
        }
    if (k->pooled)
        c->npooled--;
    uv_close((uv_handle_t *)&k->timer, on_handle_closed);
    if (k->tcp_init)
        uv_close((uv_handle_t *)&k->tcp, on_handle_closed);
    if (k->gai_pending)
        uv_cancel((uv_req_t *)&k->gai);
}

/* The connection failed: fail or retry its request, close it. */
static void conn_fail(struct uvh_conn *k, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void conn_fail(struct uvh_conn *k, int rc, const char *fmt, ...)
{
    struct uvh_req *r = k->req;
    uvhttp_t *c = k->c;
    k->req = NULL;
    bool reused = k->served > 0;
    conn_close(k);
    if (!r)
        return;
    if (rc == BE_UNAVAIL && reused && !r->got_bytes && !r->retried && !r->stream) {
        r->retried = true;
        enqueue(c, r, true);
        pump(c);
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->msg, sizeof r->msg, fmt, ap);
    va_end(ap);
    r->conn = NULL;
    finish(r, rc, 0, NULL, 0);
}

static void arm_conn_timer(struct uvh_conn *k, uint64_t ms);

static void on_conn_timer(uv_timer_t *t)
{
    struct uvh_conn *k = t->data;
    if (k->state == C_IDLE) {
        conn_close(k);
    } else if (k->state == C_RESOLVING || k->state == C_CONNECTING) {
        conn_fail(k, BE_TIMEOUT, "connect to %s: timed out", k->c->base);
    } else if (k->state == C_BUSY) {
        conn_fail(k, BE_TIMEOUT, "%s: no answer in time", k->c->base);
    }
}

static void arm_conn_timer(struct uvh_conn *k, uint64_t ms)
{
    uv_timer_start(&k->timer, on_conn_timer, ms, 0);
}

/* Deadline for the request's current wait, relative to now. */
static uint64_t req_wait_ms(struct uvh_req *r)
{
    uint64_t now = uv_now(r->c->loop);
    if (r->stream)
        return r->idle_ms;
    return r->deadline > now ? r->deadline - now : 1;
}

static void after_complete(struct uvh_conn *k)
{
    struct uvh_req *r = k->req;
    uvhttp_t *c = k->c;
    k->req = NULL;
    k->done = false;
    bool keep = !r->stream && !c->closing && llhttp_should_keep_alive(&k->parser);
    if (keep) {
        k->state = C_IDLE;
        c->nidle++;
        k->served++;
        if (c->conns != k) { /* to the front, where pump() looks first */
            struct uvh_conn **pp = &c->conns;
            while (*pp != k)
                pp = &(*pp)->next;
            *pp = k->next;
            k->next = c->conns;
            c->conns = k;
        }
        llhttp_init(&k->parser, HTTP_RESPONSE, &c->settings);
        k->parser.data = k;
        arm_conn_timer(k, c->cfg.idle_ms);
    } else {
        conn_close(k);
    }
    finish(r, 0, r->status, r->body, r->blen);
    pump(c);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct uvh_conn *k = h->data;
    buf->base = k->rbuf;
    buf->len = sizeof k->rbuf;
}

static void on_eof(struct uvh_conn *k)
{
    if (!k->req) {
        conn_close(k);
        return;
    }
    llhttp_errno_t e = llhttp_finish(&k->parser);
    if (k->done && (e == HPE_OK || e == HPE_PAUSED))
        after_complete(k);
    else
        conn_fail(k, BE_UNAVAIL, "%s: connection closed before the response ended", k->c->base);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct uvh_conn *k = s->data;
    if (k->state == C_CLOSING)
        return;
    if (n == UV_EOF) {
        on_eof(k);
        return;
    }
    if (n < 0) {
        conn_fail(k, BE_UNAVAIL, "%s: %s", k->c->base, uv_strerror((int)n));
        return;
    }
    if (n == 0)
        return;
    struct uvh_req *r = k->req;
    if (!r) { /* bytes on an idle connection: not ours to keep */
        conn_close(k);
        return;
    }
    r->got_bytes = true;
    if (r->stream && r->idle_ms)
        arm_conn_timer(k, r->idle_ms);
    llhttp_errno_t e = llhttp_execute(&k->parser, buf->base, (size_t)n);
    if (k->state == C_CLOSING)
        return; /* cancelled from on_data */
    if (e == HPE_PAUSED && k->done)
        after_complete(k);
    else if (r->toobig)
        conn_fail(k, BE_TOOBIG, "%s: response body over %zu bytes", k->c->base, k->c->cfg.max_body);
    else if (e != HPE_OK)
        conn_fail(k, BE_PROTO, "%s: bad HTTP response: %s", k->c->base, llhttp_errno_name(e));
}

static void on_written(uv_write_t *w, int status)
{
    struct uvh_write *wr = (struct uvh_write *)w;
    struct uvh_conn *k = w->data;
    if (wr->r)
        wr->r->wr = NULL;
    free(wr->own);
    free(wr);
    if (status < 0 && status != UV_ECANCELED && k->state != C_CLOSING)
        conn_fail(k, BE_UNAVAIL, "%s: write: %s", k->c->base, uv_strerror(status));
}

/* Sends k->req on a connected k. A synchronous failure is deferred. */
static void conn_send(struct uvh_conn *k)
{
    struct uvh_req *r = k->req;
    if (k->state == C_IDLE)
        k->c->nidle--;
    k->state = C_BUSY;
    r->conn = k;
    /* wbuf is written in place; only a retry whose first write is still
     * pending on the failed connection writes a copy */
    struct uvh_write *wr = malloc(sizeof *wr);
    char *src = r->wbuf;
    if (wr && r->wr && (src = malloc(r->wlen)))
        memcpy(src, r->wbuf, r->wlen);
    int rc = UV_ENOMEM;
    if (wr && src) {
        wr->own = src == r->wbuf ? NULL : src;
        wr->r = src == r->wbuf ? r : NULL;
        wr->w.data = k;
        uv_buf_t b = uv_buf_init(src, (unsigned)r->wlen);
        rc = uv_write(&wr->w, (uv_stream_t *)&k->tcp, &b, 1, on_written);
        if (rc == 0 && wr->r)
            r->wr = wr;
    }
    if (rc < 0) {
        if (wr && src && src != r->wbuf)
            free(src);
        free(wr);
        set_msg(r, "%s: write: %s", k->c->base, uv_strerror(rc));
        k->req = NULL;
        conn_close(k);
        defer_fail(r, BE_UNAVAIL);
        return;
    }
    uint64_t wait = req_wait_ms(r);
    if (wait)
        arm_conn_timer(k, wait);
    else
        uv_timer_stop(&k->timer);
}

static void on_connect(uv_connect_t *cr, int status)
{
    struct uvh_conn *k = cr->data;
    if (k->state == C_CLOSING)
        return;
    if (status < 0) {
        conn_fail(k, BE_UNAVAIL, "connect to %s: %s", k->c->base, uv_strerror(status));
        return;
    }
    uv_read_start((uv_stream_t *)&k->tcp, on_alloc, on_read);
    conn_send(k);
}

static void conn_connect(struct uvh_conn *k, const struct sockaddr *sa)
{
    int rc = uv_tcp_init(k->c->loop, &k->tcp);
    if (rc == 0) {
        k->tcp.data = k;
        k->tcp_init = true;
        k->refs++;
        uv_tcp_nodelay(&k->tcp, 1);
        k->state = C_CONNECTING;
        k->creq.data = k;
        rc = uv_tcp_connect(&k->creq, &k->tcp, sa, on_connect);
    }
    if (rc < 0) {
        struct uvh_req *r = k->req;
        k->req = NULL;
        set_msg(r, "connect to %s: %s", k->c->base, uv_strerror(rc));
        conn_close(k);
        defer_fail(r, BE_UNAVAIL);
    }
}

static void on_resolved(uv_getaddrinfo_t *g, int status, struct addrinfo *res)
{
    struct uvh_conn *k = g->data;
    k->gai_pending = false;
    if (k->state == C_CLOSING) {
        uv_freeaddrinfo(res);
        conn_unref(k);
        return;
    }
    conn_unref(k); /* the gai reference; the timer still holds k */
    if (status < 0 || !res) {
        conn_fail(k, BE_UNAVAIL, "resolve %s: %s", k->c->host, uv_strerror(status));
    } else {
        conn_connect(k, res->ai_addr);
    }
    uv_freeaddrinfo(res);
}

/* Opens a connection for r (pooled unless r is a stream). */
static void conn_open(uvhttp_t *c, struct uvh_req *r)
{
    struct uvh_conn *k = calloc(1, sizeof *k);
    if (!k) {
        set_msg(r, "out of memory");
        defer_fail(r, BE_NOMEM);
        return;
    }
    k->c = c;
    k->req = r;
    r->conn = k;
    k->pooled = !r->stream;
    if (k->pooled)
        c->npooled++;
    k->next = c->conns;
    c->conns = k;
    c->live++;
    uv_timer_init(c->loop, &k->timer);
    k->timer.data = k;
    k->refs = 1;
    llhttp_init(&k->parser, HTTP_RESPONSE, &c->settings);
    k->parser.data = k; /* after init: llhttp_init clears it */
    uint64_t wait = c->cfg.connect_timeout_ms;
    if (!r->stream && req_wait_ms(r) < wait)
        wait = req_wait_ms(r);
    arm_conn_timer(k, wait);
    if (c->have_addr) {
        conn_connect(k, (const struct sockaddr *)&c->addr);
        return;
    }
    char port[8];
    snprintf(port, sizeof port, "%d", c->port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    k->state = C_RESOLVING;
    k->gai.data = k;
    int rc = uv_getaddrinfo(c->loop, &k->gai, on_resolved, c->host, port, &hints);
    if (rc < 0) {
        k->req = NULL;
        set_msg(r, "resolve %s: %s", c->host, uv_strerror(rc));
        conn_close(k);
        defer_fail(r, BE_UNAVAIL);
        return;
    }
    k->gai_pending = true;
    k->refs++;
}

/* Hands queued requests to idle connections or new ones. */
static void pump(uvhttp_t *c)
{
    while (c->qhead && !c->closing) {
        struct uvh_conn *idle = NULL;
        for (struct uvh_conn *k = c->nidle ? c->conns : NULL; k; k = k->next)
            if (k->state == C_IDLE) {
                idle = k;
                break;
            }
        if (!idle && c->npooled >= c->cfg.max_conns)
            break;
        struct uvh_req *r = c->qhead;
        c->qhead = r->next;
        if (!c->qhead)
            c->qtail = NULL;
        r->next = NULL;
        if (idle) {
            idle->req = r;
            conn_send(idle);
        } else {
            conn_open(c, r);
        }
    }
    arm_qtimer(c);
}

/* ---- queue timer: deferred failures and queued deadlines --------------- */

static void on_qtimer(uv_timer_t *t)
{
    uvhttp_t *c = t->data;
    while (c->dead) {
        struct uvh_req *r = c->dead;
        c->dead = r->next;
        finish(r, r->fail_rc, 0, NULL, 0);
    }
    uint64_t now = uv_now(c->loop);
    struct uvh_req **pp = &c->qhead, *prev = NULL;
    while (*pp) {
        struct uvh_req *r = *pp;
        if (r->deadline && r->deadline <= now) {
            *pp = r->next;
            if (c->qtail == r)
                c->qtail = prev;
            set_msg(r, "%s: no connection free in time", c->base);
            finish(r, BE_TIMEOUT, 0, NULL, 0);
        } else {
            prev = r;
            pp = &r->next;
        }
    }
    arm_qtimer(c);
}

static void arm_qtimer(uvhttp_t *c)
{
    if (c->closing)
        return;
    if (c->dead) {
        uv_timer_start(&c->qtimer, on_qtimer, 0, 0);
        return;
    }
    uint64_t first = 0;
    for (struct uvh_req *r = c->qhead; r; r = r->next)
        if (r->deadline && (!first || r->deadline < first))
            first = r->deadline;
    if (!first) {
        uv_timer_stop(&c->qtimer);
        return;
    }
    uint64_t now = uv_now(c->loop);
    uv_timer_start(&c->qtimer, on_qtimer, first > now ? first - now : 0, 0);
}

/* ---- public API ------------------------------------------------------- */

int uvhttp_new(uv_loop_t *loop, const char *base, const struct uvhttp_config *cfg,
               uvhttp_t **out, char *err, size_t errlen)
{
    uvhttp_t *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return BE_NOMEM;
    }
    if (uvhttp_parse_url(base, c->host, sizeof c->host, &c->port) != 0 ||
        strlen(base) >= sizeof c->base) {
        snprintf(err, errlen, "bad URL \"%s\": want http://HOST[:PORT]", base ? base : "");
        free(c);
        return BE_INVAL;
    }
    snprintf(c->base, sizeof c->base, "%s", base);
    size_t bl = strlen(c->base);
    while (bl > 7 && c->base[bl - 1] == '/')
        c->base[--bl] = '\0';
    bool v6 = strchr(c->host, ':') != NULL;
    snprintf(c->hosthdr, sizeof c->hosthdr, v6 ? "[%s]:%d" : "%s:%d", c->host, c->port);
    const char *ip = strcmp(c->host, "localhost") == 0 ? "127.0.0.1" : c->host;
    if (uv_ip4_addr(ip, c->port, (struct sockaddr_in *)&c->addr) == 0 ||
        uv_ip6_addr(ip, c->port, (struct sockaddr_in6 *)&c->addr) == 0)
        c->have_addr = true;
    if (cfg)
        c->cfg = *cfg;
    if (!c->cfg.timeout_ms)
        c->cfg.timeout_ms = 30000;
    if (!c->cfg.connect_timeout_ms)
        c->cfg.connect_timeout_ms = 5000;
    if (!c->cfg.max_conns)
        c->cfg.max_conns = 4;
    if (!c->cfg.idle_ms)
        c->cfg.idle_ms = 30000;
    if (!c->cfg.max_body)
        c->cfg.max_body = 64u << 20;
    c->loop = loop;
    uvh_parser_settings(&c->settings);
    uv_timer_init(loop, &c->qtimer);
    c->qtimer.data = c;
    c->live = 1;
    *out = c;
    return 0;
}

const char *uvhttp_base(const uvhttp_t *c) { return c->base; }

static struct uvh_req *req_new(uvhttp_t *c, const char *method, const char *path,
                               const char *ctype, const char *body, size_t len)
{
    if (!method || !path || path[0] != '/' || strpbrk(path, " \r\n") ||
        (ctype && strpbrk(ctype, "\r\n")))
        return NULL;
    struct uvh_req *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    char head[1024];
    int hl;
    if (strlen(path) > 8000 ||
        (hl = snprintf(head, sizeof head, "%s ", method)) < 0)
        goto err;
    size_t plen = strlen(path);
    char tail[600];
    int tl = snprintf(tail, sizeof tail,
                      " HTTP/1.1\r\nHost: %s\r\nUser-Agent: berth\r\nAccept: */*\r\n"
                      "%s%s%sContent-Length: %zu\r\n\r\n",
                      c->hosthdr, ctype ? "Content-Type: " : "", ctype ? ctype : "",
                      ctype ? "\r\n" : "", len);
    if (tl < 0 || (size_t)tl >= sizeof tail)
        goto err;
    r->wlen = (size_t)hl + plen + (size_t)tl + len;
    r->wbuf = malloc(r->wlen);
    if (!r->wbuf)
        goto err;
    char *w = r->wbuf;
    memcpy(w, head, (size_t)hl);
    memcpy(w += hl, path, plen);
    memcpy(w += plen, tail, (size_t)tl);
    if (len)
        memcpy(w + tl, body, len);
    r->c = c;
    r->head = strcmp(method, "HEAD") == 0;
    return r;
err:
    free(r);
    return NULL;
}

int uvhttp_request(uvhttp_t *c, const char *method, const char *path,
                   const char *content_type, const char *body, size_t len,
                   uvhttp_cb cb, void *data)
{
    if (c->closing)
        return BE_SHUTDOWN;
    if (!cb)
        return BE_INVAL;
    struct uvh_req *r = req_new(c, method, path, content_type, body, len);
    if (!r)
        return BE_INVAL;
    r->cb = cb;
    r->data = data;
    r->deadline = uv_now(c->loop) + c->cfg.timeout_ms;
    enqueue(c, r, false);
    pump(c);
    return 0;
}

int uvhttp_stream(uvhttp_t *c, const struct uvhttp_stream_opts *o, uvhttp_stream_t **out)
{
    if (c->closing)
        return BE_SHUTDOWN;
    if (!o || !o->on_data || !o->on_end)
        return BE_INVAL;
    struct uvh_req *r = req_new(c, o->method ? o->method : "GET", o->path, NULL, NULL, 0);
    if (!r)
        return BE_INVAL;
    r->stream = true;
    r->cb = o->on_end;
    r->on_data = o->on_data;
    r->data = o->data;
    r->idle_ms = o->idle_timeout_ms;
    conn_open(c, r);
    *out = (uvhttp_stream_t *)r;
    return 0;
}

void uvhttp_stream_cancel(uvhttp_stream_t *s)
{
    struct uvh_req *r = (struct uvh_req *)s;
    struct uvh_conn *k = r->conn;
    uvhttp_t *c = r->c;
    if (k) {
        k->req = NULL;
        conn_close(k);
    } else { /* deferred failure pending: take it off that list */
        for (struct uvh_req **pp = &c->dead; *pp; pp = &(*pp)->next)
            if (*pp == r) {
                *pp = r->next;
                break;
            }
    }
    set_msg(r, "cancelled");
    finish(r, BE_SHUTDOWN, 0, NULL, 0);
}

void uvhttp_close(uvhttp_t *c, void (*cb)(void *data), void *data)
{
    if (c->closing)
        return;
    c->closing = true;
    c->close_cb = cb;
    c->close_data = data;
    while (c->dead) {
        struct uvh_req *r = c->dead;
        c->dead = r->next;
        finish(r, r->fail_rc, 0, NULL, 0);
    }
    while (c->qhead) {
        struct uvh_req *r = c->qhead;
        c->qhead = r->next;
        set_msg(r, "client closed");
        finish(r, BE_SHUTDOWN, 0, NULL, 0);
    }
    c->qtail = NULL;
    while (c->conns) {
        struct uvh_conn *k = c->conns;
        struct uvh_req *r = k->req;
        k->req = NULL;
        conn_close(k); /* unlinks k */
        if (r) {
            set_msg(r, "client closed");
            finish(r, BE_SHUTDOWN, 0, NULL, 0);
        }
    }
    uv_close((uv_handle_t *)&c->qtimer, on_qtimer_closed);
}
