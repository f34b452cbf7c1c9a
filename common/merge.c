/* merge.c: JSON merge patch (RFC 7386) and the three-way merge of apply (see
 * merge.h).
 *
 * merge_patch_apply() builds the result in one pass: keys of the target in
 * their order (patched, dropped by a null, or deep-copied), then the keys
 * the patch adds. Every node of the result is fresh, so the caller may
 * mutate it without touching target or patch.
 *
 * merge_three_way() walks modified against current (what to set) and
 * original against modified (what to delete), recursing only where both
 * sides are objects; everything else (scalars, lists) is replaced whole.
 * One exception keeps apply idempotent: a list the manifest did not change
 * since the last apply is left alone when the live list holds everything
 * the manifest says, item by item, plus fields the server filled in (a
 * Service port's allocated nodePort). kubectl gets the same from strategic
 * merge patch; a plain merge patch would send the list back without those
 * fields on every apply. */
#include "common/merge.h"

#include <stdbool.h>

/* The patch with its nulls removed: what applying it to a non-object
 * gives. */
static json_t *strip_nulls(const json_t *patch)
{
    return merge_patch_apply(NULL, patch);
}

static int set_patched(json_t *out, const char *key, const json_t *target,
                       const json_t *patch)
{
    json_t *v = merge_patch_apply(target, patch);
    return v ? json_object_set_new(out, key, v) : -1;
}

json_t *merge_patch_apply(const json_t *target, const json_t *patch)
{
    const char *key;
    json_t *val, *out;
    if (!json_is_object(patch)) return json_deep_copy(patch);
    if (!(out = json_object())) return NULL;
    if (json_is_object(target)) {
        json_object_foreach((json_t *)target, key, val) {
            json_t *pv = json_object_get(patch, key);
            int rc = 0;
            if (!pv)
                rc = json_object_set_new(out, key, json_deep_copy(val));
            else if (!json_is_null(pv))
                rc = set_patched(out, key, val, pv);
            if (rc < 0) goto err;
        }
    }
    json_object_foreach((json_t *)patch, key, val) {
        if (json_is_null(val) || json_object_get(target, key)) continue;
        if (set_patched(out, key, NULL, val) < 0) goto err;
    }
    return out;
err:
    json_decref(out);
    return NULL;
}

/* Whether current holds everything modified says: equal scalars and
 * lists of the same length item by item; objects may have more keys. */
static bool covers(const json_t *current, const json_t *modified)
{
    if (json_is_object(modified)) {
        if (!json_is_object(current)) return false;
        const char *key;
        json_t *mv;
        json_object_foreach((json_t *)modified, key, mv)
            if (!covers(json_object_get(current, key), mv)) return false;
        return true;
    }
    if (json_is_array(modified)) {
        if (!json_is_array(current) || json_array_size(current) != json_array_size(modified))
            return false;
        for (size_t i = 0; i < json_array_size(modified); i++)
            if (!covers(json_array_get(current, i), json_array_get(modified, i))) return false;
        return true;
    }
    return current && json_equal(current, modified);
}

/* A list to leave out of the patch: unchanged in the manifest since the
 * last apply (or never applied) and covered by the live list. */
static bool list_unchanged(const json_t *original, const json_t *modified, const json_t *current)
{
    return json_is_array(modified) && (!original || json_equal(original, modified)) &&
           covers(current, modified);
}

/* Adds to patch what turns current into modified, and deletes what original
 * had and modified dropped. Any of original/current may be NULL. */
static int three_way_obj(json_t *patch, const json_t *original,
                         const json_t *modified, const json_t *current)
{
    const char *key;
    json_t *mv;
    json_object_foreach((json_t *)modified, key, mv) {
        json_t *cv = json_object_get(current, key);
        json_t *ov = json_object_get(original, key);
        int rc = 0;
        if (json_is_null(mv)) {
            if (cv && !json_is_null(cv)) rc = json_object_set_new(patch, key, json_null());
        } else if (json_is_object(mv) && json_is_object(cv)) {
            json_t *sub = json_object();
            if (!sub) return -1;
            if (three_way_obj(sub, json_is_object(ov) ? ov : NULL, mv, cv) < 0 ||
                (json_object_size(sub) && json_object_set(patch, key, sub) < 0))
                rc = -1;
            json_decref(sub);
        } else if (!cv || (!json_equal(cv, mv) && !list_unchanged(ov, mv, cv))) {
            json_t *v = strip_nulls(mv);
            rc = v ? json_object_set_new(patch, key, v) : -1;
        }
        if (rc < 0) return -1;
    }
    json_object_foreach((json_t *)original, key, mv) {
        json_t *cv = json_object_get(current, key);
        if (json_object_get(modified, key) || !cv || json_is_null(cv)) continue;
        if (json_object_set_new(patch, key, json_null()) < 0) return -1;
    }
    return 0;
}

json_t *merge_three_way(const json_t *original, const json_t *modified,
                        const json_t *current)
{
    json_t *patch;
    if (!json_is_object(modified)) return json_deep_copy(modified);
    if (!(patch = json_object())) return NULL;
    if (three_way_obj(patch, json_is_object(original) ? original : NULL, modified,
                      json_is_object(current) ? current : NULL) < 0) {
        json_decref(patch);
        return NULL;
    }
    return patch;
}
