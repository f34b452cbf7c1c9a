/* test_offload.c: the worker thread beside the loop (common/offload.h):
 * work runs on the worker, done on the loop in submission order, every
 * submitted item is done exactly once even when stop comes first, a done
 * callback may submit more, and after stop the loop closes clean. Items the
 * loop may run are shared between the loop and the worker, and only
 * those ever run on the loop. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "common/errors.h"
#include "common/offload.h"
#include "unit.h"

struct job {
    struct offload_item item;
    int seq;
    long input, output;
    uv_thread_t ran_on;
    unsigned sleep_us;
};

static uv_thread_t loop_thread;
static int done_count, last_seq, out_of_order, wrong_thread, wrong_result;
static int ran_on_loop, ran_on_worker;
static unsigned char seen[4096];
static int chain_left;
static offload_t *chain_off;
static bool stopped;

static void job_work(struct offload_item *it)
{
    struct job *j = (struct job *)it;
    j->ran_on = uv_thread_self();
    if (j->sleep_us) {
        struct timespec ts = {0, (long)j->sleep_us * 1000};
        nanosleep(&ts, NULL);
    }
    j->output = j->input * j->input;
}

static void job_done(struct offload_item *it)
{
    struct job *j = (struct job *)it;
    uv_thread_t self = uv_thread_self();
    if (!uv_thread_equal(&self, &loop_thread)) wrong_thread++;
    if (uv_thread_equal(&j->ran_on, &loop_thread)) {
        ran_on_loop++;
        if (!j->item.loop_may_run) wrong_thread++;
    } else {
        ran_on_worker++;
    }
    if (j->output != j->input * j->input) wrong_result++;
    if (j->seq > 0 && j->seq < (int)sizeof seen) seen[j->seq]++;
    if (j->seq != last_seq + 1) out_of_order++;
    last_seq = j->seq;
    done_count++;
    free(j);
}

static struct job *job_new(int seq, unsigned sleep_us)
{
    struct job *j = calloc(1, sizeof *j);
    j->item.work = job_work;
    j->item.done = job_done;
    j->seq = seq;
    j->input = seq;
    j->sleep_us = sleep_us;
    return j;
}

static void reset(void)
{
    done_count = last_seq = out_of_order = wrong_thread = wrong_result = 0;
    ran_on_loop = ran_on_worker = 0;
    memset(seen, 0, sizeof seen);
    stopped = false;
    loop_thread = uv_thread_self();
}

static void on_stopped(void *data)
{
    (void)data;
    stopped = true;
}

static void test_order_and_threads(void)
{
    uv_loop_t loop;
    offload_t *o;
    reset();
    CHECK_INT(uv_loop_init(&loop), 0);
    CHECK_INT(offload_start(&loop, &o), 0);
    for (int i = 1; i <= 2000; i++)
        CHECK_INT(offload_submit(o, &job_new(i, 0)->item), 0);
    CHECK_INT(offload_pending(o), 2000);
    while (done_count < 2000)
        uv_run(&loop, UV_RUN_ONCE);
    CHECK_INT(offload_pending(o), 0);
    CHECK_INT(out_of_order, 0);
    CHECK_INT(wrong_thread, 0);
    CHECK_INT(wrong_result, 0);
    CHECK_INT(ran_on_loop, 0);
    offload_stop(o, on_stopped, NULL);
    CHECK_INT(uv_run(&loop, UV_RUN_DEFAULT), 0);
    CHECK(stopped);
    CHECK_INT(uv_loop_close(&loop), 0); /* no handle left behind */
}

/* Stop right after submitting slow items: every one still gets its done
 * callback, before the stop callback; a submit after stop is refused. */
