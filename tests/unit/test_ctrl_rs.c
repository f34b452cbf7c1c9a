/* test_ctrl_rs.c: the controller framework's queue and expectations, the
 * ReplicaSet controller (slow start, a failed batch, deletion preference,
 * adoption and release, status) and the garbage collector (Background,
 * Orphan and Foreground), against the fake store and clock of
 * test_ctrl_fake.h. */
#include "test_ctrl_fake.h"

#include "common/errors.h"

static json_t *rs_json(const char *name, const char *uid, int replicas)
{
    return json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:i}, s:{s:i, s:{s:{s:s}}, s:{s:{s:{s:s}}, s:{s:[{s:s, s:s}]}}}}",
                     "apiVersion", "apps/v1", "kind", "ReplicaSet", "metadata", "name", name,
                     "namespace", "default", "uid", uid, "generation", 1, "spec", "replicas",
                     replicas, "selector", "matchLabels", "app", "web", "template", "metadata",
                     "labels", "app", "web", "spec", "containers", "name", "c", "image", "busybox");
}

static json_t *pod_json(const char *name, const char *owner_uid, const char *node, bool ready,
                        const char *created)
{
    json_t *p = json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:s, s:{s:s}}, s:{s:[{s:s}]}, s:{s:s}}",
                          "apiVersion", "v1", "kind", "Pod", "metadata", "name", name, "namespace",
                          "default", "uid", name, "creationTimestamp", created, "labels", "app",
                          "web", "spec", "containers", "name", "c", "status", "phase",
                          node ? "Running" : "Pending");
    if (owner_uid)
        json_object_set_new(json_object_get(p, "metadata"), "ownerReferences",
                            json_pack("[{s:s, s:s, s:s, s:s, s:b}]", "apiVersion", "apps/v1",
                                      "kind", "ReplicaSet", "name", "web", "uid", owner_uid,
                                      "controller", 1));
    if (node) json_object_set_new(json_object_get(p, "spec"), "nodeName", json_string(node));
    if (ready)
        json_object_set_new(json_object_get(p, "status"), "conditions",
                            json_pack("[{s:s, s:s, s:s}]", "type", "Ready", "status", "True",
                                      "lastTransitionTime", "2025-11-24T00:00:00Z"));
    return p;
}

static void test_queue_dedupe_and_backoff(void)
{
    ctrl_manager_t *m = fake_manager();
    struct ctrl *c = ctrl_of(m, "replicaset-controller");
    ctrl_enqueue(c, "default/a");
    ctrl_enqueue(c, "default/a");
    ctrl_enqueue(c, "default/b");
    char *k1 = ctrl_queue_pop(c), *k2 = ctrl_queue_pop(c), *k3 = ctrl_queue_pop(c);
    CHECK_STR(k1, "default/a");
    CHECK_STR(k2, "default/b");
    CHECK(k3 == NULL);
    free(k1);
    free(k2);
    /* back-off doubles: 50, 100, 200 ms */
    int64_t t0 = fake_now;
    ctrl_requeue_backoff(c, "default/a");
    CHECK(!ctrl_queue_promote(c, t0 + 49));
    CHECK(ctrl_queue_promote(c, t0 + 50));
    free(ctrl_queue_pop(c));
    ctrl_requeue_backoff(c, "default/a");
    CHECK(!ctrl_queue_promote(c, t0 + 99));
    CHECK(ctrl_queue_promote(c, t0 + 100));
    free(ctrl_queue_pop(c));
    ctrl_requeue_backoff(c, "default/a");
    CHECK(!ctrl_queue_promote(c, t0 + 199));
    ctrl_forget(c, "default/a");
    ctrl_enqueue(c, "default/a"); /* a plain enqueue overrides the delay */
    CHECK(ctrl_queue_promote(c, t0));
    free(ctrl_queue_pop(c));
    /* after forget the back-off starts again at the base */
    ctrl_requeue_backoff(c, "default/a");
    CHECK(ctrl_queue_promote(c, t0 + 50));
    free(ctrl_queue_pop(c));
    fake_close(m);
}

static void test_expectations(void)
{
    ctrl_manager_t *m = fake_manager();
    struct ctrl *c = ctrl_of(m, "replicaset-controller");
    CHECK(ctrl_satisfied(c, "default/x"));
    ctrl_expect(c, "default/x", 2, 1);
    CHECK(!ctrl_satisfied(c, "default/x"));
    ctrl_observed(c, "default/x", 1, 0);
    ctrl_observed(c, "default/x", 1, 0);
    CHECK(!ctrl_satisfied(c, "default/x"));
    ctrl_observed(c, "default/x", 0, 1);
    CHECK(ctrl_satisfied(c, "default/x"));
    /* unobserved expectations expire */
    ctrl_expect(c, "default/x", 1, 0);
    CHECK(!ctrl_satisfied(c, "default/x"));
    fake_now += 60001;
    CHECK(ctrl_satisfied(c, "default/x"));
    fake_close(m);
}

