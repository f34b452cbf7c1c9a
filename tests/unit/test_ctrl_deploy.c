/* test_ctrl_deploy.c: the Deployment controller against the fake store and
 * clock: rollout arithmetic with numbers and percentages, the template hash,
 * a rolling update checked at every step (never above replicas + maxSurge,
 * never below replicas - maxUnavailable available), Recreate, rollback by
 * re-using an old ReplicaSet (revisions), revisionHistoryLimit, the
 * progress deadline, and garbage collection when the Deployment goes. */
#include "test_ctrl_fake.h"

#include "common/errors.h"

static json_t *deploy_json(int replicas, const char *image, const char *strategy)
{
    json_t *d = json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:i}, s:{s:i, s:{s:{s:s}}, s:{s:{s:{s:s}}, s:{s:[{s:s, s:s}]}}}}",
                          "apiVersion", "apps/v1", "kind", "Deployment", "metadata", "name", "web",
                          "namespace", "default", "uid", "d-1", "generation", 1, "spec",
                          "replicas", replicas, "selector", "matchLabels", "app", "web",
                          "template", "metadata", "labels", "app", "web", "spec", "containers",
                          "name", "c", "image", image);
    json_t *st = json_pack("{s:s}", "type", strategy);
    json_object_set_new(json_object_get(d, "spec"), "strategy", st);
    return d;
}

static void set_rolling(json_t *d, json_t *surge, json_t *unavail)
{
    json_object_set_new(json_path(d, "spec.strategy"), "rollingUpdate",
                        json_pack("{s:o, s:o}", "maxSurge", surge, "maxUnavailable", unavail));
}

static void test_arithmetic(void)
{
    int64_t s, u;
    json_t *d = deploy_json(10, "v1", "RollingUpdate");
    set_rolling(d, json_string("25%"), json_string("25%"));
    CHECK_INT(deploy_surge_unavailable(d, &s, &u), 0);
    CHECK_INT(s, 3);
    CHECK_INT(u, 2);
    set_rolling(d, json_integer(2), json_string("0%"));
    CHECK_INT(deploy_surge_unavailable(d, &s, &u), 0);
    CHECK_INT(s, 2);
    CHECK_INT(u, 0);
    set_rolling(d, json_string("0%"), json_string("1%")); /* 0.1 rounds down to 0: one anyway */
    CHECK_INT(deploy_surge_unavailable(d, &s, &u), 0);
    CHECK_INT(s, 0);
    CHECK_INT(u, 1);
    set_rolling(d, json_string("x%"), json_integer(1));
    CHECK_INT(deploy_surge_unavailable(d, &s, &u), BE_INVAL);
    json_decref(d);
    d = deploy_json(3, "v1", "RollingUpdate"); /* defaults 25%/25% of 3: 1 and 0 */
    CHECK_INT(deploy_surge_unavailable(d, &s, &u), 0);
    CHECK_INT(s, 1);
    CHECK_INT(u, 0);
    json_decref(d);
    d = deploy_json(3, "v1", "Recreate");
    CHECK_INT(deploy_surge_unavailable(d, &s, &u), 0);
    CHECK_INT(s + u, 0);
    json_decref(d);
}

static void test_template_hash(void)
{
    json_t *a = json_pack("{s:{s:{s:s}}, s:{s:[{s:s, s:s}]}}", "metadata", "labels", "app", "web",
                          "spec", "containers", "name", "c", "image", "v1");
    json_t *b = json_deep_copy(a);
    char h1[16], h2[16], h3[16];
    deploy_template_hash(a, 0, h1);
    deploy_template_hash(b, 0, h2);
    CHECK_STR(h1, h2);
    CHECK(strlen(h1) >= 1 && strlen(h1) <= 10);
    CHECK(strspn(h1, "bcdfghjklmnpqrstvwxz2456789") == strlen(h1));
    deploy_template_hash(a, 1, h3);
    CHECK(strcmp(h1, h3) != 0);
    json_object_set_new(json_path(b, "metadata.labels"), DEPLOY_HASH_LABEL, json_string(h1));
    CHECK(deploy_same_template(b, a));
    json_object_set_new(json_array_get(json_path(b, "spec.containers"), 0), "image", json_string("v2"));
    CHECK(!deploy_same_template(b, a));
    deploy_template_hash(b, 0, h3);
    CHECK(strcmp(h1, h3) != 0);
    json_decref(a);
    json_decref(b);
}

