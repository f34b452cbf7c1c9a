/* yamljson.c: YAML documents to jansson values and back (see yamljson.h).
 *
 * Reading walks libyaml's event stream with a recursive descent, one
 * function per node kind, bounded to YJ_MAX_DEPTH levels (libyaml itself
 * keeps its stacks on the heap, so only our recursion needs the bound).
 * Plain scalars are resolved with the YAML 1.2 core schema (scalar_resolve,
 * shared with the emitter so it knows which strings need quotes). Anchors
 * are recorded per document; an alias is a deep copy of its anchor's value
 * (so callers may mutate documents freely) and the copies count against
 * YJ_MAX_ALIAS_NODES, which stops "billion laughs". Merge keys ("<<") are
 * honoured. Every error message names the document and the position.
 *
 * Writing (yj_emit_yaml) feeds libyaml's emitter events in block style into
 * a growing buffer. */
#include "common/yamljson.h"

#include "common/errors.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define YJ_MAX_DEPTH 64
#define YJ_MAX_ALIAS_NODES 100000

/* ---- core schema ------------------------------------------------------ */

enum yj_kind { YJ_STR, YJ_NULL, YJ_BOOL, YJ_INT, YJ_FLOAT, YJ_SPECIAL_FLOAT };

static bool one_of(const char *s, const char *const *words)
{
    for (; *words; words++)
        if (!strcmp(s, *words)) return true;
    return false;
}

static bool all_digits(const char *s, const char *set)
{
    if (!*s) return false;
    for (; *s; s++)
        if (!strchr(set, *s)) return false;
    return true;
}

/* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
static bool is_float(const char *s)
{
    bool mant = false;
    if (*s == '-' || *s == '+') s++;
    while (*s >= '0' && *s <= '9') s++, mant = true;
    if (*s == '.') {
        s++;
        while (*s >= '0' && *s <= '9') s++, mant = true;
    }
    if (!mant) return false;
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '-' || *s == '+') s++;
        if (!all_digits(s, "0123456789")) return false;
        return true;
    }
    return *s == '\0';
}

/* What a plain scalar means under the core schema. */
static enum yj_kind scalar_resolve(const char *s)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
    static const char *const bools[] = {"true", "True", "TRUE", "false", "False", "FALSE", NULL};
    static const char *const special[] = {".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF",
                                          "-.inf", "-.Inf", "-.INF", ".nan", ".NaN", ".NAN", NULL};
    const char *d = s + (*s == '-' || *s == '+');
    if (one_of(s, nulls)) return YJ_NULL;
    if (one_of(s, bools)) return YJ_BOOL;
    if (all_digits(d, "0123456789")) return YJ_INT;
    if (!strncmp(s, "0x", 2) && all_digits(s + 2, "0123456789abcdefABCDEF")) return YJ_INT;
    if (!strncmp(s, "0o", 2) && all_digits(s + 2, "01234567")) return YJ_INT;
    if (one_of(s, special)) return YJ_SPECIAL_FLOAT;
    if (is_float(s)) return YJ_FLOAT;
    return YJ_STR;
}

/* The jansson value of a plain scalar; NULL only on out of memory. */
static json_t *scalar_value(const char *s)
{
    switch (scalar_resolve(s)) {
    case YJ_NULL: return json_null();
    case YJ_BOOL: return json_boolean(s[0] == 't' || s[0] == 'T');
    case YJ_INT: {
        int base = !strncmp(s, "0x", 2) ? 16 : !strncmp(s, "0o", 2) ? 8 : 10;
        errno = 0;
        long long v = strtoll(base == 10 ? s : s + 2, NULL, base);
        if (errno != ERANGE) return json_integer(v);
        if (base != 10) return json_string(s); /* too big: keep the text */
        /* fall through: a huge decimal integer becomes a float */
    }
    /* fall through */
    case YJ_FLOAT: {
        double d = strtod(s, NULL);
        return isfinite(d) ? json_real(d) : json_string(s);
    }
    case YJ_SPECIAL_FLOAT: /* JSON has no inf/nan: keep the text */
    case YJ_STR: break;
    }
    return json_string(s);
}

