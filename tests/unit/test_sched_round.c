/* test_sched_round.c: the scheduler over a real store on raft's in-memory
 * fixture (three members, no loop, a fake clock): one round commits all its
 * bindings in one raft entry; pods get spec.nodeName and PodScheduled; an
 * unplaceable pod gets PodScheduled=False with the exact reason and an
 * Event, and is placed once a node that fits appears; a node whose lease
 * goes stale gets Ready=Unknown and the unreachable taint, and its pods are
 * deleted after the toleration unless they tolerate it; a deposed leader
 * drops everything, including the answers to its proposals in flight. */
#include <raft.h>
#include <stdarg.h>
#include <stdint.h>
#include <raft/fixture.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/jsonutil.h"
#include "scheduler/sched.h"
#include "store/store.h"
#include "unit.h"

#define N 3

static struct raft_fixture f;
static store_t *st[N];
static sched_t *sched;
static int64_t now_ms = 1800000000000LL;

static int64_t fake_clock(void *data)
{
    (void)data;
    return now_ms;
}

static void on_leader(void *data, bool is_leader)
{
    if (sched && data == (void *)1)
        sched_leader_changed(sched, is_leader);
}

static void cluster_up(void)
{
    struct raft_configuration conf;
    CHECK_INT(raft_fixture_initialize(&f), 0);
    for (int i = 0; i < N; i++) {
        struct store_config cfg = {.name = "m", .on_leader_change = on_leader,
                                   .data = (void *)(intptr_t)(i + 1)};
        struct raft_fsm *fsm;
        CHECK_INT(store_open_fixture_cfg(&cfg, &fsm, &st[i]), 0);
        CHECK_INT(raft_fixture_grow(&f, fsm), 0);
    }
    CHECK_INT(raft_fixture_configuration(&f, N, &conf), 0);
    CHECK_INT(raft_fixture_bootstrap(&f, &conf), 0);
    raft_configuration_close(&conf);
    CHECK_INT(raft_fixture_start(&f), 0);
    for (int i = 0; i < N; i++)
        store_fixture_attach(st[i], raft_fixture_get(&f, i));
    raft_fixture_elect(&f, 0);
    CHECK(store_is_leader(st[0]));
}

/* Sends what the leader queued and steps until every member applied it. */
static void commit(void)
{
    store_fixture_flush(st[0]);
    raft_index idx = raft_last_index(raft_fixture_get(&f, 0));
    CHECK(raft_fixture_step_until_applied(&f, N, idx, 5000));
}

static int put_failures;
static void put_cb(void *data, int rc, const struct store_result *r, size_t n)
{
    if (rc || r[0].rc)
        put_failures++;
}

