/* test_agent_http.c: the agent's endpoint (agent/agent_http.c) over real TCP
 * with the fake runtime: /healthz, /metrics, logs with tailLines, and a
 * follow stream that sees appended lines and ends when the pod is gone.
 * The client is uvhttp on the same loop. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/fake_runtime.h"
#include "common/errors.h"
#include "tests/unit/unit.h"

static uv_loop_t loop;
static int64_t now_ms = 1700000000000LL;
static char got[4096];
static int got_status, ends;

static int64_t fake_now(void *d) { return *(int64_t *)d; }

static void on_res(void *data, int rc, int status, const char *body, size_t len)
{
    got_status = rc < 0 ? rc : status;
    snprintf(got, sizeof got, "%.*s", (int)len, body);
    ends++;
}

static void on_guard(uv_timer_t *t) { uv_stop(t->loop); }

static void run_until(int *flag, int want, int ms)
{
    uv_timer_t guard;
    uv_timer_init(&loop, &guard);
    uv_timer_start(&guard, on_guard, (uint64_t)ms, 0);
    while (*flag < want && uv_timer_get_due_in(&guard) > 0)
        uv_run(&loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&guard, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
}

static void get(uvhttp_t *c, const char *path)
{
    int before = ends;
    got[0] = '\0';
    CHECK_INT(uvhttp_request(c, "GET", path, NULL, NULL, 0, on_res, NULL), 0);
    run_until(&ends, before + 1, 3000);
}

static char streamed[4096];
static size_t nstreamed;
static int s_data(void *d, const char *buf, size_t len)
{
    if (nstreamed + len < sizeof streamed) {
        memcpy(streamed + nstreamed, buf, len);
        nstreamed += len;
        streamed[nstreamed] = '\0';
    }
    return 0;
}

static void append(const char *path, const char *text)
{
    FILE *f = fopen(path, "a");
    fputs(text, f);
    fclose(f);
}

static void on_stopped(void *d) { *(int *)d = 1; }

static void test_endpoint(void)
{
    uv_loop_init(&loop);
    rt_t *rt = fake_rt_new(&now_ms);
    struct agent_config cfg = {.name = "n1", .host_ip = "127.0.0.1", .listen_host = "127.0.0.1"};
    struct agent *a;
    char err[256];
    CHECK_INT(agent_new(&loop, &cfg, rt, &a, err, sizeof err), 0);
    a->clock = (struct agent_clock){fake_now, &now_ms};
    CHECK_INT(agent_http_start(a, err, sizeof err), 0);
    agent_watch_start(a);
    json_t *pod = json_pack("{s:{s:s,s:s,s:s},s:{s:[{s:s,s:s,s:[s]}]}}", "metadata", "uid", "u1",
                            "name", "p1", "namespace", "ns", "spec", "containers", "name", "c",
                            "image", "host", "command", "/bin/true");
    agent_pod_upsert(a, pod);
    json_decref(pod);
    struct fake_ctr *fc = fake_rt_find(rt, "u1", "c");
    CHECK(fc != NULL);
    char path[256];
    rt->ops->log_path(rt, fc->id, path, sizeof path);
    mkdir("/tmp/berth-fake-logs", 0700);
    unlink(path);
    append(path, "one\ntwo\nthree\nfour\n");

    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", a->cfg.listen_port);
    uvhttp_t *c;
    CHECK_INT(uvhttp_new(&loop, url, NULL, &c, err, sizeof err), 0);
    get(c, "/healthz");
    CHECK_STR(got, "ok");
    get(c, "/logs/ns/p1/c");
    CHECK_INT(got_status, 200);
    CHECK_STR(got, "one\ntwo\nthree\nfour\n");
    get(c, "/logs/ns/p1/c?tailLines=2");
    CHECK_STR(got, "three\nfour\n");
    get(c, "/logs/ns/p1/c?tailLines=0");
    CHECK_STR(got, "");
    get(c, "/logs/ns/p1/c?tailLines=99");
    CHECK_STR(got, "one\ntwo\nthree\nfour\n");
    get(c, "/logs/ns/nope/c");
    CHECK_INT(got_status, 404);
    get(c, "/logs/ns/p1/zz");
    CHECK_INT(got_status, 400);
    get(c, "/metrics");
    CHECK(strstr(got, "berth_agent_pods 1\n") != NULL);
    CHECK(strstr(got, "berth_pod_memory_bytes{namespace=\"ns\",pod=\"p1\"} 4096") != NULL);

    /* follow: sees appended bytes, ends when the pod is gone */
    uvhttp_stream_t *s;
    int before = ends;
    struct uvhttp_stream_opts o = {.path = "/logs/ns/p1/c?follow=true&tailLines=1",
                                   .on_data = s_data, .on_end = on_res};
    CHECK_INT(uvhttp_stream(c, &o, &s), 0);
    run_until(&ends, before + 1, 300);
    append(path, "five\n");
    run_until(&ends, before + 1, 600);
    CHECK_STR(streamed, "four\nfive\n");
    CHECK_INT(ends, before);
    agent_pod_gone(a, "u1");
    run_until(&ends, before + 1, 3000);
    CHECK_INT(ends, before + 1);
    CHECK_INT(got_status, 200);

    int closed = 0, stopped = 0;
    uvhttp_close(c, on_stopped, &closed);
    agent_stop(a, on_stopped, &stopped);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_INT(closed + stopped, 2);
    agent_free(a);
    rt->ops->close(rt);
    unlink(path);
    CHECK_INT(uv_loop_close(&loop), 0);
}

int main(void)
{
    RUN(test_endpoint);
    UNIT_EXIT();
}
