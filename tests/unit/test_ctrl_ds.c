/* test_ctrl_ds.c: the DaemonSet controller against the fake store and
 * clock: node eligibility (nodeSelector, node affinity, taints and
 * tolerations, the default daemon tolerations), one bound pod per eligible
 * node, a new node, nodes that stop being eligible, status, and a rolling
 * update that never has more than maxUnavailable nodes without an
 * available pod; OnDelete. */
#include "test_ctrl_fake.h"

#include "common/errors.h"

static json_t *node_json(const char *name, const char *disk, json_t *taints)
{
    json_t *n = json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s, s:s}}, s:{}}", "apiVersion", "v1",
                          "kind", "Node", "metadata", "name", name, "uid", name, "labels", "disk",
                          disk, "kubernetes.io/hostname", name, "spec");
    if (taints) json_object_set_new(json_object_get(n, "spec"), "taints", taints);
    return n;
}

static json_t *taint(const char *key, const char *value, const char *effect)
{
    return json_pack("[{s:s, s:s, s:s}]", "key", key, "value", value, "effect", effect);
}

static json_t *ds_json(const char *image)
{
    return json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:i}, s:{s:{s:{s:s}}, s:{s:{s:{s:s}}, s:{s:[{s:s, s:s}]}}}}",
                     "apiVersion", "apps/v1", "kind", "DaemonSet", "metadata", "name", "agent",
                     "namespace", "default", "uid", "ds-1", "generation", 1, "spec", "selector",
                     "matchLabels", "app", "agent", "template", "metadata", "labels", "app",
                     "agent", "spec", "containers", "name", "c", "image", image);
}

static json_t *pspec(json_t *ds)
{
    return json_path(ds, "spec.template.spec");
}

/* The pod on node (active), or NULL; *n gets how many. */
static const struct ctrl_obj *pod_on(ctrl_manager_t *m, const char *node, size_t *n)
{
    const struct ctrl_obj **v, *found = NULL;
    size_t k = ctrl_list(&m->ctrls[0], "pods", "default", &v), c = 0;
    for (size_t i = 0; i < k; i++) {
        const char *nn = json_path_str(v[i]->obj, "spec.nodeName");
        if (nn && !strcmp(nn, node) && ctrl_pod_active(v[i]->obj)) found = v[i], c++;
    }
    free(v);
    if (n) *n = c;
    return found;
}

/* The agents: pods not ready yet become Running and Ready on their node. */
static void ready_all(ctrl_manager_t *m)
{
    const struct ctrl_obj **v;
    size_t n = ctrl_list(&m->ctrls[0], "pods", NULL, &v);
    char ts[32];
    time_format_rfc3339((time_t)(fake_now / 1000), ts, sizeof ts);
    for (size_t i = 0; i < n; i++) {
        if (ctrl_pod_ready(v[i]->obj) || !ctrl_pod_active(v[i]->obj)) continue;
        json_t *p = json_deep_copy(v[i]->obj);
        json_object_set_new(p, "status", json_pack("{s:s, s:[{s:s, s:s, s:s}]}", "phase", "Running",
                                                   "conditions", "type", "Ready", "status", "True",
                                                   "lastTransitionTime", ts));
        feed(m, "pods", STORE_EV_MODIFIED, p);
    }
    free(v);
}

