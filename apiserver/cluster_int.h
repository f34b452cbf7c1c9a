/* cluster_int.h: what the two halves of the cluster module share:
 * cluster.c (the members registry and the /cluster endpoints) and
 * cluster_manager.c (the manager that runs every 500 ms on each member:
 * roles, health, joining, noticing removal). Not for other files. */
#ifndef BERTH_CLUSTER_INT_H
#define BERTH_CLUSTER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "apiserver/api_int.h"
#include "store/store.h"

#define TICK_MS 500
#define NO_LEADER_CHECK_MS 3000
#define HEALTHY_MS 3000
#define MAX_PEERS 16
#define MAX_JOIN 8

struct member_rec {
    char name[128];
    uint64_t id;
    char address[128];
    char api[256];
};

struct health {
    uint64_t id;
    uint64_t last_ok;  /* loop ms of the last good /healthz */
    bool inflight;
};

struct api_cluster {
    api_server_t *api;
    uv_timer_t timer;
    int refs;
    bool stopping;
    unsigned voters;
    uint64_t grace_ms;
    char *join[MAX_JOIN];
    size_t njoin, join_next;
    bool join_inflight;
    uint64_t join_sent, join_acked;
    bool was_member, removed, check_inflight;
    uint64_t no_leader_since;
    bool record_inflight;
    struct health health[MAX_PEERS];
    size_t nhealth;
    void (*on_removed)(void *data);
    void *data;
    char *peers_path;    /* DATA_DIR/peers or NULL */
    char *peers_text;    /* what it holds */
};

struct rec_list {
    struct member_rec v[64];
    size_t n;
};

static inline uint64_t cl_now_ms(struct api_cluster *cl) { return uv_now(cl->api->loop); }

void cl_unref(struct api_cluster *cl);
int cl_rec_parse(const char *json, size_t len, struct member_rec *r);
void cl_recs_load(api_server_t *api, struct rec_list *l);
const struct member_rec *cl_rec_by_id(const struct rec_list *l, uint64_t id);
int cl_rec_put(api_server_t *api, const struct member_rec *r, store_commit_cb cb, void *data);
bool cl_rec_same(const struct member_rec *a, const struct member_rec *b);
void cl_self_rec(api_server_t *api, struct member_rec *r);
void cl_manager_tick(struct api_cluster *cl);

#endif
