/* test_agent.c: the agent's reconcile logic over the fake runtime, a fake
 * clock and a recording API (no server, no real containers).
 *
 * Each test builds an agent with no --server (offline), swaps in the fake
 * clock and an API function that records each request and answers it at
 * once, feeds pod objects through agent_pod_upsert / agent_pod_gone as the
 * watch would, calls agent_reconcile_all as the sync timer would, and checks
 * the runtime's counters, the pod status the agent computes, and the
 * requests it sent. */
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/fake_runtime.h"
#include "common/errors.h"
#include "common/jsonutil.h"
#include "tests/unit/unit.h"

struct sent {
    char method[8], path[256];
    char body[4096];
};

struct env {
    uv_loop_t loop;
    int64_t now;
    rt_t *rt;
    struct agent *a;
    struct sent sent[64];
    int nsent;
    int answer; /* status the fake API answers */
    /* GETs of these paths answer 200 with the body; other GETs 404 */
    const char *objs[4][2];
    int gets;
};

static struct env *cur_env;

static int64_t fake_now(void *data) { return *(int64_t *)data; }

static int fake_api(struct agent *a, const char *method, const char *path, const char *ctype,
                    const char *body, size_t len, uvhttp_cb cb, void *data)
{
    struct env *e = cur_env;
    if (e->nsent < 64) {
        struct sent *s = &e->sent[e->nsent++];
        snprintf(s->method, sizeof s->method, "%s", method);
        snprintf(s->path, sizeof s->path, "%s", path);
        snprintf(s->body, sizeof s->body, "%.*s", (int)len, body ? body : "");
    }
    if (!strcmp(method, "GET")) {
        e->gets++;
        for (int i = 0; i < 4 && e->objs[i][0]; i++)
            if (!strcmp(path, e->objs[i][0])) {
                cb(data, 0, 200, e->objs[i][1], strlen(e->objs[i][1]));
                return 0;
            }
        cb(data, 0, 404, "{}", 2);
        return 0;
    }
    cb(data, 0, e->answer, "{}", 2);
    return 0;
}

static void env_init(struct env *e)
{
    memset(e, 0, sizeof *e);
    cur_env = e;
    e->now = 1700000000000LL;
    e->answer = 200;
    uv_loop_init(&e->loop);
    e->rt = fake_rt_new(&e->now);
    fake_rt_add_image(e->rt, "busybox");
}

static void agent_up(struct env *e)
{
    struct agent_config cfg = {.name = "n1", .host_ip = "10.0.0.5"};
    char err[128];
    CHECK_INT(agent_new(&e->loop, &cfg, e->rt, &e->a, err, sizeof err), 0);
    e->a->clock = (struct agent_clock){fake_now, &e->now};
    e->a->api = fake_api;
    agent_adopt(e->a);
    agent_watch_start(e->a); /* offline: synced at once */
}

static void on_stopped(void *data) { *(int *)data = 1; }

static void agent_down(struct env *e)
{
    int stopped = 0;
    agent_stop(e->a, on_stopped, &stopped);
    uv_run(&e->loop, UV_RUN_DEFAULT);
    CHECK_INT(stopped, 1);
    agent_free(e->a);
    e->a = NULL;
}

static void env_done(struct env *e)
{
    if (e->a)
        agent_down(e);
    e->rt->ops->close(e->rt);
    CHECK_INT(uv_loop_close(&e->loop), 0);
}

static json_t *pod(const char *uid, const char *name, const char *policy, const char *image)
{
    return json_pack("{s:s,s:s,s:{s:s,s:s,s:s},s:{s:s,s:s,s:i,s:[{s:s,s:s,s:[s,s],s:[s],"
                     "s:s,s:[{s:s,s:s}],s:{s:{s:s,s:s}}}]}}",
                     "apiVersion", "v1", "kind", "Pod", "metadata", "uid", uid, "name", name,
                     "namespace", "default", "spec", "nodeName", "n1", "restartPolicy", policy,
                     "terminationGracePeriodSeconds", 5, "containers", "name", "main", "image",
                     image, "command", "/bin/sh", "-c", "args", "sleep 1000", "workingDir", "/tmp",
                     "env", "name", "A", "value", "1", "resources", "limits", "cpu", "500m",
                     "memory", "64Mi");
}

static void upsert(struct env *e, json_t *obj)
{
    agent_pod_upsert(e->a, obj);
    json_decref(obj);
}

