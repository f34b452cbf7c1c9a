/* httpc.c: a blocking HTTP/1.1 client over plain POSIX sockets (see
 * httpc.h).
 *
 * One httpc_t holds one connection. A request is: connect if there is no
 * open socket (non-blocking connect bounded by poll), write the head and
 * body with MSG_NOSIGNAL, then read with poll + recv and feed llhttp (in
 * HTTP_RESPONSE mode) until it reports the message complete, or EOF ends a
 * body without a length (llhttp_finish). The parser callbacks collect the
 * Content-Type and the body, or hand body pieces to a stream callback.
 * A kept-alive socket may have been closed by the server while idle: if a
 * reused connection fails before any response byte arrived, the request is
 * sent once more on a fresh connection. */
#define _GNU_SOURCE /* asprintf */
#include "common/httpc.h"

#include "common/errors.h"
#include "common/warnbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <llhttp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

struct httpc {
    char *base;       /* "http://host:port", without trailing slash */
    char *host;       /* for getaddrinfo: no brackets */
    char *hostport;   /* for the Host header */
    char port[8];
    int timeout_ms;
    int fd;           /* -1 when not connected */
};

static int fail(char *errbuf, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(char *errbuf, size_t errlen, int rc, const char *fmt, ...)
{
    if (errbuf && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(errbuf, errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

/* ---- setup ------------------------------------------------------------ */

/* Splits "http://host[:port][/]" into c; 0 or BE_INVAL. */
static int parse_base(httpc_t *c, const char *base, char *errbuf, size_t errlen)
{
    const char *p, *end, *colon = NULL;
    if (strncmp(base, "http://", 7) != 0)
        return fail(errbuf, errlen, BE_INVAL, "bad server URL \"%.200s\": only http:// is supported", base);
    p = base + 7;
    end = p + strcspn(p, "/?#");
    if (end[0] == '/' && end[1] != '\0')
        return fail(errbuf, errlen, BE_INVAL, "bad server URL \"%.200s\": no path allowed", base);
    if (end[0] == '?' || end[0] == '#')
        return fail(errbuf, errlen, BE_INVAL, "bad server URL \"%.200s\"", base);
    const char *hs = p, *he;
    if (*p == '[') {
        he = memchr(p, ']', (size_t)(end - p));
        if (!he) return fail(errbuf, errlen, BE_INVAL, "bad server URL \"%.200s\": unclosed '['", base);
        hs = p + 1;
        colon = he + 1 < end && he[1] == ':' ? he + 1 : NULL;
        if (he + 1 < end && !colon)
            return fail(errbuf, errlen, BE_INVAL, "bad server URL \"%.200s\"", base);
    } else {
        colon = memchr(p, ':', (size_t)(end - p));
        he = colon ? colon : end;
    }
    if (he == hs) return fail(errbuf, errlen, BE_INVAL, "bad server URL \"%.200s\": no host", base);
    const char *ps = colon ? colon + 1 : "80";
    size_t plen = colon ? (size_t)(end - colon - 1) : 2;
    long port = 0;
    for (size_t i = 0; i < plen; i++) {
        if (ps[i] < '0' || ps[i] > '9' || port > 65535) { port = -1; break; }
        port = port * 10 + (ps[i] - '0');
    }
    if (plen == 0 || port <= 0 || port > 65535)
        return fail(errbuf, errlen, BE_INVAL, "bad server URL \"%.200s\": bad port", base);
    snprintf(c->port, sizeof c->port, "%ld", port);
    c->host = strndup(hs, (size_t)(he - hs));
    c->hostport = strndup(p, (size_t)(end - p));
    c->base = strndup(base, (size_t)(end - base));
    if (!c->host || !c->hostport || !c->base) return fail(errbuf, errlen, BE_NOMEM, "out of memory");
    return 0;
}

httpc_t *httpc_new(const char *base, unsigned timeout_ms, char *errbuf, size_t errlen)
{
    httpc_t *c = calloc(1, sizeof *c);
    if (!c) {
        fail(errbuf, errlen, BE_NOMEM, "out of memory");
        return NULL;
    }
    c->fd = -1;
    c->timeout_ms = timeout_ms ? (timeout_ms > 86400000u ? 86400000 : (int)timeout_ms) : 30000;
    if (!base || parse_base(c, base, errbuf, errlen) < 0) {
        if (!base) fail(errbuf, errlen, BE_INVAL, "no server URL");
        httpc_free(c);
        return NULL;
    }
    return c;
}

static void conn_close(httpc_t *c)
{
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
}

void httpc_free(httpc_t *c)
{
    if (!c) return;
    conn_close(c);
    free(c->base);
    free(c->host);
    free(c->hostport);
    free(c);
}

void httpc_response_free(struct httpc_response *resp)
{
    if (!resp) return;
    free(resp->body);
    free(resp->content_type);
    free(resp->warnings);
    memset(resp, 0, sizeof *resp);
}

/* ---- connecting ------------------------------------------------------- */

/* Connects one address within timeout; 0 and the socket, or an errno. */
static int connect_addr(const struct addrinfo *ai, int timeout_ms, int *fdp)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
    int err = 0, one = 1;
    socklen_t elen = sizeof err;
    if (fd < 0) return errno;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        if (errno != EINPROGRESS) err = errno;
        else if (poll(&pfd, 1, timeout_ms) == 0) err = ETIMEDOUT;
        else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0) err = errno;
    }
    if (!err && fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0) err = errno;
    if (err) {
        close(fd);
        return err;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    *fdp = fd;
    return 0;
}

static int conn_open(httpc_t *c, char *errbuf, size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res, *ai;
    int err = ECONNREFUSED;
    int gai = getaddrinfo(c->host, c->port, &hints, &res);
    if (gai != 0)
        return fail(errbuf, errlen, BE_UNAVAIL, "cannot connect to %s: %s", c->base, gai_strerror(gai));
    for (ai = res; ai; ai = ai->ai_next)
        if ((err = connect_addr(ai, c->timeout_ms, &c->fd)) == 0) break;
    freeaddrinfo(res);
    if (err == 0) return 0;
    return fail(errbuf, errlen, err == ETIMEDOUT ? BE_TIMEOUT : BE_UNAVAIL,
                "cannot connect to %s: %s", c->base, err == ETIMEDOUT ? "timed out" : strerror(err));
}

/* ---- one exchange ----------------------------------------------------- */

struct exchange {
    llhttp_t parser;
    llhttp_settings_t settings;
    bool head;           /* HEAD request: no body follows */
    bool done;           /* message complete */
    bool keep_alive;
    bool stopped;        /* the stream callback asked to stop */
    int status;
    char *body;
    size_t body_len, body_cap;
    char field[32];      /* header name being read (truncated) */
    size_t field_len;
    enum { HDR_OTHER, HDR_CTYPE, HDR_WARNING } in_hdr;
    char *ctype;
    struct warnbuf warnings;
    int (*on_data)(void *data, const char *buf, size_t len); /* stream mode */
    void *data;
};

static int ex_append(struct exchange *x, const char *at, size_t len)
{
    if (x->body_len + len + 1 > x->body_cap) {
        size_t cap = x->body_cap ? x->body_cap : 4096;
        while (cap < x->body_len + len + 1) cap *= 2;
        char *b = realloc(x->body, cap);
        if (!b) return -1;
        x->body = b;
        x->body_cap = cap;
    }
    memcpy(x->body + x->body_len, at, len);
    x->body_len += len;
    x->body[x->body_len] = '\0';
    return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    struct exchange *x = p->data;
    size_t n = len < sizeof x->field - 1 - x->field_len ? len : sizeof x->field - 1 - x->field_len;
    memcpy(x->field + x->field_len, at, n);
    x->field_len += n;
    x->field[x->field_len] = '\0';
    return 0;
}

static int on_header_field_complete(llhttp_t *p)
{
    struct exchange *x = p->data;
    x->in_hdr = !strcasecmp(x->field, "content-type") ? HDR_CTYPE
                : !strcasecmp(x->field, "warning")    ? HDR_WARNING
                                                      : HDR_OTHER;
    if (x->in_hdr == HDR_WARNING) warnbuf_next(&x->warnings);
    x->field_len = 0;
    x->field[0] = '\0';
    return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
    struct exchange *x = p->data;
    /* Warning headers are kept for the caller to show, as kubectl shows the
     * API server's warnings. */
    if (x->in_hdr == HDR_WARNING) return warnbuf_append(&x->warnings, at, len);
    if (x->in_hdr != HDR_CTYPE) return 0;
    size_t old = x->ctype ? strlen(x->ctype) : 0;
    char *v = realloc(x->ctype, old + len + 1);
    if (!v) return -1;
    memcpy(v + old, at, len);
    v[old + len] = '\0';
    x->ctype = v;
    return 0;
}

static int on_headers_complete(llhttp_t *p)
{
    struct exchange *x = p->data;
    x->status = p->status_code;
    return x->head ? 1 : 0; /* 1: no body follows */
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    struct exchange *x = p->data;
    if (x->on_data && x->status >= 200 && x->status < 300) {
        if (x->on_data(x->data, at, len) != 0) {
            x->stopped = true;
            return -1;
        }
        return 0;
    }
    return ex_append(x, at, len);
}

static int on_message_complete(llhttp_t *p)
{
    struct exchange *x = p->data;
    if (x->status >= 100 && x->status < 200) { /* interim: the real one follows */
        free(x->ctype);
        x->ctype = NULL;
        warnbuf_free(&x->warnings);
        return 0;
    }
    x->done = true;
    x->keep_alive = llhttp_should_keep_alive(p);
    return HPE_PAUSED;
}

static void ex_init(struct exchange *x, bool head)
{
    memset(x, 0, sizeof *x);
    llhttp_settings_init(&x->settings);
    x->settings.on_header_field = on_header_field;
    x->settings.on_header_field_complete = on_header_field_complete;
    x->settings.on_header_value = on_header_value;
    x->settings.on_headers_complete = on_headers_complete;
    x->settings.on_body = on_body;
    x->settings.on_message_complete = on_message_complete;
    llhttp_init(&x->parser, HTTP_RESPONSE, &x->settings);
    x->parser.data = x; /* after init: llhttp_init clears it */
    x->head = head;
}

static void ex_free(struct exchange *x)
{
    free(x->body);
    free(x->ctype);
    warnbuf_free(&x->warnings);
}

/* Back to the state before the request, keeping the mode. */
static void ex_reset(struct exchange *x)
{
    bool head = x->head;
    int (*on_data)(void *, const char *, size_t) = x->on_data;
    void *data = x->data;
    ex_free(x);
    ex_init(x, head);
    x->on_data = on_data;
    x->data = data;
}

static int send_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return errno;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Feeds n bytes to the parser; 0, 1 when the message is complete, or an
 * error. */
static int ex_feed(struct exchange *x, const char *buf, size_t n, char *errbuf, size_t errlen)
{
    llhttp_errno_t e = n ? llhttp_execute(&x->parser, buf, n) : llhttp_finish(&x->parser);
    if (x->done) return 1;
    if (x->stopped) return 1;
    if (e == HPE_OK) return 0;
    return fail(errbuf, errlen, BE_PROTO, "bad HTTP response: %s", llhttp_errno_name(e));
}

#define HTTPC_RETRY 1 /* ex_read: the connection failed before any byte */

/* Reads until the response is complete: 0, a BE_* code, or HTTPC_RETRY
 * with the errno in *err when nothing at all came back. */
static int ex_read(httpc_t *c, struct exchange *x, int timeout_ms, int *err,
                   char *errbuf, size_t errlen)
{
    char buf[65536];
    bool got = false;
    for (;;) {
        struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
        int pr = poll(&pfd, 1, timeout_ms);
        if (pr < 0 && errno == EINTR) continue;
        if (pr == 0)
            return fail(errbuf, errlen, BE_TIMEOUT, "no response from %s within %d ms", c->base, timeout_ms);
        ssize_t n = pr < 0 ? -1 : recv(c->fd, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0 && !got) {
            *err = n < 0 ? errno : ECONNRESET;
            return HTTPC_RETRY;
        }
        if (n < 0) return fail(errbuf, errlen, BE_IO, "reading from %s: %s", c->base, strerror(errno));
        got = true;
        int rc = ex_feed(x, buf, (size_t)n, errbuf, errlen);
        if (rc != 0) return rc < 0 ? rc : 0;
        if (n == 0)
            return fail(errbuf, errlen, BE_PROTO, "%s closed the connection mid-response", c->base);
    }
}

/* One attempt: connect if needed, send, read. Returns 0, a BE_* code, or
 * HTTPC_RETRY when a reused connection failed before the response began. */
static int attempt(httpc_t *c, struct exchange *x, const char *head, size_t head_len,
                   const char *body, size_t body_len, int timeout_ms, char *errbuf, size_t errlen)
{
    bool reused = c->fd >= 0;
    int rc, err = 0;
    if (!reused && (rc = conn_open(c, errbuf, errlen)) < 0) return rc;
    err = send_all(c->fd, head, head_len);
    if (!err && body_len) err = send_all(c->fd, body, body_len);
    rc = err ? HTTPC_RETRY : ex_read(c, x, timeout_ms, &err, errbuf, errlen);
    if (rc != 0 || !x->keep_alive || x->stopped) conn_close(c);
    if (rc == HTTPC_RETRY && !reused)
        return fail(errbuf, errlen, BE_IO, "%s closed the connection without a response: %s",
                    c->base, strerror(err));
    return rc;
}

/* Formats the request head; malloc'd or NULL. */
static char *format_head(httpc_t *c, const char *method, const char *path,
                         const char *ctype, size_t body_len, bool has_body, size_t *len)
{
    char *head = NULL;
    char ct[256] = "";
    char cl[64] = "";
    if (ctype) snprintf(ct, sizeof ct, "Content-Type: %s\r\n", ctype);
    if (has_body || strcmp(method, "GET") != 0)
        snprintf(cl, sizeof cl, "Content-Length: %zu\r\n", body_len);
    int n = asprintf(&head, "%s %s HTTP/1.1\r\nHost: %s\r\nAccept: application/json\r\n"
                            "User-Agent: berth\r\n%s%s\r\n",
                     method, path[0] ? path : "/", c->hostport, ct, cl);
    if (n < 0) return NULL;
    *len = (size_t)n;
    return head;
}

static int run(httpc_t *c, struct exchange *x, const char *method, const char *path,
               const char *ctype, const char *body, size_t body_len, int timeout_ms,
               char *errbuf, size_t errlen)
{
    size_t head_len;
    int rc = 1;
    char *head = format_head(c, method, path, ctype, body_len, body != NULL, &head_len);
    if (!head) return fail(errbuf, errlen, BE_NOMEM, "out of memory");
    for (int i = 0; i < 2 && rc == 1; i++) {
        if (i > 0) ex_reset(x);
        rc = attempt(c, x, head, head_len, body, body_len, timeout_ms, errbuf, errlen);
    }
    free(head);
    if (rc == HTTPC_RETRY) rc = fail(errbuf, errlen, BE_IO, "%s closed the connection twice", c->base);
    return rc;
}

int httpc_request(httpc_t *c, const char *method, const char *path,
                  const char *content_type, const char *body, size_t body_len,
                  struct httpc_response *resp, char *errbuf, size_t errlen)
{
    struct exchange x;
    memset(resp, 0, sizeof *resp);
    ex_init(&x, !strcmp(method, "HEAD"));
    int rc = run(c, &x, method, path, content_type, body, body_len, c->timeout_ms, errbuf, errlen);
    if (rc == 0 && !x.body && !(x.body = strdup(""))) rc = fail(errbuf, errlen, BE_NOMEM, "out of memory");
    if (rc < 0) {
        ex_free(&x);
        return rc;
    }
    resp->status = x.status;
    resp->body = x.body;
    resp->body_len = x.body_len;
    resp->content_type = x.ctype;
    resp->warnings = x.warnings.text;
    return 0;
}

int httpc_stream(httpc_t *c, const char *method, const char *path,
                 int (*on_data)(void *data, const char *buf, size_t len),
                 void *data, int *status, char **err_body,
                 char *errbuf, size_t errlen)
{
    struct exchange x;
    if (err_body) *err_body = NULL;
    ex_init(&x, false);
    x.on_data = on_data;
    x.data = data;
    int rc = run(c, &x, method, path, NULL, NULL, 0, -1, errbuf, errlen);
    if (status) *status = x.status;
    if (rc == 0 && (x.status < 200 || x.status >= 300) && err_body) {
        *err_body = x.body ? x.body : strdup("");
        x.body = NULL;
    }
    ex_free(&x);
    return rc;
}
