/* test_api_route.c: request paths to routes, the revision splice, and the
 * server-side validation and defaults of the API server. */
#include <stdlib.h>

#include "apiserver/api_int.h"
#include "common/errors.h"
#include "unit.h"

static void test_routes(void)
{
    struct api_route rt;
    char err[256];
    CHECK_INT(api_route_parse("/api/v1/namespaces/default/pods/web-1/log", &rt, err, sizeof err), 0);
    CHECK_STR(rt.kind->resource, "pods");
    CHECK_STR(rt.ns, "default");
    CHECK_STR(rt.name, "web-1");
    CHECK_STR(rt.sub, "log");
    CHECK_INT(api_route_parse("/apis/apps/v1/namespaces/x/deployments", &rt, err, sizeof err), 0);
    CHECK_INT(rt.type, ROUTE_COLLECTION);
    CHECK_STR(rt.kind->kind, "Deployment");
    CHECK_INT(api_route_parse("/apis/apps/v1/deployments", &rt, err, sizeof err), 0);
    CHECK(rt.all_namespaces);
    CHECK_INT(api_route_parse("/api/v1/namespaces/kube-system", &rt, err, sizeof err), 0);
    CHECK_STR(rt.kind->resource, "namespaces");
    CHECK_STR(rt.name, "kube-system");
    CHECK_INT(api_route_parse("/api/v1/namespaces/foo/status", &rt, err, sizeof err), 0);
    CHECK_STR(rt.sub, "status");
    CHECK_INT(api_route_parse("/api/v1/nodes/n1", &rt, err, sizeof err), 0);
    CHECK(!rt.kind->namespaced);
    CHECK_INT(api_route_parse("/apis/apps/v1/namespaces/x/deployments/web/scale", &rt, err, sizeof err), 0);
    CHECK_STR(rt.sub, "scale");
    /* not routes */
    CHECK_INT(api_route_parse("/api/v1/namespaces/x/nodes/n1", &rt, err, sizeof err), BE_NOTFOUND);
    CHECK_INT(api_route_parse("/apis/apps/v2/namespaces/x/deployments", &rt, err, sizeof err), BE_NOTFOUND);
    CHECK_INT(api_route_parse("/api/v1/namespaces/x/configmaps/a/scale", &rt, err, sizeof err), BE_NOTFOUND);
    CHECK_INT(api_route_parse("/api/v1/pods/x", &rt, err, sizeof err), BE_NOTFOUND);
    CHECK_INT(api_route_parse("/api/v1/a/b/c/d/e/f/g/h/i/j/k", &rt, err, sizeof err), BE_NOTFOUND);
    CHECK_INT(api_route_parse("/", &rt, err, sizeof err), BE_NOTFOUND);
    CHECK_INT(api_route_parse("", &rt, err, sizeof err), BE_NOTFOUND);
}

static void test_splice(void)
{
    size_t n = 0;
    const char *in = "{\"metadata\":{\"name\":\"a\"},\"data\":{}}";
    char *out = api_splice_rv(in, strlen(in), 42, &n);
    CHECK_STR(out, "{\"metadata\":{\"resourceVersion\":\"42\",\"name\":\"a\"},\"data\":{}}");
    CHECK_INT(n, strlen(out));
    free(out);
    CHECK(api_splice_rv("{\"data\":1}", 10, 1, &n) == NULL);
}

static int validate_text(const char *resource, const char *text, char *err, size_t len, json_t **out)
{
    struct api_route rt = {0};
    rt.kind = kind_by_resource(!strcmp(resource, "deployments") || !strcmp(resource, "daemonsets") ? "apps"
                               : !strcmp(resource, "jobs") || !strcmp(resource, "cronjobs") ? "batch" : "",
                               resource);
    json_t *obj = json_loads(text, 0, NULL);
    int rc = obj ? api_validate(&rt, obj, NULL, err, len) : -100;
    if (out) *out = obj;
    else json_decref(obj);
    return rc;
}