static struct acont *cont(struct env *e, const char *uid)
{
    struct apod *p = agent_pod_find(e->a, uid);
    return p ? agent_cont_find(p, "main") : NULL;
}

static const char *phase(struct env *e, const char *uid)
{
    return agent_pod_phase(agent_pod_find(e->a, uid));
}

static void test_backoff_arithmetic(void)
{
    struct env e;
    env_init(&e);
    agent_up(&e);
    int64_t want[] = {0, 0, 10000, 20000, 40000, 80000, 160000, 300000, 300000};
    for (int i = 0; i < 9; i++)
        CHECK_INT(agent_backoff_ms(e.a, i), want[i]);
    e.a->cfg.backoff_base_ms = 100;
    CHECK_INT(agent_backoff_ms(e.a, 3), 200);
    env_done(&e);
}

static void test_start_and_restart_always(void)
{
    struct env e;
    env_init(&e);
    agent_up(&e);
    upsert(&e, pod("u1", "p1", "Always", "busybox"));
    struct fake_ctr *fc = fake_rt_find(e.rt, "u1", "main");
    CHECK(fc != NULL);
    if (!fc)
        return;
    CHECK_STR(fc->argv0, "/bin/sh");
    CHECK_STR(fc->workdir, "/tmp");
    CHECK_INT(fc->cpu_limit, 500);
    CHECK_INT(fc->mem_limit, 64 << 20);
    CHECK_INT(fc->nenv, 3); /* A, HOSTNAME, PATH */
    agent_reconcile_all(e.a);
    CHECK_STR(phase(&e, "u1"), "Running");
    CHECK_INT(fake_rt_counts(e.rt)->starts, 1); /* level-triggered: no second start */

    /* first crash: restarted at once, restartCount 1 */
    e.now += 5000;
    fake_rt_exit(e.rt, fc->id, 1);
    agent_reconcile_all(e.a);
    CHECK_INT(fake_rt_counts(e.rt)->starts, 2);
    CHECK_INT(cont(&e, "u1")->attempt, 1);
    CHECK(cont(&e, "u1")->has_last);
    CHECK_INT(cont(&e, "u1")->last.exit_code, 1);

    /* second crash: CrashLoopBackOff for 10 s */
    fake_rt_exit(e.rt, fake_rt_find(e.rt, "u1", "main")->id, 2);
    agent_reconcile_all(e.a);
    CHECK_INT(fake_rt_counts(e.rt)->starts, 2);
    CHECK_STR(cont(&e, "u1")->reason, "CrashLoopBackOff");
    CHECK_STR(phase(&e, "u1"), "Running");
    e.now += 9999;
    agent_reconcile_all(e.a);
    CHECK_INT(fake_rt_counts(e.rt)->starts, 2);
    e.now += 1;
    agent_reconcile_all(e.a);
    CHECK_INT(fake_rt_counts(e.rt)->starts, 3);
    CHECK_INT(cont(&e, "u1")->attempt, 2);

    /* third crash: 20 s */
    fake_rt_exit(e.rt, fake_rt_find(e.rt, "u1", "main")->id, 0);
    agent_reconcile_all(e.a);
    e.now += 19000;
    agent_reconcile_all(e.a);
    CHECK_INT(fake_rt_counts(e.rt)->starts, 3);
    e.now += 1000;
    agent_reconcile_all(e.a);
    CHECK_INT(fake_rt_counts(e.rt)->starts, 4);
    CHECK_INT(fake_rt_live(e.rt), 1);
    env_done(&e);
}

static void test_policies(void)
{
    struct env e;
    env_init(&e);
    agent_up(&e);
    upsert(&e, pod("a", "ok", "OnFailure", "busybox"));
    upsert(&e, pod("b", "bad", "OnFailure", "busybox"));
    upsert(&e, pod("c", "never", "Never", "busybox"));
    upsert(&e, pod("d", "never0", "Never", "busybox"));
    fake_rt_exit(e.rt, fake_rt_find(e.rt, "a", "main")->id, 0);
    fake_rt_exit(e.rt, fake_rt_find(e.rt, "b", "main")->id, 3);
    fake_rt_exit(e.rt, fake_rt_find(e.rt, "c", "main")->id, 3);
    fake_rt_exit(e.rt, fake_rt_find(e.rt, "d", "main")->id, 0);
    agent_reconcile_all(e.a);
    CHECK_STR(phase(&e, "a"), "Succeeded");
    CHECK_STR(phase(&e, "b"), "Running"); /* restarted */
    CHECK_INT(cont(&e, "b")->attempt, 1);
    CHECK_STR(phase(&e, "c"), "Failed");
    CHECK_STR(phase(&e, "d"), "Succeeded");
    CHECK_INT(cont(&e, "c")->view, V_TERMINATED);
    CHECK_INT(fake_rt_counts(e.rt)->starts, 5);
    e.now += 600000;
    agent_reconcile_all(e.a);
    CHECK_INT(fake_rt_counts(e.rt)->starts, 5); /* never twice */
    env_done(&e);
}

