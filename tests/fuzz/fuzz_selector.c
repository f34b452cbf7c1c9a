/* fuzz_selector.c: libFuzzer harness for common/selector.c. Not built by
 * CMake; tests/fuzz/run.sh builds and runs every harness.
 *
 * The input is tried as a label selector string, as a field selector and,
 * when it is JSON, as a LabelSelector object. Parsing either succeeds or
 * fails with a message and an empty selector; a parsed selector is matched
 * against a fixed label set.
 *
 * Run: tests/fuzz/run.sh selector
 */
#include "common/selector.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *get(void *data, const char *field)
{
    return strcmp(field, "spec.nodeName") == 0 ? "n1" : NULL;
}

static void check(int rc, size_t n, const void *reqs, const char *err)
{
    if (rc == 0) return;
    if (n != 0 || reqs != NULL || !err[0]) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1), err[256];
    struct selector sel;
    struct field_selector fs;
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    json_t *labels = json_pack("{ssss}", "app", "web", "tier", "");

    err[0] = '\0';
    int rc = selector_parse(text, &sel, err, sizeof err);
    check(rc, sel.n, sel.reqs, err);
    if (rc == 0) selector_matches(&sel, labels);
    selector_free(&sel);

    err[0] = '\0';
    rc = field_selector_parse(text, &fs, err, sizeof err);
    check(rc, fs.n, fs.reqs, err);
    if (rc == 0) field_selector_matches(&fs, get, NULL);
    field_selector_free(&fs);

    json_t *j = json_loadb((const char *)data, size, 0, NULL);
    if (j) {
        err[0] = '\0';
        rc = selector_from_json(j, &sel, err, sizeof err);
        check(rc, sel.n, sel.reqs, err);
        if (rc == 0) selector_matches(&sel, labels);
        selector_free(&sel);
        json_decref(j);
    }
    json_decref(labels);
    free(text);
    return 0;
}
