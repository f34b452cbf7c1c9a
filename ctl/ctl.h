/* ctl.h: the internals of berthctl shared between its source files.
 *
 * main.c parses the command line into a struct ctl_args and dispatches to one
 * ctl_cmd_* function per verb. Every command gets a struct ctl: the HTTP
 * connection, the namespace flags and an error buffer. Commands return 0 or a
 * negative BE_* code with a message in ctl->err; main prints that message as
 * the one "error: ..." line and exits non-zero. Nothing below main prints an
 * error line itself.
 *
 * Modules: client.c (URLs, requests, Status errors, paginated lists),
 * util.c (string buffer, percent-encoding, ages, text tables), manifest.c
 * (reading -f sources), printers.c (table columns per kind), apply.c (apply,
 * create), get.c (get, watch), describe.c, misc.c (delete, scale, logs,
 * version, cluster members). */
#ifndef BERTH_CTL_H
#define BERTH_CTL_H

#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <time.h>

#include "common/httpc.h"
#include "common/kinds.h"

#ifndef BERTH_VERSION
#define BERTH_VERSION "0.1.0"
#endif

#define CTL_LAST_APPLIED "kubectl.kubernetes.io/last-applied-configuration"

struct ctl {
    httpc_t *http;
    const char *server;
    const char *ns;      /* -n, or "default" */
    bool ns_explicit;    /* -n was given */
    bool all_ns;         /* -A */
    char err[1024];
};

/* The parsed command line: flags of every verb; main checks which verb may
 * take which flag. Strings point into argv. */
struct ctl_args {
    const char *verb;
    const char **pos;    /* positional arguments after the verb */
    int npos;
    const char **files;  /* -f FILE, repeatable */
    int nfiles;
    const char *selector, *field_selector, *output, *cascade;
    const char *container, *replicas, *tail;
    const char *timeout, *to_revision;   /* rollout; timeout also delete */
    const char *grace_period;            /* delete */
    bool watch, follow, ignore_not_found, help;
    bool force, no_wait;                 /* delete --force, --wait=false */
};

