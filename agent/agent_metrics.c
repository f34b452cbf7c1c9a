/* agent_metrics.c: the agent's resource-metrics sampler.
 *
 * Every --metrics-interval-s (default 10 s) it reads each running pod's
 * cgroup through the runtime (rt->ops->usage: cumulative cpu ns, working
 * set bytes) and the node's totals (/proc/stat busy jiffies, /proc/meminfo
 * MemTotal - MemAvailable), turns the cpu counters into rates against the
 * previous sample (nanocores = delta ns * 1000 / delta ms), and sends one
 * batch per interval to the API server: POST
 * /apis/metrics.k8s.io/v1beta1/ingest (format in common/podmetrics.h). A
 * pod's first sample is only a baseline, so it is reported from its second
 * interval on; a counter that went backwards (a new cgroup) restarts the
 * baseline. A batch still in flight when the next one is due makes that one
 * skipped, never queued. The latest rates also feed the agent's /metrics
 * (agent_metrics_prometheus). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/podmetrics.h"

#define INGEST_PATH "/apis/metrics.k8s.io/v1beta1/ingest"

struct msample {
    char uid[64], ns[64], name[254];
    uint64_t cpu_ns;          /* cumulative at t_ms */
    int64_t t_ms;
    bool has_rate;
    int64_t nanocores, mem_bytes, window_ms;
};

struct agent_metrics {
    struct agent *a;
    uv_timer_t timer;
    bool timer_on, inflight;
    struct msample *v;
    size_t n;
    /* node */
    bool node_base, node_rate;
    uint64_t node_busy_ns;
    int64_t node_t_ms, node_nanocores, node_mem, node_window_ms;
};

static struct agent_metrics *ensure(struct agent *a)
{
    if (!a->metrics) {
        a->metrics = calloc(1, sizeof *a->metrics);
        if (a->metrics) a->metrics->a = a;
    }
    return a->metrics;
}

static unsigned interval_ms(const struct agent *a)
{
    return a->cfg.metrics_interval_ms ? a->cfg.metrics_interval_ms : 10000;
}

/* ---- node totals -------------------------------------------------------- */

static int read_node_cpu(uint64_t *busy_ns)
{
    FILE *f = fopen("/proc/stat", "re");
    if (!f) return BE_IO;
    unsigned long long v[8] = {0};
    int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                   &v[4], &v[5], &v[6], &v[7]);
    fclose(f);
    if (n < 4) return BE_IO;
    /* user nice system idle iowait irq softirq steal: busy = all but idle, iowait */
    unsigned long long busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
    long tck = sysconf(_SC_CLK_TCK);
    *busy_ns = (uint64_t)busy * (1000000000ULL / (uint64_t)(tck > 0 ? tck : 100));
    return 0;
}

static int read_node_mem(int64_t *bytes)
{
    FILE *f = fopen("/proc/meminfo", "re");
    if (!f) return BE_IO;
    char line[256];
    long long total = -1, avail = -1, kb;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "MemTotal: %lld kB", &kb) == 1) total = kb;
        else if (sscanf(line, "MemAvailable: %lld kB", &kb) == 1) avail = kb;
    }
    fclose(f);
    if (total < 0 || avail < 0) return BE_IO;
    *bytes = (total - avail) * 1024;
    return 0;
}

static void sample_node(struct agent_metrics *m, int64_t now)
{
    uint64_t busy;
    if (read_node_cpu(&busy) || read_node_mem(&m->node_mem)) return;
    if (m->node_base && now > m->node_t_ms && busy >= m->node_busy_ns) {
        m->node_window_ms = now - m->node_t_ms;
        m->node_nanocores = (int64_t)((busy - m->node_busy_ns) * 1000 / (uint64_t)m->node_window_ms);
        m->node_rate = true;
    }
    m->node_base = true;
    m->node_busy_ns = busy;
    m->node_t_ms = now;
}

/* ---- pods --------------------------------------------------------------- */

static bool pod_running(const struct apod *p)
{
    if (!p->obj || p->deleting) return false;
    for (int i = 0; i < p->ncont; i++)
        if (p->conts[i].id[0] && p->conts[i].view == V_RUNNING) return true;
    return false;
}

static const struct msample *find_prev(const struct agent_metrics *m, const char *uid)
{
    for (size_t i = 0; i < m->n; i++)
        if (!strcmp(m->v[i].uid, uid)) return &m->v[i];
    return NULL;
}

/* Samples every running pod; replaces m->v (pods no longer running drop
 * out). Returns 0 or BE_NOMEM. */
static int sample_pods(struct agent *a, struct agent_metrics *m, int64_t now)
{
    size_t cap = 0;
    for (struct apod *p = a->pods; p; p = p->next) cap++;
    struct msample *v = calloc(cap ? cap : 1, sizeof *v);
    if (!v) return BE_NOMEM;
    size_t n = 0;
    for (struct apod *p = a->pods; p; p = p->next) {
        struct rt_usage u;
        if (!pod_running(p) || a->rt->ops->usage(a->rt, p->uid, &u) < 0) continue;
        struct msample *s = &v[n++];
        snprintf(s->uid, sizeof s->uid, "%s", p->uid);
        snprintf(s->ns, sizeof s->ns, "%s", p->ns);
        snprintf(s->name, sizeof s->name, "%s", p->name);
        s->cpu_ns = u.cpu_usage_ns;
        s->t_ms = now;
        s->mem_bytes = (int64_t)u.memory_bytes;
        const struct msample *prev = find_prev(m, p->uid);
        if (prev && now > prev->t_ms && u.cpu_usage_ns >= prev->cpu_ns) {
            s->window_ms = now - prev->t_ms;
            s->nanocores = (int64_t)((u.cpu_usage_ns - prev->cpu_ns) * 1000 / (uint64_t)s->window_ms);
            s->has_rate = true;
        }
    }
    free(m->v);
    m->v = v;
    m->n = n;
    return 0;
}

