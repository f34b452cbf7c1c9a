/* test_jsonutil.c: dotted paths, the canonical serialization (metadata
 * first, no resourceVersion) and RFC 3339 times (common/jsonutil.c). */
#include "common/jsonutil.h"
#include "tests/unit/unit.h"

#include <stdlib.h>

static void test_paths(void)
{
    json_t *o = json_loads("{\"metadata\":{\"name\":\"a\",\"labels\":{\"x\":\"y\"},\"generation\":3},"
                           "\"spec\":{\"n\":\"str\"}}", 0, NULL);
    int64_t v = 0;
    CHECK(json_path(o, "metadata.labels") == json_object_get(json_object_get(o, "metadata"), "labels"));
    CHECK_STR(json_path_str(o, "metadata.labels.x"), "y");
    CHECK(json_path_str(o, "metadata.labels") == NULL);
    CHECK(json_path_str(o, "metadata.missing.x") == NULL);
    CHECK(json_path_str(o, "metadata.name.x") == NULL);
    CHECK(json_path(NULL, "a") == NULL);
    CHECK(json_path(o, "") == o);
    CHECK_INT(json_path_int(o, "metadata.generation", &v), 0);
    CHECK_INT(v, 3);
    CHECK_INT(json_path_int(o, "spec.n", &v), -1);
    CHECK_INT(json_path_int(o, "spec.none", &v), -1);
    /* json_same: absent equals absent, unlike json_equal */
    json_t *same = json_loads("{\"n\":\"str\"}", 0, NULL);
    CHECK(json_same(NULL, NULL));
    CHECK(!json_equal(NULL, NULL));
    CHECK(json_same(json_object_get(o, "spec"), same));
    CHECK(!json_same(json_object_get(o, "spec"), NULL));
    CHECK(!json_same(NULL, same));
    CHECK(!json_same(json_object_get(o, "metadata"), same));
    json_decref(same);
    json_decref(o);
}

static void test_dump_object(void)
{
    json_t *o = json_loads("{\"kind\":\"Pod\",\"spec\":{\"a\":1},\"metadata\":{\"resourceVersion\":\"7\","
                           "\"name\":\"p\",\"labels\":{\"k\":\"v\"}},\"status\":{}}", 0, NULL);
    size_t len = 0;
    char *s = json_dump_object(o, &len);
    CHECK_STR(s, "{\"metadata\":{\"name\":\"p\",\"labels\":{\"k\":\"v\"}},\"kind\":\"Pod\","
                 "\"spec\":{\"a\":1},\"status\":{}}");
    CHECK_INT(len, s ? strlen(s) : 0);
    free(s);
    /* input untouched */
    CHECK_STR(json_path_str(o, "metadata.resourceVersion"), "7");
    CHECK_STR(json_object_iter_key(json_object_iter(o)), "kind");
    json_decref(o);

    o = json_loads("{\"kind\":\"Pod\"}", 0, NULL);
    CHECK(json_dump_object(o, &len) == NULL);
    json_object_set_new(o, "metadata", json_object());
    CHECK(json_dump_object(o, &len) == NULL);
    json_object_set_new(json_object_get(o, "metadata"), "resourceVersion", json_string("1"));
    CHECK(json_dump_object(o, &len) == NULL);
    json_object_set_new(json_object_get(o, "metadata"), "name", json_string("n"));
    s = json_dump_object(o, NULL);
    CHECK_STR(s, "{\"metadata\":{\"name\":\"n\"},\"kind\":\"Pod\"}");
    free(s);
    json_decref(o);
    json_t *arr = json_array();
    CHECK(json_dump_object(arr, &len) == NULL);
    json_decref(arr);
}

static void test_times(void)
{
    char buf[64];
    time_t t;
    time_format_rfc3339(0, buf, sizeof buf);
    CHECK_STR(buf, "1970-01-01T00:00:00Z");
    time_format_rfc3339(1795654923, buf, sizeof buf);
    CHECK_STR(buf, "2026-11-26T01:02:03Z");
    CHECK_INT(time_parse_rfc3339("2026-11-26T01:02:03Z", &t), 0);
    CHECK_INT(t, 1795654923);
    CHECK_INT(time_parse_rfc3339("2026-11-26T01:02:03.123456Z", &t), 0);
    CHECK_INT(t, 1795654923);
    CHECK_INT(time_parse_rfc3339("2026-11-26T03:02:03+02:00", &t), 0);
    CHECK_INT(t, 1795654923);
    CHECK_INT(time_parse_rfc3339("2026-11-25T23:02:03-02:00", &t), 0);
    CHECK_INT(t, 1795654923);
    static const char *bad[] = {"", "2026-11-26", "2026-11-26T01:02:03", "2026-13-26T01:02:03Z",
                                "2026-11-26T01:02:03Zjunk", "2026-11-26T01:02Z", "x026-11-26T01:02:03Z",
                                "2026-11-26T01:02:03.Z", "2026-11-26T01:02:03+0200", NULL};
    for (int i = 0; bad[i]; i++) CHECK_INT(time_parse_rfc3339(bad[i], &t), -1);
    CHECK_INT(time_parse_rfc3339(NULL, &t), -1);
    char small[5];
    time_format_rfc3339(0, small, sizeof small);
    CHECK_STR(small, "");
}

int main(void)
{
    RUN(test_paths);
    RUN(test_dump_object);
    RUN(test_times);
    UNIT_EXIT();
}
