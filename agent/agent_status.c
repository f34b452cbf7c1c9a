/* agent_status.c: what the agent reports about its pods, and how.
 *
 * agent_pod_status() builds a pod's status from the agent's records alone
 * (never from the cached object): phase, conditions PodScheduled,
 * Initialized, ContainersReady and Ready, containerStatuses (state,
 * lastState, ready, restartCount, image, containerID), hostIP, podIP (host
 * networking: the host's), startTime. The phase follows the kubelet's
 * getPhase(): any container waiting for its first start -> Pending; some
 * running -> Running; all stopped -> Running under restartPolicy Always,
 * Succeeded if all exited 0, otherwise Failed (Never) or Running (OnFailure).
 *
 * Writes are batched: every status interval agent_status_flush() serializes
 * each pod's status and sends a merge PATCH of pods/NAME/status only when the
 * text differs from the last one written (lists are replaced whole by a
 * merge patch, so stale container states cannot linger). One write per pod
 * is in flight at a time; when it succeeds, a status that changed meanwhile
 * is written at once; a failed one is retried on the next tick. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "common/errors.h"
#include "common/jsonutil.h"
#include "common/log.h"

static void ts_ms(int64_t ms, char *buf, size_t len)
{
    time_format_rfc3339((time_t)(ms / 1000), buf, len);
}

const char *agent_pod_phase(const struct apod *p)
{
    int waiting = 0, running = 0, stopped = 0, succeeded = 0, n = 0;
    for (int i = 0; i < p->ncont; i++) {
        const struct acont *c = &p->conts[i];
        if (!c->in_spec)
            continue;
        n++;
        if (c->view == V_RUNNING) {
            running++;
        } else if (c->view == V_TERMINATED) {
            stopped++;
            if (c->st.exit_code == 0)
                succeeded++;
        } else if (c->has_last) {
            stopped++;
        } else {
            waiting++;
        }
    }
    const char *rp = p->obj ? json_path_str(p->obj, "spec.restartPolicy") : NULL;
    if (!rp)
        rp = "Always";
    if (n == 0 || waiting > 0)
        return "Pending";
    if (running > 0)
        return "Running";
    if (!strcmp(rp, "Always"))
        return "Running";
    if (stopped == succeeded)
        return "Succeeded";
    return !strcmp(rp, "Never") ? "Failed" : "Running";
}

static json_t *terminated(const struct rt_status *st, const char *cid)
{
    char s[40], f[40];
    time_format_rfc3339(st->started_at, s, sizeof s);
    time_format_rfc3339(st->finished_at, f, sizeof f);
    json_t *t = json_pack("{s:i,s:s,s:s,s:s}", "exitCode", st->exit_code, "reason",
                          st->reason[0] ? st->reason : (st->exit_code ? "Error" : "Completed"),
                          "startedAt", s, "finishedAt", f);
    if (st->signal)
        json_object_set_new(t, "signal", json_integer(st->signal));
    if (st->message[0])
        json_object_set_new(t, "message", json_string(st->message));
    if (cid)
        json_object_set_new(t, "containerID", json_string(cid));
    return t;
}

static bool cont_ready(const struct acont *c)
{
    return c->view == V_RUNNING && !c->stop_sent && (!c->readyp.spec || c->readyp.ok);
}

static json_t *container_status(struct acont *c)
{
    c->ready = cont_ready(c);
    char cid[RT_ID_MAX + 16];
    snprintf(cid, sizeof cid, "berth://%s", c->id);
    json_t *state;
    if (c->view == V_RUNNING) {
        char s[40];
        time_format_rfc3339(c->st.started_at, s, sizeof s);
        state = json_pack("{s:{s:s}}", "running", "startedAt", s);
    } else if (c->view == V_TERMINATED) {
        state = json_pack("{s:o}", "terminated", terminated(&c->st, c->id[0] ? cid : NULL));
    } else {
        json_t *w = json_pack("{s:s}", "reason", c->reason[0] ? c->reason : "ContainerCreating");
        if (c->message[0])
            json_object_set_new(w, "message", json_string(c->message));
        state = json_pack("{s:o}", "waiting", w);
    }
    json_t *cs = json_pack("{s:s,s:o,s:{},s:b,s:i,s:s,s:s,s:b}", "name", c->name, "state", state,
                           "lastState", "ready", c->ready, "restartCount", c->attempt, "image",
                           c->image, "imageID", "", "started", c->view == V_RUNNING);
    if (c->has_last)
        json_object_set_new(json_object_get(cs, "lastState"), "terminated",
                            terminated(&c->last, NULL));
    if (c->id[0])
        json_object_set_new(cs, "containerID", json_string(cid));
    return cs;
}

static json_t *condition(const char *type, bool ok, int64_t since_ms, const char *reason)
{
    char t[40];
    ts_ms(since_ms, t, sizeof t);
    json_t *c = json_pack("{s:s,s:s,s:s}", "type", type, "status", ok ? "True" : "False",
                          "lastTransitionTime", t);
    if (!ok && reason)
        json_object_set_new(c, "reason", json_string(reason));
    return c;
}

json_t *agent_pod_status(struct agent *a, struct apod *p)
{
    json_t *css = json_array();
    bool all_ready = true;
    int n = 0;
    for (int i = 0; i < p->ncont; i++) {
        struct acont *c = &p->conts[i];
        if (!c->in_spec)
            continue;
        n++;
        json_array_append_new(css, container_status(c));
        all_ready &= c->ready;
    }
    all_ready &= n > 0;
    if (all_ready != p->was_ready || !p->ready_change_ms) {
        p->was_ready = all_ready;
        p->ready_change_ms = agent_now_ms(a);
    }
    const char *phase = agent_pod_phase(p);
    const char *why = !strcmp(phase, "Succeeded") || !strcmp(phase, "Failed") ? "PodCompleted"
                                                                               : "ContainersNotReady";
    char start[40];
    ts_ms(p->start_ms, start, sizeof start);
    json_t *conds = json_pack("[o,o,o,o]", condition("PodScheduled", true, p->start_ms, NULL),
                              condition("Initialized", true, p->start_ms, NULL),
                              condition("ContainersReady", all_ready, p->ready_change_ms, why),
                              condition("Ready", all_ready, p->ready_change_ms, why));
    return json_pack("{s:s,s:o,s:o,s:s,s:s,s:[{s:s}],s:s}", "phase", phase, "conditions",
                     conds, "containerStatuses", css, "hostIP", a->host_ip, "podIP", a->host_ip,
                     "podIPs", "ip", a->host_ip, "startTime", start);
}

/* ---- batched writes ---------------------------------------------------- */

