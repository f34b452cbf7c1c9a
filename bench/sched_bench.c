/* sched_bench.c: scheduler throughput and memory with simulated nodes.
 *
 * In one process, like berthd: opens a real single-member store (raft log on
 * disk under $BENCH_DIR or /var/tmp, a libuv loop), registers NODES Ready
 * nodes with fresh leases (node objects shaped like the agent's: capacity,
 * allocatable, conditions, addresses, nodeInfo), starts the scheduler as
 * leader and measures the RSS each simulated node costs (store + scheduler
 * caches). Then, with the scheduler stopped, it creates PODS pending pods
 * (REPLICASETS owners, 100m / 128Mi each), makes the scheduler leader again
 * and times until every binding is committed: the time includes listing and
 * parsing the pods into the cache, placing them, and raft commits to disk.
 *
 * usage: sched_bench [NODES [PODS [binpack|spread]]]   (default 1000 30000) */
#define _GNU_SOURCE /* asprintf */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "common/errors.h"
#include "common/jsonutil.h"
#include "common/log.h"
#include "scheduler/sched.h"
#include "store/store.h"

#define REPLICASETS 30
#define CHUNK 1000

static uv_loop_t loop;
static store_t *store;
static sched_t *sched;
static int pending, failed;

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6))
            kb = atol(line + 6);
    if (f)
        fclose(f);
    return kb;
}

static void done_cb(void *data, int rc, const struct store_result *r, size_t n)
{
    pending--;
    for (size_t i = 0; i < n; i++)
        if (rc || r[i].rc)
            failed++;
}

static bool settled(void)
{
    return pending == 0;
}

static bool ready(void)
{
    return store_ready(store) && store_is_leader(store);
}

static void run_until(bool (*cond)(void))
{
    while (!cond())
        uv_run(&loop, UV_RUN_ONCE);
}

/* Proposes a batch of n mutations whose texts are in jsons (freed here). */
static void propose(struct store_mut *m, char **jsons, size_t n)
{
    if (!n)
        return;
    int rc = store_propose(store, m, n, done_cb, NULL);
    if (rc) {
        fprintf(stderr, "propose: %s\n", be_strerror(rc));
        exit(1);
    }
    pending++;
    for (size_t i = 0; i < n; i++)
        free(jsons[i]);
    run_until(settled);
}

static void add_nodes(int nodes)
{
    struct store_mut m[2 * CHUNK];
    char *jsons[2 * CHUNK], names[CHUNK][32], ts[40];
    size_t n = 0;
    time_format_rfc3339(time(NULL), ts, sizeof ts);
    for (int i = 0; i < nodes; i++) {
        char *j;
        int len;
        snprintf(names[n / 2], sizeof names[0], "node-%05d", i);
        const char *name = names[n / 2];
        len = asprintf(&j,
            "{\"metadata\":{\"name\":\"%s\",\"uid\":\"00000000-0000-4000-8000-%012d\","
            "\"creationTimestamp\":\"%s\",\"labels\":{\"kubernetes.io/hostname\":\"%s\","
            "\"kubernetes.io/os\":\"linux\",\"kubernetes.io/arch\":\"amd64\",\"zone\":\"z%d\"}},"
            "\"apiVersion\":\"v1\",\"kind\":\"Node\",\"spec\":{},\"status\":{"
            "\"capacity\":{\"cpu\":\"32\",\"memory\":\"64Gi\",\"pods\":\"110\"},"
            "\"allocatable\":{\"cpu\":\"32\",\"memory\":\"64Gi\",\"pods\":\"110\"},"
            "\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\",\"reason\":\"KubeletReady\","
            "\"message\":\"berth-agent is posting ready status\",\"lastHeartbeatTime\":\"%s\","
            "\"lastTransitionTime\":\"%s\"}],\"addresses\":[{\"type\":\"InternalIP\","
            "\"address\":\"10.%d.%d.%d\"},{\"type\":\"Hostname\",\"address\":\"%s\"}],"
            "\"nodeInfo\":{\"kubeletVersion\":\"berth-0.1\",\"operatingSystem\":\"linux\","
            "\"architecture\":\"amd64\",\"containerRuntimeVersion\":\"berth://0.1\"}}}",
            name, i, ts, name, i % 3, ts, ts, i >> 16 & 255, i >> 8 & 255, i & 255, name);
        m[n] = (struct store_mut){.op = STORE_CREATE, .resource = "nodes", .ns = "",
                                  .name = name, .json = j, .json_len = (size_t)len};
        jsons[n++] = j;
        len = asprintf(&j,
            "{\"metadata\":{\"name\":\"%s\",\"namespace\":\"kube-node-lease\","
            "\"uid\":\"00000000-0000-4000-9000-%012d\",\"creationTimestamp\":\"%s\"},"
            "\"apiVersion\":\"coordination.k8s.io/v1\",\"kind\":\"Lease\",\"spec\":{"
            "\"holderIdentity\":\"%s\",\"leaseDurationSeconds\":40,\"renewTime\":\"%s\"}}",
            name, i, ts, name, ts);
        m[n] = (struct store_mut){.op = STORE_CREATE, .resource = "leases",
                                  .ns = "kube-node-lease", .name = name, .json = j,
                                  .json_len = (size_t)len};
        jsons[n++] = j;
        if (n == 2 * CHUNK) {
            propose(m, jsons, n);
            n = 0;
        }
    }
    propose(m, jsons, n);
}