static void test_status_json(void)
{
    struct env e;
    env_init(&e);
    agent_up(&e);
    json_t *p = pod("u1", "p1", "Always", "busybox");
    json_t *c2 = json_deep_copy(json_array_get(json_path(p, "spec.containers"), 0));
    json_object_set_new(c2, "name", json_string("side"));
    json_object_set_new(c2, "image", json_string("missing"));
    json_array_append_new(json_object_get(json_object_get(p, "spec"), "containers"), c2);
    upsert(&e, p);
    struct apod *ap = agent_pod_find(e.a, "u1");
    agent_reconcile(e.a, ap);
    CHECK_STR(agent_pod_phase(ap), "Pending");
    json_t *st = agent_pod_status(e.a, ap);
    CHECK_STR(json_string_value(json_object_get(st, "hostIP")), "10.0.0.5");
    json_t *cs = json_object_get(st, "containerStatuses");
    CHECK_INT(json_array_size(cs), 2);
    CHECK(json_path(json_array_get(cs, 0), "state.running") != NULL);
    CHECK_STR(json_path_str(json_array_get(cs, 1), "state.waiting.reason"), "ErrImageNotFound");
    CHECK(json_is_true(json_object_get(json_array_get(cs, 0), "ready")));
    json_t *ready = json_array_get(json_object_get(st, "conditions"), 3);
    CHECK_STR(json_string_value(json_object_get(ready, "type")), "Ready");
    CHECK_STR(json_string_value(json_object_get(ready, "status")), "False");
    json_decref(st);

    /* the event for the missing image, once */
    int events = 0;
    for (int i = 0; i < e.nsent; i++)
        if (!strcmp(e.sent[i].path, "/api/v1/namespaces/default/events")) {
            events++;
            json_t *ev = json_loads(e.sent[i].body, 0, NULL);
            CHECK_STR(json_string_value(json_object_get(ev, "reason")), "ErrImageNotFound");
            CHECK_STR(json_string_value(json_object_get(ev, "type")), "Warning");
            CHECK_STR(json_path_str(ev, "involvedObject.uid"), "u1");
            CHECK_STR(json_path_str(ev, "source.component"), "berth-agent");
            json_decref(ev);
        }
    CHECK_INT(events, 1);

    /* the image appears: started after the back-off, and the change is
     * written at once, not at the next flush tick */
    fake_rt_add_image(e.rt, "missing");
    agent_reconcile_all(e.a);
    CHECK(fake_rt_find(e.rt, "u1", "side") == NULL);
    e.now += 10000;
    e.nsent = 0;
    agent_reconcile_all(e.a);
    CHECK(fake_rt_find(e.rt, "u1", "side") != NULL);
    CHECK_STR(agent_pod_phase(ap), "Running");
    CHECK_INT(e.nsent, 1);
    CHECK_STR(e.sent[0].method, "PATCH");
    CHECK_STR(e.sent[0].path, "/api/v1/namespaces/default/pods/p1/status");
    json_t *doc = json_loads(e.sent[0].body, 0, NULL);
    CHECK_STR(json_path_str(doc, "status.phase"), "Running");
    json_decref(doc);

    /* batched writes: none when nothing changed, one PATCH per change */
    agent_status_flush(e.a);
    agent_reconcile_all(e.a);
    CHECK_INT(e.nsent, 1);
    e.now += 5000;
    fake_rt_exit(e.rt, fake_rt_find(e.rt, "u1", "side")->id, 1);
    agent_reconcile_all(e.a);
    agent_status_flush(e.a);
    CHECK_INT(e.nsent, 2);
    doc = json_loads(e.sent[1].body, 0, NULL);
    json_t *side = json_array_get(json_path(doc, "status.containerStatuses"), 1);
    CHECK_INT(json_integer_value(json_object_get(side, "restartCount")), 1);
    json_decref(doc);
    env_done(&e);
}

