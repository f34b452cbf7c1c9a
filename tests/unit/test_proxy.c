/* test_proxy.c: the agent's Service proxy. The backend pool's rules
 * (round-robin, bad marks and their expiry, the last-resort pick, marks and
 * position kept across rebuilds, named ports) on their own; then the real
 * proxy on a loop over loopback TCP: connections to a nodePort alternate
 * between two backends, an endpoint that refuses is skipped and marked
 * bad, 2 MiB go through an echo backend both ways intact, listeners follow
 * Service and Endpoints changes, and stopping leaves no handle behind. */
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "agent/agent.h"
#include "agent/agent_proxy.h"
#include "agent/fake_runtime.h"
#include "unit.h"

static json_t *endpoints(const char *port_name, int port, const char *ip1, const char *ip2)
{
    json_t *ports = json_pack("[{s:i, s:s}]", "port", port, "protocol", "TCP");
    if (port_name) json_object_set_new(json_array_get(ports, 0), "name", json_string(port_name));
    json_t *addrs = json_array();
    if (ip1) json_array_append_new(addrs, json_pack("{s:s}", "ip", ip1));
    if (ip2) json_array_append_new(addrs, json_pack("{s:s}", "ip", ip2));
    return json_pack("{s:s, s:s, s:{s:s, s:s}, s:[{s:o, s:[{s:s}], s:o}]}", "apiVersion", "v1", "kind",
                     "Endpoints", "metadata", "name", "web", "namespace", "default", "subsets",
                     "addresses", addrs, "notReadyAddresses", "ip", "10.9.9.9", "ports", ports);
}

static void test_pool_round_robin_and_bad_marks(void)
{
    json_t *ep = endpoints("http", 8080, "10.0.0.1", "10.0.0.2");
    json_array_append_new(json_object_get(ep, "subsets"),
                          json_pack("{s:[{s:s}], s:[{s:s, s:i}, {s:s, s:i}]}", "addresses", "ip", "10.0.0.3",
                                    "ports", "name", "metrics", "port", 9100, "name", "http", "port", 9090));
    json_t *sport = json_pack("{s:s, s:i}", "name", "http", "port", 80);
    struct proxy_pool p;
    CHECK_INT(proxy_pool_build(&p, sport, ep, NULL), 0);
    CHECK_INT(p.n, 3); /* not-ready addresses are not backends */
    CHECK_STR(p.v[2].ip, "10.0.0.3");
    CHECK_INT(p.v[2].port, 9090);
    int64_t now = 1000;
    CHECK_INT(proxy_pool_pick(&p, now, NULL), 0);
    CHECK_INT(proxy_pool_pick(&p, now, NULL), 1);
    CHECK_INT(proxy_pool_pick(&p, now, NULL), 2);
    CHECK_INT(proxy_pool_pick(&p, now, NULL), 0);
    proxy_pool_mark_bad(&p, 1, now);
    CHECK_INT(proxy_pool_pick(&p, now, NULL), 2);
    CHECK_INT(proxy_pool_pick(&p, now, NULL), 0);
    CHECK_INT(proxy_pool_pick(&p, now + PROXY_BAD_MS - 1, NULL), 2);
    CHECK_INT(proxy_pool_pick(&p, now + PROXY_BAD_MS, NULL), 0);
    CHECK_INT(proxy_pool_pick(&p, now + PROXY_BAD_MS, NULL), 1); /* the mark expired */

    /* tried backends are skipped; when only bad ones are left, the one whose
     * mark ends first; nothing left: -1 */
    bool tried[3] = {true, false, false};
    proxy_pool_mark_bad(&p, 1, now + 10);
    proxy_pool_mark_bad(&p, 2, now);
    CHECK_INT(proxy_pool_pick(&p, now, tried), 2);
    tried[2] = true;
    CHECK_INT(proxy_pool_pick(&p, now, tried), 1);
    tried[1] = true;
    CHECK_INT(proxy_pool_pick(&p, now, tried), -1);

    /* a rebuild keeps the marks of backends that stay */
    json_t *ep2 = endpoints("http", 8080, "10.0.0.2", "10.0.0.4");
    struct proxy_pool q;
    CHECK_INT(proxy_pool_build(&q, sport, ep2, &p), 0);
    CHECK_INT(q.n, 2);
    CHECK_STR(q.v[0].ip, "10.0.0.2");
    CHECK_INT(q.v[0].bad_until_ms, now + 10 + PROXY_BAD_MS);
    CHECK_INT(q.v[1].bad_until_ms, 0);
    CHECK(q.next < q.n);

    /* an unnamed Service port matches the unnamed subset port only */
    json_t *anon = json_pack("{s:i}", "port", 80);
    struct proxy_pool r;
    CHECK_INT(proxy_pool_build(&r, anon, ep2, NULL), 0);
    CHECK_INT(r.n, 0);
    CHECK_INT(proxy_pool_pick(&r, now, NULL), -1);
    proxy_pool_free(&r);
    json_t *ep3 = endpoints(NULL, 7070, "10.0.0.5", NULL);
    CHECK_INT(proxy_pool_build(&r, anon, ep3, NULL), 0);
    CHECK_INT(r.n, 1);
    CHECK_INT(r.v[0].port, 7070);
    proxy_pool_free(&q);
    CHECK_INT(proxy_pool_build(&q, anon, NULL, NULL), 0); /* no Endpoints yet */
    CHECK_INT(q.n, 0);
    proxy_pool_free(&r);
    proxy_pool_free(&p);
    json_decref(ep);
    json_decref(ep2);
    json_decref(ep3);
    json_decref(sport);
    json_decref(anon);
}

