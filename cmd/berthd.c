/* berthd.c: the Berth server process. Parses flags, opens the replicated
 * store in the data dir (bootstrapping a one-member cluster on an empty
 * one), starts the API server, prints one line when it is ready, and shuts
 * everything down in order on SIGINT/SIGTERM. One libuv loop runs it all. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apiserver/api.h"
#include "apiserver/cluster.h"
#include "common/errors.h"
#include "common/log.h"
#include "controllers/ctrl.h"
#include "controllers/hpa.h"
#include "scheduler/sched.h"
#include "store/store.h"

struct daemon {
    uv_loop_t *loop;
    store_t *store;
    api_server_t *api;
    sched_t *sched;
    ctrl_manager_t *ctrl;
    uv_signal_t sigint, sigterm;
    uv_timer_t ready_timer;
    bool ready_printed, stopping;
    bool restoring;        /* --restore: not ready until the first snapshot */
    char marker[4200];     /* restore-pending marker file */
    char name[128], api_url[300], raft_addr[300];
    int exit_code;
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: berthd [flags]\n"
            "  --name NAME                member name (default: hostname)\n"
            "  --data-dir DIR             raft log and snapshots (default: /var/lib/berth)\n"
            "  --listen HOST:PORT         API address (default 127.0.0.1:7070)\n"
            "  --raft HOST:PORT           raft address (default 127.0.0.1:7071)\n"
            "  --advertise HOST           address others use when --listen is a wildcard\n"
            "  --join URL[,URL...]        join an existing cluster: API URLs of any members\n"
            "                             (only used while this member is not in the cluster)\n"
            "  --voters N                 voters the leader keeps: 3 (default) or 5; more\n"
            "                             servers stay standbys\n"
            "  --voter-grace-s N          a voter unreachable this long is replaced by a\n"
            "                             standby (default 30)\n"
            "  --restore FILE             start a new one-member cluster from a snapshot\n"
            "                             (berthctl cluster snapshot save); empty data dir\n"
            "  --recover                  lost quorum: make this member the only one, from its\n"
            "                             own data; the others rejoin with --join\n"
            "  --election-timeout-ms N    raft election timeout (default 200)\n"
            "  --heartbeat-ms N           raft heartbeat (default 25)\n"
            "  --snapshot-threshold N     most raft entries between snapshots (default 65536;\n"
            "                             also when the log outgrows the database)\n"
            "  --watch-window N           events kept for watch resume (default 20000)\n"
            "  --request-timeout-ms N     a request must arrive within this (default 30000)\n"
            "  --idle-timeout-ms N        keep-alive idle limit (default 120000)\n"
            "  --max-conns N              open connection cap (default 10000)\n"
            "  --api-body-worker on|off   parse, validate and serialize the objects of creates\n"
            "                             and updates on a thread beside the event loop\n"
            "                             (default on)\n"
            "  --scheduler-strategy S     binpack (default) or spread\n"
            "  --node-grace-period-s N    lease age before a node is Unknown (default 40)\n"
            "  --pod-eviction-timeout-s N pods leave an unreachable node after (default 30)\n"
            "  --hpa-sync-period-s N      how often each HorizontalPodAutoscaler is reconciled (default 15)\n"
            "  --log-level LEVEL          debug, info, warn, error (default info)\n");
}

static int split_hostport(const char *s, char *host, size_t hlen, int *port)
{
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s || (size_t)(colon - s) >= hlen) return -1;
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (*end || p < 1 || p > 65535) return -1;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = 0;
    *port = (int)p;
    return 0;
}

static int ensure_dir(const char *dir)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", dir);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(tmp, 0700) && errno != EEXIST) return -1;
        *p = '/';
    }
    if (mkdir(tmp, 0700) && errno != EEXIST) return -1;
    struct stat st;
    if (stat(dir, &st) || !S_ISDIR(st.st_mode)) { errno = ENOTDIR; return -1; }
    if (access(dir, W_OK | X_OK)) return -1;
    return 0;
}

static void on_ready_poll(uv_timer_t *t)
{
    struct daemon *d = t->data;
    if (d->ready_printed || !d->api || !api_server_ready(d->api)) return;
    if (d->restoring) {
        if (!store_snapshots_taken(d->store)) return;
        d->restoring = false;
        unlink(d->marker);
        log_info("berthd", "restore complete: the snapshot is durable in the data dir");
    }
    d->ready_printed = true;
    uv_timer_stop(t);
    printf("berthd ready: name=%s api=%s raft=%s leader=%s\n", d->name, d->api_url, d->raft_addr,
           store_leader_name(d->store) ? store_leader_name(d->store) : "?");
    fflush(stdout);
}

