/* http.c: the HTTP/1.1 server of berthd (contract in http.h).
 *
 * One `struct http_conn` per TCP connection, holding the libuv handles (socket and
 * one timer), the llhttp parser and buffers that are reused from request to
 * request. Reads land in one server-wide buffer and are parsed in place; only
 * bytes that arrive while a request is being handled (pipelining) are copied
 * into the connection's own input buffer.
 *
 * The parser pauses (HPE_PAUSED from on_message_complete) at the end of every
 * request; the handler gets the request and parsing resumes only once the
 * answer is queued and flushed to the kernel, so pipelined requests are
 * answered in order and a client that never reads cannot make responses pile
 * up. While paused, reading stops once HTTP_READ_HIGH unparsed bytes
 * are buffered.
 *
 * The single timer of a connection runs in one mode at a time: IDLE (keep-alive
 * wait), REQ (a request has begun and must arrive in full), WRITE (a response
 * is being flushed), LINGER (after a final response: the write side is shut
 * down and the rest of the input is read and dropped for a moment, so the
 * client sees the response rather than a reset).
 *
 * Lifetime: a connection is freed when both handles are closed and the
 * handler no longer holds its request; until then a request whose client went
 * away stays valid and its answer is dropped. The server itself is freed
 * after its stop callback has run and the last connection is gone: do not use
 * the server after the stop callback. on_abort callbacks run synchronously
 * from the read callback, http_stream_write and http_server_stop, and from a
 * zero timer when a stream begins on a connection whose client is already
 * gone; they may call http_stream_end(), after which the request must not be
 * touched.
 *
 * Files: http.c (connections, timers, server), http_parse.c (llhttp
 * callbacks), http_resp.c (responses and streams), http_util.c (decoding,
 * lookups, Status bodies); shared definitions in http_int.h. */
#include "apiserver/http.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "apiserver/http_int.h"
#include "common/errors.h"
#include "common/log.h"

/* ---- writing ---------------------------------------------------------- */


static void on_write(uv_write_t *w, int status)
{
    struct http_wr *wr = (struct http_wr *)w;
    struct http_conn *c = wr->c;
    bool was_resp = c->resp_wr == wr;
    free(wr->take);
    free(wr);
    if (was_resp)
        c->resp_wr = NULL;
    if (c->closing)
        return;
    if (status < 0) {
        log_debug("http", "%s: write failed: %s", c->req.remote,
                  uv_strerror(status));
        http_conn_close(c);
        return;
    }
    if (was_resp) {
        http_conn_pump(c);
        http_conn_update(c);
    }
}

/* Writes bufs now as far as the socket takes them (uv_try_write: nearly
 * every response fits, and then no write request exists, so libuv never
 * arms and disarms POLLOUT, an epoll_ctl per response) and queues the rest;
 * wr is freed at once or in the callback. On failure closes c (which can
 * fire on_abort) and returns the libuv error. */
int http_conn_write(struct http_conn *c, struct http_wr *wr, uv_buf_t *bufs,
                      unsigned n)
{
    uv_stream_t *st = (uv_stream_t *)&c->tcp;
    uv_buf_t rest[8];
    wr->c = c;
    size_t total = 0;
    for (unsigned i = 0; i < n; i++)
        total += bufs[i].len;
    int rc = n <= 8 ? uv_try_write(st, bufs, n) : UV_EAGAIN;
    if (rc >= 0 && (size_t)rc == total) {
        free(wr->take);
        free(wr);
        return 0;
    }
    if (rc >= 0) { /* partly written: queue what is left */
        size_t skip = (size_t)rc;
        unsigned k = 0;
        for (unsigned i = 0; i < n; i++) {
            if (skip >= bufs[i].len) {
                skip -= bufs[i].len;
                continue;
            }
            rest[k++] = uv_buf_init(bufs[i].base + skip, (unsigned)(bufs[i].len - skip));
            skip = 0;
        }
        bufs = rest;
        n = k;
    }
    if (rc >= 0 || rc == UV_EAGAIN)
        rc = uv_write(&wr->w, st, bufs, n, on_write);
    if (rc < 0) {
        free(wr->take);
        free(wr);
        http_conn_close(c);
    }
    return rc;
}


void http_send_continue(struct http_conn *c)
{
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    struct http_wr *wr = malloc(sizeof *wr + sizeof cont);
    if (!wr)
        return;
    wr->take = NULL;
    memcpy(wr->data, cont, sizeof cont - 1);
    uv_buf_t b = uv_buf_init(wr->data, sizeof cont - 1);
    http_conn_write(c, wr, &b, 1);
}

