/* test_dict.c: the shared string-keyed hash map (common/dict.h). */
#include <stdio.h>
#include <stdlib.h>

#include "common/dict.h"
#include "unit.h"

static int freed;
static void count_free(void *v) { freed++; free(v); }

static void test_put_get_del(void)
{
    struct dict d = {0};
    CHECK(dict_get(&d, "a") == NULL);
    CHECK(dict_del(&d, "a") == NULL);
    int x = 1, y = 2;
    CHECK_INT(dict_put(&d, "default/web", &x), 0);
    CHECK(dict_get(&d, "default/web") == &x);
    CHECK_INT(dict_put(&d, "default/web", &y), 0); /* replaces */
    CHECK(dict_get(&d, "default/web") == &y);
    CHECK_INT(d.n, 1);
    CHECK(dict_del(&d, "default/web") == &y);
    CHECK(dict_get(&d, "default/web") == NULL);
    CHECK_INT(d.n, 0);
    dict_clear(&d, NULL);
}

static void test_growth_and_iteration(void)
{
    struct dict d = {0};
    char key[32];
    for (int i = 0; i < 10000; i++) {
        int *v = malloc(sizeof *v);
        *v = i;
        snprintf(key, sizeof key, "ns/pod-%d", i);
        CHECK_INT(dict_put(&d, key, v), 0);
    }
    CHECK_INT(d.n, 10000);
    CHECK(d.nb >= d.n);
    long sum = 0, seen = 0;
    DICT_FOREACH(&d, e) {
        sum += *(int *)e->val;
        seen++;
    }
    CHECK_INT(seen, 10000);
    CHECK_INT(sum, 10000L * 9999 / 2);
    snprintf(key, sizeof key, "ns/pod-%d", 4242);
    CHECK_INT(*(int *)dict_get(&d, key), 4242);
    free(dict_del(&d, key));
    freed = 0;
    dict_clear(&d, count_free);
    CHECK_INT(freed, 9999);
    CHECK_INT(d.n, 0);
    CHECK(d.b == NULL);
}

int main(void)
{
    RUN(test_put_get_del);
    RUN(test_growth_and_iteration);
    UNIT_EXIT();
}