static void test_stop_drains(void)
{
    uv_loop_t loop;
    offload_t *o;
    reset();
    CHECK_INT(uv_loop_init(&loop), 0);
    CHECK_INT(offload_start(&loop, &o), 0);
    for (int i = 1; i <= 50; i++)
        CHECK_INT(offload_submit(o, &job_new(i, 200)->item), 0);
    offload_stop(o, on_stopped, NULL);
    struct job *late = job_new(51, 0);
    CHECK_INT(offload_submit(o, &late->item), BE_UNAVAIL);
    free(late);
    CHECK_INT(uv_run(&loop, UV_RUN_DEFAULT), 0);
    CHECK(stopped);
    CHECK_INT(done_count, 50);
    CHECK_INT(out_of_order, 0);
    CHECK_INT(uv_loop_close(&loop), 0);
}

static void chain_done(struct offload_item *it)
{
    job_done(it);
    if (--chain_left > 0) {
        struct job *next = job_new(last_seq + 1, 0);
        next->item.done = chain_done;
        CHECK_INT(offload_submit(chain_off, &next->item), 0);
    } else {
        offload_stop(chain_off, on_stopped, NULL);
    }
}

/* A done callback submits the next item (what a create does when it is
 * answered and the client sends the next one): the worker, asleep by then,
 * is woken each time. */
static void test_submit_from_done(void)
{
    uv_loop_t loop;
    reset();
    CHECK_INT(uv_loop_init(&loop), 0);
    CHECK_INT(offload_start(&loop, &chain_off), 0);
    chain_left = 100;
    struct job *j = job_new(1, 0);
    j->item.done = chain_done;
    CHECK_INT(offload_submit(chain_off, &j->item), 0);
    CHECK_INT(uv_run(&loop, UV_RUN_DEFAULT), 0); /* ends once stopped and closed */
    CHECK(stopped);
    CHECK_INT(done_count, 100);
    CHECK_INT(out_of_order, 0);
    CHECK_INT(wrong_thread, 0);
    CHECK_INT(uv_loop_close(&loop), 0);
}

/* Items the loop may run: a queue of them is drained by both threads (the
 * loop takes one per iteration while the worker works on another), every
 * one is done exactly once, on the loop, and the ones not marked that way
 * still run only on the worker. Then a stop with shared items queued. */
static void test_shared(void)
{
    uv_loop_t loop;
    offload_t *o;
    reset();
    CHECK_INT(uv_loop_init(&loop), 0);
    CHECK_INT(offload_start(&loop, &o), 0);
    for (int i = 1; i <= 400; i++) {
        struct job *j = job_new(i, 300);
        j->item.loop_may_run = i % 4 != 0; /* every fourth one is "big" */
        CHECK_INT(offload_submit(o, &j->item), 0);
    }
    while (done_count < 400)
        uv_run(&loop, UV_RUN_ONCE);
    CHECK_INT(offload_pending(o), 0);
    CHECK_INT(wrong_thread, 0); /* includes a "big" one run on the loop */
    CHECK_INT(wrong_result, 0);
    int once = 0;
    for (int i = 1; i <= 400; i++) once += seen[i] == 1;
    CHECK_INT(once, 400);
    CHECK(ran_on_loop > 0);
    CHECK(ran_on_worker >= 100); /* at least the big ones */

    for (int i = 1001; i <= 1100; i++) {
        struct job *j = job_new(i, 200);
        j->item.loop_may_run = true;
        CHECK_INT(offload_submit(o, &j->item), 0);
    }
    offload_stop(o, on_stopped, NULL);
    CHECK_INT(uv_run(&loop, UV_RUN_DEFAULT), 0);
    CHECK(stopped);
    CHECK_INT(done_count, 500);
    once = 0;
    for (int i = 1001; i <= 1100; i++) once += seen[i] == 1;
    CHECK_INT(once, 100);
    CHECK_INT(wrong_thread, 0);
    CHECK_INT(uv_loop_close(&loop), 0);
}

int main(void)
{
    RUN(test_order_and_threads);
    RUN(test_stop_drains);
    RUN(test_submit_from_done);
    RUN(test_shared);
    UNIT_EXIT();
}