/* ---- reader state ----------------------------------------------------- */

struct reader {
    yaml_parser_t parser;
    const char *buf;
    size_t len;
    size_t doc;            /* 1-based index of the current document */
    json_t *anchors;       /* name -> [value, nodes, height], per document */
    size_t alias_nodes;    /* nodes created by alias expansion so far */
    size_t node_count;     /* nodes created in the current top call */
    char *errbuf;
    size_t errlen;
};

static int rd_fail(struct reader *r, const yaml_mark_t *m, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int rd_fail(struct reader *r, const yaml_mark_t *m, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (r->errbuf && r->errlen)
        snprintf(r->errbuf, r->errlen, "document %zu, line %zu, column %zu: %s", r->doc,
                 (size_t)m->line + 1, (size_t)m->column + 1, msg);
    return BE_INVAL;
}

/* Reports a libyaml parse error. */
static int rd_parse_error(struct reader *r)
{
    yaml_parser_t *p = &r->parser;
    const yaml_mark_t *m = &p->problem_mark;
    const char *hint = "";
    if (p->error == YAML_MEMORY_ERROR) return rd_fail(r, m, "out of memory");
    if (m->index < r->len && r->buf[m->index] == '\t')
        hint = " (tabs cannot be used for indentation)";
    if (p->context)
        return rd_fail(r, m, "%s%s (%s that starts at line %zu, column %zu)",
                       p->problem ? p->problem : "syntax error", hint, p->context,
                       (size_t)p->context_mark.line + 1, (size_t)p->context_mark.column + 1);
    return rd_fail(r, m, "%s%s", p->problem ? p->problem : "syntax error", hint);
}

static void anchors_clear(struct reader *r)
{
    json_object_clear(r->anchors);
}

/* Nodes in v, and its height (0 for a scalar) into *height. Values come
 * from the reader, so the recursion is bounded by YJ_MAX_DEPTH. */
static size_t count_nodes(const json_t *v, int *height)
{
    size_t n = 1, i;
    const char *k;
    json_t *c;
    int h = 0, ch;
    *height = 0;
    if (json_is_object(v)) {
        json_object_foreach((json_t *)v, k, c) {
            n += count_nodes(c, &ch);
            h = ch > h ? ch : h;
        }
        *height = h + 1;
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, c) {
            n += count_nodes(c, &ch);
            h = ch > h ? ch : h;
        }
        *height = h + 1;
    }
    return n;
}

/* Records value under name (a later anchor of the same name wins) with
 * its size and height, so aliases can be bounded before copying. */
static int anchor_add(struct reader *r, const char *name, json_t *value, const yaml_mark_t *m)
{
    int height;
    size_t nodes = count_nodes(value, &height);
    json_t *rec = json_pack("[Oii]", value, (json_int_t)nodes, (json_int_t)height);
    if (!rec || json_object_set_new(r->anchors, name, rec) < 0)
        return rd_fail(r, m, "out of memory");
    return 0;
}

/* A fresh copy of the anchored value for a node at depth (enclosing
 * collections), or NULL with the error set. */
static json_t *alias_expand(struct reader *r, const yaml_event_t *ev, int depth)
{
    const char *name = (const char *)ev->data.alias.anchor;
    json_t *rec = json_object_get(r->anchors, name);
    if (!rec) {
        rd_fail(r, &ev->start_mark, "unknown anchor \"%.100s\"", name);
        return NULL;
    }
    r->alias_nodes += (size_t)json_integer_value(json_array_get(rec, 1));
    if (r->alias_nodes > YJ_MAX_ALIAS_NODES) {
        rd_fail(r, &ev->start_mark, "aliases expand to more than %d nodes", YJ_MAX_ALIAS_NODES);
        return NULL;
    }
    if (depth + json_integer_value(json_array_get(rec, 2)) > YJ_MAX_DEPTH) {
        rd_fail(r, &ev->start_mark, "nesting deeper than %d levels (through alias \"%.100s\")",
                YJ_MAX_DEPTH, name);
        return NULL;
    }
    json_t *v = json_deep_copy(json_array_get(rec, 0));
    if (!v) rd_fail(r, &ev->start_mark, "out of memory");
    return v;
}