static const char *container_name(struct agent *a, const char *uid)
{
    struct apod *p = agent_pod_find(a, uid);
    return p && p->ncont == 1 ? p->conts[0].name : "pod";
}

/* The window a sample reports. After a pause (a suspended machine) the
 * interval can exceed what the server takes (PM_MAX_WINDOW_MS, an hour);
 * the rate still covers the whole interval, the window says the most. */
static int64_t reported_window(int64_t window_ms)
{
    return window_ms < PM_MAX_WINDOW_MS ? window_ms : PM_MAX_WINDOW_MS;
}

json_t *agent_metrics_sample(struct agent *a, int64_t now_ms)
{
    struct agent_metrics *m = ensure(a);
    if (!m || sample_pods(a, m, now_ms)) return NULL;
    sample_node(m, now_ms);
    json_t *pods = json_array();
    for (size_t i = 0; i < m->n; i++) {
        const struct msample *s = &m->v[i];
        if (!s->has_rate) continue;
        json_array_append_new(pods, json_pack("{s:s, s:s, s:s, s:I, s:I, s:I}", "namespace", s->ns,
                                              "name", s->name, "container", container_name(a, s->uid),
                                              "cpuNanocores", (json_int_t)s->nanocores, "memoryBytes",
                                              (json_int_t)s->mem_bytes, "windowMs",
                                              (json_int_t)reported_window(s->window_ms)));
    }
    json_t *batch = json_pack("{s:s, s:I, s:I, s:o}", "node", a->cfg.name, "timestampMs",
                              (json_int_t)now_ms, "windowMs", (json_int_t)interval_ms(a), "pods", pods);
    if (batch && m->node_rate)
        json_object_set_new(batch, "usage", json_pack("{s:I, s:I}", "cpuNanocores",
                                                      (json_int_t)m->node_nanocores, "memoryBytes",
                                                      (json_int_t)m->node_mem));
    return batch;
}

/* ---- the timer and the report -------------------------------------------- */

static void on_sent(void *data, int rc, int status, const char *body, size_t len)
{
    struct agent *a = data;
    if (a->metrics) a->metrics->inflight = false;
    if (rc < 0 || status >= 300)
        log_debug(AGENT_COMP, "metrics report: %s %.*s", rc < 0 ? be_strerror(rc) : "HTTP",
                  (int)(len > 200 ? 200 : len), body ? body : "");
}

static void on_tick(uv_timer_t *t)
{
    struct agent_metrics *m = t->data;
    struct agent *a = m->a;
    if (a->stopping) return;
    json_t *batch = agent_metrics_sample(a, agent_now_ms(a));
    char *text = batch ? json_dumps(batch, JSON_COMPACT) : NULL;
    json_decref(batch);
    if (!text) return;
    if (!m->inflight && a->cfg.nservers > 0 &&
        a->api(a, "POST", INGEST_PATH, "application/json", text, strlen(text), on_sent, a) == 0)
        m->inflight = true;
    free(text);
}

int agent_metrics_start(struct agent *a)
{
    struct agent_metrics *m = ensure(a);
    if (!m) return BE_NOMEM;
    uv_timer_init(a->loop, &m->timer);
    m->timer.data = m;
    m->timer_on = true;
    agent_ref(a);
    /* A baseline right away, so the first rates come one interval later. */
    json_decref(agent_metrics_sample(a, agent_now_ms(a)));
    uv_timer_start(&m->timer, on_tick, interval_ms(a), interval_ms(a));
    return 0;
}

static void free_metrics(struct agent_metrics *m)
{
    free(m->v);
    free(m);
}

static void on_timer_closed(uv_handle_t *h)
{
    struct agent_metrics *m = h->data;
    struct agent *a = m->a;
    free_metrics(m);
    agent_unref(a);
}

void agent_metrics_stop(struct agent *a)
{
    struct agent_metrics *m = a->metrics;
    if (!m) return;
    a->metrics = NULL;
    if (m->timer_on) uv_close((uv_handle_t *)&m->timer, on_timer_closed);
    else free_metrics(m);
}

void agent_metrics_prometheus(struct agent *a, FILE *f)
{
    struct agent_metrics *m = a->metrics;
    fprintf(f, "# TYPE berth_pod_cpu_usage_millicores gauge\n");
    for (size_t i = 0; m && i < m->n; i++)
        if (m->v[i].has_rate)
            fprintf(f, "berth_pod_cpu_usage_millicores{namespace=\"%s\",pod=\"%s\"} %.3f\n", m->v[i].ns,
                    m->v[i].name, (double)m->v[i].nanocores / 1e6);
    fprintf(f, "# TYPE berth_node_cpu_usage_millicores gauge\n# TYPE berth_node_memory_bytes gauge\n");
    if (m && m->node_rate) {
        fprintf(f, "berth_node_cpu_usage_millicores{node=\"%s\"} %.3f\n", a->cfg.name,
                (double)m->node_nanocores / 1e6);
        fprintf(f, "berth_node_memory_bytes{node=\"%s\"} %lld\n", a->cfg.name, (long long)m->node_mem);
    }
}
