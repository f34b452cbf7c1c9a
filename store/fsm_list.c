/* fsm_list.c: the state machine's list queries (see fsm_list.h).
 *
 * A list is one of twelve shapes: with or without a namespace, any node, one
 * node or no node, and from the start or after a key (pagination). Each
 * shape's statement is prepared on first use and kept; a list started from
 * inside another list's callback (the statement is busy) gets a statement
 * of its own for its run. Rows come in key order (ns, name), LIMIT bounds
 * them. */
#include "store/fsm_list.h"

#include <stdio.h>

#include "common/errors.h"
#include "common/log.h"

static int list_sql(int key, char *sql, size_t n)
{
    int ns = key / 6, node = (key / 2) % 3, after = key % 2;
    return snprintf(sql, n,
                    "SELECT ns,name,rev,json FROM objects WHERE resource=?1%s%s%s"
                    " ORDER BY ns,name LIMIT ?6",
                    ns ? " AND ns=?2" : "",
                    node == 1   ? " AND node=?3"
                    : node == 2 ? " AND node IS NULL"
                                : "",
                    after ? " AND (ns,name)>(?4,?5)" : "");
}

int fsm_lists_run(struct fsm_lists *l, sqlite3 *db, const char *resource,
                  const struct store_list_opts *opts, store_list_cb cb, void *data)
{
    static const struct store_list_opts none;
    sqlite3_stmt *st, *tmp = NULL;
    char sql[256];
    int rc;

    if (!resource || !cb)
        return BE_INVAL;
    if (!opts)
        opts = &none;
    bool after = opts->after_ns || opts->after_name;
    int node = !opts->node ? 0 : opts->node[0] ? 1 : 2;
    int key = (opts->ns ? 6 : 0) + node * 2 + (after ? 1 : 0);

    st = l->st[key];
    if (!st || sqlite3_stmt_busy(st)) {
        /* first use, or a list running inside a list callback */
        list_sql(key, sql, sizeof sql);
        if (sqlite3_prepare_v3(db, sql, -1, st ? 0 : SQLITE_PREPARE_PERSISTENT,
                               &tmp, NULL) != SQLITE_OK) {
            log_error("store", "list: %s", sqlite3_errmsg(db));
            return BE_INTERNAL;
        }
        if (!st)
            l->st[key] = st = tmp, tmp = NULL;
        else
            st = tmp;
    }
    sqlite3_bind_text(st, 1, resource, -1, SQLITE_STATIC);
    if (opts->ns)
        sqlite3_bind_text(st, 2, opts->ns, -1, SQLITE_STATIC);
    if (node == 1)
        sqlite3_bind_text(st, 3, opts->node, -1, SQLITE_STATIC);
    if (after) {
        sqlite3_bind_text(st, 4, opts->after_ns ? opts->after_ns : "", -1,
                          SQLITE_STATIC);
        sqlite3_bind_text(st, 5, opts->after_name ? opts->after_name : "", -1,
                          SQLITE_STATIC);
    }
    sqlite3_bind_int64(st, 6, opts->limit ? (int64_t)opts->limit : -1);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *j = (const char *)sqlite3_column_text(st, 3);
        size_t jl = (size_t)sqlite3_column_bytes(st, 3);
        const char *ns = (const char *)sqlite3_column_text(st, 0);
        const char *name = (const char *)sqlite3_column_text(st, 1);
        if (cb(data, ns ? ns : "", name ? name : "",
               (uint64_t)sqlite3_column_int64(st, 2), j ? j : "", jl))
            break;
    }
    rc = (rc == SQLITE_ROW || rc == SQLITE_DONE) ? 0 : BE_INTERNAL;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    sqlite3_finalize(tmp);
    return rc;
}

void fsm_lists_finalize(struct fsm_lists *l)
{
    for (int i = 0; i < FSM_LIST_SHAPES; i++) {
        sqlite3_finalize(l->st[i]);
        l->st[i] = NULL;
    }
}
