/* test_metrics.c: resource metrics: the cache of common/podmetrics.c (a
 * batch in, PodMetrics/NodeMetrics out, a node's newer batch replacing its
 * pods, expiry after three windows, bad batches refused whole, Prometheus
 * text) and the agent's sampler (agent_metrics.c: cgroup counters turned
 * into rates, the batch it sends, its /metrics lines) over the fake
 * runtime with a scripted usage() and a fake clock. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/fake_runtime.h"
#include "common/errors.h"
#include "common/jsonutil.h"
#include "common/podmetrics.h"
#include "unit.h"

#define T0 1764000000000LL

static const char batch_n1[] =
    "{\"node\":\"n1\",\"timestampMs\":1764000000000,\"windowMs\":10000,"
    "\"usage\":{\"cpuNanocores\":1500000000,\"memoryBytes\":2147483648},"
    "\"pods\":[{\"namespace\":\"default\",\"name\":\"web-b\",\"container\":\"web\","
    "\"cpuNanocores\":123456789,\"memoryBytes\":10485760},"
    "{\"namespace\":\"default\",\"name\":\"web-a\",\"cpuNanocores\":5000000,\"memoryBytes\":4096},"
    "{\"namespace\":\"kube-system\",\"name\":\"dns\",\"container\":\"dns\",\"cpuNanocores\":0,\"memoryBytes\":0}]}";

static void test_ingest_and_serialize(void)
{
    podmetrics_t *pm;
    char err[256];
    CHECK_INT(podmetrics_new(&pm), 0);
    CHECK_INT(podmetrics_ingest(pm, batch_n1, strlen(batch_n1), T0, err, sizeof err), 0);
    const struct pm_pod *p = podmetrics_get_pod(pm, "default", "web-b", T0);
    CHECK(p != NULL);
    if (p) {
        CHECK_INT(p->u.cpu_nanocores, 123456789);
        CHECK_STR(p->node, "n1");
        json_t *j = podmetrics_pod_json(p);
        CHECK_STR(json_path_str(j, "kind"), "PodMetrics");
        CHECK_STR(json_path_str(j, "apiVersion"), "metrics.k8s.io/v1beta1");
        CHECK_STR(json_path_str(j, "metadata.namespace"), "default");
        CHECK(json_path_str(j, "metadata.creationTimestamp") != NULL);
        CHECK_STR(json_path_str(j, "timestamp"), "2025-11-24T16:00:00Z");
        CHECK_STR(json_path_str(j, "window"), "10s");
        json_t *c = json_array_get(json_object_get(j, "containers"), 0);
        CHECK_STR(json_path_str(c, "name"), "web");
        CHECK_STR(json_path_str(c, "usage.cpu"), "123456789n");
        CHECK_STR(json_path_str(c, "usage.memory"), "10240Ki");
        json_decref(j);
    }
    /* a pod without a container name is reported as the whole pod */
    p = podmetrics_get_pod(pm, "default", "web-a", T0);
    CHECK(p && !strcmp(p->container, "pod"));
    const struct pm_node *n = podmetrics_get_node(pm, "n1", T0);
    CHECK(n != NULL);
    if (n) {
        json_t *j = podmetrics_node_json(n);
        CHECK_STR(json_path_str(j, "kind"), "NodeMetrics");
        CHECK_STR(json_path_str(j, "usage.cpu"), "1500000000n");
        CHECK_STR(json_path_str(j, "usage.memory"), "2097152Ki");
        json_decref(j);
    }
    /* lists: sorted, by namespace */
    const struct pm_pod **v;
    size_t k = podmetrics_list_pods(pm, NULL, T0, &v);
    CHECK_INT(k, 3);
    if (k == 3) {
        CHECK_STR(v[0]->name, "web-a");
        CHECK_STR(v[1]->name, "web-b");
        CHECK_STR(v[2]->name, "dns");
    }
    free(v);
    k = podmetrics_list_pods(pm, "kube-system", T0, &v);
    CHECK_INT(k, 1);
    free(v);
    /* Prometheus */
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    podmetrics_prometheus(pm, f, T0);
    fclose(f);
    CHECK(strstr(text, "berth_pod_cpu_usage_millicores{namespace=\"default\",pod=\"web-b\"} 123.457\n"));
    CHECK(strstr(text, "berth_pod_memory_bytes{namespace=\"default\",pod=\"web-b\"} 10485760\n"));
    CHECK(strstr(text, "berth_node_cpu_usage_millicores{node=\"n1\"} 1500.000\n"));
    CHECK(strstr(text, "berth_node_memory_bytes{node=\"n1\"} 2147483648\n"));
    free(text);
    podmetrics_free(pm);
}

