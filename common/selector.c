/* selector.c: Kubernetes label and field selectors (see selector.h).
 *
 * The string form is read by a small lexer (identifiers are runs of
 * anything but blanks and the operator characters "!=,()<>") and a
 * recursive-descent parser over it:
 *
 *   selector    := "" | requirement ("," requirement)*
 *   requirement := "!" KEY | KEY | KEY ("="|"=="|"!=") [VALUE]
 *                | KEY ("in"|"notin") "(" [VALUE] ("," [VALUE])* ")"
 *
 * Requirements are appended to a growing array as they are read; on any
 * error the whole selector is freed, so callers never see half of one.
 * Field selectors (field_*) live at the end: terms split on unescaped
 * commas, with "\\" escapes as in Kubernetes. */
#include "common/selector.h"

#include "common/errors.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(char *errbuf, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *errbuf, size_t errlen, const char *fmt, ...)
{
    if (errbuf && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(errbuf, errlen, fmt, ap);
        va_end(ap);
    }
    return BE_INVAL;
}

/* ---- validation ------------------------------------------------------- */

static bool name_char(char c)
{
    return isalnum((unsigned char)c) || c == '-' || c == '_' || c == '.';
}

/* A name part or a label value: ≤ 63 of [A-Za-z0-9-_.], alnum at the ends. */
static const char *check_name(const char *s, size_t n, bool allow_empty)
{
    if (n == 0) return allow_empty ? NULL : "must not be empty";
    if (n > 63) return "must be 63 characters or less";
    for (size_t i = 0; i < n; i++)
        if (!name_char(s[i]))
            return "must consist of alphanumeric characters, '-', '_' or '.'";
    if (!isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
        return "must start and end with an alphanumeric character";
    return NULL;
}

/* A lowercase DNS-1123 subdomain, ≤ 253 chars. */
static const char *check_prefix(const char *s, size_t n)
{
    if (n == 0) return "prefix must not be empty";
    if (n > 253) return "prefix must be 253 characters or less";
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alnum = islower((unsigned char)c) || isdigit((unsigned char)c);
        if (!alnum && c != '-' && c != '.')
            return "prefix must be a lowercase DNS subdomain";
        bool edge = i == 0 || i == n - 1 || s[i - 1] == '.' || s[i + 1] == '.';
        if (edge && !alnum) return "prefix must be a lowercase DNS subdomain";
    }
    return NULL;
}

static int check_key(const char *key, char *errbuf, size_t errlen)
{
    const char *slash = strchr(key, '/');
    const char *why;
    if (slash) {
        if ((why = check_prefix(key, (size_t)(slash - key))))
            return fail(errbuf, errlen, "invalid label key \"%.300s\": %s", key, why);
        key = slash + 1;
    }
    why = check_name(key, strlen(key), false);
    if (why) return fail(errbuf, errlen, "invalid label key \"%.300s\": name part %s",
                         slash ? slash + 1 : key, why);
    return 0;
}

static int check_value(const char *v, char *errbuf, size_t errlen)
{
    const char *why = check_name(v, strlen(v), true);
    return why ? fail(errbuf, errlen, "invalid label value \"%.300s\": %s", v, why) : 0;
}

/* ---- the requirement list --------------------------------------------- */

static void req_free(struct sel_req *r)
{
    free(r->key);
    for (size_t i = 0; i < r->nvalues; i++) free(r->values[i]);
    free(r->values);
}

void selector_free(struct selector *sel)
{
    if (!sel) return;
    for (size_t i = 0; i < sel->n; i++) req_free(&sel->reqs[i]);
    free(sel->reqs);
    sel->reqs = NULL;
    sel->n = 0;
}

/* Capacity for n+1 elements when arrays grow by doubling: the array is
 * reallocated only when n is 0 or a power of two, so appends stay linear. */
static size_t grow_cap(size_t n) { return n == 0 ? 1 : ((n & (n - 1)) == 0 ? 2 * n : 0); }

/* Appends a requirement with key and no values; returns it or NULL. */
static struct sel_req *req_add(struct selector *sel, const char *key, size_t keylen,
                               enum sel_op op)
{
    struct sel_req *reqs = sel->reqs;
    size_t cap = grow_cap(sel->n);
    if (cap && !(reqs = realloc(sel->reqs, cap * sizeof *reqs))) return NULL;
    sel->reqs = reqs;
    struct sel_req *r = &reqs[sel->n];
    if (!(r->key = strndup(key, keylen))) return NULL;
    r->op = op;
    r->values = NULL;
    r->nvalues = 0;
    sel->n++;
    return r;
}