static void add_pods(int pods)
{
    struct store_mut m[CHUNK];
    char *jsons[CHUNK], names[CHUNK][48], owners[CHUNK][48], ts[40];
    size_t n = 0;
    time_format_rfc3339(time(NULL), ts, sizeof ts);
    for (int i = 0; i < pods; i++) {
        int rs = i % REPLICASETS;
        char *j;
        snprintf(names[n], sizeof names[0], "web%02d-%07d", rs, i);
        snprintf(owners[n], sizeof owners[0], "11111111-0000-4000-8000-%012d", rs);
        int len = asprintf(&j,
            "{\"metadata\":{\"name\":\"%s\",\"namespace\":\"default\",\"uid\":"
            "\"22222222-0000-4000-8000-%012d\",\"creationTimestamp\":\"%s\",\"labels\":"
            "{\"app\":\"web%02d\",\"pod-template-hash\":\"7d9c5f\"},\"ownerReferences\":[{"
            "\"apiVersion\":\"apps/v1\",\"kind\":\"ReplicaSet\",\"name\":\"web%02d-7d9c5f\","
            "\"uid\":\"%s\",\"controller\":true,\"blockOwnerDeletion\":true}]},"
            "\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"spec\":{\"containers\":[{\"name\":\"web\","
            "\"image\":\"busybox\",\"command\":[\"httpd\",\"-f\"],\"resources\":{\"requests\":"
            "{\"cpu\":\"100m\",\"memory\":\"128Mi\"},\"limits\":{\"cpu\":\"200m\",\"memory\":"
            "\"256Mi\"}}}],\"restartPolicy\":\"Always\",\"terminationGracePeriodSeconds\":30},"
            "\"status\":{\"phase\":\"Pending\"}}",
            names[n], i, ts, rs, rs, owners[n]);
        m[n] = (struct store_mut){.op = STORE_CREATE, .resource = "pods", .ns = "default",
                                  .name = names[n], .json = j, .json_len = (size_t)len,
                                  .owner = owners[n]};
        jsons[n++] = j;
        if (n == CHUNK) {
            propose(m, jsons, n);
            n = 0;
        }
    }
    propose(m, jsons, n);
}

static int want_bound;
static bool all_bound(void)
{
    struct sched_stats st;
    sched_get_stats(sched, &st);
    return (int)st.bound >= want_bound || (st.pending == 0 && st.inflight == 0);
}

