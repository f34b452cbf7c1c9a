/* client.c: how controllers write, and the Events they record.
 *
 * Controllers run inside berthd on the leader, next to the API server, so
 * they do not go through HTTP: they propose to the store directly. These
 * functions therefore do what the API server's write path would do for
 * them: on create a random v4 uid, creationTimestamp, generation 1 for
 * objects with a spec, a name from generateName; on update the generation
 * is bumped when the spec changes and the write is conditioned on the
 * cached revision (a stale cache gives BE_CONFLICT and a retry, never a lost
 * update). Objects are serialized with json_dump_object (the store's layout
 * contract) and appended to the manager's write list, which manager.c
 * proposes as one batch at the end of the loop iteration.
 *
 * Events: one v1 Event per (object, reason, message); a repeat within this
 * term of leadership updates count and lastTimestamp instead of making a
 * new object, as Kubernetes' event correlator does. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/jsonutil.h"
#include "common/uid.h"
#include "common/log.h"
#include "controllers/ctrl_int.h"

#define MAX_EVENT_RECORDS 4096

void ctrl_write_free(struct ctrl_write *w)
{
    free(w->ns);
    free(w->name);
    free(w->json);
    free(w->node);
    free(w->owner);
    free(w->key);
    free(w->exp_key);
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* Appends one write; takes json (malloc'd). */
static int push(struct ctrl *c, enum store_op op, const char *resource, const char *ns,
                const char *name, uint64_t expect_rev, char *json, size_t len,
                const json_t *obj, const char *exp_key, bool event)
{
    struct ctrl_manager *m = c->mgr;
    if (m->nwrites == m->capwrites) {
        size_t cap = m->capwrites ? m->capwrites * 2 : 32;
        struct ctrl_write *nw = realloc(m->writes, cap * sizeof *nw);
        if (!nw) {
            free(json);
            return BE_NOMEM;
        }
        m->writes = nw;
        m->capwrites = cap;
    }
    struct ctrl_write *w = &m->writes[m->nwrites];
    memset(w, 0, sizeof *w);
    w->op = op;
    w->resource = resource;
    w->json = json;
    w->json_len = len;
    w->expect_rev = expect_rev;
    w->c = c;
    w->ns = strdup(ns);
    w->name = strdup(name);
    w->event = event;
    w->key = event ? NULL : dup_or_null(c->cur_key);
    w->exp_key = dup_or_null(exp_key);
    if (obj && !strcmp(resource, "pods")) {
        const char *node = json_path_str(obj, "spec.nodeName");
        w->node = strdup(node ? node : "");
    }
    const json_t *ref = obj ? ctrl_controller_ref(obj) : NULL;
    if (ref && json_string_value(json_object_get(ref, "uid")))
        w->owner = strdup(json_string_value(json_object_get(ref, "uid")));
    if (!w->ns || !w->name) {
        ctrl_write_free(w);
        return BE_NOMEM;
    }
    m->nwrites++;
    if (w->key) ctrl_inflight(c, w->key, +1);
    return 0;
}

static void new_uid(struct ctrl *c, char out[37])
{
    unsigned char r[16];
    ctrl_random(c, r, sizeof r); /* injectable, for tests */
    uid_format(r, out);
}

/* Fills in the server-owned metadata of obj (borrowed) and queues it. */
static int create_obj(struct ctrl *c, const char *resource, json_t *obj, const char *exp_key,
                      char *name_out, size_t name_len)
{
    static const char alnum[] = "bcdfghjklmnpqrstvwxz2456789";
    json_t *md = json_object_get(obj, "metadata");
    if (!json_is_object(md)) json_object_set_new(obj, "metadata", md = json_object());
    const char *ns = json_string_value(json_object_get(md, "namespace"));
    const char *name = json_string_value(json_object_get(md, "name"));
    const char *gen = json_string_value(json_object_get(md, "generateName"));
    if (!name && !gen) return BE_INVAL;
    if (!name) {
        unsigned char r[5];
        char buf[320];
        ctrl_random(c, r, sizeof r);
        int n = snprintf(buf, sizeof buf, "%.*s", 250, gen);
        for (int i = 0; i < 5; i++) buf[n + i] = alnum[r[i] % (sizeof alnum - 1)];
        buf[n + 5] = 0;
        json_object_set_new(md, "name", json_string(buf));
        name = json_string_value(json_object_get(md, "name"));
    }
    char uid[37], ts[32];
    new_uid(c, uid);
    ctrl_timestamp(c, ts);
    json_object_set_new(md, "uid", json_string(uid));
    json_object_set_new(md, "creationTimestamp", json_string(ts));
    json_object_del(md, "resourceVersion");
    if (json_object_get(obj, "spec")) json_object_set_new(md, "generation", json_integer(1));
    if (name_out) snprintf(name_out, name_len, "%s", name);
    size_t len;
    char *text = json_dump_object(obj, &len);
    if (!text) return BE_NOMEM;
    return push(c, STORE_CREATE, resource, ns ? ns : "", name, 0, text, len, obj, exp_key,
                !strcmp(resource, "events"));
}

int ctrl_create(struct ctrl *c, const char *resource, json_t *obj, const char *exp_key,
                char *name_out, size_t name_len)
{
    int rc = create_obj(c, resource, obj, exp_key, name_out, name_len);
    json_decref(obj);
    return rc;
}

