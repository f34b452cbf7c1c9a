/* test_uvhttp.c: the asynchronous HTTP client (common/uvhttp.c) against the
 * HTTP server (apiserver/http.c), both on one loop over real TCP.
 *
 * Each test starts a server on an ephemeral port with a handler that picks
 * its behaviour from the path (/echo, /hold, /stream, /status/N, ...), runs
 * the client until the scenario's callbacks have fired, then stops both and
 * checks that the loop closes with no handle left. */
#include <stdlib.h>
#include <string.h>

#include "apiserver/http.h"
#include "common/errors.h"
#include "common/uvhttp.h"
#include "tests/unit/unit.h"

struct env {
    uv_loop_t loop;
    http_server_t *srv;
    int port;
    char base[64];
    uvhttp_t *c;
    http_req_t *held;
    int stream_aborts;
    int done;
};

struct tick {
    uv_timer_t t;
    http_req_t *req;
    struct env *e;
    int left;
    bool aborted;
};

static void tick_closed(uv_handle_t *h) { free(h->data); }

static void tick_fire(uv_timer_t *t)
{
    struct tick *k = t->data;
    if (k->aborted || k->left == 0) {
        http_stream_end(k->req);
        uv_close((uv_handle_t *)t, tick_closed);
        return;
    }
    char line[32];
    int n = snprintf(line, sizeof line, "line%d\n", k->left--);
    http_stream_write(k->req, line, (size_t)n);
}

static void tick_abort(void *data)
{
    struct tick *k = data;
    k->aborted = true;
    k->e->stream_aborts++;
}

static void handler(void *data, http_req_t *req)
{
    struct env *e = data;
    if (!strcmp(req->path, "/echo")) {
        char buf[256];
        int n = snprintf(buf, sizeof buf, "%s %s ", req->method, req->query);
        size_t len = (size_t)n;
        char *out = malloc(len + req->body_len);
        memcpy(out, buf, len);
        memcpy(out + len, req->body, req->body_len);
        http_respond_take(req, 200, "text/plain", out, len + req->body_len);
    } else if (!strcmp(req->path, "/hold")) {
        e->held = req;
    } else if (!strncmp(req->path, "/status/", 8)) {
        http_respond(req, atoi(req->path + 8), "text/plain", "nope", 4, NULL);
    } else if (!strcmp(req->path, "/stream")) {
        struct tick *k = calloc(1, sizeof *k);
        k->req = req;
        k->e = e;
        k->left = 5;
        http_stream_begin(req, 200, "text/plain", tick_abort, k);
        uv_timer_init(&e->loop, &k->t);
        k->t.data = k;
        uv_timer_start(&k->t, tick_fire, 5, 5);
    } else if (!strcmp(req->path, "/big")) {
        size_t n = 200000;
        char *b = malloc(n);
        memset(b, 'x', n);
        http_respond_take(req, 200, "text/plain", b, n);
    } else {
        http_respond(req, 404, "text/plain", "", 0, NULL);
    }
}

static void env_start(struct env *e, unsigned idle_ms, const struct uvhttp_config *cc)
{
    memset(e, 0, sizeof *e);
    uv_loop_init(&e->loop);
    struct http_server_config cfg = {.host = "127.0.0.1", .port = 0, .idle_timeout_ms = idle_ms};
    char err[256];
    CHECK_INT(http_server_start(&e->loop, &cfg, handler, e, &e->srv, err, sizeof err), 0);
    e->port = http_server_port(e->srv);
    snprintf(e->base, sizeof e->base, "http://127.0.0.1:%d/", e->port);
    CHECK_INT(uvhttp_new(&e->loop, e->base, cc, &e->c, err, sizeof err), 0);
}

static void on_closed(void *data) { (*(int *)data)++; }

static void env_stop(struct env *e)
{
    int closed = 0;
    if (e->held)
        http_respond(e->held, 200, "text/plain", "late", 4, NULL);
    uvhttp_close(e->c, on_closed, &closed);
    http_server_stop(e->srv, NULL, NULL);
    uv_run(&e->loop, UV_RUN_DEFAULT);
    CHECK_INT(closed, 1);
    CHECK_INT(uv_loop_close(&e->loop), 0);
}

/* Runs the loop until *flag reaches want (bounded by a 5 s timer). */
static void on_guard(uv_timer_t *t) { uv_stop(t->loop); }
static void run_until(struct env *e, int *flag, int want)
{
    uv_timer_t guard;
    uv_timer_init(&e->loop, &guard);
    uv_timer_start(&guard, on_guard, 5000, 0);
    while (*flag < want && uv_timer_get_due_in(&guard) > 0)
        uv_run(&e->loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&guard, NULL);
    uv_run(&e->loop, UV_RUN_NOWAIT);
}

static void run_for(struct env *e, int ms)
{
    int never = 0;
    uv_timer_t guard;
    uv_timer_init(&e->loop, &guard);
    uv_timer_start(&guard, on_guard, (uint64_t)ms, 0);
    while (!never && uv_timer_get_due_in(&guard) > 0)
        uv_run(&e->loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&guard, NULL);
    uv_run(&e->loop, UV_RUN_NOWAIT);
}