/* ---- live: a proxy on a loop ------------------------------------------------ */

static int free_port(void)
{
    uv_loop_t l;
    uv_loop_init(&l);
    uv_tcp_t t;
    uv_tcp_init(&l, &t);
    struct sockaddr_in sa;
    uv_ip4_addr("127.0.0.1", 0, &sa);
    uv_tcp_bind(&t, (struct sockaddr *)&sa, 0);
    struct sockaddr_storage ss;
    int len = sizeof ss;
    uv_tcp_getsockname(&t, (struct sockaddr *)&ss, &len);
    int port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&l, UV_RUN_DEFAULT);
    uv_loop_close(&l);
    return port;
}

/* A backend: "name" servers write their name and close; echo servers send
 * back what they read and close after the peer's EOF. */
struct backend {
    uv_tcp_t srv;
    const char *name;
    bool echo;
    int port, accepted;
};

struct bconn {
    uv_tcp_t tcp;
    struct backend *b;
};

static void free_on_close(uv_handle_t *h) { free(h->data); }

static void bc_close(struct bconn *bc)
{
    if (!uv_is_closing((uv_handle_t *)&bc->tcp)) uv_close((uv_handle_t *)&bc->tcp, free_on_close);
}

static void bc_written(uv_write_t *w, int status)
{
    struct bconn *bc = w->data;
    free(((char **)(w + 1))[0]);
    free(w);
    if (!bc->b->echo) bc_close(bc);
}

static void bc_write(struct bconn *bc, const char *data, size_t n)
{
    uv_write_t *w = malloc(sizeof *w + sizeof(char *));
    char *copy = malloc(n);
    memcpy(copy, data, n);
    ((char **)(w + 1))[0] = copy;
    w->data = bc;
    uv_buf_t buf = uv_buf_init(copy, (unsigned)n);
    uv_write(w, (uv_stream_t *)&bc->tcp, &buf, 1, bc_written);
}

static void b_alloc(uv_handle_t *h, size_t s, uv_buf_t *buf)
{
    buf->base = malloc(65536);
    buf->len = 65536;
}

static void bc_shut(uv_shutdown_t *r, int status)
{
    bc_close(r->data);
    free(r);
}

static void bc_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct bconn *bc = s->data;
    if (n > 0) bc_write(bc, buf->base, (size_t)n);
    free(buf->base);
    if (n == UV_EOF) {
        uv_shutdown_t *r = malloc(sizeof *r);
        r->data = bc;
        uv_shutdown(r, s, bc_shut);
    } else if (n < 0) {
        bc_close(bc);
    }
}