int ctrl_update(struct ctrl *c, const struct ctrl_obj *cur, json_t *obj)
{
    json_t *md = json_object_get(obj, "metadata");
    int rc = BE_INVAL;
    if (!json_is_object(md)) goto out;
    json_object_del(md, "resourceVersion");
    int64_t g = ctrl_int(cur->obj, "metadata.generation", 0);
    if (!json_same(json_object_get(obj, "spec"), json_object_get(cur->obj, "spec"))) g++;
    if (g > 0) json_object_set_new(md, "generation", json_integer(g));
    size_t len;
    char *text = json_dump_object(obj, &len);
    rc = text ? push(c, STORE_UPDATE, cur->resource, cur->ns, cur->name, cur->rev, text, len, obj,
                     NULL, false)
              : BE_NOMEM;
out:
    json_decref(obj);
    return rc;
}

int ctrl_delete(struct ctrl *c, const struct ctrl_obj *cur, const char *exp_key)
{
    return push(c, STORE_DELETE, cur->resource, cur->ns, cur->name, cur->rev, NULL, 0, NULL,
                exp_key, false);
}

int ctrl_delete_rev(struct ctrl *c, const char *resource, const char *ns, const char *name,
                    uint64_t rev)
{
    return push(c, STORE_DELETE, resource, ns, name, rev, NULL, 0, NULL, NULL, false);
}

void ctrl_write_result(struct ctrl_write *w, int rc)
{
    struct ctrl *c = w->c;
    if (w->key) ctrl_inflight(c, w->key, -1);
    if (!rc) return;
    log_debug("ctrl", "%s: %s %s %s/%s failed: %s", c->def->name,
              w->op == STORE_CREATE ? "create" : w->op == STORE_UPDATE ? "update" : "delete",
              w->resource, w->ns, w->name, be_strerror(rc));
    if (w->event) {
        ctrl_events_clear(c->mgr);
        return;
    }
    if (w->exp_key && w->op == STORE_CREATE) {
        ctrl_observed(c, w->exp_key, 1, 0);
        ctrl_batch_reset(c, w->exp_key);
    } else if (w->exp_key && w->op == STORE_DELETE) {
        ctrl_observed(c, w->exp_key, 0, 1);
    }
    if (w->key && !(w->op == STORE_DELETE && rc == BE_NOTFOUND)) ctrl_requeue_backoff(c, w->key);
}

/* ---- events ------------------------------------------------------------------ */

struct ctrl_evrec {
    json_t *ev;        /* the Event as last written */
};

static void evrec_free(void *p)
{
    struct ctrl_evrec *r = p;
    json_decref(r->ev);
    free(r);
}

void ctrl_events_clear(struct ctrl_manager *m)
{
    dict_clear(&m->events, evrec_free);
}

static json_t *event_new(struct ctrl *c, const struct ctrl_obj *about, const char *type,
                         const char *reason, const char *msg, const char *ts)
{
    const char *av, *kind;
    ctrl_obj_kind(about, &av, &kind);
    unsigned char r[8];
    char name[320], rv[24];
    ctrl_random(c, r, sizeof r);
    snprintf(name, sizeof name, "%.250s.%02x%02x%02x%02x%02x%02x%02x%02x", about->name, r[0], r[1],
             r[2], r[3], r[4], r[5], r[6], r[7]);
    snprintf(rv, sizeof rv, "%llu", (unsigned long long)about->rev);
    const char *ns = about->ns[0] ? about->ns : "default";
    json_t *inv = json_pack("{s:s, s:s, s:s, s:s, s:s}", "kind", kind, "apiVersion", av, "name",
                            about->name, "uid", about->uid ? about->uid : "", "resourceVersion", rv);
    if (inv && about->ns[0]) json_object_set_new(inv, "namespace", json_string(about->ns));
    return json_pack("{s:{s:s, s:s}, s:s, s:s, s:o, s:s, s:s, s:s, s:{s:s}, s:s, s:i, s:s, s:s}",
                     "metadata", "name", name, "namespace", ns, "apiVersion", "v1", "kind",
                     "Event", "involvedObject", inv, "reason", reason, "message", msg, "type",
                     type, "source", "component", c->def->name, "reportingComponent",
                     c->def->name, "count", 1, "firstTimestamp", ts, "lastTimestamp", ts);
}

void ctrl_event(struct ctrl *c, const struct ctrl_obj *about, const char *type,
                const char *reason, const char *fmt, ...)
{
    struct ctrl_manager *m = c->mgr;
    char msg[1024], key[1400], ts[32];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ctrl_timestamp(c, ts);
    log_info("ctrl", "%s: %s %s/%s: %s: %s", c->def->name, about->resource, about->ns,
             about->name, reason, msg);
    snprintf(key, sizeof key, "%s|%s|%s", about->uid ? about->uid : about->name, reason, msg);
    if (m->events.n >= MAX_EVENT_RECORDS) ctrl_events_clear(m);
    struct ctrl_evrec *rec = dict_get(&m->events, key);
    if (rec) {
        json_t *ev = json_deep_copy(rec->ev);
        if (!ev) return;
        json_object_set_new(ev, "count", json_integer(ctrl_int(ev, "count", 1) + 1));
        json_object_set_new(ev, "lastTimestamp", json_string(ts));
        size_t len;
        char *text = json_dump_object(ev, &len);
        const char *ns = json_path_str(ev, "metadata.namespace");
        const char *name = json_path_str(ev, "metadata.name");
        if (text && !push(c, STORE_UPDATE, "events", ns, name, 0, text, len, NULL, NULL, true)) {
            json_decref(rec->ev);
            rec->ev = ev;
        } else {
            json_decref(ev);
        }
    } else {
        json_t *ev = event_new(c, about, type, reason, msg, ts);
        if (!ev) return;
        if (create_obj(c, "events", ev, NULL, NULL, 0) || !(rec = calloc(1, sizeof *rec))) {
            json_decref(ev);
        } else {
            rec->ev = ev;
            if (dict_put(&m->events, key, rec)) evrec_free(rec);
        }
    }
}
