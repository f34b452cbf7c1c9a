/* get.c: `berthctl get KIND [NAME...] [-l SEL] [--field-selector SEL]
 * [-o wide|json|yaml|name] [-w]`.
 *
 * Without names it lists the collection (every page) and prints a table
 * (printers.c), a List object as JSON or YAML, or kind/name lines. With
 * names (or KIND/NAME references) it GETs each object; a missing one is
 * reported as the error after the others are printed, as kubectl does.
 *
 * -w prints the listing and then follows a watch from the list's
 * resourceVersion: the newline-delimited events of the stream are cut into
 * lines as they arrive and each object becomes one more row under the first
 * table (or one more JSON/YAML document). A 410 Gone relists and watches
 * again; the command ends when the stream ends or on ^C. */
#include "ctl/ctl.h"

#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/jsonutil.h"
#include "common/yamljson.h"

enum out_mode { OUT_TABLE, OUT_WIDE, OUT_JSON, OUT_YAML, OUT_NAME };

struct out {
    enum out_mode mode;
    const struct kind_info *kind;  /* kind of the current table */
    bool with_ns;
    bool any;                      /* something printed already */
    struct ctl_table table;
    time_t now;
};

static int parse_mode(struct ctl *c, const char *o, enum out_mode *m)
{
    static const struct { const char *name; enum out_mode mode; } modes[] = {
        {"wide", OUT_WIDE}, {"json", OUT_JSON}, {"yaml", OUT_YAML}, {"name", OUT_NAME}};
    *m = OUT_TABLE;
    if (!o) return 0;
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
        if (!strcmp(o, modes[i].name)) {
            *m = modes[i].mode;
            return 0;
        }
    return ctl_fail(c, BE_INVAL,
                    "unable to match a printer suitable for the output format \"%s\", allowed "
                    "formats are: json,name,wide,yaml",
                    o);
}

/* kubectl prints objects with their keys in alphabetical order (apiVersion,
 * kind, metadata, spec, status): a recursively sorted copy for YAML output. */
static int key_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static json_t *sorted_copy(const json_t *v)
{
    if (json_is_array(v)) {
        json_t *out = json_array();
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) json_array_append_new(out, sorted_copy(x));
        return out;
    }
    if (!json_is_object(v)) return json_copy((json_t *)v);
    size_t n = json_object_size(v), i = 0;
    const char **keys = malloc((n ? n : 1) * sizeof *keys);
    const char *k;
    json_t *x;
    json_t *out = json_object();
    if (!keys) return out;
    json_object_foreach((json_t *)v, k, x) keys[i++] = k;
    qsort(keys, n, sizeof *keys, key_cmp);
    for (i = 0; i < n; i++) json_object_set_new(out, keys[i], sorted_copy(json_object_get(v, keys[i])));
    free(keys);
    return out;
}

static void print_json(const json_t *v)
{
    char *s = json_dumps(v, JSON_INDENT(4) | JSON_SORT_KEYS);
    if (s) printf("%s\n", s);
    free(s);
    fflush(stdout);
}

static void print_yaml(const json_t *v)
{
    json_t *sorted = sorted_copy(v);
    char *s = yj_emit_yaml(sorted);
    json_decref(sorted);
    if (s) fputs(s, stdout);
    free(s);
    fflush(stdout);
}

/* Starts a table for kind k unless the current one is for k. */
static void table_for(struct out *o, const struct kind_info *k, bool with_ns)
{
    if (o->kind == k && o->table.ncols) return;
    if (o->table.ncols) {
        ctl_tbl_flush(&o->table, stdout);
        ctl_tbl_free(&o->table);
        if (o->any) printf("\n");
    }
    o->kind = k;
    o->with_ns = with_ns;
    ctl_tbl_init(&o->table, ctl_print_ncols(k, o->mode == OUT_WIDE, with_ns));
    ctl_print_header(&o->table, k, o->mode == OUT_WIDE, with_ns);
}

/* Prints one object in the current mode (tables only buffer the row). */
static void out_object(struct out *o, const struct kind_info *k, const json_t *obj, bool with_ns)
{
    char ref[160];
    switch (o->mode) {
    case OUT_TABLE:
    case OUT_WIDE:
        table_for(o, k, with_ns);
        ctl_print_row(&o->table, k, obj, o->mode == OUT_WIDE, with_ns, o->now);
        break;
    case OUT_JSON: print_json(obj); break;
    case OUT_YAML:
        if (o->any) printf("---\n");
        print_yaml(obj);
        break;
    case OUT_NAME:
        ctl_kind_ref(k, ref, sizeof ref);
        printf("%s/%s\n", ref, json_path_str(obj, "metadata.name") ? json_path_str(obj, "metadata.name") : "");
        break;
    }
    o->any = true;
}

/* Prints a list: a List object for json/yaml, rows or names otherwise. */
static void out_list(struct out *o, const struct kind_info *k, json_t *items, bool with_ns)
{
    if (o->mode == OUT_JSON || o->mode == OUT_YAML) {
        json_t *list = json_pack("{s:s, s:s, s:O}", "apiVersion", "v1", "kind", "List", "items", items);
        if (o->mode == OUT_JSON) print_json(list);
        else print_yaml(list);
        json_decref(list);
        o->any = true;
        return;
    }
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it) out_object(o, k, it, with_ns);
    if (o->table.ncols) ctl_tbl_flush(&o->table, stdout);
}

