/* cluster.h: the servers of a Berth cluster, as the API server manages them.
 *
 * Every member records itself in the replicated state (resource "members",
 * not reachable through /api: name, raft id, raft address, API URL), so any
 * member can find the leader's API URL (forward.c) and list the cluster.
 * Endpoints (any member; those marked * are forwarded to the leader):
 *   GET    /cluster/members         raft configuration + registry + each
 *                                   member's applied index
 *   GET    /cluster/self            this member's raft state
 *   POST   /cluster/join         *  {"name","id","address","api"}: add a server
 *   DELETE /cluster/members/NAME *  remove a server (it then stops itself)
 *   GET    /cluster/snapshot     *  the state machine after a barrier
 *
 * A manager runs every 500 ms on every member. On the leader it keeps the
 * leader's own record current, checks each member's /healthz, promotes
 * servers to voter while there are fewer voters (alive within the grace
 * period) than configured, demotes a lost voter once a standby took its
 * place, and makes other spares standbys. On a member started with --join
 * and not yet in the configuration it asks the given URLs to add it. On a
 * member that was in the configuration and finds it was removed (its own
 * configuration says so, or, with no leader for 3 s, a member that has one
 * does not list it) it calls on_removed once. Every member keeps the API
 * URLs of its peers in DATA_DIR/peers, so that check works on a restarted
 * member whose state machine cannot be replayed without a leader. */
#ifndef BERTH_CLUSTER_H
#define BERTH_CLUSTER_H

#include "apiserver/api.h"

struct api_cluster_config {
    unsigned voters;          /* wanted voters: 3 or 5 (0: 3) */
    unsigned voter_grace_ms;  /* a voter unreachable this long is replaced
                                 by a standby (0: 30000) */
    const char *join;         /* "URL[,URL...]" to ask for membership, or NULL */
    const char *data_dir;     /* where the peers' API URLs are kept (file
                                 "peers") for when the state machine is not
                                 yet replayed; NULL: not kept */
    void (*on_removed)(void *data); /* this member left the configuration */
    void *data;
};

/* Starts the manager. Returns 0 or BE_INVAL/BE_NOMEM with a message. It
 * stops with api_server_stop(). */
int api_cluster_start(api_server_t *api, const struct api_cluster_config *cfg, char *errbuf,
                      size_t errlen);

#endif
