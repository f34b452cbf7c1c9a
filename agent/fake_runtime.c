/* fake_runtime.c: the in-memory runtime of the unit tests (see
 * fake_runtime.h). Containers live in a growing array that is never
 * shrunk (removed ones are flagged), so pointers a test holds stay valid
 * until the runtime is closed. Ids follow the real runtime's pattern
 * "<pod uid>-<name>-<attempt>"; starting an id that is already live fails
 * with BE_EXISTS, which is how the tests catch a duplicate start. */
#include "agent/fake_runtime.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"

struct fake {
    rt_t rt;
    const int64_t *now_ms;
    struct fake_ctr *c;
    size_t n, cap;
    char images[16][64];
    int nimages;
    bool stubborn;
    atomic_int exec_result;
    struct fake_counts counts;
};

static struct fake *F(rt_t *rt) { return rt->impl; }

static time_t now_s(struct fake *f) { return (time_t)(*f->now_ms / 1000); }

struct fake_ctr *fake_rt_get(rt_t *rt, const char *id)
{
    struct fake *f = F(rt);
    for (size_t i = 0; i < f->n; i++)
        if (!strcmp(f->c[i].id, id))
            return &f->c[i];
    return NULL;
}

static struct fake_ctr *get_live(rt_t *rt, const char *id)
{
    struct fake *f = F(rt);
    for (size_t i = f->n; i-- > 0;)
        if (!strcmp(f->c[i].id, id) && !f->c[i].removed)
            return &f->c[i];
    return NULL;
}

struct fake_ctr *fake_rt_find(rt_t *rt, const char *pod_uid, const char *name)
{
    struct fake *f = F(rt);
    for (size_t i = f->n; i-- > 0;)
        if (!f->c[i].removed && !strcmp(f->c[i].pod_uid, pod_uid) && !strcmp(f->c[i].container, name))
            return &f->c[i];
    return NULL;
}

static bool has_image(struct fake *f, const char *image)
{
    if (!strcmp(image, "host"))
        return true;
    for (int i = 0; i < f->nimages; i++)
        if (!strcmp(f->images[i], image))
            return true;
    return false;
}

static int f_start(rt_t *rt, const struct rt_container_spec *s, char id_out[RT_ID_MAX], char *err,
                   size_t errlen)
{
    struct fake *f = F(rt);
    if (!s->argv || !s->argv[0]) {
        snprintf(err, errlen, "no command");
        return BE_INVAL;
    }
    if (!has_image(f, s->image)) {
        snprintf(err, errlen, "image \"%s\" not found in /fake/images", s->image);
        return BE_NOTFOUND;
    }
    char id[RT_ID_MAX];
    snprintf(id, sizeof id, "%s-%s-%d", s->pod_uid, s->container, s->attempt);
    if (get_live(rt, id)) {
        snprintf(err, errlen, "container %s exists", id);
        return BE_EXISTS;
    }
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 16;
        struct fake_ctr *nc = realloc(f->c, cap * sizeof *nc);
        if (!nc)
            return BE_NOMEM;
        f->c = nc;
        f->cap = cap;
    }
    struct fake_ctr *c = &f->c[f->n++];
    memset(c, 0, sizeof *c);
    snprintf(c->id, sizeof c->id, "%s", id);
    snprintf(c->pod_uid, sizeof c->pod_uid, "%s", s->pod_uid);
    snprintf(c->container, sizeof c->container, "%s", s->container);
    snprintf(c->image, sizeof c->image, "%s", s->image);
    snprintf(c->argv0, sizeof c->argv0, "%s", s->argv[0]);
    snprintf(c->workdir, sizeof c->workdir, "%s", s->working_dir ? s->working_dir : "/");
    for (char *const *e = s->env; e && *e; e++) {
        c->nenv++;
        size_t n = strlen(c->env);
        snprintf(c->env + n, sizeof c->env - n, "%s\n", *e);
    }
    for (char *const *v = s->argv; v && *v; v++) {
        size_t n = strlen(c->args);
        snprintf(c->args + n, sizeof c->args - n, "%s\n", *v);
    }
    c->attempt = s->attempt;
    c->cpu_limit = s->cpu_limit_millis;
    c->mem_limit = s->mem_limit_bytes;
    c->stop_grace = -1;
    c->st.phase = RT_RUNNING;
    c->st.pid = 1000 + (int)f->n;
    c->st.started_at = now_s(f);
    snprintf(id_out, RT_ID_MAX, "%s", id);
    f->counts.starts++;
    return 0;
}

