/* test_http.c: the HTTP server (apiserver/http.c) over real TCP.
 *
 * The server runs on the main thread's loop; each scenario is a client
 * running in a pthread with blocking sockets (deadlines via SO_RCVTIMEO and
 * poll). When the client returns it wakes the loop through a uv_async, the
 * server is stopped, and the test checks that the loop closes with no handle
 * left. Flags the server side sets for the client are atomics. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "apiserver/http.h"
#include "common/errors.h"
#include "tests/unit/unit.h"

struct env {
    uv_loop_t loop;
    http_server_t *srv;
    int port;
    uv_async_t done;
    pthread_t th;
    void (*client)(struct env *);
    bool stopped, answer_after_stop;
    atomic_int aborts, streams, stall_done, stall_rc;
    _Atomic(http_req_t *) held;
    bool held_stream; /* begin a stream on the held request in on_done */
    int aborts_before_stop;
    uv_timer_t stop_timer;
    struct http_server_stats st;
    int fds[4];
    int nfds;
};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* ---- server side (loop thread) ---------------------------------------- */

struct later {
    uv_timer_t t;
    http_req_t *req;
    char tag[32];
};

static void later_closed(uv_handle_t *h) { free(h->data); }

static void later_fire(uv_timer_t *t)
{
    struct later *l = t->data;
    http_respond(l->req, 200, "text/plain", l->tag, strlen(l->tag), NULL);
    uv_close((uv_handle_t *)t, later_closed);
}

struct stream {
    uv_timer_t t;
    http_req_t *req;
    struct env *e;
    bool stall;
};

static void stream_abort(void *data)
{
    struct stream *s = data;
    atomic_fetch_add(&s->e->aborts, 1);
    http_stream_end(s->req);
    uv_close((uv_handle_t *)&s->t, later_closed);
}

static void stream_tick(uv_timer_t *t)
{
    struct stream *s = t->data;
    static char big[16384];
    if (!s->stall) {
        http_stream_write(s->req, "tick\n", 5); /* failure: on_abort ran */
        return;
    }
    for (int i = 0; i < 8; i++) {
        struct env *e = s->e;
        int rc = http_stream_write(s->req, big, sizeof big);
        if (rc < 0) { /* on_abort has ended the stream already */
            atomic_store(&e->stall_rc, rc);
            atomic_store(&e->stall_done, 1);
            return;
        }
    }
}

static void handler(void *data, http_req_t *req)
{
    struct env *e = data;
    char buf[2048], a[64], b[64];
    if (strcmp(req->path, "/echo") == 0) {
        int n = snprintf(buf, sizeof buf, "%s %s q=%s b=%zu:%s", req->method,
                         req->path, req->query, req->body_len, req->body);
        http_respond(req, 200, "text/plain", buf, (size_t)n, "X-Test: 1\r\n");
    } else if (strncmp(req->path, "/q/", 3) == 0) {
        bool ha = http_req_query(req, "a", a, sizeof a);
        bool hb = http_req_query(req, "b", b, sizeof b);
        int n = snprintf(buf, sizeof buf, "%s|%d:%s|%d:%s|%d|%d|%s", req->path,
                         ha, ha ? a : "", hb, hb ? b : "",
                         http_req_query(req, "c", NULL, 0),
                         http_req_query(req, "d", NULL, 0),
                         http_req_header(req, "X-CASE") ? http_req_header(req, "x-case") : "-");
        http_respond_take(req, 200, "text/plain", strdup(buf), (size_t)n);
    } else if (strcmp(req->path, "/async") == 0) {
        struct later *l = calloc(1, sizeof *l);
        char ms[16] = "10";
        http_req_query(req, "ms", ms, sizeof ms);
        http_req_query(req, "tag", l->tag, sizeof l->tag);
        l->req = req;
        uv_timer_init(&e->loop, &l->t);
        l->t.data = l;
        uv_timer_start(&l->t, later_fire, (uint64_t)atoi(ms), 0);
    } else if (strcmp(req->path, "/stream") == 0 || strcmp(req->path, "/stall") == 0) {
        struct stream *s = calloc(1, sizeof *s);
        s->req = req;
        s->e = e;
        s->stall = strcmp(req->path, "/stall") == 0;
        uv_timer_init(&e->loop, &s->t);
        s->t.data = s;
        http_stream_begin(req, 200, "application/json", stream_abort, s);
        uv_timer_start(&s->t, stream_tick, 1, s->stall ? 1 : 5);
        atomic_fetch_add(&e->streams, 1);
    } else if (strcmp(req->path, "/hold") == 0) {
        atomic_store(&e->held, req);
    } else {
        http_respond(req, 404, "text/plain", "nope", 4, NULL);
    }
}