static void on_leader_change(void *data, bool is_leader)
{
    struct daemon *d = data;
    log_info("berthd", "%s raft leadership", is_leader ? "gained" : "lost");
    if (d->api) api_server_leader_changed(d->api, is_leader);
    if (d->sched) sched_leader_changed(d->sched, is_leader);
    if (d->ctrl) ctrl_manager_leader_changed(d->ctrl, is_leader);
}

static void on_store_closed(void *data)
{
    struct daemon *d = data;
    d->store = NULL;
    uv_close((uv_handle_t *)&d->sigint, NULL);
    uv_close((uv_handle_t *)&d->sigterm, NULL);
    uv_close((uv_handle_t *)&d->ready_timer, NULL);
}

static void on_ctrl_closed(void *data)
{
    struct daemon *d = data;
    d->ctrl = NULL;
    store_close(d->store, on_store_closed, d);
}

static void close_ctrl_then_store(struct daemon *d)
{
    if (d->ctrl) ctrl_manager_close(d->ctrl, on_ctrl_closed, d);
    else store_close(d->store, on_store_closed, d);
}

static void on_sched_closed(void *data)
{
    struct daemon *d = data;
    d->sched = NULL;
    close_ctrl_then_store(d);
}

/* Shutdown order: API server (no new requests), leader loops, then store. */
static void on_api_stopped(void *data)
{
    struct daemon *d = data;
    d->api = NULL;
    if (d->sched) sched_close(d->sched, on_sched_closed, d);
    else close_ctrl_then_store(d);
}

static void shut_down(struct daemon *d)
{
    if (d->stopping) return;
    d->stopping = true;
    if (d->api) api_server_stop(d->api, on_api_stopped, d);
    else on_api_stopped(d);
}

static void on_signal(uv_signal_t *s, int signum)
{
    struct daemon *d = s->data;
    if (!d->stopping) log_info("berthd", "signal %d: shutting down", signum);
    shut_down(d);
}

/* cluster remove: the leader took us out of the configuration. */
static void on_removed(void *data)
{
    struct daemon *d = data;
    fprintf(stderr, "berthd: %s was removed from the cluster; stopping\n", d->name);
    shut_down(d);
}

/* Raft keeps its state in metadata1/metadata2, open-N, segments and
 * snapshot-* files. *state: holds raft state; *other: holds anything. */
static int dir_scan(const char *dir, bool *state, bool *other)
{
    DIR *dh = opendir(dir);
    *state = *other = false;
    if (!dh) return errno == ENOENT ? 0 : -1;
    struct dirent *e;
    while ((e = readdir(dh))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        *other = true;
        if (!strncmp(e->d_name, "metadata", 8)) *state = true;
    }
    closedir(dh);
    return 0;
}