static void out_free(struct out *o)
{
    if (o->table.ncols) {
        if (ctl_tbl_rows(&o->table) > 1) ctl_tbl_flush(&o->table, stdout);
        ctl_tbl_free(&o->table);
    }
}

/* ---- watch ---- */

struct watch {
    struct ctl *c;
    struct out *out;
    const struct kind_info *kind;
    struct sbuf line;
    int rc;
};

static int watch_line(struct watch *w, const char *s, size_t n)
{
    json_error_t je;
    json_t *ev = json_loadb(s, n, 0, &je);
    if (!ev) {
        w->rc = ctl_fail(w->c, BE_PROTO, "bad watch event from the server: %s", je.text);
        return 1;
    }
    const char *type = json_path_str(ev, "type");
    json_t *obj = json_object_get(ev, "object");
    int stop = 0;
    if (type && !strcmp(type, "ERROR")) {
        const char *msg = json_path_str(obj, "message");
        int64_t code = 0;
        json_path_int(obj, "code", &code);
        w->rc = ctl_fail(w->c, code == 410 ? BE_GONE : BE_PROTO, "%s", msg ? msg : "watch failed");
        stop = 1;
    } else if (type && strcmp(type, "BOOKMARK") && json_is_object(obj)) {
        w->out->now = time(NULL);
        out_object(w->out, w->kind, obj, w->out->with_ns);
        if (w->out->table.ncols) ctl_tbl_flush(&w->out->table, stdout);
    }
    json_decref(ev);
    return stop;
}

static int watch_data(void *data, const char *buf, size_t len)
{
    struct watch *w = data;
    sb_addn(&w->line, buf, len);
    char *start = w->line.s, *nl;
    int stop = 0;
    while (!stop && (nl = memchr(start, '\n', w->line.len - (size_t)(start - w->line.s)))) {
        size_t n = (size_t)(nl - start);
        if (n > 0 && !(n == 1 && start[0] == '\r')) stop = watch_line(w, start, n);
        start = nl + 1;
    }
    size_t rest = w->line.len - (size_t)(start - w->line.s);
    memmove(w->line.s, start, rest);
    w->line.len = rest;
    w->line.s[rest] = '\0';
    return stop;
}

/* One watch request from rv; returns 0 when the stream ended, BE_GONE to relist. */
static int watch_once(struct ctl *c, struct out *o, const struct kind_info *k, const char *ns,
                      const char *lsel, const char *fsel, const char *rv)
{
    struct sbuf p = {0};
    ctl_path(&p, k, ns, NULL, NULL);
    sb_query(&p, "watch", "1");
    if (rv) sb_query(&p, "resourceVersion", rv);
    if (lsel) sb_query(&p, "labelSelector", lsel);
    if (fsel) sb_query(&p, "fieldSelector", fsel);
    struct watch w = {.c = c, .out = o, .kind = k};
    int status = 0;
    char *err_body = NULL, eb[512] = "";
    int rc = httpc_stream(c->http, "GET", p.s, watch_data, &w, &status, &err_body, eb, sizeof eb);
    sb_free(&p);
    sb_free(&w.line);
    if (w.rc) rc = w.rc;
    else if (status && (status < 200 || status > 299)) rc = ctl_status_error(c, status, err_body);
    else if (rc) rc = ctl_fail(c, rc, "%s", eb[0] ? eb : be_strerror(rc));
    free(err_body);
    return rc;
}

static int watch_loop(struct ctl *c, struct out *o, const struct kind_info *k, const char *ns,
                      const char *lsel, const char *fsel, char *rv)
{
    for (int relists = 0;; relists++) {
        int rc = watch_once(c, o, k, ns, lsel, fsel, rv);
        free(rv);
        if (rc != BE_GONE || relists >= 5) return rc;
        json_t *items = NULL;
        rc = ctl_list(c, k, ns, lsel, fsel, &items, &rv);
        json_decref(items);
        if (rc) return rc;
    }
}

/* ---- the verb ---- */

static int get_list(struct ctl *c, const struct ctl_args *a, struct out *o, const struct kind_info *k)
{
    const char *ns = ctl_ns_for(c, k);
    bool with_ns = c->all_ns && k->namespaced;
    json_t *items = NULL;
    char *rv = NULL;
    int rc = ctl_list(c, k, ns, a->selector, a->field_selector, &items, &rv);
    if (rc) return rc;
    if (!strcmp(k->resource, "events")) ctl_sort_events(items);
    o->with_ns = with_ns;
    out_list(o, k, items, with_ns);
    if (json_array_size(items) == 0 && o->mode != OUT_JSON && o->mode != OUT_YAML) {
        if (ns) fprintf(stderr, "No resources found in %s namespace.\n", ns);
        else fprintf(stderr, "No resources found\n");
    }
    json_decref(items);
    if (!a->watch) {
        free(rv);
        return 0;
    }
    if (!o->table.ncols && (o->mode == OUT_TABLE || o->mode == OUT_WIDE)) table_for(o, k, with_ns);
    return watch_loop(c, o, k, ns, a->selector, a->field_selector, rv);
}