static void answer_held(struct env *e)
{
    http_req_t *req = atomic_exchange(&e->held, NULL);
    if (req)
        http_respond(req, 200, "text/plain", "late", 4, NULL);
}

static void on_stopped(void *data)
{
    struct env *e = data;
    e->stopped = true;
    answer_held(e); /* into the void */
}

static void stop_now(uv_timer_t *t)
{
    struct env *e = t->data;
    e->aborts_before_stop = atomic_load(&e->aborts);
    uv_close((uv_handle_t *)t, NULL);
    http_server_stop(e->srv, on_stopped, e);
}

static void on_done(uv_async_t *a)
{
    struct env *e = a->data;
    http_server_stats(e->srv, &e->st);
    uv_close((uv_handle_t *)a, NULL);
    if (e->held_stream) {
        /* The client is gone: on_abort must come from the loop, later. */
        struct stream *s = calloc(1, sizeof *s);
        s->req = atomic_exchange(&e->held, NULL);
        s->e = e;
        uv_timer_init(&e->loop, &s->t);
        s->t.data = s;
        http_stream_begin(s->req, 200, "application/json", stream_abort, s);
        CHECK_INT(atomic_load(&e->aborts), 0);
        uv_timer_init(&e->loop, &e->stop_timer);
        e->stop_timer.data = e;
        uv_timer_start(&e->stop_timer, stop_now, 30, 0);
        return;
    }
    if (!e->answer_after_stop)
        answer_held(e);
    http_server_stop(e->srv, on_stopped, e);
}

static void *client_main(void *arg)
{
    struct env *e = arg;
    e->client(e);
    uv_async_send(&e->done);
    return NULL;
}

static void run_env(struct env *e, const struct http_server_config *cfg,
                    void (*client)(struct env *))
{
    char err[256];
    uv_loop_init(&e->loop);
    int rc = http_server_start(&e->loop, cfg, handler, e, &e->srv, err, sizeof err);
    CHECK_INT(rc, 0);
    if (rc != 0) {
        fprintf(stderr, "start: %s\n", err);
        return;
    }
    e->port = http_server_port(e->srv);
    CHECK(e->port > 0);
    uv_async_init(&e->loop, &e->done, on_done);
    e->done.data = e;
    e->client = client;
    pthread_create(&e->th, NULL, client_main, e);
    uv_run(&e->loop, UV_RUN_DEFAULT);
    pthread_join(e->th, NULL);
    CHECK(e->stopped);
    CHECK_INT(uv_loop_close(&e->loop), 0);
}

/* ---- client side (pthread, blocking sockets) --------------------------- */

struct cli {
    int fd;
    size_t len;
    char buf[1 << 17];
};

struct resp {
    int status;
    char head[4096];
    char body[8192];
    size_t body_len;
};

static struct cli *cli_open(int port, int rcvbuf)
{
    struct cli *c = calloc(1, sizeof *c);
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (rcvbuf)
        setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
    CHECK_INT(connect(c->fd, (struct sockaddr *)&sin, sizeof sin), 0);
    return c;
}

static void cli_close(struct cli *c)
{
    close(c->fd);
    free(c);
}