static int req_add_value(struct sel_req *r, const char *v, size_t len)
{
    char **vals = r->values;
    size_t cap = grow_cap(r->nvalues);
    if (cap && !(vals = realloc(r->values, cap * sizeof *vals))) return BE_NOMEM;
    r->values = vals;
    if (!(vals[r->nvalues] = strndup(v, len))) return BE_NOMEM;
    r->nvalues++;
    return 0;
}

/* ---- lexer ------------------------------------------------------------ */

enum tok { T_END, T_IDENT, T_NOT, T_EQ, T_DEQ, T_NEQ, T_LPAR, T_RPAR, T_COMMA, T_LT, T_GT };

struct lexer {
    const char *s;     /* whole input */
    size_t pos;        /* next unread byte */
    enum tok tok;      /* current token */
    const char *text;  /* its text, for T_IDENT */
    size_t len;
    size_t at;         /* its offset, for messages */
};

static void lex_next(struct lexer *lx)
{
    const char *s = lx->s;
    while (isspace((unsigned char)s[lx->pos])) lx->pos++;
    lx->at = lx->pos;
    lx->text = s + lx->pos;
    lx->len = 1;
    char c = s[lx->pos];
    switch (c) {
    case '\0': lx->tok = T_END; lx->len = 0; return;
    case ',': lx->tok = T_COMMA; break;
    case '(': lx->tok = T_LPAR; break;
    case ')': lx->tok = T_RPAR; break;
    case '<': lx->tok = T_LT; break;
    case '>': lx->tok = T_GT; break;
    case '=':
        lx->tok = s[lx->pos + 1] == '=' ? T_DEQ : T_EQ;
        lx->len = lx->tok == T_DEQ ? 2 : 1;
        break;
    case '!':
        lx->tok = s[lx->pos + 1] == '=' ? T_NEQ : T_NOT;
        lx->len = lx->tok == T_NEQ ? 2 : 1;
        break;
    default:
        lx->tok = T_IDENT;
        lx->len = 0;
        while (s[lx->pos + lx->len] && !isspace((unsigned char)s[lx->pos + lx->len]) &&
               !strchr("!=,()<>", s[lx->pos + lx->len]))
            lx->len++;
    }
    lx->pos += lx->len;
}

static bool tok_is(const struct lexer *lx, const char *word)
{
    return lx->tok == T_IDENT && lx->len == strlen(word) && !memcmp(lx->text, word, lx->len);
}

static int unexpected(const struct lexer *lx, const char *expected, char *errbuf, size_t errlen)
{
    if (lx->tok == T_END)
        return fail(errbuf, errlen, "invalid selector \"%.200s\": unexpected end, expected %s",
                    lx->s, expected);
    return fail(errbuf, errlen, "invalid selector \"%.200s\": at position %zu: found '%.*s', expected %s",
                lx->s, lx->at + 1, (int)(lx->len > 60 ? 60 : lx->len), lx->text, expected);
}

/* ---- parser ----------------------------------------------------------- */

/* Reads "(" [v] ("," [v])* ")" into r; the lexer is on "(". */
static int parse_set(struct lexer *lx, struct sel_req *r, char *errbuf, size_t errlen)
{
    lex_next(lx);
    if (lx->tok == T_RPAR) {
        lex_next(lx);
        return fail(errbuf, errlen, "invalid selector \"%.200s\": for 'in' and 'notin' the set of values must not be empty", lx->s);
    }
    for (;;) {
        const char *v = "";
        size_t n = 0;
        if (lx->tok == T_IDENT) {
            v = lx->text;
            n = lx->len;
            lex_next(lx);
        }
        if (req_add_value(r, v, n) < 0) return fail(errbuf, errlen, "out of memory");
        if (check_value(r->values[r->nvalues - 1], errbuf, errlen) < 0) return BE_INVAL;
        if (lx->tok == T_RPAR) break;
        if (lx->tok != T_COMMA) return unexpected(lx, "',' or ')'", errbuf, errlen);
        lex_next(lx);
    }
    lex_next(lx);
    return 0;
}

