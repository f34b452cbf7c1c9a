/* test_yamljson.c: YAML documents to JSON and back (common/yamljson.c):
 * the core schema, multi-document streams, anchors, merge keys, the depth
 * and alias bounds, error messages, and emitting YAML that reads back the
 * same. */
#include "common/errors.h"
#include "common/yamljson.h"
#include "tests/unit/unit.h"

#include <stdlib.h>

/* Parses text expecting one document; returns it (owned) or NULL. */
static json_t *one(const char *text)
{
    struct yj_docs d;
    char err[256];
    if (yj_parse_documents(text, strlen(text), &d, err, sizeof err) != 0) {
        fprintf(stderr, "parse failed: %s\n", err);
        return NULL;
    }
    json_t *v = d.n == 1 ? json_incref(d.docs[0]) : NULL;
    yj_docs_free(&d);
    return v;
}

/* Whether text parses to the JSON want. */
static int yields(const char *text, const char *want)
{
    json_t *v = one(text), *w = json_loads(want, JSON_DECODE_ANY, NULL);
    int ok = v && w && json_equal(v, w);
    if (!ok) {
        char *got = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
        fprintf(stderr, "yaml %s: got %s, want %s\n", text, got ? got : "(null)", want);
        free(got);
    }
    json_decref(v);
    json_decref(w);
    return ok;
}

/* Whether text fails with a message containing want. */
static int fails(const char *text, size_t len, const char *want)
{
    struct yj_docs d = {0};
    char err[256] = "";
    int rc = yj_parse_documents(text, len, &d, err, sizeof err);
    int ok = rc == BE_INVAL && strstr(err, want) && d.n == 0 && !d.docs;
    if (!ok) fprintf(stderr, "rc %d, message \"%s\", wanted \"%s\"\n", rc, err, want);
    yj_docs_free(&d);
    return ok;
}

static void test_core_schema(void)
{
    CHECK(yields("a: ~\nb: null\nc:\nd: Null\ne: NULL", "{\"a\":null,\"b\":null,\"c\":null,\"d\":null,\"e\":null}"));
    CHECK(yields("[true, True, TRUE, false, False, FALSE]", "[true,true,true,false,false,false]"));
    CHECK(yields("[yes, no, on, off, y, n, tRue]", "[\"yes\",\"no\",\"on\",\"off\",\"y\",\"n\",\"tRue\"]"));
    CHECK(yields("[0, -5, +7, 0x1F, 0o17, 012]", "[0,-5,7,31,15,12]"));
    CHECK(yields("[1.5, -2.0e3, .5, 1e3, 3.]", "[1.5,-2000.0,0.5,1000.0,3.0]"));
    CHECK(yields("[.inf, -.Inf, .nan, .NaN]", "[\".inf\",\"-.Inf\",\".nan\",\".NaN\"]"));
    CHECK(yields("[\"1\", '2', \"true\", 'null', \"\", '']", "[\"1\",\"2\",\"true\",\"null\",\"\",\"\"]"));
    CHECK(yields("[!!str 3, ! 4, 1_000, 0x, 0o8, 1.2.3, 12:30]",
                 "[\"3\",\"4\",\"1_000\",\"0x\",\"0o8\",\"1.2.3\",\"12:30\"]"));
    CHECK(yields("[99999999999999999999, 0xFFFFFFFFFFFFFFFFFF, 1e999]",
                 "[1e20,\"0xFFFFFFFFFFFFFFFFFF\",\"1e999\"]"));
    CHECK(yields("{\"json\": [1, {\"a\": null}], \"k\": \"v\"}", "{\"json\":[1,{\"a\":null}],\"k\":\"v\"}"));
    CHECK(yields("1: a\ntrue: b\n~: c\n\"q\": d", "{\"1\":\"a\",\"true\":\"b\",\"~\":\"c\",\"q\":\"d\"}"));
    CHECK(yields("s: |\n  line1\n  line2\nf: >\n  a\n  b\n", "{\"s\":\"line1\\nline2\\n\",\"f\":\"a b\\n\"}"));
    CHECK(yields("caf\xc3\xa9: \"\\u00e9\"", "{\"caf\\u00e9\":\"\\u00e9\"}"));
}