struct res {
    struct env *e;
    int calls, rc, status;
    char body[512];
    size_t len;
};

static void on_res(void *data, int rc, int status, const char *body, size_t len)
{
    struct res *r = data;
    r->calls++;
    r->rc = rc;
    r->status = status;
    r->len = len;
    snprintf(r->body, sizeof r->body, "%.*s", (int)len, body);
    if (r->e)
        r->e->done++;
}

static void test_get_post_keepalive(void)
{
    struct env e;
    env_start(&e, 0, NULL);
    struct res a = {.e = &e}, b = {.e = &e};
    CHECK_INT(uvhttp_request(e.c, "GET", "/echo?x=1", NULL, NULL, 0, on_res, &a), 0);
    CHECK_INT(a.calls, 0); /* never from inside the call */
    run_until(&e, &e.done, 1);
    CHECK_INT(a.rc, 0);
    CHECK_INT(a.status, 200);
    CHECK_STR(a.body, "GET x=1 ");
    CHECK_INT(uvhttp_request(e.c, "POST", "/echo", "application/json", "{\"a\":1}", 7, on_res, &b), 0);
    run_until(&e, &e.done, 2);
    CHECK_STR(b.body, "POST  {\"a\":1}");
    struct http_server_stats st;
    http_server_stats(e.srv, &st);
    CHECK_INT(st.conns_accepted, 1);
    CHECK_INT(uvhttp_request(e.c, "GET", "no-slash", NULL, NULL, 0, on_res, &b), BE_INVAL);
    env_stop(&e);
}

static void test_pool_concurrency(void)
{
    struct env e;
    struct uvhttp_config cc = {.max_conns = 3};
    env_start(&e, 0, &cc);
    struct res r[20];
    for (int i = 0; i < 20; i++) {
        r[i] = (struct res){.e = &e};
        char path[32];
        snprintf(path, sizeof path, "/echo?i=%d", i);
        CHECK_INT(uvhttp_request(e.c, "GET", path, NULL, NULL, 0, on_res, &r[i]), 0);
    }
    run_until(&e, &e.done, 20);
    for (int i = 0; i < 20; i++) {
        char want[32];
        snprintf(want, sizeof want, "GET i=%d ", i);
        CHECK_INT(r[i].calls, 1);
        CHECK_STR(r[i].body, want);
    }
    struct http_server_stats st;
    http_server_stats(e.srv, &st);
    CHECK(st.conns_accepted <= 3);
    struct res big = {.e = &e};
    uvhttp_request(e.c, "GET", "/big", NULL, NULL, 0, on_res, &big);
    run_until(&e, &e.done, 21);
    CHECK_INT(big.rc, 0);
    CHECK_INT(big.len, 200000);
    env_stop(&e);
}