/* Sums over the Deployment's ReplicaSets. */
struct totals {
    int64_t spec, avail, nrs, active_pods, ready_pods;
};

static struct totals totals(ctrl_manager_t *m)
{
    struct totals t = {0};
    const struct ctrl_obj **v;
    size_t n = ctrl_list(&m->ctrls[0], "replicasets", NULL, &v);
    for (size_t i = 0; i < n; i++) {
        t.spec += ctrl_int(v[i]->obj, "spec.replicas", 0);
        t.nrs++;
    }
    free(v);
    n = ctrl_list(&m->ctrls[0], "pods", NULL, &v);
    for (size_t i = 0; i < n; i++) {
        if (!ctrl_pod_active(v[i]->obj)) continue;
        t.active_pods++;
        t.ready_pods += ctrl_pod_ready(v[i]->obj);
    }
    free(v);
    return t;
}

static const struct ctrl_obj *rs_with_image(ctrl_manager_t *m, const char *image)
{
    const struct ctrl_obj **v, *found = NULL;
    size_t n = ctrl_list(&m->ctrls[0], "replicasets", NULL, &v);
    for (size_t i = 0; i < n; i++) {
        json_t *c0 = json_array_get(json_path(v[i]->obj, "spec.template.spec.containers"), 0);
        if (!strcmp(json_string_value(json_object_get(c0, "image")), image)) found = v[i];
    }
    free(v);
    return found;
}

static const char *cond_reason(ctrl_manager_t *m, const char *type)
{
    const struct ctrl_obj *d = get(m, "deployments", "web");
    return json_string_value(json_object_get(ctrl_condition(d->obj, type), "reason"));
}

/* Brings the Deployment to a steady state with every pod ready. */
static void converge(ctrl_manager_t *m)
{
    for (int i = 0; i < 20; i++) {
        settle(m);
        kubelet(m);
        settle(m);
        fake_now += 1000;
    }
}

static void update_template(ctrl_manager_t *m, const char *image, int generation)
{
    const struct ctrl_obj *d = get(m, "deployments", "web");
    json_t *nd = json_deep_copy(d->obj);
    json_object_set_new(json_array_get(json_path(nd, "spec.template.spec.containers"), 0), "image",
                        json_string(image));
    json_object_set_new(json_object_get(nd, "metadata"), "generation", json_integer(generation));
    feed(m, "deployments", STORE_EV_MODIFIED, nd);
}

