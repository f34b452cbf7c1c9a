/* agent_http.c: the agent's own HTTP endpoint (--listen), on the shared
 * server library apiserver/http.h:
 *   GET /healthz                      "ok"
 *   GET /metrics                      Prometheus text: agent counters and
 *                                     per-pod cpu/memory from the runtime
 *   GET /logs/NS/POD/CONTAINER?follow=true|false&tailLines=N
 *                                     the container's log file (also under
 *                                     /containerLogs/..., the kubelet's path)
 *
 * A log request is a small state machine over asynchronous uv_fs calls, one
 * at a time (open, fstat, a backward scan for tailLines, then forward reads
 * streamed as chunks), so a big or slow file never blocks the loop. With
 * follow it polls the file every 250 ms for appended bytes, reopens it when
 * it was rotated (new inode or shorter), and ends when the client goes away,
 * the pod is gone, or the container was replaced and its file is drained.
 * A client that reads slowly is waited for (no read while more than 1 MiB
 * is unsent). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "common/errors.h"
#include "common/log.h"

#define LOG_CHUNK 65536
#define LOG_POLL_MS 250
#define LOG_MAX_PENDING (1u << 20)

struct logsess {
    struct agent *a;
    http_req_t *req;
    char uid[64], cname[64], id[RT_ID_MAX], path[4096];
    uv_fs_t fs;
    uv_timer_t timer;
    uv_file fd;
    int64_t off, size, scan, tail, nl;
    uint64_t ino;
    bool follow, aborted, streaming, draining;
    char buf[LOG_CHUNK];
};

static void sess_read(struct logsess *s);
static void sess_scan(struct logsess *s);

static void json_error(http_req_t *req, int code, const char *msg)
{
    char body[600];
    int n = snprintf(body, sizeof body,
                     "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\","
                     "\"message\":\"%s\",\"code\":%d}\n", msg, code);
    http_respond(req, code, "application/json", body, (size_t)n, NULL);
}

/* ---- session teardown -------------------------------------------------- */

static void sess_timer_closed(uv_handle_t *h)
{
    struct logsess *s = h->data;
    struct agent *a = s->a;
    a->nlogs--;
    free(s);
    agent_unref(a);
}

static void sess_closed_fd(uv_fs_t *f)
{
    struct logsess *s = f->data;
    uv_fs_req_cleanup(f);
    if (s->streaming)
        http_stream_end(s->req);
    uv_close((uv_handle_t *)&s->timer, sess_timer_closed);
}

/* Ends the session: closes the file (if open), ends the stream, frees. */
static void sess_end(struct logsess *s, int code, const char *msg)
{
    if (!s->streaming) /* on_abort is only set once streaming */
        json_error(s->req, code ? code : 500, msg ? msg : "log read failed");
    uv_timer_stop(&s->timer);
    if (s->fd >= 0) {
        s->fs.data = s;
        uv_file fd = s->fd;
        s->fd = -1;
        if (uv_fs_close(s->a->loop, &s->fs, fd, sess_closed_fd) == 0)
            return;
    }
    if (s->streaming)
        http_stream_end(s->req);
    uv_close((uv_handle_t *)&s->timer, sess_timer_closed);
}

static void sess_abort(void *data)
{
    struct logsess *s = data;
    s->aborted = true; /* the current fs operation ends the session */
}

/* Is the followed container still the one we serve? A pod being deleted
 * still counts until its container has exited (its id is cleared then): what
 * it writes during its grace period is followed too. */
static bool sess_live(struct logsess *s)
{
    struct apod *p = agent_pod_find(s->a, s->uid);
    struct acont *c = p ? agent_cont_find(p, s->cname) : NULL;
    return c && !strcmp(c->id, s->id) && c->view != V_TERMINATED && !s->a->stopping;
}

/* ---- follow ------------------------------------------------------------ */

static void sess_reopened(uv_fs_t *f);
static void on_read_timer(uv_timer_t *t);

