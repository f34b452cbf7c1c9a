/* http_parse.c: the llhttp callbacks of the HTTP server. They collect the
 * request line, headers and body of one request into the connection's
 * reusable buffers, enforce the size limits (431, 413) and pause the parser
 * at the end of every message so that http.c can hand the request over. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "apiserver/http_int.h"
#include "common/errors.h"
#include "common/log.h"

/* ---- buffers ---------------------------------------------------------- */

int http_buf_reserve(struct http_buf *b, size_t extra)
{
    if (b->len + extra <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 512;
    while (cap < b->len + extra)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p)
        return BE_NOMEM;
    b->p = p;
    b->cap = cap;
    return 0;
}

int http_buf_append(struct http_buf *b, const char *d, size_t n)
{
    if (http_buf_reserve(b, n) < 0)
        return BE_NOMEM;
    memcpy(b->p + b->len, d, n);
    b->len += n;
    return 0;
}

/* Empties b, releasing its memory if it grew large. */
void http_buf_reset(struct http_buf *b)
{
    b->len = 0;
    if (b->cap > HTTP_KEEP_BUF) {
        free(b->p);
        b->p = NULL;
        b->cap = 0;
    }
}

/* ---- parser callbacks ------------------------------------------------- */

static int reject(struct http_conn *c, int code, const char *msg)
{
    if (!c->fail_code) {
        c->fail_code = code;
        c->fail_msg = msg;
    }
    return HPE_USER;
}

static int head_add(struct http_conn *c, const char *at, size_t n)
{
    c->head_bytes += n;
    if (c->head_bytes > c->srv->cfg.max_header_bytes)
        return reject(c, 431, "request line and headers are too large");
    if (c->headers_done)
        return 0; /* trailers: counted, not kept */
    if (http_buf_append(&c->head, at, n) < 0)
        return reject(c, 503, "out of memory");
    return 0;
}

static int on_message_begin(llhttp_t *p)
{
    struct http_conn *c = p->data;
    c->in_msg = true;
    c->headers_done = c->in_field = c->in_value = c->is_head = false;
    http_buf_reset(&c->head);
    http_buf_reset(&c->body);
    c->nhdr = 0;
    c->head_bytes = 16; /* method, version, line ends */
    c->req_seq++;
    return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t n)
{
    return head_add(p->data, at, n);
}

static int on_url_complete(llhttp_t *p)
{
    return head_add(p->data, "", 1) ? -1 : 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t n)
{
    struct http_conn *c = p->data;
    if (!c->in_field && !c->headers_done) {
        if (c->nhdr >= c->srv->cfg.max_headers)
            return reject(c, 431, "too many request headers");
        if (c->nhdr == c->hdr_cap) {
            size_t cap = c->hdr_cap ? c->hdr_cap * 2 : 16;
            struct hdr_off *ho = realloc(c->hoff, cap * sizeof *ho);
            if (!ho)
                return reject(c, 503, "out of memory");
            c->hoff = ho;
            struct http_header *h = realloc(c->hdrs, cap * sizeof *h);
            if (!h)
                return reject(c, 503, "out of memory");
            c->hdrs = h;
            c->hdr_cap = cap;
        }
        c->hoff[c->nhdr].name = c->head.len;
        c->hoff[c->nhdr].has_value = false;
        c->nhdr++;
        c->in_field = true;
        c->head_bytes += 4; /* ": " and CRLF */
    }
    return head_add(c, at, n);
}

static int on_header_field_complete(llhttp_t *p)
{
    struct http_conn *c = p->data;
    if (c->headers_done)
        return 0;
    if (!c->in_field || head_add(c, "", 1))
        return -1;
    for (size_t i = c->hoff[c->nhdr - 1].name; i < c->head.len; i++)
        if (c->head.p[i] >= 'A' && c->head.p[i] <= 'Z')
            c->head.p[i] += 'a' - 'A';
    c->in_field = false;
    return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t n)
{
    struct http_conn *c = p->data;
    if (!c->in_value && !c->headers_done && c->nhdr > 0) {
        c->hoff[c->nhdr - 1].value = c->head.len;
        c->hoff[c->nhdr - 1].has_value = true;
        c->in_value = true;
    }
    return head_add(c, at, n);
}