static size_t owned_pods(ctrl_manager_t *m, const char *uid)
{
    const struct ctrl_obj **v;
    size_t n = ctrl_dependents(&m->ctrls[0], uid, &v);
    free(v);
    return n;
}

static void test_rs_slow_start(void)
{
    ctrl_manager_t *m = fake_manager();
    feed(m, "replicasets", STORE_EV_ADDED, rs_json("web", "rs-1", 10));
    size_t batches[8] = {0}, nb = 0;
    for (; nb < 8; nb++) {
        ctrl_run_ready(m, 1000);
        size_t k = count_writes(m, STORE_CREATE, "pods");
        size_t n;
        ctrl_test_writes(m, &n);
        if (!n) break;
        if (k) batches[nb] = k;
        else nb--;
        ctrl_test_commit(m);
    }
    CHECK_INT(batches[0], 1);
    CHECK_INT(batches[1], 2);
    CHECK_INT(batches[2], 4);
    CHECK_INT(batches[3], 3);
    CHECK_INT(owned_pods(m, "rs-1"), 10);
    /* pods carry the template, generateName, owner and defaults */
    const struct ctrl_obj **v;
    size_t n = ctrl_list(&m->ctrls[0], "pods", "default", &v);
    CHECK_INT(n, 10);
    if (n) {
        const json_t *p = v[0]->obj;
        CHECK(!strncmp(v[0]->name, "web-", 4) && strlen(v[0]->name) == 9);
        CHECK_STR(json_path_str(p, "metadata.labels.app"), "web");
        CHECK_STR(json_path_str(p, "spec.restartPolicy"), "Always");
        CHECK_INT(ctrl_int(p, "spec.terminationGracePeriodSeconds", 0), 30);
        CHECK_STR(json_path_str(p, "status.phase"), "Pending");
        CHECK(json_path_str(p, "metadata.uid") != NULL);
        CHECK(json_path_str(p, "metadata.creationTimestamp") != NULL);
        const json_t *ref = ctrl_controller_ref(p);
        CHECK_STR(json_string_value(json_object_get(ref, "kind")), "ReplicaSet");
        CHECK_STR(json_string_value(json_object_get(ref, "uid")), "rs-1");
        CHECK(json_is_true(json_object_get(ref, "blockOwnerDeletion")));
    }
    free(v);
    settle(m);
    const struct ctrl_obj *rs = get(m, "replicasets", "web");
    CHECK_INT(ctrl_int(rs->obj, "status.replicas", -1), 10);
    CHECK_INT(ctrl_int(rs->obj, "status.readyReplicas", -1), 0);
    CHECK_INT(ctrl_int(rs->obj, "status.fullyLabeledReplicas", -1), 10);
    CHECK_INT(ctrl_int(rs->obj, "status.observedGeneration", -1), 1);
    kubelet(m);
    settle(m);
    rs = get(m, "replicasets", "web");
    CHECK_INT(ctrl_int(rs->obj, "status.readyReplicas", -1), 10);
    CHECK_INT(ctrl_int(rs->obj, "status.availableReplicas", -1), 10);
    fake_close(m);
}

static void test_rs_failed_create_resets_batch(void)
{
    ctrl_manager_t *m = fake_manager();
    feed(m, "replicasets", STORE_EV_ADDED, rs_json("web", "rs-1", 8));
    ctrl_run_ready(m, 100);
    ctrl_test_commit(m);     /* 1 created */
    settle_rounds(m, 1);     /* 2 created: batch is now 4 */
    ctrl_run_ready(m, 100);
    CHECK_INT(count_writes(m, STORE_CREATE, "pods"), 4);
    ctrl_test_fail(m, BE_NOTLEADER); /* the whole batch fails */
    struct ctrl *c = ctrl_of(m, "replicaset-controller");
    CHECK(ctrl_satisfied(c, "default/web")); /* failures lowered the expectations */
    CHECK_INT(ctrl_batch_size(c, "default/web"), 1);
    fake_now += 1000;
    ctrl_queue_promote(c, fake_now);
    ctrl_run_ready(m, 100);
    CHECK_INT(count_writes(m, STORE_CREATE, "pods"), 1);
    settle(m);
    CHECK_INT(owned_pods(m, "rs-1"), 8);
    fake_close(m);
}