static void put(enum store_op op, const char *res, const char *ns, const char *name,
                const char *node, const char *fmt, ...)
{
    char json[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(json, sizeof json, fmt, ap);
    va_end(ap);
    struct store_mut m = {.op = op, .resource = res, .ns = ns, .name = name, .json = json,
                          .json_len = strlen(json), .node = node};
    CHECK_INT(store_propose(st[0], &m, 1, put_cb, NULL), 0);
}

static void lease(const char *node)
{
    char ts[40];
    time_format_rfc3339((time_t)(now_ms / 1000), ts, sizeof ts);
    char *old = NULL;
    size_t len;
    enum store_op op = store_get(st[0], "leases", "kube-node-lease", node, &old, &len, NULL)
                           ? STORE_CREATE : STORE_UPDATE;
    free(old);
    put(op, "leases", "kube-node-lease", node, NULL,
        "{\"metadata\":{\"name\":\"%s\",\"namespace\":\"kube-node-lease\"},\"apiVersion\":"
        "\"coordination.k8s.io/v1\",\"kind\":\"Lease\",\"spec\":{\"holderIdentity\":\"%s\","
        "\"renewTime\":\"%s\",\"leaseDurationSeconds\":40}}", node, node, ts);
}

static void node(const char *name, const char *cpu)
{
    put(STORE_CREATE, "nodes", "", name, NULL,
        "{\"metadata\":{\"name\":\"%s\",\"uid\":\"u-%s\"},\"apiVersion\":\"v1\",\"kind\":\"Node\","
        "\"spec\":{},\"status\":{\"allocatable\":{\"cpu\":\"%s\",\"memory\":\"8Gi\",\"pods\":\"110\"},"
        "\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]}}", name, name, cpu);
    lease(name);
}

static void pod_op(enum store_op op, const char *name, const char *cpu, const char *extra)
{
    put(op, "pods", "default", name, NULL,
        "{\"metadata\":{\"name\":\"%s\",\"namespace\":\"default\",\"uid\":\"u-%s\"},"
        "\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"spec\":{\"containers\":[{\"name\":\"c\","
        "\"image\":\"busybox\",\"resources\":{\"requests\":{\"cpu\":\"%s\"}}}]%s},"
        "\"status\":{\"phase\":\"Pending\"}}", name, name, cpu, extra ? extra : "");
}

static void pod(const char *name, const char *cpu, const char *extra)
{
    pod_op(STORE_CREATE, name, cpu, extra);
}

static json_t *get(const char *res, const char *ns, const char *name)
{
    char *text = NULL;
    size_t len;
    if (store_get(st[0], res, ns, name, &text, &len, NULL))
        return NULL;
    json_t *j = json_loads(text, 0, NULL);
    free(text);
    return j;
}

/* spec.nodeName of a pod ("" unbound, "(gone)" if deleted) into a static buffer */
static const char *node_of(const char *name)
{
    static char buf[64];
    json_t *p = get("pods", "default", name);
    const char *n = p ? json_path_str(p, "spec.nodeName") : "(gone)";
    snprintf(buf, sizeof buf, "%s", n ? n : "");
    json_decref(p);
    return buf;
}

/* The PodScheduled condition of a pod: "True", or "False: <message>". */
static const char *scheduled(const char *name)
{
    static char buf[512];
    json_t *p = get("pods", "default", name), *c;
    size_t i;
    snprintf(buf, sizeof buf, "none");
    json_array_foreach(json_path(p, "status.conditions"), i, c) {
        const char *type = json_path_str(c, "type"), *s = json_path_str(c, "status");
        if (type && !strcmp(type, "PodScheduled")) {
            const char *r = json_path_str(c, "reason"), *m = json_path_str(c, "message");
            snprintf(buf, sizeof buf, "%s%s%s%s%s", s, r ? ": " : "", r ? r : "", m ? ": " : "",
                     m ? m : "");
        }
    }
    json_decref(p);
    return buf;
}

struct evs {
    int n;
    char msg[512], involved[64], name[128], reason[64], type[32], comp[64];
    long long count;
};
static int list_event(void *data, const char *ns, const char *name, uint64_t rev,
                      const char *json, size_t len)
{
    struct evs *e = data;
    json_t *j = json_loadb(json, len, 0, NULL);
    e->n++;
    snprintf(e->msg, sizeof e->msg, "%s", json_path_str(j, "message"));
    snprintf(e->involved, sizeof e->involved, "%s", json_path_str(j, "involvedObject.name"));
    snprintf(e->name, sizeof e->name, "%s", name);
    snprintf(e->reason, sizeof e->reason, "%s", json_path_str(j, "reason"));
    snprintf(e->type, sizeof e->type, "%s", json_path_str(j, "type"));
    snprintf(e->comp, sizeof e->comp, "%s", json_path_str(j, "source.component"));
    int64_t c = 0;
    json_path_int(j, "count", &c);
    e->count = c;
    CHECK(!strncmp(json, "{\"metadata\":{\"resourceVersion\":", 31)); /* layout contract */
    CHECK(json_path_str(j, "metadata.uid") && json_path_str(j, "firstTimestamp") &&
          json_path_str(j, "involvedObject.uid"));
    json_decref(j);
    return 0;
}

static int count_cb(void *d, const char *ns, const char *nm, uint64_t r, const char *j, size_t l)
{
    (*(int *)d)++;
    return 0;
}

static void test_round(void)
{
    node("n1", "4000m");
    node("n2", "4");
    const char *names[] = {"a", "b", "c", "d", "e"};
    for (int i = 0; i < 5; i++)
        pod(names[i], "1000m", NULL);
    pod("big", "5000m", NULL);
    commit();
    CHECK_INT(put_failures, 0);

    struct sched_config cfg = {.now_ms = fake_clock};
    CHECK_INT(sched_new(NULL, st[0], &cfg, &sched), 0);
    sched_leader_changed(sched, true);
    struct sched_stats s;
    sched_get_stats(sched, &s);
    CHECK_INT(s.nodes, 2);
    CHECK_INT(s.pending, 6);

    raft_index before = store_applied_index(st[0]);
    sched_run_round(sched);
    commit();
    CHECK_INT(store_applied_index(st[0]) - before, 1); /* one round, one raft entry */
    for (int i = 0; i < 4; i++)
        CHECK_STR(node_of(names[i]), "n1");
    CHECK_STR(node_of("e"), "n2");
    CHECK_STR(scheduled("a"), "True");
    CHECK_STR(node_of("big"), "");
    CHECK_STR(scheduled("big"), "False: Unschedulable: 0/2 nodes are available: 2 Insufficient cpu.");
    struct evs ev = {0};
    CHECK_INT(store_list(st[0], "events", &(struct store_list_opts){.ns = "default"}, list_event, &ev, NULL), 0);
    CHECK_INT(ev.n, 1);
    CHECK_STR(ev.involved, "big");
    CHECK_STR(ev.msg, "0/2 nodes are available: 2 Insufficient cpu.");
    CHECK_STR(ev.reason, "FailedScheduling");
    CHECK_STR(ev.type, "Warning");
    CHECK_STR(ev.comp, "berth-scheduler");
    CHECK(!strncmp(ev.name, "big.", 4));
    CHECK_INT(ev.count, 1);
    /* a bound pod is in the node-filtered list (the node hint was set) */
    int on_n1 = 0;
    struct store_list_opts lo = {.node = "n1"};
    store_list(st[0], "pods", &lo, count_cb, &on_n1, NULL);
    CHECK_INT(on_n1, 4);
    sched_get_stats(sched, &s);
    CHECK_INT(s.bound, 5);
    CHECK_INT(s.unschedulable, 1);
    CHECK_INT(s.pending, 1);

    /* nothing changed: no retry, no write (the message is already there) */
    before = store_applied_index(st[0]);
    now_ms += 2000;
    sched_tick(sched);
    sched_run_round(sched);
    commit();
    CHECK_INT(store_applied_index(st[0]) - before, 0);

    /* a node that fits arrives: the pod is retried after its back-off */
    node("n3", "8");
    commit();
    sched_tick(sched);
    sched_run_round(sched);
    commit();
    CHECK_STR(node_of("big"), "n3");
    CHECK_STR(scheduled("big"), "True");

    /* the pod changes between the round and its commit: Conflict, requeued */
    pod("h", "100m", NULL);
    commit();
    pod_op(STORE_UPDATE, "h", "100m", ",\"restartPolicy\":\"Never\"");
    sched_run_round(sched);
    commit();
    CHECK_STR(node_of("h"), "");
    sched_get_stats(sched, &s);
    CHECK_INT(s.conflicts, 1);
    CHECK_INT(s.pending, 1);
    sched_run_round(sched);
    commit();
    CHECK_STR(node_of("h"), "n3");
}

static void test_node_lifecycle(void)
{
    /* a pod on n1 that tolerates unreachable forever, one for 60 s */
    pod("stay", "0", ",\"nodeName\":\"n1\","
                     "\"tolerations\":[{\"key\":\"node.kubernetes.io/unreachable\",\"operator\":\"Exists\","
                     "\"effect\":\"NoExecute\"}]");
    pod("late", "0", ",\"nodeName\":\"n1\",\"tolerations\":[{\"key\":\"node.kubernetes.io/unreachable\","
                     "\"operator\":\"Exists\",\"tolerationSeconds\":60}]");
    commit();
    now_ms += 41000;
    lease("n2");
    lease("n3");
    commit();
    sched_tick(sched);
    commit();
    json_t *n1 = get("nodes", "", "n1");
    CHECK_STR(json_path_str(json_array_get(json_path(n1, "spec.taints"), 0), "key"),
              "node.kubernetes.io/unreachable");
    CHECK_STR(json_path_str(json_array_get(json_path(n1, "spec.taints"), 0), "effect"), "NoExecute");
    CHECK_STR(json_path_str(json_array_get(json_path(n1, "status.conditions"), 0), "status"), "Unknown");
    json_decref(n1);
    json_t *n2 = get("nodes", "", "n2");
    CHECK(json_path(n2, "spec.taints") == NULL);
    json_decref(n2);
    CHECK_STR(node_of("a"), "n1");

    /* new pods avoid n1 */
    pod("f", "100m", NULL);
    commit();
    sched_run_round(sched);
    commit();
    CHECK_STR(node_of("f"), "n3"); /* binpack: the fuller of n2, n3 */

    /* after the toleration period n1's pods are deleted, except the tolerant */
    now_ms += 29000;
    lease("n2");
    lease("n3");
    commit();
    sched_tick(sched);
    commit();
    CHECK_STR(node_of("a"), "n1");
    now_ms += 2000;
    sched_tick(sched);
    commit();
    for (const char *p = "abcd"; *p; p++) {
        char name[2] = {*p, 0};
        CHECK_STR(node_of(name), "(gone)");
    }
    CHECK_STR(node_of("stay"), "n1");
    CHECK_STR(node_of("late"), "n1");
    CHECK_STR(node_of("e"), "n2");
    now_ms += 30000;
    lease("n2");
    lease("n3");
    commit();
    sched_tick(sched);
    commit();
    CHECK_STR(node_of("late"), "(gone)");
    CHECK_STR(node_of("stay"), "n1");
    struct sched_stats s;
    sched_get_stats(sched, &s);
    CHECK_INT(s.evicted, 5);
    CHECK_INT(s.nodes_marked, 1);

    /* the lease comes back: taint removed, Ready again */
    lease("n1");
    commit();
    sched_tick(sched);
    commit();
    n1 = get("nodes", "", "n1");
    CHECK(json_path(n1, "spec.taints") == NULL);
    CHECK_STR(json_path_str(json_array_get(json_path(n1, "status.conditions"), 0), "status"), "True");
    json_decref(n1);
}

static void test_deposed(void)
{
    pod("g", "100m", NULL);
    commit();
    sched_run_round(sched); /* proposed, not yet committed */
    raft_fixture_depose(&f);
    store_fixture_flush(st[0]); /* fails the queued proposal; on_leader_change(false) */
    CHECK(!store_is_leader(st[0]));
    struct sched_stats s;
    sched_get_stats(sched, &s);
    CHECK_INT(s.nodes, 0);
    CHECK_INT(s.pods, 0);
    CHECK_INT(s.pending, 0);
    uint64_t bound = s.bound;
    sched_run_round(sched);
    sched_tick(sched);
    raft_fixture_elect(&f, 1);
    CHECK(store_is_leader(st[1]));
    sched_get_stats(sched, &s);
    CHECK_INT(s.bound, bound);
    CHECK_INT(s.pods, 0);
    CHECK_STR(node_of("g"), "");
}

int main(void)
{
    cluster_up();
    RUN(test_round);
    RUN(test_node_lifecycle);
    RUN(test_deposed);
    sched_close(sched, NULL, NULL);
    raft_fixture_close(&f);
    for (int i = 0; i < N; i++)
        store_close(st[i], NULL, NULL);
    UNIT_EXIT();
}