static void cli_send(struct cli *c, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = send(c->fd, s, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

static void cli_sends(struct cli *c, const char *s) { cli_send(c, s, strlen(s)); }

/* Reads one response with a Content-Length (no body if head_only).
 * Returns 0 or -1. */
static int cli_resp_x(struct cli *c, struct resp *r, bool head_only)
{
    char *end;
    memset(r, 0, sizeof *r);
    for (;;) {
        c->buf[c->len] = '\0';
        end = strstr(c->buf, "\r\n\r\n");
        if (end)
            break;
        ssize_t n = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len - 1, 0);
        if (n <= 0)
            return -1;
        c->len += (size_t)n;
    }
    size_t hlen = (size_t)(end - c->buf) + 4;
    snprintf(r->head, sizeof r->head, "%.*s", (int)hlen, c->buf);
    sscanf(r->head, "HTTP/1.1 %d", &r->status);
    const char *cl = strcasestr(r->head, "content-length:");
    size_t blen = cl && !head_only ? strtoul(cl + 15, NULL, 10) : 0;
    while (c->len < hlen + blen) {
        ssize_t n = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len - 1, 0);
        if (n <= 0)
            return -1;
        c->len += (size_t)n;
    }
    r->body_len = blen < sizeof r->body - 1 ? blen : sizeof r->body - 1;
    memcpy(r->body, c->buf + hlen, r->body_len);
    memmove(c->buf, c->buf + hlen + blen, c->len - hlen - blen);
    c->len -= hlen + blen;
    return 0;
}

static int cli_resp(struct cli *c, struct resp *r)
{
    return cli_resp_x(c, r, false);
}

/* True if the server closes the connection (EOF or reset) within ms. */
static bool cli_eof(struct cli *c, int ms)
{
    long long deadline = now_ms() + ms;
    char tmp[4096];
    while (now_ms() < deadline) {
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        if (poll(&p, 1, (int)(deadline - now_ms())) <= 0)
            return false;
        ssize_t n = recv(c->fd, tmp, sizeof tmp, 0);
        if (n <= 0)
            return true;
    }
    return false;
}

static bool wait_flag(atomic_int *f, int want, int ms)
{
    long long deadline = now_ms() + ms;
    while (atomic_load(f) < want && now_ms() < deadline)
        usleep(2000);
    return atomic_load(f) >= want;
}

static void check_status_obj(const struct resp *r, int code, const char *reason)
{
    char want[128];
    CHECK(strstr(r->body, "\"kind\":\"Status\"") != NULL);
    CHECK(strstr(r->body, "\"status\":\"Failure\"") != NULL);
    snprintf(want, sizeof want, "\"reason\":\"%s\"", reason);
    CHECK(strstr(r->body, want) != NULL);
    snprintf(want, sizeof want, "\"code\":%d", code);
    CHECK(strstr(r->body, want) != NULL);
    CHECK(strcasestr(r->head, "Connection: close") != NULL);
}

static int pipeline_burst(struct cli *c, const char *prefix, int n);

/* ---- scenarios --------------------------------------------------------- */

