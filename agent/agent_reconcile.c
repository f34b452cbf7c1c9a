/* agent_reconcile.c: one level-triggered step toward a pod's desired state.
 *
 * agent_reconcile() looks at the pod's API object (desired) and the runtime's
 * view of each container (observed, via rt->ops->status) and acts:
 *   - pod gone from the API, or deletionTimestamp set: stop every running
 *     container (SIGTERM, SIGKILL after the grace period: the runtime's shim
 *     enforces it), remove exited ones, and when none is left remove the
 *     pod's leftovers and the record (and, for a pod still in the API with a
 *     deletionTimestamp, delete it for good);
 *   - a container never started: start it (resolving command, args, env,
 *     workingDir, limits); an unknown image leaves it Waiting with reason
 *     ErrImageNotFound and an Event, retried with back-off;
 *   - a container that exited: the restartPolicy decides; a restart waits
 *     for the back-off (reason CrashLoopBackOff meanwhile) and starts attempt
 *     N+1, which is also the restartCount;
 *   - containers not in the spec (leftovers found at adoption): stopped and
 *     removed.
 * Back-off is the kubelet's: the first restart is immediate, then base,
 * 2*base, ... capped at max; it resets when a container ran for 2*max.
 * Running this twice in a row changes nothing the second time. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "common/errors.h"
#include "common/jsonutil.h"
#include "common/log.h"
#include "common/quantity.h"


int64_t agent_backoff_ms(const struct agent *a, int crashes)
{
    if (crashes <= 1)
        return 0;
    int64_t d = a->cfg.backoff_base_ms;
    for (int i = 2; i < crashes && d < a->cfg.backoff_max_ms; i++)
        d *= 2;
    return d > a->cfg.backoff_max_ms ? a->cfg.backoff_max_ms : d;
}

static const char *restart_policy(const struct apod *p)
{
    const char *rp = p->obj ? json_path_str(p->obj, "spec.restartPolicy") : NULL;
    return rp ? rp : "Always";
}

/* The grace period of the latest spec (kept once the object is gone). */
static int grace_seconds(struct apod *p)
{
    if (!p->obj)
        return p->grace;
    int64_t g = 30;
    if (json_path_int(p->obj, "metadata.deletionGracePeriodSeconds", &g) != 0)
        json_path_int(p->obj, "spec.terminationGracePeriodSeconds", &g);
    p->grace = g < 0 ? 0 : g > 3600 ? 3600 : (int)g;
    return p->grace;
}

static const json_t *cont_spec(const struct apod *p, const char *name)
{
    json_t *list = p->obj ? json_object_get(json_path(p->obj, "spec"), "containers") : NULL;
    size_t i;
    json_t *cs;
    json_array_foreach(list, i, cs) {
        const char *n = json_string_value(json_object_get(cs, "name"));
        if (n && !strcmp(n, name))
            return cs;
    }
    return NULL;
}

static void set_view(struct acont *c, enum acont_view v, const char *reason, const char *msg)
{
    c->view_changed |= c->view != v || strcmp(c->reason, reason ? reason : "");
    c->view = v;
    snprintf(c->reason, sizeof c->reason, "%s", reason ? reason : "");
    snprintf(c->message, sizeof c->message, "%s", msg ? msg : "");
}

/* ---- start ------------------------------------------------------------- */

static int64_t resource(const json_t *cs, const char *kind, const char *res)
{
    const char *q = json_string_value(json_object_get(json_object_get(json_object_get(cs, "resources"), kind), res));
    int64_t v = 0;
    if (!q)
        return 0;
    if (!strcmp(res, "cpu"))
        return quantity_cpu_millis(q, &v) == 0 ? v : 0;
    return quantity_bytes(q, &v) == 0 ? v : 0;
}

static void start_failed(struct agent *a, struct apod *p, struct acont *c, int rc, const char *err)
{
    c->start_failures++;
    c->retry_at_ms = agent_now_ms(a) + (c->start_failures == 1 ? a->cfg.backoff_base_ms
                                        : agent_backoff_ms(a, c->start_failures));
    const char *reason = rc == BE_NOTFOUND ? "ErrImageNotFound"
                         : rc == BE_INVAL  ? "CreateContainerConfigError"
                                           : "CreateContainerError";
    set_view(c, V_WAITING, reason, err);
    log_warn(AGENT_COMP, "pod %s/%s container %s: %s: %s", p->ns, p->name, c->name, reason, err);
    if (!c->event_sent) {
        c->event_sent = true;
        agent_event(a, p, c->name, "Warning", rc == BE_NOTFOUND ? "ErrImageNotFound" : "Failed", err);
    }
}