static void test_documents(void)
{
    const char *text = "# comment\napiVersion: v1\nkind: Pod\n---\n---\n# empty\n---\n"
                       "kind: Service\n...\n---\nnull\n---\n- 1\n";
    struct yj_docs d;
    char err[256];
    CHECK_INT(yj_parse_documents(text, strlen(text), &d, err, sizeof err), 0);
    CHECK_INT(d.n, 3);
    if (d.n == 3) {
        CHECK_STR(json_string_value(json_object_get(d.docs[0], "kind")), "Pod");
        CHECK_STR(json_string_value(json_object_get(d.docs[1], "kind")), "Service");
        CHECK(json_is_array(d.docs[2]));
        CHECK_INT(d.lines[0], 2);
        CHECK_INT(d.lines[1], 8);
        CHECK_INT(d.lines[2], 13);
    }
    yj_docs_free(&d);
    CHECK_INT(yj_parse_documents("", 0, &d, err, sizeof err), 0);
    CHECK_INT(d.n, 0);
    yj_docs_free(&d);
    CHECK_INT(yj_parse_documents("---\n---\n", 8, &d, err, sizeof err), 0);
    CHECK_INT(d.n, 0);
    yj_docs_free(&d);
    /* the length is honoured: no NUL needed */
    CHECK_INT(yj_parse_documents("a: 1garbage", 4, &d, err, sizeof err), 0);
    CHECK_INT(json_integer_value(json_object_get(d.docs[0], "a")), 1);
    yj_docs_free(&d);
}

static void test_anchors(void)
{
    CHECK(yields("a: &x {k: 1}\nb: *x\nc: &s str\nd: *s", "{\"a\":{\"k\":1},\"b\":{\"k\":1},\"c\":\"str\",\"d\":\"str\"}"));
    CHECK(yields("base: &b {x: 1, y: 2}\nd:\n  <<: *b\n  y: 3", "{\"base\":{\"x\":1,\"y\":2},\"d\":{\"y\":3,\"x\":1}}"));
    CHECK(yields("d: {y: 3, <<: {y: 1, z: 2}}", "{\"d\":{\"y\":3,\"z\":2}}"));
    CHECK(yields("- &a {x: 1}\n- &b {x: 2, z: 3}\n- {y: 0, <<: [*a, *b]}", "[{\"x\":1},{\"x\":2,\"z\":3},{\"y\":0,\"x\":1,\"z\":3}]"));
    CHECK(yields("k: &n 5\n*n : v", "{\"k\":5,\"5\":\"v\"}"));
    CHECK(yields("{\"<<\": 1}", "{\"<<\":1}")); /* quoted: an ordinary key */
    /* an alias is a copy: changing one leaves the other */
    json_t *v = one("a: &x [1]\nb: *x\n");
    CHECK(v != NULL);
    json_array_append_new(json_object_get(v, "a"), json_integer(2));
    CHECK_INT(json_array_size(json_object_get(v, "b")), 1);
    json_decref(v);
    CHECK(fails("a: *nope", 8, "unknown anchor \"nope\""));
    CHECK(fails("a: &x 1\n---\nb: *x\n", 18, "document 2, line 3, column 4: unknown anchor"));
    CHECK(fails("a: &x [*x]", 10, "unknown anchor"));
    CHECK(fails("<<: 5", 5, "merge key"));
}

static void test_alias_bomb(void)
{
    const char *bomb =
        "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
        "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
        "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
        "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
        "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
        "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
        "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n";
    CHECK(fails(bomb, strlen(bomb), "aliases expand to more than 100000 nodes"));
    /* alias used as a key that is a collection */
    CHECK(fails("a: &m {x: 1}\n*m : 2", 19, "mapping keys must be scalars"));
}

static char *repeat(const char *open, int n, const char *mid, const char *close)
{
    size_t lo = strlen(open), lc = strlen(close), lm = strlen(mid);
    char *s = malloc(n * (lo + lc) + lm + 1), *p = s;
    for (int i = 0; i < n; i++, p += lo) memcpy(p, open, lo);
    memcpy(p, mid, lm);
    p += lm;
    for (int i = 0; i < n; i++, p += lc) memcpy(p, close, lc);
    *p = '\0';
    return s;
}

static void test_depth(void)
{
    char *s = repeat("[", 64, "1", "]");
    json_t *v = one(s);
    CHECK(v != NULL);
    json_decref(v);
    free(s);
    s = repeat("[", 65, "1", "]");
    CHECK(fails(s, strlen(s), "nesting deeper than 64 levels"));
    free(s);
    s = repeat("{a: ", 100000, "1", "}");
    CHECK(fails(s, strlen(s), "nesting deeper than 64 levels"));
    free(s);
    s = repeat("[", 100000, "", "");
    CHECK(fails(s, strlen(s), "nesting deeper than 64 levels"));
    free(s);
    /* aliases cannot stack depth either */
    char *inner = repeat("[", 40, "1", "]");
    char text[400];
    snprintf(text, sizeof text, "a: &a %s\nb: [[[[[[[[[[[[[[[[[[[[[[[[[[*a]]]]]]]]]]]]]]]]]]]]]]]]]]\n", inner);
    free(inner);
    CHECK(fails(text, strlen(text), "through alias \"a\""));
}