static void test_validation(void)
{
    char err[1024];
    json_t *obj;
    CHECK_INT(validate_text("pods", "{\"metadata\":{\"name\":\"p\"},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"busybox\"}]}}",
                            err, sizeof err, &obj), 0);
    CHECK_STR(json_string_value(json_object_get(json_object_get(obj, "spec"), "restartPolicy")), "Always");
    CHECK_STR(json_string_value(json_object_get(json_object_get(obj, "status"), "phase")), "Pending");
    json_decref(obj);
    CHECK_INT(validate_text("pods", "{\"metadata\":{\"name\":\"p\"},\"spec\":{\"containers\":[{\"name\":\"c\"}]}}",
                            err, sizeof err, NULL), BE_INVALID);
    CHECK(strstr(err, "containers[0].image: Required value") != NULL);
    CHECK_INT(validate_text("pods", "{\"metadata\":{\"name\":\"p\"},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"b\","
                            "\"resources\":{\"requests\":{\"cpu\":\"2\"},\"limits\":{\"cpu\":\"500m\"}}}]}}",
                            err, sizeof err, NULL), BE_INVALID);
    CHECK(strstr(err, "less than or equal to cpu limit") != NULL);
    CHECK_INT(validate_text("configmaps", "{\"metadata\":{\"name\":\"UPPER\"}}", err, sizeof err, NULL), BE_INVALID);
    CHECK_INT(validate_text("configmaps", "{\"metadata\":{\"name\":\"a.b-c\"},\"data\":{\"k\":\"v\"}}", err, sizeof err, NULL), 0);
    CHECK_INT(validate_text("configmaps", "{\"metadata\":{\"name\":\"a\"},\"data\":{\"k\":1}}", err, sizeof err, NULL), BE_INVALID);
    const char *deploy = "{\"metadata\":{\"name\":\"d\"},\"spec\":{\"selector\":{\"matchLabels\":{\"app\":\"w\"}},"
                         "\"template\":{\"metadata\":{\"labels\":{\"app\":\"w\"}},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"b\"}]}}}}";
    CHECK_INT(validate_text("deployments", deploy, err, sizeof err, &obj), 0);
    CHECK_INT(json_integer_value(json_object_get(json_object_get(obj, "spec"), "replicas")), 1);
    CHECK_STR(json_string_value(json_object_get(json_object_get(json_object_get(obj, "spec"), "strategy"), "type")), "RollingUpdate");
    json_decref(obj);
    CHECK_INT(validate_text("jobs", "{\"metadata\":{\"name\":\"j\"},\"spec\":{\"template\":{\"spec\":{\"restartPolicy\":\"Always\","
                            "\"containers\":[{\"name\":\"c\",\"image\":\"b\"}]}}}}", err, sizeof err, NULL), BE_INVALID);
    CHECK(strstr(err, "restartPolicy") != NULL);
    CHECK_INT(validate_text("cronjobs", "{\"metadata\":{\"name\":\"c\"},\"spec\":{\"concurrencyPolicy\":\"Sometimes\",\"schedule\":\"* * * * *\","
                            "\"jobTemplate\":{\"spec\":{\"template\":{\"spec\":{\"restartPolicy\":\"Never\",\"containers\":[{\"name\":\"c\",\"image\":\"b\"}]}}}}}}",
                            err, sizeof err, NULL), BE_INVALID);
    CHECK_INT(validate_text("services", "{\"metadata\":{\"name\":\"s\"},\"spec\":{\"ports\":[{\"port\":70000}]}}", err, sizeof err, NULL), BE_INVALID);
    CHECK(api_valid_dns_subdomain("a.b-c.d"));
    CHECK(!api_valid_dns_subdomain("a..b"));
    CHECK(!api_valid_dns_subdomain("-a"));
    CHECK(!api_valid_dns_label("a.b"));
}

int main(void)
{
    RUN(test_routes);
    RUN(test_splice);
    RUN(test_validation);
    UNIT_EXIT();
}
