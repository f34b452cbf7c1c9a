/* test_sched.c: the scheduler's pure placement core (scheduler/place.h)
 * over static node lists: binpack and spread, every filter (Ready and
 * stale leases, unschedulable, taints and tolerations, nodeSelector, node
 * affinity operators, resources, pod count, host ports), the exact reason
 * message, the owner-spreading tie-break, request parsing, and runs of
 * same-shaped pods giving exactly the choices of one-by-one placement. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "scheduler/place.h"
#include "unit.h"

#define NOW 1800000000000LL
#define MAXN 64

static struct sched_node *nodes[MAXN];
static size_t nnodes;

static json_t *parse(const char *fmt, va_list ap)
{
    char buf[4096];
    vsnprintf(buf, sizeof buf, fmt, ap);
    json_error_t err;
    json_t *j = json_loads(buf, 0, &err);
    if (!j)
        fprintf(stderr, "bad test json: %s: %s\n", err.text, buf);
    return j;
}

/* Adds a node from JSON text (printf format). */
static struct sched_node *add_node_json(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    json_t *j = parse(fmt, ap);
    va_end(ap);
    struct sched_node *n = calloc(1, sizeof *n);
    CHECK_INT(sched_node_parse(j, n), 0);
    json_decref(j);
    n->heartbeat_ms = NOW;
    nodes[nnodes++] = n;
    return n;
}

/* A Ready node with cpu (quantity), 8Gi, 110 pods and extra spec/labels. */
static struct sched_node *add_node(const char *name, const char *cpu, const char *labels,
                                   const char *taints)
{
    return add_node_json(
        "{\"metadata\":{\"name\":\"%s\",\"labels\":%s},\"spec\":{\"taints\":%s},"
        "\"status\":{\"allocatable\":{\"cpu\":\"%s\",\"memory\":\"8Gi\",\"pods\":\"110\"},"
        "\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]}}",
        name, labels ? labels : "{}", taints ? taints : "[]", cpu);
}

static void clear_nodes(void)
{
    for (size_t i = 0; i < nnodes; i++) {
        sched_node_free(nodes[i]);
        free(nodes[i]);
    }
    nnodes = 0;
}

static struct place_snapshot snap(enum sched_strategy st)
{
    struct place_snapshot s = {.nodes = nodes, .n = nnodes, .now_ms = NOW,
                               .grace_ms = 40000, .strategy = st};
    place_rank_names(&s);
    return s;
}

static struct sched_pod *pod_json(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    json_t *j = parse(fmt, ap);
    va_end(ap);
    struct sched_pod *p = calloc(1, sizeof *p);
    CHECK_INT(sched_pod_parse(j, p), 0);
    json_decref(j);
    return p;
}

/* A pod requesting cpu, with extra spec members (",..." or ""). */
static struct sched_pod *pod(const char *name, const char *cpu, const char *spec_extra)
{
    return pod_json("{\"metadata\":{\"name\":\"%s\",\"namespace\":\"default\"},"
                    "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"x\","
                    "\"resources\":{\"requests\":{\"cpu\":\"%s\"}}}]%s}}",
                    name, cpu, spec_extra ? spec_extra : "");
}

static void pod_del(struct sched_pod *p)
{
    sched_pod_free(p);
    free(p);
}

/* Places p and assumes it; returns the node name or NULL, message in msg. */
static const char *place(struct place_snapshot *s, struct sched_pod *p, char *msg, size_t len)
{
    struct place_result r = {0};
    CHECK_INT(place_one(s, p, &r), 0);
    const char *name = NULL;
    if (r.node >= 0) {
        CHECK_INT(place_assume(s->nodes[r.node], p), 0);
        name = s->nodes[r.node]->name;
    }
    if (msg)
        place_message(&r, msg, len);
    place_result_free(&r);
    return name;
}

