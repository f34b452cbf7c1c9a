/* agent_pods.c: the agent's view of its pods: adoption of what the runtime
 * already runs, the list + watch of pods bound to this node, and the cache.
 *
 * Start-up: agent_adopt() asks the runtime for every container in its state
 * directory and makes a record per pod uid (no API object yet). Then a list
 * (GET /api/v1/pods?fieldSelector=spec.nodeName=NAME) fills in the objects;
 * once it is applied the cache is "synced": records the API does not know
 * are torn down, and from then on every change reconciles its pod. The watch
 * resumes from the last resourceVersion seen (list, events, bookmarks); a
 * 410 Gone (status or ERROR event) means relist. A broken watch is resumed
 * after a back-off (0.5 s doubling to 8 s), on the next server if the current
 * one cannot be reached. Records are keyed by uid in a list (a node runs at
 * most ~110 pods). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "common/errors.h"
#include "common/jsonutil.h"
#include "common/log.h"

#define WATCH_IDLE_MS 60000

struct apod *agent_pod_find(struct agent *a, const char *uid)
{
    for (struct apod *p = a->pods; p; p = p->next)
        if (!strcmp(p->uid, uid))
            return p;
    return NULL;
}

struct apod *agent_pod_by_name(struct agent *a, const char *ns, const char *name)
{
    struct apod *found = NULL;
    for (struct apod *p = a->pods; p; p = p->next)
        if (!strcmp(p->ns, ns) && !strcmp(p->name, name) && (!found || p->obj))
            found = p;
    return found;
}

struct acont *agent_cont_find(struct apod *p, const char *name)
{
    for (int i = 0; i < p->ncont; i++)
        if (!strcmp(p->conts[i].name, name))
            return &p->conts[i];
    return NULL;
}

static struct apod *pod_new(struct agent *a, const char *uid)
{
    struct apod *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    snprintf(p->uid, sizeof p->uid, "%s", uid);
    p->start_ms = agent_now_ms(a);
    p->grace = 30;
    p->next = a->pods;
    a->pods = p;
    return p;
}

static struct acont *cont_add(struct apod *p, const char *name)
{
    struct acont *nc = realloc(p->conts, (size_t)(p->ncont + 1) * sizeof *nc);
    if (!nc)
        return NULL;
    p->conts = nc;
    struct acont *c = &nc[p->ncont++];
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "%s", name);
    c->view = V_WAITING;
    snprintf(c->reason, sizeof c->reason, "ContainerCreating");
    return c;
}

void agent_pod_free(struct agent *a, struct apod *p)
{
    json_decref(p->obj);
    free(p->conts);
    free(p->sent_status);
    free(p);
}

void agent_pod_remove(struct agent *a, struct apod *p)
{
    for (struct apod **pp = &a->pods; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    agent_pod_free(a, p);
}

/* Matches the spec's containers to records (adopted ones by name). */
static void pod_take_spec(struct agent *a, struct apod *p)
{
    json_t *list = json_path(p->obj, "spec") ? json_object_get(json_path(p->obj, "spec"), "containers") : NULL;
    size_t i;
    json_t *cs;
    for (int k = 0; k < p->ncont; k++)
        p->conts[k].in_spec = false;
    json_array_foreach(list, i, cs) {
        const char *name = json_string_value(json_object_get(cs, "name"));
        if (!name)
            continue;
        struct acont *c = agent_cont_find(p, name);
        if (!c && !(c = cont_add(p, name)))
            continue;
        c->in_spec = true;
        const char *img = json_string_value(json_object_get(cs, "image"));
        snprintf(c->image, sizeof c->image, "%s", img ? img : "");
        c->live.spec = json_object_get(cs, "livenessProbe");
        c->readyp.spec = json_object_get(cs, "readinessProbe");
    }
}

void agent_pod_upsert(struct agent *a, json_t *obj)
{
    const char *uid = json_path_str(obj, "metadata.uid");
    const char *ns = json_path_str(obj, "metadata.namespace");
    const char *name = json_path_str(obj, "metadata.name");
    if (!uid || !ns || !name)
        return;
    struct apod *p = agent_pod_find(a, uid);
    if (!p && !(p = pod_new(a, uid)))
        return;
    bool first = p->obj == NULL;
    json_incref(obj);
    json_decref(p->obj);
    p->obj = obj;
    p->listed = true;
    snprintf(p->ns, sizeof p->ns, "%s", ns);
    snprintf(p->name, sizeof p->name, "%s", name);
    if (first) {
        time_t st;
        const char *s = json_path_str(obj, "status.startTime");
        if (s && time_parse_rfc3339(s, &st) == 0)
            p->start_ms = (int64_t)st * 1000;
        const char *phase = json_path_str(obj, "status.phase");
        if (!p->adopted && phase && (!strcmp(phase, "Succeeded") || !strcmp(phase, "Failed")))
            p->finished = true;
    }
    pod_take_spec(a, p);
    if (a->synced)
        agent_reconcile(a, p);
}

