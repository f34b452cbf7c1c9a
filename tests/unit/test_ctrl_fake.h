/* test_ctrl_fake.h: the fake world the controller unit tests run in: a
 * manager with no loop and no store (the test hooks of ctrl_int.h stand in
 * for the store: writes are applied to the caches with the store's
 * preconditions and come back as watch events), a clock the test moves by
 * hand and a seeded random source. settle() runs syncs and commits until
 * nothing changes; kubelet() plays the agents: pods get a node, Running and
 * Ready at the fake now. */
#ifndef BERTH_TEST_CTRL_FAKE_H
#define BERTH_TEST_CTRL_FAKE_H

#include <stdlib.h>
#include <string.h>

#include "common/jsonutil.h"
#include "controllers/ctrl_int.h"
#include "unit.h"

static int64_t fake_now = 1764000000000LL; /* 2025-11-24 */
static uint64_t fake_seed = 42;

static __attribute__((unused)) int64_t fake_now_fn(void *data)
{
    (void)data;
    return fake_now;
}

static __attribute__((unused)) void fake_random(void *data, void *buf, size_t n)
{
    (void)data;
    for (size_t i = 0; i < n; i++) {
        fake_seed ^= fake_seed << 13;
        fake_seed ^= fake_seed >> 7;
        fake_seed ^= fake_seed << 17;
        ((unsigned char *)buf)[i] = (unsigned char)fake_seed;
    }
}

static __attribute__((unused)) ctrl_manager_t *fake_manager(void)
{
    struct ctrl_config cfg = {.now_ms = fake_now_fn, .random = fake_random,
                              .expectation_timeout_ms = 60000};
    ctrl_manager_t *m = NULL;
    if (ctrl_manager_new(NULL, NULL, &cfg, &m)) abort();
    ctrl_manager_leader_changed(m, true);
    return m;
}

static __attribute__((unused)) void fake_close(ctrl_manager_t *m)
{
    ctrl_manager_close(m, NULL, NULL);
}

/* Runs ready keys and commits their writes until quiet (or rounds pass). */
static __attribute__((unused)) int settle_rounds(ctrl_manager_t *m, int rounds)
{
    int r = 0;
    for (; r < rounds; r++) {
        for (size_t i = 0; i < m->nctrls; i++) ctrl_queue_promote(&m->ctrls[i], fake_now);
        ctrl_run_ready(m, 100000);
        size_t n;
        ctrl_test_writes(m, &n);
        if (!n) break;
        ctrl_test_commit(m);
    }
    return r;
}

static __attribute__((unused)) int settle(ctrl_manager_t *m)
{
    return settle_rounds(m, 200);
}

static __attribute__((unused)) size_t count_writes(ctrl_manager_t *m, enum store_op op, const char *resource)
{
    size_t n, k = 0;
    struct ctrl_write *w = ctrl_test_writes(m, &n);
    for (size_t i = 0; i < n; i++)
        if (w[i].op == op && !strcmp(w[i].resource, resource)) k++;
    return k;
}

static __attribute__((unused)) struct ctrl *ctrl_of(ctrl_manager_t *m, const char *name)
{
    struct ctrl *c = ctrl_find(m, name);
    if (!c) abort();
    return c;
}

static __attribute__((unused)) size_t count(ctrl_manager_t *m, const char *resource)
{
    const struct ctrl_obj **v;
    size_t n = ctrl_list(&m->ctrls[0], resource, NULL, &v);
    free(v);
    return n;
}

static __attribute__((unused)) const struct ctrl_obj *get(ctrl_manager_t *m, const char *resource, const char *name)
{
    return ctrl_get(&m->ctrls[0], resource, "default", name);
}

/* Feeds obj (stolen) as an event. */
static __attribute__((unused)) void feed(ctrl_manager_t *m, const char *resource, enum store_ev_type type, json_t *obj)
{
    char *text = json_dumps(obj, JSON_COMPACT);
    ctrl_test_event(m, resource, type, text);
    free(text);
    json_decref(obj);
}

/* Every active pod not Ready yet gets a node, Running and Ready (now). */
static __attribute__((unused)) void kubelet(ctrl_manager_t *m)
{
    const struct ctrl_obj **v;
    size_t n = ctrl_list(&m->ctrls[0], "pods", NULL, &v);
    char ts[32];
    time_format_rfc3339((time_t)(fake_now / 1000), ts, sizeof ts);
    for (size_t i = 0; i < n; i++) {
        if (ctrl_pod_ready(v[i]->obj) || !ctrl_pod_active(v[i]->obj)) continue;
        json_t *p = json_deep_copy(v[i]->obj);
        json_object_set_new(json_object_get(p, "spec"), "nodeName", json_string(i % 2 ? "n2" : "n1"));
        json_object_set_new(p, "status", json_pack("{s:s, s:[{s:s, s:s, s:s}]}", "phase", "Running",
                                                   "conditions", "type", "Ready", "status", "True",
                                                   "lastTransitionTime", ts));
        feed(m, "pods", STORE_EV_MODIFIED, p);
    }
    free(v);
}

#endif