static int read_file(const char *path, char **buf, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    size_t cap = 1 << 20, n = 0;
    char *b = malloc(cap);
    while (b) {
        size_t got = fread(b + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
        if (n == cap) {
            char *nb = cap < (1u << 30) ? realloc(b, cap *= 2) : NULL;
            if (!nb) { free(b); b = NULL; errno = EFBIG; }
            b = nb;
        }
    }
    int err = ferror(f);
    fclose(f);
    if (!b || err) { free(b); if (err) errno = EIO; return -1; }
    *buf = b;
    *len = n;
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"name", required_argument, 0, 'n'}, {"data-dir", required_argument, 0, 'd'},
        {"listen", required_argument, 0, 'l'}, {"raft", required_argument, 0, 'r'},
        {"advertise", required_argument, 0, 'a'}, {"join", required_argument, 0, 'j'},
        {"election-timeout-ms", required_argument, 0, 'e'}, {"heartbeat-ms", required_argument, 0, 'b'},
        {"snapshot-threshold", required_argument, 0, 's'}, {"watch-window", required_argument, 0, 'w'},
        {"log-level", required_argument, 0, 'v'}, {"request-timeout-ms", required_argument, 0, 'R'},
        {"idle-timeout-ms", required_argument, 0, 'I'}, {"max-conns", required_argument, 0, 'C'},
        {"scheduler-strategy", required_argument, 0, 'S'}, {"node-grace-period-s", required_argument, 0, 'G'},
        {"pod-eviction-timeout-s", required_argument, 0, 'E'},
        {"hpa-sync-period-s", required_argument, 0, 'P'}, {"help", no_argument, 0, 'h'},
        {"voters", required_argument, 0, 'V'}, {"voter-grace-s", required_argument, 0, 'g'},
        {"restore", required_argument, 0, 'T'}, {"recover", no_argument, 0, 'X'},
        {"api-body-worker", required_argument, 0, 'W'}, {0, 0, 0, 0},
    };
    struct daemon d = {0};
    const char *data_dir = "/var/lib/berth", *listen = "127.0.0.1:7070", *raft = "127.0.0.1:7071";
    const char *advertise = NULL, *join = NULL, *restore = NULL;
    bool recover = false;
    struct api_cluster_config clc = {0};
    struct store_config sc = {0};
    struct api_config ac = {0};
    struct sched_config schc = {0};
    signal(SIGPIPE, SIG_IGN);
    log_init_from_env();
    gethostname(d.name, sizeof d.name - 1);
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        char *end = NULL;
        switch (c) {
        case 'n': snprintf(d.name, sizeof d.name, "%s", optarg); break;
        case 'd': data_dir = optarg; break;
        case 'l': listen = optarg; break;
        case 'r': raft = optarg; break;
        case 'a': advertise = optarg; break;
        case 'j': join = optarg; break;
        case 'e': sc.election_timeout_ms = (unsigned)strtoul(optarg, &end, 10); break;
        case 'b': sc.heartbeat_ms = (unsigned)strtoul(optarg, &end, 10); break;
        case 's': sc.snapshot_threshold = (unsigned)strtoul(optarg, &end, 10); break;
        case 'R': ac.request_timeout_ms = (unsigned)strtoul(optarg, &end, 10); break;
        case 'I': ac.idle_timeout_ms = (unsigned)strtoul(optarg, &end, 10); break;
        case 'C': ac.max_conns = (unsigned)strtoul(optarg, &end, 10); break;
        case 'S':
            if (sched_strategy_parse(optarg, &schc.strategy)) {
                fprintf(stderr, "berthd: --scheduler-strategy: want binpack or spread, got %s\n", optarg);
                return 2;
            }
            break;
        case 'G': schc.node_grace_ms = (unsigned)strtoul(optarg, &end, 10) * 1000; break;
        case 'E': schc.eviction_toleration_ms = (unsigned)strtoul(optarg, &end, 10) * 1000; break;
        case 'V':
            clc.voters = (unsigned)strtoul(optarg, &end, 10);
            if (!*end && clc.voters != 3 && clc.voters != 5) {
                fprintf(stderr, "berthd: --voters: want 3 or 5, got %s\n", optarg);
                return 2;
            }
            break;
        case 'g': clc.voter_grace_ms = (unsigned)strtoul(optarg, &end, 10) * 1000; break;
        case 'T': restore = optarg; break;
        case 'X': recover = true; break;
        case 'W':
            if (strcmp(optarg, "on") && strcmp(optarg, "off")) {
                fprintf(stderr, "berthd: --api-body-worker: want on or off, got %s\n", optarg);
                return 2;
            }
            ac.no_body_worker = !strcmp(optarg, "off");
            break;
        case 'P': ctrl_hpa_set_sync_period_ms((unsigned)strtoul(optarg, &end, 10) * 1000); break;
        case 'w': sc.watch_window = (unsigned)strtoul(optarg, &end, 10); break;
        case 'v':
            if (!strcmp(optarg, "debug")) log_set_level(LOG_DEBUG);
            else if (!strcmp(optarg, "info")) log_set_level(LOG_INFO);
            else if (!strcmp(optarg, "warn")) log_set_level(LOG_WARN);
            else if (!strcmp(optarg, "error")) log_set_level(LOG_ERROR);
            else { fprintf(stderr, "berthd: --log-level: unknown level %s\n", optarg); return 2; }
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
        if (end && *end) { fprintf(stderr, "berthd: a numeric flag got %s\n", optarg); return 2; }
    }
    if (optind < argc) { fprintf(stderr, "berthd: unexpected argument %s\n", argv[optind]); return 2; }
    char host[200], rhost[200];
    int port, rport;
    if (split_hostport(listen, host, sizeof host, &port)) {
        fprintf(stderr, "berthd: --listen %s: want HOST:PORT\n", listen);
        return 2;
    }
    if (split_hostport(raft, rhost, sizeof rhost, &rport)) {
        fprintf(stderr, "berthd: --raft %s: want HOST:PORT\n", raft);
        return 2;
    }
    if (sc.election_timeout_ms && sc.heartbeat_ms && sc.heartbeat_ms >= sc.election_timeout_ms) {
        fprintf(stderr, "berthd: --heartbeat-ms must be below --election-timeout-ms\n");
        return 2;
    }
    if ((join != NULL) + (restore != NULL) + recover > 1) {
        fprintf(stderr, "berthd: --join, --restore and --recover exclude each other\n");
        return 2;
    }
    bool has_state = false, has_files = false;
    if (dir_scan(data_dir, &has_state, &has_files)) {
        fprintf(stderr, "berthd: --data-dir %s: unusable: %s\n", data_dir, strerror(errno));
        return 1;
    }
    if (restore && has_files) {
        fprintf(stderr, "berthd: --restore needs an empty --data-dir; %s is not empty\n", data_dir);
        return 1;
    }
    if (recover && !has_state) {
        fprintf(stderr, "berthd: --recover needs the data dir of a surviving member; %s holds no raft state\n",
                data_dir);
        return 1;
    }
    if (ensure_dir(data_dir)) {
        fprintf(stderr, "berthd: --data-dir %s: unusable: %s\n", data_dir, strerror(errno));
        return 1;
    }
    snprintf(d.marker, sizeof d.marker, "%s/restore-pending", data_dir);
    if (!restore && access(d.marker, F_OK) == 0) {
        fprintf(stderr, "berthd: an earlier --restore into %s did not finish; empty the data dir and run "
                "--restore again\n", data_dir);
        return 1;
    }
    char *image = NULL;
    size_t image_len = 0;
    if (restore) {
        if (read_file(restore, &image, &image_len) || image_len == 0) {
            fprintf(stderr, "berthd: --restore %s: %s\n", restore, image_len ? strerror(errno) : "empty file");
            free(image);
            return 1;
        }
        FILE *m = fopen(d.marker, "w");
        if (!m) {
            fprintf(stderr, "berthd: --data-dir %s: %s\n", data_dir, strerror(errno));
            free(image);
            return 1;
        }
        fclose(m);
        sc.restore = image;
        sc.restore_len = image_len;
        d.restoring = true;
    }
    sc.join = join != NULL;
    sc.recover = recover;
    const char *adv = advertise ? advertise : (strcmp(host, "0.0.0.0") ? host : "127.0.0.1");
    snprintf(d.api_url, sizeof d.api_url, "http://%s:%d", adv, port);
    snprintf(d.raft_addr, sizeof d.raft_addr, "%s:%d", strcmp(rhost, "0.0.0.0") ? rhost : adv, rport);

    d.loop = uv_default_loop();
    sc.name = d.name;
    sc.data_dir = data_dir;
    sc.raft_address = d.raft_addr;
    sc.on_leader_change = on_leader_change;
    sc.data = &d;
    char err[512] = "";
    int rc = store_open(d.loop, &sc, &d.store, err, sizeof err);
    free(image);
    sc.restore = NULL;
    if (rc && restore) unlink(d.marker);
    if (rc) {
        fprintf(stderr, "berthd: cannot open the store in %s: %s\n", data_dir, err[0] ? err : be_strerror(rc));
        return 1;
    }
    rc = sched_new(d.loop, d.store, &schc, &d.sched);
    if (rc) {
        fprintf(stderr, "berthd: cannot start the scheduler: %s\n", be_strerror(rc));
        store_close(d.store, NULL, NULL);
        uv_run(d.loop, UV_RUN_DEFAULT);
        return 1;
    }
    rc = ctrl_manager_new(d.loop, d.store, NULL, &d.ctrl);
    if (rc) {
        fprintf(stderr, "berthd: cannot start the controllers: %s\n", be_strerror(rc));
        sched_close(d.sched, NULL, NULL);
        store_close(d.store, NULL, NULL);
        uv_run(d.loop, UV_RUN_DEFAULT);
        return 1;
    }
    ac.host = host;
    ac.port = port;
    ac.name = d.name;
    ac.raft_address = d.raft_addr;
    ac.advertise_url = d.api_url;
    ac.store = d.store;
    rc = api_server_start(d.loop, &ac, &d.api, err, sizeof err);
    if (rc) {
        fprintf(stderr, "berthd: cannot serve the API on %s: %s\n", listen, err);
        d.exit_code = 1;
        sched_close(d.sched, NULL, NULL);
        ctrl_manager_close(d.ctrl, NULL, NULL);
        store_close(d.store, NULL, NULL);
        uv_run(d.loop, UV_RUN_DEFAULT);
        return 1;
    }
    if (store_is_leader(d.store)) {
        api_server_leader_changed(d.api, true);
        sched_leader_changed(d.sched, true);
        ctrl_manager_leader_changed(d.ctrl, true);
    }
    uv_signal_init(d.loop, &d.sigint);
    uv_signal_init(d.loop, &d.sigterm);
    d.sigint.data = d.sigterm.data = &d;
    uv_signal_start(&d.sigint, on_signal, SIGINT);
    uv_signal_start(&d.sigterm, on_signal, SIGTERM);
    uv_timer_init(d.loop, &d.ready_timer);
    d.ready_timer.data = &d;
    uv_timer_start(&d.ready_timer, on_ready_poll, 10, 10);
    clc.join = join;
    clc.data_dir = data_dir;
    clc.on_removed = on_removed;
    clc.data = &d;
    if (api_cluster_start(d.api, &clc, err, sizeof err)) {
        fprintf(stderr, "berthd: %s\n", err);
        d.exit_code = 2;
        shut_down(&d);
    }
    uv_run(d.loop, UV_RUN_DEFAULT);
    uv_loop_close(d.loop);
    log_info("berthd", "stopped");
    return d.exit_code;
}