/* ---- reader ----------------------------------------------------------- */

static int next_event(struct reader *r, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&r->parser, ev)) return rd_parse_error(r);
    return 0;
}

static json_t *read_node(struct reader *r, yaml_event_t *ev, int depth);

static bool tagged_str(const yaml_event_t *ev)
{
    const char *tag = (const char *)ev->data.scalar.tag;
    return tag && (!strcmp(tag, YAML_STR_TAG) || !strcmp(tag, "!"));
}

static json_t *read_scalar(struct reader *r, yaml_event_t *ev)
{
    const char *text = (const char *)ev->data.scalar.value;
    json_t *v;
    if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !tagged_str(ev))
        v = scalar_value(text);
    else
        v = json_stringn(text, ev->data.scalar.length);
    if (!v) {
        rd_fail(r, &ev->start_mark, "invalid scalar (not UTF-8, or a NUL byte?)");
        return NULL;
    }
    return v;
}

/* A mapping key as text; keys are always strings in JSON. */
static char *key_text(struct reader *r, yaml_event_t *ev, bool *merge)
{
    json_t *v;
    char buf[64];
    const char *s = buf;
    *merge = false;
    if (ev->type == YAML_SCALAR_EVENT) {
        *merge = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
                 !strcmp((const char *)ev->data.scalar.value, "<<");
        if (strlen((const char *)ev->data.scalar.value) != ev->data.scalar.length) {
            rd_fail(r, &ev->start_mark, "mapping key contains a NUL byte");
            return NULL;
        }
        return strdup((const char *)ev->data.scalar.value);
    }
    if (ev->type != YAML_ALIAS_EVENT) {
        rd_fail(r, &ev->start_mark, "mapping keys must be scalars");
        return NULL;
    }
    if (!(v = alias_expand(r, ev, 0))) return NULL;
    if (json_is_string(v)) s = json_string_value(v);
    else if (json_is_integer(v)) snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else if (json_is_real(v)) snprintf(buf, sizeof buf, "%.17g", json_real_value(v));
    else if (json_is_boolean(v)) s = json_is_true(v) ? "true" : "false";
    else if (json_is_null(v)) s = "null";
    else s = NULL;
    char *out = s ? strdup(s) : NULL;
    json_decref(v);
    if (!s) rd_fail(r, &ev->start_mark, "mapping keys must be scalars");
    return out;
}

/* Collects "<<: value" into *merged (created on demand): keys of the
 * merged mapping(s) not seen yet; the mapping's own keys win at the end. */
static int merge_key(struct reader *r, json_t **merged, json_t *val, const yaml_mark_t *m)
{
    size_t i, n = json_is_array(val) ? json_array_size(val) : 1;
    if (!*merged && !(*merged = json_object())) return rd_fail(r, m, "out of memory");
    for (i = 0; i < n; i++) {
        json_t *item = json_is_array(val) ? json_array_get(val, i) : val;
        if (!json_is_object(item))
            return rd_fail(r, m, "merge key \"<<\" needs a mapping or a list of mappings");
        if (json_object_update_missing(*merged, item) < 0) return rd_fail(r, m, "out of memory");
    }
    return 0;
}

/* One key/value pair; ev is the key's event (consumed here). Returns 1 at
 * the end of the mapping, 0 after a pair, or an error. */