void agent_pod_gone(struct agent *a, const char *uid)
{
    struct apod *p = agent_pod_find(a, uid);
    if (!p)
        return;
    json_decref(p->obj);
    p->obj = NULL;
    for (int i = 0; i < p->ncont; i++) { /* borrowed from the object */
        p->conts[i].live.spec = NULL;
        p->conts[i].readyp.spec = NULL;
    }
    if (a->synced)
        agent_reconcile(a, p);
}

void agent_pods_synced(struct agent *a)
{
    a->synced = true;
    struct apod *p = a->pods;
    while (p) {
        struct apod *next = p->next; /* reconcile may free p */
        if (!p->listed && p->obj)
            agent_pod_gone(a, p->uid);
        else
            agent_reconcile(a, p);
        p = next;
    }
}

/* ---- adoption ---------------------------------------------------------- */

static void adopt_one(struct agent *a, const struct rt_found *f)
{
    struct apod *p = agent_pod_find(a, f->pod_uid);
    if (!p && !(p = pod_new(a, f->pod_uid)))
        return;
    p->adopted = true;
    struct acont *c = agent_cont_find(p, f->container);
    if (!c && !(c = cont_add(p, f->container)))
        return;
    if (c->id[0]) { /* two attempts of one container: keep the newest only */
        bool newer = f->attempt > c->attempt;
        const char *drop = newer ? c->id : f->id;
        log_warn(AGENT_COMP, "removing superseded container %s", drop);
        a->rt->ops->remove(a->rt, drop);
        if (!newer)
            return;
    }
    snprintf(c->id, sizeof c->id, "%s", f->id);
    c->attempt = f->attempt;
    c->crashes = f->attempt;
    if (a->rt->ops->status(a->rt, f->id, &c->st) < 0)
        c->st.phase = RT_UNKNOWN;
    c->view = c->st.phase == RT_RUNNING ? V_RUNNING : V_WAITING;
}

void agent_adopt(struct agent *a)
{
    struct rt_found *found = NULL;
    size_t n = 0;
    int rc = a->rt->ops->list(a->rt, &found, &n);
    if (rc < 0) {
        log_warn(AGENT_COMP, "listing the runtime's containers: %s", be_strerror(rc));
        return;
    }
    for (size_t i = 0; i < n; i++)
        adopt_one(a, &found[i]);
    free(found);
    if (n)
        log_info(AGENT_COMP, "found %zu container(s) from a previous run", n);
}

/* ---- list + watch ------------------------------------------------------ */

static void watch_open(struct agent *a);
static void list_pods(struct agent *a);

static void on_watch_timer(uv_timer_t *t)
{
    struct agent *a = t->data;
    if (a->need_relist || !a->synced)
        list_pods(a);
    else
        watch_open(a);
}

static void retry_later(struct agent *a, bool failover)
{
    if (a->stopping)
        return;
    if (failover && a->cfg.nservers > 1)
        a->cur = (a->cur + 1) % a->cfg.nservers;
    a->watch_delay_ms = a->watch_delay_ms ? a->watch_delay_ms * 2 : 500;
    if (a->watch_delay_ms > 8000)
        a->watch_delay_ms = 8000;
    uv_timer_start(&a->watch_timer, on_watch_timer, a->watch_delay_ms, 0);
}

static void note_rv(struct agent *a, const json_t *obj)
{
    const char *rv = json_path_str(obj, "metadata.resourceVersion");
    if (rv && rv[0])
        snprintf(a->rv, sizeof a->rv, "%s", rv);
}

static void on_list(void *data, int rc, int status, const char *body, size_t len)
{
    struct agent *a = data;
    a->list_inflight = false;
    if (a->stopping)
        return;
    json_t *doc = rc == 0 && status == 200 ? json_loadb(body, len, 0, NULL) : NULL;
    json_t *items = json_object_get(doc, "items");
    if (!json_is_array(items)) {
        if (rc < 0)
            log_warn(AGENT_COMP, "listing pods: %.*s", (int)len, body);
        else
            log_warn(AGENT_COMP, "listing pods: HTTP %d", status);
        json_decref(doc);
        retry_later(a, false); /* the API layer already failed over */
        return;
    }
    for (struct apod *p = a->pods; p; p = p->next)
        p->listed = false;
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
        agent_pod_upsert(a, it);
    note_rv(a, doc);
    json_decref(doc);
    a->need_relist = false;
    if (!a->synced)
        log_info(AGENT_COMP, "%zu pod(s) bound to node %s", i, a->cfg.name);
    agent_pods_synced(a);
    a->watch_delay_ms = 0;
    watch_open(a);
}

