/* fuzz_validate.c: libFuzzer harness for the API server's validation and
 * field warnings (apiserver/validate*.c, warnings.c): every object a client
 * creates or updates goes through them. Not built by CMake; see
 * tests/fuzz/run.sh.
 *
 * The first byte picks a kind from the kind table, the rest is a JSON
 * object. Validating it as a create, and as an update of itself, returns 0
 * or a Kubernetes error code with a message, and collecting its field
 * warnings returns (the result may be NULL), whatever types and values the
 * object holds.
 *
 * With FUZZ_SEED_OUT=DIR set, LLVMFuzzerInitialize writes every object of
 * the YAML files named on the command line there as seeds, and exits. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver/api_int.h"
#include "common/errors.h"
#include "common/kinds.h"
#include "common/yamljson.h"

static void write_seeds(const char *dir, const char *yaml_path, int *count)
{
    FILE *in = fopen(yaml_path, "rb");
    char buf[65536], err[256];
    size_t n = in ? fread(buf, 1, sizeof buf, in) : 0;
    struct yj_docs docs;
    if (in)
        fclose(in);
    if (!n || yj_parse_documents(buf, n, &docs, err, sizeof err) != 0)
        return;
    for (size_t i = 0; i < docs.n; i++) {
        json_t *d = docs.docs[i];
        const char *av = json_string_value(json_object_get(d, "apiVersion"));
        const char *kind = json_string_value(json_object_get(d, "kind"));
        const struct kind_info *k = av && kind ? kind_by_api_kind(av, kind) : NULL;
        char *text = json_dumps(d, JSON_COMPACT);
        if (k && text) {
            char path[512];
            snprintf(path, sizeof path, "%s/seed-%d", dir, (*count)++);
            FILE *o = fopen(path, "wb");
            if (o) {
                fputc((int)(k - kind_table), o);
                fputs(text, o);
                fclose(o);
            }
        }
        free(text);
    }
    yj_docs_free(&docs);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *dir = getenv("FUZZ_SEED_OUT");
    if (!dir)
        return 0;
    int count = 0;
    for (int i = 1; i < *argc; i++)
        write_seeds(dir, (*argv)[i], &count);
    exit(0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static size_t nkinds;
    if (!nkinds)
        while (kind_table[nkinds].resource)
            nkinds++;
    if (size < 2 || size > 65536)
        return 0;
    json_t *obj = json_loadb((const char *)data + 1, size - 1, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(obj)) {
        json_decref(obj);
        return 0;
    }
    struct api_route rt = {.kind = &kind_table[data[0] % nkinds], .type = ROUTE_OBJECT};
    snprintf(rt.ns, sizeof rt.ns, "%s", rt.kind->namespaced ? "default" : "");
    snprintf(rt.name, sizeof rt.name, "x");
    char err[1024] = "";
    json_t *old = json_deep_copy(obj);
    int rc = api_validate(&rt, obj, NULL, err, sizeof err);
    if (rc && (rc != BE_INVALID || !err[0])) {
        fprintf(stderr, "validation failed with %d and \"%s\"\n", rc, err);
        abort();
    }
    err[0] = 0;
    rc = api_validate(&rt, old, obj, err, sizeof err);
    if (rc && (rc != BE_INVALID || !err[0]))
        abort();
    free(api_field_warnings(rt.kind, obj));
    json_decref(old);
    json_decref(obj);
    return 0;
}