/* Records a message (printf-style) and returns rc, for `return ctl_fail(...)`. */
int ctl_fail(struct ctl *c, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- util.c ---- */

/* A growable NUL-terminated string. An allocation failure aborts: berthctl
 * is a short-lived CLI and has nothing sensible to fall back to. */
struct sbuf {
    char *s;
    size_t len, cap;
};
void sb_add(struct sbuf *b, const char *s);
void sb_addn(struct sbuf *b, const char *s, size_t n);
void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s percent-encoded (everything but RFC 3986 unreserved chars). */
void sb_add_enc(struct sbuf *b, const char *s);
/* Appends "?key=value" or "&key=value" (value encoded) depending on b. */
void sb_query(struct sbuf *b, const char *key, const char *value);
void sb_free(struct sbuf *b);
void *xmalloc(size_t n);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

/* kubectl's human durations: "45s", "3m12s", "15m", "3h20m", "2d4h", "400d". */
void ctl_duration(long secs, char *buf, size_t len);
/* Age of an RFC 3339 timestamp against now; "<unknown>" if unparsable. */
void ctl_age(const char *ts, time_t now, char *buf, size_t len);

/* Text tables like kubectl's: left aligned, columns separated by 3 spaces.
 * Row 0 is the header. ctl_tbl_flush prints the rows not printed yet, so a
 * watch can add one row at a time under the first table. */
struct ctl_table {
    size_t ncols;
    char **cells;   /* row-major */
    size_t ncells, cap;
    size_t *width;
    size_t printed; /* rows already printed */
    size_t indent;  /* spaces before each line */
};
void ctl_tbl_init(struct ctl_table *t, size_t ncols);
void ctl_tbl_cell(struct ctl_table *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ctl_tbl_flush(struct ctl_table *t, FILE *out);
size_t ctl_tbl_rows(const struct ctl_table *t);
void ctl_tbl_free(struct ctl_table *t);

/* Remembers the first error of a batch that goes on after an error (apply
 * of several objects, delete of several names): note() after each step,
 * done() at the end restores the first message into c->err and returns its
 * code (0 if none). */
struct ctl_first {
    int rc;
    char msg[1024];
};
void ctl_first_note(struct ctl *c, struct ctl_first *f, int rc);
/* "90s", "5m", "1h30m", "2" (seconds) in seconds; 0 for none, -1 if invalid. */
long ctl_parse_duration(const char *s);
int ctl_first_done(struct ctl *c, struct ctl_first *f);

/* Reads a whole file ("-": stdin) of at most max bytes. */
int ctl_read_file(struct ctl *c, const char *path, size_t max, char **out, size_t *len);

/* ---- client.c ---- */

/* "/apis/apps/v1/namespaces/NS/deployments/NAME/SUB": ns NULL means all
 * namespaces (ignored for cluster-scoped kinds), name and sub may be NULL. */
void ctl_path(struct sbuf *b, const struct kind_info *k, const char *ns,
              const char *name, const char *sub);
/* "deployment.apps" or "pod" (kubectl's resource reference). */
void ctl_kind_ref(const struct kind_info *k, char *buf, size_t len);
/* "deployments.apps" or "pods" (the name used in API messages). */
void ctl_resource_ref(const struct kind_info *k, char *buf, size_t len);
/* Resolves what a user typed ("deploy", "pods", "deployments.apps"). */
int ctl_kind(struct ctl *c, const char *name, const struct kind_info **k);
/* The namespace a command addresses: NULL for -A or a cluster-scoped kind. */
const char *ctl_ns_for(struct ctl *c, const struct kind_info *k);

/* One request. body (may be NULL) is sent as JSON with content type ctype
 * (default application/json). On 2xx returns 0 and, if out is not NULL,
 * the parsed body (NULL if empty). Otherwise returns a BE_* code with the
 * Status message (or a transport error) in c->err; *http gets the status
 * (0 when no response arrived) if http is not NULL. */
int ctl_call(struct ctl *c, const char *method, const char *path, const char *ctype,
             const json_t *body, json_t **out, int *http);
/* Maps an error response to a BE_* code and its message into c->err. */
int ctl_status_error(struct ctl *c, int http, const char *body);
/* Lists every page of a collection (limit=500, following metadata.continue).
 * *items gets a new array; *rv (if not NULL) the list's resourceVersion
 * (malloc'd). Selectors may be NULL. */
int ctl_list(struct ctl *c, const struct kind_info *k, const char *ns,
             const char *label_sel, const char *field_sel, json_t **items, char **rv);

/* ---- manifest.c ---- */

/* One object read from -f sources, already validated. */
struct ctl_obj {
    json_t *obj;                  /* owned */
    const struct kind_info *kind;
    const char *ns;               /* NULL for cluster-scoped kinds; points into obj */
    const char *name;             /* points into obj; may be NULL with generateName */
    char where[256];              /* "deploy.yaml: document 2" */
};
struct ctl_objs {
    struct ctl_obj *v;
    size_t n;
};
/* Reads and validates every document of every source. On any error returns
 * BE_INVAL with "FILE: document N: ..." in c->err and *out empty. With
 * allow_generate_name a metadata.generateName may stand in for the name. */
int ctl_read_manifests(struct ctl *c, const char **files, int nfiles,
                       bool allow_generate_name, struct ctl_objs *out);
void ctl_objs_free(struct ctl_objs *o);

/* ---- printers.c ---- */

/* Fills t's header (with NAMESPACE first if with_ns) for kind k. */
void ctl_print_header(struct ctl_table *t, const struct kind_info *k, bool wide, bool with_ns);
size_t ctl_print_ncols(const struct kind_info *k, bool wide, bool with_ns);
/* Adds obj as one row. */
void ctl_print_row(struct ctl_table *t, const struct kind_info *k, const json_t *obj,
                   bool wide, bool with_ns, time_t now);
/* Fills one events table (TYPE REASON AGE FROM MESSAGE) for describe. */
void ctl_print_events_short(struct ctl_table *t, const json_t *events, time_t now);
/* Sorts an array of events by last-seen time, oldest first. */
void ctl_sort_events(json_t *events);

/* ---- verbs ---- */
int ctl_cmd_apply(struct ctl *c, const struct ctl_args *a);
int ctl_cmd_create(struct ctl *c, const struct ctl_args *a);
int ctl_cmd_get(struct ctl *c, const struct ctl_args *a);
int ctl_cmd_describe(struct ctl *c, const struct ctl_args *a);
int ctl_cmd_delete(struct ctl *c, const struct ctl_args *a);
int ctl_cmd_scale(struct ctl *c, const struct ctl_args *a);
int ctl_cmd_logs(struct ctl *c, const struct ctl_args *a);
int ctl_cmd_version(struct ctl *c, const struct ctl_args *a);
int ctl_cmd_cluster(struct ctl *c, const struct ctl_args *a);
int ctl_cmd_rollout(struct ctl *c, const struct ctl_args *a);   /* rollout.c */
int ctl_cmd_top(struct ctl *c, const struct ctl_args *a);       /* top.c */

/* A resource reference from the command line. */
struct ctl_ref {
    const struct kind_info *kind;
    const char *name;    /* points into argv */
};
/* Parses "KIND [NAME...]" or "KIND/NAME [KIND/NAME...]". *kind gets the kind
 * of the first form (NULL for the second); *refs (malloc'd, free it) the
 * named objects, *n their count (0 for a bare KIND). */
int ctl_refs(struct ctl *c, const char **pos, int npos, const struct kind_info **kind,
             struct ctl_ref **refs, int *n);

#endif
