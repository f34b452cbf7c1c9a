/* fsm_list.h: list queries over the state machine's database.
 *
 * Internal to the store (fsm.c owns one struct fsm_lists per database and
 * finalizes it before the database closes or is replaced). */
#ifndef BERTH_STORE_FSM_LIST_H
#define BERTH_STORE_FSM_LIST_H

#include <sqlite3.h>

#include "store/store.h"

/* ns filter (2) x node filter (any, value, unbound: 3) x after a key (2) */
#define FSM_LIST_SHAPES 12

struct fsm_lists {
    sqlite3_stmt *st[FSM_LIST_SHAPES]; /* prepared on first use */
};

/* Calls cb for each object of resource matching opts, in (ns, name) order,
 * until cb returns non-zero. 0, BE_INVAL or BE_INTERNAL (logged). */
int fsm_lists_run(struct fsm_lists *l, sqlite3 *db, const char *resource,
                  const struct store_list_opts *opts, store_list_cb cb, void *data);
void fsm_lists_finalize(struct fsm_lists *l);

#endif