static void b_accept(uv_stream_t *srv, int status)
{
    struct backend *b = srv->data;
    struct bconn *bc = calloc(1, sizeof *bc);
    bc->b = b;
    uv_tcp_init(srv->loop, &bc->tcp);
    bc->tcp.data = bc;
    uv_accept(srv, (uv_stream_t *)&bc->tcp);
    b->accepted++;
    if (b->echo) uv_read_start((uv_stream_t *)&bc->tcp, b_alloc, bc_read);
    else bc_write(bc, b->name, strlen(b->name));
}

static void backend_start(uv_loop_t *loop, struct backend *b, const char *name, bool echo)
{
    b->name = name;
    b->accepted = 0;
    b->echo = echo;
    b->port = free_port();
    uv_tcp_init(loop, &b->srv);
    b->srv.data = b;
    struct sockaddr_in sa;
    uv_ip4_addr("127.0.0.1", b->port, &sa);
    CHECK_INT(uv_tcp_bind(&b->srv, (struct sockaddr *)&sa, 0), 0);
    CHECK_INT(uv_listen((uv_stream_t *)&b->srv, 64, b_accept), 0);
}

/* A client: connects to the node port, sends `send` bytes (then EOF),
 * collects what comes back until EOF. */
struct client {
    uv_tcp_t tcp;
    uv_connect_t creq;
    size_t send, got, sum_sent, sum_got;
    char text[64];
    bool done;
    int err;
};

static void cl_closed(uv_handle_t *h) { ((struct client *)h->data)->done = true; }

static void cl_alloc(uv_handle_t *h, size_t s, uv_buf_t *buf)
{
    buf->base = malloc(65536);
    buf->len = 65536;
}

static void cl_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct client *c = s->data;
    if (n > 0) {
        for (ssize_t i = 0; i < n; i++) c->sum_got += (unsigned char)buf->base[i] * (c->got + (size_t)i + 1);
        if (c->got + (size_t)n < sizeof c->text) memcpy(c->text + c->got, buf->base, (size_t)n);
        c->got += (size_t)n;
    }
    free(buf->base);
    if (n < 0) {
        if (n != UV_EOF) c->err = (int)n;
        uv_close((uv_handle_t *)&c->tcp, cl_closed);
    }
}

static void shutdown_free(uv_shutdown_t *r, int status) { free(r); }

static void cl_wrote(uv_write_t *w, int status)
{
    free(w->data);
    uv_shutdown_t *r = malloc(sizeof *r);
    if (uv_shutdown(r, w->handle, shutdown_free)) free(r);
    free(w);
}

static void cl_connected(uv_connect_t *req, int status)
{
    struct client *c = req->data;
    if (status < 0) {
        c->err = status;
        uv_close((uv_handle_t *)&c->tcp, cl_closed);
        return;
    }
    uv_read_start((uv_stream_t *)&c->tcp, cl_alloc, cl_read);
    if (!c->send) return;
    char *data = malloc(c->send);
    for (size_t i = 0; i < c->send; i++) {
        data[i] = (char)(i * 7 + i / 251);
        c->sum_sent += (unsigned char)data[i] * (i + 1);
    }
    uv_write_t *w = malloc(sizeof *w);
    w->data = data;
    uv_buf_t buf = uv_buf_init(data, (unsigned)c->send);
    uv_write(w, (uv_stream_t *)&c->tcp, &buf, 1, cl_wrote);
}

static void run_client(uv_loop_t *loop, int port, size_t send, struct client *c)
{
    memset(c, 0, sizeof *c);
    c->send = send;
    uv_tcp_init(loop, &c->tcp);
    c->tcp.data = c->creq.data = c;
    struct sockaddr_in sa;
    uv_ip4_addr("127.0.0.1", port, &sa);
    uv_tcp_connect(&c->creq, &c->tcp, (struct sockaddr *)&sa, cl_connected);
    while (!c->done) uv_run(loop, UV_RUN_ONCE);
}