static bool deleted_in_writes(ctrl_manager_t *m, const char *name)
{
    size_t n;
    struct ctrl_write *w = ctrl_test_writes(m, &n);
    for (size_t i = 0; i < n; i++)
        if (w[i].op == STORE_DELETE && !strcmp(w[i].name, name)) return true;
    return false;
}

static void test_rs_delete_preference(void)
{
    ctrl_manager_t *m = fake_manager();
    feed(m, "replicasets", STORE_EV_ADDED, rs_json("web", "rs-1", 2));
    feed(m, "pods", STORE_EV_ADDED, pod_json("p-ready-1", "rs-1", "n1", true, "2025-11-24T00:00:01Z"));
    feed(m, "pods", STORE_EV_ADDED, pod_json("p-unsched", "rs-1", NULL, false, "2025-11-24T00:00:01Z"));
    feed(m, "pods", STORE_EV_ADDED, pod_json("p-notready", "rs-1", "n2", false, "2025-11-24T00:00:01Z"));
    feed(m, "pods", STORE_EV_ADDED, pod_json("p-ready-2", "rs-1", "n2", true, "2025-11-24T00:00:01Z"));
    ctrl_run_ready(m, 100);
    CHECK_INT(count_writes(m, STORE_DELETE, "pods"), 2);
    CHECK(deleted_in_writes(m, "p-unsched"));
    CHECK(deleted_in_writes(m, "p-notready"));
    settle(m);
    CHECK_INT(owned_pods(m, "rs-1"), 2);
    fake_close(m);

    /* all ready and running: the crowded node loses one, the newest */
    m = fake_manager();
    feed(m, "replicasets", STORE_EV_ADDED, rs_json("web", "rs-1", 2));
    feed(m, "pods", STORE_EV_ADDED, pod_json("a", "rs-1", "n1", true, "2025-11-24T00:00:01Z"));
    feed(m, "pods", STORE_EV_ADDED, pod_json("b", "rs-1", "n1", true, "2025-11-24T00:00:02Z"));
    feed(m, "pods", STORE_EV_ADDED, pod_json("c", "rs-1", "n2", true, "2025-11-24T00:00:03Z"));
    ctrl_run_ready(m, 100);
    CHECK_INT(count_writes(m, STORE_DELETE, "pods"), 1);
    CHECK(deleted_in_writes(m, "b"));
    settle(m);
    fake_close(m);
}

static void test_rs_adopt_release(void)
{
    ctrl_manager_t *m = fake_manager();
    feed(m, "replicasets", STORE_EV_ADDED, rs_json("web", "rs-1", 2));
    feed(m, "pods", STORE_EV_ADDED, pod_json("orphan", NULL, "n1", true, "2025-11-24T00:00:01Z"));
    json_t *stray = pod_json("stray", "rs-1", "n1", true, "2025-11-24T00:00:01Z");
    json_object_set_new(json_path(stray, "metadata.labels"), "app", json_string("other"));
    feed(m, "pods", STORE_EV_ADDED, stray);
    /* another controller's pod is left alone */
    feed(m, "jobs", STORE_EV_ADDED,
         json_pack("{s:s, s:s, s:{s:s, s:s, s:s}}", "apiVersion", "batch/v1", "kind", "Job",
                   "metadata", "name", "j", "namespace", "default", "uid", "rs-9"));
    json_t *foreign = pod_json("foreign", "rs-9", "n1", true, "2025-11-24T00:00:01Z");
    json_t *fref = json_array_get(json_path(foreign, "metadata.ownerReferences"), 0);
    json_object_set_new(fref, "kind", json_string("Job"));
    json_object_set_new(fref, "apiVersion", json_string("batch/v1"));
    feed(m, "pods", STORE_EV_ADDED, foreign);
    settle(m);
    const struct ctrl_obj *o = get(m, "pods", "orphan");
    CHECK(o && ctrl_has_owner(o->obj, "rs-1"));
    o = get(m, "pods", "stray");
    CHECK(o && !ctrl_has_owner(o->obj, "rs-1"));
    o = get(m, "pods", "foreign");
    CHECK(o && ctrl_has_owner(o->obj, "rs-9"));
    CHECK_INT(owned_pods(m, "rs-1"), 2); /* the adopted one and one created */
    const struct ctrl_obj *rs = get(m, "replicasets", "web");
    CHECK_INT(ctrl_int(rs->obj, "status.replicas", -1), 2);
    fake_close(m);
}

static json_t *with_finalizer(json_t *obj, const char *fin)
{
    json_t *md = json_object_get(obj, "metadata");
    json_object_set_new(md, "deletionTimestamp", json_string("2025-11-24T00:00:00Z"));
    json_object_set_new(md, "finalizers", json_pack("[s]", fin));
    return obj;
}

