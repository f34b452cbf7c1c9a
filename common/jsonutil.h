/* jsonutil.h: small helpers over jansson used everywhere: dotted-path
 * lookups, RFC 3339 timestamps, and the canonical serialization of an object
 * with "metadata" first (the store's layout contract, see store/store.h). */
#ifndef BERTH_JSONUTIL_H
#define BERTH_JSONUTIL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* json_path(obj, "metadata.labels") walks objects by dotted keys; NULL if any
 * step is missing or not an object. */
json_t *json_path(const json_t *obj, const char *path);
/* The string at path, or NULL if missing or not a string. */
const char *json_path_str(const json_t *obj, const char *path);
/* The integer at path into *out; returns 0, or -1 if missing/not integer. */
int json_path_int(const json_t *obj, const char *path, int64_t *out);

/* json_equal(), except that two absent values (NULL) are the same:
 * json_equal(NULL, NULL) is 0, and "spec changed" must not be true for an
 * object that has none. */
int json_same(const json_t *a, const json_t *b);

/* Serializes compactly with "metadata" as the first key and without
 * metadata.resourceVersion. Returns malloc'd text or NULL. */
char *json_dump_object(const json_t *obj, size_t *len);

/* "2026-11-26T01:02:03Z" */
void time_format_rfc3339(time_t t, char *buf, size_t len);
/* Returns 0 and the time, or -1. */
int time_parse_rfc3339(const char *s, time_t *out);

#endif