static int read_pair(struct reader *r, json_t *obj, json_t **merged, yaml_event_t *ev, int depth)
{
    bool merge;
    yaml_mark_t km = ev->start_mark;
    if (ev->type == YAML_MAPPING_END_EVENT) return 1;
    char *key = key_text(r, ev, &merge);
    yaml_event_delete(ev);
    if (!key) return BE_INVAL;
    int rc = next_event(r, ev);
    json_t *val = rc < 0 ? NULL : read_node(r, ev, depth);
    if (!val) rc = BE_INVAL;
    else if (merge) rc = merge_key(r, merged, val, &km);
    else if (json_object_get(obj, key)) rc = rd_fail(r, &km, "duplicate key \"%.100s\"", key);
    else if (json_object_set(obj, key, val) < 0) rc = rd_fail(r, &km, "out of memory");
    json_decref(val);
    free(key);
    return rc;
}

static json_t *read_mapping(struct reader *r, int depth)
{
    json_t *obj = json_object(), *merged = NULL;
    yaml_event_t ev;
    if (!obj) {
        rd_fail(r, &r->parser.mark, "out of memory");
        return NULL;
    }
    for (;;) {
        if (next_event(r, &ev) < 0) break;
        int rc = read_pair(r, obj, &merged, &ev, depth);
        if (rc == 1) {
            yaml_event_delete(&ev);
            if (merged && json_object_update_missing(obj, merged) < 0) {
                rd_fail(r, &r->parser.mark, "out of memory");
                break;
            }
            json_decref(merged);
            return obj;
        }
        if (rc < 0) break;
    }
    json_decref(merged);
    json_decref(obj);
    return NULL;
}

static json_t *read_sequence(struct reader *r, int depth)
{
    json_t *arr = json_array();
    yaml_event_t ev;
    if (!arr) {
        rd_fail(r, &r->parser.mark, "out of memory");
        return NULL;
    }
    for (;;) {
        if (next_event(r, &ev) < 0) break;
        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            return arr;
        }
        json_t *v = read_node(r, &ev, depth);
        if (!v) break;
        if (json_array_append_new(arr, v) < 0) {
            rd_fail(r, &r->parser.mark, "out of memory");
            break;
        }
    }
    json_decref(arr);
    return NULL;
}

/* Reads the node that starts with ev (consumed); NULL with the error set. */
static json_t *read_node(struct reader *r, yaml_event_t *ev, int depth)
{
    json_t *v = NULL;
    const char *anchor = NULL;
    yaml_mark_t m = ev->start_mark;
    if (ev->type == YAML_MAPPING_START_EVENT || ev->type == YAML_SEQUENCE_START_EVENT) {
        if (depth >= YJ_MAX_DEPTH) {
            rd_fail(r, &m, "nesting deeper than %d levels", YJ_MAX_DEPTH);
            yaml_event_delete(ev);
            return NULL;
        }
    }
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        anchor = (const char *)ev->data.scalar.anchor;
        v = read_scalar(r, ev);
        break;
    case YAML_ALIAS_EVENT: v = alias_expand(r, ev, depth); break;
    case YAML_MAPPING_START_EVENT:
        anchor = (const char *)ev->data.mapping_start.anchor;
        v = read_mapping(r, depth + 1);
        break;
    case YAML_SEQUENCE_START_EVENT:
        anchor = (const char *)ev->data.sequence_start.anchor;
        v = read_sequence(r, depth + 1);
        break;
    default: rd_fail(r, &m, "unexpected YAML event %d", (int)ev->type); break;
    }
    if (v && anchor && anchor_add(r, anchor, v, &m) < 0) {
        json_decref(v);
        v = NULL;
    }
    yaml_event_delete(ev);
    return v;
}

/* ---- documents -------------------------------------------------------- */

static int docs_push(struct yj_docs *out, json_t *doc, size_t line)
{
    /* grow by doubling: reallocate when n is 0 or a power of two */
    size_t n = out->n, cap = n == 0 ? 1 : ((n & (n - 1)) == 0 ? 2 * n : 0);
    json_t **d = out->docs;
    size_t *l = out->lines;
    if (cap) {
        if (!(d = realloc(out->docs, cap * sizeof *d))) return BE_NOMEM;
        out->docs = d;
        if (!(l = realloc(out->lines, cap * sizeof *l))) return BE_NOMEM;
        out->lines = l;
    }
    d[out->n] = doc;
    l[out->n] = line;
    out->n++;
    return 0;
}