static void test_eligibility(void)
{
    json_t *ds = ds_json("v1");
    json_t *ssd = node_json("n1", "ssd", NULL), *gpu = node_json("n3", "ssd", taint("dedicated", "gpu", "NoSchedule"));
    json_t *evict = node_json("n4", "ssd", taint("dedicated", "gpu", "NoExecute"));
    json_t *notready = node_json("n5", "ssd", taint("node.kubernetes.io/not-ready", "", "NoExecute"));
    bool s, k;
    ds_node_eligible(ds, ssd, &s, &k);
    CHECK(s && k);
    ds_node_eligible(ds, gpu, &s, &k);
    CHECK(!s && k); /* NoSchedule: not placed, but one there may stay */
    ds_node_eligible(ds, evict, &s, &k);
    CHECK(!s && !k);
    ds_node_eligible(ds, notready, &s, &k);
    CHECK(s && k); /* tolerated by default */
    json_object_set_new(pspec(ds), "tolerations",
                        json_pack("[{s:s, s:s, s:s}]", "key", "dedicated", "operator", "Equal", "value", "gpu"));
    ds_node_eligible(ds, gpu, &s, &k);
    CHECK(s && k);
    ds_node_eligible(ds, evict, &s, &k);
    CHECK(s && k);
    json_object_set_new(pspec(ds), "tolerations", json_pack("[{s:s}]", "operator", "Exists"));
    ds_node_eligible(ds, evict, &s, &k);
    CHECK(s && k);
    json_object_del(pspec(ds), "tolerations");
    json_object_set_new(pspec(ds), "nodeSelector", json_pack("{s:s}", "disk", "hdd"));
    ds_node_eligible(ds, ssd, &s, &k);
    CHECK(!s && !k);
    json_object_del(pspec(ds), "nodeSelector");
    json_object_set_new(pspec(ds), "affinity", json_pack(
        "{s:{s:{s:[{s:[{s:s, s:s, s:[s]}]}, {s:[{s:s, s:s, s:[s]}]}]}}}", "nodeAffinity",
        "requiredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms", "matchExpressions",
        "key", "disk", "operator", "NotIn", "values", "ssd", "matchFields", "key",
        "metadata.name", "operator", "In", "values", "n3"));
    ds_node_eligible(ds, ssd, &s, &k);
    CHECK(!s);
    ds_node_eligible(ds, gpu, &s, &k); /* matched by name, but the taint */
    CHECK(!s && k);
    json_decref(ds);
    json_decref(ssd);
    json_decref(gpu);
    json_decref(evict);
    json_decref(notready);
}

static void test_placement(void)
{
    ctrl_manager_t *m = fake_manager();
    feed(m, "nodes", STORE_EV_ADDED, node_json("n1", "ssd", NULL));
    feed(m, "nodes", STORE_EV_ADDED, node_json("n2", "hdd", NULL));
    feed(m, "nodes", STORE_EV_ADDED, node_json("n3", "ssd", taint("dedicated", "gpu", "NoSchedule")));
    feed(m, "nodes", STORE_EV_ADDED, node_json("n4", "ssd", taint("node.kubernetes.io/not-ready", "", "NoExecute")));
    feed(m, "daemonsets", STORE_EV_ADDED, ds_json("v1"));
    settle(m);
    size_t n;
    CHECK(pod_on(m, "n1", &n) && n == 1);
    CHECK(pod_on(m, "n2", &n) && n == 1);
    CHECK(!pod_on(m, "n3", NULL));
    CHECK(pod_on(m, "n4", &n) && n == 1);
    CHECK_INT(count(m, "pods"), 3);
    const struct ctrl_obj *p = pod_on(m, "n1", NULL);
    CHECK(!strncmp(p->name, "agent-", 6));
    CHECK(json_path_str(p->obj, "metadata.labels.controller-revision-hash") != NULL);
    CHECK_STR(json_string_value(json_object_get(ctrl_controller_ref(p->obj), "kind")), "DaemonSet");
    CHECK(json_array_size(json_path(p->obj, "spec") ? json_object_get(json_path(p->obj, "spec"), "tolerations") : NULL) >= 2);
    const json_t *st = json_path(get(m, "daemonsets", "agent")->obj, "status");
    CHECK_INT(ctrl_int(st, "desiredNumberScheduled", -1), 3);
    CHECK_INT(ctrl_int(st, "currentNumberScheduled", -1), 3);
    CHECK_INT(ctrl_int(st, "numberReady", -1), 0);
    CHECK_INT(ctrl_int(st, "updatedNumberScheduled", -1), 3);
    CHECK_INT(ctrl_int(st, "observedGeneration", -1), 1);
    ready_all(m);
    settle(m);
    st = json_path(get(m, "daemonsets", "agent")->obj, "status");
    CHECK_INT(ctrl_int(st, "numberReady", -1), 3);
    CHECK_INT(ctrl_int(st, "numberAvailable", -1), 3);
    /* a new node gets its pod */
    feed(m, "nodes", STORE_EV_ADDED, node_json("n5", "ssd", NULL));
    settle(m);
    CHECK(pod_on(m, "n5", &n) && n == 1);
    /* a NoExecute taint evicts; a NoSchedule one does not */
    feed(m, "nodes", STORE_EV_MODIFIED, node_json("n2", "hdd", taint("maint", "x", "NoSchedule")));
    feed(m, "nodes", STORE_EV_MODIFIED, node_json("n5", "ssd", taint("maint", "x", "NoExecute")));
    settle(m);
    CHECK(pod_on(m, "n2", NULL) != NULL);
    CHECK(!pod_on(m, "n5", NULL));
    /* a node that goes takes its pod with it */
    const struct ctrl_obj *n4 = ctrl_get(&m->ctrls[0], "nodes", "", "n4");
    char *text = json_dumps(n4->obj, JSON_COMPACT);
    ctrl_test_event(m, "nodes", STORE_EV_DELETED, text);
    free(text);
    settle(m);
    CHECK(!pod_on(m, "n4", NULL));
    /* a nodeSelector narrows it to ssd nodes: n2's pod goes */
    json_t *ds = json_deep_copy(get(m, "daemonsets", "agent")->obj);
    json_object_set_new(pspec(ds), "nodeSelector", json_pack("{s:s}", "disk", "ssd"));
    json_object_set_new(json_object_get(ds, "spec"), "updateStrategy", json_pack("{s:s}", "type", "OnDelete"));
    feed(m, "daemonsets", STORE_EV_MODIFIED, ds);
    settle(m);
    CHECK(!pod_on(m, "n2", NULL));
    CHECK(pod_on(m, "n1", NULL) != NULL);
    fake_close(m);
}