/* -w on one named object: a watch with fieldSelector metadata.name=NAME. */
static int watch_named(struct ctl *c, const struct ctl_args *a, struct out *o,
                       const struct ctl_ref *r, const char *rv)
{
    struct sbuf fs = {0};
    sb_printf(&fs, "metadata.name=%s", r->name);
    if (a->field_selector) sb_printf(&fs, ",%s", a->field_selector);
    int rc = watch_loop(c, o, r->kind, ctl_ns_for(c, r->kind), NULL, fs.s, rv ? xstrdup(rv) : NULL);
    sb_free(&fs);
    return rc;
}

static int get_named(struct ctl *c, const struct ctl_args *a, struct out *o,
                     const struct ctl_ref *refs, int n)
{
    struct ctl_first first = {0};
    json_t *found = json_array();
    const struct kind_info **kinds = xmalloc((size_t)n * sizeof *kinds);
    for (int i = 0; i < n; i++) {
        struct sbuf p = {0};
        ctl_path(&p, refs[i].kind, ctl_ns_for(c, refs[i].kind), refs[i].name, NULL);
        json_t *obj = NULL;
        int rc = ctl_call(c, "GET", p.s, NULL, NULL, &obj, NULL);
        sb_free(&p);
        ctl_first_note(c, &first, rc);
        if (!rc && obj) {
            kinds[json_array_size(found)] = refs[i].kind;
            json_array_append_new(found, obj);
        }
    }
    size_t nf = json_array_size(found);
    if (nf > 1 && (o->mode == OUT_JSON || o->mode == OUT_YAML)) {
        out_list(o, kinds[0], found, false);
    } else {
        for (size_t i = 0; i < nf; i++) out_object(o, kinds[i], json_array_get(found, i), false);
        out_free(o);
    }
    int rc = ctl_first_done(c, &first);
    if (!rc && a->watch && n == 1) {
        const char *rv = json_path_str(json_array_get(found, 0), "metadata.resourceVersion");
        if (!o->table.ncols && (o->mode == OUT_TABLE || o->mode == OUT_WIDE)) table_for(o, refs[0].kind, false);
        rc = watch_named(c, a, o, &refs[0], rv);
    }
    free(kinds);
    json_decref(found);
    return rc;
}

/* "get pods,deploy": one table per kind (empty ones skipped), or one List
 * of everything for json/yaml. */
static int get_kinds(struct ctl *c, const struct ctl_args *a, struct out *o, const char *list)
{
    if (a->watch) return ctl_fail(c, BE_INVAL, "watch is only supported on one kind at a time");
    char *copy = xstrdup(list), *save = NULL;
    json_t *all = json_array();
    int rc = 0;
    bool structured = o->mode == OUT_JSON || o->mode == OUT_YAML;
    for (char *name = strtok_r(copy, ",", &save); !rc && name; name = strtok_r(NULL, ",", &save)) {
        const struct kind_info *k;
        json_t *items = NULL;
        rc = ctl_kind(c, name, &k);
        if (!rc) rc = ctl_list(c, k, ctl_ns_for(c, k), a->selector, a->field_selector, &items, NULL);
        if (rc) break;
        if (structured) json_array_extend(all, items);
        else out_list(o, k, items, c->all_ns && k->namespaced);
        json_decref(items);
    }
    if (!rc && structured) out_list(o, NULL, all, false);
    if (!rc && !o->any) {
        if (c->all_ns) fprintf(stderr, "No resources found\n");
        else fprintf(stderr, "No resources found in %s namespace.\n", c->ns);
    }
    json_decref(all);
    free(copy);
    return rc;
}

int ctl_cmd_get(struct ctl *c, const struct ctl_args *a)
{
    struct out o = {.now = time(NULL)};
    int rc = parse_mode(c, a->output, &o.mode);
    if (rc) return rc;
    if (a->npos == 0)
        return ctl_fail(c, BE_INVAL, "you must specify the type of resource to get");
    if (a->npos == 1 && strchr(a->pos[0], ',') && !strchr(a->pos[0], '/')) {
        rc = get_kinds(c, a, &o, a->pos[0]);
        out_free(&o);
        return rc;
    }
    const struct kind_info *k;
    struct ctl_ref *refs;
    int n;
    rc = ctl_refs(c, a->pos, a->npos, &k, &refs, &n);
    if (rc) return rc;
    if (n > 0 && c->all_ns)
        rc = ctl_fail(c, BE_INVAL, "a resource cannot be retrieved by name across all namespaces");
    else if (a->watch && n > 1)
        rc = ctl_fail(c, BE_INVAL, "watch is only supported on individual resources and resource collections");
    else if (n == 0) rc = get_list(c, a, &o, k);
    else rc = get_named(c, a, &o, refs, n);
    out_free(&o);
    free(refs);
    return rc;
}
