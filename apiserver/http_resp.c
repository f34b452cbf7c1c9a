/* http_resp.c: answering requests: complete responses (copied, or taken
 * over without a copy, with bytes inserted in the middle by the iovecs of
 * the one writev) and chunked streams with their stall and abort rules.
 * The connection machinery these feed is in http.c. */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "apiserver/http_int.h"
#include "common/errors.h"
#include "common/log.h"

/* Appends the NUL-terminated s at d; returns the end. */
static char *put(char *d, const char *s)
{
    size_t n = strlen(s);
    memcpy(d, s, n);
    return d + n;
}

static char *put_u64(char *d, unsigned long long v)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *d++ = tmp[--n];
    return d;
}

/* The head is built with memcpy, not snprintf: it is written per response. */
struct http_wr *http_wr_head(int status, const char *ctype, const char *extra,
                             long long clen, bool keep_alive, size_t room,
                             size_t *hlen)
{
    const char *reason = http_reason_phrase(status);
    size_t cap = 160 + strlen(reason) + (ctype ? strlen(ctype) : 0) +
                 (extra ? strlen(extra) : 0);
    struct http_wr *wr = malloc(sizeof *wr + cap + room);
    if (!wr)
        return NULL;
    wr->take = NULL;
    assert(status >= 100 && status <= 999);
    char *d = put(wr->data, "HTTP/1.1 ");
    d = put_u64(d, (unsigned long long)status);
    *d++ = ' ';
    d = put(d, reason);
    d = put(d, "\r\n");
    if (ctype && *ctype) {
        d = put(d, "Content-Type: ");
        d = put(d, ctype);
        d = put(d, "\r\n");
    }
    if (clen >= 0) {
        d = put(d, "Content-Length: ");
        d = put_u64(d, (unsigned long long)clen);
        d = put(d, "\r\n");
    } else if (clen == -1) {
        d = put(d, "Transfer-Encoding: chunked\r\n");
    }
    d = put(d, keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n");
    if (extra)
        d = put(d, extra);
    d = put(d, "\r\n");
    *hlen = (size_t)(d - wr->data);
    assert(*hlen < cap);
    return wr;
}

/* ---- answering -------------------------------------------------------- */

static bool answer_ok(struct http_conn *c, const char *fn)
{
    if (c->req_active && !c->streaming)
        return true;
    log_error("http", "%s: request already answered or streaming", fn);
    return false;
}

/* The response wr (bufs) is ready: queue it and go on with the connection. */
static void conn_send_resp(struct http_conn *c, struct http_wr *wr, uv_buf_t *bufs,
                           unsigned n)
{
    c->req_active = false;
    if (http_conn_write(c, wr, bufs, n) < 0)
        return;
    if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) > 0)
        c->resp_wr = wr;
    if (!c->keep_alive) {
        http_conn_linger(c);
        return;
    }
    if (!c->resp_wr)
        http_conn_pump(c);
    http_conn_update(c);
}

static bool status_has_body(int status)
{
    return status >= 200 && status != 204 && status != 304;
}

void http_respond(http_req_t *req, int status, const char *content_type,
                  const char *body, size_t len, const char *extra_headers)
{
    struct http_conn *c = CONN_OF_REQ(req);
    if (!answer_ok(c, "http_respond"))
        return;
    if (c->closing) {
        http_conn_release(c);
        return;
    }
    bool has_body = status_has_body(status);
    size_t send = has_body && !c->is_head ? len : 0, hlen;
    struct http_wr *wr = http_wr_head(status, content_type, extra_headers,
                                 has_body ? (long long)len : -2, c->keep_alive,
                                 send, &hlen);
    if (!wr) {
        c->req_active = false;
        http_conn_close(c);
        return;
    }
    if (send)
        memcpy(wr->data + hlen, body, send);
    uv_buf_t b = uv_buf_init(wr->data, hlen + send);
    conn_send_resp(c, wr, &b, 1);
}

