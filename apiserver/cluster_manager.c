/* cluster_manager.c: the cluster manager (see cluster.h), run every 500 ms
 * on every member. On the leader it keeps the configured number of voters
 * among the healthy members (promoting spares and standbys, demoting a voter
 * unreachable for longer than the grace period) and keeps this member's own
 * registry record current; on every member it sends the join request of a
 * new server until it is in the configuration, remembers its peers in
 * DATA_DIR/peers, and notices when it has been removed (then it stops). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apiserver/cluster.h"
#include "apiserver/cluster_int.h"
#include "common/errors.h"
#include "common/jsonutil.h"
#include "common/log.h"
#include "common/uvhttp.h"

/* ---- manager ------------------------------------------------------------------------ */

static struct health *health_of(struct api_cluster *cl, uint64_t id)
{
    for (size_t i = 0; i < cl->nhealth; i++)
        if (cl->health[i].id == id) return &cl->health[i];
    if (cl->nhealth == MAX_PEERS) return NULL;
    struct health *h = &cl->health[cl->nhealth++];
    memset(h, 0, sizeof *h);
    h->id = id;
    h->last_ok = cl_now_ms(cl); /* benefit of the doubt from when we first look */
    return h;
}

struct hprobe {
    struct api_cluster *cl;
    uint64_t id;
};

static void on_health(void *data, int rc, int status, const char *body, size_t len)
{
    struct hprobe *p = data;
    struct api_cluster *cl = p->cl;
    if (!cl->stopping) {
        for (size_t i = 0; i < cl->nhealth; i++) {
            if (cl->health[i].id != p->id) continue;
            cl->health[i].inflight = false;
            if (rc == 0 && status == 200) cl->health[i].last_ok = cl_now_ms(cl);
        }
    }
    free(p);
    cl_unref(cl);
}

static void on_record_written(void *data, int rc, const struct store_result *res, size_t n)
{
    struct api_cluster *cl = data;
    cl->record_inflight = false;
    if (rc || (n == 1 && res[0].rc))
        log_warn("cluster", "cannot record this member: %s", be_strerror(rc ? rc : res[0].rc));
    cl_unref(cl);
}

static void on_role_changed(void *data, int rc)
{
    cl_unref(data);
}

/* Leader: one role change toward the wanted shape, if none is running. */
static void reconcile_roles(struct api_cluster *cl, const struct store_server *conf, size_t n)
{
    api_server_t *api = cl->api;
    uint64_t now = cl_now_ms(cl), me = store_id(api->store);
    size_t voters = 0, alive = 0;
    const struct store_server *spare = NULL, *standby = NULL, *lost = NULL;
    for (size_t i = 0; i < n; i++) {
        struct health *h = conf[i].id == me ? NULL : health_of(cl, conf[i].id);
        bool is_alive = conf[i].id == me || (h && now - h->last_ok < cl->grace_ms);
        bool healthy = conf[i].id == me || (h && now - h->last_ok < HEALTHY_MS);
        if (conf[i].role == STORE_VOTER) {
            voters++;
            if (is_alive) alive++;
            else if (!lost) lost = &conf[i];
        } else if (conf[i].role == STORE_STANDBY && healthy && !standby) {
            standby = &conf[i];
        } else if (conf[i].role == STORE_SPARE && (!spare || healthy)) {
            spare = &conf[i]; /* a healthy one if there is one */
        }
    }
    const struct store_server *target = NULL;
    enum store_role role = STORE_VOTER;
    struct health *sh = spare ? health_of(cl, spare->id) : NULL;
    bool spare_healthy = sh && now - sh->last_ok < HEALTHY_MS;
    if ((voters < cl->voters || alive < cl->voters) && (standby || spare_healthy)) {
        target = standby ? standby : spare;   /* promote */
    } else if (voters > cl->voters && lost) {
        target = lost;                        /* a standby took its place */
        role = STORE_STANDBY;
    } else if (spare) {
        target = spare;                       /* enough voters: replicate */
        role = STORE_STANDBY;
    }
    if (!target) return;
    log_info("cluster", "making member %llu a %s (voters %zu, alive %zu, wanted %u)",
             (unsigned long long)target->id, store_role_name(role), voters, alive, cl->voters);
    cl->refs++;
    if (store_change(api->store, STORE_ASSIGN, target->id, NULL, role, on_role_changed, cl))
        cl_unref(cl);
}

