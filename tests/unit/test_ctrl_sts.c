/* test_ctrl_sts.c: the StatefulSet controller against the fake store and
 * clock: stable names and labels, OrderedReady creation (i+1 only after
 * 0..i are Running and Ready) and scale down (highest first, one at a
 * time), Parallel management, failed pods replaced under the same name,
 * and a RollingUpdate with a partition (highest ordinal first, one at a
 * time, each Ready before the next), with the revision status. */
#include "test_ctrl_fake.h"

#include "common/errors.h"

static json_t *sts_json(int replicas, const char *image, const char *policy)
{
    return json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:i}, s:{s:i, s:s, s:s, s:{s:{s:s}}, s:{s:{s:{s:s}}, s:{s:[{s:s, s:s}]}}}}",
                     "apiVersion", "apps/v1", "kind", "StatefulSet", "metadata", "name", "web",
                     "namespace", "default", "uid", "sts-1", "generation", 1, "spec", "replicas",
                     replicas, "serviceName", "nginx", "podManagementPolicy", policy, "selector",
                     "matchLabels", "app", "web", "template", "metadata", "labels", "app", "web",
                     "spec", "containers", "name", "c", "image", image);
}

static const struct ctrl_obj *pod(ctrl_manager_t *m, const char *name)
{
    return get(m, "pods", name);
}

static void make_ready(ctrl_manager_t *m, const char *name, const char *phase)
{
    const struct ctrl_obj *o = pod(m, name);
    if (!o) return;
    json_t *p = json_deep_copy(o->obj);
    json_object_set_new(p, "status", json_pack("{s:s, s:[{s:s, s:s, s:s}]}", "phase", phase,
                                               "conditions", "type", "Ready", "status",
                                               strcmp(phase, "Running") ? "False" : "True",
                                               "lastTransitionTime", "2025-11-24T00:00:00Z"));
    feed(m, "pods", STORE_EV_MODIFIED, p);
}

static void ready_all(ctrl_manager_t *m)
{
    const struct ctrl_obj **v;
    size_t n = ctrl_list(&m->ctrls[0], "pods", NULL, &v);
    char names[64][64];
    size_t k = 0;
    for (size_t i = 0; i < n && k < 64; i++)
        if (!ctrl_pod_ready(v[i]->obj)) snprintf(names[k++], 64, "%s", v[i]->name);
    free(v);
    for (size_t i = 0; i < k; i++) make_ready(m, names[i], "Running");
}

static void set_spec(ctrl_manager_t *m, const char *field, json_t *val)
{
    json_t *s = json_deep_copy(get(m, "statefulsets", "web")->obj);
    json_object_set_new(json_object_get(s, "spec"), field, val);
    json_object_set_new(json_object_get(s, "metadata"), "generation",
                        json_integer(ctrl_int(s, "metadata.generation", 1) + 1));
    feed(m, "statefulsets", STORE_EV_MODIFIED, s);
}

static const char *image_of(ctrl_manager_t *m, const char *name)
{
    const struct ctrl_obj *o = pod(m, name);
    json_t *c = o ? json_array_get(json_object_get(json_object_get(o->obj, "spec"), "containers"), 0) : NULL;
    return json_string_value(json_object_get(c, "image"));
}

static const json_t *status(ctrl_manager_t *m)
{
    return json_path(get(m, "statefulsets", "web")->obj, "status");
}

static void test_ordered_ready(void)
{
    ctrl_manager_t *m = fake_manager();
    feed(m, "statefulsets", STORE_EV_ADDED, sts_json(3, "v1", "OrderedReady"));
    settle(m);
    CHECK_INT(count(m, "pods"), 1);
    const struct ctrl_obj *p = pod(m, "web-0");
    CHECK(p != NULL);
    json_t *labels = json_path(p->obj, "metadata.labels");
    CHECK_STR(json_string_value(json_object_get(labels, "statefulset.kubernetes.io/pod-name")), "web-0");
    CHECK_STR(json_string_value(json_object_get(labels, "apps.kubernetes.io/pod-index")), "0");
    CHECK_STR(json_string_value(json_object_get(labels, "app")), "web");
    CHECK(!strncmp(json_string_value(json_object_get(labels, "controller-revision-hash")), "web-", 4));
    CHECK_STR(json_path_str(p->obj, "spec.hostname"), "web-0");
    CHECK_STR(json_path_str(p->obj, "spec.subdomain"), "nginx");
    make_ready(m, "web-0", "Pending"); /* not ready yet: nothing more */
    settle(m);
    CHECK_INT(count(m, "pods"), 1);
    make_ready(m, "web-0", "Running");
    settle(m);
    CHECK_INT(count(m, "pods"), 2);
    CHECK(pod(m, "web-1") != NULL);
    make_ready(m, "web-1", "Running");
    settle(m);
    CHECK(pod(m, "web-2") != NULL);
    make_ready(m, "web-2", "Running");
    settle(m);
    CHECK_INT(ctrl_int(status(m), "replicas", -1), 3);
    CHECK_INT(ctrl_int(status(m), "readyReplicas", -1), 3);
    CHECK_INT(ctrl_int(status(m), "currentReplicas", -1), 3);
    CHECK_INT(ctrl_int(status(m), "updatedReplicas", -1), 3);
    CHECK_STR(json_string_value(json_object_get(status(m), "currentRevision")),
              json_string_value(json_object_get(status(m), "updateRevision")));
    /* a failed pod comes back under its name */
    make_ready(m, "web-1", "Failed");
    settle(m);
    CHECK(pod(m, "web-1") != NULL && ctrl_pod_active(pod(m, "web-1")->obj));
    make_ready(m, "web-1", "Running");
    settle(m);
    /* scale down: highest first, one delete per step */
    set_spec(m, "replicas", json_integer(1));
    ctrl_run_ready(m, 1000);
    CHECK_INT(count_writes(m, STORE_DELETE, "pods"), 1);
    ctrl_test_commit(m);
    CHECK(pod(m, "web-2") == NULL && pod(m, "web-1") != NULL);
    settle(m);
    CHECK(pod(m, "web-1") == NULL && pod(m, "web-0") != NULL);
    CHECK_INT(ctrl_int(status(m), "replicas", -1), 1);
    CHECK_INT(ctrl_int(status(m), "observedGeneration", -1), 2);
    fake_close(m);
}