static const char *place1(struct place_snapshot *s, const char *cpu, const char *extra)
{
    static char name[64];
    struct sched_pod *p = pod("p", cpu, extra);
    const char *n = place(s, p, NULL, 0);
    snprintf(name, sizeof name, "%s", n ? n : "(none)");
    pod_del(p);
    return name;
}

static void expect_msg(struct place_snapshot *s, struct sched_pod *p, const char *want)
{
    char msg[1024];
    CHECK(place(s, p, msg, sizeof msg) == NULL);
    CHECK_STR(msg, want);
}

static void test_binpack(void)
{
    add_node("n1", "4000m", NULL, NULL);
    add_node("n2", "4", NULL, NULL);
    struct place_snapshot s = snap(SCHED_BINPACK);
    for (int i = 0; i < 4; i++)
        CHECK_STR(place1(&s, "1000m", NULL), "n1");
    CHECK_STR(place1(&s, "1", NULL), "n2");
    CHECK_INT(nodes[0]->used_cpu, 4000);
    CHECK_INT(nodes[0]->used_pods, 4);
    struct sched_pod *big = pod("big", "5000m", NULL);
    expect_msg(&s, big, "0/2 nodes are available: 2 Insufficient cpu.");
    pod_del(big);
    clear_nodes();
}

static void test_spread(void)
{
    add_node("n1", "4", NULL, NULL);
    add_node("n2", "4", NULL, NULL);
    struct place_snapshot s = snap(SCHED_SPREAD);
    CHECK_STR(place1(&s, "1", NULL), "n1");
    CHECK_STR(place1(&s, "1", NULL), "n2");
    CHECK_STR(place1(&s, "1", NULL), "n1");
    CHECK_STR(place1(&s, "1", NULL), "n2");
    clear_nodes();
}

