/* cpuweb.c: the demo's web workload (berth-cpuweb): a tiny HTTP/1.0 server
 * whose CPU use grows with its request rate. Every request costs a fixed
 * amount of CPU time (--cost-ms, measured with the process CPU clock, so a
 * throttled container takes longer in wall time but burns the same CPU),
 * then gets "NAME served N\n" (NAME: --name, else the hostname, which Berth
 * sets to the pod name) and the connection is closed.
 *
 * Pods share the node's network (host networking), so several replicas on
 * one node bind the same port: the socket uses SO_REUSEPORT and the kernel
 * spreads the node's connections over them. Built static (-static) so it
 * runs inside the busybox image, which has no C library. One thread, one
 * request at a time: the queue is the listen backlog. */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static double cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Spins until ms of CPU time have been used; returns a value so the work
 * is not optimized away. */
static unsigned long burn(double ms)
{
    double until = cpu_ms() + ms;
    unsigned long x = 88172645463325252ul;
    while (cpu_ms() < until)
        for (int i = 0; i < 2000; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
        }
    return x;
}

static void usage(void)
{
    fprintf(stderr, "usage: berth-cpuweb [--port N] [--cost-ms MS] [--name NAME]\n"
                    "  --port N      TCP port on all addresses (default $PORT or 8080)\n"
                    "  --cost-ms MS  CPU milliseconds per request (default $COST_MS or 20)\n"
                    "  --name NAME   name in the answers (default: the hostname)\n");
    exit(2);
}

int main(int argc, char **argv)
{
    int port = getenv("PORT") ? atoi(getenv("PORT")) : 8080;
    double cost = getenv("COST_MS") ? atof(getenv("COST_MS")) : 20;
    char name[256] = "";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--port") && i + 1 < argc) port = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--cost-ms") && i + 1 < argc) cost = atof(argv[++i]);
        else if (!strcmp(argv[i], "--name") && i + 1 < argc) snprintf(name, sizeof name, "%s", argv[++i]);
        else usage();
    }
    if (port <= 0 || port > 65535 || cost < 0) usage();
    if (!name[0] && gethostname(name, sizeof name - 1)) snprintf(name, sizeof name, "cpuweb");
    signal(SIGPIPE, SIG_IGN);

    int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    if (s < 0) {
        perror("socket");
        return 1;
    }
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(s, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_ANY)};
    if (bind(s, (struct sockaddr *)&sa, sizeof sa) || listen(s, 1024)) {
        fprintf(stderr, "berth-cpuweb: port %d: %s\n", port, strerror(errno));
        return 1;
    }
    printf("berth-cpuweb %s: port %d, %.1f ms of CPU per request\n", name, port, cost);
    fflush(stdout);
    unsigned long served = 0, sink = 0;
    for (;;) {
        int c = accept(s, NULL, NULL);
        if (c < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            perror("accept");
            return 1;
        }
        struct timeval tv = {.tv_sec = 5};
        setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        /* read the request head (up to the blank line, or whatever comes) */
        char req[4096];
        size_t got = 0;
        while (got < sizeof req - 1) {
            ssize_t n = read(c, req + got, sizeof req - 1 - got);
            if (n <= 0) break;
            got += (size_t)n;
            req[got] = '\0';
            if (strstr(req, "\r\n\r\n") || strstr(req, "\n\n")) break;
        }
        sink += burn(cost);
        served++;
        char body[400], resp[600];
        int bl = snprintf(body, sizeof body, "%s served %lu\n", name, served);
        int rl = snprintf(resp, sizeof resp,
                          "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
                          "Connection: close\r\n\r\n%s",
                          bl, body);
        if (write(c, resp, (size_t)rl) < 0) { /* the client went away */ }
        close(c);
        if (sink == 42) fputc('.', stderr); /* keeps burn() observable */
    }
}
