/* fuzz_route.c: libFuzzer harness for what the API server makes of a
 * request target: percent-decoding the path (apiserver/http_util.c),
 * routing it through the kind table (apiserver/route.c) and looking up
 * query parameters. Not built by CMake; see tests/fuzz/run.sh.
 *
 * The input is a request target, "path[?query]". A path that decodes is
 * routed or refused with BE_NOTFOUND and a message; a route names a kind and
 * bounded, NUL-terminated segments. Every query lookup returns, with its
 * value NUL-terminated within the buffer. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver/api_int.h"
#include "apiserver/http_int.h"
#include "common/errors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const keys[] = {"labelSelector", "fieldSelector", "limit", "continue",
                                       "watch", "resourceVersion", "timeoutSeconds",
                                       "allowWatchBookmarks", "dryRun", "propagationPolicy"};
    if (size > 8192)
        return 0;
    char *target = malloc(size + 1);
    if (!target)
        return 0;
    memcpy(target, data, size);
    target[size] = 0;
    char *q = strchr(target, '?');
    if (q)
        *q++ = 0;
    http_req_t req = {.method = "GET", .path = target, .query = q ? q : ""};
    char val[256];
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        memset(val, 'x', sizeof val);
        if (http_req_query(&req, keys[i], val, sizeof val) && !memchr(val, 0, sizeof val))
            abort();
    }
    if (http_path_decode(target) >= 0) {
        struct api_route rt;
        char err[256] = "";
        int rc = api_route_parse(target, &rt, err, sizeof err);
        if (rc == 0) {
            if (!rt.kind || strlen(rt.ns) > API_NAME_MAX || strlen(rt.name) > API_NAME_MAX ||
                strlen(rt.sub) >= sizeof rt.sub)
                abort();
        } else if (rc != BE_NOTFOUND || !err[0]) {
            fprintf(stderr, "route: %d \"%s\"\n", rc, err);
            abort();
        }
    }
    free(target);
    return 0;
}
