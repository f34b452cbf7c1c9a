/* agent_probes.c: liveness and readiness probes.
 *
 * agent_probes_tick() runs every 200 ms and starts each due probe of each
 * running container: one probe of a kind in flight at a time, the first
 * after initialDelaySeconds, then every periodSeconds. Kinds:
 *   exec       rt->ops->exec_sync on the libuv thread pool (uv_queue_work):
 *              the only blocking call the agent makes, and off the loop;
 *   httpGet    a GET with uvhttp to host (default: the pod IP, which with
 *              host networking is the host's) : port + path; 200-399 is
 *              success;
 *   tcpSocket  uv_tcp_connect bounded by a timer.
 * Each attempt is bounded by timeoutSeconds. Results find their container
 * again by (pod uid, container name, container id, generation), so a result
 * that arrives after a restart or a deletion is dropped. successThreshold
 * consecutive successes make a probe pass, failureThreshold consecutive
 * failures make it fail: a failed readiness probe clears Ready, a failed
 * liveness probe kills the container (the restart policy then restarts it,
 * counting a restart) and records an Unhealthy event. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "common/errors.h"
#include "common/log.h"

struct probe_run {
    struct agent *a;
    char uid[64], cname[64], id[RT_ID_MAX];
    unsigned gen;
    bool liveness;
    int timeout_ms;
    /* exec */
    uv_work_t work;
    char **argv;
    int result;
    char out[256];
    /* tcp */
    uv_tcp_t tcp;
    uv_connect_t conn;
    uv_timer_t timer;
    int handles;
    bool done;
};

static int64_t field(const json_t *spec, const char *key, int64_t dflt)
{
    json_t *v = json_object_get(spec, key);
    return json_is_integer(v) && json_integer_value(v) >= 0 ? json_integer_value(v) : dflt;
}

void agent_probes_reset(struct acont *c, const json_t *cspec, int64_t now)
{
    struct aprobe *ps[2] = {&c->live, &c->readyp};
    for (int i = 0; i < 2; i++) {
        struct aprobe *p = ps[i];
        p->gen++;
        p->inflight = false;
        p->successes = p->failures = 0;
        p->ok = i == 0; /* liveness passes until it fails; readiness the other way */
        p->next_ms = now + field(p->spec, "initialDelaySeconds", 0) * 1000;
    }
}

/* ---- results ----------------------------------------------------------- */

static void probe_result(struct probe_run *r, bool ok, const char *detail)
{
    struct agent *a = r->a;
    struct apod *p = a->stopping ? NULL : agent_pod_find(a, r->uid);
    struct acont *c = p ? agent_cont_find(p, r->cname) : NULL;
    struct aprobe *pr = c ? (r->liveness ? &c->live : &c->readyp) : NULL;
    if (!pr || strcmp(c->id, r->id) != 0 || pr->gen != r->gen || !pr->spec)
        return;
    pr->inflight = false;
    if (ok) {
        pr->failures = 0;
        if (++pr->successes >= field(pr->spec, "successThreshold", 1))
            pr->ok = true;
        return;
    }
    a->stats.probe_failures++;
    pr->successes = 0;
    if (++pr->failures < field(pr->spec, "failureThreshold", 3))
        return;
    bool was_ok = pr->ok;
    pr->ok = false;
    char msg[400];
    snprintf(msg, sizeof msg, "%s probe failed: %s", r->liveness ? "Liveness" : "Readiness", detail);
    if (r->liveness) {
        agent_event(a, p, c->name, "Warning", "Unhealthy", msg);
        agent_cont_kill(a, p, c, msg);
    } else if (was_ok || pr->failures == field(pr->spec, "failureThreshold", 3)) {
        agent_event(a, p, c->name, "Warning", "Unhealthy", msg);
    }
}

static void run_free(struct probe_run *r)
{
    if (r->argv) {
        for (char **v = r->argv; *v; v++)
            free(*v);
        free(r->argv);
    }
    struct agent *a = r->a;
    free(r);
    agent_unref(a);
}

/* ---- exec -------------------------------------------------------------- */