static void test_errors(void)
{
    CHECK(fails("a: b: c", 7, "document 1, line 1, column 5: mapping values are not allowed"));
    CHECK(fails("a: 1\n---\nb: [1, 2\n", 18, "document 2, line 4"));
    CHECK(fails("a:\n\tb: 1\n", 9, "tabs cannot be used for indentation"));
    CHECK(fails("a: \"unterminated\n", 17, "document 1, line 2"));
    CHECK(fails("a: 1\na: 2\n", 10, "line 2, column 1: duplicate key \"a\""));
    CHECK(fails("? [1, 2]\n: v\n", 13, "mapping keys must be scalars"));
    CHECK(fails("a: \xff\xfe\n", 6, "invalid"));
    CHECK(fails("a: b\0c", 6, "control characters are not allowed"));
    CHECK(fails("a:\n  b: 1\n c: 2\n", 15, "document 1, line 3, column 2: did not find expected key (while parsing a block mapping that starts at line 1, column 1)"));
    CHECK(fails("[", 1, "document 1"));
    CHECK(fails("{a: 1,", 6, "document 1"));
    CHECK(fails("%YAML 1.1\n%YAML 1.1\n---\na", 25, "duplicate %YAML directive"));
    /* a truncated real manifest, at every length: never a crash or a leak */
    const char *m = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: \"web\"\n"
                    "spec:\n  template:\n    spec:\n      containers:\n      - name: a\n"
                    "        args: ['x', \"y\", &z {k: [1, 2]}, *z]\n---\nkind: B\n";
    for (size_t n = 0; n <= strlen(m); n++) {
        struct yj_docs d;
        char err[256];
        if (yj_parse_documents(m, n, &d, err, sizeof err) == 0) yj_docs_free(&d);
        else CHECK(strncmp(err, "document ", 9) == 0);
    }
}

/* Emits v and parses the text back; whether it equals v. */
static int round_trips(json_t *v, const char *want_text)
{
    char *y = yj_emit_yaml(v);
    json_t *back = y ? one(y) : NULL;
    int ok = back && json_equal(back, v);
    if (want_text && (!y || !strstr(y, want_text))) ok = 0;
    if (!ok) fprintf(stderr, "emitted:\n%s\nwanted to contain: %s\n", y ? y : "(null)", want_text ? want_text : "");
    json_decref(back);
    free(y);
    return ok;
}

static void test_emit(void)
{
    json_t *v = json_loads("{\"z\":\"true\",\"a\":\"1\",\"m\":\"null\",\"e\":\"\",\"f\":\"1.5\",\"i\":\".inf\","
                           "\"y\":\"yes\",\"plain\":\"hello world\",\"n\":7,\"r\":2.0,\"b\":false,\"nu\":null,"
                           "\"ml\":\"one\\ntwo\\n\",\"colon\":\"a: b\",\"dash\":\"- x\",\"hash\":\"#c\","
                           "\"ea\":[],\"eo\":{},\"l\":[1,\"2\",{\"k\":\"v\"}],\"123\":\"key\",\"x\":\"0x1F\"}", 0, NULL);
    CHECK(round_trips(v, "z: \"true\"\na: \"1\"\nm: \"null\"\ne: \"\"\n"));
    CHECK(round_trips(v, "plain: hello world\n\"n\": 7\nr: 2.0\nb: false\nnu: null\n"));
    CHECK(round_trips(v, "ml: |\n  one\n  two\n"));
    CHECK(round_trips(v, "ea: []\neo: {}\n"));
    CHECK(round_trips(v, "\"123\": key"));
    json_decref(v);
    v = json_loads("[0.1, 1e300, -0.0, 123456789.125, \"caf\\u00e9\", \"tab\\there\", \"nul\\u0000x\"]", JSON_ALLOW_NUL, NULL);
    CHECK(round_trips(v, "- 0.1\n- 1e+300\n"));
    CHECK(round_trips(v, "café"));
    json_decref(v);
    v = json_string("scalar");
    CHECK(round_trips(v, "scalar"));
    json_decref(v);
    CHECK(yj_emit_yaml(NULL) == NULL);
}

int main(void)
{
    RUN(test_core_schema);
    RUN(test_documents);
    RUN(test_anchors);
    RUN(test_alias_bomb);
    RUN(test_depth);
    RUN(test_errors);
    RUN(test_emit);
    UNIT_EXIT();
}
