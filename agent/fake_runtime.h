/* fake_runtime.h: an in-memory runtime (struct rt_ops) for unit tests.
 *
 * Containers "run" until the test makes them exit (fake_rt_exit) or the
 * agent stops them (stop() makes them exit at once with 143, SIGTERM, unless
 * fake_rt_set_stubborn). Images: "host" plus those added with
 * fake_rt_add_image; any other image fails start() with BE_NOTFOUND, as the
 * real runtime does. Times come from the clock the test gives (milliseconds
 * since the epoch), so back-off arithmetic is deterministic. Counters let a
 * test see what the agent did. */
#ifndef BERTH_FAKE_RUNTIME_H
#define BERTH_FAKE_RUNTIME_H

#include "agent/runtime.h"

struct fake_ctr {
    char id[RT_ID_MAX];
    char pod_uid[64], container[64], image[64], argv0[128], workdir[128];
    int attempt, nenv;
    char env[1024], args[512]; /* "\n"-joined, as the runtime got them */
    int64_t cpu_limit, mem_limit;
    struct rt_status st;
    int stop_grace;          /* -1: not asked to stop */
    bool removed;
};

struct fake_counts {
    int starts, stops, removes, remove_pods, execs;
};

/* now_ms: the test's clock (read at each call). */
rt_t *fake_rt_new(const int64_t *now_ms);
void fake_rt_add_image(rt_t *rt, const char *image);
/* The container (including removed ones), or NULL. */
struct fake_ctr *fake_rt_get(rt_t *rt, const char *id);
/* The newest live (not removed) container of pod_uid/name, or NULL. */
struct fake_ctr *fake_rt_find(rt_t *rt, const char *pod_uid, const char *name);
/* Makes a running container exit with code (>=128: killed by code-128). */
int fake_rt_exit(rt_t *rt, const char *id, int code);
void fake_rt_set_stubborn(rt_t *rt, bool stubborn);
/* Exit code exec_sync returns from now on. */
void fake_rt_set_exec_result(rt_t *rt, int code);
int fake_rt_live(rt_t *rt);  /* containers not removed and not exited */
const struct fake_counts *fake_rt_counts(rt_t *rt);

#endif
