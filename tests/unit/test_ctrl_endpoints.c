/* test_ctrl_endpoints.c: the endpoints controller against the fake store of
 * test_ctrl_fake.h: ready and not-ready pods land in addresses and
 * notReadyAddresses, named target ports resolve per pod, readiness changes
 * and deletions move pods, Services without a selector are left alone, the
 * Endpoints go with their Service, and NodePort allocation is deterministic
 * and avoids ports in use. */
#include "test_ctrl_fake.h"

static json_t *svc_json(const char *name, const char *type, json_t *ports)
{
    json_t *s = json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:{s:s}}, s:{s:s, s:{s:s}, s:o}}",
                          "apiVersion", "v1", "kind", "Service", "metadata", "name", name,
                          "namespace", "default", "uid", name, "labels", "tier", "front", "spec",
                          "type", type, "selector", "app", "web", "ports", ports);
    return s;
}

static json_t *pod(const char *name, const char *ip, const char *node, bool ready,
                   const char *port_name, int port)
{
    json_t *p = json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:{s:s}}, s:{s:s, s:[{s:s, s:[{s:s, s:i}]}]},"
                          " s:{s:s}}",
                          "apiVersion", "v1", "kind", "Pod", "metadata", "name", name, "namespace",
                          "default", "uid", name, "labels", "app", "web", "spec", "nodeName", node,
                          "containers", "name", "c", "ports", "name", port_name, "containerPort",
                          port, "status", "phase", "Running");
    json_t *st = json_object_get(p, "status");
    if (ip) json_object_set_new(st, "podIP", json_string(ip));
    json_object_set_new(st, "conditions", json_pack("[{s:s, s:s}]", "type", "Ready", "status",
                                                    ready ? "True" : "False"));
    return p;
}

static const json_t *ep_of(ctrl_manager_t *m, const char *name)
{
    const struct ctrl_obj *o = get(m, "endpoints", name);
    return o ? o->obj : NULL;
}

