/* watch.h: the watch window and the dispatch of changes to watchers.
 *
 * Internal to the store. The state machine appends every applied change to
 * the window (a ring of the last `capacity` changes, each one allocation
 * holding its strings and json) while it applies an entry; after the entry's
 * transaction commits the store calls watch_dispatch(), which hands the new
 * changes to the matching watchers in revision order. Watchers without a
 * node filter hang off their resource; node-filtered watchers live in a hash
 * keyed by (resource, node), so a change costs O(its watchers).
 *
 * Callbacks may stop any watcher, or start new ones, while being dispatched
 * to: a stopped watcher is unlinked at once but freed only when dispatch
 * ends, and every watcher remembers the last revision it was given so no
 * change reaches it twice. */
#ifndef BERTH_STORE_WATCH_H
#define BERTH_STORE_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

struct watch_hub;

/* A change as the state machine reports it. node is the node hint after the
 * change (for a delete: the node it had), prev_node the hint before it (NULL
 * for a create). */
struct watch_change {
    enum store_ev_type type;
    uint64_t rev;
    const char *resource, *ns, *name, *node, *prev_node;
    const char *json;
    size_t json_len;
    const char *prev_json; /* updates, when watch_wants_prev(): the object before */
    size_t prev_json_len;
};

int watch_hub_new(struct watch_hub **out, size_t capacity, uint64_t rev);

/* Sends STORE_EV_CLOSED to every watcher, frees them and the hub. */
void watch_hub_free(struct watch_hub *h);

/* Copies a change into the window. It is not dispatched until
 * watch_dispatch(). Returns BE_NOMEM (the change is then missing from the
 * window and watchers are not told; logged). */
int watch_append(struct watch_hub *h, const struct watch_change *c);

/* Whether a watcher of resource asked for the previous object of updates
 * (store_watch_opts.want_prev). */
bool watch_wants_prev(struct watch_hub *h, const char *resource);

/* Delivers every appended, not yet dispatched change. */
void watch_dispatch(struct watch_hub *h);

/* Empties the window after the state machine was replaced by a snapshot at
 * revision rev: watches can then start from rev onwards only. Existing
 * watchers are kept and told nothing: they miss the changes the snapshot
 * folded in (they resume with the changes applied after it). */
void watch_reset(struct watch_hub *h, uint64_t rev);

int watch_start(struct watch_hub *h, const struct store_watch_opts *opts,
                store_watch_cb cb, void *data, store_watch_t **out);
void watch_stop(store_watch_t *w);
size_t watch_count(struct watch_hub *h);

/* Oldest revision a watch can start from (events with rev > this are all in
 * the window). */
uint64_t watch_base_rev(struct watch_hub *h);

#endif