/* Reads what follows a key; the lexer is on the token after it. */
static int parse_restriction(struct lexer *lx, struct selector *sel, const char *key,
                             size_t keylen, char *errbuf, size_t errlen)
{
    enum sel_op op;
    struct sel_req *r;
    if (lx->tok == T_COMMA || lx->tok == T_END) {
        if (!(r = req_add(sel, key, keylen, SEL_EXISTS))) return fail(errbuf, errlen, "out of memory");
        return check_key(r->key, errbuf, errlen);
    }
    if (lx->tok == T_EQ || lx->tok == T_DEQ) op = SEL_EQ;
    else if (lx->tok == T_NEQ) op = SEL_NEQ;
    else if (tok_is(lx, "in")) op = SEL_IN;
    else if (tok_is(lx, "notin")) op = SEL_NOTIN;
    else if (lx->tok == T_LT || lx->tok == T_GT)
        return fail(errbuf, errlen, "invalid selector \"%.200s\": operators '<' and '>' are not supported", lx->s);
    else
        return unexpected(lx, "'=', '==', '!=', 'in', 'notin', ',' or end", errbuf, errlen);
    if (!(r = req_add(sel, key, keylen, op))) return fail(errbuf, errlen, "out of memory");
    if (check_key(r->key, errbuf, errlen) < 0) return BE_INVAL;
    lex_next(lx);
    if (op == SEL_IN || op == SEL_NOTIN) {
        if (lx->tok != T_LPAR) return unexpected(lx, "'('", errbuf, errlen);
        return parse_set(lx, r, errbuf, errlen);
    }
    const char *v = "";
    size_t n = 0;
    if (lx->tok == T_IDENT) {
        v = lx->text;
        n = lx->len;
        lex_next(lx);
    }
    if (req_add_value(r, v, n) < 0) return fail(errbuf, errlen, "out of memory");
    return check_value(r->values[0], errbuf, errlen);
}

static int parse_requirement(struct lexer *lx, struct selector *sel, char *errbuf, size_t errlen)
{
    if (lx->tok == T_NOT) {
        lex_next(lx);
        if (lx->tok != T_IDENT) return unexpected(lx, "a label key after '!'", errbuf, errlen);
        struct sel_req *r = req_add(sel, lx->text, lx->len, SEL_NOTEXISTS);
        if (!r) return fail(errbuf, errlen, "out of memory");
        lex_next(lx);
        return check_key(r->key, errbuf, errlen);
    }
    if (lx->tok != T_IDENT) return unexpected(lx, "a label key or '!'", errbuf, errlen);
    const char *key = lx->text;
    size_t keylen = lx->len;
    lex_next(lx);
    return parse_restriction(lx, sel, key, keylen, errbuf, errlen);
}

int selector_parse(const char *text, struct selector *sel, char *errbuf, size_t errlen)
{
    struct lexer lx = {.s = text ? text : ""};
    sel->reqs = NULL;
    sel->n = 0;
    lex_next(&lx);
    if (lx.tok == T_END) return 0;
    for (;;) {
        if (parse_requirement(&lx, sel, errbuf, errlen) < 0) goto err;
        if (lx.tok == T_END) return 0;
        if (lx.tok != T_COMMA) {
            unexpected(&lx, "',' or end", errbuf, errlen);
            goto err;
        }
        lex_next(&lx);
    }
err:
    selector_free(sel);
    return BE_INVAL;
}

/* ---- LabelSelector objects -------------------------------------------- */

static int from_match_labels(const json_t *ml, struct selector *sel, char *errbuf, size_t errlen)
{
    const char *key;
    json_t *v;
    if (!ml) return 0;
    if (!json_is_object(ml)) return fail(errbuf, errlen, "matchLabels must be an object");
    json_object_foreach((json_t *)ml, key, v) {
        if (!json_is_string(v))
            return fail(errbuf, errlen, "matchLabels.%.200s must be a string", key);
        struct sel_req *r = req_add(sel, key, strlen(key), SEL_EQ);
        if (!r || req_add_value(r, json_string_value(v), json_string_length(v)) < 0)
            return fail(errbuf, errlen, "out of memory");
        if (check_key(key, errbuf, errlen) < 0 ||
            check_value(r->values[0], errbuf, errlen) < 0)
            return BE_INVAL;
    }
    return 0;
}