static void exec_work(uv_work_t *w)
{
    struct probe_run *r = w->data;
    rt_t *rt = r->a->rt;
    r->result = rt->ops->exec_sync(rt, r->id, r->argv, r->timeout_ms, r->out, sizeof r->out);
}

static void exec_done(uv_work_t *w, int status)
{
    struct probe_run *r = w->data;
    char detail[300];
    if (r->result < 0)
        snprintf(detail, sizeof detail, "%s", be_strerror(r->result));
    else
        snprintf(detail, sizeof detail, "command exited %d: %.200s", r->result, r->out);
    probe_result(r, status == 0 && r->result == 0, detail);
    run_free(r);
}

static void start_exec(struct probe_run *r, const json_t *cmd)
{
    size_t n = json_array_size(cmd), k = 0;
    r->argv = calloc(n + 1, sizeof *r->argv);
    for (size_t i = 0; r->argv && i < n; i++)
        if (json_is_string(json_array_get(cmd, i)))
            r->argv[k++] = strdup(json_string_value(json_array_get(cmd, i)));
    if (!r->argv || k == 0) {
        probe_result(r, false, "exec probe without a command");
        run_free(r);
        return;
    }
    r->work.data = r;
    if (uv_queue_work(r->a->loop, &r->work, exec_work, exec_done) < 0) {
        probe_result(r, false, "cannot queue exec");
        run_free(r);
    }
}

/* ---- tcpSocket --------------------------------------------------------- */

static void tcp_closed(uv_handle_t *h)
{
    struct probe_run *r = h->data;
    if (--r->handles == 0)
        run_free(r);
}

static void tcp_finish(struct probe_run *r, bool ok, const char *detail)
{
    if (r->done)
        return;
    r->done = true;
    probe_result(r, ok, detail);
    uv_close((uv_handle_t *)&r->tcp, tcp_closed);
    uv_close((uv_handle_t *)&r->timer, tcp_closed);
}

static void tcp_connected(uv_connect_t *c, int status)
{
    struct probe_run *r = c->data;
    if (status != UV_ECANCELED)
        tcp_finish(r, status == 0, status == 0 ? "" : uv_strerror(status));
}

static void tcp_timeout(uv_timer_t *t) { tcp_finish(t->data, false, "timed out"); }

static void start_tcp(struct probe_run *r, const char *host, int port)
{
    struct sockaddr_storage sa;
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)&sa) != 0 &&
        uv_ip6_addr(host, port, (struct sockaddr_in6 *)&sa) != 0) {
        probe_result(r, false, "bad host");
        run_free(r);
        return;
    }
    uv_tcp_init(r->a->loop, &r->tcp);
    uv_timer_init(r->a->loop, &r->timer);
    r->tcp.data = r->timer.data = r->conn.data = r;
    r->handles = 2;
    uv_timer_start(&r->timer, tcp_timeout, (uint64_t)r->timeout_ms, 0);
    int rc = uv_tcp_connect(&r->conn, &r->tcp, (struct sockaddr *)&sa, tcp_connected);
    if (rc < 0)
        tcp_finish(r, false, uv_strerror(rc));
}

/* ---- httpGet ----------------------------------------------------------- */

struct http_probe {
    struct probe_run *r;
    uvhttp_t *client;
};

static void http_closed(void *data) { run_free(data); }

static void http_done(void *data, int rc, int status, const char *body, size_t len)
{
    struct http_probe *h = data;
    char detail[300];
    if (rc < 0)
        snprintf(detail, sizeof detail, "%.*s", (int)len, body);
    else
        snprintf(detail, sizeof detail, "HTTP probe failed with statuscode: %d", status);
    probe_result(h->r, rc == 0 && status >= 200 && status < 400, detail);
    uvhttp_close(h->client, http_closed, h->r);
    free(h);
}