static void start_container(struct agent *a, struct apod *p, struct acont *c, int attempt)
{
    const json_t *cs = cont_spec(p, c->name);
    char **argv = NULL, **env = NULL, err[256] = "";
    int rc = agent_env_build(a, p, cs, &argv, &env, err, sizeof err);
    if (rc == AGENT_ENV_PENDING) {
        set_view(c, V_WAITING, "ContainerCreating", NULL); /* its ConfigMaps are on the way */
        return;
    }
    if (rc < 0) {
        start_failed(a, p, c, BE_INVAL, err);
        return;
    }
    if (!argv || !argv[0]) {
        agent_strv_free(argv);
        agent_strv_free(env);
        start_failed(a, p, c, BE_INVAL, "no command: images carry no entrypoint, set command");
        return;
    }
    struct rt_container_spec spec = {
        .pod_uid = p->uid, .pod_namespace = p->ns, .pod_name = p->name,
        .container = c->name, .attempt = attempt, .image = c->image,
        .argv = argv, .env = env,
        .working_dir = json_string_value(json_object_get(cs, "workingDir")),
        .hostname = p->name,
        .cpu_limit_millis = resource(cs, "limits", "cpu"),
        .mem_limit_bytes = resource(cs, "limits", "memory"),
        .cpu_request_millis = resource(cs, "requests", "cpu"),
    };
    char id[RT_ID_MAX] = "";
    rc = a->rt->ops->start(a->rt, &spec, id, err, sizeof err);
    agent_strv_free(argv);
    agent_strv_free(env);
    if (rc < 0) {
        start_failed(a, p, c, rc, err[0] ? err : be_strerror(rc));
        return;
    }
    snprintf(c->id, sizeof c->id, "%s", id);
    c->attempt = attempt;
    c->exit_seen = c->stop_sent = false;
    c->start_failures = 0;
    c->event_sent = false;
    memset(&c->st, 0, sizeof c->st);
    c->st.phase = RT_CREATED;
    c->ready = false;
    set_view(c, V_WAITING, "ContainerCreating", NULL);
    if (a->rt->ops->status(a->rt, c->id, &c->st) == 0 && c->st.phase == RT_RUNNING)
        set_view(c, V_RUNNING, NULL, NULL);
    agent_probes_reset(c, cs, agent_now_ms(a));
    a->stats.starts++;
    agent_sync_soon(a);
    if (attempt > 0)
        a->stats.restarts++;
    log_info(AGENT_COMP, "pod %s/%s: started container %s (%s)", p->ns, p->name, c->name, id);
}

/* ---- observe and decide ------------------------------------------------ */

static void observe(struct agent *a, struct acont *c)
{
    if (!c->id[0])
        return;
    if (a->rt->ops->status(a->rt, c->id, &c->st) < 0) {
        memset(&c->st, 0, sizeof c->st);
        c->st.phase = RT_UNKNOWN;
    }
}

static bool wants_restart(const char *policy, const struct rt_status *st)
{
    if (!strcmp(policy, "Never"))
        return false;
    if (!strcmp(policy, "OnFailure"))
        return st->exit_code != 0 || st->phase == RT_UNKNOWN;
    return true;
}

/* First look at an exit: remember it and set the back-off. */
static void note_exit(struct agent *a, struct apod *p, struct acont *c)
{
    c->exit_seen = true;
    c->ready = false;
    if (c->st.phase == RT_UNKNOWN) {
        snprintf(c->st.reason, sizeof c->st.reason, "ContainerStatusUnknown");
        snprintf(c->st.message, sizeof c->st.message, "the container could not be located");
        c->st.exit_code = 137;
    }
    int64_t ran_ms = ((int64_t)c->st.finished_at - (int64_t)c->st.started_at) * 1000;
    if (c->st.started_at && ran_ms >= 2 * (int64_t)a->cfg.backoff_max_ms)
        c->crashes = 0;
    c->crashes++;
    int64_t finished = c->st.finished_at ? (int64_t)c->st.finished_at * 1000 : agent_now_ms(a);
    c->retry_at_ms = finished + agent_backoff_ms(a, c->crashes);
    log_info(AGENT_COMP, "pod %s/%s: container %s exited (code %d, %s)", p->ns, p->name, c->name,
             c->st.exit_code, c->st.reason[0] ? c->st.reason : "no reason");
}