/* ---- connection state ------------------------------------------------- */

static void srv_maybe_free(http_server_t *srv)
{
    if (srv->stopped && !srv->in_stop_cb && srv->nconns == 0)
        free(srv);
}

static void srv_check_stopped(http_server_t *srv)
{
    if (!srv->stopping || srv->stopped || srv->handles > 0)
        return;
    srv->stopped = true;
    srv->in_stop_cb = true; /* the callback may answer the last request */
    if (srv->stop_cb)
        srv->stop_cb(srv->stop_data);
    srv->in_stop_cb = false;
    srv_maybe_free(srv);
}

static void conn_free(struct http_conn *c)
{
    http_server_t *srv = c->srv;
    if (c->abort_queued)
        for (struct http_conn **pp = &srv->abort_q; *pp; pp = &(*pp)->abort_next)
            if (*pp == c) {
                *pp = c->abort_next;
                break;
            }
    free(c->in.p);
    free(c->head.p);
    free(c->body.p);
    free(c->hoff);
    free(c->hdrs);
    free(c);
    srv->nconns--;
    srv_maybe_free(srv);
}

static void on_handle_close(uv_handle_t *h)
{
    struct http_conn *c = h->data;
    http_server_t *srv = c->srv;
    srv->handles--;
    if (--c->handles > 0)
        return;
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->closed = true;
    if (!c->req_active)
        conn_free(c);
    srv_check_stopped(srv);
}

void http_fire_abort(struct http_conn *c)
{
    if (c->abort_fired)
        return;
    c->abort_fired = true;
    if (c->on_abort)
        c->on_abort(c->abort_data); /* last: it may end the stream */
}

static void on_defer(uv_timer_t *t)
{
    http_server_t *srv = t->data;
    struct http_conn *c;
    /* Pop before firing: an on_abort may free its connection or others'. */
    while ((c = srv->abort_q)) {
        srv->abort_q = c->abort_next;
        c->abort_queued = false;
        if (c->streaming && c->req_active)
            http_fire_abort(c);
    }
}

void http_defer_abort(struct http_conn *c)
{
    http_server_t *srv = c->srv;
    if (c->abort_fired || c->abort_queued || srv->stopping)
        return; /* once stopped, the next http_stream_write reports it */
    c->abort_queued = true;
    c->abort_next = srv->abort_q;
    srv->abort_q = c;
    uv_timer_start(&srv->defer, on_defer, 0, 0);
}

void http_conn_close(struct http_conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    if (!c->rejected)
        c->srv->st.conns_open--;
    uv_close((uv_handle_t *)&c->tcp, on_handle_close);
    uv_close((uv_handle_t *)&c->timer, on_handle_close);
    if (c->streaming)
        http_fire_abort(c);
}

/* The handler is done with the request (answer sent or dropped). */
void http_conn_release(struct http_conn *c)
{
    c->req_active = false;
    c->streaming = false;
    if (c->closed)
        conn_free(c);
}

static void on_timer(uv_timer_t *t);

static void set_timer(struct http_conn *c, enum timer_mode mode)
{
    if (mode == c->tmode && (mode != TM_REQ || c->timer_seq == c->req_seq))
        return;
    c->tmode = mode;
    c->timer_seq = c->req_seq;
    const struct http_server_config *cfg = &c->srv->cfg;
    uint64_t ms;
    switch (mode) {
    case TM_IDLE: ms = cfg->idle_timeout_ms; break;
    case TM_REQ: ms = cfg->request_timeout_ms; break;
    case TM_WRITE: ms = cfg->idle_timeout_ms; break;
    case TM_LINGER:
        ms = cfg->request_timeout_ms < HTTP_LINGER_MS ? cfg->request_timeout_ms
                                                      : HTTP_LINGER_MS;
        break;
    default: uv_timer_stop(&c->timer); return;
    }
    uv_timer_start(&c->timer, on_timer, ms, 0);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    struct http_conn *c =
        (struct http_conn *)((char *)req - offsetof(struct http_conn, shut));
    if (c->closing)
        return;
    if (status < 0 || c->peer_eof)
        http_conn_close(c);
    else
        set_timer(c, TM_LINGER);
}

/* Final answer queued: flush it, shut down the write side, drop input. */
void http_conn_linger(struct http_conn *c)
{
    if (c->closing || c->lingering)
        return;
    c->lingering = true;
    c->in_msg = false;
    c->in.len = c->in_pos = 0;
    if (uv_shutdown(&c->shut, (uv_stream_t *)&c->tcp, on_shutdown) < 0) {
        http_conn_close(c);
        return;
    }
    set_timer(c, TM_WRITE);
    http_conn_update(c);
}