static void test_rolling_update(void)
{
    ctrl_manager_t *m = fake_manager();
    json_t *d = deploy_json(3, "v1", "RollingUpdate");
    set_rolling(d, json_integer(1), json_integer(0));
    feed(m, "deployments", STORE_EV_ADDED, d);
    converge(m);
    const struct ctrl_obj *rs1 = rs_with_image(m, "v1");
    CHECK(rs1 != NULL);
    if (!rs1) goto out;
    char hash[16];
    deploy_template_hash(json_path(get(m, "deployments", "web")->obj, "spec.template"), 0, hash);
    char want[64];
    snprintf(want, sizeof want, "web-%s", hash);
    CHECK_STR(rs1->name, want);
    CHECK_STR(json_path_str(rs1->obj, "metadata.labels." DEPLOY_HASH_LABEL), hash);
    CHECK_STR(json_path_str(rs1->obj, "spec.selector.matchLabels." DEPLOY_HASH_LABEL), hash);
    CHECK_STR(json_path_str(rs1->obj, "spec.template.metadata.labels." DEPLOY_HASH_LABEL), hash);
    CHECK_INT(deploy_revision(rs1->obj), 1);
    const struct ctrl_obj *dd = get(m, "deployments", "web");
    CHECK_INT(deploy_revision(dd->obj), 1);
    CHECK_INT(ctrl_int(dd->obj, "status.availableReplicas", -1), 3);
    CHECK_INT(ctrl_int(dd->obj, "status.updatedReplicas", -1), 3);
    CHECK_INT(ctrl_int(dd->obj, "status.observedGeneration", -1), 1);
    CHECK_STR(cond_reason(m, "Progressing"), "NewReplicaSetAvailable");
    CHECK_STR(cond_reason(m, "Available"), "MinimumReplicasAvailable");

    /* v2, step by step: never more than 4 pods wanted, never fewer than 3 ready */
    update_template(m, "v2", 2);
    int steps = 0;
    for (; steps < 40; steps++) {
        settle(m);
        struct totals t = totals(m);
        CHECK(t.spec <= 4);
        CHECK(t.active_pods <= 4);
        CHECK(t.ready_pods >= 3);
        const struct ctrl_obj *n2 = rs_with_image(m, "v2"), *o1 = rs_with_image(m, "v1");
        if (n2 && o1 && ctrl_int(n2->obj, "status.availableReplicas", 0) == 3 &&
            ctrl_int(o1->obj, "status.replicas", 1) == 0)
            break;
        kubelet(m); /* one more round of pods becomes ready */
        fake_now += 1000;
    }
    CHECK(steps >= 3); /* one pod at a time */
    settle(m);
    dd = get(m, "deployments", "web");
    CHECK_INT(deploy_revision(dd->obj), 2);
    CHECK_INT(deploy_revision(rs_with_image(m, "v2")->obj), 2);
    CHECK_INT(ctrl_int(rs_with_image(m, "v1")->obj, "spec.replicas", -1), 0);
    CHECK_INT(ctrl_int(dd->obj, "status.updatedReplicas", -1), 3);
    CHECK_INT(ctrl_int(dd->obj, "status.replicas", -1), 3);
    CHECK_INT(ctrl_int(dd->obj, "status.observedGeneration", -1), 2);
    CHECK_STR(cond_reason(m, "Progressing"), "NewReplicaSetAvailable");

    /* rollback: the v1 template again re-uses the old ReplicaSet as revision 3 */
    update_template(m, "v1", 3);
    converge(m);
    CHECK_INT(totals(m).nrs, 2);
    CHECK_INT(deploy_revision(rs_with_image(m, "v1")->obj), 3);
    CHECK_INT(ctrl_int(rs_with_image(m, "v1")->obj, "spec.replicas", -1), 3);
    CHECK_INT(ctrl_int(rs_with_image(m, "v2")->obj, "spec.replicas", -1), 0);
    CHECK_INT(deploy_revision(get(m, "deployments", "web")->obj), 3);

    /* scale 3 -> 5 */
    json_t *sc = json_deep_copy(get(m, "deployments", "web")->obj);
    json_object_set_new(json_object_get(sc, "spec"), "replicas", json_integer(5));
    feed(m, "deployments", STORE_EV_MODIFIED, sc);
    converge(m);
    CHECK_INT(ctrl_int(rs_with_image(m, "v1")->obj, "spec.replicas", -1), 5);
    CHECK_INT(totals(m).active_pods, 5);
    CHECK_INT(ctrl_int(get(m, "deployments", "web")->obj, "status.availableReplicas", -1), 5);

    /* deleting the Deployment collects its ReplicaSets and their pods */
    feed(m, "deployments", STORE_EV_DELETED, json_deep_copy(get(m, "deployments", "web")->obj));
    settle(m);
    settle(m);
    CHECK_INT(count(m, "replicasets"), 0);
    CHECK_INT(count(m, "pods"), 0);
out:
    fake_close(m);
}

