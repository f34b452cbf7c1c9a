/* test_selector.c: label selector strings and objects, key/value
 * validation, matching, and field selectors (common/selector.c). */
#include "common/errors.h"
#include "common/selector.h"
#include "tests/unit/unit.h"

#include <stdlib.h>

static json_t *labels(const char *json)
{
    return json_loads(json, 0, NULL);
}

/* Parses text and matches it against a labels object given as JSON. */
static int matches(const char *text, const char *lbl)
{
    struct selector sel;
    char err[256];
    if (selector_parse(text, &sel, err, sizeof err) != 0) {
        fprintf(stderr, "parse \"%s\": %s\n", text, err);
        return -1;
    }
    json_t *l = lbl ? labels(lbl) : NULL;
    int m = selector_matches(&sel, l);
    json_decref(l);
    selector_free(&sel);
    return m;
}

static void test_parse_forms(void)
{
    struct selector sel;
    char err[256];
    CHECK_INT(selector_parse("app=web, tier != db ,env in (a, b),!legacy,track,x==y,z notin (c)",
                             &sel, err, sizeof err), 0);
    CHECK_INT(sel.n, 7);
    CHECK_STR(sel.reqs[0].key, "app");
    CHECK_INT(sel.reqs[0].op, SEL_EQ);
    CHECK_STR(sel.reqs[0].values[0], "web");
    CHECK_INT(sel.reqs[1].op, SEL_NEQ);
    CHECK_STR(sel.reqs[1].values[0], "db");
    CHECK_INT(sel.reqs[2].op, SEL_IN);
    CHECK_INT(sel.reqs[2].nvalues, 2);
    CHECK_STR(sel.reqs[2].values[1], "b");
    CHECK_INT(sel.reqs[3].op, SEL_NOTEXISTS);
    CHECK_STR(sel.reqs[3].key, "legacy");
    CHECK_INT(sel.reqs[4].op, SEL_EXISTS);
    CHECK_INT(sel.reqs[5].op, SEL_EQ);
    CHECK_INT(sel.reqs[6].op, SEL_NOTIN);
    selector_free(&sel);

    CHECK_INT(selector_parse("", &sel, err, sizeof err), 0);
    CHECK_INT(sel.n, 0);
    CHECK(selector_empty(&sel));
    selector_free(&sel);
    CHECK_INT(selector_parse("  \t ", &sel, err, sizeof err), 0);
    CHECK(selector_empty(&sel));
    selector_free(&sel);
    CHECK_INT(selector_parse("a=", &sel, err, sizeof err), 0); /* empty value is valid */
    CHECK_STR(sel.reqs[0].values[0], "");
    selector_free(&sel);
    CHECK_INT(selector_parse("example.com/app-name=v1.2_3", &sel, err, sizeof err), 0);
    selector_free(&sel);
}

static void test_matching(void)
{
    const char *l = "{\"app\":\"web\",\"env\":\"prod\"}";
    CHECK_INT(matches("app=web", l), 1);
    CHECK_INT(matches("app=db", l), 0);
    CHECK_INT(matches("app!=db", l), 1);
    CHECK_INT(matches("missing!=x", l), 1);
    CHECK_INT(matches("env in (dev,prod)", l), 1);
    CHECK_INT(matches("env notin (dev,prod)", l), 0);
    CHECK_INT(matches("missing notin (a)", l), 1);
    CHECK_INT(matches("missing in (a)", l), 0);
    CHECK_INT(matches("app", l), 1);
    CHECK_INT(matches("!app", l), 0);
    CHECK_INT(matches("!missing", l), 1);
    CHECK_INT(matches("app=web,env=dev", l), 0);
    CHECK_INT(matches("", NULL), 1);
    CHECK_INT(matches("app", NULL), 0);
    CHECK_INT(matches("!app", NULL), 1);
}

static void check_bad(const char *text, const char *want)
{
    struct selector sel = {(void *)1, 99};
    char err[256] = "";
    int rc = selector_parse(text, &sel, err, sizeof err);
    if (rc != BE_INVAL || !strstr(err, want)) {
        fprintf(stderr, "selector \"%s\": rc %d, message \"%s\", wanted \"%s\"\n", text, rc, err, want);
        CHECK(0);
    }
    CHECK(sel.reqs == NULL && sel.n == 0);
}