int fake_rt_exit(rt_t *rt, const char *id, int code)
{
    struct fake *f = F(rt);
    struct fake_ctr *c = get_live(rt, id);
    if (!c || c->st.phase == RT_EXITED)
        return BE_NOTFOUND;
    c->st.phase = RT_EXITED;
    c->st.exit_code = code;
    c->st.signal = code > 128 ? code - 128 : 0;
    c->st.finished_at = now_s(f);
    snprintf(c->st.reason, sizeof c->st.reason, "%s", code == 0 ? "Completed" : "Error");
    return 0;
}

static int f_stop(rt_t *rt, const char *id, int grace)
{
    struct fake_ctr *c = get_live(rt, id);
    if (!c)
        return BE_NOTFOUND;
    F(rt)->counts.stops++;
    c->stop_grace = grace;
    if (!F(rt)->stubborn)
        fake_rt_exit(rt, id, 143);
    return 0;
}

static int f_status(rt_t *rt, const char *id, struct rt_status *st)
{
    struct fake_ctr *c = get_live(rt, id);
    if (!c)
        return BE_NOTFOUND;
    *st = c->st;
    return 0;
}

static int f_remove(rt_t *rt, const char *id)
{
    struct fake_ctr *c = get_live(rt, id);
    if (!c)
        return BE_NOTFOUND;
    if (c->st.phase != RT_EXITED)
        fake_rt_exit(rt, id, 137);
    c->removed = true;
    F(rt)->counts.removes++;
    return 0;
}

static int f_remove_pod(rt_t *rt, const char *pod_uid)
{
    F(rt)->counts.remove_pods++;
    return 0;
}

static int f_list(rt_t *rt, struct rt_found **out, size_t *n)
{
    struct fake *f = F(rt);
    *out = calloc(f->n + 1, sizeof **out);
    if (!*out)
        return BE_NOMEM;
    *n = 0;
    for (size_t i = 0; i < f->n; i++) {
        if (f->c[i].removed)
            continue;
        struct rt_found *r = &(*out)[(*n)++];
        snprintf(r->id, sizeof r->id, "%s", f->c[i].id);
        snprintf(r->pod_uid, sizeof r->pod_uid, "%s", f->c[i].pod_uid);
        snprintf(r->container, sizeof r->container, "%s", f->c[i].container);
        r->attempt = f->c[i].attempt;
    }
    return 0;
}

static int f_log_path(rt_t *rt, const char *id, char *buf, size_t len)
{
    if (!fake_rt_get(rt, id))
        return BE_NOTFOUND;
    snprintf(buf, len, "/tmp/berth-fake-logs/%s.log", id);
    return 0;
}

/* Runs on the thread pool: touches only the atomic result. */
static int f_exec_sync(rt_t *rt, const char *id, char *const *argv, int timeout_ms, char *out,
                       size_t outlen)
{
    snprintf(out, outlen, "fake exec %s", argv[0]);
    return atomic_load(&F(rt)->exec_result);
}

static int f_usage(rt_t *rt, const char *pod_uid, struct rt_usage *u)
{
    u->cpu_usage_ns = 1000000;
    u->memory_bytes = 4096;
    return 0;
}

static void f_close(rt_t *rt)
{
    struct fake *f = F(rt);
    free(f->c);
    free(f);
}

static const struct rt_ops fake_ops = {
    .start = f_start, .stop = f_stop, .status = f_status, .remove = f_remove,
    .remove_pod = f_remove_pod, .list = f_list, .log_path = f_log_path,
    .exec_sync = f_exec_sync, .usage = f_usage, .close = f_close,
};

rt_t *fake_rt_new(const int64_t *now_ms)
{
    struct fake *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->rt.ops = &fake_ops;
    f->rt.impl = f;
    f->now_ms = now_ms;
    return &f->rt;
}

void fake_rt_add_image(rt_t *rt, const char *image)
{
    struct fake *f = F(rt);
    if (f->nimages < 16)
        snprintf(f->images[f->nimages++], sizeof f->images[0], "%s", image);
}

void fake_rt_set_stubborn(rt_t *rt, bool stubborn) { F(rt)->stubborn = stubborn; }

void fake_rt_set_exec_result(rt_t *rt, int code) { atomic_store(&F(rt)->exec_result, code); }

int fake_rt_live(rt_t *rt)
{
    struct fake *f = F(rt);
    int n = 0;
    for (size_t i = 0; i < f->n; i++)
        n += !f->c[i].removed && f->c[i].st.phase != RT_EXITED;
    return n;
}

const struct fake_counts *fake_rt_counts(rt_t *rt) { return &F(rt)->counts; }