/* A container's environment as the kubelet builds it: ConfigMaps and
 * Secrets fetched once, $(VAR) expansion, the downward API. */
static void test_env_from_refs(void)
{
    struct env e;
    env_init(&e);
    e.objs[0][0] = "/api/v1/namespaces/default/configmaps/cm";
    e.objs[0][1] = "{\"data\":{\"color\":\"blue\",\"size\":\"L\"}}";
    e.objs[1][0] = "/api/v1/namespaces/default/secrets/s";
    e.objs[1][1] = "{\"data\":{\"pw\":\"c2VjcmV0\"}}";
    agent_up(&e);
    json_t *p = pod("u1", "p1", "Always", "busybox");
    json_t *c = json_array_get(json_path(p, "spec.containers"), 0);
    json_object_set_new(c, "env", json_pack(
        "[{s:s,s:s},{s:s,s:s},{s:s,s:{s:{s:s}}},{s:s,s:{s:{s:s,s:s}}},{s:s,s:{s:{s:s,s:s}}},"
        "{s:s,s:{s:{s:s,s:s}}}]",
        "name", "A", "value", "1", "name", "B", "value", "$(A)-$(NOPE)-$$(A)",
        "name", "ME", "valueFrom", "fieldRef", "fieldPath", "metadata.name",
        "name", "COLOR", "valueFrom", "configMapKeyRef", "name", "cm", "key", "color",
        "name", "PW", "valueFrom", "secretKeyRef", "name", "s", "key", "pw",
        "name", "CPU", "valueFrom", "resourceFieldRef", "resource", "limits.cpu", "divisor", "1m"));
    json_object_set_new(c, "envFrom", json_pack("[{s:s,s:{s:s}}]", "prefix", "CM_",
                                                "configMapRef", "name", "cm"));
    json_object_set_new(c, "args", json_pack("[s]", "echo $(COLOR)"));
    upsert(&e, p); /* the first start waits for the GETs */
    CHECK(fake_rt_find(e.rt, "u1", "main") == NULL);
    CHECK_STR(cont(&e, "u1")->reason, "ContainerCreating");
    agent_reconcile_all(e.a);
    struct fake_ctr *fc = fake_rt_find(e.rt, "u1", "main");
    CHECK(fc != NULL);
    if (fc) {
        const char *want[] = {"CM_color=blue\n", "CM_size=L\n", "A=1\n", "B=1-$(NOPE)-$(A)\n",
                              "ME=p1\n", "COLOR=blue\n", "PW=secret\n", "CPU=500\n",
                              "HOSTNAME=p1\n", "PATH="};
        for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
            if (!strstr(fc->env, want[i])) {
                fprintf(stderr, "missing %s in env:\n%s", want[i], fc->env);
                CHECK(0);
            }
        CHECK_STR(fc->args, "/bin/sh\n-c\necho blue\n");
    }
    CHECK_INT(e.gets, 2); /* one GET per object, shared by its three uses */

    /* a missing ConfigMap: CreateContainerConfigError, nothing started */
    json_t *p2 = pod("u2", "p2", "Always", "busybox");
    json_object_set_new(json_array_get(json_path(p2, "spec.containers"), 0), "envFrom",
                        json_pack("[{s:{s:s}}]", "configMapRef", "name", "nosuch"));
    upsert(&e, p2);
    agent_reconcile_all(e.a);
    CHECK(fake_rt_find(e.rt, "u2", "main") == NULL);
    CHECK_STR(cont(&e, "u2")->reason, "CreateContainerConfigError");
    CHECK_STR(cont(&e, "u2")->message, "configmap \"nosuch\" not found");
    env_done(&e);
}