static json_t *service(int node_port)
{
    return json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s, s:{s:s}, s:[{s:s, s:i, s:s, s:i, s:s}]}}",
                     "apiVersion", "v1", "kind", "Service", "metadata", "name", "web", "namespace",
                     "default", "spec", "type", "NodePort", "selector", "app", "web", "ports", "name",
                     "http", "port", 80, "targetPort", "http", "nodePort", node_port, "protocol", "TCP");
}

static json_t *endpoints_ports(int p1, int p2, int p3)
{
    json_t *subsets = json_array();
    int ports[3] = {p1, p2, p3};
    for (int i = 0; i < 3; i++)
        if (ports[i])
            json_array_append_new(subsets, json_pack("{s:[{s:s}], s:[{s:s, s:i, s:s}]}", "addresses", "ip",
                                                     "127.0.0.1", "ports", "name", "http", "port", ports[i],
                                                     "protocol", "TCP"));
    return json_pack("{s:s, s:s, s:{s:s, s:s}, s:o}", "apiVersion", "v1", "kind", "Endpoints", "metadata",
                     "name", "web", "namespace", "default", "subsets", subsets);
}

static void stopped(void *data) { *(bool *)data = true; }

static void test_proxy_live(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    int64_t now = 0;
    rt_t *rt = fake_rt_new(&now);
    struct agent_config cfg = {.name = "n1", .listen_host = "127.0.0.1", .listen_port = 0};
    struct agent *a;
    char err[256];
    CHECK_INT(agent_new(&loop, &cfg, rt, &a, err, sizeof err), 0);
    CHECK_INT(agent_proxy_start(a), 0);

    struct backend ba, bb, be;
    backend_start(&loop, &ba, "A", false);
    backend_start(&loop, &bb, "B", false);
    backend_start(&loop, &be, "E", true);
    int dead = free_port(), np = free_port();

    json_t *svc = service(np);
    agent_proxy_apply(a, "services", "ADDED", svc);
    CHECK_INT(agent_proxy_backends(a, np), 0);
    struct client c;
    run_client(&loop, np, 0, &c); /* no endpoints: the connection is closed */
    CHECK_INT(c.got, 0);

    json_t *ep = endpoints_ports(ba.port, bb.port, dead);
    agent_proxy_apply(a, "endpoints", "ADDED", ep);
    CHECK_INT(agent_proxy_backends(a, np), 3);
    int na = 0, nb = 0;
    for (int i = 0; i < 6; i++) {
        run_client(&loop, np, 0, &c);
        CHECK_INT(c.err, 0);
        if (!strcmp(c.text, "A")) na++;
        if (!strcmp(c.text, "B")) nb++;
    }
    CHECK_INT(na, 3); /* the dead endpoint was skipped every time */
    CHECK_INT(nb, 3);

    /* 2 MiB both ways through the echo backend */
    json_decref(ep);
    ep = endpoints_ports(be.port, 0, 0);
    agent_proxy_apply(a, "endpoints", "MODIFIED", ep);
    CHECK_INT(agent_proxy_backends(a, np), 1);
    run_client(&loop, np, 2 << 20, &c);
    CHECK_INT(c.err, 0);
    CHECK_INT(c.got, 2 << 20);
    CHECK(c.sum_got == c.sum_sent);
    CHECK_INT(be.accepted, 1);

    /* the Service goes: so does the listener */
    agent_proxy_apply(a, "services", "DELETED", svc);
    CHECK_INT(agent_proxy_backends(a, np), -1);
    run_client(&loop, np, 0, &c);
    CHECK(c.err != 0);

    bool done = false;
    agent_stop(a, stopped, &done);
    uv_close((uv_handle_t *)&ba.srv, NULL);
    uv_close((uv_handle_t *)&bb.srv, NULL);
    uv_close((uv_handle_t *)&be.srv, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(done);
    CHECK(a->proxy == NULL);
    agent_free(a);
    CHECK_INT(uv_loop_close(&loop), 0);
    rt->ops->close(rt);
    json_decref(svc);
    json_decref(ep);
}

int main(void)
{
    RUN(test_pool_round_robin_and_bad_marks);
    RUN(test_proxy_live);
    UNIT_EXIT();
}