static void on_reopen_stat(uv_fs_t *f)
{
    struct logsess *s = f->data;
    s->ino = f->result == 0 ? f->statbuf.st_ino : 0;
    uv_fs_req_cleanup(f);
    sess_read(s);
}

static void on_stat(uv_fs_t *f)
{
    struct logsess *s = f->data;
    int rc = (int)f->result;
    uint64_t ino = f->statbuf.st_ino;
    int64_t size = (int64_t)f->statbuf.st_size;
    uv_fs_req_cleanup(f);
    if (s->aborted) {
        sess_end(s, 0, NULL);
    } else if (rc == 0 && (ino != s->ino || size < s->off)) { /* rotated */
        uv_fs_close(s->a->loop, &s->fs, s->fd, NULL); /* sync close of a regular file */
        uv_fs_req_cleanup(&s->fs);
        s->fd = -1;
        s->fs.data = s;
        uv_fs_open(s->a->loop, &s->fs, s->path, O_RDONLY | O_CLOEXEC, 0, sess_reopened);
    } else if (!sess_live(s) && s->draining) {
        sess_end(s, 0, NULL);
    } else if (!sess_live(s)) { /* one last read: bytes written before it ended */
        s->draining = true;
        sess_read(s);
    } else {
        uv_timer_start(&s->timer, on_read_timer, LOG_POLL_MS, 0);
    }
}

static void sess_reopened(uv_fs_t *f)
{
    struct logsess *s = f->data;
    s->fd = (uv_file)f->result;
    uv_fs_req_cleanup(f);
    if (s->fd < 0) {
        s->fd = -1;
        sess_end(s, 0, NULL);
        return;
    }
    s->off = 0;
    s->fs.data = s;
    uv_fs_fstat(s->a->loop, &s->fs, s->fd, on_reopen_stat);
}

/* ---- forward reads ----------------------------------------------------- */

static void on_read(uv_fs_t *f)
{
    struct logsess *s = f->data;
    ssize_t n = f->result;
    uv_fs_req_cleanup(f);
    if (s->aborted) {
        sess_end(s, 0, NULL);
        return;
    }
    if (n < 0) {
        sess_end(s, 500, uv_strerror((int)n));
        return;
    }
    if (!s->streaming) {
        http_stream_begin(s->req, 200, "text/plain; charset=utf-8", sess_abort, s);
        s->streaming = true;
    }
    if (n > 0) {
        s->off += n;
        if (http_stream_write(s->req, s->buf, (size_t)n) < 0) {
            sess_end(s, 0, NULL);
            return;
        }
        sess_read(s);
        return;
    }
    if (!s->follow) {
        sess_end(s, 0, NULL);
        return;
    }
    s->fs.data = s;
    uv_fs_stat(s->a->loop, &s->fs, s->path, on_stat);
}

static void on_read_timer(uv_timer_t *t) { sess_read(t->data); }

static void sess_read(struct logsess *s)
{
    if (s->aborted) {
        sess_end(s, 0, NULL);
        return;
    }
    if (s->streaming && http_stream_pending(s->req) > LOG_MAX_PENDING) {
        uv_timer_start(&s->timer, on_read_timer, 50, 0);
        return;
    }
    uv_buf_t b = uv_buf_init(s->buf, sizeof s->buf);
    s->fs.data = s;
    uv_fs_read(s->a->loop, &s->fs, s->fd, &b, 1, s->off, on_read);
}

/* ---- tailLines: scan backward for the start offset --------------------- */

static void on_scan(uv_fs_t *f)
{
    struct logsess *s = f->data;
    ssize_t n = f->result;
    uv_fs_req_cleanup(f);
    if (s->aborted || n < 0) {
        sess_end(s, 500, "read error");
        return;
    }
    for (ssize_t i = n - 1; i >= 0; i--) {
        int64_t pos = s->scan + i;
        if (s->buf[i] != '\n' || pos == s->size - 1)
            continue;
        if (++s->nl == s->tail) {
            s->off = pos + 1;
            sess_read(s);
            return;
        }
    }
    if (s->scan == 0) {
        s->off = 0;
        sess_read(s);
        return;
    }
    sess_scan(s);
}