static void test_ready_and_not_ready(void)
{
    ctrl_manager_t *m = fake_manager();
    feed(m, "services", STORE_EV_ADDED,
         svc_json("web", "ClusterIP", json_pack("[{s:s, s:i, s:s, s:s}]", "name", "http", "port", 80,
                                                "targetPort", "http", "protocol", "TCP")));
    feed(m, "pods", STORE_EV_ADDED, pod("b", "127.0.0.3", "n2", true, "http", 8080));
    feed(m, "pods", STORE_EV_ADDED, pod("a", "127.0.0.2", "n1", true, "http", 8080));
    feed(m, "pods", STORE_EV_ADDED, pod("c", "127.0.0.2", "n1", false, "http", 8080));
    feed(m, "pods", STORE_EV_ADDED, pod("noip", NULL, "n1", true, "http", 8080));
    json_t *other = pod("other", "127.0.0.9", "n1", true, "http", 8080);
    json_object_set_new(json_path(other, "metadata.labels"), "app", json_string("db"));
    feed(m, "pods", STORE_EV_ADDED, other);
    settle(m);
    const json_t *ep = ep_of(m, "web");
    CHECK(ep != NULL);
    CHECK_STR(json_path_str(ep, "metadata.labels.tier"), "front");
    const json_t *subs = json_object_get(ep, "subsets");
    CHECK_INT(json_array_size(subs), 1);
    const json_t *s0 = json_array_get(subs, 0);
    const json_t *addrs = json_object_get(s0, "addresses");
    CHECK_INT(json_array_size(addrs), 2);
    CHECK_STR(json_path_str(json_array_get(addrs, 0), "ip"), "127.0.0.2");
    CHECK_STR(json_path_str(json_array_get(addrs, 0), "nodeName"), "n1");
    CHECK_STR(json_path_str(json_array_get(addrs, 0), "targetRef.kind"), "Pod");
    CHECK_STR(json_path_str(json_array_get(addrs, 0), "targetRef.name"), "a");
    CHECK_STR(json_path_str(json_array_get(addrs, 0), "targetRef.uid"), "a");
    CHECK_STR(json_path_str(json_array_get(addrs, 1), "targetRef.name"), "b");
    CHECK_INT(json_array_size(json_object_get(s0, "notReadyAddresses")), 1);
    CHECK_STR(json_path_str(json_array_get(json_object_get(s0, "notReadyAddresses"), 0), "targetRef.name"), "c");
    const json_t *p0 = json_array_get(json_object_get(s0, "ports"), 0);
    CHECK_INT(json_integer_value(json_object_get(p0, "port")), 8080);
    CHECK_STR(json_path_str(p0, "name"), "http");
    CHECK_STR(json_path_str(p0, "protocol"), "TCP");

    /* readiness flips move pods; a quiet sync writes nothing */
    uint64_t rev = get(m, "endpoints", "web")->rev;
    feed(m, "pods", STORE_EV_MODIFIED, pod("c", "127.0.0.2", "n1", true, "http", 8080));
    feed(m, "pods", STORE_EV_MODIFIED, pod("a", "127.0.0.2", "n1", false, "http", 8080));
    settle(m);
    ep = ep_of(m, "web");
    s0 = json_array_get(json_object_get(ep, "subsets"), 0);
    CHECK_INT(json_array_size(json_object_get(s0, "addresses")), 2);
    CHECK_STR(json_path_str(json_array_get(json_object_get(s0, "addresses"), 0), "targetRef.name"), "c");
    CHECK_STR(json_path_str(json_array_get(json_object_get(s0, "notReadyAddresses"), 0), "targetRef.name"), "a");
    CHECK(get(m, "endpoints", "web")->rev > rev);
    /* Endpoints have no spec, so no generation either, updated or not */
    CHECK(json_path(get(m, "endpoints", "web")->obj, "metadata.generation") == NULL);
    rev = get(m, "endpoints", "web")->rev;
    ctrl_enqueue(ctrl_of(m, "endpoints-controller"), "default/web");
    settle(m);
    CHECK_INT(get(m, "endpoints", "web")->rev, rev);

    /* a deleted pod and a pod being deleted leave */
    feed(m, "pods", STORE_EV_DELETED, pod("b", "127.0.0.3", "n2", true, "http", 8080));
    json_t *dying = pod("c", "127.0.0.2", "n1", true, "http", 8080);
    json_object_set_new(json_object_get(dying, "metadata"), "deletionTimestamp",
                        json_string("2025-11-24T00:00:00Z"));
    feed(m, "pods", STORE_EV_MODIFIED, dying);
    settle(m);
    s0 = json_array_get(json_object_get(ep_of(m, "web"), "subsets"), 0);
    CHECK(json_object_get(s0, "addresses") == NULL);
    CHECK_INT(json_array_size(json_object_get(s0, "notReadyAddresses")), 1);

    /* an Endpoints deleted by hand comes back; the Service's deletion takes it */
    feed(m, "endpoints", STORE_EV_DELETED, json_deep_copy(ep_of(m, "web")));
    CHECK(ep_of(m, "web") == NULL);
    settle(m);
    CHECK(ep_of(m, "web") != NULL);
    feed(m, "services", STORE_EV_DELETED,
         svc_json("web", "ClusterIP", json_pack("[{s:i}]", "port", 80)));
    settle(m);
    CHECK(ep_of(m, "web") == NULL);
    fake_close(m);
}

static void test_named_ports_split_subsets(void)
{
    ctrl_manager_t *m = fake_manager();
    feed(m, "services", STORE_EV_ADDED,
         svc_json("web", "ClusterIP", json_pack("[{s:i, s:s, s:s}]", "port", 80, "targetPort", "http",
                                                "protocol", "TCP")));
    feed(m, "pods", STORE_EV_ADDED, pod("a", "127.0.0.2", "n1", true, "http", 8080));
    feed(m, "pods", STORE_EV_ADDED, pod("b", "127.0.0.3", "n2", true, "http", 9090));
    feed(m, "pods", STORE_EV_ADDED, pod("c", "127.0.0.3", "n2", true, "web", 7070)); /* no "http" */
    settle(m);
    const json_t *subs = json_object_get(ep_of(m, "web"), "subsets");
    CHECK_INT(json_array_size(subs), 2);
    int seen8080 = 0, seen9090 = 0;
    size_t i;
    json_t *s;
    json_array_foreach(subs, i, s) {
        json_int_t port = json_integer_value(json_object_get(json_array_get(json_object_get(s, "ports"), 0), "port"));
        CHECK(json_object_get(s, "ports") && !json_path_str(json_array_get(json_object_get(s, "ports"), 0), "name"));
        CHECK_INT(json_array_size(json_object_get(s, "addresses")), 1);
        if (port == 8080) seen8080++;
        if (port == 9090) seen9090++;
    }
    CHECK_INT(seen8080, 1);
    CHECK_INT(seen9090, 1);
    fake_close(m);
}