static void reconcile_container(struct agent *a, struct apod *p, struct acont *c)
{
    if (!c->in_spec) { /* a leftover: stop it, then drop it */
        if (c->id[0] && !c->stop_sent && c->st.phase != RT_EXITED) {
            a->rt->ops->stop(a->rt, c->id, 0);
            c->stop_sent = true;
        } else if (c->id[0] && (c->st.phase == RT_EXITED || c->st.phase == RT_UNKNOWN)) {
            a->rt->ops->remove(a->rt, c->id);
            c->id[0] = '\0';
        }
        return;
    }
    int64_t now = agent_now_ms(a);
    if (!c->id[0]) {
        if (now >= c->retry_at_ms)
            start_container(a, p, c, c->attempt + (c->has_last ? 1 : 0));
        return;
    }
    if (c->st.phase == RT_CREATED) {
        set_view(c, V_WAITING, "ContainerCreating", NULL);
        return;
    }
    if (c->st.phase == RT_RUNNING) {
        if (c->view != V_RUNNING)
            set_view(c, V_RUNNING, NULL, NULL);
        return;
    }
    if (!c->exit_seen)
        note_exit(a, p, c);
    if (!wants_restart(restart_policy(p), &c->st)) {
        set_view(c, V_TERMINATED, c->st.reason, c->st.message);
        return;
    }
    if (now < c->retry_at_ms) {
        char msg[256];
        snprintf(msg, sizeof msg, "back-off %llds restarting failed container=%s pod=%s_%s(%s)",
                 (long long)(agent_backoff_ms(a, c->crashes) / 1000), c->name, p->name, p->ns, p->uid);
        set_view(c, V_WAITING, "CrashLoopBackOff", msg);
        c->last = c->st;
        c->has_last = true;
        return;
    }
    c->last = c->st;
    c->has_last = true;
    char old[RT_ID_MAX];
    snprintf(old, sizeof old, "%s", c->id);
    c->id[0] = '\0';
    a->rt->ops->remove(a->rt, old);
    start_container(a, p, c, c->attempt + 1);
}

/* ---- teardown ---------------------------------------------------------- */

/* The agent's last word on a gracefully deleted pod: DELETE with grace 0
 * and the pod's uid as precondition. Until the API has taken it, the pod
 * stays Terminating, so a failed attempt (no server, 5xx, 429) is retried
 * from the sync tick with a doubling delay, FINAL_DELETE_TRIES times in
 * all; 404 and 409 (gone, or a new pod of that name) end it too. */
#define FINAL_DELETE_TRIES 8
#define FINAL_DELETE_MAX_DELAY_MS 30000

struct final_delete {
    struct agent *a;
    struct final_delete *next;
    char path[600], body[160];
    int attempts;
    int64_t next_ms;
    bool inflight;
};

static void final_delete_drop(struct agent *a, struct final_delete *fd)
{
    for (struct final_delete **pp = &a->final_dels; *pp; pp = &(*pp)->next)
        if (*pp == fd) {
            *pp = fd->next;
            break;
        }
    free(fd);
}

static void final_delete_failed(struct agent *a, struct final_delete *fd, int rc)
{
    fd->inflight = false;
    if (++fd->attempts >= FINAL_DELETE_TRIES) {
        log_warn(AGENT_COMP, "DELETE %s failed %d times (last: %s); giving up", fd->path,
                 fd->attempts, rc ? be_strerror(rc) : "an error status");
        final_delete_drop(a, fd);
        return;
    }
    int64_t delay = 1000LL << (fd->attempts - 1);
    fd->next_ms = agent_now_ms(a) +
                  (delay > FINAL_DELETE_MAX_DELAY_MS ? FINAL_DELETE_MAX_DELAY_MS : delay);
}

static void on_final_delete(void *data, int rc, int status, const char *body, size_t len)
{
    struct final_delete *fd = data;
    (void)body;
    (void)len;
    if (rc == 0 && ((status >= 200 && status < 300) || status == 404 || status == 409))
        final_delete_drop(fd->a, fd);
    else
        final_delete_failed(fd->a, fd, rc);
}