/* Sends a Status object with Connection: close, then lingers. */
static void conn_fail(struct http_conn *c, int code, const char *reason,
                      const char *msg)
{
    char body[512];
    size_t len = http_status_json(body, sizeof body, code, reason, msg), hlen;
    c->in_msg = false;
    struct http_wr *wr = http_wr_head(code, "application/json", NULL, (long long)len,
                                 false, len, &hlen);
    if (!wr) {
        http_conn_close(c);
        return;
    }
    memcpy(wr->data + hlen, body, len);
    uv_buf_t b = uv_buf_init(wr->data, hlen + len);
    if (http_conn_write(c, wr, &b, 1) == 0)
        http_conn_linger(c);
}

static void conn_parse_error(struct http_conn *c, llhttp_errno_t e)
{
    struct http_server_stats *st = &c->srv->st;
    int code = c->fail_code ? c->fail_code : 400;
    const char *msg = c->fail_msg ? c->fail_msg : llhttp_get_error_reason(&c->parser);
    char buf[256];
    switch (code) {
    case 413:
    case 431: st->too_large++; break;
    case 400:
        st->bad_requests++;
        if (!c->fail_msg) {
            snprintf(buf, sizeof buf, "malformed HTTP request: %s (%s)",
                     msg ? msg : "?", llhttp_errno_name(e));
            msg = buf;
        }
        break;
    }
    log_debug("http", "%s: rejecting request: %d %s", c->req.remote, code, msg);
    conn_fail(c, code,
              code == 413   ? "RequestEntityTooLarge"
              : code == 431 ? "RequestHeaderFieldsTooLarge"
              : code == 503 ? "ServiceUnavailable"
                            : "BadRequest",
              msg);
}

static bool conn_can_parse(const struct http_conn *c)
{
    return !c->closing && !c->lingering && !c->streaming && !c->req_active &&
           !c->resp_wr;
}

static void conn_dispatch(struct http_conn *c)
{
    http_server_t *srv = c->srv;
    c->msg_ready = false;
    c->in_msg = false;
    c->req_active = true;
    c->req.user = NULL;
    srv->st.requests++;
    set_timer(c, TM_NONE);
    srv->handler(srv->data, &c->req);
}

/* Parses p[0..n) until done or paused; returns the bytes consumed. */
static size_t conn_parse(struct http_conn *c, const char *p, size_t n)
{
    size_t off = 0;
    while (off < n && conn_can_parse(c)) {
        llhttp_errno_t e = llhttp_execute(&c->parser, p + off, n - off);
        if (e == HPE_OK)
            return n;
        if ((e == HPE_PAUSED || e == HPE_PAUSED_UPGRADE) && c->msg_ready) {
            off = (size_t)(llhttp_get_error_pos(&c->parser) - p);
            if (e == HPE_PAUSED)
                llhttp_resume(&c->parser);
            conn_dispatch(c);
            continue;
        }
        if (e == HPE_PAUSED_UPGRADE)
            return n; /* never parse past an upgrade: the conn closes */
        conn_parse_error(c, e);
        return n;
    }
    return off;
}