static void sess_scan(struct logsess *s)
{
    int64_t end = s->scan;
    s->scan = end > LOG_CHUNK ? end - LOG_CHUNK : 0;
    uv_buf_t b = uv_buf_init(s->buf, (unsigned)(end - s->scan));
    s->fs.data = s;
    uv_fs_read(s->a->loop, &s->fs, s->fd, &b, 1, s->scan, on_scan);
}

static void on_fstat(uv_fs_t *f)
{
    struct logsess *s = f->data;
    int rc = (int)f->result;
    s->size = (int64_t)f->statbuf.st_size;
    s->ino = f->statbuf.st_ino;
    uv_fs_req_cleanup(f);
    if (rc < 0 || s->aborted) {
        sess_end(s, 500, "stat failed");
    } else if (s->tail == 0) {
        s->off = s->size;
        sess_read(s);
    } else if (s->tail > 0 && s->size > 0) {
        s->scan = s->size;
        sess_scan(s);
    } else {
        sess_read(s);
    }
}

static void on_open(uv_fs_t *f)
{
    struct logsess *s = f->data;
    s->fd = (uv_file)f->result;
    uv_fs_req_cleanup(f);
    if (s->fd < 0) {
        s->fd = -1;
        sess_end(s, 404, "no log file for this container yet");
        return;
    }
    s->fs.data = s;
    uv_fs_fstat(s->a->loop, &s->fs, s->fd, on_fstat);
}

static void serve_logs(struct agent *a, http_req_t *req, const char *rest)
{
    char ns[64] = "", pod[254] = "", cname[64] = "", q[32];
    if (sscanf(rest, "%63[^/]/%253[^/]/%63[^/]", ns, pod, cname) < 2) {
        json_error(req, 400, "want /logs/NAMESPACE/POD/CONTAINER");
        return;
    }
    if (!cname[0] && http_req_query(req, "container", q, sizeof q))
        snprintf(cname, sizeof cname, "%s", q);
    struct apod *p = agent_pod_by_name(a, ns, pod);
    if (!p) {
        json_error(req, 404, "pod not found on this node");
        return;
    }
    struct acont *c = cname[0] ? agent_cont_find(p, cname) : p->ncont == 1 ? &p->conts[0] : NULL;
    if (!c) {
        json_error(req, 400, cname[0] ? "no such container in the pod"
                                      : "a container name must be given for this pod");
        return;
    }
    char path[4096];
    if (!c->id[0] || a->rt->ops->log_path(a->rt, c->id, path, sizeof path) < 0) {
        char msg[300];
        snprintf(msg, sizeof msg, "container \\\"%s\\\" is waiting to start: %s", c->name, c->reason);
        json_error(req, 400, msg);
        return;
    }
    struct logsess *s = calloc(1, sizeof *s);
    if (!s) {
        json_error(req, 500, "out of memory");
        return;
    }
    s->a = a;
    s->req = req;
    s->fd = -1;
    s->tail = -1;
    snprintf(s->uid, sizeof s->uid, "%s", p->uid);
    snprintf(s->cname, sizeof s->cname, "%s", c->name);
    snprintf(s->id, sizeof s->id, "%s", c->id);
    snprintf(s->path, sizeof s->path, "%s", path);
    if (http_req_query(req, "follow", q, sizeof q))
        s->follow = !strcmp(q, "true") || !strcmp(q, "1") || q[0] == '\0';
    if (http_req_query(req, "tailLines", q, sizeof q) && q[0])
        s->tail = atoll(q) < 0 ? -1 : atoll(q);
    uv_timer_init(a->loop, &s->timer);
    s->timer.data = s;
    a->nlogs++;
    agent_ref(a);
    s->fs.data = s;
    if (uv_fs_open(a->loop, &s->fs, s->path, O_RDONLY | O_CLOEXEC, 0, on_open) < 0)
        sess_end(s, 404, "cannot open the log file");
}

