/* test_merge.c: RFC 7386 merge patch (the RFC's own examples) and the
 * three-way merge of apply (common/merge.c). */
#include "common/merge.h"
#include "tests/unit/unit.h"

#include <stdlib.h>

/* Compares v with the JSON text want (key order ignored by json_equal,
 * then the compact texts for a readable failure). */
static int same(json_t *v, const char *want)
{
    json_t *w = json_loads(want, JSON_DECODE_ANY, NULL);
    int ok = v && w && json_equal(v, w);
    if (!ok) {
        char *got = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
        fprintf(stderr, "got %s, want %s\n", got ? got : "(null)", want);
        free(got);
    }
    json_decref(w);
    json_decref(v);
    return ok;
}

static json_t *J(const char *text)
{
    return json_loads(text, JSON_DECODE_ANY, NULL);
}

static int patch_is(const char *target, const char *patch, const char *want)
{
    json_t *t = J(target), *p = J(patch);
    char *before = json_dumps(t, JSON_ENCODE_ANY | JSON_COMPACT);
    int ok = same(merge_patch_apply(t, p), want);
    char *after = json_dumps(t, JSON_ENCODE_ANY | JSON_COMPACT);
    ok = ok && !strcmp(before, after); /* target untouched */
    free(before);
    free(after);
    json_decref(t);
    json_decref(p);
    return ok;
}

static void test_rfc7386_examples(void)
{
    CHECK(patch_is("{\"a\":\"b\"}", "{\"a\":\"c\"}", "{\"a\":\"c\"}"));
    CHECK(patch_is("{\"a\":\"b\"}", "{\"b\":\"c\"}", "{\"a\":\"b\",\"b\":\"c\"}"));
    CHECK(patch_is("{\"a\":\"b\"}", "{\"a\":null}", "{}"));
    CHECK(patch_is("{\"a\":\"b\",\"b\":\"c\"}", "{\"a\":null}", "{\"b\":\"c\"}"));
    CHECK(patch_is("{\"a\":[\"b\"]}", "{\"a\":\"c\"}", "{\"a\":\"c\"}"));
    CHECK(patch_is("{\"a\":\"c\"}", "{\"a\":[\"b\"]}", "{\"a\":[\"b\"]}"));
    CHECK(patch_is("{\"a\":{\"b\":\"c\"}}", "{\"a\":{\"b\":\"d\",\"c\":null}}", "{\"a\":{\"b\":\"d\"}}"));
    CHECK(patch_is("{\"a\":[{\"b\":\"c\"}]}", "{\"a\":[1]}", "{\"a\":[1]}"));
    CHECK(patch_is("[\"a\",\"b\"]", "[\"c\",\"d\"]", "[\"c\",\"d\"]"));
    CHECK(patch_is("{\"a\":\"b\"}", "[\"c\"]", "[\"c\"]"));
    CHECK(patch_is("{\"a\":\"foo\"}", "null", "null"));
    CHECK(patch_is("{\"a\":\"foo\"}", "\"bar\"", "\"bar\""));
    CHECK(patch_is("{\"e\":null}", "{\"a\":1}", "{\"e\":null,\"a\":1}"));
    CHECK(patch_is("[1,2]", "{\"a\":\"b\",\"c\":null}", "{\"a\":\"b\"}"));
    CHECK(patch_is("{}", "{\"a\":{\"bb\":{\"ccc\":null}}}", "{\"a\":{\"bb\":{}}}"));
}

static void test_patch_order_and_copy(void)
{
    json_t *t = J("{\"z\":1,\"a\":{\"x\":[1]},\"m\":2}"), *p = J("{\"a\":{\"y\":3},\"b\":4}");
    json_t *r = merge_patch_apply(t, p);
    char *s = json_dumps(r, JSON_COMPACT);
    CHECK_STR(s, "{\"z\":1,\"a\":{\"x\":[1],\"y\":3},\"m\":2,\"b\":4}");
    free(s);
    /* the result shares nothing with the target */
    json_array_append_new(json_object_get(json_object_get(r, "a"), "x"), json_integer(2));
    CHECK_INT(json_array_size(json_object_get(json_object_get(t, "a"), "x")), 1);
    json_decref(r);
    json_decref(t);
    json_decref(p);
}

static int three_way_is(const char *o, const char *m, const char *c, const char *want)
{
    json_t *jo = o ? J(o) : NULL, *jm = J(m), *jc = J(c);
    int ok = same(merge_three_way(jo, jm, jc), want);
    json_decref(jo);
    json_decref(jm);
    json_decref(jc);
    return ok;
}