/* Parses buffered input, unless already parsing further up the stack. */
void http_conn_pump(struct http_conn *c)
{
    if (c->in_pump)
        return;
    c->in_pump = true;
    if (c->in_pos < c->in.len)
        c->in_pos += conn_parse(c, c->in.p + c->in_pos, c->in.len - c->in_pos);
    c->in_pump = false;
    if (c->in_pos >= c->in.len || c->lingering || c->closing) {
        c->in_pos = 0;
        http_buf_reset(&c->in);
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct http_conn *c = h->data;
    buf->base = c->srv->rbuf;
    buf->len = sizeof c->srv->rbuf;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct http_conn *c = s->data;
    if (nread == 0 || c->closing)
        return;
    if (nread < 0) {
        c->reading = false;
        if (nread == UV_EOF && !c->lingering && !c->streaming) {
            c->peer_eof = true; /* half-close: still answer what came */
            http_conn_update(c);
        } else {
            http_conn_close(c);
        }
        return;
    }
    if (c->lingering || c->streaming)
        return; /* input after a final answer is dropped */
    if (c->in_pos == c->in.len) {
        c->in_pos = c->in.len = 0;
        c->in_pump = true;
        size_t used = conn_parse(c, buf->base, (size_t)nread);
        c->in_pump = false;
        if (used < (size_t)nread && !c->closing && !c->lingering &&
            !c->streaming &&
            http_buf_append(&c->in, buf->base + used, (size_t)nread - used) < 0) {
            http_conn_close(c);
            return;
        }
    } else {
        if (c->in_pos > 0) {
            memmove(c->in.p, c->in.p + c->in_pos, c->in.len - c->in_pos);
            c->in.len -= c->in_pos;
            c->in_pos = 0;
        }
        if (http_buf_append(&c->in, buf->base, (size_t)nread) < 0) {
            http_conn_close(c);
            return;
        }
        http_conn_pump(c);
    }
    http_conn_update(c);
}

/* Brings reading and the timer in line with the connection's state. */
void http_conn_update(struct http_conn *c)
{
    if (c->closing)
        return;
    if (c->peer_eof && !c->req_active && !c->streaming && !c->lingering &&
        c->in_pos >= c->in.len) {
        http_conn_linger(c); /* flushes what is queued, then closes */
        return;
    }
    bool want = !c->peer_eof &&
                (c->lingering || c->streaming || c->in.len - c->in_pos < HTTP_READ_HIGH);
    if (want && !c->reading) {
        int rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
        if (rc < 0) {
            http_conn_close(c);
            return;
        }
        c->reading = true;
    } else if (!want && c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
    }
    if (c->lingering)
        return; /* its timer is set by http_conn_linger and on_shutdown */
    if (c->streaming || c->req_active)
        set_timer(c, TM_NONE);
    else if (c->resp_wr)
        set_timer(c, TM_WRITE);
    else if (c->in_msg)
        set_timer(c, TM_REQ);
    else
        set_timer(c, TM_IDLE);
}

static void on_timer(uv_timer_t *t)
{
    struct http_conn *c = t->data;
    enum timer_mode mode = c->tmode;
    c->tmode = TM_NONE;
    if (c->closing)
        return;
    if (mode == TM_REQ && c->in_msg && !c->lingering) {
        c->srv->st.timeouts++;
        log_debug("http", "%s: request timeout", c->req.remote);
        conn_fail(c, 408, "Timeout", "the request did not arrive in time");
        return;
    }
    http_conn_close(c); /* idle, stalled write or end of linger */
}

/* ---- server ----------------------------------------------------------- */

static void format_peer(struct http_conn *c)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;
    char ip[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    snprintf(c->req.remote, sizeof c->req.remote, "?");
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) < 0)
        return;
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)&ss;
        uv_ip4_name(sin, ip, sizeof ip);
        port = ntohs(sin->sin_port);
        snprintf(c->req.remote, sizeof c->req.remote, "%s:%d", ip, port);
    } else if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&ss;
        uv_ip6_name(sin6, ip, sizeof ip);
        port = ntohs(sin6->sin6_port);
        snprintf(c->req.remote, sizeof c->req.remote, "[%s]:%d", ip, port);
    }
}

