/* fuzz_yaml.c: libFuzzer harness for common/yamljson.c. Not built by
 * CMake; tests/fuzz/run.sh builds and runs every harness.
 *
 * Any input must parse or fail cleanly (an error message starting with
 * "document "), and every parsed document must survive a round trip:
 * emitting it as YAML and reading that back gives an equal value.
 *
 * Run: tests/fuzz/run.sh yaml
 */
#include "common/yamljson.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void round_trip(const json_t *doc)
{
    char *y = yj_emit_yaml(doc);
    struct yj_docs back;
    char err[256];
    if (!y) abort();
    if (yj_parse_documents(y, strlen(y), &back, err, sizeof err) != 0) {
        fprintf(stderr, "emitted YAML does not parse: %s\n%s\n", err, y);
        abort();
    }
    /* a null document is skipped on reading */
    if (json_is_null(doc) ? back.n != 0 : back.n != 1 || !json_equal(back.docs[0], doc)) {
        char *j = json_dumps(doc, JSON_ENCODE_ANY);
        fprintf(stderr, "round trip changed the value: %s\n%s\n", j ? j : "?", y);
        abort();
    }
    yj_docs_free(&back);
    free(y);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct yj_docs docs;
    char err[256];
    if (size > 65536) return 0;
    if (yj_parse_documents((const char *)data, size, &docs, err, sizeof err) != 0) {
        if (strncmp(err, "document ", 9) != 0) {
            fprintf(stderr, "bad error message: %s\n", err);
            abort();
        }
        return 0;
    }
    for (size_t i = 0; i < docs.n; i++) round_trip(docs.docs[i]);
    yj_docs_free(&docs);
    return 0;
}
