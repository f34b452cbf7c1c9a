/* agent.c: lifecycle of the node agent and its API access.
 *
 * agent_new() fills in defaults, detects the host's address and creates one
 * uvhttp client per --server URL. Every API call goes through a->api
 * (agent_api_uv by default): it uses the current server, and when the
 * server cannot be reached (connect error, reset, timeout) it moves a->cur to
 * the next URL so the caller's retry lands elsewhere. Callers retry on their
 * own schedule (heartbeat, status tick, watch back-off); nothing here loops.
 *
 * Shutdown: a->pending counts what can still call back into the agent (the
 * agent's own timers, HTTP clients, the endpoint, probe work on the thread
 * pool). agent_stop() closes all of it, leaves containers running, and calls
 * the stop callback when the count drops to zero. */
#define _GNU_SOURCE
#include "agent/agent.h"
#include "agent/agent_proxy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/errors.h"
#include "common/log.h"

static int64_t real_now_ms(void *data)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t agent_now_ms(struct agent *a) { return a->clock.now_ms(a->clock.data); }

void agent_ref(struct agent *a) { a->pending++; }

void agent_unref(struct agent *a)
{
    if (--a->pending == 0 && a->stopping && a->stop_cb)
        a->stop_cb(a->stop_data);
}

static void detect_host_ip(struct agent *a)
{
    uv_interface_address_t *ifs;
    int n;
    snprintf(a->host_ip, sizeof a->host_ip, "127.0.0.1");
    if (uv_interface_addresses(&ifs, &n) != 0)
        return;
    for (int i = 0; i < n; i++) {
        if (ifs[i].is_internal || ifs[i].address.address4.sin_family != AF_INET)
            continue;
        uv_ip4_name(&ifs[i].address.address4, a->host_ip, sizeof a->host_ip);
        break;
    }
    uv_free_interface_addresses(ifs, n);
}

static void init_timer(struct agent *a, uv_timer_t *t)
{
    uv_timer_init(a->loop, t);
    t->data = a;
    agent_ref(a);
}

int agent_new(uv_loop_t *loop, const struct agent_config *cfg, rt_t *rt,
              struct agent **out, char *err, size_t errlen)
{
    struct agent *a = calloc(1, sizeof *a);
    if (!a) {
        snprintf(err, errlen, "out of memory");
        return BE_NOMEM;
    }
    a->loop = loop;
    a->cfg = *cfg;
    a->rt = rt;
    a->clock.now_ms = real_now_ms;
    a->api = agent_api_uv;
    a->pending = 1; /* released by agent_stop */
    struct agent_config *c = &a->cfg;
    if (!c->status_interval_ms) c->status_interval_ms = 1000;
    if (!c->sync_interval_ms) c->sync_interval_ms = 1000;
    if (!c->backoff_base_ms) c->backoff_base_ms = 10000;
    if (!c->backoff_max_ms) c->backoff_max_ms = 300000;
    if (!c->heartbeat_s) c->heartbeat_s = 10;
    gethostname(a->hostname, sizeof a->hostname - 1);
    if (!c->name || !c->name[0])
        c->name = a->hostname;
    /* The node's InternalIP is where the API server reaches this agent (logs)
     * and where probes reach pods (host networking): the --listen address
     * when it names one, else the first non-loopback interface. */
    if (c->host_ip)
        snprintf(a->host_ip, sizeof a->host_ip, "%s", c->host_ip);
    else if (c->listen_host && c->listen_host[0] && strcmp(c->listen_host, "0.0.0.0"))
        snprintf(a->host_ip, sizeof a->host_ip, "%s", c->listen_host);
    else
        detect_host_ip(a);
    a->labels = json_object();
    if (c->labels && agent_parse_labels(c->labels, a->labels) != 0) {
        snprintf(err, errlen, "bad --labels \"%s\": want k=v,k2=v2", c->labels);
        json_decref(a->labels);
        free(a);
        return BE_INVAL;
    }
    for (int i = 0; i < c->nservers; i++) {
        struct uvhttp_config hc = {.timeout_ms = 10000, .connect_timeout_ms = 3000};
        int rc = uvhttp_new(loop, c->servers[i], &hc, &a->clients[i], err, errlen);
        if (rc < 0) {
            while (i-- > 0)
                uvhttp_close(a->clients[i], NULL, NULL);
            json_decref(a->labels);
            free(a);
            return rc;
        }
        agent_ref(a);
    }
    init_timer(a, &a->hb_timer);
    init_timer(a, &a->watch_timer);
    init_timer(a, &a->sync_timer);
    init_timer(a, &a->status_timer);
    init_timer(a, &a->probe_timer);
    init_timer(a, &a->start_timer);
    *out = a;
    return 0;
}

/* ---- API with fail-over ------------------------------------------------ */

struct api_call {
    struct agent *a;
    int server;
    uvhttp_cb cb;
    void *data;
};

static void api_done(void *data, int rc, int status, const char *body, size_t len)
{
    struct api_call *k = data;
    struct agent *a = k->a;
    if ((rc == BE_UNAVAIL || rc == BE_TIMEOUT) && a->cfg.nservers > 1 && k->server == a->cur) {
        a->cur = (a->cur + 1) % a->cfg.nservers;
        log_info(AGENT_COMP, "%.*s; switching to %s", (int)len, body, a->cfg.servers[a->cur]);
    }
    if (rc < 0 || status >= 500)
        a->stats.api_errors++;
    k->cb(k->data, rc, status, body, len);
    free(k);
    agent_unref(a);
}