static void cl_keepalive(struct env *e)
{
    struct cli *c = cli_open(e->port, 0);
    struct resp r;
    cli_sends(c, "GET /echo?x=1 HTTP/1.1\r\nHost: a\r\n\r\n");
    CHECK_INT(cli_resp(c, &r), 0);
    CHECK_INT(r.status, 200);
    CHECK_STR(r.body, "GET /echo q=x=1 b=0:");
    CHECK(strstr(r.head, "Connection: keep-alive\r\n") != NULL);
    CHECK(strstr(r.head, "X-Test: 1\r\n") != NULL);
    CHECK(strstr(r.head, "Content-Type: text/plain\r\n") != NULL);
    cli_sends(c, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello");
    CHECK_INT(cli_resp(c, &r), 0);
    CHECK_STR(r.body, "POST /echo q= b=5:hello");
    /* Expect: 100-continue gets its interim response. */
    cli_sends(c, "PUT /echo HTTP/1.1\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n");
    CHECK_INT(cli_resp(c, &r), 0);
    CHECK_INT(r.status, 100);
    cli_sends(c, "ok");
    CHECK_INT(cli_resp(c, &r), 0);
    CHECK_STR(r.body, "PUT /echo q= b=2:ok");
    /* HEAD: length but no body. */
    cli_sends(c, "HEAD /echo HTTP/1.1\r\n\r\nGET /nothing HTTP/1.1\r\n\r\n");
    CHECK_INT(cli_resp_x(c, &r, true), 0);
    CHECK(strstr(r.head, "Content-Length: 18\r\n") != NULL);
    CHECK_INT(cli_resp(c, &r), 0);
    CHECK_INT(r.status, 404);
    CHECK_STR(r.body, "nope");
    cli_close(c);

    /* HTTP/1.0 closes by default; Connection: close is honoured. */
    c = cli_open(e->port, 0);
    cli_sends(c, "GET /echo HTTP/1.0\r\n\r\n");
    CHECK_INT(cli_resp(c, &r), 0);
    CHECK(strstr(r.head, "Connection: close\r\n") != NULL);
    CHECK(cli_eof(c, 2000));
    cli_close(c);
    c = cli_open(e->port, 0);
    cli_sends(c, "GET /echo HTTP/1.1\r\nConnection: close\r\n\r\n");
    CHECK_INT(cli_resp(c, &r), 0);
    CHECK_INT(r.status, 200);
    CHECK(cli_eof(c, 2000));
    cli_close(c);
}

static void test_keepalive(void)
{
    struct env e = {0};
    struct http_server_config cfg = {.host = "127.0.0.1", .port = 0};
    run_env(&e, &cfg, cl_keepalive);
    CHECK_INT(e.st.conns_accepted, 3);
    CHECK_INT(e.st.requests, 7);
    CHECK_INT(e.st.conns_open, 0);
}

static void cl_query(struct env *e)
{
    struct cli *c = cli_open(e->port, 0);
    struct resp r;
    cli_sends(c, "GET /q/a%20b%2Fc?a=x%20y+z&b=&c&e=%zz HTTP/1.1\r\nX-Case:  v1 \r\n\r\n");
    CHECK_INT(cli_resp(c, &r), 0);
    CHECK_STR(r.body, "/q/a b/c|1:x y z|1:|1|0|v1");
    cli_close(c);
    const char *bad[] = {"GET /a%zz HTTP/1.1\r\n\r\n", "GET /a%00b HTTP/1.1\r\n\r\n",
                         "GET /a%4 HTTP/1.1\r\n\r\n", "GARBAGE\r\n\r\n",
                         "GET / HTTP/1.1\r\nBad Header\r\n\r\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        c = cli_open(e->port, 0);
        cli_sends(c, bad[i]);
        CHECK_INT(cli_resp(c, &r), 0);
        CHECK_INT(r.status, 400);
        check_status_obj(&r, 400, "BadRequest");
        CHECK(cli_eof(c, 2000));
        cli_close(c);
    }
}

static void test_query_and_malformed(void)
{
    struct env e = {0};
    struct http_server_config cfg = {.port = 0};
    run_env(&e, &cfg, cl_query);
    CHECK_INT(e.st.bad_requests, 5);
}

static void cl_pipeline(struct env *e)
{
    struct cli *c = cli_open(e->port, 0);
    struct resp r;
    cli_sends(c, "GET /async?ms=80&tag=A HTTP/1.1\r\n\r\n"
                 "GET /async?ms=5&tag=B HTTP/1.1\r\n\r\n"
                 "POST /echo HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
                 "GET /async?ms=1&tag=C HTTP/1.1\r\n\r\n");
    CHECK_INT(cli_resp(c, &r), 0);
    CHECK_STR(r.body, "A");
    CHECK_INT(cli_resp(c, &r), 0);
    CHECK_STR(r.body, "B");
    CHECK_INT(cli_resp(c, &r), 0);
    CHECK_STR(r.body, "POST /echo q= b=3:abc");
    CHECK_INT(cli_resp(c, &r), 0);
    CHECK_STR(r.body, "C");
    /* A burst queued behind a slow answer: the server buffers, stops
     * reading at its high-water mark, and catches up afterwards. */
    CHECK_INT(pipeline_burst(c, "GET /async?ms=150&tag=slow HTTP/1.1\r\n\r\n", 6000), 6000 + 1);
    cli_close(c);
}

static void test_pipeline_async(void)
{
    struct env e = {0};
    struct http_server_config cfg = {.port = 0};
    run_env(&e, &cfg, cl_pipeline);
    CHECK_INT(e.st.requests, 4 + 1 + 6000);
}

static void cl_too_large(struct env *e)
{
    struct resp r;
    struct cli *c = cli_open(e->port, 0);
    cli_sends(c, "POST /echo HTTP/1.1\r\nContent-Length: 100000000\r\n\r\n");
    cli_send(c, "xxxxxxxx", 8);
    CHECK_INT(cli_resp(c, &r), 0);
    CHECK_INT(r.status, 413);
    check_status_obj(&r, 413, "RequestEntityTooLarge");
    CHECK(cli_eof(c, 2000));
    cli_close(c);

    char chunk[600];
    memset(chunk, 'a', sizeof chunk);
    c = cli_open(e->port, 0);
    cli_sends(c, "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (int i = 0; i < 3; i++) {
        cli_sends(c, "258\r\n");
        cli_send(c, chunk, sizeof chunk);
        cli_sends(c, "\r\n");
    }
    CHECK_INT(cli_resp(c, &r), 0);
    CHECK_INT(r.status, 413);
    CHECK(cli_eof(c, 2000));
    cli_close(c);

    /* Under the limit, chunked, works. */
    c = cli_open(e->port, 0);
    cli_sends(c, "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
    CHECK_INT(cli_resp(c, &r), 0);
    CHECK_STR(r.body, "POST /echo q= b=5:abcde");
    cli_close(c);

    /* 431: one huge header, then too many headers. */
    static char big[20000];
    memset(big, 'b', sizeof big - 1);
    c = cli_open(e->port, 0);
    cli_sends(c, "GET /echo HTTP/1.1\r\nX-Big: ");
    cli_sends(c, big);
    cli_sends(c, "\r\n\r\n");
    CHECK_INT(cli_resp(c, &r), 0);
    CHECK_INT(r.status, 431);
    check_status_obj(&r, 431, "RequestHeaderFieldsTooLarge");
    CHECK(cli_eof(c, 2000));
    cli_close(c);
    c = cli_open(e->port, 0);
    cli_sends(c, "GET /echo HTTP/1.1\r\n");
    for (int i = 0; i < 30; i++)
        cli_sends(c, "X-H: v\r\n");
    cli_sends(c, "\r\n");
    CHECK_INT(cli_resp(c, &r), 0);
    CHECK_INT(r.status, 431);
    CHECK(cli_eof(c, 2000));
    cli_close(c);
}

static void test_limits(void)
{
    struct env e = {0};
    struct http_server_config cfg = {.port = 0, .max_body = 1024,
                                     .max_header_bytes = 4096, .max_headers = 20};
    run_env(&e, &cfg, cl_too_large);
    CHECK_INT(e.st.too_large, 4);
    CHECK_INT(e.st.requests, 1);
}

static void cl_slow(struct env *e)
{
    struct resp r;
    struct cli *c = cli_open(e->port, 0);
    long long t0 = now_ms();
    cli_sends(c, "GET /echo HTTP/1.1\r\n");
    for (int i = 0; i < 100; i++) { /* one byte every 20 ms */
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        if (poll(&p, 1, 20) > 0)
            break;
        cli_sends(c, "X");
    }
    CHECK_INT(cli_resp(c, &r), 0);
    CHECK_INT(r.status, 408);
    check_status_obj(&r, 408, "Timeout");
    CHECK(cli_eof(c, 2000));
    long long dt = now_ms() - t0;
    CHECK(dt >= 250 && dt < 3000);
    cli_close(c);

    /* Idle keep-alive connection is closed. */
    c = cli_open(e->port, 0);
    cli_sends(c, "GET /echo HTTP/1.1\r\n\r\n");
    CHECK_INT(cli_resp(c, &r), 0);
    t0 = now_ms();
    CHECK(cli_eof(c, 3000));
    dt = now_ms() - t0;
    CHECK(dt >= 300 && dt < 3000);
    cli_close(c);
}

static void test_timeouts(void)
{
    struct env e = {0};
    struct http_server_config cfg = {.port = 0, .request_timeout_ms = 300,
                                     .idle_timeout_ms = 400};
    run_env(&e, &cfg, cl_slow);
    CHECK_INT(e.st.timeouts, 1);
}

static void cl_max_conns(struct env *e)
{
    struct resp r;
    struct cli *a = cli_open(e->port, 0), *b = cli_open(e->port, 0);
    cli_sends(a, "GET /echo HTTP/1.1\r\n\r\n");
    CHECK_INT(cli_resp(a, &r), 0);
    cli_sends(b, "GET /echo HTTP/1.1\r\n\r\n");
    CHECK_INT(cli_resp(b, &r), 0);
    struct cli *c = cli_open(e->port, 0);
    cli_sends(c, "GET /echo HTTP/1.1\r\n\r\n");
    CHECK_INT(cli_resp(c, &r), 0);
    CHECK_INT(r.status, 503);
    check_status_obj(&r, 503, "ServiceUnavailable");
    CHECK(cli_eof(c, 2000));
    cli_close(c);
    cli_close(a);
    /* A slot frees up once the server has seen the close. */
    int status = 0;
    for (int i = 0; i < 50 && status != 200; i++) {
        usleep(20000);
        c = cli_open(e->port, 0);
        cli_sends(c, "GET /echo HTTP/1.1\r\n\r\n");
        if (cli_resp(c, &r) == 0)
            status = r.status;
        cli_close(c);
    }
    CHECK_INT(status, 200);
    cli_close(b);
}

static void test_max_conns(void)
{
    struct env e = {0};
    struct http_server_config cfg = {.port = 0, .max_conns = 2};
    run_env(&e, &cfg, cl_max_conns);
    CHECK(e.st.conns_rejected >= 1);
}

static void cl_stream_disconnect(struct env *e)
{
    struct cli *c = cli_open(e->port, 0);
    cli_sends(c, "GET /stream HTTP/1.1\r\n\r\n");
    char buf[4096];
    size_t got = 0;
    while (!strstr(buf, "tick") && got < sizeof buf - 1) {
        ssize_t n = recv(c->fd, buf + got, sizeof buf - 1 - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
        buf[got] = '\0';
    }
    CHECK(strstr(buf, "Transfer-Encoding: chunked\r\n") != NULL);
    CHECK(strstr(buf, "\r\n5\r\ntick\n\r\n") != NULL);
    cli_close(c);
    CHECK(wait_flag(&e->aborts, 1, 3000));
}

static void test_stream_disconnect(void)
{
    struct env e = {0};
    struct http_server_config cfg = {.port = 0};
    run_env(&e, &cfg, cl_stream_disconnect);
    CHECK_INT(atomic_load(&e.aborts), 1);
}

static void cl_stream_stall(struct env *e)
{
    struct cli *c = cli_open(e->port, 4096);
    cli_sends(c, "GET /stall HTTP/1.1\r\n\r\n");
    CHECK(wait_flag(&e->stall_done, 1, 20000)); /* never reads */
    cli_close(c);
}

static void test_stream_stall(void)
{
    struct env e = {0};
    struct http_server_config cfg = {.port = 0, .max_stream_pending = 64 * 1024};
    run_env(&e, &cfg, cl_stream_stall);
    CHECK_INT(atomic_load(&e.aborts), 1);
    CHECK_INT(atomic_load(&e.stall_rc), BE_UNAVAIL);
}

static void cl_client_gone(struct env *e)
{
    struct cli *c = cli_open(e->port, 0);
    cli_sends(c, "GET /hold HTTP/1.1\r\n\r\n");
    for (int i = 0; i < 1000 && !atomic_load(&e->held); i++)
        usleep(2000);
    CHECK(atomic_load(&e->held) != NULL);
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    cli_close(c); /* reset: the server closes the conn, the request lives */
    usleep(100000);
}

static void test_client_gone(void)
{
    struct env e = {0};
    struct http_server_config cfg = {.port = 0};
    run_env(&e, &cfg, cl_client_gone); /* on_done answers into the void */
    CHECK_INT(e.st.conns_open, 0);
}

static void test_stream_after_client_gone(void)
{
    struct env e = {0};
    e.held_stream = true;
    struct http_server_config cfg = {.port = 0};
    run_env(&e, &cfg, cl_client_gone);
    CHECK_INT(e.aborts_before_stop, 1);
    CHECK_INT(atomic_load(&e.aborts), 1);
}

static void cl_stop(struct env *e)
{
    struct resp r;
    struct cli *a = cli_open(e->port, 0), *b = cli_open(e->port, 0),
               *c = cli_open(e->port, 0);
    cli_sends(a, "GET /echo HTTP/1.1\r\n\r\n");
    CHECK_INT(cli_resp(a, &r), 0);
    cli_sends(b, "GET /hold HTTP/1.1\r\n\r\n");
    cli_sends(c, "GET /stream HTTP/1.1\r\n\r\n");
    CHECK(wait_flag(&e->streams, 1, 3000));
    for (int i = 0; i < 1000 && !atomic_load(&e->held); i++)
        usleep(2000);
    e->fds[0] = a->fd, e->fds[1] = b->fd, e->fds[2] = c->fd;
    e->nfds = 3;
    free(a), free(b), free(c); /* sockets stay open through the stop */
}

static void test_stop_with_open_conns(void)
{
    struct env e = {0};
    e.answer_after_stop = true;
    struct http_server_config cfg = {.port = 0};
    run_env(&e, &cfg, cl_stop);
    CHECK_INT(e.st.conns_open, 3);
    CHECK_INT(atomic_load(&e.aborts), 1);
    for (int i = 0; i < e.nfds; i++) {
        struct cli *c = calloc(1, sizeof *c);
        c->fd = e.fds[i];
        CHECK(cli_eof(c, 2000));
        cli_close(c);
    }
}

/* Sends `prefix` (may be NULL) then n pipelined GET /echo requests while
 * reading; returns the number of 200 responses seen. */
static int pipeline_burst(struct cli *c, const char *prefix, int n)
{
    size_t cap = (size_t)n * 40 + 256, len = 0, sent = 0;
    char *reqs = malloc(cap);
    if (prefix)
        len += (size_t)snprintf(reqs, cap, "%s", prefix);
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(reqs + len, cap - len,
                                "GET /echo?i=%d HTTP/1.1\r\n\r\n", i);
    long long t0 = now_ms();
    int responses = 0, want = n + (prefix ? 1 : 0);
    char buf[65536];
    char carry[16] = "";
    while (responses < want && now_ms() - t0 < 20000) {
        struct pollfd p = {.fd = c->fd, .events = POLLIN | (sent < len ? POLLOUT : 0)};
        if (poll(&p, 1, 1000) <= 0)
            break;
        if ((p.revents & POLLOUT) && sent < len) {
            ssize_t w = send(c->fd, reqs + sent, len - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (w > 0)
                sent += (size_t)w;
        }
        if (p.revents & POLLIN) {
            size_t cl = strlen(carry);
            memcpy(buf, carry, cl);
            ssize_t r = recv(c->fd, buf + cl, sizeof buf - cl - 1, MSG_DONTWAIT);
            if (r <= 0)
                continue;
            size_t tot = cl + (size_t)r;
            buf[tot] = '\0';
            for (char *s = buf; (s = strstr(s, "HTTP/1.1 200")); s++)
                responses++;
            size_t keep = tot < 11 ? tot : 11; /* a marker split across reads */
            memcpy(carry, buf + tot - keep, keep);
            carry[keep] = '\0';
        }
    }
    free(reqs);
    return responses;
}

/* Mutated requests, sent whole or in small pieces, then a half-close: the
 * server must answer or reject and close every time, never crash or hang. */
static void cl_fuzz(struct env *e)
{
    static const char *base[] = {
        "GET /echo?a=1 HTTP/1.1\r\nHost: x\r\n\r\n",
        "POST /echo HTTP/1.1\r\nContent-Length: 4\r\n\r\nbody",
        "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nbody\r\n0\r\nX-T: 1\r\n\r\n",
        "GET /echo HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nGET /echo HTTP/1.1\r\n\r\n",
        "GET /q/%41?b=%4 HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /echo HTTP/1.1\r\n\r\n",
        "CONNECT x:443 HTTP/1.1\r\n\r\n",
        "POST /echo HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    };
    unsigned seed = 12345;
    char req[512], tmp[4096];
    int closed = 0, runs = 300;
    for (int i = 0; i < runs; i++) {
        const char *b = base[rand_r(&seed) % (sizeof base / sizeof base[0])];
        size_t len = strlen(b);
        memcpy(req, b, len);
        int muts = rand_r(&seed) % 4;
        for (int m = 0; m < muts; m++)
            req[rand_r(&seed) % len] = (char)(rand_r(&seed) % 256);
        struct cli *c = cli_open(e->port, 0);
        if (rand_r(&seed) % 3 == 0) {
            for (size_t off = 0; off < len;) {
                size_t n = 1 + (size_t)(rand_r(&seed) % 7);
                if (n > len - off)
                    n = len - off;
                cli_send(c, req + off, n);
                off += n;
            }
        } else {
            cli_send(c, req, len);
        }
        shutdown(c->fd, SHUT_WR);
        long long deadline = now_ms() + 3000;
        while (now_ms() < deadline) {
            ssize_t n = recv(c->fd, tmp, sizeof tmp, 0);
            if (n <= 0) {
                closed++;
                break;
            }
        }
        cli_close(c);
    }
    CHECK_INT(closed, runs);
}

static void test_fuzz(void)
{
    struct env e = {0};
    struct http_server_config cfg = {.port = 0, .request_timeout_ms = 500};
    run_env(&e, &cfg, cl_fuzz);
    CHECK(e.st.requests > 100);
    CHECK(e.st.bad_requests > 10);
}

enum { PERF_N = 4000 };

static void cl_perf(struct env *e)
{
    struct cli *c = cli_open(e->port, 0);
    struct resp r;
    long long t0 = now_ms();
    int ok = 0;
    for (int i = 0; i < PERF_N; i++) {
        cli_sends(c, "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n");
        if (cli_resp(c, &r) == 0 && r.status == 200)
            ok++;
    }
    long long dt = now_ms() - t0;
    CHECK_INT(ok, PERF_N);
    fprintf(stderr, "  sequential: %d requests in %lld ms\n", PERF_N, dt);

    /* Pipelined burst larger than the read high-water mark. */
    t0 = now_ms();
    int responses = pipeline_burst(c, NULL, PERF_N);
    dt = now_ms() - t0;
    CHECK_INT(responses, PERF_N);
    fprintf(stderr, "  pipelined: %d requests in %lld ms\n", PERF_N, dt);
    cli_close(c);
}

static void test_perf(void)
{
    struct env e = {0};
    struct http_server_config cfg = {.port = 0};
    run_env(&e, &cfg, cl_perf);
    CHECK_INT(e.st.requests, 2 * PERF_N);
}

static void test_start_errors(void)
{
    uv_loop_t loop;
    http_server_t *a = NULL, *b = NULL;
    char err[256];
    uv_loop_init(&loop);
    struct http_server_config cfg = {.host = "not-an-ip", .port = 80};
    CHECK_INT(http_server_start(&loop, &cfg, handler, NULL, &a, err, sizeof err), BE_INVAL);
    cfg.host = "127.0.0.1";
    cfg.port = 0;
    CHECK_INT(http_server_start(&loop, &cfg, handler, NULL, &a, err, sizeof err), 0);
    cfg.port = http_server_port(a);
    CHECK_INT(http_server_start(&loop, &cfg, handler, NULL, &b, err, sizeof err), BE_IO);
    CHECK(strstr(err, "in use") != NULL);
    http_server_stop(a, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_INT(uv_loop_close(&loop), 0);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    RUN(test_start_errors);
    RUN(test_keepalive);
    RUN(test_query_and_malformed);
    RUN(test_pipeline_async);
    RUN(test_limits);
    RUN(test_timeouts);
    RUN(test_max_conns);
    RUN(test_stream_disconnect);
    RUN(test_stream_stall);
    RUN(test_client_gone);
    RUN(test_stream_after_client_gone);
    RUN(test_stop_with_open_conns);
    RUN(test_fuzz);
    RUN(test_perf);
    UNIT_EXIT();
}