static void test_three_way(void)
{
    /* first apply: set what differs, leave the rest */
    CHECK(three_way_is(NULL, "{\"spec\":{\"replicas\":2}}",
                       "{\"spec\":{\"replicas\":2,\"x\":1},\"status\":{}}", "{}"));
    CHECK(three_way_is(NULL, "{\"spec\":{\"replicas\":3}}",
                       "{\"spec\":{\"replicas\":2}}", "{\"spec\":{\"replicas\":3}}"));
    /* a field dropped from the manifest is deleted */
    CHECK(three_way_is("{\"metadata\":{\"labels\":{\"a\":\"1\",\"b\":\"2\"}}}",
                       "{\"metadata\":{\"labels\":{\"a\":\"1\"}}}",
                       "{\"metadata\":{\"labels\":{\"a\":\"1\",\"b\":\"2\",\"c\":\"3\"}}}",
                       "{\"metadata\":{\"labels\":{\"b\":null}}}"));
    /* replicas owned by an autoscaler: neither manifest mentions it */
    CHECK(three_way_is("{\"spec\":{\"image\":\"a\"}}", "{\"spec\":{\"image\":\"b\"}}",
                       "{\"spec\":{\"image\":\"a\",\"replicas\":7}}", "{\"spec\":{\"image\":\"b\"}}"));
    /* lists are replaced whole */
    CHECK(three_way_is("{\"l\":[1,2]}", "{\"l\":[1,3]}", "{\"l\":[1,2]}", "{\"l\":[1,3]}"));
    CHECK(three_way_is("{\"l\":[1,2]}", "{\"l\":[1,2]}", "{\"l\":[1,2]}", "{}"));
    /* a list unchanged in the manifest, whose live items carry fields the
     * server filled in (a Service port's nodePort): left alone */
    const char *ports = "{\"spec\":{\"ports\":[{\"port\":80}]}}";
    const char *live = "{\"spec\":{\"ports\":[{\"port\":80,\"nodePort\":30080}]}}";
    CHECK(three_way_is(ports, ports, live, "{}"));
    CHECK(three_way_is(NULL, ports, live, "{}"));
    /* ... but sent whole once the manifest changes it, or the live list
     * lost or changed what the manifest says */
    CHECK(three_way_is(ports, "{\"spec\":{\"ports\":[{\"port\":81}]}}", live,
                       "{\"spec\":{\"ports\":[{\"port\":81}]}}"));
    CHECK(three_way_is("{\"spec\":{\"ports\":[{\"port\":80,\"name\":\"a\"}]}}", ports, live,
                       "{\"spec\":{\"ports\":[{\"port\":80}]}}"));
    CHECK(three_way_is(ports, ports, "{\"spec\":{\"ports\":[{\"port\":8080,\"nodePort\":1}]}}",
                       "{\"spec\":{\"ports\":[{\"port\":80}]}}"));
    CHECK(three_way_is(ports, ports, "{\"spec\":{\"ports\":[{\"port\":80},{\"port\":81}]}}",
                       "{\"spec\":{\"ports\":[{\"port\":80}]}}"));
    /* a whole subtree dropped */
    CHECK(three_way_is("{\"a\":{\"b\":1},\"k\":1}", "{\"k\":1}", "{\"a\":{\"b\":1},\"k\":1}",
                       "{\"a\":null}"));
    /* already deleted in the live object: nothing to do */
    CHECK(three_way_is("{\"a\":1}", "{}", "{}", "{}"));
    /* type change object -> scalar and back */
    CHECK(three_way_is("{\"a\":{\"b\":1}}", "{\"a\":5}", "{\"a\":{\"b\":1}}", "{\"a\":5}"));
    CHECK(three_way_is("{\"a\":5}", "{\"a\":{\"b\":1}}", "{\"a\":5}", "{\"a\":{\"b\":1}}"));
    /* explicit null in the manifest deletes a live field */
    CHECK(three_way_is(NULL, "{\"a\":null}", "{\"a\":1}", "{\"a\":null}"));
    CHECK(three_way_is(NULL, "{\"a\":null}", "{}", "{}"));
    /* applying the patch gives the manifest's fields */
    json_t *o = J("{\"a\":1,\"b\":{\"c\":1,\"d\":2}}"), *m = J("{\"b\":{\"c\":2},\"e\":[1]}");
    json_t *c = J("{\"a\":1,\"b\":{\"c\":1,\"d\":2,\"s\":0},\"st\":true}");
    json_t *p = merge_three_way(o, m, c);
    CHECK(same(merge_patch_apply(c, p), "{\"b\":{\"c\":2,\"s\":0},\"st\":true,\"e\":[1]}"));
    json_decref(p);
    json_decref(o);
    json_decref(m);
    json_decref(c);
}

static void test_deep(void)
{
    /* deep documents (jansson's own parser limit is 2048 levels) */
    char buf[7200];
    size_t n = 0;
    for (int i = 0; i < 1000; i++) n += (size_t)sprintf(buf + n, "{\"a\":");
    n += (size_t)sprintf(buf + n, "1");
    for (int i = 0; i < 1000; i++) buf[n++] = '}';
    buf[n] = '\0';
    json_t *t = J(buf);
    CHECK(t != NULL);
    json_t *r = merge_patch_apply(t, t);
    CHECK(json_equal(r, t));
    json_t *p = merge_three_way(t, t, r);
    CHECK_INT(json_object_size(p), 0);
    json_decref(p);
    json_decref(r);
    json_decref(t);
}

int main(void)
{
    RUN(test_rfc7386_examples);
    RUN(test_patch_order_and_copy);
    RUN(test_three_way);
    RUN(test_deep);
    UNIT_EXIT();
}
