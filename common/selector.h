/* selector.h: Kubernetes label and field selectors.
 *
 * A label selector is parsed from its string form ("app=web,tier!=db,
 * env in (a,b),!legacy,track") or from a LabelSelector object
 * ({"matchLabels":{...},"matchExpressions":[{key,operator,values}]}) into a
 * list of requirements, all of which must hold. A field selector
 * ("spec.nodeName=n1,status.phase!=Running") is a list of (field, op, value)
 * equality terms; the caller resolves field values. Keys and values are
 * validated as Kubernetes does (qualified names, label values ≤ 63 chars). */
#ifndef BERTH_SELECTOR_H
#define BERTH_SELECTOR_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

enum sel_op { SEL_EQ, SEL_NEQ, SEL_IN, SEL_NOTIN, SEL_EXISTS, SEL_NOTEXISTS };

struct sel_req {
    char *key;
    enum sel_op op;
    char **values;   /* for EQ/NEQ one value; IN/NOTIN one or more */
    size_t nvalues;
};

struct selector {
    struct sel_req *reqs;
    size_t n;        /* 0 requirements: matches everything */
};

/* Each returns 0 or BE_INVAL with a message in errbuf; on error *sel is
 * empty and owns nothing. */
int selector_parse(const char *text, struct selector *sel, char *errbuf, size_t errlen);
int selector_from_json(const json_t *label_selector, struct selector *sel,
                       char *errbuf, size_t errlen);
/* labels: a JSON object of string values, or NULL (no labels). */
bool selector_matches(const struct selector *sel, const json_t *labels);
/* Whether sel matches nothing at all (a LabelSelector {} matches everything;
 * a null one nothing: the caller decides). */
bool selector_empty(const struct selector *sel);
void selector_free(struct selector *sel);

/* Field selectors: only = / == / != terms. */
struct field_req {
    char *field;
    bool negate;
    char *value;
};
struct field_selector {
    struct field_req *reqs;
    size_t n;
};
int field_selector_parse(const char *text, struct field_selector *fs,
                         char *errbuf, size_t errlen);
/* get(data, field) returns the object's value for the field ("" if unset) or
 * NULL if the field is not supported (then the match fails). */
bool field_selector_matches(const struct field_selector *fs,
                            const char *(*get)(void *data, const char *field),
                            void *data);
void field_selector_free(struct field_selector *fs);

#endif