static void test_gc(void)
{
    /* Background: a ReplicaSet whose owner never existed, pods of a deleted RS */
    ctrl_manager_t *m = fake_manager();
    json_t *rs = rs_json("web", "rs-1", 2);
    json_object_set_new(json_object_get(rs, "metadata"), "ownerReferences",
                        json_pack("[{s:s, s:s, s:s, s:s, s:b}]", "apiVersion", "apps/v1", "kind",
                                  "Deployment", "name", "gone", "uid", "d-0", "controller", 1));
    feed(m, "replicasets", STORE_EV_ADDED, rs);
    feed(m, "pods", STORE_EV_ADDED, pod_json("a", "rs-1", "n1", true, "2025-11-24T00:00:01Z"));
    feed(m, "pods", STORE_EV_ADDED, pod_json("b", "rs-1", "n1", true, "2025-11-24T00:00:01Z"));
    /* an owner of a kind not cached here is not presumed gone */
    json_t *p = pod_json("c", NULL, "n1", true, "2025-11-24T00:00:01Z");
    json_object_set_new(json_path(p, "metadata.labels"), "app", json_string("other"));
    json_object_set_new(json_object_get(p, "metadata"), "ownerReferences",
                        json_pack("[{s:s, s:s, s:s, s:s}]", "apiVersion", "v1", "kind", "ConfigMap",
                                  "name", "n1", "uid", "node-uid"));
    feed(m, "pods", STORE_EV_ADDED, p);
    settle(m);
    CHECK_INT(count(m, "replicasets"), 0);
    CHECK_INT(count(m, "pods"), 1);
    CHECK(get(m, "pods", "c") != NULL);
    fake_close(m);

    /* Orphan: the owner's finalizer; dependents lose the reference, then the owner goes */
    m = fake_manager();
    feed(m, "replicasets", STORE_EV_ADDED, rs_json("web", "rs-1", 2));
    feed(m, "pods", STORE_EV_ADDED, pod_json("a", "rs-1", "n1", true, "2025-11-24T00:00:01Z"));
    feed(m, "pods", STORE_EV_ADDED, pod_json("b", "rs-1", "n1", true, "2025-11-24T00:00:01Z"));
    settle(m);
    feed(m, "replicasets", STORE_EV_MODIFIED, with_finalizer(rs_json("web", "rs-1", 2), "orphan"));
    settle(m);
    CHECK_INT(count(m, "replicasets"), 0);
    CHECK_INT(count(m, "pods"), 2);
    CHECK_INT(owned_pods(m, "rs-1"), 0);
    fake_close(m);

    /* Foreground: dependents first, then the owner */
    m = fake_manager();
    feed(m, "replicasets", STORE_EV_ADDED, rs_json("web", "rs-1", 2));
    feed(m, "pods", STORE_EV_ADDED, pod_json("a", "rs-1", "n1", true, "2025-11-24T00:00:01Z"));
    feed(m, "pods", STORE_EV_ADDED, pod_json("b", "rs-1", "n1", true, "2025-11-24T00:00:01Z"));
    settle(m);
    feed(m, "replicasets", STORE_EV_MODIFIED,
         with_finalizer(rs_json("web", "rs-1", 2), "foregroundDeletion"));
    struct ctrl *gc = ctrl_of(m, "garbage-collector");
    ctrl_run_ready(m, 1000);
    /* the first round deletes the pods only */
    CHECK_INT(count_writes(m, STORE_DELETE, "pods"), 2);
    CHECK_INT(count_writes(m, STORE_DELETE, "replicasets"), 0);
    (void)gc;
    settle(m);
    CHECK_INT(count(m, "replicasets"), 0);
    CHECK_INT(count(m, "pods"), 0);
    fake_close(m);
}

static void test_leadership_loss_drops_everything(void)
{
    ctrl_manager_t *m = fake_manager();
    feed(m, "replicasets", STORE_EV_ADDED, rs_json("web", "rs-1", 3));
    ctrl_run_ready(m, 100);
    ctrl_manager_leader_changed(m, false);
    CHECK_INT(count(m, "replicasets"), 0);
    size_t n;
    ctrl_test_writes(m, &n);
    CHECK_INT(n, 0);
    ctrl_enqueue(ctrl_of(m, "replicaset-controller"), "default/web"); /* ignored */
    CHECK_INT(ctrl_run_ready(m, 100), 0);
    fake_close(m);
}

int main(void)
{
    RUN(test_queue_dedupe_and_backoff);
    RUN(test_expectations);
    RUN(test_rs_slow_start);
    RUN(test_rs_failed_create_resets_batch);
    RUN(test_rs_delete_preference);
    RUN(test_rs_adopt_release);
    RUN(test_gc);
    RUN(test_leadership_loss_drops_everything);
    UNIT_EXIT();
}