static size_t unavailable_nodes(ctrl_manager_t *m, const char **nodes, size_t nn)
{
    size_t u = 0, n;
    for (size_t i = 0; i < nn; i++) {
        const struct ctrl_obj *p = pod_on(m, nodes[i], &n);
        if (!p || !ctrl_pod_ready(p->obj)) u++;
    }
    return u;
}

static void rollout(int64_t max_unavail_pct, size_t expect_max)
{
    ctrl_manager_t *m = fake_manager();
    const char *nodes[] = {"a", "b", "c", "d", "e", "f"};
    for (size_t i = 0; i < 6; i++) feed(m, "nodes", STORE_EV_ADDED, node_json(nodes[i], "ssd", NULL));
    feed(m, "daemonsets", STORE_EV_ADDED, ds_json("v1"));
    settle(m);
    ready_all(m);
    settle(m);
    json_t *ds = json_deep_copy(get(m, "daemonsets", "agent")->obj);
    json_object_set_new(json_array_get(json_object_get(pspec(ds), "containers"), 0), "image", json_string("v2"));
    if (max_unavail_pct) {
        char pct[16];
        snprintf(pct, sizeof pct, "%lld%%", (long long)max_unavail_pct);
        json_object_set_new(json_object_get(ds, "spec"), "updateStrategy",
                            json_pack("{s:s, s:{s:s}}", "type", "RollingUpdate", "rollingUpdate", "maxUnavailable", pct));
    }
    json_object_set_new(json_object_get(ds, "metadata"), "generation", json_integer(2));
    feed(m, "daemonsets", STORE_EV_MODIFIED, ds);
    size_t worst = 0;
    for (int round = 0; round < 20; round++) {
        settle(m);
        size_t u = unavailable_nodes(m, nodes, 6);
        if (u > worst) worst = u;
        ready_all(m);
    }
    settle(m);
    CHECK_INT(worst, expect_max);
    const json_t *st = json_path(get(m, "daemonsets", "agent")->obj, "status");
    CHECK_INT(ctrl_int(st, "updatedNumberScheduled", -1), 6);
    CHECK_INT(ctrl_int(st, "numberAvailable", -1), 6);
    CHECK_INT(ctrl_int(st, "observedGeneration", -1), 2);
    for (size_t i = 0; i < 6; i++) {
        const struct ctrl_obj *p = pod_on(m, nodes[i], NULL);
        CHECK(p && !strcmp(json_string_value(json_object_get(json_array_get(json_object_get(json_object_get(p->obj, "spec"), "containers"), 0), "image")), "v2"));
    }
    fake_close(m);
}

static void test_rolling_update(void)
{
    rollout(0, 1);  /* default maxUnavailable 1 */
    rollout(50, 3); /* 50% of 6 */
    rollout(10, 1); /* 0.6 rounds up to 1 */
}

int main(void)
{
    RUN(test_eligibility);
    RUN(test_placement);
    RUN(test_rolling_update);
    UNIT_EXIT();
}
