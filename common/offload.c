/* offload.c: see offload.h. Two intrusive FIFO lists under one mutex:
 * `in` (loop to worker) and `out` (worker to loop). The worker takes the
 * oldest item of `in`, runs work() and moves it to `out`; the loop's async
 * callback takes all of `out` and runs done() in order. Items marked
 * loop_may_run can also be taken from `in` by the loop itself (on_steal),
 * which then runs work() and done() back to back.
 *
 * Stopping: offload_stop() sets `stopping`; the worker drains `in`, sets
 * `exited` and wakes the loop a last time. The async callback that sees
 * `exited` with `out` empty joins the thread (it has nothing left but to
 * return) and closes both handles; o is freed in the last close callback. */
#include "common/offload.h"

#include <assert.h>
#include <stdbool.h>
#include <stdlib.h>

#include "common/errors.h"

struct offload {
    uv_loop_t *loop;
    uv_async_t async;
    uv_idle_t steal;   /* active while the loop may take items from `in` */
    uv_thread_t thread;
    uv_mutex_t mu;
    uv_cond_t cv;
    /* guarded by mu */
    struct offload_item *in, **in_tail;
    struct offload_item *out, **out_tail;
    bool worker_asleep;
    bool stopping;
    bool exited;
    /* loop thread only */
    unsigned pending;
    bool joined;
    int open_handles;  /* freed when the last one is closed */
    void (*stop_cb)(void *data);
    void *stop_data;
};

/* The oldest queued item; o->mu held, `in` not empty. */
static struct offload_item *in_pop(offload_t *o)
{
    struct offload_item *it = o->in;
    o->in = it->next;
    if (!o->in)
        o->in_tail = &o->in;
    return it;
}

static void worker_main(void *arg)
{
    offload_t *o = arg;
    uv_mutex_lock(&o->mu);
    for (;;) {
        while (!o->in && !o->stopping) {
            o->worker_asleep = true;
            uv_cond_wait(&o->cv, &o->mu);
            o->worker_asleep = false;
        }
        if (!o->in)
            break; /* stopping, and nothing is left */
        struct offload_item *it = in_pop(o);
        uv_mutex_unlock(&o->mu);
        it->work(it);
        it->next = NULL;
        uv_mutex_lock(&o->mu);
        *o->out_tail = it;
        o->out_tail = &it->next;
        uv_mutex_unlock(&o->mu);
        uv_async_send(&o->async); /* a no-op while one is pending */
        uv_mutex_lock(&o->mu);
    }
    o->exited = true;
    uv_mutex_unlock(&o->mu);
    uv_async_send(&o->async);
}

static void on_closed(uv_handle_t *h)
{
    offload_t *o = h->data;
    if (--o->open_handles > 0)
        return;
    void (*cb)(void *) = o->stop_cb;
    void *data = o->stop_data;
    uv_cond_destroy(&o->cv);
    uv_mutex_destroy(&o->mu);
    free(o);
    if (cb)
        cb(data);
}

static void on_async(uv_async_t *h)
{
    offload_t *o = h->data;
    uv_mutex_lock(&o->mu);
    struct offload_item *done = o->out;
    o->out = NULL;
    o->out_tail = &o->out;
    bool exited = o->exited;
    uv_mutex_unlock(&o->mu);
    while (done) {
        struct offload_item *it = done;
        done = it->next; /* done() may free it */
        assert(o->pending > 0);
        o->pending--;
        it->done(it);
    }
    if (exited && !o->joined) {
        /* the worker set exited after its last hand-over: out stays empty */
        assert(o->pending == 0);
        uv_thread_join(&o->thread);
        o->joined = true;
        uv_close((uv_handle_t *)&o->async, on_closed);
        uv_close((uv_handle_t *)&o->steal, on_closed);
    }
}

/* While items the loop may run are queued, the loop takes the oldest one
 * in each iteration and finishes it itself, so both threads drain the
 * queue. One per iteration: the loop still polls for I/O between them (an
 * active idle handle makes that poll return at once). */
static void on_steal(uv_idle_t *h)
{
    offload_t *o = h->data;
    struct offload_item *it = NULL;
    uv_mutex_lock(&o->mu);
    if (o->in && o->in->loop_may_run)
        it = in_pop(o);
    uv_mutex_unlock(&o->mu);
    if (!it) {
        uv_idle_stop(h);
        return;
    }
    assert(o->pending > 0);
    o->pending--;
    it->work(it);
    it->done(it);
}

int offload_start(uv_loop_t *loop, offload_t **out)
{
    offload_t *o = calloc(1, sizeof *o);
    if (!o)
        return BE_NOMEM;
    o->loop = loop;
    o->in_tail = &o->in;
    o->out_tail = &o->out;
    if (uv_mutex_init(&o->mu))
        goto err_free;
    if (uv_cond_init(&o->cv))
        goto err_mutex;
    if (uv_async_init(loop, &o->async, on_async))
        goto err_cond;
    o->async.data = o;
    uv_idle_init(loop, &o->steal);
    o->steal.data = o;
    o->open_handles = 2;
    if (uv_thread_create(&o->thread, worker_main, o)) {
        /* the handles are open: free o in their close callbacks */
        uv_close((uv_handle_t *)&o->async, on_closed);
        uv_close((uv_handle_t *)&o->steal, on_closed);
        return BE_INTERNAL;
    }
    *out = o;
    return 0;

err_cond:
    uv_cond_destroy(&o->cv);
err_mutex:
    uv_mutex_destroy(&o->mu);
err_free:
    free(o);
    return BE_INTERNAL;
}

int offload_submit(offload_t *o, struct offload_item *it)
{
    assert(it->work && it->done);
    it->next = NULL;
    uv_mutex_lock(&o->mu);
    if (o->stopping) {
        uv_mutex_unlock(&o->mu);
        return BE_UNAVAIL;
    }
    *o->in_tail = it;
    o->in_tail = &it->next;
    bool wake = o->worker_asleep;
    uv_mutex_unlock(&o->mu);
    if (wake)
        uv_cond_signal(&o->cv);
    o->pending++;
    if (it->loop_may_run)
        uv_idle_start(&o->steal, on_steal); /* a no-op while active */
    return 0;
}

unsigned offload_pending(const offload_t *o)
{
    return o->pending;
}

void offload_stop(offload_t *o, void (*cb)(void *data), void *data)
{
    o->stop_cb = cb;
    o->stop_data = data;
    uv_mutex_lock(&o->mu);
    o->stopping = true;
    uv_mutex_unlock(&o->mu);
    uv_cond_signal(&o->cv);
}