static int on_header_value_complete(llhttp_t *p)
{
    struct http_conn *c = p->data;
    if (c->headers_done || c->nhdr == 0)
        return 0;
    struct hdr_off *h = &c->hoff[c->nhdr - 1];
    if (!h->has_value) {
        h->value = c->head.len;
        h->has_value = true;
    }
    while (c->head.len > h->value &&
           (c->head.p[c->head.len - 1] == ' ' || c->head.p[c->head.len - 1] == '\t'))
        c->head.len--;
    c->in_value = false;
    return head_add(c, "", 1) ? -1 : 0;
}


static int on_headers_complete(llhttp_t *p)
{
    struct http_conn *c = p->data;
    http_server_t *srv = c->srv;
    if (!c->head.p) {
        reject(c, 400, "missing request target");
        return -1;
    }
    c->headers_done = true;
    for (size_t i = 0; i < c->nhdr; i++) {
        c->hdrs[i].name = c->head.p + c->hoff[i].name;
        c->hdrs[i].value =
            c->hoff[i].has_value ? c->head.p + c->hoff[i].value : c->zero;
    }
    c->req.headers = c->hdrs;
    c->req.nheaders = c->nhdr;
    char *url = c->head.p; /* the URL is the first thing stored */
    char *qm = strchr(url, '?');
    c->req.query = c->zero;
    if (qm) {
        *qm = '\0';
        c->req.query = qm + 1;
    }
    if (http_path_decode(url) < 0) {
        reject(c, 400, "invalid percent-encoding in the request path");
        return -1;
    }
    c->req.path = url;
    c->req.method = llhttp_method_name((llhttp_method_t)p->method);
    c->is_head = p->method == HTTP_HEAD;
    c->keep_alive = llhttp_should_keep_alive(p) && !p->upgrade;
    if (p->flags & F_CONTENT_LENGTH) {
        if (p->content_length > srv->cfg.max_body) {
            reject(c, 413, "request body is too large");
            return -1;
        }
        if (http_buf_reserve(&c->body, (size_t)p->content_length + 1) < 0) {
            reject(c, 503, "out of memory");
            return -1;
        }
    }
    const char *expect = http_req_header(&c->req, "expect");
    if (expect && strcasecmp(expect, "100-continue") == 0 &&
        ((p->flags & F_CHUNKED) || p->content_length > 0))
        http_send_continue(c);
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t n)
{
    struct http_conn *c = p->data;
    if (c->body.len + n > c->srv->cfg.max_body)
        return reject(c, 413, "request body is too large");
    if (http_buf_append(&c->body, at, n) < 0)
        return reject(c, 503, "out of memory");
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    struct http_conn *c = p->data;
    if (http_buf_reserve(&c->body, 1) < 0) {
        reject(c, 503, "out of memory");
        return -1;
    }
    c->body.p[c->body.len] = '\0';
    c->req.body = c->body.p;
    c->req.body_len = c->body.len;
    c->msg_ready = true;
    return HPE_PAUSED;
}

void http_parser_settings_init(llhttp_settings_t *s)
{
    llhttp_settings_init(s);
    s->on_message_begin = on_message_begin;
    s->on_url = on_url;
    s->on_url_complete = on_url_complete;
    s->on_header_field = on_header_field;
    s->on_header_field_complete = on_header_field_complete;
    s->on_header_value = on_header_value;
    s->on_header_value_complete = on_header_value_complete;
    s->on_headers_complete = on_headers_complete;
    s->on_body = on_body;
    s->on_message_complete = on_message_complete;
}