/* ---- metrics ----------------------------------------------------------- */

static void serve_metrics(struct agent *a, http_req_t *req)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    if (!f) {
        json_error(req, 500, "out of memory");
        return;
    }
    int pods = 0, running = 0;
    for (struct apod *p = a->pods; p; p = p->next) {
        pods++;
        for (int i = 0; i < p->ncont; i++)
            running += p->conts[i].view == V_RUNNING;
    }
    fprintf(f, "# TYPE berth_agent_pods gauge\nberth_agent_pods %d\n", pods);
    fprintf(f, "# TYPE berth_agent_containers_running gauge\nberth_agent_containers_running %d\n", running);
    const struct agent_stats *st = &a->stats;
    fprintf(f, "# TYPE berth_agent_container_starts_total counter\nberth_agent_container_starts_total %llu\n", st->starts);
    fprintf(f, "# TYPE berth_agent_container_restarts_total counter\nberth_agent_container_restarts_total %llu\n", st->restarts);
    fprintf(f, "# TYPE berth_agent_status_writes_total counter\nberth_agent_status_writes_total %llu\n", st->status_writes);
    fprintf(f, "# TYPE berth_agent_events_total counter\nberth_agent_events_total %llu\n", st->events);
    fprintf(f, "# TYPE berth_agent_probe_failures_total counter\nberth_agent_probe_failures_total %llu\n", st->probe_failures);
    fprintf(f, "# TYPE berth_agent_api_errors_total counter\nberth_agent_api_errors_total %llu\n", st->api_errors);
    fprintf(f, "# TYPE berth_pod_cpu_usage_seconds_total counter\n# TYPE berth_pod_memory_bytes gauge\n");
    for (struct apod *p = a->pods; p; p = p->next) {
        struct rt_usage u;
        if (!p->obj || a->rt->ops->usage(a->rt, p->uid, &u) < 0)
            continue;
        fprintf(f, "berth_pod_cpu_usage_seconds_total{namespace=\"%s\",pod=\"%s\"} %.6f\n", p->ns,
                p->name, (double)u.cpu_usage_ns / 1e9);
        fprintf(f, "berth_pod_memory_bytes{namespace=\"%s\",pod=\"%s\"} %llu\n", p->ns, p->name,
                (unsigned long long)u.memory_bytes);
    }
    agent_metrics_prometheus(a, f);
    fclose(f);
    http_respond_take(req, 200, "text/plain; version=0.0.4", out, len);
}

static void handler(void *data, http_req_t *req)
{
    struct agent *a = data;
    if (strcmp(req->method, "GET") != 0) {
        json_error(req, 405, "only GET is served here");
    } else if (!strcmp(req->path, "/healthz")) {
        http_respond(req, 200, "text/plain", "ok", 2, NULL);
    } else if (!strcmp(req->path, "/metrics")) {
        serve_metrics(a, req);
    } else if (!strncmp(req->path, "/logs/", 6)) {
        serve_logs(a, req, req->path + 6);
    } else if (!strncmp(req->path, "/containerLogs/", 15)) {
        serve_logs(a, req, req->path + 15);
    } else {
        json_error(req, 404, "not found");
    }
}

int agent_http_start(struct agent *a, char *err, size_t errlen)
{
    struct http_server_config cfg = {.host = a->cfg.listen_host, .port = a->cfg.listen_port};
    int rc = http_server_start(a->loop, &cfg, handler, a, &a->srv, err, errlen);
    if (rc == 0) {
        a->cfg.listen_port = http_server_port(a->srv);
        agent_ref(a);
    }
    return rc;
}

static void on_srv_stopped(void *data) { agent_unref(data); }

void agent_http_stop(struct agent *a)
{
    if (a->srv) {
        http_server_t *srv = a->srv;
        a->srv = NULL;
        http_server_stop(srv, on_srv_stopped, a);
    }
}
