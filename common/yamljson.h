/* yamljson.h: manifests in, YAML out.
 *
 * yj_parse_documents() reads a stream of YAML documents (JSON is accepted too:
 * it is YAML) into jansson values with the YAML 1.2 core schema: plain
 * scalars become null/bool/int/float where they look like one, quoted
 * scalars stay strings. Anchors and aliases are resolved (with a bound on
 * expansion, against "billion laughs"); tags other than the core ones are
 * ignored; empty documents are skipped. A JSON or YAML document of kind
 * "List" is not expanded here (the caller does it).
 *
 * yj_emit_yaml() writes a jansson value as block YAML (libyaml emitter),
 * quoting strings that would otherwise read back as another type. */
#ifndef BERTH_YAMLJSON_H
#define BERTH_YAMLJSON_H

#include <jansson.h>
#include <stddef.h>

struct yj_docs {
    json_t **docs;     /* owned references */
    size_t *lines;     /* 1-based line where each document starts */
    size_t n;
};

/* Returns 0 and fills out (free with yj_docs_free), or BE_INVAL with a
 * message like "document 2, line 7, column 3: mapping values are not allowed
 * here" in errbuf; on error nothing is left allocated. Limits: input size is
 * the caller's business; nesting depth ≤ 64; alias expansion ≤ 100000 nodes. */
int yj_parse_documents(const char *buf, size_t len, struct yj_docs *out,
                       char *errbuf, size_t errlen);
void yj_docs_free(struct yj_docs *docs);

/* Returns a malloc'd NUL-terminated YAML text, or NULL on out of memory. */
char *yj_emit_yaml(const json_t *value);

#endif
