/* fsm.h: the store's state machine, an in-memory sqlite database.
 *
 * Internal to the store. fsm_apply() applies one raft entry (a batch encoded
 * by codec.h) inside one transaction: each mutation checks its precondition,
 * takes the next revision if it succeeds and is reported to the watch hub.
 * Everything it does depends only on the entry and the prior state, so all
 * members end in the same state with the same revisions. The revision counter
 * lives in the database (table meta), so snapshots carry it.
 *
 * Snapshots are the database image itself (fsm_image: sqlite's memdb
 * buffer, which snapjob.c copies in a forked child); restoring opens the
 * image on a fresh connection, checks it, and only then replaces the
 * current one, so a bad snapshot leaves the state machine as it was. List
 * queries are in fsm_list.c. */
#ifndef BERTH_STORE_FSM_H
#define BERTH_STORE_FSM_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"
#include "store/watch.h"

struct fsm;

/* hub receives every change (watch_append) and may be NULL. */
int fsm_open(struct fsm **out, struct watch_hub *hub, char *errbuf,
             size_t errlen);
void fsm_close(struct fsm *f);
void fsm_set_hub(struct fsm *f, struct watch_hub *hub);

/* Applies one entry. On 0, *results[i] is the outcome of mutation i (valid
 * until the next fsm call) and *n their count. BE_PROTO: the entry is
 * malformed and nothing changed. Other codes: sqlite failed (logged). */
int fsm_apply(struct fsm *f, const void *buf, size_t len,
              const struct store_result **results, size_t *n);

/* The database image itself (sqlite's memdb buffer, no copy): valid until
 * the next fsm call. Snapshots copy it (snapjob.c). */
int fsm_image(struct fsm *f, const void **buf, size_t *len);
/* Bytes of the database in use (pages not on the free list). */
uint64_t fsm_db_bytes(struct fsm *f);
/* Copies buf; on failure the state machine is unchanged. */
int fsm_restore(struct fsm *f, const void *buf, size_t len);
/* Bytes in use above which creates and updates fail with BE_NOSPACE
 * (default: a little under the 2 GiB a database can hold); 0: no quota. */
void fsm_set_quota(struct fsm *f, uint64_t bytes);

uint64_t fsm_revision(struct fsm *f);
uint64_t fsm_count(struct fsm *f);
/* Changes whenever a namespace may have been created or deleted (an applied
 * namespace mutation, a restore). */
uint64_t fsm_ns_generation(struct fsm *f);

int fsm_get(struct fsm *f, const char *resource, const char *ns,
            const char *name, char **json, size_t *len, uint64_t *rev);
/* 0 if the object exists, BE_NOTFOUND if not; copies nothing. */
int fsm_exists(struct fsm *f, const char *resource, const char *ns,
               const char *name);
int fsm_list(struct fsm *f, const char *resource,
             const struct store_list_opts *opts, store_list_cb cb, void *data);

#endif