static int closed;
static void on_closed(void *data)
{
    closed = 1;
}
static bool is_closed(void)
{
    return closed;
}

int main(int argc, char **argv)
{
    int nodes = argc > 1 ? atoi(argv[1]) : 1000;
    int pods = argc > 2 ? atoi(argv[2]) : 30000;
    struct sched_config sc = {0};
    if (argc > 3 && sched_strategy_parse(argv[3], &sc.strategy)) {
        fprintf(stderr, "usage: sched_bench [NODES [PODS [binpack|spread]]]\n");
        return 2;
    }
    if (nodes <= 0 || pods < 0) {
        fprintf(stderr, "usage: sched_bench [NODES [PODS [binpack|spread]]]\n");
        return 2;
    }
    log_set_level(LOG_WARN);
    const char *base = getenv("BENCH_DIR") ? getenv("BENCH_DIR") : "/var/tmp";
    char dir[512], addr[32], err[256];
    snprintf(dir, sizeof dir, "%s/berth-sched-bench-XXXXXX", base);
    if (!mkdtemp(dir)) {
        perror(dir);
        return 1;
    }
    snprintf(addr, sizeof addr, "127.0.0.1:%d", 30000 + getpid() % 20000);
    uv_loop_init(&loop);
    struct store_config cfg = {.name = "bench", .data_dir = dir, .raft_address = addr};
    if (store_open(&loop, &cfg, &store, err, sizeof err)) {
        fprintf(stderr, "store_open: %s\n", err);
        return 1;
    }
    run_until(ready);
    if (sched_new(&loop, store, &sc, &sched)) {
        fprintf(stderr, "sched_new failed\n");
        return 1;
    }
    long rss0 = rss_kb();
    uint64_t t0 = uv_hrtime();
    add_nodes(nodes);
    uint64_t t_nodes = uv_hrtime() - t0;
    sched_leader_changed(sched, true);
    long rss1 = rss_kb();
    sched_leader_changed(sched, false); /* pods arrive while it is stopped */
    add_pods(pods);
    long rss2 = rss_kb();

    want_bound = pods;
    t0 = uv_hrtime();
    sched_leader_changed(sched, true); /* lists and parses every pod */
    uint64_t t_list = uv_hrtime() - t0;
    run_until(all_bound);
    uint64_t t_all = uv_hrtime() - t0;
    struct sched_stats st;
    sched_get_stats(sched, &st);
    long rss3 = rss_kb();

    printf("sched_bench: %d nodes, %d pending pods, strategy %s, raft log on %s\n", nodes, pods,
           sc.strategy == SCHED_SPREAD ? "spread" : "binpack", base);
    printf("  registered nodes+leases in %.2f s (setup)\n", t_nodes / 1e9);
    printf("  bound %llu pods in %.3f s (of it %.3f s listing+parsing the cache): %.0f placements/s committed"
           " (%.0f/s after the list)\n",
           (unsigned long long)st.bound, t_all / 1e9, t_list / 1e9,
           st.bound / (t_all / 1e9), st.bound / ((t_all - t_list) / 1e9));
    printf("  rounds %llu, conflicts %llu, unschedulable %llu, failed setup writes %d\n",
           (unsigned long long)st.rounds, (unsigned long long)st.conflicts,
           (unsigned long long)st.unschedulable, failed);
    printf("  RSS: empty store %.1f MiB; with %d nodes+leases cached %.1f MiB (%.1f KiB per node);"
           " +%d pods %.1f MiB; after scheduling %.1f MiB\n",
           rss0 / 1024.0, nodes, rss1 / 1024.0, (double)(rss1 - rss0) / nodes, pods,
           rss2 / 1024.0, rss3 / 1024.0);

    sched_close(sched, NULL, NULL);
    store_close(store, on_closed, NULL);
    run_until(is_closed);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return st.bound == (uint64_t)pods ? 0 : 1;
}