static void test_adoption(void)
{
    struct env e;
    env_init(&e);
    agent_up(&e);
    upsert(&e, pod("u1", "p1", "Always", "busybox"));
    upsert(&e, pod("u2", "p2", "Never", "busybox"));
    upsert(&e, pod("u3", "p3", "Always", "busybox"));
    fake_rt_exit(e.rt, fake_rt_find(e.rt, "u2", "main")->id, 0);
    fake_rt_exit(e.rt, fake_rt_find(e.rt, "u1", "main")->id, 1);
    agent_reconcile_all(e.a); /* u1 restarted: attempt 1 */
    agent_down(&e);           /* agent stops, containers keep running */
    CHECK_INT(fake_rt_live(e.rt), 2);
    int starts = fake_rt_counts(e.rt)->starts;

    /* a new agent: finds u1 (attempt 1), u2 (exited) and u3; the API lists
       u1 and u2 only (u3 was deleted while the agent was down) */
    e.a = NULL;
    struct agent_config cfg = {.name = "n1", .host_ip = "10.0.0.5"};
    char err[128];
    CHECK_INT(agent_new(&e.loop, &cfg, e.rt, &e.a, err, sizeof err), 0);
    e.a->clock = (struct agent_clock){fake_now, &e.now};
    e.a->api = fake_api;
    agent_adopt(e.a);
    CHECK(agent_pod_find(e.a, "u3") != NULL);
    json_t *p1 = pod("u1", "p1", "Always", "busybox"), *p2 = pod("u2", "p2", "Never", "busybox");
    agent_pod_upsert(e.a, p1);
    agent_pod_upsert(e.a, p2);
    json_decref(p1);
    json_decref(p2);
    agent_pods_synced(e.a);
    CHECK_INT(fake_rt_counts(e.rt)->starts, starts); /* nothing started again */
    CHECK_INT(cont(&e, "u1")->attempt, 1);
    CHECK_INT(cont(&e, "u1")->view, V_RUNNING);
    CHECK_STR(phase(&e, "u2"), "Succeeded");
    CHECK(agent_pod_find(e.a, "u3") == NULL); /* stopped and removed */
    CHECK(fake_rt_find(e.rt, "u3", "main") == NULL);
    CHECK_INT(fake_rt_live(e.rt), 1);
    agent_reconcile_all(e.a);
    CHECK_INT(fake_rt_counts(e.rt)->starts, starts);

    /* a finished pod the agent holds nothing of is never run again */
    json_t *p4 = pod("u4", "p4", "Never", "busybox");
    json_object_set_new(p4, "status", json_pack("{s:s}", "phase", "Succeeded"));
    upsert(&e, p4);
    CHECK_INT(fake_rt_counts(e.rt)->starts, starts);
    env_done(&e);
}

static void test_deletion(void)
{
    struct env e;
    env_init(&e);
    agent_up(&e);
    fake_rt_set_stubborn(e.rt, true);
    upsert(&e, pod("u1", "p1", "Always", "busybox"));
    struct fake_ctr *fc = fake_rt_find(e.rt, "u1", "main");
    agent_pod_gone(e.a, "u1");
    CHECK_INT(fc->stop_grace, 5);
    CHECK_INT(fake_rt_counts(e.rt)->stops, 1);
    CHECK(agent_pod_find(e.a, "u1") != NULL); /* still stopping */
    agent_reconcile_all(e.a);
    CHECK_INT(fake_rt_counts(e.rt)->stops, 1); /* asked once */
    CHECK_INT(fake_rt_counts(e.rt)->starts, 1); /* not restarted */
    fake_rt_exit(e.rt, fc->id, 143);
    agent_reconcile_all(e.a);
    CHECK(agent_pod_find(e.a, "u1") == NULL);
    CHECK_INT(fake_rt_counts(e.rt)->removes, 1);
    CHECK_INT(fake_rt_counts(e.rt)->remove_pods, 1);

    /* graceful deletion through deletionTimestamp: the agent deletes last */
    fake_rt_set_stubborn(e.rt, false);
    json_t *p = pod("u2", "p2", "Always", "busybox");
    upsert(&e, json_incref(p));
    json_object_set_new(json_object_get(p, "metadata"), "deletionTimestamp",
                        json_string("2026-01-01T00:00:00Z"));
    e.nsent = 0;
    upsert(&e, p);
    CHECK(agent_pod_find(e.a, "u2") == NULL);
    CHECK_INT(e.nsent, 1);
    CHECK_STR(e.sent[0].method, "DELETE");
    CHECK_STR(e.sent[0].path, "/api/v1/namespaces/default/pods/p2");

    /* a final DELETE that fails is sent again after 1 s, then 2 s, until
     * the API takes it; then never again */
    p = pod("u3", "p3", "Always", "busybox");
    upsert(&e, json_incref(p));
    json_object_set_new(json_object_get(p, "metadata"), "deletionTimestamp",
                        json_string("2026-01-01T00:00:00Z"));
    e.nsent = 0;
    e.answer = 503;
    upsert(&e, p);
    CHECK_INT(e.nsent, 1);
    agent_reconcile_all(e.a);
    CHECK_INT(e.nsent, 1); /* not before its delay */
    e.now += 1100;
    agent_reconcile_all(e.a);
    CHECK_INT(e.nsent, 2);
    CHECK_STR(e.sent[1].method, "DELETE");
    CHECK(strstr(e.sent[1].body, "\"uid\":\"u3\"") != NULL);
    e.answer = 200;
    e.now += 1100;
    agent_reconcile_all(e.a);
    CHECK_INT(e.nsent, 2); /* the second delay is 2 s */
    e.now += 1000;
    agent_reconcile_all(e.a);
    CHECK_INT(e.nsent, 3);
    e.now += 60000;
    agent_reconcile_all(e.a);
    CHECK_INT(e.nsent, 3);
    CHECK(e.a->final_dels == NULL);
    env_done(&e);
}