static void leader_duties(struct api_cluster *cl)
{
    api_server_t *api = cl->api;
    struct member_rec me, cur;
    cl_self_rec(api, &me);
    char *json = NULL;
    size_t len = 0;
    bool fresh = false;
    if (store_get(api->store, "members", "", me.name, &json, &len, NULL) == 0)
        fresh = cl_rec_parse(json, len, &cur) == 0 && cl_rec_same(&cur, &me);
    free(json);
    if (!fresh && !cl->record_inflight) {
        cl->refs++;
        cl->record_inflight = true;
        if (cl_rec_put(api, &me, on_record_written, cl)) {
            cl->record_inflight = false;
            cl_unref(cl);
        }
    }

    struct store_server *conf = NULL;
    size_t n = 0;
    struct rec_list *l = malloc(sizeof *l);
    if (!l || store_configuration(api->store, &conf, &n)) { free(l); return; }
    cl_recs_load(api, l);
    for (size_t i = 0; i < n; i++) {
        if (conf[i].id == me.id) continue;
        struct health *h = health_of(cl, conf[i].id);
        const struct member_rec *r = cl_rec_by_id(l, conf[i].id);
        uvhttp_t *c = r ? api_peer_client(api, r->api, true) : NULL;
        if (!h || h->inflight || !c) continue;
        struct hprobe *p = calloc(1, sizeof *p);
        if (!p) continue;
        p->cl = cl;
        p->id = conf[i].id;
        cl->refs++;
        if (uvhttp_request(c, "GET", "/healthz", NULL, NULL, 0, on_health, p)) {
            free(p);
            cl->refs--;
            continue;
        }
        h->inflight = true;
    }
    if (store_changes_pending(api->store) == 0) reconcile_roles(cl, conf, n);
    free(conf);
    free(l);
}

/* ---- joining and leaving ------------------------------------------------------------- */

static void on_join_answer(void *data, int rc, int status, const char *body, size_t len)
{
    struct api_cluster *cl = data;
    cl->join_inflight = false;
    if (!cl->stopping) {
        if (rc == 0 && status == 200) {
            if (!cl->join_acked) log_info("cluster", "join accepted; catching up with the leader");
            cl->join_acked = cl_now_ms(cl);
        } else {
            log_warn("cluster", "join request to %s: %s%.*s", cl->join[(cl->join_next + cl->njoin - 1) % cl->njoin],
                     rc ? "" : "refused: ", (int)(len > 300 ? 300 : len), body ? body : "");
        }
    }
    cl_unref(cl);
}

static void send_join(struct api_cluster *cl, const char *url)
{
    api_server_t *api = cl->api;
    uvhttp_t *c = api_peer_client(api, url, true);
    if (!c) return;
    json_t *o = json_pack("{s:s, s:I, s:s, s:s}", "name", api->name, "id",
                          (json_int_t)store_id(api->store), "address", api->raft_address, "api",
                          api->advertise_url);
    char *body = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!body) return;
    cl->refs++;
    if (uvhttp_request(c, "POST", "/cluster/join", "application/json", body, strlen(body),
                       on_join_answer, cl) == 0) {
        cl->join_inflight = true;
        cl->join_sent = cl_now_ms(cl);
    } else {
        cl->refs--;
    }
    free(body);
}

static void removed_now(struct api_cluster *cl, const char *how)
{
    if (cl->removed) return;
    cl->removed = true;
    log_warn("cluster", "this member (%s) is no longer in the raft configuration (%s)",
             cl->api->name, how);
    if (cl->on_removed) cl->on_removed(cl->data);
}

static void on_membership_check(void *data, int rc, int status, const char *body, size_t len)
{
    struct api_cluster *cl = data;
    cl->check_inflight = false;
    if (!cl->stopping && rc == 0 && status == 200) {
        json_t *o = json_loadb(body, len, 0, NULL), *m;
        size_t i;
        bool listed = false;
        uint64_t me = store_id(cl->api->store);
        json_array_foreach(json_object_get(o, "members"), i, m) {
            json_t *id = json_object_get(m, "id");
            if (json_is_integer(id) && (uint64_t)json_integer_value(id) == me) listed = true;
        }
        if (json_is_string(json_object_get(o, "leader")) && json_array_size(json_object_get(o, "members")) &&
            !listed)
            removed_now(cl, "a member with a leader does not list it");
        json_decref(o);
    }
    cl_unref(cl);
}

/* The registry as "ID URL" lines, kept in DATA_DIR/peers (written through
 * a temporary file and rename when it changes). */
static void peers_save(struct api_cluster *cl, const struct rec_list *l)
{
    if (!cl->peers_path || l->n == 0) return;
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    if (!m) return;
    for (size_t i = 0; i < l->n; i++)
        fprintf(m, "%llu %s %s\n", (unsigned long long)l->v[i].id, l->v[i].api, l->v[i].name);
    fclose(m);
    if (cl->peers_text && !strcmp(cl->peers_text, text)) { free(text); return; }
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", cl->peers_path);
    FILE *f = fopen(tmp, "w");
    if (f && fputs(text, f) >= 0 && fclose(f) == 0 && rename(tmp, cl->peers_path) == 0) {
        free(cl->peers_text);
        cl->peers_text = text;
        return;
    }
    if (f) unlink(tmp);
    free(text);
}

static void peers_load(struct api_cluster *cl, struct rec_list *l)
{
    FILE *f = cl->peers_path ? fopen(cl->peers_path, "r") : NULL;
    if (!f) return;
    char line[600];
    while (l->n < 64 && fgets(line, sizeof line, f)) {
        struct member_rec *r = &l->v[l->n];
        unsigned long long id;
        memset(r, 0, sizeof *r);
        if (sscanf(line, "%llu %255s %127s", &id, r->api, r->name) >= 2) {
            r->id = id;
            l->n++;
        }
    }
    fclose(f);
}