static void test_replace_and_expire(void)
{
    podmetrics_t *pm;
    char err[256];
    CHECK_INT(podmetrics_new(&pm), 0);
    CHECK_INT(podmetrics_ingest(pm, batch_n1, strlen(batch_n1), T0, err, sizeof err), 0);
    const char *n2 = "{\"node\":\"n2\",\"timestampMs\":1764000000000,\"windowMs\":2000,"
                     "\"pods\":[{\"namespace\":\"default\",\"name\":\"other\",\"cpuNanocores\":1,\"memoryBytes\":1}]}";
    CHECK_INT(podmetrics_ingest(pm, n2, strlen(n2), T0, err, sizeof err), 0);
    /* n1's next batch no longer lists web-a and dns: they go, n2's pod stays */
    const char *n1b = "{\"node\":\"n1\",\"timestampMs\":1764000010000,\"windowMs\":10000,"
                      "\"pods\":[{\"namespace\":\"default\",\"name\":\"web-b\",\"cpuNanocores\":7,\"memoryBytes\":8}]}";
    CHECK_INT(podmetrics_ingest(pm, n1b, strlen(n1b), T0 + 1000, err, sizeof err), 0);
    CHECK(podmetrics_get_pod(pm, "default", "web-a", T0 + 1000) == NULL);
    CHECK(podmetrics_get_pod(pm, "kube-system", "dns", T0 + 1000) == NULL);
    CHECK(podmetrics_get_pod(pm, "default", "other", T0 + 1000) != NULL);
    const struct pm_pod *p = podmetrics_get_pod(pm, "default", "web-b", T0 + 1000);
    CHECK(p && p->u.cpu_nanocores == 7);
    /* the node sample of the first batch stays until it expires */
    CHECK(podmetrics_get_node(pm, "n1", T0 + 1000) != NULL);
    /* three windows: n2's 2 s window expires after 6 s, n1's 10 s after 30 s */
    CHECK(podmetrics_get_pod(pm, "default", "other", T0 + 6000) != NULL);
    CHECK(podmetrics_get_pod(pm, "default", "other", T0 + 6001) == NULL);
    CHECK(podmetrics_get_pod(pm, "default", "web-b", T0 + 31000) != NULL);
    CHECK(podmetrics_get_node(pm, "n1", T0 + 30001) == NULL);
    const struct pm_pod **v;
    CHECK_INT(podmetrics_list_pods(pm, NULL, T0 + 31001, &v), 0);
    CHECK(v == NULL);
    podmetrics_free(pm);
}

static void test_bad_batches(void)
{
    podmetrics_t *pm;
    char err[256];
    CHECK_INT(podmetrics_new(&pm), 0);
    const char *bad[] = {
        "not json",
        "[]",
        "{\"timestampMs\":1}",
        "{\"node\":\"n1\"}",
        "{\"node\":\"n1\",\"timestampMs\":-5}",
        "{\"node\":\"n1\",\"timestampMs\":1,\"pods\":{}}",
        "{\"node\":\"n1\",\"timestampMs\":1,\"pods\":[{\"namespace\":\"a\",\"name\":\"b\",\"cpuNanocores\":1,\"memoryBytes\":1},"
        "{\"namespace\":\"a\",\"cpuNanocores\":1}]}",
        "{\"node\":\"n1\",\"timestampMs\":1,\"pods\":[{\"namespace\":\"a\",\"name\":\"b\",\"cpuNanocores\":\"1\"}]}",
        "{\"node\":\"n1\",\"timestampMs\":1,\"usage\":{\"cpuNanocores\":-1}}",
        /* windows beyond an hour (three of INT64_MAX overflowed; fuzz_podmetrics) */
        "{\"node\":\"n1\",\"timestampMs\":1,\"windowMs\":9223372036854775807}",
        "{\"node\":\"n1\",\"timestampMs\":1,\"windowMs\":3600001}",
        "{\"node\":\"n1\",\"timestampMs\":1,\"pods\":[{\"namespace\":\"a\",\"name\":\"b\","
        "\"windowMs\":9223372036854775807}]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        CHECK_INT(podmetrics_ingest(pm, bad[i], strlen(bad[i]), T0, err, sizeof err), BE_INVAL);
        CHECK(err[0] != 0);
    }
    /* nothing of a refused batch was kept */
    CHECK(podmetrics_get_pod(pm, "a", "b", T0) == NULL);
    podmetrics_free(pm);
}

/* ---- the agent's sampler ----------------------------------------------------- */

static uint64_t usage_ns;
static int64_t now_ms = T0;
static struct rt_ops ops;

static int scripted_usage(rt_t *rt, const char *pod_uid, struct rt_usage *u)
{
    u->cpu_usage_ns = usage_ns;
    u->memory_bytes = 3 << 20;
    return 0;
}

static int64_t clock_fn(void *data) { return now_ms; }

static int offline_api(struct agent *a, const char *method, const char *path, const char *ctype,
                       const char *body, size_t len, uvhttp_cb cb, void *data)
{
    return BE_UNAVAIL;
}