int agent_api_uv(struct agent *a, const char *method, const char *path,
                 const char *ctype, const char *body, size_t len, uvhttp_cb cb, void *data)
{
    if (a->stopping)
        return BE_SHUTDOWN;
    if (a->cfg.nservers == 0)
        return BE_UNAVAIL;
    struct api_call *k = malloc(sizeof *k);
    if (!k)
        return BE_NOMEM;
    *k = (struct api_call){a, a->cur, cb, data};
    agent_ref(a);
    int rc = uvhttp_request(a->clients[a->cur], method, path, ctype, body, len, api_done, k);
    if (rc < 0) {
        free(k);
        agent_unref(a);
    }
    return rc;
}

/* ---- timers ------------------------------------------------------------ */

static void on_sync(uv_timer_t *t);
static void on_status(uv_timer_t *t) { agent_status_flush(t->data); }
static void on_probe(uv_timer_t *t) { agent_probes_tick(t->data); }

/* A started container is watched closely until it runs: only the starting
 * ones are polled (one state-file read each), every 10 ms, and a pod whose
 * container now runs (or already exited) is reconciled and its status
 * written at once: one write for that change, as the periodic flush would
 * have made a second later. So apply -> Running in the API costs the start
 * itself, not a period of the sync and status timers. */
static void on_start_poll(uv_timer_t *t)
{
    struct agent *a = t->data;
    bool starting = false;
    for (struct apod *p = a->pods; p; p = p->next) {
        bool moved = false;
        for (int i = 0; i < p->ncont; i++) {
            struct acont *c = &p->conts[i];
            if (!c->id[0] || c->st.phase != RT_CREATED) continue;
            struct rt_status st;
            if (a->rt->ops->status(a->rt, c->id, &st) == 0 && st.phase != RT_CREATED) moved = true;
            else starting = true;
        }
        if (moved)
            agent_reconcile(a, p); /* writes the status of what changed */
    }
    if (!starting) uv_timer_stop(t);
}

void agent_sync_soon(struct agent *a)
{
    if (!uv_is_active((uv_handle_t *)&a->start_timer) && !a->stopping)
        uv_timer_start(&a->start_timer, on_start_poll, 10, 10);
}

static void on_sync(uv_timer_t *t) { agent_reconcile_all(t->data); }

void agent_reconcile_soon(struct agent *a)
{
    if (uv_is_active((uv_handle_t *)&a->sync_timer) && !a->stopping)
        uv_timer_start(&a->sync_timer, on_sync, 0, a->cfg.sync_interval_ms);
}

int agent_start(struct agent *a, char *err, size_t errlen)
{
    agent_adopt(a);
    if (a->cfg.listen_host) {
        int rc = agent_http_start(a, err, errlen);
        if (rc < 0)
            return rc;
    }
    log_info(AGENT_COMP, "node %s: host %s, runtime %s", a->cfg.name, a->host_ip,
             a->rt->isolated ? "isolated (namespaces + cgroups)" : "plain processes");
    agent_node_start(a);
    agent_watch_start(a);
    if (a->cfg.nservers && agent_proxy_start(a) < 0)
        log_warn(AGENT_COMP, "service proxy not started: out of memory");
    uv_timer_start(&a->sync_timer, on_sync, a->cfg.sync_interval_ms, a->cfg.sync_interval_ms);
    uv_timer_start(&a->status_timer, on_status, a->cfg.status_interval_ms,
                   a->cfg.status_interval_ms);
    uv_timer_start(&a->probe_timer, on_probe, 200, 200);
    return agent_metrics_start(a);
}

/* ---- stop ------------------------------------------------------------- */

static void on_timer_closed(uv_handle_t *h) { agent_unref(h->data); }
static void on_client_closed(void *data) { agent_unref(data); }

void agent_stop(struct agent *a, void (*cb)(void *data), void *data)
{
    if (a->stopping)
        return;
    a->stopping = true;
    a->stop_cb = cb;
    a->stop_data = data;
    if (a->watch) {
        uvhttp_stream_t *w = a->watch;
        a->watch = NULL;
        uvhttp_stream_cancel(w);
    }
    agent_http_stop(a);
    agent_proxy_stop(a);
    agent_metrics_stop(a);
    uv_timer_t *timers[] = {&a->hb_timer, &a->watch_timer, &a->sync_timer, &a->status_timer,
                            &a->probe_timer, &a->start_timer};
    for (size_t i = 0; i < sizeof timers / sizeof timers[0]; i++)
        uv_close((uv_handle_t *)timers[i], on_timer_closed);
    for (int i = 0; i < a->cfg.nservers; i++)
        uvhttp_close(a->clients[i], on_client_closed, a);
    agent_unref(a);
}

void agent_free(struct agent *a)
{
    while (a->pods) {
        struct apod *p = a->pods;
        a->pods = p->next;
        p->next = NULL;
        agent_pod_free(a, p);
    }
    agent_metrics_stop(a); /* a sampler that never started */
    agent_env_cache_free(a);
    agent_final_deletes_free(a);
    json_decref(a->labels);
    free(a->wbuf);
    free(a);
}
