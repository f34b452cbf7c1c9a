/* loadgen.c: berth-loadgen, the demo's open-loop HTTP load generator.
 *
 *   berth-loadgen --target HOST:PORT [--target ...] --profile T:RPS,T:RPS,...
 *                 [--stats FILE] [--max-inflight N] [--timeout-ms MS]
 *
 * The request rate follows the profile, a piecewise-linear curve of
 * (seconds since start, requests per second) points; the run ends at the
 * last point. Open loop: requests start on schedule whether or not earlier
 * ones finished (up to --max-inflight), so a slow service shows up as
 * latency and errors instead of a quietly lower rate. Each request is a new
 * TCP connection ("GET / HTTP/1.0"), so a Service proxy that balances
 * connections spreads them; targets are used in turn. Every second one CSV
 * line goes to --stats (and a summary to stderr at the end):
 *   elapsed_s,target_rps,ok,errors,inflight,mean_ms
 * One libuv loop, no threads. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define MAX_POINTS 64
#define MAX_TARGETS 16
#define TICK_MS 5

struct point {
    double t, rps;
};

static struct point prof[MAX_POINTS];
static int npoints;
static struct sockaddr_in targets[MAX_TARGETS];
static int ntargets, next_target;
static uv_loop_t *loop;
static uv_timer_t tick, second;
static uint64_t t0;
static double credit;
static int inflight, max_inflight = 500;
static unsigned timeout_ms = 10000;
static FILE *stats;
static unsigned long ok_s, err_s, ok_all, err_all;
static double lat_sum_s;

struct req {
    uv_tcp_t tcp;
    uv_connect_t creq;
    uv_write_t wreq;
    uv_timer_t timer;
    uint64_t start;
    char head[16];
    size_t got;
    int closing;
    int failed;
};

static double rate_at(double t)
{
    if (t <= prof[0].t) return prof[0].rps;
    for (int i = 1; i < npoints; i++)
        if (t <= prof[i].t) {
            double f = (t - prof[i - 1].t) / (prof[i].t - prof[i - 1].t);
            return prof[i - 1].rps + f * (prof[i].rps - prof[i - 1].rps);
        }
    return prof[npoints - 1].rps;
}

static void on_closed(uv_handle_t *h)
{
    struct req *r = h->data;
    if (++r->closing == 3) free(r);
}

static void finish(struct req *r, int failed)
{
    if (r->closing) return;
    r->closing = 1;
    inflight--;
    if (failed || r->got < 12 || strncmp(r->head, "HTTP/1.", 7) || strncmp(r->head + 9, "200", 3)) {
        err_s++;
        err_all++;
    } else {
        ok_s++;
        ok_all++;
        lat_sum_s += (double)(uv_now(loop) - r->start);
    }
    uv_close((uv_handle_t *)&r->timer, on_closed);
    uv_close((uv_handle_t *)&r->tcp, on_closed);
}

static void on_timeout(uv_timer_t *t) { finish(t->data, 1); }

static void on_alloc(uv_handle_t *h, size_t s, uv_buf_t *b)
{
    static char buf[65536];
    b->base = buf;
    b->len = sizeof buf;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct req *r = s->data;
    if (n > 0) {
        for (ssize_t i = 0; i < n && r->got < sizeof r->head - 1; i++) r->head[r->got++] = b->base[i];
    } else if (n < 0) {
        finish(r, n != UV_EOF);
    }
}

static void on_write(uv_write_t *w, int status)
{
    if (status < 0) finish(w->data, 1);
}

static void on_connect(uv_connect_t *c, int status)
{
    struct req *r = c->data;
    if (r->closing) return;
    if (status < 0) {
        finish(r, 1);
        return;
    }
    static char get[] = "GET / HTTP/1.0\r\nHost: demo\r\n\r\n";
    uv_buf_t b = uv_buf_init(get, sizeof get - 1);
    r->wreq.data = r;
    if (uv_write(&r->wreq, (uv_stream_t *)&r->tcp, &b, 1, on_write) < 0 ||
        uv_read_start((uv_stream_t *)&r->tcp, on_alloc, on_read) < 0)
        finish(r, 1);
}

static void start_request(void)
{
    struct req *r = calloc(1, sizeof *r);
    if (!r) return;
    inflight++;
    r->start = uv_now(loop);
    uv_tcp_init(loop, &r->tcp);
    uv_timer_init(loop, &r->timer);
    r->tcp.data = r->timer.data = r->creq.data = r;
    r->closing = 0;
    uv_timer_start(&r->timer, on_timeout, timeout_ms, 0);
    struct sockaddr_in *sa = &targets[next_target++ % ntargets];
    if (uv_tcp_connect(&r->creq, &r->tcp, (struct sockaddr *)sa, on_connect) < 0) finish(r, 1);
}

static void on_tick(uv_timer_t *t)
{
    double el = (double)(uv_now(loop) - t0) / 1000.0;
    if (el >= prof[npoints - 1].t) {
        uv_timer_stop(&tick);
        return;
    }
    credit += rate_at(el) * TICK_MS / 1000.0;
    while (credit >= 1) {
        credit -= 1;
        if (inflight < max_inflight) start_request();
        else {
            err_s++;
            err_all++;
        }
    }
}

static void on_second(uv_timer_t *t)
{
    double el = (double)(uv_now(loop) - t0) / 1000.0;
    if (stats) {
        fprintf(stats, "%.0f,%.1f,%lu,%lu,%d,%.1f\n", el, rate_at(el), ok_s, err_s, inflight,
                ok_s ? lat_sum_s / ok_s : 0.0);
        fflush(stats);
    }
    ok_s = err_s = 0;
    lat_sum_s = 0;
    if (el >= prof[npoints - 1].t) {
        uv_timer_stop(&second);
        uv_close((uv_handle_t *)&tick, NULL);
        uv_close((uv_handle_t *)&second, NULL);
    }
}

static int usage(void)
{
    fprintf(stderr, "usage: berth-loadgen --target HOST:PORT [--target ...] --profile T:RPS,T:RPS,...\n"
                    "                     [--stats FILE] [--max-inflight N] [--timeout-ms MS]\n");
    return 2;
}

static int parse_profile(char *s)
{
    for (char *tok = strtok(s, ","); tok; tok = strtok(NULL, ",")) {
        if (npoints == MAX_POINTS) return -1;
        char *colon = strchr(tok, ':');
        if (!colon) return -1;
        prof[npoints].t = atof(tok);
        prof[npoints].rps = atof(colon + 1);
        if (prof[npoints].rps < 0 || (npoints && prof[npoints].t <= prof[npoints - 1].t)) return -1;
        npoints++;
    }
    return npoints >= 2 ? 0 : -1;
}

int main(int argc, char **argv)
{
    const char *stats_path = NULL;
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc) return usage();
        if (!strcmp(argv[i], "--target")) {
            char host[64];
            int port;
            if (ntargets == MAX_TARGETS || sscanf(argv[++i], "%63[^:]:%d", host, &port) != 2 ||
                uv_ip4_addr(host, port, &targets[ntargets]))
                return usage();
            ntargets++;
        } else if (!strcmp(argv[i], "--profile")) {
            if (parse_profile(argv[++i])) return usage();
        } else if (!strcmp(argv[i], "--stats")) stats_path = argv[++i];
        else if (!strcmp(argv[i], "--max-inflight")) max_inflight = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--timeout-ms")) timeout_ms = (unsigned)atoi(argv[++i]);
        else return usage();
    }
    if (!ntargets || npoints < 2 || max_inflight <= 0) return usage();
    if (stats_path && !(stats = fopen(stats_path, "w"))) {
        perror(stats_path);
        return 1;
    }
    if (stats) fprintf(stats, "elapsed_s,target_rps,ok,errors,inflight,mean_ms\n");
    loop = uv_default_loop();
    t0 = uv_now(loop);
    uv_timer_init(loop, &tick);
    uv_timer_init(loop, &second);
    uv_timer_start(&tick, on_tick, TICK_MS, TICK_MS);
    uv_timer_start(&second, on_second, 1000, 1000);
    uv_run(loop, UV_RUN_DEFAULT);
    fprintf(stderr, "berth-loadgen: %lu ok, %lu errors\n", ok_all, err_all);
    if (stats) fclose(stats);
    return 0;
}
