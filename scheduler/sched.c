/* sched.c: the scheduler's life (sched.h): creation, leadership changes,
 * its two timers and close.
 *
 * On gaining leadership the caches are built and watched (cache.c), the
 * round timer runs a scheduling round (round.c) at the next loop iteration
 * whenever pods wait and fewer than max_rounds_inflight proposals are in
 * flight, and the tick timer (every 500 ms) runs the node lifecycle and the
 * retries of unschedulable pods (lifecycle.c). On losing it the epoch moves
 * on, the caches are dropped and the timers stop: answers to proposals made
 * under the old epoch are ignored when they arrive. Without a loop (tests
 * over the raft fixture) there are no timers; the test calls the hooks. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/errors.h"
#include "common/log.h"
#include "scheduler/sched_int.h"

#define TICK_MS 500

static int64_t real_clock(void *data)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t sched_now(struct sched *s)
{
    return s->cfg.now_ms(s->cfg.clock_data);
}

int sched_strategy_parse(const char *text, enum sched_strategy *out)
{
    if (text && !strcmp(text, "binpack"))
        *out = SCHED_BINPACK;
    else if (text && !strcmp(text, "spread"))
        *out = SCHED_SPREAD;
    else
        return BE_INVAL;
    return 0;
}

static void on_round_timer(uv_timer_t *t)
{
    struct sched *s = t->data;
    s->round_armed = false;
    sched_run_round(s);
}

static void on_tick_timer(uv_timer_t *t)
{
    sched_tick(t->data);
}

void sched_kick(struct sched *s)
{
    if (!s->loop || s->round_armed || !s->leader || !s->nactive ||
        s->ninflight >= s->cfg.max_rounds_inflight)
        return;
    s->round_armed = true;
    uv_timer_start(&s->round_timer, on_round_timer, 0, 0);
}

int sched_new(uv_loop_t *loop, store_t *store, const struct sched_config *cfg,
              sched_t **out)
{
    if (!store || !out)
        return BE_INVAL;
    struct sched *s = calloc(1, sizeof *s);
    if (!s)
        return BE_NOMEM;
    if (cfg)
        s->cfg = *cfg;
    if (s->cfg.strategy != SCHED_BINPACK && s->cfg.strategy != SCHED_SPREAD) {
        free(s);
        return BE_INVAL;
    }
    if (!s->cfg.node_grace_ms)
        s->cfg.node_grace_ms = 40000;
    if (!s->cfg.eviction_toleration_ms)
        s->cfg.eviction_toleration_ms = 30000;
    if (!s->cfg.max_round_pods)
        s->cfg.max_round_pods = 4096;
    if (!s->cfg.max_rounds_inflight)
        s->cfg.max_rounds_inflight = 4;
    if (!s->cfg.now_ms)
        s->cfg.now_ms = real_clock;
    s->loop = loop;
    s->store = store;
    dl_init(&s->active);
    dl_init(&s->unsched);
    if (loop) {
        uv_timer_init(loop, &s->round_timer);
        uv_timer_init(loop, &s->tick_timer);
        s->round_timer.data = s->tick_timer.data = s;
    }
    *out = s;
    return 0;
}

static void stop(struct sched *s)
{
    s->leader = false;
    s->epoch++;
    cache_stop(s);
    if (s->loop) {
        uv_timer_stop(&s->round_timer);
        uv_timer_stop(&s->tick_timer);
        s->round_armed = false;
    }
}

void sched_leader_changed(sched_t *s, bool is_leader)
{
    if (s->closing || is_leader == s->leader)
        return;
    if (!is_leader) {
        log_info(SCHED_COMP, "leadership lost: scheduler stopped");
        stop(s);
        return;
    }
    s->leader = true;
    s->epoch++;
    s->leader_since_ms = s->last_flush_ms = sched_now(s);
    int rc = cache_start(s);
    if (rc) {
        log_error(SCHED_COMP, "cannot start: %s", be_strerror(rc));
        stop(s);
        return;
    }
    log_info(SCHED_COMP, "leading: %zu nodes, %zu pods, %zu pending",
             s->nnodes, s->pods.n, s->nactive);
    if (s->loop)
        uv_timer_start(&s->tick_timer, on_tick_timer, TICK_MS, TICK_MS);
    sched_kick(s);
}

void sched_tick(sched_t *s)
{
    if (s->leader)
        lifecycle_tick(s);
}

void sched_get_stats(sched_t *s, struct sched_stats *st)
{
    *st = s->st;
    st->nodes = s->nnodes;
    st->pods = s->pods.n;
    st->pending = s->nactive + s->nunsched;
    st->inflight = s->ninflight;
}

static void on_handle_closed(uv_handle_t *h)
{
    struct sched *s = h->data;
    if (--s->open_handles)
        return;
    if (s->close_cb)
        s->close_cb(s->close_data);
    free(s);
}

void sched_close(sched_t *s, void (*cb)(void *data), void *data)
{
    if (s->closing)
        return;
    if (s->leader)
        stop(s);
    s->closing = true;
    commits_detach(s);
    s->close_cb = cb;
    s->close_data = data;
    if (!s->loop) {
        if (cb)
            cb(data);
        free(s);
        return;
    }
    s->open_handles = 2;
    uv_close((uv_handle_t *)&s->round_timer, on_handle_closed);
    uv_close((uv_handle_t *)&s->tick_timer, on_handle_closed);
}