static void test_parallel(void)
{
    ctrl_manager_t *m = fake_manager();
    feed(m, "statefulsets", STORE_EV_ADDED, sts_json(4, "v1", "Parallel"));
    ctrl_run_ready(m, 1000);
    CHECK_INT(count_writes(m, STORE_CREATE, "pods"), 4);
    settle(m);
    CHECK(pod(m, "web-3") != NULL);
    set_spec(m, "replicas", json_integer(1));
    ctrl_run_ready(m, 1000);
    CHECK_INT(count_writes(m, STORE_DELETE, "pods"), 3);
    settle(m);
    CHECK_INT(count(m, "pods"), 1);
    fake_close(m);
}

static void test_partition_rollout(void)
{
    ctrl_manager_t *m = fake_manager();
    feed(m, "statefulsets", STORE_EV_ADDED, sts_json(4, "v1", "OrderedReady"));
    for (int i = 0; i < 6; i++) {
        settle(m);
        ready_all(m);
    }
    settle(m);
    CHECK_INT(count(m, "pods"), 4);
    const char *rev1 = json_string_value(json_object_get(status(m), "currentRevision"));
    char old_rev[64];
    snprintf(old_rev, sizeof old_rev, "%s", rev1 ? rev1 : "");
    set_spec(m, "updateStrategy", json_pack("{s:s, s:{s:i}}", "type", "RollingUpdate", "rollingUpdate", "partition", 2));
    json_t *s = json_deep_copy(get(m, "statefulsets", "web")->obj);
    json_object_set_new(json_array_get(json_object_get(json_path(s, "spec.template.spec"), "containers"), 0),
                        "image", json_string("v2"));
    feed(m, "statefulsets", STORE_EV_MODIFIED, s);
    settle(m); /* web-3 deleted and recreated with v2, not ready yet */
    CHECK_STR(image_of(m, "web-3"), "v2");
    CHECK_STR(image_of(m, "web-2"), "v1");
    settle(m);
    CHECK_STR(image_of(m, "web-2"), "v1"); /* waits for web-3 to be Ready */
    make_ready(m, "web-3", "Running");
    settle(m);
    CHECK_STR(image_of(m, "web-2"), "v2");
    make_ready(m, "web-2", "Running");
    settle(m);
    CHECK_STR(image_of(m, "web-1"), "v1"); /* below the partition */
    CHECK_STR(image_of(m, "web-0"), "v1");
    CHECK_INT(ctrl_int(status(m), "updatedReplicas", -1), 2);
    CHECK_INT(ctrl_int(status(m), "currentReplicas", -1), 2);
    CHECK_STR(json_string_value(json_object_get(status(m), "currentRevision")), old_rev);
    CHECK(strcmp(json_string_value(json_object_get(status(m), "updateRevision")), old_rev) != 0);
    /* partition 0: the rest, then the current revision moves */
    set_spec(m, "updateStrategy", json_pack("{s:s, s:{s:i}}", "type", "RollingUpdate", "rollingUpdate", "partition", 0));
    for (int i = 0; i < 6; i++) {
        settle(m);
        ready_all(m);
    }
    settle(m);
    CHECK_STR(image_of(m, "web-1"), "v2");
    CHECK_STR(image_of(m, "web-0"), "v2");
    CHECK_INT(ctrl_int(status(m), "updatedReplicas", -1), 4);
    CHECK_INT(ctrl_int(status(m), "currentReplicas", -1), 4);
    CHECK_STR(json_string_value(json_object_get(status(m), "currentRevision")),
              json_string_value(json_object_get(status(m), "updateRevision")));
    fake_close(m);
}

int main(void)
{
    RUN(test_ordered_ready);
    RUN(test_parallel);
    RUN(test_partition_rollout);
    UNIT_EXIT();
}