/* Reads one document after its DOCUMENT-START event; adds it unless null. */
static int read_document(struct reader *r, struct yj_docs *out)
{
    yaml_event_t ev;
    if (next_event(r, &ev) < 0) return BE_INVAL;
    size_t line = (size_t)ev.start_mark.line + 1;
    json_t *doc = read_node(r, &ev, 0);
    if (!doc) return BE_INVAL;
    if (next_event(r, &ev) < 0) {
        json_decref(doc);
        return BE_INVAL;
    }
    yaml_event_delete(&ev); /* DOCUMENT-END */
    anchors_clear(r);
    if (json_is_null(doc)) {
        json_decref(doc);
        return 0;
    }
    if (docs_push(out, doc, line) < 0) {
        json_decref(doc);
        return rd_fail(r, &r->parser.mark, "out of memory");
    }
    return 0;
}

int yj_parse_documents(const char *buf, size_t len, struct yj_docs *out, char *errbuf,
                       size_t errlen)
{
    struct reader r = {.buf = buf, .len = len, .doc = 1, .errbuf = errbuf, .errlen = errlen};
    yaml_event_t ev;
    int rc = 0;
    memset(out, 0, sizeof *out);
    if (!(r.anchors = json_object())) return BE_NOMEM;
    if (!yaml_parser_initialize(&r.parser)) {
        json_decref(r.anchors);
        return BE_NOMEM;
    }
    yaml_parser_set_input_string(&r.parser, (const unsigned char *)buf, len);
    size_t started = 0;
    for (;;) {
        if ((rc = next_event(&r, &ev)) < 0) break;
        yaml_event_type_t type = ev.type;
        yaml_event_delete(&ev);
        if (type == YAML_STREAM_END_EVENT) break;
        if (type != YAML_DOCUMENT_START_EVENT) continue; /* STREAM-START */
        r.doc = ++started;
        if ((rc = read_document(&r, out)) < 0) break;
        r.doc = started + 1; /* errors between documents belong to the next */
    }
    json_decref(r.anchors);
    yaml_parser_delete(&r.parser);
    if (rc < 0) yj_docs_free(out);
    return rc;
}

void yj_docs_free(struct yj_docs *docs)
{
    if (!docs) return;
    for (size_t i = 0; i < docs->n; i++) json_decref(docs->docs[i]);
    free(docs->docs);
    free(docs->lines);
    memset(docs, 0, sizeof *docs);
}


/* ---- emitter ---------------------------------------------------------- */

struct outbuf {
    char *p;
    size_t len, cap;
};

static int out_write(void *data, unsigned char *buf, size_t size)
{
    struct outbuf *o = data;
    if (o->len + size + 1 > o->cap) {
        size_t cap = o->cap ? o->cap : 256;
        while (cap < o->len + size + 1) cap *= 2;
        char *p = realloc(o->p, cap);
        if (!p) return 0;
        o->p = p;
        o->cap = cap;
    }
    memcpy(o->p + o->len, buf, size);
    o->len += size;
    o->p[o->len] = '\0';
    return 1;
}

/* Whether a string must be quoted to read back as a string (YAML 1.1's
 * yes/no/on/off are quoted too, for older readers). */
static bool needs_quotes(const char *s, size_t len)
{
    static const char *const yaml11[] = {"y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No",
                                         "NO", "on", "On", "ON", "off", "Off", "OFF", NULL};
    return strlen(s) != len || scalar_resolve(s) != YJ_STR || one_of(s, yaml11) ||
           !strcmp(s, "<<"); /* a plain "<<" key is a merge key */
}

static int emit(yaml_emitter_t *e, yaml_event_t *ev)
{
    return yaml_emitter_emit(e, ev) ? 0 : -1; /* the emitter frees ev */
}