static void start_http(struct probe_run *r, const char *host, int port, const char *path)
{
    char url[300], err[128];
    snprintf(url, sizeof url, strchr(host, ':') ? "http://[%s]:%d" : "http://%s:%d", host, port);
    struct uvhttp_config cfg = {.timeout_ms = (unsigned)r->timeout_ms,
                                .connect_timeout_ms = (unsigned)r->timeout_ms, .max_conns = 1,
                                .max_body = 1 << 20};
    struct http_probe *h = calloc(1, sizeof *h);
    if (!h || uvhttp_new(r->a->loop, url, &cfg, &h->client, err, sizeof err) < 0) {
        free(h);
        probe_result(r, false, "bad probe address");
        run_free(r);
        return;
    }
    h->r = r;
    if (uvhttp_request(h->client, "GET", path && path[0] == '/' ? path : "/", NULL, NULL, 0,
                       http_done, h) < 0) {
        probe_result(r, false, "bad probe path");
        uvhttp_close(h->client, http_closed, r);
        free(h);
    }
}

/* ---- scheduling -------------------------------------------------------- */

/* A port given as a number or as the name of a containerPort. */
static int probe_port(const json_t *cspec, const json_t *port)
{
    if (json_is_integer(port))
        return (int)json_integer_value(port);
    const char *name = json_string_value(port);
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(cspec, "ports"), i, p) {
        const char *n = json_string_value(json_object_get(p, "name"));
        if (name && n && !strcmp(n, name))
            return (int)json_integer_value(json_object_get(p, "containerPort"));
    }
    return name ? atoi(name) : 0;
}

static const json_t *cspec_of(const struct apod *p, const char *name)
{
    size_t i;
    json_t *cs;
    json_array_foreach(json_object_get(json_object_get(p->obj, "spec"), "containers"), i, cs) {
        const char *n = json_string_value(json_object_get(cs, "name"));
        if (n && !strcmp(n, name))
            return cs;
    }
    return NULL;
}

static void launch(struct agent *a, struct apod *p, struct acont *c, struct aprobe *pr, bool live)
{
    struct probe_run *r = calloc(1, sizeof *r);
    if (!r)
        return;
    r->a = a;
    agent_ref(a);
    snprintf(r->uid, sizeof r->uid, "%s", p->uid);
    snprintf(r->cname, sizeof r->cname, "%s", c->name);
    snprintf(r->id, sizeof r->id, "%s", c->id);
    r->gen = pr->gen;
    r->liveness = live;
    r->timeout_ms = (int)field(pr->spec, "timeoutSeconds", 1) * 1000;
    if (r->timeout_ms <= 0)
        r->timeout_ms = 1000;
    pr->inflight = true;
    const json_t *ex = json_object_get(pr->spec, "exec");
    const json_t *hg = json_object_get(pr->spec, "httpGet");
    const json_t *ts = json_object_get(pr->spec, "tcpSocket");
    const json_t *hp = hg ? hg : ts;
    const char *host = json_string_value(json_object_get(hp, "host"));
    if (!host || !host[0])
        host = a->host_ip;
    int port = hp ? probe_port(cspec_of(p, c->name), json_object_get(hp, "port")) : 0;
    if (ex) {
        start_exec(r, json_object_get(ex, "command"));
    } else if (hp && (port <= 0 || port > 65535)) {
        probe_result(r, false, "bad probe port");
        run_free(r);
    } else if (hg) {
        start_http(r, host, port, json_string_value(json_object_get(hg, "path")));
    } else if (ts) {
        start_tcp(r, host, port);
    } else {
        probe_result(r, false, "probe has no handler (exec, httpGet or tcpSocket)");
        run_free(r);
    }
}

void agent_probes_tick(struct agent *a)
{
    int64_t now = agent_now_ms(a);
    for (struct apod *p = a->pods; p; p = p->next) {
        if (!p->obj || p->deleting)
            continue;
        for (int i = 0; i < p->ncont; i++) {
            struct acont *c = &p->conts[i];
            if (!c->in_spec || !c->id[0] || c->view != V_RUNNING || c->stop_sent)
                continue;
            struct aprobe *ps[2] = {&c->live, &c->readyp};
            for (int k = 0; k < 2; k++) {
                struct aprobe *pr = ps[k];
                if (!pr->spec || pr->inflight || now < pr->next_ms)
                    continue;
                pr->next_ms = now + field(pr->spec, "periodSeconds", 10) * 1000;
                launch(a, p, c, pr, k == 0);
            }
        }
    }
}
