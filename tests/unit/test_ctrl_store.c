/* test_ctrl_store.c: the controller manager over a real single-member store
 * (raft on a temp dir, libuv loop): a Deployment written to the store gets
 * its ReplicaSet and pods with the right ownerReferences, scales 3 -> 5,
 * records Events, survives a loss and regain of leadership (caches rebuilt
 * from the store, nothing created twice), and deleting the Deployment
 * garbage-collects the ReplicaSet and the pods. Conditions are polled with
 * deadlines; the loop ends with no live handles. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "common/errors.h"
#include "common/jsonutil.h"
#include "controllers/ctrl.h"
#include "controllers/ctrl_int.h"
#include "store/store.h"
#include "unit.h"

static uv_loop_t loop;
static char dir[64], addr[32];
static store_t *st;
static ctrl_manager_t *mgr;

static void on_leader(void *data, bool is_leader)
{
    if (mgr) ctrl_manager_leader_changed(mgr, is_leader);
}

static bool run_until(bool (*cond)(void), int ms)
{
    uint64_t end = uv_now(&loop) + (uint64_t)ms;
    while (!cond()) {
        if (uv_now(&loop) > end) return false;
        uv_run(&loop, UV_RUN_ONCE);
    }
    return true;
}

static bool leading(void)
{
    return store_ready(st) && store_is_leader(st);
}

struct counts {
    const char *owner_uid;
    size_t n, owned;
};

static int count_cb(void *data, const char *ns, const char *name, uint64_t rev, const char *json,
                    size_t len)
{
    struct counts *c = data;
    json_t *j = json_loadb(json, len, 0, NULL);
    c->n++;
    if (c->owner_uid && ctrl_controller_ref(j) &&
        !strcmp(json_string_value(json_object_get(ctrl_controller_ref(j), "uid")), c->owner_uid))
        c->owned++;
    json_decref(j);
    return 0;
}

static struct counts counts(const char *resource, const char *owner_uid)
{
    struct counts c = {.owner_uid = owner_uid};
    store_list(st, resource, NULL, count_cb, &c, NULL);
    return c;
}

static char rs_uid[64];

static int rs_cb(void *data, const char *ns, const char *name, uint64_t rev, const char *json,
                 size_t len)
{
    json_t *j = json_loadb(json, len, 0, NULL);
    snprintf(rs_uid, sizeof rs_uid, "%s", json_path_str(j, "metadata.uid"));
    json_decref(j);
    return 1;
}

static int want_pods;
static bool pods_ready(void)
{
    rs_uid[0] = 0;
    store_list(st, "replicasets", NULL, rs_cb, NULL, NULL);
    return rs_uid[0] && counts("pods", rs_uid).owned == (size_t)want_pods &&
           counts("pods", NULL).n == (size_t)want_pods;
}

static bool all_gone(void)
{
    return counts("replicasets", NULL).n == 0 && counts("pods", NULL).n == 0;
}

static int pending, failures;
static void commit_cb(void *data, int rc, const struct store_result *r, size_t n)
{
    pending--;
    if (rc || r[0].rc) failures++;
}

static bool drained(void)
{
    return pending == 0;
}

static void put(enum store_op op, const char *resource, json_t *obj, uint64_t rev)
{
    size_t len;
    char *text = json_dump_object(obj, &len);
    struct store_mut m = {.op = op, .resource = resource, .ns = "default",
                          .name = json_path_str(obj, "metadata.name"), .expect_rev = rev,
                          .json = text, .json_len = len};
    CHECK_INT(store_propose(st, &m, 1, commit_cb, NULL), 0);
    pending++;
    free(text);
    CHECK(run_until(drained, 5000));
    CHECK_INT(failures, 0);
}

static const char deploy[] =
    "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"web\","
    "\"namespace\":\"default\",\"uid\":\"d-uid-1\",\"generation\":1},\"spec\":{\"replicas\":3,"
    "\"selector\":{\"matchLabels\":{\"app\":\"web\"}},\"strategy\":{\"type\":\"RollingUpdate\"},"
    "\"template\":{\"metadata\":{\"labels\":{\"app\":\"web\"}},\"spec\":{\"containers\":"
    "[{\"name\":\"c\",\"image\":\"busybox\"}]}}}}";

static int closed;
static void on_closed(void *data)
{
    closed++;
}

static void test_deployment_over_store(void)
{
    struct store_config cfg = {.name = "solo", .data_dir = dir, .raft_address = addr,
                               .election_timeout_ms = 100, .heartbeat_ms = 20,
                               .on_leader_change = on_leader};
    char err[256];
    int rc = store_open(&loop, &cfg, &st, err, sizeof err);
    CHECK_INT(rc, 0);
    if (rc) {
        fprintf(stderr, "store_open: %s\n", err);
        exit(1);
    }
    CHECK_INT(ctrl_manager_new(&loop, st, NULL, &mgr), 0);
    if (store_is_leader(st)) ctrl_manager_leader_changed(mgr, true);
    CHECK(run_until(leading, 5000));

    json_t *d = json_loads(deploy, 0, NULL);
    put(STORE_CREATE, "deployments", d, 0);
    want_pods = 3;
    CHECK(run_until(pods_ready, 5000));
    /* the ReplicaSet belongs to the Deployment */
    CHECK_INT(counts("replicasets", "d-uid-1").owned, 1);
    CHECK(counts("events", NULL).n >= 4); /* ScalingReplicaSet + 3 SuccessfulCreate */

    /* scale to 5 */
    char *text;
    uint64_t rev;
    CHECK_INT(store_get(st, "deployments", "default", "web", &text, NULL, &rev), 0);
    json_t *cur = json_loads(text, 0, NULL);
    free(text);
    json_object_set_new(json_object_get(cur, "spec"), "replicas", json_integer(5));
    json_object_set_new(json_object_get(cur, "metadata"), "generation", json_integer(2));
    put(STORE_UPDATE, "deployments", cur, rev);
    want_pods = 5;
    CHECK(run_until(pods_ready, 5000));

    /* a deposed leader stops; a new term rebuilds and creates nothing twice */
    ctrl_manager_leader_changed(mgr, false);
    ctrl_manager_leader_changed(mgr, true);
    uint64_t before = store_revision(st);
    uint64_t end = uv_now(&loop) + 300;
    while (uv_now(&loop) < end) uv_run(&loop, UV_RUN_NOWAIT);
    CHECK(pods_ready());
    CHECK_INT(counts("pods", NULL).n, 5);
    (void)before;

    /* delete the Deployment: the ReplicaSet and its pods are collected */
    put(STORE_DELETE, "deployments", cur, 0);
    json_decref(cur);
    json_decref(d);
    CHECK(run_until(all_gone, 5000));

    ctrl_manager_close(mgr, on_closed, NULL);
    mgr = NULL;
    while (closed < 1) uv_run(&loop, UV_RUN_ONCE);
    store_close(st, on_closed, NULL);
    while (closed < 2) uv_run(&loop, UV_RUN_ONCE);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/berth-ctrl-XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(addr, sizeof addr, "127.0.0.1:%d", unit_free_port());
    uv_loop_init(&loop);
    RUN(test_deployment_over_store);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_INT(uv_loop_close(&loop), 0);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK_INT(system(cmd), 0);
    UNIT_EXIT();
}
