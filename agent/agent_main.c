/* agent_main.c: the berth-agent process. `berth-agent shim ...` is the
 * runtime's shim and goes straight to rt_shim_main(). Otherwise: parse the
 * flags (design §3), open the Linux runtime over DATA_DIR/containers and
 * DATA_DIR/logs, start the agent on one libuv loop, print one ready line once
 * the Node is registered, and on SIGINT/SIGTERM stop the agent's own work
 * while leaving every container running: the next start adopts them. */
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/quantity.h"

static struct {
    uv_loop_t *loop;
    struct agent *agent;
    rt_t *rt;
    uv_signal_t sigint, sigterm;
    bool stopping;
} g;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: berth-agent [flags]\n"
            "  --server URL[,URL...]     API servers (default http://127.0.0.1:7070)\n"
            "  --name NAME               node name (default: hostname)\n"
            "  --data-dir DIR            container state and logs (default /var/lib/berth-agent)\n"
            "  --listen HOST:PORT        logs/metrics endpoint (default 127.0.0.1:7080)\n"
            "  --cpu MILLICORES          cpu capacity to advertise (default: the machine's)\n"
            "  --memory QUANTITY         memory capacity, e.g. 8Gi (default: the machine's)\n"
            "  --labels k=v,...          node labels\n"
            "  --image-dir DIR           images: DIR/NAME/ is a root filesystem (default DATA_DIR/images)\n"
            "  --status-interval-ms N    pod status batch interval (default 1000)\n"
            "  --backoff-base-ms N       restart back-off base (default 10000)\n"
            "  --heartbeat-s N           lease renewal period (default 10)\n"
            "  --metrics-interval-s N    cpu/memory sampling and report period (default 10)\n"
            "  --log-level LEVEL         debug, info, warn, error (default info)\n");
}

static int split_hostport(const char *s, char *host, size_t hlen, int *port)
{
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s || (size_t)(colon - s) >= hlen)
        return -1;
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (*end || p < 0 || p > 65535)
        return -1;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = 0;
    *port = (int)p;
    return 0;
}

static int split_servers(char *list, struct agent_config *cfg)
{
    char *save = NULL;
    for (char *u = strtok_r(list, ",", &save); u; u = strtok_r(NULL, ",", &save)) {
        if (cfg->nservers == AGENT_MAX_SERVERS)
            return -1;
        cfg->servers[cfg->nservers++] = u;
    }
    return cfg->nservers ? 0 : -1;
}

static void on_ready(struct agent *a)
{
    printf("berth-agent ready: node=%s listen=%s:%d server=%s runtime=%s\n", a->cfg.name,
           a->cfg.listen_host, a->cfg.listen_port, a->cfg.servers[a->cur],
           a->rt->isolated ? "isolated" : "plain");
    fflush(stdout);
}

static void on_stopped(void *data)
{
    uv_close((uv_handle_t *)&g.sigint, NULL);
    uv_close((uv_handle_t *)&g.sigterm, NULL);
}

static void on_signal(uv_signal_t *s, int signum)
{
    if (g.stopping)
        return;
    g.stopping = true;
    log_info(AGENT_COMP, "signal %d: stopping (containers keep running)", signum);
    agent_stop(g.agent, on_stopped, NULL);
}

static int fail(const char *fmt, const char *arg)
{
    fprintf(stderr, "berth-agent: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n");
    return 2;
}

static unsigned parse_uint(const char *s, bool *bad)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*end || v <= 0 || v > 100000000)
        *bad = true;
    return (unsigned)v;
}