void http_respond_take_ins(http_req_t *req, int status, const char *content_type,
                           char *body, size_t len, size_t at, const char *ins,
                           size_t ins_len)
{
    struct http_conn *c = CONN_OF_REQ(req);
    if (!answer_ok(c, "http_respond_take")) {
        free(body);
        return;
    }
    if (c->closing) {
        free(body);
        http_conn_release(c);
        return;
    }
    assert(at <= len);
    bool has_body = status_has_body(status);
    bool send = has_body && !c->is_head;
    size_t total = len + ins_len, hlen;
    /* the head's block also holds the inserted bytes, after the head */
    struct http_wr *wr = http_wr_head(status, content_type, NULL,
                                 has_body ? (long long)total : -2, c->keep_alive,
                                 ins_len, &hlen);
    if (!wr) {
        free(body);
        c->req_active = false;
        http_conn_close(c);
        return;
    }
    if (ins_len)
        memcpy(wr->data + hlen, ins, ins_len);
    uv_buf_t b[4] = {uv_buf_init(wr->data, hlen), uv_buf_init(body, at),
                     uv_buf_init(wr->data + hlen, ins_len),
                     uv_buf_init(body + at, len - at)};
    wr->take = body;
    conn_send_resp(c, wr, b, send ? 4 : 1);
}

void http_respond_take(http_req_t *req, int status, const char *content_type,
                       char *body, size_t len)
{
    http_respond_take_ins(req, status, content_type, body, len, 0, NULL, 0);
}

void http_stream_begin(http_req_t *req, int status, const char *content_type,
                       void (*on_abort)(void *data), void *data)
{
    struct http_conn *c = CONN_OF_REQ(req);
    if (!answer_ok(c, "http_stream_begin"))
        return;
    c->on_abort = on_abort;
    c->abort_data = data;
    c->keep_alive = false;
    if (!c->closing) {
        c->in_pos = 0;
        http_buf_reset(&c->in);
        size_t hlen;
        struct http_wr *wr =
            http_wr_head(status, content_type, NULL, -1, false, 0, &hlen);
        if (!wr) {
            http_conn_close(c);
        } else {
            uv_buf_t b = uv_buf_init(wr->data, hlen);
            if (http_conn_write(c, wr, &b, 1) == 0) {
                c->streaming = true;
                http_conn_update(c);
                return;
            }
        }
    }
    /* The client is gone already: tell the handler from the loop, not from
     * inside this call. */
    c->streaming = true;
    http_defer_abort(c);
}

int http_stream_write(http_req_t *req, const char *buf, size_t len)
{
    struct http_conn *c = CONN_OF_REQ(req);
    if (!c->req_active || !c->streaming)
        return BE_INVAL;
    if (c->closing) {
        http_fire_abort(c);
        return BE_UNAVAIL;
    }
    if (len == 0)
        return 0;
    size_t pending = uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp);
    if (pending > c->srv->cfg.max_stream_pending) {
        log_warn("http", "%s: stream stalled with %zu bytes unsent, closing",
                 c->req.remote, pending);
        http_conn_close(c); /* fires on_abort */
        return BE_UNAVAIL;
    }
    char size[24];
    int n = snprintf(size, sizeof size, "%zx\r\n", len);
    struct http_wr *wr = malloc(sizeof *wr + (size_t)n + len + 2);
    if (!wr) {
        http_conn_close(c);
        return BE_UNAVAIL;
    }
    wr->take = NULL;
    memcpy(wr->data, size, (size_t)n);
    memcpy(wr->data + n, buf, len);
    memcpy(wr->data + n + len, "\r\n", 2);
    uv_buf_t b = uv_buf_init(wr->data, (unsigned)n + len + 2);
    if (http_conn_write(c, wr, &b, 1) < 0)
        return BE_UNAVAIL; /* closed, on_abort fired */
    return 0;
}

size_t http_stream_pending(const http_req_t *req)
{
    const struct http_conn *c = CONN_OF_REQ(req);
    if (c->closing)
        return 0;
    return uv_stream_get_write_queue_size((const uv_stream_t *)&c->tcp);
}

void http_stream_end(http_req_t *req)
{
    struct http_conn *c = CONN_OF_REQ(req);
    if (!c->req_active || !c->streaming) {
        log_error("http", "http_stream_end: no stream on this request");
        return;
    }
    c->abort_fired = true; /* ended: on_abort no longer applies */
    if (!c->closing) {
        static const char last[] = "0\r\n\r\n";
        struct http_wr *wr = malloc(sizeof *wr + sizeof last);
        if (wr) {
            wr->take = NULL;
            memcpy(wr->data, last, sizeof last - 1);
            uv_buf_t b = uv_buf_init(wr->data, sizeof last - 1);
            if (http_conn_write(c, wr, &b, 1) == 0) {
                c->streaming = false;
                http_conn_linger(c);
            }
        } else {
            http_conn_close(c);
        }
    }
    http_conn_release(c);
}
