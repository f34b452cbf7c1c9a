/* raftnet.c: the TCP_NODELAY wrapper around raft_uv_tcp (see raftnet.h).
 *
 * Each method forwards to the inner TCP transport. Accepted streams arrive
 * through on_accept and connected ones through on_connect, which set
 * TCP_NODELAY and pass the stream on unchanged; a connect request gets a
 * small heap wrapper so the caller's request is completed exactly once,
 * also when the inner transport cancels it on close. */
#include "store/raftnet.h"

#include <stdio.h>
#include <stdlib.h>

struct nd_connect {
    struct raft_uv_connect req;     /* given to the TCP transport */
    struct raft_uv_connect *orig;   /* raft's request */
    raft_uv_connect_cb cb;
};

static struct raftnet *of_tcp(struct raft_uv_transport *t) { return t->data; }
static struct raftnet *of_pub(struct raft_uv_transport *t) { return t->impl; }

static void nodelay(struct uv_stream_s *stream)
{
    if (stream && stream->type == UV_TCP)
        uv_tcp_nodelay((uv_tcp_t *)stream, 1); /* best effort: a failure only costs latency */
}

static int nd_init(struct raft_uv_transport *t, raft_id id, const char *address)
{
    struct raftnet *n = of_pub(t);
    int rv = n->tcp.init(&n->tcp, id, address);
    if (rv != 0)
        snprintf(t->errmsg, sizeof t->errmsg, "%s", n->tcp.errmsg);
    return rv;
}

static void on_accept(struct raft_uv_transport *t, raft_id id, const char *address,
                      struct uv_stream_s *stream)
{
    struct raftnet *n = of_tcp(t);
    nodelay(stream);
    n->accept_cb(&n->pub, id, address, stream);
}

static int nd_listen(struct raft_uv_transport *t, raft_uv_accept_cb cb)
{
    struct raftnet *n = of_pub(t);
    n->accept_cb = cb;
    int rv = n->tcp.listen(&n->tcp, on_accept);
    if (rv != 0)
        snprintf(t->errmsg, sizeof t->errmsg, "%s", n->tcp.errmsg);
    return rv;
}

static void on_connect(struct raft_uv_connect *req, struct uv_stream_s *stream, int status)
{
    struct nd_connect *c = req->data;
    struct raft_uv_connect *orig = c->orig;
    raft_uv_connect_cb cb = c->cb;
    free(c);
    if (status == 0)
        nodelay(stream);
    cb(orig, stream, status);
}

static int nd_connect(struct raft_uv_transport *t, struct raft_uv_connect *req, raft_id id,
                      const char *address, raft_uv_connect_cb cb)
{
    struct raftnet *n = of_pub(t);
    struct nd_connect *c = malloc(sizeof *c);
    if (!c)
        return RAFT_NOMEM;
    c->req.data = c;
    c->orig = req;
    c->cb = cb;
    req->cb = cb;
    int rv = n->tcp.connect(&n->tcp, &c->req, id, address, on_connect);
    if (rv != 0) { /* the callback will not run */
        snprintf(t->errmsg, sizeof t->errmsg, "%s", n->tcp.errmsg);
        free(c);
    }
    return rv;
}

static void on_closed(struct raft_uv_transport *t)
{
    struct raftnet *n = of_tcp(t);
    if (n->close_cb)
        n->close_cb(&n->pub);
}

static void nd_close(struct raft_uv_transport *t, raft_uv_transport_close_cb cb)
{
    struct raftnet *n = of_pub(t);
    n->close_cb = cb;
    n->tcp.close(&n->tcp, on_closed);
}

int raftnet_init(struct raftnet *n, uv_loop_t *loop)
{
    int rv = raft_uv_tcp_init(&n->tcp, loop);
    if (rv != 0)
        return rv;
    n->tcp.data = n;
    n->pub.data = NULL; /* raft_uv sets it */
    n->pub.impl = n;
    n->pub.errmsg[0] = '\0';
    n->pub.init = nd_init;
    n->pub.listen = nd_listen;
    n->pub.connect = nd_connect;
    n->pub.close = nd_close;
    n->accept_cb = NULL;
    n->close_cb = NULL;
    return 0;
}

void raftnet_close(struct raftnet *n) { raft_uv_tcp_close(&n->tcp); }