static void list_pods(struct agent *a)
{
    if (a->list_inflight || a->stopping)
        return;
    char path[400];
    snprintf(path, sizeof path, "/api/v1/pods?fieldSelector=spec.nodeName%%3D%s", a->cfg.name);
    a->list_inflight = true;
    if (a->api(a, "GET", path, NULL, NULL, 0, on_list, a) < 0) {
        a->list_inflight = false;
        retry_later(a, false);
    }
}

static void watch_event(struct agent *a, const char *line, size_t len)
{
    json_t *ev = json_loadb(line, len, 0, NULL);
    const char *type = json_string_value(json_object_get(ev, "type"));
    json_t *obj = json_object_get(ev, "object");
    if (!type || !json_is_object(obj)) {
        log_warn(AGENT_COMP, "bad watch event ignored");
    } else if (!strcmp(type, "ERROR")) {
        json_int_t code = json_integer_value(json_object_get(obj, "code"));
        log_info(AGENT_COMP, "watch error %lld: relisting", (long long)code);
        a->need_relist = true;
    } else {
        note_rv(a, obj);
        if (!strcmp(type, "ADDED") || !strcmp(type, "MODIFIED"))
            agent_pod_upsert(a, obj);
        else if (!strcmp(type, "DELETED"))
            agent_pod_gone(a, json_path_str(obj, "metadata.uid") ? json_path_str(obj, "metadata.uid") : "");
    }
    json_decref(ev);
}

static int on_watch_data(void *data, const char *buf, size_t len)
{
    struct agent *a = data;
    if (a->wlen + len > a->wcap) {
        size_t cap = a->wcap ? a->wcap : 8192;
        while (cap < a->wlen + len)
            cap *= 2;
        char *nb = realloc(a->wbuf, cap);
        if (!nb)
            return 1;
        a->wbuf = nb;
        a->wcap = cap;
    }
    memcpy(a->wbuf + a->wlen, buf, len);
    a->wlen += len;
    size_t start = 0;
    for (size_t i = 0; i < a->wlen && !a->need_relist; i++) {
        if (a->wbuf[i] != '\n')
            continue;
        if (i > start)
            watch_event(a, a->wbuf + start, i - start);
        start = i + 1;
    }
    memmove(a->wbuf, a->wbuf + start, a->wlen - start);
    a->wlen -= start;
    a->watch_delay_ms = 0;
    return a->need_relist ? 1 : 0;
}

static void on_watch_end(void *data, int rc, int status, const char *body, size_t len)
{
    struct agent *a = data;
    a->watch = NULL;
    a->wlen = 0;
    agent_unref(a);
    if (a->stopping)
        return;
    if (rc == 0 && status == 410)
        a->need_relist = true;
    if (a->need_relist) {
        list_pods(a);
    } else if (rc == 0 && status == 200) {
        uv_timer_start(&a->watch_timer, on_watch_timer, 100, 0); /* server ended it */
    } else {
        if (rc != BE_SHUTDOWN)
            log_warn(AGENT_COMP, "pod watch ended: %s",
                     rc < 0 ? body : status >= 500 ? "server error" : "rejected");
        retry_later(a, rc == BE_UNAVAIL || rc == BE_TIMEOUT);
    }
}

static void watch_open(struct agent *a)
{
    if (a->stopping || a->watch || a->cfg.nservers == 0)
        return;
    char path[512];
    snprintf(path, sizeof path,
             "/api/v1/pods?fieldSelector=spec.nodeName%%3D%s&watch=1&resourceVersion=%s"
             "&allowWatchBookmarks=true",
             a->cfg.name, a->rv[0] ? a->rv : "0");
    struct uvhttp_stream_opts o = {.path = path, .idle_timeout_ms = WATCH_IDLE_MS,
                                   .on_data = on_watch_data, .on_end = on_watch_end, .data = a};
    agent_ref(a);
    if (uvhttp_stream(a->clients[a->cur], &o, &a->watch) < 0) {
        agent_unref(a);
        a->watch = NULL;
        retry_later(a, false);
    }
}

void agent_watch_start(struct agent *a)
{
    if (a->cfg.nservers == 0) {
        agent_pods_synced(a);
        return;
    }
    list_pods(a);
}