static void test_recreate(void)
{
    ctrl_manager_t *m = fake_manager();
    feed(m, "deployments", STORE_EV_ADDED, deploy_json(3, "v1", "Recreate"));
    converge(m);
    CHECK_INT(totals(m).ready_pods, 3);
    update_template(m, "v2", 2);
    /* first the old pods go, and no new ReplicaSet exists meanwhile */
    ctrl_run_ready(m, 1000);
    CHECK_INT(count_writes(m, STORE_CREATE, "replicasets"), 0);
    ctrl_test_commit(m);
    CHECK(rs_with_image(m, "v2") == NULL);
    settle(m);
    CHECK_INT(totals(m).active_pods, 3);
    converge(m);
    CHECK(rs_with_image(m, "v2") != NULL);
    CHECK_INT(ctrl_int(rs_with_image(m, "v2")->obj, "status.availableReplicas", -1), 3);
    CHECK_INT(ctrl_int(rs_with_image(m, "v1")->obj, "spec.replicas", -1), 0);
    fake_close(m);
}

static void test_history_limit(void)
{
    ctrl_manager_t *m = fake_manager();
    json_t *d = deploy_json(1, "v1", "RollingUpdate");
    json_object_set_new(json_object_get(d, "spec"), "revisionHistoryLimit", json_integer(1));
    feed(m, "deployments", STORE_EV_ADDED, d);
    converge(m);
    update_template(m, "v2", 2);
    converge(m);
    update_template(m, "v3", 3);
    converge(m);
    CHECK_INT(totals(m).nrs, 2);
    CHECK(rs_with_image(m, "v1") == NULL);
    CHECK(rs_with_image(m, "v2") != NULL);
    CHECK_INT(deploy_revision(rs_with_image(m, "v3")->obj), 3);
    fake_close(m);
}

static void test_progress_deadline(void)
{
    ctrl_manager_t *m = fake_manager();
    json_t *d = deploy_json(2, "v1", "RollingUpdate");
    json_object_set_new(json_object_get(d, "spec"), "progressDeadlineSeconds", json_integer(10));
    feed(m, "deployments", STORE_EV_ADDED, d);
    settle(m); /* pods never become ready */
    CHECK_STR(cond_reason(m, "Available"), "MinimumReplicasUnavailable");
    const char *r = cond_reason(m, "Progressing");
    CHECK(r && (!strcmp(r, "NewReplicaSetCreated") || !strcmp(r, "ReplicaSetUpdated")));
    fake_now += 5000;
    settle(m);
    CHECK(strcmp(cond_reason(m, "Progressing"), "ProgressDeadlineExceeded") != 0);
    fake_now += 7000; /* past the deadline: the scheduled wake-up notices */
    settle(m);
    CHECK_STR(cond_reason(m, "Progressing"), "ProgressDeadlineExceeded");
    const json_t *c = ctrl_condition(get(m, "deployments", "web")->obj, "Progressing");
    CHECK_STR(json_string_value(json_object_get(c, "status")), "False");
    /* progress again clears it */
    kubelet(m);
    converge(m);
    CHECK_STR(cond_reason(m, "Progressing"), "NewReplicaSetAvailable");
    fake_close(m);
}

static void test_paused(void)
{
    ctrl_manager_t *m = fake_manager();
    feed(m, "deployments", STORE_EV_ADDED, deploy_json(2, "v1", "RollingUpdate"));
    converge(m);
    json_t *d = json_deep_copy(get(m, "deployments", "web")->obj);
    json_object_set_new(json_object_get(d, "spec"), "paused", json_true());
    feed(m, "deployments", STORE_EV_MODIFIED, d);
    update_template(m, "v2", 2);
    converge(m);
    CHECK(rs_with_image(m, "v2") == NULL);
    CHECK_STR(cond_reason(m, "Progressing"), "DeploymentPaused");
    d = json_deep_copy(get(m, "deployments", "web")->obj);
    json_object_set_new(json_object_get(d, "spec"), "paused", json_false());
    feed(m, "deployments", STORE_EV_MODIFIED, d);
    converge(m);
    CHECK(rs_with_image(m, "v2") != NULL);
    CHECK_STR(cond_reason(m, "Progressing"), "NewReplicaSetAvailable");
    fake_close(m);
}

int main(void)
{
    RUN(test_arithmetic);
    RUN(test_template_hash);
    RUN(test_rolling_update);
    RUN(test_recreate);
    RUN(test_history_limit);
    RUN(test_progress_deadline);
    RUN(test_paused);
    UNIT_EXIT();
}