/* An exec liveness probe that fails failureThreshold times kills the
 * container, which then restarts and counts a restart. */
static void test_liveness_exec(void)
{
    struct env e;
    env_init(&e);
    agent_up(&e);
    json_t *p = pod("u1", "p1", "Always", "busybox");
    json_t *c = json_array_get(json_path(p, "spec.containers"), 0);
    json_object_set_new(c, "livenessProbe",
                        json_pack("{s:{s:[s]},s:i,s:i,s:i}", "exec", "command", "check",
                                  "initialDelaySeconds", 1, "periodSeconds", 2, "failureThreshold", 2));
    json_object_set_new(c, "readinessProbe",
                        json_pack("{s:{s:[s]},s:i}", "exec", "command", "ready", "periodSeconds", 1));
    upsert(&e, p);
    agent_reconcile_all(e.a);
    struct acont *ac = cont(&e, "u1");
    fake_rt_set_exec_result(e.rt, 0);
    agent_probes_tick(e.a); /* readiness only: liveness has its delay */
    uv_run(&e.loop, UV_RUN_DEFAULT);
    CHECK(ac->readyp.ok);
    CHECK_INT(ac->live.successes, 0);
    fake_rt_set_exec_result(e.rt, 1);
    for (int i = 0; i < 2; i++) {
        e.now += 2000;
        agent_probes_tick(e.a);
        uv_run(&e.loop, UV_RUN_DEFAULT);
    }
    CHECK_INT(ac->live.failures, 2);
    CHECK_INT(fake_rt_counts(e.rt)->stops, 1);
    agent_reconcile_all(e.a);
    CHECK_INT(cont(&e, "u1")->attempt, 1); /* restarted: a restart counted */
    CHECK_INT(fake_rt_counts(e.rt)->starts, 2);
    CHECK(!cont(&e, "u1")->readyp.ok); /* readiness starts over */
    env_done(&e);
}

static void test_labels(void)
{
    json_t *l = json_object();
    CHECK_INT(agent_parse_labels("zone=a,disk=ssd", l), 0);
    CHECK_STR(json_string_value(json_object_get(l, "disk")), "ssd");
    CHECK_INT(agent_parse_labels("bad", l), BE_INVAL);
    json_decref(l);
    struct env e;
    env_init(&e);
    agent_up(&e);
    json_t *node = agent_node_object(e.a);
    CHECK_STR(json_string_value(json_object_get(json_path(node, "metadata.labels"),
                                                "kubernetes.io/hostname")), "n1");
    CHECK_STR(json_path_str(node, "status.capacity.pods"), "110");
    json_t *conds = json_path(node, "status.conditions");
    json_t *ready = json_array_get(conds, json_array_size(conds) - 1);
    CHECK_STR(json_string_value(json_object_get(ready, "reason")), "KubeletReady");
    json_decref(node);
    env_done(&e);
}

int main(void)
{
    RUN(test_backoff_arithmetic);
    RUN(test_start_and_restart_always);
    RUN(test_policies);
    RUN(test_status_json);
    RUN(test_env_from_refs);
    RUN(test_adoption);
    RUN(test_deletion);
    RUN(test_liveness_exec);
    RUN(test_labels);
    UNIT_EXIT();
}