static void test_bad_selectors(void)
{
    check_bad("a=b,", "unexpected end");
    check_bad(",a", "found ','");
    check_bad("a in b", "expected '('");
    check_bad("a in ()", "must not be empty");
    check_bad("a in (b", "unexpected end");
    check_bad("a in (b c)", "found 'c'");
    check_bad("a=b=c", "found '='");
    check_bad("a b", "found 'b'");
    check_bad("!", "label key after '!'");
    check_bad("!a=b", "found '='");
    check_bad("a>1", "not supported");
    check_bad("-a=b", "invalid label key");
    check_bad("a=-b", "invalid label value");
    check_bad("Example.com/a=b", "lowercase DNS subdomain");
    check_bad("/a=b", "prefix must not be empty");
    check_bad("a/=b", "name part must not be empty");
    check_bad("a/b/c=d", "invalid label key");
    check_bad("a=b$c", "invalid label value");
    check_bad("a=0123456789012345678901234567890123456789012345678901234567890123", "63 characters");
    check_bad("0123456789012345678901234567890123456789012345678901234567890123", "63 characters");
    check_bad("a in (x,-y)", "invalid label value");
    check_bad("(", "found '('");
}

static void test_from_json(void)
{
    struct selector sel;
    char err[256];
    json_t *ls = json_loads("{\"matchLabels\":{\"app\":\"web\"},\"matchExpressions\":["
                            "{\"key\":\"env\",\"operator\":\"In\",\"values\":[\"a\",\"b\"]},"
                            "{\"key\":\"old\",\"operator\":\"DoesNotExist\"}]}", 0, NULL);
    CHECK_INT(selector_from_json(ls, &sel, err, sizeof err), 0);
    CHECK_INT(sel.n, 3);
    json_t *l = labels("{\"app\":\"web\",\"env\":\"b\"}");
    CHECK(selector_matches(&sel, l));
    json_object_set_new(l, "old", json_string("x"));
    CHECK(!selector_matches(&sel, l));
    json_decref(l);
    selector_free(&sel);
    json_decref(ls);

    ls = json_object();
    CHECK_INT(selector_from_json(ls, &sel, err, sizeof err), 0);
    CHECK(selector_empty(&sel));
    selector_free(&sel);
    json_decref(ls);

    static const char *bad[][2] = {
        {"[]", "must be an object"},
        {"{\"matchLabels\":[]}", "matchLabels must be an object"},
        {"{\"matchLabels\":{\"a\":1}}", "must be a string"},
        {"{\"matchLabels\":{\"a\":\"-\"}}", "invalid label value"},
        {"{\"matchLabels\":{\"a\":\"b\"},\"matchExpressions\":[{\"key\":\"k\",\"operator\":\"In\"}]}", "must be specified"},
        {"{\"matchExpressions\":[{\"key\":\"k\",\"operator\":\"In\",\"values\":[]}]}", "must be specified"},
        {"{\"matchExpressions\":[{\"key\":\"k\",\"operator\":\"Exists\",\"values\":[\"x\"]}]}", "may not be specified"},
        {"{\"matchExpressions\":[{\"key\":\"k\",\"operator\":\"Gt\",\"values\":[\"1\"]}]}", "not one of"},
        {"{\"matchExpressions\":[{\"operator\":\"Exists\"}]}", "key: required"},
        {"{\"matchExpressions\":[{\"key\":\"k\",\"operator\":\"In\",\"values\":[\"a\",2]}]}", "values[1] must be a string"},
        {"{\"matchExpressions\":{}}", "must be a list"},
        {NULL, NULL}};
    for (int i = 0; bad[i][0]; i++) {
        ls = json_loads(bad[i][0], 0, NULL);
        err[0] = '\0';
        int rc = selector_from_json(ls, &sel, err, sizeof err);
        if (rc != BE_INVAL || !strstr(err, bad[i][1])) {
            fprintf(stderr, "%s: rc %d, \"%s\"\n", bad[i][0], rc, err);
            CHECK(0);
        }
        CHECK(sel.n == 0 && sel.reqs == NULL);
        json_decref(ls);
    }
    CHECK_INT(selector_from_json(NULL, &sel, err, sizeof err), BE_INVAL);
}