static void on_stopped(void *data) { *(int *)data = 1; }

static void test_agent_sampler(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    rt_t *rt = fake_rt_new(&now_ms);
    fake_rt_add_image(rt, "busybox");
    ops = *rt->ops;
    ops.usage = scripted_usage;
    const struct rt_ops *orig = rt->ops;
    rt->ops = &ops;
    struct agent_config cfg = {.name = "n1", .host_ip = "10.0.0.5", .metrics_interval_ms = 10000};
    struct agent *a;
    char err[128];
    CHECK_INT(agent_new(&loop, &cfg, rt, &a, err, sizeof err), 0);
    a->clock = (struct agent_clock){clock_fn, NULL};
    a->api = offline_api;
    agent_adopt(a);
    agent_watch_start(a);
    json_t *pod = json_pack("{s:s,s:s,s:{s:s,s:s,s:s},s:{s:s,s:s,s:[{s:s,s:s,s:[s,s,s]}]}}", "apiVersion",
                            "v1", "kind", "Pod", "metadata", "uid", "u1", "name", "web", "namespace",
                            "default", "spec", "nodeName", "n1", "restartPolicy", "Always", "containers",
                            "name", "main", "image", "busybox", "command", "sh", "-c", "sleep 1");
    agent_pod_upsert(a, pod);
    json_decref(pod);
    struct apod *p = agent_pod_find(a, "u1");
    CHECK(p && p->ncont == 1 && p->conts[0].view == V_RUNNING);

    /* first sample: a baseline, no pods in the batch yet */
    usage_ns = 1000000000ULL;
    json_t *b = agent_metrics_sample(a, now_ms);
    CHECK(b != NULL);
    CHECK_STR(json_path_str(b, "node"), "n1");
    CHECK_INT(json_array_size(json_object_get(b, "pods")), 0);
    json_decref(b);
    /* 0.5 s of cpu over 10 s: 50 millicores */
    now_ms += 10000;
    usage_ns += 500000000ULL;
    b = agent_metrics_sample(a, now_ms);
    json_t *e = json_array_get(json_object_get(b, "pods"), 0);
    CHECK_STR(json_path_str(e, "name"), "web");
    CHECK_STR(json_path_str(e, "container"), "main");
    CHECK_INT(json_integer_value(json_object_get(e, "cpuNanocores")), 50000000);
    CHECK_INT(json_integer_value(json_object_get(e, "memoryBytes")), 3 << 20);
    CHECK_INT(json_integer_value(json_object_get(e, "windowMs")), 10000);
    /* the batch is what the server ingests */
    podmetrics_t *pm;
    podmetrics_new(&pm);
    char *text = json_dumps(b, JSON_COMPACT);
    CHECK_INT(podmetrics_ingest(pm, text, strlen(text), now_ms, err, sizeof err), 0);
    const struct pm_pod *pp = podmetrics_get_pod(pm, "default", "web", now_ms);
    CHECK(pp && pp->u.cpu_nanocores == 50000000);
    free(text);
    podmetrics_free(pm);
    json_decref(b);
    /* /metrics lines */
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    agent_metrics_prometheus(a, f);
    fclose(f);
    CHECK(strstr(out, "berth_pod_cpu_usage_millicores{namespace=\"default\",pod=\"web\"} 50.000\n"));
    free(out);
    /* a counter that goes backwards (new cgroup) restarts the baseline */
    now_ms += 10000;
    usage_ns = 10;
    b = agent_metrics_sample(a, now_ms);
    CHECK_INT(json_array_size(json_object_get(b, "pods")), 0);
    json_decref(b);
    /* after a two-hour pause (a suspended machine): the rate covers the
     * pause, the window says an hour, the most the server takes */
    now_ms += 2 * 3600 * 1000;
    usage_ns += 3600ULL * 1000000000ULL;
    b = agent_metrics_sample(a, now_ms);
    e = json_array_get(json_object_get(b, "pods"), 0);
    CHECK_INT(json_integer_value(json_object_get(e, "cpuNanocores")), 500000000);
    CHECK_INT(json_integer_value(json_object_get(e, "windowMs")), PM_MAX_WINDOW_MS);
    podmetrics_new(&pm);
    text = json_dumps(b, JSON_COMPACT);
    CHECK_INT(podmetrics_ingest(pm, text, strlen(text), now_ms, err, sizeof err), 0);
    free(text);
    podmetrics_free(pm);
    json_decref(b);

    int stopped = 0;
    agent_stop(a, on_stopped, &stopped);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_INT(stopped, 1);
    agent_free(a);
    rt->ops = orig;
    rt->ops->close(rt);
    CHECK_INT(uv_loop_close(&loop), 0);
}

int main(void)
{
    RUN(test_ingest_and_serialize);
    RUN(test_replace_and_expire);
    RUN(test_bad_batches);
    RUN(test_agent_sampler);
    UNIT_EXIT();
}