static int emit_scalar(yaml_emitter_t *e, const char *s, size_t len, yaml_scalar_style_t style)
{
    yaml_event_t ev;
    if (!yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)len, 1, 1, style))
        return -1;
    return emit(e, &ev);
}

static int emit_string(yaml_emitter_t *e, const char *s, size_t len)
{
    yaml_scalar_style_t style = YAML_PLAIN_SCALAR_STYLE;
    if (memchr(s, '\n', len) && strlen(s) == len) style = YAML_LITERAL_SCALAR_STYLE;
    else if (needs_quotes(s, len)) style = YAML_DOUBLE_QUOTED_SCALAR_STYLE;
    return emit_scalar(e, s, len, style);
}

/* Shortest text that reads back as the same double, always as a float. */
static void format_real(double d, char *buf, size_t len)
{
    snprintf(buf, len, "%.15g", d);
    if (strtod(buf, NULL) != d) snprintf(buf, len, "%.17g", d);
    if (!strpbrk(buf, ".eEn")) strncat(buf, ".0", len - strlen(buf) - 1);
}

static int emit_value(yaml_emitter_t *e, const json_t *v);

static int emit_collection(yaml_emitter_t *e, const json_t *v)
{
    yaml_event_t ev;
    bool obj = json_is_object(v);
    size_t n = obj ? json_object_size(v) : json_array_size(v), i;
    int style = n ? YAML_BLOCK_MAPPING_STYLE : YAML_FLOW_MAPPING_STYLE;
    const char *k;
    json_t *c;
    if (obj ? !yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, (yaml_mapping_style_t)style)
            : !yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, (yaml_sequence_style_t)style))
        return -1;
    if (emit(e, &ev) < 0) return -1;
    if (obj) {
        json_object_foreach((json_t *)v, k, c) {
            if (emit_string(e, k, strlen(k)) < 0 || emit_value(e, c) < 0) return -1;
        }
    } else {
        json_array_foreach(v, i, c) {
            if (emit_value(e, c) < 0) return -1;
        }
    }
    if (obj ? !yaml_mapping_end_event_initialize(&ev) : !yaml_sequence_end_event_initialize(&ev))
        return -1;
    return emit(e, &ev);
}

static int emit_value(yaml_emitter_t *e, const json_t *v)
{
    char buf[64];
    switch (json_typeof(v)) {
    case JSON_OBJECT:
    case JSON_ARRAY: return emit_collection(e, v);
    case JSON_STRING: return emit_string(e, json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        break;
    case JSON_REAL: format_real(json_real_value(v), buf, sizeof buf); break;
    case JSON_TRUE: strcpy(buf, "true"); break;
    case JSON_FALSE: strcpy(buf, "false"); break;
    case JSON_NULL: strcpy(buf, "null"); break;
    }
    return emit_scalar(e, buf, strlen(buf), YAML_PLAIN_SCALAR_STYLE);
}

static int emit_document(yaml_emitter_t *e, const json_t *value)
{
    yaml_event_t ev;
    if (!yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING) || emit(e, &ev) < 0)
        return -1;
    if (!yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1) || emit(e, &ev) < 0)
        return -1;
    if (emit_value(e, value) < 0) return -1;
    if (!yaml_document_end_event_initialize(&ev, 1) || emit(e, &ev) < 0) return -1;
    if (!yaml_stream_end_event_initialize(&ev) || emit(e, &ev) < 0) return -1;
    return yaml_emitter_flush(e) ? 0 : -1;
}

char *yj_emit_yaml(const json_t *value)
{
    yaml_emitter_t e;
    struct outbuf out = {0};
    if (!value || !yaml_emitter_initialize(&e)) return NULL;
    yaml_emitter_set_output(&e, out_write, &out);
    yaml_emitter_set_unicode(&e, 1);
    yaml_emitter_set_width(&e, -1);
    yaml_emitter_set_indent(&e, 2);
    int rc = emit_document(&e, value);
    yaml_emitter_delete(&e);
    if (rc < 0 || !out.p) {
        free(out.p);
        return NULL;
    }
    return out.p;
}