static int op_from_name(const char *name, enum sel_op *op)
{
    static const struct { const char *name; enum sel_op op; } ops[] = {
        {"In", SEL_IN}, {"NotIn", SEL_NOTIN}, {"Exists", SEL_EXISTS},
        {"DoesNotExist", SEL_NOTEXISTS}};
    for (size_t i = 0; name && i < sizeof ops / sizeof ops[0]; i++)
        if (!strcmp(name, ops[i].name)) {
            *op = ops[i].op;
            return 0;
        }
    return BE_INVAL;
}

static int from_expression(const json_t *e, size_t idx, struct selector *sel,
                           char *errbuf, size_t errlen)
{
    const char *key = json_string_value(json_object_get(e, "key"));
    const char *opname = json_string_value(json_object_get(e, "operator"));
    json_t *vals = json_object_get(e, "values"), *v;
    enum sel_op op;
    size_t i;
    if (!json_is_object(e) || !key)
        return fail(errbuf, errlen, "matchExpressions[%zu].key: required string", idx);
    if (op_from_name(opname, &op) < 0)
        return fail(errbuf, errlen, "matchExpressions[%zu].operator: \"%.40s\" is not one of In, NotIn, Exists, DoesNotExist",
                    idx, opname ? opname : "");
    if (vals && !json_is_null(vals) && !json_is_array(vals))
        return fail(errbuf, errlen, "matchExpressions[%zu].values must be a list", idx);
    size_t nv = json_array_size(vals);
    if ((op == SEL_IN || op == SEL_NOTIN) && nv == 0)
        return fail(errbuf, errlen, "matchExpressions[%zu].values: must be specified when operator is %s", idx, opname);
    if ((op == SEL_EXISTS || op == SEL_NOTEXISTS) && nv > 0)
        return fail(errbuf, errlen, "matchExpressions[%zu].values: may not be specified when operator is %s", idx, opname);
    if (check_key(key, errbuf, errlen) < 0) return BE_INVAL;
    struct sel_req *r = req_add(sel, key, strlen(key), op);
    if (!r) return fail(errbuf, errlen, "out of memory");
    json_array_foreach(vals, i, v) {
        if (!json_is_string(v))
            return fail(errbuf, errlen, "matchExpressions[%zu].values[%zu] must be a string", idx, i);
        if (req_add_value(r, json_string_value(v), json_string_length(v)) < 0)
            return fail(errbuf, errlen, "out of memory");
        if (check_value(r->values[i], errbuf, errlen) < 0) return BE_INVAL;
    }
    return 0;
}

int selector_from_json(const json_t *ls, struct selector *sel, char *errbuf, size_t errlen)
{
    json_t *exprs = json_object_get(ls, "matchExpressions"), *e;
    size_t i;
    sel->reqs = NULL;
    sel->n = 0;
    if (!json_is_object(ls)) return fail(errbuf, errlen, "label selector must be an object");
    if (from_match_labels(json_object_get(ls, "matchLabels"), sel, errbuf, errlen) < 0)
        goto err;
    if (exprs && !json_is_null(exprs) && !json_is_array(exprs)) {
        fail(errbuf, errlen, "matchExpressions must be a list");
        goto err;
    }
    json_array_foreach(exprs, i, e) {
        if (from_expression(e, i, sel, errbuf, errlen) < 0) goto err;
    }
    return 0;
err:
    selector_free(sel);
    return BE_INVAL;
}

/* ---- matching --------------------------------------------------------- */

static bool in_values(const struct sel_req *r, const char *v)
{
    for (size_t i = 0; i < r->nvalues; i++)
        if (!strcmp(r->values[i], v)) return true;
    return false;
}

static bool req_matches(const struct sel_req *r, const json_t *labels)
{
    const char *v = json_string_value(json_object_get(labels, r->key));
    switch (r->op) {
    case SEL_EQ: return v && !strcmp(v, r->values[0]);
    case SEL_NEQ: return !v || strcmp(v, r->values[0]) != 0;
    case SEL_IN: return v && in_values(r, v);
    case SEL_NOTIN: return !v || !in_values(r, v);
    case SEL_EXISTS: return v != NULL;
    case SEL_NOTEXISTS: return v == NULL;
    }
    return false;
}