static const char *get_field(void *data, const char *field)
{
    json_t *obj = data;
    if (!strcmp(field, "spec.nodeName")) return json_string_value(json_object_get(obj, "node"));
    if (!strcmp(field, "status.phase")) return json_string_value(json_object_get(obj, "phase"));
    if (!strcmp(field, "metadata.name")) return json_string_value(json_object_get(obj, "name"));
    return NULL;
}

static void test_field_selectors(void)
{
    struct field_selector fs;
    char err[256];
    json_t *obj = json_loads("{\"node\":\"n1\",\"phase\":\"Pending\",\"name\":\"a,b=c\"}", 0, NULL);
    CHECK_INT(field_selector_parse("spec.nodeName=n1, status.phase!=Running", &fs, err, sizeof err), 0);
    CHECK_INT(fs.n, 2);
    CHECK_STR(fs.reqs[1].field, "status.phase");
    CHECK(fs.reqs[1].negate);
    CHECK(field_selector_matches(&fs, get_field, obj));
    field_selector_free(&fs);
    CHECK_INT(field_selector_parse("spec.nodeName==n2", &fs, err, sizeof err), 0);
    CHECK(!field_selector_matches(&fs, get_field, obj));
    field_selector_free(&fs);
    CHECK_INT(field_selector_parse("metadata.name=a\\,b\\=c", &fs, err, sizeof err), 0);
    CHECK_INT(fs.n, 1);
    CHECK_STR(fs.reqs[0].value, "a,b=c");
    CHECK(field_selector_matches(&fs, get_field, obj));
    field_selector_free(&fs);
    CHECK_INT(field_selector_parse("spec.unknown=x", &fs, err, sizeof err), 0);
    CHECK(!field_selector_matches(&fs, get_field, obj)); /* unsupported field */
    field_selector_free(&fs);
    CHECK_INT(field_selector_parse("", &fs, err, sizeof err), 0);
    CHECK_INT(fs.n, 0);
    CHECK(field_selector_matches(&fs, get_field, obj));
    field_selector_free(&fs);
    CHECK_INT(field_selector_parse("spec.nodeName=", &fs, err, sizeof err), 0);
    CHECK_STR(fs.reqs[0].value, "");
    field_selector_free(&fs);

    static const char *bad[] = {"spec.nodeName", "=x", "a=b,", ",a=b", "a b=c", "a=b,,c=d", NULL};
    for (int i = 0; bad[i]; i++) {
        err[0] = '\0';
        if (field_selector_parse(bad[i], &fs, err, sizeof err) != BE_INVAL || !err[0]) {
            fprintf(stderr, "field selector \"%s\" accepted\n", bad[i]);
            CHECK(0);
        }
        CHECK(fs.n == 0 && fs.reqs == NULL);
    }
    json_decref(obj);
}

static void test_hostile(void)
{
    /* long inputs, many requirements, binary junk: errors, no leaks */
    size_t n = 200000;
    char *big = malloc(n + 1);
    for (size_t i = 0; i < n; i++) big[i] = (i % 4 == 3) ? ',' : 'a';
    big[n] = '\0';
    struct selector sel;
    char err[256];
    CHECK_INT(selector_parse(big, &sel, err, sizeof err), BE_INVAL); /* trailing ',' */
    big[n - 1] = 'a';
    CHECK_INT(selector_parse(big, &sel, err, sizeof err), 0);
    CHECK_INT(sel.n, n / 4);
    selector_free(&sel);
    memset(big, '(', n);
    CHECK_INT(selector_parse(big, &sel, err, sizeof err), BE_INVAL);
    CHECK(strlen(err) < sizeof err);
    free(big);
    CHECK_INT(selector_parse("a in (\xff\xfe)", &sel, err, sizeof err), BE_INVAL);
}

int main(void)
{
    RUN(test_parse_forms);
    RUN(test_matching);
    RUN(test_bad_selectors);
    RUN(test_from_json);
    RUN(test_field_selectors);
    RUN(test_hostile);
    UNIT_EXIT();
}