static void test_no_selector_left_alone(void)
{
    ctrl_manager_t *m = fake_manager();
    json_t *s = svc_json("ext", "ClusterIP", json_pack("[{s:i}]", "port", 80));
    json_object_del(json_object_get(s, "spec"), "selector");
    feed(m, "services", STORE_EV_ADDED, s);
    feed(m, "endpoints", STORE_EV_ADDED,
         json_pack("{s:s, s:s, s:{s:s, s:s}, s:[{s:[{s:s}], s:[{s:i}]}]}", "apiVersion", "v1", "kind",
                   "Endpoints", "metadata", "name", "ext", "namespace", "default", "subsets",
                   "addresses", "ip", "10.0.0.1", "ports", "port", 5432));
    feed(m, "pods", STORE_EV_ADDED, pod("a", "127.0.0.2", "n1", true, "http", 8080));
    settle(m);
    const json_t *ep = ep_of(m, "ext");
    CHECK(ep != NULL);
    CHECK_STR(json_path_str(json_array_get(json_path(json_array_get(json_object_get(ep, "subsets"), 0), "addresses"), 0), "ip"),
              "10.0.0.1");
    fake_close(m);
}

static void test_node_port_allocation(void)
{
    ctrl_manager_t *m = fake_manager();
    feed(m, "services", STORE_EV_ADDED,
         svc_json("a", "NodePort", json_pack("[{s:s, s:i}, {s:s, s:i}]", "name", "x", "port", 80,
                                             "name", "y", "port", 81)));
    feed(m, "services", STORE_EV_ADDED,
         svc_json("b", "NodePort", json_pack("[{s:i, s:i}]", "port", 80, "nodePort", 30080)));
    feed(m, "services", STORE_EV_ADDED, svc_json("c", "ClusterIP", json_pack("[{s:i}]", "port", 80)));
    settle(m);
    const json_t *pa = json_path(get(m, "services", "a")->obj, "spec.ports");
    json_int_t x = json_integer_value(json_object_get(json_array_get(pa, 0), "nodePort"));
    json_int_t y = json_integer_value(json_object_get(json_array_get(pa, 1), "nodePort"));
    CHECK(x >= 30000 && x <= 32767);
    CHECK(y >= 30000 && y <= 32767);
    CHECK(x != y);
    CHECK(x != 30080 && y != 30080);
    CHECK_INT(json_integer_value(json_object_get(json_array_get(json_path(get(m, "services", "b")->obj, "spec.ports"), 0), "nodePort")),
              30080);
    CHECK(json_object_get(json_array_get(json_path(get(m, "services", "c")->obj, "spec.ports"), 0), "nodePort") == NULL);

    /* a re-apply that drops the field gets the same port back */
    feed(m, "services", STORE_EV_MODIFIED,
         svc_json("a", "NodePort", json_pack("[{s:s, s:i}, {s:s, s:i}]", "name", "x", "port", 80,
                                             "name", "y", "port", 81)));
    settle(m);
    pa = json_path(get(m, "services", "a")->obj, "spec.ports");
    CHECK_INT(json_integer_value(json_object_get(json_array_get(pa, 0), "nodePort")), x);
    CHECK_INT(json_integer_value(json_object_get(json_array_get(pa, 1), "nodePort")), y);

    /* a port a Service already uses is skipped: give d a port whose
     * preferred slot another service holds */
    json_t *d = svc_json("d", "NodePort", json_pack("[{s:i}]", "port", 80));
    feed(m, "services", STORE_EV_ADDED, json_deep_copy(d));
    settle(m);
    json_int_t dp = json_integer_value(json_object_get(json_array_get(json_path(get(m, "services", "d")->obj, "spec.ports"), 0), "nodePort"));
    feed(m, "services", STORE_EV_DELETED, json_deep_copy(get(m, "services", "d")->obj));
    feed(m, "services", STORE_EV_ADDED,
         svc_json("e", "NodePort", json_pack("[{s:i, s:i}]", "port", 80, "nodePort", dp)));
    fake_now += 120000; /* forget recent allocations */
    feed(m, "services", STORE_EV_ADDED, d);
    settle(m);
    json_int_t dp2 = json_integer_value(json_object_get(json_array_get(json_path(get(m, "services", "d")->obj, "spec.ports"), 0), "nodePort"));
    CHECK(dp2 != dp);
    CHECK(dp2 >= 30000 && dp2 <= 32767);
    fake_close(m);
}

int main(void)
{
    RUN(test_ready_and_not_ready);
    RUN(test_named_ports_split_subsets);
    RUN(test_no_selector_left_alone);
    RUN(test_node_port_allocation);
    UNIT_EXIT();
}