/* Parses flags into cfg; returns 0, 1 (help printed) or 2 (bad flag). */
static int parse_flags(int argc, char **argv, struct agent_config *cfg, char *host, size_t hlen)
{
    enum { O_SRV = 1, O_NAME, O_DATA, O_LISTEN, O_CPU, O_MEM, O_LABELS, O_IMG, O_STI, O_BO, O_HB, O_LOG, O_HELP, O_MI };
    static const struct option opts[] = {
        {"server", 1, 0, O_SRV}, {"name", 1, 0, O_NAME}, {"data-dir", 1, 0, O_DATA},
        {"listen", 1, 0, O_LISTEN}, {"cpu", 1, 0, O_CPU}, {"memory", 1, 0, O_MEM},
        {"labels", 1, 0, O_LABELS}, {"image-dir", 1, 0, O_IMG}, {"status-interval-ms", 1, 0, O_STI},
        {"backoff-base-ms", 1, 0, O_BO}, {"heartbeat-s", 1, 0, O_HB}, {"log-level", 1, 0, O_LOG},
        {"metrics-interval-s", 1, 0, O_MI},
        {"help", 0, 0, O_HELP}, {0, 0, 0, 0}};
    static char servers[4096] = "http://127.0.0.1:7070";
    const char *listen = "127.0.0.1:7080";
    bool bad = false;
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case O_SRV: snprintf(servers, sizeof servers, "%s", optarg); break;
        case O_NAME: cfg->name = optarg; break;
        case O_DATA: cfg->data_dir = optarg; break;
        case O_LISTEN: listen = optarg; break;
        case O_CPU:
            if (quantity_cpu_millis(optarg, &cfg->cpu_millis) != 0 || cfg->cpu_millis <= 0)
                return fail("bad --cpu \"%s\": want millicores, e.g. 4000", optarg);
            if (!strpbrk(optarg, "m.")) /* a plain number is millicores here */
                cfg->cpu_millis /= 1000;
            break;
        case O_MEM:
            if (quantity_bytes(optarg, &cfg->mem_bytes) != 0 || cfg->mem_bytes <= 0)
                return fail("bad --memory \"%s\": want a quantity, e.g. 8Gi", optarg);
            break;
        case O_LABELS: cfg->labels = optarg; break;
        case O_IMG: cfg->image_dir = optarg; break;
        case O_STI: cfg->status_interval_ms = parse_uint(optarg, &bad); break;
        case O_BO: cfg->backoff_base_ms = parse_uint(optarg, &bad); break;
        case O_HB: cfg->heartbeat_s = parse_uint(optarg, &bad); break;
        case O_MI:
            cfg->metrics_interval_ms = parse_uint(optarg, &bad) * 1000;
            if (cfg->metrics_interval_ms > 3600 * 1000) bad = true;
            break;
        case O_LOG:
            if (!strcmp(optarg, "debug")) log_set_level(LOG_DEBUG);
            else if (!strcmp(optarg, "info")) log_set_level(LOG_INFO);
            else if (!strcmp(optarg, "warn")) log_set_level(LOG_WARN);
            else if (!strcmp(optarg, "error")) log_set_level(LOG_ERROR);
            else return fail("bad --log-level \"%s\"", optarg);
            break;
        case O_HELP: usage(stdout); return 1;
        default: usage(stderr); return 2;
        }
        if (bad)
            return fail("bad value \"%s\": want a positive integer", optarg);
    }
    if (optind < argc)
        return fail("unexpected argument \"%s\"", argv[optind]);
    if (split_servers(servers, cfg) != 0)
        return fail("bad --server \"%s\"", servers);
    if (split_hostport(listen, host, hlen, &cfg->listen_port) != 0)
        return fail("bad --listen \"%s\": want HOST:PORT", listen);
    cfg->listen_host = host;
    return 0;
}

static int make_dirs(const char *data_dir, char *state, char *logs, size_t len)
{
    snprintf(state, len, "%s/containers", data_dir);
    snprintf(logs, len, "%s/logs", data_dir);
    const char *dirs[] = {data_dir, state, logs};
    for (int i = 0; i < 3; i++)
        if (mkdir(dirs[i], 0700) != 0 && access(dirs[i], W_OK) != 0)
            return -1;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "shim"))
        return rt_shim_main(argc, argv);
    signal(SIGPIPE, SIG_IGN);
    log_init_from_env();
    struct agent_config cfg = {.data_dir = "/var/lib/berth-agent"};
    char host[256], err[512];
    int rc = parse_flags(argc, argv, &cfg, host, sizeof host);
    if (rc)
        return rc == 1 ? 0 : 2;
    if (!cfg.cpu_millis)
        cfg.cpu_millis = (int64_t)sysconf(_SC_NPROCESSORS_ONLN) * 1000;
    if (!cfg.mem_bytes)
        cfg.mem_bytes = (int64_t)uv_get_total_memory();
    char state[PATH_MAX], logs[PATH_MAX], exe[PATH_MAX];
    if (make_dirs(cfg.data_dir, state, logs, sizeof state) != 0)
        return fail("cannot use --data-dir \"%s\"", cfg.data_dir);
    char images[PATH_MAX];
    if (!cfg.image_dir) { /* default: DATA_DIR/images */
        snprintf(images, sizeof images, "%s/images", cfg.data_dir);
        mkdir(images, 0700);
        cfg.image_dir = images;
    }
    size_t exelen = sizeof exe;
    if (uv_exepath(exe, &exelen) != 0)
        return fail("cannot find my own executable%s", "");
    struct rt_config rc_cfg = {.state_dir = state, .log_dir = logs, .image_dir = cfg.image_dir,
                               .shim_path = exe};
    if (rt_linux_open(&rc_cfg, &g.rt, err, sizeof err) != 0)
        return fail("runtime: %s", err);
    g.loop = uv_default_loop();
    if (agent_new(g.loop, &cfg, g.rt, &g.agent, err, sizeof err) != 0)
        return fail("%s", err);
    g.agent->on_ready = on_ready;
    if (agent_start(g.agent, err, sizeof err) != 0) {
        fprintf(stderr, "berth-agent: %s\n", err);
        return 1;
    }
    uv_signal_init(g.loop, &g.sigint);
    uv_signal_init(g.loop, &g.sigterm);
    uv_signal_start(&g.sigint, on_signal, SIGINT);
    uv_signal_start(&g.sigterm, on_signal, SIGTERM);
    uv_run(g.loop, UV_RUN_DEFAULT);
    agent_free(g.agent);
    g.rt->ops->close(g.rt);
    uv_loop_close(g.loop);
    log_info(AGENT_COMP, "stopped");
    return 0;
}