static void test_errors(void)
{
    struct env e;
    struct uvhttp_config cc = {.timeout_ms = 150, .max_body = 1000};
    env_start(&e, 0, &cc);
    struct res hold = {.e = &e}, st = {.e = &e}, big = {.e = &e};
    uvhttp_request(e.c, "GET", "/hold", NULL, NULL, 0, on_res, &hold);
    uvhttp_request(e.c, "GET", "/status/409", NULL, NULL, 0, on_res, &st);
    uvhttp_request(e.c, "GET", "/big", NULL, NULL, 0, on_res, &big);
    run_until(&e, &e.done, 3);
    CHECK_INT(hold.rc, BE_TIMEOUT);
    CHECK(strstr(hold.body, "no answer") != NULL);
    CHECK_INT(st.rc, 0);
    CHECK_INT(st.status, 409);
    CHECK_STR(st.body, "nope");
    CHECK_INT(big.rc, BE_TOOBIG);
    env_stop(&e);

    /* connection refused: a port nobody listens on any more */
    uv_loop_t loop;
    uv_loop_init(&loop);
    uvhttp_t *c;
    char err[128], url[64];
    snprintf(url, sizeof url, "http://localhost:%d", e.port);
    CHECK_INT(uvhttp_new(&loop, url, NULL, &c, err, sizeof err), 0);
    struct res ref = {0};
    uvhttp_request(c, "GET", "/", NULL, NULL, 0, on_res, &ref);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_INT(ref.calls, 1);
    CHECK_INT(ref.rc, BE_UNAVAIL);
    CHECK(strstr(ref.body, "connect to") != NULL);
    uvhttp_close(c, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_INT(uv_loop_close(&loop), 0);
    CHECK_INT(uvhttp_new(&loop, "https://x", NULL, &c, err, sizeof err), BE_INVAL);
}

/* The server closes idle keep-alive connections after 50 ms: a later
 * request still succeeds (fresh connection, or retried once). */
static void test_stale_keepalive(void)
{
    struct env e;
    env_start(&e, 50, NULL);
    struct res a = {.e = &e}, b = {.e = &e};
    uvhttp_request(e.c, "GET", "/echo", NULL, NULL, 0, on_res, &a);
    run_until(&e, &e.done, 1);
    uv_sleep(120); /* the server's idle timer fires on the next loop turn */
    uv_run(&e.loop, UV_RUN_NOWAIT);
    uvhttp_request(e.c, "GET", "/echo?again", NULL, NULL, 0, on_res, &b);
    run_until(&e, &e.done, 2);
    CHECK_INT(b.rc, 0);
    CHECK_STR(b.body, "GET again ");
    env_stop(&e);
}

struct sres {
    struct env *e;
    char data[256];
    size_t len;
    int ends, rc, status, stop_after;
    char body[64];
    uvhttp_stream_t *s;
};

static int s_data(void *d, const char *buf, size_t len)
{
    struct sres *s = d;
    if (s->len + len < sizeof s->data) {
        memcpy(s->data + s->len, buf, len);
        s->len += len;
        s->data[s->len] = '\0';
    }
    return s->stop_after && strstr(s->data, "line3") ? 1 : 0;
}

static void s_end(void *d, int rc, int status, const char *body, size_t len)
{
    struct sres *s = d;
    s->ends++;
    s->rc = rc;
    s->status = status;
    snprintf(s->body, sizeof s->body, "%.*s", (int)len, body);
    s->e->done++;
}

static void test_stream(void)
{
    struct env e;
    env_start(&e, 0, NULL);
    struct sres full = {.e = &e}, stop = {.e = &e, .stop_after = 1}, bad = {.e = &e};
    struct uvhttp_stream_opts o = {.path = "/stream", .on_data = s_data, .on_end = s_end, .data = &full};
    CHECK_INT(uvhttp_stream(e.c, &o, &full.s), 0);
    o.data = &stop;
    CHECK_INT(uvhttp_stream(e.c, &o, &stop.s), 0);
    o.path = "/status/410";
    o.data = &bad;
    CHECK_INT(uvhttp_stream(e.c, &o, &bad.s), 0);
    run_until(&e, &e.done, 3);
    CHECK_INT(full.ends, 1);
    CHECK_INT(full.rc, 0);
    CHECK_INT(full.status, 200);
    CHECK_STR(full.data, "line5\nline4\nline3\nline2\nline1\n");
    CHECK_INT(stop.ends, 1);
    CHECK_INT(stop.rc, BE_SHUTDOWN);
    CHECK_INT(bad.status, 410);
    CHECK_STR(bad.body, "nope");
    CHECK_INT(bad.len, 0);

    /* explicit cancel, then a stream left open at close */
    struct sres c1 = {.e = &e}, c2 = {.e = &e};
    o.path = "/hold";
    o.data = &c1;
    uvhttp_stream(e.c, &o, &c1.s);
    o.data = &c2;
    o.path = "/stream";
    uvhttp_stream(e.c, &o, &c2.s);
    run_for(&e, 30); /* both connected, c2 mid-stream */
    CHECK_INT(c1.ends, 0);
    env_stop(&e);
    CHECK_INT(c1.ends, 1);
    CHECK_INT(c2.ends, 1);
}

static void test_stream_cancel_idle(void)
{
    struct env e;
    env_start(&e, 0, NULL);
    struct sres a = {.e = &e}, b = {.e = &e};
    struct uvhttp_stream_opts o = {.path = "/stream", .on_data = s_data, .on_end = s_end, .data = &a};
    uvhttp_stream(e.c, &o, &a.s);
    uvhttp_stream_cancel(a.s);
    CHECK_INT(a.ends, 1);
    CHECK_INT(a.rc, BE_SHUTDOWN);
    o.path = "/hold";
    o.idle_timeout_ms = 100;
    o.data = &b;
    uvhttp_stream(e.c, &o, &b.s);
    run_until(&e, &b.ends, 1);
    CHECK_INT(b.rc, BE_TIMEOUT);
    env_stop(&e);
}

static void test_parse_url(void)
{
    char h[64];
    int p;
    CHECK_INT(uvhttp_parse_url("http://1.2.3.4:99/x", h, sizeof h, &p), 0);
    CHECK_STR(h, "1.2.3.4");
    CHECK_INT(p, 99);
    CHECK_INT(uvhttp_parse_url("http://node1", h, sizeof h, &p), 0);
    CHECK_INT(p, 80);
    CHECK_INT(uvhttp_parse_url("http://[::1]:7070", h, sizeof h, &p), 0);
    CHECK_STR(h, "::1");
    CHECK_INT(uvhttp_parse_url("http://h:0", h, sizeof h, &p), BE_INVAL);
    CHECK_INT(uvhttp_parse_url("http://:80", h, sizeof h, &p), BE_INVAL);
    CHECK_INT(uvhttp_parse_url("ftp://h", h, sizeof h, &p), BE_INVAL);
}

int main(void)
{
    RUN(test_parse_url);
    RUN(test_get_post_keepalive);
    RUN(test_pool_concurrency);
    RUN(test_errors);
    RUN(test_stale_keepalive);
    RUN(test_stream);
    RUN(test_stream_cancel_idle);
    UNIT_EXIT();
}