/* No leader for a while: ask another member whether we are still in. */
static void check_membership(struct api_cluster *cl)
{
    api_server_t *api = cl->api;
    struct rec_list *l = malloc(sizeof *l);
    if (!l) return;
    cl_recs_load(api, l);
    if (l->n <= 1) { l->n = 0; peers_load(cl, l); }
    uint64_t me = store_id(api->store);
    size_t others = 0;
    for (size_t i = 0; i < l->n; i++) others += l->v[i].id != me;
    if (others) {
        size_t pick = (size_t)(cl_now_ms(cl) / TICK_MS) % others;
        for (size_t i = 0; i < l->n; i++) {
            if (l->v[i].id == me || pick--) continue;
            uvhttp_t *c = api_peer_client(api, l->v[i].api, true);
            cl->refs++;
            if (c && uvhttp_request(c, "GET", "/cluster/members?local=1", NULL, NULL, 0,
                                    on_membership_check, cl) == 0)
                cl->check_inflight = true;
            else
                cl->refs--;
            break;
        }
    }
    free(l);
}

void cl_manager_tick(struct api_cluster *cl)
{
    api_server_t *api = cl->api;
    if (cl->stopping || cl->removed) return;
    uint64_t now = cl_now_ms(cl);
    bool in = store_in_configuration(api->store);
    if (in) cl->was_member = true;
    if (in && store_has_leader(api->store) && cl->peers_path) {
        struct rec_list *l = malloc(sizeof *l);
        if (l) { cl_recs_load(api, l); peers_save(cl, l); free(l); }
    }

    if (!in && cl->njoin && !cl->join_inflight &&
        (!cl->join_acked || now - cl->join_acked > 10000) && now - cl->join_sent >= 1000) {
        send_join(cl, cl->join[cl->join_next++ % cl->njoin]);
    }
    if (cl->was_member && !in) {
        struct store_server *conf = NULL;
        size_t n = 0;
        store_configuration(api->store, &conf, &n);
        free(conf);
        if (n) { removed_now(cl, "its own configuration no longer lists it"); return; }
    }
    if (store_has_leader(api->store)) {
        cl->no_leader_since = 0;
    } else if (!cl->no_leader_since) {
        cl->no_leader_since = now;
    } else if (cl->was_member && !cl->check_inflight && now - cl->no_leader_since > NO_LEADER_CHECK_MS) {
        check_membership(cl);
    }
    if (store_is_leader(api->store)) leader_duties(cl);
}

static void on_tick(uv_timer_t *t) { cl_manager_tick(t->data); }

void api_cluster_leader_changed(api_server_t *api, bool is_leader)
{
    struct api_cluster *cl = api->cluster;
    if (!cl || cl->stopping) return;
    cl->nhealth = 0; /* a new term: give every member the grace period again */
    if (is_leader) cl_manager_tick(cl);
}

int api_cluster_start(api_server_t *api, const struct api_cluster_config *cfg, char *errbuf,
                      size_t errlen)
{
    struct api_cluster *cl = calloc(1, sizeof *cl);
    if (!cl) { snprintf(errbuf, errlen, "out of memory"); return BE_NOMEM; }
    cl->api = api;
    cl->refs = 1;
    cl->voters = cfg && cfg->voters ? cfg->voters : 3;
    cl->grace_ms = cfg && cfg->voter_grace_ms ? cfg->voter_grace_ms : 30000;
    cl->on_removed = cfg ? cfg->on_removed : NULL;
    cl->data = cfg ? cfg->data : NULL;
    if (cfg && cfg->data_dir) {
        size_t n = strlen(cfg->data_dir) + 7;
        if ((cl->peers_path = malloc(n))) snprintf(cl->peers_path, n, "%s/peers", cfg->data_dir);
    }
    if (cfg && cfg->join) {
        const char *p = cfg->join;
        while (*p) {
            size_t n = strcspn(p, ",");
            if (n) {
                char url[256];
                snprintf(url, sizeof url, "%.*s", (int)n, p);
                char host[200];
                int port;
                if (n >= sizeof url || uvhttp_parse_url(url, host, sizeof host, &port) ||
                    cl->njoin == MAX_JOIN) {
                    snprintf(errbuf, errlen, "--join: bad or too many URLs at \"%.*s\"", (int)n, p);
                    cl_unref(cl);
                    return BE_INVAL;
                }
                cl->join[cl->njoin++] = strdup(url);
            }
            p += n;
            if (*p == ',') p++;
        }
    }
    uv_timer_init(api->loop, &cl->timer);
    cl->timer.data = cl;
    uv_timer_start(&cl->timer, on_tick, 50, TICK_MS);
    api->cluster = cl;
    return 0;
}

static void timer_closed(uv_handle_t *h) { cl_unref(h->data); }

void api_cluster_stop(api_server_t *api)
{
    struct api_cluster *cl = api->cluster;
    if (!cl) return;
    api->cluster = NULL;
    cl->stopping = true;
    uv_timer_stop(&cl->timer);
    uv_close((uv_handle_t *)&cl->timer, timer_closed);
}