static void on_connection(uv_stream_t *ls, int status)
{
    http_server_t *srv = ls->data;
    if (status < 0) {
        log_warn("http", "accept: %s", uv_strerror(status));
        return;
    }
    struct http_conn *c = calloc(1, sizeof *c);
    if (!c) {
        log_error("http", "accept: out of memory");
        return;
    }
    c->srv = srv;
    c->req.query = c->req.body = c->zero;
    c->req.path = c->zero;
    c->req.method = "";
    uv_tcp_init(srv->loop, &c->tcp);
    uv_timer_init(srv->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->handles = 2;
    srv->handles += 2;
    srv->nconns++;
    c->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = c;
    srv->conns = c;
    c->rejected = true; /* not counted as open until accepted */
    int rc = uv_accept(ls, (uv_stream_t *)&c->tcp);
    if (rc < 0) {
        log_warn("http", "accept: %s", uv_strerror(rc));
        http_conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    format_peer(c);
    if (srv->st.conns_open >= srv->cfg.max_conns) {
        srv->st.conns_rejected++;
        log_warn("http", "%s: rejected: %llu connections open", c->req.remote,
                 srv->st.conns_open);
        conn_fail(c, 503, "ServiceUnavailable", "too many open connections");
        return;
    }
    c->rejected = false;
    srv->st.conns_open++;
    srv->st.conns_accepted++;
    llhttp_init(&c->parser, HTTP_REQUEST, &srv->settings);
    c->parser.data = c;
    http_conn_update(c);
}

static void on_srv_handle_close(uv_handle_t *h)
{
    http_server_t *srv = h->data;
    srv->handles--;
    srv_check_stopped(srv);
}

static void free_on_close(uv_handle_t *h)
{
    free(h->data);
}

int http_server_start(uv_loop_t *loop, const struct http_server_config *cfg,
                      http_handler_fn handler, void *data,
                      http_server_t **out, char *errbuf, size_t errlen)
{
    const char *host = cfg->host ? cfg->host : "127.0.0.1";
    struct sockaddr_storage ss;
    int rc, fd = -1;
    if (strchr(host, ':'))
        rc = uv_ip6_addr(host, cfg->port, (struct sockaddr_in6 *)&ss);
    else
        rc = uv_ip4_addr(host, cfg->port, (struct sockaddr_in *)&ss);
    if (rc < 0 || cfg->port < 0 || cfg->port > 65535) {
        snprintf(errbuf, errlen, "%s:%d: invalid listen address", host, cfg->port);
        return BE_INVAL;
    }
    http_server_t *srv = calloc(1, sizeof *srv);
    if (!srv) {
        snprintf(errbuf, errlen, "out of memory");
        return BE_NOMEM;
    }
    srv->loop = loop;
    srv->handler = handler;
    srv->data = data;
    srv->cfg = *cfg;
    srv->cfg.host = NULL;
    struct http_server_config *c = &srv->cfg;
    if (!c->max_body) c->max_body = 3u << 20;
    if (!c->max_header_bytes) c->max_header_bytes = 64u << 10;
    if (!c->max_headers) c->max_headers = 100;
    if (!c->request_timeout_ms) c->request_timeout_ms = 30000;
    if (!c->idle_timeout_ms) c->idle_timeout_ms = 120000;
    if (!c->max_conns) c->max_conns = 10000;
    if (!c->max_stream_pending) c->max_stream_pending = 16u << 20;

    http_parser_settings_init(&srv->settings);

    /* Bind with plain sockets so that a failure leaves no handle to close. */
    int one = 1;
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(fd, (struct sockaddr *)&ss,
             ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                      : sizeof(struct sockaddr_in)) < 0 ||
        listen(fd, HTTP_BACKLOG) < 0) {
        snprintf(errbuf, errlen, "%s:%d: %s", host, cfg->port, strerror(errno));
        if (fd >= 0)
            close(fd);
        free(srv);
        return BE_IO;
    }
    rc = uv_tcp_init(loop, &srv->listener);
    if (rc < 0) {
        snprintf(errbuf, errlen, "%s:%d: %s", host, cfg->port, uv_strerror(rc));
        close(fd);
        free(srv);
        return BE_IO;
    }
    srv->listener.data = srv;
    rc = uv_tcp_open(&srv->listener, fd);
    if (rc < 0)
        close(fd);
    else
        rc = uv_listen((uv_stream_t *)&srv->listener, HTTP_BACKLOG, on_connection);
    if (rc < 0) {
        /* Defensive: the handle exists, so the loop frees srv when it runs. */
        snprintf(errbuf, errlen, "%s:%d: %s", host, cfg->port, uv_strerror(rc));
        uv_close((uv_handle_t *)&srv->listener, free_on_close);
        return BE_IO;
    }
    uv_timer_init(loop, &srv->defer);
    srv->defer.data = srv;
    srv->handles = 2;
    log_info("http", "listening on %s:%d", host, http_server_port(srv));
    *out = srv;
    return 0;
}

int http_server_port(const http_server_t *srv)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;
    if (uv_tcp_getsockname(&srv->listener, (struct sockaddr *)&ss, &len) < 0)
        return BE_IO;
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

void http_server_stop(http_server_t *srv, void (*cb)(void *data), void *data)
{
    if (srv->stopping)
        return;
    srv->stopping = true;
    srv->stop_cb = cb;
    srv->stop_data = data;
    on_defer(&srv->defer); /* pending aborts fire now, before the closes */
    uv_close((uv_handle_t *)&srv->listener, on_srv_handle_close);
    uv_close((uv_handle_t *)&srv->defer, on_srv_handle_close);
    /* Connections leave the list only in close callbacks, never during this
     * loop, so `next` stays valid even if an on_abort ends its stream. */
    for (struct http_conn *c = srv->conns, *next; c; c = next) {
        next = c->next;
        if (c->resp_wr && !c->streaming) {
            /* an answer the client has not taken yet: let it flush and
             * linger as after a Connection: close, for HTTP_LINGER_MS in
             * all (not the idle timeout a slow reader gets otherwise) */
            http_conn_linger(c);
            set_timer(c, TM_LINGER);
            continue;
        }
        http_conn_close(c);
    }
}

void http_server_stats(const http_server_t *srv, struct http_server_stats *st)
{
    *st = srv->st;
}