static void final_delete_send(struct agent *a, struct final_delete *fd)
{
    fd->inflight = true;
    int rc = a->api(a, "DELETE", fd->path, "application/json", fd->body, strlen(fd->body),
                    on_final_delete, fd); /* may call back (and free fd) at once */
    if (rc != 0)
        final_delete_failed(a, fd, rc);
}

void agent_final_deletes_retry(struct agent *a)
{
    int64_t now = agent_now_ms(a);
    struct final_delete *fd = a->final_dels;
    while (fd) {
        struct final_delete *next = fd->next;
        if (!fd->inflight && now >= fd->next_ms)
            final_delete_send(a, fd); /* may free fd */
        fd = next;
    }
}

void agent_final_deletes_free(struct agent *a)
{
    while (a->final_dels) {
        struct final_delete *fd = a->final_dels;
        a->final_dels = fd->next;
        free(fd);
    }
}

static void teardown(struct agent *a, struct apod *p)
{
    int grace = grace_seconds(p);
    bool left = false;
    if (!p->deleting) {
        p->deleting = true;
        log_info(AGENT_COMP, "pod %s/%s (%s): stopping (grace %ds)", p->ns[0] ? p->ns : "?",
                 p->name[0] ? p->name : "?", p->uid, grace);
    }
    for (int i = 0; i < p->ncont; i++) {
        struct acont *c = &p->conts[i];
        if (!c->id[0])
            continue;
        if (!c->stop_sent && c->st.phase != RT_EXITED && c->st.phase != RT_UNKNOWN) {
            a->rt->ops->stop(a->rt, c->id, grace);
            c->stop_sent = true;
            observe(a, c); /* it may be gone at once */
        }
        if (c->st.phase == RT_EXITED || c->st.phase == RT_UNKNOWN) {
            a->rt->ops->remove(a->rt, c->id);
            c->id[0] = '\0';
            continue;
        }
        left = true;
    }
    if (left)
        return;
    a->rt->ops->remove_pod(a->rt, p->uid);
    struct final_delete *fd = p->obj ? calloc(1, sizeof *fd) : NULL;
    if (fd) { /* graceful deletion finished: the agent deletes it for good */
        fd->a = a;
        snprintf(fd->path, sizeof fd->path, "/api/v1/namespaces/%s/pods/%s", p->ns, p->name);
        snprintf(fd->body, sizeof fd->body,
                 "{\"gracePeriodSeconds\":0,\"preconditions\":{\"uid\":\"%s\"}}",
                 p->uid); /* never a new pod of the same name */
        fd->next = a->final_dels;
        a->final_dels = fd;
        final_delete_send(a, fd);
    }
    log_info(AGENT_COMP, "pod %s/%s (%s): removed", p->ns, p->name, p->uid);
    agent_pod_remove(a, p);
}

void agent_cont_kill(struct agent *a, struct apod *p, struct acont *c, const char *why)
{
    if (!c->id[0] || c->stop_sent)
        return;
    log_info(AGENT_COMP, "pod %s/%s: killing container %s: %s", p->ns, p->name, c->name, why);
    a->rt->ops->stop(a->rt, c->id, grace_seconds(p));
    c->stop_sent = true;
}

void agent_reconcile(struct agent *a, struct apod *p)
{
    grace_seconds(p); /* remembered for when the object is gone */
    for (int i = 0; i < p->ncont; i++)
        observe(a, &p->conts[i]);
    if (!p->obj || json_path_str(p->obj, "metadata.deletionTimestamp")) {
        teardown(a, p); /* may free p */
        return;
    }
    if (p->finished)
        return;
    bool changed = false;
    for (int i = 0; i < p->ncont; i++) {
        p->conts[i].view_changed = false;
        reconcile_container(a, p, &p->conts[i]);
        changed |= p->conts[i].view_changed;
    }
    /* A container that changed state (started, exited, back-off) is
     * reported now, whichever path noticed it: the start poll, a watch
     * event or the periodic sync. Unchanged pods wait for the flush tick. */
    if (changed)
        agent_status_flush_pod(a, p);
}

void agent_reconcile_all(struct agent *a)
{
    agent_final_deletes_retry(a);
    if (!a->synced)
        return;
    struct apod *p = a->pods;
    while (p) {
        struct apod *next = p->next;
        agent_reconcile(a, p);
        p = next;
    }
}