struct status_write {
    struct agent *a;
    char uid[64];
    char *text;
};

static void flush_one(struct agent *a, struct apod *p);

static void on_status_written(void *data, int rc, int status, const char *body, size_t len)
{
    struct status_write *w = data;
    struct apod *p = agent_pod_find(w->a, w->uid);
    if (p) {
        p->status_inflight = false;
        if (rc == 0 && status < 300) {
            free(p->sent_status);
            p->sent_status = w->text;
            w->text = NULL;
            w->a->stats.status_writes++;
            /* A change made while this write was in flight (a container that
             * started while its "creating" status was on the way) goes out
             * now, not at the next periodic flush. A failed write waits for
             * that tick, so an unreachable server is not hammered. */
            flush_one(w->a, p);
        } else if (rc == 0 && status != 404) {
            log_warn(AGENT_COMP, "pod %s/%s: status write: HTTP %d: %.200s", p->ns, p->name,
                     status, body);
        }
    }
    free(w->text);
    free(w);
}

static void flush_one(struct agent *a, struct apod *p)
{
    if (!p->obj || p->deleting || p->finished || p->status_inflight)
        return;
    json_t *st = agent_pod_status(a, p);
    json_t *doc = json_pack("{s:o}", "status", st);
    char *text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(doc);
    if (!text || (p->sent_status && !strcmp(text, p->sent_status))) {
        free(text);
        return;
    }
    struct status_write *w = calloc(1, sizeof *w);
    if (!w) {
        free(text);
        return;
    }
    w->a = a;
    snprintf(w->uid, sizeof w->uid, "%s", p->uid);
    w->text = text;
    char path[600];
    snprintf(path, sizeof path, "/api/v1/namespaces/%s/pods/%s/status", p->ns, p->name);
    p->status_inflight = true;
    if (a->api(a, "PATCH", path, "application/merge-patch+json", text, strlen(text),
               on_status_written, w) < 0) {
        p->status_inflight = false;
        free(w->text);
        free(w);
    }
}

void agent_status_flush_pod(struct agent *a, struct apod *p) { flush_one(a, p); }

void agent_status_flush(struct agent *a)
{
    for (struct apod *p = a->pods; p; p = p->next)
        flush_one(a, p);
}

/* ---- events ------------------------------------------------------------ */

static void on_event_sent(void *data, int rc, int status, const char *body, size_t len) {}

void agent_event(struct agent *a, const struct apod *p, const char *cname, const char *type,
                 const char *reason, const char *message)
{
    char ts[40], name[400], fieldpath[128];
    int64_t now = agent_now_ms(a);
    ts_ms(now, ts, sizeof ts);
    snprintf(name, sizeof name, "%.200s.%llx", p->name, (unsigned long long)now * 1000 + (unsigned)rand() % 1000);
    snprintf(fieldpath, sizeof fieldpath, "spec.containers{%s}", cname ? cname : "");
    json_t *ev = json_pack(
        "{s:s,s:s,s:{s:s,s:s},s:{s:s,s:s,s:s,s:s,s:s,s:s},s:s,s:s,s:s,s:{s:s,s:s},s:s,s:s,s:i}",
        "apiVersion", "v1", "kind", "Event", "metadata", "name", name, "namespace", p->ns,
        "involvedObject", "kind", "Pod", "apiVersion", "v1", "namespace", p->ns, "name", p->name,
        "uid", p->uid, "fieldPath", fieldpath, "reason", reason, "message", message, "type", type,
        "source", "component", "berth-agent", "host", a->cfg.name, "firstTimestamp", ts,
        "lastTimestamp", ts, "count", 1);
    a->stats.events++;
    if (!ev)
        return;
    char *text = json_dumps(ev, JSON_COMPACT);
    json_decref(ev);
    char path[300];
    snprintf(path, sizeof path, "/api/v1/namespaces/%s/events", p->ns);
    if (text)
        a->api(a, "POST", path, "application/json", text, strlen(text), on_event_sent, a);
    free(text);
}