bool selector_matches(const struct selector *sel, const json_t *labels)
{
    for (size_t i = 0; i < sel->n; i++)
        if (!req_matches(&sel->reqs[i], labels)) return false;
    return true;
}

/* True when sel has no requirements, i.e. it does not restrict anything
 * (Kubernetes' Selector.Empty()). */
bool selector_empty(const struct selector *sel)
{
    return sel->n == 0;
}


/* ---- field selectors -------------------------------------------------- */

void field_selector_free(struct field_selector *fs)
{
    if (!fs) return;
    for (size_t i = 0; i < fs->n; i++) {
        free(fs->reqs[i].field);
        free(fs->reqs[i].value);
    }
    free(fs->reqs);
    fs->reqs = NULL;
    fs->n = 0;
}

/* Copies s[0..n) without surrounding blanks and with "\x" unescaped. */
static char *unescape_trim(const char *s, size_t n)
{
    while (n && isspace((unsigned char)*s)) s++, n--;
    while (n && isspace((unsigned char)s[n - 1]) && (n < 2 || s[n - 2] != '\\')) n--;
    char *out = malloc(n + 1), *o = out;
    if (!out) return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\' && i + 1 < n) i++;
        *o++ = s[i];
    }
    *o = '\0';
    return out;
}

/* Parses one term s[0..n) ("f=v", "f==v", "f!=v") into r. */
static int field_term(const char *s, size_t n, struct field_req *r, char *errbuf, size_t errlen)
{
    size_t i, oplen = 0;
    for (i = 0; i < n; i++) {
        if (s[i] == '\\') { i++; continue; }
        if (s[i] == '!' && i + 1 < n && s[i + 1] == '=') { oplen = 2; break; }
        if (s[i] == '=') { oplen = i + 1 < n && s[i + 1] == '=' ? 2 : 1; break; }
    }
    if (!oplen)
        return fail(errbuf, errlen, "invalid field selector term \"%.*s\": expected field=value, field==value or field!=value",
                    (int)(n > 200 ? 200 : n), s);
    r->negate = s[i] == '!';
    r->field = unescape_trim(s, i);
    r->value = unescape_trim(s + i + oplen, n - i - oplen);
    if (!r->field || !r->value) return fail(errbuf, errlen, "out of memory");
    if (!r->field[0])
        return fail(errbuf, errlen, "invalid field selector term \"%.*s\": missing field name",
                    (int)(n > 200 ? 200 : n), s);
    for (const char *p = r->field; *p; p++)
        if (isspace((unsigned char)*p) || strchr("=!,", *p))
            return fail(errbuf, errlen, "invalid field selector: bad field name \"%.200s\"", r->field);
    return 0;
}

int field_selector_parse(const char *text, struct field_selector *fs, char *errbuf, size_t errlen)
{
    const char *s = text ? text : "";
    fs->reqs = NULL;
    fs->n = 0;
    while (isspace((unsigned char)*s)) s++;
    if (!*s) return 0;
    for (;;) {
        size_t n = 0;
        while (s[n] && s[n] != ',') n += (s[n] == '\\' && s[n + 1]) ? 2 : 1;
        struct field_req *reqs = fs->reqs;
        size_t cap = grow_cap(fs->n);
        if (cap && !(reqs = realloc(fs->reqs, cap * sizeof *reqs))) {
            fail(errbuf, errlen, "out of memory");
            goto err;
        }
        fs->reqs = reqs;
        memset(&reqs[fs->n], 0, sizeof reqs[0]);
        fs->n++;
        if (field_term(s, n, &reqs[fs->n - 1], errbuf, errlen) < 0) goto err;
        if (!s[n]) return 0;
        s += n + 1;
    }
err:
    field_selector_free(fs);
    return BE_INVAL;
}

bool field_selector_matches(const struct field_selector *fs,
                            const char *(*get)(void *data, const char *field), void *data)
{
    for (size_t i = 0; i < fs->n; i++) {
        const char *v = get(data, fs->reqs[i].field);
        if (!v) return false;
        if ((strcmp(v, fs->reqs[i].value) == 0) == fs->reqs[i].negate) return false;
    }
    return true;
}
