/* fuzz_merge.c: libFuzzer harness for common/merge.c (JSON merge patch,
 * RFC 7386, which `kubectl patch --type merge` and apply send). Not built by
 * CMake; see tests/fuzz/run.sh.
 *
 * The input is two JSON values separated by a NUL byte: a target and a
 * patch. Applying must not crash and must follow RFC 7386: the result of a
 * non-object patch is the patch itself; applying the same patch again
 * changes nothing; every non-null member of an object patch is in the result,
 * and a member the patch sets to null is gone. */
#include "common/merge.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *load(const uint8_t *p, size_t n)
{
    return json_loadb((const char *)p, n, JSON_DECODE_ANY, NULL);
}

/* RFC 7386's member rule, checked recursively through nested object patches. */
static void check_members(const json_t *result, const json_t *patch)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)patch, k, v) {
        json_t *r = json_object_get(result, k);
        if (json_is_null(v)) {
            if (r) abort();
        } else if (!r) {
            abort();
        } else if (json_is_object(v)) {
            if (!json_is_object(r)) abort();
            check_members(r, v);
        } else if (!json_equal(r, v)) {
            abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    if (!nul || size > 65536)
        return 0;
    json_t *target = load(data, (size_t)(nul - data));
    json_t *patch = load(nul + 1, size - (size_t)(nul - data) - 1);
    if (!target || !patch)
        goto out;
    json_t *once = merge_patch_apply(target, patch);
    if (!once)
        goto out; /* out of memory */
    if (!json_is_object(patch)) {
        if (!json_equal(once, patch)) abort();
    } else {
        if (!json_is_object(once)) abort();
        check_members(once, patch);
    }
    json_t *twice = merge_patch_apply(once, patch);
    if (twice && !json_equal(once, twice)) {
        fprintf(stderr, "applying a merge patch twice changed the result\n");
        abort();
    }
    json_decref(twice);
    json_decref(once);
out:
    json_decref(target);
    json_decref(patch);
    return 0;
}