static void test_taints(void)
{
    add_node("n1", "4", NULL, "[{\"key\":\"k\",\"value\":\"v\",\"effect\":\"NoSchedule\"}]");
    struct place_snapshot s = snap(SCHED_BINPACK);
    struct sched_pod *p = pod("p", "1", NULL);
    expect_msg(&s, p, "0/1 nodes are available: 1 node(s) had untolerated taint {k: v}.");
    pod_del(p);
    const char *ok[] = {
        ",\"tolerations\":[{\"key\":\"k\",\"operator\":\"Equal\",\"value\":\"v\",\"effect\":\"NoSchedule\"}]",
        ",\"tolerations\":[{\"key\":\"k\",\"value\":\"v\"}]",
        ",\"tolerations\":[{\"key\":\"k\",\"operator\":\"Exists\"}]",
        ",\"tolerations\":[{\"operator\":\"Exists\"}]",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        CHECK_STR(place1(&s, "1m", ok[i]), "n1");
    const char *bad[] = {
        ",\"tolerations\":[{\"key\":\"k\",\"value\":\"w\"}]",
        ",\"tolerations\":[{\"key\":\"k\",\"operator\":\"Exists\",\"effect\":\"NoExecute\"}]",
        ",\"tolerations\":[{\"key\":\"\",\"operator\":\"Equal\"}]",
        ",\"tolerations\":[{\"key\":\"other\",\"operator\":\"Exists\"}]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_STR(place1(&s, "1m", bad[i]), "(none)");
    clear_nodes();

    /* NoExecute rejects too; PreferNoSchedule never does */
    add_node("n1", "4", NULL, "[{\"key\":\"a\",\"effect\":\"NoExecute\"}]");
    add_node("n2", "4", NULL, "[{\"key\":\"b\",\"value\":\"x\",\"effect\":\"PreferNoSchedule\"}]");
    s = snap(SCHED_BINPACK);
    CHECK_STR(place1(&s, "1", NULL), "n2");
    CHECK_STR(place1(&s, "1", ",\"tolerations\":[{\"key\":\"a\",\"operator\":\"Exists\",\"effect\":\"NoExecute\"}]"),
              "n2"); /* binpack: n2 already has a pod */
    struct sched_node *n1 = nodes[0];
    struct sched_taint t = n1->taints[0];
    int64_t secs;
    struct sched_pod *tp = pod("p", "1", ",\"tolerations\":[{\"key\":\"a\",\"operator\":\"Exists\","
                                         "\"tolerationSeconds\":60},{\"operator\":\"Exists\"}]");
    CHECK(place_tolerates(tp, &t, &secs));
    CHECK_INT(secs, 60);
    pod_del(tp);
    tp = pod("p", "1", ",\"tolerations\":[{\"key\":\"a\",\"operator\":\"Exists\"}]");
    CHECK(place_tolerates(tp, &t, &secs));
    CHECK_INT(secs, -1);
    pod_del(tp);
    clear_nodes();
}

static void test_selector_and_affinity(void)
{
    add_node("n1", "4", "{\"disk\":\"ssd\",\"gen\":\"5\"}", NULL);
    add_node("n2", "4", "{\"disk\":\"hdd\",\"gen\":\"3\"}", NULL);
    add_node("n3", "4", "{\"zone\":\"b\"}", NULL);
    struct place_snapshot s = snap(SCHED_SPREAD); /* fresh nodes each time: ties by name */
    CHECK_STR(place1(&s, "0", ",\"nodeSelector\":{\"disk\":\"hdd\"}"), "n2");
    CHECK_STR(place1(&s, "0", ",\"nodeSelector\":{\"disk\":\"nvme\"}"), "(none)");
#define AFF(exprs) ",\"affinity\":{\"nodeAffinity\":{\"requiredDuringSchedulingIgnoredDuringExecution\":" \
                   "{\"nodeSelectorTerms\":[" exprs "]}}}"
    CHECK_STR(place1(&s, "0", AFF("{\"matchExpressions\":[{\"key\":\"disk\",\"operator\":\"In\",\"values\":[\"hdd\",\"x\"]}]}")), "n2");
    CHECK_STR(place1(&s, "0", AFF("{\"matchExpressions\":[{\"key\":\"disk\",\"operator\":\"NotIn\",\"values\":[\"ssd\"]}]}")), "n2");
    CHECK_STR(place1(&s, "0", AFF("{\"matchExpressions\":[{\"key\":\"zone\",\"operator\":\"Exists\"}]}")), "n3");
    CHECK_STR(place1(&s, "0", AFF("{\"matchExpressions\":[{\"key\":\"disk\",\"operator\":\"DoesNotExist\"}]}")), "n3");
    CHECK_STR(place1(&s, "0", AFF("{\"matchExpressions\":[{\"key\":\"gen\",\"operator\":\"Gt\",\"values\":[\"4\"]}]}")), "n1");
    CHECK_STR(place1(&s, "0", AFF("{\"matchExpressions\":[{\"key\":\"gen\",\"operator\":\"Lt\",\"values\":[\"4\"]}]}")), "n2");
    CHECK_STR(place1(&s, "0", AFF("{\"matchExpressions\":[{\"key\":\"gen\",\"operator\":\"Gt\",\"values\":[\"x\"]}]}")), "(none)");
    /* terms are ORed, expressions ANDed */
    CHECK_STR(place1(&s, "0", AFF("{\"matchExpressions\":[{\"key\":\"disk\",\"operator\":\"In\",\"values\":[\"ssd\"]},"
                                  "{\"key\":\"gen\",\"operator\":\"Lt\",\"values\":[\"4\"]}]},"
                                  "{\"matchExpressions\":[{\"key\":\"zone\",\"operator\":\"In\",\"values\":[\"b\"]}]}")), "n3");
    CHECK_STR(place1(&s, "0", AFF("{\"matchFields\":[{\"key\":\"metadata.name\",\"operator\":\"In\",\"values\":[\"n2\"]}]}")), "n2");
    CHECK_STR(place1(&s, "0", AFF("{}")), "(none)"); /* an empty term matches nothing */
    struct sched_pod *p = pod("p", "0", ",\"nodeSelector\":{\"disk\":\"ssd\"}" AFF("{\"matchExpressions\":[{\"key\":\"zone\",\"operator\":\"Exists\"}]}"));
    expect_msg(&s, p, "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector.");
    pod_del(p);
    clear_nodes();
}

static void test_ports_and_pod_count(void)
{
    add_node_json("{\"metadata\":{\"name\":\"n1\"},\"status\":{\"allocatable\":{\"cpu\":\"4\",\"memory\":\"1Gi\",\"pods\":2},"
                  "\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]}}");
    struct place_snapshot s = snap(SCHED_BINPACK);
#define PORT(p, proto) ",\"containers\":[{\"name\":\"c\",\"image\":\"x\",\"ports\":[{\"containerPort\":80,\"hostPort\":" #p ",\"protocol\":\"" proto "\"}]}]"
    struct sched_pod *a = pod_json("{\"metadata\":{\"name\":\"a\"},\"spec\":{\"x\":0" PORT(8080, "TCP") "}}");
    struct sched_pod *b = pod_json("{\"metadata\":{\"name\":\"b\"},\"spec\":{\"x\":0" PORT(8080, "TCP") "}}");
    struct sched_pod *u = pod_json("{\"metadata\":{\"name\":\"u\"},\"spec\":{\"x\":0" PORT(8080, "UDP") "}}");
    CHECK_INT(a->nports, 1);
    CHECK(place(&s, a, NULL, 0) != NULL);
    expect_msg(&s, b, "0/1 nodes are available: 1 node(s) didn't have free ports for the requested pod ports.");
    CHECK(place(&s, u, NULL, 0) != NULL);
    struct sched_pod *c = pod("c", "0", NULL);
    expect_msg(&s, c, "0/1 nodes are available: 1 Too many pods.");
    place_forget(nodes[0], a); /* a leaves: its port and slot are free */
    CHECK(place(&s, b, NULL, 0) != NULL);
    CHECK_INT(nodes[0]->nports, 2);
    pod_del(a);
    pod_del(b);
    pod_del(u);
    pod_del(c);
    clear_nodes();
}

static void test_ready_and_unschedulable(void)
{
    add_node_json("{\"metadata\":{\"name\":\"n1\"},\"status\":{\"allocatable\":{\"cpu\":\"4\",\"memory\":\"1Gi\"},"
                  "\"conditions\":[{\"type\":\"Ready\",\"status\":\"False\"}]}}");
    add_node_json("{\"metadata\":{\"name\":\"n2\"},\"status\":{\"allocatable\":{\"cpu\":\"4\",\"memory\":\"1Gi\"}}}");
    struct sched_node *stale = add_node("n3", "4", NULL, NULL);
    stale->heartbeat_ms = NOW - 40001;
    add_node_json("{\"metadata\":{\"name\":\"n4\"},\"spec\":{\"unschedulable\":true},\"status\":{\"allocatable\":{\"cpu\":\"4\",\"memory\":\"1Gi\"},"
                  "\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]}}");
    struct sched_node *edge = add_node("n5", "4", NULL, NULL);
    edge->heartbeat_ms = NOW - 40000; /* exactly the grace period: still fresh */
    struct place_snapshot s = snap(SCHED_BINPACK);
    CHECK_INT(nodes[0]->alloc_pods, 110);
    CHECK_STR(place1(&s, "1", NULL), "n5");
    edge->heartbeat_ms = NOW - 50000;
    struct sched_pod *p = pod("p", "1", NULL);
    expect_msg(&s, p, "0/5 nodes are available: 4 node(s) were not ready, 1 node(s) were unschedulable.");
    pod_del(p);
    clear_nodes();
}

/* The brief's example: each node counted once, under its first failing filter. */
static void test_message_counts(void)
{
    add_node("a", "1", NULL, NULL);
    add_node("b", "1", NULL, NULL);
    add_node("c", "1", NULL, "[{\"key\":\"k\",\"value\":\"v\",\"effect\":\"NoSchedule\"}]"); /* also too small */
    struct place_snapshot s = snap(SCHED_BINPACK);
    struct sched_pod *p = pod("p", "2", NULL);
    expect_msg(&s, p, "0/3 nodes are available: 2 Insufficient cpu, 1 node(s) had untolerated taint {k: v}.");
    pod_del(p);
    add_node("d", "1", NULL, "[{\"key\":\"x\",\"effect\":\"NoExecute\"}]");
    add_node("e", "8", NULL, NULL);
    add_node("f", "1", NULL, "[{\"key\":\"k\",\"value\":\"v\",\"effect\":\"NoExecute\"}]");
    s = snap(SCHED_BINPACK);
    p = pod_json("{\"metadata\":{\"name\":\"p\"},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"x\","
                 "\"resources\":{\"requests\":{\"cpu\":\"2\",\"memory\":\"9Gi\"}}}]}}");
    expect_msg(&s, p, "0/6 nodes are available: 2 Insufficient cpu, 2 node(s) had untolerated taint {k: v}, "
                      "1 Insufficient memory, 1 node(s) had untolerated taint {x: }.");
    pod_del(p);
    clear_nodes();
    s = snap(SCHED_BINPACK);
    p = pod("p", "1", NULL);
    expect_msg(&s, p, "0/0 nodes are available: no nodes registered.");
    pod_del(p);
}

static struct sched_pod *owned(const char *owner, const char *cpu)
{
    return pod_json("{\"metadata\":{\"name\":\"p\",\"ownerReferences\":[{\"kind\":\"ReplicaSet\",\"name\":\"rs\","
                    "\"uid\":\"%s\",\"controller\":true}]},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"x\","
                    "\"resources\":{\"requests\":{\"cpu\":\"%s\"}}}]}}",
                    owner, cpu);
}

/* On equal scores the node with fewer pods of the same owner wins. */
static void test_owner_spreading(void)
{
    add_node("n1", "100", NULL, NULL);
    add_node("n2", "100", NULL, NULL);
    add_node("n3", "100", NULL, NULL);
    struct place_snapshot s = snap(SCHED_BINPACK);
    const char *want[] = {"n1", "n2", "n3", "n1", "n2"};
    struct sched_pod *ps[5];
    for (int i = 0; i < 5; i++) {
        ps[i] = owned("rs-a", "10m"); /* 10m of 100 cores: score 0 everywhere */
        CHECK_STR(place(&s, ps[i], NULL, 0), want[i]);
    }
    struct sched_pod *other = owned("rs-b", "10m");
    CHECK_STR(place(&s, other, NULL, 0), "n1"); /* another owner: name order */
    CHECK_INT(place_owner_count(nodes[0], ps[0]->owner), 2);
    CHECK_INT(place_owner_count(nodes[0], other->owner), 1);
    place_forget(nodes[0], other);
    CHECK_INT(place_owner_count(nodes[0], other->owner), 0);
    for (int i = 0; i < 5; i++)
        pod_del(ps[i]);
    pod_del(other);
    clear_nodes();
}

static void test_requests(void)
{
    struct sched_pod *p = pod_json(
        "{\"metadata\":{\"name\":\"p\",\"namespace\":\"ns\",\"uid\":\"u1\",\"deletionTimestamp\":\"2026-01-01T00:00:00Z\"},"
        "\"spec\":{\"nodeName\":\"n9\",\"containers\":["
        "{\"name\":\"a\",\"resources\":{\"requests\":{\"cpu\":\"250m\",\"memory\":\"64Mi\"}}},"
        "{\"name\":\"b\",\"resources\":{\"limits\":{\"cpu\":1,\"memory\":\"1Gi\"}}},"
        "{\"name\":\"c\"}],"
        "\"initContainers\":[{\"name\":\"i\",\"resources\":{\"requests\":{\"cpu\":\"2\",\"memory\":\"1Mi\"}}}]},"
        "\"status\":{\"phase\":\"Succeeded\",\"conditions\":[{\"type\":\"PodScheduled\",\"status\":\"False\",\"message\":\"m\"}]}}");
    CHECK_INT(p->cpu, 2000);
    CHECK_INT(p->mem, 64 * 1048576 + 1073741824LL);
    CHECK_STR(p->node_name, "n9");
    CHECK_STR(p->ns, "ns");
    CHECK(p->terminal);
    CHECK(p->deleting);
    CHECK_STR(p->sched_msg, "m");
    CHECK_INT(p->owner, 0);
    pod_del(p);
    CHECK_INT(sched_parse_time_ms("2026-01-01T00:00:01.250000Z"), 1767225601250LL);
    CHECK_INT(sched_parse_time_ms("nope"), -1);
}

/* Runs give the choices and the final message of one-by-one placement. */
static void test_runs_match_one_by_one(void)
{
    static struct sched_node *copy[40];
    srand(7);
    for (int round = 0; round < 20; round++) {
        for (int i = 0; i < 40; i++) {
            char name[16], cpu[16];
            snprintf(name, sizeof name, "n%02d", (i * 7) % 40);
            snprintf(cpu, sizeof cpu, "%d", 1 + rand() % 8);
            add_node(name, cpu, NULL, rand() % 5 ? NULL : "[{\"key\":\"t\",\"effect\":\"NoSchedule\"}]");
        }
        for (int i = 0; i < 40; i++) {
            copy[i] = calloc(1, sizeof *copy[i]);
            *copy[i] = *nodes[i];
            copy[i]->name = strdup(nodes[i]->name);
            copy[i]->ports = NULL;
            copy[i]->owners = NULL;
            copy[i]->nports = copy[i]->cap_ports = copy[i]->nowners = copy[i]->cap_owners = 0;
            copy[i]->labels = NULL;
            copy[i]->nlabels = 0;
            copy[i]->taints = nodes[i]->taints; /* shared, read-only */
        }
        struct place_snapshot a = snap(round % 2 ? SCHED_SPREAD : SCHED_BINPACK);
        struct place_snapshot b = a;
        b.nodes = copy;
        place_rank_names(&b);
        char cpu[16], own[16];
        snprintf(cpu, sizeof cpu, "%dm", 100 + rand() % 2000);
        snprintf(own, sizeof own, "o%d", rand() % 3);
        struct sched_pod *p = owned(own, cpu);
        struct place_run run;
        CHECK_INT(place_run_begin(&run, &b, p), 0);
        for (int k = 0; k < 150; k++) {
            struct place_result r = {0};
            CHECK_INT(place_one(&a, p, &r), 0);
            if (r.node >= 0)
                place_assume(a.nodes[r.node], p);
            int idx;
            CHECK_INT(place_run_next(&run, p, &idx), 0);
            CHECK_INT(idx >= 0 ? (long long)sched_hash(b.nodes[idx]->name) : -1,
                      r.node >= 0 ? (long long)sched_hash(a.nodes[r.node]->name) : -1);
            if (r.node < 0) {
                char m1[512], m2[512];
                place_message(&r, m1, sizeof m1);
                place_message(&run.res, m2, sizeof m2);
                CHECK_STR(m2, m1);
                place_result_free(&r);
                break;
            }
            place_result_free(&r);
        }
        place_run_end(&run);
        pod_del(p);
        for (int i = 0; i < 40; i++) {
            free(copy[i]->name);
            free(copy[i]->ports);
            free(copy[i]->owners);
            free(copy[i]);
        }
        clear_nodes();
    }
}

int main(void)
{
    RUN(test_binpack);
    RUN(test_spread);
    RUN(test_taints);
    RUN(test_selector_and_affinity);
    RUN(test_ports_and_pod_count);
    RUN(test_ready_and_unschedulable);
    RUN(test_message_counts);
    RUN(test_owner_spreading);
    RUN(test_requests);
    RUN(test_runs_match_one_by_one);
    UNIT_EXIT();
}
