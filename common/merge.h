/* merge.h: JSON merge patch (RFC 7386) and the three-way merge of
 * `berthctl apply`.
 *
 * merge_patch_apply() is what the API server does for PATCH with
 * application/merge-patch+json. merge_three_way() is kubectl's client-side
 * apply with merge-patch semantics: from the last applied manifest
 * (original), the new manifest (modified) and the live object (current) it
 * computes a patch that sets every field of modified that differs from
 * current and deletes (null) every field that original had and modified no
 * longer has. Fields neither manifest mentions (replicas under an
 * autoscaler, status, server defaults) are left alone. Lists are replaced
 * whole (merge-patch semantics). */
#ifndef BERTH_MERGE_H
#define BERTH_MERGE_H

#include <jansson.h>

/* Returns a new reference to the patched document (target is not changed),
 * or NULL on out of memory. A non-object patch replaces the target. */
json_t *merge_patch_apply(const json_t *target, const json_t *patch);

/* Returns a new reference to the patch ({} when nothing changes); original
 * may be NULL (first apply). NULL on out of memory. */
json_t *merge_three_way(const json_t *original, const json_t *modified,
                        const json_t *current);

#endif
